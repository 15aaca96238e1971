//! A segment's stored form, and the form instant-distance wrote (still read).
//!
//! The stored form, cut into chunks of at most [`CHUNK_BYTES`]: a tag byte (the metric family),
//! then six little-endian `u32`s — dimensions, points, layer-0 link slots per node, upper-layer
//! link slots per node, the entry point, upper-layer nodes — then the ids (16 bytes each), the
//! levels (a byte each), the vectors (`f32`s), the layer-0 links and the upper-layer links
//! (`u32`s, [`NO_LINK`] for an empty slot). Reading checks every length and link, so damaged
//! bytes are an error, never a panic or an unbounded allocation.
//!
//! The earlier form is instant-distance's `HnswMap` through serde and postcard, behind tags 1
//! and 2: read into the same flat arrays, never written.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use uuid::Uuid;

use super::{Graph, Segment, NO_LINK};
use crate::distance::Metric;
use crate::error::{Error, Result};
use crate::vector::quantized::Quantized;

/// Size of one stored chunk of a segment.
const CHUNK_BYTES: usize = 1 << 20;

/// instant-distance's form, dot-product metrics.
const TAG_LEGACY_DOT: u8 = 1;
/// instant-distance's form, Euclidean.
const TAG_LEGACY_L2: u8 = 2;
/// The flat form, dot-product metrics.
const TAG_DOT: u8 = 0x11;
/// The flat form, Euclidean.
const TAG_L2: u8 = 0x12;

/// Most link slots a node may have on one layer.
const MAX_WIDTH: usize = 1024;
/// Highest level a point may be on.
pub(super) const MAX_LEVEL: u8 = 30;
/// Bytes of the header after the tag.
const HEADER: usize = 6 * 4;

fn corrupt(why: &str) -> Error {
    Error::storage(format!("corrupt vector segment: {why}"))
}

/// The stored form of `seg`, in chunks.
pub(super) fn encode(seg: &Segment) -> Vec<Vec<u8>> {
    let g = &seg.graph;
    let n = seg.ids.len();
    let mut out = Vec::with_capacity(
        1 + HEADER + n * (17 + 4 * seg.dims) + 4 * (g.zero.len() + g.upper.len()),
    );
    out.push(match seg.metric {
        Metric::Cosine | Metric::InnerProduct => TAG_DOT,
        Metric::L2 => TAG_L2,
    });
    let upper_nodes = g.upper.len() / g.upper_width.max(1);
    for v in [
        seg.dims,
        n,
        g.zero_width,
        g.upper_width,
        g.entry as usize,
        upper_nodes,
    ] {
        out.extend_from_slice(&(v as u32).to_le_bytes());
    }
    for id in &seg.ids {
        out.extend_from_slice(id.as_bytes());
    }
    out.extend_from_slice(&g.levels);
    for x in &seg.vectors {
        out.extend_from_slice(&x.to_le_bytes());
    }
    for l in g.zero.iter().chain(&g.upper) {
        out.extend_from_slice(&l.to_le_bytes());
    }
    out.chunks(CHUNK_BYTES).map(<[u8]>::to_vec).collect()
}

/// Reads a stored segment (either form).
pub(super) fn decode(metric: Metric, chunks: &[Vec<u8>]) -> Result<Segment> {
    let bytes = chunks.concat();
    let (&tag, body) = bytes.split_first().ok_or_else(|| corrupt("empty"))?;
    match (tag, metric) {
        (TAG_DOT | TAG_LEGACY_DOT, Metric::Cosine | Metric::InnerProduct)
        | (TAG_L2 | TAG_LEGACY_L2, Metric::L2) => {}
        (TAG_DOT | TAG_LEGACY_DOT | TAG_L2 | TAG_LEGACY_L2, _) => {
            return Err(corrupt("metric does not match the index"))
        }
        _ => return Err(corrupt(&format!("unknown format {tag}"))),
    }
    let (ids, dims, vectors, graph) = if tag == TAG_DOT || tag == TAG_L2 {
        decode_flat(body)?
    } else {
        decode_legacy(body)?
    };
    Ok(Segment {
        metric,
        dims,
        quantized: Quantized::new(metric, &vectors, dims),
        ids,
        vectors,
        graph,
    })
}

/// A reader of the flat form that never reads past its end.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.0.len() {
            return Err(corrupt("truncated"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    /// `count` items of `size` bytes each.
    fn items(&mut self, count: usize, size: usize) -> Result<&'a [u8]> {
        let n = count
            .checked_mul(size)
            .ok_or_else(|| corrupt("lengths overflow"))?;
        self.take(n)
    }

    fn u32(&mut self) -> Result<usize> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }
}

fn u32s(bytes: &[u8]) -> Vec<u32> {
    bytes
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

type Parts = (Vec<Uuid>, usize, Vec<f32>, Graph);

fn decode_flat(body: &[u8]) -> Result<Parts> {
    let mut c = Cursor(body);
    let (dims, n, zero_width, upper_width, entry, upper_nodes) =
        (c.u32()?, c.u32()?, c.u32()?, c.u32()?, c.u32()?, c.u32()?);
    if !(1..=MAX_WIDTH).contains(&zero_width) || !(1..=MAX_WIDTH).contains(&upper_width) {
        return Err(corrupt("link widths out of range"));
    }
    if n > 0 && (dims == 0 || entry >= n) {
        return Err(corrupt("no dimensions or no entry point"));
    }
    // Every count is checked against the bytes present before anything is allocated.
    let ids = c.items(n, 16)?;
    let levels = c.items(n, 1)?.to_vec();
    let vectors = c.items(n, dims.saturating_mul(4))?;
    let zero = c.items(n, zero_width.saturating_mul(4))?;
    let upper = c.items(upper_nodes, upper_width.saturating_mul(4))?;
    if !c.0.is_empty() {
        return Err(corrupt("bytes after the last link"));
    }
    let ids = ids
        .chunks_exact(16)
        .map(|b| Uuid::from_slice(b).map_err(|_| corrupt("an id")))
        .collect::<Result<Vec<_>>>()?;
    let vectors = vectors
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let graph = Graph {
        zero_width,
        upper_width,
        zero: u32s(zero),
        upper_at: upper_offsets(&levels, upper_nodes)?,
        levels,
        upper: u32s(upper),
        entry: entry as u32,
    };
    check_links(&graph)?;
    Ok((ids, dims, vectors, graph))
}

/// Where each point's upper links start, from the levels; checks they fill `upper_nodes`.
fn upper_offsets(levels: &[u8], upper_nodes: usize) -> Result<Vec<u32>> {
    let mut at = 0usize;
    let mut out = Vec::with_capacity(levels.len());
    for &l in levels {
        if l > MAX_LEVEL {
            return Err(corrupt("a level out of range"));
        }
        if l == 0 {
            out.push(NO_LINK);
        } else {
            out.push(at as u32);
            at += usize::from(l);
        }
    }
    if at != upper_nodes {
        return Err(corrupt("levels and upper links disagree"));
    }
    Ok(out)
}

/// Every link names a point on its layer; the entry point is on the top layer.
fn check_links(g: &Graph) -> Result<()> {
    let n = g.len();
    if g.zero.len() != n * g.zero_width {
        return Err(corrupt("layer 0 and the points disagree"));
    }
    if n == 0 {
        return Ok(());
    }
    let top = g.top();
    if g.levels.iter().any(|&l| usize::from(l) > top) {
        return Err(corrupt("the entry point is not on the top layer"));
    }
    for p in 0..n {
        for layer in 0..=usize::from(g.levels[p]) {
            for &l in g.links(layer, p) {
                if l != NO_LINK && (l as usize >= n || usize::from(g.levels[l as usize]) < layer) {
                    return Err(corrupt("a link names a point not on its layer"));
                }
            }
        }
    }
    Ok(())
}

/// instant-distance's link slots per node on layer 0 and above.
const LEGACY_ZERO: usize = 64;
const LEGACY_UPPER: usize = 32;

fn decode_legacy(body: &[u8]) -> Result<Parts> {
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
    if points.count != n || zero.0.len() != n * LEGACY_ZERO {
        return Err(corrupt("points, links and ids disagree in number"));
    }
    // Layer `l` (`layers[l - 1]`) holds points `0..count`, fewer (or as many) on each layer up.
    let mut levels = vec![0u8; n];
    let mut below = n;
    if layers.len() > usize::from(MAX_LEVEL) {
        return Err(corrupt("too many layers"));
    }
    for (i, Links(links)) in layers.iter().enumerate() {
        let count = links.len() / LEGACY_UPPER;
        if count == 0 || count > below || links.len() % LEGACY_UPPER != 0 {
            return Err(corrupt("an upper layer is larger than the one below"));
        }
        below = count;
        levels[..count].fill(i as u8 + 1);
    }
    let upper_nodes = levels.iter().map(|&l| usize::from(l)).sum();
    let mut upper = Vec::with_capacity(upper_nodes * LEGACY_UPPER);
    for (p, &level) in levels.iter().enumerate() {
        for layer in 1..=usize::from(level) {
            upper.extend_from_slice(&layers[layer - 1].0[p * LEGACY_UPPER..][..LEGACY_UPPER]);
        }
    }
    let graph = Graph {
        zero_width: LEGACY_ZERO,
        upper_width: LEGACY_UPPER,
        zero: zero.0,
        upper_at: upper_offsets(&levels, upper_nodes)?,
        levels,
        upper,
        entry: 0,
    };
    check_links(&graph)?;
    Ok((ids, points.dims, points.data, graph))
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
    zero: Links<LEGACY_ZERO>,
    layers: Vec<Links<LEGACY_UPPER>>,
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
