//! The embedder registry: provider spec → embedder, loaded on first use, and the store's
//! [`EmbeddingSource`]. Draining the embedding queue and index maintenance belong to
//! `crate::vector` (its background worker).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use super::{Embedder, EmbedderSpec, Provider};
use crate::error::{Error, Result};
use crate::store::vectors::EmbeddingSource;

/// Whether a provider can embed, as [`EmbedderRegistry::status`] reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProviderStatus {
    /// The provider spec.
    pub provider: String,
    /// Loaded and usable.
    pub ready: bool,
    /// Why it cannot embed, when not ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Vector length, when ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<usize>,
}

/// Provider specs → embedders, loaded lazily. Failed loads are remembered (and reported) until
/// [`EmbedderRegistry::register`] or [`EmbedderRegistry::retry`].
pub struct EmbedderRegistry {
    loaded: RwLock<HashMap<String, Arc<dyn Embedder>>>,
    failed: Mutex<HashMap<String, String>>,
    model_dir: Option<PathBuf>,
}

impl std::fmt::Debug for EmbedderRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbedderRegistry")
            .field("model_dir", &self.model_dir)
            .finish()
    }
}

impl EmbedderRegistry {
    /// A registry loading local models from `model_dir` (default: [`EmbedderSpec::local_model_dir`]).
    pub fn new(model_dir: Option<PathBuf>) -> Self {
        EmbedderRegistry {
            loaded: RwLock::new(HashMap::new()),
            failed: Mutex::new(HashMap::new()),
            model_dir,
        }
    }

    /// Uses `embedder` for `provider` (replacing any loaded one).
    pub fn register(&self, provider: &str, embedder: Arc<dyn Embedder>) {
        if let Ok(mut failed) = self.failed.lock() {
            failed.remove(provider);
        }
        if let Ok(mut loaded) = self.loaded.write() {
            loaded.insert(provider.to_string(), embedder);
        }
    }

    /// Forgets failed loads so the next use tries again (e.g. after fetching the model).
    pub fn retry(&self) {
        if let Ok(mut failed) = self.failed.lock() {
            failed.clear();
        }
    }

    /// The embedder of `provider`, loading it on first use.
    pub fn get(&self, provider: &str) -> Result<Arc<dyn Embedder>> {
        if let Some(e) = self
            .loaded
            .read()
            .ok()
            .and_then(|l| l.get(provider).cloned())
        {
            return Ok(e);
        }
        if let Some(why) = self
            .failed
            .lock()
            .ok()
            .and_then(|f| f.get(provider).cloned())
        {
            return Err(Error::Embedding(why));
        }
        match self.load(provider) {
            Ok(e) => {
                if let Ok(mut loaded) = self.loaded.write() {
                    loaded.insert(provider.to_string(), e.clone());
                }
                Ok(e)
            }
            Err(err) => {
                if let Ok(mut failed) = self.failed.lock() {
                    // The bare reason: it is re-raised as an `Embedding` error, which adds its prefix.
                    let why = match &err {
                        Error::Embedding(why) => why.clone(),
                        other => other.to_string(),
                    };
                    failed.insert(provider.to_string(), why);
                }
                Err(err)
            }
        }
    }

    /// The state of each provider used or registered so far.
    pub fn status(&self) -> Vec<ProviderStatus> {
        let mut out: Vec<ProviderStatus> = Vec::new();
        if let Ok(loaded) = self.loaded.read() {
            out.extend(loaded.iter().map(|(p, e)| ProviderStatus {
                provider: p.clone(),
                ready: true,
                error: None,
                dimensions: Some(e.dimensions()),
            }));
        }
        if let Ok(failed) = self.failed.lock() {
            out.extend(failed.iter().map(|(p, why)| ProviderStatus {
                provider: p.clone(),
                ready: false,
                error: Some(why.clone()),
                dimensions: None,
            }));
        }
        out.sort_by(|a, b| a.provider.cmp(&b.provider));
        out
    }

    fn load(&self, provider: &str) -> Result<Arc<dyn Embedder>> {
        let spec = EmbedderSpec::parse(provider)?;
        match spec.provider {
            Provider::Local => self.load_local(&spec),
            Provider::OpenAi | Provider::Cohere => {
                Ok(Arc::new(super::HttpEmbedder::from_spec(&spec)?))
            }
            Provider::Custom => Err(Error::Embedding(format!(
                "{spec} is not registered: a custom provider embeds only through the embedder \
                 registered under its name (EmbedderRegistry::register; in JavaScript, the \
                 `embed` function given to RemDB.open)"
            ))),
        }
    }

    #[cfg(feature = "embeddings")]
    fn load_local(&self, spec: &EmbedderSpec) -> Result<Arc<dyn Embedder>> {
        let dir = self
            .model_dir
            .clone()
            .unwrap_or_else(|| spec.local_model_dir());
        shared_local_model(dir, &spec.to_string())
    }

    #[cfg(not(feature = "embeddings"))]
    fn load_local(&self, spec: &EmbedderSpec) -> Result<Arc<dyn Embedder>> {
        Err(Error::Embedding(format!(
            "{spec}: this build has no in-module embeddings (enable the `embeddings` feature)"
        )))
    }
}

/// A model loaded once per process and directory: every database of the process shares it.
#[cfg(feature = "embeddings")]
fn shared_local_model(dir: PathBuf, name: &str) -> Result<Arc<dyn Embedder>> {
    type Models = Mutex<HashMap<(PathBuf, String), Arc<super::LocalEmbedder>>>;
    static MODELS: std::sync::OnceLock<Models> = std::sync::OnceLock::new();
    let models = MODELS.get_or_init(|| Mutex::new(HashMap::new()));
    let mut models = models
        .lock()
        .map_err(|_| Error::Embedding("model cache lock poisoned".into()))?;
    let key = (dir.clone(), name.to_string());
    if let Some(m) = models.get(&key) {
        return Ok(m.clone());
    }
    let model = Arc::new(super::LocalEmbedder::from_files(&dir)?.with_name(name));
    models.insert(key, model.clone());
    Ok(model)
}

impl EmbeddingSource for EmbedderRegistry {
    fn embed(&self, provider: &str, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        self.get(provider)?.embed(texts)
    }

    fn embed_query(&self, provider: &str, text: &str) -> Result<Vec<f32>> {
        self.get(provider)?.embed_query(text)
    }

    fn can_embed(&self, provider: &str) -> bool {
        self.get(provider).is_ok_and(|e| e.is_sync())
    }

    fn dimensions(&self, provider: &str) -> Option<usize> {
        // A loaded or registered embedder knows its length; else a well-known model's (nothing
        // is loaded to find out).
        let loaded = self
            .loaded
            .read()
            .ok()
            .and_then(|l| l.get(provider).map(|e| e.dimensions()));
        loaded.or_else(|| EmbedderSpec::parse(provider).ok()?.known_dimensions())
    }

    fn token_counter(&self, provider: &str) -> Option<crate::store::vectors::TokenCounter> {
        let embedder = self.get(provider).ok()?;
        embedder.count_tokens("")?;
        Some(Arc::new(move |text: &str| {
            embedder.count_tokens(text).unwrap_or(text.len())
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two-dimensional vectors: the text's length and 1.
    struct Lengths;

    impl Embedder for Lengths {
        fn name(&self) -> &str {
            "custom:lengths"
        }
        fn dimensions(&self) -> usize {
            2
        }
        fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
            Ok(texts.iter().map(|t| vec![t.len() as f32, 1.0]).collect())
        }
    }

    #[test]
    fn a_custom_provider_embeds_only_once_registered() {
        let registry = EmbedderRegistry::new(None);
        let err = EmbeddingSource::embed(&registry, "custom:lengths", &["abc"]).unwrap_err();
        assert_eq!(err.code(), "EMBEDDING");
        assert!(
            err.to_string().contains("custom:lengths is not registered"),
            "{err}"
        );
        assert!(!registry.can_embed("custom:lengths"));
        let status = registry.status();
        assert_eq!((status.len(), status[0].ready), (1, false));

        registry.register("custom:lengths", Arc::new(Lengths));
        assert!(registry.can_embed("custom:lengths"));
        assert_eq!(
            EmbeddingSource::embed(&registry, "custom:lengths", &["abc", ""]).unwrap(),
            vec![vec![3.0, 1.0], vec![0.0, 1.0]]
        );
        assert_eq!(registry.status()[0].dimensions, Some(2));
    }
}
