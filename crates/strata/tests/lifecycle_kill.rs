//! `kill -9` while head cuts and compactions run (forced with a one-minute
//! block range and a fast maintenance loop): after every restart each
//! acknowledged sample is there exactly once, no block is corrupt and no
//! half-written block is left behind.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use support::*;

const SERIES: usize = 400;

fn metric(server: &Server, name: &str) -> f64 {
    let Ok(resp) = server.client.get(server.url("/metrics")).send() else {
        return 0.0;
    };
    let text = resp.text().unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Pushes one sample per series per request, 10 s of data time apart, until
/// the server stops answering. Returns the data time of every acknowledged
/// request.
fn push_until_killed(url: String, start_t: i64, acks: Arc<AtomicUsize>) -> Vec<i64> {
    let client = support::http_client();
    let mut acked = Vec::new();
    for i in 0..1_000_000i64 {
        let t = start_t + i * 10_000;
        let batch: Vec<_> = (0..SERIES)
            // The value follows from the time: a request that reached the
            // WAL but was cut off by the kill before its answer is sent
            // again by the next round, and must then be an identical
            // duplicate, not a conflicting one (Prometheus refuses those).
            .map(|s| {
                series(
                    "lifecycle_kill",
                    &[("s", &s.to_string())],
                    &[(t, (t / 10_000) as f64)],
                )
            })
            .collect();
        let ok = client
            .post(&url)
            .header("Content-Encoding", "snappy")
            .body(strata_ingest::encode_write_request(&batch))
            .send()
            .map(|r| r.status().is_success())
            .unwrap_or(false);
        if !ok {
            break;
        }
        acked.push(t);
        // Data time runs ~500x faster than the clock: cuts keep up, as they
        // do with real traffic, instead of a backlog of hours.
        std::thread::sleep(Duration::from_millis(20));
        acks.fetch_add(1, Ordering::SeqCst);
    }
    acked
}

fn check(dir: &std::path::Path, acked: &[i64]) -> TestResult {
    let tenant = dir.join("anonymous");
    assert!(
        !tenant.join("corrupted").exists(),
        "a block was quarantined as corrupt after kill -9"
    );
    for e in std::fs::read_dir(&tenant)? {
        let name = e?.file_name().to_string_lossy().to_string();
        assert!(
            !name.ends_with(".tmp"),
            "half-written {name} left after restart"
        );
    }
    let mut per_series: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (labels, _, t) in dump(dir, &["--match", "lifecycle_kill"]) {
        per_series.entry(labels).or_default().push(t);
    }
    assert_eq!(per_series.len(), SERIES, "series lost");
    for (labels, ts) in &per_series {
        let mut sorted = ts.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), ts.len(), "{labels}: duplicate samples");
        let missing: Vec<&i64> = acked
            .iter()
            .filter(|t| sorted.binary_search(t).is_err())
            .take(3)
            .collect();
        assert!(
            missing.is_empty(),
            "{labels}: acknowledged samples lost, e.g. {missing:?}"
        );
    }
    Ok(())
}

#[test]
fn kill_9_during_head_cuts_and_compactions_loses_and_doubles_nothing() -> TestResult {
    let dir = tempfile::tempdir()?;
    // No self-scrape: its samples at the wall clock would move the head
    // hours ahead of this test's data time and make its pushes too old.
    let cfg = dir.path().join("no-scrapes.yml");
    std::fs::write(&cfg, "global: {}\n")?;
    let cfg_flag = format!("--config={}", cfg.display());
    let data = dir.path().join("data");
    let flags = [
        "--storage.block-range=1m",
        "--storage.maintenance-interval=50ms",
        "--retention.time=0",
        cfg_flag.as_str(),
    ];
    // Data time runs from six hours ago at 10 s per request: a cut is due
    // every ~9 requests, compactions every few cuts.
    let mut next_t = now_ms() - 6 * 3_600_000;
    let mut acked_all: Vec<i64> = Vec::new();
    for round in 0..8u64 {
        let server = Server::start(&data, &flags);
        let url = server.url("/api/v1/write");
        let acks = Arc::new(AtomicUsize::new(0));
        let writer = {
            let acks = acks.clone();
            std::thread::spawn(move || push_until_killed(url, next_t, acks))
        };
        // Kill at a different moment of the lifecycle each round: just after
        // a cut started, after several, after compactions.
        let (counter, want) = match round % 4 {
            0 => ("strata_tsdb_head_cuts_total", 2.0),
            1 => ("strata_tsdb_compactions_total", 1.0),
            2 => ("strata_tsdb_head_cuts_total", 5.0),
            _ => ("strata_tsdb_compactions_total", 3.0),
        };
        let base = metric(&server, counter);
        let deadline = Instant::now() + Duration::from_secs(60);
        while metric(&server, counter) < base + want || acks.load(Ordering::SeqCst) < 3 {
            assert!(
                Instant::now() < deadline,
                "round {round}: {counter} at {} never reached {base}+{want}; {} requests acknowledged; cuts {}, compactions failed {}",
                metric(&server, counter),
                acks.load(Ordering::SeqCst),
                metric(&server, "strata_tsdb_head_cuts_total"),
                metric(&server, "strata_tsdb_compactions_failed_total"),
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(round * 3));
        server.kill9();
        let acked = writer.join().map_err(|_| "writer panicked")?;
        assert!(!acked.is_empty(), "round {round}: nothing acknowledged");
        next_t = acked.last().copied().unwrap_or(next_t) + 10_000;
        acked_all.extend(acked);
        // Restart (replay, cleanup of interrupted writes), stop, check.
        let server = Server::start(&data, &flags);
        assert_eq!(server.stop(), Some(0), "graceful stop after restart");
        check(&data, &acked_all)?;
    }
    Ok(())
}
