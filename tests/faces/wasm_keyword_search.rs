//! Keyword (BM25) search through the JS face on wasm32: `search(table, text, {mode: 'keyword'})`
//! finds rows by their words with no embedder, with `_score`, on both in-memory backends; bad
//! modes and queries are typed errors; SQL `MATCH` works there too.
#![cfg(target_arch = "wasm32")]

use serde_json::json;
use wasm_bindgen::JsValue;

use crate::wasm_harness::{code_of, js, rs};

fn note_schema() -> JsValue {
    js(json!({
        "title": "Note", "type": "object",
        "properties": {"title": {"type": "string"}, "body": {"type": "string"}},
        "json_schema_extra": {"key_field": "title", "fulltext_fields": ["title", "body"]}
    }))
}

on_both_backends! {
    fn keyword_search_ranks_by_bm25_without_an_embedder(db) {
        db.register_schema(note_schema()).unwrap();
        db.insert_many("note", js(json!([
            {"title": "disk", "body": "error E1234: the disk is full, the disk"},
            {"title": "net", "body": "connection reset by peer"},
            {"title": "misc", "body": "the disk light blinks"}
        ]))).unwrap();
        let hits = rs(db.search("note", "disk".into(), js(json!({"mode": "keyword"}))).unwrap());
        let titles: Vec<&str> = hits.as_array().unwrap().iter().map(|h| h["title"].as_str().unwrap()).collect();
        assert_eq!(titles, ["disk", "misc"]);
        assert!(hits[0]["_score"].as_f64().unwrap() > hits[1]["_score"].as_f64().unwrap());
        let phrase = rs(db.search("note", "\"connection reset\" -blinks".into(), js(json!({"mode": "keyword", "topK": 1}))).unwrap());
        assert_eq!(phrase[0]["title"], "net");
        // `where` filters keyword search as it does vector search.
        let filtered = rs(db.search("note", "disk".into(), js(json!({"mode": "keyword", "where": {"title": "misc"}}))).unwrap());
        assert_eq!(filtered.as_array().unwrap().len(), 1);
        assert_eq!(code_of(db.search("note", "disk".into(), js(json!({"mode": "fuzzy"})))), "INVALID_ARGUMENT");
        assert_eq!(code_of(db.search("note", "*".into(), js(json!({"mode": "keyword"})))), "INVALID_ARGUMENT");
        let rows = rs(db.sql("SELECT title FROM note WHERE body MATCH 'disk' ORDER BY title", JsValue::UNDEFINED, JsValue::UNDEFINED).unwrap());
        assert_eq!(rows, json!([{"title": "disk"}, {"title": "misc"}]));
    }
}
