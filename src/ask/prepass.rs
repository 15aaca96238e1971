//! The pre-pass every question gets, with no LLM: tokens, ids and keys, time phrases, and the
//! words linked to tables, fields and dictionary values. Its [`Hints`] feed the offline
//! planner, the LLM prompt and the confidence score.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset};
use serde::Serialize;
use serde_json::Value;

use super::dictionary::Dictionary;
use super::text::{fold, is_stop_word, singular, tokens, Token};
use super::time::{find_times, TimeRange};
use crate::store::TableSchema;

/// Longest question accepted, in bytes.
pub const MAX_QUESTION_BYTES: usize = 4_096;
/// Most tokens read from a question.
pub const MAX_TOKENS: usize = 256;

/// What kind of identifier a token looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// Letters, a hyphen, digits: `TAP-1234` (or `tap 1234` in two words).
    Key,
    /// A bare number of 3 or more digits.
    Number,
    /// A UUID.
    Uuid,
    /// A URI (`scheme://...`).
    Uri,
    /// An email address.
    Email,
}

/// An identifier found in the question.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyHint {
    /// The identifier, as it would be stored (`tap 1234` → `TAP-1234`).
    pub text: String,
    /// Its kind.
    pub kind: KeyKind,
    /// Index of its (first) token.
    #[serde(skip)]
    pub token: usize,
    /// Tokens it spans.
    #[serde(skip)]
    pub width: usize,
}

/// A word linked to a table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableHint {
    /// The table.
    pub table: String,
    /// How it was linked: `name` (the table's name or its singular/plural) or `description`.
    pub via: &'static str,
    /// The token.
    #[serde(skip)]
    pub token: usize,
}

/// A word linked to a field.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldHint {
    /// The table.
    pub table: String,
    /// The field.
    pub field: String,
    /// The token.
    #[serde(skip)]
    pub token: usize,
}

/// Words matching a dictionary value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValueHint {
    /// The table.
    pub table: String,
    /// The field.
    pub field: String,
    /// The value as stored.
    pub value: Value,
    /// First token.
    #[serde(skip)]
    pub token: usize,
    /// Tokens spanned.
    #[serde(skip)]
    pub width: usize,
}

/// What the pre-pass found in a question.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Hints {
    /// The question, trimmed, whitespace collapsed.
    pub normalized: String,
    /// Identifiers (keys, numbers, UUIDs, URIs, emails).
    pub keys: Vec<KeyHint>,
    /// The time phrase, resolved (the first one found).
    pub time: Option<TimeRange>,
    /// Words naming tables.
    pub tables: Vec<TableHint>,
    /// Words naming fields.
    pub fields: Vec<FieldHint>,
    /// Words matching dictionary values.
    pub values: Vec<ValueHint>,
    /// Content words no hint explains.
    pub leftover: Vec<String>,
    /// The tokens (lowercase).
    #[serde(skip)]
    pub words: Vec<String>,
    /// The tokens as written.
    #[serde(skip)]
    pub raw: Vec<String>,
    /// Tokens some hint explains.
    #[serde(skip)]
    pub used: Vec<bool>,
    /// Tokens of the time phrase.
    #[serde(skip)]
    pub time_span: Option<(usize, usize)>,
}

impl Hints {
    /// Share of content words (not stop words) some hint explains, 0 to 1 (1 with no content).
    pub fn grounding(&self) -> f64 {
        let content: Vec<usize> = (0..self.words.len())
            .filter(|&i| !is_stop_word(&self.words[i]) || self.used[i])
            .collect();
        if content.is_empty() {
            return 1.0;
        }
        content.iter().filter(|&&i| self.used[i]).count() as f64 / content.len() as f64
    }

    /// Index of the first occurrence of any of `words`.
    pub fn find(&self, words: &[&str]) -> Option<usize> {
        self.words.iter().position(|w| words.contains(&w.as_str()))
    }

    /// Whether the two-word phrase `a b` occurs.
    pub fn has_pair(&self, a: &str, b: &str) -> bool {
        self.words.windows(2).any(|w| w[0] == a && w[1] == b)
    }

    /// Whether any of `words` occurs.
    pub fn has(&self, words: &[&str]) -> bool {
        self.find(words).is_some()
    }

    pub(crate) fn mark(&mut self, from: usize, to: usize) {
        let n = self.used.len();
        for u in &mut self.used[from.min(n)..to.min(n)] {
            *u = true;
        }
    }
}

fn is_uuid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok() && s.len() == 36
}

fn key_like(raw: &str) -> bool {
    // Letters (2–10), a hyphen or underscore, then digits or letters+digits: TAP-1234, E-1001.
    let Some(split) = raw.find(['-', '_']) else {
        return false;
    };
    let (head, tail) = (&raw[..split], &raw[split + 1..]);
    (1..=10).contains(&head.len())
        && head.chars().all(|c| c.is_ascii_alphabetic())
        && !tail.is_empty()
        && tail.len() <= 20
        && tail.chars().all(|c| c.is_ascii_alphanumeric())
        && tail.chars().any(|c| c.is_ascii_digit())
}

/// Runs the pre-pass. `question` must already be within [`MAX_QUESTION_BYTES`].
pub(crate) fn prepass(
    question: &str,
    now: &DateTime<FixedOffset>,
    schemas: &BTreeMap<String, TableSchema>,
    dict: &Dictionary,
) -> Hints {
    let normalized = question.split_whitespace().collect::<Vec<_>>().join(" ");
    let toks: Vec<Token> = tokens(&normalized).into_iter().take(MAX_TOKENS).collect();
    let words: Vec<String> = toks.iter().map(|t| t.norm.clone()).collect();
    let raw: Vec<String> = toks.iter().map(|t| t.raw.clone()).collect();
    let mut h = Hints {
        normalized,
        used: vec![false; words.len()],
        words,
        raw,
        ..Hints::default()
    };
    let refs: Vec<&str> = h.words.iter().map(String::as_str).collect();

    // Time phrases first: their numbers are not keys.
    if let Some(t) = find_times(now, &refs).into_iter().next() {
        h.time_span = Some((t.first, t.end));
        h.mark(t.first, t.end);
        h.time = Some(t.range);
    }

    // Identifiers.
    let mut i = 0;
    while i < h.words.len() {
        if h.used[i] {
            i += 1;
            continue;
        }
        let raw = h.raw[i].clone();
        let w = &h.words[i];
        let hint = if is_uuid(w) {
            Some((w.clone(), KeyKind::Uuid, 1))
        } else if w.contains("://") {
            Some((raw.clone(), KeyKind::Uri, 1))
        } else if w.contains('@') && w.contains('.') && !w.starts_with('@') {
            Some((w.clone(), KeyKind::Email, 1))
        } else if key_like(&raw) {
            Some((raw.to_uppercase(), KeyKind::Key, 1))
        } else if w.len() >= 3 && w.len() <= 19 && w.bytes().all(|b| b.is_ascii_digit()) {
            Some((w.clone(), KeyKind::Number, 1))
        } else if (2..=5).contains(&w.len())
            && w.chars().all(|c| c.is_ascii_alphabetic())
            && !is_stop_word(w)
            && !schemas.keys().any(|t| singular(t) == singular(w))
            && h.words.get(i + 1).is_some_and(|n| {
                (1..=12).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit())
            })
            && !h.used.get(i + 1).copied().unwrap_or(true)
        {
            // "tap 1234" → TAP-1234 (only a candidate: the lookup ladder confirms it).
            Some((
                format!("{}-{}", w.to_uppercase(), h.words[i + 1]),
                KeyKind::Key,
                2,
            ))
        } else {
            None
        };
        if let Some((text, kind, width)) = hint {
            h.keys.push(KeyHint {
                text,
                kind,
                token: i,
                width,
            });
            h.mark(i, i + width);
            i += width;
        } else {
            i += 1;
        }
    }

    // Tables by name, singular or plural, or a name segment ("support_ticket" ← "ticket").
    for (i, w) in h.words.clone().iter().enumerate() {
        if h.used[i] || is_stop_word(w) {
            continue;
        }
        let ws = singular(w);
        for schema in schemas.values() {
            let names = [Some(schema.name.as_str()), schema.short_name.as_deref()];
            let hit = names.iter().flatten().any(|n| {
                let n = n.to_lowercase();
                singular(&n) == ws
                    || n.rsplit('_')
                        .next()
                        .is_some_and(|last| singular(last) == ws)
            });
            if hit {
                h.tables.push(TableHint {
                    table: schema.name.clone(),
                    via: "name",
                    token: i,
                });
                h.used[i] = true;
            }
        }
    }

    // Dictionary values, longest n-gram first.
    let max = dict.max_words.clamp(1, 6);
    for width in (1..=max).rev() {
        let mut i = 0;
        while i + width <= h.words.len() {
            if h.used[i..i + width].iter().any(|u| *u) {
                i += 1;
                continue;
            }
            let phrase = fold(&h.words[i..i + width].join(" "));
            let mut found = dict.get(&phrase).to_vec();
            if found.is_empty() && width == 1 && !is_stop_word(&phrase) {
                // "urgent" for "urgent", "closed" for "close"? only plural forms: "bugs" → "bug".
                found = dict.get(&singular(&phrase)).to_vec();
            }
            if width == 1 && is_stop_word(&phrase) {
                found.clear();
            }
            if found.is_empty() {
                i += 1;
                continue;
            }
            for v in found {
                h.values.push(ValueHint {
                    table: v.table,
                    field: v.field,
                    value: v.value,
                    token: i,
                    width,
                });
            }
            h.mark(i, i + width);
            i += width;
        }
    }

    // Fields by name ("priority", "status", "team"), or by the stem of `x_at` / `x_id`.
    for (i, w) in h.words.clone().iter().enumerate() {
        if h.used[i] || is_stop_word(w) {
            continue;
        }
        let ws = singular(w);
        for schema in schemas.values() {
            for f in &schema.fields {
                let f_l = f.to_lowercase();
                let stem = f_l.trim_end_matches("_at").trim_end_matches("_id");
                if f_l == *w || singular(&f_l) == ws || (stem != f_l && stem == ws) {
                    h.fields.push(FieldHint {
                        table: schema.name.clone(),
                        field: f.clone(),
                        token: i,
                    });
                    h.used[i] = true;
                }
            }
        }
    }

    // Tables by their description, for content words nothing else explained (weak links).
    for (i, w) in h.words.clone().iter().enumerate() {
        if h.used[i] || is_stop_word(w) || w.len() < 4 {
            continue;
        }
        let ws = singular(w);
        for schema in schemas.values() {
            let described = schema.description.as_deref().is_some_and(|d| {
                d.to_lowercase()
                    .split(|c: char| !c.is_alphanumeric())
                    .any(|x| singular(x) == ws)
            });
            if described && !h.tables.iter().any(|t| t.table == schema.name) {
                h.tables.push(TableHint {
                    table: schema.name.clone(),
                    via: "description",
                    token: i,
                });
            }
        }
    }

    h.leftover = (0..h.words.len())
        .filter(|&i| !h.used[i] && !is_stop_word(&h.words[i]))
        .map(|i| h.words[i].clone())
        .collect();
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schemas() -> BTreeMap<String, TableSchema> {
        let t = TableSchema::parse(json!({
            "title": "Ticket", "type": "object",
            "description": "A support issue raised by a customer",
            "properties": {
                "key": {"type": "string"},
                "status": {"enum": ["open", "in_review", "closed"]},
                "priority": {"type": "string"},
                "opened_at": {"type": "string", "format": "date-time"}
            },
            "json_schema_extra": {"key_field": "key", "indexed_fields": ["priority"]}
        }))
        .unwrap();
        BTreeMap::from([(t.name.clone(), t)])
    }

    fn hints(q: &str) -> Hints {
        let mut dict = Dictionary::default();
        for s in ["open", "in_review", "closed"] {
            dict.values.insert(
                fold(s),
                vec![super::super::dictionary::DictValue {
                    table: "ticket".into(),
                    field: "status".into(),
                    value: json!(s),
                }],
            );
        }
        dict.max_words = 2;
        let now = DateTime::parse_from_rfc3339("2026-12-09T12:00:00+00:00").unwrap();
        prepass(q, &now, &schemas(), &dict)
    }

    #[test]
    fn keys_times_tables_values_and_fields() {
        let h = hints("How many open tickets in review with priority since March? TAP-1234");
        assert_eq!(h.keys.len(), 1);
        assert_eq!(h.keys[0].text, "TAP-1234");
        assert_eq!(h.time.as_ref().unwrap().phrase, "since march");
        assert_eq!(h.tables[0].table, "ticket");
        let values: Vec<&Value> = h.values.iter().map(|v| &v.value).collect();
        assert_eq!(values, [&json!("in_review"), &json!("open")]);
        assert_eq!(h.fields[0].field, "priority");
        assert!(h.leftover.is_empty(), "{:?}", h.leftover);
        assert_eq!(h.grounding(), 1.0);
    }

    #[test]
    fn spaced_keys_numbers_uuids_emails() {
        let h = hints("tap 1234 and 12345 and ada@x.io and 0190d5b8-7c1e-7000-8000-000000000000");
        let kinds: Vec<(KeyKind, &str)> =
            h.keys.iter().map(|k| (k.kind, k.text.as_str())).collect();
        assert_eq!(
            kinds,
            [
                (KeyKind::Key, "TAP-1234"),
                (KeyKind::Number, "12345"),
                (KeyKind::Email, "ada@x.io"),
                (KeyKind::Uuid, "0190d5b8-7c1e-7000-8000-000000000000")
            ]
        );
    }

    #[test]
    fn leftovers_and_description_links() {
        let h = hints("customer complaints about shipping");
        assert_eq!(h.tables[0].via, "description");
        assert!(h.leftover.contains(&"shipping".to_string()));
        assert!(h.grounding() < 0.5);
    }
}
