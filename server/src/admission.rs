//! How much new work (`start`, `say`) a node takes at once: an adaptive
//! concurrency limit that bounds the *latency* of admitted work rather than
//! its count.
//!
//! Every admitted piece of work holds a [`Ticket`] until it is done; one
//! more than [`Admission::limit`] is refused (`busy`). When work finishes
//! within the target latency while the limit was half used or more, the
//! limit grows by one (additive increase: a node that could do more gets
//! to); when it took longer than the target, the limit shrinks in
//! proportion (target ÷ time taken, at least halving, at most by a tenth),
//! at most once per target period so that one slow batch does not collapse
//! it. By Little's law the work waiting at once is then about what the
//! node finishes in one target period: on a fast machine thousands, under a
//! CPU quota a few dozen — where a fixed count was either too small (the
//! node refused work it could do) or too large (admitted work waited
//! seconds). `admission` knows nothing about frames or the store.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The limit a node starts with.
pub const INITIAL_LIMIT: usize = 256;
/// The limit never goes below this: a node always takes some work.
pub const MIN_LIMIT: usize = 16;
/// Nor above this (memory: each admitted frame waits in a task).
pub const MAX_LIMIT: usize = 8192;

/// The node's admission state.
#[derive(Debug)]
pub struct Admission {
    /// Work admitted at once, at most.
    limit: AtomicUsize,
    /// Work admitted and not done.
    in_flight: AtomicUsize,
    /// When the limit was last cut (ms since `epoch`).
    last_cut_ms: AtomicU64,
    epoch: Instant,
    /// How long admitted work may take.
    target: Duration,
}

/// One admitted piece of work; done when dropped.
#[derive(Debug)]
pub struct Ticket<'a> {
    admission: &'a Admission,
    admitted: Instant,
    /// The limit was at least half used when this was admitted.
    crowded: bool,
}

impl Admission {
    /// Admission whose work should take at most `target`.
    pub fn new(target: Duration) -> Admission {
        Admission {
            limit: AtomicUsize::new(INITIAL_LIMIT),
            in_flight: AtomicUsize::new(0),
            last_cut_ms: AtomicU64::new(0),
            epoch: Instant::now(),
            target: target.max(Duration::from_millis(1)),
        }
    }

    /// Work admitted at once, at most, now.
    pub fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }

    /// Work admitted and not done, now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// A ticket, or `None` when the limit is reached.
    pub fn try_admit(&self) -> Option<Ticket<'_>> {
        let limit = self.limit();
        let before = self.in_flight.fetch_add(1, Ordering::AcqRel);
        if before >= limit {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Ticket {
            admission: self,
            admitted: Instant::now(),
            crowded: (before + 1) * 2 >= limit,
        })
    }

    /// Work admitted `crowded` took `took`; adjusts the limit.
    fn finished(&self, took: Duration, crowded: bool) {
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
        if took > self.target {
            let now = self.epoch.elapsed().as_millis() as u64;
            let last = self.last_cut_ms.load(Ordering::Relaxed);
            let period = self.target.as_millis() as u64;
            if last != 0 && now.saturating_sub(last) < period {
                return;
            }
            if self
                .last_cut_ms
                .compare_exchange(last, now.max(1), Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
            {
                return; // another finisher cut it just now
            }
            let factor = (self.target.as_secs_f64() / took.as_secs_f64()).clamp(0.5, 0.9);
            let _ = self
                .limit
                .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |l| {
                    Some(((l as f64 * factor) as usize).max(MIN_LIMIT))
                });
        } else if crowded {
            let _ = self
                .limit
                .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |l| {
                    (l < MAX_LIMIT).then_some(l + 1)
                });
        }
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        self.admission
            .finished(self.admitted.elapsed(), self.crowded);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TARGET: Duration = Duration::from_millis(100);

    #[test]
    fn refuses_past_the_limit_and_frees_a_place_when_work_is_done() {
        let a = Admission::new(TARGET);
        let held: Vec<_> = (0..INITIAL_LIMIT).map(|_| a.try_admit()).collect();
        assert!(held.iter().all(Option::is_some));
        assert!(
            a.try_admit().is_none(),
            "one more than the limit is refused"
        );
        drop(held);
        assert_eq!(a.in_flight(), 0);
        assert!(a.try_admit().is_some());
    }

    #[test]
    fn grows_while_crowded_work_is_quick() {
        let a = Admission::new(TARGET);
        for _ in 0..1000 {
            a.in_flight.fetch_add(1, Ordering::AcqRel);
            a.finished(Duration::from_millis(1), true);
        }
        assert_eq!(a.limit(), INITIAL_LIMIT + 1000);
        // Quick but uncrowded work proves nothing about more.
        a.in_flight.fetch_add(1, Ordering::AcqRel);
        a.finished(Duration::from_millis(1), false);
        assert_eq!(a.limit(), INITIAL_LIMIT + 1000);
    }

    #[test]
    fn shrinks_in_proportion_to_lateness_once_per_period() {
        let a = Admission::new(TARGET);
        a.limit.store(1000, Ordering::Relaxed);
        a.in_flight.fetch_add(2, Ordering::AcqRel);
        a.finished(Duration::from_millis(125), true);
        assert_eq!(a.limit(), 800, "target / took = 0.8");
        a.finished(Duration::from_secs(10), true);
        assert_eq!(a.limit(), 800, "one cut per target period");
        a.last_cut_ms.store(0, Ordering::Relaxed);
        a.in_flight.fetch_add(1, Ordering::AcqRel);
        a.finished(Duration::from_secs(10), true);
        assert_eq!(a.limit(), 400, "at most halved");
        for _ in 0..20 {
            a.last_cut_ms.store(0, Ordering::Relaxed);
            a.in_flight.fetch_add(1, Ordering::AcqRel);
            a.finished(Duration::from_secs(10), true);
        }
        assert_eq!(a.limit(), MIN_LIMIT);
        assert_eq!(a.in_flight(), 0);
    }
}
