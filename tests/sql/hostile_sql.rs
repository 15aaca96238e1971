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
    limit_error(
        t.sql("SELECT COUNT(*) FROM item", &[]),
        "max_rows_examined = 50",
    );
    let r = t
        .sql_with(
            "SELECT COUNT(*) FROM item",
            &[],
            &budget(Some(1000), None, None),
        )
        .unwrap();
    assert_eq!(r.rows, vec![vec![json!(100)]]);
    // A call that sets only the time keeps the database's row budget.
    limit_error(
        t.sql_with(
            "SELECT COUNT(*) FROM item",
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

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

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
