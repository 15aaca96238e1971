//! Function calls: scalar functions, aggregates (handed to `group.rs`), the clock functions
//! (fixed at bind time) and the vector similarity forms, which register the query's search.

use serde_json::Value;
use sqlparser::ast;

use super::group::is_aggregate_name;
use super::{unsupported, Binder, Ctx, VectorSpec, BM25_COLUMN, SCORE_COLUMN};
use crate::error::{Error, Result};
use crate::sql::expr::{Expr, Func};
use crate::sql::plan::KeywordSpec;
use crate::store::entity::format_ts;

impl Binder<'_, '_> {
    /// The arguments of `f` and whether it says DISTINCT; forms remdb does not bind are errors.
    fn function_args<'a>(
        &self,
        f: &'a ast::Function,
    ) -> Result<(Vec<&'a ast::FunctionArgExpr>, bool)> {
        if f.over.is_some() {
            return unsupported(format!("window functions (`{}` OVER ...)", f.name));
        }
        if f.filter.is_some()
            || !f.within_group.is_empty()
            || f.null_treatment.is_some()
            || !matches!(f.parameters, ast::FunctionArguments::None)
        {
            return unsupported(format!(
                "FILTER / WITHIN GROUP / parameters on `{}`",
                f.name
            ));
        }
        match &f.args {
            ast::FunctionArguments::None => Ok((Vec::new(), false)),
            ast::FunctionArguments::Subquery(_) => unsupported("subqueries"),
            ast::FunctionArguments::List(list) => {
                if !list.clauses.is_empty() {
                    return unsupported(format!("clauses inside `{}(...)`", f.name));
                }
                let distinct = matches!(
                    list.duplicate_treatment,
                    Some(ast::DuplicateTreatment::Distinct)
                );
                let args = list
                    .args
                    .iter()
                    .map(|a| match a {
                        ast::FunctionArg::Unnamed(x) => Ok(x),
                        _ => unsupported(format!("named arguments in `{}`", f.name)),
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok((args, distinct))
            }
        }
    }

    /// Binds a function call in `ctx`.
    pub(super) fn bind_function(&mut self, f: &ast::Function, ctx: Ctx) -> Result<Expr> {
        let parts: Vec<String> = f.name.0.iter().map(|p| p.to_string()).collect();
        if parts.len() == 2
            && ["cosine", "inner_product", "l2"].contains(&parts[1].to_ascii_lowercase().as_str())
        {
            return self.bind_similarity_condition(f, &parts, ctx);
        }
        if parts.len() != 1 {
            return unsupported(format!("function `{}`", f.name));
        }
        let name = parts[0].to_ascii_lowercase();
        let (args, distinct) = self.function_args(f)?;
        if let Some(func) = is_aggregate_name(&name) {
            return match ctx {
                Ctx::Scalar(clause) => Err(Error::SqlSyntax(format!(
                    "aggregate `{f}` is not allowed in {clause}"
                ))),
                Ctx::Grouped => self.bind_aggregate(f, func, &args, distinct),
            };
        }
        if distinct {
            return unsupported(format!("DISTINCT inside `{}`", f.name));
        }
        if let Some(special) = self.bind_special(f, &name, &args, ctx)? {
            return Ok(special);
        }
        let Some((func, min, max)) = Func::by_name(&name) else {
            return unsupported(format!(
                "function `{}`; available: LOWER, UPPER, LENGTH, TRIM, ABS, ROUND, FLOOR, CEIL, COALESCE, NULLIF, CONCAT, NOW, CURRENT_DATE, COUNT, SUM, AVG, MIN, MAX",
                f.name
            ));
        };
        let args = args
            .iter()
            .map(|a| match a {
                ast::FunctionArgExpr::Expr(x) => self.bind(x, ctx),
                _ => unsupported(format!("`*` as an argument of `{}`", f.name)),
            })
            .collect::<Result<Vec<_>>>()?;
        if args.len() < min || args.len() > max {
            return Err(Error::SqlSyntax(format!(
                "{}() takes {}, got {}",
                name.to_uppercase(),
                arity(min, max),
                args.len()
            )));
        }
        Ok(Expr::Func { func, args })
    }

    /// `field.cosine('text')` (or `.inner_product`, `.l2`) in WHERE: registers the search and
    /// binds as `true` (the search is the access path, not a row condition).
    fn bind_similarity_condition(
        &mut self,
        f: &ast::Function,
        parts: &[String],
        ctx: Ctx,
    ) -> Result<Expr> {
        if ctx != Ctx::Scalar("WHERE") {
            return unsupported(format!(
                "`{f}` outside WHERE; use cosine_similarity({}, '...') to read the score",
                parts[0]
            ));
        }
        let (args, _) = self.function_args(f)?;
        let [ast::FunctionArgExpr::Expr(text)] = args.as_slice() else {
            return Err(Error::SqlSyntax(format!(
                "`{}.{}` takes one argument: the query text",
                parts[0], parts[1]
            )));
        };
        self.vector_search(&parts[0], text, &f.to_string())?;
        Ok(Expr::Literal(Value::Bool(true)))
    }

    /// The functions that are not [`Func`]s: the clock (fixed for the whole query) and the
    /// similarity scores. `None` for any other name.
    fn bind_special(
        &mut self,
        f: &ast::Function,
        name: &str,
        args: &[&ast::FunctionArgExpr],
        ctx: Ctx,
    ) -> Result<Option<Expr>> {
        Ok(Some(match name {
            "now" | "current_timestamp" | "localtimestamp" => {
                if !args.is_empty() {
                    return Err(Error::SqlSyntax(format!(
                        "{}() takes no arguments",
                        name.to_uppercase()
                    )));
                }
                Expr::Literal(Value::String(format_ts(self.now)))
            }
            "current_date" => Expr::Literal(Value::String(self.now.format("%Y-%m-%d").to_string())),
            "fulltext_match" | "bm25" => {
                let (field, text) = field_and_text(name, args, "'terms'", |other| {
                    format!("`{other}` as the field of a full-text search; name a full-text field or `fulltext`")
                })?;
                let written = if name == "bm25" {
                    f.to_string()
                } else {
                    format!("{field} MATCH {text}")
                };
                self.keyword_search(&field, text, &written)?;
                if name == "fulltext_match" {
                    if ctx == Ctx::Scalar("WHERE") {
                        Expr::Literal(Value::Bool(true))
                    } else {
                        return unsupported(
                            "MATCH outside WHERE; read the score with bm25(field, 'terms')",
                        );
                    }
                } else {
                    let src = &mut self.sources[0];
                    if !src.columns.iter().any(|c| c == BM25_COLUMN) {
                        src.columns.push(BM25_COLUMN.to_string());
                    }
                    src.slot(BM25_COLUMN);
                    self.resolve(&[ast::Ident::new(BM25_COLUMN)])?
                }
            }
            "cosine_similarity" | "inner_product" => {
                self.similarity_read = true;
                let (field, text) = field_and_text(name, args, "'text'", |other| {
                    format!(
                        "`{other}` as the field of {name}(); name an embedded field or `embedding`"
                    )
                })?;
                self.vector_search(&field, text, &f.to_string())?;
                self.resolve(&[ast::Ident::new(SCORE_COLUMN)])?
            }
            "l2_distance" | "cosine_distance" => {
                return unsupported(format!(
                    "{name}(); use cosine_similarity or inner_product (scores, higher is better)"
                ))
            }
            _ => return Ok(None),
        }))
    }

    /// Registers the query's full-text search (one per query) and the `_score` column.
    fn keyword_search(&mut self, field: &str, text: &ast::Expr, written: &str) -> Result<()> {
        let text = match self.constant(text, "the full-text query")? {
            Value::String(t) => t,
            other => {
                return Err(Error::SqlType(format!(
                    "the full-text query must be text, got {other}"
                )))
            }
        };
        if self.sources.len() != 1 {
            return unsupported("full-text search over several tables (JOIN); search one table");
        }
        let src = &mut self.sources[0];
        let fields = &src.schema.info.fulltext_fields;
        let field = if field.eq_ignore_ascii_case("fulltext") {
            if fields.is_empty() {
                return unsupported(format!(
                    "full-text search on `{}`: the table has no fulltext_fields",
                    src.table
                ));
            }
            None
        } else if fields.iter().any(|f| f == field) {
            Some(field.to_string())
        } else {
            let mut columns = vec!["fulltext".to_string()];
            columns.extend(fields.iter().cloned());
            return Err(Error::UnknownColumn {
                column: field.to_string(),
                table: src.table.clone(),
                columns,
            });
        };
        let spec = KeywordSpec {
            text,
            field,
            written: written.to_string(),
        };
        if let Some(existing) = &self.keyword {
            if existing.text != spec.text || existing.field != spec.field {
                return unsupported("two different full-text searches in one query");
            }
            return Ok(());
        }
        if !src.columns.iter().any(|c| c == SCORE_COLUMN) {
            src.columns.push(SCORE_COLUMN.to_string());
        }
        src.slot("id");
        src.slot(SCORE_COLUMN);
        self.keyword = Some(spec);
        Ok(())
    }

    /// Registers the query's vector search (one per query) and the `_score` column.
    fn vector_search(&mut self, field: &str, text: &ast::Expr, written: &str) -> Result<()> {
        // The query text is always a string, even double-quoted (`.cosine("cats")`) and even
        // when a column has that name.
        let text = match text {
            ast::Expr::Identifier(i) if i.quote_style == Some('"') => {
                Value::String(i.value.clone())
            }
            other => self.constant(other, "the similarity query")?,
        };
        let text = match text {
            Value::String(t) => t,
            other => {
                return Err(Error::SqlType(format!(
                    "the similarity query must be text, got {other}"
                )))
            }
        };
        if self.sources.len() != 1 {
            return unsupported("vector similarity over several tables (JOIN); search one table");
        }
        let src = &mut self.sources[0];
        let field = if field.eq_ignore_ascii_case("embedding") {
            if src.schema.info.embedding_fields.is_empty() {
                return unsupported(format!(
                    "vector similarity on `{}`: the table has no embedding_fields",
                    src.table
                ));
            }
            None
        } else if src.schema.info.embedding_fields.iter().any(|f| f == field) {
            Some(field.to_string())
        } else {
            let mut columns = vec!["embedding".to_string()];
            columns.extend(src.schema.info.embedding_fields.iter().cloned());
            return Err(Error::UnknownColumn {
                column: field.to_string(),
                table: src.table.clone(),
                columns,
            });
        };
        if let Some(existing) = &self.vector {
            if existing.text != text || existing.field != field {
                return unsupported("two different similarity searches in one query");
            }
            return Ok(());
        }
        if !src.columns.iter().any(|c| c == SCORE_COLUMN) {
            src.columns.push(SCORE_COLUMN.to_string());
        }
        src.slot("id");
        src.slot(SCORE_COLUMN);
        self.vector = Some(VectorSpec {
            text,
            field,
            written: written.to_string(),
        });
        Ok(())
    }
}

fn arity(min: usize, max: usize) -> String {
    match (min, max) {
        (a, b) if a == b => format!("{a} argument{}", if a == 1 { "" } else { "s" }),
        (a, usize::MAX) => format!("at least {a} argument{}", if a == 1 { "" } else { "s" }),
        (a, b) => format!("{a} to {b} arguments"),
    }
}

/// The `(field, 'text')` arguments of a search function (`bm25`, `fulltext_match`,
/// `cosine_similarity`, `inner_product`): the field's name (`t.field` gives `field`) and the
/// text expression. `not_a_field` phrases the error for a first argument that names nothing.
fn field_and_text<'a>(
    name: &str,
    args: &[&'a ast::FunctionArgExpr],
    text_shape: &str,
    not_a_field: impl FnOnce(&ast::Expr) -> String,
) -> Result<(String, &'a ast::Expr)> {
    let [ast::FunctionArgExpr::Expr(field), ast::FunctionArgExpr::Expr(text)] = args else {
        return Err(Error::SqlSyntax(format!(
            "{}(field, {text_shape}) takes two arguments",
            name.to_uppercase()
        )));
    };
    let field = match field {
        ast::Expr::Identifier(i) => i.value.clone(),
        ast::Expr::CompoundIdentifier(p) if p.len() == 2 => p[1].value.clone(),
        other => return unsupported(not_a_field(other)),
    };
    Ok((field, text))
}
