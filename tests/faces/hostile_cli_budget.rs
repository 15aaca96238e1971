//! `rem` under an address-space limit (`prlimit --as`): runaway queries and graph walks end with
//! a `LIMIT` error from their budget (`--max-rows-examined`, `--max-memory-bytes`,
//! `--max-time-ms`) instead of growing until the allocator aborts, and `ORDER BY ... LIMIT`
//! over a join answers within the limit. Bounds are limits, not timings.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_rem");

/// Address space the child may use: enough for the debug binary, far less than holding a
/// fanned-out join or 100,000 paths.
const ADDRESS_SPACE: &str = "--as=536870912";

/// `rem --db DIR ARGS...`, under `prlimit --as` when `limited`.
fn rem(dir: &Path, args: &[&str], limited: bool) -> Output {
    let mut cmd = if limited {
        let mut c = Command::new("prlimit");
        c.arg(ADDRESS_SPACE).arg(BIN);
        c
    } else {
        Command::new(BIN)
    };
    cmd.env_remove("REM_DB")
        .env_remove("REM_TENANT")
        .env("REM_EMBEDDING_MODE", "off")
        .arg("--db")
        .arg(dir)
        .arg("--json")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.output().expect("run rem")
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = rem(dir, args, false);
    assert!(
        out.status.success(),
        "rem {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Stderr of a limited run that must end with exit code 1 and a LIMIT error naming `setting`.
fn limit_error(dir: &Path, args: &[&str], setting: &str) -> String {
    let out = rem(dir, args, true);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "rem {args:?}: {err}");
    assert!(err.contains("limit:"), "rem {args:?}: {err}");
    assert!(err.contains(setting), "rem {args:?}: {err}");
    assert!(!err.contains("memory allocation"), "rem {args:?}: {err}");
    err
}

fn schema_file(dir: &Path, schema: Value) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("schema.json");
    std::fs::write(&path, schema.to_string()).unwrap();
    path.display().to_string()
}

#[test]
fn a_fanned_out_join_ordered_with_limit_answers_or_stops_at_its_budget() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let schema = schema_file(
        tmp.path(),
        json!({
            "title": "Item", "type": "object",
            "properties": {"k": {"type": "integer"}, "g": {"type": "integer"}, "name": {"type": "string"}},
            "json_schema_extra": {"key_field": "k"}
        }),
    );
    ok(&dir, &["schema", "add", &schema]);
    let rows: Vec<Value> = (0..1500)
        .map(|k| json!({"k": k, "g": k % 3, "name": format!("n{k:05}")}))
        .collect();
    ok(
        &dir,
        &["insert", "item", &serde_json::to_string(&rows).unwrap()],
    );
    // 1500 × 500 × 500 = 375M joined rows: holding them needs tens of GB (the issue's run grew
    // to 19.5 GB). Under 512 MiB the query stops at its row budget with a clean error.
    let three_way = "SELECT a.name AS n FROM item a JOIN item b ON a.g = b.g \
                     JOIN item c ON b.g = c.g ORDER BY n LIMIT 1";
    limit_error(
        &dir,
        &["--max-rows-examined", "3000000", "sql", three_way],
        "max_rows_examined = 3000000",
    );
    limit_error(
        &dir,
        &["--max-time-ms", "1000", "sql", three_way],
        "max_time_ms = 1000",
    );
    // Without LIMIT the join must be held: the memory budget stops it.
    limit_error(
        &dir,
        &[
            "--max-memory-bytes",
            "50000000",
            "sql",
            "SELECT a.name AS n FROM item a JOIN item b ON a.g = b.g ORDER BY n",
        ],
        "max_memory_bytes = 50000000",
    );
    // A 2-way self-join (750,000 rows) ordered by an alias answers within the address space.
    let out = rem(
        &dir,
        &[
            "sql",
            "SELECT a.name AS n, b.k FROM item a JOIN item b ON a.g = b.g ORDER BY n DESC, 2 LIMIT 2",
        ],
        true,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        rows,
        json!([{"n": "n01499", "k": 2}, {"n": "n01499", "k": 5}])
    );
}

#[test]
fn path_counts_and_enumerations_on_a_complete_graph_stop_at_their_budget() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let schema = schema_file(
        tmp.path(),
        json!({
            "title": "Node", "type": "object",
            "properties": {"name": {"type": "string"}},
            "json_schema_extra": {"key_field": "name"}
        }),
    );
    ok(&dir, &["schema", "add", &schema]);
    let names: Vec<String> = (0..40).map(|i| format!("v{i:02}")).collect();
    let nodes: Vec<Value> = names.iter().map(|n| json!({"name": n})).collect();
    let out: Value = serde_json::from_str(&ok(
        &dir,
        &["insert", "node", &serde_json::to_string(&nodes).unwrap()],
    ))
    .unwrap();
    let ids: Vec<String> = out["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    for id in &ids {
        let edges: Vec<Value> = ids
            .iter()
            .filter(|d| *d != id)
            .map(|d| json!({"dst": d, "rel_type": "r"}))
            .collect();
        ok(&dir, &["update", id, &json!({"edges": edges}).to_string()]);
    }
    let (a, b) = (ids[0].as_str(), ids[1].as_str());
    // The issue's case: over 120 s unbounded.
    limit_error(
        &dir,
        &["--max-time-ms", "1000", "path", a, b, "--count"],
        "max_time_ms = 1000",
    );
    limit_error(
        &dir,
        &["--max-rows-examined", "100000", "path", a, b, "--count"],
        "max_rows_examined = 100000",
    );
    // 100,000 paths (1.15 GB in the issue's run): under a 64 MB budget, a LIMIT error.
    limit_error(
        &dir,
        &[
            "--max-memory-bytes",
            "64000000",
            "path",
            a,
            b,
            "--all",
            "--limit",
            "100000",
        ],
        "max_memory_bytes = 64000000",
    );
    limit_error(
        &dir,
        &[
            "--max-memory-bytes",
            "64000000",
            "cycles",
            a,
            "--limit",
            "100000",
        ],
        "max_memory_bytes = 64000000",
    );
    // A bounded question answers.
    let count: Value =
        serde_json::from_str(&ok(&dir, &["path", a, b, "--count", "--max-depth", "2"])).unwrap();
    assert_eq!(count["count"], 39);
}
