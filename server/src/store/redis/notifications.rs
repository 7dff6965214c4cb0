//! The Redis side of the notification queue (see
//! [`crate::store::notifications`]): `<prefix>:notify` (zset: notification
//! id → due time, or lease expiry while a node delivers it),
//! `<prefix>:notify:age` (zset: id → queued time, for the oldest age),
//! `<prefix>:notice:<id>` (hash: event, sub, conversation, at, attempts) and
//! `<prefix>:notified:<sub>` (set: the cardholder's conversations with a
//! notification pending since they were last connected). `append.lua`
//! queues, `notify_take.lua` leases, `notify_settle.lua` settles.

use serde::Deserialize;

use super::replies::{self, decode, decode_list};
use super::RedisStore;
use crate::domain::{Author, ConversationId, Millis};
use crate::store::notifications::{new_notification_id, notify_event};
use crate::store::{Notification, NotificationBacklog, Settle, StoreResult};

/// One item of `notify_take.lua`'s reply.
#[derive(Debug, Deserialize)]
struct TakenItem {
    id: String,
    event: String,
    sub: String,
    conversation: String,
    at: Millis,
    attempts: u32,
}

impl RedisStore {
    /// `append.lua`'s notification arguments for an entry of `author`:
    /// event, a fresh id and the pending time, or three empty strings for none.
    pub(super) fn notify_args(&self, author: Author) -> [String; 3] {
        match (self.notifying, notify_event(author)) {
            (Some(n), Some(event)) => [
                event.to_string(),
                new_notification_id(),
                n.pending_ms.max(1).to_string(),
            ],
            _ => [String::new(), String::new(), String::new()],
        }
    }

    pub(super) async fn take_notices(
        &self,
        now: Millis,
        batch: usize,
        lease_ms: Millis,
    ) -> StoreResult<Vec<Notification>> {
        let reply = self
            .run(
                &self.scripts.notify_take,
                now,
                vec![batch.max(1).to_string(), lease_ms.max(1).to_string()],
            )
            .await?;
        let items: Vec<TakenItem> = decode_list(&reply, "notify take")?;
        Ok(items
            .into_iter()
            .map(|i| Notification {
                id: i.id,
                event: i.event,
                sub: replies::user(&i.sub),
                conversation: ConversationId(i.conversation),
                at: i.at,
                attempts: i.attempts,
            })
            .collect())
    }

    pub(super) async fn settle_notice(
        &self,
        n: &Notification,
        how: Settle,
        now: Millis,
    ) -> StoreResult<bool> {
        let retry_at = match how {
            Settle::RetryAt(at) => at.to_string(),
            Settle::Delivered | Settle::GiveUp => String::new(),
        };
        let reply = self
            .run(
                &self.scripts.notify_settle,
                now,
                vec![n.id.clone(), n.attempts.to_string(), retry_at],
            )
            .await?;
        decode(&reply, "notify settle")
    }

    pub(super) async fn notice_backlog(&self) -> StoreResult<NotificationBacklog> {
        let mut conn = self.conn();
        let (depth, oldest): (u64, Vec<(String, f64)>) = redis::pipe()
            .zcard(self.key(&["notify"]))
            .zrange_withscores(self.key(&["notify", "age"]), 0, 0)
            .query_async(&mut conn)
            .await?;
        Ok(NotificationBacklog {
            depth,
            oldest_at: oldest.first().map(|(_, at)| *at as Millis),
        })
    }
}
