//! `rules`: Strata and Prometheus evaluate the same file of recording rules
//! (`--rules`, a realistic mix: rate/sum-by, histogram_quantile, joins,
//! ratios, small selectors) over the same remote-written dataset. Each
//! server gets the dataset first (rules already loaded, so evaluation runs
//! during ingest as it would in production, but is not measured then), then
//! for `--duration` the benchmark reads every group's `evaluationTime` from
//! `/api/v1/rules` once per new `lastEvaluation` and the server's CPU
//! seconds. Figures: per-group iteration time (mean, p50, p99), rule
//! evaluation seconds per interval (sum of the groups' means), server CPU
//! seconds per interval, missed iterations, and the recorded series count
//! (which must agree between the two).

use crate::query::percentile;
use crate::server::{self, StorageOpts};
use crate::{now_ms, proc_cpu_secs, proc_status_kb};
use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};

#[derive(Args, Debug)]
pub struct RulesArgs {
    #[command(flatten)]
    pub common: crate::Common,
    /// Samples per series (15 s apart; 120 = 30 minutes).
    #[arg(long, default_value_t = 120)]
    pub steps: usize,
    /// Number of recording rules.
    #[arg(long, default_value_t = 1000)]
    pub rules: usize,
    /// Rules per group (groups run concurrently, rules in a group in order).
    #[arg(long, default_value_t = 10)]
    pub group_size: usize,
    /// Evaluation interval of every group.
    #[arg(long, default_value = "15s")]
    pub interval: String,
    /// How long evaluations are measured after ingest.
    #[arg(long, default_value = "120s")]
    pub duration: String,
    /// Write the generated rule file here too (to run it elsewhere).
    #[arg(long)]
    pub rules_out: Option<std::path::PathBuf>,
}

const NAMESPACES: [&str; 6] = [
    "payments",
    "kafka",
    "monitoring",
    "ingress-nginx",
    "checkout",
    "batch",
];
const TOPIC_PREFIXES: [&str; 4] = ["payments", "settlements", "orders", "inventory"];
const WINDOWS: [&str; 4] = ["1m", "2m", "5m", "10m"];

/// Rule `i` of the mix: (record name, expression). Families rotate so that
/// every group holds a mix; the parameter (`i / families`) picks the
/// namespace, job, topic, quantile or window, so no two rules are equal.
fn rule(i: usize) -> (String, String) {
    const FAMILIES: usize = 10;
    let p = i / FAMILIES;
    let ns = NAMESPACES[p % NAMESPACES.len()];
    let w = WINDOWS[(p / NAMESPACES.len()) % WINDOWS.len()];
    let job = format!("orders-api-{}", p % 40);
    let topic = TOPIC_PREFIXES[p % TOPIC_PREFIXES.len()];
    let expr = match i % FAMILIES {
        0 => format!(
            "sum by (instance, mode) (rate(node_cpu_seconds_total{{mode!=\"idle\",cpu=\"{}\"}}[{w}]))",
            p % 16
        ),
        1 => format!(
            "histogram_quantile({q}, sum by (le) (rate(http_request_duration_seconds_bucket{{job=\"{job}\"}}[{w}])))",
            q = [0.5, 0.9, 0.99][(p / 40) % 3]
        ),
        2 => format!(
            "sum by (namespace, pod) (rate(container_cpu_usage_seconds_total{{namespace=\"{ns}\"}}[{w}])) * on (namespace, pod) group_left (node) kube_pod_info{{namespace=\"{ns}\"}}"
        ),
        3 => format!(
            "sum by (pod) (container_memory_working_set_bytes{{namespace=\"{ns}\"}}) / sum by (pod) (kube_pod_container_resource_limits{{namespace=\"{ns}\",resource=\"memory\"}})"
        ),
        4 => format!(
            "sum by (consumergroup, topic) (max_over_time(kafka_consumergroup_lag{{topic=~\"{topic}-.*\"}}[{w}]))"
        ),
        5 => format!(
            "sum by (job) (rate(http_request_duration_seconds_sum{{job=\"{job}\"}}[{w}])) / sum by (job) (rate(http_request_duration_seconds_count{{job=\"{job}\"}}[{w}]))"
        ),
        6 => format!(
            "sum by (namespace) (increase(kube_pod_container_status_restarts_total{{namespace=\"{ns}\"}}[{w}]))"
        ),
        7 => format!(
            "1 - avg by (instance) (avg_over_time(node_memory_MemAvailable_bytes[{w}])) / avg by (instance) (node_memory_MemTotal_bytes) > 0.{:02}",
            p % 100
        ),
        8 => {
            format!("max by (topic) (deriv(kafka_consumergroup_lag{{topic=~\"{topic}-.*\"}}[{w}]))")
        }
        _ => format!(
            "count by (namespace) (kube_pod_status_phase{{namespace=\"{ns}\",phase=\"Running\"}} == 1) >= {}",
            p % 20
        ),
    };
    (format!("bench:rule_{i:04}:f{}", i % FAMILIES), expr)
}

/// The rule file: `rules` recording rules in groups of `group_size`.
pub fn rule_file(rules: usize, group_size: usize, interval: &str) -> String {
    let mut y = String::from("groups:\n");
    let gs = group_size.max(1);
    for g in 0..rules.div_ceil(gs) {
        y.push_str(&format!(
            "  - name: bench-{g:03}\n    interval: {interval}\n    rules:\n"
        ));
        for i in g * gs..((g + 1) * gs).min(rules) {
            let (record, expr) = rule(i);
            // Single-quoted YAML: the expressions hold double quotes only.
            y.push_str(&format!(
                "      - record: {record}\n        expr: '{expr}'\n"
            ));
        }
    }
    y
}

fn get_json(client: &reqwest::blocking::Client, url: &str) -> Result<Value> {
    let text = client.get(url).send()?.text()?;
    serde_json::from_str(&text).with_context(|| format!("answer of {url}"))
}

/// One group iteration as `/api/v1/rules` shows it.
#[derive(Default)]
struct GroupTimes {
    last_evaluation: String,
    seconds: Vec<f64>,
}

pub fn run(a: &RulesArgs) -> Result<()> {
    let c = &a.common;
    c.check()?;
    let interval = humantime::parse_duration(&a.interval).context("--interval")?;
    let duration = humantime::parse_duration(&a.duration).context("--duration")?;
    let dir = tempfile::tempdir()?;
    let rules_path = dir.path().join("bench-rules.yml");
    let text = rule_file(a.rules, a.group_size, &a.interval);
    std::fs::write(&rules_path, &text)?;
    if let Some(p) = &a.rules_out {
        std::fs::write(p, &text)?;
    }
    let groups = a.rules.div_ceil(a.group_size.max(1));
    eprintln!(
        "{} recording rules in {groups} groups, every {}",
        a.rules, a.interval
    );
    let config = format!(
        "global:\n  scrape_interval: 15s\n  evaluation_interval: {}\nrule_files:\n  - {}\n",
        a.interval,
        rules_path.display()
    );
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()?;
    let mut results = Vec::new();
    for name in &c.targets {
        if name == "victoriametrics" {
            eprintln!("skipping victoriametrics: rules run in vmalert, a separate process");
            continue;
        }
        eprintln!("== {name}");
        // Each server's data ends when its run starts, so both evaluate
        // over equally fresh data.
        let built = c.build(a.steps, now_ms()?);
        let opts = StorageOpts {
            scrape_config: Some(config.clone()),
            ..StorageOpts::default()
        };
        let srv = server::start(name, &c.strata, &opts)?;
        let pid = srv.pid();
        let t = Instant::now();
        let sent = server::send_all(&srv, &built.rounds, c.shards)?;
        eprintln!(
            "  ingested {} requests in {:.1}s ({} rejected)",
            sent.ok,
            t.elapsed().as_secs_f64(),
            sent.rejected
        );
        // Let the iterations that overlapped ingest finish.
        std::thread::sleep(interval);
        let missed_name = if name == "strata" {
            "strata_rule_group_iterations_missed_total"
        } else {
            "prometheus_rule_group_iterations_missed_total"
        };
        let missed0 = srv.metrics(&[missed_name])?[0].unwrap_or(0.0);
        let mut times: HashMap<String, GroupTimes> = HashMap::new();
        let (cpu0, t0) = (proc_cpu_secs(pid), Instant::now());
        let mut first = true;
        let mut unhealthy = 0usize;
        let mut last_error = String::new();
        while t0.elapsed() < duration {
            // A server busy evaluating may answer late; a failed poll
            // loses nothing (the next one sees the same lastEvaluation).
            let v = match get_json(&client, &format!("{}/api/v1/rules?type=record", srv.url)) {
                Ok(v) => v,
                Err(e) => {
                    eprintln!("  poll failed ({e:#}), retrying");
                    std::thread::sleep(Duration::from_secs(1));
                    continue;
                }
            };
            let Some(gs) = v["data"]["groups"].as_array() else {
                bail!("{name}: /api/v1/rules answered {v}");
            };
            for g in gs {
                let gname = g["name"].as_str().unwrap_or_default().to_string();
                let last = g["lastEvaluation"].as_str().unwrap_or_default().to_string();
                let secs = g["evaluationTime"].as_f64().unwrap_or(0.0);
                let e = times.entry(gname).or_default();
                // The first poll only notes where each group stands: its
                // iteration may have run during ingest.
                if e.last_evaluation != last {
                    if !first {
                        e.seconds.push(secs);
                    }
                    e.last_evaluation = last;
                }
                if first {
                    continue;
                }
                for r in g["rules"].as_array().into_iter().flatten() {
                    if r["health"] == "err" {
                        unhealthy += 1;
                        last_error = r["lastError"].as_str().unwrap_or_default().to_string();
                    }
                }
            }
            first = false;
            std::thread::sleep(Duration::from_millis(500));
        }
        let (cpu1, secs) = (proc_cpu_secs(pid), t0.elapsed().as_secs_f64());
        let missed1 = srv.metrics(&[missed_name])?[0].unwrap_or(0.0);
        let recorded = get_json(
            &client,
            &format!(
                "{}/api/v1/query?query={}",
                srv.url, "count(%7B__name__%3D~%22bench%3A.%2B%22%7D)"
            ),
        )?;
        let recorded = recorded["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|s| s.parse::<f64>().ok());
        let mut all: Vec<f64> = times.values().flat_map(|g| g.seconds.clone()).collect();
        all.sort_by(f64::total_cmp);
        let iterations = all.len();
        let mean = if iterations > 0 {
            all.iter().sum::<f64>() / iterations as f64
        } else {
            0.0
        };
        // Sum over groups of each group's mean iteration time: the rule
        // evaluation seconds one interval costs.
        let per_interval: f64 = times
            .values()
            .filter(|g| !g.seconds.is_empty())
            .map(|g| g.seconds.iter().sum::<f64>() / g.seconds.len() as f64)
            .sum();
        let intervals = secs / interval.as_secs_f64();
        let r = json!({
            "target": name,
            "series": c.series,
            "rules": a.rules,
            "groups": groups,
            "interval": a.interval,
            "seconds": secs,
            "group_iterations": iterations,
            "group_iteration_mean_ms": mean * 1e3,
            "group_iteration_p50_ms": percentile(&all, 0.5) * 1e3,
            "group_iteration_p99_ms": percentile(&all, 0.99) * 1e3,
            "eval_seconds_per_interval": per_interval,
            "cpu_seconds_per_interval": (cpu1 - cpu0) / intervals,
            "missed_iterations": missed1 - missed0,
            "unhealthy_rule_observations": unhealthy,
            "last_error": last_error,
            "recorded_series": recorded,
            "peak_rss_mib": proc_status_kb(pid, "VmHWM:") as f64 / 1024.0,
        });
        eprintln!("{r}");
        results.push(r);
    }
    report(&results);
    if let Some(p) = &c.json {
        std::fs::write(
            p,
            serde_json::to_string_pretty(&json!({"mode": "rules", "runs": results}))?,
        )?;
    }
    Ok(())
}

fn report(results: &[Value]) {
    println!(
        "| target | group iterations | iteration mean / p50 / p99 ms | rule eval s per interval | CPU s per interval | missed | recorded series |"
    );
    println!("|---|---|---|---|---|---|---|");
    let f = |v: &Value| {
        v.as_f64()
            .map(|x| format!("{x:.3}"))
            .unwrap_or_else(|| "—".into())
    };
    for r in results {
        println!(
            "| {} | {} | {} / {} / {} | {} | {} | {} | {} |",
            r["target"].as_str().unwrap_or_default(),
            r["group_iterations"],
            f(&r["group_iteration_mean_ms"]),
            f(&r["group_iteration_p50_ms"]),
            f(&r["group_iteration_p99_ms"]),
            f(&r["eval_seconds_per_interval"]),
            f(&r["cpu_seconds_per_interval"]),
            r["missed_iterations"],
            r["recorded_series"],
        );
    }
    let Some(s) = results.iter().find(|r| r["target"] == "strata") else {
        return;
    };
    for o in results.iter().filter(|r| r["target"] != "strata") {
        let ratio = |k: &str| match (s[k].as_f64(), o[k].as_f64()) {
            (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
            _ => "—".into(),
        };
        println!(
            "| strata vs {} | | {} | {} | {} | | |",
            o["target"].as_str().unwrap_or_default(),
            ratio("group_iteration_mean_ms"),
            ratio("eval_seconds_per_interval"),
            ratio("cpu_seconds_per_interval"),
        );
        if s["recorded_series"] != o["recorded_series"] {
            println!(
                "warning: recorded series differ: strata {} vs {} {}",
                s["recorded_series"],
                o["target"].as_str().unwrap_or_default(),
                o["recorded_series"]
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_distinct_and_grouped() {
        let text = rule_file(1000, 10, "15s");
        assert_eq!(text.matches("- name: bench-").count(), 100);
        let records: std::collections::HashSet<String> = (0..1000).map(|i| rule(i).0).collect();
        assert_eq!(records.len(), 1000);
        // Per-namespace families repeat over six namespaces and four
        // windows, as real per-team rule files do; the rest vary more.
        let exprs: std::collections::HashSet<String> = (0..1000).map(|i| rule(i).1).collect();
        assert!(exprs.len() > 450, "{} distinct expressions", exprs.len());
        assert!(text.contains("histogram_quantile(0.99"));
        assert!(text.contains("group_left (node)"));
    }
}
