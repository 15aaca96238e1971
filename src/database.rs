//! Opening a database and getting tenant handles: the entry point of the Rust API.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::Result;
use crate::kv::{self, Backend, Kv};
use crate::store::{Store, Tenant};

/// The tenant used when none is named.
pub const DEFAULT_TENANT: &str = "default";

/// How to open a [`Database`].
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Storage engine; `None` uses the one already in the directory, else redb.
    pub backend: Option<Backend>,
}

/// An open remdb database: a KV store shared by any number of tenants.
///
/// ```
/// use remdb::Database;
/// use serde_json::json;
///
/// let db = Database::memory();
/// let tenant = db.tenant("acme")?;
/// tenant.init()?; // built-in tables
/// let id = tenant.insert("resources", json!({"name": "readme", "content": "hello"}))?;
/// assert_eq!(tenant.get(&id.to_string())?.unwrap()["content"], "hello");
/// # Ok::<(), remdb::Error>(())
/// ```
#[derive(Clone)]
pub struct Database {
    store: Arc<Store>,
    path: Option<PathBuf>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database").field("backend", &self.backend_name()).field("path", &self.path).finish()
    }
}

impl Database {
    /// Opens (or creates) the database in directory `dir` with the backend already there, or redb.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(dir, &OpenOptions::default())
    }

    /// Opens (or creates) the database in directory `dir` with explicit options.
    pub fn open_with(dir: impl AsRef<Path>, options: &OpenOptions) -> Result<Self> {
        let dir = dir.as_ref();
        let backend = options.backend.or_else(|| kv::detect(dir)).unwrap_or(Backend::Redb);
        let kv = kv::open(backend, dir)?;
        Ok(Database { store: Arc::new(Store::new(kv)), path: (backend != Backend::Memory).then(|| dir.to_path_buf()) })
    }

    /// A fresh in-memory database.
    pub fn memory() -> Self {
        Self::with_kv(Arc::new(kv::MemoryKv::new()))
    }

    /// A database over any [`Kv`] implementation (e.g. redb over [`kv::MemoryPages`]).
    pub fn with_kv(kv: Arc<dyn Kv>) -> Self {
        Database { store: Arc::new(Store::new(kv)), path: None }
    }

    /// A handle on one tenant. Names are 1–128 bytes without control characters.
    pub fn tenant(&self, name: &str) -> Result<Tenant> {
        Tenant::new(self.store.clone(), name)
    }

    /// Tenants that have written anything, sorted.
    pub fn tenants(&self) -> Result<Vec<String>> {
        self.store.tenants()
    }

    /// Short name of the storage backend (`memory`, `redb`, `rocksdb`).
    pub fn backend_name(&self) -> &'static str {
        self.store.kv().backend_name()
    }

    /// The directory the database lives in (none in memory).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
}
