//! The gateway connection: serenity's client with the minimum intents, and the event
//! handler. READY can arrive many times (every re-identify after a reconnect); the
//! handler counts them and does its once-per-process work only on the first.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serenity::all::{Context, EventHandler, GatewayIntents, Ready};
use serenity::async_trait;
use serenity::client::ClientBuilder;
use serenity::gateway::ShardManager;
use serenity::http::Http;
use tokio::task::JoinHandle;

/// What the gateway has seen; shared with the daemon (and its tests, through logs).
#[derive(Debug, Default)]
pub struct GatewayState {
    pub readies: AtomicUsize,
}

pub(super) struct Handler {
    pub(super) state: Arc<GatewayState>,
}

#[async_trait]
impl EventHandler for Handler {
    async fn ready(&self, _ctx: Context, ready: Ready) {
        let n = self.state.readies.fetch_add(1, Ordering::SeqCst) + 1;
        tracing::info!(
            user = %ready.user.name,
            guilds = ready.guilds.len(),
            ready_count = n,
            "discord gateway ready"
        );
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
