//! Vectors and embeddings: search on every backend, HNSW recall on GloVe, the distance kernels
//! (also on wasm32), the local, HTTP and automatic embedders, and the local embedder in wasm32.
//!
//! One test binary per layer (each links the whole crate once); each file is a module named
//! after the behaviour it proves. Run one with e.g. `cargo test --test vector <module>::`.

#[cfg(not(target_arch = "wasm32"))]
#[path = "../common/bm25.rs"]
mod bm25;
#[cfg(not(target_arch = "wasm32"))]
#[path = "../common/mod.rs"]
mod common;
#[allow(dead_code)]
#[path = "../common/cosine.rs"]
mod cosine;

#[cfg(not(target_arch = "wasm32"))]
mod embeddings_auto;
#[cfg(not(target_arch = "wasm32"))]
mod embeddings_http;
#[cfg(not(target_arch = "wasm32"))]
mod embeddings_local;
#[cfg(not(target_arch = "wasm32"))]
mod inline_embedding_outside_the_writer_lock;
#[cfg(not(target_arch = "wasm32"))]
mod keyword_search;
mod vector_kernels;
#[cfg(not(target_arch = "wasm32"))]
mod vector_recall;
#[cfg(not(target_arch = "wasm32"))]
mod vector_search;
mod wasm_embeddings;
