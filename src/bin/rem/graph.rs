//! Graph commands: `edge add|rm`, `edges`, `traverse`, `path`, `cycles`.

use clap::{Args, Subcommand};
use remdb::{
    Edge, EdgeDirection, GraphPath, PathOptions, Strategy, Tenant, Traversal, TraverseOptions,
};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::commands::plural;
use crate::output::{cell, Output};
use crate::{input, CliError};

#[derive(Debug, Subcommand)]
pub(crate) enum EdgeCommand {
    /// Add the edge SRC -REL-> DST (re-adding it replaces its properties)
    Add {
        /// Source entity id
        src: String,
        /// Destination entity id
        dst: String,
        /// Relationship name
        rel: String,
        /// Properties: a JSON object (`-` stdin, `@path` file); a numeric `weight` is used by `path --weighted`
        #[arg(long, value_name = "JSON", allow_hyphen_values = true)]
        props: Option<String>,
    },
    /// Remove the edge SRC -REL-> DST
    #[command(alias = "remove")]
    Rm {
        /// Source entity id
        src: String,
        /// Destination entity id
        dst: String,
        /// Relationship name
        rel: String,
    },
}

/// Which edges to follow, shared by the walking commands.
#[derive(Debug, Args)]
pub(crate) struct Follow {
    /// Follow out edges, in edges or both
    #[arg(long, value_name = "in|out|both", value_parser = parse_direction, default_value = "out")]
    direction: EdgeDirection,
    /// Only this relationship (repeat for several)
    #[arg(long = "rel", value_name = "R")]
    rels: Vec<String>,
    /// Walk through soft-deleted entities too
    #[arg(long)]
    include_deleted: bool,
}

#[derive(Debug, Args)]
pub(crate) struct EdgesArgs {
    /// Entity id
    id: String,
    /// Out edges, in edges or both
    #[arg(long, value_name = "in|out|both", value_parser = parse_direction, default_value = "both")]
    direction: EdgeDirection,
    /// Only this relationship
    #[arg(long, value_name = "R")]
    rel: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct TraverseArgs {
    /// Start entity id
    id: String,
    /// Most edges on a path
    #[arg(long, value_name = "N", default_value_t = remdb::graph::DEFAULT_TRAVERSE_DEPTH)]
    depth: usize,
    /// bfs (each entity once, by a shortest path) or dfs (every simple path)
    #[arg(long, value_name = "bfs|dfs", value_parser = parse_strategy, default_value = "bfs")]
    strategy: Strategy,
    /// Stop at this entity and print only the paths to it
    #[arg(long, value_name = "ID")]
    target: Option<String>,
    /// Most paths printed
    #[arg(long, value_name = "N", default_value_t = remdb::graph::DEFAULT_PATH_LIMIT)]
    limit: usize,
    #[command(flatten)]
    follow: Follow,
}

#[derive(Debug, Args)]
pub(crate) struct PathArgs {
    /// Start entity id
    src: String,
    /// End entity id
    dst: String,
    /// Every simple path instead of one shortest path
    #[arg(long, conflicts_with_all = ["weighted", "count"])]
    all: bool,
    /// Only count the simple paths
    #[arg(long, conflicts_with = "weighted")]
    count: bool,
    /// Least total `weight` (Dijkstra) instead of fewest edges
    #[arg(long)]
    weighted: bool,
    /// Most edges on a path (default: unbounded for a shortest path, 6 with --all/--count)
    #[arg(long, value_name = "N")]
    max_depth: Option<usize>,
    /// Most paths printed (or counted)
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    #[command(flatten)]
    follow: Follow,
}

#[derive(Debug, Args)]
pub(crate) struct CyclesArgs {
    /// Every simple cycle through this entity (else: a search over --table, or every table)
    #[arg(conflicts_with = "table")]
    id: Option<String>,
    /// Search the rows of this table
    #[arg(long, value_name = "T")]
    table: Option<String>,
    /// Longest cycle reported (default 6 through an entity, unbounded over tables)
    #[arg(long, value_name = "N")]
    max_depth: Option<usize>,
    /// Most cycles printed
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    #[command(flatten)]
    follow: Follow,
}

fn parse_direction(s: &str) -> Result<EdgeDirection, String> {
    s.parse().map_err(|e: remdb::Error| e.to_string())
}

fn parse_strategy(s: &str) -> Result<Strategy, String> {
    s.parse().map_err(|e: remdb::Error| e.to_string())
}

pub(crate) fn edge(t: &Tenant, cmd: EdgeCommand, out: &mut Output) -> Result<(), CliError> {
    match cmd {
        EdgeCommand::Add {
            src,
            dst,
            rel,
            props,
        } => {
            let props = props
                .map(|p| input::json_arg(&p))
                .transpose()?
                .unwrap_or(Value::Null);
            let edge = t.add_edge(&src, &dst, &rel, props)?;
            if out.json() {
                Ok(out.compact(&edge)?)
            } else {
                Ok(out.line(&format!("{} -[{}]-> {}", edge.src, edge.rel, edge.dst))?)
            }
        }
        EdgeCommand::Rm { src, dst, rel } => {
            t.remove_edge(&src, &dst, &rel)?;
            if out.json() {
                Ok(out.compact(
                    &json!({"src": src.trim(), "rel": rel, "dst": dst.trim(), "removed": true}),
                )?)
            } else {
                Ok(out.line(&format!("removed {} -[{rel}]-> {}", src.trim(), dst.trim()))?)
            }
        }
    }
}

pub(crate) fn edges(t: &Tenant, args: EdgesArgs, out: &mut Output) -> Result<(), CliError> {
    let edges = t.edges(&args.id, args.direction, args.rel.as_deref())?;
    if out.json() {
        return Ok(out.compact(&edges)?);
    }
    if edges.is_empty() {
        return Ok(out.line("(no edges)")?);
    }
    let headers: Vec<String> = ["src", "rel", "dst", "properties", "created_at"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let rows: Vec<Vec<String>> = edges
        .iter()
        .map(|e| {
            vec![
                e.src.to_string(),
                e.rel.clone(),
                e.dst.to_string(),
                cell(Some(&Value::Object(e.properties.clone()))),
                e.created_at.clone(),
            ]
        })
        .collect();
    out.table(&headers, &rows)?;
    Ok(out.line(&format!("({} edge{})", edges.len(), plural(edges.len())))?)
}

pub(crate) fn traverse(t: &Tenant, args: TraverseArgs, out: &mut Output) -> Result<(), CliError> {
    let opts = TraverseOptions {
        strategy: args.strategy,
        max_depth: args.depth,
        direction: args.follow.direction,
        rel_types: args.follow.rels,
        target: args.target,
        include_deleted: args.follow.include_deleted,
        include_rows: true,
        limit: args.limit,
        budget: Default::default(),
    };
    print_paths(&t.traverse(&args.id, &opts)?, "path", out)
}

pub(crate) fn path(t: &Tenant, args: PathArgs, out: &mut Output) -> Result<(), CliError> {
    let opts = PathOptions {
        direction: args.follow.direction,
        rel_types: args.follow.rels,
        max_depth: args.max_depth,
        limit: args.limit,
        weighted: args.weighted,
        include_deleted: args.follow.include_deleted,
        include_rows: true,
        budget: Default::default(),
    };
    if args.count {
        let count = t.count_paths(&args.src, &args.dst, &opts)?;
        return if out.json() {
            Ok(out.compact(&json!({"count": count}))?)
        } else {
            Ok(out.line(&count.to_string())?)
        };
    }
    let found = if args.all {
        t.all_paths(&args.src, &args.dst, &opts)?
    } else {
        t.shortest_path(&args.src, &args.dst, &opts)?
    };
    if found.paths.is_empty() && !args.all {
        return Err(remdb::Error::NotFound(format!(
            "no path from {} to {}",
            args.src.trim(),
            args.dst.trim()
        ))
        .into());
    }
    print_paths(&found, "path", out)
}

pub(crate) fn cycles(t: &Tenant, args: CyclesArgs, out: &mut Output) -> Result<(), CliError> {
    let opts = PathOptions {
        direction: args.follow.direction,
        rel_types: args.follow.rels,
        max_depth: args.max_depth,
        limit: args.limit,
        weighted: false,
        include_deleted: args.follow.include_deleted,
        include_rows: true,
        budget: Default::default(),
    };
    let found = match &args.id {
        Some(id) => t.cycles_from(id, &opts)?,
        None => t.find_cycles(args.table.as_deref(), &opts)?,
    };
    print_paths(&found, "cycle", out)
}

/// JSON: the whole result (paths, rows, truncated). Text: one line per path, entities by label.
fn print_paths(found: &Traversal, noun: &str, out: &mut Output) -> Result<(), CliError> {
    if out.json() {
        return Ok(out.compact(found)?);
    }
    let weighted = found.paths.iter().any(|p| p.cost.is_some());
    let mut headers = vec!["depth".to_string()];
    if weighted {
        headers.push("cost".into());
    }
    headers.push(noun.into());
    let rows: Vec<Vec<String>> = found
        .paths
        .iter()
        .map(|p| {
            let mut row = vec![p.depth.to_string()];
            if weighted {
                row.push(p.cost.map(|c| c.to_string()).unwrap_or_default());
            }
            row.push(render_path(found, p));
            row
        })
        .collect();
    if !rows.is_empty() {
        out.table(&headers, &rows)?;
    }
    let n = found.paths.len();
    let more = if found.truncated {
        ", truncated: raise --limit or lower the depth"
    } else {
        ""
    };
    Ok(out.line(&format!("({n} {noun}{}{more})", plural(n)))?)
}

/// `a -[rel]-> b <-[rel]- c`: arrows show each edge's stored direction.
fn render_path(found: &Traversal, p: &GraphPath) -> String {
    let mut text = label(found, &p.nodes[0]);
    for (i, e) in p.edges.iter().enumerate() {
        let next = p.nodes[i + 1];
        text.push_str(&arrow(e, &next));
        text.push_str(&label(found, &next));
    }
    text
}

fn arrow(e: &Edge, next: &Uuid) -> String {
    if e.dst == *next {
        format!(" -[{}]-> ", e.rel)
    } else {
        format!(" <-[{}]- ", e.rel)
    }
}

/// A readable name for an entity: its name, key, uri or title (with the table's natural key
/// fields in mind), else its id.
fn label(found: &Traversal, id: &Uuid) -> String {
    let named = found.rows.get(id).and_then(|row| {
        ["name", "key", "uri", "title", "email"]
            .iter()
            .find_map(|f| match row.get(*f) {
                Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
                _ => None,
            })
    });
    named.unwrap_or_else(|| id.to_string())
}
