//! The text each column shows for a patient, and checking the values
//! typed into fields.

use std::collections::{BTreeMap, HashMap, HashSet};

use rounds_core::lists::{
    age_on, normalize_value, BuiltinColumn, ColumnType, FieldValue, ListEntry, PatientField,
    TeamColumn,
};
use rounds_core::validate::InvalidInput;
use serde_json::Value;

use super::{Context, PatientRow};
use crate::ehr::{row_cells, EhrCell, EhrPatientData};
use crate::AppError;

pub(super) fn raw<'a>(values: &'a HashMap<String, FieldValue>, key: &str) -> &'a str {
    values
        .get(key)
        .and_then(|v| v.value.as_deref())
        .unwrap_or("")
}

pub(super) fn builtin_display(
    ctx: &Context,
    b: BuiltinColumn,
    values: &HashMap<String, FieldValue>,
    entry: Option<&ListEntry>,
) -> String {
    match b {
        BuiltinColumn::Name => {
            let (family, given) = (raw(values, "family"), raw(values, "given"));
            match (family.is_empty(), given.is_empty()) {
                (false, false) => format!("{}, {given}", family.to_uppercase()),
                (false, true) => family.to_uppercase(),
                _ => given.to_owned(),
            }
        }
        BuiltinColumn::Mrn => raw(values, "mrn").to_owned(),
        BuiltinColumn::AgeSex => {
            let age = age_on(raw(values, "birthDate"), ctx.today)
                .map(|a| a.to_string())
                .unwrap_or_default();
            let sex = match raw(values, "sex") {
                "female" => "F",
                "male" => "M",
                "other" => "X",
                "unknown" => "?",
                _ => "",
            };
            format!("{age} {sex}").trim().to_owned()
        }
        BuiltinColumn::BirthDate => raw(values, "birthDate").to_owned(),
        BuiltinColumn::Location => ["ward", "room", "bed"]
            .iter()
            .map(|k| raw(values, k))
            .filter(|v| !v.is_empty())
            .collect::<Vec<_>>()
            .join(" · "),
        BuiltinColumn::Added => entry.map(|e| e.added_at.to_rfc3339()).unwrap_or_default(),
        // Filled in from the tasks by the list view.
        BuiltinColumn::Tasks => String::new(),
    }
}

pub(super) fn team_display(ctx: &Context, column: &TeamColumn, value: &str) -> String {
    if value.is_empty() {
        return String::new();
    }
    match column.kind {
        ColumnType::Number => match &column.unit {
            Some(unit) => format!("{value} {unit}"),
            None => value.to_owned(),
        },
        ColumnType::Choice => column
            .options
            .iter()
            .find(|o| o.id == value)
            .map_or_else(String::new, |o| o.label.clone()),
        ColumnType::Checkbox => {
            if value == "true" {
                "✓".to_owned()
            } else {
                String::new()
            }
        }
        ColumnType::Person => ctx.person(value),
        _ => value.to_owned(),
    }
}

pub(super) fn make_row(
    ctx: &Context,
    entry: ListEntry,
    values: HashMap<String, FieldValue>,
    duplicates: &HashSet<String>,
) -> PatientRow {
    let mut display = BTreeMap::new();
    for b in BuiltinColumn::ALL {
        display.insert(
            b.key().to_owned(),
            builtin_display(ctx, b, &values, Some(&entry)),
        );
    }
    for column in &ctx.team_columns {
        let key = column.id.to_string();
        display.insert(key.clone(), team_display(ctx, column, raw(&values, &key)));
    }
    let duplicate_mrn = duplicates.contains(raw(&values, "mrn"));
    PatientRow {
        patient_id: entry.patient_id,
        entry,
        values,
        display,
        duplicate_mrn,
        latest_note: None,
        ehr: None,
        cells: BTreeMap::new(),
        tasks: Default::default(),
        severity: None,
    }
}

/// Puts a row's EHR data in its display and cells. A built-in column shows
/// the EHR's value; when the EHR has none (or failed), what the team typed
/// for a linked patient stays.
pub(super) fn apply_ehr(
    display: &mut BTreeMap<String, String>,
    cells: &mut BTreeMap<String, EhrCell>,
    data: &EhrPatientData,
    wanted: Option<&HashSet<String>>,
) {
    let mut put = |key: &str, text: &str, cell: &EhrCell| {
        let builtin = BuiltinColumn::from_key(key).is_some();
        if builtin && text.is_empty() && display.get(key).is_some_and(|t| !t.is_empty()) {
            return;
        }
        display.insert(key.to_owned(), text.to_owned());
        cells.insert(key.to_owned(), cell.clone());
    };
    match &data.rendered {
        // Rendered when read: only the wanted ones are taken.
        Some(rendered) => {
            for (key, (text, cell)) in &rendered.cells {
                if wanted.is_none_or(|w| w.contains(key)) {
                    put(key, text, cell);
                }
            }
        }
        None => {
            for (key, (text, cell)) in row_cells(data, wanted) {
                put(&key, &text, &cell);
            }
        }
    }
}

/// Checks one field of a patient and returns its stored form.
pub(super) fn normalize_field(
    ctx: &Context,
    key: &str,
    value: &Value,
) -> Result<Option<String>, AppError> {
    if let Some(field) = PatientField::from_key(key) {
        return Ok(field.normalize(value)?);
    }
    let column = ctx.column(key).ok_or_else(|| {
        InvalidInput::new(key.to_owned(), "is neither a patient field (family, given, mrn, birthDate, sex, ward, room, bed) nor a column of this team")
    })?;
    let stored = normalize_value(key, column.kind, &column.options, value)?;
    if column.kind == ColumnType::Person {
        if let Some(id) = &stored {
            if !ctx.members.iter().any(|m| m.user_id.to_string() == *id) {
                return Err(
                    InvalidInput::new(key.to_owned(), "is not a member of this team").into(),
                );
            }
        }
    }
    Ok(stored)
}
