//! Ingesting again writes only what changed: an unchanged document writes nothing (the WAL stays
//! where it was), a changed one rewrites its own chunks only, a shrunk one soft-deletes its
//! surplus ordinals, `prune` soft-deletes documents gone from their root, and every run that
//! changed something is recorded in `moments`.

use std::collections::HashSet;

use remdb::ingest::{Document, IngestOptions};
use remdb::Tenant;
use serde_json::{json, Value};

use crate::{both, rows, tenant};

fn small() -> IngestOptions {
    IngestOptions {
        chunk_tokens: 10,
        overlap: 0,
        ..IngestOptions::default()
    }
}

/// A document of `n` paragraphs of about 30 characters: `n` chunks at 40 characters.
fn paragraphs(tag: &str, n: usize) -> String {
    (0..n)
        .map(|i| format!("{tag} paragraph number {i:03} here."))
        .collect::<Vec<_>>()
        .join("\n\n")
}

fn doc(uri: &str, text: &str, root: &str) -> Document {
    Document {
        root: Some(root.into()),
        ..Document::new(uri, text)
    }
}

fn ingest(t: &Tenant, docs: &[Document]) -> remdb::ingest::IngestReport {
    let mut run = t.ingest_run(&small()).unwrap();
    for d in docs {
        run.add(d.clone()).unwrap();
    }
    run.finish().unwrap()
}

fn live_uris(t: &Tenant) -> Vec<(String, u64)> {
    rows(t, "resources")
        .iter()
        .map(|r| {
            (
                r["uri"].as_str().unwrap().to_string(),
                r["ordinal"].as_u64().unwrap(),
            )
        })
        .collect()
}

both! {
    fn an_unchanged_document_writes_nothing_not_even_a_wal_entry() {
        let t = tenant();
        let docs = [doc("a.md", &paragraphs("alpha", 3), "r"), doc("b.txt", &paragraphs("beta", 2), "r")];
        let first = ingest(&t, &docs);
        assert_eq!((first.ingested, first.chunks, first.written, first.unchanged), (2, 5, 5, 0));
        assert!(first.moment.is_some());
        let seq = t.wal().seq().unwrap();
        let again = ingest(&t, &docs);
        assert_eq!((again.ingested, again.chunks, again.written, again.unchanged, again.deleted), (0, 5, 0, 2, 0));
        assert_eq!(again.moment, None, "a run that changed nothing records no moment");
        assert_eq!(t.wal().seq().unwrap(), seq);
        // Other chunking options re-cut the document.
        let wider = IngestOptions { chunk_tokens: 30, overlap: 0, ..IngestOptions::default() };
        let rechunked = t.ingest(docs[0].clone(), &wider).unwrap();
        assert_eq!(rechunked.unchanged, 0);
        assert!(t.wal().seq().unwrap() > seq);
    }

    fn a_changed_document_rewrites_only_its_own_chunks() {
        let t = tenant();
        ingest(&t, &[doc("a.md", &paragraphs("alpha", 3), "r"), doc("b.md", &paragraphs("beta", 3), "r")]);
        let before: Vec<Value> = rows(&t, "resources");
        let seq = t.wal().seq().unwrap();
        let report = ingest(&t, &[doc("a.md", &paragraphs("gamma", 3), "r"), doc("b.md", &paragraphs("beta", 3), "r")]);
        assert_eq!((report.ingested, report.written, report.unchanged), (1, 3, 1));
        let entries = t.wal().entries(seq, 1000).unwrap();
        let mut tables_and_uris: Vec<(String, Option<String>)> = entries
            .iter()
            .map(|e| (e.table.clone(), e.data.as_ref().and_then(|d| d.get("uri")).and_then(Value::as_str).map(str::to_string)))
            .collect();
        tables_and_uris.dedup();
        assert_eq!(
            tables_and_uris,
            [("resources".to_string(), Some("a.md".to_string())), ("moments".to_string(), None)]
        );
        let after = rows(&t, "resources");
        for (old, new) in before.iter().zip(&after) {
            assert_eq!(old["id"], new["id"], "same uri and ordinal, same row");
            if new["uri"] == "b.md" {
                assert_eq!(old, new, "b.md is untouched");
            } else {
                assert!(new["content"].as_str().unwrap().starts_with("gamma"));
            }
        }
    }

    fn a_shrunk_document_soft_deletes_its_surplus_ordinals() {
        let t = tenant();
        t.ingest(doc("a.md", &paragraphs("alpha", 5), "r"), &small()).unwrap();
        let report = t.ingest(doc("a.md", &paragraphs("alpha", 2), "r"), &small()).unwrap();
        assert_eq!((report.written, report.deleted), (2, 3));
        assert_eq!(live_uris(&t), [("a.md".to_string(), 0), ("a.md".to_string(), 1)]);
        assert_eq!(t.count("resources", true).unwrap(), 5, "soft-deleted, not purged");
        // Growing again brings the ordinals back.
        t.ingest(doc("a.md", &paragraphs("alpha", 4), "r"), &small()).unwrap();
        assert_eq!(live_uris(&t).len(), 4);
        // A document that lost all its text loses all its chunks.
        let emptied = t.ingest(doc("a.md", "", "r"), &small()).unwrap();
        assert_eq!(emptied.deleted, 4, "{emptied:?}");
        assert!(live_uris(&t).is_empty());
    }

    fn prune_soft_deletes_the_documents_gone_from_their_root() {
        let t = tenant();
        ingest(&t, &[doc("x.md", "x text", "r"), doc("y.md", "y text", "r"), doc("z.md", &paragraphs("zeta", 2), "r"), doc("other.md", "o", "s")]);
        let mut run = t.ingest_run(&small()).unwrap();
        run.add(doc("x.md", "x text", "r")).unwrap();
        run.add(doc("y.md", "y text", "r")).unwrap();
        let keep: HashSet<String> = ["x.md", "y.md"].map(String::from).into();
        assert_eq!(run.prune("r", &keep).unwrap(), 2);
        let report = run.finish().unwrap();
        assert_eq!((report.unchanged, report.deleted), (2, 2));
        let uris: HashSet<String> = live_uris(&t).into_iter().map(|(u, _)| u).collect();
        assert_eq!(uris, ["x.md", "y.md", "other.md"].map(String::from).into(), "another root is not pruned");
    }

    fn each_run_that_changed_something_is_a_moment() {
        let t = tenant();
        let report = ingest(&t, &[doc("a.md", "alpha", "r"), Document::new("b.bin", vec![0u8, 1, 2])]);
        let id = report.moment.unwrap();
        let moment = t.get(&id).unwrap().unwrap();
        assert_eq!(moment["moment_type"], "ingest");
        assert_eq!(moment["name"], "ingest");
        let meta = &moment["metadata"];
        assert_eq!(
            (&meta["documents"], &meta["ingested"], &meta["written"], &meta["skipped"], &meta["roots"]),
            (&json!(2), &json!(1), &json!(1), &json!(1), &json!(["r"]))
        );
        assert!(moment["starts_at"].as_str().unwrap() <= moment["ends_at"].as_str().unwrap());
    }

    fn a_dry_run_counts_and_writes_nothing() {
        let t = tenant();
        let seq = t.wal().seq().unwrap();
        let options = IngestOptions { dry_run: true, ..small() };
        let report = t.ingest(doc("a.md", &paragraphs("alpha", 3), "r"), &options).unwrap();
        assert!(report.dry_run);
        assert_eq!((report.ingested, report.written, report.moment.as_deref()), (1, 3, None));
        assert_eq!(t.wal().seq().unwrap(), seq);
    }
}
