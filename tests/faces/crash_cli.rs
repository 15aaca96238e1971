//! `rem` killed (SIGKILL) in the middle of writes loses no acknowledged write and leaves no
//! partial batch; `rem wal apply` streams a log in bounded batches and resumes after a failure.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::{json, Value};

/// `rem --db DIR --json ARGS...`, set up as the hostile CLI tests run it (embedding off, no
/// environment leaking in).
fn rem(dir: &Path, args: &[&str]) -> Command {
    let json: Vec<&str> = std::iter::once("--json")
        .chain(args.iter().copied())
        .collect();
    crate::hostile_cli::rem(dir, &json)
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out: Output = rem(dir, args).output().unwrap();
    assert!(
        out.status.success(),
        "rem {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A small deterministic pseudo-random sequence (no dependency, same run every time).
fn delays(seed: u64, n: usize) -> Vec<u64> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % 120
        })
        .collect()
}

fn crash_rounds(backend: &str) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let db = db.as_path();
    ok(db, &["--backend", backend, "init"]);
    let batch_file = dir.path().join("batch.json");
    let mut acknowledged: Vec<Vec<String>> = Vec::new();
    let mut unacknowledged: Vec<u64> = Vec::new();
    for (round, delay) in delays(0x5eed + backend.len() as u64, 16)
        .into_iter()
        .enumerate()
    {
        // Each batch: 300 resources with a key naming the round, one atomic insert.
        let batch: Vec<Value> = (0..300)
            .map(|i| json!({"uri": format!("r{round}/{i}"), "content": "x".repeat(200)}))
            .collect();
        std::fs::write(&batch_file, serde_json::to_vec(&batch).unwrap()).unwrap();
        let mut child = rem(
            db,
            &["insert", "resources", &format!("@{}", batch_file.display())],
        )
        .spawn()
        .unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        let killed = child.kill().is_ok();
        let out = child.wait_with_output().unwrap();
        if out.status.success() {
            let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
            let ids: Vec<String> = printed["ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect();
            assert_eq!(ids.len(), 300, "an acknowledged batch prints every id");
            acknowledged.push(ids);
        } else {
            assert!(killed, "rem failed without being killed: {:?}", out);
            unacknowledged.push(round as u64);
        }
    }
    // The database opens, checks clean, and holds every acknowledged row.
    ok(db, &["check"]);
    for ids in &acknowledged {
        for id in ids.iter().step_by(37) {
            let row: Value = serde_json::from_str(&ok(db, &["get", id])).unwrap();
            assert_eq!(row["id"], id.as_str());
        }
    }
    // A killed batch is all there or not there at all.
    let count: Value = serde_json::from_str(&ok(db, &["count", "resources"])).unwrap();
    let count = count["count"].as_u64().unwrap();
    assert_eq!(
        count % 300,
        0,
        "{backend}: a partial batch is visible ({count} rows)"
    );
    assert!(count >= 300 * acknowledged.len() as u64);
    assert!(
        !acknowledged.is_empty() && !unacknowledged.is_empty(),
        "{backend}: the delays should both interrupt writes and let some finish \
         ({} acknowledged, {} killed)",
        acknowledged.len(),
        unacknowledged.len()
    );
}

#[test]
fn killed_writers_lose_no_acknowledged_batch_on_redb() {
    crash_rounds("redb");
}

#[cfg(feature = "rocksdb")]
#[test]
fn killed_writers_lose_no_acknowledged_batch_on_rocksdb() {
    crash_rounds("rocksdb");
}

#[test]
fn wal_apply_streams_in_batches_and_resumes_after_a_bad_entry() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    ok(&source, &["init"]);
    // 10,000 entries per apply: 25,000 rows make three batches.
    let rows: Vec<Value> = (0..25_000)
        .map(|i| json!({"key": format!("k{i}")}))
        .collect();
    let rows_file = dir.path().join("rows.json");
    for chunk in rows.chunks(5_000) {
        std::fs::write(&rows_file, serde_json::to_vec(chunk).unwrap()).unwrap();
        ok(
            &source,
            &["insert", "resources", &format!("@{}", rows_file.display())],
        );
    }
    let log = ok(&source, &["wal", "export"]);
    let mut lines: Vec<String> = log.lines().map(str::to_string).collect();
    // The first 5 entries are the built-in schemas; each insert of 5,000 rows is 5,000 entries.
    assert_eq!(lines.len(), 5 + 25_000);
    // Spoil one entry in the third batch of 10,000.
    let bad_at = 22_000;
    let mut bad: Value = serde_json::from_str(&lines[bad_at]).unwrap();
    bad["data"]["created_at"] = json!("yesterday");
    lines[bad_at] = bad.to_string();
    let log_file = dir.path().join("log.jsonl");
    std::fs::write(&log_file, lines.join("\n")).unwrap();
    let replica = dir.path().join("replica");
    let out = rem(&replica, &["wal", "apply", log_file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("created_at"), "{err}");
    assert!(err.contains("wal seq is now 20000"), "{err}");
    assert_eq!(ok(&replica, &["wal", "seq"]).trim(), r#"{"seq":20000}"#);
    // Fixed, the same command skips what is there and applies the rest.
    lines[bad_at] = serde_json::from_str::<Value>(&log.lines().nth(bad_at).unwrap())
        .unwrap()
        .to_string();
    std::fs::write(&log_file, lines.join("\n")).unwrap();
    let report: Value =
        serde_json::from_str(&ok(&replica, &["wal", "apply", log_file.to_str().unwrap()])).unwrap();
    assert_eq!(report["skipped"], 20_000);
    assert_eq!(report["applied"], 5_005);
    assert_eq!(report["seq"], 25_005);
}
