//! One poll of one feed, top to bottom: fetch, return early on 304, parse, normalize.
//!
//! Miniflux's `RefreshFeed`, minus the store: the caller commits the result (items, feed
//! state and alerts in one transaction), so polls can run concurrently while the store
//! stays single-writer.

use url::Url;

use crate::config::{FeedConfig, Source};
use crate::model::Item;

use super::fetch::{FetchError, Fetched, Fetcher, Validators};
use super::{normalize, parse};

/// What one poll produced.
#[derive(Debug)]
pub enum Polled {
    /// 304: nothing changed since the stored validators.
    NotModified,
    Items {
        items: Vec<Item>,
        validators: Validators,
        /// Set when the server answered with a permanent redirect.
        moved_to: Option<Url>,
    },
}

/// Why a poll failed, in words a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("{0}")]
    Fetch(#[from] FetchError),
    #[error("{0}")]
    Parse(#[from] parse::ParseError),
}

impl PollError {
    /// Whether trying again soon may help.
    pub fn is_transient(&self) -> bool {
        match self {
            PollError::Fetch(e) => e.is_transient(),
            PollError::Parse(_) => false,
        }
    }

    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            PollError::Fetch(e) => e.retry_after(),
            PollError::Parse(_) => None,
        }
    }
}

/// Poll `feed` once.
pub async fn poll_feed(
    fetcher: &Fetcher,
    feed: &FeedConfig,
    validators: &Validators,
) -> Result<Polled, PollError> {
    let fetched = fetcher.fetch(&feed.source, validators).await?;
    let (bytes, content_type, base, validators, moved_to) = match fetched {
        Fetched::NotModified => return Ok(Polled::NotModified),
        Fetched::Body {
            bytes,
            content_type,
            final_url,
            validators,
            permanent_redirect,
        } => (
            bytes,
            content_type,
            Some(final_url),
            validators,
            permanent_redirect,
        ),
    };
    let base = base.or_else(|| match &feed.source {
        Source::Url(u) => Some(u.clone()),
        Source::File(p) => std::path::absolute(p)
            .ok()
            .and_then(|p| Url::from_file_path(p).ok()),
    });
    let parsed = parse::parse_feed(&bytes, content_type.as_deref(), base.as_ref())?;
    let items = normalize::normalize(&feed.name, parsed.entries, base.as_ref());
    Ok(Polled::Items {
        items,
        validators,
        moved_to,
    })
}
