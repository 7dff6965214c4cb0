//! The hub's shared core: [`Hub`], the handle every part of the hub works
//! through, its [`Shared`] parts, [`CommandError`], and what every role's
//! commands use alike (appending an entry, cleaning typed text, the replies
//! to a resent message). It names none of the files beside it; they (the
//! roles, `connect`'s dispatch, the tasks) are built on it.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::archive::Archive;
use crate::archiver::{ArchiveHealth, ArchiveState};
use crate::auth::{Identity, Verifier};
use crate::bus::{Bus, Sessions};
use crate::domain::conversation::Entry;
use crate::domain::{now_millis, Author, ConversationId, Millis, UserId};
use crate::events::{Audience, Envelope, Event};
use crate::masking::{mask_across, mask_sensitive, may_join_earlier};
use crate::metrics::Metrics;
use crate::protocol::{ErrorCode, ServerFrame, MAX_NOTE_CHARS, MAX_TEXT_CHARS};
use crate::settings::Settings;
use crate::store::{Appended, NewEntry, Redaction, Store, StoreError};
use crate::text::clean_text;

use crate::admission::{Admission, Ticket};
use crate::typing_rate::TypingBudgets;

/// How far back an author's entries count toward a card number or SSN
/// typed over several messages (SPEC, "Sensitive data": 5 minutes).
pub const SPLIT_WINDOW_MS: Millis = 5 * 60 * 1000;

/// How many times [`Hub::append_across`] reads the author's recent entries
/// again when one changed before its store step; a fourth change in a row
/// (the author typing on several devices at once) stores the text masked
/// alone rather than waiting longer.
const SPLIT_ATTEMPTS: usize = 3;

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
    /// The store failed or did not answer in time: the outcome is unknown.
    #[error("the hub could not confirm the outcome; send it again (a message resent with the same id is never stored twice)")]
    Unavailable,
    /// This node is behind and refused new work; nothing was done.
    #[error("this node is overloaded; try again shortly")]
    Busy,
    /// The conversation holds as much as it may (`--max-transcript-entries`,
    /// `--max-transcript-bytes`); nothing was stored.
    #[error("this conversation is full: it holds as many messages as one conversation may; the agent can still end or transfer it")]
    TranscriptFull,
    /// The user sent more text than `--max-text-bytes-per-sec` allows;
    /// nothing was done.
    #[error("slow down: too much text at once")]
    TextTooFast,
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
            CommandError::Busy => ErrorCode::Busy,
            CommandError::TranscriptFull => ErrorCode::TranscriptFull,
            CommandError::TextTooFast => ErrorCode::RateLimited,
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
            StoreError::TranscriptFull => CommandError::TranscriptFull,
            // Only `Hub::append_across` meets it, and it reads again.
            StoreError::Conflict => CommandError::Unavailable,
        }
    }
}

/// Result of a command: frames for the calling connection only.
pub type Replies = Result<Vec<ServerFrame>, CommandError>;

/// The shared parts of the hub; only `hub` sees inside.
#[derive(Debug)]
pub struct Shared {
    /// Routing state and transcripts.
    pub(super) store: Arc<dyn Store>,
    /// Ended conversations: history.
    pub(super) archive: Arc<dyn Archive>,
    /// Where archiving stands (with `--archive-url`).
    pub(super) archive_health: Option<Arc<ArchiveHealth>>,
    /// This node's connections.
    pub(super) sessions: Arc<Sessions>,
    /// Delivery to other nodes.
    pub(super) bus: Bus,
    /// Validated configuration.
    pub(super) settings: Settings,
    /// Token verification.
    pub(super) verifier: Verifier,
    /// Metrics.
    pub(super) metrics: Arc<Metrics>,
    /// Wakes the router when a queue or an agent changed.
    pub(super) route_wakeup: Notify,
    /// Cancelled when the hub shuts down.
    pub(super) shutdown: CancellationToken,
    /// How much new work (`start`, `say`) this node takes at once.
    pub(super) admission: Admission,
    /// The `queued` each local waiting conversation was last told, and
    /// when: updates go out only on a change (place, ETA, agents online,
    /// hours, offer), at most once a second.
    pub(super) positions: std::sync::Mutex<HashMap<ConversationId, (Event, Instant)>>,
    /// How fast each connected user may send typed text
    /// (`--max-text-bytes-per-sec`, across the user's connections here).
    pub(super) typing: TypingBudgets,
}

/// What a hub is built on, besides its configuration.
#[derive(Debug)]
pub struct Parts {
    /// Routing state and transcripts.
    pub store: Arc<dyn Store>,
    /// Ended conversations: history.
    pub archive: Arc<dyn Archive>,
    /// Where archiving stands (with `--archive-url`).
    pub archive_health: Option<Arc<ArchiveHealth>>,
    /// This node's connections.
    pub sessions: Arc<Sessions>,
    /// Delivery to other nodes.
    pub bus: Bus,
}

/// A cheap handle on the hub.
#[derive(Debug, Clone)]
pub struct Hub(pub(super) Arc<Shared>);

impl std::ops::Deref for Hub {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl Hub {
    /// The validated configuration.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The metrics registry (for `/metrics`).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Admits new work (`start`, `say`), or refuses it with `busy` when
    /// this node cannot do it in time: the adaptive admission limit is
    /// reached (work admitted lately took longer than a twentieth of
    /// `--max-event-lag` on average, see [`crate::admission`]), events are delivered
    /// more than half of `--max-event-lag` late, or tasks wait more than an
    /// eighth of it for a core (see [`crate::lag`]). Work accepted then
    /// would reach people later still, so it is turned away instead of
    /// queued; a refusal costs the node next to nothing. Everything else
    /// (`sync`, `end`, `read`, …) still runs. The ticket is held until the
    /// work is done.
    pub fn admit(&self, frame: &'static str) -> Result<Ticket<'_>, CommandError> {
        let lag = self.sessions.lag();
        let max = self.settings.max_event_lag;
        let ticket = if lag.event() > max / 2 || lag.scheduling() > max / 8 {
            None
        } else {
            self.admission.try_admit()
        };
        ticket.ok_or_else(|| {
            self.metrics
                .busy_refusals
                .get_or_create(&crate::metrics::FrameLabel {
                    frame: frame.to_owned(),
                })
                .inc();
            CommandError::Busy
        })
    }

    /// The admission limit and the work admitted now (for `/metrics`).
    pub fn admission(&self) -> (usize, usize) {
        (self.admission.limit(), self.admission.in_flight())
    }

    /// How far behind this node runs when it is too far to take new
    /// connections (event lag above `--max-event-lag`, or tasks waiting
    /// more than a quarter of it for a core), else `None`.
    pub fn behind(&self) -> Option<std::time::Duration> {
        let lag = self.sessions.lag();
        let max = self.settings.max_event_lag;
        (lag.event() > max || lag.scheduling() > max / 4).then(|| lag.event().max(lag.scheduling()))
    }

    /// Whether the store answers (for `/readyz`).
    pub async fn ready(&self) -> Result<(), StoreError> {
        self.store.ping().await
    }

    /// Where archiving stands (`None` without `--archive-url`).
    pub fn archive_state(&self) -> Option<ArchiveState> {
        self.archive_health.as_ref().map(|h| h.state(now_millis()))
    }

    /// Where rotating signing keys stand (`None` for fixed keys).
    pub fn key_status(&self) -> Option<crate::keys::KeyStatus> {
        self.verifier.key_status()
    }

    /// Takes this node out of the live set after its connections closed.
    pub async fn retire(&self) -> Result<(), StoreError> {
        self.store.retire().await
    }

    /// Whether the hub is shutting down, as a token to wait on.
    pub fn shutdown_token(&self) -> &CancellationToken {
        &self.shutdown
    }

    /// Sends an event to every connection of its audiences, here and on
    /// other nodes.
    pub async fn deliver(&self, to: Vec<Audience>, event: Event) {
        self.bus.send(Envelope::now(to, event)).await;
    }

    /// Asks the router to pair conversations with agents now.
    pub fn wake_router(&self) {
        self.route_wakeup.notify_one();
    }

    /// Counts a store failure and converts it.
    pub fn store_failed(&self, e: StoreError) -> CommandError {
        if matches!(e, StoreError::Unavailable(_)) {
            self.metrics.store_errors.inc();
            tracing::warn!(error = %e.detail(), "store call failed");
        }
        e.into()
    }

    /// Stores a transcript entry (text already through [`typed_text`], or
    /// the hub's own); the store announces it to both sides. A resend of a
    /// known `id` is answered to the sender only. A card number or SSN typed
    /// over this text and the author's recent entries is masked in all of
    /// them (see `Hub::append_across`).
    pub async fn append(
        &self,
        conversation: &ConversationId,
        author: Author,
        sender: Option<&UserId>,
        text: String,
        client_id: Option<String>,
    ) -> Result<Appended, CommandError> {
        // Most texts cannot continue a number (no digit at an edge): one
        // store call, as before.
        let across = author != Author::System && may_join_earlier(&text);
        let entry = NewEntry {
            author,
            sender: sender.cloned(),
            text,
            client_id,
            now: now_millis(),
            redact: Vec::new(),
        };
        let appended = if across {
            self.append_across(conversation, entry).await
        } else {
            self.store.append(conversation, entry).await
        }
        .map_err(|e| self.store_failed(e))?;
        if !appended.duplicate {
            self.metrics.message(author);
        }
        if appended.notified {
            self.metrics.notifications.queued.inc();
        }
        Ok(appended)
    }

    /// Stores a text that could continue a number begun in the author's
    /// earlier messages: their recent entries are read from the store (so
    /// every device of the author counts, and the other party's entries in
    /// between do not), masked with the new text as one
    /// ([`mask_across`]), and every entry that changes is redacted in the
    /// same store step. When one of them changed meanwhile (another message
    /// of the author was stored first) the step refuses, and this reads
    /// again, [`SPLIT_ATTEMPTS`] times; then the text is stored masked alone.
    async fn append_across(
        &self,
        conversation: &ConversationId,
        entry: NewEntry,
    ) -> Result<Appended, StoreError> {
        for _ in 0..SPLIT_ATTEMPTS {
            let since = entry.now - SPLIT_WINDOW_MS;
            let recent = self
                .store
                .recent_entries(conversation, entry.author, since)
                .await?;
            let Some((text, redact)) = split_masking(&recent, &entry.text) else {
                break;
            };
            let attempt = NewEntry {
                text,
                redact,
                ..entry.clone()
            };
            // A conflict: an entry read changed meanwhile; read again.
            let result = self.store.append(conversation, attempt).await;
            if !matches!(result, Err(StoreError::Conflict)) {
                return result;
            }
        }
        self.store.append(conversation, entry).await
    }

    /// Appends a system message to a conversation.
    pub async fn system_message(
        &self,
        conversation: &ConversationId,
        text: &str,
    ) -> Result<(), CommandError> {
        self.append(conversation, Author::System, None, text.to_owned(), None)
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

/// When the author's recent entries (oldest first) and the new text hold a
/// card number or SSN only together, all masked as one: the new text, and a
/// redaction of each entry whose text changes, in seq order.
fn split_masking(recent: &[Entry], text: &str) -> Option<(String, Vec<Redaction>)> {
    let earlier: Vec<&str> = recent.iter().map(|e| e.text.as_str()).collect();
    let split = mask_across(&earlier, text)?;
    let redact = recent
        .iter()
        .zip(split.previous)
        .filter_map(|(e, masked)| {
            Some(Redaction {
                seq: e.seq,
                entry: Entry {
                    text: masked?,
                    ..e.clone()
                },
                was: e.text.clone(),
            })
        })
        .collect();
    Some((split.current, redact))
}

/// Text a person typed, made ready to store: invisible and bidirectional
/// characters removed, control characters refused, 1–4000 characters left,
/// card numbers and SSNs masked. Every typed text goes through here. Most
/// texts need none of it and are returned as they came, not copied.
pub fn typed_text(text: String) -> Result<String, CommandError> {
    let cleaned = clean_text(&text)
        .map_err(|e| CommandError::BadField(format!("`text`: {e}")))?
        .into_owned_if_changed();
    let cleaned = cleaned.unwrap_or(text);
    if cleaned.trim().is_empty() {
        return Err(CommandError::BadField("`text` is empty".into()));
    }
    if cleaned.chars().count() > MAX_TEXT_CHARS {
        return Err(CommandError::TooLong);
    }
    let masked = mask_sensitive(&cleaned).into_owned_if_changed();
    Ok(masked.unwrap_or(cleaned))
}

/// An optional short text (a transfer note, an escalation note, a rating
/// comment): `None` when absent or blank, else cut to [`MAX_NOTE_CHARS`],
/// cleaned and masked.
pub fn short_text(text: Option<String>) -> Result<Option<String>, CommandError> {
    match text {
        Some(t) if !t.trim().is_empty() => {
            typed_text(t.chars().take(MAX_NOTE_CHARS).collect()).map(Some)
        }
        _ => Ok(None),
    }
}

/// A [`Cow`] that owns its text only when it had to change it.
trait Changed {
    /// The changed text, or `None` when it is the original.
    fn into_owned_if_changed(self) -> Option<String>;
}

impl Changed for Cow<'_, str> {
    fn into_owned_if_changed(self) -> Option<String> {
        match self {
            Cow::Borrowed(_) => None,
            Cow::Owned(changed) => Some(changed),
        }
    }
}

/// A resent `say` (same `id`) is not stored again; the sender gets the
/// stored entry back so it can mark its line as delivered.
pub fn resend_echo(conversation: &ConversationId, appended: Appended) -> Vec<ServerFrame> {
    if appended.duplicate {
        vec![ServerFrame::Msg {
            conversation: conversation.clone(),
            entry: appended.entry,
        }]
    } else {
        Vec::new()
    }
}
