//! Slash-command answers as Discord message data (the `data` of an interaction response,
//! or the body of an edit), pure: the lookup module's plain data in, JSON out. Feed text
//! is escaped; nothing pings anyone; every length is within Discord's limits.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::render::{escape, limits, truncate};
use crate::lookup::{ActorAnswer, Answer, FeedRow, RuleRow};
use crate::store::{Article, SearchHit};

const BLUE: u32 = 0x3B_82_F6;
const GREY: u32 = 0x6A_73_7D;
const RED: u32 = 0xD7_3A_49;
/// A reply holds up to 10 embeds, all within 6000 characters together.
const MAX_EMBEDS: usize = 10;

fn message(embeds: Vec<Value>) -> Value {
    json!({"content": "", "embeds": embeds, "allowed_mentions": {"parse": []}})
}

/// A short answer that tells the user what they can do.
pub fn notice(title: &str, text: &str) -> Value {
    message(vec![json!({
        "title": truncate(title, limits::TITLE),
        "description": truncate(text, limits::DESCRIPTION),
        "color": GREY,
    })])
}

fn field(name: &str, value: &str, inline: bool) -> Option<Value> {
    (!value.is_empty()).then(|| {
        json!({
            "name": truncate(name, limits::FIELD_NAME),
            "value": truncate(value, limits::FIELD_VALUE),
            "inline": inline,
        })
    })
}

/// A link a markdown parser cannot be tricked by: the URL's `)` and spaces encoded.
fn link(title: &str, url: Option<&str>) -> String {
    let title = escape(title);
    match url {
        Some(u) if u.starts_with("http://") || u.starts_with("https://") => {
            let u = u
                .replace(' ', "%20")
                .replace(')', "%29")
                .replace('(', "%28");
            format!("[{title}]({u})")
        }
        _ => title,
    }
}

fn day(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

fn article_line(a: &Article) -> String {
    format!(
        "{} · {} · {}",
        day(a.time()),
        escape(&a.feed),
        link(&truncate(&a.title, 200), a.url.as_deref())
    )
}

fn actor_embed(a: &ActorAnswer) -> Value {
    let mut fields = Vec::new();
    for (scheme, names) in &a.aliases {
        let names: Vec<String> = names.iter().map(|n| escape(n)).collect();
        fields.extend(field(scheme, &names.join(", "), true));
    }
    fields.truncate(15);
    fields.extend(field(
        "Suspected origin",
        &escape(a.origin.as_deref().unwrap_or("")),
        true,
    ));
    fields.extend(field(
        "Type",
        &escape(a.kind.as_deref().unwrap_or("")),
        true,
    ));
    if let (Some(id), Some(url)) = (&a.mitre, &a.mitre_url) {
        fields.extend(field("MITRE ATT&CK", &format!("[{id}]({url})"), true));
    }
    fields.extend(field(
        "Targets sectors",
        &escape(&a.sectors.join(", ")),
        false,
    ));
    fields.extend(field(
        "Targets countries",
        &escape(&a.countries.join(", ")),
        false,
    ));
    fields.extend(field(
        "Watched by rules",
        &escape(&a.watched_by.join(", ")),
        false,
    ));
    if let Some(m) = &a.mentions {
        let mut lines = vec![format!(
            "{} in the last 7 days, {} in the last 30 days",
            m.last_7_days, m.last_30_days
        )];
        lines.extend(m.latest.iter().map(article_line));
        fields.extend(field("Latest mentions", &lines.join("\n"), false));
    }
    fields.truncate(limits::FIELDS);
    let mut embed = json!({
        "title": truncate(&escape(&a.name), limits::TITLE),
        "color": BLUE,
        "fields": fields,
        "footer": {"text": truncate(&format!("sources: {}", a.sources.join(", ")), limits::FOOTER)},
    });
    if let Some(url) = &a.mitre_url {
        embed["url"] = json!(url);
    }
    embed
}

/// `/actor`: one embed per actor (two or more when an alias is ambiguous).
pub fn actor(answer: &Answer) -> Value {
    match answer {
        Answer::Actors {
            query,
            actors,
            ambiguous,
        } => {
            let embeds: Vec<Value> = actors.iter().take(MAX_EMBEDS).map(actor_embed).collect();
            let mut m = message(fit(embeds));
            if *ambiguous {
                let names: Vec<&str> = actors.iter().map(|a| a.name.as_str()).collect();
                m["content"] = json!(truncate(
                    &format!(
                        "{} is a name {} actors share: {}.",
                        escape(query),
                        actors.len(),
                        escape(&names.join(", "))
                    ),
                    limits::CONTENT
                ));
            }
            m
        }
        Answer::Designation {
            name,
            scheme,
            note,
            did_you_mean,
            ..
        } => message(vec![json!({
            "title": truncate(&escape(name), limits::TITLE),
            "description": truncate(&{
                let mut d = escape(note);
                // The note reads as a clause ("not in the catalog; ..."): start a sentence.
                if let Some(first) = d.get(..1) {
                    d = first.to_uppercase() + &d[1..];
                }
                if !did_you_mean.is_empty() {
                    d.push_str(&format!("\nDid you mean {}?", escape(&did_you_mean.join(", "))));
                }
                d
            }, limits::DESCRIPTION),
            "color": GREY,
            "footer": {"text": truncate(&format!("{scheme} naming scheme"), limits::FOOTER)},
        })]),
        Answer::Sector(_) | Answer::Region(_) => notice("Not an actor", "Try /recent instead."),
    }
}

fn chars(v: &Value) -> usize {
    v.as_str().map_or(0, |x| x.chars().count())
}

/// The characters of an embed that count towards Discord's 6000.
fn embed_chars(e: &Value) -> usize {
    chars(&e["title"])
        + chars(&e["description"])
        + chars(&e["footer"]["text"])
        + chars(&e["author"]["name"])
        + e["fields"].as_array().map_or(0, |f| {
            f.iter()
                .map(|x| chars(&x["name"]) + chars(&x["value"]))
                .sum()
        })
}

/// Make the reply fit Discord's 6000 characters: drop trailing embeds, then trailing
/// fields (saying how many), then shorten the description. Never silently: what is left
/// out is counted in the last field kept.
fn fit(mut embeds: Vec<Value>) -> Vec<Value> {
    embeds.truncate(MAX_EMBEDS);
    let total = |e: &[Value]| e.iter().map(embed_chars).sum::<usize>();
    while embeds.len() > 1 && total(&embeds) > limits::EMBED_TOTAL {
        embeds.pop();
    }
    let Some(e) = embeds.last_mut() else {
        return embeds;
    };
    let mut dropped = 0usize;
    while embed_chars(e) > limits::EMBED_TOTAL {
        let fields = e["fields"].as_array_mut().filter(|f| f.len() > 1);
        match fields {
            Some(f) => {
                f.pop();
                dropped += 1;
                let note = format!("…and {dropped} more not shown");
                let last = f.len() - 1;
                f[last]["value"] = json!(truncate(
                    &format!("{}\n{note}", f[last]["value"].as_str().unwrap_or("")),
                    limits::FIELD_VALUE
                ));
            }
            None => {
                let over = embed_chars(e) - limits::EMBED_TOTAL;
                let d = e["description"].as_str().unwrap_or("").to_string();
                let keep = chars(&e["description"]).saturating_sub(over + 1);
                e["description"] = json!(truncate(&d, keep.max(1)));
                if embed_chars(e) > limits::EMBED_TOTAL {
                    e["fields"] = json!([]);
                }
            }
        }
    }
    embeds
}

/// Whole lines packed into embeds: each description within its limit, the reply within
/// 6000 characters and 10 embeds. The footer says how many of the lines are shown.
fn pages(title: &str, lines: &[String], noun: &str) -> Vec<Value> {
    // Title, footer and page numbers take a little of each embed's share.
    let overhead = title.chars().count() + 48;
    let mut budget = limits::EMBED_TOTAL;
    let mut chunks: Vec<Vec<&str>> = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    let mut used = 0usize;
    let mut shown = 0usize;
    for line in lines {
        let n = line.chars().count() + 1;
        if current.is_empty() && (chunks.len() == MAX_EMBEDS || budget < overhead + n) {
            break;
        }
        if used + n > limits::DESCRIPTION || budget < overhead + used + n {
            chunks.push(std::mem::take(&mut current));
            budget = budget.saturating_sub(overhead + used);
            used = 0;
            if chunks.len() == MAX_EMBEDS || budget < overhead + n {
                break;
            }
        }
        current.push(line);
        used += n;
        shown += 1;
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    let n = chunks.len();
    let footer = if shown < lines.len() {
        format!("{shown} of {} {noun}", lines.len())
    } else {
        format!("{} {noun}", lines.len())
    };
    let embeds = chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            let page = if n > 1 {
                format!("{title} ({}/{n})", i + 1)
            } else {
                title.to_string()
            };
            json!({
                "title": truncate(&page, limits::TITLE),
                "description": truncate(&chunk.join("\n"), limits::DESCRIPTION),
                "color": BLUE,
                "footer": {"text": truncate(&footer, limits::FOOTER)},
            })
        })
        .collect();
    fit(embeds)
}

/// `/recent`: newest first, described by what was asked.
pub fn recent(asked: &str, articles: &[Article]) -> Value {
    if articles.is_empty() {
        return notice(
            "Nothing found",
            &format!(
                "No stored article matches {}. Try more days or fewer filters.",
                escape(asked)
            ),
        );
    }
    let lines: Vec<String> = articles.iter().map(article_line).collect();
    message(pages(
        &format!("Recent: {asked}"),
        &lines,
        "articles, newest first",
    ))
}

/// `/search`: ranked hits with the matched words in bold.
pub fn search(query: &str, hits: &[SearchHit]) -> Value {
    if hits.is_empty() {
        return notice(
            "Nothing found",
            &format!("No stored article matches {}.", escape(query)),
        );
    }
    let lines: Vec<String> = hits
        .iter()
        .map(|h| {
            // Escape first, then turn the store's highlight marks into bold.
            let snippet = escape(&h.snippet).replace(['\u{2}', '\u{3}'], "**");
            format!(
                "{}\n> {}",
                article_line(&h.article),
                truncate(&snippet, 300)
            )
        })
        .collect();
    message(pages(
        &format!("Search: {}", truncate(&escape(query), 200)),
        &lines,
        "best matches",
    ))
}

/// `/feeds`: failing feeds first (the order `lookup::feeds` gives).
pub fn feeds(rows: &[FeedRow]) -> Value {
    let failing = rows.iter().filter(|r| r.consecutive_failures > 0).count();
    let fields: Vec<Value> = rows
        .iter()
        .take(limits::FIELDS)
        .filter_map(|r| {
            let (mark, status) = if r.consecutive_failures > 0 {
                ("⚠️ ", format!("failing ×{}", r.consecutive_failures))
            } else if r.last_success.is_some() {
                ("", "ok".to_string())
            } else {
                ("", "not polled yet".to_string())
            };
            let mut lines = vec![format!(
                "{status} · {} items · last ok {}",
                r.items_seen,
                r.last_success.as_deref().unwrap_or("never")
            )];
            if let Some(e) = &r.last_error {
                lines.push(format!("last error: {}", escape(e)));
            }
            lines.push(format!(
                "next poll {}",
                r.next_poll.as_deref().unwrap_or("-")
            ));
            field(&format!("{mark}{}", r.name), &lines.join("\n"), false)
        })
        .collect();
    let mut description = format!("{} feeds, {failing} failing", rows.len());
    if rows.len() > limits::FIELDS {
        description.push_str(&format!(
            "; the first {} shown (`threatwatch feeds` lists all)",
            limits::FIELDS
        ));
    }
    message(fit(vec![json!({
        "title": "Feeds",
        "description": description,
        "color": if failing > 0 { RED } else { BLUE },
        "fields": fields,
    })]))
}

/// `/rules`: what each rule watches and where it posts.
pub fn rules(rows: &[RuleRow]) -> Value {
    let fields: Vec<Value> = rows
        .iter()
        .take(limits::FIELDS)
        .filter_map(|r| {
            let mut lines = Vec::new();
            for (label, list) in [
                ("actors", &r.actors),
                ("sectors", &r.sectors),
                ("regions", &r.regions),
                ("except", &r.exclude),
                ("feeds", &r.feeds),
            ] {
                if !list.is_empty() {
                    lines.push(format!("{label}: {}", escape(&list.join(", "))));
                }
            }
            lines.push(format!("combine: {}", r.combine));
            let dest = match r.channel {
                Some(c) => format!("<#{c}>"),
                None => "console only".into(),
            };
            let roles: Vec<String> = r.mention_roles.iter().map(|x| format!("<@&{x}>")).collect();
            let mut posts = format!("posts to {dest}, {} priority", r.priority);
            if !roles.is_empty() {
                posts.push_str(&format!(", mentions {}", roles.join(" ")));
            }
            lines.push(posts);
            field(&r.name, &lines.join("\n"), false)
        })
        .collect();
    message(fit(vec![json!({
        "title": "Rules",
        "description": format!("{} rules", rows.len()),
        "color": BLUE,
        "fields": fields,
    })]))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn article(n: usize, title: &str) -> Article {
        let t = Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap();
        Article {
            feed: "The Record".into(),
            title: title.into(),
            url: Some(format!("https://news.example/{n}")),
            published: Some(t),
            first_seen: t,
        }
    }

    fn total(v: &Value) -> usize {
        v["embeds"]
            .as_array()
            .unwrap()
            .iter()
            .map(embed_chars)
            .sum()
    }

    #[test]
    fn recent_lists_linked_escaped_titles() {
        let v = recent(
            "sector telecommunications, last 7 days",
            &[article(1, "Telcos *breached* (again)")],
        );
        assert_eq!(
            v,
            json!({
                "content": "",
                "embeds": [{
                    "title": "Recent: sector telecommunications, last 7 days",
                    "description": "2026-11-20 · The Record · [Telcos \\*breached\\* \\(again\\)](https://news.example/1)",
                    "color": BLUE,
                    "footer": {"text": "1 articles, newest first"},
                }],
                "allowed_mentions": {"parse": []},
            })
        );
    }

    #[test]
    fn a_long_list_is_paginated_within_every_limit() {
        let long = "Ransomware gang hits hospital ".repeat(20);
        let many: Vec<Article> = (0..200).map(|n| article(n, &long)).collect();
        let v = recent("last 30 days", &many);
        let embeds = v["embeds"].as_array().unwrap();
        assert!(embeds.len() > 1 && embeds.len() <= MAX_EMBEDS);
        assert!(total(&v) <= limits::EMBED_TOTAL, "{}", total(&v));
        assert!(embeds[0]["title"]
            .as_str()
            .unwrap()
            .starts_with("Recent: last 30 days (1/"));
        // Whole lines only, and the footer says how many fit.
        let shown: usize = embeds
            .iter()
            .map(|e| e["description"].as_str().unwrap().lines().count())
            .sum();
        assert!(shown > 10, "{shown}");
        assert_eq!(
            embeds[0]["footer"]["text"],
            json!(format!("{shown} of 200 articles, newest first"))
        );
        for e in embeds {
            for line in e["description"].as_str().unwrap().lines() {
                assert!(line.ends_with(')'), "a cut line: {line}");
            }
        }
        // Short lines: all 50 fit.
        let few: Vec<Article> = (0..50).map(|n| article(n, "Short")).collect();
        let v = recent("last 7 days", &few);
        assert_eq!(
            v["embeds"][0]["footer"]["text"],
            json!("50 articles, newest first")
        );
    }

    #[test]
    fn search_snippets_are_escaped_then_highlighted() {
        let hit = SearchHit {
            article: article(3, "Banks phished"),
            snippet: "the \u{2}quartermaster\u{3} noticed *this* @everyone".into(),
        };
        let v = search("quartermaster", &[hit]);
        let d = v["embeds"][0]["description"].as_str().unwrap();
        assert_eq!(
            d,
            "2026-11-20 · The Record · [Banks phished](https://news.example/3)\n> the **quartermaster** noticed \\*this\\* @\u{200b}everyone"
        );
    }

    #[test]
    fn nothing_found_says_what_to_try() {
        let v = recent("actor APT27, last 7 days", &[]);
        assert_eq!(v["embeds"][0]["title"], json!("Nothing found"));
        assert_eq!(
            v["embeds"][0]["description"],
            json!("No stored article matches actor APT27, last 7 days. Try more days or fewer filters.")
        );
    }

    #[test]
    fn feeds_put_failing_ones_first_with_their_error() {
        let rows = vec![
            FeedRow {
                name: "Talos".into(),
                url: "https://t".into(),
                last_success: None,
                last_error: Some("HTTP 404 Not Found".into()),
                consecutive_failures: 3,
                items_seen: 0,
                next_poll: None,
            },
            FeedRow {
                name: "CISA".into(),
                url: "https://c".into(),
                last_success: Some("2026-11-20T12:00:00Z".into()),
                last_error: None,
                consecutive_failures: 0,
                items_seen: 40,
                next_poll: Some("2026-11-20T12:15:00Z".into()),
            },
        ];
        let v = feeds(&rows);
        let e = &v["embeds"][0];
        assert_eq!(e["description"], json!("2 feeds, 1 failing"));
        assert_eq!(e["color"], json!(RED));
        assert_eq!(
            e["fields"],
            json!([
                {"name": "⚠️ Talos", "value": "failing ×3 · 0 items · last ok never\nlast error: HTTP 404 Not Found\nnext poll -", "inline": false},
                {"name": "CISA", "value": "ok · 40 items · last ok 2026-11-20T12:00:00Z\nnext poll 2026-11-20T12:15:00Z", "inline": false}
            ])
        );
    }

    #[test]
    fn links_cannot_break_out_of_markdown() {
        assert_eq!(
            link("x", Some("https://e.test/a) [y](https://evil")),
            "[x](https://e.test/a%29%20[y]%28https://evil)"
        );
        assert_eq!(link("x", Some("javascript:alert(1)")), "x");
    }

    #[test]
    fn a_single_embed_with_many_long_fields_is_cut_to_fit() {
        let rows: Vec<FeedRow> = (0..40)
            .map(|i| FeedRow {
                name: format!("Feed {i}"),
                url: "https://f".into(),
                last_success: None,
                last_error: Some("error sending request: dns error: failed to lookup address information: Temporary failure in name resolution ".repeat(8)),
                consecutive_failures: 9,
                items_seen: 0,
                next_poll: None,
            })
            .collect();
        let v = feeds(&rows);
        assert!(total(&v) <= limits::EMBED_TOTAL, "{}", total(&v));
        let fields = v["embeds"][0]["fields"].as_array().unwrap();
        assert!(fields.len() < 25);
        let last = fields.last().unwrap()["value"].as_str().unwrap();
        assert!(
            last.ends_with(&format!("…and {} more not shown", 25 - fields.len())),
            "{last}"
        );
    }
}
