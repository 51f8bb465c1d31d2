//! The authorization code flow with PKCE (RFC 7636, S256), `state` and
//! `nonce`: from the sign-in button to the provider and back to a session.
//!
//! A started sign-in is a row keyed by the hash of its `state`, tied to the
//! browser by a cookie whose hash it keeps, used once, and short-lived.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rounds_core::audit::{AuditEntry, ClientInfo, Operation, Outcome};
use rounds_core::Timestamp;
use rounds_store::sso::{self, PendingRow, ProviderRow};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::discovery::Discovered;
use super::id_token::{self, Expect, Problem};
use super::SsoError;
use crate::secrets::{new_token, same_text, sha256_hex};
use crate::{App, AppError, SignedIn};

/// Where to send the browser, and the cookie that ties the sign-in to it.
pub struct SsoStart {
    pub authorize_url: String,
    pub browser_token: String,
}

/// What came back to the callback address.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct SsoCallback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    /// RFC 9207: the issuer of the answer, where the provider says it.
    pub iss: Option<String>,
}

/// A session made by single sign-on, and where to go next.
pub struct SsoSignedIn {
    pub signed_in: SignedIn,
    pub next: String,
}

impl App {
    pub(super) async fn provider_row(&self, id: &str) -> Result<ProviderRow, SsoError> {
        let mut conn = self.db.read().await?;
        sso::provider(&mut conn, id)
            .await?
            .ok_or_else(|| SsoError::UnknownProvider(id.to_owned()))
    }

    /// Starts a sign-in at provider `id`: the address of its authorization
    /// endpoint with this sign-in's state, nonce and PKCE challenge.
    /// `redirect_uri` is Rounds' callback address for the provider, `next`
    /// the (already checked) page to land on.
    pub async fn sso_begin(
        &self,
        id: &str,
        redirect_uri: &str,
        next: &str,
        client: &ClientInfo,
    ) -> Result<SsoStart, SsoError> {
        let p = match self.provider_row(id).await {
            Ok(p) => p,
            Err(err) => return Err(self.sso_refused(None, None, client, err).await),
        };
        let d = match self.discovered(&p).await {
            Ok(d) => d,
            Err(err) => return Err(self.sso_refused(Some(&p), None, client, err).await),
        };
        let state = new_token()?;
        let nonce = new_token()?;
        let verifier = new_token()?;
        let browser_token = new_token()?;
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let now = Timestamp::now();
        let state_hash = sha256_hex(&state);
        let pkce_verifier_sealed = self.seal_text(&verifier, &pending_context(&state_hash))?;
        let mut conn = self.db.read().await?;
        sso::purge_pending(&mut conn, now).await?;
        sso::insert_pending(
            &mut conn,
            &PendingRow {
                state_hash,
                browser_hash: sha256_hex(&browser_token),
                provider_id: p.id.clone(),
                nonce: nonce.clone(),
                pkce_verifier_sealed,
                next_path: next.to_owned(),
                created_at: now,
                expires_at: now.plus_secs(self.config.sso.login_ttl_secs),
            },
        )
        .await?;
        let mut url =
            url::Url::parse(&d.authorization_endpoint).map_err(|_| SsoError::BadAnswer {
                label: p.label.clone(),
                detail: "the authorization endpoint is not a valid address".into(),
            })?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &p.client_id)
                .append_pair("redirect_uri", redirect_uri)
                .append_pair("scope", &p.scopes)
                .append_pair("state", &state)
                .append_pair("nonce", &nonce)
                .append_pair("code_challenge", &challenge)
                .append_pair("code_challenge_method", "S256");
            if p.kind == "smart" {
                // SMART App Launch: the FHIR server the token is for.
                q.append_pair("aud", &p.issuer);
            }
        }
        Ok(SsoStart {
            authorize_url: url.into(),
            browser_token,
        })
    }

    /// Finishes a sign-in at provider `id` from what came back to the
    /// callback: checks state (and that this browser started it), exchanges
    /// the code with the PKCE verifier, checks the ID token, finds or makes
    /// the account, applies the directory's groups and opens a session.
    /// Every refusal is audited.
    pub async fn sso_finish(
        &self,
        id: &str,
        answer: &SsoCallback,
        browser_token: Option<&str>,
        redirect_uri: &str,
        client: &ClientInfo,
    ) -> Result<SsoSignedIn, SsoError> {
        let p = match self.provider_row(id).await {
            Ok(p) => p,
            Err(err) => return Err(self.sso_refused(None, None, client, err).await),
        };
        match self
            .sso_finish_inner(&p, answer, browser_token, redirect_uri, client)
            .await
        {
            Ok(done) => Ok(done),
            Err((err, who)) => Err(self.sso_refused(Some(&p), who.as_ref(), client, err).await),
        }
    }

    async fn sso_finish_inner(
        &self,
        p: &ProviderRow,
        answer: &SsoCallback,
        browser_token: Option<&str>,
        redirect_uri: &str,
        client: &ClientInfo,
    ) -> Result<SsoSignedIn, (SsoError, Option<Value>)> {
        let plain = |e: SsoError| (e, None);
        let now = Timestamp::now();
        let (pending, verifier) = self
            .pending_sign_in(p, answer, browser_token, now)
            .await
            .map_err(plain)?;
        let code = code_of(p, answer).map_err(plain)?;
        let d = self.discovered(p).await.map_err(plain)?;
        // RFC 9207: an answer naming another issuer belongs to another
        // provider (a mix-up attack); its code is never sent anywhere.
        if answer.iss.as_deref().is_some_and(|iss| iss != d.issuer) {
            return Err(plain(SsoError::TokenRefused {
                label: p.label.clone(),
                detail: "the answer names another issuer".into(),
            }));
        }
        let tokens = self
            .exchange_code(p, &d, code, &verifier, redirect_uri)
            .await
            .map_err(plain)?;
        let id_token = tokens.id_token.as_deref().ok_or_else(|| {
            plain(SsoError::BadAnswer {
                label: p.label.clone(),
                detail: "the token answer holds no ID token (is openid among the scopes?)".into(),
            })
        })?;
        let mut claims = self
            .checked_claims(p, &d, id_token, &pending.nonce, now)
            .await
            .map_err(plain)?;
        if let Some(access) = tokens.access_token.as_deref() {
            self.add_userinfo(p, &d, access, &mut claims).await;
        }
        let who = json!({
            "issuer": d.issuer,
            "subject": claims.get("sub").cloned().unwrap_or(Value::Null),
        });
        // The ID token is kept only to name the session at the provider's
        // sign-out (`id_token_hint`), so only where the provider has one.
        let keep_id_token = d.end_session_endpoint.is_some().then_some(id_token);
        let signed_in = self
            .sign_in_from_claims(p, &d.issuer, &claims, keep_id_token, client)
            .await
            .map_err(|e| (e, Some(who)))?;
        Ok(SsoSignedIn {
            signed_in,
            next: pending.next_path,
        })
    }

    /// The sign-in this answer finishes (taken, so it finishes once), if it
    /// is this provider's, not expired, and started in this browser; with
    /// its PKCE verifier opened.
    async fn pending_sign_in(
        &self,
        p: &ProviderRow,
        answer: &SsoCallback,
        browser_token: Option<&str>,
        now: Timestamp,
    ) -> Result<(PendingRow, String), SsoError> {
        let state = answer.state.as_deref().unwrap_or_default();
        let pending = if state.is_empty() {
            None
        } else {
            let mut conn = self.db.read().await?;
            sso::take_pending(&mut conn, &sha256_hex(state)).await?
        };
        let pending = pending
            .filter(|row| row.provider_id == p.id && row.expires_at > now)
            .filter(|row| {
                browser_token.is_some_and(|t| same_text(&sha256_hex(t), &row.browser_hash))
            })
            .ok_or(SsoError::StaleState)?;
        // A verifier that does not open (sealed with a key replaced since)
        // cannot finish this sign-in: it has to start again.
        let verifier = self
            .open_text(
                &pending.pkce_verifier_sealed,
                &pending_context(&pending.state_hash),
            )
            .ok_or(SsoError::StaleState)?;
        Ok((pending, verifier))
    }

    /// The ID token checked (signature, issuer, audience, nonce, times),
    /// its claims; an unknown key makes the provider's keys be read again,
    /// once (it may have rotated them).
    async fn checked_claims(
        &self,
        p: &ProviderRow,
        d: &Discovered,
        id_token: &str,
        nonce: &str,
        now: Timestamp,
    ) -> Result<serde_json::Map<String, Value>, SsoError> {
        let expect = Expect {
            issuer: &d.issuer,
            client_id: &p.client_id,
            nonce,
            algs: &d.id_token_algs,
            leeway_secs: self.config.sso.clock_skew.as_secs(),
            now_secs: u64::try_from(now.millis() / 1000).unwrap_or(0),
        };
        let jwks = d
            .jwks
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let checked = match id_token::check(id_token, &jwks, &expect) {
            Err(Problem::UnknownKey) => {
                let jwks = self.refetch_jwks(p, d).await?;
                id_token::check(id_token, &jwks, &expect)
            }
            other => other,
        };
        checked.map_err(|problem| match problem {
            Problem::Clock => SsoError::ClockSkew {
                label: p.label.clone(),
            },
            Problem::UnknownKey => SsoError::TokenRefused {
                label: p.label.clone(),
                detail: "the ID token is signed with a key the provider does not publish".into(),
            },
            Problem::Refused(detail) => SsoError::TokenRefused {
                label: p.label.clone(),
                detail,
            },
        })
    }

    /// Claims the ID token lacks, from userinfo (same subject only).
    async fn add_userinfo(
        &self,
        p: &ProviderRow,
        d: &Discovered,
        access_token: &str,
        claims: &mut serde_json::Map<String, Value>,
    ) {
        let wanted = [
            Some(p.username_claim.as_str()),
            Some(p.display_name_claim.as_str()),
            p.groups_claim.as_deref(),
        ];
        if !wanted.iter().flatten().any(|c| !claims.contains_key(*c)) {
            return;
        }
        if let Some(info) = self.userinfo(p, d, access_token).await {
            if info.get("sub") == claims.get("sub") {
                for (k, v) in info {
                    claims.entry(k).or_insert(v);
                }
            }
        }
    }

    /// Audits a refused single sign-on and hands the error back.
    pub(super) async fn sso_refused(
        &self,
        p: Option<&ProviderRow>,
        who: Option<&Value>,
        client: &ClientInfo,
        err: SsoError,
    ) -> SsoError {
        self.metrics().signin_failed();
        let mut entry = AuditEntry::new(
            Operation::SignInRefused,
            Outcome::Refused(err.audit_reason()),
            client.clone(),
        );
        entry.actor_username = Some("(single sign-on)".into());
        entry.detail = json!({
            "provider": p.map(|p| p.id.as_str()),
            "method": "sso",
            "identity": who,
        });
        if let SsoError::App(inner) = &err {
            tracing::error!(error = %inner, "single sign-on failed");
        }
        if let Err(e) = self.record(entry).await {
            tracing::error!(error = %e, "cannot audit a refused single sign-on");
        }
        err
    }

    /// Where to send the browser to sign out at the provider too
    /// (RP-initiated logout), for a session made by single sign-on whose
    /// provider has an end-session endpoint: naming the session by its ID
    /// token (`id_token_hint`) where Rounds kept it. Call before signing out.
    pub async fn sso_sign_out_url(
        &self,
        session: &crate::SessionInfo,
        post_logout_redirect_uri: &str,
    ) -> Option<(String, String)> {
        let row = {
            let mut conn = self.db.read().await.ok()?;
            sso::session_provider(&mut conn, session.token_hash())
                .await
                .ok()??
        };
        let p = self.provider_row(&row.provider_id).await.ok()?;
        let d = self.discovered(&p).await.ok()?;
        let mut url = url::Url::parse(d.end_session_endpoint.as_deref()?).ok()?;
        let hint = row
            .id_token_sealed
            .as_deref()
            .and_then(|sealed| self.open_text(sealed, &session_context(session.token_hash())));
        {
            let mut q = url.query_pairs_mut();
            if let Some(id_token) = &hint {
                q.append_pair("id_token_hint", id_token);
            }
            q.append_pair("client_id", &p.client_id)
                .append_pair("post_logout_redirect_uri", post_logout_redirect_uri);
        }
        Some((p.label, url.into()))
    }

    /// `text` sealed with the site key under `context`.
    pub(super) fn seal_text(&self, text: &str, context: &str) -> Result<String, SsoError> {
        self.secret_box()?
            .seal(text.as_bytes(), context)
            .map_err(|e| SsoError::App(AppError::Internal(format!("cannot seal: {e}"))))
    }

    /// What [`App::seal_text`] sealed under `context`; None when it does
    /// not open (another key, another context, not text).
    pub(super) fn open_text(&self, sealed: &str, context: &str) -> Option<String> {
        let opened = self.secret_box().ok()?.open(sealed, context).ok()?;
        String::from_utf8(opened).ok()
    }
}

/// The sealing context of a sign-in's PKCE verifier: bound to its row.
fn pending_context(state_hash: &str) -> String {
    format!("sso-pending:{state_hash}")
}

/// The sealing context of a session's ID token: bound to the session.
pub(super) fn session_context(token_hash: &str) -> String {
    format!("sso-session:{token_hash}")
}

/// The authorization code of a provider's answer; an answer carrying an
/// error is the provider declining, with its words.
fn code_of<'a>(p: &ProviderRow, answer: &'a SsoCallback) -> Result<&'a str, SsoError> {
    if let Some(error) = &answer.error {
        let detail = match answer.error_description.as_deref() {
            Some(text) if !text.is_empty() => format!("{error}: {text}"),
            _ => error.clone(),
        };
        return Err(SsoError::Declined {
            label: p.label.clone(),
            detail: detail.chars().take(200).collect(),
        });
    }
    answer
        .code
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| SsoError::BadAnswer {
            label: p.label.clone(),
            detail: "no authorization code came back".into(),
        })
}
