//! Configuration: command-line flags with `SWITCHBOARD_*` environment
//! equivalents, validated into [`Settings`] (the `settings` module) before
//! anything starts. It sits on top of the crate: only `main` names it.
//!
//! Every mistake is reported as one sentence naming the flag; the binary
//! prints it and exits without a panic or a backtrace.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::archive::postgres::PgArchive;
use crate::archive::Archive;
use crate::assets::SELF_ANCESTOR;
use crate::domain::{TierBoosts, UserId};
use crate::http::{exact_origin, origin_of_url};
use crate::keys::{check_key_url, JwtSettings, KeySource};
use crate::settings::{ArchiveSettings, Engine, Settings};
use crate::store::inbox::MessageSla;
use crate::store::Graces;

/// Command-line flags (and their environment equivalents).
#[derive(Debug, Clone, Parser)]
#[command(
    name = "switchboard",
    version,
    about = "Live-chat hub for a card issuer's customer service"
)]
pub struct Cli {
    /// Address to listen on.
    #[arg(long, env = "SWITCHBOARD_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: String,
    /// The URL browsers reach the hub at (e.g. https://chat.example.com), whose
    /// origin may open browser WebSockets. Absent: http://<listen address>
    /// (and http://localhost:<port> when listening on a loopback address).
    #[arg(long, env = "SWITCHBOARD_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Redis URL (e.g. redis://127.0.0.1:6379). Absent: the built-in in-memory engine, one node only.
    #[arg(long, env = "SWITCHBOARD_REDIS_URL")]
    pub redis_url: Option<String>,
    /// Redis Sentinels (`host:port,host:port,…`), instead of --redis-url:
    /// the hub uses the primary they name and follows it across a failover.
    #[arg(long, env = "SWITCHBOARD_REDIS_SENTINEL", conflicts_with = "redis_url")]
    pub redis_sentinel: Option<String>,
    /// The master name the Sentinels monitor (with --redis-sentinel).
    #[arg(long, env = "SWITCHBOARD_REDIS_SENTINEL_MASTER")]
    pub redis_sentinel_master: Option<String>,
    /// Acknowledge a message only once this many Redis replicas hold it
    /// (`WAIT`), so an acknowledged message survives losing the primary; 0: off.
    #[arg(long, env = "SWITCHBOARD_REDIS_WAIT_REPLICAS", default_value_t = 0)]
    pub redis_wait_replicas: u32,
    /// Prefix of every Redis key, so several hubs can share one Redis.
    #[arg(long, env = "SWITCHBOARD_REDIS_PREFIX", default_value = "sb")]
    pub redis_prefix: String,
    /// HS256 shared secret for cardholder and agent tokens.
    #[arg(long, env = "SWITCHBOARD_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// PEM public key file (RSA => RS256, EC P-256 => ES256).
    #[arg(long, env = "SWITCHBOARD_JWT_PUBLIC_KEY")]
    pub jwt_public_key: Option<PathBuf>,
    /// JWKS file (keys picked by `kid`); re-read when it changes.
    #[arg(long, env = "SWITCHBOARD_JWKS_FILE")]
    pub jwks_file: Option<PathBuf>,
    /// The issuer's JWKS endpoint (https://; http:// only to this machine), fetched at
    /// start-up and kept fresh.
    #[arg(long, env = "SWITCHBOARD_JWKS_URL")]
    pub jwks_url: Option<String>,
    /// OpenID issuer URL: its `/.well-known/openid-configuration` names the JWKS endpoint;
    /// also the required `iss` unless --jwt-issuer says otherwise.
    #[arg(long, env = "SWITCHBOARD_OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,
    /// Seconds between refreshes of --jwks-url / --oidc-issuer keys at most (sooner when the
    /// issuer's Cache-Control max-age says so).
    #[arg(long, env = "SWITCHBOARD_JWKS_REFRESH", default_value_t = crate::keys::DEFAULT_REFRESH_SECS)]
    pub jwks_refresh: u64,
    /// Longest token lifetime accepted, in seconds (`exp - iat`, or `exp - now` without `iat`).
    #[arg(long, env = "SWITCHBOARD_JWT_MAX_LIFETIME", default_value_t = crate::keys::DEFAULT_MAX_LIFETIME_SECS)]
    pub jwt_max_lifetime: u64,
    /// Required `iss` claim.
    #[arg(long, env = "SWITCHBOARD_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// Required `aud` claim.
    #[arg(long, env = "SWITCHBOARD_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// Exact origins allowed to open browser WebSockets besides the hub's
    /// own (see --public-url), comma-separated.
    #[arg(long, env = "SWITCHBOARD_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
    /// Origins allowed to show the agent pane in a frame (the issuer's agent
    /// desktop), comma-separated; `self` for the hub's own pages. Absent:
    /// nobody (with --dev: the hub's own demo page).
    #[arg(long, env = "SWITCHBOARD_FRAME_ANCESTORS", value_delimiter = ',')]
    pub frame_ancestors: Vec<String>,
    /// Developer mode: demo page at `/`, `POST /dev/token`, a made-up secret when none is given.
    #[arg(long, env = "SWITCHBOARD_DEV")]
    pub dev: bool,
    /// This node's id among hub nodes sharing one Redis (default: random).
    #[arg(long, env = "SWITCHBOARD_NODE_ID")]
    pub node_id: Option<String>,
    /// Routing boosts in seconds, e.g. `premium=120,business=60`.
    #[arg(
        long,
        env = "SWITCHBOARD_TIER_BOOST",
        default_value = DEFAULT_TIER_BOOST
    )]
    pub tier_boost: String,
    /// Reply targets of secure messages per tier, e.g.
    /// `premium=4h,standard=24h` (units s, m, h, d); they order the inboxes.
    #[arg(long, env = "SWITCHBOARD_MESSAGE_SLA", default_value = "")]
    pub message_sla: String,
    /// Seconds a queued cardholder who disconnected keeps the place.
    #[arg(long, env = "SWITCHBOARD_CARDHOLDER_GRACE", default_value_t = DEFAULT_CARDHOLDER_GRACE_S)]
    pub cardholder_grace: u64,
    /// Seconds an agent who disconnected keeps its chats.
    #[arg(long, env = "SWITCHBOARD_AGENT_GRACE", default_value_t = DEFAULT_AGENT_GRACE_S)]
    pub agent_grace: u64,
    /// Seconds an ended conversation (record, transcript, idempotency keys)
    /// and a closed callback request stay in the store before they expire.
    #[arg(long, env = "SWITCHBOARD_HOT_RETENTION", default_value_t = DEFAULT_HOT_RETENTION_S)]
    pub hot_retention: u64,
    /// How often this node tells the others on its Redis that it is alive
    /// (seconds, or e.g. `500ms`).
    #[arg(long, env = "SWITCHBOARD_NODE_HEARTBEAT", default_value = DEFAULT_NODE_HEARTBEAT)]
    pub node_heartbeat: String,
    /// A node silent for this long is declared dead by the others, and its
    /// users' grace periods start (seconds, or e.g. `2500ms`).
    #[arg(long, env = "SWITCHBOARD_NODE_TIMEOUT", default_value = DEFAULT_NODE_TIMEOUT)]
    pub node_timeout: String,
    /// Delivery lag above which this node reports not ready (`/readyz` 503);
    /// from half of it, it refuses new `start`s and `say`s with `busy`
    /// (seconds, or e.g. `1500ms`).
    #[arg(long, env = "SWITCHBOARD_MAX_EVENT_LAG", default_value = DEFAULT_MAX_EVENT_LAG)]
    pub max_event_lag: String,
    /// Service-level target in seconds: a supervisor's overview shows the share
    /// of recently answered chats that waited at most this long.
    #[arg(long, env = "SWITCHBOARD_SLA_SECONDS", default_value_t = DEFAULT_SLA_SECONDS)]
    pub sla_seconds: u64,
    /// JSON file of canned replies per team (`{"standard": [{"shortcut", "title", "text"}], …}`),
    /// sent to agents in their `welcome`.
    #[arg(long, env = "SWITCHBOARD_CANNED_REPLIES")]
    pub canned_replies: Option<PathBuf>,
    /// Most simultaneous authenticated WebSocket connections this node accepts.
    #[arg(long, env = "SWITCHBOARD_MAX_CONNECTIONS", default_value_t = DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// Most simultaneous connections of one user (app, website, tabs); one
    /// more closes the oldest with 4409.
    #[arg(long, env = "SWITCHBOARD_MAX_CONNECTIONS_PER_USER", default_value_t = MAX_CONNECTIONS_PER_USER)]
    pub max_connections_per_user: usize,
    /// Most simultaneous WebSocket connections still waiting for their `auth`
    /// frame (a budget of their own, so they never take real users' slots).
    #[arg(long, env = "SWITCHBOARD_MAX_PENDING_AUTH", default_value_t = DEFAULT_MAX_PENDING_AUTH)]
    pub max_pending_auth: usize,
    /// Threads that run connections (default: one per core, less one when
    /// --redis-url names this machine, so Redis keeps a core of its own: see
    /// docs/operations.md).
    #[arg(long, env = "SWITCHBOARD_WORKERS", value_parser = parse_workers)]
    pub workers: Option<usize>,
    /// Log as JSON lines instead of text.
    #[arg(long, env = "SWITCHBOARD_LOG_JSON")]
    pub log_json: bool,
    /// PostgreSQL URL of the archive (e.g. postgres://switchboard@db/switchboard): every
    /// ended conversation and closed callback request is kept there; needs --redis-url.
    /// Absent: nothing outlives --hot-retention (the in-memory engine keeps history in memory).
    #[arg(
        long,
        env = "SWITCHBOARD_ARCHIVE_URL",
        global = true,
        hide_env_values = true
    )]
    pub archive_url: Option<String>,
    /// Days archived conversations and callback requests are kept before they are purged.
    #[arg(long, env = "SWITCHBOARD_ARCHIVE_RETENTION_DAYS", default_value_t = crate::archive::DEFAULT_RETENTION_DAYS)]
    pub archive_retention_days: u64,
    /// The issuer's push service: when an agent writes to a cardholder
    /// connected nowhere, the hub POSTs `{event, id, sub, conversation, at}`
    /// here, signed with --notify-secret (docs/messaging.md).
    #[arg(long, env = "SWITCHBOARD_NOTIFY_URL")]
    pub notify_url: Option<String>,
    /// The HMAC-SHA256 key of the Standard Webhooks `webhook-signature` header: `whsec_` and
    /// the key in base64 (at least 16 bytes), or any text of at least 16 characters, taken as
    /// its bytes.
    #[arg(long, env = "SWITCHBOARD_NOTIFY_SECRET", hide_env_values = true)]
    pub notify_secret: Option<String>,
    /// JSON file of opening hours per team (`{"standard": {"zone", "weekly", "holidays"}, …}`,
    /// docs/messaging.md); teams not in it are always open.
    #[arg(long, env = "SWITCHBOARD_HOURS")]
    pub hours: Option<PathBuf>,
    /// Seconds a live chat waits before its `queued` frames offer a secure
    /// message instead (also offered at once when no agent is signed in or the team is closed).
    #[arg(long, env = "SWITCHBOARD_OFFER_MESSAGE_AFTER", default_value_t = DEFAULT_OFFER_MESSAGE_AFTER_S)]
    pub offer_message_after: u64,
    /// Most entries one conversation holds; past it, `say` gets `transcript_full`
    /// (the agent can still end or transfer it).
    #[arg(long, env = "SWITCHBOARD_MAX_TRANSCRIPT_ENTRIES", default_value_t = crate::store::DEFAULT_MAX_TRANSCRIPT_ENTRIES)]
    pub max_transcript_entries: u64,
    /// Most bytes of typed text (UTF-8) one conversation holds (default 2 MB,
    /// 2,000,000 bytes); past it, `say` gets `transcript_full`.
    #[arg(long, env = "SWITCHBOARD_MAX_TRANSCRIPT_BYTES", default_value_t = crate::store::DEFAULT_MAX_TRANSCRIPT_BYTES)]
    pub max_transcript_bytes: u64,
    /// Bytes of typed text (`say`, `start`) one user may send per second,
    /// sustained, across their connections to this node; past it, `rate_limited`.
    #[arg(long, env = "SWITCHBOARD_MAX_TEXT_BYTES_PER_SEC", default_value_t = DEFAULT_MAX_TEXT_BYTES_PER_SEC)]
    pub max_text_bytes_per_sec: u64,
    /// Bytes of typed text one user may send at once before --max-text-bytes-per-sec
    /// applies (at least 16000: the longest message must pass when idle).
    #[arg(long, env = "SWITCHBOARD_MAX_TEXT_BURST_BYTES", default_value_t = DEFAULT_MAX_TEXT_BURST_BYTES)]
    pub max_text_burst_bytes: u64,
    /// Something other than serving the hub.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// `switchboard <command>`: tools beside the hub itself.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// The archive (needs --archive-url).
    #[command(subcommand)]
    Archive(ArchiveCommand),
}

/// `switchboard archive <command>`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ArchiveCommand {
    /// Print one cardholder's archived conversations (with transcripts) and
    /// callback requests as JSON on stdout (a right-of-access request).
    Export {
        /// The cardholder's id (the token's `sub`).
        #[arg(long)]
        sub: String,
    },
}

/// SPEC's default for `--max-connections-per-user`.
pub const MAX_CONNECTIONS_PER_USER: usize = 5;

/// `--listen`'s default.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// `--tier-boost`'s default (SPEC: premium 120 s, business 60 s).
pub const DEFAULT_TIER_BOOST: &str = "premium=120,business=60";

/// `--cardholder-grace`'s default, in seconds (SPEC).
pub const DEFAULT_CARDHOLDER_GRACE_S: u64 = 60;

/// `--agent-grace`'s default, in seconds (SPEC).
pub const DEFAULT_AGENT_GRACE_S: u64 = 30;

/// `--hot-retention`'s default, in seconds (SPEC: 24 h).
pub const DEFAULT_HOT_RETENTION_S: u64 = 86_400;

/// `--offer-message-after`'s default, in seconds.
pub const DEFAULT_OFFER_MESSAGE_AFTER_S: u64 = 120;

/// `--sla-seconds` default (SPEC: 60).
pub const DEFAULT_SLA_SECONDS: u64 = 60;

/// `--node-heartbeat`'s default (1 s).
pub const DEFAULT_NODE_HEARTBEAT: &str = "1";

/// `--node-timeout`'s default (SPEC: a silent node is declared dead within 5 s).
pub const DEFAULT_NODE_TIMEOUT: &str = "5";

/// `--max-event-lag`'s default (SPEC: 2 s).
pub const DEFAULT_MAX_EVENT_LAG: &str = "2";

/// `--max-connections`' default: authenticated connections one node carries
/// (an idle connection costs a few KiB; see docs/memory.md).
pub const DEFAULT_MAX_CONNECTIONS: usize = 20_000;

/// `--max-pending-auth`'s default (SPEC): connections still authenticating.
pub const DEFAULT_MAX_PENDING_AUTH: usize = 1_000;

/// An HTTP request whose headers are not complete within this is dropped
/// (SPEC), so half-sent requests cannot hold sockets open (slowloris).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A browser must send its `auth` frame within this of the upgrade (SPEC).
pub const AUTH_TIMEOUT: Duration = Duration::from_secs(10);

/// Ping interval; a peer silent for three of them is closed.
pub const HEARTBEAT: Duration = Duration::from_secs(20);

/// How long shutdown waits for connections to close.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Frames a connection may send in a burst before it is rate limited.
pub const RATE_BURST: f64 = 30.0;

/// Sustained frames per second a connection may send (a person types far
/// slower; this leaves room for typing indicators and read receipts).
pub const RATE_PER_SEC: f64 = 10.0;

/// `--max-text-bytes-per-sec`'s default: 16 KiB a second, far above anyone
/// typing and room for a paste every second.
pub const DEFAULT_MAX_TEXT_BYTES_PER_SEC: u64 = 16 * 1024;

/// `--max-text-burst-bytes`' default: 64 KiB, four of the longest messages
/// (4,000 characters of up to 4 bytes) at once.
pub const DEFAULT_MAX_TEXT_BURST_BYTES: u64 = 64 * 1024;

/// The least `--max-text-burst-bytes`: the longest message (4,000 characters
/// of up to 4 bytes each) always passes when the user was idle.
pub const MIN_TEXT_BURST_BYTES: u64 = crate::protocol::MAX_TEXT_CHARS as u64 * 4;

/// How long an archiver's entry may sit unacknowledged before another node
/// takes it over (the archiver died between commit and acknowledgement).
pub const ARCHIVE_CLAIM_IDLE: Duration = Duration::from_secs(60);

/// Refuses a flag that must be at least 1 but is 0, in one sentence:
/// "`flag` must be at least 1`unit`" (`unit`: "" or " second").
fn at_least_one<T: Default + PartialEq>(
    value: T,
    flag: &str,
    unit: &str,
) -> Result<(), ConfigError> {
    if value == T::default() {
        return Err(ConfigError(format!("{flag} must be at least 1{unit}")));
    }
    Ok(())
}

/// A configuration mistake, in one sentence.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl Cli {
    /// The listen address.
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen.parse().map_err(|_| {
            ConfigError(format!(
                "--listen `{}` is not an address like 127.0.0.1:8080",
                self.listen
            ))
        })
    }

    /// How many threads run connections on a machine of `cores` cores, and
    /// why: `--workers` when given; else one per core, less one (at least
    /// one) when `--redis-url` names this machine. Redis runs every step on
    /// one thread, on the path of every message: a node that takes every
    /// core competes with it, and its own threads wake each other for
    /// nothing (docs/operations.md has the figures).
    pub fn runtime_threads(&self, cores: usize) -> (usize, ThreadsChosenBy) {
        let cores = cores.max(1);
        match self.workers {
            Some(n) => (n, ThreadsChosenBy::Flag),
            None if self.redis_url.as_deref().is_some_and(names_this_machine) => {
                ((cores - 1).max(1), ThreadsChosenBy::RedisOnThisMachine)
            }
            None => (cores, ThreadsChosenBy::Cores),
        }
    }

    /// `--max-transcript-entries` and `--max-transcript-bytes`, each at least 1.
    fn transcript_bounds(&self) -> Result<crate::store::TranscriptBounds, ConfigError> {
        at_least_one(self.max_transcript_entries, "--max-transcript-entries", "")?;
        at_least_one(self.max_transcript_bytes, "--max-transcript-bytes", "")?;
        Ok(crate::store::TranscriptBounds {
            entries: self.max_transcript_entries,
            bytes: self.max_transcript_bytes,
        })
    }

    /// Validates the flags into settings.
    pub fn settings(&self) -> Result<Settings, ConfigError> {
        let keys_given = [
            self.jwt_secret.is_some(),
            self.jwt_public_key.is_some(),
            self.jwks_file.is_some(),
            self.jwks_url.is_some(),
            self.oidc_issuer.is_some(),
        ]
        .iter()
        .filter(|g| **g)
        .count();
        if keys_given > 1 {
            return Err(ConfigError(
                "give only one of --jwt-secret, --jwt-public-key, --jwks-file, --jwks-url and --oidc-issuer".into(),
            ));
        }
        let read = |path: &PathBuf, flag: &str| {
            std::fs::read(path).map_err(|e| ConfigError(format!("{flag} {}: {e}", path.display())))
        };
        let mut dev_secret = None;
        let keys = if let Some(secret) = &self.jwt_secret {
            if secret.len() < 16 {
                return Err(ConfigError(
                    "--jwt-secret must be at least 16 characters".into(),
                ));
            }
            dev_secret = Some(secret.as_bytes().to_vec());
            KeySource::Hs256Secret(secret.as_bytes().to_vec())
        } else if let Some(path) = &self.jwt_public_key {
            KeySource::PublicKeyPem(read(path, "--jwt-public-key")?)
        } else if let Some(path) = &self.jwks_file {
            KeySource::JwksFile(path.clone())
        } else if let Some(url) = &self.jwks_url {
            check_key_url(url).map_err(|e| ConfigError(format!("--jwks-url: {e}")))?;
            KeySource::JwksUrl(url.clone())
        } else if let Some(url) = &self.oidc_issuer {
            check_key_url(url).map_err(|e| ConfigError(format!("--oidc-issuer: {e}")))?;
            KeySource::OidcIssuer(url.clone())
        } else if self.dev {
            let secret: [u8; 32] = rand::random();
            dev_secret = Some(secret.to_vec());
            KeySource::Hs256Secret(secret.to_vec())
        } else {
            return Err(ConfigError(
                "no token key: give --jwt-secret, --jwt-public-key, --jwks-file, --jwks-url or --oidc-issuer (or --dev to try the hub)".into(),
            ));
        };
        let boosts: TierBoosts = self
            .tier_boost
            .parse()
            .map_err(|e| ConfigError(format!("--tier-boost: {e}")))?;
        let message_sla: MessageSla = self
            .message_sla
            .parse()
            .map_err(|e| ConfigError(format!("--message-sla: {e}")))?;
        let allowed_origins = self
            .allowed_origins
            .iter()
            .map(|o| {
                exact_origin(o).ok_or_else(|| {
                    ConfigError(format!(
                        "--allowed-origins: `{o}` is not an exact origin like https://bank.example"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let public_origin = self
            .public_url
            .as_deref()
            .map(|u| {
                origin_of_url(u).ok_or_else(|| {
                    ConfigError(format!(
                        "--public-url: `{u}` is not an http(s) URL like https://chat.example.com"
                    ))
                })
            })
            .transpose()?;
        let frame_ancestors = self
            .frame_ancestors
            .iter()
            .map(|o| match o.as_str() {
                "self" | "'self'" => Ok(SELF_ANCESTOR.to_owned()),
                _ => exact_origin(o).ok_or_else(|| {
                    ConfigError(format!(
                        "--frame-ancestors: `{o}` is neither `self` nor an exact origin like https://desk.bank.example"
                    ))
                }),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let url = match (&self.redis_url, &self.redis_sentinel, &self.redis_sentinel_master) {
            (Some(url), None, None) => Some(url.clone()),
            (None, Some(sentinels), Some(master)) if !sentinels.trim().is_empty() && !master.trim().is_empty() => {
                Some(format!("redis+sentinel://{}/{}", sentinels.trim(), master.trim()))
            }
            (None, Some(_), _) => {
                return Err(ConfigError(
                    "--redis-sentinel needs --redis-sentinel-master NAME (the master the Sentinels monitor)".into(),
                ))
            }
            (_, _, Some(_)) => {
                return Err(ConfigError(
                    "--redis-sentinel-master goes with --redis-sentinel host:port,…".into(),
                ))
            }
            (_, _, None) => None,
        };
        let engine = match url {
            Some(url) => Engine::Redis {
                url,
                prefix: self.redis_prefix.clone(),
                wait_replicas: self.redis_wait_replicas,
            },
            None if self.redis_wait_replicas > 0 => {
                return Err(ConfigError(
                    "--redis-wait-replicas needs Redis (--redis-url or --redis-sentinel): the in-memory engine has no replicas".into(),
                ))
            }
            None => Engine::Memory,
        };
        at_least_one(
            self.max_connections_per_user,
            "--max-connections-per-user",
            "",
        )?;
        at_least_one(self.max_connections, "--max-connections", "")?;
        at_least_one(self.hot_retention, "--hot-retention", " second")?;
        at_least_one(self.jwks_refresh, "--jwks-refresh", " second")?;
        at_least_one(self.jwt_max_lifetime, "--jwt-max-lifetime", " second")?;
        // An OpenID issuer's tokens name it in `iss`; checking that is what one expects.
        let issuer = self.jwt_issuer.clone().or_else(|| self.oidc_issuer.clone());
        at_least_one(self.max_pending_auth, "--max-pending-auth", "")?;
        let mut settings = Settings::with_keys(keys);
        settings.engine = engine;
        settings.jwt.issuer = issuer;
        settings.jwt.max_lifetime = Duration::from_secs(self.jwt_max_lifetime);
        settings.jwt.refresh = Duration::from_secs(self.jwks_refresh);
        settings.jwt.audience = self.jwt_audience.clone();
        settings.dev_secret = if self.dev { dev_secret } else { None };
        settings.dev = self.dev;
        settings.allowed_origins = allowed_origins;
        settings.public_origin = public_origin;
        settings.frame_ancestors = frame_ancestors;
        if let Some(id) = &self.node_id {
            settings.node_id = id.clone();
        }
        settings.boosts = boosts;
        settings.message_sla = message_sla;
        settings.graces = Graces {
            cardholder_ms: secs_to_ms(self.cardholder_grace),
            agent_ms: secs_to_ms(self.agent_grace),
        };
        settings.hot_retention_ms = secs_to_ms(self.hot_retention);
        settings.node_heartbeat = parse_duration("--node-heartbeat", &self.node_heartbeat)?;
        settings.node_timeout = parse_duration("--node-timeout", &self.node_timeout)?;
        if settings.node_timeout < settings.node_heartbeat * 2 {
            return Err(ConfigError(
                "--node-timeout must be at least twice --node-heartbeat, or a live node could be declared dead".into(),
            ));
        }
        at_least_one(self.archive_retention_days, "--archive-retention-days", "")?;
        settings.archive_retention_days = self.archive_retention_days;
        if let Some(url) = &self.archive_url {
            if self.redis_url.is_none() {
                return Err(ConfigError(
                    "--archive-url needs --redis-url (the in-memory engine keeps history in memory)".into(),
                ));
            }
            settings.archive = Some(archive_settings(url, self.archive_retention_days)?);
        }
        settings.max_event_lag = parse_duration("--max-event-lag", &self.max_event_lag)?;
        settings.max_connections = self.max_connections;
        settings.max_pending_auth = self.max_pending_auth;
        settings.max_connections_per_user = self.max_connections_per_user;
        at_least_one(self.sla_seconds, "--sla-seconds", "")?;
        settings.sla_seconds = self.sla_seconds;
        if let Some(path) = &self.canned_replies {
            settings.canned =
                std::sync::Arc::new(crate::canned::CannedReplies::load(path).map_err(ConfigError)?);
        }
        if let Some(path) = &self.hours {
            settings.hours =
                std::sync::Arc::new(crate::hours::Hours::load(path).map_err(ConfigError)?);
        }
        settings.offer_message_after = Duration::from_secs(self.offer_message_after);
        settings.transcript_bounds = self.transcript_bounds()?;
        at_least_one(self.max_text_bytes_per_sec, "--max-text-bytes-per-sec", "")?;
        if self.max_text_burst_bytes < MIN_TEXT_BURST_BYTES {
            return Err(ConfigError(format!(
                "--max-text-burst-bytes must be at least {MIN_TEXT_BURST_BYTES}, so that the longest message always passes"
            )));
        }
        settings.text_bytes_per_sec = self.max_text_bytes_per_sec;
        settings.text_burst_bytes = self.max_text_burst_bytes;
        settings.notify = match (&self.notify_url, &self.notify_secret) {
            (Some(url), Some(secret)) => {
                Some(crate::notify::NotifySettings::new(url, secret).map_err(ConfigError)?)
            }
            (None, None) => None,
            _ => {
                return Err(ConfigError(
                    "--notify-url and --notify-secret go together: give both or neither".into(),
                ))
            }
        };
        Ok(settings)
    }
}

/// Why a node runs the number of threads it does ([`Cli::runtime_threads`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadsChosenBy {
    /// `--workers`.
    Flag,
    /// One per core, less the one left to the Redis on this machine.
    RedisOnThisMachine,
    /// One per core.
    Cores,
}

/// Whether a Redis URL reaches this machine: a Unix socket, `localhost`, or
/// a loopback address. Another name may resolve here too; such a node runs
/// one thread per core unless told otherwise.
fn names_this_machine(redis_url: &str) -> bool {
    let Ok(url) = url::Url::parse(redis_url) else {
        return false;
    };
    if matches!(url.scheme(), "unix" | "redis+unix") {
        return true;
    }
    match url.host() {
        // `redis:` is no special scheme to the URL parser: its addresses
        // come back as names.
        Some(url::Host::Domain(name)) => {
            name.eq_ignore_ascii_case("localhost")
                || name
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// `--workers`: a whole number of threads, at least one.
fn parse_workers(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "expected a number of threads of at least 1, got {text:?}"
        )),
    }
}

/// A duration flag: seconds (`5`, `0.5`) or milliseconds (`500ms`), more
/// than zero and at most an hour.
fn parse_duration(flag: &str, text: &str) -> Result<Duration, ConfigError> {
    let t = text.trim();
    let parsed = if let Some(ms) = t.strip_suffix("ms") {
        ms.trim().parse::<u64>().ok().map(Duration::from_millis)
    } else {
        t.strip_suffix('s')
            .unwrap_or(t)
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0 && *s <= 3600.0)
            .map(Duration::from_secs_f64)
    };
    match parsed {
        Some(d) if d >= Duration::from_millis(10) && d <= Duration::from_secs(3600) => Ok(d),
        _ => Err(ConfigError(format!(
            "{flag} `{text}` is not a duration like 5, 0.5 or 500ms (10ms to 3600s)"
        ))),
    }
}

/// Checks `--archive-url` (a `postgres://` or `postgresql://` URL).
pub fn archive_settings(url: &str, retention_days: u64) -> Result<ArchiveSettings, ConfigError> {
    let scheme_ok = url.starts_with("postgres://") || url.starts_with("postgresql://");
    if !scheme_ok || url.parse::<tokio_postgres::Config>().is_err() {
        return Err(ConfigError(
            "--archive-url is not a PostgreSQL URL like postgres://user@host:5432/database".into(),
        ));
    }
    Ok(ArchiveSettings {
        url: url.to_owned(),
        retention_days,
        claim_idle: ARCHIVE_CLAIM_IDLE,
    })
}

fn secs_to_ms(s: u64) -> i64 {
    i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX)
}

impl Settings {
    /// Settings for tests and embedding: HS256 with `secret`, in-memory
    /// engine, the defaults of the flags otherwise.
    pub fn for_secret(secret: &[u8]) -> Settings {
        Settings::with_keys(KeySource::Hs256Secret(secret.to_vec()))
    }

    /// Every setting at its default (the flags' defaults, from the same
    /// constants), with these token keys.
    fn with_keys(keys: KeySource) -> Settings {
        Settings {
            engine: Engine::Memory,
            jwt: JwtSettings::new(keys),
            dev_secret: None,
            dev: false,
            allowed_origins: Vec::new(),
            public_origin: None,
            frame_ancestors: Vec::new(),
            node_id: format!("node-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
            boosts: DEFAULT_TIER_BOOST.parse().unwrap_or_default(),
            message_sla: MessageSla::default(),
            graces: Graces {
                cardholder_ms: secs_to_ms(DEFAULT_CARDHOLDER_GRACE_S),
                agent_ms: secs_to_ms(DEFAULT_AGENT_GRACE_S),
            },
            hot_retention_ms: secs_to_ms(DEFAULT_HOT_RETENTION_S),
            archive: None,
            archive_retention_days: crate::archive::DEFAULT_RETENTION_DAYS,
            node_heartbeat: Duration::from_secs(1),
            node_timeout: Duration::from_secs(5),
            max_event_lag: Duration::from_secs(2),
            auth_timeout: AUTH_TIMEOUT,
            heartbeat: HEARTBEAT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_pending_auth: DEFAULT_MAX_PENDING_AUTH,
            max_connections_per_user: MAX_CONNECTIONS_PER_USER,
            header_read_timeout: HEADER_READ_TIMEOUT,
            drain_timeout: DRAIN_TIMEOUT,
            sla_seconds: DEFAULT_SLA_SECONDS,
            canned: Default::default(),
            rate_burst: RATE_BURST,
            rate_per_sec: RATE_PER_SEC,
            transcript_bounds: crate::store::TranscriptBounds::default(),
            text_burst_bytes: DEFAULT_MAX_TEXT_BURST_BYTES,
            text_bytes_per_sec: DEFAULT_MAX_TEXT_BYTES_PER_SEC,
            notify: None,
            hours: Default::default(),
            offer_message_after: Duration::from_secs(DEFAULT_OFFER_MESSAGE_AFTER_S),
        }
    }
}

/// `switchboard archive export`: one cardholder's archive at `url` as
/// pretty JSON, or what went wrong in one sentence.
pub async fn export_json(url: &str, sub: &UserId) -> Result<String, String> {
    let settings =
        archive_settings(url, crate::archive::DEFAULT_RETENTION_DAYS).map_err(|e| e.to_string())?;
    let archive = PgArchive::new(&settings.url).map_err(|e| e.to_string())?;
    archive.migrate().await.map_err(|e| e.to_string())?;
    let export = archive.export(sub).await.map_err(|e| e.to_string())?;
    serde_json::to_string_pretty(&export).map_err(|e| format!("cannot write the export: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redis_on_this_machine_keeps_a_core_of_its_own() {
        let threads = |args: &[&str], cores| {
            let mut all = vec!["switchboard"];
            all.extend_from_slice(args);
            Cli::try_parse_from(all)
                .expect("parses")
                .runtime_threads(cores)
        };
        use ThreadsChosenBy::*;
        for local in [
            "redis://127.0.0.1:6379",
            "redis://127.0.0.2:7000/0",
            "redis://LOCALHOST:6379",
            "redis://[::1]:6379",
            "redis+unix:///run/redis.sock",
            "unix:///run/redis.sock",
        ] {
            assert_eq!(
                threads(&["--redis-url", local], 2),
                (1, RedisOnThisMachine),
                "{local}"
            );
            assert_eq!(
                threads(&["--redis-url", local], 8),
                (7, RedisOnThisMachine),
                "{local}"
            );
            assert_eq!(
                threads(&["--redis-url", local], 1),
                (1, RedisOnThisMachine),
                "{local}"
            );
        }
        for elsewhere in [
            "redis://10.0.0.5:6379",
            "redis://cache.bank.internal",
            "rediss://[2001:db8::1]:6380",
            "not a url",
        ] {
            assert_eq!(
                threads(&["--redis-url", elsewhere], 2),
                (2, Cores),
                "{elsewhere}"
            );
        }
        // The in-memory engine has no Redis; Sentinels name no primary until asked.
        assert_eq!(threads(&[], 4), (4, Cores));
        let sentinel = [
            "--redis-sentinel",
            "127.0.0.1:26379",
            "--redis-sentinel-master",
            "m",
        ];
        assert_eq!(threads(&sentinel, 4), (4, Cores));
        // The flag wins, and a machine whose cores cannot be counted has one.
        assert_eq!(
            threads(&["--redis-url", "redis://127.0.0.1", "--workers", "2"], 2),
            (2, Flag)
        );
        assert_eq!(threads(&["--workers", "3"], 0), (3, Flag));
        assert_eq!(threads(&[], 0), (1, Cores));
    }

    #[test]
    fn workers_are_a_whole_number_of_at_least_one() {
        assert_eq!(parse_workers("1"), Ok(1));
        assert_eq!(parse_workers(" 4 "), Ok(4));
        for bad in ["0", "-1", "two", "1.5", ""] {
            let e = parse_workers(bad).expect_err(bad);
            assert!(e.contains("at least 1"), "{e}");
        }
        let cli = Cli::try_parse_from(["switchboard", "--workers", "1"]).expect("parses");
        assert_eq!(cli.workers, Some(1));
        assert!(Cli::try_parse_from(["switchboard", "--workers", "0"]).is_err());
    }

    fn cli(args: &[&str]) -> Cli {
        let mut all = vec!["switchboard", "--jwt-secret", "a-secret-of-sixteen-plus"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).expect("flags parse")
    }

    fn refused(args: &[&str]) -> String {
        match cli(args).settings() {
            Ok(_) => panic!("{args:?} must be refused"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn sentinel_flags_become_a_sentinel_address() {
        let s = cli(&[
            "--redis-sentinel",
            "a:26379,b:26379",
            "--redis-sentinel-master",
            "main",
        ])
        .settings()
        .expect("valid");
        assert!(matches!(
            s.engine,
            Engine::Redis { ref url, .. } if url == "redis+sentinel://a:26379,b:26379/main"
        ));
        assert!(refused(&["--redis-sentinel", "a:26379"]).contains("--redis-sentinel-master"));
        assert!(refused(&["--redis-wait-replicas", "1"]).contains("needs Redis"));
        assert!(refused(&["--redis-sentinel-master", "main"]).contains("--redis-sentinel"));
    }

    #[test]
    fn node_timing_flags() {
        let s = cli(&["--node-heartbeat", "200ms", "--node-timeout", "1.5"])
            .settings()
            .expect("valid");
        assert_eq!(s.node_heartbeat, Duration::from_millis(200));
        assert_eq!(s.node_timeout, Duration::from_millis(1500));
        assert!(refused(&["--node-heartbeat", "2", "--node-timeout", "3"]).contains("twice"));
        assert!(refused(&["--node-timeout", "soon"]).contains("--node-timeout"));
        assert!(refused(&["--node-heartbeat", "0"]).contains("--node-heartbeat"));
    }

    #[test]
    fn flag_defaults_and_for_secret_agree() {
        let from_flags = cli(&[]).settings().expect("valid");
        let embedded = Settings::for_secret(b"a-secret-of-sixteen-plus");
        assert_eq!(from_flags.node_heartbeat, embedded.node_heartbeat);
        assert_eq!(from_flags.node_timeout, embedded.node_timeout);
        assert_eq!(from_flags.node_timeout, Duration::from_secs(5));
        assert_eq!(from_flags.max_event_lag, embedded.max_event_lag);
        assert_eq!(from_flags.max_event_lag, Duration::from_secs(2));
        assert_eq!(from_flags.boosts, embedded.boosts);
        assert_eq!(from_flags.boosts, TierBoosts::default());
        assert_eq!(
            (from_flags.graces.cardholder_ms, from_flags.graces.agent_ms),
            (embedded.graces.cardholder_ms, embedded.graces.agent_ms)
        );
        let store_default = Graces::default();
        assert_eq!(
            (store_default.cardholder_ms, store_default.agent_ms),
            (embedded.graces.cardholder_ms, embedded.graces.agent_ms)
        );
        assert_eq!(from_flags.max_connections, embedded.max_connections);
        assert_eq!(from_flags.max_pending_auth, embedded.max_pending_auth);
        assert_eq!(from_flags.max_pending_auth, 1_000);
        assert_eq!(from_flags.header_read_timeout, Duration::from_secs(10));
        assert_eq!(from_flags.header_read_timeout, embedded.header_read_timeout);
        assert_eq!(from_flags.auth_timeout, embedded.auth_timeout);
        assert_eq!(from_flags.heartbeat, embedded.heartbeat);
        assert_eq!(from_flags.drain_timeout, embedded.drain_timeout);
        assert_eq!(from_flags.allowed_origins, embedded.allowed_origins);
        assert_eq!(from_flags.public_origin, embedded.public_origin);
        assert_eq!(from_flags.frame_ancestors, embedded.frame_ancestors);
        assert_eq!(from_flags.dev, embedded.dev);
        assert_eq!(from_flags.hot_retention_ms, embedded.hot_retention_ms);
        assert_eq!(
            from_flags.hot_retention_ms,
            crate::store::DEFAULT_HOT_RETENTION_MS
        );
        assert_eq!(
            cli(&[]).listen_addr().expect("addr").to_string(),
            DEFAULT_LISTEN
        );
        assert_eq!(
            from_flags.archive_retention_days,
            embedded.archive_retention_days
        );
        assert_eq!(from_flags.archive_retention_days, 2555);
        assert!(from_flags.archive.is_none() && embedded.archive.is_none());
    }

    #[test]
    fn archive_flags_and_the_export_command() {
        let redis = ["--redis-url", "redis://127.0.0.1:6379"];
        let url = "postgres://postgres@127.0.0.1:5432/switchboard";
        let s = cli(&[
            &redis[..],
            &["--archive-url", url, "--archive-retention-days", "30"],
        ]
        .concat())
        .settings()
        .expect("valid");
        let a = s.archive.expect("an archive");
        assert_eq!((a.url.as_str(), a.retention_days), (url, 30));
        assert_eq!(a.claim_idle, ARCHIVE_CLAIM_IDLE);
        assert!(refused(&["--archive-url", url]).contains("--archive-url needs --redis-url"));
        assert!(
            refused(&[&redis[..], &["--archive-url", "mysql://db/x"]].concat())
                .contains("--archive-url is not a PostgreSQL URL")
        );
        assert!(refused(&["--archive-retention-days", "0"]).contains("at least 1"));
        // The hub's own start stays `switchboard [flags]`; the export is a subcommand.
        assert!(cli(&[]).command.is_none());
        let export = cli(&["archive", "export", "--sub", "ada", "--archive-url", url]);
        assert_eq!(export.archive_url.as_deref(), Some(url));
        match export.command {
            Some(Command::Archive(ArchiveCommand::Export { sub })) => assert_eq!(sub, "ada"),
            other => panic!("not the export: {other:?}"),
        }
    }

    #[test]
    fn limits_must_be_positive() {
        assert!(refused(&["--max-connections", "0"]).contains("--max-connections"));
        assert!(refused(&["--max-pending-auth", "0"]).contains("--max-pending-auth"));
        let s = cli(&["--max-connections", "5", "--max-pending-auth", "7"])
            .settings()
            .expect("valid");
        assert_eq!((s.max_connections, s.max_pending_auth), (5, 7));
        assert!(refused(&["--hot-retention", "0"]).contains("--hot-retention"));
        let s = cli(&["--hot-retention", "90"]).settings().expect("valid");
        assert_eq!(s.hot_retention_ms, 90_000);
    }

    #[test]
    fn origins_are_normalised_or_refused() {
        let s = cli(&[
            "--allowed-origins",
            "https://Bank.Example:443,http://shop.example:8080/",
        ])
        .settings()
        .expect("valid");
        assert_eq!(
            s.allowed_origins,
            ["https://bank.example", "http://shop.example:8080"]
        );
        for bad in [
            "bank.example",
            "https://bank.example/chat",
            "https://bank.example?x=1",
            "ftp://bank.example",
            "https://user@bank.example",
            "null",
        ] {
            assert!(
                refused(&["--allowed-origins", bad]).contains("--allowed-origins"),
                "{bad}"
            );
        }
    }

    #[test]
    fn public_url_gives_the_hubs_origin() {
        let s = cli(&["--public-url", "https://chat.example.com/hub/"])
            .settings()
            .expect("valid");
        assert_eq!(s.public_origin.as_deref(), Some("https://chat.example.com"));
        for bad in ["chat.example.com", "ws://chat.example.com", "https://"] {
            assert!(
                refused(&["--public-url", bad]).contains("--public-url"),
                "{bad}"
            );
        }
    }

    #[test]
    fn frame_ancestors_take_origins_and_self() {
        let s = cli(&["--frame-ancestors", "self,https://desk.bank.example"])
            .settings()
            .expect("valid");
        assert_eq!(s.frame_ancestors, ["'self'", "https://desk.bank.example"]);
        assert!(refused(&["--frame-ancestors", "*"]).contains("--frame-ancestors"));
        assert!(
            refused(&["--frame-ancestors", "https://a.example; script-src *"])
                .contains("--frame-ancestors")
        );
    }

    fn settings(args: &[&str]) -> Result<Settings, ConfigError> {
        let mut argv = vec!["switchboard"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).expect("flags parse").settings()
    }

    fn refused_bare(args: &[&str]) -> String {
        settings(args).expect_err("must be refused").0
    }

    #[test]
    fn key_urls_and_their_defaults() {
        let s = settings(&["--jwks-url", "https://login.example/jwks"]).expect("valid");
        assert!(matches!(s.jwt.keys, KeySource::JwksUrl(_)));
        assert_eq!(s.jwt.refresh, Duration::from_secs(300));
        assert_eq!(s.jwt.max_lifetime, Duration::from_secs(86_400));
        assert_eq!(s.jwt.issuer, None);
        // An OpenID issuer is also the required `iss`, unless --jwt-issuer says otherwise.
        let s = settings(&["--oidc-issuer", "https://accounts.google.com"]).expect("valid");
        assert_eq!(s.jwt.issuer.as_deref(), Some("https://accounts.google.com"));
        let s = settings(&[
            "--oidc-issuer",
            "https://accounts.google.com",
            "--jwt-issuer",
            "accounts.google.com",
        ])
        .expect("valid");
        assert_eq!(s.jwt.issuer.as_deref(), Some("accounts.google.com"));
        let s = settings(&[
            "--jwks-url",
            "http://127.0.0.1:9000/jwks",
            "--jwks-refresh",
            "60",
            "--jwt-max-lifetime",
            "3600",
        ])
        .expect("loopback http is allowed");
        assert_eq!(s.jwt.refresh, Duration::from_secs(60));
        assert_eq!(s.jwt.max_lifetime, Duration::from_secs(3600));
    }

    #[test]
    fn bad_key_flags_are_one_sentence_naming_the_flag() {
        assert!(
            refused_bare(&["--jwks-url", "http://login.example/jwks"]).starts_with("--jwks-url")
        );
        assert!(refused_bare(&["--oidc-issuer", "login.example"]).starts_with("--oidc-issuer"));
        assert!(refused_bare(&[
            "--jwks-url",
            "https://login.example/jwks",
            "--jwt-secret",
            "0123456789abcdef0123"
        ])
        .contains("only one of"));
        assert!(refused_bare(&[
            "--jwks-url",
            "https://login.example/jwks",
            "--jwks-refresh",
            "0"
        ])
        .starts_with("--jwks-refresh"));
        assert!(
            refused_bare(&["--dev", "--jwt-max-lifetime", "0"]).starts_with("--jwt-max-lifetime")
        );
        assert!(refused_bare(&[]).contains("--jwks-url"));
    }

    #[test]
    fn canned_replies_are_read_from_their_file_and_a_bad_one_stops_start_up() {
        let dir = std::env::temp_dir().join(format!("sb-canned-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let good = dir.join("good.json");
        std::fs::write(
            &good,
            r#"{"standard": [{"shortcut": "hi", "title": "Hi", "text": "Hello!"}]}"#,
        )
        .expect("write");
        let bad = dir.join("bad.json");
        std::fs::write(&bad, r#"{"gold": []}"#).expect("write");

        let settings = cli(&["--canned-replies", good.to_str().unwrap_or_default()])
            .settings()
            .expect("valid");
        assert_eq!(settings.canned.len(), 1);
        assert!(cli(&[]).settings().expect("valid").canned.is_empty());
        let err = cli(&["--canned-replies", bad.to_str().unwrap_or_default()])
            .settings()
            .expect_err("unknown team");
        assert!(
            err.0.starts_with("--canned-replies ") && err.0.contains("gold"),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn hours_and_notifications_are_checked_at_start_up() {
        let dir = std::env::temp_dir().join(format!("sb-hours-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let (good, bad) = (dir.join("good.json"), dir.join("bad.json"));
        std::fs::write(
            &good,
            r#"{"standard": {"zone": "Europe/London", "weekly": {}}}"#,
        )
        .expect("write");
        std::fs::write(&bad, r#"{"standard": {"zone": "Nowhere/Land"}}"#).expect("write");
        let path = |p: &std::path::Path| p.to_str().unwrap_or_default().to_owned();
        let s = cli(&["--hours", &path(&good), "--offer-message-after", "30"])
            .settings()
            .expect("valid");
        assert!(!s.hours.is_empty());
        assert_eq!(s.offer_message_after, Duration::from_secs(30));
        let err = refused(&["--hours", &path(&bad)]);
        assert!(
            err.starts_with("--hours ") && err.contains("Nowhere/Land"),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(dir);

        assert!(cli(&[]).settings().expect("valid").notify.is_none());
        let n = cli(&[
            "--notify-url",
            "https://push.example/switchboard",
            "--notify-secret",
            "a-push-secret-of-16+",
        ])
        .settings()
        .expect("valid")
        .notify
        .expect("notifying");
        assert_eq!(n.url.as_str(), "https://push.example/switchboard");
        assert!(refused(&["--notify-url", "https://push.example/n"]).contains("--notify-secret"));
        assert!(refused(&[
            "--notify-url",
            "push.example",
            "--notify-secret",
            "a-push-secret-of-16+"
        ])
        .contains("--notify-url"));
    }

    #[test]
    fn transcript_bounds_and_typing_rate_flags() {
        let defaults = cli(&[]).settings().expect("valid");
        let embedded = Settings::for_secret(b"a-secret-of-sixteen-plus");
        assert_eq!(defaults.transcript_bounds, embedded.transcript_bounds);
        assert_eq!(
            (
                defaults.transcript_bounds.entries,
                defaults.transcript_bounds.bytes
            ),
            (5_000, 2_000_000),
            "SPEC: 5,000 entries, 2 MB"
        );
        assert_eq!(
            (defaults.text_bytes_per_sec, defaults.text_burst_bytes),
            (16 * 1024, 64 * 1024)
        );
        assert_eq!(
            (defaults.text_bytes_per_sec, defaults.text_burst_bytes),
            (embedded.text_bytes_per_sec, embedded.text_burst_bytes)
        );
        let s = cli(&[
            "--max-transcript-entries",
            "10",
            "--max-transcript-bytes",
            "500",
            "--max-text-bytes-per-sec",
            "100",
            "--max-text-burst-bytes",
            "20000",
        ])
        .settings()
        .expect("valid");
        assert_eq!(
            s.transcript_bounds,
            crate::store::TranscriptBounds {
                entries: 10,
                bytes: 500
            }
        );
        assert_eq!((s.text_bytes_per_sec, s.text_burst_bytes), (100, 20_000));
        for (flag, bad) in [
            ("--max-transcript-entries", "0"),
            ("--max-transcript-bytes", "0"),
            ("--max-text-bytes-per-sec", "0"),
        ] {
            let e = refused(&[flag, bad]);
            assert_eq!(
                e,
                format!("{flag} must be at least 1"),
                "one clear sentence"
            );
        }
        let e = refused(&["--max-text-burst-bytes", "15999"]);
        assert!(
            e.starts_with("--max-text-burst-bytes must be at least 16000"),
            "{e}"
        );
        // The environment names them too.
        let from_env: Vec<String> = <Cli as clap::CommandFactory>::command()
            .get_arguments()
            .filter_map(|a| a.get_env())
            .map(|e| e.to_string_lossy().into_owned())
            .collect();
        for name in [
            "SWITCHBOARD_MAX_TRANSCRIPT_ENTRIES",
            "SWITCHBOARD_MAX_TRANSCRIPT_BYTES",
            "SWITCHBOARD_MAX_TEXT_BYTES_PER_SEC",
            "SWITCHBOARD_MAX_TEXT_BURST_BYTES",
        ] {
            assert!(from_env.contains(&name.to_owned()), "{name}");
        }
    }
}
