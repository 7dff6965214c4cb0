//! The archiver: one task per node (with `--archive-url`) that moves ended
//! conversations and closed callback requests from the Redis archive
//! stream into PostgreSQL, and the retention purge. It sits above both the
//! store and the archive, which know nothing of each other's engines.
//!
//! Each round takes a batch ([`RedisStore::take_handovers`]: this node's
//! own pending entries, then a dead node's idle ones, then new ones),
//! writes each record in one transaction (idempotent), then hands the
//! committed ones back ([`RedisStore::handed_over`]: their keys expire
//! after `--hot-retention`, their entries are acknowledged and deleted).
//! An entry whose write failed stays pending for this node and is retried
//! with backoff; nothing is acknowledged before its commit, so PostgreSQL
//! being down only grows the backlog.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use futures_util::stream::{self, StreamExt};

use crate::archive::postgres::{PgArchive, POOL_SIZE};
use crate::archive::{retention_cutoff, Archive};
use crate::domain::{now_millis, Millis};
use crate::metrics::Metrics;
use crate::store::redis::handover::{Handed, Handover};
use crate::store::redis::RedisStore;

/// Stream entries one round takes at most.
pub const BATCH: usize = 50;

/// How long the archiver waits when the stream had nothing for it.
const IDLE_POLL: Duration = Duration::from_millis(250);

/// First and longest pause after a failed round.
const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// How often the retention purge runs.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// A backlog this large (records not archived yet, each a few KB of Redis
/// memory) makes the node not ready: Redis memory is at stake.
pub const BACKLOG_LIMIT: u64 = 500_000;

/// Where the archive stands, for `/readyz`.
#[derive(Debug, Default)]
pub struct ArchiveHealth {
    backlog: AtomicU64,
    oldest_ms: AtomicI64,
    failing: AtomicBool,
    last_error: Mutex<Option<String>>,
}

/// A snapshot of [`ArchiveHealth`].
#[derive(Debug, Clone, PartialEq)]
pub struct ArchiveState {
    /// Records not archived yet.
    pub backlog: u64,
    /// Seconds since the oldest of them was handed over.
    pub lag_s: f64,
    /// Whether the last write failed.
    pub failing: bool,
    /// What went wrong last, while failing.
    pub last_error: Option<String>,
}

impl ArchiveHealth {
    /// Where the archive stands at `now`.
    pub fn state(&self, now: Millis) -> ArchiveState {
        let oldest = self.oldest_ms.load(Ordering::Relaxed);
        let failing = self.failing.load(Ordering::Relaxed);
        ArchiveState {
            backlog: self.backlog.load(Ordering::Relaxed),
            lag_s: if oldest > 0 {
                (now - oldest).max(0) as f64 / 1000.0
            } else {
                0.0
            },
            failing,
            last_error: if failing {
                self.last_error
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone()
            } else {
                None
            },
        }
    }

    fn failed(&self, why: String) {
        self.failing.store(true, Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(why);
    }
}

/// The archiver of one node.
#[derive(Debug, Clone)]
pub struct Archiver {
    store: RedisStore,
    archive: PgArchive,
    metrics: Arc<Metrics>,
    health: Arc<ArchiveHealth>,
    claim_idle_ms: Millis,
}

impl Archiver {
    /// An archiver moving `store`'s archive stream into `archive`.
    pub fn new(
        store: RedisStore,
        archive: PgArchive,
        metrics: Arc<Metrics>,
        claim_idle: Duration,
    ) -> Self {
        Archiver {
            store,
            archive,
            metrics,
            health: Arc::default(),
            claim_idle_ms: Millis::try_from(claim_idle.as_millis()).unwrap_or(Millis::MAX),
        }
    }

    /// Where the archive stands (shared with `/readyz`).
    pub fn health(&self) -> Arc<ArchiveHealth> {
        self.health.clone()
    }

    /// Runs until `shutdown`: migrations (retried until they succeed), then
    /// rounds of archiving.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut backoff = BACKOFF_MIN;
        // Migrating again is one cheap transaction that changes nothing.
        let mut migrated = false;
        loop {
            let pause = if !migrated {
                match self.archive.migrate().await {
                    Ok(()) => {
                        migrated = true;
                        Duration::ZERO
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "archive not reachable; archiving waits");
                        self.health.failed(e.to_string());
                        self.refresh_backlog().await;
                        next_backoff(&mut backoff)
                    }
                }
            } else {
                match self.round().await {
                    Ok(archived) => {
                        backoff = BACKOFF_MIN;
                        self.health.failing.store(false, Ordering::Relaxed);
                        if archived == 0 {
                            IDLE_POLL
                        } else {
                            Duration::ZERO
                        }
                    }
                    Err(why) => {
                        self.health.failed(why);
                        next_backoff(&mut backoff)
                    }
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// One round: take a batch, archive it, hand the committed ones back.
    /// Returns how many were archived, or why the round stopped.
    pub async fn round(&self) -> Result<usize, String> {
        let batch = self
            .store
            .take_handovers(BATCH, self.claim_idle_ms, now_millis())
            .await
            .map_err(|e| format!("reading the archive stream: {}", e.detail()))?;
        self.show(batch.backlog, batch.oldest_ms());
        let Some((first, others)) = batch.items.split_first() else {
            return Ok(0);
        };
        // The first alone: while the archive is down a round costs one
        // attempt, not one per record.
        let mut results = vec![(first, self.commit(first).await)];
        if results[0].1.is_ok() {
            // The rest are independent: written side by side, a connection each.
            let written: Vec<(usize, Result<(), String>)> = stream::iter(0..others.len())
                .map(|i| self.commit_nth(others, i))
                .buffer_unordered(POOL_SIZE)
                .collect()
                .await;
            results.extend(
                written
                    .into_iter()
                    .filter_map(|(i, r)| Some((others.get(i)?, r))),
            );
        }
        let mut done: Vec<&Handover> = Vec::with_capacity(results.len());
        let mut failure = None;
        for (h, result) in results {
            match result {
                Ok(()) => done.push(h),
                Err(why) => {
                    self.metrics.archive_failures.inc();
                    tracing::warn!(record = %h.describe(), error = %why, "archiving failed; retrying later");
                    failure = Some(why);
                }
            }
        }
        self.store
            .handed_over(&done, now_millis())
            .await
            .map_err(|e| format!("acknowledging archived records: {}", e.detail()))?;
        match failure {
            Some(why) => Err(why),
            None => Ok(done.len()),
        }
    }

    /// [`Archiver::commit`] of `items[i]`, with its index.
    async fn commit_nth(&self, items: &[Handover], i: usize) -> (usize, Result<(), String>) {
        let result = match items.get(i) {
            Some(h) => self.commit(h).await,
            None => Ok(()),
        };
        (i, result)
    }

    /// Writes one stream entry's record to the archive (idempotent). This
    /// is the step after which a crash leaves the entry pending: the node
    /// that takes it over writes it again, which changes nothing.
    pub async fn commit(&self, h: &Handover) -> Result<(), String> {
        let handed = match h.decode() {
            Ok(handed) => handed,
            Err(e) => {
                // Retrying cannot help a record that does not decode, and
                // keeping it pending would hold up every record behind it:
                // it is let go (it expires like an unarchived one), loudly.
                self.metrics.archive_failures.inc();
                tracing::error!(record = %h.describe(), error = %e.detail(), "a record in Redis cannot be read; it is not archived");
                return Ok(());
            }
        };
        match handed {
            Handed::Conversation(c) => {
                self.archive
                    .put_conversation(&c)
                    .await
                    .map_err(|e| e.to_string())?;
                self.metrics.archived_one("conversation");
            }
            Handed::Callback(r) => {
                self.archive
                    .put_callback(&r)
                    .await
                    .map_err(|e| e.to_string())?;
                self.metrics.archived_one("callback");
            }
            Handed::Audit(key, entry) => {
                self.archive
                    .put_audit(&key, &entry)
                    .await
                    .map_err(|e| e.to_string())?;
                self.metrics.archived_one("audit");
            }
            Handed::Gone => {
                tracing::warn!(record = %h.describe(), "nothing left in Redis to archive (Redis lost its data?)");
            }
        }
        Ok(())
    }

    /// Publishes the backlog without archiving (while the archive is down
    /// the stream may still be read).
    async fn refresh_backlog(&self) {
        // Taking entries makes them pending for this node, which is what
        // happens anyway once the archive is back; nothing is acknowledged.
        if let Ok(batch) = self
            .store
            .take_handovers(1, self.claim_idle_ms, now_millis())
            .await
        {
            self.show(batch.backlog, batch.oldest_ms());
        }
    }

    fn show(&self, backlog: u64, oldest: Option<Millis>) {
        self.health.backlog.store(backlog, Ordering::Relaxed);
        self.health
            .oldest_ms
            .store(oldest.unwrap_or(0), Ordering::Relaxed);
        self.metrics
            .archive_backlog
            .set(i64::try_from(backlog).unwrap_or(i64::MAX));
        let lag = oldest.map_or(0.0, |t| (now_millis() - t).max(0) as f64 / 1000.0);
        self.metrics.archive_lag.set(lag);
    }
}

fn next_backoff(backoff: &mut Duration) -> Duration {
    let now = *backoff;
    *backoff = (*backoff * 2).min(BACKOFF_MAX);
    now
}

/// Deletes archived records older than the retention, every hour, until
/// `shutdown`. Several nodes may run it at once (see [`Archive::purge`]).
pub async fn purge_periodically(
    archive: Arc<dyn Archive>,
    retention_days: u64,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    let mut every = tokio::time::interval(PURGE_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = every.tick() => {}
        }
        match archive
            .purge(retention_cutoff(now_millis(), retention_days))
            .await
        {
            Ok(0) => {}
            Ok(n) => {
                metrics.archive_purged.inc_by(n);
                tracing::info!(purged = n, "archived records past the retention purged");
            }
            Err(e) => tracing::warn!(error = %e, "archive purge failed; trying again later"),
        }
    }
}
