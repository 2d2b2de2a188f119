//! Human durations in config (`"30m"`, `"1h"`, `"20s"`, `"1h 30m"`, `"7d"`), parsed by jiff's
//! friendly duration format (a day is 24 hours; months and years are refused) and printed back
//! the same way.

use std::fmt;
use std::time::Duration;

use jiff::{SignedDuration, Span, SpanRelativeTo};
use serde::{Deserialize, Deserializer};

/// A positive duration written for humans.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HumanDuration(Duration);

impl HumanDuration {
    /// Wraps a duration.
    pub const fn new(duration: Duration) -> Self {
        Self(duration)
    }

    /// Parses `"30m"`, `"1h"`, `"1h 30m"`, `"90s"`, `"7d"` or ISO 8601 (`"PT1H"`, `"P7D"`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let parsed = text
            .trim()
            .parse::<Span>()
            .ok()
            .and_then(|span| span.to_duration(SpanRelativeTo::days_are_24_hours()).ok())
            .ok_or_else(|| {
                format!(
                    "\"{text}\" is not a duration; write it like \"30s\", \"15m\", \"1h\", \
                     \"1h 30m\" or \"7d\""
                )
            })?;
        if parsed.is_negative() || parsed.is_zero() {
            return Err(format!("\"{text}\" must be longer than zero"));
        }
        Duration::try_from(parsed)
            .map(Self)
            .map_err(|_| format!("\"{text}\" is out of range"))
    }

    /// The duration.
    pub const fn get(self) -> Duration {
        self.0
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const DAY: u64 = 86_400;
        let secs = self.0.as_secs();
        if secs >= DAY && secs.is_multiple_of(DAY) && self.0.subsec_nanos() == 0 {
            return write!(f, "{}d", secs / DAY);
        }
        match SignedDuration::try_from(self.0) {
            Ok(d) => write!(f, "{d:#}"),
            Err(_) => write!(f, "{secs}s"),
        }
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn friendly_durations_parse_and_print_back() {
        for (text, secs, shown) in [
            ("30m", 1800, "30m"),
            ("1h", 3600, "1h"),
            ("1h30m", 5400, "1h 30m"),
            ("20s", 20, "20s"),
            ("PT2H", 7200, "2h"),
            ("7d", 604_800, "7d"),
            ("36h", 129_600, "36h"),
        ] {
            let d = HumanDuration::parse(text).unwrap();
            assert_eq!(d.get(), Duration::from_secs(secs), "{text}");
            assert_eq!(d.to_string(), shown, "{text}");
        }
    }

    #[test]
    fn zero_negative_and_garbage_are_refused() {
        assert!(
            HumanDuration::parse("0s")
                .unwrap_err()
                .contains("longer than zero")
        );
        assert!(HumanDuration::parse("-5m").is_err());
        assert!(
            HumanDuration::parse("soon")
                .unwrap_err()
                .contains("\"1h 30m\"")
        );
        assert!(
            HumanDuration::parse("1mo").is_err(),
            "months have no fixed length"
        );
    }
}
