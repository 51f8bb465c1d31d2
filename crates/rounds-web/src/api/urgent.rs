//! Urgent notes: the team's open ones, acknowledging one, and the team's
//! rule (interval and repeats before escalation).

use axum::extract::State;
use axum::Json;
use rounds_app::UrgentView;
use rounds_core::urgent::UrgentRule;
use rounds_core::Timestamp;
use rounds_core::{NoteId, TeamId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::parse_id;
use super::patients::NoteDto;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiActor, ApiJson, ApiPath};
use crate::AppState;

/// How an urgent note stands.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UrgentDto {
    /// `team`, `owners` or `members`.
    pub audience: String,
    /// With audience `members`: the members named.
    pub recipients: Vec<String>,
    pub sent_at: String,
    /// How many times it alerted again.
    pub repeats: i64,
    /// When it alerts again; null once acknowledged.
    pub next_notify_at: Option<String>,
    /// When the owners were alerted too.
    pub escalated_at: Option<String>,
    pub acknowledged_by: Option<String>,
    pub acknowledged_by_name: Option<String>,
    pub acknowledged_at: Option<String>,
    /// Whom it alerts now (empty once acknowledged).
    pub to: Vec<String>,
    /// It alerts you.
    pub to_me: bool,
}

impl From<&UrgentView> for UrgentDto {
    fn from(v: &UrgentView) -> Self {
        let s = &v.state;
        Self {
            audience: s.audience.as_str().to_owned(),
            recipients: s.recipients.iter().map(ToString::to_string).collect(),
            sent_at: s.sent_at.to_rfc3339(),
            repeats: s.repeats,
            next_notify_at: s.next_notify_at.map(Timestamp::to_rfc3339),
            escalated_at: s.escalated_at.map(Timestamp::to_rfc3339),
            acknowledged_by: s.acknowledged.as_ref().map(|a| a.by.to_string()),
            acknowledged_by_name: s.acknowledged.as_ref().map(|a| a.by_name.clone()),
            acknowledged_at: s.acknowledged.as_ref().map(|a| a.at.to_rfc3339()),
            to: v.to.iter().map(ToString::to_string).collect(),
            to_me: v.to_me,
        }
    }
}

/// An urgent note with its patient.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UrgentNoteDto {
    pub note: NoteDto,
    pub urgent: UrgentDto,
    pub patient_name: String,
    pub location: String,
    pub list_ids: Vec<String>,
}

impl From<&UrgentView> for UrgentNoteDto {
    fn from(v: &UrgentView) -> Self {
        let mut note = NoteDto::from(&v.note);
        note.urgent = Some(UrgentDto::from(v));
        Self {
            note,
            urgent: UrgentDto::from(v),
            patient_name: v.patient_name.clone(),
            location: v.location.clone(),
            list_ids: v.lists.iter().map(ToString::to_string).collect(),
        }
    }
}

/// Mark a new note urgent: for the whole team, its owners, or named members.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UrgentRequestDto {
    /// `team`, `owners` or `members`.
    pub to: String,
    /// With `members`: their user ids.
    #[serde(default)]
    pub members: Vec<String>,
}

impl UrgentRequestDto {
    pub(crate) fn parse(&self) -> Result<rounds_app::UrgentRequest, crate::error::ApiError> {
        Ok(rounds_app::UrgentRequest {
            audience: super::parse_choice("urgent.to", &self.to, "team, owners, members")?,
            members: self
                .members
                .iter()
                .map(|m| parse_id("urgent.members", m))
                .collect::<Result<_, _>>()?,
        })
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UrgentRuleDto {
    /// Seconds between alerts until someone acknowledges (default 300).
    pub interval_secs: i64,
    /// Alerts again after which the owners are alerted too (default 3).
    pub escalate_after: i64,
}

/// The team's urgent notes nobody has acknowledged, oldest first; `toMe`
/// says which alert you (recorded as PatientView).
#[utoipa::path(get, path = "/api/v1/teams/{teamId}/urgent", operation_id = "listUrgent", tag = "notes",
    security(("session" = [])),
    params(("teamId" = String, Path)),
    responses((status = 200, body = Vec<UrgentNoteDto>), (status = 404, body = ErrorBody)))]
pub async fn list_urgent(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(team): ApiPath<TeamId>,
) -> ApiResult<Json<Vec<UrgentNoteDto>>> {
    let found = state.app.open_urgent(&actor, team).await?;
    Ok(Json(found.iter().map(UrgentNoteDto::from).collect()))
}

/// One urgent note of the team as it stands (acknowledged or not): what a
/// screen reads after an event naming it (recorded as PatientView).
#[utoipa::path(get, path = "/api/v1/teams/{teamId}/urgent/{noteId}", operation_id = "getUrgent", tag = "notes",
    security(("session" = [])),
    params(("teamId" = String, Path), ("noteId" = String, Path)),
    responses((status = 200, body = UrgentNoteDto), (status = 404, body = ErrorBody)))]
pub async fn get_urgent(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((team, note)): ApiPath<(TeamId, NoteId)>,
) -> ApiResult<Json<UrgentNoteDto>> {
    let found = state.app.urgent_note(&actor, team, note).await?;
    Ok(Json(UrgentNoteDto::from(&found)))
}

/// "Seen — I'll handle it": acknowledge an urgent note addressed to you;
/// it stops alerting everyone. When someone else was first, nothing changes
/// and the answer says who.
#[utoipa::path(post, path = "/api/v1/teams/{teamId}/notes/{noteId}/acknowledge", operation_id = "acknowledgeUrgent", tag = "notes",
    security(("session" = [], "csrf" = [])),
    params(("teamId" = String, Path), ("noteId" = String, Path)),
    responses((status = 200, body = UrgentNoteDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn acknowledge_urgent(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((team, note)): ApiPath<(TeamId, NoteId)>,
) -> ApiResult<Json<UrgentNoteDto>> {
    let view = state.app.acknowledge_urgent(&actor, team, note).await?;
    Ok(Json(UrgentNoteDto::from(&view)))
}

/// The team's rule for urgent notes.
#[utoipa::path(get, path = "/api/v1/teams/{teamId}/urgent-rule", operation_id = "getUrgentRule", tag = "notes",
    security(("session" = [])),
    params(("teamId" = String, Path)),
    responses((status = 200, body = UrgentRuleDto), (status = 404, body = ErrorBody)))]
pub async fn get_urgent_rule(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(team): ApiPath<TeamId>,
) -> ApiResult<Json<UrgentRuleDto>> {
    let rule = state.app.urgent_rule(&actor, team).await?;
    Ok(Json(UrgentRuleDto {
        interval_secs: rule.interval_secs,
        escalate_after: rule.escalate_after,
    }))
}

/// Set the team's rule for urgent notes (owners).
#[utoipa::path(put, path = "/api/v1/teams/{teamId}/urgent-rule", operation_id = "setUrgentRule", tag = "notes",
    security(("session" = [], "csrf" = [])),
    params(("teamId" = String, Path)),
    request_body = UrgentRuleDto,
    responses((status = 200, body = UrgentRuleDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_urgent_rule(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(team): ApiPath<TeamId>,
    ApiJson(body): ApiJson<UrgentRuleDto>,
) -> ApiResult<Json<UrgentRuleDto>> {
    let rule = state
        .app
        .set_urgent_rule(
            &actor,
            team,
            UrgentRule {
                interval_secs: body.interval_secs,
                escalate_after: body.escalate_after,
            },
        )
        .await?;
    Ok(Json(UrgentRuleDto {
        interval_secs: rule.interval_secs,
        escalate_after: rule.escalate_after,
    }))
}

/// A note that asks for a read receipt: how many have seen it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptCountDto {
    /// People who have seen it (its author not counted).
    pub seen: usize,
    /// You are among them.
    pub seen_by_me: bool,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptDto {
    pub user_id: String,
    pub name: String,
    /// When the note was first shown on their screen.
    pub seen_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeenDto {
    /// False when it was known already (or you wrote the note).
    pub recorded: bool,
}

/// The note was shown on your screen: recorded once per person for a note
/// whose author asked for a read receipt (404 for one that did not).
#[utoipa::path(post, path = "/api/v1/teams/{teamId}/notes/{noteId}/seen", operation_id = "noteSeen", tag = "notes",
    security(("session" = [], "csrf" = [])),
    params(("teamId" = String, Path), ("noteId" = String, Path)),
    responses((status = 200, body = SeenDto), (status = 404, body = ErrorBody)))]
pub async fn note_seen(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((team, note)): ApiPath<(TeamId, NoteId)>,
) -> ApiResult<Json<SeenDto>> {
    let recorded = state.app.note_seen(&actor, team, note).await?;
    Ok(Json(SeenDto { recorded }))
}

/// Who has seen a note that asks for a read receipt, and when (recorded as
/// NoteReceiptView).
#[utoipa::path(get, path = "/api/v1/teams/{teamId}/notes/{noteId}/receipts", operation_id = "listReceipts", tag = "notes",
    security(("session" = [])),
    params(("teamId" = String, Path), ("noteId" = String, Path)),
    responses((status = 200, body = Vec<ReceiptDto>), (status = 404, body = ErrorBody)))]
pub async fn list_receipts(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((team, note)): ApiPath<(TeamId, NoteId)>,
) -> ApiResult<Json<Vec<ReceiptDto>>> {
    let seen = state.app.note_receipts(&actor, team, note).await?;
    Ok(Json(
        seen.iter()
            .map(|r| ReceiptDto {
                user_id: r.user_id.to_string(),
                name: r.name.clone(),
                seen_at: r.seen_at.to_rfc3339(),
            })
            .collect(),
    ))
}
