//! The bare stack: a raw tokio-tungstenite relay started in-process, speaking
//! just enough of protocol v1 (the library's own frame types) for the same
//! drivers to run against it unchanged.
//!
//! It is the floor a hub node is compared with: the same sockets, WebSocket
//! framing and JSON, but no signature check (claims are read unverified), no
//! store, no routing policy beyond "first free agent of the tier", and
//! everything in one `std::sync::Mutex` that is never held across an await.
//! Hub figures divided by these say what the hub's own work costs.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt as _, StreamExt as _};
use switchboard::domain::conversation::Entry;
use switchboard::domain::inbox::CardholderInfo;
use switchboard::domain::{
    now_millis, rfc3339, AgentState, Author, CallbackRef, ConversationId, ConversationStatus, Desk,
    EndReason, Role, Seq, Team, Tier, Topic, UserId,
};
use switchboard::protocol::{
    AgentInfo, CallbackView, ClientFrame, ConversationState, ErrorCode, ServerFrame,
    PROTOCOL_VERSION,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::Message;

use crate::tokens::{identity_from_token, Identity};

/// Frames queued per connection. When a client lags this far behind it is
/// disconnected, as the hub does with slow consumers, rather than letting
/// memory grow.
const OUTBOUND_CAPACITY: usize = 1024;

/// Worker threads of the baseline's own runtime: as many as a hub process
/// would get on the 2-core benchmark machine.
const SERVER_THREADS: usize = 2;

/// A running baseline server; dropping it stops it and every connection.
#[derive(Debug)]
pub struct Baseline {
    /// Where it listens (127.0.0.1, an ephemeral port).
    pub addr: SocketAddr,
    /// Dropping this stops the server's runtime.
    _stop: oneshot::Sender<()>,
}

/// Deliberate faults, to prove end to end that the accounting catches them.
/// Counted over every `say` the server stores, from 1.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sabotage {
    /// This message reaches its sender only, never the other party.
    pub drop_nth: Option<u64>,
    /// This message reaches the other party twice.
    pub duplicate_nth: Option<u64>,
}

/// Binds 127.0.0.1:0 and serves until dropped.
pub async fn start() -> std::io::Result<Baseline> {
    start_with(Sabotage::default()).await
}

/// [`start`], with deliberate faults.
///
/// The server runs on its own runtime in its own threads, like a separate
/// process, so it does not queue behind the simulated clients' tasks.
pub async fn start_with(sabotage: Sabotage) -> std::io::Result<Baseline> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(SERVER_THREADS)
        .thread_name("baseline-server")
        .enable_all()
        .build()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let shared = Arc::new(Shared::default());
    if let Ok(mut st) = shared.state.lock() {
        st.sabotage = sabotage;
    }
    std::thread::Builder::new()
        .name("baseline".into())
        .spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = TcpListener::from_std(listener) else {
                    return;
                };
                let accept = async {
                    loop {
                        let Ok((stream, _)) = listener.accept().await else {
                            continue;
                        };
                        let _ = stream.set_nodelay(true);
                        let shared = shared.clone();
                        // One task per connection; its errors end only itself.
                        tokio::spawn(async move { serve(shared, stream).await });
                    }
                };
                tokio::select! {
                    _ = accept => {}
                    _ = stopped => {}
                }
            });
            // Dropping the runtime here ends every connection task.
        })?;
    Ok(Baseline { addr, _stop: stop })
}

#[derive(Debug, Default)]
struct Shared {
    /// Connection ids.
    next_conn: AtomicU64,
    /// Everything else. Never held across an await.
    state: Mutex<State>,
}

#[derive(Debug)]
struct Conv {
    cardholder: UserId,
    cardholder_name: Option<String>,
    agent: Option<UserId>,
    tier: Tier,
    topic: Topic,
    status: ConversationStatus,
    queued_at: i64,
    transcript: Vec<Entry>,
    /// Client id → seq, for idempotent `say`.
    ids: HashMap<String, Seq>,
}

#[derive(Debug)]
struct AgentSlot {
    teams: Vec<Tier>,
    max_chats: u32,
    active: u32,
    available: bool,
    name: String,
}

#[derive(Debug, Default)]
struct State {
    /// Open connections per user.
    conns: HashMap<UserId, Vec<(u64, mpsc::Sender<Message>)>>,
    convs: HashMap<ConversationId, Conv>,
    /// A cardholder's open conversation.
    open: HashMap<UserId, ConversationId>,
    /// Waiting conversations, FIFO over all tiers.
    queue: VecDeque<ConversationId>,
    agents: HashMap<UserId, AgentSlot>,
    /// Faults to inject (none outside tests).
    sabotage: Sabotage,
    /// `say`s stored so far, for [`Sabotage`].
    says: u64,
}

impl State {
    fn send(&mut self, to: &UserId, frame: &ServerFrame) {
        let Some(list) = self.conns.get_mut(to) else {
            return;
        };
        let msg = Message::text(frame.to_text());
        // A full queue means a slow client: it is dropped (its sender closed).
        list.retain(|(_, tx)| tx.try_send(msg.clone()).is_ok());
    }

    fn assign(&mut self, conv_id: &ConversationId, agent_id: &UserId) {
        let Some(agent) = self.agents.get_mut(agent_id) else {
            return;
        };
        agent.active += 1;
        let agent_name = agent.name.clone();
        let Some(conv) = self.convs.get_mut(conv_id) else {
            return;
        };
        conv.agent = Some(agent_id.clone());
        conv.status = ConversationStatus::Active;
        let waited_s = u64::try_from((now_millis() - conv.queued_at) / 1000).unwrap_or(0);
        let to_agent = ServerFrame::Assigned {
            conversation: conv_id.clone(),
            agent: None,
            cardholder: Some(CardholderInfo {
                sub: conv.cardholder.clone(),
                name: conv.cardholder_name.clone(),
                tier: conv.tier,
            }),
            topic: Some(conv.topic),
            waited_s: Some(waited_s),
            transcript: Some(conv.transcript.clone()),
            history: Some(Vec::new()),
            kind: None,
            transfers: Some(Vec::new()),
            notes: Some(Vec::new()),
        };
        let to_cardholder = ServerFrame::Assigned {
            conversation: conv_id.clone(),
            agent: Some(AgentInfo { name: agent_name }),
            cardholder: None,
            topic: None,
            waited_s: None,
            transcript: None,
            history: None,
            kind: None,
            transfers: None,
            notes: None,
        };
        let cardholder = conv.cardholder.clone();
        self.send(agent_id, &to_agent);
        self.send(&cardholder, &to_cardholder);
    }

    /// A conversation was queued: give it to the least busy free agent.
    fn place(&mut self, conv_id: &ConversationId) {
        let Some(tier) = self.convs.get(conv_id).map(|c| c.tier) else {
            return;
        };
        let best = self
            .agents
            .iter()
            .filter(|(_, a)| a.available && a.active < a.max_chats && a.teams.contains(&tier))
            .min_by_key(|(_, a)| a.active)
            .map(|(id, _)| id.clone());
        if let Some(agent) = best {
            self.queue.retain(|c| c != conv_id);
            self.assign(conv_id, &agent);
        }
    }

    /// An agent has room: give it the oldest conversation it serves.
    fn fill(&mut self, agent_id: &UserId) {
        loop {
            let Some(a) = self.agents.get(agent_id) else {
                return;
            };
            if !a.available || a.active >= a.max_chats {
                return;
            }
            let pos = self
                .queue
                .iter()
                .position(|c| self.convs.get(c).is_some_and(|c| a.teams.contains(&c.tier)));
            let Some(pos) = pos else { return };
            let Some(conv) = self.queue.remove(pos) else {
                return;
            };
            self.assign(&conv, agent_id);
        }
    }

    fn append(&mut self, conv_id: &ConversationId, from: Author, id: Option<String>, text: String) {
        let Some(conv) = self.convs.get_mut(conv_id) else {
            return;
        };
        let seq = conv.transcript.len() as Seq + 1;
        let entry = Entry {
            seq,
            from,
            text,
            at: rfc3339(now_millis()),
            id: id.clone(),
        };
        if let Some(id) = id {
            conv.ids.insert(id, seq);
        }
        conv.transcript.push(entry.clone());
        let (cardholder, agent) = (conv.cardholder.clone(), conv.agent.clone());
        let frame = ServerFrame::Msg {
            conversation: conv_id.clone(),
            entry,
        };
        // Copies for [cardholder, agent]; only sabotage changes them.
        let mut copies = [1, 1];
        if from != Author::System {
            self.says += 1;
            let other = usize::from(from == Author::Cardholder);
            if self.sabotage.drop_nth == Some(self.says) {
                copies[other] = 0;
            }
            if self.sabotage.duplicate_nth == Some(self.says) {
                copies[other] = 2;
            }
        }
        for _ in 0..copies[0] {
            self.send(&cardholder, &frame);
        }
        if let Some(agent) = agent {
            for _ in 0..copies[1] {
                self.send(&agent, &frame);
            }
        }
    }

    fn end(&mut self, conv_id: &ConversationId, reason: EndReason) {
        let Some(conv) = self.convs.get_mut(conv_id) else {
            return;
        };
        conv.status = ConversationStatus::Ended;
        let (cardholder, agent) = (conv.cardholder.clone(), conv.agent.clone());
        self.open.remove(&cardholder);
        self.queue.retain(|c| c != conv_id);
        let frame = ServerFrame::Ended {
            conversation: conv_id.clone(),
            reason,
        };
        self.send(&cardholder, &frame);
        if let Some(agent) = agent {
            self.send(&agent, &frame);
            if let Some(a) = self.agents.get_mut(&agent) {
                a.active = a.active.saturating_sub(1);
            }
            self.fill(&agent);
        }
        // Transcripts are kept only while open: the baseline stores nothing.
        self.convs.remove(conv_id);
    }

    fn welcome(&self, who: &Identity) -> ServerFrame {
        let conversation = self.open.get(&UserId(who.sub.clone())).and_then(|id| {
            let c = self.convs.get(id)?;
            Some(ConversationState {
                id: id.clone(),
                status: c.status,
                tier: c.tier,
                last_seq: c.transcript.len() as Seq,
                topic: Some(c.topic),
                cardholder: None,
                agent: None,
                kind: None,
                transfers: Vec::new(),
                notes: Vec::new(),
            })
        });
        let agent = who.role == Role::Agent;
        ServerFrame::Welcome {
            role: who.role,
            sub: UserId(who.sub.clone()),
            protocol: PROTOCOL_VERSION,
            conversation,
            teams: agent.then(|| who.teams.clone()),
            max_chats: agent.then(|| u8::try_from(who.max_chats).unwrap_or(u8::MAX)),
            conversations: None,
            state: None,
            callbacks: None,
            canned: None,
            threads: None,
            message_reply_within_s: None,
            call_back_topics: None,
        }
    }

    fn handle(&mut self, who: &Identity, me: &mpsc::Sender<Message>, frame: ClientFrame) {
        let sub = UserId(who.sub.clone());
        let reply = |frame: ServerFrame| {
            let _ = me.try_send(Message::text(frame.to_text()));
        };
        let not_allowed = || ServerFrame::error(ErrorCode::NotAllowed, "not allowed", None);
        match (who.role, frame) {
            (Role::Cardholder, ClientFrame::Start { topic, .. }) => {
                if let Some(id) = self.open.get(&sub).cloned() {
                    if let Some(c) = self.convs.get(&id) {
                        reply(ServerFrame::Queued {
                            conversation: id,
                            tier: c.tier,
                            position: 1,
                            eta_s: None,
                            availability: Default::default(),
                        });
                    }
                    return;
                }
                let Some(tier) = who.tier else {
                    return reply(not_allowed());
                };
                let id = ConversationId::generate();
                self.convs.insert(
                    id.clone(),
                    Conv {
                        cardholder: sub.clone(),
                        cardholder_name: None,
                        agent: None,
                        tier,
                        topic,
                        status: ConversationStatus::Queued,
                        queued_at: now_millis(),
                        transcript: Vec::new(),
                        ids: HashMap::new(),
                    },
                );
                self.open.insert(sub.clone(), id.clone());
                let desk = match topic {
                    Topic::LockedAccount => Some(Desk::Identity),
                    Topic::FraudRestriction => Some(Desk::Fraud),
                    _ => None,
                };
                if let Some(desk) = desk {
                    let callback = CallbackView {
                        reference: CallbackRef::numbered(desk, self.convs.len() as u32),
                        desk,
                        sub: sub.clone(),
                        tier,
                        status: "requested".into(),
                        attempts: 0,
                        claimed_by: None,
                        created_at: rfc3339(now_millis()),
                        reason: None,
                        conversation: Some(id.clone()),
                        phone_last4: None,
                        history: Vec::new(),
                        name: None,
                        cause: None,
                        calls: Vec::new(),
                    };
                    reply(ServerFrame::Escalated {
                        conversation: id.clone(),
                        callback,
                    });
                    self.append(&id, Author::System, None, "We will call you back.".into());
                    self.end(&id, EndReason::Escalated);
                    return;
                }
                self.queue.push_back(id.clone());
                let position = self.queue.len() as u64;
                reply(ServerFrame::Queued {
                    conversation: id.clone(),
                    tier,
                    position,
                    eta_s: None,
                    availability: Default::default(),
                });
                self.place(&id);
            }
            (
                role,
                ClientFrame::Say {
                    conversation,
                    id,
                    text,
                },
            ) => {
                let conv = match role {
                    Role::Cardholder => self.open.get(&sub).cloned(),
                    _ => conversation.filter(|c| {
                        self.convs
                            .get(c)
                            .is_some_and(|c| c.agent.as_ref() == Some(&sub))
                    }),
                };
                let Some(conv) = conv else {
                    return reply(ServerFrame::error(
                        ErrorCode::NoConversation,
                        "no conversation",
                        Some(id.into()),
                    ));
                };
                if let Some(c) = self.convs.get(&conv) {
                    if let Some(seq) = c.ids.get(id.as_str()) {
                        // A resend: acknowledge with the stored entry, store nothing.
                        if let Some(entry) = c.transcript.get((*seq - 1) as usize) {
                            reply(ServerFrame::Msg {
                                conversation: conv,
                                entry: entry.clone(),
                            });
                        }
                        return;
                    }
                }
                let from = if role == Role::Agent {
                    Author::Agent
                } else {
                    Author::Cardholder
                };
                self.append(&conv, from, Some(id.into()), text);
            }
            (
                role,
                ClientFrame::Sync {
                    conversation,
                    after,
                },
            ) => {
                let conv = match role {
                    Role::Cardholder => self.open.get(&sub).cloned(),
                    _ => conversation,
                };
                let Some(conv) = conv else { return };
                if let Some(c) = self.convs.get(&conv) {
                    for e in c.transcript.iter().filter(|e| e.seq > after) {
                        reply(ServerFrame::Msg {
                            conversation: conv.clone(),
                            entry: e.clone(),
                        });
                    }
                }
            }
            (Role::Agent, ClientFrame::Status { state }) => {
                if let Some(a) = self.agents.get_mut(&sub) {
                    a.available = state == AgentState::Available;
                }
                self.fill(&sub);
            }
            (Role::Agent, ClientFrame::End { conversation }) => {
                if self
                    .convs
                    .get(&conversation)
                    .is_some_and(|c| c.agent.as_ref() == Some(&sub))
                {
                    self.end(&conversation, EndReason::AgentEnded);
                } else {
                    reply(ServerFrame::error(
                        ErrorCode::NoConversation,
                        "no conversation",
                        None,
                    ));
                }
            }
            (Role::Cardholder, ClientFrame::Leave) => {
                if let Some(id) = self.open.get(&sub).cloned() {
                    self.end(&id, EndReason::CardholderLeft);
                }
            }
            (_, ClientFrame::Typing { .. } | ClientFrame::Read { .. }) => {}
            _ => reply(not_allowed()),
        }
    }
}

/// Reads the bearer token off the upgrade request.
fn bearer(req: &Request) -> Option<String> {
    let value = req.headers().get("authorization")?.to_str().ok()?;
    value.strip_prefix("Bearer ").map(str::to_owned)
}

// The callback's `Result<Response, ErrorResponse>` is tungstenite's signature.
#[allow(clippy::result_large_err)]
async fn serve(shared: Arc<Shared>, stream: TcpStream) {
    let mut who: Option<Identity> = None;
    let callback = |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        match bearer(req).and_then(|t| identity_from_token(&t).ok()) {
            Some(id) => {
                who = Some(id);
                Ok(resp)
            }
            None => {
                let mut err = ErrorResponse::new(None);
                *err.status_mut() = StatusCode::UNAUTHORIZED;
                Err(err)
            }
        }
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
        return;
    };
    let Some(who) = who else { return };
    let sub = UserId(who.sub.clone());
    let conn = shared.next_conn.fetch_add(1, Ordering::Relaxed);
    let (tx, mut rx) = mpsc::channel::<Message>(OUTBOUND_CAPACITY);
    if let Ok(mut st) = shared.state.lock() {
        st.conns
            .entry(sub.clone())
            .or_default()
            .push((conn, tx.clone()));
        if who.role == Role::Agent {
            st.agents.entry(sub.clone()).or_insert_with(|| AgentSlot {
                teams: who.teams.iter().filter_map(|t| Team::tier(*t)).collect(),
                max_chats: who.max_chats,
                active: 0,
                available: false,
                name: who.sub.clone(),
            });
        }
        let welcome = st.welcome(&who);
        let _ = tx.try_send(Message::text(welcome.to_text()));
    }
    loop {
        tokio::select! {
            inbound = ws.next() => {
                let text = match inbound {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => continue,
                };
                let reply = match ClientFrame::parse(text.as_str()) {
                    Ok(frame) => {
                        if let Ok(mut st) = shared.state.lock() {
                            st.handle(&who, &tx, frame);
                        }
                        None
                    }
                    Err(e) => Some(ServerFrame::from(e)),
                };
                if let Some(frame) = reply {
                    let _ = tx.try_send(Message::text(frame.to_text()));
                }
            }
            outbound = rx.recv() => {
                let Some(msg) = outbound else { break };
                // Write everything queued, then flush once.
                let mut ok = ws.feed(msg).await.is_ok();
                while ok {
                    let Ok(more) = rx.try_recv() else { break };
                    ok = ws.feed(more).await.is_ok();
                }
                if !ok || ws.flush().await.is_err() {
                    break;
                }
            }
        }
    }
    if let Ok(mut st) = shared.state.lock() {
        if let Some(list) = st.conns.get_mut(&sub) {
            list.retain(|(c, _)| *c != conn);
            if list.is_empty() {
                st.conns.remove(&sub);
                if let Some(a) = st.agents.get_mut(&sub) {
                    a.available = false;
                }
            }
        }
    }
}
