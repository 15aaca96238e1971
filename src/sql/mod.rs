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

mod bind;
mod exec;
mod expr;
mod filter;
mod parse;
mod plan;
mod value;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::Serialize;
use serde_json::Value;

use self::bind::Binder;
#[cfg(target_arch = "wasm32")]
pub(crate) use self::filter::RowCondition;
use self::parse::Statement;
use crate::error::{Error, Result};
use crate::store::{Row, Tenant};

/// The answer to a query: column names (unique, in select-list order) and rows of values.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QueryResult {
    /// Column names.
    pub columns: Vec<String>,
    /// One vector of values per row, in column order.
    pub rows: Vec<Vec<Value>>,
}

impl QueryResult {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// `true` when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The values of column `name`, one per row.
    pub fn column(&self, name: &str) -> Option<Vec<&Value>> {
        let i = self.columns.iter().position(|c| c == name)?;
        Some(self.rows.iter().map(|r| &r[i]).collect())
    }

    /// The rows as JSON objects (keys sorted; serialize the result itself to keep column order).
    pub fn objects(&self) -> Vec<Row> {
        self.rows
            .iter()
            .map(|r| {
                self.columns
                    .iter()
                    .cloned()
                    .zip(r.iter().cloned())
                    .collect()
            })
            .collect()
    }
}

/// Serializes as an array of objects whose keys follow the column order.
impl Serialize for QueryResult {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        struct RowRef<'a>(&'a [String], &'a [Value]);
        impl Serialize for RowRef<'_> {
            fn serialize<S: serde::Serializer>(
                &self,
                s: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                let mut map = s.serialize_map(Some(self.0.len()))?;
                for (k, v) in self.0.iter().zip(self.1) {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
        let mut seq = s.serialize_seq(Some(self.rows.len()))?;
        for row in &self.rows {
            seq.serialize_element(&RowRef(&self.columns, row))?;
        }
        seq.end()
    }
}

impl Tenant {
    /// Runs one SQL statement with parameters (`$1`, `$2`, ... or `?`), reading one consistent
    /// snapshot (TRAVERSE reads its own). Supports SELECT (WHERE, JOIN, GROUP BY/HAVING, ORDER BY, LIMIT/OFFSET,
    /// DISTINCT), `EXPLAIN`, and the REM statements `LOOKUP`, `SEARCH` and `TRAVERSE`.
    /// Anything else is an [`Error::SqlUnsupported`] naming the construct.
    pub fn sql(&self, query: &str, params: &[Value]) -> Result<QueryResult> {
        let statement = parse::parse(query)?;
        self.run_statement(&statement, params)
    }

    fn run_statement(&self, statement: &Statement, params: &[Value]) -> Result<QueryResult> {
        let reader = self.reader()?;
        match statement {
            Statement::Query(q) => {
                let plan = Binder::new(&reader, params).select(q)?;
                exec::run(&reader, &plan)
            }
            Statement::Explain(inner) => {
                let lines = match &**inner {
                    Statement::Query(q) => Binder::new(&reader, params).select(q)?.explain(),
                    Statement::Lookup(keys) => vec![format!("Key lookup of {} key(s) across every table (deterministic ids)", keys.len())],
                    Statement::Explain(_) => return Err(Error::SqlSyntax("EXPLAIN EXPLAIN".into())),
                    Statement::Search { .. } => Binder::new(&reader, params).select(&*search_query(inner)?)?.explain(),
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
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                Ok(rows_of_many_tables(self.lookup(&refs)?))
            }
            Statement::Search { .. } => {
                let q = search_query(statement)?;
                let plan = Binder::new(&reader, params).select(&q)?;
                exec::run(&reader, &plan)
            }
            Statement::Traverse(t) => self.run_traverse(&reader, t, params),
        }
    }
}

impl Tenant {
    /// `TRAVERSE FROM 'id' ...`: one row per path — `depth`, `path` (entity ids), `rels` (the
    /// relationships taken), then the row of the entity the path ends at.
    fn run_traverse(
        &self,
        reader: &crate::store::read::Reader<'_>,
        t: &parse::Traverse,
        params: &[Value],
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
        let mut opts = crate::graph::TraverseOptions::default();
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
/// `SEARCH 'text' IN table [WHERE ...] [LIMIT n]` as the SELECT it means:
/// `SELECT * FROM table WHERE embedding.cosine('text') [AND (...)] [LIMIT n]`.
fn search_query(statement: &Statement) -> Result<Box<sqlparser::ast::Query>> {
    let Statement::Search {
        text,
        table,
        selection,
        limit,
    } = statement
    else {
        return Err(Error::storage("internal: not a SEARCH"));
    };
    let mut sql = format!("SELECT * FROM {table} WHERE embedding.cosine({text})");
    if let Some(w) = selection {
        sql.push_str(&format!(" AND ({w})"));
    }
    if let Some(l) = limit {
        sql.push_str(&format!(" LIMIT {l}"));
    }
    match parse::parse(&sql)? {
        Statement::Query(q) => Ok(q),
        _ => Err(Error::storage("internal: SEARCH did not become a query")),
    }
}

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
