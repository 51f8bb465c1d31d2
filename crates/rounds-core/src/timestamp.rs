//! Instants as whole milliseconds since the Unix epoch, UTC. Stored as a
//! 64-bit integer in both databases; shown as RFC 3339.

use std::fmt;

use serde::{Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub fn now() -> Self {
        Self::from_datetime(OffsetDateTime::now_utc())
    }

    pub const fn from_millis(ms: i64) -> Self {
        Self(ms)
    }

    pub const fn millis(self) -> i64 {
        self.0
    }

    pub fn from_datetime(dt: OffsetDateTime) -> Self {
        let ms = dt.unix_timestamp_nanos() / 1_000_000;
        Self(i64::try_from(ms).unwrap_or(i64::MAX))
    }

    /// Parses RFC 3339 (`2026-11-22T08:00:00Z`) or a plain date (`2026-11-22`,
    /// read as midnight UTC).
    pub fn parse(s: &str) -> Option<Self> {
        if let Ok(dt) = OffsetDateTime::parse(s, &Rfc3339) {
            return Some(Self::from_datetime(dt));
        }
        let format = time::macros::format_description!("[year]-[month]-[day]");
        time::Date::parse(s, &format)
            .ok()
            .map(|d| Self::from_datetime(d.midnight().assume_utc()))
    }

    pub fn plus_secs(self, secs: u64) -> Self {
        let ms = i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        Self(self.0.saturating_add(ms))
    }

    pub fn minus_secs(self, secs: u64) -> Self {
        let ms = i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        Self(self.0.saturating_sub(ms))
    }

    pub fn to_rfc3339(self) -> String {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000)
            .ok()
            .and_then(|dt| dt.format(&Rfc3339).ok())
            .unwrap_or_else(|| format!("@{}ms", self.0))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dates_and_instants() {
        let a = Timestamp::parse("2026-11-22").map(Timestamp::millis);
        let b = Timestamp::parse("2026-11-22T00:00:00Z").map(Timestamp::millis);
        assert_eq!(a, b);
        assert!(a.is_some());
        assert_eq!(Timestamp::parse("22/11/2026"), None);
        assert_eq!(
            Timestamp::from_millis(0).to_rfc3339(),
            "1970-01-01T00:00:00Z"
        );
    }
}
