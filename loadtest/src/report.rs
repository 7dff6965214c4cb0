//! Figures of a run: the live [`Recorder`] the drivers write to, and the
//! final [`Report`] printed as a table and written as JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::accounting::Faults;
use crate::config::Scenario;

/// The latency measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// TCP connect + WebSocket upgrade + `welcome`.
    ConnectAuth,
    /// Cardholder's `start` sent → its `assigned` received.
    QueueWait,
    /// Pairing possible (start sent, and the agent had a free slot) → the
    /// agent's `assigned` received.
    Assignment,
    /// A message sent by one party → received by the other.
    Message,
}

const MEASURES: usize = 4;

impl Measure {
    fn index(self) -> usize {
        match self {
            Measure::ConnectAuth => 0,
            Measure::QueueWait => 1,
            Measure::Assignment => 2,
            Measure::Message => 3,
        }
    }
}

/// Largest latency recorded, in µs (an hour); longer ones are clamped.
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// Counters the drivers bump.
#[derive(Debug, Default)]
pub struct Counters {
    /// Connections tried (reconnects included).
    pub connect_attempts: AtomicU64,
    /// Connections that reached `welcome`.
    pub connected: AtomicU64,
    /// Connections open right now.
    pub open: AtomicU64,
    /// Most connections open at once.
    pub peak_open: AtomicU64,
    /// Reconnects done by the reconnect scenario.
    pub reconnects: AtomicU64,
    /// `start`s sent.
    pub conversations_started: AtomicU64,
    /// Conversations paired with an agent (seen by the agent).
    pub conversations_assigned: AtomicU64,
    /// Conversations that reached `ended` normally.
    pub conversations_completed: AtomicU64,
    /// Conversations turned into callbacks.
    pub conversations_escalated: AtomicU64,
    /// `say` frames sent (resends excluded).
    pub messages_sent: AtomicU64,
    /// Messages delivered to the other party.
    pub messages_relayed: AtomicU64,
    /// Conversations of cardholders not in this run (left over on the hub),
    /// ended at once and kept out of the books.
    pub foreign_conversations: AtomicU64,
    /// A conversation assigned to a second agent.
    pub double_assigned: AtomicU64,
    /// An agent given more than its `max_chats`.
    pub over_max_chats: AtomicU64,
    /// `say`s the hub refused with `busy` (never stored: not lost).
    pub says_refused_busy: AtomicU64,
    /// `start`s the hub refused with `busy` (tried again after a pause).
    pub starts_refused_busy: AtomicU64,
}

/// Where a run's figures accumulate while it runs; shared by every task.
#[derive(Debug)]
pub struct Recorder {
    /// Zero of every `sent_us` stamp.
    pub epoch: Instant,
    /// Counters.
    pub counters: Counters,
    /// Latencies in µs, one histogram per [`Measure`]. A std mutex: held for
    /// one `record`, never across an await.
    histograms: Mutex<Vec<Histogram<u64>>>,
    /// Errors by kind (`error:rate_limited`, `connect`, `timeout:assigned`, …).
    errors: Mutex<BTreeMap<String, u64>>,
    /// First send and last relay, µs since `epoch`, for throughput.
    window: Mutex<(Option<u64>, u64)>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

impl Recorder {
    /// A fresh recorder whose epoch is now.
    pub fn new() -> Recorder {
        let histograms = (0..MEASURES)
            .map(|_| {
                Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                    .unwrap_or_else(|e| unreachable!("constant bounds are valid: {e}"))
            })
            .collect();
        Recorder {
            epoch: Instant::now(),
            counters: Counters::default(),
            histograms: Mutex::new(histograms),
            errors: Mutex::new(BTreeMap::new()),
            window: Mutex::new((None, 0)),
        }
    }

    /// Microseconds since the epoch.
    pub fn now_us(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// Records one latency.
    pub fn record(&self, measure: Measure, d: Duration) {
        let us = u64::try_from(d.as_micros())
            .unwrap_or(u64::MAX)
            .clamp(1, MAX_LATENCY_US);
        if let Ok(mut h) = self.histograms.lock() {
            let _ = h[measure.index()].record(us);
        }
    }

    /// Counts one error of a kind.
    pub fn error(&self, kind: impl Into<String>) {
        if let Ok(mut e) = self.errors.lock() {
            *e.entry(kind.into()).or_default() += 1;
        }
    }

    /// Total errors so far.
    pub fn error_count(&self) -> u64 {
        self.errors.lock().map(|e| e.values().sum()).unwrap_or(0)
    }

    /// A message was sent at `us`.
    pub fn sent_at(&self, us: u64) {
        self.counters.messages_sent.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut w) = self.window.lock() {
            if w.0.is_none() {
                w.0 = Some(us);
            }
        }
    }

    /// A message sent at `sent_us` reached the other party now.
    pub fn relayed(&self, sent_us: u64) {
        let now = self.now_us();
        self.counters
            .messages_relayed
            .fetch_add(1, Ordering::Relaxed);
        self.record(
            Measure::Message,
            Duration::from_micros(now.saturating_sub(sent_us)),
        );
        if let Ok(mut w) = self.window.lock() {
            w.1 = w.1.max(now);
        }
    }

    /// A connection opened.
    pub fn opened(&self) {
        let c = &self.counters;
        c.connected.fetch_add(1, Ordering::Relaxed);
        let open = c.open.fetch_add(1, Ordering::Relaxed) + 1;
        c.peak_open.fetch_max(open, Ordering::Relaxed);
    }

    /// A connection closed.
    pub fn closed(&self) {
        self.counters.open.fetch_sub(1, Ordering::Relaxed);
    }

    /// Builds the report.
    pub fn report(
        &self,
        target: &str,
        scenario: Scenario,
        faults: Faults,
        elapsed: Duration,
    ) -> Report {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let latency_ms = match self.histograms.lock() {
            Ok(h) => LatencyMs {
                connect_auth: Percentiles::of(&h[0]),
                queue_wait: Percentiles::of(&h[1]),
                assignment: Percentiles::of(&h[2]),
                message: Percentiles::of(&h[3]),
            },
            Err(_) => LatencyMs::default(),
        };
        let error_kinds = self.errors.lock().map(|e| e.clone()).unwrap_or_default();
        let errors: u64 = error_kinds.values().sum();
        let relayed = get(&c.messages_relayed);
        let window_s = match self.window.lock() {
            Ok(w) => {
                w.0.map(|first| w.1.saturating_sub(first) as f64 / 1e6)
                    .unwrap_or(0.0)
            }
            Err(_) => 0.0,
        };
        let throughput = if window_s > 0.0 {
            relayed as f64 / window_s
        } else {
            0.0
        };
        Report {
            target: target.to_owned(),
            scenario,
            elapsed_s: elapsed.as_secs_f64(),
            connections: get(&c.connected),
            connect_attempts: get(&c.connect_attempts),
            peak_connections: get(&c.peak_open),
            reconnects: get(&c.reconnects),
            conversations: get(&c.conversations_started),
            conversations_assigned: get(&c.conversations_assigned),
            conversations_completed: get(&c.conversations_completed),
            conversations_escalated: get(&c.conversations_escalated),
            foreign_conversations: get(&c.foreign_conversations),
            messages_sent: get(&c.messages_sent),
            messages: relayed,
            errors,
            error_kinds,
            lost: faults.lost,
            duplicated: faults.duplicated,
            reordered: faults.reordered,
            seq_gaps: faults.seq_gaps,
            double_assigned: get(&c.double_assigned),
            over_max_chats: get(&c.over_max_chats),
            refused_busy: get(&c.says_refused_busy),
            starts_refused_busy: get(&c.starts_refused_busy),
            offered_msgs_per_s: None,
            throughput_msgs_per_s: throughput,
            latency_ms,
            drain_s: None,
            idle: None,
            overload: None,
            baseline: None,
            ratio_to_baseline: None,
        }
    }
}

/// p50/p90/p99/max of one measure, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Percentiles {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

impl Percentiles {
    fn of(h: &Histogram<u64>) -> Percentiles {
        if h.is_empty() {
            return Percentiles::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Percentiles {
            count: h.len(),
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
        }
    }
}

/// Latency percentiles per measure.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct LatencyMs {
    /// Connect + upgrade + `welcome`.
    pub connect_auth: Percentiles,
    /// `start` → cardholder's `assigned`.
    pub queue_wait: Percentiles,
    /// Pairing possible → agent's `assigned`.
    pub assignment: Percentiles,
    /// Sender → other party.
    pub message: Percentiles,
}

/// Memory figures of the idle scenario.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IdleFigures {
    /// Connections held when measured.
    pub connections: u64,
    /// Resident memory before connecting, bytes.
    pub rss_before_bytes: u64,
    /// Resident memory with every connection held, bytes.
    pub rss_after_bytes: u64,
    /// `(after - before) / connections`.
    pub bytes_per_connection: f64,
    /// Where the RSS came from.
    pub source: String,
}

/// Memory figures of the overload scenario: the hubs' RSS (summed) from
/// `/metrics`, before the run, at its highest, and after it.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct OverloadFigures {
    /// Before any connection, bytes.
    pub rss_before_bytes: u64,
    /// Highest sample during the run (every 250 ms), bytes.
    pub rss_peak_bytes: u64,
    /// When the run ended, bytes.
    pub rss_after_bytes: u64,
}

/// Hub figures divided by the bare stack's (same run, same pattern).
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Ratios {
    /// Hub throughput / baseline throughput (higher is better; target ≥ 0.5).
    pub throughput: f64,
    /// Hub message p50 / baseline message p50.
    pub message_p50: f64,
    /// Hub message p99 / baseline message p99.
    pub message_p99: f64,
    /// Hub connect+auth p50 / baseline.
    pub connect_auth_p50: f64,
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    /// `hub` (with the URLs) or `baseline`.
    pub target: String,
    /// The pattern.
    pub scenario: Scenario,
    /// Wall time of the run.
    pub elapsed_s: f64,
    /// Connections that reached `welcome`.
    pub connections: u64,
    /// Connections tried.
    pub connect_attempts: u64,
    /// Most connections open at once.
    pub peak_connections: u64,
    /// Drop-and-resume cycles.
    pub reconnects: u64,
    /// Conversations started.
    pub conversations: u64,
    /// Conversations assigned to an agent.
    pub conversations_assigned: u64,
    /// Conversations ended by their agent.
    pub conversations_completed: u64,
    /// Conversations escalated to a callback.
    pub conversations_escalated: u64,
    /// Left-over conversations from earlier runs that agents were given.
    pub foreign_conversations: u64,
    /// Messages sent.
    pub messages_sent: u64,
    /// Messages delivered to the other party.
    pub messages: u64,
    /// Protocol and connection errors (see `error_kinds`).
    pub errors: u64,
    /// Errors by kind.
    pub error_kinds: BTreeMap<String, u64>,
    /// Deliveries that never happened.
    pub lost: u64,
    /// Messages stored or delivered twice.
    pub duplicated: u64,
    /// Deliveries out of order.
    pub reordered: u64,
    /// Transcript numbers never received.
    pub seq_gaps: u64,
    /// Conversations assigned to two agents.
    pub double_assigned: u64,
    /// Assignments beyond an agent's `max_chats`.
    pub over_max_chats: u64,
    /// `say`s refused with `busy` (not stored, so not lost; not errors).
    pub refused_busy: u64,
    /// `start`s refused with `busy`.
    pub starts_refused_busy: u64,
    /// The `--rate` offered, when paced.
    pub offered_msgs_per_s: Option<f64>,
    /// Messages relayed per second between the first send and the last delivery.
    pub throughput_msgs_per_s: f64,
    /// Latency percentiles.
    pub latency_ms: LatencyMs,
    /// Burst: first `start` → last assignment, seconds.
    pub drain_s: Option<f64>,
    /// Idle: memory per connection.
    pub idle: Option<IdleFigures>,
    /// Overload: the hubs' memory through the run.
    pub overload: Option<OverloadFigures>,
    /// The bare stack measured in the same run.
    pub baseline: Option<Box<Report>>,
    /// Hub / baseline.
    pub ratio_to_baseline: Option<Ratios>,
}

/// A table row of a count: its label and how to read it.
type CountRow = (&'static str, fn(&Report) -> u64);
/// A table block of a latency measure: its label and how to read it.
type MeasureRow = (&'static str, fn(&LatencyMs) -> Percentiles);

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}

impl Report {
    /// Whether anything went wrong (the exit status says so).
    pub fn failed(&self) -> bool {
        let own = self.errors
            + self.lost
            + self.duplicated
            + self.reordered
            + self.seq_gaps
            + self.double_assigned
            + self.over_max_chats
            > 0;
        own || self.baseline.as_ref().is_some_and(|b| b.failed())
    }

    /// Attaches the baseline and computes the ratios.
    pub fn with_baseline(mut self, base: Report) -> Report {
        self.ratio_to_baseline = Some(Ratios {
            throughput: ratio(self.throughput_msgs_per_s, base.throughput_msgs_per_s),
            message_p50: ratio(self.latency_ms.message.p50, base.latency_ms.message.p50),
            message_p99: ratio(self.latency_ms.message.p99, base.latency_ms.message.p99),
            connect_auth_p50: ratio(
                self.latency_ms.connect_auth.p50,
                base.latency_ms.connect_auth.p50,
            ),
        });
        self.baseline = Some(Box::new(base));
        self
    }

    /// The summary table.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = self.write_table(&mut s);
        s
    }

    fn write_table(&self, s: &mut String) -> std::fmt::Result {
        let base = self.baseline.as_deref();
        let head = |s: &mut String| -> std::fmt::Result {
            match base {
                Some(_) => writeln!(
                    s,
                    "{:<26} {:>14} {:>14} {:>8}",
                    "", "hub", "baseline", "ratio"
                ),
                None => writeln!(s, "{:<26} {:>14}", "", self.target),
            }
        };
        let row =
            |s: &mut String, name: &str, v: f64, b: Option<f64>, prec: usize| -> std::fmt::Result {
                match b {
                    Some(b) => writeln!(
                        s,
                        "{name:<26} {v:>14.prec$} {b:>14.prec$} {:>8.2}",
                        ratio(v, b)
                    ),
                    None => writeln!(s, "{name:<26} {v:>14.prec$}"),
                }
            };
        writeln!(
            s,
            "switchboard-loadtest — scenario {:?}, target {}",
            self.scenario, self.target
        )?;
        head(s)?;
        let counts: [CountRow; 17] = [
            ("connections", |r| r.connections),
            ("peak connections", |r| r.peak_connections),
            ("reconnects", |r| r.reconnects),
            ("conversations", |r| r.conversations),
            ("  assigned", |r| r.conversations_assigned),
            ("  completed", |r| r.conversations_completed),
            ("  escalated", |r| r.conversations_escalated),
            ("  left over, ended", |r| r.foreign_conversations),
            ("messages sent", |r| r.messages_sent),
            ("messages relayed", |r| r.messages),
            ("errors", |r| r.errors),
            ("refused busy: says", |r| r.refused_busy),
            ("refused busy: starts", |r| r.starts_refused_busy),
            ("lost", |r| r.lost),
            ("duplicated", |r| r.duplicated),
            ("reordered / seq gaps", |r| r.reordered + r.seq_gaps),
            ("double assign / over max", |r| {
                r.double_assigned + r.over_max_chats
            }),
        ];
        for (name, f) in counts {
            row(s, name, f(self) as f64, base.map(|b| f(b) as f64), 0)?;
        }
        row(
            s,
            "throughput msgs/s",
            self.throughput_msgs_per_s,
            base.map(|b| b.throughput_msgs_per_s),
            1,
        )?;
        let measures: [MeasureRow; 4] = [
            ("connect+auth", |l| l.connect_auth),
            ("queue wait", |l| l.queue_wait),
            ("assignment", |l| l.assignment),
            ("message", |l| l.message),
        ];
        for (name, f) in measures {
            let p = f(&self.latency_ms);
            let bp = base.map(|b| f(&b.latency_ms));
            for (q, v, bv) in [
                ("p50", p.p50, bp.map(|b| b.p50)),
                ("p90", p.p90, bp.map(|b| b.p90)),
                ("p99", p.p99, bp.map(|b| b.p99)),
                ("max", p.max, bp.map(|b| b.max)),
            ] {
                row(s, &format!("{name} {q} ms"), v, bv, 2)?;
            }
        }
        if let Some(d) = self.drain_s {
            row(s, "drain s", d, base.and_then(|b| b.drain_s), 3)?;
        }
        if let Some(i) = &self.idle {
            writeln!(
                s,
                "idle: {} connections, RSS {} → {} bytes, {:.0} bytes/connection ({})",
                i.connections,
                i.rss_before_bytes,
                i.rss_after_bytes,
                i.bytes_per_connection,
                i.source
            )?;
        }
        if let Some(o) = &self.overload {
            let mb = |b: u64| b as f64 / (1 << 20) as f64;
            writeln!(
                s,
                "overload: hub RSS {:.1} MB before, {:.1} MB peak, {:.1} MB after (growth {:+.1} MB)",
                mb(o.rss_before_bytes),
                mb(o.rss_peak_bytes),
                mb(o.rss_after_bytes),
                mb(o.rss_peak_bytes) - mb(o.rss_before_bytes)
            )?;
        }
        for (kind, n) in &self.error_kinds {
            writeln!(s, "  error {kind}: {n}")?;
        }
        if let Some(b) = base {
            for (kind, n) in &b.error_kinds {
                writeln!(s, "  baseline error {kind}: {n}")?;
            }
        }
        writeln!(
            s,
            "elapsed {:.1} s — {}",
            self.elapsed_s,
            if self.failed() { "FAILED" } else { "ok" }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_fails_on_any_fault_and_keys_are_stable() {
        let rec = Recorder::new();
        rec.record(Measure::Message, Duration::from_millis(3));
        let r = rec.report(
            "baseline",
            Scenario::Steady,
            Faults::default(),
            Duration::from_secs(1),
        );
        assert!(!r.failed());
        let v = serde_json::to_value(&r).expect("json");
        for key in [
            "lost",
            "duplicated",
            "errors",
            "throughput_msgs_per_s",
            "latency_ms",
        ] {
            assert!(v.get(key).is_some(), "{key}");
        }
        assert!(v["latency_ms"]["message"]["p99"].as_f64().expect("p99") >= 2.9);
        let lost = rec.report(
            "hub",
            Scenario::Steady,
            Faults {
                lost: 1,
                ..Faults::default()
            },
            Duration::ZERO,
        );
        assert!(lost.failed());
        assert!(lost.with_baseline(r).table().contains("ratio"));
    }
}
