//! Local accounts, sign-in with throttling, sessions and the first
//! administrator.
//!
//! (Over 500 lines: accounts and sign-in share the throttling and the audit
//! of every attempt; each use case is one short method.)

use std::fmt;

use rounds_core::audit::{AuditEntry, ClientInfo, Operation, Outcome};
use rounds_core::model::{SiteRole, User};
use rounds_core::validate::{display_name, InvalidInput, Password, Username};
use rounds_core::{Timestamp, UserId};
use rounds_store::{sessions, site, throttle, users};
use serde_json::json;

use crate::live::EndReason;
use crate::secrets::{new_token, one_time_password, sha256_hex};
use crate::{strength, Actor, App, AppError};

/// A password shown once, to be changed at first sign-in. `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct OneTimePassword(String);

impl OneTimePassword {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for OneTimePassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OneTimePassword([redacted])")
    }
}

/// The administrator created on first start.
#[derive(Debug)]
pub struct Bootstrap {
    pub username: String,
    pub password: OneTimePassword,
}

#[derive(Debug, Clone, Default)]
pub struct NewUserInput {
    pub username: String,
    pub display_name: String,
    /// None: Rounds makes a one-time password and returns it.
    pub password: Option<String>,
    pub admin: bool,
}

/// A change an administrator makes to an account.
#[derive(Debug, Clone, Default)]
pub struct UserChange {
    pub disabled: Option<bool>,
    pub site_role: Option<SiteRole>,
}

/// A new session: the cookie's token (shown nowhere else) and the CSRF token.
pub struct SignedIn {
    pub token: String,
    pub csrf_token: String,
    pub user: User,
    pub expires_at: Timestamp,
}

/// A live session found from its cookie.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub user: User,
    pub csrf_token: String,
    token_hash: String,
}

impl SessionInfo {
    /// The SHA-256 of the cookie's token: how the session is stored.
    pub(crate) fn token_hash(&self) -> &str {
        &self.token_hash
    }
}

/// Who asks for an account change: a site administrator through the web,
/// or the operator at the server's console (`rounds user …`).
#[derive(Clone, Copy)]
pub enum Caller<'a> {
    Console,
    User(&'a Actor),
}

/// The throttle key of an account, by the username as typed (lowercase).
fn account_key(username: &str) -> String {
    format!("user:{username}")
}

/// The refusal of a password sign-in where local sign-in is turned off.
fn local_sign_in_off() -> AppError {
    AppError::forbidden(
        "sign-in with a Rounds password is turned off here: use your organization's sign-in button",
    )
}

const BOOTSTRAP_KEY: &str = "first_admin_created";
const BOOTSTRAP_USERNAME: &str = "admin";

impl App {
    fn entry_by(&self, caller: Caller<'_>, operation: Operation) -> AuditEntry {
        match caller {
            Caller::User(actor) => self.entry_for(actor, operation, Outcome::Success),
            Caller::Console => {
                let mut entry = AuditEntry::new(operation, Outcome::Success, ClientInfo::default());
                entry.actor_username = Some("(console)".into());
                entry
            }
        }
    }

    async fn check_admin(&self, caller: Caller<'_>, action: &str) -> Result<(), AppError> {
        match caller {
            Caller::Console => Ok(()),
            Caller::User(actor) => self.require_admin(actor, action).await,
        }
    }

    /// On an empty database, creates the site administrator `admin` with a
    /// one-time password, exactly once in the life of the database (even
    /// with several instances starting together). None if it was done before.
    pub async fn bootstrap_admin(&self) -> Result<Option<Bootstrap>, AppError> {
        let password = one_time_password()?;
        let hash = self.hasher.hash(password.clone()).await?;
        let now = Timestamp::now();
        let mut tx = self.db.write().await?;
        if users::count(tx.conn()).await? > 0
            || !site::set_once(tx.conn(), BOOTSTRAP_KEY, BOOTSTRAP_USERNAME, now).await?
        {
            return Ok(None);
        }
        let username = Username::from_trusted(BOOTSTRAP_USERNAME.into());
        let user = users::insert(
            tx.conn(),
            &users::NewUser {
                id: UserId::new_random(),
                username: &username,
                display_name: "Site administrator",
                password_hash: &hash,
                site_role: SiteRole::Admin,
                must_change_password: true,
                at: now,
            },
        )
        .await?;
        let mut entry = self.entry_by(Caller::Console, Operation::UserCreate);
        entry.detail = json!({ "userId": user.id, "username": user.username, "siteRole": "admin", "firstStart": true });
        rounds_store::audit::append(&mut tx, &entry).await?;
        tx.commit().await?;
        Ok(Some(Bootstrap {
            username: username.to_string(),
            password: OneTimePassword(password),
        }))
    }

    /// Creates an account. Without a password given, a one-time password is
    /// made, returned, and must be changed at first sign-in.
    pub async fn create_user(
        &self,
        caller: Caller<'_>,
        input: &NewUserInput,
    ) -> Result<(User, Option<OneTimePassword>), AppError> {
        self.check_admin(caller, "createUser").await?;
        let username = Username::parse(&input.username)?;
        let display = display_name(&input.display_name)?;
        let (password, one_time) = match &input.password {
            Some(p) => {
                let p = Password::new_choice("password", p)?;
                strength::check("password", p.expose(), &[username.as_str(), &display])?;
                (p.expose().to_owned(), None)
            }
            None => {
                let p = one_time_password()?;
                (p.clone(), Some(OneTimePassword(p)))
            }
        };
        let hash = self.hasher.hash(password).await?;
        let role = if input.admin {
            SiteRole::Admin
        } else {
            SiteRole::User
        };
        let now = Timestamp::now();
        let mut tx = self.db.write().await?;
        let user = users::insert(
            tx.conn(),
            &users::NewUser {
                id: UserId::new_random(),
                username: &username,
                display_name: &display,
                password_hash: &hash,
                site_role: role,
                must_change_password: one_time.is_some(),
                at: now,
            },
        )
        .await
        .map_err(|e| {
            if e.is_duplicate_of("username") {
                AppError::Duplicate {
                    field: "username",
                    message: format!("the username {username} is taken"),
                }
            } else {
                e.into()
            }
        })?;
        let mut entry = self.entry_by(caller, Operation::UserCreate);
        entry.detail =
            json!({ "userId": user.id, "username": user.username, "siteRole": role.as_str() });
        rounds_store::audit::append(&mut tx, &entry).await?;
        tx.commit().await?;
        Ok((user, one_time))
    }

    pub async fn list_users(&self, caller: Caller<'_>) -> Result<Vec<User>, AppError> {
        self.check_admin(caller, "listUsers").await?;
        let mut conn = self.db.read().await?;
        Ok(users::list(&mut conn).await?)
    }

    pub async fn user_by_username(&self, raw: &str) -> Result<User, AppError> {
        let username = Username::parse(raw)?;
        let mut conn = self.db.read().await?;
        users::by_username(&mut conn, &username)
            .await?
            .ok_or(AppError::NotFound { what: "user" })
    }

    /// Disables or enables an account, or changes its site role. Disabling
    /// ends the account's sessions. The last active administrator stays.
    pub async fn update_user(
        &self,
        caller: Caller<'_>,
        id: UserId,
        change: &UserChange,
    ) -> Result<User, AppError> {
        self.check_admin(caller, "updateUser").await?;
        let now = Timestamp::now();
        let mut tx = self.db.write().await?;
        let user = users::by_id(tx.conn(), id)
            .await?
            .ok_or(AppError::NotFound { what: "user" })?;
        let loses_admin = user.is_admin()
            && !user.is_disabled()
            && (change.disabled == Some(true) || change.site_role == Some(SiteRole::User));
        if loses_admin && users::count_active_admins(tx.conn()).await? <= 1 {
            return Err(AppError::Conflict {
                message: "this is the last active site administrator; make another one first"
                    .into(),
            });
        }
        if let Some(disabled) = change.disabled {
            users::set_disabled(tx.conn(), id, disabled.then_some(now), now).await?;
            if disabled {
                sessions::delete_for_user(tx.conn(), id).await?;
            }
        }
        if let Some(role) = change.site_role {
            users::set_site_role(tx.conn(), id, role, now).await?;
        }
        let updated = users::by_id(tx.conn(), id)
            .await?
            .ok_or(AppError::NotFound { what: "user" })?;
        let mut entry = self.entry_by(caller, Operation::UserUpdate);
        entry.detail = json!({
            "userId": id,
            "username": updated.username,
            "disabled": change.disabled,
            "siteRole": change.site_role.map(SiteRole::as_str),
        });
        rounds_store::audit::append(&mut tx, &entry).await?;
        tx.commit().await?;
        if change.disabled == Some(true) {
            self.end_feeds_of_user(id, None, EndReason::AccountDisabled);
        }
        Ok(updated)
    }

    /// Gives the account a new one-time password and ends its sessions.
    pub async fn reset_password(
        &self,
        caller: Caller<'_>,
        id: UserId,
    ) -> Result<OneTimePassword, AppError> {
        self.check_admin(caller, "resetUserPassword").await?;
        let password = one_time_password()?;
        let hash = self.hasher.hash(password.clone()).await?;
        let now = Timestamp::now();
        let mut tx = self.db.write().await?;
        if !users::set_password(tx.conn(), id, &hash, true, now).await? {
            return Err(AppError::NotFound { what: "user" });
        }
        sessions::delete_for_user(tx.conn(), id).await?;
        let mut entry = self.entry_by(caller, Operation::UserUpdate);
        entry.detail = json!({ "userId": id, "passwordReset": true });
        rounds_store::audit::append(&mut tx, &entry).await?;
        tx.commit().await?;
        self.end_feeds_of_user(id, None, EndReason::PasswordReset);
        Ok(OneTimePassword(password))
    }

    /// The signed-in person replaces their password (and a one-time one).
    /// Wrong current passwords count against the account like failed
    /// sign-ins (and are refused alike past the limit); the new one must be
    /// hard to guess. Every other session of the account ends, with its
    /// live feeds; `session`, which made the change, stays.
    pub async fn change_password(
        &self,
        session: &SessionInfo,
        actor: &Actor,
        current: &str,
        new: &str,
    ) -> Result<(), AppError> {
        let new = Password::new_choice("newPassword", new)?;
        if new.expose() == current {
            return Err(
                InvalidInput::new("newPassword", "must differ from the current password").into(),
            );
        }
        let user = &actor.user;
        strength::check(
            "newPassword",
            new.expose(),
            &[user.username.as_str(), &user.display_name],
        )?;
        let key = account_key(user.username.as_str());
        let c = &self.config;
        let limits = [(key.as_str(), c.signin_max_failures_per_account)];
        if let Err(until) = self.begin_attempts(&limits).await? {
            return Err(AppError::SignInLocked { until });
        }
        let stored = {
            let mut conn = self.db.read().await?;
            users::password_hash(&mut conn, user.id).await?
        };
        let checked = self.hasher.verify(current.to_owned(), stored).await;
        let current_ok = match checked {
            Ok(ok) => ok,
            Err(err) => {
                self.end_attempts(&limits, false).await?;
                return Err(err);
            }
        };
        if !current_ok {
            let mut tx = self.db.write().await?;
            self.fail_attempts(&mut tx, &limits).await?;
            let entry = self.entry_for(
                actor,
                Operation::PasswordChange,
                Outcome::Refused("wrong current password".into()),
            );
            rounds_store::audit::append(&mut tx, &entry).await?;
            tx.commit().await?;
            return Err(
                InvalidInput::new("currentPassword", "is not your current password").into(),
            );
        }
        let hash = self.hasher.hash(new.expose().to_owned()).await;
        let hash = match hash {
            Ok(hash) => hash,
            Err(err) => {
                self.end_attempts(&limits, true).await?;
                return Err(err);
            }
        };
        let mut tx = self.db.write().await?;
        throttle::clear(tx.conn(), &key).await?;
        users::set_password(tx.conn(), user.id, &hash, false, Timestamp::now()).await?;
        let ended =
            sessions::delete_for_user_except(tx.conn(), user.id, &session.token_hash).await?;
        let mut entry = self.entry_for(actor, Operation::PasswordChange, Outcome::Success);
        entry.detail = json!({ "otherSessionsEnded": ended });
        rounds_store::audit::append(&mut tx, &entry).await?;
        tx.commit().await?;
        self.end_feeds_of_user(
            user.id,
            Some(&session.token_hash),
            EndReason::PasswordChanged,
        );
        Ok(())
    }

    /// Counts one attempt against each key, all or none: `Err(until)` when
    /// one of them is locked or full (then none is counted).
    async fn begin_attempts(
        &self,
        limits: &[(&str, u32)],
    ) -> Result<Result<(), Timestamp>, AppError> {
        let now = Timestamp::now();
        let mut tx = self.db.write().await?;
        for (key, max) in limits {
            let begun =
                throttle::begin_attempt(tx.conn(), key, now, self.config.signin_window_secs, *max)
                    .await?;
            if let Err(until) = begun {
                // Dropping the transaction takes back the keys counted so far.
                return Ok(Err(until));
            }
        }
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// The counted attempts failed: they stay counted, and lock the keys
    /// that reached their limit.
    async fn fail_attempts(
        &self,
        tx: &mut rounds_store::WriteTx<'_>,
        limits: &[(&str, u32)],
    ) -> Result<(), AppError> {
        let now = Timestamp::now();
        for (key, max) in limits {
            let locked =
                throttle::fail_attempt(tx.conn(), key, now, *max, self.config.signin_window_secs)
                    .await?;
            if locked.is_some() {
                self.metrics().locked_out();
            }
        }
        Ok(())
    }

    /// The counted attempts did not fail (or could not be checked): they no
    /// longer count.
    async fn end_attempts(&self, limits: &[(&str, u32)], clear: bool) -> Result<(), AppError> {
        let mut tx = self.db.write().await?;
        for (key, _) in limits {
            if clear {
                throttle::clear(tx.conn(), key).await?;
            } else {
                throttle::cancel_attempt(tx.conn(), key).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Checks a username and password and opens a session. Attempts are
    /// counted per account and per client address before the password is
    /// checked, so that however many arrive at once, no more than the limit
    /// are checked in a window; a wrong password stays counted, and past the
    /// limit the account or address is locked for the window.
    pub async fn sign_in(
        &self,
        username: &str,
        password: &str,
        client: &ClientInfo,
    ) -> Result<SignedIn, AppError> {
        let typed = Username::as_typed(username);
        let user_key = account_key(&typed);
        let addr_key = format!("addr:{}", client.addr.as_deref().unwrap_or("unknown"));
        let c = &self.config;
        let limits = [
            (user_key.as_str(), c.signin_max_failures_per_account),
            (addr_key.as_str(), c.signin_max_failures_per_address),
        ];

        if let Err(until) = self.begin_attempts(&limits).await? {
            self.refuse_sign_in(&typed, client, "locked after too many failed sign-ins", &[])
                .await?;
            return Err(AppError::SignInLocked { until });
        }

        let checked = self.check_password(&typed, password).await;
        let (found, password_ok) = match checked {
            Ok(checked) => checked,
            Err(err) => {
                self.end_attempts(&limits, false).await?;
                return Err(err);
            }
        };
        let user = match found {
            Some(user) if password_ok && !user.is_disabled() => user,
            Some(_) if password_ok => {
                self.end_attempts(&limits, false).await?;
                self.refuse_sign_in(&typed, client, "account disabled", &[])
                    .await?;
                return Err(AppError::BadCredentials);
            }
            Some(_) => {
                self.refuse_sign_in(&typed, client, "wrong password", &limits)
                    .await?;
                return Err(AppError::BadCredentials);
            }
            None => {
                self.refuse_sign_in(&typed, client, "unknown username", &limits)
                    .await?;
                return Err(AppError::BadCredentials);
            }
        };

        if !self.config.sso.may_use_password(user.username.as_str()) || {
            // Break-glass accounts must be administrators.
            !self.config.sso.local_sign_in && !user.is_admin()
        } {
            self.end_attempts(&limits, false).await?;
            self.refuse_sign_in(&typed, client, "local sign-in is turned off", &[])
                .await?;
            return Err(local_sign_in_off());
        }

        let mut tx = self.db.write().await?;
        throttle::clear(tx.conn(), &user_key).await?;
        throttle::cancel_attempt(tx.conn(), &addr_key).await?;
        let signed_in = self
            .open_session(&mut tx, user, client, serde_json::Value::Null)
            .await?;
        tx.commit().await?;
        Ok(signed_in)
    }

    /// Opens a session for `user` inside `tx` and audits the sign-in
    /// (`detail` says how, e.g. which provider; Null for a password).
    pub(crate) async fn open_session(
        &self,
        tx: &mut rounds_store::WriteTx<'_>,
        user: User,
        client: &ClientInfo,
        detail: serde_json::Value,
    ) -> Result<SignedIn, AppError> {
        let now = Timestamp::now();
        let token = new_token()?;
        let csrf_token = new_token()?;
        let expires_at = now.plus_secs(self.config.session_absolute_secs);
        sessions::insert(
            tx.conn(),
            &sessions::NewSession {
                token_hash: &sha256_hex(&token),
                user_id: user.id,
                csrf_token: &csrf_token,
                at: now,
                expires_at,
                client_addr: client.addr.as_deref(),
                user_agent: client.user_agent.as_deref(),
            },
        )
        .await?;
        let actor = Actor {
            user: user.clone(),
            client: client.clone(),
        };
        let mut entry = self.entry_for(&actor, Operation::SignIn, Outcome::Success);
        if !detail.is_null() {
            entry.detail = detail;
        }
        rounds_store::audit::append(tx, &entry).await?;
        Ok(SignedIn {
            token,
            csrf_token,
            user,
            expires_at,
        })
    }

    /// The account `typed` names, if any, and whether `password` is its
    /// password (the same effort is spent when there is no account).
    async fn check_password(
        &self,
        typed: &str,
        password: &str,
    ) -> Result<(Option<User>, bool), AppError> {
        let found = match (Username::parse(typed), Password::offered(password)) {
            (Ok(name), Some(_)) => {
                let mut conn = self.db.read().await?;
                users::with_hash(&mut conn, &name).await?
            }
            _ => None,
        };
        let (user, hash) = match found {
            Some(found) => (Some(found.user), Some(found.password_hash)),
            None => (None, None),
        };
        let ok = self.hasher.verify(password.to_owned(), hash).await?;
        Ok((user, ok))
    }

    /// Records a refused sign-in; `failed` are the counted attempts that
    /// failed (they stay counted and may lock their keys).
    async fn refuse_sign_in(
        &self,
        typed: &str,
        client: &ClientInfo,
        reason: &str,
        failed: &[(&str, u32)],
    ) -> Result<(), AppError> {
        self.metrics().signin_failed();
        let mut tx = self.db.write().await?;
        self.fail_attempts(&mut tx, failed).await?;
        let mut entry = AuditEntry::new(
            Operation::SignInRefused,
            Outcome::Refused(reason.into()),
            client.clone(),
        );
        entry.actor_username = Some(typed.to_owned());
        if let Ok(name) = Username::parse(typed) {
            entry.actor_id = users::by_username(tx.conn(), &name).await?.map(|u| u.id);
        }
        rounds_store::audit::append(&mut tx, &entry).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The live session for a cookie token, if any (not past its idle or
    /// absolute limit, its account not disabled).
    pub async fn resolve_session(&self, token: &str) -> Result<Option<SessionInfo>, AppError> {
        let now = Timestamp::now();
        let token_hash = sha256_hex(token);
        let mut conn = self.db.read().await?;
        let Some(row) = sessions::find(&mut conn, &token_hash).await? else {
            return Ok(None);
        };
        let idle_cutoff = now.minus_secs(self.config.session_idle_secs);
        let user = users::by_id(&mut conn, row.user_id).await?;
        let user = match user {
            Some(user)
                if row.expires_at > now
                    && row.last_seen_at > idle_cutoff
                    && !user.is_disabled() =>
            {
                user
            }
            // Run out or disabled: no longer usable. The row stays until
            // the purge, so the watcher over open live feeds can tell them
            // why they ended.
            _ => return Ok(None),
        };
        // Note activity, but not on every request.
        let touch_every = (self.config.session_idle_secs / 4).clamp(1, 60);
        if row.last_seen_at <= now.minus_secs(touch_every) {
            sessions::touch(&mut conn, &token_hash, now).await?;
        }
        Ok(Some(SessionInfo {
            user,
            csrf_token: row.csrf_token,
            token_hash,
        }))
    }

    /// Ends the session and records the sign-out.
    pub async fn sign_out(
        &self,
        session: &SessionInfo,
        client: &ClientInfo,
    ) -> Result<(), AppError> {
        let mut tx = self.db.write().await?;
        sessions::delete(tx.conn(), &session.token_hash).await?;
        let actor = Actor {
            user: session.user.clone(),
            client: client.clone(),
        };
        let entry = self.entry_for(&actor, Operation::SignOut, Outcome::Success);
        rounds_store::audit::append(&mut tx, &entry).await?;
        tx.commit().await?;
        self.end_feeds_of_session(&session.token_hash, EndReason::SignedOut);
        Ok(())
    }

    /// Removes sessions that have run out (run now and then by the server).
    pub async fn purge_expired_sessions(&self) -> Result<u64, AppError> {
        let now = Timestamp::now();
        let mut conn = self.db.read().await?;
        Ok(sessions::delete_expired(
            &mut conn,
            now,
            now.minus_secs(self.config.session_idle_secs),
        )
        .await?)
    }
}
