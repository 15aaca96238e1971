//! The faces over the same operations: the `rem` CLI as a process and the wasm-bindgen JS face on
//! wasm32.
//!
//! One test binary per layer (each links the whole crate once); each file is a module named
//! after the behaviour it proves. Run one with e.g. `cargo test --test faces <module>::`.

#[cfg(not(target_arch = "wasm32"))]
#[path = "../common/mod.rs"]
mod common;

#[cfg(not(target_arch = "wasm32"))]
mod api_parity;
#[cfg(not(target_arch = "wasm32"))]
mod cli;
#[cfg(not(target_arch = "wasm32"))]
mod cli_ask_llm;
#[cfg(not(target_arch = "wasm32"))]
mod cli_graph;
#[cfg(not(target_arch = "wasm32"))]
mod cli_ingest;
#[cfg(not(target_arch = "wasm32"))]
mod cli_search_modes;
#[cfg(not(target_arch = "wasm32"))]
mod crash_cli;
#[cfg(not(target_arch = "wasm32"))]
mod hostile_cli;
#[cfg(not(target_arch = "wasm32"))]
mod hostile_cli_budget;
#[cfg(target_arch = "wasm32")]
#[macro_use]
#[path = "../common/wasm_face.rs"]
mod wasm_harness;
mod wasm_custom_embedder;
mod wasm_face;
mod wasm_ingest;
mod wasm_keyword_search;
