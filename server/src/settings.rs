//! The validated settings a hub runs with ([`Settings`]): plain data, built
//! by `config` from flags and the environment (or by [`Settings::for_secret`]
//! for tests and embedding), read by the hub, the edge and `lib`. It
//! aggregates the settings of the parts below it (keys, store, archive,
//! notifications, canned replies, hours) and knows nothing of flags.

use std::time::Duration;

use crate::domain::{Millis, TierBoosts};
use crate::keys::JwtSettings;
use crate::store::inbox::MessageSla;
use crate::store::Graces;

/// The durable archive (`--archive-url`).
#[derive(Debug, Clone)]
pub struct ArchiveSettings {
    /// PostgreSQL URL.
    pub url: String,
    /// Archived rows older than this many days are purged.
    pub retention_days: u64,
    /// Stream entries idle this long in another node's pending list are
    /// taken over.
    pub claim_idle: Duration,
}

/// Where routing state lives.
#[derive(Debug, Clone)]
pub enum Engine {
    /// In this process; one node only.
    Memory,
    /// In Redis, shared by every node.
    Redis {
        /// Connection URL: `redis://…`, or `redis+sentinel://host:port,…/NAME`
        /// (from --redis-sentinel and --redis-sentinel-master).
        url: String,
        /// Key prefix.
        prefix: String,
        /// Replicas that must hold a message before it is acknowledged
        /// (`--redis-wait-replicas`; 0: none).
        wait_replicas: u32,
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
    /// Browser origins allowed to open WebSockets besides the hub's own,
    /// normalised (`scheme://host[:port]`): pages of the issuer's sites.
    pub allowed_origins: Vec<String>,
    /// The hub's own origin, normalised, from `--public-url`: browsers
    /// judge pages by it, so must we (never by the request's `Host`, which
    /// a DNS-rebinding page controls). `None`: `http://<listener address>`,
    /// resolved when serving (see [`crate::http::own_origins`]).
    pub public_origin: Option<String>,
    /// Who may frame the agent pane: normalised origins or `'self'`
    /// (empty: nobody), so another site cannot overlay it (clickjacking).
    pub frame_ancestors: Vec<String>,
    /// This node's id.
    pub node_id: String,
    /// Routing boosts.
    pub boosts: TierBoosts,
    /// Secure-message reply targets per tier (`--message-sla`).
    pub message_sla: MessageSla,
    /// Grace periods.
    pub graces: Graces,
    /// How long an ended conversation or a closed callback request stays
    /// in the store (ms, `--hot-retention`), then expires.
    pub hot_retention_ms: Millis,
    /// The PostgreSQL archive (`--archive-url`); none: Redis keeps ended
    /// conversations for the hot retention only, the memory engine keeps
    /// history in memory.
    pub archive: Option<ArchiveSettings>,
    /// Days the archive keeps what it holds (`--archive-retention-days`;
    /// the memory engine's history too).
    pub archive_retention_days: u64,
    /// How often this node heartbeats in the store.
    pub node_heartbeat: Duration,
    /// A node silent for this long is declared dead by the others.
    pub node_timeout: Duration,
    /// Delivery lag above which the node is not ready; from half of it, new
    /// work is refused with `busy`.
    pub max_event_lag: Duration,
    /// First-frame authentication deadline.
    pub auth_timeout: Duration,
    /// Ping interval; a peer silent for three of them is closed.
    pub heartbeat: Duration,
    /// Most simultaneous authenticated connections: what a node can carry.
    pub max_connections: usize,
    /// Most simultaneous connections of one user.
    pub max_connections_per_user: usize,
    /// Most simultaneous connections still authenticating; their own budget,
    /// so sockets that never authenticate cannot lock real users out.
    pub max_pending_auth: usize,
    /// Requests whose headers are not complete within this are dropped, so
    /// half-sent requests cannot hold sockets open.
    pub header_read_timeout: Duration,
    /// How long shutdown waits for connections to close.
    pub drain_timeout: Duration,
    /// The service-level target (`--sla-seconds`), for supervisors' `overview`.
    pub sla_seconds: u64,
    /// Canned replies per team (`--canned-replies`), for agents' `welcome`.
    pub canned: std::sync::Arc<crate::canned::CannedReplies>,
    /// Frames one connection may send at once, then `rate_per_sec` sustained.
    pub rate_burst: f64,
    /// Sustained frames per second one connection may send.
    pub rate_per_sec: f64,
    /// How much one conversation may hold (`--max-transcript-entries`,
    /// `--max-transcript-bytes`).
    pub transcript_bounds: crate::store::TranscriptBounds,
    /// Bytes of typed text one user may send at once, then
    /// `text_bytes_per_sec` sustained (per node, across the user's connections).
    pub text_burst_bytes: u64,
    /// Sustained bytes of typed text per second one user may send.
    pub text_bytes_per_sec: u64,
    /// Notifications to the push service (`--notify-url`); none: off.
    pub notify: Option<crate::notify::NotifySettings>,
    /// Opening hours per team (`--hours`); teams not in it are always open.
    pub hours: std::sync::Arc<crate::hours::Hours>,
    /// A live chat waiting longer than this is offered a secure message.
    pub offer_message_after: Duration,
}
