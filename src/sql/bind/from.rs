//! FROM and JOIN: the tables of the query, their aliases and columns, and name resolution of
//! column references against them.

use std::sync::Arc;

use sqlparser::ast;

use super::{unsupported, Binder};
use crate::error::{Error, Result};
use crate::sql::expr::Expr;
use crate::sql::plan::JoinKind;
use crate::store::entity::SYSTEM_FIELDS;
use crate::store::schema::CompiledSchema;

/// Most tables one query may name (sources are tracked in a 64-bit set).
const MAX_SOURCES: usize = 63;

/// A table in FROM, as the binder sees it.
pub(super) struct Source {
    pub(super) table: String,
    pub(super) alias: String,
    pub(super) schema: Arc<CompiledSchema>,
    /// `id`, the schema's properties, then the other system fields.
    pub(super) columns: Vec<String>,
    /// Top-level fields the query reads, in slot order.
    pub(super) needed: Vec<String>,
}

impl Source {
    fn new(table: String, alias: String, schema: Arc<CompiledSchema>) -> Self {
        let mut columns = vec!["id".to_string()];
        columns.extend(schema.info.fields.iter().cloned());
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
    pub(super) fn slot(&mut self, field: &str) -> usize {
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

/// The kind and the ON condition of each JOIN, in order.
pub(super) type Joins<'q> = Vec<(JoinKind, &'q ast::Expr)>;

impl Binder<'_, '_> {
    /// Adds the tables of FROM and its JOINs as sources; returns each join's kind and ON.
    pub(super) fn bind_from<'q>(&mut self, from: &'q [ast::TableWithJoins]) -> Result<Joins<'q>> {
        let mut joins = Vec::new();
        match from {
            [] => {}
            [from] => {
                self.add_source(&from.relation)?;
                for join in &from.joins {
                    let (kind, on) = join_kind(join)?;
                    self.add_source(&join.relation)?;
                    joins.push((kind, on));
                }
            }
            _ => {
                return unsupported(
                    "comma-separated tables in FROM (implicit cross join); use JOIN ... ON",
                )
            }
        }
        if self.sources.len() > MAX_SOURCES {
            return unsupported(format!("more than {MAX_SOURCES} tables in one query"));
        }
        Ok(joins)
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

    /// The source named `name` (its alias, or its table when it has none).
    pub(super) fn source_by_alias(&self, name: &ast::Ident) -> Option<usize> {
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

    /// A column reference (`col`, `alias.col`, `col.path`, `alias.col.path`) as a column of
    /// one source, giving it a slot.
    pub(super) fn resolve(&mut self, parts: &[ast::Ident]) -> Result<Expr> {
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
                return Ok(self.column(s, field, &parts[2..]));
            }
        }
        let found: Vec<(usize, String)> = self
            .sources
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.column(&parts[0]).map(|c| (i, c)))
            .collect();
        match found.as_slice() {
            [(s, field)] => Ok(self.column(*s, field.clone(), &parts[1..])),
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

    /// Whether the lone identifier `name` is a column of any table in FROM (the test of
    /// SQLite's rule that a double-quoted name which is not a column is a string).
    pub(super) fn names_column(&self, name: &ast::Ident) -> bool {
        self.sources.iter().any(|s| s.column(name).is_some())
    }

    /// Top-level `field` of source `s`, followed by the nested `path`.
    fn column(&mut self, s: usize, field: String, path: &[ast::Ident]) -> Expr {
        let slot = self.sources[s].slot(&field);
        let mut full = vec![field];
        full.extend(path.iter().map(|p| p.value.clone()));
        Expr::Column {
            source: s,
            slot,
            path: full,
        }
    }
}

/// The kind of `join` and its ON condition; other forms are errors that name them.
fn join_kind(join: &ast::Join) -> Result<(JoinKind, &ast::Expr)> {
    if join.global {
        return unsupported("GLOBAL JOIN");
    }
    let (kind, constraint) = match &join.join_operator {
        ast::JoinOperator::Join(c) | ast::JoinOperator::Inner(c) => (JoinKind::Inner, c),
        ast::JoinOperator::Left(c) | ast::JoinOperator::LeftOuter(c) => (JoinKind::Left, c),
        ast::JoinOperator::Right(_) | ast::JoinOperator::RightOuter(_) => {
            return unsupported("RIGHT JOIN; swap the tables and use LEFT JOIN")
        }
        ast::JoinOperator::FullOuter(_) => return unsupported("FULL OUTER JOIN"),
        ast::JoinOperator::CrossJoin(_) => return unsupported("CROSS JOIN; join on an equality"),
        _ => return unsupported("this kind of JOIN; use [INNER] JOIN or LEFT JOIN ... ON"),
    };
    let on = match constraint {
        ast::JoinConstraint::On(e) => e,
        ast::JoinConstraint::Using(_) | ast::JoinConstraint::UsingAlias(..) => {
            return unsupported("JOIN ... USING; write JOIN ... ON a.x = b.x")
        }
        ast::JoinConstraint::Natural => return unsupported("NATURAL JOIN"),
        ast::JoinConstraint::None => return unsupported("JOIN without ON; join on an equality"),
    };
    Ok((kind, on))
}
