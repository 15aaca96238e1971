//! The name catalog: every name-like value of a tenant (key fields, `name`, `title`, `uri`,
//! `email`, `aliases`, ...; see [`name_fields`]) with the entity it names, indexed for the
//! lookup ladder's exact, normalised, prefix and fuzzy rungs, so a lookup costs a few map
//! probes instead of a table scan.
//!
//! Tables of at most [`SCAN_ROWS`] rows are read whole; larger ones contribute the distinct
//! values of their indexed name-like fields (at most [`INDEX_VALUES`] per field), resolved to
//! rows through the index when matched. Like the value dictionary, a catalog is built from one
//! tenant state and cached by the tenant's WAL sequence number: the first lookup after a write
//! rebuilds it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::Value;
use uuid::Uuid;

use super::cache::TenantCache;
use super::lookup::name_fields;
use super::text::{fold, trigram_similarity, trigrams};
use crate::error::Result;
use crate::store::{TableSchema, TenantStore};

/// Largest table read row by row into the catalog.
pub const SCAN_ROWS: u64 = 20_000;
/// Most distinct values read from one index of a larger table.
pub const INDEX_VALUES: usize = 5_000;
/// Longest value catalogued, in bytes.
const MAX_NAME_LEN: usize = 256;
/// Catalogs kept in the process-wide cache.
const CACHED: usize = 8;

/// One name of one entity (or, from an index, of the entities holding it).
#[derive(Debug, Clone)]
pub(crate) struct Name {
    pub table: String,
    pub field: String,
    pub value: String,
    /// `None` for a value read from an index: resolve it with an index lookup.
    pub id: Option<Uuid>,
}

/// The names of a tenant, indexed.
#[derive(Debug, Default)]
pub(crate) struct Catalog {
    pub names: Vec<Name>,
    /// Exact value → names.
    exact: HashMap<String, Vec<u32>>,
    /// Folded value ([`fold`]) → names, sorted by folded value for prefix ranges.
    folded: Vec<(String, u32)>,
    /// Trigram → names containing it.
    grams: HashMap<[char; 3], Vec<u32>>,
}

impl Catalog {
    fn add(&mut self, name: Name) {
        if name.value.is_empty() || name.value.len() > MAX_NAME_LEN {
            return;
        }
        let i = self.names.len() as u32;
        self.exact.entry(name.value.clone()).or_default().push(i);
        self.folded.push((fold(&name.value), i));
        for g in trigrams(&name.value) {
            self.grams.entry(g).or_default().push(i);
        }
        self.names.push(name);
    }

    fn seal(&mut self) {
        self.folded.sort_unstable();
    }

    /// Names whose value is exactly `text`.
    pub fn exact(&self, text: &str) -> impl Iterator<Item = &Name> {
        self.exact
            .get(text)
            .into_iter()
            .flatten()
            .map(|&i| &self.names[i as usize])
    }

    /// Names whose folded value starts with `folded` (equal ones included), at most `max`.
    pub fn prefixed<'a>(
        &'a self,
        folded: &'a str,
        max: usize,
    ) -> impl Iterator<Item = &'a Name> + 'a {
        let start = self.folded.partition_point(|(v, _)| v.as_str() < folded);
        self.folded[start..]
            .iter()
            .take_while(move |(v, _)| v.starts_with(folded))
            .take(max)
            .map(|&(_, i)| &self.names[i as usize])
    }

    /// Names sharing enough trigrams with `text` to reach `min` similarity, with it, best
    /// first, at most `max`.
    pub fn similar(&self, text: &str, min: f64, max: usize) -> Vec<(&Name, f64)> {
        let wanted = trigrams(text);
        if wanted.is_empty() {
            return Vec::new();
        }
        let mut shared: HashMap<u32, u32> = HashMap::new();
        for g in &wanted {
            for &i in self.grams.get(g).into_iter().flatten() {
                *shared.entry(i).or_default() += 1;
            }
        }
        // Jaccard ≥ min needs at least min · |wanted| shared trigrams.
        let need = (min * wanted.len() as f64).ceil() as u32;
        let mut out: Vec<(&Name, f64)> = shared
            .into_iter()
            .filter(|&(_, n)| n >= need.max(1))
            .map(|(i, _)| {
                let name = &self.names[i as usize];
                (name, trigram_similarity(text, &name.value))
            })
            .filter(|&(_, s)| s >= min)
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.value.cmp(&b.0.value)));
        out.truncate(max);
        out
    }
}

fn strings(value: Option<&Value>) -> Vec<&str> {
    match value {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn build(store: &TenantStore, schemas: &BTreeMap<String, TableSchema>) -> Result<Catalog> {
    let mut catalog = Catalog::default();
    for schema in schemas.values() {
        let fields = name_fields(schema);
        if fields.is_empty() {
            continue;
        }
        if store.count(&schema.name, false)? <= SCAN_ROWS {
            let mut names = Vec::new();
            store.for_each_row(&schema.name, false, |id, row| {
                for field in &fields {
                    for value in strings(row.get(field)) {
                        names.push(Name {
                            table: schema.name.clone(),
                            field: field.clone(),
                            value: value.to_string(),
                            id: Some(id),
                        });
                    }
                }
                true
            })?;
            names.into_iter().for_each(|n| catalog.add(n));
        } else {
            for field in fields.iter().filter(|f| schema.indexed_fields.contains(f)) {
                let (values, _) =
                    store.distinct_index_strings(&schema.name, field, INDEX_VALUES)?;
                for value in values {
                    catalog.add(Name {
                        table: schema.name.clone(),
                        field: field.clone(),
                        value,
                        id: None,
                    });
                }
            }
        }
    }
    catalog.seal();
    Ok(catalog)
}

static CATALOGS: TenantCache<Catalog> = TenantCache::new(CACHED);

/// The catalog of the tenant as it is now (cached by WAL sequence number).
pub(crate) fn catalog(
    store: &TenantStore,
    schemas: &BTreeMap<String, TableSchema>,
) -> Result<Arc<Catalog>> {
    CATALOGS.get_or_build(store, || build(store, schemas))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog(values: &[&str]) -> Catalog {
        let mut c = Catalog::default();
        for v in values {
            c.add(Name {
                table: "t".into(),
                field: "name".into(),
                value: v.to_string(),
                id: None,
            });
        }
        c.seal();
        c
    }

    #[test]
    fn exact_prefix_and_similar() {
        let c = catalog(&[
            "Acme Corp",
            "Acme-Corp EU",
            "Globex",
            "Grace Hopper",
            "ACME",
        ]);
        assert_eq!(c.exact("Globex").count(), 1);
        let p: Vec<&str> = c.prefixed("acme", 10).map(|n| n.value.as_str()).collect();
        assert_eq!(p, ["ACME", "Acme Corp", "Acme-Corp EU"]);
        let s = c.similar("grace hoper", 0.45, 5);
        assert_eq!(s[0].0.value, "Grace Hopper");
        assert!(c.similar("zzzz", 0.45, 5).is_empty());
    }
}
