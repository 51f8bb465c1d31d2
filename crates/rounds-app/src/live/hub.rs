//! Who has a feed open, and for how long they may keep it: the hub that
//! the poller sends events through, the watchlist of open feeds, and the
//! watcher that checks their access for all of them at once.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use rounds_core::{ListId, TeamId, Timestamp, UserId};
use serde_json::json;
use tokio::sync::{broadcast, oneshot, watch, Notify};
use tokio::task::JoinHandle;

use super::{control, LiveMessage, Notice, RECHECK_ACCESS_EVERY};
use crate::{App, AppError};

/// An event of the feed as the poller relays it: its frame made once for
/// every stream, with what a stream needs to decide whether it is its own.
#[derive(Debug)]
pub(crate) struct Relayed {
    pub(super) seq: i64,
    /// The list (or channel) it is for; None for a key that is no id.
    pub(super) list: Option<ListId>,
    pub(super) at: Timestamp,
    /// The list was deleted: its feeds end after this.
    pub(super) ends_feed: bool,
    pub(super) message: LiveMessage,
}

/// Why a feed ends, as told to its screen in `closed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EndReason {
    SignedOut,
    SessionEnded,
    SessionExpired,
    SessionIdle,
    PasswordChanged,
    PasswordReset,
    AccountDisabled,
    NotMember,
    ServerClosing,
}

impl EndReason {
    fn code(self) -> &'static str {
        match self {
            Self::SignedOut => "signedOut",
            Self::SessionEnded => "sessionEnded",
            Self::SessionExpired => "sessionExpired",
            Self::SessionIdle => "sessionIdle",
            Self::PasswordChanged => "passwordChanged",
            Self::PasswordReset => "passwordReset",
            Self::AccountDisabled => "accountDisabled",
            Self::NotMember => "notMember",
            Self::ServerClosing => "serverClosing",
        }
    }

    fn message(self) -> &'static str {
        match self {
            Self::SignedOut => "you signed out",
            Self::SessionEnded => "your session has ended; sign in again",
            Self::SessionExpired => "your session has expired; sign in again",
            Self::SessionIdle => "your session expired after inactivity; sign in again",
            Self::PasswordChanged => {
                "your password was changed in another session; sign in with the new one"
            }
            Self::PasswordReset => "an administrator reset your password; sign in again",
            Self::AccountDisabled => "your account has been disabled",
            Self::NotMember => "you are no longer a member of this team",
            Self::ServerClosing => "the server is restarting; reconnect shortly",
        }
    }

    pub(super) fn to_message(self) -> LiveMessage {
        control(
            "closed",
            json!({ "reason": self.message(), "code": self.code() }),
        )
    }
}

/// One open feed, as the watcher knows it.
struct Watched {
    token_hash: String,
    user: UserId,
    team: TeamId,
    end: Option<oneshot::Sender<EndReason>>,
}

#[derive(Default)]
pub(super) struct Watchlist {
    next_id: u64,
    open: HashMap<u64, Watched>,
}

pub(crate) struct Hub {
    pub(super) sender: broadcast::Sender<Arc<Relayed>>,
    pub(super) notices: broadcast::Sender<Arc<Notice>>,
    pub(super) wake: Notify,
    pub(super) started: AtomicBool,
    /// Set when the server shuts down: open feeds end so it can, and the
    /// poller and the watcher stop.
    pub(super) closing: watch::Sender<bool>,
    pub(super) watchlist: Mutex<Watchlist>,
    /// Wakes the watcher for an early check.
    pub(super) recheck: Notify,
    pub(super) tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Hub {
    pub(crate) fn new() -> Self {
        let (sender, _) = broadcast::channel(4096);
        let (notices, _) = broadcast::channel(1024);
        let (closing, _) = watch::channel(false);
        Self {
            sender,
            notices,
            wake: Notify::new(),
            started: AtomicBool::new(false),
            closing,
            watchlist: Mutex::new(Watchlist::default()),
            recheck: Notify::new(),
            tasks: Mutex::new(Vec::new()),
        }
    }

    pub(super) fn watch(
        self: &Arc<Self>,
        token_hash: &str,
        user: UserId,
        team: TeamId,
        metrics: crate::metrics::SharedMetrics,
    ) -> (Registration, oneshot::Receiver<EndReason>) {
        let (end, ended) = oneshot::channel();
        let id = self.with_watchlist(|w| {
            w.next_id += 1;
            w.open.insert(
                w.next_id,
                Watched {
                    token_hash: token_hash.to_owned(),
                    user,
                    team,
                    end: Some(end),
                },
            );
            w.next_id
        });
        metrics.stream_opened();
        (
            Registration {
                hub: Arc::clone(self),
                id,
                metrics,
            },
            ended,
        )
    }

    fn with_watchlist<T: Default>(&self, f: impl FnOnce(&mut Watchlist) -> T) -> T {
        // A poisoned lock still holds a usable list (no invariant spans it).
        match self.watchlist.lock() {
            Ok(mut w) => f(&mut w),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// Ends the feeds for which `which` says so, with `reason`.
    fn end_where(&self, reason: EndReason, which: impl Fn(&Watched) -> bool) {
        self.with_watchlist(|w| {
            for watched in w.open.values_mut().filter(|x| which(x)) {
                if let Some(end) = watched.end.take() {
                    let _ = end.send(reason);
                }
            }
        });
    }
}

/// Keeps a feed on the watchlist while it runs.
pub(super) struct Registration {
    hub: Arc<Hub>,
    id: u64,
    metrics: crate::metrics::SharedMetrics,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let id = self.id;
        self.hub.with_watchlist(|w| w.open.remove(&id));
        self.metrics.stream_closed();
    }
}

impl App {
    /// This instance's feeds of one session end now (its sign-out); the
    /// watcher would find out within a second anyway, as on other instances.
    pub(crate) fn end_feeds_of_session(&self, token_hash: &str, reason: EndReason) {
        self.hub.end_where(reason, |w| w.token_hash == token_hash);
        self.hub.recheck.notify_one();
    }

    /// This instance's feeds of `user` end now, except those of the session
    /// `keep` (a password change keeps the session that made it).
    pub(crate) fn end_feeds_of_user(&self, user: UserId, keep: Option<&str>, reason: EndReason) {
        self.hub.end_where(reason, |w| {
            w.user == user && keep.is_none_or(|k| w.token_hash != k)
        });
        self.hub.recheck.notify_one();
    }

    /// This instance's feeds of `user` on `team`'s lists end now.
    pub(crate) fn end_feeds_of_member(&self, team: TeamId, user: UserId) {
        self.hub
            .end_where(EndReason::NotMember, |w| w.user == user && w.team == team);
        self.hub.recheck.notify_one();
    }

    /// One check of every open feed's access: two queries (per 1000 feeds)
    /// for all of them, a third when sessions have gone.
    async fn check_open_feeds(&self) -> Result<(), AppError> {
        let (hashes, users) = self.hub.with_watchlist(|w| {
            let hashes: HashSet<String> = w
                .open
                .values()
                .filter(|x| x.end.is_some())
                .map(|x| x.token_hash.clone())
                .collect();
            let users: HashSet<UserId> = w
                .open
                .values()
                .filter(|x| x.end.is_some())
                .map(|x| x.user)
                .collect();
            (hashes, users)
        });
        if hashes.is_empty() {
            return Ok(());
        }
        let hashes: Vec<&str> = hashes.iter().map(String::as_str).collect();
        let users: Vec<UserId> = users.into_iter().collect();
        let (states, memberships, disabled) = {
            let mut conn = self.db.read().await?;
            let states = rounds_store::sessions::states(&mut conn, &hashes).await?;
            let memberships = rounds_store::teams::memberships_of(&mut conn, &users).await?;
            // Disabling an account deletes its sessions: when some have
            // gone, tell those screens why if that was the cause.
            let disabled = if states.len() < hashes.len() {
                rounds_store::users::disabled_among(&mut conn, &users).await?
            } else {
                Vec::new()
            };
            (states, memberships, disabled)
        };
        let disabled: HashSet<UserId> = disabled.into_iter().collect();
        let now = Timestamp::now();
        let idle_cutoff = now.minus_secs(self.config.session_idle_secs);
        let states: HashMap<&str, &rounds_store::sessions::SessionState> =
            states.iter().map(|s| (s.token_hash.as_str(), s)).collect();
        let members: HashSet<(TeamId, UserId)> = memberships.into_iter().collect();
        self.hub.with_watchlist(|w| {
            for watched in w.open.values_mut() {
                let reason = match states.get(watched.token_hash.as_str()) {
                    None if disabled.contains(&watched.user) => Some(EndReason::AccountDisabled),
                    None => Some(EndReason::SessionEnded),
                    Some(s) if s.user_disabled => Some(EndReason::AccountDisabled),
                    Some(s) if s.expires_at <= now => Some(EndReason::SessionExpired),
                    Some(s) if s.last_seen_at <= idle_cutoff => Some(EndReason::SessionIdle),
                    Some(_) if !members.contains(&(watched.team, watched.user)) => {
                        Some(EndReason::NotMember)
                    }
                    Some(_) => None,
                };
                if let Some(reason) = reason {
                    if let Some(end) = watched.end.take() {
                        let _ = end.send(reason);
                    }
                }
            }
        });
        Ok(())
    }

    pub(super) fn start_watcher(&self) -> JoinHandle<()> {
        let app = self.clone();
        let mut closing = self.hub.closing.subscribe();
        tokio::spawn(async move {
            loop {
                if *closing.borrow_and_update() {
                    return;
                }
                tokio::select! {
                    () = app.hub.recheck.notified() => {},
                    () = tokio::time::sleep(RECHECK_ACCESS_EVERY) => {},
                    _ = closing.changed() => continue,
                }
                if let Err(err) = app.check_open_feeds().await {
                    tracing::warn!(error = %err, "cannot check the access of open live feeds");
                }
            }
        })
    }
}
