//! One task per WebSocket connection.
//!
//! The task owns its socket. It authenticates (header or first frame),
//! registers the connection in [`crate::bus::Sessions`], sends `welcome`, and
//! then runs one `select!` over inbound frames, its bounded outbound queue,
//! the heartbeat, the token's expiry, a kick (it fell behind) and shutdown.
//! Replies to the caller are written straight to the socket; events for
//! others go through [`Hub::deliver`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::auth::Identity;
use crate::bus::{outbound_queue, Kick, KickReason, OutboundReceiver};
use crate::domain::now_millis;
use crate::hub::{Caller, Hub};
use crate::protocol::{close, ClientFrame, ErrorCode, ServerFrame};
use crate::token_bucket::TokenBucket;

/// A write that takes longer than this means the client stopped reading.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Most bytes of queued frames taken into one write batch (one flush).
const BATCH_BYTES: usize = 64 * 1024;

/// Frames refused for rate in a row before the connection is closed as a flood.
const FLOOD_LIMIT: u32 = 100;

/// Why the connection loop stopped.
enum Exit {
    /// Close with this code and reason.
    Close(u16, &'static str),
    /// The peer went away or the socket failed; nothing to send.
    Gone,
}

/// Close code 1013 "try again later": authenticated, but this node has no
/// free connection slot.
const NODE_FULL: u16 = 1013;

/// The connection slot an upgraded socket holds: a user's, or one of the
/// pending-auth slots while it is still to authenticate.
#[derive(Debug)]
pub enum SocketSlot {
    /// Authenticated at the upgrade (`Authorization` header).
    Authenticated {
        /// Who it is.
        identity: Identity,
        /// Its `--max-connections` slot, given back when the socket closes.
        permit: OwnedSemaphorePermit,
    },
    /// Still to send its `auth` frame.
    Pending {
        /// Its `--max-pending-auth` slot, given back once authentication is
        /// over (either way), so sockets that never authenticate cannot take
        /// the slots of real users.
        pending: OwnedSemaphorePermit,
        /// The `--max-connections` slots, one of which it takes once it has
        /// authenticated.
        slots: Arc<Semaphore>,
    },
}

/// Serves one upgraded socket until it closes.
pub async fn serve(socket: WebSocket, hub: Hub, slot: SocketSlot, tracker: TaskTracker) {
    let conn = hub.next_conn_id();
    let span = tracing::info_span!(
        "conn",
        conn,
        sub = tracing::field::Empty,
        role = tracing::field::Empty
    );
    async move {
        // Boxed: inline, it would make the session's task outgrow its
        // allocator size class (a few hundred bytes more per idle connection).
        let mut socket = Box::new(socket);
        let (identity, permit) = match slot {
            SocketSlot::Authenticated { identity, permit } => (identity, permit),
            SocketSlot::Pending { pending, slots } => {
                let admitted = first_frame_auth(&hub, &mut socket)
                    .await
                    .and_then(|identity| match slots.try_acquire_owned() {
                        Ok(permit) => Ok((identity, permit)),
                        Err(_) => Err((
                            NODE_FULL,
                            "this hub node is full; try another or retry shortly",
                        )),
                    });
                drop(pending);
                match admitted {
                    Ok(admitted) => admitted,
                    Err((code, reason)) => {
                        tracing::info!(code, reason, "not admitted");
                        send_close(&mut socket, code, reason).await;
                        return;
                    }
                }
            }
        };
        let span = tracing::Span::current();
        span.record("sub", identity.sub.as_str());
        span.record("role", identity.role.as_str());
        // The session runs as a task of its own: this one's state (the auth
        // deadline) would otherwise be carried, unused, by every idle
        // connection for its whole life.
        tracker.spawn(run(conn, hub, identity, socket, permit).instrument(span));
    }
    .instrument(span)
    .await;
}

/// Waits for `{"type":"auth","token":…}` within the auth deadline.
async fn first_frame_auth(
    hub: &Hub,
    socket: &mut WebSocket,
) -> Result<Identity, (u16, &'static str)> {
    let deadline = tokio::time::sleep(hub.settings().auth_timeout);
    tokio::pin!(deadline);
    loop {
        let msg = tokio::select! {
            m = socket.next() => m,
            _ = &mut deadline => return Err((close::AUTH_TIMEOUT, "no authentication within 10 seconds")),
        };
        match msg {
            Some(Ok(Message::Text(text))) => {
                return match ClientFrame::parse(&text) {
                    Ok(ClientFrame::Auth { token }) => hub
                        .authenticate(&token)
                        .await
                        .map_err(|_| (close::AUTH_FAILED, "authentication failed")),
                    _ => Err((close::AUTH_FAILED, "the first frame must be auth")),
                };
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(Message::Binary(_))) => {
                return Err((close::AUTH_FAILED, "the first frame must be auth"))
            }
            Some(Err(e)) => {
                return Err(match read_error(e) {
                    Exit::Close(code, reason) => (code, reason),
                    Exit::Gone => (close::AUTH_FAILED, "closed before authentication"),
                })
            }
            Some(Ok(Message::Close(_))) | None => {
                return Err((close::AUTH_FAILED, "closed before authentication"))
            }
        }
    }
}

async fn run(
    conn: u64,
    hub: Hub,
    identity: Identity,
    mut socket: Box<WebSocket>,
    _permit: OwnedSemaphorePermit,
) {
    let (outbox, mut queue) = outbound_queue();
    let kick = Kick::under(&hub.resync_token());
    let (mut caller, welcome) = hub.join(identity, conn, outbox, kick.clone()).await;
    tracing::info!("connected");
    let exit = match welcome {
        Ok(frames) => match write_batch(&mut socket, &mut queue, Outgoing::Replies(frames)).await {
            Ok(()) => session_loop(&hub, &mut caller, &mut socket, &mut queue, &kick).await,
            Err(()) => Exit::Gone,
        },
        Err(e) => {
            let _ = write_batch(
                &mut socket,
                &mut queue,
                Outgoing::Replies(vec![e.to_frame(None)]),
            )
            .await;
            Exit::Close(1013, "the hub cannot reach its store; try again shortly")
        }
    };
    if let Exit::Close(code, reason) = exit {
        tracing::info!(code, reason, "closing");
        send_close(&mut socket, code, reason).await;
    }
    hub.disconnect(caller).await;
    tracing::info!("disconnected");
}

/// The frame rate limit: `rate_burst` frames at once, `rate_per_sec`
/// sustained, a token a frame.
struct RateLimit {
    bucket: TokenBucket,
    refused_in_a_row: u32,
}

impl RateLimit {
    fn new(burst: f64, per_sec: f64, now: Instant) -> Self {
        RateLimit {
            bucket: TokenBucket::full(burst, per_sec, now),
            refused_in_a_row: 0,
        }
    }

    /// Takes one token if there is one at `now` (passed in so the bucket is
    /// a pure function of time, tested without sleeping).
    fn allow(&mut self, now: Instant) -> bool {
        if self.bucket.take(1.0, now) {
            self.refused_in_a_row = 0;
            true
        } else {
            self.refused_in_a_row += 1;
            false
        }
    }
}

async fn session_loop(
    hub: &Hub,
    caller: &mut Caller,
    socket: &mut WebSocket,
    queue: &mut OutboundReceiver,
    kick: &Kick,
) -> Exit {
    let settings = hub.settings();
    let heartbeat = settings.heartbeat;
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
    // tokio's clock, as the ping's: a test on paused time moves both.
    let mut last_heard = tokio::time::Instant::now();
    let mut rate = RateLimit::new(settings.rate_burst, settings.rate_per_sec, Instant::now());
    let expires_in = Duration::from_millis(
        u64::try_from(
            caller
                .identity()
                .expires_at
                .saturating_mul(1000)
                .saturating_sub(now_millis()),
        )
        .unwrap_or(0),
    );
    let expiry = tokio::time::sleep(expires_in);
    tokio::pin!(expiry);
    // One wait for a kick, a resync of the node and shutdown (the kick's
    // token is a child of the other two), made once for the whole loop
    // rather than anew for every frame.
    let closing = kick.closing();
    tokio::pin!(closing);
    loop {
        // What to write now; queued events join it in one batch. Polled in
        // this order, the close last: its token takes a lock at every poll,
        // so it is looked at when nothing else is ready, which is at every
        // wait (a client sending without pause is closed for flooding).
        let first = tokio::select! {
            biased;
            inbound = socket.next() => {
                last_heard = tokio::time::Instant::now();
                match inbound {
                    Some(Ok(Message::Text(text))) => {
                        if rate.allow(Instant::now()) {
                            // Boxed: a command's future is large and short-lived; kept
                            // inline it would make every idle connection's task as big.
                            Outgoing::Replies(Box::pin(hub.handle(caller, &text)).await)
                        } else if rate.refused_in_a_row > FLOOD_LIMIT {
                            return Exit::Close(close::FLOODING, "too many frames");
                        } else {
                            let e = ServerFrame::error(ErrorCode::RateLimited, "slow down: too many frames", None);
                            Outgoing::Replies(vec![e])
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        let e = ServerFrame::error(ErrorCode::BadJson, "frames must be UTF-8 JSON text", None);
                        Outgoing::Replies(vec![e])
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_))) | None => return Exit::Gone,
                    Some(Err(e)) => return read_error(e),
                }
            }
            out = queue.recv() => {
                let Some(text) = out else { return Exit::Gone };
                Outgoing::Queued(text)
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > heartbeat * 3 {
                    return Exit::Close(close::IDLE, "no answer to pings");
                }
                Outgoing::Ping
            }
            _ = &mut expiry => return Exit::Close(close::AUTH_FAILED, "token expired; reconnect with a fresh token"),
            () = &mut closing => {
                if hub.shutdown_token().is_cancelled() {
                    return Exit::Close(close::GOING_AWAY, "the hub is restarting; reconnect");
                }
                if let Some(why) = kick.reason() {
                    return kicked(why);
                }
                // The node's resync: the store may have lost conversations
                // (Redis restarted without its data): say so before asking
                // for a reconnect.
                let lost = hub.lost_conversations(caller).await;
                if !lost.is_empty() && write_batch(socket, queue, Outgoing::Replies(lost)).await.is_err() {
                    return Exit::Gone;
                }
                return Exit::Close(close::RESYNC, "events were interrupted; reconnect and sync");
            }
        };
        if write_batch(socket, queue, first).await.is_err() {
            // A write that could not finish while the client was being
            // closed for falling behind: say why, if it ever reads again.
            return match kick.reason() {
                Some(why) => kicked(why),
                None => Exit::Gone,
            };
        }
    }
}

/// How a kicked connection closes.
fn kicked(why: KickReason) -> Exit {
    match why {
        KickReason::TooSlow => Exit::Close(
            close::TOO_SLOW,
            "too many unread events; reconnect and sync",
        ),
        KickReason::Replaced => Exit::Close(
            close::REPLACED,
            "too many connections for this user; the oldest was closed",
        ),
    }
}

fn read_error(e: axum::Error) -> Exit {
    use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
    match e.into_inner().downcast::<WsError>() {
        Ok(ws) if matches!(*ws, WsError::Capacity(CapacityError::MessageTooLong { .. })) => {
            Exit::Close(close::TOO_BIG, "frame larger than 64 KiB")
        }
        Ok(ws) if matches!(*ws, WsError::Utf8(_)) => Exit::Close(1007, "text frame is not UTF-8"),
        Ok(ws) if matches!(*ws, WsError::Protocol(_)) => {
            Exit::Close(1002, "WebSocket protocol error")
        }
        _ => Exit::Gone,
    }
}

/// What starts a write batch.
enum Outgoing {
    /// Frames for this connection only (replies to a command, `welcome`).
    Replies(Vec<ServerFrame>),
    /// A frame taken from the outbound queue.
    Queued(Utf8Bytes),
    /// The heartbeat.
    Ping,
}

/// Writes `first`, then whatever else is queued now, up to [`BATCH_BYTES`],
/// and flushes once: one deadline for the batch, and one `send` to the
/// kernel rather than one per frame. Replies to a command and queued events
/// share a batch; frames keep their order. Queued frames stop counting
/// against the connection's unsent bytes once the batch is written.
async fn write_batch(
    socket: &mut WebSocket,
    queue: &mut OutboundReceiver,
    first: Outgoing,
) -> Result<(), ()> {
    if matches!(&first, Outgoing::Replies(frames) if frames.is_empty()) {
        // A command with nothing to say back (most `say`s: the echo is an
        // event); anything queued is picked up by the loop.
        return Ok(());
    }
    let mut queued = 0;
    let batch = async {
        match first {
            Outgoing::Replies(frames) => {
                for f in frames {
                    socket
                        .feed(Message::Text(Utf8Bytes::from(f.to_text())))
                        .await?;
                }
            }
            Outgoing::Queued(text) => {
                queued += text.len();
                socket.feed(Message::Text(text)).await?;
            }
            Outgoing::Ping => socket.feed(Message::Ping(Default::default())).await?,
        }
        while queued < BATCH_BYTES {
            let Some(text) = queue.try_recv() else { break };
            queued += text.len();
            socket.feed(Message::Text(text)).await?;
        }
        socket.flush().await
    };
    let done = tokio::time::timeout(WRITE_TIMEOUT, batch).await;
    queue.written(queued);
    match done {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

async fn send_close(socket: &mut WebSocket, code: u16, reason: &'static str) {
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    };
    let _ = tokio::time::timeout(WRITE_TIMEOUT, socket.send(Message::Close(Some(frame)))).await;
    let _ = tokio::time::timeout(Duration::from_secs(1), socket.close()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames `limit` lets through at `now`, asking `n` times.
    fn allowed(limit: &mut RateLimit, now: Instant, n: u32) -> u32 {
        (0..n).filter(|_| limit.allow(now)).count() as u32
    }

    #[test]
    fn a_full_bucket_lets_the_burst_through_then_refuses() {
        let t0 = Instant::now();
        let mut limit = RateLimit::new(30.0, 10.0, t0);
        assert_eq!(allowed(&mut limit, t0, 30), 30, "the whole burst at once");
        assert!(!limit.allow(t0), "the 31st frame at the same instant");
        assert_eq!(limit.refused_in_a_row, 1);
    }

    #[test]
    fn tokens_refill_at_the_sustained_rate() {
        let t0 = Instant::now();
        let mut limit = RateLimit::new(30.0, 10.0, t0);
        assert_eq!(allowed(&mut limit, t0, 30), 30);
        // 10 frames/s: one token every 100 ms.
        let t1 = t0 + Duration::from_millis(50);
        assert!(!limit.allow(t1), "half a token is not a frame");
        let t2 = t0 + Duration::from_millis(100);
        assert!(limit.allow(t2), "a whole token after 100 ms");
        assert!(!limit.allow(t2), "and only one");
        let t3 = t2 + Duration::from_millis(500);
        assert_eq!(allowed(&mut limit, t3, 10), 5, "five tokens after 500 ms");
    }

    #[test]
    fn refill_never_exceeds_the_burst() {
        let t0 = Instant::now();
        let mut limit = RateLimit::new(30.0, 10.0, t0);
        assert_eq!(allowed(&mut limit, t0, 30), 30);
        let later = t0 + Duration::from_secs(3600);
        assert_eq!(
            allowed(&mut limit, later, 100),
            30,
            "an hour of silence buys one burst, not 36 000 frames"
        );
    }

    #[test]
    fn refused_in_a_row_counts_until_a_frame_is_allowed() {
        let t0 = Instant::now();
        let mut limit = RateLimit::new(2.0, 1.0, t0);
        assert_eq!(allowed(&mut limit, t0, 2), 2);
        assert_eq!(limit.refused_in_a_row, 0);
        for n in 1..=FLOOD_LIMIT + 1 {
            assert!(!limit.allow(t0));
            assert_eq!(limit.refused_in_a_row, n);
        }
        assert!(
            limit.refused_in_a_row > FLOOD_LIMIT,
            "the connection loop closes 4430 past this"
        );
        assert!(limit.allow(t0 + Duration::from_secs(1)));
        assert_eq!(
            limit.refused_in_a_row, 0,
            "one allowed frame resets the run"
        );
    }

    #[test]
    fn time_going_backwards_adds_no_tokens() {
        // `Instant` is monotonic, but an older `now` (e.g. taken before a
        // later one was used) must not panic or mint tokens.
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_secs(1);
        let mut limit = RateLimit::new(1.0, 1.0, t1);
        assert!(limit.allow(t1));
        assert!(!limit.allow(t0));
    }
}
