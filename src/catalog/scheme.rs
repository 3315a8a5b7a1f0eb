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
    /// `0..FAMILIES.len()`) and the Trend Micro first words after them; then the
    /// prefixes every code designation starts with (`CODE_PREFIXES`).
    words: AhoCorasick,
}

/// First words of the Trend Micro scheme.
const TREND: &[&str] = &["Earth", "Water", "Void"];

/// What every match of the `codes` regex starts with ("TAG" starts with "TA"): text
/// without any of them needs no regex search.
const CODE_PREFIXES: &[&str] = &[
    "UNC", "Storm", "DEV", "TA", "CL", "TGR", "APT", "FIN", "UAC",
];

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| {
        let words = FAMILIES
            .iter()
            .map(|(w, _, _)| *w)
            .chain(TREND.iter().copied())
            .chain(CODE_PREFIXES.iter().copied());
        // Built from constants: a failure here is a programming error caught by tests.
        // ASCII word boundaries keep the regex on the fast DFA engines; designations
        // are ASCII.
        #[allow(clippy::expect_used)]
        Patterns {
            codes: Regex::new(
                r"(?-u:\b)(?:(UNC)[ -]?(\d{3,5})|(Storm)[ -](\d{3,4})|(DEV)[ -](\d{4})|(TA)(\d{3,4})|(CL)-(STA|CRI|UNK|MOT)-(\d{3,5})|(TGR)-(STA|CRI|UNK)-(\d{3,5})|(APT)-(C)-(\d{2,3})|(APT) ?(\d{1,3})|(FIN)(\d{1,2})|(TAG)-(\d{2,3})|(UAC)-(\d{4}))(?-u:\b)",
            )
            .expect("designation code pattern"),
            // Leftmost-first finds the occurrences that matter here (see
            // `word_matches`) and, unlike standard semantics, lets the automaton
            // use a vectorised literal prefilter.
            words: AhoCorasickBuilder::new()
                .match_kind(MatchKind::LeftmostFirst)
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

/// Whether a match of the `codes` regex can start at code prefix `prefix`, found at
/// `s..e` of `b`: after a `(?-u:\b)`, and followed by what the regex needs next there
/// (a digit may be any Unicode digit, so any non-ASCII byte may start one).
fn code_can_start(b: &[u8], s: usize, e: usize, prefix: &str) -> bool {
    let digit = |x: u8| x.is_ascii_digit() || !x.is_ascii();
    let next_ok = |x: u8| match prefix {
        "UNC" | "APT" => matches!(x, b' ' | b'-') || digit(x),
        "Storm" | "DEV" => matches!(x, b' ' | b'-'),
        "TA" => x == b'G' || digit(x),
        "CL" | "TGR" | "UAC" => x == b'-',
        "FIN" => digit(x),
        _ => true,
    };
    (s == 0 || !is_word_byte(b[s - 1])) && b.get(e).is_some_and(|&x| next_ok(x))
}

/// The literal-word matches of one text.
struct WordMatches {
    /// (start, end, index in `FAMILIES`) of each "<Adjective> <Family>".
    families: Vec<FamilyMatch>,
    /// (start, end) of each "<Earth|Water|Void> <Name>".
    trend: Vec<(usize, usize)>,
    /// Whether a code designation's prefix occurs (else `codes` cannot match).
    code_prefix: bool,
}

/// The matches, in order, that `(?-u:\b)([A-Z][a-z]{2,}) (<family>)(?-u:\b)` (with the
/// family index) and `(?-u:\b)(Earth|Water|Void) ([A-Z][a-z]{2,})(?-u:\b)` would find
/// with `find_iter`, and whether a code prefix occurs: found from their literal words in
/// one scan, so text without any of them costs one literal scan.
fn word_matches(p: &Patterns, text: &str) -> WordMatches {
    let b = text.as_bytes();
    let mut fam: Vec<FamilyMatch> = Vec::new();
    let mut trend: Vec<(usize, usize)> = Vec::new();
    let mut code_prefix = false;
    let codes_from = FAMILIES.len() + TREND.len();
    // No word is a prefix of another, family and Trend words hold only their first
    // capital and code prefixes only letters (`literal_words_cannot_hide_each_other`).
    // So a word the non-overlapping search skips starts inside a code prefix it reports:
    // after a letter, where neither scheme can start. And a code prefix it skips starts
    // inside another code prefix, which already says that one occurs.
    for m in p.words.find_iter(text) {
        let (s, e, id) = (m.start(), m.end(), m.pattern().as_usize());
        if id >= codes_from {
            code_prefix |= code_can_start(b, s, e, CODE_PREFIXES[id - codes_from]);
        } else if id < FAMILIES.len() {
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
    WordMatches {
        families: fam,
        trend,
        code_prefix,
    }
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

/// Whether most words of four letters or more start with a capital, in `text` with the
/// byte ranges `blank` (on character boundaries, sorted by start, possibly overlapping)
/// read as spaces.
fn is_title_case(text: &str, blank: &[(usize, usize)]) -> bool {
    /// Words of four characters or more, and how many of them start with a capital.
    #[derive(Default)]
    struct Count {
        words: usize,
        caps: usize,
        /// The word being read: its length in characters, whether it starts with one.
        len: usize,
        capital: bool,
    }
    impl Count {
        fn char(&mut self, word: bool, upper: bool) {
            if word {
                if self.len == 0 {
                    self.capital = upper;
                }
                self.len += 1;
            } else {
                self.end_word();
            }
        }
        fn end_word(&mut self) {
            if self.len >= 4 {
                self.words += 1;
                self.caps += usize::from(self.capital);
            }
            self.len = 0;
        }
    }
    let mut count = Count::default();
    // The text between blanked ranges, each read on its own: a range ends a word.
    let mut from = 0;
    let gaps = blank
        .iter()
        .filter(|&&(s, e)| s < e)
        .copied()
        .chain([(text.len(), text.len())]);
    for (s, e) in gaps {
        if s > from {
            let gap = &text[from..s];
            let mut rest = gap.as_bytes();
            while let Some((&x, tail)) = rest.split_first() {
                if x.is_ascii() {
                    count.char(x.is_ascii_alphanumeric(), x.is_ascii_uppercase());
                    rest = tail;
                } else {
                    let at = gap.len() - rest.len();
                    let c = gap[at..].chars().next().unwrap_or(' ');
                    count.char(c.is_alphanumeric(), c.is_uppercase());
                    rest = &rest[c.len_utf8()..];
                }
            }
        }
        count.end_word();
        from = from.max(e);
    }
    count.words >= 3 && count.caps * 10 >= count.words * 6
}

/// `name` (trimmed) when it is, as a whole, a vendor designation ("UNC1234",
/// "Velvet Typhoon"), not merely containing one.
pub fn whole(name: &str) -> Option<Designation> {
    let name = name.trim();
    find(name)
        .into_iter()
        .next()
        .filter(|d| d.start == 0 && d.end == name.len())
}

/// Every designation in `text`, in order.
pub fn find(text: &str) -> Vec<Designation> {
    find_except(text, |_, _| false)
}

/// Every designation in `text` whose byte range `start..end` is not `taken`, in order:
/// `find` without those. The Title Case check below is skipped when only taken names
/// (a catalog's hits, say) could depend on it.
pub fn find_except(text: &str, taken: impl Fn(usize, usize) -> bool) -> Vec<Designation> {
    let p = patterns();
    let mut out = Vec::new();
    let words = word_matches(p, text);
    let codes = words.code_prefix.then(|| p.codes.captures_iter(text));
    for c in codes.into_iter().flatten() {
        let Some(m) = c.get(0) else { continue };
        if taken(m.start(), m.end()) {
            continue;
        }
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
    // Only when a two-word pattern could be reported is the Title Case check worth its
    // cost (it still reads every two-word pattern as blank).
    let (fam, trend) = (words.families, words.trend);
    let family = |&(s, e, id): &FamilyMatch| {
        let whole = &text[s..e];
        let adj = &whole[..whole.len() - FAMILIES[id].0.len() - 1];
        (!taken(s, e) && !NOT_ADJECTIVES.contains(&adj)).then(|| {
            let (_, scheme, nexus) = FAMILIES[id];
            Designation {
                start: s,
                end: e,
                name: whole.to_string(),
                scheme,
                nexus: Some(nexus),
            }
        })
    };
    let trend_micro = |&(s, e): &(usize, usize)| {
        let whole = &text[s..e];
        let (_, name) = whole.split_once(' ')?;
        (!taken(s, e) && !NOT_NAMES.contains(&name)).then(|| Designation {
            start: s,
            end: e,
            name: whole.to_string(),
            scheme: "Trend Micro",
            nexus: None,
        })
    };
    let two_word: Vec<Designation> = fam
        .iter()
        .filter_map(family)
        .chain(trend.iter().filter_map(trend_micro))
        .collect();
    if !two_word.is_empty() {
        let mut blank: Vec<(usize, usize)> = fam
            .iter()
            .map(|&(s, e, _)| (s, e))
            .chain(trend.iter().copied())
            .collect();
        blank.sort_unstable();
        if !is_title_case(text, &blank) {
            out.extend(two_word);
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

    /// What `word_matches` relies on to search all its literals in one non-overlapping
    /// scan, and that every code designation starts with a code prefix.
    #[test]
    fn literal_words_cannot_hide_each_other() {
        let words: Vec<&str> = FAMILIES
            .iter()
            .map(|(w, _, _)| *w)
            .chain(TREND.iter().copied())
            .collect();
        let all: Vec<&str> = words.iter().chain(CODE_PREFIXES).copied().collect();
        for a in &all {
            for b in &all {
                assert!(a == b || !b.starts_with(a), "{a} is a prefix of {b}");
            }
        }
        for w in &words {
            let caps: Vec<usize> = w
                .char_indices()
                .filter(|(_, c)| !c.is_ascii_lowercase())
                .map(|(i, _)| i)
                .collect();
            assert_eq!(caps, [0], "{w}");
        }
        for c in CODE_PREFIXES {
            assert!(c.bytes().all(|b| b.is_ascii_alphabetic()), "{c}");
        }
        // Every alternative of the code regex starts with one of the prefixes.
        let alternatives = patterns().codes.as_str().matches("|(").count() + 1;
        let listed = [
            "UNC", "Storm", "DEV", "TA", "CL", "TGR", "APT", "APT", "FIN", "TAG", "UAC",
        ];
        assert_eq!(alternatives, listed.len());
        for l in listed {
            assert!(patterns().codes.as_str().contains(&format!("({l})")), "{l}");
            assert!(CODE_PREFIXES.iter().any(|c| l.starts_with(c)), "{l}");
        }
    }

    /// The literal-first search finds exactly what the two regexes would, and says a
    /// code prefix occurs whenever the code regex can match.
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
            "Salty",
            " ",
            "Panda",
            "Bear",
            "Earth",
            "Water",
            "Void",
            "Kr",
            "ahang",
            "x",
            "_",
            "9",
            "\u{e9}",
            "-",
            "Ab",
            "Typhoon",
            "s",
            "Tiger",
            "SPanda",
            ",",
            "  ",
            "UNC",
            "Storm",
            "DEV",
            "TA",
            "TAG",
            "CL",
            "TGR",
            "APT",
            "FIN",
            "UAC",
            "1234",
            "\u{663}",
            "C",
            "STA",
            "Chollima",
            "Sandstorm",
            "Taurus",
            "G",
            "-C-",
            "7",
            "CRI",
            "STA-",
            "\u{ff13}",
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
            let WordMatches {
                families: f,
                trend: t,
                code_prefix,
            } = word_matches(patterns(), &text);
            if !code_prefix {
                assert_eq!(patterns().codes.find(&text), None, "codes in {text:?}");
            }
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

    /// The title-case check reads blanked ranges as spaces without building the text.
    #[test]
    fn title_case_agrees_with_blanking_the_text() {
        fn reference(text: &str, blank: &[(usize, usize)]) -> bool {
            let mut rest = text.to_string();
            for &(s, e) in blank {
                rest.replace_range(s..e, &" ".repeat(e - s));
            }
            let words: Vec<&str> = rest
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| w.chars().count() >= 4)
                .collect();
            let caps = words
                .iter()
                .filter(|w| w.chars().next().is_some_and(char::is_uppercase))
                .count();
            words.len() >= 3 && caps * 10 >= words.len() * 6
        }
        let pieces = [
            "Hackers",
            "Target",
            "velvet",
            "Typhoon",
            " ",
            "  ",
            "-",
            "In",
            "New",
            "campaign",
            "\u{c9}cole",
            "\u{e9}t\u{e9}s",
            "\u{130}stanbul",
            "\u{2019}",
            "Ab12",
            "1234",
            ",",
            "x",
        ];
        let mut next = crate::test_rng(0x5851_f42d_4c95_7f2d);
        for _ in 0..20_000 {
            let text = crate::test_text(&mut next, &pieces, 12);
            // Ranges on character boundaries, possibly overlapping, in any order.
            let cuts: Vec<usize> = (0..=text.len())
                .filter(|&i| text.is_char_boundary(i))
                .collect();
            let mut blank: Vec<(usize, usize)> = (0..next() % 4)
                .map(|_| {
                    let a = cuts[(next() % cuts.len() as u64) as usize];
                    let b = cuts[(next() % cuts.len() as u64) as usize];
                    (a.min(b), a.max(b))
                })
                .collect();
            blank.sort_unstable();
            assert_eq!(
                is_title_case(&text, &blank),
                reference(&text, &blank),
                "{text:?} {blank:?}"
            );
        }
    }

    /// Text the code regex matches always raises the code-prefix flag: every
    /// alternative, with ASCII and other Unicode digits, in every context.
    #[test]
    fn code_prefix_flags_every_code() {
        let samples = [
            "UNC1234",
            "UNC 123",
            "UNC-12345",
            "UNC\u{661}\u{662}\u{663}",
            "Storm-0558",
            "Storm 0558",
            "Storm-\u{ff10}\u{ff15}\u{ff15}",
            "DEV-0537",
            "DEV 0537",
            "TA577",
            "TA\u{665}\u{667}\u{667}",
            "TAG-123",
            "TAG-12",
            "CL-STA-1009",
            "CL-CRI-123",
            "CL-UNK-12345",
            "CL-MOT-555",
            "TGR-STA-123",
            "TGR-CRI-1234",
            "TGR-UNK-55555",
            "APT-C-60",
            "APT-C-123",
            "APT 27",
            "APT27",
            "APT1",
            "APT\u{662}\u{667}",
            "FIN7",
            "FIN12",
            "FIN\u{667}",
            "UAC-0001",
        ];
        let before = ["", " ", "(", "x ", "\u{e9} ", "-", "_"];
        let after = ["", " ", ".", "x", ")", "\u{e9}", "-1"];
        let mut matched = 0;
        for sample in samples {
            for b in before {
                for a in after {
                    let text = format!("{b}{sample}{a}");
                    if patterns().codes.find(&text).is_some() {
                        matched += 1;
                        assert!(word_matches(patterns(), &text).code_prefix, "{text:?}");
                    }
                }
            }
        }
        // Most of these are designations (some contexts, like "x" after, are not).
        assert!(matched > samples.len() * 20, "{matched}");
        // And random mixes of code fragments.
        let pieces = [
            "UNC", "Storm", "DEV", "TA", "TAG", "CL", "TGR", "APT", "FIN", "UAC", "-", " ", "C",
            "STA", "CRI", "12", "3", "\u{663}", "G", "x", "_", "(",
        ];
        let mut next = crate::test_rng(0xd1b5_4a32_d192_ed03);
        for _ in 0..50_000 {
            let text = crate::test_text(&mut next, &pieces, 7);
            if !word_matches(patterns(), &text).code_prefix {
                assert_eq!(patterns().codes.find(&text), None, "{text:?}");
            }
        }
    }

    /// `find_except` is `find` without the taken ranges.
    #[test]
    fn find_except_drops_taken_ranges() {
        let pieces = [
            "Salty Panda",
            "Velvet Typhoon",
            "Earth Krahang",
            "UNC5221",
            "Storm-0558",
            " and ",
            "Hackers Target ",
            "Giant Panda",
            "Water Utilities",
            ", ",
            "APT 27",
            "Campaign",
        ];
        let mut next = crate::test_rng(0x1405_7b7e_f767_814f);
        for _ in 0..5_000 {
            let text = crate::test_text(&mut next, &pieces, 8);
            let all = find(&text);
            let (a, b) = ((next() % 60) as usize, (next() % 60) as usize);
            let taken = |s: usize, e: usize| s < a.max(b) && a.min(b) < e;
            let want: Vec<Designation> =
                all.into_iter().filter(|d| !taken(d.start, d.end)).collect();
            assert_eq!(find_except(&text, taken), want, "{text:?} {a} {b}");
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
