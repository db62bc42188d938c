//! The lifecycle mode: what head cuts, compaction and restarts cost.
//!
//! Each server ingests the same dataset twice, each time on a fresh data
//! directory:
//!
//! - **steady**: long blocks (default 2 h), so no head cut happens while
//!   the data (default 1 h) is ingested — the head is cut only once it spans
//!   1.5 block ranges (Prometheus' rule, which Strata follows);
//! - **cuts**: short blocks (default 10 m), so the head is cut into blocks,
//!   and blocks compacted, while ingest goes on.
//!
//! VictoriaMetrics has no blocks: it runs once, as its steady figure.
//!
//! The data spans `--duration` in the past, ending when it was built, and
//! is pushed as fast as the server takes it, like a remote-write queue
//! catching up. Timestamps only move forward (all shards advance together),
//! so Prometheus, which refuses samples older than its head's newest minus
//! half a block range, accepts them all.
//!
//! Per run: samples/s, write (request) latency p50/p99/max from the first
//! attempt to the accepted answer, peak RSS (VmHWM), the head cut and
//! compaction counters at the end of ingest and once maintenance has caught
//! up (head span ≤ 1.5 block ranges, counters unchanged for a second), and
//! the WAL's bytes per ingested sample at that point (`du` of every `wal/`
//! directory). Then `kill -9`, a restart on the same data directory, the
//! time to ready (`/-/ready`, VictoriaMetrics `/health`) and the peak RSS
//! of the new process up to ready (VmHWM: the replay's peak) against the
//! RSS just before the kill; a query counts the series whose last sample
//! (written just before the kill) survived.

use crate::server::{self, Server, StorageOpts, proc_cpu_secs, proc_status_kb};
use crate::{Common, query::percentile};
use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

#[derive(Args, Debug)]
pub struct LifecycleArgs {
    #[command(flatten)]
    pub common: Common,
    /// Time span of the data, ending now (samples 15 s apart): `1h`, `30m`, `2h`.
    #[arg(long, default_value = "1h")]
    pub duration: String,
    /// Block range of the steady run: longer than 2/3 of the duration, so no
    /// head cut happens during ingest.
    #[arg(long, default_value = "2h")]
    pub steady_block_range: String,
    /// Block range of the run with cuts: a head cut every block range once
    /// the head spans 1.5 of them.
    #[arg(long, default_value = "10m")]
    pub cut_block_range: String,
    /// Strata's `--storage.maintenance-interval` (how often it checks for a
    /// head cut or compaction) in both runs; Prometheus checks on every
    /// append that finds its head compactable, and every minute.
    #[arg(long, default_value = "1s")]
    pub maintenance_interval: String,
    /// Which runs, in order: `steady`, `cuts`.
    #[arg(long, value_delimiter = ',', default_value = "steady,cuts")]
    pub runs: Vec<String>,
    /// Longest wait after ingest for maintenance to catch up, in seconds.
    #[arg(long, default_value_t = 300)]
    pub settle_timeout: u64,
    /// Skip the `kill -9` and restart.
    #[arg(long)]
    pub skip_restart: bool,
}

/// Milliseconds of a Prometheus-style duration (`1h30m`, `10m`, `90s`, `500ms`).
pub fn parse_ms(s: &str) -> Result<i64> {
    let mut total: i64 = 0;
    let mut rest = s;
    if rest.is_empty() {
        bail!("empty duration");
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            bail!("bad duration {s:?}");
        }
        let n: i64 = rest[..digits]
            .parse()
            .with_context(|| format!("bad duration {s:?}"))?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(|b| !b.is_ascii_digit()).count();
        let unit = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            u => bail!("bad unit {u:?} in duration {s:?} (ms, s, m, h, d)"),
        };
        rest = &rest[unit_len..];
        total = n
            .checked_mul(unit)
            .and_then(|x| total.checked_add(x))
            .with_context(|| format!("duration {s:?} overflows"))?;
    }
    Ok(total)
}

/// One ingest + restart of one server with one block range.
struct Plan<'a> {
    target: &'a str,
    run: &'a str,
    /// Block range as passed to the server, and in ms (`None`: VictoriaMetrics).
    block_range: Option<(&'a str, i64)>,
}

/// Metric names of (head cuts, compactions, head min time, head max time)
/// and the factor that turns the head times into ms.
fn metric_names(target: &str) -> Option<([&'static str; 4], f64)> {
    match target {
        "strata" => Some((
            [
                "strata_tsdb_head_cuts_total",
                "strata_tsdb_compactions_total",
                "strata_tsdb_head_min_time_seconds",
                "strata_tsdb_head_max_time_seconds",
            ],
            1000.0,
        )),
        "prometheus" => Some((
            [
                "prometheus_tsdb_head_truncations_total",
                "prometheus_tsdb_compactions_total",
                "prometheus_tsdb_head_min_time",
                "prometheus_tsdb_head_max_time",
            ],
            1.0,
        )),
        _ => None,
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct Lifecycle {
    cuts: f64,
    compactions: f64,
    head_span_ms: f64,
}

fn lifecycle_metrics(srv: &Server) -> Result<Option<Lifecycle>> {
    let Some((names, to_ms)) = metric_names(&srv.name) else {
        return Ok(None);
    };
    let v = srv.metrics(&names)?;
    let get = |i: usize| v.get(i).copied().flatten();
    let span = match (get(2), get(3)) {
        (Some(min), Some(max)) if max >= min => (max - min) * to_ms,
        _ => 0.0,
    };
    Ok(Some(Lifecycle {
        cuts: get(0).context(format!("{} missing on /metrics", names[0]))?,
        compactions: get(1).context(format!("{} missing on /metrics", names[1]))?,
        head_span_ms: span,
    }))
}

/// Waits until the head spans at most 1.5 block ranges (plus one scrape
/// interval of slack) and the counters held still for a second.
pub(crate) fn settle(
    srv: &Server,
    range_ms: Option<i64>,
    timeout: Duration,
) -> Result<(f64, bool)> {
    let t0 = Instant::now();
    let Some(range_ms) = range_ms else {
        // VictoriaMetrics has no WAL: rows reach parts on disk some seconds
        // after they are accepted (1.79 lost the last 4 s to a kill -9 here,
        // none after 15 s). Wait for that, so the restart measures start-up,
        // not a lost tail.
        std::thread::sleep(Duration::from_secs(15));
        return Ok((t0.elapsed().as_secs_f64(), true));
    };
    let limit = range_ms as f64 * 1.5 + 15_000.0;
    let mut prev = lifecycle_metrics(srv)?;
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let now = lifecycle_metrics(srv)?;
        if let (Some(p), Some(n)) = (prev, now)
            && n.head_span_ms <= limit
            && p.cuts == n.cuts
            && p.compactions == n.compactions
        {
            return Ok((t0.elapsed().as_secs_f64(), true));
        }
        if t0.elapsed() > timeout {
            return Ok((t0.elapsed().as_secs_f64(), false));
        }
        prev = now;
    }
}

/// Series whose last sample (the dataset's final round, 15 s before
/// `end_ms`) answers a query: `count(last_over_time({__name__=~".+"}[20s]))`
/// at `end_ms`, a window that holds the last round only.
fn count_last_round(srv: &Server, end_ms: i64) -> Result<u64> {
    let mut body = format!(
        "query={}&time={}",
        "count%28last_over_time%28%7B__name__%3D~%22.%2B%22%7D%5B20s%5D%29%29",
        end_ms / 1000
    );
    if srv.name == "victoriametrics" {
        body.push_str("&nocache=1");
    }
    let r = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()?
        .post(format!("{}/api/v1/query", srv.url))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()?;
    let v: Value = serde_json::from_str(&r.text()?)?;
    Ok(v["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(0.0) as u64)
}

fn mib(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

fn one_run(a: &LifecycleArgs, plan: &Plan, built: &crate::Built, end_ms: i64) -> Result<Value> {
    let c = &a.common;
    let strata = plan.target == "strata";
    let opts = StorageOpts {
        block_range: plan.block_range.map(|(s, _)| s.to_string()),
        maintenance_interval: strata.then(|| a.maintenance_interval.clone()),
        scrape_config: None,
    };
    eprintln!(
        "== {} {} (block range {})",
        plan.target,
        plan.run,
        plan.block_range.map_or("none", |(s, _)| s)
    );
    let mut srv = server::start(plan.target, &c.strata, &opts)?;
    let pid = srv.pid();
    let cpu0 = proc_cpu_secs(pid);
    let started = Instant::now();
    let sent = server::send_all(&srv, &built.rounds, c.shards)?;
    let secs = started.elapsed().as_secs_f64();
    let cpu = proc_cpu_secs(pid) - cpu0;
    let hwm_ingest_kb = proc_status_kb(pid, "VmHWM:");
    let at_ingest_end = lifecycle_metrics(&srv)?;
    let (settle_secs, settled) = settle(
        &srv,
        plan.block_range.map(|(_, ms)| ms),
        Duration::from_secs(a.settle_timeout),
    )?;
    if !settled {
        eprintln!("  warning: maintenance had not caught up after {settle_secs:.0}s");
    }
    let after_settle = lifecycle_metrics(&srv)?;
    let hwm_kb = proc_status_kb(pid, "VmHWM:");
    let rss_before_kill_kb = proc_status_kb(pid, "VmRSS:");
    let wal_bytes =
        (plan.target != "victoriametrics").then(|| server::named_dirs_size(&srv.data_dir, "wal"));
    let head_chunks_bytes =
        (plan.target == "prometheus").then(|| server::dir_size(&srv.data_dir.join("chunks_head")));
    let lat = &sent.latencies_ms;
    let mut r = json!({
        "target": plan.target,
        "run": plan.run,
        "block_range": plan.block_range.map(|(s, _)| s),
        "maintenance_interval": opts.maintenance_interval,
        "samples": built.samples,
        "requests_ok": sent.ok,
        "requests_rejected": sent.rejected,
        "request_retries": sent.retries,
        "seconds": secs,
        "samples_per_sec": built.samples as f64 / secs,
        "cpu_seconds_per_million_samples": cpu / (built.samples as f64 / 1e6),
        "write_p50_ms": percentile(lat, 0.50),
        "write_p99_ms": percentile(lat, 0.99),
        "write_max_ms": lat.last().copied().unwrap_or(0.0),
        "write_requests_over_1s": lat.iter().filter(|&&x| x > 1000.0).count(),
        "peak_rss_ingest_mib": mib(hwm_ingest_kb),
        "peak_rss_mib": mib(hwm_kb),
        "settle_seconds": settle_secs,
        "settled": settled,
        "head_cuts_during_ingest": at_ingest_end.map(|m| m.cuts),
        "compactions_during_ingest": at_ingest_end.map(|m| m.compactions),
        "head_cuts_total": after_settle.map(|m| m.cuts),
        "compactions_total": after_settle.map(|m| m.compactions),
        "wal_bytes": wal_bytes,
        "wal_bytes_per_sample": wal_bytes.map(|b| b as f64 / built.samples as f64),
        "head_chunks_bytes": head_chunks_bytes,
        "rss_before_kill_mib": mib(rss_before_kill_kb),
    });
    if sent.rejected > 0 {
        eprintln!("  warning: {} requests rejected (4xx)", sent.rejected);
    }
    if !a.skip_restart {
        let ready = srv.kill_and_restart(Duration::from_secs(900))?;
        let pid = srv.pid();
        let replay_hwm_kb = proc_status_kb(pid, "VmHWM:");
        let rss_ready_kb = proc_status_kb(pid, "VmRSS:");
        let series = count_last_round(&srv, end_ms)?;
        if series != c.series as u64 {
            eprintln!(
                "  warning: after the restart {series} series have their last sample, {} were written",
                c.series
            );
        }
        r["restart_ready_seconds"] = json!(ready.as_secs_f64());
        r["replay_peak_rss_mib"] = json!(mib(replay_hwm_kb));
        r["rss_at_ready_mib"] = json!(mib(rss_ready_kb));
        r["replay_peak_over_rss_before_kill"] =
            json!(replay_hwm_kb as f64 / rss_before_kill_kb.max(1) as f64);
        r["series_with_last_sample_after_restart"] = json!(series);
        if strata {
            let v = srv.metrics(&[
                "strata_tsdb_wal_replay_samples",
                "strata_tsdb_wal_replay_duration_seconds",
            ])?;
            r["wal_replay_samples"] = json!(v.first().copied().flatten());
            r["wal_replay_seconds"] = json!(v.get(1).copied().flatten());
        } else if plan.target == "prometheus" {
            let v = srv.metrics(&["prometheus_tsdb_data_replay_duration_seconds"])?;
            r["wal_replay_seconds"] = json!(v.first().copied().flatten());
        }
    }
    eprintln!("{r}");
    Ok(r)
}

pub fn run(a: &LifecycleArgs) -> Result<()> {
    let c = &a.common;
    c.check()?;
    let duration_ms = parse_ms(&a.duration)?;
    let steady_ms = parse_ms(&a.steady_block_range)?;
    let cut_ms = parse_ms(&a.cut_block_range)?;
    parse_ms(&a.maintenance_interval)?;
    let steps = (duration_ms / 15_000) as usize;
    if steps < 2 {
        bail!("--duration {} is shorter than two 15 s steps", a.duration);
    }
    for r in &a.runs {
        if !matches!(r.as_str(), "steady" | "cuts") {
            bail!("unknown run {r} (steady, cuts)");
        }
    }
    if duration_ms * 2 > steady_ms * 3 {
        eprintln!(
            "warning: {} of data spans more than 1.5 × the steady block range {}: the steady run will cut",
            a.duration, a.steady_block_range
        );
    }
    if duration_ms * 2 <= cut_ms * 3 {
        eprintln!(
            "warning: {} of data never spans 1.5 × the cut block range {}: no head cut will happen",
            a.duration, a.cut_block_range
        );
    }
    let end_ms = crate::now_ms()?;
    let built = c.build(steps, end_ms);
    let mut results = Vec::new();
    for target in &c.targets {
        if target == "victoriametrics" {
            let plan = Plan {
                target,
                run: "steady",
                block_range: None,
            };
            results.push(one_run(a, &plan, &built, end_ms)?);
            continue;
        }
        for run in &a.runs {
            let block_range = if run == "steady" {
                (a.steady_block_range.as_str(), steady_ms)
            } else {
                (a.cut_block_range.as_str(), cut_ms)
            };
            let plan = Plan {
                target,
                run,
                block_range: Some(block_range),
            };
            results.push(one_run(a, &plan, &built, end_ms)?);
        }
    }
    let ratios = ratios(&results);
    print_report(&results, &ratios);
    let out = json!({
        "mode": "lifecycle",
        "series": c.series,
        "duration": a.duration,
        "steps": steps,
        "samples": built.samples,
        "labels": format!("{:?}", c.labels).to_lowercase(),
        "label_bytes_per_series": built.label_bytes_mean,
        "shards": c.shards,
        "batch": c.batch,
        "runs": results,
        "ratios": ratios,
    });
    println!("{}", serde_json::to_string(&out)?);
    if let Some(p) = &c.json {
        std::fs::write(p, serde_json::to_string_pretty(&out)?)?;
    }
    Ok(())
}

/// The figures compared between runs, with the direction of "better".
const COMPARED: &[&str] = &[
    "samples_per_sec",
    "write_p99_ms",
    "write_max_ms",
    "peak_rss_mib",
    "wal_bytes_per_sample",
    "restart_ready_seconds",
    "replay_peak_rss_mib",
];

fn find<'a>(results: &'a [Value], target: &str, run: &str) -> Option<&'a Value> {
    results
        .iter()
        .find(|r| r["target"] == target && r["run"] == run)
}

fn ratio_of(a: &Value, b: &Value, key: &str) -> Option<f64> {
    match (a[key].as_f64(), b[key].as_f64()) {
        (Some(x), Some(y)) if y > 0.0 => Some(x / y),
        _ => None,
    }
}

fn ratio_map(a: &Value, b: &Value) -> Value {
    let mut m = serde_json::Map::new();
    for k in COMPARED {
        m.insert(k.to_string(), json!(ratio_of(a, b, k)));
    }
    Value::Object(m)
}

/// cuts / steady per server; Strata / Prometheus and Strata /
/// VictoriaMetrics per run.
fn ratios(results: &[Value]) -> Value {
    let mut out = serde_json::Map::new();
    for t in ["strata", "prometheus"] {
        if let (Some(cuts), Some(steady)) = (find(results, t, "cuts"), find(results, t, "steady")) {
            out.insert(format!("{t}_cuts_vs_steady"), ratio_map(cuts, steady));
        }
    }
    for run in ["steady", "cuts"] {
        if let (Some(s), Some(p)) = (
            find(results, "strata", run),
            find(results, "prometheus", run),
        ) {
            out.insert(format!("strata_vs_prometheus_{run}"), ratio_map(s, p));
        }
        if let (Some(s), Some(v)) = (
            find(results, "strata", run),
            find(results, "victoriametrics", "steady"),
        ) {
            out.insert(format!("strata_{run}_vs_victoriametrics"), ratio_map(s, v));
        }
    }
    Value::Object(out)
}

fn num(v: &Value, key: &str, decimals: usize) -> String {
    match v[key].as_f64() {
        Some(x) => format!("{x:.decimals$}"),
        None => "—".to_string(),
    }
}

fn print_report(results: &[Value], ratios: &Value) {
    println!(
        "| target | run | block range | samples/s | write p50 / p99 / max ms | peak RSS MiB (ingest / +settle) | WAL B/sample | head cuts (ingest / total) | compactions (ingest / total) | restart to ready s | replay peak RSS MiB | RSS before kill MiB | replay peak / before kill |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in results {
        println!(
            "| {} | {} | {} | {} | {} / {} / {} | {} / {} | {} | {} / {} | {} / {} | {} | {} | {} | {} |",
            r["target"].as_str().unwrap_or(""),
            r["run"].as_str().unwrap_or(""),
            r["block_range"].as_str().unwrap_or("—"),
            num(r, "samples_per_sec", 0),
            num(r, "write_p50_ms", 1),
            num(r, "write_p99_ms", 1),
            num(r, "write_max_ms", 1),
            num(r, "peak_rss_ingest_mib", 0),
            num(r, "peak_rss_mib", 0),
            num(r, "wal_bytes_per_sample", 3),
            num(r, "head_cuts_during_ingest", 0),
            num(r, "head_cuts_total", 0),
            num(r, "compactions_during_ingest", 0),
            num(r, "compactions_total", 0),
            num(r, "restart_ready_seconds", 2),
            num(r, "replay_peak_rss_mib", 0),
            num(r, "rss_before_kill_mib", 0),
            num(r, "replay_peak_over_rss_before_kill", 2),
        );
    }
    println!();
    println!(
        "| ratio | samples/s | write p99 | write max | peak RSS | WAL B/sample | restart to ready | replay peak RSS |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let Some(m) = ratios.as_object() else {
        return;
    };
    for (name, v) in m {
        let cells: Vec<String> = COMPARED
            .iter()
            .map(|k| {
                v[*k]
                    .as_f64()
                    .map_or("—".to_string(), |x| format!("{x:.2}×"))
            })
            .collect();
        println!("| {} | {} |", name.replace('_', " "), cells.join(" | "));
    }
    println!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations() -> Result<()> {
        assert_eq!(parse_ms("10m")?, 600_000);
        assert_eq!(parse_ms("1h30m")?, 5_400_000);
        assert_eq!(parse_ms("500ms")?, 500);
        assert_eq!(parse_ms("2h")?, 7_200_000);
        assert!(parse_ms("").is_err());
        assert!(parse_ms("10").is_err());
        assert!(parse_ms("m").is_err());
        assert!(parse_ms("3x").is_err());
        assert!(parse_ms("99999999999999999h").is_err());
        Ok(())
    }

    #[test]
    fn ratios_pair_runs() {
        let runs = vec![
            json!({"target": "strata", "run": "steady", "samples_per_sec": 100.0, "write_p99_ms": 10.0}),
            json!({"target": "strata", "run": "cuts", "samples_per_sec": 50.0, "write_p99_ms": 40.0}),
            json!({"target": "prometheus", "run": "steady", "samples_per_sec": 25.0, "write_p99_ms": 20.0}),
        ];
        let r = ratios(&runs);
        assert_eq!(r["strata_cuts_vs_steady"]["samples_per_sec"], json!(0.5));
        assert_eq!(r["strata_cuts_vs_steady"]["write_p99_ms"], json!(4.0));
        assert_eq!(
            r["strata_vs_prometheus_steady"]["samples_per_sec"],
            json!(4.0)
        );
        assert_eq!(
            r["strata_vs_prometheus_steady"]["peak_rss_mib"],
            Value::Null
        );
        assert!(r.get("prometheus_cuts_vs_steady").is_none());
        assert!(r.get("strata_vs_prometheus_cuts").is_none());
    }
}
