//! Configuration: command-line flags with `SWITCHBOARD_*` environment
//! equivalents, validated into [`Settings`] before anything starts.
//!
//! Every mistake is reported as one sentence naming the flag; the binary
//! prints it and exits without a panic or a backtrace.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::auth::{JwtSettings, KeySource};
use crate::domain::TierBoosts;
use crate::keys::check_key_url;
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
    #[arg(long, env = "SWITCHBOARD_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Redis URL (e.g. redis://127.0.0.1:6379). Absent: the built-in in-memory engine, one node only.
    #[arg(long, env = "SWITCHBOARD_REDIS_URL")]
    pub redis_url: Option<String>,
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
    #[arg(long, env = "SWITCHBOARD_JWKS_REFRESH", default_value_t = crate::auth::DEFAULT_REFRESH_SECS)]
    pub jwks_refresh: u64,
    /// Longest token lifetime accepted, in seconds (`exp - iat`, or `exp - now` without `iat`).
    #[arg(long, env = "SWITCHBOARD_JWT_MAX_LIFETIME", default_value_t = crate::auth::DEFAULT_MAX_LIFETIME_SECS)]
    pub jwt_max_lifetime: u64,
    /// Required `iss` claim.
    #[arg(long, env = "SWITCHBOARD_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// Required `aud` claim.
    #[arg(long, env = "SWITCHBOARD_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// Exact origins allowed to open browser WebSockets, comma-separated.
    /// Absent: only the hub's own origin.
    #[arg(long, env = "SWITCHBOARD_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
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
        default_value = "premium=120,business=60"
    )]
    pub tier_boost: String,
    /// Seconds a queued cardholder who disconnected keeps the place.
    #[arg(long, env = "SWITCHBOARD_CARDHOLDER_GRACE", default_value_t = 60)]
    pub cardholder_grace: u64,
    /// Seconds an agent who disconnected keeps its chats.
    #[arg(long, env = "SWITCHBOARD_AGENT_GRACE", default_value_t = 30)]
    pub agent_grace: u64,
    /// Most simultaneous WebSocket connections this node accepts.
    #[arg(long, env = "SWITCHBOARD_MAX_CONNECTIONS", default_value_t = 20_000)]
    pub max_connections: usize,
    /// Log as JSON lines instead of text.
    #[arg(long, env = "SWITCHBOARD_LOG_JSON")]
    pub log_json: bool,
}

/// Frames a connection may send in a burst before it is rate limited.
pub const RATE_BURST: f64 = 30.0;

/// Sustained frames per second a connection may send (a person types far
/// slower; this leaves room for typing indicators and read receipts).
pub const RATE_PER_SEC: f64 = 10.0;

/// Where routing state lives.
#[derive(Debug, Clone)]
pub enum Engine {
    /// In this process; one node only.
    Memory,
    /// In Redis, shared by every node.
    Redis {
        /// Connection URL.
        url: String,
        /// Key prefix.
        prefix: String,
    },
}

/// Validated settings for [`crate::run`].
#[derive(Debug, Clone)]
pub struct Settings {
    /// The routing store.
    pub engine: Engine,
    /// Token verification.
    pub jwt: JwtSettings,
    /// The HS256 secret, when tokens may be minted by `/dev/token`.
    pub dev_secret: Option<Vec<u8>>,
    /// Developer mode.
    pub dev: bool,
    /// Allowed browser origins (empty: the hub's own origin only).
    pub allowed_origins: Vec<String>,
    /// This node's id.
    pub node_id: String,
    /// Routing boosts.
    pub boosts: TierBoosts,
    /// Grace periods.
    pub graces: Graces,
    /// First-frame authentication deadline.
    pub auth_timeout: Duration,
    /// Ping interval; a peer silent for three of them is closed.
    pub heartbeat: Duration,
    /// Most simultaneous connections.
    pub max_connections: usize,
    /// How long shutdown waits for connections to close.
    pub drain_timeout: Duration,
    /// Frames one connection may send at once, then `rate_per_sec` sustained.
    pub rate_burst: f64,
    /// Sustained frames per second one connection may send.
    pub rate_per_sec: f64,
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
        for origin in &self.allowed_origins {
            if !(origin.starts_with("http://") || origin.starts_with("https://"))
                || origin.ends_with('/')
            {
                return Err(ConfigError(format!(
                    "--allowed-origins: `{origin}` is not an exact origin like https://bank.example"
                )));
            }
        }
        let engine = match &self.redis_url {
            Some(url) => Engine::Redis {
                url: url.clone(),
                prefix: self.redis_prefix.clone(),
            },
            None => Engine::Memory,
        };
        if self.max_connections == 0 {
            return Err(ConfigError("--max-connections must be at least 1".into()));
        }
        if self.jwks_refresh == 0 {
            return Err(ConfigError(
                "--jwks-refresh must be at least 1 second".into(),
            ));
        }
        if self.jwt_max_lifetime == 0 {
            return Err(ConfigError(
                "--jwt-max-lifetime must be at least 1 second".into(),
            ));
        }
        // An OpenID issuer's tokens name it in `iss`; checking that is what one expects.
        let issuer = self.jwt_issuer.clone().or_else(|| self.oidc_issuer.clone());
        Ok(Settings {
            engine,
            jwt: JwtSettings {
                issuer,
                audience: self.jwt_audience.clone(),
                max_lifetime: Duration::from_secs(self.jwt_max_lifetime),
                refresh: Duration::from_secs(self.jwks_refresh),
                ..JwtSettings::new(keys)
            },
            dev_secret: if self.dev { dev_secret } else { None },
            dev: self.dev,
            allowed_origins: self.allowed_origins.clone(),
            node_id: self.node_id.clone().unwrap_or_else(|| {
                format!("node-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
            }),
            boosts,
            graces: Graces {
                cardholder_ms: secs_to_ms(self.cardholder_grace),
                agent_ms: secs_to_ms(self.agent_grace),
            },
            auth_timeout: Duration::from_secs(10),
            heartbeat: Duration::from_secs(20),
            max_connections: self.max_connections,
            drain_timeout: Duration::from_secs(10),
            rate_burst: RATE_BURST,
            rate_per_sec: RATE_PER_SEC,
        })
    }
}

fn secs_to_ms(s: u64) -> i64 {
    i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX)
}

impl Settings {
    /// Settings for tests and embedding: HS256 with `secret`, in-memory
    /// engine, SPEC defaults otherwise.
    pub fn for_secret(secret: &[u8]) -> Settings {
        Settings {
            engine: Engine::Memory,
            jwt: JwtSettings::new(KeySource::Hs256Secret(secret.to_vec())),
            dev_secret: None,
            dev: false,
            allowed_origins: Vec::new(),
            node_id: format!("node-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
            boosts: TierBoosts::default(),
            graces: Graces::default(),
            auth_timeout: Duration::from_secs(10),
            heartbeat: Duration::from_secs(20),
            max_connections: 20_000,
            drain_timeout: Duration::from_secs(10),
            rate_burst: RATE_BURST,
            rate_per_sec: RATE_PER_SEC,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(args: &[&str]) -> Result<Settings, ConfigError> {
        let mut argv = vec!["switchboard"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).expect("flags parse").settings()
    }

    fn refused(args: &[&str]) -> String {
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
        assert!(refused(&["--jwks-url", "http://login.example/jwks"]).starts_with("--jwks-url"));
        assert!(refused(&["--oidc-issuer", "login.example"]).starts_with("--oidc-issuer"));
        assert!(refused(&[
            "--jwks-url",
            "https://login.example/jwks",
            "--jwt-secret",
            "0123456789abcdef0123"
        ])
        .contains("only one of"));
        assert!(refused(&[
            "--jwks-url",
            "https://login.example/jwks",
            "--jwks-refresh",
            "0"
        ])
        .starts_with("--jwks-refresh"));
        assert!(refused(&["--dev", "--jwt-max-lifetime", "0"]).starts_with("--jwt-max-lifetime"));
        assert!(refused(&[]).contains("--jwks-url"));
    }
}
