//! Searching the team's EHR from a list.

use rounds_core::{ListId, TeamId};

use axum::extract::State;
use axum::Json;
use rounds_app::ehr::EhrSearch;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiActor, ApiJson, ApiPath};
use crate::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EhrSearchRequest {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub family: Option<String>,
    #[serde(default)]
    pub given: Option<String>,
    #[serde(default)]
    pub mrn: Option<String>,
    /// YYYY-MM-DD.
    #[serde(default)]
    pub birth_date: Option<String>,
    /// female, male, other or unknown.
    #[serde(default)]
    pub gender: Option<String>,
    /// The FHIR Patient id.
    #[serde(default)]
    pub id: Option<String>,
    /// 1 to 50 (20 by default).
    #[serde(default)]
    pub count: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EhrHitDto {
    pub ehr_id: String,
    pub name: String,
    pub mrn: Option<String>,
    pub birth_date: Option<String>,
    pub gender: Option<String>,
    /// Already on this list.
    pub on_list: bool,
    /// The team's patient for this EHR record, if the team has one.
    pub patient_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EhrSearchDto {
    /// How many the EHR has in all (when it says).
    pub total: Option<u64>,
    pub results: Vec<EhrHitDto>,
}

/// Search the team's EHR from a list (recorded as PatientSearch with the
/// query). Results say which patients are on the list already.
#[utoipa::path(post, path = "/api/v1/teams/{teamId}/lists/{listId}/ehr-search", operation_id = "searchEhr", tag = "ehr",
    security(("session" = [], "csrf" = [])),
    params(("teamId" = String, Path), ("listId" = String, Path)),
    request_body = EhrSearchRequest,
    responses((status = 200, body = EhrSearchDto), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 502, body = ErrorBody)))]
pub async fn search_ehr(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((team, list)): ApiPath<(TeamId, ListId)>,
    ApiJson(body): ApiJson<EhrSearchRequest>,
) -> ApiResult<Json<EhrSearchDto>> {
    let search = EhrSearch {
        name: body.name,
        family: body.family,
        given: body.given,
        mrn: body.mrn,
        birth_date: body.birth_date,
        gender: body.gender,
        id: body.id,
        count: body.count,
    };
    let found = state.app.search_ehr(&actor, team, list, &search).await?;
    Ok(Json(EhrSearchDto {
        total: found.total,
        results: found
            .hits
            .into_iter()
            .map(|h| EhrHitDto {
                ehr_id: h.ehr_id,
                name: h.name,
                mrn: h.mrn,
                birth_date: h.birth_date,
                gender: h.gender,
                on_list: h.on_list,
                patient_id: h.patient_id.map(|p| p.to_string()),
            })
            .collect(),
    }))
}
