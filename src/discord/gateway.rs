//! The gateway connection: serenity's client with the minimum intents, and the event
//! handler. READY can arrive many times (every re-identify after a reconnect); the
//! handler counts them and registers the slash commands only once per process.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serenity::all::{Context, EventHandler, GatewayIntents, GuildId, Interaction, Ready};
use serenity::async_trait;
use serenity::client::ClientBuilder;
use serenity::gateway::ShardManager;
use serenity::http::Http;
use tokio::task::JoinHandle;

use super::commands::{answer_autocomplete, answer_command, definitions, Lookups};

/// What the gateway has seen; shared with the daemon (and its tests, through logs).
#[derive(Debug, Default)]
pub struct GatewayState {
    pub readies: AtomicUsize,
    /// Set once the commands are registered; a failed registration clears it so the
    /// next READY tries again.
    registered: AtomicBool,
}

pub(super) struct Handler {
    pub(super) state: Arc<GatewayState>,
    pub(super) guild_id: Option<u64>,
    pub(super) lookups: Option<Arc<dyn Lookups>>,
}

/// Registration attempts before giving up until the next READY.
const REGISTER_TRIES: u32 = 6;

/// Register the commands (bulk overwrite, so a restart never duplicates them), retrying
/// with backoff: without them the bot is mute until the next reconnect.
async fn register(http: Arc<Http>, guild_id: Option<u64>, state: Arc<GatewayState>) {
    let defs = definitions();
    for attempt in 1..=REGISTER_TRIES {
        let (scope, done) = match guild_id {
            Some(g) => (
                format!("guild {g}"),
                http.create_guild_commands(GuildId::new(g), &defs).await,
            ),
            None => (
                "global".to_string(),
                http.create_global_commands(&defs).await,
            ),
        };
        match done {
            Ok(cmds) => {
                tracing::info!(scope = %scope, commands = cmds.len(), "slash commands registered");
                return;
            }
            Err(e) => {
                tracing::error!(scope = %scope, attempt, error = %e, "cannot register slash commands");
                tokio::time::sleep(Duration::from_secs(2u64.pow(attempt))).await;
            }
        }
    }
    state.registered.store(false, Ordering::SeqCst);
}

#[async_trait]
impl EventHandler for Handler {
    async fn ready(&self, ctx: Context, ready: Ready) {
        let n = self.state.readies.fetch_add(1, Ordering::SeqCst) + 1;
        tracing::info!(
            user = %ready.user.name,
            guilds = ready.guilds.len(),
            ready_count = n,
            "discord gateway ready"
        );
        if self.lookups.is_some() && !self.state.registered.swap(true, Ordering::SeqCst) {
            let guild = self.guild_id.filter(|g| *g != 0);
            tokio::spawn(register(ctx.http.clone(), guild, self.state.clone()));
        }
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        let Some(lookups) = self.lookups.clone() else {
            return;
        };
        match interaction {
            Interaction::Command(cmd) => answer_command(&ctx, &cmd, lookups).await,
            Interaction::Autocomplete(cmd) => answer_autocomplete(&ctx, &cmd, lookups).await,
            _ => {}
        }
    }
}

/// A started gateway: its shards, and the task running them.
pub(super) struct Gateway {
    pub(super) shards: Arc<ShardManager>,
    pub(super) task: JoinHandle<()>,
}

pub(super) async fn start(http: Http, handler: Handler) -> Result<Gateway, serenity::Error> {
    // No privileged or message intents: alerts go out over REST, and interactions
    // arrive whatever the intents.
    let mut client = ClientBuilder::new_with_http(http, GatewayIntents::empty())
        .event_handler(handler)
        .await?;
    let shards = client.shard_manager.clone();
    let task = tokio::spawn(async move {
        if let Err(e) = client.start().await {
            tracing::error!(error = %e, "discord gateway stopped");
        }
    });
    Ok(Gateway { shards, task })
}
