//! The orders routing applies, each defined once, here.
//!
//! Which waiting conversation an agent gets next and which available agent
//! gets it are choices among live data, made inside one atomic step of the
//! store. The rules behind those choices are pure functions of this module:
//! the memory engine calls them, and the Redis engine's scripts are given
//! their results (a conversation's [`QueueRanks`] when it opens, an agent's
//! [`AvailabilityScores`] whenever its idle time is set) and do nothing but
//! sort by them. So a script never computes a score, a boost or a place.
//!
//! - A tier queue is ordered by rank, lowest first. A conversation's rank in
//!   a tier is its routing priority there: SPEC's greatest effective wait
//!   (`now - enqueued_at + boost(tier)`) is the lowest
//!   `enqueued_at - boost(tier)` ([`QueueRanks::waiting`]). Ranks of
//!   different tiers compare directly, so routing serves the lowest head.
//! - A conversation that goes back to a queue after an agent had it (the
//!   agent transferred it, or dropped and its grace ran out) is served before
//!   everyone who has not been served yet, keeping its original place among
//!   the others who came back ([`QueueRanks::returning`]).
//! - A queued cardholder who is disconnected (in the grace period) keeps the
//!   place, but is served after every connected one: the engines keep such
//!   conversations in a second, "away" line of the same tier, with the same
//!   rank, and route from it only when the tier's connected line is empty.
//!   Positions count both lines.
//! - Among the available agents of a team, the one with the fewest active
//!   chats comes first, then the one idle longest
//!   ([`availability_score`]).

use serde::{Deserialize, Serialize};

use crate::domain::{tier_index, Millis, Tier, TierBoosts};

/// A rank in a tier queue: the lower, the sooner served.
pub type QueueRank = i64;

/// Queue ranks are milliseconds times this (room for a tiebreak).
pub const SCORE_SCALE: i64 = 1000;

/// How far ahead of everyone else a conversation that comes back to a queue
/// is ranked: more than any enqueue time in [`SCORE_SCALE`] units for the
/// next centuries (1.8·10¹⁵ in 2027), and small enough that every rank stays
/// an integer a double holds exactly (below 2⁵³ ≈ 9·10¹⁵), as Redis keeps
/// sorted-set scores.
pub const RETURNING_AHEAD: i64 = 4_000_000_000_000_000;

/// The first-come order of a conversation entering a queue at `now`:
/// enqueue time in ms times [`SCORE_SCALE`] plus a tiebreak, so that equal
/// milliseconds stay first come, first served.
pub fn queue_score(now: Millis, tiebreak: u64) -> i64 {
    now * SCORE_SCALE + i64::try_from(tiebreak % SCORE_SCALE as u64).unwrap_or(0)
}

/// A tier's boost in queue-score units.
pub fn boost_score(tier: Tier, boosts: &TierBoosts) -> i64 {
    boosts.millis(tier) * SCORE_SCALE
}

/// Where a conversation stands in each tier's queue, fixed when it opens
/// (its first-come order and the tier boosts then): in its own tier when it
/// waits there first, in any tier it may be transferred to later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueRanks {
    /// The first-come order ([`queue_score`]).
    score: i64,
    /// Each tier's boost in score units, indexed like [`Tier::ALL`].
    boost: [i64; 4],
}

impl QueueRanks {
    /// The ranks of a conversation with first-come order `score`.
    pub fn new(score: i64, boosts: &TierBoosts) -> Self {
        let mut boost = [0; 4];
        for &tier in Tier::ALL {
            boost[tier_index(tier)] = boost_score(tier, boosts);
        }
        QueueRanks { score, boost }
    }

    /// Its rank while it waits in `tier`'s queue for the first time (its
    /// routing priority there).
    pub fn waiting(&self, tier: Tier) -> QueueRank {
        self.score - self.boost[tier_index(tier)]
    }

    /// Its rank when it comes back to `tier`'s queue after an agent had it:
    /// ahead of every [`QueueRanks::waiting`] rank, in the same order among
    /// those that came back.
    pub fn returning(&self, tier: Tier) -> QueueRank {
        self.waiting(tier) - RETURNING_AHEAD
    }

    /// Both ranks for every tier, as the Redis engine keeps them on the
    /// conversation (its `ranks` field): `{"<tier>": ["<waiting>",
    /// "<returning>"], …}`, numbers as strings so a script hands them to
    /// `ZADD` as they are.
    pub fn to_json(&self) -> String {
        let map: serde_json::Map<String, serde_json::Value> = Tier::ALL
            .iter()
            .map(|&t| {
                (
                    t.to_string(),
                    serde_json::json!([self.waiting(t).to_string(), self.returning(t).to_string()]),
                )
            })
            .collect();
        serde_json::Value::Object(map).to_string()
    }
}

/// A team's available agents are ordered by this score, lowest first: the
/// fewest active chats, then idle longest (SPEC). Idle times are Unix ms,
/// far below the weight of one chat.
pub fn availability_score(active: usize, idle_since: Millis) -> i64 {
    i64::try_from(active).unwrap_or(i64::MAX / AGENT_LOAD_WEIGHT) * AGENT_LOAD_WEIGHT + idle_since
}

/// The weight of one active chat in [`availability_score`]: more than any
/// Unix time in ms until the year 2286.
const AGENT_LOAD_WEIGHT: i64 = 10_000_000_000_000;

/// Most chats an agent holds at once (SPEC: `max_chats` is 1–10).
pub const MAX_CHATS: usize = 10;

/// An agent's [`availability_score`] for every number of active chats it may
/// hold (0 to [`MAX_CHATS`]), for its idle time. The Redis engine keeps
/// them on the agent (its `scores` field, written with its `idle_since`) so
/// a script that changes the agent's chats looks its place up rather than
/// computing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvailabilityScores {
    /// By number of active chats.
    by_load: [i64; MAX_CHATS + 1],
}

impl AvailabilityScores {
    /// The scores of an agent idle since `idle_since`.
    pub fn at(idle_since: Millis) -> Self {
        let mut by_load = [0; MAX_CHATS + 1];
        for (active, score) in by_load.iter_mut().enumerate() {
            *score = availability_score(active, idle_since);
        }
        AvailabilityScores { by_load }
    }

    /// The score with `active` chats.
    pub fn with(&self, active: usize) -> i64 {
        self.by_load[active.min(MAX_CHATS)]
    }

    /// As the Redis engine stores them: the scores separated by spaces, the
    /// `n`-th (from 1) for `n - 1` active chats.
    pub fn to_field(&self) -> String {
        self.by_load
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tier() -> impl Strategy<Value = Tier> {
        prop::sample::select(Tier::ALL.to_vec())
    }

    /// Enqueue times from 2000 to 2100 (Unix ms).
    fn time() -> impl Strategy<Value = Millis> {
        946_684_800_000i64..4_102_444_800_000
    }

    fn boosts() -> impl Strategy<Value = TierBoosts> {
        prop::array::uniform4(0u32..3_600).prop_map(|s| {
            let mut b = TierBoosts::default();
            for (t, secs) in Tier::ALL.iter().zip(s) {
                b.set(*t, secs);
            }
            b
        })
    }

    proptest! {
        /// Serving the lowest rank is serving the greatest effective wait
        /// (`now - enqueued_at + boost`), whatever `now` is.
        #[test]
        fn lower_rank_is_greater_effective_wait(
            (a, b) in (time(), time()), (ta, tb) in (tier(), tier()), boosts in boosts(),
            now in time(),
        ) {
            let ra = QueueRanks::new(queue_score(a, 0), &boosts).waiting(ta);
            let rb = QueueRanks::new(queue_score(b, 1), &boosts).waiting(tb);
            let wait = |at: Millis, t: Tier| now - at + boosts.millis(t);
            if wait(a, ta) > wait(b, tb) {
                prop_assert!(ra < rb);
            }
            if ra < rb {
                prop_assert!(wait(a, ta) >= wait(b, tb));
            }
        }

        /// Whoever comes back is served before everyone who has not been
        /// served, in every tier, and keeps its order among those who came
        /// back; every rank stays exact in a double.
        #[test]
        fn returning_goes_first_keeping_its_order(
            (a, b, c) in (time(), time(), time()), (ta, tb) in (tier(), tier()),
            boosts in boosts(),
        ) {
            let back = QueueRanks::new(queue_score(a, 0), &boosts);
            let other = QueueRanks::new(queue_score(b, 1), &boosts);
            let also_back = QueueRanks::new(queue_score(c, 2), &boosts);
            prop_assert!(back.returning(ta) < other.waiting(tb));
            prop_assert_eq!(
                back.returning(ta) < also_back.returning(ta),
                back.waiting(ta) < also_back.waiting(ta)
            );
            for r in [back.returning(ta), back.waiting(ta)] {
                prop_assert!(r.unsigned_abs() < 1 << 53);
            }
        }

        /// Fewer active chats always come first; with as many, idle longest.
        #[test]
        fn fewest_chats_then_idle_longest(
            (x, y) in (0..=MAX_CHATS, 0..=MAX_CHATS), (ix, iy) in (time(), time()),
        ) {
            let (sx, sy) = (availability_score(x, ix), availability_score(y, iy));
            prop_assert_eq!(sx < sy, (x, ix) < (y, iy));
            prop_assert_eq!(AvailabilityScores::at(ix).with(x), sx);
            prop_assert!(sx.unsigned_abs() < 1 << 53);
        }
    }

    #[test]
    fn the_redis_fields_hold_the_same_numbers() {
        let ranks = QueueRanks::new(queue_score(1_800_000_000_000, 7), &TierBoosts::default());
        let json: serde_json::Value = serde_json::from_str(&ranks.to_json()).expect("json");
        assert_eq!(
            json["premium"],
            serde_json::json!([
                ranks.waiting(Tier::Premium).to_string(),
                ranks.returning(Tier::Premium).to_string()
            ])
        );
        let scores = AvailabilityScores::at(1_800_000_000_000);
        let field: Vec<i64> = scores
            .to_field()
            .split(' ')
            .map(|s| s.parse().expect("number"))
            .collect();
        assert_eq!(field.len(), MAX_CHATS + 1);
        assert_eq!(field[3], scores.with(3));
    }
}
