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
    // Gather members: pending vectors (if sealing) and the live entries of merged segments.
    // The merged segment with the most live entries (at least half of it live) is the base: the
    // others' entries are inserted into a copy of its graph, its dead ones removed and their
    // neighbours' links repaired. Without such a base, the graph is built afresh.
    let pending = if seal {
        tenant.pending_vectors(&*snap, index)?
    } else {
        Vec::new()
    };
    let mut members: Vec<(Uuid, u64, Vec<f32>)> =
        pending.into_iter().map(|(id, v)| (id, 0, v)).collect();
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
    for (no, seg, dead) in &loaded {
        for ((id, v), dead) in seg.entries().zip(dead) {
            if !dead {
                members.push((id, *no, v.to_vec()));
            }
        }
    }
    let sealed = members.iter().filter(|m| m.1 == 0).count() as u64;
    let replaced: Vec<u64> = merge.iter().map(|s| s.no).collect();
    let mut grown = None;
    let mut keep = None;
    if let Some((no, seg, dead)) = base {
        let kept = if dead.iter().any(|d| *d) {
            seg.without(&dead)
        } else {
            Some(Segment::clone(&seg))
        };
        if let Some(mut kept) = kept {
            let base_live = kept.len();
            kept.insert(members.iter().map(|(id, _, v)| (*id, v.as_slice())))?;
            members.extend(
                kept.entries()
                    .take(base_live)
                    .map(|(id, v)| (id, no, v.to_vec())),
            );
            grown = Some(kept);
            keep = Some(no);
        }
    }
    if members.is_empty() {
        // Everything in the merged segments is dead: just drop them.
        tenant.write(|tx| tx.drop_segments(index, &replaced))?;
    } else {
        let (seg, chunks) = match grown {
            Some(seg) => {
                let chunks = seg.encode();
                (seg, chunks)
            }
            None => Segment::build(
                meta.metric,
                members.iter().map(|(id, _, v)| (*id, v.clone())).collect(),
            )?,
        };
        let refs: Vec<(Uuid, u64, &[f32])> = members
            .iter()
            .map(|(id, from, v)| (*id, *from, v.as_slice()))
            .collect();
        let no = tenant.write(|tx| tx.install_segment(index, &refs, &replaced, chunks, keep))?;
        if let Some(info) = tenant
            .vector_index(index)?
            .and_then(|m| m.segments.into_iter().find(|s| s.no == no))
        {
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
