//! Plain domain types shared by every stage: feeds' items, matches, alerts.
//!
//! No I/O and no dependencies on other modules: everything here is data that flows
//! feed -> fetch -> parse -> normalize -> store -> match -> alert -> deliver.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A stable identity for an item within the store, used for dedupe.
///
/// Built by `ingest::normalize` from the entry id scoped to its feed, else the canonical
/// link, else a hash of title + date (see `ingest::normalize::item_key`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ItemKey(pub String);

impl std::fmt::Display for ItemKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One entry as the feed document gave it, before normalization.
///
/// Produced by `ingest::parse`, consumed by `ingest::normalize`; it lives here so those
/// two stages do not import each other. Text fields are raw: they may hold HTML and
/// entities. Dates are UTC when the feed gave one that could be read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    /// The entry's own id (RSS `guid`, Atom `id`, JSON Feed `id`); `None` when it has none.
    pub id: Option<String>,
    pub title: Option<String>,
    /// The article link, trimmed; resolved against `xml:base` / the feed URL when possible.
    pub link: Option<String>,
    /// Raw HTML of the summary/description.
    pub summary: Option<String>,
    /// Raw HTML of the full content (`content:encoded`, Atom `content`, `content_html`).
    pub content: Option<String>,
    pub published: Option<DateTime<Utc>>,
    pub updated: Option<DateTime<Utc>>,
}

/// One article, normalized: clean text, canonical link, UTC date.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// Name of the feed (from the config) this item came from.
    pub feed: String,
    pub key: ItemKey,
    /// The entry id as the feed gave it, if it gave one.
    pub guid: Option<String>,
    pub title: String,
    /// Canonical article URL: absolute, no fragment, no tracking parameters.
    pub url: Option<String>,
    pub published: Option<DateTime<Utc>>,
    /// Clean text of the summary/description (no HTML).
    pub summary: String,
    /// Clean text of the full content, when the feed carries it (else empty).
    pub content: String,
}

/// Which part of an item a term was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Field {
    Title,
    Summary,
    Content,
}

impl Field {
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Title => "title",
            Field::Summary => "summary",
            Field::Content => "content",
        }
    }
}

/// The three categories a rule can watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Actors,
    Sectors,
    Regions,
}

/// One entity (actor, sector or region) found in an item, with why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityMatch {
    /// Canonical name from the catalog or taxonomy.
    pub name: String,
    /// Distinct surface forms as written in the article, in order of first appearance.
    pub matched: Vec<String>,
    /// Fields the forms were found in, in `Field` order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<Field>,
    /// Extra explanation, e.g. "not in the catalog; Microsoft naming scheme" or an ambiguity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Everything the matcher found in one item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entities {
    pub actors: Vec<EntityMatch>,
    pub sectors: Vec<EntityMatch>,
    pub regions: Vec<EntityMatch>,
}

impl Entities {
    pub fn is_empty(&self) -> bool {
        self.actors.is_empty() && self.sectors.is_empty() && self.regions.is_empty()
    }
}

/// Alert priority: embed colour and sort order.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Low,
    #[default]
    Normal,
    High,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
        }
    }
}

/// Where an alert goes: a Discord channel, or only the console when a rule names none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ChannelId(pub u64);

/// One article that fired one or more rules for one destination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub item: Item,
    /// Entities the rules that fired watch for (what the alert explains).
    pub entities: Entities,
    /// Names of the rules that fired, in config order.
    pub rules: Vec<String>,
    /// Discord channel; `None` when the rules name no channel (console only).
    pub channel: Option<ChannelId>,
    /// Role ids to ping, from the rules that fired.
    pub mention_roles: Vec<u64>,
    pub priority: Priority,
}
