//! SQL over a tenant's tables, parsed by `sqlparser`: parse → bind and plan → execute.
//!
//! ```
//! use remdb::Database;
//! use serde_json::json;
//!
//! let db = Database::memory();
//! let t = db.tenant("default")?;
//! t.register_schema(json!({
//!     "title": "Person", "type": "object",
//!     "properties": {"name": {"type": "string"}, "age": {"type": "integer"}, "city": {"type": "string"}},
//!     "json_schema_extra": {"key_field": "name", "indexed_fields": ["city"]}
//! }))?;
//! t.insert_many("person", vec![
//!     json!({"name": "Ada", "age": 36, "city": "London"}),
//!     json!({"name": "Alan", "age": 41, "city": "London"}),
//!     json!({"name": "Grace", "age": 85, "city": "New York"}),
//! ])?;
//! let r = t.sql("SELECT name, age FROM person WHERE city = $1 ORDER BY age DESC", &[json!("London")])?;
//! assert_eq!(r.columns, ["name", "age"]);
//! assert_eq!(r.rows[0], [json!("Alan"), json!(41)]);
//! let r = t.sql("SELECT city, COUNT(*) AS n FROM person GROUP BY city ORDER BY n DESC", &[])?;
//! assert_eq!(r.rows[0], [json!("London"), json!(2)]);
//! # Ok::<(), remdb::Error>(())
//! ```
//!
//! The language, the value semantics and what the planner does are documented in the README
//! (section "SQL").
//!
//! # Contract
//!
//! What the SQL layer offers the layers above (the faces: Rust, wasm/JS, CLI):
//! - [`Tenant::sql`]: one statement with its parameters, read-only, over one consistent
//!   snapshot of the tenant (TRAVERSE reads its own); the answer is a [`QueryResult`] whose
//!   column names are unique and in select-list order.
//! - Statements: SELECT, `EXPLAIN <statement>` (one `plan` column, outermost step first), and
//!   the REM statements `LOOKUP`, `SEARCH` and `TRAVERSE`.
//! - Errors: [`Error::SqlSyntax`] (cannot be read), [`Error::SqlUnsupported`] (names the
//!   construct), [`Error::SqlType`], [`Error::UnknownColumn`] (with the columns there are) and
//!   [`Error::InvalidArgument`] (missing parameters); store errors pass through.
//!
//! What it takes from the layers below: the store's `Reader` (schemas, scans, id and index
//! lookups, counts), the vector layer's filtered search and the graph layer's traversal.
//!
//! # Pipeline
//!
//! `parse` (one statement; `SEARCH` desugars to the SELECT it means, on the AST) → `bind`
//! (names, parameters, clauses: a `BoundSelect`) → `optimize` (push-down, soft-delete filter,
//! slots, access paths: a `SelectPlan`) → `exec` (scans, hash joins, aggregation, top-k).
//! `expr` and `value` are the expressions and the value semantics all steps share.

mod bind;
mod exec;
mod expr;
mod filter;
mod optimize;
mod parse;
mod plan;
mod result;
mod value;

pub use self::result::QueryResult;

use std::borrow::Cow;

use serde_json::Value;
use sqlparser::ast;

use self::bind::Binder;
#[cfg(target_arch = "wasm32")]
pub(crate) use self::filter::RowCondition;
use self::parse::Statement;
use self::plan::SelectPlan;
use crate::budget::{Budget, Meter};
use crate::error::{Error, Result};
use crate::store::read::Reader;
use crate::store::{Row, TenantStore};

impl TenantStore {
    /// Runs one SQL statement with parameters (`$1`, `$2`, ... or `?`), reading one consistent
    /// snapshot (TRAVERSE reads its own). Supports SELECT (WHERE, JOIN, GROUP BY/HAVING, ORDER BY, LIMIT/OFFSET,
    /// DISTINCT), `EXPLAIN`, and the REM statements `LOOKUP`, `SEARCH` and `TRAVERSE`.
    /// Anything else is an [`Error::SqlUnsupported`] naming the construct.
    /// The query runs under `budget` (resolved: the call's settings over the database's).
    pub(crate) fn sql(
        &self,
        query: &str,
        params: &[Value],
        budget: &Budget,
    ) -> Result<QueryResult> {
        let statement = parse::parse(query)?;
        self.run_statement(&statement, params, budget)
    }

    fn run_statement(
        &self,
        statement: &Statement,
        params: &[Value],
        budget: &Budget,
    ) -> Result<QueryResult> {
        let reader = self.reader()?;
        if let Some(q) = select_of(statement) {
            let plan = plan_select(&reader, params, &q)?;
            return exec::run(&reader, &plan, &Meter::new(budget));
        }
        match statement {
            Statement::Explain(inner) => {
                let lines = match &**inner {
                    Statement::Query(_) | Statement::Search { .. } => {
                        let q = select_of(inner)
                            .ok_or_else(|| Error::storage("internal: not a query"))?;
                        plan_select(&reader, params, &q)?.explain()
                    }
                    Statement::Lookup(keys) => vec![format!("Key lookup of {} key(s) across every table (deterministic ids)", keys.len())],
                    Statement::Explain(_) => return Err(Error::SqlSyntax("EXPLAIN EXPLAIN".into())),
                    Statement::Traverse(t) => vec![format!(
                        "Graph traversal ({}) from one entity over the out/in edge indexes (prefix scans), depth ≤ {}",
                        t.strategy.as_deref().unwrap_or("bfs"),
                        t.depth.as_ref().map_or(crate::graph::DEFAULT_TRAVERSE_DEPTH.to_string(), ToString::to_string)
                    )],
                };
                Ok(QueryResult {
                    columns: vec!["plan".into()],
                    rows: lines.into_iter().map(|l| vec![Value::String(l)]).collect(),
                })
            }
            Statement::Lookup(keys) => {
                let mut binder = Binder::new(&reader, params);
                let mut texts = Vec::new();
                for k in keys {
                    match binder.constant(k, "LOOKUP")? {
                        Value::String(s) => texts.push(s),
                        Value::Number(n) => texts.push(n.to_string()),
                        other => {
                            return Err(Error::SqlType(format!(
                                "LOOKUP keys are strings, got {other}"
                            )))
                        }
                    }
                }
                binder.check_params_used()?;
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                Ok(rows_of_many_tables(self.lookup(&refs)?))
            }
            Statement::Traverse(t) => self.run_traverse(&reader, t, params, budget),
            Statement::Query(_) | Statement::Search { .. } => {
                Err(Error::storage("internal: query not planned"))
            }
        }
    }
}

/// The SELECT a statement runs: its own, or the one a SEARCH means.
fn select_of(statement: &Statement) -> Option<Cow<'_, ast::Query>> {
    match statement {
        Statement::Query(q) => Some(Cow::Borrowed(&**q)),
        Statement::Search {
            text,
            table,
            selection,
            limit,
        } => Some(Cow::Owned(parse::search_query(
            text,
            table,
            selection.as_ref(),
            limit.as_ref(),
        ))),
        _ => None,
    }
}

/// Binds and optimizes one SELECT.
fn plan_select(reader: &Reader<'_>, params: &[Value], q: &ast::Query) -> Result<SelectPlan> {
    let bound = Binder::new(reader, params).select(q)?;
    optimize::optimize(reader, bound)
}

impl TenantStore {
    /// `TRAVERSE FROM 'id' ...`: one row per path — `depth`, `path` (entity ids), `rels` (the
    /// relationships taken), then the row of the entity the path ends at.
    fn run_traverse(
        &self,
        reader: &Reader<'_>,
        t: &parse::Traverse,
        params: &[Value],
        budget: &Budget,
    ) -> Result<QueryResult> {
        let mut binder = Binder::new(reader, params);
        let start = match t
            .start
            .as_ref()
            .map(|e| binder.constant(e, "TRAVERSE FROM"))
            .transpose()?
        {
            Some(Value::String(s)) => s,
            other => {
                return Err(Error::SqlType(format!(
                    "TRAVERSE FROM takes an entity id string, got {}",
                    other.unwrap_or(Value::Null)
                )))
            }
        };
        let count = |binder: &mut Binder<'_, '_>,
                     e: Option<&sqlparser::ast::Expr>,
                     what: &'static str|
         -> Result<Option<usize>> {
            match e.map(|e| binder.constant(e, what)).transpose()? {
                None => Ok(None),
                Some(Value::Number(n)) if n.as_u64().is_some() => {
                    Ok(n.as_u64().map(|n| usize::try_from(n).unwrap_or(usize::MAX)))
                }
                Some(other) => Err(Error::SqlType(format!(
                    "{what} must be a non-negative integer, got {other}"
                ))),
            }
        };
        let mut opts = crate::graph::TraverseOptions {
            budget: *budget,
            ..Default::default()
        };
        if let Some(d) = count(&mut binder, t.depth.as_ref(), "DEPTH")? {
            opts.max_depth = d;
        }
        if let Some(l) = count(&mut binder, t.limit.as_ref(), "LIMIT")? {
            opts.limit = l;
        }
        if let Some(d) = &t.direction {
            opts.direction = d.parse()?;
        }
        if let Some(s) = &t.strategy {
            opts.strategy = s.parse()?;
        }
        for rel in &t.rel_types {
            match binder.constant(rel, "TYPE")? {
                Value::String(r) => opts.rel_types.push(r),
                other => {
                    return Err(Error::SqlType(format!(
                        "TYPE takes relationship names as strings, got {other}"
                    )))
                }
            }
        }
        binder.check_params_used()?;
        let traversal = self.traverse(&start, &opts)?;
        let found = traversal
            .paths
            .iter()
            .map(|p| {
                let prefix = vec![
                    Value::from(p.depth),
                    Value::Array(
                        p.nodes
                            .iter()
                            .map(|n| Value::String(n.to_string()))
                            .collect(),
                    ),
                    Value::Array(
                        p.edges
                            .iter()
                            .map(|e| Value::String(e.rel.clone()))
                            .collect(),
                    ),
                ];
                (prefix, traversal.row(&p.end()).cloned().unwrap_or_default())
            })
            .collect();
        Ok(rows_with_prefix(&["depth", "path", "rels"], found))
    }
}

/// Rows from several tables as one result: `_table`, `id`, then every other field in order of
/// first appearance (missing fields are null).
fn rows_of_many_tables(found: Vec<(String, Row)>) -> QueryResult {
    rows_with_prefix(
        &["_table"],
        found
            .into_iter()
            .map(|(table, row)| (vec![Value::String(table)], row))
            .collect(),
    )
}

/// Rows of different shapes as one result: the `prefix` columns, `id`, then every other field in
/// order of first appearance (missing fields are null).
fn rows_with_prefix(prefix: &[&str], found: Vec<(Vec<Value>, Row)>) -> QueryResult {
    let mut columns: Vec<String> = prefix.iter().map(|c| c.to_string()).collect();
    columns.push("id".into());
    for (_, row) in &found {
        for k in row.keys() {
            if !columns.contains(k) {
                columns.push(k.clone());
            }
        }
    }
    let rows = found
        .into_iter()
        .map(|(mut values, row)| {
            values.extend(
                columns[prefix.len()..]
                    .iter()
                    .map(|c| row.get(c).cloned().unwrap_or(Value::Null)),
            );
            values
        })
        .collect();
    QueryResult { columns, rows }
}

/// A small in-memory tenant for the SQL layer's unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use serde_json::json;

    use crate::{Database, Tenant};

    /// `person` (name key, age, city indexed; Ada, Alan and Grace) and `pet` (name key, owner
    /// indexed, kind), in a fresh in-memory database (returned too: keep it alive).
    pub(crate) fn people() -> (Database, Tenant) {
        let db = Database::memory();
        let t = db.tenant("default").unwrap();
        t.register_schema(json!({
            "title": "Person", "type": "object",
            "properties": {"name": {"type": "string"}, "age": {"type": "integer"}, "city": {"type": "string"}},
            "json_schema_extra": {"key_field": "name", "indexed_fields": ["city"]}
        }))
        .unwrap();
        t.register_schema(json!({
            "title": "Pet", "type": "object",
            "properties": {"name": {"type": "string"}, "owner": {"type": "string"}, "kind": {"type": "string"}},
            "json_schema_extra": {"key_field": "name", "indexed_fields": ["owner"]}
        }))
        .unwrap();
        t.insert_many(
            "person",
            vec![
                json!({"name": "Ada", "age": 36, "city": "London"}),
                json!({"name": "Alan", "age": 41, "city": "London"}),
                json!({"name": "Grace", "age": 85, "city": "New York"}),
            ],
        )
        .unwrap();
        t.insert_many(
            "pet",
            vec![
                json!({"name": "Rex", "owner": "Ada", "kind": "dog"}),
                json!({"name": "Tom", "owner": "Grace", "kind": "cat"}),
            ],
        )
        .unwrap();
        (db, t)
    }
}
