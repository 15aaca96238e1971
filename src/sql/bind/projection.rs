//! The select list: `*`, `alias.*` and expressions, with the output column names.

use sqlparser::ast;

use super::{unsupported, Binder, Ctx};
use crate::error::{Error, Result};
use crate::sql::expr::Expr;

/// The output columns of a select list: unique names and the expressions that compute them.
#[derive(Default)]
pub(super) struct Projection {
    pub(super) columns: Vec<String>,
    pub(super) outputs: Vec<Expr>,
}

impl Projection {
    fn push(&mut self, name: String, expr: Expr) {
        self.columns.push(name);
        self.outputs.push(expr);
    }
}

impl Binder<'_, '_> {
    /// Binds the select list in `ctx`; `grouped` rules out `*`.
    pub(super) fn projection(
        &mut self,
        items: &[ast::SelectItem],
        grouped: bool,
        ctx: Ctx,
    ) -> Result<Projection> {
        let mut out = Projection::default();
        for item in items {
            match item {
                ast::SelectItem::Wildcard(opts) => {
                    check_wildcard(opts, grouped)?;
                    if self.sources.is_empty() {
                        return Err(Error::SqlSyntax("`SELECT *` needs a FROM clause".into()));
                    }
                    let qualify = self.sources.len() > 1;
                    for s in 0..self.sources.len() {
                        self.all_columns(s, qualify, &mut out);
                    }
                }
                ast::SelectItem::QualifiedWildcard(kind, opts) => {
                    check_wildcard(opts, grouped)?;
                    let s = self.wildcard_source(kind)?;
                    self.all_columns(s, false, &mut out);
                }
                ast::SelectItem::UnnamedExpr(e) => {
                    let expr = self.bind(e, ctx)?;
                    out.push(self.column_name(e), expr);
                }
                ast::SelectItem::ExprWithAlias { expr, alias } => {
                    let expr = self.bind(expr, ctx)?;
                    out.push(alias.value.clone(), expr);
                }
                ast::SelectItem::ExprWithAliases { .. } => {
                    return unsupported("multiple aliases for one column")
                }
            }
        }
        dedupe_names(&mut out.columns);
        Ok(out)
    }

    /// Every column of source `s`, named `alias.column` when `qualify`.
    fn all_columns(&mut self, s: usize, qualify: bool, out: &mut Projection) {
        for c in self.sources[s].columns.clone() {
            let slot = self.sources[s].slot(&c);
            let name = if qualify {
                format!("{}.{c}", self.sources[s].alias)
            } else {
                c.clone()
            };
            out.push(
                name,
                Expr::Column {
                    source: s,
                    slot,
                    path: vec![c],
                },
            );
        }
    }

    /// The source `alias.*` names.
    fn wildcard_source(&self, kind: &ast::SelectItemQualifiedWildcardKind) -> Result<usize> {
        let name = match kind {
            ast::SelectItemQualifiedWildcardKind::ObjectName(n) if n.0.len() == 1 => {
                match &n.0[0] {
                    ast::ObjectNamePart::Identifier(i) => i.clone(),
                    _ => return unsupported(format!("`{n}.*`")),
                }
            }
            other => return unsupported(format!("`{other}.*`")),
        };
        self.source_by_alias(&name).ok_or_else(|| {
            Error::SqlSyntax(format!(
                "`{}.*`: no table or alias `{}` in FROM",
                name.value, name.value
            ))
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

fn check_wildcard(opts: &ast::WildcardAdditionalOptions, grouped: bool) -> Result<()> {
    if opts.opt_ilike.is_some()
        || opts.opt_exclude.is_some()
        || opts.opt_except.is_some()
        || opts.opt_replace.is_some()
        || opts.opt_rename.is_some()
    {
        return unsupported("`*` modifiers (EXCLUDE, EXCEPT, REPLACE, RENAME, ILIKE)");
    }
    if grouped {
        return Err(Error::SqlSyntax(
            "`*` cannot be used with GROUP BY or aggregates".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
