//! Document ingestion: files become searchable rows.
//!
//! What this module offers:
//!
//! - [`Document`]: one file's bytes with its URI (and, for files read from disk, its path,
//!   modification time and the root it was found under).
//! - [`Tenant::ingest`](crate::Tenant::ingest) (one document) and
//!   [`Tenant::ingest_run`](crate::Tenant::ingest_run) → [`IngestRun`] (many documents, written in
//!   batches across documents, then [`IngestRun::prune`] and [`IngestRun::finish`]).
//! - [`walk`]: the folder walker of `rem ingest` (`.gitignore`, hidden files, include/exclude
//!   globs). It reads the file system, so it only finds files natively; everything else runs
//!   the same natively and in wasm.
//!
//! Formats ([`Kind`]): plain text, Markdown (chunks cut at headings first, the heading path and
//! front matter in each chunk's metadata), HTML (readable text: no script, style, nav, header,
//! footer; the title kept), PDF (text per page, page numbers in metadata), source code (cut at
//! blank lines and definitions, never inside a line), and CSV, JSON and JSON Lines, whose
//! records become rows of the target table (validated like any insert, one atomic batch per
//! file). Unknown and binary files are skipped and named; invalid UTF-8 is decoded lossily and
//! reported as a warning.
//!
//! Each chunk of a document is one row of the target table (`resources` by default): `name`
//! (title › section), `uri`, `ordinal` (0..n-1), `content`, `category` (the document kind) and
//! `metadata` (source path, MIME type, size, mtime, sha256, chunk count, chunker, headings or
//! pages). A row's id derives from `uri` + `ordinal`, so ingesting a document again upserts its
//! chunks: a document whose sha256, chunker and root match what is stored writes nothing (not
//! even a WAL entry); a changed one rewrites its own chunks and soft-deletes its surplus
//! ordinals. Rows go through the normal write path, so their text is embedded (inline or
//! queued) and full-text indexed as any insert is.
//!
//! Bounds: a document larger than [`IngestOptions::max_bytes`] is a `LIMIT` error; a document
//! may have at most [`MAX_CHUNKS`] chunks, a PDF [`MAX_PAGES`] pages and a data file
//! [`MAX_ROWS`] rows; JSON nesting is bounded by the store's row depth limit. Bad input is a
//! typed [`Error`](crate::Error) for that document; nothing of it is written.

mod chunk;
mod code;
mod detect;
mod html;
mod markdown;
#[cfg(feature = "pdf")]
mod pdf;
mod rows;
mod run;
pub mod walk;

use serde::Serialize;

pub use detect::Kind;
pub use run::IngestRun;

/// Most chunks one document may be cut into (a larger one is a `LIMIT` error: raise the chunk
/// size or split the file).
pub const MAX_CHUNKS: usize = 20_000;

/// Most pages read from one PDF.
pub const MAX_PAGES: usize = 10_000;

/// Most rows one CSV, JSON or JSON Lines file may hold (one atomic batch).
pub const MAX_ROWS: usize = 200_000;

/// Default largest document, in bytes (64 MiB).
pub const DEFAULT_MAX_BYTES: usize = 64 << 20;

/// Default chunk size, in tokens of the embedding model (all-MiniLM-L6-v2 reads 256 at most).
pub const DEFAULT_CHUNK_TOKENS: usize = 200;

/// Default overlap between consecutive chunks, in tokens.
pub const DEFAULT_OVERLAP: usize = 20;

/// Characters per token when no tokenizer is loaded: chunks are sized in characters then.
pub const CHARS_PER_TOKEN: usize = 4;

/// One document to ingest: its bytes and where they came from.
#[derive(Debug, Clone, Default)]
pub struct Document {
    /// The document's URI: stored in each chunk's `uri` (with `ordinal`, its identity).
    pub uri: String,
    /// The raw bytes (any encoding; invalid UTF-8 is decoded lossily).
    pub bytes: Vec<u8>,
    /// The MIME type when known (`text/markdown`, `application/pdf`, ...); otherwise the kind
    /// is read from the URI's extension and the bytes.
    pub mime_type: Option<String>,
    /// Last modification time (RFC 3339), kept in metadata.
    pub mtime: Option<String>,
    /// The path it was read from, kept in metadata as `source`.
    pub source: Option<String>,
    /// The ingested root it was found under ([`IngestRun::prune`] works per root).
    pub root: Option<String>,
}

impl Document {
    /// A document from bytes.
    pub fn new(uri: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Self {
        Document {
            uri: uri.into(),
            bytes: bytes.into(),
            ..Document::default()
        }
    }

    /// The same document with its MIME type given.
    pub fn with_mime_type(mut self, mime_type: impl Into<String>) -> Self {
        self.mime_type = Some(mime_type.into());
        self
    }
}

/// How documents are ingested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestOptions {
    /// The target table: chunks of documents go there (`resources` when `None`), and so do the
    /// rows of CSV, JSON and JSON Lines files (which need a table to be named: without one they
    /// are skipped).
    pub table: Option<String>,
    /// Chunk size in tokens of the table's embedding model when its tokenizer runs here,
    /// else in units of [`CHARS_PER_TOKEN`] characters.
    pub chunk_tokens: usize,
    /// Overlap between consecutive chunks, same unit (less than `chunk_tokens`).
    pub overlap: usize,
    /// Report what would be written, write nothing.
    pub dry_run: bool,
    /// Largest document accepted, in bytes.
    pub max_bytes: usize,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            table: None,
            chunk_tokens: DEFAULT_CHUNK_TOKENS,
            overlap: DEFAULT_OVERLAP,
            dry_run: false,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

impl IngestOptions {
    /// The table chunks go to.
    pub fn chunk_table(&self) -> &str {
        self.table.as_deref().unwrap_or("resources")
    }
}

/// A document that was not ingested, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The document's URI.
    pub uri: String,
    /// Why: binary, unknown type, empty, a data file without a table.
    pub reason: String,
}

/// A document whose content was refused; nothing of it was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejected {
    /// The document's URI.
    pub uri: String,
    /// The error's stable code (`VALIDATION`, `LIMIT`, `INVALID_ARGUMENT`, ...).
    pub code: String,
    /// The error, naming the row for data files.
    pub message: String,
}

/// Something worth knowing about a document that was ingested anyway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// The document's URI.
    pub uri: String,
    /// What happened (e.g. invalid UTF-8 decoded lossily).
    pub message: String,
}

/// What an ingestion did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IngestReport {
    /// Documents looked at.
    pub documents: usize,
    /// Documents whose chunks (or rows) were written.
    pub ingested: usize,
    /// Chunks the ingested and unchanged documents consist of (data files: their rows).
    pub chunks: usize,
    /// Rows written (new or changed); with `dry_run`, rows that would be.
    pub written: usize,
    /// Documents that were already stored as they are: nothing written for them.
    pub unchanged: usize,
    /// Rows soft-deleted: surplus chunks of documents that shrank, and pruned documents'.
    pub deleted: usize,
    /// Documents skipped, with the reason.
    pub skipped: Vec<Skipped>,
    /// Documents refused, with the error.
    pub rejected: Vec<Rejected>,
    /// Warnings about ingested documents (lossy decoding, ...).
    pub warnings: Vec<Warning>,
    /// Bytes of the documents looked at.
    pub bytes: u64,
    /// Whether nothing was written because of `dry_run`.
    pub dry_run: bool,
    /// The id of the `moments` row recording the run, when one was written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moment: Option<String>,
}
