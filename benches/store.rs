//! Store benchmarks on every backend, with a side-by-side summary table at the end.
//!
//! `cargo bench --bench store` (add `--features rocksdb` for RocksDB). Operations: insert one,
//! insert_many 1000, get by id, list (scan) 10k rows, indexed equality lookup on 100k rows and WAL
//! export of 100k entries. Goals: insert_many ≥ 200k entities/s, get ≤ 2 µs, scan 10k ≤ 3 ms.
//! The peer, for insert_many, get and scan: SQLite (rusqlite) in memory and in a durable file.

use std::path::Path;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput};
use remdb::kv::Backend;
use remdb::{Database, IndexQuery, ListOptions, OpenOptions, Tenant};
use serde_json::{json, Value};

#[path = "common/report.rs"]
mod report;
use report::{criterion_dir, human_time, mean_ns, record_mean};

fn schema() -> Value {
    json!({
        "title": "Item", "type": "object",
        "properties": {
            "sku": {"type": "string"},
            "name": {"type": "string"},
            "category": {"type": "string"},
            "price": {"type": "number", "minimum": 0},
            "stock": {"type": "integer"},
            "tags": {"type": "array", "items": {"type": "string"}}
        },
        "required": ["name", "price"],
        "json_schema_extra": {"indexed_fields": ["category", "price"]}
    })
}

fn item(i: u64) -> Value {
    json!({
        "name": format!("item number {i}"),
        "category": format!("cat-{}", i % 10_000),
        "price": (i % 1000) as f64 * 0.25,
        "stock": i % 97,
        "tags": ["a", "b"]
    })
}

struct Setup {
    backend: Backend,
    _dir: tempfile::TempDir,
    db: Database,
}

fn open(backend: Backend) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open_with(
        dir.path(),
        &OpenOptions {
            backend: Some(backend),
            ..OpenOptions::default()
        },
    )
    .unwrap();
    Setup {
        backend,
        _dir: dir,
        db,
    }
}

fn filled(db: &Database, tenant: &str, rows: u64) -> Tenant {
    let t = db.tenant(tenant).unwrap();
    t.register_schema(schema()).unwrap();
    for start in (0..rows).step_by(10_000) {
        t.insert_many(
            "item",
            (start..(start + 10_000).min(rows)).map(item).collect(),
        )
        .unwrap();
    }
    t
}

fn backends() -> Vec<Backend> {
    let mut all = vec![Backend::Memory, Backend::Redb];
    if cfg!(feature = "rocksdb") {
        all.push(Backend::RocksDb);
    }
    all
}

/// The peer: SQLite through rusqlite, the same rows with the same two indexes, fed the same JSON
/// values and returning rows as JSON objects (as remdb does). `durable`: a file in WAL mode with
/// `synchronous = FULL` (one fsync per commit, like redb); otherwise in memory.
struct Lite {
    name: &'static str,
    _dir: tempfile::TempDir,
    conn: rusqlite::Connection,
}

impl Lite {
    fn open(durable: bool) -> Lite {
        let dir = tempfile::tempdir().unwrap();
        let conn = if durable {
            let c = rusqlite::Connection::open(dir.path().join("bench.sqlite")).unwrap();
            c.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
                .unwrap();
            c
        } else {
            rusqlite::Connection::open_in_memory().unwrap()
        };
        conn.execute_batch(
            "CREATE TABLE item (id TEXT PRIMARY KEY, name TEXT NOT NULL, category TEXT, price REAL NOT NULL,
                                stock INTEGER, tags TEXT);
             CREATE INDEX item_category ON item(category); CREATE INDEX item_price ON item(price);",
        )
        .unwrap();
        let name = if durable {
            "sqlite-file"
        } else {
            "sqlite-memory"
        };
        Lite {
            name,
            _dir: dir,
            conn,
        }
    }

    /// Inserts `rows` in one transaction; returns their ids.
    fn insert_many(&mut self, rows: &[Value]) -> Vec<String> {
        let tx = self.conn.transaction().unwrap();
        let mut ids = Vec::with_capacity(rows.len());
        {
            let mut stmt = tx
                .prepare_cached("INSERT INTO item VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
                .unwrap();
            for row in rows {
                let id = uuid::Uuid::new_v4().to_string();
                stmt.execute(rusqlite::params![
                    id,
                    row["name"].as_str(),
                    row["category"].as_str(),
                    row["price"].as_f64(),
                    row["stock"].as_i64(),
                    row["tags"].to_string()
                ])
                .unwrap();
                ids.push(id);
            }
        }
        tx.commit().unwrap();
        ids
    }

    fn rows(&self, sql: &str, params: impl rusqlite::Params) -> Vec<Value> {
        let mut stmt = self.conn.prepare_cached(sql).unwrap();
        let names: Vec<String> = stmt.column_names().map(|n| n.to_string()).collect();
        let mut out = Vec::new();
        let mut rows = stmt.query(params).unwrap();
        while let Some(row) = rows.next().unwrap() {
            let mut object = serde_json::Map::with_capacity(names.len());
            for (i, name) in names.iter().enumerate() {
                let value = match row.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Integer(v) => json!(v),
                    rusqlite::types::ValueRef::Real(v) => json!(v),
                    rusqlite::types::ValueRef::Text(t) if name == "tags" => {
                        serde_json::from_slice(t).unwrap()
                    }
                    rusqlite::types::ValueRef::Text(t) => {
                        Value::String(String::from_utf8_lossy(t).into_owned())
                    }
                    _ => Value::Null,
                };
                object.insert(name.clone(), value);
            }
            out.push(Value::Object(object));
        }
        out
    }
}

/// SQLite's side of insert_many_1000, get_by_id and list_scan_10k.
fn run_sqlite(c: &mut Criterion) {
    for durable in [false, true] {
        let mut lite = Lite::open(durable);
        let mut next = 1_000_000_000u64;
        c.benchmark_group("insert_many_1000")
            .throughput(Throughput::Elements(1000))
            .bench_function(BenchmarkId::from_parameter(lite.name), |b| {
                b.iter_batched(
                    || {
                        next += 1000;
                        (next..next + 1000).map(item).collect::<Vec<Value>>()
                    },
                    |batch| lite.insert_many(&batch),
                    BatchSize::LargeInput,
                )
            });
        let mut scan = Lite::open(durable);
        let ids = scan.insert_many(&(0..10_000).map(item).collect::<Vec<_>>());
        let mut k = 0usize;
        c.benchmark_group("get_by_id")
            .throughput(Throughput::Elements(1))
            .bench_function(BenchmarkId::from_parameter(scan.name), |b| {
                b.iter(|| {
                    k = (k + 7919) % ids.len();
                    let rows = scan.rows("SELECT * FROM item WHERE id = ?1", [&ids[k]]);
                    assert_eq!(rows.len(), 1);
                    rows
                })
            });
        c.benchmark_group("list_scan_10k")
            .throughput(Throughput::Elements(10_000))
            .bench_function(BenchmarkId::from_parameter(scan.name), |b| {
                b.iter(|| {
                    let rows = scan.rows("SELECT * FROM item", []);
                    assert_eq!(rows.len(), 10_000);
                    rows
                })
            });
    }
}

fn run(c: &mut Criterion) {
    run_sqlite(c);
    let setups: Vec<Setup> = backends().into_iter().map(open).collect();
    for s in &setups {
        let name = s.backend.name();
        let t = filled(&s.db, "insert", 0);
        let mut i = 0u64;
        c.benchmark_group("insert_one")
            .throughput(Throughput::Elements(1))
            .bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter(|| {
                    i += 1;
                    t.insert("item", item(i)).unwrap()
                })
            });
        // Fresh entities every iteration (names are natural keys: reusing them would measure upserts).
        let mut next = 1_000_000_000u64;
        c.benchmark_group("insert_many_1000")
            .throughput(Throughput::Elements(1000))
            .bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter_batched(
                    || {
                        next += 1000;
                        (next..next + 1000).map(item).collect::<Vec<Value>>()
                    },
                    |batch| t.insert_many("item", batch).unwrap(),
                    BatchSize::LargeInput,
                )
            });
        let mut u = 0u64;
        c.benchmark_group("upsert_many_1000")
            .throughput(Throughput::Elements(1000))
            .bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter_batched(
                    || {
                        (0..1000)
                            .map(|i| {
                                let mut v = item(i);
                                v["stock"] = json!(u);
                                u += 1;
                                v
                            })
                            .collect::<Vec<Value>>()
                    },
                    |batch| t.insert_many("item", batch).unwrap(),
                    BatchSize::LargeInput,
                )
            });

        let t10k = filled(&s.db, "scan", 10_000);
        let ids: Vec<String> = t10k
            .list("item", &ListOptions::default())
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect();
        let mut k = 0usize;
        c.benchmark_group("get_by_id")
            .throughput(Throughput::Elements(1))
            .bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter(|| {
                    k = (k + 7919) % ids.len();
                    t10k.get(&ids[k]).unwrap().unwrap()
                })
            });
        c.benchmark_group("list_scan_10k")
            .throughput(Throughput::Elements(10_000))
            .bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter(|| {
                    let rows = t10k.list("item", &ListOptions::default()).unwrap();
                    assert_eq!(rows.len(), 10_000);
                    rows
                })
            });

        let t100k = filled(&s.db, "big", 100_000);
        let mut q = 0u64;
        c.benchmark_group("index_eq_100k")
            .throughput(Throughput::Elements(1))
            .bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter(|| {
                    q = (q + 31) % 10_000;
                    let hits = t100k
                        .index_lookup(
                            "item",
                            "category",
                            &IndexQuery::Eq(json!(format!("cat-{q}"))),
                            false,
                        )
                        .unwrap();
                    assert_eq!(hits.len(), 10);
                    hits
                })
            });
        c.benchmark_group("wal_export_100k")
            .throughput(Throughput::Elements(100_000))
            .bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter(|| {
                    let entries = t100k.wal().entries(0, 100_000).unwrap();
                    assert_eq!(entries.len(), 100_000);
                    entries
                })
            });
    }
}

fn human_rate(per_sec: f64) -> String {
    if per_sec >= 1e6 {
        format!("{:.2}M/s", per_sec / 1e6)
    } else if per_sec >= 1e3 {
        format!("{:.1}k/s", per_sec / 1e3)
    } else {
        format!("{per_sec:.0}/s")
    }
}

fn print_summary(dir: &Path) {
    let groups: [(&str, f64, &str); 7] = [
        ("insert_one", 1.0, "-"),
        ("insert_many_1000", 1000.0, "≥ 200k entities/s"),
        ("upsert_many_1000", 1000.0, "-"),
        ("get_by_id", 1.0, "≤ 2 µs"),
        ("list_scan_10k", 10_000.0, "≤ 3 ms"),
        ("index_eq_100k", 1.0, "-"),
        ("wal_export_100k", 100_000.0, "-"),
    ];
    let names: Vec<&str> = backends().iter().map(|b| b.name()).collect();
    println!("\nremdb store benchmarks (mean per iteration; rate in rows or entries per second)\n");
    print!("| {:<18} |", "operation");
    for n in &names {
        print!(" {n:<24} |");
    }
    println!(" goal (redb/memory) |");
    print!("|{}|", "-".repeat(20));
    for _ in &names {
        print!("{}|", "-".repeat(26));
    }
    println!("{}|", "-".repeat(20));
    for (group, items, goal) in groups {
        print!("| {group:<18} |");
        for n in &names {
            let cell = match mean_ns(dir, group, n) {
                Some(ns) => format!("{} ({})", human_time(ns), human_rate(items * 1e9 / ns)),
                None => "n/a".to_string(),
            };
            print!(" {cell:<24} |");
        }
        println!(" {goal:<18} |");
    }
    println!("\nSQLite peer (rusqlite, same rows and indexes, rows as JSON objects):");
    for (group, items, _) in groups {
        for peer in ["sqlite-memory", "sqlite-file"] {
            if let Some(ns) = mean_ns(dir, group, peer) {
                let rate = human_rate(items * 1e9 / ns);
                println!("  {group} {peer}: {} ({rate})", human_time(ns));
            }
        }
    }
    for (group, items, goal) in groups {
        for n in &names {
            let extra = json!({"per_op": items, "goal": goal});
            record_mean(dir, "store", group, n, &format!("remdb-{n}"), extra);
        }
        for peer in ["sqlite-memory", "sqlite-file"] {
            let extra = json!({"per_op": items, "goal": goal, "peer": true});
            record_mean(dir, "store", group, peer, peer, extra);
        }
    }
}

fn main() {
    let out = criterion_dir();
    let mut c = Criterion::default()
        .output_directory(&out)
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    run(&mut c);
    c.final_summary();
    print_summary(&out);
}
