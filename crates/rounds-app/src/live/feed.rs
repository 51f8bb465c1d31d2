//! One open screen's feed: a list's, or the team's channels (the team's
//! own and the member's own). What happened after the screen's last event
//! is replayed from the database first; then it gets, as they come, the
//! events the poller relays for its channels and the notices for its
//! list, until its access ends.

use std::sync::Arc;

use rounds_core::{ListId, TeamId, Timestamp, UserId};
use rounds_store::events;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::Instant;

use super::hub::{EndReason, Relayed};
use super::relay::message;
use super::{control, LiveMessage, Notice, EHR_REFRESHED, PING_EVERY};
use crate::access::Need;
use crate::{Actor, App, AppError, SessionInfo};

/// What one feed listens to.
type Subscriptions = (
    broadcast::Receiver<Arc<Relayed>>,
    broadcast::Receiver<Arc<Notice>>,
);

impl App {
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
        Ok(self.open_feed(session, actor, team, vec![list], last_seen))
    }

    // The team's own channels, for the screens that show no one list ("My
    // tasks", the alerts every page carries): the team's channel (urgent
    // notes, tasks), keyed by the team's id in place of a list id, and the
    // member's channel, for what only some members may see (ids are random
    // UUIDs, so neither names a list).

    /// The feed key of `team`'s own channel.
    pub(crate) fn team_channel(team: TeamId) -> Result<ListId, AppError> {
        team.to_string()
            .parse()
            .map_err(|e| AppError::Internal(format!("team channel: {e}")))
    }

    /// The feed key of `user`'s own channel on `team`: a UUID made from
    /// both (the first 128 bits of a SHA-256), which no list has.
    pub(crate) fn member_channel(team: TeamId, user: UserId) -> Result<ListId, AppError> {
        let digest = Sha256::digest(format!("rounds member channel {team} {user}"));
        let h = hex::encode(&digest[..16]);
        format!(
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
        .parse()
        .map_err(|e| AppError::Internal(format!("member channel: {e}")))
    }

    /// Opens the live feed of the team's channels for a member (as
    /// [`App::follow_list`]): the team's own and the member's own.
    pub async fn follow_team(
        &self,
        session: &SessionInfo,
        actor: &Actor,
        team: TeamId,
        last_seen: Option<i64>,
    ) -> Result<mpsc::Receiver<LiveMessage>, AppError> {
        self.team_access(actor, team, Need::Member, "teamEvents")
            .await?;
        let channels = vec![
            Self::team_channel(team)?,
            Self::member_channel(team, actor.user.id)?,
        ];
        Ok(self.open_feed(session, actor, team, channels, last_seen))
    }

    /// Starts the feed of `channels` (whose access was checked) on a task
    /// of its own; the screen reads it from the receiver.
    fn open_feed(
        &self,
        session: &SessionInfo,
        actor: &Actor,
        team: TeamId,
        channels: Vec<ListId>,
        last_seen: Option<i64>,
    ) -> mpsc::Receiver<LiveMessage> {
        self.start_poller();
        // Subscribe before reading the feed, so nothing falls between the two.
        let live = (self.hub.sender.subscribe(), self.hub.notices.subscribe());
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
            if let Err(err) = app.feed(&channels, last_seen, live, ended, &tx).await {
                tracing::warn!(error = %err, "live feed stopped");
            }
        });
        rx
    }

    /// Where a feed that saw `last_seen` starts: None when the screen went
    /// away.
    async fn starting_point(
        &self,
        last_seen: Option<i64>,
        out: &mpsc::Sender<LiveMessage>,
    ) -> Result<Option<i64>, AppError> {
        let mut conn = self.db.read().await?;
        let Some(seen) = last_seen else {
            return Ok(Some(events::last_seq(&mut conn).await?));
        };
        let first = events::first_seq(&mut conn).await?;
        let last = events::last_seq(&mut conn).await?;
        drop(conn);
        if seen > last || (first > 0 && seen + 1 < first) {
            // Older than the feed keeps (or from another database): reload.
            let resync = control(
                "resync",
                json!({ "reason": "missed events are no longer kept" }),
            );
            if out.send(resync).await.is_err() {
                return Ok(None);
            }
            return Ok(Some(last));
        }
        Ok(Some(seen))
    }

    async fn feed(
        &self,
        channels: &[ListId],
        last_seen: Option<i64>,
        (mut live, mut notices): Subscriptions,
        mut ended: oneshot::Receiver<EndReason>,
        out: &mpsc::Sender<LiveMessage>,
    ) -> Result<(), AppError> {
        let send = |m: LiveMessage| async move { out.send(m).await.is_ok() };
        let Some(start) = self.starting_point(last_seen, out).await? else {
            return Ok(());
        };
        let mut delivered = self.replay(channels, start, out).await?;
        if delivered < 0 {
            return Ok(());
        }
        if !send(control("ready", json!({ "lastEventId": delivered }))).await {
            return Ok(());
        }
        let mut closing = self.hub.closing.subscribe();
        // One timer per feed, moved on whenever something is sent.
        let ping = tokio::time::sleep(PING_EVERY);
        tokio::pin!(ping);
        loop {
            if *closing.borrow_and_update() {
                send(EndReason::ServerClosing.to_message()).await;
                return Ok(());
            }
            // Biased: once access has ended nothing more goes out, not
            // even what is queued.
            let message = tokio::select! {
                biased;
                _ = closing.changed() => continue,
                reason = &mut ended => {
                    // The watchlist only drops its end with the feed itself.
                    send(reason.unwrap_or(EndReason::SessionEnded).to_message()).await;
                    return Ok(());
                }
                notice = notices.recv() => match notice {
                    Ok(n) if channels.contains(&n.list_id) => n.message.clone(),
                    Ok(_) => continue,
                    // Notices were lost: say so without details.
                    Err(broadcast::error::RecvError::Lagged(_)) => control(EHR_REFRESHED, json!({})),
                    Err(broadcast::error::RecvError::Closed) => return Ok(()),
                },
                () = &mut ping => control("ping", json!({})),
                next = live.recv() => match next {
                    Ok(event) => {
                        let ours = event.list.is_some_and(|l| channels.contains(&l));
                        if !ours || event.seq <= delivered {
                            continue;
                        }
                        delivered = event.seq;
                        let since = Timestamp::now().millis().saturating_sub(event.at.millis());
                        self.metrics.event_delivered(std::time::Duration::from_millis(
                            u64::try_from(since).unwrap_or(0),
                        ));
                        if event.ends_feed {
                            send(event.message.clone()).await;
                            return Ok(());
                        }
                        event.message.clone()
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        delivered = self.replay(channels, delivered, out).await?;
                        if delivered < 0 {
                            return Ok(());
                        }
                        ping.as_mut().reset(Instant::now() + PING_EVERY);
                        continue;
                    }
                    Err(broadcast::error::RecvError::Closed) => return Ok(()),
                },
            };
            if !send(message).await {
                return Ok(());
            }
            ping.as_mut().reset(Instant::now() + PING_EVERY);
        }
    }

    /// Sends the channels' events after `after` from the feed; returns the
    /// last one sent, or -1 when the screen went away.
    async fn replay(
        &self,
        channels: &[ListId],
        mut after: i64,
        out: &mpsc::Sender<LiveMessage>,
    ) -> Result<i64, AppError> {
        loop {
            let batch = {
                let mut conn = self.db.read().await?;
                events::for_lists_after(&mut conn, channels, after, 500).await?
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
