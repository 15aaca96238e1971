//! Consistent reads for query engines: one KV snapshot, raw row bytes, index id lookups.
//!
//! [`Reader`] hands out row JSON without materialising it, so the SQL executor can decode only
//! the fields a query touches ([`decode_slots`]).

use std::collections::HashSet;

use serde_json::Value;
use uuid::Uuid;

use super::codec::decode_row;
use super::entity::Row;
use super::indexes::{index_ranges, IndexQuery};
use super::keys::trailing_id;
use super::schema::TableSchema;
use super::TenantStore;
use crate::error::{Error, Result};
use crate::kv::{Direction, KvSnapshot};

/// A read-only view of one tenant at one point in time.
pub(crate) struct Reader<'t> {
    tenant: &'t TenantStore,
    snap: Box<dyn KvSnapshot + 't>,
}

impl TenantStore {
    /// A snapshot reader: every read through it sees the same state.
    pub(crate) fn reader(&self) -> Result<Reader<'_>> {
        Ok(Reader {
            tenant: self,
            snap: self.snapshot()?,
        })
    }
}

impl<'t> Reader<'t> {
    /// The tenant read.
    pub(crate) fn tenant(&self) -> &'t TenantStore {
        self.tenant
    }

    /// The schema of `table` (an [`Error::UnknownTable`] when there is none).
    pub(crate) fn schema(&self, table: &str) -> Result<TableSchema> {
        Ok(self.tenant.compiled_schema(table)?.info.clone())
    }

    /// Calls `f(id, deleted, json)` for every row of `table` in id order until it returns `false`.
    pub(crate) fn scan(
        &self,
        table: &str,
        mut f: impl FnMut(Uuid, bool, &[u8]) -> Result<bool>,
    ) -> Result<()> {
        self.snap.visit(
            &self.tenant.keys.rows(table),
            Direction::Forward,
            &mut |key, value| {
                let (deleted, json) = decode_row(value)?;
                f(trailing_id(key)?, deleted, json)
            },
        )
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
    pub(crate) fn index_ids(
        &self,
        table: &str,
        field: &str,
        query: &IndexQuery,
        cap: Option<usize>,
    ) -> Result<Vec<Uuid>> {
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

/// Decodes the fields `names[i]` of a row's JSON object for which `want(i)` holds into `out[i]`
/// (a field the row lacks stays as it is — callers start from nulls). Other fields are skipped
/// without being parsed.
pub(crate) fn decode_slots(
    json: &[u8],
    names: &[String],
    want: &dyn Fn(usize) -> bool,
    out: &mut [Value],
) -> Result<()> {
    let corrupt = |e: serde_json::Error| Error::storage(format!("corrupt row: {e}"));
    let split = top_level_fields(json, |key, value| {
        // Queries name a handful of fields: a length-first linear scan is the fastest lookup.
        if let Some(i) = names
            .iter()
            .position(|n| n.len() == key.len() && n.as_bytes() == key)
        {
            if want(i) {
                out[i] = serde_json::from_slice(value).map_err(corrupt)?;
            }
        }
        Ok(())
    });
    if let Some(done) = split {
        return done;
    }
    // Not the compact form the store writes (or a key with escapes): parse it fully.
    let row: Row = serde_json::from_slice(json).map_err(corrupt)?;
    for (i, name) in names.iter().enumerate() {
        if want(i) {
            if let Some(v) = row.get(name) {
                out[i] = v.clone();
            }
        }
    }
    Ok(())
}

/// Splits a JSON object into its top-level `(key, raw value)` pairs without parsing the values,
/// calling `f` for each (keys as raw bytes: validate the ones you keep). Rows are written compactly by the store, so this is a byte scan; `None`
/// when the input is anything else (whitespace is fine, escaped keys are not) and the caller
/// should parse it with serde_json. Values are only delimited here: `f` parses (and so
/// validates) the ones it needs.
pub(crate) fn top_level_fields(
    json: &[u8],
    mut f: impl FnMut(&[u8], &[u8]) -> Result<()>,
) -> Option<Result<()>> {
    let mut i = skip_ws(json, 0);
    if !matches!(json.get(i), Some(b'{')) {
        return None;
    }
    i = skip_ws(json, i + 1);
    if matches!(json.get(i), Some(b'}')) {
        return (skip_ws(json, i + 1) == json.len()).then_some(Ok(()));
    }
    loop {
        if !matches!(json.get(i), Some(b'"')) {
            return None;
        }
        let start = i + 1;
        let end = find_quote_or_backslash(json, start)?;
        if json[end] != b'"' {
            return None;
        }
        let key = &json[start..end];
        i = skip_ws(json, end + 1);
        if !matches!(json.get(i), Some(b':')) {
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

// The scanners below are `inline(always)`: they run for every field of every row a query
// reads, and at opt-level "z" (the npm core build) they would stay calls.
#[inline(always)]
fn skip_ws(json: &[u8], mut i: usize) -> usize {
    while matches!(json.get(i), Some(b' ' | b'\n' | b'\r' | b'\t')) {
        i += 1;
    }
    i
}

/// Index of the first `"` or `\` at or after `i`.
#[inline(always)]
fn find_quote_or_backslash(json: &[u8], mut i: usize) -> Option<usize> {
    while i < json.len() {
        if matches!(json[i], b'"' | b'\\') {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// End of the string whose opening quote is at `i`.
#[inline(always)]
fn skip_string(json: &[u8], mut i: usize) -> Option<usize> {
    i += 1;
    loop {
        i = find_quote_or_backslash(json, i)?;
        if json[i] == b'"' {
            return Some(i + 1);
        }
        i += 2;
    }
}

/// End of the value starting at `i` (not validated beyond its delimiters).
#[inline(always)]
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
            let len = json[i..]
                .iter()
                .position(|&b| matches!(b, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t'))
                .unwrap_or(json.len() - i);
            (len > 0).then_some(i + len)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decode(json: &[u8], names: &[&str]) -> Result<Vec<Value>> {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut out = vec![Value::Null; names.len()];
        decode_slots(json, &names, &|_| true, &mut out)?;
        Ok(out)
    }

    #[test]
    fn decodes_only_the_asked_fields() {
        let json = br#"{"a":1,"b":{"deep":[1,2,{"x":"y"}]},"c":"s\"q","d\u0065":null}"#;
        assert_eq!(
            decode(json, &["c", "de", "zz"]).unwrap(),
            [json!("s\"q"), json!(null), json!(null)]
        );
        assert_eq!(decode(json, &["a"]).unwrap(), [json!(1)]);
        assert!(decode(b"{\"a\":1", &["c"]).is_err());
        assert!(decode(b"{\"a\":1} x", &["c"]).is_err());
        // Nested values with brackets and quotes inside strings are skipped whole.
        let tricky = br#"{"a":{"x":"}]\"{","y":[1,[2,{"z":null}]]},"c":[true,false],"n":-1.5e3}"#;
        assert_eq!(
            decode(tricky, &["n", "c"]).unwrap(),
            [json!(-1500.0), json!([true, false])]
        );
        assert_eq!(
            decode(b" { \"c\" : 1 , \"d\":2 } ", &["c"]).unwrap(),
            [json!(1)]
        );
        // Only the wanted slots are filled.
        let names = vec!["a".to_string(), "c".to_string()];
        let mut out = vec![Value::Null; 2];
        decode_slots(br#"{"a":1,"c":2}"#, &names, &|i| i == 1, &mut out).unwrap();
        assert_eq!(out, [json!(null), json!(2)]);
        // Corrupt values are errors, not guesses.
        for bad in [&b"{\"c\":tru}"[..], b"{\"c\":[1,2}", b"{\"c\":\"x}", b""] {
            assert!(
                decode(bad, &["c"]).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(decode(b"{}", &["c"]).unwrap(), [json!(null)]);
    }
}
