//! Each format is cut where it should be and each chunk says where it came from: Markdown at
//! headings with the heading path and front matter, HTML's readable text only with its title,
//! PDF page by page, code in whole lines, invalid UTF-8 decoded with a warning.

use remdb::ingest::{Document, IngestOptions};
use serde_json::{json, Value};

use crate::fixture::{pdf, REPORT_PAGES};
use crate::{both, rows, tenant};

const GUIDE: &str = include_str!("../fixtures/ingest/guide.md");
const PAGE: &str = include_str!("../fixtures/ingest/page.html");
const WIDGETS: &str = include_str!("../fixtures/ingest/src/widgets.rs");

/// Small chunks (20 tokens, 80 characters without a tokenizer) so every section is cut.
fn small() -> IngestOptions {
    IngestOptions {
        chunk_tokens: 20,
        overlap: 0,
        ..IngestOptions::default()
    }
}

fn chunk_with<'a>(chunks: &'a [Value], text: &str) -> &'a Value {
    chunks
        .iter()
        .find(|c| c["content"].as_str().unwrap().contains(text))
        .unwrap_or_else(|| panic!("no chunk holds {text:?}: {chunks:#?}"))
}

both! {
    fn markdown_chunks_follow_headings_and_keep_their_path() {
        let t = tenant();
        let report = t.ingest(Document::new("guide.md", GUIDE), &small()).unwrap();
        let chunks = rows(&t, "resources");
        assert_eq!(report.chunks, chunks.len());
        assert_eq!(report.written, chunks.len());
        for (i, c) in chunks.iter().enumerate() {
            assert_eq!(c["ordinal"], json!(i));
            assert_eq!(c["uri"], "guide.md");
            assert_eq!(c["category"], "markdown");
            assert!(c["content"].as_str().unwrap().chars().count() <= 80, "{c}");
            let meta = &c["metadata"];
            assert_eq!(meta["chunks"], json!(chunks.len()));
            assert_eq!(meta["chunker"], "chars:80/0");
            assert_eq!(meta["mime_type"], "text/markdown");
            assert_eq!(meta["size"], json!(GUIDE.len()));
            assert_eq!(meta["sha256"].as_str().unwrap().len(), 64);
            assert_eq!(
                meta["front_matter"],
                json!({"title": "Field Guide", "author": "Ada", "tags": ["birds", "night"], "version": 2})
            );
            assert!(!c["content"].as_str().unwrap().contains("title: Field Guide"), "front matter is not content");
        }
        let owl = chunk_with(&chunks, "zephyrquill");
        assert_eq!(owl["name"], "Field Guide › Owls");
        assert_eq!(owl["metadata"]["heading_path"], json!(["Field Guide", "Owls"]));
        let barn = chunk_with(&chunks, "Barn owls nest");
        assert_eq!(barn["name"], "Field Guide › Owls › Barn owls");
        let nightjar = chunk_with(&chunks, "vanish against");
        assert_eq!(nightjar["metadata"]["heading_path"], json!(["Field Guide", "Nightjars"]));
        // A heading starts its chunk: no chunk ends with one.
        for c in &chunks {
            let last = c["content"].as_str().unwrap().lines().last().unwrap();
            assert!(!last.starts_with("## "), "a chunk ends in a heading: {c}");
        }
        // `#` inside a fenced code block is not a heading.
        let fenced = chunk_with(&chunks, "not a heading");
        assert_eq!(fenced["metadata"]["heading_path"], json!(["Field Guide", "Nightjars"]));
    }

    fn html_keeps_only_readable_text_and_its_title() {
        let t = tenant();
        t.ingest(Document::new("page.html", PAGE), &small()).unwrap();
        let chunks = rows(&t, "resources");
        let all: String = chunks.iter().map(|c| c["content"].as_str().unwrap()).collect::<Vec<_>>().join("\n");
        for hidden in ["navsecret", "scriptsecret", "footersecret", "color: red", "<p>"] {
            assert!(!all.contains(hidden), "{hidden} leaked into {all}");
        }
        let fish = chunk_with(&chunks, "lanternfish glows");
        assert!(fish["name"].as_str().unwrap().starts_with("Lantern & Fish"), "{fish}");
        assert_eq!(fish["metadata"]["title"], "Lantern & Fish");
        assert_eq!(fish["category"], "html");
        let ocean = chunk_with(&chunks, "Open ocean");
        assert_eq!(ocean["metadata"]["heading_path"], json!(["Deep sea lights", "Where they live"]));
        assert!(all.contains("200–1000 m"), "entities are decoded: {all}");
    }

    fn pdf_pages_become_chunks_with_their_page_numbers() {
        let t = tenant();
        let bytes = pdf(&REPORT_PAGES, "Station Report");
        let report = t.ingest(Document::new("report.pdf", bytes), &IngestOptions::default()).unwrap();
        assert!(report.rejected.is_empty() && report.warnings.is_empty(), "{report:?}");
        let chunks = rows(&t, "resources");
        assert_eq!(chunks.len(), 2, "{chunks:#?}");
        for (i, c) in chunks.iter().enumerate() {
            assert_eq!(c["metadata"]["page"], json!(i + 1));
            assert_eq!(c["metadata"]["pages"], json!(2));
            assert_eq!(c["category"], "pdf");
            assert_eq!(c["name"], format!("Station Report › page {}", i + 1));
            let words: Vec<&str> = REPORT_PAGES[i].split(' ').collect();
            let content = c["content"].as_str().unwrap();
            assert!(words.iter().all(|w| content.contains(w)), "page {}: {content}", i + 1);
        }
    }

    fn code_is_cut_in_whole_lines_before_definitions() {
        let t = tenant();
        let options = IngestOptions { chunk_tokens: 30, overlap: 0, ..IngestOptions::default() };
        t.ingest(Document::new("src/widgets.rs", WIDGETS), &options).unwrap();
        let chunks = rows(&t, "resources");
        assert!(chunks.len() > 1);
        let source_lines: Vec<&str> = WIDGETS.lines().collect();
        let mut next = 0;
        for c in &chunks {
            assert_eq!(c["category"], "code");
            assert_eq!(c["metadata"]["language"], "rust");
            let [from, to] = [&c["metadata"]["lines"][0], &c["metadata"]["lines"][1]].map(|v| v.as_u64().unwrap() as usize);
            // The chunk is exactly the source's lines `from..=to`, blank lines at its end trimmed.
            let expected = source_lines[from - 1..to].join("\n");
            assert_eq!(c["content"].as_str().unwrap(), expected.trim_end());
            assert_eq!(from, next + 1, "chunks are contiguous");
            next = to;
        }
        assert_eq!(next, source_lines.len());
        // Definitions start chunks: `frobnicate_widgets` begins with its doc comment.
        let frob = chunk_with(&chunks, "pub fn frobnicate_widgets");
        assert!(frob["content"].as_str().unwrap().starts_with("/// Frobnicates"), "{frob}");
    }

    fn invalid_utf8_is_decoded_lossily_and_reported() {
        let t = tenant();
        let bytes = b"Caf\xe9 menu: bouillabaisse du jour.\n".to_vec();
        let report = t.ingest(Document::new("latin1.txt", bytes), &IngestOptions::default()).unwrap();
        assert_eq!(report.written, 1);
        assert_eq!(report.warnings.len(), 1);
        assert_eq!(report.warnings[0].uri, "latin1.txt");
        assert!(report.warnings[0].message.contains("invalid UTF-8"), "{report:?}");
        let chunks = rows(&t, "resources");
        assert_eq!(chunks[0]["content"], "Caf\u{FFFD} menu: bouillabaisse du jour.");
        assert_eq!(chunks[0]["category"], "text");
    }

    fn binary_and_unknown_files_are_skipped_and_named() {
        let t = tenant();
        let mut run = t.ingest_run(&IngestOptions::default()).unwrap();
        run.add(Document::new("logo.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec())).unwrap();
        run.add(Document::new("model.xyz", "some text")).unwrap();
        run.add(Document::new("fake.pdf", "not a pdf")).unwrap();
        run.add(Document::new("empty.md", "  \n")).unwrap();
        let report = run.finish().unwrap();
        let skipped: Vec<(&str, &str)> = report.skipped.iter().map(|s| (s.uri.as_str(), s.reason.as_str())).collect();
        assert_eq!(
            skipped,
            [
                ("logo.png", "binary file"),
                ("model.xyz", "unknown file type (.xyz)"),
                ("fake.pdf", "not a PDF (no %PDF- header)"),
                ("empty.md", "no text"),
            ]
        );
        assert_eq!((report.documents, report.written), (4, 0));
        assert_eq!(t.count("resources", true).unwrap(), 0);
    }

    fn a_given_mime_type_wins_over_the_extension() {
        let t = tenant();
        let doc = Document::new("upload", "# Heading\n\nbody text").with_mime_type("text/markdown");
        t.ingest(doc, &IngestOptions::default()).unwrap();
        let chunks = rows(&t, "resources");
        assert_eq!(chunks[0]["category"], "markdown");
        assert_eq!(chunks[0]["name"], "Heading");
    }
}
