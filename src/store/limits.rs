//! Limits on what the write path accepts, so that anything written can be read back, exported and
//! replicated: a nesting depth for every JSON value the store keeps (rows, patches, edge
//! properties, schemas) and a maximum encoded row size.

use serde_json::Value;

use crate::error::{Error, Result};

/// Deepest nesting of objects and arrays a stored value may have (a flat object is depth 1).
///
/// serde_json refuses to read JSON nested deeper than 128; the store wraps values in envelopes
/// (the WAL entry around a row, `{name, schema}` around a schema, the edge around its
/// properties, a sync batch around WAL entries), so user values stop well short of that. The
/// number is MongoDB's documented limit for BSON documents.
pub const MAX_DEPTH: usize = 100;

/// Default largest encoded row (its JSON text): 16 MiB, MongoDB's document limit.
pub const DEFAULT_MAX_ROW_BYTES: usize = 16 * 1024 * 1024;

/// Longest piece of a user value quoted in an error message.
const QUOTE_CHARS: usize = 120;

/// Limits one database enforces on writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteLimits {
    /// Largest encoded row in bytes.
    pub max_row_bytes: usize,
}

impl Default for WriteLimits {
    fn default() -> Self {
        WriteLimits {
            max_row_bytes: DEFAULT_MAX_ROW_BYTES,
        }
    }
}

/// The nesting depth of `value`: 0 for a scalar, 1 for a flat object or array. Iterative, so a
/// value nested deeper than the stack allows is measured, not crashed on; stops counting once
/// past `cap`.
pub(crate) fn depth(value: &Value, cap: usize) -> usize {
    let mut deepest = 0;
    let mut stack: Vec<(&Value, usize)> = vec![(value, 1)];
    while let Some((v, level)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match v {
            Value::Array(items) => Box::new(items.iter()),
            Value::Object(fields) => Box::new(fields.values()),
            _ => continue,
        };
        deepest = deepest.max(level);
        if deepest > cap {
            return deepest;
        }
        stack.extend(
            children
                .filter(|c| c.is_array() || c.is_object())
                .map(|c| (c, level + 1)),
        );
    }
    deepest
}

/// Refuses an object (a row, a patch) whose fields nest deeper than [`MAX_DEPTH`] with the object
/// itself counted as one level.
pub(crate) fn check_object_depth(
    fields: &serde_json::Map<String, Value>,
    what: impl std::fmt::Display,
) -> Result<()> {
    let deepest = fields
        .values()
        .map(|v| depth(v, MAX_DEPTH))
        .max()
        .unwrap_or(0);
    if deepest + 1 > MAX_DEPTH {
        return Err(too_deep(what));
    }
    Ok(())
}

fn too_deep(what: impl std::fmt::Display) -> Error {
    Error::Limit(format!(
        "{what} is nested more than {MAX_DEPTH} levels deep; remdb stores at most {MAX_DEPTH} \
         levels of objects and arrays"
    ))
}

/// Refuses an encoded record (`what`: "a row of `people`", "an edge") larger than the database's
/// row size limit.
pub(crate) fn check_size(
    what: impl std::fmt::Display,
    bytes: usize,
    limits: &WriteLimits,
) -> Result<()> {
    if bytes > limits.max_row_bytes {
        return Err(Error::Limit(format!(
            "{what} is {bytes} bytes encoded, over the maximum row size of {} bytes \
             (set `max_row_bytes` when opening the database to change it)",
            limits.max_row_bytes
        )));
    }
    Ok(())
}

/// A user value for an error message: at most [`QUOTE_CHARS`] characters, the rest elided with
/// the total length, so a failed 50 MB write does not echo 50 MB.
pub fn quote(text: &str) -> String {
    match text.char_indices().nth(QUOTE_CHARS) {
        None => text.to_string(),
        Some((cut, _)) => format!("{}… ({} bytes in all)", &text[..cut], text.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn nested(levels: usize) -> Value {
        let mut v = json!(1);
        for i in 0..levels {
            v = if i % 2 == 0 {
                json!({ "a": v })
            } else {
                json!([v])
            };
        }
        v
    }

    #[test]
    fn depth_counts_objects_and_arrays() {
        assert_eq!(depth(&json!(1), 200), 0);
        assert_eq!(depth(&json!({}), 200), 1);
        assert_eq!(depth(&json!({"a": {"b": [1, {"c": 2}]}, "d": 1}), 200), 4);
        assert_eq!(depth(&nested(150), 200), 150);
        assert!(depth(&nested(150), 10) > 10);
    }

    fn object(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn the_depth_limit_is_inclusive() {
        // `nested(n)` ends with an object at odd n: the object itself is one of the levels.
        assert!(check_object_depth(&object(nested(MAX_DEPTH - 1)), "row").is_ok());
        let err = check_object_depth(&object(nested(MAX_DEPTH + 1)), "row of `t`").unwrap_err();
        assert_eq!(err.code(), "LIMIT");
        assert!(err.to_string().contains("row of `t`"), "{err}");
    }

    #[test]
    fn a_value_at_the_limit_survives_every_envelope_serde_json_reads() {
        // The deepest envelope the store writes around a value: a WAL entry holding a stored
        // schema (`{data: {schema: S}}`) inside a batch of entries (`{entries: [..]}`).
        let enveloped = json!({"entries": [{"data": {"schema": nested(MAX_DEPTH)}}]});
        let text = enveloped.to_string();
        assert!(serde_json::from_str::<Value>(&text).is_ok());
    }

    #[test]
    fn row_size() {
        let limits = WriteLimits { max_row_bytes: 10 };
        assert!(check_size("a row of `t`", 10, &limits).is_ok());
        let err = check_size("a row of `t`", 11, &limits).unwrap_err();
        assert!(err.to_string().contains("11 bytes"), "{err}");
    }

    #[test]
    fn quotes_are_cut() {
        assert_eq!(quote("short"), "short");
        let long = "é".repeat(1000);
        let q = quote(&long);
        assert!(q.chars().count() < 200, "{q}");
        assert!(q.ends_with("(2000 bytes in all)"), "{q}");
    }
}
