//! Confidence from signals, never from a planner's say-so.
//!
//! The base comes from what grounded the plan: the rung of an entity lookup (an exact key is
//! 1.0, a fuzzy name 0.65), the share of the question's content words matched to tables,
//! fields, values and times, and for vector searches the top score and its margin over the
//! next (for a search that fused vectors and BM25, how close the top row is to first place in
//! both rankings). Then: a plan the LLM had to repair × 0.85; an LLM plan that agrees with the offline
//! plan + 0.1, one that disagrees × 0.85; caps — an exact id/key hit at least 0.95, zero rows
//! at most 0.3, an answer from the fallback × 0.8, a vector-only answer at most 0.65 (meaning
//! is never certain), a fuzzy entity at most 0.69.

use super::exec::Execution;
use super::lookup::{LookupStatus, Rung};
use super::plan::{Intent, Plan, Stage};

/// The signals of one answered question.
pub(crate) struct Signals<'a> {
    pub plan: &'a Plan,
    pub execution: &'a Execution,
    /// Share of content words the pre-pass grounded.
    pub grounding: f64,
    /// The LLM's plan needed a repair call.
    pub repaired: bool,
    /// `Some(agree)` when both an LLM plan and an offline plan exist.
    pub agreement: Option<bool>,
}

fn clamp(x: f64) -> f64 {
    x.clamp(0.0, 1.0)
}

/// The best rung any lookup stage answered on.
fn lookup_rung(s: &Signals) -> Option<Rung> {
    s.execution
        .lookup
        .as_ref()
        .and_then(|l| l.candidates.first())
        .map(|c| c.rung)
}

/// Confidence of an executed plan, 0 to 1.
pub(crate) fn confidence(s: &Signals) -> f64 {
    let exec = s.execution;
    let rung = lookup_rung(s);
    let ambiguous = exec
        .lookup
        .as_ref()
        .is_some_and(|l| l.status == LookupStatus::Ambiguous);
    let vector = |base: f64| -> f64 {
        match exec.scores {
            // Reciprocal-rank fusion (k = 60): 2/61 when both rankings put the row first.
            Some((top, _)) if exec.fused => base + 0.3 * clamp(top * 61.0 / 2.0),
            Some((top, second)) => {
                let strength = clamp((top - 0.25) / 0.45);
                let margin = clamp((top - second) / 0.1);
                base + 0.2 * strength + 0.1 * margin
            }
            None => base,
        }
    };
    let mut c = match s.plan.intent {
        Intent::EntityLookup => rung.map_or(0.3, Rung::weight),
        Intent::Graph => rung.map_or(0.3, |r| r.weight() * 0.95),
        Intent::Sql | Intent::Aggregate => 0.5 + 0.45 * s.grounding,
        Intent::Vector => vector(0.3),
        Intent::Hybrid => vector(0.35 + 0.15 * s.grounding),
    };
    if ambiguous {
        c = c.min(0.4);
    }
    if s.repaired {
        c *= 0.85;
    }
    match s.agreement {
        Some(true) => c += 0.1,
        Some(false) => c *= 0.85,
        None => {}
    }
    let ends_in_search = matches!(s.plan.stages.last(), Some(Stage::Search { .. }))
        || exec.used_fallback && matches!(s.plan.fallback, Some(Stage::Search { .. }));
    if ends_in_search && s.plan.intent == Intent::Vector {
        c = c.min(0.65);
    }
    if rung == Some(Rung::Fuzzy) || rung == Some(Rung::Vector) {
        c = c.min(0.69);
    }
    if matches!(rung, Some(Rung::Id | Rung::Key))
        && !ambiguous
        && s.plan.intent == Intent::EntityLookup
    {
        c = c.max(0.95);
    }
    if exec.used_fallback {
        c *= 0.8;
    }
    let zero_count = s.plan.returns == super::plan::Returns::Count
        && exec
            .rows
            .first()
            .and_then(|r| r.get("count"))
            .and_then(serde_json::Value::as_u64)
            == Some(0);
    if exec.rows.is_empty() || zero_count {
        c = c.min(0.3);
    }
    (clamp(c) * 1000.0).round() / 1000.0
}
