//! The hub's one clock unit for stored times (`Millis`), the wall clock in it,
//! and RFC 3339 both ways.

/// Milliseconds since the Unix epoch; the hub's one clock unit for stored times.
pub type Millis = i64;

/// The wall clock in [`Millis`].
pub fn now_millis() -> Millis {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

/// Formats [`Millis`] as RFC 3339 (UTC), as the wire's `at` fields want.
pub fn rfc3339(at: Millis) -> String {
    let nanos = i128::from(at) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// The inverse of [`rfc3339`]: an RFC 3339 time as Unix milliseconds
/// (`None` when it is not one).
pub fn millis_of_rfc3339(text: &str) -> Option<Millis> {
    let at =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    Millis::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}
