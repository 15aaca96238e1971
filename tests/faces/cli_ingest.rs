//! `rem ingest PATH...`: a folder of every kind from the command line — JSON report when piped,
//! a text summary naming skipped, rejected and lossily decoded files, re-ingest that writes
//! nothing, --prune, --include/--exclude, --table for data files with a bad row named and exit
//! code 1, --dry-run, and no progress output when not on a terminal.

#![cfg(not(target_arch = "wasm32"))]

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

#[path = "../ingest/fixture.rs"]
mod fixture;

const BIN: &str = env!("CARGO_BIN_EXE_rem");

fn rem(db: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .env_remove("REM_DB")
        .env_remove("REM_TENANT")
        .env("REM_EMBEDDING_MODE", "off")
        .arg("--db")
        .arg(db)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run rem")
}

fn ok(db: &Path, args: &[&str]) -> String {
    let out = rem(db, args);
    assert!(
        out.status.success(),
        "rem {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "nothing on stderr when piped: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn seq(db: &Path) -> u64 {
    json(&ok(db, &["wal", "seq"]))["seq"].as_u64().unwrap()
}

#[test]
fn ingest_a_folder_then_again_writes_nothing() {
    let folder = fixture::folder();
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let path = folder.path().to_str().unwrap();
    // The text summary names what was skipped and what was decoded lossily.
    let text = ok(&db, &["ingest", path, "--text"]);
    assert!(text.starts_with("ingested 7 of 11 documents"), "{text}");
    assert!(text.contains("logo.png: binary file"), "{text}");
    assert!(text.contains("data/products.csv: csv data file"), "{text}");
    assert!(text.contains("latin1.txt: invalid UTF-8"), "{text}");
    let after_first = seq(&db);
    let again = json(&ok(&db, &["ingest", path]));
    assert_eq!(
        (again["written"].as_u64(), again["unchanged"].as_u64()),
        (Some(0), Some(7)),
        "{again}"
    );
    assert_eq!(again["skipped"].as_array().unwrap().len(), 4);
    assert!(again.get("moment").is_none(), "{again}");
    assert_eq!(
        seq(&db),
        after_first,
        "an unchanged folder leaves the WAL where it was"
    );
    // Keyword search finds a file's words under its path relative to the folder.
    let hits = json(&ok(
        &db,
        &[
            "search",
            "resources",
            "lanternfish",
            "--mode",
            "keyword",
            "--json",
        ],
    ));
    assert_eq!(hits[0]["uri"], "page.html");
}

#[test]
fn prune_removes_files_that_are_gone_and_a_changed_file_is_rewritten() {
    let folder = fixture::folder();
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let path = folder.path().to_str().unwrap();
    let small = ["--chunk-tokens", "20", "--overlap", "0"];
    ok(&db, &[&["ingest", path][..], &small].concat());
    std::fs::remove_file(folder.path().join("notes.txt")).unwrap();
    std::fs::write(
        folder.path().join("guide.md"),
        "# Field Guide\n\nRewritten entirely.\n",
    )
    .unwrap();
    let without_prune = json(&ok(&db, &[&["ingest", path][..], &small].concat()));
    assert_eq!(
        without_prune["ingested"].as_u64(),
        Some(1),
        "{without_prune}"
    );
    assert!(
        without_prune["deleted"].as_u64().unwrap() > 0,
        "guide.md shrank: {without_prune}"
    );
    let count = |db: &Path| {
        json(&ok(
            db,
            &[
                "sql",
                "SELECT count(*) AS n FROM resources WHERE uri = 'notes.txt'",
            ],
        ))[0]["n"]
            .as_u64()
    };
    let notes = count(&db).unwrap();
    assert!(notes > 1, "notes.txt's chunks stay until --prune");
    let pruned = json(&ok(
        &db,
        &[&["ingest", path, "--prune"][..], &small].concat(),
    ));
    assert_eq!(pruned["deleted"].as_u64(), Some(notes), "{pruned}");
    assert_eq!(count(&db), Some(0));
}

#[test]
fn include_exclude_and_dry_run() {
    let folder = fixture::folder();
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let path = folder.path().to_str().unwrap();
    ok(&db, &["init"]);
    let before = seq(&db);
    let dry = json(&ok(
        &db,
        &[
            "ingest",
            path,
            "--dry-run",
            "--include",
            "*.md",
            "--include",
            "*.html",
        ],
    ));
    assert_eq!(
        (
            dry["documents"].as_u64(),
            dry["ingested"].as_u64(),
            dry["dry_run"].as_bool()
        ),
        (Some(2), Some(2), Some(true))
    );
    assert_eq!(seq(&db), before, "a dry run writes nothing");
    let report = json(&ok(
        &db,
        &[
            "ingest",
            path,
            "--exclude",
            "data/",
            "--exclude",
            "*.png",
            "--chunk-tokens",
            "50",
            "--overlap",
            "5",
        ],
    ));
    assert_eq!(report["documents"], 7, "{report}");
    assert!(report["skipped"].as_array().unwrap().is_empty());
    let chunker = json(&ok(&db, &["sql", "SELECT metadata FROM resources LIMIT 1"]));
    assert_eq!(chunker[0]["metadata"]["chunker"], "chars:200/20");
}

#[test]
fn data_files_load_into_the_named_table_and_a_bad_row_fails_its_file() {
    let folder = fixture::folder();
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let schema = tmp.path().join("product.json");
    std::fs::write(&schema, r#"{"title": "Product", "type": "object",
        "properties": {"sku": {"type": "string"}, "name": {"type": "string"}, "price": {"type": "integer", "minimum": 0}},
        "required": ["sku"], "json_schema_extra": {"key_field": "sku"}}"#).unwrap();
    ok(&db, &["schema", "add", schema.to_str().unwrap()]);
    std::fs::write(
        folder.path().join("data/bad.csv"),
        "sku,name,price\nZ1,ok,1\nZ2,bad,-3\n",
    )
    .unwrap();
    let data = folder.path().join("data");
    let out = rem(
        &db,
        &[
            "ingest",
            data.to_str().unwrap(),
            "--table",
            "product",
            "--text",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("rejected 1:")
            && stdout.contains("bad.csv")
            && stdout.contains("row 2 (line 3)"),
        "{stdout}"
    );
    assert!(stderr.contains("1 document was rejected"), "{stderr}");
    let skus = json(&ok(&db, &["sql", "SELECT count(*) AS n FROM product"]));
    assert_eq!(
        skus[0]["n"], 6,
        "the three good files were written, nothing of bad.csv"
    );
}

#[test]
fn a_missing_path_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let out = rem(&db, &["ingest", tmp.path().join("nope").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
    assert!(!db.exists(), "no database is created for a failed command");
}
