//! GROUP BY, aggregates and HAVING. In a grouped query, slots `0..keys` hold the group keys and
//! the slots after them the aggregates, in the order they are first met.

use sqlparser::ast;

use super::{Binder, Ctx};
use crate::error::{Error, Result};
use crate::sql::expr::Expr;
use crate::sql::plan::{AggFunc, Aggregate, Pred};

/// The aggregate function called `name` (any case).
pub(super) fn is_aggregate_name(name: &str) -> Option<AggFunc> {
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
pub(super) fn contains_aggregate(e: &ast::Expr) -> bool {
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

/// Whether the query groups: it has GROUP BY or HAVING, or aggregates in its select list or
/// ORDER BY.
pub(super) fn is_grouped(
    select: &ast::Select,
    order: &[&ast::OrderByExpr],
    has_keys: bool,
) -> bool {
    has_keys
        || select.having.is_some()
        || select.projection.iter().any(|item| match item {
            ast::SelectItem::UnnamedExpr(e) | ast::SelectItem::ExprWithAlias { expr: e, .. } => {
                contains_aggregate(e)
            }
            _ => false,
        })
        || order.iter().any(|o| contains_aggregate(&o.expr))
}

impl Binder<'_, '_> {
    /// Binds the GROUP BY keys (expressions, output aliases or positions) into the group slots;
    /// returns their texts.
    pub(super) fn group_by(&mut self, select: &ast::Select) -> Result<Vec<String>> {
        let group_asts: Vec<ast::Expr> = match &select.group_by {
            ast::GroupByExpr::Expressions(exprs, modifiers) => {
                if !modifiers.is_empty() {
                    return super::unsupported("GROUP BY modifiers (ROLLUP, CUBE, ...)");
                }
                exprs
                    .iter()
                    .map(|e| self.output_reference(e, &select.projection))
                    .collect::<Result<_>>()?
            }
            ast::GroupByExpr::All(_) => return super::unsupported("GROUP BY ALL"),
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
        Ok(key_texts)
    }

    /// HAVING, bound over the groups.
    pub(super) fn having(&mut self, having: Option<&ast::Expr>) -> Result<Option<Pred>> {
        having
            .map(|h| {
                Ok(Pred {
                    expr: self.bind(h, Ctx::Grouped)?,
                    text: h.to_string(),
                })
            })
            .transpose()
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

    /// An aggregate call in a grouped context: its slot, shared with an identical earlier call.
    pub(super) fn bind_aggregate(
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
}
