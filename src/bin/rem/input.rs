//! Reading command input: JSON given inline, on stdin (`-`) or in a file (`@path`), and WAL
//! entries as JSON lines.

use std::io::Read;

use remdb::WalEntry;
use serde_json::Value;

use crate::CliError;

/// Where some input came from, for error messages.
enum Source {
    Argument,
    Stdin,
    File(String),
}

impl Source {
    fn describe(&self) -> String {
        match self {
            Source::Argument => "the argument".to_string(),
            Source::Stdin => "stdin".to_string(),
            Source::File(path) => format!("file {path}"),
        }
    }
}

fn read_stdin() -> Result<String, CliError> {
    let mut text = String::new();
    std::io::stdin()
        .lock()
        .read_to_string(&mut text)
        .map_err(|e| CliError::Message(format!("cannot read stdin: {e}")))?;
    Ok(text)
}

fn read_file(path: &str) -> Result<String, CliError> {
    std::fs::read_to_string(path).map_err(|e| CliError::Message(format!("cannot read {path}: {e}")))
}

/// The text of a file argument: `-` is stdin, anything else a path (`@path` is accepted too).
fn read_path_arg(arg: &str) -> Result<(String, Source), CliError> {
    if arg == "-" {
        return Ok((read_stdin()?, Source::Stdin));
    }
    let path = arg.strip_prefix('@').unwrap_or(arg);
    Ok((read_file(path)?, Source::File(path.to_string())))
}

fn parse_json(text: &str, source: &Source) -> Result<Value, CliError> {
    serde_json::from_str(text)
        .map_err(|e| CliError::Message(format!("invalid JSON in {}: {e}", source.describe())))
}

/// A JSON value given as an argument: inline text, `-` for stdin or `@path` for a file.
pub(crate) fn json_arg(arg: &str) -> Result<Value, CliError> {
    if arg == "-" || arg.starts_with('@') {
        let (text, source) = read_path_arg(arg)?;
        parse_json(&text, &source)
    } else {
        parse_json(arg, &Source::Argument)
    }
}

/// Text given as an argument: inline, `-` for stdin or `@path` for a file.
pub(crate) fn text_arg(arg: &str) -> Result<String, CliError> {
    if arg == "-" || arg.starts_with('@') {
        Ok(read_path_arg(arg)?.0)
    } else {
        Ok(arg.to_string())
    }
}

/// A JSON document read from a file argument (`-` for stdin).
pub(crate) fn json_file(arg: &str) -> Result<Value, CliError> {
    let (text, source) = read_path_arg(arg)?;
    parse_json(&text, &source)
}

/// WAL entries from a file argument (`-` for stdin): JSON lines (blank lines skipped), or one JSON
/// array of entries.
pub(crate) fn wal_entries(arg: &str) -> Result<Vec<WalEntry>, CliError> {
    let (text, source) = read_path_arg(arg)?;
    if text.trim_start().starts_with('[') {
        return serde_json::from_str(&text).map_err(|e| {
            CliError::Message(format!("invalid WAL entries in {}: {e}", source.describe()))
        });
    }
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(n, line)| {
            serde_json::from_str(line).map_err(|e| {
                CliError::Message(format!(
                    "invalid WAL entry in {} at line {}: {e}",
                    source.describe(),
                    n + 1
                ))
            })
        })
        .collect()
}
