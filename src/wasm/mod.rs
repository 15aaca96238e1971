//! The JavaScript face (wasm-bindgen): one [`RemDb`] class over a database and one tenant.
//!
//! What it offers, by file:
//! - here: opening ([`RemDb::open_memory`], [`RemDb::open_redb_memory`], [`RemDb::open_with`]
//!   over a persisted [`PageImage`]), the page chunks a write changed (`takeDirty`), handles on
//!   other tenants (`forTenant`);
//! - [`entities`]: tables and their rows (register, insert, get, update, delete, list, count),
//!   SQL, and the write-ahead log (`walSeq`, `walEntries`, `applyWal`);
//! - [`graph`]: edges, neighbours, traversal, paths and cycles;
//! - [`vectors`]: in-module models, embedding, vector search (with a `where` filter),
//!   caller-supplied vectors, index optimisation and the embedding status;
//! - [`remote`]: embedders that answer asynchronously (HTTP; the JavaScript functions of
//!   [`custom`]) and the async methods that await them (`embedAsync`, `searchAsync`, `sqlAsync`,
//!   `embeddingsIdle`), and the async drain of queued work;
//! - [`ask`]: natural-language questions (`askStart`, `askResume`): sessions that await async
//!   embedders, `fetch` to an LLM, or the app's own LLM function;
//! - [`sync`]: the steps of a sync round (`syncNextPush`, `syncTakePush`, `syncNextPull`,
//!   `syncTakePull`, `syncTakeSnapshot`) that js/api.js's `RemDB.sync` drives with `fetch`, and `syncStatus`,
//!   `conflicts`, `rejected`;
//! - [`custom`]: `custom:NAME` providers backed by a JavaScript function (`useCustomEmbedder`);
//! - [`convert`]: JS values to and from Rust, and remdb errors as JS errors;
//! - [`alloc`]: the module's allocator, which grows linear memory in steps (feature
//!   `wasm-allocator`, on by default).
//!
//! Values cross as plain JSON-compatible JS objects (never `Map`s). Failures are thrown as JS
//! `Error`s whose `message` is the remdb error text, with a stable `code` (see [`Error::code`])
//! and, for `VALIDATION` errors, an `issues` array of `{pointer, reason}`. Nothing here panics on
//! bad input: malformed values and numbers become `INVALID_ARGUMENT` errors. The npm package's
//! `RemDB` class (js/api.js) wraps this one; js/api-list.json lists the operations of every face.

#[cfg(feature = "wasm-allocator")]
mod alloc;
mod ask;
mod convert;
mod custom;
mod entities;
mod graph;
mod ingest;
mod remote;
mod sync;
mod vectors;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use serde::Deserialize;
use wasm_bindgen::prelude::*;

use self::convert::{invalid, js_error, options, to_u64, to_usize};
use self::remote::{AsyncEmbedders, QueryCache};
use crate::kv::{MemoryPages, RedbKv};
use crate::{Database, Error, Tenant, DEFAULT_TENANT};

/// A remdb database and one of its tenants, as seen from JavaScript.
#[wasm_bindgen]
pub struct RemDb {
    db: Database,
    tenant: Tenant,
    /// The async drain task is running.
    draining: Rc<Cell<bool>>,
    /// Embedders usable only asynchronously here (HTTP, custom JavaScript), by provider spec.
    remote: AsyncEmbedders,
    /// Query vectors the async embedders computed for `sqlAsync`, kept for reuse.
    queries: Rc<RefCell<QueryCache>>,
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
    max_row_bytes: Option<f64>,
    budget: Option<convert::JsBudget>,
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
            queries: Rc::new(RefCell::new(QueryCache::default())),
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
    /// "memory" | "pages", embeddingMode: "inline" | "background" | "off", defaultEmbedding,
    /// budget: {maxRowsExamined, maxMemoryBytes, maxTimeMs}}` (`budget`: every query's and graph
    /// walk's, unless a call gives its own).
    /// A page-backed database reports what each write changed through
    /// [`takeDirty`](Self::take_dirty).
    #[wasm_bindgen(js_name = openWith)]
    pub fn open_with(image: Option<PageImage>, opts: JsValue) -> Result<RemDb, JsValue> {
        let o: JsOpenOptions = options(
            "open options",
            "{tenant, storage, embeddingMode, defaultEmbedding, maxRowBytes, budget}",
            opts,
        )?;
        let max_row_bytes = o
            .max_row_bytes
            .map(|n| to_usize("maxRowBytes", n))
            .transpose()?;
        let options = crate::OpenOptions {
            embedding_mode: o.embedding_mode,
            default_embedding: o.default_embedding,
            max_row_bytes,
            budget: convert::budget_of(o.budget)?,
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
}
