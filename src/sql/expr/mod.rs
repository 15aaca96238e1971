//! Bound expressions: columns resolved to a source and a path, parameters bound, functions
//! checked. Evaluation follows [`super::value`]'s semantics.

mod func;

use std::borrow::Cow;
use std::rc::Rc;

use self::func::{as_text, cast, eval_func, shift};
use serde_json::Value;

use super::value::{
    apply_cmp, arith, equals, float_value, integer_of, integer_value, parse_time, short, truth,
    truth_value, ArithOp, CmpOp, LikePattern, Truth,
};
use crate::error::{Error, Result};
use crate::store::entity::format_ts;

/// The fields of one row a query reads, by slot (see [`Expr::Column`]); NULL when absent. One
/// allocation per row.
pub(crate) type Values = Rc<[Value]>;

/// One row per source (table) of a query; `None` for the missing side of a LEFT JOIN.
pub(crate) type Tuple = Vec<Option<Values>>;

/// What an expression reads: the source rows, plus slots (group keys and aggregates, or output
/// columns) once rows are grouped or projected.
#[derive(Clone, Copy)]
pub(crate) struct Env<'a> {
    pub(crate) tuple: &'a [Option<Values>],
    pub(crate) slots: &'a [Value],
    pub(crate) outputs: &'a [Value],
}

impl<'a> Env<'a> {
    pub(crate) fn rows(tuple: &'a [Option<Values>]) -> Self {
        Env {
            tuple,
            slots: &[],
            outputs: &[],
        }
    }
}

/// A scalar function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Func {
    Lower,
    Upper,
    Length,
    Trim,
    Abs,
    Round,
    Floor,
    Ceil,
    Coalesce,
    NullIf,
    Concat,
}

impl Func {
    /// The function called `name` (case-insensitive) and its arity range.
    pub(crate) fn by_name(name: &str) -> Option<(Func, usize, usize)> {
        Some(match name.to_ascii_lowercase().as_str() {
            "lower" => (Func::Lower, 1, 1),
            "upper" => (Func::Upper, 1, 1),
            "length" | "char_length" | "character_length" => (Func::Length, 1, 1),
            "trim" => (Func::Trim, 1, 1),
            "abs" => (Func::Abs, 1, 1),
            "round" => (Func::Round, 1, 2),
            "floor" => (Func::Floor, 1, 1),
            "ceil" | "ceiling" => (Func::Ceil, 1, 1),
            "coalesce" => (Func::Coalesce, 1, usize::MAX),
            "nullif" => (Func::NullIf, 2, 2),
            "concat" => (Func::Concat, 1, usize::MAX),
            _ => return None,
        })
    }
}

/// A target type of `CAST`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CastType {
    Text,
    Integer,
    Float,
    Boolean,
    Timestamp,
}

impl CastType {
    pub(crate) fn name(self) -> &'static str {
        match self {
            CastType::Text => "TEXT",
            CastType::Integer => "INTEGER",
            CastType::Float => "FLOAT",
            CastType::Boolean => "BOOLEAN",
            CastType::Timestamp => "TIMESTAMP",
        }
    }
}

/// A calendar-aware interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Interval {
    pub(crate) months: u32,
    pub(crate) micros: i64,
}

/// A bound expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    /// A field of source `source`: its top-level field `path[0]` is decoded into `slot`, and
    /// the rest of `path` walks into nested objects.
    Column {
        source: usize,
        slot: usize,
        path: Vec<String>,
    },
    Literal(Value),
    /// A group key or aggregate result (after GROUP BY).
    Slot(usize),
    /// A projected output column (ORDER BY by alias or position).
    Output(usize),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
    Arith(ArithOp, Box<Expr>, Box<Expr>),
    /// `a || b`: string concatenation, NULL when either is NULL.
    Concat(Box<Expr>, Box<Expr>),
    In {
        expr: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
    },
    Between {
        expr: Box<Expr>,
        low: Box<Expr>,
        high: Box<Expr>,
        negated: bool,
    },
    Like {
        expr: Box<Expr>,
        pattern: Box<Expr>,
        compiled: Option<LikePattern>,
        escape: Option<char>,
        fold_case: bool,
        negated: bool,
    },
    IsNull {
        expr: Box<Expr>,
        negated: bool,
    },
    /// `IS [NOT] TRUE|FALSE`.
    IsBool {
        expr: Box<Expr>,
        value: bool,
        negated: bool,
    },
    Func {
        func: Func,
        args: Vec<Expr>,
    },
    /// A timestamp plus (or minus, when `subtract`) an interval.
    Shift {
        expr: Box<Expr>,
        by: Interval,
        subtract: bool,
    },
    Case {
        operand: Option<Box<Expr>>,
        branches: Vec<(Expr, Expr)>,
        otherwise: Option<Box<Expr>>,
    },
    Cast {
        expr: Box<Expr>,
        to: CastType,
    },
}

fn lit<'a>(v: Value) -> Result<Cow<'a, Value>> {
    Ok(Cow::Owned(v))
}

impl Expr {
    pub(crate) fn boxed(self) -> Box<Expr> {
        Box::new(self)
    }

    /// `true` when the expression reads no row, slot or output (it can be evaluated once).
    pub(crate) fn is_const(&self) -> bool {
        let mut found = false;
        self.visit(&mut |e| {
            found |= matches!(e, Expr::Column { .. } | Expr::Slot(_) | Expr::Output(_))
        });
        !found
    }

    /// Calls `f` on this expression and every subexpression.
    pub(crate) fn visit(&self, f: &mut impl FnMut(&Expr)) {
        f(self);
        match self {
            Expr::Column { .. } | Expr::Literal(_) | Expr::Slot(_) | Expr::Output(_) => {}
            Expr::Not(e)
            | Expr::Neg(e)
            | Expr::IsNull { expr: e, .. }
            | Expr::IsBool { expr: e, .. } => e.visit(f),
            Expr::Shift { expr, .. } | Expr::Cast { expr, .. } => expr.visit(f),
            Expr::And(a, b)
            | Expr::Or(a, b)
            | Expr::Cmp(_, a, b)
            | Expr::Arith(_, a, b)
            | Expr::Concat(a, b) => {
                a.visit(f);
                b.visit(f);
            }
            Expr::In { expr, list, .. } => {
                expr.visit(f);
                list.iter().for_each(|e| e.visit(f));
            }
            Expr::Between {
                expr, low, high, ..
            } => {
                expr.visit(f);
                low.visit(f);
                high.visit(f);
            }
            Expr::Like { expr, pattern, .. } => {
                expr.visit(f);
                pattern.visit(f);
            }
            Expr::Func { args, .. } => args.iter().for_each(|e| e.visit(f)),
            Expr::Case {
                operand,
                branches,
                otherwise,
            } => {
                if let Some(o) = operand {
                    o.visit(f);
                }
                for (w, t) in branches {
                    w.visit(f);
                    t.visit(f);
                }
                if let Some(o) = otherwise {
                    o.visit(f);
                }
            }
        }
    }

    /// Bit set of the sources the expression reads.
    pub(crate) fn sources(&self) -> u64 {
        let mut bits = 0u64;
        self.visit(&mut |e| {
            if let Expr::Column { source, .. } = e {
                bits |= 1 << source;
            }
        });
        bits
    }

    /// Evaluates a constant expression.
    pub(crate) fn eval_const(&self) -> Result<Value> {
        Ok(self
            .eval(&Env {
                tuple: &[],
                slots: &[],
                outputs: &[],
            })?
            .into_owned())
    }

    /// Evaluates as a condition: only `true` passes.
    pub(crate) fn test(&self, env: &Env<'_>) -> Result<bool> {
        Ok(truth(&*self.eval(env)?)? == Some(true))
    }

    fn eval_truth(&self, env: &Env<'_>) -> Result<Truth> {
        truth(&*self.eval(env)?)
    }

    /// Evaluates against `env`.
    pub(crate) fn eval<'a>(&'a self, env: &Env<'a>) -> Result<Cow<'a, Value>> {
        static NULL: Value = Value::Null;
        match self {
            Expr::Column { source, slot, path } => {
                let row = env.tuple.get(*source).and_then(|r| r.as_deref());
                let mut current = match row.and_then(|r| r.get(*slot)) {
                    Some(v) if !v.is_null() => v,
                    _ => return Ok(Cow::Borrowed(&NULL)),
                };
                for part in &path[1..] {
                    current = match current.as_object().and_then(|o| o.get(part)) {
                        Some(v) => v,
                        None => return Ok(Cow::Borrowed(&NULL)),
                    };
                }
                Ok(Cow::Borrowed(current))
            }
            Expr::Literal(v) => Ok(Cow::Borrowed(v)),
            Expr::Slot(i) => Ok(Cow::Borrowed(env.slots.get(*i).unwrap_or(&NULL))),
            Expr::Output(i) => Ok(Cow::Borrowed(env.outputs.get(*i).unwrap_or(&NULL))),
            Expr::Not(e) => lit(truth_value(e.eval_truth(env)?.map(|b| !b))),
            Expr::Neg(e) => match &*e.eval(env)? {
                Value::Null => lit(Value::Null),
                Value::Number(n) => lit(match integer_of(n) {
                    Some(i) => integer_value(-i).ok_or_else(|| {
                        Error::SqlType(format!(
                            "integer overflow: -({n}) is outside the 64-bit range"
                        ))
                    })?,
                    None => float_value(-n.as_f64().unwrap_or(f64::NAN)),
                }),
                other => Err(Error::SqlType(format!("cannot negate {}", short(other)))),
            },
            Expr::And(a, b) => {
                let l = a.eval_truth(env)?;
                if l == Some(false) {
                    return lit(Value::Bool(false));
                }
                let r = b.eval_truth(env)?;
                lit(truth_value(match (l, r) {
                    (_, Some(false)) => Some(false),
                    (Some(true), Some(true)) => Some(true),
                    _ => None,
                }))
            }
            Expr::Or(a, b) => {
                let l = a.eval_truth(env)?;
                if l == Some(true) {
                    return lit(Value::Bool(true));
                }
                let r = b.eval_truth(env)?;
                lit(truth_value(match (l, r) {
                    (_, Some(true)) => Some(true),
                    (Some(false), Some(false)) => Some(false),
                    _ => None,
                }))
            }
            Expr::Cmp(op, a, b) => lit(truth_value(apply_cmp(*op, &*a.eval(env)?, &*b.eval(env)?))),
            Expr::Arith(op, a, b) => lit(arith(*op, &*a.eval(env)?, &*b.eval(env)?)?),
            Expr::Concat(a, b) => {
                let (l, r) = (a.eval(env)?, b.eval(env)?);
                if l.is_null() || r.is_null() {
                    return lit(Value::Null);
                }
                lit(Value::String(format!("{}{}", as_text(&l), as_text(&r))))
            }
            Expr::In {
                expr,
                list,
                negated,
            } => lit(truth_value(eval_in(expr, list, *negated, env)?)),
            Expr::Between {
                expr,
                low,
                high,
                negated,
            } => {
                let v = expr.eval(env)?;
                let ge = apply_cmp(CmpOp::GtEq, &v, &*low.eval(env)?);
                let le = apply_cmp(CmpOp::LtEq, &v, &*high.eval(env)?);
                let both = match (ge, le) {
                    (Some(false), _) | (_, Some(false)) => Some(false),
                    (Some(true), Some(true)) => Some(true),
                    _ => None,
                };
                lit(truth_value(if *negated { both.map(|b| !b) } else { both }))
            }
            Expr::Like {
                expr,
                pattern,
                compiled,
                escape,
                fold_case,
                negated,
            } => {
                let like = LikeSide {
                    pattern,
                    compiled: compiled.as_ref(),
                    escape: *escape,
                    fold_case: *fold_case,
                };
                eval_like(expr, &like, *negated, env)
            }
            Expr::IsNull { expr, negated } => {
                lit(Value::Bool(expr.eval(env)?.is_null() != *negated))
            }
            Expr::IsBool {
                expr,
                value,
                negated,
            } => {
                let is = expr.eval_truth(env)? == Some(*value);
                lit(Value::Bool(is != *negated))
            }
            Expr::Func { func, args } => eval_func(*func, args, env),
            Expr::Shift { expr, by, subtract } => eval_shift(expr, *by, *subtract, env),
            Expr::Case {
                operand,
                branches,
                otherwise,
            } => eval_case(operand.as_deref(), branches, otherwise.as_deref(), env),
            Expr::Cast { expr, to } => lit(cast(&*expr.eval(env)?, *to)?),
        }
    }
}

/// `expr [NOT] IN (list)`: true on a match, unknown when none matches but a comparison was.
fn eval_in(expr: &Expr, list: &[Expr], negated: bool, env: &Env<'_>) -> Result<Truth> {
    let v = expr.eval(env)?;
    let mut result = Some(false);
    for item in list {
        match equals(&v, &*item.eval(env)?) {
            Some(true) => {
                result = Some(true);
                break;
            }
            None => result = None,
            Some(false) => {}
        }
    }
    Ok(if negated { result.map(|b| !b) } else { result })
}

/// The pattern side of a LIKE: compiled when it is a constant.
struct LikeSide<'e> {
    pattern: &'e Expr,
    compiled: Option<&'e LikePattern>,
    escape: Option<char>,
    fold_case: bool,
}

/// `expr [NOT] [I]LIKE pattern`.
fn eval_like<'a>(
    expr: &'a Expr,
    like: &LikeSide<'a>,
    negated: bool,
    env: &Env<'a>,
) -> Result<Cow<'a, Value>> {
    let v = expr.eval(env)?;
    let text = match &*v {
        Value::Null => return lit(Value::Null),
        Value::String(s) => s.as_str(),
        other => {
            return Err(Error::SqlType(format!(
                "LIKE needs a string, got {}",
                short(other)
            )))
        }
    };
    let matched = match like.compiled {
        Some(p) => p.matches(text),
        None => match &*like.pattern.eval(env)? {
            Value::Null => return lit(Value::Null),
            Value::String(p) => LikePattern::compile(p, like.escape, like.fold_case).matches(text),
            other => {
                return Err(Error::SqlType(format!(
                    "a LIKE pattern must be a string, got {}",
                    short(other)
                )))
            }
        },
    };
    lit(Value::Bool(matched != negated))
}

/// `timestamp ± INTERVAL`.
fn eval_shift<'a>(
    expr: &'a Expr,
    by: Interval,
    subtract: bool,
    env: &Env<'a>,
) -> Result<Cow<'a, Value>> {
    let v = expr.eval(env)?;
    let t = match &*v {
        Value::Null => return lit(Value::Null),
        Value::String(s) => parse_time(s).ok_or_else(|| {
            Error::SqlType(format!("`{s}` is not a timestamp, cannot add an interval"))
        })?,
        other => {
            return Err(Error::SqlType(format!(
                "cannot add an interval to {}",
                short(other)
            )))
        }
    };
    lit(Value::String(format_ts(shift(t, by, subtract)?)))
}

/// `CASE [operand] WHEN ... THEN ... [ELSE ...] END`.
fn eval_case<'a>(
    operand: Option<&'a Expr>,
    branches: &'a [(Expr, Expr)],
    otherwise: Option<&'a Expr>,
    env: &Env<'a>,
) -> Result<Cow<'a, Value>> {
    let subject = operand.map(|o| o.eval(env)).transpose()?;
    for (when, then) in branches {
        let hit = match &subject {
            Some(s) => equals(s, &*when.eval(env)?) == Some(true),
            None => when.eval_truth(env)? == Some(true),
        };
        if hit {
            return then.eval(env);
        }
    }
    match otherwise {
        Some(e) => e.eval(env),
        None => lit(Value::Null),
    }
}
