//! The database through its public API: append semantics, head cut with WAL
//! checkpoint and reopen, compaction and retention under an injected clock,
//! tenant isolation.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use strata_model::{
    AppendLimits, LabelRef, Labels, MatchOp, Matcher, Queryable, Sample, SelectHints, TenantId,
    WriteBatch,
};
use strata_tsdb::{Clock, Db, DbOptions, RejectReason, WalSync};

type R = Result<(), Box<dyn std::error::Error>>;

struct FakeClock(AtomicI64);
impl Clock for FakeClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

const H: i64 = 3_600_000;

/// Test data lives around the epoch: without a fake clock retention would
/// delete it at once.
fn opts(dir: &std::path::Path) -> DbOptions {
    DbOptions {
        data_dir: dir.to_path_buf(),
        wal_sync: WalSync::Always,
        clock: Arc::new(FakeClock(AtomicI64::new(0))),
        ..DbOptions::default()
    }
}

fn write(
    db: &Db,
    tenant: &TenantId,
    name: &str,
    inst: &str,
    samples: &[(i64, f64)],
) -> Result<strata_tsdb::AppendOutcome, strata_tsdb::TsdbError> {
    write_limited(db, tenant, name, inst, samples, 0)
}

/// `max_series` as the ingester passes it (0: no limit).
fn write_limited(
    db: &Db,
    tenant: &TenantId,
    name: &str,
    inst: &str,
    samples: &[(i64, f64)],
    max_series: usize,
) -> Result<strata_tsdb::AppendOutcome, strata_tsdb::TsdbError> {
    let labels = [
        LabelRef {
            name: "__name__",
            value: name,
        },
        LabelRef {
            name: "instance",
            value: inst,
        },
    ];
    let s: Vec<Sample> = samples.iter().map(|&(t, v)| Sample::new(t, v)).collect();
    let mut b = WriteBatch::new();
    b.push(&labels, &s);
    db.append_with_limits(tenant, &b, &AppendLimits { max_series })
}

fn read(
    db: &Db,
    tenant: &TenantId,
    name: &str,
) -> Result<Vec<(Labels, Vec<(i64, f64)>)>, Box<dyn std::error::Error>> {
    let q = db.querier(tenant, i64::MIN, i64::MAX)?;
    let mut out = Vec::new();
    let hints = SelectHints {
        start: i64::MIN,
        end: i64::MAX,
        ..Default::default()
    };
    for s in q.select(&hints, &[Matcher::new(MatchOp::Equal, "__name__", name)?])? {
        let mut s = s?;
        let mut v = Vec::new();
        while let Some(x) = s.samples.next() {
            v.push((x.t, x.v));
        }
        out.push((s.labels, v));
    }
    Ok(out)
}

#[test]
fn append_semantics() -> R {
    let dir = tempfile::tempdir()?;
    let t = TenantId::single();
    let db = Db::open(DbOptions {
        out_of_order_window_ms: 60_000,
        ..opts(dir.path())
    })?;
    assert_eq!(
        write(&db, &t, "m", "a", &[(1000, 1.0), (2000, 2.0)])?.samples_accepted,
        2
    );
    // Duplicate with the same value: silently ignored; different value: rejected.
    let o = write(&db, &t, "m", "a", &[(2000, 2.0)])?;
    assert_eq!((o.samples_accepted, o.rejected.len()), (0, 0));
    let o = write(&db, &t, "m", "a", &[(2000, 3.0)])?;
    assert_eq!(o.rejected[0].reason, RejectReason::DuplicateTimestamp);
    // Within the out-of-order window: accepted and sorted; beyond: rejected.
    write(&db, &t, "m", "a", &[(100_000, 5.0)])?;
    assert_eq!(
        write(&db, &t, "m", "a", &[(50_000, 4.0)])?.samples_accepted,
        1
    );
    assert_eq!(
        write(&db, &t, "m", "a", &[(10_000, 9.0)])?.rejected[0].reason,
        RejectReason::OutOfOrder
    );
    assert_eq!(
        read(&db, &t, "m")?[0].1,
        vec![(1000, 1.0), (2000, 2.0), (50_000, 4.0), (100_000, 5.0)]
    );
    // Series limit (the ingester passes it with every append): existing
    // series keep appending, the third is refused.
    write(&db, &t, "m", "b", &[(1000, 1.0)])?;
    let o = write_limited(&db, &t, "m", "c", &[(1000, 1.0)], 2)?;
    assert_eq!(o.rejected[0].reason, RejectReason::SeriesLimit);
    assert_eq!(
        write(&db, &t, "m", "b", &[(2000, 1.0)])?.samples_accepted,
        1
    );
    Ok(())
}

#[test]
fn head_cut_checkpoint_reopen_loses_and_doubles_nothing() -> R {
    let dir = tempfile::tempdir()?;
    let t = TenantId::single();
    let want: Vec<(i64, f64)> = (0..(5 * 240)).map(|i| (i * 15_000, i as f64)).collect();
    {
        let db = Db::open(opts(dir.path()))?;
        for chunk in want.chunks(100) {
            write(&db, &t, "m", "a", chunk)?;
            db.maintenance()?;
        }
        let st = db.stats(&t, 5)?;
        assert!(
            !st.blocks.is_empty(),
            "a 5h head must have been cut into blocks"
        );
        assert!(
            st.head_max_time - st.head_min_time <= 3 * H,
            "head span after cut"
        );
        // Too old now: before the head's minimum valid time.
        let o = write(&db, &t, "m", "a", &[(1000, 1.0)])?;
        assert_eq!(
            o.rejected.first().map(|r| r.reason),
            Some(RejectReason::TooOld)
        );
        assert_eq!(read(&db, &t, "m")?[0].1, want);
        db.close()?;
    }
    // Reopen: checkpoint + newer segments + blocks give every sample once.
    let db = Db::open(opts(dir.path()))?;
    assert_eq!(read(&db, &t, "m")?[0].1, want);
    // The WAL holds only what is not in blocks: checkpointed.
    let wal = std::fs::read_dir(dir.path().join("anonymous/wal"))?.count();
    assert!(
        wal <= 4,
        "old WAL segments must be deleted after a checkpoint, found {wal} entries"
    );
    // Flushing the whole head leaves everything in blocks.
    db.flush_head(&t)?;
    assert_eq!(db.stats(&t, 5)?.head_samples, 0);
    assert_eq!(read(&db, &t, "m")?[0].1, want);
    Ok(())
}

#[test]
fn compaction_and_retention_with_an_injected_clock() -> R {
    let dir = tempfile::tempdir()?;
    let t = TenantId::single();
    let clock = Arc::new(FakeClock(AtomicI64::new(0)));
    let db = Db::open(DbOptions {
        clock: clock.clone(),
        retention_time_ms: Some(15 * 24 * H),
        ..opts(dir.path())
    })?;
    // 12 hours of data, cut block by block.
    for i in 0..(12 * 60) {
        write(&db, &t, "m", "a", &[(i * 60_000, i as f64)])?;
        if i % 60 == 0 {
            db.maintenance()?;
        }
    }
    db.maintenance()?;
    let blocks = db.stats(&t, 5)?.blocks;
    assert!(
        blocks.iter().any(|b| b.compaction.level >= 2),
        "2h blocks must compact into 6h: {blocks:?}"
    );
    for w in blocks.windows(2) {
        assert!(
            w[0].max_time <= w[1].min_time,
            "no overlaps after compaction"
        );
    }
    let all: Vec<(i64, f64)> = (0..(12 * 60)).map(|i| (i * 60_000, i as f64)).collect();
    assert_eq!(read(&db, &t, "m")?[0].1, all);
    // Far in the future every block is past retention.
    clock.0.store(100 * 24 * H, Ordering::SeqCst);
    db.maintenance()?;
    assert!(db.stats(&t, 5)?.blocks.is_empty());
    Ok(())
}

#[test]
fn tenants_are_isolated() -> R {
    let dir = tempfile::tempdir()?;
    let db = Db::open(opts(dir.path()))?;
    let (a, b) = (TenantId::parse("a")?, TenantId::parse("b")?);
    write(&db, &a, "secret", "x", &[(1, 1.0)])?;
    assert!(read(&db, &b, "secret")?.is_empty());
    let q = db.querier(&b, i64::MIN, i64::MAX)?;
    assert!(q.label_names(&[])?.is_empty());
    assert!(q.label_values("__name__", &[])?.is_empty());
    db.delete_series(
        &b,
        &[Matcher::new(MatchOp::RegexMatch, "__name__", ".+")?],
        i64::MIN,
        i64::MAX,
    )?;
    assert_eq!(read(&db, &a, "secret")?.len(), 1);
    Ok(())
}

#[test]
fn a_second_open_is_refused_while_locked() -> R {
    let dir = tempfile::tempdir()?;
    let _db = Db::open(opts(dir.path()))?;
    assert!(matches!(
        Db::open(opts(dir.path())),
        Err(strata_tsdb::TsdbError::Locked(_))
    ));
    Ok(())
}

/// Writers of one tenant append concurrently while head cuts run: every
/// acknowledged sample is readable during the run, after the cuts and after
/// a reopen, exactly once, and the cuts produced blocks.
#[test]
fn concurrent_appends_during_head_cuts_lose_and_double_nothing() -> R {
    const WRITERS: usize = 4;
    const SERIES_PER_WRITER: usize = 50;
    const STEPS: i64 = 400;
    const STEP: i64 = 15_000;
    let dir = tempfile::tempdir()?;
    let tenant = TenantId::single();
    {
        let db = Arc::new(Db::open(opts(dir.path()))?);
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let progress: Arc<Vec<AtomicI64>> =
            Arc::new((0..WRITERS).map(|_| AtomicI64::new(0)).collect());
        let mut handles = Vec::new();
        for w in 0..WRITERS {
            let (db, tenant, progress) = (db.clone(), tenant.clone(), progress.clone());
            handles.push(std::thread::spawn(move || -> Result<(), String> {
                let names: Vec<String> = (0..SERIES_PER_WRITER)
                    .map(|i| format!("w{w}-s{i}"))
                    .collect();
                for step in 0..STEPS {
                    let t = step * STEP;
                    let samples = [Sample::new(t, (step * 10 + w as i64) as f64)];
                    let mut b = WriteBatch::new();
                    let labels: Vec<[LabelRef<'_>; 2]> = names
                        .iter()
                        .map(|n| {
                            [
                                LabelRef {
                                    name: "__name__",
                                    value: "m",
                                },
                                LabelRef {
                                    name: "series",
                                    value: n,
                                },
                            ]
                        })
                        .collect();
                    for l in &labels {
                        b.push(l, &samples);
                    }
                    let out = db.append(&tenant, &b).map_err(|e| e.to_string())?;
                    if !out.rejected.is_empty() || out.samples_accepted != SERIES_PER_WRITER as u64
                    {
                        return Err(format!(
                            "writer {w} step {step}: {:?}",
                            out.rejected.first()
                        ));
                    }
                    progress[w].store(t, Ordering::SeqCst);
                }
                Ok(())
            }));
        }
        // The cutter stays well behind the slowest writer's time so no
        // acknowledged write becomes "too old".
        let cutter = {
            let (db, tenant, done, progress) =
                (db.clone(), tenant.clone(), done.clone(), progress.clone());
            std::thread::spawn(move || -> Result<u32, String> {
                let mut cuts = 0;
                let mut end = 20 * STEP;
                while !done.load(Ordering::SeqCst) {
                    let slowest = progress
                        .iter()
                        .map(|p| p.load(Ordering::SeqCst))
                        .min()
                        .unwrap_or(0);
                    if slowest > end + 60 * STEP {
                        db.cut_head_before(&tenant, end)
                            .map_err(|e| e.to_string())?;
                        // Reads during the run see everything so far, once.
                        let got = read_all(&db, &tenant, end)?;
                        if got
                            .iter()
                            .any(|(_, s)| s.windows(2).any(|w| w[0].t >= w[1].t))
                        {
                            return Err("duplicate or unordered samples during the run".into());
                        }
                        cuts += 1;
                        end += 40 * STEP;
                    } else {
                        std::thread::yield_now();
                    }
                }
                Ok(cuts)
            })
        };
        for h in handles {
            h.join().map_err(|_| "writer panicked")??;
        }
        done.store(true, Ordering::SeqCst);
        let cuts = cutter.join().map_err(|_| "cutter panicked")??;
        assert!(cuts >= 2, "only {cuts} cuts ran");
        check_all(
            &read_all(&db, &tenant, i64::MAX)?,
            WRITERS * SERIES_PER_WRITER,
            STEPS,
            STEP,
        )?;
        assert!(!db.stats(&tenant, 1)?.blocks.is_empty());
        db.close()?;
    }
    let db = Db::open(opts(dir.path()))?;
    check_all(
        &read_all(&db, &tenant, i64::MAX)?,
        WRITERS * SERIES_PER_WRITER,
        STEPS,
        STEP,
    )?;
    Ok(())
}

fn read_all(db: &Db, tenant: &TenantId, _upto: i64) -> Result<Vec<(Labels, Vec<Sample>)>, String> {
    let q = db
        .querier(tenant, i64::MIN, i64::MAX)
        .map_err(|e| e.to_string())?;
    let hints = SelectHints {
        start: i64::MIN,
        end: i64::MAX,
        series_only: false,
        limit: 0,
        newest_only: false,
        any_order: false,
    };
    let m = Matcher::new(MatchOp::Equal, "__name__", "m").map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for s in q.select(&hints, &[m]).map_err(|e| e.to_string())? {
        let mut s = s.map_err(|e| e.to_string())?;
        let mut v = Vec::new();
        while let Some(x) = s.samples.next() {
            v.push(x);
        }
        out.push((s.labels, v));
    }
    Ok(out)
}

fn check_all(
    got: &[(Labels, Vec<Sample>)],
    series: usize,
    steps: i64,
    step: i64,
) -> Result<(), String> {
    if got.len() != series {
        return Err(format!("{} series, want {series}", got.len()));
    }
    for (l, s) in got {
        let w: i64 = l
            .get("series")
            .and_then(|v| v.strip_prefix('w'))
            .and_then(|v| v.split('-').next())
            .and_then(|v| v.parse().ok())
            .ok_or("bad label")?;
        let want: Vec<Sample> = (0..steps)
            .map(|i| Sample::new(i * step, (i * 10 + w) as f64))
            .collect();
        if s.len() != want.len() || s.iter().zip(&want).any(|(a, b)| a.t != b.t || a.v != b.v) {
            return Err(format!("{l}: {} samples, want {}", s.len(), want.len()));
        }
    }
    Ok(())
}

/// A ref from one append finds the series without its labels being looked
/// up; a ref to a series that is gone (or never was) falls back to the
/// labels, so the samples land in the right series either way.
#[test]
fn series_refs_skip_the_lookup_and_stale_ones_fall_back() -> R {
    let dir = tempfile::tempdir()?;
    let db = Db::open(opts(dir.path()))?;
    let t = TenantId::single();
    let a = [
        LabelRef {
            name: "__name__",
            value: "r",
        },
        LabelRef {
            name: "i",
            value: "a",
        },
    ];
    let b = [
        LabelRef {
            name: "__name__",
            value: "r",
        },
        LabelRef {
            name: "i",
            value: "b",
        },
    ];
    let mut first = WriteBatch::new();
    first.push_with_ref(&a, &[Sample::new(1, 1.0)], 0);
    first.push_with_ref(&b, &[Sample::new(1, 2.0)], 0);
    let out = db.append(&t, &first)?;
    assert_eq!(out.refs.len(), 2);
    assert!(out.refs.iter().all(|r| *r != 0) && out.refs[0] != out.refs[1]);

    let mut again = WriteBatch::new();
    again.push_with_ref(&a, &[Sample::new(2, 3.0)], out.refs[0]);
    // A bogus ref (no such series): the labels decide.
    again.push_with_ref(&b, &[Sample::new(2, 4.0)], 1_000_000);
    let out2 = db.append(&t, &again)?;
    assert_eq!(out2.samples_accepted, 2);
    assert_eq!(out2.refs, out.refs, "the fallback found the same series");
    // Without refs asked for, none are returned.
    let mut plain = WriteBatch::new();
    plain.push(&a, &[Sample::new(3, 5.0)]);
    assert!(db.append(&t, &plain)?.refs.is_empty());

    let got = read(&db, &t, "r")?;
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].1, vec![(1, 1.0), (2, 3.0), (3, 5.0)]);
    assert_eq!(got[1].1, vec![(1, 2.0), (2, 4.0)]);
    Ok(())
}

/// A head cut removes a series whose samples all went into a block; its
/// ref is then stale and the append falls back to the labels, re-creating
/// the series, and a read sees the block's samples and the head's as one.
#[test]
fn a_ref_to_a_series_a_head_cut_removed_falls_back() -> R {
    let dir = tempfile::tempdir()?;
    let db = Db::open(opts(dir.path()))?;
    let t = TenantId::single();
    let quiet = [
        LabelRef {
            name: "__name__",
            value: "q",
        },
        LabelRef {
            name: "i",
            value: "a",
        },
    ];
    let mut first = WriteBatch::new();
    first.push_with_ref(&quiet, &[Sample::new(0, 1.0)], 0);
    let r = db.append(&t, &first)?.refs[0];
    assert_ne!(r, 0);
    // Five hours of another series: cuts move the quiet one into blocks.
    let busy: Vec<(i64, f64)> = (0..(5 * 240)).map(|i| (i * 15_000, i as f64)).collect();
    for chunk in busy.chunks(100) {
        write(&db, &t, "m", "a", chunk)?;
        db.maintenance()?;
    }
    assert!(!db.stats(&t, 5)?.blocks.is_empty());
    let late = 5 * 240 * 15_000;
    let mut again = WriteBatch::new();
    again.push_with_ref(&quiet, &[Sample::new(late, 2.0)], r);
    let out = db.append(&t, &again)?;
    assert_eq!(out.samples_accepted, 1);
    assert_ne!(out.refs[0], 0);
    assert_ne!(
        out.refs[0], r,
        "the cut removed the series: a new one was made"
    );
    let got = read(&db, &t, "q")?;
    assert_eq!(got.len(), 1, "one series across block and head");
    assert_eq!(got[0].1, vec![(0, 1.0), (late, 2.0)]);
    Ok(())
}
