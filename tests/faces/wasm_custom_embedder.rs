//! A `custom:NAME` provider backed by a JavaScript `embed(texts, {kind})` function, through the
//! wasm face (`useCustomEmbedder`): queued rows are embedded by the async drain as documents,
//! search and SQL texts as queries, and every wrong answer of the function is an `EMBEDDING`
//! error that stores nothing. Runs in Node and in Chromium.
#![cfg(target_arch = "wasm32")]

use remdb::Database;
use serde_json::{json, Value};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test;

use crate::wasm_harness::{code_of, js, rs};

/// A JS embed function over `state` (a JS object): texts starting with "north" point up, others
/// right; each call is logged as `kind:text|text` in `state.log`; `state.mode` makes it answer
/// wrongly (see `bad_answers_are_embedding_errors_that_store_nothing`).
fn axes(state: &JsValue) -> JsValue {
    let make = js_sys::Function::new_with_args(
        "state",
        r#"return (texts, { kind }) => {
            state.log.push(kind + ':' + texts.join('|'));
            const v = (t) => (t.startsWith('north') ? new Float32Array([0, 1]) : new Float32Array([1, 0]));
            switch (state.mode) {
                case 'count': return Promise.resolve(texts.slice(1).map(v));
                case 'dims': return texts.map(() => new Float32Array([1, 0, 0]));
                case 'nan': return texts.map(() => new Float32Array([NaN, 1]));
                case 'plain': return texts.map(() => [1, 0]);
                case 'object': return Promise.resolve({ vectors: [] });
                case 'throw': throw new TypeError('model not loaded');
                case 'reject': return Promise.reject(new Error('GPU device lost'));
                default: return Promise.resolve(texts.map(v));
            }
        };"#,
    );
    make.call1(&JsValue::UNDEFINED, state)
        .expect("the embed function")
}

fn state() -> JsValue {
    js(json!({"log": [], "mode": "ok"}))
}

fn state_field(state: &JsValue, name: &str) -> Value {
    rs(js_sys::Reflect::get(state, &name.into()).unwrap())
}

fn set_mode(state: &JsValue, mode: &str) {
    js_sys::Reflect::set(state, &"mode".into(), &mode.into()).unwrap();
}

async fn settle(p: js_sys::Promise) -> Result<JsValue, JsValue> {
    JsFuture::from(p).await
}

#[wasm_bindgen_test]
async fn custom_embedder_embeds_rows_as_documents_and_searches_as_queries() {
    let state = state();
    let db = Database::memory().into_js_face(None).unwrap();
    db.use_custom_embedder("custom:axes", 2.0, axes(&state))
        .unwrap();
    db.register_schema(js(json!({
        "title": "Doc", "type": "object", "properties": {"body": {"type": "string"}},
        "json_schema_extra": {"key_field": "body", "embedding_fields": ["body"],
            "embedding_provider": "custom:axes"}
    })))
    .unwrap();
    db.insert_many(
        "doc",
        js(json!([{"body": "north pole"}, {"body": "east coast"}])),
    )
    .unwrap();
    let report = rs(settle(db.embeddings_idle()).await.unwrap());
    assert_eq!(report["remaining"], 0, "{report}");
    let status = rs(db.embedding_status().unwrap());
    assert_eq!(status["queuedRows"], 0);
    assert!(
        status["providers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["provider"] == "custom:axes" && p["dimensions"] == 2),
        "{status}"
    );

    let sql = "SELECT body FROM doc WHERE embedding.cosine('north star') LIMIT 1";
    let rows = rs(settle(
        db.sql_async(sql.into(), JsValue::NULL, JsValue::UNDEFINED)
            .unwrap(),
    )
    .await
    .unwrap());
    assert_eq!(rows, json!([{"body": "north pole"}]));
    let calls = state_field(&state, "log").as_array().unwrap().len();
    settle(
        db.sql_async(sql.into(), JsValue::NULL, JsValue::UNDEFINED)
            .unwrap(),
    )
    .await
    .unwrap();
    let hits = rs(settle(
        db.search_async("doc", "eastward".into(), JsValue::UNDEFINED)
            .unwrap(),
    )
    .await
    .unwrap());
    assert_eq!(hits[0]["body"], "east coast");
    let v = settle(
        db.embed_async("north".into(), Some("custom:axes".into()))
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(
        v.dyn_into::<js_sys::Float32Array>().unwrap().to_vec(),
        [0.0, 1.0]
    );

    let log = state_field(&state, "log");
    let log: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(log.iter().any(|l| l.starts_with("document:")), "{log:?}");
    assert_eq!(
        &log[calls - 1..],
        ["query:north star", "query:eastward", "document:north"],
        "a repeated SQL text is not embedded again"
    );
}

#[wasm_bindgen_test]
async fn bad_answers_are_embedding_errors_that_store_nothing() {
    let state = state();
    let db = Database::memory().into_js_face(None).unwrap();
    db.use_custom_embedder("custom:axes", 2.0, axes(&state))
        .unwrap();
    for (mode, says) in [
        ("count", "returned 1 vectors for 2 texts"),
        ("dims", "vector 0 has 3 values, expected 2"),
        ("nan", "vector 0 holds NaN at index 0, not a finite number"),
        ("plain", "vector 0 is not a Float32Array (got an array)"),
        (
            "object",
            "must resolve to an array of Float32Array (one per text), got Object",
        ),
        ("throw", "the embed function threw: model not loaded"),
        ("reject", "the embed function rejected: GPU device lost"),
    ] {
        set_mode(&state, mode);
        let result = settle(
            db.embed_async(js(json!(["a", "b"])), Some("custom:axes".into()))
                .unwrap(),
        )
        .await;
        let message = result
            .as_ref()
            .err()
            .and_then(|e| e.dyn_ref::<js_sys::Error>())
            .map(|e| String::from(e.message()))
            .unwrap_or_default();
        assert_eq!(code_of(result), "EMBEDDING", "{mode}");
        assert!(message.contains("custom:axes: "), "{mode}: {message}");
        assert!(message.contains(says), "{mode}: {message}");
    }

    // Queued work: a bad answer fails the drain, stores no vector and leaves the row queued.
    set_mode(&state, "dims");
    db.register_schema(js(json!({
        "title": "Doc", "type": "object", "properties": {"body": {"type": "string"}},
        "json_schema_extra": {"embedding_fields": ["body"], "embedding_provider": "custom:axes"}
    })))
    .unwrap();
    db.insert("doc", js(json!({"body": "north pole"}))).unwrap();
    assert_eq!(code_of(settle(db.embeddings_idle()).await), "EMBEDDING");
    assert_eq!(rs(db.embedding_status().unwrap())["queuedRows"], 1);
    assert_eq!(
        rs(db.optimize_vectors(None).unwrap()),
        json!([]),
        "no vector stored"
    );
    set_mode(&state, "ok");
    let report = rs(settle(db.embeddings_idle()).await.unwrap());
    assert_eq!(
        (report["embedded"].clone(), report["remaining"].clone()),
        (json!(1), json!(0))
    );
}

#[wasm_bindgen_test]
fn custom_embedder_arguments_are_checked() {
    let db = Database::memory().into_js_face(None).unwrap();
    let f = axes(&state());
    assert_eq!(
        code_of(db.use_custom_embedder("openai:x", 2.0, f.clone())),
        "INVALID_ARGUMENT"
    );
    assert_eq!(
        code_of(db.use_custom_embedder("custom:", 2.0, f.clone())),
        "EMBEDDING"
    );
    assert_eq!(
        code_of(db.use_custom_embedder("custom:x", 0.0, f.clone())),
        "INVALID_ARGUMENT"
    );
    assert_eq!(
        code_of(db.use_custom_embedder("custom:x", 2.5, f)),
        "INVALID_ARGUMENT"
    );
    assert_eq!(
        code_of(db.use_custom_embedder("custom:x", 2.0, JsValue::from(3))),
        "INVALID_ARGUMENT"
    );
}
