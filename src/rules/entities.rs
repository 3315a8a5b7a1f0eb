//! Entity detection: which actors, sectors, countries and regions an item mentions.
//!
//! One `Matcher` holds every term of the merged catalog. Per item, each field is folded
//! once and searched once; then the catalog's judgement is applied: a *weak* term (an
//! ordinary word such as Gallium, Lazarus, Georgia, carrier) counts only with context
//! (a qualifier like "group" or "ransomware" next to it, the actor's origin right before
//! it, Microsoft-style capitals, or another, strong mention of the same entity in the
//! item); an alias two actors claim is attributed only when another mention settles it,
//! and is otherwise reported as ambiguous. Vendor designations no catalog knows
//! (`catalog::scheme`) fill in where the catalog is silent.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::catalog::{self, ActorId, Catalog};
use crate::model::{Entities, EntityMatch, Field, Item};

use super::context;
use super::fold::fold_term;
use super::matcher::{Matcher, TermFlags};

/// What a term means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    Actor(ActorId),
    Sector(usize),
    Country(usize),
    Region(usize),
    /// A phrase that means none of them but contains a term that would ("New Mexico").
    Blocker,
}

/// Phrases that contain a place or sector term but mean something else.
const BLOCKERS: &[&str] = &[
    "New Mexico",
    "New Mexican",
    "New Jersey",
    "New England",
    "New South Wales",
    "New Caledonian",
    "Gulf of Mexico",
    "Indian Ocean",
    "Native American",
    "Georgia Tech",
    "Jordan Peterson",
    "Michael Jordan",
    "Turkey Point",
    "Chad Smith",
    "Nigerian prince",
    "Russian roulette",
    "Russian doll",
    "Chinese wall",
    "French fries",
    "Dutch auction",
    "Swiss cheese",
    "Swiss army knife",
    "Trojan horse",
    "Spanish flu",
    "German shepherd",
    "Danish pastry",
    "Brazilian wax",
    "Canada goose",
    "Panama hat",
    "Panama Papers",
    "Mexican standoff",
];

/// Where a mention was seen and how it was written.
#[derive(Debug, Clone, Default)]
pub struct Mention {
    /// Distinct surface forms in order of first appearance.
    pub forms: Vec<String>,
    pub fields: BTreeSet<Field>,
    /// (field, byte offset) of the first occurrence, for ordering.
    pub first: (u8, usize),
}

impl Mention {
    fn add(&mut self, form: &str, field: Field, at: usize) {
        if self.forms.is_empty() {
            self.first = (field as u8, at);
        }
        // "Hospital" and "hospital" are one form; the first spelling seen is kept.
        let same = |f: &String| {
            if f.is_ascii() && form.is_ascii() {
                f.eq_ignore_ascii_case(form)
            } else {
                f.to_lowercase() == form.to_lowercase()
            }
        };
        if !self.forms.iter().any(same) {
            self.forms.push(form.to_string());
        }
        self.fields.insert(field);
    }

    pub(crate) fn to_match(&self, name: &str, note: Option<String>) -> EntityMatch {
        EntityMatch {
            name: name.to_string(),
            matched: self.forms.clone(),
            fields: self.fields.iter().copied().collect(),
            note,
        }
    }
}

impl Mention {
    /// The match for an alias several actors claim: shown as written, with the claimants.
    pub(crate) fn ambiguous_match(&self, catalog: &Catalog, ids: &[ActorId]) -> EntityMatch {
        let names: Vec<&str> = ids
            .iter()
            .map(|i| catalog.actors[*i].name.as_str())
            .collect();
        let shown = self.forms.first().cloned().unwrap_or_default();
        let note = format!("ambiguous alias: claimed by {}", names.join(" and "));
        self.to_match(&shown, Some(note))
    }
}

/// Everything found in one item, by entity.
#[derive(Debug, Clone, Default)]
pub struct Found {
    pub actors: BTreeMap<ActorId, Mention>,
    /// Aliases claimed by several actors that nothing in the item settled.
    pub ambiguous: BTreeMap<Vec<ActorId>, Mention>,
    /// Designations no catalog knows: (name, note, nexus) -> mention.
    pub designations: BTreeMap<String, (Mention, String, Option<&'static str>)>,
    pub sectors: BTreeMap<usize, Mention>,
    pub countries: BTreeMap<usize, Mention>,
    pub regions: BTreeMap<usize, Mention>,
}

/// The compiled detector for one catalog.
#[derive(Debug)]
pub struct Detector {
    catalog: Arc<Catalog>,
    matcher: Matcher<Target>,
    /// Per actor: folded names and demonyms of its suspected origin.
    origin_terms: Vec<Vec<String>>,
}

fn flags(weak: bool, exact_case: bool) -> TermFlags {
    TermFlags { weak, exact_case }
}

impl Detector {
    pub fn new(catalog: Arc<Catalog>) -> Detector {
        let mut terms: Vec<(String, TermFlags, Target)> = Vec::new();
        for (id, a) in catalog.actors.iter().enumerate() {
            terms.push((
                a.name.clone(),
                flags(a.name_weak, a.name_exact_case),
                Target::Actor(id),
            ));
            for al in &a.aliases {
                terms.push((
                    al.name.clone(),
                    flags(al.weak, al.exact_case),
                    Target::Actor(id),
                ));
            }
        }
        for (i, s) in catalog.sectors.iter().enumerate() {
            for t in &s.terms {
                terms.push((
                    t.text.clone(),
                    flags(t.weak, t.exact_case),
                    Target::Sector(i),
                ));
            }
        }
        for (i, c) in catalog.countries.iter().enumerate() {
            for t in &c.terms {
                terms.push((
                    t.text.clone(),
                    flags(t.weak, t.exact_case),
                    Target::Country(i),
                ));
            }
        }
        for (i, r) in catalog.regions.iter().enumerate() {
            for t in &r.terms {
                terms.push((
                    t.text.clone(),
                    flags(t.weak, t.exact_case),
                    Target::Region(i),
                ));
            }
        }
        for b in BLOCKERS {
            terms.push((b.to_string(), flags(false, false), Target::Blocker));
        }
        let origin_terms = catalog
            .actors
            .iter()
            .map(|a| {
                a.origin
                    .as_deref()
                    .and_then(|code| catalog.country_by_code(code))
                    .map(|c| c.terms.iter().map(|t| fold_term(&t.text)).collect())
                    .unwrap_or_default()
            })
            .collect();
        Detector {
            matcher: Matcher::new(terms),
            catalog,
            origin_terms,
        }
    }

    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// The folded patterns of every term (for benchmarks).
    pub fn patterns(&self) -> &[String] {
        self.matcher.patterns()
    }

    /// Number of distinct terms compiled.
    pub fn term_count(&self) -> usize {
        self.matcher.len()
    }

    /// Find every entity `item` mentions.
    pub fn detect(&self, item: &Item) -> Found {
        // Per-occurrence records before weak/ambiguity judgement.
        struct Occ<'a> {
            targets: Vec<(Target, TermFlags)>,
            field: Field,
            start: usize,
            form: &'a str,
            /// Context next to the occurrence makes a weak actor alias count.
            actor_context: bool,
            /// A vendor designation no catalog knows (then `targets` is empty).
            designation: Option<catalog::scheme::Designation>,
        }
        let mut occs: Vec<Occ<'_>> = Vec::new();
        let mut covered: Vec<(Field, usize, usize)> = Vec::new();
        for (field, text) in [
            (Field::Title, item.title.as_str()),
            (Field::Summary, item.summary.as_str()),
            (Field::Content, item.content.as_str()),
        ] {
            if text.is_empty() {
                continue;
            }
            let (folded, hits) = self.matcher.find(text);
            let mut i = 0;
            while i < hits.len() {
                // Group hits on the same span: one occurrence, several meanings.
                let (s, e, fs, fe) = (hits[i].start, hits[i].end, hits[i].fstart, hits[i].fend);
                let mut targets = Vec::new();
                while i < hits.len() && hits[i].start == s && hits[i].end == e {
                    let (t, fl) = (*hits[i].payload, hits[i].flags);
                    // Two spellings of one name ("LuckyMouse", "Lucky Mouse") are one meaning.
                    match targets
                        .iter_mut()
                        .find(|(x, _): &&mut (Target, TermFlags)| *x == t)
                    {
                        Some((_, have)) => have.weak &= fl.weak,
                        None => targets.push((t, fl)),
                    }
                    i += 1;
                }
                covered.push((field, s, e));
                if targets.iter().any(|(t, _)| *t == Target::Blocker) {
                    continue;
                }
                let actor_context = targets.iter().any(|(t, fl)| match t {
                    Target::Actor(id) if fl.weak => {
                        context::has_actor_qualifier(&folded.text, fs, fe)
                            || context::has_origin_before(&folded.text, fs, &self.origin_terms[*id])
                            || self.catalog.actors[*id]
                                .names()
                                .any(|n| context::is_designation_caps(text, s, e, n))
                    }
                    _ => false,
                });
                occs.push(Occ {
                    targets,
                    field,
                    start: s,
                    form: &text[s..e],
                    actor_context,
                    designation: None,
                });
            }
            // Designations the catalog does not know, outside catalog hits.
            for d in catalog::scheme::find(text) {
                let inside = covered
                    .iter()
                    .any(|&(f, s, e)| f == field && s < d.end && d.start < e);
                if inside {
                    continue;
                }
                if let Some(id) = self.catalog.actor_id(&d.name) {
                    // Known under a spelling the text split differently ("APT 27").
                    occs.push(Occ {
                        targets: vec![(Target::Actor(id), TermFlags::default())],
                        field,
                        start: d.start,
                        form: &text[d.start..d.end],
                        actor_context: false,
                        designation: None,
                    });
                    continue;
                }
                occs.push(Occ {
                    targets: Vec::new(),
                    field,
                    start: d.start,
                    form: &text[d.start..d.end],
                    actor_context: false,
                    designation: Some(d),
                });
            }
        }
        occs.sort_by_key(|o| (o.field, o.start));

        // Strong mentions first: what counts without context.
        let mut found = Found::default();
        let mut strong_actor: BTreeSet<ActorId> = BTreeSet::new();
        let mut strong_other: BTreeSet<Target> = BTreeSet::new();
        for o in &occs {
            let actors: Vec<ActorId> = o
                .targets
                .iter()
                .filter_map(|(t, _)| match t {
                    Target::Actor(id) => Some(*id),
                    _ => None,
                })
                .collect();
            for (t, fl) in &o.targets {
                match t {
                    Target::Actor(id) if actors.len() == 1 && (!fl.weak || o.actor_context) => {
                        strong_actor.insert(*id);
                    }
                    Target::Actor(_) | Target::Blocker => {}
                    other if !fl.weak => {
                        strong_other.insert(*other);
                    }
                    _ => {}
                }
            }
        }
        // Two different weak names of one actor vouch for each other: an article about
        // the metal does not also say "Soft Cell", one about the band not "Gallium".
        let mut weak_names: BTreeMap<ActorId, BTreeSet<String>> = BTreeMap::new();
        for o in &occs {
            if let [(Target::Actor(id), fl)] = o.targets.as_slice() {
                if fl.weak {
                    weak_names
                        .entry(*id)
                        .or_default()
                        .insert(catalog::name_key(o.form));
                }
            }
        }
        strong_actor.extend(
            weak_names
                .into_iter()
                .filter(|(_, names)| names.len() >= 2)
                .map(|(id, _)| id),
        );
        for o in &occs {
            if let Some(d) = &o.designation {
                let e = found
                    .designations
                    .entry(d.name.clone())
                    .or_insert_with(|| (Mention::default(), d.note(), d.nexus));
                e.0.add(o.form, o.field, o.start);
                continue;
            }
            let actors: Vec<(ActorId, TermFlags)> = o
                .targets
                .iter()
                .filter_map(|(t, fl)| match t {
                    Target::Actor(id) => Some((*id, *fl)),
                    _ => None,
                })
                .collect();
            let mut actor_taken = false;
            if actors.len() == 1 {
                let (id, fl) = actors[0];
                if !fl.weak || o.actor_context || strong_actor.contains(&id) {
                    found
                        .actors
                        .entry(id)
                        .or_default()
                        .add(o.form, o.field, o.start);
                    actor_taken = !fl.weak || o.actor_context;
                }
            } else if actors.len() > 1 {
                // Claimed by several: settled only by another mention of one claimant.
                let settled: Vec<ActorId> = actors
                    .iter()
                    .map(|(id, _)| *id)
                    .filter(|id| strong_actor.contains(id))
                    .collect();
                if settled.len() == 1 {
                    found
                        .actors
                        .entry(settled[0])
                        .or_default()
                        .add(o.form, o.field, o.start);
                    actor_taken = true;
                } else if actors.iter().any(|(_, fl)| !fl.weak) || o.actor_context {
                    let ids: Vec<ActorId> = actors.iter().map(|(id, _)| *id).collect();
                    found
                        .ambiguous
                        .entry(ids)
                        .or_default()
                        .add(o.form, o.field, o.start);
                    actor_taken = true;
                }
            }
            if actor_taken && actors.iter().any(|(_, fl)| fl.weak) {
                // "Cuba ransomware" is the gang, not the country.
                continue;
            }
            for (t, fl) in &o.targets {
                let counts = !fl.weak || strong_other.contains(t);
                if !counts {
                    continue;
                }
                let map = match t {
                    Target::Sector(i) => found.sectors.entry(*i),
                    Target::Country(i) => found.countries.entry(*i),
                    Target::Region(i) => found.regions.entry(*i),
                    _ => continue,
                };
                map.or_default().add(o.form, o.field, o.start);
            }
        }
        found
    }

    /// The public face of `Found`: canonical names, forms, fields, notes.
    pub fn entities(&self, found: &Found) -> Entities {
        let c = &self.catalog;
        let mut actors: Vec<(&Mention, EntityMatch)> = found
            .actors
            .iter()
            .map(|(id, m)| (m, m.to_match(&c.actors[*id].name, None)))
            .collect();
        for (ids, m) in &found.ambiguous {
            actors.push((m, m.ambiguous_match(c, ids)));
        }
        for (name, (m, note, _)) in &found.designations {
            actors.push((m, m.to_match(name, Some(note.clone()))));
        }
        actors.sort_by_key(|(m, _)| m.first);
        let mut sectors: Vec<(&Mention, EntityMatch)> = found
            .sectors
            .iter()
            .map(|(i, m)| (m, m.to_match(&c.sectors[*i].name, None)))
            .collect();
        sectors.sort_by_key(|(m, _)| m.first);
        let mut regions: Vec<(&Mention, EntityMatch)> = found
            .regions
            .iter()
            .map(|(i, m)| (m, m.to_match(&c.regions[*i].name, None)))
            .chain(
                found
                    .countries
                    .iter()
                    .map(|(i, m)| (m, m.to_match(&c.countries[*i].name, None))),
            )
            .collect();
        regions.sort_by_key(|(m, _)| m.first);
        Entities {
            actors: actors.into_iter().map(|(_, e)| e).collect(),
            sectors: sectors.into_iter().map(|(_, e)| e).collect(),
            regions: regions.into_iter().map(|(_, e)| e).collect(),
        }
    }
}
