//! In-module models, embedding, vector search, caller-supplied vectors, index optimisation and
//! the embedding status.

use std::collections::HashSet;

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;
use wasm_bindgen::prelude::*;

use super::convert::{from_js, invalid, js_error, json_to_js, options, to_js, to_usize};
use super::entities::sql_params;
use super::RemDb;
use crate::sql::RowCondition;

/// Embeddings and vector search. Vectors cross as `Float32Array`s (plain arrays of numbers are
/// accepted as input). Search results are rows with a `_score` (higher is better), best first.
#[wasm_bindgen]
impl RemDb {
    /// Bytes of WebAssembly linear memory the module holds now. It grows and never shrinks, so
    /// this is the high-water mark of every allocation so far (loading a model is the largest).
    #[wasm_bindgen(js_name = linearMemoryBytes)]
    pub fn linear_memory_bytes() -> f64 {
        (core::arch::wasm32::memory_size(0) * 65536) as f64
    }

    /// Loads an ONNX sentence-embedding model (e.g. all-MiniLM-L6-v2 `model.onnx`) and its
    /// `tokenizer.json` from bytes and uses it for `provider` (default
    /// `local:all-MiniLM-L6-v2`): inserts into tables with `embedding_fields` embed inline from
    /// now on. Needs a build with the `embeddings` feature.
    #[wasm_bindgen(js_name = loadModel)]
    pub fn load_model(
        &self,
        model: Vec<u8>,
        tokenizer: &[u8],
        provider: Option<String>,
    ) -> Result<(), JsValue> {
        let provider = match provider {
            Some(p) => crate::embed::EmbedderSpec::parse(&p)
                .map_err(js_error)?
                .to_string(),
            None => format!("local:{}", crate::embed::DEFAULT_LOCAL_MODEL),
        };
        self.register_local(model, tokenizer, &provider)
    }

    /// Vectors for `texts` (a string gives one `Float32Array`, an array of strings an array of
    /// them) from `provider` (default: the database's default provider).
    pub fn embed(&self, texts: JsValue, provider: Option<String>) -> Result<JsValue, JsValue> {
        let (texts, single) = js_texts(texts)?;
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let vectors = self
            .tenant
            .embed(&refs, provider.as_deref())
            .map_err(js_error)?;
        Ok(vectors_to_js(&vectors, single))
    }

    /// The `topK` rows of `table` most similar to `query` (text, or a vector), best first, each
    /// with `_score`. Options: `{topK, minScore, where, params, field, provider, alt, ef, filter,
    /// includeDeleted, mode, alpha}` (`mode`: `vector` (default), `keyword` (BM25) or `hybrid`). `where`: only rows matching a SQL boolean expression over the table
    /// (with `params` bound to `$1, $2, ...`) or an object of column values (`null`: the column is
    /// null); `filter`: an array of ids the results must come from.
    pub fn search(&self, table: &str, query: JsValue, opts: JsValue) -> Result<JsValue, JsValue> {
        let ids = self.where_ids(table, &opts)?;
        if ids.as_ref().is_some_and(HashSet::is_empty) {
            return Ok(js_sys::Array::new().into());
        }
        let query = if let Some(text) = query.as_string() {
            crate::vector::SearchQuery::Text(text)
        } else {
            crate::vector::SearchQuery::Vector(js_vector("query", query)?)
        };
        let options = search_options(opts, ids)?;
        json_to_js(
            &self
                .tenant
                .search_json(table, query, &options)
                .map_err(js_error)?,
        )
    }

    /// Stores a caller-supplied vector for `field` of row `id` under the label `provider`.
    #[wasm_bindgen(js_name = putVector)]
    pub fn put_vector(
        &self,
        table: &str,
        id: &str,
        field: &str,
        provider: &str,
        vector: JsValue,
    ) -> Result<(), JsValue> {
        let v = js_vector("vector", vector)?;
        self.tenant
            .vectors()
            .put(table, id, field, provider, &v)
            .map_err(js_error)
    }

    /// Stores many caller-supplied vectors in one atomic batch: `items` is an array of
    /// `{id, vector}` (all or none are written).
    #[wasm_bindgen(js_name = putVectors)]
    pub fn put_vectors(
        &self,
        table: &str,
        field: &str,
        provider: &str,
        items: js_sys::Array,
    ) -> Result<(), JsValue> {
        let mut batch = Vec::with_capacity(items.length() as usize);
        for (i, item) in items.iter().enumerate() {
            let get = |key: &str| js_sys::Reflect::get(&item, &JsValue::from_str(key)).ok();
            let id = get("id")
                .and_then(|v| v.as_string())
                .ok_or_else(|| invalid(format!("item {i}: `id` must be a string")))?;
            let id = uuid::Uuid::parse_str(&id)
                .map_err(|_| invalid(format!("item {i}: `{id}` is not an entity id")))?;
            let vector = js_vector(
                &format!("item {i} vector"),
                get("vector").unwrap_or(JsValue::UNDEFINED),
            )?;
            batch.push((id, vector));
        }
        self.tenant
            .vectors()
            .put_many(table, field, provider, &batch)
            .map_err(js_error)
    }

    /// Computes queued embedding work (background mode, or inserts made before a model was
    /// loaded) and runs due index maintenance; returns `{embedded, dropped, remaining}`.
    #[wasm_bindgen(js_name = flushEmbeddings)]
    pub fn flush_embeddings(&self) -> Result<JsValue, JsValue> {
        to_js(&self.db.flush().map_err(js_error)?)
    }

    /// Builds each vector index of `table` (or of every table) into one HNSW segment.
    #[wasm_bindgen(js_name = optimizeVectors)]
    pub fn optimize_vectors(&self, table: Option<String>) -> Result<JsValue, JsValue> {
        let reports = self
            .tenant
            .vectors()
            .optimize(table.as_deref(), true)
            .map_err(js_error)?;
        let out: Vec<Value> = reports
            .iter()
            .map(|(i, r)| {
                serde_json::json!({"table": i.table, "field": i.field, "provider": i.provider,
                "sealed": r.sealed, "merged": r.merged, "segments": r.segments})
            })
            .collect();
        to_js(&out)
    }

    /// `{mode, defaultProvider, providers, queuedRows}`: what embeds and what waits.
    #[wasm_bindgen(js_name = embeddingStatus)]
    pub fn embedding_status(&self) -> Result<JsValue, JsValue> {
        let settings = self.db.embed_settings();
        let (queued, _) = self.tenant.embeddings().queued().map_err(js_error)?;
        to_js(&serde_json::json!({
            "mode": settings.mode,
            "defaultProvider": settings.default_provider,
            "providers": self.db.embedders().status(),
            "queuedRows": queued,
        }))
    }
}

impl RemDb {
    #[cfg(feature = "embeddings")]
    fn register_local(
        &self,
        model: Vec<u8>,
        tokenizer: &[u8],
        provider: &str,
    ) -> Result<(), JsValue> {
        let embedder = crate::embed::LocalEmbedder::from_owned_bytes(model, tokenizer)
            .map_err(js_error)?
            .with_name(provider);
        self.db
            .embedders()
            .register(provider, std::sync::Arc::new(embedder));
        Ok(())
    }

    #[cfg(not(feature = "embeddings"))]
    fn register_local(
        &self,
        _model: Vec<u8>,
        _tokenizer: &[u8],
        _provider: &str,
    ) -> Result<(), JsValue> {
        Err(js_error(crate::Error::Embedding(
            "this build has no in-module embeddings (feature `embeddings`)".into(),
        )))
    }
}

impl RemDb {
    /// The ids of the rows of `table` the `where` option of search `opts` admits (`None`
    /// without a `where`). Read from the object as given, where `undefined` (absent) and `null`
    /// differ, and before the other options: when no row qualifies the search finds nothing.
    pub(super) fn where_ids(
        &self,
        table: &str,
        opts: &JsValue,
    ) -> Result<Option<HashSet<Uuid>>, JsValue> {
        if !opts.is_object() {
            return Ok(None);
        }
        let get = |key: &str| {
            js_sys::Reflect::get(opts, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
        };
        let (condition, params) = (get("where"), get("params"));
        let condition = if condition.is_undefined() {
            return Ok(None);
        } else if let Some(text) = condition.as_string() {
            RowCondition::Sql(text, sql_params(params)?)
        } else if condition.is_object() && !js_sys::Array::is_array(&condition) {
            if !params.is_undefined() {
                return Err(invalid("`params` goes with a string `where`".into()));
            }
            match from_js("where", condition)? {
                Value::Object(columns) => RowCondition::Equal(columns.into_iter().collect()),
                _ => return Err(not_a_condition()),
            }
        } else {
            return Err(not_a_condition());
        };
        let include_deleted = get("includeDeleted") == JsValue::TRUE;
        let ids = self
            .tenant
            .store()
            .ids_where(table, &condition, include_deleted, &self.tenant.budget())
            .map_err(js_error)?;
        Ok(Some(ids))
    }
}

fn not_a_condition() -> JsValue {
    invalid("`where` must be a SQL expression string or an object of column values".into())
}

/// The `opts` of `search` and `searchAsync`, as JavaScript spells them.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JsSearchOptions {
    top_k: Option<f64>,
    min_score: Option<f64>,
    /// Read by [`RemDb::where_ids`].
    #[serde(rename = "where")]
    _condition: Option<IgnoredAny>,
    /// Read by [`RemDb::where_ids`].
    #[serde(rename = "params")]
    _params: Option<IgnoredAny>,
    field: Option<String>,
    provider: Option<String>,
    alt: Option<bool>,
    ef: Option<f64>,
    filter: Option<Vec<String>>,
    include_deleted: Option<bool>,
    mode: Option<String>,
    alpha: Option<f64>,
}

/// A string or an array of strings from JS: `(texts, was_a_single_string)`.
pub(super) fn js_texts(texts: JsValue) -> Result<(Vec<String>, bool), JsValue> {
    Ok(match from_js("texts", texts)? {
        Value::String(s) => (vec![s], true),
        Value::Array(items) => (
            items
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s),
                    other => Err(invalid(format!(
                        "texts must be strings, got {}",
                        crate::store::json_type(&other)
                    ))),
                })
                .collect::<Result<Vec<_>, _>>()?,
            false,
        ),
        other => {
            return Err(invalid(format!(
                "embed expects a string or an array of strings, got {}",
                crate::store::json_type(&other)
            )))
        }
    })
}

/// Vectors as `Float32Array`s: one (`single`) or an array of them.
pub(super) fn vectors_to_js(vectors: &[Vec<f32>], single: bool) -> JsValue {
    if single {
        return js_sys::Float32Array::from(vectors.first().map_or(&[][..], Vec::as_slice)).into();
    }
    let out = js_sys::Array::new();
    for v in vectors {
        out.push(&js_sys::Float32Array::from(v.as_slice()));
    }
    out.into()
}

/// Search `opts` in Rust terms: `filter` parsed, and narrowed to `ids` (what `where` admits).
pub(super) fn search_options(
    opts: JsValue,
    ids: Option<HashSet<Uuid>>,
) -> Result<crate::vector::SearchOptions, JsValue> {
    let o: JsSearchOptions = options(
        "search options",
        "{topK, minScore, where, params, field, provider, alt, ef, filter, includeDeleted, mode, alpha}",
        opts,
    )?;
    let d = crate::vector::SearchOptions::default();
    let filter: Option<HashSet<Uuid>> = match o.filter {
        None => None,
        Some(ids) => Some(
            ids.iter()
                .map(|id| crate::store::parse_id(id))
                .collect::<Result<_, _>>()
                .map_err(js_error)?,
        ),
    };
    let filter = match (filter, ids) {
        (Some(given), Some(admitted)) => Some(given.intersection(&admitted).copied().collect()),
        (given, admitted) => given.or(admitted),
    };
    Ok(crate::vector::SearchOptions {
        top_k: o
            .top_k
            .map(|n| to_usize("topK", n))
            .transpose()?
            .unwrap_or(d.top_k),
        min_score: o.min_score.map(|x| x as f32),
        mode: match o.mode {
            Some(m) => m.parse().map_err(js_error)?,
            None => d.mode,
        },
        alpha: o.alpha.map(|x| x as f32),
        field: o.field,
        provider: o.provider,
        alt: o.alt.unwrap_or(false),
        ef: o.ef.map(|n| to_usize("ef", n)).transpose()?,
        filter,
        include_deleted: o.include_deleted.unwrap_or(false),
    })
}

/// A `Float32Array` (or array of numbers) as a vector.
pub(super) fn js_vector(what: &str, value: JsValue) -> Result<Vec<f32>, JsValue> {
    if let Some(arr) = value.dyn_ref::<js_sys::Float32Array>() {
        return Ok(arr.to_vec());
    }
    match from_js(what, value)? {
        Value::Array(items) => items
            .iter()
            .map(|v| {
                v.as_f64()
                    .map(|x| x as f32)
                    .ok_or_else(|| invalid(format!("{what} must hold only numbers")))
            })
            .collect(),
        other => Err(invalid(format!(
            "{what} must be a Float32Array or an array of numbers, got {}",
            crate::store::json_type(&other)
        ))),
    }
}
