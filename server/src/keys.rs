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
//! This module knows where keys come from and when to fetch them; what makes a key usable
//! and which algorithm it verifies are [`crate::auth`]'s business (the algorithm of each key
//! is pinned by its JWKS entry, never by a token's header).

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use arc_swap::ArcSwap;
use reqwest::header::{HeaderMap, ACCEPT, CACHE_CONTROL};
use serde_json::Value;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::auth::{AuthConfigError, KeySet, Rules};
use crate::metrics::Metrics;

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
