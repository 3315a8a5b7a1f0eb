//! The tables and their migrations. `PRAGMA user_version` records how many migrations a
//! file has had; `migrate` applies the missing ones, in order, in one transaction.
//!
//! Must not: edit a migration once released (add a new one instead), or touch data
//! beyond what a migration needs. Connection settings (WAL, foreign keys, busy timeout)
//! live in `Store::open`, since they are per connection, not per file.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::StoreError;

/// Migration `i` takes a file from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[V1, V2, V3];

/// The schema version this build writes.
pub(super) const VERSION: i64 = MIGRATIONS.len() as i64;

/// The entity index behind `/actor` and `/recent`: which actors, sectors and regions each
/// item mentions, with the item's time (published, else first seen) copied in so that
/// "newest items mentioning X" and "how many since T" are one index range each.
/// `items_by_time` serves `/recent` with no entity. Items whose matches were already
/// stored as JSON (`set_item_entities`) are indexed from it.
const V3: &str = r#"
CREATE TABLE item_mentions (
    item_id  INTEGER NOT NULL REFERENCES items (id) ON DELETE CASCADE,
    category TEXT NOT NULL
             CHECK (category = 'actor' OR category = 'sector' OR category = 'region'),
    name     TEXT NOT NULL,
    at       TEXT NOT NULL,
    PRIMARY KEY (category, name, item_id)
) STRICT, WITHOUT ROWID;
-- Ascending, so a backward scan gives (at DESC, item_id DESC): newest first, ties by id.
CREATE INDEX item_mentions_by_time ON item_mentions (category, name, at);
-- For the cascade when an item is deleted.
CREATE INDEX item_mentions_by_item ON item_mentions (item_id);
CREATE INDEX items_by_time ON items (coalesce(published, first_seen));

INSERT OR IGNORE INTO item_mentions (item_id, category, name, at)
SELECT items.id, c.category, json_extract(e.value, '$.name'),
       coalesce(items.published, items.first_seen)
FROM items
JOIN (SELECT 'actor' AS category, '$.actors' AS field
      UNION ALL SELECT 'sector', '$.sectors'
      UNION ALL SELECT 'region', '$.regions') AS c
JOIN json_each(items.entities, c.field) AS e
WHERE items.entities IS NOT NULL AND json_type(e.value, '$.name') = 'text';
"#;

/// Catalogs fetched from `[catalog] urls`, kept so a restart without network has them.
const V2: &str = r#"
CREATE TABLE catalog_cache (
    url        TEXT PRIMARY KEY NOT NULL,
    body       BLOB NOT NULL,
    fetched_at TEXT NOT NULL
) STRICT;
"#;

/// Feeds, items (with the keys they were also seen under and full-text search), alerts.
/// (Checks use `OR`, not `IN (...)`: an `IN` list builds a temporary index per row.)
const V1: &str = r#"
CREATE TABLE feeds (
    name                 TEXT PRIMARY KEY NOT NULL,
    url                  TEXT NOT NULL,
    etag                 TEXT,
    last_modified        TEXT,
    last_success         TEXT,
    last_attempt         TEXT,
    last_error           TEXT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    next_poll            TEXT,
    seeded               INTEGER NOT NULL DEFAULT 0 CHECK (seeded = 0 OR seeded = 1),
    failing_notified     INTEGER NOT NULL DEFAULT 0
                         CHECK (failing_notified = 0 OR failing_notified = 1)
) STRICT;

-- One row per distinct article per feed. `key` is the item key from normalize.
CREATE TABLE items (
    id         INTEGER PRIMARY KEY,
    feed       TEXT NOT NULL REFERENCES feeds (name) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    guid       TEXT,
    url        TEXT,
    title      TEXT NOT NULL,
    published  TEXT,
    summary    TEXT NOT NULL,
    content    TEXT NOT NULL,
    entities   TEXT CHECK (entities IS NULL OR json_valid(entities)),
    first_seen TEXT NOT NULL,
    UNIQUE (feed, key)
) STRICT;
CREATE INDEX items_by_url ON items (feed, url) WHERE url IS NOT NULL;
CREATE INDEX items_by_published ON items (published);

-- Other keys an item was seen under: GUID churn on the same link stays seen.
CREATE TABLE item_aliases (
    feed    TEXT NOT NULL,
    key     TEXT NOT NULL,
    item_id INTEGER NOT NULL REFERENCES items (id) ON DELETE CASCADE,
    PRIMARY KEY (feed, key)
) STRICT, WITHOUT ROWID;
CREATE INDEX item_aliases_by_item ON item_aliases (item_id);

-- Full-text search over items. Edits and deletes are kept in step by the triggers
-- below; new items are indexed by `items::index`, one statement per poll: FTS5 flushes
-- its pending index to a new segment at every statement savepoint, so an insert trigger
-- would write (and merge) one segment per item, more than half of a poll's time.
CREATE VIRTUAL TABLE items_fts USING fts5 (
    title, summary, content,
    content = 'items', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER items_fts_delete AFTER DELETE ON items BEGIN
    INSERT INTO items_fts (items_fts, rowid, title, summary, content)
    VALUES ('delete', old.id, old.title, old.summary, old.content);
END;
CREATE TRIGGER items_fts_update AFTER UPDATE OF title, summary, content ON items BEGIN
    INSERT INTO items_fts (items_fts, rowid, title, summary, content)
    VALUES ('delete', old.id, old.title, old.summary, old.content);
    INSERT INTO items_fts (rowid, title, summary, content)
    VALUES (new.id, new.title, new.summary, new.content);
END;

-- The outbox. `payload` is a `model::Alert` as JSON. `dedupe` is the article's url (or
-- feed and key, newline-separated, when it has none); `channel` is the Discord channel
-- id, 0 for console only. One alert per article per channel, however many feeds carry it.
CREATE TABLE alerts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    feed         TEXT NOT NULL,
    item_key     TEXT NOT NULL,
    dedupe       TEXT NOT NULL,
    channel      INTEGER NOT NULL,
    payload      TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status = 'pending' OR status = 'delivered'
                                      OR status = 'failed' OR status = 'skipped'),
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,
    created_at   TEXT NOT NULL,
    delivered_at TEXT,
    message_id   TEXT,
    UNIQUE (dedupe, channel),
    FOREIGN KEY (feed, item_key) REFERENCES items (feed, key) ON DELETE CASCADE
) STRICT;
CREATE INDEX alerts_pending ON alerts (id) WHERE status = 'pending';
CREATE INDEX alerts_by_item ON alerts (feed, item_key);
"#;

/// Brings the file to `VERSION`. A no-op (one read, no lock) when it is already there;
/// safe when several processes open the same file at once.
pub(super) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let open_err = |source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    };
    let too_new = |found| StoreError::TooNew {
        path: path.to_path_buf(),
        found,
        supported: VERSION,
    };
    let found = user_version(conn).map_err(open_err)?;
    if found == VERSION {
        return Ok(());
    }
    if found > VERSION {
        return Err(too_new(found));
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(open_err)?;
    // Another process may have migrated while we waited for the lock.
    let found = user_version(&tx).map_err(open_err)?;
    if found > VERSION {
        return Err(too_new(found));
    }
    for (from, sql) in (found..).zip(MIGRATIONS.iter().skip(found.max(0) as usize)) {
        let version = from + 1;
        let step = || -> rusqlite::Result<()> {
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", version)
        };
        step().map_err(|source| StoreError::Migrate {
            path: path.to_path_buf(),
            version,
            source,
        })?;
    }
    tx.commit().map_err(|source| StoreError::Migrate {
        path: path.to_path_buf(),
        version: VERSION,
        source,
    })
}

fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::super::test_support::*;
    use super::super::{SeedMode, Store};
    use super::*;

    fn schema_text(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
            .unwrap();
        let rows = stmt.query_map([], |r| r.get(0)).unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    }

    #[test]
    fn a_migration_run_twice_is_a_no_op() {
        let (_dir, path) = temp_db();
        let mut store = Store::open(&path).unwrap();
        seed_feed(&mut store, "a", 3);
        let schema = schema_text(&store.conn);
        let dump_before = dump(&store.conn);
        migrate(&mut store.conn, &path).unwrap();
        drop(store);
        // Opening again runs `migrate` again.
        let store = Store::open(&path).unwrap();
        assert_eq!(user_version(&store.conn).unwrap(), VERSION);
        assert_eq!(schema_text(&store.conn), schema);
        assert_eq!(dump(&store.conn), dump_before);
    }

    #[test]
    fn a_version_2_file_migrates_and_indexes_stored_entities() {
        let (_dir, path) = temp_db();
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(V1).unwrap();
            conn.execute_batch(V2).unwrap();
            conn.pragma_update(None, "user_version", 2).unwrap();
            conn.execute_batch(
                r#"
                INSERT INTO feeds (name, url) VALUES ('f', 'https://f.test/rss');
                INSERT INTO items (feed, key, title, published, summary, content, entities,
                                   first_seen)
                VALUES ('f', 'dated', 't', '2021-08-01T00:00:00.000000000Z', '', '',
                        '{"actors":[{"name":"APT27","matched":["TG-3390"]}],
                          "sectors":[{"name":"Telecommunications","matched":["telcos"]}],
                          "regions":[]}',
                        '2021-08-02T00:00:00.000000000Z'),
                       ('f', 'undated', 't', NULL, '', '',
                        '{"actors":[],"sectors":[],"regions":[{"name":"Southeast Asia"},{"x":1}]}',
                        '2021-08-03T00:00:00.000000000Z'),
                       ('f', 'unmatched', 't', NULL, '', '', NULL,
                        '2021-08-04T00:00:00.000000000Z');
                "#,
            )
            .unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(user_version(&store.conn).unwrap(), VERSION);
        assert_eq!(
            mention_rows(&store.conn),
            [
                "dated: actor APT27 @ 2021-08-01T00:00:00.000000000Z",
                "dated: sector Telecommunications @ 2021-08-01T00:00:00.000000000Z",
                "undated: region Southeast Asia @ 2021-08-03T00:00:00.000000000Z",
            ]
        );
        let fresh = Store::in_memory().unwrap();
        assert_eq!(schema_text(&store.conn), schema_text(&fresh.conn));
    }

    #[test]
    fn connection_settings_are_applied() {
        let (_dir, path) = temp_db();
        let store = Store::open(&path).unwrap();
        let pragma = |name: &str| -> String {
            store
                .conn
                .pragma_query_value(None, name, |r| r.get::<_, rusqlite::types::Value>(0))
                .map(|v| format!("{v:?}"))
                .unwrap()
        };
        assert_eq!(pragma("journal_mode"), r#"Text("wal")"#);
        assert_eq!(pragma("foreign_keys"), "Integer(1)");
        assert_eq!(pragma("busy_timeout"), "Integer(5000)");
        assert_eq!(pragma("user_version"), format!("Integer({VERSION})"));
    }

    #[test]
    fn a_newer_schema_is_refused_by_name() {
        let (_dir, path) = temp_db();
        let store = Store::open(&path).unwrap();
        store
            .conn
            .pragma_update(None, "user_version", VERSION + 1)
            .unwrap();
        drop(store);
        let err = Store::open(&path).unwrap_err();
        assert!(matches!(err, StoreError::TooNew { found, .. } if found == VERSION + 1));
        assert!(err.to_string().contains("threatwatch.db"), "{err}");
    }

    #[test]
    fn full_text_search_follows_items() {
        let mut store = Store::in_memory().unwrap();
        let mut first = item("f", "guid:1", Some("https://x.test/1"), Some(0));
        first.title = "Naikon targets telcos".into();
        first.summary = "Espionage campaign against Southeast Asian carriers".into();
        let items = [first.clone()];
        store
            .commit_poll(&poll("f", &items, SeedMode::AlertAll), &mut |_| vec![])
            .unwrap();

        let search = |store: &Store, q: &str| -> Vec<String> {
            let mut stmt = store
                .conn
                .prepare(
                    "SELECT items.key FROM items_fts JOIN items ON items.id = items_fts.rowid
                     WHERE items_fts MATCH ?1 ORDER BY rank",
                )
                .unwrap();
            let rows = stmt.query_map([q], |r| r.get(0)).unwrap();
            rows.collect::<Result<_, _>>().unwrap()
        };
        assert_eq!(search(&store, "naikon"), ["guid:1"]);
        assert_eq!(search(&store, "southeast AND carriers"), ["guid:1"]);
        assert!(search(&store, "ransomware").is_empty());

        // A publisher edit updates the index quietly.
        first.title = "Naikon hits ransomware victims".into();
        let items = [first];
        store
            .commit_poll(&poll("f", &items, SeedMode::AlertAll), &mut |_| vec![])
            .unwrap();
        assert_eq!(search(&store, "ransomware"), ["guid:1"]);
        assert!(search(&store, "telcos").is_empty());
        assert_fts_in_step(&store.conn);

        // The check can fail: an item the index does not know.
        store
            .conn
            .execute(
                "INSERT INTO items (feed, key, title, summary, content, first_seen)
                 VALUES ('f', 'guid:2', 'Unindexed', '', '', 'x')",
                [],
            )
            .unwrap();
        let check = "INSERT INTO items_fts (items_fts, rank) VALUES ('integrity-check', 1)";
        assert!(store.conn.execute(check, []).is_err());
    }
}
