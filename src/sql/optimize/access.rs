//! Access-path choice: for one source, rows by id, by a secondary index (the condition that
//! matches fewest entries, counted up to [`PROBE_CAP`]), or a full scan.

use std::ops::Bound;

use serde_json::Value;
use uuid::Uuid;

use crate::error::Result;
use crate::sql::expr::Expr;
use crate::sql::plan::{Access, SourcePlan, PROBE_CAP};
use crate::sql::value::{compare, parse_time, CmpOp};
use crate::store::read::Reader;
use crate::store::IndexQuery;

/// A condition usable by an access path: `field op constant` on this source.
enum Candidate {
    Ids(Vec<Value>),
    Eq(String, Value),
    In(String, Vec<Value>),
    Lower(String, Bound<Value>),
    Upper(String, Bound<Value>),
}

fn column_of(e: &Expr, source: usize) -> Option<&str> {
    match e {
        Expr::Column {
            source: s, path, ..
        } if *s == source && path.len() == 1 => Some(&path[0]),
        _ => None,
    }
}

fn constant(e: &Expr) -> Option<Value> {
    match e {
        Expr::Literal(v) if !v.is_null() => Some(v.clone()),
        _ => None,
    }
}

fn candidates(pred: &Expr, source: usize, out: &mut Vec<Candidate>) {
    let field = |e: &Expr| column_of(e, source).map(str::to_string);
    match pred {
        Expr::Cmp(op, a, b) => {
            let (f, v, op) = match (field(a), constant(b), field(b), constant(a)) {
                (Some(f), Some(v), _, _) => (f, v, *op),
                (_, _, Some(f), Some(v)) => (f, v, op.flip()),
                _ => return,
            };
            if f == "id" {
                if op == CmpOp::Eq {
                    out.push(Candidate::Ids(vec![v]));
                }
                return;
            }
            match op {
                CmpOp::Eq => out.push(Candidate::Eq(f, v)),
                CmpOp::Gt => out.push(Candidate::Lower(f, Bound::Excluded(v))),
                CmpOp::GtEq => out.push(Candidate::Lower(f, Bound::Included(v))),
                CmpOp::Lt => out.push(Candidate::Upper(f, Bound::Excluded(v))),
                CmpOp::LtEq => out.push(Candidate::Upper(f, Bound::Included(v))),
                CmpOp::NotEq => {}
            }
        }
        Expr::In {
            expr,
            list,
            negated: false,
        } => {
            let Some(f) = field(expr) else { return };
            let Some(values) = list.iter().map(constant).collect::<Option<Vec<_>>>() else {
                return;
            };
            out.push(if f == "id" {
                Candidate::Ids(values)
            } else {
                Candidate::In(f, values)
            });
        }
        Expr::Between {
            expr,
            low,
            high,
            negated: false,
        } => {
            if let (Some(f), Some(l), Some(h)) = (field(expr), constant(low), constant(high)) {
                if f != "id" {
                    out.push(Candidate::Lower(f.clone(), Bound::Included(l)));
                    out.push(Candidate::Upper(f, Bound::Included(h)));
                }
            }
        }
        _ => {}
    }
}

/// A string that reads as a timestamp matches stored strings in other formats and offsets, so
/// the index (which orders strings by bytes) is searched a day wider on each side; the filter
/// then decides exactly.
fn widen(bound: Bound<Value>, lower: bool) -> Bound<Value> {
    match &bound {
        Bound::Included(Value::String(s)) | Bound::Excluded(Value::String(s)) => {
            match parse_time(s) {
                Some(t) => {
                    let day = if lower {
                        t - chrono::Duration::days(1)
                    } else {
                        t + chrono::Duration::days(2)
                    };
                    let date = Value::String(day.format("%Y-%m-%d").to_string());
                    if lower {
                        Bound::Included(date)
                    } else {
                        Bound::Excluded(date)
                    }
                }
                None => bound,
            }
        }
        _ => bound,
    }
}

fn tighter(old: Bound<Value>, new: Bound<Value>, lower: bool) -> Option<Bound<Value>> {
    let value = |b: &Bound<Value>| match b {
        Bound::Included(v) | Bound::Excluded(v) => Some(v.clone()),
        Bound::Unbounded => None,
    };
    match (value(&old), value(&new)) {
        (None, _) => Some(new),
        (_, None) => Some(old),
        (Some(a), Some(b)) => match compare(&a, &b)? {
            std::cmp::Ordering::Equal => Some(if matches!(new, Bound::Excluded(_)) {
                new
            } else {
                old
            }),
            std::cmp::Ordering::Less => Some(if lower { new } else { old }),
            std::cmp::Ordering::Greater => Some(if lower { old } else { new }),
        },
    }
}

fn render(v: &Value) -> String {
    match v {
        Value::String(s) => format!("'{}'", s.replace('\'', "''")),
        other => other.to_string(),
    }
}

fn range_text(field: &str, lower: &Bound<Value>, upper: &Bound<Value>) -> String {
    let mut parts = Vec::new();
    match lower {
        Bound::Included(v) => parts.push(format!("{field} >= {}", render(v))),
        Bound::Excluded(v) => parts.push(format!("{field} > {}", render(v))),
        Bound::Unbounded => {}
    }
    match upper {
        Bound::Included(v) => parts.push(format!("{field} <= {}", render(v))),
        Bound::Excluded(v) => parts.push(format!("{field} < {}", render(v))),
        Bound::Unbounded => {}
    }
    parts.join(" AND ")
}

/// Picks the access path of `source` from its filter: ids first, else the indexed condition that
/// matches the fewest entries (counted, up to a cap), else a full scan.
pub(super) fn choose_access(
    reader: &Reader<'_>,
    plan: &mut SourcePlan,
    source: usize,
    indexed: &[String],
) -> Result<()> {
    let total = reader.tenant().count(&plan.table, plan.include_deleted)?;
    let mut found = Vec::new();
    for pred in &plan.filter {
        candidates(&pred.expr, source, &mut found);
    }
    // `id = x AND id IN (...)`: the smallest id list wins; ids that are not UUIDs match nothing.
    let mut best: Option<(Access, u64)> = None;
    for c in &found {
        if let Candidate::Ids(values) = c {
            let ids: Vec<Uuid> = values
                .iter()
                .filter_map(|v| v.as_str().and_then(|s| Uuid::parse_str(s).ok()))
                .collect();
            let access = if ids.is_empty() {
                Access::Empty
            } else {
                Access::Ids(ids)
            };
            let n = match &access {
                Access::Ids(ids) => ids.len() as u64,
                _ => 0,
            };
            if best.as_ref().is_none_or(|(_, m)| n < *m) {
                best = Some((access, n));
            }
        }
    }
    if best.is_none() {
        let mut queries: Vec<(String, IndexQuery, String)> = Vec::new();
        let mut ranges: Vec<(String, Bound<Value>, Bound<Value>)> = Vec::new();
        for c in found {
            match c {
                Candidate::Eq(f, v) if indexed.contains(&f) => {
                    let text = format!("{f} = {}", render(&v));
                    match (&v, v.as_str().and_then(parse_time)) {
                        (Value::String(_), Some(_)) => ranges.push((
                            f,
                            widen(Bound::Included(v.clone()), true),
                            widen(Bound::Included(v), false),
                        )),
                        _ => queries.push((f, IndexQuery::Eq(v), text)),
                    }
                }
                Candidate::In(f, values) if indexed.contains(&f) => {
                    if values
                        .iter()
                        .any(|v| v.as_str().and_then(parse_time).is_some())
                    {
                        continue;
                    }
                    let text = format!(
                        "{f} IN ({})",
                        values.iter().map(render).collect::<Vec<_>>().join(", ")
                    );
                    queries.push((f, IndexQuery::In(values), text));
                }
                Candidate::Lower(f, b) | Candidate::Upper(f, b) if !indexed.contains(&f) => {
                    let _ = (f, b);
                }
                Candidate::Lower(f, b) => merge_range(&mut ranges, f, widen(b, true), true),
                Candidate::Upper(f, b) => merge_range(&mut ranges, f, widen(b, false), false),
                _ => {}
            }
        }
        for (f, lower, upper) in ranges {
            let text = range_text(&f, &lower, &upper);
            queries.push((f, IndexQuery::Range { lower, upper }, text));
        }
        for (field, query, text) in queries {
            let ids = reader.index_ids(&plan.table, &field, &query, Some(PROBE_CAP))?;
            let n = ids.len() as u64;
            if best.as_ref().is_none_or(|(_, m)| n < *m) {
                let probed = (ids.len() < PROBE_CAP).then_some(ids);
                best = Some((
                    Access::Index {
                        field,
                        query,
                        text,
                        probed,
                    },
                    n,
                ));
            }
        }
    }
    let (access, estimate) = match best {
        Some((access, n))
            if n < total.max(1) || matches!(access, Access::Ids(_) | Access::Empty) =>
        {
            (access, n)
        }
        _ => (Access::FullScan, total),
    };
    plan.access = access;
    plan.estimate = estimate;
    Ok(())
}

fn merge_range(
    ranges: &mut Vec<(String, Bound<Value>, Bound<Value>)>,
    field: String,
    bound: Bound<Value>,
    lower: bool,
) {
    let slot = match ranges.iter().position(|(f, _, _)| *f == field) {
        Some(i) => i,
        None => {
            ranges.push((field, Bound::Unbounded, Bound::Unbounded));
            ranges.len() - 1
        }
    };
    let entry = &mut ranges[slot];
    let old = std::mem::replace(
        if lower { &mut entry.1 } else { &mut entry.2 },
        Bound::Unbounded,
    );
    // Bounds of different types cannot combine: keep the first.
    let merged = tighter(old.clone(), bound, lower).unwrap_or(old);
    *(if lower { &mut entry.1 } else { &mut entry.2 }) = merged;
}
