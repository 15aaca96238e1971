//! Cutting text into chunks of a size in tokens (the embedding model's tokenizer when it runs
//! here) or characters, with `text-splitter`.

use text_splitter::{ChunkConfig, ChunkSizer, MarkdownSplitter, TextSplitter};

use super::{IngestOptions, CHARS_PER_TOKEN};
use crate::error::{Error, Result};
use crate::store::vectors::TokenCounter;

/// Largest chunk size accepted, in tokens.
const MAX_CHUNK_TOKENS: usize = 100_000;

/// How chunk sizes are measured.
#[derive(Clone)]
pub(crate) enum Sizer {
    /// Unicode scalar values.
    Chars,
    /// Tokens of an embedding model's tokenizer.
    Tokens(TokenCounter),
}

impl ChunkSizer for Sizer {
    fn size(&self, chunk: &str) -> usize {
        match self {
            Sizer::Chars => chunk.chars().count(),
            Sizer::Tokens(count) => count(chunk),
        }
    }
}

/// Cuts text into chunks of at most `capacity` (in the sizer's unit), overlapping by `overlap`.
pub(crate) struct Chunker {
    sizer: Sizer,
    capacity: usize,
    overlap: usize,
}

impl Chunker {
    /// The chunker `options` ask for: by tokens with `counter`, else by characters.
    pub(crate) fn new(options: &IngestOptions, counter: Option<TokenCounter>) -> Result<Self> {
        let (tokens, overlap) = (options.chunk_tokens, options.overlap);
        if tokens == 0 || tokens > MAX_CHUNK_TOKENS {
            return Err(Error::InvalidArgument(format!(
                "chunk size must be between 1 and {MAX_CHUNK_TOKENS} tokens, got {tokens}"
            )));
        }
        if overlap >= tokens {
            return Err(Error::InvalidArgument(format!(
                "overlap ({overlap}) must be smaller than the chunk size ({tokens})"
            )));
        }
        Ok(match counter {
            Some(counter) => Chunker {
                sizer: Sizer::Tokens(counter),
                capacity: tokens,
                overlap,
            },
            None => Chunker {
                sizer: Sizer::Chars,
                capacity: tokens * CHARS_PER_TOKEN,
                overlap: overlap * CHARS_PER_TOKEN,
            },
        })
    }

    /// What chunks were cut by, kept in metadata (`tokens:200/20`, `chars:800/80`): a document
    /// chunked differently before is re-ingested.
    pub(crate) fn signature(&self) -> String {
        let unit = match self.sizer {
            Sizer::Chars => "chars",
            Sizer::Tokens(_) => "tokens",
        };
        format!("{unit}:{}/{}", self.capacity, self.overlap)
    }

    /// The size of `text` in the sizer's unit.
    pub(crate) fn size(&self, text: &str) -> usize {
        self.sizer.size(text)
    }

    /// Most units in one chunk.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    fn config(&self) -> ChunkConfig<Sizer> {
        ChunkConfig::new(self.capacity)
            .with_overlap(self.overlap)
            // Checked in `new`: the overlap is below the capacity.
            .unwrap_or_else(|_| ChunkConfig::new(self.capacity))
            .with_sizer(self.sizer.clone())
    }

    /// Plain text cut at the largest boundary that fits (blank lines, lines, sentences,
    /// words): `(byte offset, chunk)` pairs, chunks trimmed.
    pub(crate) fn text<'a>(&self, text: &'a str) -> Vec<(usize, &'a str)> {
        TextSplitter::new(self.config()).chunk_indices(text).collect()
    }

    /// Markdown cut at the largest semantic boundary that fits (headings by level, blocks,
    /// then as text).
    pub(crate) fn markdown<'a>(&self, text: &'a str) -> Vec<(usize, &'a str)> {
        MarkdownSplitter::new(self.config())
            .chunk_indices(text)
            .collect()
    }
}

/// One chunk of a document before it becomes a row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Piece {
    /// The chunk's text.
    pub text: String,
    /// The heading path (or page) the chunk sits under, joined into the row's `name`.
    pub section: Vec<String>,
    /// Chunk-level metadata (`headings`, `page`, `lines`).
    pub meta: serde_json::Map<String, serde_json::Value>,
}

impl Piece {
    /// A chunk with no section and no metadata of its own.
    pub(crate) fn plain(text: &str) -> Self {
        Piece {
            text: text.to_string(),
            section: Vec::new(),
            meta: serde_json::Map::new(),
        }
    }
}
