//! Conditions tested on rows as stored: a scan's simple conditions (a top-level field against
//! constants) read the row's bytes in place, so the rows they reject are never decoded into
//! values. Each test gives the answer [`super::super::value`]'s rules give for the decoded row,
//! or says it cannot (a nested value, a row stored as JSON text), and the scan then evaluates
//! the full condition on decoded values as before.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::error::Result;
use crate::sql::expr::Expr;
use crate::sql::plan::{Pred, SortKey};
use crate::sql::value::{cmp_f64, parse_time, type_rank, CmpOp};
use crate::store::row_format::{FieldRef, FieldWalk, StoredRow};

/// What a stored-row test says about one row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Every condition it holds is true for the row.
    Pass,
    /// A condition is false or NULL for the row: the row is out.
    Fail,
    /// The row must be evaluated on decoded values.
    Undecided,
}

/// A constant a field is compared with.
#[derive(Clone, Debug)]
enum Constant {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str {
        text: String,
        /// The text as a timestamp, when it reads as one: then stored strings that also read
        /// as timestamps compare as times.
        time: Option<DateTime<Utc>>,
    },
}

impl Constant {
    /// `None` for NULL, arrays and objects (left to the general evaluation).
    fn of(v: &Value) -> Option<Constant> {
        Some(match v {
            Value::Bool(b) => Constant::Bool(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Constant::Int(i),
                None => Constant::Float(n.as_f64()?),
            },
            Value::String(s) => Constant::Str {
                text: s.clone(),
                time: parse_time(s),
            },
            _ => return None,
        })
    }

    /// How `field` orders against the constant; `None` when their types differ (or the field
    /// is NULL); `Err(())` when only decoded values can tell (a nested field).
    fn order(&self, field: FieldRef<'_>) -> std::result::Result<Option<Ordering>, ()> {
        Ok(match (field, self) {
            (FieldRef::Nested, _) => return Err(()),
            (FieldRef::Int(x), Constant::Int(y)) => Some(x.cmp(y)),
            (FieldRef::Int(x), Constant::Float(y)) => Some(cmp_f64(x as f64, *y)),
            (FieldRef::BigUint(x), Constant::Int(y)) => Some(cmp_f64(x as f64, *y as f64)),
            (FieldRef::BigUint(x), Constant::Float(y)) => Some(cmp_f64(x as f64, *y)),
            (FieldRef::Float(x), Constant::Int(y)) => Some(cmp_f64(x, *y as f64)),
            (FieldRef::Float(x), Constant::Float(y)) => Some(cmp_f64(x, *y)),
            (FieldRef::Bool(x), Constant::Bool(y)) => Some(x.cmp(y)),
            (FieldRef::Str(x), Constant::Str { text, time }) => Some(match time {
                Some(t) => match parse_time(x) {
                    Some(xt) => xt.cmp(t),
                    None => x.cmp(text.as_str()),
                },
                None => x.cmp(text.as_str()),
            }),
            _ => None,
        })
    }
}

/// One condition on one field.
#[derive(Clone, Debug)]
enum Test {
    /// `field op constant`.
    Cmp(CmpOp, Constant),
    /// `field [NOT] BETWEEN low AND high`.
    Between {
        low: Constant,
        high: Constant,
        negated: bool,
    },
    /// `field IS [NOT] NULL`.
    IsNull { negated: bool },
    /// `field [NOT] IN (constants)`.
    In { items: Vec<Constant>, negated: bool },
}

/// The three-valued answer of a comparison, as `apply_cmp` gives it for scalars.
fn cmp_truth(op: CmpOp, order: Option<Ordering>) -> Option<bool> {
    match (op, order) {
        (CmpOp::Eq, o) => Some(o == Some(Ordering::Equal)),
        (CmpOp::NotEq, o) => Some(o != Some(Ordering::Equal)),
        (_, None) => None,
        (CmpOp::Lt, Some(o)) => Some(o == Ordering::Less),
        (CmpOp::LtEq, Some(o)) => Some(o != Ordering::Greater),
        (CmpOp::Gt, Some(o)) => Some(o == Ordering::Greater),
        (CmpOp::GtEq, Some(o)) => Some(o != Ordering::Less),
    }
}

impl Test {
    /// The test on a field, `None` when the row lacks it.
    fn verdict(&self, field: Option<FieldRef<'_>>) -> Verdict {
        let field = match field {
            None | Some(FieldRef::Null) => {
                return match self {
                    Test::IsNull { negated } if !negated => Verdict::Pass,
                    _ => Verdict::Fail,
                }
            }
            Some(f) => f,
        };
        let truth = match self {
            Test::IsNull { negated } => Some(*negated),
            Test::Cmp(op, c) => match c.order(field) {
                Ok(order) => cmp_truth(*op, order),
                Err(()) => return Verdict::Undecided,
            },
            Test::In { items, negated } => {
                let mut hit = false;
                for c in items {
                    match c.order(field) {
                        Ok(o) => hit |= o == Some(Ordering::Equal),
                        Err(()) => return Verdict::Undecided,
                    }
                }
                Some(hit != *negated)
            }
            Test::Between { low, high, negated } => {
                let (Ok(lo), Ok(hi)) = (low.order(field), high.order(field)) else {
                    return Verdict::Undecided;
                };
                let ge = cmp_truth(CmpOp::GtEq, lo);
                let le = cmp_truth(CmpOp::LtEq, hi);
                let both = match (ge, le) {
                    (Some(false), _) | (_, Some(false)) => Some(false),
                    (Some(true), Some(true)) => Some(true),
                    _ => None,
                };
                if *negated {
                    both.map(|b| !b)
                } else {
                    both
                }
            }
        };
        if truth == Some(true) {
            Verdict::Pass
        } else {
            Verdict::Fail
        }
    }
}

/// The conditions of one source's filter that test a top-level field against constants,
/// compiled for rows as stored.
pub(super) struct StoredFilter {
    /// Tests by slot.
    by_slot: Vec<Vec<Test>>,
    /// Which slots a test reads.
    reads: Vec<bool>,
    /// How many slots a test reads.
    read_count: usize,
    /// Whether every condition of the filter is here: only then can a row pass on these tests
    /// alone.
    complete: bool,
    /// Slots met during the current row's walk.
    met: Vec<bool>,
}

/// The slot of `e` when it is a top-level field of `source`.
fn field_slot(e: &Expr, source: usize) -> Option<usize> {
    match e {
        Expr::Column {
            source: s,
            slot,
            path,
        } if *s == source && path.len() == 1 => Some(*slot),
        _ => None,
    }
}

/// Whether `slot` names a field no other slot of `names` names (a stored row's walk meets each
/// field once).
fn sole_slot(names: &[String], slot: usize) -> bool {
    names
        .get(slot)
        .is_some_and(|name| names.iter().filter(|n| *n == name).count() == 1)
}

fn constant(e: &Expr) -> Option<Constant> {
    match e {
        Expr::Literal(v) => Constant::of(v),
        _ => None,
    }
}

/// `expr` as a test on one top-level field of `source`.
fn compile(expr: &Expr, source: usize) -> Option<(usize, Test)> {
    match expr {
        Expr::Cmp(op, a, b) => {
            if let (Some(slot), Some(c)) = (field_slot(a, source), constant(b)) {
                return Some((slot, Test::Cmp(*op, c)));
            }
            let (slot, c) = (field_slot(b, source)?, constant(a)?);
            Some((slot, Test::Cmp(op.flip(), c)))
        }
        Expr::Between {
            expr,
            low,
            high,
            negated,
        } => Some((
            field_slot(expr, source)?,
            Test::Between {
                low: constant(low)?,
                high: constant(high)?,
                negated: *negated,
            },
        )),
        Expr::In {
            expr,
            list,
            negated,
        } if !list.is_empty() => Some((
            field_slot(expr, source)?,
            Test::In {
                items: list.iter().map(constant).collect::<Option<_>>()?,
                negated: *negated,
            },
        )),
        Expr::IsNull { expr, negated } => Some((
            field_slot(expr, source)?,
            Test::IsNull { negated: *negated },
        )),
        _ => None,
    }
}

impl StoredFilter {
    /// The conditions of `filter` (over source `source`, whose slots hold the fields `names`)
    /// that compile; `None` when none does.
    pub(super) fn new<'p>(
        filter: impl IntoIterator<Item = &'p Pred>,
        source: usize,
        names: &[String],
    ) -> Option<StoredFilter> {
        let width = names.len();
        let mut by_slot = vec![Vec::new(); width];
        let (mut compiled, mut conditions) = (0, 0);
        for p in filter {
            conditions += 1;
            if let Some((slot, test)) =
                compile(&p.expr, source).filter(|(s, _)| sole_slot(names, *s))
            {
                by_slot[slot].push(test);
                compiled += 1;
            }
        }
        if compiled == 0 {
            return None;
        }
        let reads: Vec<bool> = by_slot.iter().map(|t| !t.is_empty()).collect();
        Some(StoredFilter {
            read_count: reads.iter().filter(|r| **r).count(),
            reads,
            by_slot,
            complete: compiled == conditions,
            met: vec![false; width],
        })
    }

    /// Tests `row`, whose top-level fields are named by `names` (one per slot):
    /// [`Verdict::Pass`] only when the whole filter passes, so a row that meets every compiled
    /// condition of a filter with others is [`Verdict::Undecided`].
    pub(super) fn check(&mut self, row: &StoredRow<'_>, names: &[String]) -> Result<Verdict> {
        let StoredFilter {
            by_slot,
            reads,
            read_count,
            complete,
            met,
        } = self;
        met.fill(false);
        let mut verdict = if *complete {
            Verdict::Pass
        } else {
            Verdict::Undecided
        };
        let walk = row.visit_fields(names, reads, *read_count, |slot, field| {
            met[slot] = true;
            for test in &by_slot[slot] {
                match test.verdict(Some(field)) {
                    Verdict::Fail => {
                        verdict = Verdict::Fail;
                        return false;
                    }
                    Verdict::Undecided => verdict = Verdict::Undecided,
                    Verdict::Pass => {}
                }
            }
            true
        })?;
        match walk {
            FieldWalk::NotBinary => return Ok(Verdict::Undecided),
            FieldWalk::Stopped => return Ok(Verdict::Fail),
            FieldWalk::Done => {}
        }
        for (slot, tests) in by_slot.iter().enumerate() {
            if !met[slot] && tests.iter().any(|t| t.verdict(None) == Verdict::Fail) {
                return Ok(Verdict::Fail);
            }
        }
        Ok(verdict)
    }
}

/// How a field as stored orders against `v` in [`crate::sql::value::total_cmp`]'s total order;
/// `None` for a nested field (only decoded values can tell).
fn total_order(field: FieldRef<'_>, v: &Value) -> Option<Ordering> {
    let rank = |f: FieldRef<'_>| match f {
        FieldRef::Null => 0u8,
        FieldRef::Bool(_) => 1,
        FieldRef::Int(_) | FieldRef::BigUint(_) | FieldRef::Float(_) => 2,
        FieldRef::Str(_) => 3,
        FieldRef::Nested => 4,
    };
    Some(match (field, v) {
        (FieldRef::Nested, _) => return None,
        (FieldRef::Bool(x), Value::Bool(y)) => x.cmp(y),
        (FieldRef::Str(x), Value::String(y)) => x.cmp(y.as_str()),
        (FieldRef::Int(x), Value::Number(n)) if n.as_i64().is_some() => x.cmp(&n.as_i64()?),
        (FieldRef::Int(x), Value::Number(n)) => cmp_f64(x as f64, n.as_f64()?),
        (FieldRef::BigUint(x), Value::Number(n)) => cmp_f64(x as f64, n.as_f64()?),
        (FieldRef::Float(x), Value::Number(n)) => cmp_f64(x, n.as_f64()?),
        _ => rank(field).cmp(&type_rank(v)),
    })
}

/// The first key of an `ORDER BY` when it is a top-level field of the scanned table: tells from
/// a row's stored bytes whether the row sorts before the k-th best row so far, so a top-k scan
/// decodes only the rows that enter the top k.
pub(super) struct StoredSortKey {
    /// Which slot the key reads (one `true`).
    reads: Vec<bool>,
    desc: bool,
    nulls_first: bool,
    /// Whether more keys follow: then a tie on this one is for them to break.
    more_keys: bool,
}

impl StoredSortKey {
    /// The first of `order` when it is a top-level field of source 0, whose slots hold the
    /// fields `names`.
    pub(super) fn new(order: &[SortKey], names: &[String]) -> Option<StoredSortKey> {
        let first = order.first()?;
        let slot = field_slot(&first.expr, 0).filter(|s| sole_slot(names, *s))?;
        let mut reads = vec![false; names.len()];
        reads[slot] = true;
        Some(StoredSortKey {
            reads,
            desc: first.desc,
            nulls_first: first.nulls_first,
            more_keys: order.len() > 1,
        })
    }

    /// Whether `row` (top-level fields named by `names`) sorts before a row whose first key is
    /// `cut`: [`Verdict::Pass`] when it does, [`Verdict::Fail`] when it cannot.
    pub(super) fn beats(
        &self,
        row: &StoredRow<'_>,
        names: &[String],
        cut: &Value,
    ) -> Result<Verdict> {
        let mut field = FieldRef::Null;
        let walk = row.visit_fields(names, &self.reads, 1, |_, f| {
            field = f;
            true
        })?;
        if walk == FieldWalk::NotBinary {
            return Ok(Verdict::Undecided);
        }
        let order = match (field == FieldRef::Null, cut.is_null()) {
            (true, true) => Ordering::Equal,
            (true, false) if self.nulls_first => Ordering::Less,
            (true, false) => Ordering::Greater,
            (false, true) if self.nulls_first => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => match total_order(field, cut) {
                Some(o) if self.desc => o.reverse(),
                Some(o) => o,
                None => return Ok(Verdict::Undecided),
            },
        };
        Ok(match order {
            Ordering::Less => Verdict::Pass,
            Ordering::Greater => Verdict::Fail,
            Ordering::Equal if self.more_keys => Verdict::Undecided,
            // A later row loses a tie.
            Ordering::Equal => Verdict::Fail,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::expr::{Env, Values};
    use crate::store::entity::Row;
    use crate::store::row_format::{decode_row, encode_row};
    use serde_json::json;
    use std::rc::Rc;

    fn column(slot: usize, name: &str) -> Box<Expr> {
        Box::new(Expr::Column {
            source: 0,
            slot,
            path: vec![name.to_string()],
        })
    }

    fn literal(v: Value) -> Box<Expr> {
        Box::new(Expr::Literal(v))
    }

    /// A field's value of every kind (`None`: the row lacks the field), with neighbours that
    /// tell orders apart: integers and floats, timestamps in two spellings, nested values.
    fn field_values() -> Vec<Option<Value>> {
        [
            json!(null),
            json!(true),
            json!(false),
            json!(3),
            json!(-7),
            json!(u64::MAX),
            json!(2.5),
            json!(3.0),
            json!("abc"),
            json!("abd"),
            json!(""),
            json!("2024-01-01T00:00:00Z"),
            json!("2024-01-01 00:00:00"),
            json!([1]),
            json!([1, 3]),
            json!({"a": 1}),
        ]
        .into_iter()
        .map(Some)
        .chain([None])
        .collect()
    }

    /// Every condition a stored-row test handles, on every kind of field value: where the test
    /// decides, it agrees with the general evaluation of the decoded row.
    #[test]
    fn stored_tests_agree_with_evaluating_decoded_values() {
        let names: Vec<String> = vec!["f".into()];
        let fields = field_values();
        let constants = [
            json!(null),
            json!(true),
            json!(3),
            json!(-7),
            json!(3.0),
            json!(2.75),
            json!(u64::MAX),
            json!(1e300),
            json!("abc"),
            json!("abd"),
            json!("2024-01-01T00:00:00+00:00"),
            json!([1]),
        ];
        let ops = [
            CmpOp::Eq,
            CmpOp::NotEq,
            CmpOp::Lt,
            CmpOp::LtEq,
            CmpOp::Gt,
            CmpOp::GtEq,
        ];
        let mut exprs = vec![
            Expr::IsNull {
                expr: column(0, "f"),
                negated: false,
            },
            Expr::IsNull {
                expr: column(0, "f"),
                negated: true,
            },
        ];
        for c in &constants {
            for op in ops {
                exprs.push(Expr::Cmp(op, column(0, "f"), literal(c.clone())));
                exprs.push(Expr::Cmp(op, literal(c.clone()), column(0, "f")));
            }
            for negated in [false, true] {
                exprs.push(Expr::In {
                    expr: column(0, "f"),
                    list: vec![*literal(c.clone())],
                    negated,
                });
                exprs.push(Expr::In {
                    expr: column(0, "f"),
                    list: vec![
                        *literal(json!(-7)),
                        *literal(c.clone()),
                        *literal(json!("abc")),
                    ],
                    negated,
                });
            }
            for high in &constants {
                for negated in [false, true] {
                    exprs.push(Expr::Between {
                        expr: column(0, "f"),
                        low: literal(c.clone()),
                        high: literal(high.clone()),
                        negated,
                    });
                }
            }
        }
        let mut decided = 0;
        for field in &fields {
            let mut row = Row::new();
            if let Some(v) = field {
                row.insert("f".into(), v.clone());
            }
            row.insert("other".into(), json!("x"));
            let stored = encode_row(&row, false);
            let stored = decode_row(&stored).unwrap();
            let mut values = vec![Value::Null];
            stored.decode_slots(&names, &|_| true, &mut values).unwrap();
            let tuple: Vec<Option<Values>> = vec![Some(Rc::from(values))];
            for expr in &exprs {
                let pred = Pred {
                    expr: expr.clone(),
                    text: String::new(),
                };
                let expected = expr.test(&Env::rows(&tuple)).unwrap();
                let Some(mut filter) = StoredFilter::new(std::slice::from_ref(&pred), 0, &names)
                else {
                    continue;
                };
                match filter.check(&stored, &names).unwrap() {
                    Verdict::Undecided => {}
                    got => {
                        decided += 1;
                        assert_eq!(got == Verdict::Pass, expected, "{expr:?} on {field:?}");
                    }
                }
            }
        }
        assert!(decided > 2000, "only {decided} cases decided");
    }

    /// A top-k scan's test on the stored first key agrees with comparing decoded values.
    #[test]
    fn stored_sort_keys_agree_with_comparing_decoded_values() {
        let names: Vec<String> = vec!["f".into()];
        let values = field_values();
        let mut decided = 0;
        for field in &values {
            let mut row = Row::new();
            if let Some(v) = field {
                row.insert("f".into(), v.clone());
            }
            let stored = encode_row(&row, false);
            let stored = decode_row(&stored).unwrap();
            let decoded = field.clone().unwrap_or(Value::Null);
            for cut in values.iter().map(|v| v.clone().unwrap_or(Value::Null)) {
                for (desc, nulls_first, more) in
                    (0..8).map(|b| (b & 1 == 1, b & 2 == 2, b & 4 == 4))
                {
                    let key = || SortKey {
                        expr: *column(0, "f"),
                        desc,
                        nulls_first,
                        text: String::new(),
                    };
                    let order = if more {
                        vec![key(), key()]
                    } else {
                        vec![key()]
                    };
                    let stored_key = StoredSortKey::new(&order, &names).unwrap();
                    let expected = super::super::cmp_key(&order[0], &decoded, &cut);
                    match stored_key.beats(&stored, &names, &cut).unwrap() {
                        Verdict::Undecided => assert!(
                            expected == Ordering::Equal && more
                                || matches!(decoded, Value::Array(_) | Value::Object(_)),
                            "{decoded} against {cut}"
                        ),
                        got => {
                            decided += 1;
                            assert_eq!(
                                got == Verdict::Pass,
                                expected == Ordering::Less,
                                "{decoded} against {cut}, desc {desc}, nulls first {nulls_first}"
                            );
                        }
                    }
                }
            }
        }
        assert!(decided > 1000, "only {decided} cases decided");
    }

    #[test]
    fn a_filter_with_conditions_it_cannot_test_never_passes_a_row_alone() {
        let names = vec!["f".to_string(), "g".to_string()];
        let compiled = Pred {
            expr: Expr::Cmp(CmpOp::Eq, column(0, "f"), literal(json!(1))),
            text: String::new(),
        };
        let other = Pred {
            expr: Expr::Cmp(CmpOp::Eq, column(1, "g"), column(0, "f")),
            text: String::new(),
        };
        let value = encode_row(&Row::from_iter([("f".into(), json!(1))]), false);
        let row = decode_row(&value).unwrap();
        let mut alone = StoredFilter::new([&compiled], 0, &names).unwrap();
        assert_eq!(alone.check(&row, &names).unwrap(), Verdict::Pass);
        let mut with_other = StoredFilter::new([&compiled, &other], 0, &names).unwrap();
        assert_eq!(with_other.check(&row, &names).unwrap(), Verdict::Undecided);
        let value = encode_row(&Row::from_iter([("f".into(), json!(2))]), false);
        let row = decode_row(&value).unwrap();
        assert_eq!(with_other.check(&row, &names).unwrap(), Verdict::Fail);
    }

    #[test]
    fn rows_stored_as_json_text_are_left_to_the_general_evaluation() {
        let pred = Pred {
            expr: Expr::Cmp(CmpOp::Eq, column(0, "f"), literal(json!(1))),
            text: String::new(),
        };
        let mut filter = StoredFilter::new(&[pred], 0, &["f".to_string()]).unwrap();
        let value = [&[0x10u8][..], br#"{"f":1}"#].concat();
        let row = decode_row(&value).unwrap();
        assert_eq!(
            filter.check(&row, &["f".to_string()]).unwrap(),
            Verdict::Undecided
        );
    }
}
