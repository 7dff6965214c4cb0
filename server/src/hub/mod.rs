//! The hub: what happens when a cardholder or an agent does something.
//!
//! [`Hub`] is a cheap-to-clone handle on the shared parts (store, sessions,
//! bus, metrics). Commands from a connection arrive as [`crate::protocol::ClientFrame`]s
//! and are carried out by [`cardholder`] and [`agent`]; each returns the
//! frames meant for the calling connection only, and fans events out to
//! everybody else through [`Hub::deliver`]. Background work (routing, grace
//! periods, queue positions, heartbeats) lives in [`tasks`].
//!
//! The files point one way: [`shared`] (the [`Hub`] handle, [`CommandError`],
//! what every role uses) names none of its siblings; the role files are built
//! on it; `connect` dispatches to them; this file only assembles the hub
//! ([`Hub::new`]) and starts [`tasks`].

pub mod agent;
pub mod cardholder;
mod connect;
pub mod escalation;
pub mod history;
pub mod messaging;
pub mod shared;
pub mod supervisor;
pub mod tasks;
pub mod waiting;

use std::sync::Arc;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::admission::Admission;
use crate::auth::Verifier;
use crate::metrics::Metrics;
use crate::settings::Settings;
use crate::typing_rate::TypingBudgets;

pub use connect::Caller;
pub use shared::{
    short_text, typed_text, CommandError, Hub, Parts, Replies, Shared, SPLIT_WINDOW_MS,
};

/// How long admitted work (`start`, `say`) may take, as a share of
/// `--max-event-lag` (100 ms of the default 2 s): the admission limit adapts
/// so that work stays within it on average (see [`crate::admission`]). Each
/// connection carries out one frame at a time, so this also bounds how fast
/// one connection's frames are taken in; a longer target let frames pile up
/// unread behind the store call at saturation (p50 4.5 s at an eighth),
/// a shorter one refused work the node could do (see docs/benchmarks.md).
const ADMITTED_WORK_SHARE: u32 = 20;

impl Hub {
    /// Assembles a hub from its parts and starts its background tasks
    /// (they stop with `shutdown`).
    pub fn new(
        parts: Parts,
        settings: Settings,
        verifier: Verifier,
        metrics: Arc<Metrics>,
        shutdown: CancellationToken,
    ) -> Hub {
        let Parts {
            store,
            archive,
            archive_health,
            sessions,
            bus,
        } = parts;
        let admission = Admission::new(settings.max_event_lag / ADMITTED_WORK_SHARE);
        let typing = TypingBudgets::new(settings.text_burst_bytes, settings.text_bytes_per_sec);
        let hub = Hub(Arc::new(Shared {
            store,
            archive,
            archive_health,
            sessions,
            bus,
            settings,
            verifier,
            metrics,
            route_wakeup: Notify::new(),
            admission,
            shutdown,
            positions: Default::default(),
            typing,
        }));
        tasks::spawn(&hub);
        hub
    }
}
