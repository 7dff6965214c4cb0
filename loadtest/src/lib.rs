//! `switchboard-loadtest`: drives simulated cardholders and agents against a
//! Switchboard hub (or the in-process bare stack) and accounts for every
//! message.
//!
//! # Layout
//! - [`config`]: command-line [`config::Args`] checked into a [`Config`].
//! - [`tokens`]: the simulated population and its JWTs (minted or from a file).
//! - [`scenario`]: the cardholder and agent tasks and the load patterns.
//! - [`accounting`]: exactly-once, in-order books per conversation.
//! - [`report`]: counters and latency histograms, the summary table and JSON.
//! - [`baseline`]: a raw tokio-tungstenite relay the hub is compared with.
//! - [`plot`]: the SVG of message latency against offered load (`--sweep`).
//!
//! [`run`] is the whole tool; `main.rs` only parses arguments, raises the
//! open-files limit and prints.

pub mod accounting;
pub mod baseline;
pub mod config;
pub mod plot;
pub mod report;
pub mod scenario;
pub mod tokens;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use config::Config;
use config::{Scenario, Target};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use report::IdleFigures;
pub use report::Report;
use scenario::Shared;

/// Why a run could not happen at all (faults found while running are in the
/// [`Report`], not here).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Tokens could not be minted or read.
    #[error(transparent)]
    Tokens(#[from] tokens::TokenError),
    /// The baseline server could not start.
    #[error("cannot start the baseline server: {0}")]
    Baseline(std::io::Error),
}

/// Secret the baseline's tokens are minted with (the baseline does not verify).
const BASELINE_SECRET: &[u8] = b"switchboard-loadtest-baseline";

/// Runs the configured load: against the bare stack when `--baseline`, then
/// against the hub URLs when given; with both, the hub report carries the
/// baseline and the ratios.
pub async fn run(config: Config) -> Result<Report, RunError> {
    let run_tag = run_tag();
    let base = if config.baseline {
        let server = baseline::start().await.map_err(RunError::Baseline)?;
        let target = Target {
            ws_url: format!("ws://{}/ws", server.addr),
            addr: server.addr,
            authority: server.addr.to_string(),
        };
        let lifetime = config.duration + config.grace + Duration::from_secs(3600);
        let population =
            tokens::mint_population(&config, BASELINE_SECRET, &format!("{run_tag}b"), lifetime)?;
        let report = run_against(
            &config,
            "baseline",
            vec![target],
            population,
            RssSource::OwnProcess,
        )
        .await;
        drop(server);
        Some(report)
    } else {
        None
    };
    if config.targets.is_empty() {
        return Ok(base.unwrap_or_else(|| unreachable!("config requires --url or --baseline")));
    }
    let population = tokens::population(&config, &run_tag)?;
    let label = format!(
        "hub {}",
        config
            .targets
            .iter()
            .map(|t| t.ws_url.as_str())
            .collect::<Vec<_>>()
            .join(",")
    );
    let hub = run_against(
        &config,
        &label,
        config.targets.clone(),
        population,
        RssSource::Metrics,
    )
    .await;
    Ok(match base {
        Some(b) => hub.with_baseline(b),
        None => hub,
    })
}

/// Runs the configured pattern once per `config.sweep` rate (offered
/// messages/s), one after another, each as [`run`] would.
pub async fn sweep(config: &Config) -> Result<Vec<Report>, RunError> {
    let mut reports = Vec::with_capacity(config.sweep.len());
    for rate in &config.sweep {
        let mut step = config.clone();
        step.rate = Some(*rate);
        step.sweep.clear();
        reports.push(run(step).await?);
    }
    Ok(reports)
}

/// One line per sweep step.
pub fn sweep_table(reports: &[Report]) -> String {
    let mut s = format!(
        "{:>10} {:>12} {:>9} {:>9} {:>9} {:>9} {:>7}\n",
        "offered/s", "relayed/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "faults"
    );
    for r in reports {
        let m = r.latency_ms.message;
        let faults = r.errors + r.lost + r.duplicated + r.reordered + r.seq_gaps;
        s.push_str(&format!(
            "{:>10.0} {:>12.1} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>7}\n",
            r.offered_msgs_per_s.unwrap_or(0.0),
            r.throughput_msgs_per_s,
            m.p50,
            m.p90,
            m.p99,
            m.max,
            faults
        ));
    }
    s
}

/// Runs the configured pattern against the in-process bare stack only, with
/// optional deliberate faults (tests use them to prove the accounting).
pub async fn run_baseline(
    config: &Config,
    sabotage: baseline::Sabotage,
) -> Result<Report, RunError> {
    let server = baseline::start_with(sabotage)
        .await
        .map_err(RunError::Baseline)?;
    let target = Target {
        ws_url: format!("ws://{}/ws", server.addr),
        addr: server.addr,
        authority: server.addr.to_string(),
    };
    let lifetime = config.duration + config.grace + Duration::from_secs(3600);
    let population = tokens::mint_population(
        config,
        BASELINE_SECRET,
        &format!("{}b", run_tag()),
        lifetime,
    )?;
    Ok(run_against(
        config,
        "baseline",
        vec![target],
        population,
        RssSource::OwnProcess,
    )
    .await)
}

/// A short tag that keeps this run's `sub`s apart from earlier runs'.
fn run_tag() -> String {
    let n: u32 = rand::random();
    format!("{n:08x}")
}

/// Where idle RSS is read.
#[derive(Debug, Clone, Copy)]
enum RssSource {
    /// The hubs' `/metrics` (`process_resident_memory_bytes`, summed).
    Metrics,
    /// This process (clients and the in-process bare server together).
    OwnProcess,
}

async fn run_against(
    config: &Config,
    label: &str,
    targets: Vec<Target>,
    population: tokens::Population,
    rss: RssSource,
) -> Report {
    let started = Instant::now();
    let total = (population.cardholders.len() + population.agents.len()) as u64;
    let rss_before = match config.scenario {
        Scenario::Idle | Scenario::Overload => read_rss(rss, &targets).await,
        _ => Ok(0),
    };
    let mut rss_peak = 0;
    let shared = Arc::new(Shared::new(config.clone(), targets.clone()));
    let bar = progress_bar(config, label);
    let driver = tokio::spawn(scenario::drive(shared.clone(), population));
    let mut idle = None;
    let mut ticker = tokio::time::interval(Duration::from_millis(250));
    let mut driver = std::pin::pin!(driver);
    let mut measured = false;
    let drain = loop {
        tokio::select! {
            done = &mut driver => break done.ok().flatten(),
            _ = ticker.tick() => {
                let c = &shared.rec.counters;
                bar.set_position(started.elapsed().as_millis().min(u128::from(u64::MAX)) as u64);
                bar.set_message(format!(
                    "conns {} convs {} msgs {} errors {}",
                    c.open.load(Ordering::Relaxed),
                    c.conversations_started.load(Ordering::Relaxed),
                    c.messages_relayed.load(Ordering::Relaxed),
                    shared.rec.error_count(),
                ));
                if config.scenario == Scenario::Overload {
                    if let Ok(now) = read_rss(rss, &targets).await {
                        rss_peak = rss_peak.max(now);
                    }
                }
                let settled = c.open.load(Ordering::Relaxed) >= total
                    || started.elapsed() >= config.ramp + Duration::from_secs(5);
                if config.scenario == Scenario::Idle && !measured && settled
                    && Instant::now() + Duration::from_secs(1) < shared.stop_sending
                {
                    measured = true;
                    // Let the hub finish its per-connection setup before reading.
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let held = c.open.load(Ordering::Relaxed);
                    idle = Some(idle_figures(rss, &targets, &rss_before, held).await);
                }
            }
        }
    };
    bar.finish_and_clear();
    if config.scenario == Scenario::Idle {
        match &idle {
            Some(Ok(_)) => {}
            Some(Err(e)) => shared.rec.error(format!("idle:{e}")),
            None => shared
                .rec
                .error("idle:not_measured (--duration too short?)"),
        }
    }
    let overload = match (config.scenario, &rss_before) {
        (Scenario::Overload, Ok(before)) => match read_rss(rss, &targets).await {
            Ok(after) => Some(report::OverloadFigures {
                rss_before_bytes: *before,
                rss_peak_bytes: rss_peak.max(after),
                rss_after_bytes: after,
            }),
            Err(e) => {
                shared.rec.error(format!("overload:{e}"));
                None
            }
        },
        (Scenario::Overload, Err(e)) => {
            shared.rec.error(format!("overload:{e}"));
            None
        }
        _ => None,
    };
    let mut report = shared
        .rec
        .report(label, config.scenario, shared.faults(), started.elapsed());
    report.overload = overload;
    report.drain_s = drain.map(|d| d.as_secs_f64());
    report.offered_msgs_per_s = config.rate;
    report.idle = idle.and_then(Result::ok);
    report
}

async fn idle_figures(
    rss: RssSource,
    targets: &[Target],
    before: &Result<u64, String>,
    held: u64,
) -> Result<IdleFigures, String> {
    let before = before.clone()?;
    let after = read_rss(rss, targets).await?;
    let per = if held > 0 {
        (after as f64 - before as f64) / held as f64
    } else {
        0.0
    };
    let source = match rss {
        RssSource::Metrics => "hub /metrics process_resident_memory_bytes",
        RssSource::OwnProcess => "this process: clients + in-process bare server",
    };
    Ok(IdleFigures {
        connections: held,
        rss_before_bytes: before,
        rss_after_bytes: after,
        bytes_per_connection: per,
        source: source.to_owned(),
    })
}

fn progress_bar(config: &Config, label: &str) -> ProgressBar {
    use std::io::IsTerminal as _;
    let total_ms = (config.duration + config.grace)
        .as_millis()
        .min(u128::from(u64::MAX)) as u64;
    let bar = ProgressBar::new(total_ms);
    if config.quiet || !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    if let Ok(style) = ProgressStyle::with_template("{prefix} [{elapsed_precise}] {wide_bar} {msg}")
    {
        bar.set_style(style);
    }
    bar.set_prefix(format!("{:?} {label}", config.scenario).to_lowercase());
    bar
}

/// Resident memory, from the hubs' metrics or from this process.
async fn read_rss(source: RssSource, targets: &[Target]) -> Result<u64, String> {
    match source {
        RssSource::OwnProcess => own_rss(),
        RssSource::Metrics => {
            let mut sum = 0;
            for t in targets {
                sum += metrics_rss(t).await?;
            }
            Ok(sum)
        }
    }
}

fn own_rss() -> Result<u64, String> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|_| "no /proc/self/status".to_owned())?;
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .ok_or("no VmRSS")?;
    Ok(kb * 1024)
}

/// Longest wait for `/metrics`.
const METRICS_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest `/metrics` body read.
const METRICS_MAX_BYTES: usize = 4 * 1024 * 1024;

/// `GET /metrics` from the target (targets are loopback `ws://` URLs, so
/// plain `http://` on the same authority) and pick out
/// `process_resident_memory_bytes`.
async fn metrics_rss(target: &Target) -> Result<u64, String> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(METRICS_TIMEOUT)
        .build()
        .map_err(|e| format!("metrics_client:{e}"))?;
    let url = format!("http://{}/metrics", target.authority);
    let mut response = client
        .get(&url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(metrics_error)?;
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(metrics_error)? {
        if body.len() + chunk.len() > METRICS_MAX_BYTES {
            return Err("metrics_too_large".to_owned());
        }
        body.extend_from_slice(&chunk);
    }
    parse_rss(&String::from_utf8_lossy(&body))
        .ok_or_else(|| "metrics_without_process_resident_memory_bytes".to_owned())
}

/// A short label for a failed `/metrics` fetch (it ends up in the report's
/// error counts).
fn metrics_error(e: reqwest::Error) -> String {
    if e.is_timeout() {
        "metrics_timeout".to_owned()
    } else if let Some(status) = e.status() {
        format!("metrics_status_{}", status.as_u16())
    } else {
        "metrics_unreachable".to_owned()
    }
}

/// The value of `process_resident_memory_bytes` in Prometheus text.
pub fn parse_rss(text: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix("process_resident_memory_bytes")?;
        let value = rest
            .trim_start_matches(|c| c != ' ' && c != '\t')
            .split_whitespace()
            .next()?;
        value
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .map(|v| v as u64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rss_from_prometheus_text() {
        let text = "# HELP process_resident_memory_bytes x\n# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes 1.2345e7\n";
        assert_eq!(parse_rss(text), Some(12_345_000));
        assert_eq!(
            parse_rss("process_resident_memory_bytes{node=\"a\"} 42"),
            Some(42)
        );
        assert_eq!(parse_rss("other 1"), None);
    }
}
