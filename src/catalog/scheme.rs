//! Vendor naming schemes: recognise designations for actors no catalog knows yet.
//!
//! Vendors name new clusters by pattern: Mandiant `UNC1234`, Microsoft `Storm-1234` and
//! `<Adjective> Typhoon`, CrowdStrike `<Adjective> Panda`, Proofpoint `TA577`, Unit 42
//! `CL-STA-1009`, Trend Micro `Earth <Name>`, ... The pattern alone tells who named it
//! and often the suspected nexus, which is what a rule watching "any new China-nexus
//! designation" and `/actor` need. Input is original article text; output is spans.

use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::Regex;

/// A vendor designation found in text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Designation {
    /// Byte range in the input.
    pub start: usize,
    pub end: usize,
    /// The designation as written, separators normalised (e.g. "Storm-0558").
    pub name: String,
    pub scheme: &'static str,
    /// Suspected origin (ISO alpha-2) or motive the scheme encodes, if any.
    pub nexus: Option<&'static str>,
}

impl Designation {
    /// "not in the catalog; Microsoft naming scheme (China-nexus)"
    pub fn note(&self) -> String {
        match self.nexus.and_then(nexus_label) {
            Some(n) => format!("not in the catalog; {} naming scheme ({n})", self.scheme),
            None => format!("not in the catalog; {} naming scheme", self.scheme),
        }
    }
}

/// Human label for a nexus code.
pub fn nexus_label(code: &str) -> Option<&'static str> {
    Some(match code {
        "CN" => "China-nexus",
        "RU" => "Russia-nexus",
        "IR" => "Iran-nexus",
        "KP" => "North Korea-nexus",
        "KR" => "South Korea-nexus",
        "IN" => "India-nexus",
        "PK" => "Pakistan-nexus",
        "VN" => "Vietnam-nexus",
        "TR" => "Turkey-nexus",
        "LB" => "Lebanon-nexus",
        "crime" => "financially motivated",
        "hacktivist" => "hacktivist",
        "influence" => "influence operations",
        "psoa" => "private-sector offensive actor",
        "dev" => "cluster in development",
        _ => return None,
    })
}

/// Family words of the two-word schemes, with who uses them and the nexus they encode.
/// Microsoft's Hail, Dust, Rain and Flood are left out: as unknown designations they are
/// too often plain English ("Hackers Flood npm", "Acid Rain"); known ones are in the
/// catalog.
const FAMILIES: &[(&str, &str, &str)] = &[
    ("Panda", "CrowdStrike", "CN"),
    ("Bear", "CrowdStrike", "RU"),
    ("Kitten", "CrowdStrike", "IR"),
    ("Chollima", "CrowdStrike", "KP"),
    ("Tiger", "CrowdStrike", "IN"),
    ("Leopard", "CrowdStrike", "PK"),
    ("Buffalo", "CrowdStrike", "VN"),
    ("Spider", "CrowdStrike", "crime"),
    ("Jackal", "CrowdStrike", "hacktivist"),
    ("Typhoon", "Microsoft", "CN"),
    ("Blizzard", "Microsoft", "RU"),
    ("Sandstorm", "Microsoft", "IR"),
    ("Sleet", "Microsoft", "KP"),
    ("Cyclone", "Microsoft", "VN"),
    ("Tempest", "Microsoft", "crime"),
    ("Tsunami", "Microsoft", "psoa"),
    ("Taurus", "Unit 42", "CN"),
    ("Ursa", "Unit 42", "RU"),
    ("Serpens", "Unit 42", "IR"),
    ("Pisces", "Unit 42", "KP"),
    ("Libra", "Unit 42", "crime"),
];

/// First words that make ordinary phrases, not designations ("Giant Panda").
const NOT_ADJECTIVES: &[&str] = &[
    "A",
    "An",
    "The",
    "This",
    "That",
    "Giant",
    "Red",
    "Kung",
    "Fu",
    "Teddy",
    "Polar",
    "Brown",
    "Black",
    "Grizzly",
    "Care",
    "Paper",
    "Bengal",
    "Siberian",
    "Tamil",
    "Super",
    "Tropical",
    "Winter",
    "Snow",
    "Desert",
    "Perfect",
    "Sand",
    "Acid",
    "Freezing",
    "Heavy",
    "Spring",
    "Summer",
    "Golden",
    "Wolf",
    "Camel",
    "Jumping",
    "Tarantula",
    "Big",
    "Little",
    "Baby",
    "Wild",
    "White",
    "Sea",
    "Gummy",
    "Pooh",
    "Fox",
    "Mother",
    "Hidden",
    "Crouching",
    "Tony",
    "Tigers",
    "Detroit",
    "Chicago",
    "Cosmic",
    "Star",
    "Fairy",
    "Holy",
    "Blood",
    "Blue",
];

/// Second words after Earth/Water/Void that make ordinary phrases ("Water Utilities").
const NOT_NAMES: &[&str] = &[
    "Day",
    "Science",
    "Sciences",
    "Observation",
    "Hour",
    "Utility",
    "Utilities",
    "Treatment",
    "Supply",
    "Supplies",
    "System",
    "Systems",
    "Sector",
    "Plant",
    "Plants",
    "Facility",
    "Facilities",
    "Company",
    "Companies",
    "Infrastructure",
    "Authority",
    "Authorities",
    "District",
    "Districts",
    "Services",
    "Service",
    "Management",
    "Resources",
    "Quality",
    "Security",
    "Safety",
    "Sanitation",
    "And",
    "Or",
    "Is",
    "In",
    "On",
    "Of",
    "The",
    "Linux",
    "Engine",
    "Pipeline",
    "Pipes",
    "Works",
    "Department",
    "Board",
    "Control",
    "Network",
    "Networks",
    "Operators",
    "Operator",
    "Providers",
    "Provider",
    "Agency",
    "Agencies",
];

struct Patterns {
    codes: Regex,
    /// The literal words of the two-word schemes: the family words (pattern ids
    /// `0..FAMILIES.len()`) and the Trend Micro first words after them.
    words: AhoCorasick,
}

/// First words of the Trend Micro scheme.
const TREND: &[&str] = &["Earth", "Water", "Void"];

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| {
        let words = FAMILIES
            .iter()
            .map(|(w, _, _)| *w)
            .chain(TREND.iter().copied());
        // Built from constants: a failure here is a programming error caught by tests.
        // ASCII word boundaries keep the regex on the fast DFA engines; designations
        // are ASCII.
        #[allow(clippy::expect_used)]
        Patterns {
            codes: Regex::new(
                r"(?-u:\b)(?:(UNC)[ -]?(\d{3,5})|(Storm)[ -](\d{3,4})|(DEV)[ -](\d{4})|(TA)(\d{3,4})|(CL)-(STA|CRI|UNK|MOT)-(\d{3,5})|(TGR)-(STA|CRI|UNK)-(\d{3,5})|(APT)-(C)-(\d{2,3})|(APT) ?(\d{1,3})|(FIN)(\d{1,2})|(TAG)-(\d{2,3})|(UAC)-(\d{4}))(?-u:\b)",
            )
            .expect("designation code pattern"),
            words: AhoCorasickBuilder::new()
                .match_kind(MatchKind::Standard)
                .build(words)
                .expect("designation word automaton"),
        }
    })
}

/// ASCII word byte, as `(?-u:\b)` sees it.
fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Whether an ASCII word boundary `(?-u:\b)` stands at byte `i` of `b`.
fn boundary(b: &[u8], i: usize) -> bool {
    let before = i > 0 && is_word_byte(b[i - 1]);
    let after = i < b.len() && is_word_byte(b[i]);
    before != after
}

/// End of the `[A-Z][a-z]{2,}` word starting at `i` (maximal lowercase run), if any.
fn cap_word_end(b: &[u8], i: usize) -> Option<usize> {
    if !b.get(i).is_some_and(u8::is_ascii_uppercase) {
        return None;
    }
    let mut j = i + 1;
    while j < b.len() && b[j].is_ascii_lowercase() {
        j += 1;
    }
    (j - i > 2).then_some(j)
}

/// Start of the `[A-Z][a-z]{2,}` word ending (maximal lowercase run) at `end`, if any.
fn cap_word_start(b: &[u8], end: usize) -> Option<usize> {
    let mut j = end;
    while j > 0 && b[j - 1].is_ascii_lowercase() {
        j -= 1;
    }
    (end - j >= 2 && j > 0 && b[j - 1].is_ascii_uppercase()).then(|| j - 1)
}

/// (start, end, index in `FAMILIES`) of an "<Adjective> <Family>" match.
type FamilyMatch = (usize, usize, usize);

/// The matches, in order, that `(?-u:\b)([A-Z][a-z]{2,}) (<family>)(?-u:\b)` (kind 0,
/// with the family index) and `(?-u:\b)(Earth|Water|Void) ([A-Z][a-z]{2,})(?-u:\b)`
/// (kind 1) would find with `find_iter`: found from their literal words, so text
/// without any of them costs one literal scan.
fn two_word_matches(p: &Patterns, text: &str) -> (Vec<FamilyMatch>, Vec<(usize, usize)>) {
    let b = text.as_bytes();
    let mut fam: Vec<FamilyMatch> = Vec::new();
    let mut trend: Vec<(usize, usize)> = Vec::new();
    // Every word starts with its only capital and none is a prefix of another, so
    // occurrences cannot overlap and the plain (non-overlapping) search sees them all.
    for m in p.words.find_iter(text) {
        let (s, e, id) = (m.start(), m.end(), m.pattern().as_usize());
        if id < FAMILIES.len() {
            // "<Adjective> <Family>": one space, then a capitalised word before it.
            if !boundary(b, e) || s < 2 || b[s - 1] != b' ' {
                continue;
            }
            let Some(a) = cap_word_start(b, s - 1) else {
                continue;
            };
            if !boundary(b, a) {
                continue;
            }
            if fam.last().is_none_or(|&(_, le, _)| le <= a) {
                fam.push((a, e, id));
            }
        } else {
            // "<Earth|Water|Void> <Name>".
            if !boundary(b, s) || b.get(e) != Some(&b' ') {
                continue;
            }
            let Some(ne) = cap_word_end(b, e + 1) else {
                continue;
            };
            if !boundary(b, ne) {
                continue;
            }
            if trend.last().is_none_or(|&(_, le)| le <= s) {
                trend.push((s, ne));
            }
        }
    }
    (fam, trend)
}

fn code_scheme(prefix: &str) -> (&'static str, Option<&'static str>) {
    match prefix {
        "UNC" | "APT" | "FIN" => (
            "Mandiant",
            if prefix == "FIN" { Some("crime") } else { None },
        ),
        "Storm" | "DEV" => ("Microsoft", Some("dev")),
        "TA" => ("Proofpoint", None),
        "CL" | "TGR" => ("Unit 42", None),
        "APT-C" => ("Qihoo 360", None),
        "TAG" => ("Recorded Future", None),
        "UAC" => ("CERT-UA", None),
        _ => ("vendor", None),
    }
}

/// Whether most words of four letters or more start with a capital.
fn is_title_case(text: &str) -> bool {
    let words: Vec<&str> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 4)
        .collect();
    let caps = words
        .iter()
        .filter(|w| w.chars().next().is_some_and(char::is_uppercase))
        .count();
    words.len() >= 3 && caps * 10 >= words.len() * 6
}

/// Every designation in `text`, in order.
pub fn find(text: &str) -> Vec<Designation> {
    let p = patterns();
    let mut out = Vec::new();
    for c in p.codes.captures_iter(text) {
        let Some(m) = c.get(0) else { continue };
        let parts: Vec<&str> = c.iter().skip(1).flatten().map(|g| g.as_str()).collect();
        let (name, prefix) = match parts.as_slice() {
            ["UNC", n] => (format!("UNC{n}"), "UNC"),
            ["Storm", n] => (format!("Storm-{n}"), "Storm"),
            ["DEV", n] => (format!("DEV-{n}"), "DEV"),
            ["TA", n] => (format!("TA{n}"), "TA"),
            ["CL", k, n] => (format!("CL-{k}-{n}"), "CL"),
            ["TGR", k, n] => (format!("TGR-{k}-{n}"), "TGR"),
            ["APT", "C", n] => (format!("APT-C-{n}"), "APT-C"),
            ["APT", n] => (format!("APT{n}"), "APT"),
            ["FIN", n] => (format!("FIN{n}"), "FIN"),
            ["TAG", n] => (format!("TAG-{n}"), "TAG"),
            ["UAC", n] => (format!("UAC-{n}"), "UAC"),
            _ => continue,
        };
        let (scheme, mut nexus) = code_scheme(prefix);
        if let ["CL" | "TGR", kind, _] = parts.as_slice() {
            nexus = match *kind {
                "CRI" => Some("crime"),
                _ => None,
            };
        }
        out.push(Designation {
            start: m.start(),
            end: m.end(),
            name,
            scheme,
            nexus,
        });
    }
    // In a Title Case headline every word is capitalised, so "<Adjective> <Family>" is
    // no evidence of a name there; known names are matched by the catalog anyway.
    // Only when a two-word pattern is present is the Title Case check worth its cost.
    let (fam, trend) = two_word_matches(p, text);
    if fam.is_empty() && trend.is_empty() {
        out.sort_by_key(|d| (d.start, std::cmp::Reverse(d.end)));
        return out;
    }
    let title_case = {
        let mut rest = text.to_string();
        let ranges = fam
            .iter()
            .map(|&(s, e, _)| (s, e))
            .chain(trend.iter().copied());
        for (s, e) in ranges {
            rest.replace_range(s..e, &" ".repeat(e - s));
        }
        is_title_case(&rest)
    };
    if !title_case {
        for &(s, e, id) in &fam {
            let whole = &text[s..e];
            let fam_word = FAMILIES[id].0;
            let adj = &whole[..whole.len() - fam_word.len() - 1];
            if NOT_ADJECTIVES.contains(&adj) {
                continue;
            }
            let (_, scheme, nexus) = FAMILIES[id];
            out.push(Designation {
                start: s,
                end: e,
                name: whole.to_string(),
                scheme,
                nexus: Some(nexus),
            });
        }
        for &(s, e) in &trend {
            let whole = &text[s..e];
            let Some((_, name)) = whole.split_once(' ') else {
                continue;
            };
            if NOT_NAMES.contains(&name) {
                continue;
            }
            out.push(Designation {
                start: s,
                end: e,
                name: whole.to_string(),
                scheme: "Trend Micro",
                nexus: None,
            });
        }
    }
    out.sort_by_key(|d| (d.start, std::cmp::Reverse(d.end)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expect: &[&str]) {
        let got: Vec<String> = find(text)
            .iter()
            .map(|d| format!("{} [{}]", d.name, d.note()))
            .collect();
        assert_eq!(got, expect, "in {text:?}");
    }

    #[test]
    fn codes() {
        check(
            "UNC5221 and Storm-0558 hit; TA577 too",
            &[
                "UNC5221 [not in the catalog; Mandiant naming scheme]",
                "Storm-0558 [not in the catalog; Microsoft naming scheme (cluster in development)]",
                "TA577 [not in the catalog; Proofpoint naming scheme]",
            ],
        );
        check(
            "CL-STA-1009 and APT-C-60 and DEV-0537",
            &[
                "CL-STA-1009 [not in the catalog; Unit 42 naming scheme]",
                "APT-C-60 [not in the catalog; Qihoo 360 naming scheme]",
                "DEV-0537 [not in the catalog; Microsoft naming scheme (cluster in development)]",
            ],
        );
    }

    /// The literal-first search finds exactly what the two regexes would.
    #[test]
    fn two_word_matches_agree_with_regexes() {
        let fam = FAMILIES
            .iter()
            .map(|(w, _, _)| *w)
            .collect::<Vec<_>>()
            .join("|");
        let (Ok(families), Ok(trend)) = (
            Regex::new(&format!(r"(?-u:\b)([A-Z][a-z]{{2,}}) ({fam})(?-u:\b)")),
            Regex::new(r"(?-u:\b)(Earth|Water|Void) ([A-Z][a-z]{2,})(?-u:\b)"),
        ) else {
            panic!("test regexes");
        };
        let pieces = [
            "Salty", " ", "Panda", "Bear", "Earth", "Water", "Void", "Kr", "ahang", "x", "_", "9",
            "\u{e9}", "-", "Ab", "Typhoon", "s", "Tiger", "SPanda", ",", "  ",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            let mut text = String::new();
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let n = (seed % 9) as usize;
            for _ in 0..n {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                text.push_str(pieces[(seed % pieces.len() as u64) as usize]);
            }
            let (f, t) = two_word_matches(patterns(), &text);
            let want_f: Vec<(usize, usize)> = families
                .find_iter(&text)
                .map(|m| (m.start(), m.end()))
                .collect();
            let want_t: Vec<(usize, usize)> = trend
                .find_iter(&text)
                .map(|m| (m.start(), m.end()))
                .collect();
            let got_f: Vec<(usize, usize)> = f.iter().map(|&(s, e, _)| (s, e)).collect();
            assert_eq!(got_f, want_f, "families in {text:?}");
            assert_eq!(t, want_t, "trend in {text:?}");
        }
    }

    #[test]
    fn families_and_traps() {
        check(
            "Salty Panda and Velvet Typhoon",
            &[
                "Salty Panda [not in the catalog; CrowdStrike naming scheme (China-nexus)]",
                "Velvet Typhoon [not in the catalog; Microsoft naming scheme (China-nexus)]",
            ],
        );
        check("a giant panda, a Giant Panda, Super Typhoon Haiyan", &[]);
        check("Water Utilities targeted; Earth Day", &[]);
        check(
            "Earth Krahang",
            &["Earth Krahang [not in the catalog; Trend Micro naming scheme]"],
        );
        check("funicular TA5772x, STORM-1 storm-0558", &[]);
        check("North Korean Hackers Flood npm Registry With Malware", &[]);
        check("Hackers Target Velvet Typhoon Victims In New Campaign", &[]);
    }
}
