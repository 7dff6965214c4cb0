//! One tier's queue in the memory engine: the conversations waiting for the
//! tier's team, in the order of [`crate::store::order`].
//!
//! Two lines share the ranks: the connected cardholders' and the away ones'
//! (disconnected, in their grace period). Routing serves the connected line
//! first; positions count both, so a cardholder whose connection dropped
//! keeps the place and nobody's position moves back when they return.

use std::collections::{BTreeSet, HashMap};

use crate::domain::ConversationId;
use crate::store::order::QueueRank;

/// A tier queue.
#[derive(Debug, Default)]
pub(super) struct TierQueue {
    /// Conversations whose cardholder is connected, by rank.
    here: BTreeSet<(QueueRank, ConversationId)>,
    /// Conversations whose cardholder is away, by rank.
    away: BTreeSet<(QueueRank, ConversationId)>,
    /// Every queued conversation's rank and whether it is in the away line.
    places: HashMap<ConversationId, (QueueRank, bool)>,
}

impl TierQueue {
    /// Queues `id` with `rank`, in the away line when its cardholder is away.
    pub(super) fn insert(&mut self, id: &ConversationId, rank: QueueRank, away: bool) {
        self.remove(id);
        self.line(away).insert((rank, id.clone()));
        self.places.insert(id.clone(), (rank, away));
    }

    /// Takes `id` out; false when it was not queued here.
    pub(super) fn remove(&mut self, id: &ConversationId) -> bool {
        let Some((rank, away)) = self.places.remove(id) else {
            return false;
        };
        self.line(away).remove(&(rank, id.clone()));
        true
    }

    /// Moves `id` to the away line or back, keeping its rank.
    pub(super) fn set_away(&mut self, id: &ConversationId, away: bool) {
        if let Some(&(rank, was)) = self.places.get(id) {
            if was != away {
                self.insert(id, rank, away);
            }
        }
    }

    /// The conversation routing serves next: the connected line's first,
    /// else the away line's.
    pub(super) fn head(&self) -> Option<(QueueRank, &ConversationId)> {
        self.here
            .first()
            .or_else(|| self.away.first())
            .map(|(rank, id)| (*rank, id))
    }

    /// The place of `id` counting both lines (1 = first), if queued here.
    pub(super) fn position(&self, id: &ConversationId) -> Option<u64> {
        let &(rank, _) = self.places.get(id)?;
        let ahead = |line: &BTreeSet<(QueueRank, ConversationId)>| {
            line.range(..(rank, id.clone())).count() as u64
        };
        Some(ahead(&self.here) + ahead(&self.away) + 1)
    }

    /// How many conversations wait.
    pub(super) fn len(&self) -> usize {
        self.places.len()
    }

    /// The queued conversation of the lowest rank, in either line.
    pub(super) fn first(&self) -> Option<&ConversationId> {
        match (self.here.first(), self.away.first()) {
            (Some(h), Some(a)) => Some(if a < h { &a.1 } else { &h.1 }),
            (h, a) => h.or(a).map(|(_, id)| id),
        }
    }

    /// Every queued conversation, in no particular order.
    pub(super) fn ids(&self) -> impl Iterator<Item = &ConversationId> {
        self.places.keys()
    }

    /// Every queued conversation in rank order, both lines merged.
    pub(super) fn in_order(&self) -> Vec<&ConversationId> {
        let mut all: Vec<_> = self.here.iter().chain(self.away.iter()).collect();
        all.sort();
        all.into_iter().map(|(_, id)| id).collect()
    }

    fn line(&mut self, away: bool) -> &mut BTreeSet<(QueueRank, ConversationId)> {
        if away {
            &mut self.away
        } else {
            &mut self.here
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> ConversationId {
        ConversationId(format!("c-{n:032x}"))
    }

    #[test]
    fn away_keep_their_place_but_are_served_last() {
        let mut q = TierQueue::default();
        q.insert(&id(1), 10, false);
        q.insert(&id(2), 20, false);
        q.insert(&id(3), 30, false);
        q.set_away(&id(1), true);
        assert_eq!(q.head(), Some((20, &id(2))), "the connected one first");
        assert_eq!(q.position(&id(1)), Some(1), "the place is kept");
        assert_eq!(q.position(&id(3)), Some(3));
        assert_eq!(q.in_order(), vec![&id(1), &id(2), &id(3)]);
        assert_eq!(q.first(), Some(&id(1)), "the lowest rank, though away");
        assert_eq!(q.ids().count(), 3);
        assert!(q.remove(&id(2)) && q.remove(&id(3)));
        assert_eq!(
            q.head(),
            Some((10, &id(1))),
            "alone, the away one is served"
        );
        q.set_away(&id(1), false);
        assert_eq!((q.position(&id(1)), q.len()), (Some(1), 1));
        assert!(!q.remove(&id(9)));
    }
}
