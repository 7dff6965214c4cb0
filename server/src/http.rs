//! The HTTP side: the `/ws` upgrade (with handshake-time checks), health,
//! readiness, metrics, the browser assets and the `--dev` endpoints.

use std::sync::Arc;
use std::time::Duration;

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
use crate::connection;
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

/// What the HTTP handlers share.
#[derive(Debug, Clone)]
pub struct App {
    /// The hub.
    pub hub: Hub,
    /// Connection slots; an upgrade without a free slot gets 503.
    pub slots: Arc<Semaphore>,
    /// Tracks connection tasks so shutdown can wait for them.
    pub tracker: TaskTracker,
}

/// Builds the router.
pub fn router(app: App) -> Router {
    let mut r = Router::new()
        .route("/ws", get(ws_upgrade))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics));
    r = crate::assets::routes(r, app.hub.settings.dev);
    if app.hub.settings.dev {
        r = r.route("/dev/token", post(dev_token));
    }
    r.with_state(app)
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

async fn ws_upgrade(
    State(app): State<App>,
    headers: HeaderMap,
    uri: Uri,
    ws: WebSocketUpgrade,
) -> Response {
    if query_has_token(&uri) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "tokens in the URL are refused (they leak into logs): use the Authorization header or an auth frame",
        );
    }
    if !origin_allowed(&app, &headers) {
        return refuse(
            StatusCode::FORBIDDEN,
            "this origin may not open a chat connection",
        );
    }
    let identity = match bearer(&headers) {
        Some(token) => match app.hub.authenticate(token).await {
            Ok(i) => Some(i),
            Err(e) => return refuse(StatusCode::UNAUTHORIZED, &e.client_message()),
        },
        None => None,
    };
    let Ok(permit) = app.slots.clone().try_acquire_owned() else {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "this hub node is full; try another or retry shortly",
        );
    };
    let hub = app.hub.clone();
    let tracker = app.tracker.clone();
    ws.read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| {
            tracker.track_future(connection::serve(
                socket,
                hub,
                identity,
                permit,
                tracker.clone(),
            ))
        })
}

fn query_has_token(uri: &Uri) -> bool {
    uri.query().is_some_and(|q| {
        q.split('&').any(|kv| {
            let key = kv.split('=').next().unwrap_or("");
            matches!(key, "token" | "access_token" | "jwt" | "auth")
        })
    })
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Browsers send `Origin`; native apps don't. Without `--allowed-origins`,
/// only the hub's own origin may open browser connections.
fn origin_allowed(app: &App, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return true;
    };
    let allowed = &app.hub.settings.allowed_origins;
    if !allowed.is_empty() {
        return allowed.iter().any(|a| a == origin);
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    origin == format!("http://{host}") || origin == format!("https://{host}")
}

/// `/readyz`: 200 while the store answers, 503 otherwise. With rotating signing keys the
/// answer also carries a `keys` detail (`fresh` or `stale`, age, last failure). Stale keys
/// do not make the node unready: they are the last good keys, every node shares the same
/// issuer, and taking them all out of service because the issuer hiccups would turn its
/// outage into ours. `/metrics` carries the same facts for alerting.
async fn readyz(State(app): State<App>) -> Response {
    let keys = app.hub.verifier.key_status().map(|k| {
        json!({
            "status": if k.stale { "stale" } else { "fresh" },
            "source": k.origin,
            "keys": k.keys,
            "age_s": k.age.as_secs(),
            "last_error": k.last_error,
        })
    });
    let (status, mut body) =
        match tokio::time::timeout(Duration::from_secs(2), app.hub.store.ping()).await {
            Ok(Ok(())) => (StatusCode::OK, json!({ "status": "ready" })),
            Ok(Err(e)) => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({ "status": "unavailable", "reason": e.to_string() }),
            ),
            Err(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({ "status": "unavailable", "reason": "the store did not answer within 2 s" }),
            ),
        };
    if let Some(keys) = keys {
        body["keys"] = keys;
    }
    (status, Json(body)).into_response()
}

async fn metrics(State(app): State<App>) -> Response {
    if let Some(keys) = app.hub.verifier.key_status() {
        app.hub.metrics.signing_keys_age.set(keys.age.as_secs_f64());
    }
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
    // Never longer than the hub itself accepts (--jwt-max-lifetime).
    let ttl = DEV_TOKEN_TTL_S.min(app.hub.settings.jwt.max_lifetime.as_secs());
    claims.insert("exp".into(), json!(now + ttl));
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
    match app.hub.authenticate(&token).await {
        Ok(_) => Json(json!({ "token": token })).into_response(),
        Err(e) => refuse(StatusCode::BAD_REQUEST, &e.client_message()),
    }
}
