//! Consistent reads for query engines: one KV snapshot, raw row bytes, index id lookups.
//!
//! [`Reader`] hands out row JSON without materialising it, so the SQL executor can decode only
//! the fields a query touches ([`decode_fields`]).

use std::borrow::Cow;
use std::collections::HashSet;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use uuid::Uuid;

use super::codec::decode_row;
use super::entity::Row;
use super::indexes::{index_ranges, IndexQuery};
use super::keys::trailing_id;
use super::schema::TableSchema;
use super::Tenant;
use crate::error::{Error, Result};
use crate::kv::{Direction, KvSnapshot};

/// A read-only view of one tenant at one point in time.
pub(crate) struct Reader<'t> {
    tenant: &'t Tenant,
    snap: Box<dyn KvSnapshot + 't>,
}

impl Tenant {
    /// A snapshot reader: every read through it sees the same state.
    pub(crate) fn reader(&self) -> Result<Reader<'_>> {
        Ok(Reader { tenant: self, snap: self.snapshot()? })
    }
}

impl<'t> Reader<'t> {
    /// The tenant read.
    pub(crate) fn tenant(&self) -> &'t Tenant {
        self.tenant
    }

    /// The schema of `table` (an [`Error::UnknownTable`] when there is none).
    pub(crate) fn schema(&self, table: &str) -> Result<TableSchema> {
        Ok(self.tenant.compiled_schema(table)?.info.clone())
    }

    /// Calls `f(id, deleted, json)` for every row of `table` in id order until it returns `false`.
    pub(crate) fn scan(&self, table: &str, mut f: impl FnMut(Uuid, bool, &[u8]) -> Result<bool>) -> Result<()> {
        self.snap.visit(&self.tenant.keys.rows(table), Direction::Forward, &mut |key, value| {
            let (deleted, json) = decode_row(value)?;
            f(trailing_id(key)?, deleted, json)
        })
    }

    /// Row `id` of `table` as `(deleted, json)`.
    pub(crate) fn row(&self, table: &str, id: &Uuid) -> Result<Option<(bool, Vec<u8>)>> {
        match self.snap.get(&self.tenant.keys.row(table, id))? {
            Some(mut value) => {
                let deleted = decode_row(&value)?.0;
                value.remove(0);
                Ok(Some((deleted, value)))
            }
            None => Ok(None),
        }
    }

    /// Ids of rows (soft-deleted ones included) whose indexed `field` matches `query`, in index
    /// order, each once; at most `cap` when given.
    pub(crate) fn index_ids(&self, table: &str, field: &str, query: &IndexQuery, cap: Option<usize>) -> Result<Vec<Uuid>> {
        let prefix = self.tenant.keys.index_field(table, field);
        let cap = cap.unwrap_or(usize::MAX);
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for range in index_ranges(&prefix, query) {
            for pair in self.snap.scan(&range, Direction::Forward)? {
                let (key, _) = pair?;
                let id = trailing_id(&key)?;
                if seen.insert(id) {
                    out.push(id);
                    if out.len() >= cap {
                        return Ok(out);
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Which top-level fields of a row to decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fields {
    /// Every field.
    All,
    /// Only these.
    Only(Vec<String>),
}

impl Fields {
    /// `true` when `name` is decoded.
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.contains_bytes(name.as_bytes())
    }

    /// `true` when the field named by these bytes is decoded.
    pub(crate) fn contains_bytes(&self, name: &[u8]) -> bool {
        match self {
            Fields::All => true,
            // Queries name a handful of fields: a length-first linear scan beats a binary search.
            Fields::Only(names) => names.iter().any(|n| n.len() == name.len() && n.as_bytes() == name),
        }
    }
}

/// Decodes the `fields` of a row's JSON object, skipping the others without allocating.
pub(crate) fn decode_fields(json: &[u8], fields: &Fields) -> Result<Row> {
    let corrupt = |e: serde_json::Error| Error::storage(format!("corrupt row: {e}"));
    match fields {
        Fields::All => serde_json::from_slice(json).map_err(corrupt),
        Fields::Only(_) => {
            let mut row = Row::new();
            let split = top_level_fields(json, |key, value| {
                if fields.contains_bytes(key) {
                    let key = std::str::from_utf8(key).map_err(|_| Error::storage("corrupt row: a key is not UTF-8"))?;
                    row.insert(key.to_string(), serde_json::from_slice(value).map_err(corrupt)?);
                }
                Ok(())
            });
            if let Some(done) = split {
                return done.map(|()| row);
            }
            // Not the compact form the store writes (or a key with escapes): parse it fully.
            let mut de = serde_json::Deserializer::from_slice(json);
            let row = FieldsSeed(fields).deserialize(&mut de).map_err(corrupt)?;
            de.end().map_err(corrupt)?;
            Ok(row)
        }
    }
}

/// Splits a JSON object into its top-level `(key, raw value)` pairs without parsing the values,
/// calling `f` for each (keys as raw bytes: validate the ones you keep). Rows are written compactly by the store, so this is a byte scan; `None`
/// when the input is anything else (whitespace is fine, escaped keys are not) and the caller
/// should parse it with serde_json. Values are only delimited here: `f` parses (and so
/// validates) the ones it needs.
pub(crate) fn top_level_fields(json: &[u8], mut f: impl FnMut(&[u8], &[u8]) -> Result<()>) -> Option<Result<()>> {
    let mut i = skip_ws(json, 0);
    if json.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(json, i + 1);
    if json.get(i) == Some(&b'}') {
        return (skip_ws(json, i + 1) == json.len()).then_some(Ok(()));
    }
    loop {
        if json.get(i) != Some(&b'"') {
            return None;
        }
        let start = i + 1;
        let len = json.get(start..)?.iter().position(|&b| b == b'"' || b == b'\\')?;
        if json[start + len] != b'"' {
            return None;
        }
        let key = &json[start..start + len];
        i = skip_ws(json, start + len + 1);
        if json.get(i) != Some(&b':') {
            return None;
        }
        let value_start = skip_ws(json, i + 1);
        let value_end = skip_value(json, value_start)?;
        if let Err(e) = f(key, &json[value_start..value_end]) {
            return Some(Err(e));
        }
        i = skip_ws(json, value_end);
        match json.get(i) {
            Some(b',') => i = skip_ws(json, i + 1),
            Some(b'}') => return (skip_ws(json, i + 1) == json.len()).then_some(Ok(())),
            _ => return None,
        }
    }
}

fn skip_ws(json: &[u8], mut i: usize) -> usize {
    while matches!(json.get(i), Some(b' ' | b'\n' | b'\r' | b'\t')) {
        i += 1;
    }
    i
}

/// End of the string whose opening quote is at `i`.
fn skip_string(json: &[u8], mut i: usize) -> Option<usize> {
    i += 1;
    loop {
        i += json.get(i..)?.iter().position(|&b| b == b'"' || b == b'\\')?;
        if json[i] == b'"' {
            return Some(i + 1);
        }
        i += 2;
    }
}

/// End of the value starting at `i` (not validated beyond its delimiters).
fn skip_value(json: &[u8], i: usize) -> Option<usize> {
    match *json.get(i)? {
        b'"' => skip_string(json, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            loop {
                match *json.get(j)? {
                    b'"' => {
                        j = skip_string(json, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            let len = json[i..].iter().position(|&b| matches!(b, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t')).unwrap_or(json.len() - i);
            (len > 0).then_some(i + len)
        }
    }
}

struct FieldsSeed<'f>(&'f Fields);

impl<'de> DeserializeSeed<'de> for FieldsSeed<'_> {
    type Value = Row;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<Row, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FieldsSeed<'_> {
    type Value = Row;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a row object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Row, A::Error> {
        let mut row = Row::new();
        while let Some(Key(key)) = map.next_key()? {
            if self.0.contains(&key) {
                row.insert(key.into_owned(), map.next_value::<Value>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(row)
    }
}

/// An object key, borrowed from the input when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> std::result::Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> std::result::Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> std::result::Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_only_the_asked_fields() {
        let json = br#"{"a":1,"b":{"deep":[1,2,{"x":"y"}]},"c":"s\"q","d\u0065":null}"#;
        let only = Fields::Only(vec!["c".into(), "de".into()]);
        let row = decode_fields(json, &only).unwrap();
        assert_eq!(Value::Object(row), json!({"c": "s\"q", "de": null}));
        assert_eq!(decode_fields(json, &Fields::All).unwrap().len(), 4);
        assert!(decode_fields(b"{\"a\":1", &only).is_err());
        assert!(decode_fields(b"{\"a\":1} x", &only).is_err());
        // Nested values with brackets and quotes inside strings are skipped whole.
        let tricky = br#"{"a":{"x":"}]\"{","y":[1,[2,{"z":null}]]},"c":[true,false],"n":-1.5e3}"#;
        let row = decode_fields(tricky, &Fields::Only(vec!["c".into(), "n".into()])).unwrap();
        assert_eq!(Value::Object(row), json!({"c": [true, false], "n": -1500.0}));
        let row = decode_fields(b" { \"c\" : 1 , \"d\":2 } ", &Fields::Only(vec!["c".into()])).unwrap();
        assert_eq!(Value::Object(row), json!({"c": 1}));
        // Corrupt values are errors, not guesses.
        assert!(decode_fields(b"{\"c\":tru}", &only).is_err());
        assert!(decode_fields(b"{\"c\":[1,2}", &only).is_err());
        assert!(decode_fields(b"{\"c\":\"x}", &only).is_err());
        assert!(decode_fields(b"", &only).is_err());
        assert!(decode_fields(b"{}", &only).unwrap().is_empty());
    }
}
