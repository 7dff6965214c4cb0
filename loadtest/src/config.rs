//! What to run: command-line arguments ([`Args`]) checked into a [`Config`].
//!
//! Targets are checked here once: every hub URL must resolve to a loopback
//! address (this tool only ever loads a hub on the same machine), and the
//! client sockets therefore connect from loopback too.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use switchboard::domain::Tier;

/// The load pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    /// Connections ramp up; cardholders chat one conversation after another
    /// until `--duration`.
    Steady,
    /// Everyone connects, then every cardholder starts at the same instant;
    /// one conversation each (measures how fast the queue drains).
    Burst,
    /// Like steady, but a share of cardholders drop their connection mid-chat
    /// and resume with `sync`.
    Reconnect,
    /// Holds authenticated connections and reports the hub's RSS per
    /// connection from `/metrics`.
    Idle,
    /// Like steady, meant to be paced (`--rate`) at about twice what one
    /// node carries: also samples the hubs' RSS from `/metrics` through the
    /// run and reports its growth. `busy` refusals are counted apart
    /// (refused, not lost); a refused `start` is tried again after a pause.
    Overload,
}

/// Command-line arguments of `switchboard-loadtest`.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "switchboard-loadtest",
    version,
    about = "Load-tests a Switchboard hub"
)]
pub struct Args {
    /// Hub URL(s), comma-separated (`ws://127.0.0.1:8080`, `/ws` implied);
    /// clients are spread over them round-robin. Omit with --baseline to
    /// measure only the bare stack.
    #[arg(long, value_delimiter = ',')]
    pub url: Vec<String>,
    /// Also run the same pattern against an in-process bare tokio-tungstenite
    /// relay and report hub figures as a ratio to it.
    #[arg(long)]
    pub baseline: bool,
    /// HS256 secret to mint tokens with (the hub's `--jwt-secret`).
    #[arg(long, env = "SWITCHBOARD_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// File of JWTs, one a line (roles read from the payload).
    #[arg(long, conflicts_with = "jwt_secret")]
    pub tokens: Option<PathBuf>,
    /// The load pattern.
    #[arg(long, value_enum, default_value = "steady")]
    pub scenario: Scenario,
    /// Simulated cardholders.
    #[arg(long, default_value_t = 100)]
    pub cardholders: usize,
    /// Simulated agents.
    #[arg(long, default_value_t = 20)]
    pub agents: usize,
    /// Agents' `max_chats` claim (1–10).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=10))]
    pub max_chats: u32,
    /// Messages each side sends per conversation.
    #[arg(long, default_value_t = 10)]
    pub messages: u32,
    /// Target messages per second over all conversations (0: as fast as the
    /// think time allows).
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// Run time in seconds; no new message is sent after it.
    #[arg(long, default_value_t = 30.0)]
    pub duration: f64,
    /// Seconds over which connections are opened (steady, reconnect, idle).
    #[arg(long, default_value_t = 2.0)]
    pub ramp: f64,
    /// Cardholder tier mix, `tier=weight,…`.
    #[arg(long, default_value = "standard=70,premium=20,business=8,prepaid=2")]
    pub tiers: String,
    /// Percent of conversations opened with a lockout topic (escalated to a
    /// callback instead of queued).
    #[arg(long, default_value_t = 0.0)]
    pub escalations: f64,
    /// Percent of cardholders that drop and resume mid-chat (reconnect).
    #[arg(long, default_value_t = 20.0)]
    pub reconnect_pct: f64,
    /// Most frames per second one connection sends (0: no limit). The hub
    /// refuses frames past 10/s sustained per connection, so the default
    /// stays under it.
    #[arg(long, default_value_t = 8.0)]
    pub conn_rate: f64,
    /// Pause between two messages of one side, in milliseconds.
    #[arg(long, default_value_t = 100)]
    pub think_ms: u64,
    /// Seconds allowed after --duration for in-flight conversations to end
    /// before the run is cut (the hard deadline).
    #[arg(long, default_value_t = 10.0)]
    pub grace: f64,
    /// Run steady at each of these offered rates (messages/s, comma-separated)
    /// and report latency against load.
    #[arg(long, value_delimiter = ',')]
    pub sweep: Vec<f64>,
    /// With --sweep: write an SVG plot of message latency percentiles against
    /// offered load.
    #[arg(long, requires = "sweep")]
    pub plot: Option<PathBuf>,
    /// Write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Why the arguments cannot run.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Anything wrong, said in one line.
    #[error("{0}")]
    Invalid(String),
}

fn invalid(msg: impl Into<String>) -> ConfigError {
    ConfigError::Invalid(msg.into())
}

/// One hub node to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The WebSocket URL (`ws://host:port/ws`).
    pub ws_url: String,
    /// Resolved loopback address.
    pub addr: SocketAddr,
    /// `host:port` as written, for the `Host` header.
    pub authority: String,
}

impl Target {
    /// Parses `ws://`, `http://` or bare `host:port`; the path defaults to `/ws`.
    pub fn parse(url: &str) -> Result<Target, ConfigError> {
        let rest = url
            .strip_prefix("ws://")
            .or_else(|| url.strip_prefix("http://"))
            .unwrap_or(url);
        if rest.contains("://") {
            return Err(invalid(format!(
                "`{url}`: only ws:// or http:// URLs (no TLS on loopback)"
            )));
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let path = if path.is_empty() || path == "/" {
            "/ws"
        } else {
            path
        };
        let addr = authority
            .to_socket_addrs()
            .map_err(|e| invalid(format!("`{url}`: cannot resolve {authority}: {e}")))?
            .next()
            .ok_or_else(|| invalid(format!("`{url}`: {authority} resolves to nothing")))?;
        if !addr.ip().is_loopback() {
            return Err(invalid(format!(
                "`{url}`: {} is not a loopback address; this tool only loads a hub on this machine",
                addr.ip()
            )));
        }
        Ok(Target {
            ws_url: format!("ws://{authority}{path}"),
            addr,
            authority: authority.to_owned(),
        })
    }
}

/// Cardholder tier weights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierMix {
    /// `(tier, weight)` with weight > 0, in the order given.
    weights: Vec<(Tier, u32)>,
}

impl FromStr for TierMix {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut weights: Vec<(Tier, u32)> = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (tier, w) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}` is not tier=weight"))?;
            let tier: Tier = tier
                .trim()
                .parse()
                .map_err(|e: switchboard::domain::UnknownName| e.to_string())?;
            let w: u32 = w
                .trim()
                .parse()
                .map_err(|_| format!("`{w}` is not a whole number"))?;
            if weights.iter().any(|(t, _)| *t == tier) {
                return Err(format!("tier `{tier}` given twice"));
            }
            if w > 0 {
                weights.push((tier, w));
            }
        }
        if weights.is_empty() {
            return Err("the tier mix has no tier with a weight above 0".into());
        }
        Ok(TierMix { weights })
    }
}

impl TierMix {
    /// The tiers with weight, in the order given.
    pub fn tiers(&self) -> impl Iterator<Item = Tier> + '_ {
        self.weights.iter().map(|(t, _)| *t)
    }

    /// Splits `n` into per-tier counts by largest remainder (sums to `n`).
    pub fn allocate(&self, n: usize) -> Vec<usize> {
        let total: u64 = self.weights.iter().map(|(_, w)| u64::from(*w)).sum();
        let n64 = n as u64;
        let mut counts: Vec<usize> = Vec::with_capacity(self.weights.len());
        let mut rems: Vec<(u64, usize)> = Vec::with_capacity(self.weights.len());
        for (i, (_, w)) in self.weights.iter().enumerate() {
            let exact = n64 * u64::from(*w);
            counts.push((exact / total) as usize);
            rems.push((exact % total, i));
        }
        let short = n - counts.iter().sum::<usize>();
        rems.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for (_, i) in rems.into_iter().take(short) {
            counts[i] += 1;
        }
        counts
    }

    /// `n` tiers with exactly [`TierMix::allocate`]'s counts, interleaved
    /// (smooth weighted round-robin) so any prefix follows the mix.
    pub fn sequence(&self, n: usize) -> Vec<Tier> {
        let mut left = self.allocate(n);
        let weights: Vec<i64> = left.iter().map(|c| *c as i64).collect();
        let total: i64 = weights.iter().sum();
        let mut current = vec![0i64; weights.len()];
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            for (c, w) in current.iter_mut().zip(&weights) {
                *c += w;
            }
            let Some(best) = (0..current.len())
                .filter(|i| left[*i] > 0)
                .max_by_key(|i| (current[*i], -(*i as i64)))
            else {
                break;
            };
            current[best] -= total;
            left[best] -= 1;
            out.push(self.weights[best].0);
        }
        out
    }
}

/// A checked run configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Hub nodes (empty: baseline only).
    pub targets: Vec<Target>,
    /// Also (or only) measure the in-process bare stack.
    pub baseline: bool,
    /// HS256 secret for minting.
    pub jwt_secret: Option<String>,
    /// Tokens file instead of minting.
    pub tokens_file: Option<PathBuf>,
    /// Load pattern.
    pub scenario: Scenario,
    /// Simulated cardholders.
    pub cardholders: usize,
    /// Simulated agents.
    pub agents: usize,
    /// Agents' chat limit.
    pub max_chats: u32,
    /// Messages per side per conversation.
    pub messages: u32,
    /// Messages per second over the run, `None` for unpaced.
    pub rate: Option<f64>,
    /// Sending stops after this.
    pub duration: Duration,
    /// Connections open over this span.
    pub ramp: Duration,
    /// Tier mix of cardholders.
    pub tiers: TierMix,
    /// Share of lockout conversations, 0–100.
    pub escalations_pct: f64,
    /// Share of cardholders that drop mid-chat in `reconnect`, 0–100.
    pub reconnect_pct: f64,
    /// Frames per second per connection, `None` for no limit.
    pub conn_rate: Option<f64>,
    /// Pause between two messages of one side.
    pub think: Duration,
    /// Time after `duration` before everything is cut.
    pub grace: Duration,
    /// Offered rates of a sweep (empty: one run).
    pub sweep: Vec<f64>,
    /// SVG plot path of a sweep.
    pub plot: Option<PathBuf>,
    /// JSON report path.
    pub json: Option<PathBuf>,
    /// No progress bar.
    pub quiet: bool,
}

/// Largest population one run will open; the machine's loopback port range
/// and descriptor limit make more pointless.
pub const MAX_CLIENTS: usize = 50_000;

fn seconds(name: &str, v: f64, max: f64) -> Result<Duration, ConfigError> {
    if !v.is_finite() || v < 0.0 || v > max {
        return Err(invalid(format!(
            "--{name} must be between 0 and {max} seconds"
        )));
    }
    Ok(Duration::from_secs_f64(v))
}

fn percent(name: &str, v: f64) -> Result<f64, ConfigError> {
    if !v.is_finite() || !(0.0..=100.0).contains(&v) {
        return Err(invalid(format!("--{name} must be a percentage (0–100)")));
    }
    Ok(v)
}

impl TryFrom<Args> for Config {
    type Error = ConfigError;
    fn try_from(a: Args) -> Result<Self, Self::Error> {
        let targets = a
            .url
            .iter()
            .map(|u| u.trim())
            .filter(|u| !u.is_empty())
            .map(Target::parse)
            .collect::<Result<Vec<_>, _>>()?;
        if targets.is_empty() && !a.baseline {
            return Err(invalid("give --url (the hub) and/or --baseline"));
        }
        if !targets.is_empty() && a.jwt_secret.is_none() && a.tokens.is_none() {
            return Err(invalid(
                "give --jwt-secret (the hub's HS256 secret) or --tokens FILE",
            ));
        }
        if a.scenario != Scenario::Idle && (a.cardholders == 0 || a.agents == 0) {
            return Err(invalid("--cardholders and --agents must be at least 1"));
        }
        if a.cardholders + a.agents > MAX_CLIENTS {
            return Err(invalid(format!(
                "at most {MAX_CLIENTS} connections per run"
            )));
        }
        if a.messages == 0 || a.messages > 100_000 {
            return Err(invalid("--messages must be 1–100000"));
        }
        let rate = if a.rate == 0.0 {
            None
        } else if a.rate.is_finite() && a.rate > 0.0 && a.rate <= 1_000_000.0 {
            Some(a.rate)
        } else {
            return Err(invalid(
                "--rate must be 0 (unpaced) or 0–1000000 messages/s",
            ));
        };
        let conn_rate = if a.conn_rate == 0.0 {
            None
        } else if a.conn_rate.is_finite() && a.conn_rate > 0.0 && a.conn_rate <= 1_000_000.0 {
            Some(a.conn_rate)
        } else {
            return Err(invalid(
                "--conn-rate must be 0 (no limit) or 0–1000000 frames/s",
            ));
        };
        if a.sweep
            .iter()
            .any(|r| !r.is_finite() || *r <= 0.0 || *r > 1_000_000.0)
        {
            return Err(invalid(
                "--sweep rates must be above 0 and at most 1000000 messages/s",
            ));
        }
        if a.sweep.len() > 50 {
            return Err(invalid("--sweep takes at most 50 rates"));
        }
        let duration = seconds("duration", a.duration, 24.0 * 3600.0)?;
        if duration.is_zero() {
            return Err(invalid("--duration must be above 0"));
        }
        if a.think_ms > 600_000 {
            return Err(invalid("--think-ms must be at most 600000"));
        }
        Ok(Config {
            targets,
            baseline: a.baseline,
            jwt_secret: a.jwt_secret,
            tokens_file: a.tokens,
            scenario: a.scenario,
            cardholders: a.cardholders,
            agents: a.agents,
            max_chats: a.max_chats,
            messages: a.messages,
            rate,
            duration,
            ramp: seconds("ramp", a.ramp, 3600.0)?,
            tiers: a
                .tiers
                .parse()
                .map_err(|e| invalid(format!("--tiers: {e}")))?,
            escalations_pct: percent("escalations", a.escalations)?,
            reconnect_pct: percent("reconnect-pct", a.reconnect_pct)?,
            conn_rate,
            think: Duration::from_millis(a.think_ms),
            grace: seconds("grace", a.grace, 3600.0)?,
            sweep: a.sweep,
            plot: a.plot,
            json: a.json,
            quiet: a.quiet,
        })
    }
}

impl Config {
    /// A small baseline-only configuration (tests, examples).
    pub fn small_baseline() -> Config {
        let args = Args::parse_from(["switchboard-loadtest", "--baseline", "--quiet"]);
        let mut c =
            Config::try_from(args).unwrap_or_else(|e| unreachable!("defaults are valid: {e}"));
        c.cardholders = 10;
        c.agents = 4;
        c.messages = 3;
        c.duration = Duration::from_secs(2);
        c.ramp = Duration::from_millis(200);
        c.think = Duration::from_millis(10);
        c.grace = Duration::from_secs(5);
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tier_mix_allocates_exactly() {
        let mix: TierMix = "standard=70,premium=20,business=8,prepaid=2"
            .parse()
            .expect("mix");
        assert_eq!(mix.allocate(100), vec![70, 20, 8, 2]);
        assert_eq!(mix.allocate(7).iter().sum::<usize>(), 7);
        let seq = mix.sequence(100);
        assert_eq!(seq.iter().filter(|t| **t == Tier::Premium).count(), 20);
        assert_eq!(seq[0], Tier::Standard);
        assert!("gold=1".parse::<TierMix>().is_err());
        assert!("standard=0".parse::<TierMix>().is_err());
    }

    #[test]
    fn targets_are_loopback_only() {
        let t = Target::parse("ws://127.0.0.1:8080").expect("loopback");
        assert_eq!(t.ws_url, "ws://127.0.0.1:8080/ws");
        assert!(Target::parse("http://localhost:9/ws").is_ok());
        assert!(Target::parse("ws://10.0.0.1:80").is_err());
        assert!(Target::parse("wss://127.0.0.1:1").is_err());
    }

    #[test]
    fn needs_a_target_and_tokens() {
        let a = Args::parse_from(["x", "--url", "ws://127.0.0.1:1"]);
        assert!(Config::try_from(a).is_err());
        let a = Args::parse_from([
            "x",
            "--url",
            "ws://127.0.0.1:1,ws://127.0.0.1:2",
            "--jwt-secret",
            "s",
        ]);
        assert_eq!(Config::try_from(a).expect("valid").targets.len(), 2);
    }
}
