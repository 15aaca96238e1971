//! Paths between two entities: shortest (bidirectional BFS, or Dijkstra on `weight`), all simple
//! paths up to a depth, and their count.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use uuid::Uuid;

use super::{
    Collector, Hop, IdMap, IdSet, PathOptions, Traversal, Walker, DEFAULT_PATHS_DEPTH,
    DEFAULT_PATH_LIMIT, MAX_OUTPUT_EDGES, VISITED_ENTRY_BYTES,
};
use crate::budget::Meter;
use crate::error::{Error, Result};
use crate::store::{EdgeDirection, TenantStore};

impl TenantStore {
    /// A shortest path from `from` to `to`: fewest edges (bidirectional BFS, bounded by
    /// `max_depth`), or — with `weighted` — least total `weight` (Dijkstra; an edge without a
    /// numeric `weight` costs 1, and `cost` is set on the path). The result holds one path, or
    /// none when `to` cannot be reached; `from == to` is the path of depth 0.
    pub(crate) fn shortest_path(
        &self,
        from: &str,
        to: &str,
        opts: &PathOptions,
    ) -> Result<Traversal> {
        let meter = Meter::new(&opts.budget);
        let mut w = Walker::new(self, &opts.rel_types, opts.include_deleted, &meter)?;
        let (a, b) = (w.endpoint(from)?, w.endpoint(to)?);
        let mut out = Collector::new(opts.include_rows, 1);
        out.note(a);
        out.note(b);
        if opts.weighted {
            if let Some((hops, cost)) = dijkstra(&mut w, a, b, opts.direction)? {
                out.push(&w, a, &hops, Some(cost))?;
            }
        } else if let Some(hops) = bidirectional_bfs(
            &mut w,
            a,
            b,
            opts.direction,
            opts.max_depth.unwrap_or(usize::MAX),
        )? {
            out.push(&w, a, &hops, None)?;
        }
        out.finish(&w)
    }

    /// Every simple path (no entity twice) from `from` to `to` with at most `max_depth` edges
    /// (default [`DEFAULT_PATHS_DEPTH`]), in depth-first order, at most `limit` of them (default
    /// [`DEFAULT_PATH_LIMIT`]; more sets `truncated`). Parallel edges (two relationships between
    /// the same entities) make distinct paths. `from == to` gives the path of depth 0 (see
    /// [`cycles_from`](Self::cycles_from) for cycles).
    pub(crate) fn all_paths(&self, from: &str, to: &str, opts: &PathOptions) -> Result<Traversal> {
        let meter = Meter::new(&opts.budget);
        let mut w = Walker::new(self, &opts.rel_types, opts.include_deleted, &meter)?;
        let (a, b) = (w.endpoint(from)?, w.endpoint(to)?);
        let mut out = Collector::new(opts.include_rows, opts.limit.unwrap_or(DEFAULT_PATH_LIMIT));
        out.note(a);
        out.note(b);
        if a == b {
            out.push(&w, a, &[], None)?;
            return out.finish(&w);
        }
        let max_depth = opts.max_depth.unwrap_or(DEFAULT_PATHS_DEPTH);
        let mut found = FoundPaths::new(out_limit(opts), &meter);
        simple_paths(&mut w, a, b, opts.direction, max_depth, |path| {
            found.add(path)
        })?;
        let found = found.paths;
        for hops in &found {
            if !out.push(&w, a, hops, None)? {
                break;
            }
        }
        out.finish(&w)
    }

    /// How many simple paths lead from `from` to `to` with at most `max_depth` edges (default
    /// [`DEFAULT_PATHS_DEPTH`]); counting stops at `limit` when one is given. `from == to`
    /// counts the path of depth 0 only.
    pub(crate) fn count_paths(&self, from: &str, to: &str, opts: &PathOptions) -> Result<u64> {
        let meter = Meter::new(&opts.budget);
        let mut w = Walker::new(self, &opts.rel_types, opts.include_deleted, &meter)?;
        let (a, b) = (w.endpoint(from)?, w.endpoint(to)?);
        if a == b {
            return Ok(1);
        }
        let cap = opts.limit.map_or(u64::MAX, |l| l as u64);
        let mut count = 0u64;
        if cap == 0 {
            return Ok(0);
        }
        simple_paths(
            &mut w,
            a,
            b,
            opts.direction,
            opts.max_depth.unwrap_or(DEFAULT_PATHS_DEPTH),
            |_| {
                count += 1;
                Ok(count < cap)
            },
        )?;
        Ok(count)
    }
}

/// The path limit of `opts`.
fn out_limit(opts: &PathOptions) -> usize {
    opts.limit.unwrap_or(DEFAULT_PATH_LIMIT)
}

/// Paths found by a search before they are turned into results: at most `limit + 1` of them
/// (one more shows the result was cut) and at most [`MAX_OUTPUT_EDGES`] + 1 edges in all, so
/// what is held is proportional to what can be returned; counted on the meter.
pub(crate) struct FoundPaths<'m> {
    /// The paths, as hops from the start.
    pub(crate) paths: Vec<Vec<Hop>>,
    limit: usize,
    edges: usize,
    meter: &'m Meter,
}

impl<'m> FoundPaths<'m> {
    /// An empty set that keeps up to `limit + 1` paths.
    pub(crate) fn new(limit: usize, meter: &'m Meter) -> Self {
        FoundPaths {
            paths: Vec::new(),
            limit,
            edges: 0,
            meter,
        }
    }

    /// Keeps `path`; returns whether the search should go on.
    pub(crate) fn add(&mut self, path: &[Hop]) -> Result<bool> {
        self.meter.hold(24 + std::mem::size_of_val(path) as u64)?;
        self.paths.push(path.to_vec());
        self.edges += path.len();
        Ok(self.paths.len() <= self.limit && self.edges <= MAX_OUTPUT_EDGES)
    }
}

/// Fewest-edge distances to `end` of every entity within `max_depth`, walking `direction`
/// (pass the reverse of the forward direction).
pub(crate) fn distances_to(
    w: &mut Walker<'_>,
    end: Uuid,
    direction: EdgeDirection,
    max_depth: usize,
) -> Result<IdMap<usize>> {
    let mut dist = IdMap::default();
    dist.insert(end, 0);
    let mut frontier = vec![end];
    let mut hops = Vec::new();
    for depth in 1..=max_depth {
        let mut next = Vec::new();
        for node in frontier {
            hops.clear();
            w.hops(node, direction, &mut hops)?;
            for hop in &hops {
                if let std::collections::hash_map::Entry::Vacant(slot) = dist.entry(hop.to) {
                    w.meter().hold(VISITED_ENTRY_BYTES)?;
                    slot.insert(depth);
                    next.push(hop.to);
                }
            }
        }
        if next.is_empty() {
            break;
        }
        frontier = next;
    }
    Ok(dist)
}

struct Frame {
    hops: Vec<Hop>,
    next: usize,
}

/// Depth-first enumeration of the simple paths from `start` to `end` of at most `max_depth`
/// edges, calling `visit` with each (it returns `false` to stop). Branches that cannot reach
/// `end` within the remaining depth are pruned with distances from a backward BFS. When
/// `start == end` the paths are the simple cycles through `start` (a cycle walked with `both`
/// never takes the same edge there and back, and a self-loop counts once).
pub(crate) fn simple_paths(
    w: &mut Walker<'_>,
    start: Uuid,
    end: Uuid,
    direction: EdgeDirection,
    max_depth: usize,
    mut visit: impl FnMut(&[Hop]) -> Result<bool>,
) -> Result<()> {
    if max_depth == 0 {
        return Ok(());
    }
    let cycle = start == end;
    let dist = distances_to(w, end, direction.reverse(), max_depth)?;
    let mut first = Vec::new();
    w.hops(start, direction, &mut first)?;
    let mut stack = vec![Frame {
        hops: first,
        next: 0,
    }];
    let mut path: Vec<Hop> = Vec::new();
    let mut on_path = IdSet::default();
    on_path.insert(start);
    while let Some(top) = stack.last_mut() {
        let Some(&hop) = top.hops.get(top.next) else {
            stack.pop();
            if let Some(hop) = path.pop() {
                on_path.remove(&hop.to);
            }
            continue;
        };
        top.next += 1;
        if hop.to == end {
            if cycle && direction == EdgeDirection::Both {
                let self_loop_seen_twice = path.is_empty() && !hop.out;
                let same_edge_back = path.len() == 1 && path[0].edge_key() == hop.edge_key();
                if self_loop_seen_twice || same_edge_back {
                    continue;
                }
            }
            path.push(hop);
            let more = visit(&path)?;
            path.pop();
            if !more {
                return Ok(());
            }
            continue;
        }
        if on_path.contains(&hop.to) {
            continue;
        }
        match dist.get(&hop.to) {
            Some(&d) if path.len() + 1 + d <= max_depth => {}
            _ => continue,
        }
        path.push(hop);
        on_path.insert(hop.to);
        let mut hops = Vec::new();
        w.hops(hop.to, direction, &mut hops)?;
        stack.push(Frame { hops, next: 0 });
    }
    Ok(())
}

/// Level-synchronous BFS from both ends, always expanding the smaller frontier; after a level
/// that meets the other side, the best meeting entity gives a shortest path.
fn bidirectional_bfs(
    w: &mut Walker<'_>,
    a: Uuid,
    b: Uuid,
    direction: EdgeDirection,
    max_depth: usize,
) -> Result<Option<Vec<Hop>>> {
    if a == b {
        return Ok(Some(Vec::new()));
    }
    // Per entity: the hop that reached it (walked away from its side's root) and its depth.
    let mut fwd: IdMap<(Option<Hop>, usize)> = IdMap::default();
    let mut bwd: IdMap<(Option<Hop>, usize)> = IdMap::default();
    fwd.insert(a, (None, 0));
    bwd.insert(b, (None, 0));
    let (mut front_f, mut front_b) = (vec![a], vec![b]);
    let (mut depth_f, mut depth_b) = (0usize, 0usize);
    let mut hops = Vec::new();
    while !front_f.is_empty() && !front_b.is_empty() && depth_f + depth_b < max_depth {
        let forward = front_f.len() <= front_b.len();
        let (frontier, mine, other, dir, depth) = if forward {
            (&mut front_f, &mut fwd, &bwd, direction, &mut depth_f)
        } else {
            (
                &mut front_b,
                &mut bwd,
                &fwd,
                direction.reverse(),
                &mut depth_b,
            )
        };
        let mut next = Vec::new();
        let mut best: Option<(usize, Uuid)> = None;
        for &node in frontier.iter() {
            hops.clear();
            w.hops(node, dir, &mut hops)?;
            for hop in &hops {
                if mine.contains_key(&hop.to) {
                    continue;
                }
                w.meter().hold(VISITED_ENTRY_BYTES)?;
                mine.insert(hop.to, (Some(*hop), *depth + 1));
                if let Some(&(_, d)) = other.get(&hop.to) {
                    let total = *depth + 1 + d;
                    if best.is_none_or(|(t, _)| total < t) {
                        best = Some((total, hop.to));
                    }
                }
                next.push(hop.to);
            }
        }
        *depth += 1;
        *frontier = next;
        if let Some((_, meet)) = best {
            let mut path = Vec::new();
            let mut at = meet;
            while let Some(&(Some(hop), _)) = fwd.get(&at) {
                path.push(hop);
                at = hop.from;
            }
            path.reverse();
            let mut at = meet;
            while let Some(&(Some(hop), _)) = bwd.get(&at) {
                // Walked from `hop.from` (nearer b) to `at`; forwards it goes from `at` to there.
                path.push(hop.reversed());
                at = hop.from;
            }
            return Ok(Some(path));
        }
    }
    Ok(None)
}

/// A cost ordered totally (weights are checked to be non-negative numbers).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Cost(f64);

impl Eq for Cost {}

impl PartialOrd for Cost {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Cost {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Dijkstra from `a` until `b` is settled; returns the hops and the total weight.
fn dijkstra(
    w: &mut Walker<'_>,
    a: Uuid,
    b: Uuid,
    direction: EdgeDirection,
) -> Result<Option<(Vec<Hop>, f64)>> {
    let mut best: IdMap<(f64, Option<Hop>)> = IdMap::default();
    let mut settled = IdSet::default();
    let mut heap = BinaryHeap::new();
    best.insert(a, (0.0, None));
    heap.push(Reverse((Cost(0.0), a)));
    let mut hops = Vec::new();
    while let Some(Reverse((Cost(cost), node))) = heap.pop() {
        if !settled.insert(node) {
            continue;
        }
        if node == b {
            let mut path = Vec::new();
            let mut at = b;
            while let Some(&(_, Some(hop))) = best.get(&at) {
                path.push(hop);
                at = hop.from;
            }
            path.reverse();
            return Ok(Some((path, cost)));
        }
        hops.clear();
        w.hops(node, direction, &mut hops)?;
        for hop in &hops {
            let weight = hop.weight.unwrap_or(1.0);
            if weight.is_nan() || weight < 0.0 {
                return Err(Error::InvalidArgument(format!(
                    "edge weight {weight} between {} and {} is negative: weighted shortest paths need weights ≥ 0",
                    hop.from, hop.to
                )));
            }
            let next = cost + weight;
            if settled.contains(&hop.to) {
                continue;
            }
            if best.get(&hop.to).is_none_or(|&(c, _)| next < c) {
                w.meter().hold(VISITED_ENTRY_BYTES)?;
                best.insert(hop.to, (next, Some(*hop)));
                heap.push(Reverse((Cost(next), hop.to)));
            }
        }
    }
    Ok(None)
}
