//! The query phase: after ingest, while the server still runs, a fixed
//! PromQL set is timed over HTTP as range queries (the last hour of data,
//! step 60 s, `POST /api/v1/query_range`) and instant queries (at the end of
//! the data, `POST /api/v1/query`), plus prometheus-adapter's discovery call
//! (`GET /api/v1/series`). Each call gets a few warm-up runs (the first one
//! also checks the answer and counts its series), then N timed runs from one
//! client, one at a time; a run's latency includes reading the whole body.
//!
//! VictoriaMetrics caches range-query results; its requests carry
//! `nocache=1` so that repeated runs measure evaluation, not the cache.

use anyhow::{Result, bail};
use std::time::{Duration, Instant};

/// One query of the set. Metric and label names are those `dataset` makes.
pub struct QuerySpec {
    pub name: &'static str,
    pub promql: &'static str,
}

pub const QUERIES: &[QuerySpec] = &[
    QuerySpec {
        name: "cpu_rate_by_mode",
        promql: "sum by (mode) (rate(node_cpu_seconds_total[5m]))",
    },
    QuerySpec {
        name: "http_p99_by_handler",
        promql: "histogram_quantile(0.99, sum by (le, handler) (rate(http_request_duration_seconds_bucket[5m])))",
    },
    QuerySpec {
        name: "topk_container_cpu",
        promql: "topk(10, rate(container_cpu_usage_seconds_total[5m]))",
    },
    QuerySpec {
        name: "pod_cpu_join_node",
        promql: "sum by (namespace, pod) (rate(container_cpu_usage_seconds_total[5m])) * on(namespace, pod) group_left(node) kube_pod_info",
    },
    QuerySpec {
        name: "kafka_lag_max_over_time",
        promql: "sum by (topic) (max_over_time(kafka_consumergroup_lag[10m]))",
    },
    QuerySpec {
        name: "subquery_max_cpu_rate",
        promql: "max by (namespace) (max_over_time(rate(container_cpu_usage_seconds_total[5m])[30m:1m]))",
    },
    QuerySpec {
        name: "regex_memory_sum",
        promql: r#"sum(container_memory_working_set_bytes{namespace=~"pay.*|kaf.*"})"#,
    },
    QuerySpec {
        name: "count_all_series",
        promql: r#"count({__name__=~".+"})"#,
    },
];

/// prometheus-adapter's discovery selector (its default rules' seriesQuery).
pub const SERIES_MATCH: &str = r#"{namespace!="",__name__!~"^container_.*"}"#;
pub const SERIES_NAME: &str = "adapter_series_discovery";

/// Range of the range queries, and their step.
const RANGE_SECS: i64 = 3600;
const STEP_SECS: i64 = 60;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    Range,
    Instant,
    Series,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Range => "range",
            Mode::Instant => "instant",
            Mode::Series => "series",
        }
    }
}

/// The figures of one call on one server.
pub struct QueryStat {
    pub name: &'static str,
    pub mode: Mode,
    /// Series in the answer (result entries; label sets for `/series`).
    pub series: usize,
    /// Points in the answer (samples of a matrix; entries otherwise).
    pub points: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub mean_ms: f64,
    pub error: Option<String>,
    /// The server's peak RSS during this call's runs (KiB; 0 when the peak
    /// could not be reset before them).
    pub peak_rss_kb: u64,
}

impl QueryStat {
    /// p50 when the call worked.
    pub fn ok_p50(&self) -> Option<f64> {
        self.error.is_none().then_some(self.p50_ms)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "mode": self.mode.as_str(),
            "query": promql_of(self.name),
            "series": self.series,
            "points": self.points,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "mean_ms": self.mean_ms,
            "error": self.error,
            "peak_rss_mib": self.peak_rss_kb as f64 / 1024.0,
        })
    }
}

fn promql_of(name: &str) -> &'static str {
    QUERIES
        .iter()
        .find(|q| q.name == name)
        .map(|q| q.promql)
        .unwrap_or(SERIES_MATCH)
}

/// The query phase of one server.
pub struct QueryPhase {
    pub target: String,
    pub stats: Vec<QueryStat>,
    pub rss_before_kb: u64,
    pub hwm_before_kb: u64,
    pub hwm_after_kb: u64,
    /// Whether VmHWM could be reset before the phase (then `hwm_after_kb` is
    /// the peak of the query phase alone, else the process' lifetime peak).
    pub hwm_reset: bool,
    pub cpu_secs: f64,
    pub seconds: f64,
}

impl QueryPhase {
    pub fn get(&self, name: &str, mode: Mode) -> Option<&QueryStat> {
        self.stats.iter().find(|s| s.name == name && s.mode == mode)
    }

    pub fn json(&self, runs: usize, warmup: usize) -> serde_json::Value {
        serde_json::json!({
            "runs": runs,
            "warmup_runs": warmup,
            "range_seconds": RANGE_SECS,
            "step_seconds": STEP_SECS,
            "seconds": self.seconds,
            "cpu_seconds": self.cpu_secs,
            "rss_before_mib": self.rss_before_kb as f64 / 1024.0,
            "peak_rss_before_mib": self.hwm_before_kb as f64 / 1024.0,
            "peak_rss_mib": self.hwm_after_kb as f64 / 1024.0,
            "peak_rss_reset_before_phase": self.hwm_reset,
            "results": self.stats.iter().map(QueryStat::json).collect::<Vec<_>>(),
        })
    }
}

/// `application/x-www-form-urlencoded` / query-string encoding.
fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3 / 2);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn form(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// One prepared HTTP call.
struct Call {
    name: &'static str,
    mode: Mode,
    url: String,
    /// Form body (POST) or `None` (GET, parameters in the URL).
    body: Option<String>,
}

fn calls(base: &str, target: &str, end_s: i64) -> Vec<Call> {
    let nocache = target == "victoriametrics";
    let mut out = Vec::new();
    for mode in [Mode::Range, Mode::Instant] {
        for q in QUERIES {
            let mut p = vec![("query", q.promql.to_string())];
            let path = if mode == Mode::Range {
                p.push(("start", (end_s - RANGE_SECS).to_string()));
                p.push(("end", end_s.to_string()));
                p.push(("step", STEP_SECS.to_string()));
                "/api/v1/query_range"
            } else {
                p.push(("time", end_s.to_string()));
                "/api/v1/query"
            };
            if nocache {
                p.push(("nocache", "1".to_string()));
            }
            out.push(Call {
                name: q.name,
                mode,
                url: format!("{base}{path}"),
                body: Some(form(&p)),
            });
        }
    }
    let qs = form(&[
        ("match[]", SERIES_MATCH.to_string()),
        ("start", (end_s - RANGE_SECS).to_string()),
    ]);
    out.push(Call {
        name: SERIES_NAME,
        mode: Mode::Series,
        url: format!("{base}/api/v1/series?{qs}"),
        body: None,
    });
    out
}

fn send(client: &reqwest::blocking::Client, c: &Call) -> Result<Vec<u8>> {
    let req = match &c.body {
        Some(b) => client
            .post(&c.url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(b.clone()),
        None => client.get(&c.url),
    };
    let r = req.send()?;
    let status = r.status();
    let body = r.bytes()?;
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body);
        bail!(
            "HTTP {status}: {}",
            text.chars().take(300).collect::<String>()
        );
    }
    Ok(body.to_vec())
}

/// Checks a Prometheus API answer and counts its series and points.
fn count(body: &[u8], mode: Mode) -> Result<(usize, usize)> {
    let v: serde_json::Value = serde_json::from_slice(body)?;
    if v["status"].as_str() != Some("success") {
        bail!("status {}: {}", v["status"], v["error"]);
    }
    let items = match mode {
        Mode::Series => v["data"].as_array(),
        _ => v["data"]["result"].as_array(),
    };
    let Some(items) = items else {
        // A scalar or string result: one value.
        return Ok((1, 1));
    };
    let points = match mode {
        Mode::Range => items
            .iter()
            .map(|s| {
                s["values"].as_array().map_or(0, Vec::len)
                    + s["histograms"].as_array().map_or(0, Vec::len)
            })
            .sum(),
        _ => items.len(),
    };
    Ok((items.len(), points))
}

/// Nearest-rank percentile of sorted values.
pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted.get(rank - 1).copied().unwrap_or(0.0)
}

fn run_call(client: &reqwest::blocking::Client, c: &Call, warmup: usize, runs: usize) -> QueryStat {
    let mut stat = QueryStat {
        name: c.name,
        mode: c.mode,
        series: 0,
        points: 0,
        p50_ms: 0.0,
        p99_ms: 0.0,
        mean_ms: 0.0,
        error: None,
        peak_rss_kb: 0,
    };
    // The first warm-up run also validates the answer.
    match send(client, c).and_then(|b| count(&b, c.mode)) {
        Ok((series, points)) => (stat.series, stat.points) = (series, points),
        Err(e) => {
            stat.error = Some(format!("{e:#}"));
            return stat;
        }
    }
    for _ in 1..warmup {
        if let Err(e) = send(client, c) {
            stat.error = Some(format!("warm-up: {e:#}"));
            return stat;
        }
    }
    let mut ms = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        if let Err(e) = send(client, c) {
            stat.error = Some(format!("timed run: {e:#}"));
            return stat;
        }
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    ms.sort_by(f64::total_cmp);
    stat.p50_ms = percentile(&ms, 0.50);
    stat.p99_ms = percentile(&ms, 0.99);
    stat.mean_ms = ms.iter().sum::<f64>() / ms.len().max(1) as f64;
    stat
}

/// Runs the whole query set against one running server. Errors of single
/// calls are recorded in their `QueryStat`, not returned.
pub fn run(
    target: &str,
    base_url: &str,
    pid: u32,
    end_ms: i64,
    warmup: usize,
    runs: usize,
) -> Result<QueryPhase> {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()?;
    let rss_before_kb = crate::proc_status_kb(pid, "VmRSS:");
    let hwm_before_kb = crate::proc_status_kb(pid, "VmHWM:");
    // Writing 5 to clear_refs resets the peak RSS to the current RSS.
    let hwm_reset = std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok();
    let cpu0 = crate::proc_cpu_secs(pid);
    let started = Instant::now();
    let mut stats = Vec::new();
    // The phase's peak is the highest of the calls' peaks, each taken
    // after a reset, so the query that sets it can be named.
    let mut phase_hwm_kb = 0u64;
    for c in calls(base_url, target, end_ms / 1000) {
        let reset = hwm_reset && std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok();
        let mut s = run_call(&client, &c, warmup, runs);
        if reset {
            s.peak_rss_kb = crate::proc_status_kb(pid, "VmHWM:");
            phase_hwm_kb = phase_hwm_kb.max(s.peak_rss_kb);
        }
        match &s.error {
            Some(e) => eprintln!("  {:<26} {:<7} ERROR {e}", s.name, s.mode.as_str()),
            None => eprintln!(
                "  {:<26} {:<7} series {:>6}  p50 {:>9.2} ms  p99 {:>9.2} ms  peak RSS {:>5.0} MiB",
                s.name,
                s.mode.as_str(),
                s.series,
                s.p50_ms,
                s.p99_ms,
                s.peak_rss_kb as f64 / 1024.0
            ),
        }
        if s.error.is_none() && s.series == 0 {
            eprintln!(
                "  warning: {target} {} {}: empty result",
                s.name,
                s.mode.as_str()
            );
        }
        stats.push(s);
    }
    Ok(QueryPhase {
        target: target.to_string(),
        stats,
        rss_before_kb,
        hwm_before_kb,
        hwm_after_kb: if hwm_reset {
            phase_hwm_kb
        } else {
            crate::proc_status_kb(pid, "VmHWM:")
        },
        hwm_reset,
        cpu_secs: crate::proc_cpu_secs(pid) - cpu0,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// All (name, mode) pairs in report order.
fn keys() -> Vec<(&'static str, Mode)> {
    let mut k = Vec::new();
    for mode in [Mode::Range, Mode::Instant] {
        for q in QUERIES {
            k.push((q.name, mode));
        }
    }
    k.push((SERIES_NAME, Mode::Series));
    k
}

fn geomean(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    Some((xs.iter().map(|x| x.ln()).sum::<f64>() / xs.len() as f64).exp())
}

/// Strata's p50 over `other`'s p50, per (name, mode), where both worked.
fn ratios(strata: &QueryPhase, other: &QueryPhase) -> Vec<(&'static str, Mode, Option<f64>)> {
    keys()
        .into_iter()
        .map(|(n, m)| {
            let s = strata.get(n, m).and_then(QueryStat::ok_p50);
            let o = other.get(n, m).and_then(QueryStat::ok_p50);
            let r = match (s, o) {
                (Some(s), Some(o)) if o > 0.0 && s > 0.0 => Some(s / o),
                _ => None,
            };
            (n, m, r)
        })
        .collect()
}

/// Geometric means of ratios: range, instant, range + instant, with counts.
fn geomeans(r: &[(&'static str, Mode, Option<f64>)]) -> [(Option<f64>, usize); 3] {
    let pick = |f: &dyn Fn(Mode) -> bool| -> (Option<f64>, usize) {
        let xs: Vec<f64> = r
            .iter()
            .filter(|(_, m, _)| f(*m))
            .filter_map(|(_, _, x)| *x)
            .collect();
        (geomean(&xs), xs.len())
    };
    [
        pick(&|m| m == Mode::Range),
        pick(&|m| m == Mode::Instant),
        pick(&|m| m != Mode::Series),
    ]
}

fn fmt_ms(s: Option<&QueryStat>, p99: bool) -> String {
    match s {
        None => "—".to_string(),
        Some(s) if s.error.is_some() => "error".to_string(),
        Some(s) => format!("{:.2}", if p99 { s.p99_ms } else { s.p50_ms }),
    }
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or("—".to_string(), |r| format!("{r:.2}×"))
}

/// Prints a warning for every call whose series count differs between
/// Strata and Prometheus (and a note when only the point counts differ).
pub fn check_agreement(phases: &[QueryPhase]) {
    let (Some(s), Some(p)) = (
        phases.iter().find(|p| p.target == "strata"),
        phases.iter().find(|p| p.target == "prometheus"),
    ) else {
        return;
    };
    for (n, m) in keys() {
        let (Some(a), Some(b)) = (s.get(n, m), p.get(n, m)) else {
            continue;
        };
        if a.error.is_some() || b.error.is_some() {
            continue;
        }
        if a.series != b.series {
            println!(
                "warning: {n} ({}): Strata returned {} series, Prometheus {}",
                m.as_str(),
                a.series,
                b.series
            );
        } else if a.points != b.points {
            println!(
                "note: {n} ({}): same series count, Strata returned {} points, Prometheus {}",
                m.as_str(),
                a.points,
                b.points
            );
        }
    }
}

/// The markdown report of the query phase, on stdout.
pub fn print_report(phases: &[QueryPhase], runs: usize, warmup: usize) {
    let find = |t: &str| phases.iter().find(|p| p.target == t);
    let strata = find("strata");
    let others: Vec<(&str, &QueryPhase)> =
        [("Prometheus", "prometheus"), ("VM", "victoriametrics")]
            .into_iter()
            .filter_map(|(label, t)| find(t).map(|p| (label, p)))
            .collect();
    let cmp: Vec<(&str, Vec<(&'static str, Mode, Option<f64>)>)> = match strata {
        Some(s) => others.iter().map(|(l, o)| (*l, ratios(s, o))).collect(),
        None => Vec::new(),
    };

    println!();
    println!(
        "Query latency, ms (p50 / p99 of {runs} runs after {warmup} warm-ups; range = last {}h, step {STEP_SECS}s; instant = at the end of the data):",
        RANGE_SECS / 3600
    );
    println!();
    let names: Vec<&str> = phases.iter().map(|p| p.target.as_str()).collect();
    let mut head = format!("| query | mode | series ({}) |", names.join(" / "));
    let mut rule = String::from("|---|---|---|");
    for p in phases {
        head.push_str(&format!(" {0} p50 | {0} p99 |", p.target));
        rule.push_str("---|---|");
    }
    for (l, _) in &cmp {
        head.push_str(&format!(" Strata/{l} p50 |"));
        rule.push_str("---|");
    }
    println!("{head}");
    println!("{rule}");
    for (i, (n, m)) in keys().into_iter().enumerate() {
        let series: Vec<String> = phases
            .iter()
            .map(|p| match p.get(n, m) {
                Some(s) if s.error.is_none() => s.series.to_string(),
                _ => "—".to_string(),
            })
            .collect();
        let mut row = format!("| {n} | {} | {} |", m.as_str(), series.join(" / "));
        for p in phases {
            let s = p.get(n, m);
            row.push_str(&format!(" {} | {} |", fmt_ms(s, false), fmt_ms(s, true)));
        }
        for (_, r) in &cmp {
            row.push_str(&format!(
                " {} |",
                fmt_ratio(r.get(i).and_then(|(_, _, x)| *x))
            ));
        }
        println!("{row}");
    }
    if !cmp.is_empty() {
        println!();
        println!("Geometric mean of the p50 ratios (number of queries in brackets):");
        println!();
        println!("| ratio | range | instant | range + instant |");
        println!("|---|---|---|---|");
        for (l, r) in &cmp {
            let g = geomeans(r);
            let cell = |(x, k): (Option<f64>, usize)| format!("{} ({k})", fmt_ratio(x));
            println!(
                "| Strata / {l} | {} | {} | {} |",
                cell(g[0]),
                cell(g[1]),
                cell(g[2])
            );
        }
    }
    println!();
    println!(
        "| target | RSS before queries MiB | peak RSS during queries MiB | query phase CPU s | query phase wall s |"
    );
    println!("|---|---|---|---|---|");
    for p in phases {
        println!(
            "| {} | {:.0} | {:.0}{} | {:.1} | {:.1} |",
            p.target,
            p.rss_before_kb as f64 / 1024.0,
            p.hwm_after_kb as f64 / 1024.0,
            if p.hwm_reset { "" } else { " (lifetime peak)" },
            p.cpu_secs,
            p.seconds
        );
    }
    for p in phases {
        for s in &p.stats {
            if let Some(e) = &s.error {
                println!("error: {} {} ({}): {e}", p.target, s.name, s.mode.as_str());
            }
        }
    }
}

/// The ratios and their geometric means, for the JSON of Strata's entry.
pub fn ratios_json(phases: &[QueryPhase]) -> Option<serde_json::Value> {
    let find = |t: &str| phases.iter().find(|p| p.target == t);
    let strata = find("strata")?;
    let mut out = serde_json::Map::new();
    for t in ["prometheus", "victoriametrics"] {
        let Some(o) = find(t) else { continue };
        let r = ratios(strata, o);
        let g = geomeans(&r);
        out.insert(
            format!("p50_vs_{t}"),
            serde_json::json!({
                "per_query": r.iter().map(|(n, m, x)| serde_json::json!({
                    "name": n, "mode": m.as_str(), "ratio": x,
                })).collect::<Vec<_>>(),
                "geomean_range": g[0].0,
                "geomean_instant": g[1].0,
                "geomean_range_and_instant": g[2].0,
            }),
        );
    }
    Some(serde_json::Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_forms() {
        assert_eq!(
            form(&[("match[]", r#"{a!="",b=~"x.*"}"#.to_string())]),
            "match%5B%5D=%7Ba%21%3D%22%22%2Cb%3D~%22x.%2A%22%7D"
        );
    }

    #[test]
    fn percentiles() {
        let xs: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(percentile(&xs, 0.5), 10.0);
        assert_eq!(percentile(&xs, 0.99), 20.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }

    #[test]
    fn counts_answers() -> Result<()> {
        let m = br#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"],[2,"2"]]}]}}"#;
        assert_eq!(count(m, Mode::Range)?, (1, 2));
        let s = br#"{"status":"success","data":[{"a":"b"},{"a":"c"}]}"#;
        assert_eq!(count(s, Mode::Series)?, (2, 2));
        assert!(count(br#"{"status":"error","error":"x"}"#, Mode::Instant).is_err());
        Ok(())
    }

    #[test]
    fn geomean_of_ratios() {
        let g = geomean(&[2.0, 0.5]).unwrap_or(0.0);
        assert!((g - 1.0).abs() < 1e-12);
        assert_eq!(geomean(&[]), None);
    }
}
