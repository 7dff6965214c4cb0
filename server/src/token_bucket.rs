//! A token bucket: `burst` tokens at once, then `per_sec` sustained. Both
//! rate limits of the hub are one: the frames of a connection
//! (`connection`'s `RateLimit`, a token a frame) and the typed bytes of a
//! user ([`crate::typing_rate`], a token a byte). Pure: the caller passes
//! the time in, so the bucket is tested without sleeping. Knows nothing
//! about frames, users or sockets.

use std::time::Instant;

/// Tokens that refill with time, up to a burst.
#[derive(Debug)]
pub struct TokenBucket {
    /// Most tokens it holds (and holds when new).
    burst: f64,
    /// Tokens it gains a second.
    per_sec: f64,
    /// Tokens it holds at `at`.
    tokens: f64,
    /// When `tokens` was last brought up to date; never moves back, so an
    /// older `now` mints nothing.
    at: Instant,
}

impl TokenBucket {
    /// A full bucket at `now`.
    pub fn full(burst: f64, per_sec: f64, now: Instant) -> Self {
        TokenBucket {
            burst,
            per_sec,
            tokens: burst,
            at: now,
        }
    }

    /// Takes `amount` tokens if the bucket holds them at `now`; false
    /// leaves it as it was (but for the refill).
    pub fn take(&mut self, amount: f64, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.burst);
        self.at = self.at.max(now);
        if amount <= self.tokens {
            self.tokens -= amount;
            true
        } else {
            false
        }
    }
}
