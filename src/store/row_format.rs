//! Stored row values: one header byte, then the row.
//!
//! The header holds the format version in its high nibble and the soft-delete flag (`0x01`) in
//! its low one, so a reader learns whether a row is live without touching its body.
//!
//! - **Version 1** (`0x10`): the row as compact JSON text. Databases written before version 2
//!   hold these; they are still read, and a row is rewritten as version 2 the next time it is
//!   written.
//! - **Version 2** (`0x20`, what the write path writes): a binary encoding a reader walks field by
//!   field, decoding only the fields it wants and skipping the others by their lengths, without
//!   parsing text. All lengths and counts are LEB128 varints:
//!
//! ```text
//! row     = count, count × (key length, key UTF-8, value)     keys in byte order, each once
//! value   = tag, payload
//!   0 null · 1 false · 2 true                                   no payload
//!   3 integer in i64 range                                      zigzag varint
//!   4 integer above i64::MAX                                    8 bytes, little-endian u64
//!   5 float                                                     8 bytes, little-endian f64
//!   6 string                                                    length, UTF-8
//!   7 array                                                     byte length, count, count × value
//!   8 object                                                    byte length, row
//! ```
//!
//! Byte lengths in front of nested values let a reader skip one in a step. Decoding trusts
//! nothing: every length is checked against the bytes left, nesting is bounded by
//! [`MAX_DEPTH`](super::MAX_DEPTH), and damage is an [`Error::Storage`], never a panic.
//!
//! The WAL keeps carrying rows as JSON text: it is the interchange format (export, sync, apply)
//! and the write path already serialises it to check the row's size.

use serde_json::{Map, Number, Value};

use super::entity::Row;
use super::limits::MAX_DEPTH;
use crate::error::{Error, Result};

const VERSION_MASK: u8 = 0xf0;
const ROW_JSON: u8 = 0x10;
const ROW_BINARY: u8 = 0x20;
const ROW_DELETED: u8 = 0x01;

const NULL: u8 = 0;
const FALSE: u8 = 1;
const TRUE: u8 = 2;
const INT: u8 = 3;
const BIG_UINT: u8 = 4;
const FLOAT: u8 = 5;
const STRING: u8 = 6;
const ARRAY: u8 = 7;
const OBJECT: u8 = 8;

/// Encodes `row` as a version 2 stored value.
pub(crate) fn encode_row(row: &Row, deleted: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.push(ROW_BINARY | if deleted { ROW_DELETED } else { 0 });
    encode_members(row, &mut out);
    out
}

/// A stored row value, borrowed: its soft-delete flag and its body in either format.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StoredRow<'a> {
    /// Whether the row is soft-deleted.
    pub(crate) deleted: bool,
    body: Body<'a>,
}

#[derive(Clone, Copy, Debug)]
enum Body<'a> {
    Json(&'a [u8]),
    Binary(&'a [u8]),
}

/// Reads the header of a stored row value (the body is decoded on demand).
#[inline(always)]
pub(crate) fn decode_row(value: &[u8]) -> Result<StoredRow<'_>> {
    let (&header, body) = value
        .split_first()
        .ok_or_else(|| Error::storage("corrupt row: empty value"))?;
    let body = match header & VERSION_MASK {
        ROW_BINARY => Body::Binary(body),
        ROW_JSON => Body::Json(body),
        _ => return Err(Error::storage("corrupt row: unknown header")),
    };
    Ok(StoredRow {
        deleted: header & ROW_DELETED != 0,
        body,
    })
}

fn corrupt(what: &str) -> Error {
    Error::storage(format!("corrupt row: {what}"))
}

impl StoredRow<'_> {
    /// The whole row.
    pub(crate) fn to_row(&self) -> Result<Row> {
        match self.body {
            Body::Json(json) => serde_json::from_slice(json).map_err(|e| corrupt(&e.to_string())),
            Body::Binary(bytes) => {
                let mut r = Reader { bytes, pos: 0 };
                let row = r.members(0)?;
                r.finish()?;
                Ok(row)
            }
        }
    }

    /// Appends the row as compact JSON text, byte for byte what `serde_json` writes for it.
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) -> Result<()> {
        match self.body {
            Body::Json(json) => {
                out.extend_from_slice(json.trim_ascii());
                Ok(())
            }
            Body::Binary(bytes) => {
                let mut r = Reader { bytes, pos: 0 };
                r.members_json(0, out)?;
                r.finish()
            }
        }
    }

    /// Decodes the fields `names[i]` for which `want(i)` holds into `out[i]` (a field the row
    /// lacks stays as it is: callers start from nulls). Other fields are skipped, not decoded.
    pub(crate) fn decode_slots(
        &self,
        names: &[String],
        want: &dyn Fn(usize) -> bool,
        out: &mut [Value],
    ) -> Result<()> {
        match self.body {
            Body::Json(json) => json_slots(json, names, want, out),
            Body::Binary(bytes) => {
                let wanted = (0..names.len()).filter(|&i| want(i)).count();
                walk_wanted(bytes, names, want, wanted, |i, r| {
                    out[i] = r.value(1)?;
                    Ok(true)
                })
                .map(|_| ())
            }
        }
    }
}

/// Walks a version 2 body's top-level fields: calls `read(i, reader)` with the reader at the
/// value of each field named `names[i]` for which `want(i)` holds (`read` must consume that
/// value) and skips the others, until `wanted` fields were read or `read` returns `false`.
fn walk_wanted<'a>(
    bytes: &'a [u8],
    names: &[String],
    want: impl Fn(usize) -> bool,
    wanted: usize,
    mut read: impl FnMut(usize, &mut Reader<'a>) -> Result<bool>,
) -> Result<FieldWalk> {
    let mut left = wanted;
    let mut r = Reader { bytes, pos: 0 };
    let count = r.varint()?;
    for _ in 0..count {
        if left == 0 {
            return Ok(FieldWalk::Done);
        }
        let key = r.take_len_prefixed()?;
        match slot_of(names, key).filter(|&i| want(i)) {
            Some(i) => {
                left -= 1;
                if !read(i, &mut r)? {
                    return Ok(FieldWalk::Stopped);
                }
            }
            None => r.skip_value()?,
        }
    }
    r.finish()?;
    Ok(FieldWalk::Done)
}

/// A top-level field of a version 2 row as stored: scalars read in place, nested values only
/// marked. What [`StoredRow::visit_fields`] hands its caller.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum FieldRef<'a> {
    /// JSON `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer in the `i64` range.
    Int(i64),
    /// An integer above `i64::MAX`.
    BigUint(u64),
    /// A float (always finite).
    Float(f64),
    /// A string.
    Str(&'a str),
    /// An array or an object, not decoded.
    Nested,
}

/// How [`StoredRow::visit_fields`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FieldWalk {
    /// Every wanted field the row holds was visited.
    Done,
    /// The visitor asked to stop.
    Stopped,
    /// The row is version 1 (JSON text): nothing was visited; decode it with
    /// [`StoredRow::decode_slots`] instead.
    NotBinary,
}

impl<'a> StoredRow<'a> {
    /// Calls `f(i, field)` for each top-level field named `names[i]` with `want[i]`, in stored
    /// order, reading each in place without building a value, until `f` returns `false`.
    /// Fields the row lacks are not visited.
    pub(crate) fn visit_fields(
        &self,
        names: &[String],
        want: &[bool],
        wanted: usize,
        mut f: impl FnMut(usize, FieldRef<'a>) -> bool,
    ) -> Result<FieldWalk> {
        let Body::Binary(bytes) = self.body else {
            return Ok(FieldWalk::NotBinary);
        };
        walk_wanted(
            bytes,
            names,
            |i| want[i],
            wanted,
            |i, r| Ok(f(i, r.field_ref()?)),
        )
    }
}

/// The slot whose name is the stored key `key`, in either format. Queries name a handful of
/// fields, so a linear scan is the fastest lookup; length and first byte are compared before
/// the bytes, since most keys a row walk meets differ in one of those.
#[inline(always)]
fn slot_of(names: &[String], key: &[u8]) -> Option<usize> {
    names.iter().position(|n| {
        let name = n.as_bytes();
        name.len() == key.len() && name.first() == key.first() && same_bytes(name, key)
    })
}

/// `a == b` for slices of one length, compared in place eight bytes at a time: field names are
/// short, and a call to `memcmp` per key met was a sixth of a grouping scan's time.
#[inline(always)]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let (mut a8, mut b8) = (a.chunks_exact(8), b.chunks_exact(8));
    for (x, y) in (&mut a8).zip(&mut b8) {
        if x != y {
            return false;
        }
    }
    let (x, y) = (a8.remainder(), b8.remainder());
    x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p == q)
}

// ---- encoding ----

fn put_varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push(n as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn encode_members(map: &Map<String, Value>, out: &mut Vec<u8>) {
    put_varint(map.len() as u64, out);
    for (key, value) in map {
        put_varint(key.len() as u64, out);
        out.extend_from_slice(key.as_bytes());
        encode_value(value, out);
    }
}

fn encode_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.push(NULL),
        Value::Bool(false) => out.push(FALSE),
        Value::Bool(true) => out.push(TRUE),
        Value::Number(n) => encode_number(n, out),
        Value::String(s) => {
            out.push(STRING);
            put_varint(s.len() as u64, out);
            out.extend_from_slice(s.as_bytes());
        }
        Value::Array(items) => {
            out.push(ARRAY);
            with_byte_length(out, |out| {
                put_varint(items.len() as u64, out);
                for item in items {
                    encode_value(item, out);
                }
            });
        }
        Value::Object(map) => {
            out.push(OBJECT);
            with_byte_length(out, |out| encode_members(map, out));
        }
    }
}

fn encode_number(n: &Number, out: &mut Vec<u8>) {
    if let (false, Some(i)) = (n.is_f64(), n.as_i64()) {
        out.push(INT);
        put_varint(((i << 1) ^ (i >> 63)) as u64, out);
    } else if let (false, Some(u)) = (n.is_f64(), n.as_u64()) {
        out.push(BIG_UINT);
        out.extend_from_slice(&u.to_le_bytes());
    } else {
        out.push(FLOAT);
        out.extend_from_slice(&n.as_f64().unwrap_or(0.0).to_le_bytes());
    }
}

/// Writes what `body` appends, preceded by its length as a varint.
fn with_byte_length(out: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    body(out);
    let mut len = Vec::with_capacity(4);
    put_varint((out.len() - start) as u64, &mut len);
    out.splice(start..start, len);
}

// ---- decoding ----

/// A bounds-checked cursor over a version 2 body.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    #[inline(always)]
    fn byte(&mut self) -> Result<u8> {
        let b = *self
            .bytes
            .get(self.pos)
            .ok_or_else(|| corrupt("truncated"))?;
        self.pos += 1;
        Ok(b)
    }

    #[inline(always)]
    fn varint(&mut self) -> Result<u64> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            n |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                if shift == 63 && b > 1 {
                    break;
                }
                return Ok(n);
            }
        }
        Err(corrupt("bad varint"))
    }

    #[inline(always)]
    fn take(&mut self, len: u64) -> Result<&'a [u8]> {
        let left = self.bytes.len() - self.pos;
        if len > left as u64 {
            return Err(corrupt("a length runs past the end"));
        }
        let slice = &self.bytes[self.pos..self.pos + len as usize];
        self.pos += len as usize;
        Ok(slice)
    }

    #[inline(always)]
    fn take_len_prefixed(&mut self) -> Result<&'a [u8]> {
        let len = self.varint()?;
        self.take(len)
    }

    fn str(&mut self) -> Result<&'a str> {
        std::str::from_utf8(self.take_len_prefixed()?).map_err(|_| corrupt("text is not UTF-8"))
    }

    fn array8(&mut self) -> Result<[u8; 8]> {
        let mut a = [0; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(a)
    }

    fn finish(&self) -> Result<()> {
        if self.pos == self.bytes.len() {
            Ok(())
        } else {
            Err(corrupt("trailing bytes"))
        }
    }

    /// The number of items a nested value says it holds, bounded by the bytes left (each item
    /// takes at least one), so a damaged count cannot reserve unbounded memory.
    fn count(&mut self) -> Result<usize> {
        let n = self.varint()?;
        let left = (self.bytes.len() - self.pos) as u64;
        if n > left {
            return Err(corrupt("a count runs past the end"));
        }
        Ok(n as usize)
    }

    fn nested(&mut self, depth: usize) -> Result<Reader<'a>> {
        if depth >= MAX_DEPTH {
            return Err(corrupt("nested too deep"));
        }
        Ok(Reader {
            bytes: self.take_len_prefixed()?,
            pos: 0,
        })
    }

    fn members(&mut self, depth: usize) -> Result<Map<String, Value>> {
        let count = self.count()?;
        let mut map = Map::new();
        for _ in 0..count {
            let key = self.str()?.to_owned();
            let value = self.value(depth + 1)?;
            map.insert(key, value);
        }
        Ok(map)
    }

    fn value(&mut self, depth: usize) -> Result<Value> {
        Ok(match self.byte()? {
            NULL => Value::Null,
            FALSE => Value::Bool(false),
            TRUE => Value::Bool(true),
            tag @ (INT | BIG_UINT | FLOAT) => Value::Number(self.number(tag)?),
            STRING => Value::String(self.str()?.to_owned()),
            ARRAY => {
                let mut inner = self.nested(depth)?;
                let count = inner.count()?;
                let mut items = Vec::with_capacity(count);
                for _ in 0..count {
                    items.push(inner.value(depth + 1)?);
                }
                inner.finish()?;
                Value::Array(items)
            }
            OBJECT => {
                let mut inner = self.nested(depth)?;
                let map = inner.members(depth)?;
                inner.finish()?;
                Value::Object(map)
            }
            _ => return Err(corrupt("unknown value tag")),
        })
    }

    /// The next value as a [`FieldRef`]: scalars read, nested values skipped.
    #[inline(always)]
    fn field_ref(&mut self) -> Result<FieldRef<'a>> {
        Ok(match self.byte()? {
            NULL => FieldRef::Null,
            FALSE => FieldRef::Bool(false),
            TRUE => FieldRef::Bool(true),
            INT => {
                let z = self.varint()?;
                FieldRef::Int((z >> 1) as i64 ^ -((z & 1) as i64))
            }
            BIG_UINT => FieldRef::BigUint(u64::from_le_bytes(self.array8()?)),
            FLOAT => {
                let f = f64::from_le_bytes(self.array8()?);
                if !f.is_finite() {
                    return Err(corrupt("a float that is not finite"));
                }
                FieldRef::Float(f)
            }
            STRING => FieldRef::Str(self.str()?),
            ARRAY | OBJECT => {
                self.take_len_prefixed()?;
                FieldRef::Nested
            }
            _ => return Err(corrupt("unknown value tag")),
        })
    }

    fn skip_value(&mut self) -> Result<()> {
        match self.byte()? {
            NULL | FALSE | TRUE => {}
            INT => {
                self.varint()?;
            }
            BIG_UINT | FLOAT => {
                self.take(8)?;
            }
            STRING | ARRAY | OBJECT => {
                self.take_len_prefixed()?;
            }
            _ => return Err(corrupt("unknown value tag")),
        }
        Ok(())
    }

    fn members_json(&mut self, depth: usize, out: &mut Vec<u8>) -> Result<()> {
        let count = self.count()?;
        out.push(b'{');
        for i in 0..count {
            if i > 0 {
                out.push(b',');
            }
            write_json_str(self.str()?, out)?;
            out.push(b':');
            self.value_json(depth + 1, out)?;
        }
        out.push(b'}');
        Ok(())
    }

    fn value_json(&mut self, depth: usize, out: &mut Vec<u8>) -> Result<()> {
        match self.byte()? {
            NULL => out.extend_from_slice(b"null"),
            FALSE => out.extend_from_slice(b"false"),
            TRUE => out.extend_from_slice(b"true"),
            STRING => write_json_str(self.str()?, out)?,
            ARRAY => {
                let mut inner = self.nested(depth)?;
                let count = inner.count()?;
                out.push(b'[');
                for i in 0..count {
                    if i > 0 {
                        out.push(b',');
                    }
                    inner.value_json(depth + 1, out)?;
                }
                out.push(b']');
                inner.finish()?;
            }
            OBJECT => {
                let mut inner = self.nested(depth)?;
                inner.members_json(depth, out)?;
                inner.finish()?;
            }
            // serde_json's own formatting of the number.
            tag @ (INT | BIG_UINT | FLOAT) => {
                serde_json::to_writer(&mut *out, &self.number(tag)?).map_err(Error::storage)?
            }
            _ => return Err(corrupt("unknown value tag")),
        }
        Ok(())
    }

    /// The payload of a number whose tag (`INT`, `BIG_UINT` or `FLOAT`) was just read.
    fn number(&mut self, tag: u8) -> Result<Number> {
        match tag {
            INT => {
                let z = self.varint()?;
                Ok(Number::from((z >> 1) as i64 ^ -((z & 1) as i64)))
            }
            BIG_UINT => Ok(Number::from(u64::from_le_bytes(self.array8()?))),
            _ => Number::from_f64(f64::from_le_bytes(self.array8()?))
                .ok_or_else(|| corrupt("a float that is not finite")),
        }
    }
}

fn write_json_str(s: &str, out: &mut Vec<u8>) -> Result<()> {
    serde_json::to_writer(&mut *out, s).map_err(Error::storage)
}

// ---- version 1: compact JSON text ----

/// [`StoredRow::decode_slots`] for a JSON body.
fn json_slots(
    json: &[u8],
    names: &[String],
    want: &dyn Fn(usize) -> bool,
    out: &mut [Value],
) -> Result<()> {
    let corrupt_json = |e: serde_json::Error| corrupt(&e.to_string());
    let split = top_level_fields(json, |key, value| {
        if let Some(i) = slot_of(names, key).filter(|&i| want(i)) {
            out[i] = serde_json::from_slice(value).map_err(corrupt_json)?;
        }
        Ok(())
    });
    if let Some(done) = split {
        return done;
    }
    // Not the compact form the store wrote (or a key with escapes): parse it fully.
    let row: Row = serde_json::from_slice(json).map_err(corrupt_json)?;
    for (i, name) in names.iter().enumerate() {
        if want(i) {
            if let Some(v) = row.get(name) {
                out[i] = v.clone();
            }
        }
    }
    Ok(())
}

/// Splits a JSON object into its top-level `(key, raw value)` pairs without parsing the values,
/// calling `f` for each (keys as raw bytes). Version 1 rows were written compactly, so this is a
/// byte scan; `None` when the input is anything else (whitespace is fine, escaped keys are not)
/// and the caller should parse it with serde_json. Values are only delimited here: `f` parses
/// (and so validates) the ones it needs.
fn top_level_fields(
    json: &[u8],
    mut f: impl FnMut(&[u8], &[u8]) -> Result<()>,
) -> Option<Result<()>> {
    let mut i = skip_ws(json, 0);
    if !matches!(json.get(i), Some(b'{')) {
        return None;
    }
    i = skip_ws(json, i + 1);
    if matches!(json.get(i), Some(b'}')) {
        return (skip_ws(json, i + 1) == json.len()).then_some(Ok(()));
    }
    loop {
        if !matches!(json.get(i), Some(b'"')) {
            return None;
        }
        let start = i + 1;
        let end = find_quote_or_backslash(json, start)?;
        if json[end] != b'"' {
            return None;
        }
        let key = &json[start..end];
        i = skip_ws(json, end + 1);
        if !matches!(json.get(i), Some(b':')) {
            return None;
        }
        let value_start = skip_ws(json, i + 1);
        let value_end = skip_json_value(json, value_start)?;
        if let Err(e) = f(key, &json[value_start..value_end]) {
            return Some(Err(e));
        }
        i = skip_ws(json, value_end);
        match json.get(i) {
            Some(b',') => i = skip_ws(json, i + 1),
            Some(b'}') => return (skip_ws(json, i + 1) == json.len()).then_some(Ok(())),
            _ => return None,
        }
    }
}

fn skip_ws(json: &[u8], mut i: usize) -> usize {
    while matches!(json.get(i), Some(b' ' | b'\n' | b'\r' | b'\t')) {
        i += 1;
    }
    i
}

/// Index of the first `"` or `\` at or after `i`.
fn find_quote_or_backslash(json: &[u8], i: usize) -> Option<usize> {
    json.get(i..)?
        .iter()
        .position(|&b| matches!(b, b'"' | b'\\'))
        .map(|p| i + p)
}

/// End of the string whose opening quote is at `i`.
fn skip_string(json: &[u8], mut i: usize) -> Option<usize> {
    i += 1;
    loop {
        i = find_quote_or_backslash(json, i)?;
        if json[i] == b'"' {
            return Some(i + 1);
        }
        i += 2;
    }
}

/// End of the JSON value starting at `i` (not validated beyond its delimiters).
fn skip_json_value(json: &[u8], i: usize) -> Option<usize> {
    match *json.get(i)? {
        b'"' => skip_string(json, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            loop {
                match *json.get(j)? {
                    b'"' => {
                        j = skip_string(json, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            let len = json[i..]
                .iter()
                .position(|&b| matches!(b, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t'))
                .unwrap_or(json.len() - i);
            (len > 0).then_some(i + len)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn v1(json: &[u8], deleted: bool) -> Vec<u8> {
        let mut value = vec![ROW_JSON | u8::from(deleted)];
        value.extend_from_slice(json);
        value
    }

    fn slots(value: &[u8], names: &[&str]) -> Result<Vec<Value>> {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut out = vec![Value::Null; names.len()];
        decode_row(value)?.decode_slots(&names, &|_| true, &mut out)?;
        Ok(out)
    }

    fn object(v: Value) -> Row {
        match v {
            Value::Object(map) => map,
            _ => unreachable!("tests pass objects"),
        }
    }

    #[test]
    fn json_rows_decode_only_the_asked_fields() {
        let json = br#"{"a":1,"b":{"deep":[1,2,{"x":"y"}]},"c":"s\"q","d\u0065":null}"#;
        let value = v1(json, false);
        assert_eq!(
            slots(&value, &["c", "de", "zz"]).unwrap(),
            [json!("s\"q"), json!(null), json!(null)]
        );
        let tricky = br#"{"a":{"x":"}]\"{","y":[1,[2,{"z":null}]]},"c":[true,false],"n":-1.5e3}"#;
        assert_eq!(
            slots(&v1(tricky, false), &["n", "c"]).unwrap(),
            [json!(-1500.0), json!([true, false])]
        );
        assert_eq!(
            slots(&v1(b" { \"c\" : 1 , \"d\":2 } ", false), &["c"]).unwrap(),
            [json!(1)]
        );
        for bad in [
            &b"{\"c\":tru}"[..],
            b"{\"c\":[1,2}",
            b"{\"c\":\"x}",
            b"",
            b"{\"a\":1",
        ] {
            assert!(
                slots(&v1(bad, false), &["c"]).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn only_wanted_slots_are_filled() {
        let row = object(json!({"a": 1, "c": 2}));
        for value in [encode_row(&row, false), v1(br#"{"a":1,"c":2}"#, false)] {
            let names = vec!["a".to_string(), "c".to_string()];
            let mut out = vec![Value::Null; 2];
            decode_row(&value)
                .unwrap()
                .decode_slots(&names, &|i| i == 1, &mut out)
                .unwrap();
            assert_eq!(out, [json!(null), json!(2)]);
        }
    }

    #[test]
    fn headers_carry_the_delete_flag_in_both_versions() {
        let row = object(json!({"a": [1, {"b": "c"}]}));
        for deleted in [false, true] {
            for value in [
                encode_row(&row, deleted),
                v1(br#"{"a":[1,{"b":"c"}]}"#, deleted),
            ] {
                let stored = decode_row(&value).unwrap();
                assert_eq!(stored.deleted, deleted);
                assert_eq!(stored.to_row().unwrap(), row);
            }
        }
        assert!(decode_row(b"").is_err());
        assert!(decode_row(b"{}").is_err());
        assert!(decode_row(&[0x30]).is_err());
    }

    #[test]
    fn numbers_keep_their_kind() {
        let row = object(json!({
            "u": u64::MAX, "i": i64::MIN, "z": 0, "f": 1.0, "neg0": -0.0, "tiny": 5e-324,
            "big": 1e300, "n": -7, "p": 9_007_199_254_740_993u64
        }));
        let value = encode_row(&row, false);
        let back = decode_row(&value).unwrap().to_row().unwrap();
        assert_eq!(back, row);
        assert_eq!(
            serde_json::to_string(&back).unwrap(),
            serde_json::to_string(&row).unwrap()
        );
        assert!(back["f"].is_f64() && back["u"].is_u64() && back["i"].is_i64());
    }

    #[test]
    fn damage_is_an_error_not_a_panic() {
        let row = object(json!({"a": "text", "b": [1, 2.5, {"c": null}], "d": u64::MAX}));
        let good = encode_row(&row, false);
        // Every truncation and every single-byte change either decodes or fails cleanly.
        for end in 1..good.len() {
            let cut = &good[..end];
            assert!(decode_row(cut).unwrap().to_row().is_err(), "cut at {end}");
        }
        for i in 1..good.len() {
            for b in [0x00, 0x07, 0x08, 0x7f, 0x80, 0xff] {
                let mut bad = good.clone();
                bad[i] = b;
                let stored = decode_row(&bad).unwrap();
                let _ = stored.to_row();
                let _ = stored.write_json(&mut Vec::new());
                let _ = slots(&bad, &["a", "d", "zz"]);
            }
        }
        // A count far beyond the bytes reserves nothing.
        let huge = [ROW_BINARY, 0xff, 0xff, 0xff, 0xff, 0x0f];
        assert!(decode_row(&huge).unwrap().to_row().is_err());
        // Nesting past the limit is refused.
        let mut deep = Value::Null;
        for _ in 0..MAX_DEPTH + 1 {
            deep = json!([deep]);
        }
        let value = encode_row(&object(json!({ "d": deep })), false);
        assert!(decode_row(&value).unwrap().to_row().is_err());
    }

    #[test]
    fn the_deepest_row_the_write_path_accepts_reads_back() {
        let mut deep = json!("bottom");
        for i in 0..MAX_DEPTH - 1 {
            deep = if i % 2 == 0 {
                json!([deep])
            } else {
                json!({ "o": deep })
            };
        }
        let row = object(json!({ "d": deep }));
        super::super::check_object_depth(&row, "a row").unwrap();
        let value = encode_row(&row, false);
        let stored = decode_row(&value).unwrap();
        assert_eq!(stored.to_row().unwrap(), row);
        let mut json = Vec::new();
        stored.write_json(&mut json).unwrap();
        assert_eq!(json, serde_json::to_vec(&row).unwrap());
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            ".*".prop_map(Value::String),
            "\\PC*".prop_map(Value::String),
        ];
        leaf.prop_recursive(6, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                prop::collection::btree_map(".*", inner, 0..8)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn every_json_row_round_trips(
            fields in prop::collection::btree_map("\\PC{0,12}", arb_json(), 0..12),
            deleted in any::<bool>(),
        ) {
            let row: Row = fields.into_iter().collect();
            let value = encode_row(&row, deleted);
            let stored = decode_row(&value).unwrap();
            prop_assert_eq!(stored.deleted, deleted);
            prop_assert_eq!(&stored.to_row().unwrap(), &row);
            let mut json = Vec::new();
            stored.write_json(&mut json).unwrap();
            prop_assert_eq!(&json, &serde_json::to_vec(&row).unwrap());
            let names: Vec<String> = row.keys().rev().cloned().chain(["\u{1}absent".into()]).collect();
            let mut out = vec![Value::Null; names.len()];
            stored.decode_slots(&names, &|_| true, &mut out).unwrap();
            for (name, got) in names.iter().zip(&out) {
                prop_assert_eq!(got, row.get(name).unwrap_or(&Value::Null));
            }
            // Fields read in place agree with the decoded values, and absent ones are skipped.
            let want = vec![true; names.len()];
            let mut seen = vec![false; names.len()];
            let walk = stored.visit_fields(&names, &want, names.len(), |i, field| {
                let expected = match &row[&names[i]] {
                    Value::Null => FieldRef::Null,
                    Value::Bool(b) => FieldRef::Bool(*b),
                    Value::Number(n) if n.is_f64() => FieldRef::Float(n.as_f64().unwrap()),
                    Value::Number(n) => n.as_i64().map_or_else(|| FieldRef::BigUint(n.as_u64().unwrap()), FieldRef::Int),
                    Value::String(s) => FieldRef::Str(s),
                    Value::Array(_) | Value::Object(_) => FieldRef::Nested,
                };
                seen[i] = field == expected;
                true
            }).unwrap();
            prop_assert_eq!(walk, FieldWalk::Done);
            prop_assert_eq!(seen.iter().filter(|s| **s).count(), row.len());
            // The same row written by the previous format reads the same.
            let old = v1(&serde_json::to_vec(&row).unwrap(), deleted);
            prop_assert_eq!(&decode_row(&old).unwrap().to_row().unwrap(), &row);
        }
    }
}
