//! The full-text index is kept exact by the one write path: after random insert / update /
//! soft delete / undelete / purge sequences on every backend, keyword search returns exactly the
//! rows and BM25 scores a brute-force computation over the live rows gives; a schema gaining,
//! changing or dropping `fulltext_fields` rebuilds the index in the same write; a replica that
//! applied the WAL answers keyword queries identically.

use std::collections::BTreeMap;

use proptest::prelude::*;
use remdb::vector::{SearchMode, SearchOptions};
use remdb::Tenant;
use serde_json::json;

use crate::bm25;
use crate::common::{fixtures, memory_db};

const WORDS: [&str; 6] = ["alpha", "beta", "gamma", "delta", "alpha", "beta"];

fn schema() -> serde_json::Value {
    json!({
        "title": "Note", "type": "object",
        "properties": {"key": {"type": "string"}, "title": {"type": "string"}, "body": {"type": "string"}},
        "json_schema_extra": {"key_field": "key", "fulltext_fields": ["title", "body"], "fulltext_stemmer": "none"}
    })
}

fn keyword(k: usize) -> SearchOptions {
    SearchOptions {
        top_k: k,
        mode: SearchMode::Keyword,
        ..SearchOptions::default()
    }
}

#[derive(Debug, Clone)]
enum Op {
    /// Insert or upsert (an upsert of a soft-deleted row undeletes it).
    Put(u8, String, Option<String>),
    /// Patch the body of a live row.
    Update(u8, String),
    Delete(u8),
    Purge(u8),
}

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(&WORDS[..]), 0..6).prop_map(|w| w.join(" "))
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..6, text(), prop::option::of(text())).prop_map(|(k, t, b)| Op::Put(k, t, b)),
        2 => (0u8..6, text()).prop_map(|(k, b)| Op::Update(k, b)),
        1 => (0u8..6).prop_map(Op::Delete),
        1 => (0u8..6).prop_map(Op::Purge),
    ]
}

/// The model: live rows by key, (title, body).
type Model = BTreeMap<String, (String, Option<String>)>;

fn apply(
    t: &Tenant,
    model: &mut Model,
    deleted: &mut BTreeMap<String, (String, Option<String>)>,
    op: &Op,
) {
    let id = |k: &str| {
        t.lookup(&[k])
            .unwrap()
            .first()
            .map(|(_, r)| r["id"].as_str().unwrap().to_string())
    };
    match op {
        Op::Put(k, title, body) => {
            let key = format!("k{k}");
            let mut row = json!({"key": key, "title": title});
            if let Some(b) = body {
                row["body"] = json!(b);
            }
            t.insert("note", row).unwrap();
            deleted.remove(&key);
            model.insert(key, (title.clone(), body.clone()));
        }
        Op::Update(k, body) => {
            let key = format!("k{k}");
            if let Some(id) = id(&key) {
                t.update(&id, json!({"body": body})).unwrap();
                model.get_mut(&key).unwrap().1 = Some(body.clone());
            }
        }
        Op::Delete(k) => {
            let key = format!("k{k}");
            if let Some(id) = id(&key) {
                t.delete(&id).unwrap();
                let row = model.remove(&key).unwrap();
                deleted.insert(key, row);
            }
        }
        Op::Purge(k) => {
            let key = format!("k{k}");
            let found = t
                .lookup(&[&key])
                .unwrap()
                .first()
                .map(|(_, r)| r["id"].as_str().unwrap().to_string());
            let id = found.or_else(|| {
                // A soft-deleted row is not found by lookup: find it in the table.
                t.list(
                    "note",
                    &remdb::ListOptions {
                        include_deleted: true,
                        ..Default::default()
                    },
                )
                .unwrap()
                .into_iter()
                .find(|r| r["key"] == key)
                .map(|r| r["id"].as_str().unwrap().to_string())
            });
            if let Some(id) = id {
                t.hard_delete(&id).unwrap();
                model.remove(&key);
                deleted.remove(&key);
            }
        }
    }
}

/// Keyword search agrees with brute-force BM25 over the model's live rows.
fn check(t: &Tenant, model: &Model, label: &str) {
    let titles: Vec<(&str, &str)> = model
        .iter()
        .map(|(k, (t, _))| (k.as_str(), t.as_str()))
        .collect();
    let bodies: Vec<(&str, &str)> = model
        .iter()
        .filter_map(|(k, (_, b))| b.as_deref().map(|b| (k.as_str(), b)))
        .collect();
    let fields = [bm25::Field { docs: titles }, bm25::Field { docs: bodies }];
    for q in ["alpha", "beta gamma", "delta", "alpha delta gamma beta"] {
        let terms: Vec<&str> = q.split_whitespace().collect();
        let want = bm25::scores(&fields, &terms);
        let hits = t.search("note", q, &keyword(model.len() + 1)).unwrap();
        let got: BTreeMap<String, f32> = hits
            .iter()
            .map(|h| (h.row["key"].as_str().unwrap().to_string(), h.score))
            .collect();
        assert_eq!(got.len(), want.len(), "{label} {q}: {got:?} vs {want:?}");
        for (k, s) in &want {
            let g = got
                .get(*k)
                .unwrap_or_else(|| panic!("{label} {q}: {k} missing"));
            assert!(
                bm25::close(f64::from(*g), *s),
                "{label} {q}: {k} {g} vs {s}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn the_index_stays_exact_under_random_writes(ops in prop::collection::vec(op(), 1..40)) {
        for f in fixtures() {
            let (mut model, mut deleted) = (Model::new(), BTreeMap::new());
            {
                let t = f.tenant();
                t.register_schema(schema()).unwrap();
                for op in &ops {
                    apply(&t, &mut model, &mut deleted, op);
                }
                check(&t, &model, f.name);
            }
            // And after a reopen, from what the backend persisted.
            let f = f.reopen();
            check(&f.tenant(), &model, f.name);
        }
    }
}

/// A deterministic pseudo-random sequence (an LCG), so the large test is the same on every run.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }

    /// `words` words, or 1–5 when `None`.
    fn text(&mut self, words: Option<usize>) -> String {
        let words = words.unwrap_or_else(|| 1 + self.below(5));
        (0..words)
            .map(|_| WORDS[self.below(WORDS.len())])
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Hundreds of rows hold each term, so its postings span many blocks: batches append to the last
/// block and split it, updates and deletes rewrite blocks in the middle, purges empty some; on
/// every backend and after a reopen, the answers are brute force's.
#[test]
fn postings_spread_over_many_blocks_stay_exact() {
    let mut rng = Lcg(7);
    for f in fixtures() {
        let mut model = Model::new();
        {
            let t = f.tenant();
            t.register_schema(schema()).unwrap();
            for batch in 0..6 {
                let rows: Vec<_> = (0..150)
                    .map(|i| {
                        let key = format!("k{}", batch * 150 + i);
                        let (title, body) = (rng.text(Some(2)), rng.text(None));
                        model.insert(key.clone(), (title.clone(), Some(body.clone())));
                        json!({"key": key, "title": title, "body": body})
                    })
                    .collect();
                t.insert_many("note", rows).unwrap();
            }
            let keys: Vec<String> = model.keys().cloned().collect();
            for round in 0..300 {
                let key = &keys[rng.below(keys.len())];
                let Some((_, row)) = t.lookup(&[key]).unwrap().into_iter().next() else {
                    continue;
                };
                let id = row["id"].as_str().unwrap().to_string();
                match round % 3 {
                    0 => {
                        let body = rng.text(None);
                        t.update(&id, json!({"body": body})).unwrap();
                        model.get_mut(key).unwrap().1 = Some(body);
                    }
                    1 => {
                        t.delete(&id).unwrap();
                        model.remove(key);
                    }
                    _ => {
                        t.hard_delete(&id).unwrap();
                        model.remove(key);
                    }
                }
            }
            check(&t, &model, f.name);
        }
        let f = f.reopen();
        check(&f.tenant(), &model, f.name);
    }
}

#[test]
fn schema_changes_rebuild_the_index_in_the_same_write() {
    let t = memory_db().tenant("t").unwrap();
    let mut plain = schema();
    plain["json_schema_extra"] = json!({"key_field": "key"});
    t.register_schema(plain.clone()).unwrap();
    t.insert(
        "note",
        json!({"key": "a", "title": "alpha", "body": "beta"}),
    )
    .unwrap();
    t.insert(
        "note",
        json!({"key": "b", "title": "gamma", "body": "alpha alpha"}),
    )
    .unwrap();
    let gone = t
        .insert("note", json!({"key": "c", "title": "alpha"}))
        .unwrap();
    t.delete(&gone.to_string()).unwrap();
    assert_eq!(
        t.search("note", "alpha", &keyword(10)).unwrap_err().code(),
        "INVALID_ARGUMENT"
    );
    // Gaining full-text fields indexes the existing live rows.
    t.register_schema(schema()).unwrap();
    let mut model = Model::new();
    model.insert("a".into(), ("alpha".into(), Some("beta".into())));
    model.insert("b".into(), ("gamma".into(), Some("alpha alpha".into())));
    check(&t, &model, "gained");
    // Undeleting the soft-deleted row indexes it again.
    t.insert("note", json!({"key": "c", "title": "alpha"}))
        .unwrap();
    model.insert("c".into(), ("alpha".into(), None));
    check(&t, &model, "undeleted");
    // Fewer fields: the dropped field's postings go.
    let mut title_only = schema();
    title_only["json_schema_extra"]["fulltext_fields"] = json!(["title"]);
    t.register_schema(title_only).unwrap();
    let hits = t.search("note", "beta", &keyword(10)).unwrap();
    assert!(hits.is_empty(), "body is no longer indexed");
    // Dropping full-text search entirely, then adding it back, gives the same answers.
    t.register_schema(plain).unwrap();
    t.register_schema(schema()).unwrap();
    check(&t, &model, "restored");
    // Invalid extensions are refused and write nothing.
    let seq = t.wal().seq().unwrap();
    for extra in [
        json!({"fulltext_fields": ["nope"]}),
        json!({"fulltext_fields": ["key", "key"]}),
        json!({"fulltext_fields": "title"}),
        json!({"fulltext_fields": ["n"]}),
        json!({"fulltext_fields": [""]}),
        json!({"fulltext_fields": ["title"], "fulltext_stemmer": "klingon"}),
    ] {
        let mut s = schema();
        s["properties"]["n"] = json!({"type": "integer"});
        s["properties"][""] = json!({"type": "string"});
        s["json_schema_extra"] = extra.clone();
        assert_eq!(
            t.register_schema(s).unwrap_err().code(),
            "INVALID_SCHEMA",
            "{extra}"
        );
    }
    assert_eq!(t.wal().seq().unwrap(), seq);
}

#[test]
fn a_replica_that_applied_the_wal_answers_keyword_queries_identically() {
    for source in fixtures() {
        for target in fixtures() {
            let s = source.db.tenant(&format!("src-{}", target.name)).unwrap();
            let d = target.db.tenant("replica").unwrap();
            s.register_schema(schema()).unwrap();
            let mut ids = Vec::new();
            for i in 0..30 {
                let title = WORDS[i % 6];
                let body = format!(
                    "{} {} {}",
                    WORDS[(i * 7) % 6],
                    WORDS[(i + 2) % 6],
                    WORDS[i % 4]
                );
                ids.push(
                    s.insert(
                        "note",
                        json!({"key": format!("k{i}"), "title": title, "body": body}),
                    )
                    .unwrap(),
                );
            }
            s.update(&ids[3].to_string(), json!({"body": "delta delta"}))
                .unwrap();
            s.delete(&ids[4].to_string()).unwrap();
            s.hard_delete(&ids[5].to_string()).unwrap();
            let entries = s.wal().entries(0, usize::MAX).unwrap();
            d.wal().apply(&entries).unwrap();
            for q in [
                "alpha",
                "beta -gamma",
                "\"delta delta\"",
                "gam*",
                "alpha beta gamma delta",
            ] {
                let a = s.search("note", q, &keyword(50)).unwrap();
                let b = d.search("note", q, &keyword(50)).unwrap();
                let view = |hits: &[remdb::vector::SearchHit]| -> Vec<(uuid::Uuid, u32)> {
                    hits.iter().map(|h| (h.id, h.score.to_bits())).collect()
                };
                assert_eq!(
                    view(&a),
                    view(&b),
                    "{} -> {}: {q}",
                    source.name,
                    target.name
                );
                assert!(!a.is_empty() || q.starts_with('"'), "{q} finds rows");
            }
        }
    }
}

#[test]
fn an_older_database_gains_the_index_when_init_runs_again() {
    // The built-in `resources` schema as databases written before full-text search hold it.
    let t = memory_db().tenant("t").unwrap();
    t.init().unwrap();
    let mut old = t.schema("resources").unwrap().schema;
    old["json_schema_extra"]
        .as_object_mut()
        .unwrap()
        .remove("fulltext_fields");
    let t = memory_db().tenant("old").unwrap();
    t.register_schema(old).unwrap();
    assert!(t.schema("resources").unwrap().fulltext_fields.is_empty());
    t.insert(
        "resources",
        json!({"name": "Disk errors", "content": "E1234 disk full", "uri": "a"}),
    )
    .unwrap();
    let err = t.search("resources", "e1234", &keyword(5)).unwrap_err();
    assert_eq!(err.code(), "INVALID_ARGUMENT");
    assert!(err.to_string().contains("run init"), "{err}");
    let seq = t.wal().seq().unwrap();
    t.init().unwrap();
    assert!(
        t.wal().seq().unwrap() > seq,
        "the upgrade is logged, so replicas follow it"
    );
    assert_eq!(
        t.schema("resources").unwrap().fulltext_fields,
        ["name", "content"]
    );
    let hits = t.search("resources", "e1234 disk", &keyword(5)).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(
        t.search("resources", "errors", &keyword(5)).unwrap().len(),
        1
    );
}
