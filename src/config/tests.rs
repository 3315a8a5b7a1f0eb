//! Tests of the config loader: every fixture under `tests/fixtures/config`, the example
//! config, and the odd cases that read better inline.
//!
//! `invalid/NAME.toml` must fail with exactly the text in `invalid/NAME.err`. Run with
//! `UPDATE_EXPECT=1` to rewrite the `.err` files from the current output, then read the
//! diff: the expected text is what a user should see.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::{load, load_str};
use crate::config::location::{self, Node, Value};
use crate::config::raw;
use crate::config::{Config, Require, Source, When};
use crate::model::{Category, ChannelId, Priority};

const FIXTURES: &str = "tests/fixtures/config";

/// The `.toml` files of a fixture folder, sorted, as relative paths (as users write them).
fn fixtures(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(FIXTURES).join(kind);
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    out.sort();
    out
}

fn load_ok(path: &Path) -> Config {
    load(path).unwrap_or_else(|e| panic!("{} should load:\n{e}", path.display()))
}

#[test]
fn valid_fixtures_load() {
    let all = fixtures("valid");
    let names: Vec<_> = all.iter().filter_map(|p| p.file_stem()?.to_str()).collect();
    for required in ["minimal", "full", "when"] {
        assert!(
            names.contains(&required),
            "valid/{required}.toml is missing"
        );
    }
    for path in &all {
        load_ok(path);
    }
}

#[test]
fn invalid_fixtures_report_exactly() {
    let update = std::env::var("UPDATE_EXPECT").is_ok_and(|v| v == "1");
    let mut failures = Vec::new();
    for path in fixtures("invalid") {
        let got = match load(&path) {
            Ok(_) => "(loaded without problems)".to_string(),
            Err(e) => e.to_string(),
        };
        let err_path = path.with_extension("err");
        if update {
            std::fs::write(&err_path, format!("{got}\n")).expect("write .err");
            continue;
        }
        let expect = std::fs::read_to_string(&err_path)
            .unwrap_or_else(|e| panic!("{}: {e}", err_path.display()));
        if expect.trim_end_matches('\n') != got {
            failures.push(format!(
                "{}\n--- expected\n{}\n--- got\n{got}\n",
                path.display(),
                expect.trim_end_matches('\n')
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "(UPDATE_EXPECT=1 rewrites the .err files)\n{}",
        failures.join("\n")
    );
}

#[test]
fn the_invalid_fixtures_cover_the_brief() {
    let have: BTreeSet<String> = fixtures("invalid")
        .iter()
        .filter_map(|p| Some(p.file_stem()?.to_str()?.to_string()))
        .collect();
    for name in [
        "syntax_error",
        "unknown_key",
        "bad_duration",
        "zero_limits",
        "bad_feed_url",
        "duplicate_names",
        "rule_without_categories",
        "bad_require",
        "unknown_feed_in_rule",
        "unknown_actor_sector_region",
        "bad_when",
        "token_in_toml",
        "many_problems",
    ] {
        assert!(have.contains(name), "invalid/{name}.toml is missing");
    }
}

#[test]
fn full_fixture_reads_every_value() {
    let c = load_ok(&Path::new(FIXTURES).join("valid/full.toml"));
    let dir = Path::new(FIXTURES).join("valid");
    assert_eq!(c.storage.path, dir.join("state/threatwatch.db"));
    assert_eq!(c.poller.interval.as_secs(), 600);
    assert_eq!(c.poller.concurrency, 4);
    assert_eq!(c.poller.timeout.as_secs(), 30);
    assert_eq!(c.poller.connect_timeout.as_secs(), 5);
    assert_eq!(c.poller.max_feed_bytes, 2_000_000);
    assert_eq!(c.poller.user_agent, "threatwatch-test/1.0");
    assert_eq!(c.poller.max_item_age.as_secs(), 3 * 86_400);
    assert_eq!(c.poller.fail_notice_after, 3);
    assert_eq!(c.poller.max_backoff.as_secs(), 2 * 3600);
    assert_eq!(c.feeds.len(), 2);
    assert_eq!(
        c.feeds[0].source,
        Source::Url("http://127.0.0.1:1/feed.xml".parse().expect("url"))
    );
    assert_eq!(c.feeds[0].interval.as_secs(), 300);
    assert_eq!(c.feeds[0].tags, ["news"]);
    assert_eq!(c.feeds[0].backfill, 5);
    assert_eq!(
        c.feeds[1].source,
        Source::File(dir.join("feeds/sample.xml"))
    );
    assert_eq!(
        c.feeds[1].interval.as_secs(),
        600,
        "inherits poller.interval"
    );
    assert_eq!(
        c.catalog.files,
        [dir.join("catalog/misp-threat-actor.json")]
    );
    assert_eq!(
        c.catalog.urls[0].as_str(),
        "http://127.0.0.1:1/catalog.json"
    );
    assert_eq!(c.catalog.refresh.as_secs(), 12 * 3600);
    assert_eq!(c.discord.api_base.as_str(), "http://127.0.0.1:1/");
    assert_eq!(c.discord.guild_id, Some(111111111111111111));
    assert_eq!(
        c.discord.status_channel,
        Some(ChannelId(222222222222222222))
    );
    assert_eq!(
        c.discord.token_file,
        Some(dir.join("secrets/discord_token"))
    );
    assert_eq!(c.actors[0].name, "Example Group");
    assert_eq!(c.actors[0].aliases, ["EG-1", "Example Spider"]);
    let r = &c.rules[0];
    assert_eq!(r.name, "telco-espionage-sea");
    assert_eq!(r.actors, ["APT27", "Emissary Panda", "Example Spider"]);
    assert_eq!(r.sectors, ["telecommunications"]);
    assert_eq!(r.regions, ["Southeast Asia", "Vietnam"]);
    assert_eq!(r.require, Require::All);
    assert_eq!(r.when, None);
    assert_eq!(r.exclude, ["webinar", "sponsored"]);
    assert_eq!(r.feeds, ["news", "Local sample"]);
    assert_eq!(r.channel, Some(ChannelId(123456789012345678)));
    assert_eq!(r.mention_roles, [987654321098765432]);
    assert_eq!(r.priority, Priority::High);
    assert_eq!(c.rules[1].channel, None, "channel 0 means console only");
    assert_eq!(c.rules[1].priority, Priority::Low);
    // The merged catalog knows the config's actor and the catalog file's.
    assert!(matches!(
        c.catalog_data.find_actor("EG-1"),
        crate::catalog::ActorLookup::Found(_)
    ));
    assert!(matches!(
        c.catalog_data.find_actor("Fixture Panda"),
        crate::catalog::ActorLookup::Found(_)
    ));
    assert_eq!(c.warnings, Vec::<String>::new());
}

#[test]
fn minimal_fixture_takes_the_defaults() {
    let c = load_ok(&Path::new(FIXTURES).join("valid/minimal.toml"));
    assert_eq!(
        c.storage.path,
        Path::new(FIXTURES).join("valid/threatwatch.db")
    );
    assert_eq!(c.poller.interval.as_secs(), 15 * 60);
    assert_eq!(c.poller.concurrency, 8);
    assert_eq!(c.poller.timeout.as_secs(), 20);
    assert_eq!(c.poller.connect_timeout.as_secs(), 10);
    assert_eq!(c.poller.max_feed_bytes, 5_000_000);
    assert_eq!(
        c.poller.user_agent,
        format!(
            "threatwatch/{} (+https://github.com/threatwatch)",
            env!("CARGO_PKG_VERSION")
        )
    );
    assert_eq!(c.poller.max_item_age.as_secs(), 7 * 86_400);
    assert_eq!(c.poller.fail_notice_after, 5);
    assert_eq!(c.poller.max_backoff.as_secs(), 6 * 3600);
    assert_eq!(c.feeds[0].backfill, 0);
    assert_eq!(c.catalog.refresh.as_secs(), 86_400);
    assert_eq!(c.discord.api_base.as_str(), "https://discord.com/");
    assert_eq!(c.discord.guild_id, None);
    assert_eq!(c.discord.status_channel, None);
    assert_eq!(c.discord.token_file, None);
    assert!(c.rules.is_empty());
    assert_eq!(
        c.warnings,
        ["tests/fixtures/config/valid/minimal.toml: no rules: nothing will alert"]
    );
}

#[test]
fn when_fixture_parses_with_precedence() {
    use When::{And, Category as C, Not, Or};
    let c = load_ok(&Path::new(FIXTURES).join("valid/when.toml"));
    let when: Vec<_> = c.rules.iter().map(|r| r.when.clone()).collect();
    let b = Box::new;
    assert_eq!(
        when,
        [
            Some(Or(
                b(C(Category::Actors)),
                b(And(b(C(Category::Sectors)), b(C(Category::Regions))))
            )),
            Some(And(b(C(Category::Actors)), b(Not(b(C(Category::Regions)))))),
            Some(Or(
                b(And(b(C(Category::Actors)), b(C(Category::Sectors)))),
                b(C(Category::Regions))
            )),
            Some(C(Category::Sectors)),
            None,
        ]
    );
}

/// Load `text` as `t.toml` in a temporary folder; the problems or the warnings.
fn check(text: &str, expect: &str) {
    let got = match load_str(Path::new("t.toml"), text) {
        Ok(c) => c.warnings.join("\n"),
        Err(e) => e.to_string(),
    };
    assert_eq!(got, expect, "for\n{text}");
}

const FEED: &str = "[[feeds]]\nname = \"f\"\nurl = \"https://example.com/feed\"\n";

#[test]
fn when_errors_point_inside_the_string() {
    check(
        &format!(
            "{FEED}[[rules]]\nname = \"r\"\nactors = [\"APT27\"]\nwhen = \"actors or (regions\"\n"
        ),
        "t.toml:7:19: rules[0].when: this \"(\" is never closed",
    );
    // With an escape in the string the offsets no longer line up: point at the value.
    check(
        &format!("{FEED}[[rules]]\nname = \"r\"\nactors = [\"APT27\"]\nwhen = \"actors\\u0020xor\"\n"),
        "t.toml:7:8: rules[0].when: unknown word \"xor\" (expected actors, sectors, regions, and, or, not)",
    );
}

#[test]
fn warnings_are_located_and_sorted() {
    check(
        &format!(
            "{FEED}interval = \"30s\"\n[[rules]]\nname = \"r\"\nactors = [\"APT27\"]\nsectors = [\"healthcare\"]\nrequire = \"all\"\nwhen = \"actors\"\nmention_roles = [1]\n"
        ),
        "t.toml:4:12: feeds[0].interval: polling a remote feed more often than once a minute is impolite\n\
         t.toml:8:12: rules[0].sectors: sectors are listed but \"when\" never uses them\n\
         t.toml:9:11: rules[0].require: has no effect: \"when\" decides which categories must match\n\
         t.toml:11:18: rules[0].mention_roles: roles are only mentioned in a channel, and this rule has none",
    );
    check(
        "[poller]\ninterval = \"10s\"\n[[feeds]]\nname = \"a\"\nurl = \"https://a.example/\"\n[[feeds]]\nname = \"b\"\nurl = \"https://b.example/\"\n[[rules]]\nname = \"r\"\nactors = [\"APT27\"]\n",
        "t.toml:2:12: poller.interval: polling a remote feed more often than once a minute is impolite",
    );
}

#[test]
fn secrets_are_refused_wherever_they_hide() {
    check(
        &format!("{FEED}[discord]\nbot_token = \"x\"\n[discord.extra]\ntoken = \"y\"\n"),
        "t.toml:5:1: discord.bot_token: secrets do not belong in the config: set the DISCORD_TOKEN environment variable or discord.token_file\n\
         t.toml:6:10: discord.extra: unknown key (allowed: api_base, guild_id, status_channel, token_file)\n\
         t.toml:7:1: discord.extra.token: secrets do not belong in the config: set the DISCORD_TOKEN environment variable or discord.token_file",
    );
}

#[test]
fn wrong_types_are_reported_once_and_do_not_cascade() {
    check(
        &format!(
            "{FEED}backfill = -1\ntags = \"news\"\n[[rules]]\nname = \"r\"\nactors = \"APT27\"\nchannel = \"123\"\nmention_roles = [0, -2]\npriority = 3\n"
        ),
        "t.toml:4:12: feeds[0].backfill: must be between 0 and 1000, not -1\n\
         t.toml:5:8: feeds[0].tags: expected an array, found string \"news\"\n\
         t.toml:8:10: rules[0].actors: expected an array, found string \"APT27\"\n\
         t.toml:9:11: rules[0].channel: expected a Discord id (an integer, without quotes), found string \"123\"\n\
         t.toml:10:18: rules[0].mention_roles[0]: expected a Discord id (a positive integer), found 0\n\
         t.toml:10:21: rules[0].mention_roles[1]: expected a Discord id (a positive integer), found -2\n\
         t.toml:11:12: rules[0].priority: expected a string, found integer 3",
    );
}

#[test]
fn file_urls_become_paths() {
    let dir = tempfile::tempdir().expect("temp dir");
    let feed = dir.path().join("feed.xml");
    std::fs::write(&feed, "<rss/>").expect("write feed");
    let url = url::Url::from_file_path(&feed).expect("absolute path");
    let text = format!("[[feeds]]\nname = \"f\"\nurl = \"{url}\"\n");
    let c = load_str(&dir.path().join("t.toml"), &text).expect("loads");
    assert_eq!(c.feeds[0].source, Source::File(feed.clone()));
    // And a relative path is relative to the config's folder, not the working directory.
    let c = load_str(
        &dir.path().join("t.toml"),
        "[[feeds]]\nname = \"f\"\nurl = \"feed.xml\"\n",
    )
    .expect("loads");
    assert_eq!(c.feeds[0].source, Source::File(feed));
}

#[test]
fn ambiguous_actor_names_are_accepted_with_a_warning() {
    check(
        &format!(
            "{FEED}[[actors]]\nname = \"Copycat\"\naliases = [\"Emissary Panda\"]\n[[rules]]\nname = \"r\"\nactors = [\"Emissary Panda\"]\n"
        ),
        "t.toml:9:11: rules[0].actors[0]: \"Emissary Panda\" names several actors: \"APT27\", \"Copycat\" (write one of them to be precise)",
    );
}

#[test]
fn syntax_errors_are_one_line() {
    check(
        "[poller\ninterval = \"15m\"\n",
        "t.toml:1:8: invalid table header; expected `.`, `]`",
    );
    check(
        "",
        "t.toml:1:1: no feeds configured (add a [[feeds]] table with a name and a url)",
    );
}

#[test]
fn bad_array_elements_keep_their_siblings_numbered() {
    check(
        &format!("{FEED}[[rules]]\nname = \"r\"\nsectors = [1, \"telecommunications\", \"telecomunications\"]\n"),
        "t.toml:6:12: rules[0].sectors[0]: expected a string, found integer 1\n\
         t.toml:6:37: rules[0].sectors[2]: unknown sector \"telecomunications\" (did you mean \"Telecommunications\"?)",
    );
    // A rule whose only category is malformed is not also "watching nothing".
    check(
        &format!("{FEED}[[rules]]\nname = \"r\"\nregions = [false]\nwhen = \"regions\"\n"),
        "t.toml:6:12: rules[0].regions[0]: expected a string, found boolean false",
    );
}

#[test]
fn read_errors_name_the_file() {
    let err = load(Path::new("tests/fixtures/config/no-such.toml")).expect_err("missing");
    assert!(
        err.to_string()
            .starts_with("cannot read config tests/fixtures/config/no-such.toml: "),
        "{err}"
    );
}

/// Every `key = ` written in a TOML file (`rules.when` for `[[rules]] when = ...`), and
/// those written commented out (`# token_file = "..."`) under a section header.
fn keys_in(text: &str) -> BTreeSet<String> {
    fn walk(prefix: &str, node: &Node, out: &mut BTreeSet<String>) {
        match &node.value {
            Value::Table(entries) => {
                for e in entries {
                    let key = if prefix.is_empty() {
                        e.key.clone()
                    } else {
                        format!("{prefix}.{}", e.key)
                    };
                    out.insert(key.clone());
                    walk(&key, &e.node, out);
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(prefix, i, out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    walk("", &location::parse(text).expect("valid TOML"), &mut out);
    let mut section = String::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line.trim_matches(['[', ']']).trim().to_string();
        } else if let Some(rest) = line.strip_prefix('#') {
            let Some((key, _)) = rest.trim().split_once('=') else {
                continue;
            };
            let key = key.trim();
            if !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                out.insert(format!("{section}.{key}"));
            }
        }
    }
    out
}

#[test]
fn example_config_loads_cleanly() {
    let c = load_ok(Path::new("config.example.toml"));
    assert_eq!(c.warnings, Vec::<String>::new());
    assert!(c.feeds.len() >= 12, "{} feeds", c.feeds.len());
    let seed = c
        .rules
        .iter()
        .find(|r| r.name == "telco-espionage-sea")
        .expect("the seed rule");
    assert_eq!(seed.priority, Priority::High);
    assert!(seed.when.is_some());
}

#[test]
fn example_config_shows_every_key() {
    let text = std::fs::read_to_string("config.example.toml").expect("config.example.toml");
    let written = keys_in(&text);
    let missing: Vec<String> = raw::probe::keys()
        .into_iter()
        .filter(|k| !written.contains(k))
        .collect();
    assert!(missing.is_empty(), "config.example.toml lacks {missing:?}");
}

#[test]
fn every_fixture_key_is_known_to_the_probe() {
    // The probe and the reader must agree: full.toml sets every key, and all of them
    // are in `raw::probe::keys()` (else the probe missed a field the reader accepts).
    let text =
        std::fs::read_to_string(Path::new(FIXTURES).join("valid/full.toml")).expect("full.toml");
    let keys: BTreeSet<String> = raw::probe::keys().into_iter().collect();
    let written = keys_in(&text);
    assert_eq!(written, keys);
}
