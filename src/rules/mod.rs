//! Matching: what an item mentions, and which rules fire for it.
//!
//! Pure and synchronous. `Engine::new` compiles the config's catalog and rules once per
//! config load (the automaton build is the only costly step); `Engine::evaluate` cannot
//! fail. Names were validated by `config`, so a name that does not resolve here is a
//! programming error and is skipped, never a run-time failure.
//!
//! Inside: `fold` (the normal form text is matched in) -> `matcher` (one Aho-Corasick
//! automaton, boundaries) -> `entities` (catalog judgement: weak terms, ambiguity,
//! designations) -> rule evaluation here.

mod context;
pub mod entities;
pub mod fold;
pub mod matcher;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use crate::catalog::{ActorId, ActorLookup, Catalog, Place};
use crate::config::{Config, FeedConfig, Require, RuleConfig, When};
use crate::model::{Category, ChannelId, Entities, EntityMatch, Item, Priority};

pub use entities::{Detector, Found};
use matcher::{Matcher, TermFlags};

/// A rule, compiled: names resolved to catalog ids.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub actors: BTreeSet<ActorId>,
    /// ISO codes from `nexus:<country>` entries: any actor of that suspected origin.
    pub nexus: BTreeSet<String>,
    /// Vendor designations no catalog knows yet, by `name_key`.
    pub designations: BTreeSet<String>,
    pub sectors: BTreeSet<usize>,
    pub places: Vec<(Place, BTreeSet<String>)>,
    pub require: Require,
    pub when: Option<When>,
    pub feeds: Vec<String>,
    pub channel: Option<ChannelId>,
    pub mention_roles: Vec<u64>,
    pub priority: Priority,
    has_exclude: bool,
}

/// One rule that fired, with what it watches that the item mentions.
#[derive(Debug, Clone, PartialEq)]
pub struct Fired {
    pub rule: usize,
    pub entities: Entities,
}

/// The result of evaluating one item.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// Every entity the item mentions, watched or not.
    pub entities: Entities,
    pub fired: Vec<Fired>,
}

/// The compiled matcher and rules for one config.
#[derive(Debug)]
pub struct Engine {
    detector: Detector,
    rules: Vec<Rule>,
    excludes: Matcher<usize>,
    feed_tags: HashMap<String, Vec<String>>,
}

fn compile_rule(catalog: &Catalog, r: &RuleConfig) -> Rule {
    let mut actors = BTreeSet::new();
    let mut nexus = BTreeSet::new();
    let mut designations = BTreeSet::new();
    for n in &r.actors {
        if let Some(country) = crate::catalog::nexus_spec(n) {
            if let Some(Place::Country(i)) = catalog.find_place(country) {
                nexus.insert(catalog.countries[i].code.clone());
            }
            continue;
        }
        match catalog.find_actor(n) {
            ActorLookup::Found(id) => {
                actors.insert(id);
            }
            ActorLookup::Ambiguous(ids) => actors.extend(ids),
            ActorLookup::Unknown(_) => {
                designations.insert(crate::catalog::name_key(n));
            }
        }
    }
    let sectors = r
        .sectors
        .iter()
        .filter_map(|n| catalog.find_sector(n))
        .collect();
    let places = r
        .regions
        .iter()
        .filter_map(|n| catalog.find_place(n))
        .map(|p| (p, catalog.place_countries(p)))
        .collect();
    Rule {
        name: r.name.clone(),
        actors,
        nexus,
        designations,
        sectors,
        places,
        require: r.require,
        when: r.when.clone(),
        feeds: r.feeds.clone(),
        channel: r.channel,
        mention_roles: r.mention_roles.clone(),
        priority: r.priority,
        has_exclude: !r.exclude.is_empty(),
    }
}

impl Engine {
    pub fn new(config: &Config) -> Engine {
        Engine::from_parts(config.catalog_data.clone(), &config.rules, &config.feeds)
    }

    /// An engine for `rules` over `catalog`; `feeds` give the tags rules may filter on.
    pub fn from_parts(catalog: Arc<Catalog>, rules: &[RuleConfig], feeds: &[FeedConfig]) -> Engine {
        let excludes = Matcher::new(rules.iter().enumerate().flat_map(|(i, r)| {
            r.exclude
                .iter()
                .map(move |t| (t.clone(), TermFlags::default(), i))
        }));
        let rules = rules.iter().map(|r| compile_rule(&catalog, r)).collect();
        let feed_tags = feeds
            .iter()
            .map(|f| (f.name.clone(), f.tags.clone()))
            .collect();
        Engine {
            detector: Detector::new(catalog),
            rules,
            excludes,
            feed_tags,
        }
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn catalog(&self) -> &Arc<Catalog> {
        self.detector.catalog()
    }

    pub fn detector(&self) -> &Detector {
        &self.detector
    }

    /// Every entity in `item`, and the rules that fire.
    pub fn evaluate(&self, item: &Item) -> Evaluation {
        let found = self.detector.detect(item);
        let entities = self.detector.entities(&found);
        let excluded = self.excluded(item);
        let tags = self.feed_tags.get(&item.feed);
        let mut fired = Vec::new();
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.has_exclude && excluded.contains(&i) {
                continue;
            }
            if !rule.feeds.is_empty()
                && !rule
                    .feeds
                    .iter()
                    .any(|f| *f == item.feed || tags.is_some_and(|t| t.contains(f)))
            {
                continue;
            }
            let watched = self.watched(rule, &found);
            let has = |c: Category| match c {
                Category::Actors => !watched.actors.is_empty(),
                Category::Sectors => !watched.sectors.is_empty(),
                Category::Regions => !watched.regions.is_empty(),
            };
            let listed = [
                (
                    Category::Actors,
                    !rule.actors.is_empty()
                        || !rule.nexus.is_empty()
                        || !rule.designations.is_empty(),
                ),
                (Category::Sectors, !rule.sectors.is_empty()),
                (Category::Regions, !rule.places.is_empty()),
            ];
            let fires = match (&rule.when, rule.require) {
                (Some(w), _) => eval_when(w, &has),
                (None, Require::Any) => listed.iter().any(|(c, l)| *l && has(*c)),
                (None, Require::All) => {
                    listed.iter().any(|(_, l)| *l) && listed.iter().all(|(c, l)| !*l || has(*c))
                }
            };
            if fires {
                fired.push(Fired {
                    rule: i,
                    entities: watched,
                });
            }
        }
        Evaluation { entities, fired }
    }

    fn excluded(&self, item: &Item) -> BTreeSet<usize> {
        if self.excludes.is_empty() {
            return BTreeSet::new();
        }
        [&item.title, &item.summary, &item.content]
            .into_iter()
            .flat_map(|t| {
                let (_, hits) = self.excludes.find(t);
                hits.into_iter().map(|h| *h.payload).collect::<Vec<_>>()
            })
            .collect()
    }

    /// The part of `found` that `rule` watches, explained, in order of first mention.
    fn watched(&self, rule: &Rule, found: &Found) -> Entities {
        let c = self.detector.catalog();
        let mut actors: Vec<((u8, usize), EntityMatch)> = Vec::new();
        for (id, m) in &found.actors {
            let a = &c.actors[*id];
            if rule.actors.contains(id) {
                actors.push((m.first, m.to_match(&a.name, None)));
            } else if let Some(o) = a.origin.as_ref().filter(|o| rule.nexus.contains(*o)) {
                let origin = c.country_by_code(o).map_or(o.as_str(), |x| x.name.as_str());
                let note = format!("suspected origin {origin}");
                actors.push((m.first, m.to_match(&a.name, Some(note))));
            }
        }
        for (name, (m, note, nexus)) in &found.designations {
            if nexus.is_some_and(|n| rule.nexus.contains(n))
                || rule.designations.contains(&crate::catalog::name_key(name))
            {
                actors.push((m.first, m.to_match(name, Some(note.clone()))));
            }
        }
        for (ids, m) in &found.ambiguous {
            if ids.iter().any(|id| rule.actors.contains(id)) {
                actors.push((m.first, m.ambiguous_match(c, ids)));
            }
        }
        let sectors: Vec<((u8, usize), EntityMatch)> = found
            .sectors
            .iter()
            .filter(|(i, _)| rule.sectors.contains(i))
            .map(|(i, m)| (m.first, m.to_match(&c.sectors[*i].name, None)))
            .collect();
        let mut regions: Vec<((u8, usize), EntityMatch)> = Vec::new();
        for (place, codes) in &rule.places {
            let mut merged: Option<entities::Mention> = None;
            let mut add = |m: &entities::Mention| {
                let e = merged.get_or_insert_with(|| entities::Mention {
                    first: m.first,
                    ..Default::default()
                });
                e.first = e.first.min(m.first);
                for f in &m.forms {
                    if !e.forms.contains(f) {
                        e.forms.push(f.clone());
                    }
                }
                e.fields.extend(m.fields.iter().copied());
            };
            for (ci, m) in &found.countries {
                if codes.contains(&c.countries[*ci].code) {
                    add(m);
                }
            }
            for (ri, m) in &found.regions {
                let r = &c.regions[*ri];
                let inside = *place == Place::Region(*ri)
                    || (!r.countries.is_empty() && r.countries.is_subset(codes));
                if inside {
                    add(m);
                }
            }
            if let Some(m) = merged {
                regions.push((m.first, m.to_match(c.place_name(*place), None)));
            }
        }
        let ordered = |mut v: Vec<((u8, usize), EntityMatch)>| {
            v.sort_by_key(|(first, _)| *first);
            v.into_iter().map(|(_, e)| e).collect()
        };
        Entities {
            actors: ordered(actors),
            sectors: ordered(sectors),
            regions: ordered(regions),
        }
    }
}

fn eval_when(w: &When, has: &dyn Fn(Category) -> bool) -> bool {
    match w {
        When::Category(c) => has(*c),
        When::Not(a) => !eval_when(a, has),
        When::And(a, b) => eval_when(a, has) && eval_when(b, has),
        When::Or(a, b) => eval_when(a, has) || eval_when(b, has),
    }
}

/// Group the rules that fired by destination: one alert per (item, channel).
pub fn by_channel(engine: &Engine, fired: &[Fired]) -> BTreeMap<Option<ChannelId>, Vec<usize>> {
    let mut out: BTreeMap<Option<ChannelId>, Vec<usize>> = BTreeMap::new();
    for (i, f) in fired.iter().enumerate() {
        out.entry(engine.rules[f.rule].channel).or_default().push(i);
    }
    out
}
#[cfg(test)]
mod tests;
