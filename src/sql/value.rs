//! Value semantics of SQL over JSON: comparison, three-valued logic, arithmetic, LIKE, time.
//!
//! - A missing field and JSON `null` are both SQL NULL.
//! - Numbers compare numerically across ints and floats.
//! - Strings compare by UTF-8 bytes, case-sensitively — except that two strings which both read
//!   as timestamps (`2025-01-01`, `2025-01-01 10:00`, RFC 3339 with any offset) compare as
//!   instants, so `created_at >= '2025-01-01'` means what it says.
//! - Values of different types are never equal; ordering them (`<`, `>`, ...) is NULL.
//! - An array compared with a scalar matches when any element does (as the secondary index does).

use std::cmp::Ordering;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::{Number, Value};

use crate::error::{Error, Result};

/// SQL truth: `Some(bool)`, or `None` for unknown (NULL).
pub(crate) type Truth = Option<bool>;

/// The truth of a value used as a condition: booleans are themselves, NULL is unknown, anything
/// else is an error.
pub(crate) fn truth(v: &Value) -> Result<Truth> {
    match v {
        Value::Bool(b) => Ok(Some(*b)),
        Value::Null => Ok(None),
        other => Err(Error::SqlType(format!(
            "expected a boolean condition, got {}",
            short(other)
        ))),
    }
}

/// A truth as a value.
pub(crate) fn truth_value(t: Truth) -> Value {
    t.map_or(Value::Null, Value::Bool)
}

/// A short rendering of a value for error messages.
pub(crate) fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 40 {
        format!(
            "{}…",
            &s[..s.char_indices().nth(40).map_or(s.len(), |(i, _)| i)]
        )
    } else {
        s
    }
}

/// Parses the timestamp forms SQL literals use: RFC 3339, `YYYY-MM-DD`, `YYYY-MM-DD HH:MM[:SS[.f]]`
/// and `YYYY-MM-DDTHH:MM[:SS[.f]]` (without an offset: UTC).
pub(crate) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' || !b[..4].iter().all(u8::is_ascii_digit) {
        return None;
    }
    if b.len() == 10 {
        return NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Some(t.and_utc());
        }
    }
    DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%#z")
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn cmp_numbers(a: &Number, b: &Number) -> Ordering {
    match (a.as_i64(), b.as_i64()) {
        (Some(x), Some(y)) => x.cmp(&y),
        _ => cmp_f64(
            a.as_f64().unwrap_or(f64::NAN),
            b.as_f64().unwrap_or(f64::NAN),
        ),
    }
}

/// Numbers that are not both 64-bit integers compare as floats, NaN equal to everything.
pub(crate) fn cmp_f64(x: f64, y: f64) -> Ordering {
    x.partial_cmp(&y).unwrap_or(Ordering::Equal)
}

fn cmp_strings(a: &str, b: &str) -> Ordering {
    if let (Some(x), Some(y)) = (parse_time(a), parse_time(b)) {
        return x.cmp(&y);
    }
    a.cmp(b)
}

/// Compares two non-null scalars of the same type; `None` when the types differ or either is
/// null, an array or an object (those compare only for equality).
pub(crate) fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => Some(cmp_numbers(x, y)),
        (Value::String(x), Value::String(y)) => Some(cmp_strings(x, y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// SQL `a = b`: NULL when either is NULL; arrays against scalars match on any element.
pub(crate) fn equals(a: &Value, b: &Value) -> Truth {
    match (a, b) {
        (Value::Null, _) | (_, Value::Null) => None,
        (Value::Array(items), scalar) | (scalar, Value::Array(items)) if !scalar.is_array() => {
            any_of(items, |item| equals(item, scalar))
        }
        (Value::Array(_) | Value::Object(_), _) | (_, Value::Array(_) | Value::Object(_)) => {
            Some(json_equal(a, b))
        }
        _ => Some(compare(a, b) == Some(Ordering::Equal)),
    }
}

/// Structural equality, numbers numerically.
fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => cmp_numbers(x, y) == Ordering::Equal,
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_equal(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

/// SQL `OR` over the items: true if any is true, else NULL if any is NULL, else false.
fn any_of(items: &[Value], f: impl Fn(&Value) -> Truth) -> Truth {
    let mut unknown = false;
    for item in items {
        match f(item) {
            Some(true) => return Some(true),
            None => unknown = true,
            Some(false) => {}
        }
    }
    if unknown {
        None
    } else {
        Some(false)
    }
}

/// The comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
}

impl CmpOp {
    /// The operator with its operands swapped (`a < b` ⇔ `b > a`).
    pub(crate) fn flip(self) -> CmpOp {
        match self {
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::LtEq => CmpOp::GtEq,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::GtEq => CmpOp::LtEq,
            other => other,
        }
    }
}

/// SQL comparison with three-valued logic.
pub(crate) fn apply_cmp(op: CmpOp, a: &Value, b: &Value) -> Truth {
    match op {
        CmpOp::Eq => equals(a, b),
        CmpOp::NotEq => equals(a, b).map(|t| !t),
        _ => match (a, b) {
            (Value::Null, _) | (_, Value::Null) => None,
            (Value::Array(items), scalar) if !scalar.is_array() => {
                any_of(items, |item| apply_cmp(op, item, scalar))
            }
            (scalar, Value::Array(items)) if !scalar.is_array() => {
                any_of(items, |item| apply_cmp(op, scalar, item))
            }
            _ => compare(a, b).map(|o| match op {
                CmpOp::Lt => o == Ordering::Less,
                CmpOp::LtEq => o != Ordering::Greater,
                CmpOp::Gt => o == Ordering::Greater,
                _ => o != Ordering::Less,
            }),
        },
    }
}

/// Type rank for the total order used by ORDER BY, MIN/MAX and grouping.
pub(crate) fn type_rank(v: &Value) -> u8 {
    match v {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Number(_) => 2,
        Value::String(_) => 3,
        Value::Array(_) => 4,
        Value::Object(_) => 5,
    }
}

/// A total order over values: null < booleans < numbers < strings (by bytes) < arrays < objects.
pub(crate) fn total_cmp(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => cmp_numbers(x, y),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => {
            for (p, q) in x.iter().zip(y) {
                let o = total_cmp(p, q);
                if o != Ordering::Equal {
                    return o;
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Object(_), Value::Object(_)) => a.to_string().cmp(&b.to_string()),
        _ => type_rank(a).cmp(&type_rank(b)),
    }
}

/// A number value from an f64 (NULL when not finite); integral values within i64 stay ints only
/// when `keep_int`.
pub(crate) fn float_value(f: f64) -> Value {
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

/// The integer a JSON number holds exactly (`i64` or `u64`), if it is one.
pub(crate) fn integer_of(n: &Number) -> Option<i128> {
    n.as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
}

/// `i` as a SQL integer result: `None` outside the 64-bit signed range (an overflow, which the
/// caller reports; results never turn into floats silently). Inputs may be larger `u64`s.
pub(crate) fn integer_value(i: i128) -> Option<Value> {
    i64::try_from(i).ok().map(Value::from)
}

/// The arithmetic operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

impl ArithOp {
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            ArithOp::Add => "+",
            ArithOp::Sub => "-",
            ArithOp::Mul => "*",
            ArithOp::Div => "/",
            ArithOp::Mod => "%",
        }
    }
}

/// `a op b` over numbers: ints stay ints (integer division truncates) unless they overflow;
/// NULL in, NULL out; division by zero is an error.
pub(crate) fn arith(op: ArithOp, a: &Value, b: &Value) -> Result<Value> {
    let (x, y) = match (a, b) {
        (Value::Null, _) | (_, Value::Null) => return Ok(Value::Null),
        (Value::Number(x), Value::Number(y)) => (x, y),
        _ => {
            return Err(Error::SqlType(format!(
                "cannot compute {} {} {}: arithmetic needs numbers",
                short(a),
                op.symbol(),
                short(b)
            )))
        }
    };
    if let (Some(i), Some(j)) = (integer_of(x), integer_of(y)) {
        // Both within 64 bits, so none of these overflow 128 bits.
        let exact = match op {
            ArithOp::Add => i + j,
            ArithOp::Sub => i - j,
            ArithOp::Mul => i * j,
            ArithOp::Div | ArithOp::Mod if j == 0 => {
                return Err(Error::SqlType("division by zero".into()))
            }
            ArithOp::Div => i / j,
            ArithOp::Mod => i % j,
        };
        return integer_value(exact).ok_or_else(|| {
            Error::SqlType(format!(
                "integer overflow: {} {} {} is outside the 64-bit range; CAST(... AS FLOAT) for floating-point arithmetic",
                short(a),
                op.symbol(),
                short(b)
            ))
        });
    }
    let (f, g) = (
        x.as_f64().unwrap_or(f64::NAN),
        y.as_f64().unwrap_or(f64::NAN),
    );
    let out = match op {
        ArithOp::Add => f + g,
        ArithOp::Sub => f - g,
        ArithOp::Mul => f * g,
        ArithOp::Div | ArithOp::Mod if g == 0.0 => {
            return Err(Error::SqlType("division by zero".into()))
        }
        ArithOp::Div => f / g,
        ArithOp::Mod => f % g,
    };
    Ok(float_value(out))
}

/// A compiled SQL `LIKE` pattern: `%` matches any run, `_` one character, the escape character
/// makes the next one literal. Case-sensitive unless compiled for ILIKE.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LikePattern {
    tokens: Vec<Like>,
    fold_case: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Like {
    Char(char),
    One,
    Any,
}

impl LikePattern {
    pub(crate) fn compile(pattern: &str, escape: Option<char>, fold_case: bool) -> Self {
        let folded;
        let pattern = if fold_case {
            folded = pattern.to_lowercase();
            &folded
        } else {
            pattern
        };
        let mut tokens = Vec::new();
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            if Some(c) == escape {
                tokens.push(Like::Char(chars.next().unwrap_or(c)));
            } else if c == '%' {
                if tokens.last() != Some(&Like::Any) {
                    tokens.push(Like::Any);
                }
            } else if c == '_' {
                tokens.push(Like::One);
            } else {
                tokens.push(Like::Char(c));
            }
        }
        LikePattern { tokens, fold_case }
    }

    /// Whether `text` matches. Iterative, backtracking only to the last `%`.
    pub(crate) fn matches(&self, text: &str) -> bool {
        let folded;
        let text = if self.fold_case {
            folded = text.to_lowercase();
            &folded
        } else {
            text
        };
        let text: Vec<char> = text.chars().collect();
        let tokens = &self.tokens;
        let (mut t, mut p) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while t < text.len() {
            match tokens.get(p) {
                Some(Like::Char(c)) if *c == text[t] => {
                    t += 1;
                    p += 1;
                }
                Some(Like::One) => {
                    t += 1;
                    p += 1;
                }
                Some(Like::Any) => {
                    star = Some((p, t));
                    p += 1;
                }
                _ => match star {
                    Some((sp, st)) => {
                        p = sp + 1;
                        t = st + 1;
                        star = Some((sp, st + 1));
                    }
                    None => return false,
                },
            }
        }
        tokens[p..].iter().all(|tok| *tok == Like::Any)
    }
}

/// One-off `LIKE` match.
#[cfg(test)]
fn like(text: &str, pattern: &str, escape: Option<char>, fold_case: bool) -> bool {
    LikePattern::compile(pattern, escape, fold_case).matches(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_compare_across_ints_and_floats() {
        assert_eq!(equals(&json!(1), &json!(1.0)), Some(true));
        assert_eq!(apply_cmp(CmpOp::Lt, &json!(1), &json!(1.5)), Some(true));
        assert_eq!(
            apply_cmp(CmpOp::Gt, &json!(i64::MAX), &json!(i64::MAX - 1)),
            Some(true)
        );
    }

    #[test]
    fn null_and_mixed_types() {
        assert_eq!(equals(&json!(null), &json!(1)), None);
        assert_eq!(equals(&json!("1"), &json!(1)), Some(false));
        assert_eq!(apply_cmp(CmpOp::Lt, &json!("1"), &json!(2)), None);
        assert_eq!(apply_cmp(CmpOp::NotEq, &json!("a"), &json!(null)), None);
    }

    #[test]
    fn timestamps_compare_as_time() {
        assert_eq!(
            apply_cmp(
                CmpOp::GtEq,
                &json!("2025-01-01T00:00:00.000000Z"),
                &json!("2025-01-01")
            ),
            Some(true)
        );
        assert_eq!(
            equals(
                &json!("2025-01-01T02:00:00+02:00"),
                &json!("2025-01-01 00:00:00")
            ),
            Some(true)
        );
        assert_eq!(
            apply_cmp(
                CmpOp::Lt,
                &json!("2024-12-31T23:59:59Z"),
                &json!("2025-01-01")
            ),
            Some(true)
        );
        assert!(parse_time("2025-13-01").is_none());
        assert!(parse_time("hello world").is_none());
    }

    #[test]
    fn arrays_match_any_element() {
        assert_eq!(equals(&json!(["a", "b"]), &json!("b")), Some(true));
        assert_eq!(equals(&json!(["a", null]), &json!("b")), None);
        assert_eq!(apply_cmp(CmpOp::Gt, &json!([1, 5]), &json!(3)), Some(true));
        assert_eq!(equals(&json!([1, 2]), &json!([1.0, 2])), Some(true));
    }

    #[test]
    fn like_patterns() {
        assert!(like("hello", "h%o", None, false));
        assert!(like("hello", "_ello", None, false));
        assert!(!like("Hello", "h%", None, false));
        assert!(like("Hello", "h%", None, true));
        assert!(like("50%", "50!%", Some('!'), false));
        assert!(!like("500", "50!%", Some('!'), false));
        assert!(like("a,b", "%,%", None, false));
        assert!(like("", "%", None, false));
        assert!(!like("abc", "", None, false));
        assert!(like("mississippi", "%iss%ppi", None, false));
    }

    #[test]
    fn arithmetic() {
        assert_eq!(arith(ArithOp::Div, &json!(7), &json!(2)).unwrap(), json!(3));
        assert_eq!(
            arith(ArithOp::Div, &json!(7.0), &json!(2)).unwrap(),
            json!(3.5)
        );
        // Integer results stay exact or fail: never a float in disguise.
        let overflow = arith(ArithOp::Add, &json!(i64::MAX), &json!(1)).unwrap_err();
        assert_eq!(overflow.code(), "SQL_TYPE");
        assert!(
            overflow.to_string().contains("integer overflow"),
            "{overflow}"
        );
        let overflow = arith(ArithOp::Mul, &json!(i64::MAX), &json!(4)).unwrap_err();
        assert_eq!(overflow.code(), "SQL_TYPE");
        assert!(
            overflow.to_string().contains("integer overflow"),
            "{overflow}"
        );
        assert!(arith(ArithOp::Sub, &json!(i64::MIN), &json!(1)).is_err());
        assert!(arith(ArithOp::Add, &json!(u64::MAX), &json!(1)).is_err());
        assert!(arith(ArithOp::Div, &json!(i64::MIN), &json!(-1)).is_err());
        assert_eq!(
            arith(ArithOp::Sub, &json!(u64::MAX), &json!(u64::MAX)).unwrap(),
            json!(0)
        );
        assert_eq!(
            arith(ArithOp::Add, &json!(i64::MAX), &json!(1.0)).unwrap(),
            json!(9.223372036854776e18)
        );
        assert!(arith(ArithOp::Div, &json!(1), &json!(0)).is_err());
        assert!(arith(ArithOp::Add, &json!("a"), &json!(1)).is_err());
        assert_eq!(
            arith(ArithOp::Add, &json!(null), &json!(1)).unwrap(),
            json!(null)
        );
    }

    #[test]
    fn total_order() {
        let mut v = vec![
            json!("b"),
            json!(2),
            json!(null),
            json!(true),
            json!(1.5),
            json!("a"),
        ];
        v.sort_by(total_cmp);
        assert_eq!(
            v,
            vec![
                json!(null),
                json!(true),
                json!(1.5),
                json!(2),
                json!("a"),
                json!("b")
            ]
        );
    }
}
