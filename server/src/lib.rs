//! Switchboard: a live-chat hub for a card issuer's customer service.
//!
//! Cardholders (mobile app, website widget) and agents (agent pane) connect
//! over WebSocket; the hub authenticates them by JWT, queues conversations
//! per card tier, pairs them with agents of the right team and relays the
//! conversation. Several nodes can share one Redis.
//!
//! # Layout
//! - [`domain`]: the vocabulary (tiers, teams, topics, ids) and the records
//!   (conversations, entries, callback requests, archive records…).
//! - [`protocol`]: wire protocol v1, the only module that knows the frames'
//!   JSON; [`protocol::render`] renders records and events into frames.
//! - [`auth`]: JWT verification into an [`auth::Identity`].
//! - [`keys`]: the signing keys (sources, parsing, rules) and the ring that rotates them (JWKS URL, OpenID issuer, JWKS file).
//! - [`settings`]: the validated [`settings::Settings`] a hub runs with.
//! - [`config`]: flags and environment into [`settings::Settings`]; named only by `main`.
//! - [`events`]: domain events and their audiences; rendered into frames on delivery.
//! - [`hours`]: opening hours per team (`--hours`).
//! - [`store`]: the [`store::Store`] trait with its in-memory and Redis engines.
//! - [`archive`]: the durable archive (PostgreSQL, or in memory) and the history read from it.
//! - [`archiver`]: moves the Redis archive stream into PostgreSQL, and purges.
//! - [`hub`]: what cardholders and agents can do, and the background tasks.
//! - [`bus`]: delivery to this node's connections and to other nodes.
//! - [`connection`]: one task per WebSocket.
//! - [`http`]: the axum router (upgrade checks, health, metrics, dev token).
//! - [`assets`]: the embedded widget, agent pane and demo page.
//! - [`masking`], [`classifier`]: sensitive-data masking and the lockout classifier.
//! - [`text`]: text hygiene for names and typed text (invisible and control
//!   characters); the hub cleans a text, then masks it.
//! - [`metrics`]: Prometheus metrics.
//! - [`notify`]: notifications to the issuer's push service (`--notify-url`).
//! - [`typing_rate`]: the typed-text byte budget per user; [`token_bucket`]:
//!   the token bucket it and the frame rate limit share.
//! - [`logging`]: the log subscriber, which keeps payload-dumping
//!   dependencies below debug whatever `RUST_LOG` says.
//!
//! Layers point one way (ARCHITECTURE.md draws them): records at the bottom,
//! then events, protocol, the engines, the hub, the edge, and `config` on
//! top; `tests/layers.rs` fails on any import cycle between modules or files.

pub mod admission;
pub mod archive;
pub mod archiver;
pub mod assets;
pub mod auth;
pub mod bus;
pub mod canned;
pub mod classifier;
pub mod config;
pub mod connection;
pub mod domain;
pub mod events;
pub mod hours;
pub mod http;
pub mod hub;
pub mod keys;
pub mod lag;
pub mod logging;
pub mod masking;
pub mod metrics;
pub mod notify;
pub mod protocol;
pub mod settings;
pub mod store;
pub mod text;
pub mod token_bucket;
pub mod typing_rate;

use std::future::Future;
use std::sync::Arc;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
pub use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::archive::memory::MemoryArchive;
use crate::archive::postgres::PgArchive;
use crate::archive::{Archive, NoArchive};
use crate::archiver::Archiver;
use crate::auth::Verifier;
use crate::bus::{Bus, Sessions};
use crate::hub::Hub;
use crate::keys::AuthConfigError;
use crate::metrics::Metrics;
use crate::settings::{Engine, Settings};
use crate::store::memory::MemoryStore;
use crate::store::redis::RedisStore;
use crate::store::Store;

/// How long accepting pauses after an accept error such as running out of
/// file descriptors (retrying at once would spin while nothing frees up).
const ACCEPT_PAUSE: std::time::Duration = std::time::Duration::from_millis(500);

/// Why the hub could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The token keys are unusable.
    #[error("token configuration: {0}")]
    Auth(#[from] AuthConfigError),
    /// Redis could not be reached at start-up.
    #[error("cannot reach Redis: {}", .0.detail())]
    Store(#[from] store::StoreError),
    /// Another live process uses this node id on the same Redis.
    #[error(
        "another hub node with id `{0}` is running on this Redis; give each node its own --node-id"
    )]
    DuplicateNode(String),
    /// The archive settings are unusable.
    #[error("archive: {0}")]
    Archive(archive::ArchiveError),
    /// The listener failed.
    #[error("serving HTTP failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Builds the hub from settings: connects the store, starts the background
/// tasks. `shutdown` is cancelled to stop them.
pub async fn build_hub(settings: Settings, shutdown: CancellationToken) -> Result<Hub, RunError> {
    let metrics = Metrics::new();
    let verifier = Verifier::start(settings.jwt.clone(), metrics.clone(), shutdown.clone()).await?;
    let sessions = Arc::new(Sessions::new(shutdown.clone()));
    let mut archive_health = None;
    let (store, bus, archive): (Arc<dyn Store>, Bus, Arc<dyn Archive>) = match &settings.engine {
        Engine::Memory => {
            tracing::info!("using the built-in in-memory engine: one node only, nothing survives a restart (give --redis-url to share state)");
            let (to_sessions, to_metrics) = (sessions.clone(), metrics.clone());
            let announcer: store::Announcer = Arc::new(move |envelope: events::Envelope| {
                to_sessions.deliver(&envelope, &to_metrics);
            });
            let history = Arc::new(MemoryArchive::new());
            let mut store = MemoryStore::with_announcer(announcer)
                .retaining(settings.hot_retention_ms)
                .bounding(settings.transcript_bounds)
                .with_message_sla(settings.message_sla)
                .archiving(history.clone());
            if let Some(n) = &settings.notify {
                tracing::warn!("notifications wait in memory: a restart loses those not delivered yet (give --redis-url for a durable queue)");
                store = store.notifying(n.store_side());
            }
            (
                Arc::new(store),
                Bus::local(sessions.clone(), metrics.clone()),
                history,
            )
        }
        Engine::Redis {
            url,
            prefix,
            wait_replicas,
        } => {
            let mut store =
                RedisStore::connect(url, prefix, &settings.node_id, settings.hot_retention_ms)
                    .await?
                    .bounding(settings.transcript_bounds)
                    .with_message_sla(settings.message_sla);
            if *wait_replicas > 0 {
                store = store.waiting_for_replicas(*wait_replicas, &metrics).await?;
            }
            if settings.archive.is_some() {
                store = store.archiving();
            }
            if let Some(n) = &settings.notify {
                store = store.notifying(n.store_side());
            }
            let sweep = hub::tasks::node_sweep(&settings);
            if store
                .node_alive(domain::now_millis(), sweep.stale_ms)
                .await?
            {
                return Err(RunError::DuplicateNode(settings.node_id.clone()));
            }
            store.reset_node(domain::now_millis(), &sweep).await?;
            tracing::info!(prefix = %prefix, node = %settings.node_id, "using Redis");
            let archive: Arc<dyn Archive> = match &settings.archive {
                Some(a) => {
                    let pg = PgArchive::new(&a.url).map_err(RunError::Archive)?;
                    // Migrate before serving, so history works from the
                    // first request; a database that is down does not stop
                    // live chat (the archiver migrates once it answers).
                    if let Err(e) = pg.migrate().await {
                        tracing::warn!(error = %e, "archive not reachable at start-up; archiving waits for it");
                    }
                    let archiver =
                        Archiver::new(store.clone(), pg.clone(), metrics.clone(), a.claim_idle);
                    archive_health = Some(archiver.health());
                    tokio::spawn(archiver.run(shutdown.clone()));
                    tracing::info!("archiving ended conversations to PostgreSQL");
                    Arc::new(pg)
                }
                None => {
                    tracing::info!("no --archive-url: ended conversations expire after --hot-retention and history is empty");
                    Arc::new(NoArchive)
                }
            };
            let store = Arc::new(store);
            let bus = Bus::remote(
                store.clone(),
                sessions.clone(),
                metrics.clone(),
                shutdown.clone(),
            )
            .await?;
            (store, bus, archive)
        }
    };
    if let Some(n) = &settings.notify {
        let notifier = notify::Notifier::new(store.clone(), n.clone(), metrics.clone());
        tokio::spawn(notifier.run(shutdown.clone()));
        tracing::info!(url = %n.url, "notifying the push service of agents' replies to absent cardholders");
    }
    tokio::spawn(archiver::purge_periodically(
        archive.clone(),
        settings.archive_retention_days,
        metrics.clone(),
        shutdown.clone(),
    ));
    Ok(Hub::new(
        hub::Parts {
            store,
            archive,
            archive_health,
            sessions,
            bus,
        },
        settings,
        verifier,
        metrics,
        shutdown,
    ))
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
///
/// HTTP/1.1 only (WebSocket upgrades need it); a connection whose request
/// headers are not complete within [`Settings::header_read_timeout`] is
/// dropped, and so is a keep-alive connection idle that long.
pub async fn serve(
    listener: TcpListener,
    hub: Hub,
    cancel: CancellationToken,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let drain = hub.settings().drain_timeout;
    let local = listener.local_addr()?;
    if local.ip().is_unspecified() && hub.settings().public_origin.is_none() {
        tracing::info!(
            "listening on every interface without --public-url: browser pages must come from --allowed-origins"
        );
    }
    let tracker = TaskTracker::new();
    let router = http::router(http::App::new(hub.clone(), tracker.clone(), local));
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1
        .timer(TokioTimer::new())
        .header_read_timeout(hub.settings().header_read_timeout);
    // HTTP connections (before any upgrade), and the signal that asks them
    // to finish their request and close.
    let requests = TaskTracker::new();
    let close_requests = CancellationToken::new();
    tokio::pin!(shutdown);
    loop {
        let tcp = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
        };
        // Chat frames are small and latency-bound: send them at once rather
        // than wait for Nagle's algorithm to coalesce them (~40 ms tails).
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        // A client that stops reading may cost the kernel only this much
        // (autotuned, it would hold ~4 MB before a write blocks); past it
        // the connection's own bounded queue fills and it is closed 4429.
        if let Err(e) = socket2::SockRef::from(&tcp).set_send_buffer_size(bus::SEND_BUFFER) {
            tracing::debug!(error = %e, "could not set SO_SNDBUF");
        }
        let connection = http1
            .serve_connection(TokioIo::new(tcp), TowerToHyperService::new(router.clone()))
            .with_upgrades();
        let close = close_requests.clone();
        requests.spawn(async move {
            tokio::pin!(connection);
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                () = close.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = ended {
                tracing::debug!(error = %e, "HTTP connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down: closing connections");
    cancel.cancel();
    close_requests.cancel();
    requests.close();
    tracker.close();
    let drained = tokio::time::timeout(drain, async {
        requests.wait().await;
        tracker.wait().await;
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            left = tracker.len() + requests.len(),
            "connections still open after the drain timeout"
        );
    }
    if let Err(e) = hub.retire().await {
        tracing::warn!(
            error = %e,
            timeout_ms = u64::try_from(hub.settings().node_timeout.as_millis()).unwrap_or(u64::MAX),
            "could not deregister this node; its id is free again after --node-timeout"
        );
    }
    Ok(())
}

/// After an accept error: a connection that failed before we took it is
/// none of our business; anything else (out of file descriptors) is
/// logged, and accepting pauses a moment rather than spinning.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionRefused | ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::warn!(error = %e, "accepting a connection failed");
    tokio::time::sleep(ACCEPT_PAUSE).await;
}
