//! Signing-key rotation at the socket: a JWKS endpoint the test controls (an axum server on
//! port 0 playing the issuer), keys added and removed while the hub runs, an issuer that
//! fails, a flood of made-up `kid`s, a JWKS file edited in place, and start-up without keys.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use futures_util::StreamExt;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use switchboard::keys::{JwtSettings, KeySource};
use switchboard::settings::Settings;
use switchboard_tests::*;
use tokio::sync::watch;

/// Test-only keys (see tests/keys/README.md).
const RSA_A: &str = include_str!("../../keys/rsa-a.pem");
const RSA_B: &str = include_str!("../../keys/rsa-b.pem");
const EC_A: &str = include_str!("../../keys/ec-a.pem");

/// How long a test waits for the hub to notice a change before failing.
const NOTICE_DEADLINE: Duration = Duration::from_secs(10);

/// A signing key of the test issuer.
#[derive(Clone, Copy)]
struct TestKey {
    /// Its `kid`.
    kid: &'static str,
    /// Its private PEM.
    pem: &'static str,
    /// RS256 or ES256.
    alg: Algorithm,
}

const KEY_A: TestKey = TestKey {
    kid: "key-a",
    pem: RSA_A,
    alg: Algorithm::RS256,
};
const KEY_B: TestKey = TestKey {
    kid: "key-b",
    pem: RSA_B,
    alg: Algorithm::RS256,
};
const KEY_EC: TestKey = TestKey {
    kid: "key-ec",
    pem: EC_A,
    alg: Algorithm::ES256,
};

impl TestKey {
    fn encoding(&self) -> EncodingKey {
        match self.alg {
            Algorithm::RS256 => EncodingKey::from_rsa_pem(self.pem.as_bytes()),
            _ => EncodingKey::from_ec_pem(self.pem.as_bytes()),
        }
        .expect("test key")
    }

    /// Its public JWK, as an issuer publishes it.
    fn jwk(&self) -> Value {
        let mut jwk = Jwk::from_encoding_key(&self.encoding(), self.alg).expect("jwk");
        jwk.common.key_id = Some(self.kid.to_owned());
        let mut v = serde_json::to_value(&jwk).expect("jwk json");
        v["use"] = json!("sig");
        v
    }

    /// A cardholder token signed with this key, naming `kid`.
    fn token_with_kid(&self, kid: &str, sub: &str) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(kid.to_owned());
        let claims = json!({"sub": sub, "role": "cardholder", "tier": "standard",
            "iat": now_s(), "exp": now_s() + 600, "iss": "test-issuer"});
        jsonwebtoken::encode(&header, &claims, &self.encoding()).expect("sign")
    }

    fn token(&self, sub: &str) -> String {
        self.token_with_kid(self.kid, sub)
    }
}

fn jwks(keys: &[TestKey]) -> Value {
    json!({"keys": keys.iter().map(TestKey::jwk).collect::<Vec<_>>()})
}

/// What the test issuer serves and how often it was asked.
struct IdpState {
    /// The JWKS served now.
    jwks: Mutex<Value>,
    /// Answer 500 instead.
    failing: AtomicBool,
    /// JWKS requests received, as a watch so tests can await a count.
    fetches: watch::Sender<usize>,
    /// Its own base URL (for the discovery document).
    base: Mutex<String>,
}

/// An issuer the test controls: `GET /jwks` and `GET /.well-known/openid-configuration`.
struct Idp {
    /// Shared with the handlers: what to serve, and the fetch count the tests assert on.
    state: Arc<IdpState>,
    /// `http://127.0.0.1:<port>`, the issuer URL for discovery.
    base: String,
    /// The server task; it ends with the test's runtime.
    _server: tokio::task::JoinHandle<()>,
}

impl Idp {
    async fn start(keys: &[TestKey]) -> Idp {
        let state = Arc::new(IdpState {
            jwks: Mutex::new(jwks(keys)),
            failing: AtomicBool::new(false),
            fetches: watch::channel(0).0,
            base: Mutex::new(String::new()),
        });
        let app = Router::new()
            .route("/jwks", get(serve_jwks))
            .route("/.well-known/openid-configuration", get(serve_discovery))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        *state.base.lock().expect("lock") = base.clone();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Idp {
            state,
            base,
            _server: server,
        }
    }

    fn jwks_url(&self) -> String {
        format!("{}/jwks", self.base)
    }

    fn publish(&self, keys: &[TestKey]) {
        *self.state.jwks.lock().expect("lock") = jwks(keys);
    }

    fn fail(&self, failing: bool) {
        self.state.failing.store(failing, Ordering::SeqCst);
    }

    fn fetches(&self) -> usize {
        *self.state.fetches.borrow()
    }

    /// Waits until the issuer has been asked for its keys at least `n` times in all.
    async fn wait_for_fetches(&self, n: usize) {
        let mut rx = self.state.fetches.subscribe();
        tokio::time::timeout(NOTICE_DEADLINE, rx.wait_for(|c| *c >= n))
            .await
            .unwrap_or_else(|_| panic!("the hub did not fetch the keys {n} times in time"))
            .expect("issuer alive");
    }
}

async fn serve_jwks(State(state): State<Arc<IdpState>>) -> Response {
    state.fetches.send_modify(|n| *n += 1);
    if state.failing.load(Ordering::SeqCst) {
        return (StatusCode::INTERNAL_SERVER_ERROR, "down for maintenance").into_response();
    }
    let doc = state.jwks.lock().expect("lock").clone();
    Json(doc).into_response()
}

async fn serve_discovery(State(state): State<Arc<IdpState>>) -> Response {
    let base = state.base.lock().expect("lock").clone();
    Json(json!({"issuer": base, "jwks_uri": format!("{base}/jwks")})).into_response()
}

/// Hub settings verifying with keys from `keys`, refreshed every `refresh`.
fn settings_with(keys: KeySource, refresh: Duration) -> Settings {
    let mut s = memory_settings();
    s.jwt = JwtSettings {
        refresh,
        file_poll: Duration::from_millis(50),
        ..JwtSettings::new(keys)
    };
    s
}

/// Whether the hub accepts the token at the socket (true) or answers 401 (false).
async fn accepted(hub: &TestHub, token: &str) -> bool {
    match Client::connect_raw(&hub.ws_url(), Some(token)).await {
        Ok(mut c) => {
            c.expect("welcome").await;
            c.close().await;
            true
        }
        Err(401) => false,
        Err(other) => panic!("unexpected HTTP {other}"),
    }
}

async fn readyz(hub: &TestHub) -> (u16, Value) {
    let (status, body) = http_get(&hub.http_url("/readyz")).await;
    (status, serde_json::from_str(&body).expect("readyz JSON"))
}

#[tokio::test]
async fn key_added_after_start_up_is_accepted_within_one_refresh() {
    let idp = Idp::start(&[KEY_A]).await;
    let hub = TestHub::spawn(settings_with(
        KeySource::JwksUrl(idp.jwks_url()),
        Duration::from_secs(300),
    ))
    .await;
    assert!(accepted(&hub, &KEY_A.token("ch-a")).await);
    assert_eq!(idp.fetches(), 1, "start-up fetched once");
    // The issuer rotates in a new key (an EC one, too) and signs with it straight away.
    idp.publish(&[KEY_A, KEY_B, KEY_EC]);
    assert!(
        accepted(&hub, &KEY_B.token("ch-b")).await,
        "a token signed with the new key works at once"
    );
    assert_eq!(idp.fetches(), 2, "one refresh for the unknown kid");
    assert!(accepted(&hub, &KEY_EC.token("ch-ec")).await);
    assert_eq!(idp.fetches(), 2, "the refresh brought every new key");
    // The algorithm stays pinned by the JWKS entry: an RS256 key's kid on an ES256 token is refused.
    assert!(!accepted(&hub, &KEY_EC.token_with_kid("key-a", "x")).await);
}

/// On paused time, as every test here that waits for the hub's refresh
/// timer: it fires as soon as nothing else is left to do.
#[tokio::test(start_paused = true)]
async fn removed_key_stops_working_after_the_next_refresh() {
    let idp = Idp::start(&[KEY_A, KEY_B]).await;
    let hub = TestHub::spawn(settings_with(
        KeySource::JwksUrl(idp.jwks_url()),
        Duration::from_secs(1),
    ))
    .await;
    let b = KEY_B.token("ch-b");
    assert!(accepted(&hub, &b).await);
    idp.publish(&[KEY_A]);
    let seen = idp.fetches();
    idp.wait_for_fetches(seen + 1).await;
    eventually("the removed key is refused", || async {
        !accepted(&hub, &b).await
    })
    .await;
    assert!(accepted(&hub, &KEY_A.token("ch-a")).await);
    let (status, ready) = readyz(&hub).await;
    assert_eq!(status, 200);
    assert_eq!(ready["keys"]["keys"], 1);
    assert_eq!(ready["keys"]["status"], "fresh");
}

#[tokio::test(start_paused = true)]
async fn failing_issuer_keeps_the_last_good_keys() {
    let idp = Idp::start(&[KEY_A]).await;
    // The hub's clock: tokio's, paused.
    let spawned = tokio::time::Instant::now();
    let hub = TestHub::spawn(settings_with(
        KeySource::JwksUrl(idp.jwks_url()),
        Duration::from_secs(1),
    ))
    .await;
    let a = KEY_A.token("ch-a");
    assert!(accepted(&hub, &a).await);
    idp.fail(true);
    let failing_since = tokio::time::Instant::now();
    let seen = idp.fetches();
    idp.wait_for_fetches(seen + 2).await;
    eventually("failures are counted", || async {
        metric(&hub, "switchboard_signing_keys_refresh_failures_total", &[]).await >= 1.0
    })
    .await;
    assert!(accepted(&hub, &a).await, "the last good key still works");
    // An unknown kid during the outage is refused, and counted, without losing the old keys.
    assert!(!accepted(&hub, &KEY_B.token("ch-b")).await);
    assert!(metric(&hub, "switchboard_tokens_refused_unknown_kid_total", &[]).await >= 1.0);
    assert!(accepted(&hub, &a).await);
    // /readyz stays 200 (the store answers) and names the stale key set.
    let (status, ready) = readyz(&hub).await;
    assert_eq!(status, 200);
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["keys"]["status"], "stale");
    let error = ready["keys"]["last_error"].as_str().expect("last_error");
    assert!(error.contains("HTTP 500"), "{error}");
    // The keys' age counts from their last good load: after the hub
    // started, and before the outage began (less a moment, for a load
    // already answered then); two failed loads a second apart came since.
    let failing_for = failing_since.elapsed().as_secs_f64();
    let age = metric(&hub, "switchboard_signing_keys_age_seconds", &[]).await;
    let up_for = spawned.elapsed().as_secs_f64();
    assert!(
        failing_for - 0.25 <= age && age <= up_for,
        "keys {age} s old; failing for {failing_for} s, up for {up_for} s"
    );
    // The issuer comes back: the set is fresh again.
    idp.fail(false);
    eventually("the key set is fresh again", || async {
        readyz(&hub).await.1["keys"]["status"] == "fresh"
    })
    .await;
}

#[tokio::test]
async fn made_up_kids_cause_at_most_one_fetch_per_ten_seconds() {
    let idp = Idp::start(&[KEY_A]).await;
    let hub = TestHub::spawn(settings_with(
        KeySource::JwksUrl(idp.jwks_url()),
        Duration::from_secs(300),
    ))
    .await;
    // The hub is up (its start-up fetch is done) before counting.
    assert!(accepted(&hub, &KEY_A.token("ch-a")).await);
    let before = idp.fetches();
    let started = Instant::now();
    let url = hub.ws_url();
    // 1,000 tokens naming different made-up kids: a real token's payload and signature under
    // a header with another kid, as an attacker without the key would send them (and 1,000
    // RSA signatures would make the test slow without testing anything more).
    let real = KEY_A.token("flood");
    let (_, rest) = real.split_once('.').expect("a JWT");
    let refused = futures_util::stream::iter(0..1000)
        .map(|_| {
            let url = url.clone();
            let header =
                json!({"alg": "RS256", "typ": "JWT", "kid": uuid::Uuid::new_v4().to_string()});
            let token = format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header.to_string()));
            async move { Client::connect_raw(&url, Some(&token)).await.err() == Some(401) }
        })
        .buffer_unordered(32)
        .filter(|refused| std::future::ready(*refused))
        .count()
        .await;
    let elapsed = started.elapsed();
    assert_eq!(refused, 1000, "every made-up kid is refused with 401");
    let fetched = idp.fetches() - before;
    let allowed = 1 + (elapsed.as_secs() / 10) as usize;
    assert!(
        fetched <= allowed,
        "{fetched} fetches in {elapsed:?} for 1,000 unknown kids; at most {allowed} allowed"
    );
    assert!(fetched >= 1, "the first unknown kid does ask the issuer");
    assert!(metric(&hub, "switchboard_tokens_refused_unknown_kid_total", &[]).await >= 1000.0);
    // The hub still serves real tokens.
    assert!(accepted(&hub, &KEY_A.token("ch-a")).await);
}

/// A JWKS file in a fresh temporary folder, removed on drop.
struct JwksFile {
    /// The folder, removed with everything in it on drop.
    dir: PathBuf,
    /// The JWKS file the hub watches.
    path: PathBuf,
}

impl JwksFile {
    fn new(keys: &[TestKey]) -> JwksFile {
        let dir = std::env::temp_dir().join(format!("switchboard-jwks-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = JwksFile {
            path: dir.join("jwks.json"),
            dir,
        };
        file.write(&jwks(keys).to_string());
        file
    }

    /// Replaces the content the way deployment tools do (write aside, then rename).
    fn write(&self, text: &str) {
        let aside = self.dir.join("jwks.json.new");
        std::fs::write(&aside, text).expect("write");
        std::fs::rename(&aside, &self.path).expect("rename");
    }
}

impl Drop for JwksFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn changed_jwks_file_is_picked_up_without_a_restart() {
    let file = JwksFile::new(&[KEY_A]);
    let hub = TestHub::spawn(settings_with(
        KeySource::JwksFile(file.path.clone()),
        Duration::from_secs(300),
    ))
    .await;
    let (a, b) = (KEY_A.token("ch-a"), KEY_B.token("ch-b"));
    assert!(accepted(&hub, &a).await);
    assert!(!accepted(&hub, &b).await);
    file.write(&jwks(&[KEY_A, KEY_B]).to_string());
    eventually("the added key is accepted", || async {
        accepted(&hub, &b).await
    })
    .await;
    // A broken file keeps the keys in force, and says so.
    file.write("{ this is not JSON");
    eventually("the broken file is reported", || async {
        readyz(&hub).await.1["keys"]["status"] == "stale"
    })
    .await;
    assert!(accepted(&hub, &a).await);
    assert!(accepted(&hub, &b).await);
    // A removed key stops working once the file says so.
    file.write(&jwks(&[KEY_B]).to_string());
    eventually("the removed key is refused", || async {
        !accepted(&hub, &a).await
    })
    .await;
    assert!(accepted(&hub, &b).await);
    assert_eq!(readyz(&hub).await.1["keys"]["status"], "fresh");
}

#[tokio::test]
async fn oidc_discovery_finds_the_keys() {
    let idp = Idp::start(&[KEY_A]).await;
    let mut settings = settings_with(
        KeySource::OidcIssuer(idp.base.clone()),
        Duration::from_secs(300),
    );
    settings.jwt.issuer = Some(idp.base.clone());
    let hub = TestHub::spawn(settings).await;
    let claims = json!({"sub": "ch-o", "role": "cardholder", "tier": "premium",
        "iat": now_s(), "exp": now_s() + 600, "iss": idp.base});
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(KEY_A.kid.to_owned());
    let token = jsonwebtoken::encode(&header, &claims, &KEY_A.encoding()).expect("sign");
    assert!(accepted(&hub, &token).await);
    // Tokens of another issuer are refused.
    assert!(!accepted(&hub, &KEY_A.token("ch-x")).await);
}

/// Starts a hub and returns its start-up error, which must be one line.
async fn start_up_error(settings: Settings) -> String {
    let cancel = switchboard::CancellationToken::new();
    let err = switchboard::build_hub(settings, cancel.clone())
        .await
        .expect_err("start-up must fail");
    cancel.cancel();
    let line = err.to_string();
    assert!(!line.contains('\n'), "one line: {line}");
    line
}

#[tokio::test]
async fn start_up_without_reachable_keys_fails_with_one_clear_line() {
    let closed = format!("http://127.0.0.1:{}/jwks", free_port());
    let line = start_up_error(settings_with(
        KeySource::JwksUrl(closed.clone()),
        Duration::from_secs(300),
    ))
    .await;
    assert!(line.contains(&format!("--jwks-url {closed}")), "{line}");
    assert!(line.contains("cannot connect"), "{line}");

    let issuer = format!("http://127.0.0.1:{}", free_port());
    let line = start_up_error(settings_with(
        KeySource::OidcIssuer(issuer.clone()),
        Duration::from_secs(300),
    ))
    .await;
    assert!(line.contains(&format!("--oidc-issuer {issuer}")), "{line}");

    let idp = Idp::start(&[KEY_A]).await;
    idp.fail(true);
    let line = start_up_error(settings_with(
        KeySource::JwksUrl(idp.jwks_url()),
        Duration::from_secs(300),
    ))
    .await;
    assert!(line.contains("HTTP 500"), "{line}");

    let missing = std::env::temp_dir().join(format!("no-such-jwks-{}", uuid::Uuid::new_v4()));
    let line = start_up_error(settings_with(
        KeySource::JwksFile(missing.clone()),
        Duration::from_secs(300),
    ))
    .await;
    assert!(line.contains("--jwks-file"), "{line}");

    let file = JwksFile::new(&[KEY_A]);
    file.write("[]");
    let line = start_up_error(settings_with(
        KeySource::JwksFile(file.path.clone()),
        Duration::from_secs(300),
    ))
    .await;
    assert!(line.contains("not usable"), "{line}");
}

/// On paused time, the quiet spell after the stop passes at once, and a
/// refresh timer still alive would fire within it.
#[tokio::test(start_paused = true)]
async fn refresh_task_stops_with_the_hub() {
    let idp = Idp::start(&[KEY_A]).await;
    let hub = TestHub::spawn(settings_with(
        KeySource::JwksUrl(idp.jwks_url()),
        Duration::from_secs(1),
    ))
    .await;
    assert!(accepted(&hub, &KEY_A.token("ch-a")).await);
    // It does refresh periodically while the hub runs…
    let running = idp.fetches();
    idp.wait_for_fetches(running + 1).await;
    hub.shutdown().await;
    // …and no more once the hub has stopped (two refresh intervals and a half).
    let stopped = idp.fetches();
    let mut rx = idp.state.fetches.subscribe();
    let more =
        tokio::time::timeout(Duration::from_millis(2500), rx.wait_for(|c| *c > stopped)).await;
    assert!(more.is_err(), "the keys were fetched after the hub stopped");
}
