//! WHERE and JOIN ... ON: conditions bound and split into conjuncts, each kept with the SQL text
//! it came from. Where each conjunct is checked is the optimizer's choice.

use sqlparser::ast;

use super::from::Joins;
use super::{Binder, Ctx};
use crate::error::Result;
use crate::sql::expr::Expr;
use crate::sql::plan::Pred;

impl Binder<'_, '_> {
    /// The conjuncts of WHERE.
    pub(super) fn where_clause(&mut self, selection: Option<&ast::Expr>) -> Result<Vec<Pred>> {
        match selection {
            Some(w) => self.conditions(w, "WHERE"),
            None => Ok(Vec::new()),
        }
    }

    /// The conjuncts of each join's ON, in join order.
    pub(super) fn on_clauses(&mut self, joins: &Joins<'_>) -> Result<Vec<Vec<Pred>>> {
        joins
            .iter()
            .map(|(_, on)| self.conditions(on, "JOIN ... ON"))
            .collect()
    }

    /// Binds `condition` as a list of conjuncts; each keeps the text of the top-level `AND`
    /// operand it came from.
    fn conditions(&mut self, condition: &ast::Expr, clause: &'static str) -> Result<Vec<Pred>> {
        let mut parts = Vec::new();
        split_ast(condition, &mut parts);
        let mut preds = Vec::new();
        for part in parts {
            let expr = self.bind(&part, Ctx::Scalar(clause))?;
            let mut split = Vec::new();
            conjuncts(expr, &mut split);
            let text = part.to_string();
            preds.extend(split.into_iter().map(|expr| Pred {
                expr,
                text: text.clone(),
            }));
        }
        Ok(preds)
    }
}

/// The operands of a bound chain of `AND`s.
fn conjuncts(e: Expr, out: &mut Vec<Expr>) {
    match e {
        Expr::And(a, b) => {
            conjuncts(*a, out);
            conjuncts(*b, out);
        }
        other => out.push(other),
    }
}

/// The operands of a written chain of `AND`s, looking through parentheses around an `AND`.
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
