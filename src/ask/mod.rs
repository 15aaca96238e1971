//! Natural-language questions: `ask` turns a question into a typed, validated, read-only plan
//! and runs it. It sits above `sql`, `graph` and `vector` and uses only their operations.
//!
//! What it offers the faces:
//!
//! - [`AskSession`]: one question as a sans-IO state machine. It does all the synchronous work
//!   (pre-pass, offline plan, validation, execution, scoring) and stops at the two things only a
//!   face can do asynchronously: an LLM call ([`AskStep::Llm`]) and embedding query texts
//!   ([`AskStep::Embed`]). `Tenant::ask` drives it with blocking I/O; the wasm face awaits.
//! - [`lookup_fuzzy`](crate::Tenant::lookup_fuzzy): the entity lookup ladder alone.
//! - The plan vocabulary ([`Plan`], [`Stage`], [`plan_json_schema`]) and the answer
//!   ([`Answer`], [`Status`]).
//!
//! The pipeline: pre-pass (`prepass.rs`: ids and keys, time phrases from `time.rs`, words
//! linked to tables, fields and the value dictionary of `dictionary.rs`) → a plan from the
//! offline rules (`offline.rs`) and, when an LLM is configured, from the LLM (`prompt.rs`
//! says what it is told) → validation against the schemas (`plan.rs`) → execution
//! (`exec.rs`: parameterised SQL, graph walks, the lookup ladder of `lookup.rs`) with one repair
//! call for an LLM plan that fails, a fallback or a relaxation (SQL → vector) when nothing is
//! found → confidence from signals (`score.rs`). At most 3 executed stages and 3 LLM calls per
//! question.

mod cache;
mod catalog;
mod dictionary;
mod exec;
pub mod llm;
mod lookup;
mod meaning;
mod offline;
mod plan;
mod prepass;
mod prompt;
mod score;
mod text;
mod time;

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use chrono::{DateTime, FixedOffset, Utc};
use serde::Serialize;
use serde_json::Value;

pub use self::exec::StageReport;
pub use self::lookup::{Candidate, Lookup, LookupOptions, LookupStatus, Rung};
pub use self::plan::{
    plan_json_schema, Aggregate, AggregateFn, Direction, Filter, Intent, Op, Order, Plan, Returns,
    Stage, TimeFilter, MAX_STAGES,
};
pub use self::prepass::{Hints, MAX_QUESTION_BYTES};
pub use self::time::TimeRange;

use self::exec::{Outcome, Runner};
use self::offline::Verdict;
use crate::budget::Budget;
use crate::error::{Error, Result};
use crate::sql::{QueryText, QueryVectors};
use crate::store::{Row, TableSchema, TenantStore};

/// Most LLM calls one question may make (the plan and up to two repairs).
pub const MAX_LLM_CALLS: u32 = 3;

/// Which planner answers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Planner {
    /// The LLM named by `REM_LLM` when set, else the offline planner.
    #[default]
    Auto,
    /// The offline planner only.
    Offline,
    /// This LLM (`openai:<model>`, `anthropic:<model>`), with the offline plan as a check and
    /// a fallback.
    Llm(String),
}

/// Options of [`Tenant::ask`](crate::Tenant::ask).
#[derive(Debug, Clone)]
pub struct AskOptions {
    /// Answer from this table (the question is about its rows).
    pub table: Option<String>,
    /// Most stages a plan may have (1–3, default 3).
    pub max_stages: usize,
    /// Which planner answers.
    pub planner: Planner,
    /// Run the plan (default); false returns the plan only.
    pub execute: bool,
    /// "Now" for time phrases, with the asker's UTC offset (default: the clock, UTC).
    pub now: Option<DateTime<FixedOffset>>,
    /// The work the plan's queries may do (unset settings: the database's).
    pub budget: Budget,
}

impl Default for AskOptions {
    fn default() -> Self {
        AskOptions {
            table: None,
            max_stages: MAX_STAGES,
            planner: Planner::Auto,
            execute: true,
            now: None,
            budget: Budget::default(),
        }
    }
}

/// How a question ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Rows answer the question.
    Ok,
    /// The plan ran and found nothing.
    Empty,
    /// Two or more entities fit equally well; `rows` lists them.
    Ambiguous,
    /// No planner could ground the question.
    Unanswerable,
    /// The question asks for a write; nothing was written.
    Refused,
    /// Planning or running failed; `explanation` says why.
    Failed,
}

impl Status {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Empty => "empty",
            Status::Ambiguous => "ambiguous",
            Status::Unanswerable => "unanswerable",
            Status::Refused => "refused",
            Status::Failed => "failed",
        }
    }
}

/// The answer to a question.
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    /// How it ended.
    pub status: Status,
    /// The kind of question, when a plan exists.
    pub intent: Option<Intent>,
    /// 0 to 1, from grounding, validation, execution and agreement signals.
    pub confidence: f64,
    /// `offline`, or the LLM spec that planned (`openai:gpt-4o-mini`).
    pub planner: String,
    /// The plan that ran.
    pub plan: Option<Plan>,
    /// What each executed stage ran and how many rows it gave.
    pub stages: Vec<StageReport>,
    /// The answer's rows: full rows with `id` and `_table`; a count is one row `{count}`.
    pub rows: Vec<Row>,
    /// How the answer was reached, and any error along the way.
    pub explanation: String,
    /// LLM calls made.
    pub llm_calls: u32,
    /// What the pre-pass found.
    pub hints: Hints,
}

/// An LLM call the session needs: a system message, a user message and earlier turns of a
/// repair, for a plan in the shape of [`plan_json_schema`].
#[derive(Debug, Clone, PartialEq)]
pub struct PlanRequest {
    /// The system message.
    pub system: String,
    /// The first user message.
    pub user: String,
    /// Later turns, `(role, text)` with role `assistant` or `user` (a repair's history).
    pub turns: Vec<(String, String)>,
}

impl PlanRequest {
    /// The request as the LLM client sends it: the plan's JSON Schema as the structured output.
    pub fn chat(&self) -> llm::ChatRequest {
        let mut chat = llm::ChatRequest::new(&self.system, &self.user, "plan", plan_json_schema());
        for (role, text) in &self.turns {
            let role = if role == "assistant" {
                llm::Role::Assistant
            } else {
                llm::Role::User
            };
            chat.history.push((role, text.clone()));
        }
        chat
    }
}

/// What an [`AskSession`] needs next.
#[derive(Debug)]
pub enum AskStep {
    /// Send this to the LLM and pass the model's text to [`AskSession::llm_answered`].
    Llm(PlanRequest),
    /// Embed these query texts (as queries, by their providers) and pass the vectors to
    /// [`AskSession::embedded`].
    Embed(Vec<QueryText>),
    /// The answer.
    Done(Box<Answer>),
}

/// Where a plan came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Offline,
    Llm,
}

#[derive(Debug)]
enum State {
    /// Waiting for the vectors of the texts to link by meaning (`meaning.rs`), before planning.
    AwaitMeaning(Vec<QueryText>),
    /// Waiting for the LLM's plan (or repair).
    AwaitLlm,
    /// A plan to run.
    Run(Box<Plan>, Source),
    /// Finished.
    Done(Box<Answer>),
    /// The answer was handed out.
    Taken,
}

/// One question being answered. Create it with [`Tenant::ask_session`](crate::Tenant::ask_session),
/// then call [`advance`](Self::advance) until it returns [`AskStep::Done`], answering each
/// [`AskStep::Llm`] and [`AskStep::Embed`] in between.
pub struct AskSession {
    store: TenantStore,
    schemas: BTreeMap<String, TableSchema>,
    hints: Hints,
    question: String,
    options: AskOptions,
    llm: Option<String>,
    offline: Verdict,
    state: State,
    request: Option<PlanRequest>,
    llm_calls: u32,
    repaired: bool,
    llm_error: Option<String>,
    vectors: QueryVectors,
    pending: Vec<QueryText>,
    embed_inline: bool,
    relaxed: bool,
    cache_key: Option<String>,
    /// What the question may link by meaning.
    meaning: meaning::Meaning,
    /// The time the question is asked at.
    now: DateTime<FixedOffset>,
}

impl std::fmt::Debug for AskSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AskSession")
            .field("question", &self.question)
            .field("llm", &self.llm)
            .field("state", &self.state)
            .finish()
    }
}

type PlanCache = Mutex<HashMap<String, Plan>>;

/// LLM plans by (planner, normalised question, schema hash, day).
fn plan_cache() -> &'static PlanCache {
    static CACHE: std::sync::OnceLock<PlanCache> = std::sync::OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}
const PLAN_CACHE_ENTRIES: usize = 512;

fn schema_hash(schemas: &BTreeMap<String, TableSchema>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for s in schemas.values() {
        s.name.hash(&mut h);
        s.schema.to_string().hash(&mut h);
    }
    h.finish()
}

impl AskSession {
    /// Starts answering `question`: runs the pre-pass and the offline planner. `llm` is the
    /// LLM that plans (`None`: the offline planner answers). With `embed_inline`, query texts
    /// are embedded synchronously by the providers; otherwise the session asks for them with
    /// [`AskStep::Embed`].
    pub(crate) fn new(
        store: TenantStore,
        budget: Budget,
        question: &str,
        options: &AskOptions,
        llm: Option<String>,
        embed_inline: bool,
    ) -> Result<Self> {
        if question.len() > MAX_QUESTION_BYTES {
            return Err(Error::Limit(format!(
                "a question is at most {MAX_QUESTION_BYTES} bytes; this one is {}",
                question.len()
            )));
        }
        if question.trim().is_empty() {
            return Err(Error::InvalidArgument("the question is empty".into()));
        }
        if !(1..=MAX_STAGES).contains(&options.max_stages) {
            return Err(Error::InvalidArgument(format!(
                "max_stages must be 1–{MAX_STAGES}, got {}",
                options.max_stages
            )));
        }
        let schemas: BTreeMap<String, TableSchema> = store
            .schemas(None)?
            .into_iter()
            .map(|s| (s.name.clone(), s))
            .collect();
        if let Some(t) = &options.table {
            if !schemas.contains_key(t) {
                return Err(Error::UnknownTable {
                    table: t.clone(),
                    known: schemas.keys().cloned().collect(),
                });
            }
        }
        let now = options
            .now
            .unwrap_or_else(|| Utc::now().with_timezone(&FixedOffset::east_opt(0).expect("UTC")));
        let dict = dictionary::dictionary(&store, &schemas)?;
        let hints = prepass::prepass(question, &now, &schemas, &dict);
        let meaning = meaning::Meaning::wanted(
            &hints,
            &schemas,
            options.table.as_deref(),
            store.embed_settings().default_provider,
        );
        let mut options = options.clone();
        options.budget = options.budget.or(&budget);
        let mut session = AskSession {
            question: question.to_string(),
            state: State::Taken,
            request: None,
            llm_calls: 0,
            repaired: false,
            llm_error: None,
            vectors: QueryVectors::new(),
            pending: Vec::new(),
            embed_inline,
            relaxed: false,
            cache_key: None,
            store,
            schemas,
            hints,
            llm,
            offline: Verdict::Unanswerable(String::new()),
            options,
            meaning,
            now,
        };
        let missing = session.meaning.missing();
        session.state = if missing.is_empty() {
            session.plan()
        } else if embed_inline {
            // Embedded in place; linking by meaning is a help, so a failure only skips it.
            let vectors: Result<Vec<Vec<f32>>> = missing
                .iter()
                .map(|t| crate::vector::embed_query(&session.store, &t.provider, &t.text))
                .collect();
            if let Ok(v) = vectors {
                session.meaning.supply(&missing, v);
            }
            session.plan()
        } else {
            State::AwaitMeaning(missing)
        };
        Ok(session)
    }

    /// Links by meaning, plans offline, and starts the LLM planner when there is one; a
    /// failure to read what planning needs ends the question as `failed`.
    fn plan(&mut self) -> State {
        match self.try_plan() {
            Ok(state) => state,
            Err(e) => State::Done(Box::new(self.answer(
                Status::Failed,
                None,
                e.to_string(),
                0.0,
            ))),
        }
    }

    fn try_plan(&mut self) -> Result<State> {
        self.meaning.link_fields(&mut self.hints);
        let dict = dictionary::dictionary(&self.store, &self.schemas)?;
        self.offline = offline::plan(
            &self.hints,
            &self.store,
            &self.schemas,
            self.options.table.as_deref(),
            &self.vectors,
            &self.meaning,
        )?;
        let now = self.now;
        Ok(self.first_state(&now, &dict))
    }

    fn first_state(&mut self, now: &DateTime<FixedOffset>, dict: &dictionary::Dictionary) -> State {
        if let Verdict::Refused(why) = &self.offline {
            return State::Done(Box::new(self.answer(
                Status::Refused,
                None,
                why.clone(),
                0.95,
            )));
        }
        let Some(llm) = self.llm.clone() else {
            return self.offline_state();
        };
        let key = format!(
            "{llm}\u{0}{}\u{0}{}\u{0}{}\u{0}{:?}\u{0}{}",
            self.hints.normalized.to_lowercase(),
            schema_hash(&self.schemas),
            now.format("%Y-%m-%d"),
            self.options.table,
            self.options.max_stages
        );
        let cached = plan_cache()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned();
        self.cache_key = Some(key);
        if let Some(plan) = cached {
            return State::Run(Box::new(plan), Source::Llm);
        }
        self.request = Some(PlanRequest {
            system: prompt::system(now, self.options.max_stages),
            user: prompt::user(
                &self.question,
                &self.schemas,
                dict,
                &self.hints,
                self.options.table.as_deref(),
            ),
            turns: Vec::new(),
        });
        State::AwaitLlm
    }

    /// The state that answers with the offline plan.
    fn offline_state(&self) -> State {
        match &self.offline {
            Verdict::Planned(plan) => match plan.validate(&self.schemas, self.options.max_stages) {
                Ok(()) => State::Run(plan.clone(), Source::Offline),
                Err(e) => State::Done(Box::new(self.answer(
                    Status::Unanswerable,
                    None,
                    format!("the offline plan does not validate: {e}"),
                    0.1,
                ))),
            },
            Verdict::Refused(why) => State::Done(Box::new(self.answer(
                Status::Refused,
                None,
                why.clone(),
                0.95,
            ))),
            Verdict::Unanswerable(why) => State::Done(Box::new(self.answer(
                Status::Unanswerable,
                None,
                why.clone(),
                0.1,
            ))),
        }
    }

    fn planner_name(&self, source: Source) -> String {
        match (source, &self.llm) {
            (Source::Llm, Some(l)) => l.clone(),
            _ => "offline".into(),
        }
    }

    /// An answer without executed rows.
    fn answer(
        &self,
        status: Status,
        plan: Option<(Plan, Source)>,
        explanation: String,
        confidence: f64,
    ) -> Answer {
        let mut explanation = explanation;
        if let Some(e) = &self.llm_error {
            explanation =
                format!("{explanation} (the LLM failed: {e}; the offline planner answered)");
        }
        let planner = plan.as_ref().map_or_else(
            || {
                self.planner_name(if self.llm_error.is_some() {
                    Source::Offline
                } else {
                    Source::Llm
                })
            },
            |(_, s)| self.planner_name(*s),
        );
        Answer {
            status,
            intent: plan.as_ref().map(|(p, _)| p.intent),
            confidence,
            planner,
            plan: plan.map(|(p, _)| p),
            stages: Vec::new(),
            rows: Vec::new(),
            explanation,
            llm_calls: self.llm_calls,
            hints: self.hints.clone(),
        }
    }

    /// Advances the session to its next need, or its answer.
    pub fn advance(&mut self) -> AskStep {
        loop {
            match std::mem::replace(&mut self.state, State::Taken) {
                State::AwaitMeaning(texts) => {
                    self.state = State::AwaitMeaning(texts.clone());
                    return AskStep::Embed(texts);
                }
                State::AwaitLlm => {
                    let Some(request) = self.request.clone() else {
                        self.state = self.offline_state();
                        continue;
                    };
                    self.state = State::AwaitLlm;
                    return AskStep::Llm(request);
                }
                State::Run(plan, source) => {
                    if !self.pending.is_empty() {
                        let texts = std::mem::take(&mut self.pending);
                        self.state = State::Run(plan, source);
                        return AskStep::Embed(texts);
                    }
                    self.state = self.run(*plan, source);
                }
                State::Done(answer) => return AskStep::Done(answer),
                State::Taken => {
                    return AskStep::Done(Box::new(self.answer(
                        Status::Failed,
                        None,
                        "the session already answered".into(),
                        0.0,
                    )))
                }
            }
        }
    }

    /// Hands the LLM's answer (the model's output text) or its failure to the session.
    pub fn llm_answered(&mut self, reply: Result<String>) {
        if !matches!(self.state, State::AwaitLlm) {
            return;
        }
        self.llm_calls += 1;
        let text = match reply {
            Ok(t) => t,
            Err(e) => {
                self.llm_error = Some(e.to_string());
                self.state = self.offline_state();
                return;
            }
        };
        let parsed: std::result::Result<Value, _> = serde_json::from_str(text.trim());
        let checked = match parsed {
            Ok(v) => match Plan::from_json(&v) {
                Ok(None) => {
                    self.state = State::Done(Box::new(self.answer(
                        Status::Refused,
                        None,
                        "the LLM's plan asks for a write; ask never writes".into(),
                        0.95,
                    )));
                    return;
                }
                Ok(Some(plan)) if plan.stages.is_empty() => {
                    // The LLM's way to decline: no stages, and why in the explanation.
                    let why = if plan.explanation.is_empty() {
                        "the LLM found no plan for the question".to_string()
                    } else {
                        plan.explanation.clone()
                    };
                    self.state =
                        State::Done(Box::new(self.answer(Status::Unanswerable, None, why, 0.1)));
                    return;
                }
                Ok(Some(plan)) => plan
                    .validate(&self.schemas, self.options.max_stages)
                    .map(|_| plan),
                Err(e) => Err(e),
            },
            Err(e) => Err(Error::InvalidArgument(format!(
                "the answer is not JSON: {e}"
            ))),
        };
        match checked {
            Ok(plan) => self.state = State::Run(Box::new(plan), Source::Llm),
            Err(e) => self.repair_or_fall_back(&text, &e.to_string()),
        }
    }

    /// One more LLM call with the error, or the offline answer when the calls are used up.
    fn repair_or_fall_back(&mut self, answer: &str, error: &str) {
        if self.llm_calls < MAX_LLM_CALLS {
            if let Some(request) = &mut self.request {
                let mut shown = answer.to_string();
                if shown.len() > 8_192 {
                    let mut cut = 8_192;
                    while !shown.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    shown.truncate(cut);
                }
                request.turns.push(("assistant".into(), shown));
                request.turns.push((
                    "user".into(),
                    format!(
                        "That plan cannot run: {error}. Answer with a corrected plan, JSON only."
                    ),
                ));
                self.repaired = true;
                self.state = State::AwaitLlm;
                return;
            }
        }
        self.llm_error = Some(format!(
            "its plan failed after {} calls: {error}",
            self.llm_calls
        ));
        self.state = self.offline_state();
    }

    /// Hands the vectors of the texts [`AskStep::Embed`] asked for (in its order).
    pub fn embedded(&mut self, texts: &[QueryText], vectors: Result<Vec<Vec<f32>>>) {
        if matches!(self.state, State::AwaitMeaning(_)) {
            // Linking by meaning is a help: without the vectors the name rules alone link.
            if let Ok(v) = vectors {
                if v.len() == texts.len() {
                    self.meaning.supply(texts, v);
                }
            }
            self.state = self.plan();
            return;
        }
        match vectors {
            Ok(v) if v.len() == texts.len() => {
                for (t, v) in texts.iter().zip(v) {
                    self.vectors.insert((t.provider.clone(), t.text.clone()), v);
                }
            }
            Ok(v) => {
                self.state = State::Done(Box::new(self.answer(
                    Status::Failed,
                    None,
                    format!("{} vectors for {} query texts", v.len(), texts.len()),
                    0.0,
                )))
            }
            Err(e) => {
                self.state = State::Done(Box::new(self.answer(
                    Status::Failed,
                    None,
                    format!("embedding the query failed: {e}"),
                    0.0,
                )))
            }
        }
    }

    fn run(&mut self, plan: Plan, source: Source) -> State {
        if !self.options.execute {
            let mut a = self.answer(Status::Ok, Some((plan, source)), String::new(), 0.0);
            a.explanation = a
                .plan
                .as_ref()
                .map(|p| p.explanation.clone())
                .unwrap_or_default();
            a.confidence = (0.5 + 0.45 * self.hints.grounding()).min(1.0);
            return State::Done(Box::new(a));
        }
        let runner = Runner {
            store: &self.store,
            schemas: &self.schemas,
            budget: self.options.budget,
            vectors: &self.vectors,
            embed_inline: self.embed_inline,
        };
        let outcome = runner.run(&plan);
        match outcome {
            Outcome::Pending(p) => {
                let mut texts = p.0;
                texts.dedup();
                if texts.is_empty() {
                    return State::Done(Box::new(self.answer(
                        Status::Failed,
                        Some((plan, source)),
                        "a search stage needs a query vector that cannot be computed".into(),
                        0.0,
                    )));
                }
                self.pending = texts;
                State::Run(Box::new(plan), source)
            }
            Outcome::Failed(f) => {
                let error = format!("stage {} failed: {}", f.stage + 1, f.error);
                match (source, &f.error) {
                    (Source::Llm, _)
                        if self.llm_calls < MAX_LLM_CALLS && self.request.is_some() =>
                    {
                        let text = serde_json::to_string(&plan).unwrap_or_default();
                        self.repair_or_fall_back(&text, &error);
                        std::mem::replace(&mut self.state, State::Taken)
                    }
                    (Source::Llm, _) => {
                        self.llm_error = Some(error);
                        self.offline_state()
                    }
                    (Source::Offline, _) => State::Done(Box::new(self.answer(
                        Status::Failed,
                        Some((plan, Source::Offline)),
                        error,
                        0.0,
                    ))),
                }
            }
            Outcome::Done(mut exec) => {
                let mut plan = plan;
                if exec.rows.is_empty() && !exec.used_fallback && !self.relaxed {
                    if let Some(relaxed) = self.relax(&plan) {
                        self.relaxed = true;
                        return State::Run(Box::new(relaxed), source);
                    }
                }
                if self.relaxed {
                    plan.explanation = format!(
                        "{} (relaxed: the structured plan found nothing)",
                        plan.explanation
                    );
                }
                if source == Source::Llm {
                    if let Some(key) = &self.cache_key {
                        let mut cache = plan_cache().lock().unwrap_or_else(|p| p.into_inner());
                        if cache.len() >= PLAN_CACHE_ENTRIES {
                            cache.clear();
                        }
                        cache.insert(key.clone(), plan.clone());
                    }
                }
                let agreement = match (&self.offline, source) {
                    (Verdict::Planned(off), Source::Llm) => Some(agrees(off, &plan)),
                    _ => None,
                };
                let confidence = score::confidence(&score::Signals {
                    plan: &plan,
                    execution: &exec,
                    grounding: self.hints.grounding(),
                    repaired: self.repaired,
                    agreement,
                });
                let ambiguous = exec
                    .lookup
                    .as_ref()
                    .is_some_and(|l| l.status == LookupStatus::Ambiguous)
                    && matches!(plan.stages.first(), Some(Stage::Lookup { .. }));
                let status = if ambiguous {
                    Status::Ambiguous
                } else if exec.rows.is_empty() {
                    Status::Empty
                } else {
                    Status::Ok
                };
                if ambiguous && plan.stages.len() > 1 {
                    // Which entity was meant is unclear: answer with the candidates.
                    if let Some(l) = &exec.lookup {
                        exec.rows = l
                            .candidates
                            .iter()
                            .map(|c| exec::with_table(c.row.clone(), &c.table))
                            .collect();
                    }
                }
                let mut a = self.answer(status, Some((plan, source)), String::new(), confidence);
                a.explanation = match &a.plan {
                    Some(p) => match &self.llm_error {
                        Some(e) if source == Source::Offline => format!(
                            "{} (the LLM failed: {e}; the offline planner answered)",
                            p.explanation
                        ),
                        _ => p.explanation.clone(),
                    },
                    None => String::new(),
                };
                a.stages = exec.stages;
                a.rows = exec.rows;
                State::Done(Box::new(a))
            }
        }
    }

    /// A plan that found nothing, relaxed: a select over a searchable table with words the
    /// pre-pass could not ground becomes a vector search of those words.
    fn relax(&self, plan: &Plan) -> Option<Plan> {
        let Some(Stage::Select {
            table,
            filters,
            time,
            aggregate: None,
            from_previous: false,
            ..
        }) = plan.stages.first()
        else {
            return None;
        };
        if plan.stages.len() != 1 || self.hints.leftover.is_empty() {
            return None;
        }
        if self.schemas.get(table)?.embedding_fields.is_empty() {
            return None;
        }
        let _ = (filters, time);
        Some(Plan {
            intent: Intent::Vector,
            stages: vec![Stage::Search {
                table: table.clone(),
                text: self.hints.leftover.join(" "),
                k: Some(10),
                min_score: None,
                filters: Vec::new(),
                time: None,
                from_previous: false,
            }],
            returns: plan.returns,
            fallback: None,
            explanation: format!(
                "`{table}` rows closest in meaning to \"{}\"",
                self.hints.leftover.join(" ")
            ),
        })
    }
}

/// Whether two plans ask the same thing: the same intent and the same tables, filters and
/// time ranges in the same stage kinds.
fn agrees(a: &Plan, b: &Plan) -> bool {
    fn shape(p: &Plan) -> Vec<String> {
        p.stages
            .iter()
            .map(|s| match s {
                Stage::Select {
                    table,
                    filters,
                    time,
                    group_by,
                    ..
                } => {
                    let mut f: Vec<String> = filters
                        .iter()
                        .map(|f| format!("{}{:?}{}", f.field, f.op, f.value))
                        .collect();
                    f.sort();
                    format!(
                        "select {table} {f:?} {:?} {group_by:?}",
                        time.as_ref().map(|t| (&t.start, &t.end))
                    )
                }
                Stage::Search { table, filters, .. } => {
                    let mut f: Vec<String> = filters
                        .iter()
                        .map(|f| format!("{}{:?}{}", f.field, f.op, f.value))
                        .collect();
                    f.sort();
                    format!("search {table} {f:?}")
                }
                Stage::Lookup { text, .. } => format!("lookup {}", text.to_lowercase()),
                Stage::Traverse { direction, .. } => format!("traverse {direction:?}"),
                Stage::Path { to, .. } => format!("path {}", to.to_lowercase()),
            })
            .collect()
    }
    a.intent == b.intent && shape(a) == shape(b)
}

/// Sends a plan request to an LLM and returns the model's text (a blocking transport).
pub type SendPlan<'a> = dyn FnMut(&PlanRequest) -> Result<String> + 'a;
/// Embeds query texts (as queries, by their providers).
pub(crate) type EmbedTexts<'a> = dyn FnMut(&[QueryText]) -> Result<Vec<Vec<f32>>> + 'a;

/// Runs a session to its answer with blocking I/O: `llm` answers plan requests (the model's
/// text), query texts are embedded inline by the store.
pub(crate) fn drive(
    mut session: AskSession,
    llm: &mut SendPlan<'_>,
    embed: &mut EmbedTexts<'_>,
) -> Answer {
    // Each step either finishes or consumes one bounded resource (LLM calls, pending texts).
    for _ in 0..32 {
        match session.advance() {
            AskStep::Done(a) => return *a,
            AskStep::Llm(req) => {
                let reply = llm(&req);
                session.llm_answered(reply);
            }
            AskStep::Embed(texts) => {
                let v = embed(&texts);
                session.embedded(&texts, v);
            }
        }
    }
    session.answer(
        Status::Failed,
        None,
        "the question took too many steps".into(),
        0.0,
    )
}

/// The lookup ladder over a tenant (see [`Tenant::lookup_fuzzy`](crate::Tenant::lookup_fuzzy)).
pub(crate) fn lookup(store: &TenantStore, text: &str, options: &LookupOptions) -> Result<Lookup> {
    let schemas: BTreeMap<String, TableSchema> = store
        .schemas(None)?
        .into_iter()
        .map(|s| (s.name.clone(), s))
        .collect();
    for t in &options.tables {
        if !schemas.contains_key(t) {
            return Err(Error::UnknownTable {
                table: t.clone(),
                known: schemas.keys().cloned().collect(),
            });
        }
    }
    if text.len() > 512 {
        return Err(Error::Limit(format!(
            "a lookup text is at most 512 bytes; this one is {}",
            text.len()
        )));
    }
    let mut pending = Vec::new();
    lookup::lookup_fuzzy(
        store,
        &schemas,
        text,
        options,
        &QueryVectors::new(),
        lookup::VectorRung::Inline,
        &mut pending,
    )
}

/// The LLM `Planner::Auto` uses: `REM_LLM` when set and not empty.
pub(crate) fn default_llm() -> Option<String> {
    std::env::var("REM_LLM")
        .ok()
        .filter(|s| !s.trim().is_empty())
}

/// A blocking sender of plan requests to `llm` (`None`: a sender that is never called).
pub(crate) fn transport(llm: Option<&str>) -> Result<Box<SendPlan<'static>>> {
    match llm {
        None => Ok(Box::new(|_| Err(Error::Llm("no LLM is configured".into())))),
        Some(spec) => llm::plan_sender(spec),
    }
}
