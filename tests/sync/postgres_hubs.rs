//! Two `rem serve` processes on one PostgreSQL database act as one hub: devices that sync
//! through either converge, a long-poll on one wakes for a push to the other, and killing one
//! mid-push loses nothing it acknowledged.

use std::time::{Duration, Instant};

use remdb::{Database, Tenant};
use serde_json::{json, Value};

use crate::harness::{rows, task_schema, token_postgres as token, Hub};

/// A device on a redb database in a directory of its own.
fn device() -> (tempfile::TempDir, Database, Tenant) {
    let dir = tempfile::tempdir().unwrap();
    let (db, t) = crate::harness::device(dir.path());
    (dir, db, t)
}

#[test]
fn devices_syncing_through_two_hub_processes_on_one_postgres_converge() {
    let pg = crate::postgres::fresh_database();
    let hubs = [Hub::start_postgres(&pg), Hub::start_postgres(&pg)];
    // Tokens from either process's keys verify on both: the keys are in the database.
    let admin = token(&pg, &["--tenant", "acme", "--admin"]);
    let devices: Vec<_> = (0..4).map(|_| device()).collect();
    devices[0].2.register_schema(task_schema()).unwrap();
    devices[0].2.sync(&hubs[0].url, &admin).unwrap();
    for (i, (_, _, t)) in devices.iter().enumerate() {
        t.sync(&hubs[i % 2].url, &admin).unwrap();
    }
    // Offline, every device writes 200 rows of its own and the same 50 shared keys.
    for (i, (_, _, t)) in devices.iter().enumerate() {
        let mut items: Vec<Value> = (0..200)
            .map(|n| json!({"key": format!("d{i}-{n}"), "points": n}))
            .collect();
        items.extend(
            (0..50).map(|n| json!({"key": format!("shared-{n}"), "title": format!("from {i}")})),
        );
        t.insert_many("task", items).unwrap();
    }
    // All four push at once, two through each process: their writes to the tenant take turns.
    std::thread::scope(|s| {
        for (i, (_, _, t)) in devices.iter().enumerate() {
            let url = hubs[i % 2].url.clone();
            let admin = admin.clone();
            s.spawn(move || t.sync(&url, &admin).unwrap());
        }
    });
    for round in 0..2 {
        for (i, (_, _, t)) in devices.iter().enumerate() {
            t.sync(&hubs[(i + round) % 2].url, &admin).unwrap();
        }
    }
    let first = rows(&devices[0].2);
    assert_eq!(first.len(), 4 * 200 + 50);
    for (_, _, t) in &devices[1..] {
        assert_eq!(rows(t), first);
        assert_eq!(t.sync_status().unwrap().outbox, 0);
    }
    // One gapless log: a new device pulling from either process gets the same rows.
    for hub in &hubs {
        let (_dir, _db, fresh) = device();
        fresh.sync(&hub.url, &admin).unwrap();
        assert_eq!(rows(&fresh), first);
    }
}

#[test]
fn a_long_poll_on_one_hub_process_wakes_for_a_push_to_the_other() {
    let pg = crate::postgres::fresh_database();
    let hubs = [Hub::start_postgres(&pg), Hub::start_postgres(&pg)];
    let admin = token(&pg, &["--tenant", "acme", "--admin"]);
    let (_dir, _db, a) = device();
    a.register_schema(task_schema()).unwrap();
    a.sync(&hubs[0].url, &admin).unwrap();
    let since = a.sync_status().unwrap().pulled;
    let waiting = std::thread::spawn({
        let url = format!("{}/v1/pull?since={since}&wait=30", hubs[1].url);
        let admin = admin.clone();
        move || {
            let started = Instant::now();
            let mut answer = ureq::get(&url)
                .header("Authorization", &format!("Bearer {admin}"))
                .call()
                .unwrap();
            let body: Value =
                serde_json::from_str(&answer.body_mut().read_to_string().unwrap()).unwrap();
            (started.elapsed(), body)
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    a.insert("task", json!({"key": "wake"})).unwrap();
    let pushed_at = Instant::now();
    a.sync(&hubs[0].url, &admin).unwrap();
    let (waited, body) = waiting.join().unwrap();
    let entries = body["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{body}");
    assert_eq!(entries[0]["data"]["key"], "wake");
    assert!(
        waited < Duration::from_secs(10),
        "the pull waited {waited:?}"
    );
    eprintln!(
        "woken {:?} after the push began",
        pushed_at.elapsed().min(waited)
    );
}

#[test]
fn a_hub_process_killed_mid_push_loses_nothing_it_acknowledged() {
    let pg = crate::postgres::fresh_database();
    let mut hubs = [Hub::start_postgres(&pg), Hub::start_postgres(&pg)];
    let admin = token(&pg, &["--tenant", "acme", "--admin"]);
    let (_dir, _db, a) = device();
    a.register_schema(task_schema()).unwrap();
    a.sync(&hubs[0].url, &admin).unwrap();
    let items: Vec<Value> = (0..3000)
        .map(|i| json!({"key": format!("t{i}"), "points": i}))
        .collect();
    a.insert_many("task", items).unwrap();
    let url = hubs[0].url.clone();
    let pusher = std::thread::spawn({
        let token = admin.clone();
        move || {
            let report = a.sync(&url, &token);
            (a, report)
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    hubs[0].kill();
    let (a, first) = pusher.join().unwrap();
    eprintln!(
        "first round: {first:?}; status {:?}",
        a.sync_status().unwrap()
    );
    // The device carries on through the other process; nothing is missing or doubled.
    a.sync(&hubs[1].url, &admin).unwrap();
    assert_eq!(a.sync_status().unwrap().outbox, 0, "first round: {first:?}");
    let (_fresh_dir, _fresh_db, fresh) = device();
    fresh.sync(&hubs[1].url, &admin).unwrap();
    assert_eq!(fresh.count("task", false).unwrap(), 3000);
    assert_eq!(rows(&fresh), rows(&a));
}
