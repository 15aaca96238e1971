//! The keyword query language: terms, `"phrases"`, `prefix*`, and `-` before any of them to
//! exclude rows that match it. Words go through the table's analyzer (`src/tokenize.rs`), so a
//! query matches what the index holds; a word the analyzer splits in several (`foo-bar`) is a
//! phrase.

use crate::error::{Error, Result};
use crate::tokenize::Analyzer;

/// Most terms one keyword query may hold (phrase words count one each).
pub const MAX_QUERY_TERMS: usize = 64;

/// Longest keyword query, in bytes.
pub const MAX_QUERY_BYTES: usize = 16 * 1024;

/// What one clause matches.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    /// One term.
    Term(String),
    /// Every term starting with this (lowercased, not stemmed).
    Prefix(String),
    /// These terms at consecutive positions.
    Phrase(Vec<String>),
}

/// One clause: rows matching it score (or, `negated`, are excluded).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Clause {
    pub(crate) kind: Kind,
    pub(crate) negated: bool,
}

/// Parses `text` with `analyzer`. Empty (or only punctuation) queries give no clauses.
pub(crate) fn parse(text: &str, analyzer: &Analyzer) -> Result<Vec<Clause>> {
    if text.len() > MAX_QUERY_BYTES {
        return Err(Error::InvalidArgument(format!(
            "a keyword query is at most {MAX_QUERY_BYTES} bytes, got {}",
            text.len()
        )));
    }
    let mut clauses = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        let negated = rest.starts_with('-');
        if negated {
            rest = &rest[1..];
        }
        if let Some(after) = rest.strip_prefix('"') {
            let end = after.find('"').ok_or_else(|| {
                Error::InvalidArgument(
                    "unbalanced quote in keyword query: a phrase needs a closing `\"`".into(),
                )
            })?;
            let terms: Vec<String> = analyzer
                .terms(&after[..end])
                .into_iter()
                .filter(|t| !t.is_empty())
                .collect();
            push_terms(&mut clauses, terms, negated);
            rest = &after[end + 1..];
            continue;
        }
        let end = rest
            .find(|c: char| c.is_whitespace() || c == '"')
            .unwrap_or(rest.len());
        let word = &rest[..end];
        rest = &rest[end..];
        if let Some(stem) = word.strip_suffix('*') {
            let stem = stem.trim_end_matches('*');
            let plain = analyzer.plain_words(stem);
            let Some(last) = plain.last().filter(|p| !p.is_empty()) else {
                return Err(Error::InvalidArgument(format!(
                    "`{}` has no word before `*`: a prefix query needs at least one letter or digit",
                    crate::store::quote(word)
                )));
            };
            let mut terms = analyzer.terms(stem);
            terms.pop();
            for t in terms.into_iter().filter(|t| !t.is_empty()) {
                clauses.push(Clause {
                    kind: Kind::Term(t),
                    negated,
                });
            }
            clauses.push(Clause {
                kind: Kind::Prefix(last.clone()),
                negated,
            });
        } else {
            let terms: Vec<String> = analyzer
                .terms(word)
                .into_iter()
                .filter(|t| !t.is_empty())
                .collect();
            push_terms(&mut clauses, terms, negated);
        }
        let count: usize = clauses
            .iter()
            .map(|c| match &c.kind {
                Kind::Phrase(ts) => ts.len(),
                _ => 1,
            })
            .sum();
        if count > MAX_QUERY_TERMS {
            return Err(Error::InvalidArgument(format!(
                "a keyword query holds at most {MAX_QUERY_TERMS} terms"
            )));
        }
    }
    Ok(clauses)
}

fn push_terms(clauses: &mut Vec<Clause>, mut terms: Vec<String>, negated: bool) {
    let kind = match terms.len() {
        0 => return,
        1 => Kind::Term(terms.remove(0)),
        _ => Kind::Phrase(terms),
    };
    clauses.push(Clause { kind, negated });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(q: &str) -> Vec<(Kind, bool)> {
        let a = Analyzer::new("english").unwrap();
        parse(q, &a)
            .unwrap()
            .into_iter()
            .map(|c| (c.kind, c.negated))
            .collect()
    }

    #[test]
    fn clauses_are_parsed() {
        let t = |s: &str| Kind::Term(s.into());
        assert_eq!(
            kinds(r#"Running "new york" conn* -cats -"big apple" foo-bar"#),
            vec![
                (t("run"), false),
                (Kind::Phrase(vec!["new".into(), "york".into()]), false),
                (Kind::Prefix("conn".into()), false),
                (t("cat"), true),
                (Kind::Phrase(vec!["big".into(), "appl".into()]), true),
                (Kind::Phrase(vec!["foo".into(), "bar".into()]), false),
            ]
        );
        assert_eq!(kinds("   ,,, - \"\" "), vec![]);
        let a = Analyzer::new("none").unwrap();
        assert_eq!(parse("*", &a).unwrap_err().code(), "INVALID_ARGUMENT");
        assert_eq!(parse("\"open", &a).unwrap_err().code(), "INVALID_ARGUMENT");
        let many = "w ".repeat(MAX_QUERY_TERMS + 1);
        assert_eq!(parse(&many, &a).unwrap_err().code(), "INVALID_ARGUMENT");
    }
}
