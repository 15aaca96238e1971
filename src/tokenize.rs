//! Text → terms for the full-text index, shared by the write path (`store/fulltext.rs`, which
//! keeps the postings) and the query side (`src/fulltext`), so both cut text the same way.
//!
//! Words are found by Unicode word segmentation (UAX #29, `unicode-segmentation`): runs of
//! letters, digits and connectors, so `__exit__`, `e2e` and `3.14` are one word each, and each
//! Han ideograph is a word of its own. Words are lowercased and, unless the table's stemmer is
//! `none`, reduced to their Snowball stem (`rust-stemmers`; English by default). No stop words
//! are removed. A term is at most [`MAX_TERM_BYTES`] bytes (longer words are cut at a character
//! boundary) and never holds a NUL byte, so it can sit inside a key between separators.

use std::borrow::Cow;

use rust_stemmers::{Algorithm, Stemmer};
use unicode_segmentation::UnicodeSegmentation;

use crate::error::{Error, Result};

/// Longest term kept, in bytes: longer words are cut to this at a character boundary.
pub const MAX_TERM_BYTES: usize = 64;

/// The stemmers a table may choose with `fulltext_stemmer`, by name (`none` switches stemming off).
pub const STEMMERS: [&str; 19] = [
    "none",
    "arabic",
    "danish",
    "dutch",
    "english",
    "finnish",
    "french",
    "german",
    "greek",
    "hungarian",
    "italian",
    "norwegian",
    "portuguese",
    "romanian",
    "russian",
    "spanish",
    "swedish",
    "tamil",
    "turkish",
];

/// The stemmer of tables that name none.
pub const DEFAULT_STEMMER: &str = "english";

fn algorithm(name: &str) -> Option<Option<Algorithm>> {
    Some(Some(match name {
        "none" => return Some(None),
        "arabic" => Algorithm::Arabic,
        "danish" => Algorithm::Danish,
        "dutch" => Algorithm::Dutch,
        "english" => Algorithm::English,
        "finnish" => Algorithm::Finnish,
        "french" => Algorithm::French,
        "german" => Algorithm::German,
        "greek" => Algorithm::Greek,
        "hungarian" => Algorithm::Hungarian,
        "italian" => Algorithm::Italian,
        "norwegian" => Algorithm::Norwegian,
        "portuguese" => Algorithm::Portuguese,
        "romanian" => Algorithm::Romanian,
        "russian" => Algorithm::Russian,
        "spanish" => Algorithm::Spanish,
        "swedish" => Algorithm::Swedish,
        "tamil" => Algorithm::Tamil,
        "turkish" => Algorithm::Turkish,
        _ => return None,
    }))
}

/// Checks a stemmer name (case-insensitive) and returns it lowercased.
pub(crate) fn check_stemmer(name: &str) -> Result<String> {
    let lower = name.to_ascii_lowercase();
    match algorithm(&lower) {
        Some(_) => Ok(lower),
        None => Err(Error::InvalidSchema(format!(
            "`fulltext_stemmer` must be one of {}, got {:?}",
            STEMMERS.join(", "),
            crate::store::quote(name)
        ))),
    }
}

/// Cuts text into terms: segmentation, lowercasing, optional stemming.
pub(crate) struct Analyzer {
    stemmer: Option<Stemmer>,
}

impl Analyzer {
    /// The analyzer of stemmer `name` (one of [`STEMMERS`]).
    pub(crate) fn new(name: &str) -> Result<Analyzer> {
        let lower = check_stemmer(name)?;
        Ok(Analyzer {
            stemmer: algorithm(&lower).flatten().map(Stemmer::create),
        })
    }

    /// The terms of `text` in order; a term's position is its index.
    pub(crate) fn terms(&self, text: &str) -> Vec<String> {
        self.words(text).map(|w| self.term(w)).collect()
    }

    /// The words of `text` in order, before they become terms ([`term`](Self::term)).
    pub(crate) fn words<'t>(&self, text: &'t str) -> impl Iterator<Item = &'t str> {
        text.unicode_words()
    }

    /// The words of `text` lowercased but not stemmed (for prefix queries, whose last word is
    /// only the start of a word).
    pub(crate) fn plain_words(&self, text: &str) -> Vec<String> {
        text.unicode_words()
            .map(|w| clean(&w.to_lowercase()))
            .collect()
    }

    /// One word as a term (lowercased, stemmed, cleaned; empty when nothing is left).
    pub(crate) fn term(&self, word: &str) -> String {
        let lower = word.to_lowercase();
        let stemmed = match &self.stemmer {
            Some(s) => s.stem(&lower),
            None => Cow::Borrowed(lower.as_str()),
        };
        clean(&stemmed)
    }
}

/// Drops NUL bytes and cuts to [`MAX_TERM_BYTES`] at a character boundary.
fn clean(term: &str) -> String {
    let mut out = String::with_capacity(term.len().min(MAX_TERM_BYTES));
    for c in term.chars().filter(|c| *c != '\0') {
        if out.len() + c.len_utf8() > MAX_TERM_BYTES {
            break;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_segmented_lowercased_and_stemmed() {
        let en = Analyzer::new("english").unwrap();
        assert_eq!(
            en.terms("Running dogs, __exit__ and CAFÉ's e2e!"),
            vec!["run", "dog", "__exit__", "and", "café", "e2e"]
        );
        let none = Analyzer::new("none").unwrap();
        assert_eq!(none.terms("Running Dogs"), vec!["running", "dogs"]);
        assert_eq!(none.terms("東京タワー 🎉🎉"), vec!["東", "京", "タワー"]);
        assert_eq!(none.plain_words("Conn*"), vec!["conn"]);
        let long = "x".repeat(200);
        assert_eq!(none.terms(&long)[0].len(), MAX_TERM_BYTES);
        assert_eq!(none.terms(&"é".repeat(100))[0].len(), MAX_TERM_BYTES);
    }

    #[test]
    fn stemmer_names_are_checked() {
        assert_eq!(check_stemmer("French").unwrap(), "french");
        assert_eq!(
            check_stemmer("klingon").unwrap_err().code(),
            "INVALID_SCHEMA"
        );
        for name in STEMMERS {
            assert!(Analyzer::new(name).is_ok());
        }
    }
}
