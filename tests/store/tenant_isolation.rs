//! Tenants: every key lives under the tenant's prefix; nothing crosses over.

use crate::common;

use crate::common::{fixtures, people_schema, person};
use remdb::{IndexQuery, ListOptions};
use serde_json::json;

#[test]
fn tenants_see_only_their_own_data() {
    for f in fixtures() {
        let a = f.db.tenant("acme").unwrap();
        let b = f.db.tenant("acme2").unwrap(); // shares a name prefix with `acme`
        a.register_schema(people_schema()).unwrap();
        b.register_schema(people_schema()).unwrap();
        a.insert_many("people", (0..10).map(person).collect())
            .unwrap();
        let shared = b.insert("people", person(3)).unwrap();
        let a_id = a.insert("people", person(3)).unwrap();
        // Ids come from the natural key alone: the same row has the same id in every tenant
        // (so logs replicate between tenants of any name), and each tenant keeps its own copy.
        assert_eq!(shared, a_id, "same key, same id in every tenant");
        b.update(&shared.to_string(), json!({"age": 77})).unwrap();
        assert_eq!(a.get(&a_id.to_string()).unwrap().unwrap()["age"], 23);
        assert_eq!(a.count("people", false).unwrap(), 10, "{}", f.name);
        assert_eq!(b.count("people", false).unwrap(), 1);
        assert_eq!(b.list("people", &ListOptions::default()).unwrap().len(), 1);
        // A row only `acme` has is invisible to `acme2`.
        let a_only = a.lookup(&["p4@example.com"]).unwrap()[0].1["id"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(
            b.get(&a_only).unwrap(),
            None,
            "ids of other tenants are not visible"
        );
        assert_eq!(
            b.update(&a_only, json!({"age": 1})).unwrap_err().code(),
            "NOT_FOUND"
        );
        assert_eq!(b.hard_delete(&a_only).unwrap_err().code(), "NOT_FOUND");
        assert_eq!(
            b.index_lookup_ids("people", "age", &IndexQuery::Eq(json!(77)), true)
                .unwrap(),
            vec![shared]
        );
        assert!(b
            .index_lookup_ids("people", "age", &IndexQuery::Eq(json!(24)), true)
            .unwrap()
            .is_empty());
        assert_eq!(b.lookup(&["p4@example.com"]).unwrap().len(), 0);
        assert_eq!(b.wal().seq().unwrap(), 3);
        assert!(b
            .wal()
            .entries(0, 100)
            .unwrap()
            .iter()
            .all(|e| e.id.as_deref() != Some(a_only.as_str())));
        let c = f.db.tenant("empty").unwrap();
        assert_eq!(
            c.insert("people", person(1)).unwrap_err().code(),
            "UNKNOWN_TABLE"
        );
        assert_eq!(f.db.tenants().unwrap(), vec!["acme", "acme2"]);
    }
}

#[test]
fn tenant_names_are_checked() {
    let db = common::memory_db();
    for bad in ["", "a\0b", "line\nbreak", &"x".repeat(129)] {
        assert_eq!(
            db.tenant(bad).unwrap_err().code(),
            "INVALID_ARGUMENT",
            "{bad:?}"
        );
    }
    assert!(db.tenant("acme corp/eu-1").is_ok());
}
