//! Full-text search in SQL: `field MATCH 'terms'` (and `fulltext MATCH` for every full-text
//! field) as the access path, `bm25(field, 'terms')` as a score equal to the API's, filters
//! pushed into the search, counts over every match, `SEARCH ... MODE keyword|hybrid`, hybrid
//! with `embedding.cosine(...)` fused by reciprocal rank, EXPLAIN, and errors.

use std::sync::Arc;

use remdb::embed::Embedder;
use remdb::vector::{SearchMode, SearchOptions};
use remdb::{Database, OpenOptions, Tenant};
use serde_json::{json, Value};

use crate::common::memory_db;

fn setup() -> Tenant {
    let t = memory_db().tenant("t").unwrap();
    t.register_schema(json!({
        "title": "Doc", "type": "object",
        "properties": {"key": {"type": "string"}, "title": {"type": "string"}, "body": {"type": "string"}, "n": {"type": "integer"}},
        "json_schema_extra": {"key_field": "key", "fulltext_fields": ["title", "body"], "fulltext_stemmer": "english"}
    }))
    .unwrap();
    let rows: Vec<Value> = (0..40)
        .map(|i| {
            let body = match i % 4 {
                0 => "the quick brown fox jumps",
                1 => "a fox and another fox and a third fox",
                2 => "lazy dogs sleeping all day",
                _ => "nothing to see here",
            };
            json!({"key": format!("k{i:02}"), "title": format!("doc {i}"), "body": body, "n": i})
        })
        .collect();
    t.insert_many("doc", rows).unwrap();
    t
}

fn keyword(k: usize, field: Option<&str>) -> SearchOptions {
    SearchOptions {
        top_k: k,
        mode: SearchMode::Keyword,
        field: field.map(String::from),
        ..SearchOptions::default()
    }
}

fn rows(t: &Tenant, q: &str) -> Vec<Vec<Value>> {
    t.sql(q, &[]).unwrap_or_else(|e| panic!("{q}: {e}")).rows
}

#[test]
fn match_and_bm25_rank_as_the_keyword_search_does() {
    let t = setup();
    let api = t.search("doc", "foxes", &keyword(5, Some("body"))).unwrap();
    let got = rows(
        &t,
        "SELECT key, bm25(body, 'foxes') AS s FROM doc WHERE body MATCH 'foxes' ORDER BY s DESC, key LIMIT 5",
    );
    assert_eq!(got.len(), 5);
    for (row, hit) in got.iter().zip(&api) {
        let s = row[1].as_f64().unwrap();
        assert!(
            (s - f64::from(hit.score)).abs() < 1e-4,
            "{row:?} vs {}",
            hit.score
        );
    }
    assert!(
        got.iter().all(|r| {
            let n: usize = r[0].as_str().unwrap()[1..].parse().unwrap();
            n % 4 == 1
        }),
        "the three-fox rows rank first: {got:?}"
    );
    // `_score` is the BM25 score too in a full-text search.
    let scored = rows(
        &t,
        "SELECT _score, bm25(body, 'foxes') FROM doc WHERE body MATCH 'foxes' LIMIT 3",
    );
    assert!(scored.iter().all(|r| r[0] == r[1]));
    // `fulltext` searches every full-text field: `doc 7` is in a title.
    let both = rows(&t, "SELECT key FROM doc WHERE fulltext MATCH '\"doc 7\"'");
    assert_eq!(both, vec![vec![json!("k07")]]);
}

#[test]
fn a_match_alone_finds_every_row_and_filters_are_pushed_down() {
    let t = setup();
    // Twenty rows mention a fox: a full-text search alone is a filter, not a top 10.
    assert_eq!(
        rows(&t, "SELECT count(*) FROM doc WHERE body MATCH 'fox'"),
        vec![vec![json!(20)]]
    );
    assert_eq!(
        rows(&t, "SELECT key FROM doc WHERE body MATCH 'fox'").len(),
        20
    );
    // Other conditions narrow the search before its top-k.
    let got = rows(
        &t,
        "SELECT n FROM doc WHERE body MATCH 'fox' AND n >= 30 LIMIT 3",
    );
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|r| r[0].as_i64().unwrap() >= 30));
    let got = rows(
        &t,
        "SELECT n FROM doc WHERE body MATCH 'fox -quick' AND n < 10",
    );
    let mut ns: Vec<i64> = got.iter().map(|r| r[0].as_i64().unwrap()).collect();
    ns.sort();
    assert_eq!(ns, [1, 5, 9]);
    // Soft-deleted rows never match.
    let id = t.lookup(&["k01"]).unwrap()[0].1["id"]
        .as_str()
        .unwrap()
        .to_string();
    t.delete(&id).unwrap();
    assert_eq!(
        rows(&t, "SELECT count(*) FROM doc WHERE body MATCH 'fox'"),
        vec![vec![json!(19)]]
    );
}

#[test]
fn search_mode_keyword_and_explain() {
    let t = setup();
    let got = rows(&t, "SEARCH 'lazy dog' IN doc MODE keyword LIMIT 4");
    assert_eq!(got.len(), 4);
    let plan = rows(
        &t,
        "EXPLAIN SEARCH 'lazy dog' IN doc MODE keyword WHERE n > 3 LIMIT 4",
    );
    let text = plan
        .iter()
        .map(|r| r[0].as_str().unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        text.contains("Full-text search doc top 4 by BM25 of fulltext MATCH 'lazy dog'"),
        "{text}"
    );
    assert!(
        text.contains("filtered by the rows matching the conditions"),
        "{text}"
    );
    let plan = rows(&t, "EXPLAIN SELECT key FROM doc WHERE body MATCH 'fox'");
    assert_eq!(
        plan[1][0],
        "  Full-text search doc top 10000 by BM25 of body MATCH 'fox' (postings of the query terms)",
        "a search alone reads no other rows"
    );
}

#[test]
fn full_text_errors_are_typed() {
    let t = setup();
    let code = |q: &str| t.sql(q, &[]).unwrap_err().code();
    assert_eq!(
        code("SELECT key FROM doc WHERE n MATCH 'x'"),
        "UNKNOWN_COLUMN"
    );
    assert_eq!(
        code("SELECT key FROM doc WHERE body MATCH 'x' AND title MATCH 'y'"),
        "SQL_UNSUPPORTED"
    );
    assert_eq!(code("SELECT body MATCH 'x' FROM doc"), "SQL_UNSUPPORTED");
    assert_eq!(code("SELECT key FROM doc WHERE body MATCH 5"), "SQL_SYNTAX");
    assert_eq!(
        code("SELECT key FROM doc WHERE body MATCH $1"),
        "INVALID_ARGUMENT",
        "a parameter must be bound"
    );
    assert_eq!(
        code("SELECT key FROM doc WHERE body MATCH '\"open'"),
        "INVALID_ARGUMENT"
    );
    assert_eq!(
        code("SELECT key FROM doc WHERE body MATCH '*'"),
        "INVALID_ARGUMENT"
    );
    let r = t
        .sql("SELECT key FROM doc WHERE body MATCH $1", &[json!("fox")])
        .unwrap();
    assert_eq!(r.rows.len(), 20);
    // The statement's budget counts the postings a full-text search reads.
    let budget = remdb::Budget {
        max_rows_examined: Some(15),
        ..remdb::Budget::default()
    };
    let err = t
        .sql_with("SELECT key FROM doc WHERE body MATCH 'fox'", &[], &budget)
        .unwrap_err();
    assert_eq!(err.code(), "LIMIT", "20 postings of `fox` > 15 rows");
    let small = remdb::Budget {
        max_rows_examined: Some(25),
        ..remdb::Budget::default()
    };
    assert_eq!(
        t.sql_with("SELECT key FROM doc WHERE body MATCH 'quick'", &[], &small)
            .unwrap()
            .rows
            .len(),
        10
    );
    t.register_schema(
        json!({"title": "Plain", "type": "object", "properties": {"a": {"type": "string"}}}),
    )
    .unwrap();
    assert_eq!(
        code("SELECT a FROM plain WHERE fulltext MATCH 'x'"),
        "SQL_UNSUPPORTED"
    );
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
            .map(|t| vec![1.0, t.matches("north").count() as f32])
            .collect())
    }
}

#[test]
fn hybrid_sql_fuses_a_similarity_search_and_a_match() {
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
        "json_schema_extra": {"key_field": "name", "embedding_fields": ["text"], "fulltext_fields": ["text"]}
    })).unwrap();
    for (name, text) in [
        ("both", "north north zebra"),
        ("vec", "north north north"),
        ("kw", "zebra zebra zebra"),
        ("none", "east"),
    ] {
        t.insert("place", json!({"name": name, "text": text}))
            .unwrap();
    }
    let got = rows(
        &t,
        "SELECT name, _score, bm25(text, 'zebra') FROM place WHERE embedding.cosine('north zebra') AND text MATCH 'zebra' LIMIT 4",
    );
    // The same text on both sides: the SQL hybrid ranks as the API's.
    let api = t
        .search(
            "place",
            "north zebra",
            &SearchOptions {
                top_k: 4,
                mode: SearchMode::Hybrid,
                ..SearchOptions::default()
            },
        )
        .unwrap();
    let same = rows(
        &t,
        "SELECT name, _score FROM place WHERE embedding.cosine('north zebra') AND fulltext MATCH 'north zebra' LIMIT 4",
    );
    let api_view: Vec<(Value, f32)> = api
        .iter()
        .map(|h| (h.row["name"].clone(), h.score))
        .collect();
    let sql_view: Vec<(Value, f32)> = same
        .iter()
        .map(|r| (r[0].clone(), r[1].as_f64().unwrap() as f32))
        .collect();
    assert_eq!(api_view, sql_view);
    assert_eq!(got[0][0], "both");
    // RRF: `both` is first by vector and second by BM25 (`kw` says zebra three times).
    assert!(
        (got[0][1].as_f64().unwrap() - (1.0 / 61.0 + 1.0 / 62.0)).abs() < 1e-6,
        "{got:?}"
    );
    // bm25() reads the keyword side: null for rows only the vector side found.
    let vec_row = got.iter().find(|r| r[0] == "vec").unwrap();
    assert_eq!(vec_row[2], Value::Null);
    let kw_row = got.iter().find(|r| r[0] == "kw").unwrap();
    assert!(kw_row[2].as_f64().unwrap() > 0.0);
    let hybrid = rows(&t, "SEARCH 'north zebra' IN place MODE hybrid LIMIT 2");
    assert_eq!(hybrid.len(), 2);
    let plan = rows(&t, "EXPLAIN SEARCH 'north zebra' IN place MODE hybrid");
    assert!(
        plan[2][0]
            .as_str()
            .unwrap()
            .contains("Hybrid search place top 10: reciprocal-rank fusion"),
        "{plan:?}"
    );
    let err = t
        .sql(
            "SELECT cosine_similarity(text, 'north') FROM place WHERE text MATCH 'zebra'",
            &[],
        )
        .unwrap_err();
    assert_eq!(err.code(), "SQL_UNSUPPORTED");
    // Keyword search in SQL needs no embedder even on a table that embeds.
    assert_eq!(
        rows(&t, "SELECT name FROM place WHERE text MATCH 'zebra'").len(),
        2
    );
}
