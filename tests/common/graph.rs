//! Graph fixtures: named nodes in a `node` table, edges written as `"a>b"` strings, and paths
//! read back as `"a>b>c"` strings.

use std::collections::BTreeMap;

use remdb::{GraphPath, Tenant, Traversal};
use serde_json::json;

/// A table of named nodes (the name is the natural key).
pub fn node_schema() -> serde_json::Value {
    json!({
        "title": "Node", "type": "object",
        "properties": {"name": {"type": "string"}, "kind": {"type": "string"}},
        "required": ["name"],
        "json_schema_extra": {"key_field": "name"}
    })
}

/// The graph: node name → id string.
pub struct G {
    pub t: Tenant,
    pub ids: BTreeMap<String, String>,
}

impl G {
    /// Registers the node table, then creates every node named in `edges` (and in `extra`) and
    /// every edge. Edges are `"a>b"` (rel `r`) or `"a>b:rel"`.
    pub fn build(t: Tenant, edges: &[&str], extra: &[&str]) -> G {
        t.register_schema(node_schema()).unwrap();
        let mut g = G {
            t,
            ids: BTreeMap::new(),
        };
        for name in extra {
            g.node(name);
        }
        for e in edges {
            let (src, dst, rel) = parse_edge(e);
            g.node(src);
            g.node(dst);
            g.t.add_edge(&g.ids[src], &g.ids[dst], rel, json!({}))
                .unwrap();
        }
        g
    }

    pub fn node(&mut self, name: &str) -> String {
        if let Some(id) = self.ids.get(name) {
            return id.clone();
        }
        let id = self
            .t
            .insert("node", json!({"name": name}))
            .unwrap()
            .to_string();
        self.ids.insert(name.to_string(), id.clone());
        id
    }

    pub fn id(&self, name: &str) -> &str {
        &self.ids[name]
    }

    pub fn name_of(&self, id: &uuid::Uuid) -> String {
        let id = id.to_string();
        self.ids
            .iter()
            .find(|(_, v)| **v == id)
            .map(|(k, _)| k.clone())
            .unwrap_or(id)
    }

    /// A path as `a>b>c` (node names in walk order).
    pub fn path(&self, p: &GraphPath) -> String {
        p.nodes
            .iter()
            .map(|id| self.name_of(id))
            .collect::<Vec<_>>()
            .join(">")
    }

    /// Every path of a result, in result order.
    pub fn paths(&self, r: &Traversal) -> Vec<String> {
        r.paths.iter().map(|p| self.path(p)).collect()
    }

    /// Every path of a result, sorted (for results whose sibling order follows id order).
    pub fn sorted(&self, r: &Traversal) -> Vec<String> {
        let mut v = self.paths(r);
        v.sort();
        v
    }
}

pub fn parse_edge(e: &str) -> (&str, &str, &str) {
    let (pair, rel) = e.split_once(':').unwrap_or((e, "r"));
    let (src, dst) = pair.split_once('>').expect("edge as a>b");
    (src, dst, rel)
}

/// Sorted owned strings.
pub fn set(items: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = items.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

/// Checks that a path is real: consecutive nodes joined by its edges, in either direction.
pub fn assert_real(p: &GraphPath) {
    assert_eq!(p.nodes.len(), p.depth + 1);
    assert_eq!(p.edges.len(), p.depth);
    for (i, e) in p.edges.iter().enumerate() {
        let (a, b) = (p.nodes[i], p.nodes[i + 1]);
        assert!(
            (e.src == a && e.dst == b) || (e.src == b && e.dst == a),
            "edge {i} does not join {a} and {b}"
        );
    }
}
