//! End-to-end poll benchmark: one full `threatwatch once` cycle over 1,000 local feeds of
//! 50 items each (cold: everything new, 50,000 items parsed, stored and matched), then
//! the same cycle when every feed answers 304.
//!
//! ```sh
//! cargo build --release && cargo run --release --example poll_bench
//! ```
//! Feeds are served from 32 loopback addresses (127.0.0.1-32) so the per-host limit of
//! two requests does not cap concurrency below 64. Prints wall times, requests/s, alerts
//! and the threatwatch process's peak RSS (VmHWM, sampled from /proc).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Response};
use axum::routing::get;
use axum::Router;

const FEEDS: usize = 1000;
const ITEMS: usize = 50;
const HOSTS: usize = 32;

struct Server {
    docs: Vec<Vec<u8>>,
    hits: AtomicUsize,
    not_modified: AtomicUsize,
}

const SNIPPETS: &[&str] = &[
    "Researchers attributed the intrusion to Emissary Panda, also tracked as TG-3390, which targeted telecommunications providers in Vietnam.",
    "The LockBit ransomware gang claimed an attack on a hospital in Germany and leaked patient records.",
    "A critical vulnerability in a popular VPN appliance is being exploited in the wild; CISA added it to its catalog.",
    "Microsoft said Midnight Blizzard accessed email accounts of senior leadership through a password spray.",
    "Banks across Southeast Asia were hit by a phishing campaign delivering an Android banking trojan.",
    "The woman said malicious actors used a fake invoice; the company in Oman reported no impact on customers.",
    "Volt Typhoon pre-positioned itself in US water utilities and energy networks, officials warned.",
    "Security updates fix memory corruption flaws in the browser's JavaScript engine and the PDF viewer.",
];

fn doc(feed: usize) -> Vec<u8> {
    let mut s = String::with_capacity(ITEMS * 1400);
    s.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\"><channel><title>Bench</title><link>https://bench.example/</link><description>b</description>");
    let now = chrono::Utc::now();
    for i in 0..ITEMS {
        let date = (now - chrono::Duration::minutes((feed * ITEMS + i) as i64 % 5000)).to_rfc2822();
        let mut body = String::new();
        for k in 0..8 {
            body.push_str(SNIPPETS[(feed + i + k) % SNIPPETS.len()]);
            body.push(' ');
        }
        s.push_str(&format!(
            "<item><title>Story {feed}-{i}: {}</title><link>https://bench.example/{feed}/{i}?utm_source=rss</link><guid isPermaLink=\"false\">{feed}-{i}</guid><pubDate>{date}</pubDate><description><![CDATA[<p>{body}</p>]]></description></item>",
            &SNIPPETS[(feed + i) % SNIPPETS.len()][..40]
        ));
    }
    s.push_str("</channel></rss>");
    s.into_bytes()
}

async fn serve(
    State(st): State<Arc<Server>>,
    Path(n): Path<usize>,
    headers: HeaderMap,
) -> Response<Body> {
    st.hits.fetch_add(1, Ordering::Relaxed);
    let tag = format!("\"v1-{n}\"");
    if headers.get("if-none-match").and_then(|v| v.to_str().ok()) == Some(tag.as_str()) {
        st.not_modified.fetch_add(1, Ordering::Relaxed);
        return Response::builder()
            .status(304)
            .header("etag", tag)
            .body(Body::empty())
            .expect("response");
    }
    Response::builder()
        .header("content-type", "application/rss+xml")
        .header("etag", tag)
        .body(Body::from(st.docs[n].clone()))
        .expect("response")
}

/// Run the binary once; return (wall time, stdout lines, peak RSS in kB, CPU seconds).
fn cycle(bin: &PathBuf, dir: &std::path::Path) -> (Duration, usize, u64, f64) {
    let started = Instant::now();
    let mut child = Command::new(bin)
        .args(["--config", "bench.toml", "once", "--format", "jsonl"])
        .current_dir(dir)
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run threatwatch");
    let pid = child.id();
    let out = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        std::io::BufReader::new(out).lines().count()
    });
    let mut peak = 0u64;
    let mut cpu_ticks = 0u64;
    loop {
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            // Fields after the command name: utime and stime are the 12th and 13th.
            if let Some(rest) = stat.rsplit(')').next() {
                let f: Vec<&str> = rest.split_whitespace().collect();
                if f.len() > 13 {
                    cpu_ticks =
                        f[11].parse::<u64>().unwrap_or(0) + f[12].parse::<u64>().unwrap_or(0);
                }
            }
        }
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            for line in status.lines() {
                if let Some(v) = line.strip_prefix("VmHWM:") {
                    let kb: u64 = v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
                    peak = peak.max(kb);
                }
            }
        }
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let wall = started.elapsed();
    // Clock ticks are 1/100 s on Linux.
    (
        wall,
        reader.join().expect("reader"),
        peak,
        cpu_ticks as f64 / 100.0,
    )
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bin = std::env::var_os("THREATWATCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/release/threatwatch"));
    assert!(
        bin.exists(),
        "build the binary first: cargo build --release ({})",
        bin.display()
    );

    eprintln!("generating {FEEDS} feeds x {ITEMS} items ...");
    let st = Arc::new(Server {
        docs: (0..FEEDS).map(doc).collect(),
        hits: AtomicUsize::new(0),
        not_modified: AtomicUsize::new(0),
    });
    let bytes: usize = st.docs.iter().map(Vec::len).sum();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let mut addrs: Vec<SocketAddr> = Vec::new();
    for h in 1..=HOSTS {
        let listener = rt
            .block_on(tokio::net::TcpListener::bind(format!("127.0.0.{h}:0")))
            .expect("bind loopback address");
        addrs.push(listener.local_addr().expect("addr"));
        let app = Router::new()
            .route("/feed/:n", get(serve))
            .with_state(st.clone());
        rt.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = String::from(
        "[storage]\npath = \"bench.db\"\n[poller]\nconcurrency = 64\ntimeout = \"30s\"\nmax_feed_bytes = 5_000_000\n\n[[rules]]\nname = \"seed\"\nactors = [\"APT27\", \"LockBit\", \"Volt Typhoon\"]\nsectors = [\"telecommunications\", \"healthcare\"]\nregions = [\"Southeast Asia\", \"Europe\"]\n\n",
    );
    for n in 0..FEEDS {
        let a = addrs[n % HOSTS];
        cfg.push_str(&format!(
            "[[feeds]]\nname = \"feed {n}\"\nurl = \"http://{a}/feed/{n}\"\n\n"
        ));
    }
    std::fs::write(dir.path().join("bench.toml"), cfg).expect("config");

    let (cold, alerts, rss_cold, cpu_cold) = cycle(&bin, dir.path());
    let hits_cold = st.hits.load(Ordering::Relaxed);
    let (warm, alerts_warm, rss_warm, cpu_warm) = cycle(&bin, dir.path());
    let hits_warm = st.hits.load(Ordering::Relaxed) - hits_cold;
    println!("poll_bench: {FEEDS} feeds x {ITEMS} items ({:.1} MB of XML), concurrency 64, {HOSTS} hosts", bytes as f64 / 1e6);
    println!(
        "cold cycle: {:.2} s ({:.2} s CPU), {} requests, {:.0} requests/s, {:.0} items/s, {} alerts, peak RSS {:.1} MB",
        cold.as_secs_f64(),
        cpu_cold,
        hits_cold,
        hits_cold as f64 / cold.as_secs_f64(),
        (FEEDS * ITEMS) as f64 / cold.as_secs_f64(),
        alerts,
        rss_cold as f64 / 1024.0
    );
    println!(
        "304 cycle:  {:.2} s ({:.2} s CPU), {} requests ({} answered 304), {:.0} requests/s, {} alerts, peak RSS {:.1} MB",
        warm.as_secs_f64(),
        cpu_warm,
        hits_warm,
        st.not_modified.load(Ordering::Relaxed),
        hits_warm as f64 / warm.as_secs_f64(),
        alerts_warm,
        rss_warm as f64 / 1024.0
    );
    println!(
        "ratio cold/304: {:.1}x",
        cold.as_secs_f64() / warm.as_secs_f64()
    );
}
