//! Measures WAL replay speed: appends N samples over S series, closes the
//! database without cutting a block, and times the reopen.
//!
//! `cargo run --release -p strata-tsdb --example replay_rate -- 10000000 100000`

use std::time::Instant;
use strata_model::{LabelRef, Sample, TenantId, WriteBatch};
use strata_tsdb::{Db, DbOptions, WalSync};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let total: usize = args
        .get(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000_000);
    let series: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let dir = tempfile::tempdir()?;
    let opts = DbOptions {
        data_dir: dir.path().to_path_buf(),
        wal_sync: WalSync::Interval(std::time::Duration::from_secs(1)),
        retention_time_ms: None,
        ..DbOptions::default()
    };
    let names: Vec<String> = (0..series).map(|i| format!("host-{i}")).collect();
    let tenant = TenantId::single();
    let t0 = Instant::now();
    {
        let db = Db::open(opts.clone())?;
        let steps = total / series;
        let mut batch = WriteBatch::new();
        for step in 0..steps {
            for chunk in names.chunks(2000) {
                batch.clear();
                for n in chunk {
                    let labels = [
                        LabelRef {
                            name: "__name__",
                            value: "replay_test_total",
                        },
                        LabelRef {
                            name: "instance",
                            value: n,
                        },
                    ];
                    batch.push(
                        &labels,
                        &[Sample::new(step as i64 * 15_000, step as f64 * 1.5)],
                    );
                }
                db.append(&tenant, &batch)?;
            }
        }
        db.close()?;
    }
    let wrote = t0.elapsed().as_secs_f64();
    let wal_bytes: u64 = std::fs::read_dir(dir.path().join("anonymous/wal"))?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();
    let t1 = Instant::now();
    let db = Db::open(opts)?;
    let secs = t1.elapsed().as_secs_f64();
    let st = db.stats(&tenant, 1)?;
    println!(
        "appended {} samples ({} series) in {wrote:.1}s ({:.0} samples/s); WAL {:.1} MiB; replay {secs:.2}s = {:.0} samples/s",
        st.head_samples,
        st.head_series,
        st.head_samples as f64 / wrote,
        wal_bytes as f64 / 1048576.0,
        st.head_samples as f64 / secs
    );
    Ok(())
}
