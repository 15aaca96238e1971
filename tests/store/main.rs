//! The store on every backend: entities, schemas, secondary indexes, tenants, the WAL and the KV
//! conformance suite (which also runs on wasm32).
//!
//! One test binary per layer (each links the whole crate once); each file is a module named
//! after the behaviour it proves. Run one with e.g. `cargo test --test store <module>::`.

#[cfg(not(target_arch = "wasm32"))]
#[path = "../common/bm25.rs"]
mod bm25;
#[cfg(not(target_arch = "wasm32"))]
#[path = "../common/mod.rs"]
mod common;
#[cfg(all(not(target_arch = "wasm32"), feature = "server"))]
#[path = "../common/postgres.rs"]
mod postgres;

#[cfg(not(target_arch = "wasm32"))]
mod change_notification;
#[cfg(not(target_arch = "wasm32"))]
mod damaged_files;
#[cfg(not(target_arch = "wasm32"))]
mod entity_lifecycle;
#[cfg(not(target_arch = "wasm32"))]
mod fulltext_index;
mod kv_conformance;
#[cfg(not(target_arch = "wasm32"))]
mod rows_written_as_json;
#[cfg(not(target_arch = "wasm32"))]
mod schema_validation;
#[cfg(not(target_arch = "wasm32"))]
mod secondary_indexes;
#[cfg(not(target_arch = "wasm32"))]
mod tenant_isolation;
#[cfg(not(target_arch = "wasm32"))]
mod typed_tables;
#[cfg(not(target_arch = "wasm32"))]
mod wal_apply_trusts_nobody;
#[cfg(not(target_arch = "wasm32"))]
mod wal_replication;
#[cfg(not(target_arch = "wasm32"))]
mod write_limits;
