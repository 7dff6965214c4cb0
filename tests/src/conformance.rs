//! The store conformance suite: every engine must pass every check here.
//!
//! Each check gets a fresh, empty store and drives it with explicit clock
//! values, so routing order, aging and grace periods are tested without
//! waiting for real time to pass.

use std::sync::Arc;

use crate::eventually;

use switchboard::domain::callback::Cause;
use switchboard::domain::conversation::Summary;
use switchboard::domain::{
    AgentState, Author, ConversationId, ConversationKind, ConversationStatus, Desk, EndReason,
    Millis, Team, Tier, TierBoosts, Topic, UserId,
};
use switchboard::domain::{CallbackOutcome, CallbackStatus};
use switchboard::store::{
    AgentProfile, GraceOutcome, NewCallback, NewConversation, NewEntry, NotificationBacklog,
    Redaction, Settle, Side, Store, StoreError, TranscriptBounds,
};

mod threads;
pub use threads::*;

/// A fixed start of time for the checks.
pub(crate) const T0: Millis = 1_800_000_000_000;

fn user(s: &str) -> UserId {
    UserId(s.to_owned())
}

/// Opens a queued conversation for cardholder `who` (shared with other suites).
pub async fn open(s: &dyn Store, who: &str, tier: Tier, at: Millis) -> ConversationId {
    s.open_conversation(NewConversation {
        cardholder: user(who),
        name: None,
        tier,
        topic: Topic::General,
        enqueue: true,
        phone_last4: None,
        history: Vec::new(),
        boosts: TierBoosts::default(),
        now: at,
    })
    .await
    .expect("open")
    .conversation
    .id
}

pub(crate) async fn agent(s: &dyn Store, who: &str, teams: &[Tier], max: u8, at: Millis) {
    let profile = AgentProfile {
        sub: user(who),
        name: who.to_owned(),
        teams: teams.iter().map(|t| Team::Tier(*t)).collect(),
        max_chats: max,
    };
    s.register_agent(&profile, at).await.expect("register");
    s.presence_up(&user(who), Side::Agent, at)
        .await
        .expect("presence");
    s.set_agent_state(&user(who), AgentState::Available, at)
        .await
        .expect("available");
}

/// Routes once and returns (conversation, agent) pairs in order.
async fn route(s: &dyn Store, at: Millis) -> Vec<(ConversationId, String)> {
    s.route(at)
        .await
        .expect("route")
        .into_iter()
        .map(|a| {
            let agent = a.conversation.agent.clone().expect("assigned has agent");
            (a.conversation.id, agent.0)
        })
        .collect()
}

pub async fn fifo_within_tier(s: &dyn Store) {
    let a = open(s, "c1", Tier::Standard, T0).await;
    let b = open(s, "c2", Tier::Standard, T0).await;
    let c = open(s, "c3", Tier::Standard, T0 + 5).await;
    agent(s, "ag", &[Tier::Standard], 1, T0).await;
    assert_eq!(route(s, T0 + 10).await, vec![(a.clone(), "ag".into())]);
    s.end(&a, Some(&user("ag")), EndReason::AgentEnded, T0 + 20)
        .await
        .expect("end");
    assert_eq!(route(s, T0 + 21).await, vec![(b.clone(), "ag".into())]);
    s.end(&b, Some(&user("ag")), EndReason::AgentEnded, T0 + 30)
        .await
        .expect("end");
    assert_eq!(route(s, T0 + 31).await, vec![(c, "ag".into())]);
}

pub async fn premium_boost_and_aging(s: &dyn Store) {
    // A standard chat that waited 60 s loses to a premium one that just came (boost 120 s)…
    let std_early = open(s, "s1", Tier::Standard, T0).await;
    let premium = open(s, "p1", Tier::Premium, T0 + 60_000).await;
    // …but one that waited longer than the boost wins over a fresh premium one.
    let std_old = open(s, "s0", Tier::Standard, T0 - 200_000).await;
    agent(s, "ag", &[Tier::Standard, Tier::Premium], 1, T0).await;
    let now = T0 + 60_000;
    assert_eq!(
        route(s, now).await,
        vec![(std_old.clone(), "ag".into())],
        "aging: 260 s wait beats premium's 120 s boost"
    );
    s.end(&std_old, Some(&user("ag")), EndReason::AgentEnded, now)
        .await
        .expect("end");
    assert_eq!(
        route(s, now).await,
        vec![(premium.clone(), "ag".into())],
        "premium boost beats a 60 s standard wait"
    );
    s.end(&premium, Some(&user("ag")), EndReason::AgentEnded, now)
        .await
        .expect("end");
    assert_eq!(route(s, now).await, vec![(std_early, "ag".into())]);
}

pub async fn business_isolation(s: &dyn Store) {
    let biz = open(s, "b1", Tier::Business, T0).await;
    agent(
        s,
        "general",
        &[Tier::Standard, Tier::Premium, Tier::Prepaid],
        3,
        T0,
    )
    .await;
    assert!(
        route(s, T0 + 1).await.is_empty(),
        "business chats never reach general agents"
    );
    agent(s, "specialist", &[Tier::Business], 3, T0).await;
    assert_eq!(route(s, T0 + 2).await, vec![(biz, "specialist".into())]);
}

pub async fn capacity_and_least_loaded(s: &dyn Store) {
    for i in 0..5 {
        open(s, &format!("c{i}"), Tier::Standard, T0 + i).await;
    }
    agent(s, "a", &[Tier::Standard], 2, T0).await;
    agent(s, "b", &[Tier::Standard], 2, T0 + 1).await;
    let pairs = route(s, T0 + 100).await;
    assert_eq!(pairs.len(), 4, "two agents with two slots each take four");
    let per = |who: &str| pairs.iter().filter(|(_, a)| a == who).count();
    assert_eq!((per("a"), per("b")), (2, 2), "no agent above max_chats");
    // Least loaded first: the first two assignments went to different agents.
    assert_ne!(
        pairs[0].1, pairs[1].1,
        "the second chat goes to the agent with fewer chats"
    );
    assert_eq!(
        s.queue_snapshot(Tier::Standard)
            .await
            .expect("snapshot")
            .places
            .len(),
        1
    );
    assert!(route(s, T0 + 101).await.is_empty());
}

pub async fn idle_longest_breaks_ties(s: &dyn Store) {
    agent(s, "recent", &[Tier::Prepaid], 1, T0 + 50).await;
    agent(s, "waiting", &[Tier::Prepaid], 1, T0).await;
    let c = open(s, "c", Tier::Prepaid, T0 + 60).await;
    assert_eq!(route(s, T0 + 70).await, vec![(c, "waiting".into())]);
}

pub async fn positions_after_leave(s: &dyn Store) {
    let ids: Vec<_> = futures_join(s, 4).await;
    let snap = s.queue_snapshot(Tier::Standard).await.expect("snapshot");
    let pos: Vec<_> = snap
        .places
        .iter()
        .map(|p| (p.conversation.clone(), p.position))
        .collect();
    assert_eq!(pos, ids.iter().cloned().zip(1..).collect::<Vec<_>>());
    s.end(&ids[1], None, EndReason::CardholderLeft, T0 + 100)
        .await
        .expect("leave");
    let snap = s.queue_snapshot(Tier::Standard).await.expect("snapshot");
    let pos: Vec<_> = snap
        .places
        .iter()
        .map(|p| (p.conversation.clone(), p.position))
        .collect();
    assert_eq!(
        pos,
        vec![
            (ids[0].clone(), 1),
            (ids[2].clone(), 2),
            (ids[3].clone(), 3)
        ]
    );
    let ended = s.conversation(&ids[1]).await.expect("get").expect("exists");
    assert_eq!(ended.status, ConversationStatus::Ended);
    assert!(s
        .open_conversation_of(&user("c1"))
        .await
        .expect("get")
        .is_none());
}

async fn futures_join(s: &dyn Store, n: i64) -> Vec<ConversationId> {
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(open(s, &format!("c{i}"), Tier::Standard, T0 + i).await);
    }
    ids
}

fn entry(author: Author, sender: Option<&str>, text: &str, key: Option<&str>) -> NewEntry {
    NewEntry {
        author,
        sender: sender.map(user),
        text: text.to_owned(),
        client_id: key.map(str::to_owned),
        now: T0,
        redact: Vec::new(),
    }
}

pub async fn gapless_seq_and_idempotent_append(s: &dyn Store) {
    let c = open(s, "c", Tier::Standard, T0).await;
    let mut seqs = Vec::new();
    for i in 0..5 {
        let text = format!("m{i}");
        let a = s
            .append(
                &c,
                entry(Author::Cardholder, Some("c"), &text, Some(&format!("k{i}"))),
            )
            .await
            .expect("append");
        assert!(!a.duplicate);
        seqs.push(a.entry.seq);
    }
    assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
    let again = s
        .append(
            &c,
            entry(Author::Cardholder, Some("c"), "m2 resent", Some("k2")),
        )
        .await
        .expect("append");
    assert!(
        again.duplicate,
        "a resend with the same id is not stored twice"
    );
    assert_eq!((again.entry.seq, again.entry.text.as_str()), (3, "m2"));
    let sys = s
        .append(&c, entry(Author::System, None, "note", None))
        .await
        .expect("append");
    assert_eq!(sys.entry.seq, 6);
    let tail = s.transcript(&c, 4, 100).await.expect("transcript");
    assert_eq!(tail.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![5, 6]);
    assert_eq!(tail[0].id.as_deref(), Some("k4"));
    let conv = s.conversation(&c).await.expect("get").expect("exists");
    assert_eq!(conv.last_seq, 6);
}

pub async fn open_is_idempotent(s: &dyn Store) {
    let first = s
        .open_conversation(NewConversation {
            cardholder: user("c"),
            name: Some("C".into()),
            tier: Tier::Premium,
            topic: Topic::Billing,
            enqueue: true,
            phone_last4: None,
            history: Vec::new(),
            boosts: TierBoosts::default(),
            now: T0,
        })
        .await
        .expect("open");
    assert!(first.created);
    let again = s
        .open_conversation(NewConversation {
            cardholder: user("c"),
            name: None,
            tier: Tier::Premium,
            topic: Topic::General,
            enqueue: true,
            phone_last4: None,
            history: Vec::new(),
            boosts: TierBoosts::default(),
            now: T0 + 1,
        })
        .await
        .expect("open");
    assert!(!again.created);
    assert_eq!(again.conversation.id, first.conversation.id);
    assert_eq!(again.conversation.topic, Topic::Billing);
    assert_eq!(
        s.queue_snapshot(Tier::Premium)
            .await
            .expect("snap")
            .places
            .len(),
        1
    );
}

pub async fn transfer_goes_to_head(s: &dyn Store) {
    let waiting = open(s, "w", Tier::Business, T0).await;
    let moving = open(s, "m", Tier::Standard, T0 + 10_000).await;
    agent(s, "ag", &[Tier::Standard], 1, T0).await;
    assert_eq!(
        route(s, T0 + 10_001).await,
        vec![(moving.clone(), "ag".into())]
    );
    let c = s
        .transfer(
            &moving,
            &user("ag"),
            Tier::Business,
            Some("Asked about a business card".into()),
            T0 + 20_000,
        )
        .await
        .expect("transfer");
    assert_eq!(
        (c.status, c.tier, c.card_tier),
        (ConversationStatus::Queued, Tier::Business, Tier::Standard)
    );
    let snap = s.queue_snapshot(Tier::Business).await.expect("snap");
    assert_eq!(
        snap.places[0].conversation, moving,
        "a transfer goes to the head of the queue"
    );
    assert_eq!(snap.places[1].conversation, waiting);
    let other = s
        .transfer(&moving, &user("ag"), Tier::Premium, None, T0 + 20_001)
        .await;
    assert!(
        matches!(other, Err(StoreError::NoConversation)),
        "only the holding agent transfers"
    );
    // The note travels with the chat to the next agent.
    let handed: Vec<_> = c
        .transfers
        .iter()
        .map(|t| {
            (
                t.from.as_str(),
                t.from_tier,
                t.tier,
                t.by_name.as_deref(),
                t.note.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        handed,
        vec![(
            "ag",
            Some(Tier::Standard),
            Tier::Business,
            Some("ag"),
            Some("Asked about a business card")
        )]
    );
    agent(s, "biz", &[Tier::Business], 1, T0).await;
    let next = s.route(T0 + 20_002).await.expect("route");
    assert_eq!(next[0].conversation.id, moving);
    assert_eq!(next[0].conversation.transfers, c.transfers);
}

/// A cardholder rates its own ended conversation once; nobody else, and
/// not before the end.
pub async fn ratings_are_kept_once(s: &dyn Store) {
    use switchboard::domain::conversation::Rating;
    let rating = |score: u8| Rating {
        score,
        comment: Some("Quick and kind".into()),
        at: T0 + 9_000,
    };
    let id = open(s, "rater", Tier::Premium, T0).await;
    agent(s, "rate-ag", &[Tier::Premium], 1, T0).await;
    route(s, T0 + 1).await;
    let early = s.rate(&id, &user("rater"), rating(5)).await;
    assert!(
        matches!(early, Err(StoreError::NotAllowed)),
        "not while the chat is open: {early:?}"
    );
    s.end(
        &id,
        Some(&user("rate-ag")),
        EndReason::AgentEnded,
        T0 + 5_000,
    )
    .await
    .expect("end");
    let theirs = s.rate(&id, &user("someone-else"), rating(1)).await;
    assert!(matches!(theirs, Err(StoreError::NotAllowed)), "{theirs:?}");
    let rated = s.rate(&id, &user("rater"), rating(4)).await.expect("rate");
    assert_eq!(rated.rating, Some(rating(4)));
    let again = s.rate(&id, &user("rater"), rating(1)).await;
    assert!(matches!(again, Err(StoreError::NotAllowed)), "{again:?}");
    let kept = s.conversation(&id).await.expect("read").expect("kept");
    assert_eq!(kept.rating, Some(rating(4)), "the first rating stays");
    let unknown = s
        .rate(&ConversationId("c-nope".into()), &user("rater"), rating(3))
        .await;
    assert!(matches!(unknown, Err(StoreError::NoConversation)));
}

/// Internal notes: written by the agent holding the chat, kept on the
/// record, bounded, and never part of the transcript.
pub async fn notes_stay_with_staff(s: &dyn Store) {
    use switchboard::domain::conversation::Note;
    use switchboard::store::MAX_NOTES;
    let note = |by: &str, text: &str| Note {
        at: T0 + 10,
        by: user(by),
        by_name: by.to_owned(),
        text: text.to_owned(),
    };
    let id = open(s, "noted", Tier::Standard, T0).await;
    let queued = s.add_note(&id, note("note-ag", "too early")).await;
    assert!(matches!(queued, Err(StoreError::NoConversation)));
    agent(s, "note-ag", &[Tier::Standard], 1, T0).await;
    route(s, T0 + 1).await;
    let c = s
        .add_note(&id, note("note-ag", "Verified by voice earlier"))
        .await
        .expect("note");
    assert_eq!(c.notes, vec![note("note-ag", "Verified by voice earlier")]);
    let stranger = s.add_note(&id, note("other-ag", "hi")).await;
    assert!(matches!(stranger, Err(StoreError::NoConversation)));
    let entries = s.transcript(&id, 0, 100).await.expect("transcript");
    assert!(
        entries.iter().all(|e| !e.text.contains("Verified")),
        "a note is never a transcript entry: {entries:?}"
    );
    for i in 1..MAX_NOTES {
        s.add_note(&id, note("note-ag", &format!("n{i}")))
            .await
            .expect("note");
    }
    let full = s.add_note(&id, note("note-ag", "one too many")).await;
    assert!(matches!(full, Err(StoreError::NotAllowed)), "{full:?}");
    let kept = s.conversation(&id).await.expect("read").expect("kept");
    assert_eq!(kept.notes.len(), MAX_NOTES);
}

pub async fn cardholder_grace(s: &dyn Store) {
    let kept = open(s, "kept", Tier::Standard, T0).await;
    let lost = open(s, "lost", Tier::Standard, T0).await;
    for who in ["kept", "lost"] {
        s.presence_up(&user(who), Side::Cardholder, T0)
            .await
            .expect("up");
        s.presence_down(&user(who), Side::Cardholder, T0 + 1000, 60_000)
            .await
            .expect("down");
    }
    s.presence_up(&user("kept"), Side::Cardholder, T0 + 1000)
        .await
        .expect("back");
    assert!(
        s.expire_graces(T0 + 60_999)
            .await
            .expect("expire")
            .is_empty(),
        "not before 60 s"
    );
    let out = s.expire_graces(T0 + 61_000).await.expect("expire");
    assert_eq!(out.len(), 1);
    match &out[0] {
        GraceOutcome::Abandoned(c) => assert_eq!(c.id, lost),
        other => panic!("expected abandoned, got {other:?}"),
    }
    let snap = s.queue_snapshot(Tier::Standard).await.expect("snap");
    assert_eq!(
        snap.places
            .iter()
            .map(|p| p.conversation.clone())
            .collect::<Vec<_>>(),
        vec![kept]
    );
}

pub async fn agent_grace_requeues_at_head(s: &dyn Store) {
    let served = open(s, "served", Tier::Premium, T0).await;
    agent(s, "ag", &[Tier::Premium], 1, T0).await;
    assert_eq!(route(s, T0 + 1).await.len(), 1);
    let later = open(s, "later", Tier::Premium, T0 + 5).await;
    s.presence_down(&user("ag"), Side::Agent, T0 + 100, 30_000)
        .await
        .expect("down");
    assert!(s
        .expire_graces(T0 + 30_099)
        .await
        .expect("expire")
        .is_empty());
    let out = s.expire_graces(T0 + 30_100).await.expect("expire");
    assert!(
        matches!(&out[..], [GraceOutcome::Requeued { conversation, agent }] if conversation.id == served && agent.0 == "ag"),
        "{out:?}"
    );
    let snap = s.queue_snapshot(Tier::Premium).await.expect("snap");
    let order: Vec<_> = snap.places.iter().map(|p| p.conversation.clone()).collect();
    assert_eq!(
        order,
        vec![served.clone(), later],
        "back at the head, original place kept"
    );
    // The agent went away when its last connection dropped: no new chats for it.
    assert!(route(s, T0 + 30_200).await.is_empty());
    s.presence_up(&user("ag"), Side::Agent, T0 + 30_200)
        .await
        .expect("up");
    s.set_agent_state(&user("ag"), AgentState::Available, T0 + 30_300)
        .await
        .expect("available");
    assert_eq!(route(s, T0 + 30_301).await, vec![(served, "ag".into())]);
}

/// Chats that come back to a queue (their agent dropped) are served before
/// everyone not served yet, in their original order among themselves,
/// whichever came back first.
pub async fn returning_chats_keep_their_original_order(s: &dyn Store) {
    let first = open(s, "ret-1", Tier::Standard, T0).await;
    let second = open(s, "ret-2", Tier::Standard, T0 + 10).await;
    agent(s, "ret-ag1", &[Tier::Standard], 1, T0).await;
    agent(s, "ret-ag2", &[Tier::Standard], 1, T0 + 1).await;
    assert_eq!(
        route(s, T0 + 20).await,
        vec![
            (first.clone(), "ret-ag1".into()),
            (second.clone(), "ret-ag2".into())
        ]
    );
    let waiting = open(s, "ret-3", Tier::Standard, T0 + 30).await;
    // The first chat's agent drops first, the second's a moment later.
    s.presence_down(&user("ret-ag1"), Side::Agent, T0 + 100, 30_000)
        .await
        .expect("down");
    s.presence_down(&user("ret-ag2"), Side::Agent, T0 + 200, 30_000)
        .await
        .expect("down");
    assert_eq!(s.expire_graces(T0 + 30_100).await.expect("expire").len(), 1);
    assert_eq!(s.expire_graces(T0 + 30_200).await.expect("expire").len(), 1);
    let snap = s.queue_snapshot(Tier::Standard).await.expect("snap");
    let order: Vec<_> = snap.places.iter().map(|p| p.conversation.clone()).collect();
    assert_eq!(
        order,
        vec![first, second, waiting],
        "both back ahead of the one never served, in their original order"
    );
}

/// Ending a chat ends its cardholder's grace period with it: a period left
/// running would abandon the cardholder's next conversation when it ran out.
pub async fn ending_a_chat_ends_its_grace_period(s: &dyn Store) {
    s.presence_up(&user("gr-c"), Side::Cardholder, T0)
        .await
        .expect("up");
    let chat = open(s, "gr-c", Tier::Standard, T0).await;
    agent(s, "gr-ag", &[Tier::Standard], 1, T0).await;
    assert_eq!(route(s, T0 + 1).await.len(), 1);
    s.presence_down(&user("gr-c"), Side::Cardholder, T0 + 10, 60_000)
        .await
        .expect("down");
    s.end(&chat, Some(&user("gr-ag")), EndReason::AgentEnded, T0 + 20)
        .await
        .expect("end");
    let next = open(s, "gr-c", Tier::Standard, T0 + 30).await;
    assert!(
        s.expire_graces(T0 + 60_010)
            .await
            .expect("expire")
            .is_empty(),
        "no grace period was left running"
    );
    let standing = s
        .queue_standing(&next, Tier::Standard)
        .await
        .expect("standing");
    assert_eq!(standing.map(|q| q.position), Some(1), "still waiting");
}

/// What operators read: the store answers, a heartbeat keeps one epoch,
/// and the queue and inbox figures count what waits (a disconnected
/// cardholder's place too) and how long the oldest has waited.
pub async fn liveness_and_waiting_figures(s: &dyn Store) {
    s.ping().await.expect("ping");
    let sweep = switchboard::store::Sweep {
        graces: switchboard::store::Graces::default(),
        stale_ms: 10_000,
        notice: "An agent was disconnected".into(),
    };
    let first = s.heartbeat(T0, &sweep).await.expect("beat");
    let second = s.heartbeat(T0 + 1_000, &sweep).await.expect("beat");
    assert_eq!(first.epoch, second.epoch, "the store kept its data");
    assert!(second.told.is_empty() && !second.revived);

    s.presence_up(&user("fig-1"), Side::Cardholder, T0)
        .await
        .expect("up");
    open(s, "fig-1", Tier::Standard, T0).await;
    open(s, "fig-2", Tier::Standard, T0 + 1_000).await;
    s.presence_down(&user("fig-1"), Side::Cardholder, T0 + 2_000, 60_000)
        .await
        .expect("down");
    let stats = s.queue_stats(T0 + 5_000).await.expect("stats");
    let of = |tier: Tier| {
        stats
            .iter()
            .find(|q| q.tier == tier)
            .map(|q| (q.waiting, q.oldest_wait_s))
    };
    assert_eq!(of(Tier::Standard), Some((2, 5)), "{stats:?}");
    assert_eq!(of(Tier::Premium), Some((0, 0)), "{stats:?}");

    thread(s, "fig-3", Tier::Business, T0 + 3_000).await;
    let inboxes = s.inbox_stats().await.expect("inbox stats");
    let business = inboxes
        .iter()
        .find(|i| i.tier == Tier::Business)
        .expect("the business inbox");
    assert_eq!(
        (business.depth, business.oldest_queued_at),
        (1, Some(T0 + 3_000))
    );
    s.retire().await.expect("retire");
}

pub async fn sender_must_belong(s: &dyn Store) {
    let c = open(s, "c", Tier::Standard, T0).await;
    let stranger = s
        .append(
            &c,
            entry(Author::Cardholder, Some("mallory"), "hi", Some("x")),
        )
        .await;
    assert!(matches!(stranger, Err(StoreError::NoConversation)));
    let not_agent = s
        .append(&c, entry(Author::Agent, Some("ag"), "hi", Some("x")))
        .await;
    assert!(
        matches!(not_agent, Err(StoreError::NoConversation)),
        "an agent not holding it cannot write"
    );
    // A user is (role, sub): with agent bob holding her chat, an agent whose
    // sub is the cardholder's cannot write as agent, nor bob as cardholder.
    agent(s, "bob", &[Tier::Standard], 1, T0).await;
    assert_eq!(route(s, T0 + 1).await, vec![(c.clone(), "bob".into())]);
    let agent_c = s
        .append(&c, entry(Author::Agent, Some("c"), "hi", Some("z")))
        .await;
    assert!(
        matches!(agent_c, Err(StoreError::NoConversation)),
        "the cardholder's sub never makes an agent of anyone"
    );
    let cardholder_bob = s
        .append(&c, entry(Author::Cardholder, Some("bob"), "hi", Some("z")))
        .await;
    assert!(
        matches!(cardholder_bob, Err(StoreError::NoConversation)),
        "the agent's sub never makes a cardholder of anyone"
    );
    s.append(&c, entry(Author::Agent, Some("bob"), "hi", Some("z")))
        .await
        .expect("the holding agent writes");
    s.end(&c, None, EndReason::CardholderLeft, T0 + 1)
        .await
        .expect("end");
    let late = s
        .append(&c, entry(Author::Cardholder, Some("c"), "hi", Some("y")))
        .await;
    assert!(
        matches!(late, Err(StoreError::NoConversation)),
        "no writes after the end"
    );
}

fn callback(who: &str, tier: Tier, desk: Desk, at: Millis) -> NewCallback {
    NewCallback {
        desk,
        sub: user(who),
        name: Some(format!("Name of {who}")),
        tier,
        cause: Cause::Topic {
            topic: Topic::LockedAccount,
        },
        conversation: ConversationId(format!("c-{who}")),
        phone_last4: Some("4321".into()),
        now: at,
    }
}

pub async fn callbacks_one_open_per_desk_premium_first(s: &dyn Store) {
    let (old, created) = s
        .request_callback(callback("old", Tier::Standard, Desk::Identity, T0))
        .await
        .expect("request");
    assert!(created);
    assert_eq!(old.status, CallbackStatus::Requested);
    let (again, created) = s
        .request_callback(callback("old", Tier::Standard, Desk::Identity, T0 + 5))
        .await
        .expect("request");
    assert!(!created, "one open request per cardholder and desk");
    assert_eq!(again.reference, old.reference);
    let (fraud, created) = s
        .request_callback(callback("old", Tier::Standard, Desk::Fraud, T0 + 6))
        .await
        .expect("request");
    assert!(created, "another desk is another request");
    let (newer, _) = s
        .request_callback(callback("newer", Tier::Business, Desk::Identity, T0 + 10))
        .await
        .expect("request");
    let (premium, _) = s
        .request_callback(callback("vip", Tier::Premium, Desk::Identity, T0 + 20))
        .await
        .expect("request");
    let order: Vec<_> = s
        .callbacks(Desk::Identity)
        .await
        .expect("list")
        .into_iter()
        .map(|r| r.reference)
        .collect();
    assert_eq!(
        order,
        vec![premium.reference, old.reference.clone(), newer.reference]
    );
    let mine: Vec<_> = s
        .callbacks_of(&user("old"))
        .await
        .expect("mine")
        .into_iter()
        .map(|r| r.reference)
        .collect();
    assert_eq!(mine.len(), 2);
    assert!(mine.contains(&old.reference) && mine.contains(&fraud.reference));
}

pub async fn callback_claims_and_outcomes(s: &dyn Store) {
    let (r, _) = s
        .request_callback(callback("c", Tier::Standard, Desk::Fraud, T0))
        .await
        .expect("request");
    assert!(
        matches!(
            s.claim_callback(&r.reference, &user("d0"), &[Desk::Identity], T0)
                .await,
            Err(StoreError::NoConversation)
        ),
        "an agent of another desk cannot claim"
    );
    let claimed = s
        .claim_callback(&r.reference, &user("d1"), &[Desk::Fraud], T0)
        .await
        .expect("claim");
    assert_eq!(
        (claimed.status, claimed.claimed_by),
        (CallbackStatus::Claimed, Some(user("d1")))
    );
    assert!(
        matches!(
            s.claim_callback(&r.reference, &user("d2"), &[Desk::Fraud], T0)
                .await,
            Err(StoreError::NotAllowed)
        ),
        "exactly one claimer wins"
    );
    assert!(
        matches!(
            s.complete_callback(
                &r.reference,
                &user("d2"),
                CallbackOutcome::Reached,
                None,
                T0
            )
            .await,
            Err(StoreError::NotAllowed)
        ),
        "only the claimer completes"
    );
    for attempt in 1..=3u32 {
        if attempt > 1 {
            s.claim_callback(&r.reference, &user("d2"), &[Desk::Fraud], T0)
                .await
                .expect("claim again");
        }
        let who = if attempt == 1 { "d1" } else { "d2" };
        let done = s
            .complete_callback(
                &r.reference,
                &user(who),
                CallbackOutcome::NoAnswer,
                Some(format!("Voicemail {attempt}")),
                T0,
            )
            .await
            .expect("complete");
        assert_eq!(done.attempts, attempt);
        assert_eq!(done.history.len(), attempt as usize);
        let last = done.history.last().expect("a call");
        assert_eq!(
            (last.outcome, last.by.as_ref(), last.note.clone()),
            (
                CallbackOutcome::NoAnswer,
                Some(&user(who)),
                Some(format!("Voicemail {attempt}"))
            ),
            "each call keeps who, how and the note"
        );
        let want = if attempt < 3 {
            CallbackStatus::NoAnswer
        } else {
            CallbackStatus::Failed
        };
        assert_eq!(done.status, want);
        let listed = s.callbacks(Desk::Fraud).await.expect("list").len();
        assert_eq!(
            listed,
            usize::from(attempt < 3),
            "no_answer stays listed, failed leaves"
        );
    }
    // A closed request frees the desk for a new one.
    let (fresh, created) = s
        .request_callback(callback("c", Tier::Standard, Desk::Fraud, T0 + 100))
        .await
        .expect("request");
    assert!(created);
    assert_ne!(fresh.reference, r.reference);
    let reached = {
        s.claim_callback(&fresh.reference, &user("d1"), &[Desk::Fraud], T0 + 100)
            .await
            .expect("claim");
        s.complete_callback(
            &fresh.reference,
            &user("d1"),
            CallbackOutcome::Reached,
            None,
            T0 + 100,
        )
        .await
        .expect("complete")
    };
    assert_eq!(reached.status, CallbackStatus::Reached);
    assert!(s.callbacks(Desk::Fraud).await.expect("list").is_empty());
    // Each agent's closed requests ("done today"): d2 failed the first, d1 reached the second.
    let refs = |list: Vec<switchboard::domain::callback::CallbackRequest>| -> Vec<_> {
        list.into_iter().map(|r| r.reference).collect()
    };
    assert_eq!(
        refs(s.closed_by(&user("d1"), 0).await.expect("done")),
        vec![fresh.reference.clone()]
    );
    assert_eq!(
        refs(s.closed_by(&user("d2"), 0).await.expect("done")),
        vec![r.reference.clone()]
    );
    assert!(s
        .closed_by(&user("d1"), i64::MAX)
        .await
        .expect("done")
        .is_empty());
    assert_eq!(reached.name.as_deref(), Some("Name of c"));
    assert_eq!(reached.reason, "Locked account (chosen topic)");
    assert_eq!(
        reached.cause,
        Some(Cause::Topic {
            topic: Topic::LockedAccount
        })
    );
}

/// Subs full of key syntax reach no other user's keys: agent `x:convs` and
/// agent `x` are two agents with two chat sets, and routing keeps working.
pub async fn crafted_subs_stay_apart(s: &dyn Store) {
    agent(s, "agv-x", &[Tier::Standard], 1, T0).await;
    agent(s, "agv-x:convs", &[Tier::Standard], 1, T0 + 1).await;
    for (i, who) in ["c*", "c:{1}", "c 1"].iter().enumerate() {
        open(s, who, Tier::Standard, T0 + i as Millis).await;
    }
    let pairs = route(s, T0 + 10).await;
    assert_eq!(pairs.len(), 2, "both agents take one chat each");
    let agents: std::collections::BTreeSet<_> = pairs.iter().map(|(_, a)| a.clone()).collect();
    assert_eq!(
        agents,
        ["agv-x".to_owned(), "agv-x:convs".to_owned()]
            .into_iter()
            .collect()
    );
    for who in ["agv-x", "agv-x:convs"] {
        let profile = AgentProfile {
            sub: user(who),
            name: who.to_owned(),
            teams: vec![Team::Tier(Tier::Standard)],
            max_chats: 1,
        };
        let snapshot = s.register_agent(&profile, T0 + 20).await.expect("register");
        assert_eq!(snapshot.active.len(), 1, "{who} holds exactly its own chat");
        assert_eq!(snapshot.active[0].agent, Some(user(who)));
    }
    let open_of = s
        .open_conversation_of(&user("c:{1}"))
        .await
        .expect("get")
        .expect("open");
    assert_eq!(open_of.cardholder, user("c:{1}"));
}

/// Many agents claim one request at once: exactly one wins.
pub async fn concurrent_claims_have_one_winner(s: Arc<dyn Store>) {
    let (r, _) = s
        .request_callback(callback("c", Tier::Standard, Desk::Identity, T0))
        .await
        .expect("request");
    let claims = (0..16).map(|i| {
        let (s, reference) = (s.clone(), r.reference.clone());
        tokio::spawn(async move {
            s.claim_callback(&reference, &user(&format!("d{i}")), &[Desk::Identity], T0)
                .await
        })
    });
    let mut winners = Vec::new();
    for claim in claims {
        match claim.await.expect("task") {
            Ok(won) => winners.push(won.claimed_by),
            Err(StoreError::NotAllowed) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one winner: {winners:?}");
}

/// The same steps on any engine announce the same events to the same
/// audiences, in the same order: drives a chat from queue to escalation.
/// `announced` returns what the engine announced so far.
pub async fn scenario_for_events(s: &dyn Store) -> Vec<ConversationId> {
    s.presence_up(&user("ann"), Side::Cardholder, T0)
        .await
        .expect("presence");
    agent(s, "bob", &[Tier::Premium], 2, T0).await;
    let c = s
        .open_conversation(NewConversation {
            cardholder: user("ann"),
            name: Some("Ann".into()),
            tier: Tier::Premium,
            topic: Topic::Billing,
            enqueue: true,
            phone_last4: Some("4321".into()),
            history: Vec::new(),
            boosts: TierBoosts::default(),
            now: T0,
        })
        .await
        .expect("open")
        .conversation
        .id;
    s.append(
        &c,
        entry(Author::Cardholder, Some("ann"), "hello", Some("k1")),
    )
    .await
    .expect("say");
    assert_eq!(route(s, T0 + 5).await.len(), 1);
    // The cardholder drops (away), stays away past the grace (gone), comes back (online).
    s.presence_down(&user("ann"), Side::Cardholder, T0 + 5, 1_000)
        .await
        .expect("drop");
    s.expire_graces(T0 + 2_000).await.expect("graces");
    s.presence_up(&user("ann"), Side::Cardholder, T0 + 2_000)
        .await
        .expect("back");
    // A supervisor monitors the chat: its entries and end reach her too
    // (she supervises the desk it escalates to, so she hears it end).
    s.presence_up(&user("sue"), Side::Supervisor, T0 + 2_000)
        .await
        .expect("supervisor");
    let sue = [Team::Tier(Tier::Premium), Team::Desk(Desk::Identity)];
    assert!(s
        .monitor(&c, &user("sue"), &sue, T0 + 2_000)
        .await
        .expect("monitor")
        .is_some());
    assert!(s
        .monitor(
            &ConversationId("c-unknown".into()),
            &user("sue"),
            &sue,
            T0 + 2_000
        )
        .await
        .expect("monitor unknown")
        .is_none());
    let reply = s
        .append(
            &c,
            entry(Author::Agent, Some("bob"), "card 4111 1111", Some("k1")),
        )
        .await
        .expect("reply");
    let middle = s
        .append(&c, entry(Author::Agent, Some("bob"), "1111", Some("k2")))
        .await
        .expect("middle");
    // A card over three messages: two redactions in one step, in seq order.
    let mut more = entry(Author::Agent, Some("bob"), "1111 1111", Some("k3"));
    more.redact = vec![
        redaction(&reply.entry, "card **** **** ****"),
        redaction(&middle.entry, "****"),
    ];
    s.append(&c, more).await.expect("last part");
    s.add_note(
        &c,
        switchboard::domain::conversation::Note {
            at: T0 + 5,
            by: user("bob"),
            by_name: "bob".into(),
            text: "Asked for a limit raise".into(),
        },
    )
    .await
    .expect("note");
    s.transfer(
        &c,
        &user("bob"),
        Tier::Premium,
        Some("Needs a limit raise".into()),
        T0 + 6,
    )
    .await
    .expect("transfer");
    assert_eq!(route(s, T0 + 7).await.len(), 1);
    let (request, _) = s
        .request_callback(NewCallback {
            desk: Desk::Identity,
            sub: user("ann"),
            name: Some("Ann".into()),
            tier: Tier::Premium,
            cause: Cause::Agent {
                topic: Topic::TwoFactor,
                note: Some("Codes never arrive".into()),
            },
            conversation: c.clone(),
            phone_last4: Some("4321".into()),
            now: T0 + 8,
        })
        .await
        .expect("request");
    s.escalate(&c, &request, "We will call you.".into(), T0 + 9)
        .await
        .expect("escalate");
    let c2 = open(s, "ann", Tier::Premium, T0 + 10).await;
    s.end(&c2, None, EndReason::CardholderLeft, T0 + 11)
        .await
        .expect("leave");
    vec![c, c2]
}

/// The redaction of `e` to `text`, checked against the text `e` holds.
pub fn redaction(e: &switchboard::domain::conversation::Entry, text: &str) -> Redaction {
    Redaction {
        seq: e.seq,
        entry: switchboard::domain::conversation::Entry {
            text: text.into(),
            ..e.clone()
        },
        was: e.text.clone(),
    }
}

/// Cardholder `c` and agent `bob` in an active chat.
async fn active_chat(s: &dyn Store) -> ConversationId {
    agent(s, "bob", &[Tier::Standard], 2, T0).await;
    let c = open(s, "c", Tier::Standard, T0).await;
    assert_eq!(route(s, T0 + 1).await.len(), 1);
    c
}

/// Several earlier entries of the author are redacted in the step that
/// stores the new one (a card number over three messages or more), with
/// the other party's entries between them left alone.
pub async fn several_redactions_apply_in_one_step(s: &dyn Store) {
    let c = active_chat(s).await;
    let say = |author, who, text: &str, key| entry(author, Some(who), text, Some(key));
    let first = s
        .append(
            &c,
            say(Author::Cardholder, "c", "my card is 4111 1111", "k1"),
        )
        .await
        .expect("first");
    let agent_between = s
        .append(&c, say(Author::Agent, "bob", "go on", "a1"))
        .await
        .expect("agent");
    let second = s
        .append(&c, say(Author::Cardholder, "c", "1111", "k2"))
        .await
        .expect("second");
    let mut last = say(Author::Cardholder, "c", "1111", "k3");
    last.redact = vec![
        redaction(&first.entry, "my card is **** **** ****"),
        redaction(&second.entry, "****"),
    ];
    let stored = s.append(&c, last).await.expect("last");
    assert_eq!(stored.entry.seq, 4);
    let tx = s.transcript(&c, 0, 10).await.expect("transcript");
    let texts: Vec<_> = tx.iter().map(|e| e.text.as_str()).collect();
    assert_eq!(
        texts,
        ["my card is **** **** ****", "go on", "****", "1111"]
    );
    assert_eq!(tx[0].id.as_deref(), Some("k1"), "only the text changes");
    assert_eq!(tx[1], agent_between.entry);
    // A resend of the last one stores nothing and redacts nothing more.
    let mut again = say(Author::Cardholder, "c", "1111", "k3");
    again.redact = vec![redaction(&tx[0], "changed")];
    assert!(s.append(&c, again).await.expect("resend").duplicate);
    assert_eq!(s.transcript(&c, 0, 10).await.expect("transcript"), tx);
}

/// A redaction of an entry that no longer holds the text the hub read (or
/// that does not exist) fails with `Conflict`, before anything is written:
/// neither the new entry nor any other redaction of the step is stored.
pub async fn a_changed_entry_to_redact_is_a_conflict(s: &dyn Store) {
    let c = active_chat(s).await;
    let say = |text: &str, key| entry(Author::Cardholder, Some("c"), text, Some(key));
    let first = s.append(&c, say("4111 1111", "k1")).await.expect("first");
    let second = s.append(&c, say("1111", "k2")).await.expect("second");
    let before = s.transcript(&c, 0, 10).await.expect("transcript");
    let read_earlier = switchboard::domain::conversation::Entry {
        text: "something else".into(),
        ..second.entry.clone()
    };
    for stale in [
        vec![
            redaction(&first.entry, "**** ****"),
            redaction(&read_earlier, "****"),
        ],
        vec![redaction(&first.entry, "**** ****"), {
            let mut gone = redaction(&second.entry, "****");
            gone.seq = 9;
            gone
        }],
    ] {
        let mut last = say("1111 1111", "k3");
        last.redact = stale;
        let refused = s.append(&c, last).await;
        assert!(matches!(refused, Err(StoreError::Conflict)), "{refused:?}");
        assert_eq!(s.transcript(&c, 0, 10).await.expect("transcript"), before);
    }
    // Read again, it goes through; and the key was not taken by the refusal.
    let mut last = say("1111 1111", "k3");
    last.redact = vec![
        redaction(&first.entry, "**** ****"),
        redaction(&second.entry, "****"),
    ];
    let stored = s.append(&c, last).await.expect("again");
    assert!(!stored.duplicate);
    assert_eq!(stored.entry.seq, 3);
}

/// `recent_entries`: the author's entries among the last ones, others'
/// skipped, newer than `since`, back until they hold 19 digits.
pub async fn recent_entries_are_the_authors_within_the_window(s: &dyn Store) {
    let c = active_chat(s).await;
    let at = |author, who: &str, text: &str, now: Millis| NewEntry {
        now,
        ..entry(author, Some(who), text, None)
    };
    for (author, who, text, now) in [
        (Author::Cardholder, "c", "old 4111", T0),
        (Author::Cardholder, "c", "1111 2222", T0 + 400_000),
        (Author::Agent, "bob", "ok 123", T0 + 400_001),
        (Author::Cardholder, "c", "3333", T0 + 400_002),
    ] {
        s.append(&c, at(author, who, text, now))
            .await
            .expect("append");
    }
    let texts = |entries: Vec<switchboard::domain::conversation::Entry>| -> Vec<(u64, String)> {
        entries.into_iter().map(|e| (e.seq, e.text)).collect()
    };
    let since = T0 + 400_002 - 300_000;
    let recent = s
        .recent_entries(&c, Author::Cardholder, since)
        .await
        .expect("recent");
    assert_eq!(
        texts(recent),
        [(2, "1111 2222".to_owned()), (4, "3333".to_owned())]
    );
    let agent = s
        .recent_entries(&c, Author::Agent, since)
        .await
        .expect("agent");
    assert_eq!(texts(agent), [(3, "ok 123".to_owned())]);
    let all = s
        .recent_entries(&c, Author::Cardholder, T0)
        .await
        .expect("all");
    assert_eq!(all.len(), 3);
    // Back until 19 digits: the newest entries that hold them, no more.
    for i in 0..5 {
        s.append(
            &c,
            at(Author::Cardholder, "c", "12345678", T0 + 400_010 + i),
        )
        .await
        .expect("digits");
    }
    let recent = s
        .recent_entries(&c, Author::Cardholder, T0)
        .await
        .expect("recent");
    assert_eq!(recent.len(), 3, "8 + 8 + 8 digits hold 19");
    assert_eq!(recent.last().map(|e| e.seq), Some(9));
    // Only the tail is read.
    for i in 0..switchboard::store::RECENT_TAIL {
        s.append(
            &c,
            at(Author::Agent, "bob", "filler", T0 + 400_100 + i as Millis),
        )
        .await
        .expect("filler");
    }
    assert!(s
        .recent_entries(&c, Author::Cardholder, T0)
        .await
        .expect("tail")
        .is_empty());
    let unknown = ConversationId("c-unknown".into());
    assert!(s
        .recent_entries(&unknown, Author::Cardholder, T0)
        .await
        .expect("unknown")
        .is_empty());
}

/// The retention the runner gives the stores of
/// [`ended_conversations_and_closed_requests_expire`] (ms).
pub const SHORT_RETENTION_MS: Millis = 200;

/// With a store built to keep ended things [`SHORT_RETENTION_MS`]: an
/// ended conversation (record, transcript, idempotency keys) and a closed
/// callback request are gone once the retention passed, and what is still
/// open stays. Driven by real time, since Redis expires keys on its own
/// clock; `expire_graces` stands in for the hub's one-second ticker.
pub async fn ended_conversations_and_closed_requests_expire(s: &dyn Store) {
    let now = switchboard::domain::now_millis();
    let id = open(s, "gone", Tier::Standard, now).await;
    let kept = open(s, "stays", Tier::Standard, now).await;
    let say = |text: &str, now: Millis| NewEntry {
        author: Author::Cardholder,
        sender: Some(user("gone")),
        text: text.into(),
        client_id: Some("k1".into()),
        now,
        redact: Vec::new(),
    };
    s.append(&id, say("hello", now)).await.expect("append");
    let (r, _) = s
        .request_callback(callback("gone", Tier::Standard, Desk::Fraud, now))
        .await
        .expect("request");
    s.claim_callback(&r.reference, &user("d1"), &[Desk::Fraud], now)
        .await
        .expect("claim");
    let closed = s
        .complete_callback(
            &r.reference,
            &user("d1"),
            CallbackOutcome::Reached,
            None,
            now,
        )
        .await
        .expect("complete");
    assert!(!closed.status.is_open());
    s.end(&id, None, EndReason::CardholderLeft, now)
        .await
        .expect("end")
        .expect("it was open");
    let ended = s.conversation(&id).await.expect("read");
    assert_eq!(
        ended.map(|c| c.status),
        Some(ConversationStatus::Ended),
        "kept for the retention first"
    );

    eventually("the ended conversation expires", || async {
        s.expire_graces(switchboard::domain::now_millis())
            .await
            .expect("tick");
        let record = s.conversation(&id).await.expect("read");
        let transcript = match s.transcript(&id, 0, 10).await {
            Ok(t) => t,
            Err(StoreError::NoConversation) => Vec::new(),
            Err(e) => panic!("transcript: {e:?}"),
        };
        record.is_none() && transcript.is_empty()
    })
    .await;
    eventually("the closed request expires", || async {
        s.expire_graces(switchboard::domain::now_millis())
            .await
            .expect("tick");
        matches!(
            s.claim_callback(&r.reference, &user("d1"), &[Desk::Fraud], now)
                .await,
            Err(StoreError::NoConversation)
        )
    })
    .await;

    // Nothing writes it back: a late append (even a resend of a known key)
    // is refused and leaves nothing behind.
    let later = switchboard::domain::now_millis();
    assert!(matches!(
        s.append(&id, say("hello", later)).await,
        Err(StoreError::NoConversation)
    ));
    assert!(s.conversation(&id).await.expect("read").is_none());
    assert!(s
        .transcript(&id, 0, 10)
        .await
        .map_or(true, |t| t.is_empty()));
    assert!(matches!(
        s.end(&id, None, EndReason::CardholderLeft, later).await,
        Err(StoreError::NoConversation)
    ));
    // The open one stays, and the cardholder whose chat expired starts anew.
    let open_one = s.conversation(&kept).await.expect("read").expect("kept");
    assert_eq!(open_one.status, ConversationStatus::Queued);
    let again = open(s, "gone", Tier::Standard, later).await;
    assert_ne!(again, id);
}

/// An ended conversation keeps when and why it ended, and who served it;
/// the history a chat was opened with comes back with it (for `assigned`).
pub async fn ended_conversations_keep_when_and_why(s: &dyn Store) {
    // A secure-message thread: the kind comes back with the rest.
    let earlier = Summary {
        id: ConversationId("c-earlier".into()),
        kind: ConversationKind::Message,
        tier: Tier::Standard,
        topic: Topic::Billing,
        started_at: T0 - 86_400_000,
        ended_at: T0 - 86_000_000,
        end_reason: EndReason::AgentEnded,
        agent_name: Some("Sam".into()),
    };
    let id = s
        .open_conversation(NewConversation {
            cardholder: user("kept-why"),
            name: None,
            tier: Tier::Standard,
            topic: Topic::General,
            enqueue: true,
            phone_last4: None,
            history: vec![earlier.clone()],
            boosts: TierBoosts::default(),
            now: T0,
        })
        .await
        .expect("open")
        .conversation
        .id;
    agent(s, "why-ag", &[Tier::Standard], 1, T0).await;
    route(s, T0 + 1).await;
    let live = s.conversation(&id).await.expect("read").expect("known");
    assert_eq!((live.ended_at, live.end_reason), (None, None));
    assert_eq!(live.history, vec![earlier]);
    s.end(
        &id,
        Some(&user("why-ag")),
        EndReason::AgentEnded,
        T0 + 5_000,
    )
    .await
    .expect("end")
    .expect("ended");
    let ended = s.conversation(&id).await.expect("read").expect("kept");
    assert_eq!(
        (
            ended.ended_at,
            ended.end_reason,
            ended.agent_name.as_deref()
        ),
        (
            Some(T0 + 5_000),
            Some(EndReason::AgentEnded),
            Some("why-ag")
        )
    );
}

/// The supervisor console's overview: queues with recent waits, the agents
/// of the teams asked for (online or not, with their chats), desks' open
/// requests; nothing of teams not asked for. And the audit log, newest first.
pub async fn overview_and_audit(s: &dyn Store) {
    use switchboard::domain::audit::AuditEntry;
    use switchboard::store::DeskOverview;
    agent(s, "ov-a1", &[Tier::Standard, Tier::Premium], 2, T0).await;
    agent(s, "ov-a2", &[Tier::Business], 2, T0).await;
    s.set_agent_state(&user("ov-a2"), AgentState::Away, T0 + 100)
        .await
        .expect("away");
    agent(s, "ov-a3", &[Tier::Standard], 1, T0).await;
    s.presence_down(&user("ov-a3"), Side::Agent, T0 + 200, 30_000)
        .await
        .expect("gone");
    let first = open(s, "ov-c1", Tier::Standard, T0 + 300).await;
    let second = open(s, "ov-c2", Tier::Standard, T0 + 1_300).await;
    open(s, "ov-c3", Tier::Business, T0 + 2_000).await;
    assert_eq!(route(s, T0 + 5_300).await.len(), 2);
    let (request, _) = s
        .request_callback(NewCallback {
            desk: Desk::Identity,
            sub: user("ov-c4"),
            name: None,
            tier: Tier::Standard,
            cause: Cause::Topic {
                topic: Topic::LockedAccount,
            },
            conversation: ConversationId("c-ov4".into()),
            phone_last4: None,
            now: T0 + 5_400,
        })
        .await
        .expect("request");

    let teams = [
        Team::Tier(Tier::Standard),
        Team::Tier(Tier::Premium),
        Team::Tier(Tier::Business),
        Team::Desk(Desk::Identity),
    ];
    let o = s.overview(&teams).await.expect("overview");
    let queues: Vec<(Tier, u64, Option<Millis>, Vec<Millis>)> = o
        .queues
        .iter()
        .map(|q| {
            let mut waits = q.recent_waits.clone();
            waits.sort_unstable();
            (q.tier, q.depth, q.oldest_queued_at, waits)
        })
        .collect();
    assert_eq!(
        queues,
        vec![
            (Tier::Standard, 0, None, vec![4_000, 5_000]),
            (Tier::Premium, 0, None, vec![]),
            (Tier::Business, 1, Some(T0 + 2_000), vec![]),
        ]
    );
    let agents: Vec<(&str, AgentState, bool, usize, Millis)> = o
        .agents
        .iter()
        .map(|a| {
            (
                a.sub.as_str(),
                a.state,
                a.online,
                a.conversations.len(),
                a.state_since,
            )
        })
        .collect();
    assert_eq!(
        agents,
        vec![
            ("ov-a1", AgentState::Available, true, 2, T0),
            ("ov-a2", AgentState::Away, true, 0, T0 + 100),
            ("ov-a3", AgentState::Away, false, 0, T0 + 200),
        ]
    );
    let mut chats = o.agents[0].conversations.clone();
    chats.sort();
    let mut expected = vec![first, second];
    expected.sort();
    assert_eq!(chats, expected);
    assert_eq!(o.agents[0].max_chats, 2);
    assert_eq!(
        o.agents[0].teams,
        vec![Team::Tier(Tier::Standard), Team::Tier(Tier::Premium)]
    );
    assert_eq!(
        o.desks,
        vec![DeskOverview {
            desk: Desk::Identity,
            open: 1
        }]
    );
    s.complete_callback(
        &request.reference,
        &user("nobody"),
        CallbackOutcome::Reached,
        None,
        T0 + 200,
    )
    .await
    .expect_err("not claimed by that agent");

    // A business supervisor sees business only.
    let o = s
        .overview(&[Team::Tier(Tier::Business)])
        .await
        .expect("overview");
    assert_eq!(o.queues.len(), 1);
    assert_eq!(
        o.agents.iter().map(|a| a.sub.as_str()).collect::<Vec<_>>(),
        vec!["ov-a2"]
    );
    assert!(o.desks.is_empty());

    // Each entry is about some teams; a supervisor reads those of its own.
    let standard = Team::Tier(Tier::Standard);
    let premium = Team::Tier(Tier::Premium);
    let written: [(&str, &str, &[Team]); 4] = [
        ("sup-std", "set_agent_state", &[standard]),
        ("sup-prem", "reassign", &[premium]),
        ("sup-std", "monitor", &[standard]),
        ("sup-both", "reassign", &[standard, premium]),
    ];
    for (i, (by, action, teams)) in written.iter().enumerate() {
        s.audit(AuditEntry {
            at: T0 + i as Millis,
            by: user(by),
            action: (*action).to_owned(),
            target: "ov-a1".into(),
            detail: "away".into(),
            teams: teams.to_vec(),
        })
        .await
        .expect("audit");
    }
    let read = |teams: &'static [Team], limit: usize| async move {
        s.recent_audit(teams, limit)
            .await
            .expect("recent audit")
            .into_iter()
            .map(|e| format!("{} {}", e.by, e.action))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        read(&[Team::Tier(Tier::Standard)], 10).await,
        vec![
            "sup-both reassign",
            "sup-std monitor",
            "sup-std set_agent_state"
        ]
    );
    assert_eq!(
        read(&[Team::Tier(Tier::Premium)], 10).await,
        vec!["sup-both reassign", "sup-prem reassign"],
        "nothing of another team's supervisor"
    );
    assert_eq!(
        read(&[Team::Tier(Tier::Premium), Team::Tier(Tier::Standard)], 10).await,
        vec![
            "sup-both reassign",
            "sup-std monitor",
            "sup-prem reassign",
            "sup-std set_agent_state"
        ],
        "an entry about two of the reader's teams is listed once"
    );
    assert!(read(&[Team::Tier(Tier::Business)], 10).await.is_empty());
    assert_eq!(read(&[Team::Tier(Tier::Standard)], 1).await.len(), 1);
}

/// A queued conversation whose cardholder is disconnected keeps its place
/// but is served after the connected ones of its tier; with nobody else
/// waiting, it is served.
pub async fn disconnected_cardholders_are_served_after_connected_ones(s: &dyn Store) {
    for who in ["dc-1", "dc-2"] {
        s.presence_up(&user(who), Side::Cardholder, T0)
            .await
            .expect("presence");
    }
    let first = open(s, "dc-1", Tier::Standard, T0).await;
    let second = open(s, "dc-2", Tier::Standard, T0 + 100).await;
    s.presence_down(&user("dc-1"), Side::Cardholder, T0 + 200, 60_000)
        .await
        .expect("dc-1 drops");
    let standing = s
        .queue_standing(&first, Tier::Standard)
        .await
        .expect("standing")
        .expect("still queued");
    assert_eq!(
        standing.position, 1,
        "the disconnected cardholder keeps the place"
    );
    agent(s, "dc-ag1", &[Tier::Standard], 1, T0 + 300).await;
    assert_eq!(
        route(s, T0 + 400).await,
        vec![(second, "dc-ag1".to_owned())],
        "the connected cardholder is served first"
    );
    agent(s, "dc-ag2", &[Tier::Standard], 1, T0 + 500).await;
    assert_eq!(
        route(s, T0 + 600).await,
        vec![(first, "dc-ag2".to_owned())],
        "alone in the queue, the disconnected one is served"
    );
}

/// How long the notification checks lease a taken notification.
const LEASE: Millis = 1_000;

/// Run on an engine built `.notifying(…)`: an agent's entry for a
/// cardholder connected nowhere queues one notification per conversation
/// until the cardholder connects again; taking leases it, only the lease
/// holder settles it, and a settled one is gone for good.
pub async fn notifications_queue_lease_and_settle(s: &dyn Store) {
    let c = open(s, "ch", Tier::Standard, T0).await;
    agent(s, "ag", &[Tier::Standard], 1, T0).await;
    assert_eq!(route(s, T0 + 1).await, vec![(c.clone(), "ag".into())]);
    let say = |key: &'static str| entry(Author::Agent, Some("ag"), "hello", Some(key));
    s.presence_up(&user("ch"), Side::Cardholder, T0 + 1)
        .await
        .expect("up");
    let online = s.append(&c, say("k1")).await.expect("agent writes");
    assert!(!online.notified, "a connected cardholder is not notified");
    s.presence_down(&user("ch"), Side::Cardholder, T0, 60_000)
        .await
        .expect("down");
    let own = s
        .append(&c, entry(Author::Cardholder, Some("ch"), "hi", Some("c1")))
        .await
        .expect("cardholder writes");
    assert!(!own.notified, "the cardholder's own words notify nobody");
    let first = s.append(&c, say("k2")).await.expect("agent writes");
    assert!(first.notified, "an absent cardholder is notified");
    let resend = s.append(&c, say("k2")).await.expect("resend");
    assert!(resend.duplicate && !resend.notified);
    let second = s.append(&c, say("k3")).await.expect("agent writes");
    assert!(
        !second.notified,
        "one pending notification per conversation"
    );
    let backlog = s.notification_backlog().await.expect("backlog");
    assert_eq!((backlog.depth, backlog.oldest_at), (1, Some(T0)));

    let taken = s.take_notifications(T0, 10, LEASE).await.expect("take");
    assert_eq!(taken.len(), 1);
    let n = taken[0].clone();
    assert_eq!(
        (n.event.as_str(), &n.sub, &n.conversation, n.at, n.attempts),
        ("message", &user("ch"), &c, T0, 1)
    );
    assert!(
        s.take_notifications(T0 + LEASE - 1, 10, LEASE)
            .await
            .expect("take")
            .is_empty(),
        "a leased notification is nobody else's"
    );
    let retaken = s
        .take_notifications(T0 + LEASE, 10, LEASE)
        .await
        .expect("take");
    assert_eq!(retaken.len(), 1, "a lease that ran out frees it");
    assert_eq!(
        (retaken[0].id.clone(), retaken[0].attempts),
        (n.id.clone(), 2)
    );
    assert!(
        !s.settle_notification(&n, Settle::Delivered, T0 + 1)
            .await
            .expect("settle"),
        "the first taker's lease is gone"
    );
    let n = retaken[0].clone();
    let retry_at = T0 + 5 * LEASE;
    assert!(s
        .settle_notification(&n, Settle::RetryAt(retry_at), T0 + 5)
        .await
        .expect("settle"));
    assert!(s
        .take_notifications(retry_at - 1, 10, LEASE)
        .await
        .expect("take")
        .is_empty());
    let n = s
        .take_notifications(retry_at, 10, LEASE)
        .await
        .expect("take")
        .pop()
        .expect("due again");
    assert_eq!(n.attempts, 3);
    assert!(s
        .settle_notification(&n, Settle::Delivered, T0 + 5)
        .await
        .expect("settle"));
    assert!(
        !s.settle_notification(&n, Settle::Delivered, T0 + 5)
            .await
            .expect("settle"),
        "delivered once, never again"
    );
    assert!(s
        .take_notifications(T0 + 1_000_000, 10, LEASE)
        .await
        .expect("take")
        .is_empty());
    assert_eq!(
        s.notification_backlog().await.expect("backlog"),
        NotificationBacklog::default()
    );

    // Back and gone again: the conversation may be notified about anew,
    // and a notification given up is dropped.
    s.presence_up(&user("ch"), Side::Cardholder, T0 + 1_000_000)
        .await
        .expect("up");
    s.presence_down(&user("ch"), Side::Cardholder, T0, 60_000)
        .await
        .expect("down");
    assert!(
        s.append(&c, say("k4"))
            .await
            .expect("agent writes")
            .notified
    );
    let n = s
        .take_notifications(T0, 10, LEASE)
        .await
        .expect("take")
        .pop()
        .expect("queued anew");
    assert!(s
        .settle_notification(&n, Settle::GiveUp, T0 + 1_000_000)
        .await
        .expect("settle"));
    assert_eq!(s.notification_backlog().await.expect("backlog").depth, 0);
}

/// `agents_online` counts the agents of a team with a connection open,
/// whatever their availability; queue snapshots carry when each
/// conversation entered the queue.
pub async fn agents_online_and_queue_entry_times(s: &dyn Store) {
    let standard = Team::Tier(Tier::Standard);
    let premium = Team::Tier(Tier::Premium);
    agent(s, "a", &[Tier::Standard], 1, T0).await;
    agent(s, "b", &[Tier::Standard, Tier::Premium], 1, T0).await;
    let profile = AgentProfile {
        sub: user("c"),
        name: "c".into(),
        teams: vec![premium],
        max_chats: 1,
    };
    s.register_agent(&profile, T0).await.expect("register");
    let online = |team| async move { s.agents_online(team).await.expect("agents online") };
    assert_eq!((online(standard).await, online(premium).await), (2, 1));
    s.set_agent_state(&user("a"), AgentState::Away, T0)
        .await
        .expect("away");
    assert_eq!(online(standard).await, 2, "away agents are signed in");
    s.presence_down(&user("b"), Side::Agent, T0, 30_000)
        .await
        .expect("down");
    assert_eq!((online(standard).await, online(premium).await), (1, 0));
    assert_eq!(online(Team::Tier(Tier::Business)).await, 0);
    // An agent signed in whose teams change counts for the new ones only.
    let moved = AgentProfile {
        sub: user("a"),
        name: "a".into(),
        teams: vec![premium],
        max_chats: 1,
    };
    s.register_agent(&moved, T0).await.expect("register");
    assert_eq!((online(standard).await, online(premium).await), (0, 1));

    open(s, "c1", Tier::Premium, T0 + 7).await;
    open(s, "c2", Tier::Premium, T0 + 9).await;
    let snapshot = s.queue_snapshot(Tier::Premium).await.expect("snapshot");
    let entered: Vec<Millis> = snapshot.places.iter().map(|p| p.queued_at).collect();
    assert_eq!(entered, vec![T0 + 7, T0 + 9]);
}

/// Appends to many conversations at once (on Redis: several batches of
/// `append_batch`): each conversation's seqs are gapless and each message
/// is stored once; resending every message at once stores nothing more and
/// answers each with its own seq. Returns the conversations and, per
/// conversation, the texts in seq order.
pub async fn concurrent_appends_are_gapless_and_once(
    s: Arc<dyn Store>,
) -> Vec<(ConversationId, Vec<String>)> {
    const CONVERSATIONS: usize = 8;
    const EACH: usize = 25;
    let mut ids = Vec::new();
    for i in 0..CONVERSATIONS {
        let who = format!("crowd{i}");
        s.presence_up(&user(&who), Side::Cardholder, T0)
            .await
            .expect("presence");
        ids.push((
            who.clone(),
            open(&*s, &who, Tier::Standard, T0 + i as i64).await,
        ));
    }
    let send_all = |resend: bool| {
        let mut calls = Vec::new();
        for (who, id) in &ids {
            for n in 0..EACH {
                let (s, who, id) = (s.clone(), who.clone(), id.clone());
                calls.push(async move {
                    let text = if resend {
                        format!("{n} again")
                    } else {
                        format!("{n}")
                    };
                    let key = format!("k{n}");
                    let a = s
                        .append(
                            &id,
                            entry(Author::Cardholder, Some(&who), &text, Some(&key)),
                        )
                        .await
                        .expect("append");
                    (id, n, a.entry.seq, a.duplicate)
                });
            }
        }
        futures_util::future::join_all(calls)
    };
    let first = send_all(false).await;
    assert!(
        first.iter().all(|(_, _, _, dup)| !dup),
        "first sends are new"
    );
    let again = send_all(true).await;
    assert!(
        again.iter().all(|(_, _, _, dup)| *dup),
        "resends are duplicates"
    );
    let seq_of = |all: &[(ConversationId, usize, u64, bool)], id: &ConversationId, n: usize| {
        all.iter()
            .find(|(i, m, _, _)| i == id && *m == n)
            .map(|(_, _, seq, _)| *seq)
    };
    let mut texts = Vec::new();
    for (_, id) in &ids {
        let mut seqs: Vec<u64> = (0..EACH).filter_map(|n| seq_of(&first, id, n)).collect();
        for n in 0..EACH {
            assert_eq!(
                seq_of(&again, id, n),
                seq_of(&first, id, n),
                "a resend answers its seq"
            );
        }
        seqs.sort_unstable();
        assert_eq!(
            seqs,
            (1..=EACH as u64).collect::<Vec<_>>(),
            "gapless, once each"
        );
        let stored = s.transcript(id, 0, 100).await.expect("transcript");
        assert_eq!(stored.len(), EACH, "nothing stored twice");
        texts.push((id.clone(), stored.into_iter().map(|e| e.text).collect()));
    }
    texts
}

/// The bounds of the transcript checks below: small, so they fill quickly
/// (the engine under test is built with them).
pub const SMALL_BOUNDS: TranscriptBounds = TranscriptBounds {
    entries: 5,
    bytes: 100,
};

/// A store built with [`SMALL_BOUNDS`]: past five entries, a typed entry
/// is refused, whoever sends it; a resend of a stored one is still its
/// duplicate; the hub's own entries are still stored; the agent can still
/// transfer and end the conversation, and other conversations go on.
pub async fn a_full_transcript_refuses_typed_entries(s: &dyn Store) {
    let c = open(s, "c", Tier::Standard, T0).await;
    let other = open(s, "o", Tier::Standard, T0 + 1).await;
    agent(s, "ag", &[Tier::Standard], 2, T0).await;
    assert_eq!(route(s, T0 + 2).await.len(), 2);
    for i in 0..5 {
        let (author, sender) = if i % 2 == 0 {
            (Author::Cardholder, "c")
        } else {
            (Author::Agent, "ag")
        };
        let key = format!("k{i}");
        s.append(&c, entry(author, Some(sender), "hi", Some(&key)))
            .await
            .expect("below the bound");
    }
    let refused = s
        .append(
            &c,
            entry(Author::Cardholder, Some("c"), "one more", Some("k9")),
        )
        .await;
    assert!(
        matches!(refused, Err(StoreError::TranscriptFull)),
        "the sixth entry is refused: {refused:?}"
    );
    let refused = s
        .append(&c, entry(Author::Agent, Some("ag"), "one more", Some("a9")))
        .await;
    assert!(matches!(refused, Err(StoreError::TranscriptFull)));
    let again = s
        .append(&c, entry(Author::Cardholder, Some("c"), "hi", Some("k2")))
        .await
        .expect("a resend of a stored entry is answered");
    assert!(again.duplicate, "still a duplicate, not `transcript_full`");
    assert_eq!(again.entry.seq, 3);
    let sys = s
        .append(
            &c,
            entry(Author::System, None, "Your agent was disconnected", None),
        )
        .await
        .expect("the hub's own entries are stored past the bound");
    assert_eq!(sys.entry.seq, 6);
    let kept = s.transcript(&c, 0, 100).await.expect("transcript");
    assert_eq!(kept.len(), 6, "refused entries left nothing behind");
    assert!(kept.iter().all(|e| e.text != "one more"));
    s.append(&other, entry(Author::Cardholder, Some("o"), "hello", None))
        .await
        .expect("another conversation keeps working");
    // The agent transfers the full chat, the next agent ends it.
    s.transfer(&c, &user("ag"), Tier::Premium, None, T0 + 10)
        .await
        .expect("a full conversation can be transferred");
    agent(s, "next", &[Tier::Premium], 1, T0).await;
    assert_eq!(route(s, T0 + 11).await, vec![(c.clone(), "next".into())]);
    let ended = s
        .end(&c, Some(&user("next")), EndReason::AgentEnded, T0 + 20)
        .await
        .expect("a full conversation can be ended")
        .expect("it was open");
    assert_eq!(ended.status, ConversationStatus::Ended);
    assert_eq!(ended.last_seq, 6);
}

/// A store built with [`SMALL_BOUNDS`]: typed text is counted in bytes
/// (UTF-8, not characters), an entry that would pass 100 bytes is refused
/// while a smaller one still fits, and a resend is still its duplicate.
pub async fn the_byte_bound_counts_typed_text(s: &dyn Store) {
    let c = open(s, "c", Tier::Standard, T0).await;
    agent(s, "ag", &[Tier::Standard], 1, T0).await;
    route(s, T0 + 1).await;
    // 30 characters, 60 bytes.
    let first = "é".repeat(30);
    s.append(&c, entry(Author::Cardholder, Some("c"), &first, Some("k1")))
        .await
        .expect("60 bytes");
    let refused = s
        .append(
            &c,
            entry(Author::Agent, Some("ag"), &"x".repeat(41), Some("a1")),
        )
        .await;
    assert!(
        matches!(refused, Err(StoreError::TranscriptFull)),
        "60 + 41 bytes is past 100: {refused:?}"
    );
    s.append(
        &c,
        entry(Author::Agent, Some("ag"), &"x".repeat(40), Some("a2")),
    )
    .await
    .expect("60 + 40 bytes is exactly the bound");
    let refused = s
        .append(&c, entry(Author::Cardholder, Some("c"), "y", Some("k2")))
        .await;
    assert!(matches!(refused, Err(StoreError::TranscriptFull)));
    let again = s
        .append(&c, entry(Author::Cardholder, Some("c"), &first, Some("k1")))
        .await
        .expect("a resend is answered");
    assert!(again.duplicate);
    assert_eq!(again.entry.seq, 1);
    s.append(
        &c,
        entry(Author::System, None, "The chat was escalated", None),
    )
    .await
    .expect("the hub's own entries are not counted");
    let kept = s.transcript(&c, 0, 100).await.expect("transcript");
    assert_eq!(
        kept.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    s.end(&c, Some(&user("ag")), EndReason::AgentEnded, T0 + 5)
        .await
        .expect("end")
        .expect("it was open");
}

/// A monitor follows its supervisor's teams. A transfer within them keeps
/// it; a transfer (a supervisor's reassign is the same store step) out of
/// them, or an escalation to a desk not among them, ends it in that step,
/// announced as `monitor_ended` (`out_of_scope`) before anything else the
/// step announces; the end of a chat ends the monitors left (`ended`).
/// Monitoring a chat outside the supervisor's teams is refused in the step.
pub async fn monitor_scope_scenario(s: &dyn Store) -> Vec<ConversationId> {
    let standard = Team::Tier(Tier::Standard);
    let business = Team::Tier(Tier::Business);
    agent(s, "bob", &[Tier::Standard, Tier::Business], 3, T0).await;
    for sup in ["sue", "ray", "ida"] {
        s.presence_up(&user(sup), Side::Supervisor, T0)
            .await
            .expect("supervisor");
    }
    // Connected, so that what only they hear reaches this node in Redis too.
    for cardholder in ["ann", "cy", "dee"] {
        s.presence_up(&user(cardholder), Side::Cardholder, T0)
            .await
            .expect("cardholder");
    }
    let c = open(s, "ann", Tier::Standard, T0).await;
    assert_eq!(route(s, T0 + 1).await.len(), 1);
    let monitor = |id: ConversationId, who: &'static str, teams: Vec<Team>| async move {
        s.monitor(&id, &user(who), &teams, T0 + 1).await
    };
    assert!(monitor(c.clone(), "sue", vec![standard])
        .await
        .expect("sue")
        .is_some());
    assert!(monitor(c.clone(), "ray", vec![standard, business])
        .await
        .expect("ray")
        .is_some());
    assert!(
        matches!(
            monitor(c.clone(), "ida", vec![business]).await,
            Err(StoreError::NotAllowed)
        ),
        "a standard chat is not a business supervisor's"
    );
    // Within both supervisors' teams: both keep monitoring.
    s.transfer(&c, &user("bob"), Tier::Standard, None, T0 + 2)
        .await
        .expect("transfer within");
    assert_eq!(route(s, T0 + 3).await.len(), 1);
    s.append(
        &c,
        entry(Author::Agent, Some("bob"), "still standard", Some("k1")),
    )
    .await
    .expect("say");
    // Out of sue's teams, not ray's.
    s.transfer(&c, &user("bob"), Tier::Business, None, T0 + 4)
        .await
        .expect("transfer out");
    assert_eq!(route(s, T0 + 5).await.len(), 1);
    s.append(
        &c,
        entry(Author::Agent, Some("bob"), "business here", Some("k2")),
    )
    .await
    .expect("say");
    s.add_note(
        &c,
        switchboard::domain::conversation::Note {
            at: T0 + 6,
            by: user("bob"),
            by_name: "bob".into(),
            text: "Corporate card".into(),
        },
    )
    .await
    .expect("note");
    // To the fraud desk, which ray does not supervise.
    let request = |id: ConversationId, who: &'static str, desk: Desk, at: Millis| async move {
        let mut new = callback(who, Tier::Standard, desk, at);
        new.conversation = id;
        s.request_callback(new).await.expect("request").0
    };
    let fraud = request(c.clone(), "ann", Desk::Fraud, T0 + 7).await;
    s.escalate(&c, &fraud, "The fraud team will call you.".into(), T0 + 7)
        .await
        .expect("escalate");

    // To the identity desk, which ida supervises: she hears it to the end.
    let c2 = open(s, "cy", Tier::Standard, T0 + 8).await;
    assert_eq!(route(s, T0 + 8).await.len(), 1);
    assert!(monitor(
        c2.clone(),
        "ida",
        vec![standard, Team::Desk(Desk::Identity)]
    )
    .await
    .expect("ida")
    .is_some());
    let identity = request(c2.clone(), "cy", Desk::Identity, T0 + 9).await;
    s.escalate(&c2, &identity, "We will call you.".into(), T0 + 9)
        .await
        .expect("escalate");

    // A chat that ends ends its monitors; one connection stopping is quiet.
    let c3 = open(s, "dee", Tier::Standard, T0 + 10).await;
    assert!(monitor(c3.clone(), "sue", vec![standard])
        .await
        .expect("sue")
        .is_some());
    assert!(monitor(c3.clone(), "ray", vec![standard])
        .await
        .expect("ray")
        .is_some());
    s.unmonitor(&c3, &user("ray"), T0 + 10)
        .await
        .expect("unmonitor");
    s.end(&c3, None, EndReason::CardholderLeft, T0 + 11)
        .await
        .expect("leave");
    vec![c, c2, c3]
}
