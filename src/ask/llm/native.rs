//! The native transport: blocking HTTP(S) with ureq; retries sleep the calling thread.

use std::time::Duration;

use super::{
    parse_retry_after, ChatRequest, LlmClient, LlmConfig, LlmReply, Step, MAX_RESPONSE_BYTES,
};
use crate::error::Result;

/// A ureq agent configured for one client (timeout, no status-as-error, user agent).
pub(super) struct Transport {
    agent: ureq::Agent,
}

impl Transport {
    pub(super) fn new(config: &LlmConfig) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(config.timeout))
            .user_agent(concat!("remdb/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Transport { agent }
    }
}

impl LlmClient {
    /// Asks the model and returns the text of its JSON object: one request, more only for
    /// `429`/`5xx` retries (sleeping in between) and fallbacks (`json_object`,
    /// `max_completion_tokens`, default temperature; each at most once per client).
    pub fn complete(&self, req: &ChatRequest) -> Result<String> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mode = self.output_mode();
            let body = self.provider_body(req, mode).to_string();
            match self.judge(mode, attempt, &self.send(&body)?)? {
                Step::Output(text) => return Ok(text),
                Step::RetryIn(delay) => std::thread::sleep(delay),
                // A fallback is not a retry; `judge` recorded it on the client (each happens once).
                Step::FallBack => attempt -= 1,
            }
        }
    }

    /// Posts `body` once and reads the answer (at most [`MAX_RESPONSE_BYTES`]).
    fn send(&self, body: &str) -> Result<LlmReply> {
        let mut request = self.transport.agent.post(&self.url);
        for (name, value) in self.headers() {
            request = request.header(name, value);
        }
        let timed_out = |t: Duration| format!("timed out after {t:?}");
        let mut response = request.send(body).map_err(|e| match e {
            ureq::Error::Timeout(_) => self.transport_error(timed_out(self.config.timeout)),
            e => self.transport_error(e),
        })?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let retry_after = parse_retry_after(
            header("retry-after-ms").as_deref(),
            header("retry-after").as_deref(),
        );
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES as u64)
            .read_to_string()
            .map_err(|e| match e {
                ureq::Error::Timeout(_) => self.transport_error(timed_out(self.config.timeout)),
                ureq::Error::BodyExceedsLimit(_) => self.error(format!(
                    "the answer from {} is larger than {MAX_RESPONSE_BYTES} bytes",
                    self.url
                )),
                e => self.transport_error(format_args!("reading the answer failed: {e}")),
            })?;
        Ok(LlmReply {
            status,
            retry_after,
            body,
        })
    }
}

/// A blocking sender of `ask`'s plan requests to the LLM `spec` names, configured from the
/// environment (`Tenant::ask` drives its session with it).
pub(crate) fn plan_sender(spec: &str) -> Result<Box<crate::ask::SendPlan<'static>>> {
    let client = LlmClient::from_spec(&super::LlmSpec::parse(spec)?)?;
    Ok(Box::new(move |req: &crate::ask::PlanRequest| {
        client.complete(&req.chat())
    }))
}
