//! Import of patients into a list from a CSV or Excel file.
//!
//! The same request is sent twice: first for a preview (the file's headers
//! mapped to the list's columns, every cell checked by its column's type,
//! every problem by row and column, duplicate MRNs within the file and
//! against the team, EHR matches), then to confirm. Nothing is kept
//! between the two and nothing is written by a preview; the confirmed
//! import checks everything again and writes all rows in one transaction,
//! or none.
//!
//! Rows whose MRN the team already has are that patient: they are put on
//! the list (if not on it yet) and their fields are left as they are,
//! unless the request asks to update them (`update_existing`): then each
//! filled cell replaces the patient's value (empty cells leave a value as
//! it is; an EHR patient's demographics stay the EHR's), the preview
//! shows every change, and each updated patient is recorded as
//! PatientDetailsEdit.
//! Where the team has an EHR and the request asks for it, each other row
//! with an MRN is looked up in the EHR by identifier; a row matching
//! exactly one Patient is added as that EHR patient (its team columns
//! kept, its demographics read from the EHR), else as typed.

mod read;

use std::collections::{HashMap, HashSet};

use rounds_core::audit::Operation;
use rounds_core::lists::{
    normalize_options, normalize_value, ChoiceOption, ColumnKey, ColumnType, ListColumn,
    PatientField, TeamColumn, COLUMN_LABEL_MAX, DEFAULT_OPTION_COLOR,
};
use rounds_core::model::TeamMember;
use rounds_core::validate::{name_key, InvalidInput};
use rounds_core::{ColumnId, ListId, PatientId, TeamId, Timestamp};
use rounds_store::ehr::EhrRef;
use rounds_store::{lists, patients, teams};
use serde_json::{json, Value};

pub use read::{FileKind, RawCell};

use crate::access::{Need, Subject};
use crate::ehr::EhrSearch;
use crate::live::Change;
use crate::{Actor, App, AppError};

/// The largest file accepted, in bytes.
pub const MAX_FILE_BYTES: usize = 2 * 1024 * 1024;
/// The most data rows one file may have.
pub const MAX_ROWS: usize = 5000;
/// The most rows looked up in the EHR by MRN in one import.
pub const MAX_EHR_LOOKUPS: usize = 500;
/// Most distinct values a column may have to be guessed a choice.
const CHOICE_GUESS_MAX: usize = 8;

/// Where one of the file's columns goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Skip,
    /// `name` ("FAMILY, Given"), `location` ("ward · room · bed"), a
    /// patient field key (family, given, mrn, birthDate, sex, ward, room,
    /// bed) or a team column id.
    Field(String),
    /// A new team column, made by the import and shown on the list.
    NewColumn {
        label: String,
        kind: ColumnType,
    },
}

/// What was sent: the file, and (after a preview) the mapping chosen.
#[derive(Debug, Clone, Default)]
pub struct ImportRequest {
    pub file_name: String,
    pub bytes: Vec<u8>,
    /// One target per header of the file; None: the guessed mapping.
    pub mapping: Option<Vec<Target>>,
    /// Look rows with an MRN up in the team's EHR.
    pub match_ehr: bool,
    /// Update the fields of patients the team already has from the file.
    pub update_existing: bool,
}

/// One value an import would change on a patient the team has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    /// The stored key (a patient field or a column id).
    pub key: String,
    /// The column's name.
    pub label: String,
    pub from: Option<String>,
    pub to: String,
}

/// The changes to one patient the team has.
#[derive(Debug, Clone)]
pub struct PatientUpdate {
    pub row: usize,
    pub patient_id: PatientId,
    pub changes: Vec<FieldChange>,
}

#[derive(Debug, Clone)]
pub struct HeaderPlan {
    pub header: String,
    /// Where the preview maps it (or the request did).
    pub target: Target,
    /// The type a new column for it would have.
    pub guessed: ColumnType,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The row number in the file (the header is row 1); 0 for the file.
    pub row: usize,
    /// The file's header of the column, or empty for the whole row.
    pub column: String,
    pub message: String,
}

#[derive(Debug, Clone)]
pub enum DuplicateOf {
    Row(usize),
    Patient {
        patient_id: PatientId,
        name: String,
        on_list: bool,
    },
}

#[derive(Debug, Clone)]
pub struct Duplicate {
    pub row: usize,
    pub mrn: String,
    pub of: DuplicateOf,
}

#[derive(Debug, Clone)]
pub struct EhrMatch {
    pub row: usize,
    pub mrn: String,
    pub ehr_id: Option<String>,
    pub name: Option<String>,
    pub note: String,
}

/// A column a file's header can be mapped to.
#[derive(Debug, Clone)]
pub struct TargetOption {
    pub key: String,
    pub label: String,
    pub kind: String,
}

#[derive(Debug, Clone)]
pub struct ImportPreview {
    pub kind: FileKind,
    pub headers: Vec<HeaderPlan>,
    pub rows: usize,
    pub problems: Vec<Problem>,
    pub duplicates: Vec<Duplicate>,
    pub ehr: Vec<EhrMatch>,
    pub targets: Vec<TargetOption>,
    /// The first rows as text, for showing.
    pub sample: Vec<Vec<String>>,
    /// Rows that would add a new patient / put a team patient on the list.
    pub new_patients: usize,
    pub existing_patients: usize,
    /// Whether the team has an EHR to match rows in.
    pub ehr_available: bool,
    /// With `update_existing`: what would change on patients the team has.
    pub updates: Vec<PatientUpdate>,
}

#[derive(Debug, Clone, Default)]
pub struct ImportResult {
    pub added: usize,
    pub existing: usize,
    /// Patients the team had whose fields the file changed.
    pub updated: usize,
    pub ehr: usize,
    pub columns_created: usize,
}

/// A value headed for a column that exists or one the import makes.
#[derive(Debug, Clone, PartialEq)]
enum Key {
    Existing(String),
    New(usize),
}

#[derive(Debug, Clone)]
enum RowKind {
    New,
    Existing(PatientId),
    Ehr(String),
}

#[derive(Debug, Clone)]
struct PlannedRow {
    row: usize,
    mrn: String,
    values: Vec<(Key, String)>,
    kind: RowKind,
}

/// What a file's header means, by name (case, accents and a unit in
/// brackets aside).
fn header_key(header: &str) -> String {
    let base = match header.rfind('(') {
        Some(i) if header.trim_end().ends_with(')') && i > 0 => &header[..i],
        _ => header,
    };
    name_key(base.trim())
}

fn builtin_target(key: &str) -> Option<&'static str> {
    Some(match key {
        "name" | "patient" | "patient name" => "name",
        "family" | "family name" | "surname" | "last name" | "lastname" => "family",
        "given" | "given name" | "given names" | "first name" | "firstname" | "forename" => "given",
        "mrn" | "medical record number" | "record number" | "hospital number" => "mrn",
        "birthdate" | "birth date" | "born" | "date of birth" | "dob" => "birthDate",
        "sex" | "gender" => "sex",
        "ward" => "ward",
        "room" => "room",
        "bed" => "bed",
        "location" => "location",
        _ => return None,
    })
}

struct Context {
    columns: Vec<TeamColumn>,
    members: Vec<TeamMember>,
}

impl Context {
    fn column(&self, id: &str) -> Option<&TeamColumn> {
        self.columns.iter().find(|c| c.id.to_string() == id)
    }

    /// The target a header is matched to: a team column by label, else a
    /// patient field by name.
    fn guess(&self, header: &str) -> Target {
        let key = header_key(header);
        if key.is_empty() {
            return Target::Skip;
        }
        if let Some(c) = self.columns.iter().find(|c| name_key(&c.label) == key) {
            return Target::Field(c.id.to_string());
        }
        builtin_target(&key).map_or(Target::Skip, |k| Target::Field(k.to_owned()))
    }

    fn targets(&self) -> Vec<TargetOption> {
        let mut out = vec![
            TargetOption {
                key: "name".into(),
                label: "Name (FAMILY, Given)".into(),
                kind: "text".into(),
            },
            TargetOption {
                key: "location".into(),
                label: "Location (ward · room · bed)".into(),
                kind: "text".into(),
            },
        ];
        for (key, label) in [
            ("family", "Family name"),
            ("given", "Given names"),
            ("mrn", "MRN"),
            ("birthDate", "Birth date"),
            ("sex", "Sex"),
            ("ward", "Ward"),
            ("room", "Room"),
            ("bed", "Bed"),
        ] {
            out.push(TargetOption {
                key: key.into(),
                label: label.into(),
                kind: if key == "birthDate" { "date" } else { "text" }.into(),
            });
        }
        for c in &self.columns {
            out.push(TargetOption {
                key: c.id.to_string(),
                label: c.label.clone(),
                kind: c.kind.as_str().into(),
            });
        }
        out
    }
}

/// The type a new column for these cells would have.
fn guess_type(cells: &[&RawCell]) -> ColumnType {
    let filled: Vec<&&RawCell> = cells.iter().filter(|c| !c.is_empty()).collect();
    if filled.is_empty() {
        return ColumnType::Text;
    }
    let all = |f: fn(&RawCell) -> bool| filled.iter().all(|c| f(c));
    if all(|c| matches!(c, RawCell::Bool(_)) || checkbox_of(c).is_some()) {
        return ColumnType::Checkbox;
    }
    if all(|c| matches!(c, RawCell::Number(_)) || number_of(c).is_some()) {
        return ColumnType::Number;
    }
    if all(|c| matches!(c, RawCell::Date(_)) || date_of(c).is_some()) {
        return ColumnType::Date;
    }
    if all(|c| matches!(c, RawCell::DateTime(_) | RawCell::Date(_)) || datetime_of(c).is_some()) {
        return ColumnType::DateTime;
    }
    if filled.iter().any(|c| {
        let t = c.text();
        t.contains('\n') || t.chars().count() > rounds_core::lists::TEXT_MAX
    }) {
        return ColumnType::LongText;
    }
    let distinct: HashSet<String> = filled.iter().map(|c| name_key(&c.text())).collect();
    let short = filled
        .iter()
        .all(|c| c.text().chars().count() <= COLUMN_LABEL_MAX);
    if short && distinct.len() <= CHOICE_GUESS_MAX && distinct.len() < filled.len() {
        return ColumnType::Choice;
    }
    ColumnType::Text
}

fn number_of(c: &RawCell) -> Option<f64> {
    match c {
        RawCell::Number(n) => Some(*n),
        RawCell::Text(t) => t.trim().replace(',', ".").parse().ok(),
        _ => None,
    }
}

fn checkbox_of(c: &RawCell) -> Option<bool> {
    match c {
        RawCell::Bool(b) => Some(*b),
        RawCell::Text(t) => match t.trim().to_lowercase().as_str() {
            "true" | "yes" | "y" | "x" | "✓" | "✔" => Some(true),
            "false" | "no" | "n" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn date_of(c: &RawCell) -> Option<time::Date> {
    match c {
        RawCell::Date(d) => Some(*d),
        RawCell::Text(t) => {
            let t = t.trim();
            let iso = time::macros::format_description!("[year]-[month]-[day]");
            let dotted = time::macros::format_description!("[day].[month].[year]");
            time::Date::parse(t, &iso)
                .or_else(|_| time::Date::parse(t, &dotted))
                .ok()
        }
        _ => None,
    }
}

fn datetime_of(c: &RawCell) -> Option<Timestamp> {
    match c {
        RawCell::DateTime(t) => Some(*t),
        RawCell::Text(t) if t.contains('T') => Timestamp::parse(t.trim()),
        _ => None,
    }
}

/// The value a cell gives a column of `kind`, as the API would get it.
fn cell_json(cell: &RawCell, kind: ColumnType) -> Value {
    match kind {
        ColumnType::Number => number_of(cell).map_or_else(|| json!(cell.text()), |n| json!(n)),
        ColumnType::Date => date_of(cell).map_or_else(
            || match cell {
                RawCell::DateTime(t) => json!(t.to_rfc3339().get(..10).unwrap_or("")),
                RawCell::Number(n) => json!(rounds_core::lists::format_number(*n)),
                _ => json!(cell.text()),
            },
            |d| json!(d.to_string()),
        ),
        ColumnType::DateTime => match cell {
            RawCell::Date(d) => json!(format!("{d}T00:00:00Z")),
            _ => datetime_of(cell).map_or_else(|| json!(cell.text()), |t| json!(t.to_rfc3339())),
        },
        ColumnType::Checkbox => checkbox_of(cell).map_or_else(|| json!(cell.text()), |b| json!(b)),
        _ => json!(cell.text()),
    }
}

fn sex_of(text: &str) -> String {
    match text.trim().to_lowercase().as_str() {
        "f" | "w" | "female" | "woman" => "female".into(),
        "m" | "male" | "man" => "male".into(),
        "x" | "o" | "other" | "diverse" => "other".into(),
        "u" | "?" | "unknown" => "unknown".into(),
        other => other.to_owned(),
    }
}

/// Checks one row; its values by key, or its problems.
fn check_row(
    ctx: &Context,
    table_headers: &[String],
    targets: &[Target],
    new_columns: &[TeamColumn],
    row: usize,
    cells: &[RawCell],
    problems: &mut Vec<Problem>,
) -> Vec<(Key, String)> {
    let mut values: Vec<(Key, String)> = Vec::new();
    let before = problems.len();
    let mut put = |key: Key,
                   header: &str,
                   result: Result<Option<String>, InvalidInput>,
                   problems: &mut Vec<Problem>| match result {
        Ok(Some(v)) => values.push((key, v)),
        Ok(None) => {}
        Err(e) => problems.push(Problem {
            row,
            column: header.to_owned(),
            message: e.message,
        }),
    };
    for (i, target) in targets.iter().enumerate() {
        let header = table_headers.get(i).map_or("", String::as_str);
        let Some(cell) = cells.get(i) else { continue };
        if cell.is_empty() {
            continue;
        }
        match target {
            Target::Skip => {}
            Target::Field(k) if k == "name" => {
                let text = cell.text();
                let (family, given) = match text.split_once(',') {
                    Some((f, g)) => (f.trim().to_owned(), g.trim().to_owned()),
                    None => (text.trim().to_owned(), String::new()),
                };
                for (field, v) in [(PatientField::Family, family), (PatientField::Given, given)] {
                    if !v.is_empty() {
                        put(
                            Key::Existing(field.key().into()),
                            header,
                            field.normalize(&json!(v)),
                            problems,
                        );
                    }
                }
            }
            Target::Field(k) if k == "location" => {
                let text = cell.text();
                let parts: Vec<&str> = text.split('·').map(str::trim).collect();
                if parts.len() > 3 {
                    problems.push(Problem {
                        row,
                        column: header.to_owned(),
                        message: "a location is at most ward · room · bed".into(),
                    });
                    continue;
                }
                for (field, v) in [PatientField::Ward, PatientField::Room, PatientField::Bed]
                    .into_iter()
                    .zip(parts)
                {
                    put(
                        Key::Existing(field.key().into()),
                        header,
                        field.normalize(&json!(v)),
                        problems,
                    );
                }
            }
            Target::Field(k) => {
                if let Some(field) = PatientField::from_key(k) {
                    let raw = match field {
                        PatientField::BirthDate => cell_json(cell, ColumnType::Date),
                        PatientField::Sex => json!(sex_of(&cell.text())),
                        _ => json!(cell.text()),
                    };
                    put(
                        Key::Existing(k.clone()),
                        header,
                        field.normalize(&raw),
                        problems,
                    );
                } else if let Some(column) = ctx.column(k) {
                    let result = column_value(ctx, column, cell);
                    put(Key::Existing(k.clone()), header, result, problems);
                }
            }
            Target::NewColumn { .. } => {
                let n = targets[..i]
                    .iter()
                    .filter(|t| matches!(t, Target::NewColumn { .. }))
                    .count();
                if let Some(column) = new_columns.get(n) {
                    put(
                        Key::New(n),
                        header,
                        column_value(ctx, column, cell),
                        problems,
                    );
                }
            }
        }
    }
    let named = values
        .iter()
        .any(|(k, _)| matches!(k, Key::Existing(k) if k == "family" || k == "given" || k == "mrn"));
    if !named && problems.len() == before {
        problems.push(Problem {
            row,
            column: String::new(),
            message: "a patient needs a name or an MRN".into(),
        });
    }
    values
}

fn column_value(
    ctx: &Context,
    column: &TeamColumn,
    cell: &RawCell,
) -> Result<Option<String>, InvalidInput> {
    let label = column.label.as_str();
    if column.kind == ColumnType::Person {
        let text = cell.text();
        let key = name_key(&text);
        return ctx
            .members
            .iter()
            .find(|m| {
                m.user_id.to_string() == text
                    || name_key(&m.username.to_string()) == key
                    || name_key(&m.display_name) == key
            })
            .map(|m| Some(m.user_id.to_string()))
            .ok_or_else(|| {
                InvalidInput::new(
                    label.to_owned(),
                    format!("{text:?} is not a member of this team"),
                )
            });
    }
    normalize_value(
        label,
        column.kind,
        &column.options,
        &cell_json(cell, column.kind),
    )
}

/// The new columns the mapping asks for, checked (a choice gets the
/// file's distinct values as its options).
fn new_columns(
    table: &read::Table,
    targets: &[Target],
    problems: &mut Vec<Problem>,
) -> Vec<TeamColumn> {
    let mut out = Vec::new();
    for (i, target) in targets.iter().enumerate() {
        let Target::NewColumn { label, kind } = target else {
            continue;
        };
        let header = table.headers.get(i).cloned().unwrap_or_default();
        let checked = rounds_core::validate::required_text(
            "label",
            label,
            rounds_core::validate::TextKind::Name,
            COLUMN_LABEL_MAX,
        );
        let label = match checked {
            Ok(l) => l,
            Err(e) => {
                problems.push(Problem {
                    row: 0,
                    column: header.clone(),
                    message: format!("the new column's name: {}", e.message),
                });
                label.clone()
            }
        };
        let mut options = Vec::new();
        if *kind == ColumnType::Choice {
            let mut seen = HashSet::new();
            for (_, cells) in &table.rows {
                let text = cells.get(i).map(RawCell::text).unwrap_or_default();
                if !text.is_empty() && seen.insert(name_key(&text)) {
                    options.push(ChoiceOption {
                        id: String::new(),
                        label: text,
                        color: DEFAULT_OPTION_COLOR.to_owned(),
                    });
                }
            }
            match normalize_options(options, || {
                ColumnId::new_random().to_string()[..8].to_owned()
            }) {
                Ok(o) if !o.is_empty() => options = o,
                Ok(_) => {
                    problems.push(Problem {
                        row: 0,
                        column: header.clone(),
                        message: "a choice column needs values to make its options from".into(),
                    });
                    options = Vec::new();
                }
                Err(e) => {
                    problems.push(Problem {
                        row: 0,
                        column: header.clone(),
                        message: format!("as a choice column: {}", e.message),
                    });
                    options = Vec::new();
                }
            }
        }
        out.push(TeamColumn {
            id: ColumnId::new_random(),
            label,
            kind: *kind,
            unit: None,
            options,
        });
    }
    out
}

/// Everything a preview and an import share: the checked plan.
struct Plan {
    table: read::Table,
    headers: Vec<HeaderPlan>,
    new_columns: Vec<TeamColumn>,
    rows: Vec<PlannedRow>,
    problems: Vec<Problem>,
    duplicates: Vec<Duplicate>,
    ehr: Vec<EhrMatch>,
    targets: Vec<TargetOption>,
    has_ehr: bool,
    /// Patients of the team that are the EHR's (their demographics stay).
    ehr_patients: HashSet<PatientId>,
    /// With `update_existing`, the changes the preview shows.
    updates: Vec<PatientUpdate>,
}

impl Plan {
    /// The stored key of a planned value (None: a new column not made).
    fn stored_key(&self, key: &Key) -> Option<String> {
        match key {
            Key::Existing(k) => Some(k.clone()),
            Key::New(n) => self.new_columns.get(*n).map(|c| c.id.to_string()),
        }
    }

    /// What the row's filled cells would change on `patient`, whose values
    /// are `current`.
    fn changes(
        &self,
        row: &PlannedRow,
        patient: PatientId,
        current: &HashMap<String, rounds_core::lists::FieldValue>,
    ) -> Vec<FieldChange> {
        let ehr = self.ehr_patients.contains(&patient);
        let mut out = Vec::new();
        for (key, value) in &row.values {
            let Some(stored) = self.stored_key(key) else {
                continue;
            };
            if ehr && PatientField::from_key(&stored).is_some() {
                continue;
            }
            let from = current.get(&stored).and_then(|v| v.value.clone());
            if from.as_deref() == Some(value.as_str()) {
                continue;
            }
            let label = match key {
                Key::New(n) => self.new_columns.get(*n).map(|c| c.label.clone()),
                Key::Existing(k) => self.targets.iter().find(|t| &t.key == k).map(|t| {
                    t.label
                        .split(" (")
                        .next()
                        .unwrap_or(t.label.as_str())
                        .to_owned()
                }),
            }
            .unwrap_or_else(|| stored.clone());
            out.push(FieldChange {
                key: stored,
                label,
                from,
                to: value.clone(),
            });
        }
        out
    }
}

fn invalid_file(message: impl Into<String>) -> AppError {
    InvalidInput::new("file", message.into()).into()
}

impl App {
    async fn import_plan(
        &self,
        actor: &Actor,
        team: TeamId,
        list: ListId,
        request: &ImportRequest,
    ) -> Result<Plan, AppError> {
        self.team_access(actor, team, Need::Member, "importPatients")
            .await?;
        let mut conn = self.db.read().await?;
        self.list_in_team(&mut conn, actor, team, list).await?;
        let ctx = Context {
            columns: lists::team_columns(&mut conn, team).await?,
            members: teams::members(&mut conn, team).await?,
        };
        let team_values = patients::values_of_team(&mut conn, team).await?;
        let on_list: HashSet<PatientId> = patients::entries(&mut conn, list)
            .await?
            .into_iter()
            .map(|e| e.patient_id)
            .collect();
        let has_ehr = rounds_store::ehr::connection(&mut conn, team)
            .await
            .ok()
            .flatten()
            .is_some();
        let ehr_patients: HashSet<PatientId> = rounds_store::ehr::refs_of_team(&mut conn, team)
            .await?
            .into_keys()
            .collect();
        drop(conn);

        let table =
            read::read(&request.file_name, &request.bytes).map_err(|p| invalid_file(p.0))?;
        let mut problems = Vec::new();
        let targets: Vec<Target> = match &request.mapping {
            Some(m) if m.len() != table.headers.len() => {
                return Err(InvalidInput::new(
                    "mapping",
                    format!(
                        "the file has {} columns but the mapping names {}",
                        table.headers.len(),
                        m.len()
                    ),
                )
                .into())
            }
            Some(m) => m.clone(),
            None => table.headers.iter().map(|h| ctx.guess(h)).collect(),
        };
        let mut seen_targets: HashMap<String, usize> = HashMap::new();
        for (i, t) in targets.iter().enumerate() {
            if let Target::Field(k) = t {
                let known = k == "name"
                    || k == "location"
                    || PatientField::from_key(k).is_some()
                    || ctx.column(k).is_some();
                if !known {
                    return Err(InvalidInput::new(
                        "mapping",
                        format!("the team has no column {k:?} (column {})", i + 1),
                    )
                    .into());
                }
                if let Some(first) = seen_targets.insert(k.clone(), i) {
                    problems.push(Problem {
                        row: 0,
                        column: table.headers.get(i).cloned().unwrap_or_default(),
                        message: format!(
                            "goes to the same column as {:?}; map each column once",
                            table.headers.get(first).cloned().unwrap_or_default()
                        ),
                    });
                }
            }
        }
        let headers: Vec<HeaderPlan> = table
            .headers
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let cells: Vec<&RawCell> =
                    table.rows.iter().filter_map(|(_, r)| r.get(i)).collect();
                HeaderPlan {
                    header: h.clone(),
                    target: targets.get(i).cloned().unwrap_or(Target::Skip),
                    guessed: guess_type(&cells),
                }
            })
            .collect();
        let new_columns = new_columns(&table, &targets, &mut problems);

        // Every cell checked; MRNs against the file and the team.
        let mut team_mrns: HashMap<String, (PatientId, String)> = HashMap::new();
        for (id, values) in &team_values {
            let get = |k: &str| {
                values
                    .get(k)
                    .and_then(|v| v.value.clone())
                    .unwrap_or_default()
            };
            let mrn = get("mrn");
            if !mrn.is_empty() {
                let name = format!("{}, {}", get("family").to_uppercase(), get("given"));
                team_mrns.entry(name_key(&mrn)).or_insert((*id, name));
            }
        }
        let mut file_mrns: HashMap<String, usize> = HashMap::new();
        let mut duplicates = Vec::new();
        let mut rows = Vec::new();
        for (row, cells) in &table.rows {
            let values = check_row(
                &ctx,
                &table.headers,
                &targets,
                &new_columns,
                *row,
                cells,
                &mut problems,
            );
            let mrn = values
                .iter()
                .find(|(k, _)| *k == Key::Existing("mrn".into()))
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            let mut kind = RowKind::New;
            if !mrn.is_empty() {
                if let Some(first) = file_mrns.get(&name_key(&mrn)) {
                    duplicates.push(Duplicate {
                        row: *row,
                        mrn: mrn.clone(),
                        of: DuplicateOf::Row(*first),
                    });
                    let mrn_header = targets
                        .iter()
                        .position(|t| *t == Target::Field("mrn".into()))
                        .and_then(|i| table.headers.get(i).cloned())
                        .unwrap_or_else(|| "MRN".into());
                    problems.push(Problem {
                        row: *row,
                        column: mrn_header,
                        message: format!("the MRN {mrn} is also in row {first}"),
                    });
                } else {
                    file_mrns.insert(name_key(&mrn), *row);
                }
                if let Some((id, name)) = team_mrns.get(&name_key(&mrn)) {
                    duplicates.push(Duplicate {
                        row: *row,
                        mrn: mrn.clone(),
                        of: DuplicateOf::Patient {
                            patient_id: *id,
                            name: name.clone(),
                            on_list: on_list.contains(id),
                        },
                    });
                    kind = RowKind::Existing(*id);
                }
            }
            rows.push(PlannedRow {
                row: *row,
                mrn,
                values,
                kind,
            });
        }
        problems.sort_by_key(|p| p.row);

        // EHR matches, by MRN (identifier search), for rows otherwise new.
        let mut ehr = Vec::new();
        if request.match_ehr && has_ehr && problems.is_empty() {
            let wanted = rows
                .iter()
                .filter(|r| !r.mrn.is_empty() && matches!(r.kind, RowKind::New))
                .count();
            if wanted > MAX_EHR_LOOKUPS {
                problems.push(Problem {
                    row: 0,
                    column: String::new(),
                    message: format!(
                        "{wanted} rows would be looked up in the EHR; at most {MAX_EHR_LOOKUPS} can be in one import (split the file, or import without EHR matching)"
                    ),
                });
            } else {
                for r in rows
                    .iter_mut()
                    .filter(|r| !r.mrn.is_empty() && matches!(r.kind, RowKind::New))
                {
                    let search = EhrSearch {
                        mrn: Some(r.mrn.clone()),
                        count: Some(2),
                        ..EhrSearch::default()
                    };
                    let found = self.search_ehr(actor, team, list, &search).await?;
                    let (ehr_id, name, note) = match found.hits.as_slice() {
                        [one] => {
                            if let Some(id) = one.patient_id {
                                r.kind = RowKind::Existing(id);
                                (
                                    Some(one.ehr_id.clone()),
                                    Some(one.name.clone()),
                                    "already a patient of the team".to_owned(),
                                )
                            } else {
                                r.kind = RowKind::Ehr(one.ehr_id.clone());
                                (
                                    Some(one.ehr_id.clone()),
                                    Some(one.name.clone()),
                                    "added as the EHR's patient".to_owned(),
                                )
                            }
                        }
                        [] => (
                            None,
                            None,
                            "not found in the EHR: added as typed".to_owned(),
                        ),
                        _ => (
                            None,
                            None,
                            "several EHR patients have this MRN: added as typed".to_owned(),
                        ),
                    };
                    ehr.push(EhrMatch {
                        row: r.row,
                        mrn: r.mrn.clone(),
                        ehr_id,
                        name,
                        note,
                    });
                }
            }
        }
        let mut plan = Plan {
            targets: ctx.targets(),
            table,
            headers,
            new_columns,
            rows,
            problems,
            duplicates,
            ehr,
            has_ehr,
            ehr_patients,
            updates: Vec::new(),
        };
        if request.update_existing {
            let empty = HashMap::new();
            let updates: Vec<PatientUpdate> = plan
                .rows
                .iter()
                .filter_map(|r| match r.kind {
                    RowKind::Existing(id) => Some((r, id)),
                    _ => None,
                })
                .map(|(r, id)| PatientUpdate {
                    row: r.row,
                    patient_id: id,
                    changes: plan.changes(r, id, team_values.get(&id).unwrap_or(&empty)),
                })
                .filter(|u| !u.changes.is_empty())
                .collect();
            plan.updates = updates;
        }
        Ok(plan)
    }

    /// Reads the file and shows what an import would do; writes nothing.
    pub async fn preview_import(
        &self,
        actor: &Actor,
        team: TeamId,
        list: ListId,
        request: &ImportRequest,
    ) -> Result<ImportPreview, AppError> {
        let plan = self.import_plan(actor, team, list, request).await?;
        let existing = plan
            .rows
            .iter()
            .filter(|r| matches!(r.kind, RowKind::Existing(_)))
            .count();
        Ok(ImportPreview {
            kind: plan.table.kind,
            rows: plan.table.rows.len(),
            sample: plan
                .table
                .rows
                .iter()
                .take(5)
                .map(|(_, cells)| cells.iter().map(RawCell::text).collect())
                .collect(),
            headers: plan.headers,
            problems: plan.problems,
            duplicates: plan.duplicates,
            ehr: plan.ehr,
            targets: plan.targets,
            new_patients: plan.rows.len() - existing,
            existing_patients: existing,
            ehr_available: plan.has_ehr,
            updates: plan.updates,
        })
    }

    /// Imports the file: every row, or (when any problem remains) none.
    pub async fn import_patients(
        &self,
        actor: &Actor,
        team: TeamId,
        list: ListId,
        request: &ImportRequest,
    ) -> Result<ImportResult, AppError> {
        let plan = self.import_plan(actor, team, list, request).await?;
        if let Some(first) = plan.problems.first() {
            let place = match (first.row, first.column.is_empty()) {
                (0, _) => first.column.clone(),
                (r, true) => format!("row {r}"),
                (r, false) => format!("row {r}, {}", first.column),
            };
            return Err(InvalidInput::new(
                "file",
                format!(
                    "{} problem(s), the first: {place}: {}; nothing was imported",
                    plan.problems.len(),
                    first.message
                ),
            )
            .into());
        }
        let server = if plan.rows.iter().any(|r| matches!(r.kind, RowKind::Ehr(_))) {
            let mut conn = self.db.read().await?;
            rounds_store::ehr::connection(&mut conn, team)
                .await?
                .map(|c| c.base_url)
        } else {
            None
        };
        let now = Timestamp::now();
        let mut tx = self.db.write().await?;
        self.list_in_team(tx.conn(), actor, team, list).await?;
        let mut shown = lists::list_columns(tx.conn(), list).await?;
        let mut position = shown.iter().map(|c| c.position + 1).max().unwrap_or(0);
        for column in &plan.new_columns {
            lists::insert_team_column(tx.conn(), team, column, now).await?;
            let key = ColumnKey::Team(column.id);
            lists::put_list_column(
                tx.conn(),
                list,
                &ListColumn {
                    key,
                    position,
                    hidden: false,
                    width: None,
                },
            )
            .await?;
            position += 1;
            self.audit_done(
                &mut tx,
                actor,
                Operation::PatientListEditColumns,
                Subject::list(team, list),
                json!({ "added": key.to_string(), "label": column.label, "type": column.kind.as_str(), "import": request.file_name }),
            )
            .await?;
        }
        // Existing team columns a mapping fills are shown on the list too.
        for (i, target) in plan.headers.iter().enumerate() {
            let Target::Field(k) = &target.target else {
                continue;
            };
            let Ok(id) = k.parse::<ColumnId>() else {
                continue;
            };
            let key = ColumnKey::Team(id);
            if shown.iter().any(|c| c.key == key) {
                continue;
            }
            let column = ListColumn {
                key,
                position,
                hidden: false,
                width: None,
            };
            lists::put_list_column(tx.conn(), list, &column).await?;
            shown.push(column);
            position += 1;
            let _ = i;
        }
        let mut result = ImportResult {
            columns_created: plan.new_columns.len(),
            ..ImportResult::default()
        };
        let mut on_list: HashSet<PatientId> = patients::entries(tx.conn(), list)
            .await?
            .into_iter()
            .map(|e| e.patient_id)
            .collect();
        for row in &plan.rows {
            let patient = match &row.kind {
                RowKind::Existing(id) => {
                    result.existing += 1;
                    if request.update_existing {
                        let current = patients::values_of(tx.conn(), *id).await?;
                        let changes = plan.changes(row, *id, &current);
                        if !changes.is_empty() {
                            let mut audited = serde_json::Map::new();
                            let mut fields = serde_json::Map::new();
                            for c in &changes {
                                let version = current.get(&c.key).map_or(0, |v| v.version) + 1;
                                patients::put_value(
                                    tx.conn(),
                                    *id,
                                    &c.key,
                                    Some(&c.to),
                                    version,
                                    now,
                                    actor.user.id,
                                )
                                .await?;
                                audited
                                    .insert(c.key.clone(), json!({ "from": c.from, "to": c.to }));
                                fields.insert(
                                    c.key.clone(),
                                    json!({ "value": c.to, "version": version }),
                                );
                            }
                            audited.insert(
                                "import".into(),
                                json!({ "file": request.file_name, "row": row.row }),
                            );
                            let mut entry = self.entry_for(
                                actor,
                                Operation::PatientDetailsEdit,
                                rounds_core::audit::Outcome::Success,
                            );
                            entry.team_id = Some(team);
                            entry.patient_ref = Some(id.to_string());
                            entry.detail = Value::Object(audited);
                            rounds_store::audit::append(&mut tx, &entry).await?;
                            let on = patients::lists_of(tx.conn(), *id).await?;
                            let change = Change::PatientUpdated {
                                patient_id: *id,
                                fields: Value::Object(fields),
                            };
                            self.announce(&mut tx, team, &on, &change, actor).await?;
                            result.updated += 1;
                        }
                    }
                    *id
                }
                RowKind::Ehr(ehr_id) => {
                    let Some(server) = &server else {
                        return Err(AppError::Conflict {
                            message:
                                "the team's EHR connection changed during the import; try again"
                                    .into(),
                        });
                    };
                    let id = PatientId::new_random();
                    let r = EhrRef {
                        server: server.clone(),
                        id: ehr_id.clone(),
                    };
                    rounds_store::ehr::insert_ehr_patient(
                        tx.conn(),
                        id,
                        team,
                        &r,
                        now,
                        actor.user.id,
                    )
                    .await?;
                    for (key, value) in &row.values {
                        let key = match key {
                            Key::Existing(k) if PatientField::from_key(k).is_some() => continue,
                            Key::Existing(k) => k.clone(),
                            Key::New(n) => match plan.new_columns.get(*n) {
                                Some(c) => c.id.to_string(),
                                None => continue,
                            },
                        };
                        patients::put_value(
                            tx.conn(),
                            id,
                            &key,
                            Some(value),
                            1,
                            now,
                            actor.user.id,
                        )
                        .await?;
                    }
                    result.ehr += 1;
                    result.added += 1;
                    id
                }
                RowKind::New => {
                    let id = PatientId::new_random();
                    patients::insert(tx.conn(), id, team, now, actor.user.id).await?;
                    for (key, value) in &row.values {
                        let key = match key {
                            Key::Existing(k) => k.clone(),
                            Key::New(n) => match plan.new_columns.get(*n) {
                                Some(c) => c.id.to_string(),
                                None => continue,
                            },
                        };
                        patients::put_value(
                            tx.conn(),
                            id,
                            &key,
                            Some(value),
                            1,
                            now,
                            actor.user.id,
                        )
                        .await?;
                    }
                    result.added += 1;
                    id
                }
            };
            if !on_list.insert(patient) {
                continue;
            }
            patients::add_entry(tx.conn(), list, patient, now, actor.user.id).await?;
            self.audit_done(
                &mut tx,
                actor,
                Operation::PatientListAddPatient,
                Subject::on_list(team, list, patient),
                json!({
                    "newPatient": !matches!(row.kind, RowKind::Existing(_)),
                    "import": { "file": request.file_name, "row": row.row },
                    "ehr": match &row.kind { RowKind::Ehr(id) => json!({ "server": server, "id": id }), _ => Value::Null },
                }),
            )
            .await?;
        }
        if !plan.new_columns.is_empty() {
            self.announce(&mut tx, team, &[list], &Change::ColumnsChanged, actor)
                .await?;
        }
        self.announce(&mut tx, team, &[list], &Change::PatientsReordered, actor)
            .await?;
        self.commit(tx).await?;
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_match_by_name() {
        assert_eq!(header_key("Temp (°C)"), name_key("Temp"));
        assert_eq!(
            builtin_target(&header_key("Date of birth")),
            Some("birthDate")
        );
        assert_eq!(builtin_target(&header_key("  MRN ")), Some("mrn"));
    }

    #[test]
    fn types_are_guessed_from_the_cells() {
        let t = |v: &[RawCell]| guess_type(&v.iter().collect::<Vec<_>>());
        let text = |s: &str| RawCell::Text(s.into());
        assert_eq!(t(&[RawCell::Number(1.0), text("2,5")]), ColumnType::Number);
        assert_eq!(
            t(&[text("yes"), text("no"), RawCell::Empty]),
            ColumnType::Checkbox
        );
        assert_eq!(
            t(&[text("2026-11-20"), text("01.12.2026")]),
            ColumnType::Date
        );
        assert_eq!(t(&[text("a"), text("b"), text("a")]), ColumnType::Choice);
        assert_eq!(t(&[text("a"), text("b")]), ColumnType::Text);
        assert_eq!(t(&[text("line\nbreak")]), ColumnType::LongText);
    }
}
