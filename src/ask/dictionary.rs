//! The per-tenant value dictionary: the values a question's words can be matched against.
//!
//! It holds every string `enum` value of every table's properties, and the distinct values of
//! every indexed string field that has at most [`MAX_VALUES_PER_FIELD`] of them (read from the
//! index, one seek per value; fields with more — names, emails, uris — are left to the lookup
//! ladder). Values longer than [`MAX_VALUE_LEN`] bytes are left out. A dictionary is built
//! from one tenant state and cached by the tenant's WAL sequence number, which every write
//! moves: a question after a write rebuilds it, questions between writes share it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::cache::TenantCache;

use serde_json::Value;

use super::plan::{enum_values, property};
use super::text::fold;
use crate::error::Result;
use crate::store::{TableSchema, TenantStore};

/// Most distinct values an indexed field may have to be in the dictionary.
pub const MAX_VALUES_PER_FIELD: usize = 256;
/// Longest value kept, in bytes.
pub const MAX_VALUE_LEN: usize = 64;
/// Dictionaries kept in the process-wide cache.
const CACHED: usize = 16;

/// One value of one field.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DictValue {
    /// The table.
    pub table: String,
    /// The field.
    pub field: String,
    /// The value as stored.
    pub value: Value,
}

/// Folded value text → the fields that hold it.
#[derive(Debug, Default)]
pub(crate) struct Dictionary {
    /// By folded text ([`fold`]).
    pub values: HashMap<String, Vec<DictValue>>,
    /// Most words in one folded value (the longest n-gram worth matching).
    pub max_words: usize,
}

impl Dictionary {
    fn add(&mut self, table: &str, field: &str, value: Value) {
        let Some(text) = value.as_str() else { return };
        if text.is_empty() || text.len() > MAX_VALUE_LEN {
            return;
        }
        let key = fold(text);
        if key.is_empty() {
            return;
        }
        self.max_words = self.max_words.max(key.split(' ').count());
        let entry = self.values.entry(key).or_default();
        let v = DictValue {
            table: table.to_string(),
            field: field.to_string(),
            value,
        };
        if !entry.contains(&v) {
            entry.push(v);
        }
    }

    /// The fields holding the value whose folded text is `text`.
    pub fn get(&self, text: &str) -> &[DictValue] {
        self.values.get(text).map_or(&[], Vec::as_slice)
    }
}

fn is_string_field(schema: &TableSchema, field: &str) -> bool {
    let Some(p) = property(schema, field) else {
        return false;
    };
    let is_string = |t: &Value| match t {
        Value::String(s) => s == "string",
        Value::Array(a) => a.iter().any(|x| x == "string"),
        _ => false,
    };
    p.get("type").is_some_and(is_string)
        || p.get("items")
            .and_then(|i| i.get("type"))
            .is_some_and(is_string)
        || p.get("enum").is_some()
}

fn build(store: &TenantStore, schemas: &BTreeMap<String, TableSchema>) -> Result<Dictionary> {
    let mut dict = Dictionary::default();
    for schema in schemas.values() {
        for field in &schema.fields {
            for v in enum_values(schema, field) {
                dict.add(&schema.name, field, v);
            }
        }
        for field in &schema.indexed_fields {
            if !is_string_field(schema, field) {
                continue;
            }
            let (values, complete) =
                store.distinct_index_strings(&schema.name, field, MAX_VALUES_PER_FIELD)?;
            if complete {
                for v in values {
                    dict.add(&schema.name, field, Value::String(v));
                }
            }
        }
    }
    Ok(dict)
}

static DICTIONARIES: TenantCache<Dictionary> = TenantCache::new(CACHED);

/// The dictionary of the tenant as it is now (cached by WAL sequence number).
pub(crate) fn dictionary(
    store: &TenantStore,
    schemas: &BTreeMap<String, TableSchema>,
) -> Result<Arc<Dictionary>> {
    DICTIONARIES.get_or_build(store, || build(store, schemas))
}

/// The text a table is known by when a question names none: its name, description and its
/// fields with their descriptions.
pub(crate) fn table_text(schema: &TableSchema) -> String {
    let mut text = format!(
        "{}: {}",
        schema.name,
        schema.description.as_deref().unwrap_or("")
    );
    for f in &schema.fields {
        match property(schema, f)
            .and_then(|p| p.get("description"))
            .and_then(Value::as_str)
        {
            Some(d) => text.push_str(&format!("; {f}: {d}")),
            None => text.push_str(&format!("; {f}")),
        }
    }
    text
}
