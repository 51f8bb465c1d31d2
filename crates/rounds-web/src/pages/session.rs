use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use axum_extra::extract::cookie::{Cookie, SameSite};
use axum_extra::extract::CookieJar;
use minijinja::context;
use serde::Deserialize;

use super::{render, CheckedForm, NoFields, PageSession};
use crate::api::dto::UserDto;
use crate::extract::{tokens_match, Client};
use crate::AppState;

/// Before there is a session, the sign-in form is protected by a
/// double-submit token: a cookie and a hidden field that must agree.
const SIGNIN_COOKIE: &str = "rounds_signin";

#[derive(Deserialize)]
pub struct NextParam {
    next: Option<String>,
    /// `signed-out` after signing out, to confirm it on the form.
    done: Option<String>,
}

/// Where a sign-in goes when `next` is missing or not a path of ours.
const DEFAULT_NEXT: &str = "/teams";

/// The place to go after sign-in: only a path on this site. `next` is parsed
/// as a browser would resolve it against a page of ours (tabs and newlines
/// dropped, `\\` read as `/`, `//host` as another host) and accepted only
/// when it stays on our origin with a path of one leading `/`; the target is
/// rebuilt from the parsed path and query, so it is always a valid header
/// value. Anything else goes to [`DEFAULT_NEXT`].
pub(super) fn safe_next(next: Option<&str>) -> String {
    let Some(raw) = next.filter(|n| !n.trim().is_empty()) else {
        return DEFAULT_NEXT.to_owned();
    };
    // A fixed base: only the origin matters, never the real host name.
    let Ok(base) = url::Url::parse("http://rounds.invalid/") else {
        return DEFAULT_NEXT.to_owned();
    };
    let Ok(target) = base.join(raw) else {
        return DEFAULT_NEXT.to_owned();
    };
    let path = target.path();
    let ours = target.origin() == base.origin()
        && target.username().is_empty()
        && target.password().is_none()
        && path.starts_with('/')
        && !path.starts_with("//")
        && !path.starts_with("/\\");
    if !ours {
        return DEFAULT_NEXT.to_owned();
    }
    match target.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    }
}

async fn signin_form(
    state: &AppState,
    jar: CookieJar,
    status: StatusCode,
    username: &str,
    next: &str,
    error: Option<String>,
    signed_out: bool,
) -> Response {
    let token = match rounds_app::new_token() {
        Ok(t) => t,
        Err(_) => {
            return (StatusCode::SERVICE_UNAVAILABLE, "no randomness available").into_response()
        }
    };
    let mut cookie = Cookie::new(SIGNIN_COOKIE, token.clone());
    cookie.set_http_only(true);
    cookie.set_same_site(SameSite::Strict);
    cookie.set_secure(state.web.cookie_secure);
    cookie.set_path("/sign-in");
    // One button per single sign-on provider, beside the local form.
    let providers = state.app.sign_in_buttons().await.unwrap_or_else(|err| {
        tracing::error!(error = %err, "cannot list the sign-in providers");
        Vec::new()
    });
    let local_sign_in = state.app.config().sso.local_sign_in;
    let page = render(
        state,
        status,
        "sign_in.html",
        context! { csrf => super::masked_csrf(&token), username, next, error, signed_out, providers, local_sign_in },
    );
    (jar.add(cookie), page).into_response()
}

pub async fn sign_in_page(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<NextParam>,
) -> Response {
    let next = safe_next(q.next.as_deref());
    let signed_out = q.done.as_deref() == Some("signed-out");
    signin_form(&state, jar, StatusCode::OK, "", &next, None, signed_out).await
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    next: Option<String>,
}

/// Where a sign-in lands, by password or by single sign-on alike: the
/// password page while a new password is due; else `next` when the person
/// asked for a page; without one (`next` is [`DEFAULT_NEXT`]), the default
/// list of the one team the person belongs to, when it has one (the ward
/// list, not two clicks away); else the teams page.
pub(super) async fn landing(
    state: &AppState,
    user: &rounds_core::model::User,
    client: &rounds_core::audit::ClientInfo,
    next: String,
) -> String {
    if user.must_change_password {
        return "/account/password".to_owned();
    }
    if next != DEFAULT_NEXT {
        return next;
    }
    let actor = rounds_app::Actor {
        user: user.clone(),
        client: client.clone(),
    };
    let Ok(teams) = state.app.list_teams(&actor).await else {
        return DEFAULT_NEXT.to_owned();
    };
    let [only] = teams.as_slice() else {
        return DEFAULT_NEXT.to_owned();
    };
    let team = only.team.id;
    match state.app.list_lists(&actor, team).await {
        Ok(lists) => lists.iter().find(|l| l.is_default).map_or_else(
            || DEFAULT_NEXT.to_owned(),
            |l| format!("/teams/{team}/lists/{}", l.id),
        ),
        Err(_) => DEFAULT_NEXT.to_owned(),
    }
}

pub async fn sign_in(
    State(state): State<AppState>,
    Client(client): Client,
    jar: CookieJar,
    Form(form): Form<SignInForm>,
) -> Response {
    let next = safe_next(form.next.as_deref());
    let cookie_token = jar
        .get(SIGNIN_COOKIE)
        .map(|c| c.value().to_owned())
        .unwrap_or_default();
    if cookie_token.is_empty() || !tokens_match(&form.csrf_token, &cookie_token) {
        let error = Some("The sign-in form expired. Please try again.".to_owned());
        return signin_form(
            &state,
            jar,
            StatusCode::FORBIDDEN,
            &form.username,
            &next,
            error,
            false,
        )
        .await;
    }
    match state
        .app
        .sign_in(&form.username, &form.password, &client)
        .await
    {
        Ok(signed_in) => {
            let target = landing(&state, &signed_in.user, &client, next).await;
            let jar = jar
                .remove(Cookie::build(SIGNIN_COOKIE).path("/sign-in"))
                .add(crate::api::session_cookie(&state, signed_in.token));
            (jar, Redirect::to(&target)).into_response()
        }
        Err(err) => {
            // The status, message and Retry-After of the API's answer.
            let refused = crate::error::ApiError::from(err);
            let mut page = signin_form(
                &state,
                jar,
                refused.status,
                &form.username,
                &next,
                Some(refused.message),
                false,
            )
            .await;
            crate::error::set_retry_after(&mut page, refused.retry_after);
            page
        }
    }
}

pub async fn sign_out(
    State(state): State<AppState>,
    PageSession(page): PageSession,
    headers: axum::http::HeaderMap,
    jar: CookieJar,
    CheckedForm(_): CheckedForm<NoFields>,
) -> Response {
    // A session from single sign-on: sign out at the provider too, where
    // it offers RP-initiated logout.
    let at_provider = state
        .app
        .sso_sign_out_url(
            &page.session,
            &super::sso::post_logout_uri(&state, &headers),
        )
        .await;
    if let Err(err) = state.app.sign_out(&page.session, &page.actor.client).await {
        tracing::error!(error = %err, "sign-out failed");
    }
    let jar = jar.add(crate::api::clear_session_cookie(&state));
    match at_provider {
        Some((label, url)) => (
            jar,
            super::sso::provider_sign_out_page(&state, &label, &url),
        )
            .into_response(),
        None => (jar, Redirect::to("/sign-in?done=signed-out")).into_response(),
    }
}

pub async fn password_page(
    State(state): State<AppState>,
    PageSession(page): PageSession,
) -> Response {
    let (me, csrf) = page.page_context();
    let forced = me.must_change_password;
    render(
        &state,
        StatusCode::OK,
        "password.html",
        context! { me, csrf, forced },
    )
}

#[derive(Deserialize)]
pub struct PasswordForm {
    current_password: String,
    new_password: String,
    confirm_password: String,
}

pub async fn change_password(
    State(state): State<AppState>,
    PageSession(page): PageSession,
    CheckedForm(form): CheckedForm<PasswordForm>,
) -> Response {
    let (me, csrf) = page.page_context();
    let forced = me.must_change_password;
    let error = if form.new_password != form.confirm_password {
        Some((
            "confirmPassword".to_owned(),
            "The two new passwords differ.".to_owned(),
        ))
    } else {
        match state
            .app
            .change_password(
                &page.session,
                &page.actor,
                &form.current_password,
                &form.new_password,
            )
            .await
        {
            Ok(()) => return Redirect::to("/teams?done=password").into_response(),
            Err(err) => {
                let api = crate::error::ApiError::from(err);
                Some((api.field.unwrap_or_default(), api.message))
            }
        }
    };
    let me: UserDto = me;
    render(
        &state,
        StatusCode::UNPROCESSABLE_ENTITY,
        "password.html",
        context! { me, csrf, forced, error => error.map(|(field, text)| context! { field, text }) },
    )
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_is_a_path_of_ours_or_the_default() {
        for refused in [
            "/\t/evil.example/",
            "//evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "https://evil.example",
            "http://user@evil.example/",
            "javascript:alert(1)",
            "\n",
            " //evil.example",
        ] {
            assert_eq!(safe_next(Some(refused)), "/teams", "{refused:?}");
        }
        for (given, kept) in [
            ("/ok?x=1", "/ok?x=1"),
            ("/%2F%2Fevil.example", "/%2F%2Fevil.example"),
            ("/%09/evil.example/", "/%09/evil.example/"),
            ("/teams\r\nSet-Cookie: x=1", "/teamsSet-Cookie:%20x=1"),
            ("/teams/a?done=created#top", "/teams/a?done=created"),
            ("/a/../b", "/b"),
            // Relative to a page of ours, this is our own path.
            ("http:evil.example", "/evil.example"),
        ] {
            assert_eq!(safe_next(Some(given)), kept, "{given:?}");
        }
        assert_eq!(safe_next(None), "/teams");
    }
}
