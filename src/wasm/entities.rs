//! Tables and their rows, SQL, and the write-ahead log.

use serde::Deserialize;
use serde_json::Value;
use wasm_bindgen::prelude::*;

use super::convert::{from_js, invalid, js_error, sql_budget, to_js, to_u64, to_usize};
use super::RemDb;
use crate::{ListOptions, WalEntry};

#[wasm_bindgen]
impl RemDb {
    /// Registers (or replaces) a table from a JSON Schema object; returns the table name.
    #[wasm_bindgen(js_name = registerSchema)]
    pub fn register_schema(&self, schema: JsValue) -> Result<String, JsValue> {
        let schema = from_js("schema", schema)?;
        Ok(self.tenant.register_schema(schema).map_err(js_error)?.name)
    }

    /// Every table of the tenant (name, category, extensions and JSON Schema), sorted by name.
    pub fn schemas(&self) -> Result<JsValue, JsValue> {
        to_js(&self.tenant.schemas(None).map_err(js_error)?)
    }

    /// Validates and inserts one entity (an object) into `table`; returns its id. An entity with
    /// an existing natural key replaces that row (upsert).
    pub fn insert(&self, table: &str, obj: JsValue) -> Result<String, JsValue> {
        let data = from_js("entity", obj)?;
        let id = self
            .tenant
            .insert(table, data)
            .map_err(js_error)?
            .to_string();
        self.schedule_drain();
        Ok(id)
    }

    /// Inserts an array of entities in one atomic batch (all or none); returns their ids.
    #[wasm_bindgen(js_name = insertMany)]
    pub fn insert_many(&self, table: &str, items: JsValue) -> Result<JsValue, JsValue> {
        let items = match from_js("entities", items)? {
            Value::Array(items) => items,
            other => {
                return Err(invalid(format!(
                    "insertMany expects an array, got {}",
                    crate::store::json_type(&other)
                )))
            }
        };
        let ids: Vec<String> = self
            .tenant
            .insert_many(table, items)
            .map_err(js_error)?
            .iter()
            .map(ToString::to_string)
            .collect();
        self.schedule_drain();
        to_js(&ids)
    }

    /// The live row with `id`, or `null`; a soft-deleted row too when `includeDeleted`.
    pub fn get(&self, id: &str, include_deleted: Option<bool>) -> Result<JsValue, JsValue> {
        let row = self
            .tenant
            .get_with(id, include_deleted.unwrap_or(false))
            .map_err(js_error)?;
        match row {
            Some(row) => to_js(&row),
            None => Ok(JsValue::NULL),
        }
    }

    /// Applies a JSON merge patch to the live row `id`, re-validates it and returns the new row.
    pub fn update(&self, id: &str, patch: JsValue) -> Result<JsValue, JsValue> {
        let patch = from_js("patch", patch)?;
        let row = self.tenant.update(id, patch).map_err(js_error)?;
        self.schedule_drain();
        to_js(&row)
    }

    /// Deletes the live row `id`: soft (sets `deleted_at`) by default, for good when `hard`.
    pub fn delete(&self, id: &str, hard: Option<bool>) -> Result<(), JsValue> {
        if hard.unwrap_or(false) {
            self.tenant.hard_delete(id)
        } else {
            self.tenant.delete(id)
        }
        .map_err(js_error)
    }

    /// Rows of `table` in id order. `opts` is optional: `{limit, offset, includeDeleted}`.
    pub fn list(&self, table: &str, opts: JsValue) -> Result<JsValue, JsValue> {
        let options = list_options(opts)?;
        to_js(&self.tenant.list(table, &options).map_err(js_error)?)
    }

    /// Number of rows in `table` (soft-deleted ones too when `includeDeleted`).
    pub fn count(&self, table: &str, include_deleted: Option<bool>) -> Result<f64, JsValue> {
        Ok(self
            .tenant
            .count(table, include_deleted.unwrap_or(false))
            .map_err(js_error)? as f64)
    }

    /// Runs one SQL statement; returns the rows as plain objects whose keys follow the column
    /// order. `params` (optional) is an array bound to `$1, $2, ...` or `?` in order; `opts`
    /// (optional) is `{budget: {maxRowsExamined, maxMemoryBytes, maxTimeMs}}`, over the
    /// database's budget.
    pub fn sql(&self, query: &str, params: JsValue, opts: JsValue) -> Result<JsValue, JsValue> {
        let params = sql_params(params)?;
        let budget = sql_budget(opts)?;
        to_js(
            &self
                .tenant
                .sql_with(query, &params, &budget)
                .map_err(js_error)?,
        )
    }

    /// Sequence number of the tenant's last WAL entry (0 when nothing was written).
    #[wasm_bindgen(js_name = walSeq)]
    pub fn wal_seq(&self) -> Result<f64, JsValue> {
        Ok(self.tenant.wal().seq().map_err(js_error)? as f64)
    }

    /// WAL entries with `seq > since`, in order, at most `limit` (all when omitted).
    #[wasm_bindgen(js_name = walEntries)]
    pub fn wal_entries(&self, since: f64, limit: Option<f64>) -> Result<JsValue, JsValue> {
        let since = to_u64("since", since)?;
        let limit = match limit {
            Some(n) => to_usize("limit", n)?,
            None => usize::MAX,
        };
        to_js(&self.tenant.wal().entries(since, limit).map_err(js_error)?)
    }

    /// Applies WAL entries exported by another database, atomically; returns
    /// `{applied, skipped, seq}`. Gaps and divergent histories are `WAL` errors.
    #[wasm_bindgen(js_name = applyWal)]
    pub fn apply_wal(&self, entries: JsValue) -> Result<JsValue, JsValue> {
        let entries: Vec<WalEntry> = serde_json::from_value(from_js("WAL entries", entries)?)
            .map_err(|e| invalid(format!("invalid WAL entries: {e}")))?;
        let report = self.tenant.wal().apply(&entries).map_err(js_error)?;
        self.schedule_drain();
        to_js(&report)
    }
}

/// The `opts` argument of [`RemDb::list`], as JavaScript spells it.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JsListOptions {
    limit: Option<f64>,
    offset: Option<f64>,
    include_deleted: Option<bool>,
}

/// The `opts` of [`RemDb::list`] (`null`/`undefined`: the defaults).
fn list_options(opts: JsValue) -> Result<ListOptions, JsValue> {
    if opts.is_undefined() || opts.is_null() {
        return Ok(ListOptions::default());
    }
    // Through JSON, not straight from the JS object: serde-wasm-bindgen looks up only the known
    // fields, so a misspelt option (`include_deleted`) would otherwise be ignored silently.
    let opts: JsListOptions =
        serde_json::from_value(from_js("list options", opts)?).map_err(|e| {
            invalid(format!(
                "list options must be {{limit, offset, includeDeleted}}: {e}"
            ))
        })?;
    Ok(ListOptions {
        limit: opts.limit.map(|n| to_usize("limit", n)).transpose()?,
        offset: opts
            .offset
            .map(|n| to_usize("offset", n))
            .transpose()?
            .unwrap_or(0),
        include_deleted: opts.include_deleted.unwrap_or(false),
    })
}

/// SQL parameters from JS: `null`/`undefined` (none) or an array.
pub(super) fn sql_params(params: JsValue) -> Result<Vec<Value>, JsValue> {
    match from_js("params", params)? {
        Value::Null => Ok(Vec::new()),
        Value::Array(values) => Ok(values),
        _ => Err(invalid("params must be an array".into())),
    }
}
