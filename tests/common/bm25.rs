//! An independent BM25 reference for the full-text tests: documents of space-separated ASCII
//! words, lowercased, no stemming (the tables under test use `fulltext_stemmer: none`).
#![allow(dead_code)]

use std::collections::HashMap;

/// One field of a corpus: `(doc key, text)` for every live row whose field is a string.
pub struct Field<'a> {
    pub docs: Vec<(&'a str, &'a str)>,
}

fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_lowercase).collect()
}

/// BM25 (k1 1.2, b 0.75, idf ln(1 + (N - n + 0.5)/(n + 0.5))) of each doc for the plain terms
/// `terms`, summed over `fields`; docs that match no term are absent.
pub fn scores<'a>(fields: &[Field<'a>], terms: &[&str]) -> HashMap<&'a str, f64> {
    let mut out: HashMap<&str, f64> = HashMap::new();
    for field in fields {
        let n_docs = field.docs.len() as f64;
        if field.docs.is_empty() {
            continue;
        }
        let tokenized: Vec<(&str, Vec<String>)> =
            field.docs.iter().map(|(k, t)| (*k, words(t))).collect();
        let avg = tokenized.iter().map(|(_, w)| w.len()).sum::<usize>() as f64 / n_docs;
        for term in terms {
            let term = term.to_lowercase();
            let n = tokenized.iter().filter(|(_, w)| w.contains(&term)).count() as f64;
            if n == 0.0 {
                continue;
            }
            let idf = (1.0 + (n_docs - n + 0.5) / (n + 0.5)).ln();
            for (key, w) in &tokenized {
                let tf = w.iter().filter(|x| **x == term).count() as f64;
                if tf == 0.0 {
                    continue;
                }
                let dl = w.len() as f64;
                let s = idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * dl / avg));
                *out.entry(key).or_default() += s;
            }
        }
    }
    out
}

/// The reference ranking: keys best first, ties by `tie` (the id order the engine uses).
pub fn ranked<'a>(scores: &HashMap<&'a str, f64>) -> Vec<(&'a str, f64)> {
    let mut v: Vec<(&str, f64)> = scores.iter().map(|(k, s)| (*k, *s)).collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
    v
}

/// Whether two scores agree to within float rounding (the engine returns f32).
pub fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-4 * b.abs().max(1.0)
}
