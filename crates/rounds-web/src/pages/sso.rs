//! Single sign-on pages: the sign-in button's start, the provider's
//! callback, sign-out at the provider, the account page (identities and
//! `fhirUser`), and the site administrator's page for providers, group
//! mappings and identity links.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, SameSite};
use axum_extra::extract::CookieJar;
use minijinja::context;
use rounds_app::sso::{MappingInput, ProviderInput, SsoCallback, SsoError};
use serde::Deserialize;

use super::session::{landing, safe_next};
use super::{render, CheckedForm, PageActor, PagePath, PageResult, PageSession};
use crate::error::ApiError;
use crate::extract::Client;
use crate::AppState;

/// Ties a started sign-in to the browser that started it.
const SSO_COOKIE: &str = "rounds_sso";
const SSO_COOKIE_PATH: &str = "/sign-in/sso";

/// The address people reach Rounds at: the configured public URL, else
/// the request's Host (plain deployments and tests).
fn public_base(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(base) = &state.web.public_url {
        return base.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let scheme = if state.web.cookie_secure {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}")
}

fn callback_uri(state: &AppState, headers: &HeaderMap, provider: &str) -> String {
    format!(
        "{}/sign-in/sso/{provider}/callback",
        public_base(state, headers)
    )
}

/// A page that says what went wrong with a single sign-on and what to do.
fn sso_error_page(state: &AppState, err: &SsoError) -> Response {
    let (title, text) = err.advice();
    let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::BAD_REQUEST);
    render(state, status, "sso_error.html", context! { title, text })
}

#[derive(Deserialize)]
pub struct StartParams {
    next: Option<String>,
}

/// `GET /sign-in/sso/{provider}`: off to the provider.
pub async fn start(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    Query(q): Query<StartParams>,
    Client(client): Client,
    headers: HeaderMap,
    jar: CookieJar,
) -> Response {
    let next = safe_next(q.next.as_deref());
    let redirect_uri = callback_uri(&state, &headers, &provider);
    match state
        .app
        .sso_begin(&provider, &redirect_uri, &next, &client)
        .await
    {
        Ok(start) => {
            let mut cookie = Cookie::new(SSO_COOKIE, start.browser_token);
            cookie.set_http_only(true);
            // Lax: the provider sends the browser back with a top-level GET.
            cookie.set_same_site(SameSite::Lax);
            cookie.set_secure(state.web.cookie_secure);
            cookie.set_path(SSO_COOKIE_PATH);
            cookie.set_max_age(time::Duration::seconds(
                i64::try_from(state.app.config().sso.login_ttl_secs).unwrap_or(600),
            ));
            (jar.add(cookie), Redirect::to(&start.authorize_url)).into_response()
        }
        Err(err) => sso_error_page(&state, &err),
    }
}

/// `GET /sign-in/sso/{provider}/callback`: the provider's answer.
pub async fn callback(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    Query(answer): Query<SsoCallback>,
    Client(client): Client,
    headers: HeaderMap,
    jar: CookieJar,
) -> Response {
    let redirect_uri = callback_uri(&state, &headers, &provider);
    let browser = jar.get(SSO_COOKIE).map(|c| c.value().to_owned());
    let jar = jar.remove(Cookie::build(SSO_COOKIE).path(SSO_COOKIE_PATH));
    match state
        .app
        .sso_finish(
            &provider,
            &answer,
            browser.as_deref(),
            &redirect_uri,
            &client,
        )
        .await
    {
        Ok(done) => {
            // Where a local sign-in would land: the same rule.
            let target = landing(&state, &done.signed_in.user, &client, done.next).await;
            let jar = jar.add(crate::api::session_cookie(&state, done.signed_in.token));
            (jar, Redirect::to(&target)).into_response()
        }
        Err(err) => (jar, sso_error_page(&state, &err)).into_response(),
    }
}

/// After signing out of Rounds, the way to sign out at the provider too
/// (a page: a form's redirect to another site would break the page's
/// form-action policy).
pub(super) fn provider_sign_out_page(state: &AppState, label: &str, url: &str) -> Response {
    render(
        state,
        StatusCode::OK,
        "sso_signed_out.html",
        context! { label, url },
    )
}

/// Rounds' page to come back to after signing out at the provider.
pub(super) fn post_logout_uri(state: &AppState, headers: &HeaderMap) -> String {
    format!("{}/sign-in?done=signed-out", public_base(state, headers))
}

/// `GET /account`: who you are here, and how you sign in.
pub async fn account_page(
    State(state): State<AppState>,
    PageSession(page): PageSession,
) -> PageResult {
    let identities = state.app.my_identities(page.actor.user.id).await?;
    let fhir_user = identities.iter().find_map(|i| i.fhir_user.clone());
    let (me, csrf) = page.page_context();
    Ok(render(
        &state,
        StatusCode::OK,
        "account.html",
        context! { me, csrf, identities, fhir_user },
    ))
}

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

async fn admin_view(
    state: &AppState,
    page: &PageActor,
    status: StatusCode,
    error: Option<String>,
    notice: Option<&str>,
) -> PageResult {
    let providers = state.app.sso_providers(&page.actor).await?;
    let identities = state.app.sso_identities(&page.actor).await?;
    let (me, csrf) = page.page_context();
    let sso = &state.app.config().sso;
    Ok(render(
        state,
        status,
        "admin_sso.html",
        context! { me, csrf, providers, identities, error, notice,
        local_sign_in => sso.local_sign_in, break_glass => sso.break_glass_admins.clone() },
    ))
}

/// `GET /admin/sign-in`.
pub async fn admin_page(
    State(state): State<AppState>,
    page: PageActor,
    Query(q): Query<Done>,
) -> PageResult {
    let notice = q.done.as_deref().map(|_| "Saved.");
    admin_view(&state, &page, StatusCode::OK, None, notice).await
}

async fn after(
    state: &AppState,
    page: &PageActor,
    result: Result<(), rounds_app::AppError>,
) -> PageResult {
    match result {
        Ok(()) => Ok(Redirect::to("/admin/sign-in?done=saved").into_response()),
        Err(err @ rounds_app::AppError::Forbidden { .. }) => Err(err.into()),
        Err(err) => {
            let api = ApiError::from(err);
            let text = match api.field {
                Some(field) => format!("{field}: {}", api.message),
                None => api.message,
            };
            admin_view(state, page, api.status, Some(text), None).await
        }
    }
}

#[derive(Deserialize)]
pub struct ProviderForm {
    id: String,
    #[serde(default)]
    kind: Option<String>,
    label: String,
    issuer: String,
    client_id: String,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    scopes: Option<String>,
    #[serde(default)]
    username_claim: Option<String>,
    #[serde(default)]
    display_name_claim: Option<String>,
    #[serde(default)]
    groups_claim: Option<String>,
    #[serde(default)]
    create_accounts: Option<String>,
}

/// `POST /admin/sign-in/providers`: add or change a provider.
pub async fn put_provider(
    State(state): State<AppState>,
    page: PageActor,
    CheckedForm(form): CheckedForm<ProviderForm>,
) -> PageResult {
    let input = ProviderInput {
        id: form.id,
        kind: form.kind,
        label: form.label,
        issuer: form.issuer,
        client_id: form.client_id,
        client_secret: form.client_secret,
        scopes: form.scopes,
        username_claim: form.username_claim,
        display_name_claim: form.display_name_claim,
        groups_claim: form.groups_claim,
        create_accounts: form.create_accounts.is_some(),
    };
    let result = state
        .app
        .put_sso_provider(&page.actor, &input)
        .await
        .map(|_| ());
    after(&state, &page, result).await
}

#[derive(Deserialize)]
pub struct NoMore {}

/// `POST /admin/sign-in/providers/{id}/remove`.
pub async fn remove_provider(
    State(state): State<AppState>,
    page: PageActor,
    PagePath(id): PagePath<String>,
    CheckedForm(_): CheckedForm<NoMore>,
) -> PageResult {
    let result = state.app.delete_sso_provider(&page.actor, &id).await;
    after(&state, &page, result).await
}

#[derive(Deserialize)]
pub struct MappingForm {
    group: String,
    #[serde(default)]
    team: Option<String>,
    role: String,
}

/// `POST /admin/sign-in/providers/{id}/mappings`.
pub async fn add_mapping(
    State(state): State<AppState>,
    page: PageActor,
    PagePath(id): PagePath<String>,
    CheckedForm(form): CheckedForm<MappingForm>,
) -> PageResult {
    let input = MappingInput {
        group: form.group,
        team: form.team,
        team_id: None,
        role: form.role,
    };
    let result = state
        .app
        .add_sso_mapping(&page.actor, &id, &input)
        .await
        .map(|_| ());
    after(&state, &page, result).await
}

/// `POST /admin/sign-in/providers/{id}/mappings/{mapping}/remove`.
pub async fn remove_mapping(
    State(state): State<AppState>,
    page: PageActor,
    PagePath((id, mapping)): PagePath<(String, String)>,
    CheckedForm(_): CheckedForm<NoMore>,
) -> PageResult {
    let result = state
        .app
        .delete_sso_mapping(&page.actor, &id, &mapping)
        .await;
    after(&state, &page, result).await
}

#[derive(Deserialize)]
pub struct LinkForm {
    provider: String,
    subject: String,
    username: String,
}

/// `POST /admin/sign-in/links`: link a local account to an identity.
pub async fn link(
    State(state): State<AppState>,
    page: PageActor,
    CheckedForm(form): CheckedForm<LinkForm>,
) -> PageResult {
    let result = state
        .app
        .link_sso_identity(&page.actor, &form.provider, &form.subject, &form.username)
        .await;
    after(&state, &page, result).await
}

#[derive(Deserialize)]
pub struct UnlinkForm {
    issuer: String,
    subject: String,
}

/// `POST /admin/sign-in/links/remove`.
pub async fn unlink(
    State(state): State<AppState>,
    page: PageActor,
    CheckedForm(form): CheckedForm<UnlinkForm>,
) -> PageResult {
    let result = state
        .app
        .unlink_sso_identity(&page.actor, &form.issuer, &form.subject)
        .await;
    after(&state, &page, result).await
}
