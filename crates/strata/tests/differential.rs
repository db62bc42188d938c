//! Differential PromQL test: the same deterministic dataset is written over
//! remote-write into the real Prometheus (Debian's `prometheus`) and into
//! Strata, then every query in `differential/queries.txt` is run against both
//! as an instant query (at several times) and as a range query, and the
//! answers must agree: same label sets, values within 1e-9 relative (NaN
//! equals NaN), same error type.
//!
//! Strata runs with 20-minute blocks, and the test waits until the older
//! two thirds of the hour have been cut into two blocks, so every query reads
//! blocks, the head and the boundaries between them.
//!
//! Strata follows Prometheus 3 semantics; the local Prometheus is 2.42. The
//! dataset is shaped so the documented 2→3 differences cannot show (samples
//! never sit exactly on a range boundary, so left-open vs left-closed windows
//! agree; no label value contains a newline, so `.` matching `\n` agrees).
//! Queries whose answers differ on purpose are listed in `KNOWN_DIFFERENCES`
//! with their reference, and are checked to be the only ones that differ.

mod support;

use serde_json::Value as Json;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use strata_model::{Labels, Sample};
use strata_promql::script::values_equal;
use support::*;

/// Intentional differences between Strata (Prometheus 3 semantics) and the
/// local Prometheus 2.42, with the reference for each.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[
    (
        "holt_winters(",
        "Renamed double_exponential_smoothing in Prometheus 3.0 and gated behind \
         --enable-feature=promql-experimental-functions (prometheus/prometheus#14930); Strata \
         follows 3.x and does not know holt_winters.",
    ),
    (
        "double_exponential_smoothing(",
        "Does not exist in 2.42 (added in 3.0 as the new name of holt_winters, prometheus#14930).",
    ),
    (
        "sort_by_label",
        "Added in Prometheus 2.49 / 3.x (prometheus#11299); 2.42 reports an unknown function.",
    ),
    (
        "mad_over_time(",
        "Added in Prometheus 2.49 (prometheus#13059); 2.42 reports an unknown function.",
    ),
    (
        "increase(kafka_consumergroup_lag[15m])",
        "A gauge whose 'resets' make the counter zero-point clamp apply: Prometheus 2.51+ (and 3.x) \
         apply the extrapolation threshold before clamping to the zero point \
         (prometheus/prometheus#13725); 2.42 clamps first, so the extrapolated start differs.",
    ),
    (
        "stddev(special_values)",
        "Prometheus 3's aggregation starts stddev/stdvar at NaN when a group's first sample is NaN \
         or ±Inf (promql/engine.go, aggregation(): `case math.IsNaN(f), math.IsInf(f, 0): \
         group.floatValue = math.NaN()`); 2.42 starts at 0, so a one-series group holding Inf \
         gives 0 there and NaN here.",
    ),
    (
        "\"1bad\"",
        "Prometheus 3.0 accepts any UTF-8 label name (migration guide, 'UTF-8 names'; \
         prometheus/proposals 2023-08-21-utf8), so label_replace to \"1bad\" succeeds; 2.42 \
         rejects it as an invalid label name.",
    ),
];

fn is_known_difference(q: &str) -> Option<&'static str> {
    KNOWN_DIFFERENCES
        .iter()
        .find(|(pat, _)| q.contains(pat))
        .map(|(_, why)| *why)
}

/// xorshift64*: deterministic and dependency-free.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Scrape interval of the dataset and its offset from whole seconds, so no
/// sample lands on a query range boundary (queries use whole 10s steps).
const INTERVAL: i64 = 15_000;
const PHASE: i64 = 3_217;
const POINTS: i64 = 240; // one hour

fn dataset(base: i64) -> Vec<(Labels, Vec<Sample>)> {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut out = Vec::new();
    let ts = |i: i64, jitter: i64| base + PHASE + i * INTERVAL + jitter;
    // node_exporter-like counters with resets, per cpu/mode/instance.
    for inst in ["node-a:9100", "node-b:9100", "node-c:9100"] {
        for cpu in 0..2 {
            for mode in ["idle", "user", "system", "iowait"] {
                let mut v = rng.unit() * 1000.0;
                let reset_at = (rng.next() % 400) as i64; // sometimes inside the hour
                let samples = (0..POINTS)
                    .map(|i| {
                        if i == reset_at {
                            v = rng.unit() * 3.0;
                        } else {
                            v += (rng.unit() * 15.0 * 100.0).round() / 100.0;
                        }
                        Sample::new(ts(i, (rng.next() % 40) as i64), v)
                    })
                    .collect();
                out.push((
                    Labels::from_pairs([
                        ("__name__", "node_cpu_seconds_total"),
                        ("instance", inst),
                        ("job", "node"),
                        ("cpu", &cpu.to_string()),
                        ("mode", mode),
                    ]),
                    samples,
                ));
            }
        }
        // Gauges.
        let mut mem = 8e9 * (0.5 + rng.unit());
        let samples = (0..POINTS)
            .map(|i| {
                mem += (rng.unit() - 0.5) * 5e7;
                Sample::new(ts(i, 0), mem.round())
            })
            .collect();
        out.push((
            Labels::from_pairs([
                ("__name__", "node_memory_MemAvailable_bytes"),
                ("instance", inst),
                ("job", "node"),
            ]),
            samples,
        ));
        let total = 16e9;
        out.push((
            Labels::from_pairs([
                ("__name__", "node_memory_MemTotal_bytes"),
                ("instance", inst),
                ("job", "node"),
            ]),
            (0..POINTS).map(|i| Sample::new(ts(i, 0), total)).collect(),
        ));
        // `up`, which goes stale for a while on node-c.
        let samples = (0..POINTS)
            .filter_map(|i| {
                if inst == "node-c:9100" && (100..140).contains(&i) {
                    if i == 100 {
                        Some(Sample::new(ts(i, 0), strata_model::stale_nan()))
                    } else {
                        None
                    }
                } else {
                    Some(Sample::new(ts(i, 0), 1.0))
                }
            })
            .collect();
        out.push((
            Labels::from_pairs([("__name__", "up"), ("instance", inst), ("job", "node")]),
            samples,
        ));
    }
    // kube-state-metrics-like series.
    for (ns, pods) in [("payments", 4), ("kafka", 3), ("monitoring", 2)] {
        for p in 0..pods {
            let pod = format!("{ns}-{p}");
            for container in ["app", "sidecar"] {
                let mut restarts = (rng.next() % 3) as f64;
                let samples = (0..POINTS)
                    .map(|i| {
                        if rng.unit() < 0.01 {
                            restarts += 1.0;
                        }
                        Sample::new(ts(i, 5), restarts)
                    })
                    .collect();
                out.push((
                    Labels::from_pairs([
                        ("__name__", "kube_pod_container_status_restarts_total"),
                        ("namespace", ns),
                        ("pod", &pod),
                        ("container", container),
                        ("job", "kube-state-metrics"),
                    ]),
                    samples,
                ));
                let mut mem = 1e8 * (1.0 + rng.unit());
                let samples = (0..POINTS)
                    .map(|i| {
                        mem = (mem + (rng.unit() - 0.45) * 1e6).max(0.0);
                        Sample::new(ts(i, 11), mem.round())
                    })
                    .collect();
                out.push((
                    Labels::from_pairs([
                        ("__name__", "container_memory_working_set_bytes"),
                        ("namespace", ns),
                        ("pod", &pod),
                        ("container", container),
                        ("job", "cadvisor"),
                    ]),
                    samples,
                ));
            }
            let limit = [2.0e8, 5.0e8][p % 2];
            out.push((
                Labels::from_pairs([
                    ("__name__", "kube_pod_container_resource_limits"),
                    ("namespace", ns),
                    ("pod", &pod),
                    ("container", "app"),
                    ("resource", "memory"),
                    ("job", "kube-state-metrics"),
                ]),
                (0..POINTS).map(|i| Sample::new(ts(i, 5), limit)).collect(),
            ));
        }
    }
    // kafka_exporter-like lag per partition, one hot partition that grows.
    for part in 0..6 {
        let mut lag = 50.0 * rng.unit();
        let samples = (0..POINTS)
            .map(|i| {
                lag = if part == 3 {
                    lag + 7.0 + rng.unit() * 3.0
                } else {
                    (lag + (rng.unit() - 0.5) * 20.0).max(0.0).round()
                };
                Sample::new(ts(i, 20), lag)
            })
            .collect();
        out.push((
            Labels::from_pairs([
                ("__name__", "kafka_consumergroup_lag"),
                ("consumergroup", "settlements-processor"),
                ("topic", "payment-events"),
                ("partition", &part.to_string()),
                ("job", "kafka"),
            ]),
            samples,
        ));
    }
    // A classic histogram per handler.
    let les = ["0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"];
    for handler in ["/api/pay", "/api/refund"] {
        let mut counts = [0f64; 7];
        let mut sum = 0.0;
        let mut series_samples: Vec<Vec<Sample>> = vec![Vec::new(); 9];
        for i in 0..POINTS {
            let n = (rng.next() % 20) as usize;
            for _ in 0..n {
                let lat = rng.unit().powi(3) * 3.0;
                sum += lat;
                for (b, le) in les.iter().enumerate() {
                    let bound = if *le == "+Inf" {
                        f64::INFINITY
                    } else {
                        le.parse().unwrap_or(f64::INFINITY)
                    };
                    if lat <= bound {
                        counts[b] += 1.0;
                    }
                }
            }
            let t = ts(i, 2);
            for b in 0..7 {
                series_samples[b].push(Sample::new(t, counts[b]));
            }
            series_samples[7].push(Sample::new(t, sum));
            series_samples[8].push(Sample::new(t, counts[6]));
        }
        for (b, le) in les.iter().enumerate() {
            out.push((
                Labels::from_pairs([
                    ("__name__", "http_request_duration_seconds_bucket"),
                    ("handler", handler),
                    ("le", le),
                    ("job", "api"),
                ]),
                series_samples[b].clone(),
            ));
        }
        out.push((
            Labels::from_pairs([
                ("__name__", "http_request_duration_seconds_sum"),
                ("handler", handler),
                ("job", "api"),
            ]),
            series_samples[7].clone(),
        ));
        out.push((
            Labels::from_pairs([
                ("__name__", "http_request_duration_seconds_count"),
                ("handler", handler),
                ("job", "api"),
            ]),
            series_samples[8].clone(),
        ));
    }
    // Special values and a series that starts late and stops early.
    out.push((
        Labels::from_pairs([("__name__", "special_values"), ("kind", "mixed")]),
        (0..POINTS)
            .map(|i| {
                let v = match i % 11 {
                    3 => f64::INFINITY,
                    5 => f64::NEG_INFINITY,
                    7 => f64::NAN,
                    _ => (i as f64) - 120.0,
                };
                Sample::new(ts(i, 0), v)
            })
            .collect(),
    ));
    out.push((
        Labels::from_pairs([("__name__", "short_lived"), ("job", "batch")]),
        (60..120)
            .map(|i| Sample::new(ts(i, 0), i as f64 * 1.5))
            .collect(),
    ));
    out
}

/// Strata's block range in the differential run: the hour of data spans
/// three ranges, and a head spanning more than 1.5 ranges is cut.
const BLOCK_RANGE_MS: i64 = 20 * 60 * 1000;

/// A gauge or counter from Strata's `/metrics`.
fn metric(client: &reqwest::blocking::Client, strata: &Server, name: &str) -> Option<f64> {
    let text = client
        .get(strata.url("/metrics"))
        .send()
        .ok()?
        .text()
        .ok()?;
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Waits until maintenance has made `cuts` head cuts (and compaction, if it
/// merged them, left at least one block).
fn wait_for_cuts(
    client: &reqwest::blocking::Client,
    strata: &Server,
    cuts_wanted: u64,
) -> TestResult {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let cuts = metric(client, strata, "strata_tsdb_head_cuts_total").unwrap_or(0.0);
        let have = metric(client, strata, "strata_tsdb_blocks").unwrap_or(0.0);
        if cuts >= cuts_wanted as f64 && have >= 1.0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "strata did not make {cuts_wanted} head cuts in 60s: {cuts} cuts, {have} blocks"
            )
            .into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

struct Peer {
    child: Child,
    port: u16,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_prometheus(dir: &Path) -> Option<Peer> {
    let which = Command::new("sh")
        .args(["-c", "command -v prometheus"])
        .output()
        .ok()?;
    if !which.status.success() {
        return None;
    }
    let cfg = dir.join("prometheus.yml");
    // The out-of-order window lets the receiver take the whole backfilled hour
    // regardless of send order.
    std::fs::write(
        &cfg,
        "global:\n  scrape_interval: 15s\nstorage:\n  tsdb:\n    out_of_order_time_window: 1d\n",
    )
    .ok()?;
    let port = free_port();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--web.enable-remote-write-receiver")
        .arg("--log.level=warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let peer = Peer { child, port };
    let client = support::http_client();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(r) = client
            .get(format!("http://127.0.0.1:{port}/-/ready"))
            .send()
            && r.status().is_success()
        {
            return Some(peer);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

fn push(
    client: &reqwest::blocking::Client,
    url: &str,
    data: &[(Labels, Vec<Sample>)],
) -> TestResult {
    // Send in time order, 20 samples per series per request, like a queue.
    let chunk = 20usize;
    let max = data.iter().map(|(_, s)| s.len()).max().unwrap_or(0);
    let mut start = 0;
    while start < max {
        let batch: Vec<(Labels, Vec<Sample>)> = data
            .iter()
            .filter_map(|(l, s)| {
                let part: Vec<Sample> = s.iter().skip(start).take(chunk).copied().collect();
                (!part.is_empty()).then(|| (l.clone(), part))
            })
            .collect();
        let body = strata_ingest::encode_write_request(&batch);
        let r = client
            .post(url)
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .body(body)
            .send()?;
        let code = r.status().as_u16();
        let text = r.text().unwrap_or_default();
        if !(200..300).contains(&code) {
            return Err(format!("{url}: {code} {text}").into());
        }
        start += chunk;
    }
    Ok(())
}

/// A query answer reduced to comparable form.
#[derive(Debug)]
enum Answer {
    Error(String),
    /// (labels, points)
    Series(Vec<(String, Vec<(f64, f64)>)>),
    Scalar(f64, f64),
    Str(String),
}

fn parse_answer(v: &Json) -> Answer {
    if v["status"] != "success" {
        return Answer::Error(v["errorType"].as_str().unwrap_or("?").to_string());
    }
    let data = &v["data"];
    let num = |x: &Json| -> f64 {
        match x {
            Json::String(s) => match s.as_str() {
                "NaN" => f64::NAN,
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                s => s.parse().unwrap_or(f64::NAN),
            },
            Json::Number(n) => n.as_f64().unwrap_or(f64::NAN),
            _ => f64::NAN,
        }
    };
    let point = |p: &Json| (num(&p[0]), num(&p[1]));
    match data["resultType"].as_str() {
        Some("scalar") => {
            let (t, v) = point(&data["result"]);
            Answer::Scalar(t, v)
        }
        Some("string") => Answer::Str(data["result"][1].as_str().unwrap_or("").to_string()),
        Some(_) => {
            let mut out: Vec<(String, Vec<(f64, f64)>)> = data["result"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|s| {
                            let labels = s["metric"].to_string();
                            let pts = if let Some(vals) = s["values"].as_array() {
                                vals.iter().map(point).collect()
                            } else {
                                vec![point(&s["value"])]
                            };
                            (labels, pts)
                        })
                        .collect()
                })
                .unwrap_or_default();
            out.sort_by(|a, b| a.0.cmp(&b.0));
            Answer::Series(out)
        }
        None => Answer::Error("malformed".into()),
    }
}

fn same(a: &Answer, b: &Answer) -> Result<(), String> {
    match (a, b) {
        (Answer::Error(x), Answer::Error(y)) if x == y => Ok(()),
        (Answer::Scalar(t1, v1), Answer::Scalar(t2, v2)) if t1 == t2 && values_equal(*v1, *v2) => {
            Ok(())
        }
        (Answer::Str(x), Answer::Str(y)) if x == y => Ok(()),
        (Answer::Series(x), Answer::Series(y)) => {
            if x.len() != y.len() {
                return Err(format!("{} series vs {} series", x.len(), y.len()));
            }
            for ((l1, p1), (l2, p2)) in x.iter().zip(y) {
                if l1 != l2 {
                    return Err(format!("labels {l1} vs {l2}"));
                }
                if p1.len() != p2.len() {
                    return Err(format!("{l1}: {} points vs {}", p1.len(), p2.len()));
                }
                for ((t1, v1), (t2, v2)) in p1.iter().zip(p2) {
                    if t1 != t2 || !values_equal(*v1, *v2) {
                        return Err(format!("{l1}: point ({t1}, {v1}) vs ({t2}, {v2})"));
                    }
                }
            }
            Ok(())
        }
        _ => Err(format!("{a:?} vs {b:?}")),
    }
}

fn get(client: &reqwest::blocking::Client, url: &str, params: &[(&str, String)]) -> Json {
    match client.post(url).form(params).send() {
        Ok(r) => r.json().unwrap_or(Json::Null),
        Err(e) => Json::String(e.to_string()),
    }
}

#[test]
fn promql_agrees_with_prometheus() -> TestResult {
    let dir = tempfile::tempdir()?;
    let Some(prom) = start_prometheus(dir.path()) else {
        if std::env::var("STRATA_REQUIRE_PEERS").is_ok() {
            return Err(
                "prometheus is not installed or did not start (scripts/test.sh installs it)".into(),
            );
        }
        eprintln!("SKIPPED: prometheus not installed; run ./scripts/test.sh to install it");
        return Ok(());
    };
    let strata_dir = dir.path().join("strata");
    std::fs::create_dir_all(&strata_dir)?;
    // Small blocks and frequent maintenance: the older two thirds of the
    // hour are cut into blocks before the queries run, so answers are read
    // from blocks, across block/block and block/head boundaries, and from
    // the head.
    let strata = Server::start(
        &strata_dir,
        &[
            &format!("--storage.block-range={}ms", BLOCK_RANGE_MS),
            "--storage.maintenance-interval=500ms",
        ],
    );
    let now = now_ms();
    let base = (now / 3_600_000) * 3_600_000 - 2 * 3_600_000;
    let data = dataset(base);
    let client = support::http_builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    push(
        &client,
        &format!("http://127.0.0.1:{}/api/v1/write", prom.port),
        &data,
    )?;
    push(&client, &strata.url("/api/v1/write"), &data)?;
    // [base, base+20m) and [base+20m, base+40m) become blocks.
    wait_for_cuts(&client, &strata, 2)?;

    let text = std::fs::read_to_string(
        Path::new(
            &std::env::var("CARGO_MANIFEST_DIR")
                .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into()),
        )
        .join("tests/differential/queries.txt"),
    )?;
    let queries: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let base_s = base / 1000;
    // Whole seconds: never equal to a sample timestamp (samples carry PHASE
    // ms). The 7 s shift keeps subquery steps (aligned to multiples of their
    // step) off window boundaries, where 2.42's left-closed windows and 3.x's
    // left-open ones differ by design.
    // Two instants sit just after the block/block (20m) and block/head
    // (40m) boundaries, where windows read both sides.
    let instants = [
        base_s + 1207,
        base_s + 1807,
        base_s + 2407,
        base_s + 3007,
        base_s + 3707,
    ];
    let (rstart, rend, rstep) = (base_s + 607, base_s + 3607, 60);
    let mut checked = 0;
    let mut failures = Vec::new();
    let mut known = 0;
    for q in &queries {
        let mut cases: Vec<(String, Vec<(&str, String)>, &str)> = instants
            .iter()
            .map(|t| {
                (
                    format!("instant@{t}"),
                    vec![("query", q.to_string()), ("time", t.to_string())],
                    "/api/v1/query",
                )
            })
            .collect();
        cases.push((
            "range".into(),
            vec![
                ("query", q.to_string()),
                ("start", rstart.to_string()),
                ("end", rend.to_string()),
                ("step", rstep.to_string()),
            ],
            "/api/v1/query_range",
        ));
        for (what, params, path) in cases {
            let pa = parse_answer(&get(
                &client,
                &format!("http://127.0.0.1:{}{path}", prom.port),
                &params,
            ));
            let sa = parse_answer(&get(&client, &strata.url(path), &params));
            checked += 1;
            if let Err(diff) = same(&pa, &sa) {
                if is_known_difference(q).is_some() {
                    known += 1;
                } else {
                    failures.push(format!("{q} [{what}]: prometheus vs strata: {diff}"));
                }
            }
        }
    }
    eprintln!(
        "differential: {checked} comparisons over {} queries, {known} known differences, {} failures",
        queries.len(),
        failures.len()
    );
    assert!(
        checked >= 300,
        "the differential suite must run at least 300 comparisons, ran {checked}"
    );
    assert!(
        failures.is_empty(),
        "{} unexplained differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
    Ok(())
}
