//! `switchboard-loadtest`: parses arguments, raises the open-files limit,
//! runs [`switchboard_loadtest::run`], prints the table and writes `--json`.
//! Exit status: 0 clean, 1 when any error, loss, duplicate, reorder or
//! invariant violation was seen, 2 when the run could not happen.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use switchboard_loadtest::config::{Args, Config};

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    match real_main() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("switchboard-loadtest: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn real_main() -> anyhow::Result<bool> {
    let config = Config::try_from(Args::parse())?;
    // 10k connections need more descriptors than the usual soft limit.
    let limit = rlimit::increase_nofile_limit(u64::MAX).context("raising the open-files limit")?;
    let wanted =
        (config.cardholders + config.agents) as u64 * if config.baseline { 2 } else { 1 } + 64;
    if limit < wanted {
        eprintln!("switchboard-loadtest: warning: open-files limit {limit} is below the {wanted} this run needs");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting tokio")?;
    let json = config.json.clone();
    if !config.sweep.is_empty() {
        let plot = config.plot.clone();
        let title = format!(
            "message latency vs offered load — {} conversations",
            config
                .cardholders
                .min(config.agents * config.max_chats as usize)
        );
        let reports = runtime.block_on(switchboard_loadtest::sweep(&config))?;
        print!("{}", switchboard_loadtest::sweep_table(&reports));
        if let Some(path) = json {
            let text = serde_json::to_string_pretty(&reports).context("encoding the reports")?;
            std::fs::write(&path, text + "\n")
                .with_context(|| format!("writing {}", path.display()))?;
        }
        if let Some(path) = plot {
            let points: Vec<_> = config.sweep.iter().copied().zip(reports.iter()).collect();
            switchboard_loadtest::plot::latency_vs_load(&path, &title, &points)?;
        }
        return Ok(!reports.iter().any(|r| r.failed()));
    }
    let report = runtime.block_on(switchboard_loadtest::run(config))?;
    print!("{}", report.table());
    if let Some(path) = json {
        let text = serde_json::to_string_pretty(&report).context("encoding the report")?;
        std::fs::write(&path, text + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(!report.failed())
}
