//! Per-feed poll state: validators for conditional requests, last success and error,
//! the failure streak, the next poll, whether the feed was seeded and whether its
//! "failing" notice went out.
//!
//! Must not: decide schedules or backoff (the caller passes `next_poll`), or count items
//! anywhere but in the `items` table (`items_seen` is computed, so it cannot drift).

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};

use super::items::PollCommit;
use super::{time, Fault, Store, StoreError, Ts};

/// What the store knows about one feed's polling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedState {
    pub name: String,
    pub url: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub last_success: Option<DateTime<Utc>>,
    pub last_attempt: Option<DateTime<Utc>>,
    /// The error of the last attempt if it failed; cleared by a success.
    pub last_error: Option<String>,
    pub consecutive_failures: u32,
    /// Distinct items stored for this feed.
    pub items_seen: u64,
    pub next_poll: Option<DateTime<Utc>>,
    /// A poll has succeeded once: later polls alert on new items.
    pub seeded: bool,
    /// A "feed failing" notice was sent for the current failure streak.
    pub failing_notified: bool,
}

/// The state as it was before a poll: what `PollOutcome` reports on.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Prior {
    pub seeded: bool,
    pub consecutive_failures: u32,
    pub failing_notified: bool,
}

macro_rules! select_feeds {
    ($tail:literal) => {
        concat!(
            "SELECT name, url, etag, last_modified, last_success, last_attempt, last_error,
                    consecutive_failures,
                    (SELECT count(*) FROM items WHERE items.feed = feeds.name),
                    next_poll, seeded, failing_notified
             FROM feeds ",
            $tail
        )
    };
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<FeedState> {
    Ok(FeedState {
        name: row.get(0)?,
        url: row.get(1)?,
        etag: row.get(2)?,
        last_modified: row.get(3)?,
        last_success: time(row.get(4)?),
        last_attempt: time(row.get(5)?),
        last_error: row.get(6)?,
        consecutive_failures: row.get(7)?,
        items_seen: row.get(8)?,
        next_poll: time(row.get(9)?),
        seeded: row.get(10)?,
        failing_notified: row.get(11)?,
    })
}

pub(super) fn get(conn: &Connection, feed: &str) -> Result<Option<FeedState>, Fault> {
    let mut stmt = conn.prepare_cached(select_feeds!("WHERE name = ?1"))?;
    Ok(stmt.query_row([feed], from_row).optional()?)
}

pub(super) fn prior(conn: &Connection, feed: &str) -> Result<Prior, Fault> {
    let sql = "SELECT seeded, consecutive_failures, failing_notified FROM feeds WHERE name = ?1";
    let prior = conn
        .prepare_cached(sql)?
        .query_row([feed], |row| {
            Ok(Prior {
                seeded: row.get(0)?,
                consecutive_failures: row.get(1)?,
                failing_notified: row.get(2)?,
            })
        })
        .optional()?;
    Ok(prior.unwrap_or_default())
}

/// A successful poll: validators replaced when given (kept when `None`, as on a 304 that
/// repeats none, unless the URL changed), failure streak and notice cleared, seeded.
pub(super) fn record_success(conn: &Connection, poll: &PollCommit<'_>) -> Result<(), Fault> {
    let sql = "INSERT INTO feeds (name, url, etag, last_modified, last_success, last_attempt,
                                  last_error, consecutive_failures, next_poll, seeded,
                                  failing_notified)
               VALUES (?1, ?2, ?3, ?4, ?5, ?5, NULL, 0, ?6, 1, 0)
               ON CONFLICT (name) DO UPDATE SET
                   etag = iif(feeds.url = excluded.url,
                              coalesce(excluded.etag, feeds.etag), excluded.etag),
                   last_modified = iif(feeds.url = excluded.url,
                                       coalesce(excluded.last_modified, feeds.last_modified),
                                       excluded.last_modified),
                   url = excluded.url,
                   last_success = excluded.last_success,
                   last_attempt = excluded.last_attempt,
                   last_error = NULL,
                   consecutive_failures = 0,
                   next_poll = excluded.next_poll,
                   seeded = 1,
                   failing_notified = 0";
    conn.prepare_cached(sql)?.execute(params![
        poll.feed,
        poll.url,
        poll.etag,
        poll.last_modified,
        Ts(poll.at),
        poll.next_poll.map(Ts),
    ])?;
    Ok(())
}

fn record_failure(
    conn: &Connection,
    feed: &str,
    url: &str,
    error: &str,
    at: DateTime<Utc>,
    next_poll: Option<DateTime<Utc>>,
) -> Result<FeedState, Fault> {
    let sql = "INSERT INTO feeds (name, url, last_attempt, last_error, consecutive_failures,
                                  next_poll)
               VALUES (?1, ?2, ?3, ?4, 1, ?5)
               ON CONFLICT (name) DO UPDATE SET
                   url = excluded.url,
                   last_attempt = excluded.last_attempt,
                   last_error = excluded.last_error,
                   consecutive_failures = feeds.consecutive_failures + 1,
                   next_poll = excluded.next_poll";
    conn.prepare_cached(sql)?
        .execute(params![feed, url, Ts(at), error, next_poll.map(Ts)])?;
    get(conn, feed)?.ok_or_else(|| Fault::NotFound(format!("feed {feed:?}")))
}

impl Store {
    /// The state of `feed`, if it was ever polled.
    pub fn feed_state(&self, feed: &str) -> Result<Option<FeedState>, StoreError> {
        get(&self.conn, feed).map_err(|f| f.at(&self.path, "read feed state"))
    }

    /// Every feed ever polled, ordered by name.
    pub fn feed_states(&self) -> Result<Vec<FeedState>, StoreError> {
        let read = || -> Result<Vec<FeedState>, Fault> {
            let mut stmt = self.conn.prepare_cached(select_feeds!("ORDER BY name"))?;
            let rows = stmt.query_map([], from_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        };
        read().map_err(|f| f.at(&self.path, "read feed states"))
    }

    /// A failed poll: one more consecutive failure, `error` as the last error, the
    /// attempt time and next poll as given; everything else kept. Returns the new state.
    pub fn record_failure(
        &mut self,
        feed: &str,
        url: &str,
        error: &str,
        at: DateTime<Utc>,
        next_poll: Option<DateTime<Utc>>,
    ) -> Result<FeedState, StoreError> {
        let mut write = || -> Result<FeedState, Fault> {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let state = record_failure(&tx, feed, url, error, at, next_poll)?;
            tx.commit()?;
            Ok(state)
        };
        write().map_err(|f| f.at(&self.path, "record feed failure"))
    }

    /// Records that the "feed failing" notice was (or was not) sent. A successful poll
    /// clears it by itself (see `PollOutcome::was_failing_notified`).
    pub fn set_failing_notified(&mut self, feed: &str, notified: bool) -> Result<(), StoreError> {
        let write = || -> Result<(), Fault> {
            let sql = "UPDATE feeds SET failing_notified = ?2 WHERE name = ?1";
            match self
                .conn
                .prepare_cached(sql)?
                .execute(params![feed, notified])?
            {
                0 => Err(Fault::NotFound(format!("feed {feed:?}"))),
                _ => Ok(()),
            }
        };
        write().map_err(|f| f.at(&self.path, "record failing notice"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::super::test_support::*;
    use super::super::SeedMode;
    use super::*;

    #[test]
    fn an_unknown_feed_has_no_state() {
        let store = Store::in_memory().unwrap();
        assert_eq!(store.feed_state("nope").unwrap(), None);
        assert!(store.feed_states().unwrap().is_empty());
    }

    #[test]
    fn a_successful_poll_records_everything() {
        let (_dir, path) = temp_db();
        let mut store = Store::open(&path).unwrap();
        let items = items("a", 3);
        let mut p = poll("a", &items, SeedMode::AlertAll);
        p.etag = Some("\"v1\"");
        p.last_modified = Some("Tue, 03 Aug 2021 12:00:00 GMT");
        store.commit_poll(&p, &mut |_| vec![]).unwrap();
        drop(store);
        let store = Store::open(&path).unwrap();
        let want = FeedState {
            name: "a".into(),
            url: FEED_URL.into(),
            etag: Some("\"v1\"".into()),
            last_modified: Some("Tue, 03 Aug 2021 12:00:00 GMT".into()),
            last_success: Some(at(60)),
            last_attempt: Some(at(60)),
            last_error: None,
            consecutive_failures: 0,
            items_seen: 3,
            next_poll: Some(at(75)),
            seeded: true,
            failing_notified: false,
        };
        assert_eq!(store.feed_state("a").unwrap(), Some(want));
    }

    #[test]
    fn validators_are_kept_when_a_poll_gives_none_unless_the_url_changed() {
        let mut store = Store::in_memory().unwrap();
        let mut p = poll("a", &[], SeedMode::AlertAll);
        p.etag = Some("e1");
        store.commit_poll(&p, &mut |_| vec![]).unwrap();
        p.etag = None;
        store.commit_poll(&p, &mut |_| vec![]).unwrap();
        assert_eq!(
            store.feed_state("a").unwrap().unwrap().etag.as_deref(),
            Some("e1")
        );
        p.etag = Some("e2");
        store.commit_poll(&p, &mut |_| vec![]).unwrap();
        assert_eq!(
            store.feed_state("a").unwrap().unwrap().etag.as_deref(),
            Some("e2")
        );
        p.etag = None;
        p.url = "https://moved.test/rss";
        store.commit_poll(&p, &mut |_| vec![]).unwrap();
        let state = store.feed_state("a").unwrap().unwrap();
        assert_eq!(
            (state.url.as_str(), state.etag),
            ("https://moved.test/rss", None)
        );
    }

    #[test]
    fn failures_count_up_and_a_success_reports_recovery() {
        let mut store = Store::in_memory().unwrap();
        seed_feed(&mut store, "a", 2);
        let first = store
            .record_failure("a", FEED_URL, "HTTP 503", at(70), Some(at(80)))
            .unwrap();
        assert_eq!(first.consecutive_failures, 1);
        assert_eq!(first.last_error.as_deref(), Some("HTTP 503"));
        assert_eq!(
            (first.last_attempt, first.next_poll),
            (Some(at(70)), Some(at(80)))
        );
        assert_eq!(
            first.last_success,
            Some(at(60)),
            "a failure keeps the last success"
        );
        assert_eq!(first.items_seen, 2);
        let second = store
            .record_failure("a", FEED_URL, "timed out", at(80), Some(at(100)))
            .unwrap();
        assert_eq!(second.consecutive_failures, 2);
        assert_eq!(second.last_error.as_deref(), Some("timed out"));
        store.set_failing_notified("a", true).unwrap();
        assert!(store.feed_state("a").unwrap().unwrap().failing_notified);

        let items = items("a", 2);
        let (outcome, _) = alert_all(&mut store, "a", &items);
        assert!(outcome.recovered && outcome.was_failing_notified);
        let state = store.feed_state("a").unwrap().unwrap();
        assert_eq!((state.consecutive_failures, state.last_error), (0, None));
        assert!(!state.failing_notified, "a success clears the notice");

        let (outcome, _) = alert_all(&mut store, "a", &items);
        assert!(!outcome.recovered && !outcome.was_failing_notified);
    }

    #[test]
    fn a_feed_that_never_succeeded_is_not_seeded() {
        let mut store = Store::in_memory().unwrap();
        let state = store
            .record_failure("new", FEED_URL, "dns error", at(0), None)
            .unwrap();
        assert!(!state.seeded);
        assert_eq!((state.consecutive_failures, state.items_seen), (1, 0));
        assert_eq!((state.last_success, state.next_poll), (None, None));
        let items = items("new", 3);
        let p = poll("new", &items, SeedMode::Seed { backfill: 0 });
        let (outcome, called) = commit_with(&mut store, &p, Some(1));
        assert!(outcome.seeded && outcome.recovered);
        assert!(called.is_empty());
    }

    #[test]
    fn feed_states_are_ordered_by_name() {
        let mut store = Store::in_memory().unwrap();
        for name in ["c", "a", "b"] {
            seed_feed(&mut store, name, 1);
        }
        let names: Vec<_> = store
            .feed_states()
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(names, ["a", "b", "c"]);
    }

    #[test]
    fn failing_notice_on_an_unknown_feed_is_an_error() {
        let mut store = Store::in_memory().unwrap();
        let err = store.set_failing_notified("ghost", true).unwrap_err();
        assert_eq!(
            err.to_string(),
            "database :memory:: cannot record failing notice: no feed \"ghost\""
        );
    }
}
