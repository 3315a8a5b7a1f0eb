//! Items and dedupe, and the poll commit: one poll's outcome (feed state, new items,
//! the alerts they raise) written in one transaction, so a crash never leaves an item
//! marked seen without its alerts queued, nor alerts for items not stored.
//!
//! Dedupe, per feed: an item is known if its key is stored (publisher edits that keep the
//! key update the text quietly and never re-alert), if its key was stored as another
//! key's alias, or if its canonical URL is stored under another key (GUID churn: the new
//! key is kept as an alias). Across feeds items are new in each; the outbox drops a
//! second alert for the same article and channel (see `alerts`).
//!
//! Must not: match, build alerts or judge an item's age (that is the `decide` callback's
//! job), or read the clock.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::alerts::{self, QueuedAlert, Status};
use super::{category_name, feeds, Fault, Store, StoreError, Ts};
use crate::model::{Alert, Category, Item, ItemKey};

/// One successful poll of a feed, as the ingest orchestrator hands it to the store.
#[derive(Debug, Clone, Copy)]
pub struct PollCommit<'a> {
    pub feed: &'a str,
    pub url: &'a str,
    /// Normalized items, newest first as the feed gave them.
    pub items: &'a [Item],
    /// Validators for the next conditional request; `None` keeps the stored one (a 304
    /// need not repeat them) unless the feed's URL changed.
    pub etag: Option<&'a str>,
    pub last_modified: Option<&'a str>,
    pub at: DateTime<Utc>,
    pub next_poll: Option<DateTime<Utc>>,
    /// How to treat a feed that has never been polled successfully.
    pub mode: SeedMode,
    /// `false`: alerts are stored as "skipped" (no Discord sink); `true`: "pending".
    pub deliver: bool,
    /// The entities each item mentions (canonical names), for the entity index behind
    /// `mentions` and `recent`. Only items stored for the first time are indexed, seeded
    /// ones included; an item missing from the map (or `None`) gets no rows.
    pub mentions: Option<&'a HashMap<ItemKey, Vec<(Category, String)>>>,
}

/// First contact with a feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedMode {
    /// Mark every current item seen; `decide` runs only for the newest `backfill` of them
    /// (by published date, undated last). `run`'s behaviour.
    Seed { backfill: usize },
    /// `decide` runs for every new item even on first contact. `once`'s behaviour.
    AlertAll,
}

/// What one poll changed.
#[derive(Debug, Clone, PartialEq)]
pub struct PollOutcome {
    /// Items stored for the first time (not counting keys recognised by URL).
    pub new_items: usize,
    /// This was the feed's first successful poll.
    pub seeded: bool,
    /// Alerts queued, oldest item first; a duplicate of an alert already in the outbox
    /// (same article, same channel) is dropped and not listed.
    pub alerts: Vec<QueuedAlert>,
    /// The feed had failed before this poll (`consecutive_failures` was > 0).
    pub recovered: bool,
    /// A "feed failing" notice had been sent; this poll cleared the flag.
    pub was_failing_notified: bool,
}

impl Store {
    /// Writes one poll in one transaction: upserts the feed state, stores new items
    /// (dedupe), calls `decide` for each new item that may alert and queues what it
    /// returns. New items are handled in reverse feed order (oldest first, usually), so
    /// the outbox delivers in reading order.
    pub fn commit_poll(
        &mut self,
        poll: &PollCommit<'_>,
        decide: &mut dyn FnMut(&Item) -> Vec<Alert>,
    ) -> Result<PollOutcome, StoreError> {
        self.poll_transaction(poll, decide, true)
            .map_err(|f| f.at(&self.path, "commit poll"))
    }

    /// Exactly `commit_poll`, then a rollback: the outcome (alerts included, ids too) is
    /// what a real commit would give now, and the database is left as it was.
    pub fn commit_poll_dry(
        &mut self,
        poll: &PollCommit<'_>,
        decide: &mut dyn FnMut(&Item) -> Vec<Alert>,
    ) -> Result<PollOutcome, StoreError> {
        self.poll_transaction(poll, decide, false)
            .map_err(|f| f.at(&self.path, "dry-run poll"))
    }

    /// Stores the entities the matcher found in an item (JSON, replacing any earlier).
    /// `key` may be any key the item was seen under. Not for dry runs: this writes.
    pub fn set_item_entities(
        &mut self,
        feed: &str,
        key: &str,
        json: &str,
    ) -> Result<(), StoreError> {
        let write = || -> Result<(), Fault> {
            if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(json) {
                return Err(Fault::Data(format!(
                    "entities of item {key:?} are not JSON: {e}"
                )));
            }
            let sql = "UPDATE items SET entities = ?3
                       WHERE (feed = ?1 AND key = ?2)
                          OR id = (SELECT item_id FROM item_aliases WHERE feed = ?1 AND key = ?2)";
            match self
                .conn
                .prepare_cached(sql)?
                .execute(params![feed, key, json])?
            {
                0 => Err(Fault::NotFound(format!("item {key:?} in feed {feed:?}"))),
                _ => Ok(()),
            }
        };
        write().map_err(|f| f.at(&self.path, "store item entities"))
    }

    fn poll_transaction(
        &mut self,
        poll: &PollCommit<'_>,
        decide: &mut dyn FnMut(&Item) -> Vec<Alert>,
        persist: bool,
    ) -> Result<PollOutcome, Fault> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let outcome = apply(&tx, poll, decide)?;
        if persist {
            tx.commit()?;
        } else {
            tx.rollback()?;
        }
        Ok(outcome)
    }
}

fn apply(
    conn: &Connection,
    poll: &PollCommit<'_>,
    decide: &mut dyn FnMut(&Item) -> Vec<Alert>,
) -> Result<PollOutcome, Fault> {
    let prior = feeds::prior(conn, poll.feed)?;
    feeds::record_success(conn, poll)?;

    let mut fresh = Vec::new();
    let mut ids = Vec::new();
    for (i, item) in poll.items.iter().enumerate().rev() {
        if let Some(id) = insert(conn, poll.feed, item, poll.at)? {
            fresh.push(i);
            ids.push(id);
            if let Some(found) = poll.mentions.and_then(|m| m.get(&item.key)) {
                mention(conn, id, item.published.unwrap_or(poll.at), found)?;
            }
        }
    }
    index(conn, &ids)?;
    let eligible = match poll.mode {
        SeedMode::Seed { backfill } if !prior.seeded => newest(poll.items, &fresh, backfill),
        _ => fresh.clone(),
    };

    let status = if poll.deliver {
        Status::Pending
    } else {
        Status::Skipped
    };
    let mut queued = Vec::new();
    for item in eligible.iter().map(|&i| &poll.items[i]) {
        for alert in decide(item) {
            if let Some(q) = alerts::enqueue(conn, poll.feed, item, alert, status, poll.at)? {
                queued.push(q);
            }
        }
    }
    Ok(PollOutcome {
        new_items: fresh.len(),
        seeded: !prior.seeded,
        alerts: queued,
        recovered: prior.consecutive_failures > 0,
        was_failing_notified: prior.failing_notified,
    })
}

/// The newest `n` of the `fresh` indices by published date (undated last, ties in feed
/// order), kept in `fresh` order.
fn newest(items: &[Item], fresh: &[usize], n: usize) -> Vec<usize> {
    let mut by_date = fresh.to_vec();
    // `None < Some`, so descending order puts undated items last.
    by_date.sort_by(|&a, &b| items[b].published.cmp(&items[a].published).then(a.cmp(&b)));
    by_date.truncate(n);
    fresh
        .iter()
        .copied()
        .filter(|i| by_date.contains(i))
        .collect()
}

/// Stores `item` as seen in `feed`; the new row's id if it was not known before. The row
/// is not yet in the full-text index: see `index`.
fn insert(
    conn: &Connection,
    feed: &str,
    item: &Item,
    at: DateTime<Utc>,
) -> Result<Option<i64>, Fault> {
    let key = item.key.0.as_str();
    let by_key = "SELECT id FROM items WHERE feed = ?1 AND key = ?2";
    let id: Option<i64> = conn
        .prepare_cached(by_key)?
        .query_row(params![feed, key], |r| r.get(0))
        .optional()?;
    if let Some(id) = id {
        refresh(conn, id, item)?;
        return Ok(None);
    }
    let by_alias = "SELECT 1 FROM item_aliases WHERE feed = ?1 AND key = ?2";
    if conn.prepare_cached(by_alias)?.exists(params![feed, key])? {
        return Ok(None);
    }
    if let Some(url) = item.url.as_deref() {
        let by_url = "SELECT id FROM items WHERE feed = ?1 AND url = ?2 ORDER BY id LIMIT 1";
        let id: Option<i64> = conn
            .prepare_cached(by_url)?
            .query_row(params![feed, url], |r| r.get(0))
            .optional()?;
        if let Some(id) = id {
            let alias = "INSERT INTO item_aliases (feed, key, item_id) VALUES (?1, ?2, ?3)";
            conn.prepare_cached(alias)?
                .execute(params![feed, key, id])?;
            return Ok(None);
        }
    }
    let sql = "INSERT INTO items (feed, key, guid, url, title, published, summary, content,
                                  first_seen)
               VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
    conn.prepare_cached(sql)?.execute(params![
        feed,
        key,
        item.guid,
        item.url,
        item.title,
        item.published.map(Ts),
        item.summary,
        item.content,
        Ts(at),
    ])?;
    Ok(Some(conn.last_insert_rowid()))
}

/// Indexes the entities a new item mentions. `at` is the item's time as lookups sort by
/// it (published, else first seen); a name listed twice is stored once.
fn mention(
    conn: &Connection,
    id: i64,
    at: DateTime<Utc>,
    found: &[(Category, String)],
) -> Result<(), Fault> {
    let sql = "INSERT OR IGNORE INTO item_mentions (item_id, category, name, at)
               VALUES (?1, ?2, ?3, ?4)";
    let mut stmt = conn.prepare_cached(sql)?;
    for (category, name) in found {
        stmt.execute(params![id, category_name(*category), name, Ts(at)])?;
    }
    Ok(())
}

/// Adds the items with these ids to the full-text index, in one statement (see the
/// schema for why this is not an insert trigger).
fn index(conn: &Connection, ids: &[i64]) -> Result<(), Fault> {
    if ids.is_empty() {
        return Ok(());
    }
    let sql = "INSERT INTO items_fts (rowid, title, summary, content)
               SELECT id, title, summary, content FROM items
               WHERE id IN (SELECT value FROM json_each(?1))";
    let ids = serde_json::to_string(ids).map_err(|e| Fault::Data(e.to_string()))?;
    conn.prepare_cached(sql)?.execute([ids])?;
    Ok(())
}

/// A publisher edit under the same key: take the new non-empty text, write only if it
/// differs (so the full-text index is touched only then). Date and URL stay as first seen.
fn refresh(conn: &Connection, id: i64, item: &Item) -> Result<(), Fault> {
    let sql = "UPDATE items SET title = iif(?2 <> '', ?2, title),
                                summary = iif(?3 <> '', ?3, summary),
                                content = iif(?4 <> '', ?4, content)
               WHERE id = ?1
                 AND ((?2 <> '' AND title IS NOT ?2) OR (?3 <> '' AND summary IS NOT ?3)
                      OR (?4 <> '' AND content IS NOT ?4))";
    conn.prepare_cached(sql)?
        .execute(params![id, item.title, item.summary, item.content])?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::super::test_support::*;
    use super::*;

    fn seed(backfill: usize) -> SeedMode {
        SeedMode::Seed { backfill }
    }

    #[test]
    fn an_item_with_a_stored_key_is_not_new_even_when_edited() {
        let mut store = Store::in_memory().unwrap();
        let first = items("a", 2);
        let (outcome, _) = alert_all(&mut store, "a", &first);
        assert_eq!(outcome.new_items, 2);

        let mut edited = first.clone();
        edited[0].title = "Fixed typo in the title".into();
        edited[0].published = Some(at(500));
        edited[1].summary = String::new();
        let (outcome, called) = alert_all(&mut store, "a", &edited);
        assert_eq!(
            (outcome.new_items, called.len(), outcome.alerts.len()),
            (0, 0, 0)
        );
        let (title, summary, published): (String, String, String) = store
            .conn
            .query_row(
                "SELECT title, summary, published FROM items WHERE key = 'guid:a-0'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(title, "Fixed typo in the title");
        assert_eq!(summary, "Summary of guid:a-0");
        assert_eq!(
            published, "2021-08-03T12:00:00.000000000Z",
            "date as first seen"
        );
        let kept: String = store
            .conn
            .query_row(
                "SELECT summary FROM items WHERE key = 'guid:a-1'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(kept, "Summary of guid:a-1", "empty text does not erase");
        assert_fts_in_step(&store.conn);
    }

    #[test]
    fn a_new_key_on_a_stored_url_is_not_new_and_stays_seen() {
        let mut store = Store::in_memory().unwrap();
        let url = Some("https://news.test/story");
        let original = [item("a", "guid:1", url, Some(0))];
        assert_eq!(alert_all(&mut store, "a", &original).0.alerts.len(), 1);

        let churned = [item("a", "guid:1-v2", url, Some(0))];
        let (outcome, called) = alert_all(&mut store, "a", &churned);
        assert_eq!((outcome.new_items, called.len()), (0, 0));

        // The churned key is remembered even if the link later changes.
        let moved = [item(
            "a",
            "guid:1-v2",
            Some("https://news.test/story-moved"),
            None,
        )];
        let (outcome, _) = alert_all(&mut store, "a", &moved);
        assert_eq!(outcome.new_items, 0);
        let state = store.feed_state("a").unwrap().unwrap();
        assert_eq!(state.items_seen, 1, "one article, two keys");
        assert_eq!(store.counts().unwrap().items, 1);
    }

    #[test]
    fn the_same_url_in_two_feeds_is_new_in_each_but_alerts_once_per_channel() {
        let mut store = Store::in_memory().unwrap();
        let url = Some("https://news.test/shared");
        let in_a = [item("a", "guid:a1", url, Some(0))];
        let in_b = [item("b", "guid:b1", url, Some(0))];
        let (outcome, _) = alert_all(&mut store, "a", &in_a);
        assert_eq!((outcome.new_items, outcome.alerts.len()), (1, 1));

        // Same article, same channel 1, plus channel 2 and the console.
        let p = poll("b", &in_b, SeedMode::AlertAll);
        let outcome = store
            .commit_poll(&p, &mut |item: &Item| {
                vec![
                    alert(item, Some(1)),
                    alert(item, Some(2)),
                    alert(item, None),
                ]
            })
            .unwrap();
        assert_eq!(outcome.new_items, 1);
        let channels: Vec<_> = outcome
            .alerts
            .iter()
            .map(|q| q.alert.channel.map(|c| c.0))
            .collect();
        assert_eq!(channels, [Some(2), None]);
        assert_eq!(store.counts().unwrap().alerts_pending, 3);
        assert_eq!(store.feed_state("b").unwrap().unwrap().items_seen, 1);
    }

    #[test]
    fn items_without_a_url_dedupe_by_feed_and_key() {
        let mut store = Store::in_memory().unwrap();
        let in_a = [item("a", "hash:x", None, Some(0))];
        let in_b = [item("b", "hash:x", None, Some(0))];
        assert_eq!(alert_all(&mut store, "a", &in_a).0.alerts.len(), 1);
        assert_eq!(alert_all(&mut store, "b", &in_b).0.alerts.len(), 1);
        assert_eq!(alert_all(&mut store, "a", &in_a).0.new_items, 0);
        let dedupe: Vec<String> = store
            .conn
            .prepare("SELECT dedupe FROM alerts ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(dedupe, ["a\nhash:x", "b\nhash:x"]);
    }

    #[test]
    fn duplicates_within_one_poll_count_once() {
        let mut store = Store::in_memory().unwrap();
        let batch = [
            item("a", "guid:1", Some("https://news.test/1"), Some(1)),
            item("a", "guid:1", Some("https://news.test/1"), Some(1)),
            item("a", "guid:2", Some("https://news.test/1"), Some(1)),
        ];
        let (outcome, called) = alert_all(&mut store, "a", &batch);
        assert_eq!((outcome.new_items, called.len()), (1, 1));
        assert_eq!(store.feed_state("a").unwrap().unwrap().items_seen, 1);
    }

    #[test]
    fn seeding_marks_everything_seen_and_alerts_nothing() {
        let mut store = Store::in_memory().unwrap();
        let first = items("a", 5);
        let (outcome, called) = commit_with(&mut store, &poll("a", &first, seed(0)), Some(1));
        assert!(outcome.seeded);
        assert_eq!(
            (outcome.new_items, called.len(), outcome.alerts.len()),
            (5, 0, 0)
        );
        assert!(store.feed_state("a").unwrap().unwrap().seeded);

        // Later polls alert on what is new, and only that.
        let mut next = vec![item(
            "a",
            "guid:new",
            Some("https://news.test/new"),
            Some(9),
        )];
        next.extend(first);
        let (outcome, called) = commit_with(&mut store, &poll("a", &next, seed(0)), Some(1));
        assert!(!outcome.seeded);
        assert_eq!(called, ["guid:new"]);
        assert_eq!(alert_keys(&outcome), ["guid:new"]);
    }

    #[test]
    fn seeding_with_backfill_alerts_the_newest_by_date_undated_last() {
        let mut store = Store::in_memory().unwrap();
        // Feed order is not date order; two items have no date.
        let batch = [
            item("a", "guid:undated-1", Some("https://n.test/u1"), None),
            item("a", "guid:old", Some("https://n.test/old"), Some(1)),
            item("a", "guid:newest", Some("https://n.test/newest"), Some(30)),
            item("a", "guid:undated-2", Some("https://n.test/u2"), None),
            item("a", "guid:middle", Some("https://n.test/middle"), Some(20)),
        ];
        let (outcome, called) = commit_with(&mut store, &poll("a", &batch, seed(2)), Some(1));
        assert_eq!(outcome.new_items, 5);
        // Handled in reverse feed order.
        assert_eq!(called, ["guid:middle", "guid:newest"]);

        let mut store = Store::in_memory().unwrap();
        let (_, called) = commit_with(&mut store, &poll("a", &batch, seed(4)), Some(1));
        assert_eq!(
            called,
            ["guid:middle", "guid:newest", "guid:old", "guid:undated-1"]
        );

        let mut store = Store::in_memory().unwrap();
        let (_, called) = commit_with(&mut store, &poll("a", &batch, seed(99)), Some(1));
        assert_eq!(called.len(), 5);
    }

    #[test]
    fn alert_all_alerts_every_new_item_on_first_contact() {
        let mut store = Store::in_memory().unwrap();
        let batch = items("a", 3);
        let (outcome, called) = alert_all(&mut store, "a", &batch);
        assert!(outcome.seeded);
        assert_eq!(called, ["guid:a-2", "guid:a-1", "guid:a-0"]);
        assert_eq!(alert_keys(&outcome), called);
        assert!(store.feed_state("a").unwrap().unwrap().seeded);
        // A later `run` does not seed again.
        let (outcome, _) = commit_with(&mut store, &poll("a", &batch, seed(0)), Some(1));
        assert!(!outcome.seeded);
    }

    #[test]
    fn without_a_sink_alerts_are_stored_as_skipped() {
        let mut store = Store::in_memory().unwrap();
        let batch = items("a", 2);
        let mut p = poll("a", &batch, SeedMode::AlertAll);
        p.deliver = false;
        let (outcome, _) = commit_with(&mut store, &p, Some(1));
        assert_eq!(outcome.alerts.len(), 2);
        let counts = store.counts().unwrap();
        assert_eq!((counts.alerts_skipped, counts.alerts_pending), (2, 0));
        assert!(store.pending_alerts(10).unwrap().is_empty());
    }

    #[test]
    fn a_dry_run_computes_the_real_outcome_and_changes_nothing() {
        let (_dir, path) = temp_db();
        let mut store = Store::open(&path).unwrap();
        seed_feed(&mut store, "a", 3);
        store
            .record_failure("a", FEED_URL, "HTTP 500", at(61), Some(at(70)))
            .unwrap();
        store
            .conn
            .pragma_update(None, "wal_checkpoint", "TRUNCATE")
            .unwrap();
        let file_before = std::fs::read(&path).unwrap();
        let dump_before = dump(&store.conn);

        let mut batch = vec![item(
            "a",
            "guid:new",
            Some("https://news.test/new"),
            Some(5),
        )];
        batch.extend(items("a", 3));
        batch.push(item("b-is-not-here", "guid:x", None, None));
        let p = poll("a", &batch, seed(0));
        let mut decide = |item: &Item| vec![alert(item, Some(7)), alert(item, None)];
        let dry = store.commit_poll_dry(&p, &mut decide).unwrap();
        assert_eq!(dry.alerts.len(), 4);
        assert!(dry.recovered);

        assert_eq!(dump(&store.conn), dump_before);
        assert_eq!(std::fs::read(&path).unwrap(), file_before);
        drop(store);
        let mut store = Store::open(&path).unwrap();
        assert_eq!(dump(&store.conn), dump_before);

        // The same poll for real gives the same outcome.
        let real = store.commit_poll(&p, &mut decide).unwrap();
        assert_eq!(real, dry);
    }

    #[test]
    fn entities_are_stored_by_any_key_of_the_item() {
        let mut store = Store::in_memory().unwrap();
        let url = Some("https://news.test/e");
        alert_all(&mut store, "a", &[item("a", "guid:1", url, None)]);
        alert_all(&mut store, "a", &[item("a", "guid:2", url, None)]);
        store
            .set_item_entities("a", "guid:2", r#"{"actors":[{"name":"APT27"}]}"#)
            .unwrap();
        let stored: String = store
            .conn
            .query_row("SELECT entities FROM items WHERE key = 'guid:1'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(stored, r#"{"actors":[{"name":"APT27"}]}"#);
        let err = store.set_item_entities("a", "guid:1", "{nope").unwrap_err();
        assert!(matches!(err, StoreError::Data { .. }), "{err}");
        let err = store.set_item_entities("a", "guid:3", "{}").unwrap_err();
        assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
    }

    use crate::model::Category::{Actors, Regions, Sectors};

    #[test]
    fn mentions_are_indexed_for_new_items_only() {
        let mut store = Store::in_memory().unwrap();
        let undated = item("a", "guid:undated", Some("https://n.test/u"), None);
        let first = [
            item("a", "guid:1", Some("https://n.test/1"), Some(5)),
            undated.clone(),
            item("a", "guid:quiet", Some("https://n.test/q"), Some(1)),
        ];
        let map = mention_map(&[
            (
                "guid:1",
                &[(Actors, "APT27"), (Sectors, "Telecommunications")],
            ),
            // A name listed twice is stored once.
            (
                "guid:undated",
                &[(Regions, "Southeast Asia"), (Regions, "Southeast Asia")],
            ),
        ]);
        let mut p = poll("a", &first, SeedMode::AlertAll);
        p.mentions = Some(&map);
        commit_with(&mut store, &p, Some(1));
        let want_first = [
            "guid:1: actor APT27 @ 2021-08-03T12:05:00.000000000Z",
            "guid:1: sector Telecommunications @ 2021-08-03T12:05:00.000000000Z",
            // Undated: the poll's time (first seen).
            "guid:undated: region Southeast Asia @ 2021-08-03T13:00:00.000000000Z",
        ];
        assert_eq!(mention_rows(&store.conn), want_first);

        // Seen again (edited, and under a churned key): nothing new; a new item is indexed.
        let mut edited = first[0].clone();
        edited.title = "Edited".into();
        let churned = item("a", "guid:1-v2", Some("https://n.test/1"), Some(5));
        let next = [item("a", "guid:2", None, Some(9)), edited, churned, undated];
        let map = mention_map(&[
            ("guid:1", &[(Actors, "APT41")]),
            ("guid:1-v2", &[(Actors, "APT41")]),
            ("guid:undated", &[(Actors, "APT41")]),
            ("guid:2", &[(Actors, "APT41")]),
        ]);
        let mut p = poll("a", &next, SeedMode::AlertAll);
        p.mentions = Some(&map);
        let (outcome, _) = commit_with(&mut store, &p, Some(1));
        assert_eq!(outcome.new_items, 1);
        let mut want = want_first.to_vec();
        want.insert(2, "guid:2: actor APT41 @ 2021-08-03T12:09:00.000000000Z");
        assert_eq!(mention_rows(&store.conn), want);
    }

    #[test]
    fn seeded_items_are_indexed_though_they_do_not_alert() {
        let mut store = Store::in_memory().unwrap();
        let batch = items("a", 3);
        let map = mention_map(&[
            ("guid:a-0", &[(Actors, "Volt Typhoon")]),
            (
                "guid:a-2",
                &[(Sectors, "Energy"), (Regions, "North America")],
            ),
        ]);
        let mut p = poll("a", &batch, seed(0));
        p.mentions = Some(&map);
        let (outcome, called) = commit_with(&mut store, &p, Some(1));
        assert_eq!((outcome.new_items, called.len()), (3, 0));
        assert_eq!(
            mention_rows(&store.conn),
            [
                "guid:a-0: actor Volt Typhoon @ 2021-08-03T12:00:00.000000000Z",
                "guid:a-2: region North America @ 2021-08-03T11:58:00.000000000Z",
                "guid:a-2: sector Energy @ 2021-08-03T11:58:00.000000000Z",
            ]
        );
    }

    #[test]
    fn a_dry_run_indexes_nothing() {
        let mut store = Store::in_memory().unwrap();
        let batch = items("a", 2);
        let map = mention_map(&[("guid:a-0", &[(Actors, "APT27")])]);
        let mut p = poll("a", &batch, SeedMode::AlertAll);
        p.mentions = Some(&map);
        let dump_before = dump(&store.conn);
        let dry = store.commit_poll_dry(&p, &mut |_| vec![]).unwrap();
        assert_eq!(dry.new_items, 2);
        assert_eq!(dump(&store.conn), dump_before);
        assert!(mention_rows(&store.conn).is_empty());
    }

    #[test]
    fn mentions_go_with_their_item() {
        let mut store = Store::in_memory().unwrap();
        for feed in ["a", "b"] {
            let batch = items(feed, 2);
            let key = format!("guid:{feed}-1");
            let map = mention_map(&[(key.as_str(), &[(Actors, "APT27")])]);
            let mut p = poll(feed, &batch, SeedMode::AlertAll);
            p.mentions = Some(&map);
            commit_with(&mut store, &p, None);
        }
        store
            .conn
            .execute("DELETE FROM items WHERE key = 'guid:a-1'", [])
            .unwrap();
        assert_eq!(
            mention_rows(&store.conn),
            ["guid:b-1: actor APT27 @ 2021-08-03T11:59:00.000000000Z"]
        );
        // Forgetting a feed forgets its items, and so their mentions.
        store
            .conn
            .execute("DELETE FROM feeds WHERE name = 'b'", [])
            .unwrap();
        assert!(mention_rows(&store.conn).is_empty());
    }

    #[test]
    fn a_thousand_polls_of_fifty_items_commit_quickly() {
        // No timing assertion (machines differ); see the printed time. In release builds
        // a poll of 50 new items with 1 KB of text each takes about 2-3 ms of CPU.
        let (_dir, path) = temp_db();
        let mut store = Store::open(&path).unwrap();
        let started = std::time::Instant::now();
        for n in 0..1000 {
            let batch: Vec<Item> = (0..50)
                .map(|i| {
                    let url = format!("https://n.test/{n}/{i}");
                    item("bulk", &format!("guid:{n}-{i}"), Some(&url), Some(n))
                })
                .collect();
            let p = poll("bulk", &batch, SeedMode::AlertAll);
            // One item in ten fires a rule.
            let outcome = store
                .commit_poll(&p, &mut |item: &Item| match item.key.0.ends_with('0') {
                    true => vec![alert(item, Some(1))],
                    false => vec![],
                })
                .unwrap();
            assert_eq!((outcome.new_items, outcome.alerts.len()), (50, 5));
        }
        let elapsed = started.elapsed();
        eprintln!(
            "1000 polls of 50 items: {elapsed:?}, {:?} per poll",
            elapsed / 1000
        );
        let counts = store.counts().unwrap();
        assert_eq!((counts.items, counts.alerts_pending), (50_000, 5_000));
        assert_fts_in_step(&store.conn);
    }
}
