//! What each command does.

use std::path::PathBuf;

use remdb::{Database, ListOptions, OpenOptions, TableSchema, Tenant, DEFAULT_TENANT};
use serde_json::{json, Value};

use crate::output::{cell, Output};
use crate::{input, Cli, CliError, Command, SchemaCommand, WalCommand};

const DEFAULT_DB: &str = "./remdb-data";
/// WAL entries read per chunk while exporting.
const EXPORT_CHUNK: usize = 1024;

/// A non-empty environment variable.
fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Opens the database and tenant named by the global options and runs the command.
pub(crate) fn run(cli: Cli) -> Result<(), CliError> {
    let dir = cli
        .db
        .clone()
        .or_else(|| env_var("REM_DB").map(PathBuf::from))
        .unwrap_or_else(|| DEFAULT_DB.into());
    let tenant_name = cli
        .tenant
        .clone()
        .or_else(|| env_var("REM_TENANT"))
        .unwrap_or_else(|| DEFAULT_TENANT.into());
    let lock_timeout = match cli.wait {
        Some(wait) => wait,
        None => match env_var("REM_LOCK_TIMEOUT") {
            Some(v) => crate::parse_seconds(&v)
                .map_err(|e| CliError::Message(format!("REM_LOCK_TIMEOUT: {e}")))?,
            None => DEFAULT_LOCK_TIMEOUT,
        },
    };
    let on_disk = cli.backend != Some(remdb::kv::Backend::Memory);
    let existing = remdb::kv::detect(&dir);
    let read_only = cli.command.only_reads() && on_disk;
    if read_only && existing.is_none() {
        return Err(remdb::Error::NotFound(format!(
            "no database in {} (create one with `rem --db {} init`)",
            dir.display(),
            dir.display()
        ))
        .into());
    }
    let options = OpenOptions {
        backend: cli.backend,
        embedding_mode: cli.embedding_mode,
        default_embedding: cli.embedding.clone(),
        model_dir: cli.model.clone(),
        read_only,
        lock_timeout: Some(lock_timeout),
        max_row_bytes: None, // $REM_MAX_ROW_BYTES
        budget: remdb::Budget {
            max_rows_examined: cli.max_rows_examined,
            max_memory_bytes: cli.max_memory_bytes,
            max_time_ms: cli.max_time_ms,
        },
    };
    if let Command::Serve(args) = cli.command {
        return crate::sync::serve(args, &mut Output::new(cli.json, cli.text));
    }
    if matches!(cli.command, Command::Check) {
        return check(&dir, &options, &mut Output::new(cli.json, cli.text));
    }
    // `embed` needs no database: without one it runs over a throw-away in-memory database.
    let needs_no_db = matches!(cli.command, Command::Embed(_)) && existing.is_none();
    // A write on a missing database creates it; if the command then fails, what it created goes.
    let created = (on_disk && !needs_no_db && existing.is_none())
        .then(|| Created::before_open(&dir, cli.backend));
    let db = Database::open_with(
        &dir,
        &OpenOptions {
            backend: if needs_no_db {
                Some(remdb::kv::Backend::Memory)
            } else {
                options.backend
            },
            ..options
        },
    );
    let db = match db {
        Ok(db) => db,
        Err(e) => {
            if let Some(created) = created {
                created.remove();
            }
            return Err(e.into());
        }
    };
    let result = (|| {
        let tenant = db.tenant(&tenant_name)?;
        let mut out = Output::new(cli.json, cli.text);
        let result = dispatch(cli.command, &db, &tenant, &mut out);
        // Print what was produced even when the command failed half-way (e.g. a read error).
        let flushed = out.flush();
        result?;
        flushed?;
        Ok(())
    })();
    // A command that failed after committing something (a `wal apply` whose later batch was
    // refused) keeps what it committed.
    let wrote_nothing = db.tenants().map_or(true, |t| t.is_empty());
    if let (Err(_), Some(created), true) = (&result, created, wrote_nothing) {
        // Unlinked while this process still holds the lock, so that a process waiting for it
        // opens a new file rather than the removed one.
        created.remove_files();
        drop(db);
        created.remove();
    }
    result
}

/// Seconds `rem` waits for another process to release the database by default.
const DEFAULT_LOCK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// What a write on a missing database is about to create, so a failed command can remove it.
struct Created {
    /// The directory, when the command creates it too.
    dir: Option<PathBuf>,
    /// The database file or directory the backend creates inside it.
    store: PathBuf,
}

impl Created {
    fn before_open(dir: &std::path::Path, backend: Option<remdb::kv::Backend>) -> Self {
        let store = match backend {
            Some(remdb::kv::Backend::RocksDb) => dir.join("rocksdb"),
            _ => dir.join("remdb.redb"),
        };
        Created {
            dir: (!dir.exists()).then(|| dir.to_path_buf()),
            store,
        }
    }

    /// Removes the database file or directory (best effort).
    fn remove_files(&self) {
        if self.store.is_dir() {
            let _ = std::fs::remove_dir_all(&self.store);
        } else {
            let _ = std::fs::remove_file(&self.store);
        }
    }

    /// Removes the database and, when the command created it, the directory if it is empty.
    fn remove(self) {
        self.remove_files();
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// `rem check`: verifies the database and prints what was read, or fails listing the damage.
fn check(dir: &std::path::Path, options: &OpenOptions, out: &mut Output) -> Result<(), CliError> {
    let report = Database::check(dir, options)?;
    if out.json() {
        out.compact(&report)?;
    } else if report.is_ok() {
        out.line(&format!(
            "ok: {} keys, {} bytes read from {} ({})",
            report.keys, report.bytes, report.path, report.backend
        ))?;
    }
    out.flush()?;
    if report.is_ok() {
        return Ok(());
    }
    let mut message = format!(
        "{} is damaged ({} problem{} found):",
        report.path,
        report.problems.len(),
        plural(report.problems.len())
    );
    for problem in &report.problems {
        message.push_str("\n  - ");
        message.push_str(problem);
    }
    Err(remdb::Error::Storage(message).into())
}

fn dispatch(command: Command, db: &Database, t: &Tenant, out: &mut Output) -> Result<(), CliError> {
    match command {
        Command::Init => init(t, out),
        Command::Schema(SchemaCommand::Add { file }) => schema_add(t, &file, out),
        Command::Schema(SchemaCommand::List { category }) => {
            schema_list(&t.schemas(category)?, out)
        }
        Command::Schema(SchemaCommand::Show { name }) => Ok(out.document(&t.schema(&name)?)?),
        Command::Insert { table, data } => insert(t, &table, &data, out),
        Command::Ingest(args) => crate::ingest::run(t, args, out),
        Command::Get {
            id,
            include_deleted,
        } => {
            let row = t
                .get_with(&id, include_deleted)?
                .ok_or_else(|| not_found(&id))?;
            Ok(out.document(&row)?)
        }
        Command::Update { id, data } => {
            let patch = input::json_arg(&data)?;
            Ok(out.document(&t.update(&id, patch)?)?)
        }
        Command::Delete { id, hard } => delete(t, &id, hard, out),
        Command::List {
            table,
            include_deleted,
            limit,
            offset,
        } => {
            let rows = t.list(
                &table,
                &ListOptions {
                    limit,
                    offset,
                    include_deleted,
                },
            )?;
            print_rows(&rows, out)
        }
        Command::Count {
            table,
            include_deleted,
        } => {
            let count = t.count(&table, include_deleted)?;
            if out.json() {
                Ok(out.compact(&json!({"table": table, "count": count}))?)
            } else {
                Ok(out.line(&count.to_string())?)
            }
        }
        Command::Lookup { keys } => {
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            let hits = t.lookup(&keys)?;
            if out.json() {
                let hits: Vec<Value> = hits
                    .into_iter()
                    .map(|(table, row)| json!({"table": table, "row": row}))
                    .collect();
                Ok(out.compact(&hits)?)
            } else {
                let rows: Vec<remdb::Row> = hits
                    .into_iter()
                    .map(|(table, mut row)| {
                        row.insert("_table".into(), Value::String(table));
                        row
                    })
                    .collect();
                print_rows(&rows, out)
            }
        }
        Command::Find {
            table,
            field,
            eq,
            any_of,
            gte,
            gt,
            lte,
            lt,
            include_deleted,
        } => {
            use std::ops::Bound;
            let value = |v: String| serde_json::from_str(&v).unwrap_or(Value::String(v));
            let ranged = gte.is_some() || gt.is_some() || lte.is_some() || lt.is_some();
            let query = match (eq, any_of.is_empty(), ranged) {
                (Some(v), true, false) => remdb::IndexQuery::Eq(value(v)),
                (None, false, false) => remdb::IndexQuery::In(any_of.into_iter().map(value).collect()),
                (None, true, true) => {
                    let lower = gte.map(|v| Bound::Included(value(v))).or(gt.map(|v| Bound::Excluded(value(v)))).unwrap_or(Bound::Unbounded);
                    let upper = lte.map(|v| Bound::Included(value(v))).or(lt.map(|v| Bound::Excluded(value(v)))).unwrap_or(Bound::Unbounded);
                    remdb::IndexQuery::Range { lower, upper }
                }
                _ => {
                    return Err(remdb::Error::InvalidArgument(
                        "give exactly one of --eq V, --in V..., or a range (--gt/--gte and/or --lt/--lte)".into(),
                    )
                    .into())
                }
            };
            let rows: Vec<remdb::Row> = t
                .index_lookup(&table, &field, &query, include_deleted)?
                .into_iter()
                .map(|(_, r)| r)
                .collect();
            print_rows(&rows, out)
        }
        Command::Wal(WalCommand::Export { since, limit }) => wal_export(t, since, limit, out),
        Command::Wal(WalCommand::Apply { file }) => {
            let mut report = remdb::ApplyReport::default();
            let bar = crate::progress::wanted(out.json())
                .then(|| count_lines(&file))
                .flatten()
                .filter(|&n| n >= LARGE_LOG)
                .and_then(|n| crate::progress::items(out.json(), Some(n), "wal apply"));
            let applied = input::wal_batches(&file, remdb::MAX_APPLY_ENTRIES, |batch| {
                let r = t.wal().apply(&batch)?;
                if let Some(bar) = &bar {
                    bar.inc(batch.len() as u64);
                }
                report.applied += r.applied;
                report.skipped += r.skipped;
                report.seq = r.seq;
                Ok(())
            });
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            if let Err(e) = applied {
                if report.applied + report.skipped == 0 {
                    return Err(e);
                }
                // Earlier batches committed: say how far the log got, so a rerun resumes there.
                return Err(CliError::Message(format!(
                    "{}; earlier batches were applied ({} entries applied, {} skipped; wal seq \
                     is now {}) and applying the same log again skips them",
                    e, report.applied, report.skipped, report.seq
                )));
            }
            if out.json() {
                Ok(out.compact(&report)?)
            } else {
                Ok(out.line(&format!(
                    "applied {}, skipped {}; wal seq is now {}",
                    report.applied, report.skipped, report.seq
                ))?)
            }
        }
        Command::Wal(WalCommand::Compact { before }) => {
            t.wal().compact(before)?;
            if out.json() {
                Ok(out.compact(&json!({"compacted_before": before, "seq": t.wal().seq()?}))?)
            } else {
                Ok(out.line(&format!("WAL entries before seq {before} are removed"))?)
            }
        }
        Command::Wal(WalCommand::Seq) => {
            let seq = t.wal().seq()?;
            if out.json() {
                Ok(out.compact(&json!({"seq": seq}))?)
            } else {
                Ok(out.line(&seq.to_string())?)
            }
        }
        Command::Sql { query, params } => sql(t, &query, &params, out),
        Command::Info => info(db, t, out),
        Command::Edge(cmd) => crate::graph::edge(t, cmd, out),
        Command::Edges(args) => crate::graph::edges(t, args, out),
        Command::Traverse(args) => crate::graph::traverse(t, args, out),
        Command::Path(args) => crate::graph::path(t, args, out),
        Command::Cycles(args) => crate::graph::cycles(t, args, out),
        Command::Embed(args) => crate::vectors::embed(t, args, out),
        Command::Search(args) => crate::vectors::search(t, args, out),
        Command::Ask(args) => crate::ask::ask(t, args, out),
        Command::Sync(args) => crate::sync::sync(t, args, out),
        Command::Serve(_) => Err(CliError::Message(
            "`serve` runs before the database opens".into(),
        )),
        Command::Embeddings(cmd) => crate::vectors::embeddings(db, t, cmd, out),
        Command::Check => Err(CliError::Message(
            "`check` runs before the database opens".into(),
        )),
    }
}

pub(crate) fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn not_found(id: &str) -> CliError {
    CliError::Db(remdb::Error::NotFound(format!("no entity with id {id}")))
}

/// The short form of a schema used by `schema list` and `init`.
fn schema_summary(s: &TableSchema) -> Value {
    json!({
        "name": s.name,
        "category": s.category,
        "key_field": s.key_field,
        "indexed_fields": s.indexed_fields,
        "embedding_fields": s.embedding_fields,
        "fields": s.fields,
        "version": s.version,
        "description": s.description,
    })
}

fn schema_list(schemas: &[TableSchema], out: &mut Output) -> Result<(), CliError> {
    if out.json() {
        return Ok(out.compact(&schemas.iter().map(schema_summary).collect::<Vec<_>>())?);
    }
    let headers: Vec<String> = ["name", "category", "key_field", "indexed_fields", "fields"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let rows: Vec<Vec<String>> = schemas
        .iter()
        .map(|s| {
            vec![
                s.name.clone(),
                s.category.as_str().to_string(),
                s.key_field.clone().unwrap_or_default(),
                cell(Some(&Value::String(s.indexed_fields.join(", ")))),
                cell(Some(&Value::String(s.fields.join(", ")))),
            ]
        })
        .collect();
    Ok(out.table(&headers, &rows)?)
}

fn init(t: &Tenant, out: &mut Output) -> Result<(), CliError> {
    let before = t.wal().seq()?;
    let schemas = t.init()?;
    if out.json() {
        let tables: Vec<Value> = schemas.iter().map(schema_summary).collect();
        return Ok(out.compact(
            &json!({"tenant": t.name(), "created": t.wal().seq()? != before, "tables": tables}),
        )?);
    }
    let names: Vec<&str> = schemas.iter().map(|s| s.name.as_str()).collect();
    let verb = if t.wal().seq()? != before {
        "initialized"
    } else {
        "already initialized"
    };
    Ok(out.line(&format!(
        "{verb} tenant `{}`: {}",
        t.name(),
        names.join(", ")
    ))?)
}

fn schema_add(t: &Tenant, file: &str, out: &mut Output) -> Result<(), CliError> {
    let schema = input::json_file(file)?;
    let before = t.wal().seq()?;
    let info = t.register_schema(schema)?;
    if out.json() {
        return Ok(out.compact(&info)?);
    }
    let verb = if t.wal().seq()? == before {
        "unchanged"
    } else {
        "registered"
    };
    let mut line = format!(
        "{verb} table `{}` (category {}",
        info.name,
        info.category.as_str()
    );
    if let Some(key) = &info.key_field {
        line.push_str(&format!(", key field {key}"));
    }
    if !info.indexed_fields.is_empty() {
        line.push_str(&format!(", indexed: {}", info.indexed_fields.join(", ")));
    }
    line.push(')');
    Ok(out.line(&line)?)
}

/// Inserts of at least this many rows show progress on a terminal.
const LARGE_INSERT: usize = 1_000;

/// WAL logs of at least this many entries show progress on a terminal while they are applied.
const LARGE_LOG: u64 = 10_000;

/// The lines of a file (an upper bound on its WAL entries), when it is a file.
fn count_lines(arg: &str) -> Option<u64> {
    use std::io::Read;
    if arg == "-" {
        return None;
    }
    let mut file = std::fs::File::open(arg.strip_prefix('@').unwrap_or(arg)).ok()?;
    let mut buf = vec![0u8; 1 << 20];
    let mut lines = 0u64;
    loop {
        let n = file.read(&mut buf).ok()?;
        if n == 0 {
            return Some(lines);
        }
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
    }
}

fn insert(t: &Tenant, table: &str, json: &str, out: &mut Output) -> Result<(), CliError> {
    match input::json_arg(json)? {
        Value::Array(items) => {
            // One atomic batch: a counting spinner while it is validated, embedded and written.
            let bar = (items.len() >= LARGE_INSERT)
                .then(|| crate::progress::items(out.json(), None, "insert"))
                .flatten();
            if let Some(bar) = &bar {
                bar.set_message(format!("{} rows in one atomic batch", items.len()));
            }
            let ids = t.insert_many(table, items);
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            let ids: Vec<String> = ids?.iter().map(ToString::to_string).collect();
            if out.json() {
                Ok(out.compact(&json!({ "ids": ids }))?)
            } else {
                ids.iter()
                    .try_for_each(|id| out.line(id))
                    .map_err(CliError::from)
            }
        }
        item => {
            let id = t.insert(table, item)?.to_string();
            if out.json() {
                Ok(out.compact(&json!({ "id": id }))?)
            } else {
                Ok(out.line(&id)?)
            }
        }
    }
}

fn delete(t: &Tenant, id: &str, hard: bool, out: &mut Output) -> Result<(), CliError> {
    if hard {
        t.hard_delete(id)?;
    } else {
        t.delete(id)?;
    }
    let id = id.trim();
    if out.json() {
        Ok(out.compact(&json!({"id": id, "deleted": true, "hard": hard}))?)
    } else {
        Ok(out.line(&format!("{} {id}", if hard { "purged" } else { "deleted" }))?)
    }
}

fn wal_export(
    t: &Tenant,
    since: u64,
    limit: Option<usize>,
    out: &mut Output,
) -> Result<(), CliError> {
    use std::io::Write;
    let mut since = since;
    let mut remaining = limit.unwrap_or(usize::MAX);
    while remaining > 0 {
        let chunk = t.wal().entries(since, remaining.min(EXPORT_CHUNK))?;
        let Some(last) = chunk.last() else { break };
        since = last.seq;
        remaining = remaining.saturating_sub(chunk.len());
        let w = out.writer();
        for entry in &chunk {
            serde_json::to_writer(&mut *w, entry).map_err(std::io::Error::from)?;
            w.write_all(b"\n")?;
        }
    }
    Ok(())
}

fn info(db: &Database, t: &Tenant, out: &mut Output) -> Result<(), CliError> {
    let path = db
        .path()
        .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf()));
    let tenants = db.tenants()?;
    let seq = t.wal().seq()?;
    let mut tables = Vec::new();
    for s in t.schemas(None)? {
        let live = t.count(&s.name, false)?;
        let total = t.count(&s.name, true)?;
        tables.push((s.name, s.category, live, total));
    }
    if out.json() {
        let tables: Vec<Value> = tables
            .iter()
            .map(|(name, category, live, total)| json!({"name": name, "category": category, "live": live, "total": total}))
            .collect();
        return Ok(out.compact(&json!({
            "backend": db.backend_name(),
            "path": path.as_ref().map(|p| p.display().to_string()),
            "tenant": t.name(),
            "tenants": tenants,
            "wal_seq": seq,
            "tables": tables,
        }))?);
    }
    let path = path.map_or_else(|| "(in memory)".to_string(), |p| p.display().to_string());
    let tenants = if tenants.is_empty() {
        "(none)".to_string()
    } else {
        tenants.join(", ")
    };
    out.line(&format!("backend  {}", db.backend_name()))?;
    out.line(&format!("path     {path}"))?;
    out.line(&format!("tenant   {}", t.name()))?;
    out.line(&format!("tenants  {tenants}"))?;
    out.line(&format!("wal seq  {seq}"))?;
    out.line("")?;
    if tables.is_empty() {
        return Ok(out.line("no tables; run `rem init` to create the built-in tables")?);
    }
    let headers: Vec<String> = ["table", "category", "live", "total"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let rows: Vec<Vec<String>> = tables
        .into_iter()
        .map(|(name, category, live, total)| {
            vec![
                name,
                category.as_str().to_string(),
                live.to_string(),
                total.to_string(),
            ]
        })
        .collect();
    Ok(out.table(&headers, &rows)?)
}

/// One `-p` value: JSON when it reads as JSON, else the text itself. An integer too large for
/// 64 bits is refused: JSON would read it as the nearest float, a different number.
fn sql_param(position: usize, text: &str) -> Result<Value, CliError> {
    let value = serde_json::from_str(text).unwrap_or(Value::String(text.to_string()));
    let digits = text.trim().strip_prefix('-').unwrap_or(text.trim());
    if value.is_f64() && !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(remdb::Error::InvalidArgument(format!(
            "parameter {position}: integer {} does not fit in 64 bits; pass {}.0 for a floating-point number or quote it as text",
            text.trim(),
            text.trim()
        ))
        .into());
    }
    Ok(value)
}

fn sql(t: &Tenant, query: &str, params: &[String], out: &mut Output) -> Result<(), CliError> {
    let query = input::text_arg(query)?;
    let params = params
        .iter()
        .enumerate()
        .map(|(i, v)| sql_param(i + 1, v))
        .collect::<Result<Vec<Value>, CliError>>()?;
    let result = t.sql(&query, &params)?;
    if out.json() {
        return Ok(out.compact(&result)?);
    }
    if result.columns == ["plan"]
        && query
            .trim_start()
            .to_ascii_uppercase()
            .starts_with("EXPLAIN")
    {
        for row in &result.rows {
            out.line(row[0].as_str().unwrap_or_default())?;
        }
        return Ok(());
    }
    if result.is_empty() {
        return Ok(out.line(&format!(
            "(no rows; columns: {})",
            result.columns.join(", ")
        ))?);
    }
    let cells: Vec<Vec<String>> = result
        .rows
        .iter()
        .map(|r| r.iter().map(|v| cell(Some(v))).collect())
        .collect();
    out.table(&result.columns, &cells)?;
    Ok(out.line(&format!("({} row{})", result.len(), plural(result.len())))?)
}

/// Rows as a JSON array, or as a table with a row count.
fn print_rows(rows: &[remdb::Row], out: &mut Output) -> Result<(), CliError> {
    if out.json() {
        Ok(out.compact(&rows)?)
    } else if rows.is_empty() {
        Ok(out.line("(no rows)")?)
    } else {
        out.rows_table(rows)?;
        Ok(out.line(&format!("({} row{})", rows.len(), plural(rows.len())))?)
    }
}
