//! The compiled multi-pattern matcher: every term of every entity in one automaton.
//!
//! Terms are folded (`fold`) and expanded into spelling variants (`TG-3390` also as
//! `tg3390`; `LuckyMouse` also as `lucky mouse`), then compiled into one Aho-Corasick
//! automaton. Every match at every position is a candidate (overlapping semantics):
//! real catalogs nest names inside other names, and leftmost-longest alone drops a valid
//! short hit whenever a longer candidate at the same position fails its boundary check.
//! Boundaries are then checked on the folded text, with one allowance for mangled feeds:
//! two terms glued together ("Naikon APTTG-3390") vouch for each other's shared edge.
//! Finally a hit strictly inside another accepted hit is dropped, so "Naikon APT" is
//! reported, not "Naikon".
//!
//! Candidates are found without scanning every byte with the automaton. A candidate
//! can only be accepted, or vouch for another, if it starts where a word starts (or at
//! a non-word character) or where another candidate of glue length ends. So the
//! automaton is walked anchored from exactly those places, and a word start is skipped
//! unless the word could begin a pattern there (hash sets, `Starts`).
//! That finds the same candidates an unanchored overlapping scan of every byte would
//! have judged (tests check the two agree on random and real text), and the whole
//! detector runs faster than that bare scan alone (the benchmark's ceiling).

use aho_corasick::automaton::{Automaton, StateID};
use aho_corasick::nfa::contiguous::NFA;
use aho_corasick::{AhoCorasickBuilder, Anchored, MatchKind};

use super::fold::{fold, fold_term, Folded};

/// How one term must be matched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TermFlags {
    /// Needs context (an ordinary word too).
    pub weak: bool,
    /// Must be written with exactly this letter case.
    pub exact_case: bool,
}

#[derive(Debug, Clone)]
struct Term<T> {
    payload: T,
    /// As the catalog writes it (used for exact-case checks).
    text: String,
    flags: TermFlags,
}

/// One accepted occurrence of a term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit<'m, T> {
    pub payload: &'m T,
    pub flags: TermFlags,
    /// Byte range in the original text.
    pub start: usize,
    pub end: usize,
    /// Byte range in the folded text (for context checks).
    pub fstart: usize,
    pub fend: usize,
}

/// A compiled set of terms. `T` says what a term means (an entity, a rule, ...).
pub struct Matcher<T> {
    /// The automaton, walked anchored (`None` without patterns).
    nfa: Option<(NFA, StateID)>,
    starts: Starts,
    /// Pattern id -> terms that fold to it.
    patterns: Vec<Vec<u32>>,
    /// Pattern id -> the folded pattern (for benchmarks and diagnostics).
    pattern_text: Vec<String>,
    terms: Vec<Term<T>>,
}

impl<T> std::fmt::Debug for Matcher<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Matcher")
            .field("terms", &self.terms.len())
            .field("patterns", &self.patterns.len())
            .finish()
    }
}

/// Spelling variants of a folded term: as is, without spaces, and with a space between
/// letters and digits ("tg 3390" -> "tg3390"; "apt27" -> "apt 27").
fn variants(folded: &str) -> Vec<String> {
    let mut out = vec![folded.to_string()];
    let joined: String = folded.chars().filter(|c| *c != ' ').collect();
    if joined.chars().count() >= 4 && !out.contains(&joined) {
        out.push(joined.clone());
    }
    let mut split = String::with_capacity(joined.len() + 2);
    let mut prev: Option<char> = None;
    for c in joined.chars() {
        if let Some(p) = prev {
            if (p.is_alphabetic() && c.is_ascii_digit())
                || (p.is_ascii_digit() && c.is_alphabetic())
            {
                split.push(' ');
            }
        }
        split.push(c);
        prev = Some(c);
    }
    if !out.contains(&split) {
        out.push(split);
    }
    out
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
}

/// Whether the character starting at byte `i` (a character boundary before the end) of
/// `t` is a word character.
#[inline]
fn word_at(t: &str, i: usize) -> bool {
    match t.as_bytes()[i] {
        b if b.is_ascii() => b.is_ascii_alphanumeric(),
        _ => decoded_word_at(t, i),
    }
}

/// Whether the character ending at byte `i` (a character boundary after the start) of
/// `t` is a word character.
#[inline]
fn word_before(t: &str, i: usize) -> bool {
    match t.as_bytes()[i - 1] {
        b if b.is_ascii() => b.is_ascii_alphanumeric(),
        _ => decoded_word_before(t, i),
    }
}

#[cold]
fn decoded_word_at(t: &str, i: usize) -> bool {
    t[i..].chars().next().is_some_and(is_word_char)
}

#[cold]
fn decoded_word_before(t: &str, i: usize) -> bool {
    t[..i].chars().next_back().is_some_and(is_word_char)
}

/// Whether a character is left out of exact-case comparison (a separator).
fn squeezed_out(c: char) -> bool {
    c.is_whitespace() || matches!(c, '-' | '_' | '\u{2010}'..='\u{2015}')
}

/// Remove separators, keeping case: for exact-case comparison.
#[cfg(test)]
fn squeeze(s: &str) -> String {
    s.chars().filter(|c| !squeezed_out(*c)).collect()
}

/// `squeeze(a) == squeeze(b)`, without building either.
fn same_squeezed(a: &str, b: &str) -> bool {
    a.chars()
        .filter(|c| !squeezed_out(*c))
        .eq(b.chars().filter(|c| !squeezed_out(*c)))
}

/// For spans sorted by (start, longest first): whether each is *not* strictly inside a
/// longer one. In that order a span is inside a longer one exactly when an earlier start
/// reaches its end, or the longest span at its own start ends after it.
fn not_inside_longer(spans: impl Iterator<Item = (usize, usize)>) -> Vec<bool> {
    let mut keep = Vec::with_capacity(spans.size_hint().0);
    let mut reach_before: Option<usize> = None; // max end of spans starting earlier
    let mut group: Option<(usize, usize)> = None; // (start, max end) at this start
    for (s, e) in spans {
        match group {
            Some((gs, ge)) if gs == s => {
                keep.push(!(reach_before.is_some_and(|r| r >= e) || ge > e));
            }
            _ => {
                if let Some((_, ge)) = group {
                    reach_before = Some(reach_before.map_or(ge, |r| r.max(ge)));
                }
                group = Some((s, e));
                keep.push(reach_before.is_none_or(|r| r < e));
            }
        }
    }
    keep
}

/// The bare automaton over the same patterns, for an unanchored overlapping scan: the
/// benchmark's ceiling and the tests' reference. The crate picks a contiguous NFA for
/// catalogs this size (about 1 MB for the built-in catalog with MISP and ATT&CK), as
/// the detector uses. A DFA was measured for that catalog at 110-150 ms to build, over
/// the 50 ms reload budget, and 33 MB, for a scan only about 1.3 times faster, its
/// tables being far larger than the cache.
pub fn automaton_builder() -> AhoCorasickBuilder {
    let mut b = AhoCorasickBuilder::new();
    b.match_kind(MatchKind::Standard);
    b
}

/// Whether a folded byte can be part of a word, for `Starts`: ASCII letters and digits
/// and every byte of a non-ASCII character (those runs are judged by character).
#[inline(always)]
fn word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b >= 0x80
}

/// FNV-1a, one byte at a time, so a word's prefixes hash as it is read.
const HASH_SEED: u64 = 0xcbf2_9ce4_8422_2325;
#[inline(always)]
fn hash_step(h: u64, b: u8) -> u64 {
    (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
}

/// Minimum folded length of two glued terms that vouch for each other.
const GLUE_MIN: usize = 3;

/// A length's bit in a `Starts::glue_lens` mask; 31 and longer share the last.
#[inline(always)]
fn len_bit(len: usize) -> u32 {
    1 << len.min(31)
}

/// Which words can start a pattern, as hash sets (no false negatives; a false positive
/// only costs a walk). A pattern's first word (its first run of word bytes) is followed
/// in the pattern by a non-word byte or nothing, so at a word start of the text it can
/// match only
/// - `whole`: if it is one word, and that word is the text's word;
/// - `lead`: if its first word is the text's word and what follows it (one or two
///   bytes, "the " + "d" for "the dukes") follows in the text too;
/// - `glue`: if it is one word, a prefix of the text's word, and long enough to be glued
///   to the rest of the word (a shorter one could never be accepted). `glue_lens` says,
///   by their first `GLUE_MIN` bytes, which lengths they have, so a word's prefix is
///   probed only at those lengths;
/// - `other`: the bytes that start a pattern with a non-word byte.
#[derive(Debug)]
struct Starts {
    whole: BitSet,
    lead: BitSet,
    glue: BitSet,
    glue_lens: Vec<u32>,
    glue_shift: u32,
    other: [bool; 256],
}

impl Starts {
    fn new(patterns: &[String]) -> Starts {
        let hash = |b: &[u8]| b.iter().fold(HASH_SEED, |h, &c| hash_step(h, c));
        let (mut whole, mut lead, mut glue, mut glue3) = (vec![], vec![], vec![], vec![]);
        let mut other = [false; 256];
        for p in patterns {
            let b = p.as_bytes();
            let len = b.iter().take_while(|&&c| word_byte(c)).count();
            if len == 0 {
                other[usize::from(b[0])] = true;
            } else if len == b.len() {
                whole.push(hash(b));
                if len >= GLUE_MIN {
                    glue.push(hash(b));
                    glue3.push((hash(&b[..GLUE_MIN]), len));
                }
            } else {
                lead.push(hash(&b[..b.len().min(len + 2)]));
            }
        }
        let slots = glue3.len().next_power_of_two().max(64);
        let mut s = Starts {
            whole: BitSet::new(&whole),
            lead: BitSet::new(&lead),
            glue: BitSet::new(&glue),
            glue_lens: vec![0; slots],
            glue_shift: 64 - slots.trailing_zeros(),
            other,
        };
        for (h3, len) in glue3 {
            let i = s.glue_slot(h3);
            s.glue_lens[i] |= len_bit(len);
        }
        s
    }

    #[inline(always)]
    fn glue_slot(&self, h3: u64) -> usize {
        (h3.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> self.glue_shift) as usize
    }

    /// The lengths (as `len_bit`s) of the one-word glue patterns that begin with the
    /// `GLUE_MIN` bytes hashed to `h3` (or with others that share their slot).
    #[inline(always)]
    fn glue_lens(&self, h3: u64) -> u32 {
        self.glue_lens[self.glue_slot(h3)]
    }

    /// Whether a pattern can start at `run`, the start of the ASCII word `b[run..end]`
    /// (`h`: the word's hash, `glued`: whether a glue-length prefix of it is in `glue`).
    #[inline(always)]
    fn at_word(&self, b: &[u8], end: usize, h: u64, glued: bool) -> bool {
        // Every probe is made and the answers or-ed without branching: which of them
        // says yes is unpredictable, and mispredicted branches cost more than probes.
        // Past the end of the text a zero byte stands in; it can only add a walk.
        let h1 = hash_step(h, b.get(end).copied().unwrap_or(0));
        let h2 = hash_step(h1, b.get(end + 1).copied().unwrap_or(0));
        glued | self.whole.has(h) | self.lead.has(h1) | self.lead.has(h2)
    }
}

/// A set of hashes, as a blocked Bloom filter: two bits in one 64-bit word per member,
/// about 16 bits per member, so a non-member tests positive 1-2% of the time, and the
/// sets of a 12,000-pattern catalog (about 30 KB) stay in the fastest caches, which a
/// probe of every word needs. (Half the size measured slower: more walks.)
#[derive(Debug)]
struct BitSet {
    words: Vec<u64>,
    shift: u32,
}

impl BitSet {
    fn new(hashes: &[u64]) -> BitSet {
        let words = (hashes.len() / 4).next_power_of_two().max(64);
        let mut s = BitSet {
            words: vec![0; words],
            shift: 64 - words.trailing_zeros(),
        };
        for &h in hashes {
            let (w, mask) = s.slot(h);
            s.words[w] |= mask;
        }
        s
    }

    #[inline(always)]
    fn slot(&self, h: u64) -> (usize, u64) {
        let m = h.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        (
            (m >> self.shift) as usize,
            1 << (m & 63) | 1 << ((m >> 6) & 63),
        )
    }

    #[inline(always)]
    fn has(&self, h: u64) -> bool {
        let (w, mask) = self.slot(h);
        self.words[w] & mask == mask
    }
}

impl<T> Matcher<T> {
    /// Compile `terms` (text, flags, payload). Empty or separator-only terms are skipped.
    pub fn new(terms: impl IntoIterator<Item = (String, TermFlags, T)>) -> Matcher<T> {
        let mut index: std::collections::HashMap<String, usize> = Default::default();
        let mut pats: Vec<String> = Vec::new();
        let mut patterns: Vec<Vec<u32>> = Vec::new();
        let mut stored = Vec::new();
        for (text, flags, payload) in terms {
            let folded = fold_term(&text);
            if folded.trim().is_empty() {
                continue;
            }
            let tid = stored.len() as u32;
            stored.push(Term {
                payload,
                text,
                flags,
            });
            for v in variants(&folded) {
                let pid = *index.entry(v.clone()).or_insert_with(|| {
                    pats.push(v);
                    patterns.push(Vec::new());
                    patterns.len() - 1
                });
                if !patterns[pid].contains(&tid) {
                    patterns[pid].push(tid);
                }
            }
        }
        let nfa = if pats.is_empty() {
            None
        } else {
            // Only a catalog beyond the crate's state limits fails here; say so rather
            // than match nothing in silence.
            let built = aho_corasick::nfa::contiguous::Builder::new()
                .match_kind(MatchKind::Standard)
                .build(&pats)
                .map_err(|e| e.to_string())
                .and_then(|n| match n.start_state(Anchored::Yes) {
                    Ok(start) => Ok((n, start)),
                    Err(e) => Err(e.to_string()),
                });
            match built {
                Ok(nfa) => Some(nfa),
                Err(e) => {
                    tracing::error!(patterns = pats.len(), "cannot compile the matcher: {e}");
                    None
                }
            }
        };
        Matcher {
            nfa,
            starts: Starts::new(&pats),
            patterns,
            pattern_text: pats,
            terms: stored,
        }
    }

    /// The folded patterns the automaton was built from.
    pub fn patterns(&self) -> &[String] {
        &self.pattern_text
    }

    pub fn len(&self) -> usize {
        self.terms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Fold `text` and find every accepted hit in it.
    pub fn find<'m>(&'m self, text: &str) -> (Folded, Vec<Hit<'m, T>>) {
        let f = fold(text);
        let hits = self.find_folded(text, &f);
        (f, hits)
    }

    /// Every accepted hit in already-folded text, ordered by position.
    pub fn find_folded<'m>(&'m self, original: &str, f: &Folded) -> Vec<Hit<'m, T>> {
        let mut hits = Vec::new();
        self.find_folded_into(original, f, &mut Scratch::default(), &mut hits);
        hits
    }

    /// `find_folded`, appending to `hits` and reusing `scratch`'s buffers.
    pub fn find_folded_into<'m>(
        &'m self,
        original: &str,
        f: &Folded,
        scratch: &mut Scratch,
        hits: &mut Vec<Hit<'m, T>>,
    ) {
        let ft = f.text.as_str();
        scratch.cands.clear();
        self.candidates(ft, &mut scratch.cands);
        self.judge(original, f, scratch, hits);
    }

    /// The bare overlapping automaton over this matcher's patterns (for tests).
    #[cfg(test)]
    pub(crate) fn reference_automaton(&self) -> Option<aho_corasick::AhoCorasick> {
        (!self.pattern_text.is_empty()).then(|| {
            automaton_builder()
                .build(&self.pattern_text)
                .expect("automaton")
        })
    }

    /// `find_folded`, with candidates from a plain unanchored overlapping scan of every
    /// byte by `ac` (from `reference_automaton`): the reference `candidates` must agree
    /// with.
    #[cfg(test)]
    pub(crate) fn find_folded_reference<'m>(
        &'m self,
        ac: Option<&aho_corasick::AhoCorasick>,
        original: &str,
        f: &Folded,
    ) -> Vec<Hit<'m, T>> {
        let mut scratch = Scratch::default();
        let mut hits = Vec::new();
        for m in ac
            .into_iter()
            .flat_map(|ac| ac.find_overlapping_iter(f.text.as_str()))
        {
            let pid = m.pattern().as_u32();
            scratch
                .cands
                .push(Cand::new(&f.text, pid, m.start(), m.end()));
        }
        self.judge(original, f, &mut scratch, &mut hits);
        hits
    }

    /// Every match of a pattern that starts where a candidate can matter (see the
    /// module docs), in the order `judge` wants when no glue was needed.
    fn candidates(&self, ft: &str, cands: &mut Vec<Cand>) {
        let Some((nfa, start)) = &self.nfa else {
            return;
        };
        let b = ft.as_bytes();
        let mut p = 0;
        while p < b.len() {
            let c = b[p];
            if !word_byte(c) {
                if self.starts.other[usize::from(c)] {
                    walk(nfa, *start, ft, p, cands);
                }
                p += 1;
                continue;
            }
            // A run of word bytes; its first byte starts a word (the byte before is
            // ASCII and not a letter or digit).
            let run = p;
            let mut h = HASH_SEED;
            let mut glue_lens = 0;
            let mut glued = false;
            let mut ascii = true;
            while p < b.len() && word_byte(b[p]) {
                ascii &= b[p] < 0x80;
                h = hash_step(h, b[p]);
                p += 1;
                if p - run == GLUE_MIN {
                    glue_lens = self.starts.glue_lens(h);
                }
                if glue_lens & len_bit(p - run) != 0 {
                    glued |= self.starts.glue.has(h);
                }
            }
            if ascii {
                if self.starts.at_word(b, p, h, glued) {
                    walk(nfa, *start, ft, run, cands);
                }
            } else {
                // Non-ASCII punctuation can start words inside the run: judge each
                // character, and walk from every word start.
                for (i, _) in ft[run..p].char_indices() {
                    let q = run + i;
                    if i == 0 || !word_at(ft, q) || !word_before(ft, q) {
                        walk(nfa, *start, ft, q, cands);
                    }
                }
            }
        }
        // Mid-word ends of candidates long enough to glue: a term may start there.
        let glue = GLUE_MIN as u32;
        // Walked offsets, one bit each (allocated at the first glue; a long run of glued
        // names, "lockbitlockbit...", must not cost a search per offset).
        let mut walked: Vec<u64> = Vec::new();
        let mut i = 0;
        while i < cands.len() {
            let c = cands[i];
            i += 1;
            let e = c.e as usize;
            if c.e - c.s >= glue && e < b.len() && word_at(ft, e) && word_before(ft, e) {
                if walked.is_empty() {
                    walked.resize(b.len() / 64 + 1, 0);
                }
                let bit = 1 << (e % 64);
                if walked[e / 64] & bit == 0 {
                    walked[e / 64] |= bit;
                    walk(nfa, *start, ft, e, cands);
                }
            }
        }
    }

    /// Judge candidates' boundaries and turn the accepted ones into hits.
    fn judge<'m>(
        &'m self,
        original: &str,
        f: &Folded,
        scratch: &mut Scratch,
        hits: &mut Vec<Hit<'m, T>>,
    ) {
        let ft = f.text.as_str();
        let Scratch {
            cands,
            ok_ends,
            ok_starts,
        } = scratch;
        if cands.is_empty() {
            return;
        }
        // Glued terms vouch for each other: "naikon apt" + "tg 3390" in "naikon apttg 3390".
        // (A candidate in `ok_ends`/`ok_starts` is itself long enough to be glued.) Both
        // are sets of folded offsets, one bit each.
        let glue = GLUE_MIN as u32;
        let words = ft.len() / 64 + 1;
        for set in [&mut *ok_ends, &mut *ok_starts] {
            set.clear();
            set.resize(words, 0);
        }
        let mark = |set: &mut [u64], i: u32| set[i as usize / 64] |= 1 << (i % 64);
        let has = |set: &[u64], i: u32| set[i as usize / 64] & (1 << (i % 64)) != 0;
        for c in cands.iter().filter(|c| c.e - c.s >= glue) {
            if c.left {
                mark(ok_ends, c.e);
            }
            if c.right {
                mark(ok_starts, c.s);
            }
        }
        for c in cands.iter_mut() {
            if c.e - c.s < glue {
                continue;
            }
            if !c.left && has(ok_ends, c.s) {
                c.left = true;
            }
            if !c.right && has(ok_starts, c.e) {
                c.right = true;
            }
        }
        // One pattern per span (patterns are distinct), so sorting the accepted spans
        // orders their hits as a stable sort of the hits by the same key would.
        cands.retain(|c| c.left && c.right);
        let key = |c: &Cand| (c.s, std::cmp::Reverse(c.e));
        if !cands.is_sorted_by_key(key) {
            cands.sort_unstable_by_key(key);
        }
        let first = hits.len();
        for c in cands.iter() {
            let (fs, fe) = (c.s as usize, c.e as usize);
            let (os, oe) = f.original_range(fs, fe);
            let written = &original[os..oe];
            for &tid in &self.patterns[c.pid as usize] {
                let term = &self.terms[tid as usize];
                if term.flags.exact_case && !same_squeezed(written, &term.text) {
                    continue;
                }
                hits.push(Hit {
                    payload: &term.payload,
                    flags: term.flags,
                    start: os,
                    end: oe,
                    fstart: fs,
                    fend: fe,
                });
            }
        }
        // Drop hits strictly inside a longer accepted hit (they are in the order
        // `not_inside_longer` needs).
        let keep = not_inside_longer(hits[first..].iter().map(|h| (h.fstart, h.fend)));
        let mut keep = keep.into_iter();
        let mut i = 0;
        hits.retain(|_| {
            i += 1;
            i <= first || keep.next().unwrap_or(true)
        });
    }
}

/// Walk the automaton anchored at folded offset `p` and add every pattern that starts
/// there, longest first.
#[inline]
fn walk(nfa: &NFA, start: StateID, ft: &str, p: usize, cands: &mut Vec<Cand>) {
    let first = cands.len();
    let mut sid = start;
    for (k, &x) in ft.as_bytes()[p..].iter().enumerate() {
        sid = nfa.next_state(Anchored::Yes, sid, x);
        if !nfa.is_special(sid) {
            continue;
        }
        if nfa.is_dead(sid) {
            break;
        }
        if nfa.is_match(sid) {
            let len = k + 1;
            for m in 0..nfa.match_len(sid) {
                let pid = nfa.match_pattern(sid, m);
                // A match state also holds the patterns that are its suffixes.
                if nfa.pattern_len(pid) == len {
                    cands.push(Cand::new(ft, pid.as_u32(), p, p + len));
                }
            }
        }
    }
    cands[first..].reverse();
}

/// A match of a pattern before its boundaries are judged.
#[derive(Debug, Clone, Copy)]
struct Cand {
    pid: u32,
    s: u32,
    e: u32,
    left: bool,
    right: bool,
}

impl Cand {
    /// A match of pattern `pid` at folded `s..e`, its edges judged.
    #[inline]
    fn new(ft: &str, pid: u32, s: usize, e: usize) -> Cand {
        // A pattern is never empty, and ASCII bytes are whole characters: only
        // non-ASCII neighbours need decoding.
        let left = !word_at(ft, s) || s == 0 || !word_before(ft, s);
        let right = !word_before(ft, e) || e == ft.len() || !word_at(ft, e);
        Cand {
            pid,
            s: s as u32,
            e: e as u32,
            left,
            right,
        }
    }
}

/// Buffers a search reuses from one text to the next.
#[derive(Debug, Default)]
pub struct Scratch {
    cands: Vec<Cand>,
    /// Bit sets of folded offsets: ends of candidates with a good left edge, starts of
    /// candidates with a good right edge.
    ok_ends: Vec<u64>,
    ok_starts: Vec<u64>,
}

impl Scratch {
    /// Candidates the buffers can hold without growing.
    pub fn capacity(&self) -> usize {
        self.cands.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(terms: &[(&str, bool)]) -> Matcher<String> {
        Matcher::new(terms.iter().map(|(t, exact)| {
            (
                t.to_string(),
                TermFlags {
                    weak: false,
                    exact_case: *exact,
                },
                t.to_string(),
            )
        }))
    }

    fn check(terms: &[(&str, bool)], text: &str, expect: &[&str]) {
        let matcher = m(terms);
        let (_, hits) = matcher.find(text);
        let got: Vec<String> = hits
            .iter()
            .map(|h| format!("{}={}", h.payload, &text[h.start..h.end]))
            .collect();
        assert_eq!(got, expect, "in {text:?}");
    }

    #[test]
    fn word_boundaries() {
        check(&[("Oman", false)], "a woman in Oman", &["Oman=Oman"]);
        check(&[("Mali", false)], "malicious Somalia", &[]);
        check(&[("APT2", false)], "APT28 and APT2.", &["APT2=APT2"]);
    }

    #[test]
    fn spelling_variants() {
        let terms = [("TG-3390", false), ("Lucky Mouse", false)];
        check(&terms, "TG3390", &["TG-3390=TG3390"]);
        check(&terms, "TG 3390", &["TG-3390=TG 3390"]);
        check(&terms, "LuckyMouse", &["Lucky Mouse=LuckyMouse"]);
        check(&[("APT27", false)], "APT 27", &["APT27=APT 27"]);
    }

    #[test]
    fn mangled_seed_text() {
        let terms = [
            ("Gallium", false),
            ("Soft Cell", false),
            ("Naikon", false),
            ("Naikon APT", false),
            ("TG-3390", false),
            ("APT27", false),
            ("Emissary Panda", false),
        ];
        check(
            &terms,
            "Gallium (Soft Cell)Naikon APTTG-3390 (APT27, Emissary Panda)",
            &[
                "Gallium=Gallium",
                "Soft Cell=Soft Cell",
                "Naikon APT=Naikon APT",
                "TG-3390=TG-3390",
                "APT27=APT27",
                "Emissary Panda=Emissary Panda",
            ],
        );
    }

    #[test]
    fn nested_terms_survive_a_failed_longer_candidate() {
        // Leftmost-longest would pick "foo bar" (which fails its boundary) and lose "foo".
        check(
            &[("foo", false), ("foo barx", false)],
            "foo barxy",
            &["foo=foo"],
        );
    }

    #[test]
    fn containment_agrees_with_pairwise_check() {
        let mut next = crate::test_rng(0x853c_49e6_748f_ea9b);
        for _ in 0..5_000 {
            let n = (next() % 12) as usize;
            let mut spans: Vec<(usize, usize)> = (0..n)
                .map(|_| {
                    let s = (next() % 20) as usize;
                    (s, s + 1 + (next() % 8) as usize)
                })
                .collect();
            spans.sort_by_key(|&(s, e)| (s, std::cmp::Reverse(e)));
            let want: Vec<bool> = spans
                .iter()
                .map(|&(hs, he)| {
                    !spans
                        .iter()
                        .any(|&(s, e)| s <= hs && he <= e && (e - s) > (he - hs))
                })
                .collect();
            assert_eq!(not_inside_longer(spans.iter().copied()), want, "{spans:?}");
        }
    }

    #[test]
    fn squeezed_comparison_agrees_with_squeezing() {
        let words = [
            "US",
            "us",
            "U S",
            "U-S",
            "U\u{2013}S",
            "Us",
            "u_s",
            "\u{e9}",
            "\u{c9}",
            "",
        ];
        for a in words {
            for b in words {
                assert_eq!(same_squeezed(a, b), squeeze(a) == squeeze(b), "{a:?} {b:?}");
            }
        }
    }

    /// Random text over an alphabet that makes the traps common: patterns glued to each
    /// other and to letters, nested patterns, separators, non-ASCII punctuation and
    /// letters. The anchored walks must accept exactly what an overlapping scan accepts.
    #[test]
    fn anchored_walks_agree_with_an_overlapping_scan() {
        let terms: &[(&str, bool)] = &[
            ("foo", false),
            ("foo bar", false),
            ("oo b", false),
            ("bar", false),
            ("ar", false),
            ("baz qux", false),
            ("TG-3390", false),
            ("APT27", false),
            ("Naikon APT", false),
            ("Naikon", false),
            ("US", true),
            ("(x)", false),
            ("\u{e9}t\u{e9}", false),
            ("-z", false),
        ];
        let matcher = m(terms);
        let ac = matcher.reference_automaton();
        let pieces = [
            "foo", "bar", "baz", "qux", "tg", "3390", "apt", "27", "naikon", "us", "US", "x", "(",
            ")", " ", " ", "-", ".", "\u{e9}", "t", "\u{ab}", "\u{2014}", "o", "z",
        ];
        let mut next = crate::test_rng(0x2545_f491_4f6c_dd1d);
        for _ in 0..20_000 {
            let text = crate::test_text(&mut next, &pieces, 12);
            let f = fold(&text);
            let want: Vec<(String, usize, usize)> = matcher
                .find_folded_reference(ac.as_ref(), &text, &f)
                .iter()
                .map(|h| (h.payload.clone(), h.start, h.end))
                .collect();
            let got: Vec<(String, usize, usize)> = matcher
                .find_folded(&text, &f)
                .iter()
                .map(|h| (h.payload.clone(), h.start, h.end))
                .collect();
            assert_eq!(got, want, "in {text:?}");
        }
    }

    #[test]
    fn long_runs_of_glued_names_agree_with_an_overlapping_scan() {
        // Only pairs glue, so a run of three or more glued names accepts nothing inside
        // it; what matters is that every offset of the run is walked once and the result
        // is the scan's.
        let matcher = m(&[
            ("LockBit", false),
            ("Naikon APT", false),
            ("TG-3390", false),
            ("bit", false),
        ]);
        let ac = matcher.reference_automaton();
        for text in [
            format!("{} LockBitTG-3390", "LockBit".repeat(2_000)),
            format!("x {} y Naikon APTTG-3390", "Naikon APTTG-3390".repeat(500)),
            format!("{}bits LockBit", "lockbitlock".repeat(700)),
        ] {
            let f = fold(&text);
            let spans = |hits: Vec<Hit<'_, String>>| -> Vec<(usize, usize)> {
                hits.iter().map(|h| (h.start, h.end)).collect()
            };
            let got = spans(matcher.find_folded(&text, &f));
            assert_eq!(
                got,
                spans(matcher.find_folded_reference(ac.as_ref(), &text, &f))
            );
            assert!(!got.is_empty());
        }
    }

    #[test]
    fn exact_case() {
        check(&[("US", true)], "let us see the US", &["US=US"]);
    }
}
