//! The HTTP side: the `/ws` upgrade (with handshake-time checks), health,
//! readiness, metrics, the browser assets and the `--dev` endpoints.
//!
//! Handshake checks, in order: no token in the URL, an allowed `Origin`
//! (judged against configuration, never the request's `Host`), a valid
//! bearer token when one is given, then a free slot in the right budget
//! (authenticated connections, or connections still authenticating).
//! This module knows nothing of the session that follows the upgrade.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;

use crate::auth::mint_hs256;
use crate::config::exact_origin;
use crate::connection::{self, Admission};
use crate::hub::Hub;
use crate::protocol::MAX_FRAME_BYTES;

/// A socket's read buffer. tungstenite's default (128 KiB) would cost that
/// much per idle connection; chat frames are small (a 4,000-character
/// message is at most 16 KiB and is simply read in several steps).
const READ_BUFFER: usize = 512;

/// Outbound frames are written at once rather than gathered in a buffer.
const WRITE_BUFFER: usize = 0;

/// Most bytes queued for one slow socket before writes fail.
const MAX_WRITE_BUFFER: usize = 1024 * 1024;

/// How long a `--dev` token lives.
const DEV_TOKEN_TTL_S: u64 = 8 * 3600;

/// Query keys that name a credential (compared case-insensitively, after
/// percent-decoding), besides any key containing `token`.
const CREDENTIAL_KEYS: &[&str] = &["jwt", "auth", "authorization", "bearer"];

/// What the HTTP handlers share.
#[derive(Debug, Clone)]
pub struct App {
    /// The hub the upgraded connections join.
    pub hub: Hub,
    /// `--max-connections` slots, held by authenticated connections; an
    /// upgrade with a bearer token and no free slot gets 503.
    pub slots: Arc<Semaphore>,
    /// `--max-pending-auth` slots, held by connections until their `auth`
    /// frame is checked; an upgrade without a token and no free one gets 503.
    pub pending: Arc<Semaphore>,
    /// Tracks connection tasks so shutdown can wait for them.
    pub tracker: TaskTracker,
    /// Origins whose pages may open WebSockets: the hub's own and
    /// `--allowed-origins`, normalised.
    pub origins: Arc<[String]>,
}

impl App {
    /// The handlers' state for `hub`, served at `local` (the listener's
    /// address, the hub's origin when `--public-url` is not given).
    pub fn new(hub: Hub, tracker: TaskTracker, local: SocketAddr) -> App {
        let settings = &hub.settings;
        let mut origins = own_origins(settings.public_origin.as_deref(), local);
        origins.extend(settings.allowed_origins.iter().cloned());
        App {
            slots: Arc::new(Semaphore::new(settings.max_connections)),
            pending: Arc::new(Semaphore::new(settings.max_pending_auth)),
            tracker,
            origins: origins.into(),
            hub,
        }
    }
}

/// The hub's own origins: `--public-url`'s, or else `http://<local>`, plus
/// `http://localhost:<port>` when `local` is a loopback address (a browser
/// on this machine; no DNS-rebinding page can have that origin, since
/// browsers resolve `localhost` themselves).
pub fn own_origins(public: Option<&str>, local: SocketAddr) -> Vec<String> {
    if let Some(public) = public {
        return vec![public.to_owned()];
    }
    let mut own = vec![format!("http://{local}")];
    if local.ip().is_loopback() {
        own.push(format!("http://localhost:{}", local.port()));
    }
    own
}

/// Builds the router.
pub fn router(app: App) -> Router {
    let mut r = Router::new()
        .route("/ws", get(ws_upgrade))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics));
    r = crate::assets::routes(r, &app.hub.settings);
    if app.hub.settings.dev {
        r = r.route("/dev/token", post(dev_token));
    }
    r.with_state(app)
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// `GET /ws`. The checks run before the upgrade headers are looked at, so
/// a refusal never depends on whether the request could have been upgraded.
async fn ws_upgrade(
    State(app): State<App>,
    headers: HeaderMap,
    uri: Uri,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    if query_has_token(&uri) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "tokens in the URL are refused (they leak into logs): use the Authorization header or an auth frame",
        );
    }
    if !origin_allowed(&app.origins, &headers) {
        return refuse(
            StatusCode::FORBIDDEN,
            "this origin may not open a chat connection",
        );
    }
    let identity = match bearer(&headers) {
        Some(token) => match app.hub.authenticate(token) {
            Ok(i) => Some(i),
            Err(e) => return refuse(StatusCode::UNAUTHORIZED, &e.client_message()),
        },
        None => None,
    };
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let admission = match identity {
        Some(identity) => match app.slots.clone().try_acquire_owned() {
            Ok(permit) => Admission::Authenticated { identity, permit },
            Err(_) => {
                return refuse(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "this hub node is full; try another or retry shortly",
                )
            }
        },
        None => match app.pending.clone().try_acquire_owned() {
            Ok(pending) => Admission::Pending {
                pending,
                slots: app.slots.clone(),
            },
            Err(_) => {
                return refuse(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too many connections are authenticating at this hub node; retry shortly",
                )
            }
        },
    };
    let hub = app.hub.clone();
    let tracker = app.tracker.clone();
    ws.read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| {
            tracker.track_future(connection::serve(socket, hub, admission, tracker.clone()))
        })
}

/// Whether the query carries a credential: a key naming one (`token`,
/// `access_token`, `id_token`, `jwt`, … in any case, percent-encoded or not)
/// or a value that looks like a JWT, whatever its key.
fn query_has_token(uri: &Uri) -> bool {
    let Some(query) = uri.query() else {
        return false;
    };
    form_urlencoded::parse(query.as_bytes()).any(|(key, value)| {
        let key = key.to_ascii_lowercase();
        key.contains("token") || CREDENTIAL_KEYS.contains(&key.as_str()) || looks_like_jwt(&value)
    })
}

/// Three base64url segments, the first a JSON object (`eyJ` is `{"`).
fn looks_like_jwt(value: &str) -> bool {
    let value = value.trim();
    value.starts_with("eyJ")
        && value.split('.').count() == 3
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'='))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Browsers send `Origin`; native apps don't. A browser's page may open a
/// connection when its origin is one of `allowed` (the hub's own and
/// `--allowed-origins`). The request's `Host` plays no part: a DNS-rebinding
/// page controls it. Several `Origin` headers, or one that is not exactly
/// an origin as browsers write it (`null` included), are refused.
fn origin_allowed(allowed: &[String], headers: &HeaderMap) -> bool {
    let mut values = headers.get_all(header::ORIGIN).iter();
    let Some(value) = values.next() else {
        return true;
    };
    if values.next().is_some() {
        return false;
    }
    let Ok(origin) = value.to_str() else {
        return false;
    };
    exact_origin(origin).is_some_and(|o| o == origin) && allowed.iter().any(|a| a == origin)
}

async fn readyz(State(app): State<App>) -> Response {
    match tokio::time::timeout(Duration::from_secs(2), app.hub.store.ping()).await {
        Ok(Ok(())) => Json(json!({ "status": "ready" })).into_response(),
        Ok(Err(e)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "reason": e.to_string() })),
        )
            .into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({ "status": "unavailable", "reason": "the store did not answer within 2 s" }),
            ),
        )
            .into_response(),
    }
}

async fn metrics(State(app): State<App>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        app.hub.metrics.render(),
    )
        .into_response()
}

/// `POST /dev/token` (only with `--dev`): mints a token from the claims
/// given, after checking them exactly as a connection would.
async fn dev_token(State(app): State<App>, body: axum::body::Bytes) -> Response {
    let Some(secret) = app.hub.settings.dev_secret.as_deref() else {
        return refuse(
            StatusCode::NOT_FOUND,
            "this hub verifies public-key tokens; it cannot mint them",
        );
    };
    let Ok(serde_json::Value::Object(mut claims)) =
        serde_json::from_slice::<serde_json::Value>(&body)
    else {
        return refuse(StatusCode::BAD_REQUEST, "send a JSON object of claims");
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    claims.insert("iat".into(), json!(now));
    claims.insert("exp".into(), json!(now + DEV_TOKEN_TTL_S));
    if let Some(iss) = &app.hub.settings.jwt.issuer {
        claims.insert("iss".into(), json!(iss));
    }
    if let Some(aud) = &app.hub.settings.jwt.audience {
        claims.insert("aud".into(), json!(aud));
    }
    let token = match mint_hs256(secret, &serde_json::Value::Object(claims)) {
        Ok(t) => t,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, &e.client_message()),
    };
    match app.hub.authenticate(&token) {
        Ok(_) => Json(json!({ "token": token })).into_response(),
        Err(e) => refuse(StatusCode::BAD_REQUEST, &e.client_message()),
    }
}
