//! The `switchboard` binary: parse configuration, set up logging, bind,
//! and hand over to [`switchboard::run`].

use clap::Parser;
use switchboard::config::{ArchiveCommand, Cli, Command, ThreadsChosenBy};
use switchboard::domain::UserId;

// The allocator is chosen at build time: mimalloc by default, jemalloc with
// `--features jemalloc`, glibc's malloc with `--no-default-features`.
// docs/benchmarks.md has the throughput and idle-memory figures behind the
// choice.
#[cfg(all(feature = "mimalloc", not(feature = "jemalloc")))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(feature = "jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = cli.runtime_threads(cores);
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all().worker_threads(threads.0);
    match runtime.build() {
        Ok(runtime) => runtime.block_on(run(cli, threads)),
        Err(e) => {
            eprintln!("switchboard: cannot start its threads: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli, (threads, chosen_by): (usize, ThreadsChosenBy)) -> std::process::ExitCode {
    init_tracing(cli.log_json);
    let why = match chosen_by {
        ThreadsChosenBy::Flag => "as --workers says",
        ThreadsChosenBy::RedisOnThisMachine => {
            "one per core, less one left to the Redis on this machine (--workers to choose)"
        }
        ThreadsChosenBy::Cores => "one per core",
    };
    let noun = if threads == 1 { "thread" } else { "threads" };
    tracing::info!(threads, "connections run on {threads} {noun}: {why}");
    if let Some(Command::Archive(ArchiveCommand::Export { sub })) = &cli.command {
        return export(cli.archive_url.as_deref(), sub).await;
    }
    let (settings, addr) = match cli.settings().and_then(|s| Ok((s, cli.listen_addr()?))) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("switchboard: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("switchboard: cannot listen on {addr}: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let url = listener
        .local_addr()
        .map(|a| format!("http://{a}"))
        .unwrap_or_else(|_| addr.to_string());
    // Connect the store before saying we listen: a hub that cannot reach
    // Redis stops here with one line.
    let cancel = switchboard::CancellationToken::new();
    let hub = match switchboard::build_hub(settings, cancel.clone()).await {
        Ok(hub) => hub,
        Err(e) => {
            eprintln!("switchboard: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let dev = hub.settings().dev;
    if dev {
        println!("Switchboard listening on {url} (dev mode: open {url}/ to chat with yourself)");
    } else {
        println!("Switchboard listening on {url}");
    }
    match switchboard::serve(listener, hub, cancel, shutdown_signal()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switchboard: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `switchboard archive export --sub S`: one cardholder's archived
/// conversations and callback requests as JSON on stdout.
async fn export(url: Option<&str>, sub: &str) -> std::process::ExitCode {
    let Some(url) = url else {
        eprintln!("switchboard: archive export needs --archive-url (or SWITCHBOARD_ARCHIVE_URL)");
        return std::process::ExitCode::from(2);
    };
    match switchboard::config::export_json(url, &UserId(sub.to_owned())).await {
        Ok(json) => {
            println!("{json}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("switchboard: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_tracing(json: bool) {
    let spec = std::env::var("RUST_LOG").ok();
    // Colours only for a person at a terminal, not for log files.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let subscriber = switchboard::logging::subscriber(spec.as_deref(), json, ansi, std::io::stderr);
    if let Err(e) = tracing_subscriber::util::SubscriberInitExt::try_init(subscriber) {
        eprintln!("switchboard: cannot set up logging: {e}");
    }
    if let Some(spec) = spec.filter(|s| tracing_subscriber::EnvFilter::try_new(s).is_err()) {
        tracing::warn!(filter = %spec, default = switchboard::logging::DEFAULT_FILTER, "RUST_LOG is not a valid filter; using the default");
    }
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
