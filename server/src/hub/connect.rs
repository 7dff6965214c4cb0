//! What a connection asks of the hub: to join (presence, welcome), to carry
//! out one frame at a time, and to leave. `connection` knows sockets and
//! timers; this is all it knows of the hub.

use tokio_util::sync::CancellationToken;

use super::cardholder::Memo;
use super::escalation::desks_of;
use super::supervisor::Watch;
use super::{CommandError, Hub, Replies};
use crate::auth::Identity;
use crate::bus::{Held, Kick, Outbox, Session};
use crate::domain::{now_millis, EndReason, Role};
use crate::events::{Audience, Event};

/// How long a connection asked to resync waits for the store to say which
/// of its conversations are gone.
const LOST_CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// How soon a store that did not answer is asked again during that check.
const LOST_CHECK_RETRY: std::time::Duration = std::time::Duration::from_millis(100);
use crate::metrics::role_label;
use crate::protocol::{ClientFrame, ServerFrame};
use crate::store::Side;
use crate::typing_rate::TypingBudget;
use std::time::Instant;

/// One connection as the hub sees it: who, which audiences it hears, and
/// what it remembers between frames.
#[derive(Debug)]
pub struct Caller {
    /// The authenticated user.
    identity: Identity,
    /// Its connection id on this node.
    conn: u64,
    /// Where its events come from: the user, and a desk agent's desks.
    audiences: Vec<Audience>,
    /// What the connection remembers between frames (a cardholder's open
    /// conversation, the caller's last message).
    memo: Memo,
    /// The conversations it takes part in (shared with its session).
    held: Held,
    /// Its outbound queue (a supervisor's `overview`s are pushed into it).
    outbound: Outbox,
    /// A supervisor's live `overview`s, stopped when the caller goes.
    watch: Watch,
    /// The user's typed-text budget, shared with its other connections here.
    typing: TypingBudget,
}

impl Caller {
    /// The authenticated user.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }
}

/// The side a role's presence is kept for (supervisors have none: they
/// hold no chats).
fn side(role: Role) -> Option<Side> {
    match role {
        Role::Cardholder => Some(Side::Cardholder),
        Role::Agent => Some(Side::Agent),
        Role::Supervisor => Some(Side::Supervisor),
    }
}

impl Hub {
    /// A fresh connection id.
    pub fn next_conn_id(&self) -> u64 {
        self.sessions.next_conn_id()
    }

    /// Cancelled when this node may have missed events: its connections
    /// must reconnect and `sync`.
    pub fn resync_token(&self) -> CancellationToken {
        self.sessions.resync_token()
    }

    /// Registers an authenticated connection (its outbound queue and kick),
    /// marks the user present and builds the `welcome`. The caller must
    /// [`Hub::disconnect`] once the connection closes, whatever the replies were.
    pub async fn join(
        &self,
        identity: Identity,
        conn: u64,
        outbox: Outbox,
        kick: Kick,
    ) -> (Caller, Replies) {
        let mut audiences = vec![Audience::user(identity.role, identity.sub.clone())];
        if identity.role == Role::Agent {
            audiences.extend(desks_of(&identity).into_iter().map(Audience::Desk));
            audiences.extend(
                super::messaging::inboxes_of(&identity)
                    .into_iter()
                    .map(Audience::Inbox),
            );
        }
        let held = Held::default();
        let outbound = outbox.clone();
        let session = Session {
            conn,
            outbox,
            kick,
            held: held.clone(),
        };
        let per_user = self.settings.max_connections_per_user;
        for (i, a) in audiences.iter().enumerate() {
            // Only the user's own audience counts against the per-user limit.
            let limit = if i == 0 { per_user } else { usize::MAX };
            self.sessions.add(a, session.clone(), limit);
        }
        self.metrics
            .connections
            .get_or_create(&role_label(identity.role))
            .inc();
        if let Some(side) = side(identity.role) {
            if let Err(e) = self
                .store
                .presence_up(&identity.sub, side, now_millis())
                .await
            {
                self.store_failed(e);
            }
        }
        let welcome = match identity.role {
            Role::Cardholder => Box::pin(self.cardholder_welcome(&identity)).await,
            Role::Agent => Box::pin(self.agent_welcome(&identity)).await,
            Role::Supervisor => self.supervisor_welcome(&identity),
        };
        if let Ok(frames) = &welcome {
            for f in frames {
                if let ServerFrame::Welcome {
                    conversation,
                    conversations,
                    ..
                } = f
                {
                    for c in conversation.iter().chain(conversations.iter().flatten()) {
                        held.insert(c.id.clone());
                    }
                }
            }
        }
        let typing = self
            .typing
            .join(identity.role, &identity.sub, Instant::now());
        let caller = Caller {
            identity,
            conn,
            audiences,
            memo: Memo::default(),
            held,
            outbound,
            watch: Watch::default(),
            typing,
        };
        (caller, welcome)
    }

    /// Parses and carries out one text frame; every failure becomes an
    /// `error` frame for the caller.
    pub async fn handle(&self, caller: &mut Caller, text: &str) -> Vec<ServerFrame> {
        let frame = match ClientFrame::parse(text) {
            Ok(f) => f,
            Err(e) => return vec![e.into()],
        };
        let reference = match &frame {
            ClientFrame::Say { id, .. } => Some(id.to_string()),
            ClientFrame::Start { id: Some(id), .. } => Some(id.to_string()),
            _ => None,
        };
        // Typed text is limited in bytes per second too, per user: past the
        // budget the frame is dropped before it costs anything more.
        let typed = match &frame {
            ClientFrame::Say { text, .. } => text.len(),
            ClientFrame::Start { text: Some(t), .. } => t.len(),
            _ => 0,
        };
        if typed > 0 && !caller.typing.spend(typed, Instant::now()) {
            return vec![CommandError::TextTooFast.to_frame(reference)];
        }
        // Held until the frame is carried out.
        let admitted = match &frame {
            ClientFrame::Start { .. } => Some(self.admit("start")),
            ClientFrame::Say { .. } => Some(self.admit("say")),
            _ => None,
        }
        .transpose();
        let _permit = match admitted {
            Ok(permit) => permit,
            Err(e) => return vec![e.to_frame(reference)],
        };
        let identity = &caller.identity;
        let before = caller.memo.conversation.clone();
        let result: Replies = match (&frame, identity.role) {
            (ClientFrame::Auth { .. }, _) => Ok(Vec::new()),
            (_, Role::Cardholder) => {
                self.cardholder_command(identity, frame, &mut caller.memo)
                    .await
            }
            (_, Role::Agent) => self.agent_command(identity, frame).await,
            (_, Role::Supervisor) => {
                self.supervisor_command(
                    identity,
                    frame,
                    &mut caller.watch,
                    &caller.outbound,
                    &caller.held,
                )
                .await
            }
        };
        if caller.memo.conversation != before {
            if let Some(id) = &caller.memo.conversation {
                caller.held.insert(id.clone());
            }
        }
        let mut frames = result.unwrap_or_else(|e| vec![e.to_frame(reference)]);
        for frame in &mut frames {
            if let ServerFrame::Transcript {
                conversation,
                entries,
                more,
            } = frame
            {
                caller.held.trim_replay(conversation, entries, more);
            }
        }
        frames
    }

    /// `ended` (reason `lost`) for each conversation the caller takes part
    /// in that the store no longer knows (it lost its data), sent before the
    /// connection is asked to reconnect. Bounded: a store that does not
    /// answer in time tells nothing.
    pub async fn lost_conversations(&self, caller: &Caller) -> Vec<ServerFrame> {
        let view = caller.audiences[0].view();
        let check = async {
            let mut frames = Vec::new();
            for id in caller.held.snapshot() {
                // The store may be coming back (reconnecting): ask again.
                let found = loop {
                    match self.store.conversation(&id).await {
                        Ok(c) => break c.is_some(),
                        Err(_) => tokio::time::sleep(LOST_CHECK_RETRY).await,
                    }
                };
                if !found {
                    caller.held.remove(&id);
                    tracing::warn!(conversation = %id, "the store lost this conversation");
                    let event = Event::Ended {
                        conversation: id,
                        reason: EndReason::Lost,
                    };
                    frames.extend(event.frame_for(view));
                }
            }
            frames
        };
        tokio::time::timeout(LOST_CHECK_TIMEOUT, check)
            .await
            .unwrap_or_default()
    }

    /// The connection closed: forget it, and start the user's grace period
    /// when it was their last connection anywhere.
    pub async fn disconnect(&self, caller: Caller) {
        for a in &caller.audiences {
            self.sessions.remove(a, caller.conn);
        }
        self.stop_monitoring(&caller.identity, &caller.held).await;
        let identity = caller.identity;
        self.typing
            .leave(identity.role, &identity.sub, caller.typing);
        self.metrics
            .connections
            .get_or_create(&role_label(identity.role))
            .dec();
        if let Some(side) = side(identity.role) {
            let grace = self.settings.graces.for_side(side);
            if let Err(e) = self
                .store
                .presence_down(&identity.sub, side, now_millis(), grace)
                .await
            {
                self.store_failed(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::panic::AssertUnwindSafe;

    use futures_util::FutureExt;
    use rand::{Rng, SeedableRng};
    use serde_json::json;

    use super::*;
    use crate::auth::mint_hs256;
    use crate::protocol::tests::{mutate, SAMPLE_CONVERSATION, VALID_FRAMES};
    use crate::settings::Settings;

    const SECRET: &[u8] = b"fuzz-secret-0123456789abcdef";

    async fn caller(
        hub: &Hub,
        claims: serde_json::Value,
        conn: u64,
    ) -> (Caller, crate::bus::OutboundReceiver) {
        let token = mint_hs256(SECRET, &claims).expect("mint");
        let identity = hub.authenticate(&token).await.expect("valid token");
        let (outbox, rx) = crate::bus::outbound_queue();
        let (caller, welcome) = hub.join(identity, conn, outbox, Kick::default()).await;
        assert!(welcome.is_ok());
        (caller, rx)
    }

    /// Random and mutated frames thrown at the command handlers of a live
    /// hub, as a cardholder, an agent and a supervisor: every one is answered
    /// (an error frame at worst), none panics.
    #[tokio::test]
    async fn command_handlers_survive_100_000_random_frames() {
        const FRAMES: usize = 100_000;
        let shutdown = tokio_util::sync::CancellationToken::new();
        let hub = crate::build_hub(Settings::for_secret(SECRET), shutdown.clone())
            .await
            .expect("hub");
        let exp = crate::domain::now_millis() / 1000 + 3600;
        let teams = [
            "standard", "premium", "business", "prepaid", "identity", "fraud",
        ];
        let (mut cardholder, mut ch_rx) = caller(
            &hub,
            json!({"sub": "fz-c", "role": "cardholder", "tier": "premium", "exp": exp}),
            1,
        )
        .await;
        let (mut agent, mut ag_rx) = caller(
            &hub,
            json!({"sub": "fz-a", "role": "agent", "teams": teams, "exp": exp}),
            2,
        )
        .await;
        let (mut supervisor, mut sv_rx) = caller(
            &hub,
            json!({"sub": "fz-s", "role": "supervisor", "teams": teams, "exp": exp}),
            3,
        )
        .await;
        // A live chat, so frames naming it reach the deeper paths.
        hub.handle(&mut agent, r#"{"type":"status","state":"available"}"#)
            .await;
        hub.handle(&mut cardholder, r#"{"type":"start","topic":"billing"}"#)
            .await;
        hub.route_now().await;
        let live = hub
            .store
            .open_conversation_of(&"fz-c".into())
            .await
            .expect("store")
            .expect("open")
            .id;
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x5b0a_4d01);
        let (mut panics, mut answered) = (0usize, 0usize);
        for n in 0..FRAMES {
            let seed = VALID_FRAMES[rng.random_range(0..VALID_FRAMES.len())];
            let frame = if n % 4 == 0 {
                seed.to_owned()
            } else {
                mutate(&mut rng, seed)
            };
            // Frames name the live chat; ids made malformed from it too
            // (`<live>:monitors`, …).
            let frame = frame.replace(SAMPLE_CONVERSATION, live.as_str());
            let who = match n % 3 {
                0 => &mut cardholder,
                1 => &mut agent,
                _ => &mut supervisor,
            };
            match AssertUnwindSafe(hub.handle(who, &frame))
                .catch_unwind()
                .await
            {
                Ok(replies) => answered += usize::from(!replies.is_empty()),
                Err(_) => panics += 1,
            }
            for rx in [&mut ch_rx, &mut ag_rx, &mut sv_rx] {
                while rx.try_recv().is_some() {}
            }
        }
        println!("command handler fuzz: {FRAMES} frames, {panics} panics ({answered} answered with frames)");
        assert_eq!(panics, 0);
        shutdown.cancel();
    }
}
