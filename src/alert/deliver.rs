//! The outbox's delivery loop: posts queued alerts to a sink (Discord), in order per
//! channel, and posts notices to the status channel.
//!
//! - An alert is marked delivered, with the sink's message id, only after the sink said
//!   so. Each is posted with a nonce derived from its row, so a retry after a crash
//!   between posting and marking finds the first message instead of making a second.
//! - Transient failures (network, 5xx, 429) keep the alert queued and pause its channel
//!   (or every channel, for a global 429) for the server's `retry_after` or an
//!   exponential backoff, whichever is longer. Later alerts of that channel wait behind
//!   it, so a channel never sees them out of order; other channels go on.
//! - Permanent failures (403, 404, 400) mark the alert failed with the reason and raise
//!   a `DeliveryFailed` notice, throttled to one per channel per hour.
//!
//! Must not: render (the sink does), or decide what alerts exist (the poll's commit does).

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::notice::{Notice, NoticeKind, Throttle};
use crate::model::{Alert, ChannelId};
use crate::store::{QueuedAlert, Store};

/// Why a post failed, as the outbox needs to know it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SendError {
    /// Worth trying again: after `retry_after` when the server said, else after a backoff.
    #[error("{reason}")]
    Transient {
        reason: String,
        retry_after: Option<Duration>,
        /// The whole sink is paused (a global rate limit, a rejected token), not one channel.
        global: bool,
    },
    /// Trying again cannot help (no such channel, no permission, a body the server refuses).
    #[error("{reason}")]
    Permanent { reason: String },
}

/// Where the outbox posts. The Discord client implements it; tests use fakes.
pub trait Sink: Send + Sync + 'static {
    /// Post `alert` to `channel`; the message id on success. The same `nonce` is sent
    /// on every retry of one alert.
    fn post_alert(
        &self,
        channel: ChannelId,
        alert: &Alert,
        nonce: &str,
    ) -> impl Future<Output = Result<String, SendError>> + Send;

    /// Post an operational notice to the status channel.
    fn post_notice(
        &self,
        channel: ChannelId,
        notice: &Notice,
    ) -> impl Future<Output = Result<String, SendError>> + Send;
}

/// The nonce for a queued alert: stable across retries and restarts, and different for
/// a new database's alert 1 (it hashes the article and channel too), within Discord's 25
/// characters.
pub fn nonce(q: &QueuedAlert) -> String {
    // FNV-1a: fixed forever, unlike std's hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let link = q.alert.item.url.as_deref().unwrap_or(&q.alert.item.key.0);
    let channel = q.alert.channel.map_or(0, |c| c.0);
    for b in
        q.id.to_le_bytes()
            .iter()
            .chain(link.as_bytes())
            .chain(&channel.to_le_bytes())
    {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("tw-{h:016x}")
}

/// Backoff after the `attempt`-th transient failure: 1 s, 2 s, 4 s, ... up to a minute.
pub fn backoff(attempt: u32) -> Duration {
    let secs = 1u64 << attempt.saturating_sub(1).min(6);
    Duration::from_secs(secs.min(60))
}

/// Run `f` on the shared store off the async workers (SQLite blocks); `None` if it
/// panicked. A poisoned lock is taken anyway: the store's own transactions keep it whole.
pub async fn on_store<T: Send + 'static>(
    store: &Arc<Mutex<Store>>,
    f: impl FnOnce(&mut Store) -> T + Send + 'static,
) -> Option<T> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || {
        let mut s = store.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut s)
    })
    .await
    .ok()
}

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pass {
    pub delivered: usize,
    pub failed: usize,
    /// Alerts left queued behind a transient failure.
    pub waiting: usize,
    /// When the earliest paused channel may be tried again.
    pub retry_at: Option<Instant>,
}

/// The delivery loop's state: paused channels and notices not yet posted.
pub struct Outbox<S> {
    sink: Arc<S>,
    store: Arc<Mutex<Store>>,
    status_channel: Option<ChannelId>,
    paused: HashMap<ChannelId, Instant>,
    all_paused: Option<Instant>,
    notices: VecDeque<(Notice, u32)>,
    throttle: Throttle,
}

/// Notices are best effort: a few tries, then only the log has them.
const NOTICE_TRIES: u32 = 5;
/// Alerts read per pass; more wait for the next pass.
const BATCH: usize = 500;

impl<S: Sink> Outbox<S> {
    pub fn new(sink: Arc<S>, store: Arc<Mutex<Store>>, status_channel: Option<ChannelId>) -> Self {
        Outbox {
            sink,
            store,
            status_channel,
            paused: HashMap::new(),
            all_paused: None,
            notices: VecDeque::new(),
            throttle: Throttle::default(),
        }
    }

    /// Queue a notice for the status channel, if one is set and the throttle allows.
    pub fn notify(&mut self, notice: Notice) {
        if self.status_channel.is_none() {
            return;
        }
        if let Some(n) = self.throttle.admit(notice, Instant::now()) {
            self.notices.push_back((n, 0));
        }
    }

    async fn with_store<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> T + Send + 'static,
    ) -> Option<T> {
        on_store(&self.store, f).await
    }

    fn pause(&mut self, channel: Option<ChannelId>, global: bool, until: Instant) {
        match channel {
            Some(c) if !global => {
                self.paused.insert(c, until);
            }
            _ => self.all_paused = Some(until),
        }
    }

    fn is_paused(&self, channel: ChannelId, now: Instant) -> bool {
        self.all_paused.is_some_and(|t| t > now)
            || self.paused.get(&channel).is_some_and(|t| *t > now)
    }

    async fn post_notices(&mut self, stop: &CancellationToken) {
        let Some(channel) = self.status_channel else {
            self.notices.clear();
            return;
        };
        let mut retry = VecDeque::new();
        while let Some((n, tries)) = self.notices.pop_front() {
            if stop.is_cancelled() || self.is_paused(channel, Instant::now()) {
                retry.push_back((n, tries));
                continue;
            }
            match self.sink.post_notice(channel, &n).await {
                Ok(_) => {}
                Err(SendError::Transient {
                    reason,
                    retry_after,
                    global,
                }) => {
                    tracing::warn!(channel_id = channel.0, error = %reason, "status notice not posted; will retry");
                    let wait = retry_after.unwrap_or_default().max(backoff(tries + 1));
                    self.pause(Some(channel), global, Instant::now() + wait);
                    if tries + 1 < NOTICE_TRIES {
                        retry.push_back((n, tries + 1));
                    }
                }
                Err(SendError::Permanent { reason }) => {
                    tracing::error!(channel_id = channel.0, error = %reason, "cannot post to the status channel");
                }
            }
        }
        self.notices = retry;
    }

    /// Post what is due: notices first, then queued alerts oldest first, skipping
    /// paused channels.
    pub async fn pass(&mut self, stop: &CancellationToken) -> Pass {
        self.post_notices(stop).await;
        let mut pass = Pass::default();
        let now = Instant::now();
        if self.all_paused.is_some_and(|t| t > now) {
            pass.waiting = self.queued().await;
            pass.retry_at = self.all_paused;
            return pass;
        }
        let skip: Vec<u64> = self
            .paused
            .iter()
            .filter(|(_, t)| **t > now)
            .map(|(c, _)| c.0)
            .collect();
        let batch = self
            .with_store(move |s| s.pending_alerts_except(BATCH, &skip))
            .await
            .and_then(|r| {
                r.map_err(|e| tracing::error!(error = %e, "read the outbox"))
                    .ok()
            })
            .unwrap_or_default();
        let full = batch.len() == BATCH;
        for q in batch {
            let now = Instant::now();
            let Some(channel) = q.alert.channel else {
                // Console-only alerts were printed when they were committed.
                self.mark(q.id, Ok(None)).await;
                continue;
            };
            if stop.is_cancelled() || self.is_paused(channel, now) {
                continue;
            }
            let sent = self.sink.post_alert(channel, &q.alert, &nonce(&q)).await;
            match sent {
                Ok(message_id) => {
                    self.paused.remove(&channel);
                    self.mark(q.id, Ok(Some(message_id).filter(|m| !m.is_empty())))
                        .await;
                    pass.delivered += 1;
                }
                Err(SendError::Transient {
                    reason,
                    retry_after,
                    global,
                }) => {
                    let attempt = q.attempts + 1;
                    let wait = retry_after.unwrap_or_default().max(backoff(attempt));
                    tracing::warn!(
                        alert_id = q.id,
                        channel_id = channel.0,
                        attempt,
                        error = %reason,
                        retry_in_ms = wait.as_millis() as u64,
                        "delivery failed; will retry"
                    );
                    self.pause(Some(channel), global, now + wait);
                    self.mark(q.id, Err((reason, false))).await;
                }
                Err(SendError::Permanent { reason }) => {
                    tracing::error!(alert_id = q.id, channel_id = channel.0, error = %reason, "delivery failed for good");
                    let title = &q.alert.item.title;
                    let link = q.alert.item.url.as_deref().unwrap_or("no link");
                    self.notify(Notice::new(
                        NoticeKind::DeliveryFailed,
                        format!("channel {}", channel.0),
                        format!("{reason}. The alert for \"{title}\" ({link}) was not posted; later alerts for this channel will fail the same way until the bot can post there."),
                    ));
                    self.mark(q.id, Err((reason, true))).await;
                    pass.failed += 1;
                }
            }
        }
        // The first permanent failure's notice goes out now, not at the next wake-up.
        self.post_notices(stop).await;
        pass.waiting = self.queued().await;
        let now = Instant::now();
        pass.retry_at = self
            .paused
            .values()
            .chain(self.all_paused.iter())
            .filter(|t| **t > now)
            .min()
            .copied();
        if pass.retry_at.is_none() {
            if full && pass.waiting > 0 {
                // More than one batch was queued: go on at once.
                pass.retry_at = Some(now);
            } else if pass.waiting > 0 || !self.notices.is_empty() {
                // Queued but not paused (a read failed, say): look again soon.
                pass.retry_at = Some(now + backoff(1));
            }
        }
        pass
    }

    /// Alerts still queued.
    async fn queued(&self) -> usize {
        self.with_store(|s| s.pending_count())
            .await
            .and_then(|r| r.ok())
            .unwrap_or(0)
    }

    /// Record an outcome: delivered (with the message id), failed for now, or for good.
    async fn mark(&self, id: i64, outcome: Result<Option<String>, (String, bool)>) {
        let res = self
            .with_store(move |s| match outcome {
                Ok(message_id) => s.mark_delivered(id, message_id.as_deref(), Utc::now()),
                Err((reason, false)) => s.mark_attempt_failed(id, &reason),
                Err((reason, true)) => s
                    .mark_attempt_failed(id, &reason)
                    .and_then(|()| s.mark_failed(id, &reason)),
            })
            .await;
        if let Some(Err(e)) = res {
            tracing::error!(alert_id = id, error = %e, "cannot record the delivery outcome");
        }
    }

    /// Deliver until `stop`: a pass whenever `wake` fires (a poll committed alerts), a
    /// notice arrives, or a paused channel is due again.
    pub async fn run(
        mut self,
        wake: Arc<Notify>,
        mut notices: mpsc::UnboundedReceiver<Notice>,
        stop: CancellationToken,
    ) {
        loop {
            let pass = self.pass(&stop).await;
            let wait = pass
                .retry_at
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = wake.notified() => {}
                Some(n) = notices.recv() => self.notify(n),
                _ = tokio::time::sleep_until(wait) => {}
            }
            while let Ok(n) = notices.try_recv() {
                self.notify(n);
            }
        }
    }

    /// Deliver what is queued, retrying transient failures, until nothing is left or
    /// `deadline` passes (`once`). Returns what the last pass left waiting.
    pub async fn drain(&mut self, deadline: Instant) -> Pass {
        let stop = CancellationToken::new();
        let mut total = Pass::default();
        loop {
            let pass = self.pass(&stop).await;
            total.delivered += pass.delivered;
            total.failed += pass.failed;
            total.waiting = pass.waiting;
            match pass.retry_at {
                Some(t) if pass.waiting > 0 || !self.notices.is_empty() => {
                    if t > deadline {
                        total.retry_at = Some(t);
                        return total;
                    }
                    tokio::time::sleep_until(t).await;
                }
                _ => return total,
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests;
