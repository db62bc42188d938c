//! Parser throughput on large expositions, one core.
//!
//! `cargo run --release -p strata-scrape --example expo_bench` generates a
//! node_exporter-like and a kube-state-metrics-like exposition (~100k series
//! each, 150–250-byte label sets) in the text format and in OpenMetrics and
//! measures them; `-- FILE...` measures files instead (OpenMetrics when the
//! file ends in `# EOF`), `-- --write DIR` also writes the generated ones.

use std::hint::black_box;
use std::time::{Duration, Instant};

use strata_scrape::expo::{Entry, Format, LabelPairs, Parser};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut inputs: Vec<(String, Format, Vec<u8>)> = Vec::new();
    let mut write_dir = None;
    let mut i = 0;
    while i < args.len() {
        if args[i] == "--write" {
            write_dir = args.get(i + 1).cloned();
            i += 2;
            continue;
        }
        match std::fs::read(&args[i]) {
            Ok(b) => {
                let om = b.trim_ascii_end().ends_with(b"# EOF");
                let f = if om {
                    Format::OpenMetrics1_0_0
                } else {
                    Format::PrometheusText0_0_4
                };
                inputs.push((args[i].clone(), f, b));
            }
            Err(e) => {
                eprintln!("{}: {e}", args[i]);
                std::process::exit(1);
            }
        }
        i += 1;
    }
    if inputs.is_empty() {
        for om in [false, true] {
            let f = if om {
                Format::OpenMetrics1_0_0
            } else {
                Format::PrometheusText0_0_4
            };
            let ext = if om { "om" } else { "prom" };
            inputs.push((format!("node_exporter.{ext}"), f, node_exporter_like(om)));
            inputs.push((
                format!("kube_state_metrics.{ext}"),
                f,
                kube_state_metrics_like(om),
            ));
        }
    }
    if let Some(dir) = write_dir {
        for (name, _, body) in &inputs {
            let path = std::path::Path::new(&dir).join(name);
            if let Err(e) = std::fs::write(&path, body) {
                eprintln!("{}: {e}", path.display());
            }
        }
    }
    println!(
        "{:<26} {:>8} {:>8} {:>8}  {:>22} {:>22} {:>22}",
        "input", "MiB", "series", "B/series", "parse MB/s (Msamples/s)", "+ Labels", "+ LabelPairs"
    );
    for (name, format, body) in &inputs {
        let (series, _) = parse_only(*format, body);
        let mb = body.len() as f64 / 1e6;
        let t1 = measure(|| parse_only(*format, body).1);
        let t2 = measure(|| parse_labels(*format, body));
        let t3 = measure(|| parse_pairs(*format, body));
        let cell = |t: Duration| {
            let s = t.as_secs_f64();
            format!("{:>8.0} ({:>6.2})", mb / s, series as f64 / s / 1e6)
        };
        println!(
            "{:<26} {:>8.1} {:>8} {:>8.0}  {:>22} {:>22} {:>22}",
            name,
            body.len() as f64 / (1 << 20) as f64,
            series,
            body.len() as f64 / series.max(1) as f64,
            cell(t1),
            cell(t2),
            cell(t3)
        );
    }
}

/// The best of several runs of at least ~0.3 s each.
fn measure(mut f: impl FnMut() -> u64) -> Duration {
    let mut best = Duration::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        let mut runs = 0u32;
        loop {
            black_box(f());
            runs += 1;
            if start.elapsed() > Duration::from_millis(300) {
                break;
            }
        }
        best = best.min(start.elapsed() / runs);
    }
    best
}

fn parse_only(format: Format, body: &[u8]) -> (usize, u64) {
    let mut p = Parser::new(format, body);
    let mut n = 0;
    let mut acc = 0u64;
    loop {
        match p.next() {
            Ok(Some(Entry::Series(s))) => {
                n += 1;
                acc = acc.wrapping_add(s.value.to_bits() ^ s.series_bytes().len() as u64);
            }
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e) => {
                eprintln!("parse error: {e}");
                std::process::exit(1);
            }
        }
    }
    (n, acc)
}

fn parse_labels(format: Format, body: &[u8]) -> u64 {
    let mut p = Parser::new(format, body);
    let mut acc = 0u64;
    while let Ok(Some(e)) = p.next() {
        if let Entry::Series(s) = e {
            acc = acc.wrapping_add(s.to_labels().len() as u64);
        }
    }
    acc
}

fn parse_pairs(format: Format, body: &[u8]) -> u64 {
    let mut p = Parser::new(format, body);
    let mut pairs = LabelPairs::new();
    let mut acc = 0u64;
    while let Ok(Some(e)) = p.next() {
        if let Entry::Series(s) = e {
            s.write_pairs(&mut pairs);
            acc = acc.wrapping_add(pairs.hash64());
        }
    }
    acc
}

/// A small deterministic generator (xorshift), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn hex(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| char::from(b"0123456789abcdef"[self.below(16) as usize]))
            .collect()
    }
    fn value(&mut self) -> String {
        match self.below(4) {
            0 => self.below(2).to_string(),
            1 => self.below(1_000_000).to_string(),
            2 => format!("{}.{:03}", self.below(100_000), self.below(1000)),
            _ => format!("{:e}", (self.below(1 << 40) as f64) / 7.0),
        }
    }
}

fn header(out: &mut String, name: &str, kind: &str, om: bool) {
    // OpenMetrics names a counter family without its `_total`.
    let name = if om && kind == "counter" {
        name.trim_end_matches("_total")
    } else {
        name
    };
    out.push_str(&format!(
        "# HELP {name} Synthetic {kind} {name} for the parser benchmark.\n"
    ));
    out.push_str(&format!("# TYPE {name} {kind}\n"));
}

/// Label pairs sorted by name, as client_golang writes them.
fn sorted_labels(base: &[(String, String)], extra: &[(&str, &str)]) -> String {
    let mut all: Vec<(&str, &str)> = base.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    all.extend_from_slice(extra);
    all.sort();
    all.iter()
        .map(|(n, v)| format!("{n}=\"{v}\""))
        .collect::<Vec<_>>()
        .join(",")
}

/// Per-device and per-CPU node_exporter families as a central scrape sees
/// them after target labels: instance/job/cluster/region and a few more
/// identity labels, 150–250 bytes a label set.
fn node_exporter_like(om: bool) -> Vec<u8> {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let mut out = String::with_capacity(24 << 20);
    let mut series = 0;
    let mut host = 0u64;
    while series < 100_000 {
        host += 1;
        let base: Vec<(String, String)> = vec![
            ("cluster".into(), format!("prod-eu-west-{}", host % 3)),
            (
                "instance".into(),
                format!(
                    "ip-10-{}-{}-{}.eu-west-1.compute.internal:9100",
                    host % 256,
                    (host / 7) % 256,
                    r.below(256)
                ),
            ),
            ("job".into(), "node-exporter".into()),
            ("node".into(), format!("worker-{host:04}")),
            ("region".into(), "eu-west-1".into()),
        ];
        let modes = [
            "idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user",
        ];
        header(&mut out, "node_cpu_seconds_total", "counter", om);
        for cpu in 0..16 {
            let cpu = cpu.to_string();
            for m in modes {
                let v = r.value();
                let l = sorted_labels(&base, &[("cpu", &cpu), ("mode", m)]);
                out.push_str(&format!("node_cpu_seconds_total{{{l}}} {v}\n"));
                series += 1;
            }
        }
        for fam in [
            "node_network_receive_bytes_total",
            "node_network_transmit_bytes_total",
            "node_network_receive_packets_total",
        ] {
            header(&mut out, fam, "counter", om);
            for dev in ["eth0", "eth1", "lo", "docker0", "veth1a2b3c4"] {
                let v = r.value();
                let l = sorted_labels(&base, &[("device", dev)]);
                out.push_str(&format!("{fam}{{{l}}} {v}\n"));
                series += 1;
            }
        }
        header(&mut out, "node_filesystem_avail_bytes", "gauge", om);
        for (dev, mp) in [
            ("/dev/nvme0n1p1", "/"),
            ("/dev/nvme1n1", "/var/lib/kubelet"),
            ("tmpfs", "/run"),
        ] {
            let v = r.value();
            let l = sorted_labels(
                &base,
                &[("device", dev), ("fstype", "ext4"), ("mountpoint", mp)],
            );
            out.push_str(&format!("node_filesystem_avail_bytes{{{l}}} {v}\n"));
            series += 1;
        }
        header(&mut out, "node_disk_io_time_seconds", "histogram", om);
        let mut cum = 0;
        for le in [
            "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
        ] {
            cum += r.below(100);
            let l = sorted_labels(&base, &[("device", "nvme0n1"), ("le", le)]);
            out.push_str(&format!("node_disk_io_time_seconds_bucket{{{l}}} {cum}\n"));
            series += 1;
        }
        let l = sorted_labels(&base, &[("device", "nvme0n1")]);
        out.push_str(&format!(
            "node_disk_io_time_seconds_sum{{{l}}} {}\n",
            r.value()
        ));
        out.push_str(&format!("node_disk_io_time_seconds_count{{{l}}} {cum}\n"));
        series += 2;
    }
    if om {
        out.push_str("# EOF\n");
    }
    out.into_bytes()
}

/// kube-state-metrics pod and container families: long namespace, pod,
/// uid and image labels.
fn kube_state_metrics_like(om: bool) -> Vec<u8> {
    let mut r = Rng(0x2545_f491_4f6c_dd1d);
    let mut out = String::with_capacity(32 << 20);
    let pods: Vec<String> = (0..12_500)
        .map(|i| {
            format!(
                "namespace=\"team-{}-services\",pod=\"checkout-api-{}-{}\",uid=\"{}-{}-{}-{}-{}\"",
                i % 40,
                r.hex(10),
                r.hex(5),
                r.hex(8),
                r.hex(4),
                r.hex(4),
                r.hex(4),
                r.hex(12)
            )
        })
        .collect();
    header(&mut out, "kube_pod_info", "gauge", om);
    for (i, p) in pods.iter().enumerate() {
        out.push_str(&format!(
            "kube_pod_info{{{p},host_ip=\"10.0.{}.{}\",node=\"worker-{:04}\",created_by_kind=\"ReplicaSet\"}} 1\n",
            i % 256,
            (i / 256) % 256,
            i % 500
        ));
    }
    for (fam, kind) in [
        ("kube_pod_container_status_running", "gauge"),
        ("kube_pod_container_status_restarts_total", "counter"),
        ("kube_pod_container_resource_requests", "gauge"),
    ] {
        header(&mut out, fam, kind, om);
        for p in &pods {
            for c in ["app", "istio-proxy"] {
                let extra = if fam.ends_with("requests") {
                    ",resource=\"cpu\",unit=\"core\""
                } else {
                    ""
                };
                let v = r.value();
                out.push_str(&format!(
                    "{fam}{{{p},container=\"{c}\",image=\"registry.example.com/{c}:v1.{}.{}\"{extra}}} {v}\n",
                    r.below(30),
                    r.below(10)
                ));
            }
        }
    }
    header(&mut out, "kube_pod_status_phase", "gauge", om);
    for p in &pods {
        out.push_str(&format!(
            "kube_pod_status_phase{{{p},phase=\"Running\"}} 1\n"
        ));
    }
    if om {
        out.push_str("# EOF\n");
    }
    out.into_bytes()
}
