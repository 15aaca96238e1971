//! Damaged and shared database files: a zeroed page, truncation and flipped bytes give typed
//! `STORAGE` errors naming the file (never a panic), `Database::check` finds the damage, and a
//! read-only open writes nothing.

use std::path::{Path, PathBuf};

use remdb::kv::{Backend, Kv, KvOptions, RedbKv};
use remdb::{Database, Error, ListOptions, OpenOptions};
use serde_json::json;

fn redb_options(read_only: bool) -> OpenOptions {
    OpenOptions {
        backend: Some(Backend::Redb),
        embedding_mode: Some(remdb::vector::EmbedMode::Off),
        read_only,
        ..OpenOptions::default()
    }
}

/// A redb database with the built-in tables and 300 resources, closed.
fn populated() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let db = Database::open_with(&dir, &redb_options(false)).unwrap();
    let t = db.tenant("default").unwrap();
    t.init().unwrap();
    let rows: Vec<_> = (0..300)
        .map(|i| json!({"name": format!("doc-{i}"), "content": "lorem ipsum ".repeat(40)}))
        .collect();
    t.insert_many("resources", rows).unwrap();
    drop(t);
    drop(db);
    (tmp, dir)
}

fn file(dir: &Path) -> PathBuf {
    dir.join("remdb.redb")
}

/// Opens the database in `dir` and reads every resource; `Err` is whatever failed first.
fn read_all(dir: &Path, read_only: bool) -> Result<usize, Error> {
    let db = Database::open_with(dir, &redb_options(read_only))?;
    let t = db.tenant("default")?;
    let rows = t.list("resources", &ListOptions::default())?;
    t.count("resources", false)?;
    Ok(rows.len())
}

/// A damage must be a `STORAGE` error; one raised by redb names the file.
fn assert_typed(what: &str, e: &Error, path: &Path) {
    assert_eq!(e.code(), "STORAGE", "{what}: {e}");
    let message = e.to_string();
    assert!(!message.contains("panicked at"), "{what}: {message}");
    if message.contains("redb") || message.contains("damaged") {
        assert!(
            message.contains(&path.display().to_string()),
            "{what}: {message}"
        );
    }
}

/// Writes `bytes` as the database of a fresh directory under `tmp`, runs every read and the
/// check on it; returns (whether a read failed, whether the check found damage).
fn probe(tmp: &Path, what: &str, bytes: &[u8]) -> (bool, bool) {
    let dir = tmp.join("damaged");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(file(&dir), bytes).unwrap();
    let mut read_failed = false;
    for read_only in [true, false] {
        // Each open starts again from the damaged bytes (a writable open may repair).
        std::fs::write(file(&dir), bytes).unwrap();
        if let Err(e) = read_all(&dir, read_only) {
            assert_typed(what, &e, &file(&dir));
            read_failed = true;
        }
    }
    std::fs::write(file(&dir), bytes).unwrap();
    let report = Database::check(&dir, &redb_options(true)).unwrap();
    for problem in &report.problems {
        assert!(!problem.contains("panicked at"), "{what}: {problem}");
        assert!(
            problem.contains(&file(&dir).display().to_string()),
            "{what}: {problem}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
    (read_failed, !report.is_ok())
}

#[test]
fn a_sound_database_checks_clean() {
    let (_tmp, dir) = populated();
    let report = Database::check(&dir, &OpenOptions::default()).unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.backend, "redb");
    assert!(report.keys > 300, "{report:?}");
    assert!(report.path.ends_with("remdb.redb"));
    assert_eq!(read_all(&dir, true).unwrap(), 300);
}

#[test]
fn every_zeroed_page_gives_typed_errors_and_check_finds_what_reads_find() {
    let (tmp, dir) = populated();
    let original = std::fs::read(file(&dir)).unwrap();
    let (mut reads, mut checks) = (0, 0);
    for (page, chunk) in original.chunks(4096).enumerate() {
        if chunk.iter().all(|b| *b == 0) {
            continue;
        }
        let mut bytes = original.clone();
        bytes[page * 4096..page * 4096 + chunk.len()].fill(0);
        let (read_failed, found) = probe(tmp.path(), &format!("page {page} zeroed"), &bytes);
        if read_failed {
            assert!(found, "page {page}: a read failed but check found nothing");
        }
        reads += usize::from(read_failed);
        checks += usize::from(found);
    }
    assert!(reads > 0, "no zeroed page made a read fail");
    assert!(checks > 0, "check found no zeroed page");
}

#[test]
fn flipped_bytes_give_typed_errors() {
    let (tmp, dir) = populated();
    let original = std::fs::read(file(&dir)).unwrap();
    let mut found = 0;
    for (page, chunk) in original.chunks(4096).enumerate() {
        if chunk.iter().all(|b| *b == 0) {
            continue;
        }
        // Flip a run of bytes in the middle of the page.
        let mut bytes = original.clone();
        let at = page * 4096 + chunk.len() / 2;
        bytes[at..at + 16].iter_mut().for_each(|b| *b ^= 0x5a);
        let (_, damaged) = probe(tmp.path(), &format!("page {page} flipped"), &bytes);
        found += usize::from(damaged);
    }
    assert!(found > 0, "check found no flipped page");
}

#[test]
fn truncated_files_give_typed_errors() {
    let (tmp, dir) = populated();
    let original = std::fs::read(file(&dir)).unwrap();
    // (An empty file is a new database to redb, not a damaged one.)
    for len in [
        100,
        4096,
        original.len() / 3,
        original.len() / 2,
        original.len() - 4096,
    ] {
        let (_, found) = probe(tmp.path(), &format!("truncated to {len}"), &original[..len]);
        assert!(found, "truncated to {len} bytes: check found nothing");
    }
}

#[test]
fn check_decodes_every_row_and_names_a_damaged_one() {
    let (_tmp, dir) = populated();
    // Overwrite one row's value with bytes the KV stores happily but no row decodes from: a
    // binary-row header, then a field count far past the end.
    let prefix = b"tdefault\0Rresources\0".to_vec();
    let damaged_id = {
        let kv = RedbKv::open_file_with(&file(&dir), &KvOptions::default()).unwrap();
        let range = remdb::kv::KeyRange::prefix(&prefix);
        let (key, _) = kv
            .scan(&range, remdb::kv::Direction::Forward)
            .unwrap()
            .nth(7)
            .unwrap()
            .unwrap();
        let mut batch = remdb::kv::WriteBatch::new();
        batch.put(key.clone(), vec![0x20, 0xff, 0xff, 0x03]);
        kv.write(batch).unwrap();
        uuid::Uuid::from_slice(&key[prefix.len()..]).unwrap()
    };
    let report = Database::check(&dir, &redb_options(true)).unwrap();
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    let problem = &report.problems[0];
    assert!(
        problem.contains(&damaged_id.to_string()) && problem.contains("`resources`"),
        "{problem}"
    );
    assert!(problem.contains("corrupt row"), "{problem}");
    // Reading that row gives the same typed error, never a panic.
    let db = Database::open_with(&dir, &redb_options(true)).unwrap();
    let err = db
        .tenant("default")
        .unwrap()
        .get(&damaged_id.to_string())
        .unwrap_err();
    assert_eq!(err.code(), "STORAGE", "{err}");
}

#[test]
fn a_read_only_open_writes_nothing_and_refuses_writes() {
    let (_tmp, dir) = populated();
    let path = file(&dir);
    let bytes = std::fs::read(&path).unwrap();
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    {
        let db = Database::open_with(&dir, &redb_options(true)).unwrap();
        let t = db.tenant("default").unwrap();
        assert_eq!(t.count("resources", false).unwrap(), 300);
        let e = t.insert("resources", json!({"name": "x"})).unwrap_err();
        assert_eq!(e.code(), "STORAGE", "{e}");
        assert!(e.to_string().contains("read-only"), "{e}");
        // A second read-only handle shares the file.
        let other = Database::open_with(&dir, &redb_options(true)).unwrap();
        assert_eq!(
            other
                .tenant("default")
                .unwrap()
                .count("resources", false)
                .unwrap(),
            300
        );
    }
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    assert_eq!(
        std::fs::metadata(&path).unwrap().modified().unwrap(),
        modified
    );
}

#[test]
fn a_read_only_open_of_a_missing_database_is_not_found_and_creates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing");
    let e = Database::open_with(&missing, &redb_options(true)).unwrap_err();
    assert_eq!(e.code(), "NOT_FOUND", "{e}");
    assert!(!missing.exists());
    let e = RedbKv::open_file_with(
        &missing.join("remdb.redb"),
        &KvOptions {
            read_only: true,
            ..KvOptions::default()
        },
    )
    .err()
    .unwrap();
    assert_eq!(e.code(), "NOT_FOUND", "{e}");
    assert!(!missing.exists());
}

#[test]
fn a_held_lock_is_waited_for_then_reported() {
    let (_tmp, dir) = populated();
    let path = file(&dir);
    let held = RedbKv::open_file(&path).unwrap();
    let waiting = KvOptions {
        read_only: false,
        lock_timeout: std::time::Duration::from_millis(200),
    };
    let e = RedbKv::open_file_with(&path, &waiting).err().unwrap();
    assert_eq!(e.code(), "STORAGE");
    let message = e.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("after waiting 0.2 s"), "{message}");
    // Released while another open waits: that open succeeds.
    let opener = {
        let path = path.clone();
        std::thread::spawn(move || {
            RedbKv::open_file_with(
                &path,
                &KvOptions {
                    read_only: true,
                    lock_timeout: std::time::Duration::from_secs(10),
                },
            )
            .map(|kv| kv.is_read_only())
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(200));
    drop(held);
    assert!(opener.join().unwrap().unwrap());
}
