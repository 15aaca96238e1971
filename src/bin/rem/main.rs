//! `rem`: the remdb command line. Schemas, entities, the sync WAL and database info, over a
//! database directory (redb by default) and one tenant per invocation.

mod ask;
mod commands;
mod graph;
mod ingest;
mod input;
mod output;
mod progress;
mod sync;
mod vectors;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use remdb::kv::Backend;
use remdb::Category;

/// remdb command line: JSON entities in schema-checked tables, with a write-ahead log for sync.
#[derive(Debug, Parser)]
#[command(name = "rem", version, propagate_version = true)]
pub(crate) struct Cli {
    /// Database directory (env REM_DB; default ./remdb-data)
    #[arg(long, global = true, value_name = "DIR")]
    pub db: Option<PathBuf>,

    /// Tenant to work in (env REM_TENANT; default `default`)
    #[arg(long, global = true, value_name = "NAME")]
    pub tenant: Option<String>,

    /// Storage backend: redb, rocksdb or memory (default: the one in DIR, else redb)
    #[arg(long, global = true, value_name = "BACKEND", value_parser = parse_backend)]
    pub backend: Option<Backend>,

    /// Directory of the local embedding model (env REM_MODEL_DIR; default ./models/<model>)
    #[arg(long, global = true, value_name = "DIR")]
    pub model: Option<PathBuf>,

    /// Default embedding provider, e.g. local:all-MiniLM-L6-v2 or openai:text-embedding-3-small
    /// (env REM_DEFAULT_EMBEDDING)
    #[arg(long, global = true, value_name = "SPEC")]
    pub embedding: Option<String>,

    /// When inserts are embedded: inline, background or off (env REM_EMBEDDING_MODE; default inline)
    #[arg(long, global = true, value_name = "MODE", value_parser = parse_mode)]
    pub embedding_mode: Option<remdb::vector::EmbedMode>,

    /// Print JSON (the default when stdout is not a terminal)
    #[arg(long, global = true, conflicts_with = "text")]
    pub json: bool,

    /// Print readable text even when stdout is not a terminal
    #[arg(long, global = true)]
    pub text: bool,

    /// Seconds to wait for another process to release the database before giving up
    /// (env REM_LOCK_TIMEOUT; default 5; 0 fails at once)
    #[arg(long, global = true, value_name = "SECONDS", value_parser = parse_seconds)]
    pub wait: Option<std::time::Duration>,

    /// Most rows (graph walks: edges) a query may examine before it fails with a LIMIT error
    /// (`sql`, `traverse`, `path`, `cycles`; default 1,000,000,000)
    #[arg(long, global = true, value_name = "N")]
    pub max_rows_examined: Option<u64>,

    /// Most bytes (an estimate) a query may hold at once: sorted and grouped rows, join
    /// tables, paths (default 1 GiB)
    #[arg(long, global = true, value_name = "BYTES")]
    pub max_memory_bytes: Option<u64>,

    /// Most milliseconds a query or graph walk may run (default 60,000)
    #[arg(long, global = true, value_name = "MS")]
    pub max_time_ms: Option<u64>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create the built-in tables (resources, agents, sessions, messages, moments); idempotent
    Init,
    /// Register, list and show table schemas
    #[command(subcommand)]
    Schema(SchemaCommand),
    /// Insert an entity (a JSON object) or many (a JSON array, in one atomic batch); prints the ids
    Insert {
        /// Table name
        table: String,
        /// JSON text, `-` to read it from stdin, or `@path` to read it from a file
        #[arg(value_name = "JSON", allow_hyphen_values = true)]
        data: String,
    },
    /// Print the live entity with this id
    Get {
        /// Entity id (UUID)
        id: String,
        /// Also find soft-deleted entities
        #[arg(long)]
        include_deleted: bool,
    },
    /// Merge a JSON patch (RFC 7396) into an entity and print the result
    Update {
        /// Entity id (UUID)
        id: String,
        /// JSON object, `-` to read it from stdin, or `@path` to read it from a file
        #[arg(value_name = "JSON", allow_hyphen_values = true)]
        data: String,
    },
    /// Soft-delete an entity (or remove it for good with --hard)
    Delete {
        /// Entity id (UUID)
        id: String,
        /// Remove the row and its index entries instead of marking it deleted
        #[arg(long)]
        hard: bool,
    },
    /// List the rows of a table in id order
    List {
        /// Table name
        table: String,
        /// Include soft-deleted rows
        #[arg(long)]
        include_deleted: bool,
        /// Most rows printed
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
        /// Rows skipped first
        #[arg(long, value_name = "N", default_value_t = 0)]
        offset: usize,
    },
    /// Count the rows of a table
    Count {
        /// Table name
        table: String,
        /// Include soft-deleted rows
        #[arg(long)]
        include_deleted: bool,
    },
    /// Find entities by natural key (key field, uri, key or name) across every table
    Lookup {
        /// One or more keys
        #[arg(required = true)]
        keys: Vec<String>,
    },
    /// Rows of TABLE whose indexed FIELD matches, using the secondary index
    Find {
        /// Table name
        table: String,
        /// Indexed field (dotted paths allowed)
        field: String,
        /// Equal to this value (JSON; bare words are strings)
        #[arg(long, value_name = "V", allow_hyphen_values = true)]
        eq: Option<String>,
        /// Equal to any of these values (JSON each; bare words are strings)
        #[arg(long = "in", value_name = "V", num_args = 1.., allow_hyphen_values = true)]
        any_of: Vec<String>,
        /// Greater than or equal to
        #[arg(long, value_name = "V", allow_hyphen_values = true)]
        gte: Option<String>,
        /// Greater than
        #[arg(
            long,
            value_name = "V",
            allow_hyphen_values = true,
            conflicts_with = "gte"
        )]
        gt: Option<String>,
        /// Less than or equal to
        #[arg(long, value_name = "V", allow_hyphen_values = true)]
        lte: Option<String>,
        /// Less than
        #[arg(
            long,
            value_name = "V",
            allow_hyphen_values = true,
            conflicts_with = "lte"
        )]
        lt: Option<String>,
        /// Include soft-deleted rows
        #[arg(long)]
        include_deleted: bool,
    },
    /// Run one SQL statement (SELECT, EXPLAIN, LOOKUP); rows as a table, or JSON objects in column order
    Sql {
        /// The statement; `-` reads it from stdin, `@path` from a file
        #[arg(value_name = "QUERY", allow_hyphen_values = true)]
        query: String,
        /// Value of the next parameter ($1, $2, ... or ?), as JSON (bare words are strings); repeatable
        #[arg(
            short = 'p',
            long = "param",
            value_name = "V",
            allow_hyphen_values = true
        )]
        params: Vec<String>,
    },
    /// Export, apply and compact the write-ahead log
    #[command(subcommand)]
    Wal(WalCommand),
    /// Backend, path, tenants, WAL position and tables with their row counts
    Info,
    /// Add or remove an edge between two entities
    #[command(subcommand)]
    Edge(graph::EdgeCommand),
    /// List the edges of an entity
    Edges(graph::EdgesArgs),
    /// Walk the graph from an entity (BFS or DFS) and print the paths found
    Traverse(graph::TraverseArgs),
    /// Shortest path between two entities (or all paths with --all, their number with --count)
    Path(graph::PathArgs),
    /// Cycles through an entity, or found by a depth-first search over a table (or every table)
    Cycles(graph::CyclesArgs),
    /// Print the embedding of each text as a JSON array of numbers
    Embed(vectors::EmbedArgs),
    /// Ingest files and folders: documents (Markdown, HTML, PDF, text, code) become chunks of
    /// `resources` (or --table), CSV/JSON/JSONL files rows of --table; unchanged files write
    /// nothing
    Ingest(ingest::IngestArgs),
    /// Rows of TABLE most similar to a text (or vector), best first, with `_score`
    Search(vectors::SearchArgs),
    /// Answer a question in plain language: a read-only plan (offline planner, or an LLM with
    /// --llm / REM_LLM), its confidence, and the rows
    Ask(ask::AskArgs),
    /// Sync this tenant with a hub (push local changes, pull everyone else's); `status`,
    /// `conflicts` and `rejected` show where it stands
    Sync(sync::SyncArgs),
    /// Run a sync hub (`rem serve --data DIR --listen ADDR`), or print a token for one of its
    /// tenants (`rem serve token --tenant T`)
    Serve(sync::ServeArgs),
    /// Embedding queue and vector indexes: status, flush, optimize
    #[command(subcommand)]
    Embeddings(vectors::EmbeddingsCommand),
    /// Verify the database without writing to it (the backend's integrity check, a read of every
    /// key, a decode of every row); exits 1 and lists the damage when there is any
    Check,
}

impl Command {
    /// Commands that never write: they open the database read-only and must not create a
    /// database where there is none.
    pub(crate) fn only_reads(&self) -> bool {
        matches!(
            self,
            Command::Check
                | Command::Get { .. }
                | Command::List { .. }
                | Command::Count { .. }
                | Command::Lookup { .. }
                | Command::Find { .. }
                | Command::Sql { .. }
                | Command::Info
                | Command::Edges(_)
                | Command::Traverse(_)
                | Command::Path(_)
                | Command::Cycles(_)
                | Command::Search(_)
                | Command::Ask(_)
                | Command::Ingest(ingest::IngestArgs { dry_run: true, .. })
                | Command::Embeddings(vectors::EmbeddingsCommand::Status)
                | Command::Schema(SchemaCommand::List { .. } | SchemaCommand::Show { .. })
                | Command::Wal(WalCommand::Export { .. } | WalCommand::Seq)
        ) || matches!(self, Command::Sync(args) if args.only_reads())
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum SchemaCommand {
    /// Register a JSON Schema file as a table (or replace the table's schema)
    Add {
        /// Schema file (`-` for stdin)
        file: String,
    },
    /// List the tables of the tenant
    List {
        /// Only tables of this category: system, agents, public or user
        #[arg(long, value_name = "C", value_parser = parse_category)]
        category: Option<Category>,
    },
    /// Print a table's schema and REM extensions
    Show {
        /// Table name
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum WalCommand {
    /// Print WAL entries as JSON lines (always JSON, one entry per line)
    Export {
        /// Only entries after this sequence number
        #[arg(long, value_name = "SEQ", default_value_t = 0)]
        since: u64,
        /// Most entries printed
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
    },
    /// Apply WAL entries (JSON lines, streamed) exported from another database, in atomic batches
    /// of up to 10,000 entries; after a failure, applying the same log again resumes where it stopped
    Apply {
        /// File of JSON lines, or `-` for stdin
        #[arg(allow_hyphen_values = true)]
        file: String,
    },
    /// Drop WAL entries with a sequence number below SEQ
    Compact {
        /// First sequence number kept
        #[arg(long, value_name = "SEQ")]
        before: u64,
    },
    /// Print the sequence number of the last WAL entry
    Seq,
}

fn parse_backend(s: &str) -> Result<Backend, String> {
    s.parse::<Backend>().map_err(|e| e.to_string())
}

fn parse_mode(s: &str) -> Result<remdb::vector::EmbedMode, String> {
    s.parse().map_err(|e: remdb::Error| e.to_string())
}

/// A lock timeout in seconds (fractions allowed).
pub(crate) fn parse_seconds(s: &str) -> Result<std::time::Duration, String> {
    let secs: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    std::time::Duration::try_from_secs_f64(secs)
        .map_err(|_| format!("`{s}` is not a number of seconds between 0 and about 10^19"))
}

fn parse_category(s: &str) -> Result<Category, String> {
    s.parse::<Category>().map_err(|e| e.to_string())
}

/// Why a command failed.
#[derive(Debug)]
pub(crate) enum CliError {
    /// The database refused or failed.
    Db(remdb::Error),
    /// Writing the output failed.
    Output(std::io::Error),
    /// Anything else (reading input, bad input JSON), already phrased for the user.
    Message(String),
}

impl From<remdb::Error> for CliError {
    fn from(e: remdb::Error) -> Self {
        CliError::Db(e)
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::Output(e)
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Db(remdb::Error::Validation { table, issues }) => {
                write!(f, "validation failed for table `{table}`:")?;
                for issue in issues {
                    write!(f, "\n  - {issue}")?;
                }
                Ok(())
            }
            CliError::Db(e) => write!(f, "{e}"),
            CliError::Output(e) => write!(f, "cannot write output: {e}"),
            CliError::Message(m) => f.write_str(m),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`rem wal export | head`): nothing left to say.
        Err(CliError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr().lock(), "error: {e}");
            ExitCode::from(1)
        }
    }
}
