//! The log subscriber the binary installs (and the tests install the same).
//!
//! `RUST_LOG` chooses what is logged, with one exception: dependencies that
//! dump what goes over the wire at debug or trace level (tungstenite's frame
//! dumps hold JWTs and message text; hyper, h2, axum's WebSocket glue and
//! redis log bytes and commands) are kept at info and above, whatever the
//! filter says. Tokens and message text never reach a log (SPEC,
//! "Sensitive data"). This module knows nothing of the hub.

use tracing::{Level, Metadata, Subscriber};
use tracing_subscriber::filter::{filter_fn, EnvFilter, FilterExt};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Filter, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// The filter used when `RUST_LOG` is absent or unreadable.
pub const DEFAULT_FILTER: &str = "info";

/// Log targets (crate or module paths) that may log payloads below info.
pub const PAYLOAD_TARGETS: &[&str] = &[
    "tungstenite",
    "tokio_tungstenite",
    "hyper",
    "hyper_util",
    "h1",
    "h2",
    "axum::extract::ws",
    "redis",
];

/// Whether an event or span of this target and level could carry payload
/// bytes: one of [`PAYLOAD_TARGETS`] (or a module inside one) below info.
pub fn is_payload_dump(target: &str, level: &Level) -> bool {
    *level > Level::INFO
        && PAYLOAD_TARGETS.iter().any(|t| {
            target
                .strip_prefix(t)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
        })
}

/// `spec` (`RUST_LOG` syntax; `None` or unreadable: [`DEFAULT_FILTER`]),
/// with [`is_payload_dump`] events and spans always left out.
pub fn filter<S>(spec: Option<&str>) -> impl Filter<S> + Send + Sync + 'static
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let chosen = spec
        .and_then(|s| EnvFilter::try_new(s).ok())
        .unwrap_or_else(|| EnvFilter::new(DEFAULT_FILTER));
    // The cap narrows what the chosen filter lets through and never widens
    // it: saying so (a TRACE hint) keeps the combined hint the chosen
    // filter's own, so disabled call sites (tungstenite's per-frame `trace!`)
    // stay disabled statically instead of being evaluated on every frame.
    let cap = filter_fn(|meta: &Metadata<'_>| !is_payload_dump(meta.target(), meta.level()))
        .with_max_level_hint(tracing::level_filters::LevelFilter::TRACE);
    chosen.and(cap)
}

/// The subscriber: text (or JSON lines) to `writer` filtered by
/// [`filter`]`(spec)`; `ansi` colours only for a person at a terminal.
/// Install it with `tracing_subscriber::util::SubscriberInitExt`, which
/// also routes the `log` records of dependencies through it.
pub fn subscriber<W>(
    spec: Option<&str>,
    json: bool,
    ansi: bool,
    writer: W,
) -> Box<dyn Subscriber + Send + Sync + 'static>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let text = tracing_subscriber::fmt::layer()
        .with_ansi(ansi)
        .with_writer(writer);
    if json {
        Box::new(tracing_subscriber::registry().with(text.json().with_filter(filter(spec))))
    } else {
        Box::new(tracing_subscriber::registry().with(text.with_filter(filter(spec))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_keeps_the_chosen_level_as_the_static_hint() {
        use tracing_subscriber::registry::Registry;
        let hint = |spec| Filter::<Registry>::max_level_hint(&filter::<Registry>(spec));
        // Disabled call sites stay disabled without being evaluated per event.
        assert_eq!(hint(None), Some(tracing::level_filters::LevelFilter::INFO));
        assert_eq!(
            hint(Some("warn")),
            Some(tracing::level_filters::LevelFilter::WARN)
        );
    }

    #[test]
    fn payload_dumps_are_recognised_by_crate_and_module() {
        for target in [
            "tungstenite",
            "tungstenite::protocol",
            "tokio_tungstenite::compat",
            "hyper::proto::h1::io",
            "h2::codec",
            "axum::extract::ws",
            "redis::aio",
        ] {
            assert!(is_payload_dump(target, &Level::TRACE), "{target}");
            assert!(is_payload_dump(target, &Level::DEBUG), "{target}");
            assert!(!is_payload_dump(target, &Level::INFO), "{target}");
            assert!(!is_payload_dump(target, &Level::WARN), "{target}");
        }
        for target in [
            "switchboard::connection",
            "hyperion",
            "axum::routing",
            "h2o",
        ] {
            assert!(!is_payload_dump(target, &Level::TRACE), "{target}");
        }
    }
}
