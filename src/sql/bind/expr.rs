//! Expression binding: literals and parameters, operators, IS / IN / BETWEEN / LIKE / CASE /
//! CAST and intervals, with constant folding. Function calls are bound in `function.rs`.

use serde_json::Value;
use sqlparser::ast;

use super::group::contains_aggregate;
use super::{unsupported, Binder, Ctx};
use crate::error::{Error, Result};
use crate::sql::expr::{CastType, Expr, Interval};
use crate::sql::value::{ArithOp, CmpOp, LikePattern};

/// Query parameters (`$1`, `?`) and how they are being used.
pub(super) struct Params<'p> {
    values: &'p [Value],
    /// The highest parameter number the query has used.
    highest: usize,
    next: usize,
    numbered: bool,
    positional: bool,
}

impl<'p> Params<'p> {
    /// The parameters `values`, none used yet.
    pub(super) fn new(values: &'p [Value]) -> Self {
        Params {
            values,
            highest: 0,
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
        self.highest = self.highest.max(index);
        self.values.get(index - 1).cloned().ok_or_else(|| {
            Error::InvalidArgument(format!(
                "the query uses parameter {index} but {} were given",
                self.values.len()
            ))
        })
    }
}

impl Params<'_> {
    /// Fails when more parameters were given than the query uses: a value meant for a `$n`
    /// the query does not have is a mistake, not something to ignore.
    pub(super) fn check_all_used(&self) -> Result<()> {
        if self.values.len() <= self.highest {
            return Ok(());
        }
        let uses = match self.highest {
            0 => "none".to_string(),
            1 => "1 ($1 or one ?)".to_string(),
            n => format!("{n} ($1 to ${n})"),
        };
        Err(Error::InvalidArgument(format!(
            "{} parameter{} given but the query uses {uses}",
            self.values.len(),
            if self.values.len() == 1 { "" } else { "s" },
        )))
    }
}

/// The `IS [NOT] NULL / TRUE / FALSE` tests.
enum IsTest {
    Null,
    Bool(bool),
}

impl Binder<'_, '_> {
    /// Binds `e`, folding it to a literal when it reads nothing.
    pub(super) fn bind(&mut self, e: &ast::Expr, ctx: Ctx) -> Result<Expr> {
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
            // SQLite's rule: a double-quoted name that is no column is a string literal.
            A::Identifier(i) if i.quote_style == Some('"') && !self.names_column(i) => {
                Expr::Literal(Value::String(i.value.clone()))
            }
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
            A::IsNull(x) => self.bind_is(x, IsTest::Null, false, ctx)?,
            A::IsNotNull(x) => self.bind_is(x, IsTest::Null, true, ctx)?,
            A::IsTrue(x) => self.bind_is(x, IsTest::Bool(true), false, ctx)?,
            A::IsNotTrue(x) => self.bind_is(x, IsTest::Bool(true), true, ctx)?,
            A::IsFalse(x) => self.bind_is(x, IsTest::Bool(false), false, ctx)?,
            A::IsNotFalse(x) => self.bind_is(x, IsTest::Bool(false), true, ctx)?,
            A::In {
                expr,
                target,
                negated,
                global: false,
            } => self.bind_in(e, expr, target, *negated, ctx)?,
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
            A::Floor { expr, field } | A::Ceil { expr, field } => {
                let func = if matches!(e, A::Floor { .. }) {
                    crate::sql::expr::Func::Floor
                } else {
                    crate::sql::expr::Func::Ceil
                };
                match field {
                    ast::CeilFloorKind::DateTimeField(ast::DateTimeField::NoDateTime) => {
                        Expr::Func {
                            func,
                            args: vec![self.bind(expr, ctx)?],
                        }
                    }
                    _ => {
                        return unsupported(format!(
                            "`{e}`: FLOOR and CEIL take one number (no scale, no TO field)"
                        ))
                    }
                }
            }
            A::Case {
                operand,
                conditions,
                else_result,
                ..
            } => self.bind_case(operand.as_deref(), conditions, else_result.as_deref(), ctx)?,
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
            other => return unsupported(format!("expression `{}`", clipped(other))),
        })
    }

    fn literal(&mut self, v: &ast::Value) -> Result<Value> {
        Ok(match v {
            ast::Value::Number(n, _) => {
                let v = serde_json::from_str::<Value>(n)
                    .ok()
                    .filter(Value::is_number)
                    .ok_or_else(|| Error::SqlSyntax(format!("number `{n}` is out of range")))?;
                // serde_json reads an integer past 64 bits as the nearest float: refuse it
                // rather than compute with a different number than the one written.
                if n.bytes().all(|c| c.is_ascii_digit()) && v.is_f64() {
                    return Err(Error::SqlType(format!(
                        "integer {n} does not fit in 64 bits; write {n}.0 for a floating-point number"
                    )));
                }
                v
            }
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

    fn bind_is(&mut self, x: &ast::Expr, test: IsTest, negated: bool, ctx: Ctx) -> Result<Expr> {
        let expr = self.bind(x, ctx)?.boxed();
        Ok(match test {
            IsTest::Null => Expr::IsNull { expr, negated },
            IsTest::Bool(value) => Expr::IsBool {
                expr,
                value,
                negated,
            },
        })
    }

    fn bind_in(
        &mut self,
        e: &ast::Expr,
        expr: &ast::Expr,
        target: &ast::InTarget,
        negated: bool,
        ctx: Ctx,
    ) -> Result<Expr> {
        match target {
            ast::InTarget::List(list) => {
                let list = list
                    .iter()
                    .map(|x| self.bind(x, ctx))
                    .collect::<Result<Vec<_>>>()?;
                Ok(Expr::In {
                    expr: self.bind(expr, ctx)?.boxed(),
                    list,
                    negated,
                })
            }
            ast::InTarget::Subquery(_) => unsupported("subqueries (IN (SELECT ...))"),
            _ => unsupported(format!("`{e}`; IN takes a list of values")),
        }
    }

    fn bind_case(
        &mut self,
        operand: Option<&ast::Expr>,
        conditions: &[ast::CaseWhen],
        else_result: Option<&ast::Expr>,
        ctx: Ctx,
    ) -> Result<Expr> {
        let operand = operand
            .map(|o| self.bind(o, ctx).map(Expr::boxed))
            .transpose()?;
        let branches = conditions
            .iter()
            .map(|w| Ok((self.bind(&w.condition, ctx)?, self.bind(&w.result, ctx)?)))
            .collect::<Result<Vec<_>>>()?;
        let otherwise = else_result
            .map(|x| self.bind(x, ctx).map(Expr::boxed))
            .transpose()?;
        Ok(Expr::Case {
            operand,
            branches,
            otherwise,
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
}

/// The text of `e`, cut to its first 60 characters.
fn clipped(e: &ast::Expr) -> String {
    let text = e.to_string();
    match text.char_indices().nth(60) {
        Some((i, _)) if text.len() > 60 => text[..i].to_string(),
        _ => text,
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

/// Parses an interval such as `7 days`, `1 hour 30 minutes`, `2 weeks`, `1 month`.
fn parse_interval(text: &str) -> Result<Interval> {
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
}
