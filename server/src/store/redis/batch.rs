//! Messages from many connections stored in one Redis step
//! (`append_batch.lua`): group commit for appends.
//!
//! Each message is the same append either way (`append_batch.lua` runs
//! `append.lua`'s step once per message, in the order given). What a batch
//! saves is the cost per call on both sides: Redis parses, dispatches and
//! answers one `FCALL` and publishes one message per node for the whole
//! batch (the library's `flush`), and the hub sends one command and reads
//! one reply and one pub/sub message.
//!
//! While fewer than [`IN_FLIGHT`] messages are being stored, a message goes
//! straight from its connection's task as a batch of one (no hop through
//! the batcher task: below saturation that hop, a task wake-up often on
//! the other thread, costs more than the batch would save). Past that, the
//! batcher task takes every append waiting when it wakes (up to
//! [`MAX_BATCH`]) and keeps at most [`IN_FLIGHT`] batches out at once;
//! under load, appends gather while the batches in flight are out, and the
//! next batch is larger.
//! Ordering is unchanged: a connection sends one append at a time, and
//! Redis runs batches, like calls, one after the other.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::{mpsc, oneshot};

use super::library::{Function, Library};
use super::replication::LinkCell;
use crate::domain::Millis;
use crate::store::{StoreError, StoreResult};

/// Most appends in one batch (one step blocks Redis for ~15 µs per append).
const MAX_BATCH: usize = 128;

/// Most batches out at once, and the most messages stored one by one
/// straight from their connections before they wait for a batch.
const IN_FLIGHT: usize = 16;

/// Appends waiting for a batch; more wait on the channel (admission bounds
/// how many there can be).
const QUEUED: usize = 4096;

/// An append waiting: its arguments (as `append.lua` takes them from its
/// time on) and where its reply goes.
struct Job {
    /// The time of the append (the batch runs at its latest append's).
    now: Millis,
    args: Vec<String>,
    reply: oneshot::Sender<StoreResult<String>>,
}

/// Hands appends to the batcher task; cheap to clone. The task ends when
/// every handle is dropped.
#[derive(Clone)]
pub(super) struct Batcher {
    tx: mpsc::Sender<Job>,
    shared: Arc<Shared>,
    /// Appends being stored now, either way.
    outstanding: Arc<AtomicUsize>,
}

/// Counts an append as outstanding until it is answered or given up.
struct Outstanding<'a>(&'a AtomicUsize);

impl Drop for Outstanding<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Batcher {
    /// Starts the batcher task, calling `step` (`append_batch`) of `library`
    /// on the store's connection.
    pub(super) fn start(
        links: Weak<LinkCell>,
        library: Arc<Library>,
        step: Function,
        prefix: Arc<str>,
    ) -> Batcher {
        let (tx, rx) = mpsc::channel(QUEUED);
        let shared = Arc::new(Shared {
            links,
            library,
            step,
            prefix,
        });
        tokio::spawn(run(rx, shared.clone()));
        Batcher {
            tx,
            shared,
            outstanding: Arc::default(),
        }
    }

    /// Stores one append (`args` from its time on): alone at once while
    /// fewer than [`IN_FLIGHT`] are being stored, otherwise in the next
    /// batch; `append.lua`'s reply.
    pub(super) async fn append(&self, now: Millis, args: Vec<String>) -> StoreResult<String> {
        let direct = self.outstanding.fetch_add(1, Ordering::AcqRel) < IN_FLIGHT;
        let _counted = Outstanding(&self.outstanding);
        let (reply, answer) = oneshot::channel();
        let job = Job { now, args, reply };
        if direct {
            self.shared.call(vec![job]).await;
        } else {
            self.tx.send(job).await.map_err(|_| stopped())?;
        }
        answer.await.map_err(|_| stopped())?
    }
}

/// What every batch's call needs.
struct Shared {
    links: Weak<LinkCell>,
    library: Arc<Library>,
    step: Function,
    prefix: Arc<str>,
}

/// The store is gone (the node is stopping).
fn stopped() -> StoreError {
    StoreError::Unavailable("the append batcher has stopped".into())
}

async fn run(mut rx: mpsc::Receiver<Job>, shared: Arc<Shared>) {
    // The batches out, driven by this task (no task spawned per batch).
    let mut in_flight = FuturesUnordered::new();
    loop {
        tokio::select! {
            job = rx.recv(), if in_flight.len() < IN_FLIGHT => {
                let Some(first) = job else { break };
                let mut jobs = vec![first];
                while jobs.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(job) => jobs.push(job),
                        Err(_) => break,
                    }
                }
                let shared = shared.clone();
                in_flight.push(async move { shared.call(jobs).await });
            }
            Some(()) = in_flight.next(), if !in_flight.is_empty() => {}
        }
    }
    while in_flight.next().await.is_some() {}
}

impl Shared {
    /// Runs one batch and answers each of its appends.
    async fn call(&self, mut jobs: Vec<Job>) {
        let Some(links) = self.links.upgrade() else {
            return;
        };
        let mut conn = links.load().main.clone();
        let now = jobs.iter().map(|j| j.now).max().unwrap_or_default();
        let mut invocation = self.step.invocation(&self.prefix, now);
        for job in &mut jobs {
            invocation.arg(job.args.len());
            for arg in std::mem::take(&mut job.args) {
                invocation.arg(arg);
            }
        }
        let result: redis::RedisResult<Vec<String>> =
            self.library.query(&mut conn, &invocation).await;
        match result {
            Ok(replies) if replies.len() == jobs.len() => {
                for (job, reply) in jobs.into_iter().zip(replies) {
                    let _ = job.reply.send(Ok(reply));
                }
            }
            Ok(replies) => {
                let why = format!(
                    "Redis answered {} of a batch of {} messages",
                    replies.len(),
                    jobs.len()
                );
                answer_all(jobs, &why);
            }
            Err(e) => answer_all(jobs, &e.to_string()),
        }
    }
}

/// Fails every append of a batch with the same reason.
fn answer_all(jobs: Vec<Job>, why: &str) {
    for job in jobs {
        let _ = job.reply.send(Err(StoreError::Unavailable(why.to_owned())));
    }
}
