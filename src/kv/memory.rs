//! In-process backend: a persistent (copy-on-write) ordered map.
//!
//! Snapshots are O(1) clones of the map, so a long scan never blocks writers and never sees
//! their changes. Nothing is persisted.
//!
//! Keys compare eight bytes at a time ([`KeySlice`]): store keys share long prefixes (tenant, table),
//! and wasm's `memcmp` goes a byte at a time, which made key comparisons the bulk of a lookup.

use std::cmp::Ordering;
use std::collections::VecDeque;
use std::ops::Bound;
use std::sync::{Arc, RwLock};

use imbl::OrdMap;

use super::{
    compare_keys, BatchOp, Direction, KeyRange, Kv, KvIter, KvPair, KvSnapshot, PairVisitor,
    WriteBatch,
};
use crate::error::{Error, Result};

type Bytes = Arc<[u8]>;
type Map = OrdMap<Key, Bytes>;

/// Most pairs fetched from the snapshot per refill of a scan iterator.
const SCAN_CHUNK: usize = 256;

/// Pairs fetched by a scan iterator's first refill; each refill after fetches twice as many, up
/// to [`SCAN_CHUNK`]. Many scans stop after a pair or a few (the first key of a range, an
/// entity's edges), and each fetched pair is a copy of its key and value.
const FIRST_SCAN_CHUNK: usize = 8;

/// The in-memory backend.
#[derive(Default)]
pub struct MemoryKv {
    map: RwLock<Map>,
}

impl MemoryKv {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn current(&self) -> Result<Map> {
        self.map
            .read()
            .map(|m| m.clone())
            .map_err(|_| Error::storage("memory store lock poisoned"))
    }
}

impl Kv for MemoryKv {
    fn backend_name(&self) -> &'static str {
        "memory"
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let map = self
            .map
            .read()
            .map_err(|_| Error::storage("memory store lock poisoned"))?;
        Ok(map.get(KeySlice::new(key)).map(|v| v.to_vec()))
    }

    fn scan(&self, range: &KeyRange, direction: Direction) -> Result<KvIter<'_>> {
        Ok(Box::new(OwnedScan::new(
            self.current()?,
            range.clone(),
            direction,
        )))
    }

    fn write(&self, batch: WriteBatch) -> Result<()> {
        // Validate everything first: applying to the map cannot fail afterwards, so the batch is
        // all or nothing.
        for op in batch.ops() {
            op.check()?;
        }
        let ops = batch.into_ops_for_applying();
        let mut map = self
            .map
            .write()
            .map_err(|_| Error::storage("memory store lock poisoned"))?;
        for op in ops {
            match op {
                BatchOp::Put { key, value } => {
                    map.insert(Key::new(key), Bytes::from(value));
                }
                BatchOp::Delete { key } => {
                    map.remove(KeySlice::new(&key));
                }
                BatchOp::DeleteRange { start, end } => {
                    let doomed: Vec<Key> = map
                        .range::<_, KeySlice>((
                            Bound::Included(KeySlice::new(&start)),
                            Bound::Excluded(KeySlice::new(&end)),
                        ))
                        .map(|(k, _)| k.clone())
                        .collect();
                    for key in doomed {
                        map.remove(&key);
                    }
                }
            }
        }
        Ok(())
    }

    fn snapshot(&self) -> Result<Box<dyn KvSnapshot + '_>> {
        Ok(Box::new(MemorySnapshot {
            map: self.current()?,
        }))
    }
}

struct MemorySnapshot {
    map: Map,
}

impl KvSnapshot for MemorySnapshot {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.map.get(KeySlice::new(key)).map(|v| v.to_vec()))
    }

    fn scan(&self, range: &KeyRange, direction: Direction) -> Result<KvIter<'_>> {
        Ok(Box::new(OwnedScan::new(
            self.map.clone(),
            range.clone(),
            direction,
        )))
    }

    fn visit(&self, range: &KeyRange, direction: Direction, f: &mut PairVisitor<'_>) -> Result<()> {
        if range.is_empty() {
            return Ok(());
        }
        let iter = self.map.range::<_, KeySlice>(key_bounds(range));
        match direction {
            Direction::Forward => visit_prefetched(iter, f),
            Direction::Reverse => visit_prefetched(iter.rev(), f),
        }
    }
}

/// How many pairs ahead of the one visited a scan asks for the value's memory.
const PREFETCH_AHEAD: usize = 8;

/// Calls `f` on each pair of `pairs` until it returns `false`, asking the CPU for each value's
/// first bytes [`PREFETCH_AHEAD`] pairs early. Values live in heap blocks of their own, so a
/// scan that reads them (a table scan reads every row's header) otherwise waits on memory once
/// per pair: that wait was most of the time of a 100k-row `ORDER BY ... LIMIT`.
fn visit_prefetched<'m>(
    mut pairs: impl Iterator<Item = (&'m Key, &'m Bytes)>,
    f: &mut PairVisitor<'_>,
) -> Result<()> {
    // A ring of the pairs already asked for: slot `at` holds the next pair to visit, and takes
    // the one PREFETCH_AHEAD further on once visited. No allocation: point lookups visit too.
    let mut pull = || pairs.next().inspect(|pair| prefetch(pair.1));
    let mut ring: [Option<(&Key, &Bytes)>; PREFETCH_AHEAD] = [None; PREFETCH_AHEAD];
    for slot in &mut ring {
        *slot = pull();
    }
    let mut at = 0;
    while let Some((key, value)) = ring[at].take() {
        ring[at] = pull();
        at = (at + 1) % PREFETCH_AHEAD;
        if !f(key.as_bytes(), value)? {
            break;
        }
    }
    Ok(())
}

/// Bytes of a value a scan prefetches: rows are read from their start, and a filter or a sort
/// key seldom lies beyond the first few fields.
#[cfg(target_arch = "x86_64")]
const PREFETCH_BYTES: usize = 256;

/// Asks the CPU to bring the first `PREFETCH_BYTES` of `bytes` into cache without waiting for
/// them (x86-64; other targets have no stable prefetch instruction and skip it).
#[inline(always)]
fn prefetch(bytes: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    for line in bytes[..bytes.len().min(PREFETCH_BYTES)].chunks(64) {
        // SAFETY: a prefetch is a hint: it never faults and reads nothing into the program.
        unsafe {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            _mm_prefetch::<_MM_HINT_T0>(line.as_ptr().cast());
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}

/// A scan over an owned snapshot, refilled in chunks so the iterator needs no borrow.
struct OwnedScan {
    map: Map,
    range: KeyRange,
    direction: Direction,
    buffer: VecDeque<KvPair>,
    /// Pairs the next refill fetches.
    chunk: usize,
    done: bool,
}

impl OwnedScan {
    fn new(map: Map, range: KeyRange, direction: Direction) -> Self {
        let done = range.is_empty();
        // The buffer grows on demand: many scans (e.g. one per entity in a graph walk) return a
        // handful of pairs, and a 256-pair allocation each made them malloc-bound.
        OwnedScan {
            map,
            range,
            direction,
            buffer: VecDeque::new(),
            chunk: FIRST_SCAN_CHUNK,
            done,
        }
    }

    fn refill(&mut self) {
        // Ordered maps panic on inverted bounds; an empty range simply ends the scan.
        if self.range.is_empty() {
            self.done = true;
            return;
        }
        let bounds = key_bounds(&self.range);
        // Refill the same buffer: no fresh allocation per chunk.
        let owned = |(k, v): (&Key, &Bytes)| (k.as_bytes().to_vec(), v.to_vec());
        let before = self.buffer.len();
        let chunk = self.chunk;
        self.chunk = (chunk * 2).min(SCAN_CHUNK);
        match self.direction {
            Direction::Forward => self
                .buffer
                .extend(self.map.range::<_, KeySlice>(bounds).take(chunk).map(owned)),
            Direction::Reverse => self.buffer.extend(
                self.map
                    .range::<_, KeySlice>(bounds)
                    .rev()
                    .take(chunk)
                    .map(owned),
            ),
        }
        if self.buffer.len() - before < chunk {
            self.done = true;
        }
        if let Some((last, _)) = self.buffer.back() {
            // Narrow the remaining range past the last key returned.
            match self.direction {
                Direction::Forward => self.range.start = Bound::Excluded(last.clone()),
                Direction::Reverse => self.range.end = Bound::Excluded(last.clone()),
            }
        }
    }
}

impl Iterator for OwnedScan {
    type Item = Result<KvPair>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buffer.is_empty() && !self.done {
            self.refill();
        }
        self.buffer.pop_front().map(Ok)
    }
}

/// Longest key kept inside the tree's nodes; longer ones live on the heap. Store keys (a tenant
/// prefix, a table name, a 16-byte id) are mostly shorter, and a lookup's binary search then
/// compares keys lying in the node it is reading instead of following a pointer per key, which
/// made each comparison a cache miss.
const INLINE_KEY: usize = 46;

/// A stored key: inline up to [`INLINE_KEY`] bytes, shared beyond. Orders as [`KeySlice`] does.
#[derive(Clone)]
enum Key {
    Inline { len: u8, bytes: [u8; INLINE_KEY] },
    Shared(Bytes),
}

impl Key {
    fn new(key: Vec<u8>) -> Key {
        if key.len() <= INLINE_KEY {
            let mut bytes = [0; INLINE_KEY];
            bytes[..key.len()].copy_from_slice(&key);
            Key::Inline {
                len: key.len() as u8,
                bytes,
            }
        } else {
            Key::Shared(key.into())
        }
    }

    #[inline(always)]
    fn as_bytes(&self) -> &[u8] {
        match self {
            Key::Inline { len, bytes } => &bytes[..usize::from(*len).min(INLINE_KEY)],
            Key::Shared(bytes) => bytes,
        }
    }
}

impl std::borrow::Borrow<KeySlice> for Key {
    #[inline(always)]
    fn borrow(&self) -> &KeySlice {
        KeySlice::new(self.as_bytes())
    }
}

impl Ord for Key {
    #[inline(always)]
    fn cmp(&self, other: &Self) -> Ordering {
        compare_keys(self.as_bytes(), other.as_bytes())
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Key {}

/// Key bytes ordered like `[u8]`, compared eight at a time; borrowed for lookups so they take
/// `&[u8]` without allocating.
#[repr(transparent)]
struct KeySlice([u8]);

impl KeySlice {
    fn new(bytes: &[u8]) -> &KeySlice {
        // SAFETY: `KeySlice` is `repr(transparent)` over `[u8]`: same layout and metadata.
        unsafe { &*(bytes as *const [u8] as *const KeySlice) }
    }
}

impl Ord for KeySlice {
    // Inlined into imbl's B-tree search, which calls it once per key it passes.
    #[inline(always)]
    fn cmp(&self, other: &Self) -> Ordering {
        compare_keys(&self.0, &other.0)
    }
}

impl PartialOrd for KeySlice {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for KeySlice {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Eq for KeySlice {}

/// A key range as bounds over [`KeySlice`].
fn key_bounds(range: &KeyRange) -> (Bound<&KeySlice>, Bound<&KeySlice>) {
    let (start, end) = range.as_slices();
    (start.map(KeySlice::new), end.map(KeySlice::new))
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
    fn inline_and_heap_keys_share_one_order() {
        // Keys on both sides of the inline limit, sharing prefixes that cross it.
        let mut keys: Vec<Vec<u8>> = Vec::new();
        for len in [
            1,
            2,
            INLINE_KEY - 1,
            INLINE_KEY,
            INLINE_KEY + 1,
            2 * INLINE_KEY,
        ] {
            for last in [0u8, 7, 0xff] {
                let mut key = vec![b'k'; len];
                if let Some(b) = key.last_mut() {
                    *b = last;
                }
                keys.push(key);
            }
        }
        let kv = MemoryKv::new();
        let mut batch = WriteBatch::new();
        for (i, key) in keys.iter().enumerate() {
            batch.put(key.clone(), vec![i as u8]);
        }
        kv.write(batch).unwrap();
        keys.sort();
        keys.dedup();
        let scanned: Vec<Vec<u8>> = kv
            .scan(&KeyRange::all(), Direction::Forward)
            .unwrap()
            .map(|pair| pair.unwrap().0)
            .collect();
        assert_eq!(scanned, keys);
        for key in &keys {
            assert!(kv.get(key).unwrap().is_some(), "{key:?}");
            let mut missing = key.clone();
            missing.push(1);
            missing.push(2);
            assert_eq!(
                kv.get(&missing).unwrap().is_some(),
                keys.contains(&missing),
                "{missing:?}"
            );
        }
    }
}
