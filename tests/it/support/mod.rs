//! Test support: a real HTTP feed server on 127.0.0.1, the threatwatch binary, temp
//! configs and stores.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, Response, StatusCode};
use axum::routing::get;
use axum::Router;

/// One served document.
#[derive(Clone, Debug)]
pub struct Doc {
    pub body: Vec<u8>,
    pub content_type: &'static str,
    pub status: u16,
}

#[derive(Default)]
struct Inner {
    docs: HashMap<String, Doc>,
    hits: HashMap<String, usize>,
}

/// A feed server: `/feeds/NAME` serves the document set for NAME, with an ETag and
/// If-None-Match support, and counts requests.
#[derive(Clone)]
pub struct FeedServer {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    _rt: Arc<tokio::runtime::Runtime>,
}

fn etag(body: &[u8]) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in body {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("\"{h:016x}\"")
}

async fn serve(
    State(inner): State<Arc<Mutex<Inner>>>,
    UrlPath(name): UrlPath<String>,
    headers: HeaderMap,
) -> Response<Body> {
    let doc = {
        let mut g = inner.lock().expect("lock");
        *g.hits.entry(name.clone()).or_default() += 1;
        g.docs.get(&name).cloned()
    };
    let Some(doc) = doc else {
        return Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Body::from("not found"))
            .expect("response");
    };
    let tag = etag(&doc.body);
    if doc.status == 200
        && headers
            .get("if-none-match")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == tag)
    {
        return Response::builder()
            .status(StatusCode::NOT_MODIFIED)
            .header("etag", tag)
            .body(Body::empty())
            .expect("response");
    }
    Response::builder()
        .status(doc.status)
        .header("content-type", doc.content_type)
        .header("etag", tag)
        .body(Body::from(doc.body))
        .expect("response")
}

impl FeedServer {
    pub fn start() -> FeedServer {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new()
            .route("/feeds/:name", get(serve))
            .with_state(inner.clone());
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        rt.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FeedServer {
            addr,
            inner,
            _rt: Arc::new(rt),
        }
    }

    pub fn set(&self, name: &str, body: impl Into<Vec<u8>>, content_type: &'static str) {
        self.set_doc(
            name,
            Doc {
                body: body.into(),
                content_type,
                status: 200,
            },
        );
    }

    pub fn set_doc(&self, name: &str, doc: Doc) {
        self.inner
            .lock()
            .expect("lock")
            .docs
            .insert(name.to_string(), doc);
    }

    pub fn url(&self, name: &str) -> String {
        format!("http://{}/feeds/{name}", self.addr)
    }

    pub fn hits(&self, name: &str) -> usize {
        *self
            .inner
            .lock()
            .expect("lock")
            .hits
            .get(name)
            .unwrap_or(&0)
    }
}

pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

pub fn read_fixture(rel: &str) -> String {
    std::fs::read_to_string(fixture(rel)).expect("fixture")
}

/// Run the threatwatch binary with `args`, no Discord token, in `dir`.
pub fn threatwatch(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_threatwatch"))
        .args(args)
        .current_dir(dir)
        .env_remove("DISCORD_TOKEN")
        .env_remove("THREATWATCH_CONFIG")
        .env("RUST_LOG", "warn")
        .output()
        .expect("run threatwatch")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// An RSS 2.0 document with the given (guid, title, description, link, pubDate) items.
pub fn rss(items: &[(&str, &str, &str, &str, &str)]) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel><title>Test feed</title><link>http://example.test/</link><description>t</description>\n",
    );
    for (guid, title, desc, link, date) in items {
        s.push_str(&format!(
            "<item><guid isPermaLink=\"false\">{guid}</guid><title>{title}</title><description><![CDATA[{desc}]]></description><link>{link}</link><pubDate>{date}</pubDate></item>\n"
        ));
    }
    s.push_str("</channel></rss>\n");
    s
}

/// RFC 2822 date `hours` ago (items must be newer than `max_item_age` to alert).
pub fn hours_ago(hours: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::hours(hours)).to_rfc2822()
}
