//! What the hub tests share: `rem serve` processes (on a data directory or on PostgreSQL), their
//! tokens, a task table, and devices on redb files.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use remdb::{Database, ListOptions, Tenant};
use serde_json::{json, Value};

/// A `rem serve` process on a free loopback port.
pub struct Hub {
    child: Child,
    pub url: String,
}

impl Hub {
    /// A hub keeping its state and keys in `data`.
    pub fn start(data: &Path) -> Hub {
        Hub::spawn(&["--data".as_ref(), data.as_os_str()])
    }

    /// A hub keeping its state and keys in the PostgreSQL database at `url`; it writes nothing
    /// to its `--data` directory.
    pub fn start_postgres(url: &str) -> Hub {
        let data = tempfile::tempdir().unwrap();
        let hub = Hub::spawn(&[
            "--postgres".as_ref(),
            url.as_ref(),
            "--data".as_ref(),
            data.path().as_os_str(),
        ]);
        assert!(
            std::fs::read_dir(data.path()).unwrap().next().is_none(),
            "a hub on PostgreSQL writes nothing to --data"
        );
        hub
    }

    /// `rem serve` with `storage` (its `--data` or `--postgres` flags, and any others), once
    /// it listens.
    pub fn spawn(storage: &[&OsStr]) -> Hub {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rem"))
            .args(["--json", "serve", "--listen", "127.0.0.1:0"])
            .args(storage)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("rem serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let first: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
        let url = format!("http://{}", first["listening"].as_str().unwrap());
        Hub { child, url }
    }

    /// Kills the process (SIGKILL: no shutdown code runs).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A token printed by `rem serve token --data DATA ARGS...`.
pub fn token(data: &Path, args: &[&str]) -> String {
    token_with(&["--data".as_ref(), data.as_os_str()], args)
}

/// A token printed by `rem serve token --postgres URL ARGS...`.
pub fn token_postgres(url: &str, args: &[&str]) -> String {
    token_with(&["--postgres".as_ref(), url.as_ref()], args)
}

fn token_with(storage: &[&OsStr], args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_rem"))
        .args(["--json", "serve", "token"])
        .args(storage)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string()
}

pub fn task_schema() -> Value {
    json!({
        "title": "Task", "type": "object",
        "properties": {"key": {"type": "string"}, "title": {"type": "string"},
                       "done": {"type": "boolean"}, "points": {"type": "integer", "minimum": 0}},
        "required": ["key"],
        "json_schema_extra": {"key_field": "key", "indexed_fields": ["done"]}
    })
}

/// Every task row, soft-deleted ones too, in id order.
pub fn rows(t: &Tenant) -> Vec<Value> {
    t.list(
        "task",
        &ListOptions {
            include_deleted: true,
            ..Default::default()
        },
    )
    .unwrap()
    .into_iter()
    .map(Value::Object)
    .collect()
}

/// A device: tenant `default` of a redb database in `dir`.
pub fn device(dir: &Path) -> (Database, Tenant) {
    let db = Database::open(dir).unwrap();
    let t = db.tenant("default").unwrap();
    (db, t)
}
