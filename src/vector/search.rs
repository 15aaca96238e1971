//! Top-k search over one table's vector indexes: pending vectors exactly, segments through
//! HNSW, candidates validated lazily (still the current vector, row live, in the filter) until
//! k are found, with an exact fallback when a filter or dead entries leave HNSW short.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use uuid::Uuid;

use super::index::{load_pending, load_segment, DEFAULT_EF};
use crate::error::{Error, Result};
use crate::kv::KvSnapshot;
use crate::store::row_format::decode_row;
use crate::store::vectors::{read_meta, IndexMeta, IndexName};
use crate::store::{decode_row_value, Row, TenantStore};

/// Most rows a search returns.
pub const MAX_TOP_K: usize = 10_000;

/// A filter this small (or under 2 % of the index) is searched exactly, row by row.
const SELECTIVE: usize = 4096;

/// What to search for.
#[derive(Debug, Clone, PartialEq)]
pub enum SearchQuery {
    /// Text, embedded with the index's provider.
    Text(String),
    /// A vector of the index's length.
    Vector(Vec<f32>),
}

impl From<&str> for SearchQuery {
    fn from(text: &str) -> Self {
        SearchQuery::Text(text.to_string())
    }
}

impl From<Vec<f32>> for SearchQuery {
    fn from(v: Vec<f32>) -> Self {
        SearchQuery::Vector(v)
    }
}

/// How [`Tenant::search`](crate::Tenant::search) ranks rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    /// By vector similarity to the embedded query (the default).
    #[default]
    Vector,
    /// By BM25 over the table's `fulltext_fields` (no embedder needed).
    Keyword,
    /// Both, fused (reciprocal-rank fusion, or weighted with `alpha`).
    Hybrid,
}

impl SearchMode {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            SearchMode::Vector => "vector",
            SearchMode::Keyword => "keyword",
            SearchMode::Hybrid => "hybrid",
        }
    }
}

impl std::str::FromStr for SearchMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "vector" => Ok(SearchMode::Vector),
            "keyword" => Ok(SearchMode::Keyword),
            "hybrid" => Ok(SearchMode::Hybrid),
            _ => Err(Error::InvalidArgument(format!(
                "unknown search mode `{}`; choose vector, keyword or hybrid",
                crate::store::quote(s)
            ))),
        }
    }
}

/// The components of a hybrid search hit's score.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ScoreParts {
    /// Similarity, when the row was among the vector candidates.
    pub vector_score: Option<f32>,
    /// Its rank there (from 1).
    pub vector_rank: Option<usize>,
    /// BM25 score, when the row was among the keyword candidates.
    pub keyword_score: Option<f32>,
    /// Its rank there (from 1).
    pub keyword_rank: Option<usize>,
}

/// Options of [`Tenant::search`](crate::Tenant::search).
#[derive(Debug, Clone)]
pub struct SearchOptions {
    /// Rows to return at most (default 10, at most [`MAX_TOP_K`]).
    pub top_k: usize,
    /// How rows are ranked (default [`SearchMode::Vector`]).
    pub mode: SearchMode,
    /// Hybrid mode only: fuse by `alpha × vector + (1 − alpha) × keyword` over min-max
    /// normalised scores (0–1) instead of reciprocal-rank fusion.
    pub alpha: Option<f32>,
    /// Only rows scoring at least this.
    pub min_score: Option<f32>,
    /// The embedded field to search (in keyword mode: the full-text field); default: every
    /// embedded (full-text) field, best score per row (keyword: scores summed).
    pub field: Option<String>,
    /// The provider whose vectors to search; default: the table's provider.
    pub provider: Option<String>,
    /// Search the table's alternative provider (`embedding_provider_alt`).
    pub alt: bool,
    /// HNSW search breadth (default 100; raised to `top_k`). Higher: better recall, slower.
    pub ef: Option<usize>,
    /// Only these rows. Still returns `top_k` rows when that many match.
    pub filter: Option<HashSet<Uuid>>,
    /// Include soft-deleted rows.
    pub include_deleted: bool,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            top_k: 10,
            mode: SearchMode::Vector,
            alpha: None,
            min_score: None,
            field: None,
            provider: None,
            alt: false,
            ef: None,
            filter: None,
            include_deleted: false,
        }
    }
}

/// One search result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchHit {
    /// The row id.
    pub id: Uuid,
    /// Similarity, higher is better (cosine / dot product / `1 / (1 + L2 distance)`); BM25 in
    /// keyword mode; the fused score in hybrid mode.
    pub score: f32,
    /// The row.
    pub row: Row,
    /// Hybrid mode: the vector and keyword components.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parts: Option<ScoreParts>,
}

/// The indexes a search over `table` uses, and the provider.
pub(crate) fn resolve_indexes(
    t: &TenantStore,
    table: &str,
    o: &SearchOptions,
) -> Result<(String, Vec<IndexName>)> {
    let schema = t.compiled_schema(table)?;
    let settings = t.embed_settings();
    // The table's stored indexes, listed at most once (only tables without `embedding_fields`,
    // searched by caller-supplied vectors, need them).
    let mut listed: Option<Vec<IndexName>> = None;
    let mut stored = || -> Result<Vec<IndexName>> {
        if listed.is_none() {
            listed = Some(
                t.vector_indexes(table)?
                    .into_iter()
                    .map(|(i, _)| i)
                    .collect(),
            );
        }
        Ok(listed.clone().unwrap_or_default())
    };
    let provider = match (&o.provider, o.alt) {
        (Some(p), _) => p.clone(),
        (None, true) => schema.info.embedding_provider_alt.clone().ok_or_else(|| {
            Error::InvalidArgument(format!("table `{table}` has no `embedding_provider_alt`"))
        })?,
        (None, false) => match settings.providers(&schema.info).into_iter().next() {
            Some(p) if !schema.info.embedding_fields.is_empty() => p,
            _ => {
                // Caller-supplied vectors only: the provider of the table's first index.
                stored()?
                    .into_iter()
                    .next()
                    .map(|i| i.provider)
                    .ok_or_else(|| {
                        Error::InvalidArgument(format!(
                            "table `{table}` has no embedding provider and no vectors"
                        ))
                    })?
            }
        },
    };
    let fields: Vec<String> = match &o.field {
        Some(f) => vec![f.clone()],
        None if !schema.info.embedding_fields.is_empty() => schema.info.embedding_fields.clone(),
        None => stored()?
            .into_iter()
            .filter(|i| i.provider == provider)
            .map(|i| i.field)
            .collect(),
    };
    if fields.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "table `{table}` has no `embedding_fields` to search"
        )));
    }
    // A field or provider the table never embeds with would find nothing: say so instead.
    let configured = settings.providers(&schema.info);
    if o.field
        .as_ref()
        .is_some_and(|f| !schema.info.embedding_fields.contains(f))
        || o.provider.as_ref().is_some_and(|p| !configured.contains(p))
    {
        let stored = stored()?;
        if let Some(f) = o.field.as_ref().filter(|f| {
            !schema.info.embedding_fields.contains(f) && !stored.iter().any(|i| &i.field == *f)
        }) {
            let known = schema.info.embedding_fields.iter().map(String::as_str);
            return Err(Error::InvalidArgument(format!(
                "table `{table}` has no embedded field `{}`; its embedded fields: {}",
                crate::store::quote(f),
                name_list(known.chain(stored.iter().map(|i| i.field.as_str())))
            )));
        }
        if let Some(p) = o
            .provider
            .as_ref()
            .filter(|p| !configured.contains(p) && !stored.iter().any(|i| &i.provider == *p))
        {
            let known = configured.iter().map(String::as_str);
            return Err(Error::InvalidArgument(format!(
                "table `{table}` has no vectors from provider `{}`; its providers: {}",
                crate::store::quote(p),
                name_list(known.chain(stored.iter().map(|i| i.provider.as_str())))
            )));
        }
    }
    let indexes = fields
        .iter()
        .map(|f| IndexName::new(table, f, &provider))
        .collect::<Result<_>>()?;
    Ok((provider, indexes))
}

/// Names sorted, each once, joined by commas; `(none)` for none.
fn name_list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let mut names: Vec<&str> = names.collect();
    names.sort_unstable();
    names.dedup();
    if names.is_empty() {
        "(none)".to_string()
    } else {
        names.join(", ")
    }
}

/// Runs a search (see [`TenantStore::search`]).
pub(crate) fn search(
    t: &TenantStore,
    table: &str,
    query: SearchQuery,
    o: &SearchOptions,
) -> Result<Vec<SearchHit>> {
    search_raw(t, table, query, o)?
        .into_iter()
        .map(|h| {
            Ok(SearchHit {
                id: h.id,
                score: h.score,
                row: decode_row_value(&h.value)?.0,
                parts: None,
            })
        })
        .collect()
}

/// Runs a search, written as a JSON array of rows with `_score` (see [`TenantStore::search_json`]).
pub(crate) fn search_json(
    t: &TenantStore,
    table: &str,
    query: SearchQuery,
    o: &SearchOptions,
) -> Result<String> {
    let hits = search_raw(t, table, query, o)?;
    let mut text = Vec::with_capacity(hits.iter().map(|h| h.value.len() + 40).sum::<usize>() + 2);
    text.push(b'[');
    for (i, h) in hits.iter().enumerate() {
        if i > 0 {
            text.push(b',');
        }
        let start = text.len();
        decode_row(&h.value)?.write_json(&mut text)?;
        if text.len() < start + 2 || text[start] != b'{' || text.pop() != Some(b'}') {
            return Err(Error::storage("corrupt row: not a JSON object"));
        }
        if text.len() > start + 1 {
            text.push(b',');
        }
        // Last, so it replaces a `_score` of the row's own as a map insert would (JSON parsers
        // keep the last of duplicate keys); the f32 widened to f64 as `json!(score)` writes it.
        text.extend_from_slice(b"\"_score\":");
        serde_json::to_writer(&mut text, &f64::from(h.score))
            .map_err(|e| Error::storage(e.to_string()))?;
        text.push(b'}');
    }
    text.push(b']');
    String::from_utf8(text).map_err(|_| Error::storage("corrupt row: not UTF-8"))
}

/// A search result with its row as stored.
struct RawHit {
    id: Uuid,
    score: f32,
    /// The stored row value (see [`decode_row`]).
    value: Vec<u8>,
}

/// Runs a search, rows unparsed.
fn search_raw(
    t: &TenantStore,
    table: &str,
    query: SearchQuery,
    o: &SearchOptions,
) -> Result<Vec<RawHit>> {
    if o.top_k == 0 || o.top_k > MAX_TOP_K {
        return Err(Error::InvalidArgument(format!(
            "top_k must be 1–{MAX_TOP_K}, got {}",
            o.top_k
        )));
    }
    if let Some(m) = o.min_score {
        if !m.is_finite() {
            return Err(Error::InvalidArgument(
                "min_score must be a finite number".into(),
            ));
        }
    }
    let (provider, indexes) = resolve_indexes(t, table, o)?;
    let query = match query {
        SearchQuery::Vector(v) => v,
        SearchQuery::Text(text) => super::embed_query(t, &provider, &text)?,
    };
    if query.iter().any(|x| !x.is_finite()) {
        return Err(Error::InvalidArgument(
            "the query vector holds a value that is not a finite number".into(),
        ));
    }
    let snap = t.snapshot()?;
    // Best score per row over the indexes, and the row's bytes when validation read them.
    let mut best: HashMap<Uuid, (f32, Option<Vec<u8>>)> = HashMap::new();
    for index in &indexes {
        let Some(meta) = read_meta(&*snap, t.store_keys(), index)? else {
            continue;
        };
        if query.len() != meta.dims {
            return Err(Error::InvalidArgument(format!(
                "the query vector has {} values but index {index} holds {}-dimensional vectors",
                query.len(),
                meta.dims
            )));
        }
        let mut q = query.clone();
        meta.metric.prepare(&mut q);
        for (id, score, row) in search_index(t, &*snap, index, &meta, &q, o)? {
            let entry = best.entry(id).or_insert((score, None));
            entry.0 = entry.0.max(score);
            if entry.1.is_none() {
                entry.1 = row;
            }
        }
    }
    let mut ranked: Vec<_> = best.into_iter().collect();
    ranked.sort_by(|a, b| b.1 .0.total_cmp(&a.1 .0).then(a.0.cmp(&b.0)));
    ranked.truncate(o.top_k);
    let mut hits = Vec::with_capacity(ranked.len());
    for (id, (score, bytes)) in ranked {
        let value = match bytes {
            Some(bytes) => Some(bytes),
            None => snap.get(&t.store_keys().row(table, &id))?,
        };
        if let Some(value) = value {
            hits.push(RawHit { id, score, value });
        }
    }
    Ok(hits)
}

/// A validated hit of one index: id, score, and the stored row when validation read it.
type Validated = (Uuid, f32, Option<Vec<u8>>);

/// Up to `top_k` validated hits of one index, best first.
fn search_index(
    t: &TenantStore,
    snap: &dyn KvSnapshot,
    index: &IndexName,
    meta: &IndexMeta,
    q: &[f32],
    o: &SearchOptions,
) -> Result<Vec<Validated>> {
    let k = o.top_k;
    let ef = o.ef.unwrap_or(DEFAULT_EF).max(k).min(MAX_TOP_K * 4);
    let filter = o.filter.as_ref();
    let passes = |id: &Uuid| filter.is_none_or(|f| f.contains(id));
    let mut pending: Vec<(Uuid, f32, u64)> = Vec::new();
    for (id, v) in &load_pending(t, snap, index, meta)?.items {
        if passes(id) {
            pending.push((*id, meta.metric.score(q, v), 0));
        }
    }
    let selective = filter.is_some_and(|f| f.len() <= SELECTIVE.max(meta.count as usize / 50));
    if selective {
        let mut cands = pending;
        for id in filter.into_iter().flatten() {
            if let Some((seg, v)) = t.stored_vector_in(snap, index, id)? {
                if seg != 0 {
                    cands.push((*id, meta.metric.score(q, &v), seg));
                }
            }
        }
        return Ok(validate(t, snap, index, meta, cands, o)?.0);
    }
    let mut cands = pending.clone();
    let mut truncated = Vec::new();
    for info in &meta.segments {
        let seg = load_segment(t, snap, index, meta, info)?;
        let found = seg.search(q, ef);
        if found.len() >= ef && seg.len() > found.len() {
            truncated.push(info.no);
        }
        cands.extend(
            found
                .into_iter()
                .filter(|(id, _)| passes(id))
                .map(|(id, s)| (id, s, info.no)),
        );
    }
    let (hits, exhausted) = validate(t, snap, index, meta, cands, o)?;
    if hits.len() >= k || !exhausted || truncated.is_empty() {
        return Ok(hits);
    }
    // HNSW came up short (filter or dead entries): score the truncated segments exactly.
    let mut cands = pending;
    for info in &meta.segments {
        let seg = load_segment(t, snap, index, meta, info)?;
        let found = if truncated.contains(&info.no) {
            seg.exact(q, &mut |id| passes(id))
        } else {
            seg.search(q, ef)
        };
        cands.extend(
            found
                .into_iter()
                .filter(|(id, _)| passes(id))
                .map(|(id, s)| (id, s, info.no)),
        );
    }
    Ok(validate(t, snap, index, meta, cands, o)?.0)
}

/// Sorts candidates best first and keeps those still valid until `top_k`: the vector record
/// still names the candidate's segment, the row is live (unless `include_deleted`), the score
/// reaches `min_score`. Returns the hits and whether the candidates ran out (not `min_score`).
///
/// A segment with no dead entries (`SegmentInfo::dead`, kept by the write path) holds only
/// current vectors, so its candidates skip the vector-record read.
fn validate(
    t: &TenantStore,
    snap: &dyn KvSnapshot,
    index: &IndexName,
    meta: &IndexMeta,
    mut cands: Vec<(Uuid, f32, u64)>,
    o: &SearchOptions,
) -> Result<(Vec<Validated>, bool)> {
    cands.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let clean: HashSet<u64> = meta
        .segments
        .iter()
        .filter(|s| s.dead == 0)
        .map(|s| s.no)
        .collect();
    let mut seen = HashSet::new();
    let mut hits = Vec::new();
    for (id, score, seg) in cands {
        if hits.len() >= o.top_k {
            return Ok((hits, false));
        }
        if o.min_score.is_some_and(|m| score < m) {
            return Ok((hits, false));
        }
        if seen.contains(&id) {
            continue;
        }
        // Only a current entry claims the id: a stale (replaced) entry that outscores the row's
        // new vector must not hide it.
        if seg != 0 && !clean.contains(&seg) && t.vector_segment_in(snap, index, &id)? != Some(seg)
        {
            continue; // replaced or deleted since the segment was built
        }
        seen.insert(id);
        let mut row = None;
        if !o.include_deleted {
            match snap.get(&t.store_keys().row(&index.table, &id))? {
                Some(value) if !decode_row(&value)?.deleted => row = Some(value),
                _ => continue,
            }
        }
        hits.push((id, score, row));
    }
    let full = hits.len() >= o.top_k;
    Ok((hits, !full))
}
