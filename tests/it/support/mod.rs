//! Test support: a real HTTP feed server on 127.0.0.1, the threatwatch binary, temp
//! configs and stores.

#![allow(dead_code)]

pub mod discord;

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
    pub headers: Vec<(&'static str, String)>,
    pub behavior: Behavior,
}

/// How a document misbehaves.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Behavior {
    #[default]
    Normal,
    /// Sends the body one byte every 300 ms.
    Trickle,
    /// A gzip stream that inflates to 1 GB of zeros.
    GzipBomb,
    /// Redirects to itself.
    RedirectLoop,
}

impl Doc {
    pub fn ok(body: impl Into<Vec<u8>>) -> Doc {
        Doc {
            body: body.into(),
            content_type: "application/rss+xml",
            status: 200,
            headers: Vec::new(),
            behavior: Behavior::Normal,
        }
    }

    pub fn status(status: u16) -> Doc {
        Doc {
            status,
            ..Doc::ok(format!("status {status}"))
        }
    }

    pub fn behave(behavior: Behavior) -> Doc {
        Doc {
            behavior,
            ..Doc::ok(Vec::new())
        }
    }
}

/// ~1 MB of gzip that inflates to 1 GB of zeros: one member of 1 MB of zeros, repeated
/// (a gzip file may hold many members), so building it costs milliseconds.
fn gzip_bomb() -> Vec<u8> {
    use std::io::Write;
    static BOMB: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BOMB.get_or_init(|| {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(&vec![0u8; 1 << 20]).expect("gzip");
        enc.finish().expect("gzip").repeat(1024)
    })
    .clone()
}

#[derive(Default)]
struct Inner {
    docs: HashMap<String, Doc>,
    hits: HashMap<String, usize>,
    served: HashMap<String, Vec<std::time::Instant>>,
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
        g.served
            .entry(name.clone())
            .or_default()
            .push(std::time::Instant::now());
        g.docs.get(&name).cloned()
    };
    let Some(doc) = doc else {
        return Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Body::from("not found"))
            .expect("response");
    };
    match doc.behavior {
        Behavior::Normal => {}
        Behavior::Trickle => {
            let body = doc.body.clone();
            let stream = futures_util::stream::unfold(0usize, move |i| {
                let body = body.clone();
                async move {
                    if i >= body.len() {
                        return None;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                    Some((Ok::<_, std::io::Error>(vec![body[i]]), i + 1))
                }
            });
            return Response::builder()
                .status(200)
                .header("content-type", doc.content_type)
                .body(Body::from_stream(stream))
                .expect("response");
        }
        Behavior::GzipBomb => {
            return Response::builder()
                .status(200)
                .header("content-type", "application/rss+xml")
                .header("content-encoding", "gzip")
                .body(Body::from(gzip_bomb()))
                .expect("response");
        }
        Behavior::RedirectLoop => {
            return Response::builder()
                .status(302)
                .header("location", format!("/feeds/{name}"))
                .body(Body::empty())
                .expect("response");
        }
    }
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
    let mut r = Response::builder()
        .status(doc.status)
        .header("content-type", doc.content_type)
        .header("etag", tag);
    for (k, v) in &doc.headers {
        r = r.header(*k, v.as_str());
    }
    r.body(Body::from(doc.body)).expect("response")
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
                content_type,
                ..Doc::ok(body)
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

    /// When each request for `name` arrived.
    pub fn served_at(&self, name: &str) -> Vec<std::time::Instant> {
        self.inner
            .lock()
            .expect("lock")
            .served
            .get(name)
            .cloned()
            .unwrap_or_default()
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

/// ../shared/corpus when it is present; otherwise None, after saying the test is skipped
/// (written to the stderr handle, not eprintln!, so the harness does not capture it and
/// the CI log shows it).
pub fn corpus() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    if p.is_dir() {
        Some(p)
    } else {
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            b"skipped: ../shared/corpus not present\n",
        );
        None
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

/// A running `threatwatch run` whose stdout and stderr lines are collected.
pub struct Daemon {
    pub child: std::process::Child,
    pub out: Arc<Mutex<Vec<String>>>,
    pub err: Arc<Mutex<Vec<String>>>,
}

fn collect(r: impl std::io::Read + Send + 'static, into: Arc<Mutex<Vec<String>>>) {
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            into.lock().expect("lock").push(line);
        }
    });
}

impl Daemon {
    /// Start `threatwatch run --format jsonl` in `dir` (which holds threatwatch.toml).
    pub fn start(dir: &Path) -> Daemon {
        Daemon::start_with(dir, &[])
    }

    /// `start` with extra environment variables (e.g. `DISCORD_TOKEN`).
    pub fn start_with(dir: &Path, envs: &[(&str, &str)]) -> Daemon {
        let mut child = Command::new(env!("CARGO_BIN_EXE_threatwatch"))
            .args(["run", "--format", "jsonl"])
            .current_dir(dir)
            .env_remove("DISCORD_TOKEN")
            .envs(envs.iter().copied())
            .env_remove("THREATWATCH_CONFIG")
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn threatwatch run");
        let out = Arc::new(Mutex::new(Vec::new()));
        let err = Arc::new(Mutex::new(Vec::new()));
        collect(child.stdout.take().expect("stdout"), out.clone());
        collect(child.stderr.take().expect("stderr"), err.clone());
        Daemon { child, out, err }
    }

    pub fn lines(&self) -> Vec<String> {
        self.out.lock().expect("lock").clone()
    }

    pub fn errors(&self) -> String {
        self.err.lock().expect("lock").join("\n")
    }

    /// Titles of the alerts printed so far.
    pub fn titles(&self) -> Vec<String> {
        self.lines()
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v["title"].as_str().map(String::from))
            .collect()
    }

    /// Wait until `cond` holds on (stdout lines, stderr text), up to `secs` seconds.
    pub fn wait_for(&self, secs: u64, what: &str, cond: impl Fn(&[String], &str) -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        while std::time::Instant::now() < deadline {
            if cond(&self.lines(), &self.errors()) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!(
            "timed out waiting for {what}\nstdout:\n{}\nstderr:\n{}",
            self.lines().join("\n"),
            self.errors()
        );
    }

    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Send SIGTERM and wait for the exit status (at most `secs`).
    pub fn stop(mut self, secs: u64) -> std::process::ExitStatus {
        self.signal("TERM");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                return s;
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("daemon did not stop within {secs}s after SIGTERM");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// SIGKILL, no cleanup.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}
