//! Head chunk files (`chunks_head/`) through the public API: full chunks go
//! to disk, a reopen maps them back and replays only newer WAL samples, and
//! nothing is lost or doubled — with out-of-order samples, deletes, head
//! cuts and damaged chunk files.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use strata_model::{
    LabelRef, MatchOp, Matcher, Queryable, Sample, SelectHints, TenantId, WriteBatch,
};
use strata_tsdb::{Clock, Db, DbOptions, WalSync};

type R = Result<(), Box<dyn std::error::Error>>;

struct FakeClock(AtomicI64);
impl Clock for FakeClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

fn opts(dir: &std::path::Path, ooo_window_ms: i64) -> DbOptions {
    DbOptions {
        data_dir: dir.to_path_buf(),
        wal_sync: WalSync::Always,
        clock: Arc::new(FakeClock(AtomicI64::new(0))),
        out_of_order_window_ms: ooo_window_ms,
        ..DbOptions::default()
    }
}

/// Expected content: series name → time → value bits.
type Model = BTreeMap<String, BTreeMap<i64, u64>>;

fn write(db: &Db, t: &TenantId, series: &str, samples: &[(i64, f64)], model: &mut Model) -> R {
    let labels = [
        LabelRef {
            name: "__name__",
            value: "m",
        },
        LabelRef {
            name: "s",
            value: series,
        },
    ];
    let s: Vec<Sample> = samples.iter().map(|&(t, v)| Sample::new(t, v)).collect();
    let mut b = WriteBatch::new();
    b.push(&labels, &s);
    let out = db.append(t, &b)?;
    assert!(out.rejected.is_empty(), "{:?}", out.rejected);
    let m = model.entry(series.to_string()).or_default();
    for (t, v) in samples {
        m.insert(*t, v.to_bits());
    }
    Ok(())
}

fn read_all(db: &Db, t: &TenantId) -> Result<Model, Box<dyn std::error::Error>> {
    let q = db.querier(t, i64::MIN, i64::MAX)?;
    let hints = SelectHints {
        start: i64::MIN,
        end: i64::MAX,
        ..Default::default()
    };
    let mut out = Model::new();
    for s in q.select(&hints, &[Matcher::new(MatchOp::Equal, "__name__", "m")?])? {
        let mut s = s?;
        let name = s.labels.get("s").unwrap_or_default().to_string();
        let m = out.entry(name).or_default();
        let mut prev = i64::MIN;
        while let Some(x) = s.samples.next() {
            assert!(x.t > prev, "samples out of order or doubled at {}", x.t);
            prev = x.t;
            m.insert(x.t, x.v.to_bits());
        }
    }
    Ok(out)
}

fn chunk_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir.join("anonymous/chunks_head"))
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn reopen_maps_full_chunks_and_replays_only_newer_samples() -> R {
    let dir = tempfile::tempdir()?;
    let t = TenantId::single();
    let mut model = Model::new();
    {
        let db = Db::open(opts(dir.path(), 600_000))?;
        // 20 series × 1000 samples, 25 at a time: 8 full chunks each.
        for round in 0..40i64 {
            for s in 0..20 {
                let samples: Vec<(i64, f64)> = (0..25)
                    .map(|i| {
                        let k = round * 25 + i;
                        (k * 15_000, (k * 7 + s) as f64 * 0.5)
                    })
                    .collect();
                write(&db, &t, &format!("s{s}"), &samples, &mut model)?;
            }
            // Out of order, within the window, between existing samples.
            if round % 5 == 4 {
                let k = round * 25 + 10;
                write(&db, &t, "s3", &[(k * 15_000 + 7, -1.0)], &mut model)?;
            }
        }
        let st = db.stats(&t, 1)?;
        assert!(
            st.head_chunks_in_files >= 20 * 7,
            "full chunks must live in head chunk files, {} do",
            st.head_chunks_in_files
        );
        assert_eq!(read_all(&db, &t)?, model);
    }
    assert!(!chunk_files(dir.path()).is_empty());
    let db = Db::open(opts(dir.path(), 600_000))?;
    let st = db.stats(&t, 1)?;
    assert!(
        st.head_chunks_in_files >= 20 * 7,
        "a reopen maps the chunks back, {} mapped",
        st.head_chunks_in_files
    );
    assert_eq!(
        read_all(&db, &t)?,
        model,
        "every sample exactly once after a reopen"
    );
    // Appends go on where they stopped, duplicates of the last sample too.
    let last = *model["s0"].iter().next_back().map(|(t, _)| t).unwrap_or(&0);
    let v = f64::from_bits(model["s0"][&last]);
    write(
        &db,
        &t,
        "s0",
        &[(last, v), (last + 15_000, 1.0)],
        &mut model,
    )?;
    assert_eq!(read_all(&db, &t)?, model);
    Ok(())
}

#[test]
fn damaged_chunk_files_fall_back_to_the_wal() -> R {
    let dir = tempfile::tempdir()?;
    let t = TenantId::single();
    let mut model = Model::new();
    {
        let db = Db::open(opts(dir.path(), 0))?;
        for round in 0..30i64 {
            for s in 0..5 {
                let samples: Vec<(i64, f64)> = (0..40)
                    .map(|i| {
                        let k = round * 40 + i;
                        (k * 10_000, (k ^ s) as f64)
                    })
                    .collect();
                write(&db, &t, &format!("s{s}"), &samples, &mut model)?;
            }
        }
    }
    let files = chunk_files(dir.path());
    let first = files.first().ok_or("no head chunk file written")?;
    let mut bytes = std::fs::read(first)?;
    assert!(bytes.len() > 400);
    // A flipped byte in the middle: that record and all after it are dropped.
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(first, &bytes)?;
    {
        let db = Db::open(opts(dir.path(), 0))?;
        assert_eq!(
            read_all(&db, &t)?,
            model,
            "a damaged chunk file loses nothing"
        );
    }
    // The scan stopped at the damaged record: the file was cut there, and
    // the files after it are gone.
    assert!(
        std::fs::metadata(first)?.len() <= mid as u64,
        "the damaged file keeps only its records before the damage"
    );
    for later in &files[1..] {
        assert!(
            !later.exists(),
            "{} after the damage is dropped",
            later.display()
        );
    }
    // A file cut short, as a crash would leave it.
    for f in chunk_files(dir.path()) {
        let len = std::fs::metadata(&f)?.len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&f)?
            .set_len(len * 2 / 3)?;
    }
    let db = Db::open(opts(dir.path(), 0))?;
    assert_eq!(
        read_all(&db, &t)?,
        model,
        "a truncated chunk file loses nothing"
    );
    Ok(())
}

#[test]
fn deletes_and_head_cuts_survive_a_reopen() -> R {
    const H: i64 = 3_600_000;
    let dir = tempfile::tempdir()?;
    let t = TenantId::single();
    let mut model = Model::new();
    {
        let db = Db::open(opts(dir.path(), 0))?;
        // 5 h at 15 s: the head is cut into blocks on the way.
        let n = 5 * H / 15_000;
        for start in (0..n).step_by(100) {
            for s in 0..3 {
                let samples: Vec<(i64, f64)> = (start..(start + 100).min(n))
                    .map(|k| (k * 15_000, (k + s) as f64))
                    .collect();
                write(&db, &t, &format!("s{s}"), &samples, &mut model)?;
            }
            db.maintenance()?;
        }
        assert!(!db.stats(&t, 1)?.blocks.is_empty(), "a head cut happened");
        // Delete a range inside the head from one series.
        let (lo, hi) = (4 * H, 4 * H + 30 * 60_000);
        db.delete_series(&t, &[Matcher::new(MatchOp::Equal, "s", "s1")?], lo, hi)?;
        if let Some(m) = model.get_mut("s1") {
            m.retain(|t, _| *t < lo || *t > hi);
        }
        assert_eq!(read_all(&db, &t)?, model);
    }
    let db = Db::open(opts(dir.path(), 0))?;
    assert_eq!(
        read_all(&db, &t)?,
        model,
        "blocks + mapped chunks + WAL after a reopen"
    );
    Ok(())
}

#[test]
fn wal_trims_leave_out_what_chunk_files_hold_and_lose_nothing() -> R {
    let dir = tempfile::tempdir()?;
    let t = TenantId::single();
    let mut model = Model::new();
    let trimmed = |dir: &std::path::Path| DbOptions {
        wal_trim_bytes: 16 << 10,
        ..opts(dir, 600_000)
    };
    let untrimmed_wal;
    {
        let db = Db::open(trimmed(dir.path()))?;
        for round in 0..60i64 {
            for s in 0..20 {
                let samples: Vec<(i64, f64)> = (0..30)
                    .map(|i| {
                        let k = round * 30 + i;
                        // Values that compress badly, as real gauges do.
                        (k * 2_000, ((k * 7919 + s * 104_729) % 100_003) as f64 / 7.0)
                    })
                    .collect();
                write(&db, &t, &format!("s{s}"), &samples, &mut model)?;
            }
            if round % 10 == 9 {
                let k = round * 30 + 5;
                write(&db, &t, "s4", &[(k * 2_000 + 3, -2.0)], &mut model)?;
            }
            db.maintenance()?;
        }
        let lo = 20 * 30 * 2_000;
        let hi = lo + 100 * 2_000;
        db.delete_series(&t, &[Matcher::new(MatchOp::Equal, "s", "s7")?], lo, hi)?;
        if let Some(m) = model.get_mut("s7") {
            m.retain(|t, _| *t < lo || *t > hi);
        }
        for s in 0..20 {
            let k = 60 * 30;
            write(&db, &t, &format!("s{s}"), &[(k * 2_000, 1.0)], &mut model)?;
        }
        db.maintenance()?;
        assert_eq!(read_all(&db, &t)?, model);
        let st = db.stats(&t, 1)?;
        assert!(
            st.blocks.is_empty(),
            "no head cut: only trims shrink the WAL"
        );
        untrimmed_wal = st.wal_bytes;
    }
    // The same writes without trims, for the WAL size they would take.
    let plain = tempfile::tempdir()?;
    {
        let db = Db::open(opts(plain.path(), 600_000))?;
        let mut m2 = Model::new();
        for (name, samples) in &model {
            let v: Vec<(i64, f64)> = samples
                .iter()
                .map(|(t, b)| (*t, f64::from_bits(*b)))
                .collect();
            write(&db, &t, name, &v, &mut m2)?;
        }
        let full = db.stats(&t, 1)?.wal_bytes;
        assert!(
            untrimmed_wal * 3 < full,
            "trimmed WAL {untrimmed_wal} bytes should be far below the {full} of the same data untrimmed"
        );
    }
    let db = Db::open(trimmed(dir.path()))?;
    assert_eq!(
        read_all(&db, &t)?,
        model,
        "trimmed WAL + chunk files give every sample exactly once"
    );
    Ok(())
}
