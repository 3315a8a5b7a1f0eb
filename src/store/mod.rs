//! The store: the only module with SQL. One SQLite file holds feed state, every item
//! seen (the dedupe memory, with full-text search over it) and the alert outbox.
//!
//! Inputs are plain `model` values and times given by the caller; outputs are plain data
//! (`FeedState`, `PollOutcome`, `QueuedAlert`, `Article`). `schema` owns the tables and
//! their migrations, `feeds` the per-feed poll state, `items` the dedupe and the
//! one-transaction poll commit (with the entity index), `alerts` the outbox, `lookup` the
//! read-only queries behind the slash commands (`search_query` turns what users type into
//! FTS5 syntax).
//!
//! Must not: fetch, parse, match or deliver anything; read the clock (every time is a
//! parameter); hand SQL types or statements to callers; leave a poll half-written (a poll
//! is one transaction).

mod alerts;
mod catalogs;
mod feeds;
mod items;
mod lookup;
mod schema;
mod search_query;
#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
pub(crate) mod test_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags, ToSql};

use crate::model::Category;

pub use alerts::QueuedAlert;
pub use feeds::FeedState;
pub use items::{PollCommit, PollOutcome, SeedMode};
pub use lookup::{Article, Mentions, RecentFilter, SearchHit};

/// How long a statement waits for another connection's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A handle on the database. Cheap to keep open for the whole run; not `Sync`, so share
/// it behind a mutex or give each task its own (WAL lets several coexist).
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    /// Where the database lives, for error messages (`:memory:` for `in_memory`).
    path: PathBuf,
}

/// Why a store operation failed. Every message names the database file, except
/// `BadQuery`'s, which is about what a user typed and is meant to be shown to them.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "cannot open database {}: cannot create directory {}: {source}",
        path.display(),
        dir.display()
    )]
    CreateDir {
        path: PathBuf,
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open database {}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "cannot open database {}: its schema version {found} is newer than this threatwatch \
         understands ({supported}); upgrade threatwatch",
        path.display()
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("cannot migrate database {} to schema version {version}: {source}", path.display())]
    Migrate {
        path: PathBuf,
        version: i64,
        source: rusqlite::Error,
    },
    #[error("database {}: cannot {op}: {source}", path.display())]
    Sql {
        path: PathBuf,
        op: &'static str,
        source: rusqlite::Error,
    },
    /// Stored data that cannot be read back, or a value that cannot be stored.
    #[error("database {}: cannot {op}: {detail}", path.display())]
    Data {
        path: PathBuf,
        op: &'static str,
        detail: String,
    },
    #[error("database {}: cannot {op}: no {what}", path.display())]
    NotFound {
        path: PathBuf,
        op: &'static str,
        what: String,
    },
    /// A search query FTS5 cannot run (unbalanced quotes, a dangling operator...).
    #[error(
        "bad search query: {reason}; put phrases in \"double quotes\" and use AND, OR, NOT \
         in capitals"
    )]
    BadQuery { reason: String },
}

impl StoreError {
    /// Another connection held the lock past the busy timeout: worth retrying later.
    pub fn is_busy(&self) -> bool {
        let source = match self {
            StoreError::Open { source, .. }
            | StoreError::Migrate { source, .. }
            | StoreError::Sql { source, .. } => source,
            _ => return false,
        };
        matches!(
            source.sqlite_error_code(),
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
        )
    }
}

/// Counts of what the store holds: for `check` and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreCounts {
    pub feeds: u64,
    /// Distinct items over all feeds (extra keys an item was seen under are not counted).
    pub items: u64,
    pub alerts_pending: u64,
    pub alerts_delivered: u64,
    pub alerts_failed: u64,
    pub alerts_skipped: u64,
}

impl Store {
    /// Opens the database at `path`, creating it (and its folder) if missing, and brings
    /// its schema up to date.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: path.to_path_buf(),
                dir: dir.to_path_buf(),
                source,
            })?;
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        Store::connect(path, flags)
    }

    /// Opens the database at `path` if it exists (migrating it if needed); `None` if there
    /// is no such file. Never creates anything.
    pub fn open_existing(path: &Path) -> Result<Option<Store>, StoreError> {
        // An error here (e.g. permission denied) is left for SQLite to report.
        if let Ok(false) = path.try_exists() {
            return Ok(None);
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        Store::connect(path, flags).map(Some)
    }

    /// A second connection for lookups (the slash commands) beside the daemon's writer:
    /// opened read-only and `query_only`, so it can never write or migrate, and it sees
    /// every commit of the writer (WAL). `None` if there is no such file; an error if the
    /// file's schema is not this build's (the writer migrates it on open).
    pub fn open_reader(path: &Path) -> Result<Option<Store>, StoreError> {
        if let Ok(false) = path.try_exists() {
            return Ok(None);
        }
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
        let settings = |conn: &Connection| -> rusqlite::Result<i64> {
            conn.busy_timeout(BUSY_TIMEOUT)?;
            conn.pragma_update(None, "query_only", true)?;
            conn.set_prepared_statement_cache_capacity(64);
            conn.pragma_query_value(None, "user_version", |row| row.get(0))
        };
        let found = settings(&conn).map_err(open_err)?;
        if found != schema::VERSION {
            return Err(StoreError::Data {
                path: path.to_path_buf(),
                op: "open for lookups",
                detail: format!(
                    "schema version {found}, not {}; start the daemon (or `once`) to migrate \
                     it",
                    schema::VERSION
                ),
            });
        }
        Ok(Some(Store {
            conn,
            path: path.to_path_buf(),
        }))
    }

    /// A private database that lives as long as the value: for tests and `scan`.
    pub fn in_memory() -> Result<Store, StoreError> {
        let path = PathBuf::from(":memory:");
        let conn = Connection::open_in_memory().map_err(|source| StoreError::Open {
            path: path.clone(),
            source,
        })?;
        Store::init(conn, path)
    }

    fn connect(path: &Path, flags: OpenFlags) -> Result<Store, StoreError> {
        let conn = Connection::open_with_flags(path, flags).map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        Store::init(conn, path.to_path_buf())
    }

    fn init(mut conn: Connection, path: PathBuf) -> Result<Store, StoreError> {
        let settings = |conn: &Connection| -> rusqlite::Result<()> {
            conn.busy_timeout(BUSY_TIMEOUT)?;
            conn.pragma_update(None, "foreign_keys", true)?;
            // An in-memory database answers "memory": nothing to check.
            let _mode: String =
                conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
            // Safe with WAL (no corruption on power loss), and a commit costs no fsync.
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn.set_prepared_statement_cache_capacity(64);
            Ok(())
        };
        if let Err(source) = settings(&conn) {
            return Err(StoreError::Open { path, source });
        }
        schema::migrate(&mut conn, &path)?;
        Ok(Store { conn, path })
    }

    /// How many feeds, items and alerts (by status) the store holds.
    pub fn counts(&self) -> Result<StoreCounts, StoreError> {
        let sql = "SELECT (SELECT count(*) FROM feeds), (SELECT count(*) FROM items),
                          (SELECT count(*) FROM alerts WHERE status = 'pending'),
                          (SELECT count(*) FROM alerts WHERE status = 'delivered'),
                          (SELECT count(*) FROM alerts WHERE status = 'failed'),
                          (SELECT count(*) FROM alerts WHERE status = 'skipped')";
        let read = || -> rusqlite::Result<StoreCounts> {
            self.conn.prepare_cached(sql)?.query_row([], |row| {
                Ok(StoreCounts {
                    feeds: row.get(0)?,
                    items: row.get(1)?,
                    alerts_pending: row.get(2)?,
                    alerts_delivered: row.get(3)?,
                    alerts_failed: row.get(4)?,
                    alerts_skipped: row.get(5)?,
                })
            })
        };
        read().map_err(|e| Fault::from(e).at(&self.path, "count rows"))
    }
}

/// What went wrong inside the store, before it is given the file name and operation.
#[derive(Debug)]
enum Fault {
    Sql(rusqlite::Error),
    Data(String),
    NotFound(String),
    /// A user's search query FTS5 rejects; the reason is for that user.
    BadQuery(String),
}

impl From<rusqlite::Error> for Fault {
    fn from(e: rusqlite::Error) -> Fault {
        Fault::Sql(e)
    }
}

impl Fault {
    fn at(self, path: &Path, op: &'static str) -> StoreError {
        let path = path.to_path_buf();
        match self {
            Fault::Sql(source) => StoreError::Sql { path, op, source },
            Fault::Data(detail) => StoreError::Data { path, op, detail },
            Fault::NotFound(what) => StoreError::NotFound { path, op, what },
            Fault::BadQuery(reason) => StoreError::BadQuery { reason },
        }
    }
}

/// A time as stored: RFC 3339 text in UTC with a fixed nine-digit fraction, so that text
/// order is time order and a value reads back exactly as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ts(DateTime<Utc>);

impl ToSql for Ts {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(
            self.0.to_rfc3339_opts(SecondsFormat::Nanos, true),
        ))
    }
}

impl FromSql for Ts {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Ts> {
        let text = value.as_str()?;
        DateTime::parse_from_rfc3339(text)
            .map(|t| Ts(t.with_timezone(&Utc)))
            .map_err(|e| FromSqlError::Other(format!("bad timestamp {text:?}: {e}").into()))
    }
}

/// How `item_mentions.category` spells each category.
fn category_name(category: Category) -> &'static str {
    match category {
        Category::Actors => "actor",
        Category::Sectors => "sector",
        Category::Regions => "region",
    }
}

/// `Option<Ts>` read back as `Option<DateTime<Utc>>`.
fn time(ts: Option<Ts>) -> Option<DateTime<Utc>> {
    ts.map(|t| t.0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::test_support::*;
    use super::*;

    #[test]
    fn open_creates_the_file_and_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/deeper/threatwatch.db");
        let store = Store::open(&path).unwrap();
        assert!(path.exists());
        assert_eq!(store.counts().unwrap(), StoreCounts::default());
    }

    #[test]
    fn open_existing_on_a_missing_file_is_none_and_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/threatwatch.db");
        assert!(Store::open_existing(&path).unwrap().is_none());
        let path = dir.path().join("threatwatch.db");
        assert!(Store::open_existing(&path).unwrap().is_none());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn open_existing_opens_what_open_created() {
        let (_dir, path) = temp_db();
        let mut store = Store::open(&path).unwrap();
        seed_feed(&mut store, "a", 3);
        drop(store);
        let store = Store::open_existing(&path).unwrap().unwrap();
        assert_eq!(store.counts().unwrap().items, 3);
    }

    #[test]
    fn two_stores_on_one_file_see_each_other() {
        let (_dir, path) = temp_db();
        let mut a = Store::open(&path).unwrap();
        let mut b = Store::open(&path).unwrap();
        seed_feed(&mut a, "a", 2);
        assert_eq!(b.counts().unwrap().items, 2);
        seed_feed(&mut b, "b", 5);
        assert_eq!(a.counts().unwrap().items, 7);
        // A reader holding a snapshot does not block a writer (WAL).
        let tx = a.conn.unchecked_transaction().unwrap();
        let n: i64 = tx
            .query_row("SELECT count(*) FROM items", [], |r| r.get(0))
            .unwrap();
        seed_feed(&mut b, "c", 1);
        assert_eq!(n, 7);
        drop(tx);
        assert_eq!(a.counts().unwrap().items, 8);
    }

    #[test]
    fn a_reader_sees_the_writer_and_cannot_write() {
        let (_dir, path) = temp_db();
        assert!(Store::open_reader(&path).unwrap().is_none());
        assert!(!path.exists(), "a reader creates nothing");

        let mut writer = Store::open(&path).unwrap();
        let reader = Store::open_reader(&path).unwrap().unwrap();
        let since = RecentFilter {
            actor: None,
            sector: None,
            region: None,
            since: at(-60),
            limit: 10,
        };
        assert!(reader.recent(&since).unwrap().is_empty());
        seed_feed(&mut writer, "a", 2);
        assert_eq!(reader.recent(&since).unwrap().len(), 2);
        seed_feed(&mut writer, "b", 1);
        assert_eq!(reader.counts().unwrap().items, 3);

        let query_only: i64 = reader
            .conn
            .pragma_query_value(None, "query_only", |r| r.get(0))
            .unwrap();
        assert_eq!(query_only, 1);
        let mut reader = reader;
        let batch = items("c", 1);
        let err = reader
            .commit_poll(&poll("c", &batch, SeedMode::AlertAll), &mut |_| vec![])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "database {}: cannot commit poll: attempt to write a readonly database",
                path.display()
            )
        );
        assert_eq!(writer.counts().unwrap().items, 3);

        // With the writer gone (the last to close removes the WAL files), a reader still
        // opens.
        drop(reader);
        drop(writer);
        let wal = path.with_extension("db-wal");
        assert!(!wal.exists(), "{}", wal.display());
        let reader = Store::open_reader(&path).unwrap().unwrap();
        assert_eq!(reader.recent(&since).unwrap().len(), 3);
    }

    #[test]
    fn a_reader_needs_the_current_schema() {
        let (_dir, path) = temp_db();
        let store = Store::open(&path).unwrap();
        store
            .conn
            .pragma_update(None, "user_version", schema::VERSION - 1)
            .unwrap();
        drop(store);
        let err = Store::open_reader(&path).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "database {}: cannot open for lookups: schema version {}, not {}; start the \
                 daemon (or `once`) to migrate it",
                path.display(),
                schema::VERSION - 1,
                schema::VERSION
            )
        );
    }

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        // A folder where the file should be.
        let err = Store::open(dir.path()).unwrap_err().to_string();
        let want = format!("cannot open database {}: ", dir.path().display());
        assert!(err.starts_with(&want), "{err}");

        let path = dir.path().join("threatwatch.db");
        std::fs::write(
            &path,
            b"this is not a database, just text long enough to matter",
        )
        .unwrap();
        let err = Store::open_existing(&path).unwrap_err().to_string();
        assert!(err.contains("threatwatch.db"), "{err}");
    }

    #[test]
    fn in_memory_works() {
        let mut store = Store::in_memory().unwrap();
        seed_feed(&mut store, "a", 4);
        assert_eq!(store.counts().unwrap().items, 4);
    }

    #[test]
    fn timestamps_are_rfc3339_utc_and_round_trip() {
        let store = Store::in_memory().unwrap();
        let t = at(0) + chrono::Duration::nanoseconds(123_456_789);
        let text: String = store
            .conn
            .query_row("SELECT ?1", [Ts(t)], |r| r.get(0))
            .unwrap();
        assert_eq!(text, "2021-08-03T12:00:00.123456789Z");
        let back: Ts = store
            .conn
            .query_row("SELECT ?1", [&text], |r| r.get(0))
            .unwrap();
        assert_eq!(back.0, t);
    }
}
