//! Embeddings: text → fixed-length `f32` vectors, behind one small synchronous trait.
//!
//! Layered above [`crate::store`] and independent of it. Two backends:
//! [`LocalEmbedder`] (feature `embeddings`): all-MiniLM-L6-v2 (384 dimensions) run in-module by
//! tract-onnx with a tokenizers tokenizer, natively and in wasm32 alike; and [`HttpEmbedder`]:
//! OpenAI-compatible and Cohere HTTP APIs, configured by [`HttpConfig`] (keys and base URLs from
//! `OPENAI_API_KEY`/`OPENAI_BASE_URL`, `COHERE_API_KEY`/`COHERE_BASE_URL`), blocking natively and
//! `embed_async` on wasm32.
//!
//! ## Provider specs
//!
//! An embedder is named `provider:model`, e.g. `local:all-MiniLM-L6-v2` or
//! `openai:text-embedding-3-small`; a bare `local` means [`DEFAULT_LOCAL_MODEL`].
//! `custom:<name>` names an embedder the application supplies: it is never loaded, only
//! registered ([`EmbedderRegistry::register`]; the npm package registers the `embed` function
//! given to `RemDB.open`).
//!
//! ## Where local models live
//!
//! A local model is a directory holding `model.onnx` and `tokenizer.json`. It is looked up as
//! [`EmbedderSpec::local_model_dir`] says: the `REM_MODEL_DIR` environment variable when set
//! (the directory itself, whatever the model name), else `./models/<model>` relative to the
//! working directory. `.ci/fetch-models` downloads all-MiniLM-L6-v2 into
//! `./models/all-MiniLM-L6-v2` (or into `REM_MODEL_DIR`).
//!
//! ```
//! use remdb::embed::{EmbedderSpec, Provider};
//! let spec = EmbedderSpec::parse("local:all-MiniLM-L6-v2")?;
//! assert_eq!(spec.provider, Provider::Local);
//! assert_eq!(spec.to_string(), "local:all-MiniLM-L6-v2");
//! assert_eq!(EmbedderSpec::parse("openai:text-embedding-3-small")?.known_dimensions(), Some(1536));
//! assert!(EmbedderSpec::parse("nope:model").is_err());
//! # Ok::<(), remdb::Error>(())
//! ```

use std::fmt;
use std::path::PathBuf;

use crate::error::{Error, Result};

#[cfg(feature = "embeddings")]
mod layer_norm;
#[cfg(feature = "embeddings")]
mod local;
mod registry;
#[cfg(feature = "embeddings")]
mod rewrite;
#[cfg(feature = "embeddings")]
pub use local::LocalEmbedder;
// tract's f32 GEMM kernel for wasm engines on x86-64 (simd128 builds only).
#[cfg(all(
    feature = "embeddings",
    target_arch = "wasm32",
    target_feature = "simd128"
))]
mod wasm_gemm;
pub use registry::{EmbedderRegistry, ProviderStatus};

mod http;
pub use http::{HttpConfig, HttpEmbedder, COHERE_BASE_URL, OPENAI_BASE_URL, TIMEOUT_ENV};

/// The local model used when none is named: sentence-transformers' all-MiniLM-L6-v2.
pub const DEFAULT_LOCAL_MODEL: &str = "all-MiniLM-L6-v2";

/// Environment variable naming the default embedding provider (e.g. `local:all-MiniLM-L6-v2`).
pub const DEFAULT_EMBEDDING_ENV: &str = "REM_DEFAULT_EMBEDDING";

/// Environment variable choosing when embeddings are computed: `inline`, `background`, `off`.
pub const EMBEDDING_MODE_ENV: &str = "REM_EMBEDDING_MODE";

/// Environment variable naming the directory of the local model (`model.onnx`, `tokenizer.json`).
pub const MODEL_DIR_ENV: &str = "REM_MODEL_DIR";

/// Something that turns texts into vectors.
///
/// Implementations return one vector per input text, in input order, each of length
/// [`Embedder::dimensions`]. An empty input gives an empty output; an empty string is a valid
/// text. Errors are [`Error::Embedding`].
pub trait Embedder: Send + Sync {
    /// The spec this embedder answers to, e.g. `local:all-MiniLM-L6-v2`: what produced a vector.
    fn name(&self) -> &str;
    /// Length of every vector returned.
    fn dimensions(&self) -> usize;
    /// One vector per text, in order.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>>;

    /// Whether [`Embedder::embed`] works here. `false` for embedders that can only answer
    /// asynchronously (HTTP providers on wasm32): their work is queued and drained by an async
    /// task instead of running inside writes.
    fn is_sync(&self) -> bool {
        true
    }

    /// Shorthand for one text.
    fn embed_one(&self, text: &str) -> Result<Vec<f32>> {
        self.embed(&[text])?
            .pop()
            .ok_or_else(|| Error::Embedding("embedder returned no vector".into()))
    }

    /// A vector for a search query, to compare with vectors from [`Embedder::embed`]. Models
    /// that embed queries and documents differently override it (Cohere's `input_type`); by
    /// default a query embeds like any text.
    fn embed_query(&self, text: &str) -> Result<Vec<f32>> {
        self.embed_one(text)
    }

    /// How many tokens the model's tokenizer cuts `text` into (no special tokens, no
    /// truncation), when the tokenizer runs here; `None` (the default) for embedders without
    /// one. Document ingestion sizes its chunks with it.
    fn count_tokens(&self, _text: &str) -> Option<usize> {
        None
    }
}

/// Who computes the vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    /// In-module inference ([`LocalEmbedder`], feature `embeddings`).
    Local,
    /// OpenAI's embeddings HTTP API, or any server speaking it ([`HttpEmbedder`]).
    OpenAi,
    /// Cohere's embed HTTP API ([`HttpEmbedder`]).
    Cohere,
    /// An embedder the application registers under its spec ([`EmbedderRegistry::register`]);
    /// nothing loads it.
    Custom,
}

impl Provider {
    /// The lower-case name used in specs.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Local => "local",
            Provider::OpenAi => "openai",
            Provider::Cohere => "cohere",
            Provider::Custom => "custom",
        }
    }
}

/// A parsed `provider:model` string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmbedderSpec {
    /// Who computes the vectors.
    pub provider: Provider,
    /// The provider's model name, as written (case kept).
    pub model: String,
}

impl EmbedderSpec {
    /// Parses `provider:model` (provider case-insensitive: `local`, `openai`, `cohere`,
    /// `custom`); a bare `local` means [`DEFAULT_LOCAL_MODEL`]. Model names are non-empty,
    /// without whitespace.
    pub fn parse(spec: &str) -> Result<Self> {
        let spec = spec.trim();
        let (provider, model) = match spec.split_once(':') {
            Some((p, m)) => (p, m),
            None => (spec, ""),
        };
        let provider = match provider.to_ascii_lowercase().as_str() {
            "local" => Provider::Local,
            "openai" => Provider::OpenAi,
            "cohere" => Provider::Cohere,
            "custom" => Provider::Custom,
            _ => {
                return Err(Error::Embedding(format!(
                "unknown embedding provider in `{spec}`; expected local, openai, cohere or custom \
                     (e.g. `local:{DEFAULT_LOCAL_MODEL}`)"
            )))
            }
        };
        let model = match model {
            "" if provider == Provider::Local => DEFAULT_LOCAL_MODEL,
            "" => {
                return Err(Error::Embedding(format!(
                    "embedding spec `{spec}` names no model"
                )))
            }
            m => m,
        };
        // A local model name is a directory name under ./models: no separators, no `..`.
        let bad_local =
            provider == Provider::Local && (model.contains(['/', '\\']) || model == "..");
        if bad_local || model.chars().any(char::is_whitespace) {
            return Err(Error::Embedding(format!(
                "invalid model name `{model}` in embedding spec `{spec}`"
            )));
        }
        let model = model.to_string();
        Ok(EmbedderSpec { provider, model })
    }

    /// The vector length of well-known models, `None` when unknown (ask the embedder).
    pub fn known_dimensions(&self) -> Option<usize> {
        match (self.provider, self.model.as_str()) {
            (Provider::Local, m) if m.eq_ignore_ascii_case(DEFAULT_LOCAL_MODEL) => Some(384),
            (Provider::OpenAi, "text-embedding-3-small" | "text-embedding-ada-002") => Some(1536),
            (Provider::OpenAi, "text-embedding-3-large") => Some(3072),
            (Provider::Cohere, "embed-english-v3.0" | "embed-multilingual-v3.0") => Some(1024),
            (Provider::Cohere, "embed-english-light-v3.0" | "embed-multilingual-light-v3.0") => {
                Some(384)
            }
            _ => None,
        }
    }

    /// Directory of a local model's files: `$REM_MODEL_DIR` when set and non-empty, else
    /// `./models/<model>`.
    pub fn local_model_dir(&self) -> PathBuf {
        match std::env::var(MODEL_DIR_ENV) {
            Ok(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => PathBuf::from("models").join(&self.model),
        }
    }
}

impl fmt::Display for EmbedderSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.provider.as_str(), self.model)
    }
}

impl std::str::FromStr for EmbedderSpec {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        EmbedderSpec::parse(s)
    }
}

/// Where the default local model is found: `$REM_MODEL_DIR`, else `./models/all-MiniLM-L6-v2`.
pub fn default_model_dir() -> PathBuf {
    EmbedderSpec {
        provider: Provider::Local,
        model: DEFAULT_LOCAL_MODEL.to_string(),
    }
    .local_model_dir()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        let s = EmbedderSpec::parse("local").unwrap();
        assert_eq!(s.to_string(), "local:all-MiniLM-L6-v2");
        assert_eq!(s.known_dimensions(), Some(384));
        let s: EmbedderSpec = " OpenAI:text-embedding-3-large ".parse().unwrap();
        assert_eq!(
            (s.provider, s.model.as_str()),
            (Provider::OpenAi, "text-embedding-3-large")
        );
        assert_eq!(s.known_dimensions(), Some(3072));
        assert_eq!(
            EmbedderSpec::parse("cohere:embed-english-v3.0")
                .unwrap()
                .provider,
            Provider::Cohere
        );
        let s = EmbedderSpec::parse("Custom:webgpu-minilm").unwrap();
        assert_eq!(
            (s.provider, s.to_string(), s.known_dimensions()),
            (Provider::Custom, "custom:webgpu-minilm".to_string(), None)
        );
        assert_eq!(
            EmbedderSpec::parse("local:my-model")
                .unwrap()
                .known_dimensions(),
            None
        );
        for bad in [
            "",
            "openai",
            "openai:",
            "foo:bar",
            "custom",
            "custom:",
            "custom:a b",
            "local:a b",
            "local:../x",
            ":x",
        ] {
            let err = EmbedderSpec::parse(bad).unwrap_err();
            assert_eq!(err.code(), "EMBEDDING", "{bad}");
        }
    }
}
