//! The LLM client's wasm32 transport (`complete_async`: `fetch`, `AbortSignal` timeout,
//! `setTimeout` retries) against a fake provider that Node's `http` module serves on
//! 127.0.0.1 from inside the test. Node only: in a browser there is no server to start, and
//! each test returns early.
#![cfg(target_arch = "wasm32")]

use remdb::ask::llm::{ChatRequest, LlmClient, LlmConfig, LlmSpec, OutputMode};
use serde_json::{json, Value};
use std::time::Duration;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test;

/// `start(replies)`: a Node HTTP server answering the n-th request with `replies[n]` (the last
/// one again after the end): `{status, headers, body}` or `{hang_ms}` (no answer for that
/// long). Resolves to `{root, seen(), close()}`, or `null` outside Node.
const SERVER_JS: &str = r#"
return async (replies) => {
    if (typeof process === 'undefined' || !process.versions || !process.versions.node) return null;
    const http = await import('node:http');
    const seen = [];
    const server = http.createServer((req, res) => {
        const chunks = [];
        req.on('data', (c) => chunks.push(c));
        req.on('end', () => {
            seen.push({ method: req.method, path: req.url, headers: req.headers,
                        body: Buffer.concat(chunks).toString('utf8') });
            const r = replies[Math.min(seen.length - 1, replies.length - 1)];
            if (r.hang_ms) { setTimeout(() => res.destroy(), r.hang_ms).unref(); return; }
            res.writeHead(r.status, Object.assign({ 'content-type': 'application/json' }, r.headers || {}));
            res.end(r.body);
        });
    });
    await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
    server.unref();
    return {
        root: 'http://127.0.0.1:' + server.address().port,
        seen: () => JSON.stringify(seen),
        close: () => { server.close(); if (server.closeAllConnections) server.closeAllConnections(); },
    };
};"#;

struct Fake {
    handle: JsValue,
    root: String,
}

impl Fake {
    /// `None` outside Node.
    async fn start(replies: Value) -> Option<Fake> {
        let make = js_sys::Function::new_no_args(SERVER_JS)
            .call0(&JsValue::UNDEFINED)
            .expect("the server factory")
            .unchecked_into::<js_sys::Function>();
        let promise = make
            .call1(
                &JsValue::UNDEFINED,
                &js_sys::JSON::parse(&replies.to_string()).unwrap(),
            )
            .expect("start the server")
            .unchecked_into::<js_sys::Promise>();
        let handle = JsFuture::from(promise).await.expect("the server listens");
        if handle.is_null() {
            return None;
        }
        let root = js_sys::Reflect::get(&handle, &"root".into())
            .unwrap()
            .as_string()
            .unwrap();
        Some(Fake { handle, root })
    }

    fn call(&self, name: &str) -> JsValue {
        js_sys::Reflect::get(&self.handle, &name.into())
            .unwrap()
            .unchecked_into::<js_sys::Function>()
            .call0(&self.handle)
            .unwrap()
    }

    /// Every request so far: `{method, path, headers, body}` with the body as text.
    fn seen(&self) -> Vec<Value> {
        serde_json::from_str(&self.call("seen").as_string().unwrap()).unwrap()
    }

    fn client(&self, spec: &str, key: Option<&str>, timeout: Duration) -> LlmClient {
        let spec = LlmSpec::parse(spec).unwrap();
        let mut config = LlmConfig::for_provider(spec.provider);
        config.base_url = format!("{}/v1", self.root);
        config.api_key = key.map(str::to_string);
        config.timeout = timeout;
        config.retry_base = Duration::from_millis(20);
        LlmClient::new(spec, config).unwrap()
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.call("close");
    }
}

fn request() -> ChatRequest {
    ChatRequest::new(
        "Plan the question.",
        "open tickets",
        "plan",
        json!({"type": "object", "properties": {"table": {"type": "string"}},
               "required": ["table"], "additionalProperties": false}),
    )
}

fn openai_ok(content: &str) -> String {
    json!({"choices": [{"message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]})
        .to_string()
}

fn body(seen: &Value) -> Value {
    serde_json::from_str(seen["body"].as_str().unwrap()).unwrap()
}

#[wasm_bindgen_test]
async fn wasm_openai_request_shape_and_json_object_fallback() {
    let replies = json!([
        {"status": 400, "body": "{\"message\": \"json_schema response_format is not supported\"}"},
        {"status": 200, "body": openai_ok("{\"table\": \"ticket\"}")},
    ]);
    let Some(server) = Fake::start(replies).await else {
        return;
    };
    let client = server.client(
        "openai:local-model",
        Some("sk-wasm-KEY"),
        Duration::from_secs(5),
    );
    let out = client.complete_async(&request()).await.unwrap();
    assert_eq!(out, "{\"table\": \"ticket\"}");
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0]["method"], "POST");
    assert_eq!(seen[0]["path"], "/v1/chat/completions");
    assert_eq!(seen[0]["headers"]["authorization"], "Bearer sk-wasm-KEY");
    let first = body(&seen[0]);
    assert_eq!(first["model"], "local-model");
    assert_eq!(first["temperature"], 0);
    assert_eq!(first["response_format"]["type"], "json_schema");
    assert_eq!(body(&seen[1])["response_format"]["type"], "json_object");
    assert_eq!(client.output_mode(), OutputMode::JsonObject);
}

#[wasm_bindgen_test]
async fn wasm_anthropic_headers_and_429_retry() {
    let ok =
        json!({"content": [{"type": "tool_use", "name": "plan", "input": {"table": "ticket"}}]});
    let replies = json!([
        {"status": 429, "headers": {"retry-after-ms": "50"}, "body": "{\"error\": {\"message\": \"slow\"}}"},
        {"status": 200, "body": ok.to_string()},
    ]);
    let Some(server) = Fake::start(replies).await else {
        return;
    };
    let client = server.client(
        "anthropic:claude",
        Some("sk-ant-KEY"),
        Duration::from_secs(5),
    );
    let out = client.complete_async(&request()).await.unwrap();
    assert_eq!(out, "{\"table\":\"ticket\"}");
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1]["path"], "/v1/messages");
    assert_eq!(seen[1]["headers"]["x-api-key"], "sk-ant-KEY");
    assert_eq!(seen[1]["headers"]["anthropic-version"], "2023-06-01");
    assert_eq!(body(&seen[1])["tool_choice"]["name"], "plan");
}

#[wasm_bindgen_test]
async fn wasm_junk_and_hanging_servers_are_llm_errors() {
    let replies = json!([
        {"status": 200, "body": "<html>not json</html>"},
        {"status": 500, "body": "{\"error\": {\"message\": \"down\"}}"},
        {"hang_ms": 5000},
    ]);
    let Some(server) = Fake::start(replies).await else {
        return;
    };
    let client = server.client("openai:m", Some("sk-wasm-KEY"), Duration::from_millis(400));
    let e = client.complete_async(&request()).await.unwrap_err();
    assert_eq!(e.code(), "LLM");
    assert!(e.to_string().contains("not JSON"), "{e}");
    // 500, retried: the retry finds the hanging answer and times out.
    let e = client.complete_async(&request()).await.unwrap_err();
    assert_eq!(e.code(), "LLM");
    assert!(e.to_string().contains("timed out after 400ms"), "{e}");
    assert!(!e.to_string().contains("sk-wasm-KEY"));
    assert_eq!(server.seen().len(), 3);
}
