//! Conformance checks of secure-message threads: team inboxes, claims,
//! resolution and reopening (`store::inbox` rules).

use std::sync::Arc;

use switchboard::domain::{
    Author, ConversationId, ConversationKind, ConversationStatus, Millis, Tier, TierBoosts, Topic,
    UserId,
};
use switchboard::store::inbox::MAX_OPEN_THREADS;
use switchboard::store::{NewConversation, NewEntry, Store, StoreError};

use super::{agent, open, T0};

const HOUR: Millis = 3_600_000;

fn user(s: &str) -> UserId {
    UserId(s.to_owned())
}

/// Asks to open a thread for cardholder `who` of `tier`.
async fn try_thread(
    s: &dyn Store,
    who: &str,
    tier: Tier,
    at: Millis,
) -> switchboard::store::StoreResult<switchboard::domain::conversation::Conversation> {
    open_thread_as(s, who, tier, at, ConversationId::generate())
        .await
        .map(|o| o.conversation)
}

/// Asks to open thread `id` for cardholder `who` of `tier`.
async fn open_thread_as(
    s: &dyn Store,
    who: &str,
    tier: Tier,
    at: Millis,
    id: ConversationId,
) -> switchboard::store::StoreResult<switchboard::store::Opened> {
    s.open_thread(
        NewConversation {
            cardholder: user(who),
            name: Some(format!("{who} name")),
            tier,
            topic: Topic::Billing,
            enqueue: true,
            phone_last4: None,
            history: Vec::new(),
            boosts: TierBoosts::default(),
            now: at,
        },
        id,
    )
    .await
}

/// A resent `start` (same id) gets the thread it opened back, once in the
/// inbox; another cardholder cannot open a thread under that id.
pub async fn a_resent_thread_start_opens_it_once(s: &dyn Store) {
    let id = ConversationId::for_client_key(&user("ra"), "key-1");
    let first = open_thread_as(s, "ra", Tier::Standard, T0, id.clone())
        .await
        .expect("opened");
    assert!(first.created);
    let again = open_thread_as(s, "ra", Tier::Standard, T0 + 5, id.clone())
        .await
        .expect("opened again");
    assert!(!again.created, "a resend opens nothing new");
    assert_eq!(again.conversation.id, id);
    assert_eq!(s.threads_of(&user("ra")).await.expect("threads").len(), 1);
    let inbox = s.inbox(Tier::Standard).await.expect("inbox");
    assert_eq!(inbox.iter().filter(|c| c.id == id).count(), 1);
    assert!(matches!(
        open_thread_as(s, "rb", Tier::Standard, T0, id).await,
        Err(switchboard::store::StoreError::NotAllowed)
    ));
    assert!(s.threads_of(&user("rb")).await.expect("threads").is_empty());
}

/// Opens a thread for cardholder `who` of `tier`.
pub async fn thread(s: &dyn Store, who: &str, tier: Tier, at: Millis) -> ConversationId {
    try_thread(s, who, tier, at).await.expect("open thread").id
}

fn said(author: Author, sender: &str, key: &str, at: Millis) -> NewEntry {
    NewEntry {
        author,
        sender: Some(user(sender)),
        text: format!("{sender} says {key}"),
        client_id: Some(key.to_owned()),
        now: at,
        redact: Vec::new(),
    }
}

async fn inbox_ids(s: &dyn Store, team: Tier) -> Vec<ConversationId> {
    s.inbox(team)
        .await
        .expect("inbox")
        .into_iter()
        .map(|c| c.id)
        .collect()
}

pub async fn a_thread_waits_in_its_inbox_not_in_the_live_queue(s: &dyn Store) {
    let id = thread(s, "ann", Tier::Standard, T0).await;
    let c = s.conversation(&id).await.expect("read").expect("kept");
    assert_eq!(
        (c.kind, c.status, c.tier),
        (
            ConversationKind::Message,
            ConversationStatus::Queued,
            Tier::Standard
        )
    );
    assert_eq!(inbox_ids(s, Tier::Standard).await, vec![id.clone()]);
    assert!(inbox_ids(s, Tier::Premium).await.is_empty());
    assert!(
        s.open_conversation_of(&user("ann"))
            .await
            .expect("open of")
            .is_none(),
        "a thread is not the live chat"
    );
    agent(s, "ag", &[Tier::Standard], 3, T0).await;
    assert!(
        s.route(T0 + 1).await.expect("route").is_empty(),
        "routing never takes a thread"
    );
    let chat = open(s, "ann", Tier::Standard, T0 + 2).await;
    assert_ne!(chat, id, "the live chat is another conversation");
    let threads = s.threads_of(&user("ann")).await.expect("threads");
    assert_eq!(threads.len(), 1);
    assert_eq!(threads[0].id, id);
}

pub async fn at_most_five_open_threads(s: &dyn Store) {
    let mut ids = Vec::new();
    for i in 0..MAX_OPEN_THREADS {
        ids.push(thread(s, "ann", Tier::Standard, T0 + i as Millis).await);
    }
    let sixth = try_thread(s, "ann", Tier::Standard, T0 + 10).await;
    assert!(matches!(sixth, Err(StoreError::NotAllowed)), "{sixth:?}");
    thread(s, "bob", Tier::Standard, T0 + 11).await;
    // A resolved thread no longer counts, nor one ended for good.
    agent(s, "ag", &[Tier::Standard], 3, T0).await;
    s.claim_thread(&ids[0], &user("ag"), &[Tier::Standard], T0 + 20)
        .await
        .expect("claim");
    s.resolve(&ids[0], &user("ag"), T0 + 21)
        .await
        .expect("resolve");
    thread(s, "ann", Tier::Standard, T0 + 22).await;
    s.claim_thread(&ids[1], &user("ag"), &[Tier::Standard], T0 + 23)
        .await
        .expect("claim");
    s.end(
        &ids[1],
        Some(&user("ag")),
        switchboard::domain::EndReason::AgentEnded,
        T0 + 24,
    )
    .await
    .expect("end");
    thread(s, "ann", Tier::Standard, T0 + 25).await;
    assert_eq!(s.threads_of(&user("ann")).await.expect("threads").len(), 7);
}

pub async fn inbox_serves_the_earliest_reply_due_first(s: &dyn Store) {
    // Standard threads are due 24 h after they came in, premium ones 4 h.
    let old = thread(s, "s1", Tier::Standard, T0).await;
    let young = thread(s, "s2", Tier::Standard, T0 + 2 * HOUR).await;
    let premium = thread(s, "p1", Tier::Premium, T0 + HOUR).await;
    agent(s, "pa", &[Tier::Premium], 3, T0).await;
    s.claim_thread(&premium, &user("pa"), &[Tier::Premium], T0 + HOUR)
        .await
        .expect("claim");
    // Sent on to the standard team, it keeps its own (premium) target: due at T0 + 5 h.
    s.transfer(&premium, &user("pa"), Tier::Standard, None, T0 + HOUR)
        .await
        .expect("transfer");
    assert_eq!(
        inbox_ids(s, Tier::Standard).await,
        vec![premium, old, young]
    );
    assert!(inbox_ids(s, Tier::Premium).await.is_empty());
}

/// Many agents claim one thread at once: exactly one wins.
pub async fn thread_claims_have_one_winner(s: Arc<dyn Store>) {
    let id = thread(&*s, "ann", Tier::Standard, T0).await;
    for i in 0..16 {
        agent(&*s, &format!("a{i}"), &[Tier::Standard], 1, T0).await;
    }
    let claims = (0..16).map(|i| {
        let (s, id) = (s.clone(), id.clone());
        tokio::spawn(async move {
            s.claim_thread(&id, &user(&format!("a{i}")), &[Tier::Standard], T0 + 5)
                .await
        })
    });
    let mut winners = Vec::new();
    for claim in claims {
        match claim.await.expect("task") {
            Ok(won) => winners.push(won.conversation.agent),
            Err(StoreError::NotAllowed) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one winner: {winners:?}");
    let c = s.conversation(&id).await.expect("read").expect("kept");
    assert_eq!(c.status, ConversationStatus::Active);
    assert_eq!(Some(c.agent), winners.pop());
    assert!(inbox_ids(&*s, Tier::Standard).await.is_empty());
}

pub async fn resolve_then_a_reply_reopens_with_the_transcript(s: &dyn Store) {
    let id = thread(s, "ann", Tier::Standard, T0).await;
    s.append(&id, said(Author::Cardholder, "ann", "k1", T0))
        .await
        .expect("first");
    agent(s, "ag", &[Tier::Standard], 1, T0).await;
    let won = s
        .claim_thread(&id, &user("ag"), &[Tier::Standard], T0 + 10)
        .await
        .expect("claim");
    assert_eq!(won.waited_ms, 10);
    // A claimed thread takes no live chat slot.
    open(s, "zed", Tier::Standard, T0 + 11).await;
    assert_eq!(s.route(T0 + 12).await.expect("route").len(), 1);
    s.append(&id, said(Author::Agent, "ag", "r1", T0 + 20))
        .await
        .expect("reply");
    let resolved = s.resolve(&id, &user("ag"), T0 + 30).await.expect("resolve");
    assert_eq!(resolved.status, ConversationStatus::Resolved);
    assert!(matches!(
        s.resolve(&id, &user("ag"), T0 + 31).await,
        Err(StoreError::NoConversation)
    ));
    assert!(
        matches!(
            s.append(&id, said(Author::Agent, "ag", "r2", T0 + 32))
                .await,
            Err(StoreError::NoConversation)
        ),
        "the agent no longer holds it"
    );
    assert!(inbox_ids(s, Tier::Standard).await.is_empty());
    let again = s
        .append(&id, said(Author::Cardholder, "ann", "k2", T0 + 40))
        .await
        .expect("reply to resolved");
    assert!(again.reopened);
    assert_eq!(again.entry.seq, 3, "seqs carry on");
    let resend = s
        .append(&id, said(Author::Cardholder, "ann", "k2", T0 + 41))
        .await
        .expect("resend");
    assert!(resend.duplicate && !resend.reopened);
    let c = s.conversation(&id).await.expect("read").expect("kept");
    assert_eq!(c.status, ConversationStatus::Queued);
    assert_eq!((c.ended_at, c.end_reason, c.agent), (None, None, None));
    assert_eq!(c.last_at, Some(T0 + 40));
    assert_eq!(inbox_ids(s, Tier::Standard).await, vec![id.clone()]);
    let tx = s.transcript(&id, 0, 10).await.expect("transcript");
    assert_eq!(tx.len(), 3);
}

pub async fn business_threads_only_reach_business_agents(s: &dyn Store) {
    let id = thread(s, "biz", Tier::Business, T0).await;
    agent(
        s,
        "general",
        &[Tier::Standard, Tier::Premium, Tier::Prepaid],
        3,
        T0,
    )
    .await;
    let tiers = [Tier::Standard, Tier::Premium, Tier::Prepaid];
    assert!(matches!(
        s.claim_thread(&id, &user("general"), &tiers, T0 + 1).await,
        Err(StoreError::NoConversation)
    ));
    assert!(inbox_ids(s, Tier::Standard).await.is_empty());
    assert_eq!(inbox_ids(s, Tier::Business).await, vec![id.clone()]);
    agent(s, "spec", &[Tier::Business], 3, T0).await;
    s.claim_thread(&id, &user("spec"), &[Tier::Business], T0 + 2)
        .await
        .expect("a business agent claims it");
}

pub async fn read_marks_stay_with_the_cardholder(s: &dyn Store) {
    let id = thread(s, "ann", Tier::Standard, T0).await;
    agent(s, "ag", &[Tier::Standard], 1, T0).await;
    s.claim_thread(&id, &user("ag"), &[Tier::Standard], T0 + 1)
        .await
        .expect("claim");
    for key in ["r1", "r2"] {
        s.append(&id, said(Author::Agent, "ag", key, T0 + 2))
            .await
            .expect("reply");
    }
    s.mark_read(&id, &user("ann"), 1, T0 + 2)
        .await
        .expect("read");
    s.mark_read(&id, &user("ann"), 99, T0 + 2)
        .await
        .expect("read past the end");
    s.mark_read(&id, &user("ann"), 0, T0 + 2)
        .await
        .expect("read backwards");
    assert!(matches!(
        s.mark_read(&id, &user("eve"), 2, T0 + 2).await,
        Err(StoreError::NoConversation)
    ));
    let c = s.conversation(&id).await.expect("read").expect("kept");
    assert_eq!(c.read_seq, 2, "never past the end, never backwards");
}

/// With a short retention: a resolved thread is forgotten once the retention
/// passed, unless the cardholder's reply reopened it first (its expiry is
/// cancelled); the cardholder's list drops the forgotten one.
pub async fn resolved_threads_expire_unless_reopened(s: &dyn Store) {
    let now = switchboard::domain::now_millis();
    let gone = thread(s, "ann", Tier::Standard, now).await;
    let back = thread(s, "ann", Tier::Standard, now + 1).await;
    agent(s, "ag", &[Tier::Standard], 1, now).await;
    for id in [&gone, &back] {
        s.claim_thread(id, &user("ag"), &[Tier::Standard], now)
            .await
            .expect("claim");
        s.resolve(id, &user("ag"), now).await.expect("resolve");
    }
    s.append(&back, said(Author::Cardholder, "ann", "k1", now))
        .await
        .expect("reopen");
    crate::eventually("the resolved thread expires", || async {
        s.expire_graces(switchboard::domain::now_millis())
            .await
            .expect("tick");
        s.conversation(&gone).await.expect("read").is_none()
    })
    .await;
    let kept = s
        .conversation(&back)
        .await
        .expect("read")
        .expect("reopened stays");
    assert_eq!(kept.status, ConversationStatus::Queued);
    assert_eq!(
        s.transcript(&back, 0, 10).await.expect("transcript").len(),
        1
    );
    let listed: Vec<ConversationId> = s
        .threads_of(&user("ann"))
        .await
        .expect("threads")
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(listed, vec![back]);
}

/// A thread from the inbox to a reply after its resolution, for comparing
/// what the engines announce (see `scenario_for_events`).
pub async fn thread_scenario_for_events(s: &dyn Store) -> Vec<ConversationId> {
    s.presence_up(&user("ann"), switchboard::store::Side::Cardholder, T0)
        .await
        .expect("presence");
    agent(s, "bob", &[Tier::Standard], 1, T0).await;
    let id = thread(s, "ann", Tier::Standard, T0).await;
    s.append(&id, said(Author::Cardholder, "ann", "k1", T0 + 1))
        .await
        .expect("first");
    s.claim_thread(&id, &user("bob"), &[Tier::Standard], T0 + 2)
        .await
        .expect("claim");
    s.append(&id, said(Author::Agent, "bob", "r1", T0 + 3))
        .await
        .expect("reply");
    s.resolve(&id, &user("bob"), T0 + 4).await.expect("resolve");
    s.append(&id, said(Author::Cardholder, "ann", "k2", T0 + 5))
        .await
        .expect("reopen");
    vec![id]
}
