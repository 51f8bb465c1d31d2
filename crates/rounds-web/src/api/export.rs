//! Export of a list as shown: CSV, Excel or a FHIR List Bundle.

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rounds_app::export::{ListExport, ListFormat};

use super::lists::view_spec;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiActor, ApiPath};
use crate::AppState;
use rounds_core::{ListId, TeamId};

/// The `format` of an export query: csv (default), xlsx or fhir; `print`
/// only where a page asks (`allow_print`).
pub fn format_of(query: Option<&str>, allow_print: bool) -> ApiResult<ListFormat> {
    let raw = form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == "format")
        .map(|(_, v)| v.into_owned());
    let allowed = if allow_print {
        "csv, xlsx, fhir, print"
    } else {
        "csv, xlsx, fhir"
    };
    match raw.as_deref().map(str::trim) {
        None | Some("") => Ok(ListFormat::Csv),
        Some(s) => ListFormat::parse(s)
            .filter(|f| allow_print || *f != ListFormat::Print)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "validation_failed",
                    format!("format: {s:?} is not one of {allowed}"),
                )
                .with_field("format")
            }),
    }
}

/// The export as a download.
pub fn download(export: ListExport) -> Response {
    let disposition = format!("attachment; filename=\"{}\"", export.file_name);
    let content_type = export.format.content_type();
    let mut response = export.body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

/// Runs an export for the API or a page.
pub async fn run(
    state: &AppState,
    actor: &rounds_app::Actor,
    team: TeamId,
    list: ListId,
    query: Option<&str>,
    format: ListFormat,
) -> ApiResult<ListExport> {
    let spec = view_spec(query)?;
    Ok(state
        .app
        .export_list(actor, team, list, &spec, format)
        .await?)
}

/// Export a list as shown (any member): its visible columns in order, its
/// patients sorted, filtered and searched as in `getList`. Recorded as
/// ExportInitiation with the format and the list.
#[utoipa::path(get, path = "/api/v1/teams/{teamId}/lists/{listId}/export", operation_id = "exportList", tag = "lists",
    security(("session" = [])),
    params(("teamId" = String, Path), ("listId" = String, Path),
        ("format" = Option<String>, Query, description = "`csv` (default; UTF-8 with a byte order mark, formulas neutralised), `xlsx` (Excel, typed cells) or `fhir` (a FHIR R4 List in a collection Bundle)"),
        ("sort" = Option<String>, Query, description = "As for getList"),
        ("filter" = Option<Vec<String>>, Query, description = "As for getList"),
        ("q" = Option<String>, Query, description = "As for getList")),
    responses(
        (status = 200, content_type = "text/csv", description = "The file, as an attachment"),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn export_list(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((team, list)): ApiPath<(TeamId, ListId)>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let format = format_of(query.as_deref(), false)?;
    let export = run(&state, &actor, team, list, query.as_deref(), format).await?;
    Ok(download(export))
}
