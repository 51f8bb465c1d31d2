//! The meeting view of a list: the whole ward on the meeting-room screen.
//! Each list has its own meeting column set (stored; by default a subset
//! of the list's columns: name, bed, the key vital signs, the team's own
//! columns and the newest note), and one highlighted patient (the
//! presenter's focus) that every open meeting view of the list follows
//! through the live feed. In mask mode the view carries initials and bed
//! instead of names and MRNs: the identifiers are taken out here, before
//! anything reaches the page.

use std::collections::{BTreeMap, HashMap, HashSet};

use rounds_core::audit::Operation;
use rounds_core::ipass::Severity;
use rounds_core::lists::{ColumnKey, PatientList};
use rounds_core::validate::InvalidInput;
use rounds_core::view::ViewSpec;
use rounds_core::{ListId, PatientId, TeamId, Timestamp};
use rounds_store::{lists, meeting};
use serde_json::json;

use crate::access::{Need, Subject};
use crate::ehr::{EhrCell, EhrRowState, ListEhrStatus};
use crate::live::Change;
use crate::{Actor, App, AppError, ResolvedColumn};

use columns::{available_columns, default_columns, resolve_columns};
use mask::{Identifiers, RowShaper};

mod columns;
mod mask;

/// The meeting-only column: the patient's newest note.
pub const NOTE_KEY: &str = "latestNote";
/// At most this many columns in a meeting column set.
pub const MEETING_COLUMNS_MAX: usize = 16;
/// A longer note is shown up to here and marked as shortened.
pub const NOTE_SHOWN_MAX: usize = 280;
/// What stands in a masked text for a name or an MRN.
pub const MASK: &str = "•••";

/// Identifiers: never shown in mask mode.
const IDENTIFYING: [&str; 2] = ["mrn", "birthDate"];

/// One column of the meeting view.
#[derive(Debug, Clone, PartialEq)]
pub enum MeetingColumn {
    Column(ResolvedColumn),
    LatestNote,
}

impl MeetingColumn {
    pub fn key(&self) -> String {
        match self {
            Self::Column(c) => c.key.to_string(),
            Self::LatestNote => NOTE_KEY.to_owned(),
        }
    }

    pub fn label(&self) -> &str {
        match self {
            Self::Column(c) => &c.label,
            Self::LatestNote => "Latest note",
        }
    }
}

/// A patient's newest note as the meeting shows it.
#[derive(Debug, Clone)]
pub struct MeetingNote {
    pub body: String,
    pub author_name: String,
    pub created_at: Timestamp,
    /// The body was longer than [`NOTE_SHOWN_MAX`] characters.
    pub shortened: bool,
}

/// How a row's EHR data stands (without the EHR's id of the patient).
#[derive(Debug, Clone)]
pub struct MeetingEhr {
    pub state: EhrRowState,
    pub fetched_at: Option<Timestamp>,
    pub reason: Option<String>,
}

/// One patient of the meeting view.
#[derive(Debug, Clone)]
pub struct MeetingRow {
    pub patient_id: PatientId,
    /// The name, or in mask mode the initials.
    pub label: String,
    /// The text of each meeting column.
    pub display: BTreeMap<String, String>,
    /// EHR-derived cells of the meeting columns.
    pub cells: BTreeMap<String, EhrCell>,
    /// Stored values of the meeting's team columns (choice ids and the like).
    pub values: BTreeMap<String, String>,
    pub ehr: Option<MeetingEhr>,
    pub latest_note: Option<MeetingNote>,
    /// The patient's I-PASS illness severity, if set.
    pub severity: Option<Severity>,
    /// The patient's urgent notes nobody has acknowledged yet.
    pub urgent: usize,
}

#[derive(Debug, Clone)]
pub struct MeetingView {
    pub list: PatientList,
    pub columns: Vec<MeetingColumn>,
    /// No column set was chosen: these are the defaults.
    pub is_default: bool,
    /// Every column the set may hold, for the picker.
    pub available: Vec<MeetingColumn>,
    pub rows: Vec<MeetingRow>,
    pub focus: Option<PatientId>,
    pub masked: bool,
    pub last_event_id: i64,
    pub ehr: ListEhrStatus,
}

/// How many urgent notes of each patient of the team nobody has
/// acknowledged yet (shown beside the name; the severity comes with the
/// list's rows).
async fn open_urgent_counts(
    conn: &mut rounds_store::AnyConnection,
    team: TeamId,
) -> Result<HashMap<PatientId, usize>, AppError> {
    let mut urgent: HashMap<PatientId, usize> = HashMap::new();
    for u in rounds_store::urgent::open_of_team(conn, team).await? {
        *urgent.entry(u.patient_id).or_default() += 1;
    }
    Ok(urgent)
}

impl App {
    /// The meeting view of a list (recorded as PatientListView, like the
    /// list it shows), masked when asked.
    pub async fn get_meeting(
        &self,
        actor: &Actor,
        team: TeamId,
        list: ListId,
        spec: &ViewSpec,
        masked: bool,
    ) -> Result<MeetingView, AppError> {
        let view = self.get_list(actor, team, list, spec).await?;
        let (settings, team_columns, urgent) = {
            let mut conn = self.db.read().await?;
            (
                meeting::get(&mut conn, list).await?,
                lists::team_columns(&mut conn, team).await?,
                open_urgent_counts(&mut conn, team).await?,
            )
        };
        let available = available_columns(&view.columns, &team_columns, view.ehr.connected);
        let (mut columns, is_default) = match &settings.columns {
            Some(keys) => (resolve_columns(keys, &available), false),
            None => (
                default_columns(&view.columns, &available, view.ehr.connected),
                true,
            ),
        };
        if masked {
            columns.retain(|c| !IDENTIFYING.contains(&c.key().as_str()));
        }
        let keys: HashSet<String> = columns.iter().map(MeetingColumn::key).collect();
        // EHR columns the meeting shows but the list does not: their cells
        // are made here from the EHR data the list view read.
        let on_list: HashSet<String> = view.columns.iter().map(|c| c.key.to_string()).collect();
        let extra: HashSet<String> = columns
            .iter()
            .filter_map(|c| match c {
                MeetingColumn::Column(r) if matches!(r.key, ColumnKey::Ehr(_)) => {
                    Some(r.key.to_string())
                }
                _ => None,
            })
            .filter(|k| !on_list.contains(k))
            .collect();
        let shaper = RowShaper {
            keys,
            extra,
            ids: masked.then(|| Identifiers::of_rows(&view.rows)),
            urgent,
        };
        let rows: Vec<MeetingRow> = view.rows.into_iter().map(|r| shaper.row(r)).collect();
        let focus = settings
            .focus
            .filter(|f| rows.iter().any(|r| r.patient_id == *f));
        Ok(MeetingView {
            list: view.list,
            columns,
            is_default,
            available,
            rows,
            focus,
            masked,
            last_event_id: view.last_event_id,
            ehr: view.ehr,
        })
    }

    /// Chooses the meeting's columns (None: back to the default set). The
    /// set must name the patients (the name column) and hold only columns
    /// the list can show.
    pub async fn set_meeting_columns(
        &self,
        actor: &Actor,
        team: TeamId,
        list: ListId,
        keys: Option<&[String]>,
    ) -> Result<(), AppError> {
        self.team_access(actor, team, Need::Member, "setMeetingColumns")
            .await?;
        let mut tx = self.db.write().await?;
        self.list_in_team(tx.conn(), actor, team, list).await?;
        let chosen: Option<Vec<String>> = match keys {
            None => None,
            Some(keys) => {
                let list_columns = self.resolved_columns(tx.conn(), team, list).await?;
                let team_columns = lists::team_columns(tx.conn(), team).await?;
                let connected = rounds_store::ehr::connection(tx.conn(), team)
                    .await
                    .map(|c| c.is_some())
                    .unwrap_or(false);
                let available = available_columns(&list_columns, &team_columns, connected);
                if keys.is_empty() || keys.len() > MEETING_COLUMNS_MAX {
                    return Err(InvalidInput::new(
                        "columns",
                        format!("choose 1 to {MEETING_COLUMNS_MAX} columns"),
                    )
                    .into());
                }
                let mut seen = HashSet::new();
                for k in keys {
                    if !seen.insert(k.as_str()) {
                        return Err(InvalidInput::new(
                            "columns",
                            format!("{k:?} is in the set twice"),
                        )
                        .into());
                    }
                    if !available.iter().any(|c| &c.key() == k) {
                        return Err(InvalidInput::new(
                            "columns",
                            format!("{k:?} is not a column this list can show"),
                        )
                        .into());
                    }
                }
                if !seen.contains("name") {
                    return Err(InvalidInput::new(
                        "columns",
                        "the set needs the name column, to tell the patients apart",
                    )
                    .into());
                }
                Some(keys.to_vec())
            }
        };
        meeting::set_columns(
            tx.conn(),
            list,
            chosen.as_deref(),
            Timestamp::now(),
            actor.user.id,
        )
        .await?;
        self.audit_done(
            &mut tx,
            actor,
            Operation::PatientListEditColumns,
            Subject::list(team, list),
            json!({ "meetingColumns": chosen }),
        )
        .await?;
        self.announce(
            &mut tx,
            team,
            &[list],
            &Change::MeetingColumnsChanged,
            actor,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Highlights a patient of the list on every open meeting view (None:
    /// nobody).
    pub async fn set_meeting_focus(
        &self,
        actor: &Actor,
        team: TeamId,
        list: ListId,
        patient: Option<PatientId>,
    ) -> Result<(), AppError> {
        self.team_access(actor, team, Need::Member, "setMeetingFocus")
            .await?;
        let mut tx = self.db.write().await?;
        self.list_in_team(tx.conn(), actor, team, list).await?;
        if let Some(p) = patient {
            if !meeting::is_on_list(tx.conn(), list, p).await? {
                return Err(AppError::NotFound {
                    what: "patient on this list",
                });
            }
        }
        meeting::set_focus(tx.conn(), list, patient, Timestamp::now(), actor.user.id).await?;
        self.announce(
            &mut tx,
            team,
            &[list],
            &Change::MeetingFocus {
                patient_id: patient,
            },
            actor,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
