//! The outbox against a scripted sink and a real (in-memory) store.

use std::sync::{Arc, Mutex};

use super::*;
use crate::store::test_support::{alert_rows, commit_with, items, poll};
use crate::store::SeedMode;

/// Answers each post with the next scripted result (success with an id once the script
/// is empty) and records what was posted.
#[derive(Default)]
struct Script {
    answers: Mutex<VecDeque<Result<String, SendError>>>,
    posts: Mutex<Vec<(u64, String, String)>>,
}

impl Script {
    fn answer(&self, r: Result<&str, SendError>) {
        self.answers.lock().unwrap().push_back(r.map(String::from));
    }
    fn posts(&self) -> Vec<(u64, String, String)> {
        self.posts.lock().unwrap().clone()
    }
    fn next(&self, channel: ChannelId, what: String, nonce: String) -> Result<String, SendError> {
        let mut posts = self.posts.lock().unwrap();
        posts.push((channel.0, what, nonce));
        let n = posts.len();
        self.answers
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| Ok(format!("m{n}")))
    }
}

impl Sink for Script {
    async fn post_alert(
        &self,
        channel: ChannelId,
        alert: &Alert,
        nonce: &str,
    ) -> Result<String, SendError> {
        self.next(channel, alert.item.title.clone(), nonce.to_string())
    }
    async fn post_notice(&self, channel: ChannelId, notice: &Notice) -> Result<String, SendError> {
        self.next(channel, notice.headline(), String::new())
    }
}

fn transient(retry_after: Option<u64>, global: bool) -> SendError {
    SendError::Transient {
        reason: "HTTP 503".into(),
        retry_after: retry_after.map(Duration::from_secs),
        global,
    }
}

/// A store with `n` alerts for each (feed, channel) pair, committed in that order.
fn store_with(feeds: &[(&str, Option<u64>, usize)]) -> Arc<Mutex<Store>> {
    let mut store = Store::in_memory().unwrap();
    for (feed, channel, n) in feeds {
        let batch = items(feed, *n);
        commit_with(
            &mut store,
            &poll(feed, &batch, SeedMode::AlertAll),
            *channel,
        );
    }
    Arc::new(Mutex::new(store))
}

fn status(store: &Arc<Mutex<Store>>) -> Vec<(String, u32, Option<String>)> {
    alert_rows(&store.lock().unwrap())
        .into_iter()
        .map(|(s, a, m, _)| (s, a, m))
        .collect()
}

#[tokio::test]
async fn alerts_are_posted_oldest_first_and_marked_with_their_message_id() {
    let store = store_with(&[("a", Some(1), 2), ("b", None, 1)]);
    let sink = Arc::new(Script::default());
    let mut outbox = Outbox::new(sink.clone(), store.clone(), None);
    let pass = outbox.pass(&CancellationToken::new()).await;
    assert_eq!((pass.delivered, pass.failed, pass.waiting), (2, 0, 0));
    let titles: Vec<_> = sink.posts().iter().map(|p| p.1.clone()).collect();
    // items() lists newest first; the store commits oldest first.
    assert_eq!(titles, ["Article guid:a-1", "Article guid:a-0"]);
    assert_eq!(
        status(&store),
        [
            ("delivered".into(), 0, Some("m1".into())),
            ("delivered".into(), 0, Some("m2".into())),
            // Console only: nothing posted, nothing left queued.
            ("delivered".into(), 0, None),
        ]
    );
    assert!(outbox.pass(&CancellationToken::new()).await == Pass::default());
}

#[tokio::test]
async fn a_transient_failure_pauses_only_its_channel_and_keeps_its_order() {
    let store = store_with(&[("a", Some(1), 2), ("b", Some(2), 1)]);
    let sink = Arc::new(Script::default());
    sink.answer(Err(transient(Some(30), false)));
    let mut outbox = Outbox::new(sink.clone(), store.clone(), None);
    let started = Instant::now();
    let pass = outbox.pass(&CancellationToken::new()).await;
    assert_eq!((pass.delivered, pass.waiting), (1, 2));
    let retry_at = pass.retry_at.unwrap();
    assert!(
        retry_at >= started + Duration::from_secs(30),
        "honours retry_after"
    );
    // Channel 1's second alert did not overtake its first; channel 2 went on.
    let posted: Vec<_> = sink.posts().iter().map(|p| (p.0, p.1.clone())).collect();
    assert_eq!(
        posted,
        [
            (1, "Article guid:a-1".into()),
            (2, "Article guid:b-0".into())
        ]
    );
    let rows = status(&store);
    assert_eq!(rows[0], ("pending".into(), 1, None));
    assert_eq!(rows[1], ("pending".into(), 0, None));

    // Still paused: nothing is posted again early.
    let pass = outbox.pass(&CancellationToken::new()).await;
    assert_eq!((pass.delivered, pass.waiting), (0, 2));
    assert_eq!(sink.posts().len(), 2);
}

#[tokio::test]
async fn a_retry_sends_the_same_nonce() {
    let store = store_with(&[("a", Some(1), 1)]);
    let sink = Arc::new(Script::default());
    sink.answer(Err(transient(None, false)));
    let mut outbox = Outbox::new(sink.clone(), store.clone(), None);
    let pass = outbox.drain(Instant::now() + Duration::from_secs(10)).await;
    assert_eq!((pass.delivered, pass.waiting), (1, 0));
    let posts = sink.posts();
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[0].2, posts[1].2);
    assert!(posts[0].2.len() <= 25, "Discord's nonce limit");
    assert_eq!(
        status(&store)[0],
        ("delivered".into(), 1, Some("m2".into()))
    );
}

#[tokio::test]
async fn a_global_rate_limit_pauses_every_channel() {
    let store = store_with(&[("a", Some(1), 1), ("b", Some(2), 1)]);
    let sink = Arc::new(Script::default());
    sink.answer(Err(transient(Some(20), true)));
    let mut outbox = Outbox::new(sink.clone(), store.clone(), None);
    let pass = outbox.pass(&CancellationToken::new()).await;
    assert_eq!((pass.delivered, pass.waiting), (0, 2));
    assert_eq!(sink.posts().len(), 1);
}

#[tokio::test]
async fn permanent_failures_fail_the_alerts_and_post_one_notice() {
    let store = store_with(&[("a", Some(1), 3)]);
    let sink = Arc::new(Script::default());
    let gone = || {
        Err(SendError::Permanent {
            reason: "HTTP 404 Unknown Channel (10003)".into(),
        })
    };
    for _ in 0..3 {
        sink.answer(gone());
    }
    let mut outbox = Outbox::new(sink.clone(), store.clone(), Some(ChannelId(9)));
    let pass = outbox.pass(&CancellationToken::new()).await;
    assert_eq!((pass.delivered, pass.failed), (0, 3));
    let to_status: Vec<_> = sink
        .posts()
        .into_iter()
        .filter(|p| p.0 == 9)
        .map(|p| p.1)
        .collect();
    assert_eq!(to_status, ["Delivery to channel 1 failed"]);
    let rows = status(&store);
    assert!(rows.iter().all(|r| r.0 == "failed" && r.1 == 1), "{rows:?}");
    let error = alert_rows(&store.lock().unwrap())[0].3.clone();
    assert_eq!(error.as_deref(), Some("HTTP 404 Unknown Channel (10003)"));
}

#[test]
fn backoff_doubles_up_to_a_minute() {
    let secs: Vec<u64> = (1..=9).map(|a| backoff(a).as_secs()).collect();
    assert_eq!(secs, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
}

#[tokio::test]
async fn a_paused_channels_backlog_does_not_starve_the_others() {
    let store = store_with(&[("a", Some(1), BATCH + 1), ("b", Some(2), 1)]);
    let sink = Arc::new(Script::default());
    sink.answer(Err(transient(Some(60), false)));
    let mut outbox = Outbox::new(sink.clone(), store.clone(), None);
    outbox.pass(&CancellationToken::new()).await;
    // Channel 2's alert sat behind channel 1's whole first batch; it goes on the next
    // pass, which skips the paused channel in the query itself.
    let pass = outbox.pass(&CancellationToken::new()).await;
    assert_eq!((pass.delivered, pass.waiting), (1, BATCH + 1));
    let last = sink.posts().last().cloned().unwrap();
    assert_eq!((last.0, last.1.as_str()), (2, "Article guid:b-0"));
}

#[tokio::test]
async fn more_than_a_batch_is_delivered_without_waiting_for_a_wake_up() {
    let store = store_with(&[("a", Some(1), BATCH + 3)]);
    let sink = Arc::new(Script::default());
    let mut outbox = Outbox::new(sink.clone(), store.clone(), None);
    let first = outbox.pass(&CancellationToken::new()).await;
    assert_eq!((first.delivered, first.waiting), (BATCH, 3));
    assert!(
        first.retry_at.is_some_and(|t| t <= Instant::now()),
        "at once"
    );
    let pass = outbox.drain(Instant::now() + Duration::from_secs(5)).await;
    assert_eq!((pass.delivered, pass.waiting), (3, 0));
}
