//! Identity-related lockouts become phone callback requests.
//!
//! A chat cannot unlock an account or lift a fraud hold: the cardholder's
//! identity is verified by phone. Topic `locked_account` / `fraud_restriction`,
//! a first message the [`crate::classifier`] recognises, or an agent's
//! `escalate` turns the conversation into a [`CallbackRequest`] for the
//! identity or fraud desk; desk agents list, claim and complete them.
//! Policy: `docs/escalation.md`.

use crate::auth::{Identity, Principal};
use crate::classifier::LockoutClassifier;
use crate::domain::callback::{CallbackRequest, Cause, Concern};
use crate::domain::conversation::Conversation;
use crate::domain::{now_millis, CallbackOutcome, CallbackRef, Desk, Team, UserId};
use crate::events::{Audience, Event, View};
use crate::metrics::DeskLabel;
use crate::protocol::render::callback_view;
use crate::protocol::{CallbackView, ServerFrame};
use crate::store::{NewCallback, StoreError, DONE_WINDOW_MS};

use super::{CommandError, Hub, Replies};

/// The system message that tells the cardholder what happens next, worded
/// by what the call is about (never by a staff note).
pub fn callback_message(desk: Desk, r: &CallbackRequest) -> String {
    let team = match desk {
        Desk::Identity => "identity verification team",
        Desk::Fraud => "fraud team",
    };
    let number = match &r.phone_last4 {
        Some(d) => format!("the number on file ending {d}"),
        None => "the number on file".to_owned(),
    };
    let why = match concern_of(r) {
        Concern::VerificationCode => {
            "To help with your verification codes we need to confirm it's you by phone."
        }
        Concern::Locked => {
            "For your security chat can't unlock the account: we need to verify it's you by phone."
        }
        Concern::Fraud => {
            "Our fraud team needs to speak with you to review the block on your card."
        }
        Concern::Identity => "To help with this we need to confirm it's you by phone.",
    };
    format!(
        "{why} Our {team} will call you on {number}. Your reference is {}.",
        r.reference
    )
}

/// What a request's call is about (by its desk for requests without a cause).
pub fn concern_of(r: &CallbackRequest) -> Concern {
    match (&r.cause, r.desk) {
        (Some(c), desk) => c.concern(desk),
        (None, Desk::Fraud) => Concern::Fraud,
        (None, Desk::Identity) => Concern::Locked,
    }
}

impl Hub {
    /// Turns the conversation into a callback request and ends the chat.
    pub async fn escalate(
        &self,
        c: &Conversation,
        desk: Desk,
        cause: Cause,
        trigger: &str,
    ) -> Replies {
        let (request, created) = self
            .store
            .request_callback(NewCallback {
                desk,
                sub: c.cardholder.clone(),
                name: c.cardholder_name.clone(),
                tier: c.card_tier,
                cause,
                conversation: c.id.clone(),
                phone_last4: c.phone_last4.clone(),
                now: now_millis(),
            })
            .await
            .map_err(|e| self.store_failed(e))?;
        tracing::info!(conversation = %c.id, desk = %desk, reference = %request.reference, trigger, "escalated to a callback desk");
        let label = |what: &str| DeskLabel {
            desk: desk.as_str().to_owned(),
            what: what.to_owned(),
        };
        self.metrics
            .escalations
            .get_or_create(&label(trigger))
            .inc();
        if created {
            self.metrics
                .callbacks
                .get_or_create(&label("created"))
                .inc();
        }
        // One atomic step: the system message, `escalated`, `ended`.
        self.store
            .escalate(
                &c.id,
                &request,
                callback_message(desk, &request),
                now_millis(),
            )
            .await
            .map_err(|e| self.store_failed(e))?;
        self.announce_callback(&request).await;
        self.wake_router();
        Ok(Vec::new())
    }

    /// The cardholder asks for a call back instead of waiting (`call_me_back`):
    /// only a chat still waiting, about a topic a desk handles.
    pub async fn call_me_back(&self, c: Conversation) -> Replies {
        if c.status != crate::domain::ConversationStatus::Queued {
            return Err(CommandError::NotAllowed(
                "a call back can be asked for only while the chat waits for an agent".into(),
            ));
        }
        let Some(desk) = crate::classifier::desk_for_call_back(c.topic) else {
            return Err(CommandError::NotAllowed(
                "this topic is answered in chat or by secure message, not by phone".into(),
            ));
        };
        self.escalate(&c, desk, Cause::Asked { topic: c.topic }, "asked")
            .await
    }

    /// Escalates when the cardholder's message reads as a lockout.
    pub async fn classify_first_message(
        &self,
        c: &Conversation,
        text: &str,
    ) -> Result<bool, CommandError> {
        let Some(hit) = LockoutClassifier::builtin().classify(text) else {
            return Ok(false);
        };
        let cause = Cause::FirstMessage {
            rule: hit.rule.to_owned(),
        };
        self.escalate(c, hit.desk, cause, hit.rule).await?;
        Ok(true)
    }

    /// Sends a request's new state to its desk's agents.
    async fn announce_callback(&self, r: &CallbackRequest) {
        let event = Event::Callback {
            request: Box::new(r.clone()),
        };
        self.deliver(vec![Audience::Desk(r.desk)], event).await;
    }

    /// The cardholder's open requests, for `welcome`.
    pub async fn callbacks_for_welcome(
        &self,
        sub: &UserId,
    ) -> Result<Vec<CallbackView>, CommandError> {
        let list = self
            .store
            .callbacks_of(sub)
            .await
            .map_err(|e| self.store_failed(e))?;
        Ok(list
            .iter()
            .map(|r| callback_view(r, View::Cardholder))
            .collect())
    }

    /// `callbacks`: a desk's open requests, for an agent on that desk.
    pub async fn list_callbacks(&self, identity: &Identity, desk: Desk) -> Replies {
        if !desks_of(identity).contains(&desk) {
            return Err(CommandError::NotAllowed(format!(
                "you are not on the {desk} desk"
            )));
        }
        let items = self
            .store
            .callbacks(desk)
            .await
            .map_err(|e| self.store_failed(e))?;
        let done = self
            .store
            .closed_by(&identity.sub, now_millis() - DONE_WINDOW_MS)
            .await
            .map_err(|e| self.store_failed(e))?;
        let staff = |list: &[CallbackRequest]| -> Vec<CallbackView> {
            list.iter()
                .filter(|r| r.desk == desk)
                .map(|r| callback_view(r, View::Staff))
                .collect()
        };
        Ok(vec![ServerFrame::Callbacks {
            desk,
            items: staff(&items),
            done: Some(staff(&done)),
        }])
    }

    /// `claim_callback` and `complete_callback` from a desk agent; the new
    /// state goes to every agent of the desk as a `callback` event.
    pub async fn work_callback(
        &self,
        identity: &Identity,
        reference: &CallbackRef,
        action: DeskAction,
    ) -> Replies {
        let me = &identity.sub;
        let result = match &action {
            // The store checks the request is open on one of these desks.
            DeskAction::Claim => {
                let desks = desks_of(identity);
                self.store
                    .claim_callback(reference, me, &desks, now_millis())
                    .await
            }
            DeskAction::Complete(o, note) => {
                self.store
                    .complete_callback(reference, me, *o, note.clone(), now_millis())
                    .await
            }
        };
        let request = result.map_err(|e| match e {
            StoreError::NoConversation => {
                CommandError::NotAllowed("no such open request on your desks".into())
            }
            StoreError::NotAllowed => CommandError::NotAllowed(match action {
                DeskAction::Claim => "another agent claimed this request first".into(),
                DeskAction::Complete(..) => {
                    "only the agent who claimed the request completes it".into()
                }
            }),
            other => self.store_failed(other),
        })?;
        let what = match action {
            DeskAction::Claim => "claimed",
            DeskAction::Complete(o, _) => o.as_str(),
        };
        self.metrics
            .callbacks
            .get_or_create(&DeskLabel {
                desk: request.desk.as_str().to_owned(),
                what: what.to_owned(),
            })
            .inc();
        tracing::info!(reference = %request.reference, status = request.status.as_str(), "callback request updated");
        self.announce_callback(&request).await;
        Ok(Vec::new())
    }
}

/// What a desk agent does with a callback request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeskAction {
    /// Take it (atomic: one agent wins).
    Claim,
    /// Record how the call went, with the agent's note.
    Complete(CallbackOutcome, Option<String>),
}

/// The desks an agent's teams include.
pub fn desks_of(identity: &Identity) -> Vec<Desk> {
    match &identity.principal {
        Principal::Agent { teams, .. } => teams
            .iter()
            .filter_map(|t| match t {
                Team::Desk(d) => Some(*d),
                Team::Tier(_) => None,
            })
            .collect(),
        Principal::Cardholder { .. } => Vec::new(),
    }
}
