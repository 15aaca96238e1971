//! Body building, answer parsing and retry decisions, without any I/O.

use super::*;

const KEY: &str = "sk-test-SECRET-0123456789";

fn client(spec: &str, config: impl FnOnce(&mut LlmConfig)) -> LlmClient {
    let spec = LlmSpec::parse(spec).unwrap();
    let mut c = LlmConfig::for_provider(spec.provider);
    config(&mut c);
    LlmClient::new(spec, c).unwrap()
}

fn schema() -> Value {
    json!({"type": "object", "properties": {"n": {"type": "integer"}},
           "required": ["n"], "additionalProperties": false})
}

fn request() -> ChatRequest {
    ChatRequest::new("You plan queries.", "how many tickets?", "plan", schema())
}

fn reply(status: u16, body: &str) -> LlmReply {
    LlmReply {
        status,
        retry_after: None,
        body: body.to_string(),
    }
}

fn llm_message(r: Result<impl std::fmt::Debug>) -> String {
    match r {
        Err(e @ Error::Llm(_)) => e.to_string(),
        other => panic!("expected an LLM error, got {other:?}"),
    }
}

#[test]
fn specs_parse_and_bad_ones_name_the_forms() {
    let s = LlmSpec::parse("openai:gpt-4o-mini").unwrap();
    assert_eq!(
        (s.provider, s.model.as_str()),
        (LlmProvider::OpenAi, "gpt-4o-mini")
    );
    assert_eq!(s.to_string(), "openai:gpt-4o-mini");
    let s = LlmSpec::parse(" Anthropic:claude-3-5-haiku-latest ").unwrap();
    assert_eq!(s.provider, LlmProvider::Anthropic);
    assert_eq!(s.model, "claude-3-5-haiku-latest");
    // Ollama model names carry a tag after a colon.
    assert_eq!(
        LlmSpec::parse("openai:llama3.1:8b").unwrap().model,
        "llama3.1:8b"
    );
    for bad in [
        "",
        "gpt-4o",
        "openai:",
        "cohere:command",
        "openai:two words",
        ":m",
    ] {
        let e = LlmSpec::parse(bad).unwrap_err();
        assert_eq!(e.code(), "INVALID_ARGUMENT", "{bad}");
        let text = e.to_string();
        assert!(
            text.contains("openai:<model>") && text.contains("anthropic:<model>"),
            "{text}"
        );
    }
}

#[test]
fn config_debug_hides_the_key_and_client_checks_its_settings() {
    let mut c = LlmConfig::for_provider(LlmProvider::OpenAi);
    c.api_key = Some(KEY.into());
    assert!(!format!("{c:?}").contains(KEY));
    let spec = LlmSpec::parse("openai:m").unwrap();
    let made = LlmClient::new(spec.clone(), c.clone()).unwrap();
    assert!(!format!("{made:?}").contains(KEY));
    assert_eq!(made.url(), "https://api.openai.com/v1/chat/completions");
    for broken in [
        LlmConfig {
            base_url: " ".into(),
            ..c.clone()
        },
        LlmConfig {
            base_url: "ftp://x".into(),
            ..c.clone()
        },
        LlmConfig {
            timeout: Duration::ZERO,
            ..c.clone()
        },
    ] {
        let e = LlmClient::new(spec.clone(), broken).unwrap_err();
        assert_eq!(e.code(), "INVALID_ARGUMENT");
        assert!(!e.to_string().contains(KEY));
    }
    let a = client("anthropic:claude", |c| c.base_url = "http://h:1/v1/".into());
    assert_eq!(a.url(), "http://h:1/v1/messages");
}

#[test]
fn openai_body_has_strict_json_schema_and_then_json_object() {
    let c = client("openai:gpt-4o-mini", |_| {});
    let req = request().repair("{\"n\": \"x\"}", "n must be an integer");
    let body = c.provider_body(&req, OutputMode::JsonSchema);
    assert_eq!(body["model"], "gpt-4o-mini");
    assert_eq!(body["temperature"], 0);
    assert_eq!(body["max_tokens"], DEFAULT_MAX_TOKENS);
    assert_eq!(body["response_format"]["type"], "json_schema");
    assert_eq!(body["response_format"]["json_schema"]["name"], "plan");
    assert_eq!(body["response_format"]["json_schema"]["strict"], true);
    assert_eq!(body["response_format"]["json_schema"]["schema"], schema());
    let roles: Vec<&str> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
    assert_eq!(body["messages"][0]["content"], "You plan queries.");
    assert_eq!(body["messages"][1]["content"], "how many tickets?");
    assert_eq!(body["messages"][3]["content"], "n must be an integer");
    let body = c.provider_body(&request(), OutputMode::JsonObject);
    assert_eq!(body["response_format"], json!({"type": "json_object"}));
    let system = body["messages"][0]["content"].as_str().unwrap();
    assert!(system.starts_with("You plan queries."));
    assert!(system.contains("JSON Schema") && system.contains("\"additionalProperties\":false"));
    assert!(!body.to_string().contains(KEY));
}

#[test]
fn anthropic_body_forces_the_schema_tool_and_alternates_turns() {
    let c = client("anthropic:claude-3-5-haiku-latest", |c| {
        c.api_key = Some(KEY.into())
    });
    let mut req = request().repair("{}", "n is missing");
    req.history.push((Role::User, "and be brief".into()));
    let body = c.provider_body(&req, OutputMode::JsonObject);
    assert_eq!(body["model"], "claude-3-5-haiku-latest");
    assert_eq!(body["temperature"], 0);
    assert_eq!(body["system"], "You plan queries.");
    assert_eq!(body["tools"][0]["name"], "plan");
    assert_eq!(body["tools"][0]["input_schema"], schema());
    assert_eq!(body["tool_choice"], json!({"type": "tool", "name": "plan"}));
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3, "{messages:?}");
    assert_eq!(messages[2]["content"], "n is missing\n\nand be brief");
    assert!(body.get("response_format").is_none());
    assert!(!body.to_string().contains(KEY));
    let headers = c.headers();
    assert!(headers.contains(&("anthropic-version", ANTHROPIC_VERSION.to_string())));
    assert!(headers.contains(&("x-api-key", KEY.to_string())));
    assert!(headers.iter().all(|(n, _)| *n != "Authorization"));
    let open = client("openai:m", |_| {});
    assert!(open.headers().iter().all(|(n, _)| *n != "Authorization"));
}

#[test]
fn openai_answers_are_read_or_rejected_with_reasons() {
    let c = client("openai:m", |_| {});
    let answer = |message: Value, finish: &str| {
        json!({"choices": [{"message": message, "finish_reason": finish}]}).to_string()
    };
    let ok = answer(
        json!({"role": "assistant", "content": "{\"n\": 3}"}),
        "stop",
    );
    assert_eq!(c.read_response(200, &ok).unwrap(), "{\"n\": 3}");
    let fenced = answer(json!({"content": "```json\n{\"n\": 3}\n```"}), "stop");
    assert_eq!(c.read_response(200, &fenced).unwrap(), "{\"n\": 3}");
    let cases = [
        (
            answer(json!({"content": null, "refusal": "I can't help"}), "stop"),
            "refused",
        ),
        (answer(json!({"content": "{\"n\": "}), "length"), "cut off"),
        (answer(json!({"content": ""}), "stop"), "empty"),
        (
            answer(json!({"content": "sorry, no"}), "stop"),
            "not a JSON object",
        ),
        (
            answer(json!({"content": "[1, 2]"}), "stop"),
            "not a JSON object",
        ),
        (json!({"choices": []}).to_string(), "choices[0]"),
        (json!({"choices": [{"text": "x"}]}).to_string(), "message"),
        (json!([1, 2, 3]).to_string(), "choices[0]"),
        (
            "<html><body>Bad gateway</body></html>".to_string(),
            "not JSON",
        ),
        ("{\"choices\": [{\"mess".to_string(), "not JSON"),
        (String::new(), "not JSON"),
    ];
    for (body, why) in cases {
        let text = llm_message(c.read_response(200, &body));
        assert!(text.contains(why), "{body}: {text}");
    }
}

#[test]
fn anthropic_answers_are_read_or_rejected_with_reasons() {
    let c = client("anthropic:m", |_| {});
    let ok = json!({"content": [
        {"type": "text", "text": "Here is the plan."},
        {"type": "tool_use", "id": "t1", "name": "plan", "input": {"n": 3}}
    ], "stop_reason": "tool_use"});
    assert_eq!(c.read_response(200, &ok.to_string()).unwrap(), "{\"n\":3}");
    let cases = [
        (
            json!({"content": [{"type": "text", "text": "no tool"}], "stop_reason": "end_turn"}),
            "no `tool_use`",
        ),
        (
            json!({"content": [{"type": "text", "text": "{"}], "stop_reason": "max_tokens"}),
            "cut off",
        ),
        (
            json!({"content": [{"type": "tool_use", "input": "x"}]}),
            "object `input`",
        ),
        (json!({"content": "text"}), "`content` array"),
        (json!({"type": "message"}), "`content` array"),
    ];
    for (body, why) in cases {
        let text = llm_message(c.read_response(200, &body.to_string()));
        assert!(text.contains(why), "{body}: {text}");
    }
}

#[test]
fn statuses_become_errors_that_name_the_cause_but_never_the_key() {
    let c = client("openai:m", |c| c.api_key = Some(KEY.into()));
    let echo = format!("{{\"error\": {{\"message\": \"Incorrect API key provided: {KEY}\"}}}}");
    let text = llm_message(c.read_response(401, &echo));
    assert!(
        text.contains("OPENAI_API_KEY") && text.contains("HTTP 401"),
        "{text}"
    );
    assert!(!text.contains(KEY), "{text}");
    let text = llm_message(c.read_response(404, r#"{"error": {"message": "model not found"}}"#));
    assert!(
        text.contains("model not found") && text.contains("HTTP 404"),
        "{text}"
    );
    let text = llm_message(c.read_response(502, "<html>bad gateway</html>"));
    assert!(
        text.contains("server error") && text.contains("bad gateway"),
        "{text}"
    );
    let anthropic = client("anthropic:m", |_| {});
    let text = llm_message(anthropic.read_response(403, ""));
    assert!(
        text.contains("no API key is set; set ANTHROPIC_API_KEY"),
        "{text}"
    );
    let overloaded =
        r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
    let text = llm_message(anthropic.read_response(529, overloaded));
    assert!(
        text.contains("overloaded") && text.contains("Overloaded"),
        "{text}"
    );
}

#[test]
fn judge_retries_falls_back_once_then_gives_up() {
    let c = client("openai:m", |c| {
        c.max_retries = 2;
        c.retry_base = Duration::from_millis(100);
        c.max_retry_delay = Duration::from_millis(150);
    });
    let mode = OutputMode::JsonSchema;
    assert_eq!(
        c.judge(mode, 1, &reply(500, "")).unwrap(),
        Step::RetryIn(Duration::from_millis(100))
    );
    assert_eq!(
        c.judge(mode, 2, &reply(529, "")).unwrap(),
        Step::RetryIn(Duration::from_millis(150))
    );
    let busy = LlmReply {
        retry_after: Some(Duration::from_millis(20)),
        ..reply(429, "")
    };
    assert_eq!(
        c.judge(mode, 1, &busy).unwrap(),
        Step::RetryIn(Duration::from_millis(20))
    );
    let text = llm_message(c.judge(mode, 3, &busy));
    assert!(
        text.contains("rate limited") && text.contains("3 attempts"),
        "{text}"
    );
    // A real schema mistake is the application's bug: reported, not hidden by the fallback.
    let invalid = r#"{"error": {"message": "Invalid schema for response_format 'plan': ..."}}"#;
    assert!(c.judge(mode, 1, &reply(400, invalid)).is_err());
    assert_eq!(c.output_mode(), OutputMode::JsonSchema);
    let vllm =
        r#"{"object":"error","message":"response_format type json_schema is not supported"}"#;
    assert_eq!(c.judge(mode, 1, &reply(400, vllm)).unwrap(), Step::FallBack);
    assert_eq!(c.output_mode(), OutputMode::JsonObject);
    // Once in json_object mode the same answer is an error, not a second fallback.
    assert!(c
        .judge(OutputMode::JsonObject, 1, &reply(400, vllm))
        .is_err());
    // Anthropic never falls back.
    let a = client("anthropic:m", |_| {});
    assert!(a.judge(mode, 1, &reply(400, vllm)).is_err());
    assert_eq!(a.output_mode(), OutputMode::JsonSchema);
}

#[test]
fn retry_after_headers() {
    let d = Duration::from_millis;
    assert_eq!(parse_retry_after(None, Some("2")), Some(d(2000)));
    assert_eq!(parse_retry_after(Some("150"), Some("2")), Some(d(150)));
    assert_eq!(parse_retry_after(None, Some(" 0.5 ")), Some(d(500)));
    assert_eq!(
        parse_retry_after(None, Some("Wed, 21 Oct 2015 07:28:00 GMT")),
        None
    );
    assert_eq!(parse_retry_after(None, Some("-1")), None);
    assert_eq!(parse_retry_after(Some("NaN"), None), None);
    assert_eq!(parse_retry_after(None, None), None);
}

#[test]
fn clients_can_be_shared_across_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<LlmClient>();
    shared::<ChatRequest>();
}

#[test]
fn reasoning_models_get_max_completion_tokens_and_default_temperature_once() {
    let c = client("openai:o4-mini", |_| {});
    let mode = OutputMode::JsonSchema;
    let rejects = |param: &str| {
        reply(
            400,
            &json!({"error": {"message": format!("Unsupported parameter: '{param}'"),
                "type": "invalid_request_error", "param": param, "code": "unsupported_parameter"}})
            .to_string(),
        )
    };
    let body = c.provider_body(&request(), mode);
    assert_eq!(body["max_tokens"], DEFAULT_MAX_TOKENS);
    assert_eq!(body["temperature"], 0);
    assert_eq!(
        c.judge(mode, 1, &rejects("max_tokens")).unwrap(),
        Step::FallBack
    );
    let body = c.provider_body(&request(), mode);
    assert!(body.get("max_tokens").is_none());
    assert_eq!(body["max_completion_tokens"], DEFAULT_MAX_TOKENS);
    assert_eq!(body["temperature"], 0);
    assert_eq!(
        c.judge(mode, 1, &rejects("temperature")).unwrap(),
        Step::FallBack
    );
    let body = c.provider_body(&request(), mode);
    assert!(body.get("temperature").is_none());
    assert_eq!(body["response_format"]["type"], "json_schema");
    // Each fallback once: the same rejection again is the error.
    let text = llm_message(c.judge(mode, 1, &rejects("max_tokens")));
    assert!(
        text.contains("HTTP 400") && text.contains("max_tokens"),
        "{text}"
    );
    // Other parameters, and Anthropic, are not second-guessed.
    assert!(c.judge(mode, 1, &rejects("messages")).is_err());
    let a = client("anthropic:m", |_| {});
    assert!(a.judge(mode, 1, &rejects("max_tokens")).is_err());
    assert_eq!(
        a.provider_body(&request(), mode)["max_tokens"],
        DEFAULT_MAX_TOKENS
    );
}
