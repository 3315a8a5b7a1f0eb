//! `[catalog] urls`: catalogs fetched over HTTP, cached in the store so a restart without
//! network still has them, fetched again when older than `[catalog] refresh`, and merged
//! over the config's catalog (built-in, files, `[[actors]]`).
//!
//! Names in rules are validated against the catalog without these (config loading does
//! no network I/O); URL catalogs add actors and aliases for detection and lookups.

use std::sync::Arc;

use chrono::Utc;
use url::Url;

use crate::catalog::{import, Actor, Catalog};
use crate::config::{Config, Source};
use crate::ingest::fetch::{Fetched, Fetcher, Validators};
use crate::store::Store;

/// What the store holds for each configured URL: its body (if cached) and whether it is
/// due for a fetch.
pub(crate) fn plan(config: &Config, store: Option<&Store>) -> Vec<(Url, Option<Vec<u8>>, bool)> {
    let refresh =
        chrono::Duration::from_std(config.catalog.refresh).unwrap_or(chrono::Duration::days(1));
    config
        .catalog
        .urls
        .iter()
        .map(|u| {
            let cached = store.and_then(|s| s.cached_catalog(u.as_str()).ok().flatten());
            let due = cached
                .as_ref()
                .is_none_or(|(_, at)| Utc::now().signed_duration_since(*at) >= refresh);
            (u.clone(), cached.map(|(body, _)| body), due)
        })
        .collect()
}

/// Catalogs imported from URLs, each parsed once.
pub(crate) type Imported = Vec<(Url, Vec<Actor>)>;

/// Import one body; an unusable one is logged and skipped.
pub(crate) fn import_body(url: &Url, body: &[u8]) -> Option<Vec<Actor>> {
    import::parse(body, url.as_str())
        .map_err(|e| {
            tracing::warn!(feed_url = %Source::Url(url.clone()), error = %e, "catalog not usable")
        })
        .ok()
}

/// Fetch the URLs that are due; a failure keeps the cached body (and is logged).
/// Returns every URL's imported actors and the freshly fetched bodies to cache.
pub(crate) async fn fetch_due(
    fetcher: &Fetcher,
    plan: Vec<(Url, Option<Vec<u8>>, bool)>,
) -> (Imported, Vec<(Url, Vec<u8>)>) {
    let mut use_now = Vec::new();
    let mut fresh = Vec::new();
    for (url, cached, due) in plan {
        if due {
            match fetcher
                .fetch(&Source::Url(url.clone()), &Validators::default())
                .await
            {
                // Only a body that imports replaces the cached one: an HTML error page
                // served with 200 must not evict a good catalog.
                Ok(Fetched::Body { bytes, .. }) => {
                    if let Some(actors) = import_body(&url, &bytes) {
                        fresh.push((url.clone(), bytes));
                        use_now.push((url, actors));
                        continue;
                    }
                }
                Ok(Fetched::NotModified) => {}
                Err(e) => tracing::warn!(
                    feed_url = %Source::Url(url.clone()),
                    error = %e,
                    cached = cached.is_some(),
                    "catalog fetch failed"
                ),
            }
        }
        if let Some(actors) = cached.and_then(|body| import_body(&url, &body)) {
            use_now.push((url, actors));
        }
    }
    (use_now, fresh)
}

/// A fetcher for catalogs: the poller's settings with room for big catalogs (MITRE's
/// full enterprise bundle is tens of megabytes; feeds are capped far lower).
pub(crate) fn fetcher(config: &Config) -> Option<Fetcher> {
    let mut poller = config.poller.clone();
    poller.max_feed_bytes = poller.max_feed_bytes.max(CATALOG_MAX_BYTES);
    poller.timeout = poller.timeout.max(std::time::Duration::from_secs(60));
    Fetcher::new(&poller).ok()
}

/// Largest catalog body accepted.
const CATALOG_MAX_BYTES: u64 = 200_000_000;

/// The config's catalog with the URL catalogs merged over it.
pub(crate) fn merge(config: &Config, imported: Imported) -> Arc<Catalog> {
    if imported.is_empty() {
        return config.catalog_data.clone();
    }
    let mut catalog = (*config.catalog_data).clone();
    for (url, actors) in imported {
        tracing::info!(feed_url = %Source::Url(url), actors = actors.len(), "catalog merged");
        catalog.merge_actors(actors);
    }
    catalog.reindex();
    Arc::new(catalog)
}

/// Cache freshly fetched bodies.
pub(crate) fn cache(store: &mut Store, fresh: &[(Url, Vec<u8>)]) {
    for (url, body) in fresh {
        if let Err(e) = store.cache_catalog(url.as_str(), body, Utc::now()) {
            tracing::warn!(feed_url = %Source::Url(url.clone()), error = %e, "cannot cache catalog");
        }
    }
}
