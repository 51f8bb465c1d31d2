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

mod check;
mod guess;
mod plan;
mod read;
mod write;

use std::collections::{HashMap, HashSet};

use rounds_core::audit::Operation;
use rounds_core::lists::{
    normalize_options, normalize_value, ChoiceOption, ColumnKey, ColumnType, ListColumn,
    PatientField, TeamColumn, ValueForm, COLUMN_LABEL_MAX, DEFAULT_OPTION_COLOR,
};
use rounds_core::model::TeamMember;
use rounds_core::validate::{name_key, InvalidInput};
use rounds_core::{ColumnId, ListId, PatientId, TeamId, Timestamp};
use rounds_store::ehr::EhrRef;
use rounds_store::{lists, patients, teams};
use serde_json::{json, Value};

pub use read::{FileKind, RawCell};

use check::{check_row, new_columns};
use guess::{cell_json, guess_type, sex_of};

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
struct Context {
    columns: Vec<TeamColumn>,
    members: Vec<TeamMember>,
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

impl App {
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
        plan.refuse_with_problems()?;
        self.write_import(actor, team, list, request, &plan).await
    }
}
