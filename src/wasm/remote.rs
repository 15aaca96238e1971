//! HTTP embedders from JavaScript and the async methods that await them; the async drain of
//! queued embedding work.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use wasm_bindgen::prelude::*;

use super::convert::{js_error, json_to_js, options, sql_budget, to_js, to_u64, to_usize};
use super::entities::sql_params;
use super::vectors::{js_texts, search_options, vectors_to_js};
use super::RemDb;
use crate::embed::Embedder;
use crate::Error;

#[wasm_bindgen]
impl RemDb {
    /// Like `sql`, awaiting remote providers for the texts of similarity searches
    /// (`embedding.cosine('text')`, `SEARCH 'text' IN t`): a run that needs a text a remote
    /// provider has not embedded yet records it; the texts are embedded, and the query runs again.
    #[wasm_bindgen(js_name = sqlAsync)]
    pub fn sql_async(
        &self,
        query: String,
        params: JsValue,
        opts: JsValue,
    ) -> Result<js_sys::Promise, JsValue> {
        let params = sql_params(params)?;
        let budget = sql_budget(opts)?;
        let (tenant, remote, queries) = (
            self.tenant.clone(),
            self.remote.clone(),
            self.queries.clone(),
        );
        Ok(wasm_bindgen_futures::future_to_promise(async move {
            // Each round embeds what the run before asked for; a query has at most a few texts.
            for _ in 0..4 {
                let handles: Vec<(String, Arc<Mutex<QueryVectors>>)> = queries
                    .borrow()
                    .iter()
                    .map(|(p, q)| (p.clone(), q.clone()))
                    .collect();
                for (_, q) in &handles {
                    q.lock().map_err(|_| js_error(poisoned()))?.missing.clear();
                }
                let failure = match tenant.sql_with(&query, &params, &budget) {
                    Ok(rows) => return to_js(&rows),
                    Err(e) => e,
                };
                let mut embedded_any = false;
                for (provider, q) in handles {
                    let texts =
                        std::mem::take(&mut q.lock().map_err(|_| js_error(poisoned()))?.missing);
                    let http = remote.borrow().get(&provider).cloned();
                    let (Some(http), false) = (http, texts.is_empty()) else {
                        continue;
                    };
                    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                    let vectors = http.embed_queries_async(&refs).await.map_err(js_error)?;
                    q.lock()
                        .map_err(|_| js_error(poisoned()))?
                        .remember(texts, vectors);
                    embedded_any = true;
                }
                if !embedded_any {
                    return Err(js_error(failure));
                }
            }
            Err(js_error(Error::Embedding(
                "the query still needed new embeddings after four rounds".into(),
            )))
        }))
    }
}

impl RemDb {
    /// Starts the async drain task when queued work may be waiting: background mode, or remote
    /// embedders (their work is always queued here). Idempotent while it runs.
    pub(super) fn schedule_drain(&self) {
        let background = self.db.embed_settings().mode == crate::vector::EmbedMode::Background;
        if (!background && self.remote.borrow().is_empty()) || self.draining.get() {
            return;
        }
        self.draining.set(true);
        let (tenant, remote, draining) = (
            self.tenant.clone(),
            self.remote.clone(),
            self.draining.clone(),
        );
        wasm_bindgen_futures::spawn_local(async move {
            // Errors stop the task; the work stays queued for the next write or flush.
            let _ = drain_async(tenant.store(), &remote).await;
            draining.set(false);
        });
    }
}

/// Drains queued embedding work 32 rows at a time, yielding to the event loop between steps;
/// remote providers are awaited, local ones run in place.
async fn drain_async(
    tenant: &crate::store::TenantStore,
    remote: &Rc<RefCell<HashMap<String, Rc<crate::embed::HttpEmbedder>>>>,
) -> Result<crate::vector::DrainReport, Error> {
    let settings = tenant.embed_settings();
    let can = |p: &str| {
        remote.borrow().contains_key(p) || settings.source.as_ref().is_some_and(|s| s.can_embed(p))
    };
    let mut drain = crate::vector::Drain::default();
    loop {
        next_tick().await;
        let batch = tenant.next_embedding_batch(32, &|p| !drain.skips(p) && can(p))?;
        if batch.is_empty() {
            break;
        }
        let mut results = Vec::new();
        for (provider, texts) in batch.requests() {
            let http = remote.borrow().get(&provider).cloned();
            let vectors = match http {
                Some(e) => e.embed_async(&texts).await,
                None => crate::vector::embed_texts(tenant, &provider, &texts),
            };
            results.push((provider, vectors));
        }
        if !drain.step(tenant, &batch, results)? {
            break;
        }
    }
    drain.finish(tenant)
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(callback: &js_sys::Function, ms: i32) -> JsValue;
}

/// Resolves on the next macrotask (`setTimeout(0)`): lets the page or event loop run.
async fn next_tick() {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        set_timeout(&resolve, 0);
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// Remote (HTTP) embedders from JavaScript: registered once, awaited by the drain task,
/// `embedAsync` and `searchAsync`.
#[wasm_bindgen]
impl RemDb {
    /// Uses an OpenAI- or Cohere-compatible HTTP embedder for `spec` (e.g.
    /// `openai:text-embedding-3-small`) with `{baseUrl, apiKey, dimensions, timeoutMs,
    /// maxRetries, batchSize}`. Its work is queued by writes and embedded by an async task
    /// (`embeddingsIdle()` waits for it). Resolves when ready (after a probe request when the
    /// vector length is unknown).
    #[wasm_bindgen(js_name = useRemoteEmbedder)]
    pub fn use_remote_embedder(
        &self,
        spec: &str,
        opts: JsValue,
    ) -> Result<js_sys::Promise, JsValue> {
        let spec = crate::embed::EmbedderSpec::parse(spec).map_err(js_error)?;
        let o: JsRemoteOptions = options(
            "remote embedder options",
            "{baseUrl, apiKey, dimensions, timeoutMs, maxRetries, batchSize}",
            opts,
        )?;
        let mut config = crate::embed::HttpConfig::for_provider(spec.provider);
        if let Some(u) = o.base_url {
            config.base_url = u;
        }
        config.api_key = o.api_key.or(config.api_key);
        if let Some(d) = o.dimensions {
            config.dimensions = Some(to_usize("dimensions", d)?);
        }
        if let Some(t) = o.timeout_ms {
            config.timeout = std::time::Duration::from_millis(to_u64("timeoutMs", t)?);
        }
        if let Some(r) = o.max_retries {
            config.max_retries = u32::try_from(to_u64("maxRetries", r)?).unwrap_or(u32::MAX);
        }
        if let Some(b) = o.batch_size {
            config.batch_size = to_usize("batchSize", b)?;
        }
        let (db, remote, queries, name) = (
            self.db.clone(),
            self.remote.clone(),
            self.queries.clone(),
            spec.to_string(),
        );
        Ok(wasm_bindgen_futures::future_to_promise(async move {
            let e = crate::embed::HttpEmbedder::new_async(spec, config)
                .await
                .map_err(js_error)?;
            let e = Rc::new(e);
            remote.borrow_mut().insert(name.clone(), e.clone());
            let prepared = Arc::new(Mutex::new(QueryVectors::default()));
            queries.borrow_mut().insert(name.clone(), prepared.clone());
            db.embedders().register(
                &name,
                Arc::new(RemoteHandle(e.dimensions(), name.clone(), prepared)),
            );
            Ok(JsValue::UNDEFINED)
        }))
    }

    /// Like `embed`, awaiting remote providers. Resolves to a `Float32Array` (one text) or an
    /// array of them.
    #[wasm_bindgen(js_name = embedAsync)]
    pub fn embed_async(
        &self,
        texts: JsValue,
        provider: Option<String>,
    ) -> Result<js_sys::Promise, JsValue> {
        let provider = match provider {
            Some(p) => p,
            None => self
                .db
                .embed_settings()
                .default_provider
                .unwrap_or_default(),
        };
        let http = self.remote.borrow().get(&provider).cloned();
        let Some(http) = http else {
            let out = self.embed(texts, Some(provider))?;
            return Ok(js_sys::Promise::resolve(&out));
        };
        let (texts, single) = js_texts(texts)?;
        Ok(wasm_bindgen_futures::future_to_promise(async move {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let vectors = http.embed_async(&refs).await.map_err(js_error)?;
            Ok(vectors_to_js(&vectors, single))
        }))
    }

    /// Like `search` (the same options, `where` included), awaiting a remote provider to embed
    /// the query text.
    #[wasm_bindgen(js_name = searchAsync)]
    pub fn search_async(
        &self,
        table: &str,
        query: JsValue,
        opts: JsValue,
    ) -> Result<js_sys::Promise, JsValue> {
        let Some(text) = query.as_string() else {
            return Ok(js_sys::Promise::resolve(&self.search(table, query, opts)?));
        };
        let ids = self.where_ids(table, &opts)?;
        if ids.as_ref().is_some_and(HashSet::is_empty) {
            let nothing: JsValue = js_sys::Array::new().into();
            return Ok(js_sys::Promise::resolve(&nothing));
        }
        let options = search_options(opts, ids)?;
        let schema = self
            .tenant
            .store()
            .compiled_schema(table)
            .map_err(js_error)?;
        let provider = match (&options.provider, options.alt) {
            (Some(p), _) => Some(p.clone()),
            (None, true) => schema.info.embedding_provider_alt.clone(),
            (None, false) => self
                .db
                .embed_settings()
                .providers(&schema.info)
                .into_iter()
                .next(),
        };
        let http = provider
            .as_ref()
            .and_then(|p| self.remote.borrow().get(p).cloned());
        let Some(http) = http else {
            let query = crate::vector::SearchQuery::Text(text);
            let found = self
                .tenant
                .search_json(table, query, &options)
                .map_err(js_error)?;
            return Ok(js_sys::Promise::resolve(&json_to_js(&found)?));
        };
        let tenant = self.tenant.clone();
        let table = table.to_string();
        Ok(wasm_bindgen_futures::future_to_promise(async move {
            let v = http
                .embed_queries_async(&[text.as_str()])
                .await
                .map_err(js_error)?
                .pop()
                .unwrap_or_default();
            json_to_js(
                &tenant
                    .search_json(&table, crate::vector::SearchQuery::Vector(v), &options)
                    .map_err(js_error)?,
            )
        }))
    }

    /// Resolves when the async drain task is idle, to `{embedded, dropped, remaining}` of a final
    /// pass (work no provider can do stays queued).
    #[wasm_bindgen(js_name = embeddingsIdle)]
    pub fn embeddings_idle(&self) -> js_sys::Promise {
        let (tenant, remote, draining) = (
            self.tenant.clone(),
            self.remote.clone(),
            self.draining.clone(),
        );
        wasm_bindgen_futures::future_to_promise(async move {
            while draining.get() {
                next_tick().await;
            }
            draining.set(true);
            let report = drain_async(tenant.store(), &remote).await;
            draining.set(false);
            to_js(&report.map_err(js_error)?)
        })
    }
}

/// Stands in the registry for an HTTP embedder that only answers asynchronously here, so the
/// store queues its work (`is_sync` is false) and reports it ready. Synchronous query embeddings
/// are answered from the texts `sqlAsync` embedded ahead; others are recorded as missing.
struct RemoteHandle(usize, String, Arc<Mutex<QueryVectors>>);

/// Query vectors a remote provider computed ahead of a synchronous use, and the texts a
/// synchronous use asked for that were not there.
#[derive(Default)]
pub(super) struct QueryVectors {
    vectors: HashMap<String, Vec<f32>>,
    missing: Vec<String>,
}

/// Texts kept at most (then the cache starts over): query texts, not documents.
const MAX_QUERY_VECTORS: usize = 1024;

impl QueryVectors {
    fn remember(&mut self, texts: Vec<String>, vectors: Vec<Vec<f32>>) {
        if self.vectors.len() + texts.len() > MAX_QUERY_VECTORS {
            self.vectors.clear();
        }
        self.vectors.extend(texts.into_iter().zip(vectors));
    }
}

/// A lock on a query vector cache that a panic left poisoned (cannot happen single-threaded).
fn poisoned() -> Error {
    Error::Embedding("query vector cache is unusable".into())
}

impl Embedder for RemoteHandle {
    fn name(&self) -> &str {
        &self.1
    }
    fn dimensions(&self) -> usize {
        self.0
    }
    fn is_sync(&self) -> bool {
        false
    }
    fn embed(&self, texts: &[&str]) -> crate::Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        Err(self.asynchronous())
    }
    /// From the vectors `sqlAsync` embedded ahead (as queries); a text not there is recorded.
    fn embed_query(&self, text: &str) -> crate::Result<Vec<f32>> {
        let mut q = self.2.lock().map_err(|_| poisoned())?;
        if let Some(found) = q.vectors.get(text) {
            return Ok(found.clone());
        }
        if q.missing.len() < 64 && !q.missing.iter().any(|m| m == text) {
            q.missing.push(text.to_string());
        }
        Err(self.asynchronous())
    }
}

impl RemoteHandle {
    fn asynchronous(&self) -> Error {
        Error::Embedding(format!(
            "{}: remote embedders answer asynchronously here (embedAsync, searchAsync, sqlAsync)",
            self.1
        ))
    }
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
/// The `opts` of `useRemoteEmbedder`, as JavaScript spells them.
struct JsRemoteOptions {
    base_url: Option<String>,
    api_key: Option<String>,
    dimensions: Option<f64>,
    timeout_ms: Option<f64>,
    max_retries: Option<f64>,
    batch_size: Option<f64>,
}
