//! The built-in REM tables, created by [`TenantStore::init`](super::TenantStore::init). Their schemas are
//! data (`builtin_schemas.json`), parsed when a tenant is initialised: as `json!` literals they
//! were ~32 KB of straight-line code in the wasm module.

use serde_json::Value;

/// Names of the built-in tables.
pub const BUILTIN_TABLES: [&str; 5] = ["resources", "agents", "sessions", "messages", "moments"];

/// The JSON Schemas of [`BUILTIN_TABLES`], in that order.
const BUILTIN_SCHEMAS: &str = include_str!("builtin_schemas.json");

pub(crate) fn builtin_schemas() -> Vec<Value> {
    // The text is a constant checked by `builtin_schemas_parse` below; a parse failure would be a
    // build defect, never input-dependent.
    serde_json::from_str(BUILTIN_SCHEMAS).expect("builtin_schemas.json is valid JSON")
}

/// Whether `schema` is the built-in schema of table `name`: the current one, or the one before
/// `fulltext_fields` were added (what older databases and their logs hold; `init` replaces it).
pub(crate) fn is_builtin_schema(name: &str, schema: &Value) -> bool {
    let Some(builtin) = BUILTIN_TABLES
        .iter()
        .position(|t| *t == name)
        .and_then(|i| builtin_schemas().into_iter().nth(i))
    else {
        return false;
    };
    if builtin == *schema {
        return true;
    }
    let mut before_fulltext = builtin;
    let removed = before_fulltext
        .get_mut("json_schema_extra")
        .and_then(Value::as_object_mut)
        .and_then(|extra| extra.remove("fulltext_fields"));
    removed.is_some() && before_fulltext == *schema
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_schemas_parse() {
        let schemas = builtin_schemas();
        let names: Vec<&str> = schemas
            .iter()
            .map(|s| s["json_schema_extra"]["short_name"].as_str().unwrap())
            .collect();
        assert_eq!(names, BUILTIN_TABLES);
        for schema in &schemas {
            assert_eq!(schema["type"], "object");
            assert_eq!(schema["json_schema_extra"]["category"], "system");
            assert_eq!(
                schema["$schema"],
                "https://json-schema.org/draft/2020-12/schema"
            );
        }
        assert_eq!(schemas[1]["json_schema_extra"]["key_field"], "name");
        assert_eq!(
            schemas[3]["required"],
            serde_json::json!(["session_id", "role"])
        );
    }
}
