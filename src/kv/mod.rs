//! The ordered key-value layer everything else is built on.
//!
//! A backend implements [`Kv`]: point reads, ordered range scans in both directions, consistent
//! snapshots and atomic [`WriteBatch`]es. Nothing above this module knows which backend runs;
//! [`Backend`] and [`open`] are the only places that name them.

mod memory;
mod pages;
#[cfg(all(feature = "server", not(target_arch = "wasm32")))]
mod postgres;
mod redb;
#[cfg(feature = "rocksdb")]
mod rocks;
mod tree;

use std::cmp::Ordering;
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};

pub use self::memory::MemoryKv;
pub use self::pages::MemoryPages;
#[cfg(all(feature = "server", not(target_arch = "wasm32")))]
pub use self::postgres::{listen_for_changes, partition_of, PgKv, CHANGES_CHANNEL};
pub use self::redb::RedbKv;
#[cfg(feature = "rocksdb")]
pub use self::rocks::RocksKv;

/// Longest key a backend accepts, in bytes.
pub const MAX_KEY_LEN: usize = 16 * 1024;
/// Largest value a backend accepts, in bytes.
pub const MAX_VALUE_LEN: usize = 256 * 1024 * 1024;

/// A key and its value, owned.
pub type KvPair = (Vec<u8>, Vec<u8>);
/// A stream of pairs in key order (or reverse key order), read from one consistent snapshot.
pub type KvIter<'a> = Box<dyn Iterator<Item = Result<KvPair>> + 'a>;

/// Scan order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Ascending byte order.
    Forward,
    /// Descending byte order.
    Reverse,
}

/// A range of keys with explicit bounds, compared as unsigned bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRange {
    /// Lower bound.
    pub start: Bound<Vec<u8>>,
    /// Upper bound.
    pub end: Bound<Vec<u8>>,
}

impl KeyRange {
    /// Every key.
    pub fn all() -> Self {
        KeyRange {
            start: Bound::Unbounded,
            end: Bound::Unbounded,
        }
    }

    /// Keys that start with `prefix` (`a` matches `a`, `a\0`, `a\xff\xff`, never `b`).
    pub fn prefix(prefix: &[u8]) -> Self {
        let end = match prefix_successor(prefix) {
            Some(end) => Bound::Excluded(end),
            None => Bound::Unbounded,
        };
        KeyRange {
            start: Bound::Included(prefix.to_vec()),
            end,
        }
    }

    /// Keys in `[start, end)`.
    pub fn half_open(start: &[u8], end: &[u8]) -> Self {
        KeyRange {
            start: Bound::Included(start.to_vec()),
            end: Bound::Excluded(end.to_vec()),
        }
    }

    /// Whether `key` lies inside the range.
    pub fn contains(&self, key: &[u8]) -> bool {
        let above_start = match &self.start {
            Bound::Included(s) => key >= s.as_slice(),
            Bound::Excluded(s) => key > s.as_slice(),
            Bound::Unbounded => true,
        };
        let below_end = match &self.end {
            Bound::Included(e) => key <= e.as_slice(),
            Bound::Excluded(e) => key < e.as_slice(),
            Bound::Unbounded => true,
        };
        above_start && below_end
    }

    /// True when no key can lie inside the range.
    pub fn is_empty(&self) -> bool {
        match (&self.start, &self.end) {
            (Bound::Included(s), Bound::Included(e)) => s > e,
            (Bound::Included(s), Bound::Excluded(e))
            | (Bound::Excluded(s), Bound::Included(e))
            | (Bound::Excluded(s), Bound::Excluded(e)) => s >= e,
            _ => false,
        }
    }

    /// Borrowed bounds, the shape most ordered maps take.
    pub fn as_slices(&self) -> (Bound<&[u8]>, Bound<&[u8]>) {
        (as_slice_bound(&self.start), as_slice_bound(&self.end))
    }
}

fn as_slice_bound(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Included(v) => Bound::Included(v.as_slice()),
        Bound::Excluded(v) => Bound::Excluded(v.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// The smallest key greater than every key that starts with `prefix`, or `None` when no such key
/// exists (an empty prefix or one made only of `0xff`).
pub fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// One operation in a [`WriteBatch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOp {
    /// Set `key` to `value`.
    Put {
        /// Key.
        key: Vec<u8>,
        /// Value.
        value: Vec<u8>,
    },
    /// Remove `key` (absent keys are fine).
    Delete {
        /// Key.
        key: Vec<u8>,
    },
    /// Remove every key in `[start, end)`.
    DeleteRange {
        /// First key removed.
        start: Vec<u8>,
        /// First key kept.
        end: Vec<u8>,
    },
}

impl BatchOp {
    /// The key a put or a delete writes; a range delete's first key.
    pub fn key(&self) -> &[u8] {
        match self {
            BatchOp::Put { key, .. } | BatchOp::Delete { key } => key,
            BatchOp::DeleteRange { start, .. } => start,
        }
    }

    /// Checks the limits every backend enforces. Backends call this while applying, so that a bad
    /// operation in the middle of a batch aborts the whole batch.
    pub fn check(&self) -> Result<()> {
        let check_key = |key: &[u8]| {
            if key.is_empty() {
                Err(Error::InvalidArgument("empty key in write batch".into()))
            } else if key.len() > MAX_KEY_LEN {
                Err(Error::InvalidArgument(format!(
                    "key of {} bytes exceeds the {MAX_KEY_LEN}-byte limit",
                    key.len()
                )))
            } else {
                Ok(())
            }
        };
        match self {
            BatchOp::Put { key, value } => {
                check_key(key)?;
                if value.len() > MAX_VALUE_LEN {
                    return Err(Error::InvalidArgument(format!(
                        "value of {} bytes exceeds the {MAX_VALUE_LEN}-byte limit",
                        value.len()
                    )));
                }
                Ok(())
            }
            BatchOp::Delete { key } => check_key(key),
            BatchOp::DeleteRange { start, end } => {
                check_key(start)?;
                check_key(end)
            }
        }
    }
}

/// Operations applied all together or not at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteBatch {
    ops: Vec<BatchOp>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a put.
    pub fn put(&mut self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> &mut Self {
        self.ops.push(BatchOp::Put {
            key: key.into(),
            value: value.into(),
        });
        self
    }

    /// Adds a delete.
    pub fn delete(&mut self, key: impl Into<Vec<u8>>) -> &mut Self {
        self.ops.push(BatchOp::Delete { key: key.into() });
        self
    }

    /// Adds a delete of every key in `[start, end)`.
    pub fn delete_range(
        &mut self,
        start: impl Into<Vec<u8>>,
        end: impl Into<Vec<u8>>,
    ) -> &mut Self {
        self.ops.push(BatchOp::DeleteRange {
            start: start.into(),
            end: end.into(),
        });
        self
    }

    /// The operations, in order.
    pub fn ops(&self) -> &[BatchOp] {
        &self.ops
    }

    /// Consumes the batch into its operations.
    pub fn into_ops(self) -> Vec<BatchOp> {
        self.ops
    }

    /// The operations in the order a B-tree applies them fastest, with the same outcome as
    /// applying them as written: by key, the batch's own order kept among the operations on one
    /// key, so the last still wins. A range delete's place among the keys it covers matters, so
    /// a batch holding one keeps its order.
    ///
    /// In key order the inserts of a batch walk the tree like a merge: consecutive keys share
    /// their path from the root, which stays in cache, where a batch's random keys (ids, index
    /// values) would each miss on every level.
    pub fn ops_for_applying(&self) -> Vec<&BatchOp> {
        let mut ops: Vec<&BatchOp> = self.ops.iter().collect();
        if !ops
            .iter()
            .any(|op| matches!(op, BatchOp::DeleteRange { .. }))
        {
            // Operations on one key stay in the batch's order: they lie at ascending addresses
            // in it. (A stable sort would allocate scratch space as large as half the batch.)
            ops.sort_unstable_by(|a, b| {
                compare_keys(a.key(), b.key())
                    .then_with(|| std::ptr::from_ref(*a).cmp(&std::ptr::from_ref(*b)))
            });
        }
        ops
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True when the batch has no operations.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// What [`KvSnapshot::visit`] calls with each borrowed `(key, value)`; `Ok(false)` stops.
pub type PairVisitor<'a> = dyn FnMut(&[u8], &[u8]) -> Result<bool> + 'a;

/// A consistent, read-only, point-in-time view of a [`Kv`].
pub trait KvSnapshot {
    /// The value of `key` when the snapshot was taken.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Pairs in `range`, as they were when the snapshot was taken.
    fn scan(&self, range: &KeyRange, direction: Direction) -> Result<KvIter<'_>>;

    /// A hint that `keys` will be read from this snapshot soon. Backends that pay a round trip
    /// per read (PostgreSQL) fetch them all in one; the others ignore it.
    fn prefetch(&self, keys: &[Vec<u8>]) -> Result<()> {
        let _ = keys;
        Ok(())
    }

    /// Calls `f(key, value)` for each pair in `range`, in order, until it returns `Ok(false)`.
    /// Backends that can lend their bytes do so instead of copying every pair (query scans).
    fn visit(&self, range: &KeyRange, direction: Direction, f: &mut PairVisitor<'_>) -> Result<()> {
        for pair in self.scan(range, direction)? {
            let (k, v) = pair?;
            if !f(&k, &v)? {
                break;
            }
        }
        Ok(())
    }
}

/// An ordered byte-key store. Every method is synchronous; implementations are `Send + Sync` so
/// native callers may read from many threads while one writes.
pub trait Kv: Send + Sync + 'static {
    /// Short backend name (`memory`, `redb`, `rocksdb`).
    fn backend_name(&self) -> &'static str;
    /// The current value of `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Pairs in `range`, read from one snapshot taken when the scan starts: writes made while the
    /// iterator is alive are not seen by it.
    fn scan(&self, range: &KeyRange, direction: Direction) -> Result<KvIter<'_>>;
    /// Applies every operation of `batch` atomically and durably (for file backends).
    fn write(&self, batch: WriteBatch) -> Result<()>;
    /// A consistent view for several reads.
    fn snapshot(&self) -> Result<Box<dyn KvSnapshot + '_>>;

    /// Sets one key.
    fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.put(key, value);
        self.write(batch)
    }

    /// Removes one key.
    fn delete(&self, key: &[u8]) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.delete(key);
        self.write(batch)
    }

    /// True when the store was opened read-only: every write fails with a storage error.
    fn is_read_only(&self) -> bool {
        false
    }

    /// Makes this process the only writer of keys starting with `scope` (one tenant) until the
    /// guard drops, waiting for writers in other processes. Backends that several processes
    /// write at once (PostgreSQL) return a guard; the others `None`: one process owns them and
    /// the store's own writer lock is enough.
    fn exclusive(&self, scope: &[u8]) -> Result<Option<ExclusiveGuard>> {
        let _ = scope;
        Ok(None)
    }
}

/// Held while a write to a backend shared between processes runs; see [`Kv::exclusive`].
pub type ExclusiveGuard = Box<dyn Send>;

/// How [`open_with`] opens a file backend.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KvOptions {
    /// Open an existing database without ever writing to its files; a missing database is a
    /// `NOT_FOUND` error instead of being created.
    pub read_only: bool,
    /// How long to wait for another process to release the database's lock before failing
    /// (zero: fail at once), like SQLite's busy timeout.
    pub lock_timeout: Duration,
}

/// What [`check`] found in a database.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CheckReport {
    /// The backend checked.
    pub backend: &'static str,
    /// The file or directory checked.
    pub path: String,
    /// Keys read.
    pub keys: u64,
    /// Bytes of keys and values read.
    pub bytes: u64,
    /// Every problem found, in the order found; empty when the database is sound.
    pub problems: Vec<String>,
}

impl CheckReport {
    /// True when no problem was found.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The storage engines remdb ships.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An in-process ordered map; nothing is persisted.
    Memory,
    /// redb: a single-file, pure-Rust copy-on-write B-tree (the default on disk).
    Redb,
    /// RocksDB (cargo feature `rocksdb`, native only).
    RocksDb,
}

impl Backend {
    /// Every backend name, for help texts.
    pub const NAMES: [&'static str; 3] = ["redb", "rocksdb", "memory"];

    /// The name used on the command line and in `info`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Memory => "memory",
            Backend::Redb => "redb",
            Backend::RocksDb => "rocksdb",
        }
    }
}

impl std::str::FromStr for Backend {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "memory" => Ok(Backend::Memory),
            "redb" => Ok(Backend::Redb),
            "rocksdb" => Ok(Backend::RocksDb),
            other => Err(Error::InvalidArgument(format!(
                "unknown backend `{other}`; choose one of {}",
                Backend::NAMES.join(", ")
            ))),
        }
    }
}

const REDB_FILE: &str = "remdb.redb";
const ROCKSDB_DIR: &str = "rocksdb";

/// Which backend already lives in the database directory `dir`, if any.
pub fn detect(dir: &Path) -> Option<Backend> {
    if dir.join(REDB_FILE).is_file() {
        Some(Backend::Redb)
    } else if dir.join(ROCKSDB_DIR).is_dir() {
        Some(Backend::RocksDb)
    } else {
        None
    }
}

/// Opens (creating when missing) a store of `backend` kind in the directory `dir`.
/// `dir` is ignored for [`Backend::Memory`].
pub fn open(backend: Backend, dir: &Path) -> Result<Arc<dyn Kv>> {
    open_with(backend, dir, &KvOptions::default())
}

/// Opens a store of `backend` kind in the directory `dir` as `options` say: read-only (never
/// creating or writing anything) or read-write (creating it when missing), waiting up to the lock
/// timeout for another process. `dir` is ignored for [`Backend::Memory`].
pub fn open_with(backend: Backend, dir: &Path, options: &KvOptions) -> Result<Arc<dyn Kv>> {
    if backend == Backend::Memory {
        return Ok(Arc::new(MemoryKv::new()));
    }
    if options.read_only {
        check_dir(backend, dir)?;
        if detect(dir) != Some(backend) {
            return Err(Error::NotFound(format!("no database in {}", dir.display())));
        }
    } else {
        prepare_dir(backend, dir)?;
    }
    match backend {
        Backend::Memory => Ok(Arc::new(MemoryKv::new())),
        Backend::Redb => Ok(Arc::new(RedbKv::open_file_with(
            &dir.join(REDB_FILE),
            options,
        )?)),
        Backend::RocksDb => open_rocksdb(&dir.join(ROCKSDB_DIR), options),
    }
}

/// Verifies the database of `backend` kind in `dir` without writing to it: the backend's own
/// integrity check where it has one (redb's, run on a private copy of the file), then a read of
/// every key and value. Damage is reported in [`CheckReport::problems`]; an `Err` means the
/// check itself could not run (no database, a held lock).
pub fn check(backend: Backend, dir: &Path, lock_timeout: Duration) -> Result<CheckReport> {
    let options = KvOptions {
        read_only: true,
        lock_timeout,
    };
    let mut report = CheckReport {
        backend: backend.name(),
        ..CheckReport::default()
    };
    match backend {
        Backend::Memory => {
            return Err(Error::InvalidArgument(
                "a memory database has nothing to check".into(),
            ))
        }
        Backend::Redb => {
            let file = dir.join(REDB_FILE);
            report.path = file.display().to_string();
            check_dir(backend, dir)?;
            if !file.is_file() {
                return Err(Error::NotFound(format!("no database in {}", dir.display())));
            }
            self::redb::check_file(&file, lock_timeout, &mut report)?;
        }
        Backend::RocksDb => {
            let path = dir.join(ROCKSDB_DIR);
            report.path = path.display().to_string();
            check_dir(backend, dir)?;
            if detect(dir) != Some(backend) {
                return Err(Error::NotFound(format!("no database in {}", dir.display())));
            }
            match open_rocksdb(&path, &options) {
                Ok(kv) => read_all(&*kv, &mut report),
                Err(e) => report.problems.push(e.to_string()),
            }
        }
    }
    Ok(report)
}

/// Reads every pair of `kv` into `report`; the first failed read is a problem.
fn read_all(kv: &dyn Kv, report: &mut CheckReport) {
    let pairs = match kv.scan(&KeyRange::all(), Direction::Forward) {
        Ok(pairs) => pairs,
        Err(e) => return report.problems.push(e.to_string()),
    };
    for pair in pairs {
        match pair {
            Ok((k, v)) => {
                report.keys += 1;
                report.bytes += (k.len() + v.len()) as u64;
            }
            Err(e) => return report.problems.push(e.to_string()),
        }
    }
}

/// Refuses a directory that holds another backend's database.
fn check_dir(backend: Backend, dir: &Path) -> Result<()> {
    match detect(dir) {
        Some(existing) if existing != backend => Err(Error::InvalidArgument(format!(
            "{} holds a {} database, not {}",
            dir.display(),
            existing.name(),
            backend.name()
        ))),
        _ => Ok(()),
    }
}

/// Refuses a directory that holds another backend's database, then creates it when missing.
fn prepare_dir(backend: Backend, dir: &Path) -> Result<()> {
    check_dir(backend, dir)?;
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::Storage(format!("cannot create {}: {e}", dir.display())))
}

#[cfg(feature = "rocksdb")]
fn open_rocksdb(path: &Path, options: &KvOptions) -> Result<Arc<dyn Kv>> {
    Ok(Arc::new(RocksKv::open_with(path, options)?))
}

#[cfg(not(feature = "rocksdb"))]
fn open_rocksdb(_path: &Path, _options: &KvOptions) -> Result<Arc<dyn Kv>> {
    Err(Error::InvalidArgument(
        "this build of remdb has no RocksDB backend; rebuild with `--features rocksdb`".into(),
    ))
}

/// Collects a scan into memory (tests and small ranges).
pub fn collect(iter: KvIter<'_>) -> Result<Vec<KvPair>> {
    iter.collect()
}

/// `a.cmp(b)` for byte strings, comparing big-endian `u64` words while they are equal. Index
/// loops, no iterator adapters: inlined, this stays one loop at every opt-level.
#[inline(always)]
pub(crate) fn compare_keys(a: &[u8], b: &[u8]) -> Ordering {
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: `i + 8 <= n` bytes of both slices; unaligned reads.
        let (x, y) = unsafe {
            (
                u64::from_be(a.as_ptr().add(i).cast::<u64>().read_unaligned()),
                u64::from_be(b.as_ptr().add(i).cast::<u64>().read_unaligned()),
            )
        };
        if x != y {
            return x.cmp(&y);
        }
        i += 8;
    }
    while i < n {
        if a[i] != b[i] {
            return a[i].cmp(&b[i]);
        }
        i += 1;
    }
    a.len().cmp(&b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_order_like_byte_slices() {
        let keys: Vec<Vec<u8>> = vec![
            vec![],
            vec![0],
            vec![0, 0],
            vec![1, 2, 3, 4, 5, 6, 7],
            vec![1, 2, 3, 4, 5, 6, 7, 8],
            vec![1, 2, 3, 4, 5, 6, 7, 8, 0],
            vec![1, 2, 3, 4, 5, 6, 7, 9],
            vec![1, 2, 3, 4, 5, 6, 8],
            vec![0xff; 17],
            b"tenant/table/row/0123456789abcdef".to_vec(),
            b"tenant/table/row/0123456789abcdeg".to_vec(),
            b"tenant/table/rox".to_vec(),
        ];
        for a in &keys {
            for b in &keys {
                assert_eq!(compare_keys(a, b), a.cmp(b), "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn prefix_successor_skips_ff() {
        assert_eq!(prefix_successor(b"a"), Some(b"b".to_vec()));
        assert_eq!(prefix_successor(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_successor(b"\xff\xff"), None);
        assert_eq!(prefix_successor(b""), None);
    }

    #[test]
    fn prefix_range_bounds() {
        let r = KeyRange::prefix(b"a");
        assert!(r.contains(b"a"));
        assert!(r.contains(b"a\xff\xff"));
        assert!(!r.contains(b"b"));
        assert!(!r.contains(b"`"));
    }

    #[test]
    fn batch_op_limits() {
        assert!(BatchOp::Put {
            key: vec![],
            value: vec![]
        }
        .check()
        .is_err());
        assert!(BatchOp::Put {
            key: vec![1; MAX_KEY_LEN + 1],
            value: vec![]
        }
        .check()
        .is_err());
        assert!(BatchOp::Delete { key: vec![1] }.check().is_ok());
    }
}
