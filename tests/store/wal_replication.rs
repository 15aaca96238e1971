//! The WAL: gapless per-tenant sequence, entries written atomically with the data, export and
//! apply to another database (identical state, idempotent, refusing gaps and divergence),
//! compaction.

use crate::common;

use crate::common::{fixtures, people_schema, person};
use remdb::{ListOptions, Tenant, WalEntry, WalOp};
use serde_json::json;

fn state(t: &Tenant) -> Vec<(String, Vec<remdb::Row>)> {
    t.table_names()
        .unwrap()
        .into_iter()
        .map(|table| {
            let rows = t
                .list(
                    &table,
                    &ListOptions {
                        include_deleted: true,
                        ..Default::default()
                    },
                )
                .unwrap();
            (table, rows)
        })
        .collect()
}

fn busy_history(t: &Tenant) {
    t.init().unwrap();
    t.register_schema(people_schema()).unwrap();
    let ids = t
        .insert_many("people", (0..30).map(person).collect())
        .unwrap();
    t.update(&ids[3].to_string(), json!({"age": 99})).unwrap();
    t.delete(&ids[4].to_string()).unwrap();
    t.hard_delete(&ids[5].to_string()).unwrap();
    t.insert("people", person(6)).unwrap(); // upsert
    t.insert("resources", json!({"uri": "a.md", "content": "hello"}))
        .unwrap();
    let mut s = people_schema();
    s["json_schema_extra"]["indexed_fields"] = json!(["name"]);
    t.register_schema(s).unwrap();
    t.insert("people", person(100)).unwrap();
}

#[test]
fn every_mutation_appends_one_entry_with_a_gapless_seq() {
    for f in fixtures() {
        let t = f.tenant();
        assert_eq!(t.wal().seq().unwrap(), 0);
        busy_history(&t);
        let entries = t.wal().entries(0, usize::MAX).unwrap();
        assert_eq!(entries.len() as u64, t.wal().seq().unwrap(), "{}", f.name);
        for (i, e) in entries.iter().enumerate() {
            assert_eq!(e.seq, i as u64 + 1);
        }
        let ops: Vec<WalOp> = entries[5..].iter().map(|e| e.op).collect();
        assert_eq!(&ops[..2], &[WalOp::Schema, WalOp::Insert]);
        let purge = entries.iter().find(|e| e.op == WalOp::Purge).unwrap();
        assert_eq!(purge.data, None, "tombstone");
        let delete = entries.iter().find(|e| e.op == WalOp::Delete).unwrap();
        assert!(
            delete.data.as_ref().unwrap()["deleted_at"].is_string(),
            "after-image"
        );
        // Paging: exclusive `since`, limit.
        let page = t.wal().entries(10, 5).unwrap();
        assert_eq!(
            page.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![11, 12, 13, 14, 15]
        );
        assert!(t
            .wal()
            .entries(t.wal().seq().unwrap(), 10)
            .unwrap()
            .is_empty());
    }
}

#[test]
fn applying_the_log_yields_an_identical_database() {
    for source in fixtures() {
        for target in fixtures() {
            let (s, d) = (
                source.db.tenant(&format!("src-{}", target.name)).unwrap(),
                target.db.tenant("replica").unwrap(),
            );
            busy_history(&s);
            let entries = s.wal().entries(0, usize::MAX).unwrap();
            // Ship in three uneven pages, as a sync loop would.
            let mut shipped = 0;
            for page in [7usize, 20, usize::MAX] {
                let since = d.wal().seq().unwrap();
                let batch = s.wal().entries(since, page).unwrap();
                let report = d.wal().apply(&batch).unwrap();
                shipped += report.applied;
                assert_eq!(report.seq, d.wal().seq().unwrap());
            }
            assert_eq!(shipped as usize, entries.len());
            assert_eq!(state(&s), state(&d), "{} -> {}", source.name, target.name);
            assert_eq!(
                d.wal().entries(0, usize::MAX).unwrap(),
                entries,
                "the replica's log equals the source's"
            );
            assert_eq!(
                d.count("people", false).unwrap(),
                s.count("people", false).unwrap()
            );
            assert_eq!(d.schema("people").unwrap().indexed_fields, vec!["name"]);
            let by_name = d
                .index_lookup(
                    "people",
                    "name",
                    &remdb::IndexQuery::Eq(json!("Person 100")),
                    false,
                )
                .unwrap();
            assert_eq!(by_name.len(), 1, "indexes are maintained on apply");
            // Idempotent: the same entries again change nothing.
            let again = d.wal().apply(&entries).unwrap();
            assert_eq!((again.applied, again.skipped), (0, entries.len() as u64));
            assert_eq!(state(&s), state(&d));
        }
    }
}

#[test]
fn apply_continues_locally_after_replication() {
    let db = common::memory_db();
    let (s, d) = (db.tenant("a").unwrap(), db.tenant("b").unwrap());
    busy_history(&s);
    d.wal()
        .apply(&s.wal().entries(0, usize::MAX).unwrap())
        .unwrap();
    // The replica validates new local writes with the replicated schema.
    assert_eq!(
        d.insert("people", json!({"email": "bad"}))
            .unwrap_err()
            .code(),
        "VALIDATION"
    );
    d.insert("people", person(500)).unwrap();
    assert_eq!(d.wal().seq().unwrap(), s.wal().seq().unwrap() + 1);
}

#[test]
fn gaps_divergence_and_bad_entries_are_refused_atomically() {
    let db = common::memory_db();
    let (s, d) = (db.tenant("a").unwrap(), db.tenant("b").unwrap());
    busy_history(&s);
    let entries = s.wal().entries(0, usize::MAX).unwrap();
    let err = d.wal().apply(&entries[1..]).unwrap_err();
    assert_eq!(err.code(), "WAL");
    assert!(err.to_string().contains("expected seq 1, got 2"), "{err}");
    let mut holey = entries[..10].to_vec();
    holey.remove(6);
    assert_eq!(d.wal().apply(&holey).unwrap_err().code(), "WAL");
    assert_eq!(d.wal().seq().unwrap(), 0, "a refused batch writes nothing");
    assert!(d.table_names().unwrap().is_empty());
    // A malformed entry in the middle aborts the whole apply.
    let mut bad = entries[..10].to_vec();
    bad[8].data = Some(json!("not a row"));
    assert_eq!(d.wal().apply(&bad).unwrap_err().code(), "WAL");
    assert_eq!(d.wal().seq().unwrap(), 0);
    // Divergence: same seq, different content.
    d.wal().apply(&entries[..10]).unwrap();
    let mut forged: Vec<WalEntry> = entries[..10].to_vec();
    forged[9].ts = "1999-01-01T00:00:00.000000Z".into();
    let err = d.wal().apply(&forged).unwrap_err();
    assert!(err.to_string().contains("diverged at seq 10"), "{err}");
}

#[test]
fn compaction_drops_old_entries_and_says_so() {
    for f in fixtures() {
        let t = f.tenant();
        busy_history(&t);
        let seq = t.wal().seq().unwrap();
        t.wal().compact(20).unwrap();
        assert_eq!(t.wal().seq().unwrap(), seq, "compaction is not a mutation");
        assert_eq!(t.wal().entries(19, 1).unwrap()[0].seq, 20);
        let err = t.wal().entries(5, 10).unwrap_err();
        assert!(err.to_string().contains("compacted"), "{}: {err}", f.name);
        assert!(t.wal().compact(seq + 2).is_err());
        t.wal().compact(seq + 1).unwrap();
        assert!(t.wal().entries(seq, 10).unwrap().is_empty());
        t.insert("people", person(777)).unwrap();
        assert_eq!(t.wal().entries(seq, 10).unwrap()[0].seq, seq + 1);
    }
}

#[test]
fn wal_entries_are_plain_json_lines() {
    let db = common::memory_db();
    let t = db.tenant("x").unwrap();
    t.register_schema(people_schema()).unwrap();
    t.insert("people", person(1)).unwrap();
    let e = &t.wal().entries(1, 1).unwrap()[0];
    let line = serde_json::to_string(e).unwrap();
    let back: WalEntry = serde_json::from_str(&line).unwrap();
    assert_eq!(&back, e);
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["op"], "insert");
    assert_eq!(v["table"], "people");
    assert_eq!(v["data"]["email"], "p1@example.com");
    assert_eq!(v["data"]["id"], v["id"]);
}

#[test]
fn a_replica_that_ran_init_itself_still_accepts_the_full_log() {
    let db = common::memory_db();
    let (s, d) = (db.tenant("a").unwrap(), db.tenant("b").unwrap());
    busy_history(&s); // starts with init: five schema entries
    d.init().unwrap(); // the same five schemas, logged at other times
    let report = d
        .wal()
        .apply(&s.wal().entries(0, usize::MAX).unwrap())
        .unwrap();
    assert_eq!(report.skipped, 5);
    assert_eq!(state(&s), state(&d));
    // A different schema at the same position is still divergence.
    let other = db.tenant("c").unwrap();
    other.register_schema(people_schema()).unwrap();
    let err = other
        .wal()
        .apply(&s.wal().entries(0, 1).unwrap())
        .unwrap_err();
    assert!(err.to_string().contains("diverged at seq 1"), "{err}");
}
