//! What threatwatch knows: threat actors with their aliases, sectors, countries and regions.
//!
//! The built-in data (`data/*.toml`, compiled in) is merged with catalogs the user names
//! (MISP galaxy clusters, MITRE ATT&CK STIX bundles, `[[actors]]` in the config). Records
//! merge on canonical names and external ids only; an alias claimed by two distinct actors
//! stays attached to both and is reported as ambiguous, never silently given to one.
//! This module resolves names and answers "did you mean"; it does no matching in article
//! text (that is `rules/`) and no network I/O (URL catalogs arrive as bytes).

mod builtin;
pub mod import;
pub mod scheme;

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;
use unicode_normalization::UnicodeNormalization;

/// Index of an actor in `Catalog::actors`.
pub type ActorId = usize;

/// One name an actor is known by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alias {
    pub name: String,
    /// Naming scheme it comes from ("microsoft", "crowdstrike", ...), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    /// An ordinary word or name too (Gallium, Lazarus): counts only with context.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub weak: bool,
    /// Counts only when written with this exact letter case.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub exact_case: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Actor {
    pub name: String,
    /// Every other name, canonical name excluded.
    pub aliases: Vec<Alias>,
    /// Whether the canonical name itself needs context (e.g. "GALLIUM").
    pub name_weak: bool,
    /// Whether the canonical name counts only in its exact letter case ("Warlock").
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub name_exact_case: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mitre: Option<String>,
    /// Suspected origin, ISO 3166-1 alpha-2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Targeted sector ids.
    pub sectors: Vec<String>,
    /// Targeted countries, ISO alpha-2.
    pub countries: Vec<String>,
    pub refs: Vec<String>,
    /// Where the record came from: "built-in", "misp:<file>", "attack:<file>", "config".
    pub sources: Vec<String>,
}

impl Actor {
    /// Every name of this actor, canonical first.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.name.as_str()).chain(self.aliases.iter().map(|a| a.name.as_str()))
    }
}

/// A word or phrase that means an entity, with how strictly it must be matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Term {
    pub text: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub weak: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub exact_case: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Sector {
    pub id: String,
    pub name: String,
    pub terms: Vec<Term>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Country {
    pub code: String,
    pub name: String,
    /// Names and demonyms, canonical name included.
    pub terms: Vec<Term>,
    pub subregion: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Region {
    pub name: String,
    pub kind: String,
    /// Names and adjectives, canonical name included.
    pub terms: Vec<Term>,
    /// ISO codes of every country in it, nested regions expanded.
    pub countries: BTreeSet<String>,
}

/// A place a rule can watch: one country or a region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Place {
    Country(usize),
    Region(usize),
}

/// The answer to "which actor is NAME?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActorLookup {
    Found(ActorId),
    /// The name is an alias two or more distinct actors claim.
    Ambiguous(Vec<ActorId>),
    /// Nobody is called that; the closest known names.
    Unknown(Vec<String>),
}

/// The merged catalog. Cheap to share behind an `Arc`; immutable once built.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub actors: Vec<Actor>,
    pub sectors: Vec<Sector>,
    pub countries: Vec<Country>,
    pub regions: Vec<Region>,
    /// Catalog problems worth telling the user (ambiguous aliases, skipped records).
    pub notes: Vec<String>,
    actor_index: HashMap<String, Vec<ActorId>>,
    sector_index: HashMap<String, usize>,
    place_index: HashMap<String, Place>,
}

/// The country part of a rule's `nexus:<country>` actor entry, if `s` is one.
pub fn nexus_spec(s: &str) -> Option<&str> {
    let rest = s.trim().strip_prefix("nexus:")?;
    Some(rest.trim())
}

/// The key names are compared on: NFKC, lower case, letters and digits only, so
/// "TG-3390" = "TG 3390" = "tg3390" and "Lucky Mouse" = "LuckyMouse".
pub fn name_key(s: &str) -> String {
    s.nfkc()
        .flat_map(char::to_lowercase)
        .filter(|c| c.is_alphanumeric())
        .collect()
}

/// Fold `rec` into `a`: new names become aliases, lists are unioned, known fields kept.
fn absorb(a: &mut Actor, rec: Actor) {
    let mut known: BTreeSet<String> = a.names().map(alias_key).collect();
    let incoming = std::iter::once(Alias {
        name: rec.name.clone(),
        scheme: None,
        weak: rec.name_weak,
        exact_case: rec.name_exact_case,
    })
    .chain(rec.aliases);
    for al in incoming {
        if known.insert(alias_key(&al.name)) {
            a.aliases.push(al);
        }
    }
    a.mitre = a.mitre.take().or(rec.mitre);
    a.origin = a.origin.take().or(rec.origin);
    a.kind = a.kind.take().or(rec.kind);
    for (mine, theirs) in [
        (&mut a.sectors, rec.sectors),
        (&mut a.countries, rec.countries),
        (&mut a.refs, rec.refs),
        (&mut a.sources, rec.sources),
    ] {
        for x in theirs {
            if !mine.contains(&x) {
                mine.push(x);
            }
        }
    }
}

/// The key aliases are deduplicated on: case and separators do not make a new alias, but
/// spacing does ("LuckyMouse" and "Lucky Mouse" are both kept, since articles write both
/// and the matcher cannot guess where a one-word name splits).
pub fn alias_key(s: &str) -> String {
    s.nfkc()
        .flat_map(char::to_lowercase)
        .map(|c| if c == '-' || c == '_' { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

impl Catalog {
    /// The catalog compiled into the binary.
    pub fn builtin() -> Catalog {
        let mut c = builtin::load();
        c.reindex();
        c
    }

    /// Rebuild the lookup indexes; call after changing `actors`, `sectors`, ...
    pub fn reindex(&mut self) {
        self.actor_index.clear();
        for (id, actor) in self.actors.iter().enumerate() {
            for n in actor.names() {
                let ids = self.actor_index.entry(name_key(n)).or_default();
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            if let Some(m) = &actor.mitre {
                let ids = self.actor_index.entry(name_key(m)).or_default();
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        self.sector_index.clear();
        for (i, s) in self.sectors.iter().enumerate() {
            self.sector_index.insert(name_key(&s.id), i);
            self.sector_index.insert(name_key(&s.name), i);
            for t in &s.terms {
                self.sector_index.entry(name_key(&t.text)).or_insert(i);
            }
        }
        self.place_index.clear();
        // Regions first so a region and a country sharing a name resolve to the region.
        for (i, r) in self.regions.iter().enumerate() {
            self.place_index.insert(name_key(&r.name), Place::Region(i));
            for t in &r.terms {
                self.place_index
                    .entry(name_key(&t.text))
                    .or_insert(Place::Region(i));
            }
        }
        for (i, c) in self.countries.iter().enumerate() {
            self.place_index
                .entry(name_key(&c.name))
                .or_insert(Place::Country(i));
            self.place_index
                .entry(name_key(&c.code))
                .or_insert(Place::Country(i));
            for t in &c.terms {
                self.place_index
                    .entry(name_key(&t.text))
                    .or_insert(Place::Country(i));
            }
        }
    }

    pub fn find_actor(&self, name: &str) -> ActorLookup {
        match self.actor_index.get(&name_key(name)) {
            Some(ids) if ids.len() == 1 => ActorLookup::Found(ids[0]),
            Some(ids) if !ids.is_empty() => ActorLookup::Ambiguous(ids.clone()),
            _ => ActorLookup::Unknown(suggest(name, self.actors.iter().flat_map(|a| a.names()))),
        }
    }

    /// The actor a name or alias means, when exactly one does (no suggestions computed).
    pub fn actor_id(&self, name: &str) -> Option<ActorId> {
        match self.actor_index.get(&name_key(name)) {
            Some(ids) if ids.len() == 1 => Some(ids[0]),
            _ => None,
        }
    }

    pub fn find_sector(&self, name: &str) -> Option<usize> {
        self.sector_index.get(&name_key(name)).copied()
    }

    pub fn suggest_sectors(&self, name: &str) -> Vec<String> {
        suggest(
            name,
            self.sectors.iter().flat_map(|s| {
                std::iter::once(s.name.as_str()).chain(s.terms.iter().map(|t| t.text.as_str()))
            }),
        )
    }

    pub fn find_place(&self, name: &str) -> Option<Place> {
        self.place_index.get(&name_key(name)).copied()
    }

    pub fn suggest_places(&self, name: &str) -> Vec<String> {
        suggest(
            name,
            self.regions
                .iter()
                .map(|r| r.name.as_str())
                .chain(self.countries.iter().map(|c| c.name.as_str())),
        )
    }

    /// Display name of a place.
    pub fn place_name(&self, p: Place) -> &str {
        match p {
            Place::Country(i) => &self.countries[i].name,
            Place::Region(i) => &self.regions[i].name,
        }
    }

    /// ISO codes a place covers: itself for a country, every member for a region.
    pub fn place_countries(&self, p: Place) -> BTreeSet<String> {
        match p {
            Place::Country(i) => std::iter::once(self.countries[i].code.clone()).collect(),
            Place::Region(i) => self.regions[i].countries.clone(),
        }
    }

    pub fn country_by_code(&self, code: &str) -> Option<&Country> {
        self.countries
            .iter()
            .find(|c| c.code.eq_ignore_ascii_case(code))
    }

    /// Add an actor record, merging it into an existing one when its canonical name or
    /// external id is the same, or its canonical name is an alias exactly one known
    /// actor has. Aliases are only ever added, never moved; records are never chained
    /// through shared aliases. Keeps the indexes current.
    pub fn merge_actor(&mut self, rec: Actor) {
        self.merge_actors(std::iter::once(rec));
    }

    /// `merge_actor` for many records; country and sector names in imported records are
    /// resolved to ISO codes and sector ids (unknown ones are dropped).
    pub fn merge_actors(&mut self, recs: impl IntoIterator<Item = Actor>) {
        let mut by_mitre: HashMap<String, ActorId> = self
            .actors
            .iter()
            .enumerate()
            .filter_map(|(i, a)| a.mitre.clone().map(|m| (m, i)))
            .collect();
        for mut rec in recs {
            rec.countries = rec
                .countries
                .iter()
                .filter_map(|c| self.resolve_country(c))
                .collect();
            rec.sectors = rec
                .sectors
                .iter()
                .filter_map(|s| {
                    self.find_sector(s)
                        .map(|i| self.sectors[i].id.clone())
                        .or_else(|| self.sectors.is_empty().then(|| s.clone()))
                })
                .collect();
            let key = name_key(&rec.name);
            let existing = rec
                .mitre
                .as_ref()
                .and_then(|m| by_mitre.get(m).copied())
                .or_else(|| {
                    let ids = self.actor_index.get(&key)?;
                    // Same canonical name, or an alias only one actor has.
                    ids.iter()
                        .copied()
                        .find(|&i| name_key(&self.actors[i].name) == key)
                        .or_else(|| (ids.len() == 1).then(|| ids[0]))
                });
            let id = match existing {
                None => {
                    self.actors.push(rec);
                    self.actors.len() - 1
                }
                Some(i) => {
                    absorb(&mut self.actors[i], rec);
                    i
                }
            };
            if let Some(m) = &self.actors[id].mitre {
                by_mitre.entry(m.clone()).or_insert(id);
            }
            let keys: Vec<String> = self.actors[id]
                .names()
                .map(name_key)
                .chain(self.actors[id].mitre.iter().map(|m| name_key(m)))
                .collect();
            for k in keys {
                let ids = self.actor_index.entry(k).or_default();
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
    }

    /// ISO code for a country written as a code or a name.
    fn resolve_country(&self, s: &str) -> Option<String> {
        if s.len() == 2 && s.chars().all(|c| c.is_ascii_alphabetic()) {
            return Some(s.to_ascii_uppercase());
        }
        match self.find_place(s)? {
            Place::Country(i) => Some(self.countries[i].code.clone()),
            Place::Region(_) => None,
        }
    }

    /// Aliases claimed by more than one actor, with the claimants' canonical names.
    pub fn ambiguous_aliases(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = self
            .actor_index
            .iter()
            .filter(|(_, ids)| ids.len() > 1)
            .map(|(k, ids)| {
                let shown = self.actors[ids[0]]
                    .names()
                    .find(|n| name_key(n) == *k)
                    .unwrap_or(k)
                    .to_string();
                (
                    shown,
                    ids.iter().map(|&i| self.actors[i].name.clone()).collect(),
                )
            })
            .collect();
        out.sort();
        out
    }
}

/// The closest known names to `name` (at most 5), best first.
pub fn suggest<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> Vec<String> {
    let key = name_key(name);
    let mut scored: Vec<(f64, &str)> = known
        .map(|k| {
            let kk = name_key(k);
            let mut score = strsim::jaro_winkler(&key, &kk);
            if !key.is_empty() && (kk.starts_with(&key) || key.starts_with(&kk)) {
                score += 0.1;
            }
            (score, k)
        })
        .filter(|(s, _)| *s >= 0.8)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    let mut out: Vec<String> = Vec::new();
    for (_, k) in scored {
        if !out.iter().any(|o| name_key(o) == name_key(k)) {
            out.push(k.to_string());
        }
        if out.len() == 5 {
            break;
        }
    }
    out
}
