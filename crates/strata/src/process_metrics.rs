//! The `process_*` families every Prometheus client exposes, read from
//! `/proc/self` at every scrape.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::registry::{Registry, Unit};
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};
use strata_model::self_metrics::{const_counter, const_gauge};

/// proc(5) counts RSS in pages and CPU time in clock ticks; both are these
/// values on every Linux platform Strata is built for.
const PAGE_BYTES: u64 = 4096;
const TICKS_PER_SECOND: f64 = 100.0;

#[derive(Debug)]
pub struct ProcessCollector {
    start_time_secs: f64,
}

impl ProcessCollector {
    /// Registers the collector; the process is taken to start now.
    pub fn register(registry: &mut Registry) {
        let start_time_secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        registry
            .sub_registry_with_prefix("process")
            .register_collector(Box::new(ProcessCollector { start_time_secs }));
    }
}

impl Collector for ProcessCollector {
    fn encode(&self, mut e: DescriptorEncoder<'_>) -> fmt::Result {
        let bytes = Some(&Unit::Bytes);
        let seconds = Some(&Unit::Seconds);
        if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
            // Fields after the parenthesised command name (which may hold
            // spaces); utime/stime are 14/15, vsize 23 and rss 24 in the
            // 1-based numbering of proc(5).
            if let Some((_, rest)) = stat.rsplit_once(')') {
                let f: Vec<&str> = rest.split_whitespace().collect();
                let num = |i: usize| f.get(i).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
                const_counter(
                    &mut e,
                    "cpu",
                    "Total user and system CPU time spent in seconds",
                    seconds,
                    (num(11) + num(12)) as f64 / TICKS_PER_SECOND,
                )?;
                const_gauge(
                    &mut e,
                    "resident_memory",
                    "Resident memory size in bytes",
                    bytes,
                    num(21).saturating_mul(PAGE_BYTES),
                )?;
                const_gauge(
                    &mut e,
                    "virtual_memory",
                    "Virtual memory size in bytes",
                    bytes,
                    num(20),
                )?;
            }
        }
        if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
            const_gauge(
                &mut e,
                "open_fds",
                "Number of open file descriptors",
                None,
                fds.count() as u64,
            )?;
        }
        const_gauge(
            &mut e,
            "start_time",
            "Start time of the process since unix epoch in seconds",
            seconds,
            self.start_time_secs,
        )
    }
}
