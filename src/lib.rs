//! threatwatch: security news in, precise Discord alerts out.
//!
//! # Layout
//! The modules are listed in the order data flows through them.
//!
//! Ingest: feed -> fetch -> parse -> normalize -> store/dedupe -> match -> alert -> deliver
//! - [`model`]: plain domain types (items, matches, alerts); depends on nothing.
//! - [`config`]: TOML -> validated [`config::Config`], every problem located.
//! - [`catalog`]: actors, sectors, countries and regions; built-in data plus importers.
//! - [`ingest`]: fetch (only module with reqwest), parse (only module with feed-rs), normalize.
//! - [`store`]: the only module with SQL: feed state, items, the alert outbox.
//! - [`rules`]: compiled matcher and rule evaluation; pure, no I/O.
//! - [`alert`]: builds alerts from matches, renders them, delivers them to sinks.
//!
//! Lookup: command -> catalog/store -> reply
//! - [`lookup`]: answers (actor, sector, region, feeds) as plain data.
//! - [`app`]: wiring for each CLI command; owns task spawning and shutdown order.

pub mod model;

pub mod config;

pub mod catalog;

pub mod ingest;

pub mod store;

pub mod rules;

pub mod alert;

pub mod lookup;

pub mod discord;

pub mod app;

/// A fixed-seed xorshift generator for the randomised equivalence tests: repeatable,
/// and no dependency for a few thousand cases.
#[cfg(test)]
pub(crate) fn test_rng(mut seed: u64) -> impl FnMut() -> u64 {
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    }
}

/// Random text for equivalence tests: fewer than `max` pieces drawn from `pieces`.
#[cfg(test)]
pub(crate) fn test_text(next: &mut impl FnMut() -> u64, pieces: &[&str], max: u64) -> String {
    let n = next() % max;
    (0..n)
        .map(|_| pieces[(next() % pieces.len() as u64) as usize])
        .collect()
}
