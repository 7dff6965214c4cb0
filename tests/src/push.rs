//! A stand-in for the issuer's push service: an HTTP server on port 0 that
//! records every notification POSTed to it (headers and exact body) and
//! answers 500 to the first attempts it is told to refuse. Tests wait on
//! its requests ([`PushReceiver::next`]), never on time. [`verify`] is the
//! receiver's check of the Standard Webhooks signature, as
//! docs/messaging.md tells a push service to write it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use tokio::sync::mpsc;

use crate::EVENT_TIMEOUT;

/// The `--notify-secret` of the tests.
pub const PUSH_SECRET: &str = "push-test-secret-0123456789";

/// How far a `webhook-timestamp` may be from the receiver's clock, in
/// seconds (docs/messaging.md: 5 minutes).
pub const TOLERANCE_S: i64 = 5 * 60;

/// One POST the receiver got.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// The `webhook-id` header (empty when absent).
    pub id: String,
    /// The `webhook-timestamp` header (empty when absent).
    pub timestamp: String,
    /// The `webhook-signature` header (empty when absent).
    pub signature: String,
    /// The body-only `X-Switchboard-Signature` of earlier versions, if sent.
    pub legacy_signature: Option<String>,
    /// The exact body.
    pub body: Bytes,
    /// What the receiver answered.
    pub status: u16,
}

/// Why a request fails [`verify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unverified {
    /// A `webhook-*` header is missing or empty.
    Missing(&'static str),
    /// `webhook-timestamp` is not whole Unix seconds.
    BadTimestamp,
    /// `webhook-timestamp` is more than [`TOLERANCE_S`] from now: a replay,
    /// or a clock far off.
    OutsideTolerance,
    /// No `v1,` signature in `webhook-signature` matches.
    BadSignature,
}

/// The HMAC key a push service derives from `--notify-secret`: a
/// `whsec_`-prefixed secret is base64 after the prefix, any other is taken
/// as its bytes.
pub fn secret_key(secret: &str) -> Vec<u8> {
    use base64::Engine as _;
    match secret.strip_prefix("whsec_") {
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .expect("a whsec_ secret is base64 after its prefix"),
        None => secret.as_bytes().to_vec(),
    }
}

/// The receiver's check, written from docs/messaging.md's recipe
/// independently of the hub: the three headers are there, the timestamp is
/// within [`TOLERANCE_S`] of `now` (Unix seconds), and one of the
/// space-separated `v1,<base64>` signatures is the HMAC-SHA256 of
/// `<id>.<timestamp>.<body>`, compared in constant time.
pub fn verify(
    secret: &str,
    id: &str,
    timestamp: &str,
    signature: &str,
    body: &[u8],
    now: i64,
) -> Result<(), Unverified> {
    use base64::Engine as _;
    for (name, value) in [
        ("webhook-id", id),
        ("webhook-timestamp", timestamp),
        ("webhook-signature", signature),
    ] {
        if value.is_empty() {
            return Err(Unverified::Missing(name));
        }
    }
    let at: i64 = timestamp.parse().map_err(|_| Unverified::BadTimestamp)?;
    if (now - at).abs() > TOLERANCE_S {
        return Err(Unverified::OutsideTolerance);
    }
    let mac = || {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&secret_key(secret)).expect("HMAC takes any key");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    };
    let matches = signature
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
        // `verify_slice` compares in constant time.
        .any(|given| mac().verify_slice(&given).is_ok());
    if matches {
        Ok(())
    } else {
        Err(Unverified::BadSignature)
    }
}

/// Seconds since 1970 by this machine's clock.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl Pushed {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    /// [`verify`] of this request with `secret`, as received at `now`.
    pub fn verify_at(&self, secret: &str, now: i64) -> Result<(), Unverified> {
        verify(
            secret,
            &self.id,
            &self.timestamp,
            &self.signature,
            &self.body,
            now,
        )
    }

    /// Whether this request passes [`verify`] with `secret` now.
    pub fn signed_with(&self, secret: &str) -> bool {
        self.verify_at(secret, unix_now()).is_ok()
    }
}

#[derive(Clone)]
struct Shared {
    refuse_first: Arc<AtomicUsize>,
    seen: Arc<AtomicUsize>,
    out: mpsc::UnboundedSender<Pushed>,
}

/// The receiver; stops with its task when dropped.
#[derive(Debug)]
pub struct PushReceiver {
    /// Where it listens.
    pub addr: SocketAddr,
    rx: mpsc::UnboundedReceiver<Pushed>,
    task: tokio::task::JoinHandle<()>,
    refuse_first: Arc<AtomicUsize>,
}

impl PushReceiver {
    /// Serves on a free port, answering 500 to the first `refuse_first` POSTs.
    pub async fn start(refuse_first: usize) -> PushReceiver {
        let (out, rx) = mpsc::unbounded_channel();
        let refuse_first = Arc::new(AtomicUsize::new(refuse_first));
        let shared = Shared {
            refuse_first: refuse_first.clone(),
            seen: Arc::default(),
            out,
        };
        let app = axum::Router::new()
            .route("/push", axum::routing::post(receive))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        PushReceiver {
            addr,
            rx,
            task,
            refuse_first,
        }
    }

    /// Answers 204 to every POST from now on.
    pub fn accept(&self) {
        self.refuse_first.store(0, Ordering::SeqCst);
    }

    /// The `--notify-url`.
    pub fn url(&self) -> String {
        format!("http://{}/push", self.addr)
    }

    /// The next POST; fails the test after [`EVENT_TIMEOUT`].
    pub async fn next(&mut self) -> Pushed {
        tokio::time::timeout(EVENT_TIMEOUT, self.rx.recv())
            .await
            .expect("a notification within the event timeout")
            .expect("the receiver runs")
    }

    /// What arrived and was not read yet.
    pub fn unread(&mut self) -> Vec<Pushed> {
        let mut v = Vec::new();
        while let Ok(p) = self.rx.try_recv() {
            v.push(p);
        }
        v
    }
}

impl Drop for PushReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let n = s.seen.fetch_add(1, Ordering::SeqCst);
    let status = if n < s.refuse_first.load(Ordering::SeqCst) {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::NO_CONTENT
    };
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let _ = s.out.send(Pushed {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        legacy_signature: headers
            .get("x-switchboard-signature")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
        body,
        status: status.as_u16(),
    });
    status
}
