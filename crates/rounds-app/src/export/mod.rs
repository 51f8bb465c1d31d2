//! Export of a list as its members see it: the list's visible columns in
//! their order, its rows sorted, filtered and searched as asked, as CSV,
//! Excel, a FHIR `List` in a `collection` Bundle, or a sheet to print.
//!
//! One typed table ([`ListSheet`]) is built from the list view, and each
//! format writes it; values read from the EHR carry the time they were
//! measured or recorded. Every export is recorded as ExportInitiation with
//! the format, the list and the patients it holds.

mod fhir;
mod xlsx;

use rounds_core::audit::{Operation, Outcome};
use rounds_core::lists::{BuiltinColumn, ColumnKey, ColumnType, EhrColumn, ValueForm};
use rounds_core::view::{Direction, ViewSpec};
use rounds_core::{ListId, PatientId, TeamId, Timestamp};
use rounds_store::ehr::EhrRef;
use serde_json::json;

use crate::csv_out::CsvWriter;
use crate::patients::{ListView, PatientRow};
use crate::{Actor, App, AppError};

pub use fhir::{EXTENSION_URL, PROFILE_URL};

/// The formats a list is exported in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListFormat {
    /// UTF-8 with a byte order mark, formulas neutralised.
    Csv,
    /// An Excel workbook with typed cells.
    Xlsx,
    /// A FHIR R4 `List` in a `collection` Bundle.
    Fhir,
    /// A sheet for printing (the web layer renders it).
    Print,
}

impl ListFormat {
    pub const ALL: [ListFormat; 4] = [Self::Csv, Self::Xlsx, Self::Fhir, Self::Print];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Xlsx => "xlsx",
            Self::Fhir => "fhir",
            Self::Print => "print",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=utf-8",
            Self::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Self::Fhir => "application/fhir+json",
            Self::Print => "text/html; charset=utf-8",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Xlsx => "xlsx",
            Self::Fhir => "json",
            Self::Print => "html",
        }
    }
}

/// What a column holds, which decides how each format writes it.
#[derive(Debug, Clone, PartialEq)]
pub enum SheetKind {
    Builtin(BuiltinColumn),
    Ehr(EhrColumn),
    Team(ColumnType),
}

#[derive(Debug, Clone)]
pub struct SheetColumn {
    /// The column key (built-in key, EHR key or team column id).
    pub key: String,
    pub label: String,
    pub kind: SheetKind,
    /// A number column's unit (the header names it; cells hold numbers).
    pub unit: Option<String>,
}

impl SheetColumn {
    /// The header a spreadsheet shows: the label, with the unit of a
    /// number column after it.
    pub fn header(&self) -> String {
        match &self.unit {
            Some(unit) => format!("{} ({unit})", self.label),
            None => self.label.clone(),
        }
    }

    /// EHR values carry the time they were measured or recorded, in a
    /// column of their own beside the value.
    pub fn timed(&self) -> bool {
        matches!(self.kind, SheetKind::Ehr(_))
    }
}

/// One typed value.
#[derive(Debug, Clone, PartialEq)]
pub enum CellValue {
    Empty,
    Text(String),
    Number(f64),
    Date(time::Date),
    DateTime(Timestamp),
    Bool(bool),
    Choice {
        id: String,
        label: String,
        color: String,
    },
}

#[derive(Debug, Clone)]
pub struct SheetCell {
    pub value: CellValue,
    /// The text the list shows.
    pub text: String,
    /// For EHR values: when the value was measured or recorded.
    pub at: Option<String>,
}

/// The patient's own fields, for formats that describe the patient.
#[derive(Debug, Clone, Default)]
pub struct SheetPatient {
    pub family: String,
    pub given: String,
    pub mrn: String,
    pub birth_date: String,
    pub sex: String,
}

#[derive(Debug, Clone)]
pub struct SheetRow {
    pub patient_id: PatientId,
    /// The patient's record in the team's EHR, for EHR patients.
    pub ehr: Option<EhrRef>,
    /// When the EHR data shown was read.
    pub ehr_read_at: Option<Timestamp>,
    pub added_at: Timestamp,
    pub patient: SheetPatient,
    /// The name as the list shows it.
    pub name: String,
    pub cells: Vec<SheetCell>,
}

/// A list as shown, typed, with who exported it and when.
#[derive(Debug, Clone)]
pub struct ListSheet {
    pub team_id: TeamId,
    pub list_id: ListId,
    pub list_name: String,
    pub columns: Vec<SheetColumn>,
    pub rows: Vec<SheetRow>,
    /// Patients on the list before filtering and search.
    pub total: usize,
    /// The sort, filters and search as words (empty when none).
    pub view: String,
    pub exported_by: String,
    pub exported_at: Timestamp,
}

/// A finished export.
pub struct ListExport {
    pub format: ListFormat,
    /// The file (empty for [`ListFormat::Print`], which the web layer renders).
    pub body: Vec<u8>,
    pub file_name: String,
    pub sheet: ListSheet,
}

fn date_of(raw: &str) -> Option<time::Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(raw.get(..10).unwrap_or(raw), &format).ok()
}

fn value_of<'a>(row: &'a PatientRow, key: &str) -> &'a str {
    row.values
        .get(key)
        .and_then(|v| v.value.as_deref())
        .unwrap_or("")
}

/// The typed cell of one column of one row.
fn cell(row: &PatientRow, column: &crate::ResolvedColumn) -> SheetCell {
    let key = column.key.to_string();
    let text = row.display.get(&key).cloned().unwrap_or_default();
    let ehr_cell = row.cells.get(&key);
    let at = ehr_cell.and_then(|c| c.at.clone());
    let text_value = |t: &str| {
        if t.is_empty() {
            CellValue::Empty
        } else {
            CellValue::Text(t.to_owned())
        }
    };
    let value = match (&column.key, &column.team) {
        (ColumnKey::Builtin(BuiltinColumn::BirthDate), _) => {
            let raw = ehr_cell
                .and_then(|c| c.raw.clone())
                .unwrap_or_else(|| value_of(row, "birthDate").to_owned());
            date_of(&raw).map_or_else(|| text_value(&text), CellValue::Date)
        }
        (ColumnKey::Builtin(BuiltinColumn::Added), _) => CellValue::DateTime(row.entry.added_at),
        (ColumnKey::Team(_), Some(team)) => {
            let raw = value_of(row, &key);
            if raw.is_empty() {
                CellValue::Empty
            } else {
                match team.kind.value_form() {
                    ValueForm::Number => raw
                        .parse::<f64>()
                        .map_or_else(|_| text_value(&text), CellValue::Number),
                    ValueForm::Date => {
                        date_of(raw).map_or_else(|| text_value(&text), CellValue::Date)
                    }
                    ValueForm::DateTime => {
                        Timestamp::parse(raw).map_or_else(|| text_value(&text), CellValue::DateTime)
                    }
                    ValueForm::Checkbox => CellValue::Bool(raw == "true"),
                    ValueForm::Choice => {
                        team.options
                            .iter()
                            .find(|o| o.id == raw)
                            .map_or(CellValue::Empty, |o| CellValue::Choice {
                                id: o.id.clone(),
                                label: o.label.clone(),
                                color: o.color.clone(),
                            })
                    }
                    ValueForm::Text | ValueForm::Person => text_value(&text),
                }
            }
        }
        _ => text_value(&text),
    };
    SheetCell { value, text, at }
}

fn describe_view(spec: &ViewSpec) -> String {
    let mut parts = Vec::new();
    if !spec.sort.is_empty() {
        let keys: Vec<String> = spec
            .sort
            .iter()
            .map(|s| {
                format!(
                    "{}{}",
                    s.column,
                    if s.direction == Direction::Descending {
                        " (descending)"
                    } else {
                        ""
                    }
                )
            })
            .collect();
        parts.push(format!("sorted by {}", keys.join(", ")));
    }
    if !spec.filters.is_empty() {
        parts.push(format!("{} filter(s)", spec.filters.len()));
    }
    if let Some(q) = &spec.search {
        parts.push(format!("search {q:?}"));
    }
    parts.join("; ")
}

/// A file name made of the list's name (letters, digits, `-`, `_`).
fn file_stem(name: &str) -> String {
    let stem: String = name
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { '-' })
        .collect::<String>()
        .split('-')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    if stem.is_empty() {
        "list".to_owned()
    } else {
        stem.chars().take(60).collect()
    }
}

impl ListSheet {
    fn from_view(
        view: &ListView,
        spec: &ViewSpec,
        refs: &std::collections::HashMap<PatientId, EhrRef>,
        actor: &Actor,
    ) -> Self {
        let shown: Vec<&crate::ResolvedColumn> =
            view.columns.iter().filter(|c| !c.hidden).collect();
        let columns = shown
            .iter()
            .map(|c| SheetColumn {
                key: c.key.to_string(),
                label: c.label.clone(),
                kind: match (&c.key, &c.team) {
                    (ColumnKey::Builtin(b), _) => SheetKind::Builtin(*b),
                    (ColumnKey::Ehr(e), _) => SheetKind::Ehr(*e),
                    (ColumnKey::Team(_), Some(t)) => SheetKind::Team(t.kind),
                    (ColumnKey::Team(_), None) => SheetKind::Team(ColumnType::Text),
                },
                unit: c
                    .team
                    .as_ref()
                    .filter(|t| t.kind.takes_unit())
                    .and_then(|t| t.unit.clone()),
            })
            .collect();
        let rows = view
            .rows
            .iter()
            .map(|row| SheetRow {
                patient_id: row.patient_id,
                ehr: refs.get(&row.patient_id).cloned(),
                ehr_read_at: row.ehr.as_ref().and_then(|e| e.fetched_at),
                added_at: row.entry.added_at,
                patient: SheetPatient {
                    family: value_of(row, "family").to_owned(),
                    given: value_of(row, "given").to_owned(),
                    mrn: row.display.get("mrn").cloned().unwrap_or_default(),
                    birth_date: value_of(row, "birthDate").to_owned(),
                    sex: value_of(row, "sex").to_owned(),
                },
                name: row.display.get("name").cloned().unwrap_or_default(),
                cells: shown.iter().map(|c| cell(row, c)).collect(),
            })
            .collect();
        Self {
            team_id: view.list.team_id,
            list_id: view.list.id,
            list_name: view.list.name.clone(),
            columns,
            rows,
            total: view.total,
            view: describe_view(spec),
            exported_by: actor.user.display_name.clone(),
            exported_at: Timestamp::now(),
        }
    }

    /// The header row as spreadsheets get it (EHR columns followed by
    /// their time column).
    pub fn headers(&self) -> Vec<String> {
        let mut out = Vec::new();
        for c in &self.columns {
            out.push(c.header());
            if c.timed() {
                out.push(format!("{} time", c.label));
            }
        }
        out
    }

    /// CSV: UTF-8 with a byte order mark (so spreadsheets read it as
    /// UTF-8), a header row, then one row per patient. Numbers in their
    /// plain form, dates `YYYY-MM-DD`, date-times RFC 3339 UTC, checkboxes
    /// `true`/`false`, choices by label.
    pub fn to_csv(&self) -> Result<Vec<u8>, AppError> {
        let mut w = CsvWriter::new();
        w.row(self.headers())?;
        for row in &self.rows {
            let mut cells = Vec::new();
            for (column, cell) in self.columns.iter().zip(&row.cells) {
                cells.push(match &cell.value {
                    CellValue::Empty => String::new(),
                    CellValue::Text(t) => t.clone(),
                    CellValue::Number(n) => rounds_core::lists::format_number(*n),
                    CellValue::Date(d) => d.to_string(),
                    CellValue::DateTime(t) => t.to_rfc3339(),
                    CellValue::Bool(b) => b.to_string(),
                    CellValue::Choice { label, .. } => label.clone(),
                });
                if column.timed() {
                    cells.push(cell.at.clone().unwrap_or_default());
                }
            }
            w.row(cells)?;
        }
        let mut body = "\u{feff}".as_bytes().to_vec();
        body.extend(w.finish()?);
        Ok(body)
    }
}

impl App {
    /// Exports a list as shown (any member). Recorded as ExportInitiation
    /// with the format, the list and the patients exported.
    pub async fn export_list(
        &self,
        actor: &Actor,
        team: TeamId,
        list: ListId,
        spec: &ViewSpec,
        format: ListFormat,
    ) -> Result<ListExport, AppError> {
        self.team_access(actor, team, crate::Need::Member, "exportList")
            .await?;
        let view = self.get_list(actor, team, list, spec).await?;
        let refs = {
            let mut conn = self.db.read().await?;
            rounds_store::ehr::refs_of_team(&mut conn, team).await?
        };
        let sheet = ListSheet::from_view(&view, spec, &refs, actor);
        let mut entry = self.entry_for(actor, Operation::ExportInitiation, Outcome::Success);
        entry.team_id = Some(team);
        entry.list_id = Some(list.to_string());
        entry.detail = json!({
            "what": "list",
            "format": format.as_str(),
            "list": sheet.list_name,
            "view": sheet.view,
            "columns": sheet.columns.iter().map(|c| c.key.clone()).collect::<Vec<_>>(),
            "patients": sheet.rows.iter().map(|r| r.patient_id.to_string()).collect::<Vec<_>>(),
        });
        self.record(entry).await?;
        let body = match format {
            ListFormat::Csv => sheet.to_csv()?,
            ListFormat::Xlsx => xlsx::write(&sheet)?,
            ListFormat::Fhir => fhir::bundle(&sheet).to_string().into_bytes(),
            ListFormat::Print => Vec::new(),
        };
        let stamp = sheet.exported_at.to_rfc3339().replace(':', "");
        let file_name = format!(
            "{}-{}.{}",
            file_stem(&sheet.list_name),
            stamp.get(..15).unwrap_or(&stamp),
            format.extension()
        );
        Ok(ListExport {
            format,
            body,
            file_name,
            sheet,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_safe() {
        assert_eq!(file_stem("Ward 3 / ICU: night"), "Ward-3-ICU-night");
        assert_eq!(file_stem("///"), "list");
        assert_eq!(file_stem("Étage 2"), "Étage-2");
    }

    #[test]
    fn formats_round_trip() {
        for f in ListFormat::ALL {
            assert_eq!(ListFormat::parse(f.as_str()), Some(f));
        }
        assert_eq!(ListFormat::parse("pdf"), None);
    }
}
