//! The team's patients on its lists: viewing a list (sorted, filtered,
//! searched), adding, editing with per-field versions, removing, moving
//! and ordering by hand.
//!
//! - `display`: the text each column shows, and checking typed values;
//! - `rows`: what the view (rounds-core `listing`) reads from a row;
//! - `list_view`: getList as load → merge EHR → view → audit;
//! - `list_cache`: getList's rows kept as answered while nothing changed;
//! - `detail`: one patient (view, edit) and the team's patient search;
//! - `entries`: a patient's places on lists (add, remove, move, order).

mod detail;
mod display;
mod entries;
mod list_cache;
mod list_view;
mod rows;

pub(crate) use list_cache::ListRowsCache;
pub use list_view::{ListAnswer, Receipts};

use std::collections::{BTreeMap, HashMap};

use rounds_core::lists::{FieldValue, ListEntry, PatientList, TeamColumn};
use rounds_core::model::TeamMember;
use rounds_core::{ListId, PatientId, TeamId};
use rounds_store::{lists, patients, teams, AnyConnection};
use serde_json::{Map, Value};

use crate::access::Foreign;
use crate::ehr::{EhrCell, EhrPatientData, ListEhrStatus};
use crate::lists::ResolvedColumn;
use crate::{Actor, App, AppError};

/// A patient to add: an existing patient of the team, or a new one with
/// the fields given (patient field keys and team column ids).
#[derive(Debug, Clone, Default)]
pub struct NewPatient {
    pub existing: Option<PatientId>,
    pub fields: Map<String, Value>,
    /// A patient of the team's EHR, by FHIR Patient id.
    pub ehr_id: Option<String>,
}

/// One patient as a list shows them.
#[derive(Debug, Clone)]
pub struct PatientRow {
    pub patient_id: PatientId,
    pub entry: ListEntry,
    pub values: HashMap<String, FieldValue>,
    /// The text each column shows (built-in keys and team column ids).
    pub display: BTreeMap<String, String>,
    /// Another patient of the team has the same MRN.
    pub duplicate_mrn: bool,
    /// The patient's newest note, if any.
    pub latest_note: Option<rounds_core::lists::Note>,
    /// For EHR patients: how their EHR data stands.
    pub ehr: Option<EhrPatientData>,
    /// EHR-derived cells by column key (state, age, why empty).
    pub cells: BTreeMap<String, EhrCell>,
    /// The patient's open tasks (list views only).
    pub tasks: rounds_core::tasks::TaskSummary,
    /// The I-PASS illness severity, where one is set (list views only).
    pub severity: Option<rounds_core::ipass::Severity>,
}

#[derive(Debug, Clone)]
pub struct ListView {
    pub list: PatientList,
    pub columns: Vec<ResolvedColumn>,
    pub rows: Vec<PatientRow>,
    /// Patients on the list before filtering and search.
    pub total: usize,
    /// The change feed's position when the view was read: follow the list
    /// from here to miss nothing.
    pub last_event_id: i64,
    /// The team's EHR as this view found it.
    pub ehr: ListEhrStatus,
}

/// A patient of the team, as found by a search among the team's patients.
#[derive(Debug, Clone)]
pub struct TeamPatient {
    pub patient_id: PatientId,
    pub name: String,
    pub mrn: String,
    pub birth_date: String,
    pub lists: Vec<ListId>,
}

#[derive(Debug, Clone)]
pub struct PatientDetail {
    pub patient_id: PatientId,
    pub values: HashMap<String, FieldValue>,
    pub display: BTreeMap<String, String>,
    pub lists: Vec<PatientList>,
    pub team_columns: Vec<TeamColumn>,
    pub duplicate_mrn: bool,
    /// For EHR patients: every EHR section, as read.
    pub ehr: Option<EhrPatientData>,
    pub cells: BTreeMap<String, EhrCell>,
}

/// What the view code needs to show values.
struct Context {
    team_columns: Vec<TeamColumn>,
    members: Vec<TeamMember>,
    today: time::Date,
}

impl Context {
    async fn load(conn: &mut AnyConnection, team: TeamId) -> Result<Self, AppError> {
        Ok(Self {
            team_columns: lists::team_columns(conn, team).await?,
            members: teams::members(conn, team).await?,
            today: time::OffsetDateTime::now_utc().date(),
        })
    }

    fn column(&self, key: &str) -> Option<&TeamColumn> {
        self.team_columns.iter().find(|c| c.id.to_string() == key)
    }

    fn person(&self, id: &str) -> String {
        self.members
            .iter()
            .find(|m| m.user_id.to_string() == id)
            .map_or_else(|| "(former member)".to_owned(), |m| m.display_name.clone())
    }
}

impl App {
    /// Passes if the patient belongs to `team` (which the caller may
    /// access); a patient of another team is "not found" too, and the reach
    /// for it is recorded as AccessRefused.
    pub(crate) async fn patient_in_team(
        &self,
        conn: &mut AnyConnection,
        actor: &Actor,
        team: TeamId,
        patient: PatientId,
    ) -> Result<(), AppError> {
        match patients::team_of(conn, patient).await? {
            Some(t) if t == team => Ok(()),
            Some(other) => {
                self.refuse_foreign(actor, team, Foreign::Patient(patient), other);
                Err(AppError::NotFound { what: "patient" })
            }
            None => Err(AppError::NotFound { what: "patient" }),
        }
    }

    /// "Not found" for a patient not on `list`; when the id is a patient of
    /// another team, the reach for it is recorded as AccessRefused.
    async fn not_on_list(
        &self,
        conn: &mut AnyConnection,
        actor: &Actor,
        team: TeamId,
        patient: PatientId,
    ) -> AppError {
        match self.patient_in_team(conn, actor, team, patient).await {
            Err(err) => err,
            Ok(()) => AppError::NotFound { what: "patient" },
        }
    }
}
