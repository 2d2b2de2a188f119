//! How bad an alert is: the four Wavefront severities, lowest first.

use std::fmt;

/// Alert severity, lowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Info,
    Smoke,
    Warn,
    Severe,
}

impl Severity {
    /// All severities, lowest first.
    pub const ALL: [Severity; 4] = [Self::Info, Self::Smoke, Self::Warn, Self::Severe];

    /// Parses `INFO`, `SMOKE`, `WARN` or `SEVERE`, in any case.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(text.trim()))
    }

    /// The severity as Wavefront spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "INFO",
            Self::Smoke => "SMOKE",
            Self::Warn => "WARN",
            Self::Severe => "SEVERE",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
