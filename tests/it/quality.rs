//! Detection quality against hand labels of real security news (tests/fixtures/labels,
//! made by reading the text, independent of the matcher). The corpus text is read from
//! ../shared/corpus at run time and is not in the repository; without it the test says
//! it was skipped. Prints precision/recall/F1 per category and fails below the floors.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::Deserialize;
use threatwatch::catalog::{ActorLookup, Catalog};
use threatwatch::ingest::{canonical_url, html_to_text, parse_feed};
use threatwatch::model::{Item, ItemKey};
use threatwatch::rules::Detector;

#[derive(Deserialize)]
struct Label {
    link: String,
    #[serde(default)]
    file: Option<String>,
    actors: Vec<String>,
    sectors: Vec<String>,
    regions: Vec<String>,
}

#[derive(Deserialize)]
struct Union {
    title: String,
    link: String,
    summary: String,
}

#[derive(Default, Debug)]
struct Score {
    tp: usize,
    fp: usize,
    fn_: usize,
    misses: Vec<String>,
}

impl Score {
    fn add(&mut self, item: &str, want: &BTreeSet<String>, got: &BTreeSet<String>) {
        self.tp += want.intersection(got).count();
        for g in got.difference(want) {
            self.fp += 1;
            self.misses.push(format!("FP {g:?} in {item}"));
        }
        for w in want.difference(got) {
            self.fn_ += 1;
            self.misses.push(format!("FN {w:?} in {item}"));
        }
    }
    fn p(&self) -> f64 {
        self.tp as f64 / (self.tp + self.fp).max(1) as f64
    }
    fn r(&self) -> f64 {
        self.tp as f64 / (self.tp + self.fn_).max(1) as f64
    }
    fn f1(&self) -> f64 {
        let (p, r) = (self.p(), self.r());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

fn canon_actor(c: &Catalog, n: &str) -> String {
    match c.find_actor(n) {
        ActorLookup::Found(i) => c.actors[i].name.clone(),
        _ => n.to_string(),
    }
}

#[test]
fn detection_quality_on_labeled_real_news() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let Some(corpus) = crate::support::corpus() else {
        return;
    };
    let catalog = Arc::new(Catalog::builtin());
    let det = Detector::new(catalog.clone());
    let c = &catalog;

    // (label, title, summary)
    let mut cases: Vec<(Label, String, String)> = Vec::new();
    let union: Vec<Union> = serde_json::from_slice(
        &std::fs::read(corpus.join("feed-items/cyberdash-cybersecnews-union.json")).expect("union"),
    )
    .expect("union json");
    let labels: Vec<Label> = serde_json::from_slice(
        &std::fs::read(root.join("tests/fixtures/labels/feed-items.json")).expect("labels"),
    )
    .expect("labels json");
    for l in labels {
        let Some(u) = union.iter().find(|u| u.link == l.link) else {
            panic!("label for unknown item {}", l.link);
        };
        cases.push((l, u.title.clone(), html_to_text(&u.summary)));
    }
    let labels: Vec<Label> = serde_json::from_slice(
        &std::fs::read(root.join("tests/fixtures/labels/feeds.json")).expect("labels"),
    )
    .expect("labels json");
    for l in labels {
        let file = corpus
            .join("feeds")
            .join(l.file.clone().unwrap_or_default());
        let parsed =
            parse_feed(&std::fs::read(&file).expect("feed file"), None, None).expect("parse");
        let key = canonical_url(&l.link, None);
        let Some(e) = parsed
            .entries
            .iter()
            .find(|e| e.link.as_deref().and_then(|x| canonical_url(x, None)) == key)
        else {
            panic!("label for unknown item {}", l.link);
        };
        let title = html_to_text(e.title.as_deref().unwrap_or(""));
        let summary = html_to_text(e.summary.as_deref().unwrap_or(""));
        cases.push((l, title, summary));
    }

    let (mut actors, mut sectors, mut regions) =
        (Score::default(), Score::default(), Score::default());
    for (l, title, summary) in &cases {
        let item = Item {
            feed: "eval".into(),
            key: ItemKey(l.link.clone()),
            guid: None,
            title: title.clone(),
            url: None,
            published: None,
            summary: summary.clone(),
            content: String::new(),
        };
        let e = det.entities(&det.detect(&item));
        let got_a: BTreeSet<String> = e.actors.iter().map(|m| canon_actor(c, &m.name)).collect();
        let want_a: BTreeSet<String> = l.actors.iter().map(|n| canon_actor(c, n)).collect();
        actors.add(&l.link, &want_a, &got_a);
        let got_s: BTreeSet<String> = e.sectors.iter().map(|m| m.name.clone()).collect();
        let want_s: BTreeSet<String> = l
            .sectors
            .iter()
            .map(|s| {
                c.find_sector(s)
                    .map(|i| c.sectors[i].name.clone())
                    .unwrap_or(s.clone())
            })
            .collect();
        sectors.add(&l.link, &want_s, &got_s);
        let got_r: BTreeSet<String> = e.regions.iter().map(|m| m.name.clone()).collect();
        let want_r: BTreeSet<String> = l
            .regions
            .iter()
            .map(|r| {
                c.find_place(r)
                    .map(|p| c.place_name(p).to_string())
                    .unwrap_or(r.clone())
            })
            .collect();
        regions.add(&l.link, &want_r, &got_r);
    }
    let show = std::env::var_os("QUALITY_VERBOSE").is_some();
    for (name, s) in [
        ("actors", &actors),
        ("sectors", &sectors),
        ("regions", &regions),
    ] {
        eprintln!(
            "{name:<8} precision {:.3} recall {:.3} F1 {:.3} (tp {} fp {} fn {}) over {} items",
            s.p(),
            s.r(),
            s.f1(),
            s.tp,
            s.fp,
            s.fn_,
            cases.len()
        );
        if show {
            for m in &s.misses {
                eprintln!("  {m}");
            }
        }
    }
    assert!(actors.p() >= 0.95, "actor precision {:.3}", actors.p());
    assert!(actors.r() >= 0.90, "actor recall {:.3}", actors.r());
    assert!(sectors.f1() >= 0.85, "sector F1 {:.3}", sectors.f1());
    assert!(regions.f1() >= 0.90, "region F1 {:.3}", regions.f1());
}
