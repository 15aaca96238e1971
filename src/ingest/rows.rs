//! CSV, JSON and JSON Lines files: their records as rows of a table. CSV cells are typed by
//! the table's JSON Schema (an `integer` column is parsed as one); an empty cell is no value.

use serde_json::{Map, Value};

use super::detect::Kind;
use super::MAX_ROWS;
use crate::error::{Error, Result};

/// A record that could not be read: its 1-based row number (and line) in the file.
fn bad_row(row: usize, line: Option<u64>, what: impl std::fmt::Display) -> Error {
    let at = match line {
        Some(line) => format!("row {row} (line {line})"),
        None => format!("row {row}"),
    };
    Error::InvalidArgument(format!("{at}: {what}"))
}

fn too_many() -> Error {
    Error::Limit(format!(
        "the file has more than {MAX_ROWS} rows (one atomic batch each)"
    ))
}

/// The rows of a data file of `kind`, with the 1-based line each starts on. `schema` is the
/// target table's JSON Schema (CSV cells are typed by it).
pub(crate) fn parse(kind: Kind, text: &str, schema: &Value) -> Result<Vec<(Value, u64)>> {
    match kind {
        Kind::Csv => csv_rows(text, schema),
        Kind::Jsonl => {
            let mut rows = Vec::new();
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                if rows.len() == MAX_ROWS {
                    return Err(too_many());
                }
                let line_no = i as u64 + 1;
                let value: Value = serde_json::from_str(line)
                    .map_err(|e| bad_row(rows.len() + 1, Some(line_no), e))?;
                if !value.is_object() {
                    return Err(bad_row(rows.len() + 1, Some(line_no), "not a JSON object"));
                }
                rows.push((value, line_no));
            }
            Ok(rows)
        }
        _ => {
            let value: Value = serde_json::from_str(text)
                .map_err(|e| Error::InvalidArgument(format!("not valid JSON: {e}")))?;
            match value {
                Value::Array(items) => {
                    if items.len() > MAX_ROWS {
                        return Err(too_many());
                    }
                    items
                        .into_iter()
                        .enumerate()
                        .map(|(i, item)| match item {
                            Value::Object(_) => Ok((item, 0)),
                            _ => Err(bad_row(i + 1, None, "not a JSON object")),
                        })
                        .collect()
                }
                Value::Object(_) => Ok(vec![(value, 0)]),
                _ => Err(Error::InvalidArgument(
                    "a JSON file holds an array of objects or one object".into(),
                )),
            }
        }
    }
}

/// The JSON type a property of `schema` declares (the first non-null one of a list).
fn declared_type<'a>(schema: &'a Value, field: &str) -> Option<&'a str> {
    match schema.get("properties")?.get(field)?.get("type")? {
        Value::String(t) => Some(t),
        Value::Array(types) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null"),
        _ => None,
    }
}

/// A CSV cell as the JSON value its column's declared type asks for (text when it does not
/// parse: validation then names the cell).
fn cell(text: &str, declared: Option<&str>) -> Value {
    let parsed = match declared {
        Some("integer") => text.trim().parse::<i64>().ok().map(Value::from),
        Some("number") => text
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Value::from),
        Some("boolean") => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Some(Value::Bool(true)),
            "false" | "0" | "no" => Some(Value::Bool(false)),
            _ => None,
        },
        Some("array") | Some("object") => serde_json::from_str(text).ok(),
        _ => None,
    };
    parsed.unwrap_or_else(|| Value::String(text.to_string()))
}

fn csv_rows(text: &str, schema: &Value) -> Result<Vec<(Value, u64)>> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| Error::InvalidArgument(format!("CSV header: {e}")))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    if headers.iter().any(String::is_empty) {
        return Err(Error::InvalidArgument(
            "CSV header: a column has no name".into(),
        ));
    }
    let types: Vec<Option<&str>> = headers.iter().map(|h| declared_type(schema, h)).collect();
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        if rows.len() == MAX_ROWS {
            return Err(too_many());
        }
        let record = record.map_err(|e| {
            let line = e.position().map(|p| p.line());
            bad_row(i + 1, line, e)
        })?;
        let line = record.position().map_or(0, |p| p.line());
        let mut row = Map::new();
        for ((name, declared), value) in headers.iter().zip(&types).zip(record.iter()) {
            if !value.is_empty() {
                row.insert(name.clone(), cell(value, *declared));
            }
        }
        rows.push((Value::Object(row), line));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn csv_cells_take_the_declared_types() {
        let schema =
            json!({"properties": {"n": {"type": "integer"}, "ok": {"type": ["boolean", "null"]}}});
        let rows = parse(Kind::Csv, "name,n,ok\n\"a, b\",3,yes\nc,,false\n", &schema).unwrap();
        assert_eq!(rows[0], (json!({"name": "a, b", "n": 3, "ok": true}), 2));
        assert_eq!(rows[1].0, json!({"name": "c", "ok": false}));
        let err = parse(Kind::Csv, "a,b\n1,2\n3\n", &schema)
            .unwrap_err()
            .to_string();
        assert!(err.contains("row 2 (line 3)"), "{err}");
        let err = parse(Kind::Jsonl, "{\"a\":1}\n\n[1]\n", &schema)
            .unwrap_err()
            .to_string();
        assert!(err.contains("row 2 (line 3)"), "{err}");
    }
}
