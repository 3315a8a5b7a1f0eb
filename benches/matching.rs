//! Matching benchmarks (criterion):
//! - `detect`: the full detector (fold, overlapping Aho-Corasick, boundaries, weak-term
//!   context, ambiguity, vendor designations) over real article text, in bytes/s;
//! - `ceiling`: a bare overlapping Aho-Corasick scan of the same folded text with the
//!   same patterns (`matcher::automaton_builder`: the crate's choice, a contiguous NFA
//!   as the detector's), the bound the detector is measured against. The detector
//!   walks the automaton only from word starts that can begin a pattern, so it can
//!   run faster than this scan of every byte;
//! - `build`: compiling the detector (the automaton) for the catalog;
//! - `scan`: parse + normalize + match of a feed of ~6 KB items, in items/s.
//!
//! With ../shared/corpus present the catalog is the built-in one plus the MISP galaxy and
//! the ATT&CK enterprise bundle (several thousand terms) and the text is real: the
//! feed-items (titles and summaries of about 450 bytes, group `matching`) and whole
//! articles (the Microsoft Security blog and CISA advisory feeds, 12-36 KB each, group
//! `matching_articles`); without it, the built-in catalog and synthetic text.
//!
//! `cargo bench --bench matching`

use std::path::Path;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use threatwatch::catalog::{import, Catalog};
use threatwatch::ingest::{normalize, parse};
use threatwatch::model::{Item, ItemKey};
use threatwatch::rules::{fold, matcher, Detector};

fn corpus() -> Option<std::path::PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    p.is_dir().then_some(p)
}

fn catalog() -> Catalog {
    let mut c = Catalog::builtin();
    if let Some(dir) = corpus() {
        for f in [
            "catalogs/misp-galaxy/clusters/threat-actor.json",
            "catalogs/mitre-attack/enterprise-attack-intrusion-set-v18.1.json",
        ] {
            if let Ok(actors) = import::load_file(&dir.join(f)) {
                c.merge_actors(actors);
            }
        }
    }
    c.reindex();
    c
}

const SYNTHETIC: &[&str] = &[
    "Researchers attributed the intrusion to Emissary Panda, also tracked as TG-3390, which targeted telecommunications providers in Vietnam.",
    "The LockBit ransomware gang claimed an attack on a hospital in Germany and leaked patient records.",
    "A critical vulnerability in a popular VPN appliance is being exploited in the wild; CISA added it to its catalog.",
    "Microsoft said Midnight Blizzard accessed email accounts of senior leadership through a password spray.",
    "The woman said malicious actors used a fake invoice; the company in Oman reported no impact.",
];

fn items() -> Vec<Item> {
    let mut texts: Vec<(String, String)> = Vec::new();
    if let Some(dir) = corpus() {
        #[derive(serde::Deserialize)]
        struct U {
            title: String,
            summary: String,
        }
        let raw = std::fs::read(dir.join("feed-items/cyberdash-cybersecnews-union.json"))
            .unwrap_or_default();
        let us: Vec<U> = serde_json::from_slice(&raw).unwrap_or_default();
        texts = us
            .into_iter()
            .map(|u| (u.title, normalize::html_to_text(&u.summary)))
            .collect();
    }
    if texts.is_empty() {
        for i in 0..300 {
            let body: Vec<&str> = (0..6)
                .map(|k| SYNTHETIC[(i + k) % SYNTHETIC.len()])
                .collect();
            texts.push((format!("Story {i}"), body.join(" ")));
        }
    }
    texts
        .into_iter()
        .enumerate()
        .map(|(i, (title, summary))| Item {
            feed: "bench".into(),
            key: ItemKey(i.to_string()),
            guid: None,
            title,
            url: None,
            published: None,
            summary,
            content: String::new(),
        })
        .collect()
}

/// Whole articles from the corpus feeds that carry full text (none without the corpus).
fn articles() -> Vec<Item> {
    let Some(dir) = corpus() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for f in [
        "feeds/cyberdash-2025-07/microsoftsecurity.xml",
        "feeds/cyberdash-2025-07/cybersecurity-advisories.xml",
    ] {
        let Ok(raw) = std::fs::read(dir.join(f)) else {
            continue;
        };
        if let Ok(parsed) = parse::parse_feed(&raw, None, None) {
            out.extend(normalize::normalize(f, parsed.entries, None));
        }
    }
    out
}

/// Bytes of article text in `items` (title, summary and body).
fn text_bytes(items: &[Item]) -> usize {
    items
        .iter()
        .map(|i| i.title.len() + i.summary.len() + i.content.len())
        .sum()
}

/// `detect` and `ceiling` over `items`, in bytes of article text per second.
fn detect_and_ceiling(c: &mut Criterion, group: &str, det: &Detector, items: &[Item]) {
    let bytes = text_bytes(items);
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("detect", |b| {
        b.iter(|| {
            let mut n = 0;
            for it in items {
                n += det.entities(&det.detect(it)).actors.len();
            }
            n
        })
    });
    let ceiling = matcher::automaton_builder()
        .build(det.patterns())
        .expect("automaton");
    eprintln!("{group}: ceiling automaton {:?}", ceiling.kind());
    let folded: Vec<String> = items
        .iter()
        .map(|i| {
            format!(
                "{} {} {}",
                fold::fold(&i.title).text,
                fold::fold(&i.summary).text,
                fold::fold(&i.content).text
            )
        })
        .collect();
    g.bench_function("ceiling", |b| {
        b.iter(|| {
            folded
                .iter()
                .map(|t| ceiling.find_overlapping_iter(t).count())
                .sum::<usize>()
        })
    });
    g.finish();
}

fn feed_of_6kb_items(n: usize) -> Vec<u8> {
    let mut s = String::from("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>b</title><link>https://b.example/</link><description>b</description>");
    for i in 0..n {
        let mut body = String::new();
        while body.len() < 6000 {
            body.push_str("<p>");
            body.push_str(SYNTHETIC[(i + body.len()) % SYNTHETIC.len()]);
            body.push_str("</p>");
        }
        s.push_str(&format!(
            "<item><title>Story {i}</title><link>https://b.example/{i}</link><guid>{i}</guid><pubDate>Tue, 03 Aug 2021 12:00:00 +0000</pubDate><description><![CDATA[{body}]]></description></item>"
        ));
    }
    s.push_str("</channel></rss>");
    s.into_bytes()
}

fn bench(c: &mut Criterion) {
    let cat = Arc::new(catalog());
    let det = Detector::new(cat.clone());
    let items = items();
    let bytes = text_bytes(&items);
    eprintln!(
        "matching bench: {} actors, {} patterns, {} items, {:.2} MB of text{}",
        cat.actors.len(),
        det.patterns().len(),
        items.len(),
        bytes as f64 / 1e6,
        if corpus().is_some() {
            " (real corpus)"
        } else {
            " (synthetic; ../shared/corpus absent)"
        }
    );

    detect_and_ceiling(c, "matching", &det, &items);
    let articles = articles();
    if !articles.is_empty() {
        let bytes = text_bytes(&articles);
        eprintln!(
            "articles: {} items, {:.2} MB of text",
            articles.len(),
            bytes as f64 / 1e6
        );
        detect_and_ceiling(c, "matching_articles", &det, &articles);
    }
    let mut g = c.benchmark_group("build");
    g.sample_size(10);
    g.bench_function("detector", |b| {
        b.iter(|| Detector::new(cat.clone()).term_count())
    });
    g.finish();

    let feed = feed_of_6kb_items(200);
    let mut g = c.benchmark_group("scan");
    g.throughput(Throughput::Elements(200));
    g.sample_size(10);
    g.bench_function("parse_normalize_match_6kb_items", |b| {
        b.iter(|| {
            let parsed = parse::parse_feed(&feed, None, None).expect("parse");
            let items = normalize::normalize("bench", parsed.entries, None);
            items
                .iter()
                .map(|i| det.detect(i).actors.len())
                .sum::<usize>()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
