//! Posting to channels: alerts and notices as `POST /channels/{id}/messages`, with every
//! response classified for the outbox (delivered with an id, transient, permanent).
//!
//! Requests are built by serenity (route, auth, user agent). Against discord.com they go
//! through serenity's rate limiter, which waits out 429s itself. Against any other
//! `api_base` the rate limiter must be off (it ignores the base, serenity #1739), so
//! requests are sent directly and a 429 reaches the outbox with its `retry_after`, read
//! here from the body or the `Retry-After` header (serenity's own error type drops it).

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use serenity::http::{Http, LightMethod, Request, Route};

use super::render;
use crate::alert::deliver::{SendError, Sink};
use crate::alert::notice::Notice;
use crate::model::{Alert, ChannelId};

/// How long one post may take before it counts as a transient failure.
pub const TIMEOUT: Duration = Duration::from_secs(15);
/// The longest `retry_after` believed; a larger one is a broken server, not a plan.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// The REST side of the bot: serenity's `Http`, plus what is needed to send its requests
/// directly when its rate limiter is off.
#[derive(Clone)]
pub struct Rest {
    pub(super) http: Arc<Http>,
    client: reqwest::Client,
    auth: String,
    proxy: Option<String>,
}

impl Rest {
    pub(super) fn new(
        http: Arc<Http>,
        client: reqwest::Client,
        auth: String,
        proxy: Option<String>,
    ) -> Rest {
        Rest {
            http,
            client,
            auth,
            proxy,
        }
    }

    /// POST `body` to `channel`'s messages; the new (or, for a repeated nonce, the
    /// existing) message's id.
    pub async fn post_message(&self, channel: u64, body: &Value) -> Result<String, SendError> {
        if channel == 0 {
            return Err(SendError::Permanent {
                reason: "channel id 0 is not a channel".into(),
            });
        }
        let bytes = serde_json::to_vec(body).map_err(|e| SendError::Permanent {
            reason: format!("cannot encode the message: {e}"),
        })?;
        let route = Route::ChannelMessages {
            channel_id: serenity::model::id::ChannelId::new(channel),
        };
        let req = Request::new(route, LightMethod::Post).body(Some(bytes));
        let sent = match &self.http.ratelimiter {
            Some(limiter) => tokio::time::timeout(TIMEOUT, limiter.perform(req))
                .await
                .map_err(|_| timed_out())?
                .map_err(|e| transient(format!("network error: {}", causes(&e)))),
            None => {
                let request = req
                    .build(&self.client, &self.auth, self.proxy.as_deref())
                    .map_err(|e| SendError::Permanent {
                        reason: format!("cannot build the request: {e}"),
                    })?
                    .timeout(TIMEOUT)
                    .build()
                    .map_err(|e| SendError::Permanent {
                        reason: format!("cannot build the request: {e}"),
                    })?;
                self.client.execute(request).await.map_err(|e| {
                    if e.is_timeout() {
                        timed_out()
                    } else {
                        transient(format!("network error: {}", without_url(&e)))
                    }
                })
            }
        }?;
        classify(sent).await
    }
}

fn timed_out() -> SendError {
    transient(format!("timed out after {}s", TIMEOUT.as_secs()))
}

fn transient(reason: String) -> SendError {
    SendError::Transient {
        reason,
        retry_after: None,
        global: false,
    }
}

/// An error with its causes ("error sending request: connection refused"): serenity's
/// and reqwest's top-level messages alone say nothing useful.
pub(super) fn causes(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        let text = inner.to_string();
        if !s.contains(&text) {
            s = format!("{s}: {text}");
        }
        source = inner.source();
    }
    s
}

/// A reqwest error's text without the URL (which is ours, and long).
fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(u) = e.url() {
        s = s.replace(&format!(" ({u})"), "").replace(u.as_str(), "");
    }
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        s = format!("{s}: {inner}");
        source = inner.source();
    }
    s
}

fn seconds(v: f64) -> Option<Duration> {
    Duration::try_from_secs_f64(v)
        .ok()
        .map(|d| d.min(MAX_RETRY_AFTER))
}

/// What the outbox makes of a response.
async fn classify(resp: reqwest::Response) -> Result<String, SendError> {
    let status = resp.status().as_u16();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let retry_header = header("retry-after").and_then(|s| s.trim().parse::<f64>().ok());
    let global_header = header("x-ratelimit-global").is_some();
    let reason_phrase = resp.status().canonical_reason().unwrap_or("").to_string();
    let body = resp
        .bytes()
        .await
        .map_err(|e| transient(format!("HTTP {status}: body cut off: {}", without_url(&e))))?;
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if (200..300).contains(&status) {
        // Posted. A server that does not say which message (Discord always does) still
        // took it: posting again could only make a second one.
        return Ok(match &json["id"] {
            Value::String(id) => id.clone(),
            Value::Number(n) => n.to_string(),
            _ => {
                tracing::warn!(
                    status,
                    "message posted but the response names no message id"
                );
                String::new()
            }
        });
    }
    let message = json["message"]
        .as_str()
        .filter(|m| !m.is_empty())
        .map_or(reason_phrase, str::to_string);
    let code = json["code"]
        .as_i64()
        .filter(|c| *c != 0)
        .map(|c| format!(" ({c})"))
        .unwrap_or_default();
    let reason = format!("HTTP {status} {message}{code}");
    match status {
        429 => Err(SendError::Transient {
            reason,
            retry_after: json["retry_after"]
                .as_f64()
                .or(retry_header)
                .and_then(seconds),
            global: json["global"].as_bool().unwrap_or(false) || global_header,
        }),
        // A rejected token is fixed by the operator, not by dropping alerts: pause all.
        401 => Err(SendError::Transient {
            reason: format!("{reason}: the bot token was rejected; check DISCORD_TOKEN"),
            retry_after: Some(Duration::from_secs(60)),
            global: true,
        }),
        408 | 500..=599 => Err(SendError::Transient {
            reason,
            retry_after: retry_header.and_then(seconds),
            global: false,
        }),
        _ => Err(SendError::Permanent { reason }),
    }
}

impl Sink for Rest {
    async fn post_alert(
        &self,
        channel: ChannelId,
        alert: &Alert,
        nonce: &str,
    ) -> Result<String, SendError> {
        self.post_message(channel.0, &render::alert_message(alert, nonce))
            .await
    }

    async fn post_notice(&self, channel: ChannelId, notice: &Notice) -> Result<String, SendError> {
        self.post_message(channel.0, &render::notice_message(notice))
            .await
    }
}
