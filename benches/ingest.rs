//! Ingestion throughput of Markdown, natively, excluding embedding (automatic embedding off):
//! MB of source per second for cutting alone (a dry run: front matter, headings, text-splitter
//! chunks by characters, rows built) and for the whole ingestion into the memory and redb
//! backends (rows validated and written, the full-text index maintained, in batches).
//!
//! `cargo bench --profile dev --bench ingest` (`REM_INGEST_MB=2` for a quicker run,
//! `REM_INGEST_ONLY=dry|memory|redb` for one measurement). The corpus is this
//! repository's own Markdown (README.md and docs/*.md), copied under distinct uris until it
//! reaches the size asked for (8 MB by default). Each figure is the median of 5 runs, each
//! into a fresh database.

use std::path::Path;
use std::time::Instant;

use remdb::ingest::{Document, IngestOptions};
use remdb::kv::Backend;
use remdb::vector::EmbedMode;
use remdb::{Database, OpenOptions};

fn corpus(target: usize) -> Vec<Document> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    let mut docs: Vec<_> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    let texts: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(p).unwrap(),
            )
        })
        .collect();
    let mut out = Vec::new();
    let mut size = 0;
    for copy in 0.. {
        for (name, bytes) in &texts {
            if size >= target {
                return out;
            }
            size += bytes.len();
            out.push(Document::new(format!("copy{copy}/{name}"), bytes.clone()));
        }
    }
    out
}

fn options(backend: Backend) -> OpenOptions {
    OpenOptions {
        backend: Some(backend),
        embedding_mode: Some(EmbedMode::Off),
        ..OpenOptions::default()
    }
}

/// Seconds to ingest `docs` into a fresh database of `backend` (`None`: a dry run).
fn run(docs: &[Document], backend: Option<Backend>) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let db = match backend {
        Some(Backend::Memory) | None => {
            Database::open_with(dir.path(), &options(Backend::Memory)).unwrap()
        }
        Some(b) => Database::open_with(dir.path(), &options(b)).unwrap(),
    };
    let t = db.tenant("default").unwrap();
    t.init().unwrap();
    let opts = IngestOptions {
        dry_run: backend.is_none(),
        ..IngestOptions::default()
    };
    let docs = docs.to_vec();
    let start = Instant::now();
    let mut run = t.ingest_run(&opts).unwrap();
    for d in docs {
        run.add(d).unwrap();
    }
    let report = run.finish().unwrap();
    let secs = start.elapsed().as_secs_f64();
    assert!(report.rejected.is_empty() && report.chunks > 0);
    secs
}

fn main() {
    // `cargo test --benches` runs this binary with `--bench` absent: do one small pass then.
    let quick = !std::env::args().any(|a| a == "--bench");
    let mb: f64 = std::env::var("REM_INGEST_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 0.5 } else { 8.0 });
    let docs = corpus((mb * 1e6) as usize);
    let bytes: usize = docs.iter().map(|d| d.bytes.len()).sum();
    let runs = if quick { 1 } else { 5 };
    println!(
        "ingest: {} Markdown documents, {:.1} MB, chunk 200 tokens (800 characters), overlap 20; median of {runs}",
        docs.len(),
        bytes as f64 / 1e6
    );
    for (name, backend) in [
        ("cut only (dry run)", None),
        ("ingest, memory", Some(Backend::Memory)),
        ("ingest, redb", Some(Backend::Redb)),
    ] {
        // `REM_INGEST_ONLY=dry` (or `memory`, `redb`): one measurement only.
        if let Ok(only) = std::env::var("REM_INGEST_ONLY") {
            if !name.contains(only.as_str()) {
                continue;
            }
        }
        let mut times: Vec<f64> = (0..runs).map(|_| run(&docs, backend)).collect();
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        println!(
            "  {name:<20} {:>7.1} MB/s  ({:.2} s)",
            bytes as f64 / 1e6 / median,
            median
        );
    }
}
