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
use super::fold::{self, fold_term, Folded};
use super::matcher::{Matcher, Scratch, TermFlags};

/// Buffers `detect` reuses from one field and item to the next.
#[derive(Debug, Default)]
struct Buffers {
    folded: Folded,
    scratch: Scratch,
    /// The meanings of every occurrence, each a range of them.
    targets: Vec<(Target, TermFlags)>,
    occs: Vec<Occ>,
    /// (start, end) of every catalog hit in the field being read, blockers included.
    covered: Vec<(usize, usize)>,
    /// `reach[k]`: the furthest end among `covered[..=k]`.
    reach: Vec<usize>,
    strong_actor: Vec<ActorId>,
    strong_other: Vec<Target>,
}

/// One occurrence before weak/ambiguity judgement.
#[derive(Debug)]
struct Occ {
    /// Its place in the order occurrences were found in.
    seq: usize,
    /// Range of its meanings in `Buffers::targets`.
    targets: std::ops::Range<usize>,
    field: Field,
    /// Byte range in the field, as written.
    start: usize,
    end: usize,
    /// Context next to the occurrence makes a weak actor alias count.
    actor_context: bool,
    /// A vendor designation no catalog knows (then it has no targets).
    designation: Option<catalog::scheme::Designation>,
}

impl Buffers {
    /// Let go of buffers a very long text grew, so a thread does not keep them, and of
    /// the last item's designations.
    fn trim(&mut self) {
        const KEEP: usize = 1 << 20;
        self.occs.clear();
        if self.folded.capacity() > KEEP || self.scratch.capacity() > KEEP {
            *self = Buffers::default();
        }
    }
}

/// Whether `start..end` overlaps one of `spans` (sorted by start), given `reach[k]`, the
/// furthest end among `spans[..=k]`: the spans starting before `end` are a prefix.
fn overlaps_sorted(spans: &[(usize, usize)], reach: &[usize], start: usize, end: usize) -> bool {
    let k = spans.partition_point(|&(s, _)| s < end);
    k > 0 && reach[k - 1] > start
}

thread_local! {
    static BUFFERS: std::cell::RefCell<Buffers> = std::cell::RefCell::new(Buffers::default());
}

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
    #[cfg(test)]
    pub(crate) fn matcher(&self) -> &Matcher<Target> {
        &self.matcher
    }

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
        // Each thread reuses one set of buffers, so a field costs no allocation of its
        // size; a fresh set stands in should they ever be in use already.
        BUFFERS
            .try_with(|cell| match cell.try_borrow_mut() {
                Ok(mut b) => {
                    let found = self.detect_with(item, &mut b);
                    b.trim();
                    found
                }
                Err(_) => self.detect_with(item, &mut Buffers::default()),
            })
            .unwrap_or_else(|_| self.detect_with(item, &mut Buffers::default()))
    }

    fn detect_with(&self, item: &Item, buffers: &mut Buffers) -> Found {
        let Buffers {
            folded,
            scratch,
            targets,
            occs,
            covered,
            reach,
            strong_actor,
            strong_other,
        } = buffers;
        targets.clear();
        occs.clear();
        strong_actor.clear();
        strong_other.clear();
        let text_of = |field: Field| match field {
            Field::Title => item.title.as_str(),
            Field::Summary => item.summary.as_str(),
            Field::Content => item.content.as_str(),
        };
        let mut hits = Vec::new();
        for (field, text) in [
            (Field::Title, item.title.as_str()),
            (Field::Summary, item.summary.as_str()),
            (Field::Content, item.content.as_str()),
        ] {
            if text.is_empty() {
                continue;
            }
            fold::fold_into(text, folded);
            hits.clear();
            covered.clear();
            self.matcher
                .find_folded_into(text, folded, scratch, &mut hits);
            let mut i = 0;
            while i < hits.len() {
                // Group hits on the same span: one occurrence, several meanings.
                let (s, e, fs, fe) = (hits[i].start, hits[i].end, hits[i].fstart, hits[i].fend);
                let t0 = targets.len();
                while i < hits.len() && hits[i].start == s && hits[i].end == e {
                    let (t, fl) = (*hits[i].payload, hits[i].flags);
                    // Two spellings of one name ("LuckyMouse", "Lucky Mouse") are one meaning.
                    match targets[t0..].iter_mut().find(|(x, _)| *x == t) {
                        Some((_, have)) => have.weak &= fl.weak,
                        None => targets.push((t, fl)),
                    }
                    i += 1;
                }
                covered.push((s, e));
                let these = &targets[t0..];
                if these.iter().any(|(t, _)| *t == Target::Blocker) {
                    targets.truncate(t0);
                    continue;
                }
                let actor_context = these.iter().any(|(t, fl)| match t {
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
                    seq: occs.len(),
                    targets: t0..targets.len(),
                    field,
                    start: s,
                    end: e,
                    actor_context,
                    designation: None,
                });
            }
            // Designations the catalog does not know, outside catalog hits. Hits come
            // in order of start, so the ones starting before a range end are a prefix.
            reach.clear();
            reach.extend(covered.iter().scan(0, |m, &(_, e)| {
                *m = e.max(*m);
                Some(*m)
            }));
            let in_order = covered.is_sorted_by_key(|&(s, _)| s);
            let inside = |start: usize, end: usize| {
                if in_order {
                    overlaps_sorted(covered, reach, start, end)
                } else {
                    covered.iter().any(|&(s, e)| s < end && start < e)
                }
            };
            for d in catalog::scheme::find_except(text, inside) {
                if let Some(id) = self.catalog.actor_id(&d.name) {
                    // Known under a spelling the text split differently ("APT 27").
                    let t0 = targets.len();
                    targets.push((Target::Actor(id), TermFlags::default()));
                    occs.push(Occ {
                        seq: occs.len(),
                        targets: t0..targets.len(),
                        field,
                        start: d.start,
                        end: d.end,
                        actor_context: false,
                        designation: None,
                    });
                    continue;
                }
                occs.push(Occ {
                    seq: occs.len(),
                    targets: 0..0,
                    field,
                    start: d.start,
                    end: d.end,
                    actor_context: false,
                    designation: Some(d),
                });
            }
        }
        // Occurrences at one place keep the order they were found in (as a stable sort
        // would; mostly they are found in order already).
        if !occs.is_sorted_by_key(|o| (o.field, o.start)) {
            occs.sort_unstable_by_key(|o| (o.field, o.start, o.seq));
        }
        let actor_of = |(t, fl): &(Target, TermFlags)| match t {
            Target::Actor(id) => Some((*id, *fl)),
            _ => None,
        };

        // Strong mentions first: what counts without context.
        let mut found = Found::default();
        for o in occs.iter() {
            let these = &targets[o.targets.clone()];
            let one_actor = these.iter().filter_map(actor_of).count() == 1;
            for (t, fl) in these {
                match t {
                    Target::Actor(id) if one_actor && (!fl.weak || o.actor_context) => {
                        strong_actor.push(*id);
                    }
                    Target::Actor(_) | Target::Blocker => {}
                    other if !fl.weak => {
                        strong_other.push(*other);
                    }
                    _ => {}
                }
            }
        }
        // Two different weak names of one actor vouch for each other: an article about
        // the metal does not also say "Soft Cell", one about the band not "Gallium".
        let mut weak_names: BTreeMap<ActorId, BTreeSet<String>> = BTreeMap::new();
        for o in occs.iter() {
            if let [(Target::Actor(id), fl)] = &targets[o.targets.clone()] {
                if fl.weak {
                    weak_names
                        .entry(*id)
                        .or_default()
                        .insert(catalog::name_key(&text_of(o.field)[o.start..o.end]));
                }
            }
        }
        strong_actor.extend(
            weak_names
                .into_iter()
                .filter(|(_, names)| names.len() >= 2)
                .map(|(id, _)| id),
        );
        strong_actor.sort_unstable();
        strong_actor.dedup();
        strong_other.sort_unstable();
        strong_other.dedup();
        let is_strong_actor = |id: &ActorId| strong_actor.binary_search(id).is_ok();
        for o in occs.iter() {
            let form = &text_of(o.field)[o.start..o.end];
            if let Some(d) = &o.designation {
                let e = found
                    .designations
                    .entry(d.name.clone())
                    .or_insert_with(|| (Mention::default(), d.note(), d.nexus));
                e.0.add(form, o.field, o.start);
                continue;
            }
            let these = &targets[o.targets.clone()];
            let mut actors = these.iter().filter_map(actor_of);
            let (first_actor, more) = (actors.next(), actors.next().is_some());
            let mut actor_taken = false;
            match (first_actor, more) {
                (Some((id, fl)), false) if !fl.weak || o.actor_context || is_strong_actor(&id) => {
                    found
                        .actors
                        .entry(id)
                        .or_default()
                        .add(form, o.field, o.start);
                    actor_taken = !fl.weak || o.actor_context;
                }
                (Some(_), true) => {
                    // Claimed by several: settled only by another mention of one claimant.
                    let ids: Vec<ActorId> = these
                        .iter()
                        .filter_map(actor_of)
                        .map(|(id, _)| id)
                        .collect();
                    let mut settled = ids.iter().copied().filter(is_strong_actor);
                    match (settled.next(), settled.next()) {
                        (Some(id), None) => {
                            found
                                .actors
                                .entry(id)
                                .or_default()
                                .add(form, o.field, o.start);
                            actor_taken = true;
                        }
                        _ if these.iter().filter_map(actor_of).any(|(_, fl)| !fl.weak)
                            || o.actor_context =>
                        {
                            found
                                .ambiguous
                                .entry(ids)
                                .or_default()
                                .add(form, o.field, o.start);
                            actor_taken = true;
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
            if actor_taken && these.iter().filter_map(actor_of).any(|(_, fl)| fl.weak) {
                // "Cuba ransomware" is the gang, not the country.
                continue;
            }
            for (t, fl) in these {
                let counts = !fl.weak || strong_other.binary_search(t).is_ok();
                if !counts {
                    continue;
                }
                let map = match t {
                    Target::Sector(i) => found.sectors.entry(*i),
                    Target::Country(i) => found.countries.entry(*i),
                    Target::Region(i) => found.regions.entry(*i),
                    _ => continue,
                };
                map.or_default().add(form, o.field, o.start);
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

#[cfg(test)]
mod overlap_tests {
    use super::overlaps_sorted;

    #[test]
    fn sorted_overlap_agrees_with_a_scan() {
        let mut next = crate::test_rng(0x6c07_8965_d5a2_b9c5);
        for _ in 0..20_000 {
            let mut spans: Vec<(usize, usize)> = (0..next() % 8)
                .map(|_| {
                    let s = (next() % 30) as usize;
                    (s, s + (next() % 10) as usize)
                })
                .collect();
            spans.sort_by_key(|&(s, _)| s);
            let reach: Vec<usize> = spans
                .iter()
                .scan(0, |m, &(_, e)| {
                    *m = e.max(*m);
                    Some(*m)
                })
                .collect();
            let start = (next() % 40) as usize;
            let end = start + (next() % 10) as usize;
            let want = spans.iter().any(|&(s, e)| s < end && start < e);
            assert_eq!(
                overlaps_sorted(&spans, &reach, start, end),
                want,
                "{spans:?} {start}..{end}"
            );
        }
    }
}
