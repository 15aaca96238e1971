//! Markdown: front matter into metadata, chunks cut at headings first, each chunk with the path
//! of headings it sits under.

use serde_json::{Map, Value};

use super::chunk::{Chunker, Piece};

/// Most front-matter keys kept (the rest is dropped with the block's size bounded anyway).
const MAX_FRONT_MATTER_KEYS: usize = 100;

/// One ATX heading: its byte offset, level (1-6) and text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Heading {
    pub offset: usize,
    pub level: usize,
    pub title: String,
}

/// A Markdown document cut into chunks.
pub(crate) struct Parsed {
    /// The front matter's `title`, else the first level-1 heading, else `None`.
    pub title: Option<String>,
    /// The front matter's keys and values (simple YAML: scalars and inline lists).
    pub front_matter: Map<String, Value>,
    /// The chunks.
    pub pieces: Vec<Piece>,
}

/// Splits a leading `---` front matter block off `text`: its keys and the offset of the body.
fn front_matter(text: &str) -> (Map<String, Value>, usize) {
    let mut map = Map::new();
    let first_line_end = match text.find('\n') {
        Some(i) => i,
        None => return (map, 0),
    };
    if text[..first_line_end].trim_end() != "---" {
        return (map, 0);
    }
    let mut offset = first_line_end + 1;
    for line in text[offset..].split_inclusive('\n') {
        let trimmed = line.trim_end();
        offset += line.len();
        if trimmed == "---" || trimmed == "..." {
            return (map, offset);
        }
        // Nested or continued values (indented lines, list items) are not read.
        if line.starts_with([' ', '\t', '-', '#']) || map.len() >= MAX_FRONT_MATTER_KEYS {
            continue;
        }
        if let Some((key, value)) = trimmed.split_once(':') {
            let key = key.trim();
            if !key.is_empty() && !key.contains(' ') {
                map.insert(key.to_string(), yaml_scalar(value.trim()));
            }
        }
    }
    // No closing line: not front matter.
    (Map::new(), 0)
}

/// A YAML scalar or inline list, as JSON (strings unquoted; numbers and booleans typed).
fn yaml_scalar(value: &str) -> Value {
    if let Some(inner) = value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
        return Value::Array(
            inner
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(yaml_scalar)
                .collect(),
        );
    }
    for quote in ['"', '\''] {
        if let Some(inner) = value
            .strip_prefix(quote)
            .and_then(|v| v.strip_suffix(quote))
        {
            return Value::String(inner.to_string());
        }
    }
    match value {
        "true" | "yes" => return Value::Bool(true),
        "false" | "no" => return Value::Bool(false),
        "" | "null" | "~" => return Value::Null,
        _ => {}
    }
    if let Ok(n) = value.parse::<i64>() {
        return n.into();
    }
    match value.parse::<f64>() {
        Ok(f) if f.is_finite() => f.into(),
        _ => Value::String(value.to_string()),
    }
}

/// The ATX headings of `text` (`# Title` ... `###### Title`), outside fenced code blocks.
pub(crate) fn headings(text: &str, base: usize) -> Vec<Heading> {
    let mut out = Vec::new();
    let mut fence: Option<(char, usize)> = None;
    let mut offset = base;
    for line in text.split_inclusive('\n') {
        let at = offset;
        offset += line.len();
        let indent = line.len() - line.trim_start_matches(' ').len();
        let body = line.trim();
        if indent <= 3 {
            let marker = body.chars().next().unwrap_or(' ');
            if marker == '`' || marker == '~' {
                let run = body.chars().take_while(|c| *c == marker).count();
                if run >= 3 {
                    match fence {
                        None => fence = Some((marker, run)),
                        Some((m, n)) if m == marker && run >= n && body.len() == run => {
                            fence = None
                        }
                        Some(_) => {}
                    }
                    continue;
                }
            }
        }
        if fence.is_some() || indent > 3 {
            continue;
        }
        let level = body.chars().take_while(|c| *c == '#').count();
        if (1..=6).contains(&level) {
            let rest = &body[level..];
            if rest.is_empty() || rest.starts_with([' ', '\t']) {
                let title = rest.trim().trim_end_matches('#').trim_end().to_string();
                if !title.is_empty() {
                    out.push(Heading {
                        offset: at + indent,
                        level,
                        title,
                    });
                }
            }
        }
    }
    out
}

/// Cuts Markdown `text` into chunks with their heading paths.
pub(crate) fn parse(text: &str, chunker: &Chunker) -> Parsed {
    let (front_matter, body_at) = front_matter(text);
    let body = &text[body_at..];
    let heads = headings(body, 0);
    let title = front_matter
        .get("title")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| heads.iter().find(|h| h.level == 1).map(|h| h.title.clone()));
    let offsets: Vec<usize> = heads.iter().map(|h| h.offset).collect();
    let pieces = chunker
        .markdown(body, &offsets)
        .into_iter()
        .map(|(at, chunk)| {
            let end = at + chunk.len();
            // The heading path in force at the chunk's first line of text (past the headings it
            // starts with).
            let mut content_at = end;
            let mut line_at = at;
            for line in chunk.split_inclusive('\n') {
                let indent = line.len() - line.trim_start().len();
                let is_heading = heads
                    .binary_search_by_key(&(line_at + indent), |h| h.offset)
                    .is_ok();
                if !line.trim().is_empty() && !is_heading {
                    content_at = line_at;
                    break;
                }
                line_at += line.len();
            }
            // Walking back from there: each heading of a lower level than the last one taken.
            let mut path: Vec<&Heading> = Vec::new();
            let mut level = 7;
            for h in heads[..heads.partition_point(|h| h.offset <= content_at)]
                .iter()
                .rev()
            {
                if h.level < level {
                    path.push(h);
                    level = h.level;
                    if level == 1 {
                        break;
                    }
                }
            }
            path.reverse();
            let first = heads.partition_point(|h| h.offset < at);
            let last = heads.partition_point(|h| h.offset < end);
            let inside: Vec<Value> = heads[first..last]
                .iter()
                .map(|h| Value::String(h.title.clone()))
                .collect();
            let mut meta = Map::new();
            let section: Vec<String> = path
                .iter()
                // The document's title heading is already the name's first part.
                .filter(|h| Some(&h.title) != title.as_ref() || h.level > 1)
                .map(|h| h.title.clone())
                .collect();
            meta.insert(
                "heading_path".into(),
                Value::Array(
                    path.iter()
                        .map(|h| Value::String(h.title.clone()))
                        .collect(),
                ),
            );
            if !inside.is_empty() {
                meta.insert("headings".into(), Value::Array(inside));
            }
            Piece {
                text: chunk.to_string(),
                section,
                meta,
            }
        })
        .collect();
    Parsed {
        title,
        front_matter,
        pieces,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn front_matter_keys_become_json() {
        let (m, at) =
            front_matter("---\ntitle: \"Hello\"\ntags: [a, b]\ndraft: false\nn: 3\n---\n# Body\n");
        assert_eq!(
            Value::Object(m),
            json!({"title": "Hello", "tags": ["a", "b"], "draft": false, "n": 3})
        );
        assert_eq!(
            at,
            "---\ntitle: \"Hello\"\ntags: [a, b]\ndraft: false\nn: 3\n---\n".len()
        );
        assert_eq!(front_matter("---\nno end\n").1, 0);
    }

    #[test]
    fn headings_skip_fenced_code() {
        let text = "# A\n```\n# not\n```\n## B ##\n    # indented code\n";
        let h = headings(text, 0);
        let titles: Vec<(usize, &str)> = h.iter().map(|h| (h.level, h.title.as_str())).collect();
        assert_eq!(titles, vec![(1, "A"), (2, "B")]);
    }
}
