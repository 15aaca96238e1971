//! What the native benchmarks share: criterion's output folder and its mean estimates, times in
//! human units, and the results file `benches/report.sh` collects.
//!
//! A benchmark `#[path]`-includes this file. When `REM_BENCH_OUT` names a file, [`record`]
//! appends one JSON object per line to it (the fields are described in `benches/report.mjs`);
//! without it, recording does nothing and the benchmark only prints its tables.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Where criterion writes its estimates: `$CARGO_TARGET_DIR/criterion` (or `target/criterion`),
/// or, in a report run, a folder beside `REM_BENCH_OUT`, so that no estimate left by an earlier
/// run can pass for one of this run.
pub fn criterion_dir() -> PathBuf {
    if let Some(out) = std::env::var_os("REM_BENCH_OUT") {
        let mut dir = out;
        dir.push(".criterion");
        return PathBuf::from(dir);
    }
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"))
        .join("criterion")
}

/// Criterion's mean estimate, in nanoseconds, of benchmark `group/id`.
pub fn mean_ns(dir: &Path, group: &str, id: &str) -> Option<f64> {
    let raw = std::fs::read_to_string(dir.join(group).join(id).join("new/estimates.json")).ok()?;
    serde_json::from_str::<Value>(&raw).ok()?["mean"]["point_estimate"].as_f64()
}

/// A duration in nanoseconds as "12 ns", "3.4 µs", "5.67 ms" or "8.90 s".
pub fn human_time(ns: f64) -> String {
    match ns {
        n if n < 1e3 => format!("{n:.0} ns"),
        n if n < 1e6 => format!("{:.1} µs", n / 1e3),
        n if n < 1e9 => format!("{:.2} ms", n / 1e6),
        n => format!("{:.2} s", n / 1e9),
    }
}

/// Appends `result` (a JSON object; `"env": "native"` is added) to the file `REM_BENCH_OUT`
/// names, if it names one. A file that cannot be written stops the run: a report with
/// silently missing rows would be worse than none.
pub fn record(mut result: Value) {
    let Some(path) = std::env::var_os("REM_BENCH_OUT") else {
        return;
    };
    if let Value::Object(fields) = &mut result {
        fields.insert("env".into(), Value::from("native"));
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("REM_BENCH_OUT {}: {e}", Path::new(&path).display()));
    writeln!(file, "{result}").expect("writing REM_BENCH_OUT");
}

/// Records criterion's mean of `group/id` as `{suite, case: group, engine, ns}` plus `extra`'s
/// fields, when criterion measured it (a filtered run measures only some).
pub fn record_mean(dir: &Path, suite: &str, group: &str, id: &str, engine: &str, extra: Value) {
    let Some(ns) = mean_ns(dir, group, id) else {
        return;
    };
    let mut result = serde_json::json!({"suite": suite, "case": group, "engine": engine, "ns": ns});
    if let (Value::Object(fields), Value::Object(more)) = (&mut result, extra) {
        fields.extend(more);
    }
    record(result);
}
