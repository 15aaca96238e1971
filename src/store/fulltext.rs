//! The full-text (BM25) index: kept by the write path in the same batch as the rows, read by the
//! query side (`src/fulltext`).
//!
//! One index per (table, field) of the table's `fulltext_fields`, under
//! `T<table>\0<field>\0` ([`Keys::fulltext_field`]), then one kind byte:
//!
//! | key after the field prefix | value                                                     |
//! |----------------------------|-----------------------------------------------------------|
//! | `p<term>\0<id:16>`         | posting: varint field length, varint tf, tf varint position deltas |
//! | `d<term>`                  | document frequency (u64 BE): rows whose field holds `term` |
//! | `n`                        | rows indexed (u64 BE): live rows whose field is a string  |
//! | `l`                        | total length of those fields in terms (u64 BE)           |
//!
//! A query reads only the postings of its own terms (one prefix scan per term), the dictionary
//! entries `d` it needs (prefix queries scan `d<prefix>`), and the two statistics. Each posting
//! carries the field's length, so scoring never reads another key per row.
//!
//! Only live rows are indexed: soft-deleting a row removes its postings (and its share of the
//! statistics), undeleting (an upsert of the row) adds them back, so deleted rows never match
//! and the statistics count live rows only.

use std::collections::HashMap;

use uuid::Uuid;

use super::entity::Row;
use super::is_deleted;
use super::keys::{decode_u64, Keys};
use super::schema::TableSchema;
use super::write::WriteTx;
use crate::error::{Error, Result};
use crate::kv::{Direction, KeyRange, KvSnapshot};
use crate::tokenize::Analyzer;

const POSTING: u8 = b'p';
const DICT: u8 = b'd';
const DOCS: u8 = b'n';
const LENGTH: u8 = b'l';

fn sub(prefix: &[u8], kind: u8, term: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + 2 + term.len() + 16);
    k.extend_from_slice(prefix);
    k.push(kind);
    k.extend_from_slice(term.as_bytes());
    k
}

/// Prefix of the postings of `term` under a field prefix.
fn postings_prefix(prefix: &[u8], term: &str) -> Vec<u8> {
    let mut k = sub(prefix, POSTING, term);
    k.push(0);
    k
}

fn push_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn read_varint(bytes: &[u8], at: &mut usize) -> Result<u64> {
    let mut v: u64 = 0;
    for shift in (0..64).step_by(7) {
        let b = *bytes
            .get(*at)
            .ok_or_else(|| Error::storage("corrupt full-text posting"))?;
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(Error::storage("corrupt full-text posting"))
}

/// One field of one row as the index sees it: its length and each term's positions.
struct Doc {
    len: u64,
    terms: HashMap<String, Vec<u32>>,
}

impl Doc {
    fn new(analyzer: &Analyzer, text: &str) -> Doc {
        let words = analyzer.terms(text);
        let len = words.len() as u64;
        let mut terms: HashMap<String, Vec<u32>> = HashMap::new();
        for (pos, term) in words.into_iter().enumerate() {
            if !term.is_empty() {
                terms
                    .entry(term)
                    .or_default()
                    .push(u32::try_from(pos).unwrap_or(u32::MAX));
            }
        }
        Doc { len, terms }
    }

    fn posting(&self, positions: &[u32]) -> Vec<u8> {
        let mut v = Vec::with_capacity(4 + positions.len() * 2);
        push_varint(&mut v, self.len);
        push_varint(&mut v, positions.len() as u64);
        let mut last = 0u32;
        for &p in positions {
            push_varint(&mut v, u64::from(p - last));
            last = p;
        }
        v
    }
}

/// The text of `field` in `row` when the row is live and the field a string.
fn indexed_text<'r>(row: Option<&'r Row>, field: &str) -> Option<&'r str> {
    row.filter(|r| !is_deleted(r))
        .and_then(|r| r.get(field))
        .and_then(|v| v.as_str())
}

impl WriteTx<'_> {
    /// Updates the full-text index of row `id` of `schema`'s table from `old` to `new` (either
    /// absent): postings of terms gone are deleted, those of the new text written, and the
    /// dictionary and statistics counters moved by the difference.
    pub(super) fn update_fulltext(
        &mut self,
        schema: &TableSchema,
        id: &Uuid,
        old: Option<&Row>,
        new: Option<&Row>,
    ) -> Result<()> {
        if schema.fulltext_fields.is_empty() {
            return Ok(());
        }
        let mut analyzer = None;
        for field in &schema.fulltext_fields {
            let (old_text, new_text) = (indexed_text(old, field), indexed_text(new, field));
            if old_text == new_text {
                continue;
            }
            let analyzer = match &analyzer {
                Some(a) => a,
                None => analyzer.insert(Analyzer::new(&schema.fulltext_stemmer)?),
            };
            let old_doc = old_text.map(|t| Doc::new(analyzer, t));
            let new_doc = new_text.map(|t| Doc::new(analyzer, t));
            let prefix = self.keys().fulltext_field(&schema.name, field);
            let posting_key = |term: &str| {
                let mut k = postings_prefix(&prefix, term);
                k.extend_from_slice(id.as_bytes());
                k
            };
            if let Some(od) = &old_doc {
                for term in od.terms.keys() {
                    if !new_doc.as_ref().is_some_and(|n| n.terms.contains_key(term)) {
                        self.batch.delete(posting_key(term));
                        self.ft_count(sub(&prefix, DICT, term), -1);
                    }
                }
                self.ft_count(sub(&prefix, DOCS, ""), -1);
                self.ft_count(sub(&prefix, LENGTH, ""), -(od.len as i64));
            }
            if let Some(nd) = &new_doc {
                for (term, positions) in &nd.terms {
                    self.batch.put(posting_key(term), nd.posting(positions));
                    if !old_doc.as_ref().is_some_and(|o| o.terms.contains_key(term)) {
                        self.ft_count(sub(&prefix, DICT, term), 1);
                    }
                }
                self.ft_count(sub(&prefix, DOCS, ""), 1);
                self.ft_count(sub(&prefix, LENGTH, ""), nd.len as i64);
            }
        }
        Ok(())
    }

    fn ft_count(&mut self, key: Vec<u8>, delta: i64) {
        *self.ft_counters.entry(key).or_default() += delta;
    }

    /// Drops the whole full-text index of `schema`'s table and indexes `rows` (every row of the
    /// table as this transaction sees it) under the schema's fields and stemmer.
    pub(super) fn rebuild_fulltext(
        &mut self,
        schema: &TableSchema,
        rows: &[(Uuid, Row)],
    ) -> Result<()> {
        let prefix = self.keys().fulltext_table(&schema.name);
        if let Some(end) = crate::kv::prefix_successor(&prefix) {
            self.batch.delete_range(prefix.clone(), end);
        }
        self.ft_counters.retain(|k, _| !k.starts_with(&prefix));
        self.ft_rebuilt.push(prefix);
        for (id, row) in rows {
            self.update_fulltext(schema, id, None, Some(row))?;
        }
        Ok(())
    }

    /// Adds the full-text counters to the batch (a counter back at zero is deleted).
    pub(super) fn finish_fulltext(&mut self) -> Result<()> {
        for (key, delta) in std::mem::take(&mut self.ft_counters) {
            if delta == 0 {
                continue;
            }
            let current = if self.ft_rebuilt.iter().any(|p| key.starts_with(p)) {
                0
            } else {
                match self.snapshot().get(&key)? {
                    Some(v) => decode_u64(&v)?,
                    None => 0,
                }
            };
            let next = current
                .checked_add_signed(delta)
                .ok_or_else(|| Error::storage("full-text counter out of range"))?;
            if next == 0 {
                self.batch.delete(key);
            } else {
                self.batch.put(key, next.to_be_bytes());
            }
        }
        Ok(())
    }
}

/// Statistics of one field's index.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct FieldStats {
    /// Rows indexed.
    pub(crate) docs: u64,
    /// Their total length in terms.
    pub(crate) total_len: u64,
}

/// One posting read back.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Posting {
    /// The row.
    pub(crate) id: Uuid,
    /// The field's length in terms.
    pub(crate) len: u32,
    /// How often the term occurs.
    pub(crate) tf: u32,
    /// Where (empty unless asked for).
    pub(crate) positions: Vec<u32>,
}

/// Read access to one field's index in one snapshot.
pub(crate) struct FieldIndex<'s> {
    snap: &'s dyn KvSnapshot,
    prefix: Vec<u8>,
}

fn counter(snap: &dyn KvSnapshot, key: &[u8]) -> Result<u64> {
    match snap.get(key)? {
        Some(v) => decode_u64(&v),
        None => Ok(0),
    }
}

impl<'s> FieldIndex<'s> {
    /// The index of `field` of `table`.
    pub(crate) fn new(snap: &'s dyn KvSnapshot, keys: &Keys, table: &str, field: &str) -> Self {
        FieldIndex {
            snap,
            prefix: keys.fulltext_field(table, field),
        }
    }

    /// Rows indexed and their total length.
    pub(crate) fn stats(&self) -> Result<FieldStats> {
        Ok(FieldStats {
            docs: counter(self.snap, &sub(&self.prefix, DOCS, ""))?,
            total_len: counter(self.snap, &sub(&self.prefix, LENGTH, ""))?,
        })
    }

    /// How many rows hold `term`.
    pub(crate) fn doc_freq(&self, term: &str) -> Result<u64> {
        counter(self.snap, &sub(&self.prefix, DICT, term))
    }

    /// The terms starting with `prefix` and their document frequencies, in term order; at most
    /// `max + 1` (so a caller sees that there were more than `max`).
    pub(crate) fn expand(&self, prefix: &str, max: usize) -> Result<Vec<(String, u64)>> {
        let start = sub(&self.prefix, DICT, prefix);
        let dict_start = self.prefix.len() + 1;
        let mut out = Vec::new();
        let mut failed = None;
        self.snap.visit(
            &KeyRange::prefix(&start),
            Direction::Forward,
            &mut |k, v| {
                match (std::str::from_utf8(&k[dict_start..]), decode_u64(v)) {
                    (Ok(term), Ok(df)) => out.push((term.to_string(), df)),
                    _ => {
                        failed = Some(Error::storage("corrupt full-text dictionary entry"));
                        return Ok(false);
                    }
                }
                Ok(out.len() <= max)
            },
        )?;
        match failed {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    /// Calls `f` with each posting of `term` in id order (positions decoded when `positions`),
    /// until it returns `Ok(false)`.
    pub(crate) fn postings(
        &self,
        term: &str,
        positions: bool,
        f: &mut dyn FnMut(Posting) -> Result<bool>,
    ) -> Result<()> {
        let prefix = postings_prefix(&self.prefix, term);
        self.snap.visit(
            &KeyRange::prefix(&prefix),
            Direction::Forward,
            &mut |k, v| {
                let id = super::keys::trailing_id(k)?;
                f(decode_posting(id, v, positions)?)
            },
        )
    }
}

fn decode_posting(id: Uuid, v: &[u8], with_positions: bool) -> Result<Posting> {
    let mut at = 0;
    let len = read_varint(v, &mut at)?;
    let tf = read_varint(v, &mut at)?;
    let too_big = || Error::storage("corrupt full-text posting");
    let len = u32::try_from(len).map_err(|_| too_big())?;
    let tf = u32::try_from(tf).map_err(|_| too_big())?;
    let mut positions = Vec::new();
    if with_positions {
        positions.reserve(tf.min(1 << 16) as usize);
        let mut pos: u64 = 0;
        for _ in 0..tf {
            pos += read_varint(v, &mut at)?;
            positions.push(u32::try_from(pos).map_err(|_| too_big())?);
        }
    }
    Ok(Posting {
        id,
        len,
        tf,
        positions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postings_round_trip() {
        let a = Analyzer::new("none").unwrap();
        let doc = Doc::new(&a, "a b a c a");
        let v = doc.posting(&doc.terms["a"]);
        let p = decode_posting(Uuid::nil(), &v, true).unwrap();
        assert_eq!((p.len, p.tf, p.positions), (5, 3, vec![0, 2, 4]));
        assert!(decode_posting(Uuid::nil(), &[0x80], true).is_err());
        assert!(decode_posting(Uuid::nil(), &[1, 5, 0], true).is_err());
    }
}
