//! The wasm-bindgen JS face (`RemDb`), exercised from Rust on wasm32 in Node and in Chromium.
//!
//! Every scenario runs on both in-memory backends: the memory KV (`openMemory`) and redb over
//! in-memory pages (`openRedbMemory`). Inputs are built as plain JS objects, the way JavaScript
//! passes them, and outputs and errors are read back through the JS values the face returns.
//!
//! `RemDb` lives in a private module of the crate, so these tests cannot name the type; they
//! reach it through `Database::into_js_face`, which is exactly what the two JS constructors call.
#![cfg(target_arch = "wasm32")]

use remdb::{Database, BUILTIN_TABLES};
use serde_json::{json, Value};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::wasm_bindgen_test;

use crate::wasm_harness::{code_of, js, prop, rs};

fn person_schema() -> JsValue {
    js(json!({
        "title": "Person", "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
        "required": ["name"],
        "json_schema_extra": {"key_field": "name", "indexed_fields": ["age"]}
    }))
}

fn names(rows: &Value) -> Vec<String> {
    let mut names: Vec<String> = rows
        .as_array()
        .expect("array")
        .iter()
        .map(|r| r["name"].as_str().expect("name").to_string())
        .collect();
    names.sort();
    names
}

on_both_backends! {
    fn opens_with_builtin_tables(db) {
        let tables: Vec<String> = rs(db.schemas().unwrap())
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_string())
            .collect();
        for builtin in BUILTIN_TABLES {
            assert!(tables.contains(&builtin.to_string()), "{builtin} missing from {tables:?}");
            assert_eq!(db.count(builtin, None).unwrap(), 0.0);
        }
        assert_eq!(db.tenant(), "default");
        assert_eq!(db.wal_seq().unwrap(), BUILTIN_TABLES.len() as f64, "one schema entry per built-in table");
        // The built-in tables take data straight away.
        let id = db.insert("resources", js(json!({"name": "readme", "content": "hello"}))).unwrap();
        assert_eq!(rs(db.get(&id, None).unwrap())["content"], "hello");
    }

    fn registers_inserts_reads_and_updates(db) {
        assert_eq!(db.register_schema(person_schema()).unwrap(), "person");
        assert!(rs(db.schemas().unwrap()).as_array().unwrap().iter().any(|s| s["name"] == "person"));

        let ada = db.insert("person", js(json!({"name": "Ada", "age": 36}))).unwrap();
        let row = db.get(&ada, None).unwrap();
        assert_eq!(prop(&row, "name").as_string().as_deref(), Some("Ada"), "rows are plain objects");
        let row = rs(row);
        assert_eq!(row["id"], ada.as_str());
        assert_eq!(row["age"], 36);
        assert!(row["created_at"].is_string() && row["modified_at"].is_string());
        assert!(row["deleted_at"].is_null());

        let ids = rs(db.insert_many("person", js(json!([{"name": "Bob", "age": 41}, {"name": "Cy"}]))).unwrap());
        assert_eq!(ids.as_array().unwrap().len(), 2);
        assert_eq!(db.count("person", None).unwrap(), 3.0);
        assert_eq!(names(&rs(db.list("person", JsValue::UNDEFINED).unwrap())), ["Ada", "Bob", "Cy"]);
        let first = rs(db.list("person", js(json!({"limit": 1}))).unwrap());
        let rest = rs(db.list("person", js(json!({"offset": 1}))).unwrap());
        assert_eq!(first.as_array().unwrap().len(), 1);
        assert_eq!(rest.as_array().unwrap().len(), 2);
        assert!(!rest.as_array().unwrap().contains(&first[0]));

        // Upsert by natural key keeps the id; a merge patch changes only what it names.
        assert_eq!(db.insert("person", js(json!({"name": "Ada", "age": 37}))).unwrap(), ada);
        assert_eq!(db.count("person", None).unwrap(), 3.0);
        let updated = rs(db.update(&ada, js(json!({"age": 38}))).unwrap());
        assert_eq!(updated["age"], 38);
        assert_eq!(rs(db.get(&ada, None).unwrap()), updated);
        assert!(db.get("0190b6b4-0000-7000-8000-000000000000", None).unwrap().is_null());
    }

    fn invalid_data_is_rejected_and_writes_nothing(db) {
        db.register_schema(person_schema()).unwrap();
        let ada = db.insert("person", js(json!({"name": "Ada", "age": 36}))).unwrap();
        let seq = db.wal_seq().unwrap();

        let err = db.insert("person", js(json!({"name": "Bob", "age": -1}))).unwrap_err();
        assert_eq!(prop(&err, "code").as_string().as_deref(), Some("VALIDATION"));
        assert!(String::from(err.unchecked_ref::<js_sys::Error>().message()).contains("person"));
        let issues = rs(prop(&err, "issues"));
        assert_eq!(issues[0]["pointer"], "/age", "{issues}");
        assert!(issues[0]["reason"].is_string());

        assert_eq!(code_of(db.insert("person", js(json!({"age": 3})))), "VALIDATION");
        assert_eq!(code_of(db.insert("person", js(json!("just a string")))), "VALIDATION");
        assert_eq!(code_of(db.insert("person", js(json!({"name": "Eve", "id": "x"})))), "VALIDATION");
        // One bad item fails the whole batch, and the issue says which one.
        let err = db.insert_many("person", js(json!([{"name": "Dan"}, {"name": "Eve", "age": "old"}]))).unwrap_err();
        assert_eq!(prop(&err, "code").as_string().as_deref(), Some("VALIDATION"));
        assert_eq!(rs(prop(&err, "issues"))[0]["pointer"], "/1/age");
        assert_eq!(code_of(db.insert_many("person", js(json!({"name": "Dan"})))), "INVALID_ARGUMENT");
        assert_eq!(code_of(db.update(&ada, js(json!({"age": -5})))), "VALIDATION");
        assert_eq!(code_of(db.register_schema(js(json!({"type": "string"})))), "INVALID_SCHEMA");

        assert_eq!(db.count("person", None).unwrap(), 1.0);
        assert_eq!(db.count("person", Some(true)).unwrap(), 1.0);
        assert_eq!(db.wal_seq().unwrap(), seq, "nothing reached the WAL");
        assert_eq!(rs(db.get(&ada, None).unwrap())["age"], 36);
        assert_eq!(names(&rs(db.list("person", JsValue::NULL).unwrap())), ["Ada"]);
    }

    fn values_nested_past_the_limit_are_refused_and_the_module_lives_on(db) {
        db.register_schema(js(json!({"title": "bag", "type": "object"}))).unwrap();
        // Built in JS, far deeper than any stack would survive a recursive read.
        let mut deep = JsValue::from(1);
        for _ in 0..100_000 {
            let wrapper = js_sys::Array::new();
            wrapper.push(&deep);
            deep = wrapper.into();
        }
        let row = js_sys::Object::new();
        js_sys::Reflect::set(&row, &JsValue::from_str("v"), &deep).unwrap();
        let err = db.insert("bag", row.into()).unwrap_err();
        assert_eq!(prop(&err, "code").as_string().as_deref(), Some("LIMIT"));
        // The store's own limit, for values the reader lets through.
        let mut at_limit = json!(1);
        for _ in 0..remdb::MAX_DEPTH {
            at_limit = json!([at_limit]);
        }
        assert_eq!(code_of(db.insert("bag", js(json!({"v": at_limit})))), "LIMIT");
        assert_eq!(db.count("bag", None).unwrap(), 0.0);
        db.insert("bag", js(json!({"v": [[1]]}))).unwrap();
        assert_eq!(db.count("bag", None).unwrap(), 1.0);
    }

    fn soft_and_hard_delete(db) {
        db.register_schema(person_schema()).unwrap();
        let ada = db.insert("person", js(json!({"name": "Ada"}))).unwrap();
        let bob = db.insert("person", js(json!({"name": "Bob"}))).unwrap();

        db.delete(&ada, None).unwrap();
        assert!(db.get(&ada, None).unwrap().is_null());
        let kept = rs(db.get(&ada, Some(true)).unwrap());
        assert_eq!(kept["name"], "Ada");
        assert!(kept["deleted_at"].is_string(), "includeDeleted shows the soft-deleted row");
        assert_eq!(db.count("person", None).unwrap(), 1.0);
        assert_eq!(db.count("person", Some(true)).unwrap(), 2.0);
        assert_eq!(names(&rs(db.list("person", JsValue::UNDEFINED).unwrap())), ["Bob"]);
        let all = rs(db.list("person", js(json!({"includeDeleted": true}))).unwrap());
        let gone = all.as_array().unwrap().iter().find(|r| r["id"] == ada.as_str()).unwrap();
        assert!(gone["deleted_at"].is_string());
        assert_eq!(code_of(db.delete(&ada, None)), "NOT_FOUND", "already soft-deleted");

        db.delete(&ada, Some(true)).unwrap();
        db.delete(&bob, Some(true)).unwrap();
        assert_eq!(db.count("person", Some(true)).unwrap(), 0.0);
        assert!(rs(db.list("person", js(json!({"includeDeleted": true}))).unwrap()).as_array().unwrap().is_empty());
        assert_eq!(code_of(db.delete(&bob, Some(true))), "NOT_FOUND");
        assert_eq!(code_of(db.delete("not-a-uuid", None)), "INVALID_ARGUMENT");
    }

    fn unknown_tables_and_bad_arguments(db) {
        assert_eq!(code_of(db.insert("nope", js(json!({"a": 1})))), "UNKNOWN_TABLE");
        assert_eq!(code_of(db.list("nope", JsValue::UNDEFINED)), "UNKNOWN_TABLE");
        assert_eq!(code_of(db.count("nope", None)), "UNKNOWN_TABLE");
        assert_eq!(code_of(db.insert_many("nope", js(json!([{}])))), "UNKNOWN_TABLE");

        for bad in [-1.0, 1.5, f64::NAN, f64::INFINITY, 1e300] {
            assert_eq!(code_of(db.wal_entries(bad, None)), "INVALID_ARGUMENT", "since = {bad}");
            assert_eq!(code_of(db.wal_entries(0.0, Some(bad))), "INVALID_ARGUMENT", "limit = {bad}");
        }
        assert_eq!(code_of(db.list("resources", js(json!({"limit": -1})))), "INVALID_ARGUMENT");
        assert_eq!(code_of(db.list("resources", js(json!({"offset": 0.5})))), "INVALID_ARGUMENT");
        assert_eq!(code_of(db.list("resources", js(json!({"include_deleted": true})))), "INVALID_ARGUMENT");
        assert_eq!(code_of(db.list("resources", js(json!(7)))), "INVALID_ARGUMENT");
        assert_eq!(code_of(db.apply_wal(js(json!("not entries")))), "INVALID_ARGUMENT");
        assert_eq!(code_of(db.apply_wal(js(json!([{"seq": -3}])))), "INVALID_ARGUMENT");
        assert_eq!(code_of(Database::memory().into_js_face(Some(String::new()))), "INVALID_ARGUMENT");
        let acme = Database::memory().into_js_face(Some("acme".into())).unwrap();
        assert_eq!(acme.tenant(), "acme");
    }

    fn sql_returns_plain_objects_in_column_order(db) {
        db.register_schema(person_schema()).unwrap();
        db.insert_many("person", js(json!([{"name": "Ada", "age": 36}, {"name": "Bob", "age": 41}, {"name": "Cy"}]))).unwrap();
        let rows = db.sql("SELECT age, name FROM person WHERE age > $1 ORDER BY age DESC", js(json!([30])), JsValue::UNDEFINED).unwrap();
        let first = js_sys::Array::from(&rows).get(0);
        let keys: Vec<String> = js_sys::Object::keys(first.unchecked_ref::<js_sys::Object>()).iter().map(|k| k.as_string().unwrap()).collect();
        assert_eq!(keys, ["age", "name"], "keys follow the select list");
        assert_eq!(rs(rows), json!([{"age": 41, "name": "Bob"}, {"age": 36, "name": "Ada"}]));
        assert_eq!(rs(db.sql("SELECT COUNT(*) AS n FROM person WHERE age IS NULL", JsValue::UNDEFINED, JsValue::UNDEFINED).unwrap()), json!([{"n": 1}]));
        assert_eq!(code_of(db.sql("SELECT nope FROM person", JsValue::UNDEFINED, JsValue::UNDEFINED)), "UNKNOWN_COLUMN");
        assert_eq!(code_of(db.sql("UPDATE person SET age = 1", JsValue::UNDEFINED, JsValue::UNDEFINED)), "SQL_UNSUPPORTED");
        assert_eq!(code_of(db.sql("SELECT * FROM person WHERE", JsValue::UNDEFINED, JsValue::UNDEFINED)), "SQL_SYNTAX");
        assert_eq!(code_of(db.sql("SELECT 1", js(json!({"a": 1})), JsValue::UNDEFINED)), "INVALID_ARGUMENT");
    }

    fn sql_takes_a_budget_per_call_and_per_database(db) {
        db.register_schema(person_schema()).unwrap();
        db.insert_many("person", js(json!([{"name": "Ada", "age": 36}, {"name": "Bob", "age": 41}, {"name": "Cy"}]))).unwrap();
        let tight = js(json!({"budget": {"maxRowsExamined": 2}}));
        let err = db.sql("SELECT name FROM person", JsValue::NULL, tight).unwrap_err();
        assert_eq!(code_of::<()>(Err(err.clone())), "LIMIT");
        let message = prop(&err, "message").as_string().unwrap();
        assert!(message.contains("maxRowsExamined") && message.contains("= 2"), "{message}");
        let enough = js(json!({"budget": {"maxRowsExamined": 3, "maxMemoryBytes": 1000000, "maxTimeMs": 60000}}));
        assert_eq!(rs(db.sql("SELECT COUNT(*) AS n FROM person WHERE age > 0", JsValue::NULL, enough).unwrap()), json!([{"n": 2}]));
        assert_eq!(code_of(db.sql("SELECT 1", JsValue::NULL, js(json!({"budget": {"rows": 1}})))), "INVALID_ARGUMENT");
        assert_eq!(code_of(db.sql("SELECT 1", JsValue::NULL, js(json!({"budgets": {}})))), "INVALID_ARGUMENT");
        assert_eq!(code_of(db.sql("SELECT 1", JsValue::NULL, js(json!({"budget": {"maxTimeMs": 1.5}})))), "INVALID_ARGUMENT");
        // The database's budget (RemDB.open({budget})) applies when a call gives none.
        let strict = remdb::Database::with_kv_options(
            std::sync::Arc::new(remdb::kv::MemoryKv::new()),
            &remdb::OpenOptions { budget: remdb::Budget { max_rows_examined: Some(0), ..Default::default() }, ..Default::default() },
        ).unwrap().into_js_face(None).unwrap();
        strict.insert("resources", js(json!({"name": "a"}))).unwrap();
        assert_eq!(code_of(strict.sql("SELECT name FROM resources", JsValue::NULL, JsValue::UNDEFINED)), "LIMIT");
        assert_eq!(rs(strict.sql("SELECT name FROM resources", JsValue::NULL, js(json!({"budget": {"maxRowsExamined": 10}}))).unwrap()), json!([{"name": "a"}]));
    }
}

/// Builds some history (schema, inserts, upsert, update, soft and hard deletes) on `src`,
/// exports it past the built-in tables and applies it to `dst`; both must end up identical.
macro_rules! replicate {
    ($src:expr, $dst:expr) => {{
        let (a, b) = ($src, $dst);
        assert_eq!(a.wal_seq().unwrap(), b.wal_seq().unwrap(), "same built-in tables");
        let base = a.wal_seq().unwrap();

        a.register_schema(person_schema()).unwrap();
        let ada = a.insert("person", js(json!({"name": "Ada", "age": 36}))).unwrap();
        let ids = rs(a.insert_many("person", js(json!([{"name": "Bob"}, {"name": "Cy", "age": 5}]))).unwrap());
        a.insert("person", js(json!({"name": "Ada", "age": 37}))).unwrap();
        a.update(ids[0].as_str().unwrap(), js(json!({"age": 50}))).unwrap();
        a.delete(&ada, None).unwrap();
        a.delete(ids[1].as_str().unwrap(), Some(true)).unwrap();
        a.insert("resources", js(json!({"name": "note", "content": "x", "metadata": {"k": [1, 2]}}))).unwrap();

        let entries = a.wal_entries(base, None).unwrap();
        let n = rs(entries.clone()).as_array().unwrap().len() as u64;
        assert_eq!(n as f64, a.wal_seq().unwrap() - base);
        assert_eq!(rs(a.wal_entries(base, Some(2.0)).unwrap()).as_array().unwrap().len(), 2);

        // A gap (the first entry missing) is refused and writes nothing.
        let tail = js(Value::Array(rs(entries.clone()).as_array().unwrap()[1..].to_vec()));
        assert_eq!(code_of(b.apply_wal(tail)), "WAL");
        assert_eq!(b.wal_seq().unwrap(), base);

        let report = rs(b.apply_wal(entries.clone()).unwrap());
        assert_eq!(report, json!({"applied": n, "skipped": 0, "seq": a.wal_seq().unwrap() as u64}));
        // Applying again is idempotent.
        assert_eq!(rs(b.apply_wal(entries).unwrap())["skipped"], n);
        assert_eq!(b.wal_seq().unwrap(), a.wal_seq().unwrap());

        for table in ["person", "resources"] {
            let opts = || js(json!({"includeDeleted": true}));
            assert_eq!(rs(b.list(table, opts()).unwrap()), rs(a.list(table, opts()).unwrap()), "{table}");
            assert_eq!(b.count(table, Some(true)).unwrap(), a.count(table, Some(true)).unwrap());
            assert_eq!(b.count(table, None).unwrap(), a.count(table, None).unwrap());
        }
        assert!(b.get(&ada, None).unwrap().is_null());
        assert_eq!(rs(b.get(ids[0].as_str().unwrap(), None).unwrap()), rs(a.get(ids[0].as_str().unwrap(), None).unwrap()));
        assert_eq!(rs(b.wal_entries(base, None).unwrap()), rs(a.wal_entries(base, None).unwrap()));
    }};
}

#[wasm_bindgen_test]
fn wal_replicates_memory_to_redb() {
    replicate!(open!(memory), open!(redb));
}

#[wasm_bindgen_test]
fn wal_replicates_redb_to_memory() {
    replicate!(open!(redb), open!(memory));
}

/// The module's allocator grows linear memory in steps of at least 1 MiB, not page by page:
/// 8 MiB of small allocations, all kept, grow it at most 8 times (64 KiB pages would be 128).
#[wasm_bindgen_test]
fn memory_grows_in_steps_not_pages() {
    let pages = || core::arch::wasm32::memory_size(0);
    let mut sizes = vec![pages()];
    let mut kept: Vec<Vec<u8>> = Vec::with_capacity(2048);
    for i in 0..2048 {
        kept.push(vec![i as u8; 4096]);
        if pages() != sizes[sizes.len() - 1] {
            sizes.push(pages());
        }
    }
    assert!(
        sizes.len() - 1 <= 8,
        "memory grew {} times: {sizes:?}",
        sizes.len() - 1
    );
    for step in sizes.windows(2) {
        assert!(
            (step[1] - step[0]) * 65536 >= 1 << 20,
            "a step under 1 MiB: {sizes:?}"
        );
    }
    assert!(kept.iter().enumerate().all(|(i, v)| v[4095] == i as u8));
}
