//! Edges: `(src, rel, dst)` with JSON properties (an optional numeric `weight`) and timestamps.
//!
//! Every edge is stored twice in the tenant's prefix — under its source (`E<src><rel>\0<dst>`)
//! and under its destination (`F<dst><rel>\0<src>`) — with the same value, so out and in lookups
//! (optionally by relationship) are prefix scans. Adding, replacing and removing edges goes
//! through the one write path ([`WriteTx`]) and is logged as `link` / `unlink` WAL entries; a
//! hard delete of an entity removes its edges in both directions in the same batch.
//!
//! Edge value layout: one header byte (`0x10`, flag `0x01` when the properties hold a numeric
//! `weight`), then that weight as a big-endian `f64` when flagged, then the JSON object
//! `{created_at, modified_at, properties}`. The weight is duplicated up front so weighted path
//! searches never parse JSON.

use std::collections::HashSet;
use std::ops::Bound;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::entity::{bump, format_ts, parse_id, Row};
use super::keys::{trailing_id, Keys};
use super::write::WriteTx;
use super::{json_type, TenantStore};
use crate::error::{Error, Result};
use crate::kv::{Direction, KeyRange, KvSnapshot};

/// Longest relationship name, in bytes.
pub const MAX_REL_LEN: usize = 256;

/// Unwanted edges a relationship-filtered scan skips before it switches to one scan per
/// relationship.
const MAX_SKIPPED: usize = 32;

const EDGE_V1: u8 = 0x10;
const EDGE_WEIGHTED: u8 = 0x01;

/// One stored edge: `src -rel-> dst` with its properties.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Edge {
    /// Source entity id.
    pub src: Uuid,
    /// Relationship name (1–256 bytes, no control characters).
    pub rel: String,
    /// Destination entity id.
    pub dst: Uuid,
    /// Free JSON properties; a numeric `weight` is what weighted path searches add up.
    #[serde(default)]
    pub properties: Row,
    /// When the edge was first added (RFC 3339 UTC).
    pub created_at: String,
    /// When its properties last changed.
    pub modified_at: String,
}

impl Edge {
    /// The numeric `weight` property, if any.
    pub fn weight(&self) -> Option<f64> {
        self.properties.get("weight").and_then(Value::as_f64)
    }

    /// The entity at the other end, seen from `id`.
    pub fn other(&self, id: &Uuid) -> Uuid {
        if self.src == *id {
            self.dst
        } else {
            self.src
        }
    }
}

/// Which edges of an entity to follow: those leaving it, those arriving at it, or both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EdgeDirection {
    /// Edges whose source is the entity (the default).
    #[default]
    Out,
    /// Edges whose destination is the entity.
    In,
    /// Both: out edges first, then in edges.
    Both,
}

impl EdgeDirection {
    /// `out`, `in` or `both`.
    pub fn as_str(self) -> &'static str {
        match self {
            EdgeDirection::Out => "out",
            EdgeDirection::In => "in",
            EdgeDirection::Both => "both",
        }
    }

    /// The direction that walks the same edges backwards (`in` ↔ `out`; `both` stays).
    pub fn reverse(self) -> Self {
        match self {
            EdgeDirection::Out => EdgeDirection::In,
            EdgeDirection::In => EdgeDirection::Out,
            EdgeDirection::Both => EdgeDirection::Both,
        }
    }

    /// Whether out edges (`true`) and in edges (`false`) are followed, in that order.
    pub(crate) fn sides(self) -> &'static [bool] {
        match self {
            EdgeDirection::Out => &[true],
            EdgeDirection::In => &[false],
            EdgeDirection::Both => &[true, false],
        }
    }
}

impl FromStr for EdgeDirection {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "out" | "outgoing" => Ok(EdgeDirection::Out),
            "in" | "incoming" => Ok(EdgeDirection::In),
            "both" | "any" => Ok(EdgeDirection::Both),
            other => Err(Error::InvalidArgument(format!(
                "unknown direction `{other}`; choose in, out or both"
            ))),
        }
    }
}

/// An edge to add with [`Tenant::add_edges`](crate::Tenant::add_edges).
#[derive(Debug, Clone, PartialEq)]
pub struct NewEdge {
    /// Source entity id.
    pub src: Uuid,
    /// Destination entity id.
    pub dst: Uuid,
    /// Relationship name.
    pub rel: String,
    /// Properties (may be empty).
    pub properties: Row,
}

/// The identity of an edge.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct EdgeKey {
    pub(crate) src: Uuid,
    pub(crate) rel: String,
    pub(crate) dst: Uuid,
}

#[derive(Deserialize)]
struct EdgeKeyJson {
    src: String,
    rel: String,
    dst: String,
}

impl EdgeKey {
    /// Reads `{src, rel, dst}` (extra fields ignored), as logged by `link`/`unlink` entries.
    pub(crate) fn from_json(data: &Value) -> Result<Self> {
        let raw: EdgeKeyJson = serde_json::from_value(data.clone())
            .map_err(|e| Error::InvalidArgument(format!("an edge needs src, rel and dst: {e}")))?;
        check_rel(&raw.rel)?;
        Ok(EdgeKey {
            src: parse_id(&raw.src)?,
            rel: raw.rel,
            dst: parse_id(&raw.dst)?,
        })
    }
}

impl Edge {
    /// Reads a whole edge as logged by a `link` entry.
    pub(crate) fn from_json(data: &Value) -> Result<Self> {
        let edge: Edge = serde_json::from_value(data.clone())
            .map_err(|e| Error::InvalidArgument(format!("malformed edge: {e}")))?;
        check_rel(&edge.rel)?;
        check_properties(&edge.properties)?;
        Ok(edge)
    }

    pub(crate) fn key(&self) -> EdgeKey {
        EdgeKey {
            src: self.src,
            rel: self.rel.clone(),
            dst: self.dst,
        }
    }
}

/// Checks a relationship name: 1–256 bytes, no control characters (so never `\0`).
pub fn check_rel(rel: &str) -> Result<()> {
    if rel.is_empty() || rel.len() > MAX_REL_LEN || rel.chars().any(char::is_control) {
        return Err(Error::InvalidArgument(format!(
            "relationship name must be 1–{MAX_REL_LEN} bytes without control characters, got {rel:?}"
        )));
    }
    Ok(())
}

/// Checks edge properties: nested at most [`MAX_DEPTH`](super::MAX_DEPTH) levels (counting the
/// object); a `weight`, when present, is a non-negative number.
fn check_properties(props: &Row) -> Result<()> {
    super::check_object_depth(props, "edge properties")?;
    match props.get("weight") {
        None => Ok(()),
        Some(Value::Number(n)) if n.as_f64().is_some_and(|w| w >= 0.0) => Ok(()),
        Some(other) => Err(Error::InvalidArgument(format!(
            "edge property `weight` must be a non-negative number, got {other}"
        ))),
    }
}

/// Properties given as JSON: an object, or null/absent for none.
pub(crate) fn properties_from(value: Value) -> Result<Row> {
    let props = match value {
        Value::Null => Map::new(),
        Value::Object(map) => map,
        other => {
            return Err(Error::InvalidArgument(format!(
                "edge properties must be an object, got {}",
                json_type(&other)
            )))
        }
    };
    check_properties(&props)?;
    Ok(props)
}

/// Serializes an edge value (see the module docs).
pub(crate) fn encode_value(edge: &Edge) -> Result<Vec<u8>> {
    #[derive(Serialize)]
    struct Stored<'a> {
        created_at: &'a str,
        modified_at: &'a str,
        properties: &'a Row,
    }
    let mut out = Vec::with_capacity(64);
    match edge.weight() {
        Some(w) => {
            out.push(EDGE_V1 | EDGE_WEIGHTED);
            out.extend_from_slice(&w.to_be_bytes());
        }
        None => out.push(EDGE_V1),
    }
    let stored = Stored {
        created_at: &edge.created_at,
        modified_at: &edge.modified_at,
        properties: &edge.properties,
    };
    serde_json::to_writer(&mut out, &stored).map_err(Error::storage)?;
    Ok(out)
}

/// The `weight` of a stored edge value, without parsing its JSON.
pub(crate) fn decode_weight(value: &[u8]) -> Result<Option<f64>> {
    match value.split_first() {
        Some((&h, rest)) if h & 0xf0 == EDGE_V1 => {
            if h & EDGE_WEIGHTED == 0 {
                return Ok(None);
            }
            let bytes: [u8; 8] = rest
                .get(..8)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(corrupt)?;
            Ok(Some(f64::from_be_bytes(bytes)))
        }
        _ => Err(corrupt()),
    }
}

/// Rebuilds an edge from its identity and stored value.
pub(crate) fn decode_edge(src: Uuid, rel: String, dst: Uuid, value: &[u8]) -> Result<Edge> {
    #[derive(Deserialize)]
    struct Stored {
        created_at: String,
        modified_at: String,
        #[serde(default)]
        properties: Row,
    }
    let json = match value.split_first() {
        Some((&h, rest)) if h & 0xf0 == EDGE_V1 => {
            if h & EDGE_WEIGHTED != 0 {
                rest.get(8..).ok_or_else(corrupt)?
            } else {
                rest
            }
        }
        _ => return Err(corrupt()),
    };
    let stored: Stored =
        serde_json::from_slice(json).map_err(|e| Error::storage(format!("corrupt edge: {e}")))?;
    Ok(Edge {
        src,
        rel,
        dst,
        properties: stored.properties,
        created_at: stored.created_at,
        modified_at: stored.modified_at,
    })
}

fn corrupt() -> Error {
    Error::storage("corrupt edge value")
}

/// Splits an edge key (with `rel_start` from [`Keys::edge_rel_start`]) into (rel bytes, other id).
pub(crate) fn split_edge_key(key: &[u8], rel_start: usize) -> Result<(&[u8], Uuid)> {
    let other = trailing_id(key)?;
    let rel = key
        .get(rel_start..key.len() - 17)
        .ok_or_else(|| Error::storage("corrupt edge key"))?;
    Ok((rel, other))
}

/// One edge as seen while walking from one of its endpoints.
#[derive(Debug, Clone)]
pub(crate) struct Step<'v> {
    /// The endpoint reached by following the edge.
    pub(crate) other: Uuid,
    /// Relationship name bytes.
    pub(crate) rel: &'v [u8],
    /// `true` when followed from its source (an out edge).
    pub(crate) out: bool,
    /// The stored value.
    pub(crate) value: &'v [u8],
}

/// What a graph read knows about an entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NodeState {
    /// Soft-deleted.
    pub(crate) deleted: bool,
}

/// Every graph read of one operation, from one consistent KV snapshot.
pub(crate) struct GraphSnapshot<'t> {
    keys: &'t Keys,
    snap: Box<dyn KvSnapshot + 't>,
}

impl<'t> GraphSnapshot<'t> {
    /// Calls `f` for each edge of `node` in `direction` (out edges first, in (rel, other id)
    /// order), restricted to the relationships in `rels` (sorted, distinct) when it is not
    /// empty. `f` returns
    /// `false` to stop; the result says whether the walk ran to the end.
    pub(crate) fn for_each_edge(
        &self,
        node: &Uuid,
        direction: EdgeDirection,
        rels: &[String],
        mut f: impl FnMut(Step<'_>) -> Result<bool>,
    ) -> Result<bool> {
        for &out in direction.sides() {
            let range_of =
                |rel: Option<&str>| KeyRange::prefix(&self.keys.edge_prefix(out, node, rel));
            match rels {
                [] => {
                    if !self.scan_edges(&range_of(None), out, &mut f)? {
                        return Ok(false);
                    }
                }
                [rel] => {
                    if !self.scan_edges(&range_of(Some(rel)), out, &mut f)? {
                        return Ok(false);
                    }
                }
                [first, .., last] => {
                    // One scan spanning the first to the last wanted relationship (a scan costs
                    // more than the few edges of a typical entity), skipping those in between.
                    // Past MAX_SKIPPED unwanted edges (a hub with other relationships in the
                    // span), the remaining relationships get one prefix scan each.
                    let start = self.keys.edge_prefix(out, node, Some(first));
                    let end =
                        crate::kv::prefix_successor(&self.keys.edge_prefix(out, node, Some(last)));
                    let range = KeyRange {
                        start: Bound::Included(start),
                        end: end.map_or(Bound::Unbounded, Bound::Excluded),
                    };
                    let mut skipped = 0;
                    let mut rest = None;
                    let mut stopped = false;
                    let rel_start = self.keys.edge_rel_start();
                    self.snap
                        .visit(&range, Direction::Forward, &mut |key, value| {
                            let (rel, other) = split_edge_key(key, rel_start)?;
                            match rels.binary_search_by(|r| r.as_bytes().cmp(rel)) {
                                Ok(_) => {
                                    stopped = !f(Step {
                                        other,
                                        rel,
                                        out,
                                        value,
                                    })?;
                                    Ok(!stopped)
                                }
                                Err(pos) => {
                                    skipped += 1;
                                    if skipped > MAX_SKIPPED {
                                        // rels[..pos] sort before this edge's relationship: done.
                                        rest = Some(pos);
                                        return Ok(false);
                                    }
                                    Ok(true)
                                }
                            }
                        })?;
                    if stopped {
                        return Ok(false);
                    }
                    for rel in rest.map_or(&[][..], |pos| &rels[pos..]) {
                        if !self.scan_edges(&range_of(Some(rel)), out, &mut f)? {
                            return Ok(false);
                        }
                    }
                }
            }
        }
        Ok(true)
    }

    /// Calls `f` for each edge in `range` (edge keys stored under one entity, `out` side or
    /// not); `false` when `f` stopped the walk.
    fn scan_edges(
        &self,
        range: &KeyRange,
        out: bool,
        f: &mut impl FnMut(Step<'_>) -> Result<bool>,
    ) -> Result<bool> {
        let rel_start = self.keys.edge_rel_start();
        let mut going = true;
        self.snap
            .visit(range, Direction::Forward, &mut |key, value| {
                let (rel, other) = split_edge_key(key, rel_start)?;
                going = f(Step {
                    other,
                    rel,
                    out,
                    value,
                })?;
                Ok(going)
            })?;
        Ok(going)
    }

    /// The KV snapshot the reads come from.
    #[cfg(any(feature = "server", test))]
    pub(crate) fn kv(&self) -> &dyn KvSnapshot {
        &*self.snap
    }

    /// Whether entity `id` exists, and whether it is soft-deleted.
    pub(crate) fn node(&self, id: &Uuid) -> Result<Option<NodeState>> {
        let Some(table) = self.snap.get(&self.keys.dir(id))? else {
            return Ok(None);
        };
        let table =
            std::str::from_utf8(&table).map_err(|_| Error::storage("corrupt directory entry"))?;
        match self.snap.get(&self.keys.row(table, id))? {
            Some(value) => Ok(Some(NodeState {
                deleted: super::row_format::decode_row(&value)?.deleted,
            })),
            None => Ok(None),
        }
    }

    /// The row of entity `id` (soft-deleted too).
    pub(crate) fn row(&self, id: &Uuid) -> Result<Option<Row>> {
        let Some(table) = self.snap.get(&self.keys.dir(id))? else {
            return Ok(None);
        };
        let table =
            String::from_utf8(table).map_err(|_| Error::storage("corrupt directory entry"))?;
        Ok(super::read_row(&*self.snap, self.keys, &table, id)?.map(|(row, _)| row))
    }

    /// The stored edge `src -rel-> dst`.
    pub(crate) fn edge(&self, src: &Uuid, rel: &str, dst: &Uuid) -> Result<Option<Edge>> {
        match self.snap.get(&self.keys.edge(true, src, rel, dst))? {
            Some(value) => decode_edge(*src, rel.to_string(), *dst, &value).map(Some),
            None => Ok(None),
        }
    }

    /// Ids of the rows of `table` in id order (soft-deleted ones only when `include_deleted`).
    pub(crate) fn table_ids(&self, table: &str, include_deleted: bool) -> Result<Vec<Uuid>> {
        let mut ids = Vec::new();
        for pair in self.snap.scan(&self.keys.rows(table), Direction::Forward)? {
            let (key, value) = pair?;
            if include_deleted || !super::row_format::decode_row(&value)?.deleted {
                ids.push(trailing_id(&key)?);
            }
        }
        Ok(ids)
    }
}

impl TenantStore {
    /// A consistent read view for graph algorithms.
    pub(crate) fn graph_snapshot(&self) -> Result<GraphSnapshot<'_>> {
        Ok(GraphSnapshot {
            keys: &self.keys,
            snap: self.snapshot()?,
        })
    }

    /// Adds the edge `src -rel-> dst` with `properties` (a JSON object, or null for none) and
    /// returns it. Both entities must exist, live, in this tenant. Adding an existing edge
    /// replaces its properties (keeping `created_at`); adding it with the same properties
    /// writes nothing.
    ///
    /// ```
    /// # use remdb::Database; use serde_json::json;
    /// let t = Database::memory().tenant("t")?;
    /// t.init()?;
    /// let a = t.insert("agents", json!({"name": "a"}))?.to_string();
    /// let b = t.insert("agents", json!({"name": "b"}))?.to_string();
    /// let e = t.add_edge(&a, &b, "calls", json!({"weight": 2.5}))?;
    /// assert_eq!(e.weight(), Some(2.5));
    /// assert_eq!(t.edges(&b, remdb::EdgeDirection::In, None)?, vec![e]);
    /// # Ok::<(), remdb::Error>(())
    /// ```
    pub(crate) fn add_edge(
        &self,
        src: &str,
        dst: &str,
        rel: &str,
        properties: Value,
    ) -> Result<Edge> {
        let (src, dst) = (parse_id(src)?, parse_id(dst)?);
        let properties = properties_from(properties)?;
        self.write(|tx| tx.link(src, dst, rel, properties))
    }

    /// Adds many edges in one atomic batch (all or none): the bulk form of [`add_edge`](Self::add_edge).
    pub(crate) fn add_edges(&self, edges: Vec<NewEdge>) -> Result<()> {
        for e in &edges {
            check_properties(&e.properties)?;
        }
        self.write(|tx| {
            for (i, e) in edges.into_iter().enumerate() {
                tx.link(e.src, e.dst, &e.rel, e.properties)
                    .map_err(|err| at_edge(err, i))?;
            }
            Ok(())
        })
    }

    /// Removes the edge `src -rel-> dst`; `NotFound` when there is none.
    pub(crate) fn remove_edge(&self, src: &str, dst: &str, rel: &str) -> Result<()> {
        let key = EdgeKey {
            src: parse_id(src)?,
            rel: rel.to_string(),
            dst: parse_id(dst)?,
        };
        check_rel(rel)?;
        self.write(|tx| {
            let ts = tx.now_string();
            tx.remove_edge(&key, &ts)
        })
    }

    /// The edge `src -rel-> dst`, if stored.
    pub(crate) fn edge(&self, src: &str, dst: &str, rel: &str) -> Result<Option<Edge>> {
        let (src, dst) = (parse_id(src)?, parse_id(dst)?);
        check_rel(rel)?;
        self.graph_snapshot()?.edge(&src, rel, &dst)
    }

    /// The edges of entity `id` in `direction` (out edges first; each group in relationship,
    /// then id order), only relationship `rel` when given. Every stored edge is listed, also
    /// those whose other end is soft-deleted. `NotFound` when no entity has `id`.
    pub(crate) fn edges(
        &self,
        id: &str,
        direction: EdgeDirection,
        rel: Option<&str>,
    ) -> Result<Vec<Edge>> {
        let id = parse_id(id)?;
        let rels: Vec<String> = rel
            .map(|r| check_rel(r).map(|()| r.to_string()))
            .transpose()?
            .into_iter()
            .collect();
        let g = self.graph_snapshot()?;
        if g.node(&id)?.is_none() {
            return Err(Error::NotFound(format!("no entity with id {id}")));
        }
        let mut out = Vec::new();
        g.for_each_edge(&id, direction, &rels, |step| {
            let rel = rel_string(step.rel)?;
            let (src, dst) = if step.out {
                (id, step.other)
            } else {
                (step.other, id)
            };
            out.push(decode_edge(src, rel, dst, step.value)?);
            Ok(true)
        })?;
        Ok(out)
    }

    /// The distinct live entities one edge away from `id` in `direction` (only over `rel` when
    /// given), in the order of [`edges`](Self::edges).
    pub(crate) fn neighbors(
        &self,
        id: &str,
        direction: EdgeDirection,
        rel: Option<&str>,
    ) -> Result<Vec<Uuid>> {
        let id = parse_id(id)?;
        let rels: Vec<String> = rel
            .map(|r| check_rel(r).map(|()| r.to_string()))
            .transpose()?
            .into_iter()
            .collect();
        let g = self.graph_snapshot()?;
        if g.node(&id)?.is_none() {
            return Err(Error::NotFound(format!("no entity with id {id}")));
        }
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        g.for_each_edge(&id, direction, &rels, |step| {
            if seen.insert(step.other) {
                out.push(step.other);
            }
            Ok(true)
        })?;
        let mut live = Vec::with_capacity(out.len());
        for other in out {
            if g.node(&other)?.is_some_and(|n| !n.deleted) {
                live.push(other);
            }
        }
        Ok(live)
    }
}

/// A relationship name read from a key.
pub(crate) fn rel_string(rel: &[u8]) -> Result<String> {
    String::from_utf8(rel.to_vec())
        .map_err(|_| Error::storage("corrupt edge key: relationship is not UTF-8"))
}

fn at_edge(err: Error, i: usize) -> Error {
    match err {
        Error::NotFound(m) => Error::NotFound(format!("edge {i}: {m}")),
        Error::InvalidArgument(m) => Error::InvalidArgument(format!("edge {i}: {m}")),
        other => other,
    }
}

/// One item of an `edges` array in inserted data, validated.
#[derive(Debug, Clone)]
pub(crate) struct InlineEdge {
    pub(crate) dst: Uuid,
    pub(crate) rel: String,
    pub(crate) properties: Row,
}

/// Validates the whole `edges` array of inserted data (`[{dst, rel_type, properties}]`; `rel`
/// is accepted for `rel_type`) before anything is written.
pub(crate) fn parse_inline_edges(value: Value) -> Result<Vec<InlineEdge>> {
    let Value::Array(items) = value else {
        return Err(Error::InvalidArgument(format!(
            "`edges` must be an array of {{dst, rel_type, properties}}, got {}",
            json_type(&value)
        )));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let bad = |why: String| Error::InvalidArgument(format!("edges[{i}]: {why}"));
            let Value::Object(mut obj) = item else {
                return Err(bad(format!(
                    "must be an object {{dst, rel_type, properties}}, got {}",
                    json_type(&item)
                )));
            };
            let dst = match obj.remove("dst") {
                Some(Value::String(s)) => parse_id(&s).map_err(|e| bad(e.to_string()))?,
                _ => return Err(bad("`dst` must be an entity id (a UUID string)".into())),
            };
            let rel = match (obj.remove("rel_type"), obj.remove("rel")) {
                (Some(Value::String(r)), None) | (None, Some(Value::String(r))) => r,
                _ => return Err(bad("`rel_type` must be a string".into())),
            };
            check_rel(&rel).map_err(|e| bad(e.to_string()))?;
            let properties = properties_from(obj.remove("properties").unwrap_or(Value::Null))
                .map_err(|e| bad(e.to_string()))?;
            if let Some(extra) = obj.keys().next() {
                return Err(bad(format!(
                    "unknown field `{extra}` (expected dst, rel_type, properties)"
                )));
            }
            Ok(InlineEdge {
                dst,
                rel,
                properties,
            })
        })
        .collect()
}

impl WriteTx<'_> {
    /// Adds or updates `src -rel-> dst` through the write path (both endpoints live). Same
    /// properties as stored: nothing is written.
    pub(crate) fn link(
        &mut self,
        src: Uuid,
        dst: Uuid,
        rel: &str,
        properties: Row,
    ) -> Result<Edge> {
        check_rel(rel)?;
        check_properties(&properties)?;
        for id in [src, dst] {
            if !self.is_live(&id)? {
                return Err(Error::NotFound(format!("no entity with id {id}")));
            }
        }
        let key = EdgeKey {
            src,
            rel: rel.to_string(),
            dst,
        };
        let now = self.now();
        let edge = match self.edge_value(&key)? {
            Some(old) => {
                let old = decode_edge(src, rel.to_string(), dst, &old)?;
                if old.properties == properties {
                    return Ok(old);
                }
                let modified = format_ts(bump(Some(&Value::String(old.modified_at.clone())), now));
                Edge {
                    properties,
                    modified_at: modified,
                    ..old
                }
            }
            None => Edge {
                src,
                rel: rel.to_string(),
                dst,
                properties,
                created_at: format_ts(now),
                modified_at: format_ts(now),
            },
        };
        let ts = self.now_string();
        self.put_edge(&edge, &ts)?;
        Ok(edge)
    }

    /// Adds the validated inline edges of entity `src`.
    pub(crate) fn link_inline(&mut self, src: Uuid, edges: Vec<InlineEdge>) -> Result<()> {
        for (i, e) in edges.into_iter().enumerate() {
            self.link(src, e.dst, &e.rel, e.properties)
                .map_err(|err| match err {
                    Error::NotFound(m) => Error::NotFound(format!("edges[{i}]: {m}")),
                    other => other,
                })?;
        }
        Ok(())
    }
}
