//! Sync through a real hub on loopback: `rem serve`'s server in this process, once with its
//! embedded redb storage and once on PostgreSQL (`REM_TEST_POSTGRES`, e.g. through
//! `.ci/with-postgres`), devices on the memory backend.
//!
//! - push: 10 devices, 2,000 new rows each, push concurrently (HTTP, 1,000 ops per push) —
//!   goal ≥ 5,000 ops/s for the hub on PostgreSQL;
//! - pull: a device that synced before pulls 100,000 entries of the hub's log and applies them
//!   — goal ≥ 20,000 ops/s;
//! - snapshot: a new device loads the hub's 100,000-row state page by page.
//!
//! `bash .ci/with-postgres cargo bench --bench sync --features server`

use std::time::Instant;

#[path = "../tests/common/postgres.rs"]
mod postgres_db;

use remdb::sync::server::{serve, ServeOptions};
use remdb::sync::token::{Claims, TokenKeys};
use remdb::sync::{HttpHub, HubConnection};
use remdb::{Database, Tenant};
use serde_json::json;

fn task_schema() -> serde_json::Value {
    json!({
        "title": "Task", "type": "object",
        "properties": {"key": {"type": "string"}, "title": {"type": "string"},
                       "done": {"type": "boolean"}, "points": {"type": "integer"}},
        "required": ["key"],
        "json_schema_extra": {"key_field": "key", "indexed_fields": ["done"]}
    })
}

fn device() -> (Database, Tenant) {
    let db = Database::memory();
    let t = db.tenant("default").unwrap();
    (db, t)
}

/// Pushes the whole outbox; returns the ops the hub took.
fn push_all(t: &Tenant, hub: &HttpHub) -> u64 {
    let steps = t.sync_steps();
    let mut taken = 0;
    while let Some(plan) = steps.next_push().unwrap() {
        let answer = hub.push(&plan.request).unwrap();
        taken += steps.take_push(&plan, &answer).unwrap();
    }
    taken
}

fn main() {
    let data = tempfile::tempdir().unwrap();
    run("embedded redb", data.path(), None);
    if std::env::var_os("REM_TEST_POSTGRES").is_some() {
        // A database of its own, so earlier runs' tenants do not count.
        run(
            "PostgreSQL",
            data.path(),
            Some(postgres_db::fresh_database()),
        );
    } else {
        println!("PostgreSQL: not measured (REM_TEST_POSTGRES is not set)");
    }
}

/// The push and pull runs against one hub.
fn run(storage: &str, data: &std::path::Path, postgres: Option<String>) {
    println!("== hub storage: {storage}");
    let keys = match &postgres {
        Some(url) => TokenKeys::load_or_create_in(&remdb::kv::PgKv::connect(url, 2).unwrap()),
        None => TokenKeys::load_or_create(data),
    }
    .unwrap();
    let token = keys
        .issue(Claims {
            kid: String::new(),
            tenant: "bench".into(),
            device: None,
            read_only: false,
            admin: true,
            exp: u64::MAX / 2,
        })
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let options = ServeOptions {
        data: data.to_path_buf(),
        listen: "127.0.0.1:0".parse().unwrap(),
        postgres,
        retention: Default::default(),
        compact_every: None,
    };
    std::thread::spawn(move || serve(&options, |addr| tx.send(addr).unwrap()).unwrap());
    let url = format!("http://{}", rx.recv().unwrap());

    // The schema first, from one device; a follower that synced then pulls everything after.
    let (_db0, first) = device();
    first.register_schema(task_schema()).unwrap();
    first.sync(&url, &token).unwrap();
    let (_dbf, follower) = device();
    follower.sync(&url, &token).unwrap();

    // Push: 10 devices at once.
    let devices: Vec<(Database, Tenant)> = (0..10)
        .map(|d| {
            let (db, t) = device();
            t.sync(&url, &token).unwrap(); // the schema
            let rows = (0..2_000)
                .map(|i| json!({"key": format!("d{d}-{i}"), "title": "a task", "points": i}))
                .collect();
            t.insert_many("task", rows).unwrap();
            (db, t)
        })
        .collect();
    let started = Instant::now();
    let pushed: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = devices
            .iter()
            .map(|(_, t)| {
                let hub = HttpHub::new(&url, &token);
                s.spawn(move || push_all(t, &hub))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    let secs = started.elapsed().as_secs_f64();
    println!("push: {pushed} ops from 10 concurrent devices in {secs:.2} s = {:.0} ops/s (goal >= 5,000)", pushed as f64 / secs);

    // Pull: 100,000 entries into the device that synced before them (80,000 more rows first,
    // from one device); then the same state into a new device, from the hub's snapshot.
    let (_dbp, big) = device();
    big.sync(&url, &token).unwrap();
    for chunk in 0..8 {
        let rows = (0..10_000)
            .map(|i| json!({"key": format!("p{chunk}-{i}"), "title": "pulled", "done": i % 2 == 0}))
            .collect();
        big.insert_many("task", rows).unwrap();
    }
    push_all(&big, &HttpHub::new(&url, &token));
    let started = Instant::now();
    let report = follower.sync(&url, &token).unwrap();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "pull: {} entries into a device that synced before in {secs:.2} s = {:.0} ops/s (goal >= 20,000); {} rows",
        report.pulled,
        report.pulled as f64 / secs,
        follower.count("task", false).unwrap()
    );
    let (_dbn, fresh) = device();
    let started = Instant::now();
    let report = fresh.sync(&url, &token).unwrap();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "snapshot: {} rows and edges into a new device in {secs:.2} s = {:.0} rows/s; {} rows",
        report.loaded,
        report.loaded as f64 / secs,
        fresh.count("task", false).unwrap()
    );
}
