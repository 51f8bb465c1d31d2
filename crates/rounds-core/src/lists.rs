//! Patient lists: the patient's own fields, the list's columns, choice
//! options, and how a typed value is stored (the column types and their
//! value checks are `column_type.rs`).
//!
//! Every value is stored as text in a canonical form chosen by its type
//! (numbers as shortest decimal, dates as `YYYY-MM-DD`, date-times as RFC
//! 3339 UTC, checkboxes as `true`/`false`, choices by option id, people by
//! user id), so sorting and comparing need no database types.
//!
//! (Over 500 lines with its tests; the code, under 420 lines, is the list's
//! columns: built-in, EHR and team, their keys and resolved form.)

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::validate::{name_key, InvalidInput, TextKind};
use crate::vitals::{Vital, BLOOD_PRESSURE_PANEL};
use crate::{ColumnId, Timestamp};

use crate::column_type::{bounded, text_of};
pub use crate::column_type::{normalize_value, ColumnType, ValueForm};

pub const LIST_NAME_MAX: usize = 100;
pub const COLUMN_LABEL_MAX: usize = 60;
pub const TEXT_MAX: usize = 500;
pub const LONG_TEXT_MAX: usize = 10_000;
pub const NOTE_MAX: usize = 10_000;
pub const CHOICE_OPTIONS_MAX: usize = 50;
pub const UNIT_MAX: usize = 20;

/// The patient's own fields, kept for every patient of the team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PatientField {
    Family,
    Given,
    Mrn,
    BirthDate,
    Sex,
    Ward,
    Room,
    Bed,
}

impl PatientField {
    pub const ALL: [PatientField; 8] = [
        Self::Family,
        Self::Given,
        Self::Mrn,
        Self::BirthDate,
        Self::Sex,
        Self::Ward,
        Self::Room,
        Self::Bed,
    ];

    pub const fn key(self) -> &'static str {
        match self {
            Self::Family => "family",
            Self::Given => "given",
            Self::Mrn => "mrn",
            Self::BirthDate => "birthDate",
            Self::Sex => "sex",
            Self::Ward => "ward",
            Self::Room => "room",
            Self::Bed => "bed",
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.key() == key)
    }

    /// Checks and normalises a value typed for this field; None clears it.
    pub fn normalize(self, raw: &Value) -> Result<Option<String>, InvalidInput> {
        let field = self.key();
        match self {
            Self::BirthDate => {
                let v = normalize_value(field, ColumnType::Date, &[], raw)?;
                if let Some(date) = &v {
                    if Timestamp::parse(date).is_some_and(|t| t > Timestamp::now()) {
                        return Err(InvalidInput::new("birthDate", "lies in the future"));
                    }
                }
                Ok(v)
            }
            Self::Sex => match text_of(field, raw)?.as_deref() {
                None => Ok(None),
                Some(s @ ("female" | "male" | "other" | "unknown")) => Ok(Some(s.to_owned())),
                Some(other) => Err(InvalidInput::new(
                    "sex",
                    format!("{other:?} is not one of female, male, other, unknown"),
                )),
            },
            // What identifies a patient holds no invisible characters.
            Self::Family | Self::Given => bounded(field, raw, TextKind::PersonName, 100),
            Self::Mrn => bounded(field, raw, TextKind::Name, 64),
            Self::Ward | Self::Room | Self::Bed => bounded(field, raw, TextKind::Name, 50),
        }
    }
}

/// The columns every list can show that come from the patient's own fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BuiltinColumn {
    Name,
    Mrn,
    AgeSex,
    BirthDate,
    Location,
    Added,
    /// Open tasks and the next due time (read-only).
    Tasks,
}

impl BuiltinColumn {
    pub const ALL: [BuiltinColumn; 7] = [
        Self::Name,
        Self::Mrn,
        Self::AgeSex,
        Self::BirthDate,
        Self::Location,
        Self::Added,
        Self::Tasks,
    ];

    pub const fn key(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Mrn => "mrn",
            Self::AgeSex => "ageSex",
            Self::BirthDate => "birthDate",
            Self::Location => "location",
            Self::Added => "added",
            Self::Tasks => "tasks",
        }
    }

    pub const fn label(self) -> &'static str {
        match self {
            Self::Name => "Name",
            Self::Mrn => "MRN",
            Self::AgeSex => "Age/sex",
            Self::BirthDate => "Born",
            Self::Location => "Location",
            Self::Added => "Added",
            Self::Tasks => "Tasks",
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.key() == key)
    }
}

/// Columns read live from the team's EHR (the built-in name, MRN, age/sex,
/// birth date and location columns also show EHR values for EHR patients).
/// The vital-sign columns take their codes, labels and units from the
/// catalog in [`crate::vitals`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EhrColumn {
    EncounterStatus,
    EncounterType,
    EncounterStart,
    HeartRate,
    BloodPressure,
    RespiratoryRate,
    Temperature,
    Spo2,
    Weight,
    Height,
    Bmi,
    /// The early-warning score computed from the vital signs.
    News2,
    Conditions,
    Allergies,
    Medications,
    Coverage,
    Gp,
}

impl EhrColumn {
    pub const ALL: [EhrColumn; 17] = [
        Self::EncounterStatus,
        Self::EncounterType,
        Self::EncounterStart,
        Self::HeartRate,
        Self::BloodPressure,
        Self::RespiratoryRate,
        Self::Temperature,
        Self::Spo2,
        Self::Weight,
        Self::Height,
        Self::Bmi,
        Self::News2,
        Self::Conditions,
        Self::Allergies,
        Self::Medications,
        Self::Coverage,
        Self::Gp,
    ];

    /// The single vital sign the column shows (blood pressure shows two).
    pub const fn vital(self) -> Option<Vital> {
        match self {
            Self::HeartRate => Some(Vital::HeartRate),
            Self::RespiratoryRate => Some(Vital::RespiratoryRate),
            Self::Temperature => Some(Vital::Temperature),
            Self::Spo2 => Some(Vital::Spo2),
            Self::Weight => Some(Vital::Weight),
            Self::Height => Some(Vital::Height),
            Self::Bmi => Some(Vital::Bmi),
            _ => None,
        }
    }

    pub const fn key(self) -> &'static str {
        match self {
            Self::EncounterStatus => "encounterStatus",
            Self::EncounterType => "encounterType",
            Self::EncounterStart => "encounterStart",
            Self::BloodPressure => "bloodPressure",
            Self::News2 => "news2",
            Self::Conditions => "conditions",
            Self::Allergies => "allergies",
            Self::Medications => "medications",
            Self::Coverage => "coverage",
            Self::Gp => "gp",
            vital => match vital.vital() {
                Some(v) => v.key(),
                None => "",
            },
        }
    }

    pub const fn label(self) -> &'static str {
        match self {
            Self::EncounterStatus => "Encounter status",
            Self::EncounterType => "Encounter type",
            Self::EncounterStart => "Admitted",
            Self::BloodPressure => "BP",
            Self::News2 => "NEWS2",
            Self::Conditions => "Problems",
            Self::Allergies => "Allergies",
            Self::Medications => "Medications",
            Self::Coverage => "Coverage",
            Self::Gp => "GP",
            vital => match vital.vital() {
                Some(v) => v.abbreviation(),
                None => "",
            },
        }
    }

    /// What the label means, for the header's tooltip.
    pub const fn description(self) -> &'static str {
        match self {
            Self::EncounterStatus => "Status of the latest encounter",
            Self::EncounterType => "Type of the latest encounter",
            Self::EncounterStart => "Start of the latest encounter",
            Self::BloodPressure => "Blood pressure, systolic/diastolic",
            Self::News2 => "National Early Warning Score 2 from respiration rate, SpO₂ (scale 1), systolic blood pressure, pulse and temperature; partial: the EHR queries give neither consciousness nor air or oxygen",
            Self::Conditions => "Active problems",
            Self::Allergies => "Allergies and intolerances",
            Self::Medications => "Medication orders",
            Self::Coverage => "Insurance coverage",
            Self::Gp => "General practitioner",
            vital => match vital.vital() {
                Some(v) => v.name(),
                None => "",
            },
        }
    }

    /// The LOINC codes whose latest value the column shows (vital signs).
    pub const fn loinc(self) -> &'static [&'static str] {
        match self {
            Self::BloodPressure => BLOOD_PRESSURE_PANEL,
            other => match other.vital() {
                Some(v) => v.loinc(),
                None => &[],
            },
        }
    }

    /// Whether the column holds numbers (sorted and filtered as numbers).
    pub const fn is_numeric(self) -> bool {
        matches!(self, Self::BloodPressure | Self::News2) || self.vital().is_some()
    }

    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.key() == key)
    }
}

/// What a list shows in one column: a built-in column, an EHR column or a
/// team column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnKey {
    Builtin(BuiltinColumn),
    Ehr(EhrColumn),
    Team(ColumnId),
}

impl fmt::Display for ColumnKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Builtin(b) => f.write_str(b.key()),
            Self::Ehr(e) => f.write_str(e.key()),
            Self::Team(id) => write!(f, "{id}"),
        }
    }
}

impl FromStr for ColumnKey {
    type Err = InvalidInput;
    fn from_str(s: &str) -> Result<Self, InvalidInput> {
        if let Some(b) = BuiltinColumn::from_key(s) {
            return Ok(Self::Builtin(b));
        }
        if let Some(e) = EhrColumn::from_key(s) {
            return Ok(Self::Ehr(e));
        }
        s.parse().map(Self::Team).map_err(|_| {
            InvalidInput::new(
                "column",
                format!("{s:?} is neither a built-in column (name, mrn, ageSex, birthDate, location, added, tasks), an EHR column (encounterStatus, encounterType, encounterStart, heartRate, bloodPressure, respiratoryRate, temperature, spo2, weight, height, bmi, news2, conditions, allergies, medications, coverage, gp) nor a column id"),
            )
        })
    }
}

/// One option of a choice column, such as "critical" in red.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChoiceOption {
    /// Stable id the values refer to; kept when the label changes.
    #[serde(default)]
    pub id: String,
    pub label: String,
    /// `#rrggbb`.
    #[serde(default = "default_colour")]
    pub color: String,
}

/// The colour of an option given none.
pub const DEFAULT_OPTION_COLOR: &str = "#6b7280";

fn default_colour() -> String {
    DEFAULT_OPTION_COLOR.to_owned()
}

/// Checks a column's choice options, giving new ones an id.
pub fn normalize_options(
    options: Vec<ChoiceOption>,
    new_id: impl Fn() -> String,
) -> Result<Vec<ChoiceOption>, InvalidInput> {
    if options.len() > CHOICE_OPTIONS_MAX {
        return Err(InvalidInput::new(
            "options",
            format!("at most {CHOICE_OPTIONS_MAX} options"),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(options.len());
    for mut option in options {
        option.label = crate::validate::checked_chars("options", &option.label, TextKind::Name)?;
        if option.label.is_empty() || option.label.chars().count() > COLUMN_LABEL_MAX {
            return Err(InvalidInput::new(
                "options",
                format!("each option needs a label of 1 to {COLUMN_LABEL_MAX} characters"),
            ));
        }
        if !seen.insert(name_key(&option.label)) {
            return Err(InvalidInput::new(
                "options",
                format!("the option {:?} appears twice", option.label),
            ));
        }
        let colour_ok = option.color.len() == 7
            && option.color.starts_with('#')
            && option.color[1..].chars().all(|c| c.is_ascii_hexdigit());
        if !colour_ok {
            return Err(InvalidInput::new(
                "options",
                format!("the colour {:?} is not of the form #rrggbb", option.color),
            ));
        }
        if option.id.is_empty() {
            option.id = new_id();
        } else {
            option.id = crate::validate::checked_chars("options", &option.id, TextKind::Name)?;
        }
        out.push(option);
    }
    Ok(out)
}

/// Shortest decimal form: 37 not 37.0, 37.5 stays.
pub fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// Whole years between `birth` (YYYY-MM-DD) and `today`.
pub fn age_on(birth: &str, today: time::Date) -> Option<i32> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let b = time::Date::parse(birth, &format).ok()?;
    let mut years = today.year() - b.year();
    if (today.month() as u8, today.day()) < (b.month() as u8, b.day()) {
        years -= 1;
    }
    (years >= 0).then_some(years)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn opts() -> Vec<ChoiceOption> {
        normalize_options(
            vec![
                ChoiceOption {
                    id: String::new(),
                    label: "Stable".into(),
                    color: "#22aa55".into(),
                },
                ChoiceOption {
                    id: String::new(),
                    label: "Critical".into(),
                    color: "#cc2222".into(),
                },
            ],
            || crate::ColumnId::new_random().to_string(),
        )
        .unwrap_or_default()
    }

    #[test]
    fn values_are_checked_by_type() {
        let n = |v: Value| normalize_value("c", ColumnType::Number, &[], &v);
        assert_eq!(n(json!(37.0)), Ok(Some("37".into())));
        assert_eq!(n(json!("37,5")), Ok(Some("37.5".into())));
        assert!(n(json!("warm")).is_err());
        assert_eq!(n(json!("")), Ok(None));
        let d = |v: Value| normalize_value("c", ColumnType::Date, &[], &v);
        assert_eq!(d(json!("2026-02-28")), Ok(Some("2026-02-28".into())));
        assert!(d(json!("2026-02-30")).is_err(), "an impossible date");
        let dt = normalize_value(
            "c",
            ColumnType::DateTime,
            &[],
            &json!("2026-11-22T09:30:00+01:00"),
        );
        assert_eq!(dt, Ok(Some("2026-11-22T08:30:00Z".into())));
        let o = opts();
        let c = |v: Value| normalize_value("c", ColumnType::Choice, &o, &v);
        assert_eq!(c(json!("critical")), Ok(Some(o[1].id.clone())));
        assert!(c(json!("dead")).is_err());
        let b = |v: Value| normalize_value("c", ColumnType::Checkbox, &[], &v);
        assert_eq!(b(json!(true)), Ok(Some("true".into())));
        assert!(b(json!("yes")).is_err());
        let t = normalize_value("c", ColumnType::Text, &[], &json!("x".repeat(501)));
        assert!(t.is_err());
        assert!(normalize_value("c", ColumnType::Text, &[], &json!(5)).is_err());
    }

    #[test]
    fn patient_fields() {
        assert_eq!(
            PatientField::Sex.normalize(&json!("female")),
            Ok(Some("female".into()))
        );
        assert!(PatientField::Sex.normalize(&json!("f")).is_err());
        assert!(PatientField::BirthDate
            .normalize(&json!("2999-01-01"))
            .is_err());
        assert_eq!(
            PatientField::Family.normalize(&json!("  Nightingale ")),
            Ok(Some("Nightingale".into()))
        );
    }

    #[test]
    fn options_and_ages() {
        assert_eq!(opts().len(), 2);
        let dup = normalize_options(
            vec![
                ChoiceOption {
                    id: String::new(),
                    label: "A".into(),
                    color: "#000000".into(),
                },
                ChoiceOption {
                    id: String::new(),
                    label: "a".into(),
                    color: "#000000".into(),
                },
            ],
            String::new,
        );
        assert!(dup.is_err());
        let today = time::macros::date!(2026 - 11 - 22);
        assert_eq!(age_on("1950-11-22", today), Some(76));
        assert_eq!(age_on("1950-11-23", today), Some(75));
        assert_eq!(age_on("bad", today), None);
    }
}

/// A patient list of a team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientList {
    pub id: crate::ListId,
    pub team_id: crate::TeamId,
    pub name: String,
    pub position: i64,
    pub created_at: Timestamp,
    pub is_default: bool,
}

/// A column the team made (its values belong to the team's patients, so a
/// patient's value shows on every list that has the column).
#[derive(Debug, Clone, PartialEq)]
pub struct TeamColumn {
    pub id: ColumnId,
    pub label: String,
    pub kind: ColumnType,
    pub unit: Option<String>,
    pub options: Vec<ChoiceOption>,
}

/// A column as one list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListColumn {
    pub key: ColumnKey,
    pub position: i64,
    pub hidden: bool,
    pub width: Option<i64>,
}

/// A stored value with its version (0 for a field never set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldValue {
    pub value: Option<String>,
    pub version: i64,
    pub updated_at: Timestamp,
    pub updated_by: Option<crate::UserId>,
}

/// A patient's place on a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    pub patient_id: crate::PatientId,
    pub position: i64,
    pub added_at: Timestamp,
    pub added_by: Option<crate::UserId>,
}

/// A note about a patient, visible to the whole team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub id: crate::NoteId,
    pub patient_id: crate::PatientId,
    pub author_id: crate::UserId,
    pub author_name: String,
    pub body: String,
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub deleted: bool,
}

/// One column of a saved column set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SchemaColumn {
    pub key: String,
    #[serde(default)]
    pub hidden: bool,
    #[serde(default)]
    pub width: Option<i64>,
}

/// A named column set of the team, to start new lists from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnSchema {
    pub id: crate::SchemaId,
    pub name: String,
    pub columns: Vec<SchemaColumn>,
    pub updated_at: Timestamp,
}
