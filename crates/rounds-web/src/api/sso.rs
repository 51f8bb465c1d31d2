//! Single sign-on providers and their group mappings, for site
//! administrators: the JSON twin of the admin page `/admin/sign-in`. Every
//! change is recorded as SSOProviderSet; a provider's client secret is
//! write-only (sealed at rest, never returned).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use rounds_app::sso::{MappingInput, MappingView, ProviderInput, ProviderView};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::parse_id;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiActor, ApiJson, ApiPath};
use crate::AppState;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SsoMappingDto {
    pub id: String,
    /// The group's name as the provider's groups claim says it.
    pub group: String,
    /// The team the group's members join; none for site administration.
    pub team_id: Option<String>,
    pub team_name: Option<String>,
    /// `admin` (site administration), `owner` or `member`.
    pub role: String,
}

impl From<MappingView> for SsoMappingDto {
    fn from(m: MappingView) -> Self {
        Self {
            id: m.id,
            group: m.group,
            team_id: m.team_id,
            team_name: m.team_name,
            role: m.role,
        }
    }
}

/// A provider as stored; its client secret is never shown, only whether
/// one is set.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SsoProviderDto {
    pub id: String,
    /// `oidc` (OpenID Connect) or `smart` (sign in with the EHR).
    pub kind: String,
    /// The sign-in button's words.
    pub label: String,
    /// The OpenID issuer, or for `smart` the FHIR server's base URL.
    pub issuer: String,
    pub client_id: String,
    /// A client secret is set (sealed at rest).
    pub has_secret: bool,
    /// Space-separated.
    pub scopes: String,
    pub username_claim: String,
    pub display_name_claim: String,
    pub groups_claim: Option<String>,
    /// Accounts are made at a person's first sign-in.
    pub create_accounts: bool,
    /// From the configuration file: changed there, not here.
    pub from_file: bool,
    pub mappings: Vec<SsoMappingDto>,
}

impl From<ProviderView> for SsoProviderDto {
    fn from(p: ProviderView) -> Self {
        Self {
            id: p.id,
            kind: p.kind.to_owned(),
            label: p.label,
            issuer: p.issuer,
            client_id: p.client_id,
            has_secret: p.has_secret,
            scopes: p.scopes,
            username_claim: p.username_claim,
            display_name_claim: p.display_name_claim,
            groups_claim: p.groups_claim,
            create_accounts: p.create_accounts,
            from_file: p.from_file,
            mappings: p.mappings.into_iter().map(SsoMappingDto::from).collect(),
        }
    }
}

/// Not `Debug`: it holds a secret.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetSsoProviderRequest {
    /// `oidc` (default) or `smart`.
    #[serde(default)]
    pub kind: Option<String>,
    pub label: String,
    pub issuer: String,
    pub client_id: String,
    /// Write-only: sealed at rest and never returned. Leave out (or empty)
    /// to keep the saved one.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Space-separated, must include `openid`; default by kind.
    #[serde(default)]
    pub scopes: Option<String>,
    #[serde(default)]
    pub username_claim: Option<String>,
    #[serde(default)]
    pub display_name_claim: Option<String>,
    #[serde(default)]
    pub groups_claim: Option<String>,
    #[serde(default)]
    pub create_accounts: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddSsoMappingRequest {
    pub group: String,
    /// The team; leave out for the role `admin` (site administration).
    #[serde(default)]
    pub team_id: Option<String>,
    /// `admin`, `owner` or `member`.
    pub role: String,
}

/// Every single sign-on provider with its group mappings (site
/// administrators only).
#[utoipa::path(get, path = "/api/v1/sso/providers", operation_id = "listSsoProviders", tag = "sso",
    security(("session" = [])),
    responses((status = 200, body = Vec<SsoProviderDto>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_sso_providers(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> ApiResult<Json<Vec<SsoProviderDto>>> {
    let providers = state.app.sso_providers(&actor).await?;
    Ok(Json(
        providers.into_iter().map(SsoProviderDto::from).collect(),
    ))
}

/// Add (201) or change (200) the provider `providerId` (site
/// administrators only; recorded as SSOProviderSet). Its client secret is
/// sealed at rest and never shown again; providers from the configuration
/// file are changed in the file (409).
#[utoipa::path(put, path = "/api/v1/sso/providers/{providerId}", operation_id = "setSsoProvider", tag = "sso",
    security(("session" = [], "csrf" = [])),
    params(("providerId" = String, Path, description = "Short name: 1-40 of a-z, 0-9 and -; in the sign-in addresses")),
    request_body = SetSsoProviderRequest,
    responses(
        (status = 200, body = SsoProviderDto, description = "Changed"),
        (status = 201, body = SsoProviderDto, description = "Added"),
        (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "The provider comes from the configuration file"),
        (status = 422, body = ErrorBody, description = "A field breaks its rule; `field` names it"),
    ))]
pub async fn set_sso_provider(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(provider): ApiPath<String>,
    ApiJson(body): ApiJson<SetSsoProviderRequest>,
) -> ApiResult<(StatusCode, Json<SsoProviderDto>)> {
    let input = ProviderInput {
        id: provider,
        kind: body.kind,
        label: body.label,
        issuer: body.issuer,
        client_id: body.client_id,
        client_secret: body.client_secret,
        scopes: body.scopes,
        username_claim: body.username_claim,
        display_name_claim: body.display_name_claim,
        groups_claim: body.groups_claim,
        create_accounts: body.create_accounts,
    };
    let (view, created) = state.app.put_sso_provider(&actor, &input).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(SsoProviderDto::from(view))))
}

/// Remove a provider and its group mappings (site administrators only;
/// recorded as SSOProviderSet). Accounts and their identity links stay.
#[utoipa::path(delete, path = "/api/v1/sso/providers/{providerId}", operation_id = "deleteSsoProvider", tag = "sso",
    security(("session" = [], "csrf" = [])),
    params(("providerId" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_sso_provider(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(provider): ApiPath<String>,
) -> ApiResult<StatusCode> {
    state.app.delete_sso_provider(&actor, &provider).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Map a directory group to a team and role, or to site administration
/// (site administrators only; recorded as SSOProviderSet). Applied at each
/// sign-in through the provider.
#[utoipa::path(post, path = "/api/v1/sso/providers/{providerId}/mappings", operation_id = "addSsoMapping", tag = "sso",
    security(("session" = [], "csrf" = [])),
    params(("providerId" = String, Path)),
    request_body = AddSsoMappingRequest,
    responses((status = 201, body = SsoMappingDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_sso_mapping(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(provider): ApiPath<String>,
    ApiJson(body): ApiJson<AddSsoMappingRequest>,
) -> ApiResult<(StatusCode, Json<SsoMappingDto>)> {
    let team_id = body
        .team_id
        .as_deref()
        .map(|t| parse_id("teamId", t))
        .transpose()?;
    let input = MappingInput {
        group: body.group,
        team: None,
        team_id,
        role: body.role,
    };
    let view = state.app.add_sso_mapping(&actor, &provider, &input).await?;
    Ok((StatusCode::CREATED, Json(SsoMappingDto::from(view))))
}

/// Remove a group mapping (site administrators only; recorded as
/// SSOProviderSet). Memberships it gave end at the person's next sign-in.
#[utoipa::path(delete, path = "/api/v1/sso/providers/{providerId}/mappings/{mappingId}", operation_id = "deleteSsoMapping", tag = "sso",
    security(("session" = [], "csrf" = [])),
    params(("providerId" = String, Path), ("mappingId" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_sso_mapping(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((provider, mapping)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    state
        .app
        .delete_sso_mapping(&actor, &provider, &mapping)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
