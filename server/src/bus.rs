//! Event delivery: to the connections of every node, through Redis pub/sub
//! or, for a single node, directly.
//!
//! An event is a serialised [`crate::protocol::ServerFrame`] and the users it
//! is for. [`Sessions`] holds, per user, the outbound queues of this node's
//! connections; delivering never waits on a client: a queue that is full
//! means that client fell behind, and it is closed (it reconnects and `sync`s).
//! Pub/sub is fire-and-forget, so a node that misses an event (Redis
//! restarting) leaves a gap that the client's `sync` fills from the stored
//! transcript: every `msg` is stored before (in the same script as) it is
//! published.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use dashmap::DashMap;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::domain::UserId;
use crate::metrics::Metrics;
use crate::store::redis::RedisStore;

/// Frames waiting to be written to one connection. 256 frames is minutes
/// of a busy chat for a human; a client this far behind is stuck, so it is
/// closed rather than allowed to hold memory or slow anyone else.
pub const OUTBOUND_QUEUE: usize = 256;

/// Events waiting to be published to other nodes. When Redis is slow the
/// senders wait here (backpressure) rather than growing memory.
pub const PUBLISH_QUEUE: usize = 8192;

/// How long start-up waits for the event subscription.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Most events published in one pipelined round trip.
const PUBLISH_BATCH: usize = 256;

/// What a connection task is asked to write.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// A serialised frame, shared by every recipient.
    Frame(Utf8Bytes),
}

/// One connection's entry in [`Sessions`].
#[derive(Debug, Clone)]
pub struct Session {
    /// Connection id, unique within this node.
    pub conn: u64,
    /// Its outbound queue.
    pub tx: mpsc::Sender<Outbound>,
    /// Cancelled when the connection must close because it fell behind.
    pub kick: CancellationToken,
}

/// This node's connections, by user (a user may have several: app and web).
#[derive(Debug, Default)]
pub struct Sessions {
    by_user: DashMap<UserId, Vec<Session>>,
    next_conn: AtomicU64,
    /// Cancelled (and replaced) when this node may have missed events:
    /// every connection open at that moment is asked to reconnect and `sync`.
    resync: std::sync::Mutex<CancellationToken>,
}

impl Sessions {
    /// The token a new connection watches for [`Sessions::resync_all`].
    pub fn resync_token(&self) -> CancellationToken {
        self.resync
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Asks every connection open now to reconnect and `sync` (the node's
    /// event subscription was interrupted, so they may have missed events).
    pub fn resync_all(&self) {
        let old = std::mem::take(&mut *self.resync.lock().unwrap_or_else(|p| p.into_inner()));
        old.cancel();
    }

    /// A fresh connection id.
    pub fn next_conn_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Adds a connection of `user`.
    pub fn add(&self, user: &UserId, session: Session) {
        self.by_user.entry(user.clone()).or_default().push(session);
    }

    /// Removes a connection of `user`.
    pub fn remove(&self, user: &UserId, conn: u64) {
        let now_empty = match self.by_user.get_mut(user) {
            Some(mut list) => {
                list.retain(|s| s.conn != conn);
                list.is_empty()
            }
            None => false,
        };
        if now_empty {
            self.by_user.remove_if(user, |_, list| list.is_empty());
        }
    }

    /// Whether `user` has a connection on this node.
    pub fn has(&self, user: &UserId) -> bool {
        self.by_user.get(user).is_some_and(|l| !l.is_empty())
    }

    /// Queues `text` to every local connection of the users; connections
    /// whose queue is full are kicked.
    pub fn deliver(&self, to: &[UserId], text: &Utf8Bytes, metrics: &Metrics) {
        for user in to {
            let Some(list) = self.by_user.get(user) else {
                continue;
            };
            for s in list.iter() {
                // A closed queue is a connection on its way out; only a full
                // one means the client stopped reading.
                let full = matches!(
                    s.tx.try_send(Outbound::Frame(text.clone())),
                    Err(mpsc::error::TrySendError::Full(_))
                );
                if full && !s.kick.is_cancelled() {
                    metrics.slow_consumers.inc();
                    s.kick.cancel();
                }
            }
        }
    }
}

/// An event on the Redis channel: the frame's JSON text and its recipients.
/// The `append` script publishes `msg` events in this shape too.
#[derive(Debug, Serialize, Deserialize)]
struct Envelope {
    /// Recipients.
    to: Vec<UserId>,
    /// The frame's JSON text.
    f: String,
}

/// How events reach connections.
///
/// With Redis, every event (this node's too) goes through one pub/sub
/// channel and each node delivers what it receives, in the order Redis
/// received it; `msg` events are published by the `append` script itself,
/// so every connection sees a conversation's entries in seq order. Alone,
/// events are delivered to this node's sessions at once.
#[derive(Debug, Clone)]
pub enum Bus {
    /// One node, no Redis.
    Local {
        /// This node's connections.
        sessions: Arc<Sessions>,
        /// For slow-consumer counts.
        metrics: Arc<Metrics>,
    },
    /// Redis pub/sub.
    Redis {
        /// Feeds the publisher task.
        publish_tx: mpsc::Sender<String>,
        /// For publishing at once.
        store: RedisStore,
        /// The events channel.
        channel: String,
    },
}

impl Bus {
    /// Delivery within this process.
    pub fn local(sessions: Arc<Sessions>, metrics: Arc<Metrics>) -> Self {
        Bus::Local { sessions, metrics }
    }

    /// Delivery over Redis pub/sub; spawns the publisher and subscriber tasks.
    ///
    /// Returns once the node is subscribed: a node that served connections
    /// before it could hear events would drop the first ones.
    pub async fn redis(
        store: RedisStore,
        url: &str,
        sessions: Arc<Sessions>,
        metrics: Arc<Metrics>,
        shutdown: CancellationToken,
    ) -> Result<Self, crate::store::StoreError> {
        let (tx, rx) = mpsc::channel(PUBLISH_QUEUE);
        let channel = store.events_channel();
        tokio::spawn(publisher(
            store.clone(),
            channel.clone(),
            rx,
            metrics.clone(),
        ));
        let channels = vec![channel.clone(), store.node_channel()];
        let (subscribed_tx, subscribed) = tokio::sync::oneshot::channel();
        tokio::spawn(subscriber(
            url.to_owned(),
            channels,
            sessions,
            metrics,
            shutdown,
            subscribed_tx,
        ));
        match tokio::time::timeout(SUBSCRIBE_TIMEOUT, subscribed).await {
            Ok(Ok(())) => {}
            _ => {
                return Err(crate::store::StoreError::Unavailable(
                    "could not subscribe to the hub's event channels".into(),
                ))
            }
        }
        Ok(Bus::Redis {
            publish_tx: tx,
            store,
            channel,
        })
    }

    /// Sends an event to every connection of the users, on every node
    /// (published in a batch by the publisher task).
    pub async fn send(&self, to: &[UserId], text: Utf8Bytes) {
        match self {
            Bus::Local { sessions, metrics } => sessions.deliver(to, &text, metrics),
            Bus::Redis { publish_tx, .. } => {
                if let Some(json) = envelope(to, &text) {
                    // Only fails when the publisher stopped (shutdown).
                    let _ = publish_tx.send(json).await;
                }
            }
        }
    }

    /// Like [`Bus::send`], but publishes before returning.
    pub async fn send_now(&self, to: &[UserId], text: Utf8Bytes) {
        match self {
            Bus::Local { sessions, metrics } => sessions.deliver(to, &text, metrics),
            Bus::Redis { store, channel, .. } => {
                if let Some(json) = envelope(to, &text) {
                    if let Err(e) = store.publish_many(channel, &[json]).await {
                        tracing::warn!(error = %e, "could not publish an event; clients recover it with sync");
                    }
                }
            }
        }
    }
}

fn envelope(to: &[UserId], text: &Utf8Bytes) -> Option<String> {
    serde_json::to_string(&Envelope {
        to: to.to_vec(),
        f: text.as_str().to_owned(),
    })
    .ok()
}

async fn publisher(
    store: RedisStore,
    channel: String,
    mut rx: mpsc::Receiver<String>,
    metrics: Arc<Metrics>,
) {
    let mut batch = Vec::with_capacity(PUBLISH_BATCH);
    while rx.recv_many(&mut batch, PUBLISH_BATCH).await > 0 {
        if let Err(e) = store.publish_many(&channel, &batch).await {
            metrics.store_errors.inc();
            tracing::warn!(error = %e, lost = batch.len(), "could not publish events; clients recover them with sync");
        }
        batch.clear();
    }
}

async fn subscriber(
    url: String,
    channels: Vec<String>,
    sessions: Arc<Sessions>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
    subscribed: tokio::sync::oneshot::Sender<()>,
) {
    let mut subscribed = Some(subscribed);
    let mut backoff = Duration::from_millis(100);
    // After the first subscription, any new one follows a gap.
    let mut resubscribing = false;
    while !shutdown.is_cancelled() {
        let connected = async {
            let client = redis::Client::open(url.as_str())?;
            let mut pubsub = client.get_async_pubsub().await?;
            for channel in &channels {
                pubsub.subscribe(channel).await?;
            }
            Ok::<_, redis::RedisError>(pubsub)
        }
        .await;
        let pubsub = match connected {
            Ok(p) => p,
            Err(e) => {
                metrics.store_errors.inc();
                tracing::warn!(error = %e, "cannot subscribe to hub events; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.cancelled() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        if let Some(tx) = subscribed.take() {
            let _ = tx.send(());
        }
        if resubscribing {
            tracing::warn!(
                "hub events resubscribed; asking clients to reconnect and sync what they missed"
            );
            sessions.resync_all();
        }
        resubscribing = true;
        let mut stream = pubsub.into_on_message();
        loop {
            let msg = tokio::select! {
                m = stream.next() => m,
                _ = shutdown.cancelled() => return,
            };
            let Some(msg) = msg else { break };
            let Ok(payload) = msg.get_payload::<String>() else {
                continue;
            };
            let Ok(envelope) = serde_json::from_str::<Envelope>(&payload) else {
                continue;
            };
            let text = Utf8Bytes::from(envelope.f);
            sessions.deliver(&envelope.to, &text, &metrics);
        }
        tracing::warn!("lost the hub event subscription; resubscribing");
    }
}
