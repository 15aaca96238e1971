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
//! - Two phases for similarity searches, so that query texts can be embedded asynchronously
//!   (the wasm face awaits HTTP and JavaScript embedders): [`Tenant::sql_query_texts`] binds and
//!   plans a statement and lists the [`QueryText`]s it embeds; [`Tenant::sql_with_vectors`] runs
//!   it with their vectors supplied ([`QueryVectors`]). [`Tenant::sql`] is the two phases with
//!   the texts embedded synchronously in between.
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
use std::collections::HashMap;

use serde_json::Value;
use sqlparser::ast;

use self::bind::Binder;
#[cfg(target_arch = "wasm32")]
pub(crate) use self::filter::RowCondition;
use self::parse::Statement;
use self::plan::{Access, SelectPlan};
pub(crate) use self::value::parse_time;
use crate::budget::{Budget, Meter};
use crate::error::{Error, Result};
use crate::store::read::Reader;
use crate::store::{Row, TenantStore};

impl TenantStore {
    /// Runs one SQL statement with parameters (`$1`, `$2`, ... or `?`), reading one consistent
    /// snapshot (TRAVERSE reads its own). Supports SELECT (WHERE, JOIN, GROUP BY/HAVING, ORDER BY, LIMIT/OFFSET,
    /// DISTINCT), `EXPLAIN`, and the REM statements `LOOKUP`, `SEARCH` and `TRAVERSE`.
    /// Anything else is an [`Error::SqlUnsupported`] naming the construct.
    /// The texts of its similarity search are embedded (synchronously) once the statement is
    /// planned, before it runs.
    /// The query runs under `budget` (resolved: the call's settings over the database's).
    pub(crate) fn sql(
        &self,
        query: &str,
        params: &[Value],
        budget: &Budget,
    ) -> Result<QueryResult> {
        let statement = parse::parse_cached(query)?;
        self.run_statement(&statement, params, None, budget)
    }

    /// Phase one of a two-phase run: the texts the similarity search of `query` embeds, each
    /// with the provider that embeds it (none for statements without one). Binds and plans the
    /// statement, so it fails as [`TenantStore::sql`] would for a statement that cannot run;
    /// a search whose provider cannot be chosen lists nothing and fails in phase two.
    pub(crate) fn sql_query_texts(&self, query: &str, params: &[Value]) -> Result<Vec<QueryText>> {
        let statement = parse::parse_cached(query)?;
        let Some(q) = select_of(&statement) else {
            return Ok(Vec::new());
        };
        let reader = self.reader()?;
        let plan = plan_select(&reader, params, &q)?;
        let mut texts: Vec<QueryText> = self
            .query_texts(&plan)
            .into_iter()
            .map(|(_, t)| t)
            .collect();
        texts.dedup();
        Ok(texts)
    }

    /// Phase two of a two-phase run: runs `query` over a fresh snapshot with the vectors of its
    /// query texts taken from `vectors`. A text missing there (its provider changed since phase
    /// one) is embedded synchronously, as [`TenantStore::sql`] does.
    pub(crate) fn sql_with_vectors(
        &self,
        query: &str,
        params: &[Value],
        vectors: &QueryVectors,
        budget: &Budget,
    ) -> Result<QueryResult> {
        let statement = parse::parse_cached(query)?;
        self.run_statement(&statement, params, Some(vectors), budget)
    }

    /// Runs one parsed statement; the query texts of a SELECT come from `vectors`, or (`None`)
    /// are embedded here between planning and running.
    fn run_statement(
        &self,
        statement: &Statement,
        params: &[Value],
        vectors: Option<&QueryVectors>,
        budget: &Budget,
    ) -> Result<QueryResult> {
        let reader = self.reader()?;
        if let Some(q) = select_of(statement) {
            let mut plan = plan_select(&reader, params, &q)?;
            let needed = self.query_texts(&plan);
            let embedded;
            let vectors = match vectors {
                Some(given) => given,
                None => {
                    embedded = self.embed_query_texts(needed.iter().map(|(_, t)| t))?;
                    &embedded
                }
            };
            for (source, text) in needed {
                if let Access::Vector(v) = &mut plan.sources[source].access {
                    v.query = vectors.get(&(text.provider, text.text)).cloned();
                }
            }
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

/// A text a statement's similarity search embeds, and the provider that embeds it (see
/// [`Tenant::sql_query_texts`](crate::Tenant::sql_query_texts)).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QueryText {
    /// The provider spec (e.g. `local:all-MiniLM-L6-v2`, `custom:webgpu`).
    pub provider: String,
    /// The text, as the statement gives it.
    pub text: String,
}

/// The vectors of query texts supplied to a statement, by `(provider, text)` (see
/// [`Tenant::sql_with_vectors`](crate::Tenant::sql_with_vectors)).
pub type QueryVectors = HashMap<(String, String), Vec<f32>>;

impl TenantStore {
    /// The query texts of `plan`'s similarity searches, by source.
    fn query_texts(&self, plan: &SelectPlan) -> Vec<(usize, QueryText)> {
        plan.sources
            .iter()
            .enumerate()
            .filter_map(|(i, source)| {
                let Access::Vector(v) = &source.access else {
                    return None;
                };
                if v.mode == crate::vector::SearchMode::Keyword {
                    return None; // nothing to embed
                }
                // A search that cannot choose a provider fails as it runs, with that error.
                let provider = self
                    .search_provider(&source.table, v.field.as_deref())
                    .ok()?;
                Some((
                    i,
                    QueryText {
                        provider,
                        text: v.text.clone(),
                    },
                ))
            })
            .collect()
    }

    /// Embeds query texts synchronously (each as a query, see
    /// [`crate::embed::Embedder::embed_query`]).
    fn embed_query_texts<'t>(
        &self,
        texts: impl Iterator<Item = &'t QueryText>,
    ) -> Result<QueryVectors> {
        let mut out = QueryVectors::new();
        for t in texts {
            if let std::collections::hash_map::Entry::Vacant(slot) =
                out.entry((t.provider.clone(), t.text.clone()))
            {
                slot.insert(crate::vector::embed_query(self, &t.provider, &t.text)?);
            }
        }
        Ok(out)
    }
}

/// The SELECT a statement runs: its own, or the one a SEARCH means.
fn select_of(statement: &Statement) -> Option<Cow<'_, ast::Query>> {
    match statement {
        Statement::Query(q) => Some(Cow::Borrowed(&**q)),
        Statement::Search {
            text,
            table,
            mode,
            selection,
            limit,
        } => Some(Cow::Owned(parse::search_query(
            text,
            table,
            *mode,
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

#[cfg(test)]
mod two_phase_tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use serde_json::json;

    use super::{QueryText, QueryVectors};
    use crate::embed::Embedder;
    use crate::{Database, Tenant};

    /// `custom:axes`: "north…" texts point up, anything else right; counts the texts it embeds.
    struct Axes(Arc<AtomicUsize>);

    impl Embedder for Axes {
        fn name(&self) -> &str {
            "custom:axes"
        }
        fn dimensions(&self) -> usize {
            2
        }
        fn embed(&self, texts: &[&str]) -> crate::Result<Vec<Vec<f32>>> {
            self.0.fetch_add(texts.len(), Ordering::SeqCst);
            Ok(texts
                .iter()
                .map(|t| match t.starts_with("north") {
                    true => vec![0.0, 1.0],
                    false => vec![1.0, 0.0],
                })
                .collect())
        }
    }

    /// A `doc` table embedded by `custom:axes` with rows "north pole" and "east coast"; the
    /// counter of texts embedded.
    fn docs() -> (Database, Tenant, Arc<AtomicUsize>) {
        let db = Database::memory();
        let embedded = Arc::new(AtomicUsize::new(0));
        db.embedders()
            .register("custom:axes", Arc::new(Axes(embedded.clone())));
        let t = db.tenant("default").unwrap();
        t.register_schema(json!({
            "title": "Doc", "type": "object",
            "properties": {"body": {"type": "string"}, "n": {"type": "integer"}},
            "json_schema_extra": {"embedding_fields": ["body"], "embedding_provider": "custom:axes"}
        }))
        .unwrap();
        t.insert_many(
            "doc",
            vec![
                json!({"body": "north pole", "n": 1}),
                json!({"body": "east coast", "n": 2}),
            ],
        )
        .unwrap();
        embedded.store(0, Ordering::SeqCst);
        (db, t, embedded)
    }

    fn first_body(r: &crate::QueryResult) -> &str {
        r.rows[0][0].as_str().unwrap()
    }

    #[test]
    fn similarity_statements_list_their_query_text_with_its_provider() {
        let (_db, t, embedded) = docs();
        let want = vec![QueryText {
            provider: "custom:axes".into(),
            text: "northern lights".into(),
        }];
        for q in [
            "SELECT body FROM doc WHERE embedding.cosine('northern lights') AND n > 0",
            "SELECT body, cosine_similarity(body, $1) AS s FROM doc ORDER BY s DESC",
            "SEARCH 'northern lights' IN doc LIMIT 1",
        ] {
            // Extra parameters are refused: only the statement using `$1` gets one.
            let params = if q.contains("$1") {
                vec![json!("northern lights")]
            } else {
                vec![]
            };
            assert_eq!(t.sql_query_texts(q, &params).unwrap(), want, "{q}");
        }
        for q in [
            "SELECT body FROM doc",
            "EXPLAIN SELECT body FROM doc WHERE embedding.cosine('north')",
            "LOOKUP 'x'",
        ] {
            assert_eq!(t.sql_query_texts(q, &[]).unwrap(), vec![], "{q}");
        }
        assert_eq!(embedded.load(Ordering::SeqCst), 0, "listing embeds nothing");
        assert_eq!(
            t.sql_query_texts("SELECT nope FROM doc", &[])
                .unwrap_err()
                .code(),
            "UNKNOWN_COLUMN"
        );
    }

    #[test]
    fn supplied_query_vectors_are_used_instead_of_embedding() {
        let (_db, t, embedded) = docs();
        let q = "SELECT body FROM doc WHERE embedding.cosine('north') LIMIT 1";
        // The embedder would point "north" up; the supplied vector points right.
        let mut vectors = QueryVectors::new();
        vectors.insert(("custom:axes".into(), "north".into()), vec![1.0, 0.0]);
        let r = t
            .sql_with_vectors(q, &[], &vectors, &crate::Budget::default())
            .unwrap();
        assert_eq!(first_body(&r), "east coast");
        assert_eq!(embedded.load(Ordering::SeqCst), 0);
        // `sql` embeds the text between planning and running.
        assert_eq!(first_body(&t.sql(q, &[]).unwrap()), "north pole");
        assert_eq!(embedded.load(Ordering::SeqCst), 1);
        // A text missing from the supplied vectors is embedded as `sql` would.
        let r = t
            .sql_with_vectors(q, &[], &QueryVectors::new(), &crate::Budget::default())
            .unwrap();
        assert_eq!(first_body(&r), "north pole");
        assert_eq!(embedded.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_supplied_vector_of_the_wrong_length_is_refused() {
        let (_db, t, _) = docs();
        let q = "SELECT body FROM doc WHERE embedding.cosine('north')";
        let mut vectors = QueryVectors::new();
        vectors.insert(("custom:axes".into(), "north".into()), vec![1.0, 0.0, 0.0]);
        let err = t
            .sql_with_vectors(q, &[], &vectors, &crate::Budget::default())
            .unwrap_err();
        assert_eq!(err.code(), "INVALID_ARGUMENT", "{err}");
    }
}
