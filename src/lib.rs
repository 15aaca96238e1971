//! # remdb
//!
//! The REM (Resources · Entities · Moments) database: JSON entities in tables defined by JSON
//! Schema, secondary indexes, tenants and a write-ahead log for sync — one synchronous core that
//! runs natively and as WebAssembly.
//!
//! Layers, bottom to top: [`kv`] (ordered byte store, three backends) → [`store`] (schemas,
//! entities, indexes, edges, WAL; one write path) → [`graph`] (traversal, paths, cycles) and [`embed`] (text → vectors; the local model
//! needs feature `embeddings`) → faces ([`Database`] here, the `rem` CLI and the
//! wasm-bindgen JS face).
//!
//! ```
//! use remdb::{Database, ListOptions};
//! use serde_json::json;
//!
//! let db = Database::memory();
//! let t = db.tenant("default")?;
//! t.register_schema(json!({
//!     "title": "Person", "type": "object",
//!     "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
//!     "required": ["name"],
//!     "json_schema_extra": {"key_field": "name", "indexed_fields": ["age"]}
//! }))?;
//! let ada = t.insert("person", json!({"name": "Ada", "age": 36}))?;
//! assert!(t.insert("person", json!({"name": "Bob", "age": -1})).is_err());
//! assert_eq!(t.list("person", &ListOptions::default())?.len(), 1);
//! assert_eq!(t.wal().seq()?, 2); // the schema, then Ada
//! # let _ = ada;
//! # Ok::<(), remdb::Error>(())
//! ```

#![warn(missing_docs)]

pub mod ask;
pub mod budget;
mod database;
mod distance;
pub mod embed;
mod error;
pub mod fulltext;
pub mod graph;
mod http_retry;
pub mod ingest;
pub mod kv;
pub mod sql;
pub mod store;
pub mod sync;
mod tenant;
pub mod tokenize;
mod typed;
pub mod vector;
#[cfg(target_arch = "wasm32")]
mod wasm;

pub use budget::Budget;
pub use database::{Database, OpenOptions, DEFAULT_TENANT, MAX_ROW_BYTES_ENV};
pub use error::{Error, Result, ValidationIssue};
pub use graph::{GraphPath, PathOptions, Strategy, Traversal, TraverseOptions};
pub use sql::QueryResult;
pub use store::{
    ApplyReport, Category, IndexQuery, ListOptions, MergePolicy, Row, TableSchema, WalEntry, WalOp,
    WriteLimits, BUILTIN_TABLES, DEFAULT_MAX_ROW_BYTES, MAX_APPLY_ENTRIES, MAX_DEPTH,
    SYSTEM_FIELDS,
};
pub use store::{Change, ChangeOrigin, ChangeSubscription, Edge, EdgeDirection, NewEdge};
pub use tenant::{Embeddings, SyncSteps, Tenant, Vectors, Wal};
pub use typed::{Rem, Typed};
