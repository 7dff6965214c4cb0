//! A stand-in for the issuer's push service: an HTTP server on port 0 that
//! records every notification POSTed to it (headers and exact body) and
//! answers 500 to the first attempts it is told to refuse. Tests wait on
//! its requests ([`PushReceiver::next`]), never on time.

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

/// One POST the receiver got.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// The `X-Switchboard-Signature` header.
    pub signature: String,
    /// The exact body.
    pub body: Bytes,
    /// What the receiver answered.
    pub status: u16,
}

impl Pushed {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    /// Whether the signature is the HMAC-SHA256 of the exact body with `secret`,
    /// computed here independently of the hub.
    pub fn signed_with(&self, secret: &str) -> bool {
        let Some(hex_mac) = self.signature.strip_prefix("sha256=") else {
            return false;
        };
        let Ok(given) = hex::decode(hex_mac) else {
            return false;
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
            return false;
        };
        mac.update(&self.body);
        mac.verify_slice(&given).is_ok()
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
    let signature = headers
        .get("x-switchboard-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let _ = s.out.send(Pushed {
        signature,
        body,
        status: status.as_u16(),
    });
    status
}
