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

use encoding_rs::{Encoding, UTF_8, WINDOWS_1252};
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
            .map(|e| entry(e, plain_is_text))
            .collect(),
    })
}

/// One feed-rs entry as our raw [`Entry`].
///
/// RSS has no reliable notion of plain text (titles carry entities and markup in
/// practice), so every RSS text is treated as HTML. Atom `type="text"` and JSON Feed's
/// `summary`/`content_text` really are plain text: they are escaped so that `normalize`
/// can treat every field as HTML without eating a literal `<`.
fn entry(e: feed_rs::model::Entry, plain_is_text: bool) -> Entry {
    let as_html = |t: Text| {
        if plain_is_text && is_plain(&t.content_type) {
            escape_text(&t.content)
        } else {
            t.content
        }
    };
    let id = Some(e.id.trim()).filter(|s| !s.is_empty()).map(str::to_owned);
    // An item with only a permalink guid (no <link>) still has an article URL.
    let link = main_link(&e.links).or_else(|| id.clone().filter(|id| is_http_url(id)));
    let content = e.content.and_then(|c| {
        let plain = is_plain(&c.content_type);
        c.body
            .map(|b| if plain && plain_is_text { escape_text(&b) } else { b })
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

/// The article link: the first `alternate` (or untyped) link that is not a comments link.
fn main_link(links: &[Link]) -> Option<String> {
    links
        .iter()
        .filter(|l| l.target.is_none())
        .find(|l| matches!(l.rel.as_deref(), None | Some("alternate")))
        .map(|l| l.href.trim().to_owned())
        .filter(|href| !href.is_empty())
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
            if head.contains("<html") || head.contains("<body") {
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
    let utf16 = http.filter(|enc| enc.output_encoding() != *enc);
    if std::str::from_utf8(bytes).is_ok() && utf16.is_none() {
        return Cow::Borrowed(bytes);
    }
    let encoding = http.filter(|enc| *enc != UTF_8).unwrap_or_else(|| {
        let mostly_utf8 = bytes
            .utf8_chunks()
            .any(|chunk| !chunk.valid().is_ascii());
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
    let rest = decl[at..].trim_ascii_start().strip_prefix(b"=")?.trim_ascii_start();
    let quote = *rest.first()?;
    let value = &rest[1..];
    let end = value.iter().position(|b| *b == quote)?;
    Encoding::for_label(&value[..end])
}

/// The encoding named by `charset=` in a Content-Type value.
fn charset(content_type: &str) -> Option<&'static Encoding> {
    let lower = content_type.to_ascii_lowercase();
    let at = lower.find("charset=")? + "charset=".len();
    let label = lower[at..].split(';').next()?.trim().trim_matches(['"', '\'']);
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
                4 => (digits[..2].parse::<i32>().ok()?, digits[2..].parse::<i32>().ok()?),
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

