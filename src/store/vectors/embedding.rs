//! Embedding configuration and work: the mode, the source of vectors, the commit hook, the
//! durable queue records and the work one transaction collects.

#[allow(unused_imports)]
use super::*;

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
    /// The length of `provider`'s vectors when known without embedding anything (a well-known
    /// model); a new vector index under that provider label must match it.
    fn dimensions(&self, _provider: &str) -> Option<usize> {
        None
    }
    /// A counter of `provider`'s tokens in a text, when its tokenizer runs here (the in-module
    /// model): document ingestion sizes chunks with it. `None`: size by characters.
    fn token_counter(&self, _provider: &str) -> Option<TokenCounter> {
        None
    }
}

/// Counts a text's tokens with an embedding model's tokenizer (see
/// [`EmbeddingSource::token_counter`]).
pub type TokenCounter = Arc<dyn Fn(&str) -> usize + Send + Sync>;

/// Told after each commit that changed vector indexes (given with their new metadata) or
/// queued embedding work. Implemented above the store by the vector layer's worker.
pub(crate) trait CommitHook: Send + Sync {
    /// Runs after the commit, with the writer lock released.
    fn after_commit(&self, tenant: &TenantStore, changed: &[(IndexName, IndexMeta)], queued: bool);
    /// The hook as `Any`: the layer that installed it keeps its per-database state in it (the
    /// vector layer's segment cache and maintenance lock) and finds it again through the store,
    /// which holds no state on that layer's behalf.
    fn as_any(&self) -> &dyn std::any::Any;
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

/// A short fingerprint of an embedded text (the first 16 bytes of its SHA-256, as hex): logged
/// with each vector an embedder made, so a sync device takes a vector that travelled with a
/// row only when its own text of the field is the same.
pub(crate) fn text_sha(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
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
    pub(super) items: BTreeMap<(String, Uuid, String, String), String>,
}

#[cfg(test)]
mod tests {
    use super::*;

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
