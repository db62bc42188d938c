//! Times queries against a TSDB holding many series, for profiling the
//! engine without HTTP: `cargo run --release -p strata-promql --example
//! query_profile -- 100000 240 'topk(10, rate(m3_total[5m]))' instant`.

use std::time::Instant;

// The allocator the `strata` binary uses, so the profile matches it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use strata_model::{LabelRef, Sample, TenantId, WriteBatch};
use strata_promql::{Engine, EngineOptions, QueryOpts};
use strata_tsdb::{Db, DbOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let points: i64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(240);
    let expr = args
        .get(3)
        .cloned()
        .unwrap_or_else(|| "topk(10, rate(m3_total[5m]))".into());
    let mode = args.get(4).cloned().unwrap_or_else(|| "instant".into());
    let dir = tempfile::tempdir()?;
    let db = Db::open(DbOptions {
        data_dir: dir.path().to_path_buf(),
        retention_time_ms: None,
        ..Default::default()
    })?;
    let end = points * 15_000;
    let t0 = Instant::now();
    let names: Vec<String> = (0..50).map(|i| format!("m{i}_total")).collect();
    let ids: Vec<String> = (0..n).map(|i| format!("pod-{i}")).collect();
    let nss: Vec<String> = (0..20).map(|i| format!("ns-{i}")).collect();
    let mut k = 0;
    while k < points {
        let mut batch = WriteBatch::new();
        let labels: Vec<Vec<LabelRef<'_>>> = (0..n)
            .map(|i| {
                vec![
                    LabelRef {
                        name: "__name__",
                        value: &names[i % 50],
                    },
                    LabelRef {
                        name: "namespace",
                        value: &nss[i % 20],
                    },
                    LabelRef {
                        name: "pod",
                        value: &ids[i],
                    },
                ]
            })
            .collect();
        let samples: Vec<Vec<Sample>> = (0..n)
            .map(|i| {
                (k..(k + 60).min(points))
                    .map(|j| Sample::new(j * 15_000, (i as f64) * j as f64))
                    .collect()
            })
            .collect();
        for (l, s) in labels.iter().zip(&samples) {
            batch.push(l, s);
        }
        db.append(&TenantId::single(), &batch)?;
        k += 60;
    }
    eprintln!("loaded {n} series x {points} in {:?}", t0.elapsed());
    let engine = Engine::new(EngineOptions::default());
    let q = QueryOpts::default();
    let t = TenantId::single();
    let rounds: usize = args.get(5).and_then(|s| s.parse().ok()).unwrap_or(30);
    for round in 0..rounds {
        let t1 = Instant::now();
        let out = if mode == "range" {
            engine.range(&db, &t, &expr, end - 3_600_000, end, 60_000, &q)?
        } else {
            engine.instant(&db, &t, &expr, end, &q)?
        };
        if round % (rounds / 3).max(1) == 0 {
            eprintln!(
                "{expr} [{mode}]: {:?} ({} samples loaded)",
                t1.elapsed(),
                out.samples_loaded
            );
        }
    }
    Ok(())
}
