//! The entity lookup ladder: exact id → natural key → exact name / uri / alias → normalised
//! (case, space ↔ hyphen) → prefix → fuzzy (trigram similarity) → vector search, across
//! tables. Each rung runs only when the ones above found nothing; two near-equal candidates
//! on the rung that answers make the result `ambiguous`.
//!
//! The name-like fields of a table are its key field and whichever of [`NAME_FIELDS`] it
//! declares. The normalised, prefix and fuzzy rungs read the tenant's name catalog
//! (`catalog.rs`: every name of tables of at most 20,000 rows, the distinct indexed names of
//! larger ones, at most 5,000 per field; cached until the next write), so a
//! lookup costs a few map probes whatever the size of the tenant.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::text::{fold, trigram_similarity};
use crate::budget::Budget;
use crate::error::Result;
use crate::sql::QueryVectors;
use crate::store::{parse_id, IndexQuery, Row, TableSchema, TenantStore};

/// Fields a lookup matches besides each table's key field.
pub const NAME_FIELDS: [&str; 12] = [
    "name",
    "title",
    "key",
    "uri",
    "email",
    "aliases",
    "alias",
    "slug",
    "code",
    "handle",
    "username",
    "employee_id",
];
/// Least trigram similarity for a fuzzy match.
pub const FUZZY_MIN: f64 = 0.45;
/// Least cosine similarity for the vector rung.
pub const VECTOR_MIN: f64 = 0.5;

/// Which rung of the ladder matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rung {
    /// The text is the row's id.
    Id,
    /// The text is the row's natural key.
    Key,
    /// A name-like field equals the text.
    Exact,
    /// Equal after folding case, spaces, hyphens and underscores.
    Normalized,
    /// A name-like field starts with the text (folded).
    Prefix,
    /// Trigram similarity of at least [`FUZZY_MIN`].
    Fuzzy,
    /// Vector similarity of at least [`VECTOR_MIN`].
    Vector,
}

impl Rung {
    /// How much a match on this rung is worth, 0 to 1 (the confidence score starts here).
    pub fn weight(self) -> f64 {
        match self {
            Rung::Id | Rung::Key => 1.0,
            Rung::Exact => 0.97,
            Rung::Normalized => 0.92,
            Rung::Prefix => 0.8,
            Rung::Fuzzy => 0.65,
            Rung::Vector => 0.5,
        }
    }
}

/// One entity a lookup found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    /// Its table.
    pub table: String,
    /// Its id.
    pub id: Uuid,
    /// The rung that found it.
    pub rung: Rung,
    /// The field that matched (`id` for the id rung, `embedding` for vectors).
    pub field: String,
    /// The value that matched.
    pub matched: String,
    /// Similarity within the rung, 0 to 1 (1 for exact rungs).
    pub score: f64,
    /// The row.
    pub row: Row,
}

/// How a lookup ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LookupStatus {
    /// One best candidate.
    Found,
    /// Two or more near-equal candidates on the best rung.
    Ambiguous,
    /// Nothing matched.
    NotFound,
}

/// The result of [`lookup_fuzzy`]: candidates best first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lookup {
    /// Found, ambiguous or not found.
    pub status: LookupStatus,
    /// The candidates, best first (at most `limit`).
    pub candidates: Vec<Candidate>,
}

/// Options of [`lookup_fuzzy`].
#[derive(Debug, Clone, Default)]
pub struct LookupOptions {
    /// Only these tables (every table when empty).
    pub tables: Vec<String>,
    /// Most candidates returned (default 5).
    pub limit: Option<usize>,
}

/// The name-like fields of a table.
pub(crate) fn name_fields(schema: &TableSchema) -> Vec<String> {
    let mut fields: Vec<String> = schema.key_field.iter().cloned().collect();
    for f in NAME_FIELDS {
        if schema.fields.iter().any(|x| x == f) && !fields.iter().any(|x| x == f) {
            fields.push(f.to_string());
        }
    }
    fields
}

/// Whether and how the ladder's last rung, vector search, runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VectorRung {
    /// Not at all (planning: lookups there must stay cheap).
    Skip,
    /// Embedding the text synchronously when its vector is not supplied (native).
    Inline,
    /// Only with supplied vectors; missing ones are reported as pending (the wasm face).
    Deferred,
}

/// Runs the ladder for `text` over `schemas`. `vectors` supplies query vectors for the vector
/// rung (see [`VectorRung`]); when it is `Deferred` and a vector is missing, the vector rung is
/// skipped and the needed `(provider, text)` pairs are returned in
/// `pending`.
pub(crate) fn lookup_fuzzy(
    store: &TenantStore,
    schemas: &BTreeMap<String, TableSchema>,
    text: &str,
    options: &LookupOptions,
    vectors: &QueryVectors,
    vector_rung: VectorRung,
    pending: &mut Vec<crate::sql::QueryText>,
) -> Result<Lookup> {
    let limit = options.limit.unwrap_or(5).clamp(1, 100);
    let text = text.trim();
    let tables: Vec<&TableSchema> = schemas
        .values()
        .filter(|s| options.tables.is_empty() || options.tables.contains(&s.name))
        .collect();
    let mut found: Vec<Candidate> = Vec::new();
    if text.is_empty() || text.len() > 512 || tables.is_empty() {
        return Ok(finish(found, limit));
    }
    // 1. id
    if let Ok(id) = parse_id(text) {
        if let Some(row) = store.get(&id.to_string())? {
            let table = store.table_of(&id.to_string())?.unwrap_or_default();
            if tables.iter().any(|t| t.name == table) {
                found.push(candidate(&table, id, Rung::Id, "id", text, 1.0, row));
                return Ok(finish(found, limit));
            }
        }
    }
    // 2. natural key
    for (table, row) in store.lookup(&[text])? {
        if tables.iter().any(|t| t.name == table) {
            if let Some(id) = row_id(&row) {
                let field = schemas[&table]
                    .key_field
                    .clone()
                    .unwrap_or_else(|| "key".into());
                found.push(candidate(&table, id, Rung::Key, &field, text, 1.0, row));
            }
        }
    }
    if !found.is_empty() {
        return Ok(finish(found, limit));
    }
    // 3. exact name-like field, through indexes where there are some.
    for schema in &tables {
        for field in name_fields(schema) {
            if schema.indexed_fields.contains(&field) {
                let q = IndexQuery::Eq(Value::String(text.to_string()));
                for (id, row) in store.index_lookup(&schema.name, &field, &q, false)? {
                    found.push(candidate(
                        &schema.name,
                        id,
                        Rung::Exact,
                        &field,
                        text,
                        1.0,
                        row,
                    ));
                }
            }
        }
    }
    // 4–6. normalised, prefix, fuzzy: through the tenant's name catalog.
    let cat = super::catalog::catalog(store, schemas)?;
    let allowed = |t: &str| tables.iter().any(|s| s.name == t);
    let wanted = fold(text);
    let mut matched: Vec<(&super::catalog::Name, Rung, f64)> = Vec::new();
    for n in cat.exact(text).filter(|n| allowed(&n.table)) {
        matched.push((n, Rung::Exact, 1.0));
    }
    if !wanted.is_empty() {
        for n in cat.prefixed(&wanted, 200).filter(|n| allowed(&n.table)) {
            if let Some((rung, score)) = judge(&wanted, text, &n.value) {
                matched.push((n, rung, score));
            }
        }
    }
    if matched.is_empty() && wanted.chars().count() >= 3 {
        for (n, score) in cat.similar(&wanted, FUZZY_MIN, 50) {
            if allowed(&n.table) {
                matched.push((n, Rung::Fuzzy, score));
            }
        }
    }
    matched.sort_by(|a, b| a.1.cmp(&b.1).then(b.2.total_cmp(&a.2)));
    let mut fuzzy: Vec<Candidate> = Vec::new();
    for (n, rung, score) in matched.into_iter().take(4 * limit) {
        match n.id {
            Some(id) => {
                if let Some(row) = store.get(&id.to_string())? {
                    fuzzy.push(candidate(
                        &n.table, id, rung, &n.field, &n.value, score, row,
                    ));
                }
            }
            None => {
                let q = IndexQuery::Eq(Value::String(n.value.clone()));
                for (id, row) in store
                    .index_lookup(&n.table, &n.field, &q, false)?
                    .into_iter()
                    .take(limit)
                {
                    fuzzy.push(candidate(
                        &n.table, id, rung, &n.field, &n.value, score, row,
                    ));
                }
            }
        }
    }
    // The scan re-finds index hits; `finish` keeps each entity once, at its best rung.
    found.extend(fuzzy);
    if !found.is_empty() {
        return Ok(finish(found, limit));
    }
    // 7. vector search over tables with embedded fields.
    if vector_rung == VectorRung::Skip {
        return Ok(finish(found, limit));
    }
    for schema in tables.iter().filter(|s| !s.embedding_fields.is_empty()) {
        let query = format!(
            "SELECT * FROM \"{}\" WHERE embedding.cosine($1) LIMIT 3",
            schema.name
        );
        let params = [Value::String(text.to_string())];
        let texts = match store.sql_query_texts(&query, &params) {
            Ok(t) => t,
            Err(_) => continue, // no provider for this table
        };
        let missing: Vec<_> = texts
            .into_iter()
            .filter(|t| !vectors.contains_key(&(t.provider.clone(), t.text.clone())))
            .collect();
        if !missing.is_empty() && vector_rung == VectorRung::Deferred {
            pending.extend(missing);
            continue;
        }
        let result = match store.sql_with_vectors(&query, &params, vectors, &Budget::default()) {
            Ok(r) => r,
            Err(crate::Error::Embedding(_)) => continue, // no embedder here: the rung is skipped
            Err(e) => return Err(e),
        };
        let score_at = result.columns.iter().position(|c| c == "_score");
        for row in crate::ask::exec::rows_of(&result) {
            let score = score_at
                .and_then(|_| row.get("_score"))
                .and_then(Value::as_f64)
                .unwrap_or(0.0);
            if score >= VECTOR_MIN {
                if let Some(id) = row_id(&row) {
                    found.push(candidate(
                        &schema.name,
                        id,
                        Rung::Vector,
                        "embedding",
                        text,
                        score,
                        row,
                    ));
                }
            }
        }
    }
    Ok(finish(found, limit))
}

/// The rung and score at which `value` matches the looked-up text (`wanted` is it folded).
fn judge(wanted: &str, text: &str, value: &str) -> Option<(Rung, f64)> {
    if value == text {
        return Some((Rung::Exact, 1.0));
    }
    let folded = fold(value);
    if folded == wanted {
        return Some((Rung::Normalized, 1.0));
    }
    if wanted.chars().count() >= 3 && folded.starts_with(wanted) {
        // Whole leading words ("ada" of "ada lovelace") beat part of a word ("ada" of "adam"):
        // two names that both start with the text's words are equally good, so ambiguous.
        let whole = folded[wanted.len()..].starts_with(' ');
        return Some((Rung::Prefix, if whole { 0.95 } else { 0.85 }));
    }
    if wanted.chars().count() >= 3 {
        let s = trigram_similarity(wanted, &folded);
        if s >= FUZZY_MIN {
            return Some((Rung::Fuzzy, s));
        }
    }
    None
}

fn row_id(row: &Row) -> Option<Uuid> {
    row.get("id")
        .and_then(Value::as_str)
        .and_then(|s| parse_id(s).ok())
}

fn candidate(
    table: &str,
    id: Uuid,
    rung: Rung,
    field: &str,
    matched: &str,
    score: f64,
    row: Row,
) -> Candidate {
    Candidate {
        table: table.to_string(),
        id,
        rung,
        field: field.to_string(),
        matched: matched.to_string(),
        score,
        row,
    }
}

/// Best rung first, then score; one candidate per entity; ambiguous when the first two are on
/// the same rung within 0.05 of each other.
fn finish(mut found: Vec<Candidate>, limit: usize) -> Lookup {
    found.sort_by(|a, b| {
        a.rung
            .cmp(&b.rung)
            .then(b.score.total_cmp(&a.score))
            .then(a.table.cmp(&b.table))
            .then(a.id.cmp(&b.id))
    });
    let mut seen = std::collections::HashSet::new();
    found.retain(|c| seen.insert(c.id));
    found.truncate(limit);
    let status = match found.as_slice() {
        [] => LookupStatus::NotFound,
        [a, b, ..] if a.rung == b.rung && (a.score - b.score).abs() < 0.05 => {
            LookupStatus::Ambiguous
        }
        _ => LookupStatus::Found,
    };
    Lookup {
        status,
        candidates: found,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rungs_are_judged_in_order() {
        let w = fold("acme corp");
        assert_eq!(
            judge(&w, "acme corp", "acme corp"),
            Some((Rung::Exact, 1.0))
        );
        assert_eq!(
            judge(&w, "acme corp", "Acme-Corp"),
            Some((Rung::Normalized, 1.0))
        );
        assert!(matches!(
            judge(&w, "acme corp", "Acme Corporation"),
            Some((Rung::Prefix, _))
        ));
        assert!(matches!(
            judge(&fold("globex"), "globex", "Globx Inc"),
            None | Some((Rung::Fuzzy, _))
        ));
        assert!(matches!(
            judge(&fold("initech"), "initech", "Initec"),
            Some((Rung::Fuzzy, _))
        ));
        assert_eq!(judge(&fold("zz"), "zz", "zz top"), None);
    }
}
