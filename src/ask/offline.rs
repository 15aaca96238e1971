//! The offline planner: rules over the pre-pass, no LLM. It plans what it can ground — entity
//! lookups, filters on dictionary values, counts and groups, time ranges, "about ..." vector
//! searches (with filters: hybrid) and one-hop graph questions — and declines the rest
//! (negation, comparisons it did not ground, questions naming no table it knows) with a reason,
//! so it never answers confidently and wrongly.

use std::collections::BTreeMap;

use serde_json::Value;

use super::lookup::{lookup_fuzzy, LookupOptions, LookupStatus, Rung};
use super::meaning::Meaning;
use super::plan::{
    time_field, Aggregate, AggregateFn, Direction, Filter, Intent, Op, Order, Plan, Returns, Stage,
    TimeFilter,
};
use super::prepass::{Hints, KeyKind};
use super::text::is_stop_word;
use crate::error::Result;
use crate::sql::QueryVectors;
use crate::store::{TableSchema, TenantStore};

/// What the offline planner made of a question.
#[derive(Debug, Clone)]
pub(crate) enum Verdict {
    /// A plan.
    Planned(Box<Plan>),
    /// The question asks for a write.
    Refused(String),
    /// The planner cannot ground the question.
    Unanswerable(String),
}

/// Least score of a search over a table the question did not name.
const GUESSED_TABLE_MIN_SCORE: f32 = 0.3;

/// Verbs that ask for a write.
const WRITE_VERBS: [&str; 15] = [
    "delete", "remove", "drop", "update", "insert", "add", "create", "set", "rename", "purge",
    "erase", "modify", "wipe", "truncate", "change",
];
const NEGATIONS: [&str; 10] = [
    "not",
    "no",
    "without",
    "except",
    "excluding",
    "never",
    "none",
    "isn't",
    "aren't",
    "don't",
];
const COMPARISONS: [&str; 10] = [
    "more",
    "less",
    "fewer",
    "greater",
    "over",
    "under",
    "above",
    "below",
    "least",
    "exceeding",
];

/// A relation verb: the words that say it and the edge types it means.
struct Relation {
    words: &'static [&'static str],
    edges: &'static [&'static str],
}

const RELATIONS: [Relation; 4] = [
    Relation {
        words: &[
            "wrote", "written", "write", "writes", "authored", "author", "authors",
        ],
        edges: &["authored", "wrote", "author", "written_by"],
    },
    Relation {
        words: &[
            "assigned", "assignee", "owns", "owner", "owned", "handles", "handling",
        ],
        edges: &["assigned_to", "assigned", "assignee", "owned_by", "owner"],
    },
    Relation {
        words: &[
            "about",
            "regarding",
            "concerning",
            "mention",
            "mentions",
            "mentioning",
        ],
        edges: &["about", "mentions", "concerns"],
    },
    Relation {
        words: &["linked", "related", "connected"],
        edges: &[],
    },
];

/// The words that ask for an aggregate, by function, in the order they are tried.
pub(super) const AGGREGATE_WORDS: [(AggregateFn, &[&str]); 4] = [
    (AggregateFn::Avg, &["average", "avg", "mean"]),
    (AggregateFn::Sum, &["sum", "total"]),
    (AggregateFn::Max, &["maximum", "max", "highest", "largest"]),
    (AggregateFn::Min, &["minimum", "min", "lowest", "smallest"]),
];

/// Whether `word` asks for an aggregate.
pub(super) fn is_aggregate_word(word: &str) -> bool {
    AGGREGATE_WORDS
        .iter()
        .any(|(_, words)| words.contains(&word))
}

/// Plans `h`. `table` forces the table (the caller's `--table`).
pub(crate) fn plan(
    h: &Hints,
    store: &TenantStore,
    schemas: &BTreeMap<String, TableSchema>,
    table: Option<&str>,
    vectors: &QueryVectors,
    meaning: &Meaning,
) -> Result<Verdict> {
    let w: Vec<&str> = h.words.iter().map(String::as_str).collect();
    if w.is_empty() {
        return Ok(Verdict::Unanswerable("the question is empty".into()));
    }
    const POLITE: [&str; 14] = [
        "please", "can", "could", "would", "you", "i", "want", "to", "we", "need", "let's", "go",
        "ahead", "now",
    ];
    if let Some(verb) = w
        .iter()
        .find(|x| !POLITE.contains(x))
        .filter(|x| WRITE_VERBS.contains(x))
    {
        return Ok(Verdict::Refused(format!(
            "the question asks to {verb} data; ask answers questions and never writes"
        )));
    }
    if let Some(neg) = w.iter().find(|x| NEGATIONS.contains(x)) {
        return Ok(Verdict::Unanswerable(format!(
            "the offline planner does not plan negation (`{neg}`)"
        )));
    }
    if let Some(cmp) = w
        .iter()
        .enumerate()
        .find(|(i, x)| COMPARISONS.contains(x) && !h.used[*i])
    {
        // "at least"/"more than" with a number the pre-pass did not place.
        return Ok(Verdict::Unanswerable(format!(
            "the offline planner does not plan comparisons (`{}`)",
            cmp.1
        )));
    }
    if let Some(forced) = table {
        if !schemas.contains_key(forced) {
            return Ok(Verdict::Unanswerable(format!("unknown table `{forced}`")));
        }
    }
    let planner = Planner {
        h,
        w,
        store,
        schemas,
        forced: table,
        vectors,
        meaning,
    };
    planner.run()
}

struct Planner<'a> {
    h: &'a Hints,
    w: Vec<&'a str>,
    store: &'a TenantStore,
    schemas: &'a BTreeMap<String, TableSchema>,
    forced: Option<&'a str>,
    vectors: &'a QueryVectors,
    /// Links by meaning (the table to search when the question names none).
    meaning: &'a Meaning,
}

/// An entity found in a span of the question.
struct Entity {
    text: String,
    table: String,
    /// Found at the key, exact or normalised rung.
    exact: bool,
    first: usize,
    end: usize,
}

impl Planner<'_> {
    fn run(&self) -> Result<Verdict> {
        if let Some(v) = self.graph()? {
            return Ok(v);
        }
        if let Some(v) = self.entity_lookup()? {
            return Ok(v);
        }
        self.select_or_search()
    }

    fn lookup(&self, text: &str, tables: Vec<String>) -> Result<super::lookup::Lookup> {
        let mut pending = Vec::new();
        lookup_fuzzy(
            self.store,
            self.schemas,
            text,
            &LookupOptions {
                tables,
                limit: Some(3),
            },
            self.vectors,
            super::lookup::VectorRung::Skip,
            &mut pending,
        )
    }

    /// The named tables, forced one first.
    fn tables(&self) -> Vec<String> {
        let mut out: Vec<String> = self.forced.iter().map(|t| t.to_string()).collect();
        for t in self.h.tables.iter().filter(|t| t.via == "name") {
            if !out.contains(&t.table) {
                out.push(t.table.clone());
            }
        }
        out
    }

    /// An entity named by words `first..end` (trimmed of stop words), found by the ladder at
    /// the prefix rung or better (fuzzy when `fuzzy`).
    fn entity_in(&self, first: usize, end: usize, fuzzy: bool) -> Result<Option<Entity>> {
        self.entity_span(first, end, fuzzy, false)
    }

    /// [`entity_in`](Self::entity_in), optionally accepting an ambiguous lookup.
    fn entity_span(
        &self,
        first: usize,
        end: usize,
        fuzzy: bool,
        ambiguous: bool,
    ) -> Result<Option<Entity>> {
        let (mut a, mut b) = (first, end.min(self.w.len()));
        while a < b && (is_stop_word(self.w[a]) || self.is_table_word(a)) {
            a += 1;
        }
        while b > a && (is_stop_word(self.w[b - 1]) || self.is_table_word(b - 1)) {
            b -= 1;
        }
        if a >= b || b - a > 6 {
            return Ok(None);
        }
        if let Some((ts, te)) = self.h.time_span {
            if a < te && ts < b {
                b = b.min(ts);
                if a >= b {
                    return Ok(None);
                }
            }
        }
        let text = self.h.raw[a..b].join(" ");
        // Keys the pre-pass rewrote ("tap 1234" → TAP-1234) are looked up in their stored form.
        let text = self
            .h
            .keys
            .iter()
            .find(|k| k.token == a && k.token + k.width == b)
            .map_or(text, |k| k.text.clone());
        let found = self.lookup(&text, Vec::new())?;
        let Some(best) = found.candidates.first() else {
            return Ok(None);
        };
        let status_ok = found.status == LookupStatus::Found
            || (ambiguous && found.status == LookupStatus::Ambiguous);
        let ok = status_ok && (best.rung <= Rung::Prefix || (fuzzy && best.rung == Rung::Fuzzy));
        Ok(ok.then(|| Entity {
            // The words as asked, so the lookup stage finds (and scores) the same match.
            text: text.clone(),
            exact: best.rung <= Rung::Normalized,
            table: best.table.clone(),
            first: a,
            end: b,
        }))
    }

    fn is_table_word(&self, i: usize) -> bool {
        self.h
            .tables
            .iter()
            .any(|t| t.token == i && t.via == "name")
    }

    /// One-hop graph templates: "who wrote X", "what did P write", "tickets assigned to P",
    /// "what is X assigned to", "tickets about DHL", "what is X linked to".
    fn graph(&self) -> Result<Option<Verdict>> {
        for rel in &RELATIONS {
            let Some(v) = self.w.iter().position(|x| rel.words.contains(x)) else {
                continue;
            };
            // The entity after the verb ("wrote X", "assigned to X", "written by X", "about X")...
            let mut after = v + 1;
            let by = self.w.get(after) == Some(&"by");
            while after < self.w.len() && matches!(self.w[after], "by" | "to" | "with" | "of") {
                after += 1;
            }
            // Fuzzy names are fine for people and documents, not for "about X" (X may be a topic).
            let fuzzy = !rel.edges.is_empty() && !rel.edges.contains(&"about");
            let (entity, direction) = match self.entity_in(after, self.w.len(), fuzzy)? {
                Some(e) => {
                    let direction = if by || rel.edges.is_empty() {
                        if rel.edges.is_empty() {
                            Direction::Both
                        } else {
                            Direction::Out
                        }
                    } else {
                        Direction::In
                    };
                    (e, direction)
                }
                // ...else before it ("what is X assigned to", "who is X's author").
                None => match self.entity_in(0, v, fuzzy)? {
                    Some(e) => (
                        e,
                        if rel.edges.is_empty() {
                            Direction::Both
                        } else {
                            Direction::Out
                        },
                    ),
                    None => continue,
                },
            };
            // "about X" where X is no entity is a vector question, handled later.
            let target = self.tables().into_iter().find(|t| *t != entity.table);
            let mut stages = vec![
                Stage::Lookup {
                    text: entity.text.clone(),
                    tables: vec![entity.table.clone()],
                },
                Stage::Traverse {
                    direction,
                    edge_types: rel.edges.iter().map(|e| e.to_string()).collect(),
                    depth: Some(1),
                    table: target.clone(),
                },
            ];
            // Filters on the related rows ("open tickets about DHL").
            let mut explanation = format!(
                "find `{}` ({}), then follow {} edges {}",
                entity.text,
                entity.table,
                if rel.edges.is_empty() {
                    "any".to_string()
                } else {
                    rel.edges.join("/")
                },
                match direction {
                    Direction::In => "pointing at it",
                    Direction::Out => "from it",
                    Direction::Both => "either way",
                }
            );
            let used_by_entity = |i: usize| i >= entity.first && i < entity.end;
            if let Some(t) = &target {
                let filters = self.filters(t, &used_by_entity);
                let time = self.time(t);
                let count = self.counting();
                if !filters.is_empty() || time.is_some() {
                    explanation.push_str(&format!(", keeping the `{t}` rows that match"));
                    stages.push(Stage::Select {
                        table: t.clone(),
                        filters,
                        time,
                        from_previous: true,
                        group_by: None,
                        aggregate: None,
                        order_by: None,
                        limit: Some(super::plan::MAX_ROWS),
                    });
                }
                let returns = if count { Returns::Count } else { Returns::Rows };
                return Ok(Some(Verdict::Planned(Box::new(Plan {
                    intent: Intent::Graph,
                    stages,
                    returns,
                    fallback: None,
                    explanation,
                }))));
            }
            let returns = if self.counting() {
                Returns::Count
            } else {
                Returns::Rows
            };
            return Ok(Some(Verdict::Planned(Box::new(Plan {
                intent: Intent::Graph,
                stages,
                returns,
                fallback: None,
                explanation,
            }))));
        }
        Ok(None)
    }

    /// Whether the question asks for a count.
    fn counting(&self) -> bool {
        self.h.has_pair("how", "many") || self.h.has(&["count"]) || self.h.has_pair("number", "of")
    }

    /// A key, id, email or uri alone (with at most a table word and filler) is a lookup; so is a
    /// short question that is only a name the ladder finds exactly.
    fn entity_lookup(&self) -> Result<Option<Verdict>> {
        let content: Vec<usize> = (0..self.w.len())
            .filter(|&i| !is_stop_word(self.w[i]) && !self.is_table_word(i))
            .filter(|&i| !matches!(self.w[i], "who" | "is"))
            .collect();
        let tables = self.tables();
        for key in &self.h.keys {
            let span = key.token..key.token + key.width;
            let others = content.iter().filter(|i| !span.contains(i)).count();
            if others > 0 && self.counting() {
                continue;
            }
            if key.kind == KeyKind::Number {
                // "ticket 12345": a number field of the named table, else a natural key.
                if let Some(t) = tables.first() {
                    if let Some(field) = self.number_field(t) {
                        let n: Value = key
                            .text
                            .parse::<i64>()
                            .map(Value::from)
                            .unwrap_or(Value::Null);
                        if !n.is_null() {
                            return Ok(Some(Verdict::Planned(Box::new(Plan {
                                intent: Intent::Sql,
                                stages: vec![Stage::Select {
                                    table: t.clone(),
                                    filters: vec![Filter {
                                        field: field.clone(),
                                        op: Op::Eq,
                                        value: n,
                                    }],
                                    time: None,
                                    from_previous: false,
                                    group_by: None,
                                    aggregate: None,
                                    order_by: None,
                                    limit: Some(10),
                                }],
                                returns: Returns::Rows,
                                fallback: Some(Stage::Lookup {
                                    text: key.text.clone(),
                                    tables: vec![t.clone()],
                                }),
                                explanation: format!("`{t}` rows whose `{field}` is {}", key.text),
                            }))));
                        }
                    }
                }
            }
            if others <= 1 {
                let found = self.lookup(&key.text, tables.clone())?;
                if found.status != LookupStatus::NotFound || key.kind != KeyKind::Number {
                    return Ok(Some(Verdict::Planned(Box::new(Plan {
                        intent: Intent::EntityLookup,
                        stages: vec![Stage::Lookup {
                            text: key.text.clone(),
                            tables: tables.clone(),
                        }],
                        returns: Returns::Rows,
                        fallback: None,
                        explanation: format!("look up `{}` by id, key or name", key.text),
                    }))));
                }
            }
        }
        // "Acme Corp", "who is Ada Lovelace", "show the onboarding guide": the question is only
        // a name (any rung but vectors; an ambiguous name answers with its candidates).
        // A word that is also a dictionary value (an agent's name, which sessions name too) is
        // still a name when the ladder finds it exactly.
        if self.h.time.is_none() && !self.counting() {
            if let Some(e) = self.entity_span(0, self.w.len(), self.h.values.is_empty(), true)? {
                let covers = content.iter().all(|i| (e.first..e.end).contains(i));
                if covers && (self.h.values.is_empty() || e.exact) {
                    return Ok(Some(Verdict::Planned(Box::new(Plan {
                        intent: Intent::EntityLookup,
                        stages: vec![Stage::Lookup {
                            text: e.text.clone(),
                            tables: tables.clone(),
                        }],
                        returns: Returns::Rows,
                        fallback: None,
                        explanation: format!("look up `{}` by key, name or alias", e.text),
                    }))));
                }
            }
        }
        Ok(None)
    }

    /// An integer field named like a number (`number`, `num`, `no`, `ticket_number`).
    fn number_field(&self, table: &str) -> Option<String> {
        let schema = self.schemas.get(table)?;
        schema
            .fields
            .iter()
            .find(|f| {
                let is_int = super::plan::property(schema, f)
                    .and_then(|p| p.get("type"))
                    .is_some_and(|t| t == "integer" || t == "number");
                is_int
                    && (f.as_str() == "number"
                        || f.ends_with("_number")
                        || f.as_str() == "num"
                        || f.as_str() == "no")
            })
            .cloned()
    }

    /// Equality / IN filters from the dictionary values on `table`'s fields.
    fn filters(&self, table: &str, skip: &dyn Fn(usize) -> bool) -> Vec<Filter> {
        let mut by_field: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
        for v in self
            .h
            .values
            .iter()
            .filter(|v| v.table == table && !skip(v.token))
        {
            let list = by_field.entry(v.field.as_str()).or_default();
            if !list.contains(&v.value) {
                list.push(v.value.clone());
            }
        }
        by_field
            .into_iter()
            .map(|(field, values)| match values.as_slice() {
                [one] => Filter {
                    field: field.to_string(),
                    op: Op::Eq,
                    value: one.clone(),
                },
                _ => Filter {
                    field: field.to_string(),
                    op: Op::In,
                    value: Value::Array(values),
                },
            })
            .collect()
    }

    fn time(&self, table: &str) -> Option<TimeFilter> {
        let t = self.h.time.as_ref()?;
        let schema = self.schemas.get(table)?;
        Some(TimeFilter {
            field: Some(time_field(schema)),
            start: t.start.clone(),
            end: t.end.clone(),
        })
    }

    /// The table a select or search is over.
    fn subject(&self) -> Option<String> {
        if let Some(t) = self.tables().into_iter().next() {
            return Some(t);
        }
        let mut from_values: Vec<&str> = self.h.values.iter().map(|v| v.table.as_str()).collect();
        from_values.dedup();
        if from_values.len() == 1 {
            return Some(from_values[0].to_string());
        }
        let mut from_fields: Vec<&str> = self.h.fields.iter().map(|f| f.table.as_str()).collect();
        from_fields.dedup();
        if from_fields.len() == 1 {
            return Some(from_fields[0].to_string());
        }
        None
    }

    /// The words to search by meaning: after "about"/"on"/"regarding" when present, else every
    /// content word nothing else explained.
    fn search_text(&self) -> Option<String> {
        // "the latest 2 tickets": the 2 is the row count, not a word to search.
        let ordering = self
            .h
            .has(&["latest", "newest", "recent", "oldest", "earliest"]);
        let start = self
            .w
            .iter()
            .position(|x| {
                matches!(
                    *x,
                    "about" | "regarding" | "concerning" | "on" | "mentioning" | "discussing"
                )
            })
            .map(|p| p + 1);
        let words: Vec<&str> = (start.unwrap_or(0)..self.w.len())
            .filter(|&i| !self.h.used[i] && !is_stop_word(self.w[i]))
            .filter(|&i| !self.h.time_span.is_some_and(|(a, b)| i >= a && i < b))
            .filter(|&i| {
                !(ordering && self.w[i].len() <= 3 && self.w[i].bytes().all(|b| b.is_ascii_digit()))
            })
            .map(|i| self.h.raw[i].as_str())
            .collect();
        (!words.is_empty()).then(|| words.join(" "))
    }

    /// The phrase to embed for a search: the question's words after "about" (or all of them),
    /// without the words of values, keys, the time phrase and table names, but keeping the
    /// small words inside it ("when a with block exits"), which carry meaning for an embedder.
    fn search_phrase(&self) -> Option<String> {
        let start = self
            .w
            .iter()
            .position(|x| {
                matches!(
                    *x,
                    "about" | "regarding" | "concerning" | "on" | "mentioning" | "discussing"
                )
            })
            .map_or(0, |p| p + 1);
        let ordering = self
            .h
            .has(&["latest", "newest", "recent", "oldest", "earliest"]);
        let keep: Vec<usize> = (start..self.w.len())
            .filter(|&i| !self.h.used[i] && !self.is_table_word(i))
            .filter(|&i| {
                !(ordering && self.w[i].len() <= 3 && self.w[i].bytes().all(|b| b.is_ascii_digit()))
            })
            .collect();
        let first = keep.iter().position(|&i| !is_stop_word(self.w[i]))?;
        let last = keep.iter().rposition(|&i| !is_stop_word(self.w[i]))?;
        Some(
            keep[first..=last]
                .iter()
                .map(|&i| self.h.raw[i].as_str())
                .collect::<Vec<_>>()
                .join(" "),
        )
    }

    fn select_or_search(&self) -> Result<Verdict> {
        let named = self.subject();
        let Some(table) = named.clone().or_else(|| self.search_table()) else {
            return Ok(Verdict::Unanswerable(
                "the question names no table, value or entity this tenant has".into(),
            ));
        };
        let schema = &self.schemas[&table];
        let filters = self.filters(&table, &|_| false);
        let time = self.time(&table);
        let counting = self.counting();
        let aggregate = self.aggregate(schema);
        let group_by = self.group_by(schema);
        let text = self.search_text();
        let searchable = !schema.embedding_fields.is_empty();

        // Values the question names on another table cannot be honoured here.
        if let Some(v) = self.h.values.iter().find(|v| v.table != table) {
            if !self
                .h
                .values
                .iter()
                .any(|x| x.table == table && x.token == v.token)
            {
                return Ok(Verdict::Unanswerable(format!(
                    "`{}` is a value of `{}.{}`, but the question is about `{table}` (joins are not planned offline)",
                    v.value.as_str().unwrap_or_default(),
                    v.table,
                    v.field
                )));
            }
        }

        if counting || aggregate.is_some() || group_by.is_some() {
            if text.is_some() {
                return Ok(Verdict::Unanswerable(format!(
                    "`{}` is not grounded in `{table}`'s fields or values",
                    text.unwrap_or_default()
                )));
            }
            let aggregate = aggregate.or(Some(Aggregate {
                func: AggregateFn::Count,
                field: None,
            }));
            let returns = if group_by.is_none()
                && aggregate
                    .as_ref()
                    .is_some_and(|a| a.func == AggregateFn::Count)
            {
                Returns::Count
            } else {
                Returns::Rows
            };
            let explanation = match (&group_by, &aggregate) {
                (Some(g), Some(a)) => {
                    format!("{:?} of `{table}` rows per `{g}`", a.func).to_lowercase()
                }
                (None, Some(a)) => {
                    format!("{:?} of matching `{table}` rows", a.func).to_lowercase()
                }
                _ => String::new(),
            };
            let aggregate = if returns == Returns::Count {
                None
            } else {
                aggregate
            };
            return Ok(Verdict::Planned(Box::new(Plan {
                intent: Intent::Aggregate,
                stages: vec![Stage::Select {
                    table: table.clone(),
                    filters,
                    time,
                    from_previous: false,
                    group_by,
                    aggregate,
                    order_by: None,
                    limit: Some(100),
                }],
                returns,
                fallback: None,
                explanation,
            })));
        }

        let order = self.order(schema);
        match text {
            Some(words) if searchable => {
                let text = self.search_phrase().unwrap_or(words);
                let intent = if filters.is_empty() && time.is_none() {
                    Intent::Vector
                } else {
                    Intent::Hybrid
                };
                Ok(Verdict::Planned(Box::new(Plan {
                    intent,
                    explanation: format!("`{table}` rows closest in meaning to \"{text}\""),
                    stages: vec![Stage::Search {
                        table,
                        text,
                        k: Some(order.as_ref().and_then(|o| o.1).unwrap_or(10)),
                        // A table the question did not name is a guess: only close matches.
                        min_score: named.is_none().then_some(GUESSED_TABLE_MIN_SCORE),
                        filters,
                        time,
                        from_previous: false,
                    }],
                    returns: Returns::Rows,
                    fallback: None,
                })))
            }
            Some(text) => Ok(Verdict::Unanswerable(format!(
                "`{text}` is not grounded in `{table}`'s fields or values, and `{table}` has no embeddings to search"
            ))),
            None => {
                if filters.is_empty() && time.is_none() && order.is_none() && self.h.tables.is_empty() {
                    return Ok(Verdict::Unanswerable("nothing in the question to filter by".into()));
                }
                let (order_by, limit) = match order {
                    Some((o, n)) => (Some(o), Some(n.unwrap_or(5))),
                    None => (None, Some(super::exec::DEFAULT_LIMIT)),
                };
                Ok(Verdict::Planned(Box::new(Plan {
                    intent: Intent::Sql,
                    explanation: format!("`{table}` rows matching the question's values and time range"),
                    stages: vec![Stage::Select {
                        table,
                        filters,
                        time,
                        from_previous: false,
                        group_by: None,
                        aggregate: None,
                        order_by,
                        limit,
                    }],
                    returns: Returns::Rows,
                    fallback: None,
                })))
            }
        }
    }

    /// When no table is named, the table to search by meaning: the searchable table whose
    /// `name: description` is clearly closest to the question in embedding space (when the
    /// tenant has a default embedder), else `resources` (the documents), else a table whose
    /// description the question's words name.
    fn search_table(&self) -> Option<String> {
        let searchable = |t: &str| {
            self.schemas
                .get(t)
                .is_some_and(|s| !s.embedding_fields.is_empty())
        };
        if let Some(t) = self.meaning.closest_table() {
            return Some(t);
        }
        if searchable("resources") {
            return Some("resources".into());
        }
        self.h
            .tables
            .iter()
            .find(|t| searchable(&t.table))
            .map(|t| t.table.clone())
    }

    fn aggregate(&self, schema: &TableSchema) -> Option<Aggregate> {
        let (func, _) = AGGREGATE_WORDS
            .iter()
            .find(|(_, words)| self.h.has(words))?;
        let func = *func;
        let field = self
            .h
            .fields
            .iter()
            .find(|f| f.table == schema.name)
            .map(|f| f.field.clone())?;
        Some(Aggregate {
            func,
            field: Some(field),
        })
    }

    /// "per status", "by priority", "for each team", "breakdown by industry".
    fn group_by(&self, schema: &TableSchema) -> Option<String> {
        for (i, x) in self.w.iter().enumerate() {
            if matches!(*x, "per" | "by" | "each") {
                if let Some(f) = self
                    .h
                    .fields
                    .iter()
                    .find(|f| f.table == schema.name && f.token == i + 1)
                {
                    return Some(f.field.clone());
                }
            }
        }
        None
    }

    /// "latest", "newest", "most recent", "oldest", "first N": an order on the time field and
    /// the N asked for.
    fn order(&self, schema: &TableSchema) -> Option<(Order, Option<u64>)> {
        let desc = if self.h.has(&["latest", "newest", "recent", "newer"]) {
            true
        } else if self.h.has(&["oldest", "earliest", "older"]) {
            false
        } else {
            return None;
        };
        let n = self
            .w
            .iter()
            .enumerate()
            .find(|(i, x)| {
                !self.h.used[*i] && x.len() <= 3 && x.bytes().all(|b| b.is_ascii_digit())
            })
            .and_then(|(_, x)| x.parse::<u64>().ok())
            .filter(|n| (1..=100).contains(n));
        Some((
            Order {
                field: time_field(schema),
                desc,
            },
            n,
        ))
    }
}
