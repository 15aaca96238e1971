//! Automatic embedding with the real local model: inline (the write returns with its vectors),
//! background (a worker thread drains the durable queue; `flush` waits), re-embedding when the
//! text changes, vectors gone with hard delete and hidden with soft delete, the alt provider,
//! and the queue surviving a process killed mid-drain.
//!
//! Needs feature `embeddings` and the model (`bash .ci/fetch-models`).
#![cfg(all(feature = "embeddings", not(target_arch = "wasm32")))]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use remdb::vector::{EmbedMode, IndexName, SearchOptions};
use remdb::{Database, OpenOptions, Tenant, WalOp};
use serde_json::{json, Value};

const LOCAL: &str = "local:all-MiniLM-L6-v2";

fn vector_entries(t: &Tenant) -> usize {
    t.wal()
        .entries(0, usize::MAX)
        .unwrap()
        .iter()
        .filter(|e| e.op == WalOp::Vector)
        .count()
}

fn index(table: &str, field: &str) -> IndexName {
    IndexName::new(table, field, LOCAL).unwrap()
}

#[test]
fn inline_inserts_return_with_vectors_and_follow_changes() {
    let db = Database::memory();
    let t = db.tenant("default").unwrap();
    t.init().unwrap();
    let id = t
        .insert(
            "resources",
            json!({"name": "a", "content": "The cat sleeps on the warm sofa"}),
        )
        .unwrap();
    t.insert(
        "resources",
        json!({"name": "b", "content": "Stock markets fell sharply today"}),
    )
    .unwrap();
    t.insert("resources", json!({"name": "c"})).unwrap(); // no text: no vector, nothing queued
    let meta = t
        .vectors()
        .index(&index("resources", "content"))
        .unwrap()
        .unwrap();
    assert_eq!((meta.count, meta.dims), (2, 384));
    assert_eq!(vector_entries(&t), 2, "each vector is a WAL entry");
    assert_eq!(t.embeddings().queued().unwrap(), (0, 0));
    let hits = t
        .search("resources", "a kitten napping", &SearchOptions::default())
        .unwrap();
    assert_eq!(hits[0].id, id);
    let (_, before) = t
        .vectors()
        .stored(&index("resources", "content"), &id)
        .unwrap()
        .unwrap();

    // An unrelated change keeps the vector; a text change re-embeds it.
    t.update(&id.to_string(), json!({"category": "note"}))
        .unwrap();
    assert_eq!(vector_entries(&t), 2);
    t.update(
        &id.to_string(),
        json!({"content": "Interest rates and the bond market"}),
    )
    .unwrap();
    assert_eq!(vector_entries(&t), 3);
    let (_, after) = t
        .vectors()
        .stored(&index("resources", "content"), &id)
        .unwrap()
        .unwrap();
    assert!(
        crate::cosine::cosine(&before, &after) < 0.5,
        "the vector follows the new text"
    );
    let hits = t
        .search(
            "resources",
            "central bank interest rates",
            &SearchOptions {
                top_k: 1,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(hits[0].id, id, "found by its new text");

    // Soft delete hides, hard delete removes.
    t.delete(&id.to_string()).unwrap();
    let hits = t
        .search("resources", "bond market", &SearchOptions::default())
        .unwrap();
    assert!(hits.iter().all(|h| h.id != id));
    t.hard_delete(&id.to_string()).unwrap();
    assert!(t
        .vectors()
        .stored(&index("resources", "content"), &id)
        .unwrap()
        .is_none());
    assert_eq!(
        t.vectors()
            .index(&index("resources", "content"))
            .unwrap()
            .unwrap()
            .count,
        1
    );
}

#[test]
fn the_alt_provider_gets_its_own_index() {
    let db = Database::memory();
    let t = db.tenant("default").unwrap();
    // Both providers are the same model here (the only one available offline), under two
    // names: the point is two indexes filled by one write.
    t.register_schema(json!({
        "title": "Doc", "type": "object", "properties": {"text": {"type": "string"}},
        "json_schema_extra": {"embedding_fields": ["text"], "embedding_provider": LOCAL,
                              "embedding_provider_alt": "local:all-MiniLM-L6-v2-alt"}
    }))
    .unwrap();
    let alt_dir = remdb::embed::default_model_dir();
    let alt = remdb::embed::LocalEmbedder::from_files(&alt_dir)
        .unwrap()
        .with_name("local:all-MiniLM-L6-v2-alt");
    db.embedders()
        .register("local:all-MiniLM-L6-v2-alt", std::sync::Arc::new(alt));
    let id = t
        .insert("doc", json!({"text": "violins and cellos"}))
        .unwrap();
    assert_eq!(t.vectors().indexes("doc").unwrap().len(), 2);
    let hits = t
        .search(
            "doc",
            "string instruments",
            &SearchOptions {
                alt: true,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(hits[0].id, id);
    let err = t
        .search(
            "resources",
            "x",
            &SearchOptions {
                alt: true,
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(err.code(), "UNKNOWN_TABLE");
}

#[test]
fn inline_embedding_failure_writes_nothing() {
    let options = OpenOptions {
        default_embedding: Some("openai:text-embedding-3-small".into()),
        ..Default::default()
    };
    let db = Database::with_kv_options(std::sync::Arc::new(remdb::kv::MemoryKv::new()), &options)
        .unwrap();
    // Point the provider at a closed port: the embedder loads (known dimensions) but every call fails.
    let mut config = remdb::embed::HttpConfig::for_provider(remdb::embed::Provider::OpenAi);
    config.base_url = "http://127.0.0.1:9/v1".into();
    config.max_retries = 0;
    let spec = remdb::embed::EmbedderSpec::parse("openai:text-embedding-3-small").unwrap();
    db.embedders().register(
        &spec.to_string(),
        std::sync::Arc::new(remdb::embed::HttpEmbedder::new(spec, config).unwrap()),
    );
    let t = db.tenant("default").unwrap();
    t.init().unwrap();
    let seq = t.wal().seq().unwrap();
    let err = t
        .insert("resources", json!({"name": "x", "content": "hello"}))
        .unwrap_err();
    assert_eq!(err.code(), "EMBEDDING", "{err}");
    assert_eq!(
        t.wal().seq().unwrap(),
        seq,
        "the failed insert wrote nothing"
    );
    assert_eq!(t.count("resources", true).unwrap(), 0);
}

#[test]
fn background_mode_queues_durably_and_the_worker_drains() {
    let dir = tempfile::tempdir().unwrap();
    let options = OpenOptions {
        embedding_mode: Some(EmbedMode::Background),
        ..Default::default()
    };
    let db = Database::open_with(dir.path(), &options).unwrap();
    let t = db.tenant("default").unwrap();
    t.init().unwrap();
    let rows: Vec<Value> = (0..64).map(|i| json!({"name": format!("r{i}"), "content": format!("note number {i} about topic {}", i % 7)})).collect();
    t.insert_many("resources", rows).unwrap();
    // The worker drains without being asked.
    let start = Instant::now();
    while t.embeddings().queued().unwrap().0 > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the background worker never drained the queue"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let report = db.flush().unwrap();
    assert_eq!(report.remaining, 0);
    assert_eq!(
        t.vectors()
            .index(&index("resources", "content"))
            .unwrap()
            .unwrap()
            .count,
        64
    );
    assert_eq!(vector_entries(&t), 64);
    // A reopened database still has them (and nothing queued).
    drop(t);
    drop(db);
    let db = Database::open_with(dir.path(), &options).unwrap();
    let t = db.tenant("default").unwrap();
    assert_eq!(t.embeddings().queued().unwrap(), (0, 0));
    assert_eq!(
        t.search("resources", "topic 3", &SearchOptions::default())
            .unwrap()
            .len(),
        10
    );
}

fn rem(dir: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rem"));
    c.arg("--db")
        .arg(dir)
        .arg("--json")
        .env_remove("REM_EMBEDDING_MODE")
        .env_remove("REM_DEFAULT_EMBEDDING");
    c
}

fn status(dir: &std::path::Path) -> Value {
    let out = rem(dir).args(["embeddings", "status"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_queue_survives_a_process_killed_mid_drain() {
    let dir = tempfile::tempdir().unwrap();
    let n = 400;
    let rows: Vec<Value> = (0..n).map(|i| json!({"name": format!("n{i}"), "content": format!("document {i}: a sentence about subject {}", i % 13)})).collect();
    let file = dir.path().join("rows.json");
    std::fs::write(&file, serde_json::to_vec(&rows).unwrap()).unwrap();
    let db = dir.path().join("db");
    assert!(rem(&db).arg("init").output().unwrap().status.success());
    // Background mode: the work is queued in the same batch as the rows.
    let out = rem(&db)
        .args(["--embedding-mode", "background", "insert", "resources"])
        .arg(format!("@{}", file.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let queued = status(&db)["queued_rows"].as_u64().unwrap();
    assert!(queued > 0, "work was queued");
    // A drain killed part-way.
    let mut child = rem(&db)
        .args(["embeddings", "flush"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    child.kill().unwrap();
    child.wait().unwrap();
    let s = status(&db);
    let left = s["queued_rows"].as_u64().unwrap();
    assert!(left <= queued, "{left} > {queued}");
    let vectors = s["indexes"][0]["vectors"].as_u64().unwrap_or(0);
    assert_eq!(
        vectors + left,
        n,
        "every row is either embedded or still queued: {s}"
    );
    // Another process finishes the work: every row embedded exactly once.
    let out = rem(&db).args(["embeddings", "flush"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = status(&db);
    assert_eq!(s["queued_rows"], 0, "{s}");
    assert_eq!(s["indexes"][0]["vectors"], n, "{s}");
    let out = rem(&db).args(["wal", "export"]).output().unwrap();
    let logged = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("\"op\":\"vector\""))
        .count();
    assert_eq!(
        logged as u64, n,
        "one vector entry per row: no duplicates from the killed drain"
    );
    let out = rem(&db)
        .args(["search", "resources", "subject 5", "-k", "3"])
        .output()
        .unwrap();
    let hits: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(hits.as_array().unwrap().len(), 3);
    assert!(hits[0]["_score"].as_f64().unwrap() > 0.3, "{hits}");
}

/// Ingested documents are cut by the model's own tokenizer (its tokens, not characters) and
/// their chunks embedded inline like any insert, in one write per batch.
#[test]
fn ingested_chunks_are_sized_in_model_tokens_and_embedded_inline() {
    use remdb::embed::{default_model_dir, Embedder, LocalEmbedder};
    use remdb::ingest::{Document, IngestOptions};

    let db = Database::memory();
    let t = db.tenant("default").unwrap();
    let text: Vec<String> = (0..40)
        .map(|i| format!("Sentence {i} is about tides, harbours and the moon's pull on the sea."))
        .collect();
    let options = IngestOptions {
        chunk_tokens: 32,
        overlap: 0,
        ..IngestOptions::default()
    };
    let report = t
        .ingest(Document::new("tides.txt", text.join(" ")), &options)
        .unwrap();
    assert!(report.chunks > 5, "{report:?}");
    let tokenizer = LocalEmbedder::from_files(default_model_dir()).unwrap();
    let rows = t.list("resources", &Default::default()).unwrap();
    assert_eq!(rows.len(), report.chunks);
    for row in &rows {
        assert_eq!(row["metadata"]["chunker"], "tokens:32/0");
        let tokens = tokenizer
            .count_tokens(row["content"].as_str().unwrap())
            .unwrap();
        assert!(tokens <= 32, "{tokens} tokens: {}", row["content"]);
    }
    let chunk_vectors = t
        .wal()
        .entries(0, usize::MAX)
        .unwrap()
        .iter()
        .filter(|e| e.op == WalOp::Vector && e.table == "resources")
        .count();
    assert_eq!(chunk_vectors, report.chunks, "every chunk embedded inline");
    let hits = t
        .search(
            "resources",
            "the moon pulls the ocean",
            &SearchOptions::default(),
        )
        .unwrap();
    assert_eq!(hits[0].row["uri"], "tides.txt");
}
