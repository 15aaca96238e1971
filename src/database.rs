//! Opening a database and getting tenant handles: the entry point of the Rust API.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::embed::{
    EmbedderRegistry, DEFAULT_EMBEDDING_ENV, DEFAULT_LOCAL_MODEL, EMBEDDING_MODE_ENV,
};
use crate::error::{Error, Result};
use crate::kv::{self, Backend, Kv};
use crate::store::vectors::{EmbedMode, EmbedSettings};
use crate::store::{Store, TenantStore, WriteLimits};
use crate::tenant::Tenant;
use crate::vector::{DrainReport, Maintainer};

/// The tenant used when none is named.
pub const DEFAULT_TENANT: &str = "default";

/// How to open a [`Database`].
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Storage engine; `None` uses the one already in the directory, else redb.
    pub backend: Option<Backend>,
    /// When embedded fields become vectors; `None`: `$REM_EMBEDDING_MODE`, else inline.
    pub embedding_mode: Option<EmbedMode>,
    /// Provider of tables whose schema names none; `None`: `$REM_DEFAULT_EMBEDDING`, else
    /// `local:all-MiniLM-L6-v2`.
    pub default_embedding: Option<String>,
    /// Directory of the local model; `None`: `$REM_MODEL_DIR`, else `./models/<model>`.
    pub model_dir: Option<PathBuf>,
    /// Open an existing database without writing to its files (every write fails with a
    /// `STORAGE` error); a missing database is `NOT_FOUND` instead of being created.
    pub read_only: bool,
    /// How long to wait for another process to release the database's lock; `None` fails at
    /// once (the `rem` CLI waits 5 s).
    pub lock_timeout: Option<std::time::Duration>,
    /// Largest row (its JSON, in bytes) a write accepts; `None`: `$REM_MAX_ROW_BYTES`, else
    /// [`DEFAULT_MAX_ROW_BYTES`](crate::DEFAULT_MAX_ROW_BYTES) (16 MiB). Larger rows fail with
    /// `LIMIT` and write nothing.
    pub max_row_bytes: Option<usize>,
    /// The work every query and graph walk of this database may do (rows examined, memory,
    /// time); unset settings are at the defaults of [`crate::budget`]. A call's own budget
    /// ([`Tenant::sql_with`], `PathOptions::budget`, `TraverseOptions::budget`) wins.
    pub budget: crate::Budget,
}

/// Environment variable with the default maximum row size in bytes.
pub const MAX_ROW_BYTES_ENV: &str = "REM_MAX_ROW_BYTES";

impl OpenOptions {
    fn write_limits(&self) -> Result<WriteLimits> {
        let max_row_bytes = match (self.max_row_bytes, std::env::var(MAX_ROW_BYTES_ENV).ok()) {
            (Some(n), _) => n,
            (None, Some(v)) if !v.trim().is_empty() => v.trim().parse().map_err(|_| {
                Error::InvalidArgument(format!(
                    "{MAX_ROW_BYTES_ENV} must be a number of bytes, got {v:?}"
                ))
            })?,
            _ => crate::store::DEFAULT_MAX_ROW_BYTES,
        };
        if max_row_bytes == 0 {
            return Err(Error::InvalidArgument(
                "the maximum row size must be at least 1 byte".into(),
            ));
        }
        Ok(WriteLimits { max_row_bytes })
    }

    fn embed_settings(&self) -> Result<(EmbedSettings, Arc<EmbedderRegistry>, Arc<Maintainer>)> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let mode = match (self.embedding_mode, env(EMBEDDING_MODE_ENV)) {
            (Some(m), _) => m,
            (None, Some(m)) => m
                .parse()
                .map_err(|e: Error| Error::InvalidArgument(format!("{EMBEDDING_MODE_ENV}: {e}")))?,
            (None, None) => EmbedMode::Inline,
        };
        let provider = self
            .default_embedding
            .clone()
            .or_else(|| env(DEFAULT_EMBEDDING_ENV))
            .unwrap_or_else(|| format!("local:{DEFAULT_LOCAL_MODEL}"));
        let provider = crate::embed::EmbedderSpec::parse(&provider)?.to_string();
        let registry = Arc::new(EmbedderRegistry::new(self.model_dir.clone()));
        let settings = EmbedSettings {
            mode,
            default_provider: Some(provider),
            source: Some(registry.clone()),
        };
        Ok((settings, registry, Arc::new(Maintainer::new(mode))))
    }
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
    /// Declared first: dropped (stopping the worker) before the store handle goes.
    _closer: Arc<Closer>,
    store: Arc<Store>,
    path: Option<PathBuf>,
    embedders: Arc<EmbedderRegistry>,
    maintainer: Arc<Maintainer>,
    /// The database's query budget (see [`OpenOptions::budget`]), handed to every tenant.
    budget: crate::Budget,
}

/// Stops the background worker when the last [`Database`] handle goes, so the files are
/// released as soon as the database is dropped.
struct Closer(Arc<Maintainer>);

impl Drop for Closer {
    fn drop(&mut self) {
        self.0.shutdown();
    }
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("backend", &self.backend_name())
            .field("path", &self.path)
            .finish()
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
        let backend = options
            .backend
            .or_else(|| kv::detect(dir))
            .unwrap_or(Backend::Redb);
        let kv = kv::open_with(
            backend,
            dir,
            &kv::KvOptions {
                read_only: options.read_only,
                lock_timeout: options.lock_timeout.unwrap_or_default(),
            },
        )?;
        let path = (backend != Backend::Memory).then(|| dir.to_path_buf());
        Self::assemble(kv, path, options)
    }

    /// Verifies the database in `dir` (the backend already there, or `options.backend`) without
    /// writing to it: the backend's integrity check where it has one, a read of every key, then
    /// (when those found nothing) a decode of every row. Damage is listed in the report's
    /// `problems`; an `Err` means the check could not run.
    pub fn check(dir: impl AsRef<Path>, options: &OpenOptions) -> Result<kv::CheckReport> {
        let dir = dir.as_ref();
        let backend = options
            .backend
            .or_else(|| kv::detect(dir))
            .ok_or_else(|| Error::NotFound(format!("no database in {}", dir.display())))?;
        let mut report = kv::check(backend, dir, options.lock_timeout.unwrap_or_default())?;
        if report.is_ok() {
            // The KV is sound: decode every row too, which its checks cannot judge.
            let read_only = OpenOptions {
                backend: Some(backend),
                read_only: true,
                embedding_mode: Some(EmbedMode::Off),
                ..options.clone()
            };
            let db = Database::open_with(dir, &read_only)?;
            for name in db.tenants()? {
                let tenant = TenantStore::new(db.store.clone(), &name)?;
                tenant.check_rows(&mut |problem| report.problems.push(problem))?;
            }
        }
        Ok(report)
    }

    /// A fresh in-memory database.
    pub fn memory() -> Self {
        Self::with_kv(Arc::new(kv::MemoryKv::new()))
    }

    /// A database over any [`Kv`] implementation (e.g. redb over [`kv::MemoryPages`]).
    pub fn with_kv(kv: Arc<dyn Kv>) -> Self {
        Self::with_kv_options(kv, &OpenOptions::default()).unwrap_or_else(|_| {
            // Only a malformed environment variable fails: fall back to the built-in defaults.
            let options = OpenOptions {
                embedding_mode: Some(EmbedMode::Inline),
                default_embedding: Some(format!("local:{DEFAULT_LOCAL_MODEL}")),
                ..OpenOptions::default()
            };
            Self::with_kv_options(Arc::new(kv::MemoryKv::new()), &options)
                .expect("defaults are valid")
        })
    }

    /// A database over any [`Kv`] implementation with explicit options (`backend` is ignored).
    pub fn with_kv_options(kv: Arc<dyn Kv>, options: &OpenOptions) -> Result<Self> {
        Self::assemble(kv, None, options)
    }

    fn assemble(kv: Arc<dyn Kv>, path: Option<PathBuf>, options: &OpenOptions) -> Result<Self> {
        let (settings, embedders, maintainer) = options.embed_settings()?;
        let limits = options.write_limits()?;
        let store = Arc::new(Store::new(kv));
        store.set_limits(limits);
        store.set_embed_settings(settings);
        store.set_commit_hook(maintainer.clone());
        if !options.read_only {
            // Full-text indexes an older remdb wrote are rebuilt in the current format.
            for name in store.tenants()? {
                TenantStore::new(store.clone(), &name)?.upgrade_fulltext()?;
            }
        }
        Ok(Database {
            _closer: Arc::new(Closer(maintainer.clone())),
            store,
            path,
            embedders,
            maintainer,
            budget: options.budget,
        })
    }

    /// A handle on one tenant. Names are 1–128 bytes without control characters.
    pub fn tenant(&self, name: &str) -> Result<Tenant> {
        TenantStore::new(self.store.clone(), name).map(|t| Tenant::new(t, self.budget))
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

    /// The embedders of this database: register one, see which providers are ready.
    pub fn embedders(&self) -> &EmbedderRegistry {
        &self.embedders
    }

    /// The embedding mode and default provider in effect.
    pub fn embed_settings(&self) -> EmbedSettings {
        self.store.embed_settings()
    }

    /// Computes all queued embedding work of every tenant now and runs due index maintenance;
    /// returns what is left (work for providers that cannot embed now).
    pub fn flush(&self) -> Result<DrainReport> {
        let mut total = DrainReport::default();
        for name in self.tenants()? {
            let r = self
                .maintainer
                .flush(&TenantStore::new(self.store.clone(), &name)?)?;
            total.embedded += r.embedded;
            total.dropped += r.dropped;
            total.remaining += r.remaining;
        }
        Ok(total)
    }
}
