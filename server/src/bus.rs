//! Event delivery: to the connections of every node, through an
//! [`EventFeed`] (Redis pub/sub) or, for a single node, directly.
//!
//! [`Sessions`] holds, per [`Audience`], the outbound queues of this node's
//! connections. Delivering an [`Envelope`] renders its event into frames
//! once per view (cardholder, staff) and queues the same bytes to every
//! local recipient; it never waits on a client: a queue that is full means
//! that client fell behind, and it is closed (it reconnects and `sync`s).
//! Pub/sub is fire-and-forget, so a node that misses an event (Redis
//! restarting) leaves a gap that the client's `sync` fills from the stored
//! transcript: every `msg` is stored before (in the same step as) it is
//! published.
//!
//! `bus` knows nothing about Redis: the feed is a trait object.

mod outbound;

pub use outbound::{outbound_queue, OutboundReceiver, Outbox, Refused};

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use dashmap::DashMap;
use futures_util::{FutureExt, StreamExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::domain::conversation::Entry;
use crate::domain::{ConversationId, Seq};
use crate::events::{Audience, Envelope, Event, View};
use crate::lag::Lag;
use crate::metrics::Metrics;
use crate::store::feed::EventFeed;
use crate::store::StoreError;

/// The kernel send buffer asked for each accepted socket (`SO_SNDBUF`; Linux
/// doubles it for its bookkeeping). Left to autotuning, a socket whose peer
/// stopped reading holds ~4 MB before a write blocks.
pub const SEND_BUFFER: usize = 64 * 1024;

/// Events waiting to be published to other nodes. When Redis is slow the
/// senders wait here (backpressure) rather than growing memory.
pub const PUBLISH_QUEUE: usize = 8192;

/// How long start-up waits for the event subscription.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Most events published in one pipelined round trip.
const PUBLISH_BATCH: usize = 256;

/// When the subscription has had nothing to read for this long, the node
/// has delivered everything published so far: its event lag is zero.
const CAUGHT_UP_AFTER: Duration = Duration::from_millis(100);

/// Why a connection is told to close by someone else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KickReason {
    /// Its outbound queue filled up: the client stopped reading.
    TooSlow,
    /// The user opened more connections than allowed; this is the oldest.
    Replaced,
}

/// Tells a connection task to close, saying why (the first reason wins).
///
/// Its token is a child of the node's resync token (itself a child of the
/// hub's shutdown token), so the connection waits on this one token for
/// all three: a kick, a resync of the whole node, and shutdown.
#[derive(Debug, Clone, Default)]
pub struct Kick {
    /// Cancelled when the connection must close (or its parents are).
    token: CancellationToken,
    /// The reason, set once before the token is cancelled.
    why: Arc<OnceLock<KickReason>>,
}

impl Kick {
    /// A kick that also fires when `parent` is cancelled
    /// ([`Sessions::resync_token`]).
    pub fn under(parent: &CancellationToken) -> Kick {
        Kick {
            token: parent.child_token(),
            why: Arc::default(),
        }
    }

    /// Asks the connection to close.
    pub fn kick(&self, why: KickReason) {
        if self.why.set(why).is_ok() {
            self.token.cancel();
        }
    }

    /// Whether it was asked already.
    pub fn is_kicked(&self) -> bool {
        self.why.get().is_some()
    }

    /// Why it was asked to close, if it was.
    pub fn reason(&self) -> Option<KickReason> {
        self.why.get().copied()
    }

    /// Waits until the connection is asked to close, by a kick
    /// ([`Kick::reason`] says why) or by the parent token.
    pub async fn closing(&self) {
        self.token.cancelled().await;
    }
}

/// The conversations a connection was told it takes part in (from its
/// `welcome`, its own `start`, and every `assigned` delivered to it; an
/// `ended` delivered to it forgets one), so that when the store loses its
/// data the hub can tell it which of them are gone — and, for each, what
/// keeps a replay (`sync`) and live `msg`s from both carrying one entry.
#[derive(Debug, Clone, Default)]
pub struct Held(Arc<std::sync::Mutex<HashMap<ConversationId, Replay, Hasher>>>);

/// The hasher of the maps every delivered event looks up (audiences,
/// held conversations): foldhash, seeded per map, a fraction of the cost
/// of the standard library's SipHash for these short ids, which come from
/// the hub and its token issuers rather than from clients.
type Hasher = foldhash::fast::RandomState;

/// How one held conversation's entries reached the connection.
#[derive(Debug, Clone, Copy, Default)]
struct Replay {
    /// The first entry delivered live: from it on, every entry comes live
    /// (they are published in seq order to every present connection), so
    /// a replay page stops before it.
    first_live: Option<Seq>,
    /// The last entry a replay page gave: a live copy of it, or of an
    /// earlier one, arriving later is one the client has.
    replayed: Seq,
    /// A supervisor's connection monitors it: set by its `monitor`, cleared
    /// by its `unmonitor` and by the `monitor_ended` or `ended` delivered
    /// to it (the store ended the monitor: the chat left the supervisor's
    /// teams, or ended), so a `sync` or a second `monitor` is judged by
    /// what the store did, not by what the connection asked earlier.
    monitoring: bool,
}

impl Held {
    /// Remembers a conversation.
    pub fn insert(&self, id: ConversationId) {
        self.lock().entry(id).or_default();
    }

    /// Forgets a conversation.
    pub fn remove(&self, id: &ConversationId) {
        self.lock().remove(id);
    }

    /// The conversations remembered now.
    pub fn snapshot(&self) -> Vec<ConversationId> {
        self.lock().keys().cloned().collect()
    }

    /// Whether live entry `seq` of `id` goes out: not when a replay page
    /// already gave it. A connection is sent the entries of conversations
    /// it takes part in (or monitors), so this remembers `id` too: its
    /// entries may start arriving before its `welcome` is built.
    pub fn pass_live(&self, id: &ConversationId, seq: Seq) -> bool {
        let mut held = self.lock();
        // Looked up before inserting: `entry` would copy the id each time.
        let r = match held.get_mut(id) {
            Some(r) => r,
            None => held.entry(id.clone()).or_default(),
        };
        if seq <= r.replayed {
            return false;
        }
        r.first_live.get_or_insert(seq);
        true
    }

    /// Marks `id` as monitored by this connection; false when it was already.
    pub fn start_monitoring(&self, id: &ConversationId) -> bool {
        let mut held = self.lock();
        let r = held.entry(id.clone()).or_default();
        let started = !std::mem::replace(&mut r.monitoring, true);
        if started {
            // Entries said while it did not monitor never reached it live:
            // what an earlier monitor saw must not trim the new page.
            *r = Replay {
                monitoring: true,
                ..Replay::default()
            };
        }
        started
    }

    /// Clears the mark; whether this connection was monitoring `id`.
    pub fn stop_monitoring(&self, id: &ConversationId) -> bool {
        self.lock()
            .get_mut(id)
            .is_some_and(|r| std::mem::replace(&mut r.monitoring, false))
    }

    /// Whether this connection monitors `id`.
    pub fn is_monitoring(&self, id: &ConversationId) -> bool {
        self.lock().get(id).is_some_and(|r| r.monitoring)
    }

    /// The conversations this connection monitors.
    pub fn monitored(&self) -> Vec<ConversationId> {
        self.lock()
            .iter()
            .filter(|(_, r)| r.monitoring)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Trims a replay page of `id` to the entries that do not reach this
    /// connection live (those before the first live one), and remembers
    /// where it ends.
    pub fn trim_replay(&self, id: &ConversationId, entries: &mut Vec<Entry>, more: &mut bool) {
        let mut held = self.lock();
        let Some(r) = held.get_mut(id) else { return };
        if let Some(first) = r.first_live {
            if entries.last().is_some_and(|e| e.seq >= first) {
                entries.retain(|e| e.seq < first);
                *more = false;
            }
        }
        if let Some(last) = entries.last() {
            r.replayed = r.replayed.max(last.seq);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ConversationId, Replay, Hasher>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One connection's entry in [`Sessions`].
#[derive(Debug, Clone)]
pub struct Session {
    /// Connection id, unique within this node (increasing: older is smaller).
    pub conn: u64,
    /// Its outbound queue of serialised frames.
    pub outbox: Outbox,
    /// Closes it from outside (fell behind, or replaced).
    pub kick: Kick,
    /// The conversations it takes part in.
    pub held: Held,
}

/// This node's connections, by audience (a user may have several: app and
/// web; a desk agent is also in its desks' audiences).
#[derive(Debug)]
pub struct Sessions {
    by_audience: DashMap<Audience, Vec<Session>, Hasher>,
    next_conn: AtomicU64,
    /// Cancelled (and replaced) when this node may have missed events:
    /// every connection open at that moment is asked to reconnect and `sync`.
    /// A child of `stop`.
    resync: std::sync::Mutex<CancellationToken>,
    /// The hub's shutdown token.
    stop: CancellationToken,
    /// How far behind this node runs.
    lag: Lag,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions::new(CancellationToken::new())
    }
}

impl Sessions {
    /// No connections yet; `stop` is the hub's shutdown token.
    pub fn new(stop: CancellationToken) -> Sessions {
        Sessions {
            by_audience: DashMap::default(),
            next_conn: AtomicU64::default(),
            resync: std::sync::Mutex::new(stop.child_token()),
            stop,
            lag: Lag::default(),
        }
    }

    /// The token a new connection watches for [`Sessions::resync_all`]
    /// (cancelled too when the hub shuts down).
    pub fn resync_token(&self) -> CancellationToken {
        self.resync
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Asks every connection open now to reconnect and `sync` (the node's
    /// event subscription was interrupted, so they may have missed events).
    pub fn resync_all(&self) {
        let old = std::mem::replace(
            &mut *self.resync.lock().unwrap_or_else(|p| p.into_inner()),
            self.stop.child_token(),
        );
        old.cancel();
    }

    /// How far behind this node runs.
    pub fn lag(&self) -> &Lag {
        &self.lag
    }

    /// A fresh connection id.
    pub fn next_conn_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Adds a connection to an audience; when that leaves more than `limit`
    /// connections there, the oldest are kicked as replaced.
    pub fn add(&self, audience: &Audience, session: Session, limit: usize) {
        let mut list = self.by_audience.entry(audience.clone()).or_default();
        list.push(session);
        let live: Vec<&Session> = list.iter().filter(|s| !s.kick.is_kicked()).collect();
        let excess = live.len().saturating_sub(limit.max(1));
        let mut oldest: Vec<&Session> = live;
        oldest.sort_by_key(|s| s.conn);
        for s in oldest.into_iter().take(excess) {
            s.kick.kick(KickReason::Replaced);
        }
    }

    /// Removes a connection from an audience.
    pub fn remove(&self, audience: &Audience, conn: u64) {
        let now_empty = match self.by_audience.get_mut(audience) {
            Some(mut list) => {
                list.retain(|s| s.conn != conn);
                list.is_empty()
            }
            None => false,
        };
        if now_empty {
            self.by_audience
                .remove_if(audience, |_, list| list.is_empty());
        }
    }

    /// Whether the audience has a connection on this node.
    pub fn has(&self, audience: &Audience) -> bool {
        self.by_audience
            .get(audience)
            .is_some_and(|l| !l.is_empty())
    }

    /// Queues an event to every local connection of its audiences, rendered
    /// once per view; connections whose queue is full are kicked.
    pub fn deliver(&self, envelope: &Envelope, metrics: &Metrics) {
        self.lag.delivered(envelope.at, metrics);
        let mut rendered: [Option<Option<Utf8Bytes>>; 2] = [None, None];
        let shared = envelope.event.same_for_every_view();
        for audience in &envelope.to {
            let Some(list) = self.by_audience.get(audience) else {
                continue;
            };
            let view = audience.view();
            let slot = &mut rendered[match view {
                _ if shared => 0,
                View::Cardholder => 0,
                View::Staff => 1,
            }];
            let frame = slot.get_or_insert_with(|| {
                envelope
                    .event
                    .frame_for(view)
                    .map(|f| Utf8Bytes::from(f.to_text()))
            });
            let Some(text) = frame else { continue };
            // Only a user's own audience takes part (not a desk's or an
            // inbox's): its membership, and the entries it was sent live.
            let personal = !matches!(audience, Audience::Desk(_) | Audience::Inbox(_));
            let membership = match &envelope.event {
                Event::Assigned { conversation, .. } => Some((&conversation.id, true)),
                Event::Ended { conversation, .. } => Some((conversation, false)),
                _ => None,
            }
            .filter(|_| personal);
            let monitor_ended = match &envelope.event {
                Event::MonitorEnded { conversation, .. } => Some(conversation),
                _ => None,
            };
            let live = match &envelope.event {
                Event::Msg {
                    conversation,
                    entry,
                } => Some((conversation, entry.seq)),
                _ => None,
            }
            .filter(|_| personal);
            for s in list.iter() {
                match membership {
                    Some((id, true)) => s.held.insert(id.clone()),
                    Some((id, false)) => s.held.remove(id),
                    None => {}
                }
                if let Some(id) = monitor_ended {
                    s.held.stop_monitoring(id);
                }
                if let Some((id, seq)) = live {
                    if !s.held.pass_live(id, seq) {
                        continue;
                    }
                }
                // A closed queue is a connection on its way out; only a full
                // one means the client stopped reading.
                let full = s.outbox.push(text.clone()) == Err(Refused::Full);
                if full && !s.kick.is_kicked() {
                    metrics.slow_consumers.inc();
                    s.kick.kick(KickReason::TooSlow);
                }
            }
        }
    }
}

/// How events reach connections.
///
/// Through a feed, every event the hub announces (this node's too) is
/// published and each node delivers what it receives, in the order the
/// feed received it; the store publishes its own events from inside its
/// atomic steps, so every connection sees a conversation's entries in seq
/// order. Alone, events are delivered to this node's sessions at once.
#[derive(Debug, Clone)]
pub enum Bus {
    /// One node: the memory engine announces straight into `sessions`.
    Local {
        /// This node's connections.
        sessions: Arc<Sessions>,
        /// For slow-consumer counts.
        metrics: Arc<Metrics>,
    },
    /// Several nodes, through a feed.
    Remote {
        /// Feeds the publisher task.
        publish_tx: mpsc::Sender<Envelope>,
    },
}

impl Bus {
    /// Delivery within this process.
    pub fn local(sessions: Arc<Sessions>, metrics: Arc<Metrics>) -> Self {
        Bus::Local { sessions, metrics }
    }

    /// Delivery through a feed; spawns the publisher and subscriber tasks.
    ///
    /// Returns once the node is subscribed: a node that served connections
    /// before it could hear events would drop the first ones.
    pub async fn remote(
        feed: Arc<dyn EventFeed>,
        sessions: Arc<Sessions>,
        metrics: Arc<Metrics>,
        shutdown: CancellationToken,
    ) -> Result<Self, StoreError> {
        let (tx, rx) = mpsc::channel(PUBLISH_QUEUE);
        tokio::spawn(publisher(feed.clone(), rx, metrics.clone()));
        let (subscribed_tx, subscribed) = tokio::sync::oneshot::channel();
        tokio::spawn(subscriber(feed, sessions, metrics, shutdown, subscribed_tx));
        match tokio::time::timeout(SUBSCRIBE_TIMEOUT, subscribed).await {
            Ok(Ok(())) => Ok(Bus::Remote { publish_tx: tx }),
            _ => Err(StoreError::Unavailable(
                "could not subscribe to the hub's event channels".into(),
            )),
        }
    }

    /// Sends an event to every connection of its audiences, on every node
    /// (published in a batch by the publisher task).
    pub async fn send(&self, envelope: Envelope) {
        match self {
            Bus::Local { sessions, metrics } => sessions.deliver(&envelope, metrics),
            Bus::Remote { publish_tx } => {
                // Only fails when the publisher stopped (shutdown).
                let _ = publish_tx.send(envelope).await;
            }
        }
    }
}

async fn publisher(
    feed: Arc<dyn EventFeed>,
    mut rx: mpsc::Receiver<Envelope>,
    metrics: Arc<Metrics>,
) {
    let mut batch = Vec::with_capacity(PUBLISH_BATCH);
    while rx.recv_many(&mut batch, PUBLISH_BATCH).await > 0 {
        if let Err(e) = feed.publish(&batch).await {
            metrics.store_errors.inc();
            tracing::warn!(error = %e, lost = batch.len(), "could not publish events; clients recover them with sync");
        }
        batch.clear();
    }
}

async fn subscriber(
    feed: Arc<dyn EventFeed>,
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
        let mut stream = match feed.subscribe().await {
            Ok(s) => s,
            Err(e) => {
                metrics.store_errors.inc();
                tracing::warn!(error = %e.detail(), "cannot subscribe to hub events; retrying");
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
        loop {
            if shutdown.is_cancelled() {
                return;
            }
            // The stream reads Redis only when asked (backpressure), so an
            // event not ready at once means nothing is left to deliver.
            let envelope = match stream.next().now_or_never() {
                Some(e) => e,
                None => tokio::select! {
                    e = stream.next() => e,
                    _ = tokio::time::sleep(CAUGHT_UP_AFTER) => {
                        sessions.lag.caught_up(&metrics);
                        continue;
                    }
                    _ = shutdown.cancelled() => return,
                },
            };
            let Some(envelope) = envelope else { break };
            sessions.deliver(&envelope, &metrics);
        }
        sessions.lag.caught_up(&metrics);
        tracing::warn!("lost the hub event subscription; resubscribing");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails unless `kick`'s wait ends.
    async fn closes(kick: &Kick) {
        tokio::time::timeout(Duration::from_secs(5), kick.closing())
            .await
            .expect("the connection is told to close");
    }

    /// A connection's one wait covers its kick, the node's resync and the
    /// hub's shutdown; only a kick has a reason, and a resync reaches the
    /// connections open at that moment only.
    #[tokio::test]
    async fn a_connection_closing_hears_its_kick_a_resync_and_shutdown() {
        let stop = CancellationToken::new();
        let sessions = Sessions::new(stop.clone());
        let kicked = Kick::under(&sessions.resync_token());
        let bystander = Kick::under(&sessions.resync_token());
        kicked.kick(KickReason::Replaced);
        closes(&kicked).await;
        assert_eq!(kicked.reason(), Some(KickReason::Replaced));
        assert!(
            !bystander.token.is_cancelled(),
            "a kick is for one connection"
        );

        sessions.resync_all();
        closes(&bystander).await;
        assert_eq!(bystander.reason(), None, "a resync is not a kick");
        let later = Kick::under(&sessions.resync_token());
        assert!(
            !later.token.is_cancelled(),
            "a resync is for connections open then"
        );

        stop.cancel();
        closes(&later).await;
        assert_eq!(later.reason(), None);
        assert!(Kick::under(&sessions.resync_token()).token.is_cancelled());
    }

    fn page(seqs: std::ops::RangeInclusive<Seq>) -> Vec<Entry> {
        seqs.map(|seq| Entry {
            seq,
            from: crate::domain::Author::Agent,
            text: format!("entry {seq}"),
            at: String::new(),
            id: None,
        })
        .collect()
    }

    fn seqs(entries: &[Entry]) -> Vec<Seq> {
        entries.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn a_live_entry_the_replay_already_gave_is_not_sent_again() {
        let held = Held::default();
        let id = ConversationId("c1".into());
        held.insert(id.clone());
        // The page (4..=7) was read before entry 7's live copy arrived.
        let (mut entries, mut more) = (page(4..=7), false);
        held.trim_replay(&id, &mut entries, &mut more);
        assert_eq!(seqs(&entries), [4, 5, 6, 7]);
        assert!(!held.pass_live(&id, 7), "7 came in the page");
        assert!(held.pass_live(&id, 8));
    }

    #[test]
    fn a_replay_leaves_out_what_comes_live() {
        let held = Held::default();
        let id = ConversationId("c1".into());
        held.insert(id.clone());
        // Entry 6 went out live (before the client asked, or while the page
        // 2..=7 was being read): from 6 on, every entry comes live.
        assert!(held.pass_live(&id, 6));
        let (mut entries, mut more) = (page(2..=7), true);
        held.trim_replay(&id, &mut entries, &mut more);
        assert_eq!(seqs(&entries), [2, 3, 4, 5]);
        assert!(!more, "nothing is left to ask for");
        assert!(held.pass_live(&id, 7), "7 was left out of the page");
        // An earlier page stays whole.
        let (mut entries, mut more) = (page(1..=3), true);
        held.trim_replay(&id, &mut entries, &mut more);
        assert_eq!((seqs(&entries), more), (vec![1, 2, 3], true));
    }

    #[test]
    fn an_entry_arriving_before_the_welcome_named_its_conversation_counts() {
        let held = Held::default();
        let id = ConversationId("c1".into());
        assert!(
            held.pass_live(&id, 5),
            "delivered before `welcome` was built"
        );
        held.insert(id.clone());
        let (mut entries, mut more) = (page(3..=5), false);
        held.trim_replay(&id, &mut entries, &mut more);
        assert_eq!(seqs(&entries), [3, 4]);
    }

    #[test]
    fn a_monitor_mark_is_kept_until_stopped_or_the_conversation_is_forgotten() {
        let held = Held::default();
        let id = ConversationId::from("c-1");
        assert!(held.start_monitoring(&id));
        assert!(!held.start_monitoring(&id), "once per connection");
        assert!(held.pass_live(&id, 1), "entries still pass");
        assert!(held.is_monitoring(&id));
        assert_eq!(held.monitored(), vec![id.clone()]);
        assert!(held.stop_monitoring(&id));
        assert!(!held.stop_monitoring(&id));
        held.start_monitoring(&id);
        held.remove(&id);
        assert!(!held.is_monitoring(&id), "an `ended` forgets it");
    }

    #[test]
    fn a_page_of_a_conversation_not_held_stays_whole() {
        let held = Held::default();
        let id = ConversationId("archived".into());
        let (mut entries, mut more) = (page(1..=3), true);
        held.trim_replay(&id, &mut entries, &mut more);
        assert_eq!((seqs(&entries), more), (vec![1, 2, 3], true));
    }
}
