//! Binding: from the `sqlparser` AST to a [`SelectPlan`] — tables and columns resolved against
//! the schemas, parameters bound, constants folded, aggregates collected, conditions split into
//! per-source filters and join keys. Anything not supported is an error that names it.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlparser::ast;

use super::expr::{CastType, Expr, Func, Interval};
use super::plan::{
    choose_access, Access, AggFunc, Aggregate, GroupPlan, JoinKind, JoinPlan, Pred, SelectPlan,
    SortKey, SourcePlan, VectorAccess, DEFAULT_VECTOR_LIMIT,
};
use super::value::{ArithOp, CmpOp, LikePattern};
use crate::error::{Error, Result};
use crate::store::entity::{format_ts, SYSTEM_FIELDS};
use crate::store::read::Reader;
use crate::store::TableSchema;

fn unsupported<T>(what: impl Into<String>) -> Result<T> {
    Err(Error::SqlUnsupported(what.into()))
}

/// Query parameters (`$1`, `?`) and how they are being used.
pub(crate) struct Params<'p> {
    values: &'p [Value],
    next: usize,
    numbered: bool,
    positional: bool,
}

impl<'p> Params<'p> {
    pub(crate) fn new(values: &'p [Value]) -> Self {
        Params {
            values,
            next: 0,
            numbered: false,
            positional: false,
        }
    }

    fn get(&mut self, name: &str) -> Result<Value> {
        let index = if name == "?" {
            self.positional = true;
            self.next += 1;
            self.next
        } else if let Some(n) = name
            .strip_prefix('$')
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n > 0)
        {
            self.numbered = true;
            n
        } else {
            return unsupported(format!("parameter `{name}`; use $1, $2, ... or ?"));
        };
        if self.numbered && self.positional {
            return Err(Error::SqlSyntax(
                "mix of `?` and `$n` parameters; use one style".into(),
            ));
        }
        self.values.get(index - 1).cloned().ok_or_else(|| {
            Error::InvalidArgument(format!(
                "the query uses parameter {index} but {} were given",
                self.values.len()
            ))
        })
    }
}

/// A table in FROM.
struct Source {
    table: String,
    alias: String,
    schema: TableSchema,
    /// `id`, the schema's properties, then the other system fields.
    columns: Vec<String>,
    /// Top-level fields the query reads, in slot order.
    needed: Vec<String>,
}

impl Source {
    fn new(table: String, alias: String, schema: TableSchema) -> Self {
        let mut columns = vec!["id".to_string()];
        columns.extend(schema.fields.iter().cloned());
        columns.extend(
            SYSTEM_FIELDS
                .iter()
                .filter(|f| **f != "id")
                .map(|f| f.to_string()),
        );
        Source {
            table,
            alias,
            schema,
            columns,
            needed: Vec::new(),
        }
    }

    /// The slot that holds top-level `field` in this source's decoded rows.
    fn slot(&mut self, field: &str) -> usize {
        match self.needed.iter().position(|f| f == field) {
            Some(i) => i,
            None => {
                self.needed.push(field.to_string());
                self.needed.len() - 1
            }
        }
    }

    /// The stored name of column `name`: exact, else (unquoted) the one case-insensitive match.
    fn column(&self, name: &ast::Ident) -> Option<String> {
        if self.columns.contains(&name.value) {
            return Some(name.value.clone());
        }
        if name.quote_style.is_some() {
            return None;
        }
        let mut matches = self
            .columns
            .iter()
            .filter(|c| c.eq_ignore_ascii_case(&name.value));
        match (matches.next(), matches.next()) {
            (Some(c), None) => Some(c.clone()),
            _ => None,
        }
    }
}

/// Where an expression is being bound.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    /// Row by row: aggregates are not allowed; the clause name is for messages.
    Scalar(&'static str),
    /// After grouping: columns only through group keys or aggregates.
    Grouped,
}

pub(crate) struct Binder<'r, 'p> {
    reader: &'r Reader<'r>,
    params: Params<'p>,
    now: DateTime<Utc>,
    sources: Vec<Source>,
    group_keys: Vec<Expr>,
    aggs: Vec<Aggregate>,
    /// The vector search the query asks for (`field.cosine('text')`, `cosine_similarity(...)`).
    vector: Option<VectorSpec>,
}

/// A similarity search named in a query.
struct VectorSpec {
    /// The query text.
    text: String,
    /// The embedded field (`None`: `embedding`, every embedded field).
    field: Option<String>,
    /// As written, for EXPLAIN.
    written: String,
}

/// Name of the similarity score column of a vector search.
pub(crate) const SCORE_COLUMN: &str = "_score";

fn is_aggregate_name(name: &str) -> Option<AggFunc> {
    Some(match name.to_ascii_lowercase().as_str() {
        "count" => AggFunc::Count,
        "sum" => AggFunc::Sum,
        "avg" => AggFunc::Avg,
        "min" => AggFunc::Min,
        "max" => AggFunc::Max,
        _ => return None,
    })
}

fn aggregate_of(f: &ast::Function) -> Option<AggFunc> {
    if f.name.0.len() != 1 || f.over.is_some() {
        return None;
    }
    is_aggregate_name(&f.name.0[0].to_string())
}

/// Whether `e` calls an aggregate anywhere (in the expression forms remdb binds; others are
/// rejected as unsupported when bound).
fn contains_aggregate(e: &ast::Expr) -> bool {
    use ast::Expr as A;
    match e {
        A::Function(f) => {
            aggregate_of(f).is_some()
                || match &f.args {
                    ast::FunctionArguments::List(list) => list.args.iter().any(|a| match a {
                        ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(x)) => {
                            contains_aggregate(x)
                        }
                        _ => false,
                    }),
                    _ => false,
                }
        }
        A::BinaryOp { left, right, .. } => contains_aggregate(left) || contains_aggregate(right),
        A::UnaryOp { expr, .. }
        | A::Nested(expr)
        | A::IsNull(expr)
        | A::IsNotNull(expr)
        | A::IsTrue(expr)
        | A::IsNotTrue(expr)
        | A::IsFalse(expr)
        | A::IsNotFalse(expr)
        | A::Cast { expr, .. } => contains_aggregate(expr),
        A::In {
            expr,
            target: ast::InTarget::List(list),
            ..
        } => contains_aggregate(expr) || list.iter().any(contains_aggregate),
        A::Between {
            expr, low, high, ..
        } => [&**expr, &**low, &**high]
            .into_iter()
            .any(contains_aggregate),
        A::Like { expr, pattern, .. } | A::ILike { expr, pattern, .. } => {
            contains_aggregate(expr) || contains_aggregate(pattern)
        }
        A::Case {
            operand,
            conditions,
            else_result,
            ..
        } => {
            operand.as_deref().is_some_and(contains_aggregate)
                || conditions
                    .iter()
                    .any(|w| contains_aggregate(&w.condition) || contains_aggregate(&w.result))
                || else_result.as_deref().is_some_and(contains_aggregate)
        }
        _ => false,
    }
}

fn conjuncts(e: Expr, out: &mut Vec<Expr>) {
    match e {
        Expr::And(a, b) => {
            conjuncts(*a, out);
            conjuncts(*b, out);
        }
        other => out.push(other),
    }
}

fn split_ast(e: &ast::Expr, out: &mut Vec<ast::Expr>) {
    match e {
        ast::Expr::BinaryOp {
            left,
            op: ast::BinaryOperator::And,
            right,
        } => {
            split_ast(left, out);
            split_ast(right, out);
        }
        ast::Expr::Nested(inner)
            if matches!(
                **inner,
                ast::Expr::BinaryOp {
                    op: ast::BinaryOperator::And,
                    ..
                }
            ) =>
        {
            split_ast(inner, out)
        }
        other => out.push(other.clone()),
    }
}

/// Parses an interval such as `7 days`, `1 hour 30 minutes`, `2 weeks`, `1 month`.
pub(crate) fn parse_interval(text: &str) -> Result<Interval> {
    let bad = || {
        Error::SqlSyntax(format!(
            "cannot read interval `{text}`; write e.g. '7 days' or '1 hour 30 minutes'"
        ))
    };
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.is_empty() || !words.len().is_multiple_of(2) {
        return Err(bad());
    }
    let mut out = Interval::default();
    for pair in words.chunks(2) {
        let n: i64 = pair[0].parse().map_err(|_| bad())?;
        let unit = pair[1].to_ascii_lowercase();
        let unit = unit.trim_end_matches('s');
        let micros: i64 = match unit {
            "microsecond" | "u" => 1,
            "millisecond" | "m" => 1_000,
            "second" | "sec" => 1_000_000,
            "minute" | "min" => 60_000_000,
            "hour" | "h" | "hr" => 3_600_000_000,
            "day" | "d" => 86_400_000_000,
            "week" | "w" => 604_800_000_000,
            "month" | "mon" | "year" | "y" | "yr" => {
                let months = if unit.starts_with('m') {
                    n
                } else {
                    n.checked_mul(12).ok_or_else(bad)?
                };
                let months = u32::try_from(months).map_err(|_| bad())?;
                out.months = out.months.checked_add(months).ok_or_else(bad)?;
                continue;
            }
            _ => return Err(bad()),
        };
        out.micros = n
            .checked_mul(micros)
            .and_then(|m| out.micros.checked_add(m))
            .ok_or_else(bad)?;
    }
    Ok(out)
}

impl<'r, 'p> Binder<'r, 'p> {
    pub(crate) fn new(reader: &'r Reader<'r>, params: &'p [Value]) -> Self {
        Binder {
            reader,
            params: Params::new(params),
            now: crate::store::entity::now(),
            sources: Vec::new(),
            group_keys: Vec::new(),
            aggs: Vec::new(),
            vector: None,
        }
    }

    fn add_source(&mut self, factor: &ast::TableFactor) -> Result<()> {
        let (name, alias) = match factor {
            ast::TableFactor::Table {
                name,
                alias,
                args: None,
                with_hints,
                version: None,
                partitions,
                ..
            } if with_hints.is_empty() && partitions.is_empty() => (name, alias),
            ast::TableFactor::Table { .. } => {
                return unsupported("table hints, versions or table functions in FROM")
            }
            ast::TableFactor::Derived { .. } => return unsupported("subqueries in FROM"),
            other => return unsupported(format!("`{other}` in FROM; name a table")),
        };
        if name.0.len() != 1 {
            return unsupported(format!(
                "qualified table name `{name}`; tables belong to the tenant, name them alone"
            ));
        }
        let ident = match &name.0[0] {
            ast::ObjectNamePart::Identifier(i) => i,
            other => return unsupported(format!("table name `{other}`")),
        };
        let table = if ident.quote_style.is_some() {
            ident.value.clone()
        } else {
            ident.value.to_lowercase()
        };
        let schema = self.reader.schema(&table)?;
        let alias = match alias {
            Some(a) if !a.columns.is_empty() => {
                return unsupported("column aliases on a table alias")
            }
            Some(a) => a.name.value.clone(),
            None => table.clone(),
        };
        if self
            .sources
            .iter()
            .any(|s| s.alias.eq_ignore_ascii_case(&alias))
        {
            return Err(Error::SqlSyntax(format!(
                "table name or alias `{alias}` appears twice in FROM; give each an alias"
            )));
        }
        self.sources.push(Source::new(table, alias, schema));
        Ok(())
    }

    fn source_by_alias(&self, name: &ast::Ident) -> Option<usize> {
        self.sources
            .iter()
            .position(|s| s.alias == name.value)
            .or_else(|| {
                if name.quote_style.is_some() {
                    return None;
                }
                self.sources
                    .iter()
                    .position(|s| s.alias.eq_ignore_ascii_case(&name.value))
            })
    }

    fn unknown_column(&self, written: String, sources: &[usize]) -> Error {
        match sources {
            [] if self.sources.is_empty() => Error::UnknownColumn {
                column: written,
                table: "(no FROM clause)".into(),
                columns: vec![],
            },
            [s] => Error::UnknownColumn {
                column: written,
                table: self.sources[*s].table.clone(),
                columns: self.sources[*s].columns.clone(),
            },
            _ => Error::UnknownColumn {
                column: written,
                table: self
                    .sources
                    .iter()
                    .map(|s| s.table.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                columns: self
                    .sources
                    .iter()
                    .flat_map(|s| s.columns.iter().map(move |c| format!("{}.{c}", s.alias)))
                    .collect(),
            },
        }
    }

    fn resolve(&mut self, parts: &[ast::Ident]) -> Result<Expr> {
        let written = parts
            .iter()
            .map(|p| p.value.as_str())
            .collect::<Vec<_>>()
            .join(".");
        if parts.len() >= 2 {
            if let Some(s) = self.source_by_alias(&parts[0]) {
                let field = self.sources[s]
                    .column(&parts[1])
                    .ok_or_else(|| self.unknown_column(written.clone(), &[s]))?;
                let slot = self.sources[s].slot(&field);
                let mut path = vec![field];
                path.extend(parts[2..].iter().map(|p| p.value.clone()));
                return Ok(Expr::Column {
                    source: s,
                    slot,
                    path,
                });
            }
        }
        let found: Vec<(usize, String)> = self
            .sources
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.column(&parts[0]).map(|c| (i, c)))
            .collect();
        match found.as_slice() {
            [(s, field)] => {
                let (s, field) = (*s, field.clone());
                let slot = self.sources[s].slot(&field);
                let mut path = vec![field];
                path.extend(parts[1..].iter().map(|p| p.value.clone()));
                Ok(Expr::Column {
                    source: s,
                    slot,
                    path,
                })
            }
            [] => {
                if parts.len() == 1 && self.source_by_alias(&parts[0]).is_some() {
                    return Err(Error::SqlSyntax(format!(
                        "`{written}` is a table; name a column, e.g. `{written}.id`"
                    )));
                }
                let all: Vec<usize> = (0..self.sources.len()).collect();
                Err(self.unknown_column(written, &all))
            }
            many => Err(Error::SqlSyntax(format!(
                "column `{written}` is ambiguous: it is in {}; qualify it",
                many.iter()
                    .map(|(s, _)| format!("`{}`", self.sources[*s].alias))
                    .collect::<Vec<_>>()
                    .join(" and ")
            ))),
        }
    }

    fn literal(&mut self, v: &ast::Value) -> Result<Value> {
        Ok(match v {
            ast::Value::Number(n, _) => serde_json::from_str::<Value>(n)
                .ok()
                .filter(Value::is_number)
                .ok_or_else(|| Error::SqlSyntax(format!("number `{n}` is out of range")))?,
            ast::Value::SingleQuotedString(s)
            | ast::Value::EscapedStringLiteral(s)
            | ast::Value::NationalStringLiteral(s)
            | ast::Value::UnicodeStringLiteral(s)
            | ast::Value::TripleSingleQuotedString(s) => Value::String(s.clone()),
            ast::Value::DollarQuotedString(d) => Value::String(d.value.clone()),
            ast::Value::Boolean(b) => Value::Bool(*b),
            ast::Value::Null => Value::Null,
            ast::Value::Placeholder(p) => self.params.get(p)?,
            ast::Value::DoubleQuotedString(s) => {
                return Err(Error::SqlSyntax(format!(
                    "\"{s}\" is a quoted identifier here; write strings in single quotes"
                )))
            }
            other => return unsupported(format!("literal `{other}`")),
        })
    }

    /// Binds `e`, folding it to a literal when it reads nothing.
    fn bind(&mut self, e: &ast::Expr, ctx: Ctx) -> Result<Expr> {
        if ctx == Ctx::Grouped && !contains_aggregate(e) {
            let bound = self.bind(e, Ctx::Scalar("GROUP BY"))?;
            if let Some(k) = self.group_keys.iter().position(|g| *g == bound) {
                return Ok(Expr::Slot(k));
            }
            if bound.is_const() {
                return Ok(bound);
            }
            return Err(Error::SqlSyntax(format!(
                "`{e}` must appear in GROUP BY or be used in an aggregate function"
            )));
        }
        let bound = self.bind_node(e, ctx)?;
        if bound.is_const() && !matches!(bound, Expr::Literal(_)) {
            return Ok(Expr::Literal(bound.eval_const()?));
        }
        Ok(bound)
    }

    fn bind_node(&mut self, e: &ast::Expr, ctx: Ctx) -> Result<Expr> {
        use ast::Expr as A;
        let b = |me: &mut Self, x: &ast::Expr| me.bind(x, ctx).map(Expr::boxed);
        Ok(match e {
            A::Identifier(i) => self.resolve(std::slice::from_ref(i))?,
            A::CompoundIdentifier(parts) => self.resolve(parts)?,
            A::Value(v) => Expr::Literal(self.literal(&v.value)?),
            A::Nested(inner) => self.bind(inner, ctx)?,
            A::UnaryOp { op, expr } => match op {
                ast::UnaryOperator::Not => Expr::Not(b(self, expr)?),
                ast::UnaryOperator::Minus => Expr::Neg(b(self, expr)?),
                ast::UnaryOperator::Plus => self.bind(expr, ctx)?,
                other => return unsupported(format!("unary operator `{other}`")),
            },
            A::BinaryOp { left, op, right } => self.bind_binary(left, op, right, ctx)?,
            A::IsNull(x) => Expr::IsNull {
                expr: b(self, x)?,
                negated: false,
            },
            A::IsNotNull(x) => Expr::IsNull {
                expr: b(self, x)?,
                negated: true,
            },
            A::IsTrue(x) => Expr::IsBool {
                expr: b(self, x)?,
                value: true,
                negated: false,
            },
            A::IsNotTrue(x) => Expr::IsBool {
                expr: b(self, x)?,
                value: true,
                negated: true,
            },
            A::IsFalse(x) => Expr::IsBool {
                expr: b(self, x)?,
                value: false,
                negated: false,
            },
            A::IsNotFalse(x) => Expr::IsBool {
                expr: b(self, x)?,
                value: false,
                negated: true,
            },
            A::In {
                expr,
                target,
                negated,
                global: false,
            } => match target {
                ast::InTarget::List(list) => {
                    let list = list
                        .iter()
                        .map(|x| self.bind(x, ctx))
                        .collect::<Result<Vec<_>>>()?;
                    Expr::In {
                        expr: b(self, expr)?,
                        list,
                        negated: *negated,
                    }
                }
                ast::InTarget::Subquery(_) => return unsupported("subqueries (IN (SELECT ...))"),
                _ => return unsupported(format!("`{e}`; IN takes a list of values")),
            },
            A::Between {
                expr,
                negated,
                low,
                high,
            } => Expr::Between {
                expr: b(self, expr)?,
                low: b(self, low)?,
                high: b(self, high)?,
                negated: *negated,
            },
            A::Like {
                negated,
                any: false,
                expr,
                pattern,
                escape_char,
            } => self.bind_like(expr, pattern, escape_char, *negated, false, ctx)?,
            A::ILike {
                negated,
                any: false,
                expr,
                pattern,
                escape_char,
            } => self.bind_like(expr, pattern, escape_char, *negated, true, ctx)?,
            A::Function(f) => self.bind_function(f, ctx)?,
            A::Case {
                operand,
                conditions,
                else_result,
                ..
            } => {
                let operand = operand.as_ref().map(|o| b(self, o)).transpose()?;
                let branches = conditions
                    .iter()
                    .map(|w| Ok((self.bind(&w.condition, ctx)?, self.bind(&w.result, ctx)?)))
                    .collect::<Result<Vec<_>>>()?;
                let otherwise = else_result.as_ref().map(|x| b(self, x)).transpose()?;
                Expr::Case {
                    operand,
                    branches,
                    otherwise,
                }
            }
            A::Cast {
                kind: ast::CastKind::Cast | ast::CastKind::DoubleColon,
                expr,
                data_type,
                format: None,
            } => Expr::Cast {
                expr: b(self, expr)?,
                to: cast_type(data_type)?,
            },
            A::Interval(_) => {
                return unsupported(
                    "INTERVAL outside `timestamp + INTERVAL '...'` or `timestamp - INTERVAL '...'`",
                )
            }
            A::Subquery(_) | A::Exists { .. } => return unsupported("subqueries"),
            A::Wildcard(_) | A::QualifiedWildcard(..) => {
                return unsupported("`*` inside an expression (only COUNT(*))")
            }
            other => {
                let text = other.to_string();
                return unsupported(format!(
                    "expression `{}`",
                    if text.len() > 60 {
                        &text[..text.char_indices().nth(60).map_or(text.len(), |(i, _)| i)]
                    } else {
                        &text
                    }
                ));
            }
        })
    }

    fn bind_binary(
        &mut self,
        left: &ast::Expr,
        op: &ast::BinaryOperator,
        right: &ast::Expr,
        ctx: Ctx,
    ) -> Result<Expr> {
        use ast::BinaryOperator as B;
        if matches!(op, B::Plus | B::Minus) {
            if let ast::Expr::Interval(iv) = right {
                return Ok(Expr::Shift {
                    expr: self.bind(left, ctx)?.boxed(),
                    by: self.interval(iv)?,
                    subtract: *op == B::Minus,
                });
            }
            if let (ast::Expr::Interval(iv), B::Plus) = (left, op) {
                return Ok(Expr::Shift {
                    expr: self.bind(right, ctx)?.boxed(),
                    by: self.interval(iv)?,
                    subtract: false,
                });
            }
        }
        let l = self.bind(left, ctx)?.boxed();
        let r = self.bind(right, ctx)?.boxed();
        let cmp = |o| Expr::Cmp(o, l.clone(), r.clone());
        let arith = |o| Expr::Arith(o, l.clone(), r.clone());
        Ok(match op {
            B::And => Expr::And(l, r),
            B::Or => Expr::Or(l, r),
            B::Eq => cmp(CmpOp::Eq),
            B::NotEq => cmp(CmpOp::NotEq),
            B::Lt => cmp(CmpOp::Lt),
            B::LtEq => cmp(CmpOp::LtEq),
            B::Gt => cmp(CmpOp::Gt),
            B::GtEq => cmp(CmpOp::GtEq),
            B::Plus => arith(ArithOp::Add),
            B::Minus => arith(ArithOp::Sub),
            B::Multiply => arith(ArithOp::Mul),
            B::Divide => arith(ArithOp::Div),
            B::Modulo => arith(ArithOp::Mod),
            B::StringConcat => Expr::Concat(l, r),
            other => return unsupported(format!("operator `{other}`")),
        })
    }

    fn interval(&mut self, iv: &ast::Interval) -> Result<Interval> {
        let value = self.bind(&iv.value, Ctx::Scalar("INTERVAL"))?;
        let text = match value {
            Expr::Literal(Value::String(s)) => s,
            Expr::Literal(Value::Number(n)) => n.to_string(),
            _ => {
                return Err(Error::SqlSyntax(format!(
                    "INTERVAL needs a constant, got `{}`",
                    iv.value
                )))
            }
        };
        if iv.last_field.is_some() {
            return unsupported("INTERVAL ... TO ...");
        }
        match &iv.leading_field {
            Some(unit) => parse_interval(&format!("{text} {unit}")),
            None => parse_interval(&text),
        }
    }

    fn bind_like(
        &mut self,
        expr: &ast::Expr,
        pattern: &ast::Expr,
        escape: &Option<Box<ast::Expr>>,
        negated: bool,
        fold_case: bool,
        ctx: Ctx,
    ) -> Result<Expr> {
        let escape = match escape {
            None => None,
            Some(e) => match self.bind(e, ctx)? {
                Expr::Literal(Value::String(s)) if s.chars().count() == 1 => s.chars().next(),
                _ => {
                    return Err(Error::SqlSyntax(
                        "ESCAPE takes a single-character string".into(),
                    ))
                }
            },
        };
        let expr = self.bind(expr, ctx)?.boxed();
        let pattern = self.bind(pattern, ctx)?;
        let compiled = match &pattern {
            Expr::Literal(Value::String(p)) => Some(LikePattern::compile(p, escape, fold_case)),
            _ => None,
        };
        Ok(Expr::Like {
            expr,
            pattern: pattern.boxed(),
            compiled,
            escape,
            fold_case,
            negated,
        })
    }

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

    fn bind_function(&mut self, f: &ast::Function, ctx: Ctx) -> Result<Expr> {
        let parts: Vec<String> = f.name.0.iter().map(|p| p.to_string()).collect();
        if parts.len() == 2
            && ["cosine", "inner_product", "l2"].contains(&parts[1].to_ascii_lowercase().as_str())
        {
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
            let text = text.clone();
            self.vector_search(&parts[0], &text, &f.to_string())?;
            return Ok(Expr::Literal(Value::Bool(true)));
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
        let exprs = |me: &mut Self| {
            args.iter()
                .map(|a| match a {
                    ast::FunctionArgExpr::Expr(x) => me.bind(x, ctx),
                    _ => unsupported(format!("`*` as an argument of `{}`", f.name)),
                })
                .collect::<Result<Vec<_>>>()
        };
        match name.as_str() {
            "now" | "current_timestamp" | "localtimestamp" => {
                if !args.is_empty() {
                    return Err(Error::SqlSyntax(format!(
                        "{}() takes no arguments",
                        name.to_uppercase()
                    )));
                }
                return Ok(Expr::Literal(Value::String(format_ts(self.now))));
            }
            "current_date" => {
                return Ok(Expr::Literal(Value::String(
                    self.now.format("%Y-%m-%d").to_string(),
                )))
            }
            "cosine_similarity" | "inner_product" => {
                let [ast::FunctionArgExpr::Expr(field), ast::FunctionArgExpr::Expr(text)] =
                    args.as_slice()
                else {
                    return Err(Error::SqlSyntax(format!(
                        "{}(field, 'text') takes two arguments",
                        name.to_uppercase()
                    )));
                };
                let field = match field {
                    ast::Expr::Identifier(i) => i.value.clone(),
                    ast::Expr::CompoundIdentifier(p) if p.len() == 2 => p[1].value.clone(),
                    other => {
                        return unsupported(format!(
                        "`{other}` as the field of {name}(); name an embedded field or `embedding`"
                    ))
                    }
                };
                let text = text.clone();
                self.vector_search(&field, &text, &f.to_string())?;
                return self.resolve(&[ast::Ident::new(SCORE_COLUMN)]);
            }
            "l2_distance" | "cosine_distance" => {
                return unsupported(format!(
                    "{name}(); use cosine_similarity or inner_product (scores, higher is better)"
                ))
            }
            _ => {}
        }
        let Some((func, min, max)) = Func::by_name(&name) else {
            return unsupported(format!(
                "function `{}`; available: LOWER, UPPER, LENGTH, TRIM, ABS, ROUND, FLOOR, CEIL, COALESCE, NULLIF, CONCAT, NOW, CURRENT_DATE, COUNT, SUM, AVG, MIN, MAX",
                f.name
            ));
        };
        let args = exprs(self)?;
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

    fn bind_aggregate(
        &mut self,
        f: &ast::Function,
        func: AggFunc,
        args: &[&ast::FunctionArgExpr],
        distinct: bool,
    ) -> Result<Expr> {
        let arg = match (func, args) {
            (AggFunc::Count, [ast::FunctionArgExpr::Wildcard]) if !distinct => None,
            (_, [ast::FunctionArgExpr::Expr(x)]) => {
                if contains_aggregate(x) {
                    return Err(Error::SqlSyntax(format!(
                        "aggregates cannot be nested: `{f}`"
                    )));
                }
                Some(self.bind(x, Ctx::Scalar("an aggregate's argument"))?)
            }
            _ => {
                return Err(Error::SqlSyntax(format!(
                    "`{f}`: aggregates take one argument (COUNT also takes *)"
                )))
            }
        };
        let agg = Aggregate {
            func,
            arg,
            distinct,
            text: f.to_string(),
        };
        let index = match self
            .aggs
            .iter()
            .position(|a| a.func == agg.func && a.arg == agg.arg && a.distinct == agg.distinct)
        {
            Some(i) => i,
            None => {
                self.aggs.push(agg);
                self.aggs.len() - 1
            }
        };
        Ok(Expr::Slot(self.group_keys.len() + index))
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

    /// Binds and plans a SELECT query.
    /// Registers the query's vector search (one per query) and the `_score` column.
    fn vector_search(&mut self, field: &str, text: &ast::Expr, written: &str) -> Result<()> {
        let text = match self.constant(text, "the similarity query")? {
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
            if src.schema.embedding_fields.is_empty() {
                return unsupported(format!(
                    "vector similarity on `{}`: the table has no embedding_fields",
                    src.table
                ));
            }
            None
        } else if src.schema.embedding_fields.iter().any(|f| f == field) {
            Some(field.to_string())
        } else {
            let mut columns = vec!["embedding".to_string()];
            columns.extend(src.schema.embedding_fields.iter().cloned());
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

    pub(crate) fn select(mut self, query: &ast::Query) -> Result<SelectPlan> {
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

        // FROM and JOINs.
        let mut join_asts: Vec<(JoinKind, &ast::Expr)> = Vec::new();
        match select.from.as_slice() {
            [] => {}
            [from] => {
                self.add_source(&from.relation)?;
                for join in &from.joins {
                    if join.global {
                        return unsupported("GLOBAL JOIN");
                    }
                    let (kind, constraint) = match &join.join_operator {
                        ast::JoinOperator::Join(c) | ast::JoinOperator::Inner(c) => {
                            (JoinKind::Inner, c)
                        }
                        ast::JoinOperator::Left(c) | ast::JoinOperator::LeftOuter(c) => {
                            (JoinKind::Left, c)
                        }
                        ast::JoinOperator::Right(_) | ast::JoinOperator::RightOuter(_) => {
                            return unsupported("RIGHT JOIN; swap the tables and use LEFT JOIN")
                        }
                        ast::JoinOperator::FullOuter(_) => return unsupported("FULL OUTER JOIN"),
                        ast::JoinOperator::CrossJoin(_) => {
                            return unsupported("CROSS JOIN; join on an equality")
                        }
                        _ => {
                            return unsupported(
                                "this kind of JOIN; use [INNER] JOIN or LEFT JOIN ... ON",
                            )
                        }
                    };
                    let on = match constraint {
                        ast::JoinConstraint::On(e) => e,
                        ast::JoinConstraint::Using(_) | ast::JoinConstraint::UsingAlias(..) => {
                            return unsupported("JOIN ... USING; write JOIN ... ON a.x = b.x")
                        }
                        ast::JoinConstraint::Natural => return unsupported("NATURAL JOIN"),
                        ast::JoinConstraint::None => {
                            return unsupported("JOIN without ON; join on an equality")
                        }
                    };
                    self.add_source(&join.relation)?;
                    join_asts.push((kind, on));
                }
            }
            _ => {
                return unsupported(
                    "comma-separated tables in FROM (implicit cross join); use JOIN ... ON",
                )
            }
        }
        if self.sources.len() > 63 {
            return unsupported("more than 63 tables in one query");
        }

        // WHERE and ON conditions.
        let mut where_preds = Vec::new();
        if let Some(w) = &select.selection {
            let mut parts = Vec::new();
            split_ast(w, &mut parts);
            for part in parts {
                let expr = self.bind(&part, Ctx::Scalar("WHERE"))?;
                let mut split = Vec::new();
                conjuncts(expr, &mut split);
                let text = part.to_string();
                where_preds.extend(split.into_iter().map(|expr| Pred {
                    expr,
                    text: text.clone(),
                }));
            }
        }
        let mut on_preds: Vec<Vec<Pred>> = Vec::new();
        for (_, on) in &join_asts {
            let mut parts = Vec::new();
            split_ast(on, &mut parts);
            let mut preds = Vec::new();
            for part in parts {
                let expr = self.bind(&part, Ctx::Scalar("JOIN ... ON"))?;
                let mut split = Vec::new();
                conjuncts(expr, &mut split);
                let text = part.to_string();
                preds.extend(split.into_iter().map(|expr| Pred {
                    expr,
                    text: text.clone(),
                }));
            }
            on_preds.push(preds);
        }

        // GROUP BY (expressions, output aliases or positions).
        let group_asts: Vec<ast::Expr> = match &select.group_by {
            ast::GroupByExpr::Expressions(exprs, modifiers) => {
                if !modifiers.is_empty() {
                    return unsupported("GROUP BY modifiers (ROLLUP, CUBE, ...)");
                }
                exprs
                    .iter()
                    .map(|e| self.output_reference(e, &select.projection))
                    .collect::<Result<_>>()?
            }
            ast::GroupByExpr::All(_) => return unsupported("GROUP BY ALL"),
        };
        let mut key_texts = Vec::new();
        for g in &group_asts {
            if contains_aggregate(g) {
                return Err(Error::SqlSyntax(format!(
                    "aggregates are not allowed in GROUP BY: `{g}`"
                )));
            }
            let key = self.bind(g, Ctx::Scalar("GROUP BY"))?;
            self.group_keys.push(key);
            key_texts.push(g.to_string());
        }
        let order_asts: Vec<&ast::OrderByExpr> = match query.order_by.as_ref().map(|o| &o.kind) {
            None => Vec::new(),
            Some(ast::OrderByKind::Expressions(exprs)) => exprs.iter().collect(),
            Some(ast::OrderByKind::All(_)) => return unsupported("ORDER BY ALL"),
        };
        let grouped = !group_asts.is_empty()
            || select.having.is_some()
            || select.projection.iter().any(|item| match item {
                ast::SelectItem::UnnamedExpr(e)
                | ast::SelectItem::ExprWithAlias { expr: e, .. } => contains_aggregate(e),
                _ => false,
            })
            || order_asts.iter().any(|o| contains_aggregate(&o.expr));
        let ctx = if grouped {
            Ctx::Grouped
        } else {
            Ctx::Scalar("this query")
        };

        // Projection.
        let mut columns = Vec::new();
        let mut outputs = Vec::new();
        for item in &select.projection {
            match item {
                ast::SelectItem::Wildcard(opts) => {
                    check_wildcard(opts)?;
                    if grouped {
                        return Err(Error::SqlSyntax(
                            "`*` cannot be used with GROUP BY or aggregates".into(),
                        ));
                    }
                    if self.sources.is_empty() {
                        return Err(Error::SqlSyntax("`SELECT *` needs a FROM clause".into()));
                    }
                    let qualify = self.sources.len() > 1;
                    for s in 0..self.sources.len() {
                        for c in self.sources[s].columns.clone() {
                            let slot = self.sources[s].slot(&c);
                            columns.push(if qualify {
                                format!("{}.{c}", self.sources[s].alias)
                            } else {
                                c.clone()
                            });
                            outputs.push(Expr::Column {
                                source: s,
                                slot,
                                path: vec![c],
                            });
                        }
                    }
                }
                ast::SelectItem::QualifiedWildcard(kind, opts) => {
                    check_wildcard(opts)?;
                    if grouped {
                        return Err(Error::SqlSyntax(
                            "`*` cannot be used with GROUP BY or aggregates".into(),
                        ));
                    }
                    let name = match kind {
                        ast::SelectItemQualifiedWildcardKind::ObjectName(n) if n.0.len() == 1 => {
                            match &n.0[0] {
                                ast::ObjectNamePart::Identifier(i) => i.clone(),
                                _ => return unsupported(format!("`{n}.*`")),
                            }
                        }
                        other => return unsupported(format!("`{other}.*`")),
                    };
                    let s = self.source_by_alias(&name).ok_or_else(|| {
                        Error::SqlSyntax(format!(
                            "`{}.*`: no table or alias `{}` in FROM",
                            name.value, name.value
                        ))
                    })?;
                    for c in self.sources[s].columns.clone() {
                        let slot = self.sources[s].slot(&c);
                        outputs.push(Expr::Column {
                            source: s,
                            slot,
                            path: vec![c.clone()],
                        });
                        columns.push(c);
                    }
                }
                ast::SelectItem::UnnamedExpr(e) => {
                    outputs.push(self.bind(e, ctx)?);
                    columns.push(self.column_name(e));
                }
                ast::SelectItem::ExprWithAlias { expr, alias } => {
                    outputs.push(self.bind(expr, ctx)?);
                    columns.push(alias.value.clone());
                }
                ast::SelectItem::ExprWithAliases { .. } => {
                    return unsupported("multiple aliases for one column")
                }
            }
        }
        dedupe_names(&mut columns);

        let having = match &select.having {
            Some(h) => Some(Pred {
                expr: self.bind(h, Ctx::Grouped)?,
                text: h.to_string(),
            }),
            None => None,
        };

        // ORDER BY: output position, output alias, or an expression.
        let mut order = Vec::new();
        for o in &order_asts {
            if o.with_fill.is_some() {
                return unsupported("ORDER BY ... WITH FILL");
            }
            let desc = match &o.options.sort {
                None | Some(ast::OrderBySort::Asc) => false,
                Some(ast::OrderBySort::Desc) => true,
                Some(ast::OrderBySort::Using(_)) => return unsupported("ORDER BY ... USING"),
            };
            // NULLs sort as the largest value (PostgreSQL's default).
            let nulls_first = o.options.nulls_first.unwrap_or(desc);
            let expr = match &o.expr {
                ast::Expr::Value(v) if matches!(v.value, ast::Value::Number(..)) => {
                    let n = self.constant_usize(&o.expr, "ORDER BY position")?;
                    if n == 0 || n > outputs.len() {
                        return Err(Error::SqlSyntax(format!(
                            "ORDER BY position {n} is not in the select list (1–{})",
                            outputs.len()
                        )));
                    }
                    Expr::Output(n - 1)
                }
                ast::Expr::Identifier(i)
                    if columns.contains(&i.value)
                        && (self.is_alias_only(i, &select.projection)
                            || self.resolve(std::slice::from_ref(i)).is_err()) =>
                {
                    Expr::Output(columns.iter().position(|c| *c == i.value).unwrap_or(0))
                }
                other => self.bind(other, ctx)?,
            };
            order.push(SortKey {
                expr,
                desc,
                nulls_first,
                text: o.expr.to_string(),
            });
        }

        // LIMIT / OFFSET.
        let (mut limit, mut offset) = (None, 0);
        match &query.limit_clause {
            None => {}
            Some(ast::LimitClause::LimitOffset {
                limit: l,
                offset: o,
                limit_by,
            }) => {
                if !limit_by.is_empty() {
                    return unsupported("LIMIT ... BY");
                }
                if let Some(l) = l {
                    if !matches!(l, ast::Expr::Value(v) if v.value == ast::Value::Null) {
                        limit = Some(self.constant_usize(l, "LIMIT")?);
                    }
                }
                if let Some(o) = o {
                    offset = self.constant_usize(&o.value, "OFFSET")?;
                }
            }
            Some(ast::LimitClause::OffsetCommaLimit {
                offset: o,
                limit: l,
            }) => {
                offset = self.constant_usize(o, "OFFSET")?;
                limit = Some(self.constant_usize(l, "LIMIT")?);
            }
        }

        let distinct = matches!(select.distinct, Some(ast::Distinct::Distinct));
        let group = grouped.then(|| GroupPlan {
            keys: std::mem::take(&mut self.group_keys),
            key_texts,
            aggs: std::mem::take(&mut self.aggs),
            having,
        });
        self.finish(SelectPlanParts {
            where_preds,
            on_preds,
            join_kinds: join_asts.iter().map(|(k, _)| *k).collect(),
            group,
            columns,
            outputs,
            distinct,
            order,
            limit,
            offset,
        })
    }

    /// The output name of an unaliased select item: the column path without its table
    /// qualifier, or the expression text.
    fn column_name(&self, e: &ast::Expr) -> String {
        match e {
            ast::Expr::Identifier(i) => i.value.clone(),
            ast::Expr::CompoundIdentifier(parts) => {
                let skip =
                    usize::from(parts.len() >= 2 && self.source_by_alias(&parts[0]).is_some());
                parts[skip..]
                    .iter()
                    .map(|p| p.value.as_str())
                    .collect::<Vec<_>>()
                    .join(".")
            }
            other => other.to_string(),
        }
    }

    /// `true` when `i` names an output alias that is not also a column (PostgreSQL prefers the
    /// output name in ORDER BY).
    fn is_alias_only(&self, i: &ast::Ident, projection: &[ast::SelectItem]) -> bool {
        projection.iter().any(|item| matches!(item, ast::SelectItem::ExprWithAlias { alias, .. } if alias.value == i.value))
    }

    /// GROUP BY `n` or an output alias means that select item's expression.
    fn output_reference(
        &mut self,
        e: &ast::Expr,
        projection: &[ast::SelectItem],
    ) -> Result<ast::Expr> {
        let item_expr = |item: &ast::SelectItem| match item {
            ast::SelectItem::UnnamedExpr(x) | ast::SelectItem::ExprWithAlias { expr: x, .. } => {
                Some(x.clone())
            }
            _ => None,
        };
        match e {
            ast::Expr::Value(v) if matches!(v.value, ast::Value::Number(..)) => {
                let n = self.constant_usize(e, "GROUP BY position")?;
                projection
                    .get(n.wrapping_sub(1))
                    .and_then(item_expr)
                    .ok_or_else(|| {
                        Error::SqlSyntax(format!(
                            "GROUP BY position {n} is not an expression of the select list"
                        ))
                    })
            }
            ast::Expr::Identifier(i) if self.resolve(std::slice::from_ref(i)).is_err() => {
                for item in projection {
                    if let ast::SelectItem::ExprWithAlias { expr, alias } = item {
                        if alias.value == i.value {
                            return Ok(expr.clone());
                        }
                    }
                }
                Ok(e.clone())
            }
            _ => Ok(e.clone()),
        }
    }

    fn finish(self, parts: SelectPlanParts) -> Result<SelectPlan> {
        let SelectPlanParts {
            where_preds,
            mut on_preds,
            join_kinds,
            group,
            columns,
            outputs,
            distinct,
            order,
            limit,
            offset,
        } = parts;
        let n = self.sources.len();
        let limit = match (&self.vector, limit) {
            (Some(_), None) if group.is_none() => Some(DEFAULT_VECTOR_LIMIT),
            (_, l) => l,
        };
        // A source on the nullable side of a LEFT JOIN cannot take WHERE conditions early.
        let nullable: Vec<bool> = (0..n)
            .map(|s| s > 0 && join_kinds[s - 1] == JoinKind::Left)
            .collect();
        let highest = |bits: u64| {
            if bits == 0 {
                0
            } else {
                63 - bits.leading_zeros() as usize
            }
        };

        // Soft-deleted rows are visible only to queries that mention `deleted_at`.
        let mut include_deleted = vec![false; n];
        for p in where_preds.iter().chain(on_preds.iter().flatten()) {
            p.expr.visit(&mut |e| {
                if let Expr::Column { source, path, .. } = e {
                    if path[0] == "deleted_at" {
                        include_deleted[*source] = true;
                    }
                }
            });
        }

        let mut filters: Vec<Vec<Pred>> = (0..n).map(|_| Vec::new()).collect();
        let mut joins: Vec<JoinPlan> = join_kinds
            .iter()
            .map(|k| JoinPlan {
                kind: *k,
                left_keys: vec![],
                right_keys: vec![],
                key_texts: vec![],
                on_residual: vec![],
                after: vec![],
            })
            .collect();
        let mut post: Vec<Pred> = Vec::new();
        let mut pool: Vec<Pred> = Vec::new();
        for p in where_preds {
            let bits = p.expr.sources();
            if bits.count_ones() <= 1 && !nullable[highest(bits)] && n > 0 {
                filters[highest(bits)].push(p);
            } else {
                pool.push(p);
            }
        }
        // ON conditions: inner joins behave like WHERE; LEFT JOIN conditions belong to the match.
        for (j, preds) in on_preds.iter_mut().enumerate() {
            let right = j + 1;
            for p in std::mem::take(preds) {
                let bits = p.expr.sources();
                if joins[j].kind == JoinKind::Inner {
                    if bits.count_ones() <= 1 && !nullable[highest(bits)] {
                        filters[highest(bits)].push(p);
                    } else {
                        pool.push(p);
                    }
                } else if bits == 1 << right {
                    filters[right].push(p);
                } else if let Some((l, r)) = equi_key(&p.expr, right) {
                    joins[j].left_keys.push(l);
                    joins[j].right_keys.push(r);
                    joins[j].key_texts.push(p.text.clone());
                } else if highest(bits) <= right {
                    joins[j].on_residual.push(p);
                } else {
                    return Err(Error::SqlSyntax(format!(
                        "JOIN condition `{}` refers to a table joined later",
                        p.text
                    )));
                }
            }
        }
        for p in pool {
            let bits = p.expr.sources();
            let at = highest(bits);
            if at == 0 {
                post.push(p);
                continue;
            }
            let j = at - 1;
            if joins[j].kind == JoinKind::Inner {
                if let Some((l, r)) = equi_key(&p.expr, at) {
                    joins[j].left_keys.push(l);
                    joins[j].right_keys.push(r);
                    joins[j].key_texts.push(p.text.clone());
                    continue;
                }
            }
            joins[j].after.push(p);
        }
        if let Some(j) = joins.iter().position(|j| j.left_keys.is_empty()) {
            return unsupported(format!(
                "JOIN of `{}` without an equality to the tables before it (a cross join); join ON a.x = b.y",
                self.sources[j + 1].alias
            ));
        }

        // Slots each source's pushed-down filter reads (decoded first, before the rest).
        let mut plans = Vec::with_capacity(n);
        for (s, filter) in filters.into_iter().enumerate() {
            let src = &self.sources[s];
            let mut filter_slots = vec![false; src.needed.len()];
            for p in &filter {
                p.expr.visit(&mut |x| {
                    if let Expr::Column { source, slot, .. } = x {
                        if *source == s {
                            filter_slots[*slot] = true;
                        }
                    }
                });
            }
            let mut plan = SourcePlan {
                table: src.table.clone(),
                alias: src.alias.clone(),
                fields: src.needed.clone(),
                filter_slots,
                include_deleted: include_deleted[s],
                filter,
                access: Access::FullScan,
                estimate: 0,
            };
            choose_access(self.reader, &mut plan, s, &src.schema.indexed_fields)?;
            if let (0, Some(v)) = (s, &self.vector) {
                let score_slot = src
                    .needed
                    .iter()
                    .position(|f| f == SCORE_COLUMN)
                    .unwrap_or(0);
                let base = std::mem::replace(&mut plan.access, Access::Empty);
                plan.access = Access::Vector(Box::new(VectorAccess {
                    text: v.text.clone(),
                    field: v.field.clone(),
                    written: v.written.clone(),
                    k: offset.saturating_add(limit.unwrap_or(DEFAULT_VECTOR_LIMIT)),
                    base,
                    id_slot: src.needed.iter().position(|f| f == "id").unwrap_or(0),
                    score_slot,
                }));
            }
            plans.push(plan);
        }
        // Conditions on no table at all (constants) guard the driving scan.
        if !post.is_empty() {
            if let Some(first) = plans.first_mut() {
                first.filter.extend(post);
            } else {
                return finish_plan(
                    plans, joins, group, columns, outputs, distinct, order, limit, offset, post,
                );
            }
        }
        finish_plan(
            plans,
            joins,
            group,
            columns,
            outputs,
            distinct,
            order,
            limit,
            offset,
            Vec::new(),
        )
    }
}

struct SelectPlanParts {
    where_preds: Vec<Pred>,
    on_preds: Vec<Vec<Pred>>,
    join_kinds: Vec<JoinKind>,
    group: Option<GroupPlan>,
    columns: Vec<String>,
    outputs: Vec<Expr>,
    distinct: bool,
    order: Vec<SortKey>,
    limit: Option<usize>,
    offset: usize,
}

#[allow(clippy::too_many_arguments)]
fn finish_plan(
    sources: Vec<SourcePlan>,
    joins: Vec<JoinPlan>,
    group: Option<GroupPlan>,
    columns: Vec<String>,
    outputs: Vec<Expr>,
    distinct: bool,
    order: Vec<SortKey>,
    limit: Option<usize>,
    offset: usize,
    constant_filter: Vec<Pred>,
) -> Result<SelectPlan> {
    // Rows come out of a full scan in id order, and joins keep the driving order.
    let presorted = matches!(order.as_slice(), [k] if !k.desc
        && matches!(&k.expr, Expr::Column { source: 0, path, .. } if path.len() == 1 && path[0] == "id")
        && sources.first().is_some_and(|s| s.access == Access::FullScan));
    let mut plan = SelectPlan {
        sources,
        joins,
        group,
        columns,
        outputs,
        distinct,
        order,
        presorted,
        limit,
        offset,
    };
    if !constant_filter.is_empty() {
        // No FROM: a false constant WHERE yields no row.
        for p in constant_filter {
            if p.expr.eval_const()? != Value::Bool(true) {
                plan.limit = Some(0);
            }
        }
    }
    Ok(plan)
}

/// `left = right` where one side reads only `right_source` and the other only earlier sources.
fn equi_key(e: &Expr, right_source: usize) -> Option<(Expr, Expr)> {
    let Expr::Cmp(CmpOp::Eq, a, b) = e else {
        return None;
    };
    let (ab, bb) = (a.sources(), b.sources());
    let right = 1u64 << right_source;
    let before = right - 1;
    if ab == right && bb != 0 && bb & !before == 0 {
        Some(((**b).clone(), (**a).clone()))
    } else if bb == right && ab != 0 && ab & !before == 0 {
        Some(((**a).clone(), (**b).clone()))
    } else {
        None
    }
}

fn arity(min: usize, max: usize) -> String {
    match (min, max) {
        (a, b) if a == b => format!("{a} argument{}", if a == 1 { "" } else { "s" }),
        (a, usize::MAX) => format!("at least {a} argument{}", if a == 1 { "" } else { "s" }),
        (a, b) => format!("{a} to {b} arguments"),
    }
}

fn cast_type(t: &ast::DataType) -> Result<CastType> {
    let name = t.to_string().to_ascii_uppercase();
    let base = name.split('(').next().unwrap_or("").trim();
    Ok(match base {
        "TEXT" | "VARCHAR" | "STRING" | "CHAR" | "CHARACTER VARYING" => CastType::Text,
        "INT" | "INTEGER" | "BIGINT" | "SMALLINT" | "INT8" | "INT4" => CastType::Integer,
        "FLOAT" | "REAL" | "DOUBLE" | "DOUBLE PRECISION" | "NUMERIC" | "DECIMAL" | "FLOAT8" => {
            CastType::Float
        }
        "BOOL" | "BOOLEAN" => CastType::Boolean,
        "TIMESTAMP" | "TIMESTAMPTZ" | "DATETIME" => CastType::Timestamp,
        _ => {
            return unsupported(format!(
                "CAST to {name}; use TEXT, INTEGER, FLOAT, BOOLEAN or TIMESTAMP"
            ))
        }
    })
}

/// Output names must be unique to become object keys: later duplicates get `_2`, `_3`, ...
fn dedupe_names(columns: &mut [String]) {
    for i in 1..columns.len() {
        if columns[..i].contains(&columns[i]) {
            let base = columns[i].clone();
            let mut k = 2;
            while columns.contains(&format!("{base}_{k}")) {
                k += 1;
            }
            columns[i] = format!("{base}_{k}");
        }
    }
}

fn check_wildcard(opts: &ast::WildcardAdditionalOptions) -> Result<()> {
    if opts.opt_ilike.is_some()
        || opts.opt_exclude.is_some()
        || opts.opt_except.is_some()
        || opts.opt_replace.is_some()
        || opts.opt_rename.is_some()
    {
        return unsupported("`*` modifiers (EXCLUDE, EXCEPT, REPLACE, RENAME, ILIKE)");
    }
    Ok(())
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

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("7 days").unwrap().micros, 7 * 86_400_000_000);
        assert_eq!(
            parse_interval("1 hour 30 minutes").unwrap().micros,
            90 * 60_000_000
        );
        assert_eq!(parse_interval("2 MONTHS").unwrap().months, 2);
        assert_eq!(parse_interval("1 year").unwrap().months, 12);
        assert!(parse_interval("7").is_err());
        assert!(parse_interval("seven days").is_err());
        assert!(parse_interval("1 fortnight").is_err());
    }

    #[test]
    fn duplicate_output_names_get_suffixes() {
        let mut c = vec![
            "id".to_string(),
            "id".to_string(),
            "id_2".to_string(),
            "id".to_string(),
        ];
        dedupe_names(&mut c);
        assert_eq!(c, ["id", "id_3", "id_2", "id_4"]);
    }
}
