//! The hub's background work: the router (pairs conversations with agents
//! whenever something changed, and once a second in case another node
//! changed it), the one-second ticker (grace periods, `queued` position
//! updates and queue metrics) and the node heartbeat (`--node-heartbeat`:
//! sweeps dead nodes, watches the store epoch).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::domain::{now_millis, ConversationId, Millis, Tier};
use crate::events::{Audience, Event};
use crate::metrics::tier_label;
use crate::settings::Settings;
use crate::store::{Assignment, GraceOutcome, QueueStanding, Sweep, ROUTE_BATCH};

use super::Hub;

/// How often the router runs even without a local wake-up.
const ROUTE_INTERVAL: Duration = Duration::from_secs(1);

/// How often grace periods, positions and queue metrics are refreshed.
const TICK: Duration = Duration::from_secs(1);

/// System message when an agent dropped and the chat went back to the queue.
pub const AGENT_LOST: &str = "Your agent was disconnected. You're back at the front of the queue, \
and the next available agent will continue with you.";

/// System message when an agent's node stopped answering: the agent's
/// grace period has started, and the chat goes back to the queue if they do
/// not come back.
pub const AGENT_DROPPED: &str =
    "Your agent was disconnected. If they don't come back in a moment, \
the next available agent will continue with you.";

/// What this node's heartbeat needs to sweep dead nodes.
pub fn node_sweep(settings: &Settings) -> Sweep {
    Sweep {
        graces: settings.graces,
        stale_ms: Millis::try_from(settings.node_timeout.as_millis()).unwrap_or(Millis::MAX),
        notice: AGENT_DROPPED.to_owned(),
    }
}

/// Starts the background tasks; they stop with the hub's shutdown token.
pub fn spawn(hub: &Hub) {
    tokio::spawn(router(hub.clone()));
    tokio::spawn(ticker(hub.clone()));
    tokio::spawn(heartbeat(hub.clone()));
    let probe = hub.clone();
    tokio::spawn(async move {
        probe
            .sessions
            .lag()
            .probe_scheduling(&probe.metrics, &probe.shutdown)
            .await;
    });
}

/// Tells the other nodes this one is alive every `--node-heartbeat`,
/// declaring dead the nodes silent for `--node-timeout` (in the store step),
/// and watches the store epoch: a new one means the store lost its data.
async fn heartbeat(hub: Hub) {
    let mut interval = tokio::time::interval(hub.settings.node_heartbeat);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let sweep = node_sweep(&hub.settings);
    let mut epoch: Option<String> = None;
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = hub.shutdown.cancelled() => return,
        }
        let beat = match hub.store.heartbeat(now_millis(), &sweep).await {
            Ok(b) => b,
            Err(e) => {
                hub.store_failed(e);
                continue;
            }
        };
        for c in &beat.told {
            tracing::info!(conversation = %c, "the agent's node stopped answering; cardholder told, grace started");
        }
        match &epoch {
            Some(seen) if *seen != beat.epoch => {
                tracing::error!(
                    "the store lost its data (new epoch); ending the vanished chats and asking every client to reconnect"
                );
                hub.metrics.store_errors.inc();
                hub.sessions.resync_all();
            }
            _ if beat.revived => {
                tracing::warn!(
                    "other nodes took this node for dead (heartbeats were late); asking every client to reconnect"
                );
                hub.sessions.resync_all();
            }
            _ => {}
        }
        epoch = Some(beat.epoch);
    }
}

async fn router(hub: Hub) {
    let mut interval = tokio::time::interval(ROUTE_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = hub.route_wakeup.notified() => {}
            _ = interval.tick() => {}
            _ = hub.shutdown.cancelled() => return,
        }
        hub.route_now().await;
    }
}

impl Hub {
    /// Pairs every conversation that can be paired now.
    pub async fn route_now(&self) {
        loop {
            match self.store.route(now_millis()).await {
                Ok(assignments) => {
                    let full = assignments.len() == ROUTE_BATCH;
                    for a in assignments {
                        self.record_assignment(a);
                    }
                    if !full {
                        return;
                    }
                }
                Err(e) => {
                    self.store_failed(e);
                    return;
                }
            }
        }
    }

    /// Counts and logs a pairing.
    fn record_assignment(&self, a: Assignment) {
        let c = a.conversation;
        let Some(agent) = c.agent.clone() else { return };
        self.metrics.assignments.inc();
        self.metrics
            .wait_seconds
            .get_or_create(&tier_label(c.tier))
            .observe(a.waited_ms as f64 / 1000.0);
        tracing::info!(conversation = %c.id, agent = %agent, waited_ms = a.waited_ms, "assigned");
        // The store announced the `assigned` frames in the routing step itself.
    }

    /// Applies expired grace periods and tells those concerned.
    pub async fn expire_graces(&self) {
        let outcomes = match self.store.expire_graces(now_millis()).await {
            Ok(o) => o,
            Err(e) => {
                self.store_failed(e);
                return;
            }
        };
        let mut requeued = false;
        for outcome in outcomes {
            match outcome {
                GraceOutcome::Abandoned(c) => {
                    // The store announced `ended` (abandoned).
                    tracing::info!(conversation = %c.id, "queued cardholder did not come back; abandoned");
                }
                GraceOutcome::Requeued {
                    conversation: c,
                    agent,
                } => {
                    tracing::info!(conversation = %c.id, agent = %agent, "agent did not come back; chat requeued");
                    requeued = true;
                    // The store keeps the requeue even if this message fails.
                    let _ = self.system_message(&c.id, AGENT_LOST).await;
                    let _ = self.tell_place(&c).await;
                }
            }
        }
        if requeued {
            self.wake_router();
        }
    }
}

async fn ticker(hub: Hub) {
    let mut interval = tokio::time::interval(TICK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = hub.shutdown.cancelled() => return,
        }
        hub.expire_graces().await;
        hub.update_positions().await;
        hub.update_queue_metrics().await;
    }
}

impl Hub {
    /// Sends `queued` to this node's waiting cardholders whose frame
    /// changed: place, ETA, agents online, hours or the secure-message
    /// offer (at most once a second per conversation; [`Shared::positions`]
    /// holds what each was last told).
    async fn update_positions(&self) {
        let mut due = Vec::new();
        let mut waiting = HashSet::new();
        for &tier in Tier::ALL {
            let snapshot = match self.store.queue_snapshot(tier).await {
                Ok(s) => s,
                Err(e) => {
                    self.store_failed(e);
                    return;
                }
            };
            let local: Vec<_> = snapshot
                .places
                .iter()
                .filter(|p| {
                    self.sessions
                        .has(&Audience::Cardholder(p.cardholder.clone()))
                })
                .collect();
            if local.is_empty() {
                continue;
            }
            let team = match self.team_now(tier, now_millis()).await {
                Ok(t) => t,
                Err(e) => {
                    self.store_failed(e);
                    return;
                }
            };
            let mut sent = self.positions.lock().unwrap_or_else(|p| p.into_inner());
            for place in local {
                waiting.insert(place.conversation.clone());
                let event = Event::Queued {
                    conversation: place.conversation.clone(),
                    tier,
                    position: place.position,
                    eta_s: QueueStanding {
                        position: place.position,
                        depth: snapshot.places.len() as u64,
                        recent_wait_ms: snapshot.recent_wait_ms,
                    }
                    .eta_seconds(),
                    availability: team
                        .availability(place.queued_at, self.settings.offer_message_after),
                };
                let changed = match sent.get(&place.conversation) {
                    Some((told, at)) => *told != event && at.elapsed() >= TICK,
                    None => true,
                };
                if changed {
                    sent.insert(place.conversation.clone(), (event.clone(), Instant::now()));
                    due.push((place.cardholder.clone(), event));
                }
            }
        }
        self.prune_positions(&waiting);
        for (cardholder, event) in due {
            self.deliver(vec![Audience::Cardholder(cardholder)], event)
                .await;
        }
    }

    /// Forgets positions of conversations no longer waiting here.
    fn prune_positions(&self, waiting: &HashSet<ConversationId>) {
        let mut sent = self.positions.lock().unwrap_or_else(|p| p.into_inner());
        sent.retain(|id, _| waiting.contains(id));
    }

    async fn update_queue_metrics(&self) {
        match self.store.queue_stats(now_millis()).await {
            Ok(stats) => {
                for q in stats {
                    let label = tier_label(q.tier);
                    self.metrics
                        .queue_depth
                        .get_or_create(&label)
                        .set(i64::try_from(q.waiting).unwrap_or(i64::MAX));
                    self.metrics
                        .queue_oldest_wait
                        .get_or_create(&label)
                        .set(q.oldest_wait_s as f64);
                }
            }
            Err(e) => {
                self.store_failed(e);
            }
        }
        match self.store.inbox_stats().await {
            Ok(inboxes) => {
                let now = now_millis();
                for i in inboxes {
                    let label = tier_label(i.tier);
                    self.metrics
                        .inbox_depth
                        .get_or_create(&label)
                        .set(i64::try_from(i.depth).unwrap_or(i64::MAX));
                    let oldest = i.oldest_queued_at.map_or(0, |t| (now - t).max(0));
                    self.metrics
                        .inbox_oldest_wait
                        .get_or_create(&label)
                        .set(oldest as f64 / 1000.0);
                }
            }
            Err(e) => {
                self.store_failed(e);
            }
        }
    }
}
