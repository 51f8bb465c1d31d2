//! The identity providers a site administrator configures, their group
//! mappings, and the links between accounts and provider identities.

use std::fmt;
use std::str::FromStr;

use rounds_core::audit::{Operation, Outcome};
use rounds_core::validate::InvalidInput;
use rounds_core::Timestamp;
use rounds_store::sso::{self, ProviderRow};
use serde_json::json;

use super::mappings::{MappingInput, MappingView};
use crate::{Actor, App, AppError};

/// OpenID Connect, or SMART App Launch against a FHIR server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    Oidc,
    Smart,
}

impl ProviderKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Oidc => "oidc",
            Self::Smart => "smart",
        }
    }

    /// The scopes asked for when none are configured.
    pub const fn default_scopes(self) -> &'static str {
        match self {
            Self::Oidc => "openid profile email",
            Self::Smart => "openid fhirUser",
        }
    }
}

impl FromStr for ProviderKind {
    type Err = InvalidInput;
    fn from_str(s: &str) -> Result<Self, InvalidInput> {
        match s {
            "oidc" => Ok(Self::Oidc),
            "smart" => Ok(Self::Smart),
            _ => Err(InvalidInput::new("kind", "must be oidc or smart")),
        }
    }
}

/// A provider as a site administrator gives it (file or admin page).
#[derive(Clone, Default)]
pub struct ProviderInput {
    pub id: String,
    pub kind: Option<String>,
    pub label: String,
    /// The OpenID issuer, or for SMART the FHIR server's base URL.
    pub issuer: String,
    pub client_id: String,
    /// None or empty: keep the stored one (a public client has none).
    pub client_secret: Option<String>,
    pub scopes: Option<String>,
    pub username_claim: Option<String>,
    pub display_name_claim: Option<String>,
    pub groups_claim: Option<String>,
    pub create_accounts: bool,
}

impl fmt::Debug for ProviderInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderInput")
            .field("id", &self.id)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .finish_non_exhaustive()
    }
}

/// A provider as the admin page shows it (never the secret).
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderView {
    pub id: String,
    pub kind: &'static str,
    pub label: String,
    pub issuer: String,
    pub client_id: String,
    pub has_secret: bool,
    pub scopes: String,
    pub username_claim: String,
    pub display_name_claim: String,
    pub groups_claim: Option<String>,
    pub create_accounts: bool,
    pub from_file: bool,
    pub mappings: Vec<MappingView>,
}

/// One button on the sign-in page.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SignInButton {
    pub id: String,
    pub label: String,
}

pub(super) fn secret_context(provider_id: &str) -> String {
    format!("sso-provider:{provider_id}")
}

pub(super) fn invalid(field: &'static str, message: impl Into<String>) -> AppError {
    AppError::Invalid(InvalidInput::new(field, message))
}

/// A claim name: letters, digits and `_ - . :` (namespaced claims), 1-100.
fn claim_name(field: &'static str, raw: Option<&str>, default: &str) -> Result<String, AppError> {
    let value = raw
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .unwrap_or(default);
    let ok = !value.is_empty()
        && value.len() <= 100
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '/'));
    if ok {
        Ok(value.to_owned())
    } else {
        Err(invalid(
            field,
            "must be a claim name such as preferred_username",
        ))
    }
}

fn check_url(field: &'static str, raw: &str) -> Result<String, AppError> {
    let value = raw.trim().trim_end_matches('/');
    match url::Url::parse(value) {
        Ok(u) if matches!(u.scheme(), "https" | "http") && u.host().is_some() => {
            Ok(value.to_owned())
        }
        _ => Err(invalid(field, "must be an https:// address")),
    }
}

impl App {
    /// The buttons of the sign-in page, one per provider.
    pub async fn sign_in_buttons(&self) -> Result<Vec<SignInButton>, AppError> {
        let mut conn = self.db.read().await?;
        Ok(sso::providers(&mut conn)
            .await?
            .into_iter()
            .map(|p| SignInButton {
                id: p.id,
                label: p.label,
            })
            .collect())
    }

    /// Every provider with its mappings (site administrators).
    pub async fn sso_providers(&self, actor: &Actor) -> Result<Vec<ProviderView>, AppError> {
        self.require_admin(actor, "listSignInProviders").await?;
        let mut conn = self.db.read().await?;
        let mut out = Vec::new();
        for p in sso::providers(&mut conn).await? {
            let mut mappings = Vec::new();
            for m in sso::mappings(&mut conn, &p.id).await? {
                let team_name = match m.team_id {
                    Some(t) => rounds_store::teams::by_id(&mut conn, t)
                        .await?
                        .map(|t| t.name.as_str().to_owned()),
                    None => None,
                };
                mappings.push(MappingView {
                    id: m.id,
                    group: m.group_name,
                    team_id: m.team_id.map(|t| t.to_string()),
                    team_name,
                    role: m.role,
                });
            }
            out.push(ProviderView {
                kind: if p.kind == "smart" { "smart" } else { "oidc" },
                has_secret: p.secret_sealed.is_some(),
                id: p.id,
                label: p.label,
                issuer: p.issuer,
                client_id: p.client_id,
                scopes: p.scopes,
                username_claim: p.username_claim,
                display_name_claim: p.display_name_claim,
                groups_claim: p.groups_claim,
                create_accounts: p.create_accounts,
                from_file: p.from_file,
                mappings,
            });
        }
        Ok(out)
    }

    /// The provider row `input` describes, checked, its secret sealed (or
    /// the stored one kept).
    fn checked_provider_row(
        &self,
        input: &ProviderInput,
        stored: Option<&ProviderRow>,
        from_file: bool,
    ) -> Result<ProviderRow, AppError> {
        let id = input.id.trim().to_lowercase();
        let id_ok = (1..=40).contains(&id.len())
            && id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !id_ok {
            return Err(invalid("id", "must be 1-40 characters a-z, 0-9 and -"));
        }
        let kind: ProviderKind = input.kind.as_deref().unwrap_or("oidc").parse()?;
        let label = input.label.trim();
        if label.is_empty() || label.chars().count() > 60 {
            return Err(invalid("label", "must be 1-60 characters"));
        }
        let issuer = check_url("issuer", &input.issuer)?;
        let client_id = input.client_id.trim();
        if client_id.is_empty() || client_id.len() > 200 {
            return Err(invalid("clientId", "must be 1-200 characters"));
        }
        let scopes = input
            .scopes
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or(kind.default_scopes())
            .split_whitespace()
            .collect::<Vec<_>>();
        if !scopes.contains(&"openid") {
            return Err(invalid("scopes", "must include openid"));
        }
        let secret_sealed = match input
            .client_secret
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            Some(secret) => Some(
                self.secret_box()?
                    .seal(secret.as_bytes(), &secret_context(&id))
                    .map_err(|e| AppError::Internal(format!("cannot seal the secret: {e}")))?,
            ),
            None => stored.and_then(|s| s.secret_sealed.clone()),
        };
        let default_username = match kind {
            ProviderKind::Oidc => "preferred_username",
            ProviderKind::Smart => "sub",
        };
        Ok(ProviderRow {
            kind: kind.as_str().to_owned(),
            label: label.to_owned(),
            issuer,
            client_id: client_id.to_owned(),
            secret_sealed,
            scopes: scopes.join(" "),
            username_claim: claim_name(
                "usernameClaim",
                input.username_claim.as_deref(),
                default_username,
            )?,
            display_name_claim: claim_name(
                "displayNameClaim",
                input.display_name_claim.as_deref(),
                "name",
            )?,
            groups_claim: match input.groups_claim.as_deref().map(str::trim) {
                Some(g) if !g.is_empty() => Some(claim_name("groupsClaim", Some(g), "groups")?),
                _ => None,
            },
            create_accounts: input.create_accounts,
            from_file,
            updated_at: Timestamp::now(),
            id,
        })
    }

    /// A site administrator adds or changes a provider (recorded as
    /// SSOProviderSet): the provider as it now is, and whether it is new.
    /// Providers from the configuration file are changed in the file.
    pub async fn put_sso_provider(
        &self,
        actor: &Actor,
        input: &ProviderInput,
    ) -> Result<(ProviderView, bool), AppError> {
        self.require_admin(actor, "setSignInProvider").await?;
        let id = input.id.trim().to_lowercase();
        let mut tx = self.db.write().await?;
        let stored = sso::provider(tx.conn(), &id).await?;
        if stored.as_ref().is_some_and(|s| s.from_file) {
            return Err(AppError::Conflict {
                message: format!(
                    "the provider {id} comes from the configuration file: change it there"
                ),
            });
        }
        let row = self.checked_provider_row(input, stored.as_ref(), false)?;
        sso::put_provider(tx.conn(), &row).await?;
        let mut entry = self.entry_for(actor, Operation::SsoProviderSet, Outcome::Success);
        entry.detail = json!({
            "provider": row.id, "kind": row.kind, "issuer": row.issuer, "clientId": row.client_id,
            "secretChanged": input.client_secret.as_deref().is_some_and(|s| !s.trim().is_empty()),
            "createAccounts": row.create_accounts, "new": stored.is_none(),
        });
        rounds_store::audit::append(&mut tx, &entry).await?;
        tx.commit().await?;
        self.forget_discovery(&row.id);
        let view = self
            .sso_providers(actor)
            .await?
            .into_iter()
            .find(|p| p.id == row.id)
            .ok_or(AppError::NotFound { what: "provider" })?;
        Ok((view, stored.is_none()))
    }

    pub async fn delete_sso_provider(&self, actor: &Actor, id: &str) -> Result<(), AppError> {
        self.require_admin(actor, "removeSignInProvider").await?;
        let mut tx = self.db.write().await?;
        let stored = sso::provider(tx.conn(), id)
            .await?
            .ok_or(AppError::NotFound { what: "provider" })?;
        if stored.from_file {
            return Err(AppError::Conflict {
                message: format!(
                    "the provider {id} comes from the configuration file: remove it there"
                ),
            });
        }
        sso::delete_provider(tx.conn(), id).await?;
        let mut entry = self.entry_for(actor, Operation::SsoProviderSet, Outcome::Success);
        entry.detail = json!({ "provider": id, "removed": true });
        rounds_store::audit::append(&mut tx, &entry).await?;
        tx.commit().await?;
        self.forget_discovery(id);
        Ok(())
    }

    /// Puts the providers of the configuration file in place at start-up
    /// (their mappings replace the stored ones); providers that came from
    /// the file earlier and are no longer in it are removed. Mappings that
    /// name a team that does not exist are skipped with a warning.
    pub async fn install_file_providers(
        &self,
        providers: &[(ProviderInput, Vec<MappingInput>)],
    ) -> Result<(), AppError> {
        let now = Timestamp::now();
        let mut tx = self.db.write().await?;
        let stored = sso::providers(tx.conn()).await?;
        for (input, mappings) in providers {
            let id = input.id.trim().to_lowercase();
            let old = stored.iter().find(|s| s.id == id);
            if old.is_some_and(|o| !o.from_file) {
                return Err(AppError::Conflict {
                    message: format!(
                        "sign-in provider {id}: a provider with this id was added on the admin page; remove it there or give the file's another id"
                    ),
                });
            }
            let row = self.checked_provider_row(input, old, true)?;
            let changed = old.is_none_or(|o| {
                let mut o = o.clone();
                o.updated_at = row.updated_at;
                // A new seal differs every time: compare the rest.
                o.secret_sealed.clone_from(&row.secret_sealed);
                o != row
            });
            if changed || input.client_secret.is_some() {
                sso::put_provider(tx.conn(), &row).await?;
            }
            let mut rows = Vec::new();
            for m in mappings {
                match Self::mapping_row(tx.conn(), &row.id, m).await {
                    Ok(r) => rows.push(r),
                    Err(err) => tracing::warn!(provider = %row.id, group = %m.group, error = %err,
                        "sign-in group mapping skipped"),
                }
            }
            sso::replace_mappings(tx.conn(), &row.id, &rows, now).await?;
            self.forget_discovery(&row.id);
        }
        for old in stored.iter().filter(|s| s.from_file) {
            if !providers
                .iter()
                .any(|(p, _)| p.id.trim().eq_ignore_ascii_case(&old.id))
            {
                sso::delete_provider(tx.conn(), &old.id).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}
