//! Block bytes per sample: 480-sample chunks cut from raw samples versus the
//! head's 120-sample chunks written through, and written with
//! `merge_small_chunks`. A counter/gauge mix at a 15 s interval over 2 h.
//!
//! `cargo run -p strata-block --example chunk_bytes [series]`

use strata_block::{BlockWriter, ChunkInput, codec};
use strata_model::{Labels, Sample};

/// xorshift64*: reproducible without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One series of 480 samples; `kind` picks a shape seen in node/app metrics.
fn series(rng: &mut Rng, kind: u64, t0: i64) -> Vec<Sample> {
    let mut out = Vec::with_capacity(480);
    let mut v = rng.below(1_000_000) as f64;
    let rate = 1 + rng.below(50);
    for i in 0..480i64 {
        // Scrape jitter of a few ms on half the targets.
        let jitter = if kind.is_multiple_of(2) {
            rng.below(5) as i64
        } else {
            0
        };
        let t = t0 + i * 15_000 + jitter;
        v = match kind % 5 {
            // Counter, integer increments around a steady rate.
            0 => v + (rate + rng.below(rate + 1)) as f64,
            // Counter of seconds (cpu), two decimals.
            1 => ((v * 100.0).round() + (rng.below(1500)) as f64).round() / 100.0,
            // Integer gauge (bytes) drifting.
            2 => (v + rng.below(4096) as f64 - 2048.0).max(0.0),
            // Gauge, mostly constant (up, info, limits).
            3 => {
                if rng.below(100) == 0 {
                    v + 1.0
                } else {
                    v
                }
            }
            // Full-precision float gauge (ratios, averages).
            _ => rng.unit() * 0.3 + 0.5,
        };
        out.push(Sample::new(t, v));
    }
    out
}

const NAMES: [&str; 5] = [
    "http_requests_total",
    "node_cpu_seconds_total",
    "process_resident_memory_bytes",
    "up",
    "cache_hit_ratio",
];

fn kind_of(l: &Labels) -> usize {
    NAMES
        .iter()
        .position(|n| l.metric_name() == Some(n))
        .unwrap_or(0)
}

/// Bytes per sample of (a) raw samples, (b) 120-sample chunks written
/// through, (c) 120-sample chunks with `merge_small_chunks`.
fn measure(
    dir: &std::path::Path,
    t0: i64,
    data: &[&(Labels, Vec<Sample>)],
) -> Result<[f64; 3], Box<dyn std::error::Error>> {
    let samples: usize = data.iter().map(|(_, s)| s.len()).sum();
    let mut w = BlockWriter::create(dir, t0, t0 + 7_200_000, 1, vec![])?;
    for (l, s) in data {
        w.add_series(l, &[ChunkInput::Samples(s)])?;
    }
    let a = w.finish()?.ok_or("empty")?;
    // The head's closed chunks, encoded once.
    let encoded: Vec<Vec<(i64, i64, Vec<u8>)>> = data
        .iter()
        .map(|(_, s)| {
            s.chunks(120)
                .map(|c| {
                    let mut buf = Vec::new();
                    codec::encode_chunk(c, &mut buf);
                    (c[0].t, c[c.len() - 1].t, buf)
                })
                .collect()
        })
        .collect();
    let mut out = [a.stats.num_bytes as f64 / samples as f64, 0.0, 0.0];
    for (slot, merge) in [(1, false), (2, true)] {
        let mut w = BlockWriter::create(dir, t0, t0 + 7_200_000, 1, vec![])?;
        w.merge_small_chunks(merge);
        for ((l, _), chunks) in data.iter().zip(&encoded) {
            let inputs: Vec<ChunkInput<'_>> = chunks
                .iter()
                .map(|(min_t, max_t, d)| ChunkInput::Encoded {
                    min_t: *min_t,
                    max_t: *max_t,
                    num_samples: 120,
                    data: d,
                })
                .collect();
            w.add_series(l, &inputs)?;
        }
        let m = w.finish()?.ok_or("empty")?;
        out[slot] = m.stats.num_bytes as f64 / samples as f64;
    }
    Ok(out)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(10_000);
    let t0 = 1_700_000_000_000i64;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut data: Vec<(Labels, Vec<Sample>)> = (0..n)
        .map(|i| {
            let kind = i as u64 % 5;
            let name = [
                "http_requests_total",
                "node_cpu_seconds_total",
                "process_resident_memory_bytes",
                "up",
                "cache_hit_ratio",
            ][kind as usize];
            let labels = Labels::from_pairs([
                ("__name__", name),
                ("instance", &format!("host-{}:9100", i / 50)),
                ("job", "node"),
                ("series", &(i % 50).to_string()),
            ]);
            (labels, series(&mut rng, kind, t0))
        })
        .collect();
    data.sort_by(|a, b| a.0.cmp(&b.0));
    let dir = tempfile::tempdir()?;
    let kinds = [
        "integer counters",
        "2-decimal counters",
        "integer gauges",
        "near-constant gauges",
        "random float gauges",
    ];
    println!("{n} series x 480 samples (15 s, 2 h); B/sample of the whole block");
    println!(
        "{:<34} {:>8} {:>8} {:>8}  (b)/(a)  (c)/(a)",
        "series", "(a)", "(b)", "(c)"
    );
    let all: Vec<usize> = (0..data.len()).collect();
    let no_random: Vec<usize> = (0..data.len())
        .filter(|i| kind_of(&data[*i].0) != 4)
        .collect();
    let mut rows: Vec<(String, Vec<usize>)> = vec![
        ("mix (all five kinds)".into(), all),
        ("mix without random floats".into(), no_random),
    ];
    for (k, name) in kinds.iter().enumerate() {
        rows.push((
            name.to_string(),
            (0..data.len())
                .filter(|i| kind_of(&data[*i].0) == k)
                .collect(),
        ));
    }
    for (name, idx) in rows {
        let subset: Vec<&(Labels, Vec<Sample>)> = idx.iter().map(|i| &data[*i]).collect();
        let [a, b, c] = measure(dir.path(), t0, &subset)?;
        println!(
            "{name:<34} {a:>8.4} {b:>8.4} {c:>8.4}  {:+6.1}%  {:+6.1}%",
            (b / a - 1.0) * 100.0,
            (c / a - 1.0) * 100.0
        );
    }
    Ok(())
}
