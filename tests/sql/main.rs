//! SQL: hand-checked answers (also on wasm32), differential testing against SQLite, fuzzing and
//! vector similarity in SQL.
//!
//! One test binary per layer (each links the whole crate once); each file is a module named
//! after the behaviour it proves. Run one with e.g. `cargo test --test sql <module>::`.

#[cfg(not(target_arch = "wasm32"))]
#[path = "../common/mod.rs"]
mod common;

#[cfg(not(target_arch = "wasm32"))]
mod hostile_sql;
#[cfg(not(target_arch = "wasm32"))]
mod sql_differential;
#[cfg(not(target_arch = "wasm32"))]
mod sql_fulltext;
#[cfg(not(target_arch = "wasm32"))]
mod sql_fuzz;
mod sql_index_order;
mod sql_queries;
#[cfg(not(target_arch = "wasm32"))]
mod sql_vectors;
