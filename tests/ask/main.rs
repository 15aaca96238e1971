//! Natural-language questions: the evaluation set (offline planner and recorded LLM plans),
//! hostile questions, and the lookup ladder.
//!
//! One test binary for the layer; run one file with e.g. `cargo test --test ask eval::`.

#[cfg(all(feature = "embeddings", not(target_arch = "wasm32")))]
mod eval;
#[cfg(not(target_arch = "wasm32"))]
mod hostile_questions;
