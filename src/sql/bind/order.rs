//! ORDER BY (output positions, output aliases or expressions), LIMIT and OFFSET.

use sqlparser::ast;

use super::projection::Projection;
use super::{unsupported, Binder, Ctx};
use crate::error::{Error, Result};
use crate::sql::expr::Expr;
use crate::sql::plan::SortKey;

/// The ORDER BY items of `query`, as written.
pub(super) fn order_items(query: &ast::Query) -> Result<Vec<&ast::OrderByExpr>> {
    match query.order_by.as_ref().map(|o| &o.kind) {
        None => Ok(Vec::new()),
        Some(ast::OrderByKind::Expressions(exprs)) => Ok(exprs.iter().collect()),
        Some(ast::OrderByKind::All(_)) => unsupported("ORDER BY ALL"),
    }
}

impl Binder<'_, '_> {
    /// Binds the ORDER BY keys in `ctx`: a number is an output position, a name that is an
    /// output alias (and not a column, or only an alias) is that output.
    pub(super) fn order_by(
        &mut self,
        items: &[&ast::OrderByExpr],
        select_list: &[ast::SelectItem],
        projection: &Projection,
        ctx: Ctx,
    ) -> Result<Vec<SortKey>> {
        let columns = &projection.columns;
        let mut order = Vec::new();
        for o in items {
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
                    if n == 0 || n > projection.outputs.len() {
                        return Err(Error::SqlSyntax(format!(
                            "ORDER BY position {n} is not in the select list (1–{})",
                            projection.outputs.len()
                        )));
                    }
                    Expr::Output(n - 1)
                }
                ast::Expr::Identifier(i)
                    if columns.contains(&i.value)
                        && (is_alias_only(i, select_list)
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
        Ok(order)
    }

    /// LIMIT (`None`: no limit) and OFFSET (0 when absent).
    pub(super) fn limit_offset(
        &mut self,
        clause: Option<&ast::LimitClause>,
    ) -> Result<(Option<usize>, usize)> {
        let (mut limit, mut offset) = (None, 0);
        match clause {
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
        Ok((limit, offset))
    }
}

/// `true` when `i` names an output alias that is not also a column (PostgreSQL prefers the
/// output name in ORDER BY).
fn is_alias_only(i: &ast::Ident, select_list: &[ast::SelectItem]) -> bool {
    select_list.iter().any(
        |item| matches!(item, ast::SelectItem::ExprWithAlias { alias, .. } if alias.value == i.value),
    )
}
