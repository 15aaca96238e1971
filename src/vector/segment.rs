//! One immutable HNSW segment: an instant-distance graph over a fixed set of vectors, its
//! persisted form (postcard, in chunks) and its search.
//!
//! instant-distance builds a graph from a full point set and fixes the search breadth (`ef`) at
//! build time. The breadth is the first field of the persisted form, so a segment is
//! materialised for a given `ef` by rewriting that one varint before decoding.

use instant_distance::{Builder, HnswMap, Point, Search};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::store::vectors::{dot, l2, Metric};

/// Size of one stored chunk of a segment.
pub(crate) const CHUNK_BYTES: usize = 1 << 20;

/// `ef_construction` of every build.
pub(crate) const EF_CONSTRUCTION: usize = 100;

/// A vector compared by dot product (cosine on normalised vectors); distance `-dot`.
#[derive(Clone, Serialize, Deserialize)]
struct DotPoint(Box<[f32]>);

impl Point for DotPoint {
    fn distance(&self, other: &Self) -> f32 {
        -dot(&self.0, &other.0)
    }
}

/// A vector compared by Euclidean distance.
#[derive(Clone, Serialize, Deserialize)]
struct L2Point(Box<[f32]>);

impl Point for L2Point {
    fn distance(&self, other: &Self) -> f32 {
        l2(&self.0, &other.0)
    }
}

enum Graph {
    Dot(HnswMap<DotPoint, Uuid>),
    L2(HnswMap<L2Point, Uuid>),
}

/// A built segment, ready to search.
pub(crate) struct Segment {
    metric: Metric,
    ef: usize,
    graph: Graph,
}

const TAG_DOT: u8 = 1;
const TAG_L2: u8 = 2;

impl Segment {
    /// Builds a segment over `points` (already prepared for `metric`) searching with `ef`.
    pub(crate) fn build(metric: Metric, points: Vec<(Uuid, Vec<f32>)>, ef: usize) -> Self {
        let builder = Builder::default()
            .ef_construction(EF_CONSTRUCTION)
            .ef_search(ef.max(1))
            .seed(0x5eed);
        let (ids, vectors): (Vec<Uuid>, Vec<Vec<f32>>) = points.into_iter().unzip();
        let graph = match metric {
            Metric::Cosine | Metric::InnerProduct => Graph::Dot(builder.build(
                vectors.into_iter().map(|v| DotPoint(v.into())).collect(),
                ids,
            )),
            Metric::L2 => Graph::L2(builder.build(
                vectors.into_iter().map(|v| L2Point(v.into())).collect(),
                ids,
            )),
        };
        Segment {
            metric,
            ef: ef.max(1),
            graph,
        }
    }

    /// The search breadth this segment was materialised with.
    pub(crate) fn ef(&self) -> usize {
        self.ef
    }

    /// Number of entries (live or dead).
    pub(crate) fn len(&self) -> usize {
        match &self.graph {
            Graph::Dot(m) => m.values.len(),
            Graph::L2(m) => m.values.len(),
        }
    }

    /// The persisted form, split into chunks of at most [`CHUNK_BYTES`].
    pub(crate) fn encode(&self) -> Result<Vec<Vec<u8>>> {
        let (tag, body) = match &self.graph {
            Graph::Dot(m) => (TAG_DOT, postcard::to_allocvec(m)),
            Graph::L2(m) => (TAG_L2, postcard::to_allocvec(m)),
        };
        let body =
            body.map_err(|e| Error::storage(format!("cannot encode vector segment: {e}")))?;
        let mut bytes = Vec::with_capacity(body.len() + 1);
        bytes.push(tag);
        bytes.extend_from_slice(&body);
        Ok(bytes.chunks(CHUNK_BYTES).map(<[u8]>::to_vec).collect())
    }

    /// Reads a persisted segment, materialised to search with `ef`.
    pub(crate) fn decode(metric: Metric, chunks: &[Vec<u8>], ef: usize) -> Result<Self> {
        let corrupt = |why: &str| Error::storage(format!("corrupt vector segment: {why}"));
        let total: usize = chunks.iter().map(Vec::len).sum();
        let mut bytes = Vec::with_capacity(total + 10);
        chunks.iter().for_each(|c| bytes.extend_from_slice(c));
        let (&tag, body) = bytes.split_first().ok_or_else(|| corrupt("empty"))?;
        let (_, used) = read_varint(body).ok_or_else(|| corrupt("bad header"))?;
        let mut patched = Vec::with_capacity(body.len() + 10);
        write_varint(ef.max(1) as u64, &mut patched);
        patched.extend_from_slice(&body[used..]);
        drop(bytes);
        let graph = match (tag, metric) {
            (TAG_DOT, Metric::Cosine | Metric::InnerProduct) => {
                Graph::Dot(postcard::from_bytes(&patched).map_err(|e| corrupt(&e.to_string()))?)
            }
            (TAG_L2, Metric::L2) => {
                Graph::L2(postcard::from_bytes(&patched).map_err(|e| corrupt(&e.to_string()))?)
            }
            _ => return Err(corrupt("metric does not match the index")),
        };
        Ok(Segment {
            metric,
            ef: ef.max(1),
            graph,
        })
    }

    /// Approximate nearest entries to `query` (prepared for the metric), best first, with
    /// scores (higher is better): at most [`Self::ef`] of them.
    pub(crate) fn search(&self, query: &[f32]) -> Vec<(Uuid, f32)> {
        let mut search = Search::default();
        match &self.graph {
            Graph::Dot(m) => {
                let q = DotPoint(query.into());
                m.search(&q, &mut search)
                    .map(|item| (*item.value, -item.distance))
                    .collect()
            }
            Graph::L2(m) => {
                let q = L2Point(query.into());
                m.search(&q, &mut search)
                    .map(|item| (*item.value, 1.0 / (1.0 + item.distance)))
                    .collect()
            }
        }
    }

    /// Every entry with its vector, in build order.
    pub(crate) fn entries(&self) -> Box<dyn Iterator<Item = (Uuid, &[f32])> + '_> {
        match &self.graph {
            Graph::Dot(m) => Box::new(
                m.iter()
                    .map(move |(pid, p)| (m.values[pid.into_inner() as usize], &*p.0)),
            ),
            Graph::L2(m) => Box::new(
                m.iter()
                    .map(move |(pid, p)| (m.values[pid.into_inner() as usize], &*p.0)),
            ),
        }
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

fn read_varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, b) in bytes.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

fn write_varint(mut value: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(n: usize) -> Vec<(Uuid, Vec<f32>)> {
        (0..n)
            .map(|i| {
                let a = i as f32 * 0.37;
                let mut v = vec![a.sin(), a.cos(), (a * 0.5).sin()];
                Metric::Cosine.prepare(&mut v);
                (Uuid::from_u128(i as u128 + 1), v)
            })
            .collect()
    }

    #[test]
    fn varints_round_trip() {
        for v in [0, 1, 127, 128, 300, u64::MAX] {
            let mut out = Vec::new();
            write_varint(v, &mut out);
            assert_eq!(read_varint(&out), Some((v, out.len())));
        }
    }

    #[test]
    fn persisted_segments_search_alike_and_take_a_new_ef() {
        let pts = points(500);
        let seg = Segment::build(Metric::Cosine, pts.clone(), 40);
        assert_eq!(seg.len(), 500);
        let q = pts[17].1.clone();
        let hits = seg.search(&q);
        assert_eq!(hits.len(), 40, "a search returns ef entries");
        assert_eq!(hits[0].0, pts[17].0);
        assert!((hits[0].1 - 1.0).abs() < 1e-5);
        let chunks = seg.encode().unwrap();
        let wider = Segment::decode(Metric::Cosine, &chunks, 120).unwrap();
        assert_eq!(wider.ef(), 120);
        let wide_hits = wider.search(&q);
        assert_eq!(wide_hits.len(), 120);
        assert_eq!(
            &wide_hits[..40],
            &hits[..],
            "same graph: the first ef results agree"
        );
        assert!(
            Segment::decode(Metric::L2, &chunks, 10).is_err(),
            "metric mismatch is refused"
        );
        assert!(Segment::decode(Metric::Cosine, &[vec![TAG_DOT, 5]], 10).is_err());
        let ids: Vec<Uuid> = wider.entries().map(|(id, _)| id).collect();
        assert_eq!(ids.len(), 500);
    }
}
