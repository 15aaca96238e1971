//! Source code: chunks of whole lines, cut where code is cut by its authors — before a
//! definition after a blank line, else at a blank line, else between lines.

use serde_json::Value;

use super::chunk::{Chunker, Piece};

/// How good a place to cut before `line` is (0: never by choice, the line belongs to `prev`).
fn boundary(prev: &str, line: &str) -> u8 {
    let prev_blank = prev.trim().is_empty();
    // A doc comment, comment or attribute belongs to what follows it.
    let attached = ["///", "//", "#", "@", "/*", "*", "--"];
    if !prev_blank && attached.iter().any(|a| prev.trim_start().starts_with(a)) {
        return 0;
    }
    let definition = starts_definition(line);
    match (prev_blank, definition) {
        (true, true) => 3,
        (true, false) | (false, true) => 2,
        _ => 1,
    }
}

/// Whether `line` starts a top-level (unindented) definition in a common language.
fn starts_definition(line: &str) -> bool {
    const STARTS: &[&str] = &[
        "fn ",
        "pub ",
        "impl",
        "struct ",
        "enum ",
        "trait ",
        "mod ",
        "def ",
        "class ",
        "async ",
        "function ",
        "export ",
        "const ",
        "let ",
        "var ",
        "type ",
        "interface ",
        "func ",
        "package ",
        "public ",
        "private ",
        "protected ",
        "static ",
        "module ",
        "#[",
        "@",
        "/**",
        "///",
    ];
    !line.starts_with([' ', '\t']) && STARTS.iter().any(|s| line.starts_with(s))
}

/// Cuts `text` into chunks of whole lines of at most the chunker's capacity (a single longer
/// line is a chunk of its own), with the 1-based line range of each in metadata (`lines`).
pub(crate) fn parse(text: &str, chunker: &Chunker) -> Vec<Piece> {
    let capacity = chunker.capacity();
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let sizes: Vec<usize> = lines.iter().map(|l| chunker.size(l)).collect();
    let mut pieces = Vec::new();
    let mut start = 0;
    while start < lines.len() {
        // Take lines while they fit, remembering the best cut seen past a third of the chunk.
        let mut size = 0;
        let mut end = start;
        let mut best: Option<(u8, usize)> = None;
        while end < lines.len() && (end == start || size + sizes[end] <= capacity) {
            if end > start && size * 3 >= capacity {
                let score = boundary(lines[end - 1], lines[end]);
                if best.is_none_or(|(s, _)| score >= s) {
                    best = Some((score, end));
                }
            }
            size += sizes[end];
            end += 1;
        }
        if end < lines.len() {
            if let Some((score, at)) = best {
                if score > 1 {
                    end = at;
                }
            }
        }
        let chunk: String = lines[start..end].concat();
        let trimmed = chunk.trim_end();
        if !trimmed.trim().is_empty() {
            let mut piece = Piece::plain(trimmed);
            piece.meta.insert(
                "lines".into(),
                Value::Array(vec![Value::from(start + 1), Value::from(end)]),
            );
            pieces.push(piece);
        }
        start = end;
    }
    pieces
}
