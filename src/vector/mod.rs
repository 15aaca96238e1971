//! Vector search: per-table, per-field, per-provider indexes of embedded fields, searched top-k.
//!
//! Layered on [`crate::store`], which stores vectors through its one write path (each logged as
//! a `vector` WAL entry) and keeps pending vectors, built segments and the embedding queue.
//! This module builds HNSW segments (its own construction, in `segment`), grows them on merges
//! by inserting into the largest one's live graph, removes dead entries by repairing their
//! neighbours' links, searches them, and drains the embedding queue.
//!
//! ```
//! use remdb::{Database, vector::{SearchOptions, SearchQuery}};
//! use serde_json::json;
//!
//! let db = Database::memory();
//! let t = db.tenant("default")?;
//! t.register_schema(json!({"title": "Doc", "type": "object", "properties": {"title": {"type": "string"}}}))?;
//! let a = t.insert("doc", json!({"title": "north"}))?;
//! let b = t.insert("doc", json!({"title": "east"}))?;
//! t.vectors().put("doc", &a.to_string(), "title", "mine", &[0.0, 1.0])?;
//! t.vectors().put("doc", &b.to_string(), "title", "mine", &[1.0, 0.0])?;
//! let hits = t.search("doc", SearchQuery::Vector(vec![0.1, 0.9]), &SearchOptions::default())?;
//! assert_eq!(hits[0].id, a);
//! assert!(hits[0].score > hits[1].score);
//! # Ok::<(), remdb::Error>(())
//! ```

mod index;
mod quantized;
mod search;
mod segment;
mod worker;

use std::collections::HashSet;
use std::sync::Arc;

use uuid::Uuid;

pub use self::index::{maintenance_due, MaintenanceReport, DEFAULT_EF, MAX_SEGMENTS, SEAL_AT};
pub use self::search::{ScoreParts, SearchHit, SearchMode, SearchOptions, SearchQuery, MAX_TOP_K};
pub(crate) use self::worker::Maintainer;
pub use crate::distance::{dot, l2, Metric};
pub use crate::store::vectors::{
    EmbedMode, EmbedSettings, EmbeddingSource, IndexMeta, IndexName, QueuedWork, SegmentInfo,
    MAX_DIMENSIONS,
};

use crate::error::{Error, Result};
use crate::store::vectors::embed_text;
use crate::store::{parse_id, TenantStore};

/// What [`Embeddings::drain`](crate::Embeddings::drain) did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct DrainReport {
    /// Vectors computed and stored.
    pub embedded: u64,
    /// Work dropped because its row or text is gone.
    pub dropped: u64,
    /// Rows still queued afterwards (including work no provider can do now).
    pub remaining: u64,
}

/// The store's embedding source, to embed with `provider`.
fn embedding_source(t: &TenantStore, provider: &str) -> Result<Arc<dyn EmbeddingSource>> {
    t.embed_settings().source.ok_or_else(|| {
        Error::Embedding(format!(
            "no embedder is configured, so `{provider}` cannot embed text"
        ))
    })
}

/// Embeds `texts` with `provider` through the store's embedding source.
pub(crate) fn embed_texts(
    t: &TenantStore,
    provider: &str,
    texts: &[&str],
) -> Result<Vec<Vec<f32>>> {
    let vectors = embedding_source(t, provider)?.embed(provider, texts)?;
    if vectors.len() != texts.len() {
        return Err(Error::Embedding(format!(
            "{provider} returned {} vectors for {} texts",
            vectors.len(),
            texts.len()
        )));
    }
    Ok(vectors)
}

/// Embeds a search query with `provider` (see [`crate::embed::Embedder::embed_query`]).
pub(crate) fn embed_query(t: &TenantStore, provider: &str, text: &str) -> Result<Vec<f32>> {
    embedding_source(t, provider)?.embed_query(provider, text)
}

impl TenantStore {
    /// Stores a caller-supplied vector for `field` of row `id` of `table` under the provider
    /// label `provider` (any name: vectors from different labels are separate indexes).
    pub(crate) fn put_vector(
        &self,
        table: &str,
        id: &str,
        field: &str,
        provider: &str,
        vector: &[f32],
    ) -> Result<()> {
        let index = IndexName::new(table, field, provider)?;
        let id = parse_id(id)?;
        self.write(|tx| {
            let ts = tx.now_string();
            tx.put_vector(&index, id, vector, &ts, None)
        })
    }

    /// Stores many caller-supplied vectors in one atomic batch.
    pub(crate) fn put_vectors(
        &self,
        table: &str,
        field: &str,
        provider: &str,
        items: &[(Uuid, Vec<f32>)],
    ) -> Result<()> {
        let index = IndexName::new(table, field, provider)?;
        self.write(|tx| {
            let ts = tx.now_string();
            items.iter().enumerate().try_for_each(|(i, (id, v))| {
                tx.put_vector(&index, *id, v, &ts, None)
                    .map_err(|e| match e {
                        // The item's own error code, its position in the message.
                        Error::InvalidArgument(m) => {
                            Error::InvalidArgument(format!("item {i}: {m}"))
                        }
                        Error::NotFound(m) => Error::NotFound(format!("item {i}: {m}")),
                        other => other,
                    })
            })
        })
    }

    /// The `top_k` rows of `table` most similar to `query`, best first. Text is embedded with
    /// the table's provider (or `options.provider`, or the alt provider with `options.alt`).
    pub(crate) fn search(
        &self,
        table: &str,
        query: impl Into<SearchQuery>,
        options: &SearchOptions,
    ) -> Result<Vec<SearchHit>> {
        search::search(self, table, query.into(), options)
    }

    /// The provider whose vectors a search of `table` (one embedded `field`, or all of them)
    /// compares with: the one that embeds its query text. Fails as such a search would.
    pub(crate) fn search_provider(&self, table: &str, field: Option<&str>) -> Result<String> {
        let options = SearchOptions {
            field: field.map(str::to_string),
            ..SearchOptions::default()
        };
        Ok(search::resolve_indexes(self, table, &options)?.0)
    }

    /// [`TenantStore::search`]'s hits as one JSON array of rows, best first, each row with its
    /// `_score` (the shape the JS face and `rem search --json` return). Written straight from
    /// the stored JSON text: no row is parsed.
    pub(crate) fn search_json(
        &self,
        table: &str,
        query: impl Into<SearchQuery>,
        options: &SearchOptions,
    ) -> Result<String> {
        search::search_json(self, table, query.into(), options)
    }

    /// Vectors for `texts` from `provider` (default: the database's default provider).
    pub(crate) fn embed(&self, texts: &[&str], provider: Option<&str>) -> Result<Vec<Vec<f32>>> {
        let settings = self.embed_settings();
        let provider = match provider {
            Some(p) => p.to_string(),
            None => settings.default_provider.clone().ok_or_else(|| {
                Error::Embedding("no default embedding provider is configured".into())
            })?,
        };
        embed_texts(self, &provider, texts)
    }

    /// Seals and merges the vector indexes of `table` (or of every table) as the maintenance
    /// policy says, or — with `force` — builds each into a single segment.
    pub(crate) fn optimize_vectors(
        &self,
        table: Option<&str>,
        force: bool,
    ) -> Result<Vec<(IndexName, MaintenanceReport)>> {
        self.under_maintenance_lock(|| {
            let tables = match table {
                Some(t) => vec![t.to_string()],
                None => self.table_names()?,
            };
            let mut out = Vec::new();
            for table in tables {
                for (index, _) in self.vector_indexes(&table)? {
                    let report = index::maintain(self, &index, force)?;
                    out.push((index, report));
                }
            }
            Ok(out)
        })
    }

    /// Runs maintenance on `indexes` when the policy asks for it (cheap when it does not).
    pub(crate) fn maintain_vectors(&self, indexes: &[IndexName]) -> Result<()> {
        self.under_maintenance_lock(|| {
            for index in indexes {
                index::maintain(self, index, false)?;
            }
            Ok(())
        })
    }

    /// Runs `f` holding the database's maintenance lock (one segment build or merge at a time).
    fn under_maintenance_lock<R>(&self, f: impl FnOnce() -> Result<R>) -> Result<R> {
        worker::with_maintainer(self, |m| {
            let _guard = m
                .maintenance
                .lock()
                .map_err(|_| Error::storage("maintenance lock poisoned"))?;
            f()
        })
        .unwrap_or_else(|| {
            Err(Error::storage(
                "no vector maintainer is installed on this database",
            ))
        })
    }

    /// Computes queued embedding work, at most `max_rows` rows (in batches of 32), skipping
    /// work whose provider cannot embed now. Safe to run while others write: work whose row
    /// changed meanwhile is left for the next drain.
    pub(crate) fn drain_embeddings(&self, max_rows: usize) -> Result<DrainReport> {
        let settings = self.embed_settings();
        let can = |p: &str| settings.source.as_ref().is_some_and(|s| s.can_embed(p));
        let mut drain = Drain::default();
        let mut done_rows = 0usize;
        while done_rows < max_rows {
            let batch = self.next_embedding_batch(32.min(max_rows - done_rows), &|p| {
                !drain.skips(p) && can(p)
            })?;
            if batch.is_empty() {
                break;
            }
            done_rows += batch.rows;
            let results = batch
                .requests()
                .into_iter()
                .map(|(provider, texts)| {
                    let vectors = embed_texts(self, &provider, &texts);
                    (provider, vectors)
                })
                .collect();
            if !drain.step(self, &batch, results)? {
                break;
            }
        }
        drain.finish(self)
    }

    /// The next up-to-`max_rows` rows of queued work whose provider `can` embed, with their
    /// current texts: phase one of a drain (phase two is [`Self::store_embedding_batch`]). An
    /// async drain awaits its embeddings between the two.
    pub(crate) fn next_embedding_batch(
        &self,
        max_rows: usize,
        can: &dyn Fn(&str) -> bool,
    ) -> Result<EmbeddingBatch> {
        let work = self.queued_work(max_rows, can)?;
        let rows = work.len();
        let mut items = Vec::new();
        for (table, id, work) in work {
            let row = self.get_with(&id.to_string(), true)?;
            for w in work {
                let text = row.as_ref().and_then(|r| embed_text(r, &w.field));
                items.push(BatchItem {
                    table: table.clone(),
                    id,
                    work: w,
                    text,
                });
            }
        }
        Ok(EmbeddingBatch { rows, items })
    }

    /// Stores the vectors computed for `batch` (`(provider, one vector per text of
    /// [`EmbeddingBatch::requests`])`) in one write, re-checking that each piece of work is still
    /// queued and its text unchanged; drops work whose row or text is gone. Returns
    /// `(embedded, dropped)`.
    pub(crate) fn store_embedding_batch(
        &self,
        batch: &EmbeddingBatch,
        vectors: Vec<(String, Vec<Vec<f32>>)>,
    ) -> Result<(u64, u64)> {
        let mut by_item: Vec<Option<Vec<f32>>> = vec![None; batch.items.len()];
        for (provider, vs) in vectors {
            let at: Vec<usize> = batch.positions(&provider);
            if at.len() != vs.len() {
                return Err(Error::Embedding(format!(
                    "{provider} returned {} vectors for {} texts",
                    vs.len(),
                    at.len()
                )));
            }
            at.into_iter()
                .zip(vs)
                .for_each(|(i, v)| by_item[i] = Some(v));
        }
        self.write(|tx| {
            let ts = tx.now_string();
            let (mut embedded, mut dropped) = (0u64, 0u64);
            for (item, vector) in batch.items.iter().zip(&by_item) {
                let BatchItem {
                    table,
                    id,
                    work,
                    text,
                } = item;
                if !tx.is_queued(table, id, work)? {
                    continue;
                }
                let current = tx.row(table, id)?.and_then(|r| embed_text(&r, &work.field));
                if current.is_none() {
                    tx.unqueue(table, id, &work.field, &work.provider)?;
                    dropped += 1;
                    continue;
                }
                if let Some(v) = vector {
                    if current == *text {
                        let index = IndexName::new(table, &work.field, &work.provider)?;
                        let sha = current.as_deref().map(crate::store::vectors::text_sha);
                        tx.put_vector(&index, *id, v, &ts, sha.as_deref())?;
                        embedded += 1;
                    }
                }
            }
            Ok((embedded, dropped))
        })
    }
}

/// The bookkeeping of one drain, shared by [`Embeddings::drain`](crate::Embeddings::drain) and async drains:
/// totals, and providers that failed (skipped for the rest of the drain).
#[derive(Debug, Default)]
pub(crate) struct Drain {
    report: DrainReport,
    blocked: HashSet<String>,
    /// The first error of a provider that failed.
    failure: Option<Error>,
}

impl Drain {
    /// Whether work of `provider` is skipped (it failed earlier in this drain).
    pub(crate) fn skips(&self, provider: &str) -> bool {
        self.blocked.contains(provider)
    }

    /// Stores one step's vectors (`(provider, result)` per request of `batch`) and counts
    /// them; a failed provider is skipped from now on. Returns whether to go on: `false` when
    /// nothing moved (rows changing under us: the work is left for the next drain).
    pub(crate) fn step(
        &mut self,
        tenant: &TenantStore,
        batch: &EmbeddingBatch,
        results: Vec<(String, Result<Vec<Vec<f32>>>)>,
    ) -> Result<bool> {
        let mut vectors = Vec::new();
        for (provider, result) in results {
            match result {
                Ok(vs) => vectors.push((provider, vs)),
                Err(e) => {
                    self.blocked.insert(provider);
                    self.failure.get_or_insert(e);
                }
            }
        }
        let (embedded, dropped) = tenant.store_embedding_batch(batch, vectors)?;
        self.report.embedded += embedded;
        self.report.dropped += dropped;
        Ok(embedded > 0 || dropped > 0 || !self.blocked.is_empty())
    }

    /// The first error of a provider that failed in this drain (its work stays queued); the
    /// wasm face's async drain reports it.
    #[cfg(target_arch = "wasm32")]
    pub(crate) fn take_failure(&mut self) -> Option<Error> {
        self.failure.take()
    }

    /// The totals, with the rows still queued.
    pub(crate) fn finish(mut self, tenant: &TenantStore) -> Result<DrainReport> {
        self.report.remaining = tenant.queued_rows()?.0;
        Ok(self.report)
    }
}

/// One piece of queued work with the text it embeds now.
#[derive(Debug, Clone)]
struct BatchItem {
    table: String,
    id: Uuid,
    work: QueuedWork,
    text: Option<String>,
}

/// Queued work read for one drain step (see [`Embeddings::next_batch`](crate::Embeddings::next_batch)).
#[derive(Debug, Clone, Default)]
pub struct EmbeddingBatch {
    rows: usize,
    items: Vec<BatchItem>,
}

impl EmbeddingBatch {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Rows covered.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The texts to embed, grouped by provider (in item order).
    pub fn requests(&self) -> Vec<(String, Vec<&str>)> {
        let mut providers: Vec<&str> = self
            .items
            .iter()
            .map(|i| i.work.provider.as_str())
            .collect();
        providers.sort_unstable();
        providers.dedup();
        providers
            .into_iter()
            .map(|p| {
                let at = self.positions(p);
                (
                    p.to_string(),
                    at.iter()
                        .map(|&i| self.items[i].text.as_deref().unwrap_or_default())
                        .collect(),
                )
            })
            .collect()
    }

    fn positions(&self, provider: &str) -> Vec<usize> {
        (0..self.items.len())
            .filter(|&i| self.items[i].work.provider == provider && self.items[i].text.is_some())
            .collect()
    }
}
