//! Hostile graph walks: path counts, path and cycle enumerations and traversals over graphs with
//! exponentially many paths stop at their budget with a `LIMIT` error, and hold memory in
//! proportion to what they return. Checked with budgets, never with timings.
#![cfg(not(target_arch = "wasm32"))]

use remdb::{Budget, Database, EdgeDirection, PathOptions, Strategy, Tenant, TraverseOptions};
use serde_json::json;

use crate::common::graph::node_schema;

/// A complete directed graph on `n` nodes (every ordered pair linked); returns the ids.
fn complete(n: usize) -> (Database, Tenant, Vec<String>) {
    let db = Database::memory();
    let t = db.tenant("default").unwrap();
    t.register_schema(node_schema()).unwrap();
    let ids: Vec<String> = t
        .insert_many(
            "node",
            (0..n)
                .map(|i| json!({"name": format!("v{i:02}")}))
                .collect(),
        )
        .unwrap()
        .into_iter()
        .map(|id| id.to_string())
        .collect();
    let mut edges = Vec::new();
    for a in &ids {
        for b in &ids {
            if a != b {
                edges.push(remdb::NewEdge {
                    src: a.parse().unwrap(),
                    dst: b.parse().unwrap(),
                    rel: "r".into(),
                    properties: Default::default(),
                });
            }
        }
    }
    t.add_edges(edges).unwrap();
    (db, t, ids)
}

fn budget(rows: Option<u64>, memory: Option<u64>, time_ms: Option<u64>) -> Budget {
    Budget {
        max_rows_examined: rows,
        max_memory_bytes: memory,
        max_time_ms: time_ms,
    }
}

fn assert_limit<T: std::fmt::Debug>(r: remdb::Result<T>, setting: &str) {
    let err = r.expect_err("the budget must stop the walk");
    assert_eq!(err.code(), "LIMIT", "{err}");
    assert!(
        err.to_string().contains(setting),
        "{err} should name {setting}"
    );
}

#[test]
fn counting_paths_in_a_complete_graph_stops_at_the_budget() {
    // 40 nodes, depth 6: billions of simple paths (the issue's run went past 120 s).
    let (_db, t, ids) = complete(40);
    let opts = |b: Budget| PathOptions {
        budget: b,
        ..PathOptions::default()
    };
    assert_limit(
        t.count_paths(&ids[0], &ids[1], &opts(budget(Some(100_000), None, None))),
        "max_rows_examined = 100000",
    );
    assert_limit(
        t.count_paths(
            &ids[0],
            &ids[1],
            &opts(budget(Some(u64::MAX), None, Some(200))),
        ),
        "max_time_ms = 200",
    );
    // A bounded question still answers: paths of at most 2 edges = 1 + 38.
    let shallow = PathOptions {
        max_depth: Some(2),
        ..opts(budget(Some(100_000), None, None))
    };
    assert_eq!(t.count_paths(&ids[0], &ids[1], &shallow).unwrap(), 39);
}

#[test]
fn all_paths_and_cycles_hold_memory_for_what_they_return() {
    let (_db, t, ids) = complete(12);
    // A large limit alone does not make the search hold more: 1,000 paths fit in 4 MiB.
    let opts = PathOptions {
        limit: Some(1_000),
        budget: budget(None, Some(4 << 20), None),
        include_rows: false,
        ..PathOptions::default()
    };
    let found = t.all_paths(&ids[0], &ids[1], &opts).unwrap();
    assert_eq!(found.paths.len(), 1_000);
    assert!(found.truncated);
    let cycles = t.cycles_from(&ids[0], &opts).unwrap();
    assert_eq!(cycles.paths.len(), 1_000);
    // Asking for 100,000 paths under the same budget is a LIMIT error, not a growing process.
    let many = PathOptions {
        limit: Some(100_000),
        ..opts.clone()
    };
    assert_limit(t.all_paths(&ids[0], &ids[1], &many), "max_memory_bytes");
    assert_limit(t.cycles_from(&ids[0], &many), "max_memory_bytes");
    assert_limit(
        t.find_cycles(
            None,
            &PathOptions {
                budget: budget(Some(50), None, None),
                ..PathOptions::default()
            },
        ),
        "max_rows_examined = 50",
    );
}

#[test]
fn traversals_and_shortest_paths_respect_the_budget() {
    let (_db, t, ids) = complete(30);
    let dfs = TraverseOptions {
        strategy: Strategy::Dfs,
        max_depth: 8,
        limit: usize::MAX,
        include_rows: false,
        budget: budget(Some(10_000), None, None),
        ..TraverseOptions::default()
    };
    assert_limit(t.traverse(&ids[0], &dfs), "max_rows_examined = 10000");
    let bfs = TraverseOptions {
        direction: EdgeDirection::Both,
        budget: budget(None, Some(1_000), None),
        ..TraverseOptions::default()
    };
    assert_limit(t.traverse(&ids[0], &bfs), "max_memory_bytes = 1000");
    assert_limit(
        t.neighbors_at_depth(&ids[0], 2, &bfs),
        "max_memory_bytes = 1000",
    );
    let weighted = PathOptions {
        weighted: true,
        budget: budget(Some(5), None, None),
        ..PathOptions::default()
    };
    assert_limit(
        t.shortest_path(&ids[0], &ids[1], &weighted),
        "max_rows_examined = 5",
    );
    // Within budget the same calls answer.
    let found = t
        .shortest_path(
            &ids[0],
            &ids[1],
            &PathOptions {
                budget: budget(Some(1_000), None, None),
                ..PathOptions::default()
            },
        )
        .unwrap();
    assert_eq!(found.paths[0].depth, 1);
}

#[test]
fn the_database_budget_covers_graph_walks() {
    let options = remdb::OpenOptions {
        budget: budget(Some(1_000), None, None),
        ..remdb::OpenOptions::default()
    };
    let db = Database::with_kv_options(std::sync::Arc::new(remdb::kv::MemoryKv::new()), &options)
        .unwrap();
    let t = db.tenant("default").unwrap();
    t.register_schema(node_schema()).unwrap();
    let ids: Vec<String> = t
        .insert_many(
            "node",
            (0..20).map(|i| json!({"name": format!("v{i}")})).collect(),
        )
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    for a in &ids {
        for b in &ids {
            if a != b {
                t.add_edge(a, b, "r", json!({})).unwrap();
            }
        }
    }
    assert_limit(
        t.count_paths(&ids[0], &ids[1], &PathOptions::default()),
        "max_rows_examined = 1000",
    );
    let generous = PathOptions {
        max_depth: Some(2),
        budget: budget(Some(1_000_000), None, None),
        ..PathOptions::default()
    };
    assert_eq!(t.count_paths(&ids[0], &ids[1], &generous).unwrap(), 19);
}
