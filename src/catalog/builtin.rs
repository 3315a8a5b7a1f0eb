//! The catalog compiled into the binary: `data/actors.toml`, `data/sectors.toml`,
//! `data/geo.toml`, written by this project from public reporting.
//!
//! Parsed once at start-up (a few milliseconds); a unit test keeps the data valid, so
//! a parse failure here is a build defect and panics with the reason.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Deserialize;

use super::{Actor, Alias, Catalog, Country, Region, Sector, Term};

const ACTORS: &str = include_str!("data/actors.toml");
const SECTORS: &str = include_str!("data/sectors.toml");
const GEO: &str = include_str!("data/geo.toml");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActorsFile {
    actor: Vec<ActorRow>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActorRow {
    name: String,
    mitre: Option<String>,
    origin: Option<String>,
    kind: Option<String>,
    #[serde(default)]
    sectors: Vec<String>,
    #[serde(default)]
    countries: Vec<String>,
    #[serde(default)]
    refs: Vec<String>,
    #[serde(default)]
    weak: Vec<String>,
    #[serde(default)]
    exact_case: Vec<String>,
    #[serde(default)]
    aliases: BTreeMap<String, Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SectorsFile {
    sector: Vec<SectorRow>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SectorRow {
    id: String,
    name: String,
    terms: Vec<String>,
    #[serde(default)]
    weak: Vec<String>,
    #[serde(default)]
    exact_case: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GeoFile {
    country: Vec<CountryRow>,
    region: Vec<RegionRow>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CountryRow {
    code: String,
    name: String,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    demonyms: Vec<String>,
    subregion: String,
    #[serde(default)]
    weak: Vec<String>,
    #[serde(default)]
    exact_case: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegionRow {
    name: String,
    kind: String,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    countries: Vec<String>,
    #[serde(default)]
    includes: Vec<String>,
    #[serde(default)]
    weak: Vec<String>,
    #[serde(default)]
    exact_case: Vec<String>,
}

fn terms<'a>(
    names: impl IntoIterator<Item = &'a String>,
    weak: &[String],
    exact_case: &[String],
) -> Vec<Term> {
    let mut seen = BTreeSet::new();
    names
        .into_iter()
        .filter(|n| seen.insert(n.as_str()))
        .map(|n| Term {
            text: n.clone(),
            weak: weak.contains(n),
            exact_case: exact_case.contains(n),
        })
        .collect()
}

pub(super) fn load() -> Catalog {
    #[allow(clippy::expect_used)]
    let actors: ActorsFile = toml::from_str(ACTORS).expect("built-in data/actors.toml is valid");
    #[allow(clippy::expect_used)]
    let sectors: SectorsFile =
        toml::from_str(SECTORS).expect("built-in data/sectors.toml is valid");
    #[allow(clippy::expect_used)]
    let geo: GeoFile = toml::from_str(GEO).expect("built-in data/geo.toml is valid");

    let sectors = sectors
        .sector
        .into_iter()
        .map(|s| Sector {
            terms: terms(
                std::iter::once(&s.name).chain(&s.terms),
                &s.weak,
                &s.exact_case,
            ),
            id: s.id,
            name: s.name,
        })
        .collect();
    let countries = geo
        .country
        .iter()
        .map(|c| Country {
            code: c.code.clone(),
            name: c.name.clone(),
            terms: terms(
                std::iter::once(&c.name)
                    .chain(&c.aliases)
                    .chain(&c.demonyms),
                &c.weak,
                &c.exact_case,
            ),
            subregion: c.subregion.clone(),
        })
        .collect();
    let mut catalog = Catalog {
        sectors,
        countries,
        regions: regions(&geo.region, &geo.country),
        ..Catalog::default()
    };
    catalog.reindex();
    catalog.merge_actors(actors.actor.into_iter().map(actor));
    catalog
}

fn actor(row: ActorRow) -> Actor {
    let mut aliases = Vec::new();
    let mut seen = BTreeSet::from([super::alias_key(&row.name)]);
    for (scheme, names) in &row.aliases {
        for n in names {
            if seen.insert(super::alias_key(n)) {
                aliases.push(Alias {
                    name: n.clone(),
                    scheme: Some(scheme.clone()).filter(|s| s != "other"),
                    weak: row.weak.contains(n),
                    exact_case: row.exact_case.contains(n),
                });
            }
        }
    }
    Actor {
        name_weak: row.weak.contains(&row.name),
        name_exact_case: row.exact_case.contains(&row.name),
        name: row.name,
        aliases,
        mitre: row.mitre,
        origin: row.origin,
        kind: row.kind,
        sectors: row.sectors,
        countries: row.countries,
        refs: row.refs,
        sources: vec!["built-in".into()],
    }
}

/// Expand each region's `includes` (recursively) and the countries whose M49 sub-region
/// it is into one flat set of ISO codes.
fn regions(rows: &[RegionRow], countries: &[CountryRow]) -> Vec<Region> {
    let by_name: HashMap<&str, &RegionRow> = rows.iter().map(|r| (r.name.as_str(), r)).collect();
    fn expand<'a>(
        r: &'a RegionRow,
        by_name: &HashMap<&str, &'a RegionRow>,
        countries: &[CountryRow],
        out: &mut BTreeSet<String>,
        depth: usize,
    ) {
        out.extend(r.countries.iter().cloned());
        out.extend(
            countries
                .iter()
                .filter(|c| c.subregion == r.name)
                .map(|c| c.code.clone()),
        );
        if depth < 8 {
            for inc in &r.includes {
                if let Some(sub) = by_name.get(inc.as_str()) {
                    expand(sub, by_name, countries, out, depth + 1);
                }
            }
        }
    }
    rows.iter()
        .map(|r| {
            let mut set = BTreeSet::new();
            expand(r, &by_name, countries, &mut set, 0);
            Region {
                name: r.name.clone(),
                kind: r.kind.clone(),
                terms: terms(
                    std::iter::once(&r.name).chain(&r.aliases),
                    &r.weak,
                    &r.exact_case,
                ),
                countries: set,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_data_parses_and_is_consistent() {
        let c = Catalog::builtin();
        assert!(c.actors.len() >= 150, "{} actors", c.actors.len());
        assert!(c.sectors.len() >= 25, "{} sectors", c.sectors.len());
        assert!(c.countries.len() >= 240, "{} countries", c.countries.len());
        let codes: BTreeSet<&str> = c.countries.iter().map(|c| c.code.as_str()).collect();
        for r in &c.regions {
            assert!(!r.countries.is_empty(), "region {} is empty", r.name);
            for code in &r.countries {
                assert!(codes.contains(code.as_str()), "{}: unknown {code}", r.name);
            }
        }
        let sector_ids: BTreeSet<&str> = c.sectors.iter().map(|s| s.id.as_str()).collect();
        for a in &c.actors {
            for s in &a.sectors {
                assert!(
                    sector_ids.contains(s.as_str()),
                    "{}: unknown sector {s}",
                    a.name
                );
            }
            for code in a.countries.iter().chain(&a.origin) {
                assert!(
                    codes.contains(code.as_str()),
                    "{}: unknown country {code}",
                    a.name
                );
            }
        }
    }
}
