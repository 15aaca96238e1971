//! Secondary-index lookups (equality, IN, ranges) over `indexed_fields`, for the SQL planner.

use std::ops::Bound;

use serde_json::Value;
use uuid::Uuid;

use super::codec::{encode_index_value, tag_of};
use super::entity::Row;
use super::row_format::decode_row;
use super::TenantStore;
use crate::error::{Error, Result};
use crate::kv::{prefix_successor, KeyRange};

/// A lookup on one indexed field. Values compare as the index orders them: null < false < true <
/// numbers (ints and floats numerically) < strings (by UTF-8 bytes). Ranges stay within the type
/// of their bound (`< 10` never returns strings or nulls).
#[derive(Debug, Clone, PartialEq)]
pub enum IndexQuery {
    /// `field = value` (for array fields: any element equals `value`).
    Eq(Value),
    /// `field IN (values)`.
    In(Vec<Value>),
    /// `lower <(=) field <(=) upper`.
    Range {
        /// Lower bound.
        lower: Bound<Value>,
        /// Upper bound.
        upper: Bound<Value>,
    },
}

impl TenantStore {
    /// Ids of rows of `table` matching `query` on the indexed `field`, in index order, each once.
    pub(crate) fn index_lookup_ids(
        &self,
        table: &str,
        field: &str,
        query: &IndexQuery,
        include_deleted: bool,
    ) -> Result<Vec<Uuid>> {
        Ok(self
            .index_lookup(table, field, query, include_deleted)?
            .into_iter()
            .map(|(id, _)| id)
            .collect())
    }

    /// Rows of `table` matching `query` on the indexed `field`, in index order, each once.
    pub(crate) fn index_lookup(
        &self,
        table: &str,
        field: &str,
        query: &IndexQuery,
        include_deleted: bool,
    ) -> Result<Vec<(Uuid, Row)>> {
        let schema = self.compiled_schema(table)?;
        if !schema.info.indexed_fields.iter().any(|f| f == field) {
            return Err(Error::InvalidArgument(format!(
                "`{field}` is not an indexed field of `{table}`; indexed fields: {}",
                if schema.info.indexed_fields.is_empty() {
                    "(none)".to_string()
                } else {
                    schema.info.indexed_fields.join(", ")
                }
            )));
        }
        let reader = self.reader()?;
        let mut out = Vec::new();
        for id in reader.index_ids(table, field, query, None)? {
            let value = reader.indexed_row(table, &id)?;
            let row = decode_row(&value)?;
            if include_deleted || !row.deleted {
                out.push((id, row.to_row()?));
            }
        }
        Ok(out)
    }
}

impl TenantStore {
    /// The distinct string values of the indexed `field` of `table`, in byte order, at most
    /// `max` of them (`complete` is false when there were more). One seek per value, so the
    /// cost is O(distinct values), not O(rows). Soft-deleted rows' values are included.
    pub(crate) fn distinct_index_strings(
        &self,
        table: &str,
        field: &str,
        max: usize,
    ) -> Result<(Vec<String>, bool)> {
        let prefix = self.keys.index_field(table, field);
        let snap = self.snapshot()?;
        let strings = [prefix.as_slice(), &[super::codec::TAG_STRING]].concat();
        let end = prefix_successor(&strings);
        let mut start = strings.clone();
        let mut values = Vec::new();
        loop {
            let range = KeyRange {
                start: Bound::Included(start.clone()),
                end: end.clone().map_or(Bound::Unbounded, Bound::Excluded),
            };
            // Only the first key is wanted: a visit stops there, where a scan iterator would
            // copy a whole chunk of pairs out first.
            let mut first = None;
            snap.visit(&range, crate::kv::Direction::Forward, &mut |key, _| {
                first = Some(key.to_vec());
                Ok(false)
            })?;
            let Some(key) = first else {
                return Ok((values, true));
            };
            let Some((value, id)) = super::codec::decode_index_string(&key[prefix.len()..]) else {
                return Err(Error::storage(format!(
                    "corrupt index key of `{table}.{field}`"
                )));
            };
            if values.len() == max {
                return Ok((values, false));
            }
            // Past every entry of this value: the encoded value is never a prefix of another.
            let encoded_len = key.len() - id.len();
            match prefix_successor(&key[..encoded_len]) {
                Some(next) => start = next,
                None => {
                    values.push(value);
                    return Ok((values, true));
                }
            }
            values.push(value);
        }
    }
}

/// The key ranges of the index entries `query` matches under `prefix` (one per IN value).
pub(crate) fn index_ranges(prefix: &[u8], query: &IndexQuery) -> Vec<KeyRange> {
    match query {
        IndexQuery::Eq(v) => vec![eq_range(prefix, v)],
        IndexQuery::In(values) => values.iter().map(|v| eq_range(prefix, v)).collect(),
        IndexQuery::Range { lower, upper } => vec![bounds_range(prefix, lower, upper)],
    }
}

fn encoded(prefix: &[u8], v: &Value) -> Vec<u8> {
    let mut k = prefix.to_vec();
    encode_index_value(v, &mut k);
    k
}

fn eq_range(prefix: &[u8], v: &Value) -> KeyRange {
    KeyRange::prefix(&encoded(prefix, v))
}

fn class_range(prefix: &[u8], tag: u8) -> (Vec<u8>, Vec<u8>) {
    ([prefix, &[tag]].concat(), [prefix, &[tag + 1]].concat())
}

fn bounds_range(prefix: &[u8], lower: &Bound<Value>, upper: &Bound<Value>) -> KeyRange {
    let tag = match (lower, upper) {
        (Bound::Included(v) | Bound::Excluded(v), _)
        | (_, Bound::Included(v) | Bound::Excluded(v)) => Some(tag_of(v)),
        _ => None,
    };
    let start = match lower {
        Bound::Included(v) => Bound::Included(encoded(prefix, v)),
        Bound::Excluded(v) => match prefix_successor(&encoded(prefix, v)) {
            Some(s) => Bound::Included(s),
            None => Bound::Unbounded,
        },
        Bound::Unbounded => match tag {
            Some(t) => Bound::Included(class_range(prefix, t).0),
            None => Bound::Included(prefix.to_vec()),
        },
    };
    let end = match upper {
        Bound::Included(v) => match prefix_successor(&encoded(prefix, v)) {
            Some(e) => Bound::Excluded(e),
            None => Bound::Unbounded,
        },
        Bound::Excluded(v) => Bound::Excluded(encoded(prefix, v)),
        Bound::Unbounded => match tag {
            Some(t) => Bound::Excluded(class_range(prefix, t).1),
            None => prefix_successor(prefix).map_or(Bound::Unbounded, Bound::Excluded),
        },
    };
    KeyRange { start, end }
}
