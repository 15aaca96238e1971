//! The full-text (BM25) index: kept by the write path in the same batch as the rows, read by the
//! query side (`src/fulltext`).
//!
//! Every row of a table that holds indexed text has a **document number**, drawn from a
//! per-table counter when the row first holds such text and kept until it holds none. Postings
//! name rows by it, so a term's postings sort in insertion order, new rows append to the end of
//! each list, and a posting takes a few bytes. Keys, under `T<table>\0` ([`Keys::fulltext_table`]):
//!
//! | key after `T<table>\0`          | value                                                   |
//! |---------------------------------|---------------------------------------------------------|
//! | `\0c`                           | the next document number (u64 BE)                      |
//! | `\0r<id:16>`                    | the row's document number (u64 BE)                     |
//! | `\0i<doc:8, BE>`                | the row id (16 bytes)                                   |
//! | `<field>\0b<term>\0<doc:8, BE>` | a block of the term's postings, from number `doc` on    |
//! | `<field>\0d<term>`              | document frequency (u64 BE): rows whose field holds it  |
//! | `<field>\0n`                    | rows indexed (u64 BE): live rows whose field is a string |
//! | `<field>\0l`                    | total length of those fields in terms (u64 BE)          |
//!
//! A block holds the postings of the rows numbered from its key's number up to the next block's,
//! in order: a varint count, then per posting the varint gap from the previous number (the first
//! from the key's), the field's length, the term frequency, the byte length of the positions,
//! and the positions as varint gaps. Blocks split past [`BLOCK_MAX`] postings into blocks of
//! [`BLOCK_FILL`] and are removed when empty. A transaction gathers its posting changes per term
//! and rewrites each block it touches once, at commit ([`WriteTx::finish_fulltext`]), so a batch
//! of inserts costs one block write per distinct term.
//!
//! A query reads only the blocks of its own terms (one prefix scan per term), the dictionary
//! entries `d` it needs (prefix queries scan `d<prefix>`), the two statistics, and the row ids of
//! the rows it returns. Each posting carries the field's length, so scoring reads nothing else.
//!
//! Only live rows are indexed: soft-deleting a row removes its postings (and its share of the
//! statistics), undeleting (an upsert of the row) adds them back, so deleted rows never match
//! and the statistics count live rows only.
//!
//! Indexes written before document numbers (one KV entry per posting, keyed by row id) are
//! rebuilt when a database is opened for writing ([`TenantStore::upgrade_fulltext`]); a
//! read-only reader of one gets an error saying so.

use std::collections::HashMap;

use uuid::Uuid;

use super::entity::Row;
use super::keys::{decode_u64, Keys};
use super::schema::TableSchema;
use super::write::WriteTx;
use super::{is_deleted, TenantStore};
use crate::error::{Error, Result};
use crate::kv::{Direction, KeyRange, KvSnapshot};
use crate::tokenize::Analyzer;

const BLOCK: u8 = b'b';
const DICT: u8 = b'd';
const DOCS: u8 = b'n';
const LENGTH: u8 = b'l';
const NEXT_DOC: u8 = b'c';
const DOC_OF_ROW: u8 = b'r';
const ROW_OF_DOC: u8 = b'i';

/// Postings a block may hold before it is split (small in unit tests, so they split often).
const BLOCK_MAX: usize = if cfg!(test) { 6 } else { 256 };
/// Postings per block a split leaves (the last block of a split takes the rest).
const BLOCK_FILL: usize = BLOCK_MAX / 2;

fn sub(prefix: &[u8], kind: u8, term: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + 2 + term.len() + 8);
    k.extend_from_slice(prefix);
    k.push(kind);
    k.extend_from_slice(term.as_bytes());
    k
}

/// Prefix of the posting blocks of `term` under a field prefix.
fn blocks_prefix(prefix: &[u8], term: &str) -> Vec<u8> {
    let mut k = sub(prefix, BLOCK, term);
    k.push(0);
    k
}

/// The key of the block starting at document `doc` under a term's blocks prefix.
fn block_key(blocks: &[u8], doc: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(blocks.len() + 8);
    k.extend_from_slice(blocks);
    k.extend_from_slice(&doc.to_be_bytes());
    k
}

/// The number a block key under the term's blocks prefix `blocks` starts at.
fn block_start(blocks: &[u8], key: &[u8]) -> Result<u64> {
    key.get(blocks.len()..)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| Error::storage("corrupt full-text block key"))
}

/// Prefix of a table's document-number keys: `T<table>\0\0` (no field name is empty).
fn doc_numbers_prefix(keys: &Keys, table: &str) -> Vec<u8> {
    let mut k = keys.fulltext_table(table);
    k.push(0);
    k
}

fn doc_of_row_key(docs: &[u8], id: &Uuid) -> Vec<u8> {
    let mut k = docs.to_vec();
    k.push(DOC_OF_ROW);
    k.extend_from_slice(id.as_bytes());
    k
}

/// The stored document number of row `id` under a table's document-number prefix `docs`.
fn stored_doc(snap: &dyn KvSnapshot, docs: &[u8], id: &Uuid) -> Result<Option<u64>> {
    snap.get(&doc_of_row_key(docs, id))?
        .map(|v| decode_u64(&v))
        .transpose()
}

/// Whether an index counting `docs` rows has no document counter under `docs_prefix`: it was
/// written before document numbers.
fn unnumbered(snap: &dyn KvSnapshot, docs: u64, docs_prefix: &[u8]) -> Result<bool> {
    Ok(docs > 0 && snap.get(&sub(docs_prefix, NEXT_DOC, ""))?.is_none())
}

fn row_of_doc_key(docs: &[u8], doc: u64) -> Vec<u8> {
    let mut k = docs.to_vec();
    k.push(ROW_OF_DOC);
    k.extend_from_slice(&doc.to_be_bytes());
    k
}

fn corrupt() -> Error {
    Error::storage("corrupt full-text posting block")
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
        let b = *bytes.get(*at).ok_or_else(corrupt)?;
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(corrupt())
}

fn read_u32(bytes: &[u8], at: &mut usize) -> Result<u32> {
    u32::try_from(read_varint(bytes, at)?).map_err(|_| corrupt())
}

/// One posting of a block as stored: its document number and the bytes after the number
/// (field length, term frequency, positions' byte length, positions).
struct StoredPosting<'b> {
    doc: u64,
    body: &'b [u8],
    len: u32,
    tf: u32,
    positions: &'b [u8],
}

/// Calls `f` with each posting of the block keyed at `start`, in order.
fn read_block<'b>(
    start: u64,
    bytes: &'b [u8],
    f: &mut dyn FnMut(StoredPosting<'b>) -> Result<bool>,
) -> Result<()> {
    let mut at = 0;
    let count = read_varint(bytes, &mut at)?;
    let mut doc = start;
    for i in 0..count {
        let gap = read_varint(bytes, &mut at)?;
        if i > 0 && gap == 0 {
            return Err(corrupt());
        }
        doc = doc.checked_add(gap).ok_or_else(corrupt)?;
        let body_at = at;
        let len = read_u32(bytes, &mut at)?;
        let tf = read_u32(bytes, &mut at)?;
        let positions_len = usize::try_from(read_varint(bytes, &mut at)?).map_err(|_| corrupt())?;
        let end = at.checked_add(positions_len).ok_or_else(corrupt)?;
        let positions = bytes.get(at..end).ok_or_else(corrupt)?;
        at = end;
        let posting = StoredPosting {
            doc,
            body: &bytes[body_at..end],
            len,
            tf,
            positions,
        };
        if !f(posting)? {
            return Ok(());
        }
    }
    if at != bytes.len() {
        return Err(corrupt());
    }
    Ok(())
}

/// Encodes a block keyed at `start` holding `postings` (numbers ascending, all ≥ `start`).
fn encode_block(start: u64, postings: &[(u64, &[u8])]) -> Vec<u8> {
    let size: usize = postings.iter().map(|(_, b)| b.len() + 2).sum();
    let mut out = Vec::with_capacity(size + 4);
    push_varint(&mut out, postings.len() as u64);
    let mut last = start;
    for (doc, body) in postings {
        push_varint(&mut out, doc - last);
        out.extend_from_slice(body);
        last = *doc;
    }
    out
}

/// Decodes `tf` varint position gaps.
fn decode_positions(bytes: &[u8], tf: u32) -> Result<Vec<u32>> {
    let mut out = Vec::with_capacity(tf.min(1 << 16) as usize);
    let (mut at, mut pos) = (0, 0u64);
    for _ in 0..tf {
        pos += read_varint(bytes, &mut at)?;
        out.push(u32::try_from(pos).map_err(|_| corrupt())?);
    }
    if at != bytes.len() {
        return Err(corrupt());
    }
    Ok(out)
}

/// A seeded fast hasher for the write path's per-word maps (their keys come from user text).
type FastHash = foldhash::fast::RandomState;

/// Term numbers that stand for no term (a word that cleans to nothing).
const NO_TERM: u32 = u32::MAX;

/// The terms of a transaction, numbered in the order first seen (shared by its fields).
#[derive(Default)]
struct Terms {
    ids: HashMap<String, u32, FastHash>,
    names: Vec<String>,
}

impl Terms {
    fn id(&mut self, term: &str) -> u32 {
        if let Some(&id) = self.ids.get(term) {
            return id;
        }
        let id = u32::try_from(self.names.len()).unwrap_or(NO_TERM);
        self.ids.insert(term.to_string(), id);
        self.names.push(term.to_string());
        id
    }
}

/// An analyzer and the term numbers of the words it has cut in this transaction.
struct Lexicon {
    analyzer: Analyzer,
    words: HashMap<String, u32, FastHash>,
}

impl Lexicon {
    fn new(stemmer: &str) -> Result<Lexicon> {
        Ok(Lexicon {
            analyzer: Analyzer::new(stemmer)?,
            words: HashMap::default(),
        })
    }

    /// The term number of `word` (stemmed once per transaction).
    fn term(&mut self, terms: &mut Terms, word: &str) -> u32 {
        if let Some(&id) = self.words.get(word) {
            return id;
        }
        let term = self.analyzer.term(word);
        let id = if term.is_empty() {
            NO_TERM
        } else {
            terms.id(&term)
        };
        self.words.insert(word.to_string(), id);
        id
    }
}

/// One field of one row as the index sees it: its length in terms and each term's positions,
/// as `(term, position)` pairs sorted by term, then position.
struct Doc {
    len: u64,
    pairs: Vec<(u32, u32)>,
}

impl Doc {
    fn new(lexicon: &mut Lexicon, terms: &mut Terms, text: &str) -> Doc {
        let mut pairs = Vec::new();
        let mut pos = 0u32;
        for word in lexicon.analyzer.words(text) {
            let id = lexicon.term(terms, word);
            if id != NO_TERM {
                pairs.push((id, pos));
            }
            pos = pos.saturating_add(1);
        }
        pairs.sort_unstable();
        Doc {
            len: u64::from(pos),
            pairs,
        }
    }

    /// Each term with its positions, in term order.
    fn terms(&self) -> impl Iterator<Item = (u32, &[(u32, u32)])> + '_ {
        self.pairs
            .chunk_by(|a, b| a.0 == b.0)
            .map(|group| (group[0].0, group))
    }

    /// Appends a posting's stored bytes after its document number (field length, tf, the
    /// positions' byte length, the positions as gaps) to `out`.
    fn body(&self, positions: &[(u32, u32)], out: &mut Vec<u8>) {
        // The positions' byte length comes first: count the gaps' varint bytes.
        let mut size = 0u64;
        let mut last = 0u32;
        for &(_, p) in positions {
            let gap = p - last;
            size += u64::from((32 - gap.leading_zeros()).max(1).div_ceil(7));
            last = p;
        }
        push_varint(out, self.len);
        push_varint(out, positions.len() as u64);
        push_varint(out, size);
        last = 0;
        for &(_, p) in positions {
            push_varint(out, u64::from(p - last));
            last = p;
        }
    }
}

/// The text of `field` in `row` when the row is live and the field a string.
fn indexed_text<'r>(row: Option<&'r Row>, field: &str) -> Option<&'r str> {
    row.filter(|r| !is_deleted(r))
        .and_then(|r| r.get(field))
        .and_then(|v| v.as_str())
}

/// A posting change: the document, and the new body's range in [`FulltextTx::bodies`] (`None`:
/// the posting is removed).
type Change = (u64, Option<(usize, usize)>);

/// `changes` sorted by document number, only the last change of each document kept.
fn last_change_per_doc(changes: &mut Vec<Change>) {
    // Stable: the changes of one document stay in the order made.
    changes.sort_by_key(|c| c.0);
    let mut kept = 0;
    for i in 0..changes.len() {
        if kept > 0 && changes[kept - 1].0 == changes[i].0 {
            changes[kept - 1] = changes[i];
        } else {
            changes[kept] = changes[i];
            kept += 1;
        }
    }
    changes.truncate(kept);
}

/// What a transaction changes in one field's index.
#[derive(Default)]
struct FieldChanges {
    /// By term id: posting changes in the order made.
    postings: Vec<Vec<Change>>,
    /// By term id: the change of the term's document frequency.
    df: Vec<i64>,
    /// Change of the rows indexed, and of their total length.
    docs: i64,
    length: i64,
}

impl FieldChanges {
    fn change(&mut self, term: u32, change: Change, df: i64) {
        let t = term as usize;
        if self.postings.len() <= t {
            self.postings.resize_with(t + 1, Vec::new);
            self.df.resize(t + 1, 0);
        }
        self.postings[t].push(change);
        self.df[t] += df;
    }
}

/// A row's document number as stored before the transaction and as it is now.
#[derive(Clone, Copy)]
struct DocSlot {
    stored: Option<u64>,
    now: Option<u64>,
}

/// One table's document numbers as a transaction changes them.
struct TableDocs {
    prefix: Vec<u8>,
    next_stored: u64,
    next: u64,
    rows: HashMap<Uuid, DocSlot>,
}

/// What a transaction changes in full-text indexes, applied at commit.
#[derive(Default)]
pub(super) struct FulltextTx {
    /// The terms seen, numbered.
    terms: Terms,
    /// The bodies of the postings written, one after another.
    bodies: Vec<u8>,
    /// Changes by field prefix.
    fields: HashMap<Vec<u8>, FieldChanges>,
    /// Document numbers, by table.
    tables: HashMap<String, TableDocs>,
    /// Prefixes of tables whose index this transaction rebuilt: nothing stored under them counts.
    rebuilt: Vec<Vec<u8>>,
    /// Analyzers by stemmer, with the words they have cut in this transaction.
    lexicons: HashMap<String, Lexicon>,
}

impl FulltextTx {
    fn is_rebuilt(&self, key: &[u8]) -> bool {
        self.rebuilt.iter().any(|p| key.starts_with(p))
    }
}

impl WriteTx<'_> {
    /// Updates the full-text index of row `id` of `schema`'s table from `old` to `new` (either
    /// absent): postings of terms gone are removed, those of the new text written, and the
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
        let texts: Vec<(Option<&str>, Option<&str>)> = schema
            .fulltext_fields
            .iter()
            .map(|f| (indexed_text(old, f), indexed_text(new, f)))
            .collect();
        if texts.iter().all(|(o, n)| o == n) {
            return Ok(());
        }
        let was = texts.iter().any(|(o, _)| o.is_some());
        let is = texts.iter().any(|(_, n)| n.is_some());
        let doc = self.doc_number(&schema.name, id, was, is)?;
        let mut lexicon = match self.fulltext.lexicons.remove(&schema.fulltext_stemmer) {
            Some(l) => l,
            None => Lexicon::new(&schema.fulltext_stemmer)?,
        };
        for (field, (old_text, new_text)) in schema.fulltext_fields.iter().zip(texts) {
            if old_text == new_text {
                continue;
            }
            let prefix = self.keys().fulltext_field(&schema.name, field);
            let ft = &mut self.fulltext;
            let old_doc = old_text.map(|t| Doc::new(&mut lexicon, &mut ft.terms, t));
            let new_doc = new_text.map(|t| Doc::new(&mut lexicon, &mut ft.terms, t));
            let changes = match ft.fields.get_mut(&prefix) {
                Some(c) => c,
                None => ft.fields.entry(prefix).or_default(),
            };
            let mut old_terms = old_doc
                .as_ref()
                .map(|d| d.terms())
                .into_iter()
                .flatten()
                .peekable();
            if let Some(nd) = &new_doc {
                for (term, positions) in nd.terms() {
                    // Terms only the old text held lose their posting.
                    while let Some(&(o, _)) = old_terms.peek() {
                        if o >= term {
                            break;
                        }
                        changes.change(o, (doc, None), -1);
                        old_terms.next();
                    }
                    let kept = old_terms.peek().is_some_and(|&(o, _)| o == term);
                    if kept {
                        old_terms.next();
                    }
                    let start = ft.bodies.len();
                    nd.body(positions, &mut ft.bodies);
                    let change = (doc, Some((start, ft.bodies.len())));
                    changes.change(term, change, if kept { 0 } else { 1 });
                }
                changes.docs += 1;
                changes.length += nd.len as i64;
            }
            for (o, _) in old_terms {
                changes.change(o, (doc, None), -1);
            }
            if let Some(od) = &old_doc {
                changes.docs -= 1;
                changes.length -= od.len as i64;
            }
        }
        self.fulltext
            .lexicons
            .insert(schema.fulltext_stemmer.clone(), lexicon);
        Ok(())
    }

    /// The document number of row `id` of `table`, which held indexed text before this change
    /// when `was` and holds some after it when `is`: its own, or a new one for a row that held
    /// none. A row left without indexed text gives its number up at commit.
    fn doc_number(&mut self, table: &str, id: &Uuid, was: bool, is: bool) -> Result<u64> {
        if !self.fulltext.tables.contains_key(table) {
            let prefix = doc_numbers_prefix(self.keys(), table);
            let next = if self.fulltext.is_rebuilt(&prefix) {
                0
            } else {
                counter(self.snapshot(), &sub(&prefix, NEXT_DOC, ""))?
            };
            let docs = TableDocs {
                prefix,
                next_stored: next,
                next,
                rows: HashMap::new(),
            };
            self.fulltext.tables.insert(table.to_string(), docs);
        }
        let known = self
            .fulltext
            .tables
            .get(table)
            .and_then(|d| d.rows.get(id).copied());
        let slot = match known {
            Some(slot) => slot,
            None => {
                let prefix = &self.fulltext.tables[table].prefix;
                let stored = if self.fulltext.is_rebuilt(prefix) {
                    None
                } else {
                    stored_doc(self.snapshot(), prefix, id)?
                };
                DocSlot {
                    stored,
                    now: stored,
                }
            }
        };
        let docs =
            self.fulltext.tables.get_mut(table).ok_or_else(|| {
                Error::storage("full-text document numbers of a table went missing")
            })?;
        let doc = match (slot.now, was) {
            (Some(doc), _) => doc,
            (None, true) => {
                return Err(Error::storage(format!(
                    "the full-text index of `{table}` has no document number for row {id}, which holds indexed text"
                )))
            }
            // A row that gave its number up earlier in this transaction takes it back.
            (None, false) => match slot.stored {
                Some(doc) => doc,
                None => {
                    let doc = docs.next;
                    docs.next = doc
                        .checked_add(1)
                        .ok_or_else(|| Error::storage("full-text document numbers exhausted"))?;
                    doc
                }
            },
        };
        let now = is.then_some(doc);
        docs.rows.insert(*id, DocSlot { now, ..slot });
        Ok(doc)
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
        let ft = &mut self.fulltext;
        ft.fields.retain(|k, _| !k.starts_with(&prefix));
        ft.tables.remove(&schema.name);
        ft.rebuilt.push(prefix);
        for (id, row) in rows {
            self.update_fulltext(schema, id, None, Some(row))?;
        }
        Ok(())
    }

    /// Adds what the transaction changed in full-text indexes to the batch: counters (one back at
    /// zero is deleted), document numbers, and every touched posting block, rewritten once.
    pub(super) fn finish_fulltext(&mut self) -> Result<()> {
        let mut ft = std::mem::take(&mut self.fulltext);
        for docs in ft.tables.values() {
            if docs.next != docs.next_stored {
                self.batch
                    .put(sub(&docs.prefix, NEXT_DOC, ""), docs.next.to_be_bytes());
            }
            for (id, slot) in &docs.rows {
                if slot.stored == slot.now {
                    continue;
                }
                if let Some(doc) = slot.stored {
                    self.batch.delete(row_of_doc_key(&docs.prefix, doc));
                    if slot.now.is_none() {
                        self.batch.delete(doc_of_row_key(&docs.prefix, id));
                    }
                }
                if let Some(doc) = slot.now {
                    self.batch
                        .put(doc_of_row_key(&docs.prefix, id), doc.to_be_bytes());
                    self.batch
                        .put(row_of_doc_key(&docs.prefix, doc), id.as_bytes().to_vec());
                }
            }
        }
        let mut resolved: Vec<(u64, Option<&[u8]>)> = Vec::new();
        for (field, changes) in ft.fields.iter_mut() {
            let rebuilt = ft.rebuilt.iter().any(|p| field.starts_with(p));
            self.add_to_counter(sub(field, DOCS, ""), changes.docs, rebuilt)?;
            self.add_to_counter(sub(field, LENGTH, ""), changes.length, rebuilt)?;
            for (term, term_changes) in changes.postings.iter_mut().enumerate() {
                let name = &ft.terms.names[term];
                self.add_to_counter(sub(field, DICT, name), changes.df[term], rebuilt)?;
                if term_changes.is_empty() {
                    continue;
                }
                last_change_per_doc(term_changes);
                resolved.clear();
                resolved.extend(
                    term_changes
                        .iter()
                        .map(|&(doc, body)| (doc, body.map(|(a, b)| &ft.bodies[a..b]))),
                );
                self.merge_postings(&blocks_prefix(field, name), &resolved, rebuilt)?;
            }
        }
        Ok(())
    }

    /// Moves the u64 counter at `key` by `delta` (stored nowhere when `rebuilt`); one back at
    /// zero is deleted.
    fn add_to_counter(&mut self, key: Vec<u8>, delta: i64, rebuilt: bool) -> Result<()> {
        if delta == 0 {
            return Ok(());
        }
        let current = if rebuilt {
            0
        } else {
            counter(self.snapshot(), &key)?
        };
        let next = current
            .checked_add_signed(delta)
            .ok_or_else(|| Error::storage("full-text counter out of range"))?;
        if next == 0 {
            self.batch.delete(key);
        } else {
            self.batch.put(key, next.to_be_bytes());
        }
        Ok(())
    }

    /// Applies `changes` to the posting blocks under `blocks` (none stored when `rebuilt`): each
    /// block a change falls in is read, merged with every change it covers and written back.
    fn merge_postings(
        &mut self,
        blocks: &[u8],
        changes: &[(u64, Option<&[u8]>)],
        rebuilt: bool,
    ) -> Result<()> {
        let mut pending = changes.iter().peekable();
        while let Some(&&(first, _)) = pending.peek() {
            let (start, stored, end) = if rebuilt {
                (None, None, None)
            } else {
                block_around(self.snapshot(), blocks, first)?
            };
            let stored_bytes = stored.unwrap_or_default();
            let mut stored_postings: Vec<(u64, &[u8])> = Vec::new();
            if let Some(start) = start {
                read_block(start, &stored_bytes, &mut |p| {
                    stored_postings.push((p.doc, p.body));
                    Ok(true)
                })?;
            }
            let mut merged: Vec<(u64, &[u8])> = Vec::with_capacity(stored_postings.len() + 1);
            let mut stored_iter = stored_postings.into_iter().peekable();
            while let Some(&&(doc, body)) = pending.peek() {
                if end.is_some_and(|e| doc >= e) {
                    break;
                }
                pending.next();
                while let Some(&(d, b)) = stored_iter.peek() {
                    if d >= doc {
                        break;
                    }
                    merged.push((d, b));
                    stored_iter.next();
                }
                if stored_iter.peek().is_some_and(|&(d, _)| d == doc) {
                    stored_iter.next();
                }
                if let Some(body) = body {
                    merged.push((doc, body));
                }
            }
            merged.extend(stored_iter);
            self.write_blocks(blocks, start, &merged);
        }
        Ok(())
    }

    /// Writes `postings` as the block keyed at `start` (or, for a new block, at the first
    /// posting's number), split past [`BLOCK_MAX`]; removes the block when there are none.
    fn write_blocks(&mut self, blocks: &[u8], start: Option<u64>, postings: &[(u64, &[u8])]) {
        let Some(&(first, _)) = postings.first() else {
            if let Some(start) = start {
                self.batch.delete(block_key(blocks, start));
            }
            return;
        };
        let size = if postings.len() > BLOCK_MAX {
            BLOCK_FILL
        } else {
            BLOCK_MAX
        };
        for (i, piece) in postings.chunks(size).enumerate() {
            let key_doc = if i == 0 {
                start.unwrap_or(first)
            } else {
                piece[0].0
            };
            self.batch
                .put(block_key(blocks, key_doc), encode_block(key_doc, piece));
        }
    }
}

/// The stored block holding document `doc` under `blocks` (the last keyed at or before it) as
/// its start and bytes, and where the next block starts (`None`: no block after).
#[allow(clippy::type_complexity)]
fn block_around(
    snap: &dyn KvSnapshot,
    blocks: &[u8],
    doc: u64,
) -> Result<(Option<u64>, Option<Vec<u8>>, Option<u64>)> {
    let start_of = |k: &[u8]| block_start(blocks, k);
    let mut failed = None;
    let mut last_before = |end: u64| -> Result<Option<(u64, Vec<u8>)>> {
        let upto = KeyRange {
            start: std::ops::Bound::Included(blocks.to_vec()),
            end: std::ops::Bound::Included(block_key(blocks, end)),
        };
        let mut found = None;
        snap.visit(&upto, Direction::Reverse, &mut |k, v| {
            match start_of(k) {
                Ok(s) => found = Some((s, v.to_vec())),
                Err(e) => failed = Some(e),
            }
            Ok(false)
        })?;
        Ok(found)
    };
    // New rows append: most often `doc` falls in the last block, which one read finds.
    let found = match last_before(u64::MAX)? {
        Some((start, bytes)) if start <= doc => return Ok((Some(start), Some(bytes), None)),
        Some(_) => last_before(doc)?,
        None => None,
    };
    if let Some(e) = failed {
        return Err(e);
    }
    let mut next = None;
    if let Some(after) = doc.checked_add(1) {
        let mut range = KeyRange::prefix(blocks);
        range.start = std::ops::Bound::Included(block_key(blocks, after));
        snap.visit(&range, Direction::Forward, &mut |k, _| {
            match start_of(k) {
                Ok(s) => next = Some(s),
                Err(e) => failed = Some(e),
            }
            Ok(false)
        })?;
    }
    if let Some(e) = failed {
        return Err(e);
    }
    let (start, bytes) = found.unzip();
    Ok((start, bytes, next))
}

impl TenantStore {
    /// Rebuilds every full-text index of this tenant still in the format before document
    /// numbers, one write per table; returns how many were rebuilt.
    pub(crate) fn upgrade_fulltext(&self) -> Result<usize> {
        // Found in one snapshot, released before the first write.
        let mut legacy = Vec::new();
        {
            let snap = self.snapshot()?;
            let keys = self.keys();
            for table in self.table_names()? {
                let schema = self.compiled_schema(&table)?;
                let Some(field) = schema.info.fulltext_fields.first() else {
                    continue;
                };
                let docs = counter(&*snap, &sub(&keys.fulltext_field(&table, field), DOCS, ""))?;
                if unnumbered(&*snap, docs, &doc_numbers_prefix(keys, &table))? {
                    legacy.push(schema);
                }
            }
        }
        for schema in &legacy {
            self.write(|tx| {
                let rows = tx.table_rows(&schema.info.name)?;
                tx.rebuild_fulltext(&schema.info, &rows)
            })?;
        }
        Ok(legacy.len())
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
    /// The row's document number ([`TableDocNumbers::row`] gives its id).
    pub(crate) doc: u64,
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
    table: String,
    prefix: Vec<u8>,
    docs_prefix: Vec<u8>,
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
            table: table.to_string(),
            prefix: keys.fulltext_field(table, field),
            docs_prefix: doc_numbers_prefix(keys, table),
        }
    }

    /// Rows indexed and their total length. An index in the format before document numbers is
    /// an error asking for the database to be opened for writing once (which rebuilds it).
    pub(crate) fn stats(&self) -> Result<FieldStats> {
        let stats = FieldStats {
            docs: counter(self.snap, &sub(&self.prefix, DOCS, ""))?,
            total_len: counter(self.snap, &sub(&self.prefix, LENGTH, ""))?,
        };
        if unnumbered(self.snap, stats.docs, &self.docs_prefix)? {
            return Err(Error::storage(format!(
                "the full-text index of `{}` was written by an older remdb: open the database for writing once to rebuild it",
                self.table
            )));
        }
        Ok(stats)
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

    /// Calls `f` with each posting of `term` in document-number order (positions decoded when
    /// `positions`), until it returns `Ok(false)`.
    pub(crate) fn postings(
        &self,
        term: &str,
        positions: bool,
        f: &mut dyn FnMut(Posting) -> Result<bool>,
    ) -> Result<()> {
        let blocks = blocks_prefix(&self.prefix, term);
        let mut more = true;
        self.snap.visit(
            &KeyRange::prefix(&blocks),
            Direction::Forward,
            &mut |k, v| {
                read_block(block_start(&blocks, k)?, v, &mut |p| {
                    let positions = if positions {
                        decode_positions(p.positions, p.tf)?
                    } else {
                        Vec::new()
                    };
                    more = f(Posting {
                        doc: p.doc,
                        len: p.len,
                        tf: p.tf,
                        positions,
                    })?;
                    Ok(more)
                })?;
                Ok(more)
            },
        )
    }

    /// The document numbers of this field's table.
    pub(crate) fn doc_numbers(&self) -> TableDocNumbers<'s> {
        TableDocNumbers {
            snap: self.snap,
            prefix: self.docs_prefix.clone(),
        }
    }
}

/// Read access to a table's document numbers in one snapshot.
pub(crate) struct TableDocNumbers<'s> {
    snap: &'s dyn KvSnapshot,
    prefix: Vec<u8>,
}

impl TableDocNumbers<'_> {
    /// The row numbered `doc`.
    pub(crate) fn row(&self, doc: u64) -> Result<Uuid> {
        let v = self
            .snap
            .get(&row_of_doc_key(&self.prefix, doc))?
            .ok_or_else(|| Error::storage(format!("full-text document {doc} names no row")))?;
        Uuid::from_slice(&v).map_err(|_| Error::storage("corrupt full-text document number entry"))
    }

    /// The number of row `id`, when it holds indexed text.
    pub(crate) fn doc(&self, id: &Uuid) -> Result<Option<u64>> {
        stored_doc(self.snap, &self.prefix, id)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    /// A posting read back whole: number, field length, tf, positions.
    type Whole = (u64, u32, u32, Vec<u32>);

    fn postings_of(start: u64, block: &[u8]) -> Result<Vec<Whole>> {
        let mut out = Vec::new();
        read_block(start, block, &mut |p| {
            out.push((p.doc, p.len, p.tf, decode_positions(p.positions, p.tf)?));
            Ok(true)
        })?;
        Ok(out)
    }

    /// The posting bodies of `text`'s terms, by term.
    fn bodies_of(text: &str) -> HashMap<String, Vec<u8>> {
        let mut lexicon = Lexicon::new("none").unwrap();
        let mut terms = Terms::default();
        let doc = Doc::new(&mut lexicon, &mut terms, text);
        doc.terms()
            .map(|(t, positions)| {
                let mut body = Vec::new();
                doc.body(positions, &mut body);
                (terms.names[t as usize].clone(), body)
            })
            .collect()
    }

    #[test]
    fn blocks_round_trip() {
        let bodies = bodies_of("a b a c a");
        let block = encode_block(5, &[(7, &bodies["a"]), (9, &bodies["c"])]);
        assert_eq!(
            postings_of(5, &block).unwrap(),
            vec![(7, 5, 3, vec![0, 2, 4]), (9, 5, 1, vec![3])]
        );
        // Gaps of several varint bytes.
        let long = format!("a {}a", "x ".repeat(20_000));
        let bodies = bodies_of(&long);
        let block = encode_block(0, &[(0, &bodies["a"])]);
        assert_eq!(
            postings_of(0, &block).unwrap(),
            vec![(0, 20_002, 2, vec![0, 20_001])]
        );
    }

    #[test]
    fn damaged_blocks_are_errors() {
        let bodies = bodies_of("a b a");
        let body = &bodies["a"];
        let block = encode_block(0, &[(1, body), (2, body)]);
        for cut in 0..block.len() {
            assert!(postings_of(0, &block[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = block.clone();
        longer.push(0);
        assert!(postings_of(0, &longer).is_err());
        // A repeated document number.
        let repeated = encode_block(0, &[(1, body), (1, body)]);
        assert!(postings_of(0, &repeated).is_err());
        assert!(postings_of(u64::MAX, &block).is_err());
    }

    const WORDS: [&str; 5] = ["ant", "bee", "cat", "dog", "eel"];

    fn schema() -> serde_json::Value {
        json!({
            "title": "Note", "type": "object",
            "properties": {"key": {"type": "string"}, "body": {"type": "string"}},
            "json_schema_extra": {"key_field": "key", "fulltext_fields": ["body"], "fulltext_stemmer": "none"}
        })
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// Upserts rows (key, body) in one write.
        Put(Vec<(u8, String)>),
        Delete(u8),
        Purge(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        let body =
            prop::collection::vec(prop::sample::select(&WORDS[..]), 0..4).prop_map(|w| w.join(" "));
        prop_oneof![
            4 => prop::collection::vec((0u8..24, body), 1..12).prop_map(Op::Put),
            1 => (0u8..24).prop_map(Op::Delete),
            1 => (0u8..24).prop_map(Op::Purge),
        ]
    }

    fn id_of(t: &crate::Tenant, key: u8) -> Option<String> {
        let key = format!("k{key}");
        t.list(
            "note",
            &crate::ListOptions {
                include_deleted: true,
                ..Default::default()
            },
        )
        .unwrap()
        .into_iter()
        .find(|r| r["key"] == key)
        .map(|r| r["id"].as_str().unwrap().to_string())
    }

    /// Every term's blocks: non-empty, at most `BLOCK_MAX` postings, numbers ascending within
    /// `[key, next key)`, each naming a row whose live body holds the term; and every live row
    /// holding a term has a posting of it.
    fn check(t: &crate::Tenant, model: &BTreeMap<u8, String>) {
        let store = t.store();
        let snap = store.snapshot().unwrap();
        let index = FieldIndex::new(&*snap, store.keys(), "note", "body");
        let docs = index.doc_numbers();
        for word in WORDS {
            let blocks = blocks_prefix(&index.prefix, word);
            let mut starts = Vec::new();
            let mut found = BTreeSet::new();
            for pair in snap
                .scan(&KeyRange::prefix(&blocks), Direction::Forward)
                .unwrap()
            {
                let (k, v) = pair.unwrap();
                let start = u64::from_be_bytes(k[blocks.len()..].try_into().unwrap());
                let postings = postings_of(start, &v).unwrap();
                assert!(
                    !postings.is_empty() && postings.len() <= BLOCK_MAX,
                    "{word}: {postings:?}"
                );
                assert!(postings[0].0 >= start);
                starts.push((start, postings.last().unwrap().0));
                for (doc, ..) in postings {
                    found.insert(docs.row(doc).unwrap().to_string());
                }
            }
            for pair in starts.windows(2) {
                assert!(pair[0].1 < pair[1].0, "{word}: blocks overlap: {starts:?}");
            }
            let want: BTreeSet<String> = model
                .iter()
                .filter(|(_, body)| body.split(' ').any(|w| w == word))
                .map(|(k, _)| id_of(t, *k).unwrap())
                .collect();
            assert_eq!(found, want, "{word}");
            assert_eq!(index.doc_freq(word).unwrap(), want.len() as u64, "{word}");
        }
        let indexed = model.len() as u64;
        assert_eq!(index.stats().unwrap().docs, indexed);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Blocks split, shrink and vanish as rows come and go, in batches and one by one, and
        /// always hold exactly the live rows' postings.
        #[test]
        fn blocks_hold_exactly_the_live_rows_postings(ops in prop::collection::vec(op(), 1..30)) {
            let db = crate::Database::memory();
            let t = db.tenant("t").unwrap();
            t.register_schema(schema()).unwrap();
            let mut model: BTreeMap<u8, String> = BTreeMap::new();
            for op in &ops {
                match op {
                    Op::Put(rows) => {
                        let items = rows
                            .iter()
                            .map(|(k, body)| json!({"key": format!("k{k}"), "body": body}))
                            .collect();
                        t.insert_many("note", items).unwrap();
                        for (k, body) in rows {
                            model.insert(*k, body.clone());
                        }
                    }
                    Op::Delete(k) => {
                        if model.remove(k).is_some() {
                            t.delete(&id_of(&t, *k).unwrap()).unwrap();
                        }
                    }
                    Op::Purge(k) => {
                        if let Some(id) = id_of(&t, *k) {
                            t.hard_delete(&id).unwrap();
                            model.remove(k);
                        }
                    }
                }
                check(&t, &model);
            }
        }
    }

    /// Deletes the document counter so the index looks like one written before document numbers.
    fn make_legacy(kv: &dyn crate::kv::Kv) {
        let keys = Keys::new("t");
        let key = sub(&doc_numbers_prefix(&keys, "note"), NEXT_DOC, "");
        kv.delete(&key).unwrap();
        // And a posting in the old layout, which the rebuild must sweep away.
        let mut old = keys.fulltext_field("note", "body");
        old.extend_from_slice(b"pant\0");
        old.extend_from_slice(Uuid::nil().as_bytes());
        kv.put(&old, &[1, 1, 0]).unwrap();
    }

    #[test]
    fn an_index_without_document_numbers_is_rebuilt_when_opened_for_writing() {
        let kv: std::sync::Arc<dyn crate::kv::Kv> = std::sync::Arc::new(crate::kv::MemoryKv::new());
        {
            let db = crate::Database::with_kv(kv.clone());
            let t = db.tenant("t").unwrap();
            t.register_schema(schema()).unwrap();
            t.insert("note", json!({"key": "a", "body": "ant bee"}))
                .unwrap();
            t.insert("note", json!({"key": "b", "body": "bee"}))
                .unwrap();
        }
        make_legacy(&*kv);
        let keyword = crate::vector::SearchOptions {
            mode: crate::vector::SearchMode::Keyword,
            ..Default::default()
        };
        let read_only = crate::OpenOptions {
            read_only: true,
            ..Default::default()
        };
        let db = crate::Database::with_kv_options(kv.clone(), &read_only).unwrap();
        let err = db
            .tenant("t")
            .unwrap()
            .search("note", "bee", &keyword)
            .unwrap_err();
        assert!(err.to_string().contains("older remdb"), "{err}");
        drop(db);
        let db = crate::Database::with_kv(kv.clone());
        let t = db.tenant("t").unwrap();
        let hits = t.search("note", "bee", &keyword).unwrap();
        assert_eq!(hits.len(), 2);
        assert_eq!(t.search("note", "ant", &keyword).unwrap().len(), 1);
        let snap = kv.snapshot().unwrap();
        let mut old = Keys::new("t").fulltext_field("note", "body");
        old.push(b'p');
        assert_eq!(
            snap.scan(&KeyRange::prefix(&old), Direction::Forward)
                .unwrap()
                .count(),
            0
        );
    }
}
