//! The distance kernels behind vector search give the same answers natively and in wasm, where
//! they are simd128 code: `dot`/`l2` bit for bit against the eight-lane reference summation, and
//! a quantised HNSW segment finds the exact nearest neighbours with exact scores for every
//! metric. The suite runs natively and on wasm32 (in Node and headless Chromium).

use remdb::vector::{dot, l2};
use remdb::vector::{IndexName, SearchOptions, SearchQuery};
use remdb::Database;
use serde_json::json;
use uuid::Uuid;

/// Deterministic values in [-1, 1).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// Σ term(aᵢ, bᵢ) the way the kernels sum: eight lane sums (lane `i` takes elements `8k + i`),
/// added in lane order, then the tail.
fn lanes(a: &[f32], b: &[f32], term: impl Fn(f32, f32) -> f32) -> f32 {
    let n = a.len().min(b.len());
    let mut acc = [0f32; 8];
    for k in 0..n / 8 * 8 {
        acc[k % 8] += term(a[k], b[k]);
    }
    let mut tail = 0.0;
    for k in n / 8 * 8..n {
        tail += term(a[k], b[k]);
    }
    let mut sum = 0.0;
    for l in acc {
        sum += l;
    }
    sum + tail
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn dot_and_l2_sum_like_the_reference_bit_for_bit() {
    for n in 0..80 {
        let (a, b) = (values(n, 1 + n as u64), values(n + n % 3, 100 + n as u64));
        let expected = lanes(&a, &b, |x, y| x * y);
        assert_eq!(dot(&a, &b).to_bits(), expected.to_bits(), "dot, {n} dims");
        let expected = lanes(&a, &b, |x, y| (x - y) * (x - y)).sqrt();
        assert_eq!(l2(&a, &b).to_bits(), expected.to_bits(), "l2, {n} dims");
    }
    assert_eq!(dot(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]), 32.0);
    assert_eq!(l2(&[1.0, 2.0], &[4.0, 6.0]), 5.0);
}

/// Exact similarity as `SearchHit::score` reports it.
fn score(metric: &str, q: &[f32], v: &[f32]) -> f32 {
    match metric {
        "l2" => 1.0 / (1.0 + lanes(q, v, |x, y| (x - y) * (x - y)).sqrt()),
        _ => lanes(q, v, |x, y| x * y),
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn quantised_segments_find_the_exact_neighbours_for_every_metric() {
    const POINTS: usize = 1500;
    const DIMS: usize = 72; // more than one 64-byte line of codes per point
    const K: usize = 10;
    for metric in ["cosine", "inner_product", "l2"] {
        let t = Database::memory().tenant("default").unwrap();
        t.register_schema(json!({
            "title": "Point", "type": "object",
            "properties": {"n": {"type": "integer"}},
            "json_schema_extra": {"embedding_metric": metric}
        }))
        .unwrap();
        let ids = t
            .insert_many("point", (0..POINTS).map(|n| json!({"n": n})).collect())
            .unwrap();
        let unit = |mut v: Vec<f32>| {
            if metric == "cosine" {
                let norm = lanes(&v, &v, |x, y| x * y).sqrt();
                v.iter_mut().for_each(|x| *x /= norm);
            }
            v
        };
        let vectors: Vec<Vec<f32>> = (0..POINTS)
            .map(|p| unit(values(DIMS, 7 + p as u64)))
            .collect();
        let items: Vec<(Uuid, Vec<f32>)> = ids.iter().copied().zip(vectors.clone()).collect();
        t.vectors()
            .put_many("point", "vec", "mine", &items)
            .unwrap();
        t.vectors().optimize(Some("point"), true).unwrap();
        let meta = t
            .vectors()
            .index(&IndexName::new("point", "vec", "mine").unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(
            (meta.pending, meta.segments.len()),
            (0, 1),
            "{metric}: every vector is in one HNSW segment"
        );

        let (mut found, mut total) = (0, 0);
        for q in 0..20u64 {
            let query = unit(values(DIMS, 10_000 + q));
            let mut exact: Vec<(f32, Uuid)> = vectors
                .iter()
                .zip(&ids)
                .map(|(v, id)| (score(metric, &query, v), *id))
                .collect();
            exact.sort_by(|a, b| b.0.total_cmp(&a.0));
            let truth: Vec<Uuid> = exact[..K].iter().map(|e| e.1).collect();
            let o = SearchOptions {
                top_k: K,
                ef: Some(200),
                ..SearchOptions::default()
            };
            let hits = t
                .search("point", SearchQuery::Vector(query.clone()), &o)
                .unwrap();
            assert_eq!(hits.len(), K, "{metric}");
            for h in &hits {
                let p = ids.iter().position(|id| *id == h.id).unwrap();
                let expected = score(metric, &query, &vectors[p]);
                assert!(
                    (h.score - expected).abs() <= 1e-5 * expected.abs().max(1.0),
                    "{metric}: score {} vs exact {expected}",
                    h.score
                );
            }
            found += hits.iter().filter(|h| truth.contains(&h.id)).count();
            total += K;
        }
        let recall = found as f64 / total as f64;
        assert!(recall >= 0.95, "{metric}: recall@{K} {recall}");
    }
}
