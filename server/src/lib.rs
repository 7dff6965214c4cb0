//! Switchboard: a live-chat hub for a card issuer's customer service.
//!
//! # Layout
//! - [`domain`]: the vocabulary (tiers, teams, topics, ids).
//! - [`protocol`]: wire protocol v1, the only module that knows JSON.
//! - [`auth`]: JWT verification into an [`auth::Identity`].
//! - [`masking`]: card numbers and SSNs masked out of message text.
//! - [`classifier`]: first-message check for identity-related lockouts.

pub mod auth;
pub mod classifier;
pub mod domain;
pub mod masking;
pub mod protocol;
