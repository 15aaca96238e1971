//! The plan: one typed value every planner produces (offline rules or an LLM), validated against
//! the tenant's schemas before anything runs. It has no write operation and no SQL text:
//! filters are `{field, op, value}` values, so nothing a planner says can be injected.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::text::suggestion;
use crate::error::{Error, Result};
use crate::store::{TableSchema, SYSTEM_FIELDS};

/// Most stages in a plan.
pub const MAX_STAGES: usize = 3;
/// Largest `limit` of a select stage and `k` of a search stage.
pub const MAX_ROWS: u64 = 1_000;
/// Deepest traverse stage.
pub const MAX_DEPTH: u32 = 3;
/// Most values in an `in` filter.
pub const MAX_IN_VALUES: usize = 100;

/// What kind of question a plan answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    /// One entity by id, key, name or alias.
    EntityLookup,
    /// Rows by structured filters.
    Sql,
    /// Rows by meaning (vector search).
    Vector,
    /// Vector search with structured filters.
    Hybrid,
    /// Entities related through edges.
    Graph,
    /// Counts, sums, averages, groups.
    Aggregate,
}

impl Intent {
    /// The snake_case name (`entity_lookup`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Intent::EntityLookup => "entity_lookup",
            Intent::Sql => "sql",
            Intent::Vector => "vector",
            Intent::Hybrid => "hybrid",
            Intent::Graph => "graph",
            Intent::Aggregate => "aggregate",
        }
    }
}

/// A comparison of a structured filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// `=` (an array field matches when any element does).
    Eq,
    /// `<>`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// One of a list of values (`value` is an array).
    In,
    /// Case-insensitive substring of a string field.
    Contains,
}

/// `field op value` on a top-level field (or a system field such as `created_at`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Filter {
    /// The field.
    pub field: String,
    /// The comparison.
    pub op: Op,
    /// A JSON scalar, or an array for `in`.
    pub value: Value,
}

/// A time range on a table's time field: `[start, end)`, either side open when null.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeFilter {
    /// The field; `null` means the table's time field (its first `date-time` field, else
    /// `created_at`).
    #[serde(default)]
    pub field: Option<String>,
    /// Inclusive start (RFC 3339 or `YYYY-MM-DD`).
    #[serde(default)]
    pub start: Option<String>,
    /// Exclusive end.
    #[serde(default)]
    pub end: Option<String>,
}

/// An aggregate function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AggregateFn {
    /// Rows (or non-null values of `field`).
    Count,
    /// Sum of `field`.
    Sum,
    /// Mean of `field`.
    Avg,
    /// Least `field`.
    Min,
    /// Greatest `field`.
    Max,
}

/// An aggregate over the selected rows (per group when `group_by` is set).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Aggregate {
    /// The function.
    pub func: AggregateFn,
    /// Its field (`null` for `count` of rows).
    #[serde(default)]
    pub field: Option<String>,
}

/// A sort key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// The field (or `value` for an aggregate's result).
    pub field: String,
    /// Descending when true.
    #[serde(default)]
    pub desc: bool,
}

/// Which edges a traverse stage follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the previous stage's entities along their edges (`src → dst`).
    #[default]
    Out,
    /// Against the edges (entities pointing at the previous stage's).
    In,
    /// Both.
    Both,
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Stage {
    /// Entities by id, key, name, uri or alias (the lookup ladder).
    Lookup {
        /// What to look up, as written.
        text: String,
        /// Only these tables (all when empty).
        #[serde(default)]
        tables: Vec<String>,
    },
    /// Rows of a table by structured filters, optionally grouped or aggregated.
    Select {
        /// The table.
        table: String,
        /// Conditions, all of which must hold.
        #[serde(default)]
        filters: Vec<Filter>,
        /// A time range.
        #[serde(default)]
        time: Option<TimeFilter>,
        /// Only the rows whose ids the previous stage returned.
        #[serde(default)]
        from_previous: bool,
        /// Group rows by this field (with `aggregate`).
        #[serde(default)]
        group_by: Option<String>,
        /// Aggregate instead of returning rows.
        #[serde(default)]
        aggregate: Option<Aggregate>,
        /// Sort order.
        #[serde(default)]
        order_by: Option<Order>,
        /// Most rows (default 50).
        #[serde(default)]
        limit: Option<u64>,
    },
    /// Rows of a table by meaning: a vector search of `text`, filtered.
    Search {
        /// The table (it must have embedding fields).
        table: String,
        /// The text to search for.
        text: String,
        /// Rows wanted (default 10).
        #[serde(default)]
        k: Option<u64>,
        /// Only hits scoring at least this.
        #[serde(default)]
        min_score: Option<f32>,
        /// Conditions the hits must meet.
        #[serde(default)]
        filters: Vec<Filter>,
        /// A time range the hits must fall in.
        #[serde(default)]
        time: Option<TimeFilter>,
        /// Only the rows whose ids the previous stage returned.
        #[serde(default)]
        from_previous: bool,
    },
    /// The entities one or more edges away from the previous stage's.
    Traverse {
        /// Edge direction.
        #[serde(default)]
        direction: Direction,
        /// Only these relationships (all when empty).
        #[serde(default)]
        edge_types: Vec<String>,
        /// Edges to follow (1–3, default 1).
        #[serde(default)]
        depth: Option<u32>,
        /// Keep only entities of this table.
        #[serde(default)]
        table: Option<String>,
    },
    /// A shortest path between the previous stage's first entity and `to`'s.
    Path {
        /// What to look up as the other end.
        to: String,
        /// Edges to follow at most (default 3).
        #[serde(default)]
        max_depth: Option<u32>,
    },
}

impl Stage {
    /// The stage's kind as written in plans (`lookup`, `select`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Stage::Lookup { .. } => "lookup",
            Stage::Select { .. } => "select",
            Stage::Search { .. } => "search",
            Stage::Traverse { .. } => "traverse",
            Stage::Path { .. } => "path",
        }
    }
}

/// What a plan's answer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Returns {
    /// The last stage's rows.
    #[default]
    Rows,
    /// How many rows the last stage found (one row `{count}`).
    Count,
}

/// A plan: at most [`MAX_STAGES`] stages, each of which may take the ids of the one before.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The kind of question.
    pub intent: Intent,
    /// The stages, run in order.
    pub stages: Vec<Stage>,
    /// What the answer is.
    #[serde(default, rename = "return")]
    pub returns: Returns,
    /// A stage to run instead when the plan finds nothing (e.g. a vector search for a select).
    #[serde(default)]
    pub fallback: Option<Stage>,
    /// How the plan answers the question, in a sentence.
    #[serde(default)]
    pub explanation: String,
}

/// Words that name writes: a plan (or an LLM's answer) using one as a stage kind is refused.
pub(crate) const WRITE_WORDS: [&str; 12] = [
    "insert", "update", "delete", "remove", "drop", "create", "alter", "truncate", "upsert",
    "write", "set", "purge",
];

impl Plan {
    /// Reads a plan from a planner's JSON. `Ok(None)` when the JSON asks for a write (a stage
    /// kind such as `delete`, or SQL write text), which the caller refuses.
    pub fn from_json(value: &Value) -> Result<Option<Plan>> {
        if asks_for_write(value) {
            return Ok(None);
        }
        serde_json::from_value::<Plan>(value.clone())
            .map(Some)
            .map_err(|e| {
                Error::InvalidArgument(format!("the plan does not have the plan's shape: {e}"))
            })
    }

    /// Checks the plan against the tenant's schemas: known tables and fields (with "did you
    /// mean" suggestions), enum values, value types, stage order and limits. `max_stages`
    /// caps the stages (at most [`MAX_STAGES`]).
    pub fn validate(
        &self,
        schemas: &BTreeMap<String, TableSchema>,
        max_stages: usize,
    ) -> Result<()> {
        let max = max_stages.clamp(1, MAX_STAGES);
        if self.stages.is_empty() {
            return Err(invalid("the plan has no stages".into()));
        }
        if self.stages.len() > max {
            return Err(invalid(format!(
                "the plan has {} stages; at most {max} are allowed",
                self.stages.len()
            )));
        }
        for (i, stage) in self.stages.iter().chain(self.fallback.iter()).enumerate() {
            let is_fallback = i >= self.stages.len();
            let first = i == 0 || is_fallback;
            validate_stage(stage, schemas, first).map_err(|e| {
                invalid(format!(
                    "stage {} ({}): {}",
                    i + 1,
                    stage.kind(),
                    message_of(e)
                ))
            })?;
        }
        if matches!(
            self.fallback,
            Some(Stage::Traverse { .. } | Stage::Path { .. })
        ) {
            return Err(invalid(
                "a fallback must be a lookup, select or search".into(),
            ));
        }
        Ok(())
    }
}

fn invalid(message: String) -> Error {
    Error::InvalidArgument(message)
}

fn message_of(e: Error) -> String {
    match e {
        Error::InvalidArgument(m) => m,
        other => other.to_string(),
    }
}

/// True when `value` (a planner's answer) names a write: a stage kind or intent that is a
/// write word, or text starting with a SQL write statement.
pub(crate) fn asks_for_write(value: &Value) -> bool {
    let is_write = |s: &str| {
        let first = s
            .trim_start()
            .split(|c: char| !c.is_alphanumeric())
            .next()
            .unwrap_or("");
        WRITE_WORDS.contains(&first.to_ascii_lowercase().as_str())
    };
    let Some(object) = value.as_object() else {
        return false;
    };
    if object
        .get("intent")
        .and_then(Value::as_str)
        .is_some_and(is_write)
    {
        return true;
    }
    let stages = object
        .get("stages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .chain(object.get("fallback"));
    for stage in stages {
        if let Some(kind) = stage.get("kind").and_then(Value::as_str) {
            if is_write(kind) {
                return true;
            }
        }
        for key in ["sql", "query", "statement"] {
            if stage.get(key).and_then(Value::as_str).is_some_and(is_write) {
                return true;
            }
        }
    }
    false
}

/// A table's fields as plans may name them: its properties and the system fields.
pub(crate) fn known_fields(schema: &TableSchema) -> Vec<&str> {
    schema
        .fields
        .iter()
        .map(String::as_str)
        .chain(SYSTEM_FIELDS.iter().copied())
        .collect()
}

/// The JSON Schema of a top-level property, if declared.
pub(crate) fn property<'a>(schema: &'a TableSchema, field: &str) -> Option<&'a Value> {
    schema.schema.get("properties")?.get(field)
}

/// The enum values a property allows (`enum`, or `items.enum` of an array).
pub(crate) fn enum_values(schema: &TableSchema, field: &str) -> Vec<Value> {
    let Some(p) = property(schema, field) else {
        return Vec::new();
    };
    p.get("enum")
        .or_else(|| p.get("items").and_then(|i| i.get("enum")))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// The field a time range of `schema` applies to: its `date-time` property that reads most like
/// when a row happened (`starts_at`, `opened_at`, `created_at`, ... before `ends_at`,
/// `due_at`, `updated_at`), else `created_at`.
pub(crate) fn time_field(schema: &TableSchema) -> String {
    let rank = |f: &str| {
        let f = f.to_ascii_lowercase();
        if [
            "end", "due", "updated", "modified", "deleted", "expire", "closed",
        ]
        .iter()
        .any(|x| f.contains(x))
        {
            2
        } else if [
            "start", "open", "creat", "occur", "happen", "publish", "date", "time", "joined",
        ]
        .iter()
        .any(|x| f.contains(x))
        {
            0
        } else {
            1
        }
    };
    schema
        .fields
        .iter()
        .filter(|f| {
            property(schema, f)
                .and_then(|p| p.get("format"))
                .and_then(Value::as_str)
                .is_some_and(|fmt| fmt == "date-time" || fmt == "date")
        })
        .min_by_key(|f| rank(f))
        .cloned()
        .unwrap_or_else(|| "created_at".to_string())
}

fn table<'a>(schemas: &'a BTreeMap<String, TableSchema>, name: &str) -> Result<&'a TableSchema> {
    schemas.get(name).ok_or_else(|| {
        let names: Vec<&str> = schemas.keys().map(String::as_str).collect();
        invalid(format!(
            "unknown table `{name}`{}",
            suggestion(name, &names)
        ))
    })
}

fn field(schema: &TableSchema, name: &str) -> Result<()> {
    let fields = known_fields(schema);
    if fields.contains(&name) {
        return Ok(());
    }
    Err(invalid(format!(
        "unknown field `{name}` in `{}`{}",
        schema.name,
        suggestion(name, &fields)
    )))
}

fn check_filters(schema: &TableSchema, filters: &[Filter]) -> Result<()> {
    if filters.len() > 32 {
        return Err(invalid(format!("{} filters; at most 32", filters.len())));
    }
    for f in filters {
        field(schema, &f.field)?;
        match (&f.op, &f.value) {
            (Op::In, Value::Array(values)) => {
                if values.is_empty() || values.len() > MAX_IN_VALUES {
                    return Err(invalid(format!(
                        "`in` on `{}` needs 1–{MAX_IN_VALUES} values",
                        f.field
                    )));
                }
                if values.iter().any(|v| v.is_array() || v.is_object()) {
                    return Err(invalid(format!(
                        "`in` on `{}` takes scalar values",
                        f.field
                    )));
                }
            }
            (Op::In, _) => return Err(invalid(format!("`in` on `{}` takes an array", f.field))),
            (Op::Contains, Value::String(_)) => {}
            (Op::Contains, _) => {
                return Err(invalid(format!(
                    "`contains` on `{}` takes a string",
                    f.field
                )))
            }
            (_, Value::Array(_) | Value::Object(_)) => {
                return Err(invalid(format!(
                    "`{}` on `{}` takes a scalar value",
                    serde_json::to_string(&f.op)
                        .unwrap_or_default()
                        .trim_matches('"'),
                    f.field
                )))
            }
            _ => {}
        }
        let allowed = enum_values(schema, &f.field);
        if !allowed.is_empty() {
            let values: Vec<&Value> = match &f.value {
                Value::Array(v) => v.iter().collect(),
                v => vec![v],
            };
            for v in values {
                if matches!(f.op, Op::Eq | Op::Ne | Op::In) && !allowed.contains(v) {
                    let names: Vec<String> = allowed
                        .iter()
                        .map(|a| a.as_str().map_or_else(|| a.to_string(), str::to_string))
                        .collect();
                    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                    let shown = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                    return Err(invalid(format!(
                        "`{shown}` is not a value of `{}.{}`{}",
                        schema.name,
                        f.field,
                        suggestion(&shown, &refs)
                    )));
                }
            }
        }
    }
    Ok(())
}

fn check_time(schema: &TableSchema, time: &Option<TimeFilter>) -> Result<()> {
    let Some(t) = time else { return Ok(()) };
    if let Some(f) = &t.field {
        field(schema, f)?;
    }
    for bound in [&t.start, &t.end].into_iter().flatten() {
        if crate::sql::parse_time(bound).is_none() {
            return Err(invalid(format!("`{bound}` is not a date or timestamp")));
        }
    }
    if t.start.is_none() && t.end.is_none() {
        return Err(invalid("a time range needs a start or an end".into()));
    }
    Ok(())
}

fn validate_stage(
    stage: &Stage,
    schemas: &BTreeMap<String, TableSchema>,
    first: bool,
) -> Result<()> {
    let needs_previous = |flag: bool| {
        if flag && first {
            Err(invalid("`from_previous` on the first stage".into()))
        } else {
            Ok(())
        }
    };
    match stage {
        Stage::Lookup { text, tables } => {
            if text.trim().is_empty() || text.len() > 512 {
                return Err(invalid("a lookup needs a text of 1–512 bytes".into()));
            }
            for t in tables {
                table(schemas, t)?;
            }
        }
        Stage::Select {
            table: name,
            filters,
            time,
            from_previous,
            group_by,
            aggregate,
            order_by,
            limit,
        } => {
            needs_previous(*from_previous)?;
            let schema = table(schemas, name)?;
            check_filters(schema, filters)?;
            check_time(schema, time)?;
            if let Some(g) = group_by {
                field(schema, g)?;
                if aggregate.is_none() {
                    return Err(invalid("`group_by` needs an `aggregate`".into()));
                }
            }
            if let Some(a) = aggregate {
                match (&a.func, &a.field) {
                    (AggregateFn::Count, None) => {}
                    (_, Some(f)) => field(schema, f)?,
                    (func, None) => {
                        return Err(invalid(format!(
                            "`{}` needs a field",
                            serde_json::to_string(func)
                                .unwrap_or_default()
                                .trim_matches('"')
                        )))
                    }
                }
            }
            if let Some(o) = order_by {
                if !(aggregate.is_some() && o.field == "value") {
                    field(schema, &o.field)?;
                }
            }
            if limit.is_some_and(|l| l == 0 || l > MAX_ROWS) {
                return Err(invalid(format!("`limit` must be 1–{MAX_ROWS}")));
            }
        }
        Stage::Search {
            table: name,
            text,
            k,
            filters,
            time,
            from_previous,
            min_score,
        } => {
            needs_previous(*from_previous)?;
            let schema = table(schemas, name)?;
            if schema.embedding_fields.is_empty() {
                return Err(invalid(format!(
                    "`{name}` has no embedding fields to search"
                )));
            }
            if text.trim().is_empty() || text.len() > 2048 {
                return Err(invalid("a search needs a text of 1–2048 bytes".into()));
            }
            if k.is_some_and(|k| k == 0 || k > MAX_ROWS) {
                return Err(invalid(format!("`k` must be 1–{MAX_ROWS}")));
            }
            if min_score.is_some_and(|s| !s.is_finite()) {
                return Err(invalid("`min_score` must be a finite number".into()));
            }
            check_filters(schema, filters)?;
            check_time(schema, time)?;
        }
        Stage::Traverse {
            depth,
            table: target,
            edge_types,
            ..
        } => {
            if first {
                return Err(invalid("a traverse needs a stage before it".into()));
            }
            if depth.is_some_and(|d| d == 0 || d > MAX_DEPTH) {
                return Err(invalid(format!("`depth` must be 1–{MAX_DEPTH}")));
            }
            if edge_types.len() > 16 || edge_types.iter().any(|e| e.is_empty() || e.len() > 256) {
                return Err(invalid("at most 16 edge types of 1–256 bytes".into()));
            }
            if let Some(t) = target {
                table(schemas, t)?;
            }
        }
        Stage::Path { to, max_depth } => {
            if first {
                return Err(invalid("a path needs a stage before it".into()));
            }
            if to.trim().is_empty() || to.len() > 512 {
                return Err(invalid("a path needs a `to` of 1–512 bytes".into()));
            }
            if max_depth.is_some_and(|d| d == 0 || d > 6) {
                return Err(invalid("`max_depth` must be 1–6".into()));
            }
        }
    }
    Ok(())
}

/// The JSON Schema of a plan, as LLMs are asked to fill it (strict structured-output rules:
/// every property required, nullable where optional, no additional properties).
pub fn plan_json_schema() -> Value {
    let nullable = |t: Value| json!({"anyOf": [t, {"type": "null"}]});
    let scalar = json!({"anyOf": [
        {"type": "string"}, {"type": "number"}, {"type": "boolean"}, {"type": "null"},
        {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]}}
    ]});
    let filter = json!({
        "type": "object",
        "properties": {
            "field": {"type": "string"},
            "op": {"type": "string", "enum": ["eq", "ne", "lt", "le", "gt", "ge", "in", "contains"]},
            "value": scalar
        },
        "required": ["field", "op", "value"],
        "additionalProperties": false
    });
    let time = nullable(json!({
        "type": "object",
        "properties": {
            "field": {"type": ["string", "null"]},
            "start": {"type": ["string", "null"]},
            "end": {"type": ["string", "null"]}
        },
        "required": ["field", "start", "end"],
        "additionalProperties": false
    }));
    let object = |kind: &str, props: Value| {
        let mut properties = props.as_object().cloned().unwrap_or_default();
        properties.insert("kind".into(), json!({"type": "string", "enum": [kind]}));
        let required: Vec<String> = properties.keys().cloned().collect();
        json!({"type": "object", "properties": properties, "required": required, "additionalProperties": false})
    };
    let stage = json!({"anyOf": [
        object("lookup", json!({
            "text": {"type": "string"},
            "tables": {"type": "array", "items": {"type": "string"}}
        })),
        object("select", json!({
            "table": {"type": "string"},
            "filters": {"type": "array", "items": filter},
            "time": time,
            "from_previous": {"type": "boolean"},
            "group_by": {"type": ["string", "null"]},
            "aggregate": nullable(json!({
                "type": "object",
                "properties": {
                    "func": {"type": "string", "enum": ["count", "sum", "avg", "min", "max"]},
                    "field": {"type": ["string", "null"]}
                },
                "required": ["func", "field"],
                "additionalProperties": false
            })),
            "order_by": nullable(json!({
                "type": "object",
                "properties": {"field": {"type": "string"}, "desc": {"type": "boolean"}},
                "required": ["field", "desc"],
                "additionalProperties": false
            })),
            "limit": {"type": ["integer", "null"]}
        })),
        object("search", json!({
            "table": {"type": "string"},
            "text": {"type": "string"},
            "k": {"type": ["integer", "null"]},
            "min_score": {"type": ["number", "null"]},
            "filters": {"type": "array", "items": filter},
            "time": time,
            "from_previous": {"type": "boolean"}
        })),
        object("traverse", json!({
            "direction": {"type": "string", "enum": ["out", "in", "both"]},
            "edge_types": {"type": "array", "items": {"type": "string"}},
            "depth": {"type": ["integer", "null"]},
            "table": {"type": ["string", "null"]}
        })),
        object("path", json!({
            "to": {"type": "string"},
            "max_depth": {"type": ["integer", "null"]}
        }))
    ]});
    json!({
        "type": "object",
        "properties": {
            "intent": {"type": "string", "enum": ["entity_lookup", "sql", "vector", "hybrid", "graph", "aggregate"]},
            "stages": {"type": "array", "items": stage},
            "return": {"type": "string", "enum": ["rows", "count"]},
            "fallback": nullable(stage),
            "explanation": {"type": "string"}
        },
        "required": ["intent", "stages", "return", "fallback", "explanation"],
        "additionalProperties": false
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schemas() -> BTreeMap<String, TableSchema> {
        let t = TableSchema::parse(json!({
            "title": "Ticket", "type": "object",
            "properties": {
                "key": {"type": "string"},
                "status": {"enum": ["open", "closed"]},
                "priority": {"type": "string"},
                "opened_at": {"type": "string", "format": "date-time"},
                "body": {"type": "string"}
            },
            "json_schema_extra": {"key_field": "key", "embedding_fields": ["body"]}
        }))
        .unwrap();
        BTreeMap::from([(t.name.clone(), t)])
    }

    fn plan(v: Value) -> Plan {
        Plan::from_json(&v).unwrap().unwrap()
    }

    #[test]
    fn a_plan_reads_and_validates() {
        let p = plan(
            json!({"intent": "sql", "stages": [{"kind": "select", "table": "ticket",
            "filters": [{"field": "status", "op": "eq", "value": "open"}],
            "time": {"field": null, "start": "2026-01-01", "end": null}}],
            "return": "rows", "fallback": null, "explanation": "open tickets"}),
        );
        p.validate(&schemas(), 3).unwrap();
        assert_eq!(time_field(&schemas()["ticket"]), "opened_at");
    }

    #[test]
    fn unknown_names_get_suggestions() {
        let p = plan(json!({"intent": "sql", "stages": [{"kind": "select", "table": "tickets"}]}));
        let e = p.validate(&schemas(), 3).unwrap_err().to_string();
        assert!(e.contains("did you mean `ticket`"), "{e}");
        let p = plan(
            json!({"intent": "sql", "stages": [{"kind": "select", "table": "ticket",
            "filters": [{"field": "priorty", "op": "eq", "value": "high"}]}]}),
        );
        let e = p.validate(&schemas(), 3).unwrap_err().to_string();
        assert!(e.contains("did you mean `priority`"), "{e}");
        let p = plan(
            json!({"intent": "sql", "stages": [{"kind": "select", "table": "ticket",
            "filters": [{"field": "status", "op": "eq", "value": "opne"}]}]}),
        );
        let e = p.validate(&schemas(), 3).unwrap_err().to_string();
        assert!(e.contains("did you mean `open`"), "{e}");
    }

    #[test]
    fn writes_are_recognised_and_shapes_checked() {
        assert!(Plan::from_json(
            &json!({"intent": "sql", "stages": [{"kind": "delete", "table": "ticket"}]})
        )
        .unwrap()
        .is_none());
        assert!(Plan::from_json(
            &json!({"intent": "sql", "stages": [{"kind": "select", "sql": "DROP TABLE x"}]})
        )
        .unwrap()
        .is_none());
        assert!(Plan::from_json(&json!({"intent": "nonsense", "stages": []})).is_err());
        assert!(Plan::from_json(&json!([1, 2])).is_err());
        let p = plan(json!({"intent": "graph", "stages": [{"kind": "traverse"}]}));
        assert!(p.validate(&schemas(), 3).is_err());
        let four = json!({"kind": "lookup", "text": "x"});
        let p = plan(
            json!({"intent": "graph", "stages": [four, {"kind": "traverse"}, {"kind": "traverse"}, {"kind": "traverse"}]}),
        );
        assert!(p
            .validate(&schemas(), 3)
            .unwrap_err()
            .to_string()
            .contains("at most 3"));
    }

    #[test]
    fn the_llm_schema_requires_every_property() {
        let s = plan_json_schema();
        assert_eq!(s["required"].as_array().unwrap().len(), 5);
        let select = &s["properties"]["stages"]["items"]["anyOf"][1];
        assert_eq!(
            select["required"].as_array().unwrap().len(),
            select["properties"].as_object().unwrap().len()
        );
    }
}
