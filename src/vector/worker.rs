//! The background worker of vector indexing: after a commit it drains queued embedding work
//! (in background mode) and runs due index maintenance off the writer's path — in a thread
//! natively; where threads cannot be spawned (wasm32) maintenance runs inline and the queue
//! drains on request ([`Maintainer::flush`]).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Condvar, Mutex, Weak};

use super::{maintenance_due, DrainReport};
use crate::error::{Error, Result};
use crate::store::vectors::{CommitHook, EmbedMode, IndexMeta, IndexName};
use crate::store::TenantStore;

/// Keeps the vector indexes of one database up to date after each commit (see the module doc).
#[derive(Default)]
pub(crate) struct Maintainer {
    mode: EmbedMode,
    worker: Worker,
    /// Decoded segments and pending sets of this database's indexes, by key (see `index.rs`).
    pub(super) cache: Mutex<HashMap<Vec<u8>, Arc<dyn std::any::Any + Send + Sync>>>,
    /// Serializes index maintenance (segment builds and merges).
    pub(super) maintenance: Mutex<()>,
}

/// Runs `f` with the vector layer's state of `tenant`'s database: the [`Maintainer`] that
/// [`Database`](crate::Database) installs as the store's commit hook (`None` without one).
pub(crate) fn with_maintainer<R>(
    tenant: &TenantStore,
    f: impl FnOnce(&Maintainer) -> R,
) -> Option<R> {
    let hook = tenant.store().commit_hook()?;
    hook.as_any().downcast_ref::<Maintainer>().map(f)
}

impl std::fmt::Debug for Maintainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Maintainer")
            .field("mode", &self.mode)
            .finish()
    }
}

impl Maintainer {
    /// A maintainer draining the queue in the background when `mode` is `Background`.
    pub(crate) fn new(mode: EmbedMode) -> Self {
        Maintainer {
            mode,
            worker: Worker::default(),
            cache: Mutex::new(HashMap::new()),
            maintenance: Mutex::new(()),
        }
    }

    /// Stops the background worker after its current job; later work runs inline or on flush.
    pub(crate) fn shutdown(&self) {
        self.worker.shutdown();
    }

    /// Runs queued embedding work and due index maintenance of `tenant` now, in this thread,
    /// until the queue holds only work no provider can do. Waits for a running worker first.
    pub(crate) fn flush(&self, tenant: &TenantStore) -> Result<DrainReport> {
        let _idle = self.worker.pause()?;
        let mut total = DrainReport::default();
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

impl CommitHook for Maintainer {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn after_commit(&self, tenant: &TenantStore, changed: &[(IndexName, IndexMeta)], queued: bool) {
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
    fn submit(&self, tenant: &TenantStore, indexes: Vec<IndexName>, drain: bool) -> bool {
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
            if let Some(tenant) = store
                .upgrade()
                .and_then(|s| TenantStore::new(s, &name).ok())
            {
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
