//! Change notification: listeners told after every commit that logged something, with the
//! tenant's WAL positions it took and the tables it touched. The write path calls
//! [`Listeners::notify`] once per commit, after the writer lock is released.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use serde::Serialize;

/// Where a committed change came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeOrigin {
    /// A write through this database's API (on a hub: a merged push).
    Local,
    /// Rows a sync round took from a hub (a pull, or the hub's answer to a push).
    Hub,
    /// Another database's WAL replayed (`wal apply`).
    Replay,
}

/// One committed write of one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The tenant written.
    pub tenant: String,
    /// The first WAL sequence number the commit took.
    pub first_seq: u64,
    /// The last WAL sequence number the commit took.
    pub last_seq: u64,
    /// Tables whose rows, schema or edges the commit changed, sorted.
    pub tables: Vec<String>,
    /// Where the change came from.
    pub origin: ChangeOrigin,
}

type Callback = Arc<dyn Fn(&Change) + Send + Sync>;

/// The listeners of one database.
#[derive(Default)]
pub(crate) struct Listeners {
    next: AtomicU64,
    by_id: RwLock<Vec<(u64, Arc<str>, Callback)>>,
}

impl Listeners {
    /// Adds a listener for `tenant`'s changes; returns its id for [`remove`](Self::remove).
    pub(crate) fn add(&self, tenant: Arc<str>, f: Callback) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut all) = self.by_id.write() {
            all.push((id, tenant, f));
        }
        id
    }

    /// Removes listener `id` (absent ids are fine).
    pub(crate) fn remove(&self, id: u64) {
        if let Ok(mut all) = self.by_id.write() {
            all.retain(|(i, _, _)| *i != id);
        }
    }

    /// Calls every listener of `change.tenant`. The list is copied first, so a listener may
    /// write (and be told again) or unsubscribe without deadlocking.
    pub(crate) fn notify(&self, change: &Change) {
        let wanted: Vec<Callback> = match self.by_id.read() {
            Ok(all) => all
                .iter()
                .filter(|(_, t, _)| **t == *change.tenant)
                .map(|(_, _, f)| f.clone())
                .collect(),
            Err(_) => return,
        };
        for f in wanted {
            f(change);
        }
    }

    /// Whether anyone listens (the write path skips building changes otherwise).
    pub(crate) fn any(&self) -> bool {
        self.by_id.read().is_ok_and(|all| !all.is_empty())
    }
}

/// Keeps a change listener ([`Tenant::on_change`](crate::Tenant::on_change)) or a live query
/// ([`Tenant::live`](crate::Tenant::live)) running; dropping it (or
/// [`unsubscribe`](Self::unsubscribe)) stops it.
#[must_use = "the listener stops when the subscription is dropped"]
pub struct ChangeSubscription {
    store: Arc<super::Store>,
    id: u64,
}

impl ChangeSubscription {
    pub(crate) fn new(store: Arc<super::Store>, id: u64) -> Self {
        ChangeSubscription { store, id }
    }

    /// Stops the listener now (the same as dropping the subscription).
    pub fn unsubscribe(self) {}
}

impl Drop for ChangeSubscription {
    fn drop(&mut self) {
        self.store.listeners.remove(self.id);
    }
}

impl std::fmt::Debug for ChangeSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeSubscription")
            .field("id", &self.id)
            .finish()
    }
}

/// What a transaction gathers for its [`Change`].
#[derive(Debug, Default)]
pub(crate) struct Touched {
    pub(crate) tables: BTreeSet<String>,
    /// Some entry applied the hub's state (a sync round).
    pub(crate) from_hub: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn listeners_hear_their_tenant_only_until_removed() {
        let listeners = Listeners::default();
        let heard = Arc::new(Mutex::new(Vec::new()));
        let h = heard.clone();
        let id = listeners.add(
            "a".into(),
            Arc::new(move |c: &Change| h.lock().unwrap().push(c.last_seq)),
        );
        let change = |tenant: &str, seq| Change {
            tenant: tenant.into(),
            first_seq: seq,
            last_seq: seq,
            tables: vec![],
            origin: ChangeOrigin::Local,
        };
        listeners.notify(&change("a", 1));
        listeners.notify(&change("b", 2));
        listeners.remove(id);
        listeners.notify(&change("a", 3));
        assert_eq!(*heard.lock().unwrap(), vec![1]);
        assert!(!listeners.any());
    }
}
