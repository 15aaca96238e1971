//! `rem ask` with an LLM planner, end to end: the `rem` process talks to a fake OpenAI-compatible
//! server on 127.0.0.1 (std only; one thread per connection) through `--llm` and the
//! environment, as a user's deployment would. Every failure ends with an answer (the offline
//! planner's, with the LLM's error in `explanation`) and nothing written.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_rem");
const KEY: &str = "sk-test-DO-NOT-PRINT-91c2";

/// What the server answers to request number n.
type Script = dyn Fn(usize) -> Option<(u16, String)> + Send + Sync;

struct Server {
    base: String,
    seen: Arc<Mutex<Vec<(HashMap<String, String>, Value)>>>,
}

impl Server {
    /// `script(n)`: `Some((status, body))`, or `None` to read the request and never answer.
    fn start(script: impl Fn(usize) -> Option<(u16, String)> + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}/v1", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script: Arc<Script> = Arc::new(script);
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (script, log) = (script.clone(), log.clone());
                std::thread::spawn(move || serve(stream, &*script, &log));
            }
        });
        Server { base, seen }
    }

    fn requests(&self) -> Vec<(HashMap<String, String>, Value)> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve(stream: TcpStream, script: &Script, log: &Mutex<Vec<(HashMap<String, String>, Value)>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() {
            return;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let n = {
        let mut log = log.lock().unwrap();
        log.push((
            headers,
            serde_json::from_slice(&body).unwrap_or(Value::Null),
        ));
        log.len() - 1
    };
    match script(n) {
        None => std::thread::sleep(Duration::from_secs(30)),
        Some((status, body)) => {
            let mut stream = stream;
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    }
}

fn completion(content: &str) -> (u16, String) {
    let body = json!({"id": "c", "object": "chat.completion", "choices": [{"index": 0,
        "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]});
    (200, body.to_string())
}

fn open_tickets_plan(field: &str) -> String {
    json!({"intent": "sql", "stages": [{"kind": "select", "table": "tickets",
        "filters": [{"field": field, "op": "eq", "value": "open"}], "time": null, "from_previous": false,
        "group_by": null, "aggregate": null, "order_by": null, "limit": null}],
        "return": "rows", "fallback": null, "explanation": "open tickets"})
    .to_string()
}

/// A database with three tickets, two open.
fn desk() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let run = |args: &[&str], stdin: &str| {
        let mut child = Command::new(BIN)
            .arg("--db")
            .arg(&db)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&["init"], "");
    run(
        &["schema", "add", "-"],
        r#"{"title": "Ticket", "type": "object",
            "properties": {"key": {"type": "string"}, "status": {"enum": ["open", "closed"]}},
            "json_schema_extra": {"short_name": "tickets", "key_field": "key", "indexed_fields": ["status"]}}"#,
    );
    run(
        &["insert", "tickets", "-"],
        r#"[{"key": "TAP-1", "status": "open"}, {"key": "TAP-2", "status": "closed"}, {"key": "TAP-3", "status": "open"}]"#,
    );
    tmp
}

/// `rem ask --json` against `server`; the answer and how long it took.
fn ask(
    tmp: &tempfile::TempDir,
    server: &Server,
    question: &str,
    timeout_ms: &str,
) -> (Value, Duration) {
    let start = Instant::now();
    let out = Command::new(BIN)
        .arg("--db")
        .arg(tmp.path().join("db"))
        .args(["--json", "ask", "--llm", "openai:test-model", question])
        .env("OPENAI_BASE_URL", &server.base)
        .env("OPENAI_API_KEY", KEY)
        .env("REM_LLM_TIMEOUT_MS", timeout_ms)
        .env_remove("REM_LLM")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "rem ask failed: {stderr}");
    assert!(
        !stdout.contains(KEY) && !stderr.contains(KEY),
        "the key leaked: {stdout} {stderr}"
    );
    (serde_json::from_str(&stdout).unwrap(), start.elapsed())
}

fn keys(answer: &Value) -> Vec<String> {
    let mut k: Vec<String> = answer["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap().to_string())
        .collect();
    k.sort();
    k
}

fn wal_seq(tmp: &tempfile::TempDir) -> u64 {
    let out = Command::new(BIN)
        .arg("--db")
        .arg(tmp.path().join("db"))
        .args(["--json", "wal", "seq"])
        .output()
        .unwrap();
    serde_json::from_slice::<Value>(&out.stdout).unwrap()["seq"]
        .as_u64()
        .unwrap()
}

#[test]
fn a_valid_llm_plan_costs_one_call_with_the_schema_date_and_key() {
    let tmp = desk();
    let server = Server::start(|_| Some(completion(&open_tickets_plan("status"))));
    let (a, _) = ask(&tmp, &server, "which tickets still need work", "5000");
    assert_eq!(a["status"], "ok", "{a}");
    assert_eq!(a["planner"], "openai:test-model");
    assert_eq!(a["llm_calls"], 1);
    assert_eq!(keys(&a), ["TAP-1", "TAP-3"]);
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let (headers, body) = &requests[0];
    assert_eq!(headers["authorization"], format!("Bearer {KEY}"));
    assert_eq!(body["model"], "test-model");
    assert_eq!(body["temperature"], 0);
    assert_eq!(body["response_format"]["type"], "json_schema");
    assert!(body["response_format"]["json_schema"]["schema"]["properties"]["stages"].is_object());
    let system = body["messages"][0]["content"].as_str().unwrap();
    assert!(system.contains("Today is 20"), "{system}");
    let user = body["messages"][1]["content"].as_str().unwrap();
    assert!(
        user.contains("which tickets still need work")
            && user.contains("tickets")
            && user.contains("\"open\""),
        "{user}"
    );
}

#[test]
fn a_hallucinated_column_gets_one_repair_call_carrying_the_error() {
    let tmp = desk();
    let server = Server::start(|n| {
        Some(completion(&open_tickets_plan(if n == 0 {
            "state"
        } else {
            "status"
        })))
    });
    let (a, _) = ask(&tmp, &server, "which tickets still need work", "5000");
    assert_eq!(a["status"], "ok", "{a}");
    assert_eq!(a["llm_calls"], 2);
    assert_eq!(keys(&a), ["TAP-1", "TAP-3"]);
    let requests = server.requests();
    let repair = requests[1].1["messages"].as_array().unwrap();
    assert_eq!(repair.len(), 4, "system, user, the model's plan, the error");
    assert!(
        repair[3]["content"]
            .as_str()
            .unwrap()
            .contains("did you mean `status`"),
        "{repair:?}"
    );
}

#[test]
fn junk_errors_and_a_hanging_server_end_with_the_offline_answer() {
    let tmp = desk();
    // Prose instead of JSON: an LLM error at once; the offline planner answers.
    let server = Server::start(|_| Some(completion("Sure! Here are your open tickets.")));
    let (a, _) = ask(&tmp, &server, "open tickets", "5000");
    assert_eq!(a["planner"], "offline");
    assert_eq!(server.requests().len(), 1);
    assert!(
        a["explanation"].as_str().unwrap().contains("LLM failed"),
        "{a}"
    );
    assert_eq!(keys(&a), ["TAP-1", "TAP-3"]);

    // JSON that is no plan, three times: the plan and two repair calls, then the offline answer.
    let server = Server::start(|_| Some(completion(r#"{"answer": "TAP-1 and TAP-3"}"#)));
    let (a, _) = ask(&tmp, &server, "open tickets", "5000");
    assert_eq!(a["planner"], "offline");
    assert_eq!(a["llm_calls"], 3);
    assert_eq!(server.requests().len(), 3);
    assert!(
        a["explanation"].as_str().unwrap().contains("plan's shape"),
        "{a}"
    );
    assert_eq!(keys(&a), ["TAP-1", "TAP-3"]);

    // 500s are retried with backoff, then reported; the offline answer comes back.
    let server = Server::start(|_| Some((500, r#"{"error": {"message": "overloaded"}}"#.into())));
    let (a, _) = ask(&tmp, &server, "open tickets", "5000");
    assert_eq!(a["planner"], "offline");
    assert!(server.requests().len() > 1, "retried");
    assert!(a["explanation"].as_str().unwrap().contains("500"), "{a}");

    // A server that never answers: the timeout, then the offline answer.
    let server = Server::start(|_| None);
    let (a, took) = ask(&tmp, &server, "open tickets", "700");
    assert_eq!(a["planner"], "offline");
    assert!(
        a["explanation"].as_str().unwrap().contains("timed out"),
        "{a}"
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_eq!(keys(&a), ["TAP-1", "TAP-3"]);
}

#[test]
fn an_llm_plan_asking_for_a_write_is_refused_and_writes_nothing() {
    let tmp = desk();
    let before = wal_seq(&tmp);
    let server = Server::start(|_| {
        Some(completion(
            r#"{"intent": "sql", "stages": [{"kind": "delete", "table": "tickets"}], "return": "rows", "fallback": null, "explanation": "clean up"}"#,
        ))
    });
    let (a, _) = ask(&tmp, &server, "tidy the ticket list", "5000");
    assert_eq!(a["status"], "refused", "{a}");
    assert_eq!(a["rows"], json!([]));
    assert_eq!(wal_seq(&tmp), before);
}
