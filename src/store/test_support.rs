//! Builders shared by the store's unit tests: temp files, items, alerts, polls, and a
//! dump of every table to compare databases by content.
//!
//! Must not: be compiled outside tests, or hide what a test checks.

use std::path::PathBuf;

use chrono::{DateTime, TimeZone, Utc};
use rusqlite::Connection;
use tempfile::TempDir;

use std::collections::HashMap;

use super::{PollCommit, PollOutcome, SeedMode, Store};
use crate::model::{
    Alert, Category, ChannelId, Entities, EntityMatch, Field, Item, ItemKey, Priority,
};

/// The feed URL every test poll claims to come from.
pub(crate) const FEED_URL: &str = "https://feeds.test/rss";

/// A folder that lives as long as the guard, and a database path inside it.
pub(crate) fn temp_db() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("threatwatch.db");
    (dir, path)
}

/// 2021-08-03T12:00:00Z plus `minutes`.
pub(crate) fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2021, 8, 3, 12, 0, 0).unwrap() + chrono::Duration::minutes(minutes)
}

/// An item of `feed` with `key`, `url` and a date `published` minutes after `at(0)`.
pub(crate) fn item(feed: &str, key: &str, url: Option<&str>, published: Option<i64>) -> Item {
    Item {
        feed: feed.into(),
        key: ItemKey(key.into()),
        guid: key.strip_prefix("guid:").map(Into::into),
        title: format!("Article {key}"),
        url: url.map(Into::into),
        published: published.map(at),
        summary: format!("Summary of {key}"),
        content: String::new(),
    }
}

/// An alert for `item` to `channel` (None: console only), with a rich payload.
pub(crate) fn alert(item: &Item, channel: Option<u64>) -> Alert {
    Alert {
        item: item.clone(),
        entities: Entities {
            actors: vec![EntityMatch {
                name: "APT27".into(),
                matched: vec!["Emissary Panda".into()],
                fields: vec![Field::Title, Field::Content],
                note: Some("alias".into()),
            }],
            sectors: vec![EntityMatch {
                name: "Telecommunications".into(),
                matched: vec!["telcos".into()],
                fields: vec![],
                note: None,
            }],
            regions: vec![],
        },
        rules: vec!["telco-espionage-sea".into()],
        channel: channel.map(ChannelId),
        mention_roles: vec![42],
        priority: Priority::High,
    }
}

/// A successful poll of `feed` at `at(60)` that delivers.
pub(crate) fn poll<'a>(feed: &'a str, items: &'a [Item], mode: SeedMode) -> PollCommit<'a> {
    PollCommit {
        feed,
        url: FEED_URL,
        items,
        etag: None,
        last_modified: None,
        at: at(60),
        next_poll: Some(at(75)),
        mode,
        deliver: true,
        mentions: None,
    }
}

/// `items` for `feed`, keys `guid:{feed}-{i}`, newest first.
pub(crate) fn items(feed: &str, n: usize) -> Vec<Item> {
    (0..n)
        .map(|i| {
            let key = format!("guid:{feed}-{i}");
            let url = format!("https://news.test/{feed}/{i}");
            item(feed, &key, Some(&url), Some(-(i as i64)))
        })
        .collect()
}

/// Seeds `feed` with `n` items (nothing alerts).
pub(crate) fn seed_feed(store: &mut Store, feed: &str, n: usize) {
    let items = items(feed, n);
    let seed = SeedMode::Seed { backfill: 0 };
    store
        .commit_poll(&poll(feed, &items, seed), &mut |_| vec![])
        .unwrap();
}

/// Commits `items` to `feed` (alerting every new one to channel 1); returns the outcome
/// and the keys `decide` was called for.
pub(crate) fn alert_all(
    store: &mut Store,
    feed: &str,
    items: &[Item],
) -> (PollOutcome, Vec<String>) {
    commit_with(store, &poll(feed, items, SeedMode::AlertAll), Some(1))
}

/// Commits `poll`, alerting every item `decide` sees to `channel`.
pub(crate) fn commit_with(
    store: &mut Store,
    poll: &PollCommit<'_>,
    channel: Option<u64>,
) -> (PollOutcome, Vec<String>) {
    let mut seen = Vec::new();
    let outcome = store
        .commit_poll(poll, &mut |item: &Item| {
            seen.push(item.key.0.clone());
            vec![alert(item, channel)]
        })
        .unwrap();
    (outcome, seen)
}

/// Keys of the alerts in an outcome.
pub(crate) fn alert_keys(outcome: &PollOutcome) -> Vec<String> {
    outcome
        .alerts
        .iter()
        .map(|q| q.alert.item.key.0.clone())
        .collect()
}

/// Fails unless the full-text index holds exactly what `items` holds.
pub(crate) fn assert_fts_in_step(conn: &Connection) {
    conn.execute(
        "INSERT INTO items_fts (items_fts, rank) VALUES ('integrity-check', 1)",
        [],
    )
    .expect("items_fts out of step with items");
}

/// Every row of every table, sorted: equal dumps mean equal databases.
pub(crate) fn dump(conn: &Connection) -> Vec<String> {
    let mut tables = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap();
    let names: Vec<String> = tables
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut out = Vec::new();
    for name in names {
        let mut stmt = conn.prepare(&format!("SELECT * FROM \"{name}\"")).unwrap();
        let width = stmt.column_count();
        let mut rows: Vec<String> = stmt
            .query_map([], |r| {
                let values = (0..width)
                    .map(|i| r.get::<_, rusqlite::types::Value>(i))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(format!("{name}: {values:?}"))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        rows.sort();
        out.push(format!("{name}: {} rows", rows.len()));
        out.extend(rows);
    }
    out
}

/// (status, attempts, message_id, last_error) of every alert, in id order.
pub(crate) fn alert_rows(store: &Store) -> Vec<(String, u32, Option<String>, Option<String>)> {
    let mut stmt = store
        .conn
        .prepare("SELECT status, attempts, message_id, last_error FROM alerts ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The entities each item key mentions, for `PollCommit::mentions`.
pub(crate) fn mention_map(
    entries: &[(&str, &[(Category, &str)])],
) -> HashMap<ItemKey, Vec<(Category, String)>> {
    entries
        .iter()
        .map(|(key, found)| {
            let found = found.iter().map(|&(c, n)| (c, n.to_string())).collect();
            (ItemKey(key.to_string()), found)
        })
        .collect()
}

/// Every `item_mentions` row as "item key: category name @ at", sorted.
pub(crate) fn mention_rows(conn: &Connection) -> Vec<String> {
    let mut stmt = conn
        .prepare(
            "SELECT items.key || ': ' || m.category || ' ' || m.name || ' @ ' || m.at
             FROM item_mentions AS m JOIN items ON items.id = m.item_id ORDER BY 1",
        )
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}
