//! One open screen's feed: a list's, or the team's channels (the team's
//! own and the member's own). What happened after the screen's last event
//! is replayed from the database first; then it gets, as they come, the
//! events the poller relays for its channels and the notices for its
//! list, until its access ends.
//!
//! A feed is a stream that the connection serving the screen reads
//! itself: no task and no queue of its own sit between the poller's
//! broadcast and the socket, so a delivery wakes one task (the
//! connection's), not two. A screen that reads slowly falls behind the
//! broadcast and is replayed from the database, as one that reconnects.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::stream::{self, Stream};
use rounds_core::{ListId, TeamId, Timestamp, UserId};
use rounds_store::events;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::{broadcast, oneshot, watch};
use tokio::time::{Instant, Sleep};

use super::hub::{EndReason, Registration, Relayed};
use super::relay::message;
use super::{control, LiveMessage, Notice, EHR_REFRESHED, PING_EVERY};
use crate::access::Need;
use crate::{Actor, App, AppError, SessionInfo};

/// Events replayed from the database per read.
const REPLAY_BATCH: i64 = 500;

/// An open screen's feed: its messages in order, until its access ends
/// (then the last message says why) or the server closes.
pub struct LiveFeed(Pin<Box<dyn Stream<Item = LiveMessage> + Send>>);

impl Stream for LiveFeed {
    type Item = LiveMessage;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<LiveMessage>> {
        self.0.as_mut().poll_next(cx)
    }
}

impl std::fmt::Debug for LiveFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LiveFeed")
    }
}

/// Where a feed is.
#[derive(Debug, Clone, Copy)]
enum Stage {
    /// Replaying the stored events after `after`; `then_ready` for the
    /// first replay (the screen is told `ready` at its end).
    Replay {
        after: i64,
        then_ready: bool,
    },
    /// Following the broadcast; `delivered` is the last event handed on.
    Live {
        delivered: i64,
    },
    Done,
}

/// What woke a feed that follows the broadcast.
enum Woken {
    /// The server's closing flag changed (false: its sender is gone).
    Closing(bool),
    Ended(Option<EndReason>),
    Notice(Result<Arc<Notice>, broadcast::error::RecvError>),
    Ping,
    Event(Result<Arc<Relayed>, broadcast::error::RecvError>),
}

/// One feed's state, between the messages it hands on.
struct Feed {
    app: App,
    channels: Vec<ListId>,
    live: broadcast::Receiver<Arc<Relayed>>,
    notices: broadcast::Receiver<Arc<Notice>>,
    ended: oneshot::Receiver<EndReason>,
    closing: watch::Receiver<bool>,
    /// One timer per feed for the pings of a quiet feed. It is not moved
    /// at each message (that takes the runtime's timer lock, for every
    /// screen at every event): when it fires after a message, it is set
    /// again from that message.
    ping: Pin<Box<Sleep>>,
    /// When the feed last handed something on.
    sent: Instant,
    stage: Stage,
    /// Messages ready to hand on (a replayed batch, or one live message).
    queue: VecDeque<LiveMessage>,
    /// On the watchlist while the feed exists.
    _registration: Registration,
}

impl Feed {
    /// The next message for the screen; None once the feed has ended.
    async fn next(&mut self) -> Option<LiveMessage> {
        loop {
            if let Some(m) = self.queue.pop_front() {
                self.sent = Instant::now();
                return Some(m);
            }
            let step = match self.stage {
                Stage::Done => return None,
                Stage::Replay { after, then_ready } => self.replay(after, then_ready).await,
                Stage::Live { delivered } => {
                    self.follow(delivered).await;
                    Ok(())
                }
            };
            if let Err(err) = step {
                tracing::warn!(error = %err, "live feed stopped");
                self.stage = Stage::Done;
            }
        }
    }

    /// Where a feed that saw `last_seen` starts replaying: after which
    /// stored event, and whether the screen must reload first.
    async fn start_of(
        app: &App,
        last_seen: Option<i64>,
    ) -> Result<(i64, Option<LiveMessage>), AppError> {
        let mut conn = app.db.read().await?;
        let Some(seen) = last_seen else {
            return Ok((events::last_seq(&mut conn).await?, None));
        };
        let first = events::first_seq(&mut conn).await?;
        let last = events::last_seq(&mut conn).await?;
        if seen > last || (first > 0 && seen + 1 < first) {
            // Older than the feed keeps (or from another database): reload.
            let resync = control(
                "resync",
                json!({ "reason": "missed events are no longer kept" }),
            );
            return Ok((last, Some(resync)));
        }
        Ok((seen, None))
    }

    /// The next batch of the channels' stored events after `after`; at the
    /// end of them, the feed follows the broadcast.
    async fn replay(&mut self, after: i64, then_ready: bool) -> Result<(), AppError> {
        let batch = {
            let mut conn = self.app.db.read().await?;
            events::for_lists_after(&mut conn, &self.channels, after, REPLAY_BATCH).await?
        };
        let Some(last) = batch.last().map(|e| e.seq) else {
            if then_ready {
                self.queue
                    .push_back(control("ready", json!({ "lastEventId": after })));
            }
            self.stage = Stage::Live { delivered: after };
            return Ok(());
        };
        self.queue.extend(batch.iter().map(message));
        self.stage = Stage::Replay {
            after: last,
            then_ready,
        };
        Ok(())
    }

    /// Waits for the next thing to hand on while following the broadcast.
    async fn follow(&mut self, delivered: i64) {
        if *self.closing.borrow_and_update() {
            self.end(EndReason::ServerClosing.to_message());
            return;
        }
        let woken = {
            let Self {
                live,
                notices,
                ended,
                closing,
                ping,
                ..
            } = self;
            // Biased: once access has ended nothing more goes out.
            tokio::select! {
                biased;
                changed = closing.changed() => Woken::Closing(changed.is_ok()),
                reason = &mut *ended => Woken::Ended(reason.ok()),
                notice = notices.recv() => Woken::Notice(notice),
                () = ping.as_mut() => Woken::Ping,
                event = live.recv() => Woken::Event(event),
            }
        };
        let next = match woken {
            // Looked at on the next turn.
            Woken::Closing(true) => return,
            Woken::Closing(false) => {
                self.stage = Stage::Done;
                return;
            }
            Woken::Ended(reason) => {
                // The watchlist only drops its end with the feed itself.
                self.end(reason.unwrap_or(EndReason::SessionEnded).to_message());
                return;
            }
            Woken::Notice(Ok(n)) if self.channels.contains(&n.list_id) => n.message.clone(),
            Woken::Notice(Ok(_)) => return,
            // Notices were lost: say so without details.
            Woken::Notice(Err(broadcast::error::RecvError::Lagged(_))) => {
                control(EHR_REFRESHED, json!({}))
            }
            Woken::Ping => {
                let now = Instant::now();
                let due = self.sent + PING_EVERY;
                if due > now {
                    self.ping.as_mut().reset(due);
                    return;
                }
                self.ping.as_mut().reset(now + PING_EVERY);
                control("ping", json!({}))
            }
            Woken::Event(Ok(event)) => {
                let ours = event.list.is_some_and(|l| self.channels.contains(&l));
                if !ours || event.seq <= delivered {
                    return;
                }
                let since = Timestamp::now().millis().saturating_sub(event.at.millis());
                self.app
                    .metrics
                    .event_delivered(std::time::Duration::from_millis(
                        u64::try_from(since).unwrap_or(0),
                    ));
                if event.ends_feed {
                    self.end(event.message.clone());
                    return;
                }
                self.stage = Stage::Live {
                    delivered: event.seq,
                };
                event.message.clone()
            }
            // The screen fell behind: what it missed comes from the feed.
            Woken::Event(Err(broadcast::error::RecvError::Lagged(_))) => {
                self.stage = Stage::Replay {
                    after: delivered,
                    then_ready: false,
                };
                return;
            }
            Woken::Notice(Err(broadcast::error::RecvError::Closed))
            | Woken::Event(Err(broadcast::error::RecvError::Closed)) => {
                self.stage = Stage::Done;
                return;
            }
        };
        self.queue.push_back(next);
    }

    /// Hands on `last`, then nothing more.
    fn end(&mut self, last: LiveMessage) {
        self.queue.push_back(last);
        self.stage = Stage::Done;
    }
}

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
    ) -> Result<LiveFeed, AppError> {
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
        self.open_feed(session, actor, team, vec![list], last_seen)
            .await
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
    ) -> Result<LiveFeed, AppError> {
        self.team_access(actor, team, Need::Member, "teamEvents")
            .await?;
        let channels = vec![
            Self::team_channel(team)?,
            Self::member_channel(team, actor.user.id)?,
        ];
        self.open_feed(session, actor, team, channels, last_seen)
            .await
    }

    /// The feed of `channels` (whose access was checked), for the screen's
    /// connection to read. Where it starts is read here, before the screen
    /// is answered: a change made once the screen has its answer is in
    /// the feed even if the connection reads the feed later.
    async fn open_feed(
        &self,
        session: &SessionInfo,
        actor: &Actor,
        team: TeamId,
        channels: Vec<ListId>,
        last_seen: Option<i64>,
    ) -> Result<LiveFeed, AppError> {
        self.start_poller();
        // Subscribe before reading the feed, so nothing falls between the two.
        let (live, notices) = (self.hub.sender.subscribe(), self.hub.notices.subscribe());
        // On the watchlist from now: an end of access while the feed
        // replays is kept until it follows the broadcast.
        let (registration, ended) = self.hub.watch(
            session.token_hash(),
            actor.user.id,
            team,
            Arc::clone(&self.metrics),
        );
        let (after, resync) = Feed::start_of(self, last_seen).await?;
        let feed = Feed {
            app: self.clone(),
            channels,
            live,
            notices,
            ended,
            closing: self.hub.closing.subscribe(),
            ping: Box::pin(tokio::time::sleep(PING_EVERY)),
            sent: Instant::now(),
            stage: Stage::Replay {
                after,
                then_ready: true,
            },
            queue: resync.into_iter().collect(),
            _registration: registration,
        };
        Ok(LiveFeed(Box::pin(stream::unfold(
            feed,
            |mut feed| async move {
                let message = feed.next().await?;
                Some((message, feed))
            },
        ))))
    }
}
