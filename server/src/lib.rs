//! Switchboard: a live-chat hub for a card issuer's customer service.
//!
//! Cardholders (mobile app, website widget) and agents (agent pane) connect
//! over WebSocket; the hub authenticates them by JWT, queues conversations
//! per card tier, pairs them with agents of the right team and relays the
//! conversation. Several nodes can share one Redis.
//!
//! # Layout
//! - [`domain`]: the vocabulary (tiers, teams, topics, ids).
//! - [`protocol`]: wire protocol v1, the only module that knows the wire JSON.
//! - [`auth`]: JWT verification into an [`auth::Identity`].
//! - [`config`]: flags and environment into validated [`config::Settings`].
//! - [`store`]: the [`store::Store`] trait with its in-memory and Redis engines.
//! - [`hub`]: what cardholders and agents can do, and the background tasks.
//! - [`bus`]: delivery to this node's connections and to other nodes.
//! - [`connection`]: one task per WebSocket.
//! - [`http`]: the axum router (upgrade checks, health, metrics, dev token).
//! - [`assets`]: the embedded widget, agent pane and demo page.
//! - [`masking`], [`classifier`]: sensitive-data masking and the lockout classifier.
//! - [`text`]: text hygiene for names and typed text (invisible and control
//!   characters); the hub cleans a text, then masks it.
//! - [`metrics`]: Prometheus metrics.

pub mod assets;
pub mod auth;
pub mod bus;
pub mod classifier;
pub mod config;
pub mod connection;
pub mod domain;
pub mod http;
pub mod hub;
pub mod masking;
pub mod metrics;
pub mod protocol;
pub mod store;
pub mod text;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};
pub use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::Verifier;
use crate::bus::{Bus, Sessions};
use crate::config::{Engine, Settings};
use crate::hub::{Hub, Shared};
use crate::metrics::Metrics;
use crate::store::memory::MemoryStore;
use crate::store::redis::RedisStore;
use crate::store::Store;

/// Why the hub could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The token keys are unusable.
    #[error("token configuration: {0}")]
    Auth(#[from] auth::AuthConfigError),
    /// Redis could not be reached at start-up.
    #[error("cannot reach Redis: {}", .0.detail())]
    Store(#[from] store::StoreError),
    /// Another live process uses this node id on the same Redis.
    #[error(
        "another hub node with id `{0}` is running on this Redis; give each node its own --node-id"
    )]
    DuplicateNode(String),
    /// The listener failed.
    #[error("serving HTTP failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Builds the hub from settings: connects the store, starts the background
/// tasks. `shutdown` is cancelled to stop them.
pub async fn build_hub(settings: Settings, shutdown: CancellationToken) -> Result<Hub, RunError> {
    let verifier = Verifier::new(settings.jwt.clone())?;
    let metrics = Metrics::new();
    let sessions = Arc::new(Sessions::default());
    let (store, bus): (Arc<dyn Store>, Bus) = match &settings.engine {
        Engine::Memory => {
            tracing::info!("using the built-in in-memory engine: one node only, nothing survives a restart (give --redis-url to share state)");
            let (to_sessions, to_metrics) = (sessions.clone(), metrics.clone());
            let announcer: store::Announcer =
                Arc::new(move |to: &[domain::UserId], text: String| {
                    to_sessions.deliver(to, &axum::extract::ws::Utf8Bytes::from(text), &to_metrics);
                });
            (
                Arc::new(MemoryStore::with_announcer(announcer)),
                Bus::local(sessions.clone(), metrics.clone()),
            )
        }
        Engine::Redis { url, prefix } => {
            let store = RedisStore::connect(url, prefix, &settings.node_id).await?;
            if store.node_alive(domain::now_millis()).await? {
                return Err(RunError::DuplicateNode(settings.node_id.clone()));
            }
            store
                .reset_node(domain::now_millis(), &settings.graces)
                .await?;
            tracing::info!(prefix = %prefix, node = %settings.node_id, "using Redis");
            let bus = Bus::redis(
                store.clone(),
                url,
                sessions.clone(),
                metrics.clone(),
                shutdown.clone(),
            )
            .await?;
            (Arc::new(store), bus)
        }
    };
    let hub = Hub(Arc::new(Shared {
        store,
        sessions,
        bus,
        settings,
        verifier,
        metrics,
        route_wakeup: Notify::new(),
        shutdown,
        positions: Default::default(),
    }));
    hub::tasks::spawn(&hub);
    Ok(hub)
}

/// Serves the hub on an already bound listener until `shutdown` completes,
/// then closes every connection (Close 1001) and waits for them, at most
/// the configured drain timeout.
pub async fn run(
    listener: TcpListener,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let cancel = CancellationToken::new();
    let hub = build_hub(settings, cancel.clone()).await?;
    serve(listener, hub, cancel, shutdown).await
}

/// Serves an already built hub (see [`build_hub`]; `cancel` is the token it
/// was built with) until `shutdown` completes, then drains as [`run`] does.
pub async fn serve(
    listener: TcpListener,
    hub: Hub,
    cancel: CancellationToken,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let drain = hub.settings.drain_timeout;
    let slots = Arc::new(Semaphore::new(hub.settings.max_connections));
    let tracker = TaskTracker::new();
    let app = http::App {
        hub: hub.clone(),
        slots,
        tracker: tracker.clone(),
    };
    let stop = cancel.clone();
    // Chat frames are small and latency-bound: send them at once rather
    // than wait for Nagle's algorithm to coalesce them (~40 ms tails).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
    });
    axum::serve(listener, http::router(app))
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: closing connections");
            stop.cancel();
        })
        .await?;
    cancel.cancel();
    tracker.close();
    if tokio::time::timeout(drain, tracker.wait()).await.is_err() {
        tracing::warn!(
            left = tracker.len(),
            "connections still open after the drain timeout"
        );
    }
    if let Err(e) = hub.store.retire().await {
        tracing::warn!(error = %e, "could not deregister this node; its id is free again in 15 s");
    }
    Ok(())
}
