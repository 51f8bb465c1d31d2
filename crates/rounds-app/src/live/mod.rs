//! Live sync. Every change to a list is written to the change feed
//! (`list_events`) in the same transaction as the change. One poller per
//! process reads new events and fans them out to the open screens
//! (`relay.rs`). It is woken at once by local commits and, on PostgreSQL,
//! by a `NOTIFY` that every instance's commit sends (a listener on a
//! connection of its own, reconnecting with back-off when it fails); it
//! also polls every 250 ms, so a lost notification costs at most that. A
//! screen that reconnects with the last event id it saw is replayed what
//! it missed from the feed; if that is older than the feed keeps, it is
//! told to reload (`feed.rs`).
//!
//! Each event is written as its server-sent-events frame once, when the
//! poller reads it, and that one buffer (`Bytes`, reference-counted) goes
//! to every open stream of its list: a delivery to a screen copies no
//! text and formats nothing.
//!
//! Beside the feed, notices about what this instance holds in memory (EHR
//! data read again in the background: `ehrRefreshed`) go straight to the
//! open screens of the lists concerned on this instance, without an id:
//! they are never stored nor replayed (a screen that missed one finds the
//! data when it next loads the list).
//!
//! A feed lasts only as long as the access that opened it (`hub.rs`). One
//! watcher per process checks, about once a second and in a few queries
//! for all open feeds together (one check per session and per team member,
//! however many screens they have open), that each feed's session still
//! exists and is within its idle and absolute limits, that its account is
//! not disabled and that the person is still a member of the team; a feed
//! that fails any of these is sent `closed` with the reason and ends. The
//! database is the truth, so a sign-out on one instance ends the feeds on
//! every other; on the instance where it happens, the feeds end at once.
//!
//! Besides its lists, a team has channels of its own (`feed.rs`): the
//! team's channel (urgent notes, tasks) and one per member, for what only
//! some members may see (a shift hand-off reaches its giver, its receiver
//! and the owners only).

mod feed;
mod hub;
mod relay;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rounds_core::{ListId, PatientId, TeamId, Timestamp, UserId};
use rounds_store::events;
use rounds_store::WriteTx;
use serde::Serialize;
use serde_json::json;
use tokio::sync::watch;

pub use feed::LiveFeed;
pub(crate) use hub::{EndReason, Hub};

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
/// (`ready`, `resync`, `ping`, `closed`) without an id, as the bytes of its
/// server-sent-events frame (shared by every stream it goes to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveMessage {
    pub id: Option<i64>,
    frame: Bytes,
}

impl LiveMessage {
    /// A message of `kind` carrying `data`, framed once.
    pub fn new(id: Option<i64>, kind: &str, data: &str) -> Self {
        let mut frame = String::with_capacity(data.len() + kind.len() + 32);
        if let Some(id) = id {
            frame.push_str("id: ");
            frame.push_str(&id.to_string());
            frame.push('\n');
        }
        frame.push_str("event: ");
        frame.push_str(kind);
        frame.push('\n');
        // Each line of the data on a `data:` line of its own (JSON as the
        // feed writes it has none, but a notice's text might).
        for line in data.split('\n') {
            frame.push_str("data: ");
            frame.push_str(line.strip_suffix('\r').unwrap_or(line));
            frame.push('\n');
        }
        frame.push('\n');
        Self {
            id,
            frame: Bytes::from(frame),
        }
    }

    /// The frame as sent on the stream (`id:`, `event:`, `data:` lines and
    /// an empty line).
    pub fn frame(&self) -> &Bytes {
        &self.frame
    }

    pub fn into_frame(self) -> Bytes {
        self.frame
    }

    /// The event's kind, read back from its frame.
    pub fn kind(&self) -> &str {
        self.field("event: ").next().unwrap_or("")
    }

    /// The event's data, read back from its frame.
    pub fn data(&self) -> String {
        self.field("data: ").collect::<Vec<_>>().join("\n")
    }

    fn field<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        std::str::from_utf8(&self.frame)
            .unwrap_or("")
            .lines()
            .filter_map(move |l| l.strip_prefix(name))
    }
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
/// A quiet stream is sent a `ping` this long after the last thing it was
/// sent (well inside proxies' read timeouts: nginx's is 60 s by default).
const PING_EVERY: Duration = Duration::from_secs(15);
/// The listener's first pause after a failure, doubled up to the second.
const LISTEN_RETRY_FIRST: Duration = Duration::from_millis(250);
const LISTEN_RETRY_MAX: Duration = Duration::from_secs(30);

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
        let by = json!({ "userId": actor.user.id, "name": actor.user.display_name });
        append(tx, team, lists, change, Some(by)).await
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
        append(tx, team, lists, change, None).await
    }

    /// Tells the open screens of each list in `lists` on this instance
    /// about `kind` at once (see [`Notice`]); nobody listening is fine.
    pub(crate) fn notify_lists(&self, lists: &[ListId], kind: &str, data: &serde_json::Value) {
        let message = LiveMessage::new(None, kind, &data.to_string());
        for list in lists {
            let _ = self.hub.notices.send(Arc::new(Notice {
                list_id: *list,
                message: message.clone(),
            }));
        }
    }

    /// Commits and wakes the feed poller so screens hear of it at once.
    pub(crate) async fn commit(&self, tx: WriteTx<'_>) -> Result<(), AppError> {
        tx.commit().await?;
        self.hub.wake.notify_one();
        Ok(())
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

/// Writes `change` (with `by` when a person made it) to the feed of each
/// of `lists`.
async fn append(
    tx: &mut WriteTx<'_>,
    team: TeamId,
    lists: &[ListId],
    change: &Change,
    by: Option<serde_json::Value>,
) -> Result<(), AppError> {
    let mut payload =
        serde_json::to_value(change).map_err(|e| AppError::Internal(format!("event: {e}")))?;
    if let (Some(by), Some(obj)) = (by, payload.as_object_mut()) {
        obj.insert("by".into(), by);
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

/// A control message (no id).
fn control(kind: &str, data: serde_json::Value) -> LiveMessage {
    LiveMessage::new(None, kind, &data.to_string())
}

#[cfg(test)]
mod tests {
    use super::LiveMessage;

    #[test]
    fn a_message_is_framed_once_as_server_sent_events() {
        let m = LiveMessage::new(Some(7), "patientUpdated", "{\"a\":1}");
        assert_eq!(
            m.frame().as_ref(),
            b"id: 7\nevent: patientUpdated\ndata: {\"a\":1}\n\n"
        );
        assert_eq!(m.kind(), "patientUpdated");
        assert_eq!(m.data(), "{\"a\":1}");
        // Lines of the data each go on a data line; no id, no id line.
        let m = LiveMessage::new(None, "ping", "one\r\ntwo");
        assert_eq!(m.frame().as_ref(), b"event: ping\ndata: one\ndata: two\n\n");
        assert_eq!(m.data(), "one\ntwo");
        // A clone shares the buffer.
        let c = m.clone();
        assert_eq!(c.frame().as_ptr(), m.frame().as_ptr());
    }
}
