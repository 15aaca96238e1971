//! Fuzzing the parser, planner and executor: random token soups, mutated valid queries and
//! arbitrary text must give an answer or a typed error — never a panic.
#![cfg(not(target_arch = "wasm32"))]

use proptest::prelude::*;
use remdb::{Database, Tenant};
use serde_json::json;

fn tenant() -> (Database, Tenant) {
    let db = Database::memory();
    let t = db.tenant("default").unwrap();
    t.register_schema(json!({
        "title": "Doc", "type": "object",
        "properties": {"name": {"type": "string"}, "n": {"type": "integer"}, "tags": {"type": "array"},
                       "meta": {"type": "object"}, "score": {"type": "number"}},
        "json_schema_extra": {"key_field": "name", "indexed_fields": ["n", "tags"]}
    }))
    .unwrap();
    t.register_schema(json!({
        "title": "Other", "type": "object",
        "properties": {"ref": {"type": "string"}, "v": {"type": "integer"}}
    }))
    .unwrap();
    let docs = (0..40)
        .map(|i| json!({"name": format!("d{i}"), "n": i % 7, "tags": ["a", i % 3], "meta": {"k": i, "deep": {"x": "y"}}, "score": i as f64 / 3.0}))
        .collect();
    t.insert_many("doc", docs).unwrap();
    t.insert_many(
        "other",
        (0..10)
            .map(|i| json!({"ref": format!("d{i}"), "v": i}))
            .collect(),
    )
    .unwrap();
    (db, t)
}

const TOKENS: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "AND",
    "OR",
    "NOT",
    "IN",
    "BETWEEN",
    "LIKE",
    "ILIKE",
    "IS",
    "NULL",
    "TRUE",
    "FALSE",
    "ORDER",
    "BY",
    "GROUP",
    "HAVING",
    "LIMIT",
    "OFFSET",
    "JOIN",
    "LEFT",
    "ON",
    "AS",
    "DISTINCT",
    "ASC",
    "DESC",
    "NULLS",
    "FIRST",
    "LAST",
    "COUNT",
    "SUM",
    "AVG",
    "MIN",
    "MAX",
    "LOWER",
    "NOW",
    "INTERVAL",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "CAST",
    "EXPLAIN",
    "LOOKUP",
    "SEARCH",
    "TRAVERSE",
    "doc",
    "other",
    "d",
    "o",
    "name",
    "n",
    "tags",
    "meta",
    "meta.k",
    "meta.deep.x",
    "score",
    "id",
    "created_at",
    "deleted_at",
    "ref",
    "v",
    "*",
    "(",
    ")",
    ",",
    ".",
    "=",
    "<>",
    "<",
    ">=",
    "+",
    "-",
    "/",
    "%",
    "||",
    "'x'",
    "'d1'",
    "'%'",
    "'2025-01-01'",
    "'7 days'",
    "0",
    "1",
    "-1",
    "3.5",
    "1e308",
    "99999999999999999999",
    "$1",
    "$2",
    "?",
    ";",
    "embedding.cosine('x')",
];

fn run(t: &Tenant, sql: &str) {
    // Either outcome is fine; a panic fails the property.
    let _ = t.sql(sql, &[json!(3), json!("d2")]);
}

thread_local! {
    static T: (Database, Tenant) = tenant();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn token_soup_never_panics(tokens in prop::collection::vec(prop::sample::select(TOKENS), 0..24)) {
        T.with(|(_, t)| run(t, &tokens.join(" ")));
    }

    #[test]
    fn select_shaped_soup_never_panics(
        cols in prop::collection::vec(prop::sample::select(TOKENS), 1..5),
        cond in prop::collection::vec(prop::sample::select(TOKENS), 0..12),
        tail in prop::collection::vec(prop::sample::select(TOKENS), 0..8),
    ) {
        let sql = format!("SELECT {} FROM doc d LEFT JOIN other o ON o.ref = d.name WHERE {} {}", cols.join(", "), cond.join(" "), tail.join(" "));
        T.with(|(_, t)| run(t, &sql));
        let sql = format!("SELECT {} FROM doc WHERE {} GROUP BY n {}", cols.join(" "), cond.join(" "), tail.join(" "));
        T.with(|(_, t)| run(t, &sql));
    }

    #[test]
    fn arbitrary_text_never_panics(sql in "\\PC{0,80}") {
        T.with(|(_, t)| run(t, &sql));
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let (_db, t) = tenant();
    let deep = format!("SELECT {}1{} FROM doc", "(".repeat(5000), ")".repeat(5000));
    assert!(t.sql(&deep, &[]).is_err());
    let deep = format!(
        "SELECT name FROM doc WHERE {}",
        vec!["n = 1"; 3000].join(" OR ")
    );
    assert_eq!(t.sql(&deep, &[]).unwrap_err().code(), "SQL_UNSUPPORTED");
    // Up to the limit, long chains work.
    let chain = format!(
        "SELECT name FROM doc WHERE {}",
        (0..120)
            .map(|i| format!("n = {i}"))
            .collect::<Vec<_>>()
            .join(" OR ")
    );
    assert_eq!(t.sql(&chain, &[]).unwrap().len(), 40);
    let long_in = format!(
        "SELECT name FROM doc WHERE n IN ({})",
        (0..20000)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    assert_eq!(t.sql(&long_in, &[]).unwrap().len(), 40);
}
