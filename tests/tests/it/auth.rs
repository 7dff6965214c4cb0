//! Authentication at the socket: header and first-frame auth, deadlines,
//! refused query tokens, origins, expiry during a connection.

use std::time::Duration;

use serde_json::json;
use switchboard_tests::*;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[tokio::test]
async fn header_auth_gets_welcome_with_state() {
    let hub = TestHub::spawn(memory_settings()).await;
    let (_c, welcome) = Client::connect(&hub.ws_url(), &cardholder("ch-1", "premium")).await;
    assert_eq!(welcome["role"], "cardholder");
    assert_eq!(welcome["sub"], "ch-1");
    assert_eq!(welcome["protocol"], 1);
    assert!(welcome["conversation"].is_null());
    let (_a, welcome) =
        Client::connect(&hub.ws_url(), &agent("ag-1", &["premium", "fraud"], 2)).await;
    assert_eq!(welcome["teams"], json!(["premium", "fraud"]));
    assert_eq!(welcome["max_chats"], 2);
    assert_eq!(welcome["state"], "away");
}

#[tokio::test]
async fn bad_header_tokens_get_401_without_upgrade() {
    let hub = TestHub::spawn(memory_settings()).await;
    let url = hub.ws_url();
    let forged = switchboard::auth::mint_hs256(
        b"another-secret-entirely-0123456789",
        &json!({"sub": "x", "role": "cardholder", "tier": "standard", "exp": now_s() + 60}),
    )
    .expect("mint");
    let expired =
        token(json!({"sub": "x", "role": "cardholder", "tier": "standard", "exp": now_s() - 120}));
    let future =
        token(json!({"sub": "x", "role": "cardholder", "tier": "standard", "nbf": now_s() + 300}));
    let confused =
        token(json!({"sub": "x", "role": "cardholder", "tier": "standard", "exp": "tomorrow"}));
    let unknown_tier = token(json!({"sub": "x", "role": "cardholder", "tier": "gold"}));
    let no_teams = token(json!({"sub": "x", "role": "agent"}));
    let none_alg = format!(
        "eyJhbGciOiJub25lIn0.{}.",
        base64url(
            &json!({"sub": "x", "role": "cardholder", "tier": "standard", "exp": now_s() + 60})
                .to_string()
        )
    );
    for (name, t) in [
        ("bad signature", forged),
        ("expired", expired),
        ("future nbf", future),
        ("type-confused exp", confused),
        ("unknown tier", unknown_tier),
        ("agent without teams", no_teams),
        ("alg none", none_alg),
        ("garbage", "not-a-jwt".to_owned()),
    ] {
        let status = Client::connect_raw(&url, Some(&t)).await.err();
        assert_eq!(status, Some(401), "{name} must be refused with 401");
    }
}

fn base64url(s: &str) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let b = s.as_bytes();
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &c)| n | u32::from(c) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[tokio::test]
async fn first_frame_auth_works_and_failures_close_4401() {
    let hub = TestHub::spawn(memory_settings()).await;
    let mut c = Client::connect_raw(&hub.ws_url(), None)
        .await
        .expect("upgrade");
    c.send(json!({"type": "auth", "token": cardholder("ch-2", "standard")}))
        .await;
    let welcome = c.expect("welcome").await;
    assert_eq!(welcome["sub"], "ch-2");

    let mut bad = Client::connect_raw(&hub.ws_url(), None)
        .await
        .expect("upgrade");
    bad.send(json!({"type": "auth", "token": "eyJhbGciOiJub25lIn0.e30."}))
        .await;
    assert_eq!(bad.expect_close().await, Closed::Code(4401));

    let mut wrong_first = Client::connect_raw(&hub.ws_url(), None)
        .await
        .expect("upgrade");
    wrong_first
        .send(json!({"type": "start", "topic": "general"}))
        .await;
    assert_eq!(wrong_first.expect_close().await, Closed::Code(4401));
}

/// On paused time: the hub's auth deadline fires as soon as nothing else
/// is left to do, and before the test's own (far longer) wait for the close.
#[tokio::test(start_paused = true)]
async fn no_auth_within_deadline_closes_4408() {
    let mut settings = memory_settings();
    settings.auth_timeout = Duration::from_millis(300);
    let hub = TestHub::spawn(settings).await;
    let mut c = Client::connect_raw(&hub.ws_url(), None)
        .await
        .expect("upgrade");
    assert_eq!(c.expect_close().await, Closed::Code(4408));
}

#[tokio::test]
async fn token_in_query_is_refused() {
    let hub = TestHub::spawn(memory_settings()).await;
    let url = format!("{}?token={}", hub.ws_url(), cardholder("ch", "standard"));
    assert_eq!(Client::connect_raw(&url, None).await.err(), Some(401));
}

#[tokio::test]
async fn origins_are_enforced() {
    let mut settings = memory_settings();
    settings.allowed_origins = vec!["https://bank.example".into()];
    let hub = TestHub::spawn(settings).await;
    let with_origin = |origin: &str| {
        let mut r = hub.ws_url().into_client_request().expect("request");
        r.headers_mut()
            .insert("origin", origin.parse().expect("origin"));
        r
    };
    assert_eq!(
        Client::connect_request(with_origin("https://evil.example"))
            .await
            .err(),
        Some(403)
    );
    assert!(Client::connect_request(with_origin("https://bank.example"))
        .await
        .is_ok());
    // Without the flag only the hub's own origin is accepted.
    let hub2 = TestHub::spawn(memory_settings()).await;
    let mut r = hub2.ws_url().into_client_request().expect("request");
    r.headers_mut()
        .insert("origin", "https://evil.example".parse().expect("origin"));
    assert_eq!(Client::connect_request(r).await.err(), Some(403));
    let mut r = hub2.ws_url().into_client_request().expect("request");
    r.headers_mut().insert(
        "origin",
        format!("http://{}", hub2.addr).parse().expect("origin"),
    );
    assert!(Client::connect_request(r).await.is_ok());
}

#[tokio::test]
async fn long_lived_and_future_tokens_are_refused_at_the_socket() {
    let hub = TestHub::spawn(memory_settings()).await;
    let url = hub.ws_url();
    let century = 100 * 365 * 24 * 3600;
    for (name, claims) in [
        (
            "100-year token",
            json!({"sub": "x", "role": "cardholder", "tier": "standard", "iat": now_s(), "exp": now_s() + century}),
        ),
        (
            "100-year token without iat",
            json!({"sub": "x", "role": "cardholder", "tier": "standard", "exp": now_s() + century}),
        ),
        (
            "issued in the future",
            json!({"sub": "x", "role": "cardholder", "tier": "standard", "iat": now_s() + 600}),
        ),
    ] {
        let status = Client::connect_raw(&url, Some(&token(claims))).await.err();
        assert_eq!(status, Some(401), "{name} must be refused with 401");
    }
    // The refusal says why (the message never quotes the token).
    let (status, body) = refused_body(
        &hub,
        &token(json!({"sub": "x", "role": "cardholder", "tier": "standard", "iat": now_s(), "exp": now_s() + century})),
    )
    .await;
    assert_eq!(status, 401);
    assert!(body.contains("lives longer"), "{body}");
    // A token of a day is fine.
    let day = token(
        json!({"sub": "d", "role": "cardholder", "tier": "standard", "iat": now_s(), "exp": now_s() + 24 * 3600}),
    );
    assert!(Client::connect_raw(&url, Some(&day)).await.is_ok());
}

#[tokio::test]
async fn type_confused_exp_is_named_as_such() {
    let hub = TestHub::spawn(memory_settings()).await;
    let confused =
        token(json!({"sub": "x", "role": "cardholder", "tier": "standard", "exp": "tomorrow"}));
    let (status, body) = refused_body(&hub, &confused).await;
    assert_eq!(status, 401);
    assert!(body.contains("`exp` must be a number"), "{body}");
    assert!(!body.contains("required"), "{body}");
}

/// A WebSocket upgrade with a bearer token, sent as a plain HTTP request so
/// the refusal's status and body can be read (a WebSocket client keeps only
/// the status).
async fn refused_body(hub: &TestHub, token: &str) -> (u16, String) {
    let response = http_client()
        .get(hub.ws_url().replacen("ws://", "http://", 1))
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .bearer_auth(token)
        .send()
        .await
        .expect("an answer");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a body"))
}

#[tokio::test]
async fn expiring_token_closes_4401() {
    let hub = TestHub::spawn(memory_settings()).await;
    let t = token(
        json!({"sub": "short", "role": "cardholder", "tier": "standard", "exp": now_s() + 2}),
    );
    let (mut c, _) = Client::connect(&hub.ws_url(), &t).await;
    assert_eq!(c.expect_close().await, Closed::Code(4401));
}

/// An HS256 token of exactly these header and payload texts, signed with the
/// tests' secret.
fn raw_token(header: &str, payload: &str) -> String {
    switchboard::auth::sign_hs256_raw(SECRET, header, payload)
}

#[tokio::test]
async fn tokens_naming_keys_or_repeating_claims_are_refused() {
    let hub = TestHub::spawn(memory_settings()).await;
    let url = hub.ws_url();
    let exp = now_s() + 600;
    let payload = format!(r#"{{"sub":"x","role":"cardholder","tier":"standard","exp":{exp}}}"#);
    // The same token without the offending parts is accepted: the refusals
    // below are about those parts only.
    let fine = raw_token(r#"{"alg":"HS256","typ":"JWT"}"#, &payload);
    assert!(Client::connect_raw(&url, Some(&fine)).await.is_ok());
    let mut refused = Vec::new();
    for member in [
        r#""jku":"http://127.0.0.1:9/jwks.json""#,
        r#""x5u":"http://127.0.0.1:9/cert.pem""#,
        r#""jwk":{"kty":"oct","k":"c2VjcmV0"}"#,
        r#""x5c":["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A"]"#,
    ] {
        let header = format!(r#"{{"alg":"HS256","typ":"JWT",{member}}}"#);
        refused.push((member.to_owned(), raw_token(&header, &payload), "key"));
    }
    // A supervisor's claims with a second `role`: which one wins must not be
    // a parser detail.
    let twice = format!(
        r#"{{"sub":"x","role":"supervisor","teams":["standard"],"role":"cardholder","tier":"standard","exp":{exp}}}"#
    );
    refused.push((
        "two roles".to_owned(),
        raw_token(r#"{"alg":"HS256","typ":"JWT"}"#, &twice),
        "more than once",
    ));
    for (name, t, says) in &refused {
        // At the upgrade: 401, with the reason.
        let (status, body) = refused_body(&hub, t).await;
        assert_eq!(status, 401, "{name} must be refused with 401");
        assert!(body.contains(says), "{name}: {body}");
        // As the first frame: close 4401.
        let mut c = Client::connect_raw(&url, None).await.expect("upgrade");
        c.send(json!({"type": "auth", "token": t})).await;
        assert_eq!(c.expect_close().await, Closed::Code(4401), "{name}");
    }
}
