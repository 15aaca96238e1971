//! [`Tenant::search`](crate::Tenant::search) in every [`SearchMode`]: vector search (the vector
//! layer), keyword search (BM25, this module's parent), or both fused.
//!
//! Hybrid search asks each side for `max(top_k, 10) × 4` candidates (at most
//! [`MAX_TOP_K`]) under the same filter and fuses the two rankings: by default with
//! reciprocal-rank fusion, score = Σ 1 / (60 + rank) over the lists a row is in (ranks from 1);
//! with `alpha`, by a weighted sum of min-max normalised scores,
//! `alpha × vector + (1 − alpha) × keyword` (a row missing from a list scores 0 there).

use std::collections::HashMap;

use uuid::Uuid;

use super::KeywordRequest;
use crate::budget::Meter;
use crate::error::{Error, Result};
use crate::store::{decode_row_value, Row, TenantStore};
use crate::vector::{ScoreParts, SearchHit, SearchMode, SearchOptions, SearchQuery, MAX_TOP_K};

/// The k of reciprocal-rank fusion.
pub const RRF_K: f64 = 60.0;

/// How many candidates hybrid search takes from each side for `top_k` results.
fn depth(top_k: usize) -> usize {
    (top_k.max(10) * 4).min(MAX_TOP_K)
}

fn check(o: &SearchOptions) -> Result<()> {
    if o.top_k == 0 || o.top_k > MAX_TOP_K {
        return Err(Error::InvalidArgument(format!(
            "top_k must be 1–{MAX_TOP_K}, got {}",
            o.top_k
        )));
    }
    if let Some(a) = o.alpha {
        if !(0.0..=1.0).contains(&a) {
            return Err(Error::InvalidArgument(format!(
                "alpha must be between 0 and 1, got {a}"
            )));
        }
        if o.mode != SearchMode::Hybrid {
            return Err(Error::InvalidArgument(
                "alpha weighs the two sides of a hybrid search: set mode hybrid".into(),
            ));
        }
    }
    if o.min_score.is_some_and(|m| !m.is_finite()) {
        return Err(Error::InvalidArgument(
            "min_score must be a finite number".into(),
        ));
    }
    Ok(())
}

fn text_of(query: &SearchQuery, mode: SearchMode) -> Result<&str> {
    match query {
        SearchQuery::Text(t) => Ok(t),
        SearchQuery::Vector(_) => Err(Error::InvalidArgument(format!(
            "a {} search needs query text, not a vector",
            mode.as_str()
        ))),
    }
}

/// Keyword hits with their rows, best first.
fn keyword_hits(
    t: &TenantStore,
    table: &str,
    (text, field): (&str, Option<&str>),
    o: &SearchOptions,
    top_k: usize,
    meter: &Meter,
) -> Result<Vec<SearchHit>> {
    let snap = t.snapshot()?;
    let req = KeywordRequest {
        table,
        text,
        field,
        filter: o.filter.as_ref(),
        top_k,
    };
    let ranked = super::keyword_search(t, &*snap, &req, meter)?;
    let mut hits = Vec::with_capacity(ranked.len());
    for (id, score) in ranked {
        if let Some(value) = snap.get(&t.store_keys().row(table, &id))? {
            let (row, deleted) = decode_row_value(&value)?;
            if !deleted {
                hits.push(SearchHit {
                    id,
                    score: score as f32,
                    row,
                    parts: None,
                });
            }
        }
    }
    Ok(hits)
}

/// [`search`]'s hits as one JSON array of rows, best first, each with its `_score` (and, in
/// hybrid mode, `_vector_score`/`_keyword_score` where the row was in that list).
pub(crate) fn search_json(
    t: &TenantStore,
    table: &str,
    query: SearchQuery,
    o: &SearchOptions,
) -> Result<String> {
    if o.mode == SearchMode::Vector {
        check(o)?;
        return t.search_json(table, query, o);
    }
    hits_json(search(t, table, query, o)?)
}

/// Hits as one JSON array of rows, each with `_score` (and `_vector_score`/`_keyword_score`
/// where known).
pub(crate) fn hits_json(hits: Vec<SearchHit>) -> Result<String> {
    let rows: Vec<serde_json::Value> = hits
        .into_iter()
        .map(|h| {
            let mut row = h.row;
            if let Some(p) = &h.parts {
                if let Some(s) = p.vector_score {
                    row.insert("_vector_score".into(), f64::from(s).into());
                }
                if let Some(s) = p.keyword_score {
                    row.insert("_keyword_score".into(), f64::from(s).into());
                }
            }
            row.insert("_score".into(), f64::from(h.score).into());
            serde_json::Value::Object(row)
        })
        .collect();
    serde_json::to_string(&rows).map_err(|e| Error::storage(e.to_string()))
}

/// Runs a search in `o.mode`: `query` is searched by vector, by keyword (text only; the
/// `field` option names a full-text field), or both (the vector side then searches every
/// embedded field).
pub(crate) fn search(
    t: &TenantStore,
    table: &str,
    query: SearchQuery,
    o: &SearchOptions,
) -> Result<Vec<SearchHit>> {
    check(o)?;
    let sides = match o.mode {
        SearchMode::Vector => return t.search(table, query, o),
        SearchMode::Keyword => Sides {
            vector: None,
            keyword: Some((text_of(&query, o.mode)?.to_string(), o.field.clone())),
        },
        SearchMode::Hybrid => {
            let text = text_of(&query, o.mode)?.to_string();
            Sides {
                vector: Some((query, None)),
                keyword: Some((text, o.field.clone())),
            }
        }
    };
    run(t, table, sides, o, &super::meter())
}

/// The searches one ranked search runs: a vector query and its embedded field (`None`: all),
/// and a keyword query and its full-text field (`None`: all). Both: hybrid.
pub(crate) struct Sides {
    pub(crate) vector: Option<(SearchQuery, Option<String>)>,
    pub(crate) keyword: Option<(String, Option<String>)>,
}

/// Runs the searches of `sides` under `o` (its `top_k`, filter, `min_score`, `alpha`; its
/// `mode` and `field` are not read) and fuses them when there are two. The keyword side counts
/// each posting it reads as a row examined on `meter`, and its candidates as memory held.
pub(crate) fn run(
    t: &TenantStore,
    table: &str,
    sides: Sides,
    o: &SearchOptions,
    meter: &Meter,
) -> Result<Vec<SearchHit>> {
    let vector_options = |top_k: usize, field: Option<String>| SearchOptions {
        top_k,
        mode: SearchMode::Vector,
        alpha: None,
        field,
        ..o.clone()
    };
    let mut hits = match sides {
        Sides {
            vector: Some((query, field)),
            keyword: None,
        } => t.search(table, query, &vector_options(o.top_k, field))?,
        Sides {
            vector: None,
            keyword: Some((text, field)),
        } => keyword_hits(t, table, (&text, field.as_deref()), o, o.top_k, meter)?,
        Sides {
            vector: Some((query, vfield)),
            keyword: Some((text, kfield)),
        } => {
            check(&SearchOptions {
                mode: SearchMode::Hybrid,
                ..o.clone()
            })?;
            let n = depth(o.top_k);
            let vector = t.search(
                table,
                query,
                &SearchOptions {
                    min_score: None,
                    ..vector_options(n, vfield)
                },
            )?;
            let keyword = keyword_hits(t, table, (&text, kfield.as_deref()), o, n, meter)?;
            fuse(vector, keyword, o.alpha)
        }
        Sides {
            vector: None,
            keyword: None,
        } => Vec::new(),
    };
    if let Some(m) = o.min_score {
        hits.retain(|h| h.score >= m);
    }
    hits.truncate(o.top_k);
    Ok(hits)
}

/// Fuses two rankings (each best first) into one, best first, ties by id.
pub(crate) fn fuse(
    vector: Vec<SearchHit>,
    keyword: Vec<SearchHit>,
    alpha: Option<f32>,
) -> Vec<SearchHit> {
    let range = |hits: &[SearchHit]| {
        let lo = hits.iter().map(|h| h.score).fold(f32::INFINITY, f32::min);
        let hi = hits
            .iter()
            .map(|h| h.score)
            .fold(f32::NEG_INFINITY, f32::max);
        (lo, hi)
    };
    let norm = |s: f32, (lo, hi): (f32, f32)| if hi > lo { (s - lo) / (hi - lo) } else { 1.0 };
    let (vr, kr) = (range(&vector), range(&keyword));
    let mut merged: HashMap<Uuid, (ScoreParts, Row)> = HashMap::new();
    for (rank, h) in vector.into_iter().enumerate() {
        let e = merged
            .entry(h.id)
            .or_insert_with(|| (ScoreParts::default(), h.row));
        e.0.vector_score = Some(h.score);
        e.0.vector_rank = Some(rank + 1);
    }
    for (rank, h) in keyword.into_iter().enumerate() {
        let e = merged
            .entry(h.id)
            .or_insert_with(|| (ScoreParts::default(), h.row));
        e.0.keyword_score = Some(h.score);
        e.0.keyword_rank = Some(rank + 1);
    }
    let mut out: Vec<SearchHit> = merged
        .into_iter()
        .map(|(id, (parts, row))| {
            let score = match alpha {
                None => [parts.vector_rank, parts.keyword_rank]
                    .into_iter()
                    .flatten()
                    .map(|r| 1.0 / (RRF_K + r as f64))
                    .sum::<f64>() as f32,
                Some(a) => {
                    a * parts.vector_score.map_or(0.0, |s| norm(s, vr))
                        + (1.0 - a) * parts.keyword_score.map_or(0.0, |s| norm(s, kr))
                }
            };
            SearchHit {
                id,
                score,
                row,
                parts: Some(parts),
            }
        })
        .collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
    out
}
