//! `rem serve`: the hub over HTTP (feature `server`, native only). axum on tokio at the edge;
//! every merge and read runs the synchronous core on the blocking pool.
//!
//! Routes: `POST /v1/push`, `GET /v1/pull?since=S&limit=N&wait=SECONDS&device=D&snapshot=1`
//! (long-poll), `GET /v1/snapshot?after=CURSOR&limit=N` (the state, page by page),
//! `GET /v1/stream?since=S&device=D&wait=SECONDS` (the log as server-sent events, read with
//! `fetch` so the `Authorization` header works everywhere), `GET /healthz`, `GET /metrics`
//! (Prometheus text). Every `/v1` request carries `Authorization: Bearer <token>`; the token
//! names the one tenant it opens. Every tenant's log and tombstones are compacted in the
//! background (see [`Retention`]).
//!
//! The hub's state lives in its own redb database (`--data DIR`) or in PostgreSQL
//! (`--postgres URL`), which several hub processes may share: their writes to one tenant take
//! turns ([`Kv::exclusive`](crate::kv::Kv::exclusive)) and each wakes the others' long-polls.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::json;

use super::hub::{Retention, Rights};
use super::protocol::{PullResponse, PushRequest, MAX_PULL_ENTRIES, MAX_SNAPSHOT_ITEMS};
use super::token::{Claims, TokenKeys};
use crate::error::{Error, Result};
use crate::Database;

/// Largest push body the hub reads.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Longest long-poll wait, seconds.
pub const MAX_WAIT_SECONDS: u64 = 60;

/// Longest a stream (`/v1/stream`) stays open, seconds; the client then opens another.
pub const MAX_STREAM_SECONDS: u64 = 3600;

/// A stream sends a comment line this often when it has nothing else to send, so proxies and
/// clients see the connection alive.
const STREAM_HEARTBEAT: Duration = Duration::from_secs(15);

/// Connections each hub process keeps to PostgreSQL at most.
pub const POSTGRES_CONNECTIONS: u32 = 16;

/// How often a long-polling pull re-reads the log when the storage is shared, in case a
/// notification from another process was missed (or the server has no `LISTEN`).
const SHARED_RECHECK: Duration = Duration::from_secs(1);

/// How to run a hub.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The hub's data directory: its database (`hub.redb`) and signing keys (unused with
    /// `postgres`).
    pub data: PathBuf,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Keep the hub's state (and its signing keys) in this PostgreSQL database instead, so
    /// several `rem serve` processes can share it behind a load balancer.
    pub postgres: Option<String>,
    /// How much history each tenant keeps.
    pub retention: Retention,
    /// How often every tenant is compacted (`None`: never).
    pub compact_every: Option<Duration>,
}

struct Hub {
    db: Database,
    keys: TokenKeys,
    /// Woken on every push that wrote (here, or in another process sharing the storage), for
    /// long-polling pulls.
    pushed: tokio::sync::Notify,
    /// Whether other processes write the same storage.
    shared: bool,
    metrics: Metrics,
}

#[derive(Default)]
struct Metrics {
    pushes: AtomicU64,
    ops_pushed: AtomicU64,
    ops_rejected: AtomicU64,
    pulls: AtomicU64,
    entries_pulled: AtomicU64,
    snapshot_pages: AtomicU64,
    snapshot_items: AtomicU64,
    streams: AtomicU64,
    entries_compacted: AtomicU64,
    tombstones_collected: AtomicU64,
    push_micros: AtomicU64,
    devices: Mutex<std::collections::BTreeSet<(String, String)>>,
}

/// Opens the hub's database in `options.data` and serves until interrupted (Ctrl-C or
/// SIGTERM). `ready` is called with the bound address once the hub accepts connections.
pub fn serve(options: &ServeOptions, ready: impl FnOnce(SocketAddr)) -> Result<()> {
    let (db, keys) = match &options.postgres {
        Some(url) => {
            let kv = Arc::new(crate::kv::PgKv::connect(url, POSTGRES_CONNECTIONS)?);
            let keys = TokenKeys::load_or_create_in(&*kv)?;
            (
                Database::with_kv_options(kv, &crate::OpenOptions::default())?,
                keys,
            )
        }
        None => (
            Database::open(options.data.join("hub"))?,
            TokenKeys::load_or_create(&options.data)?,
        ),
    };
    let hub = Arc::new(Hub {
        db,
        keys,
        pushed: tokio::sync::Notify::new(),
        shared: options.postgres.is_some(),
        metrics: Metrics::default(),
    });
    if let Some(url) = options.postgres.clone() {
        let listener = hub.clone();
        std::thread::Builder::new()
            .name("rem-hub-listen".into())
            .spawn(move || loop {
                // Pushes other processes take wake this process's long-polling pulls too.
                let _ = crate::kv::listen_for_changes(&url, |_| {
                    listener.pushed.notify_waiters();
                    true
                });
                std::thread::sleep(SHARED_RECHECK);
            })
            .map_err(|e| Error::Sync(format!("cannot start the change listener: {e}")))?;
    }
    if let Some(every) = options.compact_every {
        let compactor = hub.clone();
        let retention = options.retention;
        std::thread::Builder::new()
            .name("rem-hub-compact".into())
            .spawn(move || loop {
                std::thread::sleep(every);
                compactor.compact_all(&retention);
            })
            .map_err(|e| Error::Sync(format!("cannot start the compactor: {e}")))?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Sync(format!("cannot start the server runtime: {e}")))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(options.listen)
            .await
            .map_err(|e| Error::Sync(format!("cannot listen on {}: {e}", options.listen)))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Sync(e.to_string()))?;
        ready(addr);
        axum::serve(listener, router(hub))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .map_err(|e| Error::Sync(format!("server: {e}")))
    })
}

impl Hub {
    /// Compacts every tenant (errors are reported on stderr; the next pass tries again).
    fn compact_all(&self, retention: &Retention) {
        let tenants = match self.db.tenants() {
            Ok(t) => t,
            Err(e) => {
                eprintln!("rem serve: compaction: cannot list tenants: {e}");
                return;
            }
        };
        for name in tenants {
            match self
                .db
                .tenant(&name)
                .and_then(|t| t.hub().compact(retention))
            {
                Ok(done) => {
                    let m = &self.metrics;
                    m.entries_compacted
                        .fetch_add(done.entries_removed, Ordering::Relaxed);
                    m.tombstones_collected
                        .fetch_add(done.tombstones_removed, Ordering::Relaxed);
                }
                Err(e) => eprintln!("rem serve: compaction of tenant {name:?}: {e}"),
            }
        }
    }
}

fn router(hub: Arc<Hub>) -> Router {
    Router::new()
        .route("/v1/push", post(push))
        .route("/v1/pull", get(pull))
        .route("/v1/snapshot", get(snapshot))
        .route("/v1/stream", get(stream))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(cors())
        .with_state(hub)
}

/// Cross-origin access for browser apps served from elsewhere: any origin may call, since
/// every `/v1` call needs its bearer token and no cookie or other ambient credential is read.
fn cors() -> tower_http::cors::CorsLayer {
    use axum::http::{header, Method};
    tower_http::cors::CorsLayer::new()
        .allow_origin(tower_http::cors::Any)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::CONTENT_ENCODING,
        ])
        .max_age(Duration::from_secs(3600))
}

/// An error as an HTTP answer: `{"error": {"code", "message"}}`.
struct Failure(StatusCode, String, String);

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let status = match &e {
            Error::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Error::Limit(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::NotFound(_) | Error::UnknownTable { .. } => StatusCode::NOT_FOUND,
            Error::Wal(_) => StatusCode::GONE,
            _ => StatusCode::BAD_REQUEST,
        };
        Failure(status, e.code().to_string(), e.to_string())
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (
            self.0,
            axum::Json(json!({"error": {"code": self.1, "message": self.2}})),
        )
            .into_response()
    }
}

fn auth(hub: &Hub, headers: &HeaderMap) -> std::result::Result<Claims, Failure> {
    let unauthorized = |why: String| Failure(StatusCode::UNAUTHORIZED, "UNAUTHORIZED".into(), why);
    let header = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| unauthorized("missing `Authorization: Bearer <token>`".into()))?;
    let token = header
        .strip_prefix("Bearer ")
        .ok_or_else(|| unauthorized("the Authorization header must be `Bearer <token>`".into()))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    hub.keys
        .verify(token.trim(), now)
        .map_err(|e| unauthorized(e.to_string()))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> std::result::Result<T, Failure> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| {
            Failure(
                StatusCode::INTERNAL_SERVER_ERROR,
                "STORAGE".into(),
                e.to_string(),
            )
        })?
        .map_err(Failure::from)
}

/// Whether the client takes gzip answers (`Accept-Encoding: gzip`).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(axum::http::header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

/// Answers smaller than this are sent as they are: gzip would not pay.
const GZIP_FROM_BYTES: usize = 1024;

/// `value` as a JSON answer, gzipped when `gzip` and large enough.
fn json_answer(value: &impl serde::Serialize, gzip: bool) -> Result<Response> {
    use axum::http::header::{CONTENT_ENCODING, CONTENT_TYPE, VARY};
    let json = serde_json::to_vec(value).map_err(Error::storage)?;
    if !gzip || json.len() < GZIP_FROM_BYTES {
        return Ok((
            [
                (CONTENT_TYPE, "application/json"),
                (VARY, "accept-encoding"),
            ],
            json,
        )
            .into_response());
    }
    let packed = super::protocol::gzip(&json)?;
    Ok((
        [
            (CONTENT_TYPE, "application/json"),
            (CONTENT_ENCODING, "gzip"),
            (VARY, "accept-encoding"),
        ],
        packed,
    )
        .into_response())
}

/// The push body, inflated when sent with `Content-Encoding: gzip` (to at most
/// [`MAX_BODY_BYTES`]: a body that inflates past it is refused, never held).
fn push_body(headers: &HeaderMap, body: Bytes) -> std::result::Result<Vec<u8>, Failure> {
    use std::io::Read;
    let coding = headers
        .get(axum::http::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase());
    match coding.as_deref() {
        None | Some("identity") => Ok(body.to_vec()),
        Some("gzip") => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&body[..])
                .take(MAX_BODY_BYTES as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| {
                    Failure(
                        StatusCode::BAD_REQUEST,
                        "INVALID_ARGUMENT".into(),
                        format!("push body: not valid gzip: {e}"),
                    )
                })?;
            if out.len() > MAX_BODY_BYTES {
                return Err(Failure(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "LIMIT".into(),
                    format!(
                        "push body inflates past {MAX_BODY_BYTES} bytes; push fewer ops at once"
                    ),
                ));
            }
            Ok(out)
        }
        Some(other) => Err(Failure(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "INVALID_ARGUMENT".into(),
            format!("push body encoding `{other}` is not taken; send it plain or gzip"),
        )),
    }
}

async fn push(
    State(hub): State<Arc<Hub>>,
    headers: HeaderMap,
    body: Bytes,
) -> std::result::Result<Response, Failure> {
    let claims = auth(&hub, &headers)?;
    if claims.read_only {
        return Err(Failure(
            StatusCode::FORBIDDEN,
            "FORBIDDEN".into(),
            "this token is read-only: it cannot push".into(),
        ));
    }
    let body = push_body(&headers, body)?;
    let request: PushRequest = serde_json::from_slice(&body).map_err(|e| {
        Failure(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT".into(),
            format!("push body: {e}"),
        )
    })?;
    if claims.device.as_ref().is_some_and(|d| *d != request.device) {
        return Err(Failure(
            StatusCode::FORBIDDEN,
            "FORBIDDEN".into(),
            "this token belongs to another device".into(),
        ));
    }
    let started = Instant::now();
    let rights = Rights {
        write: true,
        schemas: claims.admin,
    };
    let tenant = claims.tenant.clone();
    let device = request.device.clone();
    let ops = request.ops.len() as u64;
    let worker = hub.clone();
    let answer = blocking(move || worker.db.tenant(&tenant)?.hub().push(rights, &request)).await?;
    let m = &hub.metrics;
    m.pushes.fetch_add(1, Ordering::Relaxed);
    m.ops_pushed.fetch_add(ops, Ordering::Relaxed);
    m.ops_rejected
        .fetch_add(answer.rejected.len() as u64, Ordering::Relaxed);
    m.push_micros
        .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
    if let Ok(mut devices) = m.devices.lock() {
        if devices.len() < 100_000 {
            devices.insert((claims.tenant, device));
        }
    }
    hub.pushed.notify_waiters();
    Ok(json_answer(&answer, accepts_gzip(&headers))?)
}

#[derive(Deserialize)]
struct PullQuery {
    #[serde(default)]
    since: u64,
    limit: Option<usize>,
    #[serde(default)]
    wait: u64,
    /// The pulling device: its position is recorded (active devices hold compaction back).
    device: Option<String>,
    /// `1`: the device can load a snapshot, so the hub may answer `snapshot: true` instead of
    /// refusing a pull from before its compacted log.
    #[serde(default)]
    snapshot: u8,
}

impl PullQuery {
    /// The device the query names, checked against the token's.
    fn device(&self, claims: &Claims) -> std::result::Result<Option<String>, Failure> {
        if let (Some(mine), Some(asked)) = (&claims.device, &self.device) {
            if mine != asked {
                return Err(Failure(
                    StatusCode::FORBIDDEN,
                    "FORBIDDEN".into(),
                    "this token belongs to another device".into(),
                ));
            }
        }
        Ok(self.device.clone().or_else(|| claims.device.clone()))
    }

    /// Entries per answer: as asked, within 1..=[`MAX_PULL_ENTRIES`].
    fn limit(&self) -> usize {
        self.limit
            .unwrap_or(MAX_PULL_ENTRIES)
            .clamp(1, MAX_PULL_ENTRIES)
    }
}

impl Hub {
    /// Reads the log of `tenant` for a pull or a stream, on the blocking pool (see
    /// [`HubTenant::pull_for`](super::hub::HubTenant::pull_for)).
    async fn read_log(
        self: &Arc<Self>,
        tenant: &str,
        device: Option<&str>,
        since: u64,
        limit: usize,
        snapshots: bool,
    ) -> std::result::Result<PullResponse, Failure> {
        let (hub, tenant, device) = (self.clone(), tenant.to_string(), device.map(str::to_string));
        blocking(move || {
            hub.db
                .tenant(&tenant)?
                .hub()
                .pull_for(device.as_deref(), since, limit, snapshots)
        })
        .await
    }

    /// Counts an answer sent to a pull or a stream.
    fn count_pulled(&self, answer: &PullResponse) {
        self.metrics.pulls.fetch_add(1, Ordering::Relaxed);
        self.metrics
            .entries_pulled
            .fetch_add(answer.entries.len() as u64, Ordering::Relaxed);
    }
}

async fn pull(
    State(hub): State<Arc<Hub>>,
    headers: HeaderMap,
    Query(q): Query<PullQuery>,
) -> std::result::Result<Response, Failure> {
    let claims = auth(&hub, &headers)?;
    let device = q.device(&claims)?;
    let limit = q.limit();
    let deadline = Instant::now() + Duration::from_secs(q.wait.min(MAX_WAIT_SECONDS));
    loop {
        // Registered before reading, so a push between the read and the wait is not missed.
        let woken = hub.pushed.notified();
        let answer = hub
            .read_log(
                &claims.tenant,
                device.as_deref(),
                q.since,
                limit,
                q.snapshot == 1,
            )
            .await?;
        let now = Instant::now();
        if !answer.entries.is_empty() || answer.snapshot || now >= deadline {
            hub.count_pulled(&answer);
            let gzip = accepts_gzip(&headers);
            return blocking(move || json_answer(&answer, gzip)).await;
        }
        let wait = if hub.shared {
            (deadline - now).min(SHARED_RECHECK)
        } else {
            deadline - now
        };
        let _ = tokio::time::timeout(wait, woken).await;
    }
}

#[derive(Deserialize)]
struct SnapshotQuery {
    after: Option<String>,
    limit: Option<usize>,
}

async fn snapshot(
    State(hub): State<Arc<Hub>>,
    headers: HeaderMap,
    Query(q): Query<SnapshotQuery>,
) -> std::result::Result<Response, Failure> {
    let claims = auth(&hub, &headers)?;
    let limit = q
        .limit
        .unwrap_or(MAX_SNAPSHOT_ITEMS)
        .clamp(1, MAX_SNAPSHOT_ITEMS);
    let worker = hub.clone();
    let gzip = accepts_gzip(&headers);
    let (page, answer) = blocking(move || {
        let page = worker
            .db
            .tenant(&claims.tenant)?
            .hub()
            .snapshot(q.after.as_deref(), limit)?;
        let answer = json_answer(&page, gzip)?;
        Ok(((page.rows.len() + page.edges.len()) as u64, answer))
    })
    .await?;
    hub.metrics.snapshot_pages.fetch_add(1, Ordering::Relaxed);
    hub.metrics
        .snapshot_items
        .fetch_add(page, Ordering::Relaxed);
    Ok(answer)
}

/// `GET /v1/stream`: the log after `since` as server-sent events, for as long as `wait`
/// seconds (at most [`MAX_STREAM_SECONDS`]): `event: entries` with a pull answer as data
/// whenever the log grows (at most [`MAX_PULL_ENTRIES`] entries an event), `event: snapshot`
/// (and the end of the stream) when the device must load a snapshot first, and a comment line
/// every 15 s when there is nothing to send.
async fn stream(
    State(hub): State<Arc<Hub>>,
    headers: HeaderMap,
    Query(q): Query<PullQuery>,
) -> std::result::Result<Response, Failure> {
    use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
    let claims = auth(&hub, &headers)?;
    let device = q.device(&claims)?;
    let limit = q.limit();
    let wait = if q.wait == 0 {
        MAX_STREAM_SECONDS
    } else {
        q.wait.min(MAX_STREAM_SECONDS)
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
    hub.metrics.streams.fetch_add(1, Ordering::Relaxed);
    struct Follow {
        hub: Arc<Hub>,
        tenant: String,
        device: Option<String>,
        since: u64,
        limit: usize,
        deadline: tokio::time::Instant,
        ended: bool,
    }
    let start = Follow {
        hub: hub.clone(),
        tenant: claims.tenant,
        device,
        since: q.since,
        limit,
        deadline,
        ended: false,
    };
    let events = futures_util::stream::unfold(start, |mut f| async move {
        if f.ended {
            return None;
        }
        let hub = f.hub.clone();
        loop {
            let woken = hub.pushed.notified();
            let answer = hub
                .read_log(&f.tenant, f.device.as_deref(), f.since, f.limit, true)
                .await;
            let answer: PullResponse = match answer {
                Ok(a) => a,
                Err(Failure(_, code, message)) => {
                    f.ended = true;
                    let data = json!({"error": {"code": code, "message": message}});
                    return Some((Ok::<_, std::convert::Infallible>(sse("error", &data)), f));
                }
            };
            if answer.snapshot {
                f.ended = true;
                return Some((Ok(sse("snapshot", &answer)), f));
            }
            if let Some(last) = answer.entries.last() {
                f.since = last.seq;
                hub.count_pulled(&answer);
                return Some((Ok(sse("entries", &answer)), f));
            }
            let now = tokio::time::Instant::now();
            if now >= f.deadline {
                return None;
            }
            let nap = (f.deadline - now).min(if hub.shared {
                SHARED_RECHECK
            } else {
                STREAM_HEARTBEAT
            });
            if tokio::time::timeout(nap, woken).await.is_err() && nap >= STREAM_HEARTBEAT {
                return Some((Ok(Bytes::from_static(b": alive\n\n")), f));
            }
        }
    });
    Ok((
        [
            (CONTENT_TYPE, "text/event-stream"),
            (CACHE_CONTROL, "no-cache"),
        ],
        axum::body::Body::from_stream(events),
    )
        .into_response())
}

/// One server-sent event: `event: <name>` and the JSON of `data` on one `data:` line.
fn sse(name: &str, data: &impl serde::Serialize) -> Bytes {
    let json = serde_json::to_string(data).unwrap_or_else(|_| "null".into());
    Bytes::from(format!("event: {name}\ndata: {json}\n\n"))
}

async fn metrics(State(hub): State<Arc<Hub>>) -> String {
    let m = &hub.metrics;
    let devices = m.devices.lock().map_or(0, |d| d.len());
    let pushes = m.pushes.load(Ordering::Relaxed);
    let micros = m.push_micros.load(Ordering::Relaxed);
    format!(
        "# HELP rem_hub_pushes_total Pushes merged.\n# TYPE rem_hub_pushes_total counter\nrem_hub_pushes_total {pushes}\n\
         # HELP rem_hub_ops_pushed_total Ops received in pushes.\n# TYPE rem_hub_ops_pushed_total counter\nrem_hub_ops_pushed_total {}\n\
         # HELP rem_hub_ops_rejected_total Pushed ops refused.\n# TYPE rem_hub_ops_rejected_total counter\nrem_hub_ops_rejected_total {}\n\
         # HELP rem_hub_pulls_total Pull answers sent.\n# TYPE rem_hub_pulls_total counter\nrem_hub_pulls_total {}\n\
         # HELP rem_hub_entries_pulled_total Log entries sent to pulls.\n# TYPE rem_hub_entries_pulled_total counter\nrem_hub_entries_pulled_total {}\n\
         # HELP rem_hub_snapshot_pages_total Snapshot pages sent.\n# TYPE rem_hub_snapshot_pages_total counter\nrem_hub_snapshot_pages_total {}\n\
         # HELP rem_hub_snapshot_items_total Rows and edges sent in snapshot pages.\n# TYPE rem_hub_snapshot_items_total counter\nrem_hub_snapshot_items_total {}\n\
         # HELP rem_hub_streams_total Log streams opened.\n# TYPE rem_hub_streams_total counter\nrem_hub_streams_total {}\n\
         # HELP rem_hub_entries_compacted_total Log entries removed by compaction.\n# TYPE rem_hub_entries_compacted_total counter\nrem_hub_entries_compacted_total {}\n\
         # HELP rem_hub_tombstones_collected_total Tombstones removed by compaction.\n# TYPE rem_hub_tombstones_collected_total counter\nrem_hub_tombstones_collected_total {}\n\
         # HELP rem_hub_active_devices Devices that pushed since the hub started.\n# TYPE rem_hub_active_devices gauge\nrem_hub_active_devices {devices}\n\
         # HELP rem_hub_push_seconds Time spent merging pushes.\n# TYPE rem_hub_push_seconds summary\nrem_hub_push_seconds_sum {}\nrem_hub_push_seconds_count {pushes}\n",
        m.ops_pushed.load(Ordering::Relaxed),
        m.ops_rejected.load(Ordering::Relaxed),
        m.pulls.load(Ordering::Relaxed),
        m.entries_pulled.load(Ordering::Relaxed),
        m.snapshot_pages.load(Ordering::Relaxed),
        m.snapshot_items.load(Ordering::Relaxed),
        m.streams.load(Ordering::Relaxed),
        m.entries_compacted.load(Ordering::Relaxed),
        m.tombstones_collected.load(Ordering::Relaxed),
        micros as f64 / 1e6,
    )
}
