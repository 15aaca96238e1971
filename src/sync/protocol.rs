//! What devices and the hub say to each other: the bodies of push and pull, the same JSON over
//! HTTP and in process.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::store::{Row, WalEntry, WalOp};

/// Most ops one push may carry; the client sends its outbox in pushes of at most this many.
pub const MAX_PUSH_OPS: usize = 1_000;

/// Most entries one pull returns.
pub const MAX_PULL_ENTRIES: usize = 5_000;

/// How far ahead of the hub's clock (ms) a pushed op's clock may be; the client re-stamps ops
/// further ahead with the hub's time before it pushes them.
pub const MAX_CLOCK_AHEAD_MS: u64 = 60_000;

/// `data` gzipped at the fast level: what both ends send compressed (push bodies from the
/// device, answers from the hub), where CPU matters more than the last bytes.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn gzip(data: &[u8]) -> crate::error::Result<Vec<u8>> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 4),
        flate2::Compression::fast(),
    );
    encoder
        .write_all(data)
        .map_err(crate::error::Error::storage)?;
    encoder.finish().map_err(crate::error::Error::storage)
}

/// One local change a device pushes: its WAL entry (whose `seq` is the device's own sequence)
/// and the hub position the device had pulled when it wrote it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncOp {
    /// The device's WAL entry of the write.
    #[serde(flatten)]
    pub entry: WalEntry,
    /// The hub sequence number the device had applied when it wrote this (concurrency witness).
    #[serde(default)]
    pub seen: u64,
}

/// The body of a push.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushRequest {
    /// The pushing device (a UUID the device chose when it first synced).
    pub device: String,
    /// Its changes, in the order it made them (increasing `seq`).
    pub ops: Vec<SyncOp>,
}

/// What the hub did with a push.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PushResponse {
    /// The device's highest sequence number the hub has taken (merged, superseded or rejected):
    /// everything up to it may leave the outbox.
    pub acked: u64,
    /// The hub's log position after the push.
    pub hub_seq: u64,
    /// The hub's wall clock (Unix ms) when it answered.
    pub hub_ms: u64,
    /// Ops the hub refused, with why.
    #[serde(default)]
    pub rejected: Vec<Rejected>,
    /// Concurrent writes to one field that this push took part in.
    #[serde(default)]
    pub conflicts: Vec<Conflict>,
    /// The hub's state of every row and edge the push touched, to replace the device's own
    /// (a write that lost, or was refused, leaves no new entry in the log to pull).
    #[serde(default)]
    pub resets: Vec<Reset>,
    /// Some ops were stamped more than [`MAX_CLOCK_AHEAD_MS`] ahead of the hub's clock and
    /// were not taken (`acked` stops before them): re-stamp them with the hub's time and push
    /// again.
    #[serde(default)]
    pub clock_ahead: bool,
}

/// An op the hub refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejected {
    /// The device's sequence number of the op.
    pub seq: u64,
    /// What the op did.
    pub op: WalOp,
    /// Its table.
    pub table: String,
    /// Its row (or edge source) id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The error code (as [`crate::Error::code`]).
    pub code: String,
    /// Why.
    pub reason: String,
}

/// Two devices wrote one field concurrently (neither had seen the other's write).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conflict {
    /// The table of the row.
    pub table: String,
    /// The row id.
    pub id: String,
    /// The field (`*` when the merged row failed its schema and the whole row was taken).
    pub field: String,
    /// The value that won (absent: the field was removed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub winner: Option<Value>,
    /// The value that lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loser: Option<Value>,
    /// The device whose write won.
    pub winner_device: String,
    /// The device whose write lost.
    pub loser_device: String,
    /// The hub's log position when it merged the later of the two.
    pub hub_seq: u64,
}

/// The hub's current state of something a push touched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reset {
    /// A row: its full after-image, or `None` when the hub has no such row.
    Row {
        /// Its table.
        table: String,
        /// Its id.
        id: String,
        /// The row, or `None`.
        row: Option<Row>,
        /// Every edge from or to the row on the hub (a purge that lost to a later create
        /// removed them on the device).
        #[serde(default)]
        edges: Vec<Value>,
    },
    /// An edge: its record, or `None` when the hub has no such edge.
    Edge {
        /// Source id.
        src: String,
        /// Relationship.
        rel: String,
        /// Target id.
        dst: String,
        /// The whole edge (`{src, rel, dst, properties, created_at, modified_at}`), or `None`.
        edge: Option<Value>,
    },
}

/// The body of a pull's answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PullResponse {
    /// Hub log entries after the requested position, in order (the hub's `seq`).
    pub entries: Vec<WalEntry>,
    /// The hub's log position (the last entry's `seq` when the answer holds everything).
    pub hub_seq: u64,
    /// The hub's wall clock (Unix ms).
    pub hub_ms: u64,
}
