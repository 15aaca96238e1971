//! The LLM client (`remdb::ask::llm`) over real HTTP/1.1 to a server on 127.0.0.1 that
//! records every request and answers as each test scripts it: OpenAI chat completions and
//! Anthropic messages request shapes, the `json_schema` → `json_object` fallback, junk answers,
//! `429`/`500` retries, a server that never answers, and API keys kept out of every message.
//!
//! The server is std only: a `TcpListener`, a thread per connection, one request per
//! connection (`Connection: close`), so a test can answer anything, malformed or never.
#![cfg(not(target_arch = "wasm32"))]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use remdb::ask::llm::{
    ChatRequest, LlmClient, LlmConfig, LlmProvider, LlmSpec, OutputMode, LLM_ENV, TIMEOUT_ENV,
};
use remdb::Error;
use serde_json::{json, Value};

const KEY: &str = "sk-live-TOPSECRET-4f9a8b7c6d5e";

// ---------------------------------------------------------------------------------------------
// The fake provider
// ---------------------------------------------------------------------------------------------

/// One request as the server read it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    /// Lower-case names.
    headers: HashMap<String, String>,
    /// The body as JSON (`Null` when it was not JSON).
    body: Value,
}

/// What the server does with a request.
enum Answer {
    /// Status, extra headers, body.
    Reply(u16, Vec<(&'static str, String)>, String),
    /// Reads the request, then sends nothing for this long.
    Hang(Duration),
}

fn reply(status: u16, body: impl Into<String>) -> Answer {
    Answer::Reply(status, Vec::new(), body.into())
}

type Script = dyn Fn(usize, &Seen) -> Answer + Send + Sync;

struct FakeProvider {
    /// `http://127.0.0.1:PORT`.
    root: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FakeProvider {
    /// Serves `script(request number from 0, request)` until the test ends.
    fn start(script: impl Fn(usize, &Seen) -> Answer + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let root = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script: Arc<Script> = Arc::new(script);
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (script, log) = (Arc::clone(&script), Arc::clone(&log));
                std::thread::spawn(move || serve(stream, &*script, &log));
            }
        });
        FakeProvider { root, seen }
    }

    fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// A client for `spec` pointed at this server: short timeout and retry waits.
    fn client(&self, spec: &str, key: Option<&str>) -> LlmClient {
        self.client_with(spec, key, |_| {})
    }

    fn client_with(
        &self,
        spec: &str,
        key: Option<&str>,
        adjust: impl FnOnce(&mut LlmConfig),
    ) -> LlmClient {
        let spec = LlmSpec::parse(spec).unwrap();
        let mut config = LlmConfig::for_provider(spec.provider);
        config.base_url = format!("{}/v1", self.root);
        config.api_key = key.map(str::to_string);
        config.timeout = Duration::from_secs(5);
        config.retry_base = Duration::from_millis(20);
        adjust(&mut config);
        LlmClient::new(spec, config).unwrap()
    }
}

fn serve(stream: TcpStream, script: &Script, log: &Mutex<Vec<Seen>>) {
    let Some(seen) = read_request(&stream) else {
        return;
    };
    let n = {
        let mut log = log.lock().unwrap();
        log.push(seen.clone());
        log.len() - 1
    };
    let mut stream = stream;
    match script(n, &seen) {
        Answer::Hang(d) => std::thread::sleep(d),
        Answer::Reply(status, headers, body) => {
            let mut head = format!(
                "HTTP/1.1 {status} Scripted\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
                body.len()
            );
            for (name, value) in headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            head.push_str("\r\n");
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(body.as_bytes());
            let _ = stream.flush();
        }
    }
}

fn read_request(stream: &TcpStream) -> Option<Seen> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (name, value) = h.split_once(':')?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    let mut raw = Vec::new();
    if let Some(len) = headers.get("content-length") {
        raw.resize(len.parse().ok()?, 0);
        reader.read_exact(&mut raw).ok()?;
    } else if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim(), 16).ok()?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            raw.extend_from_slice(&chunk[..size]);
        }
    }
    let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    Some(Seen {
        method,
        path,
        headers,
        body,
    })
}

// ---------------------------------------------------------------------------------------------
// Answers and requests
// ---------------------------------------------------------------------------------------------

fn schema() -> Value {
    json!({"type": "object",
           "properties": {"intent": {"type": "string", "enum": ["sql", "vector"]},
                          "table": {"type": ["string", "null"]}},
           "required": ["intent", "table"], "additionalProperties": false})
}

fn request() -> ChatRequest {
    ChatRequest::new(
        "You turn questions into plans. Today is 2026-12-06.",
        "tickets about DHL opened last week",
        "plan",
        schema(),
    )
}

const PLAN: &str = r#"{"intent":"sql","table":"ticket"}"#;

fn openai_ok(content: &str) -> String {
    json!({"id": "c1", "object": "chat.completion", "choices": [{"index": 0,
        "message": {"role": "assistant", "content": content, "refusal": null},
        "finish_reason": "stop"}]})
    .to_string()
}

fn anthropic_ok(input: Value) -> String {
    json!({"id": "m1", "type": "message", "role": "assistant", "stop_reason": "tool_use",
        "content": [{"type": "tool_use", "id": "toolu_1", "name": "plan", "input": input}]})
    .to_string()
}

/// The message of an `LLM` error (anything else fails the test).
fn llm_error(result: remdb::Result<String>) -> String {
    match result {
        Err(e @ Error::Llm(_)) => {
            assert_eq!(e.code(), "LLM");
            e.to_string()
        }
        other => panic!("expected an LLM error, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Request shapes
// ---------------------------------------------------------------------------------------------

#[test]
fn openai_request_has_model_messages_schema_and_bearer_key_only_when_set() {
    let server = FakeProvider::start(|_, _| reply(200, openai_ok(PLAN)));
    let client = server.client("openai:gpt-4o-mini", Some(KEY));
    assert_eq!(client.complete(&request()).unwrap(), PLAN);
    let repair = request().repair(
        r#"{"intent":"sql","table":"tikets"}"#,
        "unknown table `tikets`; did you mean `ticket`?",
    );
    assert_eq!(client.complete(&repair).unwrap(), PLAN);
    server
        .client("openai:gpt-4o-mini", None)
        .complete(&request())
        .unwrap();

    let seen = server.requests();
    assert_eq!(seen.len(), 3);
    let first = &seen[0];
    assert_eq!(
        (first.method.as_str(), first.path.as_str()),
        ("POST", "/v1/chat/completions")
    );
    assert_eq!(first.headers["authorization"], format!("Bearer {KEY}"));
    assert!(first.headers["content-type"].starts_with("application/json"));
    let body = &first.body;
    assert_eq!(body["model"], "gpt-4o-mini");
    assert_eq!(body["temperature"], 0);
    assert!(body["max_tokens"].as_u64().unwrap() > 0);
    assert_eq!(body["response_format"]["type"], "json_schema");
    assert_eq!(body["response_format"]["json_schema"]["name"], "plan");
    assert_eq!(body["response_format"]["json_schema"]["strict"], true);
    assert_eq!(body["response_format"]["json_schema"]["schema"], schema());
    assert_eq!(
        body["messages"],
        json!([
            {"role": "system", "content": "You turn questions into plans. Today is 2026-12-06."},
            {"role": "user", "content": "tickets about DHL opened last week"},
        ])
    );
    // The repair is the same request with the model's answer and the error after it.
    let messages = seen[1].body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 4);
    assert_eq!(messages[2]["role"], "assistant");
    assert!(messages[3]["content"]
        .as_str()
        .unwrap()
        .contains("did you mean `ticket`"));
    assert_eq!(seen[1].body["response_format"], body["response_format"]);
    // No key, no Authorization header (local servers).
    assert!(
        !seen[2].headers.contains_key("authorization"),
        "{:?}",
        seen[2].headers
    );
    for s in &seen {
        assert!(
            !s.body.to_string().contains(KEY),
            "the key is never in a body"
        );
    }
}

#[test]
fn anthropic_request_has_version_key_header_and_a_forced_schema_tool() {
    let server = FakeProvider::start(|_, _| {
        reply(
            200,
            anthropic_ok(json!({"intent": "vector", "table": null})),
        )
    });
    let client = server.client("anthropic:claude-3-5-haiku-latest", Some(KEY));
    let out = client.complete(&request()).unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap(),
        json!({"intent": "vector", "table": null})
    );
    server
        .client("anthropic:claude-3-5-haiku-latest", None)
        .complete(&request())
        .unwrap();

    let seen = server.requests();
    let first = &seen[0];
    assert_eq!(
        (first.method.as_str(), first.path.as_str()),
        ("POST", "/v1/messages")
    );
    assert_eq!(first.headers["x-api-key"], KEY);
    assert_eq!(first.headers["anthropic-version"], "2023-06-01");
    assert!(first.headers["content-type"].starts_with("application/json"));
    assert!(!first.headers.contains_key("authorization"));
    let body = &first.body;
    assert_eq!(body["model"], "claude-3-5-haiku-latest");
    assert_eq!(body["temperature"], 0);
    assert!(body["max_tokens"].as_u64().unwrap() > 0);
    assert_eq!(
        body["system"],
        "You turn questions into plans. Today is 2026-12-06."
    );
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": "tickets about DHL opened last week"}])
    );
    assert_eq!(body["tools"][0]["name"], "plan");
    assert_eq!(body["tools"][0]["input_schema"], schema());
    assert_eq!(body["tool_choice"], json!({"type": "tool", "name": "plan"}));
    assert!(!seen[1].headers.contains_key("x-api-key"));
    assert!(!body.to_string().contains(KEY));
}

#[test]
fn server_without_json_schema_gets_json_object_once_and_from_then_on() {
    let server = FakeProvider::start(|_, seen| {
        if seen.body["response_format"]["type"] == "json_schema" {
            reply(
                400,
                r#"{"object":"error","message":"response_format type 'json_schema' is not supported","type":"BadRequestError","code":400}"#,
            )
        } else {
            reply(200, openai_ok(&format!("Sure:\n```json\n{PLAN}\n```")))
        }
    });
    let client = server.client("openai:llama3.1:8b", None);
    assert_eq!(client.output_mode(), OutputMode::JsonSchema);
    assert_eq!(client.complete(&request()).unwrap(), PLAN);
    let seen = server.requests();
    assert_eq!(seen.len(), 2, "exactly one fallback request");
    assert_eq!(
        seen[1].body["response_format"],
        json!({"type": "json_object"})
    );
    let system = seen[1].body["messages"][0]["content"].as_str().unwrap();
    assert!(
        system.contains("JSON Schema") && system.contains("\"enum\":[\"sql\",\"vector\"]"),
        "{system}"
    );
    assert_eq!(seen[1].body["model"], "llama3.1:8b");
    // The client remembers: the next question goes straight to json_object.
    assert_eq!(client.output_mode(), OutputMode::JsonObject);
    client.complete(&request()).unwrap();
    let seen = server.requests();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[2].body["response_format"]["type"], "json_object");
}

#[test]
fn reasoning_models_are_asked_again_without_the_parameters_they_reject() {
    // As OpenAI's o-series and gpt-5 models answer: no max_tokens, no temperature but 1.
    let server = FakeProvider::start(|_, seen| {
        let reject = |param: &str, message: &str| {
            reply(
                400,
                json!({"error": {"message": message, "type": "invalid_request_error",
                                 "param": param, "code": "unsupported_parameter"}})
                .to_string(),
            )
        };
        if seen.body.get("max_tokens").is_some() {
            reject("max_tokens", "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.")
        } else if seen.body.get("temperature").is_some() {
            reject("temperature", "Unsupported value: 'temperature' does not support 0 with this model. Only the default (1) value is supported.")
        } else {
            reply(200, openai_ok(PLAN))
        }
    });
    let client = server.client("openai:o4-mini", Some(KEY));
    assert_eq!(client.complete(&request()).unwrap(), PLAN);
    let seen = server.requests();
    assert_eq!(
        seen.len(),
        3,
        "one request per rejected parameter, then the answer"
    );
    let last = &seen[2].body;
    assert_eq!(last["max_completion_tokens"], seen[0].body["max_tokens"]);
    assert!(last.get("temperature").is_none() && last.get("max_tokens").is_none());
    assert_eq!(
        last["response_format"]["type"], "json_schema",
        "structured output kept"
    );
    // Remembered: the next question is one request.
    client.complete(&request()).unwrap();
    assert_eq!(server.requests().len(), 4);
}

// ---------------------------------------------------------------------------------------------
// Junk
// ---------------------------------------------------------------------------------------------

#[test]
fn junk_answers_are_llm_errors_never_panics() {
    let junk: Vec<(u16, String, &str)> = vec![
        (200, "<!DOCTYPE html><html><body>Welcome to nginx!</body></html>".into(), "not JSON"),
        (200, r#"{"choices": [{"message": {"content": "{\"intent\""#.into(), "not JSON"),
        (200, String::new(), "not JSON"),
        (200, "\u{0}\u{1}binary\u{7f}".into(), "not JSON"),
        (200, r#"{"data": [{"embedding": [0.1]}]}"#.into(), "choices[0]"),
        (200, r#"{"choices": "many"}"#.into(), "choices[0]"),
        (200, r#"{"choices": [{"message": 7}]}"#.into(), "choices[0].message"),
        (200, openai_ok("I think you want the ticket table."), "not a JSON object"),
        (200, openai_ok("null"), "not a JSON object"),
        (200, json!({"choices": [{"message": {"content": null, "refusal": "I cannot help with that."}, "finish_reason": "stop"}]}).to_string(), "refused"),
        (200, json!({"choices": [{"message": {"content": "{\"intent\": \"s"}, "finish_reason": "length"}]}).to_string(), "cut off"),
        (200, json!({"choices": [{"message": {"content": ""}, "finish_reason": "stop"}]}).to_string(), "empty"),
        (404, "<html><h1>404 Not Found</h1></html>".into(), "HTTP 404"),
        (400, r#"{"error": {"message": "max_tokens is too large"}}"#.into(), "max_tokens is too large"),
    ];
    let script: Arc<Vec<(u16, String, &'static str)>> = Arc::new(junk);
    let answers = Arc::clone(&script);
    let server = FakeProvider::start(move |n, _| reply(answers[n].0, answers[n].1.clone()));
    let client = server.client("openai:m", None);
    for (status, body, why) in script.iter() {
        let text = llm_error(client.complete(&request()));
        assert!(text.contains(why), "{status} {body:?} → {text}");
        assert!(text.starts_with("LLM: openai:m: "), "{text}");
    }
    assert_eq!(server.requests().len(), script.len(), "no junk is retried");

    let anthropic_junk = [
        json!({"content": [{"type": "text", "text": "The table is ticket."}], "stop_reason": "end_turn"}),
        json!({"content": [{"type": "tool_use", "name": "plan", "input": [1, 2]}]}),
        json!({"type": "error", "error": {"type": "api_error", "message": "?"}}),
        json!("just a string"),
    ];
    let bodies: Arc<Vec<String>> = Arc::new(anthropic_junk.iter().map(Value::to_string).collect());
    let answers = Arc::clone(&bodies);
    let server = FakeProvider::start(move |n, _| reply(200, answers[n].clone()));
    let client = server.client("anthropic:m", None);
    for body in bodies.iter() {
        let text = llm_error(client.complete(&request()));
        assert!(
            text.contains("tool_use") || text.contains("content"),
            "{body} → {text}"
        );
    }
}

#[test]
fn an_answer_over_16_mib_is_refused() {
    let huge = format!("{{\"pad\": \"{}\"}}", "x".repeat(17 << 20));
    let server = FakeProvider::start(move |_, _| reply(200, huge.clone()));
    let text = llm_error(server.client("openai:m", None).complete(&request()));
    assert!(text.contains("larger than"), "{text}");
}

// ---------------------------------------------------------------------------------------------
// Retries, timeouts, unreachable servers
// ---------------------------------------------------------------------------------------------

#[test]
fn rate_limit_is_waited_out_as_retry_after_says() {
    let server = FakeProvider::start(|n, _| {
        if n == 0 {
            Answer::Reply(
                429,
                vec![("Retry-After", "1".into())],
                r#"{"error": {"message": "slow down"}}"#.into(),
            )
        } else {
            reply(200, openai_ok(PLAN))
        }
    });
    // Without the header the wait would be retry_base (10 s): the header's 1 s must win.
    let client = server.client_with("openai:m", None, |c| c.retry_base = Duration::from_secs(10));
    let start = Instant::now();
    assert_eq!(client.complete(&request()).unwrap(), PLAN);
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(950) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn server_errors_are_retried_with_backoff_then_reported() {
    let server =
        FakeProvider::start(|_, _| reply(500, r#"{"error": {"message": "upstream exploded"}}"#));
    let client = server.client_with("openai:m", None, |c| {
        c.max_retries = 2;
        c.retry_base = Duration::from_millis(100);
    });
    let start = Instant::now();
    let text = llm_error(client.complete(&request()));
    let waited = start.elapsed();
    assert_eq!(server.requests().len(), 3, "one request and two retries");
    assert!(
        waited >= Duration::from_millis(300),
        "waits 100 ms then 200 ms: {waited:?}"
    );
    for part in [
        "server error (HTTP 500)",
        "after 3 attempts",
        "upstream exploded",
        client.url(),
    ] {
        assert!(text.contains(part), "{part} in {text}");
    }

    // Anthropic's 529 overloaded is retried too.
    let server = FakeProvider::start(|n, _| match n {
        0 => reply(
            529,
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        ),
        _ => reply(
            200,
            anthropic_ok(json!({"intent": "sql", "table": "ticket"})),
        ),
    });
    server
        .client("anthropic:m", None)
        .complete(&request())
        .unwrap();
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn a_server_that_never_answers_times_out() {
    let server = FakeProvider::start(|_, _| Answer::Hang(Duration::from_secs(20)));
    let client = server.client_with("anthropic:m", Some(KEY), |c| {
        c.timeout = Duration::from_millis(500)
    });
    let start = Instant::now();
    let text = llm_error(client.complete(&request()));
    let waited = start.elapsed();
    assert!(text.contains("timed out after 500ms"), "{text}");
    assert!(text.contains(client.url()), "names the URL: {text}");
    assert!(
        waited >= Duration::from_millis(450) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    assert_eq!(server.requests().len(), 1, "a timeout is not retried");
    assert!(!text.contains(KEY));
}

#[test]
fn an_unreachable_server_is_named() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let spec = LlmSpec::parse("openai:m").unwrap();
    let mut config = LlmConfig::for_provider(LlmProvider::OpenAi);
    config.base_url = format!("http://127.0.0.1:{port}/v1");
    config.api_key = Some(KEY.into());
    let client = LlmClient::new(spec, config).unwrap();
    let text = llm_error(client.complete(&request()));
    assert!(
        text.contains(&format!(
            "cannot reach http://127.0.0.1:{port}/v1/chat/completions"
        )),
        "{text}"
    );
    assert!(!text.contains(KEY));
}

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

#[test]
fn keys_appear_in_no_error_and_no_debug_output() {
    // A hostile (or careless) server that echoes every header it got into its error.
    let server = FakeProvider::start(|n, seen| {
        let echo =
            json!({"error": {"message": format!("bad request; you sent {:?}", seen.headers)}})
                .to_string();
        let status = [401, 403, 400, 422, 429, 500][n % 6];
        reply(status, echo)
    });
    for spec in ["openai:m", "anthropic:m"] {
        let client = server.client_with(spec, Some(KEY), |c| c.max_retries = 0);
        for _ in 0..6 {
            let text = llm_error(client.complete(&request()));
            assert!(!text.contains(KEY), "{text}");
            assert!(
                text.contains("<redacted>"),
                "the echoed key was cut out: {text}"
            );
        }
        let debug = format!("{client:?} {:?}", client.config());
        assert!(!debug.contains(KEY), "{debug}");
        assert!(debug.contains("<redacted>"));
    }
    let text = llm_error(
        server
            .client_with("openai:m", Some(KEY), |c| c.max_retries = 0)
            .read_response(401, "{}"),
    );
    assert!(text.contains("check OPENAI_API_KEY"), "{text}");
}

#[test]
fn environment_chooses_model_base_url_key_and_timeout() {
    // The only test of this binary that touches the environment.
    std::env::remove_var(LLM_ENV);
    assert_eq!(LlmSpec::from_env().unwrap(), None);
    std::env::set_var(LLM_ENV, "  ");
    assert_eq!(LlmSpec::from_env().unwrap(), None);
    std::env::set_var(LLM_ENV, "anthropic:claude-3-5-haiku-latest");
    let spec = LlmSpec::from_env().unwrap().unwrap();
    assert_eq!(spec.to_string(), "anthropic:claude-3-5-haiku-latest");
    std::env::set_var(LLM_ENV, "gpt-4o");
    assert_eq!(LlmSpec::from_env().unwrap_err().code(), "INVALID_ARGUMENT");
    std::env::remove_var(LLM_ENV);

    std::env::set_var("OPENAI_BASE_URL", "http://localhost:11434/v1");
    std::env::set_var("OPENAI_API_KEY", KEY);
    std::env::set_var(TIMEOUT_ENV, "1500");
    let c = LlmConfig::from_env(LlmProvider::OpenAi).unwrap();
    assert_eq!(c.base_url, "http://localhost:11434/v1");
    assert_eq!(c.api_key.as_deref(), Some(KEY));
    assert_eq!(c.timeout, Duration::from_millis(1500));
    let a = LlmConfig::from_env(LlmProvider::Anthropic).unwrap();
    assert_eq!(a.base_url, "https://api.anthropic.com/v1");
    std::env::set_var(TIMEOUT_ENV, "soon");
    let e = LlmConfig::from_env(LlmProvider::OpenAi).unwrap_err();
    assert_eq!(e.code(), "INVALID_ARGUMENT");
    assert!(
        e.to_string().contains(TIMEOUT_ENV) && !e.to_string().contains(KEY),
        "{e}"
    );
    for var in ["OPENAI_BASE_URL", "OPENAI_API_KEY", TIMEOUT_ENV] {
        std::env::remove_var(var);
    }
    let d = LlmConfig::from_env(LlmProvider::OpenAi).unwrap();
    assert_eq!(
        (d.base_url.as_str(), d.api_key, d.timeout),
        ("https://api.openai.com/v1", None, Duration::from_secs(60))
    );
}
