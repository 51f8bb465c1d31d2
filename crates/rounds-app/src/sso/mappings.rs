//! Group mappings: which directory group makes whom a member or owner of
//! which team, or a site administrator.

use rounds_core::audit::{Operation, Outcome};
use rounds_core::model::TeamRole;
use rounds_core::validate::TeamName;
use rounds_core::{TeamId, Timestamp};
use rounds_store::sso::{self, MappingRow};
use serde_json::json;

use super::providers::invalid;
use crate::{Actor, App, AppError};

/// A group mapping as written by an administrator: `team` is a team's name
/// (the file and the admin page), `team_id` its id (the API); without
/// either the role must be `admin` (site administration).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingInput {
    pub group: String,
    #[serde(default)]
    pub team: Option<String>,
    /// Not in the file: the file names teams.
    #[serde(skip)]
    pub team_id: Option<TeamId>,
    pub role: String,
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MappingView {
    pub id: String,
    pub group: String,
    pub team_id: Option<String>,
    pub team_name: Option<String>,
    pub role: String,
}

impl App {
    /// Checks a mapping and finds its team (by id or by name).
    pub(super) async fn mapping_row(
        conn: &mut rounds_store::AnyConnection,
        provider_id: &str,
        m: &MappingInput,
    ) -> Result<MappingRow, AppError> {
        let group = m.group.trim();
        if group.is_empty() || group.chars().count() > 200 {
            return Err(invalid("group", "must be 1-200 characters"));
        }
        let role = m.role.trim().to_lowercase();
        let name = m.team.as_deref().map(str::trim).filter(|t| !t.is_empty());
        let team_id = if m.team_id.is_none() && name.is_none() {
            if role != "admin" {
                return Err(invalid("team", "name the team (or choose the role admin)"));
            }
            None
        } else {
            if role == "admin" {
                return Err(invalid(
                    "role",
                    "admin is a site role: leave the team empty",
                ));
            }
            if role.parse::<TeamRole>().is_err() {
                return Err(invalid("role", "must be member, owner or admin"));
            }
            match (m.team_id, name) {
                (Some(id), _) => {
                    rounds_store::teams::by_id(conn, id)
                        .await?
                        .ok_or_else(|| invalid("teamId", "there is no team with this id"))?;
                    Some(id)
                }
                (None, Some(name)) => {
                    let name = TeamName::parse(name)?;
                    Some(sso::team_by_name(conn, &name).await?.ok_or_else(|| {
                        invalid(
                            "team",
                            format!("there is no team named {:?}", name.as_str()),
                        )
                    })?)
                }
                (None, None) => None,
            }
        };
        Ok(MappingRow {
            id: crate::secrets::new_token()?,
            provider_id: provider_id.to_owned(),
            group_name: group.to_owned(),
            team_id,
            role,
        })
    }

    /// A site administrator adds a group mapping to a provider (recorded
    /// as SSOProviderSet).
    pub async fn add_sso_mapping(
        &self,
        actor: &Actor,
        provider_id: &str,
        input: &MappingInput,
    ) -> Result<MappingView, AppError> {
        self.require_admin(actor, "addSignInGroupMapping").await?;
        let mut tx = self.db.write().await?;
        sso::provider(tx.conn(), provider_id)
            .await?
            .ok_or(AppError::NotFound { what: "provider" })?;
        let row = Self::mapping_row(tx.conn(), provider_id, input).await?;
        sso::add_mapping(tx.conn(), &row, Timestamp::now())
            .await
            .map_err(|e| {
                if e.is_duplicate_of("sso_group_mappings") {
                    invalid("group", "this group already has a mapping to that team")
                } else {
                    e.into()
                }
            })?;
        let mut entry = self.entry_for(actor, Operation::SsoProviderSet, Outcome::Success);
        entry.team_id = row.team_id;
        entry.detail = json!({ "provider": provider_id, "mappingAdded": {
            "id": row.id, "group": row.group_name, "teamId": row.team_id, "role": row.role } });
        rounds_store::audit::append(&mut tx, &entry).await?;
        let team_name = match row.team_id {
            Some(t) => rounds_store::teams::by_id(tx.conn(), t)
                .await?
                .map(|t| t.name.as_str().to_owned()),
            None => None,
        };
        tx.commit().await?;
        Ok(MappingView {
            id: row.id,
            group: row.group_name,
            team_id: row.team_id.map(|t| t.to_string()),
            team_name,
            role: row.role,
        })
    }

    pub async fn delete_sso_mapping(
        &self,
        actor: &Actor,
        provider_id: &str,
        mapping_id: &str,
    ) -> Result<(), AppError> {
        self.require_admin(actor, "removeSignInGroupMapping")
            .await?;
        let mut tx = self.db.write().await?;
        if !sso::delete_mapping(tx.conn(), provider_id, mapping_id).await? {
            return Err(AppError::NotFound { what: "mapping" });
        }
        let mut entry = self.entry_for(actor, Operation::SsoProviderSet, Outcome::Success);
        entry.detail = json!({ "provider": provider_id, "mappingRemoved": mapping_id });
        rounds_store::audit::append(&mut tx, &entry).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Used by the directory sync: a team id of a mapping.
pub(super) fn team_role(role: &str) -> Option<TeamRole> {
    role.parse().ok()
}
