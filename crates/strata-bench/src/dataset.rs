//! The deterministic (seeded) remote-write dataset and its pre-built
//! requests.
//!
//! Two label generators share the same metric mix — roughly 45 %
//! node_exporter, 30 % kube-state-metrics / cAdvisor, 15 % kafka_exporter,
//! 10 % classic histograms — and the same value shapes:
//!
//! - [`LabelStyle::Realistic`] (the default): label sets as a Kubernetes
//!   Prometheus scrapes them (service-discovery labels `namespace`, `pod`
//!   with its replicaset hash, `container`, `instance` as ip:port, `job`,
//!   `service`, plus kube-state-metrics' `uid` and the kubelet's `node`):
//!   145–250 bytes per series, 181 on average at 100k series.
//! - [`LabelStyle::Compact`]: the short label sets of the first benchmarks
//!   (about 80 bytes), kept so their figures stay reproducible.

use clap::ValueEnum;

/// Which label generator builds the dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LabelStyle {
    /// Label sets as long as real Kubernetes scrapes (≈180 bytes).
    Realistic,
    /// The short label sets of the first benchmarks (≈80 bytes).
    Compact,
}

/// The dataset of `n` series.
pub(crate) fn dataset(n: usize, seed: u64, style: LabelStyle) -> Vec<SeriesDef> {
    match style {
        LabelStyle::Realistic => realistic(n, seed),
        LabelStyle::Compact => compact(n, seed),
    }
}

/// Mean, minimum and maximum label bytes per series.
pub(crate) fn label_bytes_stats(defs: &[SeriesDef]) -> (f64, usize, usize) {
    if defs.is_empty() {
        return (0.0, 0, 0);
    }
    let sum: usize = defs.iter().map(|d| d.label_bytes).sum();
    let min = defs.iter().map(|d| d.label_bytes).min().unwrap_or(0);
    let max = defs.iter().map(|d| d.label_bytes).max().unwrap_or(0);
    (sum as f64 / defs.len() as f64, min, max)
}

pub(crate) struct Rng(pub(crate) u64);
impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Counter { rate: f64, decimals: i32 },
    Gauge { step: f64, round: bool },
    Constant,
    Bucket { rate: f64 },
}

/// How the k-th per-device node_exporter metric moves (both generators
/// use the same metric list).
fn node_device_metric_kind(k: usize) -> Kind {
    match k {
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
    }
}

/// The kube-state-metrics and cAdvisor series of one pod, shared by both
/// label generators.
/// node_exporter metrics per device/filesystem/interface, in both label
/// generators (the match on their index picks each one's value model).
const NODE_DEVICE_METRICS: [&str; 8] = [
    "node_memory_MemAvailable_bytes",
    "node_memory_Cached_bytes",
    "node_filesystem_avail_bytes",
    "node_load1",
    "node_network_receive_bytes_total",
    "node_network_transmit_bytes_total",
    "node_memory_MemTotal_bytes",
    "node_disk_io_time_seconds_total",
];

const KUBE_POD_METRICS: [(&str, Kind); 10] = [
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
];

pub(crate) struct SeriesDef {
    /// Protobuf-encoded `Label` fields, ready to splice into a TimeSeries.
    pub(crate) labels_pb: Vec<u8>,
    /// Sum of the label names' and values' lengths, `__name__` included.
    pub(crate) label_bytes: usize,
    pub(crate) kind: Kind,
    pub(crate) value: f64,
}

pub(crate) fn varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

pub(crate) fn len_field(tag: u8, b: &[u8], out: &mut Vec<u8>) {
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

/// The short-label dataset of the first benchmarks (about 80 bytes of
/// labels per series): roughly 45% node_exporter, 30% kube-state /
/// cAdvisor, 15% kafka_exporter, 10% classic histograms.
fn compact(n: usize, seed: u64) -> Vec<SeriesDef> {
    let mut rng = Rng(seed | 1);
    let mut out = Vec::with_capacity(n);
    let push =
        |rng: &mut Rng, mut pairs: Vec<(String, String)>, kind: Kind, out: &mut Vec<SeriesDef>| {
            let value = initial_value(rng, kind);
            out.push(SeriesDef::new(&mut pairs, kind, value));
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
        for (k, name) in NODE_DEVICE_METRICS.iter().enumerate() {
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
                let kind = node_device_metric_kind(k);
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
        for (name, kind) in KUBE_POD_METRICS {
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

impl SeriesDef {
    fn new(pairs: &mut [(String, String)], kind: Kind, value: f64) -> SeriesDef {
        SeriesDef {
            label_bytes: pairs.iter().map(|(n, v)| n.len() + v.len()).sum(),
            labels_pb: labels_pb(pairs),
            kind,
            value,
        }
    }
}

fn initial_value(rng: &mut Rng, kind: Kind) -> f64 {
    match kind {
        Kind::Counter { .. } | Kind::Bucket { .. } => (rng.unit() * 1e6).round(),
        Kind::Gauge { .. } => (rng.unit() * 1e9).round(),
        Kind::Constant => [1.0, 16_777_216_000.0, 4.0, 0.0][(rng.next() % 4) as usize],
    }
}

const ALNUM: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// A Kubernetes name suffix (`-7d9f8b6c5d`, `-x2k4q`): `len` characters of
/// the alphabet Kubernetes uses for generated names.
fn kube_suffix(rng: &mut Rng, len: usize) -> String {
    (0..len)
        .map(|_| ALNUM[(rng.next() % ALNUM.len() as u64) as usize] as char)
        .collect()
}

fn uuid(rng: &mut Rng) -> String {
    let (a, b) = (rng.next(), rng.next());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

fn pod_ip(i: usize) -> String {
    format!(
        "10.{}.{}.{}",
        32 + (i >> 16) % 200,
        (i >> 8) & 0xff,
        i & 0xff
    )
}

fn node_name(i: usize) -> String {
    format!("ip-10-0-{}-{}.ec2.internal", (i / 250) % 250, i % 250 + 4)
}

/// Label sets as a Kubernetes Prometheus scrapes them (kube-prometheus
/// service monitors): 145–250 bytes per series.
fn realistic(n: usize, seed: u64) -> Vec<SeriesDef> {
    let mut rng = Rng(seed | 1);
    let mut out = Vec::with_capacity(n);
    let push =
        |rng: &mut Rng, mut pairs: Vec<(String, String)>, kind: Kind, out: &mut Vec<SeriesDef>| {
            let value = initial_value(rng, kind);
            out.push(SeriesDef::new(&mut pairs, kind, value));
        };
    let (node_n, kube_n, kafka_n) = (n * 45 / 100, n * 30 / 100, n * 15 / 100);
    // node_exporter (daemonset): per host, cpu × mode counters, then
    // memory, filesystem, network and disk series per device.
    let mut i = 0;
    let mut host = 0;
    while i < node_n {
        let ip = pod_ip(host);
        let target = [
            (s("container"), s("node-exporter")),
            (s("instance"), format!("{ip}:9100")),
            (s("job"), s("node-exporter")),
            (s("namespace"), s("monitoring")),
            (
                s("pod"),
                format!("node-exporter-{}", kube_suffix(&mut rng, 5)),
            ),
            (s("service"), s("node-exporter")),
        ];
        for cpu in 0..16 {
            for mode in [
                "idle", "user", "system", "iowait", "irq", "softirq", "steal", "nice",
            ] {
                if i >= node_n {
                    break;
                }
                let mut pairs = target.to_vec();
                pairs.push((s("__name__"), s("node_cpu_seconds_total")));
                pairs.push((s("cpu"), cpu.to_string()));
                pairs.push((s("mode"), s(mode)));
                let kind = Kind::Counter {
                    rate: if mode == "idle" { 14.8 } else { 0.4 },
                    decimals: 2,
                };
                push(&mut rng, pairs, kind, &mut out);
                i += 1;
            }
        }
        for (k, name) in NODE_DEVICE_METRICS.iter().enumerate() {
            for dev in 0..34 {
                if i >= node_n {
                    break;
                }
                let mut pairs = target.to_vec();
                pairs.push((s("__name__"), s(name)));
                match k {
                    2 => {
                        pairs.push((s("device"), format!("/dev/nvme{}n1p{}", dev / 8, dev % 8)));
                        pairs.push((s("fstype"), s("ext4")));
                        pairs.push((s("mountpoint"), format!("/var/lib/disk{dev}")));
                    }
                    4 | 5 => pairs.push((s("device"), format!("eni{dev:02}"))),
                    7 => pairs.push((s("device"), format!("nvme{dev}n1"))),
                    _ => pairs.push((s("numa"), format!("{dev}"))),
                }
                let kind = node_device_metric_kind(k);
                push(&mut rng, pairs, kind, &mut out);
                i += 1;
            }
        }
        host += 1;
    }
    // kube-state-metrics (pod-level series, honor_labels: `namespace`/`pod`
    // are the described pod's) and cAdvisor through the kubelet, ten series
    // per pod.
    let ksm_instance = format!("{}:8080", pod_ip(60_000));
    let mut j = 0;
    let mut pod_no = 0usize;
    while j < kube_n {
        let (ns, apps) = [
            (
                "payments",
                ["payments-api", "ledger-writer", "fraud-scorer"],
            ),
            (
                "kafka",
                ["kafka-connect", "schema-registry", "mirror-maker"],
            ),
            (
                "monitoring",
                ["alertmanager-relay", "grafana", "blackbox-exporter"],
            ),
            (
                "ingress-nginx",
                [
                    "ingress-nginx-controller",
                    "default-backend",
                    "cert-manager",
                ],
            ),
            (
                "checkout",
                ["checkout-frontend", "cart-service", "pricing-engine"],
            ),
            (
                "batch",
                ["report-generator", "invoice-exporter", "data-retention"],
            ),
        ][(pod_no / 5) % 6];
        let app = apps[(pod_no / 30) % 3];
        let replicaset = format!("{app}-{}", kube_suffix(&mut rng, 10));
        let pod = format!("{replicaset}-{}", kube_suffix(&mut rng, 5));
        let uid = uuid(&mut rng);
        let node = node_name(pod_no % 97);
        let ip = pod_ip(1000 + pod_no);
        for (name, kind) in KUBE_POD_METRICS {
            if j >= kube_n {
                break;
            }
            let mut pairs = vec![
                (s("__name__"), s(name)),
                (s("namespace"), s(ns)),
                (s("pod"), pod.clone()),
            ];
            if name.starts_with("container_") {
                pairs.extend([
                    (s("container"), s(app)),
                    (s("instance"), format!("{}:10250", pod_ip(node_no(pod_no)))),
                    (s("job"), s("kubelet")),
                    (s("node"), node.clone()),
                ]);
                if name == "container_network_receive_bytes_total" {
                    pairs.retain(|(n, _)| n != "container");
                    pairs.push((s("interface"), s("eth0")));
                }
            } else {
                pairs.extend([
                    (s("instance"), ksm_instance.clone()),
                    (s("job"), s("kube-state-metrics")),
                    (s("uid"), uid.clone()),
                ]);
                match name {
                    "kube_pod_info" => pairs.extend([
                        (s("created_by_kind"), s("ReplicaSet")),
                        (s("node"), node.clone()),
                        (s("pod_ip"), ip.clone()),
                    ]),
                    "kube_pod_status_phase" => pairs.push((s("phase"), s("Running"))),
                    "kube_pod_container_resource_limits"
                    | "kube_pod_container_resource_requests" => pairs.extend([
                        (s("container"), s(app)),
                        (s("resource"), s("memory")),
                        (s("unit"), s("byte")),
                    ]),
                    _ => pairs.push((s("container"), s(app))),
                }
            }
            push(&mut rng, pairs, kind, &mut out);
            j += 1;
        }
        pod_no += 1;
    }
    // kafka_exporter: per topic partition (and consumer group for the lag).
    let kafka_target = [
        (s("container"), s("kafka-exporter")),
        (s("instance"), format!("{}:9308", pod_ip(60_001))),
        (s("job"), s("kafka-exporter")),
        (s("namespace"), s("kafka")),
        (
            s("pod"),
            format!(
                "kafka-exporter-{}-{}",
                kube_suffix(&mut rng, 10),
                kube_suffix(&mut rng, 5)
            ),
        ),
    ];
    for k in 0..kafka_n {
        let topic = format!(
            "{}-{:03}",
            ["payments", "settlements", "orders", "inventory"][(k / 64) % 4],
            k / 64
        );
        let part = (k / 2) % 32;
        let mut pairs = kafka_target.to_vec();
        pairs.push((s("topic"), topic));
        pairs.push((s("partition"), part.to_string()));
        let kind = if k % 2 == 0 {
            pairs.push((s("__name__"), s("kafka_consumergroup_lag")));
            pairs.push((s("consumergroup"), s("settlements")));
            Kind::Gauge {
                step: 40.0,
                round: true,
            }
        } else {
            pairs.push((s("__name__"), s("kafka_topic_partition_current_offset")));
            Kind::Counter {
                rate: 150.0,
                decimals: 0,
            }
        };
        push(&mut rng, pairs, kind, &mut out);
    }
    // Classic histograms of an instrumented service: 12 buckets + sum +
    // count per handler, one pod per handler group.
    let les = [
        "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
    ];
    let mut h = 0;
    while out.len() < n {
        let svc = format!("orders-api-{}", h % 40);
        let target = [
            (s("handler"), format!("/api/v1/endpoint-{h}")),
            (s("instance"), format!("{}:8080", pod_ip(40_000 + h % 40))),
            (s("job"), svc.clone()),
            (s("namespace"), s("checkout")),
            (
                s("pod"),
                format!(
                    "{svc}-{}-{}",
                    kube_suffix(&mut rng, 10),
                    kube_suffix(&mut rng, 5)
                ),
            ),
            (s("service"), svc.clone()),
        ];
        for (b, le) in les.iter().enumerate() {
            if out.len() >= n {
                break;
            }
            let mut pairs = target.to_vec();
            pairs.push((s("__name__"), s("http_request_duration_seconds_bucket")));
            pairs.push((s("le"), s(le)));
            let kind = Kind::Bucket {
                rate: 5.0 + b as f64 * 4.0,
            };
            push(&mut rng, pairs, kind, &mut out);
        }
        for name in [
            "http_request_duration_seconds_sum",
            "http_request_duration_seconds_count",
        ] {
            if out.len() >= n {
                break;
            }
            let mut pairs = target.to_vec();
            pairs.push((s("__name__"), s(name)));
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

/// The node a pod runs on, as an index for its kubelet's address.
fn node_no(pod_no: usize) -> usize {
    pod_no % 97
}

pub(crate) fn next_value(rng: &mut Rng, d: &mut SeriesDef) -> f64 {
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
pub(crate) fn build_requests(
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    /// Decodes the `Label` fields of a series back into pairs.
    fn decode_labels(pb: &[u8]) -> Vec<(String, String)> {
        fn read_len(b: &[u8], i: &mut usize) -> usize {
            let (mut n, mut shift) = (0usize, 0);
            loop {
                let byte = b[*i];
                *i += 1;
                n |= ((byte & 0x7f) as usize) << shift;
                if byte < 0x80 {
                    return n;
                }
                shift += 7;
            }
        }
        let mut out = Vec::new();
        let mut i = 0;
        while i < pb.len() {
            assert_eq!(pb[i], 0x0a);
            i += 1;
            let len = read_len(pb, &mut i);
            let item = &pb[i..i + len];
            i += len;
            let mut j = 0;
            let mut field = || {
                j += 1;
                let l = read_len(item, &mut j);
                let s = String::from_utf8_lossy(&item[j..j + l]).into_owned();
                j += l;
                s
            };
            let name = field();
            let value = field();
            out.push((name, value));
        }
        out
    }

    fn by_name(defs: &[SeriesDef]) -> HashMap<String, Vec<Vec<(String, String)>>> {
        let mut m: HashMap<String, Vec<Vec<(String, String)>>> = HashMap::new();
        for d in defs {
            let pairs = decode_labels(&d.labels_pb);
            let name = pairs
                .iter()
                .find(|(n, _)| n == "__name__")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            assert!(!name.is_empty(), "every series has a __name__");
            m.entry(name).or_default().push(pairs);
        }
        m
    }

    #[test]
    fn realistic_label_sets_are_as_long_as_real_ones() {
        let defs = dataset(20_000, 42, LabelStyle::Realistic);
        assert_eq!(defs.len(), 20_000);
        let (mean, min, max) = label_bytes_stats(&defs);
        assert!((165.0..=195.0).contains(&mean), "mean {mean}");
        assert!(min >= 140 && max <= 260, "min {min} max {max}");
        for d in &defs {
            let pairs = decode_labels(&d.labels_pb);
            let bytes: usize = pairs.iter().map(|(n, v)| n.len() + v.len()).sum();
            assert_eq!(bytes, d.label_bytes);
            assert!(
                pairs.windows(2).all(|w| w[0].0 < w[1].0),
                "sorted, unique names"
            );
        }
        let unique: HashSet<&[u8]> = defs.iter().map(|d| d.labels_pb.as_slice()).collect();
        assert_eq!(unique.len(), defs.len(), "every series is distinct");
    }

    #[test]
    fn compact_label_sets_stay_short() {
        let defs = dataset(20_000, 42, LabelStyle::Compact);
        let (mean, _, max) = label_bytes_stats(&defs);
        assert!(mean < 110.0 && max < 150, "mean {mean} max {max}");
        let unique: HashSet<&[u8]> = defs.iter().map(|d| d.labels_pb.as_slice()).collect();
        assert_eq!(unique.len(), defs.len());
    }

    /// The query set (`query.rs`) joins container series to `kube_pod_info`
    /// on (namespace, pod): that needs one `kube_pod_info` per pod carrying
    /// `node`, and the container series of the same pods.
    #[test]
    fn realistic_dataset_fits_the_query_set() {
        let defs = dataset(20_000, 42, LabelStyle::Realistic);
        let m = by_name(&defs);
        let key = |p: &Vec<(String, String)>| {
            let get = |k: &str| p.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            (get("namespace"), get("pod"))
        };
        let info = &m["kube_pod_info"];
        let info_keys: HashSet<_> = info.iter().map(key).collect();
        assert_eq!(info_keys.len(), info.len(), "one kube_pod_info per pod");
        assert!(info.iter().all(|p| p.iter().any(|(n, _)| n == "node")));
        let cpu = &m["container_cpu_usage_seconds_total"];
        assert!(cpu.iter().all(|p| info_keys.contains(&key(p))));
        for (name, label) in [
            ("node_cpu_seconds_total", "mode"),
            ("http_request_duration_seconds_bucket", "le"),
            ("http_request_duration_seconds_bucket", "handler"),
            ("kafka_consumergroup_lag", "topic"),
            ("container_memory_working_set_bytes", "namespace"),
        ] {
            assert!(
                m[name].iter().all(|p| p.iter().any(|(n, _)| n == label)),
                "{name} carries {label}"
            );
        }
        assert!(m["container_memory_working_set_bytes"].iter().any(|p| {
            p.iter()
                .any(|(n, v)| n == "namespace" && v.starts_with("pay"))
        }));
    }

    #[test]
    fn datasets_are_deterministic() {
        let a = dataset(5_000, 7, LabelStyle::Realistic);
        let b = dataset(5_000, 7, LabelStyle::Realistic);
        assert!(a.iter().zip(&b).all(|(x, y)| x.labels_pb == y.labels_pb));
        let c = dataset(5_000, 8, LabelStyle::Realistic);
        assert!(a.iter().zip(&c).any(|(x, y)| x.labels_pb != y.labels_pb));
    }
}
