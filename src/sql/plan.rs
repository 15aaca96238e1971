//! The plan of a SELECT, as `optimize` leaves it for `exec`: sources with their access paths
//! and pushed-down filters, hash joins, grouping, projection, ordering and paging — and its
//! EXPLAIN rendering.

use uuid::Uuid;

use super::expr::Expr;
use crate::store::IndexQuery;

/// A condition with the SQL text it came from (for EXPLAIN).
#[derive(Debug, Clone)]
pub(crate) struct Pred {
    pub(crate) expr: Expr,
    pub(crate) text: String,
}

/// How a source's rows are found.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Access {
    /// Every row, in id order.
    FullScan,
    /// Rows by id (`id = ...`, `id IN (...)`).
    Ids(Vec<Uuid>),
    /// Rows from a secondary index.
    Index {
        field: String,
        query: IndexQuery,
        text: String,
        /// The matching ids in index order, when the planner's probe of the index read them
        /// all (fewer than [`PROBE_CAP`]); plan and run share one snapshot, so the run reuses
        /// them instead of reading the index again.
        probed: Option<Vec<Uuid>>,
    },
    /// Every row, in the order of a secondary index whose order is SQL's order of its field
    /// (`ORDER BY field [DESC] LIMIT k`): rows stream out sorted and stop at the limit.
    IndexOrder {
        field: String,
        desc: bool,
        nulls_first: bool,
    },
    /// No row can match (e.g. `id = 'not a uuid'`).
    Empty,
    /// No row is read: `COUNT(*)` of a whole table with no condition and no GROUP BY is the
    /// table's row counter, which the write path keeps. (Read as rows, it is a full scan.)
    Counter,
    /// A top-k similarity search; the other conditions on the table (found through `base`)
    /// become its filter.
    Vector(Box<VectorAccess>),
}

/// Rows a vector search returns when the query has no LIMIT.
pub(crate) const DEFAULT_VECTOR_LIMIT: usize = 10;

/// A full-text search named in a query.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct KeywordSpec {
    /// The query (terms, "phrases", prefix*, -excluded).
    pub(crate) text: String,
    /// The full-text field (`None`: `fulltext`, every full-text field).
    pub(crate) field: Option<String>,
    /// As written, for EXPLAIN.
    pub(crate) written: String,
}

/// A ranked search as an access path: a similarity search, a full-text (BM25) search, or both
/// fused (hybrid, `mode`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct VectorAccess {
    /// Which searches run: vector, keyword, or both fused.
    pub(crate) mode: crate::vector::SearchMode,
    /// The full-text search (keyword and hybrid modes).
    pub(crate) keyword: Option<KeywordSpec>,
    /// Slot of `_bm25` when the query reads `bm25(...)`.
    pub(crate) bm25_slot: Option<usize>,
    /// The similarity query text (empty in keyword mode).
    pub(crate) text: String,
    /// The embedded field (`None`: all of them).
    pub(crate) field: Option<String>,
    /// The search as written.
    pub(crate) written: String,
    /// Rows to find (OFFSET + LIMIT).
    pub(crate) k: usize,
    /// How rows matching the other conditions are found (they become the search's filter).
    pub(crate) base: Access,
    /// Slot of `id` and of `_score` in the source's rows.
    pub(crate) id_slot: usize,
    pub(crate) score_slot: usize,
    /// The query text's vector, supplied before the plan runs (see `sql::QueryVectors`);
    /// `None`: the search embeds the text itself.
    pub(crate) query: Option<Vec<f32>>,
}

/// One table of the query.
#[derive(Debug)]
pub(crate) struct SourcePlan {
    pub(crate) table: String,
    pub(crate) alias: String,
    /// Top-level fields the query reads, by slot.
    pub(crate) fields: Vec<String>,
    /// Which slots the pushed-down filter reads.
    pub(crate) filter_slots: Vec<bool>,
    pub(crate) include_deleted: bool,
    /// Conditions on this source alone, checked while scanning.
    pub(crate) filter: Vec<Pred>,
    pub(crate) access: Access,
    /// Rows the access path yields (before the filter).
    pub(crate) estimate: u64,
}

/// Kind of join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JoinKind {
    Inner,
    Left,
}

/// A hash join of the source after it with everything before it.
#[derive(Debug)]
pub(crate) struct JoinPlan {
    pub(crate) kind: JoinKind,
    /// Equality keys: evaluated on the rows so far (left) and on the joined source (right).
    pub(crate) left_keys: Vec<Expr>,
    pub(crate) right_keys: Vec<Expr>,
    pub(crate) key_texts: Vec<String>,
    /// Other ON conditions of a LEFT JOIN (part of the match).
    pub(crate) on_residual: Vec<Pred>,
    /// WHERE conditions checked once this source is joined.
    pub(crate) after: Vec<Pred>,
}

impl JoinPlan {
    /// A join of `kind` with no conditions yet.
    pub(crate) fn new(kind: JoinKind) -> Self {
        JoinPlan {
            kind,
            left_keys: vec![],
            right_keys: vec![],
            key_texts: vec![],
            on_residual: vec![],
            after: vec![],
        }
    }

    /// Adds the hash key `left = right`, written as `text`.
    pub(crate) fn add_key(&mut self, left: Expr, right: Expr, text: &str) {
        self.left_keys.push(left);
        self.right_keys.push(right);
        self.key_texts.push(text.to_string());
    }
}

/// An aggregate function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AggFunc {
    Count,
    Sum,
    Avg,
    Min,
    Max,
}

/// One aggregate of a grouped query.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Aggregate {
    pub(crate) func: AggFunc,
    /// `None` for `COUNT(*)`.
    pub(crate) arg: Option<Expr>,
    pub(crate) distinct: bool,
    pub(crate) text: String,
}

/// GROUP BY keys, aggregates and HAVING. Slots are the keys, then the aggregates.
#[derive(Debug)]
pub(crate) struct GroupPlan {
    pub(crate) keys: Vec<Expr>,
    pub(crate) key_texts: Vec<String>,
    pub(crate) aggs: Vec<Aggregate>,
    pub(crate) having: Option<Pred>,
}

/// One ORDER BY key.
#[derive(Debug)]
pub(crate) struct SortKey {
    pub(crate) expr: Expr,
    pub(crate) desc: bool,
    pub(crate) nulls_first: bool,
    pub(crate) text: String,
}

/// A planned SELECT.
#[derive(Debug)]
pub(crate) struct SelectPlan {
    pub(crate) sources: Vec<SourcePlan>,
    /// `joins[i]` joins `sources[i + 1]`.
    pub(crate) joins: Vec<JoinPlan>,
    pub(crate) group: Option<GroupPlan>,
    pub(crate) columns: Vec<String>,
    pub(crate) outputs: Vec<Expr>,
    pub(crate) distinct: bool,
    pub(crate) order: Vec<SortKey>,
    /// The access path already yields rows in ORDER BY order.
    pub(crate) presorted: bool,
    pub(crate) limit: Option<usize>,
    pub(crate) offset: usize,
}

impl SelectPlan {
    /// Whether rows can stream out and stop at `offset + limit`.
    pub(crate) fn streams(&self) -> bool {
        self.group.is_none() && !self.distinct && (self.order.is_empty() || self.presorted)
    }
}

/// Most index entries counted when estimating an index's selectivity (EXPLAIN shows `≥` it).
pub(crate) const PROBE_CAP: usize = 10_000;

impl SelectPlan {
    /// The plan as indented lines, outermost step first.
    pub(crate) fn explain(&self) -> Vec<String> {
        let mut steps: Vec<String> = Vec::new();
        if self.limit.is_some() || self.offset > 0 {
            let mut s = String::from("Limit");
            if let Some(l) = self.limit {
                s.push_str(&format!(" {l}"));
            }
            if self.offset > 0 {
                s.push_str(&format!(" offset {}", self.offset));
            }
            if self.streams() {
                s.push_str(" (stops early)");
            }
            steps.push(s);
        }
        if !self.order.is_empty() {
            let keys = self
                .order
                .iter()
                .map(|k| {
                    format!(
                        "{}{}{}",
                        k.text,
                        if k.desc { " DESC" } else { "" },
                        if k.nulls_first {
                            " NULLS FIRST"
                        } else {
                            " NULLS LAST"
                        }
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            if self.presorted {
                steps.push(format!("Order {keys} (by the scan, no sort)"));
            } else if let Some(l) = self.limit {
                steps.push(format!("Top-{} sort {keys}", l + self.offset));
            } else {
                steps.push(format!("Sort {keys}"));
            }
        }
        if self.distinct {
            steps.push("Distinct".into());
        }
        steps.push(format!("Project {}", self.columns.join(", ")));
        if let Some(g) = &self.group {
            if let Some(h) = &g.having {
                steps.push(format!("Having {}", h.text));
            }
            let aggs = g
                .aggs
                .iter()
                .map(|a| a.text.clone())
                .collect::<Vec<_>>()
                .join(", ");
            if g.keys.is_empty() {
                steps.push(format!("Aggregate {aggs}"));
            } else {
                steps.push(format!(
                    "Hash aggregate by {} computing {}",
                    g.key_texts.join(", "),
                    if aggs.is_empty() {
                        "(keys only)".into()
                    } else {
                        aggs
                    }
                ));
            }
        }
        let mut lines = Vec::new();
        for (depth, s) in steps.iter().enumerate() {
            lines.push(format!("{}{s}", "  ".repeat(depth)));
        }
        let depth = steps.len();
        self.explain_sources(self.sources.len(), depth, &mut lines);
        lines
    }

    fn explain_sources(&self, n: usize, depth: usize, lines: &mut Vec<String>) {
        let pad = "  ".repeat(depth);
        if n == 0 {
            lines.push(format!("{pad}One row (no FROM)"));
            return;
        }
        if n == 1 {
            self.explain_scan(0, depth, lines);
            return;
        }
        let join = &self.joins[n - 2];
        let mut d = depth;
        if !join.after.is_empty() {
            lines.push(format!("{pad}Filter {}", texts(&join.after)));
            d += 1;
        }
        let pad = "  ".repeat(d);
        let kind = if join.kind == JoinKind::Inner {
            "Hash join"
        } else {
            "Hash left join"
        };
        let mut s = format!("{pad}{kind} on {}", join.key_texts.join(" AND "));
        if !join.on_residual.is_empty() {
            s.push_str(&format!(" and {}", texts(&join.on_residual)));
        }
        lines.push(s);
        self.explain_sources(n - 1, d + 1, lines);
        lines.push(format!("{}Build hash table:", "  ".repeat(d + 1)));
        self.explain_scan(n - 1, d + 2, lines);
    }

    fn explain_scan(&self, i: usize, depth: usize, lines: &mut Vec<String>) {
        let s = &self.sources[i];
        let pad = "  ".repeat(depth);
        let name = if s.alias == s.table {
            s.table.clone()
        } else {
            format!("{} AS {}", s.table, s.alias)
        };
        let mut d = depth;
        if !s.filter.is_empty() {
            lines.push(format!("{pad}Filter {}", texts(&s.filter)));
            d += 1;
        }
        let pad = "  ".repeat(d);
        let deleted = if s.include_deleted {
            ", soft-deleted rows included"
        } else {
            ""
        };
        let line = match &s.access {
            Access::FullScan => {
                format!("{pad}Full scan {name} (est. {} rows{deleted})", s.estimate)
            }
            Access::Ids(ids) => format!("{pad}Id lookup {name} ({} ids{deleted})", ids.len()),
            Access::Index { text, .. } => {
                let est = if s.estimate as usize >= PROBE_CAP {
                    format!("≥{PROBE_CAP}")
                } else {
                    s.estimate.to_string()
                };
                format!("{pad}Index scan {name} using {text} (est. {est} rows{deleted})")
            }
            Access::IndexOrder {
                field,
                desc,
                nulls_first,
            } => format!(
                "{pad}Index order scan {name} by {field}{}{} (est. {} rows{deleted})",
                if *desc { " DESC" } else { "" },
                if *nulls_first {
                    " NULLS FIRST"
                } else {
                    " NULLS LAST"
                },
                s.estimate
            ),
            Access::Empty => format!("{pad}Empty {name} (no id can match)"),
            Access::Counter => format!(
                "{pad}Row counter of {name} ({} rows{deleted}, no row read)",
                s.estimate
            ),
            Access::Vector(v) => {
                use crate::vector::SearchMode;
                let filter = if s.filter.is_empty() {
                    String::new()
                } else {
                    let base = match &v.base {
                        Access::FullScan => "a full scan".to_string(),
                        Access::Ids(ids) => format!("{} ids", ids.len()),
                        Access::Index { text, .. } => format!("index {text}"),
                        Access::IndexOrder { field, .. } => format!("index order of {field}"),
                        Access::Empty => "nothing".to_string(),
                        Access::Counter => "the row counter".to_string(),
                        Access::Vector(_) => "a vector search".to_string(),
                    };
                    format!(", filtered by the rows matching the conditions (found by {base})")
                };
                let bm25 = v.keyword.as_ref().map_or("", |k| k.written.as_str());
                match v.mode {
                    SearchMode::Vector => format!(
                        "{pad}Vector search {name} top {} by {} (HNSW + exact pending{filter}{deleted})",
                        v.k, v.written
                    ),
                    SearchMode::Keyword => format!(
                        "{pad}Full-text search {name} top {} by BM25 of {bm25} (postings of the query terms{filter})",
                        v.k
                    ),
                    SearchMode::Hybrid => format!(
                        "{pad}Hybrid search {name} top {}: reciprocal-rank fusion of vector search by {} (HNSW + exact pending) and full-text search by BM25 of {bm25}{filter}",
                        v.k, v.written
                    ),
                }
            }
        };
        lines.push(line);
    }
}

fn texts(preds: &[Pred]) -> String {
    preds
        .iter()
        .map(|p| p.text.as_str())
        .collect::<Vec<_>>()
        .join(" AND ")
}
