//! Slash commands: their definitions (registered once per process, in the guild when
//! `guild_id` is set), and answering interactions from the `Lookups` the daemon provides.
//!
//! Every interaction is answered: a failure becomes a reply saying what the user can do,
//! and the cause is logged once. Commands that query the article store (`/recent`,
//! `/search`) are deferred at once and then edited; the others reply directly unless
//! they take longer than `DEFER_AFTER`, when they are deferred too.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use serenity::all::{CommandDataOptionValue, CommandInteraction, Context};

use super::answer;
use crate::lookup::{Answer, Choice, FeedRow, NotFound, RuleRow};
use crate::store::{Article, SearchHit};

/// After this long a direct reply is deferred instead (Discord allows 3 s).
const DEFER_AFTER: Duration = Duration::from_millis(1500);
/// Ephemeral message flag.
const EPHEMERAL: u64 = 1 << 6;

/// What `/recent` asks for; names as the user typed them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecentAsk {
    pub actor: Option<String>,
    pub sector: Option<String>,
    pub region: Option<String>,
    pub days: u32,
}

impl RecentAsk {
    /// "actor APT27, sector telecommunications, last 7 days".
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (label, v) in [
            ("actor", &self.actor),
            ("sector", &self.sector),
            ("region", &self.region),
        ] {
            if let Some(v) = v {
                parts.push(format!("{label} {v}"));
            }
        }
        parts.push(format!(
            "last {} day{}",
            self.days,
            if self.days == 1 { "" } else { "s" }
        ));
        parts.join(", ")
    }
}

/// A failure a user can act on: the title and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub title: String,
    pub text: String,
}

impl From<NotFound> for Refusal {
    fn from(e: NotFound) -> Refusal {
        Refusal {
            title: format!("No {} named {}", e.kind, e.name),
            text: if e.suggestions.is_empty() {
                "Check the spelling; the name may not be in the catalog yet.".into()
            } else {
                format!("Did you mean {}?", e.suggestions.join(", "))
            },
        }
    }
}

/// The answers behind the commands, from the daemon's catalog, config and store. Calls
/// may block (SQLite); they are run off the async workers.
pub trait Lookups: Send + Sync + 'static {
    /// The actor (or actors, for a shared alias), with their stored mentions.
    fn actor(&self, name: &str) -> Result<Answer, Refusal>;
    fn recent(&self, ask: &RecentAsk) -> Result<Vec<Article>, Refusal>;
    fn search(&self, query: &str) -> Result<Vec<SearchHit>, Refusal>;
    fn feeds(&self) -> Result<Vec<FeedRow>, Refusal>;
    fn rules(&self) -> Vec<RuleRow>;
    /// Choices for the focused option (`name`/`actor`, `sector`, `region`).
    fn complete(&self, option: &str, typed: &str) -> Vec<Choice>;
}

/// The longest text a user may type into an option: names are short, queries a little
/// longer; a pasted page would only slow autocomplete past Discord's 3 s.
const NAME_LEN: usize = 100;
const QUERY_LEN: usize = 200;

fn string_option(name: &str, description: &str, required: bool, autocomplete: bool) -> Value {
    let max = if autocomplete { NAME_LEN } else { QUERY_LEN };
    let mut o = json!({
        "type": 3, "name": name, "description": description,
        "required": required, "max_length": max,
    });
    if autocomplete {
        o["autocomplete"] = json!(true);
    }
    o
}

fn private_option() -> Value {
    json!({"type": 5, "name": "private", "description": "Only you see the answer", "required": false})
}

/// The command definitions, as the bulk-overwrite body Discord takes. Guild-only
/// (`contexts: [0]`): the answers describe this server's feeds and channels.
pub fn definitions() -> Value {
    json!([
        {
            "name": "actor", "type": 1, "contexts": [0],
            "description": "Who is this threat actor: aliases, origin, targets, latest articles",
            "options": [
                string_option("name", "A name or alias, e.g. Emissary Panda or APT27", true, true),
                private_option(),
            ],
        },
        {
            "name": "recent", "type": 1, "contexts": [0],
            "description": "The latest stored articles about an actor, sector or region",
            "options": [
                string_option("actor", "Only articles that name this actor", false, true),
                string_option("sector", "Only articles about this sector, e.g. telecommunications", false, true),
                string_option("region", "Only articles about this region or country, e.g. Southeast Asia", false, true),
                {"type": 4, "name": "days", "description": "How many days back (default 7)", "required": false, "min_value": 1, "max_value": 365},
                private_option(),
            ],
        },
        {
            "name": "search", "type": 1, "contexts": [0],
            "description": "Full-text search over stored articles",
            "options": [
                string_option("query", "Words, \"a phrase\", OR, NOT, prefix*", true, false),
                private_option(),
            ],
        },
        {
            "name": "feeds", "type": 1, "contexts": [0],
            "description": "Every feed's health, failing ones first",
            "options": [private_option()],
        },
        {
            "name": "rules", "type": 1, "contexts": [0],
            "description": "Every rule: what it watches and where it posts",
            "options": [private_option()],
        },
    ])
}

fn options(cmd: &CommandInteraction) -> HashMap<String, CommandDataOptionValue> {
    cmd.data
        .options
        .iter()
        .map(|o| (o.name.clone(), o.value.clone()))
        .collect()
}

fn text(opts: &HashMap<String, CommandDataOptionValue>, name: &str) -> Option<String> {
    match opts.get(name) {
        Some(CommandDataOptionValue::String(s)) => {
            Some(s.trim().to_string()).filter(|s| !s.is_empty())
        }
        _ => None,
    }
}

/// Run a blocking lookup off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Refusal> + Send + 'static,
) -> Result<T, Refusal> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "command lookup panicked");
        Err(Refusal {
            title: "Something went wrong".into(),
            text: "The lookup failed; try again, and tell the bot's operator if it keeps failing."
                .into(),
        })
    })
}

/// Answer a slash command.
pub async fn answer_command(ctx: &Context, cmd: &CommandInteraction, lookups: Arc<dyn Lookups>) {
    let opts = options(cmd);
    let private = matches!(
        opts.get("private"),
        Some(CommandDataOptionValue::Boolean(true))
    );
    let name = cmd.data.name.as_str();
    let reply: std::pin::Pin<Box<dyn Future<Output = Result<Value, Refusal>> + Send>> = match name {
        "actor" => {
            let who = text(&opts, "name").unwrap_or_default();
            Box::pin(async move {
                let ans = blocking(move || lookups.actor(&who)).await?;
                Ok(answer::actor(&ans))
            })
        }
        "recent" => {
            let days = match opts.get("days") {
                Some(CommandDataOptionValue::Integer(d)) => (*d).clamp(1, 365) as u32,
                _ => 7,
            };
            let ask = RecentAsk {
                actor: text(&opts, "actor"),
                sector: text(&opts, "sector"),
                region: text(&opts, "region"),
                days,
            };
            Box::pin(async move {
                let described = ask.describe();
                let found = blocking(move || lookups.recent(&ask)).await?;
                Ok(answer::recent(&described, &found))
            })
        }
        "search" => {
            let q = text(&opts, "query").unwrap_or_default();
            Box::pin(async move {
                let q2 = q.clone();
                let hits = blocking(move || lookups.search(&q2)).await?;
                Ok(answer::search(&q, &hits))
            })
        }
        "feeds" => Box::pin(async move {
            let rows = blocking(move || lookups.feeds()).await?;
            Ok(answer::feeds(&rows))
        }),
        "rules" => Box::pin(async move { Ok(answer::rules(&lookups.rules())) }),
        other => {
            let other = other.to_string();
            Box::pin(async move {
                Err(Refusal {
                    title: format!("Unknown command /{other}"),
                    text: "This bot answers /actor, /recent, /search, /feeds and /rules.".into(),
                })
            })
        }
    };
    let always_defer = matches!(name, "recent" | "search");
    respond(ctx, cmd, private, always_defer, reply).await;
}

fn finish(mut data: Value, private: bool) -> Value {
    if private {
        data["flags"] = json!(EPHEMERAL);
    }
    data
}

async fn respond(
    ctx: &Context,
    cmd: &CommandInteraction,
    private: bool,
    always_defer: bool,
    mut work: std::pin::Pin<Box<dyn Future<Output = Result<Value, Refusal>> + Send>>,
) {
    let render = |r: Result<Value, Refusal>| match r {
        Ok(v) => v,
        Err(refusal) => answer::notice(&refusal.title, &refusal.text),
    };
    if !always_defer {
        let quick = tokio::time::timeout(DEFER_AFTER, &mut work).await;
        if let Ok(r) = quick {
            let body = json!({"type": 4, "data": finish(render(r), private)});
            if let Err(e) = ctx
                .http
                .create_interaction_response(cmd.id, &cmd.token, &body, Vec::new())
                .await
            {
                // Never leave the user without an answer: a short one instead.
                tracing::error!(command = %cmd.data.name, error = %e, "cannot answer the command");
                let body = json!({"type": 4, "data": finish(failed_reply(), private)});
                let _ = ctx
                    .http
                    .create_interaction_response(cmd.id, &cmd.token, &body, Vec::new())
                    .await;
            }
            return;
        }
    }
    let deferred = json!({"type": 5, "data": finish(json!({}), private)});
    if let Err(e) = ctx
        .http
        .create_interaction_response(cmd.id, &cmd.token, &deferred, Vec::new())
        .await
    {
        tracing::error!(command = %cmd.data.name, error = %e, "cannot defer the command");
        return;
    }
    let body = render(work.await);
    if let Err(e) = ctx
        .http
        .edit_original_interaction_response(&cmd.token, &body, Vec::new())
        .await
    {
        tracing::error!(command = %cmd.data.name, error = %e, "cannot edit the deferred answer");
        let _ = ctx
            .http
            .edit_original_interaction_response(&cmd.token, &failed_reply(), Vec::new())
            .await;
    }
}

/// What the user sees when Discord refused the real answer.
fn failed_reply() -> Value {
    answer::notice(
        "Could not show the answer",
        "Discord refused the reply; the bot's log says why. Try a narrower question.",
    )
}

/// Answer an autocomplete request for the focused option.
pub async fn answer_autocomplete(
    ctx: &Context,
    cmd: &CommandInteraction,
    lookups: Arc<dyn Lookups>,
) {
    let Some(focused) = cmd.data.autocomplete() else {
        return;
    };
    let option = focused.name.to_string();
    let typed: String = focused.value.chars().take(NAME_LEN).collect();
    let choices = tokio::task::spawn_blocking(move || lookups.complete(&option, &typed))
        .await
        .unwrap_or_default();
    let choices: Vec<Value> = choices
        .iter()
        .take(crate::lookup::MAX_CHOICES)
        .map(|c| json!({"name": c.label, "value": c.value}))
        .collect();
    let body = json!({"type": 8, "data": {"choices": choices}});
    if let Err(e) = ctx
        .http
        .create_interaction_response(cmd.id, &cmd.token, &body, Vec::new())
        .await
    {
        tracing::warn!(error = %e, "cannot answer autocomplete");
    }
}
