//! The embedder registry: provider spec → embedder, loaded on first use, and the store's
//! [`EmbeddingSource`]. It also runs the background worker that drains the embedding queue
//! and maintains vector indexes off the writer's path (a thread natively; where threads cannot
//! be spawned, wasm32, maintenance runs inline and the queue drains on request).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, RwLock, Weak};

use super::{Embedder, EmbedderSpec, Provider};
use crate::error::{Error, Result};
use crate::store::vectors::{EmbedMode, EmbeddingSource, IndexMeta, IndexName};
use crate::store::Tenant;
use crate::vector::maintenance_due;

/// Whether a provider can embed, as [`EmbedderRegistry::status`] reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProviderStatus {
    /// The provider spec.
    pub provider: String,
    /// Loaded and usable.
    pub ready: bool,
    /// Why it cannot embed, when not ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Vector length, when ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<usize>,
}

/// Provider specs → embedders, loaded lazily. Failed loads are remembered (and reported) until
/// [`EmbedderRegistry::register`] or [`EmbedderRegistry::retry`].
pub struct EmbedderRegistry {
    loaded: RwLock<HashMap<String, Arc<dyn Embedder>>>,
    failed: Mutex<HashMap<String, String>>,
    model_dir: Option<PathBuf>,
    mode: EmbedMode,
    worker: Worker,
}

impl std::fmt::Debug for EmbedderRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbedderRegistry")
            .field("model_dir", &self.model_dir)
            .field("mode", &self.mode)
            .finish()
    }
}

impl EmbedderRegistry {
    /// A registry loading local models from `model_dir` (default: [`EmbedderSpec::local_model_dir`]).
    pub fn new(model_dir: Option<PathBuf>, mode: EmbedMode) -> Self {
        EmbedderRegistry {
            loaded: RwLock::new(HashMap::new()),
            failed: Mutex::new(HashMap::new()),
            model_dir,
            mode,
            worker: Worker::default(),
        }
    }

    /// Uses `embedder` for `provider` (replacing any loaded one).
    pub fn register(&self, provider: &str, embedder: Arc<dyn Embedder>) {
        if let Ok(mut failed) = self.failed.lock() {
            failed.remove(provider);
        }
        if let Ok(mut loaded) = self.loaded.write() {
            loaded.insert(provider.to_string(), embedder);
        }
    }

    /// Forgets failed loads so the next use tries again (e.g. after fetching the model).
    pub fn retry(&self) {
        if let Ok(mut failed) = self.failed.lock() {
            failed.clear();
        }
    }

    /// The embedder of `provider`, loading it on first use.
    pub fn get(&self, provider: &str) -> Result<Arc<dyn Embedder>> {
        if let Some(e) = self
            .loaded
            .read()
            .ok()
            .and_then(|l| l.get(provider).cloned())
        {
            return Ok(e);
        }
        if let Some(why) = self
            .failed
            .lock()
            .ok()
            .and_then(|f| f.get(provider).cloned())
        {
            return Err(Error::Embedding(why));
        }
        match self.load(provider) {
            Ok(e) => {
                if let Ok(mut loaded) = self.loaded.write() {
                    loaded.insert(provider.to_string(), e.clone());
                }
                Ok(e)
            }
            Err(err) => {
                if let Ok(mut failed) = self.failed.lock() {
                    // The bare reason: it is re-raised as an `Embedding` error, which adds its prefix.
                    let why = match &err {
                        Error::Embedding(why) => why.clone(),
                        other => other.to_string(),
                    };
                    failed.insert(provider.to_string(), why);
                }
                Err(err)
            }
        }
    }

    /// The state of each provider used or registered so far.
    pub fn status(&self) -> Vec<ProviderStatus> {
        let mut out: Vec<ProviderStatus> = Vec::new();
        if let Ok(loaded) = self.loaded.read() {
            out.extend(loaded.iter().map(|(p, e)| ProviderStatus {
                provider: p.clone(),
                ready: true,
                error: None,
                dimensions: Some(e.dimensions()),
            }));
        }
        if let Ok(failed) = self.failed.lock() {
            out.extend(failed.iter().map(|(p, why)| ProviderStatus {
                provider: p.clone(),
                ready: false,
                error: Some(why.clone()),
                dimensions: None,
            }));
        }
        out.sort_by(|a, b| a.provider.cmp(&b.provider));
        out
    }

    fn load(&self, provider: &str) -> Result<Arc<dyn Embedder>> {
        let spec = EmbedderSpec::parse(provider)?;
        match spec.provider {
            Provider::Local => self.load_local(&spec),
            Provider::OpenAi | Provider::Cohere => {
                Ok(Arc::new(super::HttpEmbedder::from_spec(&spec)?))
            }
        }
    }

    #[cfg(feature = "embeddings")]
    fn load_local(&self, spec: &EmbedderSpec) -> Result<Arc<dyn Embedder>> {
        let dir = self
            .model_dir
            .clone()
            .unwrap_or_else(|| spec.local_model_dir());
        shared_local_model(dir, &spec.to_string())
    }

    #[cfg(not(feature = "embeddings"))]
    fn load_local(&self, spec: &EmbedderSpec) -> Result<Arc<dyn Embedder>> {
        Err(Error::Embedding(format!(
            "{spec}: this build has no in-module embeddings (enable the `embeddings` feature)"
        )))
    }

    /// Stops the background worker after its current job; later work runs inline or on flush.
    pub fn shutdown(&self) {
        self.worker.shutdown();
    }

    /// Runs queued embedding work and due index maintenance of `tenant` now, in this thread,
    /// until the queue holds only work no provider can do. Waits for a running worker first.
    pub fn flush(&self, tenant: &Tenant) -> Result<crate::vector::DrainReport> {
        let _idle = self.worker.pause()?;
        let mut total = crate::vector::DrainReport::default();
        loop {
            let r = tenant.drain_embeddings(1024)?;
            total.embedded += r.embedded;
            total.dropped += r.dropped;
            total.remaining = r.remaining;
            if r.embedded == 0 && r.dropped == 0 {
                break;
            }
        }
        let indexes: Vec<IndexName> = tenant
            .table_names()?
            .iter()
            .map(|t| tenant.vector_indexes(t))
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .flatten()
            .map(|(i, _)| i)
            .collect();
        tenant.maintain_vectors(&indexes)?;
        Ok(total)
    }
}

/// A model loaded once per process and directory: every database of the process shares it.
#[cfg(feature = "embeddings")]
fn shared_local_model(dir: PathBuf, name: &str) -> Result<Arc<dyn Embedder>> {
    type Models = Mutex<HashMap<(PathBuf, String), Arc<super::LocalEmbedder>>>;
    static MODELS: std::sync::OnceLock<Models> = std::sync::OnceLock::new();
    let models = MODELS.get_or_init(|| Mutex::new(HashMap::new()));
    let mut models = models
        .lock()
        .map_err(|_| Error::Embedding("model cache lock poisoned".into()))?;
    let key = (dir.clone(), name.to_string());
    if let Some(m) = models.get(&key) {
        return Ok(m.clone());
    }
    let model = Arc::new(super::LocalEmbedder::from_files(&dir)?.with_name(name));
    models.insert(key, model.clone());
    Ok(model)
}

impl EmbeddingSource for EmbedderRegistry {
    fn embed(&self, provider: &str, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        self.get(provider)?.embed(texts)
    }

    fn embed_query(&self, provider: &str, text: &str) -> Result<Vec<f32>> {
        self.get(provider)?.embed_query(text)
    }

    fn can_embed(&self, provider: &str) -> bool {
        self.get(provider).is_ok_and(|e| e.is_sync())
    }

    fn after_write(&self, tenant: &Tenant, changed: &[(IndexName, IndexMeta)], queued: bool) {
        let due: Vec<IndexName> = changed
            .iter()
            .filter(|(_, meta)| maintenance_due(meta))
            .map(|(index, _)| index.clone())
            .collect();
        let drain = queued && self.mode == EmbedMode::Background;
        if due.is_empty() && !drain {
            return;
        }
        if !self.worker.submit(tenant, due.clone(), drain) {
            // No threads here: maintain inline; queued work waits for an explicit flush.
            let _ = tenant.maintain_vectors(&due);
        }
    }
}

/// Work for the background thread: per tenant, indexes to maintain and whether to drain.
#[derive(Default)]
struct Jobs {
    tenants: HashMap<String, (Weak<crate::store::Store>, HashSet<IndexName>, bool)>,
    busy: bool,
    paused: usize,
    stop: bool,
}

#[derive(Default)]
struct Worker {
    state: Arc<(Mutex<Jobs>, Condvar)>,
    /// `None`: not started yet; `Some(None)`: threads unavailable; `Some(Some(h))`: running.
    thread: Mutex<Option<Option<std::thread::JoinHandle<()>>>>,
}

impl Worker {
    /// Stops the thread after the job in hand (queued work stays in the durable queue).
    fn shutdown(&self) {
        let (lock, cvar) = &*self.state;
        if let Ok(mut jobs) = lock.lock() {
            jobs.stop = true;
        }
        cvar.notify_all();
        let handle = self
            .thread
            .lock()
            .ok()
            .and_then(|mut t| t.as_mut().and_then(Option::take));
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Holds the worker idle while alive.
struct Paused<'a>(&'a Worker);

impl Drop for Paused<'_> {
    fn drop(&mut self) {
        let (lock, cvar) = &*self.0.state;
        if let Ok(mut jobs) = lock.lock() {
            jobs.paused -= 1;
        }
        cvar.notify_all();
    }
}

impl Worker {
    /// Queues a job; `false` when no background thread can run (then the caller does it).
    fn submit(&self, tenant: &Tenant, indexes: Vec<IndexName>, drain: bool) -> bool {
        if !self.ensure_started() {
            return false;
        }
        let (lock, cvar) = &*self.state;
        let Ok(mut jobs) = lock.lock() else {
            return false;
        };
        let entry = jobs
            .tenants
            .entry(tenant.name().to_string())
            .or_insert_with(|| (tenant.store_weak(), HashSet::new(), false));
        entry.1.extend(indexes);
        entry.2 |= drain;
        cvar.notify_all();
        true
    }

    /// Waits until the worker is idle and keeps it idle while the guard lives.
    fn pause(&self) -> Result<Paused<'_>> {
        let (lock, cvar) = &*self.state;
        let mut jobs = lock
            .lock()
            .map_err(|_| Error::storage("worker lock poisoned"))?;
        jobs.paused += 1;
        while jobs.busy {
            jobs = cvar
                .wait(jobs)
                .map_err(|_| Error::storage("worker lock poisoned"))?;
        }
        Ok(Paused(self))
    }

    fn ensure_started(&self) -> bool {
        let Ok(mut thread) = self.thread.lock() else {
            return false;
        };
        if let Some(started) = &*thread {
            return started.is_some() && self.state.0.lock().is_ok_and(|j| !j.stop);
        }
        let state = self.state.clone();
        let handle = std::thread::Builder::new()
            .name("remdb-embed".into())
            .spawn(move || run_worker(&state))
            .ok();
        let ok = handle.is_some();
        *thread = Some(handle);
        ok
    }
}

/// Rows the background worker drains before checking for a shutdown.
const DRAIN_STEP: usize = 64;

fn run_worker(state: &(Mutex<Jobs>, Condvar)) {
    let (lock, cvar) = state;
    loop {
        let job = {
            let Ok(mut jobs) = lock.lock() else { return };
            loop {
                if jobs.stop {
                    return;
                }
                if jobs.paused == 0 {
                    if let Some(name) = jobs.tenants.keys().next().cloned() {
                        let job = jobs.tenants.remove(&name).map(|j| (name, j));
                        jobs.busy = true;
                        break job;
                    }
                }
                jobs = match cvar.wait(jobs) {
                    Ok(j) => j,
                    Err(_) => return,
                };
            }
        };
        if let Some((name, (store, indexes, drain))) = job {
            if let Some(tenant) = store.upgrade().and_then(|s| Tenant::new(s, &name).ok()) {
                // Drain in steps, so a shutdown (the database closing) waits for one step only;
                // the rest stays in the durable queue.
                let more = drain
                    && tenant
                        .drain_embeddings(DRAIN_STEP)
                        .is_ok_and(|r| r.remaining > 0 && r.embedded + r.dropped > 0);
                if more {
                    if let Ok(mut jobs) = lock.lock() {
                        if !jobs.stop {
                            let entry = jobs
                                .tenants
                                .entry(name.clone())
                                .or_insert_with(|| (store.clone(), HashSet::new(), false));
                            entry.2 = true;
                        }
                    }
                }
                let indexes: Vec<IndexName> = indexes.into_iter().collect();
                let _ = tenant.maintain_vectors(&indexes);
            }
        }
        if let Ok(mut jobs) = lock.lock() {
            jobs.busy = false;
        }
        cvar.notify_all();
    }
}
