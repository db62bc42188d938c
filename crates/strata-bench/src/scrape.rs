//! `scrape`: Strata, Prometheus and VictoriaMetrics scrape the same
//! synthetic targets — `--targets-count` targets of `--series` /
//! `--targets-count` series each, cut from the benchmark dataset, values
//! moving every scrape, all served by one local fixture server — at the
//! same interval; per server, the scrape duration it reports, its CPU
//! seconds per scrape round and per million scraped samples, and its peak
//! RSS.

use crate::dataset;
use crate::server::{self, StorageOpts};
use crate::{proc_cpu_secs, proc_status_kb};
use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Args, Debug)]
pub struct ScrapeArgs {
    #[command(flatten)]
    pub common: crate::Common,
    /// Scrape interval (and timeout) of the one target.
    #[arg(long, default_value = "5s")]
    pub interval: String,
    /// How long each server scrapes after its first scrape.
    #[arg(long, default_value = "60s")]
    pub duration: String,
    /// Targets the series are split over (each its own `instance`).
    #[arg(long, default_value_t = 1)]
    pub targets_count: usize,
}

/// The dataset's label sets as exposition line prefixes (`name{…} `).
fn line_prefixes(defs: &[dataset::SeriesDef]) -> Vec<String> {
    let mut out = Vec::with_capacity(defs.len());
    for d in defs {
        let mut pairs: Vec<(String, String)> = Vec::new();
        let b = &d.labels_pb;
        let mut i = 0;
        // Label fields: 0x0a len { 0x0a len name 0x12 len value }.
        let read_len = |b: &[u8], i: &mut usize| -> usize {
            let (mut n, mut s) = (0usize, 0);
            while let Some(&x) = b.get(*i) {
                *i += 1;
                n |= ((x & 0x7f) as usize) << s;
                s += 7;
                if x < 0x80 {
                    break;
                }
            }
            n
        };
        while i < b.len() {
            i += 1;
            let len = read_len(b, &mut i);
            let end = (i + len).min(b.len());
            let (mut name, mut value) = (String::new(), String::new());
            let mut j = i;
            while j < end {
                let tag = b[j];
                j += 1;
                let l = read_len(b, &mut j);
                let s = String::from_utf8_lossy(&b[j..(j + l).min(end)]).into_owned();
                j += l;
                if tag == 0x0a {
                    name = s;
                } else {
                    value = s;
                }
            }
            pairs.push((name, value));
            i = end;
        }
        let metric = pairs
            .iter()
            .find(|(n, _)| n == "__name__")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let rest: Vec<String> = pairs
            .iter()
            .filter(|(n, _)| n != "__name__")
            .map(|(n, v)| format!("{n}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
            .collect();
        out.push(format!("{metric}{{{}}} ", rest.join(",")));
    }
    out
}

/// Serves the exposition on loopback; each response moves every value.
fn serve(prefixes: Arc<Vec<String>>, parts: usize, served: Arc<AtomicU64>) -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let prefixes = prefixes.clone();
            let served = served.clone();
            std::thread::spawn(move || {
                let mut req = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => req.extend_from_slice(&buf[..n]),
                        }
                    }
                    // `GET /t/<i> …`: target i's share of the series.
                    let part: usize = std::str::from_utf8(&req)
                        .ok()
                        .and_then(|r| r.split_whitespace().nth(1))
                        .and_then(|p| p.strip_prefix("/t/"))
                        .and_then(|i| i.parse().ok())
                        .unwrap_or(0);
                    req.clear();
                    let per = prefixes.len().div_ceil(parts.max(1));
                    let from = (part * per).min(prefixes.len());
                    let to = (from + per).min(prefixes.len());
                    let k = served.fetch_add(1, Ordering::SeqCst) as f64;
                    let mut body = String::with_capacity((to - from) * 200);
                    for (i, p) in prefixes[from..to].iter().enumerate() {
                        body.push_str(p);
                        body.push_str(&format!("{}\n", (i % 1000) as f64 + k * 3.5));
                    }
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    );
                    if conn.write_all(head.as_bytes()).is_err()
                        || conn.write_all(body.as_bytes()).is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    Ok(port)
}

fn instant(srv: &server::Server, q: &str) -> Result<Option<f64>> {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let text = client
        .get(format!("{}/api/v1/query", srv.url))
        .query(&[("query", q)])
        .send()?
        .text()?;
    let v: Value = serde_json::from_str(&text)?;
    Ok(v["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|s| s.parse().ok()))
}

pub fn run(a: &ScrapeArgs) -> Result<()> {
    let c = &a.common;
    c.check()?;
    let interval = humantime::parse_duration(&a.interval).context("--interval")?;
    let duration = humantime::parse_duration(&a.duration).context("--duration")?;
    let defs = dataset::dataset(c.series, c.seed, c.labels);
    let prefixes = Arc::new(line_prefixes(&defs));
    let body_bytes: usize = prefixes.iter().map(|p| p.len() + 8).sum();
    eprintln!(
        "exposition: {} series over {} targets, ~{:.1} MiB per round, every {}",
        c.series,
        a.targets_count.max(1),
        body_bytes as f64 / 1048576.0,
        a.interval
    );
    let served = Arc::new(AtomicU64::new(0));
    let parts = a.targets_count.max(1);
    let port = serve(prefixes, parts, served.clone())?;
    // One job; each target its own path (relabeled from a label) and
    // `instance`, so the three servers see `parts` distinct targets.
    let mut yaml = format!(
        "global:\n  scrape_interval: {i}\n  scrape_timeout: {i}\nscrape_configs:\n  - job_name: big\n    relabel_configs:\n      - {{source_labels: [part], target_label: __metrics_path__, replacement: '/t/$1'}}\n      - {{source_labels: [part], target_label: instance, replacement: 't$1'}}\n      - {{regex: part, action: labeldrop}}\n    static_configs:\n",
        i = a.interval
    );
    for p in 0..parts {
        yaml.push_str(&format!(
            "      - {{targets: ['127.0.0.1:{port}'], labels: {{part: '{p}'}}}}\n"
        ));
    }
    let mut results = Vec::new();
    for name in &c.targets {
        eprintln!("== {name}");
        let opts = StorageOpts {
            scrape_config: Some(yaml.clone()),
            ..StorageOpts::default()
        };
        let srv = server::start(name, &c.strata, &opts)?;
        let pid = srv.pid();
        // Wait for the first scrape, then measure a whole number of them.
        let before = served.load(Ordering::SeqCst);
        let deadline = Instant::now() + interval * 3 + Duration::from_secs(30);
        while served.load(Ordering::SeqCst) == before {
            if Instant::now() > deadline {
                bail!("{name} never scraped the target");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Let the first (series-creating) scrape finish.
        std::thread::sleep(interval);
        let (n0, cpu0, t0) = (
            served.load(Ordering::SeqCst),
            proc_cpu_secs(pid),
            Instant::now(),
        );
        std::thread::sleep(duration);
        let (n1, cpu1, secs) = (
            served.load(Ordering::SeqCst),
            proc_cpu_secs(pid),
            t0.elapsed().as_secs_f64(),
        );
        // Scrape rounds: every target once.
        let scrapes = ((n1 - n0) as f64 / parts as f64).max(1.0);
        let cpu_per_scrape = (cpu1 - cpu0) / scrapes;
        // The peak of scraping, read before the check queries below: a
        // count over every stored series is a query's memory, not a scrape's.
        let hwm_kb = proc_status_kb(pid, "VmHWM:");
        std::thread::sleep(Duration::from_secs(2));
        let window = format!("{}s", duration.as_secs() + 1);
        let dur = instant(
            &srv,
            &format!("avg(avg_over_time(scrape_duration_seconds{{job=\"big\"}}[{window}]))"),
        )?;
        let scraped = instant(&srv, "sum(scrape_samples_scraped{job=\"big\"})")?;
        let stored = instant(&srv, "count({job=\"big\",__name__!~\"up|scrape_.*\"})")?;
        let r = json!({
            "target": name,
            "series": c.series,
            "targets": parts,
            "scrapes": scrapes,
            "seconds": secs,
            "scrape_duration_avg_seconds": dur,
            "samples_scraped": scraped,
            "series_stored": stored,
            "cpu_seconds_per_scrape": cpu_per_scrape,
            "cpu_seconds_per_million_samples": cpu_per_scrape / (c.series as f64 / 1e6),
            "peak_rss_mib": hwm_kb as f64 / 1024.0,
        });
        eprintln!("{r}");
        results.push(r);
    }
    println!(
        "| target | scrape duration avg s | CPU s / round | CPU s / 1M samples | samples scraped | series stored | peak RSS MiB |"
    );
    println!("|---|---|---|---|---|---|---|");
    let f = |v: &Value| {
        v.as_f64()
            .map(|x| format!("{x:.3}"))
            .unwrap_or_else(|| "—".into())
    };
    for r in &results {
        println!(
            "| {} | {} | {} | {} | {} | {} | {:.0} |",
            r["target"].as_str().unwrap_or_default(),
            f(&r["scrape_duration_avg_seconds"]),
            f(&r["cpu_seconds_per_scrape"]),
            f(&r["cpu_seconds_per_million_samples"]),
            r["samples_scraped"],
            r["series_stored"],
            r["peak_rss_mib"].as_f64().unwrap_or(0.0),
        );
    }
    if let Some(s) = results.iter().find(|r| r["target"] == "strata") {
        for o in results.iter().filter(|r| r["target"] != "strata") {
            let ratio = |k: &str| match (s[k].as_f64(), o[k].as_f64()) {
                (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
                _ => "—".into(),
            };
            println!(
                "| strata vs {} | {} | {} | {} | | | {} |",
                o["target"].as_str().unwrap_or_default(),
                ratio("scrape_duration_avg_seconds"),
                ratio("cpu_seconds_per_scrape"),
                ratio("cpu_seconds_per_million_samples"),
                ratio("peak_rss_mib"),
            );
        }
    }
    if let Some(p) = &c.json {
        std::fs::write(
            p,
            serde_json::to_string_pretty(
                &json!({"mode": "scrape", "interval": a.interval, "runs": results}),
            )?,
        )?;
    }
    Ok(())
}
