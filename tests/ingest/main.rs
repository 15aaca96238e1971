//! Document ingestion: files in every format become chunks (or rows) that search finds, written
//! idempotently. The in-memory tests run natively and on wasm32 (`.ci/test-wasm`); walking
//! folders and the CLI run natively (the CLI's tests are in `tests/faces/cli_ingest.rs`).
//!
//! One test binary per layer; each file is a module named after the behaviour it proves. Run
//! one with e.g. `cargo test --test ingest idempotent_reingest::`.

mod fixture;

mod chunk_boundaries_and_metadata;
mod data_files_become_validated_rows;
#[cfg(not(target_arch = "wasm32"))]
mod folder_content_is_searchable;
mod idempotent_reingest;
mod input_bounds;

use std::sync::Arc;

use remdb::kv::MemoryKv;
use remdb::vector::EmbedMode;
use remdb::{Database, OpenOptions, Tenant};

/// A tenant of a fresh in-memory database with the built-in tables and no embedding, so WAL
/// positions count exactly the rows written.
pub fn tenant() -> Tenant {
    let db = Database::with_kv_options(
        Arc::new(MemoryKv::new()),
        &OpenOptions {
            embedding_mode: Some(EmbedMode::Off),
            ..OpenOptions::default()
        },
    )
    .unwrap();
    let t = db.tenant("default").unwrap();
    t.init().unwrap();
    t
}

/// The live rows of `table` in uri, then ordinal order.
pub fn rows(t: &Tenant, table: &str) -> Vec<serde_json::Value> {
    let r = t
        .sql(&format!("SELECT * FROM {table} ORDER BY uri, ordinal"), &[])
        .unwrap();
    r.rows
        .iter()
        .map(|row| {
            serde_json::Value::Object(r.columns.iter().cloned().zip(row.iter().cloned()).collect())
        })
        .collect()
}

/// Runs a test natively and on wasm32.
macro_rules! both {
    ($(fn $name:ident() $body:block)*) => {
        $(
            #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
            #[cfg_attr(not(target_arch = "wasm32"), test)]
            fn $name() $body
        )*
    };
}
pub(crate) use both;
