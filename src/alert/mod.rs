//! Alerts: built from the rules that fired, rendered for people and scripts, delivered
//! to sinks.
//!
//! `build` turns one evaluated item into one `Alert` per destination channel (several
//! rules posting to one channel make one alert that names them all). `render` formats
//! alerts and scan results as text or JSON lines (CONTRACT.md). Delivery to Discord is
//! the `discord` module's; the console sink is `render` + stdout.

pub mod deliver;
pub mod notice;
pub mod render;

use crate::model::{Alert, Entities, EntityMatch, Item};
use crate::rules::{by_channel, Engine, Evaluation};

/// Merge `b` into `a`: same canonical name -> union of forms and fields.
pub fn merge_entities(a: &mut Vec<EntityMatch>, b: &[EntityMatch]) {
    for e in b {
        match a.iter_mut().find(|x| x.name == e.name) {
            Some(x) => {
                for f in &e.matched {
                    if !x.matched.contains(f) {
                        x.matched.push(f.clone());
                    }
                }
                for f in &e.fields {
                    if !x.fields.contains(f) {
                        x.fields.push(*f);
                    }
                }
                x.fields.sort();
                if x.note.is_none() {
                    x.note.clone_from(&e.note);
                }
            }
            None => a.push(e.clone()),
        }
    }
}

/// How much article text an alert carries: enough for an embed's excerpt (Discord's
/// description limit is 4096), not the full article, which stays in the items table.
const EXCERPT_CHARS: usize = 1000;

/// The item as an alert carries it: summary (or, without one, the start of the content)
/// cut to an excerpt, content dropped.
fn alert_item(item: &Item) -> Item {
    let source = if item.summary.is_empty() {
        &item.content
    } else {
        &item.summary
    };
    let summary = match source.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", source[..cut].trim_end()),
        None => source.clone(),
    };
    Item {
        summary,
        content: String::new(),
        ..item.clone()
    }
}

/// One alert per destination for the rules that fired on `item`.
pub fn build(engine: &Engine, item: &Item, eval: &Evaluation) -> Vec<Alert> {
    let rules = engine.rules();
    by_channel(engine, &eval.fired)
        .into_iter()
        .map(|(channel, idxs)| {
            let mut entities = Entities::default();
            let mut names = Vec::new();
            let mut roles: Vec<u64> = Vec::new();
            let mut priority = crate::model::Priority::Low;
            for i in idxs {
                let f = &eval.fired[i];
                let r = &rules[f.rule];
                merge_entities(&mut entities.actors, &f.entities.actors);
                merge_entities(&mut entities.sectors, &f.entities.sectors);
                merge_entities(&mut entities.regions, &f.entities.regions);
                names.push(r.name.clone());
                for role in &r.mention_roles {
                    if !roles.contains(role) {
                        roles.push(*role);
                    }
                }
                priority = priority.max(r.priority);
            }
            Alert {
                item: alert_item(item),
                entities,
                rules: names,
                channel,
                mention_roles: roles,
                priority,
            }
        })
        .collect()
}
