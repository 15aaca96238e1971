//! Differential testing: the relational subset of remdb's SQL against SQLite (rusqlite, bundled)
//! on the same rows. Random WHERE trees, orderings, pages, groups and joins must give the same
//! answers in both.
#![cfg(not(target_arch = "wasm32"))]

use proptest::prelude::*;
use remdb::{Database, Tenant};
use rusqlite::types::ValueRef;
use serde_json::{json, Value};

const WORDS: [&str; 6] = ["apple", "Apple", "banana", "cherry", "date_x", "e%f"];

/// Deterministic rows: some fields missing (NULL in SQLite).
fn rows() -> Vec<Value> {
    let mut state: u64 = 0x9e3779b97f4a7c15;
    let mut next = move |m: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % m
    };
    (0..200)
        .map(|k| {
            let mut r = json!({"k": k, "g": next(5)});
            if next(6) != 0 {
                r["n"] = json!(next(50) as i64 - 10);
            }
            if next(5) != 0 {
                r["x"] = json!((next(2000) as f64) / 8.0 - 50.0);
            }
            if next(7) != 0 {
                r["s"] = json!(WORDS[next(6) as usize]);
            }
            if next(3) == 0 {
                let word = WORDS[next(6) as usize];
                r["t"] = json!(if next(2) == 0 {
                    word.to_string()
                } else {
                    format!("{word}{}", next(3))
                });
            }
            r
        })
        .collect()
}

struct Both {
    _db: Database,
    t: Tenant,
    lite: rusqlite::Connection,
}

fn setup() -> Both {
    let db = Database::memory();
    let t = db.tenant("default").unwrap();
    t.register_schema(json!({
        "title": "Item", "type": "object",
        "properties": {"k": {"type": "integer"}, "g": {"type": "integer"}, "n": {"type": "integer"},
                       "x": {"type": "number"}, "s": {"type": "string"}, "t": {"type": "string"}},
        "json_schema_extra": {"key_field": "k", "indexed_fields": ["n", "s"]}
    }))
    .unwrap();
    t.register_schema(json!({
        "title": "Tag", "type": "object",
        "properties": {"k2": {"type": "integer"}, "item_k": {"type": "integer"}, "label": {"type": "string"}},
        "json_schema_extra": {"key_field": "k2", "indexed_fields": ["item_k"]}
    }))
    .unwrap();
    let lite = rusqlite::Connection::open_in_memory().unwrap();
    lite.execute_batch(
        "PRAGMA case_sensitive_like = ON;
         CREATE TABLE item (k INTEGER PRIMARY KEY, g INTEGER, n INTEGER, x REAL, s TEXT, t TEXT);
         CREATE TABLE tag (k2 INTEGER PRIMARY KEY, item_k INTEGER, label TEXT);",
    )
    .unwrap();
    let items = rows();
    for r in &items {
        lite.execute(
            "INSERT INTO item VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            rusqlite::params![
                r["k"].as_i64(),
                r["g"].as_i64(),
                r["n"].as_i64(),
                r["x"].as_f64(),
                r["s"].as_str(),
                r["t"].as_str()
            ],
        )
        .unwrap();
    }
    t.insert_many("item", items).unwrap();
    let tags: Vec<Value> = (0..150)
        .map(|k2| json!({"k2": k2, "item_k": (k2 * 7) % 230, "label": WORDS[k2 as usize % 6]}))
        .collect();
    for r in &tags {
        lite.execute(
            "INSERT INTO tag VALUES (?1, ?2, ?3)",
            rusqlite::params![r["k2"].as_i64(), r["item_k"].as_i64(), r["label"].as_str()],
        )
        .unwrap();
    }
    t.insert_many("tag", tags).unwrap();
    Both { _db: db, t, lite }
}

fn lite_rows(c: &rusqlite::Connection, sql: &str) -> Vec<Vec<Value>> {
    let mut stmt = c
        .prepare(sql)
        .unwrap_or_else(|e| panic!("sqlite rejects {sql}: {e}"));
    let n = stmt.column_count();
    let mut out = Vec::new();
    let mut rows = stmt.query([]).unwrap();
    while let Some(row) = rows.next().unwrap() {
        out.push(
            (0..n)
                .map(|i| match row.get_ref(i).unwrap() {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(v) => json!(v),
                    ValueRef::Real(v) => json!(v),
                    ValueRef::Text(t) => json!(String::from_utf8_lossy(t)),
                    ValueRef::Blob(_) => panic!("blob"),
                })
                .collect(),
        );
    }
    out
}

fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
        _ => a == b,
    }
}

fn check(both: &Both, sql: &str) -> Result<(), TestCaseError> {
    let ours = both
        .t
        .sql(sql, &[])
        .map_err(|e| TestCaseError::fail(format!("remdb rejects {sql}: {e}")))?
        .rows;
    let theirs = lite_rows(&both.lite, sql);
    let equal = ours.len() == theirs.len()
        && ours
            .iter()
            .zip(&theirs)
            .all(|(a, b)| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y)));
    prop_assert!(equal, "{}\n remdb:  {:?}\n sqlite: {:?}", sql, ours, theirs);
    Ok(())
}

/// A random condition over `item`, rendered as SQL both engines read the same way.
fn condition() -> impl Strategy<Value = String> {
    let num_col = prop_oneof![Just("n"), Just("x"), Just("g"), Just("k")];
    let str_col = prop_oneof![Just("s"), Just("t")];
    let op = prop_oneof![
        Just("="),
        Just("<>"),
        Just("!="),
        Just("<"),
        Just("<="),
        Just(">"),
        Just(">=")
    ];
    let num = prop_oneof![
        (-15i64..45).prop_map(|v| v.to_string()),
        (-60i64..200).prop_map(|v| format!("{}.5", v / 4))
    ];
    let word = prop::sample::select(WORDS.to_vec()).prop_map(|w| format!("'{w}'"));
    let pattern = prop::sample::select(vec![
        "'a%'",
        "'%e'",
        "'_pple'",
        "'%a%a%'",
        "'%'",
        "'e!%f' ESCAPE '!'",
        "'A%'",
        "'%x'",
    ]);
    let leaf = prop_oneof![
        (num_col.clone(), op.clone(), num.clone()).prop_map(|(c, o, v)| format!("{c} {o} {v}")),
        (str_col.clone(), op, word.clone()).prop_map(|(c, o, v)| format!("{c} {o} {v}")),
        (num_col.clone(), any::<bool>())
            .prop_map(|(c, neg)| format!("{c} IS {}NULL", if neg { "NOT " } else { "" })),
        (str_col.clone(), any::<bool>())
            .prop_map(|(c, neg)| format!("{c} IS {}NULL", if neg { "NOT " } else { "" })),
        (
            num_col.clone(),
            prop::collection::vec(num.clone(), 1..4),
            any::<bool>(),
            any::<bool>()
        )
            .prop_map(|(c, vs, neg, null)| {
                let mut vs = vs;
                if null {
                    vs.push("NULL".into());
                }
                format!(
                    "{c} {}IN ({})",
                    if neg { "NOT " } else { "" },
                    vs.join(", ")
                )
            }),
        (
            str_col.clone(),
            prop::collection::vec(word, 1..4),
            any::<bool>()
        )
            .prop_map(|(c, vs, neg)| format!(
                "{c} {}IN ({})",
                if neg { "NOT " } else { "" },
                vs.join(", ")
            )),
        (num_col, num.clone(), num, any::<bool>()).prop_map(|(c, a, b, neg)| format!(
            "{c} {}BETWEEN {a} AND {b}",
            if neg { "NOT " } else { "" }
        )),
        (str_col, pattern, any::<bool>())
            .prop_map(|(c, p, neg)| format!("{c} {}LIKE {p}", if neg { "NOT " } else { "" })),
    ];
    leaf.prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} AND {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} OR {b})")),
            inner.prop_map(|a| format!("NOT ({a})")),
        ]
    })
}

thread_local! {
    static BOTH: Both = setup();
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 250,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn filters_match_sqlite(w in condition()) {
        BOTH.with(|b| check(b, &format!("SELECT k FROM item WHERE {w} ORDER BY k")))?;
    }

    #[test]
    fn ordering_and_pages_match_sqlite(
        w in condition(),
        key in prop::sample::select(vec!["n", "x", "s", "t", "g"]),
        desc in any::<bool>(),
        nulls_first in any::<bool>(),
        limit in 0usize..30,
        offset in 0usize..40,
    ) {
        let sql = format!(
            "SELECT k, n, s FROM item WHERE {w} ORDER BY {key} {} NULLS {}, k LIMIT {limit} OFFSET {offset}",
            if desc { "DESC" } else { "ASC" },
            if nulls_first { "FIRST" } else { "LAST" }
        );
        BOTH.with(|b| check(b, &sql))?;
    }

    #[test]
    fn groups_match_sqlite(w in condition(), by in prop::sample::select(vec!["g", "s", "n"])) {
        let sql = format!(
            "SELECT {by}, COUNT(*), COUNT(n), COUNT(DISTINCT s), SUM(n), MIN(s), MAX(x), AVG(x) FROM item WHERE {w} GROUP BY {by} ORDER BY {by} NULLS FIRST"
        );
        BOTH.with(|b| check(b, &sql))?;
        let sql = format!("SELECT g, COUNT(*) AS c FROM item WHERE {w} GROUP BY g HAVING COUNT(*) > 5 ORDER BY c DESC, g");
        BOTH.with(|b| check(b, &sql))?;
    }

    #[test]
    fn joins_match_sqlite(w in condition(), left in any::<bool>()) {
        let w = w.replace("n ", "i.n ").replace("s ", "i.s ");
        let sql = format!(
            "SELECT i.k, t.label, t.k2 FROM item i {} JOIN tag t ON t.item_k = i.k WHERE {w} ORDER BY i.k, t.k2",
            if left { "LEFT" } else { "INNER" }
        );
        BOTH.with(|b| check(b, &sql))?;
    }
}

#[test]
fn distinct_and_expressions_match_sqlite() {
    let b = setup();
    for sql in [
        "SELECT DISTINCT s FROM item ORDER BY s NULLS FIRST",
        "SELECT DISTINCT g, s FROM item WHERE n > 10 ORDER BY g, s NULLS LAST",
        "SELECT k, n * 2 + 1, n - x, -n FROM item WHERE n IS NOT NULL AND x IS NOT NULL ORDER BY k LIMIT 20",
        "SELECT k, COALESCE(t, s, 'none') FROM item ORDER BY k LIMIT 30",
        "SELECT g, SUM(n * 2), MAX(LENGTH(s)) FROM item GROUP BY g ORDER BY g",
        "SELECT k, CASE WHEN n > 20 THEN 'big' WHEN n > 0 THEN 'small' ELSE 'neg' END FROM item ORDER BY k LIMIT 25",
        "SELECT COUNT(*), SUM(x), MIN(n), MAX(n) FROM item WHERE k < 0",
        "SELECT t.label, COUNT(*) FROM item i JOIN tag t ON t.item_k = i.k GROUP BY t.label ORDER BY t.label",
    ] {
        check(&b, sql).unwrap();
    }
}
