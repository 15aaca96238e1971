//! Paths between two entities: shortest (bidirectional BFS, or bidirectional Dijkstra on
//! `weight`), all simple paths up to a depth, and their count.

use std::cmp::{Ordering, Reverse};
use std::collections::hash_map::Entry;
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
    /// `max_depth`), or — with `weighted` — least total `weight` (bidirectional Dijkstra; an
    /// edge without a numeric `weight` costs 1, and `cost` is set on the path). The result
    /// holds one path, or none when `to` cannot be reached; `from == to` is the path of depth 0.
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
            if let Some((hops, cost)) = bidirectional_dijkstra(&mut w, a, b, opts.direction)? {
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
    /// Delegates to the total order of [`Ord`].
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Cost {
    /// IEEE total order, which for the non-negative costs compared here is the numeric one.
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// The cost of walking `hop`: its `weight`, or 1 without one; a negative or NaN weight is an
/// `InvalidArgument` error.
fn hop_cost(hop: &Hop) -> Result<f64> {
    let weight = hop.weight.unwrap_or(1.0);
    if weight.is_nan() || weight < 0.0 {
        return Err(Error::InvalidArgument(format!(
            "edge weight {weight} between {} and {} is negative: weighted shortest paths need weights ≥ 0",
            hop.from, hop.to
        )));
    }
    Ok(weight)
}

/// What one side of the bidirectional search knows of an entity.
#[derive(Debug, Clone, Copy)]
struct Label {
    /// Least cost found so far from this side's root.
    cost: f64,
    /// The hop that gave `cost`, walked away from the root (`None` for the root).
    via: Option<Hop>,
    /// Whether `cost` is final (the entity was taken off the heap).
    settled: bool,
}

/// One side of the bidirectional search: labels, the heap of entities to settle, and the
/// direction this side walks.
struct Side {
    labels: IdMap<Label>,
    heap: BinaryHeap<Reverse<(Cost, Uuid)>>,
    direction: EdgeDirection,
}

impl Side {
    /// A side that starts at `root` (cost 0) and walks `direction`; the root's label is
    /// counted on `meter`.
    fn new(root: Uuid, direction: EdgeDirection, meter: &Meter) -> Result<Self> {
        meter.hold(VISITED_ENTRY_BYTES)?;
        let mut labels = IdMap::default();
        labels.insert(
            root,
            Label {
                cost: 0.0,
                via: None,
                settled: false,
            },
        );
        let mut heap = BinaryHeap::new();
        heap.push(Reverse((Cost(0.0), root)));
        Ok(Side {
            labels,
            heap,
            direction,
        })
    }

    /// The least cost on the heap once stale entries (settled, or since improved) are
    /// dropped; `None` when nothing is left to settle.
    fn top(&mut self) -> Option<f64> {
        while let Some(&Reverse((Cost(cost), node))) = self.heap.peek() {
            match self.labels.get(&node) {
                Some(l) if !l.settled && l.cost == cost => return Some(cost),
                _ => {
                    self.heap.pop();
                }
            }
        }
        None
    }

    /// The hops from this side's root to `node`, in the order walked from the root.
    fn chain_to(&self, node: Uuid) -> Result<Vec<Hop>> {
        let mut chain = Vec::new();
        let mut at = node;
        while let Some(&Label { via: Some(hop), .. }) = self.labels.get(&at) {
            // Parents are settled before their children, so this ends; the bound guards it.
            if chain.len() >= self.labels.len() {
                return Err(Error::storage("shortest path: a cycle in the parent hops"));
            }
            chain.push(hop);
            at = hop.from;
        }
        chain.reverse();
        Ok(chain)
    }
}

/// Least-`weight` path from `a` to `b` with the neighbours of the walker (see
/// [`bidirectional_dijkstra_with`]); returns the hops and the total weight.
fn bidirectional_dijkstra(
    w: &mut Walker<'_>,
    a: Uuid,
    b: Uuid,
    direction: EdgeDirection,
) -> Result<Option<(Vec<Hop>, f64)>> {
    let meter = w.meter();
    bidirectional_dijkstra_with(a, b, direction, meter, |node, dir, out| {
        w.hops(node, dir, out)
    })
}

/// Bidirectional Dijkstra: forward from `a` over `direction` and backward from `b` over its
/// reverse, each step settling on the side with the smaller heap. `mu`, the cost of the best
/// path seen so far, is lowered whenever a side relaxes an edge into an entity the other side
/// has labelled; the search stops once the two heaps' least costs add up to at least `mu`,
/// when no path can be cheaper. `hops` lists the neighbours of an entity in a direction;
/// every label stored is held on `meter`. Returns the hops from `a` (a simple path) and their
/// total weight, or `None` when `b` cannot be reached.
fn bidirectional_dijkstra_with(
    a: Uuid,
    b: Uuid,
    direction: EdgeDirection,
    meter: &Meter,
    mut hops: impl FnMut(Uuid, EdgeDirection, &mut Vec<Hop>) -> Result<()>,
) -> Result<Option<(Vec<Hop>, f64)>> {
    if a == b {
        return Ok(Some((Vec::new(), 0.0)));
    }
    let mut fwd = Side::new(a, direction, meter)?;
    let mut bwd = Side::new(b, direction.reverse(), meter)?;
    let mut mu = f64::INFINITY;
    // The edge of the best meeting, walked a→b: forward labels reach its `from`, backward
    // labels its `to`.
    let mut bridge: Option<Hop> = None;
    let mut scratch = Vec::new();
    while let (Some(top_f), Some(top_b)) = (fwd.top(), bwd.top()) {
        if top_f + top_b >= mu {
            break;
        }
        let forward = fwd.heap.len() <= bwd.heap.len();
        let (mine, other) = if forward {
            (&mut fwd, &bwd)
        } else {
            (&mut bwd, &fwd)
        };
        let Some(Reverse((Cost(cost), node))) = mine.heap.pop() else {
            break;
        };
        match mine.labels.get_mut(&node) {
            Some(label) => label.settled = true,
            None => continue,
        }
        scratch.clear();
        hops(node, mine.direction, &mut scratch)?;
        for hop in &scratch {
            let next = cost + hop_cost(hop)?;
            if let Some(there) = other.labels.get(&hop.to) {
                let total = next + there.cost;
                if total < mu {
                    mu = total;
                    bridge = Some(if forward { *hop } else { hop.reversed() });
                }
            }
            let label = Label {
                cost: next,
                via: Some(*hop),
                settled: false,
            };
            match mine.labels.entry(hop.to) {
                Entry::Occupied(old) if old.get().settled || old.get().cost <= next => continue,
                Entry::Occupied(mut old) => {
                    old.insert(label);
                }
                Entry::Vacant(slot) => {
                    slot.insert(label);
                }
            }
            meter.hold(VISITED_ENTRY_BYTES)?;
            mine.heap.push(Reverse((Cost(next), hop.to)));
        }
    }
    let Some(bridge) = bridge else {
        return Ok(None);
    };
    let mut path = fwd.chain_to(bridge.from)?;
    path.push(bridge);
    // Backward hops were walked from b's side; turned around they lead on towards b.
    path.extend(
        bwd.chain_to(bridge.to)?
            .into_iter()
            .rev()
            .map(Hop::reversed),
    );
    let path = without_loops(a, path);
    let cost = path
        .iter()
        .try_fold(0.0, |sum, hop| Ok::<_, Error>(sum + hop_cost(hop)?))?;
    Ok(Some((path, cost)))
}

/// `path` (hops from `start`) with every loop cut out, so no entity appears twice. A least-cost
/// path can only hold loops of weight 0 (met when both sides labelled the same entities
/// through zero-weight edges), so cutting them keeps the cost.
fn without_loops(start: Uuid, path: Vec<Hop>) -> Vec<Hop> {
    // Position in `kept` after which each entity of the kept prefix stands.
    let mut at: IdMap<usize> = IdMap::default();
    at.insert(start, 0);
    let mut kept: Vec<Hop> = Vec::with_capacity(path.len());
    for hop in path {
        if let Some(&i) = at.get(&hop.to) {
            for dropped in kept.drain(i..) {
                at.remove(&dropped.to);
            }
            continue;
        }
        kept.push(hop);
        at.insert(hop.to, kept.len());
    }
    kept
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::budget::Budget;
    use crate::{Database, NewEdge, Row, Tenant};

    const RELS: [&str; 2] = ["r", "s"];

    /// A random small multigraph: `n` entities and `(src, dst, rel, weight)` edges, one per
    /// `(src, rel, dst)` as the store keeps them; `None` is an edge without a weight.
    #[derive(Debug, Clone)]
    struct Graph {
        n: usize,
        edges: Vec<(usize, usize, usize, Option<f64>)>,
    }

    /// Weights: none (costs 1), 0, 1.0, or a quarter step up to 10 (exact in binary, so sums
    /// compare exactly whatever their order).
    fn weight() -> impl Strategy<Value = Option<f64>> {
        prop_oneof![
            Just(None),
            Just(Some(0.0)),
            Just(Some(1.0)),
            (0u32..40).prop_map(|q| Some(f64::from(q) / 4.0)),
        ]
    }

    /// Graphs of 2 to 30 entities with up to three edges per entity (self-loops and parallel
    /// edges under another relationship included).
    fn graph() -> impl Strategy<Value = Graph> {
        (2usize..=30).prop_flat_map(|n| {
            proptest::collection::vec((0..n, 0..n, 0..RELS.len(), weight()), 0..=n * 3).prop_map(
                move |mut edges| {
                    let mut seen = BTreeSet::new();
                    edges.retain(|&(s, d, r, _)| seen.insert((s, d, r)));
                    Graph { n, edges }
                },
            )
        })
    }

    /// Out, in or both.
    fn direction() -> impl Strategy<Value = EdgeDirection> {
        prop_oneof![
            Just(EdgeDirection::Out),
            Just(EdgeDirection::In),
            Just(EdgeDirection::Both)
        ]
    }

    /// A tenant holding `g`, and the ids of its entities by index.
    fn load(g: &Graph) -> (Tenant, Vec<Uuid>) {
        let t = Database::memory().tenant("p").unwrap();
        t.register_schema(
            json!({"title": "V", "type": "object", "properties": {"i": {"type": "integer"}}}),
        )
        .unwrap();
        let ids = t
            .insert_many("v", (0..g.n).map(|i| json!({"i": i})).collect())
            .unwrap();
        let edges = g
            .edges
            .iter()
            .map(|&(s, d, r, w)| {
                let mut properties = Row::new();
                if let Some(w) = w {
                    properties.insert("weight".into(), json!(w));
                }
                NewEdge {
                    src: ids[s],
                    dst: ids[d],
                    rel: RELS[r].into(),
                    properties,
                }
            })
            .collect();
        t.add_edges(edges).unwrap();
        (t, ids)
    }

    /// Reference least costs from `start` to every entity walking `direction` (Bellman-Ford
    /// over the edge list: slow, and plainly right).
    fn reference_costs(g: &Graph, start: usize, direction: EdgeDirection) -> Vec<Option<f64>> {
        let mut arcs = Vec::new();
        for &(s, d, _, w) in &g.edges {
            let w = w.unwrap_or(1.0);
            if direction != EdgeDirection::In {
                arcs.push((s, d, w));
            }
            if direction != EdgeDirection::Out {
                arcs.push((d, s, w));
            }
        }
        let mut dist = vec![None; g.n];
        dist[start] = Some(0.0);
        for _ in 0..g.n {
            for &(u, v, w) in &arcs {
                if let Some(du) = dist[u] {
                    let via: f64 = du + w;
                    if dist[v].is_none_or(|dv: f64| via < dv) {
                        dist[v] = Some(via);
                    }
                }
            }
        }
        dist
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// The bidirectional search finds a path exactly when one exists, of the least cost,
        /// and that path is a simple chain of stored edges from `a` to `b` walked the asked
        /// way, whose weights add up to the reported cost.
        #[test]
        fn weighted_shortest_paths_match_a_reference(
            g in graph(),
            dir in direction(),
            a in 0..30usize,
            b in 0..30usize,
        ) {
            let (a, b) = (a % g.n, b % g.n);
            let (t, ids) = load(&g);
            let opts = PathOptions {
                direction: dir,
                weighted: true,
                include_rows: false,
                ..Default::default()
            };
            let found = t.shortest_path(&ids[a].to_string(), &ids[b].to_string(), &opts).unwrap();
            let want = reference_costs(&g, a, dir)[b];
            prop_assert!(found.paths.len() <= 1);
            let path = found.paths.first();
            prop_assert_eq!(path.and_then(|p| p.cost), want);
            let Some(p) = path else { return Ok(()) };
            prop_assert_eq!(p.depth, p.edges.len());
            prop_assert_eq!(p.nodes.len(), p.depth + 1);
            prop_assert_eq!(p.nodes[0], ids[a]);
            prop_assert_eq!(p.end(), ids[b]);
            prop_assert_eq!(p.nodes.iter().collect::<BTreeSet<_>>().len(), p.nodes.len(), "simple");
            let index = |id: &Uuid| ids.iter().position(|i| i == id).unwrap();
            let mut sum = 0.0;
            for (i, e) in p.edges.iter().enumerate() {
                let forward = e.src == p.nodes[i] && e.dst == p.nodes[i + 1];
                let backward = e.src == p.nodes[i + 1] && e.dst == p.nodes[i];
                let ok = match dir {
                    EdgeDirection::Out => forward,
                    EdgeDirection::In => backward,
                    EdgeDirection::Both => forward || backward,
                };
                prop_assert!(ok, "edge {} points the wrong way", i);
                let stored = g.edges.iter().find(|&&(s, d, r, _)| {
                    s == index(&e.src) && d == index(&e.dst) && RELS[r] == e.rel
                });
                prop_assert!(stored.is_some(), "edge {} is not in the graph", i);
                prop_assert_eq!(e.weight(), stored.and_then(|s| s.3));
                sum += e.weight().unwrap_or(1.0);
            }
            prop_assert_eq!(Some(sum), p.cost);
        }
    }

    /// Ids for the synthetic graphs below.
    fn id(i: u128) -> Uuid {
        Uuid::from_u128(i + 1)
    }

    /// A search over fixed out-edges `(from, to, weight)` (walked forward, or backward for
    /// `in`), on `meter`.
    fn search(
        edges: &[(u128, u128, f64)],
        from: u128,
        to: u128,
        meter: &Meter,
    ) -> Result<Option<(Vec<Hop>, f64)>> {
        bidirectional_dijkstra_with(
            id(from),
            id(to),
            EdgeDirection::Out,
            meter,
            |node, dir, out| {
                for &(s, d, weight) in edges {
                    let hop = hop(s, d, Some(weight));
                    match dir {
                        EdgeDirection::Out if hop.from == node => out.push(hop),
                        EdgeDirection::In if hop.to == node => out.push(hop.reversed()),
                        _ => {}
                    }
                }
                Ok(())
            },
        )
    }

    /// The out-hop `s -> d` (relationship 0) of the test graphs.
    fn hop(s: u128, d: u128, weight: Option<f64>) -> Hop {
        Hop {
            from: id(s),
            to: id(d),
            rel: 0,
            out: true,
            weight,
        }
    }

    #[test]
    fn negative_or_nan_weights_are_invalid() {
        let meter = Meter::new(&Budget::default());
        for bad in [-1.0, f64::NAN] {
            let edges = [(0, 1, 1.0), (1, 2, bad), (2, 3, 1.0)];
            match search(&edges, 0, 3, &meter) {
                Err(Error::InvalidArgument(m)) => assert!(m.contains("is negative"), "{m}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn zero_weight_loops_are_cut_from_the_path() {
        let meter = Meter::new(&Budget::default());
        // 1 and 2 are a zero-weight cycle both sides may label through.
        let edges = [
            (0, 1, 0.0),
            (1, 2, 0.0),
            (2, 1, 0.0),
            (2, 3, 0.0),
            (1, 3, 5.0),
        ];
        let (path, cost) = search(&edges, 0, 3, &meter).unwrap().unwrap();
        assert_eq!(cost, 0.0);
        let nodes: Vec<Uuid> = path.iter().map(|h| h.to).collect();
        assert_eq!(nodes, vec![id(1), id(2), id(3)]);
        let looped = vec![
            hop(0, 1, None),
            hop(1, 2, None),
            hop(2, 1, None),
            hop(1, 3, None),
        ];
        let cut: Vec<Uuid> = without_loops(id(0), looped).iter().map(|h| h.to).collect();
        assert_eq!(cut, vec![id(1), id(3)]);
    }

    #[test]
    fn labels_are_held_on_the_meter() {
        // The two roots fit; the first label a relaxation stores does not.
        let meter = Meter::new(&Budget {
            max_memory_bytes: Some(2 * VISITED_ENTRY_BYTES),
            ..Budget::default()
        });
        let edges = [(0, 1, 1.0), (1, 2, 1.0)];
        assert!(matches!(search(&edges, 0, 2, &meter), Err(Error::Limit(_))));
        let meter = Meter::new(&Budget::default());
        let (path, cost) = search(&edges, 0, 2, &meter).unwrap().unwrap();
        assert_eq!((path.len(), cost), (2, 2.0));
        assert_eq!(meter.held() % VISITED_ENTRY_BYTES, 0);
        assert!(meter.held() >= 3 * VISITED_ENTRY_BYTES);
    }

    #[test]
    fn same_entity_and_unreachable() {
        let meter = Meter::new(&Budget::default());
        let edges = [(0, 1, 1.0), (2, 1, 1.0)];
        assert_eq!(
            search(&edges, 2, 2, &meter).unwrap(),
            Some((Vec::new(), 0.0))
        );
        assert_eq!(search(&edges, 0, 2, &meter).unwrap(), None);
        assert_eq!(search(&edges, 1, 0, &meter).unwrap(), None);
    }
}
