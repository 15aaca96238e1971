//! Secondary indexes: equality, IN and range lookups in value order, maintained on every write
//! with no stale rows, rebuilt when the indexed fields change.

use std::collections::BTreeSet;
use std::ops::Bound;

use crate::common::{fixtures, people_schema, person};
use remdb::{IndexQuery, Tenant};
use serde_json::{json, Value};
use uuid::Uuid;

fn ages(t: &Tenant, q: IndexQuery) -> Vec<i64> {
    t.index_lookup("people", "age", &q, false)
        .unwrap()
        .into_iter()
        .map(|(_, r)| r["age"].as_i64().unwrap())
        .collect()
}

#[test]
fn equality_in_and_ranges() {
    for f in fixtures() {
        let t = f.tenant();
        t.register_schema(people_schema()).unwrap();
        t.insert_many("people", (0..200).map(person).collect())
            .unwrap();
        // age = 20 + i % 50: four people per age.
        assert_eq!(
            ages(&t, IndexQuery::Eq(json!(25))),
            vec![25; 4],
            "{}",
            f.name
        );
        assert_eq!(
            ages(&t, IndexQuery::Eq(json!(25.0))),
            vec![25; 4],
            "floats equal ints"
        );
        assert!(
            ages(&t, IndexQuery::Eq(json!("25"))).is_empty(),
            "strings are not numbers"
        );
        assert_eq!(
            ages(&t, IndexQuery::In(vec![json!(21), json!(69), json!(1000)])),
            vec![21, 21, 21, 21, 69, 69, 69, 69]
        );
        let range = |lower, upper| ages(&t, IndexQuery::Range { lower, upper });
        let r = range(Bound::Included(json!(30)), Bound::Excluded(json!(33)));
        assert_eq!(r, [vec![30; 4], vec![31; 4], vec![32; 4]].concat());
        let r = range(Bound::Excluded(json!(67.5)), Bound::Unbounded);
        assert_eq!(
            r,
            [vec![68; 4], vec![69; 4]].concat(),
            "unbounded stays within numbers"
        );
        let r = range(Bound::Unbounded, Bound::Included(json!(21)));
        assert_eq!(r, [vec![20; 4], vec![21; 4]].concat());
        assert!(range(Bound::Included(json!(50)), Bound::Included(json!(40))).is_empty());
        // Nested paths, booleans, strings and array elements.
        let berlin = t
            .index_lookup(
                "people",
                "address.city",
                &IndexQuery::Eq(json!("Berlin")),
                false,
            )
            .unwrap();
        assert_eq!(berlin.len(), 50);
        assert!(berlin.iter().all(|(_, r)| r["address"]["city"] == "Berlin"));
        let active = t
            .index_lookup("people", "active", &IndexQuery::Eq(json!(true)), false)
            .unwrap();
        assert_eq!(active.len(), 100);
        let rust = t
            .index_lookup("people", "tags", &IndexQuery::Eq(json!("rust")), false)
            .unwrap();
        assert_eq!(rust.len(), 67);
        let cities = t
            .index_lookup(
                "people",
                "address.city",
                &IndexQuery::Range {
                    lower: Bound::Included(json!("B")),
                    upper: Bound::Excluded(json!("D")),
                },
                false,
            )
            .unwrap();
        assert_eq!(cities.len(), 100, "Berlin and Chennai");
        assert_eq!(
            t.index_lookup("people", "name", &IndexQuery::Eq(json!("x")), false)
                .unwrap_err()
                .code(),
            "INVALID_ARGUMENT",
            "name is not indexed"
        );
    }
}

#[test]
fn values_sort_by_type_then_value() {
    let f = fixtures().remove(1);
    let t = f.tenant();
    t.register_schema(json!({"title": "Mixed", "type": "object", "indexed_fields": ["v"]}))
        .unwrap();
    let values = [
        json!("b"),
        json!(2.5),
        json!(null),
        json!(true),
        json!(-3),
        json!("a"),
        json!(false),
        json!(10),
        json!(""),
    ];
    for v in &values {
        t.insert("mixed", json!({ "v": v })).unwrap();
    }
    t.insert("mixed", json!({"other": 1})).unwrap(); // missing → indexed as null
    let all = t
        .index_lookup(
            "mixed",
            "v",
            &IndexQuery::Range {
                lower: Bound::Unbounded,
                upper: Bound::Unbounded,
            },
            false,
        )
        .unwrap();
    let got: Vec<Value> = all
        .iter()
        .map(|(_, r)| r.get("v").cloned().unwrap_or(Value::Null))
        .collect();
    assert_eq!(
        got,
        vec![
            json!(null),
            json!(null),
            json!(false),
            json!(true),
            json!(-3),
            json!(2.5),
            json!(10),
            json!(""),
            json!("a"),
            json!("b")
        ]
    );
}

/// Brute-force reference: which live rows have `age` equal to `v`.
fn expected_ids(t: &Tenant, field_value: i64) -> BTreeSet<Uuid> {
    let mut ids = BTreeSet::new();
    t.for_each_row("people", false, |id, row| {
        if row.get("age").and_then(Value::as_i64) == Some(field_value) {
            ids.insert(id);
        }
        true
    })
    .unwrap();
    ids
}

#[test]
fn indexes_never_go_stale_under_random_writes() {
    for f in fixtures() {
        let t = f.tenant();
        t.register_schema(people_schema()).unwrap();
        let mut live: Vec<String> = Vec::new();
        let mut rng = 0x2545F4914F6CDD1Du64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        for step in 0..600 {
            let r = next();
            match r % 5 {
                0 | 1 => {
                    let mut p = person((r % 300) as usize);
                    p["age"] = json!((r >> 8) % 6);
                    let id = t.insert("people", p).unwrap().to_string();
                    if !live.contains(&id) {
                        live.push(id);
                    }
                }
                2 if !live.is_empty() => {
                    let id = &live[(r >> 8) as usize % live.len()];
                    t.update(id, json!({"age": (r >> 16) % 6})).unwrap();
                }
                3 if !live.is_empty() => {
                    let id = live.swap_remove((r >> 8) as usize % live.len());
                    t.delete(&id).unwrap();
                }
                4 if !live.is_empty() => {
                    let id = live.swap_remove((r >> 8) as usize % live.len());
                    t.hard_delete(&id).unwrap();
                }
                _ => {}
            }
            if step % 50 == 49 {
                for age in 0..6 {
                    let got: BTreeSet<Uuid> = t
                        .index_lookup_ids("people", "age", &IndexQuery::Eq(json!(age)), false)
                        .unwrap()
                        .into_iter()
                        .collect();
                    assert_eq!(
                        got,
                        expected_ids(&t, age),
                        "{} step {step} age {age}",
                        f.name
                    );
                }
            }
        }
        // Soft-deleted rows are still indexed, and visible on request.
        let with_deleted = t
            .index_lookup_ids(
                "people",
                "age",
                &IndexQuery::In((0..6).map(|a| json!(a)).collect()),
                true,
            )
            .unwrap();
        assert_eq!(
            with_deleted.len() as u64,
            t.count("people", true).unwrap(),
            "{}",
            f.name
        );
    }
}

#[test]
fn changing_indexed_fields_rebuilds_the_index() {
    for f in fixtures() {
        let t = f.tenant();
        t.register_schema(people_schema()).unwrap();
        t.insert_many("people", (0..40).map(person).collect())
            .unwrap();
        let mut schema = people_schema();
        schema["json_schema_extra"]["indexed_fields"] = json!(["name", "age"]);
        t.register_schema(schema).unwrap();
        let hit = t
            .index_lookup("people", "name", &IndexQuery::Eq(json!("Person 7")), false)
            .unwrap();
        assert_eq!(hit.len(), 1, "{}", f.name);
        assert_eq!(hit[0].1["email"], "p7@example.com");
        assert_eq!(
            t.index_lookup(
                "people",
                "address.city",
                &IndexQuery::Eq(json!("Berlin")),
                false
            )
            .unwrap_err()
            .code(),
            "INVALID_ARGUMENT"
        );
        assert_eq!(ages(&t, IndexQuery::Eq(json!(21))).len(), 1);
        // Old index entries are gone: re-adding the city index rebuilds it from the rows.
        t.register_schema(people_schema()).unwrap();
        assert_eq!(
            t.index_lookup(
                "people",
                "address.city",
                &IndexQuery::Eq(json!("Berlin")),
                false
            )
            .unwrap()
            .len(),
            10
        );
    }
}
