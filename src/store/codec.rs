//! Order-preserving encodings of index values (row values are in [`row_format`](super::row_format)).

use serde_json::Value;

/// Type tags, in sort order: null < false < true < numbers < strings < arrays/objects.
pub(crate) const TAG_NULL: u8 = 0x01;
pub(crate) const TAG_FALSE: u8 = 0x02;
pub(crate) const TAG_TRUE: u8 = 0x03;
pub(crate) const TAG_NUMBER: u8 = 0x04;
pub(crate) const TAG_STRING: u8 = 0x05;
pub(crate) const TAG_JSON: u8 = 0x06;

/// Appends the order-preserving encoding of a scalar (or, as canonical JSON text, of an array or
/// object). Numbers compare numerically whether written as ints or floats; strings compare by
/// UTF-8 bytes. Every encoding is self-delimiting, so an id can follow it in a key.
pub(crate) fn encode_index_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.push(TAG_NULL),
        Value::Bool(false) => out.push(TAG_FALSE),
        Value::Bool(true) => out.push(TAG_TRUE),
        Value::Number(n) => {
            out.push(TAG_NUMBER);
            out.extend_from_slice(&sortable_f64(n.as_f64().unwrap_or(0.0)));
        }
        Value::String(s) => {
            out.push(TAG_STRING);
            escape_into(s.as_bytes(), out);
        }
        Value::Array(_) | Value::Object(_) => {
            out.push(TAG_JSON);
            escape_into(value.to_string().as_bytes(), out);
        }
    }
}

/// The type tag a value encodes under.
pub(crate) fn tag_of(value: &Value) -> u8 {
    match value {
        Value::Null => TAG_NULL,
        Value::Bool(false) => TAG_FALSE,
        Value::Bool(true) => TAG_TRUE,
        Value::Number(_) => TAG_NUMBER,
        Value::String(_) => TAG_STRING,
        _ => TAG_JSON,
    }
}

/// Every encoded index value of a field: one for a scalar (missing counts as null), one per
/// distinct element for an array (none for an empty array).
pub(crate) fn index_values(value: Option<&Value>) -> Vec<Vec<u8>> {
    let one = |v: &Value| {
        let mut out = Vec::new();
        encode_index_value(v, &mut out);
        out
    };
    match value {
        None => vec![one(&Value::Null)],
        Some(Value::Array(items)) => {
            let mut all: Vec<Vec<u8>> = items.iter().map(one).collect();
            all.sort();
            all.dedup();
            all
        }
        Some(v) => vec![one(v)],
    }
}

fn sortable_f64(f: f64) -> [u8; 8] {
    let f = if f == 0.0 { 0.0 } else { f }; // -0.0 sorts as 0.0
    let bits = f.to_bits();
    let key = if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    };
    key.to_be_bytes()
}

/// Whether an encoded index value (a whole one: tag and payload) stands for its values
/// exactly: true except for numbers of magnitude 2^53 or more, which share an encoding with
/// their neighbours (the index keeps numbers as `f64`).
pub(crate) fn index_value_is_exact(encoded: &[u8]) -> bool {
    match encoded {
        [TAG_NUMBER, payload @ ..] => match <[u8; 8]>::try_from(payload) {
            Ok(bytes) => {
                let key = u64::from_be_bytes(bytes);
                let bits = if key >> 63 == 1 {
                    key & !(1 << 63)
                } else {
                    !key
                };
                f64::from_bits(bits).abs() < 9_007_199_254_740_992.0
            }
            Err(_) => false,
        },
        _ => true,
    }
}

/// `0x00` becomes `0x00 0xff`; the string ends with `0x00 0x01`. Byte order is preserved and no
/// encoded string is a prefix of another.
fn escape_into(bytes: &[u8], out: &mut Vec<u8>) {
    for &b in bytes {
        out.push(b);
        if b == 0 {
            out.push(0xff);
        }
    }
    out.extend_from_slice(&[0, 1]);
}

/// The string an encoded index string (`TAG_STRING`, escaped bytes, `0x00 0x01`) holds, and the
/// bytes after it; `None` when `encoded` is not one.
pub(crate) fn decode_index_string(encoded: &[u8]) -> Option<(String, &[u8])> {
    let (&tag, mut rest) = encoded.split_first()?;
    if tag != TAG_STRING {
        return None;
    }
    let mut bytes = Vec::new();
    loop {
        match rest {
            [0, 0xff, tail @ ..] => {
                bytes.push(0);
                rest = tail;
            }
            [0, 1, tail @ ..] => return String::from_utf8(bytes).ok().map(|s| (s, tail)),
            [b, tail @ ..] => {
                bytes.push(*b);
                rest = tail;
            }
            [] => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_numbers_beyond_f64_precision_are_inexact() {
        let exact = |v: Value| {
            let mut out = Vec::new();
            encode_index_value(&v, &mut out);
            index_value_is_exact(&out)
        };
        for v in [
            json!(0),
            json!(-1.5),
            json!(9_007_199_254_740_991_i64),
            json!(-1e15),
        ] {
            assert!(exact(v.clone()), "{v}");
        }
        for v in [
            json!(9_007_199_254_740_992_i64),
            json!(-9_007_199_254_740_993_i64),
            json!(1e300),
        ] {
            assert!(!exact(v.clone()), "{v}");
        }
        for v in [json!(null), json!(true), json!("s"), json!([1])] {
            assert!(exact(v.clone()), "{v}");
        }
    }

    #[test]
    fn index_strings_decode() {
        for s in ["", "a", "a\0b", "ünï", "\0\0"] {
            let mut out = enc(json!(s));
            out.extend_from_slice(&[7; 16]);
            let (back, tail) = decode_index_string(&out).unwrap();
            assert_eq!((back.as_str(), tail), (s, &[7u8; 16][..]));
        }
        assert!(decode_index_string(&enc(json!(1))).is_none());
        assert!(decode_index_string(&[TAG_STRING, b'a']).is_none());
    }

    fn enc(v: Value) -> Vec<u8> {
        let mut out = Vec::new();
        encode_index_value(&v, &mut out);
        out
    }

    #[test]
    fn order_matches_value_order() {
        let ordered = vec![
            json!(null),
            json!(false),
            json!(true),
            json!(-1e300),
            json!(-5),
            json!(-0.5),
            json!(0),
            json!(0.25),
            json!(1),
            json!(1.5),
            json!(2),
            json!(10),
            json!(1e300),
            json!(""),
            json!("a"),
            json!("a\u{0}"),
            json!("a\u{0}b"),
            json!("ab"),
            json!("b"),
            json!("é"),
        ];
        for pair in ordered.windows(2) {
            assert!(
                enc(pair[0].clone()) < enc(pair[1].clone()),
                "{} !< {}",
                pair[0],
                pair[1]
            );
        }
    }

    #[test]
    fn ints_and_floats_compare_numerically() {
        assert_eq!(enc(json!(3)), enc(json!(3.0)));
        assert_eq!(enc(json!(-0.0)), enc(json!(0)));
    }

    #[test]
    fn arrays_index_each_distinct_element() {
        assert_eq!(index_values(Some(&json!(["b", "a", "b"]))).len(), 2);
        assert!(index_values(Some(&json!([]))).is_empty());
        assert_eq!(index_values(None), vec![vec![TAG_NULL]]);
    }
}
