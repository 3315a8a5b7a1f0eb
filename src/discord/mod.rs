//! Discord: the only module that will speak Discord (and, with the client, the only one
//! that imports serenity). For now it holds `render`, the pure part: alerts as Discord
//! message bodies, escaped and within every documented limit.

pub mod render;
