//! Self-test of the fake Discord (support/discord.rs): serenity 0.12 itself, as a client,
//! against the fake's REST routes and gateway, so the daemon tests can trust the fake.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use serenity::all::{
    ApplicationId, ChannelId, ClientBuilder, Command, CommandOptionType, Context,
    CreateAutocompleteResponse, CreateCommand, CreateCommandOption, CreateInteractionResponse,
    CreateInteractionResponseFollowup, CreateInteractionResponseMessage, CreateMessage,
    EditInteractionResponse, EventHandler, GatewayIntents, GuildId, Interaction, InteractionId,
    Nonce, Ready, ResumedEvent,
};
use serenity::http::{Http, HttpBuilder, HttpError};

use crate::support::discord::{ChannelState, FakeDiscord, BOT_USER_ID};

const TOKEN: &str = "test-token-123";
const GUILD: u64 = 700_000_000_000_000_001;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// serenity's Http the way threatwatch builds it for a non-Discord base.
fn http(fake: &FakeDiscord) -> Http {
    HttpBuilder::new(TOKEN)
        .proxy(fake.api_base())
        .ratelimiter_disabled(true)
        .build()
}

/// (HTTP status, Discord error code, error paths) of a failed serenity call.
fn failure<T: std::fmt::Debug>(r: serenity::Result<T>) -> (u16, isize, Vec<String>) {
    match r {
        Err(serenity::Error::Http(HttpError::UnsuccessfulRequest(e))) => (
            e.status_code.as_u16(),
            e.error.code,
            e.error.errors.iter().map(|x| x.path.clone()).collect(),
        ),
        other => panic!("expected an unsuccessful request, got {other:?}"),
    }
}

#[test]
fn messages_limits_nonce_and_scripted_failures() {
    let fake = FakeDiscord::start_with_guild(GUILD);
    let http = Arc::new(http(&fake));
    runtime().block_on(async {
        // Discovery and identity.
        let gw = http.get_gateway().await.unwrap();
        assert_eq!(gw.url, fake.gateway_url());
        let bot = http.get_bot_gateway().await.unwrap();
        assert_eq!(bot.shards, 1);
        let me = http.get_current_user().await.unwrap();
        assert_eq!(me.id.get(), BOT_USER_ID);
        assert!(me.bot);
        let app = http.get_current_application_info().await.unwrap();
        assert_eq!(app.id.get(), fake.application_id());

        // A plain message through the builder.
        let msg = ChannelId::new(5)
            .send_message(&http, CreateMessage::new().content("x"))
            .await
            .unwrap();
        assert_eq!(msg.content, "x");
        assert_eq!(msg.channel_id.get(), 5);
        assert_eq!(fake.messages(5)[0]["content"], "x");
        let rec = fake.requests_to("POST", "/channels/5/messages");
        assert_eq!(rec.len(), 1);
        assert_eq!(rec[0].authorization.as_deref(), Some("Bot test-token-123"));
        assert_eq!(rec[0].status, 200);

        // The same nonce with enforce_nonce answers the first message, creates nothing.
        let send_once = || {
            ChannelId::new(6).send_message(
                &http,
                CreateMessage::new()
                    .content("dedupe")
                    .nonce(Nonce::String("alert-1".into()))
                    .enforce_nonce(true),
            )
        };
        let a = send_once().await.unwrap();
        let b = send_once().await.unwrap();
        assert_eq!(a.id, b.id);
        assert_eq!(fake.messages(6).len(), 1);
        // Without enforce_nonce Discord creates a second one.
        let body = json!({"content": "again", "nonce": "alert-1"});
        let c = http.send_message(ChannelId::new(6), vec![], &body).await.unwrap();
        assert_ne!(c.id, a.id);
        assert_eq!(fake.messages(6).len(), 2);

        // Lengths are counted in chars: 2000 two-byte chars pass, 2001 do not.
        let ok = json!({"content": "é".repeat(2000)});
        http.send_message(ChannelId::new(7), vec![], &ok).await.unwrap();
        let long = json!({"content": "é".repeat(2001)});
        let r = http.send_message(ChannelId::new(7), vec![], &long).await;
        assert_eq!(failure(r), (400, 50035, vec!["content".to_string()]));
        let empty_name = json!({"embeds": [{"title": "t", "fields": [{"name": "", "value": "v"}]}]});
        let r = http.send_message(ChannelId::new(7), vec![], &empty_name).await;
        assert_eq!(failure(r).2, vec!["embeds.0.fields.0.name".to_string()]);
        let too_big = json!({"embeds": [{"description": "d".repeat(4000)},
                                         {"description": "d".repeat(4000)}]});
        let r = http.send_message(ChannelId::new(7), vec![], &too_big).await;
        assert_eq!(failure(r).2, vec!["embeds".to_string()]);
        let exclusive = json!({"content": "hi", "allowed_mentions": {"parse": ["users"], "users": ["1"]}});
        let r = http.send_message(ChannelId::new(7), vec![], &exclusive).await;
        assert_eq!(failure(r).2, vec!["allowed_mentions".to_string()]);
        // serenity always sends empty users/roles lists: that is not a conflict.
        let fine = json!({"content": "hi", "allowed_mentions": {"parse": ["users"], "users": [], "roles": []}});
        http.send_message(ChannelId::new(7), vec![], &fine).await.unwrap();
        let r = http.send_message(ChannelId::new(7), vec![], &json!({"content": ""})).await;
        assert_eq!(failure(r).1, 50006);
        assert_eq!(fake.messages(7).len(), 2);
        let v = fake.violations();
        assert_eq!(v.len(), 5, "{v:#?}");
        assert!(v[0].contains("content") && v[0].contains("2000"), "{v:#?}");

        // Scripted channel states.
        fake.set_channel(8, ChannelState::Missing);
        fake.set_channel(9, ChannelState::Forbidden);
        let r = ChannelId::new(8).send_message(&http, CreateMessage::new().content("x")).await;
        let (status, code, _) = failure(r);
        assert_eq!((status, code), (404, 10003));
        let r = ChannelId::new(9).send_message(&http, CreateMessage::new().content("x")).await;
        let (status, code, _) = failure(r);
        assert_eq!((status, code), (403, 50013));

        // Scripted failures: one 429, then normal again. serenity keeps only status,
        // code and message of an error body, so `retry_after` reaches the bot only as the
        // header (read here with reqwest) or not at all through serenity.
        fake.fail_messages(1, 429, FakeDiscord::rate_limited(0.3));
        let r = http.send_message(ChannelId::new(10), vec![], &json!({"content": "a"})).await;
        // Discord's 429 body has no `code`, so serenity cannot decode it at all (code -1).
        let (status, code, _) = failure(r);
        assert_eq!((status, code), (429, -1));
        fake.fail_messages(1, 429, FakeDiscord::rate_limited(0.3));
        let raw = reqwest::Client::new()
            .post(format!("{}/api/v10/channels/10/messages", fake.api_base()))
            .header("content-type", "application/json")
            .body(json!({"content": "a"}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(raw.status().as_u16(), 429);
        assert_eq!(raw.headers()["retry-after"], "1");
        let body: serde_json::Value = serde_json::from_slice(&raw.bytes().await.unwrap()).unwrap();
        assert_eq!(body["retry_after"], 0.3);
        assert!(fake.messages(10).is_empty());
        http.send_message(ChannelId::new(10), vec![], &json!({"content": "b"}))
            .await
            .unwrap();
        assert_eq!(fake.messages(10).len(), 1);

        // A held answer: the message exists before the client hears about it.
        fake.hold_messages(Duration::from_millis(400));
        let started = Instant::now();
        let h = http.clone();
        let pending = tokio::spawn(async move {
            h.send_message(ChannelId::new(11), vec![], &json!({"content": "slow"}))
                .await
        });
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(fake.messages(11).len(), 1);
        assert!(!pending.is_finished());
        pending.await.unwrap().unwrap();
        assert!(started.elapsed() >= Duration::from_millis(400));
        fake.hold_messages(Duration::ZERO);

        // Unknown routes are recorded and answered like Discord.
        let r = http.get_guild(GuildId::new(GUILD)).await;
        assert_eq!(failure(r).0, 404);
        assert_eq!(fake.violations().len(), 5);
    });
}

#[test]
fn commands_and_interaction_responses() {
    let fake = FakeDiscord::start_with_guild(GUILD);
    let http = http(&fake);
    http.set_application_id(ApplicationId::new(fake.application_id()));
    runtime().block_on(async {
        let lookup = || {
            CreateCommand::new("lookup")
                .description("Look up an actor")
                .add_option(
                    CreateCommandOption::new(CommandOptionType::String, "query", "Name or alias")
                        .required(true)
                        .set_autocomplete(true),
                )
        };
        let cmds = GuildId::new(GUILD)
            .set_commands(&http, vec![lookup()])
            .await
            .unwrap();
        assert_eq!(cmds.len(), 1);
        assert_eq!(cmds[0].name, "lookup");
        assert_eq!(cmds[0].guild_id, Some(GuildId::new(GUILD)));
        assert_eq!(cmds[0].application_id.get(), fake.application_id());
        assert_eq!(cmds[0].options[0].name, "query");
        // A bulk overwrite keeps the id of a command it keeps.
        let again = GuildId::new(GUILD)
            .set_commands(&http, vec![lookup()])
            .await
            .unwrap();
        assert_eq!(again[0].id, cmds[0].id);
        assert_eq!(fake.commands(Some(GUILD)).len(), 1);
        let global = Command::set_global_commands(&http, vec![lookup()])
            .await
            .unwrap();
        assert_eq!(global[0].guild_id, None);
        assert_eq!(Command::get_global_commands(&http).await.unwrap().len(), 1);
        let bad = CreateCommand::new("Bad Name").description("");
        let r = Command::set_global_commands(&http, vec![bad]).await;
        let (status, code, paths) = failure(r);
        assert_eq!((status, code), (400, 50035));
        // serenity walks the errors object in key order.
        assert_eq!(
            paths,
            vec!["0.description".to_string(), "0.name".to_string()]
        );
        assert_eq!(fake.violations().len(), 2);

        // Interactions without a gateway: the fake knows them from `command`.
        let (iid, tok) = fake.command(
            "lookup",
            json!([{"name": "query", "type": 3, "value": "APT29"}]),
            Some(GUILD),
        );
        let edit = EditInteractionResponse::new().content("done");
        let r = http
            .edit_original_interaction_response(&tok, &edit, vec![])
            .await;
        assert_eq!(failure(r), (404, 10008, vec![]));
        let defer = CreateInteractionResponse::Defer(CreateInteractionResponseMessage::new());
        http.create_interaction_response(InteractionId::new(iid), &tok, &defer, vec![])
            .await
            .unwrap();
        assert_eq!(fake.original(iid).unwrap()["flags"], 128);
        let edited = http
            .edit_original_interaction_response(&tok, &edit, vec![])
            .await
            .unwrap();
        assert_eq!(edited.content, "done");
        assert_eq!(fake.original(iid).unwrap()["content"], "done");
        assert_eq!(fake.original(iid).unwrap()["flags"], 0);
        let got = http.get_original_interaction_response(&tok).await.unwrap();
        assert_eq!(got.id, edited.id);
        let follow = CreateInteractionResponseFollowup::new().content("more");
        let f = http
            .create_followup_message(&tok, &follow, vec![])
            .await
            .unwrap();
        assert_eq!(f.content, "more");
        let r = http
            .create_interaction_response(InteractionId::new(iid), &tok, &defer, vec![])
            .await;
        assert_eq!(failure(r).1, 40060);
        let r = http
            .create_interaction_response(InteractionId::new(42), "nope", &defer, vec![])
            .await;
        assert_eq!(failure(r).1, 10062);

        // Autocomplete: at most 25 choices.
        let (aid, atok) = fake.autocomplete(
            "lookup",
            json!([{"name": "query", "type": 3, "value": "AP", "focused": true}]),
        );
        let mut many = CreateAutocompleteResponse::new();
        for i in 0..26 {
            many = many.add_string_choice(format!("actor {i}"), format!("a{i}"));
        }
        let r = http
            .create_interaction_response(
                InteractionId::new(aid),
                &atok,
                &CreateInteractionResponse::Autocomplete(many),
                vec![],
            )
            .await;
        assert_eq!(failure(r).2, vec!["data.choices".to_string()]);
        let one = CreateAutocompleteResponse::new().add_string_choice("APT29", "apt29");
        http.create_interaction_response(
            InteractionId::new(aid),
            &atok,
            &CreateInteractionResponse::Autocomplete(one),
            vec![],
        )
        .await
        .unwrap();
        assert_eq!(
            fake.callbacks(aid)[0]["data"]["choices"][0]["value"],
            "apt29"
        );
        let v = fake.violations();
        assert_eq!(v.len(), 5, "{v:#?}");
    });
}

/// Records what the gateway delivered and answers interactions like a bot would.
struct Handler {
    events: Arc<Mutex<Vec<String>>>,
}

impl Handler {
    fn push(&self, e: String) {
        self.events.lock().expect("lock").push(e);
    }
}

#[serenity::async_trait]
impl EventHandler for Handler {
    async fn ready(&self, _ctx: Context, ready: Ready) {
        self.push(format!("ready {}", ready.session_id));
    }

    async fn resume(&self, _ctx: Context, _: ResumedEvent) {
        self.push("resumed".to_string());
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        match interaction {
            Interaction::Command(cmd) => {
                let q = cmd
                    .data
                    .options
                    .first()
                    .and_then(|o| o.value.as_str())
                    .unwrap_or_default()
                    .to_string();
                self.push(format!(
                    "command {} {q} guild={:?} user={}",
                    cmd.data.name,
                    cmd.guild_id.map(|g| g.get()),
                    cmd.user.id
                ));
                let reply = CreateInteractionResponse::Message(
                    CreateInteractionResponseMessage::new().content(format!("pong {q}")),
                );
                let r = cmd.create_response(&ctx.http, reply).await;
                self.push(format!("responded {}", r.is_ok()));
            }
            Interaction::Autocomplete(ac) => {
                let typed = ac
                    .data
                    .autocomplete()
                    .map(|o| o.value.to_string())
                    .unwrap_or_default();
                self.push(format!("autocomplete {typed}"));
                let choices = CreateAutocompleteResponse::new().add_string_choice("APT29", "apt29");
                let r = ac
                    .create_response(&ctx.http, CreateInteractionResponse::Autocomplete(choices))
                    .await;
                self.push(format!("responded {}", r.is_ok()));
            }
            _ => {}
        }
    }
}

#[test]
fn gateway_ready_interactions_resume_and_reidentify() {
    let fake = FakeDiscord::start_with_guild(GUILD);
    let rt = runtime();
    let events = Arc::new(Mutex::new(Vec::<String>::new()));
    let handler = Handler {
        events: events.clone(),
    };
    let builder =
        ClientBuilder::new_with_http(http(&fake), GatewayIntents::GUILDS).event_handler(handler);
    let mut client = rt.block_on(async { builder.await }).unwrap();
    let shards = client.shard_manager.clone();
    let running = rt.spawn(async move { client.start().await });
    let count = |prefix: &str| {
        events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.starts_with(prefix))
            .count()
    };

    fake.wait_until(10, "first READY", |_| count("ready ") == 1);
    let ids = fake.identify_payloads();
    assert_eq!(ids.len(), 1);
    assert_eq!(ids[0]["token"], format!("Bot {TOKEN}"));
    assert_eq!(ids[0]["intents"], GatewayIntents::GUILDS.bits());
    assert_eq!(fake.connections(), 1);

    let (iid, _) = fake.command(
        "lookup",
        json!([{"name": "query", "type": 3, "value": "APT29"}]),
        Some(GUILD),
    );
    fake.wait_until(5, "command answered", |f| f.callbacks(iid).len() == 1);
    assert_eq!(fake.callbacks(iid)[0]["type"], 4);
    assert_eq!(fake.original(iid).unwrap()["content"], "pong APT29");
    assert!(events.lock().unwrap().contains(&format!(
        "command lookup APT29 guild=Some({GUILD}) user=900000000000000200"
    )));

    let (dm, _) = fake.command(
        "lookup",
        json!([{"name": "query", "type": 3, "value": "x"}]),
        None,
    );
    fake.wait_until(5, "DM command answered", |f| f.callbacks(dm).len() == 1);

    let (aid, _) = fake.autocomplete(
        "lookup",
        json!([{"name": "query", "type": 3, "value": "AP", "focused": true}]),
    );
    fake.wait_until(5, "autocomplete answered", |f| f.callbacks(aid).len() == 1);
    assert_eq!(fake.callbacks(aid)[0]["type"], 8);
    assert_eq!(count("autocomplete AP"), 1);

    // Op 7: the client comes back on a new socket and resumes the same session.
    assert_eq!(fake.force_reconnect(), 1);
    fake.wait_until(5, "RESUMED", |_| count("resumed") == 1);
    assert_eq!(fake.resumes()[0]["session_id"], "fake-session-1");
    let (after, _) = fake.command("lookup", json!([]), Some(GUILD));
    fake.wait_until(5, "command after resume", |f| f.callbacks(after).len() == 1);

    // Op 9 false: a fresh Identify and a second READY (serenity takes ~5 s for this).
    assert_eq!(fake.force_reidentify(), 1);
    fake.wait_until(15, "second READY", |f| {
        count("ready ") == 2 && f.identifies() == 2
    });
    assert_eq!(fake.readies(), 2);
    assert!(events
        .lock()
        .unwrap()
        .contains(&"ready fake-session-2".to_string()));
    let (last, _) = fake.command("lookup", json!([]), Some(GUILD));
    fake.wait_until(5, "command after reidentify", |f| {
        f.callbacks(last).len() == 1
    });

    assert!(fake.violations().is_empty(), "{:#?}", fake.violations());
    assert_eq!(count("responded true"), 5);

    // Past Discord's deadline the answer is refused (404 10062) and listed.
    fake.set_interaction_deadline(Some(Duration::ZERO));
    fake.command("lookup", json!([]), Some(GUILD));
    fake.wait_until(5, "late answer refused", |_| count("responded false") == 1);
    let v = fake.violations();
    assert_eq!(v.len(), 1, "{v:#?}");
    assert!(v[0].contains("answered after"), "{v:#?}");
    rt.block_on(async {
        shards.shutdown_all().await;
        let done = tokio::time::timeout(Duration::from_secs(5), running).await;
        assert!(done.is_ok(), "client did not stop");
    });
}

#[test]
fn client_shutdown_is_prompt() {
    // serenity waits for the server's reply to its Close frame (up to 5 s otherwise).
    let fake = FakeDiscord::start();
    let rt = runtime();
    let builder = ClientBuilder::new_with_http(http(&fake), GatewayIntents::empty());
    let mut client = rt.block_on(async { builder.await }).unwrap();
    let shards = client.shard_manager.clone();
    let running = rt.spawn(async move { client.start().await });
    fake.wait_until(10, "READY", |f| f.readies() == 1);
    let started = Instant::now();
    rt.block_on(async {
        shards.shutdown_all().await;
        tokio::time::timeout(Duration::from_secs(5), running)
            .await
            .expect("client stops")
            .unwrap()
            .unwrap();
    });
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    fake.wait_until(5, "socket closed", |f| f.connections() == 0);
}
