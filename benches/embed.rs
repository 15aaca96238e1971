//! Local embedder latency: all-MiniLM-L6-v2 (int8) through tract-onnx, one thread.
//!
//! `bash .ci/fetch-models && cargo bench --features embeddings --bench embed`. Measures one call
//! with a 12-token sentence at batch 1 and batch 32 (criterion), then prints a summary table
//! (median of separate timed calls) with texts per second. `REM_MODEL_DIR` points elsewhere.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use remdb::embed::{default_model_dir, Embedder, LocalEmbedder};

/// 12 tokens with [CLS] and [SEP].
const SENTENCE: &str = "The quick brown fox jumps over the lazy dog near the river";

fn load() -> LocalEmbedder {
    let mut dir = default_model_dir();
    if dir.is_relative() {
        dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(dir);
    }
    LocalEmbedder::from_files(&dir).unwrap_or_else(|e| {
        panic!(
            "{e}; run `bash .ci/fetch-models` (model dir {})",
            dir.display()
        )
    })
}

fn median_ms(e: &LocalEmbedder, texts: &[&str], runs: usize) -> f64 {
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(e.embed(texts).unwrap());
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn main() {
    let out: PathBuf = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"))
        .join("criterion");
    let mut c = Criterion::default()
        .output_directory(&out)
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(4))
        .configure_from_args();

    let t = Instant::now();
    let e = load();
    let load_ms = t.elapsed().as_secs_f64() * 1e3;
    let batches = [1usize, 32];
    let mut group = c.benchmark_group("embed_local_minilm");
    for &n in &batches {
        let texts = vec![SENTENCE; n];
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("batch", n), &texts, |b, texts| {
            b.iter(|| e.embed(texts).unwrap())
        });
    }
    group.finish();
    c.final_summary();

    println!(
        "\nlocal embedder: {} ({} dims), model load {load_ms:.0} ms, 12-token sentence\n",
        e.name(),
        e.dimensions()
    );
    println!("| batch | median per call | per text | texts/s |");
    println!("|------:|----------------:|---------:|--------:|");
    for &n in &batches {
        let texts = vec![SENTENCE; n];
        let ms = median_ms(&e, &texts, if n == 1 { 101 } else { 21 });
        println!(
            "| {n:>5} | {ms:>12.2} ms | {:>5.2} ms | {:>7.0} |",
            ms / n as f64,
            n as f64 * 1e3 / ms
        );
    }
}
