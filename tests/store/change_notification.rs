//! Change listeners hear every commit that logged something, with its tables and origin, and a
//! live query calls back only when its result changes.

use std::sync::{Arc, Mutex};

use remdb::{Change, ChangeOrigin, Database};
use serde_json::json;

fn recorder() -> (
    Arc<Mutex<Vec<Change>>>,
    impl Fn(&Change) + Send + Sync + 'static,
) {
    let heard = Arc::new(Mutex::new(Vec::new()));
    let h = heard.clone();
    (heard, move |c: &Change| h.lock().unwrap().push(c.clone()))
}

#[test]
fn listeners_hear_local_writes_and_replayed_wal_with_their_tables() {
    let db = Database::memory();
    let t = db.tenant("acme").unwrap();
    t.init().unwrap();
    let other = db.tenant("other").unwrap();
    other.init().unwrap();
    let (heard, f) = recorder();
    let subscription = t.on_change(f);
    let a = t.insert("resources", json!({"name": "a"})).unwrap();
    let b = t.insert("agents", json!({"name": "b"})).unwrap();
    t.add_edge(&a.to_string(), &b.to_string(), "uses", json!({}))
        .unwrap();
    other
        .insert("resources", json!({"name": "elsewhere"}))
        .unwrap(); // another tenant
    let seq = t.wal().seq().unwrap();
    {
        let heard = heard.lock().unwrap();
        let tables: Vec<Vec<String>> = heard.iter().map(|c| c.tables.clone()).collect();
        assert_eq!(tables.len(), 3, "{heard:?}");
        assert_eq!(tables[0], vec!["resources"]);
        assert_eq!(tables[1], vec!["agents"]);
        assert_eq!(
            tables[2],
            vec!["resources"],
            "an edge is logged under its source's table"
        );
        assert!(heard
            .iter()
            .all(|c| c.origin == ChangeOrigin::Local && c.tenant == "acme"));
        assert_eq!(heard.last().unwrap().last_seq, seq);
        assert!(heard
            .windows(2)
            .all(|w| w[1].first_seq == w[0].last_seq + 1));
    }

    // A follower replaying the log hears it as a replay.
    let follower_db = Database::memory();
    let follower = follower_db.tenant("acme").unwrap();
    let (replayed, f) = recorder();
    let _s = follower.on_change(f);
    follower
        .wal()
        .apply(&t.wal().entries(0, usize::MAX).unwrap())
        .unwrap();
    let replayed = replayed.lock().unwrap();
    assert!(!replayed.is_empty());
    assert!(replayed.iter().all(|c| c.origin == ChangeOrigin::Replay));
    assert_eq!(replayed.last().unwrap().last_seq, seq);

    drop(subscription);
    t.insert("resources", json!({"name": "unheard"})).unwrap();
    assert_eq!(heard.lock().unwrap().len(), 3);
}

#[test]
fn a_live_query_calls_back_when_its_result_changes_and_stops_when_dropped() {
    let t = Database::memory().tenant("acme").unwrap();
    t.init().unwrap();
    let results = Arc::new(Mutex::new(Vec::new()));
    let r = results.clone();
    let live = t
        .live(
            "SELECT name FROM resources WHERE name LIKE $1 ORDER BY name",
            &[json!("doc%")],
            move |rows| r.lock().unwrap().push(rows.unwrap().rows.len()),
        )
        .unwrap();
    t.insert("resources", json!({"name": "doc-1"})).unwrap();
    t.insert("resources", json!({"name": "note"})).unwrap(); // not in the result
    t.insert("agents", json!({"name": "doc-agent"})).unwrap(); // another table
    t.insert("resources", json!({"name": "doc-2"})).unwrap();
    assert_eq!(*results.lock().unwrap(), vec![0, 1, 2]);
    // A live query whose callback writes sees its own write once more, without deadlock.
    let t2 = t.clone();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let _writer = t
        .live("SELECT COUNT(*) AS n FROM agents", &[], move |rows| {
            let n = rows.unwrap().rows[0][0].as_i64().unwrap();
            s.lock().unwrap().push(n);
            if n == 2 {
                t2.insert("agents", json!({"name": "echo"})).unwrap();
            }
        })
        .unwrap();
    t.insert("agents", json!({"name": "second"})).unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![1, 2, 3]);
    drop(live);
    t.insert("resources", json!({"name": "doc-3"})).unwrap();
    assert_eq!(results.lock().unwrap().len(), 3);
    // A query that cannot run is refused up front.
    assert!(t.live("SELECT nope FROM", &[], |_| {}).is_err());
}
