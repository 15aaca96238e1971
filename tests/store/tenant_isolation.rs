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
        assert_ne!(shared, a_id, "same key, different tenant, different id");
        assert_eq!(a.count("people", false).unwrap(), 10, "{}", f.name);
        assert_eq!(b.count("people", false).unwrap(), 1);
        assert_eq!(b.list("people", &ListOptions::default()).unwrap().len(), 1);
        assert_eq!(
            b.get(&a_id.to_string()).unwrap(),
            None,
            "ids of other tenants are not visible"
        );
        assert_eq!(
            b.update(&a_id.to_string(), json!({"age": 1}))
                .unwrap_err()
                .code(),
            "NOT_FOUND"
        );
        assert_eq!(
            b.hard_delete(&a_id.to_string()).unwrap_err().code(),
            "NOT_FOUND"
        );
        assert_eq!(
            b.index_lookup_ids("people", "age", &IndexQuery::Eq(json!(23)), true)
                .unwrap(),
            vec![shared]
        );
        assert_eq!(b.lookup(&["p4@example.com"]).unwrap().len(), 0);
        assert_eq!(b.wal().seq().unwrap(), 2);
        assert!(b
            .wal()
            .entries(0, 100)
            .unwrap()
            .iter()
            .all(|e| e.id.as_deref() != Some(&a_id.to_string())));
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
