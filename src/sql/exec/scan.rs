//! Access paths run: full scans, id and index lookups, and vector searches, each yielding the
//! rows of one source that pass its pushed-down filter.

use std::collections::HashSet;
use std::rc::Rc;

use serde_json::Value;

use super::stored_filter::StoredFilter;
pub(super) use super::stored_filter::Verdict;
use crate::budget::Meter;
use crate::error::{Error, Result};
use crate::sql::expr::{Env, Expr, Tuple, Values};
use crate::sql::plan::{Access, Pred, SourcePlan, VectorAccess};
use crate::sql::value::total_cmp;
use crate::store::codec::index_value_is_exact;
use crate::store::read::Reader;
use crate::store::row_format::{decode_row, StoredRow};
use crate::vector::{SearchMode, SearchOptions, SearchQuery, MAX_TOP_K};

/// Estimated bytes of one id in the set a filtered vector search is given.
const HASH_ID_BYTES: u64 = 32;

/// A gate's test on a row as stored, given the names of the source's fields.
pub(super) type StoredGateTest<'g> = dyn Fn(&StoredRow<'_>, &[String]) -> Result<Verdict> + 'g;

/// A test the rows of a scan must pass, after its filter, before the fields it does not read are
/// decoded: the cutoff of `ORDER BY ... LIMIT k` over one table, which most rows of a long scan
/// fail once k rows are in.
pub(super) struct Gate<'g> {
    /// Which slots the test reads.
    pub(super) slots: Vec<bool>,
    /// `true` to keep the row.
    pub(super) test: &'g mut dyn FnMut(&Tuple) -> Result<bool>,
    /// The same test on the row as stored (given the names of the source's fields), run
    /// first when there is one: `test` runs only on the rows it leaves undecided.
    pub(super) stored: Option<&'g StoredGateTest<'g>>,
}

/// Calls `f` with each row of `source` that passes its filter (and `gate`), in access order,
/// until `f` returns `false`. Rows hold only the fields the query reads (by slot); when a filter
/// or a gate exists, the fields they read are decoded first and the others only for rows that
/// pass. `f` takes the row out of the option it is given to keep it; a row it leaves there (and
/// holds no other reference to) is reused for the next one.
pub(super) fn scan_source(
    reader: &Reader<'_>,
    plan: &SourcePlan,
    index: usize,
    meter: &Meter,
    mut gate: Option<Gate<'_>>,
    mut f: impl FnMut(&mut Option<Values>) -> Result<bool>,
) -> Result<()> {
    if let Access::Vector(v) = &plan.access {
        return vector_scan(reader, plan, index, v, meter, f);
    }
    let mut tuple: Tuple = vec![None; index + 1];
    let width = plan.fields.len();
    let first: Vec<bool> = (0..width)
        .map(|i| plan.filter_slots[i] || gate.as_ref().is_some_and(|g| g.slots[i]))
        .collect();
    let checked = !plan.filter.is_empty() || gate.is_some();
    let two_phase = checked && first.iter().any(|f| !f);
    let in_first = |i: usize| first[i];
    let not_in_first = |i: usize| !first[i];
    let all = |_: usize| true;
    // The slots of a row the filter, the gate or the consumer let go, cleared for the next row,
    // which then costs no allocation.
    let mut spare: Option<Values> = None;
    let mut stored_filter = StoredFilter::new(&plan.filter, index, &plan.fields);
    let mut visit = |row: StoredRow<'_>| -> Result<bool> {
        meter.examine(1)?;
        if row.deleted && !plan.include_deleted {
            return Ok(true);
        }
        // Simple conditions first, on the stored bytes: most rows a filter rejects are never
        // decoded.
        let mut filter_passed = false;
        if let Some(stored) = stored_filter.as_mut() {
            match stored.check(&row, &plan.fields)? {
                Verdict::Fail => return Ok(true),
                Verdict::Pass => filter_passed = true,
                Verdict::Undecided => {}
            }
        }
        let mut gate_passed = false;
        if let Some(stored) = gate.as_ref().and_then(|g| g.stored) {
            match stored(&row, &plan.fields)? {
                Verdict::Fail => return Ok(true),
                Verdict::Pass => gate_passed = true,
                Verdict::Undecided => {}
            }
        }
        let mut values = spare
            .take()
            .unwrap_or_else(|| std::iter::repeat_n(Value::Null, width).collect());
        let slots = Rc::get_mut(&mut values)
            .ok_or_else(|| Error::storage("internal: row shared during a scan"))?;
        // Whether the stored tests settled the filter and the gate: then the row is in.
        let filter_done = plan.filter.is_empty() || filter_passed;
        let gate_done = gate.is_none() || gate_passed;
        let settled = filter_done && gate_done;
        row.decode_slots(
            &plan.fields,
            if two_phase && !settled {
                &in_first
            } else {
                &all
            },
            slots,
        )?;
        if !checked || settled {
            return hand_over(&mut f, values, &mut spare);
        }
        tuple[index] = Some(values);
        let keep = (filter_done || passes(&plan.filter, &tuple)?)
            && match gate.as_mut() {
                Some(g) if !gate_done => (g.test)(&tuple)?,
                _ => true,
            };
        if !keep {
            if let Some(mut rejected) = tuple[index].take() {
                if let Some(slots) = Rc::get_mut(&mut rejected) {
                    slots.fill(Value::Null);
                    spare = Some(rejected);
                }
            }
            return Ok(true);
        }
        let mut values = tuple[index]
            .take()
            .ok_or_else(|| Error::storage("internal: scan row missing"))?;
        if two_phase {
            let slots = Rc::get_mut(&mut values)
                .ok_or_else(|| Error::storage("internal: row shared during a scan"))?;
            row.decode_slots(&plan.fields, &not_in_first, slots)?;
        }
        hand_over(&mut f, values, &mut spare)
    };
    for_each_row(reader, &plan.table, &plan.access, &mut visit)
}

/// Gives `values` to `f`; when `f` leaves them and nothing else holds them, they are cleared
/// into `spare` for the next row.
fn hand_over(
    f: &mut impl FnMut(&mut Option<Values>) -> Result<bool>,
    values: Values,
    spare: &mut Option<Values>,
) -> Result<bool> {
    let mut row = Some(values);
    let more = f(&mut row)?;
    if let Some(mut left) = row {
        if let Some(slots) = Rc::get_mut(&mut left) {
            slots.fill(Value::Null);
            *spare = Some(left);
        }
    }
    Ok(more)
}

/// Calls `visit(row)` for each row an access path yields, until it returns `false`.
fn for_each_row(
    reader: &Reader<'_>,
    table: &str,
    access: &Access,
    visit: &mut dyn FnMut(StoredRow<'_>) -> Result<bool>,
) -> Result<()> {
    match access {
        Access::FullScan | Access::Counter => reader.scan(table, |_, row| visit(row)),
        Access::Empty => Ok(()),
        Access::Ids(ids) => {
            let mut seen = HashSet::new();
            for id in ids {
                if !seen.insert(*id) {
                    continue;
                }
                if let Some(value) = reader.row(table, id)? {
                    if !visit(decode_row(&value)?)? {
                        break;
                    }
                }
            }
            Ok(())
        }
        Access::Index {
            field,
            query,
            probed,
            ..
        } => {
            let read;
            let ids = match probed {
                Some(ids) => ids,
                None => {
                    read = reader.index_ids(table, field, query, None)?;
                    &read
                }
            };
            for id in ids {
                let value = reader.indexed_row(table, id)?;
                if !visit(decode_row(&value)?)? {
                    break;
                }
            }
            Ok(())
        }
        Access::IndexOrder {
            field,
            desc,
            nulls_first,
        } => {
            let names = [field.clone()];
            let mut rows: Vec<Vec<u8>> = Vec::new();
            reader.index_in_order(table, field, *desc, *nulls_first, |encoded, ids| {
                rows.clear();
                for id in ids {
                    rows.push(reader.indexed_row(table, id)?);
                }
                if rows.len() > 1 && !index_value_is_exact(encoded) {
                    // Numbers this large share an encoding: order them by their values.
                    let mut keyed = Vec::with_capacity(rows.len());
                    for value in rows.drain(..) {
                        let mut slot = [Value::Null];
                        decode_row(&value)?.decode_slots(&names, &|_| true, &mut slot)?;
                        let [key] = slot;
                        keyed.push((key, value));
                    }
                    keyed.sort_by(|a, b| {
                        let o = total_cmp(&a.0, &b.0);
                        if *desc {
                            o.reverse()
                        } else {
                            o
                        }
                    });
                    rows.extend(keyed.into_iter().map(|(_, value)| value));
                }
                for value in &rows {
                    if !visit(decode_row(value)?)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            })
        }
        Access::Vector(_) => Err(Error::storage("internal: nested vector access")),
    }
}

/// A similarity search as the access path of `plan`: the rows matching the conditions that do
/// not read the score become the search's filter; hits come best first with `_score` filled.
fn vector_scan(
    reader: &Reader<'_>,
    plan: &SourcePlan,
    index: usize,
    v: &VectorAccess,
    meter: &Meter,
    mut f: impl FnMut(&mut Option<Values>) -> Result<bool>,
) -> Result<()> {
    let width = plan.fields.len();
    let reads_score = |p: &&Pred| {
        let mut reads = false;
        p.expr.visit(&mut |e| {
            reads |= matches!(e, Expr::Column { source, slot, .. } if *source == index && *slot == v.score_slot)
        });
        reads
    };
    let pre: Vec<&Pred> = plan.filter.iter().filter(|p| !reads_score(p)).collect();
    let mut tuple: Tuple = vec![None; index + 1];
    let filter = if pre.is_empty() && v.base == Access::FullScan {
        None
    } else {
        let mut ids = HashSet::new();
        // The conditions that compile are tested on the stored row first; when they are all the
        // conditions and the row passes, only its id is decoded.
        let mut stored_filter = StoredFilter::new(pre.iter().copied(), index, &plan.fields);
        let id_only = |i: usize| i == v.id_slot;
        let mut visit = |row: StoredRow<'_>| -> Result<bool> {
            meter.examine(1)?;
            if row.deleted && !plan.include_deleted {
                return Ok(true);
            }
            let mut settled = false;
            if let Some(stored) = stored_filter.as_mut() {
                match stored.check(&row, &plan.fields)? {
                    Verdict::Fail => return Ok(true),
                    Verdict::Pass => settled = true,
                    Verdict::Undecided => {}
                }
            }
            let mut values = vec![Value::Null; width];
            row.decode_slots(
                &plan.fields,
                if settled { &id_only } else { &|_| true },
                &mut values,
            )?;
            let id = values[v.id_slot]
                .as_str()
                .and_then(|s| uuid::Uuid::parse_str(s).ok());
            if !settled {
                tuple[index] = Some(Rc::from(values));
                let env = Env::rows(&tuple);
                for p in &pre {
                    if !p.expr.test(&env)? {
                        return Ok(true);
                    }
                }
            }
            if let Some(id) = id {
                if ids.insert(id) {
                    meter.hold(HASH_ID_BYTES)?;
                }
            }
            Ok(true)
        };
        for_each_row(reader, &plan.table, &v.base, &mut visit)?;
        Some(ids)
    };
    let options = SearchOptions {
        top_k: v.k.clamp(1, MAX_TOP_K),
        mode: v.mode,
        field: v.field.clone(),
        filter,
        include_deleted: plan.include_deleted,
        ..SearchOptions::default()
    };
    let query = match &v.query {
        Some(vector) => SearchQuery::Vector(vector.clone()),
        None => SearchQuery::Text(v.text.clone()),
    };
    let sides = crate::fulltext::hybrid::Sides {
        vector: (v.mode != SearchMode::Keyword).then(|| (query, v.field.clone())),
        keyword: v
            .keyword
            .as_ref()
            .map(|k| (k.text.clone(), k.field.clone())),
    };
    let hits = crate::fulltext::hybrid::run(reader.tenant(), &plan.table, sides, &options, meter)?;
    for hit in hits {
        meter.examine(1)?;
        let mut values: Vec<Value> = plan
            .fields
            .iter()
            .map(|name| hit.row.get(name).cloned().unwrap_or(Value::Null))
            .collect();
        // The f32 score as its shortest decimal form (no binary noise from widening).
        let score = hit
            .score
            .to_string()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64);
        values[v.score_slot] = score.map_or(Value::Null, Value::Number);
        if let Some(slot) = v.bm25_slot {
            let bm25 = match v.mode {
                SearchMode::Keyword => Some(hit.score),
                _ => hit.parts.and_then(|p| p.keyword_score),
            };
            values[slot] = bm25
                .and_then(|s| s.to_string().parse::<f64>().ok())
                .and_then(serde_json::Number::from_f64)
                .map_or(Value::Null, Value::Number);
        }
        tuple[index] = Some(Rc::from(values));
        if !passes(&plan.filter, &tuple)? {
            continue;
        }
        let values = tuple[index]
            .take()
            .ok_or_else(|| Error::storage("internal: vector row missing"))?;
        if !f(&mut Some(values))? {
            break;
        }
    }
    Ok(())
}

pub(super) fn passes(filter: &[Pred], tuple: &[Option<Values>]) -> Result<bool> {
    let env = Env::rows(tuple);
    for p in filter {
        if !p.expr.test(&env)? {
            return Ok(false);
        }
    }
    Ok(true)
}
