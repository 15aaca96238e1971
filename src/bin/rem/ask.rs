//! `rem ask`: a question in plain language, answered by the offline planner or an LLM.

use clap::Args;
use remdb::ask::{AskOptions, Planner};
use remdb::Tenant;

use crate::output::Output;
use crate::CliError;

#[derive(Debug, Args)]
pub(crate) struct AskArgs {
    /// The question; `-` reads it from stdin, `@path` from a file
    #[arg(allow_hyphen_values = true)]
    question: String,
    /// Answer from this table's rows
    #[arg(long, value_name = "T")]
    table: Option<String>,
    /// Plan with the offline planner only (no LLM, even when REM_LLM is set)
    #[arg(long, conflicts_with = "llm")]
    offline: bool,
    /// Plan with this LLM: openai:<model> (OPENAI_API_KEY, OPENAI_BASE_URL for compatible
    /// servers) or anthropic:<model> (ANTHROPIC_API_KEY); default: env REM_LLM, else offline
    #[arg(long, value_name = "SPEC")]
    llm: Option<String>,
    /// Print the plan without running it
    #[arg(long)]
    plan: bool,
    /// Most stages in the plan (1–3)
    #[arg(long, value_name = "N", default_value_t = remdb::ask::MAX_STAGES)]
    max_stages: usize,
}

/// ANSI colour of a confidence: green from 0.7, yellow from 0.4, red below.
fn coloured(confidence: f64) -> String {
    let text = format!("{confidence:.2}");
    if std::env::var_os("NO_COLOR").is_some() {
        return text;
    }
    let code = if confidence >= 0.7 {
        32
    } else if confidence >= 0.4 {
        33
    } else {
        31
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// Runs `rem ask`; the plan's queries run under the database's budget (`--max-rows-examined`...).
pub(crate) fn ask(t: &Tenant, args: AskArgs, out: &mut Output) -> Result<(), CliError> {
    let question = crate::input::text_arg(&args.question)?;
    let planner = match (args.offline, args.llm) {
        (true, _) => Planner::Offline,
        (false, Some(spec)) => Planner::Llm(spec),
        (false, None) => Planner::Auto,
    };
    let options = AskOptions {
        table: args.table,
        max_stages: args.max_stages,
        planner,
        execute: !args.plan,
        now: None,
        budget: remdb::Budget::default(),
    };
    let answer = t.ask(&question, &options)?;
    if out.json() {
        return Ok(out.compact(&answer)?);
    }
    let mut head = format!(
        "{} · {} · confidence {} · planner {}",
        answer.status.as_str(),
        answer.intent.map_or("no plan", |i| i.as_str()),
        coloured(answer.confidence),
        answer.planner
    );
    if answer.planner == "offline" && !args.offline {
        head.push_str(" (no LLM configured: set REM_LLM or --llm)");
    }
    out.line(&head)?;
    if !answer.explanation.is_empty() {
        out.line(&answer.explanation)?;
    }
    if args.plan {
        if let Some(plan) = &answer.plan {
            out.pretty(plan)?;
        }
        return Ok(());
    }
    for (i, s) in answer.stages.iter().enumerate() {
        let params = if s.params.is_empty() {
            String::new()
        } else {
            format!(
                "  -- {}",
                s.params
                    .iter()
                    .map(|p| crate::output::truncate(&p.to_string(), 40))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        out.line(&format!(
            "  {}. {}: {}{params} → {} rows",
            i + 1,
            s.kind,
            s.query,
            s.rows
        ))?;
    }
    if answer.rows.is_empty() {
        return Ok(out.line("no rows")?);
    }
    if answer.rows[0].contains_key("id") {
        return Ok(out.rows_table(&answer.rows)?);
    }
    // Counts and groups: their own columns, in the order the plan selected them.
    let headers: Vec<String> = answer.rows[0].keys().cloned().collect();
    let cells: Vec<Vec<String>> = answer
        .rows
        .iter()
        .map(|r| {
            headers
                .iter()
                .map(|h| crate::output::cell(r.get(h)))
                .collect()
        })
        .collect();
    Ok(out.table(&headers, &cells)?)
}
