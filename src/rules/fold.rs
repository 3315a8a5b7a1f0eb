//! Text folding: the one normal form both terms and article text are matched in.
//!
//! Folding lower-cases (Unicode), applies NFKC to non-ASCII characters, turns curly
//! quotes straight, and collapses every run of separators (spaces, hyphens, dashes,
//! underscores, line breaks) into one space, so `TG-3390`, `TG 3390` and `tg 3390` fold
//! alike. It keeps a map from each folded byte back to the original byte, so a match can
//! be reported exactly as the article wrote it.

use unicode_normalization::UnicodeNormalization;

/// Folded text plus the way back to the original.
#[derive(Debug, Default, Clone)]
pub struct Folded {
    pub text: String,
    /// `map[i]` is the original byte offset of folded byte `i`; one extra entry at the
    /// end holds the original length.
    pub map: Vec<u32>,
}

impl Folded {
    /// Original byte range of folded range `start..end`.
    pub fn original_range(&self, start: usize, end: usize) -> (usize, usize) {
        let s = self.map[start] as usize;
        // End is the original offset just after the last folded byte's character.
        let e = if end == 0 { s } else { self.map[end] as usize };
        (s, e.max(s))
    }
}

fn is_separator(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t' | '\n' | '\r' | '-' | '_' | '\u{a0}' | '\u{2010}'
            ..='\u{2015}' | '\u{2212}' | '\u{200b}' | '\u{2009}' | '\u{202f}' | '\u{3000}'
    )
}

/// Fold `s` for matching. Time is linear in the input; ASCII takes a fast path.
pub fn fold(s: &str) -> Folded {
    let mut text = String::with_capacity(s.len());
    let mut map = Vec::with_capacity(s.len() + 1);
    let mut last_space = true; // trims leading separators
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii() {
            let c = b as char;
            if is_separator(c) {
                if !last_space {
                    text.push(' ');
                    map.push(i as u32);
                    last_space = true;
                }
            } else {
                text.push(b.to_ascii_lowercase() as char);
                map.push(i as u32);
                last_space = false;
            }
            i += 1;
            continue;
        }
        // Non-ASCII: decode one char.
        let ch = s[i..].chars().next().unwrap_or('\u{fffd}');
        let len = ch.len_utf8();
        if is_separator(ch) {
            if !last_space {
                text.push(' ');
                map.push(i as u32);
                last_space = true;
            }
        } else {
            match ch {
                '\u{2018}' | '\u{2019}' | '\u{201b}' | '\u{2032}' => {
                    text.push('\'');
                    map.push(i as u32);
                }
                '\u{201c}' | '\u{201d}' | '\u{201f}' | '\u{2033}' => {
                    text.push('"');
                    map.push(i as u32);
                }
                _ => {
                    for n in std::iter::once(ch).nfkc() {
                        for l in n.to_lowercase() {
                            let before = text.len();
                            text.push(l);
                            for _ in before..text.len() {
                                map.push(i as u32);
                            }
                        }
                    }
                }
            }
            last_space = false;
        }
        i += len;
    }
    map.push(s.len() as u32);
    Folded { text, map }
}

/// Fold a term (catalog name or alias) the same way, without the map.
pub fn fold_term(s: &str) -> String {
    fold(s).text.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expect: &str) {
        let f = fold(input);
        assert_eq!(f.text, expect);
        assert_eq!(f.map.len(), f.text.len() + 1);
    }

    #[test]
    fn separators_collapse() {
        check("TG-3390", "tg 3390");
        check("TG \u{2013} 3390", "tg 3390");
        check("  Emissary\n\tPanda ", "emissary panda ");
        check("Lucky_Mouse", "lucky mouse");
    }

    #[test]
    fn unicode_folds() {
        check("T\u{fc}rkiye", "t\u{fc}rkiye");
        check("\u{2019}s", "'s");
        check("\u{ff21}PT27", "apt27"); // full-width A
    }

    #[test]
    fn map_points_back_to_original() {
        let s = "Chinese \u{201c}Emissary Panda\u{201d} hackers";
        let f = fold(s);
        let start = f.text.find("emissary panda").unwrap_or(0);
        let (a, b) = f.original_range(start, start + "emissary panda".len());
        assert_eq!(&s[a..b], "Emissary Panda");
    }
}
