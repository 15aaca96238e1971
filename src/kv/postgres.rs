//! PostgreSQL backend (feature `server`, native only): the sync hub's storage when several
//! `rem serve` processes share one database.
//!
//! One table, keyed by partition first so Citus can distribute it by `part` and wire-compatible
//! servers (CockroachDB, YugabyteDB) take it as is:
//!
//! ```sql
//! CREATE TABLE rem_kv (part bytea, key bytea, value bytea, PRIMARY KEY (part, key))
//! ```
//!
//! A key's partition is [`partition_of`] it: its bytes through the first NUL (one tenant, in
//! the store's layout), or empty. Scans inside one partition stay on it; others (listing
//! tenants) read across partitions. A snapshot is a `REPEATABLE READ READ ONLY` transaction on
//! one pooled connection; a write batch is one transaction, retried on serialization failures
//! and deadlocks, that also `NOTIFY`s `rem_kv` with each partition it wrote (hex), so every
//! process can wake its waiters. [`Kv::exclusive`] takes a session advisory lock per partition:
//! writers in different processes take turns, and the lock goes with the connection if the
//! process dies.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::time::Duration;

use postgres::error::SqlState;
use postgres::{Client, NoTls, Statement};

use super::{BatchOp, Direction, KeyRange, Kv, KvIter, KvPair, KvSnapshot, WriteBatch};
use crate::error::{Error, Result};

/// The channel every write batch notifies with the partitions it wrote (hex).
pub const CHANGES_CHANNEL: &str = "rem_kv";

/// How long a writer waits for another process's write of the same partition.
const LOCK_WAIT: Duration = Duration::from_secs(30);
/// Times a write batch is retried after a serialization failure or a deadlock.
const WRITE_RETRIES: usize = 8;
/// Pairs fetched per round trip by a scan: small first (most scans stop early), then larger.
const FIRST_PAGE: i64 = 64;
const LARGEST_PAGE: i64 = 4096;

/// The partition of `key`: its bytes through the first NUL, or empty when it has none.
pub fn partition_of(key: &[u8]) -> &[u8] {
    match key.iter().position(|&b| b == 0) {
        Some(i) => &key[..=i],
        None => &[],
    }
}

/// A [`Kv`] in a PostgreSQL database.
pub struct PgKv {
    pool: r2d2::Pool<Manager>,
}

impl PgKv {
    /// Connects to `url` (`postgres://user:password@host:port/dbname`, no TLS: a private network
    /// or loopback) with at most `connections` pooled connections, and creates the table when
    /// it is missing.
    pub fn connect(url: &str, connections: u32) -> Result<Self> {
        let config: postgres::Config = url
            .parse()
            .map_err(|e| Error::InvalidArgument(format!("PostgreSQL URL: {e}")))?;
        let mut first = config.connect(NoTls).map_err(pg)?;
        first
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS rem_kv (
                     part bytea NOT NULL,
                     key bytea NOT NULL,
                     value bytea NOT NULL,
                     PRIMARY KEY (part, key))",
            )
            .or_else(|e| {
                // Two processes creating the table at once: the loser sees it exist.
                if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
                    Ok(())
                } else {
                    Err(pg(e))
                }
            })?;
        drop(first);
        let pool = r2d2::Pool::builder()
            .max_size(connections.max(2))
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(30))
            .build(Manager { config })
            .map_err(|e| Error::storage(format!("PostgreSQL pool: {e}")))?;
        Ok(PgKv { pool })
    }

    fn conn(&self) -> Result<r2d2::PooledConnection<Manager>> {
        self.pool
            .get()
            .map_err(|e| Error::storage(format!("PostgreSQL pool: {e}")))
    }

    /// Applies `batch` in one transaction; `Ok(false)` when it must be retried.
    fn try_write(conn: &mut Conn, ops: &[BatchOp]) -> std::result::Result<(), postgres::Error> {
        let mut tx = conn.client.transaction()?;
        // Puts and deletes by key, last one wins, flushed before each range delete.
        let mut pending: BTreeMap<&[u8], Option<&[u8]>> = BTreeMap::new();
        let mut parts: BTreeSet<&[u8]> = BTreeSet::new();
        fn flush(
            tx: &mut postgres::Transaction<'_>,
            stmts: &Statements,
            pending: &mut BTreeMap<&[u8], Option<&[u8]>>,
        ) -> std::result::Result<(), postgres::Error> {
            let (mut put_parts, mut put_keys, mut put_values) = (vec![], vec![], vec![]);
            let (mut del_parts, mut del_keys) = (vec![], vec![]);
            for (key, value) in std::mem::take(pending) {
                match value {
                    Some(v) => {
                        put_parts.push(partition_of(key));
                        put_keys.push(key);
                        put_values.push(v);
                    }
                    None => {
                        del_parts.push(partition_of(key));
                        del_keys.push(key);
                    }
                }
            }
            if !put_keys.is_empty() {
                tx.execute(&stmts.upsert, &[&put_parts, &put_keys, &put_values])?;
            }
            if !del_keys.is_empty() {
                tx.execute(&stmts.delete, &[&del_parts, &del_keys])?;
            }
            Ok(())
        }
        for op in ops {
            match op {
                BatchOp::Put { key, value } => {
                    parts.insert(partition_of(key));
                    pending.insert(key, Some(value));
                }
                BatchOp::Delete { key } => {
                    parts.insert(partition_of(key));
                    pending.insert(key, None);
                }
                BatchOp::DeleteRange { start, end } => {
                    flush(&mut tx, &conn.stmts, &mut pending)?;
                    parts.insert(partition_of(start));
                    match single_partition(start, Some(end)) {
                        Some(part) => tx.execute(
                            &conn.stmts.delete_range_in,
                            &[&part, &start.as_slice(), &end.as_slice()],
                        )?,
                        None => tx.execute(
                            &conn.stmts.delete_range_across,
                            &[&start.as_slice(), &end.as_slice()],
                        )?,
                    };
                }
            }
        }
        flush(&mut tx, &conn.stmts, &mut pending)?;
        for part in parts {
            let hex: String = part.iter().map(|b| format!("{b:02x}")).collect();
            tx.execute(&conn.stmts.notify, &[&hex])?;
        }
        tx.commit()
    }
}

impl Kv for PgKv {
    fn backend_name(&self) -> &'static str {
        "postgres"
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.conn()?.get(key)
    }

    fn scan(&self, range: &KeyRange, direction: Direction) -> Result<KvIter<'_>> {
        let snapshot = PgSnapshot::begin(self.conn()?)?;
        Ok(Box::new(Cursor::new(Owned(snapshot), range, direction)))
    }

    fn write(&self, batch: WriteBatch) -> Result<()> {
        for op in batch.ops() {
            op.check()?;
        }
        if batch.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn()?;
        let mut attempt = 0;
        loop {
            match Self::try_write(&mut conn, batch.ops()) {
                Ok(()) => return Ok(()),
                Err(e)
                    if attempt < WRITE_RETRIES
                        && matches!(
                            e.code(),
                            Some(&SqlState::T_R_SERIALIZATION_FAILURE)
                                | Some(&SqlState::T_R_DEADLOCK_DETECTED)
                        ) =>
                {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(2 << attempt.min(6)));
                }
                Err(e) => return Err(pg(e)),
            }
        }
    }

    fn snapshot(&self) -> Result<Box<dyn KvSnapshot + '_>> {
        Ok(Box::new(PgSnapshot::begin(self.conn()?)?))
    }

    fn exclusive(&self, scope: &[u8]) -> Result<Option<super::ExclusiveGuard>> {
        let mut conn = self.conn()?;
        let Conn { client, stmts, .. } = &mut *conn;
        client
            .execute(&stmts.lock, &[&scope])
            .map_err(|e| match e.code() {
                Some(&SqlState::LOCK_NOT_AVAILABLE) | Some(&SqlState::QUERY_CANCELED) => {
                    Error::storage(format!(
                        "another process held this tenant's write lock for over {} s",
                        LOCK_WAIT.as_secs()
                    ))
                }
                _ => pg(e),
            })?;
        Ok(Some(Box::new(AdvisoryLock {
            conn: Some(conn),
            scope: scope.to_vec(),
        })))
    }
}

/// Holds a partition's advisory lock until dropped.
struct AdvisoryLock {
    conn: Option<r2d2::PooledConnection<Manager>>,
    scope: Vec<u8>,
}

impl Drop for AdvisoryLock {
    fn drop(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            let Conn { client, stmts, .. } = &mut *conn;
            if client.execute(&stmts.unlock, &[&self.scope]).is_err() {
                // The session (and with it the lock) must end: a broken connection is dropped
                // by the pool, a live one is closed here.
                conn.broken = true;
            }
        }
    }
}

/// A `REPEATABLE READ READ ONLY` transaction on one connection.
struct PgSnapshot {
    conn: RefCell<r2d2::PooledConnection<Manager>>,
    /// Values [`KvSnapshot::prefetch`] read (`None`: absent); a snapshot never changes, so
    /// they stay true for its life.
    fetched: RefCell<std::collections::HashMap<Vec<u8>, Option<Vec<u8>>>>,
}

/// Keys one prefetch reads at most (a hub push touches at most a few thousand).
const MAX_PREFETCH: usize = 16_384;

impl PgSnapshot {
    fn begin(mut conn: r2d2::PooledConnection<Manager>) -> Result<Self> {
        // The snapshot is taken by the first query, not by BEGIN: take it now.
        conn.client
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT 1")
            .map_err(pg)?;
        Ok(PgSnapshot {
            conn: RefCell::new(conn),
            fetched: RefCell::new(std::collections::HashMap::new()),
        })
    }

    /// Up to `limit` pairs of `[lo, hi)` in `direction`.
    fn page(
        &self,
        lo: &[u8],
        hi: Option<&[u8]>,
        direction: Direction,
        limit: i64,
    ) -> Result<Vec<KvPair>> {
        let mut conn = self.conn.borrow_mut();
        let Conn { client, stmts, .. } = &mut **conn;
        let reverse = direction == Direction::Reverse;
        let rows = match (single_partition(lo, hi), hi) {
            (Some(part), Some(hi)) => {
                let stmt = if reverse {
                    &stmts.rev_in
                } else {
                    &stmts.fwd_in
                };
                client.query(stmt, &[&part, &lo, &hi, &limit])
            }
            (_, Some(hi)) => {
                let stmt = if reverse {
                    &stmts.rev_across
                } else {
                    &stmts.fwd_across
                };
                client.query(stmt, &[&lo, &hi, &limit])
            }
            (_, None) => {
                let stmt = if reverse {
                    &stmts.rev_open
                } else {
                    &stmts.fwd_open
                };
                client.query(stmt, &[&lo, &limit])
            }
        }
        .map_err(pg)?;
        Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}

impl Drop for PgSnapshot {
    fn drop(&mut self) {
        let conn = self.conn.get_mut();
        if conn.client.batch_execute("ROLLBACK").is_err() {
            conn.broken = true;
        }
    }
}

impl KvSnapshot for PgSnapshot {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if let Some(found) = self.fetched.borrow().get(key) {
            return Ok(found.clone());
        }
        self.conn.borrow_mut().get(key)
    }

    fn scan(&self, range: &KeyRange, direction: Direction) -> Result<KvIter<'_>> {
        Ok(Box::new(Cursor::new(self, range, direction)))
    }

    fn prefetch(&self, keys: &[Vec<u8>]) -> Result<()> {
        let mut by_part: BTreeMap<&[u8], Vec<&[u8]>> = BTreeMap::new();
        {
            let fetched = self.fetched.borrow();
            for key in keys.iter().take(MAX_PREFETCH) {
                if !fetched.contains_key(key) {
                    by_part.entry(partition_of(key)).or_default().push(key);
                }
            }
        }
        let mut conn = self.conn.borrow_mut();
        let Conn { client, stmts, .. } = &mut **conn;
        let mut fetched = self.fetched.borrow_mut();
        for (part, keys) in by_part {
            for row in client.query(&stmts.get_many, &[&part, &keys]).map_err(pg)? {
                fetched.insert(row.get(0), Some(row.get(1)));
            }
            for key in keys {
                fetched.entry(key.to_vec()).or_insert(None);
            }
        }
        Ok(())
    }
}

/// A snapshot a cursor borrows or owns.
trait Pages {
    fn snapshot(&self) -> &PgSnapshot;
}

impl Pages for &PgSnapshot {
    fn snapshot(&self) -> &PgSnapshot {
        self
    }
}

struct Owned(PgSnapshot);

impl Pages for Owned {
    fn snapshot(&self) -> &PgSnapshot {
        &self.0
    }
}

/// Reads a range page by page inside one snapshot (keyset paging: every page starts after the
/// last key of the one before).
struct Cursor<P: Pages> {
    pages: P,
    lo: Vec<u8>,
    hi: Option<Vec<u8>>,
    direction: Direction,
    limit: i64,
    buffer: std::vec::IntoIter<KvPair>,
    done: bool,
}

impl<P: Pages> Cursor<P> {
    fn new(pages: P, range: &KeyRange, direction: Direction) -> Self {
        let (lo, hi) = half_open(range);
        // An empty range reads nothing (and `lo > hi` would be a query error on some servers).
        let done = hi.as_ref().is_some_and(|hi| lo >= *hi);
        Cursor {
            pages,
            lo,
            hi,
            direction,
            limit: FIRST_PAGE,
            buffer: Vec::new().into_iter(),
            done,
        }
    }

    fn refill(&mut self) -> Result<()> {
        let page =
            self.pages
                .snapshot()
                .page(&self.lo, self.hi.as_deref(), self.direction, self.limit)?;
        if (page.len() as i64) < self.limit {
            self.done = true;
        }
        if let Some((last, _)) = page.last() {
            match self.direction {
                Direction::Forward => {
                    let mut next = last.clone();
                    next.push(0);
                    self.lo = next;
                }
                Direction::Reverse => self.hi = Some(last.clone()),
            }
        }
        self.limit = (self.limit * 4).min(LARGEST_PAGE);
        self.buffer = page.into_iter();
        Ok(())
    }
}

impl<P: Pages> Iterator for Cursor<P> {
    type Item = Result<KvPair>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(pair) = self.buffer.next() {
                return Some(Ok(pair));
            }
            if self.done {
                return None;
            }
            if let Err(e) = self.refill() {
                self.done = true;
                return Some(Err(e));
            }
        }
    }
}

/// `range` as `[lo, hi)`; `hi` is `None` when unbounded. The smallest key above `k` is `k\0`.
fn half_open(range: &KeyRange) -> (Vec<u8>, Option<Vec<u8>>) {
    let lo = match &range.start {
        Bound::Included(s) => s.clone(),
        Bound::Excluded(s) => [s.as_slice(), &[0]].concat(),
        Bound::Unbounded => Vec::new(),
    };
    let hi = match &range.end {
        Bound::Included(e) => Some([e.as_slice(), &[0]].concat()),
        Bound::Excluded(e) => Some(e.clone()),
        Bound::Unbounded => None,
    };
    (lo, hi)
}

/// The one partition every key of `[lo, hi)` lies in, if there is one. A partition `p` (ending
/// in its first NUL) holds exactly the keys in `[p, p with its NUL raised to 1)`.
fn single_partition<'k>(lo: &'k [u8], hi: Option<&[u8]>) -> Option<&'k [u8]> {
    let part = partition_of(lo);
    let hi = hi?;
    if part.is_empty() {
        return None;
    }
    let mut end = part.to_vec();
    *end.last_mut()? = 1;
    (hi <= end.as_slice()).then_some(part)
}

fn pg(e: postgres::Error) -> Error {
    Error::storage(format!("PostgreSQL: {e}"))
}

/// A pooled connection with its prepared statements.
struct Conn {
    client: Client,
    stmts: Statements,
    /// Set when the session must not be reused (a failed unlock or rollback).
    broken: bool,
}

impl Conn {
    /// The value of `key`, read on this connection (inside its transaction, if one is open).
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let row = self
            .client
            .query_opt(&self.stmts.get, &[&partition_of(key), &key])
            .map_err(pg)?;
        Ok(row.map(|r| r.get(0)))
    }
}

struct Statements {
    get: Statement,
    get_many: Statement,
    fwd_in: Statement,
    rev_in: Statement,
    fwd_across: Statement,
    rev_across: Statement,
    fwd_open: Statement,
    rev_open: Statement,
    upsert: Statement,
    delete: Statement,
    delete_range_in: Statement,
    delete_range_across: Statement,
    notify: Statement,
    lock: Statement,
    unlock: Statement,
}

impl Statements {
    fn prepare(c: &mut Client) -> std::result::Result<Self, postgres::Error> {
        const LOCK_KEY: &str = "hashtextextended(encode($1::bytea, 'hex'), 0)";
        Ok(Statements {
            get: c.prepare("SELECT value FROM rem_kv WHERE part = $1 AND key = $2")?,
            get_many: c.prepare(
                "SELECT key, value FROM rem_kv WHERE part = $1 AND key = ANY($2::bytea[])",
            )?,
            fwd_in: c.prepare(
                "SELECT key, value FROM rem_kv WHERE part = $1 AND key >= $2 AND key < $3 \
                 ORDER BY key LIMIT $4",
            )?,
            rev_in: c.prepare(
                "SELECT key, value FROM rem_kv WHERE part = $1 AND key >= $2 AND key < $3 \
                 ORDER BY key DESC LIMIT $4",
            )?,
            fwd_across: c.prepare(
                "SELECT key, value FROM rem_kv WHERE key >= $1 AND key < $2 ORDER BY key LIMIT $3",
            )?,
            rev_across: c.prepare(
                "SELECT key, value FROM rem_kv WHERE key >= $1 AND key < $2 \
                 ORDER BY key DESC LIMIT $3",
            )?,
            fwd_open: c
                .prepare("SELECT key, value FROM rem_kv WHERE key >= $1 ORDER BY key LIMIT $2")?,
            rev_open: c.prepare(
                "SELECT key, value FROM rem_kv WHERE key >= $1 ORDER BY key DESC LIMIT $2",
            )?,
            upsert: c.prepare(
                "INSERT INTO rem_kv (part, key, value) \
                 SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::bytea[]) \
                 ON CONFLICT (part, key) DO UPDATE SET value = EXCLUDED.value",
            )?,
            delete: c.prepare(
                "DELETE FROM rem_kv WHERE (part, key) IN \
                 (SELECT * FROM unnest($1::bytea[], $2::bytea[]))",
            )?,
            delete_range_in: c
                .prepare("DELETE FROM rem_kv WHERE part = $1 AND key >= $2 AND key < $3")?,
            delete_range_across: c.prepare("DELETE FROM rem_kv WHERE key >= $1 AND key < $2")?,
            notify: c.prepare(&format!("SELECT pg_notify('{CHANGES_CHANNEL}', $1)"))?,
            lock: c.prepare(&format!("SELECT pg_advisory_lock({LOCK_KEY})"))?,
            unlock: c.prepare(&format!("SELECT pg_advisory_unlock({LOCK_KEY})"))?,
        })
    }
}

/// Opens pooled connections: a session with a bounded lock wait and the statements prepared.
struct Manager {
    config: postgres::Config,
}

impl r2d2::ManageConnection for Manager {
    type Connection = Conn;
    type Error = postgres::Error;

    fn connect(&self) -> std::result::Result<Conn, postgres::Error> {
        let mut client = self.config.connect(NoTls)?;
        client.batch_execute(&format!("SET lock_timeout = '{}s'", LOCK_WAIT.as_secs()))?;
        let stmts = Statements::prepare(&mut client)?;
        Ok(Conn {
            client,
            stmts,
            broken: false,
        })
    }

    fn is_valid(&self, conn: &mut Conn) -> std::result::Result<(), postgres::Error> {
        conn.client.batch_execute("")
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.broken || conn.client.is_closed()
    }
}

/// Blocks on `rem_kv` notifications and calls `wake` with each changed partition, until
/// `wake` returns `false` or the connection fails (the error is returned). Runs on its own
/// thread: the hub uses it to wake long-polling pulls when another process wrote.
pub fn listen_for_changes(url: &str, mut wake: impl FnMut(&[u8]) -> bool) -> Result<()> {
    let mut client = Client::connect(url, NoTls).map_err(pg)?;
    client
        .batch_execute(&format!("LISTEN {CHANGES_CHANNEL}"))
        .map_err(pg)?;
    let mut notifications = client.notifications();
    let mut iter = notifications.blocking_iter();
    while let Some(n) =
        postgres::fallible_iterator::FallibleIterator::next(&mut iter).map_err(pg)?
    {
        let payload = n.payload();
        let part: Vec<u8> = (0..payload.len() / 2)
            .filter_map(|i| u8::from_str_radix(payload.get(2 * i..2 * i + 2)?, 16).ok())
            .collect();
        if !wake(&part) {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_end_at_the_first_nul() {
        assert_eq!(partition_of(b"tacme\0Rtable\0id"), b"tacme\0");
        assert_eq!(partition_of(b"racme"), b"");
        assert_eq!(partition_of(b"\0x"), b"\0");
    }

    #[test]
    fn ranges_inside_one_partition_are_recognised() {
        let p = KeyRange::prefix(b"tacme\0W");
        let (lo, hi) = half_open(&p);
        assert_eq!(single_partition(&lo, hi.as_deref()), Some(&b"tacme\0"[..]));
        let whole = KeyRange::prefix(b"tacme\0");
        let (lo, hi) = half_open(&whole);
        assert_eq!(single_partition(&lo, hi.as_deref()), Some(&b"tacme\0"[..]));
        // Reaching into the next tenant, unbounded, or outside tenants: across partitions.
        let (lo, hi) = half_open(&KeyRange::half_open(b"tacme\0W", b"tacme\x02"));
        assert_eq!(single_partition(&lo, hi.as_deref()), None);
        let (lo, _) = half_open(&KeyRange::prefix(b"tacme\0W"));
        assert_eq!(single_partition(&lo, None), None);
        let (lo, hi) = half_open(&KeyRange::prefix(b"r"));
        assert_eq!(single_partition(&lo, hi.as_deref()), None);
    }

    #[test]
    fn bounds_become_half_open() {
        let r = KeyRange {
            start: Bound::Excluded(b"a".to_vec()),
            end: Bound::Included(b"c".to_vec()),
        };
        assert_eq!(half_open(&r), (b"a\0".to_vec(), Some(b"c\0".to_vec())));
        assert_eq!(half_open(&KeyRange::all()), (Vec::new(), None));
    }
}
