//! Accounts and care teams.

use std::str::FromStr;

use crate::{TeamId, TeamName, Timestamp, UserId, Username};

/// What a person may do across the whole site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SiteRole {
    /// Manages users and reads the audit log; sees no team's patients by right.
    Admin,
    User,
}

impl SiteRole {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::User => "user",
        }
    }
}

impl FromStr for SiteRole {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "admin" => Ok(Self::Admin),
            "user" => Ok(Self::User),
            _ => Err(()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub username: Username,
    pub display_name: String,
    pub site_role: SiteRole,
    pub disabled_at: Option<Timestamp>,
    /// Set for a one-time password: the person must choose their own first.
    pub must_change_password: bool,
    pub created_at: Timestamp,
}

impl User {
    pub fn is_admin(&self) -> bool {
        self.site_role == SiteRole::Admin
    }

    pub fn is_disabled(&self) -> bool {
        self.disabled_at.is_some()
    }
}

/// A person's role in one care team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TeamRole {
    Member,
    Owner,
}

impl TeamRole {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Member => "member",
        }
    }
}

impl FromStr for TeamRole {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "owner" => Ok(Self::Owner),
            "member" => Ok(Self::Member),
            _ => Err(()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    pub id: TeamId,
    pub name: TeamName,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamMember {
    pub user_id: UserId,
    pub username: Username,
    pub display_name: String,
    pub role: TeamRole,
    pub added_at: Timestamp,
}

/// A team as one of its members sees it in a list of their teams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamSummary {
    pub team: Team,
    pub my_role: TeamRole,
    pub member_count: i64,
}
