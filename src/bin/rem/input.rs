//! Reading command input: JSON given inline, on stdin (`-`) or in a file (`@path`), and WAL
//! entries as JSON lines.

use std::io::{BufRead, Read};

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
    let value = serde_json::from_str(text)
        .map_err(|e| CliError::Message(format!("invalid JSON in {}: {e}", source.describe())))?;
    if let Some(n) = oversized_integer(text) {
        return Err(CliError::Db(remdb::Error::InvalidArgument(format!(
            "integer {} in {} does not fit in 64 bits and would be stored as the nearest \
             float, a different number; write it with `.0` for a float or quote it as text",
            if n.len() > 40 {
                format!("{}… ({} characters)", &n[..40], n.len())
            } else {
                n.to_string()
            },
            source.describe()
        ))));
    }
    Ok(value)
}

/// The first integer literal of a JSON text (outside strings) that fits neither `i64` nor `u64`.
fn oversized_integer(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    let (mut i, mut in_string) = (0, false);
    while i < bytes.len() {
        let c = bytes[i];
        if in_string {
            match c {
                b'\\' => i += 1,
                b'"' => in_string = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        if c == b'"' {
            in_string = true;
            i += 1;
            continue;
        }
        if c == b'-' || c.is_ascii_digit() {
            let start = i;
            while i < bytes.len()
                && matches!(bytes[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
            {
                i += 1;
            }
            let token = &text[start..i];
            let integer = !token.contains(['.', 'e', 'E']);
            if integer && token.parse::<i64>().is_err() && token.parse::<u64>().is_err() {
                return Some(token);
            }
            continue;
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::oversized_integer;

    #[test]
    fn integers_past_64_bits_are_found_outside_strings_only() {
        assert_eq!(oversized_integer(r#"{"a": 18446744073709551615}"#), None);
        assert_eq!(oversized_integer(r#"{"a": -9223372036854775808}"#), None);
        assert_eq!(
            oversized_integer(r#"{"a": [1, 18446744073709551616]}"#),
            Some("18446744073709551616")
        );
        assert_eq!(
            oversized_integer(r#"{"a": -9223372036854775809}"#),
            Some("-9223372036854775809")
        );
        assert_eq!(
            oversized_integer(r#"{"a": "99999999999999999999", "b\"": 1e30}"#),
            None
        );
        assert_eq!(oversized_integer(r#"{"a": 1.5e400}"#), None);
    }
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

/// Longest JSON line of a WAL stream: a row at the default maximum row size (16 MiB) plus its
/// entry's envelope, with room to spare.
const MAX_WAL_LINE: usize = 64 * 1024 * 1024;

/// Most JSON text of WAL lines gathered into one batch before it is applied.
const MAX_BATCH_TEXT: usize = 64 * 1024 * 1024;

/// Reads WAL entries from a file argument (`-` for stdin) and hands them to `apply` in batches
/// of at most `max_entries` entries (and about 64 MiB of text), in order. JSON lines (blank
/// lines skipped) stream in bounded memory; one JSON array of entries is read whole.
pub(crate) fn wal_batches(
    arg: &str,
    max_entries: usize,
    mut apply: impl FnMut(Vec<WalEntry>) -> Result<(), CliError>,
) -> Result<(), CliError> {
    let (mut reader, source): (Box<dyn BufRead>, Source) = if arg == "-" {
        (Box::new(std::io::stdin().lock()), Source::Stdin)
    } else {
        let path = arg.strip_prefix('@').unwrap_or(arg);
        let file = std::fs::File::open(path)
            .map_err(|e| CliError::Message(format!("cannot read {path}: {e}")))?;
        (
            Box::new(std::io::BufReader::with_capacity(1 << 20, file)),
            Source::File(path.to_string()),
        )
    };
    let unreadable =
        |e: std::io::Error| CliError::Message(format!("cannot read {}: {e}", source.describe()));
    if first_non_space(&mut reader).map_err(unreadable)? == Some(b'[') {
        let mut text = String::new();
        reader.read_to_string(&mut text).map_err(unreadable)?;
        let entries: Vec<WalEntry> = serde_json::from_str(&text).map_err(|e| {
            CliError::Message(format!("invalid WAL entries in {}: {e}", source.describe()))
        })?;
        drop(text);
        let mut entries = entries.into_iter().peekable();
        while entries.peek().is_some() {
            apply(entries.by_ref().take(max_entries).collect())?;
        }
        return Ok(());
    }
    let mut batch = Vec::new();
    let mut batch_text = 0;
    let mut line = Vec::new();
    for number in 1.. {
        line.clear();
        let read = (&mut reader)
            .take(MAX_WAL_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(unreadable)?;
        if read == 0 {
            break;
        }
        if line.len() > MAX_WAL_LINE {
            return Err(CliError::Db(remdb::Error::Limit(format!(
                "line {number} of {} is longer than {MAX_WAL_LINE} bytes, more than any WAL \
                 entry remdb writes",
                source.describe()
            ))));
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let entry: WalEntry = serde_json::from_slice(&line).map_err(|e| {
            CliError::Message(format!(
                "invalid WAL entry in {} at line {number}: {e}",
                source.describe()
            ))
        })?;
        batch.push(entry);
        batch_text += line.len();
        if batch.len() >= max_entries || batch_text >= MAX_BATCH_TEXT {
            apply(std::mem::take(&mut batch))?;
            batch_text = 0;
        }
    }
    if !batch.is_empty() {
        apply(batch)?;
    }
    Ok(())
}

/// The first byte that is not ASCII whitespace, left unread (whitespace before it is consumed).
fn first_non_space(reader: &mut dyn BufRead) -> std::io::Result<Option<u8>> {
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(None);
        }
        match buf.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(at) => {
                let first = buf[at];
                reader.consume(at);
                return Ok(Some(first));
            }
            None => {
                let all = buf.len();
                reader.consume(all);
            }
        }
    }
}
