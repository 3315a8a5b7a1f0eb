//! Lookup benchmark: the store queries behind `/recent`, `/actor` and `/search` over a
//! database of 100,000 synthetic security-news articles (titles and ~2 KB bodies mixing
//! actors, sectors, countries and ordinary words, with their entity-index rows),
//! published over 90 days. Each query kind runs 1,000 times with varied inputs; prints
//! p50/p99/max per kind, the build time and the file size.
//!
//! ```sh
//! cargo run --release --example lookup_bench [-- ARTICLES [DATABASE]]
//! ```
//! The data is deterministic (a hand-written RNG, fixed "now"), so runs compare. A
//! DATABASE path is kept, and reused by later runs instead of building it again.
//! `benches/lookup.rs` reuses this file's builder on a smaller database.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use threatwatch::model::{Category, Item, ItemKey};
use threatwatch::store::{PollCommit, RecentFilter, SeedMode, Store};

/// The benchmark's "now": every article is published in the 90 days before it.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 1, 0, 0, 0)
        .single()
        .expect("valid date")
}

/// splitmix64: tiny, deterministic, good enough to spread words.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Skewed towards 0 (roughly Zipf): a few names are everywhere, most are rare.
    pub fn skewed(&mut self, n: usize) -> usize {
        let a = self.below(n);
        let b = self.below(n);
        let c = self.below(n);
        a.min(b).min(c)
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// Actors: canonical name, then aliases articles use.
pub const ACTORS: &[(&str, &[&str])] = &[
    (
        "APT27",
        &[
            "APT27",
            "Emissary Panda",
            "TG-3390",
            "LuckyMouse",
            "Iron Tiger",
        ],
    ),
    (
        "APT28",
        &["APT28", "Fancy Bear", "Forest Blizzard", "Sofacy", "Sednit"],
    ),
    (
        "APT29",
        &["APT29", "Cozy Bear", "Midnight Blizzard", "Nobelium"],
    ),
    (
        "Lazarus Group",
        &["Lazarus Group", "Hidden Cobra", "Diamond Sleet"],
    ),
    (
        "Volt Typhoon",
        &["Volt Typhoon", "Bronze Silhouette", "Vanguard Panda"],
    ),
    (
        "Sandworm",
        &["Sandworm", "Seashell Blizzard", "Voodoo Bear"],
    ),
    (
        "APT41",
        &["APT41", "Wicked Panda", "Brass Typhoon", "Barium"],
    ),
    ("Kimsuky", &["Kimsuky", "Emerald Sleet", "Velvet Chollima"]),
    (
        "Turla",
        &["Turla", "Secret Blizzard", "Venomous Bear", "Snake"],
    ),
    (
        "MuddyWater",
        &["MuddyWater", "Mango Sandstorm", "Static Kitten"],
    ),
    (
        "Salt Typhoon",
        &["Salt Typhoon", "GhostEmperor", "FamousSparrow"],
    ),
    (
        "Scattered Spider",
        &["Scattered Spider", "Octo Tempest", "UNC3944"],
    ),
    ("FIN7", &["FIN7", "Carbon Spider", "Sangria Tempest"]),
    ("LockBit", &["LockBit", "LockBit 3.0"]),
    ("ALPHV", &["ALPHV", "BlackCat", "Noberus"]),
    ("Cl0p", &["Cl0p", "TA505", "Lace Tempest"]),
    ("Naikon", &["Naikon", "Override Panda"]),
    (
        "Mustang Panda",
        &["Mustang Panda", "Bronze President", "TA416"],
    ),
    ("OilRig", &["OilRig", "APT34", "Hazel Sandstorm"]),
    (
        "Charming Kitten",
        &["Charming Kitten", "APT35", "Mint Sandstorm"],
    ),
    (
        "Gamaredon",
        &["Gamaredon", "Aqua Blizzard", "Primitive Bear"],
    ),
    ("BlackTech", &["BlackTech", "Palmerworm", "Circuit Panda"]),
    ("Andariel", &["Andariel", "Onyx Sleet", "Silent Chollima"]),
    ("Star Blizzard", &["Star Blizzard", "Callisto", "ColdRiver"]),
    ("Gallium", &["Gallium", "Granite Typhoon", "Alloy Taurus"]),
    ("Play", &["Play ransomware", "PlayCrypt"]),
    ("Akira", &["Akira ransomware", "Storm-1567"]),
    ("BlackBasta", &["Black Basta", "BlackBasta"]),
    ("Storm-0558", &["Storm-0558"]),
    ("UNC4841", &["UNC4841"]),
];

/// Sectors: canonical name, then words articles use for it.
pub const SECTORS: &[(&str, &[&str])] = &[
    (
        "Government",
        &["government agencies", "ministries", "public sector"],
    ),
    (
        "Healthcare",
        &["hospitals", "healthcare providers", "clinics"],
    ),
    (
        "Financial Services",
        &["banks", "financial institutions", "insurers"],
    ),
    (
        "Telecommunications",
        &["telecom operators", "telcos", "carriers"],
    ),
    (
        "Energy",
        &["energy companies", "utilities", "oil and gas firms"],
    ),
    (
        "Manufacturing",
        &["manufacturers", "factories", "industrial firms"],
    ),
    (
        "Education",
        &["universities", "schools", "research institutes"],
    ),
    (
        "Technology",
        &["software vendors", "cloud providers", "IT firms"],
    ),
    (
        "Defense",
        &["defense contractors", "the military", "armed forces"],
    ),
    (
        "Retail",
        &["retailers", "e-commerce sites", "online stores"],
    ),
    (
        "Transportation",
        &["airlines", "logistics firms", "shipping companies"],
    ),
    ("Media", &["journalists", "news outlets", "broadcasters"]),
    ("Legal", &["law firms", "legal services"]),
    ("Water", &["water utilities", "wastewater plants"]),
    ("Non-profit", &["NGOs", "think tanks", "charities"]),
];

/// Regions: canonical name, then countries in it articles name.
pub const REGIONS: &[(&str, &[&str])] = &[
    ("Europe", &["Germany", "France", "Italy", "Poland", "Spain"]),
    ("North America", &["the United States", "Canada", "Mexico"]),
    (
        "Southeast Asia",
        &["Vietnam", "Thailand", "Indonesia", "Malaysia"],
    ),
    ("East Asia", &["Japan", "South Korea", "Taiwan", "Mongolia"]),
    (
        "Middle East",
        &["Israel", "Saudi Arabia", "the UAE", "Oman"],
    ),
    (
        "South Asia",
        &["India", "Pakistan", "Bangladesh", "Sri Lanka"],
    ),
    (
        "Eastern Europe",
        &["Ukraine", "Moldova", "Georgia", "Romania"],
    ),
    (
        "Latin America",
        &["Brazil", "Chile", "Colombia", "Argentina"],
    ),
    ("Africa", &["Nigeria", "Kenya", "South Africa", "Egypt"]),
    ("Oceania", &["Australia", "New Zealand", "Fiji"]),
    ("Central Asia", &["Kazakhstan", "Uzbekistan", "Kyrgyzstan"]),
    ("Nordics", &["Norway", "Sweden", "Finland", "Denmark"]),
];

/// Ordinary words of security news, most common first.
#[rustfmt::skip]
pub const WORDS: &[&str] = &[
    "security", "attack", "attackers", "data", "researchers", "vulnerability", "malware",
    "ransomware", "campaign", "threat", "access", "network", "systems", "exploited",
    "phishing", "credentials", "espionage", "breach", "patch", "update", "critical",
    "victims", "servers", "infrastructure", "intrusion", "backdoor", "payload", "loader",
    "exploit", "flaw", "disclosed", "warned", "agency", "report", "analysis", "group",
    "targeted", "operators", "actors", "tools", "remote", "execution", "code", "supply",
    "chain", "compromise", "email", "accounts", "cloud", "firmware", "router", "VPN",
    "appliance", "zero-day", "stealer", "botnet", "DDoS", "wiper", "extortion", "leak",
    "negotiation", "affiliate", "initial", "lateral", "movement", "persistence", "command",
    "control", "beacon", "implant", "dropper", "sideloading", "DLL", "PowerShell",
    "scheduled", "task", "registry", "exfiltration", "archive", "encryption", "decryptor",
    "sanctions", "indictment", "arrested", "takedown", "seized", "domains", "telemetry",
    "indicators", "hashes", "detection", "rules", "YARA", "Sigma", "hunting", "advisory",
    "mitigation", "workaround", "CISA", "FBI", "NCSC", "Europol", "Microsoft", "Google",
    "Mandiant", "Kaspersky", "ESET", "Cisco", "Fortinet", "Ivanti", "Citrix", "Palo",
    "Alto", "Atlassian", "Confluence", "Exchange", "SharePoint", "Chrome", "Android",
    "iOS", "Linux", "Windows", "macOS", "kernel", "driver", "privilege", "escalation",
    "authentication", "bypass", "injection", "deserialization", "overflow", "memory",
    "corruption", "sandbox", "escape", "spyware", "surveillance", "dissidents", "election",
    "disinformation", "influence", "operation", "hacktivists", "defacement", "insider",
    "contractor", "vendor", "customers", "downtime", "outage", "recovery", "incident",
    "response", "forensics", "timeline", "attribution", "overlap", "cluster", "tracked",
];

/// Glue for filler sentences.
const GLUE: &[&str] = &[
    "the", "and", "of", "to", "in", "with", "for", "on", "a", "by",
];

/// Sentences by topic: each article has one topic, so a phrase is as common as its
/// topic (about one article in eight), not in every article. `{a}` is an actor alias,
/// `{s}` a sector word, `{c}` a country, `{w}` an ordinary word, `{v}` a CVE id.
const TOPICS: &[&[&str]] = &[
    // Espionage
    &[
        "Researchers attributed the intrusion to {a}, which targeted {s} in {c}.",
        "Analysts noted overlaps with earlier activity tracked as {a}, though attribution remains tentative.",
        "The implant beaconed to command and control servers hosted in {c}.",
        "Officials in {c} said the espionage campaign sought diplomatic and military documents.",
        "The operators used DLL sideloading for persistence and moved laterally with stolen credentials.",
        "{a} has been active since at least 2019 and focuses on {s}.",
    ],
    // Ransomware
    &[
        "The ransomware attack forced {s} in {c} to divert patients and halt operations.",
        "{a} listed the victim on its leak site and demanded a ransom in bitcoin.",
        "Negotiations with the affiliate broke down after the decryptor failed on several servers.",
        "Incident responders found the encryptor was deployed through a compromised VPN account.",
        "The gang exfiltrated data before encryption, a double extortion tactic now routine.",
        "Recovery from backups took weeks, and some systems were rebuilt from scratch.",
    ],
    // Vulnerabilities
    &[
        "{v} allows remote code execution without authentication on exposed appliances.",
        "A patch for {v} is available, and administrators are urged to apply it immediately.",
        "CISA added {v} to its Known Exploited Vulnerabilities catalog.",
        "Proof-of-concept exploit code was published days after the advisory.",
        "The flaw is a deserialization bug in the management interface.",
        "Mass scanning for vulnerable devices began within hours of disclosure.",
    ],
    // Phishing and fraud
    &[
        "The phishing emails impersonated {s} in {c} and linked to credential harvesting pages.",
        "Victims were lured with fake invoices and shipping notices.",
        "The kit bypasses multi-factor authentication by relaying session cookies.",
        "Business email compromise losses reported to the FBI keep growing.",
        "Attackers registered lookalike domains days before the campaign started.",
        "Security awareness training reduced click rates but did not stop the attacks.",
    ],
    // Law enforcement and policy
    &[
        "Europol said the takedown seized servers and domains in {c}.",
        "Prosecutors unsealed an indictment naming members of {a}.",
        "The government announced sanctions against individuals linked to {a}.",
        "Regulators in {c} proposed new incident reporting rules for {s}.",
        "Two suspects were arrested and devices were seized during the raids.",
        "Officials warned that critical infrastructure remains a priority target.",
    ],
    // Malware analysis
    &[
        "The loader decrypts its payload in memory and injects it into a legitimate process.",
        "Samples were uploaded to VirusTotal from {c} in recent weeks.",
        "The stealer harvests browser credentials, cookies and cryptocurrency wallets.",
        "Researchers published YARA rules and indicators of compromise.",
        "The backdoor supports file upload, command execution and screenshot capture.",
        "Code similarities link the malware to tools used by {a}.",
    ],
    // Breaches and supply chain
    &[
        "The supply chain compromise affected {s} that relied on the vendor's updates.",
        "The breach exposed personal data of customers in {c}.",
        "Attackers accessed a cloud storage bucket left open to the internet.",
        "The company notified regulators and affected individuals.",
        "A third-party contractor's credentials were used to reach the network.",
        "The stolen database was later offered for sale on a criminal forum.",
    ],
    // DDoS and hacktivism
    &[
        "Hacktivists claimed DDoS attacks on {s} in {c}.",
        "The botnet peaked at several million requests per second.",
        "Websites of {s} were defaced with political messages.",
        "The group coordinates attacks through a Telegram channel.",
        "Disinformation accompanied the attacks ahead of the election in {c}.",
        "Mitigation services absorbed most of the traffic.",
    ],
];

/// Titles; same placeholders.
const TITLES: &[&str] = &[
    "{a} targets {s} in {c}",
    "{a} exploits {v} in attacks on {s}",
    "New {w} campaign hits {s} across {c}",
    "{c} warns of {a} activity against {s}",
    "Critical {v} flaw exploited in the wild",
    "Inside {a}'s latest {w} operation",
    "{s} in {c} disrupted by {w} attack",
    "Patch now: {v} under active exploitation",
];

/// The entities of one synthetic article and the words it uses for them.
struct Draw {
    actors: Vec<usize>,
    sectors: Vec<usize>,
    regions: Vec<(usize, usize)>,
    cve: String,
    topic: usize,
}

fn draw(rng: &mut Rng, cves: usize) -> Draw {
    let mut d = Draw {
        actors: Vec::new(),
        sectors: Vec::new(),
        regions: Vec::new(),
        cve: format!("CVE-2025-{}", 10_000 + rng.below(cves)),
        topic: rng.below(TOPICS.len()),
    };
    let n_actors = match rng.below(100) {
        0..=29 => 0,
        30..=84 => 1,
        _ => 2,
    };
    for _ in 0..n_actors {
        d.actors.push(rng.skewed(ACTORS.len()));
    }
    for _ in 0..1 + rng.below(2) {
        d.sectors.push(rng.skewed(SECTORS.len()));
    }
    for _ in 0..rng.below(3) {
        let r = rng.skewed(REGIONS.len());
        d.regions.push((r, rng.below(REGIONS[r].1.len())));
    }
    d.actors.dedup();
    d.sectors.dedup();
    d
}

/// Fills a template; placeholders draw from the article's own entities, so the text
/// names what the index says it mentions.
fn fill(template: &str, d: &Draw, rng: &mut Rng, out: &mut String) {
    let mut rest = template;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let (kind, tail) = (&rest[i + 1..i + 2], &rest[i + 3..]);
        match kind {
            "a" => match d.actors.is_empty() {
                true => out.push_str("an unnamed group"),
                false => {
                    let a = rng.pick(&d.actors);
                    out.push_str(rng.pick(ACTORS[a].1));
                }
            },
            "s" => {
                let s = rng.pick(&d.sectors);
                out.push_str(rng.pick(SECTORS[s].1));
            }
            "c" => match d.regions.is_empty() {
                true => out.push_str("several countries"),
                false => {
                    let (r, c) = rng.pick(&d.regions);
                    out.push_str(REGIONS[r].1[c]);
                }
            },
            "v" => out.push_str(&d.cve),
            _ => out.push_str(WORDS[rng.skewed(WORDS.len())]),
        }
        rest = tail;
    }
    out.push_str(rest);
}

/// A sentence of ordinary words (skewed, so some are in most articles and most are
/// not), joined by glue words: the bulk of a body, with few repeated phrases.
fn filler(rng: &mut Rng, out: &mut String) {
    let n = 8 + rng.below(10);
    let mut tail = String::new();
    for k in 0..n {
        let word = match (k % 3, rng.chance(35)) {
            (1, _) => rng.pick(GLUE),
            (_, true) => WORDS[rng.skewed(WORDS.len())],
            (_, false) => {
                tail.clear();
                long_tail(rng, &mut tail);
                &tail
            }
        };
        if k == 0 {
            let mut chars = word.chars();
            out.extend(chars.next().map(|c| c.to_ascii_uppercase()));
            out.push_str(chars.as_str());
        } else {
            out.push(' ');
            out.push_str(word);
        }
    }
    out.push_str(". ");
}

/// Real text has a long tail of words that each appear in few articles: one of 5,000
/// made-up words, drawn with Zipf's law (rank r with probability ~ 1/r).
fn long_tail(rng: &mut Rng, out: &mut String) {
    const SYLLABLES: &[&str] = &[
        "ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ber", "dan", "fel", "gor", "han", "jis",
        "kor", "lun", "mor", "nik", "pra", "qua", "ros", "sten", "tor", "wex",
    ];
    let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let mut rank = ((u * 5_001f64.ln()).exp() as usize).saturating_sub(1);
    loop {
        out.push_str(SYLLABLES[rank % SYLLABLES.len()]);
        rank /= SYLLABLES.len();
        if rank == 0 {
            break;
        }
    }
}

/// A body of about 2 KB: half the sentences from the article's topic, half filler.
fn body(d: &Draw, rng: &mut Rng) -> String {
    let mut body = String::with_capacity(2200);
    while body.len() < 2000 {
        match rng.chance(50) {
            true => {
                fill(rng.pick(TOPICS[d.topic]), d, rng, &mut body);
                body.push(' ');
            }
            false => filler(rng, &mut body),
        }
    }
    body
}

/// What `build` made.
pub struct Built {
    pub articles: usize,
    pub took: Duration,
    pub bytes: u64,
}

/// Writes `n` articles to a new database at `path` (in polls of 50, through the same
/// commit the daemon uses), oldest first, published over the 90 days before `now()`.
/// One in twenty is undated; one in fifty is the same article (URL) in a second feed.
pub fn build(path: &Path, n: usize) -> Built {
    let started = Instant::now();
    let mut store = Store::open(path).expect("open database");
    let mut rng = Rng::new(0x7468_7265_6174);
    let span = chrono::Duration::days(90).num_seconds();
    let start = now() - chrono::Duration::days(90);
    let cves = (n / 3).max(10);
    const FEEDS: usize = 25;
    const BATCH: usize = 50;
    let mut i = 0;
    let mut poll_no = 0;
    while i < n {
        let feed = format!("feed-{:02}", poll_no % FEEDS);
        let mut items = Vec::with_capacity(BATCH);
        let mut mentions = HashMap::new();
        let mut newest = start;
        for _ in 0..BATCH.min(n - i) {
            let offset = span * i as i64 / n as i64 + rng.below(3600) as i64;
            let published = start + chrono::Duration::seconds(offset);
            newest = newest.max(published);
            let d = draw(&mut rng, cves);
            let mut title = String::new();
            fill(rng.pick(TITLES), &d, &mut rng, &mut title);
            let body = body(&d, &mut rng);
            let (summary, content) = match body.char_indices().nth(280) {
                Some((cut, _)) => (body[..cut].to_string(), body.clone()),
                None => (body.clone(), String::new()),
            };
            // A copy of an earlier article: same URL, another feed.
            let url = match i > 100 && rng.chance(2) {
                true => format!("https://news.example/{}", i - 1 - rng.below(100)),
                false => format!("https://news.example/{i}"),
            };
            let key = ItemKey(format!("guid:{i}"));
            let mut found: Vec<(Category, String)> = Vec::new();
            found.extend(
                d.actors
                    .iter()
                    .map(|&a| (Category::Actors, ACTORS[a].0.into())),
            );
            found.extend(
                d.sectors
                    .iter()
                    .map(|&s| (Category::Sectors, SECTORS[s].0.into())),
            );
            found.extend(
                d.regions
                    .iter()
                    .map(|&(r, _)| (Category::Regions, REGIONS[r].0.into())),
            );
            mentions.insert(key.clone(), found);
            items.push(Item {
                feed: feed.clone(),
                key,
                guid: None,
                title,
                url: Some(url),
                published: (!rng.chance(5)).then_some(published),
                summary,
                content,
            });
            i += 1;
        }
        // Feeds list newest first.
        items.reverse();
        let at = newest + chrono::Duration::minutes(10);
        let poll = PollCommit {
            feed: &feed,
            url: "https://news.example/rss",
            items: &items,
            etag: None,
            last_modified: None,
            at,
            next_poll: None,
            mode: SeedMode::AlertAll,
            deliver: false,
            mentions: Some(&mentions),
        };
        store
            .commit_poll(&poll, &mut |_| Vec::new())
            .expect("commit poll");
        poll_no += 1;
    }
    drop(store);
    let took = started.elapsed();
    let bytes = ["", "-wal"]
        .iter()
        .filter_map(|s| std::fs::metadata(format!("{}{s}", path.display())).ok())
        .map(|m| m.len())
        .sum();
    Built {
        articles: n,
        took,
        bytes,
    }
}

/// One query of a kind, with its input.
pub enum Query {
    Recent(RecentFilter),
    Mentions(Category, String),
    Search(String),
}

impl Query {
    /// Runs the query as the slash commands would; the number of articles listed.
    pub fn run(&self, store: &Store) -> usize {
        match self {
            Query::Recent(f) => store.recent(f).expect("recent").len(),
            Query::Mentions(c, name) => store
                .mentions(*c, name, 5, now())
                .expect("mentions")
                .latest
                .len(),
            Query::Search(q) => store.search(q, 10).expect("search").len(),
        }
    }
}

/// Each query kind with 1,000 varied inputs: (kind, inputs).
pub fn workload() -> Vec<(&'static str, Vec<Query>)> {
    let mut rng = Rng::new(42);
    let days = |d: i64| now() - chrono::Duration::days(d);
    let runs = 1000;
    let mut kinds = Vec::new();
    kinds.push((
        "recent by actor (90 days)",
        (0..runs)
            .map(|k| {
                Query::Recent(RecentFilter {
                    actor: Some(ACTORS[k % ACTORS.len()].0.into()),
                    sector: None,
                    region: None,
                    since: days(90),
                    limit: 10,
                })
            })
            .collect(),
    ));
    kinds.push((
        "recent by sector+region (7 days)",
        (0..runs)
            .map(|_| {
                Query::Recent(RecentFilter {
                    actor: None,
                    sector: Some(rng.pick(SECTORS).0.into()),
                    region: Some(rng.pick(REGIONS).0.into()),
                    since: days(7),
                    limit: 10,
                })
            })
            .collect(),
    ));
    kinds.push((
        "recent, no filter (1 day)",
        (0..runs)
            .map(|k| {
                Query::Recent(RecentFilter {
                    actor: None,
                    sector: None,
                    region: None,
                    since: days(1 + (k % 3) as i64),
                    limit: 10,
                })
            })
            .collect(),
    ));
    kinds.push((
        "mentions (actor, sector or region)",
        (0..runs)
            .map(|k| match k % 4 {
                0 | 1 => Query::Mentions(Category::Actors, rng.pick(ACTORS).0.into()),
                2 => Query::Mentions(Category::Sectors, rng.pick(SECTORS).0.into()),
                _ => Query::Mentions(Category::Regions, rng.pick(REGIONS).0.into()),
            })
            .collect(),
    ));
    kinds.push((
        "search rare (CVE id, alias)",
        (0..runs)
            .map(|k| match k % 2 {
                0 => Query::Search(format!("CVE-2025-{}", 10_000 + rng.below(30_000))),
                _ => Query::Search(format!("{}*", rng.pick(ACTORS).1.last().expect("alias"))),
            })
            .collect(),
    ));
    let common = [
        "security",
        "attack",
        "ransomware",
        "researchers",
        "vulnerability",
        "malware",
        "hospitals",
        "ransomware attack",
        "banks OR insurers",
        "exploited servers",
    ];
    kinds.push((
        "search common",
        (0..runs)
            .map(|k| Query::Search(common[k % common.len()].into()))
            .collect(),
    ));
    let phrases = [
        "\"Emissary Panda\"",
        "\"supply chain compromise\"",
        "\"remote code execution\"",
        "\"critical infrastructure\"",
        "\"Midnight Blizzard\" hospitals",
        "\"command and control\"",
        "\"double extortion\"",
        "\"known exploited vulnerabilities\"",
    ];
    kinds.push((
        "search phrase",
        (0..runs)
            .map(|k| Query::Search(phrases[k % phrases.len()].into()))
            .collect(),
    ));
    kinds
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .map(|a| a.parse().expect("ARTICLES is a number"))
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("tempdir");
    // A database named on the command line is kept, and reused when it exists.
    let path = args
        .next()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| dir.path().join("lookup.db"));
    if path.exists() {
        println!("reusing {}", path.display());
    } else {
        let built = build(&path, n);
        println!(
            "built {} articles in {:.1} s; database {:.1} MB",
            built.articles,
            built.took.as_secs_f64(),
            built.bytes as f64 / 1e6
        );
    }
    let store = Store::open_reader(&path)
        .expect("open reader")
        .expect("database exists");
    println!(
        "{:<36} {:>9} {:>9} {:>9} {:>9}",
        "query (1,000 runs)", "p50 ms", "p99 ms", "max ms", "listed"
    );
    for (kind, queries) in workload() {
        let mut times = Vec::with_capacity(queries.len());
        let mut results = 0;
        for q in &queries {
            let started = Instant::now();
            results += q.run(&store);
            times.push(started.elapsed());
        }
        times.sort();
        let at = |p: usize| times[(times.len() * p / 100).min(times.len() - 1)];
        println!(
            "{kind:<36} {:>9.3} {:>9.3} {:>9.3} {:>9.1}",
            ms(at(50)),
            ms(at(99)),
            ms(times[times.len() - 1]),
            results as f64 / queries.len() as f64
        );
    }
    actor_and_autocomplete(&store);
}

/// The catalog side of `/actor` (name resolution, the answer, its mentions) and
/// autocomplete, over the built-in catalog plus MISP and ATT&CK when ../shared/corpus is
/// there (several thousand names).
fn actor_and_autocomplete(store: &Store) {
    use threatwatch::catalog::{import, Catalog};
    use threatwatch::lookup::{self, Completer, LookupKind};
    let mut c = Catalog::builtin();
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    for f in [
        "catalogs/misp-galaxy/clusters/threat-actor.json",
        "catalogs/mitre-attack/enterprise-attack-intrusion-set-v18.1.json",
    ] {
        if let Ok(actors) = import::load_file(&corpus.join(f)) {
            c.merge_actors(actors);
        }
    }
    c.reindex();
    let names: Vec<String> = c
        .actors
        .iter()
        .flat_map(|a| a.names().map(String::from))
        .collect();
    let started = Instant::now();
    let completer = Completer::new(&c, LookupKind::Actor);
    println!(
        "catalog: {} actors, {} names; autocomplete index built in {:.1} ms",
        c.actors.len(),
        names.len(),
        ms(started.elapsed())
    );
    let mut rng = Rng(7);
    let now = chrono::Utc::now();
    let (mut actor_t, mut complete_t) = (Vec::new(), Vec::new());
    for k in 0..1000 {
        let name = &names[rng.below(names.len())];
        let started = Instant::now();
        let answer = lookup::lookup(&c, &[], LookupKind::Actor, name)
            .map(|a| a.with_mentions(|n| store.mentions(Category::Actors, n, 5, now).ok()));
        actor_t.push(started.elapsed());
        assert!(answer.is_ok(), "{name}");
        // What a user has typed so far: a prefix, or the whole name with a typo.
        let typed: String = match k % 3 {
            0 => name.chars().take(1 + k % 6).collect(),
            1 => name.chars().take(3).collect(),
            _ => name.chars().filter(|ch| *ch != 'a').collect(),
        };
        let started = Instant::now();
        let choices = completer.complete(&typed);
        complete_t.push(started.elapsed());
        assert!(choices.len() <= 25);
    }
    for (kind, mut times) in [
        ("/actor (catalog + mentions)", actor_t),
        ("autocomplete (actor names)", complete_t),
    ] {
        times.sort();
        let at = |p: usize| times[(times.len() * p / 100).min(times.len() - 1)];
        println!(
            "{kind:<36} {:>9.3} {:>9.3} {:>9.3}",
            ms(at(50)),
            ms(at(99)),
            ms(times[times.len() - 1])
        );
    }
}
