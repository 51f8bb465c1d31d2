//! Server-rendered pages. Templates are minijinja with HTML auto-escaping;
//! no HTML is put together in Rust strings. Every form that changes
//! something carries the session's CSRF token.

mod access_report;
mod admin;
pub(crate) mod assets;
mod data;
mod failure;
mod handoff;
mod lists;
mod session;
mod sso;
mod teams;

pub(crate) use failure::render_failures;
use failure::{PageError, PagePath, PageResult, SessionSlot};

use axum::extract::rejection::FormRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use minijinja::{context, Environment, Value};
use rounds_app::{Actor, SessionInfo};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::api::dto::UserDto;
use crate::extract::{session_of, tokens_match, Client};
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
        .route("/static/{file}", get(static_file))
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

/// The style sheet and the page scripts, built into the binary. Scripts
/// are files (the Content-Security-Policy allows no inline script).
const STATIC_FILES: [(&str, &str, &str); 33] = [
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../../static/style.css"),
    ),
    (
        "rounds.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/rounds.js"),
    ),
    (
        "list.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/list.js"),
    ),
    (
        "patient.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/patient.js"),
    ),
    (
        "meeting.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/meeting.js"),
    ),
    (
        "ehr.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/ehr.js"),
    ),
    (
        "connection.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/connection.js"),
    ),
    (
        "team.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/team.js"),
    ),
    (
        "live.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/live.js"),
    ),
    (
        "list-store.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/list-store.js"),
    ),
    (
        "list-view.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/list-view.js"),
    ),
    (
        "list-table.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/list-table.js"),
    ),
    (
        "list-edit.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/list-edit.js"),
    ),
    (
        "list-rows.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/list-rows.js"),
    ),
    (
        "list-columns.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/list-columns.js"),
    ),
    (
        "list-ehr.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/list-ehr.js"),
    ),
    (
        "patient-store.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/patient-store.js"),
    ),
    (
        "patient-notes.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/patient-notes.js"),
    ),
    (
        "patient-ehr.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/patient-ehr.js"),
    ),
    (
        "patient-summary.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/patient-summary.js"),
    ),
    // Data in and out of a list (export, print, import).
    (
        "data-link.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/data-link.js"),
    ),
    (
        "data.css",
        "text/css; charset=utf-8",
        include_str!("../../static/data.css"),
    ),
    (
        "import.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/import.js"),
    ),
    (
        "print.css",
        "text/css; charset=utf-8",
        include_str!("../../static/print.css"),
    ),
    (
        "print.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/print.js"),
    ),
    (
        "tasks.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/tasks.js"),
    ),
    (
        "my-tasks.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/my-tasks.js"),
    ),
    (
        "alerts.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/alerts.js"),
    ),
    (
        "ipass.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/ipass.js"),
    ),
    (
        "handoff-team.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/handoff-team.js"),
    ),
    (
        "shift-handoff.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/shift-handoff.js"),
    ),
    (
        "since-looked.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/since-looked.js"),
    ),
    (
        "handoff.css",
        "text/css; charset=utf-8",
        include_str!("../../static/handoff.css"),
    ),
];

async fn static_file(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    match assets::assets().find(&file) {
        Some((asset, hashed)) => (
            [
                (header::CONTENT_TYPE, asset.content_type),
                (
                    header::CACHE_CONTROL,
                    if hashed {
                        assets::HASHED_CACHE
                    } else {
                        assets::PLAIN_CACHE
                    },
                ),
            ],
            asset.body.clone(),
        )
            .into_response(),
        None => not_found_page(),
    }
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

/// A signed-in person on a page; anyone else is sent to sign in, and
/// someone with a one-time password to choose their own first.
pub struct PageActor {
    pub actor: Actor,
    pub session: SessionInfo,
}

impl PageActor {
    pub fn page_context(&self) -> (UserDto, String) {
        (
            UserDto::from(&self.actor.user),
            masked_csrf(&self.session.csrf_token),
        )
    }
}

/// The session part of [`PageActor`], without the password-change rule.
pub struct PageSession(pub PageActor);

impl FromRequestParts<AppState> for PageSession {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Client(client) = Client::from_request_parts(parts, state)
            .await
            .unwrap_or_else(|e| match e {});
        let session = match session_of(parts, state).await {
            Ok(Some(session)) => session,
            Ok(None) => {
                let next = parts.uri.path_and_query().map_or("/teams", |p| p.as_str());
                let target = format!("/sign-in?next={}", urlencode(next));
                return Err(Redirect::to(&target).into_response());
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot read the session");
                return Err((
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Rounds cannot reach its database; try again shortly.",
                )
                    .into_response());
            }
        };
        parts.extensions.insert(session.clone());
        SessionSlot::fill(parts, &session);
        Ok(Self(PageActor {
            actor: Actor {
                user: session.user.clone(),
                client,
            },
            session,
        }))
    }
}

impl FromRequestParts<AppState> for PageActor {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let PageSession(page) = PageSession::from_request_parts(parts, state).await?;
        if page.actor.user.must_change_password {
            return Err(Redirect::to("/account/password").into_response());
        }
        Ok(page)
    }
}

/// A posted form whose `csrf_token` field matches the session's (taken after a
/// [`PageActor`] or [`PageSession`] in the handler's arguments); the handler
/// gets the other fields as `T`.
pub struct CheckedForm<T>(pub T);

#[derive(Deserialize)]
struct WithCsrf<T> {
    csrf_token: String,
    #[serde(flatten)]
    form: T,
}

/// A form with nothing but its CSRF token.
#[derive(Deserialize)]
pub struct NoFields {}

impl<T: DeserializeOwned> FromRequest<AppState> for CheckedForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let session = req.extensions().get::<SessionInfo>().cloned();
        let Some(session) = session else {
            return Err(Redirect::to("/sign-in").into_response());
        };
        let form: Result<Form<WithCsrf<T>>, FormRejection> = Form::from_request(req, state).await;
        match form {
            Ok(Form(value)) if tokens_match(&value.csrf_token, &session.csrf_token) => Ok(Self(value.form)),
            Ok(_) => Err(message(
                state,
                Some(&session),
                StatusCode::FORBIDDEN,
                "Form expired",
                "This form was not sent from your current session (its security token does not match). Go back, reload the page and try again.",
            )),
            Err(rejection) => Err(message(
                state,
                Some(&session),
                StatusCode::BAD_REQUEST,
                "Form not understood",
                &rejection.body_text(),
            )),
        }
    }
}

fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::STATIC_FILES;

    /// Every script a page loads, and every module a script imports, is in
    /// the table as JavaScript: a missing entry leaves a page without its
    /// script (the browser refuses a module served as anything else).
    #[test]
    fn every_imported_script_is_served_as_javascript() {
        let served = |name: &str| {
            STATIC_FILES
                .iter()
                .find(|(n, _, _)| *n == name)
                .map(|(_, content_type, _)| *content_type)
        };
        let templates = super::templates();
        let mut wanted: Vec<String> = Vec::new();
        for (name, body) in STATIC_FILES.iter().map(|(n, _, b)| (*n, *b)) {
            if name.ends_with(".js") {
                wanted.extend(
                    body.split("from \"/static/")
                        .skip(1)
                        .filter_map(|rest| rest.split('"').next().map(str::to_owned)),
                );
            }
        }
        for (name, _) in templates.templates() {
            let source = templates
                .get_template(name)
                .map(|t| t.source().to_owned())
                .unwrap_or_default();
            wanted.extend(
                source
                    .split("src=\"/static/")
                    .skip(1)
                    .filter_map(|rest| rest.split('"').next().map(str::to_owned)),
            );
        }
        assert!(wanted.len() > 20, "found only {wanted:?}");
        for file in &wanted {
            assert_eq!(
                served(file),
                Some("text/javascript; charset=utf-8"),
                "/static/{file} is imported but not served as JavaScript"
            );
        }
    }
}
