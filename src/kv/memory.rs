//! In-process backend: a persistent (copy-on-write) ordered map.
//!
//! Snapshots are O(1) clones of the map, so a long scan never blocks writers and never sees
//! their changes. Nothing is persisted.

use std::collections::VecDeque;
use std::ops::Bound;
use std::sync::{Arc, RwLock};

use imbl::OrdMap;

use super::{
    BatchOp, Direction, KeyRange, Kv, KvIter, KvPair, KvSnapshot, PairVisitor, WriteBatch,
};
use crate::error::{Error, Result};

type Bytes = Arc<[u8]>;
type Map = OrdMap<Bytes, Bytes>;

/// Pairs fetched from the snapshot per refill of a scan iterator.
const SCAN_CHUNK: usize = 256;

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
        Ok(map.get(key).map(|v| v.to_vec()))
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
        let mut map = self
            .map
            .write()
            .map_err(|_| Error::storage("memory store lock poisoned"))?;
        for op in batch.into_ops() {
            match op {
                BatchOp::Put { key, value } => {
                    map.insert(Bytes::from(key), Bytes::from(value));
                }
                BatchOp::Delete { key } => {
                    map.remove(key.as_slice());
                }
                BatchOp::DeleteRange { start, end } => {
                    let doomed: Vec<Bytes> = map
                        .range::<_, [u8]>((
                            Bound::Included(start.as_slice()),
                            Bound::Excluded(end.as_slice()),
                        ))
                        .map(|(k, _)| k.clone())
                        .collect();
                    for key in doomed {
                        map.remove(&*key);
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
        Ok(self.map.get(key).map(|v| v.to_vec()))
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
        let iter = self.map.range::<_, [u8]>(range.as_slices());
        let mut each = |(k, v): (&Bytes, &Bytes)| f(k, v);
        match direction {
            Direction::Forward => {
                for pair in iter {
                    if !each(pair)? {
                        break;
                    }
                }
            }
            Direction::Reverse => {
                for pair in iter.rev() {
                    if !each(pair)? {
                        break;
                    }
                }
            }
        }
        Ok(())
    }
}

/// A scan over an owned snapshot, refilled in chunks so the iterator needs no borrow.
struct OwnedScan {
    map: Map,
    range: KeyRange,
    direction: Direction,
    buffer: VecDeque<KvPair>,
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
            done,
        }
    }

    fn refill(&mut self) {
        // Ordered maps panic on inverted bounds; an empty range simply ends the scan.
        if self.range.is_empty() {
            self.done = true;
            return;
        }
        let bounds = self.range.as_slices();
        // Refill the same buffer: no fresh allocation per chunk.
        let owned = |(k, v): (&Bytes, &Bytes)| (k.to_vec(), v.to_vec());
        let before = self.buffer.len();
        match self.direction {
            Direction::Forward => self.buffer.extend(
                self.map
                    .range::<_, [u8]>(bounds)
                    .take(SCAN_CHUNK)
                    .map(owned),
            ),
            Direction::Reverse => self.buffer.extend(
                self.map
                    .range::<_, [u8]>(bounds)
                    .rev()
                    .take(SCAN_CHUNK)
                    .map(owned),
            ),
        }
        if self.buffer.len() - before < SCAN_CHUNK {
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
