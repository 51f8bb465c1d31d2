//! Validated input values. Each constructor names the field it checks so a
//! refusal can tell the person exactly what to fix. The limits here are the
//! documented ones (README, "Input limits").

use std::borrow::Cow;
use std::fmt;

use serde::Serialize;

/// Input that breaks a rule; `field` is the name the API and forms use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidInput {
    pub field: Cow<'static, str>,
    pub message: String,
}

impl InvalidInput {
    pub fn new(field: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

pub const USERNAME_MAX: usize = 64;
pub const DISPLAY_NAME_MAX: usize = 100;
pub const TEAM_NAME_MAX: usize = 100;
pub const PASSWORD_MIN: usize = 12;
pub const PASSWORD_MAX: usize = 256;

fn check_text(field: &'static str, raw: &str, max: usize) -> Result<String, InvalidInput> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(InvalidInput::new(field, "must not be empty"));
    }
    let len = value.chars().count();
    if len > max {
        return Err(InvalidInput::new(
            field,
            format!("is {len} characters long; at most {max} are allowed"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(InvalidInput::new(
            field,
            "must not contain control characters such as line breaks or tabs",
        ));
    }
    Ok(value.to_owned())
}

/// A sign-in name: 2 to 64 of `a-z 0-9 . _ -`, starting with a letter or digit.
/// Compared without regard to case; kept in lower case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Username(String);

impl Username {
    pub const FIELD: &'static str = "username";

    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let value = check_text(Self::FIELD, raw, USERNAME_MAX)?.to_lowercase();
        if value.chars().count() < 2 {
            return Err(InvalidInput::new(
                Self::FIELD,
                "must be at least 2 characters long",
            ));
        }
        let mut chars = value.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
        let rest_ok = value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
        if !first_ok || !rest_ok {
            return Err(InvalidInput::new(
                Self::FIELD,
                "may hold only letters a-z, digits and . _ - and must start with a letter or digit",
            ));
        }
        Ok(Self(value))
    }

    /// A value read back from storage, where it was validated on the way in.
    pub fn from_trusted(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    /// Honours width and alignment (`{:<24}`), as `str` does.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

/// A person's name as shown to their team: 1 to 100 characters.
pub fn display_name(raw: &str) -> Result<String, InvalidInput> {
    check_text("displayName", raw, DISPLAY_NAME_MAX)
}

/// A care team's name: 1 to 100 characters, unique without regard to case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct TeamName(String);

impl TeamName {
    pub const FIELD: &'static str = "name";

    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        check_text(Self::FIELD, raw, TEAM_NAME_MAX).map(Self)
    }

    pub fn from_trusted(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form two names are compared in for uniqueness.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// A password as typed. Its `Debug` never shows it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// A new password a person chose: 12 to 256 characters.
    pub fn new_choice(field: &'static str, raw: &str) -> Result<Self, InvalidInput> {
        let len = raw.chars().count();
        if len < PASSWORD_MIN {
            return Err(InvalidInput::new(
                field,
                format!("must be at least {PASSWORD_MIN} characters long"),
            ));
        }
        if len > PASSWORD_MAX {
            return Err(InvalidInput::new(
                field,
                format!("must be at most {PASSWORD_MAX} characters long"),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// A password offered at sign-in; only its length is bounded.
    pub fn offered(raw: &str) -> Option<Self> {
        (raw.chars().count() <= PASSWORD_MAX).then(|| Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert_eq!(
            Username::parse(" Alice.B ").map(|u| u.0),
            Ok("alice.b".into())
        );
        assert_eq!(
            Username::parse("a").map_err(|e| e.field),
            Err("username".into())
        );
        assert!(Username::parse("-x").is_err());
        assert!(Username::parse("bob smith").is_err());
        assert!(Username::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn team_names_and_passwords() {
        assert!(TeamName::parse("  ").is_err());
        assert!(TeamName::parse("Ward\n7").is_err());
        assert_eq!(
            TeamName::parse("Ward 7B").map(|n| n.key()),
            Ok("ward 7b".into())
        );
        assert!(Password::new_choice("password", "short").is_err());
        let p = Password::new_choice("password", "correct horse battery");
        assert_eq!(format!("{p:?}"), "Ok(Password([redacted]))");
    }
}
