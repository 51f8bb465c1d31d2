//! The JSON API under `/api/v1`. Every route is registered through
//! utoipa-axum, so the OpenAPI document at `/api/openapi.json` is generated
//! from the same code that serves the routes and cannot drift from it.

pub(crate) mod access_report;
pub(crate) mod audit;
mod columns;
pub mod dto;
pub(crate) mod ehr;
mod ehr_summary;
mod events;
pub(crate) mod export;
pub(crate) mod handoff;
pub(crate) mod import;
pub(crate) mod lists;
pub(crate) mod meeting;
mod patients;
pub(crate) mod schemas;
pub(crate) mod session;
pub(crate) mod shift_handoff;
pub(crate) mod since_looked;
mod sso;
pub(crate) mod tasks;
pub(crate) mod urgent;
pub(crate) use session::{clear_session_cookie, session_cookie};
mod teams;
pub(crate) mod templates;
mod users;
mod vitals;

pub(crate) use patients::NoteDto;

use axum::http::StatusCode;
use rounds_core::{Id, IdKind};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Rounds API",
        description = "Care-team patient lists. Sign in with POST /api/v1/session; the session cookie \
                       authenticates later calls, and every state-changing call must send the \
                       csrfToken from sign-in in the X-CSRF-Token header. Errors share one shape: \
                       {\"error\": {\"code\", \"message\", \"field\"?}}."
    ),
    modifiers(&SessionCookie),
    tags(
        (name = "session", description = "Signing in and out"),
        (name = "users", description = "Accounts (site administrators)"),
        (name = "teams", description = "Care teams and their members"),
        (name = "audit", description = "The audit trail (site administrators)"),
        (name = "lists", description = "A team's patient lists, their columns and live feed"),
        (name = "patients", description = "Patients on lists"),
        (name = "notes", description = "Notes on patients"),
        (name = "ehr", description = "The team's EHR connection, searching it, and EHR links of patients"),
        (name = "tasks", description = "Tasks per patient, My tasks, and the team's live feed"),
        (name = "sso", description = "Single sign-on providers and their group mappings (site administrators)"),
    )
)]
struct ApiDoc;

struct SessionCookie;

impl Modify for SessionCookie {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::extract::SESSION_COOKIE,
            ))),
        );
        components.add_security_scheme(
            "csrf",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-CSRF-Token"))),
        );
    }
}

/// The API's routes and their OpenAPI description.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(session::sign_in, session::sign_out))
        .routes(routes!(session::get_me))
        .routes(routes!(session::change_password))
        .routes(routes!(users::list_users, users::create_user))
        .routes(routes!(users::update_user))
        .routes(routes!(users::reset_user_password))
        .routes(routes!(teams::list_teams, teams::create_team))
        .routes(routes!(teams::get_team))
        .routes(routes!(templates::list_team_templates))
        .routes(routes!(templates::create_team_from_template))
        .routes(routes!(templates::save_team_as_template))
        .routes(routes!(teams::add_team_member))
        .routes(routes!(
            teams::update_team_member,
            teams::remove_team_member
        ))
        .routes(routes!(audit::search_audit))
        .routes(routes!(audit::export_audit))
        .routes(routes!(access_report::patient_access_report))
        .routes(routes!(lists::list_lists, lists::create_list))
        .routes(routes!(
            lists::get_list,
            lists::rename_list,
            lists::delete_list
        ))
        .routes(routes!(lists::set_default_list))
        .routes(routes!(columns::add_column))
        .routes(routes!(columns::update_column, columns::remove_column))
        .routes(routes!(schemas::list_schemas, schemas::create_schema))
        .routes(routes!(schemas::update_schema))
        .routes(routes!(lists::reorder_lists))
        .routes(routes!(patients::list_team_patients))
        .routes(routes!(lists::list_events))
        .routes(routes!(meeting::get_meeting))
        .routes(routes!(meeting::set_meeting_columns))
        .routes(routes!(meeting::set_meeting_focus))
        .routes(routes!(patients::add_patient))
        .routes(routes!(patients::get_patient, patients::update_patient))
        .routes(routes!(patients::remove_patient_from_list))
        .routes(routes!(patients::move_patient))
        .routes(routes!(patients::reorder_patients))
        .routes(routes!(patients::list_notes, patients::add_note))
        .routes(routes!(patients::update_note, patients::delete_note))
        .routes(routes!(
            ehr::get_ehr_connection,
            ehr::set_ehr_connection,
            ehr::delete_ehr_connection
        ))
        .routes(routes!(ehr::test_ehr_connection))
        .routes(routes!(ehr::search::search_ehr))
        .routes(routes!(ehr::link::link_patient, ehr::link::unlink_patient))
        .routes(routes!(export::export_list))
        .merge(
            // Uploads are larger than any other request.
            OpenApiRouter::new()
                .routes(routes!(import::preview_import))
                .routes(routes!(import::import_patients))
                .layer(axum::extract::DefaultBodyLimit::max(
                    import::IMPORT_BODY_LIMIT,
                )),
        )
        .routes(routes!(vitals::get_catalog))
        .routes(routes!(vitals::get_vital_ranges, vitals::set_vital_ranges))
        .routes(routes!(tasks::list_tasks, tasks::add_task))
        .routes(routes!(tasks::update_task, tasks::delete_task))
        .routes(routes!(tasks::my_tasks))
        .routes(routes!(tasks::team_events))
        .routes(routes!(urgent::list_urgent))
        .routes(routes!(urgent::get_urgent))
        .routes(routes!(urgent::acknowledge_urgent))
        .routes(routes!(urgent::get_urgent_rule, urgent::set_urgent_rule))
        .routes(routes!(urgent::note_seen))
        .routes(routes!(urgent::list_receipts))
        .routes(routes!(handoff::get_handoff, handoff::set_handoff))
        .routes(routes!(sso::list_sso_providers))
        .routes(routes!(sso::set_sso_provider, sso::delete_sso_provider))
        .routes(routes!(sso::add_sso_mapping))
        .routes(routes!(sso::delete_sso_mapping))
        .routes(routes!(shift_handoff::list_shift_handoffs))
        .routes(routes!(shift_handoff::start_shift_handoff))
        .routes(routes!(shift_handoff::get_shift_handoff))
        .routes(routes!(shift_handoff::mark_shift_handoff_ready))
        .routes(routes!(shift_handoff::acknowledge_shift_handoff))
        .routes(routes!(shift_handoff::cancel_shift_handoff))
        .routes(routes!(since_looked::list_changes))
        .routes(routes!(since_looked::mark_list_seen))
        .routes(routes!(since_looked::patient_changes))
        .routes(routes!(since_looked::mark_patient_seen))
}

/// `refresh=true` (or `1`) in a query: read the EHR again now.
fn wants_refresh(query: Option<&str>) -> bool {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .any(|(k, v)| k == "refresh" && (v == "true" || v == "1"))
}

/// Parses a path id, naming the parameter when it is not one.
fn parse_id<K: IdKind>(field: &str, raw: &str) -> Result<Id<K>, ApiError> {
    raw.parse().map_err(|e| ApiError::invalid_id(field, e))
}

fn parse_choice<T: std::str::FromStr>(
    field: &str,
    raw: &str,
    allowed: &str,
) -> Result<T, ApiError> {
    raw.parse().map_err(|_| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            format!("{field}: {raw:?} is not one of {allowed}"),
        )
        .with_field(field)
    })
}
