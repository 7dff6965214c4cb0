//! The simulated users and the load patterns that schedule them.
//!
//! One task per simulated user owns its socket and runs one `select!` over
//! inbound frames, its next due send and the run's deadlines. A
//! [`cardholder`] task opens conversations one after another (one in `burst`);
//! an [`agent`] task serves as many as its `max_chats` allows. Both feed the
//! shared [`Shared::ledgers`] (exactly-once accounting) and the
//! [`Recorder`] (counters and latencies).
//!
//! Every loop is bounded: sending stops at `duration`, and at the hard
//! deadline (`duration + grace`) every task gives up, so a run always ends.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use switchboard::domain::conversation::Entry;
use switchboard::domain::{AgentState, ClientKey, ConversationId, EndReason, Seq, Topic};
use switchboard::protocol::{ClientFrame, ErrorCode, ServerFrame};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::{sleep_until, timeout, timeout_at};
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::accounting::{ConversationLedger, Delivery, Faults, MessageKey, Side};
use crate::config::{Config, Scenario, Target};
use crate::report::{Measure, Recorder};
use crate::tokens::{Identity, Population};

/// A client connection (plain `ws://` on loopback).
pub type Ws = WebSocketStream<TcpStream>;

/// Longest wait for TCP connect + upgrade + `welcome`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an agent waits, once both sides are done sending, for messages
/// still missing before it ends the chat anyway (they are then counted lost).
const END_WAIT: Duration = Duration::from_secs(5);
/// How often an agent re-checks whether a finished chat can be ended.
const END_POLL: Duration = Duration::from_millis(50);
/// Pause between a dropped connection and the reconnect.
const RECONNECT_PAUSE: Duration = Duration::from_millis(200);
/// Longest wait for a polite close at the end.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Pause before a `start` the hub refused with `busy` is sent again (the
/// hub stays behind for at least a few hundred ms once it is).
const BUSY_PAUSE: Duration = Duration::from_millis(500);

/// Topics of ordinary conversations, cycled.
const TOPICS: [Topic; 7] = [
    Topic::General,
    Topic::Billing,
    Topic::Dispute,
    Topic::LostCard,
    Topic::UpdateContact,
    Topic::TwoFactor,
    Topic::ForgotLogin,
];

/// Spreads sends so the whole run offers `rate` messages per second.
#[derive(Debug)]
pub struct Pacer {
    /// Gap between two sends; `None` when unpaced.
    interval: Option<Duration>,
    /// The next free slot. A std mutex: held for two assignments.
    next: Mutex<Instant>,
}

impl Pacer {
    /// A pacer for `rate` messages per second (`None`: no pacing).
    pub fn new(rate: Option<f64>) -> Pacer {
        Pacer {
            interval: rate.map(|r| Duration::from_secs_f64(1.0 / r)),
            next: Mutex::new(Instant::now()),
        }
    }

    /// Reserves a send slot no earlier than `earliest`.
    pub fn reserve(&self, earliest: Instant) -> Instant {
        let Some(interval) = self.interval else {
            return earliest;
        };
        let Ok(mut next) = self.next.lock() else {
            return earliest;
        };
        let slot = (*next).max(earliest);
        *next = slot + interval;
        slot
    }
}

/// Run phases agents watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Cardholders are still at work.
    Running,
    /// Every cardholder is done: agents close.
    Finished,
}

/// What every task of one run shares.
#[derive(Debug)]
pub struct Shared {
    /// The run's configuration.
    pub config: Config,
    /// Where to connect, round-robin by client index.
    pub targets: Vec<Target>,
    /// Counters and latencies.
    pub rec: Recorder,
    /// Per conversation: the exactly-once books. A std mutex, never held
    /// across an await.
    pub ledgers: Mutex<HashMap<ConversationId, ConversationLedger>>,
    /// Conversation → the agent it was assigned to (double-assignment check).
    pub assignments: Mutex<HashMap<ConversationId, String>>,
    /// Cardholder `sub` → when its current `start` was sent.
    pub started: Mutex<HashMap<String, Instant>>,
    /// Message pacing.
    pub pacer: Pacer,
    /// No message is sent after this.
    pub stop_sending: Instant,
    /// Everything gives up at this.
    pub hard_deadline: Instant,
    /// Conversations started so far (picks escalations).
    pub conversation_counter: AtomicU64,
    /// Burst: first `start`, last assignment.
    pub burst_window: Mutex<(Option<Instant>, Option<Instant>)>,
    /// Agents watch this to know when to close.
    pub phase: watch::Sender<Phase>,
    /// Burst: flips to true once every cardholder has tried to connect.
    pub burst_go: watch::Sender<bool>,
    /// Burst: cardholders done connecting.
    pub burst_ready: AtomicUsize,
}

impl Shared {
    /// The shared state for one run against `targets`.
    pub fn new(config: Config, targets: Vec<Target>) -> Shared {
        let now = Instant::now();
        let stop_sending = now + config.duration;
        let hard_deadline = stop_sending + config.grace;
        Shared {
            pacer: Pacer::new(config.rate),
            config,
            targets,
            rec: Recorder::new(),
            ledgers: Mutex::new(HashMap::new()),
            assignments: Mutex::new(HashMap::new()),
            started: Mutex::new(HashMap::new()),
            stop_sending,
            hard_deadline,
            conversation_counter: AtomicU64::new(0),
            burst_window: Mutex::new((None, None)),
            phase: watch::Sender::new(Phase::Running),
            burst_go: watch::Sender::new(false),
            burst_ready: AtomicUsize::new(0),
        }
    }

    fn target(&self, index: usize) -> &Target {
        &self.targets[index % self.targets.len()]
    }

    /// Runs `f` on a conversation's ledger (created on first use).
    fn ledger<R>(
        &self,
        conv: &ConversationId,
        f: impl FnOnce(&mut ConversationLedger) -> R,
    ) -> Option<R> {
        let mut map = self.ledgers.lock().ok()?;
        Some(f(map.entry(conv.clone()).or_default()))
    }

    /// Books one delivery and records relay latency when it crossed parties.
    fn deliver(&self, conv: &ConversationId, receiver: Side, entry: &Entry) {
        let d = self.ledger(conv, |l| {
            l.receive(receiver, entry.seq, entry.id.as_deref())
        });
        if let Some(Delivery::Duplicate | Delivery::Reordered(_)) = d {
            tracing::warn!(
                conversation = %conv, receiver = ?receiver, seq = entry.seq, id = ?entry.id,
                from = %entry.from, fault = ?d, "delivery fault"
            );
        }
        if let Some(Delivery::New(Some(k)) | Delivery::Reordered(Some(k))) = d {
            if k.side != receiver {
                self.rec.relayed(k.sent_us);
            }
        }
    }

    /// Sums every ledger's faults.
    pub fn faults(&self) -> Faults {
        let mut f = Faults::default();
        if let Ok(map) = self.ledgers.lock() {
            for l in map.values() {
                f.add(&l.finish());
            }
        }
        f
    }

    /// `k`-th of a population picked at `pct` percent, evenly spread.
    fn picked(k: u64, pct: f64) -> bool {
        let p = pct / 100.0;
        ((k + 1) as f64 * p).floor() > (k as f64 * p).floor()
    }
}

/// Connect, upgrade with the bearer token and wait for `welcome`.
pub async fn connect(
    shared: &Shared,
    target: &Target,
    token: &str,
) -> Result<(Ws, ServerFrame), String> {
    shared
        .rec
        .counters
        .connect_attempts
        .fetch_add(1, Ordering::Relaxed);
    let t0 = Instant::now();
    let result = timeout(CONNECT_TIMEOUT, async {
        let stream = loopback_stream(target.addr)
            .await
            .map_err(|e| format!("connect:{:?}", e.kind()))?;
        let mut req = target
            .ws_url
            .as_str()
            .into_client_request()
            .map_err(|_| "connect:request".to_owned())?;
        let bearer = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| "connect:token".to_owned())?;
        req.headers_mut().insert("authorization", bearer);
        let (mut ws, _) =
            tokio_tungstenite::client_async(req, stream)
                .await
                .map_err(|e| match e {
                    tokio_tungstenite::tungstenite::Error::Http(r) => {
                        format!("connect:http_{}", r.status().as_u16())
                    }
                    _ => "connect:upgrade".to_owned(),
                })?;
        match read_frame(&mut ws).await {
            Some(Ok(f @ ServerFrame::Welcome { .. })) => Ok((ws, f)),
            Some(Ok(_)) => Err("connect:no_welcome".to_owned()),
            Some(Err(e)) => Err(e),
            None => Err("connect:closed".to_owned()),
        }
    })
    .await;
    match result {
        Ok(Ok(ok)) => {
            shared.rec.record(Measure::ConnectAuth, t0.elapsed());
            shared.rec.opened();
            Ok(ok)
        }
        Ok(Err(e)) => Err(e),
        Err(_) => Err("connect:timeout".to_owned()),
    }
}

/// A TCP stream to a loopback address (targets are checked to be loopback
/// when the configuration is parsed, so the kernel picks a loopback source).
/// The source port is left unbound: a `bind` to port 0 would never reuse a
/// port in TIME_WAIT, and back-to-back runs of 10,000 connections would run
/// out of ephemeral ports.
async fn loopback_stream(addr: SocketAddr) -> std::io::Result<TcpStream> {
    if !addr.ip().is_loopback() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "load tests only target loopback addresses",
        ));
    }
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    let stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// The next hub frame: `None` when the connection ended, `Err` for a frame
/// that is not protocol v1.
async fn read_frame(ws: &mut Ws) -> Option<Result<ServerFrame, String>> {
    loop {
        match ws.next().await? {
            Ok(Message::Text(t)) => {
                return Some(
                    serde_json::from_str(t.as_str()).map_err(|_| "protocol:bad_frame".to_owned()),
                )
            }
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

async fn send(ws: &mut Ws, frame: &ClientFrame) -> Result<(), String> {
    let text = serde_json::to_string(frame).map_err(|_| "encode".to_owned())?;
    ws.send(Message::text(text))
        .await
        .map_err(|_| "send:closed".to_owned())
}

async fn close(shared: &Shared, mut ws: Ws) {
    let _ = timeout(CLOSE_TIMEOUT, ws.close(None)).await;
    shared.rec.closed();
}

fn say(conversation: Option<ConversationId>, key: MessageKey) -> ClientFrame {
    let who = if key.side == Side::Agent {
        "agent"
    } else {
        "cardholder"
    };
    ClientFrame::Say {
        conversation,
        id: ClientKey::parse(&key.encode()).expect("the tool's keys are client keys"),
        text: format!("load test message {} from the {who}", key.n),
    }
}

/// The error-kind name of an `error` frame's code.
fn error_kind(code: ErrorCode) -> String {
    let name = serde_json::to_value(code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned));
    format!("error:{}", name.unwrap_or_default())
}

/// Sleeps until `at`, or forever when `None` (for optional `select!` arms).
async fn sleep_opt(at: Option<Instant>) {
    match at {
        Some(at) => sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// How one cardholder conversation ended.
enum Outcome {
    /// Over (normally or not); the connection is still usable.
    Done,
    /// The connection is gone; the task stops.
    Gone,
}

/// One simulated cardholder.
pub async fn cardholder(shared: Arc<Shared>, who: Identity, index: usize, start_at: Instant) {
    sleep_until(start_at.into()).await;
    let target = shared.target(index).clone();
    let connected = connect(&shared, &target, &who.token).await;
    let burst = shared.config.scenario == Scenario::Burst;
    if burst {
        let ready = shared.burst_ready.fetch_add(1, Ordering::AcqRel) + 1;
        if ready >= shared.config.cardholders {
            shared.burst_go.send_replace(true);
        }
    }
    let mut ws = match connected {
        Ok((ws, _)) => ws,
        Err(e) => return shared.rec.error(e),
    };
    if shared.config.scenario == Scenario::Idle {
        sleep_until(shared.stop_sending.into()).await;
        return close(&shared, ws).await;
    }
    if burst {
        let mut go = shared.burst_go.subscribe();
        if timeout_at(shared.stop_sending.into(), go.wait_for(|g| *g))
            .await
            .is_err()
        {
            shared.rec.error("burst:never_started");
            return close(&shared, ws).await;
        }
    }
    let reconnects = shared.config.scenario == Scenario::Reconnect
        && Shared::picked(index as u64, shared.config.reconnect_pct);
    loop {
        if Instant::now() >= shared.stop_sending {
            break;
        }
        match conversation(&shared, &who, &target, &mut ws, reconnects).await {
            Outcome::Done => {}
            Outcome::Gone => return shared.rec.closed(),
        }
        if burst {
            break;
        }
        sleep_until((Instant::now() + shared.config.think).into()).await;
    }
    close(&shared, ws).await;
}

/// Cardholder side of one conversation, from `start` to `ended`.
async fn conversation(
    shared: &Shared,
    who: &Identity,
    target: &Target,
    ws: &mut Ws,
    reconnects: bool,
) -> Outcome {
    let k = shared.conversation_counter.fetch_add(1, Ordering::Relaxed);
    let escalate = Shared::picked(k, shared.config.escalations_pct);
    let topic = if escalate {
        if k.is_multiple_of(2) {
            Topic::LockedAccount
        } else {
            Topic::FraudRestriction
        }
    } else {
        TOPICS[(k % TOPICS.len() as u64) as usize]
    };
    let started_at = Instant::now();
    if let Ok(mut m) = shared.started.lock() {
        m.insert(who.sub.clone(), started_at);
    }
    if let Ok(mut w) = shared.burst_window.lock() {
        w.0.get_or_insert(started_at);
    }
    shared
        .rec
        .counters
        .conversations_started
        .fetch_add(1, Ordering::Relaxed);
    if let Err(e) = send(
        ws,
        &ClientFrame::Start {
            topic,
            text: None,
            mode: None,
            id: None,
        },
    )
    .await
    {
        shared.rec.error(e);
        return Outcome::Gone;
    }
    let limit = shared.config.messages;
    let mut conv: Option<ConversationId> = None;
    let mut assigned = false;
    let mut left = false;
    let mut sent: Vec<MessageKey> = Vec::new();
    let mut next_send: Option<Instant> = None;
    let mut dropped = false;
    let conn_pacer = Pacer::new(shared.config.conn_rate);
    // When to send `start` again after the hub refused it with `busy`.
    let mut retry_start: Option<Instant> = None;
    loop {
        let queued_too_long = !assigned && !left && !escalate && retry_start.is_none();
        tokio::select! {
            frame = read_frame(ws) => {
                let frame = match frame {
                    Some(Ok(f)) => f,
                    Some(Err(e)) => { shared.rec.error(e); continue; }
                    None => { shared.rec.error("closed:cardholder"); return Outcome::Gone; }
                };
                match frame {
                    ServerFrame::Queued { conversation, .. } => {
                        if escalate {
                            shared.rec.error("escalation:queued_instead");
                        }
                        conv.get_or_insert(conversation);
                    }
                    ServerFrame::Assigned { conversation, .. } => {
                        if assigned {
                            shared.rec.error("protocol:assigned_twice");
                            continue;
                        }
                        assigned = true;
                        shared.rec.record(Measure::QueueWait, started_at.elapsed());
                        conv = Some(conversation);
                        next_send = Some(conn_pacer.reserve(shared.pacer.reserve(Instant::now())));
                    }
                    ServerFrame::Msg { conversation, entry } => {
                        if conv.is_none() {
                            conv = Some(conversation.clone());
                        }
                        shared.deliver(&conversation, Side::Cardholder, &entry);
                    }
                    ServerFrame::Transcript { conversation, entries, more } => {
                        let last = entries.last().map(|e| e.seq);
                        for entry in &entries {
                            shared.deliver(&conversation, Side::Cardholder, entry);
                        }
                        if let (true, Some(after)) = (more, last) {
                            let next = ClientFrame::Sync { conversation: None, after };
                            if let Err(e) = send(ws, &next).await {
                                shared.rec.error(e);
                            }
                        }
                    }
                    ServerFrame::Escalated { conversation, .. } => {
                        if !escalate {
                            shared.rec.error("escalation:unexpected");
                        }
                        conv.get_or_insert(conversation);
                    }
                    ServerFrame::Ended { conversation, reason } => {
                        if conv.as_ref().is_some_and(|c| *c != conversation) {
                            shared.rec.error("protocol:ended_other_conversation");
                            continue;
                        }
                        match (reason, escalate, left) {
                            (EndReason::Escalated, true, _) => {
                                shared.rec.counters.conversations_escalated.fetch_add(1, Ordering::Relaxed);
                            }
                            (EndReason::AgentEnded, false, _) => {
                                shared.rec.counters.conversations_completed.fetch_add(1, Ordering::Relaxed);
                            }
                            (EndReason::CardholderLeft, _, true) => {}
                            (r, _, _) => shared.rec.error(format!("ended:{}", r.as_str())),
                        }
                        if let Some(c) = &conv {
                            shared.ledger(c, |l| l.done_sending(Side::Cardholder));
                        }
                        return Outcome::Done;
                    }
                    ServerFrame::Error { code, reference, .. } => {
                        let key = reference.as_deref().and_then(MessageKey::parse);
                        let counters = &shared.rec.counters;
                        match (code, key) {
                            (ErrorCode::Busy, Some(_)) => {
                                counters.says_refused_busy.fetch_add(1, Ordering::Relaxed);
                                // As the widget does: a refused client backs off before its next message.
                                if next_send.is_some() {
                                    next_send = Some(Instant::now() + BUSY_PAUSE);
                                }
                            }
                            (ErrorCode::Busy, None) => {
                                counters.starts_refused_busy.fetch_add(1, Ordering::Relaxed);
                                if conv.is_none() && !assigned {
                                    retry_start = Some(Instant::now() + BUSY_PAUSE);
                                }
                            }
                            _ => shared.rec.error(error_kind(code)),
                        }
                        if let (Some(c), Some(k)) = (&conv, key) {
                            shared.ledger(c, |l| l.refused(k.side, k.n));
                        }
                    }
                    _ => {}
                }
            }
            _ = sleep_opt(next_send) => {
                let Some(c) = conv.clone() else { next_send = None; continue };
                let now = Instant::now();
                if now >= shared.stop_sending || sent.len() as u32 >= limit {
                    shared.ledger(&c, |l| l.done_sending(Side::Cardholder));
                    next_send = None;
                    continue;
                }
                let key = MessageKey { side: Side::Cardholder, n: sent.len() as u32 + 1, sent_us: shared.rec.now_us() };
                shared.ledger(&c, |l| l.sent(Side::Cardholder, key.n));
                if let Err(e) = send(ws, &say(None, key)).await {
                    shared.rec.error(e);
                    return Outcome::Gone;
                }
                shared.rec.sent_at(key.sent_us);
                sent.push(key);
                if sent.len() as u32 >= limit {
                    shared.ledger(&c, |l| l.done_sending(Side::Cardholder));
                    next_send = None;
                } else {
                    next_send = Some(conn_pacer.reserve(shared.pacer.reserve(now + shared.config.think)));
                }
                if reconnects && !dropped && sent.len() as u32 == limit.div_ceil(2) {
                    dropped = true;
                    match resume(shared, who, target, ws, &c, &sent).await {
                        Ok(()) => {}
                        Err(e) => { shared.rec.error(e); return Outcome::Gone; }
                    }
                }
            }
            _ = sleep_opt(retry_start) => {
                retry_start = None;
                if Instant::now() >= shared.stop_sending {
                    return Outcome::Done;
                }
                if let Err(e) = send(ws, &ClientFrame::Start { topic, text: None, mode: None, id: None }).await {
                    shared.rec.error(e);
                    return Outcome::Gone;
                }
            }
            _ = sleep_until(shared.stop_sending.into()), if queued_too_long => {
                // Time is up while still queued: leave the queue.
                left = true;
                if let Err(e) = send(ws, &ClientFrame::Leave).await {
                    shared.rec.error(e);
                    return Outcome::Gone;
                }
            }
            _ = sleep_until(shared.hard_deadline.into()) => {
                shared.rec.error(if assigned { "timeout:ended" } else { "timeout:assigned" });
                if let Some(c) = &conv {
                    shared.ledger(c, |l| l.done_sending(Side::Cardholder));
                }
                return Outcome::Gone;
            }
        }
    }
}

/// Reconnect scenario: drop the connection mid-chat, reconnect, `sync` what
/// was missed and resend what the hub may not have stored.
async fn resume(
    shared: &Shared,
    who: &Identity,
    target: &Target,
    ws: &mut Ws,
    conv: &ConversationId,
    sent: &[MessageKey],
) -> Result<(), String> {
    // Drop without a close frame, as a mobile network does.
    let fresh = loop {
        tokio::time::sleep(RECONNECT_PAUSE).await;
        match connect(shared, target, &who.token).await {
            Ok(ok) => break ok,
            Err(e) if Instant::now() < shared.stop_sending => shared.rec.error(e),
            Err(e) => return Err(e),
        }
    };
    let old = std::mem::replace(ws, fresh.0);
    drop(old);
    shared.rec.closed();
    shared
        .rec
        .counters
        .reconnects
        .fetch_add(1, Ordering::Relaxed);
    let ServerFrame::Welcome {
        conversation: Some(state),
        ..
    } = fresh.1
    else {
        return Err("resume:no_conversation".into());
    };
    if state.id != *conv {
        return Err("resume:other_conversation".into());
    }
    let after: Seq = shared
        .ledger(conv, |l| {
            l.resync(Side::Cardholder, state.last_seq);
            l.sync_point(Side::Cardholder)
        })
        .unwrap_or(0);
    send(
        ws,
        &ClientFrame::Sync {
            conversation: None,
            after,
        },
    )
    .await?;
    let missing = shared
        .ledger(conv, |l| l.unreceived(Side::Cardholder, Side::Cardholder))
        .unwrap_or_default();
    for n in missing {
        let Some(key) = sent.get(n as usize - 1) else {
            continue;
        };
        shared.ledger(conv, |l| l.resent(Side::Cardholder, n));
        send(ws, &say(None, *key)).await?;
    }
    Ok(())
}

/// An agent's view of one of its chats.
#[derive(Debug)]
struct Chat {
    /// Messages sent so far.
    sent: u32,
    /// When to send the next one, or re-check whether to end.
    due: Option<Instant>,
    /// Both sides done sending since then; ended anyway after [`END_WAIT`].
    finishing_since: Option<Instant>,
    /// `end` sent.
    ending: bool,
    /// When `end` was sent: the hub may free the slot from then on.
    end_sent_at: Option<Instant>,
    /// Not this run's conversation: ended at once, not accounted.
    foreign: bool,
}

/// One simulated agent.
pub async fn agent(shared: Arc<Shared>, who: Identity, index: usize, start_at: Instant) {
    sleep_until(start_at.into()).await;
    let target = shared.target(index).clone();
    let mut ws = match connect(&shared, &target, &who.token).await {
        Ok((ws, _)) => ws,
        Err(e) => return shared.rec.error(e),
    };
    let mut phase = shared.phase.subscribe();
    if shared.config.scenario == Scenario::Idle {
        let _ = timeout_at(
            shared.hard_deadline.into(),
            phase.wait_for(|p| *p == Phase::Finished),
        )
        .await;
        return close(&shared, ws).await;
    }
    if let Err(e) = send(
        &mut ws,
        &ClientFrame::Status {
            state: AgentState::Available,
        },
    )
    .await
    {
        shared.rec.error(e);
        return shared.rec.closed();
    }
    let mut slot_free_at = Instant::now();
    let mut chats: HashMap<ConversationId, Chat> = HashMap::new();
    // Sent ids not yet echoed back, so a refusal (`error` with `ref`) can be
    // booked to its conversation. Bounded by max_chats × messages.
    let mut unechoed: HashMap<String, ConversationId> = HashMap::new();
    let conn_pacer = Pacer::new(shared.config.conn_rate);
    let limit = shared.config.messages;
    loop {
        let due = chats.values().filter_map(|c| c.due).min();
        tokio::select! {
            frame = read_frame(&mut ws) => {
                let frame = match frame {
                    Some(Ok(f)) => f,
                    Some(Err(e)) => { shared.rec.error(e); continue; }
                    None => {
                        if *shared.phase.borrow() != Phase::Finished {
                            shared.rec.error("closed:agent");
                        }
                        return shared.rec.closed();
                    }
                };
                match frame {
                    ServerFrame::Assigned { conversation, cardholder, transcript, .. } => {
                        let now = Instant::now();
                        let c = &shared.rec.counters;
                        c.conversations_assigned.fetch_add(1, Ordering::Relaxed);
                        let twice = shared.assignments.lock().map(|mut m| m.insert(conversation.clone(), who.sub.clone()).is_some()).unwrap_or(false);
                        if twice || chats.contains_key(&conversation) {
                            c.double_assigned.fetch_add(1, Ordering::Relaxed);
                        }
                        if chats.len() as u32 >= who.max_chats {
                            c.over_max_chats.fetch_add(1, Ordering::Relaxed);
                        }
                        let started = cardholder.and_then(|ch| shared.started.lock().ok()?.get(ch.sub.as_str()).copied());
                        let Some(started) = started else {
                            // Not this run's cardholder (left over on the hub from an
                            // earlier run): end it at once, keep it out of the books.
                            c.foreign_conversations.fetch_add(1, Ordering::Relaxed);
                            let chat = Chat { sent: 0, due: None, finishing_since: Some(now), ending: true, end_sent_at: Some(now), foreign: true };
                            chats.insert(conversation.clone(), chat);
                            if let Err(e) = send(&mut ws, &ClientFrame::End { conversation }).await {
                                shared.rec.error(e);
                                return shared.rec.closed();
                            }
                            continue;
                        };
                        shared.rec.record(Measure::Assignment, now.saturating_duration_since(started.max(slot_free_at)));
                        if let Ok(mut w) = shared.burst_window.lock() {
                            w.1 = Some(now);
                        }
                        for entry in transcript.unwrap_or_default() {
                            shared.deliver(&conversation, Side::Agent, &entry);
                        }
                        let due = Some(conn_pacer.reserve(shared.pacer.reserve(now)));
                        chats.insert(conversation, Chat { sent: 0, due, finishing_since: None, ending: false, end_sent_at: None, foreign: false });
                    }
                    ServerFrame::Msg { conversation, entry } => {
                        if let Some(id) = &entry.id {
                            unechoed.remove(id);
                        }
                        if chats.get(&conversation).is_some_and(|c| c.foreign) {
                            continue;
                        }
                        shared.deliver(&conversation, Side::Agent, &entry);
                        if let Some(chat) = chats.get_mut(&conversation) {
                            if chat.finishing_since.is_some() && !chat.ending {
                                chat.due = Some(Instant::now());
                            }
                        }
                    }
                    ServerFrame::Ended { conversation, reason } => {
                        let freed = match chats.remove(&conversation) {
                            Some(chat) if chat.ending && reason == EndReason::AgentEnded => chat.end_sent_at,
                            // At the deadline queued cardholders leave; one may have
                            // been assigned as it left.
                            Some(_) if reason == EndReason::CardholderLeft && Instant::now() >= shared.stop_sending => None,
                            Some(_) => { shared.rec.error(format!("agent_ended:{}", reason.as_str())); None }
                            None => { shared.rec.error("protocol:ended_unknown_conversation"); None }
                        };
                        if chats.len() as u32 + 1 == who.max_chats {
                            // The slot was free for the hub once it had our `end`.
                            slot_free_at = freed.unwrap_or_else(Instant::now);
                        }
                    }
                    ServerFrame::Error { code, reference, .. } => {
                        // After the deadline a queued cardholder may leave just as it
                        // is assigned: a say to that chat is refused, as it should be.
                        let late = code == ErrorCode::NoConversation && Instant::now() >= shared.stop_sending;
                        if code == ErrorCode::Busy {
                            shared.rec.counters.says_refused_busy.fetch_add(1, Ordering::Relaxed);
                        } else if !late {
                            shared.rec.error(error_kind(code));
                        }
                        let refused = reference.as_deref().and_then(|r| Some((unechoed.remove(r)?, MessageKey::parse(r)?)));
                        if let Some((c, k)) = refused {
                            shared.ledger(&c, |l| l.refused(k.side, k.n));
                            // As the agent pane does: back off on that chat after a refusal.
                            if code == ErrorCode::Busy {
                                if let Some(chat) = chats.get_mut(&c) {
                                    if chat.due.is_some() {
                                        chat.due = Some(Instant::now() + BUSY_PAUSE);
                                    }
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
            _ = sleep_opt(due) => {
                let now = Instant::now();
                let ready: Vec<ConversationId> = chats.iter().filter(|(_, c)| c.due.is_some_and(|d| d <= now)).map(|(id, _)| id.clone()).collect();
                for id in ready {
                    let Some(chat) = chats.get_mut(&id) else { continue };
                    chat.due = None;
                    if chat.finishing_since.is_none() {
                        if chat.sent < limit && now < shared.stop_sending {
                            chat.sent += 1;
                            let key = MessageKey { side: Side::Agent, n: chat.sent, sent_us: shared.rec.now_us() };
                            shared.ledger(&id, |l| l.sent(Side::Agent, key.n));
                            unechoed.insert(key.encode(), id.clone());
                            if let Err(e) = send(&mut ws, &say(Some(id.clone()), key)).await {
                                shared.rec.error(e);
                                return shared.rec.closed();
                            }
                            shared.rec.sent_at(key.sent_us);
                            chat.due = Some(conn_pacer.reserve(shared.pacer.reserve(now + shared.config.think)));
                            continue;
                        }
                        shared.ledger(&id, |l| l.done_sending(Side::Agent));
                        chat.finishing_since = Some(now);
                    }
                    let (cardholder_done, complete) = shared
                        .ledger(&id, |l| (l.is_done_sending(Side::Cardholder), l.has_all(Side::Agent)))
                        .unwrap_or((true, true));
                    let waited = chat.finishing_since.map(|s| now - s).unwrap_or_default();
                    if (cardholder_done && complete) || waited >= END_WAIT || now >= shared.hard_deadline {
                        chat.ending = true;
                        chat.end_sent_at = Some(now);
                        if let Err(e) = send(&mut ws, &ClientFrame::End { conversation: id.clone() }).await {
                            shared.rec.error(e);
                            return shared.rec.closed();
                        }
                    } else {
                        chat.due = Some(now + END_POLL);
                    }
                }
            }
            _ = async { let _ = phase.wait_for(|p| *p == Phase::Finished).await; } => break,
            _ = sleep_until(shared.hard_deadline.into()) => {
                if !chats.is_empty() {
                    shared.rec.error("timeout:agent_chats_open");
                }
                break;
            }
        }
    }
    close(&shared, ws).await;
}

/// Launches every simulated user per the scenario and waits for the end.
/// Returns the burst drain time when it applies.
pub async fn drive(shared: Arc<Shared>, population: Population) -> Option<Duration> {
    let config = &shared.config;
    let now = Instant::now();
    let ramp = match config.scenario {
        Scenario::Burst => config.ramp.min(config.duration / 2),
        _ => config.ramp,
    };
    // Agents connect over the first half of the ramp, cardholders over all of it.
    let spread =
        |i: usize, n: usize, span: Duration| now + span.mul_f64(i as f64 / n.max(1) as f64);
    let mut agents = JoinSet::new();
    let n_agents = population.agents.len();
    for (i, who) in population.agents.into_iter().enumerate() {
        agents.spawn(agent(shared.clone(), who, i, spread(i, n_agents, ramp / 2)));
    }
    let mut cardholders = JoinSet::new();
    let n = population.cardholders.len();
    let offset = if config.scenario == Scenario::Burst {
        ramp / 2
    } else {
        Duration::ZERO
    };
    for (i, who) in population.cardholders.into_iter().enumerate() {
        let at = spread(i, n, ramp - offset) + offset;
        cardholders.spawn(cardholder(shared.clone(), who, n_agents + i, at));
    }
    let give_up = shared.hard_deadline + CLOSE_TIMEOUT * 2;
    while let Ok(Some(_)) = timeout_at(give_up.into(), cardholders.join_next()).await {}
    cardholders.abort_all();
    shared.phase.send_replace(Phase::Finished);
    while let Ok(Some(_)) = timeout_at(
        (Instant::now() + CLOSE_TIMEOUT * 2).into(),
        agents.join_next(),
    )
    .await
    {}
    agents.abort_all();
    let window = shared.burst_window.lock().ok().map(|w| *w);
    match (config.scenario, window) {
        (Scenario::Burst, Some((Some(first), Some(last)))) => {
            Some(last.saturating_duration_since(first))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacer_spaces_slots() {
        let p = Pacer::new(Some(100.0));
        let t = Instant::now();
        let a = p.reserve(t);
        let b = p.reserve(t);
        assert!(b.duration_since(a) >= Duration::from_millis(9));
        let unpaced = Pacer::new(None);
        assert_eq!(unpaced.reserve(t), t);
    }

    #[test]
    fn picks_the_requested_share() {
        let picked = (0..1000).filter(|k| Shared::picked(*k, 20.0)).count();
        assert_eq!(picked, 200);
        assert_eq!((0..50).filter(|k| Shared::picked(*k, 0.0)).count(), 0);
        assert_eq!((0..50).filter(|k| Shared::picked(*k, 100.0)).count(), 50);
    }
}
