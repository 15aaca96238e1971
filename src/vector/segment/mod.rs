//! One immutable HNSW segment: a graph built by instant-distance over a fixed set of vectors,
//! its persisted form (instant-distance's own serde form, postcard, in chunks) and its search.
//!
//! instant-distance builds the graph and writes the persisted form. Reading it back goes into a
//! flat copy instead of instant-distance's own types: every vector in one contiguous array and
//! every layer's links in one array, so a distance costs one memory access instead of two (a
//! point there is a boxed slice), and the search breadth (`ef`) is chosen per query (there it is
//! fixed when the graph is built). The walk is the same algorithm, step for step; a unit test
//! pins that both return the same neighbours. It runs over one-byte codes of the vectors
//! ([`Quantized`]), a quarter of the memory traffic, and what it finds is re-scored with the
//! exact vectors.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::marker::PhantomData;

use instant_distance::{Builder, Point};
use serde::de::{self, DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::quantized::{Quantized, QuantizedQuery};
use crate::distance::{dot, l2, Metric};
use crate::error::{Error, Result};

/// Size of one stored chunk of a segment.
pub(crate) const CHUNK_BYTES: usize = 1 << 20;

/// `ef_construction` of every build.
pub(crate) const EF_CONSTRUCTION: usize = 100;

/// Links per node on layer 0 (instant-distance's `M * 2`).
const ZERO_LINKS: usize = 64;
/// Links per node on the upper layers (instant-distance's `M`).
const UPPER_LINKS: usize = 32;
/// An unused link slot; a node's links end at the first one.
const NO_LINK: u32 = u32::MAX;
/// The `ef_search` written into the persisted form (not used when reading: `ef` is per query).
const PERSISTED_EF: usize = 100;

/// A vector compared by dot product (cosine on normalised vectors); distance `-dot`.
#[derive(Clone, Serialize, Deserialize)]
struct DotPoint(Box<[f32]>);

impl Point for DotPoint {
    #[inline(always)]
    fn distance(&self, other: &Self) -> f32 {
        -dot(&self.0, &other.0)
    }
}

/// A vector compared by Euclidean distance.
#[derive(Clone, Serialize, Deserialize)]
struct L2Point(Box<[f32]>);

impl Point for L2Point {
    #[inline(always)]
    fn distance(&self, other: &Self) -> f32 {
        l2(&self.0, &other.0)
    }
}

const TAG_DOT: u8 = 1;
const TAG_L2: u8 = 2;

/// A built segment, ready to search.
pub(crate) struct Segment {
    metric: Metric,
    dims: usize,
    /// Row id of each point.
    ids: Vec<Uuid>,
    /// Point `p`'s vector is `vectors[p * dims..][..dims]`.
    vectors: Vec<f32>,
    /// The vectors coded a byte per component, for the walk.
    quantized: Quantized,
    /// Layer 0: point `p`'s links are `zero[p * ZERO_LINKS..][..ZERO_LINKS]`.
    zero: Vec<u32>,
    /// Layers 1 and up (`upper[l - 1]`), [`UPPER_LINKS`] per node. Layer `l` holds points
    /// `0..upper[l - 1].len() / UPPER_LINKS`; point 0 is on every layer (the entry point).
    upper: Vec<Vec<u32>>,
}

impl Segment {
    /// Builds a segment over `points` (already prepared for `metric`); returns it and its
    /// persisted form in chunks of at most [`CHUNK_BYTES`].
    pub(crate) fn build(
        metric: Metric,
        points: Vec<(Uuid, Vec<f32>)>,
    ) -> Result<(Self, Vec<Vec<u8>>)> {
        let builder = Builder::default()
            .ef_construction(EF_CONSTRUCTION)
            .ef_search(PERSISTED_EF)
            .seed(0x5eed);
        let (ids, vectors): (Vec<Uuid>, Vec<Vec<f32>>) = points.into_iter().unzip();
        let (tag, body) = match metric {
            Metric::Cosine | Metric::InnerProduct => {
                let points = vectors.into_iter().map(|v| DotPoint(v.into())).collect();
                (TAG_DOT, postcard::to_allocvec(&builder.build(points, ids)))
            }
            Metric::L2 => {
                let points = vectors.into_iter().map(|v| L2Point(v.into())).collect();
                (TAG_L2, postcard::to_allocvec(&builder.build(points, ids)))
            }
        };
        let body =
            body.map_err(|e| Error::storage(format!("cannot encode vector segment: {e}")))?;
        let mut bytes = Vec::with_capacity(body.len() + 1);
        bytes.push(tag);
        bytes.extend_from_slice(&body);
        drop(body);
        let segment = Self::from_bytes(metric, &bytes)?;
        Ok((
            segment,
            bytes.chunks(CHUNK_BYTES).map(<[u8]>::to_vec).collect(),
        ))
    }

    /// Reads a persisted segment.
    pub(crate) fn decode(metric: Metric, chunks: &[Vec<u8>]) -> Result<Self> {
        Self::from_bytes(metric, &chunks.concat())
    }

    fn from_bytes(metric: Metric, bytes: &[u8]) -> Result<Self> {
        let corrupt = |why: &str| Error::storage(format!("corrupt vector segment: {why}"));
        let (&tag, body) = bytes.split_first().ok_or_else(|| corrupt("empty"))?;
        match (tag, metric) {
            (TAG_DOT, Metric::Cosine | Metric::InnerProduct) | (TAG_L2, Metric::L2) => {}
            _ => return Err(corrupt("metric does not match the index")),
        }
        let p: Persisted = postcard::from_bytes(body).map_err(|e| corrupt(&e.to_string()))?;
        let n = p.values.len();
        let Persisted {
            graph:
                PersistedGraph {
                    points,
                    zero,
                    layers,
                    ..
                },
            values: ids,
        } = p;
        if points.count != n || zero.0.len() != n * ZERO_LINKS {
            return Err(corrupt("points, links and ids disagree in number"));
        }
        if zero.0.iter().any(|&l| l != NO_LINK && l as usize >= n) {
            return Err(corrupt("a link points past the last point"));
        }
        let mut upper = Vec::with_capacity(layers.len());
        for Links(links) in layers {
            let nodes = links.len() / UPPER_LINKS;
            if nodes == 0 || nodes > n || links.iter().any(|&l| l != NO_LINK && l as usize >= nodes)
            {
                return Err(corrupt("an upper layer links outside itself"));
            }
            upper.push(links);
        }
        Ok(Segment {
            metric,
            dims: points.dims,
            ids,
            quantized: Quantized::new(metric, &points.data, points.dims),
            vectors: points.data,
            zero: zero.0,
            upper,
        })
    }

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

    /// The search with exact distances all the way: instant-distance's own results.
    #[cfg(test)]
    fn search_unquantized(&self, query: &[f32], ef: usize) -> Vec<(Uuid, f32)> {
        if self.ids.is_empty() || query.len() != self.dims {
            return Vec::new();
        }
        self.scored(&self.walk(ef, &Exact(self, query)))
    }

    /// The metric's distance from `query` to point `p` (instant-distance's `Point::distance`).
    #[inline(always)]
    fn distance(&self, query: &[f32], p: u32) -> f32 {
        let v = self.vector(p as usize);
        match self.metric {
            Metric::Cosine | Metric::InnerProduct => -dot(query, v),
            Metric::L2 => l2(query, v),
        }
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

    /// instant-distance's search (the HNSW paper's algorithm 2 per layer, breadth 1 on the
    /// upper layers) over the flat arrays, by `dist`: the keys of the (at most) `ef` nearest
    /// points found, nearest first.
    fn walk(&self, ef: usize, dist: &impl Distances) -> Vec<u64> {
        SCRATCH.with(|cell| {
            let mut fresh = Scratch::default();
            let mut borrowed = cell.try_borrow_mut();
            let s = match borrowed.as_mut() {
                Ok(s) => &mut **s,
                Err(_) => &mut fresh, // re-entered: cannot happen today, but never panic
            };
            s.begin(self.ids.len());
            s.push(0, 1, dist);
            for links in self.upper.iter().rev() {
                s.expand(1, dist, |p| &links[p * UPPER_LINKS..][..UPPER_LINKS]);
                s.cull();
            }
            s.expand(ef.max(1), dist, |p| {
                &self.zero[p * ZERO_LINKS..][..ZERO_LINKS]
            });
            s.nearest.clone()
        })
    }

    /// Every entry with its vector, in build order.
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

/// The exact distances of a query (instant-distance's `Point::distance`).
#[cfg(test)]
struct Exact<'a>(&'a Segment, &'a [f32]);

#[cfg(test)]
impl Distances for Exact<'_> {
    fn dist(&self, p: u32) -> f32 {
        self.0.distance(self.1, p)
    }
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
/// high half, the point in the low half. Ordering keys orders by distance, then point, like
/// instant-distance's candidates.
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

/// instant-distance's `HnswMap<P, Uuid>` as persisted: the graph, then the ids.
#[derive(Deserialize)]
struct Persisted {
    graph: PersistedGraph,
    values: Vec<Uuid>,
}

/// instant-distance's `Hnsw<P>`: `ef_search`, the points, layer 0 (`[PointId; 64]` per point),
/// the upper layers (`[PointId; 32]` per node). A `PointId` is its `u32`.
#[derive(Deserialize)]
struct PersistedGraph {
    #[allow(dead_code)]
    ef_search: usize,
    points: FlatVectors,
    zero: Links<ZERO_LINKS>,
    layers: Vec<Links<UPPER_LINKS>>,
}

/// A sequence of equally long `f32` sequences, read into one array.
struct FlatVectors {
    count: usize,
    dims: usize,
    data: Vec<f32>,
}

impl<'de> Deserialize<'de> for FlatVectors {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Points;
        impl<'de> Visitor<'de> for Points {
            type Value = FlatVectors;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a sequence of vectors")
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<FlatVectors, A::Error> {
                let mut out = FlatVectors {
                    count: 0,
                    dims: 0,
                    data: Vec::new(),
                };
                while let Some(len) = seq.next_element_seed(AppendFloats(&mut out.data))? {
                    if out.count == 0 {
                        out.dims = len;
                        // Corrupt input cannot make this large: the hint is capped.
                        let rest = seq.size_hint().unwrap_or(0).min(1 << 22);
                        out.data.reserve(rest.saturating_mul(len));
                    } else if len != out.dims {
                        return Err(de::Error::custom("vectors of different lengths"));
                    }
                    out.count += 1;
                }
                Ok(out)
            }
        }
        d.deserialize_seq(Points)
    }
}

/// Appends one `f32` sequence to a vector; its value is the sequence's length.
struct AppendFloats<'a>(&'a mut Vec<f32>);

impl<'de> DeserializeSeed<'de> for AppendFloats<'_> {
    type Value = usize;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<usize, D::Error> {
        struct Floats<'a>(&'a mut Vec<f32>);
        impl<'de> Visitor<'de> for Floats<'_> {
            type Value = usize;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a vector")
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<usize, A::Error> {
                let mut len = 0;
                while let Some(x) = seq.next_element::<f32>()? {
                    self.0.push(x);
                    len += 1;
                }
                Ok(len)
            }
        }
        d.deserialize_seq(Floats(self.0))
    }
}

/// A sequence of `[u32; W]` arrays, read into one array.
struct Links<const W: usize>(Vec<u32>);

impl<'de, const W: usize> Deserialize<'de> for Links<W> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Nodes<const W: usize>;
        impl<'de, const W: usize> Visitor<'de> for Nodes<W> {
            type Value = Links<W>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "a sequence of {W} links per node")
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Links<W>, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 22) * W);
                while seq
                    .next_element_seed(AppendLinks::<W>(&mut out, PhantomData))?
                    .is_some()
                {}
                Ok(Links(out))
            }
        }
        d.deserialize_seq(Nodes::<W>)
    }
}

/// Appends one `[u32; W]` (a serde tuple) to a vector.
struct AppendLinks<'a, const W: usize>(&'a mut Vec<u32>, PhantomData<[u32; W]>);

impl<'de, const W: usize> DeserializeSeed<'de> for AppendLinks<'_, W> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        struct Node<'a, const W: usize>(&'a mut Vec<u32>);
        impl<'de, const W: usize> Visitor<'de> for Node<'_, W> {
            type Value = ();
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "{W} links")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
                for i in 0..W {
                    let link = seq
                        .next_element::<u32>()?
                        .ok_or_else(|| de::Error::invalid_length(i, &self))?;
                    self.0.push(link);
                }
                Ok(())
            }
        }
        d.deserialize_tuple(W, Node::<W>(self.0))
    }
}

#[cfg(test)]
mod tests;
