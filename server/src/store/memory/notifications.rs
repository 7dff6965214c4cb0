//! The memory engine's notification queue (see
//! [`crate::store::notifications`]): the same steps as the Redis engine's,
//! inside the engine's lock. Not durable: it lives and dies with the
//! process, as everything in this engine does (development only).

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::domain::{ConversationId, Millis, UserId};
use crate::store::{Notification, NotificationBacklog, Settle};

/// Notifications not delivered yet, and the conversations notified about.
#[derive(Debug, Default)]
pub(super) struct Notices {
    /// By id.
    queued: HashMap<String, Notification>,
    /// Due time (a lease's expiry while taken) and id.
    due: BTreeSet<(Millis, String)>,
    /// Per cardholder: conversations with a notification since the
    /// cardholder was last connected, and when that mark lapses.
    notified: HashMap<UserId, (HashSet<ConversationId>, Millis)>,
}

impl Notices {
    /// Queues `n` unless its conversation was notified about already since
    /// the cardholder was last connected (or that mark lapsed); true when queued.
    pub(super) fn queue(&mut self, n: Notification, pending_ms: Millis) -> bool {
        let now = n.at;
        let (marks, lapses) = self
            .notified
            .entry(n.sub.clone())
            .or_insert_with(|| (HashSet::new(), now));
        if *lapses <= now {
            marks.clear();
        }
        if !marks.insert(n.conversation.clone()) {
            return false;
        }
        *lapses = now + pending_ms.max(1);
        self.due.insert((now, n.id.clone()));
        self.queued.insert(n.id.clone(), n);
        true
    }

    /// The cardholder connected: their conversations may be notified about again.
    pub(super) fn came_online(&mut self, sub: &UserId) {
        self.notified.remove(sub);
    }

    /// Takes up to `batch` due by `now`, each leased for `lease_ms`.
    pub(super) fn take(
        &mut self,
        now: Millis,
        batch: usize,
        lease_ms: Millis,
    ) -> Vec<Notification> {
        let due: Vec<(Millis, String)> = self
            .due
            .iter()
            .take_while(|(at, _)| *at <= now)
            .take(batch.max(1))
            .cloned()
            .collect();
        let mut taken = Vec::with_capacity(due.len());
        for key in due {
            self.due.remove(&key);
            if let Some(n) = self.queued.get_mut(&key.1) {
                n.attempts += 1;
                self.due.insert((now + lease_ms.max(1), key.1));
                taken.push(n.clone());
            }
        }
        taken
    }

    /// Settles an attempt taken as `n`, while that lease is still its own.
    pub(super) fn settle(&mut self, n: &Notification, how: Settle) -> bool {
        let Some(current) = self.queued.get(&n.id) else {
            return false;
        };
        if current.attempts != n.attempts {
            return false;
        }
        self.due.retain(|(_, id)| *id != n.id);
        match how {
            Settle::RetryAt(at) => {
                self.due.insert((at, n.id.clone()));
            }
            Settle::Delivered | Settle::GiveUp => {
                self.queued.remove(&n.id);
            }
        }
        true
    }

    /// What is left to deliver.
    pub(super) fn backlog(&self) -> NotificationBacklog {
        NotificationBacklog {
            depth: self.queued.len() as u64,
            oldest_at: self.queued.values().map(|n| n.at).min(),
        }
    }
}
