//! From the raw config to a typed [`Config`]: every value checked, every name resolved,
//! every problem collected and located.
//!
//! Input: the file's text (and the files it names: feed files must exist, catalog files
//! are read and merged). Output: a `Config`, or a `ConfigError` listing every problem in
//! file order as `PATH:LINE:COL: key.path: message`. Things that are allowed but probably
//! not meant become `Config::warnings`. No network I/O: URLs are checked, never fetched.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_spanned::Spanned;
use url::Url;

use super::raw::{self, DurationText, RawConfig, RawRule, Snowflake};
use super::{
    location, when, ActorConfig, CatalogConfig, Config, ConfigError, DiscordConfig, FeedConfig,
    Poller, Problem, Require, RuleConfig, Source, Storage,
};
use crate::catalog::{self, Actor, ActorLookup, Alias, Catalog};
use crate::model::{Category, ChannelId, Priority};

/// Read and validate the config file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    load_str(path, &text)
}

/// Validate config text; `path` names it in messages and anchors its relative paths.
pub fn load_str(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let mut cx = Cx {
        path,
        text,
        problems: Vec::new(),
        warnings: Vec::new(),
        removed: BTreeSet::new(),
    };
    let tree = match location::parse(text) {
        Ok(tree) => tree,
        Err(e) => {
            cx.problem(e.span.start, "", e.message);
            return Err(cx.into_error());
        }
    };
    let parsed = raw::read(tree);
    for p in parsed.problems {
        cx.problem(p.span.start, p.key, p.message);
    }
    cx.removed = parsed.removed;
    let config = build(&mut cx, &parsed.config);
    if cx.problems.is_empty() {
        let mut warnings = cx.warnings;
        warnings.sort_by_key(|(at, _)| at.unwrap_or(usize::MAX));
        Ok(Config {
            warnings: warnings.into_iter().map(|(_, w)| w).collect(),
            ..config
        })
    } else {
        Err(cx.into_error())
    }
}

/// What validation carries along: the text (for lines), and what it found so far.
struct Cx<'a> {
    path: &'a Path,
    text: &'a str,
    /// With the byte offset they are sorted on.
    problems: Vec<(usize, Problem)>,
    warnings: Vec<(Option<usize>, String)>,
    /// Keys `raw` cut because they were malformed (already reported).
    removed: BTreeSet<String>,
}

impl Cx<'_> {
    fn problem(&mut self, offset: usize, key: impl Into<String>, message: impl Into<String>) {
        let (line, col) = location::line_col(self.text, offset);
        self.problems.push((
            offset,
            Problem {
                path: self.path.to_path_buf(),
                line,
                col,
                key: key.into(),
                message: message.into(),
            },
        ));
    }

    /// A warning at a place in the file, formatted like a problem.
    fn warn(&mut self, offset: usize, key: &str, message: impl Into<String>) {
        let (line, col) = location::line_col(self.text, offset);
        let text = Problem {
            path: self.path.to_path_buf(),
            line,
            col,
            key: key.to_string(),
            message: message.into(),
        }
        .to_string();
        self.warnings.push((Some(offset), text));
    }

    fn warn_file(&mut self, message: &str) {
        let text = format!("{}: {message}", self.path.display());
        self.warnings.push((None, text));
    }

    /// The key of the `j`th element read from the array at `key`, as numbered in the file.
    fn item(&self, key: &str, j: usize) -> String {
        format!("{key}[{}]", raw::index(&self.removed, key, j))
    }

    /// Whether `raw` cut the key, or an element of it.
    fn was_cut(&self, key: &str) -> bool {
        self.removed.contains(key)
            || self
                .removed
                .range(format!("{key}[")..)
                .next()
                .is_some_and(|k| k.starts_with(&format!("{key}[")))
    }

    fn line(&self, offset: usize) -> usize {
        location::line_col(self.text, offset).0
    }

    fn into_error(mut self) -> ConfigError {
        self.problems.sort_by_key(|(at, _)| *at);
        ConfigError::Invalid {
            problems: self.problems.into_iter().map(|(_, p)| p).collect(),
        }
    }

    /// A required key: reported at the table header when missing (unless `raw` cut it).
    fn required<'v, T>(
        &mut self,
        table: &Spanned<impl Sized>,
        key: &str,
        name: &str,
        value: &'v Option<Spanned<T>>,
    ) -> Option<&'v Spanned<T>> {
        if value.is_none() && !self.removed.contains(&format!("{key}.{name}")) {
            self.problem(table.span().start, key, format!("missing key \"{name}\""));
        }
        value.as_ref()
    }

    /// A string that must say something.
    fn text<'v>(&mut self, key: &str, v: &'v Spanned<String>) -> Option<&'v str> {
        let s = v.get_ref().trim();
        if s.is_empty() {
            self.problem(v.span().start, key, "must not be empty");
            None
        } else {
            Some(s)
        }
    }

    fn duration(
        &mut self,
        key: &str,
        v: Option<&Spanned<DurationText>>,
        default: Duration,
        range: (Duration, Duration),
    ) -> Duration {
        let Some(v) = v else { return default };
        let text = v.get_ref().0.trim();
        match humantime::parse_duration(text) {
            Ok(d) if d >= range.0 && d <= range.1 => d,
            Ok(_) => {
                let message = format!(
                    "must be between {} and {}, not {text}",
                    short_duration(range.0),
                    short_duration(range.1)
                );
                self.problem(v.span().start, key, message);
                default
            }
            Err(e) => {
                self.problem(
                    v.span().start,
                    key,
                    format!(
                        "invalid duration {:?}: {} (write e.g. \"90s\", \"15m\", \"6h\", \"7d\")",
                        v.get_ref().0,
                        duration_error(text, &e)
                    ),
                );
                default
            }
        }
    }

    fn int(&mut self, key: &str, v: Option<&Spanned<i64>>, default: i64, lo: i64, hi: i64) -> i64 {
        match v {
            None => default,
            Some(v) if (lo..=hi).contains(v.get_ref()) => *v.get_ref(),
            Some(v) => {
                let message = format!(
                    "must be between {} and {}, not {}",
                    toml_int(lo),
                    toml_int(hi),
                    toml_int(*v.get_ref())
                );
                self.problem(v.span().start, key, message);
                default
            }
        }
    }

    /// A Discord id: `Ok(None)` for 0 when `zero` means "unset".
    fn snowflake(&mut self, key: &str, v: &Spanned<Snowflake>, zero_is_unset: bool) -> Option<u64> {
        match u64::try_from(v.get_ref().0) {
            Ok(0) if zero_is_unset => None,
            Ok(id) if id > 0 => Some(id),
            _ => {
                let message = format!(
                    "expected a Discord id (a positive integer), found {}",
                    v.get_ref().0
                );
                self.problem(v.span().start, key, message);
                None
            }
        }
    }

    /// An http(s) URL.
    fn http_url(&mut self, key: &str, v: &Spanned<String>) -> Option<Url> {
        let s = v.get_ref().trim();
        match Url::parse(s) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => Some(u),
            Ok(u) => {
                let message = format!(
                    "unsupported URL scheme \"{}\" (use http or https)",
                    u.scheme()
                );
                self.problem(v.span().start, key, message);
                None
            }
            Err(url::ParseError::RelativeUrlWithoutBase) => {
                let message = format!("expected an http(s) URL, found {s:?}");
                self.problem(v.span().start, key, message);
                None
            }
            Err(e) => {
                self.problem(v.span().start, key, format!("invalid URL {s:?}: {e}"));
                None
            }
        }
    }

    /// A path to an existing file, relative to the config's folder.
    fn existing_file(&mut self, key: &str, offset: usize, p: &Path) -> Option<PathBuf> {
        let path = Config::resolve_path(self.path, p);
        if path.is_file() {
            Some(path)
        } else if path.exists() {
            self.problem(offset, key, format!("not a file: {}", path.display()));
            None
        } else {
            self.problem(offset, key, format!("file not found: {}", path.display()));
            None
        }
    }
}

/// A bound as one would write it: "30d", "10m", "1s".
fn short_duration(d: Duration) -> String {
    let secs = d.as_secs();
    [(86_400, "d"), (3600, "h"), (60, "m")]
        .iter()
        .find(|(unit, _)| secs >= *unit && secs % unit == 0)
        .map_or_else(
            || format!("{secs}s"),
            |(unit, name)| format!("{}{name}", secs / unit),
        )
}

/// An integer as TOML lets one write it: 1_000_000_000.
fn toml_int(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    if digits.len() <= 4 {
        return n.to_string();
    }
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push('_');
        }
        out.push(c);
    }
    if n < 0 {
        out.insert(0, '-');
    }
    out
}

/// humantime's messages quote byte offsets; say which part of the text is wrong instead.
fn duration_error(text: &str, e: &humantime::DurationError) -> String {
    use humantime::DurationError as E;
    let rest = |at: usize| text.get(at..).unwrap_or("").to_string();
    match e {
        E::InvalidCharacter(at) => format!("unexpected character at {:?}", rest(*at)),
        E::NumberExpected(at) => format!("expected a number at {:?}", rest(*at)),
        E::UnknownUnit { unit, .. } if unit.is_empty() => "missing unit".to_string(),
        E::UnknownUnit { unit, .. } => format!("unknown unit {unit:?}"),
        E::NumberOverflow => "number too large".to_string(),
        E::Empty => "empty".to_string(),
    }
}

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);
const SECOND: Duration = Duration::from_secs(1);

fn build(cx: &mut Cx<'_>, raw: &RawConfig) -> Config {
    let storage = storage(cx, raw);
    let poller = poller(cx, raw);
    let feeds = feeds(cx, raw, &poller);
    let (catalog, imported) = catalog_config(cx, raw);
    let discord = discord(cx, raw);
    let (actors, catalog_data) = actors(cx, raw, imported);
    let rules = rules(cx, raw, &feeds, &catalog_data);
    Config {
        path: cx.path.to_path_buf(),
        storage,
        poller,
        feeds,
        catalog,
        discord,
        actors,
        rules,
        catalog_data: Arc::new(catalog_data),
        warnings: Vec::new(),
    }
}

fn storage(cx: &mut Cx<'_>, raw: &RawConfig) -> Storage {
    let written = raw
        .storage
        .as_ref()
        .and_then(|s| s.get_ref().path.as_ref())
        .and_then(|p| cx.text("storage.path", p).map(str::to_string));
    let written = written.unwrap_or_else(|| "threatwatch.db".to_string());
    Storage {
        path: Config::resolve_path(cx.path, Path::new(&written)),
    }
}

fn poller(cx: &mut Cx<'_>, raw: &RawConfig) -> Poller {
    let default = raw::RawPoller::default();
    let p = raw.poller.as_ref().map_or(&default, |p| p.get_ref());
    let user_agent = match &p.user_agent {
        None => format!(
            "threatwatch/{} (+https://github.com/threatwatch)",
            env!("CARGO_PKG_VERSION")
        ),
        Some(ua) => {
            let text = cx
                .text("poller.user_agent", ua)
                .unwrap_or_default()
                .to_string();
            if text.chars().any(|c| c.is_control() && c != '\t') {
                cx.problem(
                    ua.span().start,
                    "poller.user_agent",
                    "must be one line of printable text",
                );
            }
            text
        }
    };
    Poller {
        interval: cx.duration(
            "poller.interval",
            p.interval.as_ref(),
            15 * MINUTE,
            (SECOND, 30 * DAY),
        ),
        concurrency: cx.int("poller.concurrency", p.concurrency.as_ref(), 8, 1, 1024) as usize,
        timeout: cx.duration(
            "poller.timeout",
            p.timeout.as_ref(),
            20 * SECOND,
            (SECOND, 10 * MINUTE),
        ),
        connect_timeout: cx.duration(
            "poller.connect_timeout",
            p.connect_timeout.as_ref(),
            10 * SECOND,
            (SECOND, 10 * MINUTE),
        ),
        max_feed_bytes: cx.int(
            "poller.max_feed_bytes",
            p.max_feed_bytes.as_ref(),
            5_000_000,
            1,
            1_000_000_000,
        ) as u64,
        user_agent,
        max_item_age: cx.duration(
            "poller.max_item_age",
            p.max_item_age.as_ref(),
            7 * DAY,
            (MINUTE, 3650 * DAY),
        ),
        fail_notice_after: cx.int(
            "poller.fail_notice_after",
            p.fail_notice_after.as_ref(),
            5,
            1,
            10_000,
        ) as u32,
        max_backoff: cx.duration(
            "poller.max_backoff",
            p.max_backoff.as_ref(),
            6 * HOUR,
            (SECOND, 30 * DAY),
        ),
    }
}

fn feeds(cx: &mut Cx<'_>, raw: &RawConfig, poller: &Poller) -> Vec<FeedConfig> {
    if raw.feeds.is_empty() && !cx.was_cut("feeds") {
        cx.problem(
            0,
            "",
            "no feeds configured (add a [[feeds]] table with a name and a url)",
        );
    }
    let mut out = Vec::new();
    let mut first: HashMap<String, usize> = HashMap::new();
    let mut inherited_fast = false;
    for (i, f) in raw.feeds.iter().enumerate() {
        let key = cx.item("feeds", i);
        let feed = f.get_ref();
        let name = cx
            .required(f, &key, "name", &feed.name)
            .and_then(|n| Some((n, cx.text(&format!("{key}.name"), n)?)));
        if let Some((n, name)) = name {
            if let Some(&at) = first.get(name) {
                let message = format!(
                    "duplicate feed name \"{name}\" (first defined on line {})",
                    cx.line(at)
                );
                cx.problem(n.span().start, format!("{key}.name"), message);
            } else {
                first.insert(name.to_string(), n.span().start);
            }
        }
        let source = cx
            .required(f, &key, "url", &feed.url)
            .and_then(|u| source(cx, &format!("{key}.url"), u));
        let interval = cx.duration(
            &format!("{key}.interval"),
            feed.interval.as_ref(),
            poller.interval,
            (SECOND, 30 * DAY),
        );
        if matches!(source, Some(Source::Url(_))) && interval < MINUTE {
            match &feed.interval {
                Some(v) => cx.warn(
                    v.span().start,
                    &format!("{key}.interval"),
                    "polling a remote feed more often than once a minute is impolite",
                ),
                None => inherited_fast = true,
            }
        }
        let mut tags = Vec::new();
        for (j, t) in feed.tags.iter().enumerate() {
            if let Some(t) = cx.text(&cx.item(&format!("{key}.tags"), j), t) {
                tags.push(t.to_string());
            }
        }
        let backfill = cx.int(
            &format!("{key}.backfill"),
            feed.backfill.as_ref(),
            0,
            0,
            1000,
        );
        if let (Some((_, name)), Some(source)) = (name, source) {
            out.push(FeedConfig {
                name: name.to_string(),
                source,
                interval,
                tags,
                backfill: backfill as usize,
            });
        }
    }
    if inherited_fast {
        let at = raw
            .poller
            .as_ref()
            .and_then(|p| p.get_ref().interval.as_ref())
            .map_or(0, |v| v.span().start);
        cx.warn(
            at,
            "poller.interval",
            "polling a remote feed more often than once a minute is impolite",
        );
    }
    out
}

/// Where a feed is read from: an http(s) URL, a `file://` URL or a path to an existing file.
fn source(cx: &mut Cx<'_>, key: &str, v: &Spanned<String>) -> Option<Source> {
    let at = v.span().start;
    let s = cx.text(key, v)?;
    match Url::parse(s) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Some(Source::Url(u)),
        Ok(u) if u.scheme() == "file" => match u.to_file_path() {
            Ok(p) => cx.existing_file(key, at, &p).map(Source::File),
            Err(()) => {
                let message = "invalid file URL (write file:///absolute/path or a plain path)";
                cx.problem(at, key, message);
                None
            }
        },
        // One letter is a Windows drive ("C:\feeds\x.xml"), not a scheme.
        Ok(u) if u.scheme().len() > 1 => {
            let message = format!(
                "unsupported URL scheme \"{}\" (use http, https or a local file path)",
                u.scheme()
            );
            cx.problem(at, key, message);
            None
        }
        Err(e) if s.starts_with("http://") || s.starts_with("https://") => {
            cx.problem(at, key, format!("invalid URL {s:?}: {e}"));
            None
        }
        _ => cx.existing_file(key, at, Path::new(s)).map(Source::File),
    }
}

/// `[catalog]`, with the actors read from its files (URLs are fetched by the app, later).
fn catalog_config(cx: &mut Cx<'_>, raw: &RawConfig) -> (CatalogConfig, Vec<Actor>) {
    let default = raw::RawCatalog::default();
    let c = raw.catalog.as_ref().map_or(&default, |c| c.get_ref());
    let mut files = Vec::new();
    let mut imported = Vec::new();
    for (i, f) in c.files.iter().enumerate() {
        let key = cx.item("catalog.files", i);
        let Some(p) = cx.text(&key, f).map(PathBuf::from) else {
            continue;
        };
        let Some(path) = cx.existing_file(&key, f.span().start, &p) else {
            continue;
        };
        match catalog::import::load_file(&path) {
            Ok(actors) => imported.extend(actors),
            Err(e) => cx.problem(f.span().start, &key, e.to_string()),
        }
        files.push(path);
    }
    let mut urls = Vec::new();
    for (i, u) in c.urls.iter().enumerate() {
        urls.extend(cx.http_url(&cx.item("catalog.urls", i), u));
    }
    let config = CatalogConfig {
        files,
        urls,
        refresh: cx.duration(
            "catalog.refresh",
            c.refresh.as_ref(),
            DAY,
            (MINUTE, 365 * DAY),
        ),
    };
    (config, imported)
}

fn discord(cx: &mut Cx<'_>, raw: &RawConfig) -> DiscordConfig {
    let default = raw::RawDiscord::default();
    let d = raw.discord.as_ref().map_or(&default, |d| d.get_ref());
    let api_base = d
        .api_base
        .as_ref()
        .and_then(|u| cx.http_url("discord.api_base", u));
    DiscordConfig {
        api_base: api_base
            .unwrap_or_else(|| Url::parse("https://discord.com").expect("a constant, valid URL")),
        guild_id: d
            .guild_id
            .as_ref()
            .and_then(|v| cx.snowflake("discord.guild_id", v, true)),
        status_channel: d
            .status_channel
            .as_ref()
            .and_then(|v| cx.snowflake("discord.status_channel", v, true))
            .map(ChannelId),
        token_file: d.token_file.as_ref().and_then(|p| {
            let p = cx.text("discord.token_file", p)?;
            Some(Config::resolve_path(cx.path, Path::new(p)))
        }),
    }
}

/// The built-in catalog, parsed once per process (reloads clone it).
fn builtin() -> Catalog {
    static BUILTIN: std::sync::OnceLock<Catalog> = std::sync::OnceLock::new();
    BUILTIN.get_or_init(Catalog::builtin).clone()
}

/// `[[actors]]`, and the catalog they complete: built-in, then catalog files, then these.
fn actors(cx: &mut Cx<'_>, raw: &RawConfig, imported: Vec<Actor>) -> (Vec<ActorConfig>, Catalog) {
    let mut out: Vec<Option<ActorConfig>> = Vec::new();
    for (i, a) in raw.actors.iter().enumerate() {
        let key = cx.item("actors", i);
        let actor = a.get_ref();
        let name = cx
            .required(a, &key, "name", &actor.name)
            .and_then(|n| cx.text(&format!("{key}.name"), n));
        let mut aliases = Vec::new();
        for (j, al) in actor.aliases.iter().enumerate() {
            aliases.extend(
                cx.text(&cx.item(&format!("{key}.aliases"), j), al)
                    .map(str::to_string),
            );
        }
        out.push(name.map(|name| ActorConfig {
            name: name.to_string(),
            aliases,
        }));
    }
    // An alias naming another configured actor would make both names ambiguous.
    let names: Vec<(String, usize)> = raw
        .actors
        .iter()
        .map(|a| match &a.get_ref().name {
            Some(n) => (catalog::name_key(n.get_ref()), n.span().start),
            None => (String::new(), 0),
        })
        .collect();
    for (i, a) in raw.actors.iter().enumerate() {
        for (j, al) in a.get_ref().aliases.iter().enumerate() {
            let alias = catalog::name_key(al.get_ref());
            let other = names
                .iter()
                .enumerate()
                .find(|(k, (name, _))| *k != i && !alias.is_empty() && *name == alias);
            if let Some((_, (_, at))) = other {
                let message = format!(
                    "alias \"{}\" is the name of another configured actor (line {})",
                    al.get_ref(),
                    cx.line(*at)
                );
                let key = cx.item(&format!("{}.aliases", cx.item("actors", i)), j);
                cx.problem(al.span().start, key, message);
            }
        }
    }
    let mut catalog = builtin();
    for actor in imported {
        catalog.merge_actor(actor);
    }
    let actors: Vec<ActorConfig> = out.into_iter().flatten().collect();
    for a in &actors {
        catalog.merge_actor(Actor {
            name: a.name.clone(),
            aliases: a
                .aliases
                .iter()
                .map(|name| Alias {
                    name: name.clone(),
                    scheme: None,
                    weak: false,
                    exact_case: false,
                })
                .collect(),
            sources: vec!["config".into()],
            ..Default::default()
        });
    }
    catalog.reindex();
    (actors, catalog)
}

fn rules(
    cx: &mut Cx<'_>,
    raw: &RawConfig,
    feeds: &[FeedConfig],
    catalog: &Catalog,
) -> Vec<RuleConfig> {
    if raw.rules.is_empty() && !cx.was_cut("rules") {
        cx.warn_file("no rules: nothing will alert");
    }
    let targets: BTreeSet<&str> = feeds
        .iter()
        .flat_map(|f| std::iter::once(f.name.as_str()).chain(f.tags.iter().map(String::as_str)))
        .collect();
    let mut first: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::new();
    for (i, r) in raw.rules.iter().enumerate() {
        let key = cx.item("rules", i);
        let name = cx
            .required(r, &key, "name", &r.get_ref().name)
            .and_then(|n| Some((n, cx.text(&format!("{key}.name"), n)?)));
        if let Some((n, name)) = name {
            if let Some(&at) = first.get(name) {
                let message = format!(
                    "duplicate rule name \"{name}\" (first defined on line {})",
                    cx.line(at)
                );
                cx.problem(n.span().start, format!("{key}.name"), message);
            } else {
                first.insert(name.to_string(), n.span().start);
            }
        }
        let rule = rule(cx, &key, r, catalog, &targets);
        if let Some((_, name)) = name {
            out.push(RuleConfig {
                name: name.to_string(),
                ..rule
            });
        }
    }
    out
}

/// Whether `name` is, as a whole, a vendor designation (UNC1234, "Velvet Typhoon").
fn is_designation(name: &str) -> bool {
    crate::catalog::scheme::whole(name).is_some()
}

/// Everything in a rule but its name.
fn rule(
    cx: &mut Cx<'_>,
    key: &str,
    r: &Spanned<RawRule>,
    catalog: &Catalog,
    targets: &BTreeSet<&str>,
) -> RuleConfig {
    let rule = r.get_ref();
    let actors = names(cx, key, "actors", &rule.actors, |cx, k, v| {
        // "nexus:China" watches every actor, catalogued or a new vendor designation,
        // whose suspected origin is that country.
        if let Some(country) = crate::catalog::nexus_spec(v.get_ref()) {
            return match catalog.find_place(country) {
                Some(crate::catalog::Place::Country(_)) => true,
                _ => {
                    let message = format!(
                        "unknown country \"{country}\" in \"{}\" (write nexus:<country name or ISO code>)",
                        v.get_ref()
                    );
                    cx.problem(v.span().start, k, message);
                    false
                }
            };
        }
        match catalog.find_actor(v.get_ref()) {
            ActorLookup::Found(_) => true,
            ActorLookup::Ambiguous(ids) => {
                let names: Vec<&str> = ids
                    .iter()
                    .map(|&id| catalog.actors[id].name.as_str())
                    .collect();
                let message = format!(
                    "\"{}\" names several actors: {} (write one of them to be precise)",
                    v.get_ref(),
                    quoted(&names)
                );
                cx.warn(v.span().start, k, message);
                true
            }
            ActorLookup::Unknown(close) => {
                let close = closest(v.get_ref(), close, |s| match catalog.find_actor(s) {
                    ActorLookup::Found(id) => Some(id),
                    _ => None,
                });
                // A vendor designation no catalog knows yet can be watched, unless it
                // looks like a typo of a known name ("Emisary Panda").
                if close.is_empty() && is_designation(v.get_ref()) {
                    return true;
                }
                let message = format!("unknown actor \"{}\"{}", v.get_ref(), did_you_mean(&close));
                cx.problem(v.span().start, k, message);
                false
            }
        }
    });
    let sectors = names(cx, key, "sectors", &rule.sectors, |cx, k, v| {
        let found = catalog.find_sector(v.get_ref()).is_some();
        if !found {
            let close = closest(v.get_ref(), catalog.suggest_sectors(v.get_ref()), |s| {
                catalog.find_sector(s)
            });
            let message = format!("unknown sector \"{}\"{}", v.get_ref(), did_you_mean(&close));
            cx.problem(v.span().start, k, message);
        }
        found
    });
    let regions = names(cx, key, "regions", &rule.regions, |cx, k, v| {
        let found = catalog.find_place(v.get_ref()).is_some();
        if !found {
            let close = closest(v.get_ref(), catalog.suggest_places(v.get_ref()), |s| {
                catalog.find_place(s)
            });
            let message = format!(
                "unknown region or country \"{}\"{}",
                v.get_ref(),
                did_you_mean(&close)
            );
            cx.problem(v.span().start, k, message);
        }
        found
    });
    // A list cut by `raw` was written, just wrongly: it counts as listed.
    let listed = |cx: &Cx<'_>, cat: &str, list: &[Spanned<String>]| {
        !list.is_empty() || cx.was_cut(&format!("{key}.{cat}"))
    };
    let listed = [
        (
            Category::Actors,
            "actors",
            listed(cx, "actors", &rule.actors),
            &rule.actors,
        ),
        (
            Category::Sectors,
            "sectors",
            listed(cx, "sectors", &rule.sectors),
            &rule.sectors,
        ),
        (
            Category::Regions,
            "regions",
            listed(cx, "regions", &rule.regions),
            &rule.regions,
        ),
    ];
    if listed.iter().all(|(_, _, l, _)| !l) {
        cx.problem(
            r.span().start,
            key,
            "rule watches nothing: list at least one of actors, sectors, regions",
        );
    }
    let require = match rule.require.as_ref() {
        None => Require::Any,
        Some(v) => match v.get_ref().as_str() {
            "any" => Require::Any,
            "all" => Require::All,
            other => {
                let message = format!("expected \"any\" or \"all\", found \"{other}\"");
                cx.problem(v.span().start, format!("{key}.require"), message);
                Require::Any
            }
        },
    };
    let when = rule
        .when
        .as_ref()
        .and_then(|w| when_expr(cx, key, w, &listed, rule.require.as_ref()));
    let mut exclude = Vec::new();
    for (j, e) in rule.exclude.iter().enumerate() {
        exclude.extend(
            cx.text(&cx.item(&format!("{key}.exclude"), j), e)
                .map(str::to_string),
        );
    }
    let mut feeds = Vec::new();
    for (j, f) in rule.feeds.iter().enumerate() {
        let k = cx.item(&format!("{key}.feeds"), j);
        let Some(name) = cx.text(&k, f) else { continue };
        if targets.contains(name) {
            feeds.push(name.to_string());
        } else {
            let close = catalog::suggest(name, targets.iter().copied());
            let close = closest(name, close, |s| Some(s.to_string()));
            let message = format!("unknown feed or tag \"{name}\"{}", did_you_mean(&close));
            cx.problem(f.span().start, k, message);
        }
    }
    let channel = rule
        .channel
        .as_ref()
        .and_then(|c| cx.snowflake(&format!("{key}.channel"), c, true))
        .map(ChannelId);
    let mut mention_roles = Vec::new();
    for (j, m) in rule.mention_roles.iter().enumerate() {
        mention_roles.extend(cx.snowflake(&cx.item(&format!("{key}.mention_roles"), j), m, false));
    }
    if let (Some(m), None) = (rule.mention_roles.first(), channel) {
        let message = "roles are only mentioned in a channel, and this rule has none";
        cx.warn(m.span().start, &format!("{key}.mention_roles"), message);
    }
    let priority = match rule.priority.as_ref() {
        None => Priority::Normal,
        Some(v) => match v.get_ref().as_str() {
            "low" => Priority::Low,
            "normal" => Priority::Normal,
            "high" => Priority::High,
            other => {
                let message =
                    format!("expected \"low\", \"normal\" or \"high\", found \"{other}\"");
                cx.problem(v.span().start, format!("{key}.priority"), message);
                Priority::Normal
            }
        },
    };
    RuleConfig {
        name: String::new(),
        actors,
        sectors,
        regions,
        require,
        when,
        exclude,
        feeds,
        channel,
        mention_roles,
        priority,
    }
}

/// The names of one category, each checked by `known`.
fn names(
    cx: &mut Cx<'_>,
    key: &str,
    cat: &str,
    list: &[Spanned<String>],
    mut known: impl FnMut(&mut Cx<'_>, &str, &Spanned<String>) -> bool,
) -> Vec<String> {
    let mut out = Vec::new();
    for (j, v) in list.iter().enumerate() {
        let k = cx.item(&format!("{key}.{cat}"), j);
        if let Some(name) = cx.text(&k, v) {
            if known(cx, &k, v) {
                out.push(name.to_string());
            }
        }
    }
    out
}

type Listed<'r> = [(Category, &'static str, bool, &'r Vec<Spanned<String>>); 3];

/// Parse `when`, check it only uses listed categories, warn about what it makes moot.
fn when_expr(
    cx: &mut Cx<'_>,
    key: &str,
    w: &Spanned<String>,
    listed: &Listed<'_>,
    require: Option<&Spanned<String>>,
) -> Option<super::When> {
    let k = format!("{key}.when");
    let parsed = match when::parse(w.get_ref()) {
        Ok(p) => p,
        Err(e) => {
            let at = inner_offset(cx.text, w, e.offset);
            cx.problem(at, &k, e.message);
            return None;
        }
    };
    let mut ok = true;
    let mut reported = BTreeSet::new();
    for (cat, range) in &parsed.uses {
        let Some((_, word, is_listed, _)) = listed.iter().find(|(c, ..)| c == cat) else {
            continue;
        };
        if !is_listed && reported.insert(*word) {
            let at = inner_offset(cx.text, w, range.start);
            let message = format!("when uses \"{word}\" but the rule lists no {word}");
            cx.problem(at, &k, message);
            ok = false;
        }
    }
    for (cat, word, is_listed, list) in listed {
        let used = parsed.uses.iter().any(|(c, _)| c == cat);
        if let (true, false, Some(first)) = (is_listed, used, list.first()) {
            let message = format!("{word} are listed but \"when\" never uses them");
            cx.warn(first.span().start, &format!("{key}.{word}"), message);
        }
    }
    if let Some(r) = require {
        let message = "has no effect: \"when\" decides which categories must match";
        cx.warn(r.span().start, &format!("{key}.require"), message);
    }
    ok.then_some(parsed.when)
}

/// The file offset of byte `offset` inside a string value, when the string is written
/// without escapes (else the start of the value).
fn inner_offset(text: &str, v: &Spanned<String>, offset: usize) -> usize {
    let span = v.span();
    let written = text.get(span.clone()).unwrap_or("");
    let plain = ['"', '\''].iter().any(|q| {
        written.len() >= 2
            && written.starts_with(*q)
            && written.ends_with(*q)
            && !written.starts_with(&format!("{q}{q}{q}"))
            && written[1..written.len() - 1] == *v.get_ref()
    });
    if plain {
        span.start + 1 + offset
    } else {
        span.start
    }
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The suggestions worth showing: one name per entity (`entity` tells which one a name
/// means), and only those nearly as close as the best, at most three.
fn closest<E: PartialEq>(
    name: &str,
    suggestions: Vec<String>,
    entity: impl Fn(&str) -> Option<E>,
) -> Vec<String> {
    let key = catalog::name_key(name);
    let score = |s: &str| {
        let k = catalog::name_key(s);
        let bonus = if !key.is_empty() && (k.starts_with(&key) || key.starts_with(&k)) {
            0.1
        } else {
            0.0
        };
        strsim::jaro_winkler(&key, &k) + bonus
    };
    let best = suggestions.iter().map(|s| score(s)).fold(0.0, f64::max);
    let mut seen: Vec<E> = Vec::new();
    let mut out = Vec::new();
    for s in suggestions {
        if score(&s) < best - 0.03 {
            continue;
        }
        match entity(&s) {
            Some(e) if seen.contains(&e) => continue,
            Some(e) => seen.push(e),
            None => {}
        }
        out.push(s);
        if out.len() == 3 {
            break;
        }
    }
    out
}

fn did_you_mean(close: &[String]) -> String {
    if close.is_empty() {
        String::new()
    } else {
        let names: Vec<&str> = close.iter().map(String::as_str).collect();
        format!(" (did you mean {}?)", quoted(&names))
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
