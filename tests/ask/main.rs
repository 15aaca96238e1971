//! Natural-language questions (`ask`): the LLM client against local HTTP servers speaking the
//! OpenAI and Anthropic protocols, natively and from wasm32 in Node, and property tests of how
//! it reads answers.
//!
//! One test binary per layer (each links the whole crate once); each file is a module named
//! after the behaviour it proves. Run one with e.g. `cargo test --test ask llm_http::`.

#[cfg(not(target_arch = "wasm32"))]
mod llm_answers;
#[cfg(not(target_arch = "wasm32"))]
mod llm_http;
mod wasm_llm;
