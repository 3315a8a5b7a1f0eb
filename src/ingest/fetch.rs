//! Fetch: a feed's [`Source`] in, its bytes (or "not modified") out.
//!
//! Input: the `[poller]` settings (user agent, timeouts, `max_feed_bytes`), a source (an
//! http(s) URL or a local file) and the validators (`ETag`, `Last-Modified`) remembered
//! from the last fetch. Output: [`Fetched::NotModified`] for a 304, or
//! [`Fetched::Body`] with the decompressed body, its content type, the final URL after
//! redirects, the new validators and, when the feed has permanently moved, its new URL.
//! Failures are a [`FetchError`] whose text is fit for a feed's "last error" and which
//! says whether trying again later can help ([`FetchError::is_transient`]).
//!
//! This is the only module that knows reqwest. It does not parse, retry or schedule,
//! and it never logs bodies. A body is counted while it streams in (after
//! decompression), so an oversized body or a compression bomb is cut off at
//! `max_feed_bytes`, not inflated.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use reqwest::header::{self, HeaderMap};
use reqwest::{redirect, StatusCode};
use tokio::io::AsyncReadExt;
use url::Url;

use crate::config::{Poller, Source};

/// More redirects than this in one fetch is an error.
const MAX_REDIRECTS: usize = 5;

const ACCEPT: &str = "application/rss+xml, application/atom+xml, application/feed+json, \
                      application/rdf+xml;q=0.9, application/xml;q=0.9, text/xml;q=0.9, \
                      application/json;q=0.8, */*;q=0.5";

/// The cache validators of a feed's last successful fetch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// What a fetch produced.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(
    clippy::large_enum_variant,
    reason = "one value per fetch, consumed at once: boxing would buy nothing"
)]
pub enum Fetched {
    /// 304: the feed has not changed since the validators were issued.
    NotModified,
    Body {
        bytes: Vec<u8>,
        content_type: Option<String>,
        /// Where the body came from, after redirects (the base for relative links).
        final_url: Url,
        /// The validators of this response (empty when the server sent none).
        validators: Validators,
        /// Set when the redirect chain starts with permanent redirects (301/308): the
        /// URL they lead to is where the feed now lives.
        permanent_redirect: Option<Url>,
    },
}

/// Why a fetch failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("timed out after {}", humantime::format_duration(*.0))]
    Timeout(Duration),
    #[error("HTTP {code} {reason}")]
    Status {
        code: u16,
        reason: String,
        /// From `Retry-After` on a 429 or 503.
        retry_after: Option<Duration>,
    },
    #[error("body over {} cut off", human_bytes(*limit))]
    TooLarge { limit: u64 },
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("{0}")]
    Redirect(String),
    #[error("cannot read {}: {error}", path.display())]
    File { path: PathBuf, error: String },
    #[error("reading the body failed: {0}")]
    Body(String),
}

impl FetchError {
    /// True when the same fetch may succeed later: timeouts, connection failures, a body
    /// cut short, 5xx, 408 and 429. Other 4xx, oversized bodies, redirect loops and
    /// unreadable files need someone to change something.
    pub fn is_transient(&self) -> bool {
        match self {
            FetchError::Timeout(_) | FetchError::Connect(_) | FetchError::Body(_) => true,
            FetchError::Status { code, .. } => *code >= 500 || *code == 408 || *code == 429,
            FetchError::TooLarge { .. } | FetchError::Redirect(_) | FetchError::File { .. } => {
                false
            }
        }
    }

    /// How long the server asked us to wait (429/503 with `Retry-After`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            FetchError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Fetches feeds. Holds one HTTP client (connection pool) for every feed.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    timeout: Duration,
    connect_timeout: Duration,
    max_bytes: u64,
}

impl Fetcher {
    pub fn new(poller: &Poller) -> Result<Fetcher, FetchError> {
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .user_agent(poller.user_agent.as_str())
            .connect_timeout(poller.connect_timeout)
            .timeout(poller.timeout)
            .gzip(true)
            .brotli(true)
            .deflate(true)
            .redirect(redirect::Policy::custom(follow_redirect))
            .build()
            .map_err(|e| FetchError::Connect(format!("cannot set up HTTP: {}", causes(&e))))?;
        Ok(Fetcher {
            client,
            timeout: poller.timeout,
            connect_timeout: poller.connect_timeout,
            max_bytes: poller.max_feed_bytes,
        })
    }

    /// Fetch one feed. `validators` make it a conditional GET (ignored for files).
    pub async fn fetch(
        &self,
        source: &Source,
        validators: &Validators,
    ) -> Result<Fetched, FetchError> {
        match source {
            Source::Url(url) => {
                let hops = RefCell::new(Vec::new());
                HOPS.scope(hops, self.fetch_url(url, validators)).await
            }
            Source::File(path) => self.read_file(path).await,
        }
    }

    async fn fetch_url(&self, url: &Url, validators: &Validators) -> Result<Fetched, FetchError> {
        let mut request = self.client.get(url.clone()).header(header::ACCEPT, ACCEPT);
        if let Some(etag) = &validators.etag {
            request = request.header(header::IF_NONE_MATCH, etag);
        }
        if let Some(date) = &validators.last_modified {
            request = request.header(header::IF_MODIFIED_SINCE, date);
        }
        let mut response = request.send().await.map_err(|e| self.error(&e))?;
        let status = response.status();
        tracing::debug!(feed_url = %url, status = status.as_u16(), "fetched");
        if status == StatusCode::NOT_MODIFIED {
            return Ok(Fetched::NotModified);
        }
        if !status.is_success() {
            return Err(status_error(status, response.headers(), Utc::now()));
        }
        let limit = usize::try_from(self.max_bytes).unwrap_or(usize::MAX);
        let too_large = FetchError::TooLarge {
            limit: self.max_bytes,
        };
        // Known up front only when the body is not compressed.
        if response
            .content_length()
            .is_some_and(|n| n > self.max_bytes)
        {
            return Err(too_large);
        }
        let headers = response.headers();
        let text = |name| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = text(header::CONTENT_TYPE);
        let validators = Validators {
            etag: text(header::ETAG),
            last_modified: text(header::LAST_MODIFIED),
        };
        let final_url = response.url().clone();
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.error(&e))? {
            if bytes.len() + chunk.len() > limit {
                return Err(too_large);
            }
            bytes.extend_from_slice(&chunk);
        }
        let permanent_redirect = HOPS
            .try_with(|hops| permanent_target(&hops.borrow()))
            .ok()
            .flatten();
        Ok(Fetched::Body {
            bytes,
            content_type,
            final_url,
            validators,
            permanent_redirect,
        })
    }

    async fn read_file(&self, path: &Path) -> Result<Fetched, FetchError> {
        let fail = |error: String| FetchError::File {
            path: path.to_owned(),
            error,
        };
        let absolute = std::path::absolute(path).map_err(|e| fail(e.to_string()))?;
        let final_url = Url::from_file_path(&absolute)
            .map_err(|()| fail("not a path a file: URL can name".to_owned()))?;
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let mut bytes = Vec::new();
        file.take(self.max_bytes.saturating_add(1))
            .read_to_end(&mut bytes)
            .await
            .map_err(|e| fail(e.to_string()))?;
        if bytes.len() as u64 > self.max_bytes {
            return Err(FetchError::TooLarge {
                limit: self.max_bytes,
            });
        }
        Ok(Fetched::Body {
            bytes,
            content_type: None,
            final_url,
            validators: Validators::default(),
            permanent_redirect: None,
        })
    }

    fn error(&self, e: &reqwest::Error) -> FetchError {
        if e.is_timeout() {
            let after = if e.is_connect() {
                self.connect_timeout
            } else {
                self.timeout
            };
            return FetchError::Timeout(after);
        }
        if e.is_redirect() {
            let mut source = std::error::Error::source(e);
            while let Some(err) = source {
                if let Some(problem) = err.downcast_ref::<RedirectProblem>() {
                    return FetchError::Redirect(problem.to_string());
                }
                source = err.source();
            }
            return FetchError::Redirect(format!("redirect failed: {}", causes(e)));
        }
        if e.is_body() || e.is_decode() {
            return FetchError::Body(causes(e));
        }
        FetchError::Connect(causes(e))
    }
}

tokio::task_local! {
    /// The redirects followed by the fetch running on this task: (status, target).
    /// reqwest calls the redirect policy while the caller polls `send()`, on the same
    /// task, so the policy can record the chain here for `permanent_redirect`.
    static HOPS: RefCell<Vec<(StatusCode, Url)>>;
}

#[derive(Debug, thiserror::Error)]
enum RedirectProblem {
    #[error("redirect loop at {0}")]
    Loop(Url),
    #[error("too many redirects (more than {MAX_REDIRECTS})")]
    TooMany,
}

/// The redirect policy: follow up to `MAX_REDIRECTS` hops, never the same URL twice.
fn follow_redirect(attempt: redirect::Attempt<'_>) -> redirect::Action {
    let _ = HOPS.try_with(|hops| {
        hops.borrow_mut()
            .push((attempt.status(), attempt.url().clone()));
    });
    if attempt.previous().contains(attempt.url()) {
        let url = attempt.url().clone();
        attempt.error(RedirectProblem::Loop(url))
    } else if attempt.previous().len() > MAX_REDIRECTS {
        attempt.error(RedirectProblem::TooMany)
    } else {
        attempt.follow()
    }
}

/// Where the leading run of permanent redirects (301, 308) leads, if there is one.
fn permanent_target(hops: &[(StatusCode, Url)]) -> Option<Url> {
    hops.iter()
        .take_while(|(status, _)| {
            matches!(
                *status,
                StatusCode::MOVED_PERMANENTLY | StatusCode::PERMANENT_REDIRECT
            )
        })
        .last()
        .map(|(_, url)| url.clone())
}

fn status_error(status: StatusCode, headers: &HeaderMap, now: DateTime<Utc>) -> FetchError {
    let retry_after = if matches!(
        status,
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
    ) {
        headers
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, now))
    } else {
        None
    };
    FetchError::Status {
        code: status.as_u16(),
        reason: status.canonical_reason().unwrap_or("").to_owned(),
        retry_after,
    }
}

/// `Retry-After` as delay-seconds or as an HTTP-date (IMF-fixdate, RFC 850 or asctime);
/// a date in the past means "now".
fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = DateTime::parse_from_rfc2822(value)
        .map(|d| d.with_timezone(&Utc))
        .or_else(|_| {
            NaiveDateTime::parse_from_str(value, "%A, %d-%b-%y %H:%M:%S GMT")
                .or_else(|_| NaiveDateTime::parse_from_str(value, "%a %b %e %H:%M:%S %Y"))
                .map(|d| d.and_utc())
        })
        .ok()?;
    Some((when - now).to_std().unwrap_or(Duration::ZERO))
}

/// The causes under a reqwest error, without its "error sending request for url (...)"
/// wrapper and hyper's "client error (Connect)" layer.
fn causes(e: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(err) = source {
        let text = err.to_string();
        if !text.starts_with("client error (") && !parts.contains(&text) {
            parts.push(text);
        }
        source = err.source();
    }
    if parts.is_empty() {
        parts.push(e.to_string());
    }
    parts.join(": ")
}

/// `5 MB`, `1.5 MB`, `800 kB`, `512 bytes` (decimal units, as in `max_feed_bytes`).
fn human_bytes(n: u64) -> String {
    let (value, unit) = match n {
        1_000_000.. => (n as f64 / 1e6, "MB"),
        1_000.. => (n as f64 / 1e3, "kB"),
        _ => return format!("{n} bytes"),
    };
    let text = format!("{value:.1}");
    format!("{} {unit}", text.trim_end_matches(".0"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use std::io::Write as _;
    use std::net::SocketAddr;
    use std::time::Instant;

    use axum::body::{Body, Bytes};
    use axum::extract::Path as UrlPath;
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::{IntoResponse, Redirect, Response};
    use axum::routing::get;
    use axum::Router;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use futures_util::stream;

    use super::*;

    const FEED: &str = "<rss version=\"2.0\"><channel><title>t</title></channel></rss>";
    const ETAG: &str = "\"v1\"";
    const LAST_MODIFIED: &str = "Wed, 23 Jul 2025 10:00:00 GMT";

    fn poller(timeout: Duration, max_feed_bytes: u64) -> Poller {
        Poller {
            interval: Duration::from_secs(900),
            concurrency: 1,
            timeout,
            connect_timeout: Duration::from_secs(2),
            max_feed_bytes,
            user_agent: "threatwatch-test/0.1".to_owned(),
            max_item_age: Duration::from_secs(86_400),
            fail_notice_after: 3,
            max_backoff: Duration::from_secs(3600),
        }
    }

    fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// 1 GB of zeros, gzip-compressed on the fly 1 MiB at a time (about 1 MB on the wire).
    fn gzip_bomb() -> Body {
        static ZEROS: [u8; 1 << 20] = [0; 1 << 20];
        let encoder = GzEncoder::new(Vec::new(), Compression::default());
        let chunks = stream::unfold(Some((encoder, 0)), |state| async move {
            // Let the client run between chunks, as it would with a remote server.
            tokio::task::yield_now().await;
            let (mut encoder, sent) = state?;
            if sent == 1024 {
                return Some((
                    Ok::<_, std::io::Error>(Bytes::from(encoder.finish().ok()?)),
                    None,
                ));
            }
            encoder.write_all(&ZEROS).ok()?;
            encoder.flush().ok()?;
            let out = Bytes::from(std::mem::take(encoder.get_mut()));
            Some((Ok(out), Some((encoder, sent + 1))))
        });
        Body::from_stream(chunks)
    }

    fn server() -> Router {
        Router::new()
            .route("/feed", get(|| async { FEED }))
            .route(
                "/ua",
                get(|headers: HeaderMap| async move { header(&headers, "user-agent").to_owned() }),
            )
            .route(
                "/etag",
                get(|headers: HeaderMap| async move {
                    if header(&headers, "if-none-match") == ETAG {
                        return StatusCode::NOT_MODIFIED.into_response();
                    }
                    ([("etag", ETAG)], FEED).into_response()
                }),
            )
            .route(
                "/last-modified",
                get(|headers: HeaderMap| async move {
                    if header(&headers, "if-modified-since") == LAST_MODIFIED {
                        return StatusCode::NOT_MODIFIED.into_response();
                    }
                    ([("last-modified", LAST_MODIFIED)], FEED).into_response()
                }),
            )
            .route(
                "/429-seconds",
                get(|| async { (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "120")]) }),
            )
            .route(
                "/503-date",
                get(|| async {
                    let when = Utc::now() + chrono::Duration::seconds(600);
                    let date = when.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
                    (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", date)])
                }),
            )
            .route("/500", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
            .route("/404", get(|| async { StatusCode::NOT_FOUND }))
            .route(
                "/trickle",
                get(|| async {
                    let bytes = stream::unfold(0, |n| async move {
                        if n == 20 {
                            return None;
                        }
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        Some((Ok::<_, std::io::Error>(Bytes::from_static(b"x")), n + 1))
                    });
                    Body::from_stream(bytes)
                }),
            )
            .route("/big", get(|| async { vec![b'x'; 2_000_000] }))
            .route(
                "/big-chunked",
                get(|| async {
                    let chunks = stream::iter(
                        (0..20).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'x'; 100_000]))),
                    );
                    Body::from_stream(chunks)
                }),
            )
            .route(
                "/bomb",
                get(|| async {
                    Response::builder()
                        .header("content-encoding", "gzip")
                        .header("content-type", "application/rss+xml")
                        .body(gzip_bomb())
                        .unwrap()
                }),
            )
            .route("/loop-a", get(|| async { Redirect::temporary("/loop-b") }))
            .route("/loop-b", get(|| async { Redirect::temporary("/loop-a") }))
            .route(
                "/hop/:n",
                get(|UrlPath(n): UrlPath<u32>| async move {
                    Redirect::temporary(&format!("/hop/{}", n + 1))
                }),
            )
            .route(
                "/five-hops/:n",
                get(|UrlPath(n): UrlPath<u32>| async move {
                    match n {
                        5 => FEED.into_response(),
                        n => Redirect::temporary(&format!("/five-hops/{}", n + 1)).into_response(),
                    }
                }),
            )
            .route("/moved", get(|| async { Redirect::permanent("/feed") }))
            .route(
                "/moved-301",
                get(|| async {
                    (
                        StatusCode::MOVED_PERMANENTLY,
                        [("location", "/moved-then-temp")],
                    )
                }),
            )
            .route(
                "/moved-then-temp",
                get(|| async { Redirect::temporary("/feed") }),
            )
            .route("/temp", get(|| async { Redirect::temporary("/feed") }))
            .route(
                "/page",
                get(|| async {
                    axum::response::Html("<!DOCTYPE html><html><body>Not a feed</body></html>")
                }),
            )
    }

    async fn serve() -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, server()).await });
        addr
    }

    async fn fetch_with(
        poller: &Poller,
        addr: SocketAddr,
        path: &str,
        validators: &Validators,
    ) -> Result<Fetched, FetchError> {
        let fetcher = Fetcher::new(poller).unwrap();
        let url = Url::parse(&format!("http://{addr}{path}")).unwrap();
        fetcher.fetch(&Source::Url(url), validators).await
    }

    async fn fetch(addr: SocketAddr, path: &str) -> Result<Fetched, FetchError> {
        let poller = poller(Duration::from_secs(10), 1_000_000);
        fetch_with(&poller, addr, path, &Validators::default()).await
    }

    /// Fetch `path` and compare a one-line description of the outcome.
    async fn check(addr: SocketAddr, path: &str, expect: &str) {
        let actual = describe(&fetch(addr, path).await, addr);
        assert_eq!(actual, expect, "GET {path}");
    }

    fn describe(result: &Result<Fetched, FetchError>, addr: SocketAddr) -> String {
        let text = match result {
            Ok(Fetched::NotModified) => "not modified".to_owned(),
            Ok(Fetched::Body {
                bytes,
                content_type,
                final_url,
                validators,
                permanent_redirect,
            }) => format!(
                "{} bytes, type {content_type:?}, from {final_url}, {validators:?}, moved to {:?}",
                bytes.len(),
                permanent_redirect.as_ref().map(Url::as_str),
            ),
            Err(e) => format!(
                "error: {e} (transient: {}, retry after: {:?})",
                e.is_transient(),
                e.retry_after()
            ),
        };
        text.replace(&addr.to_string(), "HOST")
    }

    #[tokio::test]
    async fn plain_feed_and_user_agent() {
        let addr = serve().await;
        check(
            addr,
            "/feed",
            "60 bytes, type Some(\"text/plain; charset=utf-8\"), from http://HOST/feed, \
             Validators { etag: None, last_modified: None }, moved to None",
        )
        .await;
        let Ok(Fetched::Body { bytes, .. }) = fetch(addr, "/ua").await else {
            panic!("no body");
        };
        assert_eq!(bytes, b"threatwatch-test/0.1");
    }

    #[tokio::test]
    async fn etag_round_trip() {
        let addr = serve().await;
        let Ok(Fetched::Body { validators, .. }) = fetch(addr, "/etag").await else {
            panic!("first fetch has no body");
        };
        assert_eq!(validators.etag.as_deref(), Some(ETAG));
        let poller = poller(Duration::from_secs(10), 1_000_000);
        let again = fetch_with(&poller, addr, "/etag", &validators).await;
        assert_eq!(again, Ok(Fetched::NotModified));
    }

    #[tokio::test]
    async fn last_modified_round_trip() {
        let addr = serve().await;
        let Ok(Fetched::Body { validators, .. }) = fetch(addr, "/last-modified").await else {
            panic!("first fetch has no body");
        };
        assert_eq!(validators.last_modified.as_deref(), Some(LAST_MODIFIED));
        let poller = poller(Duration::from_secs(10), 1_000_000);
        let again = fetch_with(&poller, addr, "/last-modified", &validators).await;
        assert_eq!(again, Ok(Fetched::NotModified));
    }

    #[tokio::test]
    async fn statuses() {
        let addr = serve().await;
        check(
            addr,
            "/429-seconds",
            "error: HTTP 429 Too Many Requests (transient: true, retry after: Some(120s))",
        )
        .await;
        check(
            addr,
            "/500",
            "error: HTTP 500 Internal Server Error (transient: true, retry after: None)",
        )
        .await;
        check(
            addr,
            "/404",
            "error: HTTP 404 Not Found (transient: false, retry after: None)",
        )
        .await;
        let Err(e) = fetch(addr, "/503-date").await else {
            panic!("503 expected");
        };
        assert_eq!(e.to_string(), "HTTP 503 Service Unavailable");
        let wait = e.retry_after().unwrap();
        assert!(
            wait > Duration::from_secs(590) && wait <= Duration::from_secs(600),
            "{wait:?}"
        );
    }

    #[tokio::test]
    async fn trickling_body_times_out() {
        let addr = serve().await;
        let poller = poller(Duration::from_secs(1), 1_000_000);
        let started = Instant::now();
        let result = fetch_with(&poller, addr, "/trickle", &Validators::default()).await;
        assert_eq!(
            describe(&result, addr),
            "error: timed out after 1s (transient: true, retry after: None)"
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn oversized_bodies_are_cut_off() {
        let addr = serve().await;
        let too_large = "error: body over 1 MB cut off (transient: false, retry after: None)";
        check(addr, "/big", too_large).await;
        check(addr, "/big-chunked", too_large).await;
    }

    #[tokio::test]
    async fn gzip_bomb_is_cut_off_not_inflated() {
        let addr = serve().await;
        let started = Instant::now();
        check(
            addr,
            "/bomb",
            "error: body over 1 MB cut off (transient: false, retry after: None)",
        )
        .await;
        // Inflating the whole gigabyte takes far longer than this in a debug build.
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn redirects() {
        let addr = serve().await;
        check(
            addr,
            "/loop-a",
            "error: redirect loop at http://HOST/loop-a (transient: false, retry after: None)",
        )
        .await;
        check(
            addr,
            "/hop/0",
            "error: too many redirects (more than 5) (transient: false, retry after: None)",
        )
        .await;
        let moved = |to: &str| {
            format!(
                "60 bytes, type Some(\"text/plain; charset=utf-8\"), from http://HOST/feed, \
                 Validators {{ etag: None, last_modified: None }}, moved to {to}"
            )
        };
        check(
            addr,
            "/five-hops/0",
            &moved("None").replace("/feed,", "/five-hops/5,"),
        )
        .await;
        check(addr, "/moved", &moved("Some(\"http://HOST/feed\")")).await;
        check(
            addr,
            "/moved-301",
            &moved("Some(\"http://HOST/moved-then-temp\")"),
        )
        .await;
        check(addr, "/temp", &moved("None")).await;
    }

    #[tokio::test]
    async fn html_page_is_fetched_as_is() {
        let addr = serve().await;
        check(
            addr,
            "/page",
            "51 bytes, type Some(\"text/html; charset=utf-8\"), from http://HOST/page, \
             Validators { etag: None, last_modified: None }, moved to None",
        )
        .await;
    }

    #[tokio::test]
    async fn connection_refused_is_transient() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let Err(e) = fetch(addr, "/feed").await else {
            panic!("nothing listens there");
        };
        assert!(e.to_string().starts_with("connection failed: "), "{e}");
        assert!(e.is_transient());
    }

    #[tokio::test]
    async fn local_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feed.xml");
        std::fs::write(&path, FEED).unwrap();
        let fetcher = Fetcher::new(&poller(Duration::from_secs(10), 1_000_000)).unwrap();
        let fetched = fetcher
            .fetch(&Source::File(path.clone()), &Validators::default())
            .await;
        assert_eq!(
            fetched,
            Ok(Fetched::Body {
                bytes: FEED.as_bytes().to_vec(),
                content_type: None,
                final_url: Url::from_file_path(&path).unwrap(),
                validators: Validators::default(),
                permanent_redirect: None,
            })
        );

        let missing = dir.path().join("missing.xml");
        let Err(e) = fetcher
            .fetch(&Source::File(missing.clone()), &Validators::default())
            .await
        else {
            panic!("missing file fetched");
        };
        assert_eq!(
            e.to_string(),
            format!(
                "cannot read {}: No such file or directory (os error 2)",
                missing.display()
            )
        );
        assert!(!e.is_transient());

        let small = Fetcher::new(&poller(Duration::from_secs(10), 10)).unwrap();
        let big = small
            .fetch(&Source::File(path), &Validators::default())
            .await;
        assert_eq!(big, Err(FetchError::TooLarge { limit: 10 }));
    }

    #[test]
    fn fetch_is_send() {
        fn assert_send<T: Send>(_: T) {}
        let fetcher = Fetcher::new(&poller(Duration::from_secs(1), 1)).unwrap();
        let source = Source::File("x".into());
        assert_send(fetcher.fetch(&source, &Validators::default()));
    }

    #[test]
    fn messages_and_classes() {
        let check = |e: FetchError, text: &str, transient: bool| {
            assert_eq!(
                (e.to_string().as_str(), e.is_transient()),
                (text, transient)
            );
        };
        let status = |code: u16, reason: &str| FetchError::Status {
            code,
            reason: reason.to_owned(),
            retry_after: None,
        };
        check(
            FetchError::Timeout(Duration::from_secs(20)),
            "timed out after 20s",
            true,
        );
        check(status(403, "Forbidden"), "HTTP 403 Forbidden", false);
        check(
            status(408, "Request Timeout"),
            "HTTP 408 Request Timeout",
            true,
        );
        check(status(410, "Gone"), "HTTP 410 Gone", false);
        check(status(502, "Bad Gateway"), "HTTP 502 Bad Gateway", true);
        check(
            FetchError::TooLarge { limit: 5_000_000 },
            "body over 5 MB cut off",
            false,
        );
        check(
            FetchError::TooLarge { limit: 1_500_000 },
            "body over 1.5 MB cut off",
            false,
        );
        check(
            FetchError::TooLarge { limit: 800_000 },
            "body over 800 kB cut off",
            false,
        );
        check(
            FetchError::TooLarge { limit: 512 },
            "body over 512 bytes cut off",
            false,
        );
    }

    #[test]
    fn retry_after_forms() {
        let now = chrono::TimeZone::with_ymd_and_hms(&Utc, 1994, 11, 6, 8, 48, 37).unwrap();
        let check = |value: &str, expect: Option<u64>| {
            assert_eq!(
                parse_retry_after(value, now),
                expect.map(Duration::from_secs),
                "{value:?}"
            );
        };
        check("120", Some(120));
        check(" 0 ", Some(0));
        check("Sun, 06 Nov 1994 08:49:37 GMT", Some(60));
        check("Sunday, 06-Nov-94 08:49:37 GMT", Some(60));
        check("Sun Nov  6 08:49:37 1994", Some(60));
        check("Sun, 06 Nov 1994 08:00:00 GMT", Some(0));
        check("soon", None);
        check("-5", None);
    }
}
