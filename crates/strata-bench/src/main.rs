//! `strata-bench`: the same remote-write workload, side by side, against
//! Strata, Prometheus and VictoriaMetrics, in one run.
//!
//! The dataset is deterministic (seeded): series shaped like node_exporter,
//! kube-state-metrics/cAdvisor, kafka_exporter and classic histograms, one
//! sample per series every 15 s, ending now. Requests are built before the
//! timed phase (so the client's encoding cost is not measured) and sent like
//! a Prometheus remote-write queue: series sharded over concurrent
//! connections, 2000 samples per request, all shards advancing together in
//! time order, retries with backoff on 5xx/429.
//!
//! Per server it reports ingest samples/s, server CPU seconds per million
//! samples (from /proc/<pid>/stat), peak RSS (VmHWM) and RSS per active
//! series, and bytes per sample on disk once the head is written out as
//! blocks (Strata and Prometheus: an admin snapshot that includes the head;
//! VictoriaMetrics: force_flush, then the data directory).
//!
//! Then, while the server still runs, the query phase (`query.rs`): a fixed
//! PromQL set timed as range and instant queries, plus prometheus-adapter's
//! `/api/v1/series` discovery call; p50/p99 latency per query and server,
//! Strata's ratios to the others, and peak RSS during the phase.

use anyhow::{Context, Result, bail};
use clap::Parser;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod query;

#[derive(Parser, Debug)]
#[command(about = "Side-by-side remote-write benchmark (Strata, Prometheus, VictoriaMetrics)")]
struct Args {
    /// Path of the strata binary (build with `cargo build --release`).
    #[arg(long, default_value = "target/release/strata")]
    strata: PathBuf,
    /// Number of series (≥ 100k for the figures).
    #[arg(long, default_value_t = 100_000)]
    series: usize,
    /// Samples per series (15 s apart; 480 = 2 hours).
    #[arg(long, default_value_t = 480)]
    steps: usize,
    /// Concurrent connections (remote-write shards).
    #[arg(long, default_value_t = 4)]
    shards: usize,
    /// Samples per request (Prometheus' max_samples_per_send).
    #[arg(long, default_value_t = 2000)]
    batch: usize,
    /// Which servers to run, in order.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "strata,prometheus,victoriametrics"
    )]
    targets: Vec<String>,
    /// Seed of the dataset.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Write the JSON results here too.
    #[arg(long)]
    json: Option<PathBuf>,
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
}

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

#[derive(Clone, Copy)]
enum Kind {
    Counter { rate: f64, decimals: i32 },
    Gauge { step: f64, round: bool },
    Constant,
    Bucket { rate: f64 },
}

struct SeriesDef {
    /// Protobuf-encoded `Label` fields, ready to splice into a TimeSeries.
    labels_pb: Vec<u8>,
    kind: Kind,
    value: f64,
}

fn varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn len_field(tag: u8, b: &[u8], out: &mut Vec<u8>) {
    out.push(tag);
    varint(b.len() as u64, out);
    out.extend_from_slice(b);
}

fn labels_pb(pairs: &mut [(String, String)]) -> Vec<u8> {
    pairs.sort();
    let mut out = Vec::new();
    let mut item = Vec::new();
    for (n, v) in pairs.iter() {
        item.clear();
        len_field(0x0a, n.as_bytes(), &mut item);
        len_field(0x12, v.as_bytes(), &mut item);
        len_field(0x0a, &item, &mut out);
    }
    out
}

fn s(x: &str) -> String {
    x.to_string()
}

/// The deterministic dataset: roughly 45% node_exporter, 30% kube-state /
/// cAdvisor, 15% kafka_exporter, 10% classic histograms.
fn dataset(n: usize, seed: u64) -> Vec<SeriesDef> {
    let mut rng = Rng(seed | 1);
    let mut out = Vec::with_capacity(n);
    let push =
        |rng: &mut Rng, mut pairs: Vec<(String, String)>, kind: Kind, out: &mut Vec<SeriesDef>| {
            let value = match kind {
                Kind::Counter { .. } | Kind::Bucket { .. } => (rng.unit() * 1e6).round(),
                Kind::Gauge { .. } => (rng.unit() * 1e9).round(),
                Kind::Constant => [1.0, 16_777_216_000.0, 4.0, 0.0][(rng.next() % 4) as usize],
            };
            out.push(SeriesDef {
                labels_pb: labels_pb(&mut pairs),
                kind,
                value,
            });
        };
    let (node_n, kube_n, kafka_n) = (n * 45 / 100, n * 30 / 100, n * 15 / 100);
    // node_exporter: per host, cpu × mode counters, filesystem and memory gauges.
    let mut i = 0;
    while i < node_n {
        let host = format!("node-{:04}.prod.example.com:9100", i / 400);
        for cpu in 0..16 {
            for mode in [
                "idle", "user", "system", "iowait", "irq", "softirq", "steal", "nice",
            ] {
                if i >= node_n {
                    break;
                }
                let pairs = vec![
                    (s("__name__"), s("node_cpu_seconds_total")),
                    (s("instance"), host.clone()),
                    (s("job"), s("node")),
                    (s("cpu"), cpu.to_string()),
                    (s("mode"), s(mode)),
                ];
                push(
                    &mut rng,
                    pairs,
                    Kind::Counter {
                        rate: if mode == "idle" { 14.8 } else { 0.4 },
                        decimals: 2,
                    },
                    &mut out,
                );
                i += 1;
            }
        }
        for (k, name) in [
            "node_memory_MemAvailable_bytes",
            "node_memory_Cached_bytes",
            "node_filesystem_avail_bytes",
            "node_load1",
            "node_network_receive_bytes_total",
            "node_network_transmit_bytes_total",
            "node_memory_MemTotal_bytes",
            "node_disk_io_time_seconds_total",
        ]
        .iter()
        .enumerate()
        {
            for dev in 0..34 {
                if i >= node_n {
                    break;
                }
                let pairs = vec![
                    (s("__name__"), s(name)),
                    (s("instance"), host.clone()),
                    (s("job"), s("node")),
                    (s("device"), format!("dev{dev}")),
                ];
                let kind = match k {
                    0..=2 => Kind::Gauge {
                        step: 4096.0 * 50.0,
                        round: true,
                    },
                    3 => Kind::Gauge {
                        step: 0.05,
                        round: false,
                    },
                    4 | 5 => Kind::Counter {
                        rate: 125_000.0,
                        decimals: 0,
                    },
                    6 => Kind::Constant,
                    _ => Kind::Counter {
                        rate: 0.3,
                        decimals: 3,
                    },
                };
                push(&mut rng, pairs, kind, &mut out);
                i += 1;
            }
        }
    }
    // kube-state-metrics and cAdvisor.
    let mut j = 0;
    while j < kube_n {
        let ns = [
            "payments",
            "kafka",
            "monitoring",
            "ingress",
            "default",
            "batch",
        ][(j / 50) % 6];
        let pod = format!("{ns}-deploy-{:05}-{:x}", j / 10, rng.next() % 0xfffff);
        for (name, kind) in [
            (
                "kube_pod_container_status_restarts_total",
                Kind::Counter {
                    rate: 0.001,
                    decimals: 0,
                },
            ),
            ("kube_pod_container_resource_limits", Kind::Constant),
            ("kube_pod_container_resource_requests", Kind::Constant),
            ("kube_pod_status_phase", Kind::Constant),
            (
                "container_memory_working_set_bytes",
                Kind::Gauge {
                    step: 1e6,
                    round: true,
                },
            ),
            (
                "container_cpu_usage_seconds_total",
                Kind::Counter {
                    rate: 0.35,
                    decimals: 6,
                },
            ),
            (
                "container_network_receive_bytes_total",
                Kind::Counter {
                    rate: 20_000.0,
                    decimals: 0,
                },
            ),
            ("kube_pod_info", Kind::Constant),
            (
                "container_fs_usage_bytes",
                Kind::Gauge {
                    step: 8192.0,
                    round: true,
                },
            ),
            ("kube_pod_container_status_ready", Kind::Constant),
        ] {
            if j >= kube_n {
                break;
            }
            let pairs = vec![
                (s("__name__"), s(name)),
                (s("namespace"), s(ns)),
                (s("pod"), pod.clone()),
                (s("container"), s("app")),
                (s("node"), format!("node-{:04}", j % 97)),
                (
                    s("job"),
                    s(if name.starts_with("container") {
                        "cadvisor"
                    } else {
                        "kube-state-metrics"
                    }),
                ),
            ];
            push(&mut rng, pairs, kind, &mut out);
            j += 1;
        }
    }
    // kafka_exporter: per topic partition and consumer group.
    for k in 0..kafka_n {
        let topic = format!("topic-{:03}", k / 64);
        let part = (k / 2) % 32;
        let (name, kind) = if k % 2 == 0 {
            (
                "kafka_consumergroup_lag",
                Kind::Gauge {
                    step: 40.0,
                    round: true,
                },
            )
        } else {
            (
                "kafka_topic_partition_current_offset",
                Kind::Counter {
                    rate: 150.0,
                    decimals: 0,
                },
            )
        };
        let pairs = vec![
            (s("__name__"), s(name)),
            (s("topic"), topic),
            (s("partition"), part.to_string()),
            (s("consumergroup"), s("settlements-processor")),
            (s("instance"), s("kafka-exporter:9308")),
            (s("job"), s("kafka")),
        ];
        push(&mut rng, pairs, kind, &mut out);
    }
    // Classic histograms: 12 buckets + sum + count per handler.
    let les = [
        "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
    ];
    let mut h = 0;
    while out.len() < n {
        let handler = format!("/api/v1/endpoint-{h}");
        let svc = format!("svc-{}", h % 40);
        for (b, le) in les.iter().enumerate() {
            if out.len() >= n {
                break;
            }
            let pairs = vec![
                (s("__name__"), s("http_request_duration_seconds_bucket")),
                (s("handler"), handler.clone()),
                (s("service"), svc.clone()),
                (s("le"), s(le)),
                (s("job"), s("api")),
            ];
            push(
                &mut rng,
                pairs,
                Kind::Bucket {
                    rate: 5.0 + b as f64 * 4.0,
                },
                &mut out,
            );
        }
        for name in [
            "http_request_duration_seconds_sum",
            "http_request_duration_seconds_count",
        ] {
            if out.len() >= n {
                break;
            }
            let pairs = vec![
                (s("__name__"), s(name)),
                (s("handler"), handler.clone()),
                (s("service"), svc.clone()),
                (s("job"), s("api")),
            ];
            let kind = if name.ends_with("_sum") {
                Kind::Counter {
                    rate: 3.1,
                    decimals: 4,
                }
            } else {
                Kind::Bucket { rate: 60.0 }
            };
            push(&mut rng, pairs, kind, &mut out);
        }
        h += 1;
    }
    out.truncate(n);
    out
}

fn next_value(rng: &mut Rng, d: &mut SeriesDef) -> f64 {
    match d.kind {
        Kind::Counter { rate, decimals } => {
            if rng.next().is_multiple_of(20_000) {
                d.value = 0.0; // a process restart
            }
            let scale = 10f64.powi(decimals);
            d.value = ((d.value + rng.unit() * rate * 15.0) * scale).round() / scale;
        }
        Kind::Bucket { rate } => d.value += (rng.unit() * rate * 15.0).round(),
        Kind::Gauge { step, round } => {
            let v = (d.value + (rng.unit() - 0.5) * step).max(0.0);
            d.value = if round {
                v.round()
            } else {
                (v * 100.0).round() / 100.0
            };
        }
        Kind::Constant => {}
    }
    d.value
}

/// Pre-built requests: `steps` rounds, each a list of per-shard request bodies.
fn build_requests(
    defs: &mut [SeriesDef],
    steps: usize,
    shards: usize,
    batch: usize,
    seed: u64,
    end_ms: i64,
) -> Vec<Vec<Vec<Vec<u8>>>> {
    let mut rng = Rng(seed.wrapping_mul(31) | 1);
    let start = end_ms - steps as i64 * 15_000;
    let mut rounds = Vec::with_capacity(steps);
    let mut ts = Vec::new();
    let mut sample = Vec::new();
    let mut enc = snap::raw::Encoder::new();
    for step in 0..steps {
        let mut per_shard: Vec<Vec<Vec<u8>>> = vec![Vec::new(); shards];
        let mut raw: Vec<Vec<u8>> = vec![Vec::new(); shards];
        let mut counts = vec![0usize; shards];
        for (i, d) in defs.iter_mut().enumerate() {
            let shard = i % shards;
            // Real scrapes jitter by a few ms around the interval.
            let t = start + step as i64 * 15_000 + (i as i64 % 997) + (rng.next() % 5) as i64;
            let v = next_value(&mut rng, d);
            sample.clear();
            sample.push(0x09);
            sample.extend_from_slice(&v.to_le_bytes());
            sample.push(0x10);
            varint(t as u64, &mut sample);
            ts.clear();
            ts.extend_from_slice(&d.labels_pb);
            len_field(0x12, &sample, &mut ts);
            len_field(0x0a, &ts, &mut raw[shard]);
            counts[shard] += 1;
            if counts[shard] == batch {
                per_shard[shard].push(enc.compress_vec(&raw[shard]).unwrap_or_default());
                raw[shard].clear();
                counts[shard] = 0;
            }
        }
        for shard in 0..shards {
            if counts[shard] > 0 {
                per_shard[shard].push(enc.compress_vec(&raw[shard]).unwrap_or_default());
            }
        }
        rounds.push(per_shard);
    }
    rounds
}

struct Server {
    name: String,
    child: Child,
    url: String,
    write_path: String,
    data_dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn start(name: &str, strata: &Path) -> Result<Server> {
    let tmp = tempfile::tempdir()?;
    let port = free_port()?;
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data)?;
    let addr = format!("127.0.0.1:{port}");
    let (mut cmd, write_path) = match name {
        "strata" => {
            let mut c = Command::new(strata);
            c.arg("run")
                .arg("--data-dir")
                .arg(&data)
                .arg("--listen")
                .arg(&addr)
                .args([
                    "--web.enable-admin-api",
                    "--retention.time",
                    "30d",
                    "--log.level",
                    "warn",
                ]);
            (c, "/api/v1/write")
        }
        "prometheus" => {
            let cfg = tmp.path().join("prometheus.yml");
            std::fs::write(&cfg, "global:\n  scrape_interval: 15s\n")?;
            let mut c = Command::new("prometheus");
            c.arg(format!("--config.file={}", cfg.display()))
                .arg(format!("--storage.tsdb.path={}", data.display()))
                .arg(format!("--web.listen-address={addr}"))
                .args([
                    "--web.enable-remote-write-receiver",
                    "--web.enable-admin-api",
                    "--storage.tsdb.retention.time=30d",
                    "--log.level=warn",
                ]);
            (c, "/api/v1/write")
        }
        "victoriametrics" => {
            let mut c = Command::new("victoria-metrics");
            c.arg(format!("-storageDataPath={}", data.display()))
                .arg(format!("-httpListenAddr={addr}"))
                .args(["-retentionPeriod=1y", "-loggerLevel=ERROR"]);
            (c, "/api/v1/write")
        }
        other => bail!("unknown target {other}"),
    };
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {name}"))?;
    let url = format!("http://{addr}");
    let client = reqwest::blocking::Client::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    let ready = if name == "victoriametrics" {
        "/health"
    } else {
        "/-/ready"
    };
    loop {
        if Instant::now() > deadline {
            bail!("{name} did not become ready");
        }
        if client
            .get(format!("{url}{ready}"))
            .send()
            .map(|r| r.status().is_success())
            .unwrap_or(false)
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(Server {
        name: name.to_string(),
        child,
        url,
        write_path: write_path.to_string(),
        data_dir: data,
        _tmp: tmp,
    })
}

fn proc_cpu_secs(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    (num(11) + num(12)) / 100.0
}

fn proc_status_kb(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn dir_size(p: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else {
        return 0;
    };
    rd.filter_map(|e| e.ok())
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn send_all(
    srv: &Server,
    rounds: &Arc<Vec<Vec<Vec<Vec<u8>>>>>,
    shards: usize,
) -> Result<(u64, u64)> {
    let url = format!("{}{}", srv.url, srv.write_path);
    let barrier = Arc::new(std::sync::Barrier::new(shards));
    let mut handles = Vec::new();
    for shard in 0..shards {
        let (url, rounds, barrier) = (url.clone(), rounds.clone(), barrier.clone());
        handles.push(std::thread::spawn(move || -> Result<(u64, u64)> {
            let client = reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()?;
            let (mut ok, mut rejected) = (0u64, 0u64);
            for round in rounds.iter() {
                for body in &round[shard] {
                    let mut backoff = Duration::from_millis(50);
                    loop {
                        let r = client
                            .post(&url)
                            .header("Content-Encoding", "snappy")
                            .header("Content-Type", "application/x-protobuf")
                            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
                            .body(body.clone())
                            .send();
                        match r {
                            Ok(r) if r.status().is_success() => {
                                ok += 1;
                                break;
                            }
                            Ok(r) if r.status().as_u16() == 429 || r.status().is_server_error() => {
                            }
                            Ok(_) => {
                                rejected += 1;
                                break;
                            }
                            Err(_) => {}
                        }
                        std::thread::sleep(backoff);
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                    }
                }
                // All shards advance together, like a live queue in real time.
                barrier.wait();
            }
            Ok((ok, rejected))
        }));
    }
    let (mut ok, mut rej) = (0, 0);
    for h in handles {
        let (o, r) = h.join().map_err(|_| anyhow::anyhow!("sender panicked"))??;
        ok += o;
        rej += r;
    }
    Ok((ok, rej))
}

fn flush_and_measure(srv: &Server) -> Result<u64> {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;
    match srv.name.as_str() {
        "strata" => {
            let r = client
                .post(format!("{}/api/v1/admin/tsdb/snapshot", srv.url))
                .send()?;
            let v: serde_json::Value = serde_json::from_str(&r.text()?)?;
            let name = v["data"]["name"].as_str().context("snapshot name")?;
            Ok(dir_size(&srv.data_dir.join("snapshots").join(name)))
        }
        "prometheus" => {
            let r = client
                .post(format!(
                    "{}/api/v1/admin/tsdb/snapshot?skip_head=false",
                    srv.url
                ))
                .send()?;
            let v: serde_json::Value = serde_json::from_str(&r.text()?)?;
            let name = v["data"]["name"].as_str().context("snapshot name")?;
            Ok(dir_size(&srv.data_dir.join("snapshots").join(name)))
        }
        _ => {
            client
                .get(format!("{}/internal/force_flush", srv.url))
                .send()?;
            // Let background merges settle, then measure data + index.
            std::thread::sleep(Duration::from_secs(10));
            Ok(dir_size(&srv.data_dir.join("data")) + dir_size(&srv.data_dir.join("indexdb")))
        }
    }
}

fn main() -> Result<()> {
    let a = Args::parse();
    if a.shards == 0 || a.batch == 0 {
        bail!("--shards and --batch must be positive");
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let t0 = Instant::now();
    let mut defs = dataset(a.series, a.seed);
    let rounds = Arc::new(build_requests(
        &mut defs, a.steps, a.shards, a.batch, a.seed, now,
    ));
    let total_samples = (a.series * a.steps) as u64;
    let bytes: usize = rounds.iter().flatten().flatten().map(|b| b.len()).sum();
    eprintln!(
        "dataset: {} series × {} samples = {total_samples} samples, {} requests, {:.1} MiB compressed, built in {:.1}s",
        a.series,
        a.steps,
        rounds.iter().flatten().flatten().count(),
        bytes as f64 / 1048576.0,
        t0.elapsed().as_secs_f64()
    );
    let (qruns, qwarm) = (a.query_runs.max(1), a.query_warmup.max(1));
    let mut results = Vec::new();
    let mut phases = Vec::new();
    for name in &a.targets {
        eprintln!("== {name}");
        let srv = start(name, &a.strata)?;
        let pid = srv.child.id();
        let cpu0 = proc_cpu_secs(pid);
        let started = Instant::now();
        let (ok, rejected) = send_all(&srv, &rounds, a.shards)?;
        let secs = started.elapsed().as_secs_f64();
        let cpu = proc_cpu_secs(pid) - cpu0;
        let hwm_kb = proc_status_kb(pid, "VmHWM:");
        let rss_kb = proc_status_kb(pid, "VmRSS:");
        let disk = flush_and_measure(&srv)?;
        let mut r = serde_json::json!({
            "target": name,
            "requests_ok": ok,
            "requests_rejected": rejected,
            "seconds": secs,
            "samples_per_sec": total_samples as f64 / secs,
            "cpu_seconds_per_million_samples": cpu / (total_samples as f64 / 1e6),
            "peak_rss_mib": hwm_kb as f64 / 1024.0,
            "rss_after_ingest_mib": rss_kb as f64 / 1024.0,
            "rss_bytes_per_series": (hwm_kb * 1024) as f64 / a.series as f64,
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
    if let Some(p) = &a.json {
        std::fs::write(p, serde_json::to_string_pretty(&results)?)?;
    }
    Ok(())
}
