//! The Redis engine's the notification queue: taking, settling, its backlog.

use async_trait::async_trait;

use super::*;

#[async_trait]
impl Notifications for RedisStore {
    async fn take_notifications(
        &self,
        now: Millis,
        batch: usize,
        lease_ms: Millis,
    ) -> StoreResult<Vec<crate::store::Notification>> {
        self.take_notices(now, batch, lease_ms).await
    }

    async fn settle_notification(
        &self,
        n: &crate::store::Notification,
        how: crate::store::Settle,
        now: Millis,
    ) -> StoreResult<bool> {
        self.settle_notice(n, how, now).await
    }

    async fn notification_backlog(&self) -> StoreResult<crate::store::NotificationBacklog> {
        self.notice_backlog().await
    }
}
