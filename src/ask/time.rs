//! Time phrases in a question, resolved against "now" into half-open ranges `[start, end)`.
//!
//! Conventions (the same in the offline planner, the LLM prompt and the docs):
//!
//! | phrase | range |
//! |---|---|
//! | `today`, `yesterday` | that calendar day |
//! | `this week` / `this month` / `this year` | the calendar week (Monday first) / month / year so far, to its end |
//! | `last week` / `last month` / `last year` (also `previous`) | the previous calendar week / month / year |
//! | `last N days` (also `past`, `in the last`) | N calendar days ending with today: `[today − (N−1), tomorrow)` |
//! | `last N weeks` / `months` / `years` | the same span back from tomorrow's start, calendar-aligned by days / months |
//! | `last N hours` / `minutes` | rolling: `[now − N, now]` (end exclusive one second after now) |
//! | `N days ago` | that calendar day |
//! | `in 2024`, `during 2024` | the year |
//! | `in March`, `in March 2024` | that month; without a year, the latest March that has begun |
//! | `on 2024-03-05`, `2024-03-05` | that day |
//! | `since X`, `after X` | from the start (`since`) or the end (`after`) of X, open-ended |
//! | `before X`, `until X` | open-started, up to the start (`before`) or end (`until`) of X |
//! | `between X and Y` | from X's start to Y's end |
//!
//! Calendar arithmetic happens in the offset of `now` (the caller's timezone); the bounds come
//! out as instants in that offset.

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, TimeZone};
use serde::Serialize;

/// A resolved time phrase: `[start, end)`, either side open when `None`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimeRange {
    /// Inclusive lower bound (RFC 3339), `None` for open.
    pub start: Option<String>,
    /// Exclusive upper bound (RFC 3339), `None` for open.
    pub end: Option<String>,
    /// The words of the question it came from.
    pub phrase: String,
}

/// A phrase found in a token list: the range and the tokens it spans.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FoundTime {
    pub range: TimeRange,
    /// Index of the first token of the phrase.
    pub first: usize,
    /// One past the last token.
    pub end: usize,
}

type Instant = DateTime<FixedOffset>;

/// A calendar span before it is cut by `since`/`before`/...: `[start, end)`.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: Instant,
    end: Instant,
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// The month (1–12) a word names (`march`, `mar`, `sept`).
fn month_of(word: &str) -> Option<u32> {
    if word.len() < 3 {
        return None;
    }
    // "may" is only a month when whole; three-letter prefixes otherwise ("mar", "sept").
    MONTHS
        .iter()
        .position(|m| *m == word || (word.len() >= 3 && m.starts_with(word) && word != "ma"))
        .map(|i| i as u32 + 1)
}

fn midnight(now: &Instant, date: NaiveDate) -> Instant {
    let naive = date.and_hms_opt(0, 0, 0).expect("midnight exists");
    now.offset()
        .from_local_datetime(&naive)
        .single()
        .unwrap_or_else(|| now.offset().from_utc_datetime(&naive))
}

fn day_span(now: &Instant, date: NaiveDate) -> Span {
    Span {
        start: midnight(now, date),
        end: midnight(now, date + Duration::days(1)),
    }
}

fn month_span(now: &Instant, year: i32, month: u32) -> Option<Span> {
    let first = NaiveDate::from_ymd_opt(year, month, 1)?;
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)?
    };
    Some(Span {
        start: midnight(now, first),
        end: midnight(now, next),
    })
}

fn year_span(now: &Instant, year: i32) -> Option<Span> {
    Some(Span {
        start: midnight(now, NaiveDate::from_ymd_opt(year, 1, 1)?),
        end: midnight(now, NaiveDate::from_ymd_opt(year + 1, 1, 1)?),
    })
}

fn week_span(now: &Instant, weeks_back: i64) -> Span {
    let today = now.date_naive();
    let monday = today - Duration::days(today.weekday().num_days_from_monday() as i64);
    let start = monday - Duration::weeks(weeks_back);
    Span {
        start: midnight(now, start),
        end: midnight(now, start + Duration::weeks(1)),
    }
}

/// `year-month` moved back `n` months.
fn months_back(year: i32, month: u32, n: i64) -> Option<(i32, u32)> {
    let index = year as i64 * 12 + (month as i64 - 1) - n;
    let y = i32::try_from(index.div_euclid(12)).ok()?;
    Some((y, (index.rem_euclid(12) + 1) as u32))
}

fn year_of(word: &str) -> Option<i32> {
    if word.len() == 4 && word.bytes().all(|b| b.is_ascii_digit()) {
        let y: i32 = word.parse().ok()?;
        (1900..=2200).contains(&y).then_some(y)
    } else {
        None
    }
}

fn iso_date(word: &str) -> Option<NaiveDate> {
    if word.len() == 10 && word.as_bytes()[4] == b'-' && word.as_bytes()[7] == b'-' {
        NaiveDate::parse_from_str(word, "%Y-%m-%d").ok()
    } else {
        None
    }
}

fn small_number(word: &str) -> Option<i64> {
    const WORDS: [&str; 13] = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve",
    ];
    if let Some(i) = WORDS.iter().position(|w| *w == word) {
        return Some(i as i64);
    }
    if word.len() <= 4 && word.bytes().all(|b| b.is_ascii_digit()) {
        return word.parse().ok();
    }
    None
}

fn unit_of(word: &str) -> Option<&'static str> {
    Some(match word {
        "minute" | "minutes" | "min" | "mins" => "minute",
        "hour" | "hours" | "hr" | "hrs" => "hour",
        "day" | "days" => "day",
        "week" | "weeks" => "week",
        "month" | "months" => "month",
        "year" | "years" => "year",
        _ => return None,
    })
}

/// A span anchored by the words at `i` (a date, a month, a year, a relative day): the span and
/// the tokens it used.
fn anchor(now: &Instant, w: &[&str], i: usize) -> Option<(Span, usize)> {
    let word = *w.get(i)?;
    let today = now.date_naive();
    match word {
        "today" => return Some((day_span(now, today), 1)),
        "yesterday" => return Some((day_span(now, today - Duration::days(1)), 1)),
        _ => {}
    }
    if let Some(date) = iso_date(word) {
        return Some((day_span(now, date), 1));
    }
    if let Some(year) = year_of(word) {
        return Some((year_span(now, year)?, 1));
    }
    if let Some(month) = month_of(word) {
        if let Some(year) = w.get(i + 1).and_then(|y| year_of(y)) {
            return Some((month_span(now, year, month)?, 2));
        }
        // The latest such month that has begun.
        let year = if month <= today.month() {
            today.year()
        } else {
            today.year() - 1
        };
        return Some((month_span(now, year, month)?, 1));
    }
    if matches!(word, "this" | "last" | "previous" | "past") {
        let back = i64::from(word != "this");
        let span = match *w.get(i + 1)? {
            "week" => week_span(now, back),
            "month" => {
                let (y, m) = months_back(today.year(), today.month(), back)?;
                month_span(now, y, m)?
            }
            "year" => year_span(now, today.year() - back as i32)?,
            _ => return None,
        };
        return Some((span, 2));
    }
    None
}

/// The first time phrase at or after token `from`, if any.
fn phrase_at(
    now: &Instant,
    w: &[&str],
    i: usize,
) -> Option<(Option<Instant>, Option<Instant>, usize)> {
    let word = w[i];
    let today = now.date_naive();
    let tomorrow = midnight(now, today + Duration::days(1));
    // "last N units", "past N units", "in the last N units", "the last N units"
    let rolling_start = match word {
        "last" | "past" | "previous" => Some(i + 1),
        _ => None,
    };
    if let Some(j) = rolling_start {
        if let (Some(n), Some(unit)) = (
            w.get(j).and_then(|x| small_number(x)),
            w.get(j + 1).and_then(|x| unit_of(x)),
        ) {
            if !(1..=10_000).contains(&n) {
                return None;
            }
            let start = match unit {
                "minute" => Some((*now - Duration::minutes(n), *now + Duration::seconds(1))),
                "hour" => Some((*now - Duration::hours(n), *now + Duration::seconds(1))),
                "day" => Some((midnight(now, today - Duration::days(n - 1)), tomorrow)),
                "week" => Some((midnight(now, today - Duration::days(7 * n - 1)), tomorrow)),
                "month" => {
                    let (y, m) = months_back(today.year(), today.month(), n)?;
                    let day = today.day().min(days_in_month(y, m)?);
                    let date = NaiveDate::from_ymd_opt(y, m, day)? + Duration::days(1);
                    Some((midnight(now, date), tomorrow))
                }
                "year" => {
                    let y = today.year() - n as i32;
                    let date = NaiveDate::from_ymd_opt(
                        y,
                        today.month(),
                        today.day().min(days_in_month(y, today.month())?),
                    )? + Duration::days(1);
                    Some((midnight(now, date), tomorrow))
                }
                _ => None,
            }?;
            return Some((Some(start.0), Some(start.1), j + 2 - i));
        }
    }
    // "N units ago"
    if let (Some(n), Some(unit), Some(&"ago")) = (
        small_number(word),
        w.get(i + 1).and_then(|x| unit_of(x)),
        w.get(i + 2),
    ) {
        if unit == "day" && (0..=10_000).contains(&n) {
            let span = day_span(now, today - Duration::days(n));
            return Some((Some(span.start), Some(span.end), 3));
        }
    }
    match word {
        "since" | "after" | "from" => {
            let (span, used) = anchor(now, w, i + 1)?;
            let start = if word == "after" {
                span.end
            } else {
                span.start
            };
            return Some((Some(start), None, used + 1));
        }
        "before" | "until" | "till" => {
            let (span, used) = anchor(now, w, i + 1)?;
            let end = if word == "before" {
                span.start
            } else {
                span.end
            };
            return Some((None, Some(end), used + 1));
        }
        "between" => {
            let (a, used_a) = anchor(now, w, i + 1)?;
            if w.get(i + 1 + used_a) != Some(&"and") {
                return None;
            }
            let (b, used_b) = anchor(now, w, i + 2 + used_a)?;
            return Some((Some(a.start), Some(b.end), 2 + used_a + used_b));
        }
        _ => {}
    }
    // A bare anchor ("in 2024", "on 2024-03-05", "yesterday", "last month"); "in"/"on"/"during"
    // before it are part of the phrase.
    let (lead, at) = match word {
        "in" | "on" | "during" => (1, i + 1),
        _ => (0, i),
    };
    let (span, used) = anchor(now, w, at)?;
    // A lone month or year needs "in"/"on"/"during" before it ("may" is a verb too, "2024" may
    // be a ticket number).
    if lead == 0 && used == 1 && (month_of(w[at]).is_some() || year_of(w[at]).is_some()) {
        return None;
    }
    Some((Some(span.start), Some(span.end), lead + used))
}

fn days_in_month(year: i32, month: u32) -> Option<u32> {
    let span_days = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)?
    }
    .signed_duration_since(NaiveDate::from_ymd_opt(year, month, 1)?)
    .num_days();
    u32::try_from(span_days).ok()
}

/// Every time phrase in `words` (lowercase tokens), left to right, not overlapping.
pub(crate) fn find_times(now: &Instant, words: &[&str]) -> Vec<FoundTime> {
    let mut found = Vec::new();
    let mut i = 0;
    while i < words.len() {
        match phrase_at(now, words, i) {
            Some((start, end, used)) if used > 0 => {
                found.push(FoundTime {
                    range: TimeRange {
                        start: start.map(|s| s.to_rfc3339()),
                        end: end.map(|e| e.to_rfc3339()),
                        phrase: words[i..i + used].join(" "),
                    },
                    first: i,
                    end: i + used,
                });
                i += used;
            }
            _ => i += 1,
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Instant {
        // A Wednesday.
        DateTime::parse_from_rfc3339("2026-12-09T15:30:00+01:00").unwrap()
    }

    fn one(q: &str) -> (Option<String>, Option<String>) {
        let words: Vec<&str> = q.split_whitespace().collect();
        let found = find_times(&now(), &words);
        assert_eq!(found.len(), 1, "{q}: {found:?}");
        (found[0].range.start.clone(), found[0].range.end.clone())
    }

    fn range(start: &str, end: &str) -> (Option<String>, Option<String>) {
        (Some(start.to_string()), Some(end.to_string()))
    }

    #[test]
    fn last_seven_days_is_seven_calendar_days_ending_today() {
        assert_eq!(
            one("tickets opened in the last 7 days"),
            range("2026-12-03T00:00:00+01:00", "2026-12-10T00:00:00+01:00")
        );
        assert_eq!(one("past seven days"), one("last 7 days"));
    }

    #[test]
    fn last_month_is_the_previous_calendar_month() {
        assert_eq!(
            one("what happened last month"),
            range("2026-11-01T00:00:00+01:00", "2026-12-01T00:00:00+01:00")
        );
        let jan = DateTime::parse_from_rfc3339("2027-01-15T10:00:00+00:00").unwrap();
        let f = find_times(&jan, &["last", "month"]);
        assert_eq!(
            f[0].range.start.as_deref(),
            Some("2026-12-01T00:00:00+00:00")
        );
        assert_eq!(f[0].range.end.as_deref(), Some("2027-01-01T00:00:00+00:00"));
    }

    #[test]
    fn days_weeks_and_years() {
        assert_eq!(
            one("yesterday"),
            range("2026-12-08T00:00:00+01:00", "2026-12-09T00:00:00+01:00")
        );
        assert_eq!(
            one("today"),
            range("2026-12-09T00:00:00+01:00", "2026-12-10T00:00:00+01:00")
        );
        assert_eq!(
            one("this week"),
            range("2026-12-07T00:00:00+01:00", "2026-12-14T00:00:00+01:00")
        );
        assert_eq!(
            one("last week"),
            range("2026-11-30T00:00:00+01:00", "2026-12-07T00:00:00+01:00")
        );
        assert_eq!(
            one("this month"),
            range("2026-12-01T00:00:00+01:00", "2027-01-01T00:00:00+01:00")
        );
        assert_eq!(
            one("in 2024"),
            range("2024-01-01T00:00:00+01:00", "2025-01-01T00:00:00+01:00")
        );
        assert_eq!(
            one("3 days ago"),
            range("2026-12-06T00:00:00+01:00", "2026-12-07T00:00:00+01:00")
        );
        assert_eq!(
            one("on 2025-02-28"),
            range("2025-02-28T00:00:00+01:00", "2025-03-01T00:00:00+01:00")
        );
    }

    #[test]
    fn since_before_between() {
        assert_eq!(
            one("since march"),
            (Some("2026-03-01T00:00:00+01:00".into()), None)
        );
        assert_eq!(
            one("before 2025"),
            (None, Some("2025-01-01T00:00:00+01:00".into()))
        );
        assert_eq!(
            one("after march 2026"),
            (Some("2026-04-01T00:00:00+01:00".into()), None)
        );
        assert_eq!(
            one("between 2025-01-01 and 2025-01-31"),
            range("2025-01-01T00:00:00+01:00", "2025-02-01T00:00:00+01:00")
        );
        // A month later in the year than now means last year's.
        let spring = DateTime::parse_from_rfc3339("2026-02-10T00:00:00+00:00").unwrap();
        let f = find_times(&spring, &["in", "march"]);
        assert_eq!(
            f[0].range.start.as_deref(),
            Some("2025-03-01T00:00:00+00:00")
        );
    }

    #[test]
    fn rolling_hours_and_month_spans() {
        assert_eq!(
            one("last 2 hours"),
            range("2026-12-09T13:30:00+01:00", "2026-12-09T15:30:01+01:00")
        );
        assert_eq!(
            one("last 3 months"),
            range("2026-09-10T00:00:00+01:00", "2026-12-10T00:00:00+01:00")
        );
    }

    #[test]
    fn words_that_are_not_times_are_left_alone() {
        let words = ["may", "i", "see", "ticket", "2024", "from", "acme"];
        assert!(find_times(&now(), &words).is_empty());
        assert!(find_times(&now(), &["last", "ticket"]).is_empty());
        assert!(find_times(&now(), &["last", "99999", "days"]).is_empty());
        assert!(find_times(&now(), &[]).is_empty());
    }
}
