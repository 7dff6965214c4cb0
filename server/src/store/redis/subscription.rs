//! The event subscription, read with backpressure.
//!
//! redis-rs's pub/sub driver reads its socket as fast as Redis writes and
//! pushes every message into an unbounded channel, so a node that cannot
//! keep up grows its memory and its delay without limit while Redis's own
//! `client-output-buffer-limit pubsub` never applies. This subscription
//! owns its TCP connection and reads the next message only when the stream
//! is polled: while the node is busy delivering, unread messages wait in
//! the kernel's socket buffer and then in Redis's output buffer for this
//! client, and when that passes Redis's limit Redis cuts the subscription,
//! the stream ends, and the bus resubscribes and asks every connection to
//! resync. The node itself holds at most one read buffer.
//!
//! It speaks the few RESP2 replies a subscribed connection receives
//! (`+OK`, `-ERR`, arrays of bulk strings and integers) and refuses
//! anything larger than [`MAX_PAYLOAD`].

use std::time::Duration;

use redis::{ConnectionAddr, ConnectionInfo};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::store::{StoreError, StoreResult};

/// Largest message read from the subscription. An envelope holds at most a
/// page of transcript (an `assigned` with up to 200 entries of 4,000
/// characters, about 3.5 MB with JSON escaping), so 8 MB refuses only
/// corruption.
pub const MAX_PAYLOAD: usize = 8 << 20;

/// Longest header line (`*3`, `$1234`, `:1`, `-ERR …`).
const MAX_LINE: u64 = 1024;

/// Socket read buffer: the only place unread events wait inside the node.
const READ_BUFFER: usize = 64 << 10;

/// How long connecting and subscribing may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);

/// A reply as a subscribed connection receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reply {
    /// `+OK`.
    Status,
    /// `-ERR …`.
    Error(String),
    /// `:n`.
    Int,
    /// `$n`: a bulk string (`None` for the null bulk string).
    Bulk(Option<Vec<u8>>),
    /// `*n` of bulk strings and integers.
    Array(Vec<Reply>),
}

/// One subscribed connection; each [`Subscription::next_message`] reads
/// exactly as much of the socket as the next message needs.
pub struct Subscription {
    reader: BufReader<TcpStream>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription").finish_non_exhaustive()
    }
}

impl Subscription {
    /// Connects to the Redis at `info`, authenticates as it says, and
    /// subscribes to `channels`.
    pub async fn open(info: &ConnectionInfo, channels: &[String]) -> StoreResult<Subscription> {
        tokio::time::timeout(HANDSHAKE_TIMEOUT, Self::handshake(info, channels))
            .await
            .map_err(|_| unavailable("Redis did not confirm the event subscription in time"))?
    }

    async fn handshake(info: &ConnectionInfo, channels: &[String]) -> StoreResult<Subscription> {
        let (host, port) =
            match info.addr() {
                ConnectionAddr::Tcp(host, port) => (host.clone(), *port),
                _ => return Err(unavailable(
                    "the event subscription needs a plain TCP Redis address (redis://host:port)",
                )),
            };
        let stream = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| unavailable(&format!("cannot connect to Redis at {host}:{port}: {e}")))?;
        stream.set_nodelay(true).ok();
        let mut reader = BufReader::with_capacity(READ_BUFFER, stream);
        let settings = info.redis_settings();
        if let Some(password) = settings.password() {
            let mut auth = redis::cmd("AUTH");
            if let Some(user) = settings.username() {
                auth.arg(user);
            }
            auth.arg(password);
            send(&mut reader, &auth.get_packed_command()).await?;
            if let Reply::Error(e) = read_reply(&mut reader).await? {
                return Err(unavailable(&format!("Redis refused the credentials: {e}")));
            }
        }
        let mut subscribe = redis::cmd("SUBSCRIBE");
        for channel in channels {
            subscribe.arg(channel);
        }
        send(&mut reader, &subscribe.get_packed_command()).await?;
        for _ in channels {
            match read_reply(&mut reader).await? {
                Reply::Array(parts) if is_kind(&parts, b"subscribe") => {}
                Reply::Error(e) => {
                    return Err(unavailable(&format!("Redis refused the subscription: {e}")))
                }
                _ => return Err(unavailable("unexpected reply to SUBSCRIBE")),
            }
        }
        Ok(Subscription { reader })
    }

    /// The next published payload; `None` when the subscription is gone
    /// (connection closed, cut by Redis, or unreadable).
    pub async fn next_message(&mut self) -> Option<Vec<u8>> {
        loop {
            match read_reply(&mut self.reader).await {
                Ok(Reply::Array(mut parts)) if parts.len() == 3 && is_kind(&parts, b"message") => {
                    if let Reply::Bulk(Some(payload)) = parts.swap_remove(2) {
                        return Some(payload);
                    }
                }
                // Anything else a subscribed connection may see (a late
                // subscribe confirmation) carries no event.
                Ok(Reply::Array(_)) => {}
                Ok(Reply::Error(e)) => {
                    tracing::warn!(error = %e, "Redis reported an error on the event subscription");
                    return None;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(error = %e.detail(), "event subscription closed");
                    return None;
                }
            }
        }
    }
}

fn unavailable(why: &str) -> StoreError {
    StoreError::Unavailable(why.to_owned())
}

fn is_kind(parts: &[Reply], kind: &[u8]) -> bool {
    matches!(parts.first(), Some(Reply::Bulk(Some(k))) if k.eq_ignore_ascii_case(kind))
}

async fn send(reader: &mut BufReader<TcpStream>, command: &[u8]) -> StoreResult<()> {
    reader
        .get_mut()
        .write_all(command)
        .await
        .map_err(|e| unavailable(&format!("cannot write to Redis: {e}")))
}

/// Reads one reply: a status, an error, an integer, a bulk string, or an
/// array of those (one level: pub/sub messages nest no deeper).
async fn read_reply<R: AsyncBufRead + Unpin>(reader: &mut R) -> StoreResult<Reply> {
    let (kind, rest) = read_line(reader).await?;
    match kind {
        b'*' => {
            let n = length(&rest)?.unwrap_or(0);
            // A subscribed connection's arrays have 3 or 4 elements.
            if n > 8 {
                return Err(unavailable("unexpected array on the event subscription"));
            }
            let mut parts = Vec::with_capacity(n);
            for _ in 0..n {
                let (kind, rest) = read_line(reader).await?;
                parts.push(scalar(reader, kind, rest).await?);
            }
            Ok(Reply::Array(parts))
        }
        kind => scalar(reader, kind, rest).await,
    }
}

async fn scalar<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    kind: u8,
    rest: Vec<u8>,
) -> StoreResult<Reply> {
    match kind {
        b'+' => Ok(Reply::Status),
        b'-' => Ok(Reply::Error(String::from_utf8_lossy(&rest).into_owned())),
        b':' => Ok(Reply::Int),
        b'$' => match length(&rest)? {
            None => Ok(Reply::Bulk(None)),
            Some(n) if n > MAX_PAYLOAD => Err(unavailable(
                "a message on the event subscription is larger than allowed",
            )),
            Some(n) => {
                let mut body = vec![0; n + 2];
                reader
                    .read_exact(&mut body)
                    .await
                    .map_err(|e| unavailable(&format!("event subscription: {e}")))?;
                if !body.ends_with(b"\r\n") {
                    return Err(unavailable(
                        "malformed bulk string on the event subscription",
                    ));
                }
                body.truncate(n);
                Ok(Reply::Bulk(Some(body)))
            }
        },
        _ => Err(unavailable("unexpected reply on the event subscription")),
    }
}

/// One header line: its type byte and the rest, without `\r\n`.
async fn read_line<R: AsyncBufRead + Unpin>(reader: &mut R) -> StoreResult<(u8, Vec<u8>)> {
    let mut line = Vec::new();
    let n = (&mut *reader)
        .take(MAX_LINE)
        .read_until(b'\n', &mut line)
        .await
        .map_err(|e| unavailable(&format!("event subscription: {e}")))?;
    if n == 0 {
        return Err(unavailable("Redis closed the event subscription"));
    }
    if !line.ends_with(b"\r\n") {
        return Err(unavailable("malformed line on the event subscription"));
    }
    line.truncate(line.len() - 2);
    match line.split_first() {
        Some((&kind, rest)) => Ok((kind, rest.to_vec())),
        None => Err(unavailable("empty line on the event subscription")),
    }
}

/// A `*n` / `$n` length; `None` for `-1` (null).
fn length(digits: &[u8]) -> StoreResult<Option<usize>> {
    if digits == b"-1" {
        return Ok(None);
    }
    std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .map(Some)
        .ok_or_else(|| unavailable("bad length on the event subscription"))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn replies(bytes: &[u8]) -> Vec<StoreResult<Reply>> {
        let mut reader = BufReader::new(bytes);
        let mut out = Vec::new();
        loop {
            let r = read_reply(&mut reader).await;
            let end = r.is_err();
            out.push(r);
            if end {
                return out;
            }
        }
    }

    #[tokio::test]
    async fn reads_messages_and_confirmations() {
        let wire = b"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhe\r\nl\r\n+OK\r\n-ERR no\r\n";
        let got = replies(wire).await;
        assert_eq!(
            got[0].as_ref().ok(),
            Some(&Reply::Array(vec![
                Reply::Bulk(Some(b"subscribe".to_vec())),
                Reply::Bulk(Some(b"ch".to_vec())),
                Reply::Int
            ]))
        );
        // A payload may hold CRLF: it is read by length, not by line.
        let Ok(Reply::Array(parts)) = &got[1] else {
            panic!("a message")
        };
        assert_eq!(parts[2], Reply::Bulk(Some(b"he\r\nl".to_vec())));
        assert_eq!(got[2].as_ref().ok(), Some(&Reply::Status));
        assert_eq!(got[3].as_ref().ok(), Some(&Reply::Error("ERR no".into())));
        assert!(got[4].is_err(), "end of input ends the subscription");
    }

    #[tokio::test]
    async fn refuses_oversized_and_malformed_input() {
        let huge = format!("${}\r\n", MAX_PAYLOAD + 1);
        assert!(replies(huge.as_bytes()).await[0].is_err());
        assert!(replies(b"*999\r\n").await[0].is_err());
        assert!(replies(b"$3\r\nabcd\r\n").await[0].is_err());
        assert!(replies(b"$x\r\n").await[0].is_err());
        assert!(replies(b"?\r\n").await[0].is_err());
        let long_line = vec![b'+'; 5000];
        assert!(replies(&long_line).await[0].is_err());
    }
}
