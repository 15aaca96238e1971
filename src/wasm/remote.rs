//! Embedders that answer asynchronously here (HTTP providers, and the JavaScript functions of
//! [`super::custom`]), the async methods that await them, and the async drain of queued
//! embedding work.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::Arc;

use serde::Deserialize;
use wasm_bindgen::prelude::*;

use super::convert::{js_error, json_to_js, options, sql_budget, to_js, to_u64, to_usize};
use super::custom::{JsEmbedder, Kind};
use super::entities::sql_params;
use super::vectors::{js_texts, search_options, vectors_to_js};
use super::RemDb;
use crate::embed::{Embedder, HttpEmbedder};
use crate::sql::{QueryText, QueryVectors};
use crate::Error;

/// An embedder the wasm face awaits: an HTTP provider or a JavaScript function.
#[derive(Clone)]
pub(super) enum AsyncEmbedder {
    /// An OpenAI- or Cohere-compatible HTTP API, through `fetch`.
    Http(Rc<HttpEmbedder>),
    /// A `custom:NAME` JavaScript function.
    Js(Rc<JsEmbedder>),
}

impl AsyncEmbedder {
    /// The provider spec it answers to.
    fn name(&self) -> &str {
        match self {
            AsyncEmbedder::Http(e) => e.name(),
            AsyncEmbedder::Js(e) => e.name(),
        }
    }

    /// The length of its vectors.
    fn dimensions(&self) -> usize {
        match self {
            AsyncEmbedder::Http(e) => e.dimensions(),
            AsyncEmbedder::Js(e) => e.dimensions(),
        }
    }

    /// Vectors of texts stored in rows (and of `embed`).
    async fn documents(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, Error> {
        match self {
            AsyncEmbedder::Http(e) => e.embed_async(texts).await,
            AsyncEmbedder::Js(e) => e.embed(texts, Kind::Document).await,
        }
    }

    /// Vectors of search texts.
    async fn queries(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, Error> {
        match self {
            AsyncEmbedder::Http(e) => e.embed_queries_async(texts).await,
            AsyncEmbedder::Js(e) => e.embed(texts, Kind::Query).await,
        }
    }
}

/// Async embedders by provider spec, shared by a face's tenant handles.
pub(super) type AsyncEmbedders = Rc<RefCell<HashMap<String, AsyncEmbedder>>>;

#[wasm_bindgen]
impl RemDb {
    /// Like `sql`, awaiting async embedders for the texts of similarity searches
    /// (`embedding.cosine('text')`, `SEARCH 'text' IN t`), in two phases: the statement is
    /// bound and planned and the texts it embeds are listed; they are embedded (query vectors
    /// of async providers are kept for reuse); then it runs with their vectors supplied.
    #[wasm_bindgen(js_name = sqlAsync)]
    pub fn sql_async(
        &self,
        query: String,
        params: JsValue,
        opts: JsValue,
    ) -> Result<js_sys::Promise, JsValue> {
        let params = sql_params(params)?;
        let texts = self
            .tenant
            .sql_query_texts(&query, &params)
            .map_err(js_error)?;
        let budget = sql_budget(opts)?;
        let (tenant, remote, queries) = (
            self.tenant.clone(),
            self.remote.clone(),
            self.queries.clone(),
        );
        Ok(wasm_bindgen_futures::future_to_promise(async move {
            let vectors = query_vectors(tenant.store(), &remote, &queries, texts)
                .await
                .map_err(js_error)?;
            to_js(
                &tenant
                    .sql_with_vectors(&query, &params, &vectors, &budget)
                    .map_err(js_error)?,
            )
        }))
    }
}

/// The vectors of `texts`: from the cache, from their async provider (then cached), or
/// computed in place by a synchronous one.
pub(super) async fn query_vectors(
    tenant: &crate::store::TenantStore,
    remote: &AsyncEmbedders,
    cache: &Rc<RefCell<QueryCache>>,
    texts: Vec<QueryText>,
) -> Result<QueryVectors, Error> {
    let mut out = QueryVectors::new();
    for QueryText { provider, text } in texts {
        let key = (provider, text);
        if let Some(v) = cache.borrow().vectors.get(&key) {
            out.insert(key, v.clone());
            continue;
        }
        let embedder = remote.borrow().get(&key.0).cloned();
        let vector = match embedder {
            Some(e) => {
                let v = e.queries(&[key.1.as_str()]).await?.pop().ok_or_else(|| {
                    Error::Embedding(format!("{}: no vector for the query text", key.0))
                })?;
                cache.borrow_mut().remember(key.clone(), v.clone());
                v
            }
            None => crate::vector::embed_query(tenant, &key.0, &key.1)?,
        };
        out.insert(key, vector);
    }
    Ok(out)
}

impl RemDb {
    /// Starts the async drain task when queued work may be waiting: background mode, or async
    /// embedders (HTTP, custom: their work is always queued here). Idempotent while it runs.
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
/// async providers are awaited, local ones run in place. Returns the report and the first error
/// of a provider whose work was left queued because it failed.
async fn drain_async(
    tenant: &crate::store::TenantStore,
    remote: &AsyncEmbedders,
) -> Result<(crate::vector::DrainReport, Option<Error>), Error> {
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
            let embedder = remote.borrow().get(&provider).cloned();
            let vectors = match embedder {
                Some(e) => e.documents(&texts).await,
                None => crate::vector::embed_texts(tenant, &provider, &texts),
            };
            results.push((provider, vectors));
        }
        if !drain.step(tenant, &batch, results)? {
            break;
        }
    }
    let failure = drain.take_failure();
    Ok((drain.finish(tenant)?, failure))
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

/// Async embedders from JavaScript: registered once, awaited by the drain task, `embedAsync`,
/// `searchAsync` and `sqlAsync`.
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
        let handle = self.clone_handles();
        Ok(wasm_bindgen_futures::future_to_promise(async move {
            let e = HttpEmbedder::new_async(spec, config)
                .await
                .map_err(js_error)?;
            handle.use_async_embedder(AsyncEmbedder::Http(Rc::new(e)));
            Ok(JsValue::UNDEFINED)
        }))
    }

    /// Like `embed`, awaiting async providers (HTTP, custom). Resolves to a `Float32Array` (one
    /// text) or an array of them.
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
        let embedder = self.remote.borrow().get(&provider).cloned();
        let Some(embedder) = embedder else {
            let out = self.embed(texts, Some(provider))?;
            return Ok(js_sys::Promise::resolve(&out));
        };
        let (texts, single) = js_texts(texts)?;
        Ok(wasm_bindgen_futures::future_to_promise(async move {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let vectors = embedder.documents(&refs).await.map_err(js_error)?;
            Ok(vectors_to_js(&vectors, single))
        }))
    }

    /// Like `search` (the same options, `where` included), awaiting an async provider (HTTP,
    /// custom) to embed the query text.
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
        if options.mode == crate::vector::SearchMode::Keyword {
            // Keyword search embeds nothing.
            let query = crate::vector::SearchQuery::Text(text);
            let found = self
                .tenant
                .search_json(table, query, &options)
                .map_err(js_error)?;
            return Ok(js_sys::Promise::resolve(&json_to_js(&found)?));
        }
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
        let embedder = provider
            .as_ref()
            .and_then(|p| self.remote.borrow().get(p).cloned());
        let Some(embedder) = embedder else {
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
            let v = embedder
                .queries(&[text.as_str()])
                .await
                .map_err(js_error)?
                .pop()
                .unwrap_or_default();
            let query = crate::vector::SearchQuery::Vector(v);
            let found = if options.mode == crate::vector::SearchMode::Hybrid {
                // The vector side takes the awaited vector, the keyword side the text.
                let sides = crate::fulltext::hybrid::Sides {
                    vector: Some((query, None)),
                    keyword: Some((text, options.field.clone())),
                };
                let meter = crate::fulltext::meter();
                crate::fulltext::hybrid::run(tenant.store(), &table, sides, &options, &meter)
                    .and_then(crate::fulltext::hybrid::hits_json)
            } else {
                tenant.search_json(&table, query, &options)
            };
            json_to_js(&found.map_err(js_error)?)
        }))
    }

    /// Resolves when the async drain task is idle, to `{embedded, dropped, remaining}` of a final
    /// pass (work no provider can do stays queued). Rejects with the `EMBEDDING` error of a
    /// provider that failed in that pass (its work stays queued; nothing of it is written).
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
            let drained = drain_async(tenant.store(), &remote).await;
            draining.set(false);
            match drained.map_err(js_error)? {
                (_, Some(failure)) => Err(js_error(failure)),
                (report, None) => to_js(&report),
            }
        })
    }
}

impl RemDb {
    /// Uses `embedder` for its provider: awaited here, and standing in the registry as a
    /// provider that answers asynchronously, so the store queues its work.
    pub(super) fn use_async_embedder(&self, embedder: AsyncEmbedder) {
        self.clone_handles().use_async_embedder(embedder);
    }

    /// What registering an embedder later needs (an async constructor outlives `&self`).
    fn clone_handles(&self) -> Registrar {
        Registrar {
            db: self.db.clone(),
            remote: self.remote.clone(),
            queries: self.queries.clone(),
        }
    }
}

/// The parts of a [`RemDb`] that [`RemDb::use_async_embedder`] changes.
struct Registrar {
    db: crate::Database,
    remote: AsyncEmbedders,
    queries: Rc<RefCell<QueryCache>>,
}

impl Registrar {
    /// See [`RemDb::use_async_embedder`].
    fn use_async_embedder(&self, embedder: AsyncEmbedder) {
        let name = embedder.name().to_string();
        let handle = RemoteHandle(embedder.dimensions(), name.clone());
        self.remote.borrow_mut().insert(name.clone(), embedder);
        self.queries.borrow_mut().forget(&name);
        self.db.embedders().register(&name, Arc::new(handle));
    }
}

/// Stands in the registry for an embedder that only answers asynchronously here (vector length,
/// provider spec), so the store queues its work (`is_sync` is false) and reports it ready.
struct RemoteHandle(usize, String);

/// Query vectors async providers computed for `sqlAsync`, kept for the next statements.
#[derive(Default)]
pub(super) struct QueryCache {
    vectors: HashMap<(String, String), Vec<f32>>,
}

/// Texts kept at most (then the cache starts over): query texts, not documents.
const MAX_QUERY_VECTORS: usize = 1024;

impl QueryCache {
    fn remember(&mut self, key: (String, String), vector: Vec<f32>) {
        if self.vectors.len() >= MAX_QUERY_VECTORS {
            self.vectors.clear();
        }
        self.vectors.insert(key, vector);
    }

    /// Drops the vectors of `provider` (its embedder was replaced).
    fn forget(&mut self, provider: &str) {
        self.vectors.retain(|(p, _), _| p != provider);
    }
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
    fn embed_query(&self, _text: &str) -> crate::Result<Vec<f32>> {
        Err(self.asynchronous())
    }
}

impl RemoteHandle {
    fn asynchronous(&self) -> Error {
        Error::Embedding(format!(
            "{}: this provider answers asynchronously here (embedAsync, searchAsync, sqlAsync)",
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
