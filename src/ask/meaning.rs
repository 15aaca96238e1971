//! Links by meaning, where the tenant has a default embedder: the searchable table a question
//! naming none is closest to, and fields for the words the offline rules need a field for that
//! no name rule linked ("average cost" → `price`, "tickets per urgency" → `priority`). The texts
//! are embedded by whoever drives the session ([`AskStep::Embed`](super::AskStep::Embed)):
//! synchronously natively, through the face's async embedders in wasm. The vectors of table and
//! field texts are remembered per provider, so only the question's own words are embedded for
//! each question. Without an embedder, or when embedding fails, the name rules alone link.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;

use super::offline::is_aggregate_word;
use super::plan::property;
use super::prepass::{FieldHint, Hints};
use super::text::is_stop_word;
use crate::distance::Metric;
use crate::sql::QueryText;
use crate::store::TableSchema;

/// Least cosine between the question and the table it picks, and its lead over the next table.
const TABLE_MIN: f64 = 0.2;
const TABLE_LEAD: f64 = 0.05;
/// Least cosine between a word and the field it links to, and its lead over the next field.
const FIELD_MIN: f64 = 0.3;
const FIELD_LEAD: f64 = 0.05;
/// Most words of one question linked by meaning.
const MAX_WORDS: usize = 4;
/// Most candidate fields compared with a word.
const MAX_FIELDS: usize = 64;
/// Most table and field texts remembered (all providers together); past this all are forgotten.
const MAX_REMEMBERED: usize = 4_096;

type Remembered = Mutex<HashMap<(String, String), Arc<Vec<f32>>>>;

fn remembered() -> &'static Remembered {
    static CACHE: OnceLock<Remembered> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// A word that needs a field, and which fields may answer it.
struct Word {
    token: usize,
    text: String,
    /// Only number fields (an aggregate's argument).
    numeric: bool,
}

/// What a question may link by meaning, and the vectors known so far (normalised for cosine).
pub(crate) struct Meaning {
    provider: Option<String>,
    question: Option<String>,
    tables: Vec<(String, String)>,
    words: Vec<Word>,
    fields: Vec<(String, String, String, bool)>,
    vectors: HashMap<String, Arc<Vec<f32>>>,
}

/// `name: description` of a field, as it is embedded.
fn field_text(schema: &TableSchema, field: &str) -> String {
    let words = field.replace('_', " ");
    match property(schema, field)
        .and_then(|p| p.get("description"))
        .and_then(Value::as_str)
    {
        Some(d) => format!("{words}: {d}"),
        None => words,
    }
}

fn is_number_field(schema: &TableSchema, field: &str) -> bool {
    property(schema, field)
        .and_then(|p| p.get("type"))
        .is_some_and(|t| match t {
            Value::String(s) => s == "integer" || s == "number",
            Value::Array(ts) => ts.iter().any(|t| t == "integer" || t == "number"),
            _ => false,
        })
}

impl Meaning {
    /// Nothing to link (no embedder).
    pub(crate) fn none() -> Meaning {
        Meaning {
            provider: None,
            question: None,
            tables: Vec::new(),
            words: Vec::new(),
            fields: Vec::new(),
            vectors: HashMap::new(),
        }
    }

    /// What `h` may link by meaning with `provider` (the tenant's default embedder), `forced`
    /// being the table the caller named.
    pub(crate) fn wanted(
        h: &Hints,
        schemas: &BTreeMap<String, TableSchema>,
        forced: Option<&str>,
        provider: Option<String>,
    ) -> Meaning {
        let mut m = Meaning::none();
        let Some(provider) = provider else {
            return m;
        };
        // The table to search, when the question names none (see `offline::search_table`).
        let searchable: Vec<&TableSchema> = schemas
            .values()
            .filter(|s| !s.embedding_fields.is_empty())
            .collect();
        // Only for what may become a search: a key is looked up, and dictionary values or a
        // named table already say which table the question is about.
        let named = h.tables.iter().any(|t| t.via == "name");
        let grounded = named || !h.keys.is_empty() || !h.values.is_empty();
        if forced.is_none() && !grounded && !h.leftover.is_empty() && searchable.len() >= 2 {
            m.question = Some(h.normalized.clone());
            m.tables = searchable
                .iter()
                .map(|s| (s.name.clone(), super::dictionary::table_text(s)))
                .collect();
        }
        // Words a rule wants a field for: the word after "per"/"by"/"each", and an aggregate's
        // leftover words when no field was named.
        let free = |i: usize| {
            !h.used[i]
                && !is_stop_word(&h.words[i])
                && h.words[i].chars().any(char::is_alphabetic)
                && !h.time_span.is_some_and(|(a, b)| i >= a && i < b)
        };
        for (i, w) in h.words.iter().enumerate() {
            if matches!(w.as_str(), "per" | "by" | "each") && i + 1 < h.words.len() && free(i + 1) {
                m.words.push(Word {
                    token: i + 1,
                    text: h.words[i + 1].clone(),
                    numeric: false,
                });
            }
        }
        if h.fields.is_empty() && h.words.iter().any(|w| is_aggregate_word(w)) {
            for i in 0..h.words.len() {
                if free(i)
                    && !is_aggregate_word(&h.words[i])
                    && !m.words.iter().any(|w| w.token == i)
                {
                    m.words.push(Word {
                        token: i,
                        text: h.words[i].clone(),
                        numeric: true,
                    });
                }
            }
        }
        m.words.truncate(MAX_WORDS);
        if !m.words.is_empty() {
            let named: Vec<&str> = match forced {
                Some(t) => vec![t],
                None => h.tables.iter().map(|t| t.table.as_str()).collect(),
            };
            for schema in schemas.values() {
                if !named.is_empty() && !named.contains(&schema.name.as_str()) {
                    continue;
                }
                for f in &schema.fields {
                    m.fields.push((
                        schema.name.clone(),
                        f.clone(),
                        field_text(schema, f),
                        is_number_field(schema, f),
                    ));
                }
            }
            m.fields.truncate(MAX_FIELDS);
            if m.fields.is_empty() {
                m.words.clear();
            }
        }
        if m.question.is_none() && m.words.is_empty() {
            return m;
        }
        let cache = remembered().lock().unwrap_or_else(|p| p.into_inner());
        let texts = m
            .tables
            .iter()
            .map(|t| &t.1)
            .chain(m.fields.iter().map(|f| &f.2));
        for text in texts {
            if let Some(v) = cache.get(&(provider.clone(), text.clone())) {
                m.vectors.insert(text.clone(), v.clone());
            }
        }
        drop(cache);
        m.provider = Some(provider);
        m
    }

    /// The texts still to embed.
    pub(crate) fn missing(&self) -> Vec<QueryText> {
        let Some(provider) = &self.provider else {
            return Vec::new();
        };
        let mut texts: Vec<&String> = Vec::new();
        texts.extend(&self.question);
        texts.extend(self.words.iter().map(|w| &w.text));
        texts.extend(self.tables.iter().map(|t| &t.1));
        texts.extend(self.fields.iter().map(|f| &f.2));
        let mut out: Vec<QueryText> = Vec::new();
        for text in texts {
            if !self.vectors.contains_key(text) && !out.iter().any(|q| &q.text == text) {
                out.push(QueryText {
                    provider: provider.clone(),
                    text: text.clone(),
                });
            }
        }
        out
    }

    /// Takes the vectors of `texts`; table and field texts are remembered for later questions.
    pub(crate) fn supply(&mut self, texts: &[QueryText], vectors: Vec<Vec<f32>>) {
        let mut cache = remembered().lock().unwrap_or_else(|p| p.into_inner());
        for (t, mut v) in texts.iter().zip(vectors) {
            Metric::Cosine.prepare(&mut v);
            let v = Arc::new(v);
            let schema_text = self.tables.iter().any(|x| x.1 == t.text)
                || self.fields.iter().any(|x| x.2 == t.text);
            if schema_text {
                if cache.len() >= MAX_REMEMBERED {
                    cache.clear();
                }
                cache.insert((t.provider.clone(), t.text.clone()), v.clone());
            }
            self.vectors.insert(t.text.clone(), v);
        }
    }

    fn cosine(&self, a: &str, b: &str) -> Option<f64> {
        let (a, b) = (self.vectors.get(a)?, self.vectors.get(b)?);
        (a.len() == b.len()).then(|| f64::from(Metric::Cosine.score(a, b)))
    }

    /// Links each word that needs a field to the field clearly closest to it in meaning.
    pub(crate) fn link_fields(&self, h: &mut Hints) {
        for word in &self.words {
            let mut scored: Vec<(f64, usize)> = self
                .fields
                .iter()
                .enumerate()
                .filter(|(_, f)| f.3 || !word.numeric)
                .filter_map(|(i, f)| Some((self.cosine(&word.text, &f.2)?, i)))
                .collect();
            scored.sort_by(|a, b| b.0.total_cmp(&a.0));
            let Some(&(best, i)) = scored.first() else {
                continue;
            };
            let lead = scored.get(1).map_or(best, |s| best - s.0);
            if best < FIELD_MIN || lead < FIELD_LEAD {
                continue;
            }
            let (table, field, ..) = &self.fields[i];
            h.fields.push(FieldHint {
                table: table.clone(),
                field: field.clone(),
                token: word.token,
            });
            h.used[word.token] = true;
            h.leftover.retain(|w| w != &word.text);
        }
    }

    /// The searchable table whose description is clearly closest to the question.
    pub(crate) fn closest_table(&self) -> Option<String> {
        let question = self.question.as_ref()?;
        let mut scored: Vec<(f64, &str)> = self
            .tables
            .iter()
            .filter_map(|(t, text)| Some((self.cosine(question, text)?, t.as_str())))
            .collect();
        if scored.len() < 2 {
            return None;
        }
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        let (best, second) = (scored[0], scored[1]);
        (best.0 >= TABLE_MIN && best.0 - second.0 >= TABLE_LEAD).then(|| best.1.to_string())
    }
}
