//! No input grows memory without bound or writes half a document: oversized documents, too
//! many chunks, too-deep JSON and bad options are typed errors and write nothing.

use remdb::ingest::{Document, IngestOptions};

use crate::{both, tenant};

both! {
    fn a_document_over_the_size_limit_is_rejected_and_writes_nothing() {
        let t = tenant();
        let seq = t.wal().seq().unwrap();
        let options = IngestOptions { max_bytes: 16, ..IngestOptions::default() };
        let report = t.ingest(Document::new("big.txt", "x".repeat(17)), &options).unwrap();
        assert_eq!(report.rejected.len(), 1);
        assert_eq!(report.rejected[0].code, "LIMIT");
        assert!(report.rejected[0].message.contains("16 bytes"), "{report:?}");
        assert_eq!(t.wal().seq().unwrap(), seq);
    }

    fn a_document_cut_into_too_many_chunks_is_rejected() {
        let t = tenant();
        let seq = t.wal().seq().unwrap();
        let options = IngestOptions { chunk_tokens: 1, overlap: 0, ..IngestOptions::default() };
        let text = "abcd ".repeat(remdb::ingest::MAX_CHUNKS + 1);
        let report = t.ingest(Document::new("many.txt", text), &options).unwrap();
        assert_eq!(report.rejected[0].code, "LIMIT", "{report:?}");
        assert!(report.rejected[0].message.contains("chunks"));
        assert_eq!(t.wal().seq().unwrap(), seq);
    }

    fn too_deep_json_is_rejected() {
        let t = tenant();
        t.register_schema(serde_json::json!({"title": "Doc", "type": "object"})).unwrap();
        let seq = t.wal().seq().unwrap();
        let deep = format!("{}1{}", "{\"a\":".repeat(300), "}".repeat(300));
        let options = IngestOptions { table: Some("doc".into()), ..IngestOptions::default() };
        let report = t.ingest(Document::new("deep.json", deep), &options).unwrap();
        assert_eq!(report.rejected.len(), 1, "{report:?}");
        assert_eq!(t.wal().seq().unwrap(), seq);
        // Under serde's limit but over the store's row depth: a typed refusal too.
        let nested = format!("{}1{}", "{\"a\":".repeat(110), "}".repeat(110));
        let report = t.ingest(Document::new("nested.json", nested), &options).unwrap();
        assert_eq!(report.rejected.len(), 1, "{report:?}");
        assert_eq!(t.wal().seq().unwrap(), seq);
    }

    fn bad_options_are_invalid_arguments() {
        let t = tenant();
        for (chunk_tokens, overlap) in [(0, 0), (10, 10), (10, 20), (1_000_000, 0)] {
            let options = IngestOptions { chunk_tokens, overlap, ..IngestOptions::default() };
            let err = t.ingest(Document::new("a.txt", "text"), &options).unwrap_err();
            assert_eq!(err.code(), "INVALID_ARGUMENT", "{chunk_tokens}/{overlap}: {err}");
        }
        let err = t.ingest(Document::new("a.txt", "text"), &IngestOptions { table: Some("nope".into()), ..IngestOptions::default() }).unwrap_err();
        assert_eq!(err.code(), "UNKNOWN_TABLE");
        // A table with a key field cannot hold chunks (their identity is uri + ordinal).
        let report = t.ingest(Document::new("a.txt", "text"), &IngestOptions { table: Some("agents".into()), ..IngestOptions::default() }).unwrap();
        assert_eq!(report.rejected[0].code, "INVALID_ARGUMENT");
        assert!(report.rejected[0].message.contains("key field"), "{report:?}");
    }

    fn hostile_markup_and_pdfs_never_panic() {
        let t = tenant();
        let mut run = t.ingest_run(&IngestOptions::default()).unwrap();
        let inputs: Vec<(&str, Vec<u8>)> = vec![
            ("a.html", b"<<<<>>>><!--<script><nav><nav></nav>&#xFFFFFF;&".to_vec()),
            ("b.html", "<div>".repeat(5000).into_bytes()),
            ("c.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF".to_vec()),
            ("d.pdf", b"%PDF-".to_vec()),
            ("e.md", "---\n".repeat(1000).into_bytes()),
            ("f.md", "#".repeat(10_000).into_bytes()),
            ("g.csv", b"a,b\n\"unterminated".to_vec()),
        ];
        for (uri, bytes) in inputs {
            run.add(Document::new(uri, bytes)).unwrap();
        }
        let report = run.finish().unwrap();
        assert_eq!(report.documents, 7);
    }
}
