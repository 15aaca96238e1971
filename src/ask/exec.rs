//! Compiles a validated plan's stages into remdb's own queries and runs them: select and
//! search stages become parameterised SQL (identifiers checked against the schemas and
//! quoted, every value a `$n` parameter, so nothing in a plan reaches the SQL text), traverse
//! and path stages graph walks, lookup stages the lookup ladder. Everything is read-only.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::lookup::{lookup_fuzzy, Lookup, LookupOptions, LookupStatus, VectorRung};
use super::plan::{
    time_field, AggregateFn, Direction, Filter, Op, Plan, Returns, Stage, TimeFilter,
};
use crate::budget::Budget;
use crate::error::{Error, Result};
use crate::graph::{PathOptions, TraverseOptions};
use crate::sql::{QueryResult, QueryText, QueryVectors};
use crate::store::{EdgeDirection, Row, TableSchema, TenantStore};

/// Default rows of a select stage.
pub const DEFAULT_LIMIT: u64 = 50;
/// Default hits of a search stage.
pub const DEFAULT_K: u64 = 10;
/// Most entities a traverse or select stage takes from the stage before it.
pub const MAX_CARRIED_IDS: usize = 500;

/// What one executed stage did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageReport {
    /// `lookup`, `select`, `search`, `traverse`, `path` (`fallback ...` for a fallback).
    pub kind: String,
    /// The query it ran: SQL with `$n` parameters, a `TRAVERSE`, or the looked-up text.
    pub query: String,
    /// The parameters of `query`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<Value>,
    /// Rows it produced.
    pub rows: usize,
}

/// The result of running a plan.
#[derive(Debug, Clone, Default)]
pub(crate) struct Execution {
    /// The answer's rows.
    pub rows: Vec<Row>,
    /// One report per executed stage.
    pub stages: Vec<StageReport>,
    /// The first lookup stage's result.
    pub lookup: Option<Lookup>,
    /// Best and second-best vector score of the last search stage.
    pub scores: Option<(f64, f64)>,
    /// The answer came from the fallback stage.
    pub used_fallback: bool,
    /// The last search fused vector and keyword rankings: its scores are reciprocal-rank sums.
    pub fused: bool,
}

/// Running needs query vectors it does not have (only when embedding inline is off).
pub(crate) struct Pending(pub Vec<QueryText>);

/// A stage failed: which one, and why.
pub(crate) struct StageError {
    pub stage: usize,
    pub error: Error,
}

pub(crate) enum Outcome {
    Done(Execution),
    Pending(Pending),
    Failed(StageError),
}

/// Runs plans over one tenant.
pub(crate) struct Runner<'a> {
    pub store: &'a TenantStore,
    pub schemas: &'a BTreeMap<String, TableSchema>,
    pub budget: Budget,
    pub vectors: &'a QueryVectors,
    /// Embed missing query vectors synchronously (native); otherwise report them as pending.
    pub embed_inline: bool,
}

/// A QueryResult's rows as JSON objects (column → value).
pub(crate) fn rows_of(result: &QueryResult) -> Vec<Row> {
    result
        .rows
        .iter()
        .map(|values| {
            result
                .columns
                .iter()
                .cloned()
                .zip(values.iter().cloned())
                .collect::<Map<String, Value>>()
        })
        .collect()
}

/// A name quoted with backticks: always a name in remdb's SQL, never a string (double quotes
/// may read as a string when no column has the name).
fn quote(ident: &str) -> String {
    format!("`{}`", ident.replace('`', "``"))
}

/// Builds a WHERE clause and its parameters.
struct Where {
    conditions: Vec<String>,
    params: Vec<Value>,
}

impl Where {
    fn new() -> Self {
        Where {
            conditions: Vec::new(),
            params: Vec::new(),
        }
    }

    fn param(&mut self, v: Value) -> String {
        self.params.push(v);
        format!("${}", self.params.len())
    }

    fn filter(&mut self, f: &Filter) {
        let col = quote(&f.field);
        let cond = match (f.op, &f.value) {
            (Op::In, Value::Array(values)) => {
                let list: Vec<String> = values.iter().map(|v| self.param(v.clone())).collect();
                format!("{col} IN ({})", list.join(", "))
            }
            (Op::Contains, Value::String(s)) => {
                let escaped = s
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_");
                let p = self.param(Value::String(format!("%{escaped}%")));
                format!("{col} ILIKE {p} ESCAPE '\\'")
            }
            (op, v) => {
                let sym = match op {
                    Op::Eq => "=",
                    Op::Ne => "<>",
                    Op::Lt => "<",
                    Op::Le => "<=",
                    Op::Gt => ">",
                    Op::Ge => ">=",
                    Op::In | Op::Contains => "=",
                };
                let p = self.param(v.clone());
                format!("{col} {sym} {p}")
            }
        };
        self.conditions.push(cond);
    }

    fn time(&mut self, schema: &TableSchema, t: &TimeFilter) {
        let field = t.field.clone().unwrap_or_else(|| time_field(schema));
        let col = quote(&field);
        if let Some(s) = &t.start {
            let p = self.param(Value::String(s.clone()));
            self.conditions.push(format!("{col} >= {p}"));
        }
        if let Some(e) = &t.end {
            let p = self.param(Value::String(e.clone()));
            self.conditions.push(format!("{col} < {p}"));
        }
    }

    fn ids(&mut self, ids: &[Uuid]) {
        let list: Vec<String> = ids
            .iter()
            .map(|id| self.param(Value::String(id.to_string())))
            .collect();
        self.conditions.push(format!("id IN ({})", list.join(", ")));
    }

    fn sql(&self) -> String {
        if self.conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.conditions.join(" AND "))
        }
    }
}

fn aggregate_sql(func: AggregateFn, field: Option<&str>) -> (String, String) {
    let name = match func {
        AggregateFn::Count => "count",
        AggregateFn::Sum => "sum",
        AggregateFn::Avg => "avg",
        AggregateFn::Min => "min",
        AggregateFn::Max => "max",
    };
    let arg = field.map_or_else(|| "*".to_string(), quote);
    let alias = match field {
        Some(f) if func != AggregateFn::Count => format!("{name}_{f}"),
        _ => name.to_string(),
    };
    (
        format!("{}({arg}) AS {}", name.to_uppercase(), quote(&alias)),
        alias,
    )
}

fn ids_of(rows: &[Row]) -> Vec<Uuid> {
    let mut seen = HashSet::new();
    rows.iter()
        .filter_map(|r| r.get("id").and_then(Value::as_str))
        .filter_map(|s| Uuid::parse_str(s).ok())
        .filter(|id| seen.insert(*id))
        .take(MAX_CARRIED_IDS)
        .collect()
}

impl Runner<'_> {
    fn vector_rung(&self) -> VectorRung {
        if self.embed_inline {
            VectorRung::Inline
        } else {
            VectorRung::Deferred
        }
    }

    /// Runs `plan`: its stages in order, then its fallback when they found nothing.
    pub fn run(&self, plan: &Plan) -> Outcome {
        let mut exec = Execution::default();
        let mut previous: Vec<Row> = Vec::new();
        let last = plan.stages.len().saturating_sub(1);
        for (i, stage) in plan.stages.iter().enumerate() {
            let count = i == last && plan.returns == Returns::Count;
            match self.stage(stage, &previous, count, &mut exec, "") {
                Ok(Some(rows)) => previous = rows,
                Ok(None) => return Outcome::Pending(Pending(self.pending_of(stage))),
                Err(error) => return Outcome::Failed(StageError { stage: i, error }),
            }
        }
        let empty = previous.is_empty()
            || (plan.returns == Returns::Count
                && previous
                    .first()
                    .and_then(|r| r.get("count"))
                    .and_then(Value::as_u64)
                    == Some(0));
        if empty {
            if let Some(fallback) = &plan.fallback {
                let count = plan.returns == Returns::Count;
                match self.stage(fallback, &[], count, &mut exec, "fallback ") {
                    Ok(Some(rows)) => {
                        if !rows.is_empty() {
                            exec.used_fallback = true;
                            previous = rows;
                        }
                    }
                    Ok(None) => return Outcome::Pending(Pending(self.pending_of(fallback))),
                    Err(error) => {
                        return Outcome::Failed(StageError {
                            stage: plan.stages.len(),
                            error,
                        })
                    }
                }
            }
        }
        exec.rows = previous;
        Outcome::Done(exec)
    }

    /// The query texts a stage needs that are not supplied.
    fn pending_of(&self, stage: &Stage) -> Vec<QueryText> {
        let mut out = Vec::new();
        match stage {
            Stage::Search { .. } => {
                if let Ok((sql, params)) = self.search_sql(stage, &[]) {
                    if let Ok(texts) = self.store.sql_query_texts(&sql, &params) {
                        out.extend(texts.into_iter().filter(|t| {
                            !self
                                .vectors
                                .contains_key(&(t.provider.clone(), t.text.clone()))
                        }));
                    }
                }
            }
            Stage::Lookup { .. } | Stage::Path { .. } => {
                let (text, tables) = match stage {
                    Stage::Lookup { text, tables } => (text, tables.clone()),
                    Stage::Path { to, .. } => (to, Vec::new()),
                    _ => return out,
                };
                let _ = lookup_fuzzy(
                    self.store,
                    self.schemas,
                    text,
                    &LookupOptions {
                        tables,
                        limit: None,
                    },
                    self.vectors,
                    VectorRung::Deferred,
                    &mut out,
                );
            }
            _ => {}
        }
        out
    }

    /// Runs one stage; `Ok(None)` when it needs query vectors it was not given.
    fn stage(
        &self,
        stage: &Stage,
        previous: &[Row],
        count: bool,
        exec: &mut Execution,
        label: &str,
    ) -> Result<Option<Vec<Row>>> {
        let kind = format!("{label}{}", stage.kind());
        let ids = ids_of(previous);
        match stage {
            Stage::Lookup { text, tables } => {
                let mut pending = Vec::new();
                let found = lookup_fuzzy(
                    self.store,
                    self.schemas,
                    text,
                    &LookupOptions {
                        tables: tables.clone(),
                        limit: None,
                    },
                    self.vectors,
                    self.vector_rung(),
                    &mut pending,
                )?;
                if found.status == LookupStatus::NotFound && !pending.is_empty() {
                    return Ok(None);
                }
                // A found entity answers alone; an ambiguous lookup answers with every candidate.
                let keep = match found.status {
                    LookupStatus::Found => 1,
                    _ => found.candidates.len(),
                };
                let rows: Vec<Row> = found
                    .candidates
                    .iter()
                    .take(keep)
                    .map(|c| with_table(c.row.clone(), &c.table))
                    .collect();
                exec.stages.push(StageReport {
                    kind,
                    query: format!("LOOKUP {}", sql_string(text)),
                    params: Vec::new(),
                    rows: rows.len(),
                });
                if exec.lookup.is_none() {
                    exec.lookup = Some(found);
                }
                Ok(Some(if count { count_rows(rows.len()) } else { rows }))
            }
            Stage::Select {
                table,
                filters,
                time,
                from_previous,
                group_by,
                aggregate,
                order_by,
                limit,
            } => {
                let schema = &self.schemas[table];
                let mut w = Where::new();
                for f in filters {
                    w.filter(f);
                }
                if let Some(t) = time {
                    w.time(schema, t);
                }
                if *from_previous {
                    if ids.is_empty() {
                        exec.stages.push(StageReport {
                            kind,
                            query: "(no ids from the stage before)".into(),
                            params: Vec::new(),
                            rows: 0,
                        });
                        return Ok(Some(if count { count_rows(0) } else { Vec::new() }));
                    }
                    w.ids(&ids);
                }
                let limit = limit.unwrap_or(DEFAULT_LIMIT);
                let sql = match (aggregate, group_by) {
                    (Some(a), group) => {
                        let (expr, alias) = aggregate_sql(a.func, a.field.as_deref());
                        match group {
                            Some(g) => {
                                let order = match order_by {
                                    Some(o) if o.field != "value" => {
                                        format!("{} {}", quote(&o.field), dir(o.desc))
                                    }
                                    Some(o) => format!("{} {}", quote(&alias), dir(o.desc)),
                                    None => format!("{} DESC", quote(&alias)),
                                };
                                format!(
                                    "SELECT {g_q}, {expr} FROM {t}{w} GROUP BY {g_q} ORDER BY {order}, {g_q} LIMIT {limit}",
                                    g_q = quote(g),
                                    t = quote(table),
                                    w = w.sql()
                                )
                            }
                            None => format!("SELECT {expr} FROM {}{}", quote(table), w.sql()),
                        }
                    }
                    (None, _) if count => {
                        format!(
                            "SELECT COUNT(*) AS `count` FROM {}{}",
                            quote(table),
                            w.sql()
                        )
                    }
                    (None, _) => {
                        let order = match order_by {
                            Some(o) => format!(" ORDER BY {} {}, id", quote(&o.field), dir(o.desc)),
                            None => String::new(),
                        };
                        format!(
                            "SELECT * FROM {}{}{order} LIMIT {limit}",
                            quote(table),
                            w.sql()
                        )
                    }
                };
                let result = self.store.sql(&sql, &w.params, &self.budget)?;
                let mut rows = rows_of(&result);
                if aggregate.is_none() && !count {
                    rows = rows.into_iter().map(|r| with_table(r, table)).collect();
                }
                exec.stages.push(StageReport {
                    kind,
                    query: sql,
                    params: w.params,
                    rows: rows.len(),
                });
                Ok(Some(rows))
            }
            Stage::Search { table, .. } => {
                let (sql, params) = self.search_sql(stage, &ids)?;
                if let Stage::Search {
                    from_previous: true,
                    ..
                } = stage
                {
                    if ids.is_empty() {
                        exec.stages.push(StageReport {
                            kind,
                            query: "(no ids from the stage before)".into(),
                            params: Vec::new(),
                            rows: 0,
                        });
                        return Ok(Some(Vec::new()));
                    }
                }
                let texts = self.store.sql_query_texts(&sql, &params)?;
                let missing = texts.iter().any(|t| {
                    !self
                        .vectors
                        .contains_key(&(t.provider.clone(), t.text.clone()))
                });
                if missing && !self.embed_inline {
                    return Ok(None);
                }
                let result =
                    self.store
                        .sql_with_vectors(&sql, &params, self.vectors, &self.budget)?;
                let rows: Vec<Row> = rows_of(&result)
                    .into_iter()
                    .map(|r| with_table(r, table))
                    .collect();
                let score = |i: usize| {
                    rows.get(i)
                        .and_then(|r| r.get("_score"))
                        .and_then(Value::as_f64)
                };
                exec.scores = score(0).map(|a| (a, score(1).unwrap_or(0.0)));
                exec.fused = is_fused(&sql);
                exec.stages.push(StageReport {
                    kind,
                    query: sql,
                    params,
                    rows: rows.len(),
                });
                Ok(Some(if count { count_rows(rows.len()) } else { rows }))
            }
            Stage::Traverse {
                direction,
                edge_types,
                depth,
                table,
            } => {
                let depth = depth.unwrap_or(1) as usize;
                let direction = match direction {
                    Direction::Out => EdgeDirection::Out,
                    Direction::In => EdgeDirection::In,
                    Direction::Both => EdgeDirection::Both,
                };
                let mut rows = Vec::new();
                let mut seen = HashSet::new();
                for id in &ids {
                    let t = self.store.traverse(
                        &id.to_string(),
                        &TraverseOptions {
                            max_depth: depth,
                            direction,
                            rel_types: edge_types.clone(),
                            limit: 1_000,
                            budget: self.budget,
                            ..TraverseOptions::default()
                        },
                    )?;
                    for end in t.ends() {
                        if ids.contains(&end) || !seen.insert(end) {
                            continue;
                        }
                        let Some(end_table) = self.store.table_of(&end.to_string())? else {
                            continue;
                        };
                        if table.as_ref().is_some_and(|t| *t != end_table) {
                            continue;
                        }
                        if let Some(row) = t.row(&end) {
                            rows.push(with_table(row.clone(), &end_table));
                        }
                    }
                }
                let types: Vec<String> = edge_types.iter().map(|e| sql_string(e)).collect();
                let query = format!(
                    "TRAVERSE FROM {} DEPTH {depth} DIRECTION {}{}{}",
                    match ids.as_slice() {
                        [one] => sql_string(&one.to_string()),
                        many => format!("<{} entities>", many.len()),
                    },
                    match direction {
                        EdgeDirection::Out => "out",
                        EdgeDirection::In => "in",
                        EdgeDirection::Both => "both",
                    },
                    if types.is_empty() {
                        String::new()
                    } else {
                        format!(" TYPE {}", types.join(", "))
                    },
                    table
                        .as_ref()
                        .map_or(String::new(), |t| format!(" (only `{t}`)")),
                );
                exec.stages.push(StageReport {
                    kind,
                    query,
                    params: Vec::new(),
                    rows: rows.len(),
                });
                Ok(Some(if count { count_rows(rows.len()) } else { rows }))
            }
            Stage::Path { to, max_depth } => {
                let mut pending = Vec::new();
                let target = lookup_fuzzy(
                    self.store,
                    self.schemas,
                    to,
                    &LookupOptions::default(),
                    self.vectors,
                    self.vector_rung(),
                    &mut pending,
                )?;
                let (Some(from), Some(dest)) = (ids.first(), target.candidates.first()) else {
                    if target.candidates.is_empty() && !pending.is_empty() {
                        return Ok(None);
                    }
                    exec.stages.push(StageReport {
                        kind,
                        query: format!("PATH TO {}", sql_string(to)),
                        params: Vec::new(),
                        rows: 0,
                    });
                    return Ok(Some(Vec::new()));
                };
                let t = self.store.shortest_path(
                    &from.to_string(),
                    &dest.id.to_string(),
                    &PathOptions {
                        direction: EdgeDirection::Both,
                        max_depth: Some(max_depth.unwrap_or(3) as usize),
                        budget: self.budget,
                        ..PathOptions::default()
                    },
                )?;
                let mut rows = Vec::new();
                if let Some(path) = t.paths.first() {
                    for node in &path.nodes {
                        if let (Some(row), Some(table)) =
                            (t.row(node), self.store.table_of(&node.to_string())?)
                        {
                            rows.push(with_table(row.clone(), &table));
                        }
                    }
                }
                exec.stages.push(StageReport {
                    kind,
                    query: format!("PATH FROM '{from}' TO '{}'", dest.id),
                    params: Vec::new(),
                    rows: rows.len(),
                });
                Ok(Some(rows))
            }
        }
    }

    fn search_sql(&self, stage: &Stage, ids: &[Uuid]) -> Result<(String, Vec<Value>)> {
        let Stage::Search {
            table,
            text,
            k,
            min_score,
            filters,
            time,
            from_previous,
        } = stage
        else {
            return Err(Error::InvalidArgument("not a search stage".into()));
        };
        let schema = &self.schemas[table];
        let mut w = Where::new();
        let p = w.param(Value::String(text.clone()));
        w.conditions.push(format!("embedding.cosine({p})"));
        for f in filters {
            w.filter(f);
        }
        if let Some(t) = time {
            w.time(schema, t);
        }
        if *from_previous && !ids.is_empty() {
            w.ids(ids);
        }
        match min_score {
            // A score floor is on cosine similarity: vectors only.
            Some(s) => {
                let p = w.param(Value::from(*s as f64));
                w.conditions.push(format!("_score >= {p}"));
            }
            // A table with a full-text index is searched both ways, fused (hybrid): exact words
            // ("with", "__exit__") find what embeddings miss.
            None if !schema.fulltext_fields.is_empty() => {
                if let Some(terms) = keyword_terms(text) {
                    let p = w.param(Value::String(terms));
                    w.conditions.push(format!("fulltext MATCH {p}"));
                }
            }
            None => {}
        }
        let sql = format!(
            "SELECT * FROM {}{} LIMIT {}",
            quote(table),
            w.sql(),
            k.unwrap_or(DEFAULT_K)
        );
        Ok((sql, w.params))
    }
}

/// The words of a search text as a BM25 query: letters, digits and `_` runs of the words that
/// are not stop words, lowercase, so nothing in a question reads as query syntax (`"`, `*`,
/// `-`). `None` when no word is left.
pub(crate) fn keyword_terms(text: &str) -> Option<String> {
    let words: Vec<String> = text
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty() && !super::text::is_stop_word(&w.to_lowercase()))
        .take(32)
        .map(str::to_lowercase)
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

/// Whether a search stage's SQL fuses vector and keyword rankings.
pub(crate) fn is_fused(sql: &str) -> bool {
    sql.contains("fulltext MATCH")
}

fn dir(desc: bool) -> &'static str {
    if desc {
        "DESC"
    } else {
        "ASC"
    }
}

fn sql_string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn count_rows(n: usize) -> Vec<Row> {
    let mut row = Map::new();
    row.insert("count".into(), Value::from(n as u64));
    vec![row]
}

/// `row` with `_table` set, as answers return rows.
pub(crate) fn with_table(mut row: Row, table: &str) -> Row {
    row.insert("_table".into(), Value::String(table.to_string()));
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyword_terms_keep_words_and_drop_query_syntax() {
        assert_eq!(
            keyword_terms("leave a \"with\" block -early*").as_deref(),
            Some("leave block early")
        );
        assert_eq!(
            keyword_terms("__exit__ and __enter__").as_deref(),
            Some("__exit__ __enter__")
        );
        assert_eq!(keyword_terms("the of a"), None);
        assert!(is_fused(
            "SELECT * FROM `t` WHERE embedding.cosine($1) AND fulltext MATCH $2 LIMIT 10"
        ));
    }
}
