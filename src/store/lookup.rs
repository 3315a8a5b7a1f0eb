//! The queries behind the slash commands: `/recent` and `/actor` read the entity index
//! (`item_mentions`, written by the poll commit), `/search` the full-text index.
//!
//! Lists show an article once even when several feeds carried it (same URL): the newest
//! (or best ranked) copy wins. Counts count stored items, so they stay one index range
//! each and do not read the items themselves.
//!
//! Must not: write, or read the clock (`now` and `since` are parameters); hand FTS5 a
//! query `search_query` has not checked.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use rusqlite::{params, Connection, ErrorCode, Row, Statement};

use super::{category_name, search_query, time, Fault, Store, StoreError, Ts};
use crate::model::Category;

/// One stored article, as lookups list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Article {
    pub feed: String,
    pub title: String,
    pub url: Option<String>,
    pub published: Option<DateTime<Utc>>,
    pub first_seen: DateTime<Utc>,
}

impl Article {
    /// The time to show and sort by: published, else first seen.
    pub fn time(&self) -> DateTime<Utc> {
        self.published.unwrap_or(self.first_seen)
    }
}

/// What `/recent` asks for: articles since `since` mentioning every name given (each in
/// its category), newest first, at most `limit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentFilter {
    pub actor: Option<String>,
    pub sector: Option<String>,
    pub region: Option<String>,
    pub since: DateTime<Utc>,
    pub limit: usize,
}

/// What `/actor` shows about one entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mentions {
    /// The newest articles mentioning it, whatever their age.
    pub latest: Vec<Article>,
    /// Items mentioning it with a time at or after `now` minus 7 (30) days.
    pub last_7_days: u64,
    pub last_30_days: u64,
}

/// One `/search` result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchHit {
    pub article: Article,
    /// About 24 words of the best matching column, each matched term between `\u{2}`
    /// and `\u{3}`, `…` where text was cut.
    pub snippet: String,
}

/// Candidates counted per filter when choosing which one drives a `/recent` query:
/// enough to tell a rare name from a common one without reading all of either.
const SELECTIVITY_PROBE: i64 = 2_000;

/// `/search` ranks only the newest this many matches. FTS5 computes bm25 for every match
/// before it sorts (`ORDER BY rank LIMIT n` still ranks them all), so a common word in
/// 100,000 articles would cost far more than a reply may; in news, recent is relevant.
const SEARCH_WINDOW: usize = 1_000;

/// Title matters most: an article named after the query is about it.
const BM25: &str = "bm25(10.0, 2.0, 1.0)";

const ARTICLE_COLUMNS: &str = "i.feed, i.title, i.url, i.published, i.first_seen";

impl Store {
    /// Articles since `filter.since` that mention every name the filter gives, newest
    /// first; with no name, every article since then.
    pub fn recent(&self, filter: &RecentFilter) -> Result<Vec<Article>, StoreError> {
        let names: Vec<(Category, &str)> = [
            (Category::Actors, &filter.actor),
            (Category::Sectors, &filter.sector),
            (Category::Regions, &filter.region),
        ]
        .into_iter()
        .filter_map(|(c, n)| Some((c, n.as_deref()?)))
        .collect();
        newest(&self.conn, &names, Some(filter.since), filter.limit)
            .map_err(|f| f.at(&self.path, "list recent articles"))
    }

    /// The newest `limit` articles mentioning `name` in `category`, and how many items
    /// did in the 7 and 30 days before `now`.
    pub fn mentions(
        &self,
        category: Category,
        name: &str,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<Mentions, StoreError> {
        let read = || -> Result<Mentions, Fault> {
            let latest = newest(&self.conn, &[(category, name)], None, limit)?;
            let sql = "SELECT count(*), count(*) FILTER (WHERE at >= ?4) FROM item_mentions
                       WHERE category = ?1 AND name = ?2 AND at >= ?3";
            let (last_30_days, last_7_days) = self.conn.prepare_cached(sql)?.query_row(
                params![
                    category_name(category),
                    name,
                    Ts(now - Duration::days(30)),
                    Ts(now - Duration::days(7)),
                ],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            Ok(Mentions {
                latest,
                last_7_days,
                last_30_days,
            })
        };
        read().map_err(|f| f.at(&self.path, "count mentions"))
    }

    /// Full-text search of titles, summaries and contents: at most `limit` hits, best
    /// first (bm25, the title weighted highest) among the newest matches. `query` is what
    /// the user typed; one FTS5 cannot run is a `StoreError::BadQuery` saying why.
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<SearchHit>, StoreError> {
        let run = || -> Result<Vec<SearchHit>, Fault> {
            let fts = search_query::to_fts5(query).map_err(Fault::BadQuery)?;
            search_fts5(&self.conn, &fts, limit, SEARCH_WINDOW)
        };
        run().map_err(|f| f.at(&self.path, "search articles"))
    }
}

/// Articles mentioning all of `names` (none: any article) with a time at or after
/// `since`, newest first, each URL once, at most `limit`.
fn newest(
    conn: &Connection,
    names: &[(Category, &str)],
    since: Option<DateTime<Utc>>,
    limit: usize,
) -> Result<Vec<Article>, Fault> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    // No lower bound: '' sorts before every stored time.
    let since = since.map(Ts);
    let since: &dyn rusqlite::ToSql = match &since {
        Some(ts) => ts,
        None => &"",
    };
    if names.is_empty() {
        let mut stmt = conn.prepare_cached(&any_sql())?;
        return distinct_articles(&mut stmt, &[since], limit);
    }

    // Walk the rarest name's index range newest first and keep the items that mention
    // the others too: the work is bounded by the rarest name, not the most common.
    let mut ranked: Vec<(i64, &str, &str)> = names
        .iter()
        .map(|&(category, name)| (0, category_name(category), name))
        .collect();
    if ranked.len() > 1 {
        let probe = "SELECT count(*) FROM (SELECT 1 FROM item_mentions
                     WHERE category = ?1 AND name = ?2 AND at >= ?3 LIMIT ?4)";
        let mut stmt = conn.prepare_cached(probe)?;
        for (n, category, name) in &mut ranked {
            *n = stmt.query_row(params![*category, *name, since, SELECTIVITY_PROBE], |r| {
                r.get(0)
            })?;
            if *n == 0 {
                return Ok(Vec::new());
            }
        }
        ranked.sort_by_key(|&(n, ..)| n);
    }

    let sql = mentions_sql(ranked.len());
    let mut args: Vec<&dyn rusqlite::ToSql> = vec![&ranked[0].1, &ranked[0].2, since];
    for (_, category, name) in &ranked[1..] {
        args.push(category);
        args.push(name);
    }
    let mut stmt = conn.prepare_cached(&sql)?;
    distinct_articles(&mut stmt, &args, limit)
}

/// Every article since ?1, newest first (`items_by_time`).
fn any_sql() -> String {
    format!(
        "SELECT {ARTICLE_COLUMNS} FROM items AS i
         WHERE coalesce(i.published, i.first_seen) >= ?1
         ORDER BY coalesce(i.published, i.first_seen) DESC, i.id DESC"
    )
}

/// Articles mentioning ?1/?2 (category, name) since ?3, newest first, that also mention
/// each of the `names - 1` further pairs ?4/?5, ?6/?7...: a backward walk of
/// `item_mentions_by_time`, each further name one primary-key lookup.
fn mentions_sql(names: usize) -> String {
    let mut sql = format!(
        "SELECT {ARTICLE_COLUMNS} FROM item_mentions AS m JOIN items AS i ON i.id = m.item_id
         WHERE m.category = ?1 AND m.name = ?2 AND m.at >= ?3"
    );
    for k in 1..names {
        let (c, n) = (2 + 2 * k, 3 + 2 * k);
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM item_mentions AS x
                          WHERE x.category = ?{c} AND x.name = ?{n} AND x.item_id = m.item_id)"
        ));
    }
    sql.push_str(" ORDER BY m.at DESC, m.item_id DESC");
    sql
}

/// The first `limit` rows of `stmt` (article columns first) whose URL was not listed
/// yet. Rows are read one by one, so only what is kept (and skipped) is ever computed.
fn distinct_articles(
    stmt: &mut Statement<'_>,
    args: &[&dyn rusqlite::ToSql],
    limit: usize,
) -> Result<Vec<Article>, Fault> {
    let mut out = Vec::new();
    let mut urls = HashSet::new();
    let mut rows = stmt.query(args)?;
    while out.len() < limit {
        let Some(row) = rows.next()? else { break };
        let article = article(row)?;
        if article.url.as_ref().is_none_or(|u| urls.insert(u.clone())) {
            out.push(article);
        }
    }
    Ok(out)
}

fn article(row: &Row<'_>) -> rusqlite::Result<Article> {
    Ok(Article {
        feed: row.get(0)?,
        title: row.get(1)?,
        url: row.get(2)?,
        published: time(row.get(3)?),
        first_seen: row.get::<_, Ts>(4)?.0,
    })
}

/// Runs an FTS5 query (already checked or, in tests, raw): the best `limit` hits among
/// the newest `window` matches, each URL once.
fn search_fts5(
    conn: &Connection,
    fts: &str,
    limit: usize,
    window: usize,
) -> Result<Vec<SearchHit>, Fault> {
    if limit == 0 || window == 0 {
        return Ok(Vec::new());
    }
    // FTS5 reads its doclists newest (highest rowid) first cheaply and can start a
    // query at a rowid, so the window is a rowid bound; ids grow with time.
    let floor = "SELECT rowid FROM items_fts WHERE items_fts MATCH ?1
                 ORDER BY rowid DESC LIMIT 1 OFFSET ?2";
    let floor: i64 = match conn
        .prepare_cached(floor)?
        .query_row(params![fts, window - 1], |r| r.get(0))
    {
        Ok(id) => id,
        Err(rusqlite::Error::QueryReturnedNoRows) => 0,
        Err(e) => return Err(bad_query(e)),
    };
    // A few extra rows make up for copies of one article in several feeds.
    let fetch = limit.min(window) + 5;
    let mut stmt = conn.prepare_cached(&search_sql())?;
    let mut rows = stmt.query(params![fts, floor, fetch]).map_err(bad_query)?;
    let mut out = Vec::new();
    let mut urls = HashSet::new();
    while out.len() < limit {
        let Some(row) = rows.next().map_err(bad_query)? else {
            break;
        };
        let article = article(row)?;
        if article.url.as_ref().is_none_or(|u| urls.insert(u.clone())) {
            out.push(SearchHit {
                article,
                snippet: row.get(5)?,
            });
        }
    }
    Ok(out)
}

/// The ranked search over a rowid window. Snippets are computed only for the rows the
/// inner LIMIT keeps (the subquery is not flattened into the join).
fn search_sql() -> String {
    format!(
        "SELECT {ARTICLE_COLUMNS}, f.snippet
         FROM (SELECT rowid AS id, rank,
                      snippet(items_fts, -1, char(2), char(3), '…', 24) AS snippet
               FROM items_fts
               WHERE items_fts MATCH ?1 AND rank MATCH '{BM25}' AND rowid >= ?2
               ORDER BY rank LIMIT ?3) AS f
         JOIN items AS i ON i.id = f.id
         ORDER BY f.rank"
    )
}

/// An error running a MATCH: FTS5 reports what it cannot parse or run as a plain
/// SQLITE_ERROR while stepping, which is about the query, not the database.
fn bad_query(e: rusqlite::Error) -> Fault {
    match e.sqlite_error_code() {
        Some(ErrorCode::Unknown) => Fault::BadQuery(match &e {
            rusqlite::Error::SqliteFailure(_, Some(msg)) => msg.clone(),
            _ => e.to_string(),
        }),
        _ => Fault::Sql(e),
    }
}
