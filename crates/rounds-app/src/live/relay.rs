//! The relay between the change feed in the database and this instance's
//! open screens: one poller per process reads what was committed (here or
//! on another instance) and sends each event, framed once, through the
//! hub; on PostgreSQL a listener wakes it at each other instance's commit.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rounds_core::Timestamp;
use rounds_store::events::{self, FeedListener, StoredEvent};
use rounds_store::Backend;
use tokio::task::JoinHandle;

use super::hub::Relayed;
use super::{LiveMessage, FEED_RETENTION_SECS, LISTEN_RETRY_FIRST, LISTEN_RETRY_MAX, POLL_EVERY};
use crate::App;

/// The event as every stream of its list will send it.
pub(super) fn relayed(event: &StoredEvent) -> Relayed {
    Relayed {
        seq: event.seq,
        list: event.list_id.parse().ok(),
        at: event.at,
        ends_feed: event.kind == "listDeleted",
        message: message(event),
    }
}

/// An event of the feed as a message (its id is its number in the feed).
pub(super) fn message(event: &StoredEvent) -> LiveMessage {
    LiveMessage::new(Some(event.seq), &event.kind, &event.payload)
}

impl App {
    pub(crate) fn start_poller(&self) {
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
                            let _ = app.hub.sender.send(Arc::new(relayed(&event)));
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
