//! Live sync. Every change to a list is written to the change feed
//! (`list_events`) in the same transaction as the change. One poller per
//! process reads new events and fans them out to the open screens. It is
//! woken at once by local commits and, on PostgreSQL, by a `NOTIFY` that
//! every instance's commit sends (a listener on a connection of its own,
//! reconnecting with back-off when it fails); it also polls every 250 ms,
//! so a lost notification costs at most that. A screen that reconnects with the last event id it saw is
//! replayed what it missed from the feed; if that is older than the feed
//! keeps, it is told to reload.
//!
//! Beside the feed, notices about what this instance holds in memory (EHR
//! data read again in the background: `ehrRefreshed`) go straight to the
//! open screens of the lists concerned on this instance, without an id:
//! they are never stored nor replayed (a screen that missed one finds the
//! data when it next loads the list).
//!
//! A feed lasts only as long as the access that opened it. One watcher per
//! process checks, about once a second and in a few queries for all open
//! feeds together, that each feed's session still exists and is within its
//! idle and absolute limits, that its account is not disabled and that the
//! person is still a member of the team; a feed that fails any of these is
//! sent `closed` with the reason and ends. The database is the truth, so a
//! sign-out on one instance ends the feeds on every other; on the instance
//! where it happens, the feeds end at once.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rounds_core::{ListId, PatientId, TeamId, Timestamp, UserId};
use rounds_store::events::{self, FeedListener, StoredEvent};
use rounds_store::{Backend, WriteTx};
use serde::Serialize;
use serde_json::json;
use tokio::sync::{broadcast, mpsc, oneshot, watch, Notify};
use tokio::task::JoinHandle;

use crate::access::Need;
use crate::{Actor, App, AppError, SessionInfo};

/// What changed, as announced to the screens of the lists concerned.
#[derive(Debug, Clone, Serialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Change {
    PatientAdded {
        patient_id: PatientId,
    },
    PatientRemoved {
        patient_id: PatientId,
    },
    PatientMoved {
        patient_id: PatientId,
        from_list_id: ListId,
        to_list_id: ListId,
    },
    PatientsReordered,
    /// Field values as saved: field key → {value, version}.
    PatientUpdated {
        patient_id: PatientId,
        fields: serde_json::Value,
    },
    NoteChanged {
        patient_id: PatientId,
        note_id: rounds_core::NoteId,
        action: &'static str,
    },
    ColumnsChanged,
    ListRenamed {
        name: String,
    },
    ListDeleted,
    /// The meeting view's highlighted patient (None: nobody).
    MeetingFocus {
        patient_id: Option<PatientId>,
    },
    /// The meeting view's column set changed.
    MeetingColumnsChanged,
    /// A patient's task was added, changed, ticked off or deleted.
    TaskChanged {
        patient_id: PatientId,
        task_id: rounds_core::TaskId,
        action: &'static str,
        /// Who owns it now (for "My tasks").
        owner_id: Option<UserId>,
    },
    /// An urgent note was sent, alerted again, escalated or acknowledged
    /// (or its note deleted); `to` are the people it alerts now.
    UrgentChanged {
        patient_id: PatientId,
        note_id: rounds_core::NoteId,
        action: &'static str,
        repeats: i64,
        to: Vec<UserId>,
        /// When sent: the note's text and audience, so an alert shows at
        /// once (the screen then reads the rest).
        #[serde(skip_serializing_if = "Option::is_none")]
        body: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        audience: Option<&'static str>,
    },
    /// A patient's I-PASS hand-off was saved.
    HandoffChanged {
        patient_id: PatientId,
        severity: Option<&'static str>,
        version: i64,
    },
    /// A shift hand-off of a list started, had patients marked ready or
    /// acknowledged, closed (`open` false) or was cancelled.
    ShiftHandoffChanged {
        handoff_id: rounds_core::ShiftHandoffId,
        list_id: ListId,
        action: &'static str,
        giver_id: UserId,
        receiver_id: UserId,
        version: i64,
        open: bool,
    },
    /// Someone saw a note whose author asked for a read receipt.
    NoteSeen {
        patient_id: PatientId,
        note_id: rounds_core::NoteId,
        user_id: UserId,
        seen_at: String,
    },
}

impl Change {
    fn kind(&self) -> &'static str {
        match self {
            Self::PatientAdded { .. } => "patientAdded",
            Self::PatientRemoved { .. } => "patientRemoved",
            Self::PatientMoved { .. } => "patientMoved",
            Self::PatientsReordered => "patientsReordered",
            Self::PatientUpdated { .. } => "patientUpdated",
            Self::NoteChanged { .. } => "noteChanged",
            Self::ColumnsChanged => "columnsChanged",
            Self::ListRenamed { .. } => "listRenamed",
            Self::ListDeleted => "listDeleted",
            Self::MeetingFocus { .. } => "meetingFocus",
            Self::MeetingColumnsChanged => "meetingColumnsChanged",
            Self::TaskChanged { .. } => "taskChanged",
            Self::UrgentChanged { .. } => "urgentChanged",
            Self::NoteSeen { .. } => "noteSeen",
            Self::HandoffChanged { .. } => "handoffChanged",
            Self::ShiftHandoffChanged { .. } => "shiftHandoffChanged",
        }
    }
}

/// One message for a screen: an event of the feed, or a control message
/// (`ready`, `resync`, `ping`, `closed`) without an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveMessage {
    pub id: Option<i64>,
    pub kind: String,
    pub data: String,
}

/// A notice about what this instance holds in memory rather than a change
/// to a list (EHR data read again): sent at once to the open screens of
/// the list concerned on this instance, never stored and never replayed.
#[derive(Debug)]
pub(crate) struct Notice {
    list_id: ListId,
    message: LiveMessage,
}

/// The kind of the notice that a list's EHR data was read again.
pub const EHR_REFRESHED: &str = "ehrRefreshed";

/// How long the feed keeps events for reconnecting screens.
pub const FEED_RETENTION_SECS: u64 = 6 * 60 * 60;
const POLL_EVERY: Duration = Duration::from_millis(250);
/// How often the watcher checks the access of all open feeds.
const RECHECK_ACCESS_EVERY: Duration = Duration::from_secs(1);
const PING_EVERY: Duration = Duration::from_secs(15);
/// The listener's first pause after a failure, doubled up to the second.
const LISTEN_RETRY_FIRST: Duration = Duration::from_millis(250);
const LISTEN_RETRY_MAX: Duration = Duration::from_secs(30);

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

    fn to_message(self) -> LiveMessage {
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
struct Watchlist {
    next_id: u64,
    open: HashMap<u64, Watched>,
}

pub(crate) struct Hub {
    sender: broadcast::Sender<Arc<StoredEvent>>,
    notices: broadcast::Sender<Arc<Notice>>,
    wake: Notify,
    started: AtomicBool,
    /// Set when the server shuts down: open feeds end so it can, and the
    /// poller and the watcher stop.
    closing: watch::Sender<bool>,
    watchlist: Mutex<Watchlist>,
    /// Wakes the watcher for an early check.
    recheck: Notify,
    tasks: Mutex<Vec<JoinHandle<()>>>,
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

    fn watch(
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
struct Registration {
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
    /// Writes `change` to the feed of each list in `lists`, inside `tx`.
    pub(crate) async fn announce(
        &self,
        tx: &mut WriteTx<'_>,
        team: TeamId,
        lists: &[ListId],
        change: &Change,
        actor: &Actor,
    ) -> Result<(), AppError> {
        let mut payload =
            serde_json::to_value(change).map_err(|e| AppError::Internal(format!("event: {e}")))?;
        if let Some(obj) = payload.as_object_mut() {
            obj.insert(
                "by".into(),
                json!({ "userId": actor.user.id, "name": actor.user.display_name }),
            );
        }
        events::append(
            tx,
            team,
            lists,
            change.kind(),
            &payload.to_string(),
            Timestamp::now(),
        )
        .await?;
        Ok(())
    }

    /// Tells the open screens of each list in `lists` on this instance
    /// about `kind` at once (see [`Notice`]); nobody listening is fine.
    pub(crate) fn notify_lists(&self, lists: &[ListId], kind: &str, data: &serde_json::Value) {
        let data = data.to_string();
        for list in lists {
            let _ = self.hub.notices.send(Arc::new(Notice {
                list_id: *list,
                message: LiveMessage {
                    id: None,
                    kind: kind.to_owned(),
                    data: data.clone(),
                },
            }));
        }
    }

    /// Ends every open live feed (the server is shutting down); new ones
    /// end at once, and the feed's poller and watcher stop.
    pub fn close_live_feeds(&self) {
        self.hub.closing.send_replace(true);
    }

    /// Stops the poller and the watcher and waits until they have (before
    /// the database pool closes under them).
    pub(crate) async fn stop_live(&self) {
        self.close_live_feeds();
        let tasks = match self.hub.tasks.lock() {
            Ok(mut t) => std::mem::take(&mut *t),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        for task in tasks {
            let _ = task.await;
        }
    }

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

    fn start_watcher(&self) -> JoinHandle<()> {
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

    /// Commits and wakes the feed poller so screens hear of it at once.
    pub(crate) async fn commit(&self, tx: WriteTx<'_>) -> Result<(), AppError> {
        tx.commit().await?;
        self.hub.wake.notify_one();
        Ok(())
    }

    fn start_poller(&self) {
        if *self.hub.closing.borrow() || self.hub.started.swap(true, Ordering::SeqCst) {
            return;
        }
        let app = self.clone();
        let mut closing = self.hub.closing.subscribe();
        let poller = tokio::spawn(async move {
            let mut last = match app.db.read().await {
                Ok(mut conn) => events::last_seq(&mut conn).await.unwrap_or(0),
                Err(_) => 0,
            };
            let mut pruned_at = Instant::now();
            loop {
                if *closing.borrow_and_update() {
                    return;
                }
                tokio::select! {
                    () = app.hub.wake.notified() => {},
                    () = tokio::time::sleep(POLL_EVERY) => {},
                    _ = closing.changed() => continue,
                }
                let batch = match app.db.read().await {
                    Ok(mut conn) => events::after(&mut conn, last, 1000).await,
                    Err(e) => Err(e),
                };
                match batch {
                    Ok(batch) => {
                        for event in batch {
                            last = event.seq;
                            // No screen open is fine: nobody to tell.
                            let _ = app.hub.sender.send(Arc::new(event));
                        }
                    }
                    Err(err) => tracing::warn!(error = %err, "cannot read the change feed"),
                }
                if pruned_at.elapsed() > Duration::from_secs(600) {
                    pruned_at = Instant::now();
                    if let Ok(mut conn) = app.db.read().await {
                        let before = Timestamp::now().minus_secs(FEED_RETENTION_SECS);
                        if let Err(err) = events::prune(&mut conn, before).await {
                            tracing::warn!(error = %err, "cannot prune the change feed");
                        }
                    }
                }
            }
        });
        let watcher = self.start_watcher();
        let mut started = vec![poller, watcher];
        if self.config.live_notify && self.db.backend() == Backend::Postgres {
            started.push(self.start_listener());
        }
        match self.hub.tasks.lock() {
            Ok(mut t) => t.extend(started),
            Err(poisoned) => poisoned.into_inner().extend(started),
        }
    }

    /// Listens for other instances' commits (PostgreSQL `NOTIFY`) and wakes
    /// the poller for each. When the connection fails it is opened again
    /// after a pause (250 ms, doubling up to 30 s); meanwhile the poller
    /// polls. Each new connection wakes the poller once, for what was
    /// committed while nobody listened.
    fn start_listener(&self) -> JoinHandle<()> {
        let app = self.clone();
        let mut closing = self.hub.closing.subscribe();
        tokio::spawn(async move {
            let mut pause = LISTEN_RETRY_FIRST;
            loop {
                if *closing.borrow_and_update() {
                    return;
                }
                let connected = tokio::select! {
                    connected = FeedListener::connect(&app.db) => connected,
                    _ = closing.changed() => continue,
                };
                let failure = match connected {
                    Ok(None) => return,
                    Ok(Some(mut listener)) => {
                        pause = LISTEN_RETRY_FIRST;
                        app.hub.wake.notify_one();
                        loop {
                            let next = tokio::select! {
                                next = listener.next() => next,
                                _ = closing.changed() => break None,
                            };
                            match next {
                                Ok(true) => {
                                    app.metrics.notified();
                                    app.hub.wake.notify_one();
                                }
                                Ok(false) => {
                                    // Lost and connecting again: read what
                                    // may have been missed.
                                    app.metrics.listener_failed();
                                    app.hub.wake.notify_one();
                                }
                                Err(err) => break Some(err),
                            }
                        }
                    }
                    Err(err) => Some(err),
                };
                let Some(err) = failure else { continue };
                app.metrics.listener_failed();
                tracing::warn!(
                    error = %err,
                    retry_in_ms = u64::try_from(pause.as_millis()).unwrap_or(u64::MAX),
                    "cannot listen for other instances' changes; polling meanwhile"
                );
                tokio::select! {
                    () = tokio::time::sleep(pause) => {},
                    _ = closing.changed() => {},
                }
                pause = (pause * 2).min(LISTEN_RETRY_MAX);
            }
        })
    }

    /// Opens a live feed of one list for a member, signed in with
    /// `session`. With `last_seen`, what happened after that event is
    /// replayed first. The feed ends when the receiver is dropped, the list
    /// is deleted, the session ends (sign-out, expiry, a password change or
    /// reset, the account disabled) or the person leaves the team.
    pub async fn follow_list(
        &self,
        session: &SessionInfo,
        actor: &Actor,
        team: TeamId,
        list: ListId,
        last_seen: Option<i64>,
    ) -> Result<mpsc::Receiver<LiveMessage>, AppError> {
        self.team_access(actor, team, Need::Member, "listEvents")
            .await?;
        {
            let mut conn = self.db.read().await?;
            self.list_in_team(&mut conn, actor, team, list).await?;
        }
        // The list's EHR patients are read from now, not when its table asks.
        if let Err(e) = self.start_list_read(team, list).await {
            tracing::debug!(error = %e, "cannot start reading the list's EHR patients");
        }
        self.start_poller();
        // Subscribe before reading the feed, so nothing falls between the two.
        let live = self.hub.sender.subscribe();
        let notices = self.hub.notices.subscribe();
        let (tx, rx) = mpsc::channel(256);
        // On the watchlist from now: an end of access while the feed
        // replays is kept for the loop below.
        let (registration, ended) = self.hub.watch(
            session.token_hash(),
            actor.user.id,
            team,
            Arc::clone(&self.metrics),
        );
        let app = self.clone();
        tokio::spawn(async move {
            let _registration = registration;
            if let Err(err) = app.feed(list, last_seen, (live, notices), ended, &tx).await {
                tracing::warn!(error = %err, "live feed stopped");
            }
        });
        Ok(rx)
    }

    async fn feed(
        &self,
        list: ListId,
        last_seen: Option<i64>,
        (mut live, mut notices): (
            broadcast::Receiver<Arc<StoredEvent>>,
            broadcast::Receiver<Arc<Notice>>,
        ),
        mut ended: oneshot::Receiver<EndReason>,
        out: &mpsc::Sender<LiveMessage>,
    ) -> Result<(), AppError> {
        let list_key = list.to_string();
        let send = |m: LiveMessage| async move { out.send(m).await.is_ok() };
        let mut delivered = match last_seen {
            Some(seen) => {
                let (first, last) = {
                    let mut conn = self.db.read().await?;
                    (
                        events::first_seq(&mut conn).await?,
                        events::last_seq(&mut conn).await?,
                    )
                };
                if seen > last || (first > 0 && seen + 1 < first) {
                    // Older than the feed keeps (or from another database): reload.
                    if !send(control(
                        "resync",
                        json!({ "reason": "missed events are no longer kept" }),
                    ))
                    .await
                    {
                        return Ok(());
                    }
                    last
                } else {
                    seen
                }
            }
            None => {
                let mut conn = self.db.read().await?;
                events::last_seq(&mut conn).await?
            }
        };
        delivered = self.replay(list, delivered, out).await?;
        if delivered < 0 {
            return Ok(());
        }
        if !send(control("ready", json!({ "lastEventId": delivered }))).await {
            return Ok(());
        }
        let mut closing = self.hub.closing.subscribe();
        loop {
            if *closing.borrow_and_update() {
                send(EndReason::ServerClosing.to_message()).await;
                return Ok(());
            }
            // Biased: once access has ended nothing more goes out, not
            // even what is queued.
            let next = tokio::select! {
                biased;
                _ = closing.changed() => continue,
                reason = &mut ended => {
                    // The watchlist only drops its end with the feed itself.
                    send(reason.unwrap_or(EndReason::SessionEnded).to_message()).await;
                    return Ok(());
                }
                notice = notices.recv() => {
                    let message = match notice {
                        Ok(n) if n.list_id == list => n.message.clone(),
                        Ok(_) => continue,
                        // Notices were lost: say so without details.
                        Err(broadcast::error::RecvError::Lagged(_)) => control(EHR_REFRESHED, json!({})),
                        Err(broadcast::error::RecvError::Closed) => return Ok(()),
                    };
                    if !send(message).await {
                        return Ok(());
                    }
                    continue;
                }
                next = tokio::time::timeout(PING_EVERY, live.recv()) => next,
            };
            match next {
                Err(_) => {
                    if !send(control("ping", json!({}))).await {
                        return Ok(());
                    }
                }
                Ok(Ok(event)) => {
                    if event.list_id != list_key || event.seq <= delivered {
                        continue;
                    }
                    delivered = event.seq;
                    let since = Timestamp::now().millis().saturating_sub(event.at.millis());
                    self.metrics
                        .event_delivered(Duration::from_millis(u64::try_from(since).unwrap_or(0)));
                    let deleted = event.kind == "listDeleted";
                    if !send(message(&event)).await || deleted {
                        return Ok(());
                    }
                }
                Ok(Err(broadcast::error::RecvError::Lagged(_))) => {
                    delivered = self.replay(list, delivered, out).await?;
                    if delivered < 0 {
                        return Ok(());
                    }
                }
                Ok(Err(broadcast::error::RecvError::Closed)) => return Ok(()),
            }
        }
    }

    /// Sends the list's events after `after` from the feed; returns the last
    /// one sent, or -1 when the screen went away.
    async fn replay(
        &self,
        list: ListId,
        mut after: i64,
        out: &mpsc::Sender<LiveMessage>,
    ) -> Result<i64, AppError> {
        loop {
            let batch = {
                let mut conn = self.db.read().await?;
                events::for_list_after(&mut conn, list, after, 500).await?
            };
            if batch.is_empty() {
                return Ok(after);
            }
            for event in &batch {
                after = event.seq;
                if out.send(message(event)).await.is_err() {
                    return Ok(-1);
                }
            }
        }
    }
}

// The team's own channel (hand-offs: urgent notes, tasks), for the screens
// that show no one list ("My tasks", the alerts every page carries). It is
// a feed like a list's, keyed by the team's id in place of a list id (ids
// are random UUIDs, so it names no list).
impl App {
    /// The feed key of `team`'s own channel.
    pub(crate) fn team_channel(team: TeamId) -> Result<ListId, AppError> {
        team.to_string()
            .parse()
            .map_err(|e| AppError::Internal(format!("team channel: {e}")))
    }

    /// [`App::announce`] of something the server did by itself (an urgent
    /// note alerting again): no `by`.
    pub(crate) async fn announce_unattended(
        &self,
        tx: &mut WriteTx<'_>,
        team: TeamId,
        lists: &[ListId],
        change: &Change,
    ) -> Result<(), AppError> {
        let payload =
            serde_json::to_value(change).map_err(|e| AppError::Internal(format!("event: {e}")))?;
        events::append(
            tx,
            team,
            lists,
            change.kind(),
            &payload.to_string(),
            Timestamp::now(),
        )
        .await?;
        Ok(())
    }

    /// Opens the live feed of the team's own channel for a member (as
    /// [`App::follow_list`]).
    pub async fn follow_team(
        &self,
        session: &SessionInfo,
        actor: &Actor,
        team: TeamId,
        last_seen: Option<i64>,
    ) -> Result<mpsc::Receiver<LiveMessage>, AppError> {
        self.team_access(actor, team, Need::Member, "teamEvents")
            .await?;
        let channel = Self::team_channel(team)?;
        self.start_poller();
        // The team's channel names no list, so no EHR notice is for it.
        let live = (self.hub.sender.subscribe(), self.hub.notices.subscribe());
        let (tx, rx) = mpsc::channel(256);
        let (registration, ended) = self.hub.watch(
            session.token_hash(),
            actor.user.id,
            team,
            Arc::clone(&self.metrics),
        );
        let app = self.clone();
        tokio::spawn(async move {
            let _registration = registration;
            if let Err(err) = app.feed(channel, last_seen, live, ended, &tx).await {
                tracing::warn!(error = %err, "team feed stopped");
            }
        });
        Ok(rx)
    }

    /// Runs `job` until the server shuts down (closing live feeds), as the
    /// live feed's own tasks; stopped and awaited with them.
    pub(crate) fn spawn_until_closing<F, Fut>(&self, job: F)
    where
        F: FnOnce(watch::Receiver<bool>) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let closing = self.hub.closing.subscribe();
        if *closing.borrow() {
            return;
        }
        let task = tokio::spawn(job(closing));
        match self.hub.tasks.lock() {
            Ok(mut t) => t.push(task),
            Err(poisoned) => poisoned.into_inner().push(task),
        }
    }
}

fn message(event: &StoredEvent) -> LiveMessage {
    LiveMessage {
        id: Some(event.seq),
        kind: event.kind.clone(),
        data: event.payload.clone(),
    }
}

fn control(kind: &str, data: serde_json::Value) -> LiveMessage {
    LiveMessage {
        id: None,
        kind: kind.to_owned(),
        data: data.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use crate::{App, AppConfig, DbOptions};

    /// Collects what the log writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut all) = self.0.lock() {
                all.extend_from_slice(buf);
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Closing the app stops the feed's poller and watcher before the
    /// pool closes: neither reads from a closed pool afterwards.
    #[tokio::test(flavor = "current_thread")]
    async fn close_stops_the_poller_before_the_pool() {
        let log = Captured::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_max_level(tracing::Level::WARN)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let dir = tempfile::tempdir().ok();
        let path = dir.as_ref().map(|d| d.path().join("rounds.db"));
        let url = format!(
            "sqlite://{}?mode=rwc",
            path.as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        );
        let app = App::open(&url, &DbOptions::default(), AppConfig::default()).await;
        assert!(app.is_ok(), "open a database");
        let Ok(app) = app else { return };
        app.start_poller();
        tokio::time::sleep(Duration::from_millis(600)).await;
        app.close().await;
        // The poller wakes every 250 ms and the watcher every second.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let text = log
            .0
            .lock()
            .map(|l| String::from_utf8_lossy(&l).into_owned());
        let text = text.unwrap_or_default();
        assert!(!text.contains("cannot read the change feed"), "{text}");
        assert!(!text.contains("closed"), "{text}");
        assert!(app.hub.tasks.lock().is_ok_and(|t| t.is_empty()));
    }
}
