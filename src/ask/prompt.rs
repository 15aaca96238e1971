//! What the LLM planner is told: the plan vocabulary and its rules, today's date and timezone,
//! the schema pruned to the tables the question touches (types, descriptions, enum values,
//! dictionary values), the pre-pass hints, and a few worked examples. Its answer must be one
//! plan object ([`plan_json_schema`](super::plan::plan_json_schema)).

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::{DateTime, FixedOffset};
use serde_json::{json, Value};

use super::dictionary::Dictionary;
use super::lookup::name_fields;
use super::plan::{enum_values, property, time_field, MAX_STAGES};
use super::prepass::Hints;
use crate::store::TableSchema;

/// Most tables described to the LLM.
pub const MAX_PROMPT_TABLES: usize = 12;
/// Most dictionary values listed per field.
const VALUES_PER_FIELD: usize = 20;

/// The system message: the task, the vocabulary, the rules.
pub(crate) fn system(now: &DateTime<FixedOffset>, max_stages: usize) -> String {
    let max = max_stages.clamp(1, MAX_STAGES);
    format!(
        "You plan read-only queries over a JSON document database (tables of JSON rows, graph edges \
between rows, vector search over embedded text fields). Answer with ONE JSON object: a plan, \
nothing else.\n\
\n\
Plan: {{\"intent\": entity_lookup|sql|vector|hybrid|graph|aggregate, \"stages\": [...], \"return\": \
rows|count, \"fallback\": a stage or null, \"explanation\": one sentence}}. At most {max} stages; a \
stage with \"from_previous\": true (select, search) keeps only the rows whose ids the stage before \
returned; traverse and path always start from the stage before.\n\
Stages:\n\
- {{\"kind\": \"lookup\", \"text\", \"tables\"}}: entities by id, key, name, uri or alias (exact, then \
normalised, prefix, fuzzy).\n\
- {{\"kind\": \"select\", \"table\", \"filters\": [{{\"field\", \"op\": eq|ne|lt|le|gt|ge|in|contains, \
\"value\"}}], \"time\": {{\"field\", \"start\", \"end\"}} or null, \"from_previous\", \"group_by\", \
\"aggregate\": {{\"func\": count|sum|avg|min|max, \"field\"}} or null, \"order_by\": {{\"field\", \"desc\"}} \
or null (\"value\" sorts by the aggregate), \"limit\"}}.\n\
- {{\"kind\": \"search\", \"table\", \"text\", \"k\", \"min_score\", \"filters\", \"time\", \"from_previous\"}}: \
rows closest in meaning to text (tables with embedding fields only).\n\
- {{\"kind\": \"traverse\", \"direction\": out|in|both, \"edge_types\", \"depth\" (1-3), \"table\"}}: \
entities linked to the previous stage's (out: along edges from them, in: edges pointing at them).\n\
- {{\"kind\": \"path\", \"to\", \"max_depth\"}}: a shortest path from the previous stage's entity to \
the entity `to` names.\n\
Rules: use only the tables, fields and values listed; copy enum and listed values exactly; values \
are JSON values, never SQL; a time range is [start, end) in RFC 3339 or YYYY-MM-DD (\"last 7 days\" \
= 7 calendar days ending today, \"last month\" = the previous calendar month); \"return\": \"count\" \
for how-many questions without groups. There is no way to write: never plan inserts, updates or \
deletes. When the stages cannot answer the question (it needs a field or relation the tables \
lack, negation over edges, or computation), answer with an empty \"stages\" list and say why in \
\"explanation\". Today is {} ({}, UTC{}).",
        now.format("%Y-%m-%d"),
        now.format("%A"),
        now.format("%:z"),
    )
}

fn type_of(schema: &TableSchema, field: &str) -> String {
    let Some(p) = property(schema, field) else {
        return "system".into();
    };
    let mut t = match p.get("type") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join("|"),
        _ if p.get("enum").is_some() => "enum".into(),
        _ => "any".into(),
    };
    if let Some(f) = p.get("format").and_then(Value::as_str) {
        t.push_str(&format!(" ({f})"));
    }
    t
}

/// The tables worth describing: those the hints touch, else every table (at most
/// [`MAX_PROMPT_TABLES`]).
fn pruned<'a>(
    schemas: &'a BTreeMap<String, TableSchema>,
    hints: &Hints,
    forced: Option<&str>,
) -> Vec<&'a TableSchema> {
    let mut names: Vec<&str> = forced.into_iter().collect();
    names.extend(hints.tables.iter().map(|t| t.table.as_str()));
    names.extend(hints.values.iter().map(|v| v.table.as_str()));
    names.extend(hints.fields.iter().map(|f| f.table.as_str()));
    let mut out: Vec<&TableSchema> = Vec::new();
    for n in names {
        if let Some(s) = schemas.get(n) {
            if !out.iter().any(|x| x.name == s.name) {
                out.push(s);
            }
        }
    }
    // Graph questions reach tables the question does not name: describe the rest too while
    // there is room.
    for s in schemas.values() {
        if out.len() >= MAX_PROMPT_TABLES {
            break;
        }
        if !out.iter().any(|x| x.name == s.name) {
            out.push(s);
        }
    }
    out
}

/// The user message: the schema, the hints and the question.
pub(crate) fn user(
    question: &str,
    schemas: &BTreeMap<String, TableSchema>,
    dict: &Dictionary,
    hints: &Hints,
    forced: Option<&str>,
) -> String {
    let mut out = String::from("Tables:\n");
    for s in pruned(schemas, hints, forced) {
        let _ = write!(out, "- {}", s.name);
        if let Some(d) = &s.description {
            let _ = write!(out, ": {d}");
        }
        out.push('\n');
        let mut fields: Vec<&str> = s.fields.iter().map(String::as_str).collect();
        fields.extend(["id", "created_at", "modified_at"]);
        for f in fields {
            let _ = write!(out, "    {f}: {}", type_of(s, f));
            if let Some(d) = property(s, f)
                .and_then(|p| p.get("description"))
                .and_then(Value::as_str)
            {
                let _ = write!(out, " — {d}");
            }
            let enums = enum_values(s, f);
            let mut values: Vec<String> = if enums.is_empty() {
                let mut v: Vec<String> = dict
                    .values
                    .values()
                    .flatten()
                    .filter(|d| d.table == s.name && d.field == f)
                    .filter_map(|d| d.value.as_str().map(str::to_string))
                    .collect();
                v.sort();
                v
            } else {
                enums.iter().map(|v| v.to_string()).collect()
            };
            values.truncate(VALUES_PER_FIELD);
            if !values.is_empty() {
                let _ = write!(out, " [values: {}]", values.join(", "));
            }
            out.push('\n');
        }
        let mut notes = Vec::new();
        if let Some(k) = &s.key_field {
            notes.push(format!("key field {k}"));
        }
        let names = name_fields(s);
        if !names.is_empty() {
            notes.push(format!("looked up by {}", names.join(", ")));
        }
        if !s.embedding_fields.is_empty() {
            notes.push(format!(
                "searchable by meaning: {}",
                s.embedding_fields.join(", ")
            ));
        }
        notes.push(format!("time field {}", time_field(s)));
        let _ = writeln!(out, "    ({})", notes.join("; "));
    }
    let hint = json!({
        "ids_and_keys": hints.keys,
        "time": hints.time,
        "tables": hints.tables,
        "fields": hints.fields,
        "values": hints.values,
    });
    let _ = writeln!(
        out,
        "\nWhat the question's words matched (trust these): {hint}"
    );
    let _ = writeln!(out, "\n{EXAMPLES}");
    let _ = write!(out, "\nQuestion: {question}");
    out
}

const EXAMPLES: &str = r#"Examples (for other tables):
Q: how many urgent orders were placed last month
A: {"intent":"aggregate","stages":[{"kind":"select","table":"orders","filters":[{"field":"priority","op":"eq","value":"urgent"}],"time":{"field":"placed_at","start":"2026-05-01","end":"2026-06-01"},"from_previous":false,"group_by":null,"aggregate":null,"order_by":null,"limit":null}],"return":"count","fallback":null,"explanation":"count urgent orders placed in May"}
Q: who reviewed PR-17
A: {"intent":"graph","stages":[{"kind":"lookup","text":"PR-17","tables":["pulls"]},{"kind":"traverse","direction":"in","edge_types":["reviewed"],"depth":1,"table":"users"}],"return":"rows","fallback":null,"explanation":"users with a reviewed edge to PR-17"}
Q: notes about onboarding from the sales team
A: {"intent":"hybrid","stages":[{"kind":"search","table":"notes","text":"onboarding","k":10,"min_score":null,"filters":[{"field":"team","op":"eq","value":"sales"}],"time":null,"from_previous":false}],"return":"rows","fallback":null,"explanation":"sales notes closest in meaning to onboarding"}"#;
