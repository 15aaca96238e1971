//! Cycle detection: every simple cycle through one entity, or the cycles a depth-first search
//! finds over a whole table (or tenant).

use uuid::Uuid;

use super::paths::{simple_paths, FoundPaths};
use super::{
    Collector, Hop, IdMap, PathOptions, Traversal, Walker, DEFAULT_PATHS_DEPTH, DEFAULT_PATH_LIMIT,
    MAX_OUTPUT_EDGES, VISITED_ENTRY_BYTES,
};
use crate::budget::Meter;
use crate::error::Result;
use crate::store::{EdgeDirection, TenantStore};

impl TenantStore {
    /// Every simple cycle through `start` with at most `max_depth` edges (default
    /// [`DEFAULT_PATHS_DEPTH`]), as paths that begin and end at `start`, in depth-first order,
    /// at most `limit` (default [`DEFAULT_PATH_LIMIT`]). A self-loop is a cycle of depth 1.
    /// With direction `both` a cycle never goes out and back over the same edge, and each
    /// longer cycle is reported once per orientation.
    pub(crate) fn cycles_from(&self, start: &str, opts: &PathOptions) -> Result<Traversal> {
        let meter = Meter::new(&opts.budget);
        let mut w = Walker::new(self, &opts.rel_types, opts.include_deleted, &meter)?;
        let start = w.endpoint(start)?;
        let limit = opts.limit.unwrap_or(DEFAULT_PATH_LIMIT);
        let mut found = FoundPaths::new(limit, &meter);
        simple_paths(
            &mut w,
            start,
            start,
            opts.direction,
            opts.max_depth.unwrap_or(DEFAULT_PATHS_DEPTH),
            |path| found.add(path),
        )?;
        let found = found.paths;
        let mut out = Collector::new(opts.include_rows, limit);
        out.note(start);
        for hops in &found {
            if !out.push(&w, start, hops, None)? {
                break;
            }
        }
        out.finish(&w)
    }

    /// Detects cycles among the entities of `table` (every table when `None`), following edges
    /// wherever they lead. An iterative depth-first search from each row (in id order) reports
    /// one cycle per back edge it meets, so the graph (as filtered by `opts`) is acyclic exactly
    /// when nothing is returned; every cycle returned is real, but not every elementary cycle is
    /// enumerated (there can be exponentially many — use [`cycles_from`](Self::cycles_from)).
    /// Cycles longer than `max_depth` (unbounded by default) are not reported; at most `limit`
    /// (default [`DEFAULT_PATH_LIMIT`]) are.
    pub(crate) fn find_cycles(&self, table: Option<&str>, opts: &PathOptions) -> Result<Traversal> {
        let tables = match table {
            Some(t) => {
                self.compiled_schema(t)?;
                vec![t.to_string()]
            }
            None => self.table_names()?,
        };
        let meter = Meter::new(&opts.budget);
        let mut w = Walker::new(self, &opts.rel_types, opts.include_deleted, &meter)?;
        let mut roots = Vec::new();
        for t in &tables {
            roots.extend(w.snapshot().table_ids(t, opts.include_deleted)?);
        }
        let max_len = opts.max_depth.unwrap_or(usize::MAX);
        let limit = opts.limit.unwrap_or(DEFAULT_PATH_LIMIT);
        let found = back_edge_cycles(&mut w, &roots, opts.direction, max_len, limit)?;
        let mut out = Collector::new(opts.include_rows, limit);
        for (start, hops) in &found {
            if !out.push(&w, *start, hops, None)? {
                break;
            }
        }
        out.finish(&w)
    }
}

/// An entity on the DFS stack: the hop that led to it, its hops and the next one to try.
struct Frame {
    node: Uuid,
    arrived_by: Option<Hop>,
    hops: Vec<Hop>,
    next: usize,
}

/// Colour-marking DFS; a hop to an entity still on the stack closes a cycle. Returns up to
/// `limit + 1` cycles as (first entity, hops), and stops once they hold more than
/// [`MAX_OUTPUT_EDGES`] edges.
fn back_edge_cycles(
    w: &mut Walker<'_>,
    roots: &[Uuid],
    direction: EdgeDirection,
    max_len: usize,
    limit: usize,
) -> Result<Vec<(Uuid, Vec<Hop>)>> {
    // Position on the stack while an entity is being explored; `usize::MAX` once finished.
    const DONE: usize = usize::MAX;
    let mut state: IdMap<usize> = IdMap::default();
    let mut found = Vec::new();
    let mut found_edges = 0usize;
    for &root in roots {
        if state.contains_key(&root) {
            continue;
        }
        let mut hops = Vec::new();
        w.hops(root, direction, &mut hops)?;
        w.meter().hold(VISITED_ENTRY_BYTES)?;
        state.insert(root, 0);
        let mut stack = vec![Frame {
            node: root,
            arrived_by: None,
            hops,
            next: 0,
        }];
        while let Some(top) = stack.last_mut() {
            let Some(&hop) = top.hops.get(top.next) else {
                state.insert(top.node, DONE);
                stack.pop();
                continue;
            };
            top.next += 1;
            if direction == EdgeDirection::Both {
                // Not back over the edge just taken, and a self-loop only once.
                let same_edge = top
                    .arrived_by
                    .is_some_and(|a| a.edge_key() == hop.edge_key());
                if same_edge || (hop.from == hop.to && !hop.out) {
                    continue;
                }
            }
            match state.get(&hop.to).copied() {
                Some(DONE) => {}
                Some(pos) => {
                    let len = stack.len() - pos;
                    if len <= max_len {
                        let mut cycle: Vec<Hop> = stack[pos + 1..]
                            .iter()
                            .filter_map(|f| f.arrived_by)
                            .collect();
                        cycle.push(hop);
                        found_edges += cycle.len();
                        w.meter()
                            .hold(40 + (cycle.len() * std::mem::size_of::<Hop>()) as u64)?;
                        found.push((hop.to, cycle));
                        if found.len() > limit || found_edges > MAX_OUTPUT_EDGES {
                            return Ok(found);
                        }
                    }
                }
                None => {
                    let mut hops = Vec::new();
                    w.hops(hop.to, direction, &mut hops)?;
                    w.meter().hold(VISITED_ENTRY_BYTES)?;
                    state.insert(hop.to, stack.len());
                    stack.push(Frame {
                        node: hop.to,
                        arrived_by: Some(hop),
                        hops,
                        next: 0,
                    });
                }
            }
        }
    }
    Ok(found)
}
