//! Printing results: JSON for programs, aligned text tables for people.

use std::io::{self, BufWriter, IsTerminal, Stdout, Write};

use remdb::Row;
use serde::Serialize;
use serde_json::Value;

/// Longest table cell, in characters; longer ones end in `…`.
const MAX_CELL: usize = 40;

/// Where results go and in which form.
pub(crate) struct Output {
    json: bool,
    out: BufWriter<Stdout>,
}

impl Output {
    /// JSON when asked for, or when stdout is not a terminal (unless text is forced).
    pub(crate) fn new(json: bool, text: bool) -> Self {
        let stdout = io::stdout();
        let json = json || (!text && !stdout.is_terminal());
        Output {
            json,
            out: BufWriter::new(stdout),
        }
    }

    /// Whether results are printed as JSON.
    pub(crate) fn json(&self) -> bool {
        self.json
    }

    /// The raw writer (for streaming JSON lines).
    pub(crate) fn writer(&mut self) -> &mut impl Write {
        &mut self.out
    }

    /// One line of text.
    pub(crate) fn line(&mut self, text: &str) -> io::Result<()> {
        self.out.write_all(text.as_bytes())?;
        self.out.write_all(b"\n")
    }

    /// A value as one line of compact JSON.
    pub(crate) fn compact(&mut self, value: &impl Serialize) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, value)?;
        self.out.write_all(b"\n")
    }

    /// A value as indented JSON.
    pub(crate) fn pretty(&mut self, value: &impl Serialize) -> io::Result<()> {
        serde_json::to_writer_pretty(&mut self.out, value)?;
        self.out.write_all(b"\n")
    }

    /// A value as compact JSON in JSON mode, indented JSON in text mode.
    pub(crate) fn document(&mut self, value: &impl Serialize) -> io::Result<()> {
        if self.json {
            self.compact(value)
        } else {
            self.pretty(value)
        }
    }

    /// An aligned text table.
    pub(crate) fn table(&mut self, headers: &[String], rows: &[Vec<String>]) -> io::Result<()> {
        self.out.write_all(render_table(headers, rows).as_bytes())
    }

    /// Rows as a text table: `id` first, then the fields in row order.
    pub(crate) fn rows_table(&mut self, rows: &[Row]) -> io::Result<()> {
        let (headers, cells) = rows_to_cells(rows);
        self.table(&headers, &cells)
    }

    /// Flushes buffered output.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Column names (`id` first, then the user fields in the order first seen, then the timestamps)
/// and cells.
pub(crate) fn rows_to_cells(rows: &[Row]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut headers = vec!["id".to_string()];
    for row in rows {
        for key in row.keys() {
            if !remdb::SYSTEM_FIELDS.contains(&key.as_str()) && !headers.iter().any(|h| h == key) {
                headers.push(key.clone());
            }
        }
    }
    headers.extend(remdb::SYSTEM_FIELDS[1..].iter().map(|f| f.to_string()));
    let cells = rows
        .iter()
        .map(|row| headers.iter().map(|h| cell(row.get(h))).collect())
        .collect();
    (headers, cells)
}

/// A value as a table cell: strings bare, null empty, nested values as compact JSON, on one line
/// and at most [`MAX_CELL`] characters.
pub(crate) fn cell(value: Option<&Value>) -> String {
    let text = match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    truncate(&one_line(&text), MAX_CELL)
}

fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// `text` cut to `max` characters, the last one replaced by `…` when cut.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Header line, a dashed rule, then one line per row; columns two spaces apart, no trailing
/// spaces.
pub(crate) fn render_table(headers: &[String], rows: &[Vec<String>]) -> String {
    let width = |s: &str| s.chars().count();
    let mut widths: Vec<usize> = headers.iter().map(|h| width(h)).collect();
    for row in rows {
        for (i, c) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(width(c));
            }
        }
    }
    let mut out = String::new();
    let mut push_line = |cells: &mut dyn Iterator<Item = String>| {
        let mut line = String::new();
        for (i, c) in cells.enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let pad = widths
                .get(i)
                .copied()
                .unwrap_or(0)
                .saturating_sub(width(&c));
            line.push_str(&c);
            line.extend(std::iter::repeat_n(' ', pad));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    };
    push_line(&mut headers.iter().cloned());
    push_line(&mut widths.iter().map(|w| "-".repeat(*w)));
    for row in rows {
        push_line(&mut row.iter().cloned());
    }
    out
}
