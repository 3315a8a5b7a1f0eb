//! Operational notices: a feed failing or recovered, a config reload rejected, an alert
//! that could not be delivered for good. Printed to stderr as they happen and posted to
//! `[discord] status_channel`, throttled so a bad hour does not flood it.
//!
//! Must not: do I/O. The daemon prints, the outbox posts; this module only says what a
//! notice is and whether it may be posted now.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    FeedFailing,
    FeedRecovered,
    ReloadRejected,
    DeliveryFailed,
}

impl NoticeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::FeedFailing => "failing",
            NoticeKind::FeedRecovered => "recovered",
            NoticeKind::ReloadRejected => "reload rejected",
            NoticeKind::DeliveryFailed => "delivery failed",
        }
    }

    /// Whether this is about something going wrong (colour, wording).
    pub fn is_problem(self) -> bool {
        !matches!(self, NoticeKind::FeedRecovered)
    }
}

/// One notice: `kind` of `subject` (a feed name, a channel, the config file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    pub kind: NoticeKind,
    pub subject: String,
    pub detail: String,
    /// Similar notices held back by the throttle since the last one posted.
    #[serde(skip_serializing_if = "is_zero")]
    pub suppressed: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Notice {
    pub fn new(kind: NoticeKind, subject: impl Into<String>, detail: impl Into<String>) -> Notice {
        Notice {
            kind,
            subject: subject.into(),
            detail: detail.into(),
            suppressed: 0,
        }
    }

    /// "Feed \"Talos\" failing", "Channel 123 delivery failed", ...
    pub fn headline(&self) -> String {
        match self.kind {
            NoticeKind::FeedFailing | NoticeKind::FeedRecovered => {
                format!("Feed {:?} {}", self.subject, self.kind.as_str())
            }
            NoticeKind::ReloadRejected => {
                format!("Config reload rejected: {}", self.subject)
            }
            NoticeKind::DeliveryFailed => {
                format!("Delivery to {} failed", self.subject)
            }
        }
    }
}

/// How often notices may be posted: one per (kind, subject) per `per_subject`, and at
/// most `budget` in any `window`. A recovery is always let through when its failure was,
/// so the channel never shows a feed as failing forever.
#[derive(Debug)]
pub struct Throttle {
    per_subject: Duration,
    budget: usize,
    window: Duration,
    last: HashMap<(NoticeKind, String), Instant>,
    posted: VecDeque<Instant>,
    suppressed: usize,
}

impl Default for Throttle {
    fn default() -> Throttle {
        Throttle::new(Duration::from_secs(3600), 10, Duration::from_secs(3600))
    }
}

impl Throttle {
    pub fn new(per_subject: Duration, budget: usize, window: Duration) -> Throttle {
        Throttle {
            per_subject,
            budget,
            window,
            last: HashMap::new(),
            posted: VecDeque::new(),
            suppressed: 0,
        }
    }

    /// `Some(notice)` (carrying how many were held back before it) when it may be
    /// posted at `now`; `None` when it is held back.
    pub fn admit(&mut self, mut notice: Notice, now: Instant) -> Option<Notice> {
        while self
            .posted
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            self.posted.pop_front();
        }
        let key = (notice.kind, notice.subject.clone());
        let recent = self
            .last
            .get(&key)
            .is_some_and(|t| now.duration_since(*t) < self.per_subject);
        let recovery_owed = notice.kind == NoticeKind::FeedRecovered
            && self
                .last
                .contains_key(&(NoticeKind::FeedFailing, notice.subject.clone()));
        let over_budget = self.posted.len() >= self.budget;
        if !recovery_owed && (recent || over_budget) {
            self.suppressed += 1;
            return None;
        }
        if recovery_owed {
            self.last
                .remove(&(NoticeKind::FeedFailing, notice.subject.clone()));
        }
        self.last.insert(key, now);
        self.posted.push_back(now);
        notice.suppressed = std::mem::take(&mut self.suppressed);
        Some(notice)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;

    fn n(kind: NoticeKind, subject: &str) -> Notice {
        Notice::new(kind, subject, "detail")
    }

    #[test]
    fn one_notice_per_subject_per_hour() {
        let t0 = Instant::now();
        let mut t = Throttle::default();
        assert!(t.admit(n(NoticeKind::DeliveryFailed, "#1"), t0).is_some());
        let later = t0 + Duration::from_secs(60);
        assert!(t
            .admit(n(NoticeKind::DeliveryFailed, "#1"), later)
            .is_none());
        assert!(t
            .admit(n(NoticeKind::DeliveryFailed, "#1"), later)
            .is_none());
        // Another subject still gets through, and says what was held back.
        let other = t.admit(n(NoticeKind::DeliveryFailed, "#2"), later).unwrap();
        assert_eq!(other.suppressed, 2);
        let hour = t0 + Duration::from_secs(3600);
        assert!(t.admit(n(NoticeKind::DeliveryFailed, "#1"), hour).is_some());
    }

    #[test]
    fn a_bad_hour_posts_at_most_the_budget() {
        let t0 = Instant::now();
        let mut t = Throttle::new(Duration::from_secs(3600), 3, Duration::from_secs(3600));
        let admitted = (0..50)
            .filter(|i| {
                t.admit(n(NoticeKind::FeedFailing, &format!("feed {i}")), t0)
                    .is_some()
            })
            .count();
        assert_eq!(admitted, 3);
        let next = t
            .admit(
                n(NoticeKind::FeedFailing, "feed 99"),
                t0 + Duration::from_secs(3601),
            )
            .unwrap();
        assert_eq!(next.suppressed, 47);
    }

    #[test]
    fn a_recovery_follows_its_failure_even_over_budget() {
        let t0 = Instant::now();
        let mut t = Throttle::new(Duration::from_secs(3600), 1, Duration::from_secs(3600));
        assert!(t.admit(n(NoticeKind::FeedFailing, "talos"), t0).is_some());
        assert!(t.admit(n(NoticeKind::FeedFailing, "other"), t0).is_none());
        assert!(t.admit(n(NoticeKind::FeedRecovered, "talos"), t0).is_some());
        // A recovery of a feed whose failure was never posted says nothing new.
        assert!(t.admit(n(NoticeKind::FeedRecovered, "other"), t0).is_none());
    }

    #[test]
    fn headlines_name_the_subject() {
        assert_eq!(
            n(NoticeKind::FeedFailing, "Talos").headline(),
            "Feed \"Talos\" failing"
        );
        assert_eq!(
            n(NoticeKind::DeliveryFailed, "channel 42").headline(),
            "Delivery to channel 42 failed"
        );
    }
}
