//! The Redis engine's presence: connections, grace periods, nodes.

use async_trait::async_trait;

use super::*;

#[async_trait]
impl Presence for RedisStore {
    async fn ping(&self) -> StoreResult<()> {
        let mut conn = self.conn();
        redis::cmd("PING").query_async::<()>(&mut conn).await?;
        Ok(())
    }

    async fn presence_up(&self, user: &UserId, side: Side, now: Millis) -> StoreResult<()> {
        self.run(
            &self.scripts.presence,
            now,
            argv![&*self.node, presence_member(side, user), 1, 0],
        )
        .await?;
        Ok(())
    }

    async fn presence_down(
        &self,
        user: &UserId,
        side: Side,
        now: Millis,
        grace_ms: Millis,
    ) -> StoreResult<()> {
        self.run(
            &self.scripts.presence,
            now,
            argv![
                &*self.node,
                presence_member(side, user),
                -1,
                (now + grace_ms)
            ],
        )
        .await?;
        Ok(())
    }

    async fn expire_graces(&self, now: Millis) -> StoreResult<Vec<GraceOutcome>> {
        let reply = self
            .run(
                &self.scripts.expire_graces,
                now,
                argv![
                    GRACE_BATCH,
                    EndReason::Abandoned,
                    EndReason::Transferred,
                    self.hand_over()
                ],
            )
            .await?;
        let items: Vec<GraceItem> = replies::decode_list(&reply, "expire graces")?;
        items
            .iter()
            .map(
                |item| match (&item.abandoned, &item.requeued, &item.agent) {
                    (Some(c), _, _) => Ok(GraceOutcome::Abandoned(replies::conversation(c)?)),
                    (None, Some(c), Some(agent)) => Ok(GraceOutcome::Requeued {
                        conversation: replies::conversation(c)?,
                        agent: replies::user(agent),
                    }),
                    _ => Err(replies::corrupt("grace outcome")),
                },
            )
            .collect()
    }

    async fn heartbeat(&self, now: Millis, sweep: &Sweep) -> StoreResult<Beat> {
        self.heartbeat_inner(now, sweep, false).await
    }

    async fn retire(&self) -> StoreResult<()> {
        let mut conn = self.conn();
        redis::pipe()
            .cmd("ZREM")
            .arg(self.key(&["nodes"]))
            .arg(&*self.node)
            .ignore()
            .cmd("UNLINK")
            .arg(self.key(&["presence", &self.node]))
            .ignore()
            .query_async::<()>(&mut conn)
            .await?;
        Ok(())
    }
}
