//! Property tests of the LLM client's answer reading (no I/O): whatever status and body a
//! provider sends — random bytes, mangled provider JSON, keys echoed back — reading it never
//! panics, a failure is always an `LLM` error without the key, and a success is the text of
//! one JSON object.
#![cfg(not(target_arch = "wasm32"))]

use proptest::prelude::*;
use remdb::ask::llm::{LlmClient, LlmConfig, LlmReply, LlmSpec, OutputMode, Step};
use serde_json::{json, Value};

const KEY: &str = "sk-prop-KEY-8d7e6f";

fn client(spec: &str) -> LlmClient {
    let spec = LlmSpec::parse(spec).unwrap();
    let mut config = LlmConfig::for_provider(spec.provider);
    config.api_key = Some(KEY.into());
    LlmClient::new(spec, config).unwrap()
}

/// Plausible provider bodies, with parts missing, retyped or cut short.
fn body() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[a-z{}\":, ]{0,12}".prop_map(Value::from),
        Just(json!("{\"table\": \"ticket\"}")),
        Just(json!(KEY)),
    ];
    let value = leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
            proptest::collection::vec(
                (
                    prop_oneof![
                        Just("choices"),
                        Just("message"),
                        Just("content"),
                        Just("refusal"),
                        Just("finish_reason"),
                        Just("type"),
                        Just("tool_use"),
                        Just("input"),
                        Just("error"),
                        Just("stop_reason"),
                    ],
                    inner
                ),
                0..4
            )
            .prop_map(|fields| Value::Object(
                fields
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect()
            )),
        ]
    });
    (value, 0..100usize, any::<bool>()).prop_map(|(v, cut, truncate)| {
        let text = v.to_string();
        if truncate {
            let cut = cut.min(text.len());
            // Cut on a character boundary.
            let cut = (0..=cut)
                .rev()
                .find(|i| text.is_char_boundary(*i))
                .unwrap_or(0);
            text[..cut].to_string()
        } else {
            text
        }
    })
}

fn check(result: remdb::Result<String>) -> Result<(), TestCaseError> {
    match result {
        Ok(text) => {
            let parsed: Value = serde_json::from_str(&text)
                .map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
            prop_assert!(parsed.is_object(), "{}", text);
        }
        Err(e) => {
            prop_assert_eq!(e.code(), "LLM");
            prop_assert!(!e.to_string().contains(KEY), "{}", e);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_answer_reads_as_an_object_or_an_llm_error(
        body in prop_oneof![body(), ".{0,64}", proptest::collection::vec(any::<u8>(), 0..64)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned())],
        status in prop_oneof![Just(200u16), Just(400), Just(401), Just(429), Just(500), 100..600u16],
        anthropic in any::<bool>(),
    ) {
        let c = client(if anthropic { "anthropic:m" } else { "openai:m" });
        check(c.read_response(status, &body))?;
        let reply = LlmReply { status, retry_after: None, body: body.clone() };
        match c.judge(OutputMode::JsonSchema, 1, &reply) {
            Ok(Step::Output(text)) => check(Ok(text))?,
            Ok(_) => {}
            Err(e) => check(Err(e))?,
        }
    }
}
