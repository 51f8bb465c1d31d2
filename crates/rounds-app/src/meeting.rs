//! The meeting view of a list: the whole ward on the meeting-room screen.
//! Each list has its own meeting column set (stored; by default a subset
//! of the list's columns: name, bed, the key vital signs, the team's own
//! columns and the newest note), and one highlighted patient (the
//! presenter's focus) that every open meeting view of the list follows
//! through the live feed. In mask mode the view carries initials and bed
//! instead of names and MRNs: the identifiers are taken out here, before
//! anything reaches the page.
//!
//! (Over 500 lines with its tests; the code is the meeting view's column set,
//! focus and masking, under 570 lines.)

use std::collections::{BTreeMap, HashMap, HashSet};

use rounds_core::audit::Operation;
use rounds_core::ipass::Severity;
use rounds_core::lists::{BuiltinColumn, ColumnKey, EhrColumn, PatientList};
use rounds_core::validate::InvalidInput;
use rounds_core::view::ViewSpec;
use rounds_core::{ListId, PatientId, TeamId, Timestamp};
use rounds_store::{lists, meeting};
use serde_json::json;

use crate::access::{Need, Subject};
use crate::ehr::{row_cells, EhrCell, EhrRowState, ListEhrStatus};
use crate::live::Change;
use crate::{Actor, App, AppError, PatientRow, ResolvedColumn};

/// The meeting-only column: the patient's newest note.
pub const NOTE_KEY: &str = "latestNote";
/// At most this many columns in a meeting column set.
pub const MEETING_COLUMNS_MAX: usize = 16;
/// A longer note is shown up to here and marked as shortened.
pub const NOTE_SHOWN_MAX: usize = 280;
/// What stands in a masked text for a name or an MRN.
pub const MASK: &str = "•••";

/// The vital signs a meeting shows by default, in this order.
const VITALS: [EhrColumn; 5] = [
    EhrColumn::HeartRate,
    EhrColumn::BloodPressure,
    EhrColumn::RespiratoryRate,
    EhrColumn::Spo2,
    EhrColumn::Temperature,
];
/// The early-warning score's column key, where the build has one.
const SCORE_KEY: &str = "news2";
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

fn resolved(key: ColumnKey, label: &str) -> ResolvedColumn {
    ResolvedColumn {
        key,
        label: label.to_owned(),
        team: None,
        hidden: false,
        width: None,
        position: 0,
    }
}

/// The columns a meeting column set may hold: the list's own, the team's
/// other columns, the EHR's (with a connection), and the newest note.
fn available_columns(
    list_columns: &[ResolvedColumn],
    team_columns: &[rounds_core::lists::TeamColumn],
    ehr_connected: bool,
) -> Vec<MeetingColumn> {
    let mut out: Vec<MeetingColumn> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut push = |c: ResolvedColumn, out: &mut Vec<MeetingColumn>| {
        if seen.insert(c.key.to_string()) {
            out.push(MeetingColumn::Column(ResolvedColumn { hidden: false, ..c }));
        }
    };
    for c in list_columns {
        push(c.clone(), &mut out);
    }
    for b in BuiltinColumn::ALL {
        push(resolved(ColumnKey::Builtin(b), b.label()), &mut out);
    }
    for t in team_columns {
        push(
            ResolvedColumn {
                team: Some(t.clone()),
                ..resolved(ColumnKey::Team(t.id), &t.label)
            },
            &mut out,
        );
    }
    if ehr_connected {
        for e in EhrColumn::ALL {
            push(resolved(ColumnKey::Ehr(e), e.label()), &mut out);
        }
    }
    out.push(MeetingColumn::LatestNote);
    out
}

fn is_vital(key: &ColumnKey) -> bool {
    match key {
        ColumnKey::Ehr(e) => VITALS.contains(e) || e.key() == SCORE_KEY,
        _ => false,
    }
}

/// The default set: name, bed, the key vital signs and the early-warning
/// score (the list's, or all of them with an EHR), the list's team
/// columns, and the newest note.
fn default_columns(
    list_columns: &[ResolvedColumn],
    available: &[MeetingColumn],
    ehr_connected: bool,
) -> Vec<MeetingColumn> {
    let find = |key: &str| {
        available
            .iter()
            .find(|c| c.key() == key && !matches!(c, MeetingColumn::LatestNote))
            .cloned()
    };
    let mut keys: Vec<String> = vec!["name".into(), "location".into()];
    if ehr_connected {
        keys.extend(VITALS.iter().map(|v| v.key().to_owned()));
        if SCORE_KEY.parse::<ColumnKey>().is_ok() {
            keys.push(SCORE_KEY.to_owned());
        }
    }
    let visible = list_columns.iter().filter(|c| !c.hidden);
    keys.extend(
        visible
            .clone()
            .filter(|c| is_vital(&c.key))
            .map(|c| c.key.to_string()),
    );
    keys.extend(
        visible
            .filter(|c| matches!(c.key, ColumnKey::Team(_)))
            .map(|c| c.key.to_string()),
    );
    let mut seen = HashSet::new();
    let mut out: Vec<MeetingColumn> = keys
        .iter()
        .filter(|k| seen.insert((*k).clone()))
        .filter_map(|k| find(k))
        .collect();
    out.push(MeetingColumn::LatestNote);
    out
}

/// A stored or asked-for set, resolved against what is available: keys
/// that no longer resolve (a column removed from the team) are skipped.
fn resolve_columns(keys: &[String], available: &[MeetingColumn]) -> Vec<MeetingColumn> {
    let mut seen = HashSet::new();
    keys.iter()
        .filter(|k| seen.insert((*k).clone()))
        .filter_map(|k| available.iter().find(|c| &c.key() == k).cloned())
        .collect()
}

/// "Jane Q. SMITH" / "SMITH, Jane" → "J. Q. S." (given names first).
pub fn initials(name: &str) -> String {
    let (family, given) = match name.split_once(',') {
        Some((f, g)) => (f, g),
        None => ("", name),
    };
    let letters: Vec<String> = given
        .split_whitespace()
        .chain(family.split_whitespace())
        .filter_map(|w| w.chars().find(|c| c.is_alphanumeric()))
        .flat_map(char::to_uppercase)
        .map(|c| format!("{c}."))
        .collect();
    if letters.is_empty() {
        "?".to_owned()
    } else {
        letters.join(" ")
    }
}

/// The words of names and MRNs that a masked text must not contain.
#[derive(Debug, Default)]
struct Identifiers {
    words: HashSet<String>,
}

impl Identifiers {
    /// The names and MRNs of `rows`, as shown and as stored.
    fn of_rows(rows: &[PatientRow]) -> Self {
        let mut ids = Self::default();
        for r in rows {
            for key in ["name", "mrn"] {
                if let Some(text) = r.display.get(key) {
                    ids.add(text);
                }
            }
            for key in ["family", "given", "mrn"] {
                if let Some(v) = r.values.get(key).and_then(|v| v.value.as_deref()) {
                    ids.add(v);
                }
            }
        }
        ids
    }

    fn add(&mut self, text: &str) {
        for w in text.split(|c: char| !c.is_alphanumeric()) {
            if w.chars().count() >= 2 {
                self.words.insert(w.to_lowercase());
            }
        }
    }

    /// `text` with every word of a name or MRN replaced by [`MASK`].
    fn redact(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut word = String::new();
        let flush = |word: &mut String, out: &mut String| {
            if !word.is_empty() {
                if self.words.contains(&word.to_lowercase()) {
                    out.push_str(MASK);
                } else {
                    out.push_str(word);
                }
                word.clear();
            }
        };
        for c in text.chars() {
            if c.is_alphanumeric() {
                word.push(c);
            } else {
                flush(&mut word, &mut out);
                out.push(c);
            }
        }
        flush(&mut word, &mut out);
        out
    }
}

fn shorten(body: &str) -> (String, bool) {
    if body.chars().count() <= NOTE_SHOWN_MAX {
        return (body.to_owned(), false);
    }
    let cut: String = body.chars().take(NOTE_SHOWN_MAX).collect();
    // At a word boundary where there is one near the end.
    let cut = match cut.rfind(char::is_whitespace) {
        Some(i) if i > NOTE_SHOWN_MAX / 2 => cut[..i].to_owned(),
        _ => cut,
    };
    (format!("{}…", cut.trim_end()), true)
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

/// Makes the meeting's rows from the list view's: only the meeting's
/// columns, EHR cells for the columns the list itself does not show, and
/// in mask mode initials for the name and no name or MRN in any text.
struct RowShaper {
    /// The meeting's column keys.
    keys: HashSet<String>,
    /// EHR columns the meeting shows but the list does not.
    extra: HashSet<String>,
    /// In mask mode: the names and MRNs to take out of every text.
    ids: Option<Identifiers>,
    /// Open urgent notes per patient.
    urgent: HashMap<PatientId, usize>,
}

impl RowShaper {
    fn text(&self, s: &str) -> String {
        match &self.ids {
            Some(ids) => ids.redact(s),
            None => s.to_owned(),
        }
    }

    fn row(&self, mut r: PatientRow) -> MeetingRow {
        if let Some(data) = r.ehr.as_ref().filter(|_| !self.extra.is_empty()) {
            for (key, (t, cell)) in row_cells(data, Some(&self.extra)) {
                r.display.insert(key.clone(), t);
                r.cells.insert(key, cell);
            }
        }
        let name = r.display.get("name").cloned().unwrap_or_default();
        let label = if self.ids.is_some() {
            initials(&name)
        } else {
            name
        };
        let mut display: BTreeMap<String, String> = r
            .display
            .into_iter()
            .filter(|(k, _)| self.keys.contains(k) && k != "name")
            .map(|(k, v)| {
                let v = self.text(&v);
                (k, v)
            })
            .collect();
        display.insert("name".into(), label.clone());
        let cells = r
            .cells
            .into_iter()
            .filter(|(k, _)| self.keys.contains(k))
            .map(|(k, mut c)| {
                c.reason = c.reason.map(|x| self.text(&x));
                (k, c)
            })
            .collect();
        let values = r
            .values
            .into_iter()
            .filter(|(k, _)| self.keys.contains(k) && k.parse::<rounds_core::ColumnId>().is_ok())
            .filter_map(|(k, v)| v.value.map(|v| (k, self.text(&v))))
            .collect();
        let latest_note = r.latest_note.map(|n| {
            let (body, shortened) = shorten(&self.text(&n.body));
            MeetingNote {
                body,
                author_name: n.author_name,
                created_at: n.created_at,
                shortened,
            }
        });
        MeetingRow {
            patient_id: r.patient_id,
            label,
            display,
            cells,
            values,
            ehr: r.ehr.map(|d| MeetingEhr {
                state: d.state,
                fetched_at: d.fetched_at,
                reason: d.reason.map(|x| self.text(&x)),
            }),
            latest_note,
            severity: r.severity,
            urgent: self.urgent.get(&r.patient_id).copied().unwrap_or(0),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initials_of_names_in_either_order() {
        assert_eq!(initials("SMITH, Jane Quinn"), "J. Q. S.");
        assert_eq!(initials("Jane Smith"), "J. S.");
        assert_eq!(initials(""), "?");
    }

    #[test]
    fn redaction_takes_out_whole_words_of_names_and_mrns() {
        let mut ids = Identifiers::default();
        ids.add("BRIGHTWATER, Ottilie");
        ids.add("BW-2201");
        assert_eq!(
            ids.redact("Ottilie's MRN BW-2201; brightwater family called"),
            "•••'s MRN •••-•••; ••• family called"
        );
        assert_eq!(ids.redact("Ottilieson stays"), "Ottilieson stays");
    }

    #[test]
    fn long_notes_are_shortened_and_marked() {
        let (s, cut) = shorten(&"word ".repeat(100));
        assert!(cut && s.ends_with('…') && s.chars().count() <= NOTE_SHOWN_MAX + 1);
        assert_eq!(shorten("short"), ("short".to_owned(), false));
    }
}
