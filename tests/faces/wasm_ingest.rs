//! Document ingestion through the JS face on wasm32: `ingest(uri, text | bytes, options)`
//! chunks Markdown and a PDF into `resources`, keyword search finds them, an unchanged document
//! writes nothing, CSV rows go to the named table, and bad arguments are typed errors; on both
//! in-memory backends.
#![cfg(target_arch = "wasm32")]

use serde_json::json;
use wasm_bindgen::JsValue;

use crate::wasm_harness::{code_of, js, rs};

#[path = "../ingest/fixture.rs"]
mod fixture;

on_both_backends! {
    fn ingested_text_and_pdf_are_found_by_keyword_search(db) {
        let md = "# Tides\n\n## Spring tides\n\nThe moonwhistle effect raises spring tides.";
        let report = rs(db.ingest("notes/tides.md".into(), Some(md.into()), None, JsValue::UNDEFINED).unwrap());
        assert_eq!((report["chunks"].clone(), report["written"].clone(), report["unchanged"].clone()), (json!(1), json!(1), json!(0)));
        let pdf = fixture::pdf(&fixture::REPORT_PAGES, "Station Report");
        let report = rs(db.ingest("report.pdf".into(), None, Some(pdf.clone()), js(json!({"mimeType": "application/pdf"}))).unwrap());
        assert_eq!(report["chunks"], 2, "{report}");
        let hits = rs(db.search("resources", "moonwhistle".into(), js(json!({"mode": "keyword"}))).unwrap());
        assert_eq!(hits[0]["uri"], "notes/tides.md");
        assert_eq!(hits[0]["name"], "Tides › Spring tides");
        let hits = rs(db.search("resources", "basilisk".into(), js(json!({"mode": "keyword"}))).unwrap());
        assert_eq!(hits[0]["uri"], "report.pdf");
        assert_eq!(hits[0]["metadata"]["page"], 2);
        // The same bytes again: nothing written, the WAL where it was.
        let seq = db.wal_seq().unwrap();
        let again = rs(db.ingest("report.pdf".into(), None, Some(pdf), JsValue::UNDEFINED).unwrap());
        assert_eq!((again["written"].clone(), again["unchanged"].clone()), (json!(0), json!(1)));
        assert_eq!(db.wal_seq().unwrap(), seq);
    }

    fn csv_rows_go_to_the_named_table_and_bad_rows_are_named(db) {
        db.register_schema(js(json!({
            "title": "Item", "type": "object",
            "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 0}},
            "json_schema_extra": {"key_field": "sku"}
        }))).unwrap();
        let options = js(json!({"table": "item"}));
        let report = rs(db.ingest("items.csv".into(), Some("sku,qty\na,1\nb,2\n".into()), None, options.clone()).unwrap());
        assert_eq!(report["written"], 2);
        let report = rs(db.ingest("bad.csv".into(), Some("sku,qty\nc,3\nd,-1\n".into()), None, options).unwrap());
        assert_eq!(report["rejected"][0]["code"], "VALIDATION");
        assert!(report["rejected"][0]["message"].as_str().unwrap().contains("row 2 (line 3)"), "{report}");
        assert_eq!(db.count("item", None).unwrap(), 2.0);
    }

    fn bad_ingest_arguments_are_typed_errors(db) {
        assert_eq!(code_of(db.ingest("a.md".into(), None, None, JsValue::UNDEFINED)), "INVALID_ARGUMENT");
        assert_eq!(code_of(db.ingest("a.md".into(), Some("x".into()), Some(vec![1]), JsValue::UNDEFINED)), "INVALID_ARGUMENT");
        assert_eq!(code_of(db.ingest("a.md".into(), Some("x".into()), None, js(json!({"chunk": 3})))), "INVALID_ARGUMENT");
        assert_eq!(code_of(db.ingest("a.md".into(), Some("x".into()), None, js(json!({"overlap": 500})))), "INVALID_ARGUMENT");
        assert_eq!(code_of(db.ingest("a.md".into(), Some("x".into()), None, js(json!({"table": "missing"})))), "UNKNOWN_TABLE");
    }
}
