//! Entities: system fields, deterministic ids, upserts, batches, merge-patch updates, soft and
//! hard deletes, paging, counts and key lookup — on every backend.

use crate::common::{fixtures, people_schema, person};
use remdb::{Error, ListOptions, SYSTEM_FIELDS};
use serde_json::{json, Value};

fn ts(v: &Value) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(v.as_str().expect("timestamp string"))
        .expect("RFC 3339")
        .to_utc()
}

#[test]
fn the_store_owns_system_fields() {
    for f in fixtures() {
        let t = f.tenant();
        t.init().unwrap();
        let id = t
            .insert("resources", json!({"name": "n", "content": "c"}))
            .unwrap();
        let row = t.get(&id.to_string()).unwrap().unwrap();
        assert_eq!(row["id"], id.to_string());
        assert!(
            row["created_at"].as_str().unwrap().ends_with('Z'),
            "UTC: {}",
            row["created_at"]
        );
        assert_eq!(row["created_at"], row["modified_at"]);
        assert_eq!(row["deleted_at"], Value::Null);
        for field in SYSTEM_FIELDS {
            let mut data = json!({"name": "x"});
            data[field] = json!("2020-01-01T00:00:00Z");
            let err = t.insert("resources", data).unwrap_err();
            assert_eq!(err.code(), "VALIDATION", "{}: {field}", f.name);
            assert!(err.to_string().contains(field));
            let err = t
                .update(&id.to_string(), json!({ field: "2020-01-01T00:00:00Z" }))
                .unwrap_err();
            assert_eq!(err.code(), "VALIDATION", "{field}");
        }
        // Echoing the current value of a system field back in a patch is harmless.
        t.update(
            &id.to_string(),
            json!({"id": id.to_string(), "content": "d"}),
        )
        .unwrap();
        assert_eq!(t.count("resources", true).unwrap(), 1);
    }
}

#[test]
fn ids_follow_key_field_then_uri_ordinal_then_key_then_name() {
    let f = fixtures().remove(0);
    let t = f.tenant();
    t.init().unwrap();
    t.register_schema(people_schema()).unwrap();
    t.register_schema(json!({"title": "Thing", "type": "object"}))
        .unwrap();
    // key_field
    let a = t.insert("people", person(1)).unwrap();
    assert_eq!(t.insert("people", person(1)).unwrap(), a);
    // uri + ordinal
    let c0 = t
        .insert(
            "resources",
            json!({"uri": "docs/a.md", "ordinal": 0, "content": "x"}),
        )
        .unwrap();
    let c1 = t
        .insert(
            "resources",
            json!({"uri": "docs/a.md", "ordinal": 1, "content": "y"}),
        )
        .unwrap();
    assert_ne!(c0, c1);
    assert_eq!(
        t.insert("resources", json!({"uri": "docs/a.md", "content": "z"}))
            .unwrap(),
        c0,
        "ordinal defaults to 0"
    );
    // key, then name
    let k = t
        .insert("thing", json!({"key": "k1", "name": "ignored"}))
        .unwrap();
    assert_eq!(
        t.insert("thing", json!({"key": "k1", "name": "other"}))
            .unwrap(),
        k
    );
    let n = t.insert("thing", json!({"name": "widget"})).unwrap();
    assert_eq!(
        t.insert("thing", json!({"name": "widget", "x": 1}))
            .unwrap(),
        n
    );
    // random, time-ordered
    let r1 = t.insert("thing", json!({"x": 1})).unwrap();
    let r2 = t.insert("thing", json!({"x": 1})).unwrap();
    assert_ne!(r1, r2);
    assert_eq!(r1.get_version_num(), 7);
    // The same key in another tenant is that tenant's own entity with the same id (ids do not
    // depend on the tenant, so logs replicate between tenants of any name).
    let other = f.db.tenant("other").unwrap();
    other
        .register_schema(json!({"title": "Thing", "type": "object"}))
        .unwrap();
    assert_eq!(other.insert("thing", json!({"name": "widget"})).unwrap(), n);
    // key_field missing is a validation error naming the field.
    t.register_schema(json!({"title": "Keyed", "type": "object", "key_field": "code"}))
        .unwrap();
    let err = t.insert("keyed", json!({"name": "no code"})).unwrap_err();
    assert!(err.to_string().contains("code"), "{err}");
}

#[test]
fn upsert_keeps_created_at_and_bumps_modified_at() {
    for f in fixtures() {
        let t = f.tenant();
        t.register_schema(people_schema()).unwrap();
        let id = t.insert("people", person(7)).unwrap();
        let first = t.get(&id.to_string()).unwrap().unwrap();
        let mut changed = person(7);
        changed["name"] = json!("Renamed");
        assert_eq!(t.insert("people", changed).unwrap(), id);
        let second = t.get(&id.to_string()).unwrap().unwrap();
        assert_eq!(second["created_at"], first["created_at"]);
        assert!(
            ts(&second["modified_at"]) > ts(&first["modified_at"]),
            "{}",
            f.name
        );
        assert_eq!(second["name"], "Renamed");
        assert_eq!(t.count("people", false).unwrap(), 1);
        let ops: Vec<_> = t
            .wal()
            .entries(0, 10)
            .unwrap()
            .into_iter()
            .map(|e| e.op)
            .collect();
        assert_eq!(
            ops,
            vec![
                remdb::WalOp::Schema,
                remdb::WalOp::Insert,
                remdb::WalOp::Update
            ]
        );
    }
}

#[test]
fn insert_many_is_validated_first_and_atomic() {
    for f in fixtures() {
        let t = f.tenant();
        t.register_schema(people_schema()).unwrap();
        let mut batch: Vec<Value> = (0..100).map(person).collect();
        batch[57] = json!({"email": "broken", "name": "X"});
        match t.insert_many("people", batch) {
            Err(Error::Validation { issues, .. }) => {
                assert!(issues[0].pointer.starts_with("/57/"), "{issues:?}")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(t.count("people", true).unwrap(), 0, "{}", f.name);
        assert_eq!(t.wal().seq().unwrap(), 1);
        assert!(t
            .list("people", &ListOptions::default())
            .unwrap()
            .is_empty());
        let ids = t
            .insert_many("people", (0..100).map(person).collect())
            .unwrap();
        assert_eq!(ids.len(), 100);
        assert_eq!(t.count("people", false).unwrap(), 100);
        assert_eq!(t.wal().seq().unwrap(), 101);
        // Duplicate keys inside one batch upsert onto the same row.
        let ids = t
            .insert_many("people", vec![person(500), person(500)])
            .unwrap();
        assert_eq!(ids[0], ids[1]);
        assert_eq!(t.count("people", false).unwrap(), 101);
    }
}

#[test]
fn update_merges_revalidates_and_guards_the_key() {
    for f in fixtures() {
        let t = f.tenant();
        t.register_schema(people_schema()).unwrap();
        let id = t.insert("people", person(3)).unwrap().to_string();
        let row = t
            .update(
                &id,
                json!({"age": 40, "address": {"city": "Tokyo"}, "score": null}),
            )
            .unwrap();
        assert_eq!(row["age"], 40);
        assert_eq!(
            row["address"],
            json!({"city": "Tokyo", "country": "NZ"}),
            "objects merge"
        );
        assert!(!row.contains_key("score"), "null removes");
        assert_eq!(t.get(&id).unwrap().unwrap(), row);
        let seq = t.wal().seq().unwrap();
        assert_eq!(
            t.update(&id, json!({"age": -1})).unwrap_err().code(),
            "VALIDATION"
        );
        assert_eq!(
            t.update(&id, json!({"name": null})).unwrap_err().code(),
            "VALIDATION",
            "required field removed"
        );
        assert_eq!(
            t.update(&id, json!({"email": "moved@x.io"}))
                .unwrap_err()
                .code(),
            "INVALID_ARGUMENT"
        );
        assert_eq!(t.update(&id, json!([1])).unwrap_err().code(), "VALIDATION");
        assert_eq!(
            t.wal().seq().unwrap(),
            seq,
            "{}: failed updates write nothing",
            f.name
        );
        assert_eq!(t.get(&id).unwrap().unwrap(), row);
        let missing = uuid::Uuid::now_v7().to_string();
        assert_eq!(
            t.update(&missing, json!({})).unwrap_err().code(),
            "NOT_FOUND"
        );
        assert_eq!(
            t.update("not-a-uuid", json!({})).unwrap_err().code(),
            "INVALID_ARGUMENT"
        );
    }
}

#[test]
fn soft_delete_hides_and_hard_delete_removes() {
    for f in fixtures() {
        let t = f.tenant();
        t.register_schema(people_schema()).unwrap();
        let ids: Vec<String> = t
            .insert_many("people", (0..5).map(person).collect())
            .unwrap()
            .iter()
            .map(|i| i.to_string())
            .collect();
        t.delete(&ids[1]).unwrap();
        assert_eq!(t.get(&ids[1]).unwrap(), None);
        let deleted = t.get_with(&ids[1], true).unwrap().unwrap();
        assert!(ts(&deleted["deleted_at"]) >= ts(&deleted["created_at"]));
        assert_eq!(t.count("people", false).unwrap(), 4);
        assert_eq!(t.count("people", true).unwrap(), 5);
        assert_eq!(t.list("people", &ListOptions::default()).unwrap().len(), 4);
        let all = t
            .list(
                "people",
                &ListOptions {
                    include_deleted: true,
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(all.len(), 5);
        assert_eq!(t.delete(&ids[1]).unwrap_err().code(), "NOT_FOUND");
        assert_eq!(
            t.update(&ids[1], json!({"age": 1})).unwrap_err().code(),
            "NOT_FOUND"
        );
        // Re-inserting the same key revives the row with the same id.
        assert_eq!(t.insert("people", person(1)).unwrap().to_string(), ids[1]);
        assert_eq!(t.count("people", false).unwrap(), 5);
        t.delete(&ids[2]).unwrap();
        t.hard_delete(&ids[2]).unwrap();
        t.hard_delete(&ids[3]).unwrap();
        assert_eq!(t.get_with(&ids[2], true).unwrap(), None);
        assert_eq!(t.table_of(&ids[3]).unwrap(), None);
        assert_eq!(t.count("people", true).unwrap(), 3, "{}", f.name);
        assert_eq!(t.hard_delete(&ids[3]).unwrap_err().code(), "NOT_FOUND");
        drop(t);
        let f = f.reopen();
        let t = f.tenant();
        assert_eq!(t.count("people", false).unwrap(), 3);
        assert_eq!(t.count("people", true).unwrap(), 3);
    }
}

#[test]
fn list_pages_in_a_stable_order() {
    for f in fixtures() {
        let t = f.tenant();
        t.register_schema(
            json!({"title": "Event", "type": "object", "properties": {"n": {"type": "integer"}}}),
        )
        .unwrap();
        let ids = t
            .insert_many("event", (0..25).map(|n| json!({"n": n})).collect())
            .unwrap();
        let page = |offset, limit| {
            t.list(
                "event",
                &ListOptions {
                    offset,
                    limit: Some(limit),
                    include_deleted: false,
                },
            )
            .unwrap()
            .into_iter()
            .map(|r| r["n"].as_i64().unwrap())
            .collect::<Vec<_>>()
        };
        // Random ids are time-ordered (v7), so id order is insertion order.
        assert_eq!(page(0, 10), (0..10).collect::<Vec<_>>(), "{}", f.name);
        assert_eq!(page(10, 10), (10..20).collect::<Vec<_>>());
        assert_eq!(page(20, 10), (20..25).collect::<Vec<_>>());
        assert!(page(30, 10).is_empty());
        assert!(page(0, 0).is_empty());
        t.delete(&ids[0].to_string()).unwrap();
        assert_eq!(page(0, 2), vec![1, 2], "deleted rows do not take a slot");
        let mut seen = Vec::new();
        t.for_each_row("event", false, |_, row| {
            seen.push(row["n"].as_i64().unwrap());
            seen.len() < 3
        })
        .unwrap();
        assert_eq!(seen, vec![1, 2, 3]);
    }
}

#[test]
fn lookup_finds_keys_across_tables() {
    let f = fixtures().remove(0);
    let t = f.tenant();
    t.init().unwrap();
    t.register_schema(people_schema()).unwrap();
    t.insert("agents", json!({"name": "planner"})).unwrap();
    t.insert(
        "resources",
        json!({"name": "planner", "content": "a doc also called planner"}),
    )
    .unwrap();
    t.insert("people", person(9)).unwrap();
    t.insert(
        "resources",
        json!({"uri": "docs/readme.md", "content": "chunk 0"}),
    )
    .unwrap();
    let hits = t
        .lookup(&["planner", "p9@example.com", "docs/readme.md", "missing"])
        .unwrap();
    let tables: Vec<&str> = hits.iter().map(|(table, _)| table.as_str()).collect();
    assert_eq!(tables, vec!["agents", "resources", "people", "resources"]);
    assert_eq!(hits[3].1["content"], "chunk 0");
}
