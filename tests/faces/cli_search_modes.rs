//! `rem search TABLE TEXT --mode keyword|hybrid|vector`: keyword search from the command line
//! needs no embedder, prints BM25 scores (JSON with `_score` when piped), and a bad mode or
//! query fails with exit code 1 and says why.

#![cfg(not(target_arch = "wasm32"))]

use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_rem");

fn rem(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .env_remove("REM_DB")
        .env_remove("REM_TENANT")
        // No embedder: keyword search must not need one.
        .env("REM_EMBEDDING_MODE", "off")
        .arg("--db")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run rem")
}

fn ok(dir: &std::path::Path, args: &[&str]) -> String {
    let out = rem(dir, args);
    assert!(
        out.status.success(),
        "rem {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn search_mode_keyword_ranks_by_bm25_without_an_embedder() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let schema = json!({
        "title": "Note", "type": "object",
        "properties": {"title": {"type": "string"}, "body": {"type": "string"}},
        "json_schema_extra": {"key_field": "title", "fulltext_fields": ["title", "body"]}
    });
    let path = tmp.path().join("note.json");
    std::fs::write(&path, schema.to_string()).unwrap();
    ok(&dir, &["schema", "add", path.to_str().unwrap()]);
    for (title, body) in [
        ("disk", "error E1234: the disk is full, the disk"),
        ("net", "connection reset by peer"),
        ("misc", "the disk light blinks"),
    ] {
        ok(
            &dir,
            &[
                "insert",
                "note",
                &json!({"title": title, "body": body}).to_string(),
            ],
        );
    }
    let hits: Value = serde_json::from_str(&ok(
        &dir,
        &["search", "note", "disk", "--mode", "keyword", "--json"],
    ))
    .unwrap();
    let titles: Vec<&str> = hits
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["disk", "misc"]);
    assert!(hits[0]["_score"].as_f64().unwrap() > hits[1]["_score"].as_f64().unwrap());
    let one: Value = serde_json::from_str(&ok(
        &dir,
        &[
            "search", "note", "e1234", "--mode", "keyword", "-k", "1", "--json",
        ],
    ))
    .unwrap();
    assert_eq!(one[0]["title"], "disk");
    // Text output is a table with the score first.
    let table = ok(
        &dir,
        &[
            "search",
            "note",
            "\"connection reset\"",
            "--mode",
            "keyword",
        ],
    );
    assert!(table.contains("_score") && table.contains("net"), "{table}");
    // Bad modes, bad queries and hybrid without an embedder fail with their codes.
    for (args, code) in [
        (
            vec!["search", "note", "disk", "--mode", "fuzzy"],
            "invalid argument",
        ),
        (
            vec!["search", "note", "*", "--mode", "keyword"],
            "invalid argument",
        ),
        (
            vec![
                "search", "note", "disk", "--mode", "keyword", "--alpha", "0.5",
            ],
            "invalid argument",
        ),
    ] {
        let out = rem(&dir, &args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(code), "{args:?}: {err}");
    }
}
