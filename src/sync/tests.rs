//! Convergence, proven on random histories: 2–4 devices and a hub; random inserts, upserts,
//! field sets and unsets, deletes, undeletes, purges, links and unlinks; partitions, lost
//! requests and answers, duplicated and delayed pushes, clocks up to an hour off, devices whose
//! process dies in a commit of a sync round (before it is durable or right after) and restarts
//! over what their storage kept, hub compactions that force snapshots. After healing
//! and syncing until quiet, every device equals the hub, no outbox op is left unaccounted, the
//! hub's fields are what per-field last-writer-wins over the taken ops says, and a `wal apply`
//! follower of the hub equals the hub. A merge broken on purpose makes the oracle fail.

use std::cell::RefCell;
use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{json, Value};

use super::hub::{Retention, Rights, BREAK_MERGE};
use super::protocol::{
    PullPlan, PullResponse, PushRequest, PushResponse, SnapshotPage, SyncOp, MAX_PULL_ENTRIES,
    MAX_SNAPSHOT_ITEMS,
};
use super::HubConnection;
use crate::error::{Error, Result};
use crate::store::{is_deleted, Row, WalOp};
use crate::{Database, ListOptions, Tenant};

const KEYS: usize = 4;

fn item_schema() -> Value {
    json!({
        "title": "Item", "type": "object",
        "properties": {
            "key": {"type": "string"}, "title": {"type": "string"},
            "n": {"type": "integer"}, "tags": {"type": "array", "items": {"type": "string"}}
        },
        "required": ["key"],
        "json_schema_extra": {"key_field": "key", "indexed_fields": ["n"]}
    })
}

/// `n` devices: tenant `default` of their own memory databases (kept alive beside them).
fn memory_devices(n: usize) -> (Vec<Database>, Vec<Tenant>) {
    let dbs: Vec<Database> = (0..n).map(|_| Database::memory()).collect();
    let devs = dbs.iter().map(|d| d.tenant("default").unwrap()).collect();
    (dbs, devs)
}

/// A memory KV whose process can die in a commit: armed with `(n, landed)`, its `n + 1`-th
/// next write fails, after writing its batch when `landed` (the storage keeps what was
/// committed, as a disk does).
struct CrashableKv {
    inner: crate::kv::MemoryKv,
    crash_in: std::sync::Mutex<Option<(u8, bool)>>,
}

impl crate::kv::Kv for CrashableKv {
    fn backend_name(&self) -> &'static str {
        self.inner.backend_name()
    }
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.inner.get(key)
    }
    fn scan(
        &self,
        range: &crate::kv::KeyRange,
        direction: crate::kv::Direction,
    ) -> Result<crate::kv::KvIter<'_>> {
        self.inner.scan(range, direction)
    }
    fn write(&self, batch: crate::kv::WriteBatch) -> Result<()> {
        let mut crash_in = self.crash_in.lock().unwrap_or_else(|e| e.into_inner());
        match *crash_in {
            Some((0, landed)) => {
                *crash_in = None;
                if landed {
                    self.inner.write(batch)?;
                }
                Err(Error::Storage("the process died in this commit".into()))
            }
            Some((n, landed)) => {
                *crash_in = Some((n - 1, landed));
                self.inner.write(batch)
            }
            None => self.inner.write(batch),
        }
    }
    fn snapshot(&self) -> Result<Box<dyn crate::kv::KvSnapshot + '_>> {
        self.inner.snapshot()
    }
}

/// A device over `kv`, as its process starts.
fn open_device(kv: &std::sync::Arc<CrashableKv>) -> (Database, Tenant) {
    let db = Database::with_kv_options(kv.clone(), &crate::OpenOptions::default()).unwrap();
    let t = db.tenant("default").unwrap();
    (db, t)
}

/// A hub (tenant `acme` of a memory database, with `schema`) and its devices.
struct Fleet {
    _dbs: Vec<Database>,
    hub: Tenant,
    devs: Vec<Tenant>,
}

/// A [`Fleet`] of `n` devices.
fn fleet(schema: Value, n: usize) -> Fleet {
    let hub_db = Database::memory();
    let hub = hub_db.tenant("acme").unwrap();
    hub.register_schema(schema).unwrap();
    let (mut dbs, devs) = memory_devices(n);
    dbs.push(hub_db);
    Fleet {
        _dbs: dbs,
        hub,
        devs,
    }
}

#[derive(Debug, Clone)]
enum Step {
    Insert {
        dev: usize,
        key: usize,
        title: u8,
        n: i64,
    },
    SetField {
        dev: usize,
        key: usize,
        field: usize,
        value: i64,
    },
    Unset {
        dev: usize,
        key: usize,
        field: usize,
    },
    Delete {
        dev: usize,
        key: usize,
    },
    Purge {
        dev: usize,
        key: usize,
    },
    Link {
        dev: usize,
        a: usize,
        b: usize,
    },
    Unlink {
        dev: usize,
        a: usize,
        b: usize,
    },
    Sync {
        dev: usize,
    },
    Partition {
        dev: usize,
        on: bool,
    },
    Skew {
        dev: usize,
        ms: i64,
    },
    Deliver,
    /// The device's process dies during its next sync round, in the commit `after` writes
    /// later (the one applying a pulled page with its checkpoint, or storing a push's answer):
    /// before the commit is durable, or (`landed`) right after; it restarts over what its
    /// storage kept.
    Crash {
        dev: usize,
        after: u8,
        landed: bool,
    },
    /// The hub compacts its log down to `keep` entries (and below every device's position
    /// unless `forget`: then devices behind load snapshots) and drops tombstones below every
    /// device's position.
    Compact {
        keep: u64,
        forget: bool,
    },
}

fn step(devices: usize) -> impl Strategy<Value = Step> {
    let d = 0..devices;
    let k = 0..KEYS;
    prop_oneof![
        4 => (d.clone(), k.clone(), any::<u8>(), -5i64..5).prop_map(|(dev, key, title, n)| Step::Insert { dev, key, title, n }),
        4 => (d.clone(), k.clone(), 0..3usize, -5i64..5).prop_map(|(dev, key, field, value)| Step::SetField { dev, key, field, value }),
        1 => (d.clone(), k.clone(), 0..3usize).prop_map(|(dev, key, field)| Step::Unset { dev, key, field }),
        2 => (d.clone(), k.clone()).prop_map(|(dev, key)| Step::Delete { dev, key }),
        1 => (d.clone(), k.clone()).prop_map(|(dev, key)| Step::Purge { dev, key }),
        2 => (d.clone(), k.clone(), k.clone()).prop_map(|(dev, a, b)| Step::Link { dev, a, b }),
        1 => (d.clone(), k.clone(), k.clone()).prop_map(|(dev, a, b)| Step::Unlink { dev, a, b }),
        5 => d.clone().prop_map(|dev| Step::Sync { dev }),
        1 => (d.clone(), any::<bool>()).prop_map(|(dev, on)| Step::Partition { dev, on }),
        1 => (d.clone(), -3_600_000i64..3_600_000).prop_map(|(dev, ms)| Step::Skew { dev, ms }),
        1 => Just(Step::Deliver),
        1 => (d.clone(), 0u8..4, any::<bool>()).prop_map(|(dev, after, landed)| Step::Crash { dev, after, landed }),
        2 => (0u64..4, any::<bool>()).prop_map(|(keep, forget)| Step::Compact { keep, forget }),
    ]
}

/// What the network does to one request: `faults` is consumed a byte per request.
struct Net<'h> {
    hub: &'h Tenant,
    faults: RefCell<Vec<u8>>,
    partitioned: RefCell<Vec<bool>>,
    delayed: RefCell<Vec<PushRequest>>,
    /// Every op the hub took, by (device, seq), as it received it, unless rejected.
    taken: RefCell<BTreeMap<(String, u64), SyncOp>>,
    /// A `wal apply` follower of the hub, caught up before every compaction.
    follower: Option<Tenant>,
}

impl<'h> Net<'h> {
    /// A network to `hub` for `devices` devices: no faults, no partitions, nothing delayed.
    fn new(hub: &'h Tenant, devices: usize) -> Self {
        Net {
            hub,
            faults: RefCell::new(Vec::new()),
            partitioned: RefCell::new(vec![false; devices]),
            delayed: RefCell::new(Vec::new()),
            taken: RefCell::new(BTreeMap::new()),
            follower: None,
        }
    }

    /// Applies the hub's log after the follower's position to the follower.
    fn follow(&self) -> Result<()> {
        let Some(follower) = &self.follower else {
            return Ok(());
        };
        let entries = self.hub.wal().entries(follower.wal().seq()?, usize::MAX)?;
        for chunk in entries.chunks(1000) {
            follower.wal().apply(chunk)?;
        }
        Ok(())
    }

    fn fault(&self) -> u8 {
        self.faults.borrow_mut().pop().unwrap_or(9) % 10
    }

    fn hub_push(&self, request: &PushRequest) -> Result<PushResponse> {
        let answer = self.hub.hub().push(
            Rights {
                write: true,
                schemas: false,
            },
            request,
        )?;
        let mut taken = self.taken.borrow_mut();
        for op in &request.ops {
            if op.entry.seq <= answer.acked
                && !answer.rejected.iter().any(|r| r.seq == op.entry.seq)
            {
                taken
                    .entry((request.device.clone(), op.entry.seq))
                    .or_insert_with(|| op.clone());
            }
        }
        Ok(answer)
    }
}

struct Link<'n, 'h> {
    net: &'n Net<'h>,
    dev: usize,
}

fn lost() -> Error {
    Error::Sync("connection lost".into())
}

impl HubConnection for Link<'_, '_> {
    fn push(&self, request: &PushRequest) -> Result<PushResponse> {
        if self.net.partitioned.borrow()[self.dev] {
            return Err(lost());
        }
        match self.net.fault() {
            0 => Err(lost()), // the request never arrives
            1 => {
                self.net.hub_push(request)?; // the answer is lost
                Err(lost())
            }
            2 => {
                self.net.hub_push(request)?; // delivered twice
                self.net.hub_push(request)
            }
            3 => {
                self.net.delayed.borrow_mut().push(request.clone()); // arrives later
                Err(lost())
            }
            _ => self.net.hub_push(request),
        }
    }

    fn pull(&self, plan: &PullPlan) -> Result<PullResponse> {
        if self.net.partitioned.borrow()[self.dev] {
            return Err(lost());
        }
        let hub = self.net.hub.hub();
        let device = Some(plan.device.as_str());
        match self.net.fault() {
            0 => Err(lost()),
            // Small pages exercise the checkpoint between pulls.
            1 => hub.pull_for(device, plan.since, 3, true),
            _ => hub.pull_for(device, plan.since, MAX_PULL_ENTRIES, true),
        }
    }

    fn snapshot(&self, plan: &PullPlan) -> Result<SnapshotPage> {
        if self.net.partitioned.borrow()[self.dev] {
            return Err(lost());
        }
        let hub = self.net.hub.hub();
        match self.net.fault() {
            0 => Err(lost()),
            1 => {
                hub.snapshot(plan.after.as_deref(), 2)?; // the answer is lost
                Err(lost())
            }
            // Small pages exercise the sweep of each page's key range.
            2..=5 => hub.snapshot(plan.after.as_deref(), 2),
            _ => hub.snapshot(plan.after.as_deref(), MAX_SNAPSHOT_ITEMS),
        }
    }
}

fn key_of(i: usize) -> String {
    format!("k{i}")
}

fn id_of(t: &Tenant, key: usize) -> Option<String> {
    let id = crate::store::entity::key_id(
        crate::store::entity::IdScheme::Portable,
        t.name(),
        "item",
        &key_of(key),
    );
    Some(id.to_string())
}

fn run_step(devs: &[Tenant], net: &Net<'_>, s: &Step) {
    let field = |f: usize| ["title", "n", "tags"][f];
    let value = |f: usize, v: i64| match f {
        0 => json!(format!("t{v}")),
        1 => json!(v),
        _ => json!([format!("x{v}")]),
    };
    // Local writes may be refused (no such row, deleted row): that is the app's business.
    match *s {
        Step::Insert { dev, key, title, n } => {
            let _ = devs[dev].insert(
                "item",
                json!({"key": key_of(key), "title": format!("i{title}"), "n": n}),
            );
        }
        Step::SetField {
            dev,
            key,
            field: f,
            value: v,
        } => {
            if let Some(id) = id_of(&devs[dev], key) {
                let _ = devs[dev].update(&id, json!({ field(f): value(f, v) }));
            }
        }
        Step::Unset { dev, key, field: f } => {
            if let Some(id) = id_of(&devs[dev], key) {
                let _ = devs[dev].update(&id, json!({ field(f): null }));
            }
        }
        Step::Delete { dev, key } => {
            if let Some(id) = id_of(&devs[dev], key) {
                let _ = devs[dev].delete(&id);
            }
        }
        Step::Purge { dev, key } => {
            if let Some(id) = id_of(&devs[dev], key) {
                let _ = devs[dev].hard_delete(&id);
            }
        }
        Step::Link { dev, a, b } => {
            if let (Some(x), Some(y)) = (id_of(&devs[dev], a), id_of(&devs[dev], b)) {
                let _ = devs[dev].add_edge(&x, &y, "rel", json!({"w": a}));
            }
        }
        Step::Unlink { dev, a, b } => {
            if let (Some(x), Some(y)) = (id_of(&devs[dev], a), id_of(&devs[dev], b)) {
                let _ = devs[dev].remove_edge(&x, &y, "rel");
            }
        }
        Step::Sync { dev } => {
            let _ = devs[dev].sync_with(&Link { net, dev });
        }
        Step::Partition { dev, on } => net.partitioned.borrow_mut()[dev] = on,
        Step::Skew { dev, ms } => devs[dev].store_handle().store().set_clock_skew_ms(ms),
        Step::Crash { .. } => {} // `check_history_on` restarts the device
        Step::Deliver => {
            let delayed: Vec<PushRequest> = net.delayed.borrow_mut().drain(..).collect();
            for request in delayed.iter().rev() {
                let _ = net.hub_push(request);
            }
        }
        Step::Compact { keep, forget } => {
            net.follow().expect("the follower takes the hub's log");
            net.hub
                .hub()
                .compact(&Retention {
                    keep_entries: keep,
                    device_ttl_ms: if forget { 0 } else { u64::MAX },
                    tombstone_ttl_ms: u64::MAX,
                })
                .expect("compaction");
        }
    }
}

/// Every item row (live and deleted) and every edge, as comparable JSON.
fn state(t: &Tenant) -> (Vec<Row>, Vec<Value>) {
    let rows = t
        .list(
            "item",
            &ListOptions {
                include_deleted: true,
                limit: None,
                ..Default::default()
            },
        )
        .unwrap_or_default();
    let mut edges = Vec::new();
    for row in &rows {
        let id = row["id"].as_str().unwrap_or_default();
        for e in t
            .edges(id, crate::EdgeDirection::Out, None)
            .unwrap_or_default()
        {
            edges.push(serde_json::to_value(e).unwrap_or_default());
        }
    }
    let mut rows = rows;
    rows.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    (rows, edges)
}

/// Runs a history and checks every promise; `Err` says which failed.
fn check_history(
    devices: usize,
    steps: &[Step],
    faults: Vec<u8>,
) -> std::result::Result<(), String> {
    check_history_on(&Database::memory(), "acme", devices, steps, faults)
}

/// [`check_history`] with the hub's tenant `hub_tenant` (new and empty) in `hub_db`.
fn check_history_on(
    hub_db: &Database,
    hub_tenant: &str,
    devices: usize,
    steps: &[Step],
    faults: Vec<u8>,
) -> std::result::Result<(), String> {
    let hub = hub_db.tenant(hub_tenant).map_err(|e| e.to_string())?;
    hub.register_schema(item_schema())
        .map_err(|e| e.to_string())?;
    let kvs: Vec<std::sync::Arc<CrashableKv>> = (0..devices)
        .map(|_| {
            std::sync::Arc::new(CrashableKv {
                inner: crate::kv::MemoryKv::new(),
                crash_in: std::sync::Mutex::new(None),
            })
        })
        .collect();
    let (mut dbs, mut devs): (Vec<Database>, Vec<Tenant>) = kvs.iter().map(open_device).unzip();
    let follower_db = Database::memory();
    let mut net = Net::new(&hub, devices);
    net.follower = Some(follower_db.tenant("acme").map_err(|e| e.to_string())?);
    *net.faults.borrow_mut() = faults;
    // Every device starts from the hub's schema.
    for (dev, t) in devs.iter().enumerate() {
        let quiet = Net::new(&hub, devices);
        t.sync_with(&Link { net: &quiet, dev })
            .map_err(|e| format!("first sync: {e}"))?;
    }
    for s in steps {
        if let Step::Crash { dev, after, landed } = *s {
            *kvs[dev].crash_in.lock().unwrap() = Some((after, landed));
            let _ = devs[dev].sync_with(&Link { net: &net, dev });
            *kvs[dev].crash_in.lock().unwrap() = None;
            (dbs[dev], devs[dev]) = open_device(&kvs[dev]);
            continue;
        }
        run_step(&devs, &net, s);
    }
    // Heal: deliver what was delayed, end partitions and faults, sync until quiet.
    run_step(&devs, &net, &Step::Deliver);
    net.partitioned
        .borrow_mut()
        .iter_mut()
        .for_each(|p| *p = false);
    net.faults.borrow_mut().clear();
    for _ in 0..3 {
        for (dev, t) in devs.iter().enumerate() {
            t.sync_with(&Link { net: &net, dev })
                .map_err(|e| format!("device {dev}: {e}"))?;
        }
    }
    let want = state(&hub);
    for (dev, t) in devs.iter().enumerate() {
        let got = state(t);
        if got != want {
            let only = |a: &[Row], b: &[Row]| -> Vec<Row> {
                a.iter().filter(|r| !b.contains(r)).cloned().collect()
            };
            let edges = |a: &[Value], b: &[Value]| -> Vec<Value> {
                a.iter().filter(|r| !b.contains(r)).cloned().collect()
            };
            return Err(format!(
                "device {dev} differs from the hub:\n device only {:?} {:?}\n hub only {:?} {:?}",
                only(&got.0, &want.0),
                edges(&got.1, &want.1),
                only(&want.0, &got.0),
                edges(&want.1, &got.1)
            ));
        }
        let status = t.sync_status().map_err(|e| e.to_string())?;
        if status.outbox != 0 {
            return Err(format!(
                "device {dev} has {} ops left in its outbox",
                status.outbox
            ));
        }
    }
    check_last_writer_wins(&hub, &net.taken.borrow())?;
    // A follower of the hub's log equals the hub.
    net.follow().map_err(|e| format!("follower: {e}"))?;
    let follower = net.follower.as_ref().expect("the follower");
    if state(follower) != want {
        return Err("the wal follower differs from the hub".into());
    }
    Ok(())
}

/// The hub's value of each field of each live-or-deleted row is the value of the taken op with
/// the greatest (clock, device) that wrote it after the row's last purge or re-creation
/// decided by a purge.
fn check_last_writer_wins(
    hub: &Tenant,
    taken: &BTreeMap<(String, u64), SyncOp>,
) -> std::result::Result<(), String> {
    let (rows, _) = state(hub);
    for row in rows {
        let id = row["id"].as_str().unwrap_or_default().to_string();
        let ops: Vec<(&String, &SyncOp)> = taken
            .iter()
            .filter(|(_, op)| op.entry.id.as_deref() == Some(id.as_str()))
            .map(|((d, _), op)| (d, op))
            .collect();
        let purged_at = ops
            .iter()
            .filter(|(_, op)| op.entry.op == WalOp::Purge)
            .map(|(d, op)| (op.entry.hlc, (*d).clone()))
            .max();
        let mut winners: BTreeMap<String, (Option<crate::store::Hlc>, String, Option<Value>)> =
            BTreeMap::new();
        for (device, op) in &ops {
            let stamp = (op.entry.hlc, (*device).clone());
            if purged_at.as_ref().is_some_and(|p| &stamp <= p) {
                continue;
            }
            let Some(Value::Object(after)) = &op.entry.data else {
                continue;
            };
            let fields: Vec<String> = match op.entry.op {
                WalOp::Insert => after
                    .keys()
                    .filter(|k| !crate::store::SYSTEM_FIELDS.contains(&k.as_str()))
                    .cloned()
                    .collect(),
                _ => {
                    let listed = op.entry.fields.clone().unwrap_or_default();
                    let undelete = listed.iter().any(|f| f == "deleted_at") && !is_deleted(after);
                    let mut fields: Vec<String> =
                        listed.into_iter().filter(|f| f != "deleted_at").collect();
                    if undelete && op.entry.op != WalOp::Delete {
                        fields.extend(
                            after
                                .keys()
                                .filter(|k| {
                                    !crate::store::SYSTEM_FIELDS.contains(&k.as_str())
                                        && !fields.contains(k)
                                })
                                .cloned()
                                .collect::<Vec<_>>(),
                        );
                    }
                    fields
                }
            };
            for f in fields {
                let candidate = (stamp.0, stamp.1.clone(), after.get(&f).cloned());
                let better = winners
                    .get(&f)
                    .is_none_or(|w| (w.0, &w.1) < (candidate.0, &candidate.1));
                if better {
                    winners.insert(f, candidate);
                }
            }
        }
        for (field, (_, device, value)) in winners {
            if row.get(&field) != value.as_ref() {
                let story: Vec<String> = ops
                    .iter()
                    .map(|(d, op)| {
                        format!(
                            "{} {:?} {:?} {:?} {:?}",
                            &d[..4],
                            op.entry.op,
                            op.entry.hlc,
                            op.entry.fields,
                            op.entry.data.as_ref().and_then(|r| r.get(&field))
                        )
                    })
                    .collect();
                let uuid = crate::store::parse_id(&id).unwrap_or_default();
                let clocks = hub
                    .store_handle()
                    .store()
                    .kv()
                    .get(&hub.store_handle().keys().sync(b'k', uuid.as_bytes()))
                    .ok()
                    .flatten()
                    .map(|raw| String::from_utf8_lossy(&raw).to_string());
                let log: Vec<String> = hub
                    .wal()
                    .entries(0, usize::MAX)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|e| e.id.as_deref() == Some(id.as_str()))
                    .map(|e| {
                        format!(
                            "{} {:?} {:?} {:?}",
                            e.seq,
                            e.op,
                            e.fields,
                            e.data.as_ref().and_then(|r| r.get(&field))
                        )
                    })
                    .collect();
                return Err(format!(
                    "row {id} field {field}: the hub has {:?}, the last writer ({device}) wrote {value:?}; taken ops:\n{}\nclocks {clocks:?}\nrow {row:?}\nhub log:\n{}",
                    row.get(&field),
                    story.join("\n"),
                    log.join("\n")
                ));
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, max_shrink_iters: 2000, ..ProptestConfig::default() })]

    #[test]
    fn replicas_that_sync_until_quiet_equal_the_hub(
        (devices, steps) in (2usize..5).prop_flat_map(|n| (Just(n), prop::collection::vec(step(n), 1..60))),
        faults in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        if let Err(why) = check_history(devices, &steps, faults) {
            prop_assert!(false, "{}", why);
        }
    }
}

/// One hub database on the test PostgreSQL (`REM_TEST_POSTGRES`, set by `.ci/with-postgres`),
/// shared by the cases of a run; each case gets a tenant of its own.
#[cfg(feature = "server")]
fn postgres_hub() -> (&'static Database, String) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static HUB: std::sync::OnceLock<Database> = std::sync::OnceLock::new();
    static CASE: AtomicUsize = AtomicUsize::new(0);
    let db = HUB.get_or_init(|| {
        let url = std::env::var("REM_TEST_POSTGRES").expect(
            "REM_TEST_POSTGRES is not set: run through `bash .ci/with-postgres cargo test …` \
             (as .ci/run does), which starts a throwaway PostgreSQL",
        );
        let kv = crate::kv::PgKv::connect(&url, 8).expect("the test PostgreSQL");
        Database::with_kv(std::sync::Arc::new(kv))
    });
    // A run's tenants never meet an earlier run's left in the same database.
    let tenant = format!(
        "acme-{}-{}",
        uuid::Uuid::new_v4().simple(),
        CASE.fetch_add(1, Ordering::SeqCst)
    );
    (db, tenant)
}

#[cfg(feature = "server")]
proptest! {
    #![proptest_config(ProptestConfig { cases: 32, max_shrink_iters: 200, ..ProptestConfig::default() })]

    /// The same property with the hub's state in PostgreSQL.
    #[test]
    fn replicas_that_sync_through_a_postgres_hub_equal_it(
        (devices, steps) in (2usize..5).prop_flat_map(|n| (Just(n), prop::collection::vec(step(n), 1..40))),
        faults in prop::collection::vec(any::<u8>(), 0..120),
    ) {
        let (db, tenant) = postgres_hub();
        if let Err(why) = check_history_on(db, &tenant, devices, &steps, faults) {
            prop_assert!(false, "{}", why);
        }
    }
}

#[test]
fn the_harness_fails_when_the_merge_is_broken() {
    // Two devices write one field concurrently; the later clock must win. With the merge
    // broken (first writer wins) the oracle says so.
    let steps = vec![
        Step::Insert {
            dev: 0,
            key: 0,
            title: 1,
            n: 1,
        },
        Step::Sync { dev: 0 },
        Step::Sync { dev: 1 },
        Step::SetField {
            dev: 0,
            key: 0,
            field: 1,
            value: 2,
        },
        Step::SetField {
            dev: 1,
            key: 0,
            field: 1,
            value: 3,
        },
        Step::Sync { dev: 1 },
        Step::Sync { dev: 0 },
    ];
    assert_eq!(check_history(2, &steps, vec![]), Ok(()));
    BREAK_MERGE.with(|b| b.set(true));
    let broken = check_history(2, &steps, vec![]);
    BREAK_MERGE.with(|b| b.set(false));
    let why = broken.expect_err("a first-writer-wins merge must fail the oracle");
    assert!(why.contains("last writer"), "{why}");
}

#[test]
fn concurrent_writes_to_one_field_are_listed_as_conflicts() {
    let Fleet { hub, devs, .. } = &fleet(item_schema(), 2);
    let net = Net::new(hub, 2);
    devs[0].sync_with(&Link { net: &net, dev: 0 }).unwrap();
    devs[1].sync_with(&Link { net: &net, dev: 1 }).unwrap();
    let id = devs[0]
        .insert("item", json!({"key": "k0", "title": "a", "n": 1}))
        .unwrap()
        .to_string();
    devs[0].sync_with(&Link { net: &net, dev: 0 }).unwrap();
    devs[1].sync_with(&Link { net: &net, dev: 1 }).unwrap();
    devs[0]
        .update(&id, json!({"n": 2, "title": "zero"}))
        .unwrap();
    // Later in wall time: writes in one millisecond on two devices tie, and the device id decides.
    std::thread::sleep(std::time::Duration::from_millis(3));
    devs[1].update(&id, json!({"n": 3})).unwrap();
    devs[0].sync_with(&Link { net: &net, dev: 0 }).unwrap();
    let report = devs[1].sync_with(&Link { net: &net, dev: 1 }).unwrap();
    assert_eq!(report.conflicts, 1, "{report:?}");
    let conflicts = devs[1].conflicts().unwrap();
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].field, "n");
    assert_eq!(
        (conflicts[0].winner.clone(), conflicts[0].loser.clone()),
        (Some(json!(3)), Some(json!(2)))
    );
    devs[0].sync_with(&Link { net: &net, dev: 0 }).unwrap();
    for t in devs {
        let row = t.get(&id).unwrap().unwrap();
        assert_eq!(
            (row["n"].clone(), row["title"].clone()),
            (json!(3), json!("zero")),
            "fields merge one by one"
        );
    }
}

#[test]
fn a_sync_round_rewrites_nothing_the_device_already_has() {
    let Fleet { hub, devs, .. } = &fleet(item_schema(), 1);
    let net = Net::new(hub, 1);
    let t = &devs[0];
    let sync = || t.sync_with(&Link { net: &net, dev: 0 }).unwrap();
    sync();
    let a = t.insert("item", json!({"key": "a"})).unwrap().to_string();
    let b = t.insert("item", json!({"key": "b"})).unwrap().to_string();
    t.add_edge(&a, &b, "next", json!({"w": 1})).unwrap();
    let before = t.wal().seq().unwrap();
    sync();
    let logged: Vec<WalOp> = t
        .wal()
        .entries(before, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|e| e.op)
        .collect();
    assert!(
        !logged.contains(&WalOp::Link) && !logged.contains(&WalOp::Insert),
        "the hub's answer repeated what the device wrote: {logged:?}"
    );
    let after = t.wal().seq().unwrap();
    sync();
    assert_eq!(t.wal().seq().unwrap(), after, "a quiet round logs nothing");
}

#[test]
fn a_live_query_on_a_device_fires_when_a_sync_round_brings_rows() {
    use std::sync::{Arc, Mutex};
    let Fleet { hub, devs, .. } = &fleet(item_schema(), 2);
    let net = Net::new(hub, 2);
    let sync = |dev: usize| devs[dev].sync_with(&Link { net: &net, dev }).unwrap();
    sync(0);
    sync(1);
    let origins = Arc::new(Mutex::new(Vec::new()));
    let o = origins.clone();
    let _heard = devs[1].on_change(move |c| o.lock().unwrap().push(c.origin));
    let counts = Arc::new(Mutex::new(Vec::new()));
    let c = counts.clone();
    let _live = devs[1]
        .live("SELECT COUNT(*) AS n FROM item", &[], move |rows| {
            c.lock().unwrap().push(rows.unwrap().rows[0][0].clone())
        })
        .unwrap();
    devs[0]
        .insert("item", json!({"key": "k0", "title": "from the laptop"}))
        .unwrap();
    sync(0);
    sync(1);
    assert_eq!(*counts.lock().unwrap(), vec![json!(0), json!(1)]);
    assert!(origins
        .lock()
        .unwrap()
        .contains(&crate::store::ChangeOrigin::Hub));
}

/// Two devices edit different fields of one row of a `row-lww` table; the later write's whole
/// row wins, whichever push reaches the hub first, and the overwritten field is a conflict.
#[test]
fn a_row_lww_table_keeps_the_latest_whole_row_in_either_arrival_order() {
    for later_pushes_first in [false, true] {
        let mut schema = item_schema();
        schema["json_schema_extra"]["merge"] = json!("row-lww");
        let Fleet { hub, devs, .. } = &fleet(schema, 2);
        let net = Net::new(hub, 2);
        let sync = |dev: usize| devs[dev].sync_with(&Link { net: &net, dev }).unwrap();
        sync(0);
        sync(1);
        let id = devs[0]
            .insert("item", json!({"key": "k0", "title": "a", "n": 1}))
            .unwrap()
            .to_string();
        sync(0);
        sync(1);
        devs[0].update(&id, json!({"title": "zero"})).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(3));
        devs[1].update(&id, json!({"n": 2})).unwrap(); // later, keeps title "a"
        let report = if later_pushes_first {
            let r = sync(1);
            sync(0);
            r
        } else {
            sync(0);
            sync(1)
        };
        for _ in 0..2 {
            sync(0);
            sync(1);
        }
        for t in devs.iter().chain([hub]) {
            let row = t.get(&id).unwrap().unwrap();
            assert_eq!(
                (row["title"].clone(), row["n"].clone()),
                (json!("a"), json!(2)),
                "the later write's row, whole (later pushed first: {later_pushes_first})"
            );
        }
        let conflicts: Vec<_> = devs
            .iter()
            .flat_map(|t| t.conflicts().unwrap())
            .filter(|c| c.field == "title")
            .collect();
        assert_eq!(conflicts.len(), 1, "{report:?} {conflicts:?}");
        assert_eq!(
            (conflicts[0].winner.clone(), conflicts[0].loser.clone()),
            (Some(json!("a")), Some(json!("zero")))
        );
    }
}

#[test]
fn a_pushed_op_the_schema_refuses_is_listed_and_the_device_takes_the_hubs_row_back() {
    let Fleet { hub, devs, .. } = &fleet(item_schema(), 1);
    let net = Net::new(hub, 1);
    let t = &devs[0];
    t.sync_with(&Link { net: &net, dev: 0 }).unwrap();
    // The device widens its own copy of the schema (local only: it has no admin token).
    let mut wider = item_schema();
    wider["properties"]["n"] = json!({"type": ["integer", "string"]});
    t.register_schema(wider).unwrap();
    let id = t
        .insert("item", json!({"key": "k1", "n": "many"}))
        .unwrap()
        .to_string();
    assert_eq!(
        t.sync_status().unwrap().outbox,
        2,
        "the schema change and the row wait"
    );
    let report = t.sync_with(&Link { net: &net, dev: 0 }).unwrap();
    assert_eq!(
        report.rejected, 2,
        "the schema change and the row: {report:?}"
    );
    let rejected = t.rejected().unwrap();
    assert!(
        rejected.iter().any(|r| r.code == "VALIDATION"),
        "{rejected:?}"
    );
    assert!(
        hub.get(&id).unwrap().is_none(),
        "nothing invalid reached the hub"
    );
    assert!(
        t.get_with(&id, true).unwrap().is_none(),
        "the device took the hub's state back"
    );
    assert_eq!(t.sync_status().unwrap().outbox, 0);
}

/// [`item_schema`] with a required `status` that defaults to `open`: an additive change.
fn item_schema_with_status() -> Value {
    let mut schema = item_schema();
    schema["properties"]["status"] = json!({"type": "string", "default": "open"});
    schema["required"] = json!(["key", "status"]);
    schema
}

/// The schema version the WAL entry of `id`'s last write on `t` records.
fn written_under(t: &Tenant, id: &str) -> Option<String> {
    let entries = t.wal().entries(0, usize::MAX).unwrap();
    let last = entries
        .iter()
        .rev()
        .find(|e| e.id.as_deref() == Some(id) && e.op != WalOp::Vector)
        .unwrap();
    last.schema_sha.clone()
}

#[test]
fn ops_written_under_an_earlier_schema_are_carried_forward_by_an_additive_change() {
    let Fleet { hub, devs, .. } = &fleet(item_schema(), 2);
    let net = Net::new(hub, 2);
    for (dev, t) in devs.iter().enumerate() {
        t.sync_with(&Link { net: &net, dev }).unwrap();
    }
    let before = written_under(
        hub,
        &hub.insert("item", json!({"key": "seed"}))
            .unwrap()
            .to_string(),
    );
    // Offline, both devices write under the schema they have.
    let k1 = devs[0]
        .insert("item", json!({"key": "k1", "title": "from zero"}))
        .unwrap()
        .to_string();
    devs[0]
        .insert("item", json!({"key": "k2", "title": "zero's k2"}))
        .unwrap();
    let k2 = devs[1]
        .insert("item", json!({"key": "k2", "title": "from one"}))
        .unwrap()
        .to_string();
    assert_eq!(
        written_under(&devs[0], &k1),
        before,
        "the op records its schema version"
    );
    // Meanwhile the hub's admin adds a required field with a default.
    hub.register_schema(item_schema_with_status()).unwrap();
    let after = written_under(
        hub,
        &hub.insert("item", json!({"key": "probe"}))
            .unwrap()
            .to_string(),
    );
    assert_ne!(before, after, "a changed schema is another version");

    devs[0].sync_with(&Link { net: &net, dev: 0 }).unwrap();
    // Device one pulls the new schema, and the hub's `k2`, before it pushes: its own insert of
    // `k2` is laid over the hub's row, carried forward to the new schema, not set aside.
    pull_only(&devs[1], &Link { net: &net, dev: 1 });
    assert_eq!(
        devs[1].sync_status().unwrap().outbox,
        1,
        "its insert still waits"
    );
    let local = devs[1].get(&k2).unwrap().unwrap();
    assert_eq!(
        (local["title"].clone(), local["status"].clone()),
        (json!("from one"), json!("open"))
    );

    // The hub took device zero's ops written under the old version with the new default, and
    // takes device one's.
    let report = devs[1].sync_with(&Link { net: &net, dev: 1 }).unwrap();
    assert_eq!(report.rejected + devs[0].sync_status().unwrap().rejected, 0);
    for id in [&k1, &k2] {
        assert_eq!(hub.get(id).unwrap().unwrap()["status"], json!("open"));
        assert_eq!(
            written_under(hub, id),
            after,
            "the hub logs the row under its own version"
        );
    }
    devs[0].sync_with(&Link { net: &net, dev: 0 }).unwrap();
    for t in devs {
        assert_eq!(state(t), state(hub), "the replicas converge");
    }
}

/// Pulls the hub's log into `t` until caught up, without pushing.
fn pull_only(t: &Tenant, link: &Link<'_, '_>) {
    let steps = t.sync_steps();
    loop {
        let plan = steps.next_pull().unwrap();
        let answer = link.pull(&plan).unwrap();
        if steps.take_pull(plan.since, &answer).unwrap().1 {
            return;
        }
    }
}

#[test]
fn a_pull_with_nothing_local_waiting_moves_the_outbox_cursor_past_what_it_applied() {
    let Fleet { hub, devs, .. } = &fleet(item_schema(), 1);
    let net = Net::new(hub, 1);
    let (t, link) = (&devs[0], Link { net: &net, dev: 0 });
    t.sync_with(&link).unwrap();
    for i in 0..5 {
        hub.insert("item", json!({"key": format!("h{i}")})).unwrap();
    }
    pull_only(t, &link);
    let status = t.sync_status().unwrap();
    assert_eq!(status.pushed, t.wal().seq().unwrap(), "{status:?}");
    assert_eq!(status.outbox, 0);
    // A local change waits: pulls leave the cursor before it.
    let mine = t
        .insert("item", json!({"key": "mine"}))
        .unwrap()
        .to_string();
    let before = t.sync_status().unwrap().pushed;
    hub.insert("item", json!({"key": "h5"})).unwrap();
    pull_only(t, &link);
    let status = t.sync_status().unwrap();
    assert_eq!((status.pushed, status.outbox), (before, 1), "{status:?}");
    t.sync_with(&link).unwrap();
    assert!(hub.get(&mine).unwrap().is_some());
    assert_eq!(t.sync_status().unwrap().outbox, 0);
    assert_eq!(state(t), state(hub));
}

#[test]
fn an_op_a_non_additive_schema_change_cannot_carry_forward_is_rejected_with_both_versions() {
    let Fleet { hub, devs, .. } = &fleet(item_schema(), 1);
    let net = Net::new(hub, 1);
    let t = &devs[0];
    t.sync_with(&Link { net: &net, dev: 0 }).unwrap();
    let id = t.insert("item", json!({"key": "k1"})).unwrap().to_string();
    let mut owned = item_schema();
    owned["properties"]["owner"] = json!({"type": "string"});
    owned["required"] = json!(["key", "owner"]);
    hub.register_schema(owned).unwrap();
    let report = t.sync_with(&Link { net: &net, dev: 0 }).unwrap();
    assert_eq!(report.rejected, 1, "{report:?}");
    let rejected = t.rejected().unwrap();
    assert_eq!(rejected[0].code, "VALIDATION");
    assert!(
        rejected[0].reason.contains("not additive") && rejected[0].reason.contains("owner"),
        "{}",
        rejected[0].reason
    );
    assert!(
        hub.get(&id).unwrap().is_none(),
        "nothing invalid reached the hub"
    );
    assert_eq!(
        t.sync_status().unwrap().outbox,
        0,
        "the op is listed, not lost"
    );
}

#[test]
fn a_device_behind_the_compacted_log_loads_a_snapshot_without_what_the_hub_purged() {
    let Fleet { hub, devs, .. } = &fleet(item_schema(), 2);
    let net = Net::new(hub, 2);
    let sync = |dev: usize| devs[dev].sync_with(&Link { net: &net, dev }).unwrap();
    sync(0);
    sync(1);
    let ids: Vec<String> = (0..4)
        .map(|k| {
            devs[0]
                .insert("item", json!({"key": key_of(k), "title": "t"}))
                .unwrap()
                .to_string()
        })
        .collect();
    devs[0]
        .add_edge(&ids[1], &ids[2], "rel", json!({}))
        .unwrap();
    devs[0]
        .add_edge(&ids[2], &ids[3], "rel", json!({}))
        .unwrap();
    sync(0);
    sync(1);
    assert_eq!(state(&devs[1]), state(hub));
    // While device 1 is away: a purge, an unlink, a soft delete, an update.
    devs[0].hard_delete(&ids[0]).unwrap();
    devs[0].remove_edge(&ids[1], &ids[2], "rel").unwrap();
    devs[0].delete(&ids[3]).unwrap();
    devs[0].update(&ids[1], json!({"n": 7})).unwrap();
    sync(0);
    // Device 1 has something of its own waiting too.
    devs[1].update(&ids[2], json!({"title": "mine"})).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2)); // both devices' pulls are older
    let done = hub
        .hub()
        .compact(&Retention {
            keep_entries: 0,
            device_ttl_ms: 0,
            tombstone_ttl_ms: u64::MAX,
        })
        .unwrap();
    assert_eq!(done.log_start, hub.wal().seq().unwrap() + 1, "{done:?}");
    let behind = devs[1].sync_status().unwrap().pulled;
    assert!(
        hub.hub().pull(behind, 10).is_err(),
        "the log no longer reaches back to device 1"
    );
    let report = sync(1);
    assert!(report.loaded >= 3, "{report:?}");
    assert_eq!(report.pulled, 0, "{report:?}");
    assert_eq!(state(&devs[1]), state(hub));
    assert_eq!(
        devs[1].get(&ids[0]).unwrap(),
        None,
        "the purged row is gone"
    );
    assert_eq!(devs[1].get(&ids[2]).unwrap().unwrap()["title"], "mine");
    assert_eq!(devs[1].sync_status().unwrap().outbox, 0);
    // A device that never synced starts from a snapshot, and then follows the log.
    let (_db, mut late) = memory_devices(1);
    let late = late.remove(0);
    let late_net = Net::new(hub, 1);
    let first = late
        .sync_with(&Link {
            net: &late_net,
            dev: 0,
        })
        .unwrap();
    assert_eq!(
        (first.pulled, first.loaded),
        (0, 3 + 1),
        "3 rows, 1 edge: {first:?}"
    );
    assert_eq!(state(&late), state(hub));
    devs[0].update(&ids[1], json!({"n": 8})).unwrap();
    sync(0);
    let next = late
        .sync_with(&Link {
            net: &late_net,
            dev: 0,
        })
        .unwrap();
    assert_eq!((next.pulled, next.loaded), (1, 0), "{next:?}");
    assert_eq!(state(&late), state(hub));
}

#[test]
fn compaction_drops_tombstones_only_below_every_devices_position() {
    let Fleet { hub, devs, .. } = &fleet(item_schema(), 2);
    let net = Net::new(hub, 2);
    let sync = |dev: usize| devs[dev].sync_with(&Link { net: &net, dev }).unwrap();
    sync(0);
    sync(1);
    let a = devs[0]
        .insert("item", json!({"key": "a"}))
        .unwrap()
        .to_string();
    let b = devs[0]
        .insert("item", json!({"key": "b"}))
        .unwrap()
        .to_string();
    devs[0].add_edge(&a, &b, "rel", json!({})).unwrap();
    sync(0);
    devs[0].remove_edge(&a, &b, "rel").unwrap();
    devs[0].hard_delete(&a).unwrap();
    sync(0);
    let keep_all = Retention {
        keep_entries: 0,
        device_ttl_ms: u64::MAX,
        tombstone_ttl_ms: u64::MAX,
    };
    // Device 1 has not pulled the purge: its tombstones stay, and so does the log after it.
    let held = hub.hub().compact(&keep_all).unwrap();
    assert_eq!(held.tombstones_removed, 0, "{held:?}");
    assert_eq!(held.log_start, devs[1].sync_status().unwrap().pulled + 1);
    // A pull records the position the device asked from: the round after the one that
    // brought the purge tells the hub it has it.
    sync(1);
    sync(1);
    sync(0);
    let done = hub.hub().compact(&keep_all).unwrap();
    assert_eq!(done.tombstones_removed, 2, "row and edge: {done:?}");
    assert_eq!(done.log_start, hub.wal().seq().unwrap() + 1);
    // A re-creation after the collection is an ordinary insert everywhere.
    devs[1]
        .insert("item", json!({"key": "a", "title": "again"}))
        .unwrap();
    sync(1);
    sync(0);
    assert_eq!(state(&devs[0]), state(hub));
    assert_eq!(devs[0].get(&a).unwrap().unwrap()["title"], "again");
}

/// Embeds a text as `[length, 1, byte sum mod 7]` and counts the texts it was given.
struct Counting(std::sync::Mutex<Vec<String>>);

impl crate::embed::Embedder for Counting {
    fn name(&self) -> &str {
        "custom:count"
    }

    fn dimensions(&self) -> usize {
        3
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        self.0
            .lock()
            .unwrap()
            .extend(texts.iter().map(|t| t.to_string()));
        Ok(texts.iter().map(|t| counting_vector(t)).collect())
    }
}

fn counting_vector(text: &str) -> Vec<f32> {
    let sum: u32 = text.bytes().map(u32::from).sum();
    vec![text.len() as f32, 1.0, (sum % 7) as f32]
}

/// [`counting_vector`] as a cosine index stores it.
fn stored_counting_vector(text: &str) -> Vec<f32> {
    let mut v = counting_vector(text);
    crate::distance::Metric::Cosine.prepare(&mut v);
    v
}

#[test]
fn vectors_travel_with_their_rows_so_devices_do_not_embed_them_again() {
    use crate::store::vectors::IndexName;
    let doc = json!({
        "title": "Doc", "type": "object",
        "properties": {"key": {"type": "string"}, "text": {"type": "string"}},
        "required": ["key"],
        "json_schema_extra": {"key_field": "key", "embedding_fields": ["text"],
                              "embedding_provider": "custom:count"}
    });
    let Fleet { hub, devs, _dbs } = &fleet(doc, 3);
    let embedders: Vec<std::sync::Arc<Counting>> = (0..3)
        .map(|d| {
            let e = std::sync::Arc::new(Counting(std::sync::Mutex::new(Vec::new())));
            _dbs[d].embedders().register("custom:count", e.clone());
            e
        })
        .collect();
    let calls = |d: usize| embedders[d].0.lock().unwrap().clone();
    let net = Net::new(hub, 3);
    let sync = |dev: usize| devs[dev].sync_with(&Link { net: &net, dev }).unwrap();
    sync(0);
    sync(1);
    let ids: Vec<String> = ["north", "south", "east"]
        .iter()
        .map(|text| {
            devs[0]
                .insert("doc", json!({"key": text, "text": format!("go {text}")}))
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(calls(0).len(), 3, "device 0 embeds its own rows");
    sync(0);
    sync(1); // from the log
    sync(2); // a new device: from the snapshot
    let index = IndexName::new("doc", "text", "custom:count").unwrap();
    let vector_of = |t: &Tenant, id: &str| {
        t.vectors()
            .stored(&index, &uuid::Uuid::parse_str(id).unwrap())
            .unwrap()
            .map(|(_, v)| v)
    };
    for (dev, t) in devs.iter().enumerate() {
        for id in &ids {
            let text = t.get(id).unwrap().unwrap()["text"]
                .as_str()
                .unwrap()
                .to_string();
            let want = stored_counting_vector(&text);
            assert_eq!(vector_of(t, id), Some(want), "device {dev}, row {id}");
        }
    }
    assert!(calls(1).is_empty(), "pulled vectors: {:?}", calls(1));
    assert!(calls(2).is_empty(), "snapshot vectors: {:?}", calls(2));
    assert_eq!(hub.embeddings().queued().unwrap(), (0, 0));

    // Device 1 rewrites a text before it pulls device 0's rewrite of it: device 0's vector no
    // longer embeds the text the row ends with, so it stays behind; device 1's travels.
    devs[0]
        .update(&ids[0], json!({"text": "go far north"}))
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(3));
    devs[1]
        .update(&ids[0], json!({"text": "go north again"}))
        .unwrap();
    sync(0);
    sync(1);
    sync(0);
    sync(2);
    for (dev, t) in devs.iter().enumerate() {
        let row = t.get(&ids[0]).unwrap().unwrap();
        assert_eq!(row["text"], "go north again", "device {dev}");
        let want = stored_counting_vector("go north again");
        assert_eq!(vector_of(t, &ids[0]), Some(want), "device {dev}");
    }
    assert_eq!(
        calls(1),
        ["go north again"],
        "device 1 embedded only its own text"
    );
    assert!(
        !calls(2).contains(&"go north again".to_string()),
        "{:?}",
        calls(2)
    );
}
