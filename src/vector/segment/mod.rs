//! One HNSW segment: a graph over a set of vectors, built and grown here, its persisted form,
//! and its search.
//!
//! - [`build`](self::build): the construction (hnswlib's algorithm: random levels, a greedy
//!   descent, a breadth-`ef_construction` search per layer, heuristic neighbour selection and
//!   pruning). It inserts into a live graph, so a merge grows the largest segment instead of
//!   rebuilding it, and it removes dead entries by repairing their neighbours' links.
//! - [`persist`](self::persist): the stored form, flat little-endian arrays in chunks; segments
//!   written by instant-distance (the library remdb built graphs with before) still read.
//!
//! Everything lives in flat arrays: every vector in one contiguous array, every node's links on
//! layer 0 in one array, its links on the layers above in another. The walk ranks by one-byte
//! codes of the vectors ([`Quantized`]), a quarter of the memory traffic; what it finds is
//! re-scored with the exact vectors. The construction walks the same way and re-ranks exactly
//! before it selects neighbours.

mod build;
mod persist;

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

use uuid::Uuid;

use super::quantized::{Quantized, QuantizedQuery};
use crate::distance::{dot, l2, Metric};

/// An unused link slot; a node's links end at the first one.
const NO_LINK: u32 = u32::MAX;

/// A built segment, ready to search (and to grow: see [`Segment::insert`]).
#[derive(Clone)]
pub(crate) struct Segment {
    metric: Metric,
    dims: usize,
    /// Row id of each point.
    ids: Vec<Uuid>,
    /// Point `p`'s vector is `vectors[p * dims..][..dims]`.
    vectors: Vec<f32>,
    /// The vectors coded a byte per component, for the walk.
    quantized: Quantized,
    /// The links.
    graph: Graph,
}

/// An HNSW graph's links, flat.
#[derive(Clone, Debug, PartialEq)]
struct Graph {
    /// Link slots of a node on layer 0.
    zero_width: usize,
    /// Link slots of a node on each layer above.
    upper_width: usize,
    /// Point `p`'s links on layer 0 are `zero[p * zero_width..][..zero_width]`.
    zero: Vec<u32>,
    /// The top layer of each point.
    levels: Vec<u8>,
    /// For a point above layer 0: where its upper links start in `upper`, in nodes of
    /// `upper_width` slots (layer `l`'s links follow at node `upper_at[p] + l - 1`).
    upper_at: Vec<u32>,
    /// Links on layers 1 and up, `levels[p] * upper_width` slots per point above layer 0.
    upper: Vec<u32>,
    /// Where every search starts: a point on the top layer (meaningless when empty).
    entry: u32,
}

impl Graph {
    fn empty(zero_width: usize, upper_width: usize) -> Self {
        Graph {
            zero_width,
            upper_width,
            zero: Vec::new(),
            levels: Vec::new(),
            upper_at: Vec::new(),
            upper: Vec::new(),
            entry: 0,
        }
    }

    /// Number of nodes.
    fn len(&self) -> usize {
        self.levels.len()
    }

    /// The top layer (0 when empty).
    fn top(&self) -> usize {
        self.levels
            .get(self.entry as usize)
            .map_or(0, |&l| usize::from(l))
    }

    /// Point `p`'s link slots on `layer` (which `p` must be on).
    #[inline(always)]
    fn links(&self, layer: usize, p: usize) -> &[u32] {
        if layer == 0 {
            &self.zero[p * self.zero_width..][..self.zero_width]
        } else {
            let node = self.upper_at[p] as usize + layer - 1;
            &self.upper[node * self.upper_width..][..self.upper_width]
        }
    }

    /// Point `p`'s links on `layer`: its slots up to the first empty one.
    fn linked(&self, layer: usize, p: usize) -> &[u32] {
        let slots = self.links(layer, p);
        let used = slots
            .iter()
            .position(|&l| l == NO_LINK)
            .unwrap_or(slots.len());
        &slots[..used]
    }

    /// Point `p`'s link slots on `layer`, to change.
    fn links_mut(&mut self, layer: usize, p: usize) -> &mut [u32] {
        if layer == 0 {
            &mut self.zero[p * self.zero_width..][..self.zero_width]
        } else {
            let node = self.upper_at[p] as usize + layer - 1;
            &mut self.upper[node * self.upper_width..][..self.upper_width]
        }
    }

    /// Adds a node on layers `0..=level`, unlinked; returns its point number.
    fn push_node(&mut self, level: u8) -> u32 {
        let p = self.levels.len() as u32;
        self.levels.push(level);
        self.zero.resize(self.zero.len() + self.zero_width, NO_LINK);
        if level > 0 {
            self.upper_at
                .push((self.upper.len() / self.upper_width) as u32);
            self.upper.resize(
                self.upper.len() + usize::from(level) * self.upper_width,
                NO_LINK,
            );
        } else {
            self.upper_at.push(NO_LINK);
        }
        p
    }
}

impl Segment {
    /// Number of entries (live or dead).
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    fn vector(&self, point: usize) -> &[f32] {
        &self.vectors[point * self.dims..(point + 1) * self.dims]
    }

    /// Approximate nearest entries to `query` (prepared for the metric), best first, with
    /// exact scores (higher is better): at most `ef` of them, found with search breadth `ef`.
    pub(crate) fn search(&self, query: &[f32], ef: usize) -> Vec<(Uuid, f32)> {
        if self.ids.is_empty() || query.len() != self.dims {
            return Vec::new();
        }
        let approx = Approximate {
            codes: &self.quantized,
            query: self.quantized.query(query),
        };
        let mut found = self.walk(ef, &approx);
        for k in &mut found {
            let p = point_of(*k);
            *k = key(self.distance(query, p), p);
        }
        found.sort_unstable();
        self.scored(&found)
    }

    /// The search with exact distances all the way.
    #[cfg(test)]
    fn search_unquantized(&self, query: &[f32], ef: usize) -> Vec<(Uuid, f32)> {
        if self.ids.is_empty() || query.len() != self.dims {
            return Vec::new();
        }
        self.scored(&self.walk(ef, &Exact(self, query)))
    }

    /// The metric's distance from `query` to point `p` (lower is nearer).
    #[inline(always)]
    fn distance(&self, query: &[f32], p: u32) -> f32 {
        distance(self.metric, query, self.vector(p as usize))
    }

    /// Ids and scores of candidate keys.
    fn scored(&self, keys: &[u64]) -> Vec<(Uuid, f32)> {
        keys.iter()
            .map(|&k| {
                let d = distance_of(k);
                let score = match self.metric {
                    Metric::Cosine | Metric::InnerProduct => -d,
                    Metric::L2 => 1.0 / (1.0 + d),
                };
                (self.ids[point_of(k) as usize], score)
            })
            .collect()
    }

    /// The HNSW search (the paper's algorithm 2 per layer, breadth 1 on the upper layers) by
    /// `dist`: the keys of the (at most) `ef` nearest points found, nearest first.
    fn walk(&self, ef: usize, dist: &impl Distances) -> Vec<u64> {
        SCRATCH.with(|cell| {
            let mut fresh = Scratch::default();
            let mut borrowed = cell.try_borrow_mut();
            let s = match borrowed.as_mut() {
                Ok(s) => &mut **s,
                Err(_) => &mut fresh, // re-entered: cannot happen today, but never panic
            };
            s.begin(self.ids.len());
            let g = &self.graph;
            s.push(g.entry, 1, dist);
            for layer in (1..=g.top()).rev() {
                s.expand(1, dist, |p| g.links(layer, p));
                s.cull();
            }
            s.expand(ef.max(1), dist, |p| g.links(0, p));
            s.nearest.clone()
        })
    }

    /// Every entry with its vector, in point order.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (Uuid, &[f32])> + '_ {
        self.ids
            .iter()
            .enumerate()
            .map(|(p, id)| (*id, self.vector(p)))
    }

    /// Scores every entry exactly: `(id, score)` for those `keep` accepts.
    pub(crate) fn exact(
        &self,
        query: &[f32],
        keep: &mut dyn FnMut(&Uuid) -> bool,
    ) -> Vec<(Uuid, f32)> {
        self.entries()
            .filter(|(id, _)| keep(id))
            .map(|(id, v)| (id, self.metric.score(query, v)))
            .collect()
    }
}

/// The distance the graph is ordered by (lower is nearer): `-a·b` for the dot-product metrics,
/// Euclidean for L2.
#[inline(always)]
fn distance(metric: Metric, a: &[f32], b: &[f32]) -> f32 {
    match metric {
        Metric::Cosine | Metric::InnerProduct => -dot(a, b),
        Metric::L2 => l2(a, b),
    }
}

/// The distances a walk ranks by. A trait rather than closures so both methods inline into the
/// walk's loops at every opt-level (the npm core build compiles remdb for size).
trait Distances {
    /// Distance to point `p` (lower is nearer).
    fn dist(&self, p: u32) -> f32;
    /// Reads the first byte `dist(p)` will read, to start fetching it.
    fn warm(&self, p: u32) -> u8;
}

/// The quantised distances of a query.
struct Approximate<'a> {
    codes: &'a Quantized,
    query: QuantizedQuery,
}

impl Distances for Approximate<'_> {
    #[inline(always)]
    fn dist(&self, p: u32) -> f32 {
        self.codes.distance(&self.query, p as usize)
    }
    #[inline(always)]
    fn warm(&self, p: u32) -> u8 {
        self.codes.first_code(p as usize)
    }
}

/// The exact distances of a query.
#[cfg(test)]
struct Exact<'a>(&'a Segment, &'a [f32]);

#[cfg(test)]
impl Distances for Exact<'_> {
    #[inline(always)]
    fn dist(&self, p: u32) -> f32 {
        self.0.distance(self.1, p)
    }
    #[inline(always)]
    fn warm(&self, _: u32) -> u8 {
        0
    }
}

thread_local! {
    /// Per-thread search state, kept between searches (the visited marks are as long as the
    /// largest segment searched).
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// A candidate as one integer: the distance's bits mapped to an order-preserving `u32` in the
/// high half, the point in the low half. Ordering keys orders by distance, then point.
#[inline(always)]
fn key(distance: f32, point: u32) -> u64 {
    let bits = distance.to_bits();
    let ordered = if bits & 0x8000_0000 != 0 {
        !bits
    } else {
        bits | 0x8000_0000
    };
    (u64::from(ordered) << 32) | u64::from(point)
}

#[inline(always)]
fn distance_of(key: u64) -> f32 {
    let ordered = (key >> 32) as u32;
    f32::from_bits(if ordered & 0x8000_0000 != 0 {
        ordered & 0x7fff_ffff
    } else {
        !ordered
    })
}

#[inline(always)]
fn point_of(key: u64) -> u32 {
    key as u32
}

/// The mutable state of one search.
#[derive(Default)]
struct Scratch {
    /// Bit `p` is set when point `p` has been looked at on the current layer: one bit a point
    /// keeps the set in the L1 cache (12.5 KiB for 100k points).
    visited: Vec<u64>,
    /// The points whose bits are set, to clear them again.
    marked: Vec<u32>,
    /// Points still to expand, nearest first (`C` in the paper).
    candidates: BinaryHeap<Reverse<u64>>,
    /// The nearest points found, sorted, nearest first (`W` in the paper).
    nearest: Vec<u64>,
    /// The unvisited links of the node being expanded, then their keys.
    fresh: Vec<u64>,
    ef: usize,
}

impl Scratch {
    fn begin(&mut self, points: usize) {
        let words = points.div_ceil(64);
        if self.visited.len() < words {
            self.visited.resize(words, 0);
        }
        self.candidates.clear();
        self.nearest.clear();
        self.forget();
    }

    /// Clears every visited mark.
    fn forget(&mut self) {
        if self.marked.len() > self.visited.len() {
            self.visited.fill(0);
        } else {
            for &p in &self.marked {
                self.visited[p as usize / 64] = 0;
            }
        }
        self.marked.clear();
    }

    /// Marks point `p` visited; `false` when it already was.
    #[inline(always)]
    fn visit(&mut self, p: u32) -> bool {
        let (word, bit) = (&mut self.visited[p as usize / 64], 1u64 << (p % 64));
        if *word & bit != 0 {
            return false;
        }
        *word |= bit;
        self.marked.push(p);
        true
    }

    /// Looks at point `p`: keeps it when it is among the `ef` nearest so far.
    #[inline(always)]
    fn push(&mut self, p: u32, ef: usize, dist: &impl Distances) {
        if self.visit(p) {
            self.offer(key(dist.dist(p), p), ef);
        }
    }

    /// Keeps candidate `k` when it is among the `ef` nearest so far.
    #[inline(always)]
    fn offer(&mut self, k: u64, ef: usize) {
        if self.nearest.len() >= ef && self.nearest[ef - 1] < k {
            return; // the common case late in a search: further than the ef-th
        }
        // The first place whose key is not below `k`, searched inline (no generic call).
        let nearest = self.nearest.as_slice();
        let (mut at, mut end) = (0, nearest.len());
        while at < end {
            let mid = (at + end) / 2;
            if nearest[mid] < k {
                at = mid + 1;
            } else {
                end = mid;
            }
        }
        if at >= ef {
            return;
        }
        self.nearest.insert(at, k);
        self.candidates.push(Reverse(k));
    }

    /// Expands candidates until the nearest one left is further than the `ef`-th found.
    fn expand<'a>(&mut self, ef: usize, dist: &impl Distances, links: impl Fn(usize) -> &'a [u32]) {
        self.ef = ef;
        while let Some(Reverse(c)) = self.candidates.pop() {
            if let Some(&furthest) = self.nearest.last() {
                if c >> 32 > furthest >> 32 {
                    break;
                }
            }
            // Four passes over the node's links, with the same outcome as pushing them one by
            // one. The search is bound by the cache misses of fetching the vectors: a tight loop
            // first touches each one (so the CPU has all those misses in flight at once instead
            // of waiting for each in turn), then the distances are computed in a loop of their
            // own, with no branch on their values.
            let mut fresh = std::mem::take(&mut self.fresh);
            fresh.clear();
            for &p in links(point_of(c) as usize) {
                if p == NO_LINK {
                    break;
                }
                if self.visit(p) {
                    fresh.push(u64::from(p));
                }
            }
            let mut touched = 0u8;
            for &k in &fresh {
                touched ^= dist.warm(k as u32);
            }
            // Likely the next node to expand: start fetching its links too.
            if let Some(Reverse(next)) = self.candidates.peek() {
                touched ^= links(point_of(*next) as usize)[0] as u8;
            }
            std::hint::black_box(touched);
            for k in fresh.iter_mut() {
                let p = *k as u32;
                *k = key(dist.dist(p), p);
            }
            for &k in &fresh {
                self.offer(k, self.ef);
            }
            self.fresh = fresh;
            self.nearest.truncate(self.ef);
        }
    }

    /// Moves down a layer: the nearest found become the candidates and the only visited points.
    fn cull(&mut self) {
        self.candidates.clear();
        self.forget();
        for i in 0..self.nearest.len() {
            let k = self.nearest[i];
            self.candidates.push(Reverse(k));
            self.visit(point_of(k));
        }
    }
}

#[cfg(test)]
mod tests;
