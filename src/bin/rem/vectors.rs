//! Embedding and vector commands: `embed`, `search`, `embeddings status|flush|optimize`.

use clap::{Args, Subcommand};
use remdb::vector::{SearchOptions, SearchQuery};
use remdb::{Database, Tenant};
use serde_json::{json, Value};

use crate::output::{cell, truncate, Output};
use crate::{input, CliError};

#[derive(Debug, Args)]
pub(crate) struct EmbedArgs {
    /// Texts to embed (`-` reads one text from stdin, `@path` from a file); options may come
    /// before, between or after them; put `--` before texts that start with `-`
    #[arg(required = true)]
    texts: Vec<String>,
    /// Provider spec (default: the database's default, e.g. local:all-MiniLM-L6-v2)
    #[arg(long, value_name = "SPEC")]
    provider: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct SearchArgs {
    /// Table to search
    table: String,
    /// Query text (or, with --vector, a JSON array of numbers)
    #[arg(allow_hyphen_values = true)]
    query: String,
    /// Rows returned at most
    #[arg(long, short = 'k', value_name = "N", default_value_t = 10)]
    top_k: usize,
    /// Only rows scoring at least X (higher is better)
    #[arg(long, value_name = "X", allow_hyphen_values = true)]
    min_score: Option<f32>,
    /// Search the table's alternative provider (embedding_provider_alt)
    #[arg(long)]
    alt: bool,
    /// Only this embedded field (default: all, best score per row)
    #[arg(long, value_name = "F")]
    field: Option<String>,
    /// Provider whose vectors to search
    #[arg(long, value_name = "SPEC", conflicts_with = "alt")]
    provider: Option<String>,
    /// HNSW search breadth (default 100)
    #[arg(long, value_name = "N")]
    ef: Option<usize>,
    /// QUERY is a JSON vector, not text
    #[arg(long)]
    vector: bool,
    /// Include soft-deleted rows
    #[arg(long)]
    include_deleted: bool,
    /// Ranking: vector (similarity), keyword (BM25 over the table's fulltext_fields) or hybrid
    #[arg(long, value_name = "MODE", default_value = "vector")]
    mode: String,
    /// Hybrid mode: weigh vector vs keyword scores (0-1) instead of reciprocal-rank fusion
    #[arg(long, value_name = "A")]
    alpha: Option<f32>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum EmbeddingsCommand {
    /// Mode, default provider, provider readiness, queued work and vector indexes
    Status,
    /// Compute all queued embedding work now and run due index maintenance
    Flush,
    /// Build each vector index (of TABLE, or all) into one HNSW segment, dropping dead entries
    Optimize {
        /// Only this table
        table: Option<String>,
    },
}

pub(crate) fn embed(t: &Tenant, args: EmbedArgs, out: &mut Output) -> Result<(), CliError> {
    let texts: Vec<String> = args
        .texts
        .iter()
        .map(|a| input::text_arg(a))
        .collect::<Result<_, _>>()?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let vectors = t.embed(&refs, args.provider.as_deref())?;
    if vectors.len() == 1 {
        return Ok(out.compact(&vectors[0])?);
    }
    Ok(out.compact(&vectors)?)
}

pub(crate) fn search(t: &Tenant, args: SearchArgs, out: &mut Output) -> Result<(), CliError> {
    let query = if args.vector {
        let v: Vec<f32> = serde_json::from_value(input::json_arg(&args.query)?).map_err(|e| {
            CliError::Message(format!("--vector expects a JSON array of numbers: {e}"))
        })?;
        SearchQuery::Vector(v)
    } else {
        SearchQuery::Text(input::text_arg(&args.query)?)
    };
    let options = SearchOptions {
        top_k: args.top_k,
        mode: args.mode.parse()?,
        alpha: args.alpha,
        min_score: args.min_score,
        field: args.field,
        provider: args.provider,
        alt: args.alt,
        ef: args.ef,
        filter: None,
        include_deleted: args.include_deleted,
    };
    if out.json() {
        return Ok(out.line(&t.search_json(&args.table, query, &options)?)?);
    }
    let hits = t.search(&args.table, query, &options)?;
    if hits.is_empty() {
        return Ok(out.line("no rows")?);
    }
    let headers: Vec<String> = ["_score", "id", "text"].map(String::from).to_vec();
    let rows: Vec<Vec<String>> = hits
        .iter()
        .map(|h| {
            let text = ["name", "title", "content", "description", "query"]
                .iter()
                .find_map(|f| h.row.get(*f).filter(|v| !v.is_null()))
                .map(|v| truncate(&cell(Some(v)), 60))
                .unwrap_or_default();
            vec![format!("{:.4}", h.score), h.id.to_string(), text]
        })
        .collect();
    Ok(out.table(&headers, &rows)?)
}

pub(crate) fn embeddings(
    db: &Database,
    t: &Tenant,
    cmd: EmbeddingsCommand,
    out: &mut Output,
) -> Result<(), CliError> {
    match cmd {
        EmbeddingsCommand::Status => {
            let settings = db.embed_settings();
            if let Some(p) = &settings.default_provider {
                // Report readiness of the default provider even before first use.
                let _ = db.embedders().get(p);
            }
            let (queued, replica) = t.embeddings().queued()?;
            let mut indexes = Vec::new();
            for table in t.table_names()? {
                for (name, meta) in t.vectors().indexes(&table)? {
                    indexes.push(json!({
                        "table": name.table, "field": name.field, "provider": name.provider,
                        "metric": meta.metric.as_str(), "dims": meta.dims, "vectors": meta.count,
                        "pending": meta.pending, "segments": meta.segments.len(),
                        "dead": meta.segments.iter().map(|s| s.dead).sum::<u64>(),
                    }));
                }
            }
            let status = json!({
                "mode": settings.mode,
                "default_provider": settings.default_provider,
                "providers": db.embedders().status(),
                "queued_rows": queued,
                "replica_queued_rows": replica,
                "indexes": indexes,
            });
            Ok(out.document(&status)?)
        }
        EmbeddingsCommand::Flush => {
            let report = db.flush()?;
            if out.json() {
                return Ok(out.compact(&report)?);
            }
            Ok(out.line(&format!(
                "embedded {}, dropped {}, {} row{} still queued",
                report.embedded,
                report.dropped,
                report.remaining,
                crate::commands::plural(report.remaining as usize)
            ))?)
        }
        EmbeddingsCommand::Optimize { table } => {
            let reports = t.vectors().optimize(table.as_deref(), true)?;
            let rows: Vec<Value> = reports
                .iter()
                .map(|(i, r)| {
                    json!({"table": i.table, "field": i.field, "provider": i.provider,
                    "sealed": r.sealed, "merged": r.merged, "segments": r.segments})
                })
                .collect();
            Ok(out.document(&rows)?)
        }
    }
}
