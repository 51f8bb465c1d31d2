//! Hand-off pages: "My tasks" of a team.

use axum::extract::State;
use axum::http::StatusCode;
use minijinja::context;
use rounds_core::model::TeamRole;
use rounds_core::{ListId, TeamId};

use super::{render, PageActor, PagePath, PageResult};
use crate::api::dto::{MemberDto, TeamDto};
use crate::AppState;

/// "My tasks": the page loads the tasks from the API and keeps them live.
pub async fn my_tasks_page(
    State(state): State<AppState>,
    page: PageActor,
    PagePath(team): PagePath<TeamId>,
) -> PageResult {
    let detail = state.app.get_team(&page.actor, team).await?;
    let (me, csrf) = page.page_context();
    Ok(render(
        &state,
        StatusCode::OK,
        "my_tasks.html",
        context! {
            me, csrf,
            team => TeamDto::from(&detail.team),
            members => detail.members.iter().map(MemberDto::from).collect::<Vec<_>>(),
            is_owner => detail.my_role == TeamRole::Owner,
        },
    ))
}

#[derive(serde::Serialize)]
struct SheetTask {
    body: String,
    owner: Option<String>,
    due: Option<String>,
    overdue: bool,
}

#[derive(serde::Serialize)]
struct SheetValue {
    label: String,
    value: String,
    at: Option<String>,
}

#[derive(serde::Serialize)]
struct SheetPatient {
    name: String,
    location: String,
    age_sex: String,
    mrn: String,
    severity: Option<&'static str>,
    summary: String,
    contingency: String,
    synthesis: String,
    tasks: Vec<SheetTask>,
    values: Vec<SheetValue>,
}

/// The printable hand-off sheet of a list: one block per patient (name,
/// bed, severity, summary, open tasks, contingencies, the latest EHR values
/// the list shows with their times). Printed with the browser (print
/// stylesheet in handoff.css).
pub async fn handoff_sheet_page(
    State(state): State<AppState>,
    page: PageActor,
    PagePath((team, list)): PagePath<(TeamId, ListId)>,
) -> PageResult {
    let detail = state.app.get_team(&page.actor, team).await?;
    let sheet = state.app.handoff_sheet(&page.actor, team, list).await?;
    let now = rounds_core::Timestamp::now();
    let ehr_columns: Vec<(String, String)> = sheet
        .view
        .columns
        .iter()
        .filter(|c| !c.hidden && matches!(c.key, rounds_core::lists::ColumnKey::Ehr(_)))
        .map(|c| (c.key.to_string(), c.label.clone()))
        .collect();
    let patients: Vec<SheetPatient> = sheet
        .view
        .rows
        .iter()
        .map(|r| {
            let shown = |k: &str| r.display.get(k).cloned().unwrap_or_default();
            let ipass = sheet.ipass.get(&r.patient_id).cloned().unwrap_or_default();
            SheetPatient {
                name: shown("name"),
                location: shown("location"),
                age_sex: shown("ageSex"),
                mrn: shown("mrn"),
                severity: ipass.severity.map(|s| s.label()),
                summary: ipass.summary,
                contingency: ipass.contingency,
                synthesis: ipass.synthesis,
                tasks: sheet
                    .tasks
                    .get(&r.patient_id)
                    .map(|ts| {
                        ts.iter()
                            .map(|t| SheetTask {
                                body: t.body.clone(),
                                owner: t.owner_name.clone(),
                                due: t.due_at.map(rounds_core::Timestamp::to_rfc3339),
                                overdue: t.is_overdue(now),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                values: ehr_columns
                    .iter()
                    .filter_map(|(key, label)| {
                        let value = r.display.get(key).filter(|v| !v.is_empty())?;
                        Some(SheetValue {
                            label: label.clone(),
                            value: value.clone(),
                            at: r.cells.get(key).and_then(|c| c.at.clone()),
                        })
                    })
                    .collect(),
            }
        })
        .collect();
    let (me, csrf) = page.page_context();
    Ok(render(
        &state,
        StatusCode::OK,
        "handoff_sheet.html",
        context! {
            me, csrf,
            team => TeamDto::from(&detail.team),
            list => crate::api::lists::ListDto::from(&sheet.view.list),
            printed_at => now.to_rfc3339(),
            patients,
        },
    ))
}
