//! Property tests: on random small multigraphs (two relationships, self-loops and parallel
//! edges allowed), BFS reachability and shortest-path lengths, weighted shortest costs, path
//! counts, DFS path counts and cycle existence match a plain reference implementation.

#![cfg(not(target_arch = "wasm32"))]

use std::collections::{BTreeSet, VecDeque};

use proptest::prelude::*;
use remdb::{Database, EdgeDirection, NewEdge, PathOptions, Tenant, TraverseOptions};
use serde_json::json;
use uuid::Uuid;

const RELS: [&str; 2] = ["r", "s"];

#[derive(Debug, Clone)]
struct Graph {
    n: usize,
    /// (src, dst, rel index, weight)
    edges: Vec<(usize, usize, usize, u32)>,
}

fn graph() -> impl Strategy<Value = Graph> {
    (2usize..10).prop_flat_map(|n| {
        proptest::collection::vec((0..n, 0..n, 0..2usize, 0..5u32), 0..(n * 3)).prop_map(
            move |mut edges| {
                // One edge per (src, dst, rel) triple, as the store keeps it.
                let mut seen = BTreeSet::new();
                edges.retain(|&(a, b, r, _)| seen.insert((a, b, r)));
                Graph { n, edges }
            },
        )
    })
}

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
        .map(|&(a, b, r, w)| NewEdge {
            src: ids[a],
            dst: ids[b],
            rel: RELS[r].into(),
            properties: json!({"weight": w}).as_object().unwrap().clone(),
        })
        .collect();
    t.add_edges(edges).unwrap();
    (t, ids)
}

/// Reference adjacency: (neighbour, weight) per node for a direction and relationship filter
/// (an index past `RELS` means every relationship, named one by one).
fn adjacency(g: &Graph, dir: EdgeDirection, rel: Option<usize>) -> Vec<Vec<(usize, u32)>> {
    let mut adj = vec![Vec::new(); g.n];
    for &(a, b, r, w) in &g.edges {
        if rel.is_some_and(|x| x < RELS.len() && x != r) {
            continue;
        }
        if dir != EdgeDirection::In {
            adj[a].push((b, w));
        }
        if dir != EdgeDirection::Out {
            adj[b].push((a, w));
        }
    }
    adj
}

fn ref_distances(adj: &[Vec<(usize, u32)>], s: usize) -> Vec<Option<usize>> {
    let mut dist = vec![None; adj.len()];
    dist[s] = Some(0);
    let mut q = VecDeque::from([s]);
    while let Some(u) = q.pop_front() {
        for &(v, _) in &adj[u] {
            if dist[v].is_none() {
                dist[v] = Some(dist[u].unwrap() + 1);
                q.push_back(v);
            }
        }
    }
    dist
}

fn ref_weighted(adj: &[Vec<(usize, u32)>], s: usize) -> Vec<Option<u64>> {
    // Bellman-Ford: simple and obviously right.
    let mut dist = vec![None; adj.len()];
    dist[s] = Some(0u64);
    for _ in 0..adj.len() {
        for u in 0..adj.len() {
            let Some(du) = dist[u] else { continue };
            for &(v, w) in &adj[u] {
                let nd = du + w as u64;
                if dist[v].is_none_or(|dv| nd < dv) {
                    dist[v] = Some(nd);
                }
            }
        }
    }
    dist
}

/// Simple paths from `s` (edge sequences, nodes distinct) of 1..=max edges; those ending at
/// `t` when given.
fn ref_count(adj: &[Vec<(usize, u32)>], s: usize, t: Option<usize>, max: usize) -> usize {
    fn go(
        adj: &[Vec<(usize, u32)>],
        u: usize,
        t: Option<usize>,
        left: usize,
        on: &mut Vec<bool>,
    ) -> usize {
        let mut n = 0;
        if left == 0 {
            return 0;
        }
        for &(v, _) in &adj[u] {
            if t == Some(v) {
                n += 1;
                continue;
            }
            if on[v] {
                continue;
            }
            if t.is_none() {
                n += 1;
            }
            on[v] = true;
            n += go(adj, v, t, left - 1, on);
            on[v] = false;
        }
        n
    }
    let mut on = vec![false; adj.len()];
    on[s] = true;
    go(adj, s, t, max, &mut on)
}

fn ref_has_cycle(adj: &[Vec<(usize, u32)>]) -> bool {
    // Kahn: a cycle leaves nodes with in-degree > 0.
    let mut indeg = vec![0; adj.len()];
    for out in adj {
        for &(v, _) in out {
            indeg[v] += 1;
        }
    }
    let mut q: VecDeque<usize> = (0..adj.len()).filter(|&v| indeg[v] == 0).collect();
    let mut seen = 0;
    while let Some(u) = q.pop_front() {
        seen += 1;
        for &(v, _) in &adj[u] {
            indeg[v] -= 1;
            if indeg[v] == 0 {
                q.push_back(v);
            }
        }
    }
    seen < adj.len()
}

fn direction() -> impl Strategy<Value = EdgeDirection> {
    prop_oneof![
        Just(EdgeDirection::Out),
        Just(EdgeDirection::In),
        Just(EdgeDirection::Both)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn bfs_reachability_and_depths_match(g in graph(), dir in direction(), rel in proptest::option::of(0..3usize), start in 0..10usize, depth in 0..6usize) {
        let start = start % g.n;
        let (t, ids) = load(&g);
        let adj = adjacency(&g, dir, rel);
        let dist = ref_distances(&adj, start);
        let o = TraverseOptions {
            max_depth: depth, direction: dir, rel_types: match rel { Some(r) if r < RELS.len() => vec![RELS[r].to_string()], Some(_) => vec!["s".into(), "r".into()], None => vec![] },
            include_rows: false, ..Default::default()
        };
        let r = t.traverse(&ids[start].to_string(), &o).unwrap();
        let mut got: Vec<(usize, usize)> = r.paths.iter().map(|p| (ids.iter().position(|i| *i == p.end()).unwrap(), p.depth)).collect();
        got.sort();
        let mut want: Vec<(usize, usize)> = (0..g.n).filter(|&v| v != start).filter_map(|v| dist[v].filter(|&d| d <= depth).map(|d| (v, d))).collect();
        want.sort();
        prop_assert_eq!(got, want);
        // DFS enumerates exactly the simple paths of 1..=depth edges.
        let d = t.traverse(&ids[start].to_string(), &TraverseOptions { strategy: remdb::Strategy::Dfs, ..o }).unwrap();
        prop_assert_eq!(d.paths.len(), ref_count(&adj, start, None, depth));
    }

    #[test]
    fn shortest_paths_match(g in graph(), dir in direction(), a in 0..10usize, b in 0..10usize) {
        let (a, b) = (a % g.n, b % g.n);
        let (t, ids) = load(&g);
        let adj = adjacency(&g, dir, None);
        let o = PathOptions { direction: dir, include_rows: false, ..Default::default() };
        let r = t.shortest_path(&ids[a].to_string(), &ids[b].to_string(), &o).unwrap();
        prop_assert_eq!(r.paths.first().map(|p| p.depth), ref_distances(&adj, a)[b]);
        if let Some(p) = r.paths.first() {
            prop_assert_eq!(p.nodes[0], ids[a]);
            prop_assert_eq!(p.end(), ids[b]);
            for (i, e) in p.edges.iter().enumerate() {
                let forward = e.src == p.nodes[i] && e.dst == p.nodes[i + 1];
                let backward = e.src == p.nodes[i + 1] && e.dst == p.nodes[i];
                let ok = match dir { EdgeDirection::Out => forward, EdgeDirection::In => backward, EdgeDirection::Both => forward || backward };
                prop_assert!(ok, "edge {} points the wrong way", i);
            }
        }
        let w = t.shortest_path(&ids[a].to_string(), &ids[b].to_string(), &PathOptions { weighted: true, ..o }).unwrap();
        prop_assert_eq!(w.paths.first().and_then(|p| p.cost).map(|c| c as u64), ref_weighted(&adj, a)[b]);
        if let Some(p) = w.paths.first() {
            let sum: f64 = p.edges.iter().map(|e| e.weight().unwrap()).sum();
            prop_assert_eq!(Some(sum), p.cost);
        }
    }

    #[test]
    fn path_counts_match(g in graph(), dir in direction(), a in 0..10usize, b in 0..10usize, depth in 1..5usize) {
        let (a, b) = (a % g.n, b % g.n);
        prop_assume!(a != b);
        let (t, ids) = load(&g);
        let adj = adjacency(&g, dir, None);
        let o = PathOptions { direction: dir, max_depth: Some(depth), include_rows: false, ..Default::default() };
        let want = ref_count(&adj, a, Some(b), depth);
        prop_assert_eq!(t.count_paths(&ids[a].to_string(), &ids[b].to_string(), &o).unwrap() as usize, want);
        let all = t.all_paths(&ids[a].to_string(), &ids[b].to_string(), &o).unwrap();
        prop_assert_eq!(all.paths.len(), want);
        let distinct: BTreeSet<Vec<(Uuid, String, Uuid)>> = all.paths.iter().map(|p| p.edges.iter().map(|e| (e.src, e.rel.clone(), e.dst)).collect()).collect();
        prop_assert_eq!(distinct.len(), want, "no path twice");
    }

    #[test]
    fn cycle_detection_matches(g in graph()) {
        let (t, ids) = load(&g);
        let adj = adjacency(&g, EdgeDirection::Out, None);
        let found = t.find_cycles(Some("v"), &PathOptions { include_rows: false, ..Default::default() }).unwrap();
        prop_assert_eq!(!found.paths.is_empty(), ref_has_cycle(&adj));
        for p in &found.paths {
            prop_assert_eq!(p.nodes.first(), p.nodes.last());
            for (i, e) in p.edges.iter().enumerate() {
                prop_assert!(e.src == p.nodes[i] && e.dst == p.nodes[i + 1]);
            }
        }
        // Every cycle through a node closes at that node and is simple.
        let c = t.cycles_from(&ids[0].to_string(), &PathOptions { max_depth: Some(g.n), include_rows: false, ..Default::default() }).unwrap();
        for p in &c.paths {
            let inner: BTreeSet<Uuid> = p.nodes[1..].iter().copied().collect();
            prop_assert_eq!(inner.len(), p.depth);
            prop_assert_eq!(p.nodes[0], ids[0]);
            prop_assert_eq!(p.end(), ids[0]);
        }
        prop_assert_eq!(c.paths.len(), ref_count(&adj, 0, Some(0), g.n));
    }
}
