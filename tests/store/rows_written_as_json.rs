//! Databases written before rows were stored in the binary format (version 2) hold JSON rows
//! (version 1). `tests/fixtures/json-rows` is such a database, written by the `rem` CLI of that
//! release, with what that release answered to a list, a SQL query, an index lookup and a WAL
//! export beside it. Tenant `default` has table `note` (key `slug`, indexes on `n` and `tags`)
//! with rows holding nested values, unicode, u64::MAX, i64::MIN, 1e300 and -0.0, one of them
//! soft-deleted, and a `cites` edge.

use std::path::Path;

use remdb::{Database, IndexQuery, ListOptions};
use serde_json::{json, Value};

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/json-rows")
        .join(name)
}

fn expected(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(name)).unwrap()).unwrap()
}

fn json_row_database() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixture("remdb.redb"), dir.path().join("remdb.redb")).unwrap();
    dir
}

fn list_all(t: &remdb::Tenant) -> Value {
    let options = ListOptions {
        include_deleted: true,
        ..ListOptions::default()
    };
    Value::from(
        t.list("note", &options)
            .unwrap()
            .into_iter()
            .map(Value::Object)
            .collect::<Vec<_>>(),
    )
}

fn answers(t: &remdb::Tenant) -> (Value, Value, Value) {
    let sql = t
        .sql(
            "SELECT slug, n, x, tags, meta FROM note WHERE n > 0 ORDER BY x DESC",
            &[],
        )
        .unwrap();
    let sql = Value::from(
        sql.objects()
            .into_iter()
            .map(Value::Object)
            .collect::<Vec<_>>(),
    );
    let found = t
        .index_lookup("note", "tags", &IndexQuery::Eq(json!("ünï")), false)
        .unwrap();
    let found = Value::from(
        found
            .into_iter()
            .map(|(_, row)| Value::Object(row))
            .collect::<Vec<_>>(),
    );
    (list_all(t), sql, found)
}

#[test]
fn a_database_of_json_rows_answers_as_the_release_that_wrote_it() {
    let dir = json_row_database();
    let db = Database::open(dir.path()).unwrap();
    let t = db.tenant("default").unwrap();
    let (list, sql, found) = answers(&t);
    assert_eq!(list, expected("list.json"));
    assert_eq!(sql, expected("sql.json"));
    assert_eq!(found, expected("find.json"));
    // The log is untouched: it carries JSON in both releases.
    let log: Vec<Value> = std::fs::read_to_string(fixture("wal.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let entries = t.wal().entries(0, 1000).unwrap();
    assert_eq!(serde_json::to_value(&entries).unwrap(), Value::from(log));
    // Counts, the edge and soft-delete flags read from the old row headers.
    assert_eq!(t.count("note", false).unwrap(), 4);
    assert_eq!(t.count("note", true).unwrap(), 5);
    assert!(t
        .get("22ac48ab-f7db-5a30-833f-e5c38d7af982")
        .unwrap()
        .is_none());
    let plain = "f3da4ec6-f043-515b-8387-e10d62865749";
    let nested = "cbc48f7b-55a8-52eb-a89a-63fade199b71";
    assert!(t.edge(plain, nested, "cites").unwrap().is_some());
}

#[test]
fn json_rows_rewritten_in_the_binary_format_read_the_same() {
    let dir = json_row_database();
    let db = Database::open(dir.path()).unwrap();
    let t = db.tenant("default").unwrap();
    // Re-writing every live row with an empty patch stores it as version 2 without changing it
    // (beyond `modified_at`).
    let before = list_all(&t);
    for row in before.as_array().unwrap() {
        if row["deleted_at"].is_null() {
            t.update(row["id"].as_str().unwrap(), json!({})).unwrap();
        }
    }
    let strip = |v: Value| -> Value {
        let mut rows = v.as_array().unwrap().clone();
        for row in &mut rows {
            row.as_object_mut().unwrap().remove("modified_at");
        }
        Value::from(rows)
    };
    let after = list_all(&t);
    assert_eq!(strip(after.clone()), strip(before));
    // Numbers keep their kind and text through the binary form.
    let big = after
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["slug"] == "big")
        .unwrap();
    assert_eq!(
        big["meta"].to_string(),
        r#"{"f":1.0,"min":-9223372036854775808,"tiny":5e-324}"#
    );
    assert!(big["n"].is_u64());
    let (_, sql, found) = answers(&t);
    assert_eq!(sql, expected("sql.json"));
    assert_eq!(strip(found), strip(expected("find.json")));
    // And the database reopens with a mix of both formats.
    drop(t);
    drop(db);
    let db = Database::open(dir.path()).unwrap();
    let t = db.tenant("default").unwrap();
    assert_eq!(strip(list_all(&t)), strip(after));
}
