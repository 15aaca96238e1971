//! Consistent reads for query engines: one KV snapshot, raw row bytes, index id lookups.
//!
//! [`Reader`] hands out stored rows without materialising them, so the SQL executor can decode
//! only the fields a query touches ([`StoredRow::decode_slots`]).

use std::collections::HashSet;
use std::ops::Bound;
use std::sync::Arc;

use uuid::Uuid;

use super::codec::TAG_NULL;
use super::indexes::{index_ranges, IndexQuery};
use super::keys::trailing_id;
use super::row_format::{decode_row, StoredRow};
use super::schema::CompiledSchema;
use super::TenantStore;
use crate::error::{Error, Result};
use crate::kv::{prefix_successor, Direction, KeyRange, KvSnapshot};

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

    /// Decodes every stored row of every table, telling `problem` about each one that does not
    /// decode (a damaged value the KV's own checks cannot see).
    pub(crate) fn check_rows(&self, problem: &mut dyn FnMut(String)) -> Result<()> {
        let snap = self.snapshot()?;
        for table in self.table_names()? {
            snap.visit(
                &self.keys.rows(&table),
                Direction::Forward,
                &mut |key, value| {
                    if let Err(e) = decode_row(value).and_then(|row| row.to_row()) {
                        let id = trailing_id(key)
                            .map_or_else(|_| "with a damaged key".to_string(), |id| id.to_string());
                        problem(format!(
                            "tenant `{}`, table `{table}`, row {id}: {e}",
                            self.name()
                        ));
                    }
                    Ok(true)
                },
            )?;
        }
        Ok(())
    }
}

impl<'t> Reader<'t> {
    /// The tenant read.
    pub(crate) fn tenant(&self) -> &'t TenantStore {
        self.tenant
    }

    /// The schema of `table` (an [`Error::UnknownTable`] when there is none).
    pub(crate) fn schema(&self, table: &str) -> Result<Arc<CompiledSchema>> {
        self.tenant.compiled_schema(table)
    }

    /// How many rows `table` holds (soft-deleted ones too when `include_deleted`), from the
    /// counters the write path keeps, as of this reader's snapshot.
    pub(crate) fn count(&self, table: &str, include_deleted: bool) -> Result<u64> {
        let key = self
            .tenant
            .keys
            .meta(&super::write::count_meta(table, !include_deleted));
        match self.snap.get(&key)? {
            Some(v) => super::keys::decode_u64(&v),
            None => Ok(0),
        }
    }

    /// Calls `f(id, row)` for every row of `table` in id order until it returns `false`.
    pub(crate) fn scan(
        &self,
        table: &str,
        mut f: impl FnMut(Uuid, StoredRow<'_>) -> Result<bool>,
    ) -> Result<()> {
        self.snap.visit(
            &self.tenant.keys.rows(table),
            Direction::Forward,
            &mut |key, value| f(trailing_id(key)?, decode_row(value)?),
        )
    }

    /// Walks the index of `field` in value order, descending when `desc`, with the null (and
    /// missing) values first when `nulls_first` and last otherwise: calls `f(encoded value,
    /// ids)` once per run of entries with one encoded value, until it returns `false`. The ids
    /// of a run are in id order in both directions, the order a table scan and a stable sort
    /// give rows with equal values.
    pub(crate) fn index_in_order(
        &self,
        table: &str,
        field: &str,
        desc: bool,
        nulls_first: bool,
        mut f: impl FnMut(&[u8], &[Uuid]) -> Result<bool>,
    ) -> Result<()> {
        let prefix = self.tenant.keys.index_field(table, field);
        let nulls = KeyRange::prefix(&[prefix.as_slice(), &[TAG_NULL]].concat());
        let values = KeyRange {
            start: Bound::Included([prefix.as_slice(), &[TAG_NULL + 1]].concat()),
            end: match prefix_successor(&prefix) {
                Some(end) => Bound::Excluded(end),
                None => Bound::Unbounded,
            },
        };
        let ranges = if nulls_first {
            [nulls, values]
        } else {
            [values, nulls]
        };
        let direction = if desc {
            Direction::Reverse
        } else {
            Direction::Forward
        };
        // The run being collected: its encoded value and ids. Runs never cross the two ranges
        // (null and non-null values encode differently).
        let mut value: Vec<u8> = Vec::new();
        let mut ids: Vec<Uuid> = Vec::new();
        // Hands the run to `f` (ids in id order) and empties it; `false` when `f` stops.
        let mut finish_run = |value: &[u8], ids: &mut Vec<Uuid>| -> Result<bool> {
            if ids.is_empty() {
                return Ok(true);
            }
            if desc {
                ids.reverse();
            }
            let going = f(value, ids)?;
            ids.clear();
            Ok(going)
        };
        for range in &ranges {
            let mut going = true;
            self.snap.visit(range, direction, &mut |key, _| {
                let id = trailing_id(key)?;
                let encoded = key
                    .get(prefix.len()..key.len().saturating_sub(16))
                    .ok_or_else(|| Error::storage("corrupt index entry"))?;
                if encoded != value.as_slice() {
                    going = finish_run(&value, &mut ids)?;
                    if !going {
                        return Ok(false);
                    }
                    value.clear();
                    value.extend_from_slice(encoded);
                }
                ids.push(id);
                Ok(true)
            })?;
            if !going || !finish_run(&value, &mut ids)? {
                return Ok(());
            }
        }
        Ok(())
    }

    /// The stored value of row `id` of `table`, which an index entry names: a missing row is
    /// a corrupt index (an [`Error::Storage`]).
    pub(crate) fn indexed_row(&self, table: &str, id: &Uuid) -> Result<Vec<u8>> {
        self.row(table, id)?
            .ok_or_else(|| Error::storage(format!("index entry for missing row {id} in `{table}`")))
    }

    /// The stored value of row `id` of `table` (read it with [`decode_row`]).
    pub(crate) fn row(&self, table: &str, id: &Uuid) -> Result<Option<Vec<u8>>> {
        self.snap.get(&self.tenant.keys.row(table, id))
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
            self.snap.visit(&range, Direction::Forward, &mut |key, _| {
                let id = trailing_id(key)?;
                if seen.insert(id) {
                    out.push(id);
                }
                Ok(out.len() < cap)
            })?;
            if out.len() >= cap {
                break;
            }
        }
        Ok(out)
    }
}
