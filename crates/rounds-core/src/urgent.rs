//! Urgent notes: a note that alerts the people it is addressed to, again
//! at the team's interval until one of them acknowledges it, and that is
//! escalated to the team's owners after the team's number of repeats.

use std::fmt;
use std::str::FromStr;

use crate::{Timestamp, UserId};

/// Whom an urgent note is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Audience {
    /// Every member of the team.
    Team,
    /// The team's owners.
    Owners,
    /// The members named with the note.
    Members,
}

impl Audience {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Team => "team",
            Self::Owners => "owners",
            Self::Members => "members",
        }
    }
}

impl fmt::Display for Audience {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Audience {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "team" => Ok(Self::Team),
            "owners" => Ok(Self::Owners),
            "members" => Ok(Self::Members),
            other => Err(format!("{other:?} is not one of team, owners, members")),
        }
    }
}

/// How an urgent note stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrgentState {
    pub audience: Audience,
    /// The named members (audience `Members`).
    pub recipients: Vec<UserId>,
    pub sent_at: Timestamp,
    /// Re-notifications so far.
    pub repeats: i64,
    /// When it is due to alert again; `None` once acknowledged.
    pub next_notify_at: Option<Timestamp>,
    pub escalated_at: Option<Timestamp>,
    pub acknowledged: Option<Acknowledgement>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledgement {
    pub by: UserId,
    pub by_name: String,
    pub at: Timestamp,
}

/// The team's rule for urgent notes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrgentRule {
    /// Seconds between alerts while nobody has acknowledged.
    pub interval_secs: i64,
    /// Re-notifications after which the owners are alerted too.
    pub escalate_after: i64,
}

impl Default for UrgentRule {
    fn default() -> Self {
        Self {
            interval_secs: 300,
            escalate_after: 3,
        }
    }
}

/// The next alert time after `due` (the one that just fell due): one
/// interval later, or, when the clock was stopped for longer than that, the
/// first interval boundary after `now`, so that the schedule keeps to the
/// times the note was sent at and never drifts.
pub fn next_after(due: Timestamp, now: Timestamp, interval_secs: i64) -> Timestamp {
    let step = interval_secs.max(1).saturating_mul(1000);
    let behind = now.millis().saturating_sub(due.millis());
    let steps = if behind < 0 { 1 } else { behind / step + 1 };
    Timestamp::from_millis(due.millis().saturating_add(steps.saturating_mul(step)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_keeps_to_the_interval() {
        let t = Timestamp::from_millis;
        assert_eq!(next_after(t(10_000), t(10_050), 5), t(15_000));
        // Woken late (a stopped clock): the next boundary after now.
        assert_eq!(next_after(t(10_000), t(27_000), 5), t(30_000));
        assert_eq!(next_after(t(10_000), t(9_000), 5), t(15_000));
    }

    #[test]
    fn audiences_round_trip() {
        for a in [Audience::Team, Audience::Owners, Audience::Members] {
            assert_eq!(a.as_str().parse::<Audience>(), Ok(a));
        }
        assert!("everyone".parse::<Audience>().is_err());
    }
}
