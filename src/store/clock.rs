//! Hybrid logical clocks: one sortable `u64` per write, 48 bits of Unix milliseconds above a
//! 16-bit counter. Every WAL entry carries the clock of its write; a tenant's clock never runs
//! backwards and is folded forward over every clock it receives (sync pulls), so a write that
//! follows another one it has seen always sorts after it, whatever the wall clocks say.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A hybrid logical clock value: `ms << 16 | counter`. Serialized as 16 lower-case hex digits
/// (so JavaScript, whose numbers hold 53 bits, reads it exactly and strings sort as clocks do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hlc(pub u64);

impl Hlc {
    /// The clock at wall time `ms` (Unix milliseconds) with counter 0.
    pub fn from_millis(ms: u64) -> Self {
        Hlc(ms.min((1 << 48) - 1) << 16)
    }

    /// The wall-clock part, in Unix milliseconds.
    pub fn millis(self) -> u64 {
        self.0 >> 16
    }

    /// The next clock after `self` at wall time `now_ms`: the wall time when it is ahead,
    /// otherwise one tick after `self`.
    pub fn tick(self, now_ms: u64) -> Self {
        Hlc(Hlc::from_millis(now_ms).0.max(self.0.saturating_add(1)))
    }

    /// Parses 16 hex digits.
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() != 16 {
            return None;
        }
        u64::from_str_radix(text, 16).ok().map(Hlc)
    }
}

impl fmt::Display for Hlc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl Serialize for Hlc {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Hlc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Hlc::parse(&text).ok_or_else(|| {
            serde::de::Error::custom("a clock is 16 hexadecimal digits (48-bit ms, 16-bit counter)")
        })
    }
}

/// Unix milliseconds now.
pub(crate) fn now_millis() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_never_run_backwards() {
        let a = Hlc::from_millis(1_000);
        assert_eq!(a.tick(2_000), Hlc::from_millis(2_000));
        let b = a.tick(500);
        assert!(b > a && b.millis() == 1_000);
        assert_eq!(Hlc(u64::MAX).tick(0), Hlc(u64::MAX));
    }

    #[test]
    fn text_form_sorts_like_the_clock_and_parses_back() {
        let a = Hlc::from_millis(1_700_000_000_000);
        let b = a.tick(0);
        assert!(a.to_string() < b.to_string());
        assert_eq!(Hlc::parse(&b.to_string()), Some(b));
        assert_eq!(Hlc::parse("xyz"), None);
        assert_eq!(serde_json::to_string(&a).unwrap(), format!("\"{a}\""));
    }
}
