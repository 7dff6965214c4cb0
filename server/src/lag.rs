//! How far behind this node runs, from the two delays new work would meet
//! inside it:
//!
//! - **event lag**: how late it delivers events (now − the envelope's
//!   publish time), back to zero once nothing is left to read. It grows
//!   when the node cannot keep up with what Redis sends it.
//! - **scheduling delay**: how late a 50 ms timer fires (a moving average
//!   over about a quarter second). When every core is
//!   busy, connection tasks wait in the runtime's queue for their turn and
//!   clients' frames wait unread in the kernel meanwhile; this is how long
//!   one turn takes, and frames wait a few turns.
//!
//! The hub refuses new `start`s and `say`s (`busy`) while either is high,
//! since work accepted then would reach people later still, and reports
//! not ready above `--max-event-lag`. `lag` knows nothing about frames or
//! the store.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::domain::{now_millis, Millis};
use crate::metrics::Metrics;

/// How often the scheduling delay is sampled.
const PROBE_EVERY: Duration = Duration::from_millis(50);

/// Weight of the newest sample in the scheduling delay's moving average:
/// about the last quarter second counts, so one stall of the machine (a
/// burst of other processes, a CPU quota period) does not refuse work, a
/// lasting shortage of CPU does.
const PROBE_WEIGHT: f64 = 0.2;

/// This node's delays; shared by the bus (event lag), the probe task
/// (scheduling delay) and the hub (admission, readiness).
#[derive(Debug, Default)]
pub struct Lag {
    /// Event lag as last measured, ms.
    event_ms: AtomicU64,
    /// Scheduling delay as last measured, ms.
    scheduling_ms: AtomicU64,
}

impl Lag {
    /// How late this node delivers events now.
    pub fn event(&self) -> Duration {
        Duration::from_millis(self.event_ms.load(Ordering::Relaxed))
    }

    /// How late this node's tasks get their turn now.
    pub fn scheduling(&self) -> Duration {
        Duration::from_millis(self.scheduling_ms.load(Ordering::Relaxed))
    }

    /// Measures one delivered event published at `at` (Unix ms; a clock
    /// behind the publisher's counts as no lag).
    pub fn delivered(&self, at: Millis, metrics: &Metrics) {
        let ms = u64::try_from(now_millis() - at).unwrap_or(0);
        self.event_ms.store(ms, Ordering::Relaxed);
        let seconds = ms as f64 / 1000.0;
        metrics.event_lag.observe(seconds);
        metrics.event_lag_now.set(seconds);
    }

    /// Nothing is waiting to be delivered.
    pub fn caught_up(&self, metrics: &Metrics) {
        if self.event_ms.swap(0, Ordering::Relaxed) != 0 {
            metrics.event_lag_now.set(0.0);
        }
    }

    /// Samples the scheduling delay every [`PROBE_EVERY`] until `shutdown`.
    pub async fn probe_scheduling(&self, metrics: &Metrics, shutdown: &CancellationToken) {
        loop {
            let asked = Instant::now();
            tokio::select! {
                _ = tokio::time::sleep(PROBE_EVERY) => {}
                _ = shutdown.cancelled() => return,
            }
            let late = asked.elapsed().saturating_sub(PROBE_EVERY).as_secs_f64() * 1000.0;
            let before = self.scheduling_ms.load(Ordering::Relaxed) as f64;
            let average = before + PROBE_WEIGHT * (late - before);
            self.scheduling_ms
                .store(average.round() as u64, Ordering::Relaxed);
            metrics.scheduling_delay.set(average / 1000.0);
        }
    }
}
