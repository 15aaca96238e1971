//! The JavaScript face (wasm-bindgen): one [`RemDb`] class over a database and one tenant.
//!
//! Values cross as plain JSON-compatible JS objects (never `Map`s). Failures are thrown as JS
//! `Error`s whose `message` is the remdb error text, with a stable `code` (see [`Error::code`])
//! and, for `VALIDATION` errors, an `issues` array of `{pointer, reason}`. Nothing here panics on
//! bad input: malformed values and numbers become `INVALID_ARGUMENT` errors.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use wasm_bindgen::prelude::*;

use crate::embed::Embedder;
use crate::kv::{MemoryPages, RedbKv};
use crate::{
    Database, EdgeDirection, Error, ListOptions, PathOptions, Strategy, Tenant, TraverseOptions,
    WalEntry, DEFAULT_TENANT,
};

/// Largest integer a JS number holds exactly (2^53 − 1).
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// A remdb database and one of its tenants, as seen from JavaScript.
#[wasm_bindgen]
pub struct RemDb {
    db: Database,
    tenant: Tenant,
    /// The async drain task is running.
    draining: Rc<Cell<bool>>,
    /// HTTP embedders usable only asynchronously here, by provider spec.
    remote: Rc<RefCell<HashMap<String, Rc<crate::embed::HttpEmbedder>>>>,
    /// Query texts each remote provider embedded ahead of a synchronous use (see `sqlAsync`).
    queries: Rc<RefCell<HashMap<String, Arc<Mutex<QueryVectors>>>>>,
    /// The page image under redb when the host persists it (see [`RemDb::take_dirty`]).
    pages: Option<MemoryPages>,
}

/// A redb page image being restored from persisted chunks (IndexedDB): create it with the
/// image length, [`put`](Self::put) every stored chunk, then pass it to [`RemDb::open_with`].
#[wasm_bindgen]
pub struct PageImage {
    len: u64,
    chunks: Vec<(u64, Vec<u8>)>,
}

#[wasm_bindgen]
impl PageImage {
    /// An image of `len` bytes; chunks not put read as zeros.
    #[wasm_bindgen(constructor)]
    pub fn new(len: f64) -> Result<PageImage, JsValue> {
        Ok(PageImage {
            len: to_u64("image length", len)?,
            chunks: Vec::new(),
        })
    }

    /// Adds chunk `index` (exactly 64 KiB); checked when the image is opened.
    pub fn put(&mut self, index: f64, bytes: Vec<u8>) -> Result<(), JsValue> {
        self.chunks.push((to_u64("chunk index", index)?, bytes));
        Ok(())
    }
}

/// The `opts` of [`RemDb::open_with`], as JavaScript spells them.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JsOpenOptions {
    tenant: Option<String>,
    storage: Option<String>,
    embedding_mode: Option<crate::vector::EmbedMode>,
    default_embedding: Option<String>,
}

impl Database {
    /// Wraps this database as the JS face over `tenant` (`default` when `None`), creating the
    /// built-in tables. This is what [`RemDb::open_memory`] and [`RemDb::open_redb_memory`] do
    /// over their own stores; it also lets Rust code hand any database to JavaScript.
    pub fn into_js_face(self, tenant: Option<String>) -> Result<RemDb, JsValue> {
        let name = tenant.as_deref().unwrap_or(DEFAULT_TENANT);
        let tenant = self.tenant(name).map_err(js_error)?;
        tenant.init().map_err(js_error)?;
        Ok(RemDb {
            db: self,
            tenant,
            draining: Rc::new(Cell::new(false)),
            remote: Rc::new(RefCell::new(HashMap::new())),
            queries: Rc::new(RefCell::new(HashMap::new())),
            pages: None,
        })
    }
}

#[wasm_bindgen]
impl RemDb {
    /// Opens a fresh in-memory database (memory backend) on `tenant` (default `default`), with
    /// the built-in tables.
    #[wasm_bindgen(js_name = openMemory)]
    pub fn open_memory(tenant: Option<String>) -> Result<RemDb, JsValue> {
        Database::memory().into_js_face(tenant)
    }

    /// Opens a fresh in-memory database backed by redb over in-memory pages (the engine the
    /// browser persists), on `tenant` (default `default`), with the built-in tables.
    #[wasm_bindgen(js_name = openRedbMemory)]
    pub fn open_redb_memory(tenant: Option<String>) -> Result<RemDb, JsValue> {
        let kv = RedbKv::open_pages(MemoryPages::new()).map_err(js_error)?;
        Database::with_kv(Arc::new(kv)).into_js_face(tenant)
    }

    /// Opens a database as the npm package does. `image`: the redb page image to restore (from
    /// IndexedDB); none with `storage: "pages"` starts an empty one. `opts`: `{tenant, storage:
    /// "memory" | "pages", embeddingMode: "inline" | "background" | "off", defaultEmbedding}`.
    /// A page-backed database reports what each write changed through
    /// [`takeDirty`](Self::take_dirty).
    #[wasm_bindgen(js_name = openWith)]
    pub fn open_with(image: Option<PageImage>, opts: JsValue) -> Result<RemDb, JsValue> {
        let o: JsOpenOptions = options(
            "open options",
            "{tenant, storage, embeddingMode, defaultEmbedding}",
            opts,
        )?;
        let options = crate::OpenOptions {
            embedding_mode: o.embedding_mode,
            default_embedding: o.default_embedding,
            ..Default::default()
        };
        let (kv, pages): (Arc<dyn crate::kv::Kv>, _) = match (o.storage.as_deref(), image) {
            (None | Some("memory"), None) => (Arc::new(crate::kv::MemoryKv::new()), None),
            (Some("pages"), image) | (None, image @ Some(_)) => {
                let pages = match image {
                    Some(image) => {
                        MemoryPages::from_chunks(image.len, image.chunks).map_err(|e| {
                            js_error(Error::Storage(format!("corrupt page image: {e}")))
                        })?
                    }
                    None => MemoryPages::new(),
                };
                let kv = RedbKv::open_pages(pages.clone()).map_err(js_error)?;
                (Arc::new(kv), Some(pages))
            }
            (Some(other), _) => {
                return Err(invalid(format!(
                    "storage must be \"memory\" or \"pages\" (with an image), got {other:?}"
                )))
            }
        };
        let db = Database::with_kv_options(kv, &options).map_err(js_error)?;
        let mut face = db.into_js_face(o.tenant)?;
        face.pages = pages;
        Ok(face)
    }

    /// The page chunks written since the last call, `{len, chunks: [[index, Uint8Array]]}`
    /// (`null` for a database not over pages). Persisting every chunk of one call in one
    /// transaction moves the stored image from one committed state to the next.
    #[wasm_bindgen(js_name = takeDirty)]
    pub fn take_dirty(&self) -> Result<JsValue, JsValue> {
        let Some(pages) = &self.pages else {
            return Ok(JsValue::NULL);
        };
        let dirty = pages
            .take_dirty()
            .map_err(|e| js_error(Error::Storage(e.to_string())))?;
        let chunks = js_sys::Array::new();
        for (index, bytes) in dirty.chunks {
            let pair = js_sys::Array::new();
            pair.push(&JsValue::from_f64(index as f64));
            pair.push(&js_sys::Uint8Array::from(bytes.as_slice()));
            chunks.push(&pair);
        }
        let out = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&out, &"len".into(), &JsValue::from_f64(dirty.len as f64));
        let _ = js_sys::Reflect::set(&out, &"chunks".into(), &chunks);
        Ok(out.into())
    }

    /// Another handle on the same database for `tenant` (its built-in tables created).
    #[wasm_bindgen(js_name = forTenant)]
    pub fn for_tenant(&self, tenant: &str) -> Result<RemDb, JsValue> {
        let mut face = self.db.clone().into_js_face(Some(tenant.to_string()))?;
        face.pages = self.pages.clone();
        face.remote = self.remote.clone();
        face.queries = self.queries.clone();
        Ok(face)
    }

    /// Short name of the storage backend (`memory` or `redb`).
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.db.backend_name().to_string()
    }

    /// The tenant this handle reads and writes.
    #[wasm_bindgen(getter)]
    pub fn tenant(&self) -> String {
        self.tenant.name().to_string()
    }

    /// Registers (or replaces) a table from a JSON Schema object; returns the table name.
    #[wasm_bindgen(js_name = registerSchema)]
    pub fn register_schema(&self, schema: JsValue) -> Result<String, JsValue> {
        let schema = from_js("schema", schema)?;
        Ok(self.tenant.register_schema(schema).map_err(js_error)?.name)
    }

    /// Every table of the tenant (name, category, extensions and JSON Schema), sorted by name.
    pub fn schemas(&self) -> Result<JsValue, JsValue> {
        to_js(&self.tenant.schemas(None).map_err(js_error)?)
    }

    /// Validates and inserts one entity (an object) into `table`; returns its id. An entity with
    /// an existing natural key replaces that row (upsert).
    pub fn insert(&self, table: &str, obj: JsValue) -> Result<String, JsValue> {
        let data = from_js("entity", obj)?;
        let id = self
            .tenant
            .insert(table, data)
            .map_err(js_error)?
            .to_string();
        self.schedule_drain();
        Ok(id)
    }

    /// Inserts an array of entities in one atomic batch (all or none); returns their ids.
    #[wasm_bindgen(js_name = insertMany)]
    pub fn insert_many(&self, table: &str, items: JsValue) -> Result<JsValue, JsValue> {
        let items = match from_js("entities", items)? {
            Value::Array(items) => items,
            other => {
                return Err(invalid(format!(
                    "insertMany expects an array, got {}",
                    crate::store::json_type(&other)
                )))
            }
        };
        let ids: Vec<String> = self
            .tenant
            .insert_many(table, items)
            .map_err(js_error)?
            .iter()
            .map(ToString::to_string)
            .collect();
        self.schedule_drain();
        to_js(&ids)
    }

    /// The live row with `id`, or `null`; a soft-deleted row too when `includeDeleted`.
    pub fn get(&self, id: &str, include_deleted: Option<bool>) -> Result<JsValue, JsValue> {
        let row = self
            .tenant
            .get_with(id, include_deleted.unwrap_or(false))
            .map_err(js_error)?;
        match row {
            Some(row) => to_js(&row),
            None => Ok(JsValue::NULL),
        }
    }

    /// Applies a JSON merge patch to the live row `id`, re-validates it and returns the new row.
    pub fn update(&self, id: &str, patch: JsValue) -> Result<JsValue, JsValue> {
        let patch = from_js("patch", patch)?;
        let row = self.tenant.update(id, patch).map_err(js_error)?;
        self.schedule_drain();
        to_js(&row)
    }

    /// Deletes the live row `id`: soft (sets `deleted_at`) by default, for good when `hard`.
    pub fn delete(&self, id: &str, hard: Option<bool>) -> Result<(), JsValue> {
        if hard.unwrap_or(false) {
            self.tenant.hard_delete(id)
        } else {
            self.tenant.delete(id)
        }
        .map_err(js_error)
    }

    /// Rows of `table` in id order. `opts` is optional: `{limit, offset, includeDeleted}`.
    pub fn list(&self, table: &str, opts: JsValue) -> Result<JsValue, JsValue> {
        let options = list_options(opts)?;
        to_js(&self.tenant.list(table, &options).map_err(js_error)?)
    }

    /// Number of rows in `table` (soft-deleted ones too when `includeDeleted`).
    pub fn count(&self, table: &str, include_deleted: Option<bool>) -> Result<f64, JsValue> {
        Ok(self
            .tenant
            .count(table, include_deleted.unwrap_or(false))
            .map_err(js_error)? as f64)
    }

    /// Runs one SQL statement; returns the rows as plain objects whose keys follow the column
    /// order. `params` (optional) is an array bound to `$1, $2, ...` or `?` in order.
    pub fn sql(&self, query: &str, params: JsValue) -> Result<JsValue, JsValue> {
        let params = sql_params(params)?;
        to_js(&self.tenant.sql(query, &params).map_err(js_error)?)
    }

    /// Like `sql`, awaiting remote providers for the texts of similarity searches
    /// (`embedding.cosine('text')`, `SEARCH 'text' IN t`): a run that needs a text a remote
    /// provider has not embedded yet records it; the texts are embedded, and the query runs again.
    #[wasm_bindgen(js_name = sqlAsync)]
    pub fn sql_async(&self, query: String, params: JsValue) -> Result<js_sys::Promise, JsValue> {
        let params = sql_params(params)?;
        let (tenant, remote, queries) = (
            self.tenant.clone(),
            self.remote.clone(),
            self.queries.clone(),
        );
        Ok(wasm_bindgen_futures::future_to_promise(async move {
            // Each round embeds what the run before asked for; a query has at most a few texts.
            for _ in 0..4 {
                let handles: Vec<(String, Arc<Mutex<QueryVectors>>)> = queries
                    .borrow()
                    .iter()
                    .map(|(p, q)| (p.clone(), q.clone()))
                    .collect();
                for (_, q) in &handles {
                    q.lock().map_err(|_| js_error(poisoned()))?.missing.clear();
                }
                let failure = match tenant.sql(&query, &params) {
                    Ok(rows) => return to_js(&rows),
                    Err(e) => e,
                };
                let mut embedded_any = false;
                for (provider, q) in handles {
                    let texts =
                        std::mem::take(&mut q.lock().map_err(|_| js_error(poisoned()))?.missing);
                    let http = remote.borrow().get(&provider).cloned();
                    let (Some(http), false) = (http, texts.is_empty()) else {
                        continue;
                    };
                    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                    let vectors = http.embed_queries_async(&refs).await.map_err(js_error)?;
                    q.lock()
                        .map_err(|_| js_error(poisoned()))?
                        .remember(texts, vectors);
                    embedded_any = true;
                }
                if !embedded_any {
                    return Err(js_error(failure));
                }
            }
            Err(js_error(Error::Embedding(
                "the query still needed new embeddings after four rounds".into(),
            )))
        }))
    }

    /// Sequence number of the tenant's last WAL entry (0 when nothing was written).
    #[wasm_bindgen(js_name = walSeq)]
    pub fn wal_seq(&self) -> Result<f64, JsValue> {
        Ok(self.tenant.wal_seq().map_err(js_error)? as f64)
    }

    /// WAL entries with `seq > since`, in order, at most `limit` (all when omitted).
    #[wasm_bindgen(js_name = walEntries)]
    pub fn wal_entries(&self, since: f64, limit: Option<f64>) -> Result<JsValue, JsValue> {
        let since = to_u64("since", since)?;
        let limit = match limit {
            Some(n) => to_usize("limit", n)?,
            None => usize::MAX,
        };
        to_js(&self.tenant.wal_entries(since, limit).map_err(js_error)?)
    }

    /// Applies WAL entries exported by another database, atomically; returns
    /// `{applied, skipped, seq}`. Gaps and divergent histories are `WAL` errors.
    #[wasm_bindgen(js_name = applyWal)]
    pub fn apply_wal(&self, entries: JsValue) -> Result<JsValue, JsValue> {
        let entries: Vec<WalEntry> = serde_json::from_value(from_js("WAL entries", entries)?)
            .map_err(|e| invalid(format!("invalid WAL entries: {e}")))?;
        let report = self.tenant.apply_wal(&entries).map_err(js_error)?;
        self.schedule_drain();
        to_js(&report)
    }
}

/// Embeddings and vector search. Vectors cross as `Float32Array`s (plain arrays of numbers are
/// accepted as input). Search results are rows with a `_score` (higher is better), best first.
#[wasm_bindgen]
impl RemDb {
    /// Loads an ONNX sentence-embedding model (e.g. all-MiniLM-L6-v2 `model.onnx`) and its
    /// `tokenizer.json` from bytes and uses it for `provider` (default
    /// `local:all-MiniLM-L6-v2`): inserts into tables with `embedding_fields` embed inline from
    /// now on. Needs a build with the `embeddings` feature.
    /// Bytes of WebAssembly linear memory the module holds now. It grows and never shrinks, so
    /// this is the high-water mark of every allocation so far (loading a model is the largest).
    #[wasm_bindgen(js_name = linearMemoryBytes)]
    pub fn linear_memory_bytes() -> f64 {
        (core::arch::wasm32::memory_size(0) * 65536) as f64
    }

    #[wasm_bindgen(js_name = loadModel)]
    pub fn load_model(
        &self,
        model: Vec<u8>,
        tokenizer: &[u8],
        provider: Option<String>,
    ) -> Result<(), JsValue> {
        let provider = match provider {
            Some(p) => crate::embed::EmbedderSpec::parse(&p)
                .map_err(js_error)?
                .to_string(),
            None => format!("local:{}", crate::embed::DEFAULT_LOCAL_MODEL),
        };
        self.register_local(model, tokenizer, &provider)
    }

    /// Vectors for `texts` (a string gives one `Float32Array`, an array of strings an array of
    /// them) from `provider` (default: the database's default provider).
    pub fn embed(&self, texts: JsValue, provider: Option<String>) -> Result<JsValue, JsValue> {
        let (texts, single) = js_texts(texts)?;
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let vectors = self
            .tenant
            .embed(&refs, provider.as_deref())
            .map_err(js_error)?;
        Ok(vectors_to_js(&vectors, single))
    }

    /// The `topK` rows of `table` most similar to `query` (text, or a vector), best first, each
    /// with `_score`. Options: `{topK, minScore, field, provider, alt, ef, filter, includeDeleted}`
    /// (`filter`: an array of ids the results must come from).
    pub fn search(&self, table: &str, query: JsValue, opts: JsValue) -> Result<JsValue, JsValue> {
        let query = if let Some(text) = query.as_string() {
            crate::vector::SearchQuery::Text(text)
        } else {
            crate::vector::SearchQuery::Vector(js_vector("query", query)?)
        };
        let o: JsSearchOptions = options(
            "search options",
            "{topK, minScore, field, provider, alt, ef, filter, includeDeleted}",
            opts,
        )?;
        json_to_js(
            &self
                .tenant
                .search_json(table, query, &search_options(o)?)
                .map_err(js_error)?,
        )
    }

    /// Stores a caller-supplied vector for `field` of row `id` under the label `provider`.
    #[wasm_bindgen(js_name = putVector)]
    pub fn put_vector(
        &self,
        table: &str,
        id: &str,
        field: &str,
        provider: &str,
        vector: JsValue,
    ) -> Result<(), JsValue> {
        let v = js_vector("vector", vector)?;
        self.tenant
            .put_vector(table, id, field, provider, &v)
            .map_err(js_error)
    }

    /// Stores many caller-supplied vectors in one atomic batch: `items` is an array of
    /// `{id, vector}` (all or none are written).
    #[wasm_bindgen(js_name = putVectors)]
    pub fn put_vectors(
        &self,
        table: &str,
        field: &str,
        provider: &str,
        items: js_sys::Array,
    ) -> Result<(), JsValue> {
        let mut batch = Vec::with_capacity(items.length() as usize);
        for (i, item) in items.iter().enumerate() {
            let get = |key: &str| js_sys::Reflect::get(&item, &JsValue::from_str(key)).ok();
            let id = get("id")
                .and_then(|v| v.as_string())
                .ok_or_else(|| invalid(format!("item {i}: `id` must be a string")))?;
            let id = uuid::Uuid::parse_str(&id)
                .map_err(|_| invalid(format!("item {i}: `{id}` is not an entity id")))?;
            let vector = js_vector(
                &format!("item {i} vector"),
                get("vector").unwrap_or(JsValue::UNDEFINED),
            )?;
            batch.push((id, vector));
        }
        self.tenant
            .put_vectors(table, field, provider, &batch)
            .map_err(js_error)
    }

    /// Computes queued embedding work (background mode, or inserts made before a model was
    /// loaded) and runs due index maintenance; returns `{embedded, dropped, remaining}`.
    #[wasm_bindgen(js_name = flushEmbeddings)]
    pub fn flush_embeddings(&self) -> Result<JsValue, JsValue> {
        to_js(&self.db.flush().map_err(js_error)?)
    }

    /// Builds each vector index of `table` (or of every table) into one HNSW segment.
    #[wasm_bindgen(js_name = optimizeVectors)]
    pub fn optimize_vectors(&self, table: Option<String>) -> Result<JsValue, JsValue> {
        let reports = self
            .tenant
            .optimize_vectors(table.as_deref(), true)
            .map_err(js_error)?;
        let out: Vec<Value> = reports
            .iter()
            .map(|(i, r)| {
                serde_json::json!({"table": i.table, "field": i.field, "provider": i.provider,
                "sealed": r.sealed, "merged": r.merged, "segments": r.segments})
            })
            .collect();
        to_js(&out)
    }

    /// `{mode, defaultProvider, providers, queuedRows}`: what embeds and what waits.
    #[wasm_bindgen(js_name = embeddingStatus)]
    pub fn embedding_status(&self) -> Result<JsValue, JsValue> {
        let settings = self.db.embed_settings();
        let (queued, _) = self.tenant.queued_rows().map_err(js_error)?;
        to_js(&serde_json::json!({
            "mode": settings.mode,
            "defaultProvider": settings.default_provider,
            "providers": self.db.embedders().status(),
            "queuedRows": queued,
        }))
    }
}

impl RemDb {
    /// Starts the async drain task when queued work may be waiting: background mode, or remote
    /// embedders (their work is always queued here). Idempotent while it runs.
    fn schedule_drain(&self) {
        let background = self.db.embed_settings().mode == crate::vector::EmbedMode::Background;
        if (!background && self.remote.borrow().is_empty()) || self.draining.get() {
            return;
        }
        self.draining.set(true);
        let (tenant, remote, draining) = (
            self.tenant.clone(),
            self.remote.clone(),
            self.draining.clone(),
        );
        wasm_bindgen_futures::spawn_local(async move {
            // Errors stop the task; the work stays queued for the next write or flush.
            let _ = drain_async(&tenant, &remote).await;
            draining.set(false);
        });
    }

    #[cfg(feature = "embeddings")]
    fn register_local(
        &self,
        model: Vec<u8>,
        tokenizer: &[u8],
        provider: &str,
    ) -> Result<(), JsValue> {
        let embedder = crate::embed::LocalEmbedder::from_owned_bytes(model, tokenizer)
            .map_err(js_error)?
            .with_name(provider);
        self.db.embedders().register(provider, Arc::new(embedder));
        Ok(())
    }

    #[cfg(not(feature = "embeddings"))]
    fn register_local(
        &self,
        _model: Vec<u8>,
        _tokenizer: &[u8],
        _provider: &str,
    ) -> Result<(), JsValue> {
        Err(js_error(Error::Embedding(
            "this build has no in-module embeddings (feature `embeddings`)".into(),
        )))
    }
}

/// Drains queued embedding work 32 rows at a time, yielding to the event loop between steps;
/// remote providers are awaited, local ones run in place.
async fn drain_async(
    tenant: &Tenant,
    remote: &Rc<RefCell<HashMap<String, Rc<crate::embed::HttpEmbedder>>>>,
) -> Result<crate::vector::DrainReport, Error> {
    let settings = tenant.embed_settings();
    let can = |p: &str| {
        remote.borrow().contains_key(p) || settings.source.as_ref().is_some_and(|s| s.can_embed(p))
    };
    let mut drain = crate::vector::Drain::default();
    loop {
        next_tick().await;
        let batch = tenant.next_embedding_batch(32, &|p| !drain.skips(p) && can(p))?;
        if batch.is_empty() {
            break;
        }
        let mut results = Vec::new();
        for (provider, texts) in batch.requests() {
            let http = remote.borrow().get(&provider).cloned();
            let vectors = match http {
                Some(e) => e.embed_async(&texts).await,
                None => crate::vector::embed_texts(tenant, &provider, &texts),
            };
            results.push((provider, vectors));
        }
        if !drain.step(tenant, &batch, results)? {
            break;
        }
    }
    drain.finish(tenant)
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(callback: &js_sys::Function, ms: i32) -> JsValue;
}

/// Resolves on the next macrotask (`setTimeout(0)`): lets the page or event loop run.
async fn next_tick() {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        set_timeout(&resolve, 0);
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// Remote (HTTP) embedders from JavaScript: registered once, awaited by the drain task,
/// `embedAsync` and `searchAsync`.
#[wasm_bindgen]
impl RemDb {
    /// Uses an OpenAI- or Cohere-compatible HTTP embedder for `spec` (e.g.
    /// `openai:text-embedding-3-small`) with `{baseUrl, apiKey, dimensions, timeoutMs,
    /// maxRetries, batchSize}`. Its work is queued by writes and embedded by an async task
    /// (`embeddingsIdle()` waits for it). Resolves when ready (after a probe request when the
    /// vector length is unknown).
    #[wasm_bindgen(js_name = useRemoteEmbedder)]
    pub fn use_remote_embedder(
        &self,
        spec: &str,
        opts: JsValue,
    ) -> Result<js_sys::Promise, JsValue> {
        let spec = crate::embed::EmbedderSpec::parse(spec).map_err(js_error)?;
        let o: JsRemoteOptions = options(
            "remote embedder options",
            "{baseUrl, apiKey, dimensions, timeoutMs, maxRetries, batchSize}",
            opts,
        )?;
        let mut config = crate::embed::HttpConfig::for_provider(spec.provider);
        if let Some(u) = o.base_url {
            config.base_url = u;
        }
        config.api_key = o.api_key.or(config.api_key);
        if let Some(d) = o.dimensions {
            config.dimensions = Some(to_usize("dimensions", d)?);
        }
        if let Some(t) = o.timeout_ms {
            config.timeout = std::time::Duration::from_millis(to_u64("timeoutMs", t)?);
        }
        if let Some(r) = o.max_retries {
            config.max_retries = u32::try_from(to_u64("maxRetries", r)?).unwrap_or(u32::MAX);
        }
        if let Some(b) = o.batch_size {
            config.batch_size = to_usize("batchSize", b)?;
        }
        let (db, remote, queries, name) = (
            self.db.clone(),
            self.remote.clone(),
            self.queries.clone(),
            spec.to_string(),
        );
        Ok(wasm_bindgen_futures::future_to_promise(async move {
            let e = crate::embed::HttpEmbedder::new_async(spec, config)
                .await
                .map_err(js_error)?;
            let e = Rc::new(e);
            remote.borrow_mut().insert(name.clone(), e.clone());
            let prepared = Arc::new(Mutex::new(QueryVectors::default()));
            queries.borrow_mut().insert(name.clone(), prepared.clone());
            db.embedders().register(
                &name,
                Arc::new(RemoteHandle(e.dimensions(), name.clone(), prepared)),
            );
            Ok(JsValue::UNDEFINED)
        }))
    }

    /// Like `embed`, awaiting remote providers. Resolves to a `Float32Array` (one text) or an
    /// array of them.
    #[wasm_bindgen(js_name = embedAsync)]
    pub fn embed_async(
        &self,
        texts: JsValue,
        provider: Option<String>,
    ) -> Result<js_sys::Promise, JsValue> {
        let provider = match provider {
            Some(p) => p,
            None => self
                .db
                .embed_settings()
                .default_provider
                .unwrap_or_default(),
        };
        let http = self.remote.borrow().get(&provider).cloned();
        let Some(http) = http else {
            let out = self.embed(texts, Some(provider))?;
            return Ok(js_sys::Promise::resolve(&out));
        };
        let (texts, single) = js_texts(texts)?;
        Ok(wasm_bindgen_futures::future_to_promise(async move {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let vectors = http.embed_async(&refs).await.map_err(js_error)?;
            Ok(vectors_to_js(&vectors, single))
        }))
    }

    /// Like `search`, awaiting a remote provider to embed the query text.
    #[wasm_bindgen(js_name = searchAsync)]
    pub fn search_async(
        &self,
        table: &str,
        query: JsValue,
        opts: JsValue,
    ) -> Result<js_sys::Promise, JsValue> {
        let Some(text) = query.as_string() else {
            return Ok(js_sys::Promise::resolve(&self.search(table, query, opts)?));
        };
        let o: JsSearchOptions = options(
            "search options",
            "{topK, minScore, field, provider, alt, ef, filter, includeDeleted}",
            opts.clone(),
        )?;
        let schema = self.tenant.compiled_schema(table).map_err(js_error)?;
        let provider = match (&o.provider, o.alt.unwrap_or(false)) {
            (Some(p), _) => Some(p.clone()),
            (None, true) => schema.info.embedding_provider_alt.clone(),
            (None, false) => self
                .db
                .embed_settings()
                .providers(&schema.info)
                .into_iter()
                .next(),
        };
        let http = provider
            .as_ref()
            .and_then(|p| self.remote.borrow().get(p).cloned());
        let Some(http) = http else {
            return Ok(js_sys::Promise::resolve(&self.search(
                table,
                JsValue::from_str(&text),
                opts,
            )?));
        };
        let tenant = self.tenant.clone();
        let table = table.to_string();
        let options = search_options(o)?;
        Ok(wasm_bindgen_futures::future_to_promise(async move {
            let v = http
                .embed_queries_async(&[text.as_str()])
                .await
                .map_err(js_error)?
                .pop()
                .unwrap_or_default();
            json_to_js(
                &tenant
                    .search_json(&table, crate::vector::SearchQuery::Vector(v), &options)
                    .map_err(js_error)?,
            )
        }))
    }

    /// Resolves when the async drain task is idle, to `{embedded, dropped, remaining}` of a final
    /// pass (work no provider can do stays queued).
    #[wasm_bindgen(js_name = embeddingsIdle)]
    pub fn embeddings_idle(&self) -> js_sys::Promise {
        let (tenant, remote, draining) = (
            self.tenant.clone(),
            self.remote.clone(),
            self.draining.clone(),
        );
        wasm_bindgen_futures::future_to_promise(async move {
            while draining.get() {
                next_tick().await;
            }
            draining.set(true);
            let report = drain_async(&tenant, &remote).await;
            draining.set(false);
            to_js(&report.map_err(js_error)?)
        })
    }
}

/// Stands in the registry for an HTTP embedder that only answers asynchronously here, so the
/// store queues its work (`is_sync` is false) and reports it ready. Synchronous query embeddings
/// are answered from the texts `sqlAsync` embedded ahead; others are recorded as missing.
struct RemoteHandle(usize, String, Arc<Mutex<QueryVectors>>);

/// Query vectors a remote provider computed ahead of a synchronous use, and the texts a
/// synchronous use asked for that were not there.
#[derive(Default)]
struct QueryVectors {
    vectors: HashMap<String, Vec<f32>>,
    missing: Vec<String>,
}

/// Texts kept at most (then the cache starts over): query texts, not documents.
const MAX_QUERY_VECTORS: usize = 1024;

impl QueryVectors {
    fn remember(&mut self, texts: Vec<String>, vectors: Vec<Vec<f32>>) {
        if self.vectors.len() + texts.len() > MAX_QUERY_VECTORS {
            self.vectors.clear();
        }
        self.vectors.extend(texts.into_iter().zip(vectors));
    }
}

/// A lock on a query vector cache that a panic left poisoned (cannot happen single-threaded).
fn poisoned() -> Error {
    Error::Embedding("query vector cache is unusable".into())
}

/// SQL parameters from JS: `null`/`undefined` (none) or an array.
fn sql_params(params: JsValue) -> Result<Vec<Value>, JsValue> {
    match from_js("params", params)? {
        Value::Null => Ok(Vec::new()),
        Value::Array(values) => Ok(values),
        _ => Err(invalid("params must be an array".into())),
    }
}

impl crate::embed::Embedder for RemoteHandle {
    fn name(&self) -> &str {
        &self.1
    }
    fn dimensions(&self) -> usize {
        self.0
    }
    fn is_sync(&self) -> bool {
        false
    }
    fn embed(&self, texts: &[&str]) -> crate::Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        Err(self.asynchronous())
    }
    /// From the vectors `sqlAsync` embedded ahead (as queries); a text not there is recorded.
    fn embed_query(&self, text: &str) -> crate::Result<Vec<f32>> {
        let mut q = self.2.lock().map_err(|_| poisoned())?;
        if let Some(found) = q.vectors.get(text) {
            return Ok(found.clone());
        }
        if q.missing.len() < 64 && !q.missing.iter().any(|m| m == text) {
            q.missing.push(text.to_string());
        }
        Err(self.asynchronous())
    }
}

impl RemoteHandle {
    fn asynchronous(&self) -> Error {
        Error::Embedding(format!(
            "{}: remote embedders answer asynchronously here (embedAsync, searchAsync, sqlAsync)",
            self.1
        ))
    }
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JsRemoteOptions {
    base_url: Option<String>,
    api_key: Option<String>,
    dimensions: Option<f64>,
    timeout_ms: Option<f64>,
    max_retries: Option<f64>,
    batch_size: Option<f64>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JsSearchOptions {
    top_k: Option<f64>,
    min_score: Option<f64>,
    field: Option<String>,
    provider: Option<String>,
    alt: Option<bool>,
    ef: Option<f64>,
    filter: Option<Vec<String>>,
    include_deleted: Option<bool>,
}

/// A string or an array of strings from JS: `(texts, was_a_single_string)`.
fn js_texts(texts: JsValue) -> Result<(Vec<String>, bool), JsValue> {
    Ok(match from_js("texts", texts)? {
        Value::String(s) => (vec![s], true),
        Value::Array(items) => (
            items
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s),
                    other => Err(invalid(format!(
                        "texts must be strings, got {}",
                        crate::store::json_type(&other)
                    ))),
                })
                .collect::<Result<Vec<_>, _>>()?,
            false,
        ),
        other => {
            return Err(invalid(format!(
                "embed expects a string or an array of strings, got {}",
                crate::store::json_type(&other)
            )))
        }
    })
}

fn vectors_to_js(vectors: &[Vec<f32>], single: bool) -> JsValue {
    if single {
        return js_sys::Float32Array::from(vectors.first().map_or(&[][..], Vec::as_slice)).into();
    }
    let out = js_sys::Array::new();
    for v in vectors {
        out.push(&js_sys::Float32Array::from(v.as_slice()));
    }
    out.into()
}

fn search_options(o: JsSearchOptions) -> Result<crate::vector::SearchOptions, JsValue> {
    let d = crate::vector::SearchOptions::default();
    let filter = match o.filter {
        None => None,
        Some(ids) => Some(
            ids.iter()
                .map(|id| crate::store::parse_id(id))
                .collect::<Result<_, _>>()
                .map_err(js_error)?,
        ),
    };
    Ok(crate::vector::SearchOptions {
        top_k: o
            .top_k
            .map(|n| to_usize("topK", n))
            .transpose()?
            .unwrap_or(d.top_k),
        min_score: o.min_score.map(|x| x as f32),
        field: o.field,
        provider: o.provider,
        alt: o.alt.unwrap_or(false),
        ef: o.ef.map(|n| to_usize("ef", n)).transpose()?,
        filter,
        include_deleted: o.include_deleted.unwrap_or(false),
    })
}

/// A `Float32Array` (or array of numbers) as a vector.
fn js_vector(what: &str, value: JsValue) -> Result<Vec<f32>, JsValue> {
    if let Some(arr) = value.dyn_ref::<js_sys::Float32Array>() {
        return Ok(arr.to_vec());
    }
    match from_js(what, value)? {
        Value::Array(items) => items
            .iter()
            .map(|v| {
                v.as_f64()
                    .map(|x| x as f32)
                    .ok_or_else(|| invalid(format!("{what} must hold only numbers")))
            })
            .collect(),
        other => Err(invalid(format!(
            "{what} must be a Float32Array or an array of numbers, got {}",
            crate::store::json_type(&other)
        ))),
    }
}

/// The graph: edges, traversal, paths and cycles. Options objects are optional; unknown or
/// misspelt options are `INVALID_ARGUMENT` errors. Results are plain objects: edges
/// `{src, rel, dst, properties, created_at, modified_at}` and path results
/// `{paths: [{nodes, edges, depth, cost?}], rows: {id: row}, truncated}`.
#[wasm_bindgen]
impl RemDb {
    /// Adds the edge `src -rel-> dst` with optional `props` (an object; a numeric `weight` is
    /// what weighted paths add up); re-adding replaces its properties. Returns the edge.
    #[wasm_bindgen(js_name = addEdge)]
    pub fn add_edge(
        &self,
        src: &str,
        dst: &str,
        rel: &str,
        props: JsValue,
    ) -> Result<JsValue, JsValue> {
        let props = from_js("edge properties", props)?;
        to_js(
            &self
                .tenant
                .add_edge(src, dst, rel, props)
                .map_err(js_error)?,
        )
    }

    /// Adds many edges `[{src, dst, rel, properties?}]` in one atomic batch (all or none).
    #[wasm_bindgen(js_name = addEdges)]
    pub fn add_edges(&self, edges: JsValue) -> Result<(), JsValue> {
        let items: Vec<JsNewEdge> =
            serde_json::from_value(from_js("edges", edges)?).map_err(|e| {
                invalid(format!(
                    "addEdges expects an array of {{src, dst, rel, properties}}: {e}"
                ))
            })?;
        let edges = items
            .into_iter()
            .map(|e| {
                Ok(crate::NewEdge {
                    src: crate::store::parse_id(&e.src)?,
                    dst: crate::store::parse_id(&e.dst)?,
                    rel: e.rel,
                    properties: e.properties.unwrap_or_default(),
                })
            })
            .collect::<crate::Result<Vec<_>>>()
            .map_err(js_error)?;
        self.tenant.add_edges(edges).map_err(js_error)
    }

    /// Removes the edge `src -rel-> dst` (`NOT_FOUND` when there is none).
    #[wasm_bindgen(js_name = removeEdge)]
    pub fn remove_edge(&self, src: &str, dst: &str, rel: &str) -> Result<(), JsValue> {
        self.tenant.remove_edge(src, dst, rel).map_err(js_error)
    }

    /// The edges of `id`; `opts`: `{direction: "out" | "in" | "both" (default), rel}`.
    pub fn edges(&self, id: &str, opts: JsValue) -> Result<JsValue, JsValue> {
        let opts: JsEdgeOptions = options("edges options", "{direction, rel}", opts)?;
        let direction = opts.direction.unwrap_or(EdgeDirection::Both);
        to_js(
            &self
                .tenant
                .edges(id, direction, opts.rel.as_deref())
                .map_err(js_error)?,
        )
    }

    /// Ids of the live entities one edge away; `opts` as for [`edges`](Self::edges).
    pub fn neighbors(&self, id: &str, opts: JsValue) -> Result<JsValue, JsValue> {
        let opts: JsEdgeOptions = options("neighbors options", "{direction, rel}", opts)?;
        let direction = opts.direction.unwrap_or(EdgeDirection::Both);
        to_js(
            &self
                .tenant
                .neighbors(id, direction, opts.rel.as_deref())
                .map_err(js_error)?,
        )
    }

    /// Walks from `id`; `opts`: `{strategy: "bfs" | "dfs", maxDepth (3), direction ("out"),
    /// relTypes: [], target, includeDeleted, includeRows (true), limit}`.
    pub fn traverse(&self, id: &str, opts: JsValue) -> Result<JsValue, JsValue> {
        let opts = traverse_options(opts)?;
        to_js(&self.tenant.traverse(id, &opts).map_err(js_error)?)
    }

    /// The entities exactly `depth` edges away (by shortest distance), with a path to each;
    /// `opts` as for [`traverse`](Self::traverse).
    #[wasm_bindgen(js_name = neighborsAtDepth)]
    pub fn neighbors_at_depth(
        &self,
        id: &str,
        depth: f64,
        opts: JsValue,
    ) -> Result<JsValue, JsValue> {
        let depth = to_usize("depth", depth)?;
        let opts = traverse_options(opts)?;
        to_js(
            &self
                .tenant
                .neighbors_at_depth(id, depth, &opts)
                .map_err(js_error)?,
        )
    }

    /// A shortest path from `a` to `b` (none when unreachable); `opts`: `{direction, relTypes,
    /// maxDepth, weighted, includeDeleted, includeRows}`.
    #[wasm_bindgen(js_name = shortestPath)]
    pub fn shortest_path(&self, a: &str, b: &str, opts: JsValue) -> Result<JsValue, JsValue> {
        let opts = path_options(opts)?;
        to_js(&self.tenant.shortest_path(a, b, &opts).map_err(js_error)?)
    }

    /// Every simple path from `a` to `b`; `opts`: `{direction, relTypes, maxDepth (6), limit,
    /// includeDeleted, includeRows}`.
    #[wasm_bindgen(js_name = allPaths)]
    pub fn all_paths(&self, a: &str, b: &str, opts: JsValue) -> Result<JsValue, JsValue> {
        let opts = path_options(opts)?;
        to_js(&self.tenant.all_paths(a, b, &opts).map_err(js_error)?)
    }

    /// The number of simple paths from `a` to `b`; `opts` as for [`allPaths`](Self::all_paths).
    #[wasm_bindgen(js_name = countPaths)]
    pub fn count_paths(&self, a: &str, b: &str, opts: JsValue) -> Result<f64, JsValue> {
        let opts = path_options(opts)?;
        Ok(self.tenant.count_paths(a, b, &opts).map_err(js_error)? as f64)
    }

    /// Cycles: every simple cycle through `id` when it is a string, else the cycles a
    /// depth-first search finds over `opts.table` (every table when absent). `opts`:
    /// `{table, direction, relTypes, maxDepth, limit, includeDeleted, includeRows}`.
    pub fn cycles(&self, id: Option<String>, opts: JsValue) -> Result<JsValue, JsValue> {
        let (table, opts) = cycle_options(opts)?;
        let found = match id {
            Some(id) => {
                if table.is_some() {
                    return Err(invalid("give an id or opts.table, not both".into()));
                }
                self.tenant.cycles_from(&id, &opts)
            }
            None => self.tenant.find_cycles(table.as_deref(), &opts),
        };
        to_js(&found.map_err(js_error)?)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsNewEdge {
    src: String,
    dst: String,
    rel: String,
    properties: Option<crate::Row>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JsEdgeOptions {
    direction: Option<EdgeDirection>,
    rel: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JsTraverseOptions {
    strategy: Option<Strategy>,
    max_depth: Option<f64>,
    direction: Option<EdgeDirection>,
    rel_types: Option<Vec<String>>,
    target: Option<String>,
    include_deleted: Option<bool>,
    include_rows: Option<bool>,
    limit: Option<f64>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JsPathOptions {
    direction: Option<EdgeDirection>,
    rel_types: Option<Vec<String>>,
    max_depth: Option<f64>,
    limit: Option<f64>,
    weighted: Option<bool>,
    include_deleted: Option<bool>,
    include_rows: Option<bool>,
    /// `cycles` only.
    table: Option<String>,
}

/// An optional options object, read strictly (see [`list_options`]).
fn options<T: serde::de::DeserializeOwned + Default>(
    what: &str,
    shape: &str,
    opts: JsValue,
) -> Result<T, JsValue> {
    if opts.is_undefined() || opts.is_null() {
        return Ok(T::default());
    }
    serde_json::from_value(from_js(what, opts)?)
        .map_err(|e| invalid(format!("{what} must be {shape}: {e}")))
}

fn traverse_options(opts: JsValue) -> Result<TraverseOptions, JsValue> {
    let o: JsTraverseOptions = options(
        "traverse options",
        "{strategy, maxDepth, direction, relTypes, target, includeDeleted, includeRows, limit}",
        opts,
    )?;
    let d = TraverseOptions::default();
    Ok(TraverseOptions {
        strategy: o.strategy.unwrap_or(d.strategy),
        max_depth: o
            .max_depth
            .map(|n| to_usize("maxDepth", n))
            .transpose()?
            .unwrap_or(d.max_depth),
        direction: o.direction.unwrap_or(d.direction),
        rel_types: o.rel_types.unwrap_or_default(),
        target: o.target,
        include_deleted: o.include_deleted.unwrap_or(false),
        include_rows: o.include_rows.unwrap_or(true),
        limit: o
            .limit
            .map(|n| to_usize("limit", n))
            .transpose()?
            .unwrap_or(d.limit),
    })
}

fn read_path_options(opts: JsValue) -> Result<(Option<String>, PathOptions), JsValue> {
    let o: JsPathOptions = options(
        "path options",
        "{direction, relTypes, maxDepth, limit, weighted, includeDeleted, includeRows}",
        opts,
    )?;
    let options = PathOptions {
        direction: o.direction.unwrap_or_default(),
        rel_types: o.rel_types.unwrap_or_default(),
        max_depth: o.max_depth.map(|n| to_usize("maxDepth", n)).transpose()?,
        limit: o.limit.map(|n| to_usize("limit", n)).transpose()?,
        weighted: o.weighted.unwrap_or(false),
        include_deleted: o.include_deleted.unwrap_or(false),
        include_rows: o.include_rows.unwrap_or(true),
    };
    Ok((o.table, options))
}

fn path_options(opts: JsValue) -> Result<PathOptions, JsValue> {
    match read_path_options(opts)? {
        (Some(_), _) => Err(invalid("`table` is an option of cycles() only".into())),
        (None, options) => Ok(options),
    }
}

fn cycle_options(opts: JsValue) -> Result<(Option<String>, PathOptions), JsValue> {
    let (table, options) = read_path_options(opts)?;
    if options.weighted {
        return Err(invalid(
            "`weighted` is an option of shortestPath() only".into(),
        ));
    }
    Ok((table, options))
}

/// The `opts` argument of [`RemDb::list`], as JavaScript spells it.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JsListOptions {
    limit: Option<f64>,
    offset: Option<f64>,
    include_deleted: Option<bool>,
}

fn list_options(opts: JsValue) -> Result<ListOptions, JsValue> {
    if opts.is_undefined() || opts.is_null() {
        return Ok(ListOptions::default());
    }
    // Through JSON, not straight from the JS object: serde-wasm-bindgen looks up only the known
    // fields, so a misspelt option (`include_deleted`) would otherwise be ignored silently.
    let opts: JsListOptions =
        serde_json::from_value(from_js("list options", opts)?).map_err(|e| {
            invalid(format!(
                "list options must be {{limit, offset, includeDeleted}}: {e}"
            ))
        })?;
    Ok(ListOptions {
        limit: opts.limit.map(|n| to_usize("limit", n)).transpose()?,
        offset: opts
            .offset
            .map(|n| to_usize("offset", n))
            .transpose()?
            .unwrap_or(0),
        include_deleted: opts.include_deleted.unwrap_or(false),
    })
}

/// A JS value as JSON (`undefined` reads as `null`).
fn from_js(what: &str, value: JsValue) -> Result<Value, JsValue> {
    serde_wasm_bindgen::from_value(value)
        .map_err(|e| invalid(format!("{what} is not JSON-compatible: {e}")))
}

/// Any serializable result as a plain JS value (objects, arrays, numbers, strings, null): written
/// as JSON text by serde_json and read by the engine's `JSON.parse`. For rows that is several
/// times faster than building each object property by property across the boundary.
fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, JsValue> {
    let text = serde_json::to_string(value).map_err(|e| unrepresentable(e.to_string()))?;
    json_to_js(&text)
}

/// JSON text as a JS value, in one `JSON.parse`.
fn json_to_js(text: &str) -> Result<JsValue, JsValue> {
    js_sys::JSON::parse(text).map_err(|e| unrepresentable(format!("{e:?}")))
}

fn unrepresentable(why: String) -> JsValue {
    js_error(Error::Storage(format!(
        "cannot represent the result in JavaScript: {why}"
    )))
}

/// A JS number that must be a non-negative integer JS can hold exactly.
fn to_u64(what: &str, n: f64) -> Result<u64, JsValue> {
    if n.is_finite() && n >= 0.0 && n.fract() == 0.0 && n <= MAX_SAFE_INTEGER {
        Ok(n as u64)
    } else {
        Err(invalid(format!(
            "{what} must be a non-negative integer, got {n}"
        )))
    }
}

fn to_usize(what: &str, n: f64) -> Result<usize, JsValue> {
    let n = to_u64(what, n)?;
    // `usize` is 32 bits on wasm32: saturate (a limit or offset that large means "all"/"none").
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

fn invalid(message: String) -> JsValue {
    js_error(Error::InvalidArgument(message))
}

/// A remdb error as a JS `Error` with `code` (and `issues` for validation errors).
fn js_error(err: Error) -> JsValue {
    let js = js_sys::Error::new(&err.to_string());
    // Setting a property on a fresh Error object cannot fail; if it somehow did, the message
    // still carries the whole story, so the results are deliberately ignored.
    let _ = js_sys::Reflect::set(
        &js,
        &JsValue::from_str("code"),
        &JsValue::from_str(err.code()),
    );
    if let Error::Validation { issues, .. } = &err {
        if let Ok(issues) = to_js(issues) {
            let _ = js_sys::Reflect::set(&js, &JsValue::from_str("issues"), &issues);
        }
    }
    js.into()
}
