//! Natural-language questions: the evaluation set (offline planner and recorded LLM plans),
//! hostile questions, and the LLM client against local HTTP servers speaking the OpenAI and
//! Anthropic protocols, natively and from wasm32 in Node, with property tests of how it reads
//! answers.
//!
//! One test binary for the layer; each file is a module named after the behaviour it proves.
//! Run one with e.g. `cargo test --test ask eval::`.

#[cfg(all(feature = "embeddings", not(target_arch = "wasm32")))]
mod eval;
#[cfg(not(target_arch = "wasm32"))]
mod hostile_questions;
#[cfg(not(target_arch = "wasm32"))]
mod llm_answers;
#[cfg(not(target_arch = "wasm32"))]
mod llm_http;
mod wasm_llm;
