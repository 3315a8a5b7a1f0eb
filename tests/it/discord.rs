//! `threatwatch run` delivering to a fake Discord (tests/it/support/discord.rs): the
//! exact posted JSON, channels per rule, mentions, outages, crashes, failed channels,
//! reconnects. Feeds come from a local feed server; intervals are one second.

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::discord::{ChannelState, FakeDiscord};
use crate::support::*;

const TOKEN: &str = "MTE5.fake.token-for-tests";
const TELCO: u64 = 1_111_111_111_111_111_111;
const ACTORS: u64 = 2_222_222_222_222_222_222;
const STATUS: u64 = 3_333_333_333_333_333_333;
const ROLE: u64 = 4_444_444_444_444_444_444;

fn config(dir: &std::path::Path, fake: &FakeDiscord, feeds: &[(&str, String)], rules: &str) {
    let mut s = format!(
        "[storage]\npath = \"tw.db\"\n\n[poller]\n{NO_AGE_LIMIT}interval = \"1s\"\ntimeout = \"2s\"\nconnect_timeout = \"1s\"\nmax_backoff = \"2s\"\n\n[discord]\napi_base = \"{}\"\nstatus_channel = {STATUS}\n\n",
        fake.api_base()
    );
    for (name, url) in feeds {
        s.push_str(&format!(
            "[[feeds]]\nname = \"{name}\"\nurl = \"{url}\"\nbackfill = 500\n\n"
        ));
    }
    s.push_str(rules);
    std::fs::write(dir.join("threatwatch.toml"), s).expect("config");
}

/// Two rules: APT27 to the actors channel; telcos in Southeast Asia to the telco
/// channel, pinging ROLE.
fn rules() -> String {
    format!(
        r#"
[[rules]]
name = "apt27"
actors = ["APT27"]
channel = {ACTORS}

[[rules]]
name = "telco-sea"
sectors = ["telecommunications"]
regions = ["Southeast Asia"]
require = "all"
channel = {TELCO}
mention_roles = [{ROLE}]
priority = "high"
"#
    )
}

type Row = (String, String, String, String, String);

fn row(n: usize, title: &str, body: &str) -> Row {
    (
        format!("g{n}"),
        title.to_string(),
        body.to_string(),
        format!("https://news.example/{n}"),
        "Tue, 03 Aug 2021 12:00:00 +0000".to_string(),
    )
}

/// An item that only the APT27 rule fires on.
fn apt27(n: usize) -> Row {
    row(n, &format!("Emissary Panda story {n}"), "TG-3390 again")
}

fn feed(rows: &[Row]) -> String {
    let refs: Vec<(&str, &str, &str, &str, &str)> = rows
        .iter()
        .map(|(a, b, c, d, e)| (a.as_str(), b.as_str(), c.as_str(), d.as_str(), e.as_str()))
        .collect();
    rss(&refs)
}

/// Old dates would be filtered out by `max_item_age`; the tests need fixed ones.
const NO_AGE_LIMIT: &str = "max_item_age = \"3650d\"\n";

fn start(dir: &std::path::Path) -> Daemon {
    Daemon::start_with(dir, &[("DISCORD_TOKEN", TOKEN)])
}

/// `fake.wait_until`, but a timeout also shows what the daemon logged.
fn wait(
    d: &Daemon,
    fake: &FakeDiscord,
    secs: u64,
    what: &str,
    cond: impl Fn(&FakeDiscord) -> bool,
) {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if cond(fake) {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!(
        "timed out after {secs}s waiting for {what}\n{}\ndaemon stderr:\n{}",
        fake.dump(),
        d.errors()
    );
}

fn titles(fake: &FakeDiscord, channel: u64) -> Vec<String> {
    fake.messages(channel)
        .iter()
        .map(|m| m["embeds"][0]["title"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn each_rule_posts_its_embed_to_its_channel_and_pings_only_its_roles() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = FeedServer::start();
    let fake = FakeDiscord::start();
    let seed = row(
        1,
        "Five Southeast Asian telcos breached by Emissary Panda",
        "TG-3390 (APT27, Emissary Panda) hit telecommunications carriers in Vietnam and Thailand. @everyone <@&123> <@456> **urgent**",
    );
    server.set("news", feed(&[seed]), "application/rss+xml");
    config(
        dir.path(),
        &fake,
        &[("The Record", server.url("news"))],
        &rules(),
    );
    let d = start(dir.path());
    wait(&d, &fake, 30, "one message in each rule channel", |f| {
        f.messages(TELCO).len() == 1 && f.messages(ACTORS).len() == 1
    });
    // The gateway was identified with the token from the environment, minimal intents.
    let identify = &fake.identify_payloads()[0];
    // serenity identifies with the header form of the token.
    assert_eq!(identify["token"], json!(format!("Bot {TOKEN}")));
    assert_eq!(identify["intents"], json!(0));

    let telco = &fake.messages(TELCO)[0];
    let nonce = telco["nonce"].as_str().expect("nonce").to_string();
    assert!(nonce.starts_with("tw-") && nonce.len() <= 25, "{nonce}");
    assert_eq!(
        telco,
        &json!({
            "content": format!("<@&{ROLE}>"),
            "embeds": [{
                "title": "Five Southeast Asian telcos breached by Emissary Panda",
                "url": "https://news.example/1",
                "author": {"name": "The Record"},
                "description": "TG-3390 \\(APT27, Emissary Panda\\) hit telecommunications carriers in Vietnam and Thailand. @\u{200b}everyone \\<@&123\\> \\<@456\\> \\*\\*urgent\\*\\*",
                "color": 0xD73A49,
                "timestamp": "2021-08-03T12:00:00Z",
                "fields": [
                    {"name": "Sectors", "value": "**Telecommunications**: matched *telcos*, *telecommunications carriers* in title, summary", "inline": false},
                    {"name": "Regions", "value": "**Southeast Asia**: matched *Thailand*, *Vietnam*, *Southeast Asian* in title, summary", "inline": false},
                    {"name": "Rule", "value": "telco-sea", "inline": true}
                ],
                "footer": {"text": "threatwatch · high priority"}
            }],
            "allowed_mentions": {"parse": [], "roles": [ROLE.to_string()]},
            "nonce": nonce,
            "enforce_nonce": true
        })
    );
    let actors = &fake.messages(ACTORS)[0];
    assert_eq!(actors["content"], json!(""));
    assert_eq!(
        actors["allowed_mentions"],
        json!({"parse": [], "roles": []})
    );
    assert_eq!(
        actors["embeds"][0]["fields"][0],
        json!({"name": "Actors", "value": "**APT27**: matched *Emissary Panda*, *TG-3390*, *APT27* in title, summary", "inline": false})
    );
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
    // The console still shows every alert.
    d.wait_for(5, "two alerts on stdout", |l, _| l.len() >= 2);
    assert!(d.stop(10).success());
}

#[test]
fn an_outage_delays_alerts_but_each_arrives_once_and_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = FeedServer::start();
    let fake = FakeDiscord::start();
    fake.fail_messages(
        2,
        500,
        json!({"message": "Internal Server Error", "code": 0}),
    );
    fake.fail_messages(2, 429, FakeDiscord::rate_limited(0.4));
    fake.fail_messages(1, 502, Value::Null);
    let rows: Vec<Row> = (1..=6).rev().map(apt27).collect();
    server.set("news", feed(&rows), "application/rss+xml");
    config(dir.path(), &fake, &[("News", server.url("news"))], &rules());
    let d = start(dir.path());
    wait(&d, &fake, 60, "six alerts after the outage", |f| {
        f.messages(ACTORS).len() >= 6
    });
    std::thread::sleep(Duration::from_millis(1500));
    let want: Vec<String> = (1..=6)
        .map(|n| format!("Emissary Panda story {n}"))
        .collect();
    assert_eq!(titles(&fake, ACTORS), want, "once each, oldest first");
    let posts = fake.requests_to("POST", &format!("/channels/{ACTORS}/messages"));
    assert_eq!(posts.len(), 6 + 5, "each failure retried once it was due");
    // The 429s' retry_after was honoured: no retry came sooner than 0.4 s after one.
    for w in posts.windows(2) {
        if w[0].status == 429 {
            let gap = w[1].at - w[0].at;
            assert!(gap >= Duration::from_millis(390), "retried after {gap:?}");
        }
    }
    assert!(d.stop(10).success());
}

#[test]
fn kill_9_mid_delivery_then_restart_posts_every_alert_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = FeedServer::start();
    let fake = FakeDiscord::start();
    // Messages are created at once, but the answers come late: the daemon dies knowing
    // it posted but not what Discord said.
    fake.hold_messages(Duration::from_secs(5));
    let rows: Vec<Row> = (1..=4).rev().map(apt27).collect();
    server.set("news", feed(&rows), "application/rss+xml");
    config(dir.path(), &fake, &[("News", server.url("news"))], &rules());
    let d = start(dir.path());
    wait(&d, &fake, 30, "the first message created", |f| {
        !f.messages(ACTORS).is_empty()
    });
    d.kill9();
    fake.hold_messages(Duration::ZERO);

    let d = start(dir.path());
    wait(&d, &fake, 30, "every alert", |f| {
        f.messages(ACTORS).len() >= 4
    });
    std::thread::sleep(Duration::from_millis(1500));
    let want: Vec<String> = (1..=4)
        .map(|n| format!("Emissary Panda story {n}"))
        .collect();
    assert_eq!(titles(&fake, ACTORS), want, "none lost, none twice");
    let posts = fake.requests_to("POST", &format!("/channels/{ACTORS}/messages"));
    assert_eq!(
        posts.len(),
        5,
        "the interrupted post was sent again, with its nonce"
    );
    assert_eq!(posts[0].body["nonce"], posts[1].body["nonce"]);
    assert!(d.stop(10).success());
}

#[test]
fn a_missing_channel_fails_its_alerts_and_posts_one_notice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = FeedServer::start();
    let fake = FakeDiscord::start();
    fake.set_channel(ACTORS, ChannelState::Missing);
    let rows: Vec<Row> = (1..=3).rev().map(apt27).collect();
    server.set("news", feed(&rows), "application/rss+xml");
    config(dir.path(), &fake, &[("News", server.url("news"))], &rules());
    let d = start(dir.path());
    wait(&d, &fake, 30, "three failed posts and a notice", |f| {
        f.requests_to("POST", &format!("/channels/{ACTORS}/messages"))
            .len()
            >= 3
            && !f.messages(STATUS).is_empty()
    });
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        fake.requests_to("POST", &format!("/channels/{ACTORS}/messages"))
            .len(),
        3,
        "a permanent failure is not retried"
    );
    let notices = fake.messages(STATUS);
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(
        notices[0]["embeds"][0]["title"],
        json!(format!("Delivery to channel {ACTORS} failed"))
    );
    let text = notices[0]["embeds"][0]["description"]
        .as_str()
        .unwrap_or("");
    assert!(
        text.starts_with("HTTP 404 Unknown Channel \\(10003\\). The alert for"),
        "{text}"
    );
    assert_eq!(notices[0]["allowed_mentions"], json!({"parse": []}));
    assert!(d.stop(10).success());

    // The alerts are failed, with the reason, and a restart does not retry them.
    let db = rusqlite::Connection::open(dir.path().join("tw.db")).expect("db");
    let rows: Vec<(String, String)> = db
        .prepare("SELECT status, last_error FROM alerts ORDER BY id")
        .expect("sql")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(
        rows,
        vec![
            (
                "failed".to_string(),
                "HTTP 404 Unknown Channel (10003)".to_string()
            );
            3
        ]
    );
}

#[test]
fn a_reconnect_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = FeedServer::start();
    let fake = FakeDiscord::start();
    server.set("news", feed(&[apt27(1)]), "application/rss+xml");
    config(dir.path(), &fake, &[("News", server.url("news"))], &rules());
    let d = start(dir.path());
    wait(&d, &fake, 30, "READY and the alert", |f| {
        f.readies() >= 1 && f.messages(ACTORS).len() == 1
    });
    let before = fake.requests().len();
    let commands = fake.requests_to("PUT", "/applications/").len();
    fake.force_reidentify();
    wait(&d, &fake, 10, "a second READY", |f| f.readies() >= 2);
    fake.force_reconnect();
    wait(&d, &fake, 10, "a resume", |f| !f.resumes().is_empty());
    std::thread::sleep(Duration::from_millis(2000));
    assert_eq!(fake.messages(ACTORS).len(), 1, "nothing re-posted");
    assert_eq!(
        fake.requests_to("PUT", "/applications/").len(),
        commands,
        "nothing re-registered"
    );
    let new: Vec<String> = fake.requests()[before..]
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .filter(|r| !r.ends_with("/gateway"))
        .collect();
    assert!(new.is_empty(), "{new:?}");
    assert!(d.stop(10).success());
}

/// The figure the Discord issue asks for: from the poll that found an item to its
/// message being posted, median over 100 alerts (printed; asserted only for delivery).
#[test]
fn latency_from_poll_to_post_over_100_alerts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = FeedServer::start();
    let fake = FakeDiscord::start();
    server.set("news", feed(&[apt27(0)]), "application/rss+xml");
    config(dir.path(), &fake, &[("News", server.url("news"))], &rules());
    let d = start(dir.path());
    wait(&d, &fake, 30, "the first alert", |f| {
        f.messages(ACTORS).len() == 1
    });
    let rows: Vec<Row> = (0..=100).rev().map(apt27).collect();
    let served_before = server.served_at("news").len();
    server.set("news", feed(&rows), "application/rss+xml");
    wait(&d, &fake, 60, "100 more alerts", |f| {
        f.messages(ACTORS).len() >= 101
    });
    // The poll that found them is the first one served after the change.
    let found = server.served_at("news")[served_before];
    let mut ms: Vec<f64> = fake
        .requests_to("POST", &format!("/channels/{ACTORS}/messages"))
        .iter()
        .skip(1)
        .filter(|r| r.status == 200)
        .map(|r| (r.at - found).as_secs_f64() * 1000.0)
        .collect();
    assert_eq!(ms.len(), 100);
    ms.sort_by(f64::total_cmp);
    eprintln!(
        "poll-to-post latency over 100 alerts: first {:.1} ms, median {:.1} ms, p90 {:.1} ms, max {:.1} ms",
        ms[0], ms[50], ms[90], ms[99]
    );
    assert_eq!(titles(&fake, ACTORS).len(), 101);
    assert!(d.stop(10).success());
}

#[test]
fn feed_health_and_a_rejected_reload_reach_the_status_channel() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = FeedServer::start();
    let fake = FakeDiscord::start();
    server.set("news", feed(&[apt27(1)]), "application/rss+xml");
    config(
        dir.path(),
        &fake,
        &[("News", server.url("news")), ("Broken", server.url("gone"))],
        &rules(),
    );
    // Report a failing feed after its second failure.
    let path = dir.path().join("threatwatch.toml");
    let text = std::fs::read_to_string(&path).expect("config");
    std::fs::write(
        &path,
        text.replacen("[poller]\n", "[poller]\nfail_notice_after = 2\n", 1),
    )
    .expect("config");
    let d = start(dir.path());
    let headline = |f: &FakeDiscord, want: &str| {
        f.messages(STATUS)
            .iter()
            .any(|m| m["embeds"][0]["title"] == json!(want))
    };
    wait(&d, &fake, 30, "the failing notice", |f| {
        headline(f, "Feed \"Broken\" failing")
    });
    server.set("gone", feed(&[apt27(2)]), "application/rss+xml");
    wait(&d, &fake, 30, "the recovered notice", |f| {
        headline(f, "Feed \"Broken\" recovered")
    });
    std::fs::write(&path, "[[feeds]]\nname = 1\n").expect("break the config");
    d.signal("HUP");
    wait(&d, &fake, 30, "the rejected reload notice", |f| {
        f.messages(STATUS).iter().any(|m| {
            m["embeds"][0]["title"]
                .as_str()
                .is_some_and(|t| t.starts_with("Config reload rejected: "))
        })
    });
    let notices = fake.messages(STATUS);
    assert_eq!(notices.len(), 3, "{notices:?}");
    let failing = notices[0]["embeds"][0]["description"]
        .as_str()
        .unwrap_or("");
    assert!(
        failing.starts_with("2 consecutive failures, last: HTTP 404 Not Found"),
        "{failing}"
    );
    assert_eq!(notices[1]["embeds"][0]["color"], json!(0x2EA043));
    assert!(d.stop(10).success());
}

#[test]
fn once_with_a_token_posts_what_it_found_and_a_second_once_posts_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = FeedServer::start();
    let fake = FakeDiscord::start();
    server.set("news", feed(&[apt27(1), apt27(2)]), "application/rss+xml");
    config(dir.path(), &fake, &[("News", server.url("news"))], &rules());
    let once = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_threatwatch"))
            .args(["once", "--format", "jsonl"])
            .current_dir(dir.path())
            .env("DISCORD_TOKEN", TOKEN)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run once")
    };
    let out = once();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 2, "printed too");
    assert_eq!(
        titles(&fake, ACTORS),
        ["Emissary Panda story 2", "Emissary Panda story 1"]
    );
    assert_eq!(fake.identifies(), 0, "once needs no gateway");
    let out = once();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(fake.messages(ACTORS).len(), 2);
}
