//! PDF: the text of each page (lopdf, pure Rust), chunked page by page so every chunk has its
//! page number.

use serde_json::Value;

use super::chunk::{Chunker, Piece};
use super::MAX_PAGES;
use crate::error::{Error, Result};

/// Most bytes one page's content streams may inflate to.
const MAX_PAGE_CONTENT: usize = 32 << 20;

/// A PDF's chunks (each with `page`), its page count and warnings for pages without text.
pub(crate) struct Parsed {
    pub pieces: Vec<Piece>,
    pub pages: usize,
    pub title: Option<String>,
    pub warnings: Vec<String>,
}

/// Reads the text of every page of `bytes` and cuts it into chunks.
pub(crate) fn parse(bytes: &[u8], chunker: &Chunker) -> Result<Parsed> {
    let doc = lopdf::Document::load_mem(bytes)
        .map_err(|e| Error::InvalidArgument(format!("not a readable PDF: {e}")))?;
    let pages = doc.get_pages();
    if pages.len() > MAX_PAGES {
        return Err(Error::Limit(format!(
            "the PDF has {} pages; at most {MAX_PAGES} are read",
            pages.len()
        )));
    }
    let mut pieces = Vec::new();
    let mut warnings = Vec::new();
    let mut empty = Vec::new();
    for &number in pages.keys() {
        let text = match doc.extract_text_with_limit(&[number], MAX_PAGE_CONTENT) {
            Ok(text) => text,
            Err(e) => {
                warnings.push(format!("page {number}: no text extracted ({e})"));
                continue;
            }
        };
        if text.trim().is_empty() {
            empty.push(number);
            continue;
        }
        for (_, chunk) in chunker.text(&text) {
            let mut piece = Piece::plain(chunk);
            piece.section = vec![format!("page {number}")];
            piece.meta.insert("page".into(), Value::from(number));
            pieces.push(piece);
        }
    }
    if !empty.is_empty() && pieces.is_empty() {
        warnings.push("no page has text (a scanned PDF needs OCR first)".into());
    }
    Ok(Parsed {
        pieces,
        pages: pages.len(),
        title: title(&doc),
        warnings,
    })
}

/// The document information dictionary's `Title`, when it is plain text.
fn title(doc: &lopdf::Document) -> Option<String> {
    let info = doc.trailer.get(b"Info").ok()?;
    let info = match info {
        lopdf::Object::Reference(id) => doc.get_object(*id).ok()?,
        other => other,
    };
    let title = info.as_dict().ok()?.get(b"Title").ok()?;
    let bytes = title.as_str().ok()?;
    let text = if bytes.starts_with(&[0xFE, 0xFF]) {
        let units: Vec<u16> = bytes[2..]
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    } else {
        String::from_utf8_lossy(bytes).into_owned()
    };
    let text = text.trim().to_string();
    (!text.is_empty()).then_some(text)
}
