//! Document ingestion: one document's text or bytes into chunks (or rows) of a table.

use serde_json::Value;
use wasm_bindgen::prelude::*;

use super::convert::{from_js, invalid, js_error, to_js, to_usize};
use super::RemDb;
use crate::ingest::{Document, IngestOptions};

/// The option names `ingest` reads.
const OPTIONS: [&str; 5] = ["mimeType", "table", "chunkTokens", "overlap", "dryRun"];

#[wasm_bindgen]
impl RemDb {
    /// Ingests one document, given as `text` or as `bytes` (a PDF, or text in any encoding),
    /// under `uri`: Markdown, HTML, PDF, text and code become chunks of `options.table`
    /// (default `resources`), CSV/JSON/JSON Lines rows of `options.table`. Options:
    /// `mimeType`, `table`, `chunkTokens`, `overlap`, `dryRun`. Returns the report
    /// (`{documents, ingested, chunks, written, unchanged, deleted, skipped, rejected,
    /// warnings, bytes, dry_run, moment?}`); an unchanged document writes nothing.
    pub fn ingest(
        &self,
        uri: String,
        text: Option<String>,
        bytes: Option<Vec<u8>>,
        options: JsValue,
    ) -> Result<JsValue, JsValue> {
        let bytes = match (text, bytes) {
            (Some(text), None) => text.into_bytes(),
            (None, Some(bytes)) => bytes,
            _ => {
                return Err(invalid(
                    "ingest takes `text` or `bytes`, not both or neither".into(),
                ))
            }
        };
        let options = match options.is_undefined() || options.is_null() {
            true => Value::Object(Default::default()),
            false => from_js("ingest options", options)?,
        };
        let Value::Object(o) = options else {
            return Err(invalid("ingest options must be an object".into()));
        };
        if let Some(key) = o.keys().find(|k| !OPTIONS.contains(&k.as_str())) {
            return Err(invalid(format!(
                "unknown ingest option `{key}` (expected one of {})",
                OPTIONS.join(", ")
            )));
        }
        let string = |key: &str| -> Result<Option<String>, JsValue> {
            match o.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(invalid(format!("`{key}` must be a string"))),
            }
        };
        let number = |key: &str, default: usize| -> Result<usize, JsValue> {
            match o.get(key) {
                None | Some(Value::Null) => Ok(default),
                Some(Value::Number(n)) => to_usize(key, n.as_f64().unwrap_or(f64::NAN)),
                Some(_) => Err(invalid(format!("`{key}` must be a non-negative integer"))),
            }
        };
        let defaults = IngestOptions::default();
        let ingest_options = IngestOptions {
            table: string("table")?,
            chunk_tokens: number("chunkTokens", defaults.chunk_tokens)?,
            overlap: number("overlap", defaults.overlap)?,
            dry_run: match o.get("dryRun") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err(invalid("`dryRun` must be true or false".into())),
            },
            ..defaults
        };
        let mut document = Document::new(uri, bytes);
        document.mime_type = string("mimeType")?;
        let report = self
            .tenant
            .ingest(document, &ingest_options)
            .map_err(js_error)?;
        if report.written > 0 || report.deleted > 0 {
            self.schedule_drain();
        }
        to_js(&report)
    }
}
