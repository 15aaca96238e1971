//! Edge storage on every backend: both-way indexing, validation that writes nothing, property
//! updates, inline `edges` on insert, hard-delete cascade, soft-deleted endpoints, persistence,
//! tenant scoping and WAL replication of edges.

use crate::common::fixtures;
use crate::common::graph::{node_schema, G};
use remdb::{EdgeDirection, Error, NewEdge, Tenant, WalOp};
use serde_json::json;

fn rels(edges: &[remdb::Edge], g: &G) -> Vec<String> {
    edges
        .iter()
        .map(|e| format!("{}-{}->{}", g.name_of(&e.src), e.rel, g.name_of(&e.dst)))
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn edges_are_indexed_both_ways_and_filtered_by_relationship() {
    for f in fixtures() {
        let g = G::build(
            f.tenant(),
            &[
                "a>b:knows",
                "a>c:knows",
                "a>c:likes",
                "d>a:knows",
                "b>a:likes",
            ],
            &["lonely"],
        );
        let t = &g.t;
        let out = t.edges(g.id("a"), EdgeDirection::Out, None).unwrap();
        assert_eq!(
            sorted(rels(&out, &g)),
            vec!["a-knows->b", "a-knows->c", "a-likes->c"],
            "{}",
            f.name
        );
        let incoming = t.edges(g.id("a"), EdgeDirection::In, None).unwrap();
        assert_eq!(
            sorted(rels(&incoming, &g)),
            vec!["b-likes->a", "d-knows->a"]
        );
        let both = t
            .edges(g.id("a"), EdgeDirection::Both, Some("knows"))
            .unwrap();
        assert_eq!(
            sorted(rels(&both, &g)),
            vec!["a-knows->b", "a-knows->c", "d-knows->a"]
        );
        // Out edges come first with `both`.
        assert!(both[..2].iter().all(|e| e.src.to_string() == g.id("a")));
        assert!(t
            .edges(g.id("lonely"), EdgeDirection::Both, None)
            .unwrap()
            .is_empty());
        assert!(t
            .edges(g.id("a"), EdgeDirection::Out, Some("hates"))
            .unwrap()
            .is_empty());
        let mut n: Vec<String> = t
            .neighbors(g.id("a"), EdgeDirection::Both, None)
            .unwrap()
            .iter()
            .map(|i| g.name_of(i))
            .collect();
        n.sort();
        assert_eq!(n, vec!["b", "c", "d"], "distinct neighbours");
        let edge = t.edge(g.id("a"), g.id("c"), "likes").unwrap().unwrap();
        assert_eq!(edge.created_at, edge.modified_at);
        assert!(
            t.edge(g.id("c"), g.id("a"), "likes").unwrap().is_none(),
            "edges are directed"
        );
        assert!(matches!(
            t.edges(&uuid::Uuid::now_v7().to_string(), EdgeDirection::Out, None),
            Err(Error::NotFound(_))
        ));
    }
}

#[test]
fn invalid_edges_are_typed_errors_that_write_nothing() {
    for f in fixtures() {
        let g = G::build(f.tenant(), &["a>b"], &[]);
        let t = &g.t;
        let seq = t.wal().seq().unwrap();
        let ghost = uuid::Uuid::now_v7().to_string();
        assert!(
            matches!(t.add_edge(g.id("a"), &ghost, "r", json!({})), Err(Error::NotFound(m)) if m.contains(&ghost))
        );
        assert!(matches!(
            t.add_edge(&ghost, g.id("a"), "r", json!({})),
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            t.add_edge("nope", g.id("a"), "r", json!({})),
            Err(Error::InvalidArgument(_))
        ));
        for bad_rel in ["", "a\0b", "tab\there", &"x".repeat(257)] {
            assert!(
                matches!(
                    t.add_edge(g.id("a"), g.id("b"), bad_rel, json!({})),
                    Err(Error::InvalidArgument(_))
                ),
                "{bad_rel:?}"
            );
        }
        assert!(matches!(
            t.add_edge(g.id("a"), g.id("b"), "r", json!([1])),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            t.add_edge(g.id("a"), g.id("b"), "w", json!({"weight": -1})),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            t.add_edge(g.id("a"), g.id("b"), "w", json!({"weight": "heavy"})),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            t.remove_edge(g.id("b"), g.id("a"), "r"),
            Err(Error::NotFound(_))
        ));
        // A batch with one bad edge writes none of them.
        let (a, b) = (g.id("a").parse().unwrap(), g.id("b").parse().unwrap());
        let batch = vec![
            NewEdge {
                src: a,
                dst: b,
                rel: "ok".into(),
                properties: Default::default(),
            },
            NewEdge {
                src: b,
                dst: ghost.parse().unwrap(),
                rel: "ok".into(),
                properties: Default::default(),
            },
        ];
        assert!(matches!(t.add_edges(batch), Err(Error::NotFound(m)) if m.starts_with("edge 1")));
        assert!(t.edge(g.id("a"), g.id("b"), "ok").unwrap().is_none());
        assert_eq!(
            t.wal().seq().unwrap(),
            seq,
            "{}: nothing was logged",
            f.name
        );
        // Another tenant's entity is not an endpoint.
        let other = f.db.tenant("other").unwrap();
        other.register_schema(node_schema()).unwrap();
        let foreign = other
            .insert("node", json!({"name": "z"}))
            .unwrap()
            .to_string();
        assert!(matches!(
            t.add_edge(g.id("a"), &foreign, "r", json!({})),
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            other.edges(g.id("a"), EdgeDirection::Out, None),
            Err(Error::NotFound(_))
        ));
    }
}

#[test]
fn re_adding_an_edge_replaces_its_properties() {
    for f in fixtures() {
        let g = G::build(f.tenant(), &[], &["a", "b"]);
        let t = &g.t;
        let first = t
            .add_edge(g.id("a"), g.id("b"), "r", json!({"weight": 2, "note": "x"}))
            .unwrap();
        let seq = t.wal().seq().unwrap();
        let same = t
            .add_edge(g.id("a"), g.id("b"), "r", json!({"note": "x", "weight": 2}))
            .unwrap();
        assert_eq!(same, first);
        assert_eq!(
            t.wal().seq().unwrap(),
            seq,
            "identical properties write nothing"
        );
        let second = t
            .add_edge(g.id("a"), g.id("b"), "r", json!({"weight": 0.5}))
            .unwrap();
        assert_eq!(second.created_at, first.created_at);
        assert!(second.modified_at > first.modified_at);
        assert_eq!(second.weight(), Some(0.5));
        assert_eq!(second.properties.get("note"), None, "replaced, not merged");
        let stored = t.edges(g.id("b"), EdgeDirection::In, None).unwrap();
        assert_eq!(
            stored,
            vec![second.clone()],
            "{}: the in index holds the new value too",
            f.name
        );
        assert_eq!(t.wal().seq().unwrap(), seq + 1);
        t.remove_edge(g.id("a"), g.id("b"), "r").unwrap();
        assert!(t
            .edges(g.id("a"), EdgeDirection::Both, None)
            .unwrap()
            .is_empty());
        assert!(t
            .edges(g.id("b"), EdgeDirection::Both, None)
            .unwrap()
            .is_empty());
        let ops: Vec<WalOp> = t
            .wal()
            .entries(0, usize::MAX)
            .unwrap()
            .iter()
            .map(|e| e.op)
            .collect();
        assert_eq!(
            &ops[ops.len() - 3..],
            &[WalOp::Link, WalOp::Link, WalOp::Unlink]
        );
    }
}

#[test]
fn an_edges_array_in_inserted_data_becomes_real_edges() {
    for f in fixtures() {
        let g = G::build(f.tenant(), &[], &["a", "b"]);
        let t = &g.t;
        let c = t
            .insert(
                "node",
                json!({"name": "c", "edges": [
                    {"dst": g.id("a"), "rel_type": "knows", "properties": {"since": 2020}},
                    {"dst": g.id("b"), "rel_type": "likes"}
                ]}),
            )
            .unwrap()
            .to_string();
        let row = t.get(&c).unwrap().unwrap();
        assert!(
            row.get("edges").is_none(),
            "the array is not stored in the row"
        );
        let out = t.edges(&c, EdgeDirection::Out, None).unwrap();
        assert_eq!(out.len(), 2, "{}", f.name);
        let knows = t.edge(&c, g.id("a"), "knows").unwrap().unwrap();
        assert_eq!(knows.properties["since"], 2020);
        // Later items may point at entities inserted earlier in the same batch.
        let ids = t
            .insert_many(
                "node",
                vec![
                    json!({"name": "d"}),
                    json!({"name": "e", "edges": [{"dst": c, "rel": "knows"}]}),
                ],
            )
            .unwrap();
        assert_eq!(
            t.neighbors(&ids[1].to_string(), EdgeDirection::Out, None)
                .unwrap(),
            vec![c.parse::<uuid::Uuid>().unwrap()]
        );
        // A patch's edges are added too.
        t.update(
            g.id("a"),
            json!({"kind": "x", "edges": [{"dst": g.id("b"), "rel_type": "r"}]}),
        )
        .unwrap();
        assert!(t.edge(g.id("a"), g.id("b"), "r").unwrap().is_some());
        assert!(t.get(g.id("a")).unwrap().unwrap().get("edges").is_none());
    }
}

#[test]
fn a_bad_edges_array_writes_nothing() {
    for f in fixtures() {
        let g = G::build(f.tenant(), &[], &["a"]);
        let t = &g.t;
        let seq = t.wal().seq().unwrap();
        let ghost = uuid::Uuid::now_v7().to_string();
        let bad = [
            (json!({"name": "x", "edges": {"dst": g.id("a")}}), "array"),
            (
                json!({"name": "x", "edges": [{"dst": g.id("a"), "rel_type": "r"}, {"rel_type": "r"}]}),
                "edges[1]",
            ),
            (
                json!({"name": "x", "edges": [{"dst": "not-a-uuid", "rel_type": "r"}]}),
                "edges[0]",
            ),
            (
                json!({"name": "x", "edges": [{"dst": g.id("a")}]}),
                "rel_type",
            ),
            (
                json!({"name": "x", "edges": [{"dst": g.id("a"), "rel_type": "r", "weight": 1}]}),
                "unknown field",
            ),
            (
                json!({"name": "x", "edges": [{"dst": g.id("a"), "rel_type": "r", "properties": {"weight": -2}}]}),
                "weight",
            ),
        ];
        for (data, why) in bad {
            match t.insert("node", data.clone()) {
                Err(Error::InvalidArgument(m)) => {
                    assert!(m.contains(why), "{m} should mention {why}")
                }
                other => panic!("{data}: expected InvalidArgument, got {other:?}"),
            }
        }
        let missing = json!({"name": "x", "edges": [{"dst": g.id("a"), "rel_type": "r"}, {"dst": ghost, "rel_type": "r"}]});
        assert!(
            matches!(t.insert("node", missing), Err(Error::NotFound(m)) if m.contains("edges[1]"))
        );
        assert_eq!(t.wal().seq().unwrap(), seq, "{}", f.name);
        assert_eq!(
            t.count("node", true).unwrap(),
            1,
            "the entity was not inserted either"
        );
        assert!(t
            .edges(g.id("a"), EdgeDirection::Both, None)
            .unwrap()
            .is_empty());
    }
}

#[test]
fn hard_delete_removes_edges_in_both_directions() {
    for f in fixtures() {
        let g = G::build(
            f.tenant(),
            &["a>b", "b>c", "c>b:back", "b>b:self", "a>c"],
            &[],
        );
        let t = &g.t;
        t.hard_delete(g.id("b")).unwrap();
        assert_eq!(
            rels(&t.edges(g.id("a"), EdgeDirection::Both, None).unwrap(), &g),
            vec!["a-r->c"],
            "{}",
            f.name
        );
        assert_eq!(
            rels(&t.edges(g.id("c"), EdgeDirection::Both, None).unwrap(), &g),
            vec!["a-r->c"]
        );
        assert!(t.edge(g.id("a"), g.id("b"), "r").unwrap().is_none());
        // The purge is one WAL entry; replaying it removes the edges on a replica as well.
        assert_eq!(
            t.wal().entries(0, usize::MAX).unwrap().last().unwrap().op,
            WalOp::Purge
        );
        // Re-creating the entity does not bring edges back.
        let b = t.insert("node", json!({"name": "b"})).unwrap().to_string();
        assert!(t.edges(&b, EdgeDirection::Both, None).unwrap().is_empty());
    }
}

#[test]
fn soft_deleted_entities_keep_their_edges_but_take_no_new_ones() {
    for f in fixtures() {
        let g = G::build(f.tenant(), &["a>b", "b>c"], &[]);
        let t = &g.t;
        t.delete(g.id("b")).unwrap();
        assert_eq!(
            t.edges(g.id("b"), EdgeDirection::Both, None).unwrap().len(),
            2,
            "{}",
            f.name
        );
        assert!(
            t.neighbors(g.id("a"), EdgeDirection::Out, None)
                .unwrap()
                .is_empty(),
            "neighbours are live"
        );
        assert!(matches!(
            t.add_edge(g.id("c"), g.id("b"), "r", json!({})),
            Err(Error::NotFound(_))
        ));
        t.hard_delete(g.id("b")).unwrap();
        assert!(t
            .edges(g.id("a"), EdgeDirection::Both, None)
            .unwrap()
            .is_empty());
    }
}

#[test]
fn edges_persist_across_reopen() {
    for f in fixtures() {
        let (a, b) = {
            let g = G::build(f.tenant(), &["a>b:knows"], &[]);
            (g.id("a").to_string(), g.id("b").to_string())
        };
        let f = f.reopen();
        let t = f.tenant();
        assert_eq!(
            t.edges(&b, EdgeDirection::In, None).unwrap()[0]
                .src
                .to_string(),
            a,
            "{}",
            f.name
        );
    }
}

fn edge_state(t: &Tenant, ids: &[String]) -> Vec<remdb::Edge> {
    ids.iter()
        .flat_map(|id| t.edges(id, EdgeDirection::Out, None).unwrap_or_default())
        .collect()
}

#[test]
fn edges_replicate_through_the_wal() {
    for f in fixtures() {
        let g = G::build(f.tenant(), &["a>b", "b>c", "c>a:loop", "a>d"], &[]);
        let t = &g.t;
        t.add_edge(g.id("a"), g.id("b"), "r", json!({"weight": 3}))
            .unwrap();
        t.remove_edge(g.id("a"), g.id("d"), "r").unwrap();
        t.hard_delete(g.id("c")).unwrap();
        let ids: Vec<String> = g.ids.values().cloned().collect();
        let entries = t.wal().entries(0, usize::MAX).unwrap();
        let link = entries.iter().find(|e| e.op == WalOp::Link).unwrap();
        assert_eq!(link.table, "node");
        assert_eq!(link.id.as_deref(), Some(g.id("a")));
        assert_eq!(link.data.as_ref().unwrap()["rel"], "r");

        let replica = f.db.tenant("replica").unwrap();
        let report = replica.wal().apply(&entries).unwrap();
        assert_eq!(report.applied as usize, entries.len(), "{}", f.name);
        assert_eq!(edge_state(&replica, &ids), edge_state(t, &ids));
        assert_eq!(
            replica
                .edge(g.id("a"), g.id("b"), "r")
                .unwrap()
                .unwrap()
                .weight(),
            Some(3.0)
        );
        assert!(
            replica
                .edges(g.id("b"), EdgeDirection::Out, None)
                .unwrap()
                .is_empty(),
            "purge cascaded on the replica"
        );
        // Idempotent: applying everything again skips it all.
        let again = replica.wal().apply(&entries).unwrap();
        assert_eq!((again.applied, again.skipped as usize), (0, entries.len()));
        // A divergent link at a known seq is refused.
        let mut forged = link.clone();
        forged.data.as_mut().unwrap()["properties"] = json!({"weight": 9});
        assert!(matches!(replica.wal().apply(&[forged]), Err(Error::Wal(_))));
    }
}

#[test]
fn a_purge_in_the_same_batch_removes_edges_staged_before_it() {
    for f in fixtures() {
        let g = G::build(f.tenant(), &[], &["a", "b"]);
        let t = &g.t;
        let base = t.wal().seq().unwrap();
        t.add_edge(g.id("a"), g.id("b"), "r", json!({})).unwrap();
        t.add_edge(g.id("b"), g.id("a"), "s", json!({})).unwrap();
        t.hard_delete(g.id("b")).unwrap();
        let entries = t.wal().entries(0, usize::MAX).unwrap();
        // The replica applies the schema, the nodes, both links and the purge in ONE batch: the
        // edges exist only in that batch when the purge runs.
        let replica = f.db.tenant("replica").unwrap();
        replica.wal().apply(&entries).unwrap();
        assert_eq!(replica.wal().seq().unwrap(), base + 3);
        assert!(
            replica
                .edges(g.id("a"), EdgeDirection::Both, None)
                .unwrap()
                .is_empty(),
            "{}",
            f.name
        );
        assert_eq!(replica.count("node", true).unwrap(), 1);
    }
}
