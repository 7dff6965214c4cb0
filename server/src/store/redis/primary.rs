//! Where the Redis primary is: a fixed URL, or whatever the Sentinels say.
//!
//! `--redis-sentinel host:port,… --redis-sentinel-master NAME` arrives here
//! as `redis+sentinel://host:port,host:port/NAME` (see
//! [`crate::config`]). The primary's address is asked of the Sentinels in
//! turn (`SENTINEL get-master-addr-by-name`); the first that answers wins.
//! [`super::RedisStore`] asks again every second and, when the answer
//! changed (a failover), moves its connection to the new primary; the event
//! subscription asks before each (re)connect.

use std::time::Duration;

use redis::{ConnectionInfo, IntoConnectionInfo};

use crate::store::{StoreError, StoreResult};

/// Scheme of the Sentinel form of `--redis-url`.
pub const SENTINEL_SCHEME: &str = "redis+sentinel://";

/// How long one Sentinel may take to answer.
const SENTINEL_TIMEOUT: Duration = Duration::from_millis(500);

/// How the primary is found.
#[derive(Debug, Clone)]
pub enum Primary {
    /// Always this address.
    Fixed(ConnectionInfo),
    /// Asked of these Sentinels, by master name.
    Sentinel {
        /// The Sentinels' `host:port`s.
        sentinels: Vec<String>,
        /// The master name they monitor.
        master: String,
    },
}

impl Primary {
    /// Reads `redis://…` or `redis+sentinel://host:port,…/NAME`.
    pub fn parse(url: &str) -> StoreResult<Primary> {
        let Some(rest) = url.strip_prefix(SENTINEL_SCHEME) else {
            let info = url
                .into_connection_info()
                .map_err(|e| StoreError::Unavailable(format!("bad Redis URL: {e}")))?;
            return Ok(Primary::Fixed(info));
        };
        let (hosts, master) = rest.split_once('/').unwrap_or((rest, ""));
        let sentinels: Vec<String> = hosts
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(str::to_owned)
            .collect();
        if sentinels.is_empty() || master.is_empty() {
            return Err(StoreError::Unavailable(
                "Sentinel address needs host:port list and a master name".into(),
            ));
        }
        Ok(Primary::Sentinel {
            sentinels,
            master: master.to_owned(),
        })
    }

    /// The primary's address now.
    pub async fn resolve(&self) -> StoreResult<ConnectionInfo> {
        let (sentinels, master) = match self {
            Primary::Fixed(info) => return Ok(info.clone()),
            Primary::Sentinel { sentinels, master } => (sentinels, master),
        };
        for sentinel in sentinels {
            match tokio::time::timeout(SENTINEL_TIMEOUT, ask(sentinel, master)).await {
                Ok(Ok(Some((host, port)))) => {
                    return format!("redis://{host}:{port}")
                        .into_connection_info()
                        .map_err(|e| StoreError::Unavailable(e.to_string()));
                }
                Ok(Ok(None)) => {
                    tracing::warn!(%sentinel, %master, "this Sentinel does not know the master");
                }
                Ok(Err(e)) => tracing::warn!(%sentinel, error = %e, "Sentinel did not answer"),
                Err(_) => tracing::warn!(%sentinel, "Sentinel did not answer in time"),
            }
        }
        Err(StoreError::Unavailable(format!(
            "no Sentinel named the primary of `{master}`"
        )))
    }
}

/// One Sentinel's answer: the master's host and port, if it knows it.
async fn ask(sentinel: &str, master: &str) -> redis::RedisResult<Option<(String, u16)>> {
    let client = redis::Client::open(format!("redis://{sentinel}"))?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let addr: Option<(String, String)> = redis::cmd("SENTINEL")
        .arg("get-master-addr-by-name")
        .arg(master)
        .query_async(&mut conn)
        .await?;
    Ok(addr.and_then(|(host, port)| Some((host, port.parse().ok()?))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_forms() {
        assert!(matches!(
            Primary::parse("redis://127.0.0.1:6379"),
            Ok(Primary::Fixed(_))
        ));
        match Primary::parse("redis+sentinel://a:26379, b:26380/mymaster") {
            Ok(Primary::Sentinel { sentinels, master }) => {
                assert_eq!(sentinels, ["a:26379", "b:26380"]);
                assert_eq!(master, "mymaster");
            }
            other => panic!("{other:?}"),
        }
        assert!(Primary::parse("redis+sentinel://a:1").is_err());
        assert!(Primary::parse("redis+sentinel:///m").is_err());
    }
}
