//! Binding: from the `sqlparser` AST of one SELECT to a [`BoundSelect`].
//!
//! The binder's contract:
//! - **In:** the AST, the tenant's [`Reader`] (for table schemas only, never rows) and the query
//!   parameters.
//! - **Out:** every table resolved to its schema and alias, every column to a source and a slot
//!   (the top-level fields a source must decode, in slot order), parameters substituted,
//!   constants folded, clock functions fixed for the whole query, WHERE and ON split into
//!   conjuncts that keep their SQL text, aggregates collected into group slots, output names
//!   made unique, and the query's similarity search (if any) recorded with its default LIMIT.
//! - **Not decided here:** where each condition runs (pushed into a scan, a join, or after it),
//!   whether soft-deleted rows are visible, or how rows are found (index, ids, scan, vector
//!   search). Those are `optimize`'s choices, made on the [`BoundSelect`].
//! - **Errors:** anything not supported is an [`Error::SqlUnsupported`] naming the construct;
//!   unknown names are [`Error::UnknownColumn`] or [`Error::SqlSyntax`].
//!
//! One file per clause: `from.rs` (FROM, JOIN, name resolution), `filter.rs` (WHERE, ON),
//! `group.rs` (GROUP BY, aggregates, HAVING), `projection.rs` (the select list), `order.rs`
//! (ORDER BY, LIMIT, OFFSET); `expr.rs` and `function.rs` bind expressions for all of them.

mod expr;
mod filter;
mod from;
mod function;
mod group;
mod order;
mod projection;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlparser::ast;

use self::expr::Params;
use self::from::Source;
use super::expr::Expr;
use super::plan::{
    Aggregate, GroupPlan, JoinKind, KeywordSpec, Pred, SortKey, DEFAULT_VECTOR_LIMIT,
};
use crate::error::{Error, Result};
use crate::store::read::Reader;
use crate::store::schema::CompiledSchema;

fn unsupported<T>(what: impl Into<String>) -> Result<T> {
    Err(Error::SqlUnsupported(what.into()))
}

/// Name of the score column of a ranked search (similarity, BM25, or the fused hybrid score).
pub(crate) const SCORE_COLUMN: &str = "_score";

/// Name of the BM25 score column `bm25(field, 'terms')` reads.
pub(crate) const BM25_COLUMN: &str = "_bm25";

/// Where an expression is being bound.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    /// Row by row: aggregates are not allowed; the clause name is for messages.
    Scalar(&'static str),
    /// After grouping: columns only through group keys or aggregates.
    Grouped,
}

/// Binds one statement's SQL: a SELECT ([`Binder::select`]) or the constants of a REM
/// statement ([`Binder::constant`]).
pub(crate) struct Binder<'r, 'p> {
    reader: &'r Reader<'r>,
    params: Params<'p>,
    now: DateTime<Utc>,
    sources: Vec<Source>,
    group_keys: Vec<Expr>,
    aggs: Vec<Aggregate>,
    /// The vector search the query asks for (`field.cosine('text')`, `cosine_similarity(...)`).
    vector: Option<VectorSpec>,
    /// The full-text search the query asks for (`field MATCH 'terms'`, `bm25(field, 'terms')`).
    keyword: Option<KeywordSpec>,
    /// `cosine_similarity(...)` / `inner_product(...)` was read (not allowed beside a full-text
    /// search: the score of a hybrid search is the fused one).
    similarity_read: bool,
}

/// A similarity search named in a query.
#[derive(Debug)]
pub(crate) struct VectorSpec {
    /// The query text.
    pub(crate) text: String,
    /// The embedded field (`None`: `embedding`, every embedded field).
    pub(crate) field: Option<String>,
    /// As written, for EXPLAIN.
    pub(crate) written: String,
}

/// A table of a bound query.
#[derive(Debug)]
pub(crate) struct BoundSource {
    /// The table's name.
    pub(crate) table: String,
    /// Its name in the query (the table name when it has no alias).
    pub(crate) alias: String,
    /// Top-level fields the query reads, by slot.
    pub(crate) fields: Vec<String>,
    /// The table's schema (its indexed fields, and whether an index is in SQL's order).
    pub(crate) schema: Arc<CompiledSchema>,
}

/// A SELECT with every name resolved and every clause bound; how it runs is not decided yet.
#[derive(Debug)]
pub(crate) struct BoundSelect {
    /// The tables, FROM first, then each joined one.
    pub(crate) sources: Vec<BoundSource>,
    /// `joins[i]` is the kind of join that brings in `sources[i + 1]`.
    pub(crate) joins: Vec<JoinKind>,
    /// The conjuncts of WHERE.
    pub(crate) where_preds: Vec<Pred>,
    /// The conjuncts of each join's ON.
    pub(crate) on_preds: Vec<Vec<Pred>>,
    /// GROUP BY keys, aggregates and HAVING, when the query groups.
    pub(crate) group: Option<GroupPlan>,
    /// Output column names (unique).
    pub(crate) columns: Vec<String>,
    /// Output expressions, one per column.
    pub(crate) outputs: Vec<Expr>,
    /// SELECT DISTINCT.
    pub(crate) distinct: bool,
    /// ORDER BY keys.
    pub(crate) order: Vec<SortKey>,
    /// LIMIT (a similarity search without one gets [`DEFAULT_VECTOR_LIMIT`]).
    pub(crate) limit: Option<usize>,
    /// OFFSET.
    pub(crate) offset: usize,
    /// The similarity search of the query, on `sources[0]`.
    pub(crate) vector: Option<VectorSpec>,
    /// The full-text search of the query, on `sources[0]` (with `vector`: a hybrid search).
    pub(crate) keyword: Option<KeywordSpec>,
}

impl<'r, 'p> Binder<'r, 'p> {
    /// A binder reading schemas through `reader`, with `params` for `$n` / `?`.
    pub(crate) fn new(reader: &'r Reader<'r>, params: &'p [Value]) -> Self {
        Binder {
            reader,
            params: Params::new(params),
            now: crate::store::entity::now(),
            sources: Vec::new(),
            group_keys: Vec::new(),
            aggs: Vec::new(),
            vector: None,
            keyword: None,
            similarity_read: false,
        }
    }

    /// Binds a SELECT query, clause by clause.
    pub(crate) fn select(mut self, query: &ast::Query) -> Result<BoundSelect> {
        check_query(query)?;
        let select = match &*query.body {
            ast::SetExpr::Select(s) => s,
            ast::SetExpr::SetOperation { op, .. } => {
                return unsupported(format!("{op} (set operations)"))
            }
            ast::SetExpr::Values(_) => return unsupported("VALUES"),
            ast::SetExpr::Query(_) => return unsupported("parenthesized subqueries"),
            other => return unsupported(format!("`{other}`")),
        };
        check_select(select)?;

        let joins = self.bind_from(&select.from)?;
        let where_preds = self.where_clause(select.selection.as_ref())?;
        let on_preds = self.on_clauses(&joins)?;
        let key_texts = self.group_by(select)?;
        let order_items = order::order_items(query)?;
        let grouped = group::is_grouped(select, &order_items, !key_texts.is_empty());
        let ctx = if grouped {
            Ctx::Grouped
        } else {
            Ctx::Scalar("this query")
        };
        let projection = self.projection(&select.projection, grouped, ctx)?;
        let having = self.having(select.having.as_ref())?;
        let order = self.order_by(&order_items, &select.projection, &projection, ctx)?;
        let (limit, offset) = self.limit_offset(query.limit_clause.as_ref())?;
        self.params.check_all_used()?;

        let group = grouped.then(|| GroupPlan {
            keys: std::mem::take(&mut self.group_keys),
            key_texts,
            aggs: std::mem::take(&mut self.aggs),
            having,
        });
        if self.similarity_read && self.vector.is_some() && self.keyword.is_some() {
            return unsupported(
                "cosine_similarity()/inner_product() in a query that also MATCHes: a hybrid \
                 search ranks by the fused score, read it as `_score` (and BM25 with bm25())",
            );
        }
        // A similarity search returns its best rows, DEFAULT_VECTOR_LIMIT unless told; a
        // full-text search alone returns every match (up to the search's MAX_TOP_K).
        let limit = match (&self.vector, limit) {
            (Some(_), None) if group.is_none() => Some(DEFAULT_VECTOR_LIMIT),
            (_, l) => l,
        };
        Ok(BoundSelect {
            sources: self
                .sources
                .into_iter()
                .map(|s| BoundSource {
                    table: s.table,
                    alias: s.alias,
                    fields: s.needed,
                    schema: s.schema,
                })
                .collect(),
            joins: joins.iter().map(|(k, _)| *k).collect(),
            where_preds,
            on_preds,
            group,
            columns: projection.columns,
            outputs: projection.outputs,
            distinct: matches!(select.distinct, Some(ast::Distinct::Distinct)),
            order,
            limit,
            offset,
            vector: self.vector,
            keyword: self.keyword,
        })
    }

    /// Fails when more parameters were given than the statement bound so far uses (SELECT
    /// checks this itself; REM statements call it after binding their constants).
    pub(crate) fn check_params_used(&self) -> Result<()> {
        self.params.check_all_used()
    }

    /// Binds a constant (a literal, a parameter or an expression of them) for REM statements.
    pub(crate) fn constant(&mut self, e: &ast::Expr, what: &'static str) -> Result<Value> {
        match self.bind(e, Ctx::Scalar(what))? {
            Expr::Literal(v) => Ok(v),
            _ => Err(Error::SqlSyntax(format!(
                "{what} must be a constant, got `{e}`"
            ))),
        }
    }

    /// Binds a constant non-negative integer (LIMIT, OFFSET, positions).
    fn constant_usize(&mut self, e: &ast::Expr, what: &'static str) -> Result<usize> {
        match self.bind(e, Ctx::Scalar(what))? {
            Expr::Literal(Value::Number(n)) if n.as_u64().is_some() => {
                Ok(n.as_u64().unwrap_or(0) as usize)
            }
            Expr::Literal(other) => Err(Error::SqlType(format!(
                "{what} must be a non-negative integer, got {other}"
            ))),
            _ => Err(Error::SqlSyntax(format!("{what} must be a constant"))),
        }
    }
}

fn check_query(q: &ast::Query) -> Result<()> {
    if q.with.is_some() {
        return unsupported("WITH (common table expressions)");
    }
    if q.fetch.is_some() {
        return unsupported("FETCH; use LIMIT");
    }
    if !q.locks.is_empty() || q.for_clause.is_some() {
        return unsupported("FOR UPDATE / FOR ... clauses");
    }
    if q.settings.is_some() || q.format_clause.is_some() || !q.pipe_operators.is_empty() {
        return unsupported("SETTINGS / FORMAT / pipe operators");
    }
    Ok(())
}

fn check_select(s: &ast::Select) -> Result<()> {
    let checks: [(bool, &str); 13] = [
        (
            matches!(s.distinct, Some(ast::Distinct::On(_))),
            "DISTINCT ON",
        ),
        (s.top.is_some(), "TOP; use LIMIT"),
        (s.into.is_some(), "SELECT INTO"),
        (!s.lateral_views.is_empty(), "LATERAL VIEW"),
        (s.prewhere.is_some(), "PREWHERE"),
        (!s.connect_by.is_empty(), "CONNECT BY"),
        (
            !s.cluster_by.is_empty() || !s.distribute_by.is_empty() || !s.sort_by.is_empty(),
            "CLUSTER/DISTRIBUTE/SORT BY",
        ),
        (!s.named_window.is_empty(), "WINDOW"),
        (s.qualify.is_some(), "QUALIFY"),
        (s.value_table_mode.is_some(), "SELECT AS VALUE/STRUCT"),
        (s.select_modifiers.is_some(), "SELECT modifiers"),
        (!s.optimizer_hints.is_empty(), "optimizer hints"),
        (s.exclude.is_some(), "SELECT * EXCLUDE"),
    ];
    match checks.iter().find(|(bad, _)| *bad) {
        Some((_, what)) => unsupported(*what),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::parse::{parse, Statement};
    use crate::sql::testing::people;

    fn bind(sql: &str, params: &[Value]) -> Result<BoundSelect> {
        let (_db, t) = people();
        let reader = t.store().reader()?;
        let Statement::Query(q) = parse(sql)? else {
            panic!("not a query: {sql}");
        };
        Binder::new(&reader, params).select(&q)
    }

    #[test]
    fn where_splits_into_conjuncts_that_keep_their_text() {
        let b = bind(
            "SELECT name FROM person WHERE city = $1 AND (age > 30 AND age < 50)",
            &[Value::from("London")],
        )
        .unwrap();
        let texts: Vec<&str> = b.where_preds.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(texts, ["city = $1", "age > 30", "age < 50"]);
        // Slots follow first use: `name` (select list) comes after the WHERE columns.
        assert_eq!(b.sources[0].fields, ["city", "age", "name"]);
    }

    #[test]
    fn group_by_an_output_alias_shares_the_key_slot() {
        let b = bind(
            "SELECT city AS c, COUNT(*) AS n, COUNT(*) + 1 FROM person GROUP BY c",
            &[],
        )
        .unwrap();
        let g = b.group.expect("grouped");
        assert_eq!(g.key_texts, ["city"]);
        assert_eq!(g.aggs.len(), 1, "one COUNT(*) shared by two outputs");
        assert_eq!(b.outputs[0], Expr::Slot(0));
        assert_eq!(b.outputs[1], Expr::Slot(1));
        assert_eq!(b.columns, ["c", "n", "COUNT(*) + 1"]);
    }

    #[test]
    fn order_by_position_and_alias_name_outputs() {
        let b = bind(
            "SELECT age AS years, name FROM person ORDER BY years, 2 DESC",
            &[],
        )
        .unwrap();
        assert_eq!(b.order[0].expr, Expr::Output(0));
        assert_eq!(b.order[1].expr, Expr::Output(1));
        assert!(b.order[1].desc && b.order[1].nulls_first);
    }

    #[test]
    fn aggregates_outside_grouping_and_unknown_columns_are_errors() {
        assert!(matches!(
            bind("SELECT name FROM person WHERE COUNT(*) > 1", &[]),
            Err(Error::SqlSyntax(m)) if m.contains("not allowed in WHERE")
        ));
        assert!(matches!(
            bind("SELECT nope FROM person", &[]),
            Err(Error::UnknownColumn { column, .. }) if column == "nope"
        ));
    }
}
