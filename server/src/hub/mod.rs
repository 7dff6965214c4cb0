//! The hub: what happens when a cardholder or an agent does something.
//!
//! [`Hub`] is a cheap-to-clone handle on the shared parts (store, sessions,
//! bus, metrics). Commands from a connection arrive as [`crate::protocol::ClientFrame`]s
//! and are carried out by [`cardholder`] and [`agent`]; each returns the
//! frames meant for the calling connection only, and fans events out to
//! everybody else through [`Hub::deliver`]. Background work (routing, grace
//! periods, queue positions, heartbeats) lives in [`tasks`].

pub mod agent;
pub mod cardholder;
pub mod escalation;
pub mod tasks;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::auth::{Identity, Verifier};
use crate::bus::{Bus, Sessions};
use crate::config::Settings;
use crate::domain::rfc3339;
use crate::domain::{now_millis, Author, ConversationId, UserId};
use crate::masking::mask_sensitive;
use crate::metrics::Metrics;
use crate::protocol::Entry;
use crate::protocol::{ErrorCode, ServerFrame, MAX_CLIENT_ID_LEN, MAX_TEXT_CHARS};
use crate::store::{Appended, MsgTemplate, NewEntry, Store, StoreError};

/// Why a command was refused; each maps to a SPEC error code.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// A field is missing or invalid.
    #[error("{0}")]
    BadField(String),
    /// Text longer than allowed.
    #[error("text is longer than {MAX_TEXT_CHARS} characters")]
    TooLong,
    /// Not something this role or state may do.
    #[error("{0}")]
    NotAllowed(String),
    /// No such open conversation for the caller.
    #[error("no open conversation")]
    NoConversation,
    /// The store failed.
    #[error("the hub cannot reach its store right now; try again shortly")]
    Unavailable,
}

impl CommandError {
    /// The SPEC error code.
    pub fn code(&self) -> ErrorCode {
        match self {
            CommandError::BadField(_) => ErrorCode::BadField,
            CommandError::TooLong => ErrorCode::TooLong,
            CommandError::NotAllowed(_) => ErrorCode::NotAllowed,
            CommandError::NoConversation => ErrorCode::NoConversation,
            CommandError::Unavailable => ErrorCode::Unavailable,
        }
    }

    /// The error frame, referencing the frame's `id` when it had one.
    pub fn to_frame(&self, reference: Option<String>) -> ServerFrame {
        ServerFrame::error(self.code(), self.to_string(), reference)
    }
}

impl From<StoreError> for CommandError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => CommandError::Unavailable,
            StoreError::NoConversation => CommandError::NoConversation,
            StoreError::NotAllowed => CommandError::NotAllowed("not allowed".into()),
        }
    }
}

/// Result of a command: frames for the calling connection only.
pub type Replies = Result<Vec<ServerFrame>, CommandError>;

/// The shared parts of the hub.
#[derive(Debug)]
pub struct Shared {
    /// Routing state and transcripts.
    pub store: Arc<dyn Store>,
    /// This node's connections.
    pub sessions: Arc<Sessions>,
    /// Delivery to other nodes.
    pub bus: Bus,
    /// Validated configuration.
    pub settings: Settings,
    /// Token verification.
    pub verifier: Verifier,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Wakes the router when a queue or an agent changed.
    pub route_wakeup: Notify,
    /// Cancelled when the hub shuts down.
    pub shutdown: CancellationToken,
    /// The place each local waiting conversation was last told, and when:
    /// `queued` updates go out only on a change, at most once a second.
    pub positions: std::sync::Mutex<HashMap<ConversationId, (u64, Instant)>>,
}

/// A cheap handle on the hub.
#[derive(Debug, Clone)]
pub struct Hub(pub Arc<Shared>);

impl std::ops::Deref for Hub {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl Hub {
    /// Sends a frame to every connection of the users, here and on other nodes.
    pub async fn deliver(&self, to: &[UserId], frame: &ServerFrame) {
        let text = axum::extract::ws::Utf8Bytes::from(frame.to_text());
        self.bus.send(to, text).await;
    }

    /// Like [`Hub::deliver`], but returns only once the event is published,
    /// so that an event the store announces next cannot overtake it.
    pub async fn deliver_now(&self, to: &[UserId], frame: &ServerFrame) {
        let text = axum::extract::ws::Utf8Bytes::from(frame.to_text());
        self.bus.send_now(to, text).await;
    }

    /// Asks the router to pair conversations with agents now.
    pub fn wake_router(&self) {
        self.route_wakeup.notify_one();
    }

    /// Counts a store failure and converts it.
    pub fn store_failed(&self, e: StoreError) -> CommandError {
        if matches!(e, StoreError::Unavailable(_)) {
            self.metrics.store_errors.inc();
            tracing::warn!(error = %e, "store call failed");
        }
        e.into()
    }

    /// Stores a transcript entry and delivers it to both sides; a resend of a
    /// known `id` is answered to the sender only.
    pub async fn append(
        &self,
        conversation: &ConversationId,
        author: Author,
        sender: Option<&UserId>,
        text: &str,
        client_id: Option<String>,
    ) -> Result<Appended, CommandError> {
        let now = now_millis();
        let text = mask_sensitive(text).into_owned();
        let announce = msg_template(conversation, author, &text, now, client_id.as_deref());
        let entry = NewEntry {
            author,
            sender: sender.cloned(),
            text,
            client_id,
            now,
            announce,
        };
        // The store announces the new `msg` to both sides, in seq order.
        let appended = self
            .store
            .append(conversation, entry)
            .await
            .map_err(|e| self.store_failed(e))?;
        if !appended.duplicate {
            self.metrics.message(author);
        }
        Ok(appended)
    }

    /// Appends a system message to a conversation.
    pub async fn system_message(
        &self,
        conversation: &ConversationId,
        text: &str,
    ) -> Result<(), CommandError> {
        self.append(conversation, Author::System, None, text, None)
            .await
            .map(|_| ())
    }

    /// Verifies a token; an unknown `kid` may wait for one bounded key refresh (see
    /// [`crate::auth::Verifier::verify_refreshing`]) and is counted when still refused.
    pub async fn authenticate(&self, token: &str) -> Result<Identity, crate::auth::AuthError> {
        let result = self.verifier.verify_refreshing(token).await;
        if result == Err(crate::auth::AuthError::UnknownKey) {
            self.metrics.tokens_unknown_kid.inc();
        }
        result
    }
}

/// The `msg` frame for a new entry, with its seq left to the store.
fn msg_template(
    conversation: &ConversationId,
    from: Author,
    text: &str,
    now: crate::domain::Millis,
    id: Option<&str>,
) -> Option<MsgTemplate> {
    let frame = ServerFrame::Msg {
        conversation: conversation.clone(),
        entry: Entry {
            seq: 0,
            from,
            text: text.to_owned(),
            at: rfc3339(now),
            id: id.map(str::to_owned),
        },
    };
    // `seq` is serialised right after `conversation`, before any text a
    // user wrote, so its first occurrence is the field itself.
    let rendered = frame.to_text();
    let (before, after) = rendered.split_once("\"seq\":0")?;
    Some(MsgTemplate {
        before: format!("{before}\"seq\":"),
        after: after.to_owned(),
    })
}

/// Checks a `say` frame's fields: text of 1–4000 characters, an `id` of
/// 1–128 bytes.
pub fn check_say(id: &str, text: &str) -> Result<(), CommandError> {
    if id.is_empty() || id.len() > MAX_CLIENT_ID_LEN {
        return Err(CommandError::BadField(format!(
            "`id` must be 1 to {MAX_CLIENT_ID_LEN} bytes"
        )));
    }
    check_text(text)
}

/// Checks message text: not blank, at most 4000 characters.
pub fn check_text(text: &str) -> Result<(), CommandError> {
    if text.trim().is_empty() {
        return Err(CommandError::BadField("`text` is empty".into()));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(CommandError::TooLong);
    }
    Ok(())
}
