//! The one write path. [`TenantStore::write`] runs a closure against a [`WriteTx`]; every mutation
//! the closure makes (rows, index entries, counters, schemas) lands in one atomic batch together
//! with its WAL entries, or — when the closure fails — nothing is written at all.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::changes::{Change, ChangeOrigin};
use super::clock::{now_millis, Hlc};
use super::codec::index_values;
use super::edges::{encode_value, split_edge_key, Edge, EdgeKey};
use super::entity::{format_ts, get_path, now, IdScheme, Row};
use super::keys::{decode_u64, Keys};
use super::row_format::{decode_row, encode_row};
use super::schema::{CompiledSchema, StoredSchema, TableSchema};
use super::vectors::{EmbedWork, IndexMeta, IndexName};
use super::wal::{encode_entry, EntryExtra, WalOp};
use super::{is_deleted, poisoned, read_row, TenantStore};
use crate::error::{Error, Result};
use crate::kv::{Direction, KvSnapshot, WriteBatch};

pub(crate) const META_WAL_SEQ: &str = "wal_seq";
pub(crate) const META_WAL_FIRST: &str = "wal_first";
/// How the tenant derives ids from natural keys ([`IdScheme`]), written with its first entry.
pub(crate) const META_ID_SCHEME: &str = "id_scheme";
/// The tenant's hybrid logical clock: the last value any write used or any pull brought.
pub(crate) const META_HLC: &str = "hlc";
/// Counts schema changes, so processes sharing a backend know when their compiled schemas
/// are stale.
pub(crate) const META_SCHEMA_EPOCH: &str = "schema_epoch";

pub(crate) fn count_meta(table: &str, live: bool) -> String {
    format!("{}:{table}", if live { "live" } else { "total" })
}

/// The error of a write that gives a row the id a row of table `other` already has.
fn held_elsewhere(id: &Uuid, other: &str) -> Error {
    Error::InvalidArgument(format!("id {id} already belongs to table `{other}`"))
}

/// What a row's WAL entry records beside its after-image.
struct RowWrite<'a> {
    /// For an update: the top-level fields it changed.
    fields: Option<&'a [String]>,
    /// The version of the table's schema it was written under.
    schema_sha: &'a str,
}

/// What a write knows of the row its id held before it.
pub(crate) enum Prior {
    /// The current row of the id in the table written, as just read ([`WriteTx::row`]).
    Read(Option<Row>),
    /// A UUIDv7 this write drew: no row anywhere has it yet, so neither the table's row nor the
    /// id directory is read.
    Fresh,
    /// The id's directory entry was just read and names no table ([`WriteTx::row_if_any`]):
    /// no row anywhere has it, and the directory is not read again.
    Absent,
}

/// A row as the transaction sees it: written in this transaction, or read from the snapshot.
#[derive(Clone)]
enum Staged {
    Row { table: String, row: Row },
    Purged,
}

/// One writer's transaction. Reads see the snapshot plus this transaction's own writes.
pub(crate) struct WriteTx<'a> {
    tenant: &'a TenantStore,
    snapshot: Box<dyn KvSnapshot + 'a>,
    pub(super) batch: WriteBatch,
    now: DateTime<Utc>,
    start_seq: u64,
    seq: u64,
    rows: HashMap<Uuid, Staged>,
    schemas: HashMap<String, Arc<CompiledSchema>>,
    counts: HashMap<(String, bool), i64>,
    /// Edge values written (`Some`) or removed (`None`) in this transaction.
    edges: HashMap<EdgeKey, Option<Vec<u8>>>,
    /// Other keys (vectors, queue) written or removed in this transaction.
    staged: HashMap<Vec<u8>, Option<Vec<u8>>>,
    /// Vector index metadata read (and possibly changed) in this transaction.
    pub(super) vmetas: HashMap<IndexName, IndexMeta>,
    /// Vector indexes changed in this transaction.
    pub(super) changed_indexes: HashSet<IndexName>,
    /// Embedding work to resolve before commit.
    pub(super) embed_work: EmbedWork,
    /// The embedding queue changed.
    pub(super) queue_changed: bool,
    /// Applying another database's WAL: embedding work is queued as replica work.
    pub(super) replaying: bool,
    /// Vectors embedded before the lock was taken ([`TenantStore::write_embedding`]).
    pub(super) ready: Option<Embedded>,
    /// The tenant's id scheme, once read (or chosen, for a tenant's first write).
    id_scheme: Option<IdScheme>,
    /// Full-text index changes, applied at commit (`fulltext.rs`).
    pub(super) fulltext: super::fulltext::FulltextTx,
    /// The last clock this transaction stamped on an entry (read from the tenant's at the first).
    hlc: Option<Hlc>,
    /// Clocks observed from elsewhere in this transaction: every later stamp is above them.
    hlc_floor: Hlc,
    /// Entries appended now apply the sync hub's entry at this sequence number.
    hub_origin: Option<u64>,
    /// What this transaction changed, for the change listeners.
    touched: super::changes::Touched,
    /// Replaying another log: the next entry keeps that entry's clock and hub origin.
    replay_stamp: Option<(Option<Hlc>, Option<u64>)>,
}

/// Vectors embedded before a write took the writer lock, by `(provider, text)`.
pub(crate) type Embedded = HashMap<(String, String), Vec<f32>>;

/// How many times [`TenantStore::write_embedding`] embeds outside the writer lock before it
/// embeds what is still missing under it (only when other writers keep changing the texts).
const EMBED_ROUNDS: usize = 3;

/// The outcome of one run of a write closure.
enum Attempt<R> {
    /// Committed.
    Done(R),
    /// Rolled back: these `(provider, text)` pairs must be embedded first.
    Embed(Vec<(String, String)>),
}

impl TenantStore {
    /// Runs `f` as one atomic write. Writers are serialized; readers never wait. Text the write
    /// embeds inline is embedded under the writer lock: writes that can embed use
    /// [`write_embedding`](Self::write_embedding).
    pub(crate) fn write<R>(&self, f: impl FnOnce(&mut WriteTx<'_>) -> Result<R>) -> Result<R> {
        match self.attempt(f, None)? {
            Attempt::Done(out) => Ok(out),
            Attempt::Embed(_) => Err(Error::storage("a write left embedding work unresolved")),
        }
    }

    /// Runs `f` as one atomic write whose inline embeddings are computed with the writer lock
    /// released, so a slow embedder (an HTTP provider) never holds up other writers: `f` runs,
    /// the texts it needs embedded are collected and the transaction is dropped; they are
    /// embedded; then `f` runs again under the lock and commits if every text it needs is
    /// embedded (a text changed meanwhile by another writer makes another round).
    pub(crate) fn write_embedding<R>(
        &self,
        f: impl Fn(&mut WriteTx<'_>) -> Result<R>,
    ) -> Result<R> {
        let mut ready = Embedded::new();
        for _ in 0..EMBED_ROUNDS {
            match self.attempt(&f, Some(&ready))? {
                Attempt::Done(out) => return Ok(out),
                Attempt::Embed(missing) => self.embed_missing(missing, &mut ready)?,
            }
        }
        self.write(|tx| {
            tx.ready = Some(ready);
            f(tx)
        })
    }

    /// Embeds `missing` `(provider, text)` pairs into `ready`, one call per provider.
    pub(super) fn embed_missing(
        &self,
        missing: Vec<(String, String)>,
        ready: &mut Embedded,
    ) -> Result<()> {
        let source = self
            .embed_settings()
            .source
            .ok_or_else(|| Error::Embedding("no embedder is configured".into()))?;
        let mut by_provider: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for (provider, text) in missing {
            by_provider.entry(provider).or_default().push(text);
        }
        for (provider, texts) in by_provider {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let vectors = source.embed(&provider, &refs)?;
            if vectors.len() != texts.len() {
                return Err(Error::Embedding(format!(
                    "provider {provider} returned {} vectors for {} texts",
                    vectors.len(),
                    texts.len()
                )));
            }
            for (text, vector) in texts.into_iter().zip(vectors) {
                ready.insert((provider.clone(), text), vector);
            }
        }
        Ok(())
    }

    /// One run of `f` under the writer lock. With `ready`, inline embeddings come from it and
    /// any text missing there rolls the transaction back ([`Attempt::Embed`]); without, they
    /// are computed under the lock.
    fn attempt<R>(
        &self,
        f: impl FnOnce(&mut WriteTx<'_>) -> Result<R>,
        ready: Option<&Embedded>,
    ) -> Result<Attempt<R>> {
        let _writer = self.store.writer.lock().map_err(poisoned)?;
        // Other processes writing the same backend wait while this write runs (and it waits
        // for theirs); the snapshot is taken after, so it sees what they wrote.
        let exclusive = self.store.kv.exclusive(self.keys.prefix())?;
        let snapshot = self.snapshot()?;
        if exclusive.is_some() {
            let epoch = match snapshot.get(&self.keys.meta(META_SCHEMA_EPOCH))? {
                Some(v) => decode_u64(&v)?,
                None => 0,
            };
            self.forget_schemas_before(epoch)?;
        }
        let start_seq = match snapshot.get(&self.keys.meta(META_WAL_SEQ))? {
            Some(v) => decode_u64(&v)?,
            None => 0,
        };
        let mut tx = WriteTx {
            tenant: self,
            snapshot,
            batch: WriteBatch::new(),
            now: now(),
            start_seq,
            seq: start_seq,
            rows: HashMap::new(),
            schemas: HashMap::new(),
            counts: HashMap::new(),
            edges: HashMap::new(),
            staged: HashMap::new(),
            vmetas: HashMap::new(),
            changed_indexes: HashSet::new(),
            embed_work: EmbedWork::default(),
            queue_changed: false,
            replaying: false,
            ready: None,
            id_scheme: None,
            fulltext: Default::default(),
            hlc: None,
            hlc_floor: Hlc::default(),
            hub_origin: None,
            replay_stamp: None,
            touched: Default::default(),
        };
        let out = f(&mut tx)?;
        if ready.is_some() && tx.ready.is_none() {
            tx.ready = ready.cloned();
        }
        let missing = tx.resolve_embed_work(ready.is_some())?;
        if !missing.is_empty() {
            return Ok(Attempt::Embed(missing));
        }
        let changed = tx.finish_vectors()?;
        let schemas = std::mem::take(&mut tx.schemas);
        let queued = tx.queue_changed;
        let change = (tx.seq > start_seq && self.store.listeners.any()).then(|| Change {
            tenant: self.name().to_string(),
            first_seq: start_seq + 1,
            last_seq: tx.seq,
            tables: std::mem::take(&mut tx.touched.tables).into_iter().collect(),
            origin: if tx.replaying {
                ChangeOrigin::Replay
            } else if tx.touched.from_hub {
                ChangeOrigin::Hub
            } else {
                ChangeOrigin::Local
            },
        });
        let batch = tx.finish()?;
        if !batch.is_empty() {
            self.store.kv.write(batch)?;
        }
        for compiled in schemas.into_values() {
            self.cache_schema(compiled)?;
        }
        drop(exclusive);
        drop(_writer);
        if !changed.is_empty() || queued {
            if let Some(hook) = self.store.commit_hook() {
                hook.after_commit(self, &changed, queued);
            }
        }
        if let Some(change) = change {
            self.store.listeners.notify(&change);
        }
        Ok(Attempt::Done(out))
    }
}

impl<'a> WriteTx<'a> {
    pub(crate) fn tenant(&self) -> &TenantStore {
        self.tenant
    }

    pub(crate) fn keys(&self) -> &Keys {
        &self.tenant.keys
    }

    /// The time of this transaction.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// The last WAL sequence number assigned so far.
    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    pub(crate) fn snapshot(&self) -> &dyn KvSnapshot {
        &*self.snapshot
    }

    /// A key's value as this transaction sees it (for keys written through [`Self::kv_put`]).
    pub(crate) fn kv_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.staged.get(key) {
            Some(v) => Ok(v.clone()),
            None => self.snapshot.get(key),
        }
    }

    /// The meta value `name` as this transaction sees it (0 when unset), the transaction's
    /// counterpart of `TenantStore::meta_u64`.
    pub(crate) fn meta_u64(&self, name: &str) -> Result<u64> {
        match self.kv_get(&self.keys().meta(name))? {
            Some(v) => decode_u64(&v),
            None => Ok(0),
        }
    }

    /// Puts a key in the batch, visible to later [`Self::kv_get`]s of this transaction.
    pub(crate) fn kv_put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.batch.put(key.clone(), value.clone());
        self.staged.insert(key, Some(value));
    }

    /// Deletes a key in the batch, visible to later reads of this transaction.
    pub(crate) fn kv_delete(&mut self, key: Vec<u8>) {
        self.batch.delete(key.clone());
        self.staged.insert(key, None);
    }

    /// Puts a key in the batch without staging it (write-only keys such as metadata).
    pub(crate) fn batch_put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.batch.put(key, value);
    }

    /// Every pair under `prefix` as this transaction sees it, in key order.
    pub(crate) fn kv_scan_prefix(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out: std::collections::BTreeMap<Vec<u8>, Vec<u8>> =
            std::collections::BTreeMap::new();
        for pair in self
            .snapshot
            .scan(&crate::kv::KeyRange::prefix(prefix), Direction::Forward)?
        {
            let (k, v) = pair?;
            out.insert(k, v);
        }
        for (k, v) in &self.staged {
            if k.starts_with(prefix) {
                match v {
                    Some(v) => out.insert(k.clone(), v.clone()),
                    None => out.remove(k),
                };
            }
        }
        Ok(out.into_iter().collect())
    }

    /// How this tenant derives ids from natural keys: recorded at its first write; a tenant
    /// written before the record existed is [`IdScheme::TenantBound`]; a new tenant is
    /// [`IdScheme::Portable`] unless [`Self::adopt_id_scheme`] chose otherwise.
    pub(crate) fn id_scheme(&mut self) -> Result<IdScheme> {
        if let Some(scheme) = self.id_scheme {
            return Ok(scheme);
        }
        let scheme = self.tenant.id_scheme(&*self.snapshot)?;
        self.id_scheme = Some(scheme);
        Ok(scheme)
    }

    /// Chooses the id scheme of a tenant that has no history yet (a replica starting from an
    /// older database's log); `false` when the tenant already has history or this transaction
    /// has already derived an id under another scheme.
    pub(crate) fn adopt_id_scheme(&mut self, scheme: IdScheme) -> bool {
        if self.start_seq != 0 {
            return false;
        }
        *self.id_scheme.get_or_insert(scheme) == scheme
    }

    /// Marks this transaction as replaying another database's WAL.
    pub(crate) fn set_replaying(&mut self) {
        self.replaying = true;
    }

    /// The schema of `table` as this transaction sees it.
    pub(crate) fn schema(&self, table: &str) -> Result<Arc<CompiledSchema>> {
        match self.schemas.get(table) {
            Some(s) => Ok(s.clone()),
            None => self.tenant.compiled_schema(table),
        }
    }

    /// The table that holds `id`, if any row (live or soft-deleted) has it.
    pub(crate) fn table_of(&self, id: &Uuid) -> Result<Option<String>> {
        match self.rows.get(id) {
            Some(Staged::Row { table, .. }) => Ok(Some(table.clone())),
            Some(Staged::Purged) => Ok(None),
            None => match self.snapshot.get(&self.keys().dir(id))? {
                Some(t) => String::from_utf8(t)
                    .map(Some)
                    .map_err(|_| Error::storage("corrupt directory entry")),
                None => Ok(None),
            },
        }
    }

    /// What `id` holds before a write of it into `table`, read with one lookup when no table
    /// has it (the common case of inserting a new keyed row): the directory is read first, and
    /// the row only when the directory names `table`. An id another table holds is an error.
    pub(crate) fn row_if_any(&self, table: &str, id: &Uuid) -> Result<Prior> {
        match self.table_of(id)? {
            None => Ok(Prior::Absent),
            Some(t) if t == table => Ok(Prior::Read(self.row(table, id)?)),
            Some(other) => Err(held_elsewhere(id, &other)),
        }
    }

    /// The current row `id` of `table` (live or soft-deleted).
    pub(crate) fn row(&self, table: &str, id: &Uuid) -> Result<Option<Row>> {
        match self.rows.get(id) {
            Some(Staged::Row { table: t, row }) if t == table => Ok(Some(row.clone())),
            Some(_) => Ok(None),
            None => Ok(read_row(&*self.snapshot, self.keys(), table, id)?.map(|(row, _)| row)),
        }
    }

    /// Stores the full after-image `row` (it must carry the system fields) and logs it as `op`.
    pub(crate) fn put_row(
        &mut self,
        op: WalOp,
        table: &str,
        id: Uuid,
        row: Row,
        ts: &str,
    ) -> Result<()> {
        let prior = self.row_if_any(table, &id)?;
        self.put_row_over(op, table, id, prior, row, ts)
    }

    /// [`put_row`](Self::put_row) for a caller that knows what `id` held before (`prior`),
    /// saving the reads of it.
    pub(crate) fn put_row_over(
        &mut self,
        op: WalOp,
        table: &str,
        id: Uuid,
        prior: Prior,
        row: Row,
        ts: &str,
    ) -> Result<()> {
        let schema = self.schema(table)?;
        let old = match prior {
            Prior::Read(None) => {
                if let Some(other) = self.table_of(&id)? {
                    return Err(held_elsewhere(&id, &other));
                }
                None
            }
            Prior::Read(old) => old,
            Prior::Fresh | Prior::Absent => None,
        };
        let deleted = is_deleted(&row);
        super::check_object_depth(&row, format_args!("a row of `{table}`"))?;
        // The WAL carries the row as JSON text, and the size limit is on that text.
        let json = serde_json::to_vec(&row).map_err(Error::storage)?;
        let limits = self.tenant.store.limits();
        super::limits::check_size(format_args!("a row of `{table}`"), json.len(), &limits)?;
        let value = encode_row(&row, deleted);
        let keys = self.tenant.keys.clone();
        if old.is_none() {
            self.batch.put(keys.dir(&id), table.as_bytes());
        }
        self.update_index_entries(&schema.info, &id, old.as_ref(), Some(&row));
        self.update_fulltext(&schema.info, &id, old.as_ref(), Some(&row))?;
        self.row_embeddings_changed(&schema.info, &id, old.as_ref(), Some(&row))?;
        let old_live = old.as_ref().map(|r| !is_deleted(r));
        self.count(table, old_live, Some(!deleted));
        let fields = old.as_ref().map(|old| changed_fields(old, &row));
        let written = RowWrite {
            fields: fields.as_deref(),
            schema_sha: &schema.sha,
        };
        self.append_wal(op, table, Some(&id), Some(&json), ts, Some(written))?;
        self.batch.put(keys.row(table, &id), value);
        self.rows.insert(
            id,
            Staged::Row {
                table: table.to_string(),
                row,
            },
        );
        Ok(())
    }

    /// Removes row `id` of `table` for good, with its index entries, and logs a tombstone.
    pub(crate) fn purge_row(&mut self, table: &str, id: Uuid, ts: &str) -> Result<()> {
        let schema = self.schema(table)?;
        let old = self
            .row(table, &id)?
            .ok_or_else(|| Error::NotFound(format!("no row {id} in table `{table}`")))?;
        let keys = self.tenant.keys.clone();
        self.batch.delete(keys.row(table, &id));
        self.batch.delete(keys.dir(&id));
        self.update_index_entries(&schema.info, &id, Some(&old), None);
        self.update_fulltext(&schema.info, &id, Some(&old), None)?;
        self.row_embeddings_changed(&schema.info, &id, Some(&old), None)?;
        self.count(table, Some(!is_deleted(&old)), None);
        self.purge_edges(&id)?;
        self.append_wal(WalOp::Purge, table, Some(&id), None, ts, None)?;
        self.rows.insert(id, Staged::Purged);
        Ok(())
    }

    /// The stored value of an edge as this transaction sees it.
    pub(crate) fn edge_value(&self, key: &EdgeKey) -> Result<Option<Vec<u8>>> {
        match self.edges.get(key) {
            Some(staged) => Ok(staged.clone()),
            None => self
                .snapshot
                .get(&self.keys().edge(true, &key.src, &key.rel, &key.dst)),
        }
    }

    /// Whether entity `id` exists and is not soft-deleted, as this transaction sees it (reads
    /// only the row header of stored rows).
    pub(crate) fn is_live(&self, id: &Uuid) -> Result<bool> {
        match self.rows.get(id) {
            Some(Staged::Row { row, .. }) => Ok(!is_deleted(row)),
            Some(Staged::Purged) => Ok(false),
            None => {
                let Some(table) = self.table_of(id)? else {
                    return Ok(false);
                };
                match self.snapshot.get(&self.keys().row(&table, id))? {
                    Some(value) => Ok(!decode_row(&value)?.deleted),
                    None => Ok(false),
                }
            }
        }
    }

    /// Stores `edge` under both of its endpoints and logs it as `link`. Both endpoints must
    /// exist (callers adding new edges check they are live; a replayed log has its own history).
    pub(crate) fn put_edge(&mut self, edge: &Edge, ts: &str) -> Result<()> {
        let mut src_table = None;
        for id in [edge.src, edge.dst] {
            let table = self
                .table_of(&id)?
                .ok_or_else(|| Error::NotFound(format!("no entity with id {id}")))?;
            src_table.get_or_insert(table);
        }
        let value = encode_value(edge)?;
        let limits = self.tenant.store.limits();
        super::limits::check_size(format_args!("edge `{}`", edge.rel), value.len(), &limits)?;
        let keys = self.tenant.keys.clone();
        self.batch.put(
            keys.edge(true, &edge.src, &edge.rel, &edge.dst),
            value.clone(),
        );
        self.batch.put(
            keys.edge(false, &edge.src, &edge.rel, &edge.dst),
            value.clone(),
        );
        let data = serde_json::to_vec(edge).map_err(Error::storage)?;
        self.append_wal(
            WalOp::Link,
            src_table.as_deref().unwrap_or_default(),
            Some(&edge.src),
            Some(&data),
            ts,
            None,
        )?;
        self.edges.insert(edge.key(), Some(value));
        Ok(())
    }

    /// Removes an edge from both of its endpoints and logs it as `unlink`; `NotFound` when
    /// there is no such edge.
    pub(crate) fn remove_edge(&mut self, key: &EdgeKey, ts: &str) -> Result<()> {
        if self.edge_value(key)?.is_none() {
            return Err(Error::NotFound(format!(
                "no edge {} -[{}]-> {}",
                key.src, key.rel, key.dst
            )));
        }
        let table = self.table_of(&key.src)?.unwrap_or_default();
        self.drop_edge(key);
        let data = serde_json::to_vec(
            &serde_json::json!({"src": key.src, "rel": key.rel, "dst": key.dst}),
        )
        .map_err(Error::storage)?;
        self.append_wal(WalOp::Unlink, &table, Some(&key.src), Some(&data), ts, None)?;
        Ok(())
    }

    fn drop_edge(&mut self, key: &EdgeKey) {
        let keys = self.tenant.keys.clone();
        self.batch
            .delete(keys.edge(true, &key.src, &key.rel, &key.dst));
        self.batch
            .delete(keys.edge(false, &key.src, &key.rel, &key.dst));
        self.edges.insert(key.clone(), None);
    }

    /// Removes every edge of `id` in both directions (stored ones and those staged in this
    /// transaction). Not logged: replaying the purge that calls this does the same.
    fn purge_edges(&mut self, id: &Uuid) -> Result<()> {
        let keys = self.tenant.keys.clone();
        let rel_start = keys.edge_rel_start();
        let mut doomed: Vec<EdgeKey> = Vec::new();
        for out in [true, false] {
            for pair in self.snapshot.scan(
                &crate::kv::KeyRange::prefix(&keys.edge_prefix(out, id, None)),
                Direction::Forward,
            )? {
                let (key, _) = pair?;
                let (rel, other) = split_edge_key(&key, rel_start)?;
                let rel = super::edges::rel_string(rel)?;
                let (src, dst) = if out { (*id, other) } else { (other, *id) };
                doomed.push(EdgeKey { src, rel, dst });
            }
        }
        doomed.extend(
            self.edges
                .iter()
                .filter(|(k, v)| v.is_some() && (k.src == *id || k.dst == *id))
                .map(|(k, _)| k.clone()),
        );
        for key in doomed {
            if self.edges.get(&key).is_none_or(Option::is_some) {
                self.drop_edge(&key);
            }
        }
        Ok(())
    }

    /// Registers (or replaces) a table schema, rebuilding its indexes when the indexed fields
    /// change, and logs it.
    pub(crate) fn put_schema(
        &mut self,
        stored: StoredSchema,
        ts: &str,
    ) -> Result<Arc<CompiledSchema>> {
        if super::builtin::BUILTIN_TABLES.contains(&stored.name.as_str())
            && !super::builtin::is_builtin_schema(&stored.name, &stored.schema)
        {
            return Err(Error::InvalidSchema(format!(
                "`{}` is a built-in table: its schema is remdb's own and cannot be replaced \
                 (register your own table under another name)",
                stored.name
            )));
        }
        let compiled = Arc::new(CompiledSchema::compile(TableSchema::parse(
            stored.schema.clone(),
        )?)?);
        let name = compiled.info.name.clone();
        if super::builtin::BUILTIN_TABLES.contains(&name.as_str())
            && !super::builtin::is_builtin_schema(&name, &stored.schema)
        {
            return Err(Error::InvalidSchema(format!(
                "`{name}` is a built-in table: its schema is remdb's own and cannot be replaced \
                 (register your own table under another name)"
            )));
        }
        if name != stored.name {
            return Err(Error::InvalidSchema(format!(
                "schema names table `{name}` but was stored as `{}`",
                stored.name
            )));
        }
        let old = match self.schema(&name) {
            Ok(old) => Some(old),
            Err(Error::UnknownTable { .. }) => None,
            Err(e) => return Err(e),
        };
        let json = serde_json::to_vec(&stored).map_err(Error::storage)?;
        self.batch.put(self.keys().schema(&name), json.clone());
        if old
            .as_ref()
            .is_some_and(|o| o.info.indexed_fields != compiled.info.indexed_fields)
        {
            self.rebuild_indexes(&compiled.info)?;
        }
        if old.as_ref().is_some_and(|o| {
            o.info.fulltext_fields != compiled.info.fulltext_fields
                || o.info.fulltext_stemmer != compiled.info.fulltext_stemmer
        }) {
            let rows = self.table_rows(&name)?;
            self.rebuild_fulltext(&compiled.info, &rows)?;
        }
        self.append_wal(WalOp::Schema, &name, None, Some(&json), ts, None)?;
        let epoch = self.meta_u64(META_SCHEMA_EPOCH)?;
        self.kv_put(
            self.keys().meta(META_SCHEMA_EPOCH),
            (epoch + 1).to_be_bytes().to_vec(),
        );
        self.schemas.insert(name, compiled.clone());
        Ok(compiled)
    }

    /// Drops WAL entries with `seq < before`.
    pub(crate) fn compact_wal(&mut self, before: u64) {
        let keys = self.tenant.keys.clone();
        self.batch.delete_range(keys.wal(0), keys.wal(before));
        self.batch
            .put(keys.meta(META_WAL_FIRST), before.to_be_bytes());
    }

    /// Appends a WAL entry with the next sequence number (for other store modules).
    pub(crate) fn append_wal_entry(
        &mut self,
        op: WalOp,
        table: &str,
        id: Option<&Uuid>,
        data: Option<&[u8]>,
        ts: &str,
    ) -> Result<()> {
        self.append_wal(op, table, id, data, ts, None)
    }

    /// Appends a WAL entry with the next sequence number and the next clock; `row` says what a
    /// row write changed and under which schema.
    fn append_wal(
        &mut self,
        op: WalOp,
        table: &str,
        id: Option<&Uuid>,
        data: Option<&[u8]>,
        ts: &str,
        row: Option<RowWrite<'_>>,
    ) -> Result<()> {
        self.seq += 1;
        let (hlc, hub) = match self.replay_stamp.take() {
            Some((hlc, hub)) => {
                if let Some(h) = hlc {
                    self.observe_hlc(h);
                }
                (hlc, hub)
            }
            None => (Some(self.next_hlc()?), self.hub_origin),
        };
        if !self.touched.tables.contains(table) {
            self.touched.tables.insert(table.to_string());
        }
        let extra = EntryExtra {
            hlc,
            fields: row.as_ref().and_then(|r| r.fields),
            hub,
            schema_sha: row.as_ref().map(|r| r.schema_sha),
        };
        let entry = encode_entry(self.seq, ts, op, table, id, data, &extra);
        let key = self.tenant.keys.wal(self.seq);
        self.batch.put(key, entry);
        Ok(())
    }

    /// The next clock: above the tenant's last, everything observed, and the wall clock
    /// (shifted by the store's configured skew, which tests use to play a fast or slow device).
    fn next_hlc(&mut self) -> Result<Hlc> {
        let last = match self.hlc {
            Some(h) => h,
            None => match self.snapshot.get(&self.tenant.keys.meta(META_HLC))? {
                Some(v) => Hlc(decode_u64(&v)?),
                None => Hlc::default(),
            },
        };
        let wall = now_millis().saturating_add_signed(self.tenant.store.clock_skew_ms());
        let next = last.max(self.hlc_floor).tick(wall);
        self.hlc = Some(next);
        Ok(next)
    }

    /// Folds a clock received from elsewhere into this transaction's: entries appended after
    /// it sort after it.
    pub(crate) fn observe_hlc(&mut self, hlc: Hlc) {
        self.hlc_floor = self.hlc_floor.max(hlc);
    }

    /// Makes the next entry appended carry `hlc` and `hub` as given (replaying a log: the copy
    /// stays identical to the original).
    pub(crate) fn replay_stamp(&mut self, hlc: Option<Hlc>, hub: Option<u64>) {
        self.replay_stamp = Some((hlc, hub));
    }

    /// Marks the entries appended from now on as applying the hub's entry `hub_seq` (`None`
    /// for local writes again).
    pub(crate) fn set_hub_origin(&mut self, hub_seq: Option<u64>) {
        self.hub_origin = hub_seq;
        self.touched.from_hub |= hub_seq.is_some();
    }

    fn update_index_entries(
        &mut self,
        schema: &TableSchema,
        id: &Uuid,
        old: Option<&Row>,
        new: Option<&Row>,
    ) {
        for field in &schema.indexed_fields {
            let old_vals = old
                .map(|r| index_values(get_path(r, field)))
                .unwrap_or_default();
            let new_vals = new
                .map(|r| index_values(get_path(r, field)))
                .unwrap_or_default();
            if old_vals == new_vals {
                continue;
            }
            let prefix = self.tenant.keys.index_field(&schema.name, field);
            let key = |v: &[u8]| [prefix.as_slice(), v, id.as_bytes()].concat();
            for v in old_vals.iter().filter(|v| !new_vals.contains(v)) {
                self.batch.delete(key(v));
            }
            for v in new_vals.iter().filter(|v| !old_vals.contains(v)) {
                self.batch.put(key(v), Vec::new());
            }
        }
    }

    fn rebuild_indexes(&mut self, schema: &TableSchema) -> Result<()> {
        let keys = self.tenant.keys.clone();
        let range = keys.index_table(&schema.name);
        if let (std::ops::Bound::Included(start), std::ops::Bound::Excluded(end)) =
            (&range.start, &range.end)
        {
            self.batch.delete_range(start.clone(), end.clone());
        }
        for (id, row) in self.table_rows(&schema.name)? {
            self.update_index_entries(schema, &id, None, Some(&row));
        }
        Ok(())
    }

    /// Every row of `table` (live and soft-deleted) as this transaction sees it.
    pub(super) fn table_rows(&self, name: &str) -> Result<Vec<(Uuid, Row)>> {
        let mut rows: Vec<(Uuid, Row)> = Vec::new();
        for pair in self
            .snapshot
            .scan(&self.tenant.keys.rows(name), Direction::Forward)?
        {
            let (k, v) = pair?;
            let id = super::keys::trailing_id(&k)?;
            if !self.rows.contains_key(&id) {
                rows.push((id, super::decode_row_value(&v)?.0));
            }
        }
        for (id, staged) in &self.rows {
            if let Staged::Row { table, row } = staged {
                if table == name {
                    rows.push((*id, row.clone()));
                }
            }
        }
        Ok(rows)
    }

    fn count(&mut self, table: &str, old_live: Option<bool>, new_live: Option<bool>) {
        let as_i = |b: Option<bool>| i64::from(b == Some(true));
        let live = as_i(new_live) - as_i(old_live);
        let total = i64::from(new_live.is_some()) - i64::from(old_live.is_some());
        *self.counts.entry((table.to_string(), true)).or_default() += live;
        *self.counts.entry((table.to_string(), false)).or_default() += total;
    }

    /// Adds counters, the WAL sequence and the tenant registry to the batch.
    fn finish(mut self) -> Result<WriteBatch> {
        self.finish_fulltext()?;
        let keys = self.tenant.keys.clone();
        for ((table, live), delta) in std::mem::take(&mut self.counts) {
            if delta == 0 {
                continue;
            }
            let key = keys.meta(&count_meta(&table, live));
            let current = match self.snapshot.get(&key)? {
                Some(v) => decode_u64(&v)?,
                None => 0,
            };
            let next = current
                .checked_add_signed(delta)
                .ok_or_else(|| Error::storage(format!("row counter of `{table}` out of range")))?;
            self.batch.put(key, next.to_be_bytes());
        }
        let top = self.hlc.unwrap_or_default().max(self.hlc_floor);
        if top > Hlc::default() {
            // The stamps were drawn above the stored clock; observed clocks may be below it.
            let stored = match self.snapshot.get(&keys.meta(META_HLC))? {
                Some(v) => Hlc(decode_u64(&v)?),
                None => Hlc::default(),
            };
            if top > stored {
                self.batch.put(keys.meta(META_HLC), top.0.to_be_bytes());
            }
        }
        if self.seq != self.start_seq {
            self.batch
                .put(keys.meta(META_WAL_SEQ), self.seq.to_be_bytes());
            if self.start_seq == 0 {
                self.batch
                    .put(Keys::registry(self.tenant.name()), Vec::new());
                let scheme = self.id_scheme.unwrap_or(IdScheme::Portable);
                self.batch
                    .put(keys.meta(META_ID_SCHEME), vec![scheme.to_byte()]);
            }
        }
        Ok(self.batch)
    }

    /// Timestamp string of this transaction.
    pub(crate) fn now_string(&self) -> String {
        format_ts(self.now)
    }
}

/// The top-level fields whose values differ between `old` and `new`, sorted; `id`,
/// `created_at` and `modified_at` are not listed (`deleted_at` is).
pub(crate) fn changed_fields(old: &Row, new: &Row) -> Vec<String> {
    let mut out: Vec<String> = old
        .iter()
        .filter(|(k, v)| new.get(k.as_str()) != Some(*v))
        .map(|(k, _)| k.clone())
        .chain(
            new.keys()
                .filter(|k| !old.contains_key(k.as_str()))
                .cloned(),
        )
        .filter(|k| !matches!(k.as_str(), "id" | "created_at" | "modified_at"))
        .collect();
    out.sort();
    out.dedup();
    out
}
