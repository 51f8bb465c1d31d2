//! I-PASS hand-off of a patient: Illness severity, Patient summary, Action
//! list (the patient's tasks), Situation awareness and contingency, and
//! Synthesis by the receiver.

use std::fmt;
use std::str::FromStr;

use crate::Timestamp;

/// The longest text of each I-PASS part, in characters.
pub const IPASS_TEXT_MAX: usize = 4000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Severity {
    Stable,
    Watcher,
    Unstable,
}

impl Severity {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Stable => "stable",
            Self::Watcher => "watcher",
            Self::Unstable => "unstable",
        }
    }

    pub const fn label(self) -> &'static str {
        match self {
            Self::Stable => "Stable",
            Self::Watcher => "Watcher",
            Self::Unstable => "Unstable",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "stable" => Ok(Self::Stable),
            "watcher" => Ok(Self::Watcher),
            "unstable" => Ok(Self::Unstable),
            other => Err(format!("{other:?} is not one of stable, watcher, unstable")),
        }
    }
}

/// A patient's I-PASS hand-off as last saved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ipass {
    pub severity: Option<Severity>,
    pub summary: String,
    /// Situation awareness and contingency ("if … then …").
    pub contingency: String,
    /// The receiver's synthesis.
    pub synthesis: String,
    /// 0 while nothing was saved; send it back to change it.
    pub version: i64,
    pub updated_at: Option<Timestamp>,
    pub updated_by: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_round_trip() {
        for s in [Severity::Stable, Severity::Watcher, Severity::Unstable] {
            assert_eq!(s.as_str().parse::<Severity>(), Ok(s));
        }
        assert!("critical".parse::<Severity>().is_err());
    }
}
