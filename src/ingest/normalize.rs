//! Normalize: raw entries in, clean [`Item`]s with stable keys out.
//!
//! Input: the feed's name, the [`Entry`] list `parse` produced and the feed's final URL
//! (the base for links still relative). Output: one [`Item`] per distinct article, in
//! document order: text without markup ([`html_to_text`]), canonical URL
//! ([`canonical_url`]), UTC date, and an [`ItemKey`] ([`item_key`]) the store dedupes on.
//!
//! Item keys, in order of preference:
//! - `guid:<id>` when the entry has its own id;
//! - `url:<canonical url>` when it has none;
//! - `hash:<fnv-1a 64 of title + date>` when it has neither.
//!
//! Some feeds give every entry the same id (or reuse one for different articles). When
//! one id stands for more than one article (different `url:`/`hash:` keys) within one
//! document, those entries are keyed by `url:`/`hash:` instead, so they do not collapse
//! into one. An id repeated for the same article (a re-published revision) keeps its
//! `guid:` key. After keying, an entry whose key was already seen in the document is
//! dropped: the first one wins.
//!
//! Pure and synchronous: no I/O, no HTTP or feed-format knowledge, never fails.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, SecondsFormat, Utc};
use url::Url;

use crate::model::{Entry, Item, ItemKey};

/// Clean, key and dedupe one document's entries.
pub fn normalize(feed: &str, entries: Vec<Entry>, base: Option<&Url>) -> Vec<Item> {
    // Every item first gets its id-less key; `guid:` keys are given once we know
    // which ids are trustworthy in this document.
    let mut items: Vec<Item> = entries.into_iter().map(|e| draft(feed, e, base)).collect();
    let mut articles: HashMap<&str, HashSet<&ItemKey>> = HashMap::new();
    for item in &items {
        if let Some(id) = &item.guid {
            articles.entry(id).or_default().insert(&item.key);
        }
    }
    let trusted: HashSet<String> = articles
        .into_iter()
        .filter(|(_, keys)| keys.len() == 1)
        .map(|(id, _)| id.to_owned())
        .collect();
    for item in &mut items {
        if let Some(id) = item.guid.as_deref().filter(|id| trusted.contains(*id)) {
            item.key = item_key(Some(id), None, "", None);
        }
    }
    let mut seen = HashSet::new();
    items.retain(|item| seen.insert(item.key.clone()));
    items
}

/// An item with its id-less key (`url:` or `hash:`).
fn draft(feed: &str, e: Entry, base: Option<&Url>) -> Item {
    let url = e.link.as_deref().and_then(|l| canonical_url(l, base));
    let summary = e.summary.as_deref().map(html_to_text).unwrap_or_default();
    let content = e.content.as_deref().map(html_to_text).unwrap_or_default();
    let mut title = e
        .title
        .as_deref()
        .map(|t| html_to_text(t).replace('\n', " "))
        .unwrap_or_default();
    if title.is_empty() {
        let text = if summary.is_empty() {
            &content
        } else {
            &summary
        };
        title = first_words(&text.replace('\n', " "), 100);
    }
    let published = e.published.or(e.updated);
    Item {
        feed: feed.to_owned(),
        key: item_key(None, url.as_deref(), &title, published),
        guid: e.id,
        title,
        url,
        published,
        summary,
        content,
    }
}

/// The key of an item: `guid:<id>`, else `url:<canonical url>`, else
/// `hash:<16 hex digits>` of the clean title and the RFC 3339 date.
///
/// The hash is FNV-1a 64, written out here because std's `DefaultHasher` may change
/// between Rust releases and these keys live in the database for good.
pub fn item_key(
    id: Option<&str>,
    url: Option<&str>,
    title: &str,
    published: Option<DateTime<Utc>>,
) -> ItemKey {
    if let Some(id) = id {
        return ItemKey(format!("guid:{id}"));
    }
    if let Some(url) = url {
        return ItemKey(format!("url:{url}"));
    }
    let date = published.map(|d| d.to_rfc3339_opts(SecondsFormat::Secs, true));
    let mut hash = Fnv1a64::new();
    hash.write(title.as_bytes());
    hash.write(&[0xFF]); // never valid UTF-8: the two fields cannot run together
    hash.write(date.unwrap_or_default().as_bytes());
    ItemKey(format!("hash:{:016x}", hash.0))
}

struct Fnv1a64(u64);

impl Fnv1a64 {
    fn new() -> Self {
        Fnv1a64(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// At most `max` characters, cut at a word boundary, with `…` when cut.
fn first_words(text: &str, max: usize) -> String {
    let Some((cut, _)) = text.char_indices().nth(max) else {
        return text.to_owned();
    };
    let head = &text[..cut];
    let head = head.rsplit_once(' ').map_or(head, |(words, _)| words);
    format!("{}…", head.trim_end())
}

/// The article URL as the store should know it, or `None` if it is not an http(s) URL.
///
/// Trimmed; resolved against `base` when relative; host lower-cased and default port
/// dropped (the URL parser does both); fragment dropped; tracking parameters dropped
/// (see [`is_tracker`]), every other parameter kept as written and in order.
pub fn canonical_url(raw: &str, base: Option<&Url>) -> Option<String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    let mut url = match Url::parse(raw) {
        Ok(url) => url,
        Err(url::ParseError::RelativeUrlWithoutBase) => base?.join(raw).ok()?,
        Err(_) => return None,
    };
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return None;
    }
    url.set_fragment(None);
    if let Some(query) = url.query() {
        let kept = query
            .split('&')
            .filter(|pair| !pair.is_empty() && !is_tracker(pair))
            .collect::<Vec<_>>()
            .join("&");
        url.set_query(Some(&kept).filter(|q| !q.is_empty()).map(String::as_str));
    }
    Some(url.into())
}

/// Query parameters that only say where a click came from. Only known names: `ref` and
/// `source` are functional on many sites (`?ref=main`) and go only when they say "feed".
fn is_tracker(pair: &str) -> bool {
    const NAMES: &[&str] = &[
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "twclid",
        "ttclid",
        "mc_cid",
        "mc_eid",
        "_hsenc",
        "_hsmi",
        "__hstc",
        "__hssc",
        "__hsfp",
        "igshid",
        "spm",
        "mkt_tok",
        "_ga",
        "_gl",
        "pk_campaign",
        "pk_kwd",
        "pk_keyword",
        "pk_source",
        "pk_medium",
        "pk_content",
        "pk_cid",
        "mtm_campaign",
        "mtm_kwd",
        "mtm_source",
        "mtm_medium",
        "mtm_content",
        "mtm_cid",
        "mtm_group",
        "mtm_placement",
    ];
    const FEED_REFS: &[&str] = &["rss", "rss2", "feed", "atom"];
    let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
    let name = name.to_ascii_lowercase();
    name.starts_with("utm_")
        || NAMES.contains(&name.as_str())
        || (matches!(name.as_str(), "ref" | "source")
            && FEED_REFS.contains(&value.to_ascii_lowercase().as_str()))
}

/// Text of an HTML fragment: tags gone, `script`/`style`/`noscript`/`template` bodies
/// dropped, entities decoded (named, numeric, and double-encoded ones like `&amp;amp;`),
/// block elements and `<br>` turned into line breaks and table cells into spaces, so
/// words from adjacent elements never glue together. Runs of whitespace (including
/// no-break spaces) become one space; empty lines are dropped; the result is trimmed.
pub fn html_to_text(html: &str) -> String {
    let mut out = Text {
        out: String::with_capacity(html.len()),
        gap: Gap::None,
    };
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        push_text(&mut out, &rest[..lt]);
        rest = markup(&mut out, &rest[lt..]);
    }
    push_text(&mut out, rest);
    out.out
}

/// Text being written, tidy as it goes: runs of whitespace become one space, runs of
/// line breaks (with any spaces) one line break, and none is left at either end.
struct Text {
    out: String,
    /// The separator owed before the next word.
    gap: Gap,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Gap {
    None,
    Space,
    Break,
}

impl Text {
    fn space(&mut self) {
        self.gap = self.gap.max(Gap::Space);
    }

    fn line_break(&mut self) {
        self.gap = Gap::Break;
    }

    /// Pay the separator owed before a word.
    #[inline]
    fn word(&mut self) {
        if self.gap != Gap::None && !self.out.is_empty() {
            self.out
                .push(if self.gap == Gap::Break { '\n' } else { ' ' });
        }
        self.gap = Gap::None;
    }

    /// Append decoded text; every whitespace (newlines, no-break spaces) is a space,
    /// zero-width spaces, BOMs and control characters go.
    fn push_plain(&mut self, text: &str) {
        let b = text.as_bytes();
        let mut i = 0;
        while i < b.len() {
            // Printable ASCII is copied as it is, a word at a time.
            let run = b[i..]
                .iter()
                .position(|c| !(0x21..0x7f).contains(c))
                .unwrap_or(b.len() - i);
            if run > 0 {
                self.word();
                self.out.push_str(&text[i..i + run]);
                i += run;
            }
            let Some(c) = text[i..].chars().next() else {
                break;
            };
            if c.is_whitespace() {
                self.space();
            } else if !(c.is_control() || c == '\u{200B}' || c == '\u{FEFF}') {
                self.word();
                self.out.push(c);
            }
            i += c.len_utf8();
        }
    }
}

/// Consume the markup at the start of `s` (which starts with `<`), writing any break it
/// stands for; returns what follows it.
fn markup<'a>(out: &mut Text, s: &'a str) -> &'a str {
    if let Some(r) = s.strip_prefix("<!--") {
        return r.find("-->").map_or("", |i| &r[i + 3..]);
    }
    if let Some(r) = s.strip_prefix("<![CDATA[") {
        let end = r.find("]]>").unwrap_or(r.len());
        out.push_plain(&r[..end]);
        return r.get(end + 3..).unwrap_or("");
    }
    if s.starts_with("<!") || s.starts_with("<?") {
        return s.find('>').map_or("", |i| &s[i + 1..]);
    }
    let (closing, r) = match s[1..].strip_prefix('/') {
        Some(r) => (true, r),
        None => (false, &s[1..]),
    };
    if !r.starts_with(|c: char| c.is_ascii_alphabetic()) {
        out.push_plain("<"); // a lone `<` is text, as in browsers
        return &s[1..];
    }
    let name_len = r
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == ':'))
        .unwrap_or(r.len());
    let name = r[..name_len].to_ascii_lowercase();
    let after = tag_end(&r[name_len..]);
    if !closing && matches!(name.as_str(), "script" | "style" | "noscript" | "template") {
        return skip_element(after, &name);
    }
    match name.as_str() {
        "td" | "th" => out.space(),
        "br" | "p" | "div" | "li" | "ul" | "ol" | "dl" | "dt" | "dd" | "tr" | "table" | "thead"
        | "tbody" | "tfoot" | "caption" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6"
        | "blockquote" | "pre" | "hr" | "section" | "article" | "aside" | "header" | "footer"
        | "nav" | "main" | "figure" | "figcaption" | "address" | "details" | "summary" | "form"
        | "fieldset" => out.line_break(),
        _ => {}
    }
    after
}

/// What follows the `>` closing a tag, skipping quoted attribute values; "" if the
/// tag never closes (a summary cut off mid-tag).
fn tag_end(s: &str) -> &str {
    let bytes = s.as_bytes();
    let mut quote = None;
    let mut after_equals = false;
    for (i, &b) in bytes.iter().enumerate() {
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'>' => return &s[i + 1..],
            None if (b == b'"' || b == b'\'') && after_equals => quote = Some(b),
            None => {}
        }
        if !b.is_ascii_whitespace() {
            after_equals = b == b'=';
        }
    }
    ""
}

/// What follows `</name ...>`, or "" when the element is never closed.
fn skip_element<'a>(s: &'a str, name: &str) -> &'a str {
    let mut from = 0;
    while let Some(i) = s[from..].find("</") {
        let at = from + i + 2;
        let candidate = s.as_bytes().get(at..at + name.len());
        if candidate.is_some_and(|c| c.eq_ignore_ascii_case(name.as_bytes())) {
            return tag_end(&s[at + name.len()..]);
        }
        from = at;
    }
    ""
}

/// Append text between tags: entities decoded, whitespace flattened.
fn push_text(out: &mut Text, text: &str) {
    if text.contains('&') {
        out.push_plain(&htmlize::unescape(collapse_double_encoding(text)));
    } else {
        out.push_plain(text);
    }
}

/// `&amp;rsquo;` -> `&rsquo;`, `&amp;amp;amp;` -> `&amp;`: undo the extra escaping
/// some feeds apply to text that was already HTML. A bare `&amp;` stays for the decoder.
fn collapse_double_encoding(text: &str) -> String {
    let mut s = text.to_owned();
    loop {
        let mut out = String::with_capacity(s.len());
        let mut rest = s.as_str();
        while let Some(i) = rest.find("&amp;") {
            let after = &rest[i + 5..];
            out.push_str(&rest[..i]);
            out.push('&');
            if !starts_with_entity(after) {
                out.push_str("amp;");
            }
            rest = after;
        }
        out.push_str(rest);
        if out == s {
            return s;
        }
        s = out;
    }
}

/// `name;`, `#123;` or `#x1F;` at the start of `s`.
fn starts_with_entity(s: &str) -> bool {
    let Some(end) = s.find(';').filter(|end| *end > 0 && *end <= 32) else {
        return false;
    };
    let body = &s[..end];
    match body.strip_prefix('#') {
        Some(num) => match num.strip_prefix(['x', 'X']) {
            Some(hex) => !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()),
            None => !num.is_empty() && num.bytes().all(|b| b.is_ascii_digit()),
        },
        None => {
            body.starts_with(|c: char| c.is_ascii_alphabetic())
                && body.bytes().all(|b| b.is_ascii_alphanumeric())
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use std::fmt::Write as _;

    use chrono::TimeZone;

    use super::*;

    const BASE: &str = "https://feeds.example.test/security/feed.xml";

    fn entry(id: Option<&str>, title: &str, link: Option<&str>) -> Entry {
        Entry {
            id: id.map(str::to_owned),
            title: Some(title.to_owned()),
            link: link.map(str::to_owned),
            ..Entry::default()
        }
    }

    fn date(y: i32, m: u32, d: u32, h: u32) -> Option<DateTime<Utc>> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).single()
    }

    /// Normalize `entries` as feed "Test" (base `BASE`) and compare a plain dump.
    fn check(entries: Vec<Entry>, expect: &str) {
        let base = Url::parse(BASE).unwrap();
        let mut actual = String::new();
        for item in normalize("Test", entries, Some(&base)) {
            assert_eq!(item.feed, "Test");
            let published = item.published.map_or("-".to_owned(), |d| {
                d.to_rfc3339_opts(SecondsFormat::Secs, true)
            });
            let _ = writeln!(actual, "{} | {:?} | {}", item.key, item.title, published);
            let _ = writeln!(actual, "  url {:?} guid {:?}", item.url, item.guid);
            if !item.summary.is_empty() {
                let _ = writeln!(actual, "  summary {:?}", item.summary);
            }
            if !item.content.is_empty() {
                let _ = writeln!(actual, "  content {:?}", item.content);
            }
        }
        assert_eq!(actual, expect, "\n--- actual ---\n{actual}");
    }

    fn check_text(html: &str, expect: &str) {
        assert_eq!(html_to_text(html), expect, "html {html:?}");
    }

    fn check_url(raw: &str, base: Option<&str>, expect: Option<&str>) {
        let base = base.map(|b| Url::parse(b).unwrap());
        assert_eq!(
            canonical_url(raw, base.as_ref()).as_deref(),
            expect,
            "url {raw:?}"
        );
    }

    #[test]
    fn rss2_basic() {
        // What parse gives for rss2_basic.xml.
        let first = Entry {
            summary: Some("<p>A short <b>summary</b>.</p>".into()),
            content: Some("<p>The full article.</p><p>Second paragraph.</p>".into()),
            published: date(2025, 7, 23, 14),
            ..entry(
                Some("news-1001"),
                "APT27 targets telecoms in Southeast Asia",
                Some("https://news.example.org/2025/07/apt27-telecoms"),
            )
        };
        check(
            vec![first],
            r#"guid:news-1001 | "APT27 targets telecoms in Southeast Asia" | 2025-07-23T14:00:00Z
  url Some("https://news.example.org/2025/07/apt27-telecoms") guid Some("news-1001")
  summary "A short summary."
  content "The full article.\nSecond paragraph."
"#,
        );
    }

    #[test]
    fn html_entities() {
        // What parse gives for html_entities.xml: one layer of XML escaping removed.
        let soup1 = Entry {
            summary: Some(
                "Southeast&nbsp;Asian telcos &#8211; &#x201C;quoted&#x201D; &amp;amp; more".into(),
            ),
            ..entry(
                Some("soup-1"),
                "Tom &amp; Jerry&rsquo;s &quot;exploit&quot;",
                Some("https://soup.example.net/1"),
            )
        };
        let soup2 = Entry {
            summary: Some(
                "<p>Caf&eacute;&nbsp;hack&hellip; AT&amp;amp;T &lt;script&gt; is text</p>".into(),
            ),
            ..entry(
                Some("soup-2"),
                "CrowdStrike Ranked #1 in 2025 Frost Radar&trade; for MDR",
                Some("https://soup.example.net/2"),
            )
        };
        check(
            vec![soup1, soup2],
            r#"guid:soup-1 | "Tom & Jerry’s \"exploit\"" | -
  url Some("https://soup.example.net/1") guid Some("soup-1")
  summary "Southeast Asian telcos – “quoted” & more"
guid:soup-2 | "CrowdStrike Ranked #1 in 2025 Frost Radar™ for MDR" | -
  url Some("https://soup.example.net/2") guid Some("soup-2")
  summary "Café hack… AT&T <script> is text"
"#,
        );
    }

    #[test]
    fn cdata_html() {
        let e = Entry {
            summary: Some(
                "<p>Actors:</p><ul><li>Gallium</li><li>Naikon</li></ul>\
                 <script>track(\"x\")</script><style>p{color:red}</style>"
                    .into(),
            ),
            content: Some(
                "<h2>Summary</h2><div>Telecoms<br/>in Southeast Asia</div>\
                 <noscript><img src=\"pixel.gif\"/>enable js</noscript>\
                 <table><tr><td>APT27</td><td>China</td></tr></table>"
                    .into(),
            ),
            ..entry(
                Some("rec-501"),
                "Naikon’s <b>new</b> backdoor",
                Some("https://record.example.com/naikon-backdoor"),
            )
        };
        check(
            vec![e],
            r#"guid:rec-501 | "Naikon’s new backdoor" | -
  url Some("https://record.example.com/naikon-backdoor") guid Some("rec-501")
  summary "Actors:\nGallium\nNaikon"
  content "Summary\nTelecoms\nin Southeast Asia\nAPT27 China"
"#,
        );
    }

    #[test]
    fn atom_plain_text_keeps_its_angle_brackets() {
        // atom_basic.xml's second entry: parse escapes Atom type="text".
        let e = Entry {
            summary: Some("Plain text summary, a &lt; b.".into()),
            updated: date(2025, 7, 20, 12),
            ..entry(
                Some("urn:example:advisory:41"),
                "AT&amp;T &lt;not a tag&gt;",
                Some("https://advisories.example.org/41"),
            )
        };
        check(
            vec![e],
            r#"guid:urn:example:advisory:41 | "AT&T <not a tag>" | 2025-07-20T12:00:00Z
  url Some("https://advisories.example.org/41") guid Some("urn:example:advisory:41")
  summary "Plain text summary, a < b."
"#,
        );
    }

    #[test]
    fn duplicate_guids_fall_back_to_urls() {
        // duplicate_guids.xml: one guid for four entries, the first repeated verbatim.
        let guid = Some("https://dupes.example.com/");
        check(
            vec![
                entry(guid, "Alpha", Some("https://dupes.example.com/alpha")),
                entry(guid, "Beta", Some("https://dupes.example.com/beta")),
                entry(guid, "Gamma", Some("https://dupes.example.com/gamma")),
                entry(guid, "Alpha", Some("https://dupes.example.com/alpha")),
            ],
            r#"url:https://dupes.example.com/alpha | "Alpha" | -
  url Some("https://dupes.example.com/alpha") guid Some("https://dupes.example.com/")
url:https://dupes.example.com/beta | "Beta" | -
  url Some("https://dupes.example.com/beta") guid Some("https://dupes.example.com/")
url:https://dupes.example.com/gamma | "Gamma" | -
  url Some("https://dupes.example.com/gamma") guid Some("https://dupes.example.com/")
"#,
        );
    }

    #[test]
    fn repeated_guid_for_the_same_article_keeps_the_guid() {
        // MSRC lists a CVE twice (two revisions, same link): one item, stable key.
        let link = Some("https://msrc.example.com/update-guide/vulnerability/CVE-2026-1");
        check(
            vec![
                entry(Some("CVE-2026-1"), "CVE-2026-1 (revision 1.1)", link),
                entry(
                    Some("CVE-2026-2"),
                    "CVE-2026-2",
                    Some("https://msrc.example.com/2"),
                ),
                entry(Some("CVE-2026-1"), "CVE-2026-1 (revision 1.0)", link),
            ],
            r#"guid:CVE-2026-1 | "CVE-2026-1 (revision 1.1)" | -
  url Some("https://msrc.example.com/update-guide/vulnerability/CVE-2026-1") guid Some("CVE-2026-1")
guid:CVE-2026-2 | "CVE-2026-2" | -
  url Some("https://msrc.example.com/2") guid Some("CVE-2026-2")
"#,
        );
    }

    #[test]
    fn no_guid_keys_by_url_and_drops_exact_duplicates() {
        let first = Entry {
            published: date(2025, 7, 2, 13),
            ..entry(
                None,
                "First story",
                Some("https://noguid.example.com/first"),
            )
        };
        let second = Entry {
            published: date(2025, 7, 1, 9),
            ..entry(
                None,
                "Second story",
                Some("https://noguid.example.com/second"),
            )
        };
        check(
            vec![first.clone(), second, first],
            r#"url:https://noguid.example.com/first | "First story" | 2025-07-02T13:00:00Z
  url Some("https://noguid.example.com/first") guid None
url:https://noguid.example.com/second | "Second story" | 2025-07-01T09:00:00Z
  url Some("https://noguid.example.com/second") guid None
"#,
        );
    }

    #[test]
    fn no_dates_and_no_link_key_by_hash() {
        let orphan = Entry {
            summary: Some("No guid, no link, no date.".into()),
            ..entry(None, "Orphan notice", None)
        };
        check(
            vec![
                entry(
                    Some("nd-1"),
                    "Undated advisory",
                    Some("https://nodates.example.org/advisory"),
                ),
                orphan,
            ],
            r#"guid:nd-1 | "Undated advisory" | -
  url Some("https://nodates.example.org/advisory") guid Some("nd-1")
hash:0f06c11a72808246 | "Orphan notice" | -
  url None guid None
  summary "No guid, no link, no date."
"#,
        );
    }

    #[test]
    fn links_are_canonical_and_relative_ones_resolved() {
        // tracking_params.xml as parse gives it, plus a link parse could not resolve.
        check(
            vec![
                entry(None, "UTM", Some("https://track.example.com/a?utm_source=rss&utm_medium=feed&id=5&page=2#comments")),
                entry(None, "Matomo", Some("https://track.example.com/b?pk_campaign=feed&pk_kwd=b&mc_cid=1&mc_eid=2")),
                entry(None, "Click ids", Some("http://track.example.com/c?fbclid=x&q=apt27&gclid=y&ref=rss&branch=main")),
                entry(None, "Ref kept", Some("https://track.example.com/d?ref=v2.1&_hsenc=p2&_hsmi=9&spm=a.b&igshid=z&yclid=1")),
                entry(None, "Relative", Some("  /news/story-b?id=7 ")),
                entry(None, "Not http", Some("mailto:tips@example.com")),
            ],
            r#"url:https://track.example.com/a?id=5&page=2 | "UTM" | -
  url Some("https://track.example.com/a?id=5&page=2") guid None
url:https://track.example.com/b | "Matomo" | -
  url Some("https://track.example.com/b") guid None
url:http://track.example.com/c?q=apt27&branch=main | "Click ids" | -
  url Some("http://track.example.com/c?q=apt27&branch=main") guid None
url:https://track.example.com/d?ref=v2.1 | "Ref kept" | -
  url Some("https://track.example.com/d?ref=v2.1") guid None
url:https://feeds.example.test/news/story-b?id=7 | "Relative" | -
  url Some("https://feeds.example.test/news/story-b?id=7") guid None
hash:32a96543328dd66b | "Not http" | -
  url None guid None
"#,
        );
    }

    #[test]
    fn titles_are_one_line_and_never_empty() {
        let untitled = Entry {
            title: None,
            summary: Some(
                "<p>A summary long enough to be cut: Gallium and Naikon keep targeting \
                 telecommunications providers across Southeast Asia this summer.</p>"
                    .into(),
            ),
            updated: date(2025, 7, 24, 8),
            ..entry(Some("u-1"), "", None)
        };
        let wrapped = entry(
            Some("w-1"),
            "\n   2026-010: Critical\n   vulnerabilities\n",
            None,
        );
        check(
            vec![untitled, wrapped],
            r#"guid:u-1 | "A summary long enough to be cut: Gallium and Naikon keep targeting telecommunications providers…" | 2025-07-24T08:00:00Z
  url None guid Some("u-1")
  summary "A summary long enough to be cut: Gallium and Naikon keep targeting telecommunications providers across Southeast Asia this summer."
guid:w-1 | "2026-010: Critical vulnerabilities" | -
  url None guid Some("w-1")
"#,
        );
    }

    /// Writing text tidy as it goes gives what the plain per-character loop and the
    /// split-and-join it replaced gave, on random text.
    #[test]
    fn fast_html_to_text_agrees_with_reference() {
        fn reference(html: &str) -> String {
            fn plain(out: &mut String, text: &str) {
                for c in text.chars() {
                    if c.is_whitespace() {
                        out.push(' ');
                    } else if !(c.is_control() || c == '\u{200B}' || c == '\u{FEFF}') {
                        out.push(c);
                    }
                }
            }
            let mut out = String::new();
            plain(&mut out, html);
            out.split('\n')
                .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
                .filter(|line| !line.is_empty())
                .collect::<Vec<_>>()
                .join("\n")
        }
        let pieces = [
            "a",
            "word",
            " ",
            "  ",
            "\n",
            "\t",
            "\r\n",
            "\u{a0}",
            "\u{200b}",
            "\u{feff}",
            "\u{1}",
            "\u{7f}",
            "\u{85}",
            "\u{2028}",
            "\u{e9}t\u{e9}",
            "\u{3000}",
            "x",
        ];
        let mut next = crate::test_rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..20_000 {
            let text = crate::test_text(&mut next, &pieces, 14);
            assert_eq!(html_to_text(&text), reference(&text), "{text:?}");
        }
    }

    #[test]
    fn html_to_text_cases() {
        check_text("<li>Gallium</li><li>Naikon</li>", "Gallium\nNaikon");
        check_text(" a \u{a0}<p> \n b <td> c</p>\n\n<br> ", "a\nb c");
        check_text("a<br>b<BR/>c<p>d</p>e", "a\nb\nc\nd\ne");
        check_text("<p>Hello&nbsp;world</p>", "Hello world");
        check_text("<td>APT27</td><td>China</td>", "APT27 China");
        check_text("<b>bold</b><i>italic</i>", "bolditalic");
        check_text("x <script>if (a<b) {}</script> y", "x y");
        check_text("<STYLE type=\"text/css\">p{}</STYLE>z", "z");
        check_text("<noscript>enable js</noscript>ok", "ok");
        check_text("<script>never closed", "");
        check_text("<!-- comment <p> -->t", "t");
        check_text("<![CDATA[raw <b>&amp;]]>", "raw <b>&amp;");
        check_text("<!DOCTYPE html><?php x ?>t", "t");
        check_text("a < b and c > d", "a < b and c > d");
        check_text("<a href=\"x\" title='a>b'>link</a>", "link");
        check_text("cut off <a href=\"https://exa", "cut off");
        check_text("&amp;amp;", "&");
        check_text("&amp;amp;amp;lt;", "<");
        check_text("&#8217; &#x2019; &rsquo; &copy;", "’ ’ ’ ©");
        check_text("AT&T R&D &unknown; &", "AT&T R&D &unknown; &");
        check_text("  lots\n\n of \t  space  ", "lots of space");
        check_text("zero\u{200B}width\u{FEFF}", "zerowidth");
        check_text("", "");
    }

    #[test]
    fn canonical_url_cases() {
        let base = Some(BASE);
        check_url(
            " https://Example.COM:443/a/b?x=1#top ",
            None,
            Some("https://example.com/a/b?x=1"),
        );
        check_url("http://example.com:80/", None, Some("http://example.com/"));
        check_url(
            "http://example.com:8080/p",
            None,
            Some("http://example.com:8080/p"),
        );
        check_url("/rel?a=1", base, Some("https://feeds.example.test/rel?a=1"));
        check_url(
            "story.html",
            base,
            Some("https://feeds.example.test/security/story.html"),
        );
        check_url(
            "//cdn.example.org/x",
            base,
            Some("https://cdn.example.org/x"),
        );
        check_url("/rel", None, None);
        check_url("story.html", Some("file:///srv/feeds/local.xml"), None);
        check_url("mailto:x@example.com", None, None);
        check_url("javascript:alert(1)", None, None);
        check_url("ftp://example.com/f", None, None);
        check_url("   ", None, None);
        check_url(
            "https://x.example/?utm_source=a",
            None,
            Some("https://x.example/"),
        );
        check_url(
            "https://x.example/p?ref=main&source=rss&source=web",
            None,
            Some("https://x.example/p?ref=main&source=web"),
        );
        check_url(
            "https://x.example/p?UTM_Campaign=x&a=%20b&&c",
            None,
            Some("https://x.example/p?a=%20b&c"),
        );
        check_url(
            "https://x.example/p?Ref=RSS&fbclid=1",
            None,
            Some("https://x.example/p"),
        );
    }

    #[test]
    fn item_keys() {
        let published = date(2025, 7, 23, 10);
        assert_eq!(
            item_key(Some("a-1"), Some("https://x/"), "T", published).0,
            "guid:a-1"
        );
        assert_eq!(
            item_key(None, Some("https://x/"), "T", published).0,
            "url:https://x/"
        );
        // Pinned: these keys are stored, so the hash must never change.
        assert_eq!(
            item_key(None, None, "T", published).0,
            "hash:637c464471546f78"
        );
        assert_eq!(item_key(None, None, "T", None).0, "hash:0935c907b5c88734");
        assert_eq!(item_key(None, None, "", None).0, "hash:af64724c8602eb6e");
    }
}
