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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
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

/// `/search` ranks only the newest this many matches: a common word in 100,000 articles
/// would otherwise cost more than a reply may, and in news, recent is relevant.
const SEARCH_WINDOW: usize = 300;

/// Items mentioning ?1/?2 (category, name) since ?3, and since ?4 (a later time).
const COUNT_SQL: &str = "SELECT count(*), count(*) FILTER (WHERE at >= ?4) FROM item_mentions
                         WHERE category = ?1 AND name = ?2 AND at >= ?3";

/// How many items mention ?1/?2 since ?3, counting no further than ?4.
const PROBE_SQL: &str = "SELECT count(*) FROM (SELECT 1 FROM item_mentions
                         WHERE category = ?1 AND name = ?2 AND at >= ?3 LIMIT ?4)";

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
            let (last_30_days, last_7_days) = self.conn.prepare_cached(COUNT_SQL)?.query_row(
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

    /// Full-text search of titles, summaries and contents: at most `limit` hits among the
    /// newest matches, those with the query in their title first, then newest first. `query` is what
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
        let mut stmt = conn.prepare_cached(PROBE_SQL)?;
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
    // query at a rowid, so the window is a rowid bound (ids grow as items are first seen).
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
    // Articles with the query in their title first, then the rest, newest first. bm25
    // would cost a pass over every article containing each phrase (to weigh it), which
    // for a phrase of common words is most of a reply's time budget.
    let title = format!("{{title}} : ({fts})");
    let ids: Vec<i64> = {
        let mut stmt = conn.prepare_cached(RANK_SQL)?;
        let rows = stmt
            .query_map(params![fts, floor, fetch, title], |r| r.get(0))
            .map_err(bad_query)?;
        rows.collect::<Result<_, _>>().map_err(bad_query)?
    };
    let mut stmt = conn.prepare_cached(&hit_sql())?;
    let mut out = Vec::new();
    let mut urls = HashSet::new();
    for id in ids {
        if out.len() == limit {
            break;
        }
        let mut rows = stmt.query(params![fts, id]).map_err(bad_query)?;
        let Some(row) = rows.next().map_err(bad_query)? else {
            continue;
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

/// Matches ?1 in the window from rowid ?2: title matches (?4) first, then newest first.
/// The title subquery runs once, bounded by the same window.
const RANK_SQL: &str = "SELECT rowid FROM items_fts
     WHERE items_fts MATCH ?1 AND rowid >= ?2
     ORDER BY rowid IN (SELECT rowid FROM items_fts WHERE items_fts MATCH ?4 AND rowid >= ?2) DESC,
              rowid DESC
     LIMIT ?3";

/// One hit: the article and its snippet from the best matching column.
fn hit_sql() -> String {
    format!(
        "SELECT {ARTICLE_COLUMNS}, snippet(items_fts, -1, char(2), char(3), '…', 24)
         FROM items_fts JOIN items AS i ON i.id = items_fts.rowid
         WHERE items_fts MATCH ?1 AND items_fts.rowid = ?2"
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

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::super::test_support::*;
    use super::super::{PollCommit, SeedMode};
    use super::*;
    use crate::model::Category::{Actors, Regions, Sectors};
    use crate::model::Item;

    const DAY: i64 = 24 * 60;

    /// One article for a fixture: (feed, key, title, url, published minutes from `at(0)`,
    /// mentions).
    type Fixture<'a> = (
        &'a str,
        &'a str,
        &'a str,
        Option<&'a str>,
        Option<i64>,
        &'a [(Category, &'a str)],
    );

    /// A store holding `articles`, each feed's polled once at `at(60)`, in order.
    fn store_with(articles: &[Fixture<'_>]) -> Store {
        let mut store = Store::in_memory().unwrap();
        for &(feed, key, title, url, published, found) in articles {
            let mut it = item(feed, key, url, published);
            it.title = title.into();
            let map = mention_map(&[(key, found)]);
            commit(&mut store, &[it], &map);
        }
        store
    }

    fn commit(
        store: &mut Store,
        items: &[Item],
        map: &std::collections::HashMap<crate::model::ItemKey, Vec<(Category, String)>>,
    ) {
        let p = PollCommit {
            mentions: Some(map),
            ..poll(&items[0].feed, items, SeedMode::AlertAll)
        };
        store.commit_poll(&p, &mut |_| vec![]).unwrap();
    }

    const TELCO_SEA: &[(Category, &str)] = &[
        (Actors, "APT27"),
        (Sectors, "Telecommunications"),
        (Regions, "Southeast Asia"),
    ];

    fn news() -> Store {
        store_with(&[
            (
                "a",
                "k1",
                "APT27 hits telcos",
                Some("https://n.test/1"),
                Some(-DAY),
                TELCO_SEA,
            ),
            (
                "a",
                "k2",
                "APT27 phishes Germany",
                Some("https://n.test/2"),
                Some(-2 * DAY),
                &[(Actors, "APT27"), (Regions, "Europe")],
            ),
            (
                "a",
                "k3",
                "Telecom outage in Thailand",
                Some("https://n.test/3"),
                Some(-3 * DAY),
                &[(Sectors, "Telecommunications"), (Regions, "Southeast Asia")],
            ),
            (
                "a",
                "k4",
                "APT27 and APT41 target telcos",
                Some("https://n.test/4"),
                Some(-10 * DAY),
                &[
                    (Actors, "APT27"),
                    (Actors, "APT41"),
                    (Sectors, "Telecommunications"),
                    (Regions, "Southeast Asia"),
                ],
            ),
            // Undated: its time is when it was first seen, `at(60)`.
            (
                "a",
                "k5",
                "Undated APT27 note",
                Some("https://n.test/5"),
                None,
                &[(Actors, "APT27")],
            ),
            // The same article as k1 in another feed.
            (
                "b",
                "k6",
                "APT27 hits telcos",
                Some("https://n.test/1"),
                Some(-DAY),
                TELCO_SEA,
            ),
            (
                "a",
                "k7",
                "Old APT27 report",
                Some("https://n.test/7"),
                Some(-40 * DAY),
                &[(Actors, "APT27")],
            ),
            (
                "b",
                "k8",
                "APT27, 7 days ago",
                None,
                Some(-7 * DAY),
                &[(Actors, "APT27")],
            ),
        ])
    }

    fn listed(articles: &[Article]) -> Vec<String> {
        articles
            .iter()
            .map(|a| format!("{}: {}", a.feed, a.title))
            .collect()
    }

    #[test]
    fn recent_filters_combine_with_and() {
        let store = news();
        let filter = |names: [Option<&str>; 3], since_days: i64, limit: usize| RecentFilter {
            actor: names[0].map(Into::into),
            sector: names[1].map(Into::into),
            region: names[2].map(Into::into),
            since: at(-since_days * DAY),
            limit,
        };
        let apt27 = |since_days, limit| filter([Some("APT27"), None, None], since_days, limit);
        let apt27_telco = [Some("APT27"), Some("Telecommunications"), None];
        let telco_sea = [None, Some("Telecommunications"), Some("Southeast Asia")];
        let all_three = [
            Some("APT27"),
            Some("Telecommunications"),
            Some("Southeast Asia"),
        ];
        let anything = [None, None, None];
        let cases: &[(RecentFilter, &[&str])] = &[
            // Newest first; the copy of k1 in feed b (same URL, higher id) stands for both.
            (
                apt27(30, 10),
                &[
                    "a: Undated APT27 note",
                    "b: APT27 hits telcos",
                    "a: APT27 phishes Germany",
                    "b: APT27, 7 days ago",
                    "a: APT27 and APT41 target telcos",
                ],
            ),
            (
                apt27(30, 2),
                &["a: Undated APT27 note", "b: APT27 hits telcos"],
            ),
            (apt27(0, 10), &["a: Undated APT27 note"]),
            // `since` is inclusive.
            (
                apt27(7, 10),
                &[
                    "a: Undated APT27 note",
                    "b: APT27 hits telcos",
                    "a: APT27 phishes Germany",
                    "b: APT27, 7 days ago",
                ],
            ),
            (
                apt27(90, 100),
                &[
                    "a: Undated APT27 note",
                    "b: APT27 hits telcos",
                    "a: APT27 phishes Germany",
                    "b: APT27, 7 days ago",
                    "a: APT27 and APT41 target telcos",
                    "a: Old APT27 report",
                ],
            ),
            (
                filter(apt27_telco, 30, 10),
                &["b: APT27 hits telcos", "a: APT27 and APT41 target telcos"],
            ),
            (
                filter(telco_sea, 5, 10),
                &["b: APT27 hits telcos", "a: Telecom outage in Thailand"],
            ),
            (
                filter(all_three, 30, 10),
                &["b: APT27 hits telcos", "a: APT27 and APT41 target telcos"],
            ),
            (
                filter([Some("APT41"), Some("Telecommunications"), None], 30, 10),
                &["a: APT27 and APT41 target telcos"],
            ),
            (
                filter([None, Some("Telecommunications"), Some("Europe")], 30, 10),
                &[],
            ),
            (filter([Some("APT27"), None, Some("Europe")], 1, 10), &[]),
            // Names are canonical and exact.
            (filter([Some("apt27"), None, None], 30, 10), &[]),
            (filter([Some("Nobody"), None, None], 30, 10), &[]),
            (
                filter(anything, 2, 10),
                &[
                    "a: Undated APT27 note",
                    "b: APT27 hits telcos",
                    "a: APT27 phishes Germany",
                ],
            ),
            (filter(anything, 90, 1), &["a: Undated APT27 note"]),
            (filter(anything, 90, 0), &[]),
            (apt27(90, 0), &[]),
        ];
        for (f, want) in cases {
            assert_eq!(listed(&store.recent(f).unwrap()), *want, "{f:?}");
        }
    }

    #[test]
    fn articles_carry_their_feed_link_and_times() {
        let store = news();
        let f = RecentFilter {
            actor: Some("APT27".into()),
            sector: None,
            region: None,
            since: at(-DAY),
            limit: 2,
        };
        let got = store.recent(&f).unwrap();
        let want = [
            Article {
                feed: "a".into(),
                title: "Undated APT27 note".into(),
                url: Some("https://n.test/5".into()),
                published: None,
                first_seen: at(60),
            },
            Article {
                feed: "b".into(),
                title: "APT27 hits telcos".into(),
                url: Some("https://n.test/1".into()),
                published: Some(at(-DAY)),
                first_seen: at(60),
            },
        ];
        assert_eq!(got, want);
        assert_eq!(
            got.iter().map(Article::time).collect::<Vec<_>>(),
            [at(60), at(-DAY)]
        );
    }

    /// (category, name, limit, now in minutes from `at(0)`, latest, last 7 days, last 30).
    type MentionCase<'a> = (Category, &'a str, usize, i64, &'a [&'a str], u64, u64);

    #[test]
    fn mentions_list_the_latest_and_count_7_and_30_days() {
        let store = news();
        let cases: &[MentionCase<'_>] = &[
            // k1 and its copy k6 count as two items; the list shows the article once.
            // k8 is exactly 7 days old: counted. k7 is 40 days old: listed, not counted.
            (
                Actors,
                "APT27",
                3,
                0,
                &[
                    "a: Undated APT27 note",
                    "b: APT27 hits telcos",
                    "a: APT27 phishes Germany",
                ],
                5,
                6,
            ),
            (
                Actors,
                "APT27",
                10,
                0,
                &[
                    "a: Undated APT27 note",
                    "b: APT27 hits telcos",
                    "a: APT27 phishes Germany",
                    "b: APT27, 7 days ago",
                    "a: APT27 and APT41 target telcos",
                    "a: Old APT27 report",
                ],
                5,
                6,
            ),
            // Twenty days on, nothing is within 7 days; k4 is exactly 30 days old: counted.
            (Actors, "APT27", 0, 20 * DAY, &[], 0, 6),
            (
                Actors,
                "APT41",
                5,
                0,
                &["a: APT27 and APT41 target telcos"],
                0,
                1,
            ),
            (
                Regions,
                "Southeast Asia",
                5,
                0,
                &[
                    "b: APT27 hits telcos",
                    "a: Telecom outage in Thailand",
                    "a: APT27 and APT41 target telcos",
                ],
                3,
                4,
            ),
            (Sectors, "Energy", 5, 0, &[], 0, 0),
            // The same name in another category is another entity.
            (Sectors, "APT27", 5, 0, &[], 0, 0),
        ];
        for &(category, name, limit, now, latest, last_7, last_30) in cases {
            let m = store.mentions(category, name, limit, at(now)).unwrap();
            let got = (listed(&m.latest), m.last_7_days, m.last_30_days);
            let want = (
                latest.iter().map(|s| s.to_string()).collect(),
                last_7,
                last_30,
            );
            assert_eq!(got, want, "{category:?} {name} {now}");
        }
    }

    /// A store of articles with text: (key, title, summary, content), in id order.
    fn texts(articles: &[(&str, &str, &str, &str)]) -> Store {
        let mut store = Store::in_memory().unwrap();
        for (n, &(key, title, summary, content)) in articles.iter().enumerate() {
            let url = format!("https://n.test/{key}");
            let mut it = item("a", key, Some(&url), Some(n as i64));
            (it.title, it.summary, it.content) = (title.into(), summary.into(), content.into());
            commit(&mut store, &[it], &Default::default());
        }
        store
    }

    fn library() -> Store {
        texts(&[
            (
                "s1",
                "Emissary Panda returns",
                "Espionage against telecom carriers.",
                "",
            ),
            (
                "s2",
                "Weekly roundup",
                "Many stories.",
                "This week TG-3390 was seen again, and Emissary Panda tooling appeared in \
                 ransomware incidents.",
            ),
            (
                "s3",
                "Ransomware hits hospitals",
                "LockBit affiliates encrypted systems.",
                "",
            ),
            (
                "s4",
                "Patch Tuesday",
                "Fixes for Exchange and the o'brien bug.",
                "",
            ),
        ])
    }

    fn titles(hits: &[SearchHit]) -> Vec<&str> {
        hits.iter().map(|h| h.article.title.as_str()).collect()
    }

    #[test]
    fn search_understands_what_users_type() {
        let store = library();
        let cases: &[(&str, &[&str])] = &[
            ("espionage", &["Emissary Panda returns"]),
            ("tooling", &["Weekly roundup"]),
            ("TOOLING", &["Weekly roundup"]),
            ("TG-3390", &["Weekly roundup"]),
            ("tg 3390", &["Weekly roundup"]),
            ("TG-3390 telecom", &[]),
            ("3390-TG", &[]),
            // Title matches first.
            (
                r#""Emissary Panda""#,
                &["Emissary Panda returns", "Weekly roundup"],
            ),
            (r#""panda emissary""#, &[]),
            ("ransom*", &["Ransomware hits hospitals", "Weekly roundup"]),
            ("ransom", &[]),
            ("apt27 OR hospitals", &["Ransomware hits hospitals"]),
            ("ransomware NOT lockbit", &["Weekly roundup"]),
            ("(lockbit OR exchange) patch", &["Patch Tuesday"]),
            ("o'brien", &["Patch Tuesday"]),
            ("exchange.", &["Patch Tuesday"]),
            ("title:patch", &[]),
            ("nothing-like-this", &[]),
        ];
        for (query, want) in cases {
            let hits = store.search(query, 10).unwrap();
            assert_eq!(titles(&hits), *want, "{query:?}");
        }
        assert_eq!(
            titles(&store.search("ransom*", 1).unwrap()),
            ["Ransomware hits hospitals"]
        );
        assert!(store.search("ransom*", 0).unwrap().is_empty());
    }

    #[test]
    fn title_matches_rank_above_body_only_matches() {
        let long = "Lazarus moved funds. ".repeat(5) + &"Filler words about nothing. ".repeat(20);
        let store = texts(&[
            ("body-many", "Crypto heist", "Lazarus again.", &long),
            (
                "title",
                "Lazarus steals crypto",
                "A new heist.",
                &"Filler. ".repeat(60),
            ),
            (
                "summary",
                "Weekly roundup",
                "Lazarus, Kimsuky and more.",
                "",
            ),
            (
                "body",
                "Another roundup",
                "",
                "In other news, Lazarus was seen.",
            ),
        ]);
        let hits = store.search("lazarus", 10).unwrap();
        assert_eq!(titles(&hits)[0], "Lazarus steals crypto");
        assert_eq!(hits.len(), 4);
    }

    #[test]
    fn snippets_mark_matches_in_the_best_column() {
        let long = (0..60)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        let long = long.replace("w30", "Sandworm");
        let store = texts(&[
            (
                "short",
                "Weekly roundup",
                "",
                "Emissary Panda tooling appeared.",
            ),
            ("long", "Grid attack", "", &long),
            ("title", "Sandworm strikes", "", ""),
        ]);
        let cases: &[(&str, &[&str])] = &[
            ("tooling", &["Emissary Panda \u{2}tooling\u{3} appeared."]),
            (
                r#""emissary panda""#,
                &["\u{2}Emissary Panda\u{3} tooling appeared."],
            ),
            (
                "sandworm",
                &[
                    "\u{2}Sandworm\u{3} strikes",
                    "…w19 w20 w21 w22 w23 w24 w25 w26 w27 w28 w29 \u{2}Sandworm\u{3} w31 w32 w33 \
                     w34 w35 w36 w37 w38 w39 w40 w41 w42…",
                ],
            ),
        ];
        for (query, want) in cases {
            let hits = store.search(query, 10).unwrap();
            let got: Vec<&str> = hits.iter().map(|h| h.snippet.as_str()).collect();
            assert_eq!(got, *want, "{query:?}");
        }
    }

    #[test]
    fn search_ranks_only_the_newest_matches() {
        let store = texts(&[
            ("old", "Beacon beacon beacon", "", ""),
            ("1", "One", "", "A beacon."),
            ("2", "Two", "", "A beacon."),
            ("3", "Three", "", "A beacon."),
        ]);
        let window = |w| {
            let hits = search_fts5(&store.conn, r#""beacon""#, 10, w).unwrap();
            let mut got = titles(&hits)
                .into_iter()
                .map(String::from)
                .collect::<Vec<_>>();
            got.sort();
            got
        };
        assert_eq!(window(3), ["One", "Three", "Two"]);
        assert_eq!(window(4), ["Beacon beacon beacon", "One", "Three", "Two"]);
        assert_eq!(window(0), Vec::<String>::new());
        let hits = store.search("beacon", 10).unwrap();
        assert_eq!(titles(&hits)[0], "Beacon beacon beacon");
    }

    #[test]
    fn search_lists_an_article_in_two_feeds_once() {
        let mut store = Store::in_memory().unwrap();
        for feed in ["a", "b"] {
            let mut it = item(feed, "k", Some("https://n.test/same"), Some(0));
            it.title = "Volt Typhoon in water utilities".into();
            commit(&mut store, &[it], &Default::default());
        }
        let hits = store.search("typhoon", 10).unwrap();
        assert_eq!(hits.len(), 1);
    }

    #[test]
    fn bad_queries_say_why_in_a_sentence() {
        let store = library();
        let tail = r#"; put phrases in "double quotes" and use AND, OR, NOT in capitals"#;
        let cases = [
            ("", "nothing to search for"),
            ("  - ", "nothing to search for"),
            (r#""Emissary Panda"#, "unbalanced double quote"),
            ("(apt27 OR apt41", "a ( without a matching )"),
            ("apt27)", "a ) without a matching ("),
            ("()", "empty parentheses"),
            ("apt27 OR", "OR needs something to search for on each side"),
            (
                "AND apt27",
                "AND needs something to search for on each side",
            ),
            (
                "NOT apt27",
                "NOT needs something to search for on each side",
            ),
            (
                "apt27 AND NOT china",
                "NOT needs something to search for on each side",
            ),
        ];
        for (query, reason) in cases {
            let err = store.search(query, 10).unwrap_err();
            assert!(
                matches!(err, StoreError::BadQuery { .. }),
                "{query:?}: {err:?}"
            );
            assert_eq!(err.to_string(), format!("bad search query: {reason}{tail}"));
        }
    }

    #[test]
    fn fts5_errors_are_bad_queries_too() {
        let store = library();
        let cases = [
            (r#""a" AND"#, r#"fts5: syntax error near """#),
            ("nosuchcolumn : a", "no such column: nosuchcolumn"),
        ];
        for (fts, reason) in cases {
            let err = search_fts5(&store.conn, fts, 10, 10).unwrap_err();
            assert!(
                matches!(&err, Fault::BadQuery(r) if r == reason),
                "{fts}: {err:?}"
            );
        }
    }

    /// The plan of `sql` as SQLite prints it, one line per step.
    fn plan(conn: &Connection, sql: &str, args: &[&dyn rusqlite::ToSql]) -> Vec<String> {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = stmt.query_map(args, |r| r.get::<_, String>(3)).unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    }

    #[test]
    fn lookups_walk_their_indexes() {
        let store = news();
        let conn = &store.conn;
        let walk = "SEARCH m USING COVERING INDEX item_mentions_by_time \
                    (category=? AND name=? AND at>?)";
        let also = "SEARCH x USING PRIMARY KEY (category=? AND name=? AND item_id=?)";
        let item = "SEARCH i USING INTEGER PRIMARY KEY (rowid=?)";
        let (a, s, r, t) = (&"actor", &"sector", &"region", &"");
        let cases: Vec<(String, Vec<&dyn rusqlite::ToSql>, Vec<&str>)> = vec![
            (mentions_sql(1), vec![a, &"APT27", t], vec![walk, item]),
            (
                mentions_sql(2),
                vec![a, &"APT27", t, s, &"Energy"],
                vec![walk, "CORRELATED SCALAR SUBQUERY 1", also, item],
            ),
            (
                mentions_sql(3),
                vec![a, &"APT27", t, s, &"Energy", r, &"Europe"],
                vec![
                    walk,
                    "CORRELATED SCALAR SUBQUERY 1",
                    also,
                    "CORRELATED SCALAR SUBQUERY 2",
                    also,
                    item,
                ],
            ),
            (
                any_sql(),
                vec![t],
                vec!["SEARCH i USING INDEX items_by_time (<expr>>?)"],
            ),
            (
                COUNT_SQL.into(),
                vec![a, &"APT27", t, t],
                vec![
                    "SEARCH item_mentions USING COVERING INDEX item_mentions_by_time \
                      (category=? AND name=? AND at>?)",
                ],
            ),
            (
                PROBE_SQL.into(),
                vec![a, &"APT27", t, &10],
                vec![
                    "CO-ROUTINE (subquery-1)",
                    "SEARCH item_mentions USING COVERING INDEX item_mentions_by_time \
                     (category=? AND name=? AND at>?)",
                    "SCAN (subquery-1)",
                ],
            ),
        ];
        for (sql, args, want) in &cases {
            assert_eq!(plan(conn, sql, args), *want, "{sql}");
        }
        // FTS5 answers MATCH and rowid >= itself; the title subquery runs once; each hit
        // is one FTS5 row by rowid and one item lookup.
        let got = plan(
            conn,
            RANK_SQL,
            &[&r#""apt27""#, &0, &10, &r#"{title} : ("apt27")"#],
        );
        assert!(
            got[0].starts_with("SCAN items_fts VIRTUAL TABLE INDEX "),
            "{got:?}"
        );
        assert!(
            got.iter().any(|l| l.starts_with("LIST SUBQUERY")),
            "{got:?}"
        );
        // The hit: the item by its id, and FTS5 constrained to that rowid (`0:=`).
        let got = plan(conn, &hit_sql(), &[&r#""apt27""#, &1]);
        assert!(
            got.contains(&"SEARCH i USING INTEGER PRIMARY KEY (rowid=?)".to_string()),
            "{got:?}"
        );
        assert!(
            got.iter()
                .any(|l| l.starts_with("SCAN items_fts VIRTUAL TABLE INDEX 0:=")),
            "{got:?}"
        );
    }

    use proptest::prelude::*;

    const PIECES: &[&str] = &[
        "AND", "OR", "NOT", "NEAR", "(", ")", "\"", "*", "-", ":", "^", "+", "'", ".", "apt27",
        "TG-3390", "panda", "ransom*", "title:", "{title}", "NEAR(", ",", "é", "\u{1a}",
    ];

    proptest! {
        #[test]
        fn any_text_searches_or_is_a_bad_query(
            parts in proptest::collection::vec((0..PIECES.len(), any::<bool>()), 0..12)
        ) {
            let store = library();
            let mut query = String::new();
            for (i, space) in parts {
                query.push_str(PIECES[i]);
                if space {
                    query.push(' ');
                }
            }
            match store.search(&query, 5) {
                Ok(_) | Err(StoreError::BadQuery { .. }) => {}
                Err(e) => panic!("{query:?}: {e}"),
            }
        }

        #[test]
        fn any_checked_query_runs(text in "\\PC{0,60}") {
            let store = library();
            if let Ok(fts) = search_query::to_fts5(&text) {
                prop_assert!(search_fts5(&store.conn, &fts, 5, 100).is_ok(), "{text:?} -> {fts}");
            }
        }
    }
}
