//! In-process backend: a persistent (copy-on-write) ordered map, [`Tree`].
//!
//! Snapshots are O(1) clones of the map, so a long scan never blocks writers and never sees
//! their changes. Nothing is persisted.

use std::collections::VecDeque;
use std::ops::Bound;
use std::sync::RwLock;

use super::tree::Tree;
use super::{
    BatchOp, Direction, KeyRange, Kv, KvIter, KvPair, KvSnapshot, PairVisitor, WriteBatch,
};
use crate::error::{Error, Result};

/// Most pairs fetched from the snapshot per refill of a scan iterator.
const SCAN_CHUNK: usize = 256;

/// Pairs fetched by a scan iterator's first refill; each refill after fetches twice as many, up
/// to [`SCAN_CHUNK`]. Many scans stop after a pair or a few (the first key of a range, an
/// entity's edges), and each fetched pair is a copy of its key and value.
const FIRST_SCAN_CHUNK: usize = 8;

/// The in-memory backend.
#[derive(Default)]
pub struct MemoryKv {
    map: RwLock<Tree>,
}

impl MemoryKv {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn current(&self) -> Result<Tree> {
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
        let ops = batch.ops_for_applying();
        let mut map = self
            .map
            .write()
            .map_err(|_| Error::storage("memory store lock poisoned"))?;
        for op in ops {
            match op {
                BatchOp::Put { key, value } => map.insert(key, value),
                BatchOp::Delete { key } => {
                    map.remove(key);
                }
                BatchOp::DeleteRange { start, end } => {
                    if start >= end {
                        continue;
                    }
                    let mut doomed = Vec::new();
                    map.visit(
                        Bound::Included(start),
                        Bound::Excluded(end),
                        false,
                        &mut |k, _| {
                            doomed.push(k.to_vec());
                            Ok(true)
                        },
                    )?;
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
    map: Tree,
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
        let (start, end) = range.as_slices();
        self.map
            .visit(start, end, direction == Direction::Reverse, f)
            .map(|_| ())
    }
}

/// A scan over an owned snapshot, refilled in chunks so the iterator needs no borrow.
struct OwnedScan {
    map: Tree,
    range: KeyRange,
    direction: Direction,
    buffer: VecDeque<KvPair>,
    /// Pairs the next refill fetches.
    chunk: usize,
    done: bool,
}

impl OwnedScan {
    fn new(map: Tree, range: KeyRange, direction: Direction) -> Self {
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
        let (start, end) = self.range.as_slices();
        // Refill the same buffer: no fresh allocation per chunk.
        let before = self.buffer.len();
        let chunk = self.chunk;
        self.chunk = (chunk * 2).min(SCAN_CHUNK);
        let buffer = &mut self.buffer;
        let visited = self.map.visit(
            start,
            end,
            self.direction == Direction::Reverse,
            &mut |k, v| {
                buffer.push_back((k.to_vec(), v.to_vec()));
                Ok(buffer.len() - before < chunk)
            },
        );
        debug_assert!(visited.is_ok(), "collecting pairs cannot fail");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_of_every_length_round_trip() {
        // Keys sharing prefixes of many lengths; values on both sides of the leaves' inline
        // limit, in batches that also delete and delete ranges.
        let mut keys: Vec<Vec<u8>> = Vec::new();
        for len in [1, 2, 7, 8, 9, 46, 47, 48, 49, 100, 300] {
            for last in [0u8, 7, 0xff] {
                let mut key = vec![b'k'; len];
                if let Some(b) = key.last_mut() {
                    *b = last;
                }
                keys.push(key);
            }
        }
        keys.sort();
        keys.dedup();
        let value = |i: usize| vec![i as u8; (i * 97) % 3000];
        let kv = MemoryKv::new();
        let mut batch = WriteBatch::new();
        for (i, key) in keys.iter().enumerate() {
            batch.put(key.clone(), value(i));
        }
        kv.write(batch).unwrap();
        let before = kv.snapshot().unwrap();
        let scanned: Vec<KvPair> = kv
            .scan(&KeyRange::all(), Direction::Forward)
            .unwrap()
            .map(|pair| pair.unwrap())
            .collect();
        let want: Vec<KvPair> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.clone(), value(i)))
            .collect();
        assert_eq!(scanned, want);
        for (i, key) in keys.iter().enumerate() {
            assert_eq!(kv.get(key).unwrap(), Some(value(i)), "{key:?}");
            let mut missing = key.clone();
            missing.extend([1, 2]);
            assert_eq!(kv.get(&missing).unwrap().is_some(), keys.contains(&missing));
        }
        let mut batch = WriteBatch::new();
        batch.delete(keys[0].clone());
        batch.delete_range(vec![b'k'; 9], vec![b'k'; 100]);
        kv.write(batch).unwrap();
        let left: Vec<Vec<u8>> = kv
            .scan(&KeyRange::all(), Direction::Reverse)
            .unwrap()
            .map(|pair| pair.unwrap().0)
            .collect();
        let mut expected: Vec<Vec<u8>> = keys[1..]
            .iter()
            .filter(|k| !(k.as_slice() >= &[b'k'; 9][..] && k.as_slice() < &[b'k'; 100][..]))
            .cloned()
            .collect();
        expected.reverse();
        assert_eq!(left, expected);
        // The snapshot taken before still sees every pair.
        assert_eq!(
            before
                .scan(&KeyRange::all(), Direction::Forward)
                .unwrap()
                .count(),
            keys.len()
        );
    }
}
