//! Hostile SQL: query budgets (rows examined, memory, time) end runaway queries with a typed
//! `LIMIT` error, `ORDER BY ... LIMIT` over joins keeps O(k) rows, and corner cases that used to
//! give wrong answers give the right one or a typed error. Bounds are checked with budgets,
//! never with timings.
#![cfg(not(target_arch = "wasm32"))]

use std::sync::Arc;

use proptest::prelude::*;
use remdb::{Budget, Database, OpenOptions, Tenant};
use serde_json::{json, Value};

/// `item` rows `k` = 0..n with `g` = k % groups (unindexed) and a name.
fn items(n: usize, groups: usize) -> (Database, Tenant) {
    let db = Database::memory();
    let t = db.tenant("default").unwrap();
    t.register_schema(items_schema()).unwrap();
    insert_items(&t, n, groups);
    (db, t)
}

fn items_schema() -> Value {
    json!({
        "title": "Item", "type": "object",
        "properties": {"k": {"type": "integer"}, "g": {"type": "integer"}, "name": {"type": "string"}},
        "json_schema_extra": {"key_field": "k"}
    })
}

fn insert_items(t: &Tenant, n: usize, groups: usize) {
    let rows = (0..n)
        .map(|k| json!({"k": k, "g": k % groups, "name": format!("n{k:05}")}))
        .collect();
    t.insert_many("item", rows).unwrap();
}

fn budget(rows: Option<u64>, memory: Option<u64>, time_ms: Option<u64>) -> Budget {
    Budget {
        max_rows_examined: rows,
        max_memory_bytes: memory,
        max_time_ms: time_ms,
    }
}

fn limit_error(r: remdb::Result<remdb::QueryResult>, setting: &str) -> String {
    let err = r.expect_err("the budget must stop the query");
    assert_eq!(err.code(), "LIMIT", "{err}");
    let text = err.to_string();
    assert!(text.contains(setting), "`{text}` should name {setting}");
    text
}

const THREE_WAY: &str = "SELECT a.name AS n FROM item a JOIN item b ON a.g = b.g \
                         JOIN item c ON b.g = c.g ORDER BY n LIMIT 1";

#[test]
fn each_budget_stops_a_query_with_a_limit_error_naming_it_and_its_value() {
    let (_db, t) = items(300, 1);
    let text = limit_error(
        t.sql_with("SELECT name FROM item", &[], &budget(Some(100), None, None)),
        "max_rows_examined = 100",
    );
    assert!(text.contains("--max-rows-examined"), "{text}");
    limit_error(
        t.sql_with(
            "SELECT name FROM item ORDER BY name",
            &[],
            &budget(None, Some(10_000), None),
        ),
        "max_memory_bytes = 10000",
    );
    // 300³ = 27M joined rows: far more than 50 ms of work on any machine.
    limit_error(
        t.sql_with(THREE_WAY, &[], &budget(Some(u64::MAX), None, Some(50))),
        "max_time_ms = 50",
    );
    // Within budget, the same queries answer.
    let r = t
        .sql_with("SELECT name FROM item", &[], &budget(Some(300), None, None))
        .unwrap();
    assert_eq!(r.rows.len(), 300);
}

#[test]
fn a_fanning_out_join_counts_every_joined_row_it_examines() {
    let (_db, t) = items(200, 1);
    // 200 rows per side, 40,000 joined pairs.
    let q = "SELECT a.name FROM item a JOIN item b ON a.g = b.g";
    limit_error(
        t.sql_with(q, &[], &budget(Some(10_000), None, None)),
        "max_rows_examined = 10000",
    );
    assert_eq!(
        t.sql_with(q, &[], &budget(Some(40_400), None, None))
            .unwrap()
            .rows
            .len(),
        40_000
    );
}

#[test]
fn order_by_limit_over_a_three_way_self_join_holds_only_the_top_k() {
    // 120 rows in 2 groups: 120 × 60 × 60 = 432,000 joined rows. Holding them all would need
    // tens of MB; the bounded top-k holds 2k + 64 rows plus the two hash tables.
    let (_db, t) = items(120, 2);
    let tight = budget(None, Some(1 << 20), None);
    for q in [
        THREE_WAY,
        "SELECT a.name FROM item a JOIN item b ON a.g = b.g JOIN item c ON b.g = c.g ORDER BY a.name DESC LIMIT 3",
        "SELECT a.name, c.k FROM item a JOIN item b ON a.g = b.g JOIN item c ON b.g = c.g ORDER BY 2 DESC, 1 LIMIT 2 OFFSET 1",
    ] {
        let r = t.sql_with(q, &[], &tight).unwrap_or_else(|e| panic!("{q}: {e}"));
        assert!(!r.rows.is_empty(), "{q}");
    }
    let r = t.sql_with(THREE_WAY, &[], &tight).unwrap();
    assert_eq!(r.rows, vec![vec![json!("n00000")]]);
    let r = t
        .sql_with(
            "SELECT a.name, c.k FROM item a JOIN item b ON a.g = b.g JOIN item c ON b.g = c.g ORDER BY 2 DESC, 1 LIMIT 2 OFFSET 1",
            &[],
            &tight,
        )
        .unwrap();
    assert_eq!(
        r.rows,
        vec![
            vec![json!("n00001"), json!(119)],
            vec![json!("n00001"), json!(119)]
        ]
    );
    // Without LIMIT the same join must be materialised: the memory budget says so.
    limit_error(
        t.sql_with(
            "SELECT a.name AS n FROM item a JOIN item b ON a.g = b.g JOIN item c ON b.g = c.g ORDER BY n",
            &[],
            &tight,
        ),
        "max_memory_bytes",
    );
}

#[test]
fn limit_without_order_stops_a_join_and_a_distinct_early() {
    let (_db, t) = items(200, 1);
    // The build side reads its 200 rows; the probe side stops after the first few pairs.
    let early = budget(Some(260), None, None);
    let r = t
        .sql_with(
            "SELECT a.name, b.name FROM item a JOIN item b ON a.g = b.g LIMIT 5",
            &[],
            &early,
        )
        .unwrap();
    assert_eq!(r.rows.len(), 5);
    let r = t
        .sql_with(
            "SELECT DISTINCT a.g FROM item a JOIN item b ON a.g = b.g LIMIT 1",
            &[],
            &early,
        )
        .unwrap();
    assert_eq!(r.rows, vec![vec![json!(0)]]);
}

#[test]
fn a_database_budget_applies_to_every_call_and_a_call_budget_wins() {
    let options = OpenOptions {
        budget: budget(Some(50), None, None),
        ..OpenOptions::default()
    };
    let db = Database::with_kv_options(Arc::new(remdb::kv::MemoryKv::new()), &options).unwrap();
    let t = db.tenant("default").unwrap();
    t.register_schema(items_schema()).unwrap();
    insert_items(&t, 100, 3);
    // COUNT(name) reads every row (COUNT(*) alone would read the table's counter, no row).
    limit_error(
        t.sql("SELECT COUNT(name) FROM item", &[]),
        "max_rows_examined = 50",
    );
    let r = t
        .sql_with(
            "SELECT COUNT(name) FROM item",
            &[],
            &budget(Some(1000), None, None),
        )
        .unwrap();
    assert_eq!(r.rows, vec![vec![json!(100)]]);
    // A call that sets only the time keeps the database's row budget.
    limit_error(
        t.sql_with(
            "SELECT COUNT(name) FROM item",
            &[],
            &budget(None, None, Some(60_000)),
        ),
        "max_rows_examined = 50",
    );
    // TRAVERSE inside SQL runs under the query's budget too.
    let ids: Vec<String> = t
        .sql_with("SELECT id FROM item", &[], &budget(Some(1000), None, None))
        .unwrap()
        .rows
        .iter()
        .map(|r| r[0].as_str().unwrap().to_string())
        .collect();
    for pair in ids.windows(2) {
        t.add_edge(&pair[0], &pair[1], "next", json!({})).unwrap();
    }
    let q = format!("TRAVERSE FROM '{}' DEPTH 99", ids[0]);
    limit_error(t.sql(&q, &[]), "max_rows_examined = 50");
    assert_eq!(
        t.sql_with(&q, &[], &budget(Some(1000), None, None))
            .unwrap()
            .rows
            .len(),
        99
    );
}

#[test]
fn aggregation_and_distinct_count_their_tables_against_the_memory_budget() {
    let (_db, t) = items(2000, 2000);
    let tight = budget(None, Some(20_000), None);
    limit_error(
        t.sql_with("SELECT g, COUNT(*) FROM item GROUP BY g", &[], &tight),
        "max_memory_bytes = 20000",
    );
    limit_error(
        t.sql_with("SELECT DISTINCT name FROM item", &[], &tight),
        "max_memory_bytes = 20000",
    );
    limit_error(
        t.sql_with("SELECT COUNT(DISTINCT name) FROM item", &[], &tight),
        "max_memory_bytes = 20000",
    );
    // A grouped count with few groups holds little.
    let r = t
        .sql_with("SELECT COUNT(*) FROM item", &[], &tight)
        .unwrap();
    assert_eq!(r.rows, vec![vec![json!(2000)]]);
}

// --- corner cases that gave wrong answers --------------------------------------------------

fn code(t: &Tenant, q: &str, params: &[Value]) -> String {
    match t.sql(q, params) {
        Ok(r) => panic!("`{q}` should fail, got {:?}", r.rows),
        Err(e) => {
            assert!(!e.to_string().is_empty());
            e.code().to_string()
        }
    }
}

fn one(t: &Tenant, q: &str) -> Value {
    let r = t.sql(q, &[]).unwrap_or_else(|e| panic!("{q}: {e}"));
    r.rows[0][0].clone()
}

#[test]
fn select_without_a_select_list_is_a_syntax_error() {
    let (_db, t) = items(3, 1);
    for q in ["SELECT", "SELECT FROM item", "EXPLAIN SELECT", "select ;"] {
        assert_eq!(code(&t, q, &[]), "SQL_SYNTAX", "{q}");
    }
    let err = t.sql("SELECT", &[]).unwrap_err().to_string();
    assert!(err.contains("at least one column"), "{err}");
}

#[test]
fn deep_prefix_nesting_is_reported_as_depth_not_as_a_second_statement() {
    let (_db, t) = items(3, 1);
    let nots = |n: usize| "NOT ".repeat(n);
    // 40 NOTs are read (an even number: true).
    assert_eq!(one(&t, &format!("SELECT {} TRUE", nots(40))), json!(true));
    for q in [
        format!("SELECT {} TRUE", nots(60)),
        format!("SELECT name FROM item WHERE {} TRUE", nots(60)),
        format!("SELECT {}1{}", "(".repeat(60), ")".repeat(60)),
        format!("SELECT {}1", "- ".repeat(60)),
    ] {
        let err = t.sql(&q, &[]).unwrap_err();
        assert_eq!(err.code(), "SQL_SYNTAX", "{q}: {err}");
        let text = err.to_string();
        assert!(text.contains("nested too deeply"), "{q}: {text}");
        assert!(!text.contains("one statement"), "{q}: {text}");
    }
    let text = t
        .sql(&format!("SELECT {} TRUE", nots(60)), &[])
        .unwrap_err()
        .to_string();
    assert!(text.contains("60 levels"), "{text}");
}

#[test]
fn floor_and_ceil_work_as_documented() {
    let (_db, t) = items(3, 1);
    let r = t
        .sql(
            "SELECT FLOOR(1.5), CEIL(1.5), CEILING(-2.1), FLOOR(-2.1), FLOOR(3), CEIL(NULL), FLOOR(k) FROM item ORDER BY k LIMIT 1",
            &[],
        )
        .unwrap();
    assert_eq!(
        r.rows[0],
        vec![
            json!(1.0),
            json!(2.0),
            json!(-2.0),
            json!(-3.0),
            json!(3),
            json!(null),
            json!(0)
        ]
    );
    assert_eq!(code(&t, "SELECT FLOOR('a')", &[]), "SQL_TYPE");
    assert_eq!(code(&t, "SELECT CEIL(1.25, 1)", &[]), "SQL_UNSUPPORTED");
    let r = t
        .sql(
            "SELECT name FROM item WHERE FLOOR(k / 2.0) = 1 ORDER BY k",
            &[],
        )
        .unwrap();
    assert_eq!(r.rows, vec![vec![json!("n00002")]]);
}

#[test]
fn extra_parameters_are_an_error_naming_the_counts() {
    let (_db, t) = items(3, 1);
    let err = t.sql("SELECT $1", &[json!(1), json!(2)]).unwrap_err();
    assert_eq!(err.code(), "INVALID_ARGUMENT");
    assert!(err.to_string().contains("2 parameters given"), "{err}");
    assert!(err.to_string().contains("uses 1"), "{err}");
    assert_eq!(code(&t, "SELECT 1", &[json!(1)]), "INVALID_ARGUMENT");
    assert_eq!(
        code(&t, "SELECT ?", &[json!(1), json!(2)]),
        "INVALID_ARGUMENT"
    );
    assert_eq!(
        code(&t, "LOOKUP $1", &[json!("a"), json!("b")]),
        "INVALID_ARGUMENT"
    );
    // Using $2 alone uses two parameters; exactly as many as used is fine.
    assert_eq!(
        t.sql("SELECT $2", &[json!(1), json!(2)]).unwrap().rows[0][0],
        json!(2)
    );
    assert_eq!(
        t.sql("SELECT ?, ?", &[json!(1), json!(2)]).unwrap().rows[0],
        vec![json!(1), json!(2)]
    );
}

#[test]
fn integer_overflow_is_a_type_error_not_a_float() {
    let (_db, t) = items(3, 1);
    for q in [
        "SELECT 9223372036854775807 + 1",
        "SELECT -9223372036854775808 - 1",
        "SELECT 9223372036854775807 * 2",
        "SELECT -(-9223372036854775808)",
        "SELECT ABS(-9223372036854775808)",
        "SELECT (-9223372036854775808) / -1",
    ] {
        let err = t.sql(q, &[]).unwrap_err();
        assert_eq!(err.code(), "SQL_TYPE", "{q}: {err}");
        assert!(err.to_string().contains("overflow"), "{q}: {err}");
    }
    assert_eq!(one(&t, "SELECT -9223372036854775808"), json!(i64::MIN));
    assert_eq!(one(&t, "SELECT 9223372036854775806 + 1"), json!(i64::MAX));
    // Floating point on request.
    assert_eq!(
        one(&t, "SELECT CAST(9223372036854775807 AS FLOAT) + 1"),
        json!(9.223372036854776e18)
    );
    let err = t.sql("SELECT $1 + $1", &[json!(i64::MAX)]).unwrap_err();
    assert_eq!(err.code(), "SQL_TYPE");
}

#[test]
fn sum_and_avg_of_extreme_integers_are_exact() {
    let db = Database::memory();
    let t = db.tenant("default").unwrap();
    t.register_schema(json!({
        "title": "N", "type": "object",
        "properties": {"k": {"type": "string"}, "v": {"type": "integer"}},
        "json_schema_extra": {"key_field": "k"}
    }))
    .unwrap();
    t.insert_many(
        "n",
        vec![
            json!({"k": "a", "v": i64::MAX}),
            json!({"k": "b", "v": 1}),
            json!({"k": "c", "v": -i64::MAX}),
        ],
    )
    .unwrap();
    // In key order: MAX, then 1 (lost in f64), then -MAX: a float sum gives 0.
    let r = t.sql("SELECT AVG(v), SUM(v) FROM n", &[]).unwrap();
    assert_eq!(r.rows[0], vec![json!(1.0 / 3.0), json!(1)]);
    let r = t.sql("SELECT AVG(v) FROM n WHERE v > 0", &[]).unwrap();
    assert_eq!(r.rows[0][0], json!(i64::MAX as f64 / 2.0));
    t.insert("n", json!({"k": "d", "v": i64::MAX})).unwrap();
    let err = t.sql("SELECT SUM(v) FROM n WHERE v > 0", &[]).unwrap_err();
    assert_eq!(err.code(), "SQL_TYPE", "{err}");
    assert!(err.to_string().contains("overflow"), "{err}");
    let r = t
        .sql("SELECT SUM(CAST(v AS FLOAT)) FROM n WHERE v > 0", &[])
        .unwrap();
    assert!(r.rows[0][0].as_f64().unwrap() > 1.8e19);
}

#[test]
fn integer_literals_beyond_64_bits_are_refused() {
    let (_db, t) = items(3, 1);
    let err = t.sql("SELECT 99999999999999999999", &[]).unwrap_err();
    assert_eq!(err.code(), "SQL_TYPE");
    assert!(err.to_string().contains("does not fit in 64 bits"), "{err}");
    assert_eq!(
        code(
            &t,
            "SELECT name FROM item WHERE k = 123456789012345678901234",
            &[]
        ),
        "SQL_TYPE"
    );
    // A float literal says it is one; u64 values still read exactly.
    assert_eq!(one(&t, "SELECT 99999999999999999999.0"), json!(1e20));
    assert_eq!(one(&t, "SELECT 18446744073709551615"), json!(u64::MAX));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Runs of prefix operators and parentheses of any depth, around any operand: an answer or
    /// a typed error (never a panic, never a stack overflow).
    #[test]
    fn nested_prefixes_and_parentheses_answer_or_fail_typed(
        pieces in prop::collection::vec(prop::sample::select(vec!["NOT ", "- ", "+ ", "(", ")", "NOT (", "-("]), 0..160),
        operand in prop::sample::select(vec!["TRUE", "1", "k", "9223372036854775807", "NULL", "'a'"]),
        tail in prop::sample::select(vec!["", ")", " + 1", " FROM item", " FROM item LIMIT 1"]),
    ) {
        let (_db, t) = items(2, 1);
        let q = format!("SELECT {}{operand}{tail}", pieces.concat());
        match t.sql(&q, &[]) {
            Ok(_) => {}
            Err(e) => prop_assert!(
                ["SQL_SYNTAX", "SQL_TYPE", "SQL_UNSUPPORTED", "UNKNOWN_COLUMN"].contains(&e.code()),
                "{q}: {e}"
            ),
        }
    }

    /// Any budget, however small, gives the answer or a LIMIT error: never a panic, never a
    /// different answer.
    #[test]
    fn small_budgets_answer_exactly_or_fail_with_limit(
        rows in 0u64..400,
        memory in 0u64..200_000,
        q in prop::sample::select(vec![
            "SELECT name FROM item ORDER BY name DESC LIMIT 3",
            "SELECT g, COUNT(*) AS n FROM item GROUP BY g ORDER BY n DESC, g",
            "SELECT a.name FROM item a JOIN item b ON a.g = b.g ORDER BY a.name LIMIT 2",
            "SELECT DISTINCT g FROM item ORDER BY g",
        ]),
    ) {
        let (_db, t) = items(60, 4);
        let full = t.sql(q, &[]).unwrap();
        match t.sql_with(q, &[], &budget(Some(rows), Some(memory), None)) {
            Ok(r) => prop_assert_eq!(r.rows, full.rows),
            Err(e) => prop_assert_eq!(e.code(), "LIMIT"),
        }
    }
}
