//! PostgreSQL for the archive tests: a database of its own per test on the
//! server named by `SWITCHBOARD_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432`, the machine's server; `.ci/run`
//! starts one when none answers), and a TCP proxy the test can cut and
//! restore to take the database away from a hub deterministically.

use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// The environment variable naming the test server.
pub const POSTGRES_ENV: &str = "SWITCHBOARD_TEST_POSTGRES";

/// The server the tests use, without a database name.
pub fn server_url() -> String {
    std::env::var(POSTGRES_ENV)
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
        .trim_end_matches('/')
        .to_owned()
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL must answer at {url} (set {POSTGRES_ENV}): {e}"));
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// A database created for one test, dropped with it.
#[derive(Debug)]
pub struct PgDatabase {
    /// Its name.
    pub name: String,
}

impl PgDatabase {
    /// Creates an empty database with a unique name.
    pub async fn create() -> PgDatabase {
        let name = format!(
            "sb_test_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..16]
        );
        connect(&format!("{}/postgres", server_url()))
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("CREATE DATABASE");
        PgDatabase { name }
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("{}/{}", server_url(), self.name)
    }

    /// Its URL through a proxy listening on `port` (same server, user and database).
    pub fn url_via(&self, port: u16) -> String {
        let server = server_url();
        let (head, _) = server
            .rsplit_once(':')
            .filter(|(_, p)| p.chars().all(|c| c.is_ascii_digit()))
            .unwrap_or((server.as_str(), ""));
        format!("{head}:{port}/{}", self.name)
    }

    /// A client on it, for the test's own queries.
    pub async fn client(&self) -> tokio_postgres::Client {
        connect(&self.url()).await
    }

    /// `SELECT count(*)` of a query's rows.
    pub async fn count(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> i64 {
        let c = self.client().await;
        match c
            .query_one(&format!("SELECT count(*) FROM ({sql}) AS q"), params)
            .await
        {
            Ok(row) => row.get(0),
            // Before the hub's migrations ran, there is nothing.
            Err(_) => 0,
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside async: a thread with a runtime of its own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok((c, conn)) = tokio_postgres::connect(
                    &format!("{}/postgres", server_url()),
                    tokio_postgres::NoTls,
                )
                .await
                {
                    tokio::spawn(conn);
                    let _ = c
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            });
        })
        .join();
    }
}

/// A TCP proxy to a server; [`TcpProxy::cut`] closes every connection and
/// refuses new ones until [`TcpProxy::restore`].
#[derive(Debug)]
pub struct TcpProxy {
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    state: Arc<Mutex<ProxyState>>,
    accept: AbortHandle,
}

#[derive(Debug, Default)]
struct ProxyState {
    cut: bool,
    links: Vec<AbortHandle>,
}

impl TcpProxy {
    /// Starts forwarding 127.0.0.1:`port` to `target` (`host:port`).
    pub async fn start(target: String) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(Mutex::new(ProxyState::default()));
        let shared = state.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if shared.lock().expect("proxy state").cut {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                let link = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                let mut s = shared.lock().expect("proxy state");
                s.links.retain(|l| !l.is_finished());
                s.links.push(link.abort_handle());
            }
        })
        .abort_handle();
        TcpProxy {
            port,
            state,
            accept,
        }
    }

    /// Starts a proxy to the test PostgreSQL server.
    pub async fn to_postgres() -> TcpProxy {
        let server = server_url();
        let host_port = server
            .rsplit_once('@')
            .map(|(_, hp)| hp)
            .unwrap_or("127.0.0.1:5432")
            .split('/')
            .next()
            .unwrap_or("127.0.0.1:5432")
            .to_owned();
        TcpProxy::start(host_port).await
    }

    /// Closes every connection through it and refuses new ones.
    pub fn cut(&self) {
        let mut s = self.state.lock().expect("proxy state");
        s.cut = true;
        for link in s.links.drain(..) {
            link.abort();
        }
    }

    /// Lets connections through again.
    pub fn restore(&self) {
        self.state.lock().expect("proxy state").cut = false;
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}
