//! Shortest (and weighted) paths, all paths, path counts and cycle detection on small
//! hand-checked graphs, on every backend.

use crate::common::fixtures;
use crate::common::graph::{assert_real, set, G};
use remdb::{EdgeDirection, Error, PathOptions};
use serde_json::json;

fn each(edges: &[&str], extra: &[&str], check: impl Fn(&G)) {
    for f in fixtures() {
        check(&G::build(f.tenant(), edges, extra));
    }
}

fn depth(d: usize) -> PathOptions {
    PathOptions {
        max_depth: Some(d),
        ..Default::default()
    }
}

const DIAMOND_PLUS: &[&str] = &["a>b", "a>c", "b>d", "c>d", "d>e", "x>y"];

#[test]
fn shortest_paths_by_edge_count() {
    each(DIAMOND_PLUS, &[], |g| {
        let p =
            g.t.shortest_path(g.id("a"), g.id("e"), &PathOptions::default())
                .unwrap();
        assert_eq!(p.paths.len(), 1);
        assert_eq!(p.paths[0].depth, 3);
        assert!(["a>b>d>e", "a>c>d>e"].contains(&g.path(&p.paths[0]).as_str()));
        assert_real(&p.paths[0]);
        assert_eq!(p.rows.len(), 4, "rows of the path");
        assert!(g
            .t
            .shortest_path(g.id("a"), g.id("y"), &PathOptions::default())
            .unwrap()
            .paths
            .is_empty());
        assert!(
            g.t.shortest_path(g.id("e"), g.id("a"), &PathOptions::default())
                .unwrap()
                .paths
                .is_empty(),
            "directed"
        );
        let back = PathOptions {
            direction: EdgeDirection::In,
            ..Default::default()
        };
        assert_eq!(
            g.t.shortest_path(g.id("e"), g.id("a"), &back)
                .unwrap()
                .paths[0]
                .depth,
            3
        );
        let both = PathOptions {
            direction: EdgeDirection::Both,
            ..Default::default()
        };
        assert_eq!(
            g.path(
                &g.t.shortest_path(g.id("b"), g.id("c"), &both)
                    .unwrap()
                    .paths[0]
            )
            .len(),
            "b>a>c".len()
        );
        assert!(
            g.t.shortest_path(g.id("a"), g.id("e"), &depth(2))
                .unwrap()
                .paths
                .is_empty(),
            "beyond max_depth"
        );
        let same =
            g.t.shortest_path(g.id("a"), g.id("a"), &PathOptions::default())
                .unwrap();
        assert_eq!(same.paths[0].depth, 0);
        assert_eq!(same.paths[0].nodes.len(), 1);
        let ghost = uuid::Uuid::now_v7().to_string();
        assert!(matches!(
            g.t.shortest_path(g.id("a"), &ghost, &PathOptions::default()),
            Err(Error::NotFound(_))
        ));
    });
}

#[test]
fn weighted_shortest_paths_use_dijkstra_on_weight() {
    for f in fixtures() {
        let g = G::build(f.tenant(), &[], &["a", "b", "c", "d"]);
        let t = &g.t;
        let w = |s: &str, d: &str, weight: serde_json::Value| {
            t.add_edge(g.id(s), g.id(d), "road", weight).unwrap()
        };
        w("a", "d", json!({"weight": 5}));
        w("a", "b", json!({"weight": 1}));
        w("b", "c", json!({"weight": 1.5}));
        w("c", "d", json!({})); // no weight: costs 1
        let plain = t
            .shortest_path(g.id("a"), g.id("d"), &PathOptions::default())
            .unwrap();
        assert_eq!(g.path(&plain.paths[0]), "a>d");
        assert_eq!(plain.paths[0].cost, None);
        let weighted = PathOptions {
            weighted: true,
            ..Default::default()
        };
        let cheap = t.shortest_path(g.id("a"), g.id("d"), &weighted).unwrap();
        assert_eq!(g.path(&cheap.paths[0]), "a>b>c>d", "{}", f.name);
        assert_eq!(cheap.paths[0].cost, Some(3.5));
        assert_eq!(cheap.paths[0].edges[1].weight(), Some(1.5));
        // Against the arrows with `in`, and both ways.
        let back = PathOptions {
            direction: EdgeDirection::In,
            ..weighted.clone()
        };
        assert_eq!(
            t.shortest_path(g.id("d"), g.id("a"), &back).unwrap().paths[0].cost,
            Some(3.5)
        );
        w("a", "d", json!({"weight": 0}));
        assert_eq!(
            g.path(
                &t.shortest_path(g.id("a"), g.id("d"), &weighted)
                    .unwrap()
                    .paths[0]
            ),
            "a>d"
        );
        assert!(t
            .shortest_path(g.id("d"), g.id("a"), &weighted)
            .unwrap()
            .paths
            .is_empty());
    }
}

#[test]
fn all_paths_and_their_count() {
    each(
        &["a>b", "a>c", "b>d", "c>d", "a>d", "d>a", "b>c"],
        &[],
        |g| {
            let all =
                g.t.all_paths(g.id("a"), g.id("d"), &PathOptions::default())
                    .unwrap();
            assert_eq!(g.sorted(&all), set(&["a>b>c>d", "a>b>d", "a>c>d", "a>d"]));
            all.paths.iter().for_each(assert_real);
            assert_eq!(
                g.t.count_paths(g.id("a"), g.id("d"), &PathOptions::default())
                    .unwrap(),
                4
            );
            assert_eq!(
                g.sorted(&g.t.all_paths(g.id("a"), g.id("d"), &depth(2)).unwrap()),
                set(&["a>b>d", "a>c>d", "a>d"])
            );
            assert_eq!(g.t.count_paths(g.id("a"), g.id("d"), &depth(1)).unwrap(), 1);
            let limited =
                g.t.all_paths(
                    g.id("a"),
                    g.id("d"),
                    &PathOptions {
                        limit: Some(2),
                        ..Default::default()
                    },
                )
                .unwrap();
            assert_eq!(limited.paths.len(), 2);
            assert!(limited.truncated);
            assert_eq!(
                g.t.count_paths(
                    g.id("a"),
                    g.id("d"),
                    &PathOptions {
                        limit: Some(3),
                        ..Default::default()
                    }
                )
                .unwrap(),
                3
            );
            // Against the arrows: the same paths reversed.
            let back = PathOptions {
                direction: EdgeDirection::In,
                ..Default::default()
            };
            assert_eq!(g.t.count_paths(g.id("d"), g.id("a"), &back).unwrap(), 4);
            assert_eq!(
                g.paths(
                    &g.t.all_paths(g.id("a"), g.id("a"), &PathOptions::default())
                        .unwrap()
                ),
                vec!["a"]
            );
        },
    );
}

#[test]
fn parallel_relationships_are_distinct_paths() {
    each(&["a>b:r1", "a>b:r2", "b>c"], &[], |g| {
        let all =
            g.t.all_paths(g.id("a"), g.id("c"), &PathOptions::default())
                .unwrap();
        assert_eq!(g.paths(&all), vec!["a>b>c", "a>b>c"]);
        let mut rels: Vec<&str> = all.paths.iter().map(|p| p.edges[0].rel.as_str()).collect();
        rels.sort();
        assert_eq!(rels, vec!["r1", "r2"]);
        let only = PathOptions {
            rel_types: vec!["r2".into(), "r".into()],
            ..Default::default()
        };
        assert_eq!(g.t.count_paths(g.id("a"), g.id("c"), &only).unwrap(), 1);
    });
}

#[test]
fn cycles_through_one_node() {
    each(&["a>b", "b>c", "c>a", "b>a", "a>a:self", "c>d"], &[], |g| {
        let c = g.t.cycles_from(g.id("a"), &PathOptions::default()).unwrap();
        assert_eq!(g.sorted(&c), set(&["a>a", "a>b>a", "a>b>c>a"]));
        c.paths.iter().for_each(assert_real);
        assert!(c.paths.iter().all(|p| p.nodes.first() == p.nodes.last()));
        assert_eq!(
            g.sorted(&g.t.cycles_from(g.id("a"), &depth(2)).unwrap()),
            set(&["a>a", "a>b>a"])
        );
        assert!(g
            .t
            .cycles_from(g.id("d"), &PathOptions::default())
            .unwrap()
            .paths
            .is_empty());
        let no_self = PathOptions {
            rel_types: vec!["r".into()],
            ..Default::default()
        };
        assert_eq!(g.t.cycles_from(g.id("a"), &no_self).unwrap().paths.len(), 2);
    });
}

#[test]
fn undirected_cycles_never_reuse_an_edge() {
    each(&["a>b", "b>c"], &[], |g| {
        let both = PathOptions {
            direction: EdgeDirection::Both,
            ..Default::default()
        };
        assert!(
            g.t.cycles_from(g.id("a"), &both).unwrap().paths.is_empty(),
            "a-b-a over one edge is no cycle"
        );
        assert!(g
            .t
            .find_cycles(Some("node"), &both)
            .unwrap()
            .paths
            .is_empty());
    });
    each(&["a>b", "b>c", "a>c", "s>s"], &[], |g| {
        let both = PathOptions {
            direction: EdgeDirection::Both,
            ..Default::default()
        };
        // The triangle once per orientation.
        assert_eq!(
            g.sorted(&g.t.cycles_from(g.id("a"), &both).unwrap()),
            set(&["a>b>c>a", "a>c>b>a"])
        );
        assert_eq!(
            g.paths(&g.t.cycles_from(g.id("s"), &both).unwrap()),
            vec!["s>s"],
            "a self-loop once"
        );
        let found = g.t.find_cycles(None, &both).unwrap();
        assert_eq!(found.paths.len(), 2, "{:?}", g.paths(&found));
        assert!(found
            .paths
            .iter()
            .all(|p| p.nodes.first() == p.nodes.last()));
    });
}

#[test]
fn cycle_detection_over_a_table() {
    each(&["a>b", "b>c", "a>c", "c>d"], &["lonely"], |g| {
        assert!(
            g.t.find_cycles(Some("node"), &PathOptions::default())
                .unwrap()
                .paths
                .is_empty(),
            "a DAG"
        );
    });
    each(&["a>b", "b>c", "c>a", "x>y", "y>x", "c>x"], &[], |g| {
        let found =
            g.t.find_cycles(Some("node"), &PathOptions::default())
                .unwrap();
        assert_eq!(found.paths.len(), 2);
        let mut cycles: Vec<Vec<String>> = found
            .paths
            .iter()
            .map(|p| {
                assert_real(p);
                assert_eq!(p.nodes.first(), p.nodes.last());
                let mut names: Vec<String> = p.nodes[1..].iter().map(|n| g.name_of(n)).collect();
                names.sort();
                names
            })
            .collect();
        cycles.sort();
        assert_eq!(cycles, vec![vec!["a", "b", "c"], vec!["x", "y"]]);
        assert_eq!(found.rows.len(), 5);
        assert_eq!(
            g.t.find_cycles(
                None,
                &PathOptions {
                    limit: Some(1),
                    ..Default::default()
                }
            )
            .unwrap()
            .paths
            .len(),
            1
        );
        assert!(
            g.t.find_cycles(Some("node"), &depth(1))
                .unwrap()
                .paths
                .is_empty(),
            "longer than max_depth"
        );
        assert!(matches!(
            g.t.find_cycles(Some("nope"), &PathOptions::default()),
            Err(Error::UnknownTable { .. })
        ));
    });
}

#[test]
fn soft_deleted_nodes_break_paths_unless_included() {
    each(&["a>b", "b>c", "c>a"], &[], |g| {
        g.t.delete(g.id("b")).unwrap();
        assert!(g
            .t
            .shortest_path(g.id("a"), g.id("c"), &PathOptions::default())
            .unwrap()
            .paths
            .is_empty());
        assert!(g
            .t
            .find_cycles(None, &PathOptions::default())
            .unwrap()
            .paths
            .is_empty());
        let incl = PathOptions {
            include_deleted: true,
            ..Default::default()
        };
        assert_eq!(
            g.t.shortest_path(g.id("a"), g.id("c"), &incl)
                .unwrap()
                .paths[0]
                .depth,
            2
        );
        assert_eq!(g.t.find_cycles(None, &incl).unwrap().paths.len(), 1);
        assert!(matches!(
            g.t.all_paths(g.id("a"), g.id("b"), &PathOptions::default()),
            Err(Error::NotFound(_))
        ));
    });
}
