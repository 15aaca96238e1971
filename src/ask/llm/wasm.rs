//! The wasm32 transport: `fetch` through gloo-net with an `AbortSignal` timeout, awaited;
//! retries wait on the host's `setTimeout`.

use super::{
    parse_retry_after, ChatRequest, LlmClient, LlmConfig, LlmReply, Step, MAX_RESPONSE_BYTES,
};
use crate::error::{Error, Result};

/// Nothing to keep between requests: `fetch` is the host's.
pub(super) struct Transport;

impl Transport {
    pub(super) fn new(_config: &LlmConfig) -> Self {
        Transport
    }
}

impl LlmClient {
    /// Asks the model and returns the text of its JSON object: the asynchronous `complete` of
    /// wasm32 (there is no blocking HTTP there). One request, more only for `429`/`5xx`
    /// retries and fallbacks (each at most once per client).
    pub async fn complete_async(&self, req: &ChatRequest) -> Result<String> {
        let _ = &self.transport;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mode = self.output_mode();
            let body = self.provider_body(req, mode).to_string();
            match self.judge(mode, attempt, &self.send_async(body).await?)? {
                Step::Output(text) => return Ok(text),
                Step::RetryIn(delay) => crate::http_retry::sleep(delay)
                    .await
                    .map_err(|e| Error::Llm(e.into()))?,
                // A fallback is not a retry; `judge` recorded it on the client (each happens once).
                Step::FallBack => attempt -= 1,
            }
        }
    }

    /// Posts `body` once and reads the answer (at most [`MAX_RESPONSE_BYTES`]).
    async fn send_async(&self, body: String) -> Result<LlmReply> {
        let ms = u32::try_from(self.config.timeout.as_millis()).unwrap_or(u32::MAX);
        let signal = web_sys::AbortSignal::timeout_with_u32(ms);
        let timed_out =
            || self.transport_error(format_args!("timed out after {:?}", self.config.timeout));
        let mut request = gloo_net::http::Request::post(&self.url).abort_signal(Some(&signal));
        for (name, value) in self.headers() {
            request = request.header(name, &value);
        }
        let request = request.body(body).map_err(|e| self.transport_error(e))?;
        let response = request.send().await.map_err(|e| {
            if signal.aborted() {
                timed_out()
            } else {
                self.transport_error(e)
            }
        })?;
        let headers = response.headers();
        let too_large = || {
            self.error(format!(
                "the answer from {} is larger than {MAX_RESPONSE_BYTES} bytes",
                self.url
            ))
        };
        let declared = headers
            .get("content-length")
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX_RESPONSE_BYTES as u64) {
            return Err(too_large());
        }
        let retry_after = parse_retry_after(
            headers.get("retry-after-ms").as_deref(),
            headers.get("retry-after").as_deref(),
        );
        let status = response.status();
        let body = response.text().await.map_err(|e| {
            if signal.aborted() {
                timed_out()
            } else {
                self.transport_error(format_args!("reading the answer failed: {e}"))
            }
        })?;
        if body.len() > MAX_RESPONSE_BYTES {
            return Err(too_large());
        }
        Ok(LlmReply {
            status,
            retry_after,
            body,
        })
    }
}

/// wasm32 cannot block on HTTP: `Tenant::ask` with an LLM fails here; the JS face drives the
/// session and awaits [`LlmClient::complete_async`].
pub(crate) fn plan_sender(spec: &str) -> Result<Box<crate::ask::SendPlan<'static>>> {
    Err(Error::Llm(format!(
        "{spec}: an LLM cannot be called synchronously on wasm32; ask through the JS face (db.ask)"
    )))
}
