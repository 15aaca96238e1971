//! Vector index maintenance and caches: sealing pending vectors into HNSW segments, merging
//! segments (dropping dead entries), and the in-memory caches of decoded segments and pending
//! sets.
//!
//! Policy: a vector is pending (searched exactly) until its index holds [`SEAL_AT`] pending
//! vectors; then they are built into one segment. When an index has more than
//! [`MAX_SEGMENTS`] segments, or a segment is at least a third dead, the smallest and the dead
//! segments are merged into one. [`optimize`] builds everything into a single segment.
//!
//! A merge does not rebuild: the merged segment with the most live entries (at least half of
//! them live) keeps its graph, loses its dead entries (their neighbours' links repaired) and
//! takes the other segments' live entries and the pending vectors by incremental insertion.

use std::any::Any;
use std::sync::Arc;

use uuid::Uuid;

use super::segment::Segment;
use super::worker::with_maintainer;
use crate::error::Result;
use crate::kv::KvSnapshot;
use crate::store::vectors::{read_meta, IndexMeta, IndexName, SegmentInfo};
use crate::store::TenantStore;

/// Pending vectors that make an index seal them into a segment.
pub const SEAL_AT: u64 = 2048;

/// Segments an index keeps before merging the smallest.
pub const MAX_SEGMENTS: usize = 4;

/// Default search breadth (HNSW `ef`).
pub const DEFAULT_EF: usize = 100;

/// The pending set of an index at one version.
pub(crate) struct PendingSet {
    pub(crate) version: u64,
    pub(crate) items: Vec<(Uuid, Vec<f32>)>,
}

fn cache_get<T: Any + Send + Sync>(tenant: &TenantStore, key: &[u8]) -> Option<Arc<T>> {
    with_maintainer(tenant, |m| {
        let cache = m.cache.lock().ok()?;
        cache.get(key).cloned().and_then(|a| a.downcast::<T>().ok())
    })
    .flatten()
}

fn cache_put<T: Any + Send + Sync>(tenant: &TenantStore, key: Vec<u8>, value: Arc<T>) {
    with_maintainer(tenant, |m| {
        if let Ok(mut cache) = m.cache.lock() {
            cache.insert(key, value);
        }
    });
}

fn cache_remove(tenant: &TenantStore, key: &[u8]) {
    with_maintainer(tenant, |m| {
        if let Ok(mut cache) = m.cache.lock() {
            cache.remove(key);
        }
    });
}

/// The cache key of one version of a segment (its number and generation).
fn segment_cache_key(tenant: &TenantStore, index: &IndexName, info: &SegmentInfo) -> Vec<u8> {
    let mut key = tenant.store_keys().vsegment_chunk(index, info.no, u32::MAX);
    key.extend_from_slice(&info.generation.to_be_bytes());
    key
}

/// The segment `info` describes (as of the caller's snapshot), decoded (cached).
pub(crate) fn load_segment(
    tenant: &TenantStore,
    snap: &dyn KvSnapshot,
    index: &IndexName,
    meta: &IndexMeta,
    info: &SegmentInfo,
) -> Result<Arc<Segment>> {
    let key = segment_cache_key(tenant, index, info);
    if let Some(seg) = cache_get::<Segment>(tenant, &key) {
        return Ok(seg);
    }
    // From the caller's snapshot: a merge may have removed or grown the segment since (then
    // this version is not cached again, or it would stay in the cache for good).
    let chunks = tenant.segment_chunks(snap, index, info.no)?;
    let seg = Arc::new(Segment::decode(meta.metric, &chunks)?);
    let current = tenant.vector_index(index)?.is_some_and(|m| {
        m.segments
            .iter()
            .any(|s| s.no == info.no && s.generation == info.generation)
    });
    if current {
        cache_put(tenant, key, seg.clone());
    }
    Ok(seg)
}

/// The pending vectors of `index` as of `meta.version` (cached per version).
pub(crate) fn load_pending(
    tenant: &TenantStore,
    snap: &dyn KvSnapshot,
    index: &IndexName,
    meta: &IndexMeta,
) -> Result<Arc<PendingSet>> {
    let key = tenant.store_keys().vpending(index, &Uuid::nil());
    if let Some(set) = cache_get::<PendingSet>(tenant, &key) {
        if set.version == meta.version {
            return Ok(set);
        }
    }
    let set = Arc::new(PendingSet {
        version: meta.version,
        items: tenant.pending_vectors(snap, index)?,
    });
    cache_put(tenant, key, set.clone());
    Ok(set)
}

/// What [`maintain`] did to one index.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MaintenanceReport {
    /// Pending vectors built into a segment.
    pub sealed: u64,
    /// Segments merged away.
    pub merged: u64,
    /// Segments after maintenance.
    pub segments: usize,
}

/// A segment at least a third dead: the next maintenance rebuilds it.
fn segment_dirty(s: &SegmentInfo) -> bool {
    s.dead * 3 >= s.size.max(1)
}

/// Whether the policy wants maintenance on an index in this state: enough pending vectors to
/// seal, too many segments, or a dirty segment.
pub fn maintenance_due(meta: &IndexMeta) -> bool {
    meta.pending >= SEAL_AT
        || meta.segments.len() > MAX_SEGMENTS
        || meta.segments.iter().any(segment_dirty)
}

/// Seals and merges as the policy says; `force` builds everything into one segment.
pub(crate) fn maintain(
    tenant: &TenantStore,
    index: &IndexName,
    force: bool,
) -> Result<MaintenanceReport> {
    let snap = tenant.snapshot()?;
    let Some(meta) = read_meta(&*snap, tenant.store_keys(), index)? else {
        return Ok(MaintenanceReport::default());
    };
    let dirty = segment_dirty;
    let seal = meta.pending > 0 && (force || meta.pending >= SEAL_AT);
    let mut merge: Vec<SegmentInfo> = if force {
        if meta.segments.len() > 1
            || meta.segments.iter().any(|s| s.dead > 0)
            || (seal && !meta.segments.is_empty())
        {
            meta.segments.clone()
        } else {
            Vec::new()
        }
    } else {
        let mut chosen: Vec<SegmentInfo> =
            meta.segments.iter().filter(|s| dirty(s)).cloned().collect();
        let mut rest: Vec<SegmentInfo> = meta
            .segments
            .iter()
            .filter(|s| !dirty(s))
            .cloned()
            .collect();
        rest.sort_by_key(|s| s.size);
        // Merge the smallest segments until at most MAX_SEGMENTS remain.
        while rest.len() + usize::from(seal || !chosen.is_empty()) > MAX_SEGMENTS
            && !rest.is_empty()
        {
            chosen.push(rest.remove(0));
        }
        if chosen.len() == 1 && !dirty(&chosen[0]) && !seal {
            chosen.clear();
        }
        chosen
    };
    merge.sort_by_key(|s| s.no);
    if !seal && merge.is_empty() {
        return Ok(MaintenanceReport {
            segments: meta.segments.len(),
            ..Default::default()
        });
    }
    // Gather the pending vectors (if sealing) and the live entries of merged segments.
    // The merged segment with the most live entries (at least half of it live) is the base: the
    // others' entries are inserted into a copy of its graph, its dead ones removed and their
    // neighbours' links repaired. Without such a base, the graph is built afresh.
    let pending = if seal {
        tenant.pending_vectors(&*snap, index)?
    } else {
        Vec::new()
    };
    let mut loaded = Vec::with_capacity(merge.len());
    for info in &merge {
        let seg = load_segment(tenant, &*snap, index, &meta, info)?;
        let mut dead = Vec::with_capacity(seg.len());
        for (id, _) in seg.entries() {
            let live = tenant
                .stored_vector_in(&*snap, index, &id)?
                .is_some_and(|(at, _)| at == info.no);
            dead.push(!live);
        }
        loaded.push((info.no, seg, dead));
    }
    drop(snap);
    let live = |dead: &[bool]| dead.iter().filter(|d| !**d).count();
    let base = (0..loaded.len())
        .filter(|&i| {
            let n = live(&loaded[i].2);
            n > 0 && n * 2 >= loaded[i].1.len()
        })
        .max_by_key(|&i| (live(&loaded[i].2), std::cmp::Reverse(loaded[i].0)))
        .map(|i| loaded.swap_remove(i));
    // Every vector going in besides the base's own, with where it comes from (0: pending).
    let members: Vec<(Uuid, u64, &[f32])> = pending
        .iter()
        .map(|(id, v)| (*id, 0, v.as_slice()))
        .chain(loaded.iter().flat_map(|(no, seg, dead)| {
            seg.entries()
                .zip(dead)
                .filter(|(_, dead)| !**dead)
                .map(move |((id, v), _)| (id, *no, v))
        }))
        .collect();
    let sealed = members.iter().filter(|m| m.1 == 0).count() as u64;
    let replaced: Vec<u64> = merge.iter().map(|s| s.no).collect();
    // The base without its dead entries (never empty: it has live ones), with its number and the
    // count of its own entries, which come first in it.
    let base = base.and_then(|(no, seg, dead)| {
        let kept = if dead.iter().any(|d| *d) {
            seg.without(&dead)
        } else {
            Some(Segment::clone(&seg))
        };
        kept.map(|kept| (no, kept.len(), kept))
    });
    let built = match base {
        Some((no, own, mut seg)) => {
            seg.insert(members.iter().map(|(id, _, v)| (*id, *v)))?;
            let chunks = seg.encode();
            Some((seg, chunks, Some(no), own))
        }
        None if members.is_empty() => None,
        None => {
            let points: Vec<(Uuid, &[f32])> = members.iter().map(|(id, _, v)| (*id, *v)).collect();
            let (seg, chunks) = Segment::build(meta.metric, &points)?;
            Some((seg, chunks, None, 0))
        }
    };
    match built {
        // Everything in the merged segments is dead: just drop them.
        None => tenant.write(|tx| tx.drop_segments(index, &replaced))?,
        Some((seg, chunks, keep, own)) => {
            // Every entry of the new segment with where it came from: the base's own (read from
            // the new segment, not copied) and the members.
            let refs: Vec<(Uuid, u64, &[f32])> = keep
                .into_iter()
                .flat_map(|no| seg.entries().take(own).map(move |(id, v)| (id, no, v)))
                .chain(members.iter().copied())
                .collect();
            let info =
                tenant.write(|tx| tx.install_segment(index, &refs, &replaced, chunks, keep))?;
            drop(refs);
            cache_put(
                tenant,
                segment_cache_key(tenant, index, &info),
                Arc::new(seg),
            );
        }
    }
    for info in &merge {
        cache_remove(tenant, &segment_cache_key(tenant, index, info));
    }
    let segments = tenant.vector_index(index)?.map_or(0, |m| m.segments.len());
    Ok(MaintenanceReport {
        sealed,
        merged: replaced.len() as u64,
        segments,
    })
}
