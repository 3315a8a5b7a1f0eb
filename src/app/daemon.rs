//! The daemon behind `run`: schedules every feed, polls politely, commits, prints alerts
//! from the outbox, raises feed-health notices, reloads on SIGHUP, stops on SIGINT/SIGTERM.
//!
//! Politeness: a global cap on concurrent polls (`poller.concurrency`), at most two
//! requests at once per host, never two polls of one feed at once, jittered intervals,
//! exponential backoff after failures and the server's `Retry-After` when it gives one.
//! Crash safety: items, feed state and alerts are committed in one transaction per poll;
//! alerts are printed from the outbox and marked delivered after, so a restart neither
//! loses nor repeats them.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::Utc;
use tokio::sync::{mpsc, Notify, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::lookups::AppLookups;
use crate::alert::deliver::{on_store, Outbox};
use crate::alert::notice::{Notice, NoticeKind};
use crate::alert::render::{self, Format};
use crate::catalog::Catalog;
use crate::config::{Config, FeedConfig, Source};
use crate::discord::{Discord, Lookups, Token};
use crate::ingest::fetch::{Fetcher, Validators};
use crate::ingest::poll::{poll_feed, Polled};
use crate::ingest::schedule::{self, Schedule};
use crate::model::Alert;
use crate::rules::Engine;
use crate::store::{SeedMode, Store};

/// How long in-flight polls get to finish after SIGINT/SIGTERM; with the second of
/// cancellation and the outbox's last second, shutdown stays under Docker's 10 s.
const GRACE: Duration = Duration::from_secs(6);

/// At most this many requests at once to one host.
const PER_HOST: usize = 2;

/// The config and everything compiled from it; swapped whole on reload.
struct Live {
    config: Arc<Config>,
    engine: Arc<Engine>,
    catalog: Arc<Catalog>,
    /// Country name -> the regions that contain it (for the entity index).
    regions: HashMap<String, Vec<String>>,
    fetcher: Fetcher,
}

impl Live {
    fn new(config: Config, catalog: Arc<Catalog>) -> Result<Live> {
        let started = std::time::Instant::now();
        let engine = Engine::from_parts(catalog.clone(), &config.rules, &config.feeds);
        tracing::info!(
            terms = engine.detector().term_count(),
            rules = engine.rules().len(),
            build_ms = started.elapsed().as_millis() as u64,
            "matcher compiled"
        );
        Ok(Live {
            regions: super::regions_by_country(&catalog),
            catalog,
            fetcher: Fetcher::new(&config.poller).context("build the HTTP client")?,
            engine: Arc::new(engine),
            config: Arc::new(config),
        })
    }

    fn feed(&self, name: &str) -> Option<&FeedConfig> {
        self.config.feeds.iter().find(|f| f.name == name)
    }
}

/// Shared by every poll task.
struct Ctx {
    store: Arc<Mutex<Store>>,
    format: Format,
    /// Set when Discord is the sink: notices also go to the outbox (for the status
    /// channel), and alerts are printed when committed instead of by the outbox.
    discord: Option<mpsc::UnboundedSender<Notice>>,
    /// The global cap, shared across reloads (a reload that keeps `concurrency` keeps
    /// the semaphore, so polls in flight still count); replaced only when it changes.
    global: Mutex<(usize, Arc<Semaphore>)>,
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// Woken when a commit queued alerts.
    outbox: Arc<Notify>,
}

/// A finished poll: when to poll the feed again.
struct Done {
    feed: String,
    delay: Duration,
}

fn host_key(feed: &FeedConfig) -> String {
    match &feed.source {
        Source::Url(u) => u.host_str().unwrap_or("").to_ascii_lowercase(),
        Source::File(_) => String::from("(local files)"),
    }
}

impl Ctx {
    fn global(&self, concurrency: usize) -> Arc<Semaphore> {
        let n = concurrency.max(1);
        let mut g = self.global.lock().unwrap_or_else(|p| p.into_inner());
        if g.0 != n {
            *g = (n, Arc::new(Semaphore::new(n)));
        }
        g.1.clone()
    }

    fn host(&self, key: &str) -> Arc<Semaphore> {
        let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        hosts
            .entry(key.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(PER_HOST)))
            .clone()
    }

    /// Run `f` on the store off the async workers.
    async fn with_store<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut Store) -> T + Send + 'static,
    ) -> Option<T> {
        on_store(&self.store, f).await
    }
}

impl Ctx {
    /// Print a notice to stderr (so stdout stays one alert per line) and hand it to the
    /// outbox for the status channel.
    fn notice(&self, n: Notice) {
        let feed = matches!(n.kind, NoticeKind::FeedFailing | NoticeKind::FeedRecovered);
        match (self.format, feed) {
            (Format::Text, true) => {
                eprintln!(
                    "[notice] feed {:?} {}: {}",
                    n.subject,
                    n.kind.as_str(),
                    n.detail
                )
            }
            (Format::Text, false) => eprintln!("[notice] {}: {}", n.headline(), n.detail),
            (Format::Jsonl, true) => eprintln!(
                "{}",
                serde_json::json!({"notice": n.kind.as_str(), "feed": n.subject, "detail": n.detail})
            ),
            (Format::Jsonl, false) => eprintln!(
                "{}",
                serde_json::json!({"notice": n.kind.as_str(), "subject": n.subject, "detail": n.detail})
            ),
        }
        if let Some(tx) = &self.discord {
            let _ = tx.send(n);
        }
    }
}

/// Poll one feed and commit what it gave; returns when to poll it next.
async fn poll_one(
    ctx: Arc<Ctx>,
    live: Arc<Live>,
    feed: FeedConfig,
    stopping: CancellationToken,
) -> Option<Done> {
    let interval = feed.interval;
    // The host's slot first: a slow host then holds only its own two slots, never
    // global ones that other hosts' feeds are waiting for.
    let _host = tokio::select! {
        p = ctx.host(&host_key(&feed)).acquire_owned() => p,
        _ = stopping.cancelled() => return None,
    };
    let _global = tokio::select! {
        p = ctx.global(live.config.poller.concurrency).acquire_owned() => p,
        _ = stopping.cancelled() => return None,
    };
    let name = feed.name.clone();
    let source = feed.source.to_string();
    let state = ctx
        .with_store({
            let name = name.clone();
            move |s| s.feed_state(&name).ok().flatten()
        })
        .await
        .flatten();
    let prior_failures = state.as_ref().map_or(0, |s| s.consecutive_failures);
    let validators = state
        // A feed moved to another URL must not send the old URL's validators.
        .filter(|s| s.url == source)
        .map(|s| Validators {
            etag: s.etag,
            last_modified: s.last_modified,
        })
        .unwrap_or_default();
    let res = poll_feed(&live.fetcher, &feed, &validators)
        .instrument(tracing::info_span!("poll_feed", feed = %name))
        .await;
    let fail_after = live.config.poller.fail_notice_after;
    let max_backoff = live.config.poller.max_backoff;
    match res {
        Ok(polled) => {
            let (items, v) = match polled {
                Polled::NotModified => (Vec::new(), validators),
                Polled::Items {
                    items,
                    validators,
                    moved_to,
                } => {
                    if let Some(u) = moved_to {
                        tracing::warn!(feed_url = %u, "feed moved permanently; update its url in the config");
                    }
                    (items, validators)
                }
            };
            // Matching happens here, in parallel across polls, not under the store lock.
            let matched = super::match_items(
                &live.engine,
                &live.regions,
                live.config.poller.max_item_age,
                &items,
            );
            let feed2 = feed.clone();
            let committed = ctx
                .with_store(move |s| {
                    let mode = SeedMode::Seed {
                        backfill: feed2.backfill,
                    };
                    let out = super::commit(
                        s,
                        &matched,
                        &feed2,
                        &items,
                        &v,
                        mode,
                        super::Commit::Deliver,
                    );
                    if let Ok(o) = &out {
                        if o.was_failing_notified {
                            let _ = s.set_failing_notified(&feed2.name, false);
                        }
                    }
                    out
                })
                .await;
            match committed {
                Some(Ok(outcome)) => {
                    if outcome.was_failing_notified {
                        ctx.notice(Notice::new(
                            NoticeKind::FeedRecovered,
                            &name,
                            "polls succeed again",
                        ));
                    }
                    if ctx.discord.is_some() {
                        // The outbox posts to Discord; the console gets each alert once,
                        // as it is committed.
                        print_alerts(outcome.alerts.iter().map(|q| &q.alert), ctx.format);
                    }
                    if outcome.seeded {
                        tracing::info!(new_items = outcome.new_items, "feed seeded");
                    }
                    if !outcome.alerts.is_empty() {
                        ctx.outbox.notify_one();
                    }
                }
                Some(Err(e)) => tracing::error!(error = %format!("{e:#}"), "commit failed"),
                None => tracing::error!("commit task panicked"),
            }
            Some(Done {
                feed: name,
                delay: schedule::after_success(interval),
            })
        }
        Err(e) => {
            let msg = e.to_string();
            tracing::warn!(feed = %name, error = %msg, transient = e.is_transient(), "poll failed");
            let retry_after = e.retry_after();
            let (n, u) = (name.clone(), feed.source.to_string());
            let delay =
                schedule::after_failure(interval, prior_failures + 1, max_backoff, retry_after);
            let next = chrono::Duration::from_std(delay)
                .ok()
                .map(|d| Utc::now() + d);
            let state = ctx
                .with_store(move |s| s.record_failure(&n, &u, &msg, Utc::now(), next))
                .await
                .and_then(|r| r.ok());
            if let Some(s) = &state {
                if s.consecutive_failures >= fail_after && !s.failing_notified {
                    ctx.notice(Notice::new(
                        NoticeKind::FeedFailing,
                        &name,
                        format!(
                            "{} consecutive failures, last: {}",
                            s.consecutive_failures,
                            s.last_error.as_deref().unwrap_or("")
                        ),
                    ));
                    let n = name.clone();
                    ctx.with_store(move |s| s.set_failing_notified(&n, true))
                        .await;
                }
            }
            Some(Done { feed: name, delay })
        }
    }
}

fn print_alerts<'a>(alerts: impl Iterator<Item = &'a Alert>, format: Format) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for a in alerts {
        let _ = writeln!(out, "{}", render::alert(a, format));
    }
    let _ = out.flush();
}

/// Print pending alerts from the outbox, oldest first, marking each delivered after
/// (the console sink, when there is no Discord).
async fn drain_outbox(ctx: &Arc<Ctx>, format: Format) {
    loop {
        let batch = ctx
            .with_store(|s| s.pending_alerts(100))
            .await
            .and_then(|r| r.ok())
            .unwrap_or_default();
        if batch.is_empty() {
            return;
        }
        print_alerts(batch.iter().map(|q| &q.alert), format);
        let ids: Vec<i64> = batch.iter().map(|q| q.id).collect();
        let marked = ctx
            .with_store(move |s| {
                for id in ids {
                    if let Err(e) = s.mark_delivered(id, None, Utc::now()) {
                        tracing::error!(alert_id = id, error = %e, "mark delivered");
                        return false;
                    }
                }
                true
            })
            .await
            .unwrap_or(false);
        if !marked {
            // Printing the same batch again at once would only repeat it; wait for the
            // next commit (or restart) to try again.
            return;
        }
    }
}

/// The config's catalog with `[catalog] urls` merged: cached bodies, fetched again when
/// due; a failed fetch keeps the cached one.
async fn url_catalogs(ctx: &Arc<Ctx>, config: &Config) -> Arc<Catalog> {
    if config.catalog.urls.is_empty() {
        return config.catalog_data.clone();
    }
    let c = config.clone();
    let plan = ctx
        .with_store(move |s| super::catalogs::plan(&c, Some(s)))
        .await
        .unwrap_or_default();
    let Some(fetcher) = super::catalogs::fetcher(config) else {
        return config.catalog_data.clone();
    };
    let (bodies, fresh) = super::catalogs::fetch_due(&fetcher, plan).await;
    ctx.with_store(move |s| super::catalogs::cache(s, &fresh))
        .await;
    super::catalogs::merge(config, bodies)
}

/// When a feed should first be polled after start: its stored next poll if that is
/// still ahead, else soon, spread over a short window.
fn first_due(store: &Store, feed: &FeedConfig, now: Instant) -> Instant {
    let window = (feed.interval / 4).min(Duration::from_secs(5));
    let stored = store
        .feed_state(&feed.name)
        .ok()
        .flatten()
        .and_then(|s| s.next_poll)
        .and_then(|t| (t - Utc::now()).to_std().ok())
        .map(|d| d.min(feed.interval));
    now + stored.unwrap_or_else(|| schedule::stagger(window))
}

/// Reload the config; keep the old one (and say why) when the new one is invalid.
fn reload(ctx: &Ctx, path: &std::path::Path) -> Option<Config> {
    // `load` prints each located problem, exactly as at start-up.
    match super::load(path) {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "config reload rejected; keeping the running config");
            if let Some(tx) = &ctx.discord {
                let _ = tx.send(Notice::new(
                    NoticeKind::ReloadRejected,
                    path.display().to_string(),
                    format!(
                        "{e:#}. The running config is kept; fix the file and send SIGHUP again."
                    ),
                ));
            }
            None
        }
    }
}

/// Run until `shutdown` resolves (or SIGINT/SIGTERM when it is the signal future).
/// With a token, alerts go to Discord; without, the console is the only sink.
pub async fn run(
    path: PathBuf,
    config: Config,
    format: Format,
    token: Option<Token>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<()> {
    let store = Arc::new(Mutex::new(Store::open(&config.storage.path)?));
    let (notice_tx, notice_rx) = mpsc::unbounded_channel::<Notice>();
    let wake = Arc::new(Notify::new());
    let ctx = Arc::new(Ctx {
        store: store.clone(),
        format,
        discord: token.as_ref().map(|_| notice_tx),
        global: Mutex::new((0, Arc::new(Semaphore::new(1)))),
        hosts: Mutex::new(HashMap::new()),
        outbox: wake.clone(),
    });
    let catalog = url_catalogs(&ctx, &config).await;
    let mut live = Arc::new(Live::new(config, catalog)?);
    let lookups = Arc::new(AppLookups::new(live.config.clone(), live.catalog.clone()));
    let discord = match &token {
        Some(t) => Some(
            Discord::connect(
                t,
                &live.config.discord.api_base,
                live.config.discord.guild_id,
                Some(lookups.clone() as Arc<dyn Lookups>),
            )
            .await
            .context("connect to Discord")?,
        ),
        None => {
            tracing::info!("no DISCORD_TOKEN or discord.token_file: alerts go to the console only");
            None
        }
    };
    let mut next_refresh = Instant::now() + live.config.catalog.refresh;
    let token = CancellationToken::new();
    let stopping = CancellationToken::new();
    let tracker = TaskTracker::new();

    // Outbox: alerts left from a previous run first, then as polls commit. It stops
    // after the polls, so what they commit is still printed (or posted).
    let outbox_stop = CancellationToken::new();
    let outbox = match &discord {
        Some(d) => {
            let outbox = Outbox::new(
                Arc::new(d.rest.clone()),
                store.clone(),
                live.config.discord.status_channel,
            );
            tokio::spawn(outbox.run(wake.clone(), notice_rx, outbox_stop.clone()))
        }
        None => {
            let (ctx, stop, wake) = (ctx.clone(), outbox_stop.clone(), wake.clone());
            tokio::spawn(async move {
                loop {
                    drain_outbox(&ctx, format).await;
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = wake.notified() => {}
                    }
                }
                drain_outbox(&ctx, format).await;
            })
        }
    };

    let mut plan = Schedule::new();
    {
        let s = ctx.store.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        for f in &live.config.feeds {
            plan.set(&f.name, first_due(&s, f, now));
        }
    }
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
    let (swap_tx, mut swap_rx) = mpsc::channel::<Live>(2);
    let mut in_flight: HashSet<String> = HashSet::new();
    let mut hup = hangup();
    tokio::pin!(shutdown);
    tracing::info!(feeds = live.config.feeds.len(), "daemon started");

    loop {
        let wake = plan
            .next_due()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600))
            .min(next_refresh);
        tokio::select! {
            _ = &mut shutdown => break,
            Some(done) = done_rx.recv() => {
                in_flight.remove(&done.feed);
                if live.feed(&done.feed).is_some() {
                    plan.set(&done.feed, Instant::now() + done.delay);
                }
            }
            Some(()) = hup.recv() => {
                tracing::info!("SIGHUP: reloading the config");
                // Loading, fetching catalogs and compiling happen off the loop, so polls
                // and signals are never held up; the result arrives on `swap_rx`.
                let (p, ctx, tx) = (path.clone(), ctx.clone(), swap_tx.clone());
                tokio::spawn(async move {
                    let p2 = p.clone();
                    let ctx2 = ctx.clone();
                    let loaded = tokio::task::spawn_blocking(move || reload(&ctx2, &p2)).await.ok().flatten();
                    if let Some(new) = loaded {
                        let catalog = url_catalogs(&ctx, &new).await;
                        match Live::new(new, catalog) {
                            Ok(new) => { let _ = tx.send(new).await; }
                            Err(e) => tracing::error!(error = %format!("{e:#}"), "config reload failed; keeping the running config"),
                        }
                    }
                });
            }
            Some(new) = swap_rx.recv() => {
                let now = Instant::now();
                for f in &new.config.feeds {
                    // Added feeds, and feeds whose URL or interval changed, poll soon.
                    let changed = live
                        .feed(&f.name)
                        .is_none_or(|old| old.source != f.source || old.interval != f.interval);
                    if changed && !in_flight.contains(&f.name) {
                        plan.set(&f.name, now + schedule::stagger(Duration::from_secs(1)));
                    }
                }
                for f in &live.config.feeds {
                    if new.feed(&f.name).is_none() {
                        plan.remove(&f.name);
                    }
                }
                {
                    let (a, b) = (&live.config.discord, &new.config.discord);
                    if a.api_base != b.api_base || a.guild_id != b.guild_id || a.status_channel != b.status_channel || a.token_file != b.token_file {
                        tracing::warn!("[discord] changed: api_base, guild_id, status_channel and token_file take effect at the next start");
                    }
                }
                tracing::info!(feeds = new.config.feeds.len(), rules = new.config.rules.len(), "config applied");
                lookups.update(new.config.clone(), new.catalog.clone());
                live = Arc::new(new);
            }
            _ = tokio::time::sleep_until(wake) => {
                if Instant::now() >= next_refresh {
                    next_refresh = Instant::now() + live.config.catalog.refresh;
                    if !live.config.catalog.urls.is_empty() {
                        let (config, ctx, tx) = ((*live.config).clone(), ctx.clone(), swap_tx.clone());
                        tokio::spawn(async move {
                            let catalog = url_catalogs(&ctx, &config).await;
                            match Live::new(config, catalog) {
                                Ok(new) => { let _ = tx.send(new).await; }
                                Err(e) => tracing::error!(error = %format!("{e:#}"), "catalog refresh failed"),
                            }
                        });
                    }
                }
                for name in plan.pop_due(Instant::now()) {
                    let Some(feed) = live.feed(&name).cloned() else { continue };
                    if !in_flight.insert(name.clone()) {
                        continue;
                    }
                    let (ctx, live, tx, token, stopping) = (ctx.clone(), live.clone(), done_tx.clone(), token.clone(), stopping.clone());
                    tracker.spawn(async move {
                        let (interval, max) = (feed.interval, live.config.poller.max_backoff);
                        let name = feed.name.clone();
                        // Its own task, so a panic in parsing is a failed poll, not a
                        // feed stuck "in flight" forever.
                        let poll = tokio::spawn(poll_one(ctx, live, feed, stopping));
                        tokio::select! {
                            res = poll => {
                                let done = match res {
                                    Ok(done) => done,
                                    Err(e) => {
                                        tracing::error!(feed = %name, error = %e, "poll task failed");
                                        Some(Done { feed: name, delay: schedule::after_failure(interval, 1, max, None) })
                                    }
                                };
                                if let Some(done) = done {
                                    let _ = tx.send(done);
                                }
                            }
                            _ = token.cancelled() => {}
                        }
                    });
                }
            }
        }
    }

    tracing::info!(in_flight = in_flight.len(), "shutting down");
    stopping.cancel();
    tracker.close();
    // Let in-flight polls finish within the grace period, then stop them; a poll cut
    // short commits nothing and is simply repeated at the next start.
    if tokio::time::timeout(GRACE, tracker.wait()).await.is_err() {
        tracing::warn!("in-flight polls did not finish in time; they will be repeated");
        token.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(1), tracker.wait()).await;
    }
    outbox_stop.cancel();
    // A post cut short here is repeated at the next start with the same nonce.
    let _ = tokio::time::timeout(Duration::from_secs(1), outbox).await;
    if let Some(d) = discord {
        d.shutdown().await;
    }
    Ok(())
}

/// SIGHUP as a stream of unit values (never fires off Unix).
fn hangup() -> mpsc::Receiver<()> {
    let (tx, rx) = mpsc::channel(4);
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut s) = signal(SignalKind::hangup()) else {
            return;
        };
        while s.recv().await.is_some() {
            if tx.send(()).await.is_err() {
                break;
            }
        }
    });
    #[cfg(not(unix))]
    drop(tx);
    rx
}
