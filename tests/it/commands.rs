//! Slash commands through the fake Discord's gateway: the real `threatwatch run` gets an
//! INTERACTION_CREATE per command and the exact callback / edit JSON is checked.

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::discord::FakeDiscord;
use crate::support::*;

const TOKEN: &str = "MTE5.fake.token-for-tests";
const GUILD: u64 = 5_555_555_555_555_555_555;
const CHANNEL: u64 = 2_222_222_222_222_222_222;

fn item(n: usize, title: &str, body: &str, hours: i64) -> (String, String, String, String, String) {
    (
        format!("g{n}"),
        title.to_string(),
        body.to_string(),
        format!("https://news.example/{n}"),
        hours_ago(hours),
    )
}

fn setup(dir: &std::path::Path, server: &FeedServer, fake: &FakeDiscord) {
    let rows = [
        item(
            1,
            "Telcos in Vietnam breached",
            "A telecommunications carrier in Vietnam lost call records to spies.",
            30,
        ),
        item(
            2,
            "Emissary Panda returns",
            "TG-3390 used a new loader against a ministry.",
            20,
        ),
        item(
            3,
            "Banks in Germany phished",
            "A banking trojan spread through invoices; the quartermaster noticed.",
            10,
        ),
        item(
            4,
            "Thai mobile operator hit by ransomware",
            "A mobile operator in Thailand restored service.",
            5,
        ),
        item(
            5,
            "Telecom outage in Brazil",
            "A telecom provider in Brazil blamed a fibre cut.",
            2,
        ),
        item(
            6,
            "Old story about telcos in Malaysia",
            "A telco in Malaysia was breached years ago.",
            24 * 20,
        ),
    ];
    let refs: Vec<(&str, &str, &str, &str, &str)> = rows
        .iter()
        .map(|(a, b, c, d, e)| (a.as_str(), b.as_str(), c.as_str(), d.as_str(), e.as_str()))
        .collect();
    server.set("news", rss(&refs), "application/rss+xml");
    let config = format!(
        r#"[storage]
path = "tw.db"

[poller]
interval = "1s"
timeout = "2s"
max_backoff = "2s"
fail_notice_after = 1
max_item_age = "3650d"

[discord]
api_base = "{api}"
guild_id = {GUILD}

[[feeds]]
name = "News"
url = "{news}"

[[feeds]]
name = "Broken"
url = "{broken}"

[[rules]]
name = "apt27"
actors = ["APT27"]
channel = {CHANNEL}
"#,
        api = fake.api_base(),
        news = server.url("news"),
        broken = server.url("missing"),
    );
    std::fs::write(dir.join("threatwatch.toml"), config).expect("config");
}

fn embeds(v: &Value) -> Vec<Value> {
    v["embeds"].as_array().cloned().unwrap_or_default()
}

/// All text of a reply's embeds, to look for names in.
fn text(v: &Value) -> String {
    serde_json::to_string(&v["embeds"]).unwrap_or_default()
}

#[test]
fn slash_commands_answer_from_the_catalog_and_the_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = FeedServer::start();
    let fake = FakeDiscord::start_with_guild(GUILD);
    setup(dir.path(), &server, &fake);
    let d = Daemon::start_with(dir.path(), &[("DISCORD_TOKEN", TOKEN)]);
    d.wait_for(30, "the first poll stored", |_, err| {
        err.contains("feed seeded")
    });
    fake.wait_until(10, "commands registered in the guild", |f| {
        f.commands(Some(GUILD)).len() == 5
    });
    let names: Vec<String> = fake
        .commands(Some(GUILD))
        .iter()
        .map(|c| c["name"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(names, ["actor", "recent", "search", "feeds", "rules"]);
    assert!(fake.commands(None).is_empty(), "not registered globally");

    // /actor: the catalog answer plus the stored article that mentions it.
    let (id, _) = fake.command(
        "actor",
        json!([{"name": "name", "type": 3, "value": "Emissary Panda"}]),
        Some(GUILD),
    );
    fake.wait_until(10, "the /actor reply", |f| !f.callbacks(id).is_empty());
    let reply = &fake.callbacks(id)[0];
    assert_eq!(reply["type"], json!(4));
    let e = &embeds(&reply["data"])[0];
    assert_eq!(e["title"], json!("APT27"));
    let all = text(&reply["data"]);
    assert!(all.contains("TG-3390"), "{all}");
    assert!(
        all.contains("Watched by rules") && all.contains("apt27"),
        "{all}"
    );
    let latest = e["fields"]
        .as_array()
        .and_then(|f| f.iter().find(|x| x["name"] == json!("Latest mentions")))
        .cloned()
        .unwrap_or(Value::Null);
    let latest = latest["value"].as_str().unwrap_or("");
    assert!(
        latest.starts_with("1 in the last 7 days, 1 in the last 30 days\n"),
        "{latest}"
    );
    assert!(
        latest.contains("[Emissary Panda returns](https://news.example/2)"),
        "{latest}"
    );
    assert_eq!(reply["data"]["allowed_mentions"], json!({"parse": []}));

    // /recent: deferred, then edited in place with exactly the matching articles.
    let (id, _) = fake.command(
        "recent",
        json!([
            {"name": "sector", "type": 3, "value": "telecommunications"},
            {"name": "region", "type": 3, "value": "Southeast Asia"},
            {"name": "days", "type": 4, "value": 7}
        ]),
        Some(GUILD),
    );
    fake.wait_until(10, "the /recent edit", |f| {
        f.original(id).is_some_and(|o| !embeds(&o).is_empty())
    });
    assert_eq!(fake.callbacks(id)[0]["type"], json!(5), "deferred first");
    let edited = fake.original(id).unwrap_or(Value::Null);
    let e = &embeds(&edited)[0];
    assert_eq!(
        e["title"],
        json!("Recent: sector telecommunications, region Southeast Asia, last 7 days")
    );
    let lines: Vec<&str> = e["description"].as_str().unwrap_or("").lines().collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0]
            .ends_with("· News · [Thai mobile operator hit by ransomware](https://news.example/4)"),
        "{lines:?}"
    );
    assert!(
        lines[1].ends_with("· News · [Telcos in Vietnam breached](https://news.example/1)"),
        "{lines:?}"
    );

    // /search: a word only in a body.
    let (id, _) = fake.command(
        "search",
        json!([{"name": "query", "type": 3, "value": "quartermaster"}]),
        Some(GUILD),
    );
    fake.wait_until(10, "the /search edit", |f| {
        f.original(id).is_some_and(|o| !embeds(&o).is_empty())
    });
    let found = text(&fake.original(id).unwrap_or(Value::Null));
    assert!(found.contains("Banks in Germany phished"), "{found}");
    assert!(found.contains("**quartermaster**"), "highlighted: {found}");

    // A bad query gets a clear answer.
    let (id, _) = fake.command(
        "search",
        json!([{"name": "query", "type": 3, "value": "\"unbalanced"}]),
        Some(GUILD),
    );
    fake.wait_until(10, "the bad /search edit", |f| {
        f.original(id).is_some_and(|o| !embeds(&o).is_empty())
    });
    let bad = &embeds(&fake.original(id).unwrap_or(Value::Null))[0];
    assert_eq!(bad["title"], json!("Bad search query"));

    // /feeds: the failing feed first.
    d.wait_for(20, "the broken feed reported failing", |_, err| {
        err.contains("\"feed\":\"Broken\",\"notice\":\"failing\"")
    });
    let (id, _) = fake.command("feeds", json!([]), Some(GUILD));
    fake.wait_until(10, "the /feeds reply", |f| !f.callbacks(id).is_empty());
    let feeds = &embeds(&fake.callbacks(id)[0]["data"])[0];
    assert_eq!(feeds["fields"][0]["name"], json!("⚠️ Broken"));
    assert_eq!(feeds["fields"][1]["name"], json!("News"));

    // An unknown actor gets suggestions, ephemerally when asked.
    let (id, _) = fake.command(
        "actor",
        json!([
            {"name": "name", "type": 3, "value": "Emisary Panda"},
            {"name": "private", "type": 5, "value": true}
        ]),
        Some(GUILD),
    );
    fake.wait_until(10, "the unknown /actor reply", |f| {
        !f.callbacks(id).is_empty()
    });
    let data = &fake.callbacks(id)[0]["data"];
    assert_eq!(data["flags"], json!(64));
    // Shaped like a CrowdStrike name, so it may be a new one; most likely a typo.
    let e = &embeds(data)[0];
    assert_eq!(e["title"], json!("Emisary Panda"));
    let said = e["description"].as_str().unwrap_or("");
    assert!(
        said.starts_with("Not in the catalog; CrowdStrike naming scheme"),
        "{said}"
    );
    assert!(said.ends_with("\nDid you mean Emissary Panda?"), "{said}");

    let (id, _) = fake.command(
        "actor",
        json!([{"name": "name", "type": 3, "value": "Lazarus Grupp"}]),
        Some(GUILD),
    );
    fake.wait_until(10, "the unknown /actor reply", |f| {
        !f.callbacks(id).is_empty()
    });
    let e = &embeds(&fake.callbacks(id)[0]["data"])[0];
    assert_eq!(e["title"], json!("No actor named Lazarus Grupp"));
    assert_eq!(
        e["description"],
        json!("Did you mean Lazarus, Lazarus Group?")
    );

    // Autocomplete: prefix over names and aliases.
    let (id, _) = fake.autocomplete(
        "actor",
        json!([{"name": "name", "type": 3, "value": "emissary", "focused": true}]),
    );
    fake.wait_until(10, "the autocomplete reply", |f| {
        !f.callbacks(id).is_empty()
    });
    let choices = fake.callbacks(id)[0]["data"]["choices"].clone();
    assert_eq!(
        choices[0],
        json!({"name": "Emissary Panda (APT27)", "value": "Emissary Panda"})
    );

    // /rules.
    let (id, _) = fake.command("rules", json!([]), Some(GUILD));
    fake.wait_until(10, "the /rules reply", |f| !f.callbacks(id).is_empty());
    let rules = &embeds(&fake.callbacks(id)[0]["data"])[0];
    assert_eq!(
        rules["fields"][0],
        json!({"name": "apt27", "value": format!("actors: APT27\ncombine: any\nposts to <#{CHANNEL}>, normal priority"), "inline": false})
    );
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
    std::thread::sleep(Duration::from_millis(100));
    assert!(d.stop(10).success());
}
