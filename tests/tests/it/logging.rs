//! Nothing sensitive in logs, at any level: a hub logging at `trace` with
//! the subscriber the binary uses never writes a token or message text.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::json;
use switchboard_tests::*;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt;

/// Log output kept in memory.
#[derive(Debug, Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

/// Runs a short chat (a token in an `auth` frame and one in a header, a
/// message each way) under a `trace` subscriber; returns what it logged.
async fn chat_logged_at_trace(json_lines: bool, token: &str, text: &str) -> String {
    let captured = Captured::default();
    let subscriber =
        switchboard::logging::subscriber(Some("trace"), json_lines, false, captured.clone());
    // Tests run on a current-thread runtime: the hub's tasks log here too.
    let _guard = subscriber.set_default();
    let hub = TestHub::spawn(memory_settings()).await;
    let mut ch = Client::connect_raw(&hub.ws_url(), None)
        .await
        .expect("upgrade");
    ch.send(json!({"type": "auth", "token": token})).await;
    ch.expect("welcome").await;
    let agent_token = agent("log-agent", &["standard"], 1);
    let (mut ag, _) = Client::connect(&hub.ws_url(), &agent_token).await;
    ag.send(json!({"type": "status", "state": "available"}))
        .await;
    ch.send(json!({"type": "start", "topic": "general"})).await;
    let id = ch.expect("assigned").await["conversation"].clone();
    ch.send(json!({"type": "say", "id": "m1", "text": text}))
        .await;
    ag.expect_msg(1).await;
    ag.send(json!({"type": "say", "conversation": id, "id": "m2", "text": text}))
        .await;
    ch.expect_msg(2).await;
    hub.shutdown().await;
    let log = captured.text();
    assert!(!log.contains(&agent_token), "the agent's token is logged");
    log
}

#[tokio::test]
async fn trace_logs_hold_no_tokens_and_no_message_text() {
    let token = cardholder("log-ch", "standard");
    let text = "my mother's maiden name is Quetzalcoatl-7731";
    for json_lines in [false, true] {
        let log = chat_logged_at_trace(json_lines, &token, text).await;
        assert!(
            log.contains("connected"),
            "the capture works (json: {json_lines})"
        );
        let signature = token.rsplit('.').next().expect("a JWT has a signature");
        for (what, secret) in [
            ("the token", token.as_str()),
            ("the token's signature", signature),
            ("the message text", text),
            ("the message text in hex", &hex(text)),
            ("the token in hex", &hex(signature)),
        ] {
            assert!(
                !log.contains(secret),
                "{what} is in the log (json: {json_lines})"
            );
        }
    }
}
