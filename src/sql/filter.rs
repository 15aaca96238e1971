//! Row conditions given as options rather than as a query (the `where` of a vector search in
//! the JS face): bound and run as `SELECT id FROM <table> WHERE <condition>` built on the AST,
//! so the caller never assembles SQL text.

use std::collections::HashSet;

use serde_json::Value;
use sqlparser::ast;
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Token;
use uuid::Uuid;

use super::parse::{self, Statement};
use crate::error::{Error, Result};
use crate::store::TenantStore;

/// Which rows of a table qualify.
#[derive(Debug, Clone)]
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub(crate) enum RowCondition {
    /// A SQL boolean expression over the table's columns, with parameters `$1, $2, ...`.
    Sql(String, Vec<Value>),
    /// Column equalities, all of which hold (`null`: the column is null). None: every row.
    Equal(Vec<(String, Value)>),
}

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
impl TenantStore {
    /// Ids of the rows of `table` that satisfy `condition` (soft-deleted ones too when
    /// `include_deleted`), with SQL's semantics: the same comparisons, errors and indexes,
    /// under `budget` as a query.
    pub(crate) fn ids_where(
        &self,
        table: &str,
        condition: &RowCondition,
        include_deleted: bool,
        budget: &crate::Budget,
    ) -> Result<HashSet<Uuid>> {
        let (mut expr, params) = match condition {
            RowCondition::Sql(text, params) => (parse_condition(text)?, params.clone()),
            RowCondition::Equal(columns) => equalities(columns),
        };
        if include_deleted {
            // SQL hides soft-deleted rows unless the query mentions `deleted_at`.
            let column = || Box::new(ast::Expr::Identifier(ast::Ident::new("deleted_at")));
            let either = ast::Expr::BinaryOp {
                left: Box::new(ast::Expr::IsNull(column())),
                op: ast::BinaryOperator::Or,
                right: Box::new(ast::Expr::IsNotNull(column())),
            };
            expr = and(expr, ast::Expr::Nested(Box::new(either)));
        }
        let statement = select_ids(table, expr)?;
        parse::check_depth(&statement)?;
        let found = self.run_statement(&statement, &params, None, budget)?;
        found
            .rows
            .iter()
            .map(|row| match row.first() {
                Some(Value::String(id)) => crate::store::parse_id(id),
                other => Err(Error::storage(format!(
                    "internal: a row id read as {other:?}"
                ))),
            })
            .collect()
    }
}

/// `text` as one boolean expression (nothing may follow it), in parentheses.
fn parse_condition(text: &str) -> Result<ast::Expr> {
    let dialect = GenericDialect {};
    let mut parser = Parser::new(&dialect)
        .try_with_sql(text)
        .map_err(parse::syntax)?;
    if parser.peek_token().token == Token::EOF {
        return Err(Error::SqlSyntax("empty `where` condition".into()));
    }
    let expr = parser.parse_expr().map_err(parse::syntax)?;
    match parser.peek_token().token {
        Token::EOF => Ok(ast::Expr::Nested(Box::new(expr))),
        other => Err(Error::SqlSyntax(format!(
            "a `where` condition is one expression; unexpected `{other}` after it"
        ))),
    }
}

/// `` `c1` = $1 AND `c2` IS NULL AND ... `` (`TRUE` for none) and its parameters. The names are
/// backtick-quoted: exact, and always columns (a double-quoted name that is no column would
/// bind as a string, SQLite's rule, and an unknown field must stay `UNKNOWN_COLUMN`).
fn equalities(columns: &[(String, Value)]) -> (ast::Expr, Vec<Value>) {
    let mut params = Vec::new();
    let mut terms = columns.iter().map(|(column, value)| {
        let column = Box::new(ast::Expr::Identifier(ast::Ident::with_quote('`', column)));
        if value.is_null() {
            return ast::Expr::IsNull(column);
        }
        params.push(value.clone());
        let slot = ast::Value::Placeholder(format!("${}", params.len()));
        ast::Expr::BinaryOp {
            left: column,
            op: ast::BinaryOperator::Eq,
            right: Box::new(ast::Expr::Value(slot.into())),
        }
    });
    let first = terms
        .next()
        .unwrap_or_else(|| ast::Expr::Value(ast::Value::Boolean(true).into()));
    let expr = terms.fold(first, and);
    (expr, params)
}

fn and(left: ast::Expr, right: ast::Expr) -> ast::Expr {
    ast::Expr::BinaryOp {
        left: Box::new(left),
        op: ast::BinaryOperator::And,
        right: Box::new(right),
    }
}

/// `SELECT id FROM "<table>" WHERE <expr>`: the shape parsed from a constant, then the table
/// and the condition put in as AST nodes.
fn select_ids(table: &str, expr: ast::Expr) -> Result<Statement> {
    let internal = || Error::storage("internal: the id query template changed shape");
    let Statement::Query(mut query) = parse::parse("SELECT id FROM t WHERE TRUE")? else {
        return Err(internal());
    };
    let ast::SetExpr::Select(select) = &mut *query.body else {
        return Err(internal());
    };
    match select.from.first_mut().map(|from| &mut from.relation) {
        Some(ast::TableFactor::Table { name, .. }) => {
            *name = ast::ObjectName::from(vec![ast::Ident::with_quote('"', table)]);
        }
        _ => return Err(internal()),
    }
    select.selection = Some(expr);
    Ok(Statement::Query(query))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::RowCondition;
    use crate::Database;

    #[test]
    fn conditions_select_ids_as_sql_would() {
        let db = Database::memory();
        let t = db.tenant("default").unwrap();
        t.register_schema(json!({
            "title": "Person", "type": "object",
            "properties": {"name": {"type": "string"}, "city": {"type": ["string", "null"]}, "age": {"type": "integer"}},
            "json_schema_extra": {"key_field": "name"}
        }))
        .unwrap();
        let ids = t
            .insert_many(
                "person",
                vec![
                    json!({"name": "Ada", "city": "Paris", "age": 36}),
                    json!({"name": "Bo", "city": null, "age": 20}),
                    json!({"name": "Cy", "city": "Paris", "age": 50}),
                ],
            )
            .unwrap();
        let run = |c: RowCondition, deleted: bool| {
            let mut found: Vec<usize> = t
                .store()
                .ids_where("person", &c, deleted, &crate::Budget::default())
                .unwrap()
                .iter()
                .map(|id| ids.iter().position(|i| i == id).unwrap())
                .collect();
            found.sort();
            found
        };
        let sql = |s: &str, p: Vec<serde_json::Value>| RowCondition::Sql(s.into(), p);
        let eq = |c: Vec<(&str, serde_json::Value)>| {
            RowCondition::Equal(c.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
        };
        assert_eq!(run(sql("age > $1", vec![json!(30)]), false), [0, 2]);
        assert_eq!(run(eq(vec![("city", json!("Paris"))]), false), [0, 2]);
        assert_eq!(
            run(
                eq(vec![("city", json!("Paris")), ("age", json!(50))]),
                false
            ),
            [2]
        );
        assert_eq!(run(eq(vec![("city", json!(null))]), false), [1]);
        assert_eq!(run(eq(vec![]), false), [0, 1, 2]);
        t.delete(&ids[0].to_string()).unwrap();
        assert_eq!(run(eq(vec![("city", json!("Paris"))]), false), [2]);
        assert_eq!(run(eq(vec![("city", json!("Paris"))]), true), [0, 2]);
        // One expression only: text after it is a syntax error, not more SQL.
        let err = t
            .store()
            .ids_where(
                "person",
                &sql("TRUE) OR (TRUE", vec![]),
                false,
                &crate::Budget::default(),
            )
            .unwrap_err();
        assert_eq!(err.code(), "SQL_SYNTAX");
        let err = t
            .store()
            .ids_where(
                "person",
                &eq(vec![("nope", json!(1))]),
                false,
                &crate::Budget::default(),
            )
            .unwrap_err();
        assert_eq!(err.code(), "UNKNOWN_COLUMN");
        let err = t
            .store()
            .ids_where(
                "person",
                &eq(vec![("nope", json!(null))]),
                false,
                &crate::Budget::default(),
            )
            .unwrap_err();
        assert_eq!(err.code(), "UNKNOWN_COLUMN");
    }
}
