//! The store: tenants, schemas, entities, secondary indexes and the WAL, over any [`Kv`].
//!
//! Every mutation goes through [`TenantStore::write`] and its [`WriteTx`](write::WriteTx), which puts
//! the data, the index entries, the counters and the WAL entry into one atomic batch.

mod builtin;
pub(crate) mod changes;
pub(crate) mod clock;
pub(crate) mod codec;
pub(crate) mod edges;
mod entities;
pub(crate) mod entity;
pub(crate) mod fulltext;
mod indexes;
pub(crate) mod keys;
mod limits;
pub(crate) mod read;
pub(crate) mod row_format;
pub(crate) mod schema;
mod schemas;
pub(crate) mod vectors;
pub(crate) mod wal;
pub(crate) mod write;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use serde_json::Value;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::kv::{Direction, KeyRange, Kv, KvSnapshot};

#[cfg(any(feature = "server", test))]
pub(crate) use self::builtin::is_builtin_schema;
pub use self::builtin::BUILTIN_TABLES;
pub use self::changes::{Change, ChangeOrigin, ChangeSubscription};
pub use self::clock::Hlc;
pub(crate) use self::edges::check_rel;
pub use self::edges::{Edge, EdgeDirection, NewEdge, MAX_REL_LEN};
pub use self::entities::ListOptions;
pub use self::entity::{parse_id, Row, SYSTEM_FIELDS};
pub use self::indexes::IndexQuery;
pub(crate) use self::limits::check_object_depth;
pub use self::limits::quote;
pub use self::limits::{WriteLimits, DEFAULT_MAX_ROW_BYTES, MAX_DEPTH};
pub(crate) use self::schema::snake_case;
pub use self::schema::{Category, MergePolicy, TableSchema};
pub use self::wal::{ApplyReport, WalEntry, WalOp, MAX_APPLY_ENTRIES};

use self::keys::Keys;
use self::schema::{CompiledSchema, StoredSchema};

/// Shared state of one open database: the KV, the writer lock and compiled schemas.
pub(crate) struct Store {
    kv: Arc<dyn Kv>,
    /// Serializes writers: the WAL sequence and read-modify-write of rows need one writer at a time.
    writer: Mutex<()>,
    /// Compiled schemas by (tenant, table).
    schemas: RwLock<HashMap<(String, String), Arc<CompiledSchema>>>,
    /// The schema epoch each tenant's cached schemas were checked at (backends shared
    /// between processes only; see [`TenantStore::forget_schemas_before`]).
    schema_epochs: Mutex<HashMap<String, u64>>,
    /// How embedded fields become vectors.
    embed: RwLock<vectors::EmbedSettings>,
    /// Told after commits that change vector indexes or queue embedding work.
    commit_hook: RwLock<Option<Arc<dyn vectors::CommitHook>>>,
    /// What the write path accepts.
    limits: RwLock<WriteLimits>,
    /// Added to the wall clock when stamping writes (tests play devices with skewed clocks).
    clock_skew_ms: std::sync::atomic::AtomicI64,
    /// Told after every commit that logged something.
    pub(crate) listeners: changes::Listeners,
}

impl Store {
    pub(crate) fn new(kv: Arc<dyn Kv>) -> Self {
        Store {
            kv,
            writer: Mutex::new(()),
            schemas: RwLock::new(HashMap::new()),
            schema_epochs: Mutex::new(HashMap::new()),
            embed: RwLock::new(vectors::EmbedSettings::default()),
            commit_hook: RwLock::new(None),
            limits: RwLock::new(WriteLimits::default()),
            clock_skew_ms: std::sync::atomic::AtomicI64::new(0),
            listeners: changes::Listeners::default(),
        }
    }

    /// Milliseconds added to the wall clock when stamping writes.
    pub(crate) fn clock_skew_ms(&self) -> i64 {
        self.clock_skew_ms
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Plays a device whose clock is `ms` ahead (or behind, when negative) of the real one.
    #[cfg(test)]
    pub(crate) fn set_clock_skew_ms(&self, ms: i64) {
        self.clock_skew_ms
            .store(ms, std::sync::atomic::Ordering::Relaxed);
    }

    pub(crate) fn limits(&self) -> WriteLimits {
        self.limits.read().map(|l| *l).unwrap_or_default()
    }

    pub(crate) fn set_limits(&self, limits: WriteLimits) {
        if let Ok(mut l) = self.limits.write() {
            *l = limits;
        }
    }

    pub(crate) fn embed_settings(&self) -> vectors::EmbedSettings {
        self.embed.read().map(|s| s.clone()).unwrap_or_default()
    }

    pub(crate) fn set_embed_settings(&self, settings: vectors::EmbedSettings) {
        if let Ok(mut s) = self.embed.write() {
            *s = settings;
        }
    }

    pub(crate) fn set_commit_hook(&self, hook: Arc<dyn vectors::CommitHook>) {
        if let Ok(mut h) = self.commit_hook.write() {
            *h = Some(hook);
        }
    }

    pub(crate) fn commit_hook(&self) -> Option<Arc<dyn vectors::CommitHook>> {
        self.commit_hook.read().ok().and_then(|h| h.clone())
    }

    pub(crate) fn kv(&self) -> &dyn Kv {
        &*self.kv
    }

    /// Names of tenants that have written anything.
    pub(crate) fn tenants(&self) -> Result<Vec<String>> {
        self.kv
            .scan(&KeyRange::prefix(keys::TENANT_REGISTRY), Direction::Forward)?
            .map(|pair| {
                let (k, _) = pair?;
                String::from_utf8(k[keys::TENANT_REGISTRY.len()..].to_vec())
                    .map_err(|_| Error::storage("corrupt tenant registry key"))
            })
            .collect()
    }
}

/// One tenant's view of the database. Cheap to clone; every key it touches lives under the
/// tenant's prefix, so no operation can reach another tenant's data.
#[derive(Clone)]
pub(crate) struct TenantStore {
    store: Arc<Store>,
    name: Arc<str>,
    keys: Arc<Keys>,
}

impl std::fmt::Debug for TenantStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tenant").field("name", &self.name).finish()
    }
}

impl TenantStore {
    pub(crate) fn new(store: Arc<Store>, name: &str) -> Result<Self> {
        keys::check_tenant(name)?;
        Ok(TenantStore {
            store,
            name: name.into(),
            keys: Arc::new(Keys::new(name)),
        })
    }

    /// The tenant name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Calls `f` after every commit of this tenant that logged something.
    pub(crate) fn on_change(
        &self,
        f: impl Fn(&Change) + Send + Sync + 'static,
    ) -> ChangeSubscription {
        let id = self.store.listeners.add(self.name.clone(), Arc::new(f));
        ChangeSubscription::new(self.store.clone(), id)
    }

    /// Short name of the storage backend.
    pub(crate) fn backend_name(&self) -> &'static str {
        self.store.kv.backend_name()
    }

    pub(crate) fn store_weak(&self) -> std::sync::Weak<Store> {
        Arc::downgrade(&self.store)
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// This tenant's key builder.
    pub(crate) fn keys(&self) -> &Keys {
        &self.keys
    }

    pub(crate) fn snapshot(&self) -> Result<Box<dyn KvSnapshot + '_>> {
        self.store.kv.snapshot()
    }

    /// The compiled schema of `table`, loading and caching it on first use.
    pub(crate) fn compiled_schema(&self, table: &str) -> Result<Arc<CompiledSchema>> {
        let cache_key = (self.name.to_string(), table.to_string());
        if let Some(found) = self.store.schemas.read().map_err(poisoned)?.get(&cache_key) {
            return Ok(found.clone());
        }
        let raw = match self.store.kv.get(&self.keys.schema(table))? {
            Some(raw) => raw,
            None => {
                return Err(Error::UnknownTable {
                    table: table.to_string(),
                    known: self.table_names()?,
                });
            }
        };
        let compiled = Arc::new(compile_stored(&raw)?);
        let mut cache = self.store.schemas.write().map_err(poisoned)?;
        // A writer that committed meanwhile has already put the newer schema: keep it.
        Ok(cache.entry(cache_key).or_insert(compiled).clone())
    }

    /// Drops this tenant's compiled schemas when another process changed schemas since they
    /// were checked (the stored epoch moved past the one they were checked at).
    fn forget_schemas_before(&self, epoch: u64) -> Result<()> {
        let mut epochs = self.store.schema_epochs.lock().map_err(poisoned)?;
        if epochs.get(self.name.as_ref()) == Some(&epoch) {
            return Ok(());
        }
        self.store
            .schemas
            .write()
            .map_err(poisoned)?
            .retain(|(tenant, _), _| tenant.as_str() != self.name.as_ref());
        epochs.insert(self.name.to_string(), epoch);
        Ok(())
    }

    fn cache_schema(&self, compiled: Arc<CompiledSchema>) -> Result<()> {
        let mut cache = self.store.schemas.write().map_err(poisoned)?;
        cache.insert(
            (self.name.to_string(), compiled.info.name.clone()),
            compiled,
        );
        Ok(())
    }

    /// Names of every table of this tenant, sorted.
    pub(crate) fn table_names(&self) -> Result<Vec<String>> {
        self.store
            .kv
            .scan(&self.keys.schemas(), Direction::Forward)?
            .map(|pair| {
                let (k, _) = pair?;
                self.keys
                    .table_name_of_schema_key(&k)
                    .map(str::to_string)
                    .ok_or_else(|| Error::storage("corrupt schema key"))
            })
            .collect()
    }
}

fn poisoned<T>(_: T) -> Error {
    Error::storage("internal lock poisoned by an earlier panic")
}

pub(crate) fn compile_stored(raw: &[u8]) -> Result<CompiledSchema> {
    let stored: StoredSchema = serde_json::from_slice(raw)
        .map_err(|e| Error::storage(format!("corrupt schema record: {e}")))?;
    CompiledSchema::compile(TableSchema::parse(stored.schema)?)
}

/// Reads one row from a snapshot: `(row, deleted)`.
pub(crate) fn read_row(
    snap: &dyn KvSnapshot,
    keys: &Keys,
    table: &str,
    id: &Uuid,
) -> Result<Option<(Row, bool)>> {
    match snap.get(&keys.row(table, id))? {
        Some(value) => decode_row_value(&value).map(Some),
        None => Ok(None),
    }
}

/// Decodes a stored row value: `(row, deleted)`.
pub(crate) fn decode_row_value(value: &[u8]) -> Result<(Row, bool)> {
    let stored = row_format::decode_row(value)?;
    Ok((stored.to_row()?, stored.deleted))
}

/// `true` when the JSON value is a non-null `deleted_at`.
pub(crate) fn is_deleted(row: &Row) -> bool {
    row.get("deleted_at").is_some_and(|v| !v.is_null())
}

pub(crate) fn into_object(table: &str, data: Value) -> Result<Row> {
    match data {
        Value::Object(obj) => Ok(obj),
        other => Err(Error::validation(
            table,
            "",
            format!("an entity must be a JSON object, got {}", json_type(&other)),
        )),
    }
}

pub(crate) fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
