//! How events reach other nodes (`EventFeed`): what `bus` needs from a
//! store that several nodes share. The Redis engine implements it.

use crate::events::Envelope;

/// A stream of envelopes received from other nodes (and this one).
pub type EventStream = std::pin::Pin<Box<dyn futures_util::Stream<Item = Envelope> + Send>>;

/// How events reach other nodes: published for every node, received on this
/// node's subscription. The Redis engine is one; `bus` needs nothing else.
#[async_trait::async_trait]
pub trait EventFeed: Send + Sync + std::fmt::Debug + 'static {
    /// Publishes events the hub announces (in one round trip).
    async fn publish(&self, batch: &[Envelope]) -> Result<(), super::StoreError>;

    /// Subscribes to this node's events; the stream ends when the
    /// subscription is lost.
    async fn subscribe(&self) -> Result<EventStream, super::StoreError>;
}
