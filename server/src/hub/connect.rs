//! What a connection asks of the hub: to join (presence, welcome), to carry
//! out one frame at a time, and to leave. `connection` knows sockets and
//! timers; this is all it knows of the hub.

use axum::extract::ws::Utf8Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::cardholder::Memo;
use super::escalation::desks_of;
use super::{Hub, Replies};
use crate::auth::Identity;
use crate::bus::{Kick, Session};
use crate::domain::{now_millis, Role};
use crate::events::Audience;
use crate::metrics::role_label;
use crate::protocol::{ClientFrame, ServerFrame};
use crate::store::Side;

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
    /// A cardholder's open conversation, to spare store lookups.
    memo: Memo,
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
        Role::Supervisor => None,
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
        tx: mpsc::Sender<Utf8Bytes>,
        kick: Kick,
    ) -> (Caller, Replies) {
        let mut audiences = vec![Audience::user(identity.role, identity.sub.clone())];
        if identity.role == Role::Agent {
            audiences.extend(desks_of(&identity).into_iter().map(Audience::Desk));
        }
        let session = Session { conn, tx, kick };
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
            if let Err(e) = self.store.presence_up(&identity.sub, side).await {
                self.store_failed(e);
            }
        }
        let welcome = match identity.role {
            Role::Cardholder => Box::pin(self.cardholder_welcome(&identity)).await,
            Role::Agent => Box::pin(self.agent_welcome(&identity)).await,
            Role::Supervisor => self.supervisor_welcome(&identity),
        };
        let caller = Caller {
            identity,
            conn,
            audiences,
            memo: Memo::default(),
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
            ClientFrame::Say { id, .. } => Some(id.clone()),
            _ => None,
        };
        let identity = &caller.identity;
        let result: Replies = match (&frame, identity.role) {
            (ClientFrame::Auth { .. }, _) => Ok(Vec::new()),
            (_, Role::Cardholder) => {
                self.cardholder_command(identity, frame, &mut caller.memo)
                    .await
            }
            (_, Role::Agent) => self.agent_command(identity, frame).await,
            (_, Role::Supervisor) => self.supervisor_command(identity, frame).await,
        };
        result.unwrap_or_else(|e| vec![e.to_frame(reference)])
    }

    /// The connection closed: forget it, and start the user's grace period
    /// when it was their last connection anywhere.
    pub async fn disconnect(&self, caller: Caller) {
        for a in &caller.audiences {
            self.sessions.remove(a, caller.conn);
        }
        let identity = caller.identity;
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
