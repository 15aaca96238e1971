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

use std::collections::{HashMap, HashSet};

use uuid::Uuid;

use crate::budget::{Budget, Meter};
use crate::error::{Error, Result};
use crate::kv::KvSnapshot;
use crate::store::fulltext::{FieldIndex, Posting, TableDocNumbers};
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

/// Filters larger than this are checked per candidate (reading its row id) instead of being
/// turned into document numbers up front (reading one per filter id).
const FILTER_BY_NUMBER_MAX: usize = 4096;

/// The rows a search may return, in the index's terms.
enum DocFilter<'a> {
    /// Any row.
    All,
    /// Rows with these document numbers.
    Numbers(HashSet<u64>),
    /// Rows with these ids; each candidate's id is read once (`seen`).
    Ids {
        ids: &'a HashSet<Uuid>,
        seen: HashMap<u64, bool>,
    },
}

/// Candidates gathered by a search, by document number.
struct Candidates<'a> {
    docs: TableDocNumbers<'a>,
    filter: DocFilter<'a>,
    scores: HashMap<u64, f64>,
    excluded: HashSet<u64>,
    meter: &'a Meter,
}

impl Candidates<'_> {
    /// Adds weight `w` to row `doc` for a positive clause, or excludes it for a negated one.
    fn add(&mut self, negated: bool, doc: u64, w: f64) -> Result<()> {
        if negated {
            if self.excluded.insert(doc) {
                self.meter.hold(CANDIDATE_BYTES)?;
            }
            return Ok(());
        }
        let kept = match &mut self.filter {
            DocFilter::All => true,
            DocFilter::Numbers(numbers) => numbers.contains(&doc),
            DocFilter::Ids { ids, seen } => match seen.get(&doc) {
                Some(&kept) => kept,
                None => {
                    let kept = ids.contains(&self.docs.row(doc)?);
                    seen.insert(doc, kept);
                    self.meter.hold(CANDIDATE_BYTES)?;
                    kept
                }
            },
        };
        if !kept {
            return Ok(());
        }
        let mut fresh = false;
        *self.scores.entry(doc).or_insert_with(|| {
            fresh = true;
            0.0
        }) += w;
        if fresh {
            self.meter.hold(CANDIDATE_BYTES)?;
        }
        Ok(())
    }

    /// The `k` best rows, best first, ties broken by row id (so every replica answers alike,
    /// whatever numbers it gave its rows).
    fn top(self, k: usize) -> Result<Vec<(Uuid, f64)>> {
        let mut ranked: Vec<(f64, u64)> = Vec::with_capacity(self.scores.len());
        for (doc, score) in self.scores {
            self.meter.tick()?;
            if !self.excluded.contains(&doc) {
                ranked.push((score, doc));
            }
        }
        if ranked.len() > k {
            // The k best, and every row tied with the k-th (the row id decides among them).
            ranked.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0));
            let kth = ranked[k - 1].0;
            let mut kept = ranked.split_off(k);
            kept.retain(|c| c.0.total_cmp(&kth).is_eq());
            ranked.extend(kept);
        }
        let mut out = Vec::with_capacity(ranked.len());
        for (score, doc) in ranked {
            out.push((self.docs.row(doc)?, score));
        }
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        out.truncate(k);
        Ok(out)
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
    let first = FieldIndex::new(snap, t.store_keys(), req.table, &fields[0]);
    let docs = first.doc_numbers();
    let filter = match req.filter {
        None => DocFilter::All,
        Some(ids) if ids.len() <= FILTER_BY_NUMBER_MAX => {
            let mut numbers = HashSet::with_capacity(ids.len());
            for id in ids {
                meter.tick()?;
                if let Some(doc) = docs.doc(id)? {
                    numbers.insert(doc);
                }
            }
            DocFilter::Numbers(numbers)
        }
        Some(ids) => DocFilter::Ids {
            ids,
            seen: HashMap::new(),
        },
    };
    let mut found = Candidates {
        docs,
        filter,
        scores: HashMap::new(),
        excluded: HashSet::new(),
        meter,
    };
    for field in &fields {
        let index = FieldIndex::new(snap, t.store_keys(), req.table, field);
        let stats = index.stats()?;
        if stats.docs == 0 {
            continue;
        }
        let avg = stats.total_len as f64 / stats.docs as f64;
        for clause in &clauses {
            let mut add = |doc: u64, w: f64| found.add(clause.negated, doc, w);
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
    found.top(req.top_k)
}

fn score_term(
    index: &FieldIndex<'_>,
    term: &str,
    idf: f64,
    avg: f64,
    n: u64,
    meter: &Meter,
    add: &mut dyn FnMut(u64, f64) -> Result<()>,
) -> Result<()> {
    if n == 0 {
        return Ok(());
    }
    index.postings(term, false, &mut |p: Posting| {
        meter.examine(1)?;
        add(p.doc, idf * tf_weight(p.tf, p.len, avg))?;
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
    add: &mut dyn FnMut(u64, f64) -> Result<()>,
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
    let mut found: HashMap<u64, Vec<Option<Posting>>> = HashMap::new();
    index.postings(&terms[rarest], true, &mut |p: Posting| {
        meter.examine(1)?;
        meter.hold(CANDIDATE_BYTES + 4 * u64::from(p.tf))?;
        let mut slots = vec![None; terms.len()];
        let doc = p.doc;
        slots[rarest] = Some(p);
        found.insert(doc, slots);
        Ok(true)
    })?;
    for (i, term) in terms.iter().enumerate() {
        if i == rarest || found.is_empty() {
            continue;
        }
        index.postings(term, true, &mut |p: Posting| {
            meter.examine(1)?;
            if let Some(slots) = found.get_mut(&p.doc) {
                meter.hold(4 * u64::from(p.tf))?;
                slots[i] = Some(p);
            }
            Ok(true)
        })?;
        found.retain(|_, slots| slots[i].is_some());
    }
    for (doc, slots) in found {
        let postings: Vec<Posting> = slots.into_iter().flatten().collect();
        if postings.len() != terms.len() || !phrase_occurs(&postings) {
            continue;
        }
        let score: f64 = postings
            .iter()
            .zip(&dfs)
            .map(|(p, &n)| idf(docs, n) * tf_weight(p.tf, p.len, avg))
            .sum();
        add(doc, score)?;
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
