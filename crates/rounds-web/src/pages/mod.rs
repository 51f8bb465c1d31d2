//! Server-rendered pages. Templates are minijinja with HTML auto-escaping;
//! no HTML is put together in Rust strings. Every form that changes
//! something carries the session's CSRF token.

mod access_report;
mod admin;
pub(crate) mod assets;
mod data;
mod extractors;
mod failure;
mod handoff;
mod lists;
mod session;
mod sso;
mod static_files;
mod teams;

pub(crate) use failure::render_failures;
use failure::{PageError, PagePath, PageResult};

pub use extractors::{CheckedForm, NoFields, PageActor, PageSession};

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use minijinja::{context, Environment, Value};
use rounds_app::SessionInfo;

use crate::api::dto::UserDto;
use crate::AppState;

pub fn templates() -> Environment<'static> {
    let mut env = Environment::new();
    let sources = [
        ("base.html", include_str!("../../templates/base.html")),
        ("sign_in.html", include_str!("../../templates/sign_in.html")),
        (
            "password.html",
            include_str!("../../templates/password.html"),
        ),
        ("teams.html", include_str!("../../templates/teams.html")),
        ("team.html", include_str!("../../templates/team.html")),
        (
            "admin_users.html",
            include_str!("../../templates/admin_users.html"),
        ),
        (
            "admin_audit.html",
            include_str!("../../templates/admin_audit.html"),
        ),
        ("message.html", include_str!("../../templates/message.html")),
        ("list.html", include_str!("../../templates/list.html")),
        ("meeting.html", include_str!("../../templates/meeting.html")),
        ("patient.html", include_str!("../../templates/patient.html")),
        ("ehr.html", include_str!("../../templates/ehr.html")),
        // Data in and out of a list (export, print, import).
        (
            "list_data.html",
            include_str!("../../templates/list_data.html"),
        ),
        (
            "list_print.html",
            include_str!("../../templates/list_print.html"),
        ),
        (
            "admin_patient_access.html",
            include_str!("../../templates/admin_patient_access.html"),
        ),
        ("account.html", include_str!("../../templates/account.html")),
        (
            "admin_sso.html",
            include_str!("../../templates/admin_sso.html"),
        ),
        (
            "sso_error.html",
            include_str!("../../templates/sso_error.html"),
        ),
        (
            "sso_signed_out.html",
            include_str!("../../templates/sso_signed_out.html"),
        ),
        (
            "handoff_sheet.html",
            include_str!("../../templates/handoff_sheet.html"),
        ),
        (
            "my_tasks.html",
            include_str!("../../templates/my_tasks.html"),
        ),
    ];
    for (name, source) in sources {
        if let Err(err) = env.add_template(name, source) {
            // The templates are part of the binary; a broken one is a build bug
            // caught by the tests, reported here rather than panicking.
            tracing::error!(template = name, error = %err, "template does not compile");
        }
    }
    env
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/teams") }))
        .route("/static/{file}", get(static_files::static_file))
        .route(
            "/sign-in",
            get(session::sign_in_page).post(session::sign_in),
        )
        .route("/sign-out", post(session::sign_out))
        .route(
            "/account/password",
            get(session::password_page).post(session::change_password),
        )
        .route("/teams", get(teams::teams_page).post(teams::create_team))
        .route("/teams/{team_id}", get(teams::team_page))
        .route("/teams/{team_id}/ehr", get(teams::ehr_page))
        .route("/teams/{team_id}/tasks", get(handoff::my_tasks_page))
        .route(
            "/teams/{team_id}/lists/{list_id}/handoff",
            get(handoff::handoff_sheet_page),
        )
        .route("/teams/{team_id}/members", post(teams::add_member))
        .route(
            "/teams/{team_id}/save-as-template",
            post(teams::save_as_template),
        )
        .route("/teams/{team_id}/lists", post(lists::create_list))
        .route("/teams/{team_id}/lists/{list_id}", get(lists::list_page))
        .route(
            "/teams/{team_id}/lists/{list_id}/meeting",
            get(lists::meeting_page),
        )
        .route(
            "/teams/{team_id}/lists/{list_id}/default",
            post(lists::set_default),
        )
        .route(
            "/teams/{team_id}/lists/{list_id}/delete",
            post(lists::delete_list),
        )
        .route(
            "/teams/{team_id}/lists/{list_id}/patients",
            post(lists::add_patient),
        )
        .route(
            "/teams/{team_id}/patients/{patient_id}",
            get(lists::patient_page),
        )
        .route(
            "/teams/{team_id}/patients/{patient_id}/notes",
            post(lists::add_note),
        )
        .route(
            "/teams/{team_id}/members/{user_id}",
            post(teams::update_member),
        )
        .route(
            "/teams/{team_id}/members/{user_id}/remove",
            post(teams::remove_member),
        )
        .route(
            "/admin/users",
            get(admin::users_page).post(admin::create_user),
        )
        .route("/admin/users/{user_id}", post(admin::update_user))
        .route(
            "/admin/users/{user_id}/reset-password",
            post(admin::reset_password),
        )
        .route("/admin/audit", get(admin::audit_page))
        .route("/admin/audit/patient", get(access_report::page))
        .route("/admin/audit/patient/export", get(access_report::download))
        // Data in and out of a list (export, print, import).
        .route(
            "/teams/{team_id}/lists/{list_id}/data",
            get(data::data_page),
        )
        .route(
            "/teams/{team_id}/lists/{list_id}/export",
            get(data::export_download),
        )
        .route(
            "/teams/{team_id}/lists/{list_id}/print",
            get(data::print_page),
        )
        .route("/admin/audit/export", get(admin::audit_export))
        .merge(sso_routes())
}

/// Single sign-on: the button's start, the callback, the account page and
/// the administrator's page.
fn sso_routes() -> Router<AppState> {
    Router::new()
        .route("/sign-in/sso/{provider}", get(sso::start))
        .route("/sign-in/sso/{provider}/callback", get(sso::callback))
        .route("/account", get(sso::account_page))
        .route("/admin/sign-in", get(sso::admin_page))
        .route("/admin/sign-in/providers", post(sso::put_provider))
        .route(
            "/admin/sign-in/providers/{id}/remove",
            post(sso::remove_provider),
        )
        .route(
            "/admin/sign-in/providers/{id}/mappings",
            post(sso::add_mapping),
        )
        .route(
            "/admin/sign-in/providers/{id}/mappings/{mapping}/remove",
            post(sso::remove_mapping),
        )
        .route("/admin/sign-in/links", post(sso::link))
        .route("/admin/sign-in/links/remove", post(sso::unlink))
}

/// Renders `name` with `ctx`; the page context always has `me` and `csrf`
/// when someone is signed in.
pub(crate) fn render(state: &AppState, status: StatusCode, name: &str, ctx: Value) -> Response {
    let result = state
        .templates
        .get_template(name)
        .and_then(|t| t.render(ctx));
    match result {
        Ok(html) => (status, Html(assets::assets().rewrite(&html))).into_response(),
        Err(err) => {
            tracing::error!(template = name, error = %err, "cannot render page");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page could not be shown; the cause is in the server log.",
            )
                .into_response()
        }
    }
}

/// The CSRF token as a page carries it: masked afresh for each answer
/// (`rounds_app::mask_token`), so that pages can be compressed without
/// BREACH learning the token. A form or header sending it back is checked
/// by unmasking ([`tokens_match`]). Should the random source fail, the
/// page carries the token itself (and still works).
pub(crate) fn masked_csrf(token: &str) -> String {
    rounds_app::mask_token(token).unwrap_or_else(|err| {
        tracing::error!(error = %err, "cannot mask the CSRF token");
        token.to_owned()
    })
}

/// A page that only says something (errors, refusals).
pub(crate) fn message(
    state: &AppState,
    session: Option<&SessionInfo>,
    status: StatusCode,
    title: &str,
    text: &str,
) -> Response {
    render(
        state,
        status,
        "message.html",
        context! { title, text, me => session.map(|s| UserDto::from(&s.user)), csrf => session.map(|s| masked_csrf(&s.csrf_token)) },
    )
}

/// The page for an address that is no route. It has no [`AppState`], so it
/// renders `message.html` from its own copy of the templates, made once.
pub fn not_found_page() -> Response {
    static TEMPLATES: std::sync::OnceLock<Environment<'static>> = std::sync::OnceLock::new();
    let rendered = TEMPLATES
        .get_or_init(templates)
        .get_template("message.html")
        .and_then(|t| {
            t.render(context! {
                title => "Page not found",
                text => "There is no page at this address. The link may be old or mistyped.",
            })
        });
    match rendered {
        Ok(html) => (StatusCode::NOT_FOUND, Html(assets::assets().rewrite(&html))).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "cannot render the not-found page");
            (StatusCode::NOT_FOUND, Html(NOT_FOUND_FALLBACK)).into_response()
        }
    }
}

const NOT_FOUND_FALLBACK: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>Page not found · Rounds</title><link rel=\"stylesheet\" href=\"/static/style.css\"></head>\
<body><main><section class=\"card narrow\"><h1>Page not found</h1>\
<p>There is no page at this address.</p><p><a href=\"/teams\">Back to your teams</a></p>\
</section></main></body></html>";
