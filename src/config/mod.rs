//! The configuration: TOML in, a validated, typed `Config` out.
//!
//! Two stages (ripgrep's LowArgs -> HiArgs): `raw` is a serde mirror of the file that
//! rejects unknown keys and keeps spans; `validate` turns it into `Config`, collecting
//! every problem as a located `Problem` (`PATH:LINE:COL: key.path: message`) instead of
//! stopping at the first. Nothing here does network I/O.

mod location;
mod raw;
mod validate;
mod when;

use std::path::{Path, PathBuf};
use std::time::Duration;

use url::Url;

use crate::catalog::Catalog;
use crate::model::{ChannelId, Priority};

pub use validate::{load, load_str};

/// A validated configuration. Every name in it resolves; every limit is sane.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from (relative paths inside are resolved against its folder).
    pub path: PathBuf,
    pub storage: Storage,
    pub poller: Poller,
    pub feeds: Vec<FeedConfig>,
    pub catalog: CatalogConfig,
    pub discord: DiscordConfig,
    pub actors: Vec<ActorConfig>,
    pub rules: Vec<RuleConfig>,
    /// The merged catalog: built-in, plus `[catalog] files`, plus `[[actors]]`.
    pub catalog_data: std::sync::Arc<Catalog>,
    /// Things that are allowed but probably not meant (shown by `check`).
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Storage {
    pub path: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Poller {
    pub interval: Duration,
    pub concurrency: usize,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub max_feed_bytes: u64,
    pub user_agent: String,
    /// Items older than this never alert.
    pub max_item_age: Duration,
    /// Consecutive failures before a feed raises a "failing" notice.
    pub fail_notice_after: u32,
    /// Upper bound of the exponential backoff after failures.
    pub max_backoff: Duration,
}

/// Where a feed is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Url(Url),
    File(PathBuf),
}

impl std::fmt::Display for Source {
    /// A URL's password is never shown: this is what logs, errors and `feeds` print.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Url(u) if u.password().is_some() => {
                let mut shown = u.clone();
                let _ = shown.set_password(Some("redacted"));
                write!(f, "{shown}")
            }
            Source::Url(u) => write!(f, "{u}"),
            Source::File(p) => write!(f, "{}", p.display()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct FeedConfig {
    pub name: String,
    pub source: Source,
    pub interval: Duration,
    pub tags: Vec<String>,
    /// On the first successful poll, alert the newest N items instead of seeding silently.
    pub backfill: usize,
}

#[derive(Debug, Clone)]
pub struct CatalogConfig {
    pub files: Vec<PathBuf>,
    pub urls: Vec<Url>,
    pub refresh: Duration,
}

#[derive(Debug, Clone)]
pub struct DiscordConfig {
    pub api_base: Url,
    pub guild_id: Option<u64>,
    pub status_channel: Option<ChannelId>,
    pub token_file: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct ActorConfig {
    pub name: String,
    pub aliases: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Require {
    Any,
    All,
}

/// A boolean expression over the categories: `actors or (sectors and regions)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum When {
    Category(crate::model::Category),
    Not(Box<When>),
    And(Box<When>, Box<When>),
    Or(Box<When>, Box<When>),
}

impl std::fmt::Display for When {
    /// The expression as a user would write it, parenthesised only where needed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fn prec(w: &When) -> u8 {
            match w {
                When::Or(..) => 0,
                When::And(..) => 1,
                When::Not(_) | When::Category(_) => 2,
            }
        }
        let side = |f: &mut std::fmt::Formatter<'_>, w: &When, min: u8| {
            if prec(w) < min {
                write!(f, "({w})")
            } else {
                write!(f, "{w}")
            }
        };
        match self {
            When::Category(c) => f.write_str(match c {
                crate::model::Category::Actors => "actors",
                crate::model::Category::Sectors => "sectors",
                crate::model::Category::Regions => "regions",
            }),
            When::Not(w) => {
                f.write_str("not ")?;
                side(f, w, 2)
            }
            When::And(a, b) => {
                side(f, a, 1)?;
                f.write_str(" and ")?;
                side(f, b, 2)
            }
            When::Or(a, b) => {
                side(f, a, 0)?;
                f.write_str(" or ")?;
                side(f, b, 1)
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct RuleConfig {
    pub name: String,
    /// Names as written in the config; each resolves in `Config::catalog_data`.
    pub actors: Vec<String>,
    pub sectors: Vec<String>,
    pub regions: Vec<String>,
    pub require: Require,
    /// Overrides `require` when set.
    pub when: Option<When>,
    pub exclude: Vec<String>,
    /// Feed names or tags this rule is limited to (empty: every feed).
    pub feeds: Vec<String>,
    pub channel: Option<ChannelId>,
    pub mention_roles: Vec<u64>,
    pub priority: Priority,
}

impl Config {
    /// Resolve a path written in the config against the config file's folder.
    pub fn resolve_path(config_path: &Path, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            config_path
                .parent()
                .unwrap_or_else(|| Path::new("."))
                .join(p)
        }
    }
}

/// One located problem in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: PathBuf,
    pub line: usize,
    pub col: usize,
    /// `rules[3].actors[1]`, or empty for file-level problems.
    pub key: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}: ", self.path.display(), self.line, self.col)?;
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)
    }
}

/// Why a config could not be loaded: every problem found, in file order.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid { problems: Vec<Problem> },
}

impl Default for Poller {
    /// The defaults CONTRACT.md documents; used when no config file is given.
    fn default() -> Poller {
        Poller {
            interval: Duration::from_secs(15 * 60),
            concurrency: 8,
            timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(10),
            max_feed_bytes: 5_000_000,
            user_agent: concat!("threatwatch/", env!("CARGO_PKG_VERSION")).to_string(),
            max_item_age: Duration::from_secs(7 * 24 * 3600),
            fail_notice_after: 5,
            max_backoff: Duration::from_secs(6 * 3600),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_feed_url_password_is_never_shown() {
        let u = Url::parse("https://reader:s3cret@feeds.example/rss").unwrap();
        assert_eq!(
            Source::Url(u).to_string(),
            "https://reader:redacted@feeds.example/rss"
        );
    }
}
