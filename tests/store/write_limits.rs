//! What the write path accepts can be read back, exported and replicated: one nesting limit on
//! rows, patches, edge properties and schemas, a maximum row size, and a property test that any
//! accepted value round-trips through get, list, SQL, WAL export and apply.

use std::sync::Arc;

use proptest::prelude::*;
use remdb::kv::MemoryKv;
use remdb::vector::EmbedMode;
use remdb::{Database, ListOptions, OpenOptions, Tenant, WalEntry, MAX_DEPTH};
use serde_json::{json, Map, Value};

use crate::common;

/// A table that takes any object.
fn bag_schema() -> Value {
    json!({"title": "bag", "type": "object", "properties": {"v": {}}})
}

fn bag(db: &Database, tenant: &str) -> Tenant {
    let t = db.tenant(tenant).unwrap();
    t.register_schema(bag_schema()).unwrap();
    t
}

/// `{"v": …}` whose whole object is `depth` levels deep.
fn row_of_depth(depth: usize) -> Value {
    let mut v = json!("leaf");
    for i in 0..depth - 1 {
        v = if i % 2 == 0 {
            json!([v])
        } else {
            json!({ "k": v })
        };
    }
    json!({ "v": v })
}

fn assert_limit(err: remdb::Error, mentions: &str) {
    assert_eq!(err.code(), "LIMIT", "{err}");
    assert!(err.to_string().contains(mentions), "{err}");
}

/// Every way a row can be read back, plus export → JSON text → parse → apply elsewhere.
fn assert_round_trips(t: &Tenant, id: &str) {
    let row = t.get(id).unwrap().expect("row readable");
    let listed = t.list("bag", &ListOptions::default()).unwrap();
    assert!(listed.contains(&row));
    let sql = t
        .sql("SELECT v FROM bag WHERE id = $1", &[json!(id)])
        .unwrap();
    assert_eq!(sql.rows, vec![vec![row["v"].clone()]]);
    let entries = t.wal().entries(0, usize::MAX).unwrap();
    let text: Vec<String> = entries
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect();
    let parsed: Vec<WalEntry> = text
        .iter()
        .map(|l| serde_json::from_str(l).expect("exported line parses"))
        .collect();
    let replica = common::memory_db().tenant("replica").unwrap();
    replica.wal().apply(&parsed).unwrap();
    assert_eq!(replica.get(id).unwrap().as_ref(), Some(&row));
}

#[test]
fn rows_at_the_nesting_limit_round_trip_and_deeper_ones_are_refused() {
    let db = common::memory_db();
    let t = bag(&db, "a");
    let id = t
        .insert("bag", row_of_depth(MAX_DEPTH))
        .unwrap()
        .to_string();
    assert_round_trips(&t, &id);
    let seq = t.wal().seq().unwrap();
    assert_limit(
        t.insert("bag", row_of_depth(MAX_DEPTH + 1)).unwrap_err(),
        "a row of `bag` is nested more than 100 levels",
    );
    assert_limit(
        t.insert_many("bag", vec![json!({}), row_of_depth(MAX_DEPTH + 1)])
            .unwrap_err(),
        "nested",
    );
    assert_limit(
        t.update(&id, row_of_depth(MAX_DEPTH + 1)).unwrap_err(),
        "a patch of `bag`",
    );
    assert_eq!(t.wal().seq().unwrap(), seq, "refused writes wrote nothing");
}

#[test]
fn edge_properties_and_schemas_share_the_nesting_limit() {
    let db = common::memory_db();
    let t = bag(&db, "a");
    let a = t.insert("bag", json!({"n": 1})).unwrap().to_string();
    let b = t.insert("bag", json!({"n": 2})).unwrap().to_string();
    t.add_edge(&a, &b, "deep", row_of_depth(MAX_DEPTH)).unwrap();
    assert_eq!(
        t.edges(&a, remdb::EdgeDirection::Out, None).unwrap().len(),
        1
    );
    assert_limit(
        t.add_edge(&a, &b, "deeper", row_of_depth(MAX_DEPTH + 1))
            .unwrap_err(),
        "edge properties",
    );
    let mut schema = json!({"title": "deep_schema", "type": "object"});
    schema["$defs"] = row_of_depth(MAX_DEPTH - 1);
    t.register_schema(schema.clone()).unwrap();
    assert_eq!(
        t.count("deep_schema", false).unwrap(),
        0,
        "readable after register"
    );
    schema["$defs"] = row_of_depth(MAX_DEPTH);
    schema["title"] = json!("deeper_schema");
    assert_limit(t.register_schema(schema).unwrap_err(), "a table schema");
    // Everything accepted exports and applies.
    let entries = t.wal().entries(0, usize::MAX).unwrap();
    let replica = common::memory_db().tenant("r").unwrap();
    replica.wal().apply(&entries).unwrap();
    assert_eq!(
        replica
            .edges(&a, remdb::EdgeDirection::Out, None)
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn rows_over_the_maximum_row_size_are_refused_without_echoing_them() {
    let options = OpenOptions {
        embedding_mode: Some(EmbedMode::Off),
        max_row_bytes: Some(1024),
        ..OpenOptions::default()
    };
    let db = Database::with_kv_options(Arc::new(MemoryKv::new()), &options).unwrap();
    let t = bag(&db, "a");
    t.insert("bag", json!({"v": "x".repeat(800)})).unwrap();
    let err = t.insert("bag", json!({"v": "x".repeat(2000)})).unwrap_err();
    assert_limit(err, "over the maximum row size of 1024 bytes");
    assert_eq!(t.count("bag", false).unwrap(), 1);
    // A validation failure quotes at most a short piece of a long value.
    let t2 = db.tenant("b").unwrap();
    t2.register_schema(json!({"title": "nums", "type": "object",
        "properties": {"n": {"type": "integer"}}}))
        .unwrap();
    let err = t2
        .insert("nums", json!({"n": "y".repeat(900)}))
        .unwrap_err();
    assert_eq!(err.code(), "VALIDATION");
    assert!(
        err.to_string().len() < 400,
        "{} bytes",
        err.to_string().len()
    );
    // The default limit is 16 MiB.
    let big = common::memory_db();
    let t = bag(&big, "a");
    t.insert("bag", json!({"v": "x".repeat(15 << 20)})).unwrap();
    assert_limit(
        t.insert("bag", json!({"v": "x".repeat(17 << 20)}))
            .unwrap_err(),
        "16777216 bytes",
    );
}

/// JSON values up to a few levels deep, with keys that are not system fields.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ];
    leaf.prop_recursive(6, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_\\u{80}-\\u{10ffff}]{0,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_accepted_value_round_trips(value in json_value()) {
        let db = common::memory_db();
        let t = bag(&db, "a");
        if let Ok(id) = t.insert("bag", json!({ "v": value })) {
            assert_round_trips(&t, &id.to_string());
        }
    }
}
