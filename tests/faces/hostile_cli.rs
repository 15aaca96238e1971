//! The `rem` binary against hostile conditions: damaged files, a second process holding the
//! database, reads that must not write, mistyped `--db` paths and options after positionals.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::SystemTime;

use serde_json::Value;
use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_rem");

/// `rem --db DIR ARGS...` with no environment leaking in (also used by `crash_cli`).
pub(crate) fn rem(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    // Embedding off: these tests are about the storage file, and must not depend on (or spend
    // minutes in) the local model; rows keep their text and search still reads the indexes.
    cmd.env_remove("REM_DB")
        .env_remove("REM_TENANT")
        .env_remove("REM_LOCK_TIMEOUT")
        .env("REM_EMBEDDING_MODE", "off")
        .arg("--db")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn run(dir: &Path, args: &[&str]) -> Output {
    rem(dir, args).output().expect("run rem")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Stdout of a command that must succeed.
fn ok(dir: &Path, args: &[&str]) -> String {
    let out = run(dir, args);
    assert!(
        out.status.success(),
        "rem {args:?} failed: {}{}",
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

/// Stderr of a command that must fail with exit code 1 (an error, not a crash).
fn fails(dir: &Path, args: &[&str]) -> String {
    let out = run(dir, args);
    let err = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "rem {args:?}: {}{err}",
        stdout(&out)
    );
    assert!(!err.contains("panicked at"), "rem {args:?} panicked: {err}");
    err
}

/// A database directory holding the built-in tables and a few resources; returns the ids.
fn populated() -> (TempDir, PathBuf, Vec<String>) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("db");
    ok(&dir, &["init"]);
    let rows: Vec<Value> = (0..200)
        .map(|i| {
            serde_json::json!({
                "name": format!("doc-{i}"),
                "content": format!("{i} {}", "lorem ipsum dolor sit amet ".repeat(20)),
            })
        })
        .collect();
    let rows = serde_json::to_string(&rows).unwrap();
    let ids: Value = serde_json::from_str(&ok(&dir, &["insert", "resources", &rows])).unwrap();
    let ids = ids["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    (tmp, dir, ids)
}

fn redb_file(dir: &Path) -> PathBuf {
    dir.join("remdb.redb")
}

/// The pages of `file` that hold anything (zeroing an all-zero page changes nothing).
fn used_pages(file: &Path) -> Vec<usize> {
    let bytes = std::fs::read(file).unwrap();
    bytes
        .chunks(4096)
        .enumerate()
        .filter(|(_, page)| page.iter().any(|b| *b != 0))
        .map(|(i, _)| i)
        .collect()
}

#[test]
fn a_zeroed_page_gives_a_storage_error_naming_the_file_and_check_finds_it() {
    let (tmp, dir, ids) = populated();
    let file = redb_file(&dir);
    let checked = ok(&dir, &["check", "--text"]);
    assert!(checked.starts_with("ok: "), "{checked}");
    let report: Value = serde_json::from_str(&ok(&dir, &["check", "--json"])).unwrap();
    assert!(report["keys"].as_u64().unwrap() > 200, "{report}");
    assert_eq!(report["problems"], serde_json::json!([]));

    let original = std::fs::read(&file).unwrap();
    let pages = used_pages(&file);
    assert!(
        pages.len() > 3,
        "too small a file to damage: {} pages",
        pages.len()
    );
    let (mut failed_reads, mut found_by_check) = (0, 0);
    let damaged_dir = tmp.path().join("damaged");
    for page in pages {
        std::fs::create_dir_all(&damaged_dir).unwrap();
        let mut bytes = original.clone();
        bytes[page * 4096..((page + 1) * 4096).min(original.len())].fill(0);
        let damaged = redb_file(&damaged_dir);
        std::fs::write(&damaged, &bytes).unwrap();
        let name = damaged.display().to_string();
        for args in [
            &["list", "resources"][..],
            &["get", &ids[150]],
            &["count", "resources"],
        ] {
            let out = run(&damaged_dir, args);
            let err = stderr(&out);
            assert!(!err.contains("panicked at"), "page {page}, {args:?}: {err}");
            if !out.status.success() {
                assert_eq!(out.status.code(), Some(1), "page {page}, {args:?}: {err}");
                if err.contains("storage") {
                    failed_reads += 1;
                    assert!(err.contains(&name), "page {page}, {args:?}: {err}");
                }
            }
        }
        let out = run(&damaged_dir, &["check"]);
        let err = stderr(&out);
        assert!(!err.contains("panicked at"), "page {page}, check: {err}");
        if !out.status.success() {
            assert_eq!(out.status.code(), Some(1), "page {page}: {err}");
            assert!(err.contains("is damaged"), "page {page}: {err}");
            assert!(err.contains(&name), "page {page}: {err}");
            found_by_check += 1;
        }
        std::fs::remove_dir_all(&damaged_dir).unwrap();
    }
    assert!(failed_reads > 0, "no zeroed page made a read fail");
    assert!(found_by_check > 0, "check found no zeroed page");
}

#[test]
fn truncated_and_flipped_files_fail_with_storage_errors() {
    let (tmp, dir, _) = populated();
    let original = std::fs::read(redb_file(&dir)).unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated to half", original[..original.len() / 2].to_vec()),
        ("truncated to one page", original[..4096].to_vec()),
        ("header flipped", {
            let mut b = original.clone();
            b[..64].iter_mut().for_each(|x| *x ^= 0xff);
            b
        }),
    ];
    for (what, bytes) in cases {
        let damaged_dir = tmp.path().join("damaged");
        std::fs::create_dir_all(&damaged_dir).unwrap();
        std::fs::write(redb_file(&damaged_dir), &bytes).unwrap();
        let err = fails(&damaged_dir, &["check"]);
        assert!(err.contains("storage"), "{what}: {err}");
        assert!(err.contains("remdb.redb"), "{what}: {err}");
        let out = run(&damaged_dir, &["count", "resources"]);
        assert!(
            !stderr(&out).contains("panicked at"),
            "{what}: {}",
            stderr(&out)
        );
        std::fs::remove_dir_all(&damaged_dir).unwrap();
    }
}

/// A `rem insert resources -` that has opened the database and waits for its stdin.
fn holder(dir: &Path, args: &[&str]) -> Child {
    let mut cmd = rem(dir, args);
    cmd.stdin(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn rem");
    // It holds the lock once it reads stdin; wait until a second writer is refused.
    let mut refused = None;
    for _ in 0..200 {
        let probe = run(
            dir,
            &["--wait", "0", "insert", "resources", r#"{"name": "probe"}"#],
        );
        if !probe.status.success() {
            refused = Some(stderr(&probe));
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    match refused {
        Some(err) if err.contains("already open in another process") => child,
        other => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the holding process never took the lock: {other:?}");
        }
    }
}

fn finish(mut child: Child, input: &[u8]) -> Output {
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn a_second_process_waits_for_the_lock_then_times_out_with_a_clear_message() {
    let (_tmp, dir, _) = populated();
    let held = holder(&dir, &["insert", "resources", "-"]);
    let err = fails(&dir, &["--wait", "0.3", "count", "resources"]);
    assert!(err.contains("still open in another process"), "{err}");
    assert!(err.contains("after waiting 0.3 s"), "{err}");
    assert!(
        err.contains(&redb_file(&dir).display().to_string()),
        "{err}"
    );
    // The environment variable sets the same timeout.
    let mut cmd = rem(&dir, &["count", "resources"]);
    cmd.env("REM_LOCK_TIMEOUT", "0.2");
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("after waiting 0.2 s"),
        "{}",
        stderr(&out)
    );
    let out = finish(held, br#"{"name": "late"}"#);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_second_process_waits_for_the_lock_and_then_succeeds() {
    let (_tmp, dir, _) = populated();
    let held = holder(&dir, &["insert", "resources", "-"]);
    // Waits (default 5 s) while the first still holds the database.
    let waiting = rem(&dir, &["insert", "resources", r#"{"name": "second"}"#])
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let first = finish(held, br#"{"name": "first"}"#);
    assert!(first.status.success(), "{}", stderr(&first));
    let second = waiting.wait_with_output().unwrap();
    assert!(second.status.success(), "{}", stderr(&second));
    let names: Value = serde_json::from_str(&ok(
        &dir,
        &[
            "sql",
            "SELECT name FROM resources WHERE name IN ('first', 'second') ORDER BY name",
        ],
    ))
    .unwrap();
    assert_eq!(
        names,
        serde_json::json!([{"name": "first"}, {"name": "second"}])
    );
}

#[test]
fn readers_share_the_database() {
    let (_tmp, dir, _) = populated();
    // A reader holding the database (`sql -` reads its query from stdin once open)...
    let mut cmd = rem(&dir, &["sql", "-"]);
    cmd.stdin(Stdio::piped());
    let reader = cmd.spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    // ...lets other readers in at once, and the writer waits until it is done.
    assert_eq!(
        ok(&dir, &["--wait", "0", "count", "resources", "--text"]).trim(),
        "200"
    );
    let out = finish(reader, b"SELECT COUNT(*) AS n FROM resources");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), r#"[{"n":200}]"#);
}

/// The bytes and modification time of a file.
fn fingerprint(file: &Path) -> (Vec<u8>, SystemTime) {
    (
        std::fs::read(file).unwrap(),
        std::fs::metadata(file).unwrap().modified().unwrap(),
    )
}

#[test]
fn reading_commands_write_nothing() {
    let (_tmp, dir, ids) = populated();
    let file = redb_file(&dir);
    let before = fingerprint(&file);
    // Coarse file-system clocks would hide a write made within the same tick.
    std::thread::sleep(std::time::Duration::from_millis(50));
    let id = ids[0].as_str();
    for args in [
        &["get", id][..],
        &["list", "resources", "--limit", "2"],
        &["count", "resources"],
        &["find", "resources", "name", "--eq", "doc-1"],
        &["lookup", "doc-1"],
        &["sql", "SELECT name FROM resources LIMIT 1"],
        &["edges", id],
        &["traverse", id],
        &["cycles", id],
        &["info"],
        &["wal", "seq"],
        &["wal", "export", "--limit", "3"],
        &["schema", "list"],
        &["schema", "show", "resources"],
        &["search", "resources", "[0.1, 0.2]", "--vector"],
        &["embeddings", "status"],
        &["check"],
    ] {
        ok(&dir, args);
        assert!(
            fingerprint(&file) == before,
            "`rem {}` changed {}",
            args.join(" "),
            file.display()
        );
    }
    // `path` between two unconnected rows finds nothing, and writes nothing either.
    let _ = run(&dir, &["path", id, &ids[1]]);
    assert!(fingerprint(&file) == before, "`rem path` changed the file");
    // Writes still write.
    ok(&dir, &["insert", "resources", r#"{"name": "new"}"#]);
    assert!(fingerprint(&file).0 != before.0);
}

#[test]
fn a_failed_command_on_a_missing_database_creates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("typo");
    // Reads: a clear not-found error.
    let id = "0190b5e8-0000-7000-8000-000000000000";
    for args in [
        &["get", id][..],
        &["check"],
        &["sql", "SELECT 1"],
        &["wal", "seq"],
    ] {
        let err = fails(&missing, args);
        assert!(err.contains("no database in"), "{args:?}: {err}");
    }
    // Writes that fail remove what their open created.
    for args in [
        &["insert", "nosuch", r#"{"a": 1}"#][..],
        &["update", id, r#"{"a": 1}"#],
        &["delete", id],
        &["schema", "add", "/nonexistent/schema.json"],
    ] {
        fails(&missing, args);
        assert!(
            !missing.exists(),
            "`rem {}` created {}",
            args.join(" "),
            missing.display()
        );
    }
    // An existing empty directory stays, without a database in it.
    std::fs::create_dir(&missing).unwrap();
    fails(&missing, &["insert", "nosuch", r#"{"a": 1}"#]);
    assert!(missing.is_dir());
    assert!(!redb_file(&missing).exists());
    // A write that succeeds creates the database.
    std::fs::remove_dir(&missing).unwrap();
    ok(&missing, &["init"]);
    assert!(redb_file(&missing).is_file());
}

#[test]
fn embed_parses_options_after_the_texts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("none");
    for args in [
        &["embed", "hello", "--provider", "evil:xx"][..],
        &["embed", "hello", "world", "--provider=evil:xx"],
        &["embed", "--provider", "evil:xx", "hello"],
    ] {
        let err = fails(&dir, args);
        assert!(
            err.contains("unknown embedding provider in `evil:xx`"),
            "{args:?}: {err}"
        );
    }
    // A text starting with `-` goes after `--`.
    let err = fails(&dir, &["embed", "--provider", "evil:xx", "--", "-hello"]);
    assert!(err.contains("evil:xx"), "{err}");
    assert!(!dir.exists());
}
