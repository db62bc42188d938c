//! What an open block costs: writes `blocks` blocks of `series` series with
//! Kubernetes-like label sets (node_exporter, kube-state-metrics/cAdvisor
//! pods with unique `pod`/`uid`, kafka partitions; ~180 B of labels per
//! series) and 10 minutes of 15 s samples each, then opens them one by one
//! printing the resident memory each open adds, and times a few selections.
//!
//! `cargo run --release -p strata-block --example open_blocks -- [series] [blocks]`
//!
//! The blocks are opened by a fresh child process (this example re-run with
//! `--open DIR…`), so the memory writing left with the allocator does not
//! hide what opening costs.

use std::time::{Duration, Instant};
use strata_block::{Block, BlockWriter, ChunkInput};
use strata_model::{Labels, MatchOp, Matcher, Querier, Sample, SelectHints};

mod common;
use common::{mib, status};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn suffix(&mut self, len: usize) -> String {
        const ALNUM: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        (0..len)
            .map(|_| ALNUM[(self.next() % ALNUM.len() as u64) as usize] as char)
            .collect()
    }

    fn uuid(&mut self) -> String {
        let (a, b) = (self.next(), self.next());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | ((b >> 48) & 0x3fff),
            b & 0xffff_ffff_ffff
        )
    }
}

fn ip(i: usize) -> String {
    format!(
        "10.{}.{}.{}",
        32 + (i >> 16) % 200,
        (i >> 8) & 0xff,
        i & 0xff
    )
}

fn label_sets(n: usize) -> Vec<Labels> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut out: Vec<Labels> = Vec::with_capacity(n);
    let node_n = n * 45 / 100;
    let mut host = 0;
    while out.len() < node_n {
        let pod = format!("node-exporter-{}", rng.suffix(5));
        let instance = format!("{}:9100", ip(host));
        let base = [
            ("container", "node-exporter"),
            ("instance", instance.as_str()),
            ("job", "node-exporter"),
            ("namespace", "monitoring"),
            ("pod", pod.as_str()),
            ("service", "node-exporter"),
        ];
        for cpu in 0..16 {
            for mode in ["idle", "user", "system", "iowait", "irq", "softirq"] {
                let cpu = cpu.to_string();
                let mut pairs = base.to_vec();
                pairs.extend([
                    ("__name__", "node_cpu_seconds_total"),
                    ("cpu", &cpu),
                    ("mode", mode),
                ]);
                out.push(Labels::from_pairs(pairs));
            }
        }
        for dev in 0..30 {
            let mount = format!("/var/lib/disk{dev}");
            let mut pairs = base.to_vec();
            pairs.extend([
                ("__name__", "node_filesystem_avail_bytes"),
                ("device", "/dev/nvme0n1p1"),
                ("fstype", "ext4"),
                ("mountpoint", mount.as_str()),
            ]);
            out.push(Labels::from_pairs(pairs));
        }
        host += 1;
    }
    let kube_n = n * 85 / 100;
    let mut pod_no = 0;
    while out.len() < kube_n {
        let ns = ["payments", "kafka", "monitoring", "checkout", "batch"][pod_no / 7 % 5];
        let app = ["api", "ledger-writer", "fraud-scorer", "frontend"][pod_no / 31 % 4];
        let pod = format!("{ns}-{app}-{}-{}", rng.suffix(10), rng.suffix(5));
        let uid = rng.uuid();
        let node = format!("ip-10-0-{}-{}.ec2.internal", pod_no % 97 / 4, pod_no % 97);
        let ksm = "10.99.0.1:8080".to_string();
        let kubelet = format!("{}:10250", ip(pod_no % 97));
        for metric in [
            "kube_pod_info",
            "kube_pod_status_phase",
            "kube_pod_container_status_restarts_total",
            "kube_pod_container_resource_requests",
            "kube_pod_container_status_ready",
            "container_cpu_usage_seconds_total",
            "container_memory_working_set_bytes",
            "container_network_receive_bytes_total",
            "container_fs_reads_total",
            "container_spec_memory_limit_bytes",
        ] {
            let mut pairs = vec![("__name__", metric), ("namespace", ns), ("pod", &pod)];
            if metric.starts_with("container_") {
                pairs.extend([
                    ("container", app),
                    ("instance", kubelet.as_str()),
                    ("job", "kubelet"),
                    ("node", node.as_str()),
                ]);
            } else {
                pairs.extend([
                    ("container", app),
                    ("instance", ksm.as_str()),
                    ("job", "kube-state-metrics"),
                    ("uid", uid.as_str()),
                ]);
            }
            out.push(Labels::from_pairs(pairs));
        }
        pod_no += 1;
    }
    let mut part = 0;
    while out.len() < n {
        let topic = format!("orders-events-v{}", part / 64);
        let p = (part % 64).to_string();
        let group = format!("consumer-{}", part % 7);
        out.push(Labels::from_pairs([
            ("__name__", "kafka_consumergroup_lag"),
            ("consumergroup", group.as_str()),
            ("instance", "10.99.0.2:9308"),
            ("job", "kafka-exporter"),
            ("partition", p.as_str()),
            ("topic", topic.as_str()),
        ]));
        part += 1;
    }
    out.truncate(n);
    out.sort();
    out.dedup();
    out
}

fn time_select(block: &Block, matchers: &[Matcher], series_only: bool) -> (usize, Duration) {
    let q = block.querier(i64::MIN, i64::MAX);
    let hints = SelectHints {
        start: i64::MIN,
        end: i64::MAX,
        series_only,
        limit: 0,
        newest_only: false,
        any_order: false,
    };
    let mut best = Duration::MAX;
    let mut n = 0;
    for _ in 0..5 {
        let started = Instant::now();
        n = 0;
        if let Ok(it) = q.select(&hints, matchers) {
            for s in it.flatten() {
                std::hint::black_box(&s.labels);
                n += 1;
            }
        }
        best = best.min(started.elapsed());
    }
    (n, best)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "--open") {
        return open_and_query(&args[1..]);
    }
    let arg = |i: usize, d: usize| -> Result<usize, std::num::ParseIntError> {
        args.get(i)
            .map(|s| s.parse())
            .transpose()
            .map(|v| v.unwrap_or(d))
    };
    let (series, nblocks) = (arg(0, 100_000)?, arg(1, 3)?);
    let dir = tempfile::tempdir()?;
    // With OPEN_BLOCKS_KEEP set, the blocks stay (in a temp dir it names).
    let dir_path = if std::env::var_os("OPEN_BLOCKS_KEEP").is_some() {
        let kept = dir.keep();
        println!("blocks kept in {}", kept.display());
        kept
    } else {
        dir.path().to_path_buf()
    };
    let range = 600_000i64;
    let t_base = 1_700_000_000_000i64 / range * range;
    let mut dirs = Vec::new();
    {
        let labels = label_sets(series);
        let bytes: usize = labels
            .iter()
            .map(|l| {
                l.iter()
                    .map(|x| x.name.len() + x.value.len())
                    .sum::<usize>()
            })
            .sum();
        println!(
            "{} series, {:.0} B of label names and values per series",
            labels.len(),
            bytes as f64 / labels.len() as f64
        );
        let started = Instant::now();
        let mut samples = Vec::with_capacity(40);
        for b in 0..nblocks as i64 {
            let t0 = t_base + b * range;
            let mut w = BlockWriter::create(dir_path.as_path(), t0, t0 + range, 1, vec![])?;
            for (i, l) in labels.iter().enumerate() {
                samples.clear();
                for k in 0..40 {
                    samples.push(Sample::new(t0 + k * 15_000, (i as i64 * 7 + k) as f64));
                }
                w.add_series(l, &[ChunkInput::Samples(&samples)])?;
            }
            let m = w.finish()?.ok_or("empty block")?;
            let idx = std::fs::metadata(dir_path.as_path().join(&m.ulid).join("index"))?.len();
            println!(
                "block {b}: index {:.1} MiB, chunks+index {:.1} MiB",
                idx as f64 / (1 << 20) as f64,
                m.stats.num_bytes as f64 / (1 << 20) as f64
            );
            dirs.push(dir_path.as_path().join(&m.ulid));
        }
        println!("written in {:.1?}", started.elapsed());
    }
    let status = std::process::Command::new(std::env::current_exe()?)
        .arg("--open")
        .args(&dirs)
        .status()?;
    if !status.success() {
        return Err(format!("child: {status}").into());
    }
    Ok(())
}

fn open_and_query(dirs: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let (anon0, rss0) = (status("RssAnon:"), status("VmRSS:"));
    println!(
        "before opening: VmRSS {}  RssAnon {}",
        mib(rss0),
        mib(anon0)
    );
    let mut blocks = Vec::new();
    for d in dirs {
        let (anon, rss) = (status("RssAnon:"), status("VmRSS:"));
        let started = Instant::now();
        blocks.push(Block::open(std::path::Path::new(d))?);
        let took = started.elapsed();
        println!(
            "open block {}: {took:>9.1?}  +VmRSS {:>9}  +RssAnon {:>9}",
            blocks.len(),
            mib(status("VmRSS:").saturating_sub(rss)),
            mib(status("RssAnon:").saturating_sub(anon))
        );
    }
    println!(
        "{} blocks open: VmRSS +{} RssAnon +{} ({:.0} B anon per series per block)",
        blocks.len(),
        mib(status("VmRSS:").saturating_sub(rss0)),
        mib(status("RssAnon:").saturating_sub(anon0)),
        (status("RssAnon:").saturating_sub(anon0) * 1024) as f64
            / (blocks.first().map_or(1, |b| b.meta().stats.num_series) as f64
                * blocks.len().max(1) as f64)
    );
    let Some(block) = blocks.first() else {
        return Ok(());
    };
    let cases: Vec<(&str, Vec<Matcher>, bool)> = vec![
        (
            r#"{__name__="node_cpu_seconds_total",mode="idle"} (series only)"#,
            vec![
                Matcher::equal("__name__", "node_cpu_seconds_total"),
                Matcher::equal("mode", "idle"),
            ],
            true,
        ),
        (
            r#"{__name__="container_cpu_usage_seconds_total",namespace="payments"}"#,
            vec![
                Matcher::equal("__name__", "container_cpu_usage_seconds_total"),
                Matcher::equal("namespace", "payments"),
            ],
            false,
        ),
        (
            r#"{pod=~"payments-api-.*"} (prefix over pods)"#,
            vec![Matcher::new(MatchOp::RegexMatch, "pod", "payments-api-.*")?],
            true,
        ),
        (
            r#"{uid=~".*ab.*"} (scan of every uid)"#,
            vec![Matcher::new(MatchOp::RegexMatch, "uid", ".*ab.*")?],
            true,
        ),
        (
            r#"{job="kubelet",pod!=""}"#,
            vec![
                Matcher::equal("job", "kubelet"),
                Matcher::new(MatchOp::NotEqual, "pod", "")?,
            ],
            true,
        ),
    ];
    for (name, ms, series_only) in &cases {
        let (n, took) = time_select(block, ms, *series_only);
        println!("select {name:<72} {n:>6} series  {took:>9.2?}");
    }
    let q = block.querier(i64::MIN, i64::MAX);
    let mut best = Duration::MAX;
    let mut n = 0;
    for _ in 0..5 {
        let started = Instant::now();
        n = q.label_values("pod", &[])?.len();
        best = best.min(started.elapsed());
    }
    println!("label_values(pod) {n} values  {best:.2?}");
    let mut best = Duration::MAX;
    for _ in 0..5 {
        let started = Instant::now();
        n = q
            .label_values("pod", &[Matcher::equal("namespace", "checkout")])?
            .len();
        best = best.min(started.elapsed());
    }
    println!("label_values(pod, {{namespace=\"checkout\"}}) {n} values  {best:.2?}");
    println!(
        "after queries: VmRSS +{} RssAnon +{}",
        mib(status("VmRSS:").saturating_sub(rss0)),
        mib(status("RssAnon:").saturating_sub(anon0))
    );
    Ok(())
}
