//! The API's request and response bodies. Field names are camelCase;
//! requests refuse unknown fields so a typo is an error, not a silent no-op.

use rounds_core::audit::AuditRecord;
use rounds_core::model::{Team, TeamMember, TeamSummary, User};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignInRequest {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignInResponse {
    pub user: UserDto,
    /// Send this in the X-CSRF-Token header with every state-changing request.
    pub csrf_token: String,
    /// When the session ends at the latest (RFC 3339).
    pub expires_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeResponse {
    pub user: UserDto,
    pub csrf_token: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    /// 12 to 256 characters.
    pub new_password: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserDto {
    pub id: String,
    pub username: String,
    pub display_name: String,
    /// `admin` or `user`.
    pub site_role: String,
    pub disabled: bool,
    pub must_change_password: bool,
    pub created_at: String,
}

impl From<&User> for UserDto {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.to_string(),
            username: u.username.to_string(),
            display_name: u.display_name.clone(),
            site_role: u.site_role.as_str().to_owned(),
            disabled: u.is_disabled(),
            must_change_password: u.must_change_password,
            created_at: u.created_at.to_rfc3339(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateUserRequest {
    /// 2 to 64 of a-z 0-9 . _ - (case-insensitive).
    pub username: String,
    /// 1 to 100 characters.
    pub display_name: String,
    /// 12 to 256 characters; leave out to get a one-time password back.
    #[serde(default)]
    pub password: Option<String>,
    /// `admin` or `user` (default).
    #[serde(default)]
    pub site_role: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateUserResponse {
    pub user: UserDto,
    /// Present when Rounds made the password: show it once; it must be
    /// changed at first sign-in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub one_time_password: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateUserRequest {
    #[serde(default)]
    pub disabled: Option<bool>,
    /// `admin` or `user`.
    #[serde(default)]
    pub site_role: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasswordResetResponse {
    /// Show once; the account must change it at its next sign-in.
    pub one_time_password: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TeamSummaryDto {
    pub id: String,
    pub name: String,
    /// `owner` or `member`.
    pub my_role: String,
    pub member_count: i64,
}

impl From<&TeamSummary> for TeamSummaryDto {
    fn from(t: &TeamSummary) -> Self {
        Self {
            id: t.team.id.to_string(),
            name: t.team.name.as_str().to_owned(),
            my_role: t.my_role.as_str().to_owned(),
            member_count: t.member_count,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TeamDto {
    pub id: String,
    pub name: String,
    pub created_at: String,
}

impl From<&Team> for TeamDto {
    fn from(t: &Team) -> Self {
        Self {
            id: t.id.to_string(),
            name: t.name.as_str().to_owned(),
            created_at: t.created_at.to_rfc3339(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateTeamRequest {
    /// 1 to 100 characters, unique without regard to case.
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TeamDetailDto {
    pub team: TeamDto,
    pub my_role: String,
    pub members: Vec<MemberDto>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberDto {
    pub user_id: String,
    pub username: String,
    pub display_name: String,
    /// `owner` or `member`.
    pub role: String,
    pub added_at: String,
}

impl From<&TeamMember> for MemberDto {
    fn from(m: &TeamMember) -> Self {
        Self {
            user_id: m.user_id.to_string(),
            username: m.username.to_string(),
            display_name: m.display_name.clone(),
            role: m.role.as_str().to_owned(),
            added_at: m.added_at.to_rfc3339(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddMemberRequest {
    pub username: String,
    /// `owner` or `member` (default).
    #[serde(default)]
    pub role: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateMemberRequest {
    /// `owner` or `member`.
    pub role: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecordDto {
    pub seq: i64,
    pub time: String,
    pub operation: String,
    /// `success` or `refused`.
    pub outcome: String,
    pub reason: Option<String>,
    pub actor_id: Option<String>,
    pub actor_username: Option<String>,
    pub team_id: Option<String>,
    pub list_id: Option<String>,
    pub patient_ref: Option<String>,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    pub client_addr: Option<String>,
    pub user_agent: Option<String>,
    pub hash: String,
}

impl From<&AuditRecord> for AuditRecordDto {
    fn from(r: &AuditRecord) -> Self {
        Self {
            seq: r.seq,
            time: r.timestamp().to_rfc3339(),
            operation: r.operation.clone(),
            outcome: r.outcome.clone(),
            reason: r.reason.clone(),
            actor_id: r.actor_id.clone(),
            actor_username: r.actor_username.clone(),
            team_id: r.team_id.clone(),
            list_id: r.list_id.clone(),
            patient_ref: r.patient_ref.clone(),
            detail: serde_json::from_str(&r.detail)
                .unwrap_or(serde_json::Value::String(r.detail.clone())),
            client_addr: r.client_addr.clone(),
            user_agent: r.user_agent.clone(),
            hash: r.hash.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditPage {
    pub records: Vec<AuditRecordDto>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    pub next_before: Option<i64>,
}
