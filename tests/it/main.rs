//! Integration tests: the real `threatwatch` binary against a real HTTP feed server on
//! 127.0.0.1, with real SQLite files in temp folders. One test binary, a module per area.

mod support;

mod cli;
mod commands;
mod corpus;
mod daemon;
mod discord;
mod fake_discord;
mod quality;
mod tidy;
