//! How much new work (`start`, `say`) a node takes at once: an adaptive
//! concurrency limit that bounds the *latency* of admitted work rather than
//! its count.
//!
//! Every admitted piece of work holds a [`Ticket`] until it is done; one
//! more than [`Admission::limit`] is refused (`busy`). When work finishes
//! within the target latency while the limit was half used or more, the
//! limit grows by one (additive increase: a node that could do more gets
//! to); when the work finished in one target period took longer than the
//! target on average, the limit shrinks in proportion (target ÷ average,
//! at most halving, at least by a tenth), so one slow piece of work does
//! not cut it. By Little's law the work waiting at once is then about what the
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
    /// When the current measuring period began (ms since `epoch`).
    period_start_ms: AtomicU64,
    /// Time taken by the work finished in the current period, µs, and how
    /// many finished.
    period_took_us: AtomicU64,
    period_done: AtomicU64,
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
            period_start_ms: AtomicU64::new(0),
            period_took_us: AtomicU64::new(0),
            period_done: AtomicU64::new(0),
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
        self.period_took_us
            .fetch_add(took.as_micros() as u64, Ordering::AcqRel);
        self.period_done.fetch_add(1, Ordering::AcqRel);
        if let Some(average) = self.close_period() {
            if average > self.target {
                let factor = (self.target.as_secs_f64() / average.as_secs_f64()).clamp(0.5, 0.9);
                self.adjust(|l| ((l as f64 * factor) as usize).max(MIN_LIMIT));
                return;
            }
        }
        if crowded && took <= self.target {
            self.adjust(|l| (l + 1).min(MAX_LIMIT));
        }
    }

    /// Once a target period has passed since the current one began, starts
    /// the next and returns the average time work finished in it took (one
    /// finisher wins the race to close it).
    fn close_period(&self) -> Option<Duration> {
        let now = self.epoch.elapsed().as_millis() as u64;
        let start = self.period_start_ms.load(Ordering::Acquire);
        if now.saturating_sub(start) < self.target.as_millis() as u64 {
            return None;
        }
        self.period_start_ms
            .compare_exchange(start, now, Ordering::AcqRel, Ordering::Relaxed)
            .ok()?;
        let took = self.period_took_us.swap(0, Ordering::AcqRel);
        let done = self.period_done.swap(0, Ordering::AcqRel).max(1);
        Some(Duration::from_micros(took / done))
    }

    fn adjust(&self, f: impl Fn(usize) -> usize) {
        let _ = self
            .limit
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |l| Some(f(l)));
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

    /// Admission whose clock started an hour ago, so periods can be ended
    /// and begun at will.
    fn aged() -> Admission {
        let mut a = Admission::new(TARGET);
        a.epoch = Instant::now()
            .checked_sub(Duration::from_secs(3600))
            .expect("an hour ago");
        a
    }

    fn begin_period(a: &Admission) {
        let now = a.epoch.elapsed().as_millis() as u64;
        a.period_start_ms.store(now, Ordering::Relaxed);
    }

    fn end_period(a: &Admission) {
        a.period_start_ms.store(0, Ordering::Relaxed);
    }

    fn finish(a: &Admission, ms: u64, crowded: bool) {
        a.in_flight.fetch_add(1, Ordering::AcqRel);
        a.finished(Duration::from_millis(ms), crowded);
    }

    #[test]
    fn shrinks_in_proportion_to_the_average_lateness_of_a_period() {
        let a = aged();
        a.limit.store(1000, Ordering::Relaxed);
        // A period in which work took 125 ms on average (one slow, one quick).
        begin_period(&a);
        finish(&a, 240, false);
        assert_eq!(a.limit(), 1000, "nothing changes within a period");
        end_period(&a);
        finish(&a, 10, false);
        assert_eq!(a.limit(), 800, "target / average = 0.8");
        // One slow piece of work in a period whose average is on target
        // cuts nothing.
        begin_period(&a);
        finish(&a, 150, false);
        finish(&a, 50, false);
        end_period(&a);
        finish(&a, 50, false);
        assert_eq!(a.limit(), 800);
        // Far too slow: at most halved, and never below the floor.
        end_period(&a);
        finish(&a, 10_000, true);
        assert_eq!(a.limit(), 400);
        for _ in 0..20 {
            end_period(&a);
            finish(&a, 10_000, true);
        }
        assert_eq!(a.limit(), MIN_LIMIT);
        assert_eq!(a.in_flight(), 0);
    }
}
