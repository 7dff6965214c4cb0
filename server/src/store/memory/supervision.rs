//! The memory engine's supervision: the overview, monitors, the audit log.

use async_trait::async_trait;

use super::*;

#[async_trait]
impl Supervision for MemoryStore {
    async fn overview(&self, teams: &[Team]) -> StoreResult<Overview> {
        let s = self.lock();
        let queues = teams
            .iter()
            .filter_map(|t| t.tier())
            .map(|tier| {
                let q = &s.queues[tier_index(tier)];
                QueueOverview {
                    tier,
                    depth: q.len() as u64,
                    oldest_queued_at: q
                        .first()
                        .and_then(|id| s.conversations.get(id))
                        .map(|r| r.conversation.queued_at),
                    recent_waits: s.waits[tier_index(tier)].iter().copied().collect(),
                }
            })
            .collect();
        let mut agents: Vec<AgentOverview> = s
            .agents
            .values()
            .filter(|a| a.profile.teams.iter().any(|t| teams.contains(t)))
            .map(|a| AgentOverview {
                sub: a.profile.sub.clone(),
                name: a.profile.name.clone(),
                state: a.state,
                online: s.is_present(Side::Agent, &a.profile.sub),
                conversations: a.active.iter().cloned().collect(),
                max_chats: a.profile.max_chats,
                teams: a.profile.teams.clone(),
                state_since: a.state_since,
            })
            .collect();
        agents.sort_by(|a, b| a.sub.cmp(&b.sub));
        let desks = teams
            .iter()
            .filter_map(|t| match t {
                Team::Desk(d) => Some(*d),
                Team::Tier(_) => None,
            })
            .map(|desk| DeskOverview {
                desk,
                open: s.desk_requests.get(&desk).map_or(0, |r| r.len() as u64),
            })
            .collect();
        Ok(Overview {
            queues,
            agents,
            desks,
            inboxes: Vec::new(),
        })
    }

    async fn monitor(
        &self,
        id: &ConversationId,
        supervisor: &UserId,
        teams: &[Team],
        _now: Millis,
    ) -> StoreResult<Option<Conversation>> {
        let mut s = self.lock();
        let Some(record) = s.conversations.get_mut(id) else {
            return Ok(None);
        };
        if record.conversation.status == ConversationStatus::Ended {
            return Ok(None);
        }
        if !teams.contains(&Team::Tier(record.conversation.tier)) {
            return Err(StoreError::NotAllowed);
        }
        match record.monitors.get_mut(supervisor) {
            Some(m) => {
                m.connections += 1;
                m.teams.retain(|t| teams.contains(t));
            }
            None => {
                record.monitors.insert(
                    supervisor.clone(),
                    Monitor {
                        connections: 1,
                        teams: teams.to_vec(),
                    },
                );
            }
        }
        Ok(Some(record.conversation.clone()))
    }

    async fn unmonitor(
        &self,
        id: &ConversationId,
        supervisor: &UserId,
        _now: Millis,
    ) -> StoreResult<()> {
        let mut s = self.lock();
        if let Some(record) = s.conversations.get_mut(id) {
            if let Some(m) = record.monitors.get_mut(supervisor) {
                m.connections = m.connections.saturating_sub(1);
                if m.connections == 0 {
                    record.monitors.remove(supervisor);
                }
            }
        }
        Ok(())
    }

    async fn audit(&self, entry: AuditEntry) -> StoreResult<()> {
        let mut s = self.lock();
        for team in &entry.teams {
            let list = s.audit.entry(*team).or_default();
            list.push_front(entry.clone());
            list.truncate(crate::store::AUDIT_KEPT);
        }
        Ok(())
    }

    async fn recent_audit(&self, teams: &[Team], limit: usize) -> StoreResult<Vec<AuditEntry>> {
        let s = self.lock();
        let lists = teams
            .iter()
            .filter_map(|t| s.audit.get(t))
            .map(|l| l.iter().take(limit).cloned().collect())
            .collect();
        Ok(crate::store::merge_audit(lists, limit))
    }
}
