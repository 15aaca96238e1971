//! The local embedder in wasm32 against the same onnxruntime reference as the native test: the
//! model and tokenizer are compiled into the test (`from_bytes`, the wasm path).
//!
//! `bash .ci/fetch-models && cargo test --target wasm32-unknown-unknown --features embeddings
//! --test wasm_embeddings` (Node; `WASM_BINDGEN_USE_BROWSER=1` for Chromium). Only built for
//! wasm32 with the `embeddings` feature; without the model it does not compile.
#![cfg(all(feature = "embeddings", target_arch = "wasm32"))]

use remdb::embed::{cosine, Embedder, LocalEmbedder};
use serde_json::Value;

static MODEL: &[u8] = include_bytes!("../models/all-MiniLM-L6-v2/model.onnx");
static TOKENIZER: &[u8] = include_bytes!("../models/all-MiniLM-L6-v2/tokenizer.json");
static FIXTURE: &str = include_str!("fixtures/minilm_reference.json");

#[wasm_bindgen_test::wasm_bindgen_test]
fn wasm_matches_onnxruntime_reference() {
    let e = LocalEmbedder::from_bytes(MODEL, TOKENIZER).unwrap();
    assert_eq!((e.name(), e.dimensions()), ("local:all-MiniLM-L6-v2", 384));
    let doc: Value = serde_json::from_str(FIXTURE).unwrap();
    let refs: Vec<(String, Vec<f32>)> = doc["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let v = s["vector"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect();
            (s["text"].as_str().unwrap().to_string(), v)
        })
        .collect();
    let texts: Vec<&str> = refs.iter().map(|(t, _)| t.as_str()).collect();
    let batched = e.embed(&texts).unwrap();
    for ((text, reference), b) in refs.iter().zip(&batched) {
        let v = e.embed(&[text]).unwrap().remove(0);
        let c = cosine(&v, reference);
        assert!(c >= 0.999, "cosine {c} < 0.999 for {text:?}");
        assert!(cosine(&v, b) > 0.99999, "batch vs single for {text:?}");
    }
    assert!(e.embed(&[]).unwrap().is_empty());
}
