//! Wiring for each command: builds the store, fetcher, engine and sinks, runs the flow,
//! and decides exit codes. This is the binary's edge: errors become `anyhow` with context
//! here and nowhere else in the library.
//!
//! Flow per feed (ingest): `ingest::poll::poll_feed` (fetch -> parse -> normalize, no
//! store) -> `commit` (store/dedupe -> match -> alert, one transaction) -> sinks.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::Utc;

use crate::alert::deliver::Outbox;
use crate::alert::{self, render, render::Format};
use crate::catalog::Catalog;
use crate::config::{self, Config, ConfigError, FeedConfig, Poller, Source};
use crate::discord::{self, Token};
use crate::ingest::fetch::{Fetcher, Validators};
use crate::ingest::poll::{poll_feed, PollError, Polled};
use crate::lookup;
use crate::model::{Category, Item, ItemKey};
use crate::rules::Engine;
use crate::store::{PollCommit, PollOutcome, SeedMode, Store};

pub use crate::lookup::LookupKind;

mod catalogs;
mod daemon;
mod lookups;

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the async runtime")
}

/// Load the config, printing every located problem to stderr when it is invalid.
fn load(path: &Path) -> Result<Config> {
    match config::load(path) {
        Ok(c) => {
            for w in &c.warnings {
                tracing::warn!(warning = %w, "config");
            }
            Ok(c)
        }
        Err(ConfigError::Invalid { problems }) => {
            for p in &problems {
                eprintln!("{p}");
            }
            anyhow::bail!(
                "{} has {} problem{}",
                path.display(),
                problems.len(),
                if problems.len() == 1 { "" } else { "s" }
            )
        }
        Err(e) => Err(e.into()),
    }
}

/// The config when there is one; `scan` and `lookup` also work from the built-in catalog.
fn load_optional(path: &Path, explicit: bool) -> Result<Option<Config>> {
    if !explicit && !path.exists() {
        return Ok(None);
    }
    load(path).map(Some)
}

/// The config's catalog with the URL catalogs the store has cached (no network, no
/// writes): what `scan` and `lookup` answer from.
fn cached_catalog(config: &Config) -> Result<Arc<Catalog>> {
    if config.catalog.urls.is_empty() {
        return Ok(config.catalog_data.clone());
    }
    let store = Store::open_existing(&config.storage.path)?;
    let imported: catalogs::Imported = catalogs::plan(config, store.as_ref())
        .into_iter()
        .filter_map(|(u, body, _)| {
            let actors = catalogs::import_body(&u, &body?)?;
            Some((u, actors))
        })
        .collect();
    Ok(catalogs::merge(config, imported))
}

/// Whether an item is too old to alert.
fn too_old(item: &Item, max_age: Duration) -> bool {
    let Some(p) = item.published else {
        return false;
    };
    let age = Utc::now().signed_duration_since(p);
    age.to_std().is_ok_and(|a| a > max_age)
}

/// How a poll's alerts are committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Commit {
    /// Queued for the sinks (the daemon).
    Deliver,
    /// Printed by the caller and stored as skipped (`once` without Discord).
    Print,
    /// Computed, then rolled back (`once --dry-run`).
    DryRun,
}

/// Commit one poll: items, feed state and alerts in one transaction.
#[allow(clippy::too_many_arguments)]
pub(crate) fn commit(
    store: &mut Store,
    matched: &Matched,
    feed: &FeedConfig,
    items: &[Item],
    validators: &Validators,
    mode: SeedMode,
    how: Commit,
) -> Result<PollOutcome> {
    let now = Utc::now();
    let url = feed.source.to_string();
    let poll = PollCommit {
        feed: &feed.name,
        url: &url,
        items,
        etag: validators.etag.as_deref(),
        last_modified: validators.last_modified.as_deref(),
        at: now,
        next_poll: chrono::Duration::from_std(feed.interval)
            .ok()
            .map(|d| now + d),
        mode,
        deliver: how == Commit::Deliver,
        mentions: Some(&matched.mentions),
    };
    let mut decide = |item: &Item| matched.alerts.get(&item.key).cloned().unwrap_or_default();
    let outcome = if how == Commit::DryRun {
        store.commit_poll_dry(&poll, &mut decide)
    } else {
        store.commit_poll(&poll, &mut decide)
    };
    outcome.with_context(|| format!("store poll of feed {:?}", feed.name))
}

/// The alerts each item would raise if it is new, computed before the store is
/// touched: matching runs in the polling tasks, in parallel, not inside the store's
/// transaction; the store keeps only those of items it has not seen.
#[derive(Debug, Default)]
pub(crate) struct Matched {
    alerts: HashMap<ItemKey, Vec<crate::model::Alert>>,
    /// Every entity each item mentions, for the store's entity index (`/recent`,
    /// `/actor`): canonical names, countries also under the regions that contain them.
    mentions: HashMap<ItemKey, Vec<(Category, String)>>,
}

/// The regions each country belongs to, by name, so an article about Vietnam is found
/// under "Southeast Asia" too.
pub(crate) fn regions_by_country(c: &Catalog) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for (i, r) in c.regions.iter().enumerate() {
        for code in c.place_countries(crate::catalog::Place::Region(i)) {
            if let Some(country) = c.country_by_code(&code) {
                out.entry(country.name.clone())
                    .or_default()
                    .push(r.name.clone());
            }
        }
    }
    out
}

/// Match every item young enough to alert.
pub(crate) fn match_items(
    engine: &Engine,
    regions: &HashMap<String, Vec<String>>,
    max_age: Duration,
    items: &[Item],
) -> Matched {
    let mut m = Matched::default();
    for item in items.iter().filter(|item| !too_old(item, max_age)) {
        let eval = engine.evaluate(item);
        let alerts = alert::build(engine, item, &eval);
        let e = &eval.entities;
        let mut names: Vec<(Category, String)> = Vec::new();
        // An alias several actors share names none of them for sure: not indexed.
        names.extend(
            e.actors
                .iter()
                .filter(|x| {
                    !x.note
                        .as_deref()
                        .is_some_and(|n| n.starts_with("ambiguous alias"))
                })
                .map(|x| (Category::Actors, x.name.clone())),
        );
        names.extend(
            e.sectors
                .iter()
                .map(|x| (Category::Sectors, x.name.clone())),
        );
        for r in &e.regions {
            names.push((Category::Regions, r.name.clone()));
            for region in regions.get(&r.name).into_iter().flatten() {
                names.push((Category::Regions, region.clone()));
            }
        }
        names.sort();
        names.dedup();
        if !names.is_empty() {
            m.mentions.insert(item.key.clone(), names);
        }
        if !alerts.is_empty() {
            m.alerts.insert(item.key.clone(), alerts);
        }
    }
    m
}

fn print_alerts(outcome: &PollOutcome, format: Format) -> Result<()> {
    let mut out = std::io::stdout().lock();
    for q in &outcome.alerts {
        writeln!(out, "{}", render::alert(&q.alert, format))?;
    }
    out.flush()?;
    Ok(())
}

/// How long `once` keeps retrying deliveries before leaving the rest queued.
const ONCE_DELIVERY: Duration = Duration::from_secs(60);

/// `once`: poll every feed, commit, print alerts, exit 0 after trying every feed.
pub fn once_cli(path: &Path, dry_run: bool, format: Format) -> Result<ExitCode> {
    let config = load(path)?;
    let mut store = if dry_run {
        match Store::open_existing(&config.storage.path)? {
            Some(s) => s,
            None => Store::in_memory()?,
        }
    } else {
        Store::open(&config.storage.path)?
    };
    let fetcher = Fetcher::new(&config.poller).context("build the HTTP client")?;
    let validators: Vec<Validators> = config
        .feeds
        .iter()
        .map(|f| {
            // A feed moved to another URL must not send the old URL's validators.
            let state = store
                .feed_state(&f.name)
                .ok()
                .flatten()
                .filter(|s| s.url == f.source.to_string());
            Validators {
                etag: state.as_ref().and_then(|s| s.etag.clone()),
                last_modified: state.and_then(|s| s.last_modified),
            }
        })
        .collect();
    // Without a token the console is the sink: alerts are stored as skipped. With one,
    // they are queued and posted after the polls.
    let token = if dry_run { None } else { token(&config)? };
    let how = match (dry_run, &token) {
        (true, _) => Commit::DryRun,
        (false, None) => Commit::Print,
        (false, Some(_)) => Commit::Deliver,
    };
    let rt = runtime()?;
    let (bodies, fresh) = match catalogs::fetcher(&config) {
        Some(f) => rt.block_on(catalogs::fetch_due(
            &f,
            catalogs::plan(&config, Some(&store)),
        )),
        None => (Vec::new(), Vec::new()),
    };
    if !dry_run {
        catalogs::cache(&mut store, &fresh);
    }
    let engine = Engine::from_parts(
        catalogs::merge(&config, bodies),
        &config.rules,
        &config.feeds,
    );
    // Polls run on the runtime's workers (fetch, parse, normalize); this thread commits
    // each result as it arrives. The channel is small so at most a few parsed feeds are
    // ever held in memory, whatever the number of feeds.
    let regions = Arc::new(regions_by_country(engine.detector().catalog()));
    let engine = Arc::new(engine);
    let max_age = config.poller.max_item_age;
    type Done = (usize, Result<(Polled, Matched), PollError>);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Done>(8);
    let limit = Arc::new(tokio::sync::Semaphore::new(
        config.poller.concurrency.max(1),
    ));
    let fetcher = Arc::new(fetcher);
    for (i, f) in config.feeds.iter().enumerate() {
        let (tx, limit, fetcher, engine, regions) = (
            tx.clone(),
            limit.clone(),
            fetcher.clone(),
            engine.clone(),
            regions.clone(),
        );
        let (f, v) = (f.clone(), validators[i].clone());
        rt.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let res = poll_feed(&fetcher, &f, &v).await.map(|polled| {
                let matched = match &polled {
                    Polled::Items { items, .. } => match_items(&engine, &regions, max_age, items),
                    Polled::NotModified => Matched::default(),
                };
                (polled, matched)
            });
            let _ = tx.send((i, res)).await;
        });
    }
    drop(tx);
    let (mut ok, mut failed, mut alerts) = (0usize, 0usize, 0usize);
    while let Some((i, res)) = rt.block_on(rx.recv()) {
        let feed = &config.feeds[i];
        let polled = match res {
            Ok((Polled::NotModified, m)) => Ok((Vec::new(), validators[i].clone(), m)),
            Ok((
                Polled::Items {
                    items, validators, ..
                },
                m,
            )) => Ok((items, validators, m)),
            Err(e) => Err(e),
        };
        match polled {
            Ok((items, v, matched)) => {
                ok += 1;
                // A store error on one feed (e.g. the daemon holding the lock) is
                // reported and the other feeds still run.
                match commit(
                    &mut store,
                    &matched,
                    feed,
                    &items,
                    &v,
                    SeedMode::AlertAll,
                    how,
                ) {
                    Ok(outcome) => {
                        alerts += outcome.alerts.len();
                        print_alerts(&outcome, format)?;
                    }
                    Err(e) => eprintln!("feed {:?}: {e:#}", feed.name),
                }
            }
            Err(e) => {
                failed += 1;
                eprintln!("feed {:?} ({}): {e}", feed.name, feed.source);
                if !dry_run {
                    if let Err(e) = store.record_failure(
                        &feed.name,
                        &feed.source.to_string(),
                        &e.to_string(),
                        Utc::now(),
                        None,
                    ) {
                        eprintln!("feed {:?}: {e}", feed.name);
                    }
                }
            }
        }
    }
    tracing::info!(
        feeds_ok = ok,
        feeds_failed = failed,
        alerts,
        dry_run,
        "poll finished"
    );
    if let Some(t) = token {
        let rest = discord::rest_only(&t, &config.discord.api_base)?;
        let store = Arc::new(std::sync::Mutex::new(store));
        let mut outbox = Outbox::new(Arc::new(rest), store, config.discord.status_channel);
        let deadline = tokio::time::Instant::now() + ONCE_DELIVERY;
        let pass = rt.block_on(outbox.drain(deadline));
        tracing::info!(
            delivered = pass.delivered,
            failed = pass.failed,
            queued = pass.waiting,
            "discord delivery finished"
        );
        if pass.waiting > 0 {
            eprintln!(
                "{} alerts could not be posted to Discord yet; they stay queued for the next `once` or `run`",
                pass.waiting
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The bot token from `DISCORD_TOKEN` or `[discord] token_file`; `None` runs without
/// Discord.
fn token(config: &Config) -> Result<Option<Token>> {
    let env = std::env::var("DISCORD_TOKEN").ok();
    Ok(Token::load(env, config.discord.token_file.as_deref())?)
}

/// `run`: poll every feed on its interval until SIGINT/SIGTERM.
pub fn run_cli(path: &Path, format: Format) -> Result<ExitCode> {
    let config = load(path)?;
    let rt = runtime()?;
    let token = token(&config)?;
    rt.block_on(daemon::run(
        path.to_path_buf(),
        config,
        format,
        token,
        shutdown_signal(),
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `scan`: parse sources, print entities and fired rules; touches no state.
pub fn scan_cli(
    path: &Path,
    explicit: bool,
    sources: &[String],
    all: bool,
    format: Format,
) -> Result<ExitCode> {
    let config = load_optional(path, explicit)?;
    let engine = match &config {
        Some(c) => Engine::from_parts(cached_catalog(c)?, &c.rules, &c.feeds),
        None => Engine::from_parts(Arc::new(Catalog::builtin()), &[], &[]),
    };
    let poller = config
        .as_ref()
        .map(|c| c.poller.clone())
        .unwrap_or_else(Poller::default);
    let fetcher = Fetcher::new(&poller).context("build the HTTP client")?;
    let rt = runtime()?;
    let mut failed = false;
    let mut out = std::io::stdout().lock();
    for src in sources {
        let source = match url::Url::parse(src) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => Source::Url(u),
            Ok(u) if u.scheme() == "file" => u
                .to_file_path()
                .map_or_else(|()| Source::File(src.into()), Source::File),
            _ => Source::File(src.into()),
        };
        let feed = FeedConfig {
            name: config
                .as_ref()
                .and_then(|c| c.feeds.iter().find(|f| same_source(&f.source, &source)))
                .map(|f| f.name.clone())
                .unwrap_or_else(|| src.clone()),
            source,
            interval: poller.interval,
            tags: Vec::new(),
            backfill: 0,
        };
        match rt.block_on(poll_feed(&fetcher, &feed, &Validators::default())) {
            Ok(Polled::Items { items, .. }) => {
                for item in &items {
                    let eval = engine.evaluate(item);
                    if !all && eval.fired.is_empty() {
                        continue;
                    }
                    let rules: Vec<String> = eval
                        .fired
                        .iter()
                        .map(|f| engine.rules()[f.rule].name.clone())
                        .collect();
                    let line = match format {
                        Format::Jsonl => render::json_line(item, &eval.entities, &rules),
                        Format::Text => render::text_block(item, &eval.entities, &rules, ""),
                    };
                    writeln!(out, "{line}")?;
                }
            }
            Ok(Polled::NotModified) => {}
            Err(e) => {
                failed = true;
                eprintln!("{src}: {e}");
            }
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Whether two sources name the same feed (files compared by canonical path).
fn same_source(a: &Source, b: &Source) -> bool {
    match (a, b) {
        (Source::File(x), Source::File(y)) => {
            x == y
                || (std::fs::canonicalize(x).ok())
                    .is_some_and(|x| std::fs::canonicalize(y).ok() == Some(x))
        }
        _ => a == b,
    }
}

/// `check`: validate and summarise.
pub fn check_cli(path: &Path) -> Result<ExitCode> {
    let config = load(path)?;
    print!("{}", lookup::summary(&config));
    Ok(ExitCode::SUCCESS)
}

/// `lookup actor|sector|region NAME`.
pub fn lookup_cli(
    path: &Path,
    explicit: bool,
    kind: LookupKind,
    name: &str,
    json: bool,
) -> Result<ExitCode> {
    let config = load_optional(path, explicit)?;
    let catalog = match &config {
        Some(c) => cached_catalog(c)?,
        None => Arc::new(Catalog::builtin()),
    };
    let rules = config.as_ref().map(|c| c.rules.as_slice()).unwrap_or(&[]);
    // The same answer as /actor: with the stored mentions when there is a store.
    let store = match &config {
        Some(c) => Store::open_reader(&c.storage.path).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot read the article store; answering from the catalog only");
            None
        }),
        None => None,
    };
    let now = Utc::now();
    let answer = lookup::lookup(&catalog, rules, kind, name).map(|a| {
        a.with_mentions(|n| {
            store
                .as_ref()
                .and_then(|s| s.mentions(Category::Actors, n, 5, now).ok())
        })
    });
    match answer {
        Ok(answer) => {
            if json {
                println!("{}", serde_json::to_string_pretty(&answer)?);
            } else {
                print!("{}", answer.to_text());
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(not_found) => {
            eprintln!("{not_found}");
            Ok(ExitCode::from(1))
        }
    }
}

/// `feeds`: every configured feed's health from the store.
pub fn feeds_cli(path: &Path, json: bool) -> Result<ExitCode> {
    let config = load(path)?;
    let store = Store::open_existing(&config.storage.path)?;
    let states = match &store {
        Some(s) => s.feed_states()?,
        None => Vec::new(),
    };
    let rows = lookup::feeds(&config, &states);
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print!("{}", lookup::feeds_text(&rows));
    }
    Ok(ExitCode::SUCCESS)
}
