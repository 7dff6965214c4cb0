//! What a waiting cardholder is told besides the place in the queue
//! (`queued`'s [`Availability`]): how many agents of the team are signed
//! in, whether the team is within its opening hours (`--hours`) and when
//! it opens next, and whether to offer a secure message instead of waiting
//! on (`--offer-message-after`).

use std::time::Duration;

use crate::domain::queue::Availability;
use crate::domain::{rfc3339, Millis, Team, Tier};
use crate::store::StoreResult;

use super::Hub;

/// A tier team's picture at one moment: read once per tick and tier, then
/// applied to each waiting conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TeamNow {
    /// Agents of the team signed in on any node.
    pub agents_online: u64,
    /// Within its opening hours.
    pub open: bool,
    /// When it opens next, if closed.
    pub next_open: Option<Millis>,
    /// When this was read.
    pub now: Millis,
}

impl TeamNow {
    /// What a conversation waiting since `queued_at` is told.
    pub fn availability(&self, queued_at: Millis, offer_after: Duration) -> Availability {
        let offer_after = Millis::try_from(offer_after.as_millis()).unwrap_or(Millis::MAX);
        Availability {
            agents_online: self.agents_online,
            open: self.open,
            next_open: self.next_open.map(rfc3339),
            offer_message: offers_message(
                self.now - queued_at,
                offer_after,
                self.agents_online,
                self.open,
            ),
        }
    }
}

/// Whether a waiting chat is offered a secure message: it waited longer
/// than `offer_after_ms`, nobody of its team is signed in, or the team is
/// closed.
pub fn offers_message(
    waited_ms: Millis,
    offer_after_ms: Millis,
    agents_online: u64,
    open: bool,
) -> bool {
    waited_ms > offer_after_ms || agents_online == 0 || !open
}

impl Hub {
    /// The team serving `tier`'s queue, now.
    pub(super) async fn team_now(&self, tier: Tier, now: Millis) -> StoreResult<TeamNow> {
        let team = Team::Tier(tier);
        let agents_online = self.store.agents_online(team).await?;
        let hours = &self.settings.hours;
        let open = hours.is_open(team, now);
        Ok(TeamNow {
            agents_online,
            open,
            next_open: if open {
                None
            } else {
                hours.next_open(team, now)
            },
            now,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offer_comes_after_the_wait_or_at_once_when_nobody_can_answer() {
        assert!(!offers_message(120_000, 120_000, 1, true));
        assert!(offers_message(120_001, 120_000, 1, true));
        assert!(offers_message(0, 120_000, 0, true), "nobody signed in");
        assert!(offers_message(0, 120_000, 3, false), "closed");
        let closed = TeamNow {
            agents_online: 0,
            open: false,
            next_open: Some(1_800_000_000_000),
            now: 1_000,
        };
        assert_eq!(
            closed.availability(0, Duration::from_secs(120)),
            Availability {
                agents_online: 0,
                open: false,
                next_open: Some("2027-01-15T08:00:00Z".into()),
                offer_message: true,
            }
        );
    }
}
