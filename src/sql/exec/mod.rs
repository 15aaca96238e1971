//! Execution of a [`SelectPlan`]: access paths feed a pipeline of hash joins and filters into a
//! sink that projects (streaming, stopping early at LIMIT when order allows) or aggregates.

mod scan;

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use serde_json::Value;

use self::scan::{passes, scan_source};
use super::expr::{Env, Tuple, Values};
use super::plan::{AggFunc, Aggregate, JoinKind, SelectPlan, SortKey};
use super::value::{float_value, short, total_cmp};
use super::QueryResult;
use crate::error::{Error, Result};
use crate::store::codec::encode_index_value;
use crate::store::read::Reader;

/// Hash key of values (order-preserving encodings concatenated); `None` when any is NULL.
fn hash_key(values: &[Value]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(16 * values.len());
    for v in values {
        if v.is_null() {
            return None;
        }
        encode_index_value(v, &mut out);
    }
    Some(out)
}

/// Grouping / DISTINCT key: NULLs are equal to each other here.
fn group_key(values: &[Value]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 * values.len());
    for v in values {
        encode_index_value(v, &mut out);
    }
    out
}

/// The build side of a hash join.
struct HashSide {
    rows: Vec<Values>,
    by_key: HashMap<Vec<u8>, Vec<usize>>,
}

fn build_side(reader: &Reader<'_>, plan: &SelectPlan, j: usize) -> Result<HashSide> {
    let s = j + 1;
    let join = &plan.joins[j];
    let mut side = HashSide {
        rows: Vec::new(),
        by_key: HashMap::new(),
    };
    let mut tuple: Tuple = vec![None; s + 1];
    scan_source(reader, &plan.sources[s], s, |row| {
        tuple[s] = Some(row.clone());
        let env = Env::rows(&tuple);
        let values = join
            .right_keys
            .iter()
            .map(|k| k.eval(&env).map(|v| v.into_owned()))
            .collect::<Result<Vec<_>>>()?;
        if let Some(key) = hash_key(&values) {
            side.by_key.entry(key).or_default().push(side.rows.len());
            side.rows.push(row);
        }
        Ok(true)
    })?;
    Ok(side)
}

struct Pipeline<'p> {
    plan: &'p SelectPlan,
    sides: Vec<HashSide>,
}

impl Pipeline<'_> {
    /// Joins `tuple` with source `j + 1` onwards; returns `false` to stop.
    fn drive(
        &self,
        tuple: &mut Tuple,
        j: usize,
        sink: &mut dyn FnMut(&Tuple) -> Result<bool>,
    ) -> Result<bool> {
        if j == self.plan.joins.len() {
            return sink(tuple);
        }
        let join = &self.plan.joins[j];
        let s = j + 1;
        let values = {
            let env = Env::rows(tuple);
            join.left_keys
                .iter()
                .map(|k| k.eval(&env).map(|v| v.into_owned()))
                .collect::<Result<Vec<_>>>()?
        };
        let mut matched = false;
        if let Some(hits) = hash_key(&values).and_then(|k| self.sides[j].by_key.get(&k)) {
            for &i in hits {
                tuple[s] = Some(self.sides[j].rows[i].clone());
                if !passes(&join.on_residual, tuple)? {
                    continue;
                }
                matched = true;
                if passes(&join.after, tuple)? && !self.drive(tuple, j + 1, sink)? {
                    tuple[s] = None;
                    return Ok(false);
                }
            }
        }
        tuple[s] = None;
        if !matched
            && join.kind == JoinKind::Left
            && passes(&join.after, tuple)?
            && !self.drive(tuple, j + 1, sink)?
        {
            return Ok(false);
        }
        Ok(true)
    }
}

/// A projected row with its sort keys and arrival number (the last tie-breaker).
struct OutRow {
    keys: Vec<Value>,
    values: Vec<Value>,
    seq: usize,
}

fn sort_keys(order: &[SortKey], env: &Env<'_>) -> Result<Vec<Value>> {
    order
        .iter()
        .map(|k| k.expr.eval(env).map(|v| v.into_owned()))
        .collect()
}

fn cmp_rows(order: &[SortKey], a: &OutRow, b: &OutRow) -> Ordering {
    for (k, (x, y)) in order.iter().zip(a.keys.iter().zip(&b.keys)) {
        let o = match (x.is_null(), y.is_null()) {
            (true, true) => Ordering::Equal,
            (true, false) => {
                if k.nulls_first {
                    Ordering::Less
                } else {
                    Ordering::Greater
                }
            }
            (false, true) => {
                if k.nulls_first {
                    Ordering::Greater
                } else {
                    Ordering::Less
                }
            }
            (false, false) => {
                let o = total_cmp(x, y);
                if k.desc {
                    o.reverse()
                } else {
                    o
                }
            }
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    a.seq.cmp(&b.seq)
}

/// Collects output rows: DISTINCT, and the early stop when the plan streams.
struct Collector<'p> {
    plan: &'p SelectPlan,
    rows: Vec<OutRow>,
    seen: HashSet<Vec<u8>>,
    stop_at: Option<usize>,
    /// Rows arrived so far (the final tie-breaker).
    seq: usize,
    /// `offset + limit` when only the first rows of a sort are wanted and no key needs outputs.
    top_k: Option<usize>,
    /// The k-th best row seen at the last cut: later rows must beat it.
    cutoff: Option<OutRow>,
}

impl Collector<'_> {
    /// Adds a row; returns `false` once enough rows are in.
    fn push(&mut self, tuple: &[Option<Values>], slots: &[Value]) -> Result<bool> {
        let env = Env {
            tuple,
            slots,
            outputs: &[],
        };
        let seq = self.seq;
        self.seq += 1;
        if let Some(k) = self.top_k {
            // ORDER BY ... LIMIT k: sort keys first; rows that cannot reach the top k are dropped
            // before their columns are computed, and the buffer is cut back to k as it grows.
            let keys = sort_keys(&self.plan.order, &env)?;
            let candidate = OutRow {
                keys,
                values: Vec::new(),
                seq,
            };
            if self
                .cutoff
                .as_ref()
                .is_some_and(|c| cmp_rows(&self.plan.order, &candidate, c) != Ordering::Less)
            {
                return Ok(true);
            }
            let values = self
                .plan
                .outputs
                .iter()
                .map(|e| e.eval(&env).map(|v| v.into_owned()))
                .collect::<Result<Vec<_>>>()?;
            self.rows.push(OutRow {
                values,
                ..candidate
            });
            if self.rows.len() >= 2 * k + 64 {
                let order = &self.plan.order;
                self.rows
                    .select_nth_unstable_by(k - 1, |a, b| cmp_rows(order, a, b));
                self.rows.truncate(k);
                let last = self
                    .rows
                    .iter()
                    .max_by(|a, b| cmp_rows(order, a, b))
                    .map(|r| OutRow {
                        keys: r.keys.clone(),
                        values: Vec::new(),
                        seq: r.seq,
                    });
                self.cutoff = last;
            }
            return Ok(true);
        }
        let values = self
            .plan
            .outputs
            .iter()
            .map(|e| e.eval(&env).map(|v| v.into_owned()))
            .collect::<Result<Vec<_>>>()?;
        if self.plan.distinct && !self.seen.insert(group_key(&values)) {
            return Ok(true);
        }
        let keys = sort_keys(
            &self.plan.order,
            &Env {
                tuple,
                slots,
                outputs: &values,
            },
        )?;
        self.rows.push(OutRow { keys, values, seq });
        Ok(self.stop_at.is_none_or(|n| self.rows.len() < n))
    }

    fn finish(mut self) -> QueryResult {
        let plan = self.plan;
        let end = plan.limit.map(|l| plan.offset.saturating_add(l));
        if !plan.order.is_empty() && !plan.presorted {
            let order = &plan.order;
            if let Some(k) = end.filter(|k| *k > 0 && *k < self.rows.len() / 2) {
                self.rows
                    .select_nth_unstable_by(k - 1, |a, b| cmp_rows(order, a, b));
                self.rows.truncate(k);
            }
            self.rows.sort_by(|a, b| cmp_rows(order, a, b));
        }
        let rows = self
            .rows
            .into_iter()
            .skip(plan.offset)
            .take(plan.limit.unwrap_or(usize::MAX))
            .map(|r| r.values)
            .collect();
        QueryResult {
            columns: plan.columns.clone(),
            rows,
        }
    }
}

/// Running state of one aggregate in one group.
enum AggState {
    Count(u64),
    Sum {
        int: i128,
        float: f64,
        any_float: bool,
        seen: bool,
    },
    Avg {
        sum: f64,
        n: u64,
    },
    Extreme(Option<Value>),
}

impl AggState {
    fn new(a: &Aggregate) -> Self {
        match a.func {
            AggFunc::Count => AggState::Count(0),
            AggFunc::Sum => AggState::Sum {
                int: 0,
                float: 0.0,
                any_float: false,
                seen: false,
            },
            AggFunc::Avg => AggState::Avg { sum: 0.0, n: 0 },
            AggFunc::Min | AggFunc::Max => AggState::Extreme(None),
        }
    }

    fn add(&mut self, a: &Aggregate, v: Option<&Value>) -> Result<()> {
        let Some(v) = v else {
            // COUNT(*)
            if let AggState::Count(n) = self {
                *n += 1;
            }
            return Ok(());
        };
        if v.is_null() {
            return Ok(());
        }
        let number = || match v {
            Value::Number(n) => Ok(n),
            other => Err(Error::SqlType(format!(
                "{} needs numbers, got {}",
                a.text,
                short(other)
            ))),
        };
        match self {
            AggState::Count(n) => *n += 1,
            AggState::Sum {
                int,
                float,
                any_float,
                seen,
            } => {
                let n = number()?;
                *seen = true;
                match n.as_i64() {
                    Some(i) if !*any_float => *int += i128::from(i),
                    _ => *any_float = true,
                }
                *float += n.as_f64().unwrap_or(f64::NAN);
            }
            AggState::Avg { sum, n } => {
                *sum += number()?.as_f64().unwrap_or(f64::NAN);
                *n += 1;
            }
            AggState::Extreme(best) => {
                let better = match best {
                    None => true,
                    Some(b) => {
                        let o = total_cmp(v, b);
                        if a.func == AggFunc::Min {
                            o == Ordering::Less
                        } else {
                            o == Ordering::Greater
                        }
                    }
                };
                if better {
                    *best = Some(v.clone());
                }
            }
        }
        Ok(())
    }

    fn result(self) -> Value {
        match self {
            AggState::Count(n) => Value::from(n),
            AggState::Sum { seen: false, .. } => Value::Null,
            AggState::Sum {
                int,
                float,
                any_float,
                ..
            } => {
                if !any_float {
                    if let Ok(i) = i64::try_from(int) {
                        return Value::from(i);
                    }
                }
                float_value(if any_float { float } else { int as f64 })
            }
            AggState::Avg { n: 0, .. } => Value::Null,
            AggState::Avg { sum, n } => float_value(sum / n as f64),
            AggState::Extreme(v) => v.unwrap_or(Value::Null),
        }
    }
}

struct Group {
    keys: Vec<Value>,
    states: Vec<AggState>,
    /// DISTINCT aggregates: values seen so far, per aggregate.
    seen: Vec<HashSet<Vec<u8>>>,
}

/// Runs a planned SELECT.
pub(crate) fn run(reader: &Reader<'_>, plan: &SelectPlan) -> Result<QueryResult> {
    if plan.limit == Some(0) {
        return Ok(QueryResult {
            columns: plan.columns.clone(),
            rows: Vec::new(),
        });
    }
    let sides = (0..plan.joins.len())
        .map(|j| build_side(reader, plan, j))
        .collect::<Result<Vec<_>>>()?;
    let pipeline = Pipeline { plan, sides };
    let stop_at = (plan.streams())
        .then(|| plan.limit.map(|l| plan.offset.saturating_add(l)))
        .flatten();
    let mut uses_outputs = false;
    for k in &plan.order {
        k.expr
            .visit(&mut |e| uses_outputs |= matches!(e, super::expr::Expr::Output(_)));
    }
    let top_k = match plan.limit {
        Some(l) if !plan.order.is_empty() && !plan.presorted && !plan.distinct && !uses_outputs => {
            Some(plan.offset.saturating_add(l))
        }
        _ => None,
    };
    let mut collector = Collector {
        plan,
        rows: Vec::new(),
        seen: HashSet::new(),
        stop_at,
        seq: 0,
        top_k,
        cutoff: None,
    };

    match &plan.group {
        None => {
            let mut sink = |t: &Tuple| collector.push(t, &[]);
            drive_all(reader, plan, &pipeline, &mut sink)?;
        }
        Some(g) => {
            let mut index: HashMap<Vec<u8>, usize> = HashMap::new();
            let mut groups: Vec<Group> = Vec::new();
            let new_group = |keys: Vec<Value>| Group {
                keys,
                states: g.aggs.iter().map(AggState::new).collect(),
                seen: g.aggs.iter().map(|_| HashSet::new()).collect(),
            };
            let mut key = Vec::new();
            let mut sink = |t: &Tuple| -> Result<bool> {
                let env = Env::rows(t);
                // The group's key is encoded into one reused buffer; values are kept only when
                // a new group starts.
                key.clear();
                for k in &g.keys {
                    encode_index_value(&*k.eval(&env)?, &mut key);
                }
                let gi = match index.get(key.as_slice()) {
                    Some(i) => *i,
                    None => {
                        let keys = g
                            .keys
                            .iter()
                            .map(|k| k.eval(&env).map(|v| v.into_owned()))
                            .collect::<Result<Vec<_>>>()?;
                        groups.push(new_group(keys));
                        index.insert(key.clone(), groups.len() - 1);
                        groups.len() - 1
                    }
                };
                let group = &mut groups[gi];
                for (ai, agg) in g.aggs.iter().enumerate() {
                    match &agg.arg {
                        None => group.states[ai].add(agg, None)?,
                        Some(e) => {
                            let v = e.eval(&env)?;
                            if agg.distinct
                                && (v.is_null()
                                    || !group.seen[ai].insert(group_key(std::slice::from_ref(&*v))))
                            {
                                continue;
                            }
                            group.states[ai].add(agg, Some(&v))?;
                        }
                    }
                }
                Ok(true)
            };
            drive_all(reader, plan, &pipeline, &mut sink)?;
            if groups.is_empty() && g.keys.is_empty() {
                groups.push(new_group(Vec::new()));
            }
            for group in groups {
                let mut slots = group.keys;
                slots.extend(group.states.into_iter().map(AggState::result));
                if let Some(h) = &g.having {
                    if !h.expr.test(&Env {
                        tuple: &[],
                        slots: &slots,
                        outputs: &[],
                    })? {
                        continue;
                    }
                }
                if !collector.push(&[], &slots)? {
                    break;
                }
            }
        }
    }
    Ok(collector.finish())
}

fn drive_all(
    reader: &Reader<'_>,
    plan: &SelectPlan,
    pipeline: &Pipeline<'_>,
    sink: &mut dyn FnMut(&Tuple) -> Result<bool>,
) -> Result<()> {
    let n = plan.sources.len();
    if n == 0 {
        let tuple: Tuple = Vec::new();
        sink(&tuple)?;
        return Ok(());
    }
    let mut tuple: Tuple = vec![None; n];
    scan_source(reader, &plan.sources[0], 0, |row| {
        tuple[0] = Some(row);
        pipeline.drive(&mut tuple, 0, sink)
    })
}
