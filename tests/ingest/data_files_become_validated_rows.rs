//! CSV, JSON and JSON Lines files become rows of the named table, validated like any insert,
//! one atomic batch per file: one bad row rejects that file (naming the row) and writes nothing
//! of it, while the run's other files are written.

use remdb::ingest::{Document, IngestOptions};
use serde_json::json;

use crate::{both, tenant};

const CSV: &str = include_str!("../fixtures/ingest/data/products.csv");
const JSON: &str = include_str!("../fixtures/ingest/data/products.json");
const JSONL: &str = include_str!("../fixtures/ingest/data/products.jsonl");

fn products() -> remdb::Tenant {
    let t = tenant();
    t.register_schema(json!({
        "title": "Product", "type": "object",
        "properties": {
            "sku": {"type": "string"},
            "name": {"type": "string"},
            "price": {"type": "integer", "minimum": 0}
        },
        "required": ["sku", "name"],
        "json_schema_extra": {"key_field": "sku"}
    }))
    .unwrap();
    t
}

fn into_products() -> IngestOptions {
    IngestOptions {
        table: Some("product".into()),
        ..IngestOptions::default()
    }
}

both! {
    fn csv_json_and_jsonl_records_become_rows() {
        let t = products();
        let mut run = t.ingest_run(&into_products()).unwrap();
        run.add(Document::new("products.csv", CSV)).unwrap();
        run.add(Document::new("products.json", JSON)).unwrap();
        run.add(Document::new("products.jsonl", JSONL)).unwrap();
        let report = run.finish().unwrap();
        assert!(report.rejected.is_empty(), "{report:?}");
        assert_eq!((report.ingested, report.chunks, report.written), (3, 6, 6));
        assert_eq!(t.count("product", false).unwrap(), 6);
        let kettle = t.sql("SELECT name, price FROM product WHERE sku = 'B2'", &[]).unwrap();
        assert_eq!(kettle.rows, [[json!("kettle, large"), json!(30)]], "CSV cells typed by the schema");
        // Rows keyed by `sku` upsert: the same files again write nothing.
        let seq = t.wal().seq().unwrap();
        let again = t.ingest(Document::new("products.csv", CSV), &into_products()).unwrap();
        assert_eq!((again.written, again.unchanged), (0, 1));
        assert_eq!(t.wal().seq().unwrap(), seq);
    }

    fn one_bad_row_rejects_its_file_and_names_the_row() {
        let t = products();
        let mut run = t.ingest_run(&into_products()).unwrap();
        run.add(Document::new("bad.csv", "sku,name,price\nA1,teapot,12\nB2,kettle,-5\nC3,cup,1\n")).unwrap();
        run.add(Document::new("bad.jsonl", "{\"sku\":\"D\",\"name\":\"d\"}\n{\"sku\":\"E\"}\n")).unwrap();
        run.add(Document::new("broken.json", "[{\"sku\": \"F\", \"name\": \"f\"}, 3]")).unwrap();
        run.add(Document::new("good.json", JSON)).unwrap();
        let report = run.finish().unwrap();
        let rejected: Vec<(&str, &str)> = report.rejected.iter().map(|r| (r.uri.as_str(), r.code.as_str())).collect();
        assert_eq!(rejected, [("bad.csv", "VALIDATION"), ("bad.jsonl", "VALIDATION"), ("broken.json", "INVALID_ARGUMENT")]);
        assert!(report.rejected[0].message.contains("row 2 (line 3)"), "{}", report.rejected[0].message);
        assert!(report.rejected[0].message.contains("/1/price"), "{}", report.rejected[0].message);
        assert!(report.rejected[1].message.contains("row 2 (line 2)"), "{}", report.rejected[1].message);
        assert!(report.rejected[2].message.contains("row 2"), "{}", report.rejected[2].message);
        let skus = t.sql("SELECT sku FROM product ORDER BY sku", &[]).unwrap();
        assert_eq!(skus.rows, [[json!("C3")], [json!("D4")]], "only good.json was written");
    }

    fn data_files_without_a_table_are_skipped() {
        let t = tenant();
        let report = t.ingest(Document::new("products.csv", CSV), &IngestOptions::default()).unwrap();
        assert_eq!(report.skipped.len(), 1);
        assert!(report.skipped[0].reason.contains("--table"), "{report:?}");
        assert_eq!(t.count("resources", true).unwrap(), 0);
    }
}
