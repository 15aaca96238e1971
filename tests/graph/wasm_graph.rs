//! The graph on wasm32: the JS face's graph methods (`addEdge`, `removeEdge`, `edges`,
//! `traverse`, `shortestPath`, `allPaths`, `countPaths`, `cycles`...) in Node and Chromium on
//! both in-memory backends, plus the core graph API on a diamond, run natively and on wasm32.

use remdb::{Database, EdgeDirection, PathOptions, Strategy, TraverseOptions};
use serde_json::json;

/// The core API on both targets: a diamond a→b→d, a→c→d with weights, then a cycle.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn core_graph_api_on_a_diamond() {
    let t = Database::memory().tenant("t").unwrap();
    t.init().unwrap();
    let id = |n: &str| t.insert("agents", json!({"name": n})).unwrap().to_string();
    let (a, b, c, d) = (id("a"), id("b"), id("c"), id("d"));
    t.add_edge(&a, &b, "r", json!({"weight": 1})).unwrap();
    t.add_edge(&b, &d, "r", json!({"weight": 1})).unwrap();
    t.add_edge(&a, &c, "r", json!({"weight": 0.25})).unwrap();
    t.add_edge(&c, &d, "r", json!({"weight": 0.25})).unwrap();
    let bfs = t.traverse(&a, &TraverseOptions::default()).unwrap();
    assert_eq!(bfs.paths.len(), 3);
    let dfs = t
        .traverse(
            &a,
            &TraverseOptions {
                strategy: Strategy::Dfs,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(dfs.paths.len(), 4);
    let weighted = t
        .shortest_path(
            &a,
            &d,
            &PathOptions {
                weighted: true,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(weighted.paths[0].cost, Some(0.5));
    assert_eq!(weighted.paths[0].nodes[1].to_string(), c);
    assert_eq!(t.count_paths(&a, &d, &PathOptions::default()).unwrap(), 2);
    let back = TraverseOptions {
        direction: EdgeDirection::In,
        ..Default::default()
    };
    assert_eq!(t.traverse(&d, &back).unwrap().paths.len(), 3);
    assert!(t
        .find_cycles(None, &PathOptions::default())
        .unwrap()
        .paths
        .is_empty());
    t.add_edge(&d, &a, "r", json!({})).unwrap();
    assert_eq!(
        t.cycles_from(&a, &PathOptions::default())
            .unwrap()
            .paths
            .len(),
        2
    );
}

#[cfg(target_arch = "wasm32")]
mod face {
    use serde_json::{json, Value};
    use wasm_bindgen::JsValue;

    use crate::wasm_harness::{code_of, js, rs};

    fn id<'a>(ids: &'a [(String, String)], n: &str) -> &'a str {
        &ids.iter().find(|(k, _)| k == n).unwrap().1
    }

    fn name_paths(ids: &[(String, String)], v: &Value) -> Vec<String> {
        let name = |i: &Value| {
            ids.iter()
                .find(|(_, v)| v == i.as_str().unwrap())
                .unwrap()
                .0
                .clone()
        };
        let mut out: Vec<String> = v["paths"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                p["nodes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(name)
                    .collect::<Vec<_>>()
                    .join(">")
            })
            .collect();
        out.sort();
        out
    }

    on_both_backends! {
        fn edges_are_added_listed_and_removed(db) {
            let ids: Vec<(String, String)> = ["a", "b", "c"].iter().map(|n| (n.to_string(), db.insert("agents", js(json!({"name": n}))).unwrap())).collect();
            let e = rs(db.add_edge(id(&ids, "a"), id(&ids, "b"), "calls", js(json!({"weight": 2}))).unwrap());
            assert_eq!(e["src"], id(&ids, "a"));
            assert_eq!(e["properties"]["weight"], 2);
            db.add_edge(id(&ids, "c"), id(&ids, "a"), "calls", JsValue::UNDEFINED).unwrap();
            assert_eq!(rs(db.edges(id(&ids, "a"), JsValue::UNDEFINED).unwrap()).as_array().unwrap().len(), 2, "both by default");
            let out = rs(db.edges(id(&ids, "a"), js(json!({"direction": "out", "rel": "calls"}))).unwrap());
            assert_eq!(out.as_array().unwrap().len(), 1);
            let incoming = rs(db.edges(id(&ids, "a"), js(json!({"direction": "in"}))).unwrap());
            assert_eq!(incoming[0]["src"], id(&ids, "c"));
            assert_eq!(rs(db.neighbors(id(&ids, "a"), JsValue::NULL).unwrap()).as_array().unwrap().len(), 2);
            db.remove_edge(id(&ids, "a"), id(&ids, "b"), "calls").unwrap();
            assert_eq!(code_of(db.remove_edge(id(&ids, "a"), id(&ids, "b"), "calls")), "NOT_FOUND");
            assert_eq!(code_of(db.add_edge(id(&ids, "a"), "0190a0a0-0000-7000-8000-000000000000", "r", JsValue::NULL)), "NOT_FOUND");
            assert_eq!(code_of(db.add_edge(id(&ids, "a"), id(&ids, "b"), "", JsValue::NULL)), "INVALID_ARGUMENT");
            assert_eq!(code_of(db.add_edge(id(&ids, "a"), id(&ids, "b"), "r", js(json!([1])))), "INVALID_ARGUMENT");
            assert_eq!(code_of(db.edges(id(&ids, "a"), js(json!({"direction": "up"})))), "INVALID_ARGUMENT");
            assert_eq!(code_of(db.edges("nope", JsValue::NULL)), "INVALID_ARGUMENT");
            // Edges travel in the WAL with the rest.
            let entries = rs(db.wal_entries(0.0, None).unwrap());
            assert!(entries.as_array().unwrap().iter().any(|e| e["op"] == "link"));
            assert!(entries.as_array().unwrap().iter().any(|e| e["op"] == "unlink"));
        }

        fn traverses_and_finds_paths_and_cycles(db) {
            let ids: Vec<(String, String)> = ["a", "b", "c", "d", "e"].iter().map(|n| (n.to_string(), db.insert("agents", js(json!({"name": n}))).unwrap())).collect();
            let edges: Vec<Value> = [("a", "b", 5), ("b", "c", 1), ("c", "d", 1), ("a", "d", 1), ("d", "a", 1)]
                .iter()
                .map(|(s, d, w)| json!({"src": id(&ids, s), "dst": id(&ids, d), "rel": "r", "properties": {"weight": w}}))
                .collect();
            // All or nothing: a bad item anywhere writes none.
            let mut bad = edges.clone();
            bad.push(json!({"src": id(&ids, "a"), "dst": "0190a0a0-0000-7000-8000-000000000000", "rel": "r"}));
            assert_eq!(code_of(db.add_edges(js(Value::Array(bad)))), "NOT_FOUND");
            assert_eq!(code_of(db.add_edges(js(json!([{"src": id(&ids, "a")}])))), "INVALID_ARGUMENT");
            assert_eq!(rs(db.edges(id(&ids, "a"), JsValue::NULL).unwrap()), json!([]));
            db.add_edges(js(Value::Array(edges))).unwrap();
            let bfs = rs(db.traverse(id(&ids, "a"), js(json!({"maxDepth": 2}))).unwrap());
            assert_eq!(name_paths(&ids, &bfs), ["a>b", "a>b>c", "a>d"]);
            assert_eq!(bfs["rows"][id(&ids, "c")]["name"], "c");
            assert_eq!(bfs["truncated"], false);
            let dfs = rs(db.traverse(id(&ids, "a"), js(json!({"strategy": "dfs", "maxDepth": 3, "includeRows": false}))).unwrap());
            assert_eq!(name_paths(&ids, &dfs), ["a>b", "a>b>c", "a>b>c>d", "a>d"]);
            assert_eq!(dfs["rows"], json!({}));
            let back = rs(db.traverse(id(&ids, "c"), js(json!({"direction": "in", "relTypes": ["r"], "maxDepth": 1}))).unwrap());
            assert_eq!(name_paths(&ids, &back), ["c>b"]);
            let layer = rs(db.neighbors_at_depth(id(&ids, "a"), 2.0, JsValue::UNDEFINED).unwrap());
            assert_eq!(name_paths(&ids, &layer), ["a>b>c"]);
            let short = rs(db.shortest_path(id(&ids, "a"), id(&ids, "c"), JsValue::UNDEFINED).unwrap());
            assert_eq!(name_paths(&ids, &short), ["a>b>c"]);
            let weighted = rs(db.shortest_path(id(&ids, "b"), id(&ids, "a"), js(json!({"weighted": true, "direction": "both"}))).unwrap());
            assert_eq!(weighted["paths"][0]["cost"], 3.0, "b-c-d-a beats the direct b-a (5)");
            let none = rs(db.shortest_path(id(&ids, "a"), id(&ids, "e"), JsValue::NULL).unwrap());
            assert_eq!(none["paths"], json!([]));
            let all = rs(db.all_paths(id(&ids, "a"), id(&ids, "d"), js(json!({"maxDepth": 4, "limit": 10}))).unwrap());
            assert_eq!(name_paths(&ids, &all), ["a>b>c>d", "a>d"]);
            assert_eq!(db.count_paths(id(&ids, "a"), id(&ids, "d"), JsValue::UNDEFINED).unwrap(), 2.0);
            let through_a = rs(db.cycles(Some(id(&ids, "a").to_string()), JsValue::UNDEFINED).unwrap());
            assert_eq!(name_paths(&ids, &through_a), ["a>b>c>d>a", "a>d>a"]);
            let table = rs(db.cycles(None, js(json!({"table": "agents"}))).unwrap());
            assert!(!table["paths"].as_array().unwrap().is_empty());
            // Bad options are errors, never panics.
            assert_eq!(code_of(db.traverse(id(&ids, "a"), js(json!({"max_depth": 2})))), "INVALID_ARGUMENT");
            assert_eq!(code_of(db.traverse(id(&ids, "a"), js(json!({"maxDepth": -1})))), "INVALID_ARGUMENT");
            assert_eq!(code_of(db.traverse(id(&ids, "a"), js(json!({"strategy": "astar"})))), "INVALID_ARGUMENT");
            assert_eq!(code_of(db.shortest_path(id(&ids, "a"), id(&ids, "b"), js(json!({"table": "agents"})))), "INVALID_ARGUMENT");
            assert_eq!(code_of(db.cycles(None, js(json!({"table": "nope"})))), "UNKNOWN_TABLE");
            assert_eq!(code_of(db.traverse("0190a0a0-0000-7000-8000-000000000000", JsValue::NULL)), "NOT_FOUND");
            // A budget bounds every walk: running out is LIMIT, a bad budget INVALID_ARGUMENT.
            let tight = json!({"budget": {"maxRowsExamined": 1}});
            assert_eq!(code_of(db.count_paths(id(&ids, "a"), id(&ids, "d"), js(tight.clone()))), "LIMIT");
            assert_eq!(code_of(db.all_paths(id(&ids, "a"), id(&ids, "d"), js(tight.clone()))), "LIMIT");
            assert_eq!(code_of(db.cycles(None, js(json!({"table": "agents", "budget": {"maxRowsExamined": 1}})))), "LIMIT");
            assert_eq!(code_of(db.traverse(id(&ids, "a"), js(json!({"budget": {"maxMemoryBytes": 0}})))), "LIMIT");
            assert_eq!(code_of(db.shortest_path(id(&ids, "a"), id(&ids, "c"), js(tight))), "LIMIT");
            assert_eq!(code_of(db.traverse(id(&ids, "a"), js(json!({"budget": {"maxRows": 1}})))), "INVALID_ARGUMENT");
            assert_eq!(code_of(db.traverse(id(&ids, "a"), js(json!({"budget": {"maxTimeMs": -1}})))), "INVALID_ARGUMENT");
            assert_eq!(db.count_paths(id(&ids, "a"), id(&ids, "d"), js(json!({"budget": {"maxRowsExamined": 100, "maxTimeMs": 60000}}))).unwrap(), 2.0);
        }
    }
}
