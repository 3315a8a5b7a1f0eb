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

/// The folded token(s) right after `end` and right before `start` in folded text.
fn next_words(text: &str, end: usize, n: usize) -> Vec<String> {
    let rest = text.get(end..).unwrap_or("");
    let rest = rest.trim_start_matches(|c: char| !c.is_alphanumeric());
    let words: Vec<&str> = rest
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(n)
        .collect();
    (1..=words.len()).map(|k| words[..k].join(" ")).collect()
}

fn prev_words(text: &str, start: usize, n: usize) -> Vec<String> {
    let head = text.get(..start).unwrap_or("");
    let mut words: Vec<&str> = head
        .rsplit(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(n)
        .collect();
    words.reverse();
    (0..words.len()).map(|k| words[k..].join(" ")).collect()
}

/// Whether an actor qualifier stands right next to folded span `start..end`.
pub fn has_actor_qualifier(folded: &str, start: usize, end: usize) -> bool {
    next_words(folded, end, 2)
        .iter()
        .any(|w| AFTER.contains(&w.as_str()))
        || prev_words(folded, start, 2)
            .iter()
            .any(|w| BEFORE.contains(&w.as_str()))
}

/// Whether one of `origin_terms` (folded country names and demonyms of the actor's
/// suspected origin) stands right before the span: "North Korean Lazarus".
pub fn has_origin_before(folded: &str, start: usize, origin_terms: &[String]) -> bool {
    prev_words(folded, start, 3).iter().any(|w| {
        let w = w.strip_suffix(" s").unwrap_or(w);
        origin_terms.iter().any(|t| t == w)
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
