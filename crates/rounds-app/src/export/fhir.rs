//! The list as a FHIR R4 `List` in a `collection` Bundle.
//!
//! The profile (`PROFILE_URL`), as written here:
//! - `List.status` `current`, `mode` `working`, `title` the list's name,
//!   `date` the export's time, `source.display` who exported it,
//!   `identifier` the list's id (system `urn:rounds:list`).
//! - One `List.entry` per patient, in the order shown; `entry.date` is
//!   when the patient was added to the list.
//! - An EHR patient's `entry.item` is an absolute reference to the
//!   Patient on the team's FHIR server (`{base}/Patient/{id}`), with
//!   `display` the name shown. A patient typed in by hand is a contained
//!   Patient (`#p{n}`: name, MRN as identifier with system
//!   `urn:rounds:team:{teamId}:mrn`, gender, birthDate).
//! - Each shown column's value of the entry is one extension
//!   `EXTENSION_URL` on the entry, with the sub-extensions `column` (the
//!   column key, valueString), `label` (valueString), `value` (typed:
//!   valueString, valueDecimal, valueDate, valueDateTime, valueBoolean, or
//!   valueCoding for a choice with system `urn:rounds:column:{columnId}`)
//!   and, for a value read from the EHR, `source` `ehr` and `recorded`
//!   (valueDateTime or valueString: when it was measured or recorded).
//!   Empty cells are left out.

use serde_json::{json, Map, Value};

use super::{CellValue, ListSheet, SheetKind, SheetRow};

/// The canonical URL of the profile the exported List follows.
pub const PROFILE_URL: &str = "urn:rounds:fhir:StructureDefinition:rounds-list";
/// The extension carrying one column's value of a list entry.
pub const EXTENSION_URL: &str = "urn:rounds:fhir:StructureDefinition:list-entry-value";

fn typed_value(value: &CellValue, column_key: &str) -> Option<(&'static str, Value)> {
    Some(match value {
        CellValue::Empty => return None,
        CellValue::Text(t) => ("valueString", json!(t)),
        CellValue::Number(n) => ("valueDecimal", json!(n)),
        CellValue::Date(d) => ("valueDate", json!(d.to_string())),
        CellValue::DateTime(t) => ("valueDateTime", json!(t.to_rfc3339())),
        CellValue::Bool(b) => ("valueBoolean", json!(b)),
        CellValue::Choice { id, label, .. } => (
            "valueCoding",
            json!({ "system": format!("urn:rounds:column:{column_key}"), "code": id, "display": label }),
        ),
    })
}

/// FHIR dateTime accepts a date, or a time with its zone; anything else
/// an EHR gave is kept as text.
fn recorded(at: &str) -> (&'static str, Value) {
    let date_like = at.len() == 10 && at.as_bytes().get(4) == Some(&b'-');
    if date_like || rounds_core::Timestamp::parse(at).is_some() && at.contains('T') {
        ("valueDateTime", json!(at))
    } else {
        ("valueString", json!(at))
    }
}

fn contained_patient(sheet: &ListSheet, row: &SheetRow, id: &str) -> Value {
    let p = &row.patient;
    let mut patient = Map::new();
    patient.insert("resourceType".into(), json!("Patient"));
    patient.insert("id".into(), json!(id));
    if !p.mrn.is_empty() {
        patient.insert(
            "identifier".into(),
            json!([{ "system": format!("urn:rounds:team:{}:mrn", sheet.team_id), "value": p.mrn }]),
        );
    }
    let mut name = Map::new();
    if !p.family.is_empty() {
        name.insert("family".into(), json!(p.family));
    }
    if !p.given.is_empty() {
        name.insert("given".into(), json!([p.given]));
    }
    if !name.is_empty() {
        patient.insert("name".into(), json!([name]));
    }
    if !p.sex.is_empty() {
        patient.insert("gender".into(), json!(p.sex));
    }
    if !p.birth_date.is_empty() {
        patient.insert("birthDate".into(), json!(p.birth_date));
    }
    Value::Object(patient)
}

fn entry(sheet: &ListSheet, row: &SheetRow, item: Value) -> Value {
    let mut extensions = Vec::new();
    for (column, cell) in sheet.columns.iter().zip(&row.cells) {
        let Some((kind, value)) = typed_value(&cell.value, &column.key) else {
            continue;
        };
        let mut parts = vec![
            json!({ "url": "column", "valueString": column.key }),
            json!({ "url": "label", "valueString": column.label }),
            json!({ "url": "value", kind: value }),
        ];
        if matches!(column.kind, SheetKind::Ehr(_)) {
            parts.push(json!({ "url": "source", "valueString": "ehr" }));
            if let Some(at) = &cell.at {
                let (kind, value) = recorded(at);
                parts.push(json!({ "url": "recorded", kind: value }));
            }
        }
        extensions.push(json!({ "url": EXTENSION_URL, "extension": parts }));
    }
    let mut e = json!({ "item": item, "date": row.added_at.to_rfc3339() });
    if !extensions.is_empty() {
        e["extension"] = Value::Array(extensions);
    }
    e
}

/// The Bundle.
pub(super) fn bundle(sheet: &ListSheet) -> Value {
    let mut contained = Vec::new();
    let mut entries = Vec::new();
    for row in &sheet.rows {
        let display = if row.name.is_empty() {
            row.patient.mrn.clone()
        } else {
            row.name.clone()
        };
        let item = match &row.ehr {
            Some(r) => json!({
                "reference": format!("{}/Patient/{}", r.server.trim_end_matches('/'), r.id),
                "type": "Patient",
                "display": display,
            }),
            None => {
                let id = format!("p{}", contained.len() + 1);
                contained.push(contained_patient(sheet, row, &id));
                json!({ "reference": format!("#{id}"), "type": "Patient", "display": display })
            }
        };
        entries.push(entry(sheet, row, item));
    }
    let mut list = json!({
        "resourceType": "List",
        "id": sheet.list_id.to_string(),
        "meta": { "profile": [PROFILE_URL] },
        "identifier": [{ "system": "urn:rounds:list", "value": sheet.list_id.to_string() }],
        "status": "current",
        "mode": "working",
        "title": sheet.list_name,
        "date": sheet.exported_at.to_rfc3339(),
        "source": { "display": sheet.exported_by },
    });
    if !sheet.view.is_empty() {
        list["note"] = json!([{ "text": format!("Exported as shown: {}", sheet.view) }]);
    }
    if !contained.is_empty() {
        list["contained"] = Value::Array(contained);
    }
    if entries.is_empty() {
        list["emptyReason"] = json!({ "text": "no patients in this view" });
    } else {
        list["entry"] = Value::Array(entries);
    }
    json!({
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": sheet.exported_at.to_rfc3339(),
        "entry": [{
            "fullUrl": format!("urn:uuid:{}", sheet.list_id),
            "resource": list,
        }],
    })
}
