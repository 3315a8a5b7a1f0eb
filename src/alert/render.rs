//! Console renderings: human text and the JSON lines of CONTRACT.md.
//!
//! One JSON object per line: `feed`, `title`, `url`, `published`, `actors`, `sectors`,
//! `regions`, `rules` (keys may be added, never removed). Pure functions; printing is
//! the caller's.

use chrono::SecondsFormat;
use serde::Serialize;

use crate::model::{Alert, Entities, EntityMatch, Item};

/// Output format of `run`, `once` and `scan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Text,
    Jsonl,
}

#[derive(Serialize)]
struct Line<'a> {
    feed: &'a str,
    title: &'a str,
    url: Option<&'a str>,
    published: Option<String>,
    actors: &'a [EntityMatch],
    sectors: &'a [EntityMatch],
    regions: &'a [EntityMatch],
    rules: &'a [String],
}

/// One JSON line for an item, its entities and the rules that fired.
pub fn json_line(item: &Item, entities: &Entities, rules: &[String]) -> String {
    let line = Line {
        feed: &item.feed,
        title: &item.title,
        url: item.url.as_deref(),
        published: item
            .published
            .map(|p| p.to_rfc3339_opts(SecondsFormat::Secs, true)),
        actors: &entities.actors,
        sectors: &entities.sectors,
        regions: &entities.regions,
        rules,
    };
    // Serializing plain strings and vectors cannot fail.
    serde_json::to_string(&line).unwrap_or_default()
}

fn entity_list(label: &str, list: &[EntityMatch], out: &mut String) {
    if list.is_empty() {
        return;
    }
    let parts: Vec<String> = list
        .iter()
        .map(|e| {
            let forms = e.matched.join(", ");
            let mut s = if forms.is_empty() || (e.matched.len() == 1 && e.matched[0] == e.name) {
                e.name.clone()
            } else {
                format!("{} ({forms})", e.name)
            };
            if let Some(n) = &e.note {
                s.push_str(&format!(" [{n}]"));
            }
            s
        })
        .collect();
    out.push_str(&format!("  {label:<8} {}\n", parts.join("; ")));
}

/// Human-readable block for an item.
pub fn text_block(item: &Item, entities: &Entities, rules: &[String], tag: &str) -> String {
    let mut out = String::new();
    if tag.is_empty() {
        out.push_str(&format!("{} | {}\n", item.feed, item.title));
    } else {
        out.push_str(&format!("[{tag}] {} | {}\n", item.feed, item.title));
    }
    let when = item
        .published
        .map(|p| p.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "undated".into());
    out.push_str(&format!(
        "  {:<8} {} ({when})\n",
        "link:",
        item.url.as_deref().unwrap_or("(no link)")
    ));
    entity_list("actors:", &entities.actors, &mut out);
    entity_list("sectors:", &entities.sectors, &mut out);
    entity_list("regions:", &entities.regions, &mut out);
    if !rules.is_empty() {
        out.push_str(&format!("  {:<8} {}\n", "rules:", rules.join(", ")));
    }
    out
}

/// An alert as the console prints it.
pub fn alert(a: &Alert, format: Format) -> String {
    match format {
        Format::Jsonl => json_line(&a.item, &a.entities, &a.rules),
        Format::Text => text_block(&a.item, &a.entities, &a.rules, a.priority.as_str()),
    }
}
