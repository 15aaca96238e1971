//! Shared fixtures: the same store tests run against every backend.
#![allow(dead_code)]

use std::sync::Arc;

use remdb::kv::{Backend, MemoryKv};
use remdb::vector::EmbedMode;
use remdb::{Database, OpenOptions, Tenant};
use serde_json::{json, Value};

/// An open database of one backend, with its directory kept alive.
pub struct Fixture {
    pub name: &'static str,
    pub db: Database,
    pub dir: Option<tempfile::TempDir>,
    backend: Backend,
}

impl Fixture {
    pub fn tenant(&self) -> Tenant {
        self.db.tenant("default").unwrap()
    }

    /// Closes and reopens the database (same directory); memory databases stay as they are.
    pub fn reopen(self) -> Fixture {
        let Fixture {
            name,
            db,
            dir,
            backend,
        } = self;
        match &dir {
            Some(d) => {
                drop(db);
                let db = Database::open_with(d.path(), &options(backend)).unwrap();
                Fixture {
                    name,
                    db,
                    dir,
                    backend,
                }
            }
            None => Fixture {
                name,
                db,
                dir,
                backend,
            },
        }
    }
}

/// A fresh in-memory database with automatic embedding off (see [`options`]).
pub fn memory_db() -> Database {
    Database::with_kv_options(Arc::new(MemoryKv::new()), &options(Backend::Memory)).unwrap()
}

/// Store fixtures test the store: automatic embedding is off (it has its own tests), so WAL
/// positions and counts are exactly those of the rows written.
fn options(backend: Backend) -> OpenOptions {
    OpenOptions {
        backend: Some(backend),
        embedding_mode: Some(EmbedMode::Off),
        ..OpenOptions::default()
    }
}

fn on_disk(name: &'static str, backend: Backend) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open_with(dir.path(), &options(backend)).unwrap();
    Fixture {
        name,
        db,
        dir: Some(dir),
        backend,
    }
}

/// One fixture per backend built into this test binary.
pub fn fixtures() -> Vec<Fixture> {
    let mut all = vec![
        Fixture {
            name: "memory",
            db: Database::with_kv_options(Arc::new(MemoryKv::new()), &options(Backend::Memory))
                .unwrap(),
            dir: None,
            backend: Backend::Memory,
        },
        on_disk("redb", Backend::Redb),
    ];
    if cfg!(feature = "rocksdb") {
        all.push(on_disk("rocksdb", Backend::RocksDb));
    }
    all
}

/// A people table: key field `email`, indexes on age, city (nested) and tags.
pub fn people_schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Person",
        "type": "object",
        "$defs": {
            "Address": {
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "country": {"type": "string", "default": "NZ"}
                },
                "required": ["city"]
            }
        },
        "properties": {
            "email": {"type": "string", "pattern": "^[^@]+@[^@]+$"},
            "name": {"type": "string", "minLength": 1},
            "age": {"type": "integer", "minimum": 0, "maximum": 150},
            "score": {"type": "number"},
            "role": {"enum": ["engineer", "designer", "manager"], "default": "engineer"},
            "tags": {"type": "array", "items": {"type": "string"}, "default": []},
            "address": {"$ref": "#/$defs/Address"},
            "active": {"type": "boolean"}
        },
        "required": ["email", "name"],
        "additionalProperties": false,
        "json_schema_extra": {
            "short_name": "people",
            "key_field": "email",
            "indexed_fields": ["age", "address.city", "tags", "role", "active"],
            "embedding_fields": ["name"],
            "category": "public"
        }
    })
}

pub fn person(i: usize) -> Value {
    let cities = ["Auckland", "Berlin", "Chennai", "Denver"];
    json!({
        "email": format!("p{i}@example.com"),
        "name": format!("Person {i}"),
        "age": 20 + (i % 50),
        "score": (i as f64) * 0.5,
        "tags": if i % 3 == 0 { json!(["rust", "db"]) } else { json!(["ops"]) },
        "address": {"city": cities[i % 4]},
        "active": i % 2 == 0
    })
}

pub mod glove;
pub mod graph;
