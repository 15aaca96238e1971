//! Inline embedding runs with the writer lock released: an embedder that waits for another
//! writer to commit (as a slow HTTP provider would hold up everyone) does not deadlock the
//! database, and the row it embeds still commits with the vector of its text.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use remdb::embed::Embedder;
use remdb::vector::{IndexName, SearchOptions, SearchQuery};
use remdb::{Database, OpenOptions};
use serde_json::json;

/// Each call writes a row of table `log` from another thread and waits (bounded) for that write
/// to commit before answering: under the writer lock it would time out.
struct WritingEmbedder {
    db: Mutex<Option<Database>>,
    calls: Mutex<Vec<String>>,
}

impl Embedder for WritingEmbedder {
    fn name(&self) -> &str {
        "writing"
    }

    fn dimensions(&self) -> usize {
        2
    }

    fn embed(&self, texts: &[&str]) -> remdb::Result<Vec<Vec<f32>>> {
        let db = self.db.lock().unwrap().clone().expect("database set");
        let n = {
            let mut calls = self.calls.lock().unwrap();
            calls.extend(texts.iter().map(|t| t.to_string()));
            calls.len()
        };
        let (done, wait) = mpsc::channel();
        thread::spawn(move || {
            let t = db.tenant("default").unwrap();
            let _ = done.send(t.insert("log", json!({"n": n})).map(|_| ()));
        });
        match wait.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(remdb::Error::Embedding(
                    "another writer could not commit while this embedder ran".into(),
                ))
            }
        }
        Ok(texts
            .iter()
            .map(|t| {
                if t.contains("north") {
                    vec![0.0, 1.0]
                } else {
                    vec![1.0, 0.0]
                }
            })
            .collect())
    }
}

#[test]
fn an_embedder_that_waits_for_another_writer_does_not_deadlock() {
    let options = OpenOptions {
        default_embedding: Some("local:unused".into()),
        ..OpenOptions::default()
    };
    let db = Database::with_kv_options(Arc::new(remdb::kv::MemoryKv::new()), &options).unwrap();
    let embedder = Arc::new(WritingEmbedder {
        db: Mutex::new(Some(db.clone())),
        calls: Mutex::new(Vec::new()),
    });
    db.embedders().register("custom:writing", embedder.clone());
    let t = db.tenant("default").unwrap();
    t.register_schema(
        json!({"title": "Log", "type": "object", "properties": {"n": {"type": "integer"}}}),
    )
    .unwrap();
    t.register_schema(json!({
        "title": "Place", "type": "object",
        "properties": {"name": {"type": "string"}, "text": {"type": "string"}},
        "json_schema_extra": {"key_field": "name", "embedding_fields": ["text"], "embedding_provider": "custom:writing"}
    }))
    .unwrap();

    let id = t
        .insert("place", json!({"name": "a", "text": "go north"}))
        .unwrap();
    t.insert_many("place", vec![json!({"name": "b", "text": "go east"})])
        .unwrap();
    t.update(&id.to_string(), json!({"text": "still north"}))
        .unwrap();

    // Every embedder call let another writer commit, and every row has its vector.
    let calls = embedder.calls.lock().unwrap().clone();
    assert_eq!(calls, ["go north", "go east", "still north"]);
    assert_eq!(t.count("log", false).unwrap(), 3);
    assert_eq!(t.embeddings().queued().unwrap(), (0, 0));
    let index = IndexName::new("place", "text", "custom:writing").unwrap();
    let (_, stored) = t
        .vectors()
        .stored(&index, &id)
        .unwrap()
        .expect("vector stored");
    assert_eq!(stored, vec![0.0, 1.0]);
    let hits = t
        .search(
            "place",
            SearchQuery::Vector(vec![0.0, 1.0]),
            &SearchOptions::default(),
        )
        .unwrap();
    assert_eq!(hits[0].id, id);
    // Embedding happens once per text: the committing round takes the vectors computed before.
    *embedder.db.lock().unwrap() = None;
}
