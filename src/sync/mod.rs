//! Multi-writer sync through a hub.
//!
//! Offers the layers above (the `Tenant` API and the faces):
//! - the wire types of push and pull ([`protocol`]), the same over HTTP and in process;
//! - the device side on a tenant: the outbox is the tenant's own WAL (local entries after the
//!   push cursor, each stamped with a hybrid logical clock by the write path), a round pushes
//!   it and pulls the hub's log, applying the hub's rows with the still-unpushed local changes
//!   laid over them; conflicts and rejected ops are kept in lists (`client.rs`);
//! - snapshots: a device that never pulled, or fell behind the hub's compacted log, loads the
//!   hub's current state page by page (each page replaces the device's rows and edges in its
//!   key range, unpushed local changes laid over), then pulls the log after the first page;
//! - [`HubConnection`]: how a device reaches a hub (HTTP natively, `fetch` in the JS face, or
//!   a hub in the same process);
//! - the hub's merge ([`hub`], built with the `server` feature and in tests): per-field last
//!   writer wins by clock, existence as its own register (delete beats concurrent updates,
//!   insert undeletes), tombstones for purges, edges as registers, schemas only from admin
//!   tokens. Every pushed op is checked as a local insert would be. The hub serves snapshot
//!   pages and compacts its log and tombstones below the positions of active devices.
//!
//! Convergence is proven by the property test in `tests.rs`: replicas that sync until quiet
//! equal the hub, whatever the partitions, duplicates, reorderings, clock skews and crashes.

mod client;
mod http;
#[cfg(any(feature = "server", test))]
pub mod hub;
pub mod protocol;
#[cfg(feature = "server")]
pub mod server;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
#[cfg(feature = "server")]
pub mod token;

use serde::{Deserialize, Serialize};

use crate::error::Result;
pub use http::HttpHub;
pub use protocol::{
    Conflict, PullPlan, PullResponse, PushRequest, PushResponse, Rejected, Reset, SnapshotPage,
    SnapshotRow, SnapshotVector, SyncOp,
};

/// Whether `stored` is already this tenant's schema of its table (the same JSON Schema), as
/// `tx` sees it: a schema op or entry that changes nothing is not applied again.
fn schema_unchanged(
    tx: &crate::store::write::WriteTx<'_>,
    stored: &crate::store::schema::StoredSchema,
) -> Result<bool> {
    Ok(match tx.kv_get(&tx.keys().schema(&stored.name))? {
        Some(raw) => serde_json::from_slice::<crate::store::schema::StoredSchema>(&raw)
            .is_ok_and(|current| current.schema == stored.schema),
        None => false,
    })
}

/// A pushed or pulled vector entry's parts (see [`crate::store::wal::vector_parts`]).
fn vector_entry(
    entry: &crate::store::WalEntry,
) -> Result<(
    crate::store::vectors::IndexName,
    uuid::Uuid,
    Vec<f32>,
    Option<String>,
)> {
    crate::store::wal::vector_parts(entry, |why| {
        crate::error::Error::InvalidArgument(format!("vector op: {why}"))
    })
}

/// The fingerprint of `row`'s text of `field`, when it has one.
fn row_text_sha(row: &crate::store::Row, field: &str) -> Option<String> {
    crate::store::vectors::embed_text(row, field).map(|t| crate::store::vectors::text_sha(&t))
}

/// How a device reaches its hub.
pub trait HubConnection {
    /// Sends a push and returns the hub's answer.
    fn push(&self, request: &PushRequest) -> Result<PushResponse>;
    /// Asks for the log entries `plan` names (after `plan.since`, for `plan.device`; the hub
    /// may answer that a snapshot is needed instead).
    fn pull(&self, plan: &PullPlan) -> Result<PullResponse>;
    /// Asks for the snapshot page `plan` names (after `plan.after`).
    fn snapshot(&self, plan: &PullPlan) -> Result<SnapshotPage>;
}

/// One push a device is about to send, and where its outbox cursor goes when the hub takes it
/// (see [`crate::Tenant::sync_steps`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushPlan {
    /// The body to send.
    pub request: PushRequest,
    /// The outbox cursor when the push was planned.
    pub pushed: u64,
    /// The last local position the plan looked at.
    pub scanned: u64,
    /// The hub position seen there.
    pub seen_at: u64,
}

/// What one sync round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncReport {
    /// Local changes the hub took.
    pub pushed: u64,
    /// Hub entries applied here.
    pub pulled: u64,
    /// Rows and edges loaded from the hub's snapshot (a new device, or one that fell behind
    /// the hub's compacted log).
    #[serde(default)]
    pub loaded: u64,
    /// Pushed changes the hub refused (see `rejected()`).
    pub rejected: u64,
    /// Concurrent writes recorded (see `conflicts()`).
    pub conflicts: u64,
    /// The hub's log position at the end of the round.
    pub hub_seq: u64,
}

/// Where a device stands with its hub.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncStatus {
    /// This device's id (none before its first sync).
    pub device: Option<String>,
    /// Local WAL position pushed and acknowledged.
    pub pushed: u64,
    /// Hub log position pulled and applied.
    pub pulled: u64,
    /// Local changes waiting to be pushed.
    pub outbox: u64,
    /// Ops the hub refused.
    pub rejected: u64,
    /// Conflicts recorded.
    pub conflicts: u64,
}
