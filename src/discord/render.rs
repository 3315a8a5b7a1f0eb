//! Alerts as Discord message bodies (`POST /channels/{id}/messages` JSON), pure.
//!
//! One embed per alert: the title linked to the article, the feed as author, a clean
//! excerpt, one field per category with the surface forms that matched, the rules, the
//! priority as colour and the published time as timestamp. Feed text is untrusted:
//! Discord markdown and mention syntax in it are escaped, `content` carries only the
//! rules' role mentions, and `allowed_mentions` names exactly those roles. Every length
//! respects Discord's limits, cut on character boundaries with an ellipsis.

use chrono::SecondsFormat;
use serde_json::{json, Value};

use crate::alert::notice::Notice;
use crate::model::{Alert, EntityMatch, Priority};

/// Discord's documented limits (characters).
pub mod limits {
    pub const CONTENT: usize = 2000;
    pub const TITLE: usize = 256;
    pub const DESCRIPTION: usize = 4096;
    pub const FIELDS: usize = 25;
    pub const FIELD_NAME: usize = 256;
    pub const FIELD_VALUE: usize = 1024;
    pub const FOOTER: usize = 2048;
    pub const AUTHOR: usize = 256;
    pub const EMBED_TOTAL: usize = 6000;
    pub const URL: usize = 2048;
    /// `allowed_mentions.roles` holds at most 100 ids.
    pub const ROLES: usize = 100;
}

/// How long the excerpt in an alert is; Discord allows more, readers want less.
const EXCERPT: usize = 600;

/// `s` cut to at most `max` characters, ending in "…" when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let keep: String = s.chars().take(max.saturating_sub(1)).collect();
    format!("{}…", keep.trim_end())
}

/// Escape Discord markdown and neutralise mention syntax in untrusted text.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for (i, c) in s.char_indices() {
        match c {
            '\\' | '*' | '_' | '~' | '`' | '|' | '>' | '#' | '[' | ']' | '(' | ')' | '<' => {
                out.push('\\');
                out.push(c);
            }
            // A zero-width space keeps @everyone / @here from reading as a mention even
            // where escaping is not honoured; other "@"s (emails, handles) stay as typed.
            '@' if s[i + 1..].starts_with("everyone") || s[i + 1..].starts_with("here") => {
                out.push_str("@\u{200b}")
            }
            _ => out.push(c),
        }
    }
    out
}

fn colour(p: Priority) -> u32 {
    match p {
        Priority::High => 0xD7_3A_49,
        Priority::Normal => 0xE3_B3_41,
        Priority::Low => 0x6A_73_7D,
    }
}

/// "APT27: *Emissary Panda*, *TG-3390* (title, summary)" lines for one category.
fn field_value(list: &[EntityMatch]) -> String {
    let lines: Vec<String> = list
        .iter()
        .map(|e| {
            let forms: Vec<String> = e
                .matched
                .iter()
                .map(|f| format!("*{}*", escape(f)))
                .collect();
            let fields: Vec<&str> = e.fields.iter().map(|f| f.as_str()).collect();
            let mut line = format!("**{}**: matched {}", escape(&e.name), forms.join(", "));
            if !fields.is_empty() {
                line.push_str(&format!(" in {}", fields.join(", ")));
            }
            if let Some(n) = &e.note {
                line.push_str(&format!(" ({})", escape(n)));
            }
            line
        })
        .collect();
    truncate(&lines.join("\n"), limits::FIELD_VALUE)
}

/// The message body for `alert`, with `nonce` so a retry after a crash cannot post twice.
pub fn alert_message(alert: &Alert, nonce: &str) -> Value {
    let item = &alert.item;
    let mut fields = Vec::new();
    for (name, list) in [
        ("Actors", &alert.entities.actors),
        ("Sectors", &alert.entities.sectors),
        ("Regions", &alert.entities.regions),
    ] {
        if !list.is_empty() {
            fields.push(json!({"name": name, "value": field_value(list), "inline": false}));
        }
    }
    fields.push(json!({
        "name": "Rule",
        "value": truncate(&escape(&alert.rules.join(", ")), limits::FIELD_VALUE),
        "inline": true,
    }));
    fields.truncate(limits::FIELDS);
    let title = truncate(&escape(&item.title), limits::TITLE);
    // Discord shows author names as plain text: escaping would only add backslashes.
    let author = truncate(&item.feed, limits::AUTHOR);
    let footer = truncate(
        &format!("threatwatch · {} priority", alert.priority.as_str()),
        limits::FOOTER,
    );
    let mut description = truncate(&escape(&item.summary), EXCERPT.min(limits::DESCRIPTION));
    // Keep the whole embed within Discord's total: shorten the excerpt first.
    let fixed: usize = title.chars().count()
        + author.chars().count()
        + footer.chars().count()
        + fields
            .iter()
            .map(|f| {
                f["name"].as_str().map_or(0, |s| s.chars().count())
                    + f["value"].as_str().map_or(0, |s| s.chars().count())
            })
            .sum::<usize>();
    let room = limits::EMBED_TOTAL.saturating_sub(fixed);
    if description.chars().count() > room {
        description = truncate(&description, room);
    }
    let mut embed = json!({
        "title": title,
        "author": {"name": author},
        "description": description,
        "color": colour(alert.priority),
        "fields": fields,
        "footer": {"text": footer},
    });
    // Discord refuses an embed url over 2048 characters; the title then links nowhere
    // rather than losing the alert.
    if let Some(url) = item.url.as_ref().filter(|u| u.len() <= limits::URL) {
        embed["url"] = json!(url);
    }
    if let Some(p) = item.published {
        embed["timestamp"] = json!(p.to_rfc3339_opts(SecondsFormat::Secs, true));
    }
    // Whole mentions only, never one cut in half, and never more than Discord allows.
    let mut content = String::new();
    let mut roles: Vec<String> = Vec::new();
    for r in alert.mention_roles.iter().take(limits::ROLES) {
        let m = format!("<@&{r}>");
        if content.len() + m.len() + 1 > limits::CONTENT {
            break;
        }
        if !content.is_empty() {
            content.push(' ');
        }
        content.push_str(&m);
        roles.push(r.to_string());
    }
    json!({
        "content": content,
        "embeds": [embed],
        "allowed_mentions": {"parse": [], "roles": roles},
        "nonce": nonce,
        "enforce_nonce": true,
    })
}

/// The status-channel message for a notice: one embed, red for problems, green for a
/// recovery, and no mentions at all.
pub fn notice_message(notice: &Notice) -> Value {
    let mut description = escape(&notice.detail);
    if notice.suppressed > 0 {
        description.push_str(&format!(
            "\n\n({} similar notices were held back to keep this channel readable; the log has them all.)",
            notice.suppressed
        ));
    }
    let colour = if notice.kind.is_problem() {
        0xD7_3A_49
    } else {
        0x2E_A0_43
    };
    json!({
        "content": "",
        "embeds": [{
            "title": truncate(&escape(&notice.headline()), limits::TITLE),
            "description": truncate(&description, limits::DESCRIPTION),
            "color": colour,
            "footer": {"text": "threatwatch status"},
        }],
        "allowed_mentions": {"parse": []},
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::notice::NoticeKind;
    use crate::model::{ChannelId, Entities, Field, Item, ItemKey};

    fn alert(title: &str, summary: &str, roles: Vec<u64>) -> Alert {
        Alert {
            item: Item {
                feed: "The Record".into(),
                key: ItemKey("guid:1".into()),
                guid: Some("1".into()),
                title: title.into(),
                url: Some("https://therecord.media/telcos".into()),
                published: chrono::DateTime::parse_from_rfc3339("2021-08-03T12:00:00Z")
                    .ok()
                    .map(|d| d.with_timezone(&chrono::Utc)),
                summary: summary.into(),
                content: String::new(),
            },
            entities: Entities {
                actors: vec![EntityMatch {
                    name: "APT27".into(),
                    matched: vec!["Emissary Panda".into(), "TG-3390".into()],
                    fields: vec![Field::Title, Field::Summary],
                    note: None,
                }],
                sectors: Vec::new(),
                regions: vec![EntityMatch {
                    name: "Southeast Asia".into(),
                    matched: vec!["Southeast Asian".into()],
                    fields: vec![Field::Title],
                    note: None,
                }],
            },
            rules: vec!["telco-espionage-sea".into()],
            channel: Some(ChannelId(42)),
            mention_roles: roles,
            priority: Priority::High,
        }
    }

    #[test]
    fn the_embed_explains_the_match() {
        let v = alert_message(
            &alert("Emissary Panda hits telcos", "TG-3390 again.", vec![7]),
            "tw-1",
        );
        assert_eq!(
            v,
            json!({
                "content": "<@&7>",
                "embeds": [{
                    "title": "Emissary Panda hits telcos",
                    "url": "https://therecord.media/telcos",
                    "author": {"name": "The Record"},
                    "description": "TG-3390 again.",
                    "color": 0xD73A49,
                    "timestamp": "2021-08-03T12:00:00Z",
                    "fields": [
                        {"name": "Actors", "value": "**APT27**: matched *Emissary Panda*, *TG-3390* in title, summary", "inline": false},
                        {"name": "Regions", "value": "**Southeast Asia**: matched *Southeast Asian* in title", "inline": false},
                        {"name": "Rule", "value": "telco-espionage-sea", "inline": true}
                    ],
                    "footer": {"text": "threatwatch · high priority"}
                }],
                "allowed_mentions": {"parse": [], "roles": ["7"]},
                "nonce": "tw-1",
                "enforce_nonce": true
            })
        );
    }

    #[test]
    fn feed_text_pings_nobody() {
        let v = alert_message(
            &alert(
                "@everyone <@&123> <@456> **bold** [x](http://e)",
                "@here",
                Vec::new(),
            ),
            "n",
        );
        assert_eq!(v["content"], "");
        assert_eq!(v["allowed_mentions"], json!({"parse": [], "roles": []}));
        let title = v["embeds"][0]["title"].as_str().unwrap_or("");
        for raw in ["@everyone", "<@&123>", "<@456>", "[x](http"] {
            assert!(!title.contains(raw), "{raw} survived in {title}");
        }
        assert_eq!(v["embeds"][0]["description"], "@\u{200b}here");
        assert!(title.contains("\\*\\*bold\\*\\*"), "{title}");
    }

    #[test]
    fn every_length_fits_discords_limits() {
        let long = "Lorem ipsum dolor sit amet — ünïcödé ".repeat(500);
        let v = alert_message(&alert(&long, &long, (1..40).collect()), "n");
        let e = &v["embeds"][0];
        let len = |v: &Value| v.as_str().map_or(0, |s| s.chars().count());
        assert!(len(&e["title"]) <= limits::TITLE);
        assert!(len(&e["description"]) <= limits::DESCRIPTION);
        assert!(len(&v["content"]) <= limits::CONTENT);
        let total = len(&e["title"])
            + len(&e["description"])
            + len(&e["author"]["name"])
            + len(&e["footer"]["text"])
            + e["fields"].as_array().map_or(0, |f| {
                f.iter().map(|x| len(&x["name"]) + len(&x["value"])).sum()
            });
        assert!(total <= limits::EMBED_TOTAL, "{total}");
        assert!(e["title"].as_str().unwrap_or("").ends_with('…'));
    }

    #[test]
    fn a_notice_is_one_plain_embed() {
        let mut n = Notice::new(
            NoticeKind::DeliveryFailed,
            "channel 42",
            "HTTP 404 Unknown Channel (10003). @everyone",
        );
        n.suppressed = 2;
        assert_eq!(
            notice_message(&n),
            json!({
                "content": "",
                "embeds": [{
                    "title": "Delivery to channel 42 failed",
                    "description": "HTTP 404 Unknown Channel \\(10003\\). @\u{200b}everyone\n\n(2 similar notices were held back to keep this channel readable; the log has them all.)",
                    "color": 0xD73A49,
                    "footer": {"text": "threatwatch status"}
                }],
                "allowed_mentions": {"parse": []}
            })
        );
    }

    #[test]
    fn only_everyone_and_here_get_a_zero_width_space() {
        assert_eq!(
            escape("mail ops@corp.example, @everyone, @here"),
            "mail ops@corp.example, @\u{200b}everyone, @\u{200b}here"
        );
    }

    #[test]
    fn what_discord_would_refuse_is_left_out_not_the_alert() {
        let mut a = alert("t", "s", (1..=150).collect());
        a.item.url = Some(format!("https://e.test/{}", "a".repeat(2100)));
        a.item.feed = "Unit 42 (Palo Alto)".into();
        let v = alert_message(&a, "n");
        assert!(v["embeds"][0].get("url").is_none());
        assert_eq!(v["embeds"][0]["author"]["name"], "Unit 42 (Palo Alto)");
        let roles = v["allowed_mentions"]["roles"].as_array().unwrap();
        assert!(roles.len() <= limits::ROLES);
        let content = v["content"].as_str().unwrap();
        assert!(content.len() <= limits::CONTENT);
        assert!(content.ends_with('>'));
        assert_eq!(content.matches("<@&").count(), roles.len());
    }
}
