//! redb backend: one copy-on-write B-tree file natively, or redb over [`MemoryPages`] (the seam
//! the browser build persists to IndexedDB).

use std::path::Path;

use redb::{Database, ReadOnlyTable, ReadableDatabase, TableDefinition};

use super::{
    BatchOp, Direction, KeyRange, Kv, KvIter, KvSnapshot, MemoryPages, PairVisitor, WriteBatch,
};
use crate::error::{Error, Result};

/// All keys live in one redb table; ordering is redb's byte-slice ordering (lexicographic).
const TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("remdb");

/// The redb backend.
pub struct RedbKv {
    db: Database,
}

impl RedbKv {
    /// Opens or creates the database file at `path`. A file already opened by another process
    /// is refused with a storage error.
    pub fn open_file(path: &Path) -> Result<Self> {
        let db = Database::create(path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => Error::Storage(format!(
                "{} is already open in another process",
                path.display()
            )),
            other => Error::Storage(format!("cannot open {}: {other}", path.display())),
        })?;
        Self::init(db)
    }

    /// Opens redb over in-memory pages. Pass the same [`MemoryPages`] (or one restored from its
    /// persisted chunks) to reopen the same database.
    pub fn open_pages(pages: MemoryPages) -> Result<Self> {
        let db = Database::builder()
            .create_with_backend(pages)
            .map_err(|e| Error::Storage(format!("cannot open in-memory redb: {e}")))?;
        Self::init(db)
    }

    fn init(db: Database) -> Result<Self> {
        let txn = db.begin_write().map_err(Error::storage)?;
        txn.open_table(TABLE).map_err(Error::storage)?;
        txn.commit().map_err(Error::storage)?;
        Ok(RedbKv { db })
    }

    fn read_table(&self) -> Result<ReadOnlyTable<&'static [u8], &'static [u8]>> {
        let txn = self.db.begin_read().map_err(Error::storage)?;
        txn.open_table(TABLE).map_err(Error::storage)
    }

    fn apply(&self, batch: WriteBatch) -> Result<()> {
        let txn = self.db.begin_write().map_err(Error::storage)?;
        let applied = (|| -> Result<()> {
            let mut table = txn.open_table(TABLE).map_err(Error::storage)?;
            for op in batch.ops() {
                op.check()?;
                match op {
                    BatchOp::Put { key, value } => {
                        table
                            .insert(key.as_slice(), value.as_slice())
                            .map_err(Error::storage)?;
                    }
                    BatchOp::Delete { key } => {
                        table.remove(key.as_slice()).map_err(Error::storage)?;
                    }
                    BatchOp::DeleteRange { start, end } => {
                        if start < end {
                            table
                                .retain_in::<&[u8], _>(start.as_slice()..end.as_slice(), |_, _| {
                                    false
                                })
                                .map_err(Error::storage)?;
                        }
                    }
                }
            }
            Ok(())
        })();
        match applied {
            Ok(()) => txn.commit().map_err(Error::storage),
            Err(err) => {
                // Nothing of the batch becomes visible.
                txn.abort().map_err(Error::storage)?;
                Err(err)
            }
        }
    }
}

fn scan_table(
    table: &ReadOnlyTable<&'static [u8], &'static [u8]>,
    range: &KeyRange,
    direction: Direction,
) -> Result<KvIter<'static>> {
    if range.is_empty() {
        return Ok(Box::new(std::iter::empty()));
    }
    let iter = table
        .range::<&[u8]>(range.as_slices())
        .map_err(Error::storage)?;
    let owned =
        |item: std::result::Result<(Guard<'static>, Guard<'static>), redb::StorageError>| {
            item.map(|(k, v)| (k.value().to_vec(), v.value().to_vec()))
                .map_err(Error::storage)
        };
    Ok(match direction {
        Direction::Forward => Box::new(iter.map(owned)),
        Direction::Reverse => Box::new(iter.rev().map(owned)),
    })
}

impl Kv for RedbKv {
    fn backend_name(&self) -> &'static str {
        "redb"
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let table = self.read_table()?;
        let value = table.get(key).map_err(Error::storage)?;
        Ok(value.map(|v| v.value().to_vec()))
    }

    fn scan(&self, range: &KeyRange, direction: Direction) -> Result<KvIter<'_>> {
        scan_table(&self.read_table()?, range, direction)
    }

    fn write(&self, batch: WriteBatch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        self.apply(batch)
    }

    fn snapshot(&self) -> Result<Box<dyn KvSnapshot + '_>> {
        Ok(Box::new(RedbSnapshot {
            table: self.read_table()?,
        }))
    }
}

/// A borrowed key or value of the table.
type Guard<'a> = redb::AccessGuard<'a, &'static [u8]>;

/// A read transaction's view of the table.
struct RedbSnapshot {
    table: ReadOnlyTable<&'static [u8], &'static [u8]>,
}

impl KvSnapshot for RedbSnapshot {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self
            .table
            .get(key)
            .map_err(Error::storage)?
            .map(|v| v.value().to_vec()))
    }

    fn scan(&self, range: &KeyRange, direction: Direction) -> Result<KvIter<'_>> {
        scan_table(&self.table, range, direction)
    }

    fn visit(&self, range: &KeyRange, direction: Direction, f: &mut PairVisitor<'_>) -> Result<()> {
        if range.is_empty() {
            return Ok(());
        }
        let iter = self
            .table
            .range::<&[u8]>(range.as_slices())
            .map_err(Error::storage)?;
        let mut each = |item: std::result::Result<(Guard<'_>, Guard<'_>), redb::StorageError>| {
            let (k, v) = item.map_err(Error::storage)?;
            f(k.value(), v.value())
        };
        match direction {
            Direction::Forward => {
                for item in iter {
                    if !each(item)? {
                        break;
                    }
                }
            }
            Direction::Reverse => {
                for item in iter.rev() {
                    if !each(item)? {
                        break;
                    }
                }
            }
        }
        Ok(())
    }
}
