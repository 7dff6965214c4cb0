//! Notifications to the issuer's push service (`--notify-url`).
//!
//! The store queues a notification in the step that appends an agent's
//! entry for a cardholder connected nowhere (see
//! [`crate::store::notifications`]). Every node runs one [`Notifier`]: it
//! takes due notifications under a lease (one node at a time), POSTs each
//! as `{event, id, sub, conversation, at}` (never the text) signed the
//! Standard Webhooks way ([`signature`]): `webhook-id` (the event id, the
//! same on every retry), `webhook-timestamp` (the attempt's Unix seconds)
//! and `webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`,
//! so a receiver can refuse a replayed request (docs/messaging.md has the
//! receiver's recipe). It then settles the notification: removed after a
//! 2xx, or due again after an exponential backoff with full jitter
//! ([`RetryPolicy`]), until it is older than the give-up time and dropped.
//! A node that dies mid-attempt loses nothing: the lease runs out and
//! another node takes the notification.

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio_util::sync::CancellationToken;

use crate::domain::{now_millis, rfc3339, Millis};
use crate::metrics::Metrics;
use crate::store::{Notification, Settle, Store};

/// The event's id, the same on every attempt: a receiver drops a repeat by it.
pub const ID_HEADER: &str = "webhook-id";

/// When this attempt was signed, in Unix seconds: a receiver refuses one too far from now.
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";

/// `v1,` and the base64 HMAC-SHA256 of `<id>.<timestamp>.<body>` ([`signature`]).
pub const SIGNATURE_HEADER: &str = "webhook-signature";

/// The prefix of a Standard Webhooks secret: the key is the base64 after it.
pub const SECRET_PREFIX: &str = "whsec_";

/// Most notifications one node attempts at once.
const BATCH: usize = 32;

/// Where and how notifications are delivered.
#[derive(Clone)]
pub struct NotifySettings {
    /// The push service's URL (`--notify-url`).
    pub url: url::Url,
    /// The HMAC key: what a `whsec_` `--notify-secret` encodes, or the secret's bytes.
    pub secret: Arc<[u8]>,
    /// When failed attempts are retried, and for how long.
    pub retry: RetryPolicy,
    /// How often each node looks for due notifications.
    pub poll: Duration,
    /// One attempt's deadline (connect, send, answer).
    pub timeout: Duration,
}

impl std::fmt::Debug for NotifySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifySettings")
            .field("url", &self.url.as_str())
            .field("retry", &self.retry)
            .field("poll", &self.poll)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl NotifySettings {
    /// `url` checked (http or https) and `secret` read ([`signing_key`]), with the default
    /// retry policy.
    pub fn new(url: &str, secret: &str) -> Result<NotifySettings, String> {
        let parsed = url::Url::parse(url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| {
                "--notify-url is not an http(s) URL like https://push.example.com/switchboard"
                    .to_owned()
            })?;
        let key = signing_key(secret)?;
        Ok(NotifySettings {
            url: parsed,
            secret: key.into(),
            retry: RetryPolicy::default(),
            poll: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
        })
    }

    /// How long a taken notification is leased to the node attempting it:
    /// long enough for one attempt and its settling, so that two nodes never
    /// send it at once.
    pub fn lease(&self) -> Duration {
        self.timeout * 2 + self.poll
    }

    /// What the store needs: how long a conversation stays marked notified.
    pub fn store_side(&self) -> crate::store::Notifying {
        crate::store::Notifying {
            pending_ms: millis(self.retry.give_up_after),
        }
    }
}

/// The shortest `--notify-secret` accepted: characters of a plain secret, bytes of the key
/// a `whsec_` secret encodes.
pub const MIN_SECRET_LEN: usize = 16;

/// The HMAC key of `--notify-secret`. A secret in the Standard Webhooks form, `whsec_` and
/// base64, is the key that base64 encodes (what the push service's Standard Webhooks
/// library derives from the same string); any other secret, as earlier versions took it,
/// is its own bytes. Either way at least [`MIN_SECRET_LEN`].
pub fn signing_key(secret: &str) -> Result<Vec<u8>, String> {
    let key = match secret.strip_prefix(SECRET_PREFIX) {
        Some(b64) => STANDARD.decode(b64).map_err(|_| {
            "--notify-secret starts with whsec_ but what follows is not base64 (a Standard Webhooks secret is whsec_ and the base64 of the key)".to_owned()
        })?,
        None => secret.as_bytes().to_vec(),
    };
    if key.len() < MIN_SECRET_LEN {
        return Err(format!(
            "--notify-secret must be at least {MIN_SECRET_LEN} characters, or whsec_ and the base64 of at least {MIN_SECRET_LEN} bytes (the HMAC key the push service checks signatures with)"
        ));
    }
    Ok(key)
}

/// Exponential backoff with full jitter: the n-th failure waits a random
/// time up to `first × 2^(n-1)`, capped at `max`; a notification older
/// than `give_up_after` is dropped instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The cap of the first wait.
    pub first: Duration,
    /// The largest cap.
    pub max: Duration,
    /// How long after it was queued a notification is given up.
    pub give_up_after: Duration,
}

impl Default for RetryPolicy {
    /// 1 s doubling to 10 min, for 24 h.
    fn default() -> Self {
        RetryPolicy {
            first: Duration::from_secs(1),
            max: Duration::from_secs(600),
            give_up_after: Duration::from_secs(86_400),
        }
    }
}

impl RetryPolicy {
    /// The cap of the wait after `failures` failed attempts (1 = the first).
    pub fn cap(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(30);
        self.first.saturating_mul(1 << doublings).min(self.max)
    }

    /// What becomes of a notification queued at `queued_at` whose attempt
    /// number `failures` failed at `now`; `jitter` in [0, 1] picks the wait.
    pub fn after_failure(
        &self,
        failures: u32,
        queued_at: Millis,
        now: Millis,
        jitter: f64,
    ) -> Settle {
        let wait = millis(self.cap(failures)) as f64 * jitter.clamp(0.0, 1.0);
        let retry_at = now + wait as Millis;
        if retry_at > queued_at + millis(self.give_up_after) {
            Settle::GiveUp
        } else {
            Settle::RetryAt(retry_at)
        }
    }
}

fn millis(d: Duration) -> Millis {
    Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX)
}

/// The body POSTed for a notification: exactly these fields.
#[derive(Debug, serde::Serialize)]
struct Payload<'a> {
    event: &'a str,
    id: &'a str,
    sub: &'a str,
    conversation: &'a str,
    at: String,
}

/// The exact bytes POSTed for `n`.
pub fn body(n: &Notification) -> Vec<u8> {
    serde_json::to_vec(&Payload {
        event: &n.event,
        id: &n.id,
        sub: n.sub.as_str(),
        conversation: n.conversation.as_str(),
        at: rfc3339(n.at),
    })
    .unwrap_or_default()
}

/// The `webhook-signature` value of a request: `v1,` and the base64 (standard alphabet,
/// padded) HMAC-SHA256, keyed with `key`, of `<id>.<timestamp>.<body>`, as Standard
/// Webhooks signs. Covering the id and the timestamp is what lets a receiver refuse a
/// replay: a captured request cannot be sent again later with a fresh timestamp.
pub fn signature(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(id.as_bytes());
            mac.update(b".");
            mac.update(timestamp.to_string().as_bytes());
            mac.update(b".");
            mac.update(body);
            format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
        }
        // HMAC takes keys of any length; kept total rather than panicking.
        Err(_) => String::new(),
    }
}

/// One node's delivery task.
#[derive(Debug)]
pub struct Notifier {
    store: Arc<dyn Store>,
    settings: NotifySettings,
    metrics: Arc<Metrics>,
    client: reqwest::Client,
}

impl Notifier {
    /// A notifier over `store`.
    pub fn new(store: Arc<dyn Store>, settings: NotifySettings, metrics: Arc<Metrics>) -> Self {
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Notifier {
            store,
            settings,
            metrics,
            client,
        }
    }

    /// Delivers due notifications every `poll` until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut interval = tokio::time::interval(self.settings.poll);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                _ = shutdown.cancelled() => return,
            }
            self.deliver_due().await;
            self.measure().await;
        }
    }

    /// Takes and attempts what is due, batch after batch.
    async fn deliver_due(&self) {
        loop {
            let lease = millis(self.settings.lease());
            let taken = match self
                .store
                .take_notifications(now_millis(), BATCH, lease)
                .await
            {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(error = %e.detail(), "cannot read the notification queue; retrying");
                    return;
                }
            };
            let full = taken.len() == BATCH;
            futures_util::future::join_all(taken.into_iter().map(|n| self.attempt(n))).await;
            if !full {
                return;
            }
        }
    }

    /// POSTs one notification and settles it.
    async fn attempt(&self, n: Notification) {
        let body = body(&n);
        // The attempt's own time: a retry is signed afresh, under the same id.
        let timestamp = now_millis().div_euclid(1000);
        let signed = signature(&self.settings.secret, &n.id, timestamp, &body);
        let sent = self
            .client
            .post(self.settings.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(ID_HEADER, &n.id)
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, signed)
            .body(body)
            .send()
            .await;
        let failure = match sent {
            Ok(r) if r.status().is_success() => None,
            Ok(r) => Some(format!("answered {}", r.status())),
            Err(e) => Some(format!("unreachable: {e}")),
        };
        let m = &self.metrics.notifications;
        let how = match &failure {
            None => Settle::Delivered,
            Some(why) => {
                let how = self.settings.retry.after_failure(
                    n.attempts,
                    n.at,
                    now_millis(),
                    rand::random::<f64>(),
                );
                tracing::warn!(notification = %n.id, conversation = %n.conversation, attempt = n.attempts, "the push service {why}");
                how
            }
        };
        match self.store.settle_notification(&n, how, now_millis()).await {
            Ok(true) => match how {
                Settle::Delivered => {
                    m.delivered.inc();
                    tracing::info!(notification = %n.id, conversation = %n.conversation, "cardholder notified");
                }
                Settle::RetryAt(_) => {
                    m.failed_attempts.inc();
                }
                Settle::GiveUp => {
                    m.failed_attempts.inc();
                    m.given_up.inc();
                    tracing::error!(notification = %n.id, conversation = %n.conversation, attempts = n.attempts, "notification given up after failing for the whole give-up time");
                }
            },
            Ok(false) => {
                tracing::warn!(notification = %n.id, "notification lease ran out before the attempt ended; another node has it");
            }
            Err(e) => {
                tracing::warn!(notification = %n.id, error = %e.detail(), "cannot record a notification attempt; it is retried when its lease runs out");
            }
        }
    }

    /// Refreshes the queue gauges.
    async fn measure(&self) {
        if let Ok(b) = self.store.notification_backlog().await {
            let m = &self.metrics.notifications;
            m.queue_depth
                .set(i64::try_from(b.depth).unwrap_or(i64::MAX));
            m.oldest_age.set(
                b.oldest_at
                    .map_or(0.0, |at| (now_millis() - at).max(0) as f64 / 1000.0),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ConversationId, UserId};

    #[test]
    fn backoff_doubles_to_its_cap_with_full_jitter_and_gives_up() {
        let p = RetryPolicy::default();
        assert_eq!(p.cap(1), Duration::from_secs(1));
        assert_eq!(p.cap(2), Duration::from_secs(2));
        assert_eq!(p.cap(4), Duration::from_secs(8));
        assert_eq!(p.cap(20), Duration::from_secs(600));
        assert_eq!(p.cap(u32::MAX), Duration::from_secs(600));
        assert_eq!(p.after_failure(3, 0, 1_000, 0.0), Settle::RetryAt(1_000));
        assert_eq!(p.after_failure(3, 0, 1_000, 1.0), Settle::RetryAt(5_000));
        assert_eq!(p.after_failure(3, 0, 1_000, 0.5), Settle::RetryAt(3_000));
        let day = 86_400_000;
        assert_eq!(
            p.after_failure(30, 0, day - 1, 0.0),
            Settle::RetryAt(day - 1)
        );
        assert_eq!(p.after_failure(30, 0, day, 0.5), Settle::GiveUp);
    }

    #[test]
    fn the_body_has_exactly_the_contract_fields_and_is_signed() {
        let n = Notification {
            id: "n-1".into(),
            event: "message".into(),
            sub: UserId("u-1".into()),
            conversation: ConversationId("c-1".into()),
            at: 1_800_000_000_000,
            attempts: 1,
        };
        let b = body(&n);
        let v: serde_json::Value = serde_json::from_slice(&b).expect("json");
        assert_eq!(
            v,
            serde_json::json!({"event": "message", "id": "n-1", "sub": "u-1",
                "conversation": "c-1", "at": "2027-01-15T08:00:00Z"})
        );
        // Standard Webhooks' own example (its libraries' test vector).
        let key = signing_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("a whsec_ secret");
        assert_eq!(
            signature(
                &key,
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        // The id and the timestamp are signed, not only the body.
        let signed = signature(b"a-secret-of-sixteen", "n-1", 1_800_000_000, &b);
        assert_ne!(
            signed,
            signature(b"a-secret-of-sixteen", "n-2", 1_800_000_000, &b)
        );
        assert_ne!(
            signed,
            signature(b"a-secret-of-sixteen", "n-1", 1_800_000_001, &b)
        );
        assert_ne!(
            signed,
            signature(b"a-secret-of-sixteen", "n-1", 1_800_000_000, b"{}")
        );
        assert!(NotifySettings::new("ftp://x", "a-secret-of-sixteen").is_err());
        assert!(NotifySettings::new("https://push.example/n", "short").is_err());
        assert!(NotifySettings::new("https://push.example/n", "a-secret-of-sixteen").is_ok());
    }

    #[test]
    fn a_whsec_secret_is_decoded_and_a_plain_one_taken_as_bytes() {
        // `whsec_` + base64 of 24 bytes.
        let key = signing_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("valid");
        assert_eq!(key.len(), 24);
        assert_eq!(key[..3], [0x31, 0xF2, 0x90]);
        assert_eq!(
            signing_key("a-secret-of-sixteen").expect("valid"),
            b"a-secret-of-sixteen"
        );
        // Not base64, or a key too short once decoded.
        let err = signing_key("whsec_not*base64!").expect_err("refused");
        assert!(err.contains("whsec_") && err.contains("base64"), "{err}");
        let err = signing_key("whsec_c2hvcnQ=").expect_err("refused");
        assert!(err.contains("16 bytes"), "{err}");
        let n = NotifySettings::new(
            "https://push.example/n",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        )
        .expect("valid");
        assert_eq!(n.secret.len(), 24);
        // The secret never shows in Debug.
        assert!(!format!("{n:?}").contains("MfKQ"));
    }
}
