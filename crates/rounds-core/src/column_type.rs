//! The types of a team column, and everything that differs between them:
//! the name and label, the value check and stored form, whether the type
//! takes a unit or options, and how other layers treat its values
//! ([`ValueForm`]). Every `match` on [`ColumnType`] is in this file, so
//! adding a type is one variant here and the compiler points at each
//! place that must say how the new type behaves; the browser's half is
//! the `COLUMN_TYPES` table in `rounds-web/static/rounds.js` (a test
//! checks that it names every type of [`ColumnType::ALL`]).

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::lists::{format_number, ChoiceOption, LONG_TEXT_MAX, TEXT_MAX};
use crate::validate::{name_key, InvalidInput, TextKind};
use crate::Timestamp;

/// The type of a team column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ColumnType {
    Text,
    LongText,
    Number,
    Date,
    DateTime,
    Choice,
    Checkbox,
    Person,
}

/// What a stored value is, whatever the type's editor: how an export
/// writes it, how an import reads a spreadsheet cell for it, how it is
/// compared. A new column type whose values are one of these needs
/// nothing outside this file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueForm {
    /// Free text (one line or several).
    Text,
    /// A number in shortest decimal form.
    Number,
    /// `YYYY-MM-DD`.
    Date,
    /// RFC 3339 UTC.
    DateTime,
    /// The id of one of the column's options.
    Choice,
    /// `true` or `false`.
    Checkbox,
    /// A user id (a member of the team).
    Person,
}

impl ColumnType {
    /// Every type, in the order the column form offers them.
    pub const ALL: [Self; 8] = [
        Self::Text,
        Self::LongText,
        Self::Number,
        Self::Date,
        Self::DateTime,
        Self::Choice,
        Self::Checkbox,
        Self::Person,
    ];

    /// The name in the API and in storage.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::LongText => "longText",
            Self::Number => "number",
            Self::Date => "date",
            Self::DateTime => "dateTime",
            Self::Choice => "choice",
            Self::Checkbox => "checkbox",
            Self::Person => "person",
        }
    }

    /// What the pages call the type ("Date and time").
    pub const fn label(self) -> &'static str {
        match self {
            Self::Text => "Text",
            Self::LongText => "Long text",
            Self::Number => "Number",
            Self::Date => "Date",
            Self::DateTime => "Date and time",
            Self::Choice => "Choice (status)",
            Self::Checkbox => "Checkbox",
            Self::Person => "Person (team member)",
        }
    }

    /// What a stored value of the type is.
    pub const fn value_form(self) -> ValueForm {
        match self {
            Self::Text | Self::LongText => ValueForm::Text,
            Self::Number => ValueForm::Number,
            Self::Date => ValueForm::Date,
            Self::DateTime => ValueForm::DateTime,
            Self::Choice => ValueForm::Choice,
            Self::Checkbox => ValueForm::Checkbox,
            Self::Person => ValueForm::Person,
        }
    }

    /// A column of the type may have a unit ("mmHg").
    pub const fn takes_unit(self) -> bool {
        matches!(self.value_form(), ValueForm::Number)
    }

    /// A column of the type has options, and needs at least one.
    pub const fn takes_options(self) -> bool {
        matches!(self.value_form(), ValueForm::Choice)
    }

    /// The import page offers to make a new column of the type. (A person
    /// column is matched to members by name, which a new column of an
    /// imported file rarely is: the page does not offer it, the API takes it.)
    pub const fn offered_on_import(self) -> bool {
        !matches!(self, Self::Person)
    }

    /// Checks a value typed into a column of the type and returns its
    /// stored form; None clears the cell. `field` names the column in
    /// errors; `options` are a choice column's.
    pub fn normalize(
        self,
        field: &str,
        options: &[ChoiceOption],
        raw: &Value,
    ) -> Result<Option<String>, InvalidInput> {
        let bad = |message: String| InvalidInput::new(field.to_owned(), message);
        match self {
            Self::Text => bounded(field, raw, TextKind::Line, TEXT_MAX),
            Self::LongText => bounded(field, raw, TextKind::Lines, LONG_TEXT_MAX),
            Self::Number => {
                let n = match raw {
                    Value::Null => return Ok(None),
                    Value::Number(n) => n.as_f64(),
                    Value::String(s) if s.trim().is_empty() => return Ok(None),
                    Value::String(s) => s.trim().replace(',', ".").parse::<f64>().ok(),
                    other => {
                        return Err(bad(format!("expected a number, got {}", json_kind(other))))
                    }
                };
                match n {
                    Some(n) if n.is_finite() => Ok(Some(format_number(n))),
                    _ => Err(bad(format!("{raw} is not a number"))),
                }
            }
            Self::Date => {
                let Some(s) = text_of(field, raw)? else {
                    return Ok(None);
                };
                let format = time::macros::format_description!("[year]-[month]-[day]");
                time::Date::parse(&s, &format)
                    .map(|d| Some(d.to_string()))
                    .map_err(|_| {
                        bad(format!(
                            "{s:?} is not a date; use YYYY-MM-DD, e.g. 2026-11-22"
                        ))
                    })
            }
            Self::DateTime => {
                let Some(s) = text_of(field, raw)? else {
                    return Ok(None);
                };
                let parsed =
                    time::OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339)
                        .map_err(|_| {
                            bad(format!(
                        "{s:?} is not a date and time; use RFC 3339, e.g. 2026-11-22T08:30:00Z"
                    ))
                        })?;
                Ok(Some(Timestamp::from_datetime(parsed).to_rfc3339()))
            }
            Self::Choice => {
                let Some(s) = text_of(field, raw)? else {
                    return Ok(None);
                };
                options
                    .iter()
                    .find(|o| o.id == s || name_key(&o.label) == name_key(&s))
                    .map(|o| Some(o.id.clone()))
                    .ok_or_else(|| {
                        let labels: Vec<&str> = options.iter().map(|o| o.label.as_str()).collect();
                        bad(format!(
                            "{s:?} is not one of the column's options ({})",
                            labels.join(", ")
                        ))
                    })
            }
            Self::Checkbox => match raw {
                Value::Null => Ok(None),
                Value::Bool(b) => Ok(Some(b.to_string())),
                Value::String(s) if s == "true" || s == "false" => Ok(Some(s.clone())),
                other => Err(bad(format!(
                    "expected true or false, got {}",
                    json_kind(other)
                ))),
            },
            Self::Person => {
                let Some(s) = text_of(field, raw)? else {
                    return Ok(None);
                };
                s.parse::<crate::UserId>()
                    .map(|id| Some(id.to_string()))
                    .map_err(|_| bad(format!("{s:?} is not a user id")))
            }
        }
    }
}

impl FromStr for ColumnType {
    type Err = InvalidInput;
    fn from_str(s: &str) -> Result<Self, InvalidInput> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.into_iter().map(Self::as_str).collect();
                InvalidInput::new("type", format!("{s:?} is not one of {}", names.join(", ")))
            })
    }
}

/// Checks a value typed into a column of type `kind` and returns its stored
/// form; None clears the cell. `field` names the column in errors.
pub fn normalize_value(
    field: &str,
    kind: ColumnType,
    options: &[ChoiceOption],
    raw: &Value,
) -> Result<Option<String>, InvalidInput> {
    kind.normalize(field, options, raw)
}

pub(crate) fn text_of(field: &str, raw: &Value) -> Result<Option<String>, InvalidInput> {
    match raw {
        Value::Null => Ok(None),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => Ok(Some(s.trim().to_owned())),
        other => Err(InvalidInput::new(
            field.to_owned(),
            format!("expected text, got {}", json_kind(other)),
        )),
    }
}

/// A text value of `kind` (see [`TextKind`]), at most `max` characters.
pub(crate) fn bounded(
    field: &str,
    raw: &Value,
    kind: TextKind,
    max: usize,
) -> Result<Option<String>, InvalidInput> {
    match text_of(field, raw)? {
        None => Ok(None),
        Some(s) => crate::validate::text(field, &s, kind, max),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "true/false",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_round_trips_by_name_and_has_a_label() {
        for t in ColumnType::ALL {
            assert_eq!(t.as_str().parse::<ColumnType>(), Ok(t));
            assert_eq!(
                serde_json::to_value(t).ok(),
                Some(Value::String(t.as_str().to_owned()))
            );
            assert!(!t.label().is_empty());
        }
        let err = "url".parse::<ColumnType>().err().map(|e| e.message);
        assert_eq!(
            err.as_deref(),
            Some("\"url\" is not one of text, longText, number, date, dateTime, choice, checkbox, person")
        );
    }

    /// `ALL` holds every variant: serde's derived refusal of an unknown
    /// name lists them all, so a variant left out of `ALL` fails here.
    #[test]
    fn all_holds_every_variant() {
        let refusal = serde_json::from_value::<ColumnType>(Value::String("?".into()))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        let listed = refusal
            .split_once("expected one of ")
            .map_or("", |(_, rest)| rest);
        let names: Vec<String> = ColumnType::ALL
            .into_iter()
            .map(|t| format!("`{}`", t.as_str()))
            .collect();
        assert!(listed.starts_with(&names.join(", ")), "{refusal}");
        assert_eq!(listed.matches('`').count(), 2 * names.len(), "{refusal}");
    }

    #[test]
    fn only_numbers_take_a_unit_and_only_choices_options() {
        let units: Vec<_> = ColumnType::ALL
            .into_iter()
            .filter(|t| t.takes_unit())
            .collect();
        assert_eq!(units, [ColumnType::Number]);
        let options: Vec<_> = ColumnType::ALL
            .into_iter()
            .filter(|t| t.takes_options())
            .collect();
        assert_eq!(options, [ColumnType::Choice]);
    }
}
