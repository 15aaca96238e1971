//! Keyword (BM25) and hybrid search through `Tenant::search`: scores equal an independent
//! reference computation, phrases, prefixes and exclusions match what they say, Unicode text is
//! searchable, filters are pushed down, hostile queries fail with typed errors, and hybrid
//! search fuses the two rankings.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use remdb::embed::Embedder;
use remdb::vector::{SearchMode, SearchOptions, SearchQuery};
use remdb::{Database, OpenOptions, Tenant};
use serde_json::json;
use uuid::Uuid;

use crate::bm25;
use crate::common::memory_db;

fn doc_schema(stemmer: &str) -> serde_json::Value {
    json!({
        "title": "Doc", "type": "object",
        "properties": {"key": {"type": "string"}, "title": {"type": "string"}, "body": {"type": ["string", "null"]}, "n": {"type": "integer"}},
        "json_schema_extra": {"key_field": "key", "fulltext_fields": ["title", "body"], "fulltext_stemmer": stemmer}
    })
}

const CORPUS: [(&str, &str, &str); 8] = [
    (
        "a",
        "quick brown fox",
        "the quick brown fox jumps over the lazy dog",
    ),
    (
        "b",
        "lazy dogs",
        "dogs sleep all day and the dog sleeps more",
    ),
    ("c", "fox news", "a fox a fox a fox everywhere"),
    (
        "d",
        "brown bread",
        "bread is brown when baked with brown flour",
    ),
    ("e", "nothing", "completely unrelated words here"),
    (
        "f",
        "quick thinking",
        "think quick act quicker than the quickest",
    ),
    ("g", "dog and fox", "the dog chased the fox and the fox ran"),
    ("h", "empty", ""),
];

fn load(t: &Tenant) -> HashMap<Uuid, &'static str> {
    t.register_schema(doc_schema("none")).unwrap();
    CORPUS
        .iter()
        .map(|(k, title, body)| {
            let id = t
                .insert("doc", json!({"key": k, "title": title, "body": body}))
                .unwrap();
            (id, *k)
        })
        .collect()
}

fn keyword(k: usize) -> SearchOptions {
    SearchOptions {
        top_k: k,
        mode: SearchMode::Keyword,
        ..SearchOptions::default()
    }
}

fn keys(t: &Tenant, q: &str, o: &SearchOptions) -> Vec<String> {
    t.search("doc", q, o)
        .unwrap()
        .into_iter()
        .map(|h| h.row["key"].as_str().unwrap().to_string())
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn bm25_scores_equal_a_reference_computation() {
    let t = memory_db().tenant("t").unwrap();
    let names = load(&t);
    let fields = [
        bm25::Field {
            docs: CORPUS.iter().map(|(k, title, _)| (*k, *title)).collect(),
        },
        bm25::Field {
            docs: CORPUS.iter().map(|(k, _, body)| (*k, *body)).collect(),
        },
    ];
    for query in [
        "fox",
        "quick brown fox",
        "the dog",
        "bread",
        "zebra",
        "dog dog",
    ] {
        let terms: Vec<&str> = query.split_whitespace().collect();
        let reference = bm25::ranked(&bm25::scores(&fields, &terms));
        let hits = t.search("doc", query, &keyword(100)).unwrap();
        assert_eq!(
            hits.len(),
            reference.len(),
            "{query}: every matching row, no other"
        );
        let by_key: HashMap<&str, f32> = hits.iter().map(|h| (names[&h.id], h.score)).collect();
        for (key, want) in &reference {
            let got = by_key[key];
            assert!(
                bm25::close(f64::from(got), *want),
                "{query}: {key} scored {got}, reference {want}"
            );
        }
        assert!(
            hits.windows(2).all(|w| w[0].score >= w[1].score),
            "{query}: best first"
        );
        // Top-k is the reference's best k.
        let top3: Vec<&str> = t
            .search("doc", query, &keyword(3))
            .unwrap()
            .iter()
            .map(|h| names[&h.id])
            .collect();
        let want: Vec<f64> = reference.iter().take(3).map(|r| r.1).collect();
        let got: Vec<f64> = top3.iter().map(|k| by_key[k] as f64).collect();
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            assert!(bm25::close(*g, *w), "{query}: top-3 {got:?} vs {want:?}");
        }
    }
    // One field only: scores from that field's statistics.
    let o = SearchOptions {
        field: Some("title".into()),
        ..keyword(10)
    };
    let hits = t.search("doc", "fox", &o).unwrap();
    let reference = bm25::scores(&fields[..1], &["fox"]);
    assert_eq!(hits.len(), reference.len());
    for h in &hits {
        assert!(bm25::close(f64::from(h.score), reference[names[&h.id]]));
    }
}

#[test]
fn phrases_prefixes_and_exclusions_match_what_they_say() {
    let t = memory_db().tenant("t").unwrap();
    load(&t);
    // "brown fox" adjacent: a only (d has brown, g has fox, not together).
    assert_eq!(keys(&t, "\"brown fox\"", &keyword(10)), ["a"]);
    assert_eq!(
        keys(&t, "\"fox brown\"", &keyword(10)),
        Vec::<String>::new()
    );
    // Repeated words in a phrase need repeated positions.
    assert_eq!(keys(&t, "\"a fox a fox\"", &keyword(10)), ["c"]);
    // quick* expands to quick, quicker, quickest.
    assert_eq!(sorted(keys(&t, "quick*", &keyword(10))), ["a", "f"]);
    assert_eq!(sorted(keys(&t, "QUICKE*", &keyword(10))), ["f"]);
    // Exclusions drop rows matching them in any field.
    assert_eq!(sorted(keys(&t, "fox -lazy", &keyword(10))), ["c", "g"]);
    assert_eq!(
        sorted(keys(&t, "fox -\"the fox\"", &keyword(10))),
        ["a", "c"]
    );
    assert_eq!(sorted(keys(&t, "dog* -chased", &keyword(10))), ["a", "b"]);
    // Only exclusions, or nothing: no rows.
    assert!(keys(&t, "-fox", &keyword(10)).is_empty());
    assert!(keys(&t, "", &keyword(10)).is_empty());
    // A phrase scores as the sum of its terms where it occurs.
    let phrase = t.search("doc", "\"quick brown\"", &keyword(10)).unwrap();
    let terms = t.search("doc", "quick brown", &keyword(10)).unwrap();
    let a = |hits: &[remdb::vector::SearchHit]| {
        hits.iter().find(|h| h.row["key"] == "a").unwrap().score
    };
    assert!((a(&phrase) - a(&terms)).abs() < 1e-4);
}

#[test]
fn stemming_follows_the_table_setting() {
    let t = memory_db().tenant("t").unwrap();
    t.register_schema(doc_schema("english")).unwrap();
    t.insert(
        "doc",
        json!({"key": "r", "title": "Running", "body": "she runs and ran"}),
    )
    .unwrap();
    assert_eq!(keys(&t, "run", &keyword(10)), ["r"]);
    assert_eq!(keys(&t, "RUNNING", &keyword(10)), ["r"]);
    let mut schema = doc_schema("none");
    schema["title"] = json!("Doc");
    t.register_schema(schema).unwrap();
    assert!(
        keys(&t, "run", &keyword(10)).is_empty(),
        "rebuilt without stemming"
    );
    assert_eq!(keys(&t, "runs", &keyword(10)), ["r"]);
}

#[test]
fn unicode_text_is_searchable_and_never_panics() {
    let t = memory_db().tenant("t").unwrap();
    t.register_schema(doc_schema("english")).unwrap();
    t.insert(
        "doc",
        json!({"key": "fr", "title": "Café crème", "body": "Ça coûte deux euros à Paris"}),
    )
    .unwrap();
    t.insert(
        "doc",
        json!({"key": "ja", "title": "東京タワー", "body": "東京は日本の首都です"}),
    )
    .unwrap();
    t.insert(
        "doc",
        json!({"key": "zh", "title": "北京", "body": "北京是中国的首都"}),
    )
    .unwrap();
    t.insert(
        "doc",
        json!({"key": "emoji", "title": "🎉🔥", "body": "party 🎉 time \u{200d}\u{0301}"}),
    )
    .unwrap();
    t.insert(
        "doc",
        json!({"key": "id", "title": "__exit__", "body": "ERR_CONN_RESET at 0x7f3a"}),
    )
    .unwrap();
    assert_eq!(keys(&t, "CAFÉ", &keyword(10)), ["fr"]);
    assert!(
        keys(&t, "cafe", &keyword(10)).is_empty(),
        "accents are kept, not folded"
    );
    assert_eq!(keys(&t, "coûte", &keyword(10)), ["fr"]);
    assert_eq!(
        keys(&t, "東京", &keyword(10)),
        ["ja"],
        "Han text matches as a phrase of ideographs"
    );
    assert_eq!(sorted(keys(&t, "首都", &keyword(10))), ["ja", "zh"]);
    assert_eq!(keys(&t, "タワー", &keyword(10)), ["ja"]);
    assert_eq!(keys(&t, "__exit__", &keyword(10)), ["id"]);
    assert_eq!(keys(&t, "err_conn_reset", &keyword(10)), ["id"]);
    assert_eq!(keys(&t, "party", &keyword(10)), ["emoji"]);
    for q in [
        "🎉",
        "\u{200d}",
        "\u{0301}*",
        "\u{0}",
        "東*",
        "ß*",
        "İ",
        "\u{10ffff}",
    ] {
        let r = t.search("doc", q, &keyword(10));
        assert!(
            r.is_ok() || r.unwrap_err().code() == "INVALID_ARGUMENT",
            "{q:?}"
        );
    }
}

#[test]
fn hostile_queries_fail_typed_or_find_nothing() {
    let t = memory_db().tenant("t").unwrap();
    t.register_schema(doc_schema("none")).unwrap();
    let many: Vec<serde_json::Value> = (0..600)
        .map(|i| json!({"key": format!("k{i}"), "title": format!("w{i:04}"), "body": "x"}))
        .collect();
    t.insert_many("doc", many).unwrap();
    let code = |q: &str| t.search("doc", q, &keyword(10)).unwrap_err().code();
    assert_eq!(
        code(&"word ".repeat(10_000)),
        "INVALID_ARGUMENT",
        "10k terms"
    );
    assert_eq!(
        code(&"\"a b ".repeat(21)),
        "INVALID_ARGUMENT",
        "unbalanced quotes"
    );
    assert_eq!(code("*"), "INVALID_ARGUMENT");
    assert_eq!(code("-*"), "INVALID_ARGUMENT");
    assert_eq!(code("w*"), "INVALID_ARGUMENT", "600 expansions > the bound");
    assert!(t
        .search("doc", "w*", &keyword(10))
        .unwrap_err()
        .to_string()
        .contains("256"));
    assert_eq!(
        code(&"x".repeat(1 << 20)),
        "INVALID_ARGUMENT",
        "a megabyte of query"
    );
    assert_eq!(
        keys(&t, "w00*", &keyword(1000)).len(),
        100,
        "a bounded expansion works"
    );
    for q in [
        "",
        "   ",
        "-",
        "--",
        "\"\"",
        "-\"\"",
        "!!!",
        "x -x",
        "\"x\" \"\"",
    ] {
        let r = t.search("doc", q, &keyword(10)).unwrap();
        assert!(r.is_empty() || q.contains('x'), "{q:?}");
    }
    // Options are checked.
    let bad = [
        SearchOptions {
            top_k: 0,
            ..keyword(1)
        },
        SearchOptions {
            field: Some("n".into()),
            ..keyword(1)
        },
        SearchOptions {
            alpha: Some(0.5),
            ..keyword(1)
        },
        SearchOptions {
            min_score: Some(f32::NAN),
            ..keyword(1)
        },
    ];
    for o in bad {
        assert_eq!(
            t.search("doc", "x", &o).unwrap_err().code(),
            "INVALID_ARGUMENT",
            "{o:?}"
        );
    }
    assert_eq!(
        t.search("doc", SearchQuery::Vector(vec![1.0]), &keyword(1))
            .unwrap_err()
            .code(),
        "INVALID_ARGUMENT"
    );
    // A table without fulltext fields says so.
    t.register_schema(
        json!({"title": "Plain", "type": "object", "properties": {"a": {"type": "string"}}}),
    )
    .unwrap();
    assert_eq!(
        t.search("plain", "x", &keyword(1)).unwrap_err().code(),
        "INVALID_ARGUMENT"
    );
}

#[test]
fn filters_are_pushed_down_so_k_rows_come_back_when_k_match() {
    let t = memory_db().tenant("t").unwrap();
    t.register_schema(doc_schema("none")).unwrap();
    let mut odd = HashSet::new();
    for i in 0..200 {
        // Even rows mention "target" more often, so they would fill an unfiltered top-k.
        let body = if i % 2 == 0 {
            "target target target"
        } else {
            "target and other words"
        };
        let id = t
            .insert(
                "doc",
                json!({"key": format!("k{i}"), "title": "t", "body": body, "n": i}),
            )
            .unwrap();
        if i % 2 == 1 {
            odd.insert(id);
        }
    }
    let o = SearchOptions {
        filter: Some(odd.clone()),
        ..keyword(10)
    };
    let hits = t.search("doc", "target", &o).unwrap();
    assert_eq!(hits.len(), 10);
    assert!(hits.iter().all(|h| odd.contains(&h.id)));
    // min_score cuts.
    let all = t.search("doc", "target", &keyword(200)).unwrap();
    let cut = all[50].score;
    let o = SearchOptions {
        min_score: Some(cut),
        ..keyword(200)
    };
    assert!(t
        .search("doc", "target", &o)
        .unwrap()
        .iter()
        .all(|h| h.score >= cut));
}

#[test]
fn keyword_search_needs_no_embedder() {
    // The built-in resources table embeds `content`, yet keyword search runs without any
    // embedder configured (and the rows are written without vectors).
    let t = memory_db().tenant("t").unwrap(); // embedding mode off: no embedder at all
    t.init().unwrap();
    t.insert(
        "resources",
        json!({"name": "Errors", "content": "E1234 means the disk is full", "uri": "u"}),
    )
    .unwrap();
    let hits = t.search("resources", "e1234", &keyword(5)).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].row["name"], "Errors");
    assert!(
        t.search("resources", "errors", &keyword(5)).unwrap().len() == 1,
        "name is indexed too"
    );
    let json: serde_json::Value =
        serde_json::from_str(&t.search_json("resources", "disk", &keyword(5)).unwrap()).unwrap();
    assert_eq!(json[0]["name"], "Errors");
    assert!(json[0]["_score"].as_f64().unwrap() > 0.0);
}

/// A two-dimensional embedder: texts mentioning "north" point up, the rest right.
struct Compass;

impl Embedder for Compass {
    fn name(&self) -> &str {
        "compass"
    }
    fn dimensions(&self) -> usize {
        2
    }
    fn embed(&self, texts: &[&str]) -> remdb::Result<Vec<Vec<f32>>> {
        Ok(texts
            .iter()
            .map(|t| {
                let north = t.matches("north").count() as f32;
                vec![1.0, north]
            })
            .collect())
    }
}

#[test]
fn hybrid_search_fuses_vector_and_keyword_rankings() {
    let options = OpenOptions {
        default_embedding: Some("custom:compass".into()),
        ..OpenOptions::default()
    };
    let db = Database::with_kv_options(Arc::new(remdb::kv::MemoryKv::new()), &options).unwrap();
    db.embedders().register("custom:compass", Arc::new(Compass));
    let t = db.tenant("t").unwrap();
    t.register_schema(json!({
        "title": "Place", "type": "object",
        "properties": {"name": {"type": "string"}, "text": {"type": "string"}},
        "json_schema_extra": {"key_field": "name", "embedding_fields": ["text"], "embedding_provider": "custom:compass",
                              "fulltext_fields": ["text"], "fulltext_stemmer": "none"}
    })).unwrap();
    // "both" is good on both sides; "vec" only by vector; "kw" only by keyword.
    for (name, text) in [
        ("both", "north north zebra"),
        ("vec", "north north north"),
        ("kw", "zebra zebra zebra"),
        ("none", "east"),
    ] {
        t.insert("place", json!({"name": name, "text": text}))
            .unwrap();
    }
    let q = "north zebra";
    let name = |h: &remdb::vector::SearchHit| h.row["name"].as_str().unwrap().to_string();
    let hybrid = SearchOptions {
        top_k: 4,
        mode: SearchMode::Hybrid,
        ..SearchOptions::default()
    };
    let hits = t.search("place", q, &hybrid).unwrap();
    let vector = t
        .search(
            "place",
            q,
            &SearchOptions {
                top_k: 4,
                ..SearchOptions::default()
            },
        )
        .unwrap();
    let kw = t.search("place", q, &keyword(4)).unwrap();
    // Reciprocal-rank fusion recomputed from the two rankings.
    let rank = |hits: &[remdb::vector::SearchHit], n: &str| {
        hits.iter().position(|h| name(h) == n).map(|r| r + 1)
    };
    for h in &hits {
        let n = name(h);
        let want: f64 = [rank(&vector, &n), rank(&kw, &n)]
            .into_iter()
            .flatten()
            .map(|r| 1.0 / (60.0 + r as f64))
            .sum();
        assert!(
            (f64::from(h.score) - want).abs() < 1e-6,
            "{n}: {} vs {want}",
            h.score
        );
        let parts = h.parts.unwrap();
        assert_eq!(parts.vector_rank, rank(&vector, &n));
        assert_eq!(parts.keyword_rank, rank(&kw, &n));
    }
    assert_eq!(name(&hits[0]), "both", "the row good on both sides wins");
    // Weighted: alpha 1 is the vector order, alpha 0 the keyword order (among rows scored).
    let weighted = |a: f32| {
        t.search(
            "place",
            q,
            &SearchOptions {
                alpha: Some(a),
                ..hybrid.clone()
            },
        )
        .unwrap()
    };
    assert_eq!(name(&weighted(1.0)[0]), name(&vector[0]));
    assert_eq!(name(&weighted(0.0)[0]), name(&kw[0]));
    assert_eq!(
        t.search(
            "place",
            q,
            &SearchOptions {
                alpha: Some(1.5),
                ..hybrid.clone()
            }
        )
        .unwrap_err()
        .code(),
        "INVALID_ARGUMENT"
    );
    let json: serde_json::Value =
        serde_json::from_str(&t.search_json("place", q, &hybrid).unwrap()).unwrap();
    assert_eq!(json[0]["name"], "both");
    assert!(
        json[0]["_keyword_score"].as_f64().is_some() && json[0]["_vector_score"].as_f64().is_some()
    );
}
