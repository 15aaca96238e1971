//! Remote embedders: OpenAI-compatible `POST {base}/embeddings` and Cohere `POST {base}/embed`.
//!
//! [`HttpEmbedder`] implements the synchronous [`Embedder`] trait natively with `ureq` (blocking
//! HTTP/1.1, rustls with the webpki roots, so real `https` endpoints work). On wasm32 there is no
//! blocking I/O: use `HttpEmbedder::new_async` and `HttpEmbedder::embed_async` (`fetch`
//! through gloo-net); the synchronous `embed` returns an [`Error::Embedding`] saying so.
//!
//! Everything about the protocols — request bodies, batching, response parsing, error messages,
//! retry decisions — lives in plain functions shared by both transports; only sending the bytes
//! and sleeping between retries differ.
//!
//! ## Behaviour
//!
//! * Texts are sent in batches of [`HttpConfig::batch_size`] (OpenAI 2048, Cohere 96 by
//!   default), one request after the other, and the vectors come back in input order (OpenAI's
//!   `data[].index` is honoured, whatever order the server lists them in).
//! * An empty text is sent as a single space: OpenAI answers `400` to an empty string in
//!   `input`, and the [`Embedder`] contract says the empty string embeds.
//! * `429` and `5xx` answers are retried up to [`HttpConfig::max_retries`] times, waiting as the
//!   `Retry-After` (or OpenAI's `retry-after-ms`) header says, else `retry_base · 2ⁿ`, never more
//!   than [`HttpConfig::max_retry_delay`]. Other failures are not retried: network errors
//!   (unreachable host, timeout) name the URL, `401`/`403` name the API-key variable, other `4xx`
//!   carry the provider's own message.
//! * Every vector must have the embedder's [`Embedder::dimensions`] and there must be one per
//!   text, else the call fails; bad responses are errors, never panics.
//!
//! ## Dimensions
//!
//! [`Embedder::dimensions`] is infallible, so an `HttpEmbedder` knows its vector length from the
//! moment it exists: [`HttpConfig::dimensions`] when set, else the model's
//! [`EmbedderSpec::known_dimensions`], else [`HttpEmbedder::new`] embeds one short probe text
//! and takes the length of the answer (one request; its failure is `new`'s error). Known models
//! and explicit dimensions construct without any I/O.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};

use super::{Embedder, EmbedderSpec, Provider};
use crate::error::{Error, Result};

/// Default base URL of OpenAI's API (`OPENAI_BASE_URL` overrides it in [`HttpConfig::from_env`]).
pub const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";
/// Default base URL of Cohere's API (`COHERE_BASE_URL` overrides it in [`HttpConfig::from_env`]).
pub const COHERE_BASE_URL: &str = "https://api.cohere.com/v1";
/// Environment variable with the request timeout in milliseconds, read by [`HttpConfig::from_env`].
pub const TIMEOUT_ENV: &str = "REM_EMBEDDING_TIMEOUT_MS";

/// Texts per OpenAI request (the API's own limit on `input`).
const OPENAI_BATCH: usize = 2048;
/// Texts per Cohere request (the API's own limit on `texts`).
const COHERE_BATCH: usize = 96;
/// The text embedded by [`HttpEmbedder::new`] to learn an unknown model's vector length.
const PROBE_TEXT: &str = "dimension probe";
/// Largest response body read (a guard, far above 2048 × 3072 floats as JSON).
#[cfg(not(target_arch = "wasm32"))]
const MAX_RESPONSE_BYTES: u64 = 1 << 30;

/// How to reach an HTTP embedding provider.
///
/// Start from [`HttpConfig::for_provider`] (defaults) or [`HttpConfig::from_env`] (defaults plus
/// the environment) and adjust the fields. `Debug` never prints the API key.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// API root without the endpoint, e.g. `https://api.openai.com/v1`; `/embeddings` (OpenAI)
    /// or `/embed` (Cohere) is appended. Any OpenAI-compatible server works (vLLM, Ollama, ...).
    pub base_url: String,
    /// Sent as `Authorization: Bearer <key>`; `None` sends no such header (local servers).
    pub api_key: Option<String>,
    /// The vector length. For OpenAI it is also sent as the request's `dimensions` (shortened
    /// vectors; text-embedding-3 models only); for Cohere it is only declared and checked.
    /// `None`: the model's known length, else learned by [`HttpEmbedder::new`] with one request.
    pub dimensions: Option<usize>,
    /// Time limit of one HTTP request, connection and response body included.
    pub timeout: Duration,
    /// How many times a `429` or `5xx` answer is retried (so at most `max_retries + 1` requests
    /// per batch).
    pub max_retries: u32,
    /// Texts per request; longer inputs are split into consecutive requests.
    pub batch_size: usize,
    /// First retry delay when the server sends no `Retry-After`; doubled on every further retry.
    pub retry_base: Duration,
    /// Upper bound of any single retry delay, `Retry-After` included.
    pub max_retry_delay: Duration,
}

impl std::fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("dimensions", &self.dimensions)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("batch_size", &self.batch_size)
            .field("retry_base", &self.retry_base)
            .field("max_retry_delay", &self.max_retry_delay)
            .finish()
    }
}

impl HttpConfig {
    /// Defaults for a provider: its public base URL, no API key, dimensions from the model,
    /// 60 s timeout, 3 retries starting at 500 ms (at most 30 s each), and the provider's batch
    /// limit (OpenAI 2048, Cohere 96). [`Provider::Local`] and [`Provider::Custom`] have no
    /// endpoint: their `base_url` is empty and [`HttpEmbedder::new`] refuses them.
    pub fn for_provider(provider: Provider) -> Self {
        let (base_url, batch_size) = match provider {
            Provider::OpenAi => (OPENAI_BASE_URL, OPENAI_BATCH),
            Provider::Cohere => (COHERE_BASE_URL, COHERE_BATCH),
            Provider::Local | Provider::Custom => ("", OPENAI_BATCH),
        };
        HttpConfig {
            base_url: base_url.to_string(),
            api_key: None,
            dimensions: None,
            timeout: Duration::from_secs(60),
            max_retries: 3,
            batch_size,
            retry_base: Duration::from_millis(500),
            max_retry_delay: Duration::from_secs(30),
        }
    }

    /// [`HttpConfig::for_provider`] plus the environment: `OPENAI_API_KEY` / `OPENAI_BASE_URL`
    /// or `COHERE_API_KEY` / `COHERE_BASE_URL`, and `REM_EMBEDDING_TIMEOUT_MS` for any provider.
    /// Empty variables count as unset; a timeout that is not a positive integer is an error.
    pub fn from_env(provider: Provider) -> Result<Self> {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let mut config = HttpConfig::for_provider(provider);
        if let Some((key_env, url_env)) = env_names(provider) {
            config.api_key = var(key_env);
            if let Some(url) = var(url_env) {
                config.base_url = url;
            }
        }
        if let Some(ms) = var(TIMEOUT_ENV) {
            match ms.parse::<u64>() {
                Ok(ms) if ms > 0 => config.timeout = Duration::from_millis(ms),
                _ => {
                    return Err(Error::Embedding(format!(
                        "{TIMEOUT_ENV}=`{ms}` is not a positive number of milliseconds"
                    )))
                }
            }
        }
        Ok(config)
    }
}

/// `(API key variable, base URL variable)` of a provider.
fn env_names(provider: Provider) -> Option<(&'static str, &'static str)> {
    match provider {
        Provider::OpenAi => Some(("OPENAI_API_KEY", "OPENAI_BASE_URL")),
        Provider::Cohere => Some(("COHERE_API_KEY", "COHERE_BASE_URL")),
        Provider::Local | Provider::Custom => None,
    }
}

/// An embedder backed by OpenAI's or Cohere's HTTP API (or a server speaking either protocol).
///
/// ```no_run
/// use remdb::embed::{Embedder, EmbedderSpec, HttpConfig, HttpEmbedder, Provider};
/// let spec = EmbedderSpec::parse("openai:text-embedding-3-small")?;
/// let e = HttpEmbedder::new(spec, HttpConfig::from_env(Provider::OpenAi)?)?; // no request: 1536 is known
/// let vectors = e.embed(&["a cat sits on the mat", "stock prices fell"])?;
/// assert_eq!(vectors[0].len(), e.dimensions());
/// # Ok::<(), remdb::Error>(())
/// ```
pub struct HttpEmbedder {
    spec: EmbedderSpec,
    name: String,
    config: HttpConfig,
    url: String,
    /// The vector length; 0 only while [`HttpEmbedder::new`] is probing.
    dims: usize,
    #[cfg(not(target_arch = "wasm32"))]
    agent: ureq::Agent,
}

impl std::fmt::Debug for HttpEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpEmbedder")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("dimensions", &self.dims)
            .field("config", &self.config)
            .finish()
    }
}

/// One HTTP answer, as far as the protocol cares.
struct Reply {
    status: u16,
    /// `retry-after-ms`, else `Retry-After` in seconds (HTTP dates are ignored).
    retry_after: Option<Duration>,
    body: String,
}

/// What to do with a [`Reply`].
enum Verdict {
    Vectors(Vec<Vec<f32>>),
    RetryIn(Duration),
}

impl HttpEmbedder {
    /// An embedder for `spec` (provider `openai` or `cohere`) reached as `config` says.
    ///
    /// Fails for a `local` spec, a zero `batch_size` or `timeout`, an empty `base_url`, or —
    /// when neither `config.dimensions` nor the model's known length gives the vector length —
    /// when the one probe request that learns it fails. On wasm32 that probe cannot run
    /// synchronously: set `config.dimensions` or use `HttpEmbedder::new_async`.
    pub fn new(spec: EmbedderSpec, config: HttpConfig) -> Result<Self> {
        #[allow(unused_mut)]
        let mut embedder = HttpEmbedder::configure(spec, config)?;
        if embedder.dims == 0 {
            #[cfg(not(target_arch = "wasm32"))]
            {
                embedder.dims = embedder
                    .probe_dimensions(embedder.embed_batch(&[PROBE_TEXT], Input::Document)?)?;
            }
            #[cfg(target_arch = "wasm32")]
            {
                return Err(Error::Embedding(format!(
                    "the vector length of `{}` is unknown and cannot be probed synchronously on \
                     wasm32: set HttpConfig::dimensions or use HttpEmbedder::new_async",
                    embedder.name
                )));
            }
        }
        Ok(embedder)
    }

    /// [`HttpEmbedder::new`] with [`HttpConfig::from_env`] for the spec's provider.
    pub fn from_spec(spec: &EmbedderSpec) -> Result<Self> {
        HttpEmbedder::new(spec.clone(), HttpConfig::from_env(spec.provider)?)
    }

    /// The spec this embedder was made for.
    pub fn spec(&self) -> &EmbedderSpec {
        &self.spec
    }

    /// The configuration in use (`dimensions` as given, not as learned).
    pub fn config(&self) -> &HttpConfig {
        &self.config
    }

    /// Everything of `new` but the probe; `dims` is 0 when it must be learned.
    fn configure(spec: EmbedderSpec, config: HttpConfig) -> Result<Self> {
        let endpoint = match spec.provider {
            Provider::OpenAi => "embeddings",
            Provider::Cohere => "embed",
            Provider::Local => {
                return Err(Error::Embedding(format!(
                    "`{spec}` is a local embedder, not an HTTP one (use LocalEmbedder)"
                )))
            }
            Provider::Custom => {
                return Err(Error::Embedding(format!(
                    "`{spec}` is a custom embedder, not an HTTP one (register it with EmbedderRegistry::register)"
                )))
            }
        };
        let name = spec.to_string();
        let bad = |what: &str| Err(Error::Embedding(format!("{name}: {what}")));
        if config.batch_size == 0 {
            return bad("HttpConfig::batch_size must be at least 1");
        }
        if config.timeout.is_zero() {
            return bad("HttpConfig::timeout must be positive");
        }
        if config.dimensions == Some(0) {
            return bad("HttpConfig::dimensions must be positive");
        }
        let base = config.base_url.trim().trim_end_matches('/');
        if base.is_empty() {
            return bad("HttpConfig::base_url is empty");
        }
        let url = format!("{base}/{endpoint}");
        let dims = config
            .dimensions
            .or_else(|| spec.known_dimensions())
            .unwrap_or(0);
        #[cfg(not(target_arch = "wasm32"))]
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(config.timeout))
            .user_agent(concat!("remdb/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(HttpEmbedder {
            spec,
            name,
            config,
            url,
            dims,
            #[cfg(not(target_arch = "wasm32"))]
            agent,
        })
    }

    // ---- protocol: pure functions of the embedder's settings, shared by both transports ----

    /// The JSON body of one request for `batch`.
    fn request_body(&self, batch: &[&str], input: Input) -> String {
        // OpenAI rejects "" in `input` (400); the trait promises that "" embeds.
        let texts: Vec<&str> = batch
            .iter()
            .map(|t| if t.is_empty() { " " } else { *t })
            .collect();
        let body = match self.spec.provider {
            Provider::Cohere => json!({
                "model": self.spec.model,
                "texts": texts,
                "input_type": match input {
                    Input::Document => "search_document",
                    Input::Query => "search_query",
                },
                "embedding_types": ["float"],
                "truncate": "END",
            }),
            _ => {
                let mut body =
                    json!({ "model": self.spec.model, "input": texts, "encoding_format": "float" });
                if let Some(n) = self.config.dimensions {
                    body["dimensions"] = json!(n);
                }
                body
            }
        };
        body.to_string()
    }

    /// `(name, value)` headers of every request.
    fn headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = vec![
            ("Content-Type", "application/json".to_string()),
            ("Accept", "application/json".into()),
        ];
        if let Some(key) = &self.config.api_key {
            headers.push(("Authorization", format!("Bearer {key}")));
        }
        headers
    }

    /// Decides what the `attempt`-th (1-based) answer to a batch of `expected` texts means.
    fn judge(&self, reply: Reply, attempt: u32, expected: usize) -> Result<Verdict> {
        let status = reply.status;
        if (200..300).contains(&status) {
            return self
                .parse_vectors(&reply.body, expected)
                .map(Verdict::Vectors);
        }
        let message = provider_message(&reply.body);
        let retryable = status == 429 || (500..600).contains(&status);
        if retryable && attempt <= self.config.max_retries {
            return Ok(Verdict::RetryIn(
                self.retry_delay(attempt, reply.retry_after),
            ));
        }
        let name = &self.name;
        let text = if retryable {
            let what = if status == 429 {
                "rate limited"
            } else {
                "server error"
            };
            let plural = if attempt == 1 { "" } else { "s" };
            format!(
                "{name}: {what} (HTTP {status}) from {} after {attempt} attempt{plural}: {message}",
                self.url
            )
        } else if status == 401 || status == 403 {
            let env = env_names(self.spec.provider).map_or("the API key", |(key, _)| key);
            let hint = if self.config.api_key.is_some() {
                format!("check {env}")
            } else {
                format!("no API key is set; set {env}")
            };
            format!(
                "{name}: authentication failed (HTTP {status}) at {}: {message}; {hint}",
                self.url
            )
        } else {
            format!(
                "{name}: request rejected (HTTP {status}) by {}: {message}",
                self.url
            )
        };
        Err(Error::Embedding(text))
    }

    /// The wait before retry number `attempt` (1-based).
    fn retry_delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let backoff = || {
            self.config
                .retry_base
                .saturating_mul(1u32.checked_shl(attempt - 1).unwrap_or(u32::MAX))
        };
        retry_after
            .unwrap_or_else(backoff)
            .min(self.config.max_retry_delay)
    }

    /// The vectors of a successful answer, checked: one per text, each `self.dims` long (or all
    /// of one non-zero length while probing).
    fn parse_vectors(&self, body: &str, expected: usize) -> Result<Vec<Vec<f32>>> {
        let malformed = |why: String| {
            Error::Embedding(format!(
                "{}: malformed response from {}: {why}",
                self.name, self.url
            ))
        };
        let vectors = match self.spec.provider {
            Provider::Cohere => match serde_json::from_str::<CohereResponse>(body) {
                Ok(CohereResponse {
                    embeddings: CohereEmbeddings::ByType { float: Some(v) },
                }) => v,
                Ok(CohereResponse {
                    embeddings: CohereEmbeddings::ByType { float: None },
                }) => return Err(malformed("`embeddings` has no `float` vectors".into())),
                Ok(CohereResponse {
                    embeddings: CohereEmbeddings::Plain(v),
                }) => v,
                Err(e) => return Err(malformed(format!("{e} (expected {{\"embeddings\": ...}})"))),
            },
            _ => {
                let data = serde_json::from_str::<OpenAiResponse>(body)
                    .map_err(|e| {
                        malformed(format!(
                            "{e} (expected {{\"data\": [{{\"index\", \"embedding\"}}]}})"
                        ))
                    })?
                    .data;
                if data.len() != expected {
                    return Err(self.wrong_count(data.len(), expected));
                }
                let mut slots: Vec<Option<Vec<f32>>> = vec![None; data.len()];
                for (position, item) in data.into_iter().enumerate() {
                    let index = item.index.unwrap_or(position);
                    match slots.get_mut(index) {
                        Some(slot @ None) => *slot = Some(item.embedding),
                        Some(Some(_)) => {
                            return Err(malformed(format!("index {index} appears twice in `data`")))
                        }
                        None => {
                            return Err(malformed(format!(
                                "index {index} is out of range in `data`"
                            )))
                        }
                    }
                }
                slots.into_iter().map(|v| v.unwrap_or_default()).collect()
            }
        };
        if vectors.len() != expected {
            return Err(self.wrong_count(vectors.len(), expected));
        }
        let want = if self.dims > 0 {
            self.dims
        } else {
            vectors.first().map_or(0, Vec::len)
        };
        if let Some(i) = vectors.iter().position(Vec::is_empty) {
            return Err(Error::Embedding(format!(
                "{}: vector {i} from {} is empty",
                self.name, self.url
            )));
        }
        if let Some((i, v)) = vectors.iter().enumerate().find(|(_, v)| v.len() != want) {
            return Err(Error::Embedding(format!(
                "{}: vector {i} from {} has {} dimensions, expected {want}{}",
                self.name,
                self.url,
                v.len(),
                if self.config.dimensions.is_none() && self.dims > 0 {
                    " (the model's usual length; set HttpConfig::dimensions if this server differs)"
                } else {
                    ""
                }
            )));
        }
        Ok(vectors)
    }

    fn wrong_count(&self, got: usize, expected: usize) -> Error {
        Error::Embedding(format!(
            "{}: {} returned {got} vectors for {expected} texts",
            self.name, self.url
        ))
    }

    /// The vector length learned from the probe's answer.
    fn probe_dimensions(&self, vectors: Vec<Vec<f32>>) -> Result<usize> {
        // parse_vectors already checked: exactly one vector, non-empty.
        vectors.first().map(Vec::len).ok_or_else(|| {
            Error::Embedding(format!(
                "{}: the probe request returned no vector",
                self.name
            ))
        })
    }

    /// An error for a request that got no HTTP answer.
    fn transport_error(&self, what: impl std::fmt::Display) -> Error {
        Error::Embedding(format!("{}: cannot reach {}: {what}", self.name, self.url))
    }
}

// ---- native transport: ureq, blocking ----

/// What the texts of a request are: Cohere embeds documents and search queries differently
/// (`input_type`); OpenAI does not distinguish them.
#[derive(Clone, Copy)]
enum Input {
    /// Stored text (rows' embedded fields, `embed` calls).
    Document,
    /// A search query.
    Query,
}

// ---- response shapes and small parsers ----

#[derive(Deserialize)]
struct OpenAiResponse {
    data: Vec<OpenAiItem>,
}

#[derive(Deserialize)]
struct OpenAiItem {
    /// Position of the input text; some compatible servers omit it (then list order counts).
    #[serde(default)]
    index: Option<usize>,
    embedding: Vec<f32>,
}

#[derive(Deserialize)]
struct CohereResponse {
    embeddings: CohereEmbeddings,
}

/// Cohere answers `{"float": [[...]]}` when `embedding_types` is honoured (v2 style) and a
/// bare `[[...]]` otherwise (v1 style).
#[derive(Deserialize)]
#[serde(untagged)]
enum CohereEmbeddings {
    Plain(Vec<Vec<f32>>),
    ByType {
        #[serde(default)]
        float: Option<Vec<Vec<f32>>>,
    },
}

/// The provider's own words from an error body: OpenAI `{"error": {"message"}}` (or a bare
/// `{"error": "..."}`), Cohere `{"message"}`, FastAPI-style `{"detail"}`; else the body's
/// beginning, else `no details`.
fn provider_message(body: &str) -> String {
    let from_json = serde_json::from_str::<Value>(body).ok().and_then(|v| {
        let text = |v: &Value| v.as_str().map(str::to_string);
        v.pointer("/error/message")
            .and_then(text)
            .or_else(|| v.get("error").and_then(text))
            .or_else(|| v.get("message").and_then(text))
            .or_else(|| {
                v.get("detail")
                    .map(|d| d.as_str().map_or_else(|| d.to_string(), str::to_string))
            })
    });
    let message = from_json.unwrap_or_else(|| body.trim().to_string());
    if message.is_empty() {
        return "no details".to_string();
    }
    const MAX: usize = 300;
    match message.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &message[..cut]),
        None => message,
    }
}

use crate::http_retry::parse_retry_after;

// The transports: ureq natively, fetch (gloo-net) in wasm32.
#[cfg(not(target_arch = "wasm32"))]
mod native;
#[cfg(target_arch = "wasm32")]
mod wasm;

#[cfg(test)]
mod tests;
