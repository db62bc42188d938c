//! The remote-write sender tails the WAL: a `kill -9` and restart resume
//! where the remote's acknowledgements ended — nothing acknowledged is sent
//! twice, nothing stored is lost, also when the remote was down across the
//! restart (its 503s are retried, the WAL is kept meanwhile).
//!
//! The receiver here records what it acknowledged (a real Prometheus
//! silently accepts an identical resent sample, so it cannot show a
//! duplicate); `remote_write_sender.rs` covers real Prometheus and
//! VictoriaMetrics receivers.

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;
use support::recorder::Recorder;
use support::{Server, TestResult, now_ms, series};

fn config(dir: &std::path::Path, port: u16) -> std::io::Result<std::path::PathBuf> {
    let cfg = dir.join("strata.yml");
    std::fs::write(
        &cfg,
        format!(
            concat!(
                "remote_write:\n",
                "- url: http://127.0.0.1:{}/api/v1/write\n",
                "  queue_config: {{batch_send_deadline: 50ms, min_backoff: 50ms, max_backoff: 200ms, max_samples_per_send: 100, min_shards: 3}}\n",
            ),
            port
        ),
    )?;
    Ok(cfg)
}

fn push(s: &Server, name: &str, series_n: usize, from_ms: i64, n: i64) {
    for k in 0..n {
        let batch: Vec<_> = (0..series_n)
            .map(|i| {
                let inst = format!("i{i}");
                series(
                    name,
                    &[("instance", &inst)],
                    &[(from_ms + k * 1000, k as f64)],
                )
            })
            .collect();
        let (code, body) = s.write(&batch);
        assert_eq!(code, 204, "{body}");
    }
}

#[test]
fn a_kill_and_restart_resends_nothing_acknowledged_and_loses_nothing() -> TestResult {
    let dir = tempfile::tempdir()?;
    let rec = Recorder::start()?;
    let cfg = config(dir.path(), rec.port)?;
    let args = ["--config", cfg.to_str().unwrap_or_default()];
    let data = dir.path().join("data");
    let t0 = now_ms() - 600_000;

    // Everything sent and acknowledged, then kill -9.
    let s = Server::start(&data, &args);
    push(&s, "before", 20, t0, 30);
    rec.wait_for("before", 600);
    // The acknowledgement is saved right after the batch; give the last
    // batch's save a moment before the kill.
    std::thread::sleep(Duration::from_millis(300));
    s.kill9();

    // Restarted: the samples acknowledged before are not sent again.
    let s = Server::start(&data, &args);
    push(&s, "after", 20, t0, 10);
    rec.wait_for("after", 200);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(rec.count("before"), (600, 1), "resent after the restart");

    // The remote goes down; what is stored meanwhile waits in the WAL
    // across another kill -9.
    rec.down.store(true, Ordering::SeqCst);
    push(&s, "while_down", 20, t0, 25);
    std::thread::sleep(Duration::from_millis(500));
    s.kill9();
    let s = Server::start(&data, &args);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rec.count("while_down").0, 0);
    rec.down.store(false, Ordering::SeqCst);
    rec.wait_for("while_down", 500);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(rec.count("while_down"), (500, 1));
    assert_eq!(rec.count("before"), (600, 1));
    assert_eq!(rec.count("after"), (200, 1));

    // A clean stop and start resends nothing either.
    assert_eq!(s.stop(), Some(0));
    let s = Server::start(&data, &args);
    push(&s, "last", 1, t0, 5);
    rec.wait_for("last", 5);
    std::thread::sleep(Duration::from_millis(500));
    for name in ["before", "after", "while_down"] {
        assert_eq!(rec.count(name).1, 1, "{name} resent after a clean restart");
    }
    let body = s.client.get(s.url("/metrics")).send()?.text()?;
    assert!(
        body.contains("strata_remote_storage_shards{"),
        "shard gauge missing"
    );
    Ok(())
}
