//! A process-wide cache of what `ask` derives from one tenant state (the value dictionary, the
//! name catalog), keyed by the store, the tenant and its WAL sequence number, which every write
//! moves: questions between writes share one build, the first after a write rebuilds.

use std::sync::{Arc, Mutex, Weak};

use crate::error::Result;
use crate::store::{Store, TenantStore};

type Entry<T> = (Weak<Store>, String, u64, Arc<T>);

/// At most `capacity` builds, the oldest dropped first; one per (store, tenant).
pub(crate) struct TenantCache<T> {
    entries: Mutex<Vec<Entry<T>>>,
    capacity: usize,
}

impl<T> TenantCache<T> {
    /// An empty cache.
    pub const fn new(capacity: usize) -> Self {
        TenantCache {
            entries: Mutex::new(Vec::new()),
            capacity,
        }
    }

    /// The build of `store`'s tenant as it is now: cached, or made by `build` and kept.
    pub fn get_or_build(
        &self,
        store: &TenantStore,
        build: impl FnOnce() -> Result<T>,
    ) -> Result<Arc<T>> {
        let seq = store.wal_seq()?;
        let weak = store.store_weak();
        let this = |w: &Weak<Store>, t: &str| w.ptr_eq(&weak) && t == store.name();
        {
            let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((_, _, _, built)) =
                entries.iter().find(|(w, t, s, _)| this(w, t) && *s == seq)
            {
                return Ok(built.clone());
            }
        }
        let built = Arc::new(build()?);
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.retain(|(w, t, _, _)| w.strong_count() > 0 && !this(w, t));
        if entries.len() >= self.capacity {
            entries.remove(0);
        }
        entries.push((weak.clone(), store.name().to_string(), seq, built.clone()));
        Ok(built)
    }
}
