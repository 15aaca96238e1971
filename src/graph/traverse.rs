//! Traversal from one entity: breadth first (each entity once, by a shortest path) or depth
//! first (every simple path), and the entities at an exact distance.

use std::collections::VecDeque;

use uuid::Uuid;

use super::{
    Collector, Hop, IdMap, IdSet, Strategy, Traversal, TraverseOptions, Walker, VISITED_ENTRY_BYTES,
};
use crate::budget::Meter;
use crate::error::Result;
use crate::store::TenantStore;

/// One entity reached by a BFS: the hop that first reached it (none for the start) and its
/// index in the discovery list of its predecessor.
pub(crate) struct Reached {
    hop: Option<Hop>,
    parent: usize,
    depth: usize,
}

/// Breadth-first search from `start` up to `max_depth`, stopping when `target` is reached.
/// Returns the entities in discovery order (start first) and the index of the target if found.
pub(crate) fn bfs(
    w: &mut Walker<'_>,
    start: Uuid,
    opts: &TraverseOptions,
    target: Option<Uuid>,
) -> Result<(Vec<Reached>, Option<usize>)> {
    let mut reached = vec![Reached {
        hop: None,
        parent: 0,
        depth: 0,
    }];
    let mut index: IdMap<usize> = IdMap::default();
    index.insert(start, 0);
    if target == Some(start) {
        return Ok((reached, Some(0)));
    }
    let mut queue = VecDeque::from([0usize]);
    let mut hops = Vec::new();
    while let Some(i) = queue.pop_front() {
        if reached[i].depth >= opts.max_depth {
            continue;
        }
        let node = reached[i].hop.map_or(start, |h| h.to);
        hops.clear();
        w.hops(node, opts.direction, &mut hops)?;
        for hop in &hops {
            if index.contains_key(&hop.to) {
                continue;
            }
            w.meter().hold(VISITED_ENTRY_BYTES + 48)?;
            index.insert(hop.to, reached.len());
            reached.push(Reached {
                hop: Some(*hop),
                parent: i,
                depth: reached[i].depth + 1,
            });
            if Some(hop.to) == target {
                let found = reached.len() - 1;
                return Ok((reached, Some(found)));
            }
            queue.push_back(reached.len() - 1);
        }
    }
    Ok((reached, None))
}

/// The hops from the start to `reached[i]`.
fn bfs_path(reached: &[Reached], mut i: usize) -> Vec<Hop> {
    let mut hops = Vec::with_capacity(reached[i].depth);
    while let Some(hop) = reached[i].hop {
        hops.push(hop);
        i = reached[i].parent;
    }
    hops.reverse();
    hops
}

impl TenantStore {
    /// Walks the graph from `start` and returns the paths found (see [`TraverseOptions`]):
    ///
    /// - **BFS** reaches every entity at most once, by a shortest path: one path per reached
    ///   entity (the start excluded), ordered by depth, then discovery (edges are visited out
    ///   first, then in; each in relationship, then id order). With a `target`, the search stops
    ///   there and returns only the shortest path to it.
    /// - **DFS** backtracks: every simple path of 1..=`max_depth` edges from the start, in
    ///   depth-first order, so an entity may end several paths. No path repeats an entity, so
    ///   cycles always terminate. With a `target`, only paths ending there (not continued past it).
    ///
    /// `direction` `both` follows edges both ways. Errors: `NotFound` when `start` (or the
    /// target) is not a live entity, `InvalidArgument` for a bad id or relationship name.
    pub(crate) fn traverse(&self, start: &str, opts: &TraverseOptions) -> Result<Traversal> {
        let meter = Meter::new(&opts.budget);
        let mut w = Walker::new(self, &opts.rel_types, opts.include_deleted, &meter)?;
        let start = w.endpoint(start)?;
        let target = opts.target.as_deref().map(|t| w.endpoint(t)).transpose()?;
        let mut out = Collector::new(opts.include_rows, opts.limit);
        out.note(start);
        match opts.strategy {
            Strategy::Bfs => {
                let (reached, found) = bfs(&mut w, start, opts, target)?;
                match (target, found) {
                    (Some(_), Some(t)) if t > 0 => {
                        out.push(&w, start, &bfs_path(&reached, t), None)?;
                    }
                    (Some(_), _) => {}
                    (None, _) => {
                        for i in 1..reached.len() {
                            if !out.push(&w, start, &bfs_path(&reached, i), None)? {
                                break;
                            }
                        }
                    }
                }
            }
            Strategy::Dfs => dfs(&mut w, start, opts, target, &mut out)?,
        }
        out.finish(&w)
    }

    /// The live entities whose shortest distance from `start` is exactly `depth` edges, each
    /// with a shortest path to it (BFS order). `opts.max_depth`, `strategy`, `target` and
    /// `limit` are ignored.
    pub(crate) fn neighbors_at_depth(
        &self,
        start: &str,
        depth: usize,
        opts: &TraverseOptions,
    ) -> Result<Traversal> {
        let meter = Meter::new(&opts.budget);
        let mut w = Walker::new(self, &opts.rel_types, opts.include_deleted, &meter)?;
        let start_id = w.endpoint(start)?;
        let bfs_opts = TraverseOptions {
            max_depth: depth,
            ..opts.clone()
        };
        let (reached, _) = bfs(&mut w, start_id, &bfs_opts, None)?;
        let mut out = Collector::new(opts.include_rows, usize::MAX);
        if depth == 0 {
            out.push(&w, start_id, &[], None)?;
        }
        for i in 1..reached.len() {
            if reached[i].depth == depth && !out.push(&w, start_id, &bfs_path(&reached, i), None)? {
                break;
            }
        }
        out.finish(&w)
    }
}

/// One level of the DFS stack: the hops out of the entity at that level, and the next to try.
struct Frame {
    hops: Vec<Hop>,
    next: usize,
}

fn dfs(
    w: &mut Walker<'_>,
    start: Uuid,
    opts: &TraverseOptions,
    target: Option<Uuid>,
    out: &mut Collector,
) -> Result<()> {
    if opts.max_depth == 0 || target == Some(start) {
        return Ok(());
    }
    let mut first = Vec::new();
    w.hops(start, opts.direction, &mut first)?;
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
        if on_path.contains(&hop.to) {
            continue;
        }
        path.push(hop);
        if (target.is_none() || target == Some(hop.to)) && !out.push(w, start, &path, None)? {
            return Ok(());
        }
        if path.len() >= opts.max_depth || target == Some(hop.to) {
            path.pop();
            continue;
        }
        on_path.insert(hop.to);
        let mut hops = Vec::new();
        w.hops(hop.to, opts.direction, &mut hops)?;
        stack.push(Frame { hops, next: 0 });
    }
    Ok(())
}
