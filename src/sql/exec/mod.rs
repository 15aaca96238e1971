//! Execution of a [`SelectPlan`]: access paths feed a pipeline of hash joins and filters into a
//! sink that projects (streaming, stopping early at LIMIT when order allows) or aggregates.

mod scan;
mod stored_filter;

use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use serde_json::Value;

use self::scan::{passes, scan_source, Gate, StoredGateTest, Verdict};
use self::stored_filter::StoredSortKey;
use super::expr::{Env, Expr, Tuple, Values};
use super::plan::{Access, AggFunc, Aggregate, JoinKind, SelectPlan, SortKey};
use super::value::{float_value, integer_of, integer_value, short, total_cmp};
use super::QueryResult;
use crate::budget::{values_bytes, Meter};
use crate::error::{Error, Result};
use crate::store::codec::encode_index_value;
use crate::store::read::Reader;
use crate::store::row_format::StoredRow;

/// Writes the hash key of `keys` evaluated in `env` (their order-preserving encodings
/// concatenated) into `out`, replacing what it held; `false` when any is NULL (NULL joins
/// nothing).
fn hash_key(keys: &[Expr], env: &Env<'_>, out: &mut Vec<u8>) -> Result<bool> {
    out.clear();
    for k in keys {
        let v = k.eval(env)?;
        if v.is_null() {
            return Ok(false);
        }
        encode_index_value(&v, out);
    }
    Ok(true)
}

/// Grouping / DISTINCT key: NULLs are equal to each other here.
fn group_key(values: &[Value]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 * values.len());
    for v in values {
        encode_index_value(v, &mut out);
    }
    out
}

/// The build side of a hash join: rows, and for each key the first and last of its rows, the
/// rows of one key chained through `next` in arrival order (no vector per key).
struct HashSide {
    rows: Vec<Values>,
    by_key: HashMap<JoinKey, (usize, usize)>,
    next: Vec<usize>,
    /// The probe's key, reused from row to row.
    probe: RefCell<Vec<u8>>,
}

/// Longest join key kept inline in the hash table (an encoded number takes 9 bytes).
const INLINE_JOIN_KEY: usize = 22;

/// A join key's encoded bytes: inline when short, so most build rows cost no allocation for
/// their key. Hashes and compares as its bytes.
#[derive(Clone)]
enum JoinKey {
    Inline {
        len: u8,
        bytes: [u8; INLINE_JOIN_KEY],
    },
    Heap(Box<[u8]>),
}

impl JoinKey {
    fn new(key: &[u8]) -> JoinKey {
        if key.len() <= INLINE_JOIN_KEY {
            let mut bytes = [0; INLINE_JOIN_KEY];
            bytes[..key.len()].copy_from_slice(key);
            JoinKey::Inline {
                len: key.len() as u8,
                bytes,
            }
        } else {
            JoinKey::Heap(key.into())
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            JoinKey::Inline { len, bytes } => &bytes[..usize::from(*len).min(INLINE_JOIN_KEY)],
            JoinKey::Heap(bytes) => bytes,
        }
    }
}

impl std::borrow::Borrow<[u8]> for JoinKey {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl std::hash::Hash for JoinKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state)
    }
}

impl PartialEq for JoinKey {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for JoinKey {}

/// End of a chain in [`HashSide::next`].
const NO_ROW: usize = usize::MAX;

impl HashSide {
    fn add(&mut self, key: &[u8], row: Values) {
        let i = self.rows.len();
        self.rows.push(row);
        self.next.push(NO_ROW);
        match self.by_key.get_mut(key) {
            Some((_, last)) => {
                self.next[*last] = i;
                *last = i;
            }
            None => {
                self.by_key.insert(JoinKey::new(key), (i, i));
            }
        }
    }

    /// The first row whose key equals the probe's, if any.
    fn first_match(&self, keys: &[Expr], env: &Env<'_>) -> Result<Option<usize>> {
        let mut probe = self.probe.borrow_mut();
        if !hash_key(keys, env, &mut probe)? {
            return Ok(None);
        }
        Ok(self.by_key.get(probe.as_slice()).map(|(first, _)| *first))
    }
}

/// Estimated bytes of one hash-table entry beyond its row and key (the index, the table slot).
const HASH_ENTRY_BYTES: u64 = 48;

fn build_side(reader: &Reader<'_>, plan: &SelectPlan, j: usize, meter: &Meter) -> Result<HashSide> {
    let s = j + 1;
    let join = &plan.joins[j];
    let mut side = HashSide {
        rows: Vec::new(),
        by_key: HashMap::new(),
        next: Vec::new(),
        probe: RefCell::default(),
    };
    let mut tuple: Tuple = vec![None; s + 1];
    let mut key = Vec::new();
    scan_source(reader, &plan.sources[s], s, meter, None, |row| {
        tuple[s] = row.take();
        if hash_key(&join.right_keys, &Env::rows(&tuple), &mut key)? {
            let row = tuple[s]
                .take()
                .ok_or_else(|| Error::storage("internal: join row missing"))?;
            meter.hold(values_bytes(&row) + key.len() as u64 + HASH_ENTRY_BYTES)?;
            side.add(&key, row);
        } else {
            // A NULL key joins nothing: the row goes back to the scan.
            *row = tuple[s].take();
        }
        Ok(true)
    })?;
    Ok(side)
}

struct Pipeline<'p> {
    plan: &'p SelectPlan,
    sides: Vec<HashSide>,
    meter: &'p Meter,
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
        let side = &self.sides[j];
        let mut matched = false;
        let mut hit = side.first_match(&join.left_keys, &Env::rows(tuple))?;
        while let Some(i) = hit {
            hit = Some(side.next[i]).filter(|&n| n != NO_ROW);
            // Every candidate pair a join looks at is a row examined: a join that fans out
            // runs into the budget, not out of memory or time.
            self.meter.examine(1)?;
            tuple[s] = Some(side.rows[i].clone());
            if !passes(&join.on_residual, tuple)? {
                continue;
            }
            matched = true;
            if passes(&join.after, tuple)? && !self.drive(tuple, j + 1, sink)? {
                tuple[s] = None;
                return Ok(false);
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

impl OutRow {
    /// Estimated bytes the row holds.
    fn bytes(&self) -> u64 {
        values_bytes(&self.keys) + values_bytes(&self.values) + 8
    }
}

fn sort_keys(order: &[SortKey], env: &Env<'_>) -> Result<Vec<Value>> {
    order
        .iter()
        .map(|k| k.expr.eval(env).map(|v| v.into_owned()))
        .collect()
}

fn cmp_rows(order: &[SortKey], a: &OutRow, b: &OutRow) -> Ordering {
    for (k, (x, y)) in order.iter().zip(a.keys.iter().zip(&b.keys)) {
        let o = cmp_key(k, x, y);
        if o != Ordering::Equal {
            return o;
        }
    }
    a.seq.cmp(&b.seq)
}

/// How two values of sort key `k` order (NULL placement and direction applied).
fn cmp_key(k: &SortKey, x: &Value, y: &Value) -> Ordering {
    match (x.is_null(), y.is_null()) {
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
    }
}

/// Whether the row in `env` sorts before `cut` (a later arrival loses ties), evaluating its
/// keys one at a time and only as far as needed, without collecting them.
fn sorts_before(order: &[SortKey], env: &Env<'_>, cut: &OutRow) -> Result<bool> {
    for (k, y) in order.iter().zip(&cut.keys) {
        match cmp_key(k, &*k.expr.eval(env)?, y) {
            Ordering::Equal => continue,
            o => return Ok(o == Ordering::Less),
        }
    }
    Ok(false)
}

/// Collects output rows: DISTINCT, the early stop when the plan streams, and the bounded top-k
/// of `ORDER BY ... LIMIT`. Every row it keeps is counted on the meter.
struct Collector<'p> {
    plan: &'p SelectPlan,
    rows: Vec<OutRow>,
    seen: HashSet<Vec<u8>>,
    stop_at: Option<usize>,
    /// Rows arrived so far (the final tie-breaker).
    seq: usize,
    /// `offset + limit` when only the first rows of a sort are wanted.
    top_k: Option<usize>,
    /// Whether a sort key reads the select list (an alias or a position): then the outputs are
    /// computed before the keys.
    keys_read_outputs: bool,
    /// The k-th best row seen at the last cut: later rows must beat it. Shared with the scan's
    /// [`Gate`] when rows come from one table.
    cutoff: Rc<RefCell<Option<OutRow>>>,
    meter: &'p Meter,
    /// Bytes of `rows` counted on the meter.
    held: u64,
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
            return self.push_top_k(k, &env, seq).map(|()| true);
        }
        let values = self.outputs(&env)?;
        if self.plan.distinct {
            let key = group_key(&values);
            let key_bytes = key.len() as u64 + HASH_ENTRY_BYTES;
            if !self.seen.insert(key) {
                return Ok(true);
            }
            self.meter.hold(key_bytes)?;
        }
        let keys = sort_keys(
            &self.plan.order,
            &Env {
                tuple,
                slots,
                outputs: &values,
            },
        )?;
        let row = OutRow { keys, values, seq };
        self.keep(row)?;
        Ok(self.stop_at.is_none_or(|n| self.rows.len() < n))
    }

    /// The select list's values for one row.
    fn outputs(&self, env: &Env<'_>) -> Result<Vec<Value>> {
        self.plan
            .outputs
            .iter()
            .map(|e| e.eval(env).map(|v| v.into_owned()))
            .collect()
    }

    /// Keeps `row`, counting its bytes.
    fn keep(&mut self, row: OutRow) -> Result<()> {
        let bytes = row.bytes();
        self.meter.hold(bytes)?;
        self.held += bytes;
        self.rows.push(row);
        Ok(())
    }

    /// ORDER BY ... LIMIT k: rows that cannot reach the top k are dropped (when the keys do not
    /// read the select list, before its columns are computed), and the buffer is cut back to
    /// the best k whenever it reaches 2k + 64 rows, so memory stays O(k) however many rows a
    /// scan or a join produces.
    fn push_top_k(&mut self, k: usize, env: &Env<'_>, seq: usize) -> Result<()> {
        let order = &self.plan.order;
        let (keys, values) = if self.keys_read_outputs {
            let values = self.outputs(env)?;
            let keys = sort_keys(
                order,
                &Env {
                    outputs: &values,
                    ..*env
                },
            )?;
            (keys, Some(values))
        } else {
            (sort_keys(order, env)?, None)
        };
        let candidate = OutRow {
            keys,
            values: Vec::new(),
            seq,
        };
        if self
            .cutoff
            .borrow()
            .as_ref()
            .is_some_and(|c| cmp_rows(order, &candidate, c) != Ordering::Less)
        {
            return Ok(());
        }
        let values = match values {
            Some(v) => v,
            None => self.outputs(env)?,
        };
        self.keep(OutRow {
            values,
            ..candidate
        })?;
        if self.rows.len() >= 2 * k + 64 {
            self.rows
                .select_nth_unstable_by(k - 1, |a, b| cmp_rows(order, a, b));
            self.rows.truncate(k);
            let kept: u64 = self.rows.iter().map(OutRow::bytes).sum();
            self.meter.release(self.held - kept);
            self.held = kept;
            *self.cutoff.borrow_mut() =
                self.rows
                    .iter()
                    .max_by(|a, b| cmp_rows(order, a, b))
                    .map(|r| OutRow {
                        keys: r.keys.clone(),
                        values: Vec::new(),
                        seq: r.seq,
                    });
        }
        Ok(())
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
    /// Integers are summed exactly (so `AVG` of `i64::MAX`, `-i64::MAX` and 1 is 1/3, not 0),
    /// floats apart.
    Avg {
        int: i128,
        float: f64,
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
            AggFunc::Avg => AggState::Avg {
                int: 0,
                float: 0.0,
                n: 0,
            },
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
                match integer_of(n) {
                    Some(i) if !*any_float => *int += i,
                    _ => *any_float = true,
                }
                *float += n.as_f64().unwrap_or(f64::NAN);
            }
            AggState::Avg { int, float, n } => {
                let number = number()?;
                match integer_of(number) {
                    Some(i) => *int += i,
                    None => *float += number.as_f64().unwrap_or(f64::NAN),
                }
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

    fn result(self, a: &Aggregate) -> Result<Value> {
        Ok(match self {
            AggState::Count(n) => Value::from(n),
            AggState::Sum { seen: false, .. } => Value::Null,
            AggState::Sum {
                float,
                any_float: true,
                ..
            } => float_value(float),
            AggState::Sum { int, .. } => integer_value(int).ok_or_else(|| {
                Error::SqlType(format!(
                    "integer overflow: {} is {int}, outside the 64-bit range; SUM(CAST(... AS FLOAT)) for a floating-point sum",
                    a.text
                ))
            })?,
            AggState::Avg { n: 0, .. } => Value::Null,
            AggState::Avg { int, float, n } => float_value((int as f64 + float) / n as f64),
            AggState::Extreme(v) => v.unwrap_or(Value::Null),
        })
    }
}

/// Estimated bytes of one aggregate's running state in one group.
const GROUP_STATE_BYTES: u64 = 48;

struct Group {
    keys: Vec<Value>,
    states: Vec<AggState>,
    /// DISTINCT aggregates: values seen so far, per aggregate.
    seen: Vec<HashSet<Vec<u8>>>,
}

/// Runs a planned SELECT, counting its work on `meter`.
pub(crate) fn run(reader: &Reader<'_>, plan: &SelectPlan, meter: &Meter) -> Result<QueryResult> {
    if plan.limit == Some(0) {
        return Ok(QueryResult {
            columns: plan.columns.clone(),
            rows: Vec::new(),
        });
    }
    let sides = (0..plan.joins.len())
        .map(|j| build_side(reader, plan, j, meter))
        .collect::<Result<Vec<_>>>()?;
    let pipeline = Pipeline { plan, sides, meter };
    // Without a sort (or with rows arriving sorted) the first `offset + limit` rows are the
    // answer: stop there, also under DISTINCT (the rows kept are distinct already).
    let in_arrival_order = plan.group.is_none() && (plan.order.is_empty() || plan.presorted);
    let stop_at = in_arrival_order
        .then(|| plan.limit.map(|l| plan.offset.saturating_add(l)))
        .flatten();
    let mut keys_read_outputs = false;
    for k in &plan.order {
        k.expr
            .visit(&mut |e| keys_read_outputs |= matches!(e, super::expr::Expr::Output(_)));
    }
    let top_k = match plan.limit {
        Some(l) if !plan.order.is_empty() && !plan.presorted && !plan.distinct => {
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
        keys_read_outputs,
        cutoff: Rc::default(),
        meter,
        held: 0,
    };

    match &plan.group {
        None => {
            // ORDER BY ... LIMIT over one table: rows that cannot make the top k are dropped in
            // the scan, before the columns the sort does not read are decoded.
            let one_table = plan.sources.len() == 1 && plan.joins.is_empty();
            let cutoff = collector.cutoff.clone();
            let order = &plan.order;
            let mut beats_cutoff = |t: &Tuple| -> Result<bool> {
                let cut = cutoff.borrow();
                let Some(cut) = cut.as_ref() else {
                    return Ok(true);
                };
                sorts_before(order, &Env::rows(t), cut)
            };
            let names = plan.sources.first().map_or(&[][..], |s| &s.fields);
            let stored_beats = StoredSortKey::new(order, names).map(|key| {
                let cutoff = &cutoff;
                move |row: &StoredRow<'_>, names: &[String]| -> Result<Verdict> {
                    match cutoff.borrow().as_ref().and_then(|c| c.keys.first()) {
                        None => Ok(Verdict::Pass),
                        Some(cut) => key.beats(row, names, cut),
                    }
                }
            });
            let gate = (top_k.is_some() && one_table && !keys_read_outputs).then(|| Gate {
                slots: slots_read(order, names.len()),
                test: &mut beats_cutoff,
                stored: stored_beats
                    .as_ref()
                    .map(|test| test as &StoredGateTest<'_>),
            });
            let mut sink = |t: &Tuple| collector.push(t, &[]);
            drive_all(reader, plan, &pipeline, gate, &mut sink)?;
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
                        meter.hold(
                            values_bytes(&keys)
                                + key.len() as u64
                                + HASH_ENTRY_BYTES
                                + GROUP_STATE_BYTES * g.aggs.len() as u64,
                        )?;
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
                            if agg.distinct {
                                if v.is_null() {
                                    continue;
                                }
                                let seen_key = group_key(std::slice::from_ref(&*v));
                                let seen_bytes = seen_key.len() as u64 + HASH_ENTRY_BYTES;
                                if !group.seen[ai].insert(seen_key) {
                                    continue;
                                }
                                meter.hold(seen_bytes)?;
                            }
                            group.states[ai].add(agg, Some(&v))?;
                        }
                    }
                }
                Ok(true)
            };
            match plan.sources.as_slice() {
                [source] if source.access == Access::Counter => {
                    // Every aggregate is COUNT(*) of the whole table (see `optimize::counter`).
                    let n = reader.count(&source.table, source.include_deleted)?;
                    let mut group = new_group(Vec::new());
                    for state in &mut group.states {
                        *state = AggState::Count(n);
                    }
                    groups.push(group);
                }
                _ => drive_all(reader, plan, &pipeline, None, &mut sink)?,
            }
            if groups.is_empty() && g.keys.is_empty() {
                groups.push(new_group(Vec::new()));
            }
            for group in groups {
                let mut slots = group.keys;
                for (state, agg) in group.states.into_iter().zip(&g.aggs) {
                    slots.push(state.result(agg)?);
                }
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

/// Which slots of the first source the sort keys read.
fn slots_read(order: &[SortKey], width: usize) -> Vec<bool> {
    let mut slots = vec![false; width];
    for key in order {
        key.expr.visit(&mut |e| {
            if let Expr::Column {
                source: 0, slot, ..
            } = e
            {
                if let Some(s) = slots.get_mut(*slot) {
                    *s = true;
                }
            }
        });
    }
    slots
}

fn drive_all(
    reader: &Reader<'_>,
    plan: &SelectPlan,
    pipeline: &Pipeline<'_>,
    gate: Option<Gate<'_>>,
    sink: &mut dyn FnMut(&Tuple) -> Result<bool>,
) -> Result<()> {
    let n = plan.sources.len();
    if n == 0 {
        let tuple: Tuple = Vec::new();
        sink(&tuple)?;
        return Ok(());
    }
    let mut tuple: Tuple = vec![None; n];
    scan_source(reader, &plan.sources[0], 0, pipeline.meter, gate, |row| {
        tuple[0] = row.take();
        let more = pipeline.drive(&mut tuple, 0, sink);
        // The sink copies what it keeps: the row goes back to the scan.
        *row = tuple[0].take();
        more
    })
}
