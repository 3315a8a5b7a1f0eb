//! The daemon's answers to slash commands (`discord::Lookups`): the running config and
//! catalog (swapped on reload) and a read-only connection to the article store, so a
//! lookup never waits behind a poll's write.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use chrono::Utc;

use crate::catalog::{ActorLookup, Catalog};
use crate::config::Config;
use crate::discord::{Lookups, RecentAsk, Refusal};
use crate::lookup::{self, Answer, Choice, Completer, FeedRow, LookupKind, NotFound, RuleRow};
use crate::model::Category;
use crate::store::{Article, RecentFilter, SearchHit, Store, StoreError};

/// Latest mentions shown under `/actor`, articles under `/recent`, hits under `/search`.
const MENTIONS: usize = 5;
const RECENT: usize = 50;
const HITS: usize = 10;

struct View {
    config: Arc<Config>,
    catalog: Arc<Catalog>,
    actors: Completer,
    sectors: Completer,
    regions: Completer,
}

pub(crate) struct AppLookups {
    view: RwLock<Arc<View>>,
    db: PathBuf,
    reader: Mutex<Option<Store>>,
}

fn unavailable(e: &StoreError) -> Refusal {
    tracing::error!(error = %e, "lookup in the article store failed");
    Refusal {
        title: "The article store is unavailable".into(),
        text: "The lookup could not read the stored articles; try again in a moment. The bot's log has the cause.".into(),
    }
}

impl AppLookups {
    pub(crate) fn new(config: Arc<Config>, catalog: Arc<Catalog>) -> AppLookups {
        let db = config.storage.path.clone();
        AppLookups {
            view: RwLock::new(Arc::new(View::new(config, catalog))),
            db,
            reader: Mutex::new(None),
        }
    }

    /// A reload: new rules, a refreshed catalog.
    pub(crate) fn update(&self, config: Arc<Config>, catalog: Arc<Catalog>) {
        let v = Arc::new(View::new(config, catalog));
        *self.view.write().unwrap_or_else(|p| p.into_inner()) = v;
    }

    fn view(&self) -> Arc<View> {
        self.view.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Run `f` on the read-only connection, opened on first use.
    fn read<T>(&self, f: impl FnOnce(&Store) -> Result<T, StoreError>) -> Result<T, Refusal> {
        let mut guard = self.reader.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            *guard = Store::open_reader(&self.db).map_err(|e| unavailable(&e))?;
        }
        let Some(store) = guard.as_ref() else {
            return Err(Refusal {
                title: "No articles stored yet".into(),
                text: "The bot has not stored any article yet; ask again after its first poll."
                    .into(),
            });
        };
        f(store).map_err(|e| match e {
            StoreError::BadQuery { .. } => Refusal {
                title: "Bad search query".into(),
                text: e.to_string(),
            },
            other => unavailable(&other),
        })
    }
}

impl View {
    fn new(config: Arc<Config>, catalog: Arc<Catalog>) -> View {
        View {
            actors: Completer::new(&catalog, LookupKind::Actor),
            sectors: Completer::new(&catalog, LookupKind::Sector),
            regions: Completer::new(&catalog, LookupKind::Region),
            config,
            catalog,
        }
    }

    /// The canonical name the entity index uses for what the user typed.
    fn canonical(&self, kind: LookupKind, typed: &str) -> Result<String, Refusal> {
        let c = &self.catalog;
        let not_found = |noun: &'static str, suggestions| {
            Refusal::from(NotFound {
                kind: noun,
                name: typed.to_string(),
                suggestions,
            })
        };
        match kind {
            LookupKind::Actor => match c.find_actor(typed) {
                ActorLookup::Found(id) => Ok(c.actors[id].name.clone()),
                ActorLookup::Ambiguous(ids) => {
                    let names: Vec<&str> = ids.iter().map(|i| c.actors[*i].name.as_str()).collect();
                    Err(Refusal {
                        title: format!("{typed} is a name several actors share"),
                        text: format!("Ask for one of them: {}.", names.join(", ")),
                    })
                }
                // A designation no catalog knows is indexed under its own name.
                ActorLookup::Unknown(s) => match crate::catalog::scheme::whole(typed) {
                    Some(d) => Ok(d.name),
                    None => Err(not_found("actor", s)),
                },
            },
            LookupKind::Sector => c
                .find_sector(typed)
                .map(|i| c.sectors[i].name.clone())
                .ok_or_else(|| not_found("sector", c.suggest_sectors(typed))),
            LookupKind::Region => c
                .find_place(typed)
                .map(|p| c.place_name(p).to_string())
                .ok_or_else(|| not_found("region", c.suggest_places(typed))),
        }
    }
}

impl Lookups for AppLookups {
    fn actor(&self, name: &str) -> Result<Answer, Refusal> {
        let v = self.view();
        let answer = lookup::lookup(&v.catalog, &v.config.rules, LookupKind::Actor, name)?;
        let now = Utc::now();
        // The catalog answer stands on its own when the store cannot help.
        Ok(answer.with_mentions(|n| {
            self.read(|s| s.mentions(Category::Actors, n, MENTIONS, now))
                .ok()
        }))
    }

    fn recent(&self, ask: &RecentAsk) -> Result<Vec<Article>, Refusal> {
        let v = self.view();
        let resolve = |kind, typed: &Option<String>| {
            typed.as_deref().map(|t| v.canonical(kind, t)).transpose()
        };
        let filter = RecentFilter {
            actor: resolve(LookupKind::Actor, &ask.actor)?,
            sector: resolve(LookupKind::Sector, &ask.sector)?,
            region: resolve(LookupKind::Region, &ask.region)?,
            since: Utc::now() - chrono::Duration::days(i64::from(ask.days)),
            limit: RECENT,
        };
        self.read(|s| s.recent(&filter))
    }

    fn search(&self, query: &str) -> Result<Vec<SearchHit>, Refusal> {
        self.read(|s| s.search(query, HITS))
    }

    fn feeds(&self) -> Result<Vec<FeedRow>, Refusal> {
        let v = self.view();
        let states = self.read(|s| s.feed_states())?;
        Ok(lookup::feeds(&v.config, &states))
    }

    fn rules(&self) -> Vec<RuleRow> {
        lookup::rules(&self.view().config)
    }

    fn complete(&self, option: &str, typed: &str) -> Vec<Choice> {
        let v = self.view();
        match option {
            "name" | "actor" => v.actors.complete(typed),
            "sector" => v.sectors.complete(typed),
            "region" => v.regions.complete(typed),
            _ => Vec::new(),
        }
    }
}
