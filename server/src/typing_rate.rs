//! How fast one user may send typed text: a byte budget per user on this
//! node, shared by all of the user's connections here (SPEC: "A user's typed
//! text is limited in bytes per second as well as in messages").
//!
//! [`TypingBudgets`] holds a [`crate::token_bucket::TokenBucket`] of bytes per user (role and `sub`) while
//! the user has a connection on this node: `--max-text-burst-bytes` at once,
//! then `--max-text-bytes-per-sec` sustained. Each connection holds its
//! user's [`TypingBudget`]; spending locks only that user's bucket, so one
//! user sending fast slows nobody else. The map holds only users connected
//! now: the last connection's [`TypingBudgets::leave`] removes its entry.
//! The frame rate limit (per connection, in `connection`) is a separate,
//! earlier check. Knows nothing about frames, sockets or the store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use crate::domain::{Role, UserId};
use crate::token_bucket::TokenBucket;

/// Every connected user's budget on this node.
#[derive(Debug)]
pub struct TypingBudgets {
    /// Bytes a user may send at once (the bucket's size).
    burst: f64,
    /// Bytes a second the bucket refills with.
    per_sec: f64,
    /// The budget of each user with a connection here.
    users: Mutex<HashMap<(Role, UserId), TypingBudget>>,
}

/// One user's budget, shared by the user's connections on this node.
#[derive(Debug, Clone)]
pub struct TypingBudget(Arc<Mutex<TokenBucket>>);

impl TypingBudgets {
    /// Budgets of `burst` bytes at once and `per_sec` bytes a second.
    pub fn new(burst: u64, per_sec: u64) -> Self {
        TypingBudgets {
            burst: burst as f64,
            per_sec: per_sec as f64,
            users: Mutex::default(),
        }
    }

    /// The budget of a user opening a connection (full for a user with no
    /// other connection here).
    pub fn join(&self, role: Role, sub: &UserId, now: Instant) -> TypingBudget {
        self.lock()
            .entry((role, sub.clone()))
            .or_insert_with(|| {
                TypingBudget(Arc::new(Mutex::new(TokenBucket::full(
                    self.burst,
                    self.per_sec,
                    now,
                ))))
            })
            .clone()
    }

    /// A connection of the user closed: its budget is forgotten when it was
    /// the user's last one here.
    pub fn leave(&self, role: Role, sub: &UserId, budget: TypingBudget) {
        let mut users = self.lock();
        drop(budget);
        let key = (role, sub.clone());
        // Every clone is made and dropped under this lock: one left means
        // only the map holds it.
        if users
            .get(&key)
            .is_some_and(|b| Arc::strong_count(&b.0) == 1)
        {
            users.remove(&key);
        }
    }

    /// Users with a budget now (for tests).
    pub fn users(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<(Role, UserId), TypingBudget>> {
        self.users.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl TypingBudget {
    /// Takes `bytes` from the budget if it holds them at `now` (passed in so
    /// the bucket is a pure function of time); false leaves it untouched.
    pub fn spend(&self, bytes: usize, now: Instant) -> bool {
        let mut bucket = self.0.lock().unwrap_or_else(|p| p.into_inner());
        bucket.take(bytes as f64, now)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn ada() -> UserId {
        UserId("ada".into())
    }

    #[test]
    fn a_burst_then_the_sustained_rate() {
        let t0 = Instant::now();
        let budgets = TypingBudgets::new(64 * 1024, 16 * 1024);
        let b = budgets.join(Role::Cardholder, &ada(), t0);
        // The longest message (4,000 characters of 4 bytes) passes four times at once.
        for _ in 0..4 {
            assert!(b.spend(16_000, t0));
        }
        assert!(!b.spend(16_000, t0), "the burst is spent");
        assert!(b.spend(1_536, t0), "what is left can still be spent");
        assert!(!b.spend(1, t0));
        // A second refills 16 KiB.
        assert!(!b.spend(16_385, t0 + Duration::from_secs(1)));
        assert!(b.spend(16_384, t0 + Duration::from_secs(1)));
        // Idle long enough, the bucket is full again, never fuller.
        let later = t0 + Duration::from_secs(3600);
        assert!(b.spend(64 * 1024, later));
        assert!(!b.spend(1, later));
    }

    #[test]
    fn one_budget_per_user_across_connections_forgotten_with_the_last() {
        let t0 = Instant::now();
        let budgets = TypingBudgets::new(20_000, 1_000);
        let phone = budgets.join(Role::Cardholder, &ada(), t0);
        let laptop = budgets.join(Role::Cardholder, &ada(), t0);
        let agent_ada = budgets.join(Role::Agent, &ada(), t0);
        let bob = budgets.join(Role::Cardholder, &UserId("bob".into()), t0);
        assert!(phone.spend(16_000, t0));
        assert!(
            !laptop.spend(16_000, t0),
            "a second connection shares the budget"
        );
        assert!(
            agent_ada.spend(16_000, t0),
            "a user is the role and the sub"
        );
        assert!(bob.spend(16_000, t0), "others are not slowed");
        assert_eq!(budgets.users(), 3);
        budgets.leave(Role::Cardholder, &ada(), phone);
        assert_eq!(budgets.users(), 3, "the laptop is still connected");
        budgets.leave(Role::Cardholder, &ada(), laptop);
        budgets.leave(Role::Agent, &ada(), agent_ada);
        budgets.leave(Role::Cardholder, &UserId("bob".into()), bob);
        assert_eq!(budgets.users(), 0, "nobody connected, nothing kept");
        let fresh = budgets.join(Role::Cardholder, &ada(), t0);
        assert!(fresh.spend(20_000, t0), "a new budget starts full");
    }
}
