//! Reaching a hub over HTTP from native code: blocking requests with `ureq` (the JS face syncs
//! with `fetch` instead).

use std::time::Duration;

use super::protocol::{PullPlan, PullResponse, PushRequest, PushResponse, SnapshotPage};
use super::HubConnection;
use crate::error::{Error, Result};

/// Longest answer read from a hub.
#[cfg(not(target_arch = "wasm32"))]
const MAX_ANSWER_BYTES: u64 = 256 * 1024 * 1024;

/// Push bodies from this size on are sent gzipped (the hub inflates them, bounded).
#[cfg(not(target_arch = "wasm32"))]
const GZIP_FROM_BYTES: usize = 16 * 1024;

/// The message of a hub's error body (`{"error": {"code", "message"}}`), else the body's start.
#[cfg(not(target_arch = "wasm32"))]
fn error_message(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| body.chars().take(300).collect())
}

/// A hub at `url` (e.g. `http://127.0.0.1:7077`), reached with `token`.
#[derive(Debug, Clone)]
pub struct HttpHub {
    url: String,
    token: String,
    timeout: Duration,
}

impl HttpHub {
    /// A connection to the hub at `url` with the bearer `token`.
    pub fn new(url: &str, token: &str) -> Self {
        HttpHub {
            url: url.trim_end_matches('/').to_string(),
            token: token.trim().to_string(),
            timeout: Duration::from_secs(120),
        }
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn call<T: serde::de::DeserializeOwned>(&self, path: &str, body: Option<Vec<u8>>) -> Result<T> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(self.timeout))
            .http_status_as_error(false)
            .build()
            .into();
        let url = format!("{}{path}", self.url);
        let auth = format!("Bearer {}", self.token);
        let answer = match body {
            Some(body) if body.len() >= GZIP_FROM_BYTES => {
                let packed = super::protocol::gzip(&body)?;
                agent
                    .post(&url)
                    .header("Authorization", &auth)
                    .header("Content-Type", "application/json")
                    .header("Content-Encoding", "gzip")
                    .send(&packed[..])
            }
            Some(body) => agent
                .post(&url)
                .header("Authorization", &auth)
                .header("Content-Type", "application/json")
                .send(&body[..]),
            None => agent.get(&url).header("Authorization", &auth).call(),
        };
        let mut answer = answer
            .map_err(|e| Error::Sync(format!("cannot reach the hub at {}: {e}", self.url)))?;
        let status = answer.status().as_u16();
        let text = answer
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_string()
            .map_err(|e| Error::Sync(format!("reading the hub's answer: {e}")))?;
        if status != 200 {
            return Err(Error::Sync(format!(
                "the hub answered {status}: {}",
                error_message(&text)
            )));
        }
        serde_json::from_str(&text)
            .map_err(|e| Error::Sync(format!("the hub's answer is not valid: {e}")))
    }

    #[cfg(target_arch = "wasm32")]
    fn call<T>(&self, path: &str, _body: Option<Vec<u8>>) -> Result<T> {
        let _ = (&self.token, self.timeout);
        Err(Error::Sync(format!(
            "cannot call {}{path} from WebAssembly: the JS face syncs (db.sync, with fetch); \
             Tenant::sync is native",
            self.url
        )))
    }
}

impl HttpHub {
    /// A long-polling pull: the hub answers as soon as it has entries after `plan.since`, or
    /// with none after `wait_seconds` (it caps the wait at a minute).
    pub fn pull_waiting(&self, plan: &PullPlan, wait_seconds: u64) -> Result<PullResponse> {
        self.call(&format!("{}&wait={wait_seconds}", plan.path), None)
    }
}

/// Longest server-sent event read from a hub's stream.
#[cfg(not(target_arch = "wasm32"))]
const MAX_EVENT_BYTES: usize = 256 * 1024 * 1024;

impl HttpHub {
    /// Follows the hub's log as server-sent events (`/v1/stream`) for up to `wait_seconds`:
    /// calls `on_answer` with each batch of entries after `plan.since` as they land (an answer
    /// with `snapshot` set ends the stream: the device must load one first). Returns when the
    /// hub ends the stream or `on_answer` returns `false`.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn stream(
        &self,
        plan: &PullPlan,
        wait_seconds: u64,
        mut on_answer: impl FnMut(PullResponse) -> Result<bool>,
    ) -> Result<()> {
        use std::io::{BufRead, Read};
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_recv_response(Some(Duration::from_secs(60)))
            .timeout_recv_body(Some(Duration::from_secs(wait_seconds.saturating_add(60))))
            .http_status_as_error(false)
            .build()
            .into();
        let path = plan.path.replacen("/v1/pull?", "/v1/stream?", 1);
        let url = format!("{}{path}&wait={wait_seconds}", self.url);
        let mut answer = agent
            .get(&url)
            .header("Authorization", &format!("Bearer {}", self.token))
            .header("Accept", "text/event-stream")
            .call()
            .map_err(|e| Error::Sync(format!("cannot reach the hub at {}: {e}", self.url)))?;
        let status = answer.status().as_u16();
        if status != 200 {
            let text = answer
                .body_mut()
                .with_config()
                .limit(64 * 1024)
                .read_to_string()
                .unwrap_or_default();
            return Err(Error::Sync(format!(
                "the hub answered {status}: {}",
                error_message(&text)
            )));
        }
        let body = answer.body_mut().with_config().limit(u64::MAX).reader();
        let mut lines = std::io::BufReader::new(body);
        let (mut event, mut data) = (String::new(), String::new());
        let mut line = String::new();
        loop {
            line.clear();
            let read = (&mut lines)
                .take(MAX_EVENT_BYTES as u64 + 1)
                .read_line(&mut line)
                .map_err(|e| Error::Sync(format!("reading the hub's stream: {e}")))?;
            if read == 0 {
                return Ok(()); // the hub ended the stream
            }
            if data.len() + line.len() > MAX_EVENT_BYTES {
                return Err(Error::Limit(format!(
                    "an event of the hub's stream is over {MAX_EVENT_BYTES} bytes"
                )));
            }
            let text = line.trim_end_matches(['\n', '\r']);
            if text.is_empty() {
                if !data.is_empty() {
                    match event.as_str() {
                        "entries" | "snapshot" => {
                            let answer: PullResponse =
                                serde_json::from_str(&data).map_err(|e| {
                                    Error::Sync(format!(
                                        "the hub's stream sent an invalid event: {e}"
                                    ))
                                })?;
                            if !on_answer(answer)? {
                                return Ok(());
                            }
                        }
                        "error" => {
                            return Err(Error::Sync(format!(
                                "the hub's stream failed: {}",
                                error_message(&data)
                            )));
                        }
                        _ => {} // events of later versions
                    }
                }
                event.clear();
                data.clear();
            } else if let Some(name) = text.strip_prefix("event:") {
                event = name.trim().to_string();
            } else if let Some(value) = text.strip_prefix("data:") {
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(value.strip_prefix(' ').unwrap_or(value));
            }
            // Other lines (comments starting with `:`, `id:`, `retry:`) carry nothing here.
        }
    }
}

impl HttpHub {
    /// Follows the hub's stream: native only (the JS face reads it with `fetch`).
    #[cfg(target_arch = "wasm32")]
    pub fn stream(
        &self,
        _plan: &PullPlan,
        _wait_seconds: u64,
        _on_answer: impl FnMut(PullResponse) -> Result<bool>,
    ) -> Result<()> {
        Err(Error::Sync(format!(
            "cannot follow {} from WebAssembly: the JS face follows the hub (db.sync with \
             live: true, with fetch)",
            self.url
        )))
    }
}

impl HubConnection for HttpHub {
    fn push(&self, request: &PushRequest) -> Result<PushResponse> {
        let body = serde_json::to_vec(request).map_err(Error::storage)?;
        self.call("/v1/push", Some(body))
    }

    fn pull(&self, plan: &PullPlan) -> Result<PullResponse> {
        self.call(&plan.path, None)
    }

    fn snapshot(&self, plan: &PullPlan) -> Result<SnapshotPage> {
        self.call(&plan.path, None)
    }
}
