//! Accounts from claims, and roles and teams from the directory's groups.
//!
//! The identity is the provider's `sub` with the issuer. A known identity
//! signs in to its account; an unknown one gets a new account (when the
//! provider creates accounts) named from the configured claims, never an
//! existing account of that name (an administrator links those by hand).
//! At each sign-in the groups claim decides site administration and the
//! mapped teams: memberships the directory made are added, changed and
//! removed; memberships made by hand are left as they are.

use std::collections::HashMap;

use rounds_core::audit::{AuditEntry, Operation, Outcome};
use rounds_core::model::{SiteRole, TeamRole, User};
use rounds_core::validate::{display_name, Username};
use rounds_core::{TeamId, Timestamp, UserId};
use rounds_store::sso::{self, IdentityRow, ProviderRow};
use rounds_store::{teams, users, WriteTx};
use serde_json::{json, Map, Value};

use super::mappings::team_role;
use super::SsoError;
use crate::{App, AppError, SignedIn};

/// The password hash of accounts made by single sign-on: not a PHC string,
/// so no password ever matches it.
const NO_PASSWORD: &str = "!single-sign-on";

fn claim_text(claims: &Map<String, Value>, name: &str) -> Option<String> {
    claims
        .get(name)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The groups claim: an array of strings, or one string.
fn groups(claims: &Map<String, Value>, name: Option<&str>) -> Vec<String> {
    match name.and_then(|n| claims.get(n)) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(Value::String(one)) => vec![one.clone()],
        _ => Vec::new(),
    }
}

/// A username from a claim value: lower case, `@` and other characters a
/// username may not hold become `-` (so `ada@hospital.org` is
/// `ada-hospital.org`).
fn username_from(value: &str) -> Option<Username> {
    let mapped: String = value
        .trim()
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    let trimmed = mapped.trim_start_matches(['.', '_', '-']);
    Username::parse(trimmed).ok()
}

/// Who writes the directory's changes in the audit log.
fn directory_entry(
    p: &ProviderRow,
    op: Operation,
    client: &rounds_core::audit::ClientInfo,
) -> AuditEntry {
    let mut entry = AuditEntry::new(op, Outcome::Success, client.clone());
    entry.actor_username = Some(format!("(directory {})", p.id));
    entry
}

impl App {
    /// Signs in the person the checked claims name (see the module doc).
    pub(super) async fn sign_in_from_claims(
        &self,
        p: &ProviderRow,
        issuer: &str,
        claims: &Map<String, Value>,
        id_token: Option<&str>,
        client: &rounds_core::audit::ClientInfo,
    ) -> Result<SignedIn, SsoError> {
        let subject = claim_text(claims, "sub").ok_or_else(|| SsoError::BadClaims {
            label: p.label.clone(),
            detail: "no sub".into(),
        })?;
        let fhir_user = claim_text(claims, "fhirUser");
        let groups = groups(claims, p.groups_claim.as_deref());
        let now = Timestamp::now();
        let mut tx = self.db.write().await?;
        let known = sso::identity(tx.conn(), issuer, &subject).await?;
        let (user, identity) = match known {
            Some(identity) => {
                let user = users::by_id(tx.conn(), identity.user_id)
                    .await?
                    .ok_or_else(|| AppError::Internal("an identity without its account".into()))?;
                (user, identity)
            }
            None => {
                let user = self.create_from_claims(&mut tx, p, claims, client).await?;
                let identity = IdentityRow {
                    issuer: issuer.to_owned(),
                    subject: subject.clone(),
                    provider_id: Some(p.id.clone()),
                    user_id: user.id,
                    fhir_user: fhir_user.clone(),
                    admin_by_groups: false,
                    linked_at: now,
                    last_sign_in_at: None,
                };
                sso::insert_identity(tx.conn(), &identity).await?;
                (user, identity)
            }
        };
        if user.is_disabled() {
            return Err(SsoError::Disabled);
        }
        let (user, admin_by_groups) = self
            .apply_groups(&mut tx, p, &user, &identity, &groups, client)
            .await?;
        sso::signed_in_with(
            tx.conn(),
            issuer,
            &subject,
            &p.id,
            fhir_user.as_deref(),
            admin_by_groups,
            now,
        )
        .await?;
        let detail = json!({ "method": "sso", "provider": p.id, "issuer": issuer, "subject": subject,
            "fhirUser": fhir_user });
        let signed_in = self.open_session(&mut tx, user, client, detail).await?;
        let token_hash = crate::secrets::sha256_hex(&signed_in.token);
        let id_token_sealed = id_token
            .map(|t| self.seal_text(t, &super::flow::session_context(&token_hash)))
            .transpose()?;
        sso::mark_session(tx.conn(), &token_hash, &p.id, id_token_sealed.as_deref()).await?;
        tx.commit().await?;
        Ok(signed_in)
    }

    /// A new account from the claims, when the provider creates accounts.
    async fn create_from_claims(
        &self,
        tx: &mut WriteTx<'_>,
        p: &ProviderRow,
        claims: &Map<String, Value>,
        client: &rounds_core::audit::ClientInfo,
    ) -> Result<User, SsoError> {
        if !p.create_accounts {
            return Err(SsoError::NoAccount {
                label: p.label.clone(),
            });
        }
        let raw = claim_text(claims, &p.username_claim).ok_or_else(|| SsoError::BadClaims {
            label: p.label.clone(),
            detail: format!("no {} claim", p.username_claim),
        })?;
        let username = username_from(&raw).ok_or_else(|| SsoError::BadClaims {
            label: p.label.clone(),
            detail: format!("the {} claim does not make a username", p.username_claim),
        })?;
        if users::by_username(tx.conn(), &username).await?.is_some() {
            return Err(SsoError::NameTaken {
                label: p.label.clone(),
                username: username.to_string(),
            });
        }
        let display = claim_text(claims, &p.display_name_claim)
            .and_then(|d| display_name(&d).ok())
            .unwrap_or_else(|| username.to_string());
        let now = Timestamp::now();
        let user = users::insert(
            tx.conn(),
            &users::NewUser {
                id: UserId::new_random(),
                username: &username,
                display_name: &display,
                password_hash: NO_PASSWORD,
                site_role: SiteRole::User,
                must_change_password: false,
                at: now,
            },
        )
        .await?;
        let mut entry = directory_entry(p, Operation::UserCreate, client);
        entry.detail = json!({ "userId": user.id, "username": user.username, "siteRole": "user",
            "provider": p.id, "justInTime": true });
        rounds_store::audit::append(tx, &entry).await?;
        Ok(user)
    }

    /// Applies the groups claim: site administration and mapped teams.
    /// Returns the account as it is now and whether the directory made it
    /// an administrator.
    async fn apply_groups(
        &self,
        tx: &mut WriteTx<'_>,
        p: &ProviderRow,
        user: &User,
        identity: &IdentityRow,
        groups: &[String],
        client: &rounds_core::audit::ClientInfo,
    ) -> Result<(User, bool), SsoError> {
        let mappings = sso::mappings(tx.conn(), &p.id).await?;
        if mappings.is_empty() || p.groups_claim.is_none() {
            return Ok((user.clone(), identity.admin_by_groups));
        }
        let now = Timestamp::now();
        let in_group = |g: &str| groups.iter().any(|x| x == g);

        // Site administration.
        let wants_admin = mappings
            .iter()
            .any(|m| m.team_id.is_none() && m.role == "admin" && in_group(&m.group_name));
        let mut admin_by_groups = identity.admin_by_groups;
        if wants_admin && !user.is_admin() {
            users::set_site_role(tx.conn(), user.id, SiteRole::Admin, now).await?;
            admin_by_groups = true;
            self.audit_directory_role(tx, p, user, "admin", groups, client)
                .await?;
        } else if !wants_admin && user.is_admin() && identity.admin_by_groups {
            if users::count_active_admins(tx.conn()).await? > 1 {
                users::set_site_role(tx.conn(), user.id, SiteRole::User, now).await?;
                self.audit_directory_role(tx, p, user, "user", groups, client)
                    .await?;
            } else {
                tracing::warn!(provider = %p.id, user = %user.username,
                    "the directory would take away the last site administrator: kept");
            }
            admin_by_groups = false;
        } else if !wants_admin {
            admin_by_groups = false;
        }

        // Teams: the strongest mapped role per team.
        let mut wanted: HashMap<TeamId, (TeamRole, &str)> = HashMap::new();
        for m in &mappings {
            let (Some(team), Some(role)) = (m.team_id, team_role(&m.role)) else {
                continue;
            };
            if in_group(&m.group_name) {
                let entry = wanted.entry(team).or_insert((role, m.group_name.as_str()));
                if role == TeamRole::Owner {
                    *entry = (role, m.group_name.as_str());
                }
            }
        }
        let made = sso::directory_teams(tx.conn(), user.id, &p.id).await?;
        for (&team, &(role, group)) in &wanted {
            match teams::role_of(tx.conn(), team, user.id).await? {
                None => {
                    teams::add_member(tx.conn(), team, user.id, role, now).await?;
                    sso::unmark_directory_member(tx.conn(), team, user.id).await?;
                    sso::mark_directory_member(tx.conn(), team, user.id, &p.id, now).await?;
                    let mut entry = directory_entry(p, Operation::TeamMemberAdd, client);
                    entry.team_id = Some(team);
                    entry.detail = json!({ "userId": user.id, "username": user.username,
                        "role": role.as_str(), "provider": p.id, "group": group });
                    rounds_store::audit::append(tx, &entry).await?;
                }
                Some(current) if current != role && made.contains(&team) => {
                    if current == TeamRole::Owner
                        && teams::count_owners(tx.conn(), team).await? <= 1
                    {
                        continue;
                    }
                    teams::set_role(tx.conn(), team, user.id, role).await?;
                    let mut entry = directory_entry(p, Operation::TeamMemberUpdate, client);
                    entry.team_id = Some(team);
                    entry.detail = json!({ "userId": user.id, "from": current.as_str(),
                        "to": role.as_str(), "provider": p.id, "group": group });
                    rounds_store::audit::append(tx, &entry).await?;
                }
                // Made by hand, or already as mapped.
                Some(_) => {}
            }
        }
        let mut removed = Vec::new();
        for team in made.into_iter().filter(|t| !wanted.contains_key(t)) {
            sso::unmark_directory_member(tx.conn(), team, user.id).await?;
            let Some(current) = teams::role_of(tx.conn(), team, user.id).await? else {
                continue;
            };
            if current == TeamRole::Owner && teams::count_owners(tx.conn(), team).await? <= 1 {
                tracing::warn!(provider = %p.id, team = %team,
                    "the directory would remove a team's last owner: kept");
                continue;
            }
            teams::remove_member(tx.conn(), team, user.id).await?;
            let mut entry = directory_entry(p, Operation::TeamMemberRemove, client);
            entry.team_id = Some(team);
            entry.detail = json!({ "userId": user.id, "role": current.as_str(), "provider": p.id,
                "reason": "no longer in a mapped group" });
            rounds_store::audit::append(tx, &entry).await?;
            removed.push(team);
        }
        for team in removed {
            self.end_feeds_of_member(team, user.id);
        }
        let now_user = users::by_id(tx.conn(), user.id)
            .await?
            .ok_or(AppError::NotFound { what: "user" })?;
        Ok((now_user, admin_by_groups))
    }

    async fn audit_directory_role(
        &self,
        tx: &mut WriteTx<'_>,
        p: &ProviderRow,
        user: &User,
        role: &str,
        groups: &[String],
        client: &rounds_core::audit::ClientInfo,
    ) -> Result<(), AppError> {
        let mut entry = directory_entry(p, Operation::UserUpdate, client);
        entry.detail = json!({ "userId": user.id, "username": user.username, "siteRole": role,
            "provider": p.id, "groups": groups });
        rounds_store::audit::append(tx, &entry).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::username_from;

    #[test]
    fn usernames_from_claims() {
        let name = |s: &str| username_from(s).map(|u| u.to_string());
        assert_eq!(name("Ada.Lovelace").as_deref(), Some("ada.lovelace"));
        assert_eq!(
            name("ada@hospital.org").as_deref(),
            Some("ada-hospital.org")
        );
        assert_eq!(name("_x").as_deref(), None);
        assert_eq!(name("@@").as_deref(), None);
    }
}
