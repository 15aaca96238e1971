//! Graph algorithms over the edges of one tenant: traversal (BFS/DFS), neighbours at a depth,
//! shortest paths (BFS, Dijkstra on `weight`), all paths, path counts and cycle detection.
//!
//! Layered above [`store`](crate::store): every operation reads from one consistent KV snapshot
//! (a concurrent writer never shows half of its batch), walks iteratively (a 100k-node chain
//! cannot overflow the stack), bounds what it returns ([`MAX_OUTPUT_EDGES`], path limits) and
//! returns real paths — the entity ids, the stored [`Edge`]s taken (with their true direction
//! and properties) and, unless turned off, the rows of every entity on them.
//!
//! Soft-deleted entities are skipped (neither reached nor passed through) unless
//! `include_deleted` is set; a start or end that is not live is `NotFound`.
//!
//! ```
//! use remdb::{Database, Strategy, TraverseOptions, EdgeDirection};
//! use serde_json::json;
//!
//! let t = Database::memory().tenant("t")?;
//! t.init()?;
//! let id = |n: &str| t.insert("agents", json!({"name": n})).unwrap().to_string();
//! let (a, b, c) = (id("a"), id("b"), id("c"));
//! t.add_edge(&a, &b, "calls", json!({}))?;
//! t.add_edge(&b, &c, "calls", json!({}))?;
//! let found = t.traverse(&a, &TraverseOptions { max_depth: 2, ..Default::default() })?;
//! assert_eq!(found.paths.len(), 2); // a→b, a→b→c
//! assert_eq!(found.paths[1].depth, 2);
//! assert_eq!(found.rows[&found.paths[1].nodes[2]]["name"], "c");
//! // Incoming edges are indexed too: from c against the arrows.
//! let back = t.traverse(&c, &TraverseOptions { direction: EdgeDirection::In, max_depth: 5, ..Default::default() })?;
//! assert_eq!(back.ends().len(), 2);
//! # let _ = Strategy::Dfs;
//! # Ok::<(), remdb::Error>(())
//! ```

mod cycles;
mod paths;
mod traverse;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::budget::{value_bytes, Budget, Meter};
use crate::error::{Error, Result};
use crate::store::edges::{decode_weight, rel_string, GraphSnapshot};
use crate::store::{check_rel, parse_id, Edge, EdgeDirection, Row, TenantStore};

/// Most edges all returned paths may hold together; past it a result is cut short and marked
/// `truncated` (memory stays bounded even for deep DFS over long chains).
pub const MAX_OUTPUT_EDGES: usize = 1_000_000;

/// Default `max_depth` of [`TraverseOptions`].
pub const DEFAULT_TRAVERSE_DEPTH: usize = 3;
/// Default path limit of traversals, [`Tenant::all_paths`](crate::Tenant::all_paths) and cycle searches.
pub const DEFAULT_PATH_LIMIT: usize = 10_000;
/// Default `max_depth` of [`Tenant::all_paths`](crate::Tenant::all_paths), [`Tenant::count_paths`](crate::Tenant::count_paths) and
/// [`Tenant::cycles_from`](crate::Tenant::cycles_from).
pub const DEFAULT_PATHS_DEPTH: usize = 6;

/// How [`Tenant::traverse`](crate::Tenant::traverse) walks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Breadth first: each entity is reached once, by a shortest path (the default).
    #[default]
    Bfs,
    /// Depth first with backtracking: every simple path, so an entity may end several paths.
    Dfs,
}

impl std::str::FromStr for Strategy {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "bfs" => Ok(Strategy::Bfs),
            "dfs" => Ok(Strategy::Dfs),
            other => Err(Error::InvalidArgument(format!(
                "unknown strategy `{other}`; choose bfs or dfs"
            ))),
        }
    }
}

/// Options of [`Tenant::traverse`](crate::Tenant::traverse) and [`Tenant::neighbors_at_depth`](crate::Tenant::neighbors_at_depth).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraverseOptions {
    /// BFS (default) or DFS.
    pub strategy: Strategy,
    /// Most edges on a path (default [`DEFAULT_TRAVERSE_DEPTH`]); 0 returns no paths.
    pub max_depth: usize,
    /// Which edges to follow (default out).
    pub direction: EdgeDirection,
    /// Only these relationships (all when empty).
    pub rel_types: Vec<String>,
    /// Stop at this entity: BFS returns one shortest path to it, DFS every simple path to it
    /// (none when it is not reachable within `max_depth`).
    pub target: Option<String>,
    /// Walk through soft-deleted entities too.
    pub include_deleted: bool,
    /// Return the rows of the entities on the paths (default true).
    pub include_rows: bool,
    /// Most paths returned (default [`DEFAULT_PATH_LIMIT`]); more sets `truncated`.
    pub limit: usize,
    /// The work the walk may do: edges followed (`max_rows_examined`), memory for its visited
    /// sets and result, time. Unset settings inherit the database's; running out is a `LIMIT`
    /// error.
    pub budget: Budget,
}

impl Default for TraverseOptions {
    fn default() -> Self {
        TraverseOptions {
            strategy: Strategy::Bfs,
            max_depth: DEFAULT_TRAVERSE_DEPTH,
            direction: EdgeDirection::Out,
            rel_types: Vec::new(),
            target: None,
            include_deleted: false,
            include_rows: true,
            limit: DEFAULT_PATH_LIMIT,
            budget: Budget::default(),
        }
    }
}

/// Options of the path and cycle searches ([`Tenant::shortest_path`](crate::Tenant::shortest_path), [`Tenant::all_paths`](crate::Tenant::all_paths),
/// [`Tenant::count_paths`](crate::Tenant::count_paths), [`Tenant::cycles_from`](crate::Tenant::cycles_from), [`Tenant::find_cycles`](crate::Tenant::find_cycles)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathOptions {
    /// Which edges to follow (default out).
    pub direction: EdgeDirection,
    /// Only these relationships (all when empty).
    pub rel_types: Vec<String>,
    /// Most edges on a path or cycle. `None`: unbounded for `shortest_path` and `find_cycles`,
    /// [`DEFAULT_PATHS_DEPTH`] for `all_paths`, `count_paths` and `cycles_from`. Weighted
    /// shortest paths ignore it.
    pub max_depth: Option<usize>,
    /// Most paths or cycles returned (counted, for `count_paths`). `None`:
    /// [`DEFAULT_PATH_LIMIT`], or no limit for `count_paths`.
    pub limit: Option<usize>,
    /// `shortest_path` only: minimise the sum of the edges' numeric `weight` property (1 when
    /// absent) with Dijkstra instead of the number of edges.
    pub weighted: bool,
    /// Walk through soft-deleted entities too.
    pub include_deleted: bool,
    /// Return the rows of the entities on the paths (default true).
    pub include_rows: bool,
    /// The work the search may do: edges followed (`max_rows_examined`), memory for its
    /// visited sets and result, time. Unset settings inherit the database's; running out is a
    /// `LIMIT` error (a path count that would take longer than the budget fails instead of
    /// running on).
    pub budget: Budget,
}

impl Default for PathOptions {
    fn default() -> Self {
        PathOptions {
            direction: EdgeDirection::Out,
            rel_types: Vec::new(),
            max_depth: None,
            limit: None,
            weighted: false,
            include_deleted: false,
            include_rows: true,
            budget: Budget::default(),
        }
    }
}

/// One path: `nodes[0] -edges[0]- nodes[1] ... nodes[depth]`. Each edge is the stored edge
/// (its `src`/`dst` show which way it points, which differs from the walk for incoming edges).
/// A cycle starts and ends with the same entity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GraphPath {
    /// Entity ids along the path, `depth + 1` of them.
    pub nodes: Vec<Uuid>,
    /// The edges taken, `depth` of them.
    pub edges: Vec<Edge>,
    /// Number of edges.
    pub depth: usize,
    /// Sum of the edge weights (weighted shortest paths only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
}

impl GraphPath {
    /// The last entity of the path.
    pub fn end(&self) -> Uuid {
        self.nodes.last().copied().unwrap_or_default()
    }
}

/// What a graph operation found: paths, and the rows of every entity on them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Traversal {
    /// The paths, in the order the operation documents.
    pub paths: Vec<GraphPath>,
    /// Row of each entity on the paths (and of the start), by id; empty when rows were not
    /// asked for.
    pub rows: BTreeMap<Uuid, Row>,
    /// True when a limit (paths, [`MAX_OUTPUT_EDGES`]) cut the result short.
    pub truncated: bool,
}

impl Traversal {
    /// The last entity of each path, in path order.
    pub fn ends(&self) -> Vec<Uuid> {
        self.paths.iter().map(GraphPath::end).collect()
    }

    /// The row of entity `id`, when rows were returned.
    pub fn row(&self, id: &Uuid) -> Option<&Row> {
        self.rows.get(id)
    }
}

// ---------------------------------------------------------------------------------------------
// Internals shared by the algorithms.

/// A fast hasher for random ids (FxHash-style; ids are not attacker-chosen hash-flood keys
/// within one tenant's own graph walk).
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

pub(crate) type IdMap<V> = HashMap<Uuid, V, BuildHasherDefault<IdHasher>>;
pub(crate) type IdSet = HashSet<Uuid, BuildHasherDefault<IdHasher>>;

/// One edge followed during a walk, from `from` to `to`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Hop {
    pub(crate) from: Uuid,
    pub(crate) to: Uuid,
    /// Interned relationship (see [`Walker::rel_name`]).
    pub(crate) rel: u32,
    /// Followed from its source (`from` is the edge's `src`).
    pub(crate) out: bool,
    /// The edge's `weight`, when it has one.
    pub(crate) weight: Option<f64>,
}

impl Hop {
    /// `(src, rel, dst)` of the stored edge.
    pub(crate) fn edge_key(&self) -> (Uuid, u32, Uuid) {
        if self.out {
            (self.from, self.rel, self.to)
        } else {
            (self.to, self.rel, self.from)
        }
    }

    /// The same edge walked the other way.
    pub(crate) fn reversed(self) -> Hop {
        Hop {
            from: self.to,
            to: self.from,
            out: !self.out,
            ..self
        }
    }
}

/// Estimated bytes of one entry of a visited set or map (id, value, hash table overhead).
pub(crate) const VISITED_ENTRY_BYTES: u64 = 64;

/// Reads neighbours for the algorithms: one snapshot, relationship interning, a cache of which
/// entities are live, and the meter every walk counts its work on.
pub(crate) struct Walker<'t> {
    g: GraphSnapshot<'t>,
    meter: &'t Meter,
    rels: Vec<String>,
    include_deleted: bool,
    rel_names: Vec<String>,
    rel_ids: HashMap<Vec<u8>, u32>,
    live: IdMap<bool>,
}

impl<'t> Walker<'t> {
    pub(crate) fn new(
        tenant: &'t TenantStore,
        rel_types: &[String],
        include_deleted: bool,
        meter: &'t Meter,
    ) -> Result<Self> {
        for rel in rel_types {
            check_rel(rel)?;
        }
        let mut rels = rel_types.to_vec();
        rels.sort();
        rels.dedup();
        Ok(Walker {
            g: tenant.graph_snapshot()?,
            meter,
            rels,
            include_deleted,
            rel_names: Vec::new(),
            rel_ids: HashMap::new(),
            live: IdMap::default(),
        })
    }

    /// Whether the walk may reach `id` (it exists and is live, or deleted ones are included).
    pub(crate) fn is_visible(&mut self, id: &Uuid) -> Result<bool> {
        if let Some(&v) = self.live.get(id) {
            return Ok(v);
        }
        let v = match self.g.node(id)? {
            Some(state) => self.include_deleted || !state.deleted,
            None => false,
        };
        self.meter.hold(VISITED_ENTRY_BYTES)?;
        self.live.insert(*id, v);
        Ok(v)
    }

    /// Parses `id` and checks it names a visible entity (`NotFound` otherwise).
    pub(crate) fn endpoint(&mut self, id: &str) -> Result<Uuid> {
        let uuid = parse_id(id)?;
        if !self.is_visible(&uuid)? {
            return Err(Error::NotFound(format!("no entity with id {uuid}")));
        }
        Ok(uuid)
    }

    /// The meter the walk counts its work on.
    pub(crate) fn meter(&self) -> &'t Meter {
        self.meter
    }

    /// Appends to `out` the hops from `node` in `direction` to visible entities. Every edge
    /// read counts against the budget's `max_rows_examined` (an entity without edges counts
    /// one), so a walk that would run on for too long stops with a `LIMIT` error.
    pub(crate) fn hops(
        &mut self,
        node: Uuid,
        direction: EdgeDirection,
        out: &mut Vec<Hop>,
    ) -> Result<()> {
        let first = out.len();
        let Walker {
            g,
            rels,
            rel_names,
            rel_ids,
            ..
        } = self;
        g.for_each_edge(&node, direction, rels, |step| {
            let rel = match rel_ids.get(step.rel) {
                Some(&id) => id,
                None => {
                    let id = u32::try_from(rel_names.len())
                        .map_err(|_| Error::storage("too many relationships"))?;
                    rel_names.push(rel_string(step.rel)?);
                    rel_ids.insert(step.rel.to_vec(), id);
                    id
                }
            };
            out.push(Hop {
                from: node,
                to: step.other,
                rel,
                out: step.out,
                weight: decode_weight(step.value)?,
            });
            Ok(true)
        })?;
        self.meter.examine((out.len() - first).max(1) as u64)?;
        if !self.include_deleted {
            let mut keep = first;
            for i in first..out.len() {
                let to = out[i].to;
                if self.is_visible(&to)? {
                    out[keep] = out[i];
                    keep += 1;
                }
            }
            out.truncate(keep);
        }
        Ok(())
    }

    /// The interned relationship name.
    pub(crate) fn rel_name(&self, rel: u32) -> &str {
        self.rel_names.get(rel as usize).map_or("", String::as_str)
    }

    pub(crate) fn snapshot(&self) -> &GraphSnapshot<'t> {
        &self.g
    }
}

/// Turns walks (start + hops) into [`GraphPath`]s with stored edges and rows, within
/// [`MAX_OUTPUT_EDGES`].
pub(crate) struct Collector {
    include_rows: bool,
    limit: usize,
    edges: HashMap<(Uuid, u32, Uuid), Edge>,
    nodes: IdSet,
    out: Traversal,
    output_edges: usize,
}

impl Collector {
    pub(crate) fn new(include_rows: bool, limit: usize) -> Self {
        Collector {
            include_rows,
            limit,
            edges: HashMap::new(),
            nodes: IdSet::default(),
            out: Traversal::default(),
            output_edges: 0,
        }
    }

    /// Whether another path can still be added.
    pub(crate) fn full(&self) -> bool {
        self.out.truncated || self.out.paths.len() >= self.limit
    }

    /// Notes an entity whose row belongs in the result (e.g. the start).
    pub(crate) fn note(&mut self, id: Uuid) {
        self.nodes.insert(id);
    }

    /// Adds the path `start, hops...`; returns `false` (and marks the result truncated) when a
    /// limit is reached instead.
    pub(crate) fn push(
        &mut self,
        w: &Walker<'_>,
        start: Uuid,
        hops: &[Hop],
        cost: Option<f64>,
    ) -> Result<bool> {
        if self.full() || self.output_edges + hops.len() > MAX_OUTPUT_EDGES {
            self.out.truncated = true;
            return Ok(false);
        }
        self.output_edges += hops.len();
        let mut held = 64 + 16 * (hops.len() as u64 + 1);
        let mut nodes = Vec::with_capacity(hops.len() + 1);
        nodes.push(start);
        let mut edges = Vec::with_capacity(hops.len());
        for hop in hops {
            nodes.push(hop.to);
            let key = hop.edge_key();
            let edge = match self.edges.get(&key) {
                Some(e) => e.clone(),
                None => {
                    let (src, rel, dst) = key;
                    let e = w
                        .snapshot()
                        .edge(&src, w.rel_name(rel), &dst)?
                        .ok_or_else(|| {
                            Error::storage(format!(
                                "edge {src} -[{}]-> {dst} vanished from its snapshot",
                                w.rel_name(rel)
                            ))
                        })?;
                    self.edges.insert(key, e.clone());
                    e
                }
            };
            held += edge_bytes(&edge);
            edges.push(edge);
        }
        w.meter().hold(held)?;
        self.nodes.extend(nodes.iter().copied());
        self.out.paths.push(GraphPath {
            depth: hops.len(),
            nodes,
            edges,
            cost,
        });
        Ok(true)
    }

    /// The result, with the rows of every entity seen.
    pub(crate) fn finish(mut self, w: &Walker<'_>) -> Result<Traversal> {
        if self.include_rows {
            for id in &self.nodes {
                if let Some(row) = w.snapshot().row(id)? {
                    w.meter().hold(
                        row.iter()
                            .fold(64, |sum, (k, v)| sum + k.len() as u64 + value_bytes(v)),
                    )?;
                    self.out.rows.insert(*id, row);
                }
            }
        }
        Ok(self.out)
    }
}

/// Estimated bytes of one edge in a result.
fn edge_bytes(edge: &Edge) -> u64 {
    let properties = edge
        .properties
        .iter()
        .fold(0, |sum, (k, v)| sum + 32 + k.len() as u64 + value_bytes(v));
    std::mem::size_of::<Edge>() as u64
        + edge.rel.len() as u64
        + edge.created_at.len() as u64
        + edge.modified_at.len() as u64
        + properties
}
