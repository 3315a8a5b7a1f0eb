//! Ingest: a feed's source in, normalized items out.
//!
//! The stages, in the order the poll runs them:
//! - [`fetch`]: source + validators -> bytes, or "not modified" (the only module with reqwest);
//! - [`parse`]: bytes -> raw [`Entry`]s (the only module with feed-rs);
//! - [`normalize`]: entries -> clean [`crate::model::Item`]s with stable keys.
//!
//! The stages do not import each other; they share only `model` types. The poll
//! orchestrator below wires them together (fetch, return early on 304, parse,
//! normalize) and hands the items to the store. Nothing here talks to Discord or SQL.

pub mod fetch;
pub mod normalize;
pub mod parse;
pub mod poll;
pub mod schedule;

pub use crate::model::Entry;
pub use fetch::{FetchError, Fetched, Fetcher, Validators};
pub use normalize::{canonical_url, html_to_text, item_key, normalize};
pub use parse::{parse, parse_feed, ParseError, ParsedFeed};

// ---------------------------------------------------------------------------------------
// Poll orchestrator (`poll_feed`): fetch -> parse -> normalize -> store. Added by the lead.
// ---------------------------------------------------------------------------------------
