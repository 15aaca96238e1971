//! The graph commands of `rem` end to end: `edge add|rm`, `edges`, `traverse`, `path`,
//! `cycles`, run as processes against a temporary database.

#![cfg(not(target_arch = "wasm32"))]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};
use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_rem");

struct Db {
    _tmp: TempDir,
    dir: PathBuf,
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("utf-8 output")
}

impl Db {
    /// A database with the built-in tables and agents a..e.
    fn new() -> (Self, Ids) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("db");
        let db = Db { _tmp: tmp, dir };
        db.ok(&["init"]);
        let mut ids = Ids::default();
        for name in ["a", "b", "c", "d", "e"] {
            let out = db.json(&["insert", "agents", &json!({"name": name}).to_string()]);
            ids.0
                .push((name.to_string(), out["id"].as_str().unwrap().to_string()));
        }
        (db, ids)
    }

    fn run_in(&self, dir: &PathBuf, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let mut cmd = Command::new(BIN);
        cmd.env_remove("REM_DB")
            .env_remove("REM_TENANT")
            .arg("--db")
            .arg(dir)
            .args(args);
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn rem");
        if let Some(input) = stdin {
            child.stdin.take().unwrap().write_all(input).unwrap();
        }
        child.wait_with_output().expect("wait")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run_in(&self.dir, args, None);
        assert!(
            out.status.success(),
            "rem {args:?} failed: {}",
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.ok(args);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("rem {args:?} printed non-JSON ({e}): {out}"))
    }

    /// Stderr of a command that must fail with `code`.
    fn fail(&self, args: &[&str], code: i32) -> String {
        let out = self.run_in(&self.dir, args, None);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "rem {args:?}: {stderr}");
        assert!(!stderr.contains("panicked"));
        stderr
    }
}

#[derive(Default)]
struct Ids(Vec<(String, String)>);

impl Ids {
    fn id(&self, name: &str) -> &str {
        &self.0.iter().find(|(n, _)| n == name).unwrap().1
    }

    fn name(&self, id: &str) -> &str {
        &self.0.iter().find(|(_, i)| i == id).unwrap().0
    }

    /// Paths of a JSON result as `a>b>c`.
    fn paths(&self, v: &Value) -> Vec<String> {
        let mut out: Vec<String> = v["paths"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                p["nodes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|n| self.name(n.as_str().unwrap()))
                    .collect::<Vec<_>>()
                    .join(">")
            })
            .collect();
        out.sort();
        out
    }
}

/// a→b (calls, weight 5), b→c, c→d (calls), a→d (reports_to, weight 1), d→a (calls).
fn graph() -> (Db, Ids) {
    let (db, ids) = Db::new();
    let add = |s: &str, d: &str, rel: &str, props: Option<&str>| {
        let mut args = vec!["edge", "add", ids.id(s), ids.id(d), rel];
        if let Some(p) = props {
            args.extend(["--props", p]);
        }
        db.json(&args)
    };
    let e = add("a", "b", "calls", Some(r#"{"weight": 5}"#));
    assert_eq!(e["properties"]["weight"], 5);
    assert_eq!(e["src"], ids.id("a"));
    add("b", "c", "calls", None);
    add("c", "d", "calls", None);
    add("a", "d", "reports_to", Some(r#"{"weight": 1}"#));
    add("d", "a", "calls", None);
    (db, ids)
}

#[test]
fn edge_add_list_and_remove() {
    let (db, ids) = graph();
    let all = db.json(&["edges", ids.id("a")]);
    assert_eq!(
        all.as_array().unwrap().len(),
        3,
        "out and in by default: {all}"
    );
    let out = db.json(&["edges", ids.id("a"), "--direction", "out", "--rel", "calls"]);
    assert_eq!(out.as_array().unwrap().len(), 1);
    assert_eq!(out[0]["dst"], ids.id("b"));
    let incoming = db.json(&["edges", ids.id("a"), "--direction", "in"]);
    assert_eq!(incoming[0]["src"], ids.id("d"));
    let table = db.ok(&["--text", "edges", ids.id("a")]);
    assert!(table.starts_with("src"), "{table}");
    assert!(
        table.contains("reports_to") && table.contains(r#"{"weight":1}"#),
        "{table}"
    );
    assert!(table.trim_end().ends_with("(3 edges)"));
    let removed = db.json(&["edge", "rm", ids.id("a"), ids.id("b"), "calls"]);
    assert_eq!(removed["removed"], true);
    assert_eq!(
        db.json(&["edges", ids.id("a"), "--direction", "out"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(db
        .fail(&["edge", "rm", ids.id("a"), ids.id("b"), "calls"], 1)
        .starts_with("error: not found"));
}

#[test]
fn bad_edges_fail_cleanly() {
    let (db, ids) = Db::new();
    let ghost = "0190a0a0-0000-7000-8000-000000000000";
    assert!(db
        .fail(&["edge", "add", ids.id("a"), ghost, "r"], 1)
        .contains("no entity with id"));
    assert!(db
        .fail(
            &[
                "edge",
                "add",
                ids.id("a"),
                ids.id("b"),
                "r",
                "--props",
                "[1]"
            ],
            1
        )
        .contains("must be an object"));
    assert!(db
        .fail(
            &[
                "edge",
                "add",
                ids.id("a"),
                ids.id("b"),
                "r",
                "--props",
                "{nope"
            ],
            1
        )
        .contains("invalid JSON"));
    assert!(db
        .fail(&["edges", ids.id("a"), "--direction", "sideways"], 2)
        .contains("unknown direction"));
    assert!(db
        .fail(&["traverse", ids.id("a"), "--strategy", "random"], 2)
        .contains("bfs or dfs"));
    assert!(db.fail(&["edges", ghost], 1).contains("not found"));
    // Reading commands never create a database.
    let missing = tempfile::tempdir().unwrap();
    let out = db.run_in(
        &missing.path().join("none"),
        &["traverse", ids.id("a")],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(!missing.path().join("none").exists());
}

#[test]
fn traverse_prints_paths() {
    let (db, ids) = graph();
    let bfs = db.json(&["traverse", ids.id("a"), "--depth", "2"]);
    assert_eq!(ids.paths(&bfs), vec!["a>b", "a>b>c", "a>d"]);
    assert_eq!(bfs["rows"][ids.id("c")]["name"], "c");
    assert_eq!(bfs["truncated"], false);
    let dfs = db.json(&["traverse", ids.id("a"), "--depth", "3", "--strategy", "dfs"]);
    assert_eq!(ids.paths(&dfs), vec!["a>b", "a>b>c", "a>b>c>d", "a>d"]);
    let calls = db.json(&["traverse", ids.id("a"), "--depth", "9", "--rel", "calls"]);
    assert_eq!(ids.paths(&calls), vec!["a>b", "a>b>c", "a>b>c>d"]);
    let two_rels = db.json(&[
        "traverse",
        ids.id("b"),
        "--rel",
        "calls",
        "--rel",
        "reports_to",
        "--direction",
        "in",
        "--depth",
        "1",
    ]);
    assert_eq!(ids.paths(&two_rels), vec!["b>a"]);
    let both = db.json(&[
        "traverse",
        ids.id("c"),
        "--direction",
        "both",
        "--depth",
        "1",
    ]);
    assert_eq!(ids.paths(&both), vec!["c>b", "c>d"]);
    let target = db.json(&[
        "traverse",
        ids.id("a"),
        "--target",
        ids.id("c"),
        "--depth",
        "5",
    ]);
    assert_eq!(ids.paths(&target), vec!["a>b>c"]);
    let text = db.ok(&["--text", "traverse", ids.id("a"), "--depth", "1"]);
    assert!(text.contains("a -[calls]-> b"), "{text}");
    assert!(text.contains("a -[reports_to]-> d"), "{text}");
    assert!(text.trim_end().ends_with("(2 paths)"));
    let text = db.ok(&[
        "--text",
        "traverse",
        ids.id("a"),
        "--direction",
        "in",
        "--depth",
        "1",
    ]);
    assert!(text.contains("a <-[calls]- d"), "{text}");
    let limited = db.ok(&["--text", "traverse", ids.id("a"), "--limit", "1"]);
    assert!(limited.contains("(1 path, truncated"), "{limited}");
}

#[test]
fn path_shortest_weighted_all_and_count() {
    let (db, ids) = graph();
    let short = db.json(&["path", ids.id("a"), ids.id("c")]);
    assert_eq!(ids.paths(&short), vec!["a>b>c"]);
    let to_d = db.json(&["path", ids.id("a"), ids.id("d")]);
    assert_eq!(ids.paths(&to_d), vec!["a>d"]);
    // Weighted: a→b costs 5, so a→d (1) then d→a... no: a→c is only reachable through b.
    let w = db.json(&["path", ids.id("a"), ids.id("c"), "--weighted"]);
    assert_eq!(w["paths"][0]["cost"], 6.0);
    let w = db.json(&[
        "path",
        ids.id("b"),
        ids.id("d"),
        "--weighted",
        "--direction",
        "both",
    ]);
    assert_eq!(ids.paths(&w), vec!["b>c>d"], "cost 2 beats b-a-d (6)");
    let all = db.json(&["path", ids.id("a"), ids.id("d"), "--all"]);
    assert_eq!(ids.paths(&all), vec!["a>b>c>d", "a>d"]);
    let all = db.json(&[
        "path",
        ids.id("a"),
        ids.id("d"),
        "--all",
        "--max-depth",
        "2",
    ]);
    assert_eq!(ids.paths(&all), vec!["a>d"]);
    assert_eq!(
        db.json(&["path", ids.id("a"), ids.id("d"), "--count"])["count"],
        2
    );
    let text = db.ok(&["--text", "path", ids.id("a"), ids.id("c"), "--weighted"]);
    assert!(
        text.contains("cost") && text.contains("a -[calls]-> b -[calls]-> c"),
        "{text}"
    );
    assert!(db
        .fail(&["path", ids.id("a"), ids.id("e")], 1)
        .contains("no path"));
    assert_eq!(
        db.json(&["path", ids.id("a"), ids.id("e"), "--all"])["paths"],
        json!([])
    );
    db.fail(
        &["path", ids.id("a"), ids.id("e"), "--all", "--weighted"],
        2,
    );
}

#[test]
fn cycles_by_entity_and_table() {
    let (db, ids) = graph();
    let through_a = db.json(&["cycles", ids.id("a")]);
    assert_eq!(ids.paths(&through_a), vec!["a>b>c>d>a", "a>d>a"]);
    let table = db.json(&["cycles", "--table", "agents"]);
    assert!(!table["paths"].as_array().unwrap().is_empty());
    // One cycle over calls; where it starts depends on the search order.
    let only_calls = db.json(&["cycles", "--table", "agents", "--rel", "calls"]);
    let found = ids.paths(&only_calls);
    assert_eq!(found.len(), 1);
    let mut members: Vec<&str> = found[0].split('>').skip(1).collect();
    members.sort();
    assert_eq!(members, vec!["a", "b", "c", "d"]);
    let everywhere = db.json(&["cycles"]);
    assert_eq!(
        everywhere["paths"].as_array().unwrap().len(),
        table["paths"].as_array().unwrap().len()
    );
    let text = db.ok(&["--text", "cycles", ids.id("e")]);
    assert_eq!(text.trim(), "(0 cycles)");
    db.ok(&["edge", "rm", ids.id("d"), ids.id("a"), "calls"]);
    assert_eq!(
        db.json(&["cycles", "--table", "agents"])["paths"],
        json!([])
    );
    assert!(db
        .fail(&["cycles", "--table", "nope"], 1)
        .contains("unknown table"));
}

#[test]
fn edges_replicate_through_wal_export_and_apply() {
    let (db, ids) = graph();
    db.ok(&["delete", "--hard", ids.id("b")]);
    let log = db.ok(&["wal", "export"]);
    assert!(log.contains(r#""op":"link""#));
    assert!(
        !log.contains(r#""op":"unlink""#),
        "the purge's cascade is not logged separately"
    );
    let replica = tempfile::tempdir().unwrap();
    let dir = replica.path().join("r");
    let out = db.run_in(&dir, &["wal", "apply", "-"], Some(log.as_bytes()));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = db.run_in(&dir, &["traverse", ids.id("a"), "--depth", "3"], None);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        ids.paths(&v),
        vec!["a>d"],
        "b and its edges are gone on the replica too"
    );
}
