//! A connection's outbound queue: the serialised frames waiting to be
//! written to it, bounded by `OUTBOUND_QUEUE` frames and
//! `OUTBOUND_BYTES` bytes, filled by the [`Outbox`]es that deliveries and
//! the hub hold and read by the connection's own task through its [`OutboundReceiver`].
//!
//! The bounds are the hub's backpressure rule (a client past them fell
//! behind and is closed), so the queue is ours: a `VecDeque` under a mutex,
//! which allocates only as frames queue (an idle connection's queue holds
//! no buffer; tokio's channel allocates 32 slots up front, about 1.3 KB per
//! connection), and one waker. Waiting for a frame costs no allocation and
//! no lock beyond the queue's own (flume's async receive, used before,
//! allocated a waiter for each wait and took the channel's lock three times
//! per frame: docs/benchmarks.md).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use axum::extract::ws::Utf8Bytes;
use futures_util::task::AtomicWaker;

/// Frames waiting to be written to one connection. 256 frames is minutes
/// of a busy chat for a human; a client this far behind is stuck, so it is
/// closed rather than allowed to hold memory or slow anyone else.
pub const OUTBOUND_QUEUE: usize = 256;

/// Bytes of frames one connection may have unsent in the hub: its queue
/// plus the batch being written. With `OUTBOUND_QUEUE` it bounds what a
/// client that stopped reading costs (the kernel's share is bounded by
/// [`super::SEND_BUFFER`]); past it the client is closed with 4429. An empty queue
/// always takes one frame, however large (an `assigned` with a long
/// transcript), so no single event can close a reading client.
pub const OUTBOUND_BYTES: usize = 256 * 1024;

/// The sending side of a connection's outbound queue.
#[derive(Debug)]
pub struct Outbox(Arc<Queue>);

/// The receiving side of an [`Outbox`], read by the connection's task.
#[derive(Debug)]
pub struct OutboundReceiver(Arc<Queue>);

/// Why a frame was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Too much is unsent: the client stopped reading.
    Full,
    /// The connection is closing.
    Closed,
}

#[derive(Debug, Default)]
struct Queue {
    state: Mutex<State>,
    /// The connection's task, when it waits for a frame.
    reader: AtomicWaker,
    /// Bytes queued, or taken but not yet written.
    unsent: AtomicUsize,
    /// Live [`Outbox`]es; at 0 the reader is told nothing more will come.
    senders: AtomicUsize,
}

#[derive(Debug, Default)]
struct State {
    frames: VecDeque<Utf8Bytes>,
    /// The [`OutboundReceiver`] is gone: nothing will be read.
    closed: bool,
}

/// A fresh, empty outbound queue.
pub fn outbound_queue() -> (Outbox, OutboundReceiver) {
    let queue = Arc::new(Queue {
        senders: AtomicUsize::new(1),
        ..Queue::default()
    });
    (Outbox(queue.clone()), OutboundReceiver(queue))
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Clone for Outbox {
    fn clone(&self) -> Self {
        self.0.senders.fetch_add(1, Ordering::Relaxed);
        Outbox(self.0.clone())
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        if self.0.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.reader.wake();
        }
    }
}

impl Outbox {
    /// Whether the connection's task is gone (nothing will be read).
    pub fn is_closed(&self) -> bool {
        self.0.lock().closed
    }

    /// Queues a frame without waiting.
    pub fn push(&self, text: Utf8Bytes) -> Result<(), Refused> {
        let len = text.len();
        {
            let mut state = self.0.lock();
            if state.closed {
                return Err(Refused::Closed);
            }
            let before = self.0.unsent.fetch_add(len, Ordering::Relaxed);
            if (before > 0 && before + len > OUTBOUND_BYTES) || state.frames.len() >= OUTBOUND_QUEUE
            {
                self.0.unsent.fetch_sub(len, Ordering::Relaxed);
                return Err(Refused::Full);
            }
            state.frames.push_back(text);
        }
        self.0.reader.wake();
        Ok(())
    }
}

impl OutboundReceiver {
    /// The next queued frame; `None` once every [`Outbox`] is gone and the
    /// queue is empty. Cancel-safe (a `select!` branch): a frame is only
    /// taken when this returns it.
    pub async fn recv(&mut self) -> Option<Utf8Bytes> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Utf8Bytes>> {
        if let Some(text) = self.try_recv() {
            return Poll::Ready(Some(text));
        }
        // Once registered, a push or the last Outbox going wakes this task.
        self.0.reader.register(cx.waker());
        // Whether any Outbox is left is read before the queue is looked at
        // again: when none is, every frame ever pushed is in the queue now
        // (a push comes before its Outbox's drop), so an empty queue is the
        // end. Read after it, a last push and drop in between would be
        // taken for the end with that frame still queued.
        let ended = self.0.senders.load(Ordering::Acquire) == 0;
        if let Some(text) = self.try_recv() {
            return Poll::Ready(Some(text));
        }
        if ended {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    }

    /// A queued frame if there is one now.
    pub fn try_recv(&mut self) -> Option<Utf8Bytes> {
        self.0.lock().frames.pop_front()
    }

    /// Counts frames of `bytes` bytes as written: they no longer count
    /// against `OUTBOUND_BYTES`.
    pub fn written(&self, bytes: usize) {
        self.0.unsent.fetch_sub(bytes, Ordering::Relaxed);
    }
}

impl Drop for OutboundReceiver {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.closed = true;
        // Frames nobody will read are freed now, not when the last
        // Outbox (in a session map) goes.
        state.frames = VecDeque::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::task::Wake;

    fn frame(bytes: usize) -> Utf8Bytes {
        Utf8Bytes::from("x".repeat(bytes))
    }

    /// A waker that counts its wake-ups.
    #[derive(Default)]
    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn the_outbox_refuses_past_its_bytes_until_they_are_written() {
        let (outbox, mut receiver) = outbound_queue();
        let quarter = OUTBOUND_BYTES / 4;
        for _ in 0..4 {
            assert_eq!(outbox.push(frame(quarter)), Ok(()));
        }
        assert_eq!(
            outbox.push(frame(1)),
            Err(Refused::Full),
            "one byte past the bound"
        );
        let taken = receiver.try_recv().expect("a queued frame");
        assert_eq!(
            outbox.push(frame(1)),
            Err(Refused::Full),
            "taken from the queue is not yet written"
        );
        receiver.written(taken.len());
        assert_eq!(outbox.push(frame(quarter)), Ok(()), "room once written");
    }

    #[test]
    fn an_empty_outbox_takes_one_frame_of_any_size() {
        let (outbox, mut receiver) = outbound_queue();
        assert_eq!(outbox.push(frame(OUTBOUND_BYTES * 2)), Ok(()));
        assert_eq!(outbox.push(frame(1)), Err(Refused::Full));
        let big = receiver.try_recv().expect("the large frame");
        receiver.written(big.len());
        assert_eq!(outbox.push(frame(1)), Ok(()));
    }

    #[test]
    fn the_outbox_refuses_past_its_frames() {
        let (outbox, mut receiver) = outbound_queue();
        for _ in 0..OUTBOUND_QUEUE {
            assert_eq!(outbox.push(frame(1)), Ok(()));
        }
        assert_eq!(outbox.push(frame(1)), Err(Refused::Full));
        let one = receiver.try_recv().expect("the first frame");
        receiver.written(one.len());
        assert_eq!(
            outbox.push(frame(1)),
            Ok(()),
            "room for one once one is taken"
        );
    }

    #[test]
    fn a_closed_receiver_is_not_a_slow_client() {
        let (outbox, receiver) = outbound_queue();
        assert!(!outbox.is_closed());
        // Even with its bytes' worth unsent when it went.
        outbox.push(frame(OUTBOUND_BYTES)).expect("room");
        drop(receiver);
        assert!(outbox.is_closed());
        assert_eq!(outbox.push(frame(1)), Err(Refused::Closed));
    }

    #[test]
    fn frames_come_out_in_the_order_they_went_in_from_every_outbox() {
        let (outbox, mut receiver) = outbound_queue();
        let other = outbox.clone();
        for (i, from) in [&outbox, &other, &outbox].into_iter().enumerate() {
            from.push(Utf8Bytes::from(i.to_string())).expect("room");
        }
        let got: Vec<_> = std::iter::from_fn(|| receiver.try_recv()).collect();
        assert_eq!(got, ["0", "1", "2"].map(Utf8Bytes::from_static));
    }

    #[test]
    fn a_waiting_reader_is_woken_by_a_push_and_by_the_last_outbox_going() {
        let (outbox, mut receiver) = outbound_queue();
        let count = Arc::new(Count::default());
        let waker = std::task::Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let mut recv = Box::pin(receiver.recv());
        assert!(recv.as_mut().poll(&mut cx).is_pending());
        outbox.push(frame(3)).expect("room");
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "woken by the push");
        assert_eq!(
            recv.as_mut().poll(&mut cx).map(|f| f.map(|t| t.len())),
            Poll::Ready(Some(3))
        );
        drop(recv);

        let other = outbox.clone();
        let mut recv = Box::pin(receiver.recv());
        assert!(recv.as_mut().poll(&mut cx).is_pending());
        drop(outbox);
        assert!(
            recv.as_mut().poll(&mut cx).is_pending(),
            "one Outbox is left"
        );
        drop(other);
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            2,
            "woken when the last Outbox went"
        );
        assert_eq!(recv.as_mut().poll(&mut cx), Poll::Ready(None));
    }
}
