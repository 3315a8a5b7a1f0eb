//! The gateway connection: serenity's client with the minimum intents, and the event
//! handler. READY can arrive many times (every re-identify after a reconnect); the
//! handler counts them and registers the slash commands only once per process.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

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

impl Handler {
    async fn register(&self, ctx: &Context) {
        let defs = definitions();
        let (scope, done) = match self.guild_id.filter(|g| *g != 0) {
            Some(g) => (
                format!("guild {g}"),
                ctx.http.create_guild_commands(GuildId::new(g), &defs).await,
            ),
            None => (
                "global".to_string(),
                ctx.http.create_global_commands(&defs).await,
            ),
        };
        match done {
            Ok(cmds) => {
                tracing::info!(scope = %scope, commands = cmds.len(), "slash commands registered")
            }
            Err(e) => {
                self.state.registered.store(false, Ordering::SeqCst);
                tracing::error!(scope = %scope, error = %e, "cannot register slash commands");
            }
        }
    }
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
            self.register(&ctx).await;
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
