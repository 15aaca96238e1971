//! The graph: edge storage, traversals, paths and cycles on hand-checked graphs, property tests
//! against a reference, and the graph on wasm32.
//!
//! One test binary per layer (each links the whole crate once); each file is a module named
//! after the behaviour it proves. Run one with e.g. `cargo test --test graph <module>::`.

#[cfg(not(target_arch = "wasm32"))]
#[path = "../common/mod.rs"]
mod common;

#[cfg(not(target_arch = "wasm32"))]
mod graph_paths;
#[cfg(not(target_arch = "wasm32"))]
mod graph_properties;
#[cfg(not(target_arch = "wasm32"))]
mod graph_storage;
#[cfg(not(target_arch = "wasm32"))]
mod graph_traversal;
#[cfg(not(target_arch = "wasm32"))]
mod hostile_graph;
#[cfg(target_arch = "wasm32")]
#[macro_use]
#[path = "../common/wasm_face.rs"]
mod wasm_harness;
mod wasm_graph;
