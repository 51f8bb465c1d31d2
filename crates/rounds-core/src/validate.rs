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

/// What a stored text may hold. Every text that reaches the store or a
/// query goes through [`text`] (or [`checked_chars`]) with one of these, so
/// both databases see the same characters: PostgreSQL cannot store U+0000,
/// and nothing else refused here is ever needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    /// One line (a text column value, an MRN, a unit, a client id, a
    /// search term): no control characters at all (C0 including tab and
    /// line feed, DEL, C1) and no line or paragraph separator.
    Line,
    /// Several lines (a note, a long-text value): line feed and tab are
    /// kept, CR LF and a lone CR become a line feed; no other control
    /// characters.
    Lines,
    /// A name people tell things apart by (a person, a patient, a team, a
    /// list, a column, a column set, a choice option, an EHR connection):
    /// one line, and no invisible format characters either (Unicode
    /// category Cf: the bidirectional controls U+202A–U+202E, U+2066–U+2069,
    /// U+200E/U+200F and U+061C, zero-width spaces and joiners, the soft
    /// hyphen, the byte-order mark, …) nor the Hangul fillers that show as
    /// nothing.
    Name,
    /// A person's name (an account's display name, a patient's family and
    /// given names): as [`TextKind::Name`], but the zero-width non-joiner
    /// and joiner (U+200C, U+200D) are allowed, because scripts such as
    /// Persian and several Indic ones spell names with them. These names
    /// need not be unique, so an invisible joiner cannot make a look-alike
    /// pass as another; direction controls stay refused.
    PersonName,
}

/// Characters that render as blank although they are letters.
const INVISIBLE_LETTERS: [char; 4] = ['\u{115F}', '\u{1160}', '\u{3164}', '\u{FFA0}'];

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// Whether `kind` refuses `c` (after line ends were normalised).
pub fn refuses(kind: TextKind, c: char) -> bool {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
    match kind {
        TextKind::Lines => c.is_control() && c != '\n' && c != '\t',
        TextKind::Line => c.is_control() || matches!(c, '\u{2028}' | '\u{2029}'),
        TextKind::Name => {
            refuses(TextKind::Line, c)
                || c.general_category() == GeneralCategory::Format
                || INVISIBLE_LETTERS.contains(&c)
        }
        TextKind::PersonName => !matches!(c, '\u{200C}' | '\u{200D}') && refuses(TextKind::Name, c),
    }
}

fn refusal(field: &str, kind: TextKind, c: char) -> InvalidInput {
    let code = format!("U+{:04X}", u32::from(c));
    let message = if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
        match kind {
            TextKind::Lines => format!(
                "must not contain control characters other than line breaks and tabs (found {code})"
            ),
            _ => format!(
                "must be one line without control characters such as line breaks or tabs (found {code})"
            ),
        }
    } else if is_bidi_control(c) {
        format!("must not contain characters that change the text direction (found {code})")
    } else {
        format!("must not contain invisible characters (found {code})")
    };
    InvalidInput::new(field.to_owned(), message)
}

/// `raw` trimmed, with CR LF and CR as LF for [`TextKind::Lines`], or the
/// first character `kind` refuses, named with its code point and `field`.
pub fn checked_chars(field: &str, raw: &str, kind: TextKind) -> Result<String, InvalidInput> {
    let value = match kind {
        TextKind::Lines if raw.contains('\r') => raw.replace("\r\n", "\n").replace('\r', "\n"),
        _ => raw.to_owned(),
    };
    let value = value.trim();
    match value.chars().find(|c| refuses(kind, *c)) {
        Some(c) => Err(refusal(field, kind, c)),
        None => Ok(value.to_owned()),
    }
}

/// A text as stored: trimmed, checked for its kind and at most `max`
/// characters; None when nothing is left (the caller decides whether
/// empty is allowed).
pub fn text(
    field: &str,
    raw: &str,
    kind: TextKind,
    max: usize,
) -> Result<Option<String>, InvalidInput> {
    let value = checked_chars(field, raw, kind)?;
    let len = value.chars().count();
    if len > max {
        return Err(InvalidInput::new(
            field.to_owned(),
            format!("is {len} characters long; at most {max} are allowed"),
        ));
    }
    Ok((!value.is_empty()).then_some(value))
}

/// A text that must not be empty.
pub fn required_text(
    field: &str,
    raw: &str,
    kind: TextKind,
    max: usize,
) -> Result<String, InvalidInput> {
    text(field, raw, kind, max)?
        .ok_or_else(|| InvalidInput::new(field.to_owned(), "must not be empty"))
}

/// A query parameter (a search term, a filter): one line, any length the
/// URL allows; None when empty.
pub fn query_text(field: &str, raw: &str) -> Result<Option<String>, InvalidInput> {
    text(field, raw, TextKind::Line, usize::MAX)
}

/// Names the current [`name_key`] rule; stored keys made under another
/// rule are made again when the database is opened.
pub const NAME_KEY_RULE: &str = "nfkc-casefold-space/1";

/// The form two names are compared in: compatibility-normalised (NFKC:
/// full-width letters, ligatures and the no-break space become their plain
/// forms), case-folded (so "STRASSE" meets "straße") and with every run of
/// white space as one space. Names whose keys are equal are the same name.
pub fn name_key(name: &str) -> String {
    use caseless::Caseless;
    use unicode_normalization::UnicodeNormalization;
    let folded: String = name
        .chars()
        .nfd()
        .default_case_fold()
        .nfkd()
        .default_case_fold()
        .nfkc()
        .collect();
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn check_text(field: &'static str, raw: &str, max: usize) -> Result<String, InvalidInput> {
    required_text(field, raw, TextKind::Name, max)
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

    /// What someone typed as a username at sign-in, as it is recorded
    /// (audit, throttling) whether or not it is a valid username: trimmed,
    /// lower case, at most 64 characters, and every character a name may
    /// not hold (a NUL, a direction override, …) shown as U+FFFD.
    pub fn as_typed(raw: &str) -> String {
        raw.trim()
            .to_lowercase()
            .chars()
            .take(USERNAME_MAX)
            .map(|c| {
                if refuses(TextKind::Name, c) {
                    char::REPLACEMENT_CHARACTER
                } else {
                    c
                }
            })
            .collect()
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
    required_text("displayName", raw, TextKind::PersonName, DISPLAY_NAME_MAX)
}

/// A care team's name: 1 to 100 characters, unique by [`name_key`].
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

    /// The form two names are compared in for uniqueness ([`name_key`]).
    pub fn key(&self) -> String {
        name_key(&self.0)
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

    #[test]
    fn stored_text_rule() {
        let line = |s: &str| checked_chars("f", s, TextKind::Line);
        let lines = |s: &str| checked_chars("f", s, TextKind::Lines);
        let name = |s: &str| checked_chars("f", s, TextKind::Name);
        for bad in [
            "ad\u{0}min",
            "a\tb",
            "a\nb",
            "a\u{7f}b",
            "a\u{85}b",
            "a\u{2028}b",
        ] {
            assert!(line(bad).is_err(), "{bad:?}");
        }
        let nul = line("ad\u{0}min").err().map(|e| (e.field, e.message));
        assert_eq!(
            nul.map(|(f, m)| (f.into_owned(), m.contains("U+0000"))),
            Some(("f".to_owned(), true))
        );
        assert_eq!(
            lines(" one\r\ntwo\rthree\tfour\n"),
            Ok("one\ntwo\nthree\tfour".into())
        );
        assert!(lines("a\u{0}b").is_err());
        assert!(lines("a\u{1b}[31mb").is_err());
        assert_eq!(
            line("Ward 7B · bed 3 — 38,5 °C"),
            Ok("Ward 7B · bed 3 — 38,5 °C".into())
        );
        for bad in [
            "Ward\u{202e}B7",
            "a\u{2066}b",
            "a\u{200f}b",
            "a\u{061c}b",
            "a\u{200b}b",
            "Ward\u{200d}7",
            "a\u{ad}b",
            "\u{feff}Ward",
            "a\u{3164}b",
        ] {
            assert!(name(bad).is_err(), "{bad:?}");
            assert!(line(bad).is_ok(), "{bad:?} is a fine line");
        }
        let rlo = name("x\u{202e}y").err().map(|e| e.message);
        assert!(rlo.is_some_and(|m| m.contains("direction") && m.contains("U+202E")));
        assert_eq!(
            name("Élodie Åström-Nuñez"),
            Ok("Élodie Åström-Nuñez".into())
        );
        assert_eq!(name("病棟 7"), Ok("病棟 7".into()));
        assert!(TeamName::parse("Ward\u{202e}7").is_err());
        assert!(display_name("Eve\u{202e}").is_err());
        // Persian spells names with the zero-width non-joiner: a person's
        // name keeps it; a team's or list's name does not.
        let persian = "\u{0645}\u{06cc}\u{200c}\u{0646}\u{0627}";
        assert_eq!(display_name(persian), Ok(persian.to_owned()));
        assert_eq!(
            checked_chars("family", persian, TextKind::PersonName),
            Ok(persian.to_owned())
        );
        assert!(TeamName::parse(persian).is_err());
        assert!(checked_chars("family", "a\u{200b}b", TextKind::PersonName).is_err());
        assert!(checked_chars("family", "a\u{202e}b", TextKind::PersonName).is_err());
        assert_eq!(text("f", "   ", TextKind::Line, 5), Ok(None));
        assert!(text("f", "abcdef", TextKind::Line, 5).is_err());
    }

    #[test]
    fn names_compare_by_their_key() {
        let key = |s: &str| TeamName::parse(s).map(|n| n.key());
        assert_eq!(key("Ward 7B"), Ok("ward 7b".into()));
        assert_eq!(key("Ward\u{a0}7B"), key("Ward 7B"));
        assert_eq!(key("Ｗａｒｄ 7B"), key("Ward 7B"));
        assert_eq!(key("WARD   7b"), key("Ward 7B"));
        assert_eq!(name_key("STRASSE"), name_key("Straße"));
        assert_eq!(name_key("ﬁsh"), name_key("FISH"));
        assert_ne!(name_key("Ward 7B"), name_key("Ward 7C"));
        assert_ne!(
            name_key("Élodie"),
            name_key("Elodie"),
            "accents still count"
        );
    }

    #[test]
    fn typed_usernames_are_storable() {
        assert_eq!(Username::as_typed(" Ad\u{0}Min "), "ad\u{fffd}min");
        assert_eq!(Username::as_typed("x\u{202e}y"), "x\u{fffd}y");
        assert_eq!(Username::as_typed(&"A".repeat(80)).len(), 64);
    }
}
