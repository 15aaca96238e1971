//! Devices converge through `rem serve`; the hub checks every token and body; a hub killed
//! mid-push loses nothing it acknowledged.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::harness::{device, rows, task_schema, token, Hub};

#[test]
fn two_devices_that_wrote_offline_converge_through_rem_serve() {
    let data = tempfile::tempdir().unwrap();
    let hub = Hub::start(data.path());
    let admin = token(data.path(), &["--tenant", "acme", "--admin"]);
    let member = token(data.path(), &["--tenant", "acme"]);
    let (da, db_) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (_a_db, a) = device(da.path());
    let (_b_db, b) = device(db_.path());

    a.register_schema(task_schema()).unwrap();
    let write = a
        .insert(
            "task",
            json!({"key": "write", "title": "Write docs", "points": 3}),
        )
        .unwrap();
    let ship = a
        .insert("task", json!({"key": "ship", "title": "Ship it"}))
        .unwrap();
    a.add_edge(&ship.to_string(), &write.to_string(), "after", json!({}))
        .unwrap();
    let report = a.sync(&hub.url, &admin).unwrap();
    assert_eq!((report.pushed, report.rejected), (4, 0), "{report:?}");
    let report = b.sync(&hub.url, &member).unwrap();
    assert_eq!(
        (report.loaded, report.pulled),
        (3, 0),
        "a new device loads the hub's snapshot (2 rows, 1 edge): {report:?}"
    );
    assert_eq!(rows(&b), rows(&a));

    // Both go offline and write: different fields of one row, a delete, a new row each.
    a.update(&write.to_string(), json!({"done": true})).unwrap();
    b.update(
        &write.to_string(),
        json!({"points": 5, "title": "Write the docs"}),
    )
    .unwrap();
    b.delete(&ship.to_string()).unwrap();
    a.insert("task", json!({"key": "test", "title": "Test"}))
        .unwrap();
    b.insert("task", json!({"key": "test", "points": 1}))
        .unwrap();
    for _ in 0..2 {
        a.sync(&hub.url, &member).unwrap();
        b.sync(&hub.url, &member).unwrap();
    }
    assert_eq!(rows(&a), rows(&b));
    let merged = a.get(&write.to_string()).unwrap().unwrap();
    assert_eq!(
        (&merged["done"], &merged["points"], &merged["title"]),
        (&json!(true), &json!(5), &json!("Write the docs")),
        "fields written on different devices merge"
    );
    assert!(
        a.get(&ship.to_string()).unwrap().is_none(),
        "the delete reached both"
    );
    let test = a.lookup(&["test"]).unwrap();
    assert_eq!(
        test.len(),
        1,
        "the same natural key created twice is one row"
    );
    assert_eq!(
        (&test[0].1["title"], &test[0].1["points"]),
        (&json!("Test"), &json!(1))
    );
    assert_eq!(a.sync_status().unwrap().outbox, 0);

    // The hub serves health and metrics.
    let health = ureq::get(&format!("{}/healthz", hub.url))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert_eq!(health.trim(), "ok");
    let metrics = ureq::get(&format!("{}/metrics", hub.url))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(metrics.contains("rem_hub_ops_pushed_total"), "{metrics}");
    assert!(metrics.contains("rem_hub_active_devices 2"), "{metrics}");
}

/// A raw request: (status, body).
fn request(url: &str, token: Option<&str>, body: Option<&[u8]>) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let answer = match body {
        Some(body) => {
            let mut r = agent.post(url).header("Content-Type", "application/json");
            if let Some(t) = token {
                r = r.header("Authorization", &format!("Bearer {t}"));
            }
            r.send(body)
        }
        None => {
            let mut r = agent.get(url);
            if let Some(t) = token {
                r = r.header("Authorization", &format!("Bearer {t}"));
            }
            r.call()
        }
    };
    let mut answer = answer.unwrap();
    let status = answer.status().as_u16();
    let text = answer
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_string()
        .unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[test]
fn the_hub_refuses_foreign_forged_expired_and_read_only_tokens_and_bad_bodies() {
    let data = tempfile::tempdir().unwrap();
    let hub = Hub::start(data.path());
    let admin = token(data.path(), &["--tenant", "acme", "--admin"]);
    let (dir, _) = (tempfile::tempdir().unwrap(), ());
    let (_db, a) = device(dir.path());
    a.register_schema(task_schema()).unwrap();
    a.insert("task", json!({"key": "secret", "title": "acme only"}))
        .unwrap();
    a.sync(&hub.url, &admin).unwrap();
    let seq_before =
        request(&format!("{}/v1/pull?since=0", hub.url), Some(&admin), None).1["hub_seq"].clone();

    // Another tenant's token sees another (empty) log and cannot touch acme's.
    let other = token(data.path(), &["--tenant", "globex"]);
    let (status, body) = request(&format!("{}/v1/pull?since=0", hub.url), Some(&other), None);
    assert_eq!(
        (status, body["entries"].as_array().map(Vec::len)),
        (200, Some(0)),
        "{body}"
    );

    // Forged (another hub's key), tampered, expired, missing: 401, nothing written.
    let elsewhere = tempfile::tempdir().unwrap();
    let forged = token(elsewhere.path(), &["--tenant", "acme", "--admin"]);
    let expired = token(data.path(), &["--tenant", "acme", "--days", "0"]);
    let tampered = format!("{}x", &admin[..admin.len() - 1]);
    let push = json!({"device": "d1", "ops": []}).to_string();
    for (name, t) in [
        ("forged", Some(forged.as_str())),
        ("expired", Some(&expired)),
        ("tampered", Some(&tampered)),
        ("missing", None),
    ] {
        let (status, body) = request(&format!("{}/v1/push", hub.url), t, Some(push.as_bytes()));
        assert_eq!(status, 401, "{name}: {body}");
        assert!(body["error"]["message"].is_string(), "{name}: {body}");
        let (status, _) = request(&format!("{}/v1/pull?since=0", hub.url), t, None);
        assert_eq!(status, 401, "{name} pull");
    }
    // A read-only token pulls but cannot push.
    let reader = token(data.path(), &["--tenant", "acme", "--read-only"]);
    assert_eq!(
        request(&format!("{}/v1/pull?since=0", hub.url), Some(&reader), None).0,
        200
    );
    let (status, body) = request(
        &format!("{}/v1/push", hub.url),
        Some(&reader),
        Some(push.as_bytes()),
    );
    assert_eq!(status, 403, "{body}");
    // A device-bound token pushes only as its device.
    let bound = token(data.path(), &["--tenant", "acme", "--device", "phone"]);
    assert_eq!(
        request(
            &format!("{}/v1/push", hub.url),
            Some(&bound),
            Some(push.as_bytes())
        )
        .0,
        403
    );

    // Garbage and oversized bodies: 4xx with a message.
    let (status, body) = request(
        &format!("{}/v1/push", hub.url),
        Some(&admin),
        Some(b"{not json"),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("push body"),
        "{body}"
    );
    let huge = vec![b' '; 17 * 1024 * 1024];
    assert_eq!(
        request(&format!("{}/v1/push", hub.url), Some(&admin), Some(&huge)).0,
        413
    );
    let bad_device = json!({"device": "no spaces allowed", "ops": []}).to_string();
    assert_eq!(
        request(
            &format!("{}/v1/push", hub.url),
            Some(&admin),
            Some(bad_device.as_bytes())
        )
        .0,
        400
    );

    // Ops the schema refuses, or for unknown tables, are rejected one by one; nothing written.
    let id = uuid::Uuid::now_v7().to_string();
    let ts = "2026-01-01T00:00:00.000000Z";
    let op = |seq: u64, table: &str, data: Value| json!({"seq": seq, "ts": ts, "op": "insert", "table": table, "id": id, "data": data, "hlc": "0190000000000000"});
    let row = |extra: Value| {
        let mut r = json!({"id": id, "created_at": ts, "modified_at": ts, "deleted_at": null});
        r.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        r
    };
    let bad = json!({"device": "d2", "ops": [
        op(1, "task", row(json!({"key": "x", "points": -1}))),
        op(2, "nosuch", row(json!({"key": "y"}))),
        op(3, "task", row(json!({"title": "no key"}))),
    ]});
    let (status, body) = request(
        &format!("{}/v1/push", hub.url),
        Some(&admin),
        Some(bad.to_string().as_bytes()),
    );
    assert_eq!(status, 200, "{body}");
    let codes: Vec<&str> = body["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        ["VALIDATION", "UNKNOWN_TABLE", "VALIDATION"],
        "{body}"
    );
    assert_eq!(body["acked"], 3);
    let after =
        request(&format!("{}/v1/pull?since=0", hub.url), Some(&admin), None).1["hub_seq"].clone();
    assert_eq!(after, seq_before, "nothing was written");
}

#[test]
fn a_hub_killed_mid_push_and_restarted_loses_nothing_it_acknowledged() {
    let data = tempfile::tempdir().unwrap();
    let mut hub = Hub::start(data.path());
    let admin = token(data.path(), &["--tenant", "acme", "--admin"]);
    let dir = tempfile::tempdir().unwrap();
    let (_db, a) = device(dir.path());
    a.register_schema(task_schema()).unwrap();
    a.sync(&hub.url, &admin).unwrap();
    let items: Vec<Value> = (0..3000)
        .map(|i| json!({"key": format!("t{i}"), "points": i}))
        .collect();
    a.insert_many("task", items).unwrap();
    // Kill the hub while the device pushes its 3,000 changes (three pushes).
    let url = hub.url.clone();
    let pusher = std::thread::spawn({
        let token = admin.clone();
        move || {
            let report = a.sync(&url, &token);
            (a, report)
        }
    });
    std::thread::sleep(std::time::Duration::from_millis(150));
    hub.kill();
    let (a, first) = pusher.join().unwrap();
    let acked_before = a.sync_status().unwrap().pushed;
    eprintln!("first round: {first:?}; acknowledged through local seq {acked_before}");
    // Restarted on the same data directory: the device finishes; the hub has every row.
    let hub = Hub::start(data.path());
    a.sync(&hub.url, &admin).unwrap();
    assert_eq!(
        a.sync_status().unwrap().outbox,
        0,
        "first round: {first:?}, acked {acked_before}"
    );
    let fresh_dir = tempfile::tempdir().unwrap();
    let (_fresh_db, fresh) = device(fresh_dir.path());
    fresh.sync(&hub.url, &admin).unwrap();
    assert_eq!(fresh.count("task", false).unwrap(), 3000);
    assert_eq!(rows(&fresh), rows(&a));
}

/// One raw HTTP/1.1 exchange: status, lowercased headers, body bytes as sent.
fn raw_http(url: &str, request_head: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .write_all(
            format!(
                "{request_head}Host: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )
        .unwrap();
    stream.write_all(body).unwrap();
    let mut all = Vec::new();
    stream.read_to_end(&mut all).unwrap();
    let split = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&all[..split]).to_lowercase();
    let status = head[9..12].parse().unwrap();
    (status, head, all[split + 4..].to_vec())
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn pushes_and_pulls_travel_gzipped_and_a_push_that_inflates_too_far_is_refused() {
    use std::io::Read;
    let data = tempfile::tempdir().unwrap();
    let hub = Hub::start(data.path());
    let admin = token(data.path(), &["--tenant", "acme", "--admin"]);
    let dir = tempfile::tempdir().unwrap();
    let (_db, a) = device(dir.path());
    a.register_schema(task_schema()).unwrap();
    let items: Vec<Value> = (0..500)
        .map(|i| json!({"key": format!("t{i}"), "title": "a task title that repeats", "points": i}))
        .collect();
    a.insert_many("task", items).unwrap();
    // The device's 501-op push (well over 16 KiB) goes gzipped.
    let report = a.sync(&hub.url, &admin).unwrap();
    assert_eq!((report.pushed, report.rejected), (501, 0), "{report:?}");

    // Pulls are gzipped for clients that take it, and only for them.
    let head = format!("GET /v1/pull?since=0 HTTP/1.1\r\nAuthorization: Bearer {admin}\r\nAccept-Encoding: gzip\r\n");
    let (status, headers, body) = raw_http(&hub.url, &head, b"");
    assert_eq!(status, 200, "{headers}");
    assert!(headers.contains("content-encoding: gzip"), "{headers}");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_string(&mut text)
        .unwrap();
    let pulled: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(pulled["entries"].as_array().unwrap().len(), 501);
    assert!(
        body.len() * 5 < text.len(),
        "{} gzipped of {}",
        body.len(),
        text.len()
    );
    let plain = format!("GET /v1/pull?since=0 HTTP/1.1\r\nAuthorization: Bearer {admin}\r\n");
    let (_, headers, body) = raw_http(&hub.url, &plain, b"");
    assert!(!headers.contains("content-encoding"), "{headers}");
    let unpacked: Value = serde_json::from_slice(&body).unwrap();
    assert!(
        unpacked["entries"] == pulled["entries"] && unpacked["hub_seq"] == pulled["hub_seq"],
        "the plain answer differs from the gzipped one"
    );

    // 20 MiB of JSON whitespace in 20 KiB of gzip: refused before it is held, nothing written.
    let seq = pulled["hub_seq"].clone();
    let bomb = gzip(&vec![b' '; 20 << 20]);
    assert!(bomb.len() < 64 << 10);
    let post = format!("POST /v1/push HTTP/1.1\r\nAuthorization: Bearer {admin}\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n");
    let (status, _, body) = raw_http(&hub.url, &post, &bomb);
    assert_eq!(status, 413, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("inflates past"));
    let (status, _, _) = raw_http(&hub.url, &post, b"not gzip at all");
    assert_eq!(status, 400);
    let brotli = post.replace("gzip", "br");
    let (status, _, _) = raw_http(&hub.url, &brotli, b"{}");
    assert_eq!(status, 415);
    let (_, after) = request(&format!("{}/v1/pull?since=0", hub.url), Some(&admin), None);
    assert_eq!(after["hub_seq"], seq, "refused pushes wrote nothing");
}

#[test]
fn browser_apps_on_other_origins_may_call_the_hub_with_their_token() {
    let data = tempfile::tempdir().unwrap();
    let hub = Hub::start(data.path());
    let member = token(data.path(), &["--tenant", "acme"]);
    // The preflight a browser sends before a POST with an Authorization header.
    let preflight = "OPTIONS /v1/push HTTP/1.1\r\nOrigin: https://app.example\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: authorization, content-type\r\n";
    let (status, headers, _) = raw_http(&hub.url, preflight, b"");
    assert!((200..300).contains(&status), "{headers}");
    assert!(
        headers.contains("access-control-allow-origin: *"),
        "{headers}"
    );
    assert!(headers.contains("authorization"), "{headers}");
    assert!(headers.contains("post"), "{headers}");
    let get = format!("GET /v1/pull?since=0 HTTP/1.1\r\nOrigin: https://app.example\r\nAuthorization: Bearer {member}\r\n");
    let (status, headers, _) = raw_http(&hub.url, &get, b"");
    assert_eq!(status, 200);
    assert!(
        headers.contains("access-control-allow-origin: *"),
        "{headers}"
    );
    // Without the token the answer is still a 401: CORS opens no data.
    let anonymous = "GET /v1/pull?since=0 HTTP/1.1\r\nOrigin: https://app.example\r\n";
    assert_eq!(raw_http(&hub.url, anonymous, b"").0, 401);
}

#[test]
fn rem_sync_watch_follows_the_hubs_stream_and_applies_a_change_as_it_lands() {
    let data = tempfile::tempdir().unwrap();
    let hub = Hub::start(data.path());
    let admin = token(data.path(), &["--tenant", "acme", "--admin"]);
    let (da, db_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (_a_db, a) = device(da.path());
    a.register_schema(task_schema()).unwrap();
    a.sync(&hub.url, &admin).unwrap();
    let mut watcher = Command::new(env!("CARGO_BIN_EXE_rem"))
        .arg("--db")
        .arg(db_dir.path())
        .args([
            "--json", "sync", "--watch", "--hub", &hub.url, "--token", &admin,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<Value>();
    let stdout = watcher.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Ok(v) = serde_json::from_str(&line) {
                let _ = tx.send(v);
            }
        }
    });
    let wait = std::time::Duration::from_secs(20);
    let first = rx.recv_timeout(wait).expect("the first round's report");
    assert_eq!(first["loaded"], 0, "{first}");
    assert!(first["hub_seq"].as_u64().unwrap() >= 1, "{first}");
    // A change pushed by another device arrives through the stream, not a timer.
    std::thread::sleep(std::time::Duration::from_millis(300));
    a.insert("task", json!({"key": "followed", "points": 1}))
        .unwrap();
    let pushed_at = std::time::Instant::now();
    a.sync(&hub.url, &admin).unwrap();
    let next = rx
        .recv_timeout(wait)
        .expect("the watcher reports the change");
    let took = pushed_at.elapsed();
    assert_eq!(next["pulled"], 1, "{next}");
    assert!(took < std::time::Duration::from_secs(5), "{took:?}");
    eprintln!("rem sync --watch applied a pushed change {took:?} after the push began");
    let _ = watcher.kill();
    let _ = watcher.wait();
    let (_b_db, b) = device(db_dir.path());
    assert_eq!(rows(&b), rows(&a));
}

#[test]
fn a_device_behind_the_hubs_compacted_log_catches_up_from_a_snapshot_over_http() {
    let data = tempfile::tempdir().unwrap();
    // Compacts every second, keeping no log for devices silent for even a moment.
    let mut hub = Hub::spawn(&[
        "--data".as_ref(),
        data.path().as_os_str(),
        "--keep-log".as_ref(),
        "0".as_ref(),
        "--device-ttl-days".as_ref(),
        "0".as_ref(),
        "--compact-every".as_ref(),
        "1".as_ref(),
    ]);
    let admin = token(data.path(), &["--tenant", "acme", "--admin"]);
    let (da, db_) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (_a_db, a) = device(da.path());
    let (_b_db, b) = device(db_.path());
    a.register_schema(task_schema()).unwrap();
    let ids: Vec<String> = (0..30)
        .map(|i| {
            a.insert("task", json!({"key": format!("t{i}"), "points": i}))
                .unwrap()
                .to_string()
        })
        .collect();
    a.sync(&hub.url, &admin).unwrap();
    let first = b.sync(&hub.url, &admin).unwrap();
    assert_eq!((first.loaded, first.pulled), (30, 0), "{first:?}");
    // While b is away: purges and an update, then the hub compacts them out of its log.
    a.hard_delete(&ids[0]).unwrap();
    a.hard_delete(&ids[1]).unwrap();
    a.update(&ids[2], json!({"points": 100})).unwrap();
    a.sync(&hub.url, &admin).unwrap();
    let compacted = |hub: &Hub| {
        let (_, metrics) = request(&format!("{}/metrics", hub.url), None, None);
        let text = metrics.as_str().unwrap_or_default().to_string();
        text.lines()
            .find_map(|l| l.strip_prefix("rem_hub_entries_compacted_total "))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let seq = a.sync_status().unwrap().pulled;
    while compacted(&hub) < seq {
        assert!(
            std::time::Instant::now() < deadline,
            "the hub never compacted"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let behind = b.sync_status().unwrap().pulled;
    let (status, answer) = request(
        &format!("{}/v1/pull?since={behind}", hub.url),
        Some(&admin),
        None,
    );
    assert_eq!(
        status, 410,
        "an old client is told the log is gone: {answer}"
    );
    let report = b.sync(&hub.url, &admin).unwrap();
    assert_eq!((report.loaded, report.pulled), (28, 0), "{report:?}");
    assert_eq!(rows(&b), rows(&a));
    assert_eq!(b.get(&ids[0]).unwrap(), None, "purged while b was away");
    assert_eq!(b.get(&ids[2]).unwrap().unwrap()["points"], 100);
    let (_, metrics) = request(&format!("{}/metrics", hub.url), None, None);
    let items = metrics
        .as_str()
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("rem_hub_snapshot_items_total "))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap();
    assert!(items >= 30 + 28, "{metrics}");
    // Offline, `rem serve compact` does the same on demand.
    hub.kill();
    let out = Command::new(env!("CARGO_BIN_EXE_rem"))
        .args(["--json", "serve", "compact", "--keep-log", "0"])
        .arg("--data")
        .arg(data.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let done: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(done["acme"]["log_start"].as_u64().unwrap() > 1, "{done}");
}
