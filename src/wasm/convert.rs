//! JS values to and from Rust, and remdb errors as JS errors.

use serde::de::DeserializeSeed;
use serde::Serialize;
use serde_json::Value;
use wasm_bindgen::prelude::*;

use crate::Error;

/// Largest integer a JS number holds exactly (2^53 − 1).
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// An optional options object, read strictly (a misspelt option is an error, not ignored).
pub(super) fn options<T: serde::de::DeserializeOwned + Default>(
    what: &str,
    shape: &str,
    opts: JsValue,
) -> Result<T, JsValue> {
    if opts.is_undefined() || opts.is_null() {
        return Ok(T::default());
    }
    serde_json::from_value(from_js(what, opts)?)
        .map_err(|e| invalid(format!("{what} must be {shape}: {e}")))
}

/// A large JS value (an array of many objects) as `T`, through one `JSON.stringify` and one
/// string copied into the module. Reading it object by object ([`from_js`]) makes JS garbage
/// for every property (entries arrays, key strings); at 100k edges a call that was mostly
/// the garbage collector. `NaN` and infinities become `null` and `undefined` properties are left
/// out, as [`from_js`] does; a `Map`, `Set` or typed array anywhere inside is refused (it would
/// stringify as `{}`), and so is a `BigInt`. Nesting past serde_json's 128 levels is `LIMIT`.
pub(super) fn from_js_bulk<T: serde::de::DeserializeOwned>(
    what: &str,
    value: &JsValue,
) -> Result<T, JsValue> {
    let refuse = Closure::<dyn FnMut(JsValue, JsValue) -> Result<JsValue, JsValue>>::new(
        |_key: JsValue, v: JsValue| {
            if v.is_object()
                && (v.is_instance_of::<js_sys::Map>()
                    || v.is_instance_of::<js_sys::Set>()
                    || js_sys::ArrayBuffer::is_view(&v))
            {
                return Err(JsValue::from_str(
                    "a Map, Set or typed array (use plain objects and arrays)",
                ));
            }
            Ok(v)
        },
    );
    let text = js_sys::JSON::stringify_with_replacer(value, refuse.as_ref())
        .map_err(|e| {
            let why = e
                .as_string()
                .or_else(|| js_sys::Error::from(e).message().as_string())
                .unwrap_or_default();
            invalid(format!("{what}: not JSON-compatible: {why}"))
        })?
        .as_string()
        .ok_or_else(|| invalid(format!("{what}: not JSON-compatible")))?;
    serde_json::from_str(&text).map_err(|e| {
        let message = e.to_string();
        if message.contains("recursion limit") {
            js_error(Error::Limit(format!(
                "{what} is nested too deeply: {message}"
            )))
        } else {
            invalid(format!("{what}: {message}"))
        }
    })
}

/// A JS value as JSON (`undefined` reads as `null`). Objects and arrays nested deeper than the
/// store keeps (plus room for argument envelopes such as an array of rows) are refused with
/// `LIMIT` while reading, so a hostile value can never exhaust the wasm stack.
pub(super) fn from_js(what: &str, value: JsValue) -> Result<Value, JsValue> {
    BoundedValue { depth: 0 }
        .deserialize(serde_wasm_bindgen::Deserializer::from(value))
        .map_err(|e| {
            let message = e.to_string();
            if message.contains(TOO_DEEP) {
                js_error(Error::Limit(format!("{what} {message}")))
            } else {
                invalid(format!("{what} is not JSON-compatible: {message}"))
            }
        })
}

/// Deepest nesting [`from_js`] reads: the store's limit plus room for argument envelopes.
const MAX_JS_DEPTH: usize = crate::MAX_DEPTH + 8;

const TOO_DEEP: &str = "levels of objects and arrays";

/// Reads a JSON value, refusing nesting deeper than [`MAX_JS_DEPTH`].
struct BoundedValue {
    depth: usize,
}

impl BoundedValue {
    fn nested<E: serde::de::Error>(&self) -> Result<BoundedValue, E> {
        if self.depth >= MAX_JS_DEPTH {
            return Err(E::custom(format!(
                "is nested deeper than {MAX_JS_DEPTH} {TOO_DEEP}; remdb stores at most {}",
                crate::MAX_DEPTH
            )));
        }
        Ok(BoundedValue {
            depth: self.depth + 1,
        })
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for BoundedValue {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for BoundedValue {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON-compatible value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // As serde_json's own reader does: NaN and infinities have no JSON form.
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element_seed(self.nested()?)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut fields = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(self.nested()?)?;
            fields.insert(key, value);
        }
        Ok(Value::Object(fields))
    }
}

/// Any serializable result as a plain JS value (objects, arrays, numbers, strings, null): written
/// as JSON text by serde_json and read by the engine's `JSON.parse`. For rows that is several
/// times faster than building each object property by property across the boundary.
pub(super) fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, JsValue> {
    let text = serde_json::to_string(value).map_err(|e| unrepresentable(e.to_string()))?;
    json_to_js(&text)
}

/// JSON text as a JS value, in one `JSON.parse`.
pub(super) fn json_to_js(text: &str) -> Result<JsValue, JsValue> {
    js_sys::JSON::parse(text).map_err(|e| unrepresentable(format!("{e:?}")))
}

/// A result JavaScript cannot hold, as a `STORAGE` error.
fn unrepresentable(why: String) -> JsValue {
    js_error(Error::Storage(format!(
        "cannot represent the result in JavaScript: {why}"
    )))
}

/// A JS number that must be a non-negative integer JS can hold exactly.
pub(super) fn to_u64(what: &str, n: f64) -> Result<u64, JsValue> {
    if n.is_finite() && n >= 0.0 && n.fract() == 0.0 && n <= MAX_SAFE_INTEGER {
        Ok(n as u64)
    } else {
        Err(invalid(format!(
            "{what} must be a non-negative integer, got {n}"
        )))
    }
}

/// A JS number as a count or index (see [`to_u64`]).
pub(super) fn to_usize(what: &str, n: f64) -> Result<usize, JsValue> {
    let n = to_u64(what, n)?;
    // `usize` is 32 bits on wasm32: saturate (a limit or offset that large means "all"/"none").
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

/// A query budget as JavaScript spells it: `{maxRowsExamined, maxMemoryBytes, maxTimeMs}`, each
/// a non-negative integer; omitted settings inherit (see [`crate::Budget`]).
#[derive(serde::Deserialize, Default, Clone, Copy)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct JsBudget {
    max_rows_examined: Option<f64>,
    max_memory_bytes: Option<f64>,
    max_time_ms: Option<f64>,
}

impl JsBudget {
    /// The budget, its numbers checked.
    pub(super) fn budget(self) -> Result<crate::Budget, JsValue> {
        let read = |what: &str, n: Option<f64>| n.map(|n| to_u64(what, n)).transpose();
        Ok(crate::Budget {
            max_rows_examined: read("budget.maxRowsExamined", self.max_rows_examined)?,
            max_memory_bytes: read("budget.maxMemoryBytes", self.max_memory_bytes)?,
            max_time_ms: read("budget.maxTimeMs", self.max_time_ms)?,
        })
    }
}

/// An optional [`JsBudget`] as a budget (none: every setting inherited).
pub(super) fn budget_of(budget: Option<JsBudget>) -> Result<crate::Budget, JsValue> {
    budget.unwrap_or_default().budget()
}

/// The `opts` of `sql` and `sqlAsync`: `{budget}`.
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct JsSqlOptions {
    budget: Option<JsBudget>,
}

/// The budget of a `sql` call's `opts` (`null`/`undefined`: none).
pub(super) fn sql_budget(opts: JsValue) -> Result<crate::Budget, JsValue> {
    let o: JsSqlOptions = options("sql options", "{budget}", opts)?;
    budget_of(o.budget)
}

/// An `INVALID_ARGUMENT` error with `message`.
pub(super) fn invalid(message: String) -> JsValue {
    js_error(Error::InvalidArgument(message))
}

/// A remdb error as a JS `Error` with `code` (and `issues` for validation errors).
pub(super) fn js_error(err: Error) -> JsValue {
    let js = js_sys::Error::new(&err.to_string());
    // Setting a property on a fresh Error object cannot fail; if it somehow did, the message
    // still carries the whole story, so the results are deliberately ignored.
    let _ = js_sys::Reflect::set(
        &js,
        &JsValue::from_str("code"),
        &JsValue::from_str(err.code()),
    );
    if let Error::Validation { issues, .. } = &err {
        if let Ok(issues) = to_js(issues) {
            let _ = js_sys::Reflect::set(&js, &JsValue::from_str("issues"), &issues);
        }
    }
    js.into()
}
