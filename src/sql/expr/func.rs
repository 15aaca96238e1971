//! Evaluation of scalar functions, CAST and interval arithmetic.

use std::borrow::Cow;

use chrono::{DateTime, Duration, Months, Utc};
use serde_json::Value;

use super::{lit, CastType, Env, Expr, Func, Interval};
use crate::error::{Error, Result};
use crate::sql::value::{equals, float_value, integer_of, integer_value, parse_time, short};
use crate::store::entity::format_ts;

/// `t` moved by the interval `by`, forward or back.
pub(super) fn shift(t: DateTime<Utc>, by: Interval, subtract: bool) -> Result<DateTime<Utc>> {
    let overflow = || Error::SqlType("timestamp out of range".into());
    let months = Months::new(by.months);
    let t = if subtract {
        t.checked_sub_months(months)
    } else {
        t.checked_add_months(months)
    }
    .ok_or_else(overflow)?;
    let d = Duration::microseconds(by.micros);
    if subtract {
        t.checked_sub_signed(d)
    } else {
        t.checked_add_signed(d)
    }
    .ok_or_else(overflow)
}

/// Text of a scalar for concatenation and CAST to text.
pub(super) fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Evaluates a scalar function call.
pub(super) fn eval_func<'a>(func: Func, args: &'a [Expr], env: &Env<'a>) -> Result<Cow<'a, Value>> {
    if func == Func::Coalesce {
        for a in args {
            let v = a.eval(env)?;
            if !v.is_null() {
                return Ok(v);
            }
        }
        return lit(Value::Null);
    }
    let values = args
        .iter()
        .map(|a| a.eval(env))
        .collect::<Result<Vec<_>>>()?;
    if func == Func::Concat {
        return lit(Value::String(
            values
                .iter()
                .filter(|v| !v.is_null())
                .map(|v| as_text(v))
                .collect(),
        ));
    }
    if func == Func::NullIf {
        return lit(if equals(&values[0], &values[1]) == Some(true) {
            Value::Null
        } else {
            values[0].clone().into_owned()
        });
    }
    let v = &*values[0];
    if v.is_null() {
        return lit(Value::Null);
    }
    let name = format!("{func:?}").to_uppercase();
    let need = |what: &str| Error::SqlType(format!("{name}() needs {what}, got {}", short(v)));
    match func {
        Func::Lower | Func::Upper | Func::Trim => {
            let s = v.as_str().ok_or_else(|| need("a string"))?;
            lit(Value::String(match func {
                Func::Lower => s.to_lowercase(),
                Func::Upper => s.to_uppercase(),
                _ => s.trim().to_string(),
            }))
        }
        Func::Length => match v {
            Value::String(s) => lit(Value::from(s.chars().count())),
            Value::Array(a) => lit(Value::from(a.len())),
            _ => Err(need("a string or an array")),
        },
        Func::Abs | Func::Round | Func::Floor | Func::Ceil => {
            let n = v.as_number().ok_or_else(|| need("a number"))?;
            if let Some(i) = integer_of(n) {
                // Integers are already whole; ABS(i64::MIN) overflows.
                if func != Func::Abs {
                    return lit(v.clone());
                }
                return integer_value(i.abs()).map(lit).unwrap_or_else(|| {
                    Err(Error::SqlType(format!(
                        "integer overflow: ABS({n}) is outside the 64-bit range"
                    )))
                });
            }
            let f = n.as_f64().unwrap_or(f64::NAN);
            lit(float_value(match func {
                Func::Abs => f.abs(),
                Func::Floor => f.floor(),
                Func::Ceil => f.ceil(),
                _ => {
                    let digits = match values.get(1).map(|d| &**d) {
                        None => 0,
                        Some(Value::Number(d))
                            if d.as_i64().is_some_and(|d| (0..=15).contains(&d)) =>
                        {
                            d.as_i64().unwrap_or(0)
                        }
                        Some(other) => {
                            return Err(Error::SqlType(format!(
                                "ROUND() digits must be an integer 0–15, got {}",
                                short(other)
                            )))
                        }
                    };
                    let scale = 10f64.powi(digits as i32);
                    (f * scale).round() / scale
                }
            }))
        }
        Func::Coalesce | Func::Concat | Func::NullIf => unreachable_func(),
    }
}

fn unreachable_func<'a>() -> Result<Cow<'a, Value>> {
    Err(Error::SqlType("internal: function dispatched twice".into()))
}

/// `CAST(v AS to)`.
pub(super) fn cast(v: &Value, to: CastType) -> Result<Value> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    let fail = || Error::SqlType(format!("cannot cast {} to {}", short(v), to.name()));
    Ok(match to {
        CastType::Text => Value::String(as_text(v)),
        CastType::Integer => match v {
            Value::Number(n) => match n.as_i64() {
                Some(i) => Value::from(i),
                None => {
                    let f = n.as_f64().unwrap_or(f64::NAN).trunc();
                    if f.is_finite() && f.abs() < 9.2e18 {
                        Value::from(f as i64)
                    } else {
                        return Err(fail());
                    }
                }
            },
            Value::String(s) => Value::from(s.trim().parse::<i64>().map_err(|_| fail())?),
            Value::Bool(b) => Value::from(i64::from(*b)),
            _ => return Err(fail()),
        },
        CastType::Float => match v {
            Value::Number(n) => float_value(n.as_f64().unwrap_or(f64::NAN)),
            Value::String(s) => float_value(s.trim().parse::<f64>().map_err(|_| fail())?),
            _ => return Err(fail()),
        },
        CastType::Boolean => match v {
            Value::Bool(b) => Value::Bool(*b),
            Value::Number(n) => Value::Bool(n.as_f64() != Some(0.0)),
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "t" | "yes" | "1" => Value::Bool(true),
                "false" | "f" | "no" | "0" => Value::Bool(false),
                _ => return Err(fail()),
            },
            _ => return Err(fail()),
        },
        CastType::Timestamp => match v {
            Value::String(s) => Value::String(format_ts(parse_time(s).ok_or_else(fail)?)),
            _ => return Err(fail()),
        },
    })
}
