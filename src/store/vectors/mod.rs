//! Vectors in the store: the raw vectors of embedded fields, per-index metadata, the pending
//! (not yet indexed) set, built HNSW segments and the durable embedding queue — all written by
//! the one write path, vectors logged as [`WalOp::Vector`](super::WalOp::Vector).
//!
//! One vector index exists per table, embedded field and provider ([`IndexName`]). A vector is
//! first *pending*: searched exactly. [`crate::vector`] builds pending vectors into immutable
//! HNSW *segments* (persisted here in chunks) and merges segments; a vector replaced or deleted
//! after it went into a segment leaves a dead entry there (its record no longer names that
//! segment), skipped by search and dropped by the next merge.
//!
//! Embedding work: when a row's embedded text changes, its old vectors go away in the same
//! batch, and the new text is embedded before the batch commits ([`EmbedMode::Inline`]) or
//! recorded in the queue for a background drain ([`EmbedMode::Background`], or when the
//! provider cannot embed right now).

mod embedding;
mod read;
mod record;
mod write;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::entity::{get_path, Row};
use super::keys::Keys;
use super::schema::TableSchema;
use super::wal::WalOp;
use super::write::WriteTx;
use super::TenantStore;
pub use crate::distance::Metric;
use crate::error::{Error, Result};
use crate::kv::{Direction, KvSnapshot};

/// Longest vector accepted.
pub const MAX_DIMENSIONS: usize = 65_536;

/// Names one vector index: the vectors of `field` in `table` computed by `provider`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct IndexName {
    /// The table.
    pub table: String,
    /// The embedded field.
    pub field: String,
    /// The provider spec (e.g. `local:all-MiniLM-L6-v2`) or the label of caller-supplied vectors.
    pub provider: String,
}

impl IndexName {
    /// An index name; checks that no part is empty or contains NUL.
    pub fn new(table: &str, field: &str, provider: &str) -> Result<Self> {
        for (what, v) in [("table", table), ("field", field), ("provider", provider)] {
            if v.is_empty() || v.contains('\0') || v.len() > 256 {
                return Err(Error::InvalidArgument(format!(
                    "vector index {what} must be 1–256 bytes without NUL"
                )));
            }
        }
        Ok(IndexName {
            table: table.into(),
            field: field.into(),
            provider: provider.into(),
        })
    }
}

impl fmt::Display for IndexName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{} ({})", self.table, self.field, self.provider)
    }
}

/// One built segment as the index metadata records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentInfo {
    /// Segment number, unique within the index, from 1.
    pub no: u64,
    /// Entries it was built with.
    pub size: u64,
    /// Entries whose vector was replaced or deleted since.
    pub dead: u64,
    /// Number of stored chunks.
    pub chunks: u32,
    /// Times the segment was rewritten under its number (grown by a merge); 0 when first built.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub generation: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Metadata of one vector index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexMeta {
    /// Comparison of vectors, fixed when the index is created.
    pub metric: Metric,
    /// Vector length, fixed by the first vector.
    pub dims: usize,
    /// Live vectors.
    pub count: u64,
    /// Vectors not in any segment (searched exactly).
    pub pending: u64,
    /// Built segments, oldest first.
    pub segments: Vec<SegmentInfo>,
    /// Next segment number.
    pub next_segment: u64,
    /// Changes on every write to the index: caches of the pending set compare it.
    pub version: u64,
}

pub(crate) use self::embedding::{embed_text, text_sha, CommitHook, EmbedWork, QueueRecord};
pub use self::embedding::{EmbedMode, EmbedSettings, EmbeddingSource, QueuedWork, TokenCounter};
pub(crate) use self::read::read_meta;
use self::record::{corrupt, encode_f32s};
pub(crate) use self::record::{decode_f32s, encode_record, record_segment, record_vector};
use self::write::range_prefix;
