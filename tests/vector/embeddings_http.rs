//! The HTTP embedders (OpenAI-compatible and Cohere) against a real HTTP/1.1 server on
//! 127.0.0.1 that speaks both protocols: it checks method, path and headers, parses the JSON
//! body, records every request and answers as each test scripts it.
//!
//! The server is std only (`TcpListener` + one thread, one request per connection,
//! `Connection: close`): no extra dev-dependency, and full control over malformed answers.
#![cfg(not(target_arch = "wasm32"))]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use remdb::embed::{Embedder, EmbedderSpec, HttpConfig, HttpEmbedder, Provider};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// The test server
// ---------------------------------------------------------------------------------------------

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    /// Lower-case header names.
    headers: HashMap<String, String>,
    body: Value,
}

impl Seen {
    /// The texts of an OpenAI (`input`) or Cohere (`texts`) request.
    fn texts(&self) -> Vec<String> {
        let list = self
            .body
            .get("input")
            .or_else(|| self.body.get("texts"))
            .and_then(Value::as_array);
        list.expect("request has no input/texts array")
            .iter()
            .map(|t| t.as_str().unwrap().to_string())
            .collect()
    }
}

/// What the server answers.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn json(status: u16, body: Value) -> Self {
        Reply {
            status,
            headers: vec![],
            body: body.to_string(),
        }
    }
    fn raw(status: u16, body: &str) -> Self {
        Reply {
            status,
            headers: vec![],
            body: body.to_string(),
        }
    }
    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

/// `(0-based request number, request) -> reply`.
type Handler = Box<dyn Fn(usize, &Seen) -> Reply + Send + Sync>;

struct Server {
    /// `http://127.0.0.1:PORT` (no trailing slash).
    root: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    fn start(handler: impl Fn(usize, &Seen) -> Reply + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let root = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler: Handler = Box::new(handler);
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                serve_one(stream, &handler, &log);
            }
        });
        Server { root, seen }
    }

    fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

fn serve_one(stream: TcpStream, handler: &Handler, log: &Mutex<Vec<Seen>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).unwrap();
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (name, value) = h.split_once(':').unwrap();
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    let mut raw = Vec::new();
    if let Some(len) = headers.get("content-length") {
        raw.resize(len.parse().unwrap(), 0);
        reader.read_exact(&mut raw).unwrap();
    } else if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).unwrap();
            let size = usize::from_str_radix(size.trim(), 16).unwrap();
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).unwrap();
            if size == 0 {
                break;
            }
            raw.extend_from_slice(&chunk[..size]);
        }
    }
    let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let seen = Seen {
        method,
        path,
        headers,
        body,
    };
    let n = {
        let mut log = log.lock().unwrap();
        log.push(seen.clone());
        log.len() - 1
    };
    let reply = handler(n, &seen);
    let mut out = format!(
        "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        reply.status,
        reply.body.len()
    );
    for (name, value) in &reply.headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(&reply.body);
    let mut stream = stream;
    let _ = stream.write_all(out.as_bytes());
    let _ = stream.flush();
}

// ---------------------------------------------------------------------------------------------
// Deterministic vectors and protocol answers
// ---------------------------------------------------------------------------------------------

/// A vector that depends on the text (FNV-1a of the text, spread over `dims` values).
fn vector_for(text: &str, dims: usize) -> Vec<f32> {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    (0..dims)
        .map(|i| ((h.rotate_left(7 * i as u32) & 0xffff) as f32) / 65536.0 + i as f32)
        .collect()
}

/// A correct OpenAI answer, `data` listed in reverse order (clients must sort by `index`).
fn openai_ok(seen: &Seen, dims: usize) -> Reply {
    let texts = seen.texts();
    let dims = seen
        .body
        .get("dimensions")
        .and_then(Value::as_u64)
        .map_or(dims, |d| d as usize);
    let mut data: Vec<Value> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": vector_for(t, dims)}))
        .collect();
    data.reverse();
    Reply::json(
        200,
        json!({"object": "list", "data": data, "model": seen.body["model"], "usage": {"prompt_tokens": 1, "total_tokens": 1}}),
    )
}

/// A correct Cohere answer, `embeddings` by type (`{"float": [...]}`) or bare (`[[...]]`).
fn cohere_ok(seen: &Seen, dims: usize, by_type: bool) -> Reply {
    let texts = seen.texts();
    let vectors: Vec<Vec<f32>> = texts.iter().map(|t| vector_for(t, dims)).collect();
    let embeddings = if by_type {
        json!({ "float": vectors })
    } else {
        json!(vectors)
    };
    Reply::json(
        200,
        json!({"id": "x", "embeddings": embeddings, "texts": texts, "meta": {}}),
    )
}

/// A config for the test server: small retry delays so retry tests stay fast.
fn config(server: &Server, provider: Provider) -> HttpConfig {
    let mut c = HttpConfig::for_provider(provider);
    c.base_url = format!("{}/v1", server.root);
    c.api_key = Some("test-key".into());
    c.retry_base = Duration::from_millis(10);
    c.max_retry_delay = Duration::from_secs(5);
    c.timeout = Duration::from_secs(10);
    c
}

fn openai(server: &Server, model: &str, tweak: impl FnOnce(&mut HttpConfig)) -> HttpEmbedder {
    let mut c = config(server, Provider::OpenAi);
    tweak(&mut c);
    HttpEmbedder::new(EmbedderSpec::parse(&format!("openai:{model}")).unwrap(), c).unwrap()
}

fn cohere(server: &Server, model: &str, tweak: impl FnOnce(&mut HttpConfig)) -> HttpEmbedder {
    let mut c = config(server, Provider::Cohere);
    tweak(&mut c);
    HttpEmbedder::new(EmbedderSpec::parse(&format!("cohere:{model}")).unwrap(), c).unwrap()
}

fn embedding_error(result: remdb::Result<Vec<Vec<f32>>>) -> String {
    let err = result.expect_err("expected an embedding error");
    assert_eq!(err.code(), "EMBEDDING", "{err}");
    err.to_string()
}

// ---------------------------------------------------------------------------------------------
// OpenAI protocol
// ---------------------------------------------------------------------------------------------

#[test]
fn openai_request_fields_and_input_order() {
    let server = Server::start(|_, seen| openai_ok(seen, 1536));
    let e = openai(&server, "text-embedding-3-small", |_| {});
    assert_eq!(
        (e.name(), e.dimensions()),
        ("openai:text-embedding-3-small", 1536)
    );
    assert_eq!(server.count(), 0, "a known model needs no probe request");

    let texts = ["alpha", "beta", "gamma", "", "δέλτα"];
    let vectors = e.embed(&texts).unwrap();
    assert_eq!(vectors.len(), texts.len());
    for (text, v) in texts.iter().zip(&vectors) {
        // The server listed `data` reversed; the client must restore input order by `index`.
        let sent = if text.is_empty() { " " } else { text };
        assert_eq!(v, &vector_for(sent, 1536), "vector for {text:?}");
    }

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/v1/embeddings")
    );
    assert_eq!(
        r.headers.get("authorization").map(String::as_str),
        Some("Bearer test-key")
    );
    assert!(r.headers["content-type"].starts_with("application/json"));
    assert_eq!(
        r.body,
        json!({"model": "text-embedding-3-small", "input": ["alpha", "beta", "gamma", " ", "δέλτα"], "encoding_format": "float"}),
        "no `dimensions` unless configured; the empty text goes as a space"
    );
}

#[test]
fn openai_configured_dimensions_are_requested() {
    let server = Server::start(|_, seen| openai_ok(seen, 1536));
    let e = openai(&server, "text-embedding-3-large", |c| {
        c.dimensions = Some(8)
    });
    assert_eq!(e.dimensions(), 8);
    let v = e.embed_one("shortened").unwrap();
    assert_eq!(v, vector_for("shortened", 8));
    assert_eq!(server.requests()[0].body["dimensions"], json!(8));
}

#[test]
fn no_api_key_sends_no_authorization() {
    let server = Server::start(|_, seen| openai_ok(seen, 4));
    let e = openai(&server, "local-model", |c| {
        c.api_key = None;
        c.dimensions = Some(4);
    });
    e.embed(&["x"]).unwrap();
    assert!(!server.requests()[0].headers.contains_key("authorization"));
}

#[test]
fn batching_splits_requests_and_keeps_order() {
    let server = Server::start(|_, seen| openai_ok(seen, 3));
    let e = openai(&server, "m", |c| {
        c.batch_size = 3;
        c.dimensions = Some(3);
    });
    let texts: Vec<String> = (0..8).map(|i| format!("text number {i}")).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let vectors = e.embed(&refs).unwrap();
    let expected: Vec<Vec<f32>> = refs.iter().map(|t| vector_for(t, 3)).collect();
    assert_eq!(vectors, expected);
    let sizes: Vec<usize> = server.requests().iter().map(|r| r.texts().len()).collect();
    assert_eq!(sizes, [3, 3, 2]);
    let sent: Vec<String> = server.requests().iter().flat_map(Seen::texts).collect();
    assert_eq!(sent, texts, "batches are consecutive slices of the input");
}

#[test]
fn default_batch_sizes_are_the_provider_limits() {
    assert_eq!(HttpConfig::for_provider(Provider::OpenAi).batch_size, 2048);
    assert_eq!(HttpConfig::for_provider(Provider::Cohere).batch_size, 96);

    let server = Server::start(|_, seen| cohere_ok(seen, 2, true));
    let e = cohere(&server, "embed-english-v3.0", |c| c.dimensions = Some(2));
    let texts: Vec<String> = (0..100).map(|i| format!("t{i}")).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    assert_eq!(e.embed(&refs).unwrap().len(), 100);
    let sizes: Vec<usize> = server.requests().iter().map(|r| r.texts().len()).collect();
    assert_eq!(sizes, [96, 4]);
}

#[test]
fn empty_input_makes_no_request() {
    let server = Server::start(|_, seen| openai_ok(seen, 1536));
    let e = openai(&server, "text-embedding-3-small", |_| {});
    assert!(e.embed(&[]).unwrap().is_empty());
    assert_eq!(server.count(), 0);
}

#[test]
fn unknown_model_dimensions_are_learned_by_one_probe() {
    let server = Server::start(|_, seen| openai_ok(seen, 5));
    let e = openai(&server, "my-own-model", |_| {});
    assert_eq!(e.dimensions(), 5);
    assert_eq!(server.count(), 1, "one probe request");
    let probe = &server.requests()[0];
    assert_eq!(probe.body["model"], json!("my-own-model"));
    assert_eq!(probe.texts().len(), 1);
    assert!(probe.body.get("dimensions").is_none());

    assert_eq!(
        e.embed(&["a", "b"]).unwrap(),
        vec![vector_for("a", 5), vector_for("b", 5)]
    );
    assert_eq!(server.count(), 2);
}

#[test]
fn failed_probe_fails_construction() {
    let server = Server::start(|_, _| {
        Reply::json(
            404,
            json!({"error": {"message": "The model `nope` does not exist"}}),
        )
    });
    let spec = EmbedderSpec::parse("openai:nope").unwrap();
    let err = HttpEmbedder::new(spec, config(&server, Provider::OpenAi)).unwrap_err();
    assert_eq!(err.code(), "EMBEDDING");
    assert!(
        err.to_string().contains("The model `nope` does not exist"),
        "{err}"
    );
}

#[test]
fn known_dimensions_are_checked_against_the_server() {
    // A compatible server that serves a different model under a well-known name.
    let server = Server::start(|_, seen| openai_ok(seen, 384));
    let e = openai(&server, "text-embedding-3-small", |_| {});
    let err = embedding_error(e.embed(&["x"]));
    assert!(
        err.contains("384 dimensions, expected 1536") && err.contains("HttpConfig::dimensions"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// Retries
// ---------------------------------------------------------------------------------------------

#[test]
fn rate_limit_honours_retry_after_then_succeeds() {
    let server = Server::start(|n, seen| {
        if n == 0 {
            Reply::json(429, json!({"error": {"message": "Rate limit reached"}}))
                .header("Retry-After", "1")
        } else {
            openai_ok(seen, 4)
        }
    });
    let e = openai(&server, "m", |c| c.dimensions = Some(4));
    let start = Instant::now();
    let v = e.embed(&["retry me"]).unwrap();
    let waited = start.elapsed();
    assert_eq!(v, vec![vector_for("retry me", 4)]);
    assert_eq!(server.count(), 2);
    assert!(
        waited >= Duration::from_millis(950),
        "Retry-After: 1 was not honoured: {waited:?}"
    );
    let r = server.requests();
    assert_eq!(r[0].body, r[1].body, "the retry resends the same request");
}

#[test]
fn retry_after_is_capped_by_max_retry_delay() {
    let server = Server::start(|n, seen| {
        if n == 0 {
            Reply::json(429, json!({})).header("Retry-After", "3600")
        } else {
            openai_ok(seen, 2)
        }
    });
    let e = openai(&server, "m", |c| {
        c.dimensions = Some(2);
        c.max_retry_delay = Duration::from_millis(50);
    });
    let start = Instant::now();
    e.embed(&["x"]).unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(server.count(), 2);
}

#[test]
fn server_errors_are_retried_with_backoff() {
    let server = Server::start(|n, seen| match n {
        0 => Reply::json(500, json!({"error": {"message": "internal"}})),
        1 => Reply::raw(503, "<html>Service Unavailable</html>"),
        _ => openai_ok(seen, 2),
    });
    let e = openai(&server, "m", |c| {
        c.dimensions = Some(2);
        c.retry_base = Duration::from_millis(100);
    });
    let start = Instant::now();
    assert_eq!(e.embed(&["ok"]).unwrap(), vec![vector_for("ok", 2)]);
    assert_eq!(server.count(), 3);
    // Backoff without Retry-After: 100 ms, then 200 ms.
    assert!(
        start.elapsed() >= Duration::from_millis(290),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn persistent_server_error_gives_up_after_max_retries() {
    let server =
        Server::start(|_, _| Reply::json(502, json!({"error": {"message": "upstream exploded"}})));
    let e = openai(&server, "m", |c| {
        c.dimensions = Some(2);
        c.max_retries = 2;
    });
    let err = embedding_error(e.embed(&["x"]));
    assert_eq!(server.count(), 3, "1 attempt + 2 retries");
    assert!(
        err.contains("server error (HTTP 502)") && err.contains("after 3 attempts"),
        "{err}"
    );
    assert!(err.contains("upstream exploded"), "{err}");
}

#[test]
fn persistent_rate_limit_gives_up() {
    let server = Server::start(|_, _| Reply::json(429, json!({"message": "too many requests"})));
    let e = cohere(&server, "embed-english-v3.0", |c| c.max_retries = 1);
    let err = embedding_error(e.embed(&["x"]));
    assert_eq!(server.count(), 2);
    assert!(
        err.contains("rate limited (HTTP 429)") && err.contains("after 2 attempts"),
        "{err}"
    );
    assert!(err.contains("too many requests"), "{err}");
}

#[test]
fn zero_retries_means_one_attempt() {
    let server = Server::start(|_, _| Reply::json(500, json!({})));
    let e = openai(&server, "m", |c| {
        c.dimensions = Some(2);
        c.max_retries = 0;
    });
    let err = embedding_error(e.embed(&["x"]));
    assert_eq!(server.count(), 1);
    assert!(err.contains("after 1 attempt:"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

#[test]
fn unauthorized_names_the_key_variable_and_is_not_retried() {
    let server = Server::start(|_, _| {
        Reply::json(
            401,
            json!({"error": {"message": "Incorrect API key provided: sk-xx", "type": "invalid_request_error"}}),
        )
    });
    let e = openai(&server, "m", |c| c.dimensions = Some(2));
    let err = embedding_error(e.embed(&["x"]));
    assert_eq!(server.count(), 1);
    assert!(
        err.contains("HTTP 401") && err.contains("check OPENAI_API_KEY"),
        "{err}"
    );
    assert!(err.contains("Incorrect API key provided"), "{err}");

    let server = Server::start(|_, _| Reply::json(403, json!({"message": "invalid api token"})));
    let e = cohere(&server, "embed-english-v3.0", |c| c.api_key = None);
    let err = embedding_error(e.embed(&["x"]));
    assert!(
        err.contains("HTTP 403") && err.contains("no API key is set; set COHERE_API_KEY"),
        "{err}"
    );
    assert!(err.contains("invalid api token"), "{err}");
}

#[test]
fn bad_request_carries_the_provider_message() {
    let server = Server::start(|_, _| {
        Reply::json(
            400,
            json!({"error": {"message": "This model's maximum context length is 8192 tokens", "type": "invalid_request_error", "code": null}}),
        )
    });
    let e = openai(&server, "m", |c| c.dimensions = Some(2));
    let err = embedding_error(e.embed(&["x"]));
    assert_eq!(server.count(), 1, "4xx is not retried");
    assert!(
        err.contains("HTTP 400") && err.contains("maximum context length is 8192 tokens"),
        "{err}"
    );
    assert!(err.contains(&server.root), "names the URL: {err}");

    let server = Server::start(|_, _| {
        Reply::json(
            422,
            json!({"message": "invalid request: texts must not be empty"}),
        )
    });
    let e = cohere(&server, "embed-english-v3.0", |_| {});
    let err = embedding_error(e.embed(&["x"]));
    assert!(
        err.contains("HTTP 422") && err.contains("texts must not be empty"),
        "{err}"
    );
}

#[test]
fn malformed_json_is_an_error_not_a_panic() {
    for body in [
        "{not json",
        r#"{"data": "nope"}"#,
        r#"{"data": [{"index": 0, "embedding": "AAAA"}]}"#,
        "",
    ] {
        let server = Server::start(move |_, _| Reply::raw(200, body));
        let e = openai(&server, "m", |c| c.dimensions = Some(2));
        let err = embedding_error(e.embed(&["x"]));
        assert!(err.contains("malformed response"), "{body}: {err}");
    }
    let server = Server::start(|_, _| Reply::json(200, json!({"embeddings": {"int8": [[1, 2]]}})));
    let e = cohere(&server, "c", |c| c.dimensions = Some(2));
    let err = embedding_error(e.embed(&["x"]));
    assert!(
        err.contains("malformed response") && err.contains("float"),
        "{err}"
    );
}

#[test]
fn wrong_vector_count_is_an_error() {
    let server = Server::start(|_, seen| {
        let mut reply = openai_ok(seen, 2);
        let mut v: Value = serde_json::from_str(&reply.body).unwrap();
        v["data"].as_array_mut().unwrap().pop();
        reply.body = v.to_string();
        reply
    });
    let e = openai(&server, "m", |c| c.dimensions = Some(2));
    let err = embedding_error(e.embed(&["a", "b", "c"]));
    assert!(err.contains("returned 2 vectors for 3 texts"), "{err}");

    let server = Server::start(|_, _| Reply::json(200, json!({"embeddings": [[1.0, 2.0]]})));
    let e = cohere(&server, "c", |c| c.dimensions = Some(2));
    let err = embedding_error(e.embed(&["a", "b"]));
    assert!(err.contains("returned 1 vectors for 2 texts"), "{err}");
}

#[test]
fn inconsistent_dimensions_are_an_error() {
    let server = Server::start(|_, _| {
        Reply::json(
            200,
            json!({"data": [{"index": 0, "embedding": [1.0, 2.0]}, {"index": 1, "embedding": [1.0]}]}),
        )
    });
    let e = openai(&server, "m", |c| c.dimensions = Some(2));
    let err = embedding_error(e.embed(&["a", "b"]));
    assert!(
        err.contains("vector 1") && err.contains("1 dimensions, expected 2"),
        "{err}"
    );

    // While learning the length, the first vector sets it and the probe must be non-empty.
    let server =
        Server::start(|_, _| Reply::json(200, json!({"data": [{"index": 0, "embedding": []}]})));
    let spec = EmbedderSpec::parse("openai:unknown").unwrap();
    let err = HttpEmbedder::new(spec, config(&server, Provider::OpenAi))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("vector 0") && err.contains("is empty"),
        "{err}"
    );
}

#[test]
fn bad_openai_indices_are_an_error() {
    for data in [
        json!([{"index": 0, "embedding": [1.0]}, {"index": 0, "embedding": [2.0]}]),
        json!([{"index": 0, "embedding": [1.0]}, {"index": 7, "embedding": [2.0]}]),
    ] {
        let server = Server::start(move |_, _| Reply::json(200, json!({ "data": data })));
        let e = openai(&server, "m", |c| c.dimensions = Some(1));
        let err = embedding_error(e.embed(&["a", "b"]));
        assert!(
            err.contains("appears twice") || err.contains("out of range"),
            "{err}"
        );
    }
    // Servers that omit `index` are read in list order.
    let server = Server::start(|_, _| {
        Reply::json(
            200,
            json!({"data": [{"embedding": [1.0]}, {"embedding": [2.0]}]}),
        )
    });
    let e = openai(&server, "m", |c| c.dimensions = Some(1));
    assert_eq!(e.embed(&["a", "b"]).unwrap(), vec![vec![1.0], vec![2.0]]);
}

#[test]
fn unreachable_server_names_the_url() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }; // closed again: connections are refused
    let mut c = HttpConfig::for_provider(Provider::OpenAi);
    c.base_url = format!("http://127.0.0.1:{port}/v1/");
    c.dimensions = Some(2);
    let e = HttpEmbedder::new(EmbedderSpec::parse("openai:m").unwrap(), c).unwrap();
    let start = Instant::now();
    let err = embedding_error(e.embed(&["x"]));
    assert!(
        err.contains(&format!(
            "cannot reach http://127.0.0.1:{port}/v1/embeddings"
        )),
        "{err}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "network errors are not retried"
    );
}

#[test]
fn slow_server_times_out() {
    let server = Server::start(|_, seen| {
        std::thread::sleep(Duration::from_millis(1500));
        openai_ok(seen, 2)
    });
    let e = openai(&server, "m", |c| {
        c.dimensions = Some(2);
        c.timeout = Duration::from_millis(200);
    });
    let start = Instant::now();
    let err = embedding_error(e.embed(&["x"]));
    assert!(err.contains("timed out after 200ms"), "{err}");
    assert!(
        start.elapsed() < Duration::from_millis(1400),
        "{:?}",
        start.elapsed()
    );
}

// ---------------------------------------------------------------------------------------------
// Cohere protocol
// ---------------------------------------------------------------------------------------------

#[test]
fn cohere_request_fields_and_both_response_shapes() {
    for by_type in [true, false] {
        let server = Server::start(move |_, seen| cohere_ok(seen, 1024, by_type));
        let e = cohere(&server, "embed-english-v3.0", |_| {});
        assert_eq!(
            (e.name(), e.dimensions()),
            ("cohere:embed-english-v3.0", 1024)
        );
        let texts = ["first document", "second document", ""];
        let vectors = e.embed(&texts).unwrap();
        let expected: Vec<Vec<f32>> = ["first document", "second document", " "]
            .iter()
            .map(|t| vector_for(t, 1024))
            .collect();
        assert_eq!(vectors, expected, "by_type = {by_type}");

        let r = &server.requests()[0];
        assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/v1/embed"));
        assert_eq!(
            r.headers.get("authorization").map(String::as_str),
            Some("Bearer test-key")
        );
        assert_eq!(
            r.body,
            json!({
                "model": "embed-english-v3.0",
                "texts": ["first document", "second document", " "],
                "input_type": "search_document",
                "embedding_types": ["float"],
                "truncate": "END",
            })
        );
    }
}

#[test]
fn cohere_dimensions_are_declared_not_sent() {
    let server = Server::start(|_, seen| cohere_ok(seen, 16, false));
    let e = cohere(&server, "embed-v4.0", |c| c.dimensions = Some(16));
    assert_eq!(e.dimensions(), 16);
    assert_eq!(e.embed(&["q"]).unwrap(), vec![vector_for("q", 16)]);
    assert_eq!(server.count(), 1, "no probe when dimensions are configured");
    assert!(server.requests()[0].body.get("dimensions").is_none());
}

// ---------------------------------------------------------------------------------------------
// Construction and configuration
// ---------------------------------------------------------------------------------------------

#[test]
fn construction_errors() {
    let local = EmbedderSpec::parse("local").unwrap();
    let err = HttpEmbedder::new(local, HttpConfig::for_provider(Provider::OpenAi)).unwrap_err();
    assert_eq!(err.code(), "EMBEDDING");
    assert!(err.to_string().contains("local embedder"), "{err}");

    let spec = EmbedderSpec::parse("openai:text-embedding-3-small").unwrap();
    let bad = |f: fn(&mut HttpConfig)| {
        let mut c = HttpConfig::for_provider(Provider::OpenAi);
        f(&mut c);
        HttpEmbedder::new(spec.clone(), c).unwrap_err().to_string()
    };
    assert!(bad(|c| c.batch_size = 0).contains("batch_size"));
    assert!(bad(|c| c.timeout = Duration::ZERO).contains("timeout"));
    assert!(bad(|c| c.base_url = " ".into()).contains("base_url"));
    assert!(bad(|c| c.dimensions = Some(0)).contains("dimensions"));
}

#[test]
fn provider_defaults_and_environment() {
    let openai = HttpConfig::for_provider(Provider::OpenAi);
    assert_eq!(openai.base_url, "https://api.openai.com/v1");
    assert_eq!(
        (
            openai.api_key.as_deref(),
            openai.dimensions,
            openai.max_retries
        ),
        (None, None, 3)
    );
    assert_eq!(
        HttpConfig::for_provider(Provider::Cohere).base_url,
        "https://api.cohere.com/v1"
    );

    // The only test that touches these variables (std serialises environment access).
    std::env::set_var("OPENAI_API_KEY", "sk-from-env");
    std::env::set_var("OPENAI_BASE_URL", "http://127.0.0.1:9/v1");
    std::env::set_var("COHERE_API_KEY", "co-from-env");
    std::env::remove_var("COHERE_BASE_URL");
    std::env::set_var("REM_EMBEDDING_TIMEOUT_MS", "1500");
    let c = HttpConfig::from_env(Provider::OpenAi).unwrap();
    assert_eq!(
        (c.api_key.as_deref(), c.base_url.as_str(), c.timeout),
        (
            Some("sk-from-env"),
            "http://127.0.0.1:9/v1",
            Duration::from_millis(1500)
        )
    );
    let c = HttpConfig::from_env(Provider::Cohere).unwrap();
    assert_eq!(
        (c.api_key.as_deref(), c.base_url.as_str()),
        (Some("co-from-env"), "https://api.cohere.com/v1")
    );
    assert!(
        !format!("{c:?}").contains("co-from-env"),
        "Debug hides the key"
    );

    std::env::set_var("OPENAI_API_KEY", "");
    std::env::set_var("REM_EMBEDDING_TIMEOUT_MS", "soon");
    let err = HttpConfig::from_env(Provider::OpenAi).unwrap_err();
    assert!(
        err.to_string().contains("REM_EMBEDDING_TIMEOUT_MS"),
        "{err}"
    );
    std::env::remove_var("REM_EMBEDDING_TIMEOUT_MS");
    assert_eq!(
        HttpConfig::from_env(Provider::OpenAi).unwrap().api_key,
        None,
        "empty means unset"
    );

    // from_spec = new + from_env: the environment's base URL and key are used.
    let server = Server::start(|_, seen| openai_ok(seen, 1536));
    std::env::set_var("OPENAI_API_KEY", "sk-env-2");
    std::env::set_var("OPENAI_BASE_URL", format!("{}/v1", server.root));
    let e = HttpEmbedder::from_spec(&EmbedderSpec::parse("openai:text-embedding-3-small").unwrap())
        .unwrap();
    e.embed(&["env"]).unwrap();
    assert_eq!(
        server.requests()[0].headers["authorization"],
        "Bearer sk-env-2"
    );
    for var in ["OPENAI_API_KEY", "OPENAI_BASE_URL", "COHERE_API_KEY"] {
        std::env::remove_var(var);
    }
}

/// Through a database: rows are embedded as documents (`search_document`), and the text of a
/// search or of SQL `embedding.cosine('...')` as a query (`search_query`), as Cohere asks.
#[test]
fn cohere_embeds_rows_as_documents_and_search_text_as_queries() {
    let server = Server::start(|_, seen| cohere_ok(seen, 4, true));
    let db = remdb::Database::memory();
    let spec = EmbedderSpec::parse("cohere:c").unwrap();
    db.embedders().register(
        &spec.to_string(),
        Arc::new(cohere(&server, "c", |c| c.dimensions = Some(4))),
    );
    let t = db.tenant("default").unwrap();
    t.register_schema(json!({
        "title": "Note", "type": "object", "properties": {"body": {"type": "string"}},
        "json_schema_extra": {"embedding_fields": ["body"], "embedding_provider": "cohere:c"}
    }))
    .unwrap();
    let id = t.insert("note", json!({"body": "first note"})).unwrap();
    t.insert("note", json!({"body": "second note"})).unwrap();
    let types = |from: usize| -> Vec<(String, Vec<String>)> {
        server.requests()[from..]
            .iter()
            .map(|r| {
                (
                    r.body["input_type"].as_str().unwrap().to_string(),
                    r.texts(),
                )
            })
            .collect()
    };
    assert_eq!(
        types(0),
        [
            (
                "search_document".to_string(),
                vec!["first note".to_string()]
            ),
            (
                "search_document".to_string(),
                vec!["second note".to_string()]
            ),
        ]
    );
    let hits = t
        .search(
            "note",
            "first note",
            &remdb::vector::SearchOptions::default(),
        )
        .unwrap();
    assert_eq!(hits[0].id, id, "the query's vector finds the row");
    let rows = t
        .sql(
            "SELECT body FROM note WHERE embedding.cosine('second') LIMIT 1",
            &[],
        )
        .unwrap();
    assert_eq!(rows.rows.len(), 1);
    assert_eq!(
        types(2),
        [
            ("search_query".to_string(), vec!["first note".to_string()]),
            ("search_query".to_string(), vec!["second".to_string()]),
        ]
    );
    assert_eq!(
        t.embed(&["plain"], Some("cohere:c")).unwrap().len(),
        1,
        "embed() embeds documents"
    );
    assert_eq!(types(4)[0].0, "search_document");
}
