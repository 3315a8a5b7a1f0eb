//! The catalog cache: bodies of catalogs fetched from `[catalog] urls`, so a restart
//! without network still has them, and `refresh` decides when to fetch again.
//!
//! Must not: parse catalogs (that is `catalog::import`) or fetch anything.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use super::{Fault, Store, StoreError, Ts};

/// A cached catalog body and when it was fetched.
pub type CachedCatalog = (Vec<u8>, DateTime<Utc>);

impl Store {
    /// The cached body of `url` and when it was fetched.
    pub fn cached_catalog(&self, url: &str) -> Result<Option<CachedCatalog>, StoreError> {
        let read = || -> Result<Option<CachedCatalog>, Fault> {
            let sql = "SELECT body, fetched_at FROM catalog_cache WHERE url = ?1";
            Ok(self
                .conn
                .prepare_cached(sql)?
                .query_row(params![url], |r| {
                    Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Ts>(1)?.0))
                })
                .optional()?)
        };
        read().map_err(|f| f.at(&self.path, "read cached catalog"))
    }

    /// Store (or replace) the body fetched from `url`.
    pub fn cache_catalog(
        &mut self,
        url: &str,
        body: &[u8],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let write = || -> Result<(), Fault> {
            let sql = "INSERT INTO catalog_cache (url, body, fetched_at) VALUES (?1, ?2, ?3)
                       ON CONFLICT (url) DO UPDATE SET body = excluded.body, fetched_at = excluded.fetched_at";
            self.conn
                .prepare_cached(sql)?
                .execute(params![url, body, Ts(at)])?;
            Ok(())
        };
        write().map_err(|f| f.at(&self.path, "cache catalog"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_catalogs_round_trip_and_replace() {
        let mut s = Store::in_memory().unwrap();
        assert!(s.cached_catalog("https://x/a.json").unwrap().is_none());
        let t0 = Utc::now();
        s.cache_catalog("https://x/a.json", b"{}", t0).unwrap();
        s.cache_catalog("https://x/a.json", b"{\"values\":[]}", t0)
            .unwrap();
        let (body, at) = s.cached_catalog("https://x/a.json").unwrap().unwrap();
        assert_eq!(body, b"{\"values\":[]}");
        assert_eq!(at, t0);
    }
}
