//! Traversal on small hand-checked graphs (trees, diamonds, stars, chains, cycles, disconnected
//! parts, relationship filters, incoming-only starts) with exact expected paths, on every backend.

use crate::common;

use crate::common::fixtures;
use crate::common::graph::{assert_real, set, G};
use remdb::{EdgeDirection, Error, Strategy, TraverseOptions};

fn opts(depth: usize) -> TraverseOptions {
    TraverseOptions {
        max_depth: depth,
        ..Default::default()
    }
}

fn dfs(depth: usize) -> TraverseOptions {
    TraverseOptions {
        strategy: Strategy::Dfs,
        max_depth: depth,
        ..Default::default()
    }
}

fn dir(mut o: TraverseOptions, d: EdgeDirection) -> TraverseOptions {
    o.direction = d;
    o
}

/// Runs `check` on the graph built on every backend.
fn each(edges: &[&str], extra: &[&str], check: impl Fn(&G)) {
    for f in fixtures() {
        check(&G::build(f.tenant(), edges, extra));
    }
}

const TREE: &[&str] = &["r>a", "r>b", "a>c", "a>d", "b>e"];
const DIAMOND: &[&str] = &["a>b", "a>c", "b>d", "c>d"];

#[test]
fn bfs_on_a_tree_goes_level_by_level_within_the_depth() {
    each(TREE, &[], |g| {
        let r = g.t.traverse(g.id("r"), &opts(2)).unwrap();
        assert_eq!(
            g.sorted(&r),
            set(&["r>a", "r>b", "r>a>c", "r>a>d", "r>b>e"])
        );
        let depths: Vec<usize> = r.paths.iter().map(|p| p.depth).collect();
        assert_eq!(depths, vec![1, 1, 2, 2, 2], "BFS order is by depth");
        r.paths.iter().for_each(assert_real);
        assert_eq!(
            g.sorted(&g.t.traverse(g.id("r"), &opts(1)).unwrap()),
            set(&["r>a", "r>b"])
        );
        assert!(g.t.traverse(g.id("r"), &opts(0)).unwrap().paths.is_empty());
        assert!(!r.truncated);
        // DFS on a tree finds the same paths, depth first: each child right after its parent.
        let d = g.t.traverse(g.id("r"), &dfs(2)).unwrap();
        assert_eq!(g.sorted(&d), g.sorted(&r));
        let a_pos = g.paths(&d).iter().position(|p| p == "r>a").unwrap();
        assert!(g.paths(&d)[a_pos + 1].starts_with("r>a>"));
    });
}

#[test]
fn bfs_reaches_each_node_once_and_dfs_backtracks_through_a_diamond() {
    each(DIAMOND, &[], |g| {
        let b = g.t.traverse(g.id("a"), &opts(3)).unwrap();
        assert_eq!(b.paths.len(), 3, "d is reached once: {:?}", g.paths(&b));
        assert_eq!(b.ends().iter().filter(|e| g.name_of(e) == "d").count(), 1);
        let d = g.t.traverse(g.id("a"), &dfs(3)).unwrap();
        assert_eq!(g.sorted(&d), set(&["a>b", "a>b>d", "a>c", "a>c>d"]));
        // With a target: BFS one shortest path, DFS every path to it.
        let to_d = TraverseOptions {
            target: Some(g.id("d").to_string()),
            ..opts(3)
        };
        let shortest = g.t.traverse(g.id("a"), &to_d).unwrap();
        assert_eq!(shortest.paths.len(), 1);
        assert_eq!(shortest.paths[0].depth, 2);
        assert!(["a>b>d", "a>c>d"].contains(&g.path(&shortest.paths[0]).as_str()));
        let all =
            g.t.traverse(
                g.id("a"),
                &TraverseOptions {
                    strategy: Strategy::Dfs,
                    ..to_d.clone()
                },
            )
            .unwrap();
        assert_eq!(g.sorted(&all), set(&["a>b>d", "a>c>d"]));
        let too_short = TraverseOptions {
            max_depth: 1,
            ..to_d
        };
        assert!(
            g.t.traverse(g.id("a"), &too_short)
                .unwrap()
                .paths
                .is_empty(),
            "target beyond the depth limit"
        );
    });
}

#[test]
fn a_star_with_only_incoming_edges_is_walked_with_in_and_both() {
    each(&["s1>hub", "s2>hub", "s3>hub", "s4>hub"], &[], |g| {
        assert!(
            g.t.traverse(g.id("hub"), &opts(3))
                .unwrap()
                .paths
                .is_empty(),
            "no out edges"
        );
        let r =
            g.t.traverse(g.id("hub"), &dir(opts(3), EdgeDirection::In))
                .unwrap();
        assert_eq!(g.sorted(&r), set(&["hub>s1", "hub>s2", "hub>s3", "hub>s4"]));
        for p in &r.paths {
            assert_real(p);
            // The edge is reported as stored: from the spoke to the hub.
            assert_eq!(p.edges[0].dst.to_string(), g.id("hub"));
            assert_eq!(p.edges[0].src, p.nodes[1]);
        }
        // Both: through the hub from one spoke to the others.
        let both =
            g.t.traverse(g.id("s1"), &dir(opts(2), EdgeDirection::Both))
                .unwrap();
        assert_eq!(
            g.sorted(&both),
            set(&["s1>hub", "s1>hub>s2", "s1>hub>s3", "s1>hub>s4"])
        );
        let limited =
            g.t.traverse(
                g.id("hub"),
                &TraverseOptions {
                    limit: 2,
                    ..dir(opts(1), EdgeDirection::In)
                },
            )
            .unwrap();
        assert_eq!(limited.paths.len(), 2);
        assert!(limited.truncated);
    });
}

#[test]
fn both_direction_really_follows_edges_both_ways() {
    // a → b ← c: the Python reference never reached c from a with BOTH.
    each(&["a>b", "c>b", "c>d"], &[], |g| {
        assert_eq!(
            g.paths(&g.t.traverse(g.id("a"), &opts(5)).unwrap()),
            vec!["a>b"]
        );
        let both =
            g.t.traverse(g.id("a"), &dir(opts(5), EdgeDirection::Both))
                .unwrap();
        assert_eq!(g.paths(&both), vec!["a>b", "a>b>c", "a>b>c>d"]);
        both.paths.iter().for_each(assert_real);
        let dfs_both =
            g.t.traverse(g.id("d"), &dir(dfs(5), EdgeDirection::Both))
                .unwrap();
        assert_eq!(g.paths(&dfs_both), vec!["d>c", "d>c>b", "d>c>b>a"]);
    });
}

#[test]
fn chains_respect_depth_limits_in_both_directions() {
    each(&["a>b", "b>c", "c>d", "d>e"], &[], |g| {
        assert_eq!(
            g.paths(&g.t.traverse(g.id("a"), &opts(2)).unwrap()),
            vec!["a>b", "a>b>c"]
        );
        assert_eq!(
            g.paths(&g.t.traverse(g.id("a"), &dfs(2)).unwrap()),
            vec!["a>b", "a>b>c"]
        );
        let back =
            g.t.traverse(g.id("e"), &dir(opts(10), EdgeDirection::In))
                .unwrap();
        assert_eq!(g.paths(&back), vec!["e>d", "e>d>c", "e>d>c>b", "e>d>c>b>a"]);
        assert_eq!(
            back.paths.iter().map(|p| p.depth).collect::<Vec<_>>(),
            vec![1, 2, 3, 4]
        );
    });
}

#[test]
fn cycles_always_terminate() {
    each(&["a>b", "b>c", "c>a", "c>c:self"], &[], |g| {
        assert_eq!(
            g.paths(&g.t.traverse(g.id("a"), &opts(100)).unwrap()),
            vec!["a>b", "a>b>c"]
        );
        assert_eq!(
            g.paths(&g.t.traverse(g.id("a"), &dfs(100)).unwrap()),
            vec!["a>b", "a>b>c"]
        );
        let both =
            g.t.traverse(g.id("a"), &dir(opts(100), EdgeDirection::Both))
                .unwrap();
        assert_eq!(
            g.sorted(&both),
            set(&["a>b", "a>c"]),
            "both ways, b and c are one hop away"
        );
        let both_dfs =
            g.t.traverse(g.id("a"), &dir(dfs(100), EdgeDirection::Both))
                .unwrap();
        assert_eq!(g.sorted(&both_dfs), set(&["a>b", "a>b>c", "a>c", "a>c>b"]));
    });
}

#[test]
fn disconnected_parts_are_not_reached() {
    each(&["a>b", "x>y", "y>z"], &["island"], |g| {
        let all = TraverseOptions {
            max_depth: usize::MAX,
            ..dir(opts(0), EdgeDirection::Both)
        };
        assert_eq!(
            g.paths(&g.t.traverse(g.id("a"), &all).unwrap()),
            vec!["a>b"]
        );
        assert!(g.t.traverse(g.id("island"), &all).unwrap().paths.is_empty());
        let unreachable = TraverseOptions {
            target: Some(g.id("z").to_string()),
            ..all
        };
        assert!(g
            .t
            .traverse(g.id("a"), &unreachable)
            .unwrap()
            .paths
            .is_empty());
    });
}

#[test]
fn relationship_filters_select_edges() {
    each(
        &[
            "a>b:knows",
            "b>c:likes",
            "a>c:likes",
            "c>d:knows",
            "d>a:hates",
        ],
        &[],
        |g| {
            let with = |rels: &[&str]| TraverseOptions {
                rel_types: rels.iter().map(|r| r.to_string()).collect(),
                ..opts(5)
            };
            assert_eq!(
                g.paths(&g.t.traverse(g.id("a"), &with(&["knows"])).unwrap()),
                vec!["a>b"]
            );
            assert_eq!(
                g.paths(&g.t.traverse(g.id("a"), &with(&["likes"])).unwrap()),
                vec!["a>c"]
            );
            assert_eq!(
                g.sorted(&g.t.traverse(g.id("a"), &with(&["knows", "likes"])).unwrap()),
                set(&["a>b", "a>c", "a>c>d"])
            );
            assert_eq!(
                g.sorted(&g.t.traverse(g.id("a"), &with(&[])).unwrap()),
                set(&["a>b", "a>c", "a>c>d"])
            );
            let r =
                g.t.traverse(
                    g.id("a"),
                    &TraverseOptions {
                        direction: EdgeDirection::In,
                        ..with(&["hates"])
                    },
                )
                .unwrap();
            assert_eq!(g.paths(&r), vec!["a>d"]);
            assert_eq!(r.paths[0].edges[0].rel, "hates");
            assert!(matches!(
                g.t.traverse(g.id("a"), &with(&["bad\0rel"])),
                Err(Error::InvalidArgument(_))
            ));
        },
    );
}

#[test]
fn soft_deleted_entities_are_skipped_unless_asked() {
    each(&["a>b", "b>c", "a>x"], &[], |g| {
        g.t.delete(g.id("b")).unwrap();
        assert_eq!(
            g.paths(&g.t.traverse(g.id("a"), &opts(5)).unwrap()),
            vec!["a>x"]
        );
        let with_deleted = TraverseOptions {
            include_deleted: true,
            ..opts(5)
        };
        assert_eq!(
            g.sorted(&g.t.traverse(g.id("a"), &with_deleted).unwrap()),
            set(&["a>b", "a>b>c", "a>x"])
        );
        assert!(matches!(
            g.t.traverse(g.id("b"), &opts(5)),
            Err(Error::NotFound(_))
        ));
        assert_eq!(
            g.t.traverse(g.id("b"), &with_deleted).unwrap().paths.len(),
            1
        );
        let ghost = uuid::Uuid::now_v7().to_string();
        assert!(matches!(
            g.t.traverse(&ghost, &opts(1)),
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            g.t.traverse("not an id", &opts(1)),
            Err(Error::InvalidArgument(_))
        ));
    });
}

#[test]
fn paths_come_back_with_their_rows_and_edges() {
    each(&["a>b:knows", "b>c:likes"], &[], |g| {
        let r = g.t.traverse(g.id("a"), &opts(2)).unwrap();
        assert_eq!(r.rows.len(), 3, "start and every node on a path");
        let last = &r.paths[1];
        assert_eq!(r.row(&last.end()).unwrap()["name"], "c");
        assert_eq!(
            last.edges
                .iter()
                .map(|e| e.rel.as_str())
                .collect::<Vec<_>>(),
            vec!["knows", "likes"]
        );
        assert!(last.edges[0].created_at.ends_with('Z'));
        let bare =
            g.t.traverse(
                g.id("a"),
                &TraverseOptions {
                    include_rows: false,
                    ..opts(2)
                },
            )
            .unwrap();
        assert!(bare.rows.is_empty());
        assert_eq!(bare.paths, r.paths);
        // Results serialize as plain JSON (what the CLI and the JS face print).
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["paths"][0]["nodes"][0], g.id("a"));
        assert_eq!(json["rows"][g.id("a")]["name"], "a");
    });
}

#[test]
fn neighbors_at_depth_are_the_bfs_layer() {
    each(TREE, &[], |g| {
        let at = |d: usize| {
            let mut v: Vec<String> =
                g.t.neighbors_at_depth(g.id("r"), d, &opts(0))
                    .unwrap()
                    .ends()
                    .iter()
                    .map(|i| g.name_of(i))
                    .collect();
            v.sort();
            v
        };
        assert_eq!(at(0), vec!["r"]);
        assert_eq!(at(1), vec!["a", "b"]);
        assert_eq!(at(2), vec!["c", "d", "e"]);
        assert!(at(3).is_empty());
    });
    each(DIAMOND, &[], |g| {
        let layer = g.t.neighbors_at_depth(g.id("a"), 2, &opts(0)).unwrap();
        assert_eq!(layer.ends().len(), 1, "d once, not per path");
        let back =
            g.t.neighbors_at_depth(g.id("d"), 1, &dir(opts(0), EdgeDirection::In))
                .unwrap();
        assert_eq!(back.paths.len(), 2);
    });
}

#[test]
fn a_long_chain_is_walked_without_recursion() {
    let f = common::fixtures().remove(0); // memory
    let t = f.tenant();
    t.register_schema(common::graph::node_schema()).unwrap();
    const N: usize = 20_000;
    let ids = t
        .insert_many(
            "node",
            (0..N)
                .map(|i| serde_json::json!({"name": format!("n{i}")}))
                .collect(),
        )
        .unwrap();
    let edges = ids
        .windows(2)
        .map(|w| remdb::NewEdge {
            src: w[0],
            dst: w[1],
            rel: "next".into(),
            properties: Default::default(),
        })
        .collect();
    t.add_edges(edges).unwrap();
    let (head, tail) = (ids[0].to_string(), ids[N - 1].to_string());
    for strategy in [Strategy::Bfs, Strategy::Dfs] {
        let o = TraverseOptions {
            strategy,
            max_depth: usize::MAX,
            target: Some(tail.clone()),
            include_rows: false,
            ..Default::default()
        };
        let r = t.traverse(&head, &o).unwrap();
        assert_eq!(r.paths.len(), 1);
        assert_eq!(r.paths[0].depth, N - 1);
    }
    // Every prefix of the chain as a DFS path would be N²/2 edges: the output bound stops it.
    let everything = TraverseOptions {
        strategy: Strategy::Dfs,
        max_depth: usize::MAX,
        include_rows: false,
        ..Default::default()
    };
    let r = t.traverse(&head, &everything).unwrap();
    assert!(r.truncated);
    assert!(r.paths.iter().map(|p| p.depth).sum::<usize>() <= remdb::graph::MAX_OUTPUT_EDGES);
    let po = remdb::PathOptions {
        max_depth: Some(N),
        include_rows: false,
        ..Default::default()
    };
    assert_eq!(
        t.all_paths(&head, &tail, &po).unwrap().paths[0].depth,
        N - 1
    );
    assert_eq!(
        t.shortest_path(&head, &tail, &po).unwrap().paths[0].depth,
        N - 1
    );
    assert!(t.find_cycles(Some("node"), &po).unwrap().paths.is_empty());
    t.add_edge(&tail, &head, "next", serde_json::json!({}))
        .unwrap();
    let cycles = t.find_cycles(Some("node"), &po).unwrap();
    assert_eq!(cycles.paths.len(), 1);
    assert_eq!(cycles.paths[0].depth, N);
}

#[test]
fn filters_over_many_relationships_on_a_hub_stay_exact() {
    // 40 `m` edges sit between the wanted `a` and `z` edges in key order: the spanning scan gives
    // up past its skip budget and finishes with one scan per relationship.
    let mut edges: Vec<String> = (0..40).map(|i| format!("hub>m{i}:m")).collect();
    edges.extend([
        "hub>x:a".to_string(),
        "hub>y:z".to_string(),
        "hub>w:b".to_string(),
        "hub>v:zz".to_string(),
    ]);
    let edges: Vec<&str> = edges.iter().map(String::as_str).collect();
    each(&edges, &[], |g| {
        let with = |rels: &[&str]| TraverseOptions {
            rel_types: rels.iter().map(|r| r.to_string()).collect(),
            ..opts(1)
        };
        assert_eq!(
            g.sorted(&g.t.traverse(g.id("hub"), &with(&["a", "z"])).unwrap()),
            set(&["hub>x", "hub>y"])
        );
        assert_eq!(
            g.sorted(&g.t.traverse(g.id("hub"), &with(&["zz", "a", "b"])).unwrap()),
            set(&["hub>v", "hub>w", "hub>x"])
        );
        assert_eq!(
            g.t.traverse(g.id("hub"), &with(&["m", "zz"]))
                .unwrap()
                .paths
                .len(),
            41
        );
        assert_eq!(
            g.t.traverse(g.id("hub"), &with(&["a", "b", "m", "z", "zz"]))
                .unwrap()
                .paths
                .len(),
            44
        );
        assert!(g
            .t
            .traverse(g.id("hub"), &with(&["c", "y"]))
            .unwrap()
            .paths
            .is_empty());
    });
}
