//! The `rem` binary end to end: every command run as a process against a temporary database.

#![cfg(not(target_arch = "wasm32"))]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};
use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_rem");

/// A temporary database directory and helpers to run `rem` against it.
struct Db {
    _tmp: TempDir,
    dir: PathBuf,
}

fn command() -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_remove("REM_DB")
        .env_remove("REM_TENANT")
        .env_remove("REM_LLM")
        .stdin(Stdio::null());
    cmd
}

fn run_with(mut cmd: Command, stdin: Option<&[u8]>) -> Output {
    if stdin.is_some() {
        cmd.stdin(Stdio::piped());
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn rem");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input)
            .expect("write stdin");
    }
    child.wait_with_output().expect("wait for rem")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("utf-8 output")
}

impl Db {
    fn new() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("db");
        Db { _tmp: tmp, dir }
    }

    fn tmp(&self) -> &Path {
        self._tmp.path()
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = command();
        cmd.arg("--db").arg(&self.dir).args(args);
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        run_with(self.cmd(args), None)
    }

    fn run_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        run_with(self.cmd(args), Some(input))
    }

    /// Stdout of a command that must succeed.
    fn ok(&self, args: &[&str]) -> String {
        check_ok(args, self.run(args))
    }

    fn ok_stdin(&self, args: &[&str], input: &[u8]) -> String {
        check_ok(args, self.run_stdin(args, input))
    }

    /// Stdout of a command that must succeed, parsed as JSON.
    fn json(&self, args: &[&str]) -> Value {
        let out = self.ok(args);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("rem {args:?} printed non-JSON ({e}): {out}"))
    }

    /// Stderr of a command that must fail with exit code 1.
    fn fail(&self, args: &[&str]) -> String {
        check_fail(args, self.run(args), 1)
    }

    fn json_stdin(&self, args: &[&str], input: &[u8]) -> Value {
        let out = self.ok_stdin(args, input);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("rem {args:?} printed non-JSON ({e}): {out}"))
    }

    fn init(&self) {
        self.ok(&["init"]);
    }

    fn seq(&self) -> u64 {
        self.json(&["info"])["wal_seq"].as_u64().expect("wal_seq")
    }

    fn count(&self, table: &str) -> u64 {
        self.json(&["count", table])["count"]
            .as_u64()
            .expect("count")
    }

    fn insert(&self, table: &str, data: &Value) -> String {
        let out = self.json(&["insert", table, &data.to_string()]);
        out["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no id in {out}"))
            .to_string()
    }

    fn list(&self, table: &str, extra: &[&str]) -> Vec<Value> {
        let mut args = vec!["list", table];
        args.extend_from_slice(extra);
        match self.json(&args) {
            Value::Array(rows) => rows,
            other => panic!("list printed {other}"),
        }
    }

    /// Writes `content` to a file in the temp dir and returns its path.
    fn file(&self, name: &str, content: &str) -> String {
        let path = self.tmp().join(name);
        std::fs::write(&path, content).expect("write file");
        path.to_string_lossy().into_owned()
    }

    /// Registers the `person` test table: key field `email`, indexed `age` and `team`.
    fn person_schema(&self) {
        let path = self.file(
            "person.json",
            &json!({
                "title": "Person",
                "type": "object",
                "properties": {
                    "email": {"type": "string", "minLength": 3},
                    "name": {"type": "string"},
                    "age": {"type": "integer", "minimum": 0},
                    "team": {"type": "string"},
                    "address": {"type": "object"}
                },
                "required": ["email", "name"],
                "json_schema_extra": {"key_field": "email", "indexed_fields": ["age", "team"], "category": "public"}
            })
            .to_string(),
        );
        self.ok(&["schema", "add", &path]);
    }
}

fn check_ok(args: &[&str], out: Output) -> String {
    assert!(
        out.status.success(),
        "rem {args:?} failed ({:?}): {}",
        out.status.code(),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn check_fail(args: &[&str], out: Output, code: i32) -> String {
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(code),
        "rem {args:?}: stdout {} stderr {stderr}",
        text(&out.stdout)
    );
    assert!(
        !stderr.contains("panicked"),
        "rem {args:?} panicked: {stderr}"
    );
    stderr
}

fn names(tables: &Value) -> Vec<String> {
    let mut names: Vec<String> = tables
        .as_array()
        .expect("array")
        .iter()
        .map(|t| t["name"].as_str().expect("name").to_string())
        .collect();
    names.sort();
    names
}

#[test]
fn init_creates_the_builtin_tables() {
    let db = Db::new();
    let out = db.json(&["init"]);
    assert_eq!(out["tenant"], "default");
    assert_eq!(out["created"], true);
    assert_eq!(
        names(&out["tables"]),
        ["agents", "messages", "moments", "resources", "sessions"]
    );
    let listed = db.json(&["schema", "list"]);
    assert_eq!(
        names(&listed),
        ["agents", "messages", "moments", "resources", "sessions"]
    );
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["category"] == "system"));
    assert_eq!(db.seq(), 5);
    // Idempotent: a second init writes nothing.
    assert_eq!(db.json(&["init"])["created"], false);
    assert_eq!(db.seq(), 5);
    assert!(db.dir.join("remdb.redb").is_file());
    let info = db.json(&["info"]);
    assert_eq!(info["backend"], "redb");
    assert_eq!(info["tenant"], "default");
    assert_eq!(info["tenants"], json!(["default"]));
    assert_eq!(info["tables"].as_array().unwrap().len(), 5);
}

#[test]
fn schema_add_list_by_category_and_show() {
    let db = Db::new();
    db.init();
    db.person_schema();
    assert_eq!(
        names(&db.json(&["schema", "list", "--category", "public"])),
        ["person"]
    );
    assert_eq!(
        names(&db.json(&["schema", "list", "--category", "system"])).len(),
        5
    );
    assert_eq!(
        db.json(&["schema", "list", "--category", "user"]),
        json!([])
    );
    assert_eq!(names(&db.json(&["schema", "list"])).len(), 6);

    let show = db.json(&["schema", "show", "person"]);
    assert_eq!(show["name"], "person");
    assert_eq!(show["category"], "public");
    assert_eq!(show["key_field"], "email");
    assert_eq!(show["indexed_fields"], json!(["age", "team"]));
    // Object keys are kept sorted (rows and schemas alike).
    assert_eq!(
        show["fields"],
        json!(["address", "age", "email", "name", "team"])
    );
    assert_eq!(show["schema"]["title"], "Person");

    // Registering the same schema again writes nothing; the schema can also come from stdin.
    let seq = db.seq();
    let again = std::fs::read(db.tmp().join("person.json")).unwrap();
    assert_eq!(
        db.ok_stdin(&["--text", "schema", "add", "-"], &again)
            .trim(),
        "unchanged table `person` (category public, key field email, indexed: age, team)"
    );
    assert_eq!(db.seq(), seq);

    assert!(db
        .fail(&["schema", "show", "nope"])
        .starts_with("error: unknown table `nope`"));
    let bad = db.file(
        "bad.json",
        r#"{"type": "object", "title": "x", "properties": {"id": {}}}"#,
    );
    assert!(db.fail(&["schema", "add", &bad]).contains("invalid schema"));
    let broken = db.file("broken.json", "{not json");
    assert!(db
        .fail(&["schema", "add", &broken])
        .contains("invalid JSON"));
    assert!(db
        .fail(&["schema", "add", "/no/such/file.json"])
        .contains("cannot read"));
    assert_eq!(db.seq(), seq);
    // A bad category is a usage error.
    check_fail(
        &["schema", "list"],
        db.run(&["schema", "list", "--category", "nope"]),
        2,
    );
}

#[test]
fn insert_prints_the_id_and_get_returns_the_row() {
    let db = Db::new();
    db.init();
    db.person_schema();
    let id = db.insert(
        "person",
        &json!({"email": "ada@x.org", "name": "Ada", "age": 36}),
    );
    assert_eq!(id.len(), 36);
    let row = db.json(&["get", &id]);
    assert_eq!(row["id"], id.as_str());
    assert_eq!(row["name"], "Ada");
    assert_eq!(row["age"], 36);
    assert!(row["created_at"].is_string());
    assert_eq!(row["deleted_at"], Value::Null);

    // Text mode: the bare id.
    let text_id = db.ok(&[
        "--text",
        "insert",
        "resources",
        r#"{"name": "readme", "content": "hi"}"#,
    ]);
    let text_id = text_id.trim();
    assert_eq!(text_id.len(), 36, "{text_id}");
    assert_eq!(db.json(&["get", text_id])["content"], "hi");

    // Unknown and malformed ids.
    let missing = "0190b5e8-0000-7000-8000-000000000000";
    assert!(db.fail(&["get", missing]).contains("not found"));
    assert!(db.fail(&["get", "not-a-uuid"]).contains("not a valid id"));
}

#[test]
fn arrays_insert_many_from_argument_stdin_and_file() {
    let db = Db::new();
    db.init();
    let out = db.json(&["insert", "resources", r#"[{"name": "a"}, {"name": "b"}]"#]);
    assert_eq!(out["ids"].as_array().unwrap().len(), 2);

    let lines = db.ok_stdin(
        &["--text", "insert", "resources", "-"],
        br#"[{"name": "c"}, {"name": "d"}, {"name": "e"}]"#,
    );
    let ids: Vec<&str> = lines.lines().collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(db.json(&["get", ids[2]])["name"], "e");

    let path = db.file("items.json", r#"[{"name": "f"}, {"name": "g"}]"#);
    let out = db.json(&["insert", "resources", &format!("@{path}")]);
    assert_eq!(out["ids"].as_array().unwrap().len(), 2);
    let single = db.file("one.json", r#"{"name": "h"}"#);
    assert!(db.json(&["insert", "resources", &format!("@{single}")])["id"].is_string());
    assert_eq!(db.count("resources"), 8);
    assert!(db
        .fail(&["insert", "resources", "@/no/such/file"])
        .contains("cannot read"));
}

#[test]
fn upsert_by_key_keeps_created_at() {
    let db = Db::new();
    db.init();
    db.person_schema();
    let id = db.insert(
        "person",
        &json!({"email": "ada@x.org", "name": "Ada", "age": 36}),
    );
    let first = db.json(&["get", &id]);
    let again = db.insert(
        "person",
        &json!({"email": "ada@x.org", "name": "Ada L.", "age": 37}),
    );
    assert_eq!(again, id);
    let second = db.json(&["get", &id]);
    assert_eq!(second["created_at"], first["created_at"]);
    assert_ne!(second["modified_at"], first["modified_at"]);
    assert_eq!(second["name"], "Ada L.");
    assert_eq!(second["age"], 37);
    assert_eq!(db.count("person"), 1);
    let log: Vec<Value> = db
        .ok(&["wal", "export"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(log.last().unwrap()["op"], "update");
}

#[test]
fn update_merges_a_patch() {
    let db = Db::new();
    db.init();
    db.person_schema();
    let id = db.insert("person", &json!({"email": "bob@x.org", "name": "Bob", "age": 40, "address": {"city": "Oslo", "zip": "0150"}}));
    let created = db.json(&["get", &id])["created_at"].clone();
    let row = db.json(&[
        "update",
        &id,
        r#"{"age": 41, "address": {"zip": null, "street": "Main"}}"#,
    ]);
    assert_eq!(row["age"], 41);
    assert_eq!(row["name"], "Bob");
    assert_eq!(row["address"], json!({"city": "Oslo", "street": "Main"}));
    assert_eq!(row["created_at"], created);
    assert_eq!(db.json(&["get", &id]), row);

    // A patch from stdin; null removes a field.
    let out = db.run_stdin(&["update", &id, "-"], br#"{"team": "core", "age": null}"#);
    let row: Value = serde_json::from_str(&check_ok(&["update"], out)).unwrap();
    assert_eq!(row["team"], "core");
    assert!(row.get("age").is_none());

    // Invalid patches write nothing.
    let seq = db.seq();
    assert!(db
        .fail(&["update", &id, r#"{"age": -5}"#])
        .contains("at /age"));
    assert!(db
        .fail(&[
            "update",
            &id,
            r#"{"id": "0190b5e8-0000-7000-8000-000000000000"}"#
        ])
        .contains("system field"));
    assert!(db
        .fail(&["update", &id, r#"{"email": "other@x.org"}"#])
        .contains("natural key"));
    assert!(db.fail(&["update", &id, "[1"]).contains("invalid JSON"));
    assert_eq!(db.seq(), seq);
    assert!(db
        .fail(&["update", "0190b5e8-0000-7000-8000-000000000000", "{}"])
        .contains("not found"));
}

#[test]
fn bad_input_exits_1_and_writes_nothing() {
    let db = Db::new();
    db.init();
    db.person_schema();
    db.insert("person", &json!({"email": "ada@x.org", "name": "Ada"}));
    let seq = db.seq();

    let err = db.fail(&["insert", "person", "{not json"]);
    assert!(err.starts_with("error: invalid JSON"), "{err}");
    let err = db.fail(&[
        "insert",
        "person",
        r#"{"email": "bob@x.org", "name": "Bob", "age": -1}"#,
    ]);
    assert!(
        err.starts_with("error: validation failed for table `person`"),
        "{err}"
    );
    assert!(err.contains("at /age"), "{err}");
    // Every issue is listed, one per line.
    let err = db.fail(&[
        "insert",
        "person",
        r#"{"email": "bob@x.org", "age": "old"}"#,
    ]);
    assert_eq!(
        err.lines()
            .filter(|l| l.trim_start().starts_with("- at"))
            .count(),
        2,
        "{err}"
    );
    assert!(err.contains("name"), "{err}");
    // One bad item in an array: nothing of the batch is written, the issue names the item.
    let err = db.fail(&[
        "insert",
        "person",
        r#"[{"email": "c@x.org", "name": "C"}, {"email": "d@x.org", "name": "D", "age": -1}]"#,
    ]);
    assert!(err.contains("at /1/age"), "{err}");
    let err = db.fail(&[
        "insert",
        "person",
        r#"{"email": "e@x.org", "name": "E", "created_at": "now"}"#,
    ]);
    assert!(err.contains("system field"), "{err}");
    let err = db.fail(&["insert", "person", "42"]);
    assert!(err.contains("must be a JSON object"), "{err}");
    let err = db.fail(&["insert", "nope", "{}"]);
    assert!(err.starts_with("error: unknown table `nope`"), "{err}");
    let out = db.run_stdin(&["insert", "person", "-"], b"");
    assert!(check_fail(&["insert"], out, 1).contains("invalid JSON in stdin"));

    assert_eq!(db.count("person"), 1);
    assert_eq!(db.seq(), seq);
    // Usage errors are clap's.
    check_fail(&["frobnicate"], db.run(&["frobnicate"]), 2);
    check_fail(&["insert"], db.run(&["insert", "person"]), 2);
    check_fail(&["--backend"], db.run(&["--backend", "nope", "info"]), 2);
    check_fail(&["list"], db.run(&["list", "person", "--limit", "-1"]), 2);
}

#[test]
fn delete_hides_and_hard_delete_removes() {
    let db = Db::new();
    db.init();
    let keep = db.insert("resources", &json!({"name": "keep"}));
    let gone = db.insert("resources", &json!({"name": "gone"}));
    let out = db.json(&["delete", &gone]);
    assert_eq!(out, json!({"id": gone, "deleted": true, "hard": false}));

    let ids = |rows: Vec<Value>| {
        rows.iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(db.list("resources", &[])), [keep.clone()]);
    assert_eq!(db.count("resources"), 1);
    let all = db.list("resources", &["--include-deleted"]);
    assert_eq!(all.len(), 2);
    assert!(all
        .iter()
        .any(|r| r["id"] == gone.as_str() && r["deleted_at"].is_string()));
    assert_eq!(
        db.json(&["count", "resources", "--include-deleted"])["count"],
        2
    );
    assert!(db.fail(&["get", &gone]).contains("not found"));
    assert_eq!(
        db.json(&["get", &gone, "--include-deleted"])["name"],
        "gone"
    );
    assert!(db.fail(&["delete", &gone]).contains("not found"));

    assert_eq!(
        db.ok(&["--text", "delete", &gone, "--hard"]).trim(),
        format!("purged {gone}")
    );
    assert_eq!(db.list("resources", &["--include-deleted"]).len(), 1);
    assert_eq!(
        db.json(&["count", "resources", "--include-deleted"])["count"],
        1
    );
    assert!(db
        .fail(&["get", &gone, "--include-deleted"])
        .contains("not found"));
    assert!(db.fail(&["delete", &gone, "--hard"]).contains("not found"));
    assert!(db.fail(&["delete", "zzz"]).contains("not a valid id"));
    // A live row can be purged directly.
    db.ok(&["delete", "--hard", &keep]);
    assert_eq!(
        db.json(&["count", "resources", "--include-deleted"])["count"],
        0
    );
}

#[test]
fn list_pages_with_limit_and_offset() {
    let db = Db::new();
    db.init();
    let items: Vec<Value> = (0..7)
        .map(|i| json!({"content": format!("item {i}")}))
        .collect();
    db.ok(&["insert", "resources", &Value::Array(items).to_string()]);
    let contents = |rows: Vec<Value>| {
        rows.iter()
            .map(|r| r["content"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let all = contents(db.list("resources", &[]));
    assert_eq!(all, (0..7).map(|i| format!("item {i}")).collect::<Vec<_>>());
    assert_eq!(contents(db.list("resources", &["--limit", "3"])), all[..3]);
    assert_eq!(
        contents(db.list("resources", &["--limit", "3", "--offset", "3"])),
        all[3..6]
    );
    assert_eq!(contents(db.list("resources", &["--offset", "5"])), all[5..]);
    assert!(db.list("resources", &["--offset", "10"]).is_empty());
    assert!(db.list("resources", &["--limit", "0"]).is_empty());
    assert_eq!(
        db.ok(&["--text", "list", "resources", "--offset", "10"])
            .trim(),
        "(no rows)"
    );
}

/// Runs some of everything in `db`: a schema, inserts, an upsert, an update, deletes.
fn populate(db: &Db) {
    db.init();
    db.person_schema();
    let ada = db.insert(
        "person",
        &json!({"email": "ada@x.org", "name": "Ada", "age": 36, "team": "core"}),
    );
    db.insert(
        "person",
        &json!({"email": "bob@x.org", "name": "Bob", "age": 41}),
    );
    db.insert(
        "person",
        &json!({"email": "ada@x.org", "name": "Ada Lovelace", "age": 36, "team": "core"}),
    );
    let cy = db.insert("person", &json!({"email": "cy@x.org", "name": "Cy"}));
    db.ok(&["update", &ada, r#"{"address": {"city": "London"}}"#]);
    db.ok(&["delete", &cy]);
    let r = db.insert(
        "resources",
        &json!({"name": "doc", "content": "text", "uri": "file:///doc"}),
    );
    db.ok(&["insert", "resources", r#"[{"name": "n1"}, {"name": "n2"}]"#]);
    db.ok(&["delete", "--hard", &r]);
}

fn export(db: &Db, args: &[&str]) -> String {
    let mut all = vec!["wal", "export"];
    all.extend_from_slice(args);
    db.ok(&all)
}

/// `rem --db <from> wal export | rem --db <to> wal apply -`, through a real pipe.
fn pipe_export_into(from: &Db, to: &Db) -> Value {
    let mut export = from.cmd(&["wal", "export"]);
    export.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut producer = export.spawn().expect("spawn export");
    let pipe = producer.stdout.take().expect("export stdout");
    let mut apply = to.cmd(&["wal", "apply", "-"]);
    apply.stdin(Stdio::from(pipe));
    let applied = check_ok(&["wal", "apply", "-"], run_with(apply, None));
    let exported = producer.wait_with_output().expect("wait for export");
    assert!(
        exported.status.success(),
        "export failed: {}",
        text(&exported.stderr)
    );
    serde_json::from_str(&applied).expect("apply report is JSON")
}

#[test]
fn wal_export_apply_replicates_and_is_idempotent() {
    let a = Db::new();
    populate(&a);
    let log = export(&a, &[]);
    let seq = a.seq();
    assert_eq!(log.lines().count() as u64, seq);
    for (i, line) in log.lines().enumerate() {
        let entry: Value = serde_json::from_str(line).expect("each line is one JSON entry");
        assert_eq!(entry["seq"], i as u64 + 1);
    }
    // Always JSON lines, even when text is asked for.
    assert_eq!(export(&a, &["--text"]), log);

    let b = Db::new();
    let report = pipe_export_into(&a, &b);
    assert_eq!(report, json!({"applied": seq, "skipped": 0, "seq": seq}));
    for table in ["person", "resources", "agents"] {
        for flags in [&[][..], &["--include-deleted"][..]] {
            let mut args = vec!["list", table];
            args.extend_from_slice(flags);
            assert_eq!(b.ok(&args), a.ok(&args), "list {table} {flags:?}");
        }
    }
    assert_eq!(export(&b, &[]), log);
    assert_eq!(
        b.json(&["schema", "show", "person"]),
        a.json(&["schema", "show", "person"])
    );
    assert_eq!(b.json(&["info"])["tables"], a.json(&["info"])["tables"]);

    // Applying the same log again changes nothing.
    let again = pipe_export_into(&a, &b);
    assert_eq!(again, json!({"applied": 0, "skipped": seq, "seq": seq}));
    assert_eq!(export(&b, &[]), log);

    // Incremental sync: new writes in `a` travel with --since, from a file this time.
    a.insert("person", &json!({"email": "dee@x.org", "name": "Dee"}));
    let tail = export(&a, &["--since", &seq.to_string()]);
    assert_eq!(tail.lines().count(), 1);
    let file = b.file("tail.jsonl", &tail);
    let report = b.ok(&["--text", "wal", "apply", &file]);
    assert_eq!(
        report.trim(),
        format!("applied 1, skipped 0; wal seq is now {}", seq + 1)
    );
    assert_eq!(b.ok(&["list", "person"]), a.ok(&["list", "person"]));
}

#[test]
fn wal_apply_refuses_gaps_divergence_and_garbage() {
    let a = Db::new();
    populate(&a);
    let seq = a.seq();
    let b = Db::new();

    // A gap: entries from seq 4 into an empty tenant.
    let tail = export(&a, &["--since", "3"]);
    let err = check_fail(
        &["wal", "apply"],
        b.run_stdin(&["wal", "apply", "-"], tail.as_bytes()),
        1,
    );
    assert!(err.contains("gap"), "{err}");
    // Nothing written: not even the database the failed apply opened.
    assert!(!b.dir.exists(), "a failed apply left {}", b.dir.display());

    // Paging with --limit, then the rest.
    let head = export(&a, &["--limit", "3"]);
    assert_eq!(head.lines().count(), 3);
    assert_eq!(
        b.json_stdin(&["wal", "apply", "-"], head.as_bytes())["seq"],
        3
    );
    assert_eq!(
        b.json_stdin(&["wal", "apply", "-"], tail.as_bytes())["seq"],
        seq
    );
    assert_eq!(export(&b, &[]), export(&a, &[]));

    // A divergent history is refused.
    let c = Db::new();
    c.init();
    c.insert("resources", &json!({"name": "other"}));
    let c_seq = c.seq();
    let err = check_fail(
        &["wal", "apply"],
        c.run_stdin(&["wal", "apply", "-"], export(&a, &[]).as_bytes()),
        1,
    );
    assert!(err.contains("diverged"), "{err}");
    assert_eq!(c.seq(), c_seq);

    // Garbage lines name their line number and write nothing.
    let mut bad = export(&a, &["--limit", "2"]);
    bad.push_str("\n{\"seq\": 3, \"nonsense\": true}\n");
    let d = Db::new();
    let err = check_fail(
        &["wal", "apply"],
        d.run_stdin(&["wal", "apply", "-"], bad.as_bytes()),
        1,
    );
    assert!(err.contains("line 4"), "{err}");
    assert!(!d.dir.exists(), "a failed apply left {}", d.dir.display());
    assert!(d
        .fail(&["wal", "apply", "/no/such/file"])
        .contains("cannot read"));
}

#[test]
fn wal_compact_drops_old_entries() {
    let a = Db::new();
    populate(&a);
    let seq = a.seq();
    a.ok(&["wal", "compact", "--before", "4"]);
    assert!(a.fail(&["wal", "export"]).contains("compacted"));
    let rest = export(&a, &["--since", "3"]);
    assert_eq!(rest.lines().count() as u64, seq - 3);
    let first: Value = serde_json::from_str(rest.lines().next().unwrap()).unwrap();
    assert_eq!(first["seq"], 4);
    assert_eq!(a.seq(), seq);
    assert!(a
        .fail(&["wal", "compact", "--before", &(seq + 5).to_string()])
        .contains("cannot compact"));
    check_fail(&["wal", "compact"], a.run(&["wal", "compact"]), 2);
}

#[test]
fn tenants_are_isolated() {
    let db = Db::new();
    db.ok(&["--tenant", "a", "init"]);
    db.ok(&["--tenant", "b", "init"]);
    let id = {
        let out = db.json(&[
            "--tenant",
            "a",
            "insert",
            "resources",
            r#"{"name": "secret"}"#,
        ]);
        out["id"].as_str().unwrap().to_string()
    };
    assert_eq!(
        db.json(&["--tenant", "a", "count", "resources"])["count"],
        1
    );
    assert_eq!(
        db.json(&["--tenant", "b", "count", "resources"])["count"],
        0
    );
    assert_eq!(db.json(&["--tenant", "b", "list", "resources"]), json!([]));
    assert!(db
        .fail(&["--tenant", "b", "get", &id])
        .contains("not found"));
    assert!(db
        .fail(&["--tenant", "b", "delete", &id])
        .contains("not found"));
    assert!(db
        .fail(&["--tenant", "default", "count", "resources"])
        .contains("unknown table"));
    assert_eq!(db.json(&["--tenant", "a", "get", &id])["name"], "secret");
    let info = db.json(&["--tenant", "b", "info"]);
    assert_eq!(info["tenant"], "b");
    assert_eq!(info["tenants"], json!(["a", "b"]));
    assert_eq!(info["wal_seq"], 5);
    // The global options may follow the command too.
    assert_eq!(
        db.json(&["count", "resources", "--tenant", "a"])["count"],
        1
    );
    assert!(db.fail(&["--tenant", "", "info"]).contains("tenant name"));

    // REM_DB and REM_TENANT stand in for --db and --tenant.
    let mut cmd = command();
    cmd.env("REM_DB", &db.dir)
        .env("REM_TENANT", "a")
        .args(["count", "resources"]);
    let out: Value = serde_json::from_str(&check_ok(&["count"], run_with(cmd, None))).unwrap();
    assert_eq!(out["count"], 1);
    let mut cmd = command();
    cmd.env("REM_DB", &db.dir)
        .env("REM_TENANT", "a")
        .args(["--tenant", "b", "count", "resources"]);
    let out: Value = serde_json::from_str(&check_ok(&["count"], run_with(cmd, None))).unwrap();
    assert_eq!(out["count"], 0);
}

#[test]
fn piped_output_is_json_and_text_mode_is_a_table() {
    let db = Db::new();
    db.init();
    let long = "x".repeat(100);
    let id = db.insert(
        "resources",
        &json!({"name": "doc", "content": long, "metadata": {"tags": ["a", "b"]}}),
    );

    // Piped stdout without --json is JSON, the same as with --json.
    for args in [
        &["list", "resources"][..],
        &["get", &id],
        &["count", "resources"],
        &["schema", "list"],
        &["info"],
    ] {
        let plain = db.ok(args);
        let mut with_flag = vec!["--json"];
        with_flag.extend_from_slice(args);
        assert_eq!(plain, db.ok(&with_flag), "{args:?}");
        serde_json::from_str::<Value>(&plain)
            .unwrap_or_else(|e| panic!("{args:?} printed non-JSON ({e}): {plain}"));
    }
    check_fail(
        &["--json", "--text"],
        db.run(&["--json", "--text", "info"]),
        2,
    );

    // Text mode: an aligned table, `id` first, long cells cut, nested values as compact JSON.
    let table = db.ok(&["--text", "list", "resources"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(header[..4], ["id", "content", "metadata", "name"]);
    assert_eq!(
        header[header.len() - 3..],
        ["created_at", "modified_at", "deleted_at"]
    );
    assert!(header.contains(&"created_at"));
    assert!(lines[1].starts_with("----"));
    assert!(lines[2].starts_with(&id));
    let content_col = lines[0].find("content").unwrap();
    assert_eq!(
        lines[2]
            .chars()
            .skip(content_col)
            .take(40)
            .collect::<String>(),
        format!("{}…", "x".repeat(39))
    );
    assert!(lines[2].contains(r#"{"tags":["a","b"]}"#), "{table}");
    assert_eq!(lines[3], "(1 row)");
    assert!(lines.iter().all(|l| !l.ends_with(' ')));

    assert_eq!(db.ok(&["--text", "count", "resources"]).trim(), "1");
    let pretty = db.ok(&["--text", "get", &id]);
    assert!(
        pretty.lines().count() > 3,
        "text get is pretty JSON: {pretty}"
    );
    assert_eq!(
        serde_json::from_str::<Value>(&pretty).unwrap()["name"],
        "doc"
    );
    let info = db.ok(&["--text", "info"]);
    assert!(info.contains("backend  redb"), "{info}");
    assert!(
        info.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["resources", "system", "1", "1"]),
        "{info}"
    );
    let schemas = db.ok(&["--text", "schema", "list"]);
    assert!(
        schemas.lines().next().unwrap().starts_with("name"),
        "{schemas}"
    );
}

#[test]
fn memory_backend_and_backend_detection() {
    let db = Db::new();
    // The memory backend keeps nothing between runs and touches no files.
    let out = db.json(&["--backend", "memory", "init"]);
    assert_eq!(out["created"], true);
    let info = db.json(&["--backend", "memory", "info"]);
    assert_eq!(info["backend"], "memory");
    assert_eq!(info["path"], Value::Null);
    assert_eq!(info["wal_seq"], 0);
    assert!(!db.dir.exists());
    // An explicit redb open, then detection of it.
    db.ok(&["--backend", "redb", "init"]);
    assert_eq!(db.json(&["info"])["backend"], "redb");
    assert_eq!(
        db.json(&["info"])["path"],
        std::fs::canonicalize(&db.dir)
            .unwrap()
            .to_string_lossy()
            .as_ref()
    );
}

#[test]
fn find_uses_the_index_and_lookup_finds_keys() {
    let db = Db::new();
    db.init();
    db.person_schema();
    for (i, team) in ["core", "web", "core", "ops"].iter().enumerate() {
        db.insert("person", &json!({"email": format!("p{i}@x.io"), "name": format!("P{i}"), "age": 30 + i, "team": team}));
    }
    let emails = |rows: Value| {
        rows.as_array()
            .unwrap()
            .iter()
            .map(|r| r["email"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let mut core = emails(db.json(&["find", "person", "team", "--eq", "core"]));
    core.sort(); // equal values come in id order
    assert_eq!(core, vec!["p0@x.io", "p2@x.io"]);
    assert_eq!(
        emails(db.json(&["find", "person", "team", "--in", "web", "ops"])).len(),
        2
    );
    assert_eq!(
        emails(db.json(&["find", "person", "age", "--gt", "30", "--lte", "32"])),
        vec!["p1@x.io", "p2@x.io"]
    );
    assert_eq!(
        emails(db.json(&["find", "person", "age", "--eq", "31.0"])),
        vec!["p1@x.io"]
    );
    let err = db.fail(&["find", "person", "name", "--eq", "P1"]);
    assert!(err.contains("not an indexed field"), "{err}");
    let err = db.fail(&["find", "person", "team"]);
    assert!(err.contains("exactly one of"), "{err}");
    db.insert("agents", &json!({"name": "planner"}));
    let hits = db.json(&["lookup", "planner", "p3@x.io", "nobody"]);
    let tables: Vec<&str> = hits
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["table"].as_str().unwrap())
        .collect();
    assert_eq!(tables, vec!["agents", "person"]);
    assert_eq!(hits[1]["row"]["team"], "ops");
}

#[test]
fn reading_commands_do_not_create_a_database() {
    let db = Db::new();
    let missing = db.tmp().join("typo");
    let path = missing.to_string_lossy().into_owned();
    for args in [
        &["info"][..],
        &["list", "resources"],
        &["count", "resources"],
        &["wal", "export"],
        &["schema", "list"],
    ] {
        let mut full = vec!["--db", path.as_str()];
        full.extend_from_slice(args);
        let mut cmd = command();
        cmd.args(&full);
        let out = run_with(cmd, None);
        let err = check_fail(&full, out, 1);
        assert!(err.contains("no database in"), "{args:?}: {err}");
    }
    assert!(!missing.exists(), "a read created {path}");
    let mut init = command();
    init.args(["--db", path.as_str(), "init"]);
    check_ok(&["init"], run_with(init, None));
    assert!(missing.exists());
}

#[test]
fn sql_prints_rows_in_column_order_with_params_and_explain() {
    let db = Db::new();
    db.person_schema();
    for (email, name, age, team) in [
        ("a@x", "Ada", 36, "core"),
        ("b@x", "Bob", 25, "web"),
        ("c@x", "Cy", 41, "core"),
    ] {
        db.insert(
            "person",
            &json!({"email": email, "name": name, "age": age, "team": team}),
        );
    }
    let rows = db.json(&[
        "sql",
        "SELECT name, age FROM person WHERE team = $1 ORDER BY age DESC",
        "-p",
        "core",
    ]);
    assert_eq!(
        rows,
        json!([{"name": "Cy", "age": 41}, {"name": "Ada", "age": 36}])
    );
    let raw = db.ok(&[
        "--json",
        "sql",
        "SELECT team, COUNT(*) AS n FROM person GROUP BY team ORDER BY n DESC, team",
    ]);
    assert_eq!(
        raw.trim(),
        r#"[{"team":"core","n":2},{"team":"web","n":1}]"#
    );
    let rows = db.json(&[
        "sql",
        "SELECT name FROM person WHERE age > ? AND age < ?",
        "-p",
        "30",
        "-p",
        "40",
    ]);
    assert_eq!(rows, json!([{"name": "Ada"}]));
    let query = db.file(
        "q.sql",
        "SELECT email\n  FROM person\n WHERE name = 'Bob'\n",
    );
    assert_eq!(
        db.json(&["sql", &format!("@{query}")]),
        json!([{"email": "b@x"}])
    );
    assert_eq!(
        db.json_stdin(&["sql", "-"], b"LOOKUP 'a@x'")[0]["name"],
        json!("Ada")
    );
    let text = db.ok(&[
        "--text",
        "sql",
        "SELECT name, age FROM person ORDER BY name",
    ]);
    assert!(
        text.contains("name") && text.contains("Ada") && text.contains("(3 rows)"),
        "{text}"
    );
    let plan = db.ok(&[
        "--text",
        "sql",
        "EXPLAIN SELECT name FROM person WHERE team = 'core'",
    ]);
    assert!(
        plan.contains("Index scan person using team = 'core' (est. 2 rows)"),
        "{plan}"
    );
    let err = db.fail(&["sql", "SELECT nope FROM person"]);
    assert!(
        err.contains("error:") && err.contains("unknown column `nope`") && err.contains("email"),
        "{err}"
    );
    let err = db.fail(&["sql", "DELETE FROM person"]);
    assert!(err.contains("not supported"), "{err}");
    assert_eq!(db.count("person"), 3);
}

/// A small support desk for `rem ask`: tickets with keys, a status enum and assignees.
fn support_desk() -> Db {
    let db = Db::new();
    db.ok(&["init"]);
    db.ok_stdin(
        &["schema", "add", "-"],
        br#"{"title": "Ticket", "type": "object",
            "properties": {"key": {"type": "string"}, "status": {"enum": ["open", "closed"]},
                           "opened_at": {"type": "string", "format": "date-time"}},
            "json_schema_extra": {"short_name": "tickets", "key_field": "key", "indexed_fields": ["status"]}}"#,
    );
    db.ok_stdin(
        &["schema", "add", "-"],
        br#"{"title": "Person", "type": "object", "properties": {"name": {"type": "string"}},
            "json_schema_extra": {"short_name": "people", "key_field": "name"}}"#,
    );
    db.ok_stdin(
        &["insert", "tickets", "-"],
        br#"[{"key": "TAP-1", "status": "open", "opened_at": "2026-01-02T00:00:00Z"},
             {"key": "TAP-2", "status": "closed", "opened_at": "2026-01-03T00:00:00Z"},
             {"key": "TAP-3", "status": "open", "opened_at": "2026-01-04T00:00:00Z"}]"#,
    );
    db.ok(&["insert", "people", r#"{"name": "Ada Lovelace"}"#]);
    let ticket = db.json(&["lookup", "TAP-3"])[0]["row"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ada = db.json(&["lookup", "Ada Lovelace"])[0]["row"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    db.ok(&["edge", "add", &ticket, &ada, "assigned_to"]);
    db
}

#[test]
fn ask_answers_with_plan_confidence_and_rows() {
    let db = support_desk();
    let a = db.json(&["ask", "how many open tickets"]);
    assert_eq!(a["status"], "ok");
    assert_eq!(a["intent"], "aggregate");
    assert_eq!(a["planner"], "offline");
    assert_eq!(a["rows"], json!([{"count": 2}]));
    assert!(a["confidence"].as_f64().unwrap() >= 0.7, "{a}");
    assert!(
        a["stages"][0]["query"]
            .as_str()
            .unwrap()
            .starts_with("SELECT COUNT(*)"),
        "{a}"
    );

    let a = db.json(&["ask", "tap 3"]);
    assert_eq!(a["intent"], "entity_lookup");
    assert_eq!(a["rows"][0]["key"], "TAP-3");
    assert_eq!(a["rows"][0]["_table"], "tickets");

    let a = db.json(&["ask", "tickets assigned to Ada Lovelace"]);
    assert_eq!(a["intent"], "graph");
    assert_eq!(a["rows"].as_array().unwrap().len(), 1, "{a}");
    assert_eq!(a["rows"][0]["key"], "TAP-3");

    let text = db.ok(&["--text", "ask", "open tickets"]);
    assert!(text.starts_with("ok · sql · confidence"), "{text}");
    assert!(
        text.contains("planner offline (no LLM configured"),
        "{text}"
    );
    assert!(
        text.contains("TAP-1") && text.contains("TAP-3") && !text.contains("TAP-2"),
        "{text}"
    );

    let plan = db.json(&["ask", "--plan", "open tickets"]);
    assert_eq!(plan["plan"]["stages"][0]["kind"], "select");
    assert_eq!(plan["rows"], json!([]));
}

#[test]
fn ask_refuses_writes_and_declines_what_it_cannot_ground() {
    let db = support_desk();
    let seq = db.json(&["wal", "seq"])["seq"].clone();
    let a = db.json(&["ask", "delete every closed ticket"]);
    assert_eq!(a["status"], "refused");
    assert_eq!(db.json(&["wal", "seq"])["seq"], seq);
    assert_eq!(db.count("tickets"), 3);
    let a = db.json(&["ask", "--offline", "tickets not assigned to anyone"]);
    assert_eq!(a["status"], "unanswerable");
    assert!(a["confidence"].as_f64().unwrap() < 0.3);
    let err = db.fail(&["ask", "--table", "nope", "open tickets"]);
    assert!(err.contains("unknown table `nope`"), "{err}");
    let err = db.fail(&["ask", "--max-stages", "7", "open tickets"]);
    assert!(err.contains("max_stages must be 1–3"), "{err}");
}
