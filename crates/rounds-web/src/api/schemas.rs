//! A team's saved column sets (schemas): list, save from a list or
//! explicitly, rename and replace their columns.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use rounds_core::lists::{ColumnSchema, SchemaColumn};
use rounds_core::{SchemaId, TeamId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::parse_id;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiActor, ApiJson, ApiPath};
use crate::AppState;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SchemaDto {
    pub id: String,
    pub name: String,
    #[schema(value_type = Vec<Object>)]
    pub columns: Vec<SchemaColumn>,
    pub updated_at: String,
}

impl From<&ColumnSchema> for SchemaDto {
    fn from(s: &ColumnSchema) -> Self {
        Self {
            id: s.id.to_string(),
            name: s.name.clone(),
            columns: s.columns.clone(),
            updated_at: s.updated_at.to_rfc3339(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateSchemaRequest {
    pub name: String,
    /// Save the columns of this list…
    #[serde(default)]
    pub from_list_id: Option<String>,
    /// …or these columns ({key, hidden, width}).
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub columns: Option<Vec<SchemaColumn>>,
}

/// The team's saved column sets.
#[utoipa::path(get, path = "/api/v1/teams/{teamId}/schemas", operation_id = "listSchemas", tag = "lists",
    security(("session" = [])),
    params(("teamId" = String, Path)),
    responses((status = 200, body = Vec<SchemaDto>), (status = 404, body = ErrorBody)))]
pub async fn list_schemas(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(team): ApiPath<TeamId>,
) -> ApiResult<Json<Vec<SchemaDto>>> {
    let schemas = state.app.list_schemas(&actor, team).await?;
    Ok(Json(schemas.iter().map(SchemaDto::from).collect()))
}

/// Save a named column set, from a list's columns or given explicitly.
#[utoipa::path(post, path = "/api/v1/teams/{teamId}/schemas", operation_id = "createSchema", tag = "lists",
    security(("session" = [], "csrf" = [])),
    params(("teamId" = String, Path)),
    request_body = CreateSchemaRequest,
    responses((status = 201, body = SchemaDto), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_schema(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(team): ApiPath<TeamId>,
    ApiJson(body): ApiJson<CreateSchemaRequest>,
) -> ApiResult<(StatusCode, Json<SchemaDto>)> {
    let from = body
        .from_list_id
        .as_deref()
        .map(|l| parse_id("fromListId", l))
        .transpose()?;
    let schema = state
        .app
        .create_schema(&actor, team, &body.name, from, body.columns)
        .await?;
    Ok((StatusCode::CREATED, Json(SchemaDto::from(&schema))))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateSchemaRequest {
    #[serde(default)]
    pub name: Option<String>,
    /// Replace the columns with this list's…
    #[serde(default)]
    pub from_list_id: Option<String>,
    /// …or with these ({key, hidden, width}).
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub columns: Option<Vec<SchemaColumn>>,
}

/// Rename a saved column set or replace its columns.
#[utoipa::path(patch, path = "/api/v1/teams/{teamId}/schemas/{schemaId}", operation_id = "updateSchema", tag = "lists",
    security(("session" = [], "csrf" = [])),
    params(("teamId" = String, Path), ("schemaId" = String, Path)),
    request_body = UpdateSchemaRequest,
    responses((status = 200, body = SchemaDto), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_schema(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((team, schema)): ApiPath<(TeamId, SchemaId)>,
    ApiJson(body): ApiJson<UpdateSchemaRequest>,
) -> ApiResult<Json<SchemaDto>> {
    let from = body
        .from_list_id
        .as_deref()
        .map(|l| parse_id("fromListId", l))
        .transpose()?;
    let schema = state
        .app
        .update_schema(
            &actor,
            team,
            schema,
            body.name.as_deref(),
            from,
            body.columns,
        )
        .await?;
    Ok(Json(SchemaDto::from(&schema)))
}
