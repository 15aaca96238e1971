//! Vector search over caller-supplied vectors on every backend: exact answers while pending,
//! HNSW segments after sealing, persistence across reopen, update/delete visibility, filters
//! that still return k rows, metrics, WAL replication and typed errors.

use crate::common;

use std::collections::HashSet;

use remdb::vector::{SearchOptions, SearchQuery};
use remdb::{Database, Tenant};
use serde_json::json;
use uuid::Uuid;

fn doc_schema(metric: &str) -> serde_json::Value {
    json!({
        "title": "Doc", "type": "object",
        "properties": {"title": {"type": "string"}, "group": {"type": "integer"}},
        "json_schema_extra": {"embedding_metric": metric}
    })
}

/// Deterministic pseudo-random unit-ish vectors.
fn vectors(n: usize, dims: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            (0..dims)
                .map(|_| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5
                })
                .collect()
        })
        .collect()
}

fn load(t: &Tenant, vs: &[Vec<f32>]) -> Vec<Uuid> {
    t.register_schema(doc_schema("cosine")).unwrap();
    let rows: Vec<_> = (0..vs.len())
        .map(|i| json!({"title": format!("doc {i}"), "group": i % 10}))
        .collect();
    let ids = t.insert_many("doc", rows).unwrap();
    let items: Vec<(Uuid, Vec<f32>)> = ids.iter().copied().zip(vs.iter().cloned()).collect();
    t.vectors()
        .put_many("doc", "title", "test", &items)
        .unwrap();
    ids
}

fn exact_top(
    vs: &[Vec<f32>],
    ids: &[Uuid],
    q: &[f32],
    k: usize,
    keep: impl Fn(usize) -> bool,
) -> Vec<Uuid> {
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    let mut scored: Vec<(f32, Uuid)> = (0..vs.len())
        .filter(|&i| keep(i))
        .map(|i| {
            (
                vs[i].iter().zip(q).map(|(a, b)| a * b).sum::<f32>() / (norm(&vs[i]) * norm(q)),
                ids[i],
            )
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.into_iter().take(k).map(|(_, id)| id).collect()
}

fn opts(k: usize) -> SearchOptions {
    SearchOptions {
        top_k: k,
        ..SearchOptions::default()
    }
}

fn ids_of(hits: &[remdb::vector::SearchHit]) -> Vec<Uuid> {
    hits.iter().map(|h| h.id).collect()
}

#[test]
fn pending_vectors_are_searched_exactly() {
    for f in common::fixtures() {
        let t = f.tenant();
        let vs = vectors(300, 16, 1);
        let ids = load(&t, &vs);
        for qi in [0, 57, 299] {
            let hits = t
                .search("doc", SearchQuery::Vector(vs[qi].clone()), &opts(10))
                .unwrap();
            assert_eq!(
                ids_of(&hits),
                exact_top(&vs, &ids, &vs[qi], 10, |_| true),
                "{}",
                f.name
            );
            assert_eq!(hits[0].id, ids[qi]);
            assert!((hits[0].score - 1.0).abs() < 1e-5);
            assert!(
                hits.windows(2).all(|w| w[0].score >= w[1].score),
                "best first"
            );
            assert_eq!(
                hits[0].row["title"],
                format!("doc {qi}"),
                "hits carry their rows"
            );
        }
        let meta = t
            .vectors()
            .index(&remdb::vector::IndexName::new("doc", "title", "test").unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(
            (meta.count, meta.pending, meta.segments.len(), meta.dims),
            (300, 300, 0, 16)
        );
    }
}

#[test]
fn segments_persist_across_reopen_and_keep_answers() {
    for f in common::fixtures() {
        let t = f.tenant();
        let vs = vectors(3000, 24, 2);
        let ids = load(&t, &vs);
        // 3000 pending vectors passed SEAL_AT: the background worker may have sealed them.
        let report = t.vectors().optimize(Some("doc"), true).unwrap();
        assert_eq!(report[0].1.segments, 1, "{}", f.name);
        let queries: Vec<usize> = (0..20).map(|i| i * 149).collect();
        let before: Vec<Vec<Uuid>> = queries
            .iter()
            .map(|&q| {
                ids_of(
                    &t.search("doc", SearchQuery::Vector(vs[q].clone()), &opts(10))
                        .unwrap(),
                )
            })
            .collect();
        // HNSW recall against exact search on random vectors at the default ef.
        let mut found = 0;
        for (i, &q) in queries.iter().enumerate() {
            let truth = exact_top(&vs, &ids, &vs[q], 10, |_| true);
            found += before[i].iter().filter(|id| truth.contains(id)).count();
        }
        assert!(
            found as f64 / 200.0 >= 0.9,
            "{}: recall {}",
            f.name,
            found as f64 / 200.0
        );
        drop(t);
        let f = f.reopen();
        let t = f.tenant();
        let meta = t
            .vectors()
            .index(&remdb::vector::IndexName::new("doc", "title", "test").unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(
            (meta.count, meta.pending, meta.segments.len()),
            (3000, 0, 1),
            "{}",
            f.name
        );
        for (i, &q) in queries.iter().enumerate() {
            let after = ids_of(
                &t.search("doc", SearchQuery::Vector(vs[q].clone()), &opts(10))
                    .unwrap(),
            );
            assert_eq!(after, before[i], "{}: same answers after reopen", f.name);
        }
    }
}

/// A merge grows the largest segment in place: it keeps its number (its members' records are
/// not rewritten), loses its dead entries, takes the new vectors, and every backend finds all
/// of them — before and after a reopen — and none of the removed.
#[test]
fn merges_grow_the_largest_segment_in_place() {
    let index = remdb::vector::IndexName::new("doc", "title", "test").unwrap();
    for f in common::fixtures() {
        let t = f.tenant();
        let vs = vectors(3000, 16, 11);
        let ids = load(&t, &vs[..2500]);
        t.vectors().optimize(Some("doc"), true).unwrap();
        let first = t.vectors().index(&index).unwrap().unwrap().segments;
        assert_eq!(first.len(), 1, "{}", f.name);
        // A tenth of the built entries deleted, 500 new vectors pending.
        for id in ids.iter().step_by(10) {
            t.hard_delete(&id.to_string()).unwrap();
        }
        let more = load(&t, &vs[2500..]);
        t.vectors().optimize(Some("doc"), true).unwrap();
        let grown = t.vectors().index(&index).unwrap().unwrap();
        assert_eq!(grown.segments.len(), 1, "{}", f.name);
        let seg = &grown.segments[0];
        assert_eq!(
            (seg.no, seg.generation, seg.size, seg.dead, grown.pending),
            (first[0].no, first[0].generation + 1, 2750, 0, 0),
            "{}: the same segment, grown",
            f.name
        );
        let live: Vec<(usize, Uuid)> = ids
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 10 != 0)
            .map(|(i, id)| (i, *id))
            .chain(more.iter().enumerate().map(|(i, id)| (2500 + i, *id)))
            .collect();
        let check = |t: &Tenant, name: &str| {
            for &(i, id) in live.iter().step_by(97) {
                let hits = t
                    .search("doc", SearchQuery::Vector(vs[i].clone()), &opts(3))
                    .unwrap();
                assert_eq!(hits[0].id, id, "{name}: row {i} finds itself");
            }
            for i in (0..2500).step_by(250) {
                let hits = t
                    .search("doc", SearchQuery::Vector(vs[i].clone()), &opts(20))
                    .unwrap();
                assert!(!ids_of(&hits).contains(&ids[i]), "{name}: deleted row {i}");
            }
        };
        check(&t, f.name);
        drop(t);
        let f = f.reopen();
        let t = f.tenant();
        check(&t, f.name);
    }
}

#[test]
fn updates_and_deletes_are_visible_in_segments_and_pending() {
    for f in common::fixtures() {
        let t = f.tenant();
        let vs = vectors(500, 8, 3);
        let ids = load(&t, &vs);
        t.vectors().optimize(None, true).unwrap();
        let q = vs[10].clone();
        // Soft delete hides the row; include_deleted shows it.
        t.delete(&ids[10].to_string()).unwrap();
        let hits = t
            .search("doc", SearchQuery::Vector(q.clone()), &opts(5))
            .unwrap();
        assert!(!ids_of(&hits).contains(&ids[10]), "{}", f.name);
        assert_eq!(hits.len(), 5, "still k rows");
        let with = SearchOptions {
            include_deleted: true,
            ..opts(5)
        };
        assert_eq!(
            t.search("doc", SearchQuery::Vector(q.clone()), &with)
                .unwrap()[0]
                .id,
            ids[10]
        );
        // Replacing a sealed vector: the old position no longer matches, the new one does.
        let far: Vec<f32> = q.iter().map(|x| -x).collect();
        t.vectors()
            .put("doc", &ids[20].to_string(), "title", "test", &q)
            .unwrap();
        let hits = t
            .search("doc", SearchQuery::Vector(q.clone()), &opts(3))
            .unwrap();
        assert_eq!(
            hits[0].id, ids[20],
            "{}: the replaced vector is found at its new place",
            f.name
        );
        let hits = t
            .search("doc", SearchQuery::Vector(vs[20].clone()), &opts(3))
            .unwrap();
        assert_ne!(hits[0].id, ids[20], "{}: not at its old place", f.name);
        // Hard delete removes the vectors.
        t.hard_delete(&ids[20].to_string()).unwrap();
        let hits = t
            .search("doc", SearchQuery::Vector(q.clone()), &opts(500))
            .unwrap();
        assert!(!ids_of(&hits).contains(&ids[20]));
        assert_eq!(hits.len(), 498, "{}: every live row once", f.name);
        let meta = t
            .vectors()
            .index(&remdb::vector::IndexName::new("doc", "title", "test").unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(meta.count, 499, "soft-deleted rows keep their vector");
        assert_eq!(
            meta.segments[0].dead, 1,
            "the replaced sealed entry went stale (the purged one was pending)"
        );
        // A merge drops the dead entries.
        t.vectors().optimize(None, true).unwrap();
        let meta = t
            .vectors()
            .index(&remdb::vector::IndexName::new("doc", "title", "test").unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(
            (
                meta.segments.len(),
                meta.segments[0].size,
                meta.segments[0].dead,
                meta.pending
            ),
            (1, 499, 0, 0)
        );
        let _ = far;
    }
}

#[test]
fn filtered_search_returns_k_rows_when_k_match() {
    let db = Database::memory();
    let t = db.tenant("default").unwrap();
    let vs = vectors(5000, 16, 4);
    let ids = load(&t, &vs);
    t.vectors().optimize(None, true).unwrap();
    for (modulo, k) in [(2usize, 10usize), (97, 10), (1250, 4)] {
        let allowed: HashSet<Uuid> = (0..ids.len())
            .filter(|i| i % modulo == 0)
            .map(|i| ids[i])
            .collect();
        let q = vs[1].clone();
        let o = SearchOptions {
            filter: Some(allowed.clone()),
            ..opts(k)
        };
        let hits = t.search("doc", SearchQuery::Vector(q.clone()), &o).unwrap();
        assert_eq!(hits.len(), k.min(allowed.len()), "modulo {modulo}");
        assert!(hits.iter().all(|h| allowed.contains(&h.id)));
        let truth = exact_top(&vs, &ids, &q, k, |i| i % modulo == 0);
        let overlap = hits.iter().filter(|h| truth.contains(&h.id)).count();
        assert!(
            overlap * 10 >= k * 8,
            "modulo {modulo}: {overlap}/{k} of the exact answer"
        );
    }
    // A filter none of whose rows have vectors gives nothing; min_score cuts the list.
    let o = SearchOptions {
        filter: Some(HashSet::from([Uuid::nil()])),
        ..opts(10)
    };
    assert!(t
        .search("doc", SearchQuery::Vector(vs[0].clone()), &o)
        .unwrap()
        .is_empty());
    let o = SearchOptions {
        min_score: Some(0.999),
        ..opts(10)
    };
    let hits = t
        .search("doc", SearchQuery::Vector(vs[0].clone()), &o)
        .unwrap();
    assert_eq!(ids_of(&hits), vec![ids[0]]);
}

#[test]
fn metrics_rank_as_documented() {
    let db = Database::memory();
    let t = db.tenant("default").unwrap();
    for metric in ["inner_product", "l2"] {
        let table = format!("doc_{metric}");
        t.register_schema(json!({
            "title": table, "type": "object", "properties": {"title": {"type": "string"}},
            "json_schema_extra": {"embedding_metric": metric}
        }))
        .unwrap();
        let a = t.insert(&table, json!({"title": "a"})).unwrap();
        let b = t.insert(&table, json!({"title": "b"})).unwrap();
        t.vectors()
            .put(&table, &a.to_string(), "title", "p", &[1.0, 0.0])
            .unwrap();
        t.vectors()
            .put(&table, &b.to_string(), "title", "p", &[3.0, 0.0])
            .unwrap();
        let hits = t
            .search(&table, SearchQuery::Vector(vec![1.0, 0.0]), &opts(2))
            .unwrap();
        if metric == "inner_product" {
            assert_eq!(
                (hits[0].id, hits[0].score),
                (b, 3.0),
                "dot product prefers the longer vector"
            );
        } else {
            assert_eq!(
                (hits[0].id, hits[0].score),
                (a, 1.0),
                "l2: identical vector scores 1"
            );
            assert!((hits[1].score - 1.0 / 3.0).abs() < 1e-6, "l2: 1 / (1 + 2)");
        }
    }
}

#[test]
fn vectors_replicate_through_the_wal() {
    let db = Database::memory();
    let t = db.tenant("default").unwrap();
    let vs = vectors(50, 8, 5);
    let ids = load(&t, &vs);
    t.vectors().optimize(None, true).unwrap(); // segments are derived data: not logged
    let entries = t.wal().entries(0, usize::MAX).unwrap();
    assert_eq!(
        entries
            .iter()
            .filter(|e| e.op == remdb::WalOp::Vector)
            .count(),
        50
    );
    let replica_db = Database::memory();
    let replica = replica_db.tenant("default").unwrap();
    replica.wal().apply(&entries).unwrap();
    assert_eq!(replica.wal().seq().unwrap(), t.wal().seq().unwrap());
    let q = vs[7].clone();
    let here = ids_of(
        &t.search("doc", SearchQuery::Vector(q.clone()), &opts(5))
            .unwrap(),
    );
    let there = ids_of(
        &replica
            .search("doc", SearchQuery::Vector(q), &opts(5))
            .unwrap(),
    );
    assert_eq!(here, there);
    assert_eq!(there[0], ids[7]);
    assert_eq!(
        replica.embeddings().queued().unwrap(),
        (0, 0),
        "nothing left waiting on the replica"
    );
}

#[test]
fn bad_vectors_are_typed_errors_that_write_nothing() {
    let db = Database::memory();
    let t = db.tenant("default").unwrap();
    let ids = load(&t, &vectors(3, 4, 6));
    let seq = t.wal().seq().unwrap();
    let id = ids[0].to_string();
    let cases: Vec<(Vec<f32>, &str)> = vec![
        (vec![1.0, 2.0], "4-dimensional"),
        (vec![], "1–"),
        (vec![f32::NAN, 0.0, 0.0, 0.0], "finite"),
    ];
    for (v, needle) in cases {
        let err = t
            .vectors()
            .put("doc", &id, "title", "test", &v)
            .unwrap_err();
        assert_eq!(err.code(), "INVALID_ARGUMENT");
        assert!(err.to_string().contains(needle), "{err}");
    }
    let err = t
        .vectors()
        .put("doc", &Uuid::nil().to_string(), "title", "test", &[0.0; 4])
        .unwrap_err();
    assert_eq!(err.code(), "NOT_FOUND");
    let many = vec![(ids[1], vec![1.0; 4]), (ids[2], vec![1.0; 3])];
    assert!(t.vectors().put_many("doc", "title", "test", &many).is_err());
    assert_eq!(t.wal().seq().unwrap(), seq, "nothing was written");
    let err = t
        .search("doc", SearchQuery::Vector(vec![1.0; 3]), &opts(3))
        .unwrap_err();
    assert!(err.to_string().contains("3 values"), "{err}");
    assert_eq!(
        t.search("doc", SearchQuery::Vector(vec![1.0; 4]), &opts(0))
            .unwrap_err()
            .code(),
        "INVALID_ARGUMENT"
    );
    assert_eq!(
        t.search("nope", SearchQuery::Vector(vec![1.0; 4]), &opts(3))
            .unwrap_err()
            .code(),
        "UNKNOWN_TABLE"
    );
}

#[test]
fn a_replaced_vector_is_found_even_when_its_stale_entry_scores_higher() {
    let db = Database::memory();
    let t = db.tenant("default").unwrap();
    let vs = vectors(3000, 16, 7);
    let ids = load(&t, &vs);
    t.vectors().optimize(None, true).unwrap();
    // Row 5 is re-embedded slightly off its old vector: its stale sealed entry is exactly the
    // query, the new pending one is very close. The stale entry must not hide the row.
    let q = vs[5].clone();
    let nudged: Vec<f32> = q
        .iter()
        .enumerate()
        .map(|(i, x)| if i == 0 { x + 0.01 } else { *x })
        .collect();
    t.vectors()
        .put("doc", &ids[5].to_string(), "title", "test", &nudged)
        .unwrap();
    let hits = t.search("doc", SearchQuery::Vector(q), &opts(10)).unwrap();
    assert_eq!(hits[0].id, ids[5], "{:?}", ids_of(&hits));
    assert!(hits[0].score > 0.99 && hits[0].score < 1.0);
}

/// `search_json` writes what `search` returns, row for row, each with its `_score`, straight from
/// the stored text; a row's own `_score` field gives way to the search's.
#[test]
fn search_json_writes_the_hits_rows_with_their_scores() {
    for f in common::fixtures() {
        let t = f.tenant();
        let vs = vectors(200, 8, 11);
        let ids = load(&t, &vs);
        t.update(
            &ids[3].to_string(),
            json!({"_score": "mine", "note": "ünïcode \"quoted\""}),
        )
        .unwrap();
        let q = SearchQuery::Vector(vs[3].clone());
        let o = SearchOptions {
            top_k: 7,
            ..SearchOptions::default()
        };
        let hits = t.search("doc", q.clone(), &o).unwrap();
        let text = t.search_json("doc", q, &o).unwrap();
        let rows: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
        assert_eq!(rows.len(), 7, "{}", f.name);
        for (row, hit) in rows.iter().zip(&hits) {
            let mut want = hit.row.clone();
            want.insert("_score".into(), json!(hit.score));
            assert_eq!(row, &serde_json::Value::Object(want), "{}", f.name);
        }
        assert_eq!(rows[0]["id"], ids[3].to_string());
        assert_eq!(rows[0]["note"], "ünïcode \"quoted\"");
        assert!(rows[0]["_score"].as_f64().unwrap() > 0.999);
        let none = SearchOptions {
            min_score: Some(2.0),
            ..SearchOptions::default()
        };
        assert_eq!(t.search_json("doc", vs[0].clone(), &none).unwrap(), "[]");
        let e = t.search_json("doc", vec![1.0; 3], &o).unwrap_err();
        assert!(e.to_string().contains("3 values"), "{e}");
    }
}
