//! The wire types of lists and a list's view: a list, its columns and
//! choice options, the rows with their fields, and the requests that make
//! or rename a list.

use rounds_app::{ListView, PatientRow, ResolvedColumn};
use rounds_core::lists::{ChoiceOption, PatientList};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListDto {
    pub id: String,
    pub name: String,
    pub position: i64,
    pub is_default: bool,
    pub created_at: String,
}

impl From<&PatientList> for ListDto {
    fn from(l: &PatientList) -> Self {
        Self {
            id: l.id.to_string(),
            name: l.name.clone(),
            position: l.position,
            is_default: l.is_default,
            created_at: l.created_at.to_rfc3339(),
        }
    }
}

/// One option of a choice column.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChoiceOptionDto {
    /// The id the column's values refer to: send an option's id back to
    /// keep its values when you change the options; a new option gets one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// 1 to 60 characters, unique in the column.
    pub label: String,
    /// `#rrggbb`; `#6b7280` when not given. The British spelling `colour`
    /// is accepted too.
    #[serde(default, alias = "colour")]
    #[schema(example = "#cc2222")]
    pub color: Option<String>,
}

impl From<ChoiceOptionDto> for ChoiceOption {
    fn from(o: ChoiceOptionDto) -> Self {
        Self {
            id: o.id,
            label: o.label,
            color: o
                .color
                .unwrap_or_else(|| rounds_core::lists::DEFAULT_OPTION_COLOR.to_owned()),
        }
    }
}

impl From<&ChoiceOption> for ChoiceOptionDto {
    fn from(o: &ChoiceOption) -> Self {
        Self {
            id: o.id.clone(),
            label: o.label.clone(),
            color: Some(o.color.clone()),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ColumnDto {
    /// A built-in key (name, mrn, ageSex, birthDate, location, added) or a team column id.
    pub key: String,
    pub label: String,
    pub builtin: bool,
    /// team, builtin or ehr (read live from the team's EHR).
    pub source: String,
    /// For team columns: text, longText, number, date, dateTime, choice, checkbox, person.
    pub r#type: Option<String>,
    pub unit: Option<String>,
    /// For choice columns: the options, in order.
    pub options: Vec<ChoiceOptionDto>,
    pub hidden: bool,
    pub width: Option<i64>,
    pub position: i64,
}

impl From<&ResolvedColumn> for ColumnDto {
    fn from(c: &ResolvedColumn) -> Self {
        Self {
            key: c.key.to_string(),
            label: c.label.clone(),
            builtin: c.team.is_none(),
            source: match c.key {
                rounds_core::lists::ColumnKey::Builtin(_) => "builtin",
                rounds_core::lists::ColumnKey::Ehr(_) => "ehr",
                rounds_core::lists::ColumnKey::Team(_) => "team",
            }
            .to_owned(),
            r#type: c.team.as_ref().map(|t| t.kind.as_str().to_owned()),
            unit: c.team.as_ref().and_then(|t| t.unit.clone()),
            options: c
                .team
                .as_ref()
                .map(|t| t.options.iter().map(ChoiceOptionDto::from).collect())
                .unwrap_or_default(),
            hidden: c.hidden,
            width: c.width,
            position: c.position,
        }
    }
}

impl ColumnDto {
    /// The team's columns, in the order given, each as a list would show
    /// it (shown, default width).
    pub fn of_team_columns(columns: &[rounds_core::lists::TeamColumn]) -> Vec<Self> {
        columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                Self::from(&ResolvedColumn {
                    key: rounds_core::lists::ColumnKey::Team(c.id),
                    label: c.label.clone(),
                    team: Some(c.clone()),
                    hidden: false,
                    width: None,
                    position: i as i64,
                })
            })
            .collect()
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FieldDto {
    pub value: Option<String>,
    /// Send this back as baseVersion when you change the field.
    pub version: i64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RowDto {
    pub patient_id: String,
    pub position: i64,
    pub added_at: String,
    pub added_by: Option<String>,
    /// Stored values by field key (patient fields and team column ids).
    #[schema(value_type = Object)]
    pub fields: std::collections::BTreeMap<String, FieldDto>,
    /// The text each column shows.
    #[schema(value_type = Object)]
    pub display: std::collections::BTreeMap<String, String>,
    /// Another patient of the team has the same MRN.
    pub duplicate_mrn: bool,
    /// The patient's newest note.
    pub latest_note: Option<crate::api::patients::NoteDto>,
    /// For EHR patients: their EHR id and how their EHR data stands.
    pub ehr: Option<crate::api::ehr::RowEhrDto>,
    /// EHR-derived cells by column key: state, age of the value, why
    /// empty, and the flag of an abnormal value.
    pub cells: std::collections::BTreeMap<String, crate::api::ehr::EhrCellDto>,
    /// The patient's open tasks: how many, the next due, how many overdue.
    pub tasks: crate::api::tasks::TaskSummaryDto,
    /// The I-PASS illness severity (stable, watcher, unstable), if set.
    pub severity: Option<String>,
}

impl From<&PatientRow> for RowDto {
    fn from(r: &PatientRow) -> Self {
        Self::from(r.clone())
    }
}

/// Moves the row's texts into the answer: no copy of each value.
impl From<PatientRow> for RowDto {
    fn from(r: PatientRow) -> Self {
        Self {
            patient_id: r.patient_id.to_string(),
            position: r.entry.position,
            added_at: r.entry.added_at.to_rfc3339(),
            added_by: r.entry.added_by.map(|u| u.to_string()),
            fields: r
                .values
                .into_iter()
                .map(|(k, v)| {
                    (
                        k,
                        FieldDto {
                            value: v.value,
                            version: v.version,
                        },
                    )
                })
                .collect(),
            cells: crate::api::ehr::cells_dto(&r.cells),
            tasks: crate::api::tasks::TaskSummaryDto::from(&r.tasks),
            ehr: r.ehr.as_ref().map(crate::api::ehr::RowEhrDto::from),
            latest_note: r
                .latest_note
                .as_ref()
                .map(crate::api::patients::NoteDto::from),
            display: r.display,
            duplicate_mrn: r.duplicate_mrn,
            severity: r.severity.map(|s| s.as_str().to_owned()),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListViewDto {
    pub list: ListDto,
    pub columns: Vec<ColumnDto>,
    /// In view order: sorted and filtered as asked, else in hand order.
    pub rows: Vec<RowDto>,
    /// Patients on the list before filter and search.
    pub total: usize,
    /// Follow the list's events from here (listEvents with lastEventId) to miss nothing.
    pub last_event_id: i64,
    /// The team's EHR as this view found it (the banner).
    pub ehr: crate::api::ehr::ListEhrDto,
}

impl From<&ListView> for ListViewDto {
    fn from(v: &ListView) -> Self {
        Self::from(v.clone())
    }
}

/// Moves the rows into the answer (getList builds it once, to serialise).
impl From<ListView> for ListViewDto {
    fn from(v: ListView) -> Self {
        Self {
            list: ListDto::from(&v.list),
            columns: v.columns.iter().map(ColumnDto::from).collect(),
            rows: v.rows.into_iter().map(RowDto::from).collect(),
            total: v.total,
            last_event_id: v.last_event_id,
            ehr: crate::api::ehr::ListEhrDto::from(&v.ehr),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateListRequest {
    /// 1 to 100 characters, unique in the team without regard to case.
    pub name: String,
    /// Start with a saved column set's columns instead of the defaults.
    #[serde(default)]
    pub schema_id: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RenameListRequest {
    pub name: String,
}
