//! `ORDER BY field [DESC] LIMIT k` on a field whose index is in value order (numbers, booleans)
//! streams rows from the index and stops at the limit; every page equals the same page of the
//! full sort: nulls and missing values where NULLS FIRST/LAST put them, soft-deleted rows left
//! out, integers beyond 2^53 (which share an index encoding) in their exact order. Runs natively
//! and on wasm32.

use std::cmp::Ordering;

use remdb::{Database, QueryResult, Tenant};
use serde_json::{json, Value};

/// 2^53: integers from here on share their `f64` with a neighbour.
const BIG: i64 = 9_007_199_254_740_992;

fn reading(i: i64) -> Value {
    let v = match i % 9 {
        0 => Value::Null,
        1 => return json!({"k": i, "on": i % 2 == 0}), // no `v` at all
        2 => json!(BIG + i % 4),
        3 => json!(-BIG - i % 3),
        4 => json!((i % 13) as f64 + 0.5),
        _ => json!(i % 17 - 8),
    };
    json!({"k": i, "v": v, "on": i % 2 == 0})
}

fn setup() -> (Database, Tenant) {
    let db = Database::memory();
    let t = db.tenant("default").unwrap();
    t.register_schema(json!({
        "title": "Reading", "type": "object",
        "properties": {"k": {"type": "integer"}, "v": {"type": ["number", "null"]}, "on": {"type": "boolean"}},
        "json_schema_extra": {"key_field": "k", "indexed_fields": ["v", "on"]}
    }))
    .unwrap();
    t.insert_many("reading", (0..300).map(reading).collect())
        .unwrap();
    for k in [5, 11, 20, 47] {
        let id = t
            .sql(&format!("SELECT id FROM reading WHERE k = {k}"), &[])
            .unwrap()
            .rows[0][0]
            .as_str()
            .unwrap()
            .to_string();
        t.delete(&id).unwrap();
    }
    (db, t)
}

fn q(t: &Tenant, sql: &str) -> QueryResult {
    t.sql(sql, &[])
        .unwrap_or_else(|e| panic!("{sql}\n  failed: {e}"))
}

/// Exact order of the test's numbers: integers as integers, others as floats.
fn cmp_numbers(a: &Value, b: &Value) -> Ordering {
    match (a.as_i64(), b.as_i64()) {
        (Some(x), Some(y)) => x.cmp(&y),
        _ => a.as_f64().unwrap().total_cmp(&b.as_f64().unwrap()),
    }
}

/// The live rows' values of `field`, sorted as SQL sorts them.
fn expected(field: &str, desc: bool, nulls_first: bool) -> Vec<Value> {
    let mut values: Vec<Value> = (0..300)
        .filter(|k| ![5, 11, 20, 47].contains(k))
        .map(|k| reading(k).get(field).cloned().unwrap_or(Value::Null))
        .collect();
    values.sort_by(|a, b| match (a.is_null(), b.is_null()) {
        (true, true) => Ordering::Equal,
        (true, false) if nulls_first => Ordering::Less,
        (true, false) => Ordering::Greater,
        (false, true) if nulls_first => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => {
            let o = match (a.as_bool(), b.as_bool()) {
                (Some(x), Some(y)) => x.cmp(&y),
                _ => cmp_numbers(a, b),
            };
            if desc {
                o.reverse()
            } else {
                o
            }
        }
    });
    values
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn index_ordered_pages_equal_pages_of_the_full_sort() {
    let (_db, t) = setup();
    for field in ["v", "on"] {
        for (dir, desc) in [("", false), (" ASC", false), (" DESC", true)] {
            for nulls in ["", " NULLS FIRST", " NULLS LAST"] {
                // PostgreSQL's default: nulls are the largest values.
                let nulls_first = match nulls {
                    " NULLS FIRST" => true,
                    " NULLS LAST" => false,
                    _ => desc,
                };
                let all = expected(field, desc, nulls_first);
                for (limit, offset) in [(1, 0), (7, 3), (60, 0), (60, 250), (400, 0)] {
                    let sql = format!(
                        "SELECT {field} FROM reading ORDER BY {field}{dir}{nulls} LIMIT {limit} OFFSET {offset}"
                    );
                    let plan = q(&t, &format!("EXPLAIN {sql}")).rows;
                    assert!(
                        plan.iter()
                            .any(|r| r[0].as_str().unwrap().contains("Index order scan")),
                        "{sql}: {plan:?}"
                    );
                    let got: Vec<Value> = q(&t, &sql)
                        .rows
                        .into_iter()
                        .map(|mut r| r.remove(0))
                        .collect();
                    let want: Vec<Value> = all.iter().skip(offset).take(limit).cloned().collect();
                    assert_eq!(got, want, "{sql}");
                }
            }
        }
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn conditions_strings_and_unlimited_sorts_keep_the_scan() {
    let (_db, t) = setup();
    for sql in [
        "SELECT v FROM reading WHERE k > 3 ORDER BY v LIMIT 5",
        "SELECT v FROM reading ORDER BY v",
        "SELECT v FROM reading ORDER BY v, k LIMIT 5",
        "SELECT v FROM reading ORDER BY k LIMIT 5",
    ] {
        let plan = q(&t, &format!("EXPLAIN {sql}")).rows;
        assert!(
            !plan
                .iter()
                .any(|r| r[0].as_str().unwrap().contains("Index order")),
            "{sql}: {plan:?}"
        );
    }
    // A condition still gives the right page, through the scan and the top-k.
    let got: Vec<Value> = q(
        &t,
        "SELECT v FROM reading WHERE v < 0 ORDER BY v DESC LIMIT 3",
    )
    .rows
    .into_iter()
    .map(|mut r| r.remove(0))
    .collect();
    let want: Vec<Value> = expected("v", true, true)
        .into_iter()
        .filter(|v| v.as_f64().is_some_and(|f| f < 0.0))
        .take(3)
        .collect();
    assert_eq!(got, want);
}
