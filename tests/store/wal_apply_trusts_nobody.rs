//! `wal apply` checks every entry as the write path would: applying is never a way to write what
//! `insert` would refuse. Each refused batch writes nothing. Natural-key ids do not depend on
//! the tenant's name, so a log applies into a tenant of any name; databases written before that
//! keep their ids.

use std::path::Path;

use remdb::{Database, Tenant, WalEntry, WalOp, MAX_APPLY_ENTRIES};
use serde_json::{json, Value};

use crate::common::{self, people_schema, person};

/// A source tenant with people (keyed by email), an edge and a resource.
fn source() -> (Database, Tenant, Vec<WalEntry>) {
    let db = common::memory_db();
    let t = db.tenant("source").unwrap();
    t.init().unwrap();
    t.register_schema(people_schema()).unwrap();
    let a = t.insert("people", person(1)).unwrap().to_string();
    let b = t.insert("people", person(2)).unwrap().to_string();
    t.add_edge(&a, &b, "knows", json!({"weight": 1})).unwrap();
    t.update(&a, json!({"age": 50})).unwrap();
    let entries = t.wal().entries(0, usize::MAX).unwrap();
    (db, t, entries)
}

/// Applies `entries` to a fresh replica and returns the error; checks nothing was written.
fn refused(entries: &[WalEntry]) -> remdb::Error {
    let replica = common::memory_db().tenant("replica").unwrap();
    let err = replica.wal().apply(entries).unwrap_err();
    assert_eq!(
        replica.wal().seq().unwrap(),
        0,
        "a refused batch writes nothing"
    );
    err
}

fn position(entries: &[WalEntry], op: WalOp, table: &str) -> usize {
    entries
        .iter()
        .position(|e| e.op == op && e.table == table)
        .unwrap()
}

fn row_mut(e: &mut WalEntry) -> &mut serde_json::Map<String, Value> {
    e.data.as_mut().unwrap().as_object_mut().unwrap()
}

#[test]
fn batches_must_be_consecutive_from_seq_one() {
    let (_db, _t, entries) = source();
    let mut doubled = entries.clone();
    let mut forged = entries[1].clone();
    forged.table = "agents".into();
    doubled.insert(1, forged); // the same seq twice, different content
    let err = refused(&doubled);
    assert_eq!(err.code(), "WAL");
    assert!(err.to_string().contains("consecutive"), "{err}");
    let mut zero = entries[..1].to_vec();
    zero[0].seq = 0;
    assert!(refused(&zero).to_string().contains("seq 0"));
}

#[test]
fn rows_are_validated_against_their_schema_and_system_field_formats() {
    let (_db, _t, entries) = source();
    let at = position(&entries, WalOp::Insert, "people");
    let mut bad = entries.clone();
    row_mut(&mut bad[at]).insert("age".into(), json!("very old"));
    assert_eq!(refused(&bad).code(), "VALIDATION");
    for (field, value) in [
        ("created_at", json!("yesterday")),
        ("modified_at", json!(5)),
        ("deleted_at", json!("not a time")),
    ] {
        let mut bad = entries.clone();
        row_mut(&mut bad[at]).insert(field.into(), value);
        let err = refused(&bad);
        assert_eq!(err.code(), "WAL", "{field}");
        assert!(err.to_string().contains(field), "{err}");
    }
    let mut backwards = entries.clone();
    row_mut(&mut backwards[at]).insert("modified_at".into(), json!("2000-01-01T00:00:00Z"));
    assert!(refused(&backwards)
        .to_string()
        .contains("before `created_at`"));
    let mut bad_ts = entries.clone();
    bad_ts[at].ts = "later".into();
    assert_eq!(refused(&bad_ts).code(), "WAL");
    let mut with_edges = entries.clone();
    row_mut(&mut with_edges[at]).insert("edges".into(), json!([]));
    assert_eq!(refused(&with_edges).code(), "WAL");
}

#[test]
fn ids_must_be_derived_from_the_natural_key() {
    let (_db, _t, entries) = source();
    let at = position(&entries, WalOp::Insert, "people");
    let mut forged = entries.clone();
    let other = uuid_like(9);
    forged[at].id = Some(other.clone());
    row_mut(&mut forged[at]).insert("id".into(), json!(other));
    let err = refused(&forged);
    assert_eq!(err.code(), "WAL");
    assert!(err.to_string().contains("natural key"), "{err}");
}

fn uuid_like(n: u8) -> String {
    format!("0190f0f0-0000-7000-8000-0000000000{n:02x}")
}

#[test]
fn operations_must_agree_with_what_exists() {
    let (_db, _t, entries) = source();
    // An update of a row the replica does not have (person 1's insert left out).
    let insert = position(&entries, WalOp::Insert, "people");
    let update = position(&entries, WalOp::Update, "people");
    let mut orphaned = entries[..insert].to_vec();
    let mut orphan = entries[update].clone();
    orphan.seq = insert as u64 + 1;
    orphaned.push(orphan);
    let err = refused(&orphaned);
    assert!(err.to_string().contains("no row"), "{err}");
    // An insert of a row that already exists.
    let mut twice = entries[..=insert].to_vec();
    let mut again = entries[insert].clone();
    again.seq = twice.len() as u64 + 1;
    twice.push(again);
    assert!(refused(&twice).to_string().contains("already exists"));
    // A link whose endpoint is missing.
    let link = position(&entries, WalOp::Link, "people");
    let mut dangling = entries[..=link].to_vec();
    dangling[link].data.as_mut().unwrap()["dst"] = json!(uuid_like(7));
    assert_eq!(refused(&dangling).code(), "WAL");
}

#[test]
fn a_schema_entry_cannot_replace_a_built_in_table_or_register_a_bad_schema() {
    let (_db, _t, entries) = source();
    let at = position(&entries, WalOp::Schema, "resources");
    let mut bad = entries[..=at].to_vec();
    bad[at].data.as_mut().unwrap()["schema"]["properties"] = json!({"evil": {"type": "string"}});
    let err = refused(&bad);
    assert_eq!(err.code(), "INVALID_SCHEMA");
    assert!(err.to_string().contains("built-in"), "{err}");
    let mut evil = entries[..=at].to_vec();
    evil[at].table = "evil".into();
    evil[at].data = Some(
        json!({"name": "evil", "schema": {"title": "evil", "type": "object",
        "json_schema_extra": {"embedding_provider": "evil:xx"}}}),
    );
    assert_eq!(refused(&evil).code(), "INVALID_SCHEMA");
}

#[test]
fn a_vector_entry_must_fit_its_provider() {
    let db = common::memory_db();
    let t = db.tenant("source").unwrap();
    t.register_schema(people_schema()).unwrap();
    let id = t.insert("people", person(1)).unwrap();
    let mut entries = t.wal().entries(0, usize::MAX).unwrap();
    entries.push(WalEntry {
        seq: 3,
        ts: entries[1].ts.clone(),
        op: WalOp::Vector,
        table: "people".into(),
        id: Some(id.to_string()),
        data: Some(
            json!({"field": "name", "provider": "local:all-MiniLM-L6-v2",
            "vector": vec![0.5; 10]}),
        ),
        hlc: None,
        fields: None,
        hub: None,
        schema_sha: None,
    });
    let err = refused(&entries);
    assert!(err.to_string().contains("384-dimensional"), "{err}");
    // The same through the write path: a well-known provider's index keeps its dimension.
    let err = t
        .vectors()
        .put(
            "people",
            &id.to_string(),
            "name",
            "local:all-MiniLM-L6-v2",
            &[0.5; 10],
        )
        .unwrap_err();
    assert!(err.to_string().contains("384-dimensional"), "{err}");
}

#[test]
fn an_apply_takes_a_bounded_batch() {
    let (_db, _t, entries) = source();
    let many: Vec<WalEntry> = (0..=MAX_APPLY_ENTRIES as u64)
        .map(|i| WalEntry {
            seq: i + 1,
            ..entries[0].clone()
        })
        .collect();
    let err = refused(&many);
    assert_eq!(err.code(), "LIMIT");
    assert!(err.to_string().contains("10000"), "{err}");
}

#[test]
fn a_log_applied_into_a_tenant_of_another_name_keeps_its_natural_keys() {
    let (_db, source, entries) = source();
    let replica_db = common::memory_db();
    let replica = replica_db.tenant("other-name").unwrap();
    replica.wal().apply(&entries).unwrap();
    let found = replica.lookup(&["p1@example.com"]).unwrap();
    assert_eq!(found.len(), 1, "lookup finds the replicated row");
    assert_eq!(
        found[0].1["id"],
        source.lookup(&["p1@example.com"]).unwrap()[0].1["id"]
    );
    // Inserting the same key updates that row instead of adding a duplicate.
    replica.insert("people", person(1)).unwrap();
    assert_eq!(replica.count("people", false).unwrap(), 2);
    // And the same row has the same id in every tenant of one database too.
    let sibling = replica_db.tenant("sibling").unwrap();
    sibling.register_schema(people_schema()).unwrap();
    let id = sibling.insert("people", person(1)).unwrap().to_string();
    assert_eq!(Value::from(id), found[0].1["id"]);
}

/// A copy of `tests/fixtures/legacy-ids` (written by remdb before ids became portable: tenant
/// `acme` has people ada@ and bob@ keyed by email with a `knows` edge; tenant `default` has agent
/// `planner`) in a temporary directory.
fn legacy_database() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/legacy-ids");
    std::fs::copy(fixture.join("remdb.redb"), dir.path().join("remdb.redb")).unwrap();
    dir
}

fn legacy_log() -> Vec<WalEntry> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/legacy-ids/acme.wal.jsonl");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn databases_written_before_portable_ids_keep_their_ids() {
    let dir = legacy_database();
    let db = Database::open(dir.path()).unwrap();
    let acme = db.tenant("acme").unwrap();
    let ada = acme.lookup(&["ada@example.com"]).unwrap();
    assert_eq!(ada.len(), 1);
    assert_eq!(ada[0].1["id"], "1c29449e-5c56-5b03-a763-513bff5b3223");
    // Upserting an existing key finds the old row.
    acme.insert("person", json!({"email": "ada@example.com", "age": 37}))
        .unwrap();
    assert_eq!(acme.count("person", false).unwrap(), 2);
    assert_eq!(
        acme.get("1c29449e-5c56-5b03-a763-513bff5b3223")
            .unwrap()
            .unwrap()["age"],
        37
    );
    let planner = db.tenant("default").unwrap().lookup(&["planner"]).unwrap();
    assert_eq!(planner[0].1["id"], "bfd91a28-6795-5c41-aaf0-064f72ead8c1");
    // A tenant created now in the same database gets portable ids.
    let fresh = db.tenant("fresh").unwrap();
    fresh.init().unwrap();
    let id = fresh.insert("agents", json!({"name": "planner"})).unwrap();
    assert_ne!(id.to_string(), "bfd91a28-6795-5c41-aaf0-064f72ead8c1");
    let other = db.tenant("other").unwrap();
    other.init().unwrap();
    assert_eq!(
        other.insert("agents", json!({"name": "planner"})).unwrap(),
        id
    );
}

#[test]
fn an_older_databases_log_applies_into_a_tenant_of_its_own_name_only() {
    let log = legacy_log();
    let db = common::memory_db();
    let same = db.tenant("acme").unwrap();
    same.wal().apply(&log).unwrap();
    assert_eq!(same.lookup(&["bob@example.com"]).unwrap().len(), 1);
    same.insert("person", json!({"email": "bob@example.com", "age": 42}))
        .unwrap();
    assert_eq!(
        same.count("person", false).unwrap(),
        2,
        "upsert, not a duplicate"
    );
    let elsewhere = db.tenant("elsewhere").unwrap();
    let err = elsewhere.wal().apply(&log).unwrap_err();
    assert_eq!(err.code(), "WAL");
    assert!(err.to_string().contains("same name"), "{err}");
    assert_eq!(elsewhere.wal().seq().unwrap(), 0);
}
