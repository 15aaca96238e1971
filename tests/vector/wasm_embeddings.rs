//! The local embedder in wasm32 against the same onnxruntime reference as the native test: the
//! model and tokenizer are compiled into the test (`from_bytes`, the wasm path).
//!
//! `bash .ci/fetch-models && cargo test --target wasm32-unknown-unknown --features embeddings
//! --test vector` (Node; `WASM_BINDGEN_USE_BROWSER=1` for Chromium). Only built for
//! wasm32 with the `embeddings` feature; without the model it does not compile.
#![cfg(all(feature = "embeddings", target_arch = "wasm32"))]

use crate::cosine::cosine;
use remdb::embed::{Embedder, LocalEmbedder};
use serde_json::Value;

static MODEL: &[u8] = include_bytes!("../../models/all-MiniLM-L6-v2/model.onnx");
static TOKENIZER: &[u8] = include_bytes!("../../models/all-MiniLM-L6-v2/tokenizer.json");
static FIXTURE: &str = include_str!("../fixtures/minilm_reference.json");

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

/// The JS face end to end in wasm: load the model from bytes, insert resources (embedded inline),
/// search by text and by vector, with `_score`, filters and typed errors.
#[wasm_bindgen_test::wasm_bindgen_test]
fn js_face_embeds_inline_and_searches() {
    use wasm_bindgen::JsValue;
    let db = remdb::Database::memory().into_js_face(None).unwrap();
    db.load_model(MODEL.to_vec(), TOKENIZER, None).unwrap();
    let docs = [
        "The cat sat on the mat",
        "Rust is a systems programming language",
        "Bananas are yellow fruit rich in potassium",
        "Dogs and cats are popular pets",
    ];
    let mut ids = Vec::new();
    for d in docs {
        let obj =
            serde_wasm_bindgen::to_value(&serde_json::json!({"name": d, "content": d})).unwrap();
        ids.push(db.insert("resources", obj).unwrap());
    }
    let status: Value = serde_wasm_bindgen::from_value(db.embedding_status().unwrap()).unwrap();
    assert_eq!(status["queuedRows"], 0, "inline mode embedded every insert");
    let rows: Value = serde_wasm_bindgen::from_value(
        db.search(
            "resources",
            JsValue::from_str("a compiler for code"),
            JsValue::UNDEFINED,
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(rows[0]["name"], docs[1]);
    assert_eq!(rows.as_array().unwrap().len(), 4);
    assert!(rows[0]["_score"].as_f64().unwrap() > rows[1]["_score"].as_f64().unwrap());
    let opts =
        serde_wasm_bindgen::to_value(&serde_json::json!({"topK": 1, "filter": [ids[0], ids[3]]}))
            .unwrap();
    let rows: Value = serde_wasm_bindgen::from_value(
        db.search("resources", JsValue::from_str("kittens"), opts)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert!(rows[0]["id"] == ids[0] || rows[0]["id"] == ids[3]);
    // Search by the vector of a document finds that document first.
    let v = db.embed(JsValue::from_str(docs[2]), None).unwrap();
    let rows: Value =
        serde_wasm_bindgen::from_value(db.search("resources", v, JsValue::UNDEFINED).unwrap())
            .unwrap();
    assert_eq!(rows[0]["name"], docs[2]);
    assert!((rows[0]["_score"].as_f64().unwrap() - 1.0).abs() < 1e-4);
    let bad = serde_wasm_bindgen::to_value(&serde_json::json!({"topk": 3})).unwrap();
    assert!(
        db.search("resources", JsValue::from_str("x"), bad).is_err(),
        "misspelt options are errors"
    );
    assert!(db
        .search(
            "resources",
            serde_wasm_bindgen::to_value(&[1.0f32, 2.0]).unwrap(),
            JsValue::UNDEFINED
        )
        .is_err());
}

/// Background mode in wasm: writes only queue the work; an async task (yielding to the event
/// loop between batches of 32) embeds it, and `embeddingsIdle()` resolves once it is done.
#[wasm_bindgen_test::wasm_bindgen_test]
async fn background_mode_drains_in_an_async_task() {
    use remdb::vector::EmbedMode;
    use wasm_bindgen::JsValue;
    let options = remdb::OpenOptions {
        embedding_mode: Some(EmbedMode::Background),
        ..Default::default()
    };
    let db =
        remdb::Database::with_kv_options(std::sync::Arc::new(remdb::kv::MemoryKv::new()), &options)
            .unwrap()
            .into_js_face(None)
            .unwrap();
    db.load_model(MODEL.to_vec(), TOKENIZER, None).unwrap();
    let rows: Vec<Value> = (0..40)
        .map(|i| serde_json::json!({"name": format!("n{i}"), "content": format!("note {i} about {}", ["cats", "rust", "bread", "music"][i % 4])}))
        .collect();
    db.insert_many("resources", serde_wasm_bindgen::to_value(&rows).unwrap())
        .unwrap();
    let status: Value = serde_wasm_bindgen::from_value(db.embedding_status().unwrap()).unwrap();
    assert_eq!(
        status["queuedRows"], 40,
        "the write returned with the work queued"
    );
    let report = wasm_bindgen_futures::JsFuture::from(db.embeddings_idle())
        .await
        .unwrap();
    let report: Value = serde_wasm_bindgen::from_value(report).unwrap();
    assert_eq!(report["remaining"], 0, "{report}");
    let status: Value = serde_wasm_bindgen::from_value(db.embedding_status().unwrap()).unwrap();
    assert_eq!(status["queuedRows"], 0);
    let rows: Value = serde_wasm_bindgen::from_value(
        db.search(
            "resources",
            JsValue::from_str("kittens"),
            JsValue::UNDEFINED,
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 10);
    assert!(
        rows[0]["content"].as_str().unwrap().contains("cats"),
        "{}",
        rows[0]
    );
}

/// tract's f32 matrix products in wasm run on remdb's kernel (`src/embed/wasm_gemm.rs`) and equal
/// a plain triple loop: full and border tiles in both directions, `k` from 1 up, known and
/// symbolic `n`, with a fused per-row bias, per-column scale and ReLU in the kernel's epilogue.
#[wasm_bindgen_test::wasm_bindgen_test]
fn wasm_gemm_kernel_matches_a_reference_product() {
    use tract_onnx::tract_core::internal::*;
    use tract_onnx::tract_core::ops::einsum::EinSum;
    use tract_onnx::tract_core::ops::math::{add, max, mul};
    use tract_onnx::tract_core::ops::matmul::optimized::OptMatMul;

    // Loading a model links the kernel's registration in (as any application does).
    LocalEmbedder::from_bytes(MODEL, TOKENIZER).unwrap();
    let value = |seed: usize| ((seed * 7919 % 1009) as f32 - 504.0) / 251.0;
    for (m, k, n, symbolic) in [
        (16, 1, 2, false),
        (16, 384, 14, false),
        (37, 7, 3, false),
        (48, 33, 5, true),
        (5, 9, 14, true),
        (33, 20, 1, false),
    ] {
        let a: Vec<f32> = (0..m * k).map(value).collect();
        let b: Vec<f32> = (0..k * n).map(|i| value(i + 100_000)).collect();
        let bias: Vec<f32> = (0..m).map(|i| value(i + 200_000)).collect();
        let col_scale: Vec<f32> = (0..n).map(|j| 0.5 + j as f32 * 0.25).collect();

        let mut model = TypedModel::default();
        let n_dim = if symbolic {
            model.symbols.sym("n").to_dim()
        } else {
            n.to_dim()
        };
        let x = model
            .add_source("x", f32::fact([k.to_dim(), n_dim]))
            .unwrap();
        let w = model
            .add_const("w", tensor1(&a).into_shape(&[m, k]).unwrap())
            .unwrap();
        let einsum = EinSum::new("mk,kn->mn".parse().unwrap(), f32::datum_type());
        let y = model.wire_node("mm", einsum, &[w, x]).unwrap()[0];
        let bias_c = model
            .add_const("bias_c", tensor1(&bias).into_shape(&[m, 1]).unwrap())
            .unwrap();
        let y = model.wire_node("bias", add(), &[y, bias_c]).unwrap()[0];
        let y = if symbolic {
            y
        } else {
            let s = model
                .add_const(
                    "col_scale",
                    tensor1(&col_scale).into_shape(&[1, n]).unwrap(),
                )
                .unwrap();
            model.wire_node("scale", mul(), &[y, s]).unwrap()[0]
        };
        let zero = model.add_const("zero", tensor2(&[[0f32]])).unwrap();
        let y = model.wire_node("relu", max(), &[y, zero]).unwrap();
        model.select_output_outlets(&y).unwrap();
        let model = model.into_optimized().unwrap();

        let kernels: Vec<String> = model
            .nodes
            .iter()
            .filter_map(|node| node.op_as::<OptMatMul>())
            .flat_map(|mm| mm.mmm.iter().map(|k| k.name().to_string()))
            .collect();
        if n > 1 {
            assert_eq!(kernels, ["remdb_wasm_f32_16x2"], "m={m} k={k} n={n}");
        }
        let input = tensor1(&b).into_shape(&[k, n]).unwrap();
        let out = model
            .into_runnable()
            .unwrap()
            .run(tvec![input.into_tvalue()])
            .unwrap()
            .remove(0);
        let out = out.to_plain_array_view::<f32>().unwrap();
        assert_eq!(out.shape(), &[m, n]);
        for i in 0..m {
            for j in 0..n {
                let dot: f32 = (0..k).map(|l| a[i * k + l] * b[l * n + j]).sum();
                let scale = if symbolic { 1.0 } else { col_scale[j] };
                let want = ((dot + bias[i]) * scale).max(0.0);
                let got = out[[i, j]];
                assert!(
                    (got - want).abs() <= 1e-4 * want.abs().max(1.0),
                    "m={m} k={k} n={n} at ({i}, {j}): {got} != {want}"
                );
            }
        }
    }
}
