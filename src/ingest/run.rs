//! An ingestion run: documents in, rows written in batches across documents, a report out.

use std::collections::HashSet;

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::chunk::{Chunker, Piece};
use super::detect::{self, file_name, Kind};
#[cfg(feature = "pdf")]
use super::pdf;
use super::{
    html, markdown, rows, Document, IngestOptions, IngestReport, Rejected, Skipped, Warning,
    MAX_CHUNKS,
};
use crate::error::{Error, Result};
use crate::store::vectors::EmbedMode;
use crate::store::{TenantStore, BUILTIN_TABLES};

/// Why a PDF is skipped by a build without the `pdf` feature.
const NO_PDF: &str = "PDF text extraction is not in this build (cargo feature `pdf`; the npm \
                      package's core build leaves it out: import `remdb/full` to ingest PDFs)";

/// Rows gathered from documents before they are written in one batch.
const BATCH_ROWS: usize = 512;

/// Bytes of content gathered before a batch is written.
const BATCH_BYTES: usize = 8 << 20;

/// A document's chunks waiting for the next batch.
struct Pending {
    uri: String,
    rows: Vec<Value>,
    deletes: Vec<Uuid>,
}

/// Many documents ingested into one tenant (see [`Tenant::ingest_run`](crate::Tenant::ingest_run)):
/// [`add`](Self::add) each, optionally [`prune`](Self::prune), then [`finish`](Self::finish).
/// Chunks are written in batches of about 512 rows across documents; a document's rows never
/// straddle two batches, so each document is written whole or not at all.
pub struct IngestRun {
    store: TenantStore,
    options: IngestOptions,
    chunker: Chunker,
    /// The key field of the chunk table, when it has one: documents cannot be chunked into it.
    chunk_key: Option<String>,
    report: IngestReport,
    pending: Vec<Pending>,
    pending_rows: usize,
    pending_bytes: usize,
    started: String,
    roots: Vec<String>,
}

impl std::fmt::Debug for IngestRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestRun")
            .field("options", &self.options)
            .field("report", &self.report)
            .finish()
    }
}

/// Now, as the store writes timestamps.
fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Whether an error is about the input (the document is rejected) rather than the database.
fn is_input_error(e: &Error) -> bool {
    matches!(
        e,
        Error::Validation { .. }
            | Error::InvalidArgument(_)
            | Error::Limit(_)
            | Error::UnknownTable { .. }
    )
}

/// The first position of a batch error's pointer (`/3/price` → 3), as `insert_many` names it.
fn error_row(e: &Error) -> Option<usize> {
    let Error::Validation { issues, .. } = e else {
        return None;
    };
    issues
        .first()?
        .pointer
        .trim_start_matches('/')
        .split('/')
        .next()?
        .parse()
        .ok()
}

impl IngestRun {
    pub(crate) fn new(store: TenantStore, options: IngestOptions) -> Result<Self> {
        let table = options.chunk_table().to_string();
        let mut schema = store.compiled_schema(&table);
        if matches!(schema, Err(Error::UnknownTable { .. }))
            && BUILTIN_TABLES.contains(&table.as_str())
            && !options.dry_run
        {
            store.init()?;
            schema = store.compiled_schema(&table);
        }
        let schema = match schema {
            Ok(schema) => Some(schema),
            // A dry run over a tenant without its built-in tables yet: nothing is written.
            Err(Error::UnknownTable { .. }) if options.dry_run => None,
            Err(e) => return Err(e),
        };
        let chunk_key = schema.as_ref().and_then(|s| s.info.key_field.clone());
        let settings = store.embed_settings();
        let counter = match (&settings.source, &schema) {
            (Some(source), Some(schema)) if settings.mode != EmbedMode::Off => settings
                .providers(&schema.info)
                .first()
                .and_then(|p| source.token_counter(p)),
            _ => None,
        };
        let chunker = Chunker::new(&options, counter)?;
        Ok(IngestRun {
            store,
            report: IngestReport {
                dry_run: options.dry_run,
                ..IngestReport::default()
            },
            options,
            chunker,
            chunk_key,
            pending: Vec::new(),
            pending_rows: 0,
            pending_bytes: 0,
            started: now(),
            roots: Vec::new(),
        })
    }

    /// What the run has done so far.
    pub fn report(&self) -> &IngestReport {
        &self.report
    }

    /// How chunks are cut (`tokens:200/20`, `chars:800/80`), as kept in each chunk's metadata.
    pub fn chunker(&self) -> String {
        self.chunker.signature()
    }

    /// Records a document the caller could not read (it counts as looked at and skipped).
    pub fn skip_unreadable(&mut self, uri: &str, reason: impl Into<String>) {
        self.report.documents += 1;
        self.skip(uri, reason);
    }

    fn skip(&mut self, uri: &str, reason: impl Into<String>) {
        self.report.skipped.push(Skipped {
            uri: uri.to_string(),
            reason: reason.into(),
        });
    }

    fn reject(&mut self, uri: &str, e: &Error) {
        self.report.rejected.push(Rejected {
            uri: uri.to_string(),
            code: e.code().to_string(),
            message: e.to_string(),
        });
    }

    fn warn(&mut self, uri: &str, message: impl Into<String>) {
        self.report.warnings.push(Warning {
            uri: uri.to_string(),
            message: message.into(),
        });
    }

    /// Ingests one document: skipped (unknown or binary, with the reason), rejected (bad
    /// content, with the error), unchanged (writes nothing), or chunked and queued for the next
    /// batch. `Err` only for what stops the whole run (the database failing).
    pub fn add(&mut self, doc: Document) -> Result<()> {
        if let Some(root) = &doc.root {
            if !self.roots.contains(root) {
                self.roots.push(root.clone());
            }
        }
        self.report.documents += 1;
        self.report.bytes += doc.bytes.len() as u64;
        if doc.uri.is_empty() {
            self.reject("", &Error::InvalidArgument("a document needs a uri".into()));
            return Ok(());
        }
        if doc.bytes.len() > self.options.max_bytes {
            let e = Error::Limit(format!(
                "the document is larger than the limit of {} bytes",
                self.options.max_bytes
            ));
            self.reject(&doc.uri, &e);
            return Ok(());
        }
        let (kind, language) = match detect::detect(&doc.uri, doc.mime_type.as_deref(), &doc.bytes)
        {
            Ok(found) => found,
            Err(reason) => {
                self.skip(&doc.uri, reason);
                return Ok(());
            }
        };
        if kind == Kind::Pdf && !cfg!(feature = "pdf") {
            self.skip(&doc.uri, NO_PDF);
            return Ok(());
        }
        if kind.is_data() {
            return self.add_rows(doc, kind);
        }
        match self.chunk(&doc, kind, language) {
            Ok(()) => Ok(()),
            Err(e) if is_input_error(&e) => {
                self.reject(&doc.uri, &e);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// The document's text: UTF-8 (a byte-order mark dropped), else decoded lossily with a warning.
    fn decode(&mut self, doc: &Document) -> String {
        let bytes = doc
            .bytes
            .strip_prefix(b"\xEF\xBB\xBF")
            .unwrap_or(&doc.bytes);
        match std::str::from_utf8(bytes) {
            Ok(text) => text.to_string(),
            Err(_) => {
                let text = String::from_utf8_lossy(bytes).into_owned();
                let replaced = text.matches('\u{FFFD}').count();
                self.warn(
                    &doc.uri,
                    format!("invalid UTF-8: decoded lossily ({replaced} characters replaced)"),
                );
                text
            }
        }
    }

    fn chunk(&mut self, doc: &Document, kind: Kind, language: Option<&str>) -> Result<()> {
        let table = self.options.chunk_table().to_string();
        if let Some(key) = &self.chunk_key {
            return Err(Error::InvalidArgument(format!(
                "table `{table}` has the key field `{key}`; chunks are identified by uri and \
                 ordinal, so documents go to a table without one (such as resources)"
            )));
        }
        let sha = hex(&Sha256::digest(&doc.bytes));
        let signature = self.chunker.signature();
        // What is stored for this uri: unchanged documents stop here.
        let first = self.store.natural_key_id(&table, &doc.uri)?;
        let stored = self
            .store
            .get_with(&first.to_string(), false)
            .or_else(|e| match e {
                Error::UnknownTable { .. } => Ok(None),
                e => Err(e),
            })?;
        let stored_meta = stored
            .as_ref()
            .and_then(|row| row.get("metadata"))
            .and_then(Value::as_object);
        let old_chunks = stored_meta
            .and_then(|m| m.get("chunks"))
            .and_then(Value::as_u64)
            .unwrap_or(0) as usize;
        if let Some(meta) = stored_meta {
            let same = |k: &str, v: Option<&str>| meta.get(k).and_then(Value::as_str) == v;
            if same("sha256", Some(&sha))
                && same("chunker", Some(&signature))
                && same("root", doc.root.as_deref())
            {
                self.report.unchanged += 1;
                self.report.chunks += old_chunks;
                return Ok(());
            }
        }

        let mut doc_meta = Map::new();
        let mut title: Option<String> = None;
        let pieces: Vec<Piece> = match kind {
            #[cfg(feature = "pdf")]
            Kind::Pdf => {
                let parsed = pdf::parse(&doc.bytes, &self.chunker)?;
                for w in parsed.warnings {
                    self.warn(&doc.uri, w);
                }
                doc_meta.insert("pages".into(), Value::from(parsed.pages));
                title = parsed.title;
                parsed.pieces
            }
            #[cfg(not(feature = "pdf"))]
            Kind::Pdf => return Err(Error::InvalidArgument(NO_PDF.into())),
            Kind::Markdown | Kind::Html => {
                let text = self.decode(doc);
                let (text, html_title) = if kind == Kind::Html {
                    html::extract(&text)
                } else {
                    (text, None)
                };
                let parsed = markdown::parse(&text, &self.chunker);
                if !parsed.front_matter.is_empty() {
                    doc_meta.insert("front_matter".into(), Value::Object(parsed.front_matter));
                }
                title = html_title.or(parsed.title);
                parsed.pieces
            }
            Kind::Code => {
                let text = self.decode(doc);
                if let Some(language) = language {
                    doc_meta.insert("language".into(), Value::from(language));
                }
                super::code::parse(&text, &self.chunker)
            }
            _ => {
                let text = self.decode(doc);
                self.chunker
                    .text(&text)
                    .into_iter()
                    .map(|(_, chunk)| Piece::plain(chunk))
                    .collect()
            }
        };
        if pieces.len() > MAX_CHUNKS {
            return Err(Error::Limit(format!(
                "{} chunks is over the limit of {MAX_CHUNKS} per document (raise the chunk size)",
                pieces.len()
            )));
        }
        let deletes = (pieces.len()..old_chunks.min(MAX_CHUNKS))
            .map(|o| {
                self.store
                    .natural_key_id(&table, &format!("{}#{o}", doc.uri))
            })
            .collect::<Result<Vec<_>>>()?;
        let deletes = if pieces.is_empty() {
            // The document has no text (any more): its old chunks go, chunk 0 too.
            std::iter::once(first).chain(deletes).collect()
        } else {
            deletes
        };
        if pieces.is_empty() {
            self.skip(&doc.uri, "no text");
            if !deletes.is_empty() && stored.is_some() {
                self.queue(doc.uri.clone(), Vec::new(), deletes)?;
            }
            return Ok(());
        }
        let title = title.unwrap_or_else(|| file_name(&doc.uri).to_string());
        let n = pieces.len();
        let mut base = Map::new();
        base.insert("kind".into(), Value::from(kind.name()));
        base.insert(
            "mime_type".into(),
            Value::from(
                doc.mime_type
                    .clone()
                    .unwrap_or_else(|| kind.mime_type().into()),
            ),
        );
        base.insert("size".into(), Value::from(doc.bytes.len()));
        base.insert("sha256".into(), Value::from(sha));
        base.insert("chunks".into(), Value::from(n));
        base.insert("chunker".into(), Value::from(signature));
        base.insert("title".into(), Value::from(title.clone()));
        if let Some(source) = &doc.source {
            base.insert("source".into(), Value::from(source.clone()));
        }
        if let Some(mtime) = &doc.mtime {
            base.insert("mtime".into(), Value::from(mtime.clone()));
        }
        if let Some(root) = &doc.root {
            base.insert("root".into(), Value::from(root.clone()));
        }
        base.extend(doc_meta);
        let rows: Vec<Value> = pieces
            .into_iter()
            .enumerate()
            .map(|(ordinal, piece)| {
                let mut name = title.clone();
                for part in &piece.section {
                    name.push_str(" › ");
                    name.push_str(part);
                }
                let mut meta = base.clone();
                meta.extend(piece.meta);
                json!({
                    "name": name,
                    "uri": doc.uri,
                    "ordinal": ordinal,
                    "content": piece.text,
                    "category": kind.name(),
                    "metadata": meta,
                })
            })
            .collect();
        self.queue(doc.uri.clone(), rows, deletes)
    }

    /// Adds a document's rows to the next batch (dry run: counts them), writing the batch once
    /// it is full.
    fn queue(&mut self, uri: String, rows: Vec<Value>, deletes: Vec<Uuid>) -> Result<()> {
        if self.options.dry_run {
            if !rows.is_empty() {
                self.report.ingested += 1;
            }
            self.report.chunks += rows.len();
            self.report.written += rows.len();
            self.report.deleted += deletes.len();
            return Ok(());
        }
        self.pending_rows += rows.len() + deletes.len();
        self.pending_bytes += rows
            .iter()
            .map(|r| r["content"].as_str().map_or(0, str::len))
            .sum::<usize>();
        self.pending.push(Pending { uri, rows, deletes });
        if self.pending_rows >= BATCH_ROWS || self.pending_bytes >= BATCH_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the gathered documents in one batch. When the batch is refused for its content,
    /// each document is written alone, so only the bad one is rejected.
    fn flush(&mut self) -> Result<()> {
        let pending = std::mem::take(&mut self.pending);
        self.pending_rows = 0;
        self.pending_bytes = 0;
        if pending.is_empty() {
            return Ok(());
        }
        let table = self.options.chunk_table().to_string();
        let rows: Vec<Value> = pending
            .iter()
            .flat_map(|p| p.rows.iter().cloned())
            .collect();
        let deletes: Vec<Uuid> = pending
            .iter()
            .flat_map(|p| p.deletes.iter().copied())
            .collect();
        match self.store.write_rows(&table, &rows, &deletes) {
            Ok((written, deleted)) => {
                for p in &pending {
                    self.count_written(p);
                }
                self.report.written += written;
                self.report.deleted += deleted;
                Ok(())
            }
            Err(e) if is_input_error(&e) && pending.len() > 1 => {
                for p in pending {
                    match self.store.write_rows(&table, &p.rows, &p.deletes) {
                        Ok((written, deleted)) => {
                            self.count_written(&p);
                            self.report.written += written;
                            self.report.deleted += deleted;
                        }
                        Err(e) if is_input_error(&e) => self.reject(&p.uri, &e),
                        Err(e) => return Err(e),
                    }
                }
                Ok(())
            }
            Err(e) if is_input_error(&e) => {
                self.reject(&pending[0].uri, &e);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    fn count_written(&mut self, p: &Pending) {
        if !p.rows.is_empty() {
            self.report.ingested += 1;
            self.report.chunks += p.rows.len();
        }
    }

    /// A CSV, JSON or JSON Lines file: its records become rows of the named table in one atomic
    /// batch; a bad record rejects the file, naming its row.
    fn add_rows(&mut self, doc: Document, kind: Kind) -> Result<()> {
        let Some(table) = self.options.table.clone() else {
            self.skip(
                &doc.uri,
                format!(
                    "{} data file: name the table its rows go to (--table)",
                    kind.name()
                ),
            );
            return Ok(());
        };
        let schema = match self.store.compiled_schema(&table) {
            Ok(schema) => schema.info.schema.clone(),
            Err(e) if is_input_error(&e) => {
                self.reject(&doc.uri, &e);
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let text = self.decode(&doc);
        let parsed = match rows::parse(kind, &text, &schema) {
            Ok(parsed) => parsed,
            Err(e) => {
                self.reject(&doc.uri, &e);
                return Ok(());
            }
        };
        let (values, lines): (Vec<Value>, Vec<u64>) = parsed.into_iter().unzip();
        if values.is_empty() {
            self.skip(&doc.uri, "no rows");
            return Ok(());
        }
        if self.options.dry_run {
            self.report.ingested += 1;
            self.report.chunks += values.len();
            self.report.written += values.len();
            return Ok(());
        }
        match self.store.write_rows(&table, &values, &[]) {
            Ok((written, _)) => {
                self.report.chunks += values.len();
                self.report.written += written;
                if written == 0 {
                    self.report.unchanged += 1;
                } else {
                    self.report.ingested += 1;
                }
                Ok(())
            }
            Err(e) if is_input_error(&e) => {
                let e = match error_row(&e) {
                    Some(i) => {
                        let at = match lines.get(i) {
                            Some(&line) if line > 0 => format!("row {} (line {line})", i + 1),
                            _ => format!("row {}", i + 1),
                        };
                        Error::Validation {
                            table: table.clone(),
                            issues: match e {
                                Error::Validation { issues, .. } => issues
                                    .into_iter()
                                    .map(|mut issue| {
                                        issue.reason = format!("{at}: {}", issue.reason);
                                        issue
                                    })
                                    .collect(),
                                _ => Vec::new(),
                            },
                        }
                    }
                    None => e,
                };
                self.reject(&doc.uri, &e);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Soft-deletes the chunks of documents ingested before from `root` (their `metadata.root`)
    /// whose uri is not in `keep`: files that are gone (or no longer included). Returns how many
    /// rows were (with a dry run: would be) deleted.
    pub fn prune(&mut self, root: &str, keep: &HashSet<String>) -> Result<usize> {
        self.flush()?;
        let table = self.options.chunk_table().to_string();
        let mut gone = Vec::new();
        let scan = self.store.for_each_row(&table, false, |id, row| {
            let in_root = row
                .get("metadata")
                .and_then(|m| m.get("root"))
                .and_then(Value::as_str)
                == Some(root);
            let uri = row.get("uri").and_then(Value::as_str).unwrap_or("");
            if in_root && !keep.contains(uri) {
                gone.push(id);
            }
            true
        });
        match scan {
            Ok(()) => {}
            Err(Error::UnknownTable { .. }) => return Ok(0),
            Err(e) => return Err(e),
        }
        if self.options.dry_run {
            self.report.deleted += gone.len();
            return Ok(gone.len());
        }
        let mut deleted = 0;
        for ids in gone.chunks(BATCH_ROWS * 8) {
            deleted += self.store.write_rows(&table, &[], ids)?.1;
        }
        self.report.deleted += deleted;
        Ok(deleted)
    }

    /// Writes what is still gathered and records the run as a `moments` row (type `ingest`,
    /// with the counts) when it changed anything and the tenant has a `moments` table. A run
    /// that wrote nothing (every document unchanged, or a dry run) records nothing, so
    /// ingesting the same files again leaves the WAL where it was.
    pub fn finish(mut self) -> Result<IngestReport> {
        self.flush()?;
        let r = &self.report;
        if !r.dry_run
            && (r.written > 0 || r.deleted > 0)
            && self.store.compiled_schema("moments").is_ok()
        {
            let table = self.options.chunk_table();
            let content = format!(
                "Ingested {} of {} documents into {table}: {} rows written, {} unchanged \
                 documents, {} rows deleted, {} skipped, {} rejected.",
                r.ingested,
                r.documents,
                r.written,
                r.unchanged,
                r.deleted,
                r.skipped.len(),
                r.rejected.len()
            );
            let moment = json!({
                "name": "ingest",
                "moment_type": "ingest",
                "content": content,
                "starts_at": self.started,
                "ends_at": now(),
                "metadata": {
                    "table": table,
                    "documents": r.documents,
                    "ingested": r.ingested,
                    "chunks": r.chunks,
                    "written": r.written,
                    "unchanged": r.unchanged,
                    "deleted": r.deleted,
                    "skipped": r.skipped.len(),
                    "rejected": r.rejected.len(),
                    "bytes": r.bytes,
                    "roots": self.roots,
                    "chunker": self.chunker.signature(),
                },
            });
            let id = self.store.insert("moments", moment)?;
            self.report.moment = Some(id.to_string());
        }
        Ok(self.report)
    }
}

/// Lower-case hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
