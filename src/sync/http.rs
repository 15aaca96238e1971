//! Reaching a hub over HTTP from native code: blocking requests with `ureq` (the JS face syncs
//! with `fetch` instead).

use std::time::Duration;

use super::protocol::{PullResponse, PushRequest, PushResponse};
use super::HubConnection;
use crate::error::{Error, Result};

/// Longest answer read from a hub.
#[cfg(not(target_arch = "wasm32"))]
const MAX_ANSWER_BYTES: u64 = 256 * 1024 * 1024;

/// Push bodies from this size on are sent gzipped (the hub inflates them, bounded).
#[cfg(not(target_arch = "wasm32"))]
const GZIP_FROM_BYTES: usize = 16 * 1024;

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
            let message = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
                .unwrap_or_else(|| text.chars().take(300).collect());
            return Err(Error::Sync(format!("the hub answered {status}: {message}")));
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
    /// A long-polling pull: the hub answers as soon as it has entries after `since`, or with
    /// none after `wait_seconds` (it caps the wait at a minute).
    pub fn pull_waiting(
        &self,
        since: u64,
        limit: usize,
        wait_seconds: u64,
    ) -> Result<PullResponse> {
        self.call(
            &format!("/v1/pull?since={since}&limit={limit}&wait={wait_seconds}"),
            None,
        )
    }
}

impl HubConnection for HttpHub {
    fn push(&self, request: &PushRequest) -> Result<PushResponse> {
        let body = serde_json::to_vec(request).map_err(Error::storage)?;
        self.call("/v1/push", Some(body))
    }

    fn pull(&self, since: u64, limit: usize) -> Result<PullResponse> {
        self.call(&format!("/v1/pull?since={since}&limit={limit}"), None)
    }
}
