//! The command line as a user meets it: exit codes, exact output, state on disk.

use crate::support::*;

fn write_config(
    dir: &std::path::Path,
    feeds: &[(&str, String)],
    extra: &str,
) -> std::path::PathBuf {
    let mut s = String::from(
        "[storage]\npath = \"tw.db\"\n\n[poller]\nconcurrency = 4\ntimeout = \"5s\"\n\n",
    );
    for (name, url) in feeds {
        s.push_str(&format!(
            "[[feeds]]\nname = \"{name}\"\nurl = \"{url}\"\n\n"
        ));
    }
    s.push_str(extra);
    let path = dir.join("threatwatch.toml");
    std::fs::write(&path, s).expect("write config");
    path
}

const SEED_RULE: &str = r#"
[[rules]]
name = "telco-espionage-sea"
actors = ["APT27", "GALLIUM", "Naikon"]
sectors = ["telecommunications"]
regions = ["Southeast Asia"]
when = "actors or (sectors and regions)"
priority = "high"
"#;

fn seed_items() -> String {
    rss(&[
        (
            "a1",
            "Five Southeast Asian telcos hacked by three Chinese espionage groups",
            "<p>Researchers linked the intrusions to:</p><p>Gallium (Soft Cell)Naikon APTTG-3390 (APT27, Emissary Panda)</p>",
            "https://news.example/telcos?utm_source=rss",
            &hours_ago(2),
        ),
        (
            "a2",
            "A webinar about password managers",
            "Nothing to see here.",
            "https://news.example/webinar",
            &hours_ago(3),
        ),
        (
            "a3",
            "Vietnamese mobile operator breached",
            "A telecom in Vietnam was breached by an unknown actor.",
            "https://news.example/vn",
            &hours_ago(4),
        ),
    ])
}

#[test]
fn once_twice_alerts_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = FeedServer::start();
    server.set("news", seed_items(), "application/rss+xml");
    write_config(dir.path(), &[("News", server.url("news"))], SEED_RULE);

    let first = threatwatch(dir.path(), &["once", "--format", "jsonl"]);
    assert!(first.status.success(), "{}", stderr(&first));
    let lines: Vec<serde_json::Value> = stdout(&first)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    let titles: Vec<&str> = lines
        .iter()
        .map(|l| l["title"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        titles,
        // Oldest first, as they happened.
        [
            "Vietnamese mobile operator breached",
            "Five Southeast Asian telcos hacked by three Chinese espionage groups",
        ]
    );
    assert_eq!(lines[1]["url"], "https://news.example/telcos");
    assert_eq!(
        lines[1]["rules"],
        serde_json::json!(["telco-espionage-sea"])
    );
    let actors: Vec<&str> = lines[1]["actors"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(actors, ["GALLIUM", "Naikon", "APT27"]);

    let second = threatwatch(dir.path(), &["once", "--format", "jsonl"]);
    assert!(second.status.success(), "{}", stderr(&second));
    assert_eq!(stdout(&second), "", "nothing alerts twice");
    assert_eq!(server.hits("news"), 2);

    // A new item alerts, the old ones still do not.
    server.set(
        "news",
        rss(&[(
            "a4",
            "Emissary Panda targets Thai carriers",
            "LuckyMouse again.",
            "https://news.example/th",
            &hours_ago(1),
        )]),
        "application/rss+xml",
    );
    let third = threatwatch(dir.path(), &["once", "--format", "jsonl"]);
    assert_eq!(stdout(&third).lines().count(), 1, "{}", stdout(&third));
}

#[test]
fn once_dry_run_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = FeedServer::start();
    server.set("news", seed_items(), "application/rss+xml");
    write_config(dir.path(), &[("News", server.url("news"))], SEED_RULE);

    // On a fresh machine a dry run creates no database at all.
    let dry = threatwatch(dir.path(), &["once", "--dry-run", "--format", "jsonl"]);
    assert!(dry.status.success(), "{}", stderr(&dry));
    assert_eq!(stdout(&dry).lines().count(), 2);
    assert!(!dir.path().join("tw.db").exists());

    let real = threatwatch(dir.path(), &["once", "--format", "jsonl"]);
    assert_eq!(
        stdout(&real),
        stdout(&dry),
        "a dry run shows what a real run does"
    );
    let before = std::fs::read(dir.path().join("tw.db")).expect("db");

    server.set(
        "news",
        rss(&[(
            "b1",
            "Naikon is back",
            "telcos",
            "https://news.example/b1",
            &hours_ago(1),
        )]),
        "application/rss+xml",
    );
    let dry = threatwatch(dir.path(), &["once", "--dry-run", "--format", "jsonl"]);
    assert_eq!(stdout(&dry).lines().count(), 1);
    let after = std::fs::read(dir.path().join("tw.db")).expect("db");
    assert!(before == after, "database changed by --dry-run");
    // And the item is still new for a real run.
    let real = threatwatch(dir.path(), &["once", "--format", "jsonl"]);
    assert_eq!(stdout(&real).lines().count(), 1);
}

#[test]
fn once_reports_each_failing_feed_and_exits_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = FeedServer::start();
    server.set("good", seed_items(), "application/rss+xml");
    server.set(
        "html",
        "<!DOCTYPE html><html><body>hi</body></html>",
        "text/html",
    );
    write_config(
        dir.path(),
        &[
            ("Closed", "http://127.0.0.1:1/feed.xml".to_string()),
            ("Html", server.url("html")),
            ("Missing", server.url("missing")),
            ("Good", server.url("good")),
        ],
        SEED_RULE,
    );
    let out = threatwatch(dir.path(), &["once", "--format", "jsonl"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("feed \"Closed\""), "{err}");
    assert!(
        err.contains("feed \"Html\"") && err.contains("not a feed: HTML page"),
        "{err}"
    );
    assert!(
        err.contains("feed \"Missing\"") && err.contains("HTTP 404 Not Found"),
        "{err}"
    );
    assert_eq!(
        stdout(&out).lines().count(),
        2,
        "the good feed still alerts"
    );

    let feeds = threatwatch(dir.path(), &["feeds", "--format", "json"]);
    let rows: serde_json::Value = serde_json::from_slice(&feeds.stdout).expect("json");
    let rows = rows.as_array().cloned().unwrap_or_default();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[3]["name"], "Good");
    assert_eq!(rows[3]["consecutive_failures"], 0);
    assert_eq!(rows[3]["items_seen"], 3);
    assert!(rows[3]["last_success"].is_string());
    let missing = rows
        .iter()
        .find(|r| r["name"] == "Missing")
        .cloned()
        .unwrap_or_default();
    assert_eq!(missing["last_error"], "HTTP 404 Not Found");
    assert_eq!(missing["consecutive_failures"], 1);
}

#[test]
fn scan_all_jsonl_is_exact() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = threatwatch(
        std::path::Path::new(root),
        &[
            "--config",
            "tests/fixtures/scan/config.toml",
            "scan",
            "--all",
            "--format",
            "jsonl",
            "tests/fixtures/scan/seed_story.xml",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let expect = read_fixture("scan/seed_story.jsonl");
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(fixture("scan/seed_story.jsonl"), stdout(&out)).expect("update");
    }
    assert_eq!(stdout(&out), expect);

    // Without --all only items that fire a rule.
    let out = threatwatch(
        std::path::Path::new(root),
        &[
            "--config",
            "tests/fixtures/scan/config.toml",
            "scan",
            "--format",
            "jsonl",
            "tests/fixtures/scan/seed_story.xml",
        ],
    );
    let fired: Vec<&str> = expect
        .lines()
        .filter(|l| !l.ends_with("\"rules\":[]}"))
        .collect();
    assert_eq!(stdout(&out).lines().collect::<Vec<_>>(), fired);
}

#[test]
fn scan_unreadable_source_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = threatwatch(dir.path(), &["scan", "no-such-feed.xml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no-such-feed.xml"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn check_reports_every_invalid_fixture_exactly() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("tests/fixtures/config/invalid");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("invalid fixtures") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let rel = path
            .strip_prefix(root)
            .expect("relative")
            .to_string_lossy()
            .into_owned();
        let out = threatwatch(root, &["--config", &rel, "check"]);
        assert_eq!(out.status.code(), Some(1), "{rel}");
        let expect = std::fs::read_to_string(path.with_extension("err")).expect(".err file");
        let err = stderr(&out);
        assert!(
            err.starts_with(expect.trim_end()),
            "{rel}: expected\n{expect}\ngot\n{err}"
        );
        n += 1;
    }
    assert!(n >= 10, "only {n} invalid fixtures");
}

#[test]
fn check_valid_config_prints_a_summary() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = threatwatch(root, &["--config", "config.example.toml", "check"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let s = stdout(&out);
    assert!(s.contains("telco-espionage-sea"), "{s}");
    assert!(s.contains("feeds: "), "{s}");
}

#[test]
fn bad_format_is_a_usage_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = threatwatch(dir.path(), &["once", "--format", "xml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("invalid value 'xml'"),
        "{}",
        stderr(&out)
    );
    let out = threatwatch(
        dir.path(),
        &["lookup", "actor", "APT27", "--format", "jsonl"],
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn missing_config_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = threatwatch(dir.path(), &["once"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("threatwatch.toml"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn lookup_actor_by_alias_and_unknown_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = threatwatch(dir.path(), &["lookup", "actor", "Emissary Panda"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let s = stdout(&out);
    assert!(s.starts_with("APT27\n"), "{s}");
    assert!(s.contains("TG-3390"), "{s}");

    let out = threatwatch(
        dir.path(),
        &["lookup", "actor", "Emissary Pand", "--format", "json"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no actor named \"Emissary Pand\"; did you mean \"Emissary Panda\""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn lookup_explains_a_designation_no_catalog_knows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = threatwatch(dir.path(), &["lookup", "actor", "Velvet Typhoon"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "Velvet Typhoon\nscheme:      Microsoft\nnexus:       China-nexus\nnote:        not in the catalog; Microsoft naming scheme (China-nexus)\n"
    );
    // Shaped like a designation but one letter off a known name: most likely a typo.
    let out = threatwatch(dir.path(), &["lookup", "actor", "Emisary Panda"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).ends_with("\ndid you mean: Emissary Panda\n"),
        "{}",
        stdout(&out)
    );
    let out = threatwatch(
        dir.path(),
        &["lookup", "actor", "UNC9999", "--format", "json"],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["type"], "designation");
    assert_eq!(v["scheme"], "Mandiant");
}

#[test]
fn catalog_urls_are_fetched_cached_and_used_offline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = FeedServer::start();
    let misp = r#"{"values":[{"value":"Zorbo Group","meta":{"synonyms":["ZB-7 Cluster","Quokka Lantern"],"country":"NZ"}}]}"#;
    server.set("misp", misp, "application/json");
    server.set(
        "news",
        rss(&[(
            "z1",
            "Quokka Lantern hits telcos",
            "The ZB-7 Cluster struck again.",
            "https://news.example/z1",
            &hours_ago(1),
        )]),
        "application/rss+xml",
    );
    let extra = format!(
        "[catalog]\nurls = [\"{}\"]\nrefresh = \"1h\"\n\n[[rules]]\nname = \"telcos\"\nsectors = [\"telecommunications\"]\n",
        server.url("misp")
    );
    write_config(dir.path(), &[("News", server.url("news"))], &extra);
    let out = threatwatch(dir.path(), &["once", "--format", "jsonl"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(server.hits("misp"), 1);
    // Fresh in the cache: a second run does not fetch it again.
    let _ = threatwatch(dir.path(), &["once"]);
    assert_eq!(server.hits("misp"), 1);
    // Offline (the catalog URL now fails): scan and lookup still know the actor.
    server.set_doc("misp", Doc::status(500));
    let feed = dir.path().join("z.xml");
    std::fs::write(
        &feed,
        rss(&[(
            "z2",
            "ZB-7 Cluster again",
            "",
            "https://news.example/z2",
            &hours_ago(1),
        )]),
    )
    .expect("write");
    let out = threatwatch(dir.path(), &["scan", "--all", "--format", "jsonl", "z.xml"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let line: serde_json::Value = serde_json::from_str(stdout(&out).trim()).expect("json");
    assert_eq!(line["actors"][0]["name"], "Zorbo Group");
    let out = threatwatch(dir.path(), &["lookup", "actor", "Quokka Lantern"]);
    assert!(
        stdout(&out).starts_with("Zorbo Group\n"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn items_older_than_max_item_age_never_alert() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = FeedServer::start();
    server.set(
        "news",
        rss(&[
            (
                "old",
                "Emissary Panda, a month ago",
                "TG-3390",
                "https://news.example/old",
                &hours_ago(24 * 30),
            ),
            (
                "new",
                "Emissary Panda, today",
                "TG-3390",
                "https://news.example/new",
                &hours_ago(2),
            ),
        ]),
        "application/rss+xml",
    );
    write_config(dir.path(), &[("News", server.url("news"))], SEED_RULE);
    let out = threatwatch(dir.path(), &["once", "--format", "jsonl"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let titles: Vec<String> = stdout(&out)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["title"].as_str().map(String::from))
        .collect();
    assert_eq!(titles, ["Emissary Panda, today"]);
}

#[test]
fn lookup_actor_shows_its_stored_mentions_like_slash_actor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = FeedServer::start();
    server.set("good", seed_items(), "application/rss+xml");
    write_config(dir.path(), &[("Good", server.url("good"))], SEED_RULE);
    let out = threatwatch(dir.path(), &["once"]);
    assert!(out.status.success(), "{}", stderr(&out));

    let out = threatwatch(dir.path(), &["lookup", "actor", "TG-3390"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("mentions:    1 in the last 7 days, 1 in the last 30 days\n"),
        "{text}"
    );
    assert!(
        text.contains(
            " Good: Five Southeast Asian telcos hacked by three Chinese espionage groups https://news.example/telcos"
        ),
        "{text}"
    );
    let out = threatwatch(
        dir.path(),
        &["lookup", "actor", "Naikon", "--format", "json"],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let m = &v["actors"][0]["mentions"];
    assert_eq!(m["last_7_days"], 1);
    assert_eq!(m["latest"][0]["feed"], "Good");
}
