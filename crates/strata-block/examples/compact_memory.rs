//! Peak memory of compaction: writes `blocks` blocks of `series` series with
//! `hours` of 15 s samples each, then compacts them, printing peak RSS
//! (VmHWM, reset between phases through /proc/self/clear_refs).
//!
//! `cargo run --release -p strata-block --example compact_memory -- [series] [hours] [blocks] [overlap]`
//!
//! Blocks follow one another in time (chunks copied through); with `overlap`
//! they all cover the same range with shared timestamps, so every chunk is
//! decoded, merged and re-encoded.

use std::time::Instant;
use strata_block::{Block, BlockWriter, ChunkInput, compact};
use strata_model::{Labels, Sample};

mod common;
use common::{mib, status};

/// Resets VmHWM to the current RSS (Linux ≥ 4.0).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn report(phase: &str) {
    println!(
        "{phase:<28} VmHWM {:>10}  VmRSS {:>10}  RssAnon {:>10}",
        mib(status("VmHWM:")),
        mib(status("VmRSS:")),
        mib(status("RssAnon:"))
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, d: i64| -> Result<i64, std::num::ParseIntError> {
        args.get(i)
            .map(|s| s.parse())
            .transpose()
            .map(|v| v.unwrap_or(d))
    };
    let (series, hours, nblocks) = (arg(0, 50_000)?, arg(1, 2)?, arg(2, 3)?);
    let overlap = args.iter().any(|a| a == "overlap");
    let dir = tempfile::tempdir()?;
    let range = hours * 3_600_000;
    let per_series = range / 15_000;
    let t_base = 1_700_000_000_000i64 / range * range;
    report("start");

    let labels: Vec<Labels> = {
        let mut v: Vec<Labels> = (0..series)
            .map(|i| {
                Labels::from_pairs([
                    (
                        "__name__",
                        ["http_requests_total", "node_memory_bytes", "up"][i as usize % 3],
                    ),
                    ("instance", &format!("host-{:05}:9100", i / 20)),
                    ("job", "node"),
                    ("shard", &(i % 20).to_string()),
                ])
            })
            .collect();
        v.sort();
        v
    };
    let started = Instant::now();
    let mut blocks = Vec::new();
    let mut samples = Vec::with_capacity(per_series as usize);
    for b in 0..nblocks {
        let t0 = if overlap { t_base } else { t_base + b * range };
        let mut w = BlockWriter::create(dir.path(), t0, t0 + range, 1, vec![])?;
        for (i, l) in labels.iter().enumerate() {
            let i = i as i64;
            samples.clear();
            // Counters with noisy increments, random-walk gauges, constants:
            // about 1 B/sample, like node_exporter data.
            let mut rng = (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ b as u64;
            let mut v = (i % 1000) as f64 * 1000.0;
            for k in 0..per_series {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                v = match i % 3 {
                    0 => v + (10 + rng % 20) as f64,
                    1 => (v + (rng % 4096) as f64 - 2048.0).abs(),
                    _ => 1.0,
                };
                // Replicas (overlap) see the same timestamps.
                samples.push(Sample::new(t0 + k * 15_000, v));
            }
            w.add_series(l, &[ChunkInput::Samples(&samples)])?;
        }
        let m = w.finish()?.ok_or("empty block")?;
        blocks.push(Block::open(&dir.path().join(&m.ulid))?);
    }
    drop(samples);
    let in_bytes: u64 = blocks.iter().map(|b| b.meta().stats.num_bytes).sum();
    let in_samples: u64 = blocks.iter().map(|b| b.meta().stats.num_samples).sum();
    println!(
        "inputs: {nblocks} blocks x {series} series x {hours} h at 15 s{}: {in_samples} samples, {:.1} MiB on disk, written in {:.1?}",
        if overlap {
            " (same range, shared timestamps)"
        } else {
            ""
        },
        in_bytes as f64 / (1 << 20) as f64,
        started.elapsed()
    );
    report("after writing, inputs open");
    reset_peak();
    report("peak reset");
    let started = Instant::now();
    let refs: Vec<&Block> = blocks.iter().collect();
    let m = compact(dir.path(), &refs)?.ok_or("empty output")?;
    let took = started.elapsed();
    report("compaction peak");
    println!(
        "output: {} series, {} samples, {} chunks, {:.1} MiB, {:.2} B/sample, compacted in {took:.1?}",
        m.stats.num_series,
        m.stats.num_samples,
        m.stats.num_chunks,
        m.stats.num_bytes as f64 / (1 << 20) as f64,
        m.stats.num_bytes as f64 / m.stats.num_samples as f64
    );
    Ok(())
}
