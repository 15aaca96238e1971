//! redb backend: one copy-on-write B-tree file natively, or redb over [`MemoryPages`] (the seam
//! the browser build persists to IndexedDB).
//!
//! Every call into redb runs inside [`contain`]: redb may panic on a damaged file (a zeroed page
//! gives `Invalid page type byte 0`), and natively such a panic becomes an [`Error::Storage`]
//! naming the file instead of taking the process down.

use std::cell::Cell;
use std::path::Path;
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use redb::{Database, ReadOnlyDatabase, ReadOnlyTable, ReadableDatabase, TableDefinition};

use super::{
    BatchOp, CheckReport, Direction, KeyRange, Kv, KvIter, KvOptions, KvPair, KvSnapshot,
    MemoryPages, PairVisitor, WriteBatch,
};
use crate::error::{Error, Result};

/// All keys live in one redb table; ordering is redb's byte-slice ordering (lexicographic).
const TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("remdb");

/// How long a waiting open sleeps between two attempts to take the file lock.
const LOCK_POLL: Duration = Duration::from_millis(25);

/// The redb backend.
pub struct RedbKv {
    db: Handle,
    /// The file (or `in-memory redb`), for error messages.
    label: Arc<str>,
}

/// A writable database, or one opened read-only (which never writes to its file).
enum Handle {
    Write(Database),
    Read(ReadOnlyDatabase),
}

type Table = ReadOnlyTable<&'static [u8], &'static [u8]>;

thread_local! {
    /// How many [`contain`] calls are running on this thread: their panics are reported as
    /// errors, so the panic hook stays quiet for them.
    static CONTAINED: Cell<u32> = const { Cell::new(0) };
}

/// Installs (once) a panic hook that prints nothing for panics [`contain`] turns into errors and
/// hands every other panic to the hook that was there before.
fn quiet_contained_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if CONTAINED.with(Cell::get) == 0 {
                previous(info);
            }
        }));
    });
}

/// The text of a panic payload.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

/// What a damaged file's error says to do about it.
const DAMAGE_ADVICE: &str = "the file is damaged: run `rem check` on the database to see the \
    damage, then restore the file from a backup or rebuild it from another replica's WAL";

/// The error for a damaged file.
fn damaged(label: &str, detail: &str) -> Error {
    Error::Storage(format!("{label}: {detail}; {DAMAGE_ADVICE}"))
}

/// Runs `f` (a call into redb), turning a panic into a storage error naming `label`.
pub(crate) fn contain<T>(label: &str, f: impl FnOnce() -> T) -> Result<T> {
    quiet_contained_panics();
    CONTAINED.with(|c| c.set(c.get() + 1));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    CONTAINED.with(|c| c.set(c.get() - 1));
    outcome.map_err(|payload| {
        damaged(
            label,
            &format!("redb stopped on damaged data ({})", panic_text(&*payload)),
        )
    })
}

/// A redb error as a storage error naming the file; corruption gets the advice of [`damaged`].
fn fail(label: &str, e: impl Into<redb::Error>) -> Error {
    let e: redb::Error = e.into();
    match &e {
        redb::Error::Corrupted(_) => damaged(label, &e.to_string()),
        redb::Error::Io(io)
            if matches!(
                io.kind(),
                std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidData
            ) =>
        {
            damaged(label, &e.to_string())
        }
        _ => Error::Storage(format!("{label}: {e}")),
    }
}

/// Whether an open failed only because another process holds the file.
fn is_locked(e: &redb::DatabaseError) -> bool {
    matches!(e, redb::DatabaseError::DatabaseAlreadyOpen)
}

/// The error once the lock wait is over.
fn still_locked(label: &str, waited: Duration) -> Error {
    if waited.is_zero() {
        Error::Storage(format!(
            "{label} is already open in another process (give a lock timeout, e.g. `rem --wait 10`, \
             to wait for it)"
        ))
    } else {
        Error::Storage(format!(
            "{label} is still open in another process after waiting {:.1} s for it; try again \
             later or wait longer (`rem --wait SECONDS` or REM_LOCK_TIMEOUT)",
            waited.as_secs_f64()
        ))
    }
}

/// Calls `open` until it stops failing with a held lock, or `timeout` has passed. Other redb
/// errors are handed back as they are (the inner error).
fn open_waiting<T>(
    label: &str,
    timeout: Duration,
    mut open: impl FnMut() -> std::result::Result<T, redb::DatabaseError>,
) -> Result<std::result::Result<T, redb::DatabaseError>> {
    // No clock read when not waiting: wasm32 has none.
    let started = (!timeout.is_zero()).then(Instant::now);
    loop {
        match contain(label, &mut open)? {
            Err(e) if is_locked(&e) => {
                let waited = started.map_or(Duration::ZERO, |s| s.elapsed());
                if waited >= timeout {
                    return Err(still_locked(label, timeout.min(waited)));
                }
                std::thread::sleep(LOCK_POLL.min(timeout - waited));
            }
            other => return Ok(other),
        }
    }
}

impl RedbKv {
    /// Opens or creates the database file at `path`. A file already opened by another process
    /// is refused with a storage error.
    pub fn open_file(path: &Path) -> Result<Self> {
        Self::open_file_with(path, &KvOptions::default())
    }

    /// Opens the database file at `path` as `options` say: waiting up to their lock timeout for
    /// another process to close it, and read-only (the file must exist; nothing is ever written
    /// to it) or read-write (creating it when missing).
    pub fn open_file_with(path: &Path, options: &KvOptions) -> Result<Self> {
        let label: Arc<str> = path.display().to_string().into();
        if options.read_only {
            if !path.is_file() {
                return Err(Error::NotFound(format!("no database file {label}")));
            }
            match open_waiting(&label, options.lock_timeout, || {
                ReadOnlyDatabase::open(path)
            })? {
                Ok(db) => {
                    return Ok(RedbKv {
                        db: Handle::Read(db),
                        label,
                    })
                }
                // A file left by a process that did not close it (a crash, kill -9) needs redb's
                // recovery, which a read-only open may not run: recover it with a writable open,
                // the one case a reading command writes.
                Err(redb::DatabaseError::RepairAborted) => {}
                Err(e) => return Err(fail(&label, e)),
            }
        }
        let db = open_waiting(&label, options.lock_timeout, || Database::create(path))?
            .map_err(|e| fail(&label, e))?;
        Self::init(db, label)
    }

    /// Opens redb over in-memory pages. Pass the same [`MemoryPages`] (or one restored from its
    /// persisted chunks) to reopen the same database.
    pub fn open_pages(pages: MemoryPages) -> Result<Self> {
        let label: Arc<str> = "in-memory redb".into();
        let db = contain(&label, || Database::builder().create_with_backend(pages))?
            .map_err(|e| fail(&label, e))?;
        Self::init(db, label)
    }

    fn init(db: Database, label: Arc<str>) -> Result<Self> {
        contain(&label, || -> std::result::Result<(), redb::Error> {
            let txn = db.begin_write()?;
            txn.open_table(TABLE)?;
            txn.commit()?;
            Ok(())
        })?
        .map_err(|e| fail(&label, e))?;
        Ok(RedbKv {
            db: Handle::Write(db),
            label,
        })
    }

    /// The table in a new read transaction; `None` when a read-only database has no table yet.
    fn read_table(&self) -> Result<Option<Table>> {
        contain(&self.label, || {
            let txn = match &self.db {
                Handle::Write(db) => db.begin_read(),
                Handle::Read(db) => db.begin_read(),
            }
            .map_err(|e| fail(&self.label, e))?;
            match txn.open_table(TABLE) {
                Ok(table) => Ok(Some(table)),
                Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
                Err(e) => Err(fail(&self.label, e)),
            }
        })?
    }

    fn apply(&self, db: &Database, batch: WriteBatch) -> Result<()> {
        let txn = db.begin_write().map_err(|e| fail(&self.label, e))?;
        let applied = (|| -> Result<()> {
            let mut table = txn.open_table(TABLE).map_err(|e| fail(&self.label, e))?;
            for op in batch.ops_for_applying() {
                op.check()?;
                match op {
                    BatchOp::Put { key, value } => {
                        table
                            .insert(key.as_slice(), value.as_slice())
                            .map_err(|e| fail(&self.label, e))?;
                    }
                    BatchOp::Delete { key } => {
                        table
                            .remove(key.as_slice())
                            .map_err(|e| fail(&self.label, e))?;
                    }
                    BatchOp::DeleteRange { start, end } => {
                        if start < end {
                            table
                                .retain_in::<&[u8], _>(start.as_slice()..end.as_slice(), |_, _| {
                                    false
                                })
                                .map_err(|e| fail(&self.label, e))?;
                        }
                    }
                }
            }
            Ok(())
        })();
        match applied {
            Ok(()) => txn.commit().map_err(|e| fail(&self.label, e)),
            Err(err) => {
                // Nothing of the batch becomes visible.
                txn.abort().map_err(|e| fail(&self.label, e))?;
                Err(err)
            }
        }
    }

    /// Reads every key and value of the database, counting them; a damaged page fails the read.
    pub(crate) fn read_everything(&self, report: &mut CheckReport) -> Result<()> {
        let Some(table) = self.read_table()? else {
            return Ok(());
        };
        for pair in scan_table(&self.label, &table, &KeyRange::all(), Direction::Forward)? {
            let (k, v) = pair?;
            report.keys += 1;
            report.bytes += (k.len() + v.len()) as u64;
        }
        Ok(())
    }
}

/// Checks the database file at `path` without writing to it, adding what is wrong to `report`:
/// a read-only open (held, so no writer changes the file meanwhile), redb's integrity check on a
/// private copy (the repair it may attempt never touches the database itself), then a read of
/// every key and value of the copy, or of the file when the copy does not open. An `Err` means
/// the check could not run (a held lock, an unreadable file).
pub(crate) fn check_file(
    path: &Path,
    lock_timeout: Duration,
    report: &mut CheckReport,
) -> Result<()> {
    let label: Arc<str> = path.display().to_string().into();
    let original = match open_waiting(&label, lock_timeout, || ReadOnlyDatabase::open(path)) {
        Ok(Ok(db)) => Some(RedbKv {
            db: Handle::Read(db),
            label: label.clone(),
        }),
        // Not closed cleanly: the copy below is recovered as a writable open would.
        Ok(Err(redb::DatabaseError::RepairAborted)) => None,
        Ok(Err(e)) => {
            report.problems.push(fail(&label, e).to_string());
            None
        }
        Err(e) if e.to_string().contains(DAMAGE_ADVICE) => {
            report.problems.push(e.to_string());
            None
        }
        Err(e) => return Err(e),
    };
    let copy = ScratchCopy::of(path)?;
    let opened = contain(&label, || {
        Database::builder()
            .set_check_integrity_on_open(true)
            .open(&copy.0)
    });
    let mut db = match opened {
        Ok(Ok(db)) => Some(db),
        Ok(Err(e)) => {
            report.problems.push(fail(&label, e).to_string());
            None
        }
        Err(e) => {
            report.problems.push(e.to_string());
            None
        }
    };
    if let Some(db) = &mut db {
        match contain(&label, || db.check_integrity()) {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => report.problems.push(format!(
                "{label}: redb's integrity check found damage (a repair of a copy succeeded);                  {DAMAGE_ADVICE}"
            )),
            Ok(Err(e)) => report.problems.push(fail(&label, e).to_string()),
            Err(e) => report.problems.push(e.to_string()),
        }
    }
    let readable = match db {
        Some(db) => Some(RedbKv {
            db: Handle::Write(db),
            label: label.clone(),
        }),
        None => original,
    };
    if let Some(kv) = readable {
        if let Err(e) = kv.read_everything(report) {
            report.problems.push(e.to_string());
        }
    }
    Ok(())
}

/// A copy of a database file in the temporary directory, removed when dropped.
struct ScratchCopy(std::path::PathBuf);

impl ScratchCopy {
    fn of(path: &Path) -> Result<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let copy =
            std::env::temp_dir().join(format!("remdb-check-{}-{nanos}.redb", std::process::id()));
        let scratch = ScratchCopy(copy);
        std::fs::copy(path, &scratch.0).map_err(|e| {
            Error::Storage(format!(
                "cannot copy {} to {} for checking: {e}",
                path.display(),
                scratch.0.display()
            ))
        })?;
        Ok(scratch)
    }
}

impl Drop for ScratchCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A borrowed key or value of the table.
type Guard<'a> = redb::AccessGuard<'a, &'static [u8]>;

/// A table range whose every step runs inside [`contain`]; it ends after its first error.
struct ContainedRange {
    range: redb::Range<'static, &'static [u8], &'static [u8]>,
    direction: Direction,
    label: Arc<str>,
    done: bool,
}

impl ContainedRange {
    /// The next pair, lent to `f` while redb's guards are alive.
    fn step<T>(&mut self, f: impl FnOnce(&[u8], &[u8]) -> T) -> Option<Result<T>> {
        if self.done {
            return None;
        }
        let label = self.label.clone();
        let range = &mut self.range;
        let direction = self.direction;
        let item = contain(&label, || match direction {
            Direction::Forward => range.next(),
            Direction::Reverse => range.next_back(),
        });
        let pair: Result<(Guard<'static>, Guard<'static>)> = match item {
            Ok(None) => {
                self.done = true;
                return None;
            }
            Ok(Some(Ok(pair))) => Ok(pair),
            Ok(Some(Err(e))) => Err(fail(&label, e)),
            Err(e) => Err(e),
        };
        match pair {
            Ok((k, v)) => Some(contain(&label, || (k.value(), v.value())).map(|(k, v)| f(k, v))),
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl Iterator for ContainedRange {
    type Item = Result<KvPair>;

    fn next(&mut self) -> Option<Self::Item> {
        self.step(|k, v| (k.to_vec(), v.to_vec()))
    }
}

fn contained_range(
    label: &Arc<str>,
    table: &Table,
    range: &KeyRange,
    direction: Direction,
) -> Result<ContainedRange> {
    let range =
        contain(label, || table.range::<&[u8]>(range.as_slices()))?.map_err(|e| fail(label, e))?;
    Ok(ContainedRange {
        range,
        direction,
        label: label.clone(),
        done: false,
    })
}

fn scan_table(
    label: &Arc<str>,
    table: &Table,
    range: &KeyRange,
    direction: Direction,
) -> Result<KvIter<'static>> {
    if range.is_empty() {
        return Ok(Box::new(std::iter::empty()));
    }
    Ok(Box::new(contained_range(label, table, range, direction)?))
}

impl Kv for RedbKv {
    fn backend_name(&self) -> &'static str {
        "redb"
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let Some(table) = self.read_table()? else {
            return Ok(None);
        };
        contain(&self.label, || {
            let value = table.get(key).map_err(|e| fail(&self.label, e))?;
            Ok(value.map(|v| v.value().to_vec()))
        })?
    }

    fn scan(&self, range: &KeyRange, direction: Direction) -> Result<KvIter<'_>> {
        match self.read_table()? {
            Some(table) => scan_table(&self.label, &table, range, direction),
            None => Ok(Box::new(std::iter::empty())),
        }
    }

    fn write(&self, batch: WriteBatch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        match &self.db {
            Handle::Write(db) => contain(&self.label, || self.apply(db, batch))?,
            Handle::Read(_) => Err(Error::Storage(format!(
                "{} is open read-only: this command cannot write",
                self.label
            ))),
        }
    }

    fn snapshot(&self) -> Result<Box<dyn KvSnapshot + '_>> {
        Ok(Box::new(RedbSnapshot {
            table: self.read_table()?,
            label: self.label.clone(),
        }))
    }

    fn is_read_only(&self) -> bool {
        matches!(self.db, Handle::Read(_))
    }
}

/// A read transaction's view of the table (none: a read-only database without the table).
struct RedbSnapshot {
    table: Option<Table>,
    label: Arc<str>,
}

impl KvSnapshot for RedbSnapshot {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let Some(table) = &self.table else {
            return Ok(None);
        };
        contain(&self.label, || {
            Ok(table
                .get(key)
                .map_err(|e| fail(&self.label, e))?
                .map(|v| v.value().to_vec()))
        })?
    }

    fn scan(&self, range: &KeyRange, direction: Direction) -> Result<KvIter<'_>> {
        match &self.table {
            Some(table) => scan_table(&self.label, table, range, direction),
            None => Ok(Box::new(std::iter::empty())),
        }
    }

    fn visit(&self, range: &KeyRange, direction: Direction, f: &mut PairVisitor<'_>) -> Result<()> {
        let Some(table) = &self.table else {
            return Ok(());
        };
        if range.is_empty() {
            return Ok(());
        }
        let mut pairs = contained_range(&self.label, table, range, direction)?;
        while let Some(more) = pairs.step(|k, v| f(k, v)) {
            if !more?? {
                break;
            }
        }
        Ok(())
    }
}
