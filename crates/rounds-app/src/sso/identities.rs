//! The links between local accounts and provider identities: listed for
//! administrators and for oneself, made and removed by administrators.

use rounds_core::audit::{Operation, Outcome};
use rounds_core::validate::Username;
use rounds_core::{Timestamp, UserId};
use rounds_store::sso::{self, IdentityRow};
use rounds_store::users;
use serde_json::json;

use super::providers::invalid;
use crate::{Actor, App, AppError};

/// A provider identity linked to an account.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityView {
    pub provider_id: Option<String>,
    pub issuer: String,
    pub subject: String,
    pub user_id: String,
    pub username: Option<String>,
    pub fhir_user: Option<String>,
    pub last_sign_in_at: Option<String>,
}

impl App {
    /// Every linked identity (site administrators).
    pub async fn sso_identities(&self, actor: &Actor) -> Result<Vec<IdentityView>, AppError> {
        self.require_admin(actor, "listSignInIdentities").await?;
        let mut conn = self.db.read().await?;
        let rows = sso::all_identities(&mut conn).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let username = users::by_id(&mut conn, r.user_id)
                .await?
                .map(|u| u.username.to_string());
            out.push(identity_view(r, username));
        }
        Ok(out)
    }

    /// The identities of one account (for their own profile).
    pub async fn my_identities(&self, user: UserId) -> Result<Vec<IdentityView>, AppError> {
        let mut conn = self.db.read().await?;
        Ok(sso::identities_of(&mut conn, user)
            .await?
            .into_iter()
            .map(|r| identity_view(r, None))
            .collect())
    }

    /// A site administrator links a local account to an identity at a
    /// provider (its `sub`); at the next sign-in there, the person lands in
    /// that account.
    pub async fn link_sso_identity(
        &self,
        actor: &Actor,
        provider_id: &str,
        subject: &str,
        username: &str,
    ) -> Result<(), AppError> {
        self.require_admin(actor, "linkSignInIdentity").await?;
        let subject = subject.trim();
        if subject.is_empty() || subject.len() > 255 {
            return Err(invalid(
                "subject",
                "must be the provider's subject (sub), 1-255 characters",
            ));
        }
        let username = Username::parse(username)?;
        let provider = {
            let mut conn = self.db.read().await?;
            sso::provider(&mut conn, provider_id)
                .await?
                .ok_or(AppError::NotFound { what: "provider" })?
        };
        // The issuer as the ID tokens will say it: for SMART providers it is
        // the authorization server's, known once discovered (asked before
        // the write transaction, which must not wait on the network).
        let issuer = self.issuer_of(&provider).await.map_err(|e| {
            invalid(
                "provider",
                format!("cannot read the provider's issuer to link with: {e}"),
            )
        })?;
        let mut tx = self.db.write().await?;
        let user = users::by_username(tx.conn(), &username)
            .await?
            .ok_or_else(|| invalid("username", format!("there is no account named {username}")))?;
        if let Some(existing) = sso::identity(tx.conn(), &issuer, subject).await? {
            return Err(AppError::Conflict {
                message: if existing.user_id == user.id {
                    "this identity is already linked to that account".into()
                } else {
                    "this identity is linked to another account; remove that link first".into()
                },
            });
        }
        sso::insert_identity(
            tx.conn(),
            &IdentityRow {
                issuer: issuer.clone(),
                subject: subject.to_owned(),
                provider_id: Some(provider.id.clone()),
                user_id: user.id,
                fhir_user: None,
                admin_by_groups: false,
                linked_at: Timestamp::now(),
                last_sign_in_at: None,
            },
        )
        .await?;
        let mut entry = self.entry_for(actor, Operation::SsoIdentityLink, Outcome::Success);
        entry.detail = json!({ "provider": provider.id, "issuer": issuer, "subject": subject,
            "userId": user.id, "username": user.username });
        rounds_store::audit::append(&mut tx, &entry).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn unlink_sso_identity(
        &self,
        actor: &Actor,
        issuer: &str,
        subject: &str,
    ) -> Result<(), AppError> {
        self.require_admin(actor, "unlinkSignInIdentity").await?;
        let mut tx = self.db.write().await?;
        let found = sso::identity(tx.conn(), issuer, subject)
            .await?
            .ok_or(AppError::NotFound { what: "identity" })?;
        sso::delete_identity(tx.conn(), issuer, subject).await?;
        let mut entry = self.entry_for(actor, Operation::SsoIdentityLink, Outcome::Success);
        entry.detail = json!({ "provider": found.provider_id, "issuer": issuer, "subject": subject,
            "userId": found.user_id, "removed": true });
        rounds_store::audit::append(&mut tx, &entry).await?;
        tx.commit().await?;
        Ok(())
    }
}

fn identity_view(r: IdentityRow, username: Option<String>) -> IdentityView {
    IdentityView {
        provider_id: r.provider_id,
        issuer: r.issuer,
        subject: r.subject,
        user_id: r.user_id.to_string(),
        username,
        fhir_user: r.fhir_user,
        last_sign_in_at: r.last_sign_in_at.map(|t| t.to_string()),
    }
}
