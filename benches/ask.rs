//! Offline planning speed: every question of the ask evaluation set
//! (tests/fixtures/ask/questions.json), planned but not run (`execute: false`), over a
//! 10-table schema — the evaluation's knowledge base, two more tables, and 5,000 extra tickets
//! and 2,000 extra people so lookups meet realistic tables. Embedding is off (planning never
//! embeds). Goal: ≤ 2 ms per question natively.
//!
//! `cargo bench --bench ask`

use std::time::Duration;

use criterion::Criterion;
use remdb::ask::{AskOptions, Planner};
use remdb::vector::EmbedMode;
use remdb::{Database, OpenOptions, Tenant};
use serde_json::{json, Value};

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/ask/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The knowledge base with the extra tables and rows.
pub fn ten_tables() -> (Database, Tenant) {
    let options = OpenOptions {
        embedding_mode: Some(EmbedMode::Off),
        ..OpenOptions::default()
    };
    let db = Database::with_kv_options(std::sync::Arc::new(remdb::kv::MemoryKv::new()), &options)
        .unwrap();
    let t = db.tenant("default").unwrap();
    t.init().unwrap();
    let kb = fixture("kb.json");
    for s in kb["schemas"].as_array().unwrap() {
        t.register_schema(s.clone()).unwrap();
    }
    t.register_schema(json!({"title": "Project", "description": "A piece of planned work", "type": "object",
        "properties": {"code": {"type": "string"}, "name": {"type": "string"}, "stage": {"enum": ["idea", "active", "done"]},
                       "due_at": {"type": "string", "format": "date-time"}},
        "json_schema_extra": {"short_name": "projects", "key_field": "code", "indexed_fields": ["stage", "name"]}})).unwrap();
    t.register_schema(json!({"title": "Invoice", "description": "A bill sent to a customer", "type": "object",
        "properties": {"number": {"type": "integer"}, "customer": {"type": "string"}, "total": {"type": "number"},
                       "paid": {"type": "boolean"}, "issued_at": {"type": "string", "format": "date-time"}},
        "json_schema_extra": {"short_name": "invoices", "key_field": "number", "indexed_fields": ["customer", "paid"]}})).unwrap();
    for (table, rows) in kb["rows"].as_object().unwrap() {
        t.insert_many(table, rows.as_array().unwrap().clone())
            .unwrap();
    }
    let statuses = ["open", "in_progress", "closed"];
    let priorities = ["low", "medium", "high", "urgent"];
    let tickets: Vec<Value> = (0..5_000)
        .map(|i| json!({"key": format!("SUP-{i}"), "number": 100_000 + i, "title": format!("Synthetic issue {i}"),
            "body": "generated", "status": statuses[i % 3], "priority": priorities[i % 4],
            "opened_at": format!("2026-0{}-{:02}T10:00:00Z", 1 + i % 6, 1 + i % 28)}))
        .collect();
    t.insert_many("tickets", tickets).unwrap();
    let teams = ["platform", "billing", "support", "design"];
    let people: Vec<Value> = (0..2_000)
        .map(|i| json!({"employee_id": format!("E-{}", 5000 + i), "name": format!("Person {i}"), "team": teams[i % 4],
            "role": "engineer", "email": format!("p{i}@example.com")}))
        .collect();
    t.insert_many("people", people).unwrap();
    let stages = ["idea", "active", "done"];
    let projects: Vec<Value> = (0..500)
        .map(|i| json!({"code": format!("PRJ-{i}"), "name": format!("Project {i}"), "stage": stages[i % 3]}))
        .collect();
    t.insert_many("projects", projects).unwrap();
    let invoices: Vec<Value> = (0..500)
        .map(|i| json!({"number": i, "customer": format!("Customer {}", i % 50), "total": i as f64 * 10.5, "paid": i % 2 == 0}))
        .collect();
    t.insert_many("invoices", invoices).unwrap();
    (db, t)
}

fn main() {
    let (_db, t) = ten_tables();
    assert_eq!(t.table_names().unwrap().len(), 10);
    let questions: Vec<String> = fixture("questions.json")["questions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["q"].as_str().unwrap().to_string())
        .collect();
    let opts = AskOptions {
        planner: Planner::Offline,
        execute: false,
        now: Some(chrono::DateTime::parse_from_rfc3339("2026-06-15T12:00:00+00:00").unwrap()),
        ..AskOptions::default()
    };
    let mut c = Criterion::default()
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1))
        .configure_from_args();
    // The first question after a write rebuilds the value dictionary and the name catalog.
    t.insert(
        "projects",
        json!({"code": "PRJ-new", "name": "Fresh project", "stage": "idea"}),
    )
    .unwrap();
    let start = std::time::Instant::now();
    t.ask("who is grace hoper", &opts).unwrap();
    let rebuild = start.elapsed();
    for q in &questions {
        t.ask(q, &opts).unwrap();
    }
    let mut slowest = (Duration::ZERO, String::new());
    for q in &questions {
        let start = std::time::Instant::now();
        for _ in 0..20 {
            t.ask(q, &opts).unwrap();
        }
        let each = start.elapsed() / 20;
        if each > slowest.0 {
            slowest = (each, q.clone());
        }
    }
    c.bench_function(
        &format!("plan_offline_{}_questions", questions.len()),
        |b| {
            b.iter(|| {
                for q in &questions {
                    std::hint::black_box(t.ask(q, &opts).unwrap());
                }
            })
        },
    );
    c.final_summary();
    println!(
        "slowest question: {:?} per plan for {:?}",
        slowest.0, slowest.1
    );
    println!("first question after a write (dictionary and name catalog rebuilt): {rebuild:?}");
}
