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
use crate::connection::{self, SocketSlot};
use crate::hub::Hub;
use crate::protocol::MAX_FRAME_BYTES;

/// A socket's read buffer. tungstenite's default (128 KiB) would cost that
/// much per idle connection; chat frames are small (a 4,000-character
/// message is at most 16 KiB and is simply read in several steps).
const READ_BUFFER: usize = 512;

/// Outbound frames are gathered until the connection's write batch flushes
/// (`connection::write_batch`, at most 64 KiB), so a batch reaches the kernel
/// in one `send`. With 0, tungstenite wrote every frame to the socket as it
/// was fed: one `send` per frame, a third of the hub's CPU at saturation.
const WRITE_BUFFER: usize = 128 * 1024;

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
        let settings = hub.settings();
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
    r = crate::assets::routes(r, app.hub.settings());
    if app.hub.settings().dev {
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
        Some(token) => match app.hub.authenticate(token).await {
            Ok(i) => Some(i),
            Err(e) => return refuse(StatusCode::UNAUTHORIZED, &e.client_message()),
        },
        None => None,
    };
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let slot = match identity {
        Some(identity) => match app.slots.clone().try_acquire_owned() {
            Ok(permit) => SocketSlot::Authenticated { identity, permit },
            Err(_) => {
                return refuse(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "this hub node is full; try another or retry shortly",
                )
            }
        },
        None => match app.pending.clone().try_acquire_owned() {
            Ok(pending) => SocketSlot::Pending {
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
            tracker.track_future(connection::serve(socket, hub, slot, tracker.clone()))
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

/// `/readyz`: 200 while the store answers and events are delivered within
/// `--max-event-lag`, 503 otherwise (`status` `unavailable` or `behind`).
/// With an archive the body carries `archive` (`ok`, `degraded` while
/// writes fail, `overloaded` past
/// [`crate::archiver::BACKLOG_LIMIT`], which alone answers 503),
/// its backlog and lag. With rotating signing keys the
/// answer also carries a `keys` detail (`fresh` or `stale`, age, last failure). Stale keys
/// do not make the node unready: they are the last good keys, every node shares the same
/// issuer, and taking them all out of service because the issuer hiccups would turn its
/// outage into ours. `/metrics` carries the same facts for alerting.
async fn readyz(State(app): State<App>) -> Response {
    let keys = app.hub.key_status().map(|k| {
        json!({
            "status": if k.stale { "stale" } else { "fresh" },
            "source": k.origin,
            "keys": k.keys,
            "age_s": k.age.as_secs(),
            "last_error": k.last_error,
        })
    });
    let (status, mut body) = match tokio::time::timeout(Duration::from_secs(2), app.hub.ready())
        .await
    {
        Ok(Ok(())) => match app.hub.behind() {
            None => (StatusCode::OK, json!({ "status": "ready" })),
            Some(lag) => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({
                    "status": "behind",
                    "reason": format!(
                        "this node runs {:.1} s behind: events delivered late or tasks waiting for a core (limit {:.1} s); new chats and messages are refused with busy",
                        lag.as_secs_f64(),
                        app.hub.settings().max_event_lag.as_secs_f64()
                    ),
                    "lag_s": lag.as_secs_f64(),
                }),
            ),
        },
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
    let mut status = status;
    if let Some(a) = app.hub.archive_state() {
        // A failing archive does not stop live chat: the backlog waits in
        // Redis. Only a backlog large enough to threaten Redis memory makes
        // the node not ready.
        let over = a.backlog > crate::archiver::BACKLOG_LIMIT;
        let state = match (over, a.failing) {
            (true, _) => "overloaded",
            (false, true) => "degraded",
            (false, false) => "ok",
        };
        body["archive"] = json!({
            "status": state,
            "backlog": a.backlog,
            "lag_s": a.lag_s,
            "last_error": a.last_error,
        });
        if over && status == StatusCode::OK {
            status = StatusCode::SERVICE_UNAVAILABLE;
            body["status"] = json!("unavailable");
            body["reason"] = json!("the archive backlog threatens Redis memory");
        }
    }
    (status, Json(body)).into_response()
}

async fn metrics(State(app): State<App>) -> Response {
    if let Some(keys) = app.hub.key_status() {
        app.hub
            .metrics()
            .signing_keys_age
            .set(keys.age.as_secs_f64());
    }
    let (limit, in_flight) = app.hub.admission();
    let m = app.hub.metrics();
    m.admission_limit.set(limit as i64);
    m.work_in_flight.set(in_flight as i64);
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        app.hub.metrics().render(),
    )
        .into_response()
}

/// `POST /dev/token` (only with `--dev`): mints a token from the claims
/// given, after checking them exactly as a connection would.
async fn dev_token(State(app): State<App>, body: axum::body::Bytes) -> Response {
    let Some(secret) = app.hub.settings().dev_secret.as_deref() else {
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
    let ttl = DEV_TOKEN_TTL_S.min(app.hub.settings().jwt.max_lifetime.as_secs());
    claims.insert("exp".into(), json!(now + ttl));
    if let Some(iss) = &app.hub.settings().jwt.issuer {
        claims.insert("iss".into(), json!(iss));
    }
    if let Some(aud) = &app.hub.settings().jwt.audience {
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

/// `text` if it is exactly an origin as browsers write it in `Origin`
/// (`scheme://host[:port]`, lower case, default port left out), else the
/// normalised origin when `text` only differs by case, a default port or a
/// trailing `/`; `None` when it is no http(s) origin at all.
pub fn exact_origin(text: &str) -> Option<String> {
    let url = url::Url::parse(text).ok()?;
    let bare = url.path() == "/" && url.query().is_none() && url.fragment().is_none();
    let plain = url.username().is_empty() && url.password().is_none();
    (bare && plain).then(|| origin_of_url(text)).flatten()
}

/// The origin (`scheme://host[:port]`) of an http(s) URL, which may have a path.
pub fn origin_of_url(text: &str) -> Option<String> {
    let url = url::Url::parse(text).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return None;
    }
    if !url.username().is_empty() || url.password().is_some() {
        return None;
    }
    Some(url.origin().ascii_serialization())
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{HeaderValue, Request};
    use tower::ServiceExt;

    use super::*;
    use crate::settings::Settings;

    const SECRET: &[u8] = b"http-unit-test-secret-0123456789";
    /// Where the test router pretends to listen.
    const LOCAL: &str = "127.0.0.1:8080";

    async fn router_with(settings: Settings) -> Router {
        let hub = crate::build_hub(settings, crate::CancellationToken::new())
            .await
            .expect("hub");
        let local = LOCAL.parse().expect("address");
        router(App::new(hub, TaskTracker::new(), local))
    }

    /// A complete WebSocket upgrade request (oneshot cannot upgrade, so
    /// one that passes every check is answered 426 by the extractor).
    fn upgrade(uri: &str) -> axum::http::request::Builder {
        Request::get(uri)
            .header(header::HOST, LOCAL)
            .header(header::CONNECTION, "upgrade")
            .header(header::UPGRADE, "websocket")
            .header(header::SEC_WEBSOCKET_VERSION, "13")
            .header(header::SEC_WEBSOCKET_KEY, "dGhlIHNhbXBsZSBub25jZQ==")
    }

    async fn status(router: &Router, request: Request<Body>) -> StatusCode {
        router
            .clone()
            .oneshot(request)
            .await
            .expect("answer")
            .status()
    }

    async fn with_origin(router: &Router, origin: &str) -> StatusCode {
        let request = upgrade("/ws")
            .header(header::ORIGIN, origin)
            .body(Body::empty())
            .expect("request");
        status(router, request).await
    }

    #[test]
    fn query_credentials_are_found_whatever_their_spelling() {
        for query in [
            "token=x",
            "Token=x",
            "TOKEN=x",
            "access_token=x",
            "id_token=x",
            "ID_Token=x",
            "auth_token=x",
            "%74oken=x",
            "id%5Ftoken=x",
            "jwt=x",
            "JWT=x",
            "auth=x",
            "Authorization=Bearer+x",
            "a=1&token=x",
            "session=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
        ] {
            let uri: Uri = format!("/ws?{query}").parse().expect("uri");
            assert!(query_has_token(&uri), "{query}");
        }
        for query in ["", "v=1", "lang=en&theme=dark", "author=x", "eyJ=1"] {
            let uri: Uri = format!("/ws?{query}").parse().expect("uri");
            assert!(!query_has_token(&uri), "{query}");
        }
        assert!(!query_has_token(&Uri::from_static("/ws")));
    }

    #[tokio::test]
    async fn query_tokens_are_refused_before_the_upgrade() {
        let router = router_with(Settings::for_secret(SECRET)).await;
        for uri in ["/ws?Token=x", "/ws?id_token=x", "/ws?%54OKEN=x"] {
            let request = upgrade(uri).body(Body::empty()).expect("request");
            assert_eq!(
                status(&router, request).await,
                StatusCode::UNAUTHORIZED,
                "{uri}"
            );
        }
    }

    #[test]
    fn own_origins_come_from_configuration() {
        let loopback = "127.0.0.1:8080".parse().expect("address");
        assert_eq!(
            own_origins(None, loopback),
            ["http://127.0.0.1:8080", "http://localhost:8080"]
        );
        let v6 = "[::1]:9000".parse().expect("address");
        assert_eq!(
            own_origins(None, v6),
            ["http://[::1]:9000", "http://localhost:9000"]
        );
        let lan = "10.1.2.3:8080".parse().expect("address");
        assert_eq!(own_origins(None, lan), ["http://10.1.2.3:8080"]);
        assert_eq!(
            own_origins(Some("https://chat.example.com"), loopback),
            ["https://chat.example.com"]
        );
    }

    #[tokio::test]
    async fn the_host_header_never_makes_an_origin_allowed() {
        let router = router_with(Settings::for_secret(SECRET)).await;
        // DNS rebinding: the page and the Host header agree, on the attacker's name.
        let mut request = upgrade("/ws")
            .header(header::ORIGIN, "http://evil.example")
            .body(Body::empty())
            .expect("request");
        request
            .headers_mut()
            .insert(header::HOST, HeaderValue::from_static("evil.example"));
        assert_eq!(status(&router, request).await, StatusCode::FORBIDDEN);
        for own in ["http://127.0.0.1:8080", "http://localhost:8080"] {
            assert_eq!(
                with_origin(&router, own).await,
                StatusCode::UPGRADE_REQUIRED,
                "{own}"
            );
        }
        for other in [
            "https://127.0.0.1:8080",
            "http://127.0.0.1:8081",
            "http://evil.example",
        ] {
            assert_eq!(
                with_origin(&router, other).await,
                StatusCode::FORBIDDEN,
                "{other}"
            );
        }
        // No Origin: not a browser (native apps), judged by its token alone.
        let request = upgrade("/ws").body(Body::empty()).expect("request");
        assert_eq!(status(&router, request).await, StatusCode::UPGRADE_REQUIRED);
    }

    #[tokio::test]
    async fn public_url_and_allowed_origins_are_the_only_origins() {
        let mut settings = Settings::for_secret(SECRET);
        settings.public_origin = Some("https://chat.example.com".into());
        settings.allowed_origins = vec!["https://bank.example".into()];
        let router = router_with(settings).await;
        for ok in ["https://chat.example.com", "https://bank.example"] {
            assert_eq!(
                with_origin(&router, ok).await,
                StatusCode::UPGRADE_REQUIRED,
                "{ok}"
            );
        }
        for refused in [
            "http://127.0.0.1:8080",
            "http://localhost:8080",
            "http://chat.example.com",
        ] {
            assert_eq!(
                with_origin(&router, refused).await,
                StatusCode::FORBIDDEN,
                "{refused}"
            );
        }
    }

    #[tokio::test]
    async fn malformed_or_repeated_origins_are_refused() {
        let router = router_with(Settings::for_secret(SECRET)).await;
        for bad in [
            "null",
            "",
            "127.0.0.1:8080",
            "http://127.0.0.1:8080/",
            "http://127.0.0.1:8080/ws",
            "HTTP://127.0.0.1:8080",
            "http://user@127.0.0.1:8080",
            "http://127.0.0.1:8080 http://evil.example",
        ] {
            assert_eq!(
                with_origin(&router, bad).await,
                StatusCode::FORBIDDEN,
                "{bad:?}"
            );
        }
        let mut request = upgrade("/ws").body(Body::empty()).expect("request");
        let headers = request.headers_mut();
        headers.append(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8080"),
        );
        headers.append(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8080"),
        );
        assert_eq!(status(&router, request).await, StatusCode::FORBIDDEN);
        let mut request = upgrade("/ws").body(Body::empty()).expect("request");
        request.headers_mut().insert(
            header::ORIGIN,
            HeaderValue::from_bytes(b"http://\xe9vil.example").expect("opaque bytes"),
        );
        assert_eq!(status(&router, request).await, StatusCode::FORBIDDEN);
    }

    async fn headers_of(router: &Router, uri: &str) -> HeaderMap {
        let request = Request::get(uri).body(Body::empty()).expect("request");
        let response = router.clone().oneshot(request).await.expect("answer");
        assert_eq!(response.status(), StatusCode::OK, "{uri}");
        response.headers().clone()
    }

    fn csp(headers: &HeaderMap) -> &str {
        headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .expect("ascii")
    }

    #[tokio::test]
    async fn pages_cannot_be_framed_and_send_no_referrer() {
        let router = router_with(Settings::for_secret(SECRET)).await;
        for page in ["/agent/", "/agent/index.html"] {
            let headers = headers_of(&router, page).await;
            assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY", "{page}");
            assert!(csp(&headers).contains("frame-ancestors 'none'"), "{page}");
            assert!(csp(&headers).contains("script-src 'self';"), "{page}");
            assert!(!csp(&headers).contains("unsafe-inline"), "{page}");
            assert_eq!(headers[header::REFERRER_POLICY], "no-referrer", "{page}");
        }
        // Without --dev there is no demo page.
        let request = Request::get("/").body(Body::empty()).expect("request");
        assert_eq!(status(&router, request).await, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn the_widget_stays_loadable_cross_site() {
        let router = router_with(Settings::for_secret(SECRET)).await;
        for file in [
            "/widget/switchboard-widget.js",
            "/widget/switchboard-widget.css",
        ] {
            let headers = headers_of(&router, file).await;
            assert_eq!(
                headers["cross-origin-resource-policy"], "cross-origin",
                "{file}"
            );
            assert!(headers.get(header::X_FRAME_OPTIONS).is_none(), "{file}");
            assert!(
                headers.get(header::CONTENT_SECURITY_POLICY).is_none(),
                "{file}"
            );
            assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{file}");
        }
    }

    #[tokio::test]
    async fn dev_demo_frames_the_pane_and_nobody_frames_the_demo() {
        let mut settings = Settings::for_secret(SECRET);
        settings.dev = true;
        let router = router_with(settings).await;
        let demo = headers_of(&router, "/").await;
        assert_eq!(demo[header::X_FRAME_OPTIONS], "DENY");
        assert!(csp(&demo).contains("frame-ancestors 'none'"));
        assert_eq!(demo[header::REFERRER_POLICY], "no-referrer");
        let pane = headers_of(&router, "/agent/").await;
        assert_eq!(pane[header::X_FRAME_OPTIONS], "SAMEORIGIN");
        assert!(csp(&pane).contains("frame-ancestors 'self'"));
    }

    #[tokio::test]
    async fn frame_ancestors_let_the_agent_desktop_frame_the_pane() {
        let mut settings = Settings::for_secret(SECRET);
        settings.frame_ancestors = vec!["https://desk.bank.example".into()];
        let router = router_with(settings).await;
        let pane = headers_of(&router, "/agent/").await;
        assert!(csp(&pane).contains("frame-ancestors https://desk.bank.example"));
        // X-Frame-Options cannot name another site; CSP governs.
        assert!(pane.get(header::X_FRAME_OPTIONS).is_none());
        let script = headers_of(&router, "/agent/agent.js").await;
        assert!(script.get(header::X_FRAME_OPTIONS).is_none());
    }
}
