//! Signing keys that rotate: a JWKS endpoint (`--jwks-url`, or the `jwks_uri` named by an
//! OpenID issuer's discovery document, `--oidc-issuer`) or a JWKS file (`--jwks-file`).
//!
//! A [`KeyRing`] holds the key set in force behind an `ArcSwap`: every verification loads it
//! without a lock, and one background task per ring swaps in a new set when it loads one.
//! That task loads the source
//! - periodically: a URL at least every `--jwks-refresh` seconds, sooner when the answer's
//!   `Cache-Control: max-age` says so (never more often than every [`MIN_CACHE_REFRESH`]);
//!   a file every `file_poll` (2 s by default), re-parsed only when its content changed;
//! - when a token names an unknown `kid`: at once, but at most once every
//!   [`UNKNOWN_KID_MIN_INTERVAL`] for the whole ring however many tokens ask, so made-up
//!   `kid`s cannot turn the hub into a load generator against the issuer.
//!
//! A load that fails (network, HTTP status, broken document, a document with no usable key)
//! keeps the last good set and is counted and reported by [`KeyRing::status`]. The task stops
//! when the hub's shutdown token is cancelled.
//!
//! This module also holds the key material itself, below [`crate::auth`] (which only
//! verifies with it): where keys come from ([`KeySource`], in [`JwtSettings`]), what makes a
//! key usable and which algorithm it verifies (`KeySet`, `Rules`: the algorithm of each
//! key is pinned by its JWKS entry or PEM, never by a token's header), and why a setting
//! cannot be used ([`AuthConfigError`]).

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use arc_swap::ArcSwap;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::header::{HeaderMap, ACCEPT, CACHE_CONTROL};
use serde_json::Value;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds (SPEC: at most 30).
pub const LEEWAY_SECS: u64 = 30;

/// Longest token lifetime accepted by default, in seconds (SPEC: `--jwt-max-lifetime`, 24 h).
pub const DEFAULT_MAX_LIFETIME_SECS: u64 = 24 * 3600;

/// How often rotating keys are refreshed by default, in seconds (SPEC: `--jwks-refresh`).
pub const DEFAULT_REFRESH_SECS: u64 = 300;

/// How often a `--jwks-file` is checked for changes by default.
pub const DEFAULT_FILE_POLL: Duration = Duration::from_secs(2);

/// Unknown-`kid` refreshes happen at most this often per key source (SPEC: 10 s).
pub const UNKNOWN_KID_MIN_INTERVAL: Duration = Duration::from_secs(10);

/// How long a verification waits for the refresh its unknown `kid` asked for; a connection
/// attempt should not hang on a slow issuer.
pub const UNKNOWN_KID_WAIT: Duration = Duration::from_secs(5);

/// Time allowed to open a connection to the issuer.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Time allowed for a whole request to the issuer, body included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A `Cache-Control: max-age` below this is raised to it (unless `--jwks-refresh` is even
/// shorter): `max-age=0` must not make the hub fetch in a loop.
pub const MIN_CACHE_REFRESH: Duration = Duration::from_secs(10);

/// After a failed load, the next attempt comes this soon (or at the refresh interval, if
/// shorter) rather than a whole interval later.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30);

/// Largest JWKS or discovery document accepted, in bytes. Real ones are a few KiB; the cap
/// keeps a misbehaving endpoint from filling memory.
pub const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// Most redirects followed to reach a document.
const MAX_REDIRECTS: usize = 5;

/// Where rotating keys come from.
#[derive(Debug, Clone)]
pub enum Origin {
    /// A JWKS file, checked for changes.
    File(PathBuf),
    /// A JWKS endpoint.
    Url(String),
    /// An OpenID Provider whose discovery document names the JWKS endpoint.
    Issuer(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // In the operator's terms: the flag that configured it and its value.
        match self {
            Origin::File(path) => write!(f, "--jwks-file {}", path.display()),
            Origin::Url(url) => write!(f, "--jwks-url {url}"),
            Origin::Issuer(url) => write!(f, "--oidc-issuer {url}"),
        }
    }
}

/// The state of a rotating key set, for `/readyz` and `/metrics`.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyStatus {
    /// Where the keys come from, e.g. `--jwks-url https://login.example/jwks`.
    pub origin: String,
    /// How many keys are in force.
    pub keys: usize,
    /// Time since the keys were last loaded (or confirmed unchanged) successfully.
    pub age: Duration,
    /// Why the last load failed, if it did (the last good keys are still in force).
    pub last_error: Option<String>,
    /// The last load failed, or the last good one is older than twice the refresh interval.
    pub stale: bool,
}

/// A key set that rotates, and what the refresh task and verifications share about it.
pub struct KeyRing {
    /// The key set in force; swapped whole by the refresh task, never changed in place.
    current: ArcSwap<KeySet>,
    /// Where the keys come from, for logs, errors and `/readyz`.
    origin: Origin,
    /// The verifier's rules, which every new key set is built with.
    rules: Rules,
    /// `--jwks-refresh`: the longest time between two loads of a URL, and half the age at
    /// which the set is called stale.
    refresh: Duration,
    /// How often a file is checked for changes.
    file_poll: Duration,
    /// Last good load and last failure; held only for a moment, never across an `.await`.
    health: Mutex<Health>,
    /// Whether an unknown-`kid` refresh was asked for, and when; held only for a moment.
    kid_refresh: Mutex<KidRefresh>,
    /// Wakes the refresh task for an unknown-`kid` refresh.
    wake: Notify,
    /// Counts finished loads, so a verification waiting for a refresh learns it ended.
    loads: watch::Sender<u64>,
    /// Refresh counters and the number of keys in force.
    metrics: Arc<Metrics>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("origin", &self.origin.to_string())
            .field("kids", &self.current.load().kids())
            .finish()
    }
}

/// How the key set has been loading.
#[derive(Debug)]
struct Health {
    /// When a load last succeeded (or confirmed an unchanged file).
    last_good: Instant,
    /// Why the last load failed; `None` once one succeeds again.
    last_error: Option<String>,
}

/// Bookkeeping of unknown-`kid` refreshes.
#[derive(Debug, Default)]
struct KidRefresh {
    /// When the last one was asked for: the next may only be asked for
    /// [`UNKNOWN_KID_MIN_INTERVAL`] later.
    last_asked: Option<Instant>,
    /// Asked for, and no load has started since.
    pending: bool,
    /// A load serving an ask is running.
    running: bool,
}

/// Locks a mutex; a panic elsewhere while it was held leaves plain data, still usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl KeyRing {
    /// Loads the keys once (failing if that is impossible: the hub never starts without
    /// keys) and starts the refresh task, which ends when `shutdown` is cancelled.
    pub(crate) async fn start(
        origin: Origin,
        rules: Rules,
        refresh: Duration,
        file_poll: Duration,
        metrics: Arc<Metrics>,
        shutdown: CancellationToken,
    ) -> Result<Arc<KeyRing>, AuthConfigError> {
        let unavailable = |reason: String| AuthConfigError::KeysUnavailable {
            origin: origin.to_string(),
            reason,
        };
        if file_poll.is_zero() {
            return Err(AuthConfigError::ZeroDuration("the JWKS file poll interval"));
        }
        let mut loader = Loader::new(&origin).map_err(unavailable)?;
        let fetched = loader.load().await.map_err(unavailable)?;
        let text = fetched
            .document
            .ok_or_else(|| unavailable("nothing was read".into()))?;
        let set = rules
            .key_set_from_jwks(&text)
            .map_err(|e| unavailable(e.to_string()))?;
        tracing::info!(source = %origin, kids = ?set.kids(), "signing keys loaded");
        metrics.signing_keys.set(gauge_value(set.len()));
        let (loads, _) = watch::channel(0);
        let ring = Arc::new(KeyRing {
            current: ArcSwap::from_pointee(set),
            origin,
            rules,
            refresh,
            file_poll,
            health: Mutex::new(Health {
                last_good: Instant::now(),
                last_error: None,
            }),
            kid_refresh: Mutex::new(KidRefresh::default()),
            wake: Notify::new(),
            loads,
            metrics,
        });
        let first = ring.delay_after_success(fetched.max_age);
        tokio::spawn(refresh_task(ring.clone(), loader, first, shutdown));
        Ok(ring)
    }

    /// The key set in force.
    pub(crate) fn current(&self) -> arc_swap::Guard<Arc<KeySet>> {
        self.current.load()
    }

    /// Where the keys come from.
    pub(crate) fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The state of the key set now.
    pub fn status(&self) -> KeyStatus {
        let health = lock(&self.health);
        let age = health.last_good.elapsed();
        KeyStatus {
            origin: self.origin.to_string(),
            keys: self.current.load().len(),
            age,
            last_error: health.last_error.clone(),
            stale: health.last_error.is_some() || age > self.refresh.saturating_mul(2),
        }
    }

    /// Asks for a refresh because a token named an unknown `kid`, unless one was asked for
    /// less than [`UNKNOWN_KID_MIN_INTERVAL`] ago, and waits (at most [`UNKNOWN_KID_WAIT`])
    /// until no asked-for refresh is waiting or running. The caller then verifies again.
    pub(crate) async fn refresh_for_unknown_kid(&self) {
        // Subscribed before looking at the state, so the end of a load is never missed.
        let mut loads = self.loads.subscribe();
        {
            let mut kid = lock(&self.kid_refresh);
            let now = Instant::now();
            let recent = kid
                .last_asked
                .is_some_and(|at| now.duration_since(at) < UNKNOWN_KID_MIN_INTERVAL);
            if !recent {
                kid.last_asked = Some(now);
                kid.pending = true;
                self.wake.notify_one();
            }
        }
        let deadline = Instant::now() + UNKNOWN_KID_WAIT;
        loop {
            {
                let kid = lock(&self.kid_refresh);
                if !kid.pending && !kid.running {
                    return;
                }
            }
            match tokio::time::timeout_at(deadline, loads.changed()).await {
                Ok(Ok(())) => {}
                // Out of time, or the refresh task is gone (shutdown): verify with what is held.
                Ok(Err(_)) | Err(_) => return,
            }
        }
    }

    /// Marks the start of a load; returns whether it serves an unknown-`kid` ask.
    fn load_starts(&self) -> bool {
        let mut kid = lock(&self.kid_refresh);
        let serves_ask = kid.pending;
        if serves_ask {
            kid.pending = false;
            kid.running = true;
        }
        serves_ask
    }

    /// Records what a load brought and says when the next periodic one is due.
    fn apply(&self, outcome: Result<Fetched, String>) -> Duration {
        let built = outcome.and_then(|fetched| match fetched.document {
            None => Ok((None, fetched.max_age)),
            Some(text) => self
                .rules
                .key_set_from_jwks(&text)
                .map(|set| (Some(set), fetched.max_age))
                .map_err(|e| e.to_string()),
        });
        let mut health = lock(&self.health);
        match built {
            Ok((Some(set), max_age)) => {
                self.log_changes(&set);
                self.metrics.signing_keys.set(gauge_value(set.len()));
                self.current.store(Arc::new(set));
                if health.last_error.take().is_some() {
                    tracing::info!(source = %self.origin, "signing keys load again");
                }
                health.last_good = Instant::now();
                self.delay_after_success(max_age)
            }
            Ok((None, max_age)) => {
                // An unchanged file: still good if it was good, still broken if it was not.
                if health.last_error.is_none() {
                    health.last_good = Instant::now();
                }
                self.delay_after_success(max_age)
            }
            Err(reason) => {
                self.metrics.signing_keys_refresh_failures.inc();
                if health.last_error.as_deref() != Some(reason.as_str()) {
                    tracing::warn!(
                        source = %self.origin,
                        reason = %reason,
                        "could not refresh the signing keys; the last good ones stay in force"
                    );
                }
                health.last_error = Some(reason);
                match self.origin {
                    Origin::File(_) => self.file_poll,
                    Origin::Url(_) | Origin::Issuer(_) => self.refresh.min(RETRY_AFTER_FAILURE),
                }
            }
        }
    }

    /// Logs the `kid`s a new set adds and removes (names only: keys are public, but noise
    /// about unchanged sets is not useful).
    fn log_changes(&self, new: &KeySet) {
        let old = self.current.load().kids();
        let now = new.kids();
        let added: Vec<&String> = now.iter().filter(|k| !old.contains(k)).collect();
        let removed: Vec<&String> = old.iter().filter(|k| !now.contains(k)).collect();
        if !added.is_empty() || !removed.is_empty() {
            tracing::info!(source = %self.origin, ?added, ?removed, "signing keys changed");
        }
    }

    /// When the next periodic load is due after a good one.
    fn delay_after_success(&self, max_age: Option<Duration>) -> Duration {
        match self.origin {
            Origin::File(_) => self.file_poll,
            Origin::Url(_) | Origin::Issuer(_) => refresh_delay(self.refresh, max_age),
        }
    }

    /// Marks the end of a load and wakes the verifications waiting for it.
    fn load_ends(&self) {
        lock(&self.kid_refresh).running = false;
        self.loads.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// When to fetch a URL again after a good answer: its `max-age`, raised to
/// [`MIN_CACHE_REFRESH`] and bounded by `refresh` (`--jwks-refresh`); `refresh` without one.
pub fn refresh_delay(refresh: Duration, max_age: Option<Duration>) -> Duration {
    match max_age {
        Some(age) => age.max(MIN_CACHE_REFRESH.min(refresh)).min(refresh),
        None => refresh,
    }
}

/// A count as a gauge value.
fn gauge_value(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Loads the ring's source periodically and on demand, until `shutdown`.
async fn refresh_task(
    ring: Arc<KeyRing>,
    mut loader: Loader,
    first: Duration,
    shutdown: CancellationToken,
) {
    let mut next = Instant::now() + first;
    loop {
        let woken = tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep_until(next) => false,
            _ = ring.wake.notified() => true,
        };
        let serves_ask = ring.load_starts();
        // A wake-up whose ask an earlier load already served needs no second load.
        if woken && !serves_ask {
            continue;
        }
        let outcome = tokio::select! {
            _ = shutdown.cancelled() => {
                ring.load_ends();
                return;
            }
            outcome = loader.load() => outcome,
        };
        let delay = ring.apply(outcome);
        ring.load_ends();
        if !woken {
            next = Instant::now() + delay;
        }
    }
}

/// What one load brought.
#[derive(Debug)]
struct Fetched {
    /// The JWKS text, or `None` when a file has not changed since the last read.
    document: Option<String>,
    /// The answer's `Cache-Control: max-age`, if it had one.
    max_age: Option<Duration>,
}

/// Reads a source: the file, or the issuer's endpoints over HTTPS.
#[derive(Debug)]
enum Loader {
    /// A file, with the bytes last read, to tell whether it changed.
    File {
        /// The file.
        path: PathBuf,
        /// What was read last time (`None` after a read failed, so the next read is parsed).
        last: Option<Vec<u8>>,
    },
    /// An HTTP(S) source.
    Http {
        /// The client, with timeouts and a redirect policy.
        client: reqwest::Client,
        /// The JWKS endpoint; for an issuer, found by discovery and forgotten after a failed
        /// fetch so the next attempt discovers it again.
        jwks_url: Option<String>,
        /// The OpenID issuer, when the endpoint is found by discovery.
        issuer: Option<String>,
    },
}

impl Loader {
    /// A loader for this origin.
    fn new(origin: &Origin) -> Result<Loader, String> {
        let (jwks_url, issuer) = match origin {
            Origin::File(path) => {
                return Ok(Loader::File {
                    path: path.clone(),
                    last: None,
                })
            }
            Origin::Url(url) => (Some(url.clone()), None),
            Origin::Issuer(url) => (None, Some(url.clone())),
        };
        let policy = reqwest::redirect::Policy::custom(|attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                attempt.error("too many redirects")
            } else if check_key_url(attempt.url().as_str()).is_err() {
                attempt.error("a redirect to plain http outside this machine")
            } else {
                attempt.follow()
            }
        });
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .redirect(policy)
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot set up the HTTPS client: {}", describe(&e)))?;
        Ok(Loader::Http {
            client,
            jwks_url,
            issuer,
        })
    }

    /// Reads the source once.
    async fn load(&mut self) -> Result<Fetched, String> {
        match self {
            Loader::File { path, last } => {
                let bytes = read_file(path).await.inspect_err(|_| *last = None)?;
                if last.as_deref() == Some(bytes.as_slice()) {
                    return Ok(Fetched {
                        document: None,
                        max_age: None,
                    });
                }
                let text = String::from_utf8(bytes.clone())
                    .map_err(|_| "the file is not UTF-8 text".to_owned());
                *last = Some(bytes);
                Ok(Fetched {
                    document: Some(text?),
                    max_age: None,
                })
            }
            Loader::Http {
                client,
                jwks_url,
                issuer,
            } => {
                let url = match (jwks_url.clone(), issuer.as_deref()) {
                    (Some(url), _) => url,
                    (None, Some(issuer)) => {
                        let url = discover(client, issuer).await?;
                        *jwks_url = Some(url.clone());
                        url
                    }
                    (None, None) => return Err("no JWKS endpoint is configured".into()),
                };
                let fetched = get(client, &url).await;
                let (text, max_age) = match (fetched, issuer.is_some()) {
                    (Ok(answer), _) => answer,
                    (Err(e), false) => return Err(e),
                    // Named, as it is not the configured URL; found again next time.
                    (Err(e), true) => {
                        *jwks_url = None;
                        return Err(format!("the issuer's JWKS endpoint {url}: {e}"));
                    }
                };
                Ok(Fetched {
                    document: Some(text),
                    max_age,
                })
            }
        }
    }
}

/// Reads a JWKS file, refusing one too large to be a JWKS.
async fn read_file(path: &std::path::Path) -> Result<Vec<u8>, String> {
    let meta = tokio::fs::metadata(path)
        .await
        .map_err(|e| format!("cannot read the file: {e}"))?;
    if meta.len() > MAX_DOCUMENT_BYTES as u64 {
        return Err(format!(
            "the file is larger than {} KiB",
            MAX_DOCUMENT_BYTES / 1024
        ));
    }
    tokio::fs::read(path)
        .await
        .map_err(|e| format!("cannot read the file: {e}"))
}

/// Finds the JWKS endpoint in an OpenID Provider's discovery document
/// (`<issuer>/.well-known/openid-configuration`, OpenID Connect Discovery 1.0).
async fn discover(client: &reqwest::Client, issuer: &str) -> Result<String, String> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let (text, _) = get(client, &url)
        .await
        .map_err(|e| format!("OpenID discovery at {url}: {e}"))?;
    let doc: Value = serde_json::from_str(&text)
        .map_err(|_| format!("the OpenID configuration at {url} is not JSON"))?;
    if let Some(named) = doc.get("issuer").and_then(Value::as_str) {
        if named.trim_end_matches('/') != issuer.trim_end_matches('/') {
            return Err(format!(
                "the OpenID configuration at {url} belongs to the issuer `{named}`, not `{issuer}`"
            ));
        }
    }
    let jwks_uri = doc
        .get("jwks_uri")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("the OpenID configuration at {url} has no `jwks_uri`"))?;
    check_key_url(jwks_uri).map_err(|e| format!("the OpenID configuration's `jwks_uri`: {e}"))?;
    Ok(jwks_uri.to_owned())
}

/// GETs a JSON document: its text and `Cache-Control: max-age`. Errors do not repeat the
/// URL (the caller names it).
async fn get(client: &reqwest::Client, url: &str) -> Result<(String, Option<Duration>), String> {
    let too_large = || {
        format!(
            "the answer is larger than {} KiB",
            MAX_DOCUMENT_BYTES / 1024
        )
    };
    let mut response = client
        .get(url)
        .header(ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| describe(&e))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("the server answered HTTP {}", status.as_u16()));
    }
    let max_age = cache_max_age(response.headers());
    if response
        .content_length()
        .is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e))? {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    let text = String::from_utf8(body).map_err(|_| "the answer is not UTF-8 text".to_owned())?;
    Ok((text, max_age))
}

/// The `max-age` of a `Cache-Control` header; `no-store` and `no-cache` count as 0.
pub fn cache_max_age(headers: &HeaderMap) -> Option<Duration> {
    let mut found = None;
    for value in headers.get_all(CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',') {
            let directive = directive.trim();
            let lower = directive.to_ascii_lowercase();
            if lower == "no-store" || lower == "no-cache" {
                return Some(Duration::ZERO);
            }
            if let Some(secs) = lower.strip_prefix("max-age=") {
                if let Ok(secs) = secs.trim_matches('"').parse::<u64>() {
                    found = Some(Duration::from_secs(secs));
                }
            }
        }
    }
    found
}

/// One line saying why a request failed, in the operator's terms.
fn describe(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        return format!(
            "no answer in time (connect {} s, request {} s)",
            CONNECT_TIMEOUT.as_secs(),
            REQUEST_TIMEOUT.as_secs()
        );
    }
    // reqwest's own text repeats the URL; the innermost cause says what happened.
    let mut cause = std::error::Error::source(err);
    let mut innermost = None;
    while let Some(c) = cause {
        innermost = Some(c.to_string());
        cause = c.source();
    }
    let what = innermost.unwrap_or_else(|| err.to_string());
    let what = what.replace(['\n', '\r'], " ");
    if err.is_connect() {
        format!("cannot connect: {what}")
    } else {
        what
    }
}

/// Checks a key URL: `https://`, or `http://` to this machine only (loopback: 127.0.0.0/8,
/// `::1`, `localhost`), as tests and local identity providers use; plain HTTP anywhere else
/// would let anyone on the path swap the keys.
pub fn check_key_url(text: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(text).map_err(|_| format!("`{text}` is not a URL"))?;
    if !url.username().is_empty() || url.password().is_some() {
        // The URL is shown in logs, errors and /readyz; credentials do not belong there.
        return Err(
            "the URL carries credentials (user:password@); they would end up in logs".into(),
        );
    }
    match url.scheme() {
        "https" if url.host_str().is_some() => Ok(()),
        "http" if is_loopback(&url) => Ok(()),
        "http" => Err(format!(
            "`{text}` uses plain http outside this machine; use https"
        )),
        _ => Err(format!("`{text}` is not an https:// URL")),
    }
}

/// Whether a URL's host is this machine.
fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// Smallest RSA modulus accepted, in bits; shorter keys are below current guidance (NIST).
pub const MIN_RSA_BITS: usize = 2048;

/// Largest RSA modulus accepted, in bits (the `rsa` crate's own limit).
pub const MAX_RSA_BITS: usize = 4096;

/// Where verification keys come from; the algorithm is fixed by this, never by the token header.
#[derive(Clone)]
pub enum KeySource {
    /// HS256 shared secret.
    Hs256Secret(Vec<u8>),
    /// A PEM public key: RSA key => RS256, EC P-256 key => ES256 (detected from the PEM).
    PublicKeyPem(Vec<u8>),
    /// A JWKS document (JSON text): keys picked by the token's `kid`; RSA keys => RS256,
    /// EC P-256 => ES256. Keys without a `kid`, keys whose `use` is not `sig`, keys whose
    /// `alg` is not the one their type maps to, and other key types (`oct`, `OKP`, other
    /// curves) are skipped; a malformed RSA/EC key or a duplicate `kid` is a configuration
    /// error, and so is a document with no usable key.
    Jwks(String),
    /// A JWKS file (`--jwks-file`), read at start-up and again whenever its content changes;
    /// same rules as [`KeySource::Jwks`].
    JwksFile(PathBuf),
    /// A JWKS endpoint (`--jwks-url`), fetched at start-up and kept fresh.
    JwksUrl(String),
    /// An OpenID Provider (`--oidc-issuer`): its discovery document names the JWKS endpoint.
    OidcIssuer(String),
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Key material, even public, is not worth printing; a secret must never be.
        match self {
            KeySource::Hs256Secret(_) => f.write_str("Hs256Secret([redacted])"),
            KeySource::PublicKeyPem(pem) => write!(f, "PublicKeyPem({} bytes)", pem.len()),
            KeySource::Jwks(doc) => write!(f, "Jwks({} bytes)", doc.len()),
            KeySource::JwksFile(path) => write!(f, "JwksFile({})", path.display()),
            KeySource::JwksUrl(url) => write!(f, "JwksUrl({url})"),
            KeySource::OidcIssuer(url) => write!(f, "OidcIssuer({url})"),
        }
    }
}

/// How tokens are verified: the keys, and the issuer and audience they must name.
#[derive(Debug, Clone)]
pub struct JwtSettings {
    /// The verification key(s), which also fix the algorithm.
    pub keys: KeySource,
    /// When set, tokens must carry exactly this `iss`.
    pub issuer: Option<String>,
    /// When set, tokens must carry this `aud` (or an array containing it).
    pub audience: Option<String>,
    /// Longest lifetime a token may claim (`exp − iat`, or `exp − now` without `iat`): a
    /// stolen long-lived token would otherwise stay usable for as long as it says.
    pub max_lifetime: Duration,
    /// Rotating keys are refreshed at least this often (`--jwks-refresh`), sooner when the
    /// issuer's `Cache-Control: max-age` says so.
    pub refresh: Duration,
    /// How often a `--jwks-file` is checked for changes.
    pub file_poll: Duration,
}

impl JwtSettings {
    /// Settings for these keys with the SPEC's defaults: no issuer or audience rule, 24 h
    /// longest lifetime, refresh every 300 s, file checked every 2 s.
    pub fn new(keys: KeySource) -> JwtSettings {
        JwtSettings {
            keys,
            issuer: None,
            audience: None,
            max_lifetime: Duration::from_secs(DEFAULT_MAX_LIFETIME_SECS),
            refresh: Duration::from_secs(DEFAULT_REFRESH_SECS),
            file_poll: DEFAULT_FILE_POLL,
        }
    }
}

/// A set of keys, each with the one algorithm it may verify.
pub(crate) enum KeySet {
    /// A shared secret or a PEM public key: used whatever `kid` the token names.
    Single(Box<VerifyingKey>),
    /// A JWKS: the token's `kid` picks the key; no `kid` or an unknown one is rejected.
    ByKid(HashMap<String, VerifyingKey>),
}

impl KeySet {
    /// The `kid`s held, sorted (empty for a single key); for logs and `Debug`.
    pub(crate) fn kids(&self) -> Vec<String> {
        let mut kids: Vec<String> = match self {
            KeySet::Single(_) => Vec::new(),
            KeySet::ByKid(map) => map.keys().cloned().collect(),
        };
        kids.sort();
        kids
    }

    /// How many keys the set holds.
    pub(crate) fn len(&self) -> usize {
        match self {
            KeySet::Single(_) => 1,
            KeySet::ByKid(map) => map.len(),
        }
    }

    /// One line naming every key and its algorithm.
    pub(crate) fn describe(&self) -> String {
        match self {
            KeySet::Single(k) => format!("{:?} key", k.alg),
            KeySet::ByKid(map) => {
                let mut kids: Vec<String> = map
                    .iter()
                    .map(|(kid, k)| format!("{kid}: {:?}", k.alg))
                    .collect();
                kids.sort();
                format!("JWKS [{}]", kids.join(", "))
            }
        }
    }
}

/// One key, its algorithm and the validation rules built for that algorithm.
pub(crate) struct VerifyingKey {
    /// The only algorithm a token verified by this key may use.
    pub(crate) alg: Algorithm,
    /// The key itself.
    pub(crate) key: DecodingKey,
    /// `jsonwebtoken`'s checks, configured explicitly (see [`Rules::key`]).
    pub(crate) validation: Validation,
}

/// Why the JWT settings cannot be used; each `Display` is one sentence for the start-up log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthConfigError {
    /// The HS256 secret is empty.
    #[error("the JWT secret is empty")]
    EmptySecret,
    /// The PEM is not an RSA or EC P-256 public key.
    #[error("the JWT public key is not usable: {0}")]
    BadPublicKey(String),
    /// The JWKS document is not JSON, has a malformed key, or has no usable key.
    #[error("the JWKS document is not usable: {0}")]
    BadJwks(String),
    /// `issuer` or `audience` is set but empty (most likely an empty environment variable).
    #[error("the JWT {0} is set but empty")]
    EmptySetting(&'static str),
    /// A duration setting is zero.
    #[error("{0} must be at least one second")]
    ZeroDuration(&'static str),
    /// The signing keys could not be loaded at start-up (the hub never starts without keys).
    #[error("cannot load the signing keys from {origin}: {reason}")]
    KeysUnavailable {
        /// The flag and location, e.g. `--jwks-url https://login.example/jwks`.
        origin: String,
        /// What went wrong, in one line.
        reason: String,
    },
    /// `Verifier::new` was given a source that must be loaded (use `Verifier::start`).
    #[error("the {0} key source is loaded at start-up; build the verifier with Verifier::start")]
    NeedsLoading(&'static str),
}

/// The issuer/audience/lifetime rules shared by every key of one verifier.
#[derive(Debug, Clone)]
pub(crate) struct Rules {
    /// Required `iss`, if configured.
    pub(crate) issuer: Option<String>,
    /// Required `aud`, if configured.
    pub(crate) audience: Option<String>,
    /// Longest `exp − iat` (or `exp − now`) accepted, in seconds.
    pub(crate) max_lifetime_secs: i64,
}

impl Rules {
    /// The rules of these settings, refusing empty values.
    pub(crate) fn from_settings(settings: &JwtSettings) -> Result<Rules, AuthConfigError> {
        if settings.issuer.as_deref() == Some("") {
            return Err(AuthConfigError::EmptySetting("issuer"));
        }
        if settings.audience.as_deref() == Some("") {
            return Err(AuthConfigError::EmptySetting("audience"));
        }
        if settings.max_lifetime.is_zero() {
            return Err(AuthConfigError::ZeroDuration("--jwt-max-lifetime"));
        }
        Ok(Rules {
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            max_lifetime_secs: i64::try_from(settings.max_lifetime.as_secs()).unwrap_or(i64::MAX),
        })
    }

    /// The key set of inline keys.
    pub(crate) fn fixed_key_set(&self, keys: KeySource) -> Result<KeySet, AuthConfigError> {
        match keys {
            KeySource::Hs256Secret(secret) => {
                if secret.is_empty() {
                    return Err(AuthConfigError::EmptySecret);
                }
                Ok(KeySet::Single(Box::new(
                    self.key(Algorithm::HS256, DecodingKey::from_secret(&secret)),
                )))
            }
            KeySource::PublicKeyPem(pem) => {
                let (alg, key) = decoding_key_from_pem(&pem)?;
                Ok(KeySet::Single(Box::new(self.key(alg, key))))
            }
            KeySource::Jwks(doc) => self.key_set_from_jwks(&doc),
            KeySource::JwksFile(_) => Err(AuthConfigError::NeedsLoading("--jwks-file")),
            KeySource::JwksUrl(_) => Err(AuthConfigError::NeedsLoading("--jwks-url")),
            KeySource::OidcIssuer(_) => Err(AuthConfigError::NeedsLoading("--oidc-issuer")),
        }
    }

    /// The key set of a JWKS document (see [`KeySource::Jwks`] for the rules).
    pub(crate) fn key_set_from_jwks(&self, doc: &str) -> Result<KeySet, AuthConfigError> {
        Ok(KeySet::ByKid(
            keys_from_jwks(doc)?
                .into_iter()
                .map(|(kid, alg, key)| (kid, self.key(alg, key)))
                .collect(),
        ))
    }

    /// Pairs a key with a `Validation` that allows exactly its algorithm.
    fn key(&self, alg: Algorithm, key: DecodingKey) -> VerifyingKey {
        // Every field is set on purpose; `Validation::new`'s defaults are not ours.
        let mut v = Validation::new(alg);
        v.algorithms = vec![alg];
        v.leeway = LEEWAY_SECS;
        v.reject_tokens_expiring_in_less_than = 0;
        v.validate_exp = true;
        v.validate_nbf = true;
        v.sub = None;
        let mut required = vec!["exp"];
        match &self.issuer {
            Some(iss) => {
                v.set_issuer(&[iss]);
                required.push("iss");
            }
            None => v.iss = None,
        }
        match &self.audience {
            Some(aud) => {
                v.set_audience(&[aud]);
                v.validate_aud = true;
                required.push("aud");
            }
            None => {
                // Otherwise a token that carries any `aud` would be refused.
                v.aud = None;
                v.validate_aud = false;
            }
        }
        v.set_required_spec_claims(&required);
        VerifyingKey {
            alg,
            key,
            validation: v,
        }
    }
}

/// The DER encoding of the OID prime256v1 (P-256), as it appears in a SubjectPublicKeyInfo.
const P256_OID_DER: &[u8] = &[0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];

/// Reads a PEM public key: RSA => RS256, EC P-256 => ES256.
fn decoding_key_from_pem(pem: &[u8]) -> Result<(Algorithm, DecodingKey), AuthConfigError> {
    let bad = |msg: &str| AuthConfigError::BadPublicKey(msg.to_owned());
    let text = std::str::from_utf8(pem).map_err(|_| bad("the file is not PEM text"))?;
    let (label, body) = first_pem_block(text).ok_or_else(|| bad("the file has no PEM block"))?;
    match label {
        "PUBLIC KEY" | "RSA PUBLIC KEY" => {}
        l if l.contains("PRIVATE KEY") => {
            return Err(bad("it is a private key; give the public key"))
        }
        "CERTIFICATE" => {
            return Err(bad(
                "it is a certificate; give the public key (openssl x509 -pubkey)",
            ))
        }
        _ => return Err(bad("the PEM block is not a PUBLIC KEY")),
    }
    if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
        check_rsa_key(&key).map_err(|e| bad(&e))?;
        return Ok((Algorithm::RS256, key));
    }
    if let Ok(key) = DecodingKey::from_ec_pem(pem) {
        let der = STANDARD
            .decode(body)
            .map_err(|_| bad("the PEM body is not base64"))?;
        if !der.windows(P256_OID_DER.len()).any(|w| w == P256_OID_DER) {
            return Err(bad("the EC key is not on curve P-256 (ES256)"));
        }
        check_ec_key(&key).map_err(|e| bad(&e))?;
        return Ok((Algorithm::ES256, key));
    }
    Err(bad("it is neither an RSA nor an EC P-256 public key"))
}

/// The label and base64 body of the first `-----BEGIN …-----` block.
fn first_pem_block(text: &str) -> Option<(&str, String)> {
    let start = text.find("-----BEGIN ")? + "-----BEGIN ".len();
    let rest = &text[start..];
    let label_end = rest.find("-----")?;
    let label = &rest[..label_end];
    let after = &rest[label_end + "-----".len()..];
    let end = after.find("-----END ")?;
    let body = after[..end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    Some((label, body))
}

/// Checks an RSA key parses and has a sane size and exponent.
fn check_rsa_key(key: &DecodingKey) -> Result<(), String> {
    let jwk = Jwk::from_decoding_key(key, Some(Algorithm::RS256))
        .map_err(|_| "the RSA key does not parse".to_owned())?;
    match jwk.algorithm {
        AlgorithmParameters::RSA(p) => {
            let n = URL_SAFE_NO_PAD
                .decode(p.n)
                .map_err(|_| "bad RSA modulus".to_owned())?;
            let e = URL_SAFE_NO_PAD
                .decode(p.e)
                .map_err(|_| "bad RSA exponent".to_owned())?;
            check_rsa_components(&n, &e)
        }
        _ => Err("the key is not an RSA key".to_owned()),
    }
}

/// Modulus size within [`MIN_RSA_BITS`]..=[`MAX_RSA_BITS`], odd; exponent odd, 3..2^33.
fn check_rsa_components(n: &[u8], e: &[u8]) -> Result<(), String> {
    let n = strip_leading_zeros(n);
    let bits = match n.first() {
        Some(&top) => (n.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
        None => 0,
    };
    if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
        return Err(format!(
            "the RSA key has {bits} bits; {MIN_RSA_BITS} to {MAX_RSA_BITS} are accepted"
        ));
    }
    if n.last().is_some_and(|b| b % 2 == 0) {
        return Err("the RSA modulus is even".to_owned());
    }
    let e = strip_leading_zeros(e);
    let exponent = (e.len() <= 8)
        .then(|| e.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
        .filter(|x| *x >= 3 && *x % 2 == 1 && *x < (1 << 33));
    if exponent.is_none() {
        return Err("the RSA public exponent is not acceptable".to_owned());
    }
    Ok(())
}

/// The bytes after any leading zero bytes.
fn strip_leading_zeros(b: &[u8]) -> &[u8] {
    let first = b.iter().position(|x| *x != 0).unwrap_or(b.len());
    &b[first..]
}

/// Checks an EC key is a valid P-256 point by building an ES256 verifier from it.
fn check_ec_key(key: &DecodingKey) -> Result<(), String> {
    let jwk = Jwk::from_decoding_key(key, Some(Algorithm::ES256))
        .map_err(|_| "the EC key does not parse".to_owned())?;
    match jwk.algorithm {
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {}
        _ => return Err("the EC key is not on curve P-256 (ES256)".to_owned()),
    }
    // The verifier factory rejects a point that is not on the curve; the (empty) signature
    // itself is only there to call it.
    jsonwebtoken::crypto::verify("", b"probe", key, Algorithm::ES256)
        .map(|_| ())
        .map_err(|_| "the EC key is not a valid P-256 point".to_owned())
}

/// Reads the usable keys of a JWKS document (see [`KeySource::Jwks`] for the rules).
fn keys_from_jwks(doc: &str) -> Result<Vec<(String, Algorithm, DecodingKey)>, AuthConfigError> {
    let bad = |msg: String| AuthConfigError::BadJwks(msg);
    let doc: Value = serde_json::from_str(doc).map_err(|_| bad("it is not JSON".into()))?;
    let entries = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("it has no `keys` array".into()))?;
    let mut out: Vec<(String, Algorithm, DecodingKey)> = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let entry = entry
            .as_object()
            .ok_or_else(|| bad(format!("key #{i} is not an object")))?;
        let text = |field: &str| entry.get(field).and_then(Value::as_str);
        let Some(kid) = text("kid") else { continue };
        if text("use").is_some_and(|u| u != "sig") {
            continue;
        }
        let key = match text("kty") {
            Some("RSA") => {
                if text("alg").is_some_and(|a| a != "RS256") {
                    continue;
                }
                let (Some(n), Some(e)) = (text("n"), text("e")) else {
                    return Err(bad(format!("RSA key `{kid}` lacks `n` or `e`")));
                };
                let (Ok(n), Ok(e)) = (URL_SAFE_NO_PAD.decode(n), URL_SAFE_NO_PAD.decode(e)) else {
                    return Err(bad(format!(
                        "RSA key `{kid}` has `n` or `e` not in base64url"
                    )));
                };
                check_rsa_components(&n, &e).map_err(|m| bad(format!("key `{kid}`: {m}")))?;
                (
                    Algorithm::RS256,
                    DecodingKey::from_rsa_raw_components(&n, &e),
                )
            }
            Some("EC") => {
                if text("crv") != Some("P-256") || text("alg").is_some_and(|a| a != "ES256") {
                    continue;
                }
                let (Some(x), Some(y)) = (text("x"), text("y")) else {
                    return Err(bad(format!("EC key `{kid}` lacks `x` or `y`")));
                };
                let coords_ok = [x, y]
                    .iter()
                    .all(|c| URL_SAFE_NO_PAD.decode(c).is_ok_and(|b| b.len() == 32));
                if !coords_ok {
                    return Err(bad(format!("EC key `{kid}` has malformed `x` or `y`")));
                }
                let key = DecodingKey::from_ec_components(x, y)
                    .map_err(|_| bad(format!("EC key `{kid}` has malformed `x` or `y`")))?;
                check_ec_key(&key).map_err(|m| bad(format!("key `{kid}`: {m}")))?;
                (Algorithm::ES256, key)
            }
            // Symmetric (`oct`) keys in particular are never used: a JWKS is public.
            _ => continue,
        };
        if out.iter().any(|(k, _, _)| k == kid) {
            return Err(bad(format!("`kid` `{kid}` appears twice")));
        }
        out.push((kid.to_owned(), key.0, key.1));
    }
    if out.is_empty() {
        return Err(bad(
            "it has no usable signing key (RSA or EC P-256 with a `kid`)".into(),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn max_age_is_read_from_cache_control() {
        let mut h = HeaderMap::new();
        assert_eq!(cache_max_age(&h), None);
        h.insert(
            CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=3600, must-revalidate"),
        );
        assert_eq!(cache_max_age(&h), Some(Duration::from_secs(3600)));
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        assert_eq!(cache_max_age(&h), Some(Duration::ZERO));
        h.insert(CACHE_CONTROL, HeaderValue::from_static("max-age=soon"));
        assert_eq!(cache_max_age(&h), None);
    }

    #[test]
    fn refresh_honours_max_age_within_bounds() {
        let five_min = Duration::from_secs(300);
        assert_eq!(refresh_delay(five_min, None), five_min);
        // A shorter max-age brings the refresh forward…
        assert_eq!(
            refresh_delay(five_min, Some(Duration::from_secs(60))),
            Duration::from_secs(60)
        );
        // …a longer one never pushes it past --jwks-refresh…
        assert_eq!(
            refresh_delay(five_min, Some(Duration::from_secs(86_400))),
            five_min
        );
        // …and max-age=0 (or no-store) does not make the hub fetch in a loop.
        assert_eq!(
            refresh_delay(five_min, Some(Duration::ZERO)),
            MIN_CACHE_REFRESH
        );
        // Unless the operator asked for a shorter interval than the floor.
        let one_s = Duration::from_secs(1);
        assert_eq!(refresh_delay(one_s, Some(Duration::ZERO)), one_s);
    }

    #[test]
    fn key_urls_must_be_https_except_on_loopback() {
        for ok in [
            "https://accounts.google.com",
            "https://login.example/.well-known/jwks.json",
            "http://127.0.0.1:8081/jwks",
            "http://localhost/jwks",
            "http://[::1]:9000/jwks",
        ] {
            assert!(check_key_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://login.example/jwks",
            "http://10.0.0.1/jwks",
            "ftp://login.example/jwks",
            "not a url",
            "file:///etc/jwks.json",
            "https://user:secret@login.example/jwks",
        ] {
            assert!(check_key_url(bad).is_err(), "{bad}");
        }
    }
}
