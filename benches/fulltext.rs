//! BM25 top-10 over 100k chunks, remdb beside SQLite FTS5 (rusqlite's bundled build) in the
//! same run, and the size of each full-text index.
//!
//! `cargo bench --bench fulltext` (`REM_FT_CHUNKS=20000` for a quicker run). The corpus is
//! synthetic and deterministic: chunks of 60–140 words drawn from a 20k-word vocabulary with a
//! Zipf-like distribution (so queries mix common and rare terms). Both engines index the same
//! text without stemming (remdb `fulltext_stemmer: none`, FTS5 `unicode61`), and both answer the
//! same query semantics: any term matches (FTS5 is given `a OR b OR c`), ranked by BM25, top 10
//! with the chunk's text. Index size: remdb's redb file with the index minus the same rows
//! without it, and the same difference in bytes of keys and values stored; FTS5's contentless
//! table (`content=''`, the index alone) as its database file after `VACUUM`.

use std::path::Path;
use std::time::Instant;

use remdb::kv::Backend;
use remdb::vector::{SearchMode, SearchOptions};
use remdb::{Database, OpenOptions, Tenant};
use serde_json::{json, Value};

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const VOCAB: usize = 20_000;

/// Word `i` of the vocabulary: pronounceable, distinct.
fn word(i: usize) -> String {
    const SYL: [&str; 16] = [
        "ka", "lo", "mi", "ne", "ru", "sa", "te", "vo", "zi", "pa", "do", "fe", "gu", "hi", "jo",
        "be",
    ];
    let mut out = String::new();
    let mut n = i + 16;
    while n > 0 {
        out.push_str(SYL[n % 16]);
        n /= 16;
    }
    out
}

/// A Zipf-like word index: rank r with probability ∝ 1/(r+1).
fn zipf(rng: &mut Rng, cdf: &[f64]) -> usize {
    let x = (rng.next() >> 11) as f64 / (1u64 << 53) as f64;
    cdf.partition_point(|c| *c < x).min(VOCAB - 1)
}

fn corpus(n: usize) -> (Vec<String>, Vec<String>) {
    let mut cdf = Vec::with_capacity(VOCAB);
    let mut sum = 0.0;
    for r in 0..VOCAB {
        sum += 1.0 / (r as f64 + 1.0);
        cdf.push(sum);
    }
    for c in &mut cdf {
        *c /= sum;
    }
    let words: Vec<String> = (0..VOCAB).map(word).collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let chunks = (0..n)
        .map(|_| {
            let len = 60 + rng.below(81) as usize;
            (0..len)
                .map(|_| words[zipf(&mut rng, &cdf)].as_str())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    // Queries: two or three terms, from common (rank ~10) to rare (rank ~5000).
    let mut queries = Vec::new();
    for q in 0..20 {
        let terms = 2 + q % 2;
        let picks: Vec<&str> = (0..terms)
            .map(|t| words[[10, 50, 200, 1000, 5000][(q + t * 2) % 5] + q * 7 + t].as_str())
            .collect();
        queries.push(picks.join(" "));
    }
    (chunks, queries)
}

fn schema(fulltext: bool) -> Value {
    let mut s = json!({
        "title": "Chunk", "type": "object",
        "properties": {"content": {"type": "string"}},
        "json_schema_extra": {"fulltext_stemmer": "none"}
    });
    if fulltext {
        s["json_schema_extra"]["fulltext_fields"] = json!(["content"]);
    }
    s
}

fn open(dir: &Path, backend: Backend) -> Database {
    let options = OpenOptions {
        backend: Some(backend),
        embedding_mode: Some(remdb::vector::EmbedMode::Off),
        ..OpenOptions::default()
    };
    Database::open_with(dir, &options).unwrap()
}

fn load(t: &Tenant, chunks: &[String], fulltext: bool) -> f64 {
    t.register_schema(schema(fulltext)).unwrap();
    let start = Instant::now();
    for batch in chunks.chunks(1000) {
        let rows: Vec<Value> = batch.iter().map(|c| json!({"content": c})).collect();
        t.insert_many("chunk", rows).unwrap();
    }
    start.elapsed().as_secs_f64()
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

/// The bytes of every key and value the redb database in `dir` holds (what it stores, without
/// the file's free and partly filled pages).
fn stored_bytes(dir: &Path) -> u64 {
    let kv = remdb::kv::open(Backend::Redb, dir).unwrap();
    let snap = kv.snapshot().unwrap();
    let mut total = 0u64;
    snap.visit(
        &remdb::kv::KeyRange::all(),
        remdb::kv::Direction::Forward,
        &mut |k, v| {
            total += (k.len() + v.len()) as u64;
            Ok(true)
        },
    )
    .unwrap();
    total
}

/// Median and mean of `times` in ms.
fn summary(mut times: Vec<f64>) -> (f64, f64) {
    times.sort_by(f64::total_cmp);
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    (times[times.len() / 2], mean)
}

const ROUNDS: usize = 20;

fn time_remdb(t: &Tenant, queries: &[String]) -> (f64, f64, usize) {
    let o = SearchOptions {
        top_k: 10,
        mode: SearchMode::Keyword,
        ..SearchOptions::default()
    };
    let mut hits = 0;
    for q in queries {
        hits += t.search("chunk", q.as_str(), &o).unwrap().len(); // warm
    }
    let mut times = Vec::new();
    for _ in 0..ROUNDS {
        for q in queries {
            let start = Instant::now();
            let found = t.search("chunk", q.as_str(), &o).unwrap();
            times.push(start.elapsed().as_secs_f64() * 1e3);
            assert!(!found.is_empty());
        }
    }
    let (median, mean) = summary(times);
    (median, mean, hits)
}

fn main() {
    let n: usize = std::env::var("REM_FT_CHUNKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let (chunks, queries) = corpus(n);
    let text_mb = chunks.iter().map(String::len).sum::<usize>() as f64 / 1e6;
    println!(
        "corpus: {n} chunks, {text_mb:.1} MB of text, {} queries × {ROUNDS} rounds",
        queries.len()
    );

    // remdb, redb on disk: with and without the index (for its size).
    let tmp = tempfile::tempdir().unwrap();
    let (with_dir, without_dir) = (tmp.path().join("with"), tmp.path().join("without"));
    let db = open(&with_dir, Backend::Redb);
    let t = db.tenant("bench").unwrap();
    let load_s = load(&t, &chunks, true);
    let plain = open(&without_dir, Backend::Redb);
    let plain_s = load(&plain.tenant("bench").unwrap(), &chunks, false);
    drop(plain);
    let (redb_median, redb_mean, _) = time_remdb(&t, &queries);
    drop(t);
    drop(db);
    let index_bytes = dir_size(&with_dir).saturating_sub(dir_size(&without_dir));
    let index_stored = stored_bytes(&with_dir).saturating_sub(stored_bytes(&without_dir));

    // remdb, memory backend.
    let mem = Database::with_kv_options(
        std::sync::Arc::new(remdb::kv::MemoryKv::new()),
        &OpenOptions {
            embedding_mode: Some(remdb::vector::EmbedMode::Off),
            ..OpenOptions::default()
        },
    )
    .unwrap();
    let mt = mem.tenant("bench").unwrap();
    let mem_load_s = load(&mt, &chunks, true);
    let (mem_median, mem_mean, _) = time_remdb(&mt, &queries);

    // SQLite FTS5.
    let sqlite_path = tmp.path().join("fts.sqlite");
    let conn = rusqlite::Connection::open(&sqlite_path).unwrap();
    conn.execute_batch("PRAGMA journal_mode=WAL; CREATE VIRTUAL TABLE chunks USING fts5(content, tokenize='unicode61');")
        .unwrap();
    let start = Instant::now();
    for batch in chunks.chunks(1000) {
        let tx = conn.unchecked_transaction().unwrap();
        {
            let mut ins = tx
                .prepare_cached("INSERT INTO chunks(content) VALUES (?1)")
                .unwrap();
            for c in batch {
                ins.execute([c]).unwrap();
            }
        }
        tx.commit().unwrap();
    }
    let fts_load_s = start.elapsed().as_secs_f64();
    let mut stmt = conn
        .prepare("SELECT rowid, content, bm25(chunks) FROM chunks WHERE chunks MATCH ?1 ORDER BY rank LIMIT 10")
        .unwrap();
    let fts_queries: Vec<String> = queries
        .iter()
        .map(|q| q.split(' ').collect::<Vec<_>>().join(" OR "))
        .collect();
    let run = |stmt: &mut rusqlite::Statement<'_>, q: &str| -> usize {
        let rows = stmt
            .query_map([q], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, f64>(2)?,
                ))
            })
            .unwrap();
        rows.map(|r| r.unwrap()).count()
    };
    for q in &fts_queries {
        run(&mut stmt, q);
    }
    let mut times = Vec::new();
    for _ in 0..ROUNDS {
        for q in &fts_queries {
            let start = Instant::now();
            assert!(run(&mut stmt, q) > 0);
            times.push(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    let (fts_median, fts_mean) = summary(times);
    drop(stmt);
    drop(conn);
    // FTS5's index alone: a contentless table of the same text.
    let idx_path = tmp.path().join("fts-index.sqlite");
    let conn = rusqlite::Connection::open(&idx_path).unwrap();
    conn.execute_batch(
        "CREATE VIRTUAL TABLE chunks USING fts5(content, content='', tokenize='unicode61');",
    )
    .unwrap();
    let tx = conn.unchecked_transaction().unwrap();
    {
        let mut ins = tx
            .prepare("INSERT INTO chunks(rowid, content) VALUES (?1, ?2)")
            .unwrap();
        for (i, c) in chunks.iter().enumerate() {
            ins.execute(rusqlite::params![i as i64 + 1, c]).unwrap();
        }
    }
    tx.commit().unwrap();
    conn.execute_batch("VACUUM;").unwrap();
    drop(conn);
    let fts_index_bytes = std::fs::metadata(&idx_path).unwrap().len();

    println!();
    println!("| engine | load {n} chunks | BM25 top-10 median | mean | index size |");
    println!("|---|---|---|---|---|");
    println!(
        "| remdb redb | {load_s:.1} s ({plain_s:.1} s without the index) | {redb_median:.2} ms | {redb_mean:.2} ms | {:.1} MB of file ({:.1} MB of keys and values) |",
        index_bytes as f64 / 1e6,
        index_stored as f64 / 1e6
    );
    println!("| remdb memory | {mem_load_s:.1} s | {mem_median:.2} ms | {mem_mean:.2} ms | – |");
    println!(
        "| SQLite FTS5 | {fts_load_s:.1} s | {fts_median:.2} ms | {fts_mean:.2} ms | {:.1} MB |",
        fts_index_bytes as f64 / 1e6
    );
}
