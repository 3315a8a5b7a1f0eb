//! Table-driven detection tests: each case is named for the trap it pins.
//!
//! A case gives article text (title and body) and the exact canonical names expected in
//! one category. The built-in catalog is the one under test.

use std::sync::{Arc, OnceLock};

use crate::catalog::Catalog;
use crate::model::{Entities, Item, ItemKey};

use super::Detector;

fn detector() -> &'static Detector {
    static D: OnceLock<Detector> = OnceLock::new();
    D.get_or_init(|| Detector::new(Arc::new(Catalog::builtin())))
}

pub(super) fn item(title: &str, body: &str) -> Item {
    Item {
        feed: "test".into(),
        key: ItemKey("k".into()),
        guid: None,
        title: title.into(),
        url: None,
        published: None,
        summary: body.into(),
        content: String::new(),
    }
}

pub(super) fn entities(title: &str, body: &str) -> Entities {
    let d = detector();
    d.entities(&d.detect(&item(title, body)))
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Actors,
    Sectors,
    Regions,
}

fn names(e: &Entities, kind: Kind) -> Vec<String> {
    let list = match kind {
        Kind::Actors => &e.actors,
        Kind::Sectors => &e.sectors,
        Kind::Regions => &e.regions,
    };
    list.iter().map(|m| m.name.clone()).collect()
}

use Kind::*;

/// (trap, title, body, category, expected canonical names in order of appearance)
const CASES: &[(&str, &str, &str, Kind, &[&str])] = &[
    // --- the seed article ---
    ("seed_mangled_line", "", "corresponding to three different Chinese threat actors:\n\nGallium (Soft Cell)Naikon APTTG-3390 (APT27, Emissary Panda)\n\nImage: Cybereason", Actors, &["GALLIUM", "Naikon", "APT27"]),
    ("seed_title_sector", "Five Southeast Asian telcos hacked by three different Chinese espionage groups", "", Sectors, &["Telecommunications"]),
    ("seed_title_region", "Five Southeast Asian telcos hacked by three different Chinese espionage groups", "", Regions, &["Southeast Asia", "China"]),
    // --- APT27's many names ---
    ("alias_emissary_panda", "Emissary Panda returns", "", Actors, &["APT27"]),
    ("alias_tg3390_hyphen", "", "tracked as TG-3390 by Secureworks", Actors, &["APT27"]),
    ("alias_tg3390_space", "", "tracked as TG 3390", Actors, &["APT27"]),
    ("alias_tg3390_glued", "", "tracked as TG3390", Actors, &["APT27"]),
    ("alias_luckymouse_camel", "", "Kaspersky's LuckyMouse strikes", Actors, &["APT27"]),
    ("alias_lucky_mouse_spaced", "", "Lucky Mouse strikes", Actors, &["APT27"]),
    ("alias_linen_typhoon", "", "Microsoft calls it Linen Typhoon", Actors, &["APT27"]),
    ("alias_bronze_union", "", "BRONZE UNION activity", Actors, &["APT27"]),
    ("alias_threat_group_3390", "", "Threat Group-3390 used HyperBro", Actors, &["APT27"]),
    ("alias_apt_27_spaced", "", "the APT 27 group", Actors, &["APT27"]),
    ("alias_curly_quotes", "", "dubbed \u{201c}Emissary Panda\u{201d} by CrowdStrike", Actors, &["APT27"]),
    ("alias_en_dash", "", "TG\u{2013}3390 again", Actors, &["APT27"]),
    ("alias_case_insensitive", "", "EMISSARY PANDA and emissary panda", Actors, &["APT27"]),
    // --- numbered names ---
    ("apt2_not_apt28", "", "APT28 phishing", Actors, &["APT28"]),
    ("apt28_not_apt2", "", "the APT28 and APT29 groups", Actors, &["APT28", "APT29"]),
    ("apt41_in_title", "APT41 targets game studios", "", Actors, &["APT41"]),
    ("fin7_not_fin", "", "FIN7 is financially motivated", Actors, &["FIN7"]),
    ("apt_word_alone", "", "an APT group breached the network", Actors, &[]),
    // --- weak aliases: ordinary words ---
    ("gallium_metal", "", "China restricts exports of gallium and germanium used in chips", Actors, &[]),
    ("gallium_arsenide", "Gallium arsenide wafers in short supply", "", Actors, &[]),
    ("gallium_actor_caps", "", "Microsoft tracks the actor as GALLIUM", Actors, &["GALLIUM"]),
    ("gallium_actor_qualifier", "", "the Gallium group targeted telecoms", Actors, &["GALLIUM"]),
    ("gallium_two_weak_names_vouch", "", "the intrusions were linked to Gallium (Soft Cell) and others", Actors, &["GALLIUM"]),
    ("soft_cell_band_alone", "", "Soft Cell played Tainted Love", Actors, &[]),
    ("gallium_with_strong_alias", "", "Gallium, also known as Alloy Taurus, hit carriers", Actors, &["GALLIUM"]),
    ("lazarus_saint", "", "the raising of Lazarus is a famous painting", Actors, &[]),
    ("lazarus_group", "", "the Lazarus Group stole $100 million", Actors, &["Lazarus Group"]),
    ("lazarus_hackers", "North Korean Lazarus hackers steal crypto", "", Actors, &["Lazarus Group"]),
    ("lazarus_origin_possessive", "", "North Korea's Lazarus stole funds", Actors, &["Lazarus Group"]),
    ("sandworm_novel", "", "Dune's sandworm is the best part of the novel", Actors, &[]),
    ("sandworm_actor", "", "Russian Sandworm hackers hit the grid", Actors, &["Sandworm"]),
    ("sandworm_with_apt44", "", "Sandworm, which Mandiant calls APT44", Actors, &["Sandworm"]),
    ("cobalt_element", "", "cobalt mining in the Congo", Actors, &[]),
    ("cobalt_strike_tool", "", "attackers deployed Cobalt Strike beacons", Actors, &[]),
    ("equation_math", "", "the equation has two solutions", Actors, &[]),
    ("equation_group", "", "the Equation Group's tools leaked", Actors, &["Equation"]),
    ("play_verb", "", "users play games on their phones", Actors, &[]),
    ("play_ransomware", "", "the Play ransomware gang claimed the attack", Actors, &["Play"]),
    ("royal_mail", "", "Royal Mail suffered an outage", Actors, &[]),
    ("royal_ransomware", "", "Royal ransomware encrypted servers", Actors, &["Royal"]),
    ("hive_noun", "", "a hive of activity", Actors, &[]),
    ("hive_ransomware", "", "Hive ransomware infrastructure seized", Actors, &["Hive"]),
    ("akira_film", "", "Akira is a classic anime film", Actors, &[]),
    ("akira_ransomware", "Akira ransomware hits SonicWall VPNs", "", Actors, &["Akira"]),
    ("conti_surname", "", "Paolo Conti wrote the report", Actors, &[]),
    ("conti_leaks", "", "the Conti ransomware group's chats leaked", Actors, &["Conti"]),
    ("nobelium_element", "", "nobelium is a synthetic element", Actors, &[]),
    ("nobelium_actor", "", "Microsoft said NOBELIUM targeted resellers", Actors, &["APT29"]),
    ("cuba_gang_not_country", "", "the Cuba ransomware gang", Actors, &["Cuba"]),
    ("cuba_gang_no_region", "", "the Cuba ransomware gang", Regions, &[]),
    ("cuba_country", "", "Cuba and Venezuela", Regions, &["Cuba", "Venezuela"]),
    ("tick_insect", "", "a tick bite", Actors, &[]),
    // --- strong names ---
    ("lockbit_plain", "", "LockBit claims attack on hospital", Actors, &["LockBit"]),
    ("lapsus_dollar", "", "LAPSUS$ member arrested", Actors, &["LAPSUS$"]),
    ("scattered_spider", "", "Scattered Spider, aka Octo Tempest, called help desks", Actors, &["Scattered Spider"]),
    ("unc3944_alias", "", "UNC3944 social engineering", Actors, &["Scattered Spider"]),
    ("volt_typhoon", "", "Volt Typhoon pre-positioned in US utilities", Actors, &["Volt Typhoon"]),
    ("salt_typhoon", "Salt Typhoon breached telecom carriers", "", Actors, &["Salt Typhoon"]),
    ("midnight_blizzard", "", "Midnight Blizzard read executive email", Actors, &["APT29"]),
    ("fancy_bear", "", "Fancy Bear phishing", Actors, &["APT28"]),
    ("shinyhunters", "", "ShinyHunters extortion emails", Actors, &["ShinyHunters"]),
    // --- designations nobody knows yet ---
    ("unknown_unc", "", "Mandiant tracks the cluster as UNC9999", Actors, &["UNC9999"]),
    ("unknown_storm", "", "Microsoft tracks Storm-9876", Actors, &["Storm-9876"]),
    ("unknown_typhoon", "", "a new actor, Velvet Typhoon, exploited routers", Actors, &["Velvet Typhoon"]),
    ("unknown_panda", "", "CrowdStrike named it Salty Panda", Actors, &["Salty Panda"]),
    ("giant_panda_zoo", "", "the giant panda at the zoo", Actors, &[]),
    ("super_typhoon_weather", "", "Super Typhoon Haiyan made landfall", Actors, &[]),
    ("unknown_cl_sta", "", "Unit 42 tracks CL-STA-9999", Actors, &["CL-STA-9999"]),
    // --- sectors ---
    ("telco_plural", "", "telcos in Asia", Sectors, &["Telecommunications"]),
    ("telecom_provider", "", "a major telecommunications provider", Sectors, &["Telecommunications"]),
    ("carrier_alone_weak", "", "an aircraft carrier sailed", Sectors, &[]),
    ("hospital_healthcare", "", "ransomware hit a hospital", Sectors, &["Healthcare"]),
    ("banks_financial", "", "banks in Brazil", Sectors, &["Financial"]),
    ("universities_education", "", "universities were phished", Sectors, &["Education"]),
    ("power_grid_energy", "", "the power grid in Ukraine", Sectors, &["Energy"]),
    ("no_sector_generic_security", "", "the attacker used a network service and an agent", Sectors, &[]),
    // --- regions and countries ---
    ("oman_not_woman", "", "a woman reported it", Regions, &[]),
    ("oman_country", "", "ministries in Oman", Regions, &["Oman"]),
    ("mali_not_malicious", "", "malicious code", Regions, &[]),
    ("mali_not_somalia", "", "pirates off Somalia", Regions, &["Somalia"]),
    ("niger_not_nigeria", "", "banks in Nigeria", Regions, &["Nigeria"]),
    ("niger_itself", "", "the junta in Niger", Regions, &["Niger"]),
    ("georgia_state", "", "a county in Georgia, near Atlanta", Regions, &[]),
    ("georgia_country_with_demonym", "", "Georgian officials said Georgia was targeted", Regions, &["Georgia"]),
    ("jordan_person", "", "Jordan said the patch was late", Regions, &[]),
    ("turkey_bird", "", "a turkey for Thanksgiving", Regions, &[]),
    ("turkiye_strong", "", "T\u{fc}rkiye's ministry", Regions, &["Turkey"]),
    ("us_pronoun", "", "let us know what you think", Regions, &[]),
    ("us_country", "", "US agencies warned", Regions, &["United States"]),
    ("viet_nam_variant", "", "Viet Nam telecom", Regions, &["Vietnam"]),
    ("burma_myanmar", "", "Burma and Myanmar", Regions, &["Myanmar"]),
    ("south_korea_variants", "", "the Republic of Korea and South Korea", Regions, &["South Korea"]),
    ("demonym_filipino", "", "Filipino banks", Regions, &["Philippines"]),
    ("new_mexico_not_mexico", "", "a school district in New Mexico", Regions, &[]),
    ("papua_new_guinea_not_guinea", "", "Papua New Guinea's government", Regions, &["Papua New Guinea"]),
    ("region_middle_east", "", "across the Middle East", Regions, &["Middle East"]),
    ("region_southeast_asian", "", "Southeast Asian governments", Regions, &["Southeast Asia"]),
];

#[test]
fn detection_table() {
    let mut failures = Vec::new();
    for (trap, title, body, kind, expect) in CASES {
        let got = names(&entities(title, body), *kind);
        let want: Vec<String> = expect.iter().map(|s| s.to_string()).collect();
        if got != want {
            failures.push(format!("{trap}: {kind:?} expected {want:?}, got {got:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

#[test]
fn table_is_big_enough() {
    assert!(CASES.len() >= 80, "{} cases", CASES.len());
}

#[test]
fn explanations_carry_forms_and_fields() {
    let e = entities("Emissary Panda hits telcos", "TG-3390 and LuckyMouse again");
    let apt27 = &e.actors[0];
    assert_eq!(apt27.name, "APT27");
    assert_eq!(apt27.matched, ["Emissary Panda", "TG-3390", "LuckyMouse"]);
    assert_eq!(
        apt27.fields,
        [crate::model::Field::Title, crate::model::Field::Summary]
    );
}

#[test]
fn shared_alias_is_reported_as_ambiguous() {
    let e = entities("", "Lotus Panda was seen again");
    assert_eq!(e.actors.len(), 1, "{e:?}");
    let note = e.actors[0].note.clone().unwrap_or_default();
    assert!(note.starts_with("ambiguous alias: claimed by"), "{note}");
    // Another name settles it.
    let e = entities("", "Lotus Panda, also called Naikon APT");
    assert_eq!(names(&e, Actors), ["Naikon"]);
}

mod props {
    use super::*;
    use proptest::prelude::*;

    const WORDS: &[&str] = &[
        "Emissary Panda",
        "TG-3390",
        "telcos",
        "Vietnam",
        "APT28",
        "woman",
        "malicious",
        "Southeast Asian",
        "LockBit",
        "hospital",
        "the",
        "and",
        "(",
        ")",
        ",",
        "LuckyMouse",
        "Salt Typhoon",
        "banks",
        "Oman",
        "Nigeria",
        "\u{201c}",
        "-",
        "\n",
    ];

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,200}") {
            let _ = entities(&s, &s);
        }

        #[test]
        fn case_does_not_matter_for_case_insensitive_terms(
            parts in proptest::collection::vec(0..WORDS.len(), 0..20)
        ) {
            let text: Vec<&str> = parts.iter().map(|i| WORDS[*i]).collect();
            let text = text.join(" ");
            let a = entities("", &text);
            let b = entities("", &text.to_uppercase());
            let c = entities("", &text.to_lowercase());
            let n = |e: &Entities| (names(e, Actors), names(e, Sectors), names(e, Regions));
            prop_assert_eq!(n(&a), n(&b));
            prop_assert_eq!(n(&a), n(&c));
        }
    }
}

mod rules_eval {
    use super::*;
    use crate::config::{Require, RuleConfig, When};
    use crate::model::{Category, Priority};
    use crate::rules::Engine;

    fn rule(name: &str, actors: &[&str], sectors: &[&str], regions: &[&str]) -> RuleConfig {
        RuleConfig {
            name: name.into(),
            actors: actors.iter().map(|s| s.to_string()).collect(),
            sectors: sectors.iter().map(|s| s.to_string()).collect(),
            regions: regions.iter().map(|s| s.to_string()).collect(),
            require: Require::Any,
            when: None,
            exclude: Vec::new(),
            feeds: Vec::new(),
            channel: None,
            mention_roles: Vec::new(),
            priority: Priority::Normal,
        }
    }

    fn fired(rules: Vec<RuleConfig>, title: &str, body: &str) -> Vec<String> {
        let engine = Engine::from_parts(Arc::new(Catalog::builtin()), &rules, &[]);
        let eval = engine.evaluate(&item(title, body));
        eval.fired
            .iter()
            .map(|f| engine.rules()[f.rule].name.clone())
            .collect()
    }

    #[test]
    fn nexus_watches_catalogued_and_new_designations() {
        let r = || vec![rule("china", &["nexus:China"], &[], &[])];
        assert_eq!(
            fired(r(), "", "a new actor, Velvet Typhoon, hit routers"),
            ["china"]
        );
        assert_eq!(fired(r(), "", "APT41 hit game studios"), ["china"]);
        assert!(fired(r(), "", "Fancy Bear phished diplomats").is_empty());
        // A designation no catalog knows can be watched by name before anyone does.
        let r = || vec![rule("new", &["Zzyzx Kitten"], &[], &[])];
        assert_eq!(
            fired(r(), "", "CrowdStrike now tracks Zzyzx Kitten"),
            ["new"]
        );
        assert!(fired(r(), "", "CrowdStrike now tracks Velvet Kitten").is_empty());
    }

    #[test]
    fn require_all_needs_every_listed_category() {
        let mut r = rule("all", &["LockBit"], &["healthcare"], &["Europe"]);
        r.require = Require::All;
        let rs = || vec![r.clone()];
        assert_eq!(fired(rs(), "LockBit hits hospital in Germany", ""), ["all"]);
        assert!(fired(rs(), "LockBit hits hospital in Brazil", "").is_empty());
        assert!(fired(rs(), "LockBit hits a bank in Germany", "").is_empty());
    }

    #[test]
    fn when_expression_and_exclude() {
        let mut r = rule(
            "sea",
            &["APT27"],
            &["telecommunications"],
            &["Southeast Asia"],
        );
        r.when = Some(When::Or(
            Box::new(When::Category(Category::Actors)),
            Box::new(When::And(
                Box::new(When::Category(Category::Sectors)),
                Box::new(When::Category(Category::Regions)),
            )),
        ));
        r.exclude = vec!["webinar".into()];
        let rs = || vec![r.clone()];
        assert_eq!(fired(rs(), "Telcos in Vietnam breached", ""), ["sea"]);
        assert!(fired(rs(), "Telcos in Brazil breached", "").is_empty());
        assert_eq!(fired(rs(), "Emissary Panda is back", ""), ["sea"]);
        assert!(fired(rs(), "Webinar: Emissary Panda explained", "").is_empty());
    }

    #[test]
    fn a_country_satisfies_the_region_that_contains_it() {
        let r = || vec![rule("eu", &[], &[], &["European Union"])];
        assert_eq!(fired(r(), "Attack on Czech ministry", ""), ["eu"]);
        assert!(fired(r(), "Attack on Swiss ministry", "").is_empty());
    }
}

/// The anchored walks find what a bare overlapping scan finds, on real text with the
/// real catalogs: the built-in one, plus MISP and ATT&CK and every item of the feeds in
/// ../shared/corpus when it is present (else the table's texts only, and it says so).
#[test]
fn anchored_walks_agree_with_an_overlapping_scan_on_real_text() {
    use crate::catalog::import;
    use crate::ingest::{normalize::html_to_text, parse::parse_feed};

    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    let mut catalog = Catalog::builtin();
    let mut texts: Vec<String> = CASES
        .iter()
        .flat_map(|(_, t, b, _, _)| [t.to_string(), b.to_string()])
        .collect();
    if corpus.is_dir() {
        for f in [
            "catalogs/misp-galaxy/clusters/threat-actor.json",
            "catalogs/mitre-attack/enterprise-attack-intrusion-set-v18.1.json",
        ] {
            catalog.merge_actors(import::load_file(&corpus.join(f)).expect("catalog"));
        }
        catalog.reindex();
        for dir in std::fs::read_dir(corpus.join("feeds")).expect("feeds") {
            let dir = dir.expect("dir").path();
            for file in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let Ok(parsed) = parse_feed(&std::fs::read(file.path()).expect("read"), None, None)
                else {
                    continue;
                };
                for e in parsed.entries {
                    for t in [e.title, e.summary, e.content].into_iter().flatten() {
                        texts.push(html_to_text(&t));
                    }
                }
            }
        }
    } else {
        eprintln!("skipped the corpus part: ../shared/corpus not present");
    }
    let det = Detector::new(Arc::new(catalog));
    let matcher = det.matcher();
    let ac = matcher.reference_automaton();
    let mut hits = 0;
    for t in &texts {
        let f = super::fold::fold(t);
        let want: Vec<_> = matcher
            .find_folded_reference(ac.as_ref(), t, &f)
            .iter()
            .map(|h| (*h.payload, h.start, h.end))
            .collect();
        let got: Vec<_> = matcher
            .find_folded(t, &f)
            .iter()
            .map(|h| (*h.payload, h.start, h.end))
            .collect();
        assert_eq!(got, want, "in {t:?}");
        hits += got.len();
    }
    assert!(
        hits > texts.len() / 4,
        "{hits} hits in {} texts",
        texts.len()
    );
}
