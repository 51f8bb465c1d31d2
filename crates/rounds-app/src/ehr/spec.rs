//! A connection as an owner sets it: checked, and made into the row to
//! store with its secret or key sealed.

use rounds_core::validate::{InvalidInput, TextKind};
use rounds_core::{TeamId, Timestamp};
use rounds_fhir::Secret;
use rounds_store::ehr::{AuthKind, AuthMethod, BatchMode, StoredConnection};

use super::{fhir_config_text, line, secret_context, trimmed, NAME_MAX};
use crate::{Actor, App, AppError};

/// How a connection authenticates, as an owner sets it.
#[derive(Debug, Clone)]
pub enum EhrAuthSpec {
    None,
    ClientCredentials {
        client_id: String,
        /// None keeps the saved secret (prints as `[redacted]`).
        client_secret: Option<Secret>,
        /// `basic` or `post`.
        method: Option<String>,
        scope: Option<String>,
        token_url: Option<String>,
    },
    BackendServices {
        client_id: String,
        scope: Option<String>,
        token_url: Option<String>,
        /// Make a new key pair (one is made when there is none).
        new_key: bool,
    },
}

/// A team's connection as an owner sets it.
#[derive(Debug, Clone)]
pub struct EhrConnectionSpec {
    pub name: String,
    pub base_url: String,
    pub auth: EhrAuthSpec,
    /// `auto`, `always` or `never`.
    pub batch_mode: Option<String>,
    /// `auto` (measured per server) or a fixed shape: `bundle`,
    /// `bundles:N`, `chunks:SIZExN`, `gets:N`.
    pub batch_shape: Option<String>,
}

impl App {
    /// Checks a spec and makes the row to store, merging the saved secret
    /// and key when the spec keeps them.
    pub(super) fn connection_row(
        &self,
        actor: &Actor,
        team: TeamId,
        spec: &EhrConnectionSpec,
        saved: Option<&StoredConnection>,
    ) -> Result<(StoredConnection, bool), AppError> {
        let name = rounds_core::validate::text("name", &spec.name, TextKind::Name, NAME_MAX)?
            .ok_or_else(|| {
                InvalidInput::new("name", "give the connection a name of 1 to 100 characters")
            })?;
        let base = self.reachable("baseUrl", &spec.base_url)?;
        let batch_mode = match spec.batch_mode.as_deref().map(str::trim) {
            None | Some("") | Some("auto") => BatchMode::Auto,
            Some("always") => BatchMode::Always,
            Some("never") => BatchMode::Never,
            Some(other) => {
                return Err(InvalidInput::new(
                    "batchMode",
                    format!("{other:?} is not one of auto, always, never"),
                )
                .into())
            }
        };
        let mut row = StoredConnection {
            team_id: team,
            name,
            // One spelling per server: `…/fhir` and `…/fhir/` are the same.
            base_url: base.as_str().trim_end_matches('/').to_owned(),
            auth_kind: AuthKind::None,
            client_id: None,
            auth_method: None,
            scope: None,
            token_url: None,
            secret_sealed: None,
            key_id: None,
            public_jwk: None,
            batch_mode,
            batch_shape: super::shape::shape_setting(spec.batch_shape.as_deref())?,
            updated_at: Timestamp::now(),
            updated_by: Some(actor.user.id),
        };
        let mut new_key = false;
        match &spec.auth {
            EhrAuthSpec::None => {}
            EhrAuthSpec::ClientCredentials {
                client_id,
                client_secret,
                method,
                scope,
                token_url,
            } => {
                row.auth_kind = AuthKind::ClientCredentials;
                row.client_id = Some(client_id_line(client_id)?);
                row.auth_method = Some(match method.as_deref().map(str::trim) {
                    None | Some("") | Some("basic") => AuthMethod::Basic,
                    Some("post") => AuthMethod::Post,
                    Some(other) => {
                        return Err(InvalidInput::new(
                            "auth.method",
                            format!("{other:?} is not one of basic, post"),
                        )
                        .into())
                    }
                });
                row.scope = line("auth.scope", scope.as_deref())?;
                row.token_url = self.token_url(token_url)?;
                row.secret_sealed = self.client_secret(&row, client_secret.as_ref(), saved)?;
            }
            EhrAuthSpec::BackendServices {
                client_id,
                scope,
                token_url,
                new_key: rotate,
            } => {
                row.auth_kind = AuthKind::BackendServices;
                row.client_id = Some(client_id_line(client_id)?);
                row.scope = line("auth.scope", scope.as_deref())?;
                row.token_url = self.token_url(token_url)?;
                new_key = self.key_pair(&mut row, *rotate, saved)?;
            }
        }
        Ok((row, new_key))
    }

    /// An address Rounds may reach, or why not (named by its field).
    fn reachable(&self, field: &'static str, text: &str) -> Result<url::Url, InvalidInput> {
        let url = rounds_fhir::parse_base_url(text)
            .map_err(|e| InvalidInput::new(field, fhir_config_text(&e)))?;
        self.ehr_settings()
            .outbound
            .check_url(&url)
            .map_err(|e| InvalidInput::new(field, fhir_config_text(&e)))?;
        Ok(url)
    }

    fn token_url(&self, t: &Option<String>) -> Result<Option<String>, InvalidInput> {
        trimmed(t)
            .map(|t| self.reachable("auth.tokenUrl", &t).map(|u| u.to_string()))
            .transpose()
    }

    /// The sealed client secret of `row`: the given one, sealed, or the
    /// saved one when it would go where it went before.
    fn client_secret(
        &self,
        row: &StoredConnection,
        given: Option<&Secret>,
        saved: Option<&StoredConnection>,
    ) -> Result<Option<String>, AppError> {
        let sealed = match given.map(Secret::expose).filter(|s| !s.is_empty()) {
            Some(secret) => Some(
                self.secret_box()?
                    .seal(secret.as_bytes(), &secret_context(row.team_id))
                    .map_err(|e| AppError::Internal(format!("cannot seal the secret: {e}")))?,
            ),
            None => match saved {
                // A saved secret only ever goes where it went before.
                Some(s)
                    if s.auth_kind == AuthKind::ClientCredentials
                        && s.base_url == row.base_url
                        && s.token_url == row.token_url =>
                {
                    s.secret_sealed.clone()
                }
                Some(s) if s.auth_kind == AuthKind::ClientCredentials => {
                    return Err(InvalidInput::new(
                        "auth.clientSecret",
                        "give the client secret again: the address changed, and Rounds never sends a saved secret to a new address",
                    )
                    .into())
                }
                _ => None,
            },
        };
        if sealed.is_none() {
            return Err(InvalidInput::new(
                "auth.clientSecret",
                "give the client secret registered with the EHR",
            )
            .into());
        }
        Ok(sealed)
    }

    /// Gives `row` the saved key pair, or (rotating, or with none saved) a
    /// new one, sealed; true when it is new.
    fn key_pair(
        &self,
        row: &mut StoredConnection,
        rotate: bool,
        saved: Option<&StoredConnection>,
    ) -> Result<bool, AppError> {
        let keep = saved.filter(|s| {
            !rotate && s.auth_kind == AuthKind::BackendServices && s.secret_sealed.is_some()
        });
        if let Some(s) = keep {
            row.secret_sealed = s.secret_sealed.clone();
            row.key_id = s.key_id.clone();
            row.public_jwk = s.public_jwk.clone();
            return Ok(false);
        }
        let key = crate::smart_keys::generate_es384()
            .map_err(|e| AppError::Internal(format!("cannot make a key pair: {e}")))?;
        row.secret_sealed = Some(
            self.secret_box()?
                .seal(key.private_key_pem.as_bytes(), &secret_context(row.team_id))
                .map_err(|e| AppError::Internal(format!("cannot seal the key: {e}")))?,
        );
        row.key_id = Some(key.kid.clone());
        row.public_jwk = Some(key.public_jwk.clone());
        Ok(true)
    }
}

fn client_id_line(client_id: &str) -> Result<String, InvalidInput> {
    line("auth.clientId", Some(client_id))?.ok_or_else(|| {
        InvalidInput::new(
            "auth.clientId",
            "give the client id registered with the EHR",
        )
    })
}
