//! Patient list pages: the list as a table, its meeting view, a patient's
//! detail page, and the no-JavaScript forms behind them. The pages are
//! rendered with the data already in them; the scripts in `static/` then
//! talk to the JSON API for editing and live updates.

use std::collections::BTreeMap;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use minijinja::context;
use rounds_app::{AppError, NewPatient, ResolvedColumn};
use rounds_core::model::TeamRole;
use rounds_core::view::ViewSpec;
use rounds_core::{ListId, PatientId, SchemaId, TeamId};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{message, render, CheckedForm, NoFields, PageActor, PagePath, PageResult};
use crate::api::dto::{MemberDto, TeamDto};
use crate::api::lists::{view_spec, ColumnDto, ListDto, ListViewDto};
use crate::api::schemas::SchemaDto;
use crate::api::NoteDto;
use crate::AppState;

/// The patient fields every patient has, in the order the pages show them.
const PATIENT_FIELDS: [(&str, &str, &str); 8] = [
    ("family", "Family name", "text"),
    ("given", "Given names", "text"),
    ("mrn", "MRN", "text"),
    ("birthDate", "Birth date", "date"),
    ("sex", "Sex", "sex"),
    ("ward", "Ward", "text"),
    ("room", "Room", "text"),
    ("bed", "Bed", "text"),
];

#[derive(Serialize)]
struct FieldView {
    key: String,
    label: String,
    kind: String,
    value: String,
    display: String,
    version: i64,
}

#[derive(Serialize)]
struct NoteView {
    /// The note as the API gives it (camelCase fields).
    #[serde(flatten)]
    note: NoteDto,
    mine: bool,
}

/// The team's lists, its saved column sets and the viewer's role: the team page's part.
pub(crate) struct TeamLists {
    pub lists: Vec<ListDto>,
    pub schemas: Vec<SchemaDto>,
}

pub(crate) async fn team_lists(
    state: &AppState,
    page: &PageActor,
    team: TeamId,
) -> Result<TeamLists, AppError> {
    let lists = state.app.list_lists(&page.actor, team).await?;
    let schemas = state.app.list_schemas(&page.actor, team).await?;
    Ok(TeamLists {
        lists: lists.iter().map(ListDto::from).collect(),
        schemas: schemas.iter().map(SchemaDto::from).collect(),
    })
}

/// `/teams/{teamId}/lists/{listId}` and its meeting view share this.
async fn list_view(
    state: &AppState,
    page: &PageActor,
    team: TeamId,
    list: ListId,
    query: Option<&str>,
    template: &str,
) -> PageResult {
    // The list's EHR patients are read from now, beside the page's own
    // reads (a refusal shows below, from getList).
    let _ = state.app.read_list_ahead(&page.actor, team, list).await;
    let detail = state.app.get_team(&page.actor, team).await?;
    // A view the address asks for that cannot be had (an old link to a
    // removed column, say) shows the list unsorted, with the reason.
    let (spec, view_error) = match view_spec(query) {
        Ok(spec) => (spec, None),
        Err(e) => (ViewSpec::default(), Some(e.message)),
    };
    let (view, view_error) = match state.app.get_list(&page.actor, team, list, &spec).await {
        Ok(v) => (v, view_error),
        Err(AppError::Invalid(e)) => {
            match state
                .app
                .get_list(&page.actor, team, list, &ViewSpec::default())
                .await
            {
                Ok(v) => (v, Some(e.message)),
                Err(err) => return Err(err.into()),
            }
        }
        Err(err) => return Err(err.into()),
    };
    let lists = state.app.list_lists(&page.actor, team).await?;
    // The team's own columns, which the column picker offers first.
    let team_columns: Vec<Value> = match state.app.team_columns(&page.actor, team).await {
        Ok(cs) => cs
            .iter()
            .map(|c| {
                serde_json::json!({
                    "key": c.id.to_string(),
                    "label": c.label,
                    "type": c.kind.as_str(),
                    "unit": c.unit,
                })
            })
            .collect(),
        Err(err) => return Err(err.into()),
    };
    let dto = ListViewDto::from(&view);
    let columns: Vec<&ColumnDto> = dto.columns.iter().filter(|c| !c.hidden).collect();
    let choice_colours = choice_colours(&view.columns);
    let (me, csrf) = page.page_context();
    Ok(render(
        state,
        StatusCode::OK,
        template,
        context! {
            me, csrf,
            team => TeamDto::from(&detail.team),
            is_owner => detail.my_role == TeamRole::Owner,
            members => detail.members.iter().map(MemberDto::from).collect::<Vec<_>>(),
            list => dto.list,
            columns,
            rows => dto.rows,
            total => dto.total,
            last_event_id => dto.last_event_id,
            lists => lists.iter().map(ListDto::from).collect::<Vec<_>>(),
            colours => choice_colours,
            team_columns,
            query => query.unwrap_or(""),
            view_error,
        },
    ))
}

/// Column key → option id → a CSS class naming the option's colour slot.
/// The colours themselves are applied by the script (no inline styles
/// under the Content-Security-Policy); the server-rendered table shows the
/// label only.
fn choice_colours(columns: &[ResolvedColumn]) -> BTreeMap<String, BTreeMap<String, String>> {
    columns
        .iter()
        .filter_map(|c| {
            let team = c.team.as_ref()?;
            (!team.options.is_empty()).then(|| {
                (
                    c.key.to_string(),
                    team.options
                        .iter()
                        .map(|o| (o.id.clone(), o.color.clone()))
                        .collect(),
                )
            })
        })
        .collect()
}

pub async fn list_page(
    State(state): State<AppState>,
    page: PageActor,
    PagePath((team, list)): PagePath<(TeamId, ListId)>,
    RawQuery(query): RawQuery,
) -> PageResult {
    list_view(&state, &page, team, list, query.as_deref(), "list.html").await
}

/// The meeting view: its own data (the meeting's column set, masked when
/// the address says `masked=1`), so that a masked page holds no name or
/// MRN even before its script runs.
pub async fn meeting_page(
    State(state): State<AppState>,
    page: PageActor,
    PagePath((team, list)): PagePath<(TeamId, ListId)>,
    RawQuery(query): RawQuery,
) -> PageResult {
    let detail = state.app.get_team(&page.actor, team).await?;
    let query = query.unwrap_or_default();
    let masked = crate::api::meeting::wants_masked(Some(&query));
    let spec = view_spec(Some(&query)).unwrap_or_default();
    let view = match state
        .app
        .get_meeting(&page.actor, team, list, &spec, masked)
        .await
    {
        Ok(v) => v,
        Err(AppError::Invalid(_)) => {
            state
                .app
                .get_meeting(&page.actor, team, list, &ViewSpec::default(), masked)
                .await?
        }
        Err(err) => return Err(err.into()),
    };
    let dto = crate::api::meeting::MeetingDto::from(&view);
    // The list's own view (sort, filter) without the mask switch, for the
    // links that keep it.
    let kept: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            form_urlencoded::parse(query.as_bytes()).filter(|(k, _)| k != "masked" && k != "mask"),
        )
        .finish();
    let join = |extra: &str| match (kept.is_empty(), extra.is_empty()) {
        (true, _) => extra.to_owned(),
        (false, true) => kept.clone(),
        (false, false) => format!("{kept}&{extra}"),
    };
    let (me, csrf) = page.page_context();
    Ok(render(
        &state,
        StatusCode::OK,
        "meeting.html",
        context! {
            me, csrf,
            team => TeamDto::from(&detail.team),
            list => dto.list,
            columns => dto.columns,
            rows => dto.rows,
            masked,
            last_event_id => dto.last_event_id,
            list_query => kept.clone(),
            mask_query => join(if masked { "" } else { "masked=1" }),
        },
    ))
}

pub async fn patient_page(
    State(state): State<AppState>,
    page: PageActor,
    PagePath((team, patient)): PagePath<(TeamId, PatientId)>,
) -> PageResult {
    let detail = state.app.get_team(&page.actor, team).await?;
    let p = state.app.get_patient(&page.actor, team, patient).await?;
    let notes = state.app.list_notes(&page.actor, team, patient).await?;
    let value_of = |key: &str| {
        p.values.get(key).map_or((String::new(), 0), |v| {
            (v.value.clone().unwrap_or_default(), v.version)
        })
    };
    let fields: Vec<FieldView> = PATIENT_FIELDS
        .iter()
        .map(|(key, label, kind)| {
            let (value, version) = value_of(key);
            FieldView {
                key: (*key).to_owned(),
                label: (*label).to_owned(),
                kind: (*kind).to_owned(),
                display: value.clone(),
                value,
                version,
            }
        })
        .collect();
    let team_fields: Vec<FieldView> = p
        .team_columns
        .iter()
        .map(|c| {
            let key = c.id.to_string();
            let (value, version) = value_of(&key);
            FieldView {
                display: p.display.get(&key).cloned().unwrap_or_default(),
                label: c.label.clone(),
                kind: c.kind.as_str().to_owned(),
                key,
                value,
                version,
            }
        })
        .collect();
    let columns = ColumnDto::of_team_columns(&p.team_columns);
    let me_id = page.actor.user.id;
    let notes: Vec<NoteView> = notes
        .iter()
        .filter(|n| !n.deleted)
        .map(|n| NoteView {
            note: NoteDto::from(n),
            mine: n.author_id == me_id,
        })
        .collect();
    let (me, csrf) = page.page_context();
    Ok(render(
        &state,
        StatusCode::OK,
        "patient.html",
        context! {
            me, csrf,
            team => TeamDto::from(&detail.team),
            members => detail.members.iter().map(MemberDto::from).collect::<Vec<_>>(),
            patient_id => p.patient_id.to_string(),
            name => p.display.get("name").cloned().unwrap_or_default(),
            age_sex => p.display.get("ageSex").cloned().unwrap_or_default(),
            duplicate_mrn => p.duplicate_mrn,
            fields, team_fields, columns, notes,
            lists => p.lists.iter().map(ListDto::from).collect::<Vec<_>>(),
            is_owner => detail.my_role == TeamRole::Owner,
        },
    ))
}

#[derive(Deserialize)]
pub struct NewListForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    schema_id: String,
}

pub async fn create_list(
    State(state): State<AppState>,
    page: PageActor,
    PagePath(team): PagePath<TeamId>,
    CheckedForm(form): CheckedForm<NewListForm>,
) -> PageResult {
    let schema = if form.schema_id.is_empty() {
        None
    } else {
        match form.schema_id.parse::<SchemaId>() {
            Ok(s) => Some(s),
            Err(_) => {
                return Ok(message(
                    &state,
                    Some(&page.session),
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "That did not work",
                    "The chosen column set does not exist.",
                ))
            }
        }
    };
    match state
        .app
        .create_list(&page.actor, team, &form.name, schema)
        .await
    {
        Ok(list) => Ok(Redirect::to(&format!("/teams/{team}/lists/{}", list.id)).into_response()),
        Err(err @ (AppError::NotFound { .. } | AppError::Forbidden { .. })) => Err(err.into()),
        Err(err) => {
            super::teams::team_view_with_list_error(&state, &page, team, &form.name, err).await
        }
    }
}

pub async fn set_default(
    State(state): State<AppState>,
    page: PageActor,
    PagePath((team, list)): PagePath<(TeamId, ListId)>,
    CheckedForm(_): CheckedForm<NoFields>,
) -> PageResult {
    state.app.set_default_list(&page.actor, team, list).await?;
    Ok(Redirect::to(&format!("/teams/{team}?done=default")).into_response())
}

pub async fn delete_list(
    State(state): State<AppState>,
    page: PageActor,
    PagePath((team, list)): PagePath<(TeamId, ListId)>,
    CheckedForm(_): CheckedForm<NoFields>,
) -> PageResult {
    state.app.delete_list(&page.actor, team, list).await?;
    Ok(Redirect::to(&format!("/teams/{team}?done=list-deleted")).into_response())
}

/// The add-patient form without JavaScript (the script sends the same
/// fields to addPatient itself).
#[derive(Deserialize)]
pub struct AddPatientForm {
    #[serde(flatten)]
    fields: BTreeMap<String, String>,
}

pub async fn add_patient(
    State(state): State<AppState>,
    page: PageActor,
    PagePath((team, list)): PagePath<(TeamId, ListId)>,
    CheckedForm(form): CheckedForm<AddPatientForm>,
) -> PageResult {
    let mut fields = Map::new();
    for (key, _, _) in PATIENT_FIELDS {
        if let Some(v) = form.fields.get(key).map(|v| v.trim()) {
            if !v.is_empty() {
                fields.insert(key.to_owned(), Value::String(v.to_owned()));
            }
        }
    }
    let new = NewPatient {
        existing: None,
        fields,
        ehr_id: None,
    };
    state.app.add_patient(&page.actor, team, list, &new).await?;
    Ok(Redirect::to(&format!("/teams/{team}/lists/{list}")).into_response())
}

#[derive(Deserialize)]
pub struct NoteForm {
    #[serde(default)]
    body: String,
}

pub async fn add_note(
    State(state): State<AppState>,
    page: PageActor,
    PagePath((team, patient)): PagePath<(TeamId, PatientId)>,
    CheckedForm(form): CheckedForm<NoteForm>,
) -> PageResult {
    state
        .app
        .add_note(&page.actor, team, patient, &form.body)
        .await?;
    Ok(Redirect::to(&format!("/teams/{team}/patients/{patient}")).into_response())
}
