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

/// How each ASCII byte folds: separators to a space, letters to lower case.
const ASCII_FOLD: [u8; 128] = {
    let mut t = [0u8; 128];
    let mut b = 0;
    while b < 128 {
        t[b] = match b as u8 {
            b' ' | b'\t' | b'\n' | b'\r' | b'-' | b'_' => b' ',
            c => c.to_ascii_lowercase(),
        };
        b += 1;
    }
    t
};

/// Length of the ASCII prefix of `b`, eight bytes at a time.
fn ascii_run(b: &[u8]) -> usize {
    let mut n = 0;
    for chunk in b.chunks_exact(8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        if u64::from_le_bytes(w) & 0x8080_8080_8080_8080 != 0 {
            break;
        }
        n += 8;
    }
    n + b[n..]
        .iter()
        .position(|x| !x.is_ascii())
        .unwrap_or(b.len() - n)
}

/// Fold `s` for matching. Time is linear in the input; ASCII takes a fast path.
pub fn fold(s: &str) -> Folded {
    let bytes = s.as_bytes();
    // Built as bytes: ASCII is pushed byte by byte, other characters UTF-8 encoded, so
    // the result is valid UTF-8.
    let mut text: Vec<u8> = Vec::with_capacity(s.len() + 8);
    let mut map: Vec<u32> = Vec::with_capacity(s.len() + 9);
    let mut last_space = true; // trims leading separators
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii() {
            // A run of ASCII: written branch-free into space reserved for the whole run
            // (a separator after a separator is written, then overwritten).
            let run = ascii_run(&bytes[i..]);
            let k0 = text.len();
            text.resize(k0 + run, 0);
            map.resize(k0 + run, 0);
            let mut w = 0;
            let tw = &mut text[k0..];
            let mw = &mut map[k0..];
            for (off, &b) in bytes[i..i + run].iter().enumerate() {
                let out = ASCII_FOLD[usize::from(b & 0x7f)];
                let sep = out == b' ';
                if let (Some(t), Some(m)) = (tw.get_mut(w), mw.get_mut(w)) {
                    *t = out;
                    *m = (i + off) as u32;
                }
                w += usize::from(!(sep && last_space));
                last_space = sep;
            }
            text.truncate(k0 + w);
            map.truncate(k0 + w);
            i += run;
            continue;
        }
        // Non-ASCII: decode one char.
        let ch = s[i..].chars().next().unwrap_or('\u{fffd}');
        let len = ch.len_utf8();
        if is_separator(ch) {
            if !last_space {
                text.push(b' ');
                map.push(i as u32);
                last_space = true;
            }
        } else {
            match ch {
                '\u{2018}' | '\u{2019}' | '\u{201b}' | '\u{2032}' => {
                    text.push(b'\'');
                    map.push(i as u32);
                }
                '\u{201c}' | '\u{201d}' | '\u{201f}' | '\u{2033}' => {
                    text.push(b'"');
                    map.push(i as u32);
                }
                _ => {
                    let mut push = |l: char| {
                        let mut buf = [0u8; 4];
                        let enc = l.encode_utf8(&mut buf).as_bytes();
                        text.extend_from_slice(enc);
                        map.extend(std::iter::repeat_n(i as u32, enc.len()));
                    };
                    let single = std::iter::once(ch);
                    if unicode_normalization::is_nfkc_quick(single.clone())
                        == unicode_normalization::IsNormalized::Yes
                    {
                        // NFKC leaves a character that is already NFKC alone.
                        ch.to_lowercase().for_each(&mut push);
                    } else {
                        for n in single.nfkc() {
                            n.to_lowercase().for_each(&mut push);
                        }
                    }
                }
            }
            last_space = false;
        }
        i += len;
    }
    map.push(s.len() as u32);
    let text = String::from_utf8(text)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
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

    /// The straightforward per-character fold the fast paths must agree with.
    fn reference(s: &str) -> (String, Vec<u32>) {
        let mut text = String::new();
        let mut map = Vec::new();
        let mut last_space = true;
        for (i, ch) in s.char_indices() {
            if is_separator(ch) {
                if !last_space {
                    text.push(' ');
                    map.push(i as u32);
                    last_space = true;
                }
                continue;
            }
            let outs: Vec<char> = match ch {
                '\u{2018}' | '\u{2019}' | '\u{201b}' | '\u{2032}' => vec!['\''],
                '\u{201c}' | '\u{201d}' | '\u{201f}' | '\u{2033}' => vec!['"'],
                _ => std::iter::once(ch)
                    .nfkc()
                    .flat_map(char::to_lowercase)
                    .collect(),
            };
            for l in outs {
                text.push(l);
                map.extend(std::iter::repeat_n(i as u32, l.len_utf8()));
            }
            last_space = false;
        }
        map.push(s.len() as u32);
        (text, map)
    }

    #[test]
    fn fast_paths_agree_with_reference() {
        let mut all = String::new();
        for c in (0u32..0x3_0000).filter_map(char::from_u32) {
            let one = format!("a{c}-B");
            let f = fold(&one);
            assert_eq!((f.text, f.map), reference(&one), "for U+{:04X}", c as u32);
            all.push(c);
            all.push(' ');
        }
        let f = fold(&all);
        assert_eq!((f.text, f.map), reference(&all));
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
