//! The device side: the outbox is the tenant's own WAL (local entries after the push cursor);
//! pulled hub entries are applied as the rows' new state, with the device's still-unpushed
//! changes laid over them again, and the pull checkpoint is stored in the same write.

use std::collections::HashMap;

use serde_json::Value;
use uuid::Uuid;

use std::collections::HashSet;
use std::ops::Bound;

use serde::{Deserialize, Serialize};

use super::protocol::{
    Conflict, PullPlan, PullResponse, PushRequest, PushResponse, Rejected, Reset, SnapshotCursor,
    SnapshotPage, SyncOp, MAX_CLOCK_AHEAD_MS, MAX_PUSH_OPS,
};
use super::{HubConnection, PushPlan, SyncReport, SyncStatus};
use crate::error::{Error, Result};
use crate::kv::{Direction, KvSnapshot};
use crate::store::clock::{now_millis, Hlc};
use crate::store::edges::{Edge, EdgeKey};
use crate::store::entity::{user_fields, SYSTEM_FIELDS};
use crate::store::keys::Keys;
use crate::store::schema::CompiledSchema;
use crate::store::schema::StoredSchema;
use crate::store::write::{Prior, WriteTx};
use crate::store::{is_deleted, parse_id, Row, TenantStore, WalEntry, WalOp};

const META_DEVICE: &str = "sync_device";
const META_PUSHED: &str = "sync_pushed";
const META_SEEN: &str = "sync_seen";
const META_PULLED: &str = "sync_pulled";
const META_OFFSET: &str = "sync_offset_ms";
const META_LAST_HLC: &str = "sync_last_hlc";
const META_CONFLICTS: &str = "sync_conflicts";
const META_SNAPSHOT: &str = "sync_snapshot";
/// Sync key kinds the device keeps.
const REJECTED: u8 = b'r';
const CONFLICT: u8 = b'c';

/// Most unpushed local changes a pull lays over pulled rows; a device further behind pushes
/// first (a sync round always does).
const MAX_PENDING: usize = 100_000;

/// Most pushes or pulls of one round (each at most [`MAX_PUSH_OPS`] or
/// [`MAX_PULL_ENTRIES`](super::protocol::MAX_PULL_ENTRIES)).
const MAX_ROUND_TRIPS: usize = 10_000;

/// `hub` marks a local entry as applying a reset the hub sent with a push answer.
const RESET_ORIGIN: u64 = 0;

/// A snapshot being loaded (kept in the tenant's meta space until the last page is taken).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Loading {
    /// The hub's position when the first page was read: the log is pulled after it.
    seq: u64,
    /// Where the next page starts (`None` before the first page).
    next: Option<String>,
    /// The hub's tables, from the first page: their rows are what the pages replace.
    tables: Vec<String>,
}

impl TenantStore {
    fn meta_i64(&self, name: &str) -> Result<i64> {
        Ok(self.meta_u64(name)? as i64)
    }

    /// This device's id, chosen at its first sync and kept.
    pub(crate) fn sync_device(&self) -> Result<String> {
        if let Some(raw) = self.store().kv().get(&self.keys().meta(META_DEVICE))? {
            return String::from_utf8(raw).map_err(|_| Error::storage("corrupt sync device id"));
        }
        self.write(|tx| {
            let key = tx.keys().meta(META_DEVICE);
            if let Some(raw) = tx.kv_get(&key)? {
                return String::from_utf8(raw)
                    .map_err(|_| Error::storage("corrupt sync device id"));
            }
            let id = Uuid::new_v4().simple().to_string();
            tx.kv_put(key, id.clone().into_bytes());
            Ok(id)
        })
    }

    /// Where this device stands.
    pub(crate) fn sync_status(&self) -> Result<SyncStatus> {
        let pushed = self.meta_u64(META_PUSHED)?;
        let outbox = self.outbox_len(pushed)?;
        Ok(SyncStatus {
            device: self
                .store()
                .kv()
                .get(&self.keys().meta(META_DEVICE))?
                .and_then(|raw| String::from_utf8(raw).ok()),
            pushed,
            pulled: self.meta_u64(META_PULLED)?,
            outbox,
            rejected: self.sync_list::<Rejected>(REJECTED)?.len() as u64,
            conflicts: self.sync_list::<Conflict>(CONFLICT)?.len() as u64,
        })
    }

    /// Ops the hub refused, oldest first.
    pub(crate) fn sync_rejected(&self) -> Result<Vec<Rejected>> {
        self.sync_list(REJECTED)
    }

    /// Concurrent writes this device took part in, oldest first.
    pub(crate) fn sync_conflicts(&self) -> Result<Vec<Conflict>> {
        self.sync_list(CONFLICT)
    }

    fn sync_list<T: serde::de::DeserializeOwned>(&self, kind: u8) -> Result<Vec<T>> {
        self.store()
            .kv()
            .scan(&self.keys().sync_kind(kind), Direction::Forward)?
            .map(|pair| {
                let (_, v) = pair?;
                serde_json::from_slice(&v)
                    .map_err(|e| Error::storage(format!("corrupt sync record: {e}")))
            })
            .collect()
    }

    /// Local changes after `pushed` (at most `limit`), with
    /// the hub position each was written at, the last local position scanned and the seen
    /// position there.
    fn outbox(&self, pushed: u64, seen: u64, limit: usize) -> Result<(Vec<SyncOp>, u64, u64)> {
        let snapshot = self.store().kv().snapshot()?;
        scan_outbox(&*snapshot, self.keys(), pushed, seen, limit)
    }

    /// How many local changes after `pushed` wait to be pushed: reads only each entry's `hub`
    /// (the rest of the JSON is skipped, and nothing is kept).
    fn outbox_len(&self, pushed: u64) -> Result<u64> {
        #[derive(serde::Deserialize)]
        struct Head {
            #[serde(default)]
            hub: Option<u64>,
        }
        let mut n = 0;
        for pair in self
            .store()
            .kv()
            .scan(&self.keys().wal_from(pushed + 1), Direction::Forward)?
        {
            let (_, raw) = pair?;
            let head: Head = serde_json::from_slice(&raw)
                .map_err(|e| Error::storage(format!("corrupt WAL entry: {e}")))?;
            if head.hub.is_none() {
                n += 1;
            }
        }
        Ok(n)
    }

    /// One sync round with `hub`: push the whole outbox, then pull until caught up.
    pub(crate) fn sync_round(&self, hub: &dyn HubConnection) -> Result<SyncReport> {
        let mut report = SyncReport::default();
        for trip in 0.. {
            if trip >= MAX_ROUND_TRIPS {
                return Err(Error::Sync(
                    "the hub keeps asking for more pushes; giving up this round".into(),
                ));
            }
            let Some(plan) = self.next_push()? else { break };
            let answer = hub.push(&plan.request)?;
            let taken = self.take_push(&plan, &answer)?;
            report.pushed += taken;
            report.rejected += answer.rejected.len() as u64;
            report.conflicts += answer.conflicts.len() as u64;
        }
        for trip in 0.. {
            if trip >= MAX_ROUND_TRIPS {
                return Err(Error::Sync(
                    "the hub's log did not end; giving up this round".into(),
                ));
            }
            let plan = self.next_pull()?;
            if plan.snapshot {
                let page = hub.snapshot(&plan)?;
                report.hub_seq = page.hub_seq;
                report.loaded += self.take_snapshot(plan.after.as_deref(), &page)?.0;
                continue;
            }
            let answer = hub.pull(&plan)?;
            report.hub_seq = answer.hub_seq;
            let (pulled, caught_up) = self.take_pull(plan.since, &answer)?;
            report.pulled += pulled;
            if caught_up {
                break;
            }
        }
        Ok(report)
    }

    /// The next push of the outbox (at most [`MAX_PUSH_OPS`] ops, clocks re-stamped where the
    /// hub would refuse them), or `None` when everything local has been pushed.
    pub(crate) fn next_push(&self) -> Result<Option<PushPlan>> {
        let device = self.sync_device()?;
        let pushed = self.meta_u64(META_PUSHED)?;
        let (mut ops, scanned, seen_at) =
            self.outbox(pushed, self.meta_u64(META_SEEN)?, MAX_PUSH_OPS)?;
        if ops.is_empty() {
            if scanned > pushed {
                // Only pulled entries since the cursor: move past them.
                self.write(|tx| {
                    tx.kv_put(tx.keys().meta(META_PUSHED), scanned.to_be_bytes().to_vec());
                    tx.kv_put(tx.keys().meta(META_SEEN), seen_at.to_be_bytes().to_vec());
                    Ok(())
                })?;
            }
            return Ok(None);
        }
        self.restamp(&mut ops)?;
        Ok(Some(PushPlan {
            request: PushRequest { device, ops },
            pushed,
            scanned,
            seen_at,
        }))
    }

    /// Takes the hub's answer to `plan`'s push: moves the outbox cursor past what the hub took
    /// and stores its rejections, conflicts and resets; returns how many ops it took. An
    /// answer that cannot belong to the push is a `SYNC` error and changes nothing.
    pub(crate) fn take_push(&self, plan: &PushPlan, answer: &PushResponse) -> Result<u64> {
        let ops = &plan.request.ops;
        let (Some(first), Some(last)) = (ops.first(), ops.last()) else {
            return Ok(0);
        };
        let (first, last) = (first.entry.seq, last.entry.seq);
        if self.meta_u64(META_PUSHED)? != plan.pushed {
            return Err(Error::Sync(
                "this push was already taken (the outbox moved since it was planned)".into(),
            ));
        }
        if answer.acked > last || (answer.acked < last && !answer.clock_ahead) {
            return Err(Error::Sync(format!(
                "the hub acknowledged seq {} of a push of seqs {first}..={last}",
                answer.acked
            )));
        }
        let cursor = if answer.acked >= last {
            (plan.scanned, plan.seen_at)
        } else {
            let seen = ops
                .iter()
                .rev()
                .find(|op| op.entry.seq <= answer.acked)
                .map_or(self.meta_u64(META_SEEN)?, |op| op.seen);
            (answer.acked.max(plan.pushed), seen)
        };
        let taken: Vec<&SyncOp> = ops
            .iter()
            .filter(|op| op.entry.seq <= answer.acked)
            .collect();
        let pushed_hlc = taken
            .iter()
            .filter_map(|op| op.entry.hlc)
            .max()
            .unwrap_or_default();
        self.acknowledge(answer, cursor, pushed_hlc)?;
        Ok(taken.len() as u64)
    }

    /// The hub position to pull after.
    pub(crate) fn pull_since(&self) -> Result<u64> {
        self.meta_u64(META_PULLED)
    }

    /// What to ask the hub for next while pulling: the log after the checkpoint, or the next
    /// page of a snapshot being loaded.
    pub(crate) fn next_pull(&self) -> Result<PullPlan> {
        let device = self.sync_device()?;
        let since = self.meta_u64(META_PULLED)?;
        Ok(match self.loading()? {
            Some(loading) => PullPlan::snapshot(device, since, loading.next),
            None => PullPlan::log(device, since),
        })
    }

    fn loading(&self) -> Result<Option<Loading>> {
        match self.store().kv().get(&self.keys().meta(META_SNAPSHOT))? {
            Some(raw) => serde_json::from_slice(&raw)
                .map(Some)
                .map_err(|e| Error::storage(format!("corrupt snapshot state: {e}"))),
            None => Ok(None),
        }
    }

    /// Takes one snapshot page asked after `after`: its rows and edges replace this device's
    /// in the page's key range (rows and edges there that the hub does not have are removed;
    /// unpushed local changes are laid over), in one write with the load's progress. After the
    /// last page the pull checkpoint becomes the first page's hub position. Returns `(rows and
    /// edges taken, done)`. A page that does not continue the load is a `SYNC` error and
    /// changes nothing.
    pub(crate) fn take_snapshot(
        &self,
        after: Option<&str>,
        page: &SnapshotPage,
    ) -> Result<(u64, bool)> {
        let mut loading = self
            .loading()?
            .ok_or_else(|| Error::Sync("no snapshot is being loaded".into()))?;
        if loading.next.as_deref() != after {
            return Err(Error::Sync(
                "this snapshot page was already taken (the load moved since it was asked)".into(),
            ));
        }
        let lower = after.map(SnapshotCursor::parse).transpose()?;
        let upper = page
            .next
            .as_deref()
            .map(SnapshotCursor::parse)
            .transpose()?;
        if let (Some(l), Some(u)) = (&lower, &upper) {
            if u <= l {
                return Err(Error::Sync(
                    "the hub's snapshot page does not move forward".into(),
                ));
            }
        }
        if after.is_none() {
            loading.seq = page.hub_seq;
            loading.tables = page
                .schemas
                .iter()
                .filter_map(|s| s.get("name").and_then(Value::as_str).map(str::to_string))
                .collect();
            loading.tables.sort();
        } else if !page.schemas.is_empty() {
            return Err(Error::Sync(
                "schemas come with the first snapshot page only".into(),
            ));
        }
        let in_range = |c: &SnapshotCursor| {
            lower.as_ref().is_none_or(|l| c > l) && upper.as_ref().is_none_or(|u| c <= u)
        };
        // The page's row ids, in its order (the rows themselves are read from the page).
        let mut ids = Vec::with_capacity(page.rows.len());
        let mut row_ids = HashSet::with_capacity(page.rows.len());
        for r in &page.rows {
            let id = parse_id(r.row.get("id").and_then(Value::as_str).unwrap_or_default())
                .map_err(|e| Error::Sync(format!("snapshot row: {e}")))?;
            let cursor = SnapshotCursor::Row(r.table.clone(), id);
            if loading.tables.binary_search(&r.table).is_err() || !in_range(&cursor) {
                return Err(Error::Sync(format!(
                    "snapshot row {id} of `{}` lies outside its page",
                    r.table
                )));
            }
            row_ids.insert(id);
            ids.push(id);
        }
        let mut edges = Vec::with_capacity(page.edges.len());
        let mut edge_keys = HashSet::with_capacity(page.edges.len());
        for e in &page.edges {
            let key =
                EdgeKey::from_json(e).map_err(|e| Error::Sync(format!("snapshot edge: {e}")))?;
            if !in_range(&SnapshotCursor::Edge(key.src, key.rel.clone(), key.dst)) {
                return Err(Error::Sync("a snapshot edge lies outside its page".into()));
            }
            edge_keys.insert(key.clone());
            edges.push((key, e));
        }
        let seq = loading.seq;
        let taken = (ids.len() + edges.len()) as u64;
        let done = page.next.is_none();
        let written = self.write(|tx| {
            let start = tx.seq();
            let pending = pending_in(tx, tx.meta_u64(META_PUSHED)?)?;
            tx.set_hub_origin(Some(seq));
            if after.is_none() {
                for schema in &page.schemas {
                    take_schema(tx, schema.clone())?;
                }
            }
            for (&id, r) in ids.iter().zip(&page.rows) {
                let table = r.table.as_str();
                take_row(tx, table, id, Some(r.row.clone()), &pending)?;
                for v in &r.vectors {
                    // A vector this device cannot name is left: it embeds the row itself.
                    let Ok(index) =
                        crate::store::vectors::IndexName::new(table, &v.field, &v.provider)
                    else {
                        continue;
                    };
                    take_vector(tx, &index, id, &v.vector, v.text_sha.as_deref())?;
                }
            }
            // Rows in the page's range that the hub does not have.
            if !matches!(lower, Some(SnapshotCursor::Edge(..))) {
                let mut gone = Vec::new();
                for table in &loading.tables {
                    let mut range = tx.keys().rows(table);
                    if let Some(SnapshotCursor::Row(t, id)) = &lower {
                        if table < t {
                            continue;
                        }
                        if table == t {
                            range.start = Bound::Excluded(tx.keys().row(table, id));
                        }
                    }
                    if let Some(SnapshotCursor::Row(t, id)) = &upper {
                        if table > t {
                            continue;
                        }
                        if table == t {
                            range.end = Bound::Included(tx.keys().row(table, id));
                        }
                    }
                    for pair in tx.snapshot().scan(&range, Direction::Forward)? {
                        let (key, _) = pair?;
                        let id = crate::store::keys::trailing_id(&key)?;
                        if !row_ids.contains(&id) && !pending.rows.contains_key(&id) {
                            gone.push((table.clone(), id));
                        }
                    }
                }
                for (table, id) in gone {
                    set_row(tx, &table, id, None)?;
                }
            }
            for (key, edge) in &edges {
                if !pending.edges.contains_key(key) {
                    set_edge(tx, key, Some(edge))?;
                }
            }
            // Edges in the page's range that the hub does not have.
            if !matches!(upper, Some(SnapshotCursor::Row(..))) {
                let keys = tx.keys();
                let mut range = keys.edges_out();
                if let Some(SnapshotCursor::Edge(src, rel, dst)) = &lower {
                    range.start = Bound::Excluded(keys.edge(true, src, rel, dst));
                }
                if let Some(SnapshotCursor::Edge(src, rel, dst)) = &upper {
                    range.end = Bound::Included(keys.edge(true, src, rel, dst));
                }
                let rel_start = keys.edge_rel_start();
                let mut gone = Vec::new();
                for pair in tx.snapshot().scan(&range, Direction::Forward)? {
                    let (raw_key, _) = pair?;
                    let src = keys.edge_source(&raw_key)?;
                    let (rel, dst) = crate::store::edges::split_edge_key(&raw_key, rel_start)?;
                    let key = EdgeKey {
                        src,
                        rel: String::from_utf8_lossy(rel).into_owned(),
                        dst,
                    };
                    if !edge_keys.contains(&key) && !pending.edges.contains_key(&key) {
                        gone.push(key);
                    }
                }
                for key in gone {
                    set_edge(tx, &key, None)?;
                }
            }
            tx.set_hub_origin(None);
            pending.move_outbox_past(tx, start, seq);
            if done {
                tx.kv_put(tx.keys().meta(META_PULLED), seq.to_be_bytes().to_vec());
                tx.kv_delete(tx.keys().meta(META_SNAPSHOT));
            } else {
                let mut next = loading.clone();
                next.next = page.next.clone();
                let raw = serde_json::to_vec(&next).map_err(Error::storage)?;
                tx.kv_put(tx.keys().meta(META_SNAPSHOT), raw);
            }
            Ok(())
        });
        match written {
            Ok(()) => Ok((taken, done)),
            // The hub changed a schema while this device loaded its pages (a later page's row
            // no longer fits the schemas the first page brought): start the load again.
            Err(Error::Validation { .. }) if after.is_some() => {
                self.write(|tx| {
                    let raw = serde_json::to_vec(&Loading::default()).map_err(Error::storage)?;
                    tx.kv_put(tx.keys().meta(META_SNAPSHOT), raw);
                    Ok(())
                })?;
                Ok((0, false))
            }
            Err(e) => Err(e),
        }
    }

    /// Applies a pull's answer (asked with `since`); returns `(entries applied, caught up)`.
    pub(crate) fn take_pull(&self, since: u64, answer: &PullResponse) -> Result<(u64, bool)> {
        if self.meta_u64(META_PULLED)? != since {
            return Err(Error::Sync(
                "this pull was already applied (the checkpoint moved since it was asked)".into(),
            ));
        }
        if answer.snapshot {
            // The hub's log does not reach back to `since` (or this device has never pulled):
            // load the hub's state instead, then pull after it.
            self.write(|tx| {
                let key = tx.keys().meta(META_SNAPSHOT);
                if tx.kv_get(&key)?.is_none() {
                    let raw = serde_json::to_vec(&Loading::default()).map_err(Error::storage)?;
                    tx.kv_put(key, raw);
                }
                Ok(())
            })?;
            return Ok((0, false));
        }
        if answer.entries.is_empty() {
            return Ok((0, true));
        }
        let pulled = self.apply_pull(since, answer)?;
        Ok((pulled, self.meta_u64(META_PULLED)? >= answer.hub_seq))
    }

    /// Gives ops stamped further ahead of the hub's clock (as last seen) than it takes the
    /// hub's time instead; keeps this device's pushed clocks increasing.
    fn restamp(&self, ops: &mut [SyncOp]) -> Result<()> {
        let hub_now = now_millis().saturating_add_signed(self.meta_i64(META_OFFSET)?);
        let mut last = Hlc(self.meta_u64(META_LAST_HLC)?);
        for op in ops.iter_mut() {
            let Some(hlc) = op.entry.hlc else { continue };
            let hlc = if hlc.millis() > hub_now + MAX_CLOCK_AHEAD_MS / 2 {
                last.tick(hub_now)
            } else {
                hlc.max(Hlc(last.0.saturating_add(1)))
            };
            op.entry.hlc = Some(hlc);
            last = hlc;
        }
        Ok(())
    }

    /// Takes a push's answer: rejected ops and conflicts into their lists, the hub's state of
    /// what the push touched (with changes still in the outbox laid over it), the cursor.
    fn acknowledge(
        &self,
        answer: &PushResponse,
        cursor: (u64, u64),
        pushed_hlc: Hlc,
    ) -> Result<()> {
        // The device's own edges of every reset row, to drop those the hub does not have.
        let mut local_edges: HashMap<Uuid, Vec<EdgeKey>> = HashMap::new();
        for reset in &answer.resets {
            if let Reset::Row { id, .. } = reset {
                let uuid = parse_id(id)?;
                let keys = match self.edges(id, crate::store::EdgeDirection::Both, None) {
                    Ok(edges) => edges.iter().map(Edge::key).collect(),
                    Err(Error::NotFound(_)) => Vec::new(),
                    Err(e) => return Err(e),
                };
                local_edges.insert(uuid, keys);
            }
        }
        self.write(|tx| {
            let pending = pending_in(tx, cursor.0)?;
            let offset = answer.hub_ms as i64 - now_millis() as i64;
            tx.kv_put(
                tx.keys().meta(META_OFFSET),
                (offset as u64).to_be_bytes().to_vec(),
            );
            for r in &answer.rejected {
                let raw = serde_json::to_vec(r).map_err(Error::storage)?;
                tx.kv_put(tx.keys().sync(REJECTED, &r.seq.to_be_bytes()), raw);
            }
            let mut n = tx.meta_u64(META_CONFLICTS)?;
            for c in &answer.conflicts {
                n += 1;
                let raw = serde_json::to_vec(c).map_err(Error::storage)?;
                tx.kv_put(tx.keys().sync(CONFLICT, &n.to_be_bytes()), raw);
            }
            tx.kv_put(tx.keys().meta(META_CONFLICTS), n.to_be_bytes().to_vec());
            tx.set_hub_origin(Some(RESET_ORIGIN));
            for reset in &answer.resets {
                match reset {
                    Reset::Row {
                        table,
                        id,
                        row,
                        edges,
                    } => {
                        let id = parse_id(id)?;
                        let state = overlay(
                            row.clone(),
                            pending.rows.get(&id).map_or(&[][..], Vec::as_slice),
                        );
                        set_row(tx, table, id, state)?;
                        let mut hub_keys = Vec::with_capacity(edges.len());
                        for edge in edges {
                            let key = EdgeKey::from_json(edge)?;
                            if !pending.edges.contains_key(&key) {
                                set_edge(tx, &key, Some(edge))?;
                            }
                            hub_keys.push(key);
                        }
                        for key in local_edges.get(&id).into_iter().flatten() {
                            if !hub_keys.contains(key) && !pending.edges.contains_key(key) {
                                set_edge(tx, key, None)?;
                            }
                        }
                    }
                    Reset::Edge {
                        src,
                        rel,
                        dst,
                        edge,
                    } => {
                        let key = EdgeKey {
                            src: parse_id(src)?,
                            rel: rel.clone(),
                            dst: parse_id(dst)?,
                        };
                        if pending.edges.contains_key(&key) {
                            continue;
                        }
                        set_edge(tx, &key, edge.as_ref())?;
                    }
                }
            }
            tx.set_hub_origin(None);
            // The clock of the last local entry: the pushed clocks never go below it.
            let last_hlc = tx.meta_u64(META_LAST_HLC)?.max(pushed_hlc.0);
            tx.kv_put(
                tx.keys().meta(META_LAST_HLC),
                last_hlc.to_be_bytes().to_vec(),
            );
            tx.kv_put(tx.keys().meta(META_PUSHED), cursor.0.to_be_bytes().to_vec());
            tx.kv_put(tx.keys().meta(META_SEEN), cursor.1.to_be_bytes().to_vec());
            Ok(())
        })
    }

    /// Applies pulled hub entries (after `since`) in one write with the new checkpoint.
    fn apply_pull(&self, since: u64, answer: &PullResponse) -> Result<u64> {
        let mut expected = since + 1;
        for e in &answer.entries {
            if e.seq != expected {
                return Err(Error::Sync(format!(
                    "the hub's log has a gap: expected seq {expected}, got {}",
                    e.seq
                )));
            }
            expected += 1;
        }
        let last = expected - 1;
        self.write(|tx| {
            let start = tx.seq();
            let pending = pending_in(tx, tx.meta_u64(META_PUSHED)?)?;
            for entry in &answer.entries {
                tx.set_hub_origin(Some(entry.seq));
                if let Some(h) = entry.hlc {
                    tx.observe_hlc(h);
                }
                apply_hub_entry(tx, entry, &pending).map_err(|e| {
                    Error::Sync(format!(
                        "hub entry {} ({} {}): {e}",
                        entry.seq,
                        op_name(entry.op),
                        entry.table
                    ))
                })?;
            }
            tx.set_hub_origin(None);
            tx.kv_put(tx.keys().meta(META_PULLED), last.to_be_bytes().to_vec());
            pending.move_outbox_past(tx, start, last);
            Ok(())
        })?;
        Ok(answer.entries.len() as u64)
    }
}

/// [`TenantStore::outbox`] as `snapshot` sees it (a write reads it through its own snapshot,
/// so no local write can come between the read and the write).
fn scan_outbox(
    snapshot: &dyn KvSnapshot,
    keys: &Keys,
    pushed: u64,
    mut seen: u64,
    limit: usize,
) -> Result<(Vec<SyncOp>, u64, u64)> {
    let mut ops = Vec::new();
    let mut scanned = pushed;
    for pair in snapshot.scan(&keys.wal_from(pushed + 1), Direction::Forward)? {
        let (_, raw) = pair?;
        let entry: WalEntry = serde_json::from_slice(&raw)
            .map_err(|e| Error::storage(format!("corrupt WAL entry: {e}")))?;
        if ops.len() >= limit {
            break;
        }
        scanned = entry.seq;
        match entry.hub {
            Some(RESET_ORIGIN) => {}
            Some(h) => seen = h,
            None => {
                ops.push(SyncOp { entry, seen });
            }
        }
    }
    Ok((ops, scanned, seen))
}

/// Local changes after `pushed` that the hub has not taken, by row and by edge; with none,
/// also the last WAL position the scan read ([`Pending::quiet_at`]). Read in the write that
/// uses them, so no local write comes between.
fn pending_in(tx: &WriteTx<'_>, pushed: u64) -> Result<Pending> {
    let (ops, scanned, _) = scan_outbox(tx.snapshot(), tx.keys(), pushed, 0, MAX_PENDING + 1)?;
    if ops.len() > MAX_PENDING {
        return Err(Error::Limit(format!(
            "more than {MAX_PENDING} local changes wait to be pushed; push them before pulling"
        )));
    }
    let mut pending = Pending {
        quiet_at: ops.is_empty().then_some(scanned),
        ..Pending::default()
    };
    for op in ops {
        let entry = op.entry;
        match entry.op {
            WalOp::Link | WalOp::Unlink => {
                if let Some(key) = entry.data.as_ref().and_then(|d| EdgeKey::from_json(d).ok()) {
                    pending.edges.insert(key, entry);
                }
            }
            WalOp::Insert | WalOp::Update | WalOp::Delete | WalOp::Purge => {
                if let Some(id) = entry.id.as_deref().and_then(|i| parse_id(i).ok()) {
                    pending.rows.entry(id).or_default().push(entry);
                }
            }
            WalOp::Schema | WalOp::Vector => {}
        }
    }
    Ok(pending)
}

fn op_name(op: WalOp) -> String {
    serde_json::to_value(op)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The device's local changes the hub has not taken, by row and by edge (see `pending_in`).
#[derive(Default)]
struct Pending {
    rows: HashMap<Uuid, Vec<WalEntry>>,
    edges: HashMap<EdgeKey, WalEntry>,
    /// With no local change waiting: the last WAL position read, `Some` only then.
    quiet_at: Option<u64>,
}

impl Pending {
    /// After a write that applied the hub's state with nothing local waiting (the WAL still
    /// ending where `pending` read it, `start`): moves the outbox cursor past the entries the
    /// write added, all of them the hub's, with `seen` the hub position they bring. The next
    /// `pending` or push then reads only what comes after, instead of every pulled entry again.
    fn move_outbox_past(&self, tx: &mut WriteTx<'_>, start: u64, seen: u64) {
        if self.quiet_at == Some(start) {
            tx.kv_put(tx.keys().meta(META_PUSHED), tx.seq().to_be_bytes().to_vec());
            tx.kv_put(tx.keys().meta(META_SEEN), seen.to_be_bytes().to_vec());
        }
    }
}

/// `state` with the device's unpushed changes `pending` laid over it, in order.
fn overlay(mut state: Option<Row>, pending: &[WalEntry]) -> Option<Row> {
    for p in pending {
        let after = match &p.data {
            Some(Value::Object(row)) => Some(row),
            _ => None,
        };
        match (p.op, after) {
            (WalOp::Purge, _) => state = None,
            (WalOp::Insert, Some(after)) => state = Some(after.clone()),
            (WalOp::Update | WalOp::Delete, Some(after)) => {
                if let Some(row) = state.as_mut() {
                    let fields: Vec<String> = match &p.fields {
                        Some(f) => f.clone(),
                        None => user_fields(after)
                            .keys()
                            .cloned()
                            .chain(["deleted_at".to_string()])
                            .collect(),
                    };
                    for f in fields {
                        match after.get(&f) {
                            Some(v) => row.insert(f, v.clone()),
                            None => row.remove(&f),
                        };
                    }
                    if let Some(m) = after.get("modified_at") {
                        row.insert("modified_at".into(), m.clone());
                    }
                }
            }
            _ => {}
        }
    }
    state
}

/// `row` when its user fields pass `schema` (checked without copying them).
fn validated(schema: &CompiledSchema, mut row: Row) -> Result<Row> {
    let system: Vec<(&str, Value)> = SYSTEM_FIELDS
        .iter()
        .filter_map(|&f| row.remove(f).map(|v| (f, v)))
        .collect();
    let value = Value::Object(row);
    let checked = schema.validate(&value);
    let mut row = match value {
        Value::Object(row) => row,
        _ => Row::new(), // never: built as an object above
    };
    for (f, v) in system {
        row.insert(f.to_string(), v);
    }
    checked.map(|()| row)
}

/// Makes row `id` of `table` be `state` (a full row, or gone).
fn set_row(tx: &mut WriteTx<'_>, table: &str, id: Uuid, state: Option<Row>) -> Result<()> {
    if let Some(other) = tx.table_of(&id)? {
        if other != table {
            return Err(Error::Sync(format!(
                "row {id} is in `{other}` here, in `{table}` on the hub"
            )));
        }
    }
    let local = tx.row(table, &id)?;
    match state {
        None => {
            if local.is_some() {
                let ts = tx.now_string();
                tx.purge_row(table, id, &ts)?;
            }
        }
        Some(row) => {
            if local.as_ref() == Some(&row) {
                return Ok(());
            }
            let schema = tx.schema(table)?;
            let row = validated(&schema, row)?;
            let op = match (&local, is_deleted(&row)) {
                (None, _) => WalOp::Insert,
                (Some(_), true) => WalOp::Delete,
                (Some(_), false) => WalOp::Update,
            };
            let ts = tx.now_string();
            tx.put_row_over(op, table, id, Prior::Read(local), row, &ts)?;
        }
    }
    Ok(())
}

/// Makes the edge `key` be `edge` (or absent), when both its endpoints are here.
fn set_edge(tx: &mut WriteTx<'_>, key: &EdgeKey, edge: Option<&Value>) -> Result<()> {
    let ts = tx.now_string();
    match edge {
        Some(data) => {
            let edge = Edge::from_json(data)?;
            if tx.table_of(&edge.src)?.is_none() || tx.table_of(&edge.dst)?.is_none() {
                return Ok(());
            }
            let value = crate::store::edges::encode_value(&edge)?;
            if tx.edge_value(&edge.key())?.as_deref() == Some(value.as_slice()) {
                return Ok(()); // already the hub's: rewriting it would only grow the log
            }
            tx.put_edge(&edge, &ts)
        }
        None => {
            if tx.edge_value(key)?.is_some() {
                tx.remove_edge(key, &ts)?;
            }
            Ok(())
        }
    }
}

fn apply_hub_entry(tx: &mut WriteTx<'_>, entry: &WalEntry, pending: &Pending) -> Result<()> {
    match entry.op {
        // A vector entry this device cannot read is left: it embeds the row itself.
        WalOp::Vector => match super::vector_entry(entry) {
            Ok((index, id, vector, sha)) => take_vector(tx, &index, id, &vector, sha.as_deref()),
            Err(_) => Ok(()),
        },
        WalOp::Schema => take_schema(
            tx,
            entry
                .data
                .clone()
                .ok_or_else(|| Error::Sync("schema entry without data".into()))?,
        ),
        WalOp::Link | WalOp::Unlink => {
            let data = entry
                .data
                .as_ref()
                .ok_or_else(|| Error::Sync("edge entry without data".into()))?;
            let key = EdgeKey::from_json(data)?;
            if pending.edges.contains_key(&key) {
                return Ok(()); // this device's own later link or unlink stands until pushed
            }
            set_edge(tx, &key, (entry.op == WalOp::Link).then_some(data))
        }
        WalOp::Insert | WalOp::Update | WalOp::Delete | WalOp::Purge => {
            let id = parse_id(entry.id.as_deref().unwrap_or_default())?;
            let state = match (&entry.op, &entry.data) {
                (WalOp::Purge, _) => None,
                (_, Some(Value::Object(row))) => Some(row.clone()),
                _ => return Err(Error::Sync("row entry without an after-image".into())),
            };
            take_row(tx, &entry.table, id, state, pending)
        }
    }
}

/// Takes a schema the hub logged (`{name, schema}`), unless it is already this tenant's.
fn take_schema(tx: &mut WriteTx<'_>, data: Value) -> Result<()> {
    let stored: StoredSchema =
        serde_json::from_value(data).map_err(|e| Error::Sync(e.to_string()))?;
    if super::schema_unchanged(tx, &stored)? {
        return Ok(());
    }
    let ts = tx.now_string();
    tx.put_schema(stored, &ts)?;
    Ok(())
}

/// Takes a vector that travelled with its row, unless this device would not have made it: a
/// vector an embedder made (`text_sha` set) is taken only for a provider this device embeds the
/// table with and only when its own text of the field is the one embedded; then the device
/// does not embed that text again. A vector this device cannot hold (another length than its
/// index of that provider) is left: the device embeds the text itself.
fn take_vector(
    tx: &mut WriteTx<'_>,
    index: &crate::store::vectors::IndexName,
    id: Uuid,
    vector: &[f32],
    text_sha: Option<&str>,
) -> Result<()> {
    let Some(row) = tx.row(&index.table, &id)? else {
        return Ok(());
    };
    if let Some(sha) = text_sha {
        let schema = tx.schema(&index.table)?;
        let providers = tx.tenant().embed_settings().providers(&schema.info);
        if !providers.contains(&index.provider)
            || super::row_text_sha(&row, &index.field).as_deref() != Some(sha)
        {
            return Ok(());
        }
    }
    let ts = tx.now_string();
    match tx.put_vector(index, id, vector, &ts, text_sha) {
        Err(Error::InvalidArgument(_)) => Ok(()),
        other => other,
    }
}

/// Makes row `id` the hub's `state` with this device's unpushed changes laid over it.
fn take_row(
    tx: &mut WriteTx<'_>,
    table: &str,
    id: Uuid,
    state: Option<Row>,
    pending: &Pending,
) -> Result<()> {
    let mine = pending.rows.get(&id).map_or(&[][..], Vec::as_slice);
    if mine.is_empty() {
        return set_row(tx, table, id, state);
    }
    let mut laid = overlay(state.clone(), mine);
    // Local changes written under an earlier schema are carried forward to the one the hub
    // sent (its new fields' defaults filled in), as the hub will do when they are pushed.
    if let Some(row) = laid.as_mut() {
        let schema = tx.schema(table)?;
        if mine
            .iter()
            .any(|p| p.schema_sha.as_deref() != Some(schema.sha.as_str()))
        {
            schema.fill_defaults(row);
        }
    }
    // A local change that still does not fit the hub's row waits for the hub's verdict.
    match set_row(tx, table, id, laid.clone()) {
        Ok(()) => Ok(()),
        Err(Error::Validation { .. }) if laid != state => set_row(tx, table, id, state),
        Err(e) => Err(e),
    }
}
