//! The outbox: alerts queued by a poll's transaction, then taken by the deliver loop and
//! marked delivered, retried or failed. An alert is stored whole (`model::Alert` as JSON),
//! so delivery needs nothing else and survives restarts.
//!
//! One alert per article per channel: `(dedupe, channel)` is unique, a second insert is
//! dropped. Must not: decide retries or backoff (the deliver loop does), or talk to a sink.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};

use super::{Fault, Store, StoreError, Ts};
use crate::model::{Alert, Item};

/// An alert in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedAlert {
    pub id: i64,
    pub alert: Alert,
    /// Failed delivery attempts so far.
    pub attempts: u32,
}

/// Where an alert is in its life. Stored as its lowercase name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Status {
    Pending,
    /// Stored for the record only: there was no sink to deliver to.
    Skipped,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Skipped => "skipped",
        }
    }
}

/// Queues `alert` for `item` of `feed`; `None` if the outbox already holds this article
/// for this channel.
pub(super) fn enqueue(
    conn: &Connection,
    feed: &str,
    item: &Item,
    alert: Alert,
    status: Status,
    at: DateTime<Utc>,
) -> Result<Option<QueuedAlert>, Fault> {
    let dedupe = match &item.url {
        Some(url) => url.clone(),
        None => format!("{feed}\n{}", item.key),
    };
    // Snowflakes fit in 63 bits; the cast is lossless both ways in any case.
    let channel = alert.channel.map_or(0, |c| c.0 as i64);
    let payload = serde_json::to_string(&alert)
        .map_err(|e| Fault::Data(format!("cannot encode alert for {}: {e}", item.key)))?;
    let sql = "INSERT INTO alerts (feed, item_key, dedupe, channel, payload, status, created_at)
               VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
               ON CONFLICT (dedupe, channel) DO NOTHING";
    let inserted = conn.prepare_cached(sql)?.execute(params![
        feed,
        item.key.0,
        dedupe,
        channel,
        payload,
        status.as_str(),
        Ts(at),
    ])?;
    Ok((inserted == 1).then(|| QueuedAlert {
        id: conn.last_insert_rowid(),
        alert,
        attempts: 0,
    }))
}

/// Runs one `UPDATE alerts ... WHERE id = ?1`; an unknown id is an error.
fn update(
    conn: &Connection,
    sql: &str,
    id: i64,
    params: &[&dyn rusqlite::ToSql],
) -> Result<(), Fault> {
    let mut all: Vec<&dyn rusqlite::ToSql> = vec![&id];
    all.extend_from_slice(params);
    match conn.prepare_cached(sql)?.execute(all.as_slice())? {
        0 => Err(Fault::NotFound(format!("alert with id {id}"))),
        _ => Ok(()),
    }
}

impl Store {
    /// Up to `limit` alerts waiting for delivery, oldest first. An alert whose stored
    /// payload no longer reads as an `Alert` is marked failed and left out, so one bad row
    /// cannot stall the outbox.
    pub fn pending_alerts(&self, limit: usize) -> Result<Vec<QueuedAlert>, StoreError> {
        self.pending_alerts_except(limit, &[])
    }

    /// How many alerts wait for delivery (cheap: a partial index holds exactly them).
    pub fn pending_count(&self) -> Result<usize, StoreError> {
        let sql = "SELECT count(*) FROM alerts WHERE status = 'pending'";
        self.conn
            .query_row(sql, [], |r| r.get::<_, i64>(0))
            .map(|n| n as usize)
            .map_err(|e| Fault::from(e).at(&self.path, "count pending alerts"))
    }

    /// `pending_alerts`, leaving out the channels in `skip` (paused ones), so a channel
    /// with a long backlog cannot fill every batch while others wait.
    pub fn pending_alerts_except(
        &self,
        limit: usize,
        skip: &[u64],
    ) -> Result<Vec<QueuedAlert>, StoreError> {
        let read = || -> Result<Vec<QueuedAlert>, Fault> {
            let sql = "SELECT id, payload, attempts FROM alerts
                       WHERE status = 'pending'
                         AND channel NOT IN (SELECT value FROM json_each(?2))
                       ORDER BY id LIMIT ?1";
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            // Snowflakes are stored as i64 (see `enqueue`).
            let skip: Vec<i64> = skip.iter().map(|c| *c as i64).collect();
            let skip = serde_json::to_string(&skip)
                .map_err(|e| Fault::Data(format!("cannot encode channels: {e}")))?;
            let mut stmt = self.conn.prepare_cached(sql)?;
            let rows = stmt
                .query_map(params![limit, skip], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, u32>(2)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let mut out = Vec::new();
            for (id, payload, attempts) in rows {
                match serde_json::from_str::<Alert>(&payload) {
                    Ok(alert) => out.push(QueuedAlert {
                        id,
                        alert,
                        attempts,
                    }),
                    Err(e) => {
                        let error = format!("unreadable payload: {e}");
                        tracing::warn!(alert_id = id, error = %error, "dropping unreadable alert");
                        let sql =
                            "UPDATE alerts SET status = 'failed', last_error = ?2 WHERE id = ?1";
                        update(&self.conn, sql, id, &[&error])?;
                    }
                }
            }
            Ok(out)
        };
        read().map_err(|f| f.at(&self.path, "read pending alerts"))
    }

    /// The alert was delivered (as Discord message `message_id`, if any) at `at`.
    pub fn mark_delivered(
        &mut self,
        id: i64,
        message_id: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE alerts SET status = 'delivered', delivered_at = ?2, message_id = ?3
                   WHERE id = ?1";
        update(&self.conn, sql, id, &[&Ts(at), &message_id])
            .map_err(|f| f.at(&self.path, "mark alert delivered"))
    }

    /// One delivery attempt failed; the alert stays pending. Counts the attempt.
    pub fn mark_attempt_failed(&mut self, id: i64, error: &str) -> Result<(), StoreError> {
        let sql = "UPDATE alerts SET attempts = attempts + 1, last_error = ?2 WHERE id = ?1";
        update(&self.conn, sql, id, &[&error])
            .map_err(|f| f.at(&self.path, "record failed delivery"))
    }

    /// The alert will never be delivered (a permanent error, or retries exhausted). Does
    /// not count an attempt: call `mark_attempt_failed` for the attempt itself.
    pub fn mark_failed(&mut self, id: i64, error: &str) -> Result<(), StoreError> {
        let sql = "UPDATE alerts SET status = 'failed', last_error = ?2 WHERE id = ?1";
        update(&self.conn, sql, id, &[&error]).map_err(|f| f.at(&self.path, "mark alert failed"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::super::test_support::*;
    use super::super::StoreCounts;
    use super::*;

    fn queue(store: &mut Store, n: usize) -> Vec<i64> {
        let batch = items("a", n);
        let (outcome, _) = alert_all(store, "a", &batch);
        outcome.alerts.iter().map(|q| q.id).collect()
    }

    fn row(
        store: &Store,
        id: i64,
    ) -> (String, u32, Option<String>, Option<String>, Option<String>) {
        store
            .conn
            .query_row(
                "SELECT status, attempts, last_error, delivered_at, message_id
                 FROM alerts WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .unwrap()
    }

    #[test]
    fn pending_alerts_come_back_whole_in_creation_order() {
        let mut store = Store::in_memory().unwrap();
        let batch = items("a", 3);
        let (outcome, _) = alert_all(&mut store, "a", &batch);
        let pending = store.pending_alerts(10).unwrap();
        assert_eq!(pending, outcome.alerts);
        assert!(pending.windows(2).all(|w| w[0].id < w[1].id));
        assert_eq!(
            pending[0].alert,
            alert(&batch[2], Some(1)),
            "payload round-trips"
        );
        assert_eq!(store.pending_alerts(2).unwrap(), outcome.alerts[..2]);
        // Channel 1 holds them all: skipping it leaves nothing.
        assert!(store.pending_alerts_except(10, &[1]).unwrap().is_empty());
        assert_eq!(
            store.pending_alerts_except(10, &[7]).unwrap(),
            outcome.alerts
        );
    }

    #[test]
    fn an_alert_retries_then_is_delivered() {
        let mut store = Store::in_memory().unwrap();
        let id = queue(&mut store, 1)[0];
        store.mark_attempt_failed(id, "HTTP 502").unwrap();
        store.mark_attempt_failed(id, "timed out").unwrap();
        let pending = store.pending_alerts(10).unwrap();
        assert_eq!((pending[0].id, pending[0].attempts), (id, 2));
        assert_eq!(row(&store, id).2.as_deref(), Some("timed out"));

        store
            .mark_delivered(id, Some("1122334455"), at(90))
            .unwrap();
        assert!(store.pending_alerts(10).unwrap().is_empty());
        let (status, attempts, _, delivered_at, message_id) = row(&store, id);
        assert_eq!((status.as_str(), attempts), ("delivered", 2));
        assert_eq!(
            delivered_at.as_deref(),
            Some("2021-08-03T13:30:00.000000000Z")
        );
        assert_eq!(message_id.as_deref(), Some("1122334455"));
        let counts = store.counts().unwrap();
        assert_eq!((counts.alerts_pending, counts.alerts_delivered), (0, 1));
    }

    #[test]
    fn a_failed_alert_leaves_the_queue() {
        let mut store = Store::in_memory().unwrap();
        let ids = queue(&mut store, 2);
        store.mark_failed(ids[0], "Missing Access (50001)").unwrap();
        let pending: Vec<_> = store
            .pending_alerts(10)
            .unwrap()
            .iter()
            .map(|q| q.id)
            .collect();
        assert_eq!(pending, [ids[1]]);
        let (status, attempts, error, _, _) = row(&store, ids[0]);
        assert_eq!((status.as_str(), attempts), ("failed", 0));
        assert_eq!(error.as_deref(), Some("Missing Access (50001)"));
        let want = StoreCounts {
            feeds: 1,
            items: 2,
            alerts_pending: 1,
            alerts_failed: 1,
            ..StoreCounts::default()
        };
        assert_eq!(store.counts().unwrap(), want);
    }

    #[test]
    fn an_unknown_id_is_an_error() {
        let mut store = Store::in_memory().unwrap();
        let err = store.mark_delivered(99, None, at(0)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "database :memory:: cannot mark alert delivered: no alert with id 99"
        );
        assert!(store.mark_attempt_failed(99, "x").is_err());
        assert!(store.mark_failed(99, "x").is_err());
    }

    #[test]
    fn an_unreadable_payload_is_failed_not_stalling() {
        let mut store = Store::in_memory().unwrap();
        let ids = queue(&mut store, 2);
        store
            .conn
            .execute(
                "UPDATE alerts SET payload = '{\"old\": 1}' WHERE id = ?1",
                [ids[0]],
            )
            .unwrap();
        let pending: Vec<_> = store
            .pending_alerts(10)
            .unwrap()
            .iter()
            .map(|q| q.id)
            .collect();
        assert_eq!(pending, [ids[1]]);
        let (status, _, error, _, _) = row(&store, ids[0]);
        assert_eq!(status, "failed");
        assert!(error.unwrap().starts_with("unreadable payload: "));
    }
}
