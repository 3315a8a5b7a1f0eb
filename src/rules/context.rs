//! Context for weak terms: the words around a hit that make an ordinary word mean an
//! actor ("the Lazarus group", "Play ransomware", "Russian Sandworm hackers").

/// Words right after a weak actor alias that make it the actor.
const AFTER: &[&str] = &[
    "group",
    "groups",
    "gang",
    "gangs",
    "hackers",
    "hacker",
    "hacking",
    "apt",
    "actor",
    "actors",
    "threat",
    "crew",
    "ransomware",
    "operators",
    "operator",
    "affiliate",
    "affiliates",
    "cluster",
    "team",
    "campaign",
    "campaigns",
    "cybergang",
    "collective",
    "espionage",
    "intrusion",
    "intrusions",
    "attackers",
    "operatives",
    "syndicate",
    "extortion",
    "malware",
    "backdoor",
    "attacks",
    "attack",
    "threat actor",
    "apt group",
    "ransomware gang",
    "ransomware group",
];

/// Words right before a weak actor alias that make it the actor.
const BEFORE: &[&str] = &[
    "group",
    "gang",
    "actor",
    "actors",
    "apt",
    "hackers",
    "ransomware",
    "threat actor",
    "threat group",
    "hacking group",
    "apt group",
    "ransomware gang",
    "ransomware group",
    "cybercrime group",
    "espionage group",
    "state sponsored",
    "state backed",
    "nation state",
    "dubbed",
    "tracked as",
    "known as",
    "aka",
    "a k a",
    "alias",
    "attributed to",
];

fn is_gap(c: char) -> bool {
    !c.is_alphanumeric()
}

/// Up to `N` folded words right after `end`, in order.
fn next_words<const N: usize>(text: &str, end: usize) -> ([&str; N], usize) {
    let rest = text.get(end..).unwrap_or("");
    let mut out = [""; N];
    let mut n = 0;
    for w in rest.split(is_gap).filter(|w| !w.is_empty()).take(N) {
        out[n] = w;
        n += 1;
    }
    (out, n)
}

/// Up to `N` folded words right before `start`, in text order.
fn prev_words<const N: usize>(text: &str, start: usize) -> ([&str; N], usize) {
    let head = text.get(..start).unwrap_or("");
    let mut out = [""; N];
    let mut n = 0;
    for w in head.rsplit(is_gap).filter(|w| !w.is_empty()).take(N) {
        out[n] = w;
        n += 1;
    }
    out[..n].reverse();
    (out, n)
}

/// Whether `phrase` is exactly `words` joined by single spaces.
fn is_phrase(phrase: &str, words: &[&str]) -> bool {
    // The length settles most comparisons before any splitting.
    let len = words.iter().map(|w| w.len()).sum::<usize>() + words.len().saturating_sub(1);
    if phrase.len() != len {
        return false;
    }
    let mut parts = phrase.split(' ');
    words.iter().all(|w| parts.next() == Some(*w)) && parts.next().is_none()
}

/// Whether an actor qualifier stands right next to folded span `start..end`.
pub fn has_actor_qualifier(folded: &str, start: usize, end: usize) -> bool {
    // The phrases of one or two words after it, and of the last two or one before it.
    let (next, n) = next_words::<2>(folded, end);
    if (1..=n).any(|k| AFTER.iter().any(|p| is_phrase(p, &next[..k]))) {
        return true;
    }
    let (prev, n) = prev_words::<2>(folded, start);
    (0..n).any(|k| BEFORE.iter().any(|p| is_phrase(p, &prev[k..n])))
}

/// Whether one of `origin_terms` (folded country names and demonyms of the actor's
/// suspected origin) stands right before the span: "North Korean Lazarus".
pub fn has_origin_before(folded: &str, start: usize, origin_terms: &[String]) -> bool {
    let (prev, n) = prev_words::<3>(folded, start);
    (0..n).any(|k| {
        let mut w = &prev[k..n];
        // A trailing possessive "s" ("north korea's") is not part of the name.
        if w.len() >= 2 && w.last() == Some(&"s") {
            w = &w[..w.len() - 1];
        }
        origin_terms.iter().any(|t| is_phrase(t, w))
    })
}

/// Whether `written` is in capitals as the catalog writes the name (GALLIUM) while the
/// words around it are not: a Microsoft-style designation, not a shouted headline.
pub fn is_designation_caps(original: &str, start: usize, end: usize, term: &str) -> bool {
    let written = &original[start..end];
    let caps = |s: &str| s.chars().any(char::is_alphabetic) && !s.chars().any(char::is_lowercase);
    if !caps(written) || !caps(term) {
        return false;
    }
    // A dozen letters either side tell a designation from a shouted headline.
    let lower_near = |chars: &mut dyn Iterator<Item = char>| {
        chars
            .filter(|c| c.is_alphabetic())
            .take(12)
            .any(char::is_lowercase)
    };
    lower_near(&mut original[..start].chars().rev()) || lower_near(&mut original[end..].chars())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualifiers() {
        let t = "the lazarus group struck";
        let s = t.find("lazarus").unwrap_or(0);
        assert!(has_actor_qualifier(t, s, s + 7));
        let t = "saint lazarus church";
        let s = t.find("lazarus").unwrap_or(0);
        assert!(!has_actor_qualifier(t, s, s + 7));
        let t = "threat actor gallium";
        assert!(has_actor_qualifier(t, 13, 20));
    }

    #[test]
    fn origin_before() {
        let t = "north korea's lazarus";
        let s = t.find("lazarus").unwrap_or(0);
        assert!(has_origin_before(t, s, &["north korea".into()]));
        let t = "north korean lazarus";
        assert!(has_origin_before(t, 13, &["north korean".into()]));
    }

    /// The allocating originals the word-window checks must agree with.
    fn ref_next(text: &str, end: usize, n: usize) -> Vec<String> {
        let rest = text.get(end..).unwrap_or("");
        let rest = rest.trim_start_matches(|c: char| !c.is_alphanumeric());
        let words: Vec<&str> = rest
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .take(n)
            .collect();
        (1..=words.len()).map(|k| words[..k].join(" ")).collect()
    }

    fn ref_prev(text: &str, start: usize, n: usize) -> Vec<String> {
        let head = text.get(..start).unwrap_or("");
        let mut words: Vec<&str> = head
            .rsplit(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .take(n)
            .collect();
        words.reverse();
        (0..words.len()).map(|k| words[k..].join(" ")).collect()
    }

    #[test]
    fn windows_agree_with_reference() {
        let pieces = [
            "threat",
            "actor",
            "group",
            "apt",
            "a",
            "k",
            "s",
            " ",
            "  ",
            "'",
            "-",
            "north",
            "korea",
            "korean",
            "x",
            "\u{e9}",
            "ransomware",
            "gang",
        ];
        let origins: Vec<String> = vec!["north korea".into(), "korean".into(), "s".into()];
        let mut next = crate::test_rng(0x2545_f491_4f6c_dd1d);
        for _ in 0..20_000 {
            let n = (next() % 8) as usize;
            let mut text = String::new();
            for _ in 0..n {
                text.push_str(pieces[(next() % pieces.len() as u64) as usize]);
                if next() % 2 == 0 {
                    text.push(' ');
                }
            }
            let cuts: Vec<usize> = (0..=text.len())
                .filter(|&i| text.is_char_boundary(i))
                .collect();
            let a = cuts[(next() % cuts.len() as u64) as usize];
            let b = cuts[(next() % cuts.len() as u64) as usize];
            let (s, e) = (a.min(b), a.max(b));
            let want_q = ref_next(&text, e, 2)
                .iter()
                .any(|w| AFTER.contains(&w.as_str()))
                || ref_prev(&text, s, 2)
                    .iter()
                    .any(|w| BEFORE.contains(&w.as_str()));
            assert_eq!(
                has_actor_qualifier(&text, s, e),
                want_q,
                "{text:?} {s}..{e}"
            );
            let want_o = ref_prev(&text, s, 3).iter().any(|w| {
                let w = w.strip_suffix(" s").unwrap_or(w);
                origins.iter().any(|t| t == w)
            });
            assert_eq!(
                has_origin_before(&text, s, &origins),
                want_o,
                "{text:?} {s}"
            );
        }
    }

    #[test]
    fn caps() {
        let s = "Microsoft tracks GALLIUM as";
        assert!(is_designation_caps(s, 17, 24, "GALLIUM"));
        let s = "GALLIUM PRICES SURGE";
        assert!(!is_designation_caps(s, 0, 7, "GALLIUM"));
        let s = "gallium arsenide";
        assert!(!is_designation_caps(s, 0, 7, "GALLIUM"));
    }
}
