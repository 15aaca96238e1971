//! No question, however hostile, panics or writes; planning is deterministic; bad options are
//! typed errors.

use proptest::prelude::*;
use remdb::ask::{AskOptions, Planner, Status};
use remdb::{Database, Error, Tenant};
use serde_json::json;

fn tenant() -> (Database, Tenant) {
    let db = Database::memory();
    let t = db.tenant("default").unwrap();
    t.init().unwrap();
    t.register_schema(json!({
        "title": "Ticket", "type": "object",
        "properties": {"key": {"type": "string"}, "status": {"enum": ["open", "closed"]},
                       "opened_at": {"type": "string", "format": "date-time"}},
        "json_schema_extra": {"short_name": "tickets", "key_field": "key", "indexed_fields": ["status"]}
    }))
    .unwrap();
    for (k, s) in [("TAP-1", "open"), ("TAP-2", "closed")] {
        t.insert(
            "tickets",
            json!({"key": k, "status": s, "opened_at": "2026-01-01T00:00:00Z"}),
        )
        .unwrap();
    }
    (db, t)
}

fn offline() -> AskOptions {
    AskOptions {
        planner: Planner::Offline,
        ..AskOptions::default()
    }
}

#[test]
fn write_requests_are_refused_and_write_nothing() {
    let (_db, t) = tenant();
    let seq = t.wal().seq().unwrap();
    for q in [
        "delete all tickets",
        "please drop the tickets table",
        "update TAP-1 set status closed",
        "can you remove TAP-2",
    ] {
        let a = t.ask(q, &offline()).unwrap();
        assert_eq!(a.status, Status::Refused, "{q}: {a:?}");
        assert!(a.rows.is_empty());
    }
    assert_eq!(t.wal().seq().unwrap(), seq);
    assert_eq!(t.count("tickets", false).unwrap(), 2);
}

#[test]
fn bad_options_and_oversized_questions_are_typed_errors() {
    let (_db, t) = tenant();
    let too_long = "tickets ".repeat(1000);
    assert!(matches!(t.ask(&too_long, &offline()), Err(Error::Limit(_))));
    assert!(matches!(
        t.ask("  ", &offline()),
        Err(Error::InvalidArgument(_))
    ));
    let opts = AskOptions {
        table: Some("nope".into()),
        ..offline()
    };
    assert!(matches!(
        t.ask("open", &opts),
        Err(Error::UnknownTable { .. })
    ));
    let opts = AskOptions {
        max_stages: 9,
        ..offline()
    };
    assert!(matches!(
        t.ask("open", &opts),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn plan_only_returns_the_plan_without_running_it() {
    let (_db, t) = tenant();
    let opts = AskOptions {
        execute: false,
        ..offline()
    };
    let a = t.ask("open tickets", &opts).unwrap();
    assert_eq!(a.status, Status::Ok);
    assert!(a.rows.is_empty() && a.stages.is_empty());
    assert!(a.plan.is_some());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_question_answers_without_panicking_or_writing(q in "\\PC{0,200}") {
        let (_db, t) = tenant();
        let seq = t.wal().seq().unwrap();
        let first = t.ask(&q, &offline());
        let second = t.ask(&q, &offline());
        prop_assert_eq!(t.wal().seq().unwrap(), seq);
        match (first, second) {
            (Ok(a), Ok(b)) => {
                prop_assert_eq!(a.status, b.status);
                prop_assert_eq!(serde_json::to_string(&a.plan).unwrap(), serde_json::to_string(&b.plan).unwrap());
                prop_assert_eq!(a.rows, b.rows);
            }
            (Err(a), Err(b)) => prop_assert_eq!(a.code(), b.code()),
            (a, b) => prop_assert!(false, "not deterministic: {:?} vs {:?}", a, b),
        }
    }

    #[test]
    fn questions_built_from_keywords_answer_without_panicking(words in proptest::collection::vec(
        prop::sample::select(vec!["how", "many", "open", "closed", "tickets", "TAP-1", "tap", "1", "last", "7", "days",
            "since", "march", "about", "who", "wrote", "assigned", "to", "per", "status", "not", "\"", "delete",
            "in", "2024", "latest", "by", "average", "ü", "🦀", "0190d5b8-7c1e-7000-8000-000000000000", "x@y.z"]), 0..24)) {
        let (_db, t) = tenant();
        let q = words.join(" ");
        if let Ok(a) = t.ask(&q, &offline()) {
            prop_assert!((0.0..=1.0).contains(&a.confidence));
        }
    }
}
