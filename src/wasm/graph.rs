//! Edges, neighbours, traversal, paths and cycles.

use serde::Deserialize;
use wasm_bindgen::prelude::*;

use super::convert::{
    budget_of, from_js, from_js_bulk, invalid, js_error, options, to_js, to_usize, JsBudget,
};
use super::RemDb;
use crate::{EdgeDirection, PathOptions, Strategy, TraverseOptions};

/// The graph: edges, traversal, paths and cycles. Options objects are optional; unknown or
/// misspelt options are `INVALID_ARGUMENT` errors. Results are plain objects: edges
/// `{src, rel, dst, properties, created_at, modified_at}` and path results
/// `{paths: [{nodes, edges, depth, cost?}], rows: {id: row}, truncated}`.
#[wasm_bindgen]
impl RemDb {
    /// Adds the edge `src -rel-> dst` with optional `props` (an object; a numeric `weight` is
    /// what weighted paths add up); re-adding replaces its properties. Returns the edge.
    #[wasm_bindgen(js_name = addEdge)]
    pub fn add_edge(
        &self,
        src: &str,
        dst: &str,
        rel: &str,
        props: JsValue,
    ) -> Result<JsValue, JsValue> {
        let props = from_js("edge properties", props)?;
        to_js(
            &self
                .tenant
                .add_edge(src, dst, rel, props)
                .map_err(js_error)?,
        )
    }

    /// Adds many edges `[{src, dst, rel, properties?}]` in one atomic batch (all or none).
    #[wasm_bindgen(js_name = addEdges)]
    pub fn add_edges(&self, edges: JsValue) -> Result<(), JsValue> {
        let items: Vec<JsNewEdge> = from_js_bulk(
            "addEdges expects an array of {src, dst, rel, properties}",
            &edges,
        )?;
        let edges = items
            .into_iter()
            .map(|e| {
                Ok(crate::NewEdge {
                    src: crate::store::parse_id(&e.src)?,
                    dst: crate::store::parse_id(&e.dst)?,
                    rel: e.rel,
                    properties: e.properties.unwrap_or_default(),
                })
            })
            .collect::<crate::Result<Vec<_>>>()
            .map_err(js_error)?;
        self.tenant.add_edges(edges).map_err(js_error)
    }

    /// Removes the edge `src -rel-> dst` (`NOT_FOUND` when there is none).
    #[wasm_bindgen(js_name = removeEdge)]
    pub fn remove_edge(&self, src: &str, dst: &str, rel: &str) -> Result<(), JsValue> {
        self.tenant.remove_edge(src, dst, rel).map_err(js_error)
    }

    /// The edges of `id`; `opts`: `{direction: "out" | "in" | "both" (default), rel}`.
    pub fn edges(&self, id: &str, opts: JsValue) -> Result<JsValue, JsValue> {
        let opts: JsEdgeOptions = options("edges options", "{direction, rel}", opts)?;
        let direction = opts.direction.unwrap_or(EdgeDirection::Both);
        to_js(
            &self
                .tenant
                .edges(id, direction, opts.rel.as_deref())
                .map_err(js_error)?,
        )
    }

    /// Ids of the live entities one edge away; `opts` as for [`edges`](Self::edges).
    pub fn neighbors(&self, id: &str, opts: JsValue) -> Result<JsValue, JsValue> {
        let opts: JsEdgeOptions = options("neighbors options", "{direction, rel}", opts)?;
        let direction = opts.direction.unwrap_or(EdgeDirection::Both);
        to_js(
            &self
                .tenant
                .neighbors(id, direction, opts.rel.as_deref())
                .map_err(js_error)?,
        )
    }

    /// Walks from `id`; `opts`: `{strategy: "bfs" | "dfs", maxDepth (3), direction ("out"),
    /// relTypes: [], target, includeDeleted, includeRows (true), limit, budget}` (`budget`:
    /// `{maxRowsExamined, maxMemoryBytes, maxTimeMs}`, as for every graph method).
    pub fn traverse(&self, id: &str, opts: JsValue) -> Result<JsValue, JsValue> {
        let opts = traverse_options(opts)?;
        to_js(&self.tenant.traverse(id, &opts).map_err(js_error)?)
    }

    /// The entities exactly `depth` edges away (by shortest distance), with a path to each;
    /// `opts` as for [`traverse`](Self::traverse).
    #[wasm_bindgen(js_name = neighborsAtDepth)]
    pub fn neighbors_at_depth(
        &self,
        id: &str,
        depth: f64,
        opts: JsValue,
    ) -> Result<JsValue, JsValue> {
        let depth = to_usize("depth", depth)?;
        let opts = traverse_options(opts)?;
        to_js(
            &self
                .tenant
                .neighbors_at_depth(id, depth, &opts)
                .map_err(js_error)?,
        )
    }

    /// A shortest path from `a` to `b` (none when unreachable); `opts`: `{direction, relTypes,
    /// maxDepth, weighted, includeDeleted, includeRows}`.
    #[wasm_bindgen(js_name = shortestPath)]
    pub fn shortest_path(&self, a: &str, b: &str, opts: JsValue) -> Result<JsValue, JsValue> {
        let opts = path_options(opts)?;
        to_js(&self.tenant.shortest_path(a, b, &opts).map_err(js_error)?)
    }

    /// Every simple path from `a` to `b`; `opts`: `{direction, relTypes, maxDepth (6), limit,
    /// includeDeleted, includeRows}`.
    #[wasm_bindgen(js_name = allPaths)]
    pub fn all_paths(&self, a: &str, b: &str, opts: JsValue) -> Result<JsValue, JsValue> {
        let opts = path_options(opts)?;
        to_js(&self.tenant.all_paths(a, b, &opts).map_err(js_error)?)
    }

    /// The number of simple paths from `a` to `b`; `opts` as for [`allPaths`](Self::all_paths).
    #[wasm_bindgen(js_name = countPaths)]
    pub fn count_paths(&self, a: &str, b: &str, opts: JsValue) -> Result<f64, JsValue> {
        let opts = path_options(opts)?;
        Ok(self.tenant.count_paths(a, b, &opts).map_err(js_error)? as f64)
    }

    /// Cycles: every simple cycle through `id` when it is a string, else the cycles a
    /// depth-first search finds over `opts.table` (every table when absent). `opts`:
    /// `{table, direction, relTypes, maxDepth, limit, includeDeleted, includeRows}`.
    pub fn cycles(&self, id: Option<String>, opts: JsValue) -> Result<JsValue, JsValue> {
        let (table, opts) = cycle_options(opts)?;
        let found = match id {
            Some(id) => {
                if table.is_some() {
                    return Err(invalid("give an id or opts.table, not both".into()));
                }
                self.tenant.cycles_from(&id, &opts)
            }
            None => self.tenant.find_cycles(table.as_deref(), &opts),
        };
        to_js(&found.map_err(js_error)?)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsNewEdge {
    src: String,
    dst: String,
    rel: String,
    properties: Option<crate::Row>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JsEdgeOptions {
    direction: Option<EdgeDirection>,
    rel: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JsTraverseOptions {
    strategy: Option<Strategy>,
    max_depth: Option<f64>,
    direction: Option<EdgeDirection>,
    rel_types: Option<Vec<String>>,
    target: Option<String>,
    include_deleted: Option<bool>,
    include_rows: Option<bool>,
    limit: Option<f64>,
    budget: Option<JsBudget>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JsPathOptions {
    direction: Option<EdgeDirection>,
    rel_types: Option<Vec<String>>,
    max_depth: Option<f64>,
    limit: Option<f64>,
    weighted: Option<bool>,
    include_deleted: Option<bool>,
    include_rows: Option<bool>,
    budget: Option<JsBudget>,
    /// `cycles` only.
    table: Option<String>,
}

fn traverse_options(opts: JsValue) -> Result<TraverseOptions, JsValue> {
    let o: JsTraverseOptions = options(
        "traverse options",
        "{strategy, maxDepth, direction, relTypes, target, includeDeleted, includeRows, limit, budget}",
        opts,
    )?;
    let d = TraverseOptions::default();
    Ok(TraverseOptions {
        strategy: o.strategy.unwrap_or(d.strategy),
        max_depth: o
            .max_depth
            .map(|n| to_usize("maxDepth", n))
            .transpose()?
            .unwrap_or(d.max_depth),
        direction: o.direction.unwrap_or(d.direction),
        rel_types: o.rel_types.unwrap_or_default(),
        target: o.target,
        include_deleted: o.include_deleted.unwrap_or(false),
        include_rows: o.include_rows.unwrap_or(true),
        limit: o
            .limit
            .map(|n| to_usize("limit", n))
            .transpose()?
            .unwrap_or(d.limit),
        budget: budget_of(o.budget)?,
    })
}

fn read_path_options(opts: JsValue) -> Result<(Option<String>, PathOptions), JsValue> {
    let o: JsPathOptions = options(
        "path options",
        "{direction, relTypes, maxDepth, limit, weighted, includeDeleted, includeRows, budget}",
        opts,
    )?;
    let options = PathOptions {
        direction: o.direction.unwrap_or_default(),
        rel_types: o.rel_types.unwrap_or_default(),
        max_depth: o.max_depth.map(|n| to_usize("maxDepth", n)).transpose()?,
        limit: o.limit.map(|n| to_usize("limit", n)).transpose()?,
        weighted: o.weighted.unwrap_or(false),
        include_deleted: o.include_deleted.unwrap_or(false),
        include_rows: o.include_rows.unwrap_or(true),
        budget: budget_of(o.budget)?,
    };
    Ok((o.table, options))
}

fn path_options(opts: JsValue) -> Result<PathOptions, JsValue> {
    match read_path_options(opts)? {
        (Some(_), _) => Err(invalid("`table` is an option of cycles() only".into())),
        (None, options) => Ok(options),
    }
}

fn cycle_options(opts: JsValue) -> Result<(Option<String>, PathOptions), JsValue> {
    let (table, options) = read_path_options(opts)?;
    if options.weighted {
        return Err(invalid(
            "`weighted` is an option of shortestPath() only".into(),
        ));
    }
    Ok((table, options))
}
