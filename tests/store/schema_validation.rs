//! Tables are JSON Schemas: drafts, $defs/$ref, enums, patterns, bounds, nested data, defaults,
//! REM extensions, persistence and listing by category.

use crate::common::{fixtures, people_schema, person};
use remdb::{Category, Error, ListOptions};
use serde_json::json;

#[test]
fn valid_data_is_stored_with_defaults_applied() {
    for f in fixtures() {
        let t = f.tenant();
        t.register_schema(people_schema()).unwrap();
        let id = t
            .insert(
                "people",
                json!({"email": "ada@x.io", "name": "Ada", "address": {"city": "London"}}),
            )
            .unwrap();
        let row = t.get(&id.to_string()).unwrap().unwrap();
        assert_eq!(row["role"], "engineer", "{}", f.name);
        assert_eq!(row["tags"], json!([]));
        assert_eq!(
            row["address"],
            json!({"city": "London", "country": "NZ"}),
            "nested default through $ref"
        );
    }
}

#[test]
fn every_kind_of_violation_is_reported_with_a_pointer() {
    let f = fixtures().remove(0);
    let t = f.tenant();
    t.register_schema(people_schema()).unwrap();
    let cases = [
        (json!({"email": "no-at-sign", "name": "A"}), "/email"),
        (json!({"email": "a@b", "name": ""}), "/name"),
        (json!({"email": "a@b", "name": "A", "age": 151}), "/age"),
        (json!({"email": "a@b", "name": "A", "age": 1.5}), "/age"),
        (json!({"email": "a@b", "name": "A", "role": "ceo"}), "/role"),
        (
            json!({"email": "a@b", "name": "A", "tags": ["x", 3]}),
            "/tags/1",
        ),
        (
            json!({"email": "a@b", "name": "A", "address": {"country": "NZ"}}),
            "/address",
        ),
        (json!({"email": "a@b", "name": "A", "unknown": 1}), ""),
        (json!({"name": "A"}), ""),
    ];
    for (data, pointer) in cases {
        match t.insert("people", data.clone()) {
            Err(Error::Validation { table, issues }) => {
                assert_eq!(table, "people");
                assert!(
                    issues.iter().any(|i| i.pointer == pointer),
                    "{data}: {issues:?}"
                );
                assert!(issues.iter().all(|i| !i.reason.is_empty()));
            }
            other => panic!("{data} should fail validation, got {other:?}"),
        }
    }
    assert_eq!(t.count("people", true).unwrap(), 0);
    assert_eq!(t.wal().seq().unwrap(), 1, "only the schema was logged");
    let err = t
        .insert("people", json!(["not", "an", "object"]))
        .unwrap_err();
    assert_eq!(err.code(), "VALIDATION");
}

#[test]
fn draft7_schemas_with_definitions_work() {
    let f = fixtures().remove(0);
    let t = f.tenant();
    t.register_schema(json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "Employee",
        "type": "object",
        "definitions": {"Level": {"type": "integer", "minimum": 1, "maximum": 5, "default": 1}},
        "properties": {
            "name": {"type": "string"},
            "level": {"$ref": "#/definitions/Level"},
            "skills": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}, "years": {"type": "number", "default": 0}}, "required": ["name"]}}
        },
        "required": ["name"]
    }))
    .unwrap();
    let id = t
        .insert(
            "employee",
            json!({"name": "Kim", "skills": [{"name": "sql"}]}),
        )
        .unwrap();
    let row = t.get(&id.to_string()).unwrap().unwrap();
    assert_eq!(row["level"], 1);
    assert_eq!(
        row["skills"],
        json!([{"name": "sql", "years": 0}]),
        "defaults inside array items"
    );
    assert!(t
        .insert("employee", json!({"name": "Lee", "level": 9}))
        .is_err());
    assert!(t
        .insert("employee", json!({"name": "Lee", "skills": [{"years": 2}]}))
        .is_err());
}

#[test]
fn formats_are_validated() {
    let f = fixtures().remove(0);
    let t = f.tenant();
    t.init().unwrap();
    assert!(t
        .insert(
            "moments",
            json!({"name": "standup", "starts_at": "2026-01-05T09:00:00Z"})
        )
        .is_ok());
    let err = t
        .insert(
            "moments",
            json!({"name": "bad", "starts_at": "next tuesday"}),
        )
        .unwrap_err();
    assert!(matches!(err, Error::Validation { .. }), "{err}");
}

#[test]
fn validation_after_reopen_is_exactly_as_strict() {
    for f in fixtures() {
        let name = f.name;
        {
            let t = f.tenant();
            t.register_schema(people_schema()).unwrap();
            t.insert("people", person(1)).unwrap();
        }
        let f = f.reopen();
        let t = f.tenant();
        assert!(
            t.insert("people", json!({"email": "bad", "name": "X"}))
                .is_err(),
            "{name}"
        );
        assert!(
            t.insert("people", json!({"email": "a@b", "name": "X", "extra": 1}))
                .is_err(),
            "{name}"
        );
        let id = t
            .insert(
                "people",
                json!({"email": "a@b", "name": "X", "address": {"city": "Oslo"}}),
            )
            .unwrap();
        assert_eq!(
            t.get(&id.to_string()).unwrap().unwrap()["address"]["country"],
            "NZ",
            "{name}"
        );
        assert_eq!(t.count("people", false).unwrap(), 2, "{name}");
    }
}

#[test]
fn extensions_are_read_and_listed_by_category() {
    let f = fixtures().remove(0);
    let t = f.tenant();
    t.init().unwrap();
    let people = t.register_schema(people_schema()).unwrap();
    assert_eq!(people.key_field.as_deref(), Some("email"));
    assert_eq!(
        people.indexed_fields,
        vec!["age", "address.city", "tags", "role", "active"]
    );
    assert_eq!(people.category, Category::Public);
    let agent = t
        .register_schema(json!({
            "title": "ResearchAgent", "type": "object", "description": "Finds papers",
            "properties": {"query": {"type": "string"}},
            "category": "agents", "tools": [{"name": "search"}], "version": "2.1",
            "fully_qualified_name": "acme.agents.ResearchAgent",
            "embedding_provider": "local:all-MiniLM-L6-v2", "embedding_provider_alt": "openai:text-embedding-3-small"
        }))
        .unwrap();
    assert_eq!(agent.name, "research_agent");
    assert_eq!(agent.tools, vec![json!({"name": "search"})]);
    assert_eq!(agent.version.as_deref(), Some("2.1"));
    assert_eq!(agent.description.as_deref(), Some("Finds papers"));
    assert_eq!(
        agent.embedding_provider_alt.as_deref(),
        Some("openai:text-embedding-3-small")
    );
    let names = |c| {
        t.schemas(Some(c))
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(Category::System),
        vec!["agents", "messages", "moments", "resources", "sessions"]
    );
    assert_eq!(names(Category::Public), vec!["people"]);
    assert_eq!(names(Category::Agents), vec!["research_agent"]);
    assert!(names(Category::User).is_empty());
    assert_eq!(t.schemas(None).unwrap().len(), 7);
}

#[test]
fn init_is_idempotent_and_builtins_have_indexes() {
    let f = fixtures().remove(0);
    let t = f.tenant();
    t.init().unwrap();
    let seq = t.wal().seq().unwrap();
    t.init().unwrap();
    assert_eq!(
        t.wal().seq().unwrap(),
        seq,
        "re-registering identical schemas writes nothing"
    );
    for table in remdb::BUILTIN_TABLES {
        let s = t.schema(table).unwrap();
        assert_eq!(s.category, Category::System);
        assert!(!s.indexed_fields.is_empty(), "{table}");
        assert!(!s.embedding_fields.is_empty(), "{table}");
    }
    let err = t
        .insert("messages", json!({"session_id": "s1", "role": "robot"}))
        .unwrap_err();
    assert_eq!(err.code(), "VALIDATION");
    let agent = t.insert("agents", json!({"name": "planner"})).unwrap();
    assert_eq!(
        t.insert("agents", json!({"name": "planner", "description": "v2"}))
            .unwrap(),
        agent
    );
}

#[test]
fn bad_schemas_and_unknown_tables_get_clear_errors() {
    let f = fixtures().remove(0);
    let t = f.tenant();
    match t.insert("nope", json!({})) {
        Err(Error::UnknownTable { table, known }) => {
            assert_eq!(table, "nope");
            assert!(known.is_empty());
        }
        other => panic!("{other:?}"),
    }
    t.init().unwrap();
    let err = t.list("nope", &ListOptions::default()).unwrap_err();
    assert!(
        err.to_string()
            .contains("known tables: agents, messages, moments, resources, sessions"),
        "{err}"
    );
    for bad in [
        json!({"type": "object"}),
        json!({"title": "x", "type": "array"}),
        json!({"title": "x", "type": "object", "properties": {"a": {"type": "strin"}}}),
        json!({"title": "x", "type": "object", "properties": {"created_at": {"type": "string"}}}),
        json!({"title": "x", "type": "object", "indexed_fields": [1]}),
        json!({"title": "x", "type": "object", "category": "secret"}),
    ] {
        let err = t.register_schema(bad.clone()).unwrap_err();
        assert_eq!(err.code(), "INVALID_SCHEMA", "{bad}: {err}");
    }
}
