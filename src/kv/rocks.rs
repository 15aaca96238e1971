//! RocksDB backend (cargo feature `rocksdb`, native only).

use std::ops::Bound;
use std::path::Path;
use std::time::{Duration, Instant};

use rocksdb::{
    DBIteratorWithThreadMode, InfoLogger, IteratorMode, LogLevel, Options, ReadOptions,
    WriteOptions, DB,
};

use super::{BatchOp, Direction, KeyRange, Kv, KvIter, KvOptions, KvPair, KvSnapshot, WriteBatch};
use crate::error::{Error, Result};

/// The RocksDB backend. Every write batch is synced to disk before `write` returns.
pub struct RocksKv {
    db: DB,
    read_only: bool,
    /// The directory, for error messages.
    label: String,
}

impl RocksKv {
    /// Opens or creates a RocksDB directory at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with(path, &KvOptions::default())
    }

    /// Opens the RocksDB directory at `path` as `options` say: read-only (nothing written to the
    /// directory, not even RocksDB's info log) or read-write (created when missing), waiting up
    /// to the lock timeout for another process to release it.
    pub fn open_with(path: &Path, options: &KvOptions) -> Result<Self> {
        let label = path.display().to_string();
        let mut opts = Options::default();
        opts.set_compression_type(rocksdb::DBCompressionType::None);
        if options.read_only {
            opts.set_info_logger(InfoLogger::new_callback_logger(LogLevel::Fatal, |_, _| {}));
            let db = DB::open_for_read_only(&opts, path, false)
                .map_err(|e| Error::Storage(format!("cannot open {label}: {e}")))?;
            return Ok(RocksKv {
                db,
                read_only: true,
                label,
            });
        }
        opts.create_if_missing(true);
        let started = Instant::now();
        loop {
            match DB::open(&opts, path) {
                Ok(db) => {
                    return Ok(RocksKv {
                        db,
                        read_only: false,
                        label,
                    })
                }
                Err(e) if e.to_string().contains("lock") => {
                    let waited = started.elapsed();
                    if waited >= options.lock_timeout {
                        return Err(Error::Storage(format!(
                            "{label} is still open in another process after waiting {:.1} s for \
                             it; try again later or wait longer (`rem --wait SECONDS` or \
                             REM_LOCK_TIMEOUT)",
                            options.lock_timeout.as_secs_f64()
                        )));
                    }
                    std::thread::sleep(
                        Duration::from_millis(25).min(options.lock_timeout - waited),
                    );
                }
                Err(e) => return Err(Error::Storage(format!("cannot open {label}: {e}"))),
            }
        }
    }
}

fn scan_range<'a>(
    start: impl FnOnce(IteratorMode<'_>) -> DBIteratorWithThreadMode<'a, DB>,
    range: &KeyRange,
    direction: Direction,
) -> KvIter<'a> {
    if range.is_empty() {
        return Box::new(std::iter::empty());
    }
    let range = range.clone();
    let owned =
        |item: std::result::Result<(Box<[u8]>, Box<[u8]>), rocksdb::Error>| -> Result<KvPair> {
            item.map(|(k, v)| (k.into_vec(), v.into_vec()))
                .map_err(Error::storage)
        };
    match direction {
        Direction::Forward => {
            let iter = match &range.start {
                Bound::Included(s) | Bound::Excluded(s) => {
                    start(IteratorMode::From(s, rocksdb::Direction::Forward))
                }
                Bound::Unbounded => start(IteratorMode::Start),
            };
            let low = range.clone();
            Box::new(
                iter.map(owned)
                    .skip_while(
                        move |r| matches!(r, Ok((k, _)) if !low.contains(k) && below_end(&low, k)),
                    )
                    .take_while(move |r| r.as_ref().map_or(true, |(k, _)| range.contains(k))),
            )
        }
        Direction::Reverse => {
            let iter = match &range.end {
                Bound::Included(e) | Bound::Excluded(e) => {
                    start(IteratorMode::From(e, rocksdb::Direction::Reverse))
                }
                Bound::Unbounded => start(IteratorMode::End),
            };
            let high = range.clone();
            Box::new(
                iter.map(owned)
                    .skip_while(move |r| matches!(r, Ok((k, _)) if !high.contains(k) && above_start(&high, k)))
                    .take_while(move |r| r.as_ref().map_or(true, |(k, _)| range.contains(k))),
            )
        }
    }
}

fn below_end(range: &KeyRange, key: &[u8]) -> bool {
    match &range.end {
        Bound::Included(e) => key <= e.as_slice(),
        Bound::Excluded(e) => key < e.as_slice(),
        Bound::Unbounded => true,
    }
}

fn above_start(range: &KeyRange, key: &[u8]) -> bool {
    match &range.start {
        Bound::Included(s) => key >= s.as_slice(),
        Bound::Excluded(s) => key > s.as_slice(),
        Bound::Unbounded => true,
    }
}

impl Kv for RocksKv {
    fn backend_name(&self) -> &'static str {
        "rocksdb"
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self
            .db
            .get_pinned(key)
            .map_err(Error::storage)?
            .map(|v| v.to_vec()))
    }

    fn scan(&self, range: &KeyRange, direction: Direction) -> Result<KvIter<'_>> {
        // A RocksDB iterator reads from an implicit snapshot taken at creation.
        Ok(scan_range(
            |mode| self.db.iterator_opt(mode, ReadOptions::default()),
            range,
            direction,
        ))
    }

    fn write(&self, batch: WriteBatch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        if self.read_only {
            return Err(Error::Storage(format!(
                "{} is open read-only: this command cannot write",
                self.label
            )));
        }
        let mut rb = rocksdb::WriteBatch::default();
        for op in batch.ops() {
            op.check()?;
            match op {
                BatchOp::Put { key, value } => rb.put(key, value),
                BatchOp::Delete { key } => rb.delete(key),
                BatchOp::DeleteRange { start, end } => {
                    if start < end {
                        rb.delete_range(start, end)
                    }
                }
            }
        }
        let mut opts = WriteOptions::default();
        opts.set_sync(true);
        self.db.write_opt(rb, &opts).map_err(Error::storage)
    }

    fn snapshot(&self) -> Result<Box<dyn KvSnapshot + '_>> {
        Ok(Box::new(RocksSnapshot {
            snapshot: self.db.snapshot(),
        }))
    }

    fn is_read_only(&self) -> bool {
        self.read_only
    }
}

struct RocksSnapshot<'a> {
    snapshot: rocksdb::Snapshot<'a>,
}

impl KvSnapshot for RocksSnapshot<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self
            .snapshot
            .get_pinned(key)
            .map_err(Error::storage)?
            .map(|v| v.to_vec()))
    }

    fn scan(&self, range: &KeyRange, direction: Direction) -> Result<KvIter<'_>> {
        // The iterator borrows `self`, so the snapshot outlives it.
        Ok(scan_range(
            |mode| self.snapshot.iterator(mode),
            range,
            direction,
        ))
    }
}
