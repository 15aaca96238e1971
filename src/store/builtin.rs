//! The built-in REM tables, created by [`Tenant::init`](super::Tenant::init).

use serde_json::{json, Value};

/// Names of the built-in tables.
pub const BUILTIN_TABLES: [&str; 5] = ["resources", "agents", "sessions", "messages", "moments"];

pub(crate) fn builtin_schemas() -> Vec<Value> {
    let metadata = json!({"type": "object", "description": "Free-form metadata", "default": {}});
    vec![
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "Resource",
            "description": "A piece of content: a document, a chunk of one, a web page, a note.",
            "type": "object",
            "properties": {
                "name": {"type": "string", "description": "Title of the resource"},
                "content": {"type": "string", "description": "The text"},
                "category": {"type": "string", "description": "Kind of resource (document, note, page...)"},
                "uri": {"type": "string", "description": "Where it came from"},
                "ordinal": {"type": "integer", "minimum": 0, "default": 0, "description": "Chunk number within the uri"},
                "metadata": metadata.clone()
            },
            "json_schema_extra": {
                "short_name": "resources",
                "fully_qualified_name": "rem.models.Resource",
                "category": "system",
                "version": "1.0.0",
                "indexed_fields": ["name", "category", "uri"],
                "embedding_fields": ["content"]
            }
        }),
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "Agent",
            "description": "An agent definition: what it does, what it returns, which tools it uses.",
            "type": "object",
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "description": {"type": "string"},
                "category": {"type": "string"},
                "output_schema": {"type": "object", "default": {}},
                "tools": {"type": "array", "items": {"type": ["object", "string"]}, "default": []}
            },
            "required": ["name"],
            "json_schema_extra": {
                "short_name": "agents",
                "fully_qualified_name": "rem.models.Agent",
                "category": "system",
                "version": "1.0.0",
                "key_field": "name",
                "indexed_fields": ["name", "category"],
                "embedding_fields": ["description"]
            }
        }),
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "Session",
            "description": "A conversation or task run, possibly nested under a parent session.",
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "query": {"type": "string", "description": "What the session was asked"},
                "agent": {"type": "string"},
                "case_id": {"type": "string"},
                "parent_session_id": {"type": ["string", "null"]},
                "session_type": {"type": "string"},
                "metadata": metadata.clone()
            },
            "json_schema_extra": {
                "short_name": "sessions",
                "fully_qualified_name": "rem.models.Session",
                "category": "system",
                "version": "1.0.0",
                "indexed_fields": ["agent", "case_id", "parent_session_id", "session_type"],
                "embedding_fields": ["query"]
            }
        }),
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "Message",
            "description": "One message of a session.",
            "type": "object",
            "properties": {
                "session_id": {"type": "string", "minLength": 1},
                "role": {"enum": ["user", "assistant", "system", "tool"]},
                "content": {"type": "string"},
                "tool_calls": {"type": "array", "default": []},
                "trace_id": {"type": "string"},
                "span_id": {"type": "string"},
                "metadata": metadata.clone()
            },
            "required": ["session_id", "role"],
            "json_schema_extra": {
                "short_name": "messages",
                "fully_qualified_name": "rem.models.Message",
                "category": "system",
                "version": "1.0.0",
                "indexed_fields": ["session_id", "role", "trace_id"],
                "embedding_fields": ["content"]
            }
        }),
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "Moment",
            "description": "Something that happened over a span of time, linked to entities and resources.",
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "content": {"type": "string"},
                "starts_at": {"type": "string", "format": "date-time"},
                "ends_at": {"type": "string", "format": "date-time"},
                "moment_type": {"type": "string"},
                "entity_refs": {"type": "array", "items": {"type": "string"}, "default": []},
                "resource_refs": {"type": "array", "items": {"type": "string"}, "default": []},
                "metadata": metadata.clone()
            },
            "json_schema_extra": {
                "short_name": "moments",
                "fully_qualified_name": "rem.models.Moment",
                "category": "system",
                "version": "1.0.0",
                "indexed_fields": ["moment_type", "starts_at", "entity_refs"],
                "embedding_fields": ["content"]
            }
        }),
    ]
}
