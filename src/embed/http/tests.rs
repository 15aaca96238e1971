use super::*;

fn embedder(spec: &str, config: impl FnOnce(&mut HttpConfig)) -> HttpEmbedder {
    let spec = EmbedderSpec::parse(spec).unwrap();
    let mut c = HttpConfig::for_provider(spec.provider);
    c.dimensions = Some(2);
    config(&mut c);
    HttpEmbedder::configure(spec, c).unwrap()
}

#[test]
fn retry_after_headers() {
    assert_eq!(
        parse_retry_after(None, Some("2")),
        Some(Duration::from_secs(2))
    );
    assert_eq!(
        parse_retry_after(Some("150"), Some("2")),
        Some(Duration::from_millis(150))
    );
    assert_eq!(
        parse_retry_after(None, Some("0.5")),
        Some(Duration::from_millis(500))
    );
    assert_eq!(
        parse_retry_after(None, Some("Wed, 21 Oct 2015 07:28:00 GMT")),
        None
    );
    assert_eq!(parse_retry_after(None, Some("-1")), None);
    assert_eq!(parse_retry_after(None, None), None);
}

#[test]
fn backoff_doubles_and_is_capped() {
    let e = embedder("openai:m", |c| {
        c.retry_base = Duration::from_millis(100);
        c.max_retry_delay = Duration::from_millis(350);
    });
    let d = |attempt, ra| e.retry_delay(attempt, ra);
    assert_eq!(d(1, None), Duration::from_millis(100));
    assert_eq!(d(2, None), Duration::from_millis(200));
    assert_eq!(d(3, None), Duration::from_millis(350));
    assert_eq!(d(40, None), Duration::from_millis(350));
    assert_eq!(
        d(1, Some(Duration::from_millis(30))),
        Duration::from_millis(30)
    );
    assert_eq!(
        d(1, Some(Duration::from_secs(60))),
        Duration::from_millis(350)
    );
}

#[test]
fn judge_retries_then_gives_up() {
    let e = embedder("openai:m", |c| c.max_retries = 2);
    let reply = |status| Reply {
        status,
        retry_after: None,
        body: r#"{"error":{"message":"busy"}}"#.into(),
    };
    assert!(matches!(e.judge(reply(503), 1, 1), Ok(Verdict::RetryIn(_))));
    assert!(matches!(e.judge(reply(429), 2, 1), Ok(Verdict::RetryIn(_))));
    let err = e.judge(reply(429), 3, 1).err().unwrap().to_string();
    assert!(
        err.contains("rate limited (HTTP 429)") && err.contains("after 3 attempts: busy"),
        "{err}"
    );
    let err = e.judge(reply(400), 1, 1).err().unwrap().to_string();
    assert!(err.contains("HTTP 400") && err.contains("busy"), "{err}");
}

#[test]
fn provider_messages() {
    assert_eq!(
        provider_message(r#"{"error":{"message":"bad model","type":"x"}}"#),
        "bad model"
    );
    assert_eq!(
        provider_message(r#"{"message":"invalid api token"}"#),
        "invalid api token"
    );
    assert_eq!(provider_message(r#"{"error":"plain"}"#), "plain");
    assert_eq!(
        provider_message("<html>Bad Gateway</html>\n"),
        "<html>Bad Gateway</html>"
    );
    assert_eq!(provider_message(""), "no details");
    assert_eq!(provider_message(&"é".repeat(400)).chars().count(), 301);
}

#[test]
fn bodies() {
    let e = embedder("openai:m", |c| c.dimensions = Some(3));
    let v: Value = serde_json::from_str(&e.request_body(&["a", ""], Input::Query)).unwrap();
    assert_eq!(
        v,
        json!({"model": "m", "input": ["a", " "], "encoding_format": "float", "dimensions": 3})
    );
    let e = embedder("cohere:c", |_| {});
    let v: Value = serde_json::from_str(&e.request_body(&["x"], Input::Document)).unwrap();
    assert_eq!(
        v,
        json!({"model": "c", "texts": ["x"], "input_type": "search_document",
               "embedding_types": ["float"], "truncate": "END"})
    );
    let v: Value = serde_json::from_str(&e.request_body(&["q"], Input::Query)).unwrap();
    assert_eq!(v["input_type"], "search_query", "queries embed as queries");
}

#[test]
fn config_debug_hides_the_key() {
    let mut c = HttpConfig::for_provider(Provider::OpenAi);
    c.api_key = Some("sk-secret".into());
    let shown = format!("{c:?}");
    assert!(
        !shown.contains("sk-secret") && shown.contains("<redacted>"),
        "{shown}"
    );
}
