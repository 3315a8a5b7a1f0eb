//! Discord: the only module that speaks Discord and the only one that imports serenity.
//!
//! - `token`: the bot token (environment or file, never the TOML, never logged).
//! - `render`: alerts and notices as message bodies (pure; escaped, within limits).
//! - `rest`: posting messages, each response classified for the outbox (`alert::deliver`).
//! - `gateway`: the websocket session (READY, interactions).
//!
//! `api_base` other than discord.com (a test server, a proxy) turns serenity's rate
//! limiter off, because it would send to discord.com regardless; the outbox then honours
//! 429s itself.

pub mod answer;
pub mod commands;
pub mod gateway;
pub mod render;
pub mod rest;
pub mod token;

use std::sync::Arc;
use std::time::Duration;

use serenity::gateway::ShardManager;
use serenity::http::{Http, HttpBuilder};
use tokio::task::JoinHandle;
use url::Url;

pub use commands::{Lookups, RecentAsk, Refusal};
pub use gateway::GatewayState;
pub use rest::Rest;
pub use token::{Token, TokenError};

#[derive(Debug, thiserror::Error)]
pub enum DiscordError {
    #[error("cannot build the Discord HTTP client: {0}")]
    Client(String),
    #[error("cannot start the Discord gateway: {0}")]
    Gateway(String),
}

/// How long the gateway may take to say READY before the log says something is wrong.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// Whether `api_base` is Discord itself (serenity's rate limiter works only there).
fn is_discord(api_base: &Url) -> bool {
    api_base.scheme() == "https" && api_base.host_str() == Some("discord.com")
}

fn http(token: &Token, api_base: &Url) -> Result<(Http, Rest), DiscordError> {
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .connect_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| DiscordError::Client(e.to_string()))?;
    let proxy =
        (!is_discord(api_base)).then(|| api_base.as_str().trim_end_matches('/').to_string());
    let mut builder = HttpBuilder::new(token.secret()).client(client.clone());
    if let Some(p) = &proxy {
        builder = builder.proxy(p.as_str()).ratelimiter_disabled(true);
    }
    // Two `Http`s from one builder setup: one is moved into the gateway client, the other
    // posts alerts; they share the connection pool.
    let mut for_rest = HttpBuilder::new(token.secret()).client(client.clone());
    if let Some(p) = &proxy {
        for_rest = for_rest.proxy(p.as_str()).ratelimiter_disabled(true);
    }
    let rest = Rest::new(
        Arc::new(for_rest.build()),
        client,
        token.header_value(),
        proxy,
    );
    Ok((builder.build(), rest))
}

/// REST only, no gateway (`once`).
pub fn rest_only(token: &Token, api_base: &Url) -> Result<Rest, DiscordError> {
    http(token, api_base).map(|(_, rest)| rest)
}

/// The bot: a gateway session and the REST client the outbox posts with.
pub struct Discord {
    pub rest: Rest,
    pub state: Arc<GatewayState>,
    shards: Arc<ShardManager>,
    task: JoinHandle<()>,
}

impl Discord {
    /// Connect: ask for the gateway URL, then run the session in the background.
    /// With `lookups`, slash commands are registered (in `guild_id` when set) and answered.
    pub async fn connect(
        token: &Token,
        api_base: &Url,
        guild_id: Option<u64>,
        lookups: Option<Arc<dyn Lookups>>,
    ) -> Result<Discord, DiscordError> {
        let (http, rest) = http(token, api_base)?;
        // serenity falls back to wss://gateway.discord.gg when this fails, which looks
        // like a hang (and sends the token there): ask first and say what is wrong.
        if let Err(e) = rest.http.get_gateway().await {
            let msg = format!(
                "{}/api/v10/gateway did not answer ({}); check discord.api_base and the network",
                api_base.as_str().trim_end_matches('/'),
                rest::causes(&e)
            );
            if is_discord(api_base) {
                tracing::warn!(error = %msg, "discord gateway discovery failed; serenity will retry");
            } else {
                return Err(DiscordError::Gateway(msg));
            }
        }
        let state = Arc::new(GatewayState::default());
        let handler = gateway::Handler {
            state: state.clone(),
            guild_id,
            lookups,
        };
        let gw = gateway::start(http, handler)
            .await
            .map_err(|e| DiscordError::Gateway(e.to_string()))?;
        let watch = state.clone();
        tokio::spawn(async move {
            tokio::time::sleep(READY_WITHIN).await;
            if watch.readies.load(std::sync::atomic::Ordering::SeqCst) == 0 {
                tracing::warn!(
                    "no READY from the Discord gateway after {}s: slash commands are unavailable until it connects (alerts still go out over REST)",
                    READY_WITHIN.as_secs()
                );
            }
        });
        Ok(Discord {
            rest,
            state,
            shards: gw.shards,
            task: gw.task,
        })
    }

    /// Close the session (shards first, so Discord sees a clean close).
    pub async fn shutdown(self) {
        self.shards.shutdown_all().await;
        let _ = tokio::time::timeout(Duration::from_secs(2), self.task).await;
    }
}
