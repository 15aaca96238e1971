//! `ask` in JavaScript: the question's session runs here, awaiting what only JavaScript can do
//! — async embedders, `fetch` to an LLM, or the app's own LLM function.
//!
//! `askStart(question, opts)` starts a session and runs it as far as it can: to the answer, or
//! (when `opts.llm` is `"caller"`) to an LLM request the calling code must answer with
//! `askResume(session, {response} | {error})`. js/api.js's `RemDB.ask` drives that loop, so an
//! app's function never crosses into a worker or another tab. Open sessions are bounded
//! ([`MAX_OPEN_SESSIONS`]); the oldest is dropped first.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use serde::Deserialize;
use serde_json::{json, Value};
use wasm_bindgen::prelude::*;

use super::convert::{budget_of, from_js, invalid, js_error, options, to_js, JsBudget};
use super::remote::{query_vectors, AsyncEmbedders, QueryCache};
use super::RemDb;
use crate::ask::llm::{LlmClient, LlmConfig, LlmSpec, OutputMode};
use crate::ask::{AskOptions, AskSession, AskStep, PlanRequest, Planner};
use crate::store::TenantStore;
use crate::Error;

/// Sessions waiting for the caller's LLM answer, at most this many.
const MAX_OPEN_SESSIONS: usize = 64;
/// The spec a caller-answered session's requests are shaped for.
const CALLER_SPEC: &str = "openai:default";

/// `opts.llm` as it crosses from JavaScript.
#[derive(Deserialize)]
#[serde(untagged)]
enum LlmOption {
    /// `"caller"`: the JavaScript side answers (js/api.js passes a function as this).
    Caller(String),
    /// An HTTP provider reached with `fetch`.
    Http(HttpLlm),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct HttpLlm {
    provider: String,
    api_key: Option<String>,
    base_url: Option<String>,
    timeout_ms: Option<u64>,
    max_retries: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AskOpts {
    table: Option<String>,
    offline: Option<bool>,
    llm: Option<LlmOption>,
    max_stages: Option<usize>,
    plan: Option<bool>,
    budget: Option<JsBudget>,
    /// "Now" as an RFC 3339 string (default: the clock, in the host's timezone).
    now: Option<String>,
}

/// How a session's LLM requests are answered.
#[derive(Clone)]
enum Llm {
    None,
    Caller(Rc<LlmClient>),
    Http(Rc<LlmClient>),
}

struct Open {
    session: AskSession,
    llm: Llm,
}

thread_local! {
    static OPEN: RefCell<(u32, BTreeMap<u32, Open>)> = const { RefCell::new((0, BTreeMap::new())) };
}

fn keep(open: Open) -> u32 {
    OPEN.with(|o| {
        let mut o = o.borrow_mut();
        o.0 = o.0.wrapping_add(1);
        let id = o.0;
        if o.1.len() >= MAX_OPEN_SESSIONS {
            let oldest = *o.1.keys().next().expect("not empty");
            o.1.remove(&oldest);
        }
        o.1.insert(id, open);
        id
    })
}

/// "Now" in the host's timezone.
fn local_now() -> chrono::DateTime<chrono::FixedOffset> {
    let minutes_west = js_sys::Date::new_0().get_timezone_offset();
    let offset = chrono::FixedOffset::west_opt((minutes_west * 60.0) as i32)
        .unwrap_or_else(|| chrono::FixedOffset::east_opt(0).expect("UTC"));
    chrono::Utc::now().with_timezone(&offset)
}

#[wasm_bindgen]
impl RemDb {
    /// Starts answering `question` (see `Tenant::ask`); resolves to `{answer}`, or to
    /// `{session, llm: request}` when the caller answers the LLM (`opts.llm === "caller"`).
    #[wasm_bindgen(js_name = askStart)]
    pub fn ask_start(&self, question: String, opts: JsValue) -> Result<js_sys::Promise, JsValue> {
        let o: AskOpts = options(
            "ask options",
            "{table, offline, llm, maxStages, plan, budget, now}",
            opts,
        )?;
        let budget = budget_of(o.budget)?;
        let now = match &o.now {
            Some(s) => chrono::DateTime::parse_from_rfc3339(s)
                .map_err(|e| invalid(format!("`now` must be an RFC 3339 timestamp: {e}")))?,
            None => local_now(),
        };
        let offline = o.offline == Some(true);
        let llm = match (&o.llm, offline) {
            (None, _) | (_, true) => Llm::None,
            (Some(LlmOption::Caller(s)), false) if s == "caller" => {
                Llm::Caller(Rc::new(caller_client().map_err(js_error)?))
            }
            (Some(LlmOption::Caller(s)), false) => {
                return Err(invalid(format!(
                    "`llm` must be a function or {{provider, apiKey, baseUrl}}, got {s:?}"
                )))
            }
            (Some(LlmOption::Http(h)), false) => {
                Llm::Http(Rc::new(http_client(h).map_err(js_error)?))
            }
        };
        let label = match &llm {
            Llm::None => None,
            Llm::Caller(_) => Some("caller".to_string()),
            Llm::Http(c) => Some(format!("{}:{}", c.spec().provider.name(), c.spec().model)),
        };
        let options = AskOptions {
            table: o.table,
            max_stages: o.max_stages.unwrap_or(crate::ask::MAX_STAGES),
            planner: if label.is_some() {
                Planner::Llm(label.clone().unwrap_or_default())
            } else {
                Planner::Offline
            },
            execute: o.plan != Some(true),
            now: Some(now),
            budget,
        };
        let session = self
            .tenant
            .ask_session(&question, &options, label, false)
            .map_err(js_error)?;
        let (store, remote, queries) = (
            self.tenant.store().clone(),
            self.remote.clone(),
            self.queries.clone(),
        );
        Ok(wasm_bindgen_futures::future_to_promise(async move {
            drive(Open { session, llm }, &store, &remote, &queries).await
        }))
    }

    /// Continues session `session` with the caller's LLM answer: `{response}` (the provider's
    /// response body, as an object or text; or the model's text; or the plan itself) or
    /// `{error}` (the call failed: the offline plan answers).
    #[wasm_bindgen(js_name = askResume)]
    pub fn ask_resume(&self, session: u32, reply: JsValue) -> Result<js_sys::Promise, JsValue> {
        let reply: Value = from_js("an ask reply", reply)?;
        let mut open = OPEN
            .with(|o| o.borrow_mut().1.remove(&session))
            .ok_or_else(|| {
                js_error(Error::NotFound(format!(
                    "ask session {session} (it answered, or more than {MAX_OPEN_SESSIONS} were open)"
                )))
            })?;
        let answer = match (&open.llm, reply.get("error"), reply.get("response")) {
            (_, Some(e), _) => Err(Error::Llm(format!(
                "the app's LLM function failed: {}",
                e.as_str().map_or_else(|| e.to_string(), str::to_string)
            ))),
            (Llm::Caller(client), None, Some(r)) => read_caller_response(client, r),
            _ => Err(Error::InvalidArgument(
                "askResume takes {response} or {error}".into(),
            )),
        };
        open.session.llm_answered(answer);
        let (store, remote, queries) = (
            self.tenant.store().clone(),
            self.remote.clone(),
            self.queries.clone(),
        );
        Ok(wasm_bindgen_futures::future_to_promise(async move {
            drive(open, &store, &remote, &queries).await
        }))
    }
}

fn caller_client() -> crate::Result<LlmClient> {
    let spec = LlmSpec::parse(CALLER_SPEC)?;
    let config = LlmConfig::for_provider(spec.provider);
    LlmClient::new(spec, config)
}

fn http_client(h: &HttpLlm) -> crate::Result<LlmClient> {
    let spec = LlmSpec::parse(&h.provider)?;
    let mut config = LlmConfig::for_provider(spec.provider);
    if let Some(url) = &h.base_url {
        config.base_url = url.clone();
    }
    config.api_key = h.api_key.clone();
    if let Some(ms) = h.timeout_ms {
        config.timeout = std::time::Duration::from_millis(ms);
    }
    if let Some(n) = h.max_retries {
        config.max_retries = n;
    }
    LlmClient::new(spec, config)
}

/// The model's text from what the app's function returned: a plan object, an OpenAI or
/// Anthropic response (object or JSON text), or the model's text itself.
fn read_caller_response(client: &LlmClient, response: &Value) -> crate::Result<String> {
    let value = match response {
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(v @ Value::Object(_)) => v,
            _ => return Ok(s.clone()),
        },
        v @ Value::Object(_) => v.clone(),
        other => {
            return Err(Error::Llm(format!(
                "the app's LLM function returned {}, not a response object or text",
                crate::store::json_type(other)
            )))
        }
    };
    if value.get("intent").is_some() || value.get("stages").is_some() {
        return Ok(value.to_string());
    }
    if value.get("content").is_some_and(Value::is_array) {
        let anthropic = LlmClient::new(
            LlmSpec::parse("anthropic:default")?,
            LlmConfig::for_provider(LlmSpec::parse("anthropic:default")?.provider),
        )?;
        return anthropic.read_response(200, &value.to_string());
    }
    client.read_response(200, &value.to_string())
}

/// The request handed to the app's function: the parts (system, messages, the plan's JSON
/// Schema) and an OpenAI chat-completions `body` built from them (model `"default"`: the
/// app's backend picks the model).
fn caller_request(client: &LlmClient, req: &PlanRequest) -> Value {
    let chat = req.chat();
    let mut messages = vec![json!({"role": "user", "content": req.user})];
    for (role, text) in &req.turns {
        messages.push(json!({"role": role, "content": text}));
    }
    json!({
        "provider": "openai",
        "model": null,
        "system": req.system,
        "messages": messages,
        "schema": chat.schema,
        "body": client.provider_body(&chat, OutputMode::JsonSchema),
    })
}

/// Runs a session until its answer, or until the caller must answer an LLM request.
async fn drive(
    mut open: Open,
    store: &TenantStore,
    remote: &AsyncEmbedders,
    queries: &Rc<RefCell<QueryCache>>,
) -> Result<JsValue, JsValue> {
    // Each step answers or uses up a bounded resource (LLM calls, query texts).
    for _ in 0..32 {
        match open.session.advance() {
            AskStep::Done(answer) => return to_js(&json!({ "answer": answer })),
            AskStep::Embed(texts) => {
                let vectors = query_vectors(store, remote, queries, texts.clone())
                    .await
                    .and_then(|map| {
                        texts
                            .iter()
                            .map(|t| {
                                map.get(&(t.provider.clone(), t.text.clone()))
                                    .cloned()
                                    .ok_or_else(|| {
                                        Error::Embedding(format!(
                                            "{}: no vector for the query",
                                            t.provider
                                        ))
                                    })
                            })
                            .collect()
                    });
                open.session.embedded(&texts, vectors);
            }
            AskStep::Llm(request) => match open.llm.clone() {
                Llm::Http(client) => {
                    let reply = client.complete_async(&request.chat()).await;
                    open.session.llm_answered(reply);
                }
                Llm::Caller(client) => {
                    let body = caller_request(&client, &request);
                    let id = keep(open);
                    return to_js(&json!({ "session": id, "llm": body }));
                }
                Llm::None => open
                    .session
                    .llm_answered(Err(Error::Llm("no LLM is configured".into()))),
            },
        }
    }
    Err(js_error(Error::Limit(
        "the question took more than 32 steps".into(),
    )))
}
