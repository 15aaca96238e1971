//! Word-level helpers of the pre-pass and the lookup ladder: tokens with their spans,
//! normalisation, singular forms, trigram similarity and "did you mean" suggestions.

/// One token of a question: its lowercase form and where it sits in the original text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    /// Lowercase text of the token.
    pub norm: String,
    /// The token as written.
    pub raw: String,
}

/// Splits `text` into tokens: runs of letters, digits and the joiners `-`, `_`, `.`, `@`, `:`,
/// `/`, `'` inside a run (so `TAP-1234`, `ada@x.io`, `https://x.io/a` and `O'Brien` stay whole);
/// joiners at the ends of a run are dropped. A double-quoted span is one token (`"in review"`).
pub(crate) fn tokens(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    let push = |current: &mut String, out: &mut Vec<Token>| {
        let trimmed = current.trim_matches(|c: char| is_joiner(c) || c == '?' || c == '!');
        if !trimmed.is_empty() {
            out.push(Token {
                norm: trimmed.to_lowercase(),
                raw: trimmed.to_string(),
            });
        }
        current.clear();
    };
    while let Some(c) = chars.next() {
        if c == '"' || c == '\u{201c}' || c == '\u{201d}' {
            push(&mut current, &mut out);
            let mut quoted = String::new();
            for q in chars.by_ref() {
                if q == '"' || q == '\u{201d}' || q == '\u{201c}' {
                    break;
                }
                quoted.push(q);
            }
            let quoted = quoted.trim();
            if !quoted.is_empty() {
                out.push(Token {
                    norm: quoted.to_lowercase(),
                    raw: quoted.to_string(),
                });
            }
        } else if c.is_alphanumeric() || is_joiner(c) {
            current.push(c);
        } else {
            push(&mut current, &mut out);
        }
    }
    push(&mut current, &mut out);
    out
}

fn is_joiner(c: char) -> bool {
    matches!(c, '-' | '_' | '.' | '@' | ':' | '/' | '\'' | '#' | '+')
}

/// `s` lowercased with spaces, hyphens and underscores folded to one space and trimmed: the
/// "normalised" rung of the lookup ladder (`Acme-Corp` = `acme corp`).
pub(crate) fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut gap = false;
    for c in s.chars() {
        if c.is_whitespace() || c == '-' || c == '_' {
            gap = true;
        } else {
            if gap && !out.is_empty() {
                out.push(' ');
            }
            gap = false;
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// The singular of an English word, by the common rules (`tickets` → `ticket`, `companies` →
/// `company`, `statuses` → `status`, `people` → `person`). Words that don't look plural are
/// returned as they are.
pub(crate) fn singular(word: &str) -> String {
    match word {
        "people" => return "person".into(),
        "men" => return "man".into(),
        "women" => return "woman".into(),
        "children" => return "child".into(),
        "data" => return "data".into(),
        _ => {}
    }
    if word.len() > 4 && word.ends_with("ies") {
        return format!("{}y", &word[..word.len() - 3]);
    }
    for suffix in ["sses", "shes", "ches", "xes", "uses", "zes"] {
        if word.len() > suffix.len() + 1 && word.ends_with(suffix) {
            return word[..word.len() - 2].to_string();
        }
    }
    if word.len() > 3
        && word.ends_with('s')
        && !word.ends_with("ss")
        && !word.ends_with("us")
        && !word.ends_with("is")
    {
        return word[..word.len() - 1].to_string();
    }
    word.to_string()
}

/// Character trigrams of `s` (folded, padded with a space at both ends), sorted and deduplicated.
pub(crate) fn trigrams(s: &str) -> Vec<[char; 3]> {
    let padded: Vec<char> = std::iter::once(' ')
        .chain(fold(s).chars())
        .chain(std::iter::once(' '))
        .collect();
    let mut grams: Vec<[char; 3]> = padded.windows(3).map(|w| [w[0], w[1], w[2]]).collect();
    grams.sort_unstable();
    grams.dedup();
    grams
}

/// Trigram similarity of two strings (Jaccard over their trigram sets), 0 to 1.
pub(crate) fn trigram_similarity(a: &str, b: &str) -> f64 {
    let (x, y) = (trigrams(a), trigrams(b));
    if x.is_empty() || y.is_empty() {
        return 0.0;
    }
    let (mut i, mut j, mut shared) = (0, 0, 0usize);
    while i < x.len() && j < y.len() {
        match x[i].cmp(&y[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                shared += 1;
                i += 1;
                j += 1;
            }
        }
    }
    shared as f64 / (x.len() + y.len() - shared) as f64
}

/// Edit distance (insertions, deletions, substitutions and swaps of neighbours: `opne` is one
/// edit from `open`) between two short strings, by chars; strings longer than 64 chars compare
/// as far apart.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len() > 64 || b.len() > 64 {
        return usize::MAX / 2;
    }
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for (j, cell) in d.iter_mut().take(width).enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        d[i * width] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[(i - 1) * width + j - 1] + cost)
                .min(d[(i - 1) * width + j] + 1)
                .min(d[i * width + j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[(i - 2) * width + j - 2] + 1);
            }
            d[i * width + j] = best;
        }
    }
    d[a.len() * width + b.len()]
}

/// The candidate closest to `word` when it is close enough to be a likely typo or variant
/// (at most one edit per three letters, a remainder of two counting as three — `state` is two
/// edits from `status` — or a shared singular form).
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let w = word.to_lowercase();
    let ws = singular(&w);
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let cl = c.to_lowercase();
        let d = if singular(&cl) == ws {
            0
        } else {
            edit_distance(&w, &cl)
        };
        if d <= ((w.chars().count() + 1) / 3).max(1) && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// `"; did you mean `x`?"` when a close candidate exists, else `"; known: a, b, c"` (at most 20).
pub(crate) fn suggestion(word: &str, candidates: &[&str]) -> String {
    match closest(word, candidates.iter().copied()) {
        Some(c) => format!("; did you mean `{c}`?"),
        None => {
            let shown: Vec<&str> = candidates.iter().copied().take(20).collect();
            let more = if candidates.len() > 20 { ", ..." } else { "" };
            format!("; known: {}{more}", shown.join(", "))
        }
    }
}

/// Words that carry no meaning for linking tables, fields or values.
pub(crate) fn is_stop_word(w: &str) -> bool {
    matches!(
        w,
        "a" | "an"
            | "the"
            | "of"
            | "in"
            | "on"
            | "at"
            | "to"
            | "for"
            | "by"
            | "with"
            | "and"
            | "or"
            | "is"
            | "are"
            | "was"
            | "were"
            | "be"
            | "been"
            | "do"
            | "does"
            | "did"
            | "what"
            | "which"
            | "who"
            | "whom"
            | "whose"
            | "where"
            | "when"
            | "how"
            | "many"
            | "much"
            | "me"
            | "my"
            | "i"
            | "we"
            | "our"
            | "us"
            | "you"
            | "your"
            | "it"
            | "its"
            | "this"
            | "that"
            | "these"
            | "those"
            | "there"
            | "their"
            | "them"
            | "they"
            | "show"
            | "list"
            | "find"
            | "give"
            | "get"
            | "all"
            | "any"
            | "some"
            | "every"
            | "please"
            | "tell"
            | "about"
            | "from"
            | "have"
            | "has"
            | "had"
            | "can"
            | "could"
            | "would"
            | "should"
            | "will"
            | "than"
            | "then"
            | "as"
            | "into"
            | "onto"
            | "up"
            | "out"
            | "count"
            | "number"
            | "total"
            | "there's"
            | "what's"
            | "who's"
            | "last"
            | "past"
            | "since"
            | "before"
            | "after"
            | "during"
            | "between"
            | "latest"
            | "newest"
            | "recent"
            | "most"
            | "oldest"
            | "earliest"
            | "average"
            | "avg"
            | "mean"
            | "sum"
            | "maximum"
            | "max"
            | "highest"
            | "largest"
            | "minimum"
            | "min"
            | "lowest"
            | "smallest"
            | "per"
            | "each"
            | "breakdown"
            | "details"
            | "detail"
            | "info"
            | "see"
            | "look"
            | "everything"
            | "know"
            | "say"
            | "says"
            | "said"
            | "regarding"
            | "concerning"
            | "related"
            | "not"
            | "no"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_keep_keys_emails_and_quotes_whole() {
        let t: Vec<String> = tokens("Who wrote TAP-1234, ada@x.io and \"In Review\"?")
            .into_iter()
            .map(|t| t.norm)
            .collect();
        assert_eq!(
            t,
            ["who", "wrote", "tap-1234", "ada@x.io", "and", "in review"]
        );
        assert_eq!(tokens("https://x.io/a.")[0].raw, "https://x.io/a");
        assert!(tokens("?!  ,,").is_empty());
    }

    #[test]
    fn singular_forms() {
        for (p, s) in [
            ("tickets", "ticket"),
            ("companies", "company"),
            ("statuses", "status"),
            ("people", "person"),
            ("boxes", "box"),
            ("status", "status"),
            ("class", "class"),
        ] {
            assert_eq!(singular(p), s, "{p}");
        }
    }

    #[test]
    fn fold_trigrams_and_distance() {
        assert_eq!(fold("  Acme-Corp_EU "), "acme corp eu");
        assert_eq!(trigram_similarity("Deutsche Post", "deutsche-post"), 1.0);
        assert!(trigram_similarity("Globex", "Globx") > 0.3);
        assert!(trigram_similarity("Globex", "Initech") < 0.1);
        assert_eq!(edit_distance("priorty", "priority"), 1);
        assert_eq!(edit_distance("opne", "open"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(closest("priorty", ["status", "priority"]), Some("priority"));
        assert_eq!(closest("tickets", ["ticket", "people"]), Some("ticket"));
        assert_eq!(closest("zzz", ["ticket"]), None);
        assert_eq!(closest("state", ["key", "status"]), Some("status"));
        assert!(suggestion("zzz", &["a", "b"]).contains("known: a, b"));
    }
}
