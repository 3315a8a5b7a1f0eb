//! Answers to lookups, as plain data: who is an actor, what a sector or region covers,
//! how the feeds are doing, what the config watches.
//!
//! The CLI (`lookup`, `feeds`, `check`) prints these as text or JSON; the Discord
//! commands render the same data as embeds. No serenity or terminal types here.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::catalog::{self, ActorLookup, Catalog, Place};
use crate::config::{Config, RuleConfig};
use crate::store::FeedState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupKind {
    Actor,
    Sector,
    Region,
}

impl LookupKind {
    fn noun(self) -> &'static str {
        match self {
            LookupKind::Actor => "actor",
            LookupKind::Sector => "sector",
            LookupKind::Region => "region",
        }
    }
}

/// Nobody by that name; the closest known names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no {kind} named {name:?}{}", did_you_mean(suggestions))]
pub struct NotFound {
    pub kind: &'static str,
    pub name: String,
    pub suggestions: Vec<String>,
}

fn did_you_mean(s: &[String]) -> String {
    if s.is_empty() {
        String::new()
    } else {
        let quoted: Vec<String> = s.iter().map(|x| format!("{x:?}")).collect();
        format!("; did you mean {}?", quoted.join(", "))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ActorAnswer {
    pub name: String,
    /// Aliases grouped by naming scheme ("other" for unknown scheme).
    pub aliases: BTreeMap<String, Vec<String>>,
    pub origin: Option<String>,
    pub kind: Option<String>,
    pub mitre: Option<String>,
    pub mitre_url: Option<String>,
    pub sectors: Vec<String>,
    pub countries: Vec<String>,
    pub refs: Vec<String>,
    pub sources: Vec<String>,
    /// Rules that watch this actor.
    pub watched_by: Vec<String>,
    /// Its latest mentions in stored articles, when a store was at hand.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mentions: Option<crate::store::Mentions>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SectorAnswer {
    pub name: String,
    pub id: String,
    pub terms: Vec<String>,
    pub watched_by: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RegionAnswer {
    pub name: String,
    pub kind: String,
    pub terms: Vec<String>,
    pub countries: Vec<String>,
    pub watched_by: Vec<String>,
}

/// One lookup's answer. An alias two actors claim answers with both.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Answer {
    Actors {
        query: String,
        /// More than one when the name is an alias several actors claim.
        actors: Vec<ActorAnswer>,
        ambiguous: bool,
    },
    /// A name no catalog knows that follows a vendor naming scheme (UNC1234).
    Designation {
        name: String,
        scheme: String,
        nexus: Option<String>,
        note: String,
        /// Known names it is close to: "Emisary Panda" is a designation by its shape,
        /// and most likely a typo.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        did_you_mean: Vec<String>,
    },
    Sector(SectorAnswer),
    Region(RegionAnswer),
}

fn country_name(c: &Catalog, code: &str) -> String {
    c.country_by_code(code)
        .map(|x| x.name.clone())
        .unwrap_or_else(|| code.to_string())
}

fn actor_answer(c: &Catalog, rules: &[RuleConfig], id: catalog::ActorId) -> ActorAnswer {
    let a = &c.actors[id];
    let mut aliases: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for al in &a.aliases {
        aliases
            .entry(al.scheme.clone().unwrap_or_else(|| "other".into()))
            .or_default()
            .push(al.name.clone());
    }
    let watched_by = rules
        .iter()
        .filter(|r| {
            r.actors.iter().any(|n| {
                if let Some(country) = catalog::nexus_spec(n) {
                    // "nexus:China" watches every actor of that suspected origin.
                    return match (c.find_place(country), &a.origin) {
                        (Some(Place::Country(i)), Some(o)) => c.countries[i].code == *o,
                        _ => false,
                    };
                }
                match c.find_actor(n) {
                    ActorLookup::Found(x) => x == id,
                    ActorLookup::Ambiguous(xs) => xs.contains(&id),
                    ActorLookup::Unknown(_) => false,
                }
            })
        })
        .map(|r| r.name.clone())
        .collect();
    ActorAnswer {
        name: a.name.clone(),
        aliases,
        origin: a.origin.as_deref().map(|o| country_name(c, o)),
        kind: a.kind.clone(),
        mitre_url: a
            .mitre
            .as_ref()
            .map(|m| format!("https://attack.mitre.org/groups/{m}/")),
        mitre: a.mitre.clone(),
        sectors: a
            .sectors
            .iter()
            .map(|s| {
                c.find_sector(s)
                    .map(|i| c.sectors[i].name.clone())
                    .unwrap_or_else(|| s.clone())
            })
            .collect(),
        countries: a.countries.iter().map(|x| country_name(c, x)).collect(),
        refs: a.refs.clone(),
        sources: a.sources.clone(),
        watched_by,
        mentions: None,
    }
}

/// Answer `lookup KIND NAME` from the catalog and the rules.
pub fn lookup(
    c: &Catalog,
    rules: &[RuleConfig],
    kind: LookupKind,
    name: &str,
) -> Result<Answer, NotFound> {
    let not_found = |suggestions: Vec<String>| NotFound {
        kind: kind.noun(),
        name: name.to_string(),
        suggestions,
    };
    match kind {
        LookupKind::Actor => match c.find_actor(name) {
            ActorLookup::Found(id) => Ok(Answer::Actors {
                query: name.to_string(),
                actors: vec![actor_answer(c, rules, id)],
                ambiguous: false,
            }),
            ActorLookup::Ambiguous(ids) => Ok(Answer::Actors {
                query: name.to_string(),
                actors: ids.iter().map(|&i| actor_answer(c, rules, i)).collect(),
                ambiguous: true,
            }),
            ActorLookup::Unknown(s) => {
                let trimmed = name.trim();
                match catalog::scheme::whole(trimmed) {
                    Some(d) => Ok(Answer::Designation {
                        note: d.note(),
                        nexus: d
                            .nexus
                            .and_then(catalog::scheme::nexus_label)
                            .map(String::from),
                        scheme: d.scheme.to_string(),
                        name: d.name,
                        // Only near-spellings: "Velvet Typhoon" is not a typo of "Volt
                        // Typhoon", "Emisary Panda" is one of "Emissary Panda".
                        did_you_mean: s
                            .into_iter()
                            .filter(|k| {
                                strsim::levenshtein(
                                    &catalog::name_key(k),
                                    &catalog::name_key(trimmed),
                                ) <= 2
                            })
                            .collect(),
                    }),
                    _ => Err(not_found(s)),
                }
            }
        },
        LookupKind::Sector => {
            let i = c
                .find_sector(name)
                .ok_or_else(|| not_found(c.suggest_sectors(name)))?;
            let s = &c.sectors[i];
            Ok(Answer::Sector(SectorAnswer {
                name: s.name.clone(),
                id: s.id.clone(),
                terms: s.terms.iter().map(|t| t.text.clone()).collect(),
                watched_by: rules
                    .iter()
                    .filter(|r| r.sectors.iter().any(|n| c.find_sector(n) == Some(i)))
                    .map(|r| r.name.clone())
                    .collect(),
            }))
        }
        LookupKind::Region => {
            let p = c
                .find_place(name)
                .ok_or_else(|| not_found(c.suggest_places(name)))?;
            let covered = c.place_countries(p);
            let (kind, terms) = match p {
                Place::Country(i) => ("country".to_string(), &c.countries[i].terms),
                Place::Region(i) => (c.regions[i].kind.clone(), &c.regions[i].terms),
            };
            Ok(Answer::Region(RegionAnswer {
                name: c.place_name(p).to_string(),
                kind,
                terms: terms.iter().map(|t| t.text.clone()).collect(),
                countries: covered.iter().map(|x| country_name(c, x)).collect(),
                watched_by: rules
                    .iter()
                    .filter(|r| {
                        r.regions.iter().any(|n| {
                            c.find_place(n)
                                .is_some_and(|q| q == p || covered.is_subset(&c.place_countries(q)))
                        })
                    })
                    .map(|r| r.name.clone())
                    .collect(),
            }))
        }
    }
}

fn line(out: &mut String, label: &str, value: &str) {
    if !value.is_empty() {
        out.push_str(&format!("{label:<12} {value}\n"));
    }
}

impl Answer {
    /// Attach each actor's stored mentions (`/actor`, `lookup actor` with a store).
    pub fn with_mentions(
        mut self,
        mut find: impl FnMut(&str) -> Option<crate::store::Mentions>,
    ) -> Answer {
        if let Answer::Actors { actors, .. } = &mut self {
            for a in actors {
                a.mentions = find(&a.name);
            }
        }
        self
    }

    /// The terminal rendering.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        match self {
            Answer::Actors {
                query,
                actors,
                ambiguous,
            } => {
                if *ambiguous {
                    out.push_str(&format!(
                        "{query:?} is claimed by {} actors:\n\n",
                        actors.len()
                    ));
                }
                for a in actors {
                    out.push_str(&format!("{}\n", a.name));
                    for (scheme, names) in &a.aliases {
                        line(&mut out, &format!("  {scheme}:"), &names.join(", "));
                    }
                    line(&mut out, "origin:", a.origin.as_deref().unwrap_or(""));
                    line(&mut out, "kind:", a.kind.as_deref().unwrap_or(""));
                    if let (Some(m), Some(u)) = (&a.mitre, &a.mitre_url) {
                        line(&mut out, "ATT&CK:", &format!("{m} {u}"));
                    }
                    line(&mut out, "sectors:", &a.sectors.join(", "));
                    line(&mut out, "countries:", &a.countries.join(", "));
                    line(&mut out, "watched by:", &a.watched_by.join(", "));
                    if let Some(m) = &a.mentions {
                        line(
                            &mut out,
                            "mentions:",
                            &format!(
                                "{} in the last 7 days, {} in the last 30 days",
                                m.last_7_days, m.last_30_days
                            ),
                        );
                        for x in &m.latest {
                            let link = x.url.as_deref().unwrap_or("");
                            out.push_str(&format!(
                                "             {} {}: {} {link}\n",
                                x.time().format("%Y-%m-%d"),
                                x.feed,
                                x.title
                            ));
                        }
                    }
                    line(&mut out, "sources:", &a.sources.join(", "));
                    out.push('\n');
                }
            }
            Answer::Designation {
                name,
                scheme,
                nexus,
                note,
                did_you_mean,
            } => {
                out.push_str(&format!("{name}\n"));
                line(&mut out, "scheme:", scheme);
                line(
                    &mut out,
                    "nexus:",
                    nexus.as_deref().unwrap_or("not implied by the name"),
                );
                line(&mut out, "note:", note);
                line(&mut out, "did you mean:", &did_you_mean.join(", "));
            }
            Answer::Sector(s) => {
                out.push_str(&format!("{}\n", s.name));
                line(&mut out, "terms:", &s.terms.join(", "));
                line(&mut out, "watched by:", &s.watched_by.join(", "));
            }
            Answer::Region(r) => {
                out.push_str(&format!("{} ({})\n", r.name, r.kind));
                line(&mut out, "terms:", &r.terms.join(", "));
                line(&mut out, "countries:", &r.countries.join(", "));
                line(&mut out, "watched by:", &r.watched_by.join(", "));
            }
        }
        out
    }
}

/// One row of the feeds table (`feeds --format json`, `/feeds`).
#[derive(Debug, Clone, Serialize)]
pub struct FeedRow {
    pub name: String,
    pub url: String,
    pub last_success: Option<String>,
    pub last_error: Option<String>,
    pub consecutive_failures: u32,
    pub items_seen: u64,
    pub next_poll: Option<String>,
}

fn ts(t: Option<DateTime<Utc>>) -> Option<String> {
    t.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// Every configured feed with its stored health, failing feeds first.
pub fn feeds(config: &Config, states: &[FeedState]) -> Vec<FeedRow> {
    let mut rows: Vec<FeedRow> = config
        .feeds
        .iter()
        .map(|f| {
            let s = states.iter().find(|s| s.name == f.name);
            FeedRow {
                name: f.name.clone(),
                url: f.source.to_string(),
                last_success: ts(s.and_then(|s| s.last_success)),
                last_error: s.and_then(|s| s.last_error.clone()),
                consecutive_failures: s.map_or(0, |s| s.consecutive_failures),
                items_seen: s.map_or(0, |s| s.items_seen),
                next_poll: ts(s.and_then(|s| s.next_poll)),
            }
        })
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.consecutive_failures));
    rows
}

/// The feeds table for a terminal.
pub fn feeds_text(rows: &[FeedRow]) -> String {
    let mut out = String::new();
    for r in rows {
        let status = if r.consecutive_failures > 0 {
            format!("FAILING x{}", r.consecutive_failures)
        } else if r.last_success.is_some() {
            "ok".to_string()
        } else {
            "never polled".to_string()
        };
        out.push_str(&format!("{} [{status}]\n", r.name));
        line(&mut out, "  url:", &r.url);
        line(
            &mut out,
            "  last ok:",
            r.last_success.as_deref().unwrap_or("never"),
        );
        line(&mut out, "  error:", r.last_error.as_deref().unwrap_or(""));
        line(&mut out, "  items:", &r.items_seen.to_string());
        line(
            &mut out,
            "  next poll:",
            r.next_poll.as_deref().unwrap_or("-"),
        );
    }
    out
}

/// `check`'s one-screen summary.
pub fn summary(config: &Config) -> String {
    let mut out = format!("{}: ok\n", config.path.display());
    let c = &config.catalog_data;
    out.push_str(&format!(
        "catalog: {} actors ({} aliases), {} sectors, {} countries, {} regions\n",
        c.actors.len(),
        c.actors.iter().map(|a| a.aliases.len()).sum::<usize>(),
        c.sectors.len(),
        c.countries.len(),
        c.regions.len()
    ));
    out.push_str(&format!("feeds: {}\n", config.feeds.len()));
    for f in &config.feeds {
        out.push_str(&format!(
            "  {} every {} <- {}\n",
            f.name,
            humantime::format_duration(f.interval),
            f.source
        ));
    }
    out.push_str(&format!("rules: {}\n", config.rules.len()));
    for r in &config.rules {
        let mut watch = Vec::new();
        for (label, list) in [
            ("actors", &r.actors),
            ("sectors", &r.sectors),
            ("regions", &r.regions),
        ] {
            if !list.is_empty() {
                watch.push(format!("{label} {}", list.join(", ")));
            }
        }
        let dest = match r.channel {
            Some(ch) => format!("channel {}", ch.0),
            None => "console only".to_string(),
        };
        out.push_str(&format!("  {} -> {dest}: {}\n", r.name, watch.join("; ")));
    }
    for w in &config.warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    out
}

/// One rule as `/rules` shows it: what it watches and where it posts.
#[derive(Debug, Clone, Serialize)]
pub struct RuleRow {
    pub name: String,
    pub actors: Vec<String>,
    pub sectors: Vec<String>,
    pub regions: Vec<String>,
    /// "any", "all", or the rule's `when` expression.
    pub combine: String,
    pub exclude: Vec<String>,
    /// Feed names or tags it is limited to; empty for every feed.
    pub feeds: Vec<String>,
    pub channel: Option<u64>,
    pub mention_roles: Vec<u64>,
    pub priority: String,
}

/// Every rule, in config order.
pub fn rules(config: &Config) -> Vec<RuleRow> {
    config
        .rules
        .iter()
        .map(|r| RuleRow {
            name: r.name.clone(),
            actors: r.actors.clone(),
            sectors: r.sectors.clone(),
            regions: r.regions.clone(),
            combine: match (&r.when, r.require) {
                (Some(w), _) => w.to_string(),
                (None, crate::config::Require::Any) => "any".into(),
                (None, crate::config::Require::All) => "all".into(),
            },
            exclude: r.exclude.clone(),
            feeds: r.feeds.clone(),
            channel: r.channel.map(|c| c.0),
            mention_roles: r.mention_roles.clone(),
            priority: r.priority.as_str().into(),
        })
        .collect()
}

/// Autocomplete over every name of one kind of entity: prefix matches first (canonical
/// names before aliases, shorter first), then names containing the text, then close
/// spellings; at most 25, Discord's limit. Built once per catalog.
#[derive(Debug, Default)]
pub struct Completer {
    /// (folded key, shown label, value sent back, is an alias), canonical names first.
    names: Vec<(String, String, String, bool)>,
}

/// One autocomplete choice: the label shown and the value the command receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Choice {
    pub label: String,
    pub value: String,
}

/// Discord's limit on choices, and on a choice's label and value.
pub const MAX_CHOICES: usize = 25;
const CHOICE_LEN: usize = 100;

fn clip(s: &str) -> String {
    s.chars().take(CHOICE_LEN).collect()
}

impl Completer {
    pub fn new(c: &Catalog, kind: LookupKind) -> Completer {
        let mut names = Vec::new();
        let mut push = |name: &str, of: Option<&str>| {
            let label = match of {
                Some(canonical) => format!("{name} ({canonical})"),
                None => name.to_string(),
            };
            names.push((
                catalog::name_key(name),
                clip(&label),
                clip(name),
                of.is_some(),
            ));
        };
        match kind {
            LookupKind::Actor => {
                for a in &c.actors {
                    push(&a.name, None);
                }
                for a in &c.actors {
                    for al in &a.aliases {
                        push(&al.name, Some(&a.name));
                    }
                }
            }
            LookupKind::Sector => {
                for s in &c.sectors {
                    push(&s.name, None);
                }
            }
            LookupKind::Region => {
                for r in &c.regions {
                    push(&r.name, None);
                }
                for k in &c.countries {
                    push(&k.name, None);
                }
            }
        }
        Completer { names }
    }

    pub fn complete(&self, typed: &str) -> Vec<Choice> {
        let key = catalog::name_key(typed);
        let choice = |i: usize| Choice {
            label: self.names[i].1.clone(),
            value: self.names[i].2.clone(),
        };
        if key.is_empty() {
            return (0..self.names.len().min(MAX_CHOICES)).map(choice).collect();
        }
        // (tier, alias?, length or -similarity, position): an exact name first, then
        // prefixes, then substrings, then close spellings; canonical before alias, then
        // shorter, then alphabetical.
        let mut scored: Vec<(u8, bool, f64, usize)> = Vec::new();
        for (i, (k, _, _, alias)) in self.names.iter().enumerate() {
            if *k == key {
                scored.push((0, false, 0.0, i));
            } else if k.starts_with(&key) {
                scored.push((1, *alias, k.len() as f64, i));
            } else if k.contains(&key) {
                scored.push((2, *alias, k.len() as f64, i));
            } else if key.len() >= 3 {
                let s = strsim::jaro_winkler(&key, k);
                if s >= 0.85 {
                    scored.push((3, false, -s, i));
                }
            }
        }
        scored.sort_by(|a, b| {
            (a.0, a.1)
                .cmp(&(b.0, b.1))
                .then(a.2.total_cmp(&b.2))
                .then_with(|| self.names[a.3].0.cmp(&self.names[b.3].0))
                .then(a.3.cmp(&b.3))
        });
        let mut out: Vec<Choice> = Vec::new();
        for (_, _, _, i) in scored {
            // One entry per value: "APT27" the name and "APT 27" the alias fold alike.
            if !out.iter().any(|c| c.value == self.names[i].2) {
                out.push(choice(i));
            }
            if out.len() == MAX_CHOICES {
                break;
            }
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog::builtin()
    }

    #[test]
    fn autocomplete_offers_prefixes_first_then_close_spellings() {
        let c = catalog();
        let actors = Completer::new(&c, LookupKind::Actor);
        let got = actors.complete("emissary");
        assert_eq!(
            got[0],
            Choice {
                label: "Emissary Panda (APT27)".into(),
                value: "Emissary Panda".into()
            }
        );
        // Canonical names before aliases, shorter before longer.
        let apt = actors.complete("apt2");
        let values: Vec<&str> = apt.iter().take(3).map(|c| c.value.as_str()).collect();
        assert_eq!(values, ["APT2", "APT20", "APT21"], "{apt:?}");
        assert!(apt.len() <= MAX_CHOICES);
        // A typo still finds it.
        let typo = actors.complete("emisary panda");
        assert!(typo.iter().any(|c| c.value == "Emissary Panda"), "{typo:?}");
        // Empty input lists the first names, within Discord's limit.
        assert_eq!(actors.complete("").len(), MAX_CHOICES);
        let regions = Completer::new(&c, LookupKind::Region);
        assert_eq!(regions.complete("southeast")[0].value, "Southeast Asia");
        let sectors = Completer::new(&c, LookupKind::Sector);
        assert_eq!(sectors.complete("tele")[0].value, "Telecommunications");
    }
}
