//! The rules of secure-message threads, each defined once: the inbox order
//! (earliest reply due first), the per-tier reply targets (`--message-sla`),
//! how many threads a cardholder may keep open, and what counts as unread.
//! Both engines call these; the Redis scripts get their results as arguments.

use std::str::FromStr;

use crate::domain::conversation::Entry;
use crate::domain::{tier_index, Author, Millis, Tier, UnknownName};

/// Open (not resolved) threads a cardholder may hold besides its live chat.
pub const MAX_OPEN_THREADS: usize = 5;

/// What a cardholder is told when a sixth thread is refused.
pub const TOO_MANY_THREADS: &str = "You already have 5 open secure messages. \
Please add to one of them, or wait until we have answered one.";

/// The reply target per tier (`--message-sla`): how soon a thread that
/// entered its team's inbox should be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageSla {
    /// Target per tier in milliseconds, indexed like [`Tier::ALL`].
    millis: [Millis; 4],
}

const HOUR_MS: Millis = 3_600_000;

impl Default for MessageSla {
    /// Premium 4 h, every other tier 24 h.
    fn default() -> Self {
        let mut sla = MessageSla {
            millis: [24 * HOUR_MS; 4],
        };
        sla.millis[tier_index(Tier::Premium)] = 4 * HOUR_MS;
        sla
    }
}

impl MessageSla {
    /// One tier's reply target in milliseconds.
    pub fn millis(&self, tier: Tier) -> Millis {
        self.millis[tier_index(tier)]
    }

    /// One tier's reply target in seconds (for the cardholder's
    /// "we usually reply within …").
    pub fn seconds(&self, tier: Tier) -> u64 {
        u64::try_from(self.millis(tier) / 1000).unwrap_or(0)
    }
}

impl FromStr for MessageSla {
    type Err = String;
    /// Parses `premium=4h,standard=24h` (units `s`, `m`, `h`, `d`; a bare
    /// number is hours); tiers not named keep the default.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut sla = MessageSla::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (tier, span) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}` is not tier=duration (e.g. premium=4h)"))?;
            let tier: Tier = tier
                .trim()
                .parse()
                .map_err(|e: UnknownName| e.to_string())?;
            let span = span.trim();
            let (digits, unit) = match span.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
                Some((i, _)) => span.split_at(i),
                None => (span, "h"),
            };
            let n: Millis = digits
                .parse()
                .map_err(|_| format!("`{span}` is not a duration such as 4h or 90m"))?;
            let unit_ms = match unit {
                "s" => 1_000,
                "m" => 60_000,
                "h" => HOUR_MS,
                "d" => 24 * HOUR_MS,
                _ => return Err(format!("`{span}`: the unit must be s, m, h or d")),
            };
            if n == 0 {
                return Err(format!("the reply target of {tier} must be above zero"));
            }
            sla.millis[tier_index(tier)] = n.saturating_mul(unit_ms);
        }
        Ok(sla)
    }
}

/// A thread's place in its team's inbox: the time its reply is due (it
/// entered the inbox at `entered_at`, plus the reply target of the
/// cardholder's card tier — a thread transferred to another team keeps its
/// own target), so an inbox serves the earliest due first: premium threads
/// ahead while their shorter target is nearer, older threads as theirs nears.
/// The Redis engine stores it as the inbox zset's score.
pub fn inbox_rank(sla: &MessageSla, tier: Tier, entered_at: Millis) -> i64 {
    entered_at.saturating_add(sla.millis(tier))
}

/// The agent's entries among `after_read` (the entries after the
/// cardholder's last `read`): what the cardholder has not seen yet.
pub fn unread(after_read: &[Entry]) -> u32 {
    let n = after_read
        .iter()
        .filter(|e| e.from == Author::Agent)
        .count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sla_parses_units_and_keeps_defaults() {
        let sla: MessageSla = "standard=90m, business=2d".parse().expect("valid");
        assert_eq!(sla.millis(Tier::Standard), 90 * 60_000);
        assert_eq!(sla.millis(Tier::Business), 48 * HOUR_MS);
        assert_eq!(sla.millis(Tier::Premium), 4 * HOUR_MS);
        assert_eq!(sla.millis(Tier::Prepaid), 24 * HOUR_MS);
        assert_eq!(
            "premium=8".parse::<MessageSla>(),
            Ok(sla_with(Tier::Premium, 8))
        );
        for bad in [
            "gold=4h",
            "premium",
            "premium=4w",
            "premium=0h",
            "premium=h",
        ] {
            assert!(bad.parse::<MessageSla>().is_err(), "{bad}");
        }
    }

    fn sla_with(tier: Tier, hours: Millis) -> MessageSla {
        let mut sla = MessageSla::default();
        sla.millis[tier_index(tier)] = hours * HOUR_MS;
        sla
    }

    #[test]
    fn earliest_due_first() {
        let sla = MessageSla::default();
        // A standard thread 21 h old is due before a premium one just in.
        let standard = inbox_rank(&sla, Tier::Standard, 0);
        let premium = inbox_rank(&sla, Tier::Premium, 21 * HOUR_MS);
        assert!(standard < premium);
        assert!(inbox_rank(&sla, Tier::Premium, 0) < standard);
    }
}
