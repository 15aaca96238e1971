//! The LLM client of `ask`: one chat completion with structured (JSON) output, from OpenAI's
//! chat completions API (and every server speaking it: vLLM, Ollama's `/v1`, LM Studio) or
//! Anthropic's messages API.
//!
//! Everything about the protocols — request bodies, response parsing, error messages, retry
//! and fallback decisions — lives in plain functions of [`LlmClient`] shared by both transports;
//! only sending the bytes and sleeping between retries differ (`native.rs`: blocking `ureq`,
//! [`LlmClient::complete`]; `wasm.rs`: `fetch` through gloo-net, `LlmClient::complete_async`).
//! A face that sends the bytes itself (the JS face's `async (request) => response` function)
//! uses the same pieces: [`LlmClient::provider_body`], then [`LlmClient::judge`] or
//! [`LlmClient::read_response`] on what came back.
//!
//! ## Behaviour
//!
//! * **OpenAI-compatible:** `POST {base}/chat/completions` with `temperature: 0` and
//!   `response_format: {type: "json_schema", json_schema: {name, strict: true, schema}}`;
//!   `Authorization: Bearer` only when a key is set. A server that answers `400`/`422` saying it
//!   does not know `json_schema` / `response_format` is asked once more with
//!   `{type: "json_object"}` and the schema spelled out in the system message, and this client
//!   keeps asking that way ([`LlmClient::output_mode`]). Likewise a `400` whose `error.param` is
//!   `max_tokens` or `temperature` (OpenAI's reasoning models accept only
//!   `max_completion_tokens` and the default temperature) is answered once by sending
//!   `max_completion_tokens` instead, or no `temperature`, from then on. The output is
//!   `choices[0].message.content`; a refusal, an empty content or `finish_reason: "length"` is
//!   an error saying so.
//! * **Anthropic:** `POST {base}/messages` with `x-api-key`, `anthropic-version: 2023-06-01`,
//!   `temperature: 0`, and the schema as the `input_schema` of one tool the model is forced to
//!   call; the output is that `tool_use` block's `input`.
//! * The output is the text of one JSON object (code fences and prose around it are cut off);
//!   anything else is an error.
//! * `429` and `5xx` (Anthropic's `529 overloaded` included) are retried up to
//!   [`LlmConfig::max_retries`] times, waiting as `Retry-After` (or `retry-after-ms`) says, else
//!   `retry_base · 2ⁿ`, never more than [`LlmConfig::max_retry_delay`]. Network errors and
//!   timeouts name the URL, `401`/`403` name the API-key variable, other `4xx` carry the
//!   provider's `error.message`. Responses are read up to [`MAX_RESPONSE_BYTES`].
//! * Every failure is an [`Error::Llm`]; no message (nor `Debug` output) contains the API key.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{json, Value};

use crate::error::{Error, Result};

/// Environment variable naming the default model, e.g. `openai:gpt-4o-mini` ([`LlmSpec::from_env`]).
pub const LLM_ENV: &str = "REM_LLM";
/// Environment variable with the request timeout in milliseconds ([`LlmConfig::from_env`]).
pub const TIMEOUT_ENV: &str = "REM_LLM_TIMEOUT_MS";
/// Default base URL of OpenAI's API (`OPENAI_BASE_URL` overrides it).
pub const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";
/// Default base URL of Anthropic's API (`ANTHROPIC_BASE_URL` overrides it).
pub const ANTHROPIC_BASE_URL: &str = "https://api.anthropic.com/v1";
/// The `anthropic-version` header sent with every Anthropic request.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";
/// Largest response body read; a longer answer is an error.
pub const MAX_RESPONSE_BYTES: usize = 16 << 20;
/// Default of [`ChatRequest::max_tokens`] in [`ChatRequest::new`].
pub const DEFAULT_MAX_TOKENS: u32 = 2048;

/// Longest excerpt of a provider's text quoted in an error message, in characters.
const MAX_QUOTE: usize = 300;

/// Which API a model is reached through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LlmProvider {
    /// OpenAI's chat completions API, or any server speaking it (vLLM, Ollama's `/v1`, LM Studio).
    OpenAi,
    /// Anthropic's messages API.
    Anthropic,
}

impl LlmProvider {
    /// The spec prefix: `openai` or `anthropic`.
    pub fn name(self) -> &'static str {
        match self {
            LlmProvider::OpenAi => "openai",
            LlmProvider::Anthropic => "anthropic",
        }
    }

    /// The environment variable holding the API key: `OPENAI_API_KEY` or `ANTHROPIC_API_KEY`.
    pub fn key_env(self) -> &'static str {
        match self {
            LlmProvider::OpenAi => "OPENAI_API_KEY",
            LlmProvider::Anthropic => "ANTHROPIC_API_KEY",
        }
    }

    /// The environment variable overriding the base URL: `OPENAI_BASE_URL` or `ANTHROPIC_BASE_URL`.
    pub fn base_url_env(self) -> &'static str {
        match self {
            LlmProvider::OpenAi => "OPENAI_BASE_URL",
            LlmProvider::Anthropic => "ANTHROPIC_BASE_URL",
        }
    }

    /// The public API root: [`OPENAI_BASE_URL`] or [`ANTHROPIC_BASE_URL`].
    pub fn default_base_url(self) -> &'static str {
        match self {
            LlmProvider::OpenAi => OPENAI_BASE_URL,
            LlmProvider::Anthropic => ANTHROPIC_BASE_URL,
        }
    }

    /// The endpoint appended to the base URL: `chat/completions` or `messages`.
    fn endpoint(self) -> &'static str {
        match self {
            LlmProvider::OpenAi => "chat/completions",
            LlmProvider::Anthropic => "messages",
        }
    }
}

impl fmt::Display for LlmProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A model: `openai:<model>` or `anthropic:<model>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LlmSpec {
    /// The API it is reached through.
    pub provider: LlmProvider,
    /// The model name as the provider knows it (may itself contain `:`, e.g. `llama3.1:8b`).
    pub model: String,
}

impl LlmSpec {
    /// Reads `openai:<model>` or `anthropic:<model>` (provider case-insensitive, surrounding
    /// spaces ignored). Anything else is an [`Error::InvalidArgument`] naming the accepted forms.
    pub fn parse(spec: &str) -> Result<Self> {
        let bad = |why: &str| {
            Error::InvalidArgument(format!(
                "LLM spec `{}` {why}; write `openai:<model>` (OpenAI or any OpenAI-compatible \
                 server through OPENAI_BASE_URL) or `anthropic:<model>`, e.g. openai:gpt-4o-mini",
                clip(spec.trim(), 80)
            ))
        };
        let Some((provider, model)) = spec.trim().split_once(':') else {
            return Err(bad("has no provider"));
        };
        let provider = match provider.trim().to_ascii_lowercase().as_str() {
            "openai" => LlmProvider::OpenAi,
            "anthropic" => LlmProvider::Anthropic,
            _ => return Err(bad("names an unknown provider")),
        };
        let model = model.trim();
        if model.is_empty() {
            return Err(bad("has no model"));
        }
        if model.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("has spaces or control characters in the model name"));
        }
        Ok(LlmSpec {
            provider,
            model: model.to_string(),
        })
    }

    /// The spec in [`LLM_ENV`] (`REM_LLM`): `None` when it is unset or empty, an error when it
    /// does not parse.
    pub fn from_env() -> Result<Option<Self>> {
        env_var(LLM_ENV).map(|s| LlmSpec::parse(&s)).transpose()
    }
}

impl fmt::Display for LlmSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.provider, self.model)
    }
}

impl std::str::FromStr for LlmSpec {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        LlmSpec::parse(s)
    }
}

/// How to reach a provider. Start from [`LlmConfig::for_provider`] or [`LlmConfig::from_env`]
/// and adjust the fields. `Debug` never prints the API key.
#[derive(Clone, PartialEq, Eq)]
pub struct LlmConfig {
    /// API root without the endpoint, e.g. `https://api.openai.com/v1`; `/chat/completions`
    /// (OpenAI) or `/messages` (Anthropic) is appended.
    pub base_url: String,
    /// OpenAI: `Authorization: Bearer <key>`; Anthropic: `x-api-key`. `None` sends neither
    /// (local servers, proxies that add the key themselves).
    pub api_key: Option<String>,
    /// Time limit of one HTTP request, connection and response body included.
    pub timeout: Duration,
    /// How many times a `429` or `5xx` answer is retried (so at most `max_retries + 1`
    /// requests, plus at most one for each fallback: `json_object`, `max_completion_tokens`,
    /// no `temperature`).
    pub max_retries: u32,
    /// First retry delay when the server sends no `Retry-After`; doubled on every further retry.
    pub retry_base: Duration,
    /// Upper bound of any single retry delay, `Retry-After` included.
    pub max_retry_delay: Duration,
}

impl fmt::Debug for LlmConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlmConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("retry_base", &self.retry_base)
            .field("max_retry_delay", &self.max_retry_delay)
            .finish()
    }
}

impl LlmConfig {
    /// Defaults: the provider's public base URL, no key, 60 s timeout, 3 retries starting at
    /// 1 s (at most 30 s each).
    pub fn for_provider(provider: LlmProvider) -> Self {
        LlmConfig {
            base_url: provider.default_base_url().to_string(),
            api_key: None,
            timeout: Duration::from_secs(60),
            max_retries: 3,
            retry_base: Duration::from_secs(1),
            max_retry_delay: Duration::from_secs(30),
        }
    }

    /// [`LlmConfig::for_provider`] plus the environment: the provider's key and base-URL
    /// variables ([`LlmProvider::key_env`], [`LlmProvider::base_url_env`]) and
    /// [`TIMEOUT_ENV`]. Empty variables count as unset; a timeout that is not a positive
    /// integer is an [`Error::InvalidArgument`].
    pub fn from_env(provider: LlmProvider) -> Result<Self> {
        let mut config = LlmConfig::for_provider(provider);
        config.api_key = env_var(provider.key_env());
        if let Some(url) = env_var(provider.base_url_env()) {
            config.base_url = url;
        }
        if let Some(ms) = env_var(TIMEOUT_ENV) {
            config.timeout = match ms.parse::<u64>() {
                Ok(ms) if ms > 0 => Duration::from_millis(ms),
                _ => {
                    return Err(Error::InvalidArgument(format!(
                        "{TIMEOUT_ENV}=`{}` is not a positive number of milliseconds",
                        clip(&ms, 40)
                    )))
                }
            };
        }
        Ok(config)
    }
}

/// A variable of the environment, trimmed; `None` when unset or empty.
fn env_var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Who said a message of [`ChatRequest::history`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The application (a follow-up such as "that plan failed: ...").
    User,
    /// The model (its earlier answer).
    Assistant,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One structured-output chat call: instructions, a question, and the JSON Schema of the object
/// wanted back.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    /// The system prompt (instructions, schema description, examples).
    pub system: String,
    /// The first user message (the question and its hints).
    pub user: String,
    /// Name of the output schema (OpenAI's `json_schema.name`, Anthropic's tool name):
    /// letters, digits, `_` and `-`.
    pub schema_name: String,
    /// JSON Schema of the wanted output object. For OpenAI's strict mode every property must be
    /// `required` and every object `additionalProperties: false` (optional fields nullable).
    pub schema: Value,
    /// Upper bound of the answer's length in tokens; an answer cut there is an error.
    pub max_tokens: u32,
    /// Turns after [`ChatRequest::user`], in order; empty for a first call. A repair call is the
    /// same request with two more: the model's answer and the user's error message
    /// ([`ChatRequest::repair`]).
    pub history: Vec<(Role, String)>,
}

impl ChatRequest {
    /// A first call with [`DEFAULT_MAX_TOKENS`] and no history.
    pub fn new(
        system: impl Into<String>,
        user: impl Into<String>,
        schema_name: impl Into<String>,
        schema: Value,
    ) -> Self {
        ChatRequest {
            system: system.into(),
            user: user.into(),
            schema_name: schema_name.into(),
            schema,
            max_tokens: DEFAULT_MAX_TOKENS,
            history: Vec::new(),
        }
    }

    /// The repair call after `answer` (the model's output text) turned out wrong: this request
    /// with `answer` as the assistant's turn and `error` (what was wrong, with suggestions) as
    /// the user's next one.
    pub fn repair(&self, answer: impl Into<String>, error: impl Into<String>) -> Self {
        let mut next = self.clone();
        next.history.push((Role::Assistant, answer.into()));
        next.history.push((Role::User, error.into()));
        next
    }
}

/// How an OpenAI-compatible server is asked for JSON (Anthropic always uses a forced tool).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputMode {
    /// `response_format: {type: "json_schema", strict: true, ...}`: the server enforces the schema.
    JsonSchema,
    /// `response_format: {type: "json_object"}` with the schema spelled out in the system
    /// message, for servers without `json_schema`.
    JsonObject,
}

/// One HTTP answer, as far as the protocol cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlmReply {
    /// The HTTP status.
    pub status: u16,
    /// `retry-after-ms`, else `Retry-After` in seconds ([`parse_retry_after`]).
    pub retry_after: Option<Duration>,
    /// The response body.
    pub body: String,
}

/// What to do after an answer ([`LlmClient::judge`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Done: the text of the model's JSON object.
    Output(String),
    /// Send the same body again after this wait (`429`/`5xx`).
    RetryIn(Duration),
    /// The server rejected a part of the request the client can do without: build the body
    /// again ([`LlmClient::provider_body`] with [`LlmClient::output_mode`]) and send it. After
    /// a `json_schema` rejection the mode is now [`OutputMode::JsonObject`]; after a
    /// `max_tokens` or `temperature` one the body sends `max_completion_tokens` or no
    /// `temperature`.
    FallBack,
}

/// A client for one model. Cheap to share; `Send + Sync`.
///
/// ```no_run
/// use remdb::ask::llm::{ChatRequest, LlmClient, LlmSpec};
/// use serde_json::json;
/// let client = LlmClient::from_spec(&LlmSpec::parse("openai:gpt-4o-mini")?)?;
/// let schema = json!({"type": "object", "properties": {"answer": {"type": "string"}},
///                     "required": ["answer"], "additionalProperties": false});
/// let text = client.complete(&ChatRequest::new("Answer briefly.", "2 + 2?", "answer", schema))?;
/// # Ok::<(), remdb::Error>(())
/// ```
pub struct LlmClient {
    spec: LlmSpec,
    config: LlmConfig,
    url: String,
    /// Set once the server rejected `json_schema`: every later request uses `json_object`.
    json_object: AtomicBool,
    /// Set once the server rejected `max_tokens`: later requests send `max_completion_tokens`.
    completion_tokens: AtomicBool,
    /// Set once the server rejected `temperature: 0`: later requests leave it at its default.
    default_temperature: AtomicBool,
    transport: transport::Transport,
}

impl fmt::Debug for LlmClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlmClient")
            .field("spec", &self.spec)
            .field("url", &self.url)
            .field("output_mode", &self.output_mode())
            .field("config", &self.config)
            .finish()
    }
}

impl LlmClient {
    /// A client for `spec` reached as `config` says. Fails ([`Error::InvalidArgument`]) on an
    /// empty model, an empty or non-`http(s)` base URL, or a zero timeout; does no I/O.
    pub fn new(spec: LlmSpec, config: LlmConfig) -> Result<Self> {
        let bad = |what: &str| Err(Error::InvalidArgument(format!("{spec}: {what}")));
        if spec.model.trim().is_empty() {
            return bad("the model name is empty");
        }
        if config.timeout.is_zero() {
            return bad("LlmConfig::timeout must be positive");
        }
        let base = config.base_url.trim().trim_end_matches('/');
        if base.is_empty() {
            return bad("LlmConfig::base_url is empty");
        }
        let lower = base.to_ascii_lowercase();
        if !lower.starts_with("http://") && !lower.starts_with("https://") {
            return bad("LlmConfig::base_url must start with http:// or https://");
        }
        let url = format!("{base}/{}", spec.provider.endpoint());
        let transport = transport::Transport::new(&config);
        Ok(LlmClient {
            spec,
            config,
            url,
            json_object: AtomicBool::new(false),
            completion_tokens: AtomicBool::new(false),
            default_temperature: AtomicBool::new(false),
            transport,
        })
    }

    /// [`LlmClient::new`] with [`LlmConfig::from_env`] for the spec's provider.
    pub fn from_spec(spec: &LlmSpec) -> Result<Self> {
        LlmClient::new(spec.clone(), LlmConfig::from_env(spec.provider)?)
    }

    /// The model this client asks.
    pub fn spec(&self) -> &LlmSpec {
        &self.spec
    }

    /// The configuration in use.
    pub fn config(&self) -> &LlmConfig {
        &self.config
    }

    /// The URL every request is posted to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// How the next request asks for JSON: [`OutputMode::JsonSchema`] until the server has
    /// rejected it once, then [`OutputMode::JsonObject`]. Always `JsonSchema` for Anthropic.
    pub fn output_mode(&self) -> OutputMode {
        if self.json_object.load(Ordering::Relaxed) {
            OutputMode::JsonObject
        } else {
            OutputMode::JsonSchema
        }
    }

    // ---- protocol: pure functions of the client's settings, shared by every transport ----

    /// The exact JSON body the provider expects for `req` (no API key in it): what the
    /// transports send, and what a face hands to an application's own request function.
    /// `mode` only matters for OpenAI-compatible servers.
    pub fn provider_body(&self, req: &ChatRequest, mode: OutputMode) -> Value {
        match self.spec.provider {
            LlmProvider::OpenAi => {
                let (system, response_format) = match mode {
                    OutputMode::JsonSchema => (
                        req.system.clone(),
                        json!({"type": "json_schema", "json_schema": {
                            "name": req.schema_name, "strict": true, "schema": req.schema,
                        }}),
                    ),
                    OutputMode::JsonObject => (
                        format!(
                            "{}\n\nReply with one JSON object and nothing else. It must match \
                             this JSON Schema:\n{}",
                            req.system, req.schema
                        ),
                        json!({"type": "json_object"}),
                    ),
                };
                let mut messages = vec![
                    json!({"role": "system", "content": system}),
                    json!({"role": "user", "content": req.user}),
                ];
                messages.extend(
                    req.history
                        .iter()
                        .map(|(role, text)| json!({"role": role.as_str(), "content": text})),
                );
                let mut body = json!({
                    "model": self.spec.model,
                    "messages": messages,
                    "temperature": 0,
                    "max_tokens": req.max_tokens,
                    "response_format": response_format,
                });
                if let Some(fields) = body.as_object_mut() {
                    if self.completion_tokens.load(Ordering::Relaxed) {
                        fields.remove("max_tokens");
                        fields.insert("max_completion_tokens".into(), json!(req.max_tokens));
                    }
                    if self.default_temperature.load(Ordering::Relaxed) {
                        fields.remove("temperature");
                    }
                }
                body
            }
            LlmProvider::Anthropic => {
                // The API wants user and assistant turns to alternate: merge neighbours.
                let mut turns: Vec<(Role, String)> = vec![(Role::User, req.user.clone())];
                for (role, text) in &req.history {
                    match turns.last_mut() {
                        Some((last, joined)) if last == role => {
                            joined.push_str("\n\n");
                            joined.push_str(text);
                        }
                        _ => turns.push((*role, text.clone())),
                    }
                }
                let messages: Vec<Value> = turns
                    .iter()
                    .map(|(role, text)| json!({"role": role.as_str(), "content": text}))
                    .collect();
                json!({
                    "model": self.spec.model,
                    "max_tokens": req.max_tokens,
                    "temperature": 0,
                    "system": req.system,
                    "messages": messages,
                    "tools": [{
                        "name": req.schema_name,
                        "description": "Give your answer as this tool's input, matching its schema exactly.",
                        "input_schema": req.schema,
                    }],
                    "tool_choice": {"type": "tool", "name": req.schema_name},
                })
            }
        }
    }

    /// `(name, value)` headers of every request, the key among them when one is set.
    fn headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = vec![
            ("Content-Type", "application/json".to_string()),
            ("Accept", "application/json".to_string()),
        ];
        match self.spec.provider {
            LlmProvider::OpenAi => {
                if let Some(key) = &self.config.api_key {
                    headers.push(("Authorization", format!("Bearer {key}")));
                }
            }
            LlmProvider::Anthropic => {
                headers.push(("anthropic-version", ANTHROPIC_VERSION.to_string()));
                if let Some(key) = &self.config.api_key {
                    headers.push(("x-api-key", key.clone()));
                }
            }
        }
        headers
    }

    /// The model's output JSON text from one provider answer, without retries or fallback:
    /// a `2xx` is parsed ([`Step::Output`]'s text), anything else is the [`Error::Llm`] the
    /// status and body call for.
    pub fn read_response(&self, status: u16, body: &str) -> Result<String> {
        if (200..300).contains(&status) {
            return self.output(body);
        }
        Err(self.status_error(status, body, 1))
    }

    /// Decides what the `attempt`-th (1-based; retries counted, fallbacks not) answer to a
    /// request sent in `mode` means: the output, a retry after a wait, a fallback (which this
    /// call records on the client, so the next [`LlmClient::provider_body`] differs), or the
    /// error to give up with.
    pub fn judge(&self, mode: OutputMode, attempt: u32, reply: &LlmReply) -> Result<Step> {
        let status = reply.status;
        if (200..300).contains(&status) {
            return self.output(&reply.body).map(Step::Output);
        }
        if self.spec.provider == LlmProvider::OpenAi
            && mode == OutputMode::JsonSchema
            && (status == 400 || status == 422)
            && rejects_json_schema(&reply.body)
        {
            self.json_object.store(true, Ordering::Relaxed);
            return Ok(Step::FallBack);
        }
        if self.spec.provider == LlmProvider::OpenAi && status == 400 {
            let flag = match rejected_param(&reply.body).as_deref() {
                Some("max_tokens") => Some(&self.completion_tokens),
                Some("temperature") => Some(&self.default_temperature),
                _ => None,
            };
            // Each fallback once: a server that rejects the new form too gets the error.
            if let Some(flag) = flag.filter(|f| !f.load(Ordering::Relaxed)) {
                flag.store(true, Ordering::Relaxed);
                return Ok(Step::FallBack);
            }
        }
        if is_retryable(status) && attempt <= self.config.max_retries {
            return Ok(Step::RetryIn(self.retry_delay(attempt, reply.retry_after)));
        }
        Err(self.status_error(status, &reply.body, attempt))
    }

    /// The wait before retry number `attempt` (1-based).
    fn retry_delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        retry_after
            .unwrap_or_else(|| self.config.retry_base.saturating_mul(factor))
            .min(self.config.max_retry_delay)
    }

    /// The error for a non-`2xx` answer after `attempts` requests.
    fn status_error(&self, status: u16, body: &str, attempts: u32) -> Error {
        let message = provider_message(body);
        let url = &self.url;
        let text = if is_retryable(status) {
            let what = match status {
                429 => "rate limited",
                529 => "overloaded",
                _ => "server error",
            };
            let plural = if attempts == 1 { "" } else { "s" };
            format!("{what} (HTTP {status}) from {url} after {attempts} attempt{plural}: {message}")
        } else if status == 401 || status == 403 {
            let env = self.spec.provider.key_env();
            let hint = if self.config.api_key.is_some() {
                format!("check {env}")
            } else {
                format!("no API key is set; set {env}")
            };
            format!("authentication failed (HTTP {status}) at {url}: {message}; {hint}")
        } else {
            format!("request rejected (HTTP {status}) by {url}: {message}")
        };
        self.error(text)
    }

    /// The output of a `2xx` answer.
    fn output(&self, body: &str) -> Result<String> {
        let value: Value = serde_json::from_str(body).map_err(|e| {
            self.error(format!(
                "the answer from {} is not JSON ({e}): {}",
                self.url,
                clip(body.trim(), MAX_QUOTE)
            ))
        })?;
        match self.spec.provider {
            LlmProvider::OpenAi => self.openai_output(&value),
            LlmProvider::Anthropic => self.anthropic_output(&value),
        }
    }

    fn openai_output(&self, value: &Value) -> Result<String> {
        let Some(choice) = value.pointer("/choices/0") else {
            return Err(self.malformed("no `choices[0]`"));
        };
        let message = choice.get("message");
        let text = |field: &str| {
            message
                .and_then(|m| m.get(field))
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
        };
        if let Some(refusal) = text("refusal") {
            return Err(self.error(format!(
                "the model refused to answer: {}",
                clip(refusal, MAX_QUOTE)
            )));
        }
        if choice.get("finish_reason").and_then(Value::as_str) == Some("length") {
            return Err(self.error(format!(
                "the answer was cut off at the token limit (finish_reason \"length\"); raise \
                 ChatRequest::max_tokens or shorten the prompt{}",
                text("content")
                    .map(|c| format!(": {}", clip(c, MAX_QUOTE)))
                    .unwrap_or_default()
            )));
        }
        match text("content") {
            Some(content) => self.json_object_text(content),
            None if message.is_some_and(Value::is_object) => {
                Err(self.error("the model's answer is empty (no message content)".into()))
            }
            None => Err(self.malformed("no `choices[0].message`")),
        }
    }

    fn anthropic_output(&self, value: &Value) -> Result<String> {
        let Some(blocks) = value.get("content").and_then(Value::as_array) else {
            return Err(self.malformed("no `content` array"));
        };
        let is_tool_use = |b: &&Value| b.get("type").and_then(Value::as_str) == Some("tool_use");
        if let Some(block) = blocks.iter().find(is_tool_use) {
            return match block.get("input") {
                Some(input @ Value::Object(_)) => Ok(input.to_string()),
                _ => Err(self.malformed("the `tool_use` block has no object `input`")),
            };
        }
        let said: Vec<&str> = blocks
            .iter()
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect();
        let said = if said.is_empty() {
            String::new()
        } else {
            format!("; it said: {}", clip(said.join(" ").trim(), MAX_QUOTE))
        };
        if value.get("stop_reason").and_then(Value::as_str) == Some("max_tokens") {
            return Err(self.error(format!(
                "the answer was cut off at the token limit (stop_reason \"max_tokens\") before \
                 the tool call; raise ChatRequest::max_tokens{said}"
            )));
        }
        if value.get("stop_reason").and_then(Value::as_str) == Some("refusal") {
            return Err(self.error(format!("the model refused to answer{said}")));
        }
        Err(self.error(format!(
            "the answer has no `tool_use` block (the model did not call the output tool){said}"
        )))
    }

    /// The one JSON object in `content`: the whole text, else (code fences, prose around it)
    /// the span from its first `{` to its last `}`.
    fn json_object_text(&self, content: &str) -> Result<String> {
        let is_object = |s: &str| matches!(serde_json::from_str::<Value>(s), Ok(Value::Object(_)));
        if is_object(content) {
            return Ok(content.to_string());
        }
        if let (Some(start), Some(end)) = (content.find('{'), content.rfind('}')) {
            if start < end && is_object(&content[start..=end]) {
                return Ok(content[start..=end].to_string());
            }
        }
        Err(self.error(format!(
            "the model's answer is not a JSON object: {}",
            clip(content, MAX_QUOTE)
        )))
    }

    fn malformed(&self, why: &str) -> Error {
        let expected = match self.spec.provider {
            LlmProvider::OpenAi => "{\"choices\": [{\"message\": {\"content\"}}]}",
            LlmProvider::Anthropic => "{\"content\": [{\"type\": \"tool_use\", \"input\"}]}",
        };
        self.error(format!(
            "malformed answer from {}: {why} (expected {expected})",
            self.url
        ))
    }

    /// An error for a request that got no usable HTTP answer.
    fn transport_error(&self, what: impl fmt::Display) -> Error {
        self.error(format!("cannot reach {}: {what}", self.url))
    }

    /// The [`Error::Llm`] of this client: prefixed with the spec, the key cut out.
    fn error(&self, text: String) -> Error {
        let mut text = format!("{}: {text}", self.spec);
        if let Some(key) = self.config.api_key.as_deref().filter(|k| !k.is_empty()) {
            text = text.replace(key, "<redacted>");
        }
        Error::Llm(text)
    }
}

/// Whether a status is worth retrying: `429`, `5xx` (Anthropic's `529` included).
fn is_retryable(status: u16) -> bool {
    status == 429 || (500..600).contains(&status)
}

/// Whether a `400`/`422` body says the server does not support `json_schema` output (vLLM,
/// older Ollama, LM Studio). OpenAI's own "Invalid schema for response_format" is a mistake in
/// the schema, not a missing feature, and is not taken for one.
fn rejects_json_schema(body: &str) -> bool {
    let text = body.to_ascii_lowercase();
    let about_it = [
        "response_format",
        "response format",
        "json_schema",
        "structured output",
    ]
    .iter()
    .any(|w| text.contains(w));
    about_it && !text.contains("invalid schema")
}

/// The request parameter an OpenAI `400` rejects (`{"error": {"param": "max_tokens", ...}}`).
fn rejected_param(body: &str) -> Option<String> {
    let value: Value = serde_json::from_str(body).ok()?;
    value
        .pointer("/error/param")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// The provider's own words from an error body: `{"error": {"message"}}` (OpenAI, Anthropic),
/// a bare `{"error": "..."}`, `{"message"}`, `{"detail"}`; else the body's beginning, else
/// `no details`.
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
    if message.trim().is_empty() {
        return "no details".to_string();
    }
    clip(message.trim(), MAX_QUOTE)
}

/// `text` cut to `max` characters (with `…` when cut).
fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

pub use crate::http_retry::parse_retry_after;

// The transports: ureq natively, fetch (gloo-net) on wasm32.
#[cfg_attr(not(target_arch = "wasm32"), path = "native.rs")]
#[cfg_attr(target_arch = "wasm32", path = "wasm.rs")]
mod transport;
pub(crate) use self::transport::plan_sender;

#[cfg(test)]
mod tests;
