//! SQL benchmarks: remdb (memory and redb backends) against SQLite (in-memory, same rows, same
//! indexes, rows read into JSON values like remdb returns them), with a summary table at the end.
//!
//! `cargo bench --bench sql`. Goals: indexed equality on 100k rows ≤ 50 µs, scan+filter of 10k
//! rows ≤ 3 ms.

use std::path::Path;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion};
use remdb::kv::Backend;
use remdb::{Database, OpenOptions, Tenant};
use rusqlite::types::ValueRef;
use serde_json::{json, Value};

#[path = "common/report.rs"]
mod report;
use report::{criterion_dir, human_time, mean_ns, record_mean};

const BIG: u64 = 100_000;
const SMALL: u64 = 10_000;

/// (name, SQL, rows per iteration, goal)
const QUERIES: [(&str, &str, f64, &str); 7] = [
    (
        "index_eq_100k",
        "SELECT * FROM item WHERE n = 54321",
        1.0,
        "≤ 50 µs",
    ),
    (
        "range_100_of_100k",
        "SELECT name, n FROM item WHERE n >= 50000 AND n < 50100",
        100.0,
        "-",
    ),
    (
        "scan_filter_10k",
        "SELECT name FROM small WHERE x > 0.5 AND g = 3",
        10_000.0,
        "≤ 3 ms",
    ),
    (
        "group_by_100k",
        "SELECT g, COUNT(*), AVG(x) FROM item GROUP BY g",
        100_000.0,
        "-",
    ),
    (
        "join_10k_x_10k",
        "SELECT a.k, b.label FROM a JOIN b ON a.ref = b.k",
        10_000.0,
        "-",
    ),
    (
        "top10_of_100k",
        "SELECT name, x FROM item ORDER BY x DESC LIMIT 10",
        100_000.0,
        "-",
    ),
    (
        "top10_indexed_of_100k",
        "SELECT name, n FROM item ORDER BY n DESC LIMIT 10",
        10.0,
        "-",
    ),
];

fn item(i: u64) -> Value {
    json!({"k": i, "n": i, "g": i % 100, "s": format!("s{}", i % 1000), "x": ((i * 7919) % 10_000) as f64 / 10_000.0, "name": format!("item number {i}")})
}

fn load_remdb(t: &Tenant) {
    t.register_schema(json!({
        "title": "Item", "type": "object",
        "properties": {"k": {"type": "integer"}, "n": {"type": "integer"}, "g": {"type": "integer"},
                       "s": {"type": "string"}, "x": {"type": "number"}, "name": {"type": "string"}},
        "json_schema_extra": {"key_field": "k", "indexed_fields": ["n", "s"]}
    }))
    .unwrap();
    let mut small = json!({
        "title": "Small", "type": "object",
        "properties": {"k": {"type": "integer"}, "n": {"type": "integer"}, "g": {"type": "integer"},
                       "s": {"type": "string"}, "x": {"type": "number"}, "name": {"type": "string"}},
        "json_schema_extra": {"key_field": "k"}
    });
    t.register_schema(small.take()).unwrap();
    t.register_schema(json!({"title": "A", "type": "object", "properties": {"k": {"type": "integer"}, "ref": {"type": "integer"}}, "json_schema_extra": {"key_field": "k"}})).unwrap();
    t.register_schema(json!({"title": "B", "type": "object", "properties": {"k": {"type": "integer"}, "label": {"type": "string"}}, "json_schema_extra": {"key_field": "k"}})).unwrap();
    for start in (0..BIG).step_by(10_000) {
        t.insert_many("item", (start..start + 10_000).map(item).collect())
            .unwrap();
    }
    t.insert_many("small", (0..SMALL).map(item).collect())
        .unwrap();
    t.insert_many(
        "a",
        (0..SMALL)
            .map(|i| json!({"k": i, "ref": (i * 7) % SMALL}))
            .collect(),
    )
    .unwrap();
    t.insert_many(
        "b",
        (0..SMALL)
            .map(|i| json!({"k": i, "label": format!("label {i}")}))
            .collect(),
    )
    .unwrap();
}

fn load_sqlite() -> rusqlite::Connection {
    let c = rusqlite::Connection::open_in_memory().unwrap();
    c.execute_batch(
        "CREATE TABLE item (k INTEGER PRIMARY KEY, n INTEGER, g INTEGER, s TEXT, x REAL, name TEXT);
         CREATE INDEX item_n ON item(n); CREATE INDEX item_s ON item(s);
         CREATE TABLE small (k INTEGER PRIMARY KEY, n INTEGER, g INTEGER, s TEXT, x REAL, name TEXT);
         CREATE TABLE a (k INTEGER PRIMARY KEY, ref INTEGER);
         CREATE TABLE b (k INTEGER PRIMARY KEY, label TEXT);
         BEGIN;",
    )
    .unwrap();
    for (table, n) in [("item", BIG), ("small", SMALL)] {
        let mut stmt = c
            .prepare(&format!(
                "INSERT INTO {table} VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
            ))
            .unwrap();
        for i in 0..n {
            let r = item(i);
            stmt.execute(rusqlite::params![
                i as i64,
                i as i64,
                (i % 100) as i64,
                r["s"].as_str(),
                r["x"].as_f64(),
                r["name"].as_str()
            ])
            .unwrap();
        }
    }
    for i in 0..SMALL {
        c.execute(
            "INSERT INTO a VALUES (?1, ?2)",
            rusqlite::params![i as i64, ((i * 7) % SMALL) as i64],
        )
        .unwrap();
        c.execute(
            "INSERT INTO b VALUES (?1, ?2)",
            rusqlite::params![i as i64, format!("label {i}")],
        )
        .unwrap();
    }
    c.execute_batch("COMMIT; ANALYZE;").unwrap();
    c
}

fn sqlite_rows(c: &rusqlite::Connection, sql: &str) -> Vec<Vec<Value>> {
    let mut stmt = c.prepare_cached(sql).unwrap();
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
                    ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(_) => Value::Null,
                })
                .collect(),
        );
    }
    out
}

fn run(c: &mut Criterion) {
    let memory = Database::memory();
    let dir = tempfile::tempdir().unwrap();
    let redb = Database::open_with(
        dir.path(),
        &OpenOptions {
            backend: Some(Backend::Redb),
            ..OpenOptions::default()
        },
    )
    .unwrap();
    let engines: Vec<(&str, Tenant)> = vec![
        ("remdb-memory", memory.tenant("bench").unwrap()),
        ("remdb-redb", redb.tenant("bench").unwrap()),
    ];
    for (_, t) in &engines {
        load_remdb(t);
    }
    let lite = load_sqlite();
    for (name, sql, _, _) in QUERIES {
        let expected = sqlite_rows(&lite, sql).len();
        let mut group = c.benchmark_group(name);
        for (engine, t) in &engines {
            assert_eq!(t.sql(sql, &[]).unwrap().len(), expected, "{engine}: {sql}");
            group.bench_function(BenchmarkId::from_parameter(engine), |b| {
                b.iter(|| t.sql(sql, &[]).unwrap())
            });
        }
        group.bench_function(BenchmarkId::from_parameter("sqlite"), |b| {
            b.iter(|| sqlite_rows(&lite, sql))
        });
        group.finish();
    }
}

fn print_summary(dir: &Path) {
    let engines = ["remdb-memory", "remdb-redb", "sqlite"];
    println!("\nSQL benchmarks (mean time per query, rows read into JSON values; SQLite in-memory with the same indexes)\n");
    println!(
        "| {:<18} | {:<14} | {:<14} | {:<14} | {:<9} |",
        "query", engines[0], engines[1], engines[2], "goal"
    );
    println!(
        "|{}|{}|{}|{}|{}|",
        "-".repeat(20),
        "-".repeat(16),
        "-".repeat(16),
        "-".repeat(16),
        "-".repeat(11)
    );
    for (name, _, _, goal) in QUERIES {
        let cells: Vec<String> = engines
            .iter()
            .map(|e| mean_ns(dir, name, e).map_or("n/a".into(), human_time))
            .collect();
        println!(
            "| {name:<18} | {:<14} | {:<14} | {:<14} | {goal:<9} |",
            cells[0], cells[1], cells[2]
        );
    }
    println!();
    for (name, sql, _, _) in QUERIES {
        println!("  {name}: {sql}");
    }
    for (name, sql, _, goal) in QUERIES {
        for engine in engines {
            let extra = json!({"label": sql, "peer": engine == "sqlite", "goal": goal});
            record_mean(dir, "sql", name, engine, engine, extra);
        }
    }
}

fn main() {
    let out = criterion_dir();
    let mut c = Criterion::default()
        .output_directory(&out)
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    run(&mut c);
    c.final_summary();
    print_summary(&out);
    report::record(
        json!({"suite": "versions", "engine": "SQLite (rusqlite, bundled)", "version": rusqlite::version()}),
    );
}
