//! Keyword search (BM25) over a table's full-text index, and hybrid search (keyword fused with
//! vector search). The index itself is kept by the store's write path (`store/fulltext.rs`);
//! this layer parses queries ([`query`]), scores postings and fuses rankings ([`hybrid`]).
//!
//! Scoring is Okapi BM25 with k1 = 1.2 and b = 0.75 and idf = ln(1 + (N − n + 0.5) / (n + 0.5)),
//! per field (N rows indexed, n of them holding the term, the field's average length from the
//! index statistics); a row's score is the sum over the query's clauses and the searched fields.
//! A phrase scores as the sum of its terms in the rows where it occurs; a prefix as the sum of
//! the terms it expands to. A row matches when any positive clause matches it and no negated
//! one does.

pub mod hybrid;
pub mod query;

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, HashSet};

use uuid::Uuid;

use crate::budget::{Budget, Meter};
use crate::error::{Error, Result};
use crate::kv::KvSnapshot;
use crate::store::fulltext::{FieldIndex, Posting};
use crate::store::TenantStore;
use crate::tokenize::Analyzer;

use self::query::Kind;
pub use self::query::{MAX_QUERY_BYTES, MAX_QUERY_TERMS};

/// BM25 term-frequency saturation.
pub const K1: f64 = 1.2;
/// BM25 length normalisation.
pub const B: f64 = 0.75;
/// Most index terms one `prefix*` may expand to (per field); more is an `INVALID_ARGUMENT`
/// error asking for a longer prefix.
pub const MAX_PREFIX_TERMS: usize = 256;

/// Bytes a scored candidate is charged on the query's [`Meter`] (map entry and id).
const CANDIDATE_BYTES: u64 = 48;

/// The BM25 inverse document frequency of a term held by `n` of `docs` rows.
pub fn idf(docs: u64, n: u64) -> f64 {
    let (docs, n) = (docs as f64, n as f64);
    (1.0 + (docs - n + 0.5) / (n + 0.5)).ln()
}

/// The BM25 weight of a term occurring `tf` times in a field of `len` terms, where fields
/// average `avg_len` terms, before multiplying by the term's [`idf`].
pub fn tf_weight(tf: u32, len: u32, avg_len: f64) -> f64 {
    let tf = f64::from(tf);
    let norm = if avg_len > 0.0 {
        1.0 - B + B * f64::from(len) / avg_len
    } else {
        1.0
    };
    tf * (K1 + 1.0) / (tf + K1 * norm)
}

/// A keyword search request (see [`keyword_search`]).
pub(crate) struct KeywordRequest<'a> {
    pub(crate) table: &'a str,
    pub(crate) text: &'a str,
    /// One full-text field; default: all of the table's.
    pub(crate) field: Option<&'a str>,
    /// Only these rows.
    pub(crate) filter: Option<&'a HashSet<Uuid>>,
    pub(crate) top_k: usize,
}

/// The fields a keyword search of `table` reads, and the table's analyzer.
pub(crate) fn fields_of(
    t: &TenantStore,
    table: &str,
    field: Option<&str>,
) -> Result<(Vec<String>, Analyzer)> {
    let schema = t.compiled_schema(table)?;
    let all = &schema.info.fulltext_fields;
    if all.is_empty() {
        let how = if crate::store::BUILTIN_TABLES.contains(&table) {
            "it was created before full-text search: run init to add its built-in full-text fields"
        } else {
            "add them to its schema to search it by keyword"
        };
        return Err(Error::InvalidArgument(format!(
            "table `{table}` has no `fulltext_fields`: {how}"
        )));
    }
    let fields = match field {
        None => all.clone(),
        Some(f) if all.iter().any(|a| a == f) => vec![f.to_string()],
        Some(f) => {
            return Err(Error::InvalidArgument(format!(
                "`{}` is not a full-text field of `{table}`; its full-text fields: {}",
                crate::store::quote(f),
                all.join(", ")
            )))
        }
    };
    Ok((fields, Analyzer::new(&schema.info.fulltext_stemmer)?))
}

/// A candidate in the top-k heap: ordered so the heap's top is the worst kept (lowest score,
/// then highest id).
#[derive(PartialEq)]
struct Ranked(f64, Uuid);

impl Eq for Ranked {}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        other.0.total_cmp(&self.0).then(self.1.cmp(&other.1))
    }
}

/// The `top_k` best rows for `req` in `snap`, best first (ties by id), with their BM25 scores.
/// Rows matching only soft-deleted text never appear: only live rows are indexed.
pub(crate) fn keyword_search(
    t: &TenantStore,
    snap: &dyn KvSnapshot,
    req: &KeywordRequest<'_>,
    meter: &Meter,
) -> Result<Vec<(Uuid, f64)>> {
    let (fields, analyzer) = fields_of(t, req.table, req.field)?;
    let clauses = query::parse(req.text, &analyzer)?;
    if req.top_k == 0 || !clauses.iter().any(|c| !c.negated) {
        return Ok(Vec::new());
    }
    let mut scores: HashMap<Uuid, f64> = HashMap::new();
    let mut excluded: HashSet<Uuid> = HashSet::new();
    for field in &fields {
        let index = FieldIndex::new(snap, t.store_keys(), req.table, field);
        let stats = index.stats()?;
        if stats.docs == 0 {
            continue;
        }
        let avg = stats.total_len as f64 / stats.docs as f64;
        for clause in &clauses {
            let mut add = |id: Uuid, w: f64| -> Result<()> {
                if clause.negated {
                    if excluded.insert(id) {
                        meter.hold(CANDIDATE_BYTES)?;
                    }
                } else if req.filter.is_none_or(|f| f.contains(&id)) {
                    let mut fresh = false;
                    *scores.entry(id).or_insert_with(|| {
                        fresh = true;
                        0.0
                    }) += w;
                    if fresh {
                        meter.hold(CANDIDATE_BYTES)?;
                    }
                }
                Ok(())
            };
            match &clause.kind {
                Kind::Term(term) => {
                    let n = index.doc_freq(term)?;
                    score_term(&index, term, idf(stats.docs, n), avg, n, meter, &mut add)?;
                }
                Kind::Prefix(prefix) => {
                    let terms = index.expand(prefix, MAX_PREFIX_TERMS)?;
                    if terms.len() > MAX_PREFIX_TERMS {
                        return Err(Error::InvalidArgument(format!(
                            "`{}*` matches more than {MAX_PREFIX_TERMS} terms of `{field}`: use a longer prefix",
                            crate::store::quote(prefix)
                        )));
                    }
                    for (term, n) in terms {
                        score_term(&index, &term, idf(stats.docs, n), avg, n, meter, &mut add)?;
                    }
                }
                Kind::Phrase(terms) => {
                    score_phrase(&index, terms, stats.docs, avg, meter, &mut add)?
                }
            }
        }
    }
    let mut heap: BinaryHeap<Ranked> = BinaryHeap::with_capacity(req.top_k.min(4096) + 1);
    for (id, score) in scores {
        if excluded.contains(&id) {
            continue;
        }
        meter.tick()?;
        let candidate = Ranked(score, id);
        if heap.len() < req.top_k {
            heap.push(candidate);
        } else if heap.peek().is_some_and(|worst| candidate < *worst) {
            heap.pop();
            heap.push(candidate);
        }
    }
    Ok(heap
        .into_sorted_vec()
        .into_iter()
        .map(|Ranked(s, id)| (id, s))
        .collect())
}

fn score_term(
    index: &FieldIndex<'_>,
    term: &str,
    idf: f64,
    avg: f64,
    n: u64,
    meter: &Meter,
    add: &mut dyn FnMut(Uuid, f64) -> Result<()>,
) -> Result<()> {
    if n == 0 {
        return Ok(());
    }
    index.postings(term, false, &mut |p: Posting| {
        meter.examine(1)?;
        add(p.id, idf * tf_weight(p.tf, p.len, avg))?;
        Ok(true)
    })
}

/// Scores the rows where `terms` occur at consecutive positions.
fn score_phrase(
    index: &FieldIndex<'_>,
    terms: &[String],
    docs: u64,
    avg: f64,
    meter: &Meter,
    add: &mut dyn FnMut(Uuid, f64) -> Result<()>,
) -> Result<()> {
    // Start from the rarest term so the candidate set is smallest; the others only narrow it.
    let mut dfs = Vec::with_capacity(terms.len());
    for term in terms {
        let n = index.doc_freq(term)?;
        if n == 0 {
            return Ok(());
        }
        dfs.push(n);
    }
    let rarest = (0..terms.len()).min_by_key(|&i| dfs[i]).unwrap_or(0);
    let mut found: HashMap<Uuid, Vec<Option<Posting>>> = HashMap::new();
    index.postings(&terms[rarest], true, &mut |p: Posting| {
        meter.examine(1)?;
        meter.hold(CANDIDATE_BYTES + 4 * u64::from(p.tf))?;
        let mut slots = vec![None; terms.len()];
        let id = p.id;
        slots[rarest] = Some(p);
        found.insert(id, slots);
        Ok(true)
    })?;
    for (i, term) in terms.iter().enumerate() {
        if i == rarest || found.is_empty() {
            continue;
        }
        index.postings(term, true, &mut |p: Posting| {
            meter.examine(1)?;
            if let Some(slots) = found.get_mut(&p.id) {
                meter.hold(4 * u64::from(p.tf))?;
                slots[i] = Some(p);
            }
            Ok(true)
        })?;
        found.retain(|_, slots| slots[i].is_some());
    }
    for (id, slots) in found {
        let postings: Vec<Posting> = slots.into_iter().flatten().collect();
        if postings.len() != terms.len() || !phrase_occurs(&postings) {
            continue;
        }
        let score: f64 = postings
            .iter()
            .zip(&dfs)
            .map(|(p, &n)| idf(docs, n) * tf_weight(p.tf, p.len, avg))
            .sum();
        add(id, score)?;
    }
    Ok(())
}

/// Whether some position `p` of the first posting has `p + i` in the i-th.
fn phrase_occurs(postings: &[Posting]) -> bool {
    postings[0].positions.iter().any(|&start| {
        postings.iter().enumerate().skip(1).all(|(i, p)| {
            start
                .checked_add(i as u32)
                .is_some_and(|want| p.positions.binary_search(&want).is_ok())
        })
    })
}

/// A meter for one search under the tenant's default budget.
pub(crate) fn meter() -> Meter {
    Meter::new(&Budget::default())
}
