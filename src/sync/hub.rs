//! The hub's merge: pushed ops become rows of the hub's own tenant through the one write path,
//! field by field, last writer (by hybrid logical clock) wins. The hub tenant's WAL is the log
//! devices pull. Synchronous; `rem serve` (feature `server`) puts HTTP around it.
//!
//! Per row the hub keeps one clock per top-level field and one for existence (sync key space,
//! kind `k`): a field takes a pushed value when the op's `(clock, device)` beats the field's; a
//! row lives or is deleted as its existence register says, so a delete is undone only by an
//! explicit insert/upsert that comes later, never by a concurrent update. A purge leaves a
//! tombstone clock: anything older that arrives afterwards is superseded.

use std::cell::RefCell;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use std::ops::Bound;

use super::protocol::{
    Conflict, PullResponse, PushRequest, PushResponse, Rejected, Reset, SnapshotCursor,
    SnapshotPage, SnapshotRow, SnapshotVector, SyncOp, MAX_CLOCK_AHEAD_MS, MAX_PULL_ENTRIES,
    MAX_PUSH_OPS, MAX_SNAPSHOT_ITEMS, MAX_SNAPSHOT_PAGE_BYTES,
};
use crate::error::{Error, Result};
use crate::kv::Direction;
use crate::store::clock::{now_millis, Hlc};
use crate::store::edges::{decode_edge, rel_string, Edge, EdgeKey, GraphSnapshot};
use crate::store::entity::{parse_ts, user_fields};
use crate::store::schema::StoredSchema;
use crate::store::wal::{check_row_id, check_system_fields};
use crate::store::write::WriteTx;
use crate::store::{check_rel, EdgeDirection};
use crate::store::{is_deleted, parse_id, Row, TenantStore, WalOp};

/// Sync key kinds the hub keeps in its tenants.
const ROW_CLOCKS: u8 = b'k';
const EDGE_CLOCK: u8 = b'e';
const DEVICE: u8 = b'd';
/// Per device: the position it last pulled after and when (Unix ms), 16 bytes big-endian.
const PULLED: u8 = b'p';

/// A device's pull record is rewritten when its position moves, or when it is older than this
/// (so an idle device that keeps pulling stays active without a write per pull).
const PULL_RECORD_REFRESH_MS: u64 = 10 * 60 * 1000;

/// How much history a hub keeps (see [`HubTenant::compact`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// The newest log entries always kept, whatever the devices do.
    pub keep_entries: u64,
    /// A device that has not pulled for this long (ms) no longer holds the log back: when it
    /// returns behind the horizon it loads a snapshot.
    pub device_ttl_ms: u64,
    /// Tombstones (the clocks of purged rows and removed edges) are dropped once they are below
    /// the position of every device that pulled within this long (ms). A device offline for
    /// longer may bring back a row purged meanwhile when it pushes changes it made before.
    pub tombstone_ttl_ms: u64,
}

impl Default for Retention {
    fn default() -> Self {
        const DAY_MS: u64 = 24 * 3600 * 1000;
        Retention {
            keep_entries: 100_000,
            device_ttl_ms: 7 * DAY_MS,
            tombstone_ttl_ms: 30 * DAY_MS,
        }
    }
}

/// What one [`HubTenant::compact`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Compaction {
    /// The log now starts at this position: devices that pulled less than `log_start - 1`
    /// load a snapshot.
    pub log_start: u64,
    /// Log entries removed.
    pub entries_removed: u64,
    /// Tombstones removed.
    pub tombstones_removed: u64,
    /// Devices not heard from within the tombstone TTL, whose pull records were dropped.
    pub devices_forgotten: u64,
}

/// What a token lets its holder do on the hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rights {
    /// May push row and edge changes.
    pub write: bool,
    /// May push schema changes (register or replace tables).
    pub schemas: bool,
}

/// Who wrote something, when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    hlc: Hlc,
    device: String,
    /// The hub log position of the entry that took the write (0: none was written).
    seq: u64,
}

impl Stamp {
    fn beats(&self, other: &Stamp) -> bool {
        #[cfg(test)]
        if BREAK_MERGE.with(std::cell::Cell::get) {
            return (self.hlc, &self.device) < (other.hlc, &other.device);
        }
        (self.hlc, &self.device) > (other.hlc, &other.device)
    }
}

#[cfg(test)]
thread_local! {
    /// A test sets this to break the merge on purpose (first writer wins) and see the oracle
    /// fail. Per thread: the other tests, running beside it, keep the real merge.
    pub(crate) static BREAK_MERGE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The clocks of one row.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct RowClocks {
    /// Existence: who last created, deleted, undeleted or purged the row, and whether it lives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exist: Option<(Stamp, bool)>,
    /// Per top-level user field.
    #[serde(default)]
    fields: BTreeMap<String, Stamp>,
    /// The latest purge: field writes not later than it are gone for good.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    floor: Option<Stamp>,
    /// Field values written later than a purge while the row is gone: a later re-creation
    /// starts from them, so the result does not depend on the order writes arrive in.
    #[serde(default, skip_serializing_if = "Row::is_empty")]
    ghost: Row,
}

/// Merges pushes into a tenant and serves its log: the hub of one tenant.
pub struct HubTenant<'a> {
    tenant: &'a TenantStore,
}

impl<'a> HubTenant<'a> {
    /// The hub side of `tenant`.
    pub(crate) fn new(tenant: &'a TenantStore) -> Self {
        HubTenant { tenant }
    }

    /// Log entries after `since`, at most `limit` (capped at [`MAX_PULL_ENTRIES`]).
    pub fn pull(&self, since: u64, limit: usize) -> Result<PullResponse> {
        let entries = self
            .tenant
            .wal_entries(since, limit.clamp(1, MAX_PULL_ENTRIES))?;
        Ok(PullResponse {
            entries,
            hub_seq: self.tenant.wal_seq()?,
            hub_ms: now_millis(),
            snapshot: false,
        })
    }

    /// What a device's pull gets: like [`pull`](Self::pull), but when `snapshots` (the device
    /// can load one) and the entries after `since` were compacted away, or the device has never
    /// pulled from a hub with history, the answer asks for a snapshot instead. `device` (when
    /// given) is recorded with the time: the positions of active devices hold compaction back.
    pub fn pull_for(
        &self,
        device: Option<&str>,
        since: u64,
        limit: usize,
        snapshots: bool,
    ) -> Result<PullResponse> {
        if let Some(device) = device {
            check_device(device)?;
            self.note_pull(device, since)?;
        }
        let seq = self.tenant.wal_seq()?;
        let first = self.tenant.wal_first()?;
        if snapshots && (since.saturating_add(1) < first || (since == 0 && seq > 0)) {
            return Ok(PullResponse {
                entries: Vec::new(),
                hub_seq: seq,
                hub_ms: now_millis(),
                snapshot: true,
            });
        }
        self.pull(since, limit)
    }

    /// Records that `device` pulled after `since` now (skipped when nothing would change much).
    fn note_pull(&self, device: &str, since: u64) -> Result<()> {
        let key = self.tenant.keys().sync(PULLED, device.as_bytes());
        let now = now_millis();
        if let Some((was, at)) = self
            .tenant
            .store()
            .kv()
            .get(&key)?
            .as_deref()
            .and_then(pull_record)
        {
            if was == since && now.saturating_sub(at) < PULL_RECORD_REFRESH_MS {
                return Ok(());
            }
        }
        self.tenant.write(|tx| {
            tx.kv_put(
                key.clone(),
                [since.to_be_bytes(), now.to_be_bytes()].concat(),
            );
            Ok(())
        })
    }

    /// One page of the tenant's current state, after `after` (a page's `next`; `None` for the
    /// first page, which also carries the schemas), of at most `limit` rows and edges (capped
    /// at [`MAX_SNAPSHOT_ITEMS`] and [`MAX_SNAPSHOT_PAGE_BYTES`]). Each page is read from one
    /// consistent view of the store.
    pub fn snapshot(&self, after: Option<&str>, limit: usize) -> Result<SnapshotPage> {
        let after = after.map(SnapshotCursor::parse).transpose()?;
        let limit = limit.clamp(1, MAX_SNAPSHOT_ITEMS);
        let snap = self.tenant.snapshot()?;
        let mut page = self.snapshot_page(&*snap, after, limit)?;
        self.fill_vectors(&*snap, &mut page.rows)?;
        Ok(page)
    }

    /// A snapshot page's rows (without their vectors) and edges, read from `snap`.
    fn snapshot_page(
        &self,
        snap: &dyn crate::kv::KvSnapshot,
        after: Option<SnapshotCursor>,
        limit: usize,
    ) -> Result<SnapshotPage> {
        let keys = self.tenant.keys();
        let hub_seq = match snap.get(&keys.meta(crate::store::write::META_WAL_SEQ))? {
            Some(v) => crate::store::keys::decode_u64(&v)?,
            None => 0,
        };
        let mut page = SnapshotPage {
            hub_seq,
            hub_ms: now_millis(),
            ..SnapshotPage::default()
        };
        let mut tables = Vec::new();
        for pair in snap.scan(&keys.schemas(), Direction::Forward)? {
            let (_, raw) = pair?;
            let stored: Value = serde_json::from_slice(&raw)
                .map_err(|e| Error::storage(format!("corrupt schema: {e}")))?;
            if let Some(name) = stored.get("name").and_then(Value::as_str) {
                tables.push(name.to_string());
            }
            if after.is_none() {
                page.schemas.push(stored);
            }
        }
        tables.sort();
        let (mut items, mut bytes) = (0usize, 0usize);
        let full = |items: usize, bytes: usize| items >= limit || bytes >= MAX_SNAPSHOT_PAGE_BYTES;
        if !matches!(after, Some(SnapshotCursor::Edge(..))) {
            for table in &tables {
                let mut range = keys.rows(table);
                match &after {
                    Some(SnapshotCursor::Row(t, _)) if t > table => continue,
                    Some(SnapshotCursor::Row(t, id)) if t == table => {
                        range.start = Bound::Excluded(keys.row(table, id));
                    }
                    _ => {}
                }
                for pair in snap.scan(&range, Direction::Forward)? {
                    let (key, raw) = pair?;
                    let (row, _) = crate::store::decode_row_value(&raw)?;
                    let id = crate::store::keys::trailing_id(&key)?;
                    page.rows.push(SnapshotRow {
                        table: table.clone(),
                        row,
                        vectors: Vec::new(),
                    });
                    items += 1;
                    bytes += raw.len();
                    if full(items, bytes) {
                        page.next = Some(SnapshotCursor::Row(table.clone(), id).encode());
                        return Ok(page);
                    }
                }
            }
        }
        let mut range = keys.edges_out();
        if let Some(SnapshotCursor::Edge(src, rel, dst)) = &after {
            range.start = Bound::Excluded(keys.edge(true, src, rel, dst));
        }
        let rel_start = keys.edge_rel_start();
        for pair in snap.scan(&range, Direction::Forward)? {
            let (key, raw) = pair?;
            let src = keys.edge_source(&key)?;
            let (rel, dst) = crate::store::edges::split_edge_key(&key, rel_start)?;
            let rel = String::from_utf8(rel.to_vec())
                .map_err(|_| Error::storage("corrupt edge key: relationship is not UTF-8"))?;
            let edge = decode_edge(src, rel.clone(), dst, &raw)?;
            page.edges
                .push(serde_json::to_value(edge).map_err(Error::storage)?);
            items += 1;
            bytes += key.len() + raw.len();
            if full(items, bytes) {
                page.next = Some(SnapshotCursor::Edge(src, rel, dst).encode());
                return Ok(page);
            }
        }
        Ok(page)
    }

    /// Adds their vectors to `rows` (a page's, in key order): one scan of the vector keys per
    /// run of rows of one table, not one per row. Vectors of the table's embedded fields carry
    /// the fingerprint of the row's text they embed (the write path drops a field's vectors
    /// whenever its text changes, so a stored one embeds the current text).
    fn fill_vectors(
        &self,
        snap: &dyn crate::kv::KvSnapshot,
        rows: &mut [SnapshotRow],
    ) -> Result<()> {
        let keys = self.tenant.keys();
        let mut start = 0;
        while start < rows.len() {
            let table = rows[start].table.clone();
            let end = start
                + rows[start..]
                    .iter()
                    .take_while(|r| r.table == table)
                    .count();
            let run = &mut rows[start..end];
            start = end;
            let id_of = |r: &SnapshotRow| {
                r.row
                    .get("id")
                    .and_then(Value::as_str)
                    .and_then(|id| Uuid::parse_str(id).ok())
            };
            let (Some(first), Some(last)) =
                (run.first().and_then(id_of), run.last().and_then(id_of))
            else {
                continue;
            };
            let at: std::collections::HashMap<Uuid, usize> = run
                .iter()
                .enumerate()
                .filter_map(|(i, r)| id_of(r).map(|id| (id, i)))
                .collect();
            let embedded = self
                .tenant
                .compiled_schema(&table)?
                .info
                .embedding_fields
                .clone();
            let low = keys.vectors_of(&table, &first);
            let table_prefix = low.len() - 16;
            let range = match crate::kv::prefix_successor(&keys.vectors_of(&table, &last)) {
                Some(high) => crate::kv::KeyRange::half_open(&low, &high),
                None => crate::kv::KeyRange {
                    start: Bound::Included(low.clone()),
                    end: Bound::Unbounded,
                },
            };
            for pair in snap.scan(&range, Direction::Forward)? {
                let (key, record) = pair?;
                let id = key
                    .get(table_prefix..table_prefix + 16)
                    .and_then(|b| Uuid::from_slice(b).ok())
                    .ok_or_else(|| Error::storage("corrupt vector key"))?;
                let Some(&i) = at.get(&id) else { continue };
                let rest = &key[table_prefix + 16..];
                let split = rest
                    .iter()
                    .position(|&b| b == 0)
                    .ok_or_else(|| Error::storage("corrupt vector key"))?;
                let field = String::from_utf8_lossy(&rest[..split]).into_owned();
                let provider = String::from_utf8_lossy(&rest[split + 1..]).into_owned();
                let text_sha = if embedded.contains(&field) {
                    super::row_text_sha(&run[i].row, &field)
                } else {
                    None
                };
                run[i].vectors.push(SnapshotVector {
                    field,
                    provider,
                    vector: crate::store::vectors::record_vector(&record)?,
                    text_sha,
                });
            }
        }
        Ok(())
    }

    /// Drops history no device needs (see [`Retention`]): log entries below the position of
    /// every device that pulled within `device_ttl_ms` and older than the newest
    /// `keep_entries`, then the tombstones below every device heard from within
    /// `tombstone_ttl_ms`, and the pull records of devices not heard from for that long.
    /// Devices behind the new log start load a snapshot on their next pull.
    pub fn compact(&self, retention: &Retention) -> Result<Compaction> {
        let now = now_millis();
        let seq = self.tenant.wal_seq()?;
        let first = self.tenant.wal_first()?;
        let mut log_start = seq
            .saturating_add(1)
            .saturating_sub(retention.keep_entries)
            .max(1);
        let mut tomb_before = log_start;
        let mut forgotten = Vec::new();
        let kv = self.tenant.store().kv();
        for pair in kv.scan(&self.tenant.keys().sync_kind(PULLED), Direction::Forward)? {
            let (key, raw) = pair?;
            let Some((since, at)) = pull_record(&raw) else {
                forgotten.push(key);
                continue;
            };
            let age = now.saturating_sub(at);
            if age <= retention.device_ttl_ms {
                log_start = log_start.min(since.saturating_add(1));
            }
            if age <= retention.tombstone_ttl_ms {
                tomb_before = tomb_before.min(since.saturating_add(1));
            } else {
                forgotten.push(key);
            }
        }
        let tomb_before = tomb_before.min(log_start);
        let mut done = Compaction {
            log_start: first.max(log_start),
            devices_forgotten: forgotten.len() as u64,
            ..Compaction::default()
        };
        if log_start > first {
            self.tenant.compact_wal(log_start)?;
            done.entries_removed = log_start - first;
        }
        // Tombstones: row clocks of rows that are gone, edge clocks of edges that are gone,
        // both decided before `tomb_before` (bounded batches, so a large hub never builds one
        // huge write).
        let mut dead = Vec::new();
        let snap = self.tenant.snapshot()?;
        let keys = self.tenant.keys();
        let kind_start = keys.sync_kind(ROW_CLOCKS);
        for pair in snap.scan(&kind_start, Direction::Forward)? {
            let (key, raw) = pair?;
            let clocks: RowClocks = match serde_json::from_slice(&raw) {
                Ok(c) => c,
                Err(_) => continue,
            };
            let Some((stamp, false)) = &clocks.exist else {
                continue;
            };
            if !clocks.ghost.is_empty() {
                continue; // writes waiting for a re-creation are not a tombstone
            }
            let newest = clocks
                .fields
                .values()
                .chain(clocks.floor.as_ref())
                .map(|s| s.seq)
                .chain([stamp.seq])
                .max()
                .unwrap_or(0);
            let id = crate::store::keys::trailing_id(&key)?;
            if newest < tomb_before && snap.get(&keys.dir(&id))?.is_none() {
                dead.push(key);
            }
        }
        for pair in snap.scan(&keys.sync_kind(EDGE_CLOCK), Direction::Forward)? {
            let (key, raw) = pair?;
            let Ok(stamp) = serde_json::from_slice::<Stamp>(&raw) else {
                continue;
            };
            if stamp.seq >= tomb_before {
                continue;
            }
            let rest = &key[keys.sync(EDGE_CLOCK, &[]).len()..];
            let gone = match edge_clock_key(rest) {
                Some((src, rel, dst)) => snap.get(&keys.edge(true, &src, rel, &dst))?.is_none(),
                None => false,
            };
            if gone {
                dead.push(key);
            }
        }
        drop(snap);
        done.tombstones_removed = dead.len() as u64;
        let mut doomed = dead;
        doomed.extend(forgotten);
        for batch in doomed.chunks(10_000) {
            self.tenant.write(|tx| {
                for key in batch {
                    tx.kv_delete(key.clone());
                }
                Ok(())
            })?;
        }
        Ok(done)
    }

    /// Merges one push. Ops at or below the device's acknowledged sequence are duplicates and
    /// skipped; an op the hub cannot take is rejected (listed, with its reason) without
    /// stopping the others; the whole push is one atomic write.
    pub fn push(&self, rights: Rights, request: &PushRequest) -> Result<PushResponse> {
        check_device(&request.device)?;
        if request.ops.len() > MAX_PUSH_OPS {
            return Err(Error::Limit(format!(
                "{} ops in one push; at most {MAX_PUSH_OPS} are taken at once",
                request.ops.len()
            )));
        }
        for pair in request.ops.windows(2) {
            if pair[1].entry.seq <= pair[0].entry.seq {
                return Err(Error::InvalidArgument(format!(
                    "ops must be in increasing seq order: {} follows {}",
                    pair[1].entry.seq, pair[0].entry.seq
                )));
            }
        }
        let hub_ms = now_millis();
        // Ops stamped too far ahead of the hub's clock are not taken: the device re-stamps them.
        let ahead = request.ops.iter().position(|op| {
            op.entry
                .hlc
                .is_some_and(|h| h.millis() > hub_ms + MAX_CLOCK_AHEAD_MS)
        });
        let ops = &request.ops[..ahead.unwrap_or(request.ops.len())];
        let mut refused: BTreeMap<u64, Error> = BTreeMap::new();
        loop {
            let failed: RefCell<Option<(u64, Error)>> = RefCell::new(None);
            let outcome = self.tenant.write(|tx| {
                let mut out = Merged::default();
                let device_key = tx.keys().sync(DEVICE, request.device.as_bytes());
                let mut acked = match tx.kv_get(&device_key)? {
                    Some(v) => crate::store::keys::decode_u64(&v)?,
                    None => 0,
                };
                // What the merges will read, in one round trip where reads cost one each.
                let mut wanted = Vec::new();
                for op in ops.iter().filter(|op| op.entry.seq > acked) {
                    let id = op.entry.id.as_deref().and_then(|id| parse_id(id).ok());
                    if let (Some(Touched::Row { table, .. }), Some(id)) = (touched(&op.entry), id) {
                        wanted.push(tx.keys().row(&table, &id));
                        wanted.push(tx.keys().dir(&id));
                        wanted.push(row_clocks_key(tx, &id));
                    }
                }
                tx.snapshot().prefetch(&wanted)?;
                for op in ops {
                    let seq = op.entry.seq;
                    // Duplicates too: the device may have lost the answer that carried these.
                    if let Some(t) = touched(&op.entry) {
                        out.touched.insert(t);
                    }
                    if seq <= acked {
                        continue;
                    }
                    acked = seq;
                    if let Some(e) = refused.get(&seq) {
                        out.rejected.push(rejection(op, e));
                        continue;
                    }
                    if let Err(e) = merge_op(tx, rights, &request.device, op, &mut out.conflicts) {
                        if matches!(e, Error::Storage(_)) {
                            return Err(e);
                        }
                        *failed.borrow_mut() = Some((seq, e));
                        return Err(Error::Sync(
                            "op refused; retrying the push without it".into(),
                        ));
                    }
                }
                tx.kv_put(device_key, acked.to_be_bytes().to_vec());
                out.acked = acked;
                Ok(out)
            });
            match (outcome, failed.into_inner()) {
                (Ok(merged), _) => {
                    let g = self.tenant.graph_snapshot()?;
                    let wanted: Vec<Vec<u8>> = merged
                        .touched
                        .iter()
                        .filter_map(|t| self.state_key(t))
                        .collect();
                    g.kv().prefetch(&wanted)?;
                    let resets = merged
                        .touched
                        .iter()
                        .map(|t| self.reset(&g, t))
                        .collect::<Result<Vec<_>>>()?;
                    return Ok(PushResponse {
                        acked: merged.acked,
                        hub_seq: self.tenant.wal_seq()?,
                        hub_ms,
                        rejected: merged.rejected,
                        conflicts: merged.conflicts,
                        resets,
                        clock_ahead: ahead.is_some(),
                    });
                }
                (Err(_), Some((seq, e))) => {
                    refused.insert(seq, e);
                }
                (Err(e), None) => return Err(e),
            }
        }
    }

    /// The hub's current state of what an op touched.
    /// The stored key of a row or an edge an op touched.
    fn state_key(&self, touched: &Touched) -> Option<Vec<u8>> {
        let keys = self.tenant.keys();
        match touched {
            Touched::Row { table, id } => Some(keys.row(table, &parse_id(id).ok()?)),
            Touched::Edge { src, rel, dst } => {
                let (src, dst) = (parse_id(src).ok()?, parse_id(dst).ok()?);
                check_rel(rel).ok()?;
                Some(keys.edge(true, &src, rel, &dst))
            }
        }
    }

    /// The hub's state of what an op touched, read from `g` (one snapshot for a whole push).
    fn reset(&self, g: &GraphSnapshot<'_>, touched: &Touched) -> Result<Reset> {
        Ok(match touched {
            Touched::Row { table, id } => {
                let uuid = parse_id(id).ok();
                let row = match uuid {
                    Some(uuid) => crate::store::read_row(g.kv(), self.tenant.keys(), table, &uuid)?
                        .map(|(row, _)| row),
                    None => None,
                };
                let mut edges = Vec::new();
                if let (Some(uuid), Some(_)) = (uuid, &row) {
                    g.for_each_edge(&uuid, EdgeDirection::Both, &[], |step| {
                        let rel = rel_string(step.rel)?;
                        let (src, dst) = if step.out {
                            (uuid, step.other)
                        } else {
                            (step.other, uuid)
                        };
                        let edge = decode_edge(src, rel, dst, step.value)?;
                        edges.push(serde_json::to_value(edge).map_err(Error::storage)?);
                        Ok(true)
                    })?;
                }
                Reset::Row {
                    table: table.clone(),
                    id: id.clone(),
                    row,
                    edges,
                }
            }
            Touched::Edge { src, rel, dst } => {
                let edge = match (parse_id(src), parse_id(dst), check_rel(rel)) {
                    (Ok(s), Ok(d), Ok(())) => g.edge(&s, rel, &d)?,
                    _ => None,
                };
                Reset::Edge {
                    src: src.clone(),
                    rel: rel.clone(),
                    dst: dst.clone(),
                    edge: edge.map(|e| serde_json::to_value(e).unwrap_or(Value::Null)),
                }
            }
        })
    }
}

#[derive(Default)]
struct Merged {
    acked: u64,
    rejected: Vec<Rejected>,
    conflicts: Vec<Conflict>,
    touched: std::collections::BTreeSet<Touched>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Touched {
    Row {
        table: String,
        id: String,
    },
    Edge {
        src: String,
        rel: String,
        dst: String,
    },
}

fn touched(entry: &crate::store::WalEntry) -> Option<Touched> {
    match entry.op {
        WalOp::Link | WalOp::Unlink => {
            let text = |k: &str| {
                entry
                    .data
                    .as_ref()
                    .and_then(|d| d.get(k))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            };
            Some(Touched::Edge {
                src: text("src")?,
                rel: text("rel")?,
                dst: text("dst")?,
            })
        }
        WalOp::Insert | WalOp::Update | WalOp::Delete | WalOp::Purge => Some(Touched::Row {
            table: entry.table.clone(),
            id: entry.id.clone()?,
        }),
        WalOp::Schema | WalOp::Vector => None,
    }
}

/// A device's pull record: `(since, at ms)`.
fn pull_record(raw: &[u8]) -> Option<(u64, u64)> {
    let since = u64::from_be_bytes(raw.get(..8)?.try_into().ok()?);
    let at = u64::from_be_bytes(raw.get(8..16)?.try_into().ok()?);
    Some((since, at))
}

/// The edge an edge clock's key names: `<src:16><rel>\0<dst:16>`.
fn edge_clock_key(rest: &[u8]) -> Option<(Uuid, &str, Uuid)> {
    if rest.len() < 33 {
        return None;
    }
    let src = Uuid::from_slice(&rest[..16]).ok()?;
    let dst = Uuid::from_slice(&rest[rest.len() - 16..]).ok()?;
    let rel = std::str::from_utf8(&rest[16..rest.len() - 17]).ok()?;
    Some((src, rel, dst))
}

fn rejection(op: &SyncOp, e: &Error) -> Rejected {
    Rejected {
        seq: op.entry.seq,
        op: op.entry.op,
        table: op.entry.table.clone(),
        id: op.entry.id.clone(),
        code: e.code().to_string(),
        reason: e.to_string(),
    }
}

/// A device id: 1–64 characters of letters, digits, `-` and `_`.
pub(crate) fn check_device(device: &str) -> Result<()> {
    if device.is_empty()
        || device.len() > 64
        || !device
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(Error::InvalidArgument(format!(
            "device id must be 1–64 letters, digits, `-` or `_`, got {:?}",
            crate::store::quote(device)
        )));
    }
    Ok(())
}

/// Merges one op into the hub tenant; an error refuses the op (the push goes on without it).
fn merge_op(
    tx: &mut WriteTx<'_>,
    rights: Rights,
    device: &str,
    op: &SyncOp,
    conflicts: &mut Vec<Conflict>,
) -> Result<()> {
    let entry = &op.entry;
    if entry.op == WalOp::Schema {
        return merge_schema(tx, rights, entry);
    }
    if !rights.write {
        return Err(Error::InvalidArgument(
            "this token is read-only: it cannot push changes".into(),
        ));
    }
    let hlc = entry.hlc.ok_or_else(|| {
        Error::InvalidArgument(format!(
            "op {} carries no clock (`hlc`); push changes written by a remdb with sync",
            entry.seq
        ))
    })?;
    tx.observe_hlc(hlc);
    let stamp = Stamp {
        hlc,
        device: device.to_string(),
        seq: tx.seq() + 1,
    };
    match entry.op {
        WalOp::Vector => merge_vector(tx, entry),
        WalOp::Link | WalOp::Unlink => merge_edge(tx, entry, stamp),
        WalOp::Purge => merge_purge(tx, entry, stamp),
        _ => merge_row(tx, entry, op.seen, stamp, conflicts),
    }
}

/// A vector pushed with its row: the hub keeps it while its row still has the text it embeds
/// (a vector of text changed since, or of a row that is gone, is superseded: dropped without a
/// rejection). Caller-supplied vectors (no text fingerprint) follow their row as they are.
fn merge_vector(tx: &mut WriteTx<'_>, entry: &crate::store::WalEntry) -> Result<()> {
    let (index, id, vector, sha) = super::vector_entry(entry)?;
    let Some(row) = tx.row(&index.table, &id)? else {
        return Ok(());
    };
    if sha.is_some() && super::row_text_sha(&row, &index.field) != sha {
        return Ok(());
    }
    let ts = tx.now_string();
    tx.put_vector(&index, id, &vector, &ts, sha.as_deref())
}

fn merge_schema(
    tx: &mut WriteTx<'_>,
    rights: Rights,
    entry: &crate::store::WalEntry,
) -> Result<()> {
    let data = entry
        .data
        .clone()
        .ok_or_else(|| Error::InvalidArgument("schema op without data".into()))?;
    let stored: StoredSchema = serde_json::from_value(data)
        .map_err(|e| Error::InvalidArgument(format!("schema op: {e}")))?;
    if super::schema_unchanged(tx, &stored)? {
        return Ok(());
    }
    if crate::store::BUILTIN_TABLES.contains(&stored.name.as_str())
        && crate::store::is_builtin_schema(&stored.name, &stored.schema)
    {
        // A built-in table every device creates the same way: the hub creates it too.
        tx.put_schema(stored, &tx.now_string())?;
        return Ok(());
    }
    if !rights.schemas {
        return Err(Error::InvalidArgument(format!(
            "this token may not change schemas (table `{}`); push schemas with an admin token",
            stored.name
        )));
    }
    let ts = tx.now_string();
    tx.put_schema(stored, &ts)?;
    Ok(())
}

fn row_clocks_key(tx: &WriteTx<'_>, id: &Uuid) -> Vec<u8> {
    tx.keys().sync(ROW_CLOCKS, id.as_bytes())
}

fn load_clocks(tx: &WriteTx<'_>, id: &Uuid) -> Result<RowClocks> {
    match tx.kv_get(&row_clocks_key(tx, id))? {
        Some(raw) => serde_json::from_slice(&raw)
            .map_err(|e| Error::storage(format!("corrupt row clocks of {id}: {e}"))),
        None => Ok(RowClocks::default()),
    }
}

fn store_clocks(tx: &mut WriteTx<'_>, id: &Uuid, clocks: &RowClocks) -> Result<()> {
    let raw = serde_json::to_vec(clocks).map_err(Error::storage)?;
    let key = row_clocks_key(tx, id);
    tx.kv_put(key, raw);
    Ok(())
}

fn merge_purge(tx: &mut WriteTx<'_>, entry: &crate::store::WalEntry, stamp: Stamp) -> Result<()> {
    let id = parse_id(entry.id.as_deref().unwrap_or_default())?;
    let mut clocks = load_clocks(tx, &id)?;
    let table = tx.table_of(&id)?;
    if let Some(table) = &table {
        if *table != entry.table {
            return Err(Error::InvalidArgument(format!(
                "row {id} is in table `{table}`, not `{}`",
                entry.table
            )));
        }
    }
    if clocks.floor.as_ref().is_none_or(|f| stamp.beats(f)) {
        clocks.floor = Some(stamp.clone());
    }
    let floor = clocks.floor.clone();
    let older = |c: &Stamp| floor.as_ref().is_some_and(|f| !c.beats(f));
    let gone: Vec<String> = clocks
        .fields
        .iter()
        .filter(|(_, c)| older(c))
        .map(|(f, _)| f.clone())
        .collect();
    for f in &gone {
        clocks.fields.remove(f);
        clocks.ghost.remove(f);
    }
    let ts = tx.now_string();
    if clocks.exist.as_ref().is_none_or(|(c, _)| stamp.beats(c)) {
        clocks.exist = Some((stamp, false));
        if let Some(table) = &table {
            // Fields written later than the purge outlive the row, for a re-creation.
            if let Some(row) = tx.row(table, &id)? {
                for (field, value) in user_fields(&row) {
                    if clocks.fields.contains_key(&field) {
                        clocks.ghost.insert(field, value);
                    }
                }
            }
            tx.purge_row(table, id, &ts)?;
        }
    } else if let Some(table) = &table {
        // A later create keeps the row; what was written before the purge is still gone.
        if let Some(mut row) = tx.row(table, &id)? {
            let before = row.clone();
            for f in &gone {
                row.remove(f);
            }
            let schema = tx.schema(table)?;
            if row != before && schema.validate(&Value::Object(user_fields(&row))).is_ok() {
                let op = if is_deleted(&row) {
                    WalOp::Delete
                } else {
                    WalOp::Update
                };
                tx.put_row(op, table, id, row, &ts)?;
            }
        }
    }
    store_clocks(tx, &id, &clocks)
}

fn merge_edge(tx: &mut WriteTx<'_>, entry: &crate::store::WalEntry, stamp: Stamp) -> Result<()> {
    let data = entry
        .data
        .as_ref()
        .ok_or_else(|| Error::InvalidArgument("edge op without data".into()))?;
    let key = EdgeKey::from_json(data)?;
    crate::store::check_rel(&key.rel)?;
    let clock_key = tx.keys().sync(
        EDGE_CLOCK,
        &[
            key.src.as_bytes().as_slice(),
            key.rel.as_bytes(),
            &[0],
            key.dst.as_bytes(),
        ]
        .concat(),
    );
    let clock: Option<Stamp> = match tx.kv_get(&clock_key)? {
        Some(raw) => Some(
            serde_json::from_slice(&raw)
                .map_err(|e| Error::storage(format!("corrupt edge clock: {e}")))?,
        ),
        None => None,
    };
    if clock.as_ref().is_some_and(|c| !stamp.beats(c)) {
        return Ok(()); // a later link or unlink decided this edge
    }
    let exists = tx.edge_value(&key)?.is_some();
    let ts = tx.now_string();
    if entry.op == WalOp::Link {
        let mut edge = Edge::from_json(data)?;
        crate::store::check_object_depth(
            &edge.properties,
            format_args!("properties of edge `{}`", edge.rel),
        )?;
        for end in [edge.src, edge.dst] {
            if !tx.is_live(&end)? {
                return Err(Error::NotFound(format!(
                    "edge endpoint {end} is not a live entity on the hub"
                )));
            }
        }
        if parse_ts(&edge.created_at).is_none() || parse_ts(&edge.modified_at).is_none() {
            edge.created_at = ts.clone();
            edge.modified_at = ts.clone();
        }
        tx.put_edge(&edge, &ts)?;
    } else if exists {
        tx.remove_edge(&key, &ts)?;
    }
    let raw = serde_json::to_vec(&stamp).map_err(Error::storage)?;
    tx.kv_put(clock_key, raw);
    Ok(())
}

/// Insert, update, soft delete or undelete: field by field.
fn merge_row(
    tx: &mut WriteTx<'_>,
    entry: &crate::store::WalEntry,
    seen: u64,
    stamp: Stamp,
    conflicts: &mut Vec<Conflict>,
) -> Result<()> {
    let id = parse_id(entry.id.as_deref().unwrap_or_default())?;
    let table = entry.table.as_str();
    let schema = tx.schema(table)?;
    let pushed: Row = match &entry.data {
        Some(Value::Object(row)) => row.clone(),
        _ => {
            return Err(Error::InvalidArgument(
                "row op without an object after-image".into(),
            ))
        }
    };
    if pushed.get("id").and_then(Value::as_str) != Some(id.to_string().as_str()) {
        return Err(Error::InvalidArgument(
            "after-image id does not match the op's id".into(),
        ));
    }
    check_system_fields(&pushed).map_err(Error::InvalidArgument)?;
    let old = tx.row(table, &id)?;
    if old.is_none() {
        if let Some(other) = tx.table_of(&id)? {
            return Err(Error::InvalidArgument(format!(
                "id {id} belongs to table `{other}` on the hub"
            )));
        }
    }
    let mut clocks = load_clocks(tx, &id)?;
    let pushed_user = user_fields(&pushed);
    // Which fields the op wrote, and whether it decided existence.
    let (fields, exist): (Vec<String>, Option<bool>) = match entry.op {
        WalOp::Insert => (pushed_user.keys().cloned().collect(), Some(true)),
        _ => {
            let listed = match &entry.fields {
                Some(f) => f.clone(),
                None => {
                    // A log without field lists: every field either side has.
                    let mut all: Vec<String> = pushed_user.keys().cloned().collect();
                    if let Some(old) = &old {
                        all.extend(user_fields(old).keys().cloned());
                    }
                    all.push("deleted_at".into());
                    all
                }
            };
            let exist = if entry.op == WalOp::Delete {
                Some(false)
            } else if listed.iter().any(|f| f == "deleted_at") {
                Some(!is_deleted(&pushed))
            } else {
                None
            };
            let mut fields: Vec<String> = listed
                .into_iter()
                .filter(|f| !crate::store::SYSTEM_FIELDS.contains(&f.as_str()))
                .collect();
            if exist == Some(true) {
                // An undelete is an upsert: it writes the whole row it brings back.
                fields.extend(
                    pushed_user
                        .keys()
                        .filter(|k| !fields.contains(k))
                        .cloned()
                        .collect::<Vec<_>>(),
                );
            }
            (fields, exist)
        }
    };
    let row_lww = schema.info.merge == crate::store::MergePolicy::RowLww;
    let mut fields = fields;
    if row_lww && entry.op != WalOp::Delete {
        // The op's after-image is one write of the whole row: every field either side has.
        let known = old
            .as_ref()
            .map(|o| user_fields(o).keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default();
        for f in pushed_user.keys().chain(&known).chain(clocks.fields.keys()) {
            if !fields.contains(f) {
                fields.push(f.clone());
            }
        }
    }
    // Row-LWW: the op wins every field or none, by the row's newest clock.
    let beats_row = clocks
        .fields
        .values()
        .all(|c| c == &stamp || stamp.beats(c));
    let mut live = old.as_ref().map(|o| !is_deleted(o));
    match exist {
        Some(want) if clocks.exist.as_ref().is_none_or(|(c, _)| stamp.beats(c)) => {
            live = Some(want);
            clocks.exist = Some((stamp.clone(), want));
        }
        _ => {}
    }
    let ghost = old.is_none() && live != Some(true);
    if ghost && clocks.exist.is_none() {
        return Err(Error::NotFound(format!(
            "no row {id} in `{table}` on the hub (its insert never reached it or was refused)"
        )));
    }
    let above_floor = clocks.floor.as_ref().is_none_or(|f| stamp.beats(f));
    if ghost {
        // Purged here: later field writes wait in the clocks for a re-creation.
        if above_floor {
            for field in &fields {
                let wins = if row_lww {
                    beats_row
                } else {
                    clocks.fields.get(field).is_none_or(|c| stamp.beats(c))
                };
                if wins {
                    match pushed_user.get(field) {
                        Some(v) => clocks.ghost.insert(field.clone(), v.clone()),
                        None => clocks.ghost.remove(field),
                    };
                    clocks.fields.insert(field.clone(), stamp.clone());
                }
            }
        }
        return store_clocks(tx, &id, &clocks);
    }
    let old_user = match &old {
        Some(o) => user_fields(o),
        None => std::mem::take(&mut clocks.ghost),
    };
    let mut user = old_user.clone();
    for field in &fields {
        let current = clocks.fields.get(field);
        let wins = above_floor
            && if row_lww {
                beats_row
            } else {
                current.is_none_or(|c| stamp.beats(c))
            };
        // Concurrent: another device wrote the field after this device last pulled.
        let rival = current.filter(|c| c.device != stamp.device && c.seq > seen);
        if let Some(rival) = rival {
            let (ours, theirs) = (pushed_user.get(field), old_user.get(field));
            if ours != theirs {
                let (winner, loser) = if wins { (ours, theirs) } else { (theirs, ours) };
                let (winner_device, loser_device) = if wins {
                    (&stamp.device, &rival.device)
                } else {
                    (&rival.device, &stamp.device)
                };
                conflicts.push(Conflict {
                    table: table.to_string(),
                    id: id.to_string(),
                    field: field.clone(),
                    winner: winner.cloned(),
                    loser: loser.cloned(),
                    winner_device: winner_device.clone(),
                    loser_device: loser_device.clone(),
                    hub_seq: stamp.seq,
                });
            }
        }
        if wins {
            match pushed_user.get(field) {
                Some(v) => user.insert(field.clone(), v.clone()),
                None => user.remove(field),
            };
            clocks.fields.insert(field.clone(), stamp.clone());
        }
    }
    // An op written under another version of the table's schema is carried forward to the
    // hub's: fields the hub's schema added with a `default` take it where the merged row has
    // no value (without a clock, so any real write of them wins).
    let migrate = entry.schema_sha.as_deref() != Some(schema.sha.as_str());
    let mut pushed_user = pushed_user;
    if migrate {
        schema.fill_defaults(&mut user);
        schema.fill_defaults(&mut pushed_user);
    }
    let valid = |tx: &mut WriteTx<'_>, user: &Row| -> Result<()> {
        if user.contains_key("edges") {
            return Err(Error::InvalidArgument(
                "`edges` in inserted data becomes edges and is never stored in a row".into(),
            ));
        }
        crate::store::check_object_depth(user, format_args!("a row of `{table}`"))?;
        schema.validate(&Value::Object(user.clone()))?;
        check_row_id(tx, &schema.info, user, id).map_err(Error::InvalidArgument)
    };
    if let Err(merged_error) = valid(tx, &user) {
        // Row-level last writer wins when the merged fields break the schema together.
        let newest = clocks
            .fields
            .values()
            .all(|c| c == &stamp || stamp.beats(c));
        if entry.op == WalOp::Delete || !newest || valid(tx, &pushed_user).is_err() {
            return Err(match (merged_error, &entry.schema_sha) {
                (Error::Validation { table, mut issues }, Some(sha)) if migrate => {
                    issues.push(crate::error::ValidationIssue {
                        pointer: String::new(),
                        reason: format!(
                            "the op was written under version {} of the schema of `{table}` and \
                             the hub's is {}: the change between them is not additive (a \
                             required field without a default, a removed field or a narrower \
                             type), so the op cannot be carried forward",
                            crate::store::quote(sha),
                            schema.sha
                        ),
                    });
                    Error::Validation { table, issues }
                }
                (e, _) => e,
            });
        }
        conflicts.push(Conflict {
            table: table.to_string(),
            id: id.to_string(),
            field: "*".into(),
            winner: Some(Value::Object(pushed_user.clone())),
            loser: Some(Value::Object(user.clone())),
            winner_device: stamp.device.clone(),
            loser_device: String::new(),
            hub_seq: stamp.seq,
        });
        for field in user.keys().chain(pushed_user.keys()) {
            clocks.fields.insert(field.clone(), stamp.clone());
        }
        user = pushed_user.clone();
    }
    let ts = tx.now_string();
    let mut row = user;
    row.insert("id".into(), Value::String(id.to_string()));
    let created = old
        .as_ref()
        .and_then(|o| o.get("created_at").cloned())
        .or_else(|| pushed.get("created_at").cloned())
        .unwrap_or_else(|| Value::String(ts.clone()));
    row.insert("created_at".into(), created.clone());
    let time = |v: Option<&Value>| v.and_then(Value::as_str).and_then(parse_ts);
    let modified = [
        old.as_ref().and_then(|o| o.get("modified_at")),
        pushed.get("modified_at"),
        Some(&created),
    ]
    .into_iter()
    .flatten()
    .max_by_key(|v| time(Some(v)))
    .cloned()
    .unwrap_or(created);
    row.insert("modified_at".into(), modified);
    let deleted_at = if live == Some(true) {
        Value::Null
    } else {
        old.as_ref()
            .and_then(|o| o.get("deleted_at"))
            .filter(|v| !v.is_null())
            .or_else(|| pushed.get("deleted_at").filter(|v| !v.is_null()))
            .cloned()
            .unwrap_or(Value::String(ts.clone()))
    };
    row.insert("deleted_at".into(), deleted_at);
    if old.as_ref() != Some(&row) {
        let op = match (&old, live) {
            (None, _) => WalOp::Insert,
            (Some(_), Some(false)) => WalOp::Delete,
            _ => WalOp::Update,
        };
        tx.put_row(op, table, id, row, &ts)?;
    }
    store_clocks(tx, &id, &clocks)
}
