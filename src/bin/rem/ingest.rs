//! `rem ingest`: files and folders into chunks (or, for CSV/JSON/JSONL, rows).

use std::path::PathBuf;

use clap::Args;
use remdb::ingest::walk::{walk, FoundFile, WalkOptions};
use remdb::ingest::{IngestOptions, IngestReport, DEFAULT_CHUNK_TOKENS, DEFAULT_OVERLAP};
use remdb::Tenant;

use crate::output::Output;
use crate::{progress, CliError};

#[derive(Debug, Args)]
pub(crate) struct IngestArgs {
    /// Files and folders (folders recursively, honouring .gitignore and skipping hidden files)
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Table the chunks go to (default resources); CSV, JSON and JSON Lines files become rows
    /// of this table and are skipped when it is not given
    #[arg(long, value_name = "T")]
    pub table: Option<String>,
    /// Soft-delete the chunks of files ingested before from these folders that are gone (or no
    /// longer included)
    #[arg(long)]
    pub prune: bool,
    /// Only files matching this glob (relative to the folder, gitignore syntax); repeatable
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,
    /// No files matching this glob; repeatable
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Chunk size in tokens of the embedding model (4 characters a token when its tokenizer
    /// is not loaded)
    #[arg(long, value_name = "N", default_value_t = DEFAULT_CHUNK_TOKENS)]
    pub chunk_tokens: usize,
    /// Overlap between consecutive chunks, in tokens
    #[arg(long, value_name = "N", default_value_t = DEFAULT_OVERLAP)]
    pub overlap: usize,
    /// Report what would be written; write nothing
    #[arg(long)]
    pub dry_run: bool,
}

pub(crate) fn run(t: &Tenant, args: IngestArgs, out: &mut Output) -> Result<(), CliError> {
    let options = IngestOptions {
        table: args.table.clone(),
        chunk_tokens: args.chunk_tokens,
        overlap: args.overlap,
        dry_run: args.dry_run,
        ..IngestOptions::default()
    };
    let walk_options = WalkOptions {
        include: args.include.clone(),
        exclude: args.exclude.clone(),
    };
    // Every path is walked before anything is written: a missing path writes nothing.
    let mut files: Vec<FoundFile> = Vec::new();
    let mut roots: Vec<(String, bool)> = Vec::new();
    for path in &args.paths {
        let found = walk(path, &walk_options)?;
        let root = std::fs::canonicalize(path)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        roots.push((root, path.is_dir()));
        files.extend(found);
    }
    let mut run = t.ingest_run(&options)?;
    let total: u64 = files.iter().map(|f| f.size).sum();
    let bar = progress::bytes(out.json(), total, "ingest");
    for file in &files {
        if let Some(bar) = &bar {
            bar.set_message(file.uri.clone());
        }
        match file.read(options.max_bytes) {
            Ok(doc) => run.add(doc)?,
            Err(e) => run.skip_unreadable(&file.uri, e.to_string()),
        }
        if let Some(bar) = &bar {
            bar.inc(file.size);
        }
    }
    if args.prune {
        for (root, is_dir) in &roots {
            if !is_dir {
                continue;
            }
            let keep = files
                .iter()
                .filter(|f| &f.root == root)
                .map(|f| f.uri.clone())
                .collect();
            run.prune(root, &keep)?;
        }
    }
    let report = run.finish()?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if out.json() {
        out.compact(&report)?;
    } else {
        summary(&report, out)?;
    }
    match report.rejected.len() {
        0 => Ok(()),
        n => Err(CliError::Message(format!(
            "{n} document{} rejected; nothing of {} was written",
            if n == 1 { " was" } else { "s were" },
            if n == 1 { "it" } else { "them" }
        ))),
    }
}

/// The readable summary: counts, then every skipped, rejected and lossily decoded file.
fn summary(r: &IngestReport, out: &mut Output) -> Result<(), CliError> {
    let verb = if r.dry_run {
        "would ingest"
    } else {
        "ingested"
    };
    out.line(&format!(
        "{verb} {} of {} document{} ({} chunks, {} rows {}), {} unchanged, {} rows deleted",
        r.ingested,
        r.documents,
        crate::commands::plural(r.documents),
        r.chunks,
        r.written,
        if r.dry_run { "to write" } else { "written" },
        r.unchanged,
        r.deleted
    ))?;
    if !r.skipped.is_empty() {
        out.line(&format!("skipped {}:", r.skipped.len()))?;
        for s in &r.skipped {
            out.line(&format!("  {}: {}", s.uri, s.reason))?;
        }
    }
    if !r.rejected.is_empty() {
        out.line(&format!("rejected {}:", r.rejected.len()))?;
        for s in &r.rejected {
            out.line(&format!("  {}: {}", s.uri, s.message))?;
        }
    }
    if !r.warnings.is_empty() {
        out.line(&format!("warnings {}:", r.warnings.len()))?;
        for w in &r.warnings {
            out.line(&format!("  {}: {}", w.uri, w.message))?;
        }
    }
    Ok(())
}
