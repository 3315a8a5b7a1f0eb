//! Parse: feed bytes in, raw entries out.
//!
//! Input: the body `fetch` returned, its `Content-Type` (only the charset is used) and the
//! URL it came from (the base for relative links). Output: [`ParsedFeed`] with one
//! [`Entry`] per item, fields raw (HTML and entities left for `normalize`), dates in UTC.
//! RSS 0.9x, RSS 1.0 (RDF), RSS 2.0, Atom and JSON Feed are read by feed-rs; this is the
//! only module that knows feed-rs. Around it this module adds what real feeds need:
//! - bodies that are not UTF-8 and do not say so (HTTP charset, else a Windows-1252 guess);
//! - an HTML page served instead of the feed is named as such, not as an XML error;
//! - a lenient date reader (feed-rs' timestamp hook) for `Jul 23, 2025 00:00:00-0500`,
//!   `02 Jul 2025 13:14:54`, `EDT`/`CEST`/`CET`, ` Z`, long month/day names;
//! - feed-rs invents an id for entries without one: that is switched off, so a missing
//!   id stays `None` and dedupe falls back to the link.
//!
//! It does no I/O, does not clean text and does not decide item identity.

use std::borrow::Cow;

use encoding_rs::{Encoding, UTF_16BE, UTF_16LE, UTF_8, WINDOWS_1252};
use feed_rs::model::{FeedType, Link, Text};
use feed_rs::parser::{ParseErrorKind, ParseFeedError};
use url::Url;

pub use crate::model::Entry;

/// A parsed document: the channel title and its entries, in document order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedFeed {
    pub title: Option<String>,
    pub entries: Vec<Entry>,
}

/// Why a body is not a usable feed. The text is meant for a feed's "last error".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("not a feed: empty document")]
    Empty,
    #[error("not a feed: HTML page")]
    HtmlPage,
    #[error("not a feed: unrecognised document")]
    Unrecognised,
    #[error("invalid XML: {0}")]
    Xml(String),
    #[error("invalid JSON: {0}")]
    Json(String),
    #[error("invalid feed: {0}")]
    Invalid(String),
}

/// Parse a feed document into its entries (see [`parse_feed`] for the title too).
pub fn parse(
    bytes: &[u8],
    content_type: Option<&str>,
    base: Option<&Url>,
) -> Result<Vec<Entry>, ParseError> {
    parse_feed(bytes, content_type, base).map(|feed| feed.entries)
}

/// Parse a feed document: title and entries.
///
/// `base` (the feed's final URL) resolves relative links where the document has no
/// `xml:base` of its own.
pub fn parse_feed(
    bytes: &[u8],
    content_type: Option<&str>,
    base: Option<&Url>,
) -> Result<ParsedFeed, ParseError> {
    let bytes = to_utf8(bytes, content_type);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ParseError::Empty);
    }
    if looks_like_html(&bytes) {
        return Err(ParseError::HtmlPage);
    }
    let parser = feed_rs::parser::Builder::new()
        .base_uri(base.map(Url::as_str))
        // feed-rs hashes link + title into an id when an entry has none; an empty id
        // tells us there was none, so the key can come from the link instead.
        .id_generator(|_, _, _| String::new())
        .timestamp_parser(date::parse_timestamp)
        .sanitize_content(false)
        .build();
    let feed = parser
        .parse(&bytes[..])
        .map_err(|e| parse_error(e, &bytes))?;
    let plain_is_text = matches!(feed.feed_type, FeedType::Atom | FeedType::JSON);
    Ok(ParsedFeed {
        title: feed.title.map(|t| t.content),
        entries: feed
            .entries
            .into_iter()
            .map(|e| entry(e, plain_is_text, base))
            .collect(),
    })
}

/// One feed-rs entry as our raw [`Entry`].
///
/// RSS has no reliable notion of plain text (titles carry entities and markup in
/// practice), so every RSS text is treated as HTML. Atom `type="text"` and JSON Feed's
/// `summary`/`content_text` really are plain text: they are escaped so that `normalize`
/// can treat every field as HTML without eating a literal `<`.
fn entry(e: feed_rs::model::Entry, plain_is_text: bool, base: Option<&Url>) -> Entry {
    let as_html = |t: Text| {
        if plain_is_text && is_plain(&t.content_type) {
            escape_text(&t.content)
        } else {
            t.content
        }
    };
    let id = Some(e.id.trim())
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    // An item with only a permalink guid (no <link>) still has an article URL.
    let link = main_link(&e.links, base).or_else(|| id.clone().filter(|id| is_http_url(id)));
    let content = e.content.and_then(|c| {
        let plain = is_plain(&c.content_type);
        c.body.map(|b| {
            if plain && plain_is_text {
                escape_text(&b)
            } else {
                b
            }
        })
    });
    Entry {
        id,
        title: e.title.map(as_html),
        link,
        summary: e.summary.map(as_html),
        content,
        published: e.published,
        updated: e.updated,
    }
}

/// The article link: the first `alternate` (or untyped) link that is not a comments
/// link. feed-rs resolves XML links against `xml:base` and the base URI, but not JSON
/// Feed ones: those are resolved here.
fn main_link(links: &[Link], base: Option<&Url>) -> Option<String> {
    let href = links
        .iter()
        .filter(|l| l.target.is_none())
        .find(|l| matches!(l.rel.as_deref(), None | Some("alternate")))
        .map(|l| l.href.trim())
        .filter(|href| !href.is_empty())?;
    match (Url::parse(href), base) {
        (Err(url::ParseError::RelativeUrlWithoutBase), Some(base)) => base
            .join(href)
            .map_or_else(|_| Some(href.to_owned()), |u| Some(u.into())),
        _ => Some(href.to_owned()),
    }
}

/// `text/plain`, with or without parameters.
fn is_plain(media_type: &impl std::fmt::Display) -> bool {
    let text = media_type.to_string();
    let essence = text.split(';').next().unwrap_or_default();
    essence.trim().eq_ignore_ascii_case("text/plain")
}

fn is_http_url(s: &str) -> bool {
    Url::parse(s).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
}

fn escape_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn parse_error(e: ParseFeedError, bytes: &[u8]) -> ParseError {
    match e {
        ParseFeedError::ParseError(ParseErrorKind::NoFeedRoot) => {
            let head = String::from_utf8_lossy(&bytes[..bytes.len().min(1024)]).to_lowercase();
            if head.contains("<html") {
                ParseError::HtmlPage
            } else {
                ParseError::Unrecognised
            }
        }
        ParseFeedError::ParseError(kind) => ParseError::Invalid(kind.to_string()),
        ParseFeedError::XmlReader(e) => {
            let text = e.to_string();
            let text = text.strip_prefix("Parser error: ").unwrap_or(&text);
            ParseError::Xml(short(text))
        }
        ParseFeedError::JsonSerde(e) => ParseError::Json(short(&e.to_string())),
        ParseFeedError::JsonUnsupportedVersion(v) => {
            ParseError::Invalid(format!("unsupported JSON Feed version {v:?}"))
        }
        ParseFeedError::IoError(e) => ParseError::Invalid(short(&e.to_string())),
    }
}

fn short(text: &str) -> String {
    const MAX: usize = 160;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Bytes feed-rs can read: UTF-8, or an encoding the XML declaration names.
///
/// feed-rs honours `<?xml encoding="...">` itself, so declared documents pass through.
/// A body that is valid UTF-8 is taken as UTF-8 even if the HTTP charset says otherwise
/// (servers mislabel far more often than Latin-1 text happens to be valid UTF-8).
/// Otherwise it is decoded with the HTTP charset, else as UTF-8 with replacement
/// characters if it is mostly UTF-8, else as Windows-1252 (what undeclared 8-bit feeds are).
fn to_utf8<'a>(bytes: &'a [u8], content_type: Option<&str>) -> Cow<'a, [u8]> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        return Cow::Borrowed(bytes); // UTF-16 with a BOM: feed-rs decodes it
    }
    if declared_encoding(bytes).is_some_and(|enc| enc != UTF_8) {
        return Cow::Borrowed(bytes);
    }
    let http = content_type.and_then(charset);
    // UTF-16 text without a BOM can be valid UTF-8 (ASCII plus NULs): trust the header.
    let utf16 = http.is_some_and(|enc| enc == UTF_16LE || enc == UTF_16BE);
    if std::str::from_utf8(bytes).is_ok() && !utf16 {
        return Cow::Borrowed(bytes);
    }
    let encoding = http.filter(|enc| *enc != UTF_8).unwrap_or_else(|| {
        let mostly_utf8 = bytes.utf8_chunks().any(|chunk| !chunk.valid().is_ascii());
        if mostly_utf8 {
            UTF_8
        } else {
            WINDOWS_1252
        }
    });
    let (text, _, _) = encoding.decode(bytes);
    Cow::Owned(text.into_owned().into_bytes())
}

/// The encoding named in an XML declaration, if there is one and it is known.
fn declared_encoding(bytes: &[u8]) -> Option<&'static Encoding> {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace())?;
    let head = &bytes[start..bytes.len().min(start + 256)];
    if !head.starts_with(b"<?xml") {
        return None;
    }
    let decl = &head[..find(head, b"?>")?];
    let at = find(decl, b"encoding")? + b"encoding".len();
    let rest = decl[at..]
        .trim_ascii_start()
        .strip_prefix(b"=")?
        .trim_ascii_start();
    let quote = *rest.first()?;
    let value = &rest[1..];
    let end = value.iter().position(|b| *b == quote)?;
    Encoding::for_label(&value[..end])
}

/// The encoding named by `charset=` in a Content-Type value.
fn charset(content_type: &str) -> Option<&'static Encoding> {
    let lower = content_type.to_ascii_lowercase();
    let at = lower.find("charset=")? + "charset=".len();
    let label = lower[at..]
        .split(';')
        .next()?
        .trim()
        .trim_matches(['"', '\'']);
    Encoding::for_label(label.as_bytes())
}

/// True when the document's first element is an HTML page (after BOM, XML
/// declaration, processing instructions and comments). Only the first KB is read.
fn looks_like_html(bytes: &[u8]) -> bool {
    let mut rest = &bytes[..bytes.len().min(1024)];
    loop {
        rest = rest.trim_ascii_start();
        if rest.starts_with(b"<?") {
            rest = find(rest, b"?>").map_or(&[][..], |i| &rest[i + 2..]);
        } else if rest.starts_with(b"<!--") {
            rest = find(rest, b"-->").map_or(&[][..], |i| &rest[i + 3..]);
        } else {
            break;
        }
    }
    let starts = |prefix: &[u8]| {
        rest.len() >= prefix.len() && rest[..prefix.len()].eq_ignore_ascii_case(prefix)
    };
    starts(b"<!doctype html")
        || (starts(b"<html")
            && rest
                .get(5)
                .is_none_or(|b| b.is_ascii_whitespace() || *b == b'>'))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The timestamp reader handed to feed-rs (it replaces feed-rs' own, which gives up on
/// the forms below and leaves the date empty).
mod date {
    use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc};

    /// RFC 3339, RFC 2822, then looser forms: ISO without `T` or zone, month-first
    /// (`Jul 23, 2025 00:00:00-0500`), no zone (taken as UTC), zone abbreviations
    /// (`EDT`, `CEST`, `CET`, `UTC`, ` Z`), long month and weekday names.
    /// Anything with a word it does not know is left undated rather than guessed.
    pub(super) fn parse_timestamp(raw: &str) -> Option<DateTime<Utc>> {
        let s = raw.trim();
        if s.is_empty() {
            return None;
        }
        DateTime::parse_from_rfc3339(s)
            .or_else(|_| DateTime::parse_from_rfc2822(s))
            .ok()
            .map(|d| d.with_timezone(&Utc))
            .or_else(|| iso_loose(s))
            .or_else(|| words(s))
    }

    /// `2025-07-23`, `2025-07-23 10:00:00`, `2025-07-23T10:00:00+0200` and the like.
    fn iso_loose(s: &str) -> Option<DateTime<Utc>> {
        let b = s.as_bytes();
        if b.len() < 10 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
            return None;
        }
        let date = NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok()?;
        let rest = s.get(10..)?.trim_start_matches(['T', 't', ' ']);
        let (time, zone) = split_time(rest);
        let time = if time.is_empty() {
            NaiveTime::MIN
        } else {
            parse_time(time)?
        };
        to_utc(date, time, zone_offset(zone.trim())?)
    }

    /// Whitespace-separated words in any order: weekday, day, month, year, time, zone.
    fn words(s: &str) -> Option<DateTime<Utc>> {
        let (mut day, mut month, mut year) = (None, None, None);
        let (mut time, mut offset, mut pm) = (None, None, None);
        let cleaned = s.replace(',', " ");
        let mut tokens = Vec::new();
        for w in cleaned.split_whitespace() {
            // `23-Jul-2025` (RFC 850) splits; `-0500` and `00:00-0500` do not.
            if !w.starts_with(['+', '-']) && !w.contains(':') && w.contains('-') {
                tokens.extend(w.split('-'));
            } else {
                tokens.push(w);
            }
        }
        for word in tokens {
            let word = word.trim_end_matches('.');
            if word.is_empty() {
                return None;
            } else if word.contains(':') {
                let (t, zone) = split_time(word);
                time = Some(parse_time(t)?);
                if !zone.is_empty() {
                    offset = Some(zone_offset(zone)?);
                }
            } else if word.starts_with(['+', '-']) {
                offset = Some(zone_offset(word)?);
            } else if word.bytes().all(|b| b.is_ascii_digit()) {
                let n: i32 = word.parse().ok()?;
                match (word.len(), day, year) {
                    (4, _, None) => year = Some(n),
                    (1 | 2, None, _) => day = Some(u32::try_from(n).ok()?),
                    (2, Some(_), None) => year = Some(if n < 70 { 2000 + n } else { 1900 + n }),
                    _ => return None,
                }
            } else if let Some(m) = month_number(word) {
                month = Some(m);
            } else if is_weekday(word) || word.eq_ignore_ascii_case("at") {
            } else if word.eq_ignore_ascii_case("am") || word.eq_ignore_ascii_case("pm") {
                pm = Some(word.eq_ignore_ascii_case("pm"));
            } else {
                offset = Some(zone_offset(word)?);
            }
        }
        let date = NaiveDate::from_ymd_opt(year?, month?, day?)?;
        let mut time = time.unwrap_or(NaiveTime::MIN);
        if let Some(pm) = pm {
            use chrono::Timelike;
            let hour = match (pm, time.hour()) {
                (true, h @ 0..=11) => h + 12,
                (false, 12) => 0,
                (_, h) => h,
            };
            time = time.with_hour(hour)?;
        }
        to_utc(date, time, offset.unwrap_or(0))
    }

    /// Split `10:00:00-0500` into the time and what follows it.
    fn split_time(s: &str) -> (&str, &str) {
        let end = s
            .find(|c: char| !(c.is_ascii_digit() || c == ':' || c == '.'))
            .unwrap_or(s.len());
        s.split_at(end)
    }

    fn parse_time(t: &str) -> Option<NaiveTime> {
        NaiveTime::parse_from_str(t, "%H:%M:%S%.f")
            .or_else(|_| NaiveTime::parse_from_str(t, "%H:%M"))
            .ok()
    }

    /// Seconds east of UTC for `Z`, `+01`, `+0100`, `+01:00` or a zone abbreviation.
    fn zone_offset(zone: &str) -> Option<i32> {
        if zone.is_empty() {
            return Some(0);
        }
        if let Some(sign) = zone.strip_prefix(['+', '-']).map(|_| zone.starts_with('-')) {
            let digits: String = zone[1..].chars().filter(|c| *c != ':').collect();
            if !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let (h, m) = match digits.len() {
                1 | 2 => (digits.parse::<i32>().ok()?, 0),
                4 => (
                    digits[..2].parse::<i32>().ok()?,
                    digits[2..].parse::<i32>().ok()?,
                ),
                _ => return None,
            };
            let secs = h * 3600 + m * 60;
            return Some(if sign { -secs } else { secs });
        }
        let hours = ZONES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(zone))?
            .1;
        Some((hours * 3600.0) as i32)
    }

    /// Zone abbreviations seen in feeds, in hours east of UTC. `IST` is India's.
    const ZONES: &[(&str, f32)] = &[
        ("Z", 0.0),
        ("UT", 0.0),
        ("UTC", 0.0),
        ("GMT", 0.0),
        ("WET", 0.0),
        ("WEST", 1.0),
        ("BST", 1.0),
        ("CET", 1.0),
        ("MET", 1.0),
        ("CEST", 2.0),
        ("MEST", 2.0),
        ("EET", 2.0),
        ("EEST", 3.0),
        ("MSK", 3.0),
        ("IST", 5.5),
        ("SGT", 8.0),
        ("HKT", 8.0),
        ("AWST", 8.0),
        ("JST", 9.0),
        ("KST", 9.0),
        ("ACST", 9.5),
        ("AEST", 10.0),
        ("AEDT", 11.0),
        ("NZST", 12.0),
        ("NZDT", 13.0),
        ("HST", -10.0),
        ("AKST", -9.0),
        ("AKDT", -8.0),
        ("PST", -8.0),
        ("PDT", -7.0),
        ("MST", -7.0),
        ("MDT", -6.0),
        ("CST", -6.0),
        ("CDT", -5.0),
        ("EST", -5.0),
        ("EDT", -4.0),
    ];

    const MONTHS: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];

    const WEEKDAYS: [&str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];

    /// `Jul`, `July`, `Sept` -> 7, 7, 9: a prefix of the full name, at least 3 letters.
    fn month_number(word: &str) -> Option<u32> {
        let w = word.to_ascii_lowercase();
        let i = MONTHS
            .iter()
            .position(|m| w.len() >= 3 && m.starts_with(&w))?;
        u32::try_from(i + 1).ok()
    }

    fn is_weekday(word: &str) -> bool {
        let w = word.to_ascii_lowercase();
        w.len() >= 3 && WEEKDAYS.iter().any(|d| d.starts_with(&w))
    }

    fn to_utc(date: NaiveDate, time: NaiveTime, offset: i32) -> Option<DateTime<Utc>> {
        FixedOffset::east_opt(offset)?
            .from_local_datetime(&date.and_time(time))
            .single()
            .map(|d| d.with_timezone(&Utc))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use std::fmt::Write as _;
    use std::path::{Path, PathBuf};

    use chrono::{DateTime, SecondsFormat, Utc};

    use super::*;

    const BASE: &str = "https://feeds.example.test/security/feed.xml";

    fn fixture(name: &str) -> Vec<u8> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/feeds")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Parse `input` (with `BASE` as the feed URL) and compare a plain dump of the result.
    fn check(input: &[u8], content_type: Option<&str>, expect: &str) {
        let base = Url::parse(BASE).unwrap();
        let actual = match parse_feed(input, content_type, Some(&base)) {
            Ok(feed) => dump(&feed),
            Err(e) => format!("error: {e}\n"),
        };
        assert_eq!(actual, expect, "\n--- actual ---\n{actual}");
    }

    fn dump(feed: &ParsedFeed) -> String {
        let show = |v: &Option<String>| v.as_ref().map_or("-".to_owned(), |s| format!("{s:?}"));
        let date = |d: &Option<DateTime<Utc>>| {
            d.map_or("-".to_owned(), |d| {
                d.to_rfc3339_opts(SecondsFormat::Secs, true)
            })
        };
        let mut out = format!("feed {}\n", show(&feed.title));
        for e in &feed.entries {
            let _ = writeln!(out, "- id {}", show(&e.id));
            let _ = writeln!(out, "  title {}", show(&e.title));
            let _ = writeln!(out, "  link {}", show(&e.link));
            let _ = writeln!(out, "  dates {} {}", date(&e.published), date(&e.updated));
            if e.summary.is_some() {
                let _ = writeln!(out, "  summary {}", show(&e.summary));
            }
            if e.content.is_some() {
                let _ = writeln!(out, "  content {}", show(&e.content));
            }
        }
        out
    }

    fn check_date(raw: &str, expect: &str) {
        let actual = date::parse_timestamp(raw).map_or("-".to_owned(), |d| {
            d.to_rfc3339_opts(SecondsFormat::Secs, true)
        });
        assert_eq!(actual, expect, "date {raw:?}");
    }

    #[test]
    fn rss2_basic() {
        check(
            &fixture("rss2_basic.xml"),
            Some("application/rss+xml"),
            r##"feed "Example Security News"
- id "news-1001"
  title "APT27 targets telecoms in Southeast Asia"
  link "https://news.example.org/2025/07/apt27-telecoms"
  dates 2025-07-23T14:30:00Z 2025-07-23T14:30:00Z
  summary "<p>A short <b>summary</b>.</p>"
  content "<p>The full article.</p><p>Second paragraph.</p>"
- id "https://news.example.org/2025/07/patch-tuesday"
  title "Patch Tuesday roundup"
  link "https://news.example.org/2025/07/patch-tuesday"
  dates 2025-07-08T18:00:00Z 2025-07-08T18:00:00Z
  summary "Seven zero-days fixed."
"##,
        );
    }

    #[test]
    fn atom_basic() {
        check(
            &fixture("atom_basic.xml"),
            None,
            r##"feed "Example Advisories"
- id "urn:example:advisory:42"
  title "Naikon &amp; friends"
  link "https://advisories.example.org/42"
  dates 2025-07-22T06:00:00Z 2025-07-23T10:00:00Z
  summary "<p>Summary of advisory 42.</p>"
  content "<p>Full text of advisory 42.</p>"
- id "urn:example:advisory:41"
  title "AT&amp;T &lt;not a tag&gt;"
  link "https://advisories.example.org/41"
  dates - 2025-07-20T12:00:00Z
  summary "Plain text summary, a &lt; b."
"##,
        );
    }

    #[test]
    fn rss1_rdf() {
        check(
            &fixture("rss1_rdf.xml"),
            None,
            r##"feed "Example CERT (RSS 1.0)"
- id -
  title "Vulnerability note 1"
  link "https://cert.example.org/notes/1"
  dates 2025-07-21T09:15:00Z -
  summary "First note."
- id -
  title "Vulnerability note 2"
  link "https://cert.example.org/notes/2"
  dates 2025-07-22T09:15:00Z -
  summary "Second note."
"##,
        );
    }

    #[test]
    fn rss091() {
        check(
            &fixture("rss091.xml"),
            None,
            r##"feed "Old School Bulletins"
- id -
  title "Bulletin 7"
  link "http://bulletins.example.org/7"
  dates - -
  summary "Worm spreading on port 445."
- id -
  title "Bulletin 6"
  link "http://bulletins.example.org/6"
  dates - -
"##,
        );
    }

    #[test]
    fn json_feed() {
        check(
            &fixture("json_feed.json"),
            Some("application/feed+json"),
            r##"feed "Example JSON Feed"
- id "https://json.example.org/posts/3"
  title "Gallium returns"
  link "https://json.example.org/posts/3"
  dates 2025-07-23T10:00:00Z 2025-07-23T11:00:00Z
  summary "Gallium &amp; co. are back"
  content "<p>Gallium is back.</p>"
- id -
  title "No id, relative url"
  link "https://feeds.example.test/posts/2"
  dates 2025-07-22T09:00:00Z -
  content "Plain &lt;text&gt; body"
"##,
        );
    }

    #[test]
    fn iso_8859_1_declared() {
        check(
            &fixture("iso-8859-1.xml"),
            Some("text/xml"),
            r##"feed "Agence nationale de la sécurité"
- id "avis-2025-001"
  title "Sécurité : vulnérabilité critique"
  link "https://anssi.example.fr/avis/2025-001"
  dates 2025-07-21T08:00:00Z 2025-07-21T08:00:00Z
  summary "Mise à jour urgente, « déjà exploitée »."
"##,
        );
    }

    #[test]
    fn windows_1252_declared() {
        check(
            &fixture("windows-1252.xml"),
            None,
            r##"feed "Vendor Blog"
- id "blog-77"
  title "“Zero-click” exploit – what we know"
  link "https://blog.example.com/zero-click"
  dates 2025-07-24T08:00:00Z 2025-07-24T08:00:00Z
  summary "Ransom demands of €5m and ‘rising’."
"##,
        );
    }

    #[test]
    fn latin1_only_in_http_charset() {
        let body = b"<rss version=\"2.0\"><channel><title>S\xe9curit\xe9</title></channel></rss>";
        check(
            body,
            Some("text/xml; charset=\"ISO-8859-1\""),
            "feed \"Sécurité\"\n",
        );
    }

    #[test]
    fn undeclared_8bit_is_read_as_windows_1252() {
        let body =
            b"<rss version=\"2.0\"><channel><title>\x93S\xe9curit\xe9\x94</title></channel></rss>";
        check(body, None, "feed \"“Sécurité”\"\n");
    }

    #[test]
    fn valid_utf8_wins_over_a_wrong_http_charset() {
        let body = "<rss version=\"2.0\"><channel><title>Sécurité</title></channel></rss>";
        check(
            body.as_bytes(),
            Some("text/xml; charset=iso-8859-1"),
            "feed \"Sécurité\"\n",
        );
    }

    #[test]
    fn utf16_named_only_by_http_charset() {
        let body: Vec<u8> = "<rss version=\"2.0\"><channel><title>Sécurité</title></channel></rss>"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        check(
            &body,
            Some("application/rss+xml; charset=utf-16le"),
            "feed \"Sécurité\"\n",
        );
    }

    #[test]
    fn utf8_bom_is_skipped() {
        let body = b"\xEF\xBB\xBF{\"version\":\"https://jsonfeed.org/version/1.1\",\"title\":\"B\",\"items\":[]}";
        check(body, None, "feed \"B\"\n");
    }

    #[test]
    fn html_entities_stay_raw() {
        check(
            &fixture("html_entities.xml"),
            None,
            r##"feed "Entity Soup"
- id "soup-1"
  title "Tom &amp; Jerry&rsquo;s &quot;exploit&quot;"
  link "https://soup.example.net/1"
  dates - -
  summary "Southeast&nbsp;Asian telcos &#8211; &#x201C;quoted&#x201D; &amp;amp; more"
- id "soup-2"
  title "CrowdStrike Ranked #1 in 2025 Frost Radar&trade; for MDR"
  link "https://soup.example.net/2"
  dates - -
  summary "<p>Caf&eacute;&nbsp;hack&hellip; AT&amp;amp;T &lt;script&gt; is text</p>"
"##,
        );
    }

    #[test]
    fn cdata_html() {
        check(
            &fixture("cdata_html.xml"),
            None,
            r##"feed "The Record"
- id "rec-501"
  title "Naikon’s <b>new</b> backdoor"
  link "https://record.example.com/naikon-backdoor"
  dates 2025-07-25T16:00:00Z 2025-07-25T16:00:00Z
  summary "<p>Actors:</p><ul><li>Gallium</li><li>Naikon</li></ul><script>track(\"x\")</script><style>p{color:red}</style>"
  content "<h2>Summary</h2><div>Telecoms<br/>in Southeast Asia</div><noscript><img src=\"pixel.gif\"/>enable js</noscript><table><tr><td>APT27</td><td>China</td></tr></table>"
"##,
        );
    }

    #[test]
    fn relative_links() {
        check(
            &fixture("relative_links.xml"),
            None,
            r##"feed "Relative Links"
- id "rel-a"
  title "Under xml:base"
  link "https://mirror.example.org/archive/2025/story-a.html"
  dates - -
- id "rel-b"
  title "Relative to the feed"
  link "https://feeds.example.test/news/story-b?id=7"
  dates - -
- id "rel-c"
  title "Protocol-relative"
  link "https://cdn.example.org/story-c"
  dates - -
"##,
        );
    }

    #[test]
    fn no_guid_gives_no_id() {
        check(
            &fixture("no_guid.xml"),
            None,
            r##"feed "No GUIDs"
- id -
  title "First story"
  link "https://noguid.example.com/first"
  dates 2025-07-02T13:14:54Z 2025-07-02T13:14:54Z
- id -
  title "Second story"
  link "https://noguid.example.com/second"
  dates 2025-07-01T09:00:00Z 2025-07-01T09:00:00Z
- id -
  title "First story"
  link "https://noguid.example.com/first"
  dates 2025-07-02T13:14:54Z 2025-07-02T13:14:54Z
"##,
        );
    }

    #[test]
    fn duplicate_guids_are_kept_as_given() {
        check(
            &fixture("duplicate_guids.xml"),
            None,
            r##"feed "One GUID For Everything"
- id "https://dupes.example.com/"
  title "Alpha"
  link "https://dupes.example.com/alpha"
  dates - -
- id "https://dupes.example.com/"
  title "Beta"
  link "https://dupes.example.com/beta"
  dates - -
- id "https://dupes.example.com/"
  title "Gamma"
  link "https://dupes.example.com/gamma"
  dates - -
- id "https://dupes.example.com/"
  title "Alpha"
  link "https://dupes.example.com/alpha"
  dates - -
"##,
        );
    }

    #[test]
    fn no_dates() {
        check(
            &fixture("no_dates.xml"),
            None,
            r##"feed "No Dates"
- id "nd-1"
  title "Undated advisory"
  link "https://nodates.example.org/advisory"
  dates - -
- id -
  title "Orphan notice"
  link -
  dates - -
  summary "No guid, no link, no date."
"##,
        );
    }

    #[test]
    fn odd_dates() {
        check(
            &fixture("odd_dates.xml"),
            None,
            r##"feed "Odd Dates"
- id -
  title "month first, glued offset"
  link "https://dates.example.com/1"
  dates 2025-07-23T05:00:00Z 2025-07-23T05:00:00Z
- id -
  title "no weekday, no zone"
  link "https://dates.example.com/2"
  dates 2025-07-02T13:14:54Z 2025-07-02T13:14:54Z
- id -
  title "EDT"
  link "https://dates.example.com/3"
  dates 2025-07-21T14:11:24Z 2025-07-21T14:11:24Z
- id -
  title "CEST"
  link "https://dates.example.com/4"
  dates 2026-08-19T08:45:00Z 2026-08-19T08:45:00Z
- id -
  title "CET"
  link "https://dates.example.com/5"
  dates 2026-02-26T15:05:00Z 2026-02-26T15:05:00Z
- id -
  title "space Z"
  link "https://dates.example.com/6"
  dates 2025-08-26T14:00:00Z 2025-08-26T14:00:00Z
- id -
  title "long names"
  link "https://dates.example.com/7"
  dates 2025-07-23T09:05:00Z 2025-07-23T09:05:00Z
- id -
  title "ISO with space, no zone"
  link "https://dates.example.com/8"
  dates 2025-07-23T10:00:00Z 2025-07-23T10:00:00Z
- id -
  title "UTC word"
  link "https://dates.example.com/9"
  dates 2025-07-24T08:00:00Z 2025-07-24T08:00:00Z
- id -
  title "garbage"
  link "https://dates.example.com/10"
  dates - -
"##,
        );
    }

    #[test]
    fn whitespace_links() {
        check(
            &fixture("whitespace_links.xml"),
            None,
            r##"feed "Whitespace Links"
- id "advisories-10947"
  title "2026-010: Critical vulnerabilities"
  link "https://ws.example.eu/publications/2026-010/"
  dates - -
- id -
  title "Tabbed"
  link "https://ws.example.eu/publications/2026-009/"
  dates - -
"##,
        );
    }

    #[test]
    fn tracking_params_are_left_for_normalize() {
        check(
            &fixture("tracking_params.xml"),
            None,
            r##"feed "Tracking Params"
- id -
  title "UTM and fragment"
  link "https://track.example.com/a?utm_source=rss&utm_medium=feed&id=5&page=2#comments"
  dates - -
- id -
  title "Matomo and Mailchimp"
  link "https://track.example.com/b?pk_campaign=feed&pk_kwd=b&mc_cid=1&mc_eid=2"
  dates - -
- id -
  title "Click ids, ref=rss, functional ref kept"
  link "http://track.example.com/c?fbclid=x&q=apt27&gclid=y&ref=rss&branch=main"
  dates - -
- id -
  title "Ref that is not a tracker"
  link "https://track.example.com/d?ref=v2.1&_hsenc=p2&_hsmi=9&spm=a.b&igshid=z&yclid=1"
  dates - -
"##,
        );
    }

    #[test]
    fn html_page_is_not_a_feed() {
        check(
            &fixture("html_page.html"),
            Some("text/html"),
            "error: not a feed: HTML page\n",
        );
        check(
            b"\n<html><body>hi</body></html>",
            None,
            "error: not a feed: HTML page\n",
        );
        check(
            b"<?xml version=\"1.0\"?>\n<!-- x -->\n<!DOCTYPE HTML PUBLIC \"-//W3C//DTD XHTML 1.0//EN\" \"\"><html/>",
            None,
            "error: not a feed: HTML page\n",
        );
    }

    #[test]
    fn truncated_xml() {
        check(
            &fixture("truncated.xml"),
            None,
            r##"error: invalid XML: syntax error: tag not closed: `>` not found before end of input
"##,
        );
    }

    #[test]
    fn other_failures() {
        check(b"", None, "error: not a feed: empty document\n");
        check(b" \n\t", None, "error: not a feed: empty document\n");
        check(
            b"<opml version=\"2.0\"><body/></opml>",
            None,
            "error: not a feed: unrecognised document\n",
        );
        check(
            b"Service Unavailable",
            None,
            "error: not a feed: unrecognised document\n",
        );
        check(
            b"{\"version\": \"https://jsonfeed.org/version/1\", \"items\": [",
            None,
            "error: invalid JSON: EOF while parsing a list at line 1 column 56\n",
        );
        check(
            b"<rss version=\"2.0\"><channel><title>a</titl></channel></rss>",
            None,
            "error: invalid XML: ill-formed document: expected `</title>`, but `</titl>` was found\n",
        );
    }

    #[test]
    fn dates() {
        check_date("Wed, 23 Jul 2025 14:30:00 +0000", "2025-07-23T14:30:00Z");
        check_date("2025-07-22T08:00:00+02:00", "2025-07-22T06:00:00Z");
        check_date("2026-03-13T20:57:29.000Z", "2026-03-13T20:57:29Z");
        check_date("Jul 23, 2025 00:00:00-0500", "2025-07-23T05:00:00Z");
        check_date("02 Jul 2025 13:14:54", "2025-07-02T13:14:54Z");
        check_date("Mon, 21 Jul 2025 10:11:24 EDT", "2025-07-21T14:11:24Z");
        check_date("Wed, 19 Aug 2026 10:45:00 CEST", "2026-08-19T08:45:00Z");
        check_date("Thu, 26 Feb 2026 16:05:00 CET", "2026-02-26T15:05:00Z");
        check_date("Tue, 26 Aug 2025 14:00:00 Z", "2025-08-26T14:00:00Z");
        check_date("Thu, 24 Jul 2025 08:00:00 UTC", "2025-07-24T08:00:00Z");
        check_date(
            "Wednesday, 23 July 2025 9:05:00 GMT",
            "2025-07-23T09:05:00Z",
        );
        check_date("Tue, 5 Nov 2022 2:15:04 +0100", "2022-11-05T01:15:04Z");
        check_date("Sept 3, 2025 4:30 PM EST", "2025-09-03T21:30:00Z");
        check_date("Sunday, 06-Nov-94 08:49:37 GMT", "1994-11-06T08:49:37Z");
        check_date("2025-07-23 10:00:00", "2025-07-23T10:00:00Z");
        check_date("2025-07-23T10:00:00+0200", "2025-07-23T08:00:00Z");
        check_date("2025-07-23", "2025-07-23T00:00:00Z");
        check_date("  2025-07-23T10:00Z ", "2025-07-23T10:00:00Z");
        check_date("sometime soon", "-");
        check_date("31 Feb 2025 10:00:00", "-");
        check_date("23 Jul 2025 10:00:00 XYZT", "-");
        check_date("", "-");
    }

    /// Every real feed in the shared corpus parses, every entry has a title, and every
    /// item that carries a date in the file gets one (the odd date forms included).
    #[test]
    fn shared_corpus() {
        let dir = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/corpus/feeds"
        ));
        if !dir.is_dir() {
            // Written to the stderr handle, not eprintln!, so the test harness does not
            // capture it: a skipped test says so in the CI log.
            let _ = std::io::Write::write_all(
                &mut std::io::stderr(),
                b"skipped: ../shared/corpus not present\n",
            );
            return;
        }
        let mut files = Vec::new();
        collect(dir, &mut files);
        assert!(!files.is_empty(), "no feeds under {}", dir.display());
        for path in files {
            let bytes = std::fs::read(&path).unwrap();
            let name = path.display();
            let feed = parse_feed(&bytes, None, None).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!feed.entries.is_empty(), "{name}: no entries");
            let dated = dated_items(&String::from_utf8_lossy(&bytes));
            assert_eq!(dated.len(), feed.entries.len(), "{name}: item count");
            for (entry, has_date) in feed.entries.iter().zip(dated) {
                let title = entry.title.as_deref().unwrap_or_default();
                assert!(!title.trim().is_empty(), "{name}: entry without title");
                if has_date {
                    assert!(
                        entry.published.or(entry.updated).is_some(),
                        "{name}: {title:?} undated"
                    );
                }
            }
        }
    }

    fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            if path.is_dir() {
                collect(&path, out);
            } else if [".xml", ".rss", ".atom", ".json"]
                .iter()
                .any(|ext| name.ends_with(ext))
            {
                out.push(path);
            }
        }
        out.sort();
    }

    /// For each item of a raw document, in order: does it carry a date element?
    fn dated_items(raw: &str) -> Vec<bool> {
        if raw.trim_start().starts_with('{') {
            let doc: serde_json::Value = serde_json::from_str(raw).unwrap();
            let items = doc["items"].as_array().cloned().unwrap_or_default();
            return items
                .iter()
                .map(|i| i.get("date_published").or(i.get("date_modified")).is_some())
                .collect();
        }
        let mut chunks = Vec::new();
        for tag in ["<item", "<entry"] {
            let mut parts = raw.split(tag);
            parts.next();
            for part in parts.filter(|p| p.starts_with(['>', ' ', '\n', '\t', '\r'])) {
                chunks.push(
                    ["<pubDate", "<published", "<updated", "<dc:date"]
                        .iter()
                        .any(|t| part.contains(t)),
                );
            }
        }
        chunks
    }
}
