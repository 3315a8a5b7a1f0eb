//! `threatwatch run` as a long-lived process: seeding, backfill, restarts, hostile
//! servers, signals. Intervals are one second so each test takes a few seconds.

use crate::support::*;

const RULE: &str = r#"
[[rules]]
name = "apt27"
actors = ["APT27"]
"#;

fn config(dir: &std::path::Path, feeds: &[(&str, String, &str)], extra: &str) {
    let mut s = String::from(
        "[storage]\npath = \"tw.db\"\n\n[poller]\ninterval = \"1s\"\ntimeout = \"2s\"\nconnect_timeout = \"1s\"\nmax_feed_bytes = 200_000\nfail_notice_after = 2\nmax_backoff = \"2s\"\n\n",
    );
    for (name, url, more) in feeds {
        s.push_str(&format!(
            "[[feeds]]\nname = \"{name}\"\nurl = \"{url}\"\n{more}\n\n"
        ));
    }
    s.push_str(extra);
    std::fs::write(dir.join("threatwatch.toml"), s).expect("config");
}

fn item(n: usize, hours: i64) -> (String, String, String, String, String) {
    (
        format!("g{n}"),
        format!("Emissary Panda story {n}"),
        "TG-3390 again".to_string(),
        format!("https://news.example/{n}"),
        hours_ago(hours),
    )
}

fn feed_of(items: &[(String, String, String, String, String)]) -> String {
    let refs: Vec<(&str, &str, &str, &str, &str)> = items
        .iter()
        .map(|(a, b, c, d, e)| (a.as_str(), b.as_str(), c.as_str(), d.as_str(), e.as_str()))
        .collect();
    rss(&refs)
}

#[test]
fn first_poll_seeds_then_new_items_alert_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = FeedServer::start();
    let mut items = vec![item(1, 5), item(2, 4), item(3, 3)];
    server.set("a", feed_of(&items), "application/rss+xml");
    server.set("b", feed_of(&items), "application/rss+xml");
    config(
        dir.path(),
        &[
            ("A", server.url("a"), ""),
            ("B", server.url("b"), "backfill = 2"),
        ],
        RULE,
    );
    let d = Daemon::start(dir.path());
    // B backfills its newest two; A seeds silently.
    d.wait_for(30, "backfill alerts", |l, _| l.len() >= 2);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let mut titles = d.titles();
    titles.sort();
    assert_eq!(titles, ["Emissary Panda story 2", "Emissary Panda story 3"]);

    items.insert(0, item(4, 1));
    server.set("a", feed_of(&items), "application/rss+xml");
    server.set("b", feed_of(&items), "application/rss+xml");
    d.wait_for(30, "the new item from A and from B", |l, _| l.len() >= 3);
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let titles = d.titles();
    // The same article reaching two feeds alerts once per channel (here: the console).
    assert_eq!(
        titles
            .iter()
            .filter(|t| *t == "Emissary Panda story 4")
            .count(),
        1,
        "{titles:?}"
    );
    assert_eq!(titles.len(), 3, "{titles:?}");
    // Polls after the first get 304s (conditional GET).
    assert!(server.hits("a") >= 3);
    assert!(d.stop(10).success());
}

#[test]
fn sigterm_exits_zero_quickly_and_restart_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = FeedServer::start();
    let mut items = vec![item(1, 5)];
    server.set("a", feed_of(&items), "application/rss+xml");
    config(dir.path(), &[("A", server.url("a"), "")], RULE);

    let d = Daemon::start(dir.path());
    d.wait_for(30, "seeded", |_, e| e.contains("feed seeded"));
    let started = std::time::Instant::now();
    assert!(d.stop(10).success());
    assert!(started.elapsed() < std::time::Duration::from_secs(9));

    // While it was down, two items arrived; a kill -9 in the middle changes nothing.
    items.insert(0, item(2, 2));
    items.insert(0, item(3, 1));
    server.set("a", feed_of(&items), "application/rss+xml");
    let d = Daemon::start(dir.path());
    d.wait_for(30, "two alerts", |l, _| l.len() >= 2);
    d.kill9();
    items.insert(0, item(4, 0));
    server.set("a", feed_of(&items), "application/rss+xml");
    let d = Daemon::start(dir.path());
    d.wait_for(30, "the fourth", |l, _| !l.is_empty());
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert_eq!(d.titles(), ["Emissary Panda story 4"]);
    assert!(d.stop(10).success());
}

#[test]
fn hostile_servers_never_stop_the_daemon() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = FeedServer::start();
    server.set_doc(
        "slow",
        Doc {
            behavior: Behavior::Trickle,
            ..Doc::ok(feed_of(&[item(1, 1)]))
        },
    );
    server.set_doc("bomb", Doc::behave(Behavior::GzipBomb));
    server.set_doc("loop", Doc::behave(Behavior::RedirectLoop));
    server.set_doc("big", Doc::ok(vec![b' '; 300_000]));
    server.set(
        "html",
        "<!doctype html><html><body>hi</body></html>",
        "text/html",
    );
    server.set(
        "xml",
        "<rss version=\"2.0\"><channel><item><title>broken</titl>",
        "application/rss+xml",
    );
    let mut limited = Doc::status(429);
    limited.headers.push(("retry-after", "1".into()));
    server.set_doc("limited", limited);
    server.set_doc("flaky", Doc::status(500));
    server.set("good", feed_of(&[item(1, 3)]), "application/rss+xml");
    let feeds: Vec<(&str, String, &str)> = [
        "slow", "bomb", "loop", "big", "html", "xml", "limited", "flaky", "good",
    ]
    .iter()
    .map(|n| (*n, server.url(n), ""))
    .collect();
    config(dir.path(), &feeds, RULE);
    let d = Daemon::start(dir.path());
    d.wait_for(40, "failing notices", |_, e| {
        ["bomb", "loop", "big", "html", "xml", "slow"]
            .iter()
            .all(|f| e.contains(&format!("\"feed\":\"{f}\",\"notice\":\"failing\"")))
    });
    // The flaky feed recovers and its items were seeded, the good feed alerts new items.
    server.set("flaky", feed_of(&[item(7, 3)]), "application/rss+xml");
    d.wait_for(30, "flaky recovered", |_, e| {
        e.contains("\"feed\":\"flaky\",\"notice\":\"recovered\"")
    });
    server.set(
        "good",
        feed_of(&[item(2, 1), item(1, 3)]),
        "application/rss+xml",
    );
    d.wait_for(30, "an alert from the good feed", |l, _| !l.is_empty());

    let out = threatwatch(dir.path(), &["feeds", "--format", "json"]);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let err = |name: &str| {
        rows.as_array()
            .and_then(|a| a.iter().find(|r| r["name"] == name))
            .and_then(|r| r["last_error"].as_str())
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(err("slow"), "timed out after 2s");
    assert_eq!(err("big"), "body over 200 kB cut off");
    assert_eq!(err("bomb"), "body over 200 kB cut off");
    assert_eq!(err("html"), "not a feed: HTML page");
    assert!(err("loop").contains("redirect"), "{}", err("loop"));
    assert!(
        err("xml").starts_with("invalid XML") || err("xml").starts_with("invalid feed"),
        "{}",
        err("xml")
    );
    assert_eq!(err("limited"), "HTTP 429 Too Many Requests");
    assert_eq!(err("good"), "");
    assert!(d.stop(10).success());
}

#[test]
fn sighup_adds_a_feed_and_rejects_a_broken_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = FeedServer::start();
    server.set("a", feed_of(&[item(1, 3)]), "application/rss+xml");
    server.set("b", feed_of(&[item(2, 3)]), "application/rss+xml");
    config(dir.path(), &[("A", server.url("a"), "")], RULE);
    let d = Daemon::start(dir.path());
    d.wait_for(30, "A seeded", |_, e| e.contains("feed seeded"));

    config(
        dir.path(),
        &[
            ("A", server.url("a"), ""),
            ("B", server.url("b"), "backfill = 1"),
        ],
        RULE,
    );
    d.signal("HUP");
    d.wait_for(30, "B's backfilled alert", |l, _| !l.is_empty());
    assert_eq!(d.titles(), ["Emissary Panda story 2"]);

    std::fs::write(
        dir.path().join("threatwatch.toml"),
        "[poller]\ninterval = \"soon\"\n",
    )
    .expect("write");
    d.signal("HUP");
    d.wait_for(30, "the rejection", |_, e| {
        e.contains("config reload rejected")
    });
    assert!(
        d.errors()
            .contains("threatwatch.toml:2:12: poller.interval:"),
        "{}",
        d.errors()
    );
    // Still running on the old config.
    server.set(
        "b",
        feed_of(&[item(3, 1), item(2, 3)]),
        "application/rss+xml",
    );
    d.wait_for(30, "B still polled", |l, _| l.len() >= 2);
    assert!(d.stop(10).success());
}
