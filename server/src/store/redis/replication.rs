//! `--redis-wait-replicas N`: a message is acknowledged only once N
//! replicas hold it, so an acknowledged message survives losing the primary.
//!
//! The append step stores an entry but holds back its `msg` (the sender's
//! acknowledgement and everyone's delivery); [`Replication::release`] then
//! waits until the replicas hold it, and `release.lua` announces the held
//! entries in seq order. Waiting is a group commit: one task per node
//! collects every append waiting at that moment and runs one `INCR` +
//! `WAIT` on a connection of its own (`WAIT` blocks the connection that
//! sends it, so the store's shared connection never waits), then one
//! `release.lua` for the whole batch. The `INCR`
//! is written after every waiting append, so once `WAIT` says N replicas
//! reached it they hold those appends too (the replication stream is one
//! ordered log). A `WAIT` that does not reach N replicas in time answers
//! every waiter `unavailable`: the outcome is unknown to the sender, who
//! resends with the same `id` (stored once; released when a later `WAIT`
//! succeeds).

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::library::{Function, Library};
use redis::aio::ConnectionManager;
use tokio::sync::{mpsc, oneshot};

use crate::domain::Millis;
use crate::metrics::Metrics;
use crate::store::{StoreError, StoreResult};

/// How long one `WAIT` may take before its waiters hear `unavailable`.
pub const REPLICA_WAIT_TIMEOUT: Duration = Duration::from_secs(1);

/// Appends waiting for replicas at once, at most (the node's admission
/// bounds them well below).
const WAITING: usize = 8192;

/// The connections one store uses: the shared one for every script, and,
/// with `--redis-wait-replicas`, one for `WAIT`.
pub struct Links {
    /// Every store call.
    pub main: ConnectionManager,
    /// `INCR` + `WAIT` only.
    pub barrier: Option<ConnectionManager>,
}

/// Where the store's connections are now (moved after a Sentinel failover).
pub type LinkCell = arc_swap::ArcSwap<Links>;

/// An append waiting for the replicas: its conversation and seq, and where
/// to answer.
struct Waiter {
    /// The time of the append that waits (the release runs at the latest).
    now: Millis,
    conversation: String,
    seq: u64,
    answer: oneshot::Sender<Result<(), String>>,
}

/// The node's replication barrier.
#[derive(Debug, Clone)]
pub struct Replication {
    waiting: mpsc::Sender<Waiter>,
}

impl Replication {
    /// Starts the barrier task: `replicas` must hold an entry before it is
    /// released; `counter` is the key the barrier writes. Ends when the
    /// store is dropped.
    pub fn start(
        replicas: u32,
        links: Weak<LinkCell>,
        prefix: Arc<str>,
        library: Arc<Library>,
        release: Function,
        metrics: Arc<Metrics>,
    ) -> Replication {
        let (waiting, rx) = mpsc::channel(WAITING);
        tokio::spawn(barrier_task(Barrier {
            replicas,
            links,
            counter: format!("{prefix}:replication"),
            prefix,
            library,
            release,
            metrics,
            rx,
        }));
        Replication { waiting }
    }

    /// Waits until `replicas` Redis replicas hold everything this node wrote
    /// before the call, then announces `conversation`'s held entries up to
    /// `seq`.
    pub async fn release(&self, conversation: &str, seq: u64, now: Millis) -> StoreResult<()> {
        let (answer, rx) = oneshot::channel();
        let closed = || StoreError::Unavailable("the replication barrier stopped".into());
        let waiter = Waiter {
            now,
            conversation: conversation.to_owned(),
            seq,
            answer,
        };
        self.waiting.send(waiter).await.map_err(|_| closed())?;
        rx.await
            .map_err(|_| closed())?
            .map_err(StoreError::Unavailable)
    }
}

struct Barrier {
    replicas: u32,
    links: Weak<LinkCell>,
    counter: String,
    prefix: Arc<str>,
    library: Arc<Library>,
    release: Function,
    metrics: Arc<Metrics>,
    rx: mpsc::Receiver<Waiter>,
}

async fn barrier_task(mut b: Barrier) {
    let mut batch = Vec::new();
    while b.rx.recv_many(&mut batch, WAITING).await > 0 {
        let outcome = match b.wait().await {
            Ok(()) => b.release(&batch).await,
            Err(e) => {
                b.metrics.replica_wait_failures.inc();
                tracing::warn!(error = %e, "messages not acknowledged: Redis replicas did not confirm them in time (senders resend)");
                Err(e)
            }
        };
        for waiter in batch.drain(..) {
            let _ = waiter.answer.send(outcome.clone());
        }
    }
}

impl Barrier {
    /// The connections now, unless the store is gone.
    fn links(&self) -> Result<Arc<Links>, String> {
        match self.links.upgrade() {
            Some(cell) => Ok(cell.load_full()),
            None => Err("the store is closing".into()),
        }
    }

    /// One `INCR` + `WAIT` round trip.
    async fn wait(&self) -> Result<(), String> {
        let Some(mut conn) = self.links()?.barrier.clone() else {
            return Err("no connection for WAIT".into());
        };
        let started = Instant::now();
        let (_, acked): (i64, i64) = redis::pipe()
            .cmd("INCR")
            .arg(&self.counter)
            .cmd("WAIT")
            .arg(self.replicas)
            .arg(REPLICA_WAIT_TIMEOUT.as_millis() as u64)
            .query_async(&mut conn)
            .await
            .map_err(|e| format!("Redis did not answer WAIT: {e}"))?;
        self.metrics
            .replica_wait
            .observe(started.elapsed().as_secs_f64());
        if acked >= i64::from(self.replicas) {
            Ok(())
        } else {
            Err(format!(
                "{acked} of {} Redis replicas confirmed within {} ms",
                self.replicas,
                REPLICA_WAIT_TIMEOUT.as_millis()
            ))
        }
    }

    /// Announces the held entries of the batch's conversations, each up to
    /// its seq, in one script.
    async fn release(&self, batch: &[Waiter]) -> Result<(), String> {
        let mut conn = self.links()?.main.clone();
        let now = batch.iter().map(|w| w.now).max().unwrap_or_default();
        let mut invocation = self.release.invocation(&self.prefix, now);
        for w in batch {
            invocation.arg(&w.conversation).arg(w.seq);
        }
        self.library
            .query::<(), _>(&mut conn, &invocation)
            .await
            .map_err(|e| format!("Redis did not release held messages: {e}"))
    }
}
