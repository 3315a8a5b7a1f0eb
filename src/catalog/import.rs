//! Importers for external catalogs: MISP galaxy clusters (`threat-actor.json` and the
//! like) and MITRE ATT&CK STIX bundles (`intrusion-set` objects).
//!
//! Input is bytes (from a file, or from a URL the caller fetched and cached); output is
//! `Actor` records for `Catalog::merge_actors`. Country and sector names are kept as
//! written here and resolved against the taxonomies at merge time. No I/O but
//! `load_file`.

use std::path::Path;

use serde::Deserialize;

use super::Actor;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read catalog {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("catalog {source_name} is not valid JSON: {error}")]
    Json {
        source_name: String,
        error: serde_json::Error,
    },
    #[error("catalog {0} is neither a MISP galaxy cluster nor a STIX bundle")]
    Unrecognised(String),
}

/// Read and parse one catalog file.
pub fn load_file(path: &Path) -> Result<Vec<Actor>, ImportError> {
    let bytes = std::fs::read(path).map_err(|source| ImportError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse(&bytes, &path.display().to_string())
}

#[derive(Deserialize)]
struct Probe {
    #[serde(rename = "type")]
    kind: Option<String>,
    values: Option<Vec<MispValue>>,
    objects: Option<Vec<serde_json::Value>>,
}

#[derive(Deserialize)]
struct MispValue {
    value: String,
    #[serde(default)]
    meta: MispMeta,
}

#[derive(Deserialize, Default)]
struct MispMeta {
    #[serde(default)]
    synonyms: Vec<String>,
    country: Option<String>,
    #[serde(default)]
    refs: Vec<String>,
    #[serde(default, rename = "cfr-suspected-victims")]
    victims: Vec<String>,
    #[serde(default, rename = "cfr-target-category")]
    target_category: Vec<String>,
    #[serde(default, rename = "targeted-sector")]
    targeted_sector: Vec<String>,
    #[serde(default, rename = "external_id")]
    external_id: Option<String>,
}

#[derive(Deserialize)]
struct StixObject {
    #[serde(rename = "type")]
    kind: String,
    name: Option<String>,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    revoked: bool,
    #[serde(default)]
    x_mitre_deprecated: bool,
    #[serde(default)]
    external_references: Vec<StixRef>,
}

#[derive(Deserialize)]
struct StixRef {
    source_name: String,
    external_id: Option<String>,
    url: Option<String>,
}

fn is_attack_id(s: &str) -> bool {
    s.len() == 5 && s.starts_with('G') && s[1..].chars().all(|c| c.is_ascii_digit())
}

/// Parse a MISP cluster or a STIX bundle. `source` labels the records ("misp:<name>").
pub fn parse(bytes: &[u8], source: &str) -> Result<Vec<Actor>, ImportError> {
    let probe: Probe = serde_json::from_slice(bytes).map_err(|error| ImportError::Json {
        source_name: source.to_string(),
        error,
    })?;
    if let Some(values) = probe.values {
        return Ok(values.into_iter().map(|v| misp(v, source)).collect());
    }
    if probe.kind.as_deref() == Some("bundle") {
        let objects = probe.objects.unwrap_or_default();
        return Ok(objects
            .into_iter()
            .filter_map(|o| serde_json::from_value::<StixObject>(o).ok())
            .filter(|o| o.kind == "intrusion-set" && !o.revoked && !o.x_mitre_deprecated)
            .filter_map(|o| stix(o, source))
            .collect());
    }
    Err(ImportError::Unrecognised(source.to_string()))
}

fn misp(v: MispValue, source: &str) -> Actor {
    let m = v.meta;
    let mut mitre = m.external_id.filter(|s| is_attack_id(s));
    let mut aliases = Vec::new();
    for s in m.synonyms {
        let s = s.trim().to_string();
        if is_attack_id(&s) {
            // MISP lists superseded ATT&CK ids too; the first is the group's own.
            mitre.get_or_insert(s);
        } else if !s.is_empty() && s != v.value {
            aliases.push(super::Alias {
                name: s,
                scheme: None,
                weak: false,
                exact_case: false,
            });
        }
    }
    if mitre.is_none() {
        mitre = m.refs.iter().find_map(|r| {
            let id = r.trim_end_matches('/').rsplit('/').next()?;
            (r.contains("attack.mitre.org/groups/") && is_attack_id(id)).then(|| id.to_string())
        });
    }
    Actor {
        name: v.value,
        aliases,
        mitre,
        origin: m.country.filter(|c| c.len() == 2).map(|c| c.to_uppercase()),
        sectors: m
            .target_category
            .into_iter()
            .chain(m.targeted_sector)
            .collect(),
        countries: m.victims,
        refs: m.refs,
        sources: vec![format!("misp:{source}")],
        ..Default::default()
    }
}

fn stix(o: StixObject, source: &str) -> Option<Actor> {
    let name = o.name?;
    let mitre = o
        .external_references
        .iter()
        .find(|r| r.source_name == "mitre-attack")
        .and_then(|r| r.external_id.clone());
    let refs = o
        .external_references
        .iter()
        .filter(|r| r.source_name == "mitre-attack")
        .filter_map(|r| r.url.clone())
        .collect();
    let aliases = o
        .aliases
        .into_iter()
        .filter(|a| *a != name)
        .map(|a| super::Alias {
            name: a,
            scheme: None,
            weak: false,
            exact_case: false,
        })
        .collect();
    Some(Actor {
        name,
        aliases,
        mitre,
        refs,
        sources: vec![format!("attack:{source}")],
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misp_minimal() {
        let json = br#"{"values":[{"value":"APT27","meta":{"synonyms":["TG-3390","G0027","APT27"],"country":"cn"}}]}"#;
        let a = parse(json, "t").unwrap_or_default();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].mitre.as_deref(), Some("G0027"));
        assert_eq!(a[0].origin.as_deref(), Some("CN"));
        assert_eq!(a[0].aliases.len(), 1);
    }

    #[test]
    fn stix_minimal() {
        let json = br#"{"type":"bundle","objects":[{"type":"intrusion-set","name":"Threat Group-3390","aliases":["Threat Group-3390","APT27"],"external_references":[{"source_name":"mitre-attack","external_id":"G0027","url":"https://attack.mitre.org/groups/G0027"}]},{"type":"intrusion-set","name":"Old","revoked":true}]}"#;
        let a = parse(json, "t").unwrap_or_default();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].mitre.as_deref(), Some("G0027"));
    }

    #[test]
    fn rejects_other_json() {
        assert!(matches!(
            parse(b"{}", "x"),
            Err(ImportError::Unrecognised(_))
        ));
        assert!(matches!(parse(b"{", "x"), Err(ImportError::Json { .. })));
    }
}

/// The importers on the real MISP galaxy and ATT&CK files in ../shared/corpus (skipped,
/// and saying so, when the corpus is absent).
#[cfg(test)]
mod corpus_tests {
    use super::*;
    use crate::catalog::{ActorLookup, Catalog};

    fn corpus(rel: &str) -> Option<std::path::PathBuf> {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/corpus/catalogs")
            .join(rel);
        if p.exists() {
            Some(p)
        } else {
            let _ = std::io::Write::write_all(
                &mut std::io::stderr(),
                b"skipped: ../shared/corpus not present\n",
            );
            None
        }
    }

    fn names(c: &Catalog, name: &str) -> Vec<String> {
        match c.find_actor(name) {
            ActorLookup::Found(id) => c.actors[id].names().map(String::from).collect(),
            other => panic!("{name}: {other:?}"),
        }
    }

    #[test]
    fn misp_threat_actor_galaxy() {
        let Some(p) = corpus("misp-galaxy/clusters/threat-actor.json") else {
            return;
        };
        let actors = load_file(&p).expect("misp");
        assert_eq!(actors.len(), 1041);
        let aliases: usize = actors.iter().map(|a| a.aliases.len()).sum();
        assert_eq!(aliases, 1314);
        let apt27 = actors.iter().find(|a| a.name == "APT27").expect("APT27");
        assert_eq!(apt27.mitre.as_deref(), Some("G0027"));
        assert_eq!(apt27.origin.as_deref(), Some("CN"));
        for alias in [
            "TG-3390",
            "EMISSARY PANDA",
            "Lucky Mouse",
            "Iron Tiger",
            "BRONZE UNION",
        ] {
            assert!(apt27.aliases.iter().any(|a| a.name == alias), "{alias}");
        }
        let gallium = actors
            .iter()
            .find(|a| a.name == "GALLIUM")
            .expect("GALLIUM");
        for alias in ["Alloy Taurus", "Granite Typhoon", "PHANTOM PANDA"] {
            assert!(gallium.aliases.iter().any(|a| a.name == alias), "{alias}");
        }
    }

    #[test]
    fn attack_intrusion_sets() {
        let Some(p) = corpus("mitre-attack/enterprise-attack-intrusion-set-v18.1.json") else {
            return;
        };
        let actors = load_file(&p).expect("attack");
        // 187 intrusion sets, of which revoked or deprecated ones are left out.
        assert!(
            actors.len() >= 160 && actors.len() <= 187,
            "{}",
            actors.len()
        );
        let tg = actors
            .iter()
            .find(|a| a.mitre.as_deref() == Some("G0027"))
            .expect("G0027");
        assert_eq!(tg.name, "Threat Group-3390");
        assert!(tg.aliases.iter().any(|a| a.name == "Emissary Panda"));
    }

    #[test]
    fn merged_over_the_builtin_catalog_without_chaining() {
        let (Some(misp), Some(attack)) = (
            corpus("misp-galaxy/clusters/threat-actor.json"),
            corpus("mitre-attack/enterprise-attack-intrusion-set-v18.1.json"),
        ) else {
            return;
        };
        let mut c = Catalog::builtin();
        let builtin = c.actors.len();
        c.merge_actors(load_file(&misp).expect("misp"));
        c.merge_actors(load_file(&attack).expect("attack"));
        c.reindex();
        // ATT&CK's "Threat Group-3390" and MISP's APT27 are one actor, by G0027.
        let apt27 = names(&c, "Threat Group-3390");
        assert_eq!(apt27[0], "APT27");
        for alias in [
            "Emissary Panda",
            "TG-3390",
            "LuckyMouse",
            "Linen Typhoon",
            "Iron Tiger",
        ] {
            assert!(apt27.iter().any(|n| n == alias), "{alias} in {apt27:?}");
        }
        assert_eq!(names(&c, "Granite Typhoon")[0], "GALLIUM");
        assert_eq!(names(&c, "Naikon APT")[0], "Naikon");
        assert!(c.actors.len() > builtin + 500, "{} actors", c.actors.len());
        // Aliases two distinct actors claim are reported, never silently given to one.
        let ambiguous = c.ambiguous_aliases();
        assert!(!ambiguous.is_empty());
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            format!(
                "merged catalog: {} actors, {} ambiguous aliases\n",
                c.actors.len(),
                ambiguous.len()
            )
            .as_bytes(),
        );
        for (alias, claimants) in &ambiguous {
            assert!(claimants.len() >= 2, "{alias}: {claimants:?}");
            assert!(
                matches!(c.find_actor(alias), ActorLookup::Ambiguous(_)),
                "{alias}"
            );
        }
        // No chaining: APT27 and APT3 share no merged record.
        assert!(!apt27.iter().any(|n| n == "APT3"));
    }
}
