//! When each feed is polled next: a due-time queue, jitter, and backoff after failures.
//!
//! Pure bookkeeping over `tokio::time::Instant`, so tests can run it on tokio's paused
//! clock. The daemon pops due feeds, polls them (never two polls of one feed at once),
//! and reschedules each with `after_success` or `after_failure`.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::BuildHasher;
use std::time::Duration;

use tokio::time::Instant;

/// Due times per feed name. Rescheduling a feed replaces its previous due time.
#[derive(Debug, Default)]
pub struct Schedule {
    heap: BinaryHeap<Reverse<(Instant, u64, String)>>,
    /// Current generation per feed; heap entries of older generations are stale.
    current: HashMap<String, u64>,
    next_gen: u64,
}

impl Schedule {
    pub fn new() -> Schedule {
        Schedule::default()
    }

    /// Poll `feed` at `due` (replacing any earlier plan for it).
    pub fn set(&mut self, feed: &str, due: Instant) {
        self.next_gen += 1;
        self.current.insert(feed.to_string(), self.next_gen);
        self.heap
            .push(Reverse((due, self.next_gen, feed.to_string())));
    }

    /// Forget `feed` (removed from the config).
    pub fn remove(&mut self, feed: &str) {
        self.current.remove(feed);
    }

    pub fn contains(&self, feed: &str) -> bool {
        self.current.contains_key(feed)
    }

    fn drop_stale(&mut self) {
        while let Some(Reverse((_, generation, feed))) = self.heap.peek() {
            if self.current.get(feed) == Some(generation) {
                break;
            }
            self.heap.pop();
        }
    }

    /// The earliest due time, if any feed is scheduled.
    pub fn next_due(&mut self) -> Option<Instant> {
        self.drop_stale();
        self.heap.peek().map(|Reverse((due, _, _))| *due)
    }

    /// Every feed due at or before `now`, earliest first; they leave the schedule until
    /// `set` again.
    pub fn pop_due(&mut self, now: Instant) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            self.drop_stale();
            match self.heap.peek() {
                Some(Reverse((due, _, _))) if *due <= now => {}
                _ => break,
            }
            if let Some(Reverse((_, _, feed))) = self.heap.pop() {
                self.current.remove(&feed);
                out.push(feed);
            }
        }
        out
    }
}

/// A random number in `0..n` (n > 0); good enough for jitter, no extra dependency.
fn random_below(n: u64) -> u64 {
    std::collections::hash_map::RandomState::new().hash_one(std::time::SystemTime::now()) % n.max(1)
}

/// `d` plus or minus up to 10%, so feeds with one interval do not poll in lockstep.
pub fn jittered(d: Duration) -> Duration {
    let span = (d.as_millis() as u64 / 10).max(1);
    let offset = random_below(2 * span + 1);
    let ms = (d.as_millis() as u64 + offset).saturating_sub(span);
    Duration::from_millis(ms.max(1))
}

/// A start-up delay spread over `window`, so a restart does not fire every feed at once.
pub fn stagger(window: Duration) -> Duration {
    Duration::from_millis(random_below(window.as_millis() as u64 + 1))
}

/// How long to wait after `failures` consecutive failures (1 = the first): the interval
/// doubled per failure after the first, with jitter, or the server's `Retry-After` when
/// that is longer; never more than `max`.
pub fn after_failure(
    interval: Duration,
    failures: u32,
    max: Duration,
    retry_after: Option<Duration>,
) -> Duration {
    let factor = 1u32 << failures.saturating_sub(1).min(16);
    let base = interval.saturating_mul(factor).min(max);
    // Retry-After can only lengthen the wait: "0" or a date in the past must not turn a
    // failing feed into a once-a-second loop.
    match retry_after {
        Some(r) => r.max(base).min(max),
        None => jittered(base).min(max),
    }
}

/// The wait after a successful poll: the interval, jittered.
pub fn after_success(interval: Duration) -> Duration {
    jittered(interval)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn pops_in_due_order_and_replaces_plans() {
        let mut s = Schedule::new();
        let t0 = Instant::now();
        s.set("a", t0 + Duration::from_secs(10));
        s.set("b", t0 + Duration::from_secs(5));
        s.set("a", t0 + Duration::from_secs(1)); // replaces a@10
        assert_eq!(s.next_due(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(s.pop_due(t0 + Duration::from_secs(6)), ["a", "b"]);
        assert_eq!(
            s.pop_due(t0 + Duration::from_secs(60)),
            Vec::<String>::new()
        );
        assert_eq!(s.next_due(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn removed_feeds_never_come_due() {
        let mut s = Schedule::new();
        let t0 = Instant::now();
        s.set("a", t0);
        s.remove("a");
        assert!(s.pop_due(t0 + Duration::from_secs(1)).is_empty());
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        for _ in 0..200 {
            let j = jittered(Duration::from_secs(100));
            assert!(
                j >= Duration::from_secs(90) && j <= Duration::from_secs(110),
                "{j:?}"
            );
        }
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let i = Duration::from_secs(60);
        let max = Duration::from_secs(3600);
        let b1 = after_failure(i, 1, max, None);
        let b3 = after_failure(i, 3, max, None);
        assert!(
            b1 >= Duration::from_secs(54) && b1 <= Duration::from_secs(66),
            "{b1:?}"
        );
        assert!(
            b3 >= Duration::from_secs(216) && b3 <= Duration::from_secs(264),
            "{b3:?}"
        );
        assert!(after_failure(i, 30, max, None) <= max);
        assert_eq!(
            after_failure(i, 1, max, Some(Duration::from_secs(600))),
            Duration::from_secs(600)
        );
        // Retry-After: 0 does not shorten the backoff.
        assert_eq!(
            after_failure(i, 2, max, Some(Duration::ZERO)),
            Duration::from_secs(120)
        );
        assert_eq!(
            after_failure(i, 2, max, Some(Duration::from_secs(99_999))),
            max
        );
    }
}
