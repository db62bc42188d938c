//! Tailing the WAL as remote-write queues do (`SampleLog`): log order,
//! labels, resuming from saved progress across a head cut and a reopen,
//! and the hold that progress puts on WAL truncation.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use strata_model::{
    LabelRef, LogCursor, LogPosition, QueueProgress, Sample, SampleLog, TenantId, WriteBatch,
};
use strata_tsdb::{Clock, Db, DbOptions, WalSync};

type R = Result<(), Box<dyn std::error::Error>>;

struct FakeClock(AtomicI64);
impl Clock for FakeClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

fn opts(dir: &std::path::Path) -> DbOptions {
    DbOptions {
        data_dir: dir.to_path_buf(),
        wal_sync: WalSync::Always,
        clock: Arc::new(FakeClock(AtomicI64::new(0))),
        ..DbOptions::default()
    }
}

fn write(db: &Db, t: &TenantId, inst: &str, from: i64, n: i64) -> R {
    let labels = [
        LabelRef {
            name: "__name__",
            value: "m",
        },
        LabelRef {
            name: "instance",
            value: inst,
        },
    ];
    // One append per sample: many small frames, as live traffic makes.
    for i in from..from + n {
        let s = [Sample::new(i * 1000, i as f64)];
        let mut b = WriteBatch::new();
        b.push(&labels, &s);
        db.append(t, &b)?;
    }
    Ok(())
}

/// Everything the cursor has now: (instance, t, v, position).
fn drain(
    c: &mut dyn LogCursor,
) -> Result<Vec<(String, i64, f64, LogPosition)>, Box<dyn std::error::Error>> {
    let mut out = Vec::new();
    loop {
        let n = c.read(1000, &mut |s| {
            let inst = s
                .labels
                .iter()
                .find(|(n, _)| *n == "instance")
                .map(|(_, v)| v.to_string())
                .unwrap_or_default();
            out.push((inst, s.sample.t, s.sample.v, s.position));
        })?;
        if n == 0 {
            return Ok(out);
        }
    }
}

#[test]
fn a_new_cursor_sees_what_arrives_after_it_in_order() -> R {
    let dir = tempfile::tempdir()?;
    let db = Db::open(opts(dir.path()))?;
    let t = TenantId::single();
    write(&db, &t, "a", 0, 5)?;
    let mut c = db.tail(&t, None)?;
    assert!(
        drain(c.as_mut())?.is_empty(),
        "a cursor from the end sees nothing old"
    );
    write(&db, &t, "a", 5, 3)?;
    write(&db, &t, "b", 0, 2)?;
    let got = drain(c.as_mut())?;
    let want: Vec<(String, i64)> = [("a", 5), ("a", 6), ("a", 7), ("b", 0), ("b", 1)]
        .iter()
        .map(|(i, s)| (i.to_string(), s * 1000))
        .collect();
    assert_eq!(
        got.iter()
            .map(|(i, t, _, _)| (i.clone(), *t))
            .collect::<Vec<_>>(),
        want
    );
    assert!(got.windows(2).all(|w| w[0].3 < w[1].3), "positions ascend");
    assert!(c.position() > got[got.len() - 1].3);
    Ok(())
}

#[test]
fn saved_progress_resumes_exactly_across_a_head_cut_and_a_reopen() -> R {
    let dir = tempfile::tempdir()?;
    let t = TenantId::single();
    let resume_at;
    {
        let db = Db::open(opts(dir.path()))?;
        let mut c = db.tail(&t, None)?;
        write(&db, &t, "a", 0, 100)?;
        let all = drain(c.as_mut())?;
        assert_eq!(all.len(), 100);
        // Acknowledged up to the 40th sample.
        resume_at = all[39].3;
        db.save_progress(
            &t,
            "q1",
            &QueueProgress {
                shards: vec![resume_at],
            },
        )?;
        // A head cut checkpoints the WAL; the held segments must stay.
        db.cut_head_before(&t, 60_000)?;
        write(&db, &t, "a", 100, 10)?;
        db.close()?;
    }
    let db = Db::open(opts(dir.path()))?;
    let progress = db.load_progress(&t, "q1")?;
    assert_eq!(progress.and_then(|p| p.oldest()), Some(resume_at));
    let mut c = db.tail(&t, Some(resume_at))?;
    let got = drain(c.as_mut())?;
    let ts: Vec<i64> = got.iter().map(|(_, t, _, _)| *t / 1000).collect();
    assert_eq!(
        ts,
        (40..110).collect::<Vec<_>>(),
        "no loss, no resend of the acknowledged"
    );
    assert!(
        got.iter().all(|(i, ..)| i == "a"),
        "series known from the checkpoint"
    );
    Ok(())
}

#[test]
fn without_progress_a_head_cut_truncates_the_wal() -> R {
    let dir = tempfile::tempdir()?;
    let t = TenantId::single();
    let db = Db::open(opts(dir.path()))?;
    write(&db, &t, "a", 0, 100)?;
    db.save_progress(
        &t,
        "q1",
        &QueueProgress {
            shards: vec![LogPosition {
                segment: 1,
                offset: 0,
                sample: 0,
            }],
        },
    )?;
    db.cut_head_before(&t, 60_000)?;
    let wal = dir.path().join(t.as_str()).join("wal");
    assert!(wal.join("00000001").exists(), "held by q1");
    db.retain_queues(&t, &[])?;
    write(&db, &t, "a", 100, 1)?;
    db.cut_head_before(&t, 120_000)?;
    assert!(!wal.join("00000001").exists(), "released once q1 is gone");
    assert!(db.load_progress(&t, "q1")?.is_none());
    Ok(())
}

#[test]
fn agent_storage_keeps_only_what_queues_have_not_sent() -> R {
    let dir = tempfile::tempdir()?;
    let t = TenantId::single();
    let agent = |d: &std::path::Path| DbOptions {
        agent: true,
        ..opts(d)
    };
    let wal = dir.path().join(t.as_str()).join("wal");
    let segments = |w: &std::path::Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(w)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .filter(|n| n.len() == 8 && n.bytes().all(|b| b.is_ascii_digit()))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    {
        let db = Db::open(agent(dir.path()))?;
        let mut c = db.tail(&t, None)?;
        let start = c.position();
        db.save_progress(
            &t,
            "q",
            &QueueProgress {
                shards: vec![start],
            },
        )?;
        write(&db, &t, "a", 0, 50)?;
        // Nothing held in memory: queries see no samples.
        let stats = db.stats(&t, 10)?;
        assert_eq!(stats.head_samples, 0);
        assert_eq!(stats.head_series, 1);
        db.maintenance()?;
        assert!(
            segments(&wal).contains(&"00000001".to_string()),
            "unsent: kept"
        );
        let sent = drain(c.as_mut())?;
        assert_eq!(sent.len(), 50);
        db.save_progress(
            &t,
            "q",
            &QueueProgress {
                shards: vec![c.position()],
            },
        )?;
        write(&db, &t, "a", 50, 5)?;
        db.maintenance()?;
        assert!(
            !segments(&wal).contains(&"00000001".to_string()),
            "sent: truncated"
        );
        db.close()?;
    }
    // Reopened: series and their newest timestamps come back from the WAL,
    // so an older sample is still refused and the queue resumes exactly.
    let db = Db::open(agent(dir.path()))?;
    let p = db.load_progress(&t, "q")?.and_then(|p| p.oldest());
    let mut c = db.tail(&t, p)?;
    let rest = drain(c.as_mut())?;
    assert_eq!(
        rest.iter()
            .map(|(_, t, _, _)| *t / 1000)
            .collect::<Vec<_>>(),
        (50..55).collect::<Vec<_>>()
    );
    let labels = [
        LabelRef {
            name: "__name__",
            value: "m",
        },
        LabelRef {
            name: "instance",
            value: "a",
        },
    ];
    let s = [Sample::new(10_000, 1.0)];
    let mut b = WriteBatch::new();
    b.push(&labels, &s);
    let out = db.append(&t, &b)?;
    assert_eq!(out.samples_accepted, 0, "out of order after a restart");
    Ok(())
}
