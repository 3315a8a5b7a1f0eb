//! A fake Discord for the integration tests: REST under `/api/v10` (axum) and a gateway
//! (tokio-tungstenite) on 127.0.0.1, enough for serenity 0.12 running inside the
//! `threatwatch` child process. It checks what the bot sends against Discord's limits,
//! records every request, and is scripted from a plain `#[test]` thread (failures, missing
//! channels, slow responses, gateway reconnects, interactions).
//!
//! Point serenity at it with `HttpBuilder::new(token).proxy(fake.api_base())
//! .ratelimiter_disabled(true)`; the gateway URL is handed out by `GET /api/v10/gateway`.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Response, Uri};
use axum::Router;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Map, Value};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// The application id (READY's `application.id`, the `{app}` in command and webhook routes).
pub const APPLICATION_ID: u64 = 900_000_000_000_000_001;
/// The bot user's id: a bot's user id equals its application id on Discord.
pub const BOT_USER_ID: u64 = APPLICATION_ID;
/// The channel interactions come from unless the test says otherwise.
pub const INTERACTION_CHANNEL_ID: u64 = 900_000_000_000_000_100;
/// The user who invokes commands unless the test says otherwise.
pub const INVOKER_ID: u64 = 900_000_000_000_000_200;
/// Discord's real value; serenity heartbeats this rarely, so tests never wait on it.
const HEARTBEAT_INTERVAL_MS: u64 = 41_250;
/// Every permission bit up to 40: the invoker may do anything unless a test narrows it.
const ALL_PERMISSIONS: u64 = (1 << 41) - 1;
/// Discord rejects an interaction response sent later than this after the interaction.
const INTERACTION_DEADLINE: Duration = Duration::from_secs(3);

/// One REST request as the fake saw it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    /// Path without the query, e.g. `/api/v10/channels/5/messages`.
    pub path: String,
    pub query: Option<String>,
    /// The JSON body; `Null` when empty or not JSON.
    pub body: Value,
    pub at: Instant,
    /// The status the fake answered (0 while the answer is still being computed).
    pub status: u16,
    /// The `Authorization` header (serenity sends `Bot <token>`).
    pub authorization: Option<String>,
}

/// How `/channels/{id}/...` answers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ChannelState {
    #[default]
    Ok,
    /// 404 `{"code": 10003, "message": "Unknown Channel"}`.
    Missing,
    /// 403 `{"code": 50013, "message": "Missing Permissions"}`.
    Forbidden,
}

/// A message created through `POST /channels/{id}/messages`.
#[derive(Clone, Debug)]
pub struct Created {
    pub channel: u64,
    pub id: u64,
    /// The request body as posted.
    pub body: Value,
    /// The message object as it stands now (after edits).
    pub message: Value,
    pub deleted: bool,
}

/// An interaction the fake knows about (made by `invoke` or dispatched raw).
#[derive(Clone, Debug)]
pub struct InteractionRecord {
    pub id: u64,
    pub token: String,
    /// 2 = application command, 4 = autocomplete.
    pub kind: u64,
    pub name: String,
    pub channel: u64,
    pub guild: Option<u64>,
    /// When the INTERACTION_CREATE went out on a websocket (the 3 s clock starts here).
    pub delivered: Option<Instant>,
    /// Accepted callback bodies (`{"type": 4, "data": {...}}`).
    pub callbacks: Vec<Value>,
    /// The original response message, once a type 4/5 callback created it.
    pub original: Option<Value>,
    pub followups: Vec<Value>,
}

/// A slash command or autocomplete invocation to dispatch as INTERACTION_CREATE.
#[derive(Clone, Debug)]
pub struct Invocation {
    /// 2 = application command, 4 = autocomplete.
    pub kind: u64,
    pub name: String,
    /// Discord's option array, e.g. `[{"name": "q", "type": 3, "value": "x"}]`; an
    /// autocomplete invocation marks the option being typed with `"focused": true`.
    pub options: Value,
    pub guild: Option<u64>,
    pub channel: u64,
    pub user_id: u64,
    pub username: String,
    pub roles: Vec<u64>,
    pub permissions: u64,
    pub locale: String,
}

impl Invocation {
    pub fn command(name: &str, options: Value) -> Invocation {
        Invocation {
            kind: 2,
            name: name.to_string(),
            options,
            guild: None,
            channel: INTERACTION_CHANNEL_ID,
            user_id: INVOKER_ID,
            username: "analyst".to_string(),
            roles: Vec::new(),
            permissions: ALL_PERMISSIONS,
            locale: "en-US".to_string(),
        }
    }

    pub fn autocomplete(name: &str, options: Value) -> Invocation {
        Invocation {
            kind: 4,
            ..Invocation::command(name, options)
        }
    }

    pub fn in_guild(mut self, guild: u64) -> Invocation {
        self.guild = Some(guild);
        self
    }

    pub fn in_channel(mut self, channel: u64) -> Invocation {
        self.channel = channel;
        self
    }

    /// Who invokes it: user id, guild roles and the member's permission bits.
    pub fn by(mut self, user_id: u64, roles: &[u64], permissions: u64) -> Invocation {
        self.user_id = user_id;
        self.roles = roles.to_vec();
        self.permissions = permissions;
        self
    }
}

/// One websocket connection.
struct Conn {
    id: u64,
    tx: UnboundedSender<WsMessage>,
    session: Option<String>,
    /// Identified or resumed, and not told to go away: dispatches go here.
    ready: bool,
}

/// A gateway session: its sequence and what was sent, for replay on resume.
struct Session {
    seq: u64,
    log: Vec<(u64, String)>,
}

struct FakeState {
    gateway_url: String,
    guilds: Vec<u64>,
    next_id: u64,
    requests: Vec<Recorded>,
    created: Vec<Created>,
    /// (channel, nonce) -> index in `created`.
    nonces: HashMap<(u64, String), usize>,
    violations: Vec<String>,
    fail: VecDeque<(u16, Value)>,
    channels: HashMap<u64, ChannelState>,
    hold: Duration,
    global_commands: Vec<Value>,
    guild_commands: HashMap<u64, Vec<Value>>,
    interactions: Vec<InteractionRecord>,
    interaction_deadline: Option<Duration>,
    conns: Vec<Conn>,
    next_conn: u64,
    sessions: HashMap<String, Session>,
    sessions_started: u64,
    /// Dispatches made while no connection was ready; sent after the next READY/RESUMED.
    backlog: Vec<(String, Value)>,
    identifies: Vec<Value>,
    resumes: Vec<Value>,
    readies: usize,
}

type Shared = Arc<Mutex<FakeState>>;

fn lock(shared: &Shared) -> MutexGuard<'_, FakeState> {
    // A panicking handler must not take every later assertion down with it.
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

/// Shuts the fake's runtime down without blocking, so dropping the fake inside an async
/// test is fine too.
struct RuntimeGuard(Option<tokio::runtime::Runtime>);

impl Drop for RuntimeGuard {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// The fake Discord. Cheap to clone; the servers stop when the last clone is dropped.
#[derive(Clone)]
pub struct FakeDiscord {
    pub api_addr: SocketAddr,
    pub gateway_addr: SocketAddr,
    state: Shared,
    _rt: Arc<RuntimeGuard>,
}

impl FakeDiscord {
    /// A fake whose READY lists no guilds.
    pub fn start() -> FakeDiscord {
        FakeDiscord::start_with_guilds(&[])
    }

    /// A fake whose READY lists `guild` (unavailable, as Discord sends it).
    pub fn start_with_guild(guild: u64) -> FakeDiscord {
        FakeDiscord::start_with_guilds(&[guild])
    }

    pub fn start_with_guilds(guilds: &[u64]) -> FakeDiscord {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        // std listeners, converted under `enter`, so this works inside an async test too.
        let api = std::net::TcpListener::bind("127.0.0.1:0").expect("bind api");
        let gw = std::net::TcpListener::bind("127.0.0.1:0").expect("bind gateway");
        api.set_nonblocking(true).expect("nonblocking");
        gw.set_nonblocking(true).expect("nonblocking");
        let api_addr = api.local_addr().expect("addr");
        let gateway_addr = gw.local_addr().expect("addr");
        let state = Arc::new(Mutex::new(FakeState {
            gateway_url: format!("ws://{gateway_addr}"),
            guilds: guilds.to_vec(),
            next_id: 1_200_000_000_000_000_000,
            requests: Vec::new(),
            created: Vec::new(),
            nonces: HashMap::new(),
            violations: Vec::new(),
            fail: VecDeque::new(),
            channels: HashMap::new(),
            hold: Duration::ZERO,
            global_commands: Vec::new(),
            guild_commands: HashMap::new(),
            interactions: Vec::new(),
            interaction_deadline: Some(INTERACTION_DEADLINE),
            conns: Vec::new(),
            next_conn: 0,
            sessions: HashMap::new(),
            sessions_started: 0,
            backlog: Vec::new(),
            identifies: Vec::new(),
            resumes: Vec::new(),
            readies: 0,
        }));
        {
            let _enter = rt.enter();
            let api = tokio::net::TcpListener::from_std(api).expect("api listener");
            let gw = tokio::net::TcpListener::from_std(gw).expect("gateway listener");
            let app = Router::new().fallback(rest).with_state(state.clone());
            rt.spawn(async move {
                let _ = axum::serve(api, app).await;
            });
            rt.spawn(gateway_accept(gw, state.clone()));
        }
        FakeDiscord {
            api_addr,
            gateway_addr,
            state,
            _rt: Arc::new(RuntimeGuard(Some(rt))),
        }
    }

    fn st(&self) -> MutexGuard<'_, FakeState> {
        lock(&self.state)
    }

    /// For `[discord] api_base` / `HttpBuilder::proxy`: `http://127.0.0.1:PORT`.
    pub fn api_base(&self) -> String {
        format!("http://{}", self.api_addr)
    }

    pub fn gateway_url(&self) -> String {
        format!("ws://{}", self.gateway_addr)
    }

    pub fn application_id(&self) -> u64 {
        APPLICATION_ID
    }

    pub fn bot_user_id(&self) -> u64 {
        BOT_USER_ID
    }

    // ---- scripting ----

    /// The next `n` POSTs to any channel's messages answer `status` with `body` (a 429 also
    /// gets `Retry-After`, rounded up from the body's `retry_after`). Nothing is created.
    pub fn fail_messages(&self, n: usize, status: u16, body: Value) {
        let mut st = self.st();
        for _ in 0..n {
            st.fail.push_back((status, body.clone()));
        }
    }

    /// Discord's body for a 429 on a route bucket.
    pub fn rate_limited(retry_after: f64) -> Value {
        json!({"message": "You are being rate limited.", "retry_after": retry_after, "global": false})
    }

    pub fn set_channel(&self, channel_id: u64, state: ChannelState) {
        self.st().channels.insert(channel_id, state);
    }

    /// Message creation happens at once but its HTTP answer waits `d` (zero turns it off).
    pub fn hold_messages(&self, d: Duration) {
        self.st().hold = d;
    }

    /// How late an interaction response may come (None: no deadline). Default 3 s.
    pub fn set_interaction_deadline(&self, d: Option<Duration>) {
        self.st().interaction_deadline = d;
    }

    /// The guilds the next READY lists.
    pub fn set_guilds(&self, guilds: &[u64]) {
        self.st().guilds = guilds.to_vec();
    }

    // ---- readers ----

    pub fn requests(&self) -> Vec<Recorded> {
        self.st().requests.clone()
    }

    /// Requests with this method whose path starts with `/api/v10` + `path_prefix`.
    pub fn requests_to(&self, method: &str, path_prefix: &str) -> Vec<Recorded> {
        let prefix = format!("/api/v10{path_prefix}");
        self.st()
            .requests
            .iter()
            .filter(|r| r.method == method && r.path.starts_with(&prefix))
            .cloned()
            .collect()
    }

    /// Bodies of the messages created in `channel`, in creation order.
    pub fn messages(&self, channel: u64) -> Vec<Value> {
        self.st()
            .created
            .iter()
            .filter(|c| c.channel == channel)
            .map(|c| c.body.clone())
            .collect()
    }

    /// (channel, body) of every created message, in creation order.
    pub fn all_messages(&self) -> Vec<(u64, Value)> {
        self.st()
            .created
            .iter()
            .map(|c| (c.channel, c.body.clone()))
            .collect()
    }

    /// Everything about created messages (ids, current objects, deletions).
    pub fn created(&self) -> Vec<Created> {
        self.st().created.clone()
    }

    /// Every limit or protocol breach the fake answered with an error, as text.
    pub fn violations(&self) -> Vec<String> {
        self.st().violations.clone()
    }

    /// Number of op 2 Identify received.
    pub fn identifies(&self) -> usize {
        self.st().identifies.len()
    }

    /// The `d` of every Identify (token, intents, shard, properties...).
    pub fn identify_payloads(&self) -> Vec<Value> {
        self.st().identifies.clone()
    }

    /// The `d` of every op 6 Resume.
    pub fn resumes(&self) -> Vec<Value> {
        self.st().resumes.clone()
    }

    /// Number of READY dispatches sent.
    pub fn readies(&self) -> usize {
        self.st().readies
    }

    /// Open websocket connections.
    pub fn connections(&self) -> usize {
        self.st().conns.len()
    }

    /// Commands registered globally (`None`) or in a guild, as Discord would return them.
    pub fn commands(&self, guild: Option<u64>) -> Vec<Value> {
        let st = self.st();
        match guild {
            None => st.global_commands.clone(),
            Some(g) => st.guild_commands.get(&g).cloned().unwrap_or_default(),
        }
    }

    pub fn interactions(&self) -> Vec<InteractionRecord> {
        self.st().interactions.clone()
    }

    pub fn interaction(&self, id: u64) -> Option<InteractionRecord> {
        self.st().interactions.iter().find(|i| i.id == id).cloned()
    }

    /// Accepted callback bodies for interaction `id`.
    pub fn callbacks(&self, id: u64) -> Vec<Value> {
        self.interaction(id)
            .map(|i| i.callbacks)
            .unwrap_or_default()
    }

    /// The original response message of interaction `id` as it stands now.
    pub fn original(&self, id: u64) -> Option<Value> {
        self.interaction(id).and_then(|i| i.original)
    }

    /// Poll `cond` every 20 ms for up to `secs` seconds; on timeout panic with a dump of
    /// what the fake saw.
    pub fn wait_until(&self, secs: u64, what: &str, cond: impl Fn(&FakeDiscord) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if cond(self) {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out after {secs}s waiting for {what}\n{}",
                    self.dump()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A readable summary of everything recorded, for failure messages.
    pub fn dump(&self) -> String {
        let st = self.st();
        let mut s = String::from("fake discord saw:\n");
        for r in &st.requests {
            let body = r.body.to_string();
            let body: String = body.chars().take(300).collect();
            s.push_str(&format!(
                "  {} {} -> {} {body}\n",
                r.method, r.path, r.status
            ));
        }
        s.push_str(&format!(
            "violations: {:#?}\nidentifies: {}, readies: {}, resumes: {}, connections: {}, backlog: {}\n",
            st.violations,
            st.identifies.len(),
            st.readies,
            st.resumes.len(),
            st.conns.len(),
            st.backlog.len()
        ));
        for c in &st.created {
            s.push_str(&format!(
                "  message {} in {}: {}\n",
                c.id,
                c.channel,
                c.body.to_string().chars().take(300).collect::<String>()
            ));
        }
        s
    }

    // ---- gateway ----

    /// Send `{op: 0, t: event, s, d: data}` to every ready connection, or keep it for the
    /// next READY/RESUMED when none is ready (so a test never races a reconnect).
    pub fn dispatch(&self, event: &str, data: Value) {
        let mut st = self.st();
        if event == "INTERACTION_CREATE" {
            st.register_interaction(&data);
        }
        st.dispatch(event, data);
    }

    /// Dispatch an INTERACTION_CREATE built from `inv`; returns (interaction id, token).
    pub fn invoke(&self, inv: Invocation) -> (u64, String) {
        let mut st = self.st();
        let (id, token, payload) = st.build_interaction(&inv);
        st.register_interaction(&payload);
        st.dispatch("INTERACTION_CREATE", payload);
        (id, token)
    }

    /// A slash command invocation (type 2), in `guild` or else in a DM.
    pub fn command(&self, name: &str, options: Value, guild: Option<u64>) -> (u64, String) {
        let mut inv = Invocation::command(name, options);
        inv.guild = guild;
        self.invoke(inv)
    }

    /// An autocomplete invocation (type 4) in the first configured guild (DM if none).
    pub fn autocomplete(&self, name: &str, options: Value) -> (u64, String) {
        let mut inv = Invocation::autocomplete(name, options);
        inv.guild = self.st().guilds.first().copied();
        self.invoke(inv)
    }

    /// Op 9 Invalid Session (not resumable) to every ready connection: the client
    /// identifies again and gets a new READY. Returns how many connections were told.
    /// serenity 0.12 needs about 5 s for this (its shard restart waits on itself).
    pub fn force_reidentify(&self) -> usize {
        let mut st = self.st();
        let mut n = 0;
        let mut dead = Vec::new();
        for c in st.conns.iter_mut().filter(|c| c.ready) {
            let _ =
                c.tx.send(WsMessage::Text(json!({"op": 9, "d": false}).to_string()));
            c.ready = false;
            dead.extend(c.session.take());
            n += 1;
        }
        for s in dead {
            st.sessions.remove(&s);
        }
        n
    }

    /// Op 7 Reconnect to every ready connection: the client reconnects and resumes.
    pub fn force_reconnect(&self) -> usize {
        let mut st = self.st();
        let mut n = 0;
        for c in st.conns.iter_mut().filter(|c| c.ready) {
            let _ =
                c.tx.send(WsMessage::Text(json!({"op": 7, "d": null}).to_string()));
            c.ready = false;
            n += 1;
        }
        n
    }
}

fn bot_user() -> Value {
    json!({
        "id": BOT_USER_ID.to_string(),
        "username": "threatwatch-fake",
        "discriminator": "0000",
        "global_name": null,
        "avatar": null,
        "bot": true,
        "flags": 0,
        "public_flags": 0,
        "verified": true,
        "mfa_enabled": false,
        "email": null,
    })
}

fn application() -> Value {
    json!({
        "id": APPLICATION_ID.to_string(),
        "name": "threatwatch-fake",
        "icon": null,
        "description": "",
        "rpc_origins": [],
        "bot_public": false,
        "bot_require_code_grant": false,
        "owner": {"id": INVOKER_ID.to_string(), "username": "owner", "discriminator": "0000",
                  "global_name": null, "avatar": null},
        "verify_key": "00",
        "team": null,
        "flags": 0,
        "bot": bot_user(),
    })
}

fn now_ts() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, false)
}

fn id_of(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

impl FakeState {
    fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn dispatch(&mut self, event: &str, data: Value) {
        let ready: Vec<usize> = (0..self.conns.len())
            .filter(|&i| self.conns[i].ready)
            .collect();
        if ready.is_empty() {
            self.backlog.push((event.to_string(), data));
            return;
        }
        for i in ready {
            self.send_dispatch(i, event, &data);
        }
    }

    /// Send one dispatch on connection `ci` with its session's next sequence number.
    fn send_dispatch(&mut self, ci: usize, event: &str, data: &Value) {
        let Some(sid) = self.conns[ci].session.clone() else {
            return;
        };
        let Some(sess) = self.sessions.get_mut(&sid) else {
            return;
        };
        sess.seq += 1;
        let text = json!({"op": 0, "t": event, "s": sess.seq, "d": data}).to_string();
        sess.log.push((sess.seq, text.clone()));
        let _ = self.conns[ci].tx.send(WsMessage::Text(text));
        if event == "INTERACTION_CREATE" {
            let id = id_of(&data["id"]);
            if let Some(i) = self.interactions.iter_mut().find(|i| Some(i.id) == id) {
                i.delivered.get_or_insert_with(Instant::now);
            }
        }
    }

    fn flush_backlog(&mut self, ci: usize) {
        for (event, data) in std::mem::take(&mut self.backlog) {
            self.send_dispatch(ci, &event, &data);
        }
    }

    fn register_interaction(&mut self, d: &Value) {
        let Some(id) = id_of(&d["id"]) else { return };
        if self.interactions.iter().any(|i| i.id == id) {
            return;
        }
        self.interactions.push(InteractionRecord {
            id,
            token: d["token"].as_str().unwrap_or_default().to_string(),
            kind: d["type"].as_u64().unwrap_or(0),
            name: d["data"]["name"].as_str().unwrap_or_default().to_string(),
            channel: id_of(&d["channel_id"]).unwrap_or(0),
            guild: id_of(&d["guild_id"]),
            delivered: None,
            callbacks: Vec::new(),
            original: None,
            followups: Vec::new(),
        });
    }

    /// The id of the registered command called `name` (guild first), if any.
    fn command_id(&self, name: &str, guild: Option<u64>) -> Option<u64> {
        let guild_cmds = guild.and_then(|g| self.guild_commands.get(&g));
        guild_cmds
            .into_iter()
            .flatten()
            .chain(self.global_commands.iter())
            .find(|c| c["name"] == name)
            .and_then(|c| id_of(&c["id"]))
    }

    fn build_interaction(&mut self, inv: &Invocation) -> (u64, String, Value) {
        let id = self.new_id();
        let token = format!("fake-interaction-token-{id}");
        let command_id = match self.command_id(&inv.name, inv.guild) {
            Some(c) => c,
            None => self.new_id(),
        };
        let options = if inv.options.is_null() {
            json!([])
        } else {
            inv.options.clone()
        };
        let user = json!({
            "id": inv.user_id.to_string(),
            "username": inv.username,
            "discriminator": "0",
            "global_name": inv.username,
            "avatar": null,
            "public_flags": 0,
        });
        let mut data = json!({
            "id": command_id.to_string(),
            "name": inv.name,
            "type": 1,
            "options": options,
        });
        let mut p = json!({
            "id": id.to_string(),
            "application_id": APPLICATION_ID.to_string(),
            "type": inv.kind,
            "channel_id": inv.channel.to_string(),
            "token": token,
            "version": 1,
            "locale": inv.locale,
            "entitlements": [],
            "attachment_size_limit": 10_485_760,
            "app_permissions": ALL_PERMISSIONS.to_string(),
        });
        match inv.guild {
            Some(g) => {
                data["guild_id"] = json!(g.to_string());
                p["guild_id"] = json!(g.to_string());
                p["guild_locale"] = json!("en-US");
                p["context"] = json!(0);
                p["authorizing_integration_owners"] = json!({"0": g.to_string()});
                p["member"] = json!({
                    "user": user,
                    "nick": null,
                    "avatar": null,
                    "roles": inv.roles.iter().map(u64::to_string).collect::<Vec<_>>(),
                    "joined_at": "2024-01-01T00:00:00.000000+00:00",
                    "premium_since": null,
                    "deaf": false,
                    "mute": false,
                    "flags": 0,
                    "pending": false,
                    "permissions": inv.permissions.to_string(),
                    "communication_disabled_until": null,
                });
            }
            None => {
                p["context"] = json!(1);
                p["authorizing_integration_owners"] = json!({"0": "0"});
                p["user"] = user;
            }
        }
        p["data"] = data;
        (id, token, p)
    }
}

// ---------------------------------------------------------------------------------------
// Gateway

async fn gateway_accept(listener: tokio::net::TcpListener, shared: Shared) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(gateway_conn(tcp, shared.clone()));
    }
}

async fn gateway_conn(tcp: tokio::net::TcpStream, shared: Shared) {
    // Any path and query (serenity asks for `/?v=10`) is accepted.
    let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
        return;
    };
    let (tx, mut rx) = unbounded_channel::<WsMessage>();
    let conn_id = {
        let mut st = lock(&shared);
        st.next_conn += 1;
        let id = st.next_conn;
        st.conns.push(Conn {
            id,
            tx: tx.clone(),
            session: None,
            ready: false,
        });
        id
    };
    let hello = json!({"op": 10, "s": null, "t": null,
                       "d": {"heartbeat_interval": HEARTBEAT_INTERVAL_MS}});
    let _ = tx.send(WsMessage::Text(hello.to_string()));
    loop {
        tokio::select! {
            incoming = ws.next() => match incoming {
                Some(Ok(WsMessage::Text(text))) => on_frame(&shared, conn_id, &text),
                // A Close gets its reply from tungstenite on the next read; keep reading.
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            },
            out = rx.recv() => match out {
                Some(msg) => {
                    if ws.send(msg).await.is_err() {
                        break;
                    }
                }
                None => break,
            },
        }
    }
    lock(&shared).conns.retain(|c| c.id != conn_id);
}

fn on_frame(shared: &Shared, conn_id: u64, text: &str) {
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return;
    };
    let mut st = lock(shared);
    let Some(ci) = st.conns.iter().position(|c| c.id == conn_id) else {
        return;
    };
    match v["op"].as_u64() {
        Some(1) => {
            let _ = st.conns[ci]
                .tx
                .send(WsMessage::Text(json!({"op": 11}).to_string()));
        }
        Some(2) => {
            st.identifies.push(v["d"].clone());
            st.sessions_started += 1;
            let sid = format!("fake-session-{}", st.sessions_started);
            st.sessions.insert(
                sid.clone(),
                Session {
                    seq: 0,
                    log: Vec::new(),
                },
            );
            st.conns[ci].session = Some(sid.clone());
            let shard = if v["d"]["shard"].is_array() {
                v["d"]["shard"].clone()
            } else {
                json!([0, 1])
            };
            let guilds: Vec<Value> = st
                .guilds
                .iter()
                .map(|g| json!({"id": g.to_string(), "unavailable": true}))
                .collect();
            let ready = json!({
                "v": 10,
                "user": bot_user(),
                "guilds": guilds,
                "session_id": sid,
                "session_type": "normal",
                "resume_gateway_url": st.gateway_url,
                "shard": shard,
                "application": {"id": APPLICATION_ID.to_string(), "flags": 0},
                "user_settings": {},
                "private_channels": [],
                "presences": [],
                "relationships": [],
                "guild_join_requests": [],
                "geo_ordered_rtc_regions": [],
            });
            st.send_dispatch(ci, "READY", &ready);
            st.readies += 1;
            st.conns[ci].ready = true;
            st.flush_backlog(ci);
        }
        Some(6) => {
            st.resumes.push(v["d"].clone());
            let sid = v["d"]["session_id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let seq = v["d"]["seq"].as_u64().unwrap_or(0);
            let Some(sess) = st.sessions.get(&sid) else {
                let _ = st.conns[ci]
                    .tx
                    .send(WsMessage::Text(json!({"op": 9, "d": false}).to_string()));
                return;
            };
            let missed: Vec<String> = sess
                .log
                .iter()
                .filter(|(s, _)| *s > seq)
                .map(|(_, t)| t.clone())
                .collect();
            // The session now lives on this connection only.
            for c in st.conns.iter_mut() {
                if c.session.as_deref() == Some(sid.as_str()) {
                    c.session = None;
                    c.ready = false;
                }
            }
            st.conns[ci].session = Some(sid);
            for t in missed {
                let _ = st.conns[ci].tx.send(WsMessage::Text(t));
            }
            st.send_dispatch(ci, "RESUMED", &json!({}));
            st.conns[ci].ready = true;
            st.flush_backlog(ci);
        }
        // Presence updates, member requests and the like need no answer here.
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------
// REST

struct Reply {
    status: u16,
    body: Option<Value>,
    headers: Vec<(&'static str, String)>,
    delay: Duration,
}

impl Reply {
    fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: Some(body),
            headers: Vec::new(),
            delay: Duration::ZERO,
        }
    }

    fn ok(body: Value) -> Reply {
        Reply::json(200, body)
    }

    fn no_content() -> Reply {
        Reply {
            status: 204,
            body: None,
            headers: Vec::new(),
            delay: Duration::ZERO,
        }
    }

    fn error(status: u16, code: u64, message: &str) -> Reply {
        Reply::json(status, json!({"code": code, "message": message}))
    }

    fn not_found() -> Reply {
        Reply::error(404, 0, "404: Not Found")
    }
}

async fn rest(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let json_body: Value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    };
    let reply = {
        let mut st = lock(&shared);
        let idx = st.requests.len();
        st.requests.push(Recorded {
            method: method.to_string(),
            path: uri.path().to_string(),
            query: uri.query().map(str::to_string),
            body: json_body.clone(),
            at: Instant::now(),
            status: 0,
            authorization: headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        });
        let label = format!("{method} {}", uri.path());
        let reply = route(&mut st, &method, uri.path(), &json_body, &label);
        st.requests[idx].status = reply.status;
        reply
    };
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut r = Response::builder().status(reply.status);
    for (k, v) in &reply.headers {
        r = r.header(*k, v.as_str());
    }
    match reply.body {
        Some(b) => r
            .header("content-type", "application/json")
            .body(Body::from(b.to_string())),
        None => r.body(Body::empty()),
    }
    .expect("response")
}

fn route(st: &mut FakeState, method: &Method, path: &str, body: &Value, label: &str) -> Reply {
    let Some(rest) = path.strip_prefix("/api/v10/") else {
        return Reply::not_found();
    };
    let segs: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    let m = method.as_str();
    match (m, segs.as_slice()) {
        ("GET", ["gateway"]) => Reply::ok(json!({"url": st.gateway_url})),
        ("GET", ["gateway", "bot"]) => Reply::ok(json!({
            "url": st.gateway_url,
            "shards": 1,
            "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0,
                                    "max_concurrency": 1},
        })),
        ("GET", ["users", "@me"]) => Reply::ok(bot_user()),
        ("GET", ["oauth2", "applications", "@me"]) | ("GET", ["applications", "@me"]) => {
            Reply::ok(application())
        }
        (_, ["channels", ch, tail @ ..]) => {
            let Some(ch) = ch.parse::<u64>().ok() else {
                return Reply::not_found();
            };
            match st.channels.get(&ch).copied().unwrap_or_default() {
                ChannelState::Missing => return Reply::error(404, 10003, "Unknown Channel"),
                ChannelState::Forbidden => return Reply::error(403, 50013, "Missing Permissions"),
                ChannelState::Ok => {}
            }
            channel_route(st, m, ch, tail, body, label)
        }
        ("POST", ["interactions", id, token, "callback"]) => match id.parse::<u64>() {
            Ok(id) => interaction_callback(st, id, token, body, label),
            Err(_) => Reply::error(404, 10062, "Unknown interaction"),
        },
        (_, ["webhooks", app, token, tail @ ..]) => {
            if app.parse::<u64>().ok() != Some(APPLICATION_ID) {
                return Reply::error(404, 10015, "Unknown Webhook");
            }
            webhook_route(st, m, token, tail, body, label)
        }
        (_, ["applications", app, "commands", tail @ ..]) => {
            if app.parse::<u64>().ok() != Some(APPLICATION_ID) {
                return Reply::error(404, 10002, "Unknown Application");
            }
            commands_route(st, m, None, tail, body, label)
        }
        (_, ["applications", app, "guilds", guild, "commands", tail @ ..]) => {
            if app.parse::<u64>().ok() != Some(APPLICATION_ID) {
                return Reply::error(404, 10002, "Unknown Application");
            }
            let Some(guild) = guild.parse::<u64>().ok() else {
                return Reply::error(404, 10004, "Unknown Guild");
            };
            commands_route(st, m, Some(guild), tail, body, label)
        }
        _ => Reply::not_found(),
    }
}

fn channel_route(
    st: &mut FakeState,
    m: &str,
    ch: u64,
    tail: &[&str],
    body: &Value,
    label: &str,
) -> Reply {
    match (m, tail) {
        ("GET", []) => Reply::ok(json!({
            "id": ch.to_string(),
            "type": 0,
            "guild_id": st.guilds.first().map(u64::to_string),
            "name": format!("channel-{ch}"),
            "position": 0,
            "permission_overwrites": [],
            "nsfw": false,
            "topic": null,
            "last_message_id": null,
            "parent_id": null,
            "rate_limit_per_user": 0,
            "flags": 0,
        })),
        ("POST", ["messages"]) => create_message(st, ch, body, label),
        ("GET", ["messages"]) => Reply::ok(Value::Array(
            st.created
                .iter()
                .rev()
                .filter(|c| c.channel == ch && !c.deleted)
                .map(|c| c.message.clone())
                .collect(),
        )),
        (_, ["messages", mid]) => {
            let mid = mid.parse::<u64>().ok();
            let Some(i) = st
                .created
                .iter()
                .position(|c| c.channel == ch && Some(c.id) == mid && !c.deleted)
            else {
                return Reply::error(404, 10008, "Unknown Message");
            };
            match m {
                "GET" => Reply::ok(st.created[i].message.clone()),
                "DELETE" => {
                    st.created[i].deleted = true;
                    Reply::no_content()
                }
                "PATCH" => {
                    let mut merged = st.created[i].message.clone();
                    match edit_message(st, &mut merged, body, label) {
                        Ok(()) => {
                            st.created[i].message = merged.clone();
                            Reply::ok(merged)
                        }
                        Err(r) => r,
                    }
                }
                _ => Reply::not_found(),
            }
        }
        _ => Reply::not_found(),
    }
}

fn create_message(st: &mut FakeState, ch: u64, body: &Value, label: &str) -> Reply {
    if let Some((status, b)) = st.fail.pop_front() {
        let mut r = Reply::json(status, b.clone());
        if status == 429 {
            let secs = b["retry_after"].as_f64().unwrap_or(1.0).ceil().max(0.0);
            r.headers.push(("retry-after", format!("{secs}")));
            let global = b["global"].as_bool().unwrap_or(false);
            r.headers.push(("x-ratelimit-global", global.to_string()));
            r.headers.push((
                "x-ratelimit-scope",
                if global { "global" } else { "user" }.to_string(),
            ));
        }
        return r;
    }
    let issues = validate_message(body);
    if let Some(r) = reject(st, label, &issues) {
        return r;
    }
    if is_empty_message(body) {
        return empty_message(st, label);
    }
    let nonce = body.get("nonce").filter(|n| !n.is_null()).map(|n| match n {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    });
    if body["enforce_nonce"] == json!(true) {
        if let Some(i) = nonce.as_ref().and_then(|n| st.nonces.get(&(ch, n.clone()))) {
            let mut r = Reply::ok(st.created[*i].message.clone());
            r.delay = st.hold;
            return r;
        }
    }
    let id = st.new_id();
    let guild = st.guilds.first().copied();
    let mut message = message_object(id, ch, body, 0);
    if let Some(g) = guild {
        message["guild_id"] = json!(g.to_string());
    }
    st.created.push(Created {
        channel: ch,
        id,
        body: body.clone(),
        message: message.clone(),
        deleted: false,
    });
    if let Some(n) = nonce {
        let idx = st.created.len() - 1;
        st.nonces.entry((ch, n)).or_insert(idx);
    }
    let mut r = Reply::ok(message);
    r.delay = st.hold;
    r
}

/// A Message object serenity 0.12 deserializes: every non-Option field without a serde
/// default is present (id, channel_id, author, content, timestamp, edited_timestamp, tts,
/// mention_everyone, mentions, mention_roles, attachments, embeds, pinned, type).
fn message_object(id: u64, channel: u64, body: &Value, kind: u64) -> Value {
    let embeds: Vec<Value> = body["embeds"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    let mut e = e.clone();
                    if let Some(o) = e.as_object_mut() {
                        o.entry("type").or_insert(json!("rich"));
                    }
                    e
                })
                .collect()
        })
        .unwrap_or_default();
    let mut m = json!({
        "id": id.to_string(),
        "channel_id": channel.to_string(),
        "author": bot_user(),
        "content": body["content"].as_str().unwrap_or_default(),
        "timestamp": now_ts(),
        "edited_timestamp": null,
        "tts": body["tts"].as_bool().unwrap_or(false),
        "mention_everyone": false,
        "mentions": [],
        "mention_roles": [],
        "mention_channels": [],
        "attachments": [],
        "embeds": embeds,
        "reactions": [],
        "pinned": false,
        "type": kind,
        "flags": body["flags"].as_u64().unwrap_or(0),
        "components": [],
    });
    if let Some(n) = body.get("nonce").filter(|n| !n.is_null()) {
        m["nonce"] = n.clone();
    }
    if kind == 20 {
        // Interaction responses are webhook messages of the application.
        m["webhook_id"] = json!(APPLICATION_ID.to_string());
        m["application_id"] = json!(APPLICATION_ID.to_string());
    }
    m
}

/// Apply a PATCH body to a message object after validating it; Err is the reply to send.
fn edit_message(
    st: &mut FakeState,
    msg: &mut Value,
    body: &Value,
    label: &str,
) -> Result<(), Reply> {
    let issues = validate_message(body);
    if let Some(r) = reject(st, label, &issues) {
        return Err(r);
    }
    let mut patched = msg.clone();
    for key in ["content", "flags", "allowed_mentions", "components"] {
        if let Some(v) = body.get(key) {
            patched[key] = if v.is_null() && key == "content" {
                json!("")
            } else {
                v.clone()
            };
        }
    }
    if let Some(e) = body.get("embeds") {
        let fresh = message_object(0, 0, &json!({"embeds": e}), 0);
        patched["embeds"] = fresh["embeds"].clone();
    }
    if patched["content"].as_str().unwrap_or_default().is_empty()
        && patched["embeds"].as_array().is_none_or(Vec::is_empty)
    {
        return Err(empty_message(st, label));
    }
    patched["edited_timestamp"] = json!(now_ts());
    *msg = patched;
    Ok(())
}

fn empty_message(st: &mut FakeState, label: &str) -> Reply {
    st.violations
        .push(format!("{label}: Cannot send an empty message"));
    Reply::error(400, 50006, "Cannot send an empty message")
}

fn is_empty_message(body: &Value) -> bool {
    let has = |k: &str| match body.get(k) {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(_) => true,
    };
    ![
        "content",
        "embeds",
        "sticker_ids",
        "components",
        "attachments",
        "poll",
    ]
    .iter()
    .any(|k| has(k))
}

// ---------------------------------------------------------------------------------------
// Interactions

fn interaction_callback(
    st: &mut FakeState,
    id: u64,
    token: &str,
    body: &Value,
    label: &str,
) -> Reply {
    let Some(ix) = st.interactions.iter().position(|i| i.id == id) else {
        return Reply::error(404, 10062, "Unknown interaction");
    };
    if st.interactions[ix].token != token {
        return Reply::error(401, 50027, "Invalid Webhook Token");
    }
    if !st.interactions[ix].callbacks.is_empty() {
        st.violations
            .push(format!("{label}: interaction {id} answered twice"));
        return Reply::error(400, 40060, "Interaction has already been acknowledged.");
    }
    if let (Some(at), Some(limit)) = (st.interactions[ix].delivered, st.interaction_deadline) {
        let late = at.elapsed();
        if late > limit {
            st.violations.push(format!(
                "{label}: interaction {id} answered after {late:?} (limit {limit:?})"
            ));
            return Reply::error(404, 10062, "Unknown interaction");
        }
    }
    let ikind = st.interactions[ix].kind;
    let channel = st.interactions[ix].channel;
    let data = &body["data"];
    let original = match body["type"].as_u64() {
        Some(4) => {
            let issues = prefixed("data", validate_message(data));
            if let Some(r) = reject(st, label, &issues) {
                return r;
            }
            if is_empty_message(data) {
                return empty_message(st, label);
            }
            let mid = st.new_id();
            Some(message_object(mid, channel, data, 20))
        }
        Some(5) => {
            // A deferred reply shows "thinking" (flag 128) until the edit.
            let mid = st.new_id();
            let flags = data["flags"].as_u64().unwrap_or(0) | 128;
            Some(message_object(mid, channel, &json!({"flags": flags}), 20))
        }
        Some(8) => {
            let issues = validate_autocomplete(data);
            if let Some(r) = reject(st, label, &issues) {
                return r;
            }
            if ikind != 4 {
                st.violations.push(format!(
                    "{label}: autocomplete result for a non-autocomplete interaction"
                ));
                return Reply::error(400, 40043, "Interaction callback type is invalid.");
            }
            None
        }
        Some(6 | 7 | 9 | 10 | 12) => None,
        other => {
            st.violations.push(format!(
                "{label}: invalid interaction callback type {other:?}"
            ));
            let issues = [Issue::new(
                &["type"],
                "BASE_TYPE_CHOICES",
                "Value must be one of {1, 4, 5, 6, 7, 8, 9, 10, 12}.",
            )];
            return invalid_form_body(&issues);
        }
    };
    if original.is_some() && ikind == 4 {
        st.violations.push(format!(
            "{label}: message response to an autocomplete interaction"
        ));
        return Reply::error(400, 40043, "Interaction callback type is invalid.");
    }
    let rec = &mut st.interactions[ix];
    rec.callbacks.push(body.clone());
    rec.original = original;
    Reply::no_content()
}

fn webhook_route(
    st: &mut FakeState,
    m: &str,
    token: &str,
    tail: &[&str],
    body: &Value,
    label: &str,
) -> Reply {
    let Some(ix) = st.interactions.iter().position(|i| i.token == token) else {
        return Reply::error(404, 10015, "Unknown Webhook");
    };
    match (m, tail) {
        (_, ["messages", "@original"]) => {
            let Some(mut original) = st.interactions[ix].original.clone() else {
                if m != "GET" {
                    st.violations.push(format!(
                        "{label}: original response used before the interaction was answered"
                    ));
                }
                return Reply::error(404, 10008, "Unknown Message");
            };
            match m {
                "GET" => Reply::ok(original),
                "DELETE" => {
                    st.interactions[ix].original = None;
                    Reply::no_content()
                }
                "PATCH" => match edit_message(st, &mut original, body, label) {
                    Ok(()) => {
                        // The edit ends the "thinking" state of a deferred reply.
                        let flags = original["flags"].as_u64().unwrap_or(0) & !128;
                        original["flags"] = json!(flags);
                        st.interactions[ix].original = Some(original.clone());
                        Reply::ok(original)
                    }
                    Err(r) => r,
                },
                _ => Reply::not_found(),
            }
        }
        ("POST", []) => {
            if st.interactions[ix].callbacks.is_empty() {
                st.violations.push(format!(
                    "{label}: followup before the interaction was answered"
                ));
                return Reply::error(404, 10015, "Unknown Webhook");
            }
            let issues = validate_message(body);
            if let Some(r) = reject(st, label, &issues) {
                return r;
            }
            if is_empty_message(body) {
                return empty_message(st, label);
            }
            let mid = st.new_id();
            let channel = st.interactions[ix].channel;
            let msg = message_object(mid, channel, body, 20);
            st.interactions[ix].followups.push(msg.clone());
            Reply::ok(msg)
        }
        (_, ["messages", mid]) => {
            let mid = mid.parse::<u64>().ok();
            let Some(fi) = st.interactions[ix]
                .followups
                .iter()
                .position(|f| id_of(&f["id"]) == mid)
            else {
                return Reply::error(404, 10008, "Unknown Message");
            };
            match m {
                "GET" => Reply::ok(st.interactions[ix].followups[fi].clone()),
                "DELETE" => {
                    st.interactions[ix].followups.remove(fi);
                    Reply::no_content()
                }
                "PATCH" => {
                    let mut msg = st.interactions[ix].followups[fi].clone();
                    match edit_message(st, &mut msg, body, label) {
                        Ok(()) => {
                            st.interactions[ix].followups[fi] = msg.clone();
                            Reply::ok(msg)
                        }
                        Err(r) => r,
                    }
                }
                _ => Reply::not_found(),
            }
        }
        _ => Reply::not_found(),
    }
}

// ---------------------------------------------------------------------------------------
// Application commands

fn commands_route(
    st: &mut FakeState,
    m: &str,
    guild: Option<u64>,
    tail: &[&str],
    body: &Value,
    label: &str,
) -> Reply {
    let current = match guild {
        None => st.global_commands.clone(),
        Some(g) => st.guild_commands.get(&g).cloned().unwrap_or_default(),
    };
    let new_list = match (m, tail) {
        ("GET", []) => return Reply::ok(Value::Array(current)),
        ("PUT", []) => {
            let Some(list) = body.as_array() else {
                let issues = [Issue::new(&[], "BASE_TYPE_ARRAY", "Must be an array.")];
                return reject(st, label, &issues).unwrap_or_else(Reply::not_found);
            };
            let mut issues = Vec::new();
            for (i, c) in list.iter().enumerate() {
                issues.extend(prefixed(&i.to_string(), validate_command(c)));
            }
            issues.extend(duplicate_names(list));
            let chat = list.iter().filter(|c| command_kind(c) == 1).count();
            if chat > 100 {
                issues.push(Issue::new(
                    &[],
                    "BASE_TYPE_MAX_LENGTH",
                    "Must be 100 or fewer in length.",
                ));
            }
            if let Some(r) = reject(st, label, &issues) {
                return r;
            }
            // Discord keeps a command's id when a bulk overwrite keeps its name and type.
            let out: Vec<Value> = list
                .iter()
                .map(|c| {
                    let keep = current
                        .iter()
                        .find(|o| o["name"] == c["name"] && command_kind(o) == command_kind(c))
                        .and_then(|o| id_of(&o["id"]));
                    command_object(st, keep, guild, c)
                })
                .collect();
            out
        }
        ("POST", []) => {
            let issues = validate_command(body);
            if let Some(r) = reject(st, label, &issues) {
                return r;
            }
            let mut list = current.clone();
            let existing = list
                .iter()
                .position(|o| o["name"] == body["name"] && command_kind(o) == command_kind(body));
            let keep = existing.and_then(|i| id_of(&list[i]["id"]));
            let obj = command_object(st, keep, guild, body);
            let status = match existing {
                Some(i) => {
                    list[i] = obj.clone();
                    200
                }
                None => {
                    list.push(obj.clone());
                    201
                }
            };
            store_commands(st, guild, list);
            return Reply::json(status, obj);
        }
        (_, [cid]) => {
            let cid = cid.parse::<u64>().ok();
            let Some(i) = current.iter().position(|c| id_of(&c["id"]) == cid) else {
                return Reply::error(404, 10063, "Unknown application command");
            };
            match m {
                "GET" => return Reply::ok(current[i].clone()),
                "DELETE" => {
                    let mut list = current;
                    list.remove(i);
                    store_commands(st, guild, list);
                    return Reply::no_content();
                }
                "PATCH" => {
                    let mut merged = current[i].clone();
                    if let (Some(o), Some(b)) = (merged.as_object_mut(), body.as_object()) {
                        for (k, v) in b {
                            o.insert(k.clone(), v.clone());
                        }
                    }
                    let issues = validate_command(&merged);
                    if let Some(r) = reject(st, label, &issues) {
                        return r;
                    }
                    let obj = command_object(st, id_of(&current[i]["id"]), guild, &merged);
                    let mut list = current;
                    list[i] = obj.clone();
                    store_commands(st, guild, list);
                    return Reply::ok(obj);
                }
                _ => return Reply::not_found(),
            }
        }
        _ => return Reply::not_found(),
    };
    store_commands(st, guild, new_list.clone());
    Reply::ok(Value::Array(new_list))
}

fn store_commands(st: &mut FakeState, guild: Option<u64>, list: Vec<Value>) {
    match guild {
        None => st.global_commands = list,
        Some(g) => {
            st.guild_commands.insert(g, list);
        }
    }
}

fn command_kind(c: &Value) -> u64 {
    c["type"].as_u64().unwrap_or(1)
}

/// A Command object as Discord returns it (what serenity's `Command` needs: id, type,
/// application_id, name, description, version, plus the optional rest).
fn command_object(st: &mut FakeState, keep: Option<u64>, guild: Option<u64>, c: &Value) -> Value {
    let id = match keep {
        Some(id) => id,
        None => st.new_id(),
    };
    let version = st.new_id();
    let or = |k: &str, d: Value| match c.get(k) {
        None | Some(Value::Null) => d,
        Some(v) => v.clone(),
    };
    let perms = match c.get("default_member_permissions") {
        Some(Value::String(s)) => json!(s),
        Some(Value::Number(n)) => json!(n.to_string()),
        _ => Value::Null,
    };
    let mut o = json!({
        "id": id.to_string(),
        "application_id": APPLICATION_ID.to_string(),
        "version": version.to_string(),
        "default_member_permissions": perms,
        "type": command_kind(c),
        "name": or("name", json!("")),
        "name_localizations": or("name_localizations", Value::Null),
        "description": or("description", json!("")),
        "description_localizations": or("description_localizations", Value::Null),
        "options": or("options", json!([])),
        "dm_permission": or("dm_permission", json!(true)),
        "contexts": or("contexts", Value::Null),
        "integration_types": or("integration_types", json!([0])),
        "nsfw": or("nsfw", json!(false)),
    });
    if let Some(g) = guild {
        o["guild_id"] = json!(g.to_string());
    }
    o
}

// ---------------------------------------------------------------------------------------
// Validation (Discord's limits, counted in Unicode scalar values)

struct Issue {
    path: Vec<String>,
    code: &'static str,
    message: String,
}

impl Issue {
    fn new(path: &[&str], code: &'static str, message: &str) -> Issue {
        Issue {
            path: path.iter().map(|s| s.to_string()).collect(),
            code,
            message: message.to_string(),
        }
    }

    fn at(path: &[String], code: &'static str, message: String) -> Issue {
        Issue {
            path: path.to_vec(),
            code,
            message,
        }
    }
}

fn prefixed(prefix: &str, issues: Vec<Issue>) -> Vec<Issue> {
    issues
        .into_iter()
        .map(|mut i| {
            i.path.insert(0, prefix.to_string());
            i
        })
        .collect()
}

fn sub(path: &[String], seg: impl ToString) -> Vec<String> {
    let mut p = path.to_vec();
    p.push(seg.to_string());
    p
}

/// Record the issues as violations and build Discord's 400 answer; None when clean.
fn reject(st: &mut FakeState, label: &str, issues: &[Issue]) -> Option<Reply> {
    if issues.is_empty() {
        return None;
    }
    for i in issues {
        st.violations.push(format!(
            "{label}: {}: {} ({})",
            if i.path.is_empty() {
                "<body>".to_string()
            } else {
                i.path.join(".")
            },
            i.message,
            i.code
        ));
    }
    Some(invalid_form_body(issues))
}

/// `{"code": 50035, "errors": {path...: {"_errors": [{code, message}]}}}`: exactly the
/// nesting serenity's `DiscordJsonError` parser walks.
fn invalid_form_body(issues: &[Issue]) -> Reply {
    let mut root = Map::new();
    for i in issues {
        let mut cur = &mut root;
        for seg in &i.path {
            let next = cur
                .entry(seg.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if !next.is_object() {
                *next = Value::Object(Map::new());
            }
            cur = match next {
                Value::Object(m) => m,
                _ => unreachable!("just made an object"),
            };
        }
        let errs = cur.entry("_errors").or_insert_with(|| json!([]));
        if let Value::Array(a) = errs {
            a.push(json!({"code": i.code, "message": i.message}));
        }
    }
    Reply::json(
        400,
        json!({"code": 50035, "message": "Invalid Form Body", "errors": Value::Object(root)}),
    )
}

/// Check a string field; returns its length in chars (0 when absent).
fn text(
    issues: &mut Vec<Issue>,
    path: &[String],
    v: Option<&Value>,
    min: usize,
    max: usize,
) -> usize {
    let s = match v {
        None | Some(Value::Null) => {
            if min > 0 {
                issues.push(Issue::at(
                    path,
                    "BASE_TYPE_REQUIRED",
                    "This field is required".into(),
                ));
            }
            return 0;
        }
        Some(Value::String(s)) => s,
        Some(_) => {
            issues.push(Issue::at(
                path,
                "BASE_TYPE_STRING",
                "Must be a string.".into(),
            ));
            return 0;
        }
    };
    let n = s.chars().count();
    if n == 0 && min > 0 {
        issues.push(Issue::at(
            path,
            "BASE_TYPE_REQUIRED",
            "This field is required".into(),
        ));
    } else if n < min {
        issues.push(Issue::at(
            path,
            "BASE_TYPE_MIN_LENGTH",
            format!("Must be {min} or more in length."),
        ));
    } else if n > max {
        issues.push(Issue::at(
            path,
            "BASE_TYPE_MAX_LENGTH",
            format!("Must be {max} or fewer in length. (got {n})"),
        ));
    }
    n
}

/// An optional array field: its items, or an issue when it is too long or not an array.
fn array<'a>(
    issues: &mut Vec<Issue>,
    path: &[String],
    v: Option<&'a Value>,
    max: usize,
) -> &'a [Value] {
    match v {
        None | Some(Value::Null) => &[],
        Some(Value::Array(a)) => {
            if a.len() > max {
                issues.push(Issue::at(
                    path,
                    "BASE_TYPE_MAX_LENGTH",
                    format!("Must be {max} or fewer in length. (got {})", a.len()),
                ));
            }
            a
        }
        Some(_) => {
            issues.push(Issue::at(
                path,
                "BASE_TYPE_ARRAY",
                "Must be an array.".into(),
            ));
            &[]
        }
    }
}

/// Content, embeds, nonce and allowed_mentions of a message create/edit body.
fn validate_message(body: &Value) -> Vec<Issue> {
    let mut issues = Vec::new();
    let root: Vec<String> = Vec::new();
    text(
        &mut issues,
        &sub(&root, "content"),
        body.get("content"),
        0,
        2000,
    );
    let embeds = array(&mut issues, &sub(&root, "embeds"), body.get("embeds"), 10);
    let mut total = 0;
    for (i, e) in embeds.iter().enumerate() {
        total += validate_embed(&mut issues, &sub(&sub(&root, "embeds"), i), e);
    }
    if total > 6000 {
        issues.push(Issue::at(
            &sub(&root, "embeds"),
            "MAX_EMBED_SIZE_EXCEEDED",
            format!("Embed size exceeds maximum size of 6000 (got {total})"),
        ));
    }
    match body.get("nonce") {
        None | Some(Value::Null) | Some(Value::Number(_)) => {}
        Some(Value::String(_)) => {
            text(&mut issues, &sub(&root, "nonce"), body.get("nonce"), 0, 25);
        }
        Some(_) => issues.push(Issue::new(
            &["nonce"],
            "NONCE_TYPE_INVALID",
            "Nonce must be an integer or a string.",
        )),
    }
    if let Some(am) = body.get("allowed_mentions").filter(|v| !v.is_null()) {
        validate_allowed_mentions(&mut issues, am);
    }
    issues
}

/// Returns the embed's text length for the 6000-char total.
fn validate_embed(issues: &mut Vec<Issue>, path: &[String], e: &Value) -> usize {
    if !e.is_object() {
        issues.push(Issue::at(
            path,
            "MODEL_TYPE_CONVERT",
            "Must be an object.".into(),
        ));
        return 0;
    }
    let mut total = 0;
    total += text(issues, &sub(path, "title"), e.get("title"), 0, 256);
    total += text(
        issues,
        &sub(path, "description"),
        e.get("description"),
        0,
        4096,
    );
    text(issues, &sub(path, "url"), e.get("url"), 0, 2048);
    match e.get("color") {
        None | Some(Value::Null) => {}
        Some(c) if c.as_u64().is_some_and(|c| c <= 0xFF_FFFF) => {}
        Some(_) => issues.push(Issue::at(
            &sub(path, "color"),
            "NUMBER_TYPE_MAX",
            "Int value should be less than or equal to 16777215.".into(),
        )),
    }
    if let Some(ts) = e.get("timestamp").filter(|v| !v.is_null()) {
        let ok = ts
            .as_str()
            .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok());
        if !ok {
            issues.push(Issue::at(
                &sub(path, "timestamp"),
                "DATE_TIME_TYPE_PARSE",
                "Could not parse timestamp. Should be ISO8601.".into(),
            ));
        }
    }
    let fields = array(issues, &sub(path, "fields"), e.get("fields"), 25);
    for (i, f) in fields.iter().enumerate() {
        let fp = sub(&sub(path, "fields"), i);
        total += text(issues, &sub(&fp, "name"), f.get("name"), 1, 256);
        total += text(issues, &sub(&fp, "value"), f.get("value"), 1, 1024);
    }
    if let Some(footer) = e.get("footer").filter(|v| !v.is_null()) {
        total += text(
            issues,
            &sub(&sub(path, "footer"), "text"),
            footer.get("text"),
            1,
            2048,
        );
        let icon = footer.get("icon_url");
        text(
            issues,
            &sub(&sub(path, "footer"), "icon_url"),
            icon,
            0,
            2048,
        );
    }
    if let Some(author) = e.get("author").filter(|v| !v.is_null()) {
        total += text(
            issues,
            &sub(&sub(path, "author"), "name"),
            author.get("name"),
            1,
            256,
        );
        text(
            issues,
            &sub(&sub(path, "author"), "url"),
            author.get("url"),
            0,
            2048,
        );
    }
    for k in ["image", "thumbnail"] {
        if let Some(img) = e.get(k).filter(|v| !v.is_null()) {
            text(issues, &sub(&sub(path, k), "url"), img.get("url"), 1, 2048);
        }
    }
    total
}

/// A type listed in `parse` must not also be given as an explicit id list (serenity always
/// sends `users`/`roles`, empty when unused; Discord treats empty lists as not given).
fn validate_allowed_mentions(issues: &mut Vec<Issue>, am: &Value) {
    let path = vec!["allowed_mentions".to_string()];
    let parse = array(issues, &sub(&path, "parse"), am.get("parse"), 3);
    let parsed: Vec<&str> = parse.iter().filter_map(Value::as_str).collect();
    for (i, p) in parse.iter().enumerate() {
        if !matches!(p.as_str(), Some("users" | "roles" | "everyone")) {
            issues.push(Issue::at(
                &sub(&sub(&path, "parse"), i),
                "BASE_TYPE_CHOICES",
                "Value must be one of ('roles', 'users', 'everyone').".into(),
            ));
        }
    }
    for kind in ["users", "roles"] {
        let ids = array(issues, &sub(&path, kind), am.get(kind), 100);
        if !ids.is_empty() && parsed.contains(&kind) {
            issues.push(Issue::at(
                &path,
                "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                format!("parse:[\"{kind}\"] and {kind}: [ids...] are mutually exclusive."),
            ));
        }
    }
}

fn validate_autocomplete(data: &Value) -> Vec<Issue> {
    let mut issues = Vec::new();
    let path = vec!["data".to_string(), "choices".to_string()];
    let choices = array(&mut issues, &path, data.get("choices"), 25);
    for (i, c) in choices.iter().enumerate() {
        let cp = sub(&path, i);
        text(&mut issues, &sub(&cp, "name"), c.get("name"), 1, 100);
        match c.get("value") {
            Some(Value::String(_)) => {
                text(&mut issues, &sub(&cp, "value"), c.get("value"), 0, 100);
            }
            Some(Value::Number(_)) => {}
            _ => issues.push(Issue::at(
                &sub(&cp, "value"),
                "BASE_TYPE_REQUIRED",
                "This field is required".into(),
            )),
        }
    }
    issues
}

/// Chat-input names: 1-32 chars, lowercase letters/digits (any script), `-`, `_`, `'`.
fn valid_name(name: &str) -> bool {
    let n = name.chars().count();
    (1..=32).contains(&n)
        && name
            .chars()
            .all(|c| matches!(c, '-' | '_' | '\'') || (c.is_alphanumeric() && !c.is_uppercase()))
}

fn validate_command(c: &Value) -> Vec<Issue> {
    let mut issues = Vec::new();
    let root: Vec<String> = Vec::new();
    let kind = command_kind(c);
    text(&mut issues, &sub(&root, "name"), c.get("name"), 1, 32);
    let name = c["name"].as_str().unwrap_or_default();
    if kind == 1 {
        if !name.is_empty() && !valid_name(name) {
            issues.push(Issue::new(
                &["name"],
                "APPLICATION_COMMAND_INVALID_NAME",
                "Command name is invalid",
            ));
        }
        text(
            &mut issues,
            &sub(&root, "description"),
            c.get("description"),
            1,
            100,
        );
        validate_options(&mut issues, &sub(&root, "options"), c.get("options"), 0);
    } else if c["description"].as_str().is_some_and(|d| !d.is_empty()) {
        issues.push(Issue::new(
            &["description"],
            "APPLICATION_COMMAND_CONTEXT_MENU_DESCRIPTION",
            "Context menu commands cannot have description",
        ));
    }
    issues
}

fn validate_options(issues: &mut Vec<Issue>, path: &[String], v: Option<&Value>, depth: usize) {
    let opts = array(issues, path, v, 25);
    let mut seen = Vec::new();
    let mut optional_seen = false;
    for (i, o) in opts.iter().enumerate() {
        let op = sub(path, i);
        let kind = o["type"].as_u64().unwrap_or(0);
        if !(1..=11).contains(&kind) {
            issues.push(Issue::at(
                &sub(&op, "type"),
                "BASE_TYPE_CHOICES",
                "Value must be one of (1..=11).".into(),
            ));
        }
        text(issues, &sub(&op, "name"), o.get("name"), 1, 32);
        let name = o["name"].as_str().unwrap_or_default();
        if !name.is_empty() && !valid_name(name) {
            issues.push(Issue::at(
                &sub(&op, "name"),
                "APPLICATION_COMMAND_INVALID_NAME",
                "Command name is invalid".into(),
            ));
        }
        if seen.contains(&name) {
            issues.push(Issue::at(
                &sub(&op, "name"),
                "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS",
                "Option names must be unique".into(),
            ));
        }
        seen.push(name);
        text(
            issues,
            &sub(&op, "description"),
            o.get("description"),
            1,
            100,
        );
        let required = o["required"].as_bool().unwrap_or(false);
        if kind > 2 {
            if required && optional_seen {
                issues.push(Issue::at(
                    &op,
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options".into(),
                ));
            }
            optional_seen |= !required;
        }
        let choices = array(issues, &sub(&op, "choices"), o.get("choices"), 25);
        for (j, ch) in choices.iter().enumerate() {
            let cp = sub(&sub(&op, "choices"), j);
            text(issues, &sub(&cp, "name"), ch.get("name"), 1, 100);
            if ch["value"].is_string() {
                text(issues, &sub(&cp, "value"), ch.get("value"), 1, 100);
            }
        }
        if o["autocomplete"] == json!(true) && !choices.is_empty() {
            issues.push(Issue::at(
                &sub(&op, "autocomplete"),
                "APPLICATION_COMMAND_OPTION_AUTOCOMPLETE_WITH_CHOICES",
                "Autocomplete cannot be set with choices".into(),
            ));
        }
        if kind == 1 || kind == 2 {
            if depth >= 2 {
                issues.push(Issue::at(
                    &op,
                    "APPLICATION_COMMAND_OPTIONS_TOO_DEEP",
                    "Subcommands nest at most two levels".into(),
                ));
            }
            validate_options(issues, &sub(&op, "options"), o.get("options"), depth + 1);
        }
    }
}

fn duplicate_names(list: &[Value]) -> Vec<Issue> {
    let mut seen: Vec<(u64, &str)> = Vec::new();
    let mut issues = Vec::new();
    for (i, c) in list.iter().enumerate() {
        let key = (command_kind(c), c["name"].as_str().unwrap_or_default());
        if seen.contains(&key) {
            issues.push(Issue::at(
                &[i.to_string(), "name".to_string()],
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
                format!("Application command names must be unique ({})", key.1),
            ));
        }
        seen.push(key);
    }
    issues
}
