//! Table schemas: JSON Schema documents plus the REM extensions read from `json_schema_extra`
//! (or from the top level of the schema, where Pydantic puts them).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Result, ValidationIssue};
use crate::store::entity::SYSTEM_FIELDS;
use crate::store::vectors::Metric;

/// Who a table is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// Built into remdb (resources, agents, sessions, messages, moments).
    System,
    /// Agent definitions.
    Agents,
    /// Shared, public tables.
    Public,
    /// Application tables (the default).
    User,
}

impl Category {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::System => "system",
            Category::Agents => "agents",
            Category::Public => "public",
            Category::User => "user",
        }
    }
}

impl std::str::FromStr for Category {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "system" => Ok(Category::System),
            "agents" => Ok(Category::Agents),
            "public" => Ok(Category::Public),
            "user" => Ok(Category::User),
            other => Err(Error::InvalidArgument(format!(
                "unknown category `{other}`; choose one of system, agents, public, user"
            ))),
        }
    }
}

/// How the sync hub merges concurrent writes to one row of a table (`merge` in the schema's
/// `json_schema_extra`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MergePolicy {
    /// `field-lww` (the default): each top-level field takes the value of its latest writer.
    #[default]
    #[serde(rename = "field-lww")]
    FieldLww,
    /// `row-lww`: the latest write's whole row wins, for rows whose fields must change
    /// together (cross-field invariants).
    #[serde(rename = "row-lww")]
    RowLww,
}

/// A registered table: its name, its JSON Schema and the REM extensions read from it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableSchema {
    /// Table name (`short_name`, else `name`, else `title` or the last segment of
    /// `fully_qualified_name` in snake_case).
    pub name: String,
    /// Who the table is for.
    pub category: Category,
    /// Field whose value makes the id deterministic.
    pub key_field: Option<String>,
    /// Fields with a secondary index (dotted paths reach into nested objects).
    pub indexed_fields: Vec<String>,
    /// Fields embedded into vectors.
    pub embedding_fields: Vec<String>,
    /// Default embedding provider for this table.
    pub embedding_provider: Option<String>,
    /// Alternative embedding provider.
    pub embedding_provider_alt: Option<String>,
    /// How vectors of this table are compared (`embedding_metric`: `cosine` (default),
    /// `inner_product` or `l2`).
    pub embedding_metric: Metric,
    /// Top-level string fields in the table's full-text (BM25) index (`fulltext_fields`).
    pub fulltext_fields: Vec<String>,
    /// The stemmer of the full-text index (`fulltext_stemmer`: `english` by default, `none`,
    /// or another language of [`crate::tokenize::STEMMERS`]), lowercased.
    pub fulltext_stemmer: String,
    /// How the sync hub merges concurrent writes to a row (`merge`).
    pub merge: MergePolicy,
    /// Fully qualified model name, e.g. `myapp.models.Person`.
    pub fully_qualified_name: Option<String>,
    /// Short name, when given.
    pub short_name: Option<String>,
    /// Schema version string.
    pub version: Option<String>,
    /// Human description (falls back to the schema's `description`).
    pub description: Option<String>,
    /// Tools an agent table declares.
    pub tools: Vec<Value>,
    /// Top-level property names, in schema order.
    pub fields: Vec<String>,
    /// The JSON Schema document as registered.
    pub schema: Value,
}

impl TableSchema {
    /// Whether the index on `field` lists the table's rows in SQL's order of the field: a
    /// top-level indexed field whose declared type is numbers (`integer`, `number`) or
    /// `boolean`, optionally with `null`. Such a field indexes every row exactly once (a
    /// missing value as null), numbers in numeric order (exact below 2^53, see
    /// `index_value_is_exact`); strings are left out (SQL compares timestamps in them as times).
    pub(crate) fn index_in_value_order(&self, field: &str) -> bool {
        if !self.indexed_fields.iter().any(|f| f == field) {
            return false;
        }
        let declared = &self.schema["properties"][field]["type"];
        let types: Vec<&str> = match declared {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => return false,
        };
        let kinds: Vec<&str> = types.into_iter().filter(|t| *t != "null").collect();
        !kinds.is_empty()
            && (kinds.iter().all(|t| matches!(*t, "integer" | "number")) || kinds == ["boolean"])
    }
}

fn extension<'a>(schema: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    schema
        .get("json_schema_extra")
        .and_then(|extra| extra.get(key))
        .or_else(|| schema.get(key))
        .filter(|v| !v.is_null())
}

fn ext_string(schema: &Map<String, Value>, key: &str) -> Result<Option<String>> {
    match extension(schema, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(Error::InvalidSchema(format!(
            "`{key}` must be a string, got {other}"
        ))),
    }
}

fn ext_strings(schema: &Map<String, Value>, key: &str) -> Result<Vec<String>> {
    match extension(schema, key) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s) if !s.is_empty() && !s.contains('\0') => Ok(s.clone()),
                other => Err(Error::InvalidSchema(format!(
                    "`{key}` must be a list of field names, found {other}"
                ))),
            })
            .collect(),
        Some(other) => Err(Error::InvalidSchema(format!(
            "`{key}` must be a list of field names, got {other}"
        ))),
    }
}

/// `ProjectTask` → `project_task`, `my-table` → `my_table`.
pub(crate) fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    let mut prev_lower = false;
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            if prev_lower {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            prev_lower = false;
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
            prev_lower = true;
        } else {
            if !out.ends_with('_') && !out.is_empty() {
                out.push('_');
            }
            prev_lower = false;
        }
    }
    out.trim_end_matches('_').to_string()
}

/// Checks a table name: lowercase ASCII letter first, then letters, digits or `_`, at most 64.
pub(crate) fn check_table_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidSchema(format!(
            "table name `{name}` must start with a lowercase letter and use only a-z, 0-9 and _ (at most 64)"
        )))
    }
}

/// Providers an `embedding_provider` may name: the built-in ones and apps' own (`custom:NAME`).
const PROVIDER_KINDS: [&str; 4] = ["local", "openai", "cohere", "custom"];

/// A provider extension: `provider:model` with a known provider (case-insensitive) and a model
/// name without whitespace (a bare `local` is the default local model). Checked fully when used.
fn ext_provider(obj: &serde_json::Map<String, Value>, name: &str) -> Result<Option<String>> {
    let value = ext_string(obj, name)?;
    if let Some(p) = &value {
        let (kind, model) = p.split_once(':').unwrap_or((p.as_str(), ""));
        let kind_ok = PROVIDER_KINDS.contains(&kind.to_ascii_lowercase().as_str());
        let model_ok = if model.is_empty() {
            kind.eq_ignore_ascii_case("local")
        } else {
            !model.chars().any(|c| c.is_whitespace() || c.is_control())
        };
        if !kind_ok || !model_ok {
            return Err(Error::InvalidSchema(format!(
                "`{name}` must name a provider as `provider:model` with provider one of {} (e.g. \
                 `local:all-MiniLM-L6-v2`), got {:?}",
                PROVIDER_KINDS.join(", "),
                super::quote(p)
            )));
        }
    }
    Ok(value)
}

/// The `key_field` extension: a property name that is not a system field.
fn ext_key_field(obj: &serde_json::Map<String, Value>) -> Result<Option<String>> {
    let field = ext_string(obj, "key_field")?;
    if let Some(f) = &field {
        if f.is_empty() || f.contains('\0') || SYSTEM_FIELDS.contains(&f.as_str()) {
            return Err(Error::InvalidSchema(format!(
                "`key_field` must name one of the table's own fields (not empty, not a system \
                 field: {}), got {:?}",
                SYSTEM_FIELDS.join(", "),
                super::quote(f)
            )));
        }
    }
    Ok(field)
}

/// Most fields one table may index for full-text search.
pub const MAX_FULLTEXT_FIELDS: usize = 16;

/// The `fulltext_fields` extension: distinct top-level properties the schema declares, each of
/// which can hold a string (its `type` is absent, `string`, or a list naming `string`).
fn ext_fulltext_fields(obj: &Map<String, Value>) -> Result<Vec<String>> {
    let fields = ext_strings(obj, "fulltext_fields")?;
    if fields.len() > MAX_FULLTEXT_FIELDS {
        return Err(Error::InvalidSchema(format!(
            "`fulltext_fields` names {} fields; at most {MAX_FULLTEXT_FIELDS}",
            fields.len()
        )));
    }
    let props = obj.get("properties").and_then(Value::as_object);
    for (i, field) in fields.iter().enumerate() {
        if field.is_empty() || field.contains('\0') {
            return Err(Error::InvalidSchema(format!(
                "`fulltext_fields` names `{}`: a full-text field's name must be non-empty and hold no NUL",
                super::quote(field)
            )));
        }
        if fields[..i].contains(field) {
            return Err(Error::InvalidSchema(format!(
                "`fulltext_fields` names `{}` twice",
                super::quote(field)
            )));
        }
        let Some(prop) = props.and_then(|p| p.get(field)) else {
            return Err(Error::InvalidSchema(format!(
                "`fulltext_fields` names `{}`, which is not a property of the schema",
                super::quote(field)
            )));
        };
        let string_ok = match prop.get("type") {
            None => true,
            Some(Value::String(t)) => t == "string",
            Some(Value::Array(ts)) => ts.iter().any(|t| t == "string"),
            Some(_) => false,
        };
        if !string_ok {
            return Err(Error::InvalidSchema(format!(
                "`fulltext_fields` names `{}`, whose type is not `string`",
                super::quote(field)
            )));
        }
    }
    Ok(fields)
}

impl TableSchema {
    /// Reads a JSON Schema document and its REM extensions. Does not compile the schema.
    pub fn parse(schema: Value) -> Result<Self> {
        let obj = schema
            .as_object()
            .ok_or_else(|| Error::InvalidSchema("a table schema must be a JSON object".into()))?;
        super::check_object_depth(obj, "a table schema")?;
        let is_object_schema = match obj.get("type") {
            Some(Value::String(t)) => t == "object",
            None => obj.contains_key("properties"),
            _ => false,
        };
        if !is_object_schema {
            return Err(Error::InvalidSchema(
                "a table schema must describe an object (`\"type\": \"object\"` with `properties`)"
                    .into(),
            ));
        }
        let fully_qualified_name = ext_string(obj, "fully_qualified_name")?;
        let short_name = ext_string(obj, "short_name")?;
        let name = match (&short_name, ext_string(obj, "name")?, obj.get("title").and_then(Value::as_str)) {
            (Some(short), _, _) => short.clone(),
            (None, Some(name), _) => name,
            (None, None, Some(title)) => snake_case(title),
            (None, None, None) => match &fully_qualified_name {
                Some(fq) => snake_case(fq.rsplit('.').next().unwrap_or(fq)),
                None => {
                    return Err(Error::InvalidSchema(
                        "the schema names no table: set `short_name` (in `json_schema_extra`) or `title`".into(),
                    ))
                }
            },
        };
        check_table_name(&name)?;
        let category = match ext_string(obj, "category")? {
            Some(c) => c
                .parse()
                .map_err(|e: Error| Error::InvalidSchema(e.to_string()))?,
            None => Category::User,
        };
        let fields: Vec<String> = obj
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        if let Some(sys) = fields.iter().find(|f| SYSTEM_FIELDS.contains(&f.as_str())) {
            return Err(Error::InvalidSchema(format!(
                "property `{sys}` is a system field owned by the store; remove it from the schema"
            )));
        }
        if let Some(extra) = obj.get("json_schema_extra") {
            if !extra.is_object() && !extra.is_null() {
                return Err(Error::InvalidSchema(format!(
                    "`json_schema_extra` must be an object of REM extensions, got {}",
                    super::json_type(extra)
                )));
            }
        }
        let key_field = ext_key_field(obj)?;
        let indexed_fields = ext_strings(obj, "indexed_fields")?;
        let embedding_fields = ext_strings(obj, "embedding_fields")?;
        let tools = match extension(obj, "tools") {
            None => Vec::new(),
            Some(Value::Array(tools)) => tools.clone(),
            Some(other) => {
                return Err(Error::InvalidSchema(format!(
                    "`tools` must be a list, got {other}"
                )))
            }
        };
        let version = match extension(obj, "version") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(other) => {
                return Err(Error::InvalidSchema(format!(
                    "`version` must be a string, got {other}"
                )))
            }
        };
        let description = ext_string(obj, "description")?;
        let fulltext_fields = ext_fulltext_fields(obj)?;
        let fulltext_stemmer = match ext_string(obj, "fulltext_stemmer")? {
            Some(s) => crate::tokenize::check_stemmer(&s)?,
            None => crate::tokenize::DEFAULT_STEMMER.to_string(),
        };
        Ok(TableSchema {
            name,
            category,
            key_field,
            indexed_fields,
            embedding_fields,
            embedding_provider: ext_provider(obj, "embedding_provider")?,
            embedding_provider_alt: ext_provider(obj, "embedding_provider_alt")?,
            embedding_metric: match ext_string(obj, "embedding_metric")? {
                Some(m) => m
                    .parse()
                    .map_err(|e: Error| Error::InvalidSchema(e.to_string()))?,
                None => Metric::Cosine,
            },
            fulltext_fields,
            fulltext_stemmer,
            merge: match ext_string(obj, "merge")?.as_deref() {
                None | Some("field-lww") => MergePolicy::FieldLww,
                Some("row-lww") => MergePolicy::RowLww,
                Some(other) => {
                    return Err(Error::InvalidSchema(format!(
                        "`merge` must be `field-lww` (the default) or `row-lww`, got {other:?}"
                    )))
                }
            },
            fully_qualified_name,
            short_name,
            version,
            description,
            tools,
            fields,
            schema,
        })
    }
}

/// A schema compiled for validation.
pub(crate) struct CompiledSchema {
    pub(crate) info: TableSchema,
    validator: jsonschema::Validator,
    /// The schema's version: a fingerprint of its JSON (see [`schema_sha`]).
    pub(crate) sha: String,
}

impl std::fmt::Debug for CompiledSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledSchema")
            .field("name", &self.info.name)
            .finish()
    }
}

/// Most validation issues reported for one object.
const MAX_ISSUES: usize = 16;

impl CompiledSchema {
    /// Compiles the schema (draft from `$schema`: 2020-12 by default, 2019-09, 7, 6 and 4 too).
    /// Formats (`date-time`, `email`, ...) are validated, not only annotated.
    pub(crate) fn compile(info: TableSchema) -> Result<Self> {
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&info.schema)
            .map_err(|e| {
                Error::InvalidSchema(format!("{e} (at schema path {})", e.schema_path()))
            })?;
        let sha = schema_sha(&info.schema);
        Ok(CompiledSchema {
            info,
            validator,
            sha,
        })
    }

    /// Validates user data (system fields excluded) against the schema.
    pub(crate) fn validate(&self, data: &Value) -> Result<()> {
        let issues: Vec<ValidationIssue> = self
            .validator
            .iter_errors(data)
            .take(MAX_ISSUES)
            .map(|e| ValidationIssue {
                pointer: e.instance_path().as_str().to_string(),
                reason: super::quote(&e.to_string()),
            })
            .collect();
        if issues.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation {
                table: self.info.name.clone(),
                issues,
            })
        }
    }

    /// Fills in `default` values of missing properties, recursing into present nested objects and
    /// array items, following local `$ref`s (`#/$defs/...`, `#/definitions/...`).
    pub(crate) fn apply_defaults(&self, data: &mut Value) {
        apply_defaults(&self.info.schema, &self.info.schema, data, 0);
    }

    /// [`apply_defaults`](Self::apply_defaults) on a row's top-level object (its system fields,
    /// which no schema declares, stay as they are).
    pub(crate) fn fill_defaults(&self, row: &mut Map<String, Value>) {
        let mut value = Value::Object(std::mem::take(row));
        self.apply_defaults(&mut value);
        if let Value::Object(filled) = value {
            *row = filled;
        }
    }
}

const MAX_SCHEMA_DEPTH: usize = 32;

fn resolve<'a>(root: &'a Value, mut schema: &'a Value) -> &'a Value {
    for _ in 0..MAX_SCHEMA_DEPTH {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(r) if r.starts_with('#') => match root.pointer(&r[1..]) {
                Some(target) => schema = target,
                None => return schema,
            },
            _ => return schema,
        }
    }
    schema
}

fn apply_defaults(root: &Value, schema: &Value, data: &mut Value, depth: usize) {
    if depth > MAX_SCHEMA_DEPTH {
        return;
    }
    let schema = resolve(root, schema);
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for sub in all {
            apply_defaults(root, sub, data, depth + 1);
        }
    }
    match data {
        Value::Object(obj) => {
            let Some(props) = schema.get("properties").and_then(Value::as_object) else {
                return;
            };
            for (name, sub) in props {
                let sub = resolve(root, sub);
                if !obj.contains_key(name) {
                    if let Some(default) = sub.get("default") {
                        obj.insert(name.clone(), default.clone());
                    }
                }
                if let Some(child) = obj.get_mut(name) {
                    apply_defaults(root, sub, child, depth + 1);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items").filter(|s| s.is_object()) {
                for item in items {
                    apply_defaults(root, item_schema, item, depth + 1);
                }
            }
        }
        _ => {}
    }
}

/// A table schema's version as every replica computes it without asking anyone: the first 8
/// bytes of the SHA-256 of its JSON, in hex. Row entries in the WAL record the version they
/// were written under (`schema_sha`), so the sync hub knows which ops to carry forward.
pub(crate) fn schema_sha(schema: &Value) -> String {
    use sha2::Digest;
    // Serializing a `Value` cannot fail.
    let json = serde_json::to_vec(schema).unwrap_or_default();
    sha2::Sha256::digest(&json)[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The raw form a schema takes in the KV and in WAL entries.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredSchema {
    pub(crate) name: String,
    pub(crate) schema: Value,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn extensions_top_level_or_nested() {
        let nested = TableSchema::parse(json!({
            "title": "ProjectTask", "type": "object", "properties": {"name": {"type": "string"}},
            "json_schema_extra": {"key_field": "name", "indexed_fields": ["name", "owner.email"], "category": "public"}
        }))
        .unwrap();
        assert_eq!(nested.name, "project_task");
        assert_eq!(nested.key_field.as_deref(), Some("name"));
        assert_eq!(nested.indexed_fields, vec!["name", "owner.email"]);
        assert_eq!(nested.category, Category::Public);
        let top = TableSchema::parse(json!({
            "type": "object", "properties": {}, "short_name": "people", "embedding_fields": ["bio"]
        }))
        .unwrap();
        assert_eq!(top.name, "people");
        assert_eq!(top.embedding_fields, vec!["bio"]);
        assert_eq!(top.category, Category::User);
    }

    #[test]
    fn merge_policies_are_read_and_checked() {
        let base = |merge: Value| {
            TableSchema::parse(json!({
                "title": "T", "type": "object", "properties": {},
                "json_schema_extra": {"merge": merge}
            }))
        };
        assert_eq!(base(Value::Null).unwrap().merge, MergePolicy::FieldLww);
        assert_eq!(
            base(json!("field-lww")).unwrap().merge,
            MergePolicy::FieldLww
        );
        assert_eq!(base(json!("row-lww")).unwrap().merge, MergePolicy::RowLww);
        let e = base(json!("newest")).unwrap_err().to_string();
        assert!(e.contains("row-lww"), "{e}");
        assert!(base(json!(1)).is_err());
    }

    #[test]
    fn bad_schemas_are_refused() {
        assert!(TableSchema::parse(json!([])).is_err());
        assert!(TableSchema::parse(json!({"type": "string", "title": "x"})).is_err());
        assert!(TableSchema::parse(json!({"type": "object", "properties": {}})).is_err());
        assert!(
            TableSchema::parse(json!({"type": "object", "title": "x", "indexed_fields": "a"}))
                .is_err()
        );
        assert!(TableSchema::parse(
            json!({"type": "object", "title": "x", "properties": {"id": {}}})
        )
        .is_err());
        assert!(TableSchema::parse(json!({"type": "object", "short_name": "Bad Name"})).is_err());
        for extra in [
            json!({"embedding_provider": "evil:xx"}),
            json!({"embedding_provider": "openai"}),
            json!({"embedding_provider_alt": "local:a b"}),
            json!({"key_field": "id"}),
            json!({"key_field": ""}),
        ] {
            let mut schema = json!({"type": "object", "title": "x"});
            schema["json_schema_extra"] = extra.clone();
            let err = TableSchema::parse(schema).unwrap_err();
            assert_eq!(err.code(), "INVALID_SCHEMA", "{extra}");
        }
        assert!(TableSchema::parse(
            json!({"type": "object", "title": "x", "json_schema_extra": "x"})
        )
        .is_err());
        for ok in [
            "local",
            "LOCAL:all-MiniLM-L6-v2",
            "openai:text-embedding-3-small",
            "custom:mine",
        ] {
            let schema = json!({"type": "object", "title": "x", "embedding_provider": ok});
            assert!(TableSchema::parse(schema).is_ok(), "{ok}");
        }
        let bad_type = TableSchema::parse(
            json!({"type": "object", "title": "x", "properties": {"a": {"type": 5}}}),
        )
        .unwrap();
        assert!(matches!(
            CompiledSchema::compile(bad_type),
            Err(Error::InvalidSchema(_))
        ));
    }

    #[test]
    fn defaults_follow_refs_into_nested_objects() {
        let info = TableSchema::parse(json!({
            "title": "Emp", "type": "object",
            "$defs": {"Addr": {"type": "object", "properties": {"country": {"type": "string", "default": "NZ"}}}},
            "properties": {
                "level": {"type": "integer", "default": 1},
                "address": {"$ref": "#/$defs/Addr"},
                "tags": {"type": "array", "default": []}
            }
        }))
        .unwrap();
        let c = CompiledSchema::compile(info).unwrap();
        let mut v = json!({"address": {}});
        c.apply_defaults(&mut v);
        assert_eq!(
            v,
            json!({"address": {"country": "NZ"}, "level": 1, "tags": []})
        );
    }

    #[test]
    fn snake_case_names() {
        assert_eq!(snake_case("ProjectTask"), "project_task");
        assert_eq!(snake_case("my-table"), "my_table");
        assert_eq!(snake_case("HTTPServer"), "httpserver");
    }
}
