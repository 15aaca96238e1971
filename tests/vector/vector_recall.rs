//! Recall of HNSW search on real data: GloVe-50 word vectors (cosine), against exact top-10
//! computed by brute force here.
//!
//! Base: the first 20,000 GloVe rows. Queries: 200 rows from 300,000 on (not in the base).
//! Checks recall@10 ≥ 0.95 at the default `ef`, that a segment persisted in redb and read back
//! after reopening answers exactly as before, and that a wider `ef` does not lose recall
//! (ef 40 vs 200; ≥ 0.98 at 200).
//!
//! Needs `models/glove-6b-50d/vectors.f32`: `bash .ci/fetch-models`. Without it the test
//! FAILS (it never passes silently). Native only (reads the file, redb in a tempdir).
#![cfg(not(target_arch = "wasm32"))]

use std::collections::HashSet;
use std::time::Instant;

use remdb::kv::Backend;
use remdb::vector::{IndexName, SearchOptions, SearchQuery};
use remdb::{Database, OpenOptions, Tenant};
use serde_json::json;
use uuid::Uuid;

use crate::common::glove::{normalised, Glove, DIMS};

const BASE: usize = 20_000;
const QUERIES: usize = 200;
/// Queries are rows `QUERY_FROM + i * QUERY_STEP`: rare words from the tail of the vocabulary.
const QUERY_FROM: usize = 300_000;
const QUERY_STEP: usize = 499;
const K: usize = 10;

/// `BASE` GloVe rows from row 0, and `QUERIES` query rows.
struct GloveData {
    base: Vec<Vec<f32>>,
    queries: Vec<Vec<f32>>,
}

fn glove() -> GloveData {
    let mut file = Glove::open();
    let base = file.rows(0, BASE);
    let queries = (0..QUERIES)
        .map(|i| file.rows(QUERY_FROM + i * QUERY_STEP, 1).remove(0))
        .collect();
    GloveData { base, queries }
}

/// Exact top-`K` base rows of every query by cosine.
fn ground_truth(g: &GloveData) -> Vec<Vec<usize>> {
    let base: Vec<Vec<f32>> = g.base.iter().map(|v| normalised(v)).collect();
    g.queries
        .iter()
        .map(|q| {
            let q = normalised(q);
            let mut scored: Vec<(f32, usize)> = base
                .iter()
                .enumerate()
                .map(|(i, v)| (v.iter().zip(&q).map(|(a, b)| a * b).sum(), i))
                .collect();
            scored.select_nth_unstable_by(K, |a, b| b.0.total_cmp(&a.0));
            scored.truncate(K);
            scored.into_iter().map(|(_, i)| i).collect()
        })
        .collect()
}

/// Loads the base rows and their vectors into table `word` and builds one segment.
fn load(t: &Tenant, g: &GloveData) -> Vec<Uuid> {
    t.register_schema(json!({
        "title": "Word", "type": "object",
        "properties": {"row": {"type": "integer"}},
        "json_schema_extra": {"embedding_metric": "cosine"}
    }))
    .unwrap();
    let started = Instant::now();
    let ids = t
        .insert_many("word", (0..BASE).map(|i| json!({"row": i})).collect())
        .unwrap();
    let inserted = started.elapsed();
    let items: Vec<(Uuid, Vec<f32>)> = ids.iter().copied().zip(g.base.iter().cloned()).collect();
    t.vectors()
        .put_many("word", "vec", "glove", &items)
        .unwrap();
    let put = started.elapsed();
    let report = t.vectors().optimize(Some("word"), true).unwrap();
    eprintln!(
        "load: rows {:.1} s, put_vectors {:.1} s, optimize_vectors {:.1} s",
        inserted.as_secs_f64(),
        (put - inserted).as_secs_f64(),
        (started.elapsed() - put).as_secs_f64()
    );
    assert_eq!(report.len(), 1);
    let meta = t
        .vectors()
        .index(&IndexName::new("word", "vec", "glove").unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(
        (meta.count, meta.pending, meta.segments.len(), meta.dims),
        (BASE as u64, 0, 1, DIMS),
        "every vector is in the one HNSW segment"
    );
    ids
}

/// Top-`K` ids of every query at `ef` (`None`: the default).
fn search_all(t: &Tenant, g: &GloveData, ef: Option<usize>) -> Vec<Vec<Uuid>> {
    let o = SearchOptions {
        top_k: K,
        ef,
        ..SearchOptions::default()
    };
    let started = Instant::now();
    let found = g
        .queries
        .iter()
        .map(|q| {
            let hits = t
                .search("word", SearchQuery::Vector(q.clone()), &o)
                .unwrap();
            assert_eq!(hits.len(), K);
            hits.iter().map(|h| h.id).collect()
        })
        .collect();
    eprintln!(
        "{QUERIES} searches at ef {ef:?}: {:.2} s",
        started.elapsed().as_secs_f64()
    );
    found
}

fn recall(found: &[Vec<Uuid>], truth: &[Vec<usize>], ids: &[Uuid]) -> f64 {
    let hit: usize = found
        .iter()
        .zip(truth)
        .map(|(f, t)| {
            let t: HashSet<Uuid> = t.iter().map(|&i| ids[i]).collect();
            f.iter().filter(|id| t.contains(id)).count()
        })
        .sum();
    hit as f64 / (found.len() * K) as f64
}

/// One HNSW build (the costly part) serves every check: recall at the default `ef` on the
/// segment as built, the same answers from the segment decoded from redb after reopening, and
/// recall at other `ef`s on the segment decoded from the stored chunks.
#[test]
fn glove_recall_meets_targets_grows_with_ef_and_survives_reopen() {
    let g = glove();
    let truth = ground_truth(&g);
    let dir = tempfile::tempdir().unwrap();
    let options = OpenOptions {
        backend: Some(Backend::Redb),
        ..OpenOptions::default()
    };
    let db = Database::open_with(dir.path(), &options).unwrap();
    let t = db.tenant("default").unwrap();
    let ids = load(&t, &g);
    // Before reopening, search uses the segment as built (cached in memory).
    let before = search_all(&t, &g, None);
    let r_default = recall(&before, &truth, &ids);
    eprintln!("recall@{K}, default ef: {r_default:.4}");
    assert!(
        r_default >= 0.95,
        "recall@{K} at the default ef is {r_default:.4} < 0.95"
    );
    drop(t);
    drop(db);

    let db = Database::open_with(dir.path(), &options).unwrap();
    let t = db.tenant("default").unwrap();
    // Now the segment is decoded from the chunks stored in redb.
    let after = search_all(&t, &g, None);
    let r_after = recall(&after, &truth, &ids);
    eprintln!("recall@{K}, default ef, after reopen: {r_after:.4}");
    assert_eq!(r_after, r_default, "the reopened segment keeps its recall");
    assert_eq!(after, before, "the reopened segment gives the same answers");
    // And other ef values on the same decoded segment.
    let r40 = recall(&search_all(&t, &g, Some(40)), &truth, &ids);
    let r200 = recall(&search_all(&t, &g, Some(200)), &truth, &ids);
    eprintln!("recall@{K}: ef 40 {r40:.4}, ef 200 {r200:.4}");
    assert!(
        r200 >= r40,
        "recall fell with a wider ef: ef 40 {r40:.4}, ef 200 {r200:.4}"
    );
    assert!(r200 >= 0.98, "recall@{K} at ef 200 is {r200:.4} < 0.98");
    drop(t);
    drop(db);
}
