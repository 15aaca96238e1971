//! The in-module `local` embedder against onnxruntime reference vectors.
//!
//! Needs the model: `bash .ci/fetch-models` (or `REM_MODEL_DIR`). Without it these tests FAIL —
//! they do not skip. Run with `cargo test --features embeddings --test vector embeddings_local`.
#![cfg(all(feature = "embeddings", not(target_arch = "wasm32")))]

use std::path::PathBuf;
use std::sync::OnceLock;

use crate::cosine::cosine;
use remdb::embed::{default_model_dir, Embedder, EmbedderSpec, LocalEmbedder};
use serde_json::Value;

fn model_dir() -> PathBuf {
    let dir = default_model_dir();
    if dir.is_absolute() {
        dir
    } else {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(dir)
    }
}

fn embedder() -> &'static LocalEmbedder {
    static E: OnceLock<LocalEmbedder> = OnceLock::new();
    E.get_or_init(|| {
        LocalEmbedder::from_files(model_dir()).unwrap_or_else(|e| {
            panic!(
                "cannot load the model from {} ({e}); run `bash .ci/fetch-models`",
                model_dir().display()
            )
        })
    })
}

struct Reference {
    text: String,
    vector: Vec<f32>,
}

fn fixture() -> Vec<Reference> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/minilm_reference.json"
    );
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    doc["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| Reference {
            text: s["text"].as_str().unwrap().to_string(),
            vector: s["vector"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect(),
        })
        .collect()
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

#[test]
fn matches_onnxruntime_reference() {
    let e = embedder();
    assert_eq!(e.name(), "local:all-MiniLM-L6-v2");
    assert_eq!(e.dimensions(), 384);
    let refs = fixture();
    assert!(refs.len() >= 10);
    assert!(
        refs.iter().any(|r| r.text.is_empty()),
        "the fixture covers the empty string"
    );
    for r in &refs {
        let v = e.embed_one(&r.text).unwrap();
        assert_eq!(v.len(), 384);
        assert!((norm(&v) - 1.0).abs() < 1e-4, "unit norm for {:?}", r.text);
        let c = cosine(&v, &r.vector);
        assert!(c >= 0.999, "cosine {c} < 0.999 for {:?}", r.text);
    }
}

#[test]
fn batches_equal_singles() {
    let e = embedder();
    let refs = fixture();
    let texts: Vec<&str> = refs.iter().map(|r| r.text.as_str()).collect();
    // 10 texts of very different lengths in one padded batch, then across batch boundaries.
    let batched = e.embed(&texts).unwrap();
    assert_eq!(batched.len(), texts.len());
    let many: Vec<&str> = texts.iter().cycle().take(75).copied().collect();
    let chunked = e.embed(&many).unwrap();
    assert_eq!(chunked.len(), 75);
    for (i, text) in texts.iter().enumerate() {
        let single = e.embed_one(text).unwrap();
        for (what, v) in [
            ("batch", &batched[i]),
            ("chunked", &chunked[i]),
            ("chunked+40", &chunked[i + 40]),
        ] {
            let max_diff = single
                .iter()
                .zip(v.iter())
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(max_diff < 1e-4, "{what}: max |Δ| {max_diff} for {text:?}");
            assert!(cosine(&single, v) > 0.99999, "{what}: {text:?}");
        }
    }
    // Deterministic: the same call twice gives the same bits.
    assert_eq!(e.embed(&texts).unwrap(), batched);
}

#[test]
fn empty_inputs() {
    let e = embedder();
    assert!(e.embed(&[]).unwrap().is_empty());
    let v = e.embed(&["", "   ", "\n\t"]).unwrap();
    assert_eq!(v.len(), 3);
    assert!(v
        .iter()
        .all(|v| v.len() == 384 && (norm(v) - 1.0).abs() < 1e-4));
}

#[test]
fn semantic_sanity() {
    let e = embedder();
    let v = e
        .embed(&[
            "a cat sits on the mat",
            "a kitten is on a rug",
            "quarterly revenue grew 5%",
        ])
        .unwrap();
    let (near, far) = (cosine(&v[0], &v[1]), cosine(&v[0], &v[2]));
    assert!(near > far + 0.2, "cat/kitten {near} vs cat/revenue {far}");
}

#[test]
fn long_texts_are_truncated_not_rejected() {
    let e = embedder();
    let long = "word ".repeat(5_000);
    let longer = format!("{long} and a different ending that is past the limit");
    let v = e.embed(&[&long, &longer]).unwrap();
    // Only the first 256 tokens count, so the different endings do not matter.
    assert!(cosine(&v[0], &v[1]) > 0.99999);
}

#[test]
fn from_spec_and_bytes() {
    let spec = EmbedderSpec::parse("local:all-MiniLM-L6-v2").unwrap();
    assert_eq!(spec.known_dimensions(), Some(embedder().dimensions()));
    let dir = model_dir();
    let model = std::fs::read(dir.join("model.onnx")).unwrap();
    let tokenizer = std::fs::read(dir.join("tokenizer.json")).unwrap();
    let e = LocalEmbedder::from_bytes(&model, &tokenizer)
        .unwrap()
        .with_batch_size(2);
    assert_eq!(e.name(), "local:all-MiniLM-L6-v2");
    let texts = ["one", "two", "three"];
    let (a, b) = (e.embed(&texts).unwrap(), embedder().embed(&texts).unwrap());
    assert_eq!(a.len(), 3);
    assert!(a.iter().zip(&b).all(|(x, y)| cosine(x, y) > 0.99999));
    let err =
        LocalEmbedder::from_spec(&EmbedderSpec::parse("openai:text-embedding-3-small").unwrap())
            .unwrap_err();
    assert_eq!(err.code(), "EMBEDDING");
}

#[test]
fn missing_or_corrupt_model_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let err = LocalEmbedder::from_files(tmp.path()).unwrap_err();
    assert_eq!(err.code(), "EMBEDDING");
    assert!(err.to_string().contains("model.onnx"), "{err}");

    let dir = model_dir();
    let model = std::fs::read(dir.join("model.onnx")).unwrap();
    let tokenizer = std::fs::read(dir.join("tokenizer.json")).unwrap();
    // Corrupt model: garbage bytes, a truncated file.
    std::fs::write(tmp.path().join("model.onnx"), b"not an onnx model").unwrap();
    std::fs::write(tmp.path().join("tokenizer.json"), &tokenizer).unwrap();
    assert_eq!(
        LocalEmbedder::from_files(tmp.path()).unwrap_err().code(),
        "EMBEDDING"
    );
    assert_eq!(
        LocalEmbedder::from_bytes(&model[..model.len() / 2], &tokenizer)
            .unwrap_err()
            .code(),
        "EMBEDDING"
    );
    // Corrupt tokenizer.
    assert_eq!(
        LocalEmbedder::from_bytes(&model, b"{\"nope\": 1}")
            .unwrap_err()
            .code(),
        "EMBEDDING"
    );
    assert_eq!(
        LocalEmbedder::from_bytes(&model, b"").unwrap_err().code(),
        "EMBEDDING"
    );
}

#[test]
fn a_tokenizer_with_ids_beyond_the_embedding_table_is_refused_at_load() {
    let dir = model_dir();
    let model = std::fs::read(dir.join("model.onnx")).unwrap();
    let mut tokenizer: Value =
        serde_json::from_slice(&std::fs::read(dir.join("tokenizer.json")).unwrap()).unwrap();
    // all-MiniLM-L6-v2's table has 30522 rows: a token with id 40000 has none.
    tokenizer["model"]["vocab"]["猫"] = Value::from(40_000);
    let tokenizer = serde_json::to_vec(&tokenizer).unwrap();
    let err = LocalEmbedder::from_bytes(&model, &tokenizer).unwrap_err();
    assert_eq!(err.code(), "EMBEDDING", "{err}");
    let message = err.to_string();
    assert!(message.contains("up to 40000"), "{message}");
    assert!(message.contains("30522 rows"), "{message}");
    // The real tokenizer fits, and non-Latin text embeds.
    let v = embedder()
        .embed(&["猫が座っている", "кошка сидит"])
        .unwrap();
    assert!(v.iter().all(|v| (norm(v) - 1.0).abs() < 1e-3));
}
