//! Prometheus metrics, served as text at `GET /metrics`.
//!
//! [`Metrics`] is a cheap handle on one registry. Queue gauges are refreshed
//! by the hub's one-second ticker, process RSS at scrape time.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::domain::{Author, Role, Tier};

/// Label set naming a role.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RoleLabel {
    /// `cardholder`, `agent` or `supervisor`.
    pub role: String,
}

/// Label set naming a tier.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct TierLabel {
    /// One of the four card tiers.
    pub tier: String,
}

/// Label set naming who wrote a message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct AuthorLabel {
    /// `cardholder`, `agent` or `system`.
    pub from: String,
}

/// Label set for callback and escalation counters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct DeskLabel {
    /// `identity` or `fraud`.
    pub desk: String,
    /// What happened (trigger, or outcome).
    pub what: String,
}

/// Label set naming a client frame type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct FrameLabel {
    /// `start` or `say`.
    pub frame: String,
}

/// Every metric the hub exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Open WebSocket connections by role.
    pub connections: Family<RoleLabel, Gauge>,
    /// Conversations waiting per tier.
    pub queue_depth: Family<TierLabel, Gauge>,
    /// Seconds the oldest queued conversation has waited, per tier.
    pub queue_oldest_wait: Family<TierLabel, Gauge<f64, AtomicU64>>,
    /// Queue waits at assignment, per tier.
    pub wait_seconds: Family<TierLabel, Histogram>,
    /// Secure-message threads waiting in each tier team's inbox.
    pub inbox_depth: Family<TierLabel, Gauge>,
    /// Seconds the oldest unanswered thread of each inbox has waited.
    pub inbox_oldest_wait: Family<TierLabel, Gauge<f64, AtomicU64>>,
    /// Time from a thread's opening to the agent's first reply, per card tier.
    pub message_first_reply: Family<TierLabel, Histogram>,
    /// Conversations paired with an agent.
    pub assignments: Counter,
    /// Transcript entries stored, by author.
    pub messages: Family<AuthorLabel, Counter>,
    /// Store calls that failed.
    pub store_errors: Counter,
    /// Escalations to a callback desk, by trigger.
    pub escalations: Family<DeskLabel, Counter>,
    /// Callback requests created, claimed and completed, by desk and outcome.
    pub callbacks: Family<DeskLabel, Counter>,
    /// Connections closed because the client read too slowly.
    pub slow_consumers: Counter,
    /// Delivery lag of each event (now − publish time), seconds.
    pub event_lag: Histogram,
    /// Delivery lag now (0 once nothing is left to deliver), seconds.
    pub event_lag_now: Gauge<f64, AtomicU64>,
    /// How late a 50 ms timer fired last, seconds (tasks waiting for a core).
    pub scheduling_delay: Gauge<f64, AtomicU64>,
    /// Frames refused with `busy` because this node was behind, by frame.
    pub busy_refusals: Family<FrameLabel, Counter>,
    /// The adaptive admission limit: new `start`s and `say`s this node
    /// takes at once (set at scrape time).
    pub admission_limit: Gauge,
    /// New `start`s and `say`s admitted and not done (set at scrape time).
    pub work_in_flight: Gauge,
    /// How long messages waited for Redis replicas to hold them
    /// (`--redis-wait-replicas`), seconds: one observation per `WAIT`.
    pub replica_wait: Histogram,
    /// `WAIT`s that did not reach the replicas asked for in time (the
    /// senders were answered `unavailable` and resend).
    pub replica_wait_failures: Counter,
    /// Signing keys in force, for rotating key sources (0 when keys are given inline): a
    /// drop to an unexpected count shows a rotation at a glance.
    pub signing_keys: Gauge,
    /// Seconds since rotating signing keys were last loaded successfully, set at scrape time:
    /// an alert on it catches an issuer that has been unreachable for too long.
    pub signing_keys_age: Gauge<f64, AtomicU64>,
    /// Loads of rotating signing keys that failed (the last good keys stayed in force).
    pub signing_keys_refresh_failures: Counter,
    /// Tokens refused because no key held (even after a refresh) has their `kid`: a spike
    /// means a rotation the hub missed, or someone trying made-up keys.
    pub tokens_unknown_kid: Counter,
    /// Ended conversations and closed callback requests not archived yet
    /// (the archive stream's pending and unread entries).
    pub archive_backlog: Gauge,
    /// Seconds since the oldest entry not archived yet was handed over.
    pub archive_lag: Gauge<f64, AtomicU64>,
    /// Records written to the archive, by kind (`conversation`, `callback`).
    pub archived: Family<KindLabel, Counter>,
    /// Archive writes that failed (retried with backoff; nothing is lost).
    pub archive_failures: Counter,
    /// Archived records deleted by the retention purge.
    pub archive_purged: Counter,
    /// Notifications to the push service (`--notify-url`).
    pub notifications: NotifyMetrics,
    /// Cardholders' ratings of ended conversations, by score and card tier.
    pub ratings: Family<RatingLabel, Counter>,
}

/// Label set of a rating.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RatingLabel {
    /// 1–5.
    pub score: String,
    /// The cardholder's card tier.
    pub tier: String,
}

/// Label set naming what was archived.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct KindLabel {
    /// `conversation` or `callback`.
    pub kind: String,
}

fn wait_histogram() -> Histogram {
    Histogram::new([1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0])
}

/// Buckets for secure-message reply times: minutes to days.
fn reply_histogram() -> Histogram {
    Histogram::new([
        60.0, 600.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0, 172800.0,
    ])
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("switchboard");
        let connections = Family::<RoleLabel, Gauge>::default();
        registry.register(
            "connections",
            "Open WebSocket connections by role",
            connections.clone(),
        );
        let queue_depth = Family::<TierLabel, Gauge>::default();
        registry.register(
            "queue_depth",
            "Conversations waiting per tier",
            queue_depth.clone(),
        );
        let queue_oldest_wait = Family::<TierLabel, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "queue_oldest_wait_seconds",
            "Seconds the oldest queued conversation has waited, per tier",
            queue_oldest_wait.clone(),
        );
        let wait_seconds = Family::<TierLabel, Histogram>::new_with_constructor(
            wait_histogram as fn() -> Histogram,
        );
        registry.register(
            "queue_wait_seconds",
            "Queue wait at assignment",
            wait_seconds.clone(),
        );
        let inbox_depth = Family::<TierLabel, Gauge>::default();
        registry.register(
            "inbox_depth",
            "Secure-message threads waiting in a team's inbox, per tier",
            inbox_depth.clone(),
        );
        let inbox_oldest_wait = Family::<TierLabel, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "inbox_oldest_wait_seconds",
            "Seconds the oldest unanswered secure message of an inbox has waited, per tier",
            inbox_oldest_wait.clone(),
        );
        let message_first_reply = Family::<TierLabel, Histogram>::new_with_constructor(
            reply_histogram as fn() -> Histogram,
        );
        registry.register(
            "message_first_reply_seconds",
            "Time from a secure message to the agent's first reply, per card tier",
            message_first_reply.clone(),
        );
        let assignments = Counter::default();
        registry.register(
            "assignments",
            "Conversations paired with an agent",
            assignments.clone(),
        );
        let messages = Family::<AuthorLabel, Counter>::default();
        registry.register(
            "messages",
            "Transcript entries stored, by author",
            messages.clone(),
        );
        let store_errors = Counter::default();
        registry.register(
            "store_errors",
            "Store calls that failed",
            store_errors.clone(),
        );
        let ratings = Family::<RatingLabel, Counter>::default();
        registry.register(
            "ratings",
            "Cardholders' ratings of ended conversations, by score and card tier",
            ratings.clone(),
        );
        let escalations = Family::<DeskLabel, Counter>::default();
        registry.register(
            "escalations",
            "Chats turned into callback requests",
            escalations.clone(),
        );
        let callbacks = Family::<DeskLabel, Counter>::default();
        registry.register(
            "callbacks",
            "Callback request events by desk",
            callbacks.clone(),
        );
        let slow_consumers = Counter::default();
        registry.register(
            "slow_consumer_closes",
            "Connections closed because the client fell behind",
            slow_consumers.clone(),
        );
        let event_lag = Histogram::new([
            0.001, 0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0,
        ]);
        registry.register(
            "event_lag_seconds",
            "Delivery lag of each event this node delivered (now minus publish time)",
            event_lag.clone(),
        );
        let event_lag_now = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "event_lag_current_seconds",
            "Delivery lag now; 0 once nothing is left to deliver",
            event_lag_now.clone(),
        );
        let scheduling_delay = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "scheduling_delay_seconds",
            "How late a 50 ms timer fired last: how long tasks wait for a core",
            scheduling_delay.clone(),
        );
        let admission_limit = Gauge::default();
        registry.register(
            "admission_limit",
            "New starts and says this node takes at once: adapts so that they finish within a twentieth of --max-event-lag on average",
            admission_limit.clone(),
        );
        let work_in_flight = Gauge::default();
        registry.register(
            "work_in_flight",
            "New starts and says admitted and not done",
            work_in_flight.clone(),
        );
        let replica_wait =
            Histogram::new([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.25, 1.0]);
        registry.register(
            "replica_wait_seconds",
            "How long acknowledged messages waited for Redis replicas (--redis-wait-replicas), one observation per WAIT",
            replica_wait.clone(),
        );
        let replica_wait_failures = Counter::default();
        registry.register(
            "replica_wait_failures",
            "WAITs that did not reach the replicas asked for in time (senders answered unavailable)",
            replica_wait_failures.clone(),
        );
        let busy_refusals = Family::<FrameLabel, Counter>::default();
        registry.register(
            "busy_refusals",
            "Frames refused with busy because this node was behind, by frame",
            busy_refusals.clone(),
        );
        let signing_keys = Gauge::default();
        registry.register(
            "signing_keys",
            "Signing keys in force (rotating key sources)",
            signing_keys.clone(),
        );
        let signing_keys_age = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "signing_keys_age_seconds",
            "Seconds since the rotating signing keys were last loaded successfully",
            signing_keys_age.clone(),
        );
        let signing_keys_refresh_failures = Counter::default();
        registry.register(
            "signing_keys_refresh_failures",
            "Loads of rotating signing keys that failed; the last good keys stayed in force",
            signing_keys_refresh_failures.clone(),
        );
        let tokens_unknown_kid = Counter::default();
        registry.register(
            "tokens_refused_unknown_kid",
            "Tokens refused because no signing key has their kid",
            tokens_unknown_kid.clone(),
        );
        let archive_backlog = Gauge::default();
        registry.register(
            "archive_backlog",
            "Ended conversations and closed callback requests not archived yet",
            archive_backlog.clone(),
        );
        let archive_lag = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "archive_lag_seconds",
            "Seconds since the oldest record not archived yet was handed over",
            archive_lag.clone(),
        );
        let archived = Family::<KindLabel, Counter>::default();
        registry.register(
            "archived",
            "Records written to the archive, by kind",
            archived.clone(),
        );
        let archive_failures = Counter::default();
        registry.register(
            "archive_write_failures",
            "Archive writes that failed; retried with backoff, nothing is lost",
            archive_failures.clone(),
        );
        let archive_purged = Counter::default();
        registry.register(
            "archive_purged",
            "Archived records deleted by the retention purge",
            archive_purged.clone(),
        );
        let notifications = NotifyMetrics::register(&mut registry);
        for tier in Tier::ALL {
            queue_depth.get_or_create(&tier_label(*tier)).set(0);
        }
        for role in Role::ALL {
            connections.get_or_create(&role_label(*role)).set(0);
        }
        Arc::new(Metrics {
            registry,
            connections,
            queue_depth,
            queue_oldest_wait,
            wait_seconds,
            inbox_depth,
            inbox_oldest_wait,
            message_first_reply,
            assignments,
            messages,
            store_errors,
            escalations,
            callbacks,
            slow_consumers,
            event_lag,
            event_lag_now,
            scheduling_delay,
            busy_refusals,
            admission_limit,
            work_in_flight,
            replica_wait,
            replica_wait_failures,
            signing_keys,
            signing_keys_age,
            signing_keys_refresh_failures,
            tokens_unknown_kid,
            archive_backlog,
            archive_lag,
            archived,
            archive_failures,
            archive_purged,
            notifications,
            ratings,
        })
    }

    /// The exposition text, with process RSS appended.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode_registry(&mut out, &self.registry).is_err() {
            out.clear();
        }
        if let Some(rss) = resident_memory_bytes() {
            out.push_str("# HELP process_resident_memory_bytes Resident memory size in bytes.\n");
            out.push_str("# TYPE process_resident_memory_bytes gauge\n");
            out.push_str(&format!("process_resident_memory_bytes {rss}\n"));
        }
        out.push_str("# EOF\n");
        out
    }

    /// Counts one stored transcript entry.
    pub fn message(&self, from: Author) {
        self.messages
            .get_or_create(&AuthorLabel {
                from: from.as_str().to_owned(),
            })
            .inc();
    }

    /// Counts one archived record of `kind`.
    pub fn archived_one(&self, kind: &str) {
        self.archived
            .get_or_create(&KindLabel {
                kind: kind.to_owned(),
            })
            .inc();
    }
}

/// Label for a tier.
pub fn tier_label(tier: Tier) -> TierLabel {
    TierLabel {
        tier: tier.as_str().to_owned(),
    }
}

/// Label for a role.
pub fn role_label(role: Role) -> RoleLabel {
    RoleLabel {
        role: role.as_str().to_owned(),
    }
}

/// The process's resident set size, from `/proc/self/statm` (Linux).
pub fn resident_memory_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// The notification metrics (`switchboard_notifications_*`).
#[derive(Debug, Default)]
pub struct NotifyMetrics {
    /// Notifications queued (by this node's append steps).
    pub queued: Counter,
    /// Notifications the push service accepted.
    pub delivered: Counter,
    /// Attempts that failed (retried later).
    pub failed_attempts: Counter,
    /// Notifications dropped after failing for the whole give-up time.
    pub given_up: Counter,
    /// Notifications not delivered yet (all nodes).
    pub queue_depth: Gauge,
    /// Seconds since the oldest of them was queued.
    pub oldest_age: Gauge<f64, std::sync::atomic::AtomicU64>,
}

impl NotifyMetrics {
    /// Registers them.
    pub fn register(registry: &mut Registry) -> NotifyMetrics {
        let m = NotifyMetrics::default();
        registry.register(
            "notifications_queued",
            "Notifications queued for cardholders connected nowhere",
            m.queued.clone(),
        );
        registry.register(
            "notifications_delivered",
            "Notifications the push service accepted (2xx)",
            m.delivered.clone(),
        );
        registry.register(
            "notification_failed_attempts",
            "Notification attempts that failed and will be retried",
            m.failed_attempts.clone(),
        );
        registry.register(
            "notifications_given_up",
            "Notifications dropped after failing for the whole give-up time",
            m.given_up.clone(),
        );
        registry.register(
            "notification_queue_depth",
            "Notifications not delivered yet",
            m.queue_depth.clone(),
        );
        registry.register(
            "notification_oldest_age_seconds",
            "Seconds since the oldest notification not delivered yet was queued",
            m.oldest_age.clone(),
        );
        m
    }
}
