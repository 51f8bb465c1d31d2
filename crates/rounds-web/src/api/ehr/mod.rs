//! EHR mode: the team's connection to its FHIR server (here), searching it
//! and linking patients to their EHR records (`search.rs`), and the EHR data
//! lists and pages show (`cells.rs`).

use rounds_core::TeamId;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use rounds_app::ehr::{EhrAuthSpec, EhrConnectionSpec, EhrConnectionView, EhrTestReport, Health};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiActor, ApiJson, ApiPath};
use crate::AppState;

mod cells;
pub mod link;
pub mod search;

pub use cells::{cells_dto, EhrCellDto, ListEhrDto, PatientEhrDto, RowEhrDto};

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthDto {
    /// ok, degraded (some reads fail), down (not answering) or unknown (not read yet).
    pub state: String,
    pub message: Option<String>,
    pub last_good_read: Option<String>,
    /// Since when it has been failing.
    pub since: Option<String>,
}

impl From<&Health> for HealthDto {
    fn from(h: &Health) -> Self {
        Self {
            state: h.state.as_str().to_owned(),
            message: h.message.clone(),
            last_good_read: h.last_good_read.map(|t| t.to_rfc3339()),
            since: h.since.map(|t| t.to_rfc3339()),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EhrAuthDto {
    /// none, clientCredentials or backendServices.
    pub kind: String,
    pub client_id: Option<String>,
    /// basic or post (client credentials).
    pub method: Option<String>,
    pub scope: Option<String>,
    pub token_url: Option<String>,
    /// A secret or private key is saved (it is never shown).
    pub has_secret: bool,
    pub key_id: Option<String>,
    /// Backend services: the public keys to register with the EHR's authorization server.
    #[schema(value_type = Option<Object>)]
    pub public_jwks: Option<Value>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EhrConnectionDto {
    pub connected: bool,
    pub name: Option<String>,
    pub health: Option<HealthDto>,
    /// Owners only.
    pub base_url: Option<String>,
    pub auth: Option<EhrAuthDto>,
    pub batch_mode: Option<String>,
    /// Owners only: how several FHIR queries go out.
    pub batch_shape: Option<BatchShapeDto>,
    pub updated_at: Option<String>,
    pub updated_by: Option<String>,
}

/// How a connection sends several FHIR queries at once.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchShapeDto {
    /// auto (measured on the server) or the fixed shape: bundle, bundles:N,
    /// chunks:SIZExN or gets:N.
    pub setting: String,
    /// The shape in use (or that will be), e.g. bundle or gets:8.
    pub shape: Option<String>,
    /// The same in words.
    pub description: Option<String>,
    /// fixed, measured or default (not measured yet).
    pub source: String,
    pub measured_at: Option<String>,
    /// Each candidate's time on the sample: [{shape, micros, error}].
    #[schema(value_type = Option<Object>)]
    pub trials: Option<Value>,
}

impl From<&rounds_app::ehr::BatchShapeView> for BatchShapeDto {
    fn from(v: &rounds_app::ehr::BatchShapeView) -> Self {
        Self {
            setting: v.setting.clone(),
            shape: v.shape.clone(),
            description: v.description.clone(),
            source: v.source.as_str().to_owned(),
            measured_at: v.measured_at.map(|t| t.to_rfc3339()),
            trials: v.trials.clone(),
        }
    }
}

impl From<&EhrConnectionView> for EhrConnectionDto {
    fn from(v: &EhrConnectionView) -> Self {
        let o = v.owner.as_ref();
        Self {
            connected: v.connected,
            name: v.name.clone(),
            health: v.health.as_ref().map(HealthDto::from),
            base_url: o.map(|o| o.base_url.clone()),
            auth: o.map(|o| EhrAuthDto {
                kind: o.auth_kind.clone(),
                client_id: o.client_id.clone(),
                method: o.method.clone(),
                scope: o.scope.clone(),
                token_url: o.token_url.clone(),
                has_secret: o.has_secret,
                key_id: o.key_id.clone(),
                public_jwks: o.public_jwks.clone(),
            }),
            batch_mode: o.map(|o| o.batch_mode.clone()),
            batch_shape: o.map(|o| BatchShapeDto::from(&o.batch_shape)),
            updated_at: o.map(|o| o.updated_at.to_rfc3339()),
            updated_by: o.and_then(|o| o.updated_by.clone()),
        }
    }
}

/// Not `Debug`: it holds a secret.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EhrAuthRequest {
    /// none, clientCredentials or backendServices.
    pub kind: String,
    #[serde(default)]
    pub client_id: Option<String>,
    /// Client credentials: leave out to keep the saved secret.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Client credentials: basic (default) or post.
    #[serde(default)]
    pub method: Option<String>,
    /// Sent as `scope`; where a gateway wants a tenant hint, it goes here.
    #[serde(default)]
    pub scope: Option<String>,
    /// Overrides the token URL found in the server's metadata.
    #[serde(default)]
    pub token_url: Option<String>,
    /// Backend services: make a new key pair (one is made when there is none).
    #[serde(default)]
    pub new_key: bool,
}

/// Not `Debug`: it holds a secret.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetEhrConnectionRequest {
    pub name: String,
    /// The FHIR base URL, http(s).
    pub base_url: String,
    pub auth: EhrAuthRequest,
    /// auto (default), always or never.
    #[serde(default)]
    pub batch_mode: Option<String>,
    /// auto (default: measured on the server, remembered) or a fixed shape:
    /// bundle (one batch Bundle), bundles:N (N Bundles at once),
    /// chunks:SIZExN (Bundles of SIZE entries, N at a time), gets:N (N
    /// concurrent GETs).
    #[serde(default)]
    pub batch_shape: Option<String>,
}

impl SetEhrConnectionRequest {
    fn spec(self) -> Result<EhrConnectionSpec, crate::error::ApiError> {
        let a = self.auth;
        let client_id = a.client_id.unwrap_or_default();
        let auth = match a.kind.as_str() {
            "none" => EhrAuthSpec::None,
            "clientCredentials" => EhrAuthSpec::ClientCredentials {
                client_id,
                client_secret: a.client_secret.map(rounds_app::ehr::Secret::new),
                method: a.method,
                scope: a.scope,
                token_url: a.token_url,
            },
            "backendServices" => EhrAuthSpec::BackendServices {
                client_id,
                scope: a.scope,
                token_url: a.token_url,
                new_key: a.new_key,
            },
            other => {
                return Err(crate::error::ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "validation_failed",
                    format!(
                    "auth.kind: {other:?} is not one of none, clientCredentials, backendServices"
                ),
                )
                .with_field("auth.kind"))
            }
        };
        Ok(EhrConnectionSpec {
            name: self.name,
            base_url: self.base_url,
            auth,
            batch_mode: self.batch_mode,
            batch_shape: self.batch_shape,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EhrCheckDto {
    /// The contract's section.
    pub section: String,
    pub title: String,
    /// pass, fail or notOffered.
    pub outcome: String,
    pub detail: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EhrTestDto {
    pub ok: bool,
    /// DSTU2, STU3, R4, R4B or R5.
    pub version: Option<String>,
    pub fhir_version: Option<String>,
    /// The authentication used (none, client_secret_basic, private_key_jwt (ES384), ...).
    pub auth: String,
    pub token_obtained: Option<bool>,
    pub batch: bool,
    pub resources: Vec<String>,
    pub patient_search: bool,
    pub checks: Vec<EhrCheckDto>,
    /// The batch shape measured on a few of the server's patients during
    /// the test (None: not measured, e.g. the test failed or the shape is
    /// fixed); remembered when the saved connection was tested.
    pub batch_shape: Option<BatchShapeDto>,
    /// What went wrong, in words an IT admin can act on.
    pub error: Option<String>,
}

impl From<EhrTestReport> for EhrTestDto {
    fn from(r: EhrTestReport) -> Self {
        Self {
            ok: r.ok,
            version: r.version,
            fhir_version: r.fhir_version,
            auth: r.auth,
            token_obtained: r.token_obtained,
            batch: r.batch,
            resources: r.resources,
            patient_search: r.patient_search,
            checks: r
                .checks
                .into_iter()
                .map(|c| EhrCheckDto {
                    section: c.section,
                    title: c.title,
                    outcome: c.outcome.to_owned(),
                    detail: c.detail,
                })
                .collect(),
            batch_shape: r.batch_shape.as_ref().map(BatchShapeDto::from),
            error: r.error,
        }
    }
}

/// The team's EHR connection: members see its name and health; owners
/// also its settings (never the secret).
#[utoipa::path(get, path = "/api/v1/teams/{teamId}/ehr-connection", operation_id = "getEhrConnection", tag = "ehr",
    security(("session" = [])),
    params(("teamId" = String, Path)),
    responses((status = 200, body = EhrConnectionDto), (status = 404, body = ErrorBody)))]
pub async fn get_ehr_connection(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(team): ApiPath<TeamId>,
) -> ApiResult<Json<EhrConnectionDto>> {
    let v = state.app.ehr_connection(&actor, team).await?;
    Ok(Json(EhrConnectionDto::from(&v)))
}

/// Set or change the team's EHR connection (owners; recorded as
/// EHRConnectionSet). Secrets are sealed at rest and never shown again.
#[utoipa::path(put, path = "/api/v1/teams/{teamId}/ehr-connection", operation_id = "setEhrConnection", tag = "ehr",
    security(("session" = [], "csrf" = [])),
    params(("teamId" = String, Path)),
    request_body = SetEhrConnectionRequest,
    responses((status = 200, body = EhrConnectionDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_ehr_connection(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(team): ApiPath<TeamId>,
    ApiJson(body): ApiJson<SetEhrConnectionRequest>,
) -> ApiResult<Json<EhrConnectionDto>> {
    let spec = body.spec()?;
    let v = state.app.set_ehr_connection(&actor, team, &spec).await?;
    Ok(Json(EhrConnectionDto::from(&v)))
}

/// Remove the team's EHR connection (owners; recorded as EHRConnectionSet).
/// EHR patients stay on their lists with what the team typed.
#[utoipa::path(delete, path = "/api/v1/teams/{teamId}/ehr-connection", operation_id = "deleteEhrConnection", tag = "ehr",
    security(("session" = [], "csrf" = [])),
    params(("teamId" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_ehr_connection(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(team): ApiPath<TeamId>,
) -> ApiResult<StatusCode> {
    state.app.delete_ehr_connection(&actor, team).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Test a connection (owners): the one given (not saved; omitted secrets
/// are the saved ones), or the saved one when the body is `{}`.
#[utoipa::path(post, path = "/api/v1/teams/{teamId}/ehr-connection/test", operation_id = "testEhrConnection", tag = "ehr",
    security(("session" = [], "csrf" = [])),
    params(("teamId" = String, Path)),
    request_body = Object,
    responses((status = 200, body = EhrTestDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn test_ehr_connection(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(team): ApiPath<TeamId>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<EhrTestDto>> {
    let spec = match &body {
        Value::Object(m) if m.is_empty() => None,
        _ => {
            let req: SetEhrConnectionRequest = serde_json::from_value(body).map_err(|e| {
                crate::error::ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "validation_failed",
                    format!("the connection to test: {e}"),
                )
            })?;
            Some(req.spec()?)
        }
    };
    let report = state
        .app
        .test_ehr_connection(&actor, team, spec.as_ref())
        .await?;
    Ok(Json(EhrTestDto::from(report)))
}
