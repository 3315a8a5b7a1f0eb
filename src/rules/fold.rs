//! Text folding: the one normal form both terms and article text are matched in.
//!
//! Folding lower-cases (Unicode), applies NFKC to non-ASCII characters, turns curly
//! quotes straight, and collapses every run of separators (spaces, hyphens, dashes,
//! underscores, line breaks) into one space, so `TG-3390`, `TG 3390` and `tg 3390` fold
//! alike. It keeps the way from each folded byte back to the original byte, so a match
//! can be reported exactly as the article wrote it.

use unicode_normalization::UnicodeNormalization;

/// Folded text plus the way back to the original.
#[derive(Debug, Default, Clone)]
pub struct Folded {
    pub text: String,
    /// Where folded bytes come from, by runs sorted by (strictly increasing) folded
    /// offset; the first starts at 0 and the last, at `text.len()`, holds the original
    /// length. Most text folds byte for byte, so runs are few and cost nothing per byte.
    runs: Vec<Run>,
}

/// From folded offset `at` up to the next run, folded byte `k` comes from original byte
/// `from + (k - at)` (`step`: ASCII folded byte for byte) or from the character at
/// `from` (the bytes of one non-ASCII character's folding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    at: u32,
    from: u32,
    step: bool,
}

impl Folded {
    /// The original byte offset of folded byte `k`, or the original length for
    /// `k == text.len()`.
    pub fn source(&self, k: usize) -> usize {
        let i = self.runs.partition_point(|r| r.at as usize <= k);
        let Some(r) = i.checked_sub(1).and_then(|i| self.runs.get(i)) else {
            return 0;
        };
        if r.step {
            r.from as usize + (k - r.at as usize)
        } else {
            r.from as usize
        }
    }

    /// Bytes of text the buffers can hold without growing.
    pub fn capacity(&self) -> usize {
        self.text.capacity()
    }

    /// `map()[k]` is `source(k)` for every folded byte and the end: the map written out.
    pub fn map(&self) -> Vec<u32> {
        (0..=self.text.len())
            .map(|k| self.source(k) as u32)
            .collect()
    }

    /// Original byte range of folded range `start..end`.
    pub fn original_range(&self, start: usize, end: usize) -> (usize, usize) {
        let s = self.source(start);
        // End is the original offset just after the last folded byte's character.
        let e = if end == 0 { s } else { self.source(end) };
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

/// Eight copies of byte `b`.
const fn splat(b: u8) -> u64 {
    u64::from_le_bytes([b; 8])
}

const HIGH: u64 = splat(0x80);

/// High bit set in each byte of `x` that is *not* zero. Exact for every byte below the
/// first non-ASCII one: additions carry only towards later bytes.
fn nonzero_bytes(x: u64) -> u64 {
    // An ASCII byte plus 0x7f stays within its byte.
    (x.wrapping_add(splat(0x7f)) | x) & HIGH
}

/// High bit set in each byte of `x` equal to ASCII `b` (exact as `nonzero_bytes`).
fn bytes_equal(x: u64, b: u8) -> u64 {
    !nonzero_bytes(x ^ splat(b)) & HIGH
}

/// Eight bytes at once: the high bit set in each byte that needs more than
/// lower-casing (a control character, hyphen or underscore, or a space that collapses
/// into the one before it; `last_space` says whether the previous folded byte was a
/// space), and the bytes lower-cased. Exact for every byte below the first non-ASCII
/// one.
fn chunk(x: u64, last_space: bool) -> (u64, u64) {
    // Bytes >= 0x20 get their high bit from adding 0x60.
    let control = !x.wrapping_add(splat(0x60)) & HIGH;
    let spaces = bytes_equal(x, b' ');
    let collapsing = spaces & ((spaces << 8) | if last_space { 0x80 } else { 0 });
    let special = control | bytes_equal(x, b'-') | bytes_equal(x, b'_') | collapsing;
    // 'A'..='Z': at least 0x41 (0x3f added reaches 0x80) and not above 0x5a (0x25 added
    // stays below 0x80); such bytes get 0x20 added.
    let upper = x.wrapping_add(splat(0x3f)) & !x.wrapping_add(splat(0x25)) & HIGH;
    (special, x | (upper >> 2))
}

/// Folded text being written, with its runs back to the original.
struct Writer {
    text: Vec<u8>,
    runs: Vec<Run>,
    /// `(at, from)` of the last run if it steps: it goes on while `i - from == k - at`.
    stepping: Option<(usize, usize)>,
}

impl Writer {
    /// Make sure folded bytes written from here on come from original byte `i` onwards,
    /// one for one.
    fn step_from(&mut self, i: usize) {
        let k = self.text.len();
        if self.stepping.is_none_or(|(at, from)| i - from != k - at) {
            self.runs.push(Run {
                at: k as u32,
                from: i as u32,
                step: true,
            });
            self.stepping = Some((k, i));
        }
    }

    /// One ASCII byte from original offset `i`.
    fn ascii(&mut self, i: usize, b: u8) {
        self.step_from(i);
        self.text.push(b);
    }

    /// Folded bytes written from here on come from the character at original offset
    /// `i`; `end_char` closes them.
    fn begin_char(&mut self, i: usize) {
        self.runs.push(Run {
            at: self.text.len() as u32,
            from: i as u32,
            step: false,
        });
        self.stepping = None;
    }

    fn end_char(&mut self) {
        // A character that folds to nothing leaves no run behind.
        if self
            .runs
            .last()
            .is_some_and(|r| r.at as usize == self.text.len())
        {
            self.runs.pop();
        }
    }
}

/// Fold `s` for matching. Time is linear in the input; ASCII takes a fast path, eight
/// bytes at a time where they only need lower-casing.
pub fn fold(s: &str) -> Folded {
    let mut f = Folded::default();
    fold_into(s, &mut f);
    f
}

/// `fold` into `out`, reusing its buffers.
pub fn fold_into(s: &str, out: &mut Folded) {
    let bytes = s.as_bytes();
    let mut text = std::mem::take(&mut out.text).into_bytes();
    text.clear();
    text.reserve(s.len() + 8);
    let mut runs = std::mem::take(&mut out.runs);
    runs.clear();
    // Built as bytes: ASCII is pushed byte by byte, other characters UTF-8 encoded, so
    // the result is valid UTF-8.
    let mut w = Writer {
        text,
        runs,
        stepping: None,
    };
    let mut last_space = true; // trims leading separators
    let mut i = 0;
    while i < bytes.len() {
        // Eight bytes at a time: those that only need lower-casing are copied at once,
        // up to the first that needs more, which is then folded on its own.
        let mut ascii = 0; // how many bytes from `i` to fold one at a time
        if let Some(c) = bytes.get(i..i + 8) {
            let mut b8 = [0u8; 8];
            b8.copy_from_slice(c);
            let x = u64::from_le_bytes(b8);
            let high = x & HIGH;
            let (special, folded) = chunk(x, last_space);
            // Bytes up to the first non-ASCII one are exact; none after it counts.
            let stop = (special | high).trailing_zeros() as usize / 8;
            if stop == 8 {
                // A streak of whole chunks that fold byte for byte: one run for all.
                w.step_from(i);
                let mut folded = folded;
                loop {
                    w.text.extend_from_slice(&folded.to_le_bytes());
                    last_space = folded >> 56 == u64::from(b' ');
                    i += 8;
                    let Some(c) = bytes.get(i..i + 8) else {
                        break;
                    };
                    b8.copy_from_slice(c);
                    let x = u64::from_le_bytes(b8);
                    let (special, f) = chunk(x, last_space);
                    if special | (x & HIGH) != 0 {
                        break;
                    }
                    folded = f;
                }
                continue;
            }
            if stop > 0 {
                w.step_from(i);
                let k = w.text.len();
                w.text.extend_from_slice(&folded.to_le_bytes());
                w.text.truncate(k + stop);
                last_space = w.text.last() == Some(&b' ');
                i += stop;
                continue;
            }
            // The first byte needs more: fold it alone (unless it is not ASCII).
            ascii = usize::from(high & 0x80 == 0);
        } else {
            while bytes.get(i + ascii).is_some_and(u8::is_ascii) {
                ascii += 1;
            }
        }
        // ASCII one byte at a time.
        for (off, &b) in bytes[i..i + ascii].iter().enumerate() {
            let out = ASCII_FOLD[usize::from(b & 0x7f)];
            let sep = out == b' ';
            if !(sep && last_space) {
                w.ascii(i + off, out);
            }
            last_space = sep;
        }
        i += ascii;
        if ascii > 0 || i >= bytes.len() {
            continue;
        }
        // Non-ASCII: decode one char.
        let ch = s[i..].chars().next().unwrap_or('\u{fffd}');
        let len = ch.len_utf8();
        if is_separator(ch) {
            if !last_space {
                w.begin_char(i);
                w.text.push(b' ');
                last_space = true;
            }
        } else {
            w.begin_char(i);
            match ch {
                '\u{2018}' | '\u{2019}' | '\u{201b}' | '\u{2032}' => w.text.push(b'\''),
                '\u{201c}' | '\u{201d}' | '\u{201f}' | '\u{2033}' => w.text.push(b'"'),
                _ => {
                    let mut push = |l: char| {
                        let mut buf = [0u8; 4];
                        w.text.extend_from_slice(l.encode_utf8(&mut buf).as_bytes());
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
            w.end_char();
            last_space = false;
        }
        i += len;
    }
    w.runs.push(Run {
        at: w.text.len() as u32,
        from: s.len() as u32,
        step: false,
    });
    out.text = String::from_utf8(w.text)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    out.runs = w.runs;
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
        assert_eq!(f.map().len(), f.text.len() + 1);
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
            let map = f.map();
            assert_eq!((f.text, map), reference(&one), "for U+{:04X}", c as u32);
            all.push(c);
            all.push(' ');
        }
        let f = fold(&all);
        let map = f.map();
        assert_eq!((f.text, map), reference(&all));
    }

    /// Random mixes of the bytes the eight-at-a-time path treats specially (spaces,
    /// separators, control characters, capitals, the bytes around 'A'..='Z', non-ASCII),
    /// at every alignment, fold exactly as the per-character reference does.
    #[test]
    fn chunked_ascii_agrees_with_reference() {
        let pieces = [
            " ", "  ", "-", "_", "\n", "\t", "\r", "\u{1}", "\u{7f}", "@", "[", "`", "{", "A", "Z",
            "a", "z", "Emissary", "PANDA", "tg", "3390", "\u{e9}", "\u{2019}", "\u{a0}",
            "\u{ff21}", "x", ".", ",", "\u{130}", "\u{2013}",
        ];
        let mut seed: u64 = 0x1234_5678_9abc_def1;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        // One buffer reused from text to text folds as fresh ones do.
        let mut reused = Folded::default();
        for _ in 0..20_000 {
            let text = crate::test_text(&mut next, &pieces, 24);
            fold_into(&text, &mut reused);
            assert_eq!(
                (reused.text.clone(), reused.map()),
                reference(&text),
                "reused, {text:?}"
            );
            let f = fold(&text);
            let map = f.map();
            assert_eq!((f.text, map), reference(&text), "for {text:?}");
        }
        // Every byte value in every position of a chunk, after a space or not.
        for b in 0u8..0x80 {
            for at in 0..10 {
                for lead in ["", " ", "a", "a "] {
                    let mut text = String::from(lead);
                    text.push_str(&"Ab c".repeat(3)[..at]);
                    text.push(char::from(b));
                    text.push_str("xY z-w");
                    let f = fold(&text);
                    let map = f.map();
                    assert_eq!((f.text, map), reference(&text), "for {text:?}");
                }
            }
        }
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
