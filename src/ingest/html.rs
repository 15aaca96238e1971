//! HTML's readable text: a small extractor (no DOM is built). Script, style, navigation,
//! asides, footers, forms and embedded media are dropped; headings become Markdown headings
//! (so chunks get heading paths as Markdown's do), list items `- ` lines, block elements
//! paragraph breaks; whitespace collapses outside `<pre>`; entities are decoded. The `<title>`
//! is kept apart.

/// Elements whose whole content is dropped.
const DROPPED: &[&str] = &[
    "script", "style", "noscript", "template", "svg", "nav", "aside", "footer", "iframe", "object",
    "canvas", "form", "button", "select", "math",
];

/// Elements whose content is raw text up to their end tag (no tags inside).
const RAW: &[&str] = &["script", "style", "textarea", "title"];

/// Elements that end a paragraph.
const BLOCKS: &[&str] = &[
    "p",
    "div",
    "section",
    "article",
    "main",
    "header",
    "blockquote",
    "pre",
    "table",
    "tr",
    "ul",
    "ol",
    "dl",
    "dt",
    "dd",
    "hr",
    "figure",
    "figcaption",
    "br",
    "address",
    "details",
    "summary",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "li",
    "td",
    "th",
    "body",
    "html",
];

/// Deepest element nesting tracked inside a dropped element (deeper tags are still skipped).
const MAX_DEPTH: usize = 1024;

/// The readable text of an HTML page, as Markdown-ish text, and its `<title>`.
pub(crate) fn extract(html: &str) -> (String, Option<String>) {
    let mut out = Out::default();
    let mut title: Option<String> = None;
    // The dropped element we are inside, with how many of its kind are open.
    let mut dropping: Option<(String, usize)> = None;
    let mut pre = 0usize;
    let mut rest = html;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            if dropping.is_none() {
                out.text(rest, pre > 0);
            }
            break;
        };
        if dropping.is_none() {
            out.text(&rest[..lt], pre > 0);
        }
        rest = &rest[lt..];
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |i| &after[i + 3..]);
            continue;
        }
        if rest.starts_with("<!") || rest.starts_with("<?") {
            rest = rest.find('>').map_or("", |i| &rest[i + 1..]);
            continue;
        }
        let Some(tag) = Tag::read(rest) else {
            // A lone `<`: text.
            if dropping.is_none() {
                out.text("<", pre > 0);
            }
            rest = &rest[1..];
            continue;
        };
        rest = &rest[tag.len..];
        let name = tag.name.as_str();
        if let Some((dropped, depth)) = &mut dropping {
            if name == dropped.as_str() && !tag.self_closing {
                if tag.closing {
                    *depth -= 1;
                    if *depth == 0 {
                        dropping = None;
                    }
                } else if *depth < MAX_DEPTH {
                    *depth += 1;
                }
            }
            if dropping.is_some() && !tag.closing && RAW.contains(&name) {
                rest = skip_raw(rest, name).1;
            }
            continue;
        }
        if tag.closing {
            match name {
                "pre" => pre = pre.saturating_sub(1),
                "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => out.end_heading(),
                _ => {}
            }
            if BLOCKS.contains(&name) {
                out.block();
            }
            continue;
        }
        if DROPPED.contains(&name) {
            if RAW.contains(&name) {
                rest = skip_raw(rest, name).1;
            } else if !tag.self_closing {
                dropping = Some((tag.name.clone(), 1));
            }
            continue;
        }
        if name == "title" || name == "textarea" {
            let (inner, after) = skip_raw(rest, name);
            rest = after;
            if name == "title" {
                let t = collapse(&decode_entities(inner));
                if title.is_none() && !t.is_empty() {
                    title = Some(t);
                }
            } else {
                out.text(inner, false);
            }
            continue;
        }
        if name == "head" {
            // Only its title is read; the rest (meta, links) has no text.
            continue;
        }
        match name {
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                out.start_heading(usize::from(name.as_bytes()[1] - b'0'))
            }
            "li" => {
                out.block();
                out.raw("- ");
            }
            "pre" => {
                out.block();
                pre += 1;
            }
            "br" => out.raw("\n"),
            "img" => {
                if let Some(alt) = tag.alt {
                    out.text(&alt, false);
                }
            }
            _ if BLOCKS.contains(&name) => out.block(),
            _ => {}
        }
    }
    (out.finish(), title)
}

/// The text of a raw element up to its end tag, and what follows that tag.
fn skip_raw<'a>(rest: &'a str, name: &str) -> (&'a str, &'a str) {
    let mut from = 0;
    while let Some(i) = rest[from..].find("</") {
        let at = from + i;
        let tail = &rest.as_bytes()[at + 2..];
        if tail.len() >= name.len() && tail[..name.len()].eq_ignore_ascii_case(name.as_bytes()) {
            let after = &rest[at..];
            let close = after.find('>').map_or(after.len(), |j| j + 1);
            return (&rest[..at], &after[close..]);
        }
        from = at + 2;
    }
    (rest, "")
}

/// One tag as read: its lower-case name and what matters of its attributes.
struct Tag {
    name: String,
    closing: bool,
    self_closing: bool,
    /// An `<img>`'s `alt` text.
    alt: Option<String>,
    /// Bytes the tag spans.
    len: usize,
}

impl Tag {
    /// Reads the tag at the start of `s` (which starts with `<`); `None` when it is not one.
    fn read(s: &str) -> Option<Tag> {
        let bytes = s.as_bytes();
        let mut i = 1;
        let closing = bytes.get(1) == Some(&b'/');
        if closing {
            i += 1;
        }
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'-') {
            i += 1;
        }
        if i == start || !bytes[start].is_ascii_alphabetic() {
            return None;
        }
        let name = s[start..i].to_ascii_lowercase();
        // Attributes: up to the first `>` outside quotes.
        let attrs_at = i;
        let mut quote: Option<u8> = None;
        while i < bytes.len() {
            match (quote, bytes[i]) {
                (None, b'>') => break,
                (None, q @ (b'"' | b'\'')) => quote = Some(q),
                (Some(q), c) if c == q => quote = None,
                _ => {}
            }
            i += 1;
        }
        let attrs = &s[attrs_at..i.min(s.len())];
        let len = (i + 1).min(s.len());
        let alt = (name == "img").then(|| attribute(attrs, "alt")).flatten();
        Some(Tag {
            self_closing: attrs.trim_end().ends_with('/') || VOID.contains(&name.as_str()),
            name,
            closing,
            alt,
            len,
        })
    }
}

/// Elements that never have content.
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr",
];

/// The value of attribute `name` in a tag's attribute text.
fn attribute(attrs: &str, name: &str) -> Option<String> {
    let lower = attrs.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find(name) {
        let at = from + i;
        from = at + name.len();
        let before_ok = at == 0 || lower.as_bytes()[at - 1].is_ascii_whitespace();
        let rest = attrs[from..].trim_start();
        if !before_ok || !rest.starts_with('=') {
            continue;
        }
        let value = rest[1..].trim_start();
        let value = match value.chars().next() {
            Some(q @ ('"' | '\'')) => value[1..].split(q).next().unwrap_or(""),
            _ => value
                .split(|c: char| c.is_whitespace() || c == '>')
                .next()
                .unwrap_or(""),
        };
        return Some(decode_entities(value));
    }
    None
}

/// Decodes character references: numeric ones and the common named ones; others stay.
pub(crate) fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest[1..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '#'))
            .map(|j| j + 1)
            .unwrap_or(rest.len());
        let name = &rest[1..end];
        let decoded = if let Some(num) = name.strip_prefix('#') {
            let code = match num.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok(),
                None => num.parse::<u32>().ok(),
            };
            code.and_then(char::from_u32)
        } else {
            named_entity(name)
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end..];
                if rest.starts_with(';') {
                    rest = &rest[1..];
                }
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn named_entity(name: &str) -> Option<char> {
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => ' ',
        "mdash" => '—',
        "ndash" => '–',
        "hellip" => '…',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "laquo" => '«',
        "raquo" => '»',
        "lsquo" => '‘',
        "rsquo" => '’',
        "ldquo" => '“',
        "rdquo" => '”',
        "middot" => '·',
        "bull" => '•',
        "euro" => '€',
        "times" => '×',
        _ => return None,
    })
}

/// Whitespace runs collapsed to one space, trimmed.
fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The text being built, with paragraph breaks added only once.
#[derive(Default)]
struct Out {
    text: String,
    /// Whether the text ends in whitespace (so a collapsed space is not doubled).
    space: bool,
}

impl Out {
    fn text(&mut self, raw: &str, pre: bool) {
        let decoded = decode_entities(raw);
        if pre {
            self.raw(&decoded);
            return;
        }
        for (i, word) in decoded.split_whitespace().enumerate() {
            let gap = i > 0 || decoded.starts_with(char::is_whitespace);
            if gap && !self.space && !self.text.is_empty() {
                self.text.push(' ');
            }
            self.text.push_str(word);
            self.space = false;
        }
        if decoded.ends_with(char::is_whitespace) && !self.text.is_empty() && !self.space {
            self.text.push(' ');
            self.space = true;
        }
    }

    fn raw(&mut self, text: &str) {
        self.text.push_str(text);
        self.space = text.ends_with(char::is_whitespace);
    }

    /// Ends the paragraph: one blank line.
    fn block(&mut self) {
        while self.text.ends_with([' ', '\t']) {
            self.text.pop();
        }
        if !self.text.is_empty() && !self.text.ends_with("\n\n") {
            self.text.push_str(if self.text.ends_with('\n') {
                "\n"
            } else {
                "\n\n"
            });
        }
        self.space = true;
    }

    fn start_heading(&mut self, level: usize) {
        self.block();
        self.raw(&"#".repeat(level));
        self.raw(" ");
    }

    fn end_heading(&mut self) {
        self.block();
    }

    fn finish(self) -> String {
        self.text.trim().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readable_text_only() {
        let html = r#"<!DOCTYPE html><html><head><title>The &amp; Page</title>
            <style>body { color: red }</style><script>var x = "<p>no</p>";</script></head>
            <body><nav><ul><li>Home</li><li>About</li></ul></nav>
            <h1>Main   title</h1><p>First <b>bold</b> paragraph &lt;here&gt;.</p>
            <!-- a comment --><ul><li>one</li><li>two</li></ul>
            <pre>  keep
   spaces</pre><img src="x.png" alt="a diagram"><footer>copyright</footer></body></html>"#;
        let (text, title) = extract(html);
        assert_eq!(title.as_deref(), Some("The & Page"));
        assert!(!text.contains("color"), "{text}");
        assert!(!text.contains("var x"), "{text}");
        assert!(!text.contains("Home"), "{text}");
        assert!(!text.contains("copyright"), "{text}");
        assert!(!text.contains("comment"), "{text}");
        assert!(text.contains("# Main title"), "{text}");
        assert!(text.contains("First bold paragraph <here>."), "{text}");
        assert!(
            text.contains("- one\n\n- two") || text.contains("- one"),
            "{text}"
        );
        assert!(text.contains("  keep\n   spaces"), "{text}");
        assert!(text.contains("a diagram"), "{text}");
    }

    #[test]
    fn broken_markup_never_panics() {
        for s in [
            "<",
            "<a",
            "<!--",
            "<script>",
            "&#xFFFFFFFF;",
            "<p x='",
            "</>",
            "<nav><nav></nav>",
            "&",
        ] {
            let _ = extract(s);
        }
        assert_eq!(
            decode_entities("a &#x41; &#66 &unknown; &"),
            "a A B &unknown; &"
        );
    }
}
