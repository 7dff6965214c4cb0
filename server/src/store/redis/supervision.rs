//! The Redis engine's supervision: the overview, monitors, the audit log.

use async_trait::async_trait;

use super::*;

#[async_trait]
impl Supervision for RedisStore {
    async fn overview(&self, teams: &[Team]) -> StoreResult<Overview> {
        let names = |pick: fn(&Team) -> bool| {
            teams
                .iter()
                .filter(|t| pick(t))
                .map(|t| t.as_str())
                .collect::<Vec<_>>()
                .join(",")
        };
        let tiers = names(|t| t.tier().is_some());
        let desks = names(|t| t.tier().is_none());
        let all = names(|_| true);
        let reply = self
            .run_read(&self.scripts.overview, argv![tiers, desks, all])
            .await?;
        let r: replies::OverviewReply = replies::decode(&reply, "overview")?;
        let bad = |what: &str| replies::corrupt(&format!("overview {what}"));
        let queues = r
            .queues
            .into_iter()
            .map(|q| {
                Ok(QueueOverview {
                    tier: q.tier.parse().map_err(|_| bad("tier"))?,
                    depth: q.depth,
                    oldest_queued_at: q.since.parse().ok(),
                    recent_waits: replies::waits(&q.waits),
                })
            })
            .collect::<StoreResult<_>>()?;
        let mut agents = r
            .agents
            .into_iter()
            .map(|a| {
                Ok(AgentOverview {
                    sub: replies::user(&a.sub),
                    name: a.name,
                    state: a.state.parse().map_err(|_| bad("agent state"))?,
                    online: a.online,
                    conversations: a.conversations.into_iter().map(ConversationId).collect(),
                    max_chats: u8::try_from(a.max_chats.0).unwrap_or(u8::MAX),
                    teams: a.teams.split(',').filter_map(|t| t.parse().ok()).collect(),
                    state_since: a.since.0,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        agents.sort_by(|a, b| a.sub.cmp(&b.sub));
        let desks = r
            .desks
            .into_iter()
            .map(|d| {
                Ok(DeskOverview {
                    desk: d.desk.parse().map_err(|_| bad("desk"))?,
                    open: d.open,
                })
            })
            .collect::<StoreResult<_>>()?;
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
        now: Millis,
    ) -> StoreResult<Option<Conversation>> {
        // The monitor keeps the supervisor's teams with it, so that the
        // step that moves the chat (`transfer.lua`, `escalate.lua`, given
        // the team it moves to) drops, in that same step, the monitors
        // whose teams do not include it: the script only checks membership.
        let reply = self
            .run(
                &self.scripts.monitor,
                now,
                argv![
                    id,
                    presence_member(Side::Supervisor, supervisor),
                    "1",
                    team_list(teams)
                ],
            )
            .await?;
        let r: replies::MonitorReply = decode(&reply, "monitor")?;
        if r.outside {
            return Err(StoreError::NotAllowed);
        }
        if !r.ok {
            return Ok(None);
        }
        replies::conversation(&r.conversation).map(Some)
    }

    async fn unmonitor(
        &self,
        id: &ConversationId,
        supervisor: &UserId,
        now: Millis,
    ) -> StoreResult<()> {
        let reply = self
            .run(
                &self.scripts.monitor,
                now,
                argv![id, presence_member(Side::Supervisor, supervisor), "0", ""],
            )
            .await?;
        decode::<replies::MonitorReply>(&reply, "unmonitor")?;
        Ok(())
    }

    async fn audit(&self, entry: AuditEntry) -> StoreResult<()> {
        let json = serde_json::to_string(&entry)
            .map_err(|e| StoreError::Unavailable(format!("audit entry: {e}")))?;
        let mut conn = self.conn();
        let mut pipe = redis::pipe();
        pipe.atomic();
        // One list per team the entry is about: a busy team's actions never
        // push a quiet team's out of its console.
        for team in &entry.teams {
            let key = self.key(&["audit", team.as_str()]);
            pipe.lpush(&key, &json)
                .ltrim(&key, 0, AUDIT_KEPT as isize - 1);
        }
        if self.archive {
            // The archivers store it in the archive like any other record.
            pipe.cmd("XADD")
                .arg(self.key(&["archive"]))
                .arg("*")
                .arg("kind")
                .arg("audit")
                .arg("id")
                .arg("")
                .arg("entry")
                .arg(&json);
        }
        pipe.query_async::<()>(&mut conn).await?;
        Ok(())
    }

    async fn recent_audit(&self, teams: &[Team], limit: usize) -> StoreResult<Vec<AuditEntry>> {
        if teams.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let mut conn = self.conn();
        let mut pipe = redis::pipe();
        for team in teams {
            pipe.cmd("LRANGE")
                .arg(self.key(&["audit", team.as_str()]))
                .arg(0)
                .arg(limit - 1);
        }
        let lists: Vec<Vec<String>> = pipe.query_async(&mut conn).await?;
        let lists = lists
            .iter()
            .map(|rows| {
                rows.iter()
                    .map(|r| replies::decode(r, "audit entry"))
                    .collect::<StoreResult<Vec<AuditEntry>>>()
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(crate::store::merge_audit(lists, limit))
    }
}
