//! A team's connection as members and owners see it; setting and removing it.

use rounds_core::audit::Operation;
use rounds_core::{TeamId, Timestamp};
use serde_json::{json, Value};

use super::health::Health;
use super::{lock, EhrConnectionSpec};
use crate::access::{Need, Subject};
use crate::{Actor, App, AppError};

/// What an owner sees of the connection (never the secret itself).
#[derive(Debug, Clone)]
pub struct OwnerView {
    pub base_url: String,
    pub auth_kind: String,
    pub client_id: Option<String>,
    pub method: Option<String>,
    pub scope: Option<String>,
    pub token_url: Option<String>,
    pub has_secret: bool,
    pub key_id: Option<String>,
    pub public_jwks: Option<Value>,
    pub batch_mode: String,
    /// How several queries go out: the setting, and the shape in use.
    pub batch_shape: super::BatchShapeView,
    pub updated_at: Timestamp,
    pub updated_by: Option<String>,
}

/// A team's connection as a member sees it; `owner` only for owners.
#[derive(Debug, Clone)]
pub struct EhrConnectionView {
    pub connected: bool,
    pub name: Option<String>,
    pub health: Option<Health>,
    pub owner: Option<OwnerView>,
}

impl App {
    /// The team's connection: its name and health for members, the
    /// settings (never the secret) for owners.
    pub async fn ehr_connection(
        &self,
        actor: &Actor,
        team: TeamId,
    ) -> Result<EhrConnectionView, AppError> {
        let role = self
            .team_access(actor, team, Need::Member, "getEhrConnection")
            .await?;
        let Some(c) = self.stored_connection(team).await? else {
            return Ok(EhrConnectionView {
                connected: false,
                name: None,
                health: None,
                owner: None,
            });
        };
        let owner = if role == rounds_core::model::TeamRole::Owner {
            let updated_by = match c.updated_by {
                Some(u) => {
                    let mut conn = self.db.read().await?;
                    rounds_store::users::by_id(&mut conn, u)
                        .await?
                        .map(|u| u.display_name)
                }
                None => None,
            };
            Some(OwnerView {
                base_url: c.base_url.clone(),
                auth_kind: c.auth_kind.as_str().to_owned(),
                client_id: c.client_id.clone(),
                method: c.auth_method.map(|m| m.as_str().to_owned()),
                scope: c.scope.clone(),
                token_url: c.token_url.clone(),
                has_secret: c.secret_sealed.is_some(),
                key_id: c.key_id.clone(),
                public_jwks: c.public_jwk.clone().map(|jwk| json!({ "keys": [jwk] })),
                batch_mode: c.batch_mode.as_str().to_owned(),
                batch_shape: self.batch_shape_view(&c).await?,
                updated_at: c.updated_at,
                updated_by,
            })
        } else {
            None
        };
        let mut health = self.health_of(team);
        if owner.is_some() {
            // Owners configure the connection: they see the EHR's own words.
            health.message = health.detail.clone().or(health.message);
        }
        Ok(EhrConnectionView {
            connected: true,
            name: Some(c.name.clone()),
            health: Some(health),
            owner,
        })
    }

    /// Sets or changes the team's connection (owners only); recorded as
    /// EHRConnectionSet.
    pub async fn set_ehr_connection(
        &self,
        actor: &Actor,
        team: TeamId,
        spec: &EhrConnectionSpec,
    ) -> Result<EhrConnectionView, AppError> {
        self.team_access(actor, team, Need::Owner, "setEhrConnection")
            .await?;
        let mut tx = self.db.write().await?;
        let (saved, corrupt) = saved_tolerantly(tx.conn(), team).await?;
        let (row, new_key) = self.connection_row(actor, team, spec, saved.as_ref())?;
        rounds_store::ehr::put_connection(tx.conn(), &row).await?;
        self.audit_done(
            &mut tx,
            actor,
            Operation::EhrConnectionSet,
            Subject::team(team),
            json!({
                "action": if saved.is_some() || corrupt { "changed" } else { "set" },
                "replacedCorruptRow": corrupt,
                "name": row.name,
                "baseUrl": row.base_url,
                "auth": row.auth_kind.as_str(),
                "clientId": row.client_id,
                "newKey": new_key,
                "keyId": row.key_id,
                "secretChanged": saved.as_ref().map_or(row.secret_sealed.is_some(), |s| s.secret_sealed != row.secret_sealed),
            }),
        )
        .await?;
        tx.commit().await?;
        lock(&self.ehr.clients).remove(&team);
        self.forget_connection(team);
        self.ehr_connection(actor, team).await
    }

    /// Removes the team's connection (owners only); its EHR patients stay
    /// on their lists with what the team typed. Recorded as EHRConnectionSet.
    pub async fn delete_ehr_connection(&self, actor: &Actor, team: TeamId) -> Result<(), AppError> {
        self.team_access(actor, team, Need::Owner, "deleteEhrConnection")
            .await?;
        let mut tx = self.db.write().await?;
        let (saved, corrupt) = saved_tolerantly(tx.conn(), team).await?;
        if saved.is_none() && !corrupt {
            return Err(AppError::NotFound {
                what: "EHR connection",
            });
        }
        rounds_store::ehr::delete_connection(tx.conn(), team).await?;
        self.audit_done(
            &mut tx,
            actor,
            Operation::EhrConnectionSet,
            Subject::team(team),
            json!({
                "action": "removed",
                "name": saved.as_ref().map(|s| s.name.clone()),
                "baseUrl": saved.as_ref().map(|s| s.base_url.clone()),
                "removedCorruptRow": corrupt,
            }),
        )
        .await?;
        tx.commit().await?;
        lock(&self.ehr.clients).remove(&team);
        self.forget_connection(team);
        Ok(())
    }
}

/// The saved connection for replacing or removing it: a row that cannot be
/// read (corrupt) is logged and reported as `true`, so that an owner can
/// still put a good connection in its place or remove it; reading it for
/// use stays an error.
async fn saved_tolerantly(
    conn: &mut rounds_store::AnyConnection,
    team: TeamId,
) -> Result<(Option<rounds_store::ehr::StoredConnection>, bool), AppError> {
    match rounds_store::ehr::connection(conn, team).await {
        Ok(saved) => Ok((saved, false)),
        Err(rounds_store::StoreError::Corrupt(why)) => {
            tracing::warn!(team = %team, error = %why, "the saved EHR connection cannot be read; it is replaced or removed");
            Ok((None, true))
        }
        Err(e) => Err(e.into()),
    }
}
