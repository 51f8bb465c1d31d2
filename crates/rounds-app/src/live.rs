//! Live sync. Every change to a list is written to the change feed
//! (`list_events`) in the same transaction as the change. One poller per
//! process reads new events (woken at once by local commits, and every
//! 250 ms for changes made by other instances) and fans them out to the
//! open screens. A screen that reconnects with the last event id it saw is
//! replayed what it missed from the feed; if that is older than the feed
//! keeps, it is told to reload.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rounds_core::{ListId, PatientId, TeamId, Timestamp, UserId};
use rounds_store::events::{self, StoredEvent};
use rounds_store::WriteTx;
use serde::Serialize;
use serde_json::json;
use tokio::sync::{broadcast, mpsc, watch, Notify};

use crate::access::Need;
use crate::{Actor, App, AppError};

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

/// How long the feed keeps events for reconnecting screens.
pub const FEED_RETENTION_SECS: u64 = 6 * 60 * 60;
const POLL_EVERY: Duration = Duration::from_millis(250);
const RECHECK_ACCESS_EVERY: Duration = Duration::from_secs(2);
const PING_EVERY: Duration = Duration::from_secs(15);

pub(crate) struct Hub {
    sender: broadcast::Sender<Arc<StoredEvent>>,
    wake: Notify,
    started: AtomicBool,
    /// Set when the server shuts down: open feeds end so it can.
    closing: watch::Sender<bool>,
}

impl Hub {
    pub(crate) fn new() -> Self {
        let (sender, _) = broadcast::channel(4096);
        let (closing, _) = watch::channel(false);
        Self {
            sender,
            wake: Notify::new(),
            started: AtomicBool::new(false),
            closing,
        }
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

    /// Ends every open live feed (the server is shutting down); new ones
    /// end at once.
    pub fn close_live_feeds(&self) {
        self.hub.closing.send_replace(true);
    }

    /// Commits and wakes the feed poller so screens hear of it at once.
    pub(crate) async fn commit(&self, tx: WriteTx<'_>) -> Result<(), AppError> {
        tx.commit().await?;
        self.hub.wake.notify_one();
        Ok(())
    }

    fn start_poller(&self) {
        if self.hub.started.swap(true, Ordering::SeqCst) {
            return;
        }
        let app = self.clone();
        tokio::spawn(async move {
            let mut last = match app.db.read().await {
                Ok(mut conn) => events::last_seq(&mut conn).await.unwrap_or(0),
                Err(_) => 0,
            };
            let mut pruned_at = Instant::now();
            loop {
                tokio::select! {
                    () = app.hub.wake.notified() => {},
                    () = tokio::time::sleep(POLL_EVERY) => {},
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
    }

    /// Opens a live feed of one list for a member. With `last_seen`, what
    /// happened after that event is replayed first. The feed ends when the
    /// receiver is dropped, the list is deleted or the person leaves the team.
    pub async fn follow_list(
        &self,
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
        self.start_poller();
        // Subscribe before reading the feed, so nothing falls between the two.
        let live = self.hub.sender.subscribe();
        let (tx, rx) = mpsc::channel(256);
        let app = self.clone();
        let user = actor.user.id;
        tokio::spawn(async move {
            if let Err(err) = app.feed(user, team, list, last_seen, live, &tx).await {
                tracing::warn!(error = %err, "live feed stopped");
            }
        });
        Ok(rx)
    }

    async fn feed(
        &self,
        user: UserId,
        team: TeamId,
        list: ListId,
        last_seen: Option<i64>,
        mut live: broadcast::Receiver<Arc<StoredEvent>>,
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
        let mut checked = Instant::now();
        let mut closing = self.hub.closing.subscribe();
        loop {
            if *closing.borrow_and_update() {
                send(control(
                    "closed",
                    json!({ "reason": "the server is restarting; reconnect shortly" }),
                ))
                .await;
                return Ok(());
            }
            let next = tokio::select! {
                next = tokio::time::timeout(PING_EVERY, live.recv()) => next,
                _ = closing.changed() => continue,
            };
            if checked.elapsed() >= RECHECK_ACCESS_EVERY {
                checked = Instant::now();
                let still_member = {
                    let mut conn = self.db.read().await?;
                    rounds_store::teams::role_of(&mut conn, team, user)
                        .await?
                        .is_some()
                };
                if !still_member {
                    send(control(
                        "closed",
                        json!({ "reason": "you are no longer a member of this team" }),
                    ))
                    .await;
                    return Ok(());
                }
            }
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
