//! What devices and the hub say to each other: the bodies of push and pull, the same JSON over
//! HTTP and in process.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::store::{Row, WalEntry, WalOp};

/// Most ops one push may carry; the client sends its outbox in pushes of at most this many.
pub const MAX_PUSH_OPS: usize = 1_000;

/// Most entries one pull returns.
pub const MAX_PULL_ENTRIES: usize = 5_000;

/// Most rows and edges one snapshot page carries.
pub const MAX_SNAPSHOT_ITEMS: usize = 5_000;

/// A snapshot page stops growing once its rows and edges take this many stored bytes.
pub const MAX_SNAPSHOT_PAGE_BYTES: usize = 8 * 1024 * 1024;

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
    /// The device should load the hub's snapshot (`/v1/snapshot`) instead of this log: the
    /// entries after `since` were compacted away, or the device has never pulled and the
    /// current state is cheaper to take than the history. `entries` is then empty.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub snapshot: bool,
}

/// One page of a hub tenant's current state, for a device that loads it instead of replaying
/// the log: every table's rows (soft-deleted ones too) in key order, then every edge. Pages are
/// read at different moments; the device then pulls the log after the first page's `hub_seq`,
/// whose entries bring whatever changed while it loaded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SnapshotPage {
    /// The hub's log position when the page was read.
    pub hub_seq: u64,
    /// The hub's wall clock (Unix ms).
    pub hub_ms: u64,
    /// The first page only: every table's schema, as logged (`{name, schema}`).
    #[serde(default)]
    pub schemas: Vec<Value>,
    /// Rows, in the order of their tables' names, then of their ids.
    #[serde(default)]
    pub rows: Vec<SnapshotRow>,
    /// Edges (`{src, rel, dst, properties, created_at, modified_at}`), by source, relationship
    /// and target.
    #[serde(default)]
    pub edges: Vec<Value>,
    /// Where the next page starts (the last row or edge of this one), or `None` after the last.
    #[serde(default)]
    pub next: Option<String>,
}

/// One row of a snapshot page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotRow {
    /// Its table.
    pub table: String,
    /// The whole row, system fields included.
    pub row: Row,
    /// Its vectors on the hub (a device takes those of providers it embeds the table with, when
    /// its own text of the field is the one they embed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vectors: Vec<SnapshotVector>,
}

/// A row's vector in a snapshot page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotVector {
    /// The embedded (or caller-named) field.
    pub field: String,
    /// The provider that made it (or the caller's label).
    pub provider: String,
    /// The values.
    pub vector: Vec<f32>,
    /// The fingerprint of the field's text on the hub, for fields the table embeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_sha: Option<String>,
}

/// Where a snapshot page ends: a row `(table, id)` or an edge `(src, rel, dst)`. Written as
/// text that needs no escaping in a URL: `r.<table>.<id>` or `e.<src>.<rel as hex>.<dst>`
/// (ids as 32 hex digits).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum SnapshotCursor {
    /// After this row.
    Row(String, uuid::Uuid),
    /// After this edge.
    Edge(uuid::Uuid, String, uuid::Uuid),
}

impl SnapshotCursor {
    /// The cursor's text (the hub writes it; devices only read it).
    #[cfg(any(feature = "server", test))]
    pub(crate) fn encode(&self) -> String {
        match self {
            SnapshotCursor::Row(table, id) => format!("r.{table}.{}", id.simple()),
            SnapshotCursor::Edge(src, rel, dst) => {
                let hex: String = rel.bytes().map(|b| format!("{b:02x}")).collect();
                format!("e.{}.{hex}.{}", src.simple(), dst.simple())
            }
        }
    }

    /// Reads a cursor's text; anything else is an `INVALID_ARGUMENT` error.
    pub(crate) fn parse(text: &str) -> crate::error::Result<Self> {
        let bad = || {
            crate::error::Error::InvalidArgument(format!(
                "snapshot cursor {:?} is not one a snapshot page gave",
                crate::store::quote(text)
            ))
        };
        let id = |s: &str| uuid::Uuid::try_parse(s).map_err(|_| bad());
        let parts: Vec<&str> = text.split('.').collect();
        match parts.as_slice() {
            ["r", table, row] => {
                crate::store::schema::check_table_name(table).map_err(|_| bad())?;
                Ok(SnapshotCursor::Row(table.to_string(), id(row)?))
            }
            ["e", src, rel, dst] => {
                if rel.len() % 2 != 0 || !rel.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(bad());
                }
                let bytes: Vec<u8> = (0..rel.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&rel[i..i + 2], 16))
                    .collect::<std::result::Result<_, _>>()
                    .map_err(|_| bad())?;
                let rel = String::from_utf8(bytes).map_err(|_| bad())?;
                crate::store::check_rel(&rel).map_err(|_| bad())?;
                Ok(SnapshotCursor::Edge(id(src)?, rel, id(dst)?))
            }
            _ => Err(bad()),
        }
    }
}

/// What a device asks its hub for next while it pulls (see [`crate::SyncSteps::next_pull`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullPlan {
    /// This device's id.
    pub device: String,
    /// Pull the log after this position (when not loading a snapshot).
    pub since: u64,
    /// Load a snapshot page instead.
    pub snapshot: bool,
    /// The page to load starts after this cursor (`None`: the first page).
    #[serde(default)]
    pub after: Option<String>,
    /// The request to send the hub: a path with its query (`/v1/pull?…` or `/v1/snapshot?…`).
    pub path: String,
}

impl PullPlan {
    /// A plan to pull the log after `since`.
    pub(crate) fn log(device: String, since: u64) -> Self {
        let path =
            format!("/v1/pull?since={since}&limit={MAX_PULL_ENTRIES}&device={device}&snapshot=1");
        PullPlan {
            device,
            since,
            snapshot: false,
            after: None,
            path,
        }
    }

    /// A plan to load the snapshot page after `after`.
    pub(crate) fn snapshot(device: String, since: u64, after: Option<String>) -> Self {
        let path = match &after {
            Some(a) => format!("/v1/snapshot?after={a}&limit={MAX_SNAPSHOT_ITEMS}"),
            None => format!("/v1/snapshot?limit={MAX_SNAPSHOT_ITEMS}"),
        };
        PullPlan {
            device,
            since,
            snapshot: true,
            after,
            path,
        }
    }
}
