//! Graph benchmarks on every backend, with a summary table at the end.
//!
//! `cargo bench --bench graph [--features rocksdb]`. Per backend it builds once a random graph of
//! 100k entities and 1M edges (10 out-edges each, relationships `r0`..`r9`, weights 1..10;
//! written 100k edges per batch through the one write path), and a 20k-entity / 100k-edge
//! graph that is acyclic but for 5 back edges. Operations:
//!
//! - `traverse_3hop_4rels`: BFS, 3 hops over 4 of the 10 relationships (~100 entities reached;
//!   goal ≤ 1 ms), without and with the rows of the reached entities;
//! - `traverse_3hop_all`: BFS, 3 hops over every relationship (~1,100 entities);
//! - `shortest_path` / `shortest_path_weighted`: random pairs, bidirectional BFS / Dijkstra;
//! - `find_cycles_100k`: cycle detection over the 100k-edge graph (every edge visited).
//!
//! `REM_BENCH_BACKENDS=memory` (comma-separated names) limits the run to some backends.

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use remdb::kv::Backend;
use remdb::{Database, NewEdge, OpenOptions, PathOptions, Tenant, TraverseOptions};
use serde_json::json;
use uuid::Uuid;

#[path = "common/report.rs"]
mod report;
use report::{criterion_dir, human_time, mean_ns, record_mean};

const NODES: usize = 100_000;
const OUT_DEGREE: usize = 10;
const CYCLE_NODES: usize = 20_000;
const CYCLE_EDGES: usize = 100_000;
const BATCH: usize = 100_000;

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

struct Setup {
    backend: Backend,
    _dir: tempfile::TempDir,
    _db: Database,
    graph: Tenant,
    ids: Vec<Uuid>,
    cyclic: Tenant,
}

fn nodes(t: &Tenant, n: usize) -> Vec<Uuid> {
    t.register_schema(
        json!({"title": "Node", "type": "object", "properties": {"i": {"type": "integer"}}}),
    )
    .unwrap();
    let mut ids = Vec::with_capacity(n);
    for start in (0..n).step_by(10_000) {
        ids.extend(
            t.insert_many(
                "node",
                (start..(start + 10_000).min(n))
                    .map(|i| json!({"i": i}))
                    .collect(),
            )
            .unwrap(),
        );
    }
    ids
}

fn write_edges(t: &Tenant, edges: Vec<NewEdge>) {
    let mut edges = edges.into_iter().peekable();
    while edges.peek().is_some() {
        t.add_edges(edges.by_ref().take(BATCH).collect()).unwrap();
    }
}

fn weight(w: u64) -> remdb::Row {
    let mut m = remdb::Row::new();
    m.insert("weight".into(), json!(w));
    m
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
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);

    let started = Instant::now();
    let graph = db.tenant("graph").unwrap();
    let ids = nodes(&graph, NODES);
    let node_time = started.elapsed();
    let mut edges = Vec::with_capacity(NODES * OUT_DEGREE);
    for src in &ids {
        for _ in 0..OUT_DEGREE {
            let dst = ids[rng.below(NODES)];
            let rel = format!("r{}", rng.below(10));
            edges.push(NewEdge {
                src: *src,
                dst,
                rel,
                properties: weight(1 + rng.next() % 10),
            });
        }
    }
    let started = Instant::now();
    write_edges(&graph, edges);
    let edge_time = started.elapsed();
    eprintln!(
        "{}: {NODES} entities in {:.1} s, {} edges in {:.1} s ({:.0} edges/s)",
        backend.name(),
        node_time.as_secs_f64(),
        NODES * OUT_DEGREE,
        edge_time.as_secs_f64(),
        (NODES * OUT_DEGREE) as f64 / edge_time.as_secs_f64()
    );
    report::record(json!({
        "suite": "graph", "case": "write_1m_edges", "engine": format!("remdb-{}", backend.name()),
        "seconds": edge_time.as_secs_f64(), "per_op": NODES * OUT_DEGREE, "goal": "≤ 20 s (wasm)",
        "label": format!("writing {} edges (add_edges, {BATCH} per batch)", NODES * OUT_DEGREE),
    }));

    let cyclic = db.tenant("cyclic").unwrap();
    let cids = nodes(&cyclic, CYCLE_NODES);
    let mut edges = Vec::with_capacity(CYCLE_EDGES);
    while edges.len() < CYCLE_EDGES - 5 {
        let (a, b) = (rng.below(CYCLE_NODES), rng.below(CYCLE_NODES));
        if a < b {
            edges.push(NewEdge {
                src: cids[a],
                dst: cids[b],
                rel: "dep".into(),
                properties: Default::default(),
            });
        }
    }
    for k in 0..5 {
        // Back edges from the end of a forward chain of the DAG close (at most) 5 cycles.
        let e = &edges[k * 1000];
        edges.push(NewEdge {
            src: e.dst,
            dst: e.src,
            rel: "dep".into(),
            properties: Default::default(),
        });
    }
    write_edges(&cyclic, edges);
    Setup {
        backend,
        _dir: dir,
        _db: db,
        graph,
        ids,
        cyclic,
    }
}

/// Every backend built in, or those named in `REM_BENCH_BACKENDS` (comma-separated).
fn backends() -> Vec<Backend> {
    let mut all = vec![Backend::Memory, Backend::Redb];
    if cfg!(feature = "rocksdb") {
        all.push(Backend::RocksDb);
    }
    if let Ok(only) = std::env::var("REM_BENCH_BACKENDS") {
        all.retain(|b| only.split(',').any(|n| n.trim() == b.name()));
    }
    all
}

fn three_hops(rels: usize, rows: bool) -> TraverseOptions {
    TraverseOptions {
        max_depth: 3,
        rel_types: (0..rels).map(|r| format!("r{r}")).collect(),
        include_rows: rows,
        ..Default::default()
    }
}

/// Mean number of entities a traversal reaches over the first 200 starts.
fn mean_reached(s: &Setup, opts: &TraverseOptions) -> f64 {
    let total: usize = (0..200)
        .map(|i| {
            s.graph
                .traverse(&s.ids[i * 97].to_string(), opts)
                .unwrap()
                .paths
                .len()
        })
        .sum();
    total as f64 / 200.0
}

fn run(c: &mut Criterion, reached: &mut Vec<(String, f64)>) {
    for backend in backends() {
        let s = open(backend);
        let name = s.backend.name();
        let starts: Vec<String> = (0..1000)
            .map(|i| s.ids[(i * 7919) % NODES].to_string())
            .collect();
        for (group, opts) in [
            ("traverse_3hop_4rels", three_hops(4, false)),
            ("traverse_3hop_4rels_rows", three_hops(4, true)),
            ("traverse_3hop_all", three_hops(0, false)),
        ] {
            reached.push((format!("{group}/{name}"), mean_reached(&s, &opts)));
            let mut k = 0;
            c.benchmark_group(group)
                .bench_function(BenchmarkId::from_parameter(name), |b| {
                    b.iter(|| {
                        k = (k + 1) % starts.len();
                        s.graph.traverse(&starts[k], &opts).unwrap()
                    })
                });
        }
        let pairs: Vec<(String, String)> = (0..1000)
            .map(|i| {
                (
                    s.ids[(i * 7919) % NODES].to_string(),
                    s.ids[(i * 104_729 + 13) % NODES].to_string(),
                )
            })
            .collect();
        for (group, weighted) in [("shortest_path", false), ("shortest_path_weighted", true)] {
            let opts = PathOptions {
                weighted,
                include_rows: false,
                ..Default::default()
            };
            let mut k = 0;
            let mut g = c.benchmark_group(group);
            if weighted {
                g.sample_size(10);
            }
            g.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter(|| {
                    k = (k + 1) % pairs.len();
                    s.graph
                        .shortest_path(&pairs[k].0, &pairs[k].1, &opts)
                        .unwrap()
                })
            });
        }
        let opts = PathOptions {
            include_rows: false,
            ..Default::default()
        };
        let found = s
            .cyclic
            .find_cycles(Some("node"), &opts)
            .unwrap()
            .paths
            .len();
        assert!((1..=5).contains(&found), "{found} cycles");
        c.benchmark_group("find_cycles_100k")
            .sample_size(10)
            .bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter(|| s.cyclic.find_cycles(Some("node"), &opts).unwrap())
            });
    }
}

fn print_summary(dir: &Path, reached: &[(String, f64)]) {
    let groups: [(&str, &str); 6] = [
        ("traverse_3hop_4rels", "≤ 1 ms"),
        ("traverse_3hop_4rels_rows", "-"),
        ("traverse_3hop_all", "-"),
        ("shortest_path", "-"),
        ("shortest_path_weighted", "≤ 50 ms"),
        ("find_cycles_100k", "-"),
    ];
    let names: Vec<&str> = backends().iter().map(|b| b.name()).collect();
    println!("\nremdb graph benchmarks: {NODES} entities, {} edges (mean per operation; reached = entities per traversal)\n", NODES * OUT_DEGREE);
    print!("| {:<24} |", "operation");
    for n in &names {
        print!(" {n:<26} |");
    }
    println!(" goal   |");
    print!("|{}|", "-".repeat(26));
    for _ in &names {
        print!("{}|", "-".repeat(28));
    }
    println!("--------|");
    for (group, goal) in groups {
        print!("| {group:<24} |");
        for n in &names {
            let mut cell = mean_ns(dir, group, n).map_or("n/a".to_string(), human_time);
            if let Some((_, r)) = reached.iter().find(|(k, _)| *k == format!("{group}/{n}")) {
                cell.push_str(&format!(" ({r:.0} reached)"));
            }
            print!(" {cell:<26} |");
        }
        println!(" {goal:<6} |");
    }
    for (group, goal) in groups {
        for n in &names {
            let mut extra = json!({"goal": goal});
            if let Some((_, r)) = reached.iter().find(|(k, _)| *k == format!("{group}/{n}")) {
                extra["reached"] = json!(r);
            }
            record_mean(dir, "graph", group, n, &format!("remdb-{n}"), extra);
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
    let mut reached = Vec::new();
    run(&mut c, &mut reached);
    c.final_summary();
    print_summary(&out, &reached);
}
