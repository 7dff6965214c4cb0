//! What supervisors do: watch their teams live, set an agent available or
//! away, take a chat from its agent and queue it again. Every action is
//! written to the audit log.
//!
//! A supervisor's teams (token claim `teams`) bound everything: the
//! overview shows only those queues, agents, desks and audit entries, and
//! the actions only reach agents and chats of those teams. A monitor keeps
//! the teams in the store, so the step that moves a chat out of them ends
//! it (`monitor_ended`, `out_of_scope`); which chats this connection
//! monitors is kept in its `Held`, cleared by the `monitor_ended` and
//! `ended` delivered to it, so `sync` follows what the store decided.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::auth::{Identity, Principal};
use crate::bus::{Held, Outbox};
use crate::domain::audit::AuditEntry;
use crate::domain::{
    now_millis, rfc3339, AgentState, ConversationId, ConversationStatus, Millis, MonitorEndReason,
    Team, Tier, UserId,
};
use crate::events::{Audience, Event};
use crate::protocol::render::note_line;
use crate::protocol::{
    AgentLine, AuditLine, ClientFrame, DeskLine, InboxLine, QueueLine, ServerFrame,
    PROTOCOL_VERSION,
};
use crate::store::{service_level, Overview, StoreError};

use super::{CommandError, Hub, Replies};

/// How often a watching console gets a fresh `overview` (SPEC: at most once
/// a second).
pub const OVERVIEW_INTERVAL: Duration = Duration::from_secs(1);

/// Audit entries an `overview` lists.
pub const AUDIT_SHOWN: usize = 20;

/// Chats one supervisor connection may monitor at once.
pub const MAX_MONITORED: usize = 20;

/// What a supervisor connection keeps between frames (the chats it
/// monitors are marked in its `Held`, which deliveries update).
#[derive(Debug, Default)]
pub struct Watch {
    /// Stops the `overview` pushes when the connection closes.
    pushing: Option<CancellationToken>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some(token) = &self.pushing {
            token.cancel();
        }
    }
}

fn teams_of(identity: &Identity) -> Result<&[Team], CommandError> {
    match &identity.principal {
        Principal::Agent { teams, .. } => Ok(teams),
        Principal::Cardholder { .. } => Err(CommandError::NotAllowed("not a supervisor".into())),
    }
}

impl Hub {
    /// A supervisor's `welcome`: supervisors watch and help, they are not
    /// routed chats, so nothing is registered in the store.
    pub(super) fn supervisor_welcome(&self, identity: &Identity) -> Replies {
        let teams = teams_of(identity)?;
        Ok(vec![ServerFrame::Welcome {
            role: identity.role,
            sub: identity.sub.clone(),
            protocol: PROTOCOL_VERSION,
            conversation: None,
            teams: Some(teams.to_vec()),
            max_chats: None,
            conversations: Some(Vec::new()),
            state: None,
            callbacks: None,
            canned: None,
            threads: None,
            message_reply_within_s: None,
            call_back_topics: None,
        }])
    }

    /// Carries out one supervisor frame. `outbound` is the connection's
    /// queue, for the `overview`s that `watch` starts; `held` marks the
    /// chats it monitors.
    pub(super) async fn supervisor_command(
        &self,
        identity: &Identity,
        frame: ClientFrame,
        watch: &mut Watch,
        outbound: &Outbox,
        held: &Held,
    ) -> Replies {
        match frame {
            ClientFrame::Queues => self.queues().await,
            ClientFrame::Callbacks { desk } => self.list_callbacks(identity, desk).await,
            ClientFrame::Watch => {
                if watch.pushing.is_none() {
                    let token = self.shutdown.child_token();
                    tokio::spawn(push_overviews(
                        self.clone(),
                        teams_of(identity)?.to_vec(),
                        outbound.clone(),
                        token.clone(),
                    ));
                    watch.pushing = Some(token);
                }
                Ok(vec![self.overview_frame(teams_of(identity)?).await?])
            }
            ClientFrame::SetAgentState { agent, state } => {
                self.set_agent_state_for(identity, &agent, state).await
            }
            ClientFrame::Reassign { conversation, tier } => {
                self.reassign(identity, &conversation, tier).await
            }
            ClientFrame::Monitor { conversation } => {
                self.monitor(identity, &conversation, held).await
            }
            ClientFrame::Unmonitor { conversation } => {
                if !held.stop_monitoring(&conversation) {
                    return Ok(Vec::new());
                }
                self.store
                    .unmonitor(&conversation, &identity.sub, now_millis())
                    .await
                    .map_err(|e| self.store_failed(e))?;
                Ok(vec![ServerFrame::MonitorEnded {
                    conversation,
                    reason: MonitorEndReason::Unmonitored,
                }])
            }
            // Only while the store still counts it as a monitor: a chat that
            // left the supervisor's teams or ended cleared the mark.
            ClientFrame::Sync {
                conversation: Some(conversation),
                after,
            } if held.is_monitoring(&conversation) => self.replay(&conversation, after).await,
            _ => Err(CommandError::NotAllowed(
                "supervisors cannot send this frame".into(),
            )),
        }
    }

    /// The `overview` of a supervisor's teams.
    pub async fn overview_frame(&self, teams: &[Team]) -> Result<ServerFrame, CommandError> {
        let mut overview = self
            .store
            .overview(teams)
            .await
            .map_err(|e| self.store_failed(e))?;
        overview.inboxes = self
            .store
            .inbox_stats()
            .await
            .map_err(|e| self.store_failed(e))?
            .into_iter()
            .filter(|i| teams.contains(&Team::Tier(i.tier)))
            .collect();
        let audit = self
            .store
            .recent_audit(teams, AUDIT_SHOWN)
            .await
            .map_err(|e| self.store_failed(e))?;
        Ok(render_overview(
            &overview,
            &audit,
            now_millis(),
            self.settings.sla_seconds,
        ))
    }

    /// `set_agent_state`: only for an agent of one of the supervisor's
    /// teams; the agent's pane is told who changed it.
    async fn set_agent_state_for(
        &self,
        identity: &Identity,
        agent: &UserId,
        state: AgentState,
    ) -> Replies {
        let teams = teams_of(identity)?;
        let overview = self
            .store
            .overview(teams)
            .await
            .map_err(|e| self.store_failed(e))?;
        if !overview.agents.iter().any(|a| &a.sub == agent) {
            return Err(CommandError::NotAllowed(
                "that agent is not in a team you supervise".into(),
            ));
        }
        self.store
            .set_agent_state(agent, state, now_millis())
            .await
            .map_err(|e| self.store_failed(e))?;
        let by = identity
            .name
            .clone()
            .unwrap_or_else(|| identity.sub.to_string());
        self.deliver(
            vec![Audience::Agent(agent.clone())],
            Event::AgentStatus { state, by },
        )
        .await;
        if state == AgentState::Available {
            self.wake_router();
        }
        tracing::info!(supervisor = %identity.sub, agent = %agent, state = %state, "supervisor set an agent's state");
        // About the agent's teams: each of their supervisors sees it.
        let agent_teams = overview
            .agents
            .iter()
            .find(|a| &a.sub == agent)
            .map(|a| a.teams.clone())
            .unwrap_or_default();
        self.record(
            identity,
            "set_agent_state",
            agent.as_str(),
            state.as_str(),
            agent_teams,
        )
        .await?;
        Ok(vec![self.overview_frame(teams).await?])
    }

    /// `reassign`: an active chat of a supervised tier leaves its agent for
    /// the head of a supervised queue (its own by default), where the router
    /// gives it to the next free agent.
    async fn reassign(
        &self,
        identity: &Identity,
        id: &ConversationId,
        tier: Option<Tier>,
    ) -> Replies {
        let teams = teams_of(identity)?;
        let c = self
            .store
            .conversation(id)
            .await
            .map_err(|e| self.store_failed(e))?
            .filter(|c| c.status == ConversationStatus::Active)
            .ok_or(CommandError::NoConversation)?;
        let target = tier.unwrap_or(c.tier);
        if !teams.contains(&Team::Tier(c.tier)) || !teams.contains(&Team::Tier(target)) {
            return Err(CommandError::NotAllowed(
                "you can only reassign chats between queues you supervise".into(),
            ));
        }
        let Some(agent) = &c.agent else {
            return Err(CommandError::NoConversation);
        };
        let note = if target == c.tier {
            "We're connecting you with another agent. You're at the front of the queue; \
             the conversation so far stays with you."
                .to_owned()
        } else {
            format!(
                "You're being transferred to our {target} team. You're at the front of their \
                 queue; the conversation so far stays with you."
            )
        };
        let by = identity.name.as_deref().unwrap_or(identity.sub.as_str());
        let staff_note = format!("Reassigned by supervisor {by}");
        self.move_to_queue(agent, id, target, &note, Some(staff_note))
            .await?;
        tracing::info!(supervisor = %identity.sub, conversation = %id, from_agent = %agent, to = %target, "supervisor reassigned a chat");
        let mut about = vec![Team::Tier(c.tier)];
        if target != c.tier {
            about.push(Team::Tier(target));
        }
        self.record(
            identity,
            "reassign",
            id.as_str(),
            &format!("from {agent} to the {target} queue"),
            about,
        )
        .await?;
        Ok(vec![self.overview_frame(teams).await?])
    }

    /// `monitor`: a chat of a supervised tier, read-only; its transcript so
    /// far comes back as a `transcript` page.
    async fn monitor(&self, identity: &Identity, id: &ConversationId, held: &Held) -> Replies {
        let teams = teams_of(identity)?;
        let outside = || {
            CommandError::NotAllowed("you can only monitor chats of queues you supervise".into())
        };
        let already = held.is_monitoring(id);
        if !already && held.monitored().len() >= MAX_MONITORED {
            return Err(CommandError::NotAllowed(format!(
                "you can monitor at most {MAX_MONITORED} chats at once; stop one first"
            )));
        }
        let c = self
            .store
            .conversation(id)
            .await
            .map_err(|e| self.store_failed(e))?
            .filter(|c| c.status != ConversationStatus::Ended)
            .ok_or(CommandError::NoConversation)?;
        if !teams.contains(&Team::Tier(c.tier)) {
            return Err(outside());
        }
        // Once per connection: the store counts the supervisor's connections.
        // Marked before the store step, so that a `monitor_ended` announced
        // by a step right after it finds the mark to clear.
        if !already {
            held.start_monitoring(id);
            let started = match self
                .store
                .monitor(id, &identity.sub, teams, now_millis())
                .await
            {
                Ok(Some(_)) => Ok(()),
                Ok(None) => Err(CommandError::NoConversation),
                // It left the supervisor's teams since it was read.
                Err(StoreError::NotAllowed) => Err(outside()),
                Err(e) => Err(self.store_failed(e)),
            };
            if let Err(e) = started {
                held.stop_monitoring(id);
                return Err(e);
            }
            tracing::info!(supervisor = %identity.sub, conversation = %id, "supervisor monitors a chat");
            let agent = c.agent.as_ref().map_or("(queued)", |a| a.as_str());
            self.record(
                identity,
                "monitor",
                id.as_str(),
                &format!("agent {agent}"),
                vec![Team::Tier(c.tier)],
            )
            .await?;
        }
        // The transcript so far, then the internal notes so far (later ones
        // arrive as `note` events).
        let mut replies = self.replay(id, 0).await?;
        replies.extend(c.notes.iter().map(|n| ServerFrame::Note {
            conversation: c.id.clone(),
            note: note_line(n),
        }));
        Ok(replies)
    }

    /// Stops a departing supervisor connection's monitoring (of the chats
    /// the store did not end it for already).
    pub(super) async fn stop_monitoring(&self, identity: &Identity, held: &Held) {
        for id in held.monitored() {
            held.stop_monitoring(&id);
            if let Err(e) = self.store.unmonitor(&id, &identity.sub, now_millis()).await {
                self.store_failed(e);
            }
        }
    }

    /// Writes an action to the audit log, as about `teams` (only their
    /// supervisors see it in `overview`).
    async fn record(
        &self,
        identity: &Identity,
        action: &str,
        target: &str,
        detail: &str,
        teams: Vec<Team>,
    ) -> Result<(), CommandError> {
        self.store
            .audit(AuditEntry {
                at: now_millis(),
                by: identity.sub.clone(),
                action: action.to_owned(),
                target: target.to_owned(),
                detail: detail.to_owned(),
                teams,
            })
            .await
            .map_err(|e| self.store_failed(e))
    }
}

/// Sends a fresh `overview` every [`OVERVIEW_INTERVAL`] until the connection
/// closes (its queue is closed) or the token is cancelled. A full queue
/// skips a beat: the next overview replaces it anyway.
async fn push_overviews(hub: Hub, teams: Vec<Team>, outbound: Outbox, stop: CancellationToken) {
    let mut interval = tokio::time::interval(OVERVIEW_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval.tick().await; // the first one went out as the reply to `watch`
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = interval.tick() => {}
        }
        if outbound.is_closed() {
            return;
        }
        if let Ok(frame) = hub.overview_frame(&teams).await {
            let _ = outbound.push(frame.to_text().into());
        }
    }
}

/// The `overview` frame of what the store said.
pub fn render_overview(
    o: &Overview,
    audit: &[AuditEntry],
    now: Millis,
    sla_seconds: u64,
) -> ServerFrame {
    let sla_ms = Millis::try_from(sla_seconds.saturating_mul(1000)).unwrap_or(Millis::MAX);
    let seconds_since = |t: Millis| u64::try_from((now - t).max(0) / 1000).unwrap_or(0);
    ServerFrame::Overview {
        sla_s: sla_seconds,
        queues: o
            .queues
            .iter()
            .map(|q| QueueLine {
                tier: q.tier,
                waiting: q.depth,
                oldest_wait_s: q.oldest_queued_at.map_or(0, seconds_since),
                service_level: service_level(&q.recent_waits, sla_ms),
                answered: q.recent_waits.len(),
            })
            .collect(),
        agents: o
            .agents
            .iter()
            .map(|a| AgentLine {
                sub: a.sub.clone(),
                name: a.name.clone(),
                state: a.state,
                online: a.online,
                chats: a.conversations.len(),
                max_chats: a.max_chats,
                teams: a.teams.clone(),
                in_state_s: seconds_since(a.state_since),
                conversations: a.conversations.clone(),
            })
            .collect(),
        desks: o
            .desks
            .iter()
            .map(|d| DeskLine {
                desk: d.desk,
                open: d.open,
            })
            .collect(),
        inboxes: o
            .inboxes
            .iter()
            .map(|i| InboxLine {
                team: Team::Tier(i.tier),
                depth: i.depth,
                oldest_wait_s: i.oldest_queued_at.map_or(0, seconds_since),
            })
            .collect(),
        audit: audit
            .iter()
            .map(|e| AuditLine {
                at: rfc3339(e.at),
                by: e.by.clone(),
                action: e.action.clone(),
                target: e.target.clone(),
                detail: e.detail.clone(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{AgentOverview, QueueOverview};

    #[test]
    fn the_service_level_counts_recent_answers_within_the_target() {
        let o = Overview {
            queues: vec![
                QueueOverview {
                    tier: Tier::Premium,
                    depth: 2,
                    oldest_queued_at: Some(10_000),
                    recent_waits: vec![5_000, 61_000, 60_000, 1_000],
                },
                QueueOverview {
                    tier: Tier::Standard,
                    depth: 0,
                    oldest_queued_at: None,
                    recent_waits: vec![],
                },
            ],
            agents: vec![AgentOverview {
                sub: "ag-1".into(),
                name: "Ann".into(),
                state: AgentState::Available,
                online: true,
                conversations: vec![ConversationId("c-1".into())],
                max_chats: 3,
                teams: vec![Team::Tier(Tier::Premium)],
                state_since: 40_000,
            }],
            desks: vec![],
            inboxes: vec![crate::store::InboxOverview {
                tier: Tier::Premium,
                depth: 3,
                oldest_queued_at: Some(10_000),
            }],
        };
        let ServerFrame::Overview {
            queues,
            agents,
            inboxes,
            ..
        } = render_overview(&o, &[], 70_000, 60)
        else {
            panic!("an overview");
        };
        assert_eq!(
            (inboxes[0].team, inboxes[0].depth, inboxes[0].oldest_wait_s),
            (Team::Tier(Tier::Premium), 3, 60)
        );
        assert_eq!(queues[0].service_level, Some(0.75));
        assert_eq!((queues[0].oldest_wait_s, queues[0].answered), (60, 4));
        assert_eq!(queues[1].service_level, None, "nobody answered yet");
        assert_eq!((agents[0].chats, agents[0].in_state_s), (1, 30));
    }
}
