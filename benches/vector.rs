//! Vector search benchmarks on real data, with a summary table at the end.
//!
//! `bash .ci/fetch-models && cargo bench --bench vector`. GloVe-50 word vectors (cosine): the
//! first 100,000 rows are the base, 1,000 rows from 300,000 on (every 100th; not in the base)
//! the queries, k = 10. Per backend (memory, redb; `REM_BENCH_BACKENDS=memory` for one):
//!
//! - build: `put_vectors` of the 100k vectors in one batch, then `optimize_vectors(force)`
//!   (one HNSW segment; timed once, not by criterion);
//! - `vector_hnsw`: search at ef = 10, 20, 40, 80, 160, with recall@10 against exact top-10;
//! - `vector_filtered`: search restricted to a random 10 % and 1 % of the rows (default ef),
//!   recall against the exact filtered top-10.
//!
//! Peers on the same vectors: an exact brute-force scan (plain Rust loop over a contiguous
//! array, same scalar dot product as remdb; `vector_exact`, also filtered), and instant-distance
//! alone — the HNSW library remdb built its graphs with before it had its own construction, with
//! the same M (32) and ef_construction (100), re-materialised per ef (its `ef_search` is fixed at
//! build), searched by its own code, without a store around it (`vector_hnsw/instant-distance`).
//!
//! Every engine is built first, then each configuration is measured on all of them in a row.
//! A run takes 8–15 min on a 2-core machine, mostly the three 100k HNSW builds.

use std::collections::{HashMap, HashSet};
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use instant_distance::{Builder, HnswMap, Point, Search};
use remdb::kv::Backend;
use remdb::vector::{IndexName, SearchOptions, SearchQuery};
use remdb::{Database, OpenOptions, Tenant};
use serde_json::json;
use uuid::Uuid;

#[path = "common/report.rs"]
mod report;
use report::{criterion_dir, human_time, mean_ns, record, record_mean};

#[path = "../tests/common/glove.rs"]
mod glove;
use glove::{normalised, Glove, DIMS};
/// The dot product remdb scores with: the brute-force peer runs the same arithmetic.
use remdb::vector::dot;

const BASE: usize = 100_000;
const QUERIES: usize = 1000;
const QUERY_FROM: usize = 300_000;
const QUERY_STEP: usize = 100;
const K: usize = 10;
const EFS: [usize; 5] = [10, 20, 40, 80, 160];
/// (name, share of rows in the filter)
const FILTERS: [(&str, usize); 2] = [("10pct", 10), ("1pct", 100)];

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Base rows, query rows, and both normalised (for the peers and the ground truth).
struct Data {
    base: Vec<Vec<f32>>,
    queries: Vec<Vec<f32>>,
    flat: Vec<f32>,
    nqueries: Vec<Vec<f32>>,
    /// Row numbers in each filter, and the exact top-k (row numbers) per query: unfiltered
    /// first, then one per filter.
    filters: Vec<Vec<usize>>,
    truth: Vec<Vec<Vec<usize>>>,
}

/// Exact top-`K` rows (among `rows`, or all) by dot product with the normalised query.
fn brute_force(flat: &[f32], q: &[f32], rows: Option<&[usize]>) -> Vec<(f32, usize)> {
    let mut top: Vec<(f32, usize)> = Vec::with_capacity(K + 1);
    let mut offer = |s: f32, i: usize| {
        if top.len() < K || s > top[K - 1].0 {
            let at = top.partition_point(|e| e.0 >= s);
            top.insert(at, (s, i));
            top.truncate(K);
        }
    };
    match rows {
        None => flat
            .chunks_exact(DIMS)
            .enumerate()
            .for_each(|(i, v)| offer(dot(q, v), i)),
        Some(rows) => rows
            .iter()
            .for_each(|&i| offer(dot(q, &flat[i * DIMS..(i + 1) * DIMS]), i)),
    }
    top
}

fn load_data() -> Data {
    let mut file = Glove::open();
    let base = file.rows(0, BASE);
    let queries: Vec<Vec<f32>> = (0..QUERIES)
        .map(|i| file.rows(QUERY_FROM + i * QUERY_STEP, 1).remove(0))
        .collect();
    let flat: Vec<f32> = base.iter().flat_map(|v| normalised(v)).collect();
    let nqueries: Vec<Vec<f32>> = queries.iter().map(|q| normalised(q)).collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut order: Vec<usize> = (0..BASE).collect();
    for i in (1..BASE).rev() {
        order.swap(i, (rng.next() % (i as u64 + 1)) as usize);
    }
    let filters: Vec<Vec<usize>> = FILTERS
        .iter()
        .map(|&(_, per)| {
            let mut rows = order[..BASE / per].to_vec();
            rows.sort_unstable();
            rows
        })
        .collect();
    let truth = std::iter::once(None)
        .chain(filters.iter().map(|f| Some(f.as_slice())))
        .map(|rows| {
            nqueries
                .iter()
                .map(|q| {
                    brute_force(&flat, q, rows)
                        .into_iter()
                        .map(|(_, i)| i)
                        .collect()
                })
                .collect()
        })
        .collect();
    Data {
        base,
        queries,
        flat,
        nqueries,
        filters,
        truth,
    }
}

fn recall_rows(found: &[Vec<usize>], truth: &[Vec<usize>]) -> f64 {
    let hit: usize = found
        .iter()
        .zip(truth)
        .map(|(f, t)| f.iter().filter(|i| t.contains(i)).count())
        .sum();
    hit as f64 / (truth.len() * K) as f64
}

/// What the summary prints besides criterion's means.
#[derive(Default)]
struct Results {
    /// (backend, put_vectors s, optimize_vectors s)
    builds: Vec<(String, f64, f64)>,
    /// (criterion group, id) → recall
    recall: Vec<(String, f64)>,
    /// (backend, ms) of the first search after changing ef (instant-distance: re-materialising
    /// the graph for it; remdb: ef is per query)
    ef_switch: Vec<(String, f64)>,
}

impl Results {
    fn recall(&self, key: &str) -> Option<f64> {
        self.recall.iter().find(|(k, _)| k == key).map(|(_, r)| *r)
    }
}

// ---- remdb --------------------------------------------------------------------------------

struct Setup {
    /// Declared before the database: tenant handles go first.
    t: Tenant,
    _db: Database,
    _dir: tempfile::TempDir,
    ids: Vec<Uuid>,
    row_of: HashMap<Uuid, usize>,
}

fn open(backend: Backend, data: &Data, results: &mut Results) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open_with(
        dir.path(),
        &OpenOptions {
            backend: Some(backend),
            ..OpenOptions::default()
        },
    )
    .unwrap();
    let t = db.tenant("bench").unwrap();
    t.register_schema(json!({
        "title": "Word", "type": "object",
        "properties": {"row": {"type": "integer"}},
        "json_schema_extra": {"embedding_metric": "cosine"}
    }))
    .unwrap();
    let mut ids = Vec::with_capacity(BASE);
    for start in (0..BASE).step_by(10_000) {
        ids.extend(
            t.insert_many(
                "word",
                (start..start + 10_000).map(|i| json!({"row": i})).collect(),
            )
            .unwrap(),
        );
    }
    let items: Vec<(Uuid, Vec<f32>)> = ids.iter().copied().zip(data.base.iter().cloned()).collect();
    let started = Instant::now();
    t.vectors()
        .put_many("word", "vec", "glove", &items)
        .unwrap();
    let put = started.elapsed().as_secs_f64();
    let started = Instant::now();
    // The background worker starts sealing as soon as the batch commits; this waits for it or
    // does the build itself: either way it returns with one segment.
    t.vectors().optimize(Some("word"), true).unwrap();
    let optimize = started.elapsed().as_secs_f64();
    let meta = t
        .vectors()
        .index(&IndexName::new("word", "vec", "glove").unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(
        (meta.count, meta.pending, meta.segments.len()),
        (BASE as u64, 0, 1)
    );
    eprintln!(
        "{}: put_vectors {put:.1} s, optimize_vectors {optimize:.1} s, segment of {} chunks of 1 MiB",
        backend.name(),
        meta.segments[0].chunks
    );
    results
        .builds
        .push((backend.name().to_string(), put, optimize));
    let row_of = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    Setup {
        t,
        _db: db,
        _dir: dir,
        ids,
        row_of,
    }
}

fn remdb_rows(s: &Setup, q: &[f32], o: &SearchOptions) -> Vec<usize> {
    let hits =
        s.t.search("word", SearchQuery::Vector(q.to_vec()), o)
            .unwrap();
    hits.iter().map(|h| s.row_of[&h.id]).collect()
}

// ---- peers --------------------------------------------------------------------------------

fn bench_exact(c: &mut Criterion, data: &Data) {
    let mut k = 0;
    let mut g = c.benchmark_group("vector_exact");
    g.bench_function(BenchmarkId::from_parameter("brute-force"), |b| {
        b.iter(|| {
            k = (k + 1) % QUERIES;
            brute_force(&data.flat, &data.nqueries[k], None)
        })
    });
    for ((fname, _), rows) in FILTERS.iter().zip(&data.filters) {
        g.bench_function(BenchmarkId::new("brute-force", fname), |b| {
            b.iter(|| {
                k = (k + 1) % QUERIES;
                brute_force(&data.flat, &data.nqueries[k], Some(rows))
            })
        });
    }
}

/// A normalised vector compared by dot product, as remdb's segments do.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct DotPoint(Box<[f32]>);

impl Point for DotPoint {
    fn distance(&self, other: &Self) -> f32 {
        -dot(&self.0, &other.0)
    }
}

/// instant-distance alone: the graph in its persisted (postcard) form.
struct Raw {
    encoded: Vec<u8>,
}

/// Builds instant-distance's graph with remdb's parameters (ef_construction 100; its M is 32).
fn build_raw(data: &Data, results: &mut Results) -> Raw {
    let started = Instant::now();
    let map = Builder::default()
        .ef_construction(100)
        .ef_search(100)
        .seed(0x5eed)
        .build(
            data.flat
                .chunks_exact(DIMS)
                .map(|v| DotPoint(v.into()))
                .collect(),
            (0..BASE as u32).collect(),
        );
    let build = started.elapsed().as_secs_f64();
    eprintln!("instant-distance alone: build {build:.1} s");
    results.builds.push(("instant-distance".into(), 0.0, build));
    let encoded = postcard::to_allocvec(&map).unwrap();
    eprintln!(
        "instant-distance alone: persisted form {:.1} MB",
        encoded.len() as f64 / 1e6
    );
    Raw { encoded }
}

/// The graph re-materialised for `ef`: postcard form with its first varint (`ef_search`)
/// rewritten, as remdb's segments do.
fn with_ef(raw: &Raw, ef: usize) -> HnswMap<DotPoint, u32> {
    let encoded = &raw.encoded;
    let used = encoded.iter().position(|b| b & 0x80 == 0).unwrap() + 1;
    let mut patched = Vec::with_capacity(encoded.len() + 10);
    let mut v = ef as u64;
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            patched.push(byte);
            break;
        }
        patched.push(byte | 0x80);
    }
    patched.extend_from_slice(&encoded[used..]);
    postcard::from_bytes(&patched).unwrap()
}

fn raw_rows(map: &HnswMap<DotPoint, u32>, q: &[f32]) -> Vec<usize> {
    let mut search = Search::default();
    let q = DotPoint(q.into());
    map.search(&q, &mut search)
        .take(K)
        .map(|item| *item.value as usize)
        .collect()
}

// ---- side by side -------------------------------------------------------------------------

/// Every engine is built first, then each configuration is measured on all of them in a row,
/// so that load from other processes on the shared machine hits the columns of a row alike.
fn run(c: &mut Criterion, data: &Data, results: &mut Results) {
    bench_exact(c, data);
    let setups: Vec<(&str, Setup)> = backends()
        .into_iter()
        .map(|b| (b.name(), open(b, data, results)))
        .collect();
    let raw = build_raw(data, results);
    for ef in EFS {
        let o = SearchOptions {
            top_k: K,
            ef: Some(ef),
            ..SearchOptions::default()
        };
        let mut g = c.benchmark_group("vector_hnsw");
        for (name, s) in &setups {
            // Also materialises the segment for this ef, outside the measurement.
            let found: Vec<Vec<usize>> =
                data.queries.iter().map(|q| remdb_rows(s, q, &o)).collect();
            results.recall.push((
                format!("vector_hnsw/{name}/ef{ef}"),
                recall_rows(&found, &data.truth[0]),
            ));
            let mut k = 0;
            g.bench_function(BenchmarkId::new(*name, format!("ef{ef}")), |b| {
                b.iter(|| {
                    k = (k + 1) % QUERIES;
                    s.t.search("word", SearchQuery::Vector(data.queries[k].clone()), &o)
                        .unwrap()
                })
            });
        }
        let map = with_ef(&raw, ef);
        let found: Vec<Vec<usize>> = data.nqueries.iter().map(|q| raw_rows(&map, q)).collect();
        results.recall.push((
            format!("vector_hnsw/instant-distance/ef{ef}"),
            recall_rows(&found, &data.truth[0]),
        ));
        let mut k = 0;
        g.bench_function(
            BenchmarkId::new("instant-distance", format!("ef{ef}")),
            |b| {
                b.iter(|| {
                    k = (k + 1) % QUERIES;
                    raw_rows(&map, &data.nqueries[k])
                })
            },
        );
    }
    // The segments are materialised for the last ef: the next default-ef search decodes again.
    let o = SearchOptions::default();
    for (name, s) in &setups {
        let started = Instant::now();
        black_box(remdb_rows(s, &data.queries[0], &o));
        let first = started.elapsed().as_secs_f64() * 1e3;
        let started = Instant::now();
        black_box(remdb_rows(s, &data.queries[0], &o));
        let second = started.elapsed().as_secs_f64() * 1e3;
        results.ef_switch.push((name.to_string(), first - second));
    }
    let started = Instant::now();
    drop(black_box(with_ef(&raw, 100)));
    results.ef_switch.push((
        "instant-distance".into(),
        started.elapsed().as_secs_f64() * 1e3,
    ));
    for (fi, ((fname, _), rows)) in FILTERS.iter().zip(&data.filters).enumerate() {
        let mut g = c.benchmark_group("vector_filtered");
        for (name, s) in &setups {
            let o = SearchOptions {
                top_k: K,
                filter: Some(rows.iter().map(|&i| s.ids[i]).collect::<HashSet<Uuid>>()),
                ..SearchOptions::default()
            };
            let found: Vec<Vec<usize>> =
                data.queries.iter().map(|q| remdb_rows(s, q, &o)).collect();
            results.recall.push((
                format!("vector_filtered/{name}/{fname}"),
                recall_rows(&found, &data.truth[fi + 1]),
            ));
            let mut k = 0;
            g.bench_function(BenchmarkId::new(*name, fname), |b| {
                b.iter(|| {
                    k = (k + 1) % QUERIES;
                    s.t.search("word", SearchQuery::Vector(data.queries[k].clone()), &o)
                        .unwrap()
                })
            });
        }
    }
}

// ---- summary ------------------------------------------------------------------------------

/// Every backend built in, or those named in `REM_BENCH_BACKENDS` (comma-separated).
fn backends() -> Vec<Backend> {
    let mut all = vec![Backend::Memory, Backend::Redb];
    if let Ok(only) = std::env::var("REM_BENCH_BACKENDS") {
        all.retain(|b| only.split(',').any(|n| n.trim() == b.name()));
    }
    all
}

fn qps(ns: f64) -> String {
    let q = 1e9 / ns;
    if q >= 1e4 {
        format!("{:.0}k", q / 1e3)
    } else if q >= 1e3 {
        format!("{:.1}k", q / 1e3)
    } else {
        format!("{q:.0}")
    }
}

/// "time (QPS), R recall" of one criterion benchmark.
fn cell(dir: &Path, results: &Results, group: &str, id: &str, exact: bool) -> String {
    let Some(ns) = mean_ns(dir, group, id) else {
        return "n/a".into();
    };
    let recall = if exact {
        "1.000".to_string()
    } else {
        results
            .recall(&format!("{group}/{id}"))
            .map_or("?".into(), |r| format!("{r:.3}"))
    };
    format!("{} ({} QPS) R {recall}", human_time(ns), qps(ns))
}

fn print_summary(dir: &Path, results: &Results) {
    let names: Vec<&str> = backends().iter().map(|b| b.name()).collect();
    println!(
        "\nremdb vector search: GloVe-50, {BASE} base vectors, {QUERIES} held-out queries, cosine, \
         k = {K}; criterion mean per query (one thread), QPS = 1 / mean, R = recall@{K} vs exact\n"
    );
    for (name, put, optimize) in &results.builds {
        if name == "instant-distance" {
            println!("build  instant-distance alone (no store): HNSW {optimize:.1} s");
        } else {
            println!(
                "build  {name:<7}: {:.1} s = put_vectors {put:.1} s + optimize_vectors (HNSW) {optimize:.1} s",
                put + optimize
            );
        }
    }
    for (name, ms) in &results.ef_switch {
        println!("first search after changing ef ({name}): {ms:.0} ms");
    }
    println!();
    let mut cols: Vec<&str> = names.clone();
    cols.push("instant-distance");
    print!("| {:<22} |", "search");
    for n in &cols {
        print!(" {n:<34} |");
    }
    println!();
    print!("|{}|", "-".repeat(24));
    for _ in &cols {
        print!("{}|", "-".repeat(36));
    }
    println!();
    for ef in EFS {
        print!("| {:<22} |", format!("HNSW ef = {ef}"));
        for n in &cols {
            let c = cell(dir, results, "vector_hnsw", &format!("{n}/ef{ef}"), false);
            print!(" {c:<34} |");
        }
        println!();
    }
    for (fname, per) in FILTERS {
        print!(
            "| {:<22} |",
            format!("filter {}% ({} rows)", 100 / per, BASE / per)
        );
        for n in &cols {
            let c = if *n == "instant-distance" {
                "-".into()
            } else {
                cell(
                    dir,
                    results,
                    "vector_filtered",
                    &format!("{n}/{fname}"),
                    false,
                )
            };
            print!(" {c:<34} |");
        }
        println!();
    }
    println!();
    println!("exact brute force (plain Rust loop over the {BASE} normalised vectors, no store):");
    println!(
        "  all rows: {}",
        cell(dir, results, "vector_exact", "brute-force", true)
    );
    for (fname, per) in FILTERS {
        println!(
            "  filter {}%: {}",
            100 / per,
            cell(
                dir,
                results,
                "vector_exact",
                &format!("brute-force/{fname}"),
                true
            )
        );
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
    let data = load_data();
    let mut results = Results::default();
    run(&mut c, &data, &mut results);
    c.final_summary();
    print_summary(&out, &results);
    record_results(&out, &results);
}

/// Records the builds and every measured search for `benches/report.sh`.
fn record_results(dir: &Path, results: &Results) {
    for (name, put, optimize) in &results.builds {
        let engine = if name == "instant-distance" {
            name.clone()
        } else {
            format!("remdb-{name}")
        };
        record(json!({
            "suite": "vector", "case": "build", "engine": engine, "size": BASE,
            "seconds": put + optimize, "peer": name == "instant-distance",
            "label": format!("HNSW index of {BASE} GloVe-50 vectors, built"),
        }));
    }
    let mut engines: Vec<(String, String)> = backends()
        .iter()
        .map(|b| (b.name().to_string(), format!("remdb-{}", b.name())))
        .collect();
    engines.push(("instant-distance".into(), "instant-distance".into()));
    for (id, engine) in &engines {
        let peer = id == "instant-distance";
        for ef in EFS {
            let recall = results.recall(&format!("vector_hnsw/{id}/ef{ef}"));
            let extra = json!({"ef": ef, "recall": recall, "peer": peer, "size": BASE});
            record_mean(
                dir,
                "vector",
                "vector_hnsw",
                &format!("{id}/ef{ef}"),
                engine,
                extra,
            );
        }
    }
}
