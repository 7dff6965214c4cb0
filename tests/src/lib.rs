//! Test helpers for Switchboard: a throwaway `redis-server` on a free port,
//! hubs served in-process on port 0, token minting, and a WebSocket client
//! that waits for frames by type (never by sleeping).

pub mod conformance;
pub mod metrics;
pub mod postgres;
pub mod push;

pub use metrics::{metric, scrape, Exposition};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use switchboard::settings::{Engine, Settings};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The HS256 secret every test hub uses.
pub const SECRET: &[u8] = b"switchboard-test-secret-0123456789";

/// How long a test waits for any one expected event before failing.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long [`Client::expect_none`] callers usually listen before they
/// conclude that a frame is not coming: far above a local round trip (a few
/// milliseconds), short enough to keep the suite quick.
pub const QUIET_PERIOD: Duration = Duration::from_millis(500);

/// A `redis-server` started for the tests, stopped on drop.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Its working folder (`--dir`), removed on drop: whatever Redis
    /// writes (a replica's copy, a `SAVE`) lands there, never in the tree.
    dir: PathBuf,
}

/// A new empty folder under the system's temp folder, for one process's
/// files; the caller removes it.
pub fn temp_dir(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("switchboard-{what}-{}", unique_prefix()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    dir
}

impl RedisServer {
    /// Starts `redis-server` on a free port, with nothing kept on disk.
    pub fn start() -> RedisServer {
        let port = free_port();
        let mut server = RedisServer {
            child: None,
            port,
            dir: temp_dir("redis"),
        };
        server.launch();
        server
    }

    fn launch(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(&self.dir)
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be on PATH (apt-get install redis-server)");
        self.child = Some(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                use std::io::{Read, Write};
                let _ = s.write_all(b"PING\r\n");
                let mut buf = [0u8; 7];
                if s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n" {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server on port {} did not start", self.port);
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Stops the server (to test faults).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts a chat as the cardholder and waits until both sides are
/// assigned; returns the conversation id.
pub async fn paired(ch: &mut Client, ag: &mut Client, topic: &str) -> String {
    ch.send(json!({"type": "start", "topic": topic})).await;
    let assigned = ch.expect("assigned").await;
    let id = assigned["conversation"].as_str().expect("id").to_owned();
    ag.expect_where("assigned", |f| f["conversation"] == id.as_str())
        .await;
    id
}

/// The seqs of a `transcript` page's entries, in order.
pub fn page_seqs(page: &Value) -> Vec<u64> {
    page["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["seq"].as_u64().expect("seq"))
        .collect()
}

/// A key's time to live in ms (-1: none, -2: no such key).
pub async fn pttl(conn: &mut impl redis::aio::ConnectionLike, key: &str) -> i64 {
    redis::cmd("PTTL")
        .arg(key)
        .query_async(conn)
        .await
        .expect("PTTL")
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A unique Redis key prefix, so hubs of different tests never meet.
pub fn unique_prefix() -> String {
    format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// Settings for a test hub on the memory engine.
pub fn memory_settings() -> Settings {
    Settings::for_secret(SECRET)
}

/// Settings for a test hub on Redis under `prefix`.
pub fn redis_settings(url: &str, prefix: &str) -> Settings {
    let mut s = Settings::for_secret(SECRET);
    s.engine = Engine::Redis {
        url: url.to_owned(),
        prefix: prefix.to_owned(),
        wait_replicas: 0,
    };
    s
}

/// A hub served in-process; shut down on drop.
#[derive(Debug)]
pub struct TestHub {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    /// The hub's own runtime, for a hub that [`TestHub::kill`] can stop
    /// dead (every task of the node, background ones too, goes with it).
    runtime: Option<tokio::runtime::Runtime>,
}

impl TestHub {
    /// Serves a hub with these settings on a free port.
    pub async fn spawn(settings: Settings) -> TestHub {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) = switchboard::run(listener, settings, shutdown).await {
                panic!("hub failed: {e}");
            }
        });
        TestHub {
            addr,
            stop: Some(stop),
            task: Some(task),
            runtime: None,
        }
    }

    /// Serves a hub on a runtime of its own, so that [`TestHub::kill`] can
    /// stop it as a crash would.
    pub async fn spawn_killable(settings: Settings) -> TestHub {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let (stop, stopped) = oneshot::channel::<()>();
        let (up_tx, up) = oneshot::channel::<()>();
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            let shutdown = async {
                let _ = stopped.await;
            };
            let _ = up_tx.send(());
            if let Err(e) = switchboard::run(listener, settings, shutdown).await {
                panic!("hub failed: {e}");
            }
        });
        up.await.expect("hub runtime started");
        TestHub {
            addr,
            stop: Some(stop),
            task: None,
            runtime: Some(runtime),
        }
    }

    /// Stops a hub from [`TestHub::spawn_killable`] as a crash would: every
    /// task of the node is dropped where it stands (no close frames, no
    /// presence cleanup, no retire, no further heartbeat); its sockets close.
    pub fn kill(&mut self) {
        // The runtime goes first: dropping `stop` before it would start a
        // clean shutdown (close frames, presence cleanup, retire).
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }

    /// `ws://` URL of its socket.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// `http://` URL of a path.
    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Shuts it down and waits until it stopped.
    pub async fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for TestHub {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Seconds since the epoch.
pub fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Mints a token with these claims (an hour's `exp` added unless given).
pub fn token(mut claims: Value) -> String {
    if claims.get("exp").is_none() {
        claims["exp"] = json!(now_s() + 3600);
    }
    switchboard::auth::mint_hs256(SECRET, &claims).expect("mint")
}

/// A cardholder's token.
pub fn cardholder(sub: &str, tier: &str) -> String {
    token(
        json!({"sub": sub, "role": "cardholder", "tier": tier, "name": format!("Cardholder {sub}"), "phone_last4": "4321"}),
    )
}

/// An agent's token.
pub fn agent(sub: &str, teams: &[&str], max_chats: u8) -> String {
    token(
        json!({"sub": sub, "role": "agent", "teams": teams, "max_chats": max_chats, "name": format!("Agent {sub}")}),
    )
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A WebSocket client speaking protocol v1.
#[derive(Debug)]
pub struct Client {
    ws: Socket,
    /// Frames received but not yet taken by an `expect`.
    pending: Vec<Value>,
}

/// How a connection ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Closed {
    /// A Close frame with this code.
    Code(u16),
    /// The socket ended without a Close frame.
    Dropped,
}

impl Client {
    /// Connects with `Authorization: Bearer` and waits for `welcome`.
    pub async fn connect(url: &str, token: &str) -> (Client, Value) {
        let mut c = Client::connect_raw(url, Some(token))
            .await
            .expect("upgrade accepted");
        let welcome = c.expect("welcome").await;
        (c, welcome)
    }

    /// Connects with an optional bearer token; returns the HTTP status on refusal.
    pub async fn connect_raw(url: &str, token: Option<&str>) -> Result<Client, u16> {
        let mut request = url.into_client_request().expect("request");
        if let Some(t) = token {
            request.headers_mut().insert(
                "authorization",
                format!("Bearer {t}").parse().expect("header"),
            );
        }
        Self::connect_request(request).await
    }

    /// Connects with `Authorization: Bearer` over a socket whose kernel
    /// receive buffer is `receive_buffer` bytes (`SO_RCVBUF`), and waits for
    /// `welcome`: a client that stops reading then holds little in its own
    /// kernel, so what piles up is the hub's.
    pub async fn connect_small_buffer(
        url: &str,
        token: &str,
        receive_buffer: u32,
    ) -> (Client, Value) {
        let mut request = url.into_client_request().expect("request");
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("header"),
        );
        let host = request.uri().host().expect("host").to_owned();
        let port = request.uri().port_u16().expect("port");
        let addr: SocketAddr = format!("{host}:{port}").parse().expect("a numeric address");
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .set_recv_buffer_size(receive_buffer)
            .expect("SO_RCVBUF");
        let tcp = socket.connect(addr).await.expect("connect");
        let (ws, _) = tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(tcp))
            .await
            .expect("upgrade accepted");
        let mut c = Client {
            ws,
            pending: Vec::new(),
        };
        let welcome = c.expect("welcome").await;
        (c, welcome)
    }

    /// Connects with a prepared request.
    pub async fn connect_request(
        request: tokio_tungstenite::tungstenite::handshake::client::Request,
    ) -> Result<Client, u16> {
        match tokio_tungstenite::connect_async(request).await {
            Ok((ws, _)) => Ok(Client {
                ws,
                pending: Vec::new(),
            }),
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
            Err(e) => panic!("connect failed: {e}"),
        }
    }

    /// Sends a JSON frame.
    pub async fn send(&mut self, frame: Value) {
        self.ws
            .send(Message::text(frame.to_string()))
            .await
            .expect("send");
    }

    /// Sends raw text.
    pub async fn send_text(&mut self, text: String) {
        self.ws.send(Message::text(text)).await.expect("send");
    }

    async fn read(&mut self) -> Result<Value, Closed> {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    return Ok(serde_json::from_str(&t).expect("the hub sends JSON"));
                }
                Some(Ok(Message::Close(Some(f)))) => return Err(Closed::Code(u16::from(f.code))),
                Some(Ok(Message::Close(None))) => {
                    return Err(Closed::Code(u16::from(CloseCode::Status)))
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return Err(Closed::Dropped),
            }
        }
    }

    /// The next frame of this type (earlier frames of other types are kept
    /// for later `expect`s); fails the test after [`EVENT_TIMEOUT`].
    pub async fn expect(&mut self, kind: &str) -> Value {
        self.expect_where(kind, |_| true).await
    }

    /// The next frame of this type for which `pred` holds.
    pub async fn expect_where(&mut self, kind: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self
            .pending
            .iter()
            .position(|f| f["type"] == kind && pred(f))
        {
            return self.pending.remove(i);
        }
        let wait = async {
            loop {
                match self.read().await {
                    Ok(f) if f["type"] == kind && pred(&f) => return f,
                    Ok(f) => self.pending.push(f),
                    Err(c) => panic!(
                        "connection closed ({c:?}) while waiting for `{kind}`; had {:?}",
                        self.pending
                    ),
                }
            }
        };
        match tokio::time::timeout(EVENT_TIMEOUT, wait).await {
            Ok(f) => f,
            Err(_) => panic!(
                "no `{kind}` frame within {EVENT_TIMEOUT:?}; had {:?}",
                self.pending
            ),
        }
    }

    /// Fails the test if a frame of this type is pending or arrives within
    /// `within`; frames of other types are kept for later `expect`s.
    ///
    /// Absence is only shown by waiting (mini-redis asserts
    /// `timeout(…).await.is_err()`): looking at what already arrived proves
    /// nothing about what is still on its way.
    pub async fn expect_none(&mut self, kind: &str, within: Duration) {
        if let Some(f) = self.pending.iter().find(|f| f["type"] == kind) {
            panic!("expected no `{kind}` frame, but one had arrived: {f}");
        }
        let wait = async {
            loop {
                match self.read().await {
                    Ok(f) if f["type"] == kind => return Ok(f),
                    Ok(f) => self.pending.push(f),
                    Err(c) => return Err(c),
                }
            }
        };
        match tokio::time::timeout(within, wait).await {
            Err(_elapsed) => {}
            Ok(Ok(f)) => panic!("expected no `{kind}` frame within {within:?}, got {f}"),
            Ok(Err(c)) => panic!(
                "connection closed ({c:?}) while checking that no `{kind}` arrives; had {:?}",
                self.pending
            ),
        }
    }

    /// The next frame of any type, pending ones first. No deadline of its
    /// own: meant for a `select!` that has one (or that stops on a signal).
    pub async fn next_frame(&mut self) -> Result<Value, Closed> {
        if !self.pending.is_empty() {
            return Ok(self.pending.remove(0));
        }
        self.read().await
    }

    /// Sends a `say` and, as the widget does, resends it with the same
    /// `id` after a short pause while it is answered `unavailable` or
    /// `busy`, until its `msg` arrives (returned). Other frames are kept
    /// for later `expect`s. Fails the test after [`EVENT_TIMEOUT`].
    pub async fn say_confirmed(&mut self, say: Value) -> Value {
        let id = say["id"].clone();
        let deadline = tokio::time::Instant::now() + EVENT_TIMEOUT;
        let mut kept = Vec::new();
        self.send(say.clone()).await;
        loop {
            let frame = match tokio::time::timeout_at(deadline, self.next_frame()).await {
                Ok(Ok(f)) => f,
                Ok(Err(c)) => panic!("connection closed ({c:?}) before `say` {id} was confirmed"),
                Err(_) => panic!("`say` {id} not confirmed within {EVENT_TIMEOUT:?}; had {kept:?}"),
            };
            let retry = frame["type"] == "error"
                && frame["ref"] == id
                && matches!(frame["code"].as_str(), Some("busy" | "unavailable"));
            if frame["type"] == "msg" && frame["id"] == id {
                kept.append(&mut self.pending);
                self.pending = kept;
                return frame;
            } else if retry {
                // A client's retry pause, not a wait for something to happen.
                tokio::time::sleep(Duration::from_millis(100)).await;
                self.send(say.clone()).await;
            } else {
                kept.push(frame);
            }
        }
    }

    /// The `msg` with this seq.
    pub async fn expect_msg(&mut self, seq: u64) -> Value {
        self.expect_where("msg", |f| f["seq"] == seq).await
    }

    /// Waits for the connection to close; returns how.
    pub async fn expect_close(&mut self) -> Closed {
        let wait = async {
            loop {
                match self.read().await {
                    Ok(f) => self.pending.push(f),
                    Err(c) => return c,
                }
            }
        };
        tokio::time::timeout(EVENT_TIMEOUT, wait)
            .await
            .expect("the hub closes the connection")
    }

    /// Frames received and not yet taken.
    pub fn pending(&self) -> &[Value] {
        &self.pending
    }

    /// Takes every pending frame of a type.
    pub fn take_pending(&mut self, kind: &str) -> Vec<Value> {
        let (taken, kept) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|f| f["type"] == kind);
        self.pending = kept;
        taken
    }

    /// Closes the socket politely.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }

    /// Drops the TCP connection without a Close frame (a network drop).
    pub fn drop_connection(self) {
        drop(self);
    }
}

/// An agent connected and made available.
pub async fn available_agent(url: &str, sub: &str, teams: &[&str], max_chats: u8) -> Client {
    let (mut a, _) = Client::connect(url, &agent(sub, teams, max_chats)).await;
    a.send(json!({"type": "status", "state": "available"}))
        .await;
    a
}

/// A plain HTTP GET: (status, body).
pub async fn http_get(url: &str) -> (u16, String) {
    http_request("GET", url, None).await
}

/// An HTTP answer as [`http_exchange`] read it.
#[derive(Debug, Clone)]
pub struct HttpReply {
    /// The status code.
    pub status: u16,
    /// Header names (lower case) and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body as text.
    pub body: String,
}

impl HttpReply {
    /// The first value of a header (`name` in lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTP request (a JSON body when given): (status, body).
pub async fn http_request(method: &str, url: &str, body: Option<&str>) -> (u16, String) {
    let reply = http_exchange(method, url, body).await;
    (reply.status, reply.body)
}

/// A client for the hub's HTTP endpoints. One per request: a pooled
/// connection would outlive the test's runtime, and each `#[tokio::test]`
/// has its own. No proxy, whatever the environment says: the hub is local.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(EVENT_TIMEOUT)
        .build()
        .expect("an HTTP client")
}

/// An HTTP request (a JSON body when given), with the headers of the answer.
pub async fn http_exchange(method: &str, url: &str, body: Option<&str>) -> HttpReply {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
    let mut request = http_client().request(method, url);
    if let Some(body) = body {
        request = request
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_owned());
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = response
        .text()
        .await
        .unwrap_or_else(|e| panic!("{url}: body: {e}"));
    HttpReply {
        status,
        headers,
        body,
    }
}

/// How often [`eventually`] asks again.
pub const POLL_EVERY: Duration = Duration::from_millis(25);

/// Asks `check` every [`POLL_EVERY`] until it holds; fails the test after
/// [`EVENT_TIMEOUT`] naming `what`. For state only visible by asking
/// (`/readyz`, `/metrics`, Redis, the archive), never as a pause.
pub async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    eventually_within(what, EVENT_TIMEOUT, async || {
        if check().await {
            Ok(())
        } else {
            Err(false)
        }
    })
    .await
}

/// Asks `check` every [`POLL_EVERY`] until it answers `Ok`, and returns
/// what it gave; fails the test once `within` has passed, naming `what` and
/// the last `Err` (what was seen instead). The one polling loop of the
/// suite: [`eventually`] is it with the usual bound and a yes/no check.
/// The deadline is tokio's clock, so a test on paused time polls on it.
pub async fn eventually_within<T, E: std::fmt::Debug>(
    what: &str,
    within: Duration,
    mut check: impl AsyncFnMut() -> Result<T, E>,
) -> T {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match check().await {
            Ok(done) => return done,
            Err(seen) => assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: not within {within:?}; last seen: {seen:?}"
            ),
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// A plain connection to a test Redis, for a test to look inside or poke.
pub async fn redis_conn(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .expect("a Redis URL")
        .get_multiplexed_async_connection()
        .await
        .expect("connect to the test redis-server")
}

/// Makes the test Redis hold every client's commands for `ms` ms
/// (`CLIENT PAUSE … ALL`), as a stalled or overloaded Redis would.
pub async fn pause_redis(url: &str, ms: u64) {
    redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(ms)
        .arg("ALL")
        .query_async::<()>(&mut redis_conn(url).await)
        .await
        .expect("CLIENT PAUSE");
}
