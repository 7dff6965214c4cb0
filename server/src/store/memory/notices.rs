//! The memory engine's the notification queue: taking, settling, its backlog.

use async_trait::async_trait;

use super::*;

#[async_trait]
impl Notifications for MemoryStore {
    async fn take_notifications(
        &self,
        now: Millis,
        batch: usize,
        lease_ms: Millis,
    ) -> StoreResult<Vec<Notification>> {
        Ok(self.lock().notices.take(now, batch, lease_ms))
    }

    async fn settle_notification(
        &self,
        n: &Notification,
        how: Settle,
        _now: Millis,
    ) -> StoreResult<bool> {
        Ok(self.lock().notices.settle(n, how))
    }

    async fn notification_backlog(&self) -> StoreResult<NotificationBacklog> {
        Ok(self.lock().notices.backlog())
    }
}
