//! Vectors in the store: the raw vectors of embedded fields, per-index metadata, the pending
//! (not yet indexed) set, built HNSW segments and the durable embedding queue — all written by
//! the one write path, vectors logged as [`WalOp::Vector`](super::WalOp::Vector).
//!
//! One vector index exists per table, embedded field and provider ([`IndexName`]). A vector is
//! first *pending*: searched exactly. [`crate::vector`] builds pending vectors into immutable
//! HNSW *segments* (persisted here in chunks) and merges segments; a vector replaced or deleted
//! after it went into a segment leaves a dead entry there (its record no longer names that
//! segment), skipped by search and dropped by the next merge.
//!
//! Embedding work: when a row's embedded text changes, its old vectors go away in the same
//! batch, and the new text is embedded before the batch commits ([`EmbedMode::Inline`]) or
//! recorded in the queue for a background drain ([`EmbedMode::Background`], or when the
//! provider cannot embed right now).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::entity::{get_path, Row};
use super::keys::Keys;
use super::schema::TableSchema;
use super::wal::WalOp;
use super::write::WriteTx;
use super::Tenant;
use crate::error::{Error, Result};
use crate::kv::{Direction, KvSnapshot};

/// Longest vector accepted.
pub const MAX_DIMENSIONS: usize = 65_536;

/// Names one vector index: the vectors of `field` in `table` computed by `provider`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct IndexName {
    /// The table.
    pub table: String,
    /// The embedded field.
    pub field: String,
    /// The provider spec (e.g. `local:all-MiniLM-L6-v2`) or the label of caller-supplied vectors.
    pub provider: String,
}

impl IndexName {
    /// An index name; checks that no part is empty or contains NUL.
    pub fn new(table: &str, field: &str, provider: &str) -> Result<Self> {
        for (what, v) in [("table", table), ("field", field), ("provider", provider)] {
            if v.is_empty() || v.contains('\0') || v.len() > 256 {
                return Err(Error::InvalidArgument(format!(
                    "vector index {what} must be 1–256 bytes without NUL"
                )));
            }
        }
        Ok(IndexName {
            table: table.into(),
            field: field.into(),
            provider: provider.into(),
        })
    }
}

impl fmt::Display for IndexName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{} ({})", self.table, self.field, self.provider)
    }
}

/// How vectors are compared. Scores are always "higher is better".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Cosine similarity (vectors are L2-normalised when stored); score in [-1, 1].
    #[default]
    Cosine,
    /// Raw dot product; score unbounded.
    InnerProduct,
    /// Euclidean distance d; score `1 / (1 + d)` in (0, 1].
    L2,
}

impl Metric {
    /// The name used in schemas and SQL.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Cosine => "cosine",
            Metric::InnerProduct => "inner_product",
            Metric::L2 => "l2",
        }
    }

    /// Score of a stored vector against a prepared query (see [`Metric::prepare`]).
    pub fn score(self, query: &[f32], stored: &[f32]) -> f32 {
        match self {
            Metric::Cosine | Metric::InnerProduct => dot(query, stored),
            Metric::L2 => 1.0 / (1.0 + l2(query, stored)),
        }
    }

    /// Normalises `v` in place for cosine; other metrics keep vectors as given.
    pub fn prepare(self, v: &mut [f32]) {
        if self == Metric::Cosine {
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            if norm > 0.0 {
                v.iter_mut().for_each(|x| *x /= norm);
            }
        }
    }
}

impl std::str::FromStr for Metric {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "cosine" => Ok(Metric::Cosine),
            "inner_product" | "ip" | "dot" => Ok(Metric::InnerProduct),
            "l2" | "euclidean" => Ok(Metric::L2),
            _ => Err(Error::InvalidArgument(format!(
                "unknown metric `{s}`; expected cosine, inner_product or l2"
            ))),
        }
    }
}

/// Dot product.
// `inline(always)`: HNSW builds and searches call these per candidate, and at opt-level "z" (the
// npm core build) they would stay calls.
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    crate::kernels::dot(a, b)
}

/// Euclidean distance.
#[inline(always)]
pub fn l2(a: &[f32], b: &[f32]) -> f32 {
    crate::kernels::squared_l2(a, b).sqrt()
}

/// One built segment as the index metadata records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentInfo {
    /// Segment number, unique within the index, from 1.
    pub no: u64,
    /// Entries it was built with.
    pub size: u64,
    /// Entries whose vector was replaced or deleted since.
    pub dead: u64,
    /// Number of stored chunks.
    pub chunks: u32,
}

/// Metadata of one vector index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexMeta {
    /// Comparison of vectors, fixed when the index is created.
    pub metric: Metric,
    /// Vector length, fixed by the first vector.
    pub dims: usize,
    /// Live vectors.
    pub count: u64,
    /// Vectors not in any segment (searched exactly).
    pub pending: u64,
    /// Built segments, oldest first.
    pub segments: Vec<SegmentInfo>,
    /// Next segment number.
    pub next_segment: u64,
    /// Changes on every write to the index: caches of the pending set compare it.
    pub version: u64,
}

/// Encodes a vector record: the segment it is in (0: pending) and the values.
pub(crate) fn encode_record(segment: u64, v: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + 4 * v.len());
    out.extend_from_slice(&segment.to_be_bytes());
    out.extend(v.iter().flat_map(|x| x.to_le_bytes()));
    out
}

/// The segment number of a vector record.
pub(crate) fn record_segment(record: &[u8]) -> Result<u64> {
    record
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or_else(corrupt)
}

/// The values of a vector record.
pub(crate) fn record_vector(record: &[u8]) -> Result<Vec<f32>> {
    decode_f32s(record.get(8..).ok_or_else(corrupt)?)
}

/// Little-endian f32 bytes → values.
pub(crate) fn decode_f32s(bytes: &[u8]) -> Result<Vec<f32>> {
    if !bytes.len().is_multiple_of(4) {
        return Err(corrupt());
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

fn encode_f32s(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn corrupt() -> Error {
    Error::storage("corrupt vector record")
}

/// When embedded text is turned into vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmbedMode {
    /// Before the write commits: the write returns with its vectors stored, or fails and
    /// writes nothing. Work for a provider that cannot embed right now is queued instead.
    #[default]
    Inline,
    /// The write only queues the work (durably, in the same batch); a drain computes the vectors.
    Background,
    /// No automatic embedding (stale vectors are still removed when text changes).
    Off,
}

impl std::str::FromStr for EmbedMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "inline" => Ok(EmbedMode::Inline),
            "background" => Ok(EmbedMode::Background),
            "off" => Ok(EmbedMode::Off),
            _ => Err(Error::InvalidArgument(format!(
                "unknown embedding mode `{s}`; expected inline, background or off"
            ))),
        }
    }
}

/// What computes vectors for the store. Implemented above the store (by the embedder registry);
/// the store only calls it.
pub trait EmbeddingSource: Send + Sync {
    /// One vector per text from `provider`, in order.
    fn embed(&self, provider: &str, texts: &[&str]) -> Result<Vec<Vec<f32>>>;
    /// A vector for a search query from `provider` (see [`crate::embed::Embedder::embed_query`]).
    fn embed_query(&self, provider: &str, text: &str) -> Result<Vec<f32>> {
        self.embed(provider, &[text])?
            .pop()
            .ok_or_else(|| Error::Embedding(format!("{provider} returned no vector")))
    }
    /// Whether `provider` can embed now; when not, inline work is queued instead of failing.
    fn can_embed(&self, provider: &str) -> bool;
    /// Called after a write committed that changed vector indexes (given with their new
    /// metadata) or queued embedding work.
    fn after_write(&self, _tenant: &Tenant, _changed: &[(IndexName, IndexMeta)], _queued: bool) {}
}

/// Embedding configuration of an open store.
#[derive(Clone, Default)]
pub struct EmbedSettings {
    /// When embedded text becomes vectors.
    pub mode: EmbedMode,
    /// Provider of tables whose schema names none.
    pub default_provider: Option<String>,
    /// What computes vectors; `None`: nothing can embed (work is queued unless mode is `Off`).
    pub source: Option<Arc<dyn EmbeddingSource>>,
}

impl fmt::Debug for EmbedSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbedSettings")
            .field("mode", &self.mode)
            .field("default_provider", &self.default_provider)
            .field("source", &self.source.is_some())
            .finish()
    }
}

impl EmbedSettings {
    /// The providers that embed `schema`'s fields: its own (or the default), then its alt.
    pub fn providers(&self, schema: &TableSchema) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(p) = schema
            .embedding_provider
            .clone()
            .or_else(|| self.default_provider.clone())
        {
            out.push(p);
        }
        if let Some(alt) = &schema.embedding_provider_alt {
            if !out.contains(alt) {
                out.push(alt.clone());
            }
        }
        out
    }
}

/// The text of an embedded field: strings as they are, lists of strings joined by newlines,
/// numbers and booleans as written, objects as JSON; nothing for null, missing or empty.
pub(crate) fn embed_text(row: &Row, field: &str) -> Option<String> {
    let text = match get_path(row, field)? {
        Value::Null => return None,
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .filter(|v| !v.is_null())
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
            .collect::<Vec<_>>()
            .join("\n"),
        other => other.to_string(),
    };
    (!text.trim().is_empty()).then_some(text)
}

/// One queued piece of embedding work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedWork {
    /// The embedded field.
    pub field: String,
    /// The provider to embed it with.
    pub provider: String,
}

/// The queue record of one row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct QueueRecord {
    pub(crate) work: Vec<QueuedWork>,
    /// Queued while applying another database's WAL: that database's vectors will follow in
    /// the log, so no local drain computes them.
    #[serde(default)]
    pub(crate) replica: bool,
}

/// Embedding work collected during one transaction, resolved before it commits.
#[derive(Default)]
pub(crate) struct EmbedWork {
    /// (table, id, field, provider) → text; the last change wins.
    items: BTreeMap<(String, Uuid, String, String), String>,
}

impl<'a> WriteTx<'a> {
    fn vmeta(&mut self, index: &IndexName) -> Result<Option<&mut IndexMeta>> {
        if !self.vmetas.contains_key(index) {
            let Some(raw) = self.snapshot().get(&self.keys().vindex(index))? else {
                return Ok(None);
            };
            let meta: IndexMeta = serde_json::from_slice(&raw)
                .map_err(|e| Error::storage(format!("corrupt vector index metadata: {e}")))?;
            self.vmetas.insert(index.clone(), meta);
        }
        let meta = self.vmetas.get_mut(index).expect("just inserted");
        meta.version += 1;
        Ok(Some(meta))
    }

    /// Stores `vector` as the vector of `index.field` of row `id` (which must exist in
    /// `index.table`), replacing any earlier one, and logs it. Creates the index on first use
    /// with the table's metric; every later vector must have the same length.
    pub(crate) fn put_vector(
        &mut self,
        index: &IndexName,
        id: Uuid,
        vector: &[f32],
        ts: &str,
    ) -> Result<()> {
        if vector.is_empty() || vector.len() > MAX_DIMENSIONS {
            return Err(Error::InvalidArgument(format!(
                "a vector needs 1–{MAX_DIMENSIONS} values, got {}",
                vector.len()
            )));
        }
        if let Some(i) = vector.iter().position(|x| !x.is_finite()) {
            return Err(Error::InvalidArgument(format!(
                "vector value {i} is not a finite number"
            )));
        }
        match self.table_of(&id)? {
            Some(t) if t == index.table => {}
            _ => {
                return Err(Error::NotFound(format!(
                    "no row {id} in table `{}`",
                    index.table
                )))
            }
        }
        let metric = self.schema(&index.table)?.info.embedding_metric;
        let keys = self.keys().clone();
        if self.vmeta(index)?.is_none() {
            let meta = IndexMeta {
                metric,
                dims: vector.len(),
                count: 0,
                pending: 0,
                segments: Vec::new(),
                next_segment: 1,
                version: 1,
            };
            self.vmetas.insert(index.clone(), meta);
        }
        let key = keys.vector(&index.table, &id, &index.field, &index.provider);
        let old = self.kv_get(&key)?;
        let meta = self.vmetas.get_mut(index).expect("created above");
        if meta.dims != vector.len() {
            return Err(Error::InvalidArgument(format!(
                "vector index {index} holds {}-dimensional vectors, got {} values",
                meta.dims,
                vector.len()
            )));
        }
        let metric = meta.metric;
        match old.as_deref().map(record_segment).transpose()? {
            None => {
                meta.count += 1;
                meta.pending += 1;
            }
            Some(0) => {}
            Some(seg) => {
                meta.pending += 1;
                mark_dead(meta, seg);
            }
        }
        let mut prepared = vector.to_vec();
        metric.prepare(&mut prepared);
        self.kv_put(key, encode_record(0, &prepared));
        self.kv_put(keys.vpending(index, &id), encode_f32s(&prepared));
        self.changed_indexes.insert(index.clone());
        let data = serde_json::to_vec(&serde_json::json!({
            "field": index.field, "provider": index.provider, "vector": vector,
        }))
        .map_err(Error::storage)?;
        self.append_wal_entry(WalOp::Vector, &index.table, Some(&id), Some(&data), ts);
        self.unqueue(&index.table, &id, &index.field, &index.provider)
    }

    /// Removes the vectors of row `id` of `table`: all of them, or those of one field.
    pub(crate) fn delete_row_vectors(
        &mut self,
        table: &str,
        id: &Uuid,
        field: Option<&str>,
    ) -> Result<()> {
        let keys = self.keys().clone();
        let mut prefix = keys.vectors_of(table, id);
        if let Some(f) = field {
            prefix.extend_from_slice(f.as_bytes());
            prefix.push(0);
        }
        let base = keys.vectors_of(table, id).len();
        for (key, record) in self.kv_scan_prefix(&prefix)? {
            let rest = std::str::from_utf8(&key[base..]).map_err(|_| corrupt())?;
            let (f, provider) = rest.split_once('\0').ok_or_else(corrupt)?;
            let index = IndexName {
                table: table.to_string(),
                field: f.to_string(),
                provider: provider.to_string(),
            };
            let seg = record_segment(&record)?;
            if let Some(meta) = self.vmeta(&index)? {
                meta.count = meta.count.saturating_sub(1);
                if seg == 0 {
                    meta.pending = meta.pending.saturating_sub(1);
                } else {
                    mark_dead(meta, seg);
                }
            }
            if seg == 0 {
                self.kv_delete(keys.vpending(&index, id));
            }
            self.kv_delete(key);
            self.changed_indexes.insert(index);
        }
        Ok(())
    }

    /// Reacts to a row changing from `old` to `new` (`None`: purged): drops vectors of changed
    /// embedded text and collects the work to embed the new text.
    pub(crate) fn row_embeddings_changed(
        &mut self,
        schema: &TableSchema,
        id: &Uuid,
        old: Option<&Row>,
        new: Option<&Row>,
    ) -> Result<()> {
        let Some(new) = new else {
            self.delete_row_vectors(&schema.name, id, None)?;
            if self.kv_get(&self.keys().queue(&schema.name, id))?.is_some() {
                self.kv_delete(self.keys().queue(&schema.name, id));
                self.queue_changed = true;
            }
            self.embed_work
                .items
                .retain(|(t, i, _, _), _| !(t == &schema.name && i == id));
            return Ok(());
        };
        if schema.embedding_fields.is_empty() {
            return Ok(());
        }
        let settings = self.tenant().embed_settings();
        let providers = settings.providers(schema);
        for field in &schema.embedding_fields {
            let new_text = embed_text(new, field);
            let old_text = old.and_then(|o| embed_text(o, field));
            if old.is_some() && new_text == old_text {
                continue;
            }
            if old.is_some() {
                self.delete_row_vectors(&schema.name, id, Some(field))?;
                self.unqueue_field(&schema.name, id, field)?;
            }
            for provider in &providers {
                let key = (schema.name.clone(), *id, field.clone(), provider.clone());
                match &new_text {
                    Some(text) if settings.mode != EmbedMode::Off => {
                        self.embed_work.items.insert(key, text.clone());
                    }
                    _ => {
                        self.embed_work.items.remove(&key);
                    }
                }
            }
        }
        Ok(())
    }

    /// Embeds (inline) or queues the work collected so far. Runs once, before the batch commits.
    pub(crate) fn resolve_embed_work(&mut self) -> Result<()> {
        let items = std::mem::take(&mut self.embed_work.items);
        if items.is_empty() {
            return Ok(());
        }
        let settings = self.tenant().embed_settings();
        let ts = self.now_string();
        let mut by_provider: BTreeMap<String, Vec<(String, Uuid, String, String)>> =
            BTreeMap::new();
        for ((table, id, field, provider), text) in items {
            let inline = settings.mode == EmbedMode::Inline
                && !self.replaying
                && settings
                    .source
                    .as_ref()
                    .is_some_and(|s| s.can_embed(&provider));
            if inline {
                by_provider
                    .entry(provider.clone())
                    .or_default()
                    .push((table, id, field, text));
            } else {
                self.enqueue(&table, &id, QueuedWork { field, provider }, self.replaying)?;
            }
        }
        let Some(source) = settings.source else {
            return Ok(());
        };
        for (provider, work) in by_provider {
            let texts: Vec<&str> = work.iter().map(|(_, _, _, text)| text.as_str()).collect();
            let vectors = source.embed(&provider, &texts)?;
            if vectors.len() != work.len() {
                return Err(Error::Embedding(format!(
                    "provider {provider} returned {} vectors for {} texts",
                    vectors.len(),
                    work.len()
                )));
            }
            for ((table, id, field, _), vector) in work.iter().zip(vectors) {
                let index = IndexName {
                    table: table.clone(),
                    field: field.clone(),
                    provider: provider.clone(),
                };
                self.put_vector(&index, *id, &vector, &ts)?;
            }
        }
        Ok(())
    }

    fn queue_record(&self, key: &[u8]) -> Result<Option<QueueRecord>> {
        self.kv_get(key)?
            .map(|raw| {
                serde_json::from_slice(&raw)
                    .map_err(|e| Error::storage(format!("corrupt queue record: {e}")))
            })
            .transpose()
    }

    fn put_queue_record(&mut self, key: Vec<u8>, record: &QueueRecord) -> Result<()> {
        if record.work.is_empty() {
            self.kv_delete(key);
        } else {
            self.kv_put(key, serde_json::to_vec(record).map_err(Error::storage)?);
        }
        self.queue_changed = true;
        Ok(())
    }

    fn enqueue(&mut self, table: &str, id: &Uuid, work: QueuedWork, replica: bool) -> Result<()> {
        let key = self.keys().queue(table, id);
        let mut record = self.queue_record(&key)?.unwrap_or_default();
        if !record.work.contains(&work) {
            record.work.push(work);
        }
        record.replica = replica;
        self.put_queue_record(key, &record)
    }

    /// Removes one piece of queued work.
    pub(crate) fn unqueue(
        &mut self,
        table: &str,
        id: &Uuid,
        field: &str,
        provider: &str,
    ) -> Result<()> {
        let key = self.keys().queue(table, id);
        let Some(mut record) = self.queue_record(&key)? else {
            return Ok(());
        };
        record
            .work
            .retain(|w| !(w.field == field && w.provider == provider));
        self.put_queue_record(key, &record)
    }

    fn unqueue_field(&mut self, table: &str, id: &Uuid, field: &str) -> Result<()> {
        let key = self.keys().queue(table, id);
        let Some(mut record) = self.queue_record(&key)? else {
            return Ok(());
        };
        record.work.retain(|w| w.field != field);
        self.put_queue_record(key, &record)
    }

    /// Whether `work` for row `id` is still queued (a drain re-checks before storing vectors).
    pub(crate) fn is_queued(&self, table: &str, id: &Uuid, work: &QueuedWork) -> Result<bool> {
        Ok(self
            .queue_record(&self.keys().queue(table, id))?
            .is_some_and(|r| r.work.contains(work)))
    }

    /// Installs a built segment. `members` are the ids it was built from with the segment each
    /// came from (0: pending) and the vector used; a member whose record changed since is
    /// counted dead in the new segment. `replaced` segments are removed. Returns the new number.
    pub(crate) fn install_segment(
        &mut self,
        index: &IndexName,
        members: &[(Uuid, u64, &[f32])],
        replaced: &[u64],
        chunks: Vec<Vec<u8>>,
    ) -> Result<u64> {
        let keys = self.keys().clone();
        let Some(meta) = self.vmeta(index)? else {
            return Err(Error::NotFound(format!("no vector index {index}")));
        };
        let no = meta.next_segment;
        meta.next_segment += 1;
        let mut dead = 0u64;
        let mut moved_from_pending = 0u64;
        for (id, from, vector) in members {
            let key = keys.vector(&index.table, id, &index.field, &index.provider);
            let current = self.kv_get(&key)?;
            let still = match &current {
                Some(record) => {
                    let seg = record_segment(record)?;
                    seg == *from && (seg != 0 || record[8..] == encode_f32s(vector)[..])
                }
                None => false,
            };
            if !still {
                dead += 1;
                continue;
            }
            if *from == 0 {
                self.kv_delete(keys.vpending(index, id));
                moved_from_pending += 1;
            }
            let mut record = current.expect("checked");
            record[..8].copy_from_slice(&no.to_be_bytes());
            self.kv_put(key, record);
        }
        for seg in replaced {
            let range = keys.vsegment(index, *seg);
            for (key, _) in self.kv_scan_prefix(&range_prefix(&range))? {
                self.kv_delete(key);
            }
        }
        let meta = self.vmetas.get_mut(index).expect("loaded above");
        meta.pending = meta.pending.saturating_sub(moved_from_pending);
        meta.segments.retain(|s| !replaced.contains(&s.no));
        meta.segments.push(SegmentInfo {
            no,
            size: members.len() as u64,
            dead,
            chunks: chunks.len() as u32,
        });
        for (i, chunk) in chunks.into_iter().enumerate() {
            self.kv_put(keys.vsegment_chunk(index, no, i as u32), chunk);
        }
        self.changed_indexes.insert(index.clone());
        Ok(no)
    }

    /// Removes segments whose entries are all dead.
    pub(crate) fn drop_segments(&mut self, index: &IndexName, segments: &[u64]) -> Result<()> {
        let keys = self.keys().clone();
        for seg in segments {
            for (key, _) in self.kv_scan_prefix(&range_prefix(&keys.vsegment(index, *seg)))? {
                self.kv_delete(key);
            }
        }
        if let Some(meta) = self.vmeta(index)? {
            meta.segments.retain(|s| !segments.contains(&s.no));
        }
        self.changed_indexes.insert(index.clone());
        Ok(())
    }

    /// Writes the vector index metadata changed in this transaction.
    /// Returns the changed indexes with their new metadata.
    pub(crate) fn finish_vectors(&mut self) -> Result<Vec<(IndexName, IndexMeta)>> {
        let keys = self.keys().clone();
        let mut changed = Vec::new();
        for (index, meta) in std::mem::take(&mut self.vmetas) {
            if self.changed_indexes.contains(&index) {
                self.batch_put(
                    keys.vindex(&index),
                    serde_json::to_vec(&meta).map_err(Error::storage)?,
                );
                changed.push((index, meta));
            }
        }
        Ok(changed)
    }
}

fn range_prefix(range: &crate::kv::KeyRange) -> Vec<u8> {
    match &range.start {
        std::ops::Bound::Included(k) | std::ops::Bound::Excluded(k) => k.clone(),
        std::ops::Bound::Unbounded => Vec::new(),
    }
}

fn mark_dead(meta: &mut IndexMeta, seg: u64) {
    if let Some(s) = meta.segments.iter_mut().find(|s| s.no == seg) {
        s.dead += 1;
    }
}

/// Read-side access to vector data, for [`crate::vector`].
impl Tenant {
    /// The embedding settings of the store.
    pub(crate) fn embed_settings(&self) -> EmbedSettings {
        self.store.embed_settings()
    }

    pub(crate) fn store_keys(&self) -> &Keys {
        &self.keys
    }

    /// The metadata of `index`, if any vector was ever stored in it.
    pub fn vector_index(&self, index: &IndexName) -> Result<Option<IndexMeta>> {
        read_meta(&*self.snapshot()?, &self.keys, index)
    }

    /// Every vector index of `table`.
    pub fn vector_indexes(&self, table: &str) -> Result<Vec<(IndexName, IndexMeta)>> {
        let snap = self.snapshot()?;
        let mut out = Vec::new();
        let start = self.keys.vindexes(table);
        let base = range_prefix(&start).len() - table.len() - 1;
        for pair in snap.scan(&start, Direction::Forward)? {
            let (k, v) = pair?;
            let rest = std::str::from_utf8(&k[base..]).map_err(|_| corrupt())?;
            let mut parts = rest.splitn(3, '\0');
            let (Some(t), Some(f), Some(p)) = (parts.next(), parts.next(), parts.next()) else {
                return Err(corrupt());
            };
            let meta = serde_json::from_slice(&v)
                .map_err(|e| Error::storage(format!("corrupt vector index metadata: {e}")))?;
            out.push((
                IndexName {
                    table: t.into(),
                    field: f.into(),
                    provider: p.into(),
                },
                meta,
            ));
        }
        Ok(out)
    }

    /// The stored (prepared) vector of one row in `index`, with the segment it is in.
    pub fn stored_vector(&self, index: &IndexName, id: &Uuid) -> Result<Option<(u64, Vec<f32>)>> {
        match self.store.kv().get(&self.keys.vector(
            &index.table,
            id,
            &index.field,
            &index.provider,
        ))? {
            Some(r) => Ok(Some((record_segment(&r)?, record_vector(&r)?))),
            None => Ok(None),
        }
    }

    /// Like [`Self::stored_vector`], read from `snap`.
    pub(crate) fn stored_vector_in(
        &self,
        snap: &dyn KvSnapshot,
        index: &IndexName,
        id: &Uuid,
    ) -> Result<Option<(u64, Vec<f32>)>> {
        match snap.get(
            &self
                .keys
                .vector(&index.table, id, &index.field, &index.provider),
        )? {
            Some(r) => Ok(Some((record_segment(&r)?, record_vector(&r)?))),
            None => Ok(None),
        }
    }

    /// The segment a row's vector is in (0: pending), reading only the record header.
    pub(crate) fn vector_segment_in(
        &self,
        snap: &dyn KvSnapshot,
        index: &IndexName,
        id: &Uuid,
    ) -> Result<Option<u64>> {
        snap.get(
            &self
                .keys
                .vector(&index.table, id, &index.field, &index.provider),
        )?
        .map(|r| record_segment(&r))
        .transpose()
    }

    /// The pending vectors of `index` (searched exactly).
    pub(crate) fn pending_vectors(
        &self,
        snap: &dyn KvSnapshot,
        index: &IndexName,
    ) -> Result<Vec<(Uuid, Vec<f32>)>> {
        let mut out = Vec::new();
        for pair in snap.scan(&self.keys.vpendings(index), Direction::Forward)? {
            let (k, v) = pair?;
            out.push((super::keys::trailing_id(&k)?, decode_f32s(&v)?));
        }
        Ok(out)
    }

    /// The stored chunks of segment `seg` of `index`, in order.
    pub(crate) fn segment_chunks(
        &self,
        snap: &dyn KvSnapshot,
        index: &IndexName,
        seg: u64,
    ) -> Result<Vec<Vec<u8>>> {
        snap.scan(&self.keys.vsegment(index, seg), Direction::Forward)?
            .map(|pair| pair.map(|(_, v)| v))
            .collect()
    }

    /// Queued embedding work: up to `limit` rows `(table, id, work)` with work whose provider
    /// `can` do, skipping replica entries.
    pub(crate) fn queued_work(
        &self,
        limit: usize,
        can: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<(String, Uuid, Vec<QueuedWork>)>> {
        let mut out = Vec::new();
        for pair in self
            .store
            .kv()
            .scan(&self.keys.queues(), Direction::Forward)?
        {
            let (k, v) = pair?;
            let record: QueueRecord = serde_json::from_slice(&v)
                .map_err(|e| Error::storage(format!("corrupt queue record: {e}")))?;
            let work: Vec<QueuedWork> = record
                .work
                .into_iter()
                .filter(|w| can(&w.provider))
                .collect();
            if record.replica || work.is_empty() {
                continue;
            }
            let table = self
                .keys
                .table_of_queue_key(&k)
                .ok_or_else(corrupt)?
                .to_string();
            out.push((table, super::keys::trailing_id(&k)?, work));
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Rows with queued embedding work `(local, replica)`.
    pub fn queued_rows(&self) -> Result<(u64, u64)> {
        let (mut local, mut replica) = (0, 0);
        for pair in self
            .store
            .kv()
            .scan(&self.keys.queues(), Direction::Forward)?
        {
            let (_, v) = pair?;
            let record: QueueRecord = serde_json::from_slice(&v)
                .map_err(|e| Error::storage(format!("corrupt queue record: {e}")))?;
            if record.replica {
                replica += 1;
            } else {
                local += 1;
            }
        }
        Ok((local, replica))
    }
}

pub(crate) fn read_meta(
    snap: &dyn KvSnapshot,
    keys: &Keys,
    index: &IndexName,
) -> Result<Option<IndexMeta>> {
    match snap.get(&keys.vindex(index))? {
        Some(raw) => serde_json::from_slice(&raw)
            .map(Some)
            .map_err(|e| Error::storage(format!("corrupt vector index metadata: {e}"))),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let r = encode_record(7, &[1.0, -2.5]);
        assert_eq!(record_segment(&r).unwrap(), 7);
        assert_eq!(record_vector(&r).unwrap(), vec![1.0, -2.5]);
        assert!(record_segment(&[1, 2]).is_err());
        assert!(decode_f32s(&[1, 2, 3]).is_err());
    }

    #[test]
    fn metrics_score_higher_is_better() {
        let mut q = vec![3.0, 4.0];
        Metric::Cosine.prepare(&mut q);
        assert!((q[0] - 0.6).abs() < 1e-6);
        assert!(
            Metric::L2.score(&[0.0, 0.0], &[0.0, 0.0]) > Metric::L2.score(&[0.0, 0.0], &[1.0, 0.0])
        );
        assert_eq!(Metric::InnerProduct.score(&[1.0, 2.0], &[3.0, 4.0]), 11.0);
        assert_eq!("ip".parse::<Metric>().unwrap(), Metric::InnerProduct);
        assert!("manhattan".parse::<Metric>().is_err());
    }

    #[test]
    fn embed_text_of_fields() {
        let row: Row = serde_json::from_value(serde_json::json!({
            "a": "hello", "b": ["x", "y"], "c": null, "d": "  ", "e": 3, "n": {"m": "deep"}
        }))
        .unwrap();
        assert_eq!(embed_text(&row, "a").as_deref(), Some("hello"));
        assert_eq!(embed_text(&row, "b").as_deref(), Some("x\ny"));
        assert_eq!(embed_text(&row, "c"), None);
        assert_eq!(embed_text(&row, "d"), None);
        assert_eq!(embed_text(&row, "e").as_deref(), Some("3"));
        assert_eq!(embed_text(&row, "n.m").as_deref(), Some("deep"));
        assert_eq!(embed_text(&row, "zzz"), None);
    }
}
