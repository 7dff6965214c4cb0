//! The durable notification queue's records and rules, shared by both
//! engines.
//!
//! When an agent's entry reaches a conversation whose cardholder has no
//! open connection on any node, the append step itself queues a
//! [`Notification`] (so it is as durable as the entry), at most one per
//! conversation until the cardholder connects again. The notifier task of
//! every node ([`crate::notify`]) takes due ones under a lease, POSTs them
//! and settles them ([`Settle`]). The engines only store, lease and remove;
//! what triggers a notification and when to retry are decided here and in
//! `notify`.

use crate::domain::{Author, ConversationId, Millis, UserId};

/// What a notification tells the push service happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyEvent {
    /// An agent wrote to the cardholder.
    Message,
}

impl NotifyEvent {
    /// The payload's `event`.
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyEvent::Message => "message",
        }
    }
}

impl std::fmt::Display for NotifyEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The event an appended entry of `author` queues for an absent
/// cardholder: only an agent's words do (not the cardholder's own, not
/// system notices).
pub fn notify_event(author: Author) -> Option<NotifyEvent> {
    match author {
        Author::Agent => Some(NotifyEvent::Message),
        Author::Cardholder | Author::System => None,
    }
}

/// A fresh notification id, unique per event (the push service may use it
/// to drop a repeat).
pub fn new_notification_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Whether and how an engine queues notifications (`--notify-url` given).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notifying {
    /// How long a conversation stays marked "notified" when its cardholder
    /// never comes back (the give-up time: nothing is pending after it).
    pub pending_ms: Millis,
}

/// A queued notification, as taken for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Unique per event ([`new_notification_id`]).
    pub id: String,
    /// What happened.
    pub event: String,
    /// The cardholder to notify.
    pub sub: UserId,
    /// The conversation.
    pub conversation: ConversationId,
    /// When the entry was written (and the notification queued), ms.
    pub at: Millis,
    /// Delivery attempts so far, this one included; it is also the lease:
    /// only the taker of this attempt may settle it.
    pub attempts: u32,
}

/// How a delivery attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// The push service took it (2xx): removed for good.
    Delivered,
    /// It failed: due again at this time (ms).
    RetryAt(Millis),
    /// It failed for too long: dropped.
    GiveUp,
}

/// The queue's backlog, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NotificationBacklog {
    /// Notifications not delivered yet.
    pub depth: u64,
    /// When the oldest of them was queued (ms).
    pub oldest_at: Option<Millis>,
}
