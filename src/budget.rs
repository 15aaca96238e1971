//! Budgets on the work of one query or graph walk: rows (or graph edges) examined, memory held
//! and time taken. A [`Budget`] says how much; a [`Meter`] counts against it while the work
//! runs and stops it with a `LIMIT` error ([`Error::Limit`]) naming the budget that ran out,
//! its value and how to raise it.
//!
//! A budget is given per database ([`OpenOptions::budget`](crate::OpenOptions::budget)) and per
//! call ([`Tenant::sql_with`](crate::Tenant::sql_with), `PathOptions::budget`,
//! `TraverseOptions::budget`); a per-call setting wins over the database's, which wins over the
//! defaults ([`DEFAULT_MAX_ROWS_EXAMINED`], [`DEFAULT_MAX_MEMORY_BYTES`],
//! [`DEFAULT_MAX_TIME_MS`]), chosen so that no sane query reaches them.
//!
//! This sits below `sql` and `graph` (both use it), beside `distance.rs`.

use std::cell::Cell;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Default [`Budget::max_rows_examined`]: one billion rows (or graph edges) looked at.
pub const DEFAULT_MAX_ROWS_EXAMINED: u64 = 1_000_000_000;
/// Default [`Budget::max_memory_bytes`]: 1 GiB held by the executor at once.
pub const DEFAULT_MAX_MEMORY_BYTES: u64 = 1 << 30;
/// Default [`Budget::max_time_ms`]: one minute.
pub const DEFAULT_MAX_TIME_MS: u64 = 60_000;

/// How much work one query or graph walk may do. `None` inherits: a per-call budget from the
/// database's, the database's from the defaults.
///
/// ```
/// use remdb::{Budget, Database};
/// let t = Database::memory().tenant("t")?;
/// t.init()?;
/// let tight = Budget { max_rows_examined: Some(0), ..Budget::default() };
/// t.insert("agents", serde_json::json!({"name": "a"}))?;
/// let err = t.sql_with("SELECT name FROM agents", &[], &tight).unwrap_err();
/// assert_eq!(err.code(), "LIMIT");
/// assert!(err.to_string().contains("max_rows_examined = 0"));
/// # Ok::<(), remdb::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// Most rows a query reads from its tables plus rows its joins produce; for a graph walk,
    /// most edges it follows. Default [`DEFAULT_MAX_ROWS_EXAMINED`].
    pub max_rows_examined: Option<u64>,
    /// Most bytes (an estimate) held at once: materialised and sorted rows, join hash tables,
    /// groups, DISTINCT sets; for a graph walk, its visited sets and the paths it returns.
    /// Default [`DEFAULT_MAX_MEMORY_BYTES`].
    pub max_memory_bytes: Option<u64>,
    /// Most milliseconds the work may take. Default [`DEFAULT_MAX_TIME_MS`].
    pub max_time_ms: Option<u64>,
}

impl Budget {
    /// This budget with each unset setting taken from `fallback`.
    pub fn or(&self, fallback: &Budget) -> Budget {
        Budget {
            max_rows_examined: self.max_rows_examined.or(fallback.max_rows_examined),
            max_memory_bytes: self.max_memory_bytes.or(fallback.max_memory_bytes),
            max_time_ms: self.max_time_ms.or(fallback.max_time_ms),
        }
    }

    /// Whether no setting is given.
    pub fn is_unset(&self) -> bool {
        *self == Budget::default()
    }
}

/// Which budget ran out (for the error message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exhausted {
    Rows,
    Memory,
    Time,
}

impl Exhausted {
    /// The setting's name on each face: Rust, JS, CLI.
    fn names(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Exhausted::Rows => (
                "max_rows_examined",
                "maxRowsExamined",
                "--max-rows-examined",
            ),
            Exhausted::Memory => ("max_memory_bytes", "maxMemoryBytes", "--max-memory-bytes"),
            Exhausted::Time => ("max_time_ms", "maxTimeMs", "--max-time-ms"),
        }
    }

    fn what(self) -> &'static str {
        match self {
            Exhausted::Rows => "examined more rows than its budget allows",
            Exhausted::Memory => "needed more memory than its budget allows",
            Exhausted::Time => "ran longer than its budget allows",
        }
    }

    fn error(self, value: u64) -> Error {
        let (rust, js, cli) = self.names();
        Error::Limit(format!(
            "the query {} ({rust} = {value}); raise it for this call or for the database \
             (Rust: Budget {{ {rust} }}, JS: budget: {{ {js} }}, CLI: {cli})",
            self.what()
        ))
    }
}

/// Calls between two reads of the clock.
const CLOCK_EVERY: u32 = 1024;

/// Milliseconds from an arbitrary origin, monotonic natively. wasm32 has no `std` clock: there
/// `Date.now()` stands in.
#[cfg(not(target_arch = "wasm32"))]
mod clock {
    /// A point in time.
    #[derive(Clone, Copy)]
    pub(super) struct Start(std::time::Instant);

    impl Start {
        pub(super) fn now() -> Self {
            Start(std::time::Instant::now())
        }

        pub(super) fn elapsed_ms(&self) -> u64 {
            u64::try_from(self.0.elapsed().as_millis()).unwrap_or(u64::MAX)
        }
    }
}

#[cfg(target_arch = "wasm32")]
mod clock {
    /// A point in time.
    #[derive(Clone, Copy)]
    pub(super) struct Start(f64);

    impl Start {
        pub(super) fn now() -> Self {
            Start(js_sys::Date::now())
        }

        pub(super) fn elapsed_ms(&self) -> u64 {
            let ms = js_sys::Date::now() - self.0;
            if ms > 0.0 {
                ms as u64
            } else {
                0
            }
        }
    }
}

/// Counts the work of one query or walk against a resolved [`Budget`]. Shared by reference
/// inside one thread (counters are `Cell`s).
pub(crate) struct Meter {
    max_rows: u64,
    max_memory: u64,
    max_time_ms: u64,
    examined: Cell<u64>,
    held: Cell<u64>,
    until_clock: Cell<u32>,
    started: clock::Start,
}

impl Meter {
    /// A meter for `budget`, its unset settings at the defaults. The clock starts now.
    pub(crate) fn new(budget: &Budget) -> Meter {
        Meter {
            max_rows: budget
                .max_rows_examined
                .unwrap_or(DEFAULT_MAX_ROWS_EXAMINED),
            max_memory: budget.max_memory_bytes.unwrap_or(DEFAULT_MAX_MEMORY_BYTES),
            max_time_ms: budget.max_time_ms.unwrap_or(DEFAULT_MAX_TIME_MS),
            examined: Cell::new(0),
            held: Cell::new(0),
            until_clock: Cell::new(CLOCK_EVERY),
            started: clock::Start::now(),
        }
    }

    /// Counts `n` rows (or edges) examined; fails once over the rows budget, or (checked every
    /// [`CLOCK_EVERY`] calls) the time budget.
    pub(crate) fn examine(&self, n: u64) -> Result<()> {
        let examined = self.examined.get().saturating_add(n);
        self.examined.set(examined);
        if examined > self.max_rows {
            return Err(Exhausted::Rows.error(self.max_rows));
        }
        self.tick()
    }

    /// Checks the clock every [`CLOCK_EVERY`] calls.
    pub(crate) fn tick(&self) -> Result<()> {
        let left = self.until_clock.get();
        if left > 1 {
            self.until_clock.set(left - 1);
            return Ok(());
        }
        self.until_clock.set(CLOCK_EVERY);
        self.check_time()
    }

    /// Fails when the time budget is spent.
    pub(crate) fn check_time(&self) -> Result<()> {
        if self.started.elapsed_ms() > self.max_time_ms {
            return Err(Exhausted::Time.error(self.max_time_ms));
        }
        Ok(())
    }

    /// Counts `bytes` more held; fails once over the memory budget.
    pub(crate) fn hold(&self, bytes: u64) -> Result<()> {
        let held = self.held.get().saturating_add(bytes);
        self.held.set(held);
        if held > self.max_memory {
            return Err(Exhausted::Memory.error(self.max_memory));
        }
        Ok(())
    }

    /// Counts `bytes` given back.
    pub(crate) fn release(&self, bytes: u64) {
        self.held.set(self.held.get().saturating_sub(bytes));
    }

    /// Bytes held now (by the meter's count).
    #[cfg(test)]
    pub(crate) fn held(&self) -> u64 {
        self.held.get()
    }
}

/// An estimate of the bytes a JSON value holds in memory: the value itself plus its heap parts.
pub(crate) fn value_bytes(value: &serde_json::Value) -> u64 {
    use serde_json::Value;
    const SLOT: u64 = std::mem::size_of::<Value>() as u64;
    match value {
        Value::Array(_) | Value::Object(_) => {}
        Value::String(s) => return SLOT.saturating_add(s.len() as u64),
        _ => return SLOT,
    }
    let mut total = 0u64;
    let mut pending = vec![value];
    while let Some(v) = pending.pop() {
        total = total.saturating_add(SLOT);
        match v {
            Value::String(s) => total = total.saturating_add(s.len() as u64),
            Value::Array(items) => pending.extend(items.iter()),
            Value::Object(map) => {
                for (k, item) in map {
                    // Key text plus the map's per-entry overhead.
                    total = total.saturating_add(k.len() as u64 + 32);
                    pending.push(item);
                }
            }
            _ => {}
        }
    }
    total
}

/// [`value_bytes`] of several values, plus the vector holding them.
pub(crate) fn values_bytes(values: &[serde_json::Value]) -> u64 {
    values
        .iter()
        .fold(24, |sum, v| sum.saturating_add(value_bytes(v)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_call_setting_wins_over_the_database_then_the_defaults() {
        let call = Budget {
            max_rows_examined: Some(5),
            ..Budget::default()
        };
        let db = Budget {
            max_rows_examined: Some(9),
            max_time_ms: Some(7),
            ..Budget::default()
        };
        let b = call.or(&db);
        assert_eq!(b.max_rows_examined, Some(5));
        assert_eq!(b.max_time_ms, Some(7));
        assert_eq!(b.max_memory_bytes, None);
        let m = Meter::new(&b);
        assert_eq!(m.max_memory, DEFAULT_MAX_MEMORY_BYTES);
    }

    #[test]
    fn the_rows_budget_allows_exactly_its_value() {
        let m = Meter::new(&Budget {
            max_rows_examined: Some(3),
            ..Budget::default()
        });
        m.examine(3).unwrap();
        let err = m.examine(1).unwrap_err();
        assert_eq!(err.code(), "LIMIT");
        let text = err.to_string();
        assert!(text.contains("max_rows_examined = 3"), "{text}");
        assert!(text.contains("--max-rows-examined"), "{text}");
        assert!(text.contains("maxRowsExamined"), "{text}");
    }

    #[test]
    fn memory_given_back_can_be_held_again() {
        let m = Meter::new(&Budget {
            max_memory_bytes: Some(100),
            ..Budget::default()
        });
        m.hold(80).unwrap();
        m.release(50);
        m.hold(60).unwrap();
        assert_eq!(m.held(), 90);
        assert!(m
            .hold(11)
            .unwrap_err()
            .to_string()
            .contains("max_memory_bytes = 100"));
    }

    #[test]
    fn a_zero_time_budget_stops_at_the_first_clock_read() {
        let m = Meter::new(&Budget {
            max_time_ms: Some(0),
            ..Budget::default()
        });
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(m
            .check_time()
            .unwrap_err()
            .to_string()
            .contains("max_time_ms = 0"));
    }

    #[test]
    fn value_sizes_grow_with_their_content() {
        let small = value_bytes(&json!("a"));
        let big = value_bytes(&json!("a".repeat(1000)));
        assert!(big >= small + 999);
        let nested = value_bytes(&json!({"k": [1, 2, {"x": "yy"}]}));
        assert!(nested > 5 * std::mem::size_of::<serde_json::Value>() as u64);
    }
}
