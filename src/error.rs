//! The one error type of remdb, with a stable machine-readable [`Error::code`].

use std::fmt;

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One failed JSON Schema check: where in the instance and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ValidationIssue {
    /// JSON pointer into the validated object (`""` is the object itself, `/contact/email` a nested field).
    pub pointer: String,
    /// Human-readable reason from the validator.
    pub reason: String,
}

impl fmt::Display for ValidationIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = if self.pointer.is_empty() {
            "/"
        } else {
            &self.pointer
        };
        write!(f, "at {at}: {}", self.reason)
    }
}

/// Everything that can go wrong in remdb. A failed operation writes nothing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A table name that has no registered schema in this tenant.
    #[error("unknown table `{table}`; known tables: {}", known_list(.known))]
    UnknownTable {
        /// The name that was asked for.
        table: String,
        /// The tables this tenant does have, sorted.
        known: Vec<String>,
    },
    /// The data does not satisfy the table's JSON Schema (or the store's own rules).
    #[error("validation failed for table `{table}`: {}", issues_list(.issues))]
    Validation {
        /// Table whose schema rejected the data.
        table: String,
        /// Every failed check, in validator order.
        issues: Vec<ValidationIssue>,
    },
    /// A JSON Schema that cannot be registered.
    #[error("invalid schema: {0}")]
    InvalidSchema(String),
    /// No live row (or schema, or WAL entry) with that identity.
    #[error("not found: {0}")]
    NotFound(String),
    /// A malformed argument: bad id, bad tenant name, non-object entity, system field in user data...
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// WAL entries that cannot be applied in order: a gap, a divergent history or compacted entries.
    #[error("wal: {0}")]
    Wal(String),
    /// The storage backend failed (I/O, corruption, locked file).
    #[error("storage: {0}")]
    Storage(String),
    /// A query that does not parse, or more or fewer than one statement.
    #[error("SQL syntax: {0}")]
    SqlSyntax(String),
    /// A query using a construct remdb does not support; the message names the construct.
    #[error("SQL not supported: {0}")]
    SqlUnsupported(String),
    /// A query naming a column its table does not have.
    #[error("unknown column `{column}` in `{table}`; its columns: {}", .columns.join(", "))]
    UnknownColumn {
        /// The column as written.
        column: String,
        /// The table (or tables) searched.
        table: String,
        /// The columns the table does have.
        columns: Vec<String>,
    },
    /// A value of the wrong type in a query (`'a' + 1`, a non-integer LIMIT, division by zero).
    #[error("SQL type error: {0}")]
    SqlType(String),
    /// An embedder that cannot be loaded or run: missing or corrupt model files, a bad provider
    /// spec, an inference failure.
    #[error("embedding: {0}")]
    Embedding(String),
    /// A language model (the LLM planner of `ask`) that cannot be reached or whose answer is
    /// unusable: a bad spec or configuration, a network error or timeout, an HTTP error status,
    /// a refusal, a truncated or malformed answer. The message never contains an API key.
    #[error("LLM: {0}")]
    Llm(String),
    /// A limit was reached: a value nested too deeply, a row too large, a batch too long. The
    /// message names the limit, its value and how to change it when it can be changed.
    #[error("limit: {0}")]
    Limit(String),
    /// Sync with a hub failed: the hub cannot be reached or answered with an error, refused the
    /// token, or sent something the device cannot use. Nothing was lost: the outbox stays.
    #[error("sync: {0}")]
    Sync(String),
}

fn known_list(known: &[String]) -> String {
    if known.is_empty() {
        "(none; run `init` to create the built-in tables)".to_string()
    } else {
        known.join(", ")
    }
}

fn issues_list(issues: &[ValidationIssue]) -> String {
    issues
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    /// Stable code for programs: `UNKNOWN_TABLE`, `VALIDATION`, `INVALID_SCHEMA`, `NOT_FOUND`,
    /// `INVALID_ARGUMENT`, `WAL`, `STORAGE`, `SQL_SYNTAX`, `SQL_UNSUPPORTED`, `UNKNOWN_COLUMN`,
    /// `SQL_TYPE`, `EMBEDDING`, `LLM`, `LIMIT`, `SYNC`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::UnknownTable { .. } => "UNKNOWN_TABLE",
            Error::Validation { .. } => "VALIDATION",
            Error::InvalidSchema(_) => "INVALID_SCHEMA",
            Error::NotFound(_) => "NOT_FOUND",
            Error::InvalidArgument(_) => "INVALID_ARGUMENT",
            Error::Wal(_) => "WAL",
            Error::Storage(_) => "STORAGE",
            Error::SqlSyntax(_) => "SQL_SYNTAX",
            Error::SqlUnsupported(_) => "SQL_UNSUPPORTED",
            Error::UnknownColumn { .. } => "UNKNOWN_COLUMN",
            Error::SqlType(_) => "SQL_TYPE",
            Error::Embedding(_) => "EMBEDDING",
            Error::Llm(_) => "LLM",
            Error::Limit(_) => "LIMIT",
            Error::Sync(_) => "SYNC",
        }
    }

    /// Shorthand for a storage error from anything displayable.
    pub(crate) fn storage(err: impl fmt::Display) -> Self {
        Error::Storage(err.to_string())
    }

    /// A validation error with a single issue.
    pub(crate) fn validation(
        table: &str,
        pointer: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Error::Validation {
            table: table.to_string(),
            issues: vec![ValidationIssue {
                pointer: pointer.into(),
                reason: reason.into(),
            }],
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(err: serde_json::Error) -> Self {
        Error::InvalidArgument(format!("invalid JSON: {err}"))
    }
}
