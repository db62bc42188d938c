//! Strata's own metrics in the Prometheus text format
//! (`strata_<subsystem>_<what>_<unit>`).
//!
//! Counters live in atomics on the request path; storage gauges are read from
//! the TSDB at scrape time so they can never drift from the truth.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds of the request duration histogram, in seconds.
const DURATION_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default)]
pub struct Histogram {
    buckets: [AtomicU64; DURATION_BUCKETS.len()],
    count: AtomicU64,
    /// Sum in microseconds, to stay in an integer atomic.
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, secs: f64) {
        for (i, b) in DURATION_BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add((secs * 1e6) as u64, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, b) in DURATION_BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {}",
                self.buckets[i].load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "{name}_sum{{{labels}}} {}",
            self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
    }
}

#[derive(Default)]
pub struct HttpMetrics {
    pub write_requests_ok: AtomicU64,
    pub write_requests_bad: AtomicU64,
    pub write_requests_limited: AtomicU64,
    pub write_requests_too_large: AtomicU64,
    pub write_requests_failed: AtomicU64,
    pub write_bytes: AtomicU64,
    pub write_duration: Histogram,
    pub read_requests: AtomicU64,
}

/// Writes one metric family with HELP and TYPE lines.
pub fn family(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(&str, f64)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, v) in samples {
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {}", strata_model::format::format_api(*v));
        } else {
            let _ = writeln!(
                out,
                "{name}{{{labels}}} {}",
                strata_model::format::format_api(*v)
            );
        }
    }
}

impl HttpMetrics {
    pub fn render(&self, out: &mut String) {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64;
        family(
            out,
            "strata_ingest_requests_total",
            "counter",
            "Remote-write requests by outcome.",
            &[
                ("code=\"2xx\"", g(&self.write_requests_ok)),
                ("code=\"400\"", g(&self.write_requests_bad)),
                ("code=\"413\"", g(&self.write_requests_too_large)),
                ("code=\"429\"", g(&self.write_requests_limited)),
                ("code=\"5xx\"", g(&self.write_requests_failed)),
            ],
        );
        family(
            out,
            "strata_ingest_received_bytes_total",
            "counter",
            "Compressed remote-write body bytes received.",
            &[("", g(&self.write_bytes))],
        );
        let _ = writeln!(
            out,
            "# HELP strata_ingest_request_duration_seconds Remote-write request latency, including the WAL write."
        );
        let _ = writeln!(
            out,
            "# TYPE strata_ingest_request_duration_seconds histogram"
        );
        self.write_duration
            .render(out, "strata_ingest_request_duration_seconds", "");
        family(
            out,
            "strata_http_read_requests_total",
            "counter",
            "Read API requests served.",
            &[("", g(&self.read_requests))],
        );
    }
}

/// The ingester's sample accounting (every writer, not only remote-write).
pub fn render_ingest(out: &mut String, m: &strata_ingest::IngestMetrics) {
    let g = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64;
    family(
        out,
        "strata_ingest_samples_total",
        "counter",
        "Samples received over remote-write, by result.",
        &[
            ("result=\"accepted\"", g(&m.samples_accepted)),
            ("result=\"invalid\"", g(&m.samples_rejected_invalid)),
            (
                "result=\"out_of_order\"",
                g(&m.samples_rejected_out_of_order),
            ),
            ("result=\"too_old\"", g(&m.samples_rejected_too_old)),
            ("result=\"duplicate\"", g(&m.samples_rejected_duplicate)),
            (
                "result=\"series_limit\"",
                g(&m.samples_rejected_series_limit),
            ),
        ],
    );
    family(
        out,
        "strata_ingest_histograms_dropped_total",
        "counter",
        "Native histogram samples dropped (not stored yet).",
        &[("", g(&m.histograms_dropped))],
    );
}

/// `process_*` metrics from /proc, as every Prometheus client exposes them.
pub fn render_process(out: &mut String, start_time_secs: f64) {
    let page = 4096.0;
    let ticks = 100.0;
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        // Fields after the parenthesised command name; utime/stime are 14/15
        // and rss is 24 in the 1-based numbering of proc(5).
        if let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) {
            let f: Vec<&str> = rest.split_whitespace().collect();
            let num = |i: usize| f.get(i).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
            let cpu = (num(11) + num(12)) / ticks;
            family(
                out,
                "process_cpu_seconds_total",
                "counter",
                "Total user and system CPU time spent in seconds.",
                &[("", cpu)],
            );
            family(
                out,
                "process_resident_memory_bytes",
                "gauge",
                "Resident memory size in bytes.",
                &[("", num(21) * page)],
            );
            family(
                out,
                "process_virtual_memory_bytes",
                "gauge",
                "Virtual memory size in bytes.",
                &[("", num(20))],
            );
        }
    }
    if let Ok(rd) = std::fs::read_dir("/proc/self/fd") {
        family(
            out,
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
            &[("", rd.count() as f64)],
        );
    }
    family(
        out,
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
        &[("", start_time_secs)],
    );
}

/// Storage gauges and counters, read from the TSDB at scrape time.
pub fn render_tsdb(out: &mut String, m: &strata_model::TsdbMetrics) {
    let f = |v: u64| v as f64;
    family(
        out,
        "strata_tsdb_tenants",
        "gauge",
        "Tenants with data.",
        &[("", f(m.tenants))],
    );
    family(
        out,
        "strata_tsdb_head_series",
        "gauge",
        "Series in the in-memory head.",
        &[("", f(m.head_series))],
    );
    family(
        out,
        "strata_tsdb_head_chunks",
        "gauge",
        "Chunks in the in-memory head.",
        &[("", f(m.head_chunks))],
    );
    family(
        out,
        "strata_tsdb_head_min_time_seconds",
        "gauge",
        "Oldest sample in the head.",
        &[("", m.head_min_time_ms as f64 / 1e3)],
    );
    family(
        out,
        "strata_tsdb_head_max_time_seconds",
        "gauge",
        "Newest sample in the head.",
        &[("", m.head_max_time_ms as f64 / 1e3)],
    );
    family(
        out,
        "strata_tsdb_blocks",
        "gauge",
        "Blocks on disk.",
        &[("", f(m.blocks))],
    );
    family(
        out,
        "strata_tsdb_blocks_bytes",
        "gauge",
        "Bytes of blocks on disk.",
        &[("", f(m.block_bytes))],
    );
    family(
        out,
        "strata_tsdb_wal_bytes",
        "gauge",
        "Bytes of WAL segments and checkpoints on disk.",
        &[("", f(m.wal_bytes))],
    );
    family(
        out,
        "strata_tsdb_head_series_created_total",
        "counter",
        "Series created in the head.",
        &[("", f(m.series_created_total))],
    );
    family(
        out,
        "strata_tsdb_head_cuts_total",
        "counter",
        "Head ranges written out as blocks.",
        &[("", f(m.head_cuts_total))],
    );
    family(
        out,
        "strata_tsdb_compactions_total",
        "counter",
        "Block compactions done.",
        &[("", f(m.compactions_total))],
    );
    family(
        out,
        "strata_tsdb_compactions_failed_total",
        "counter",
        "Block compactions that failed.",
        &[("", f(m.compactions_failed_total))],
    );
    family(
        out,
        "strata_tsdb_retention_deleted_blocks_total",
        "counter",
        "Blocks deleted by retention.",
        &[("", f(m.blocks_deleted_by_retention_total))],
    );
    family(
        out,
        "strata_tsdb_wal_truncations_total",
        "counter",
        "Corrupt WAL tails truncated at startup.",
        &[("", f(m.wal_truncations_total))],
    );
    family(
        out,
        "strata_tsdb_wal_replay_samples",
        "gauge",
        "Samples replayed from the WAL at startup.",
        &[("", f(m.wal_replay_samples))],
    );
    family(
        out,
        "strata_tsdb_wal_replay_duration_seconds",
        "gauge",
        "Time the WAL replay took at startup.",
        &[("", m.wal_replay_seconds)],
    );
}
