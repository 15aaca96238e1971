//! Which kind of document a file is: from its MIME type, else its extension, else its bytes.

use serde::Serialize;

/// The kinds of document ingestion understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Plain text, cut at paragraphs, lines, sentences.
    Text,
    /// Markdown, cut at headings first.
    Markdown,
    /// HTML: its readable text.
    Html,
    /// PDF: the text of each page.
    Pdf,
    /// Source code, cut at blank lines and definitions.
    Code,
    /// CSV with a header line: one row per record.
    Csv,
    /// JSON: an array of objects (a row each) or one object.
    Json,
    /// JSON Lines: one object per line.
    Jsonl,
}

impl Kind {
    /// The kind's name: each chunk's `category`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Text => "text",
            Kind::Markdown => "markdown",
            Kind::Html => "html",
            Kind::Pdf => "pdf",
            Kind::Code => "code",
            Kind::Csv => "csv",
            Kind::Json => "json",
            Kind::Jsonl => "jsonl",
        }
    }

    /// Whether the kind's records become rows of a table instead of chunks.
    pub fn is_data(self) -> bool {
        matches!(self, Kind::Csv | Kind::Json | Kind::Jsonl)
    }

    /// The MIME type recorded for a document of this kind whose own type is unknown.
    pub fn mime_type(self) -> &'static str {
        match self {
            Kind::Text => "text/plain",
            Kind::Markdown => "text/markdown",
            Kind::Html => "text/html",
            Kind::Pdf => "application/pdf",
            Kind::Code => "text/x-source",
            Kind::Csv => "text/csv",
            Kind::Json => "application/json",
            Kind::Jsonl => "application/jsonl",
        }
    }
}

/// Source code extensions and the language each names (kept in metadata).
const CODE: &[(&str, &str)] = &[
    ("rs", "rust"),
    ("py", "python"),
    ("pyi", "python"),
    ("js", "javascript"),
    ("mjs", "javascript"),
    ("cjs", "javascript"),
    ("jsx", "javascript"),
    ("ts", "typescript"),
    ("tsx", "typescript"),
    ("go", "go"),
    ("java", "java"),
    ("kt", "kotlin"),
    ("scala", "scala"),
    ("c", "c"),
    ("h", "c"),
    ("cc", "cpp"),
    ("cpp", "cpp"),
    ("cxx", "cpp"),
    ("hpp", "cpp"),
    ("cs", "csharp"),
    ("rb", "ruby"),
    ("php", "php"),
    ("swift", "swift"),
    ("sh", "shell"),
    ("bash", "shell"),
    ("zsh", "shell"),
    ("sql", "sql"),
    ("lua", "lua"),
    ("pl", "perl"),
    ("r", "r"),
    ("hs", "haskell"),
    ("ml", "ocaml"),
    ("ex", "elixir"),
    ("exs", "elixir"),
    ("erl", "erlang"),
    ("clj", "clojure"),
    ("dart", "dart"),
    ("zig", "zig"),
    ("css", "css"),
    ("scss", "css"),
    ("toml", "toml"),
    ("yaml", "yaml"),
    ("yml", "yaml"),
    ("xml", "xml"),
    ("proto", "protobuf"),
];

/// Extensions of plain text.
const TEXT: &[&str] = &[
    "txt", "text", "log", "rst", "adoc", "org", "tex", "ini", "cfg", "conf",
];

/// File names without an extension that are text.
const TEXT_NAMES: &[&str] = &[
    "readme",
    "license",
    "licence",
    "copying",
    "authors",
    "changelog",
    "notice",
    "makefile",
    "dockerfile",
];

/// The lower-cased extension of a URI's last path segment.
fn extension(uri: &str) -> Option<String> {
    let name = file_name(uri);
    let (stem, ext) = name.rsplit_once('.')?;
    (!stem.is_empty()).then(|| ext.to_ascii_lowercase())
}

/// The last path segment of a URI (query and fragment dropped).
pub(crate) fn file_name(uri: &str) -> &str {
    let path = uri.split(['?', '#']).next().unwrap_or(uri);
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// The kind named by a MIME type (parameters such as `; charset=` ignored).
fn from_mime(mime: &str) -> Option<Kind> {
    let essence = mime.split(';').next()?.trim().to_ascii_lowercase();
    Some(match essence.as_str() {
        "text/markdown" | "text/x-markdown" => Kind::Markdown,
        "text/html" | "application/xhtml+xml" => Kind::Html,
        "application/pdf" => Kind::Pdf,
        "text/csv" => Kind::Csv,
        "application/json" => Kind::Json,
        "application/jsonl"
        | "application/x-ndjson"
        | "application/x-jsonlines"
        | "application/jsonlines" => Kind::Jsonl,
        "text/plain" => Kind::Text,
        "application/javascript"
        | "text/javascript"
        | "application/typescript"
        | "application/x-sh" => Kind::Code,
        m if m.starts_with("text/x-") => Kind::Code,
        _ => return None,
    })
}

/// The kind named by an extension, with the language of code.
fn from_extension(ext: &str) -> Option<(Kind, Option<&'static str>)> {
    Some(match ext {
        "md" | "markdown" | "mdx" | "mkd" => (Kind::Markdown, None),
        "html" | "htm" | "xhtml" => (Kind::Html, None),
        "pdf" => (Kind::Pdf, None),
        "csv" => (Kind::Csv, None),
        "json" => (Kind::Json, None),
        "jsonl" | "ndjson" => (Kind::Jsonl, None),
        _ if TEXT.contains(&ext) => (Kind::Text, None),
        _ => CODE
            .iter()
            .find(|(e, _)| *e == ext)
            .map(|(_, lang)| (Kind::Code, Some(*lang)))?,
    })
}

/// Whether the bytes look binary: a NUL byte, or many control characters, in the first 8 KiB.
pub(crate) fn looks_binary(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(8192)];
    if head.contains(&0) {
        return true;
    }
    let control = head
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c | 0x1b))
        .count();
    control * 10 > head.len()
}

/// What a document is: its kind and, for code, its language; `Err(reason)` when it is skipped.
pub(crate) fn detect(
    uri: &str,
    mime: Option<&str>,
    bytes: &[u8],
) -> Result<(Kind, Option<&'static str>), String> {
    let by_ext = extension(uri).as_deref().and_then(from_extension);
    let by_mime = mime.and_then(from_mime);
    if bytes.starts_with(b"%PDF-") {
        return Ok((Kind::Pdf, None));
    }
    let found = match (by_mime, by_ext) {
        // A generic `text/plain` (what browsers give unknown text) loses to a known extension.
        (Some(Kind::Text), Some(ext)) => Some(ext),
        (Some(Kind::Code), Some((Kind::Code, lang))) => Some((Kind::Code, lang)),
        (Some(kind), _) => Some((kind, None)),
        (None, ext) => ext,
    };
    if matches!(found, Some((Kind::Pdf, _))) {
        return Err("not a PDF (no %PDF- header)".into());
    }
    if looks_binary(bytes) {
        return Err("binary file".into());
    }
    match found {
        Some(found) => Ok(found),
        None => {
            let name = file_name(uri).to_ascii_lowercase();
            let stem = name.split('.').next().unwrap_or("");
            if extension(uri).is_none() || TEXT_NAMES.contains(&stem) {
                Ok((Kind::Text, None))
            } else {
                Err(match mime {
                    Some(m) => format!("unknown file type (MIME type {m})"),
                    None => format!(
                        "unknown file type (.{})",
                        extension(uri).unwrap_or_default()
                    ),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_come_from_mime_then_extension_then_bytes() {
        assert_eq!(detect("a/b.md", None, b"# x").unwrap().0, Kind::Markdown);
        assert_eq!(
            detect("x", Some("text/html; charset=utf-8"), b"<p>")
                .unwrap()
                .0,
            Kind::Html
        );
        assert_eq!(
            detect("doc.rs", Some("text/plain"), b"fn a() {}").unwrap(),
            (Kind::Code, Some("rust"))
        );
        assert_eq!(detect("noext", None, b"%PDF-1.4").unwrap().0, Kind::Pdf);
        assert_eq!(detect("README", None, b"hello").unwrap().0, Kind::Text);
        assert!(detect("a.bin", None, b"ab\0cd")
            .unwrap_err()
            .contains("binary"));
        assert!(detect("a.xyz", None, b"text").unwrap_err().contains(".xyz"));
        assert!(detect("fake.pdf", None, b"text")
            .unwrap_err()
            .contains("PDF"));
    }
}
