use super::*;
use instant_distance::{HnswMap, Search};

/// xorshift64*: deterministic test vectors.
fn vectors(n: usize, dims: usize, metric: Metric, seed: u64) -> Vec<(Uuid, Vec<f32>)> {
    let mut s = seed;
    let mut next = move || {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        (s.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    (0..n)
        .map(|i| {
            let mut v: Vec<f32> = (0..dims).map(|_| next()).collect();
            metric.prepare(&mut v);
            (Uuid::from_u128(i as u128 + 1), v)
        })
        .collect()
}

#[test]
fn keys_order_like_distances() {
    let ds = [-3.5f32, -1.0, -0.0, 0.0, 1e-30, 0.25, 2.0, 1e30];
    for w in ds.windows(2) {
        assert!(key(w[0], 7) <= key(w[1], 7), "{} vs {}", w[0], w[1]);
    }
    for d in ds {
        assert_eq!(distance_of(key(d, 42)).to_bits(), d.to_bits());
        assert_eq!(point_of(key(d, 42)), 42);
    }
    assert!(key(1.0, 3) < key(1.0, 4), "ties order by point");
}

/// The flat search walks instant-distance's graph exactly as instant-distance does: for
/// every query and breadth, the same points in the same order.
#[test]
fn flat_search_matches_instant_distance() {
    for (metric, tag) in [(Metric::Cosine, "dot"), (Metric::L2, "l2")] {
        let pts = vectors(3000, 12, metric, 0x9e37_79b9);
        let (seg, chunks) = Segment::build(metric, pts.clone()).unwrap();
        let queries = vectors(40, 12, metric, 0x1234_5678);
        for ef in [1, 10, 57, 200] {
            // instant-distance itself, materialised for this ef from the same bytes.
            let mut bytes = chunks.concat();
            bytes.remove(0);
            let mut patched = vec![];
            let mut ef_left = ef as u64;
            loop {
                let b = (ef_left & 0x7f) as u8;
                ef_left >>= 7;
                if ef_left == 0 {
                    patched.push(b);
                    break;
                }
                patched.push(b | 0x80);
            }
            let old_ef_len = bytes.iter().position(|b| b & 0x80 == 0).unwrap() + 1;
            patched.extend_from_slice(&bytes[old_ef_len..]);
            for (_, q) in &queries {
                let mut search = Search::default();
                let theirs: Vec<(Uuid, f32)> = match metric {
                    Metric::L2 => {
                        let map: HnswMap<L2Point, Uuid> = postcard::from_bytes(&patched).unwrap();
                        map.search(&L2Point(q.clone().into()), &mut search)
                            .map(|i| (*i.value, 1.0 / (1.0 + i.distance)))
                            .collect()
                    }
                    _ => {
                        let map: HnswMap<DotPoint, Uuid> = postcard::from_bytes(&patched).unwrap();
                        map.search(&DotPoint(q.clone().into()), &mut search)
                            .map(|i| (*i.value, -i.distance))
                            .collect()
                    }
                };
                let ours = seg.search_unquantized(q, ef);
                assert_eq!(ours, theirs, "{tag}, ef {ef}");
            }
        }
    }
}

/// The walk over one-byte codes finds (nearly) what the exact walk finds, and what it
/// returns carries exact scores, best first.
#[test]
fn quantized_search_keeps_recall_and_exact_scores() {
    // 24-d (one cache line of codes) and 384-d (six; all-MiniLM-L6-v2's length).
    for (metric, n, dims) in [
        (Metric::Cosine, 3000, 24),
        (Metric::L2, 3000, 24),
        (Metric::InnerProduct, 800, 384),
    ] {
        let pts = vectors(n, dims, metric, 0x51ed);
        let (seg, _) = Segment::build(metric, pts.clone()).unwrap();
        let queries = vectors(60, dims, metric, 0xfeed);
        let (mut ours, mut theirs) = (0, 0);
        for (_, q) in &queries {
            let mut truth: Vec<(f32, Uuid)> = pts
                .iter()
                .map(|(id, v)| (metric.score(q, v), *id))
                .collect();
            truth.sort_by(|a, b| b.0.total_cmp(&a.0));
            let top: Vec<Uuid> = truth[..10].iter().map(|t| t.1).collect();
            let found = seg.search(q, 40);
            assert_eq!(found.len(), 40);
            for w in found.windows(2) {
                assert!(w[0].1 >= w[1].1, "best first");
            }
            for (id, score) in &found {
                let v = &pts.iter().find(|p| p.0 == *id).unwrap().1;
                assert_eq!(*score, metric.score(q, v), "exact score");
            }
            ours += found[..10].iter().filter(|h| top.contains(&h.0)).count();
            let exact = seg.search_unquantized(q, 40);
            theirs += exact[..10].iter().filter(|h| top.contains(&h.0)).count();
        }
        let (ours, theirs) = (ours as f64 / 600.0, theirs as f64 / 600.0);
        assert!(
            ours >= theirs - 0.02 && ours > 0.8,
            "{metric:?}: recall@10 {ours} quantized vs {theirs} exact"
        );
    }
}

#[test]
fn persisted_segments_search_alike_with_any_ef() {
    let pts = vectors(500, 3, Metric::Cosine, 7);
    let (seg, chunks) = Segment::build(Metric::Cosine, pts.clone()).unwrap();
    assert_eq!(seg.len(), 500);
    let q = pts[17].1.clone();
    let hits = seg.search(&q, 40);
    assert_eq!(hits.len(), 40, "a search returns ef entries");
    assert_eq!(hits[0].0, pts[17].0);
    assert!((hits[0].1 - 1.0).abs() < 1e-5);
    let read = Segment::decode(Metric::Cosine, &chunks).unwrap();
    assert_eq!(
        read.search(&q, 40),
        hits,
        "the persisted form searches alike"
    );
    let wide = read.search(&q, 120);
    assert_eq!(wide.len(), 120);
    assert_eq!(
        read.search(&q, 1000).len(),
        500,
        "ef beyond the size: every entry"
    );
    assert!(
        read.search(&[1.0, 0.0], 10).is_empty(),
        "wrong length: nothing"
    );
    let given: std::collections::HashMap<Uuid, &Vec<f32>> =
        pts.iter().map(|(id, v)| (*id, v)).collect();
    assert_eq!(read.entries().count(), 500);
    for (id, v) in read.entries() {
        assert_eq!(v, &given[&id][..], "every entry keeps its own vector");
    }
}

#[test]
fn corrupt_or_mismatched_segments_are_refused() {
    let pts = vectors(50, 4, Metric::Cosine, 3);
    let (_, chunks) = Segment::build(Metric::Cosine, pts).unwrap();
    assert!(
        Segment::decode(Metric::L2, &chunks).is_err(),
        "metric mismatch"
    );
    assert!(Segment::decode(Metric::Cosine, &[]).is_err(), "empty");
    assert!(Segment::decode(Metric::Cosine, &[vec![TAG_DOT, 5]]).is_err());
    let bytes = chunks.concat();
    let cut = &bytes[..bytes.len() - 20];
    assert!(
        Segment::decode(Metric::Cosine, &[cut.to_vec()]).is_err(),
        "truncated"
    );
}
