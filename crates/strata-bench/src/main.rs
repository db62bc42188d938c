//! `strata-bench`: the same remote-write workload, side by side, against
//! Strata, Prometheus and VictoriaMetrics, in one run.
//!
//! The dataset is deterministic (seeded, `dataset.rs`): series shaped like
//! node_exporter, kube-state-metrics/cAdvisor, kafka_exporter and classic
//! histograms, with label sets as long as real Kubernetes scrapes (≈180
//! bytes; `--labels compact` for the short ones of the first benchmarks),
//! one sample per series every 15 s, ending now. Requests are built before
//! the timed phase (so the client's encoding cost is not measured) and sent
//! like a Prometheus remote-write queue: series sharded over concurrent
//! connections, 2000 samples per request, all shards advancing together in
//! time order, retries with backoff on 5xx/429.
//!
//! Modes:
//!
//! - the default (ingest + queries): per server, ingest samples/s, server
//!   CPU seconds per million samples (from /proc/<pid>/stat), peak RSS
//!   (VmHWM) and RSS per active series, and bytes per sample on disk once
//!   the head is written out as blocks (Strata and Prometheus: an admin
//!   snapshot that includes the head; VictoriaMetrics: force_flush, then the
//!   data directory). Then, while the server still runs, the query phase
//!   (`query.rs`).
//! - `rules` (`rules.rs`): 1,000 recording rules evaluated by Strata and
//!   Prometheus over the same data.
//! - `lifecycle` (`lifecycle.rs`): the same data ingested with long blocks
//!   (no head cut during the run) and with short blocks (head cuts and
//!   compactions during ingest), write latency, peak RSS and WAL size of
//!   each, then `kill -9`, restart and replay.

use anyhow::{Result, bail};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

mod dataset;
mod lifecycle;
mod query;
mod rules;
mod scrape;
mod server;

pub(crate) use server::{proc_cpu_secs, proc_status_kb};

#[derive(Parser, Debug)]
#[command(
    about = "Side-by-side remote-write benchmark (Strata, Prometheus, VictoriaMetrics)",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    mode: Option<Mode>,
    #[command(flatten)]
    ingest: IngestArgs,
}

#[derive(Subcommand, Debug)]
enum Mode {
    /// Head cuts, compaction and restart: each server ingests the same data
    /// with long blocks (steady) and short blocks (cuts during ingest), then
    /// is killed with SIGKILL and restarted on its data directory.
    Lifecycle(lifecycle::LifecycleArgs),
    /// Scraping: each server scrapes the same large text-format target
    /// (the dataset's series, values moving every scrape) at the same
    /// interval; scrape duration, CPU per scrape, peak RSS.
    Scrape(scrape::ScrapeArgs),
    /// Recording rules: Strata and Prometheus evaluate the same generated
    /// file of `--rules` rules over the same data; per-group iteration
    /// time, rule evaluation seconds and CPU per interval.
    Rules(rules::RulesArgs),
}

/// Flags of every mode: the servers, the dataset and the sender.
#[derive(Args, Debug, Clone)]
pub(crate) struct Common {
    /// Path of the strata binary (build with `cargo build --release`).
    #[arg(long, default_value = "target/release/strata")]
    pub strata: PathBuf,
    /// Number of series (≥ 100k for the figures).
    #[arg(long, default_value_t = 100_000)]
    pub series: usize,
    /// Concurrent connections (remote-write shards).
    #[arg(long, default_value_t = 4)]
    pub shards: usize,
    /// Samples per request (Prometheus' max_samples_per_send).
    #[arg(long, default_value_t = 2000)]
    pub batch: usize,
    /// Which servers to run, in order.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "strata,prometheus,victoriametrics"
    )]
    pub targets: Vec<String>,
    /// Seed of the dataset.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Label generator: `realistic` (≈180 bytes per series, as Kubernetes
    /// scrapes carry) or `compact` (≈80 bytes, the first benchmarks' data).
    #[arg(long, value_enum, default_value = "realistic")]
    pub labels: dataset::LabelStyle,
    /// Write the JSON results here too.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

impl Common {
    pub fn check(&self) -> Result<()> {
        if self.shards == 0 || self.batch == 0 || self.series == 0 {
            bail!("--series, --shards and --batch must be positive");
        }
        for t in &self.targets {
            if !matches!(t.as_str(), "strata" | "prometheus" | "victoriametrics") {
                bail!("unknown target {t} (strata, prometheus, victoriametrics)");
            }
        }
        Ok(())
    }

    /// Builds the dataset and its requests (`steps` samples per series,
    /// 15 s apart, the last at `end_ms`), and reports its size.
    pub fn build(&self, steps: usize, end_ms: i64) -> Built {
        let t0 = Instant::now();
        let mut defs = dataset::dataset(self.series, self.seed, self.labels);
        let (mean, min, max) = dataset::label_bytes_stats(&defs);
        let rounds = Arc::new(dataset::build_requests(
            &mut defs,
            steps,
            self.shards,
            self.batch,
            self.seed,
            end_ms,
        ));
        let samples = (self.series * steps) as u64;
        let bytes: usize = rounds.iter().flatten().flatten().map(|b| b.len()).sum();
        let requests = rounds.iter().flatten().flatten().count();
        eprintln!(
            "dataset: {} series × {steps} samples = {samples} samples, {requests} requests, {:.1} MiB compressed, built in {:.1}s",
            self.series,
            bytes as f64 / 1048576.0,
            t0.elapsed().as_secs_f64()
        );
        eprintln!(
            "labels ({:?}): {mean:.1} bytes per series on average (min {min}, max {max}; names + values, __name__ included)",
            self.labels
        );
        Built {
            rounds,
            samples,
            label_bytes_mean: mean,
        }
    }
}

pub(crate) struct Built {
    pub rounds: Arc<server::Rounds>,
    pub samples: u64,
    pub label_bytes_mean: f64,
}

#[derive(Args, Debug)]
struct IngestArgs {
    #[command(flatten)]
    common: Common,
    /// Samples per series (15 s apart; 480 = 2 hours).
    #[arg(long, default_value_t = 480)]
    steps: usize,
    /// Timed runs per query in the query phase.
    #[arg(long, default_value_t = 20)]
    query_runs: usize,
    /// Untimed warm-up runs per query before the timed ones (≥ 1; the first
    /// one checks the answer).
    #[arg(long, default_value_t = 3)]
    query_warmup: usize,
    /// Ingest only: skip the query phase.
    #[arg(long)]
    skip_queries: bool,
    /// Block range for Strata and Prometheus (e.g. `30m`; default: theirs,
    /// 2 h, so the 2 h dataset stays in the head). Shorter ranges cut the
    /// head during ingest; the query phase waits for maintenance to catch
    /// up and then reads blocks and the head, as users' queries do.
    #[arg(long)]
    block_range: Option<String>,
}

pub(crate) fn now_ms() -> Result<i64> {
    Ok(std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64)
}

fn main() -> Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    match cli.mode {
        Some(Mode::Lifecycle(a)) => lifecycle::run(&a),
        Some(Mode::Scrape(a)) => scrape::run(&a),
        Some(Mode::Rules(a)) => rules::run(&a),
        None => ingest(&cli.ingest),
    }
}

fn ingest(a: &IngestArgs) -> Result<()> {
    let c = &a.common;
    c.check()?;
    let now = now_ms()?;
    let built = c.build(a.steps, now);
    let (rounds, total_samples) = (built.rounds, built.samples);
    let (qruns, qwarm) = (a.query_runs.max(1), a.query_warmup.max(1));
    let range_ms = a
        .block_range
        .as_deref()
        .map(lifecycle::parse_ms)
        .transpose()?;
    let mut results = Vec::new();
    let mut phases = Vec::new();
    for name in &c.targets {
        eprintln!("== {name}");
        let blocks = a.block_range.is_some() && name != "victoriametrics";
        let opts = server::StorageOpts {
            block_range: a.block_range.clone().filter(|_| blocks),
            maintenance_interval: (blocks && name == "strata").then(|| "1s".to_string()),
            scrape_config: None,
        };
        let srv = server::start(name, &c.strata, &opts)?;
        let pid = srv.pid();
        let cpu0 = proc_cpu_secs(pid);
        let started = Instant::now();
        let sent = server::send_all(&srv, &rounds, c.shards)?;
        let secs = started.elapsed().as_secs_f64();
        let cpu = proc_cpu_secs(pid) - cpu0;
        let hwm_kb = proc_status_kb(pid, "VmHWM:");
        let rss_kb = proc_status_kb(pid, "VmRSS:");
        let settled = if blocks {
            let (secs, ok) =
                lifecycle::settle(&srv, range_ms, std::time::Duration::from_secs(600))?;
            eprintln!("  maintenance caught up after {secs:.1}s (settled: {ok})");
            ok
        } else {
            true
        };
        let disk = server::flush_and_measure(&srv)?;
        let mut r = serde_json::json!({
            "block_range": a.block_range.as_deref().filter(|_| blocks),
            "settled": settled,
            "target": name,
            "labels": format!("{:?}", c.labels).to_lowercase(),
            "label_bytes_per_series": built.label_bytes_mean,
            "requests_ok": sent.ok,
            "requests_rejected": sent.rejected,
            "request_retries": sent.retries,
            "write_p99_ms": query::percentile(&sent.latencies_ms, 0.99),
            "write_max_ms": sent.latencies_ms.last().copied().unwrap_or(0.0),
            "seconds": secs,
            "samples_per_sec": total_samples as f64 / secs,
            "cpu_seconds_per_million_samples": cpu / (total_samples as f64 / 1e6),
            "peak_rss_mib": hwm_kb as f64 / 1024.0,
            "rss_after_ingest_mib": rss_kb as f64 / 1024.0,
            "rss_bytes_per_series": (hwm_kb * 1024) as f64 / c.series as f64,
            "disk_bytes": disk,
            "bytes_per_sample": disk as f64 / total_samples as f64,
        });
        eprintln!("{r}");
        if !a.skip_queries {
            eprintln!("== {name}: queries");
            let phase = query::run(name, &srv.url, pid, now, qwarm, qruns)?;
            r["query_phase"] = phase.json(qruns, qwarm);
            phases.push(phase);
        }
        results.push(r);
    }
    println!(
        "| target | samples/s | CPU s / 1M samples | peak RSS MiB | RSS B/series | disk B/sample | rejected requests |"
    );
    println!("|---|---|---|---|---|---|---|");
    for r in &results {
        println!(
            "| {} | {:.0} | {:.2} | {:.0} | {:.0} | {:.3} | {} |",
            r["target"].as_str().unwrap_or(""),
            r["samples_per_sec"].as_f64().unwrap_or(0.0),
            r["cpu_seconds_per_million_samples"].as_f64().unwrap_or(0.0),
            r["peak_rss_mib"].as_f64().unwrap_or(0.0),
            r["rss_bytes_per_series"].as_f64().unwrap_or(0.0),
            r["bytes_per_sample"].as_f64().unwrap_or(0.0),
            r["requests_rejected"].as_u64().unwrap_or(0),
        );
    }
    if !a.skip_queries {
        query::print_report(&phases, qruns, qwarm);
        query::check_agreement(&phases);
        if let (Some(ratios), Some(r)) = (
            query::ratios_json(&phases),
            results.iter_mut().find(|r| r["target"] == "strata"),
        ) {
            r["query_ratios"] = ratios;
        }
    }
    if let Some(p) = &c.json {
        std::fs::write(p, serde_json::to_string_pretty(&results)?)?;
    }
    Ok(())
}
