//! Exactly-once, in-order accounting of every message the tool sends.
//!
//! Each message's client id ([`MessageKey`]) carries the sending side, a
//! per-conversation sequence number `n` and the send time, so a receiver knows
//! exactly what to expect without asking anyone. A [`ConversationLedger`]
//! holds, for one conversation, how many messages each side sent and what
//! each side received, and turns that into [`Faults`]:
//! - **lost**: a message sent but never delivered to a party (counted per
//!   receiving party: the sender's own echo and the other side's copy);
//! - **duplicated**: a message stored twice (one id under two `seq`s), or one
//!   transcript entry delivered twice to one party;
//! - **reordered**: an entry delivered after one with a higher `seq`, or a
//!   side's message `n` after its `n+1` (tolerated while catching up after a
//!   reconnect, when live entries may overtake the `sync` replay);
//! - **seq gaps**: transcript numbers a party never saw (the hub promises a
//!   gapless `seq`).
//!
//! Nothing here does I/O; the scenario drivers feed it.

use std::collections::{BTreeMap, BTreeSet};

use switchboard::domain::Seq;

/// A conversation party.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The simulated cardholder.
    Cardholder,
    /// The simulated agent.
    Agent,
}

impl Side {
    fn index(self) -> usize {
        match self {
            Side::Cardholder => 0,
            Side::Agent => 1,
        }
    }

    fn letter(self) -> char {
        match self {
            Side::Cardholder => 'c',
            Side::Agent => 'a',
        }
    }

    /// The other party.
    pub fn other(self) -> Side {
        match self {
            Side::Cardholder => Side::Agent,
            Side::Agent => Side::Cardholder,
        }
    }

    const BOTH: [Side; 2] = [Side::Cardholder, Side::Agent];
}

/// What the tool puts in a message's `id`: `lt-<side>-<n>-<sent µs>` (a
/// client key: letters, digits and `-` only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageKey {
    /// Who sent it.
    pub side: Side,
    /// 1, 2, 3, … per side and conversation.
    pub n: u32,
    /// Send time in microseconds since the run's start instant.
    pub sent_us: u64,
}

impl MessageKey {
    /// The wire id.
    pub fn encode(&self) -> String {
        format!("lt-{}-{}-{}", self.side.letter(), self.n, self.sent_us)
    }

    /// Parses an id the tool made; `None` for anyone else's.
    pub fn parse(id: &str) -> Option<MessageKey> {
        let mut parts = id.strip_prefix("lt-")?.split('-');
        let side = match parts.next()? {
            "c" => Side::Cardholder,
            "a" => Side::Agent,
            _ => return None,
        };
        let n = parts.next()?.parse().ok()?;
        let sent_us = parts.next()?.parse().ok()?;
        if n == 0 || parts.next().is_some() {
            return None;
        }
        Some(MessageKey { side, n, sent_us })
    }
}

/// Correctness failures, summed over conversations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Faults {
    /// Deliveries that never happened.
    pub lost: u64,
    /// Messages stored or delivered twice.
    pub duplicated: u64,
    /// Deliveries out of order.
    pub reordered: u64,
    /// Transcript numbers a party never received.
    pub seq_gaps: u64,
}

impl Faults {
    /// Adds another tally.
    pub fn add(&mut self, o: &Faults) {
        self.lost += o.lost;
        self.duplicated += o.duplicated;
        self.reordered += o.reordered;
        self.seq_gaps += o.seq_gaps;
    }

    /// Any fault at all.
    pub fn any(&self) -> bool {
        self.lost + self.duplicated + self.reordered + self.seq_gaps > 0
    }
}

/// What one delivery turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// A first delivery, in order; carries the key when it was ours.
    New(Option<MessageKey>),
    /// The same entry again (or the same id under a new seq).
    Duplicate,
    /// A first delivery, but out of order.
    Reordered(Option<MessageKey>),
    /// The acknowledgement of a message resent after a reconnect: the hub
    /// already had it and says so with its original seq. Not a fault.
    ResendAck,
}

/// What one party received of one conversation.
#[derive(Debug, Clone, Default)]
struct Received {
    /// Every seq delivered.
    seqs: BTreeSet<Seq>,
    /// Per sending side: `n` → the seq it came under.
    keys: [BTreeMap<u32, Seq>; 2],
    /// While catching up after a reconnect: the hub's last seq at resume.
    resync_upto: Option<Seq>,
    /// Seqs before this were never this party's to see (an agent joining
    /// gets the earlier transcript in `assigned`, recorded via `seed`).
    first_seq: Seq,
}

impl Received {
    fn max_seq(&self) -> Seq {
        self.seqs.last().copied().unwrap_or(0)
    }

    /// The highest seq up to which nothing is missing.
    fn contiguous(&self) -> Seq {
        let mut s = self.first_seq.saturating_sub(1);
        for q in self.seqs.range(self.first_seq..) {
            if *q != s + 1 {
                break;
            }
            s = *q;
        }
        s
    }
}

/// One conversation's sent and received messages.
#[derive(Debug, Clone)]
pub struct ConversationLedger {
    /// Per side: the highest `n` sent (n runs 1..=sent without holes).
    sent: [u32; 2],
    /// Per side: `n`s that were sent again after a reconnect.
    resent: [BTreeSet<u32>; 2],
    /// Per side: `n`s the hub refused (an `error` frame naming the id):
    /// never stored, so not expected anywhere.
    refused: [BTreeSet<u32>; 2],
    /// Per side: no more messages will come from it.
    done_sending: [bool; 2],
    /// Per receiving side.
    received: [Received; 2],
    /// Faults found as deliveries arrive.
    faults: Faults,
}

impl Default for ConversationLedger {
    fn default() -> Self {
        ConversationLedger {
            sent: [0; 2],
            resent: Default::default(),
            refused: Default::default(),
            done_sending: [false; 2],
            received: [
                Received {
                    first_seq: 1,
                    ..Received::default()
                },
                Received {
                    first_seq: 1,
                    ..Received::default()
                },
            ],
            faults: Faults::default(),
        }
    }
}

impl ConversationLedger {
    /// Records that `side` sent message `n` (the next one).
    pub fn sent(&mut self, side: Side, n: u32) {
        let s = &mut self.sent[side.index()];
        *s = (*s).max(n);
    }

    /// Records that `side` sent message `n` again after a reconnect.
    pub fn resent(&mut self, side: Side, n: u32) {
        self.resent[side.index()].insert(n);
    }

    /// How many messages `side` has sent.
    pub fn sent_count(&self, side: Side) -> u32 {
        self.sent[side.index()]
    }

    /// The hub refused `side`'s message `n` with an `error` frame.
    pub fn refused(&mut self, side: Side, n: u32) {
        self.refused[side.index()].insert(n);
    }

    /// `side` will send nothing more.
    pub fn done_sending(&mut self, side: Side) {
        self.done_sending[side.index()] = true;
    }

    /// Whether `side` said it will send nothing more.
    pub fn is_done_sending(&self, side: Side) -> bool {
        self.done_sending[side.index()]
    }

    /// The messages of `sender` that `receiver` has not got yet.
    pub fn unreceived(&self, receiver: Side, sender: Side) -> Vec<u32> {
        let got = &self.received[receiver.index()].keys[sender.index()];
        let refused = &self.refused[sender.index()];
        (1..=self.sent[sender.index()])
            .filter(|n| !got.contains_key(n) && !refused.contains(n))
            .collect()
    }

    /// Whether `receiver` has every message both sides sent so far.
    pub fn has_all(&self, receiver: Side) -> bool {
        Side::BOTH
            .iter()
            .all(|s| self.unreceived(receiver, *s).is_empty())
    }

    /// The seq `receiver` should `sync` after: the end of what it holds
    /// without holes.
    pub fn sync_point(&self, receiver: Side) -> Seq {
        self.received[receiver.index()].contiguous()
    }

    /// `receiver` (re)joins and the hub is at `last_seq`: entries up to it
    /// come by replay and may interleave with live ones until caught up.
    pub fn resync(&mut self, receiver: Side, last_seq: Seq) {
        let r = &mut self.received[receiver.index()];
        if last_seq > r.contiguous() {
            r.resync_upto = Some(last_seq);
        }
    }

    /// An agent joined at `first_seq` (the transcript in `assigned` is the
    /// entries before it, passed to [`ConversationLedger::receive`] first).
    pub fn seed(&mut self, receiver: Side, first_seq: Seq) {
        self.received[receiver.index()].first_seq = first_seq.max(1);
    }

    /// One delivery of entry `seq` (with the sender's `id`, if any) to
    /// `receiver`.
    pub fn receive(&mut self, receiver: Side, seq: Seq, id: Option<&str>) -> Delivery {
        let key = id.and_then(MessageKey::parse);
        let r = &mut self.received[receiver.index()];
        let catching_up = r.resync_upto.is_some();
        let mut out_of_order = false;
        if let Some(k) = key {
            let keys = &mut r.keys[k.side.index()];
            if let Some(prev) = keys.get(&k.n) {
                if *prev == seq && k.side == receiver && self.resent[k.side.index()].contains(&k.n)
                {
                    return Delivery::ResendAck;
                }
                self.faults.duplicated += 1;
                return Delivery::Duplicate;
            }
            if !catching_up && keys.keys().next_back().is_some_and(|hi| *hi > k.n) {
                out_of_order = true;
            }
            keys.insert(k.n, seq);
        }
        if !r.seqs.insert(seq) {
            // A new id under an already used seq: the hub numbered two entries alike.
            self.faults.duplicated += 1;
            return Delivery::Duplicate;
        }
        if !catching_up && seq < r.max_seq() {
            out_of_order = true;
        }
        if let Some(upto) = r.resync_upto {
            if r.contiguous() >= upto {
                r.resync_upto = None;
            }
        }
        if out_of_order {
            self.faults.reordered += 1;
            Delivery::Reordered(key)
        } else {
            Delivery::New(key)
        }
    }

    /// Closes the books: faults seen plus everything never delivered.
    pub fn finish(&self) -> Faults {
        let mut f = self.faults;
        for receiver in Side::BOTH {
            for sender in Side::BOTH {
                f.lost += self.unreceived(receiver, sender).len() as u64;
            }
            let r = &self.received[receiver.index()];
            let expected = r.max_seq().saturating_sub(r.first_seq.saturating_sub(1));
            let have = r.seqs.range(r.first_seq..).count() as u64;
            f.seq_gaps += expected.saturating_sub(have);
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(side: Side, n: u32) -> String {
        MessageKey {
            side,
            n,
            sent_us: 7,
        }
        .encode()
    }

    /// A clean two-message exchange: both parties see seq 1 and 2.
    fn deliver_both(l: &mut ConversationLedger, seq: Seq, side: Side, n: u32) {
        for r in Side::BOTH {
            assert!(matches!(
                l.receive(r, seq, Some(&id(side, n))),
                Delivery::New(Some(_))
            ));
        }
    }

    #[test]
    fn keys_round_trip() {
        let k = MessageKey {
            side: Side::Agent,
            n: 12,
            sent_us: 99,
        };
        assert_eq!(MessageKey::parse(&k.encode()), Some(k));
        assert!(switchboard::domain::ClientKey::parse(&k.encode()).is_ok());
        assert_eq!(MessageKey::parse("lt-x-1-1"), None);
        assert_eq!(MessageKey::parse("someone-else"), None);
        assert_eq!(MessageKey::parse("lt-c-0-1"), None);
    }

    #[test]
    fn clean_conversation_has_no_faults() {
        let mut l = ConversationLedger::default();
        l.sent(Side::Cardholder, 1);
        deliver_both(&mut l, 1, Side::Cardholder, 1);
        l.sent(Side::Agent, 1);
        deliver_both(&mut l, 2, Side::Agent, 1);
        assert!(l.has_all(Side::Agent) && l.has_all(Side::Cardholder));
        assert_eq!(l.finish(), Faults::default());
    }

    #[test]
    fn dropped_message_is_lost() {
        let mut l = ConversationLedger::default();
        l.sent(Side::Cardholder, 1);
        l.sent(Side::Cardholder, 2);
        deliver_both(&mut l, 1, Side::Cardholder, 1);
        // Message 2 was stored (the sender's echo came back) but never reached the agent.
        l.receive(Side::Cardholder, 2, Some(&id(Side::Cardholder, 2)));
        assert!(!l.has_all(Side::Agent));
        assert_eq!(l.unreceived(Side::Agent, Side::Cardholder), vec![2]);
        let f = l.finish();
        assert_eq!(f.lost, 1);
        assert_eq!(f.duplicated, 0);
    }

    #[test]
    fn duplicate_is_detected() {
        let mut l = ConversationLedger::default();
        l.sent(Side::Agent, 1);
        deliver_both(&mut l, 1, Side::Agent, 1);
        // Same entry twice.
        assert_eq!(
            l.receive(Side::Cardholder, 1, Some(&id(Side::Agent, 1))),
            Delivery::Duplicate
        );
        // Same id stored again under a new seq.
        assert_eq!(
            l.receive(Side::Agent, 2, Some(&id(Side::Agent, 1))),
            Delivery::Duplicate
        );
        // A system entry delivered twice.
        l.receive(Side::Agent, 3, None);
        assert_eq!(l.receive(Side::Agent, 3, None), Delivery::Duplicate);
        let f = l.finish();
        assert_eq!(f.duplicated, 3);
        assert_eq!(f.lost, 0);
    }

    #[test]
    fn reorder_is_detected() {
        let mut l = ConversationLedger::default();
        for n in 1..=3 {
            l.sent(Side::Cardholder, n);
        }
        let r = Side::Agent;
        l.receive(r, 1, Some(&id(Side::Cardholder, 1)));
        l.receive(r, 3, Some(&id(Side::Cardholder, 3)));
        assert!(matches!(
            l.receive(r, 2, Some(&id(Side::Cardholder, 2))),
            Delivery::Reordered(_)
        ));
        let f = l.finish();
        assert_eq!(f.reordered, 1);
        assert_eq!(f.lost, 3, "the cardholder never saw its own three echoes");
        assert_eq!(f.seq_gaps, 0);
    }

    #[test]
    fn refused_message_is_not_lost() {
        let mut l = ConversationLedger::default();
        l.sent(Side::Cardholder, 1);
        l.refused(Side::Cardholder, 1);
        assert!(l.has_all(Side::Agent));
        assert_eq!(l.finish(), Faults::default());
    }

    #[test]
    fn seq_gap_is_counted() {
        let mut l = ConversationLedger::default();
        l.receive(Side::Cardholder, 1, None);
        l.receive(Side::Cardholder, 3, None);
        assert_eq!(l.finish().seq_gaps, 1);
    }

    #[test]
    fn replay_after_reconnect_may_interleave_with_live_entries() {
        let mut l = ConversationLedger::default();
        for n in 1..=4 {
            l.sent(Side::Agent, n);
        }
        let c = Side::Cardholder;
        l.receive(c, 1, Some(&id(Side::Agent, 1)));
        // Dropped; entries 2 and 3 were stored meanwhile. Rejoins at last_seq 3.
        assert_eq!(l.sync_point(c), 1);
        l.resync(c, 3);
        // Live entry 4 overtakes the replay of 2 and 3.
        l.receive(c, 4, Some(&id(Side::Agent, 4)));
        l.receive(c, 2, Some(&id(Side::Agent, 2)));
        l.receive(c, 3, Some(&id(Side::Agent, 3)));
        // Caught up: order is checked again.
        l.sent(Side::Agent, 5);
        l.receive(c, 5, Some(&id(Side::Agent, 5)));
        let f = l.finish();
        assert_eq!((f.reordered, f.duplicated, f.seq_gaps), (0, 0, 0));
        assert_eq!(
            f.lost, 5,
            "the agent's own echoes were not fed in this test"
        );
    }

    #[test]
    fn resend_ack_is_not_a_duplicate() {
        let mut l = ConversationLedger::default();
        l.sent(Side::Cardholder, 1);
        l.receive(Side::Cardholder, 1, Some(&id(Side::Cardholder, 1)));
        l.resent(Side::Cardholder, 1);
        assert_eq!(
            l.receive(Side::Cardholder, 1, Some(&id(Side::Cardholder, 1))),
            Delivery::ResendAck
        );
        // But the other party getting it twice is a duplicate.
        l.receive(Side::Agent, 1, Some(&id(Side::Cardholder, 1)));
        assert_eq!(
            l.receive(Side::Agent, 1, Some(&id(Side::Cardholder, 1))),
            Delivery::Duplicate
        );
        assert_eq!(l.finish().duplicated, 1);
    }

    #[test]
    fn late_joining_agent_counts_from_its_first_seq() {
        let mut l = ConversationLedger::default();
        l.seed(Side::Agent, 3);
        l.receive(Side::Agent, 3, None);
        l.receive(Side::Agent, 4, None);
        assert_eq!(l.finish().seq_gaps, 0);
        assert_eq!(l.sync_point(Side::Agent), 4);
    }
}
