//! `strata run --agent`: scrape + remote-write only, the WAL as the only
//! storage, truncated once the queues sent it; no local query API.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};
use support::recorder::Recorder;
use support::{Server, TestResult, bin, serve};

fn segments(wal: &std::path::Path) -> Vec<u64> {
    let mut v: Vec<u64> = std::fs::read_dir(wal)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let n = e.file_name().to_string_lossy().to_string();
                    (n.len() == 8).then(|| n.parse().ok()).flatten()
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn an_agent_scrapes_forwards_and_keeps_only_the_unsent_wal() -> TestResult {
    let dir = tempfile::tempdir()?;
    let rec = Recorder::start()?;
    let target = serve(|_, n| {
        (
            "text/plain; version=0.0.4".into(),
            format!("# TYPE agent_fixture counter\nagent_fixture{{k=\"v\"}} {n}\n").into_bytes(),
            Duration::ZERO,
        )
    })?;
    let cfg = dir.path().join("agent.yml");
    std::fs::write(
        &cfg,
        format!(
            concat!(
                "global: {{scrape_interval: 200ms, scrape_timeout: 100ms, external_labels: {{cluster: c1}}}}\n",
                "scrape_configs:\n- job_name: fixture\n  static_configs: [{{targets: ['127.0.0.1:{}']}}]\n",
                "remote_write:\n- url: http://127.0.0.1:{}/api/v1/write\n",
                "  queue_config: {{batch_send_deadline: 50ms}}\n",
            ),
            target, rec.port
        ),
    )?;
    let data = dir.path().join("data");
    let args = [
        "--agent",
        "--config",
        cfg.to_str().unwrap_or_default(),
        "--storage.maintenance-interval",
        "1s",
    ];
    let s = Server::start(&data, &args);
    rec.wait_for("agent_fixture", 5);
    rec.wait_for("up", 5);
    {
        let acked = rec.acked.lock().unwrap_or_else(|e| e.into_inner());
        let key = acked
            .keys()
            .find(|(k, _)| k.contains("__name__=agent_fixture"))
            .map(|(k, _)| k.clone())
            .unwrap_or_default();
        assert_eq!(
            key,
            format!(
                "__name__=agent_fixture,cluster=c1,instance=127.0.0.1:{target},job=fixture,k=v"
            )
        );
    }
    // No local queries in agent mode: 422, as Prometheus' agent.
    for path in [
        "/api/v1/query?query=up",
        "/api/v1/series?match[]=up",
        "/federate?match[]=up",
    ] {
        let r = s.client.get(s.url(path)).send()?;
        assert_eq!(r.status().as_u16(), 422, "{path}");
        let body: serde_json::Value = r.json()?;
        assert_eq!(body["errorType"], "execution", "{path}");
        assert_eq!(body["error"], "unavailable with Strata Agent");
    }
    let (code, _) = s.get_json("/api/v1/targets", None);
    assert_eq!(code, 200);
    // The WAL is truncated as the queue sends: after some maintenance
    // rounds the first segments are gone.
    let wal = data.join("anonymous").join("wal");
    let deadline = Instant::now() + Duration::from_secs(30);
    while segments(&wal).first().copied().unwrap_or(0) < 3 {
        assert!(
            Instant::now() < deadline,
            "WAL not truncated: {:?}",
            segments(&wal)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Nothing held in memory or in blocks.
    assert!(
        !std::fs::read_dir(data.join("anonymous"))?
            .filter_map(|e| e.ok())
            .any(|e| e.file_name().len() == 26),
        "agent wrote a block"
    );

    // A remote that is down holds the WAL; when it is back nothing was lost.
    rec.down.store(true, std::sync::atomic::Ordering::SeqCst);
    std::thread::sleep(Duration::from_secs(3));
    let held = segments(&wal);
    let before = rec.count("agent_fixture").0;
    s.kill9();
    rec.down.store(false, std::sync::atomic::Ordering::SeqCst);
    assert!(
        held.len() >= 2,
        "segments kept while the remote is down: {held:?}"
    );
    let _s = Server::start(&data, &args);
    // About 15 scrapes happened while it was down: they all arrive.
    rec.wait_for("agent_fixture", before + 12);
    assert_eq!(rec.count("agent_fixture").1, 1, "a sample sent twice");
    Ok(())
}

#[test]
fn agent_mode_refuses_rules_alerting_and_remote_read() -> TestResult {
    let dir = tempfile::tempdir()?;
    for (field, yaml) in [
        ("rule_files", "rule_files: [r.yml]\n"),
        (
            "remote_read",
            "remote_read: [{url: 'http://127.0.0.1:1/read'}]\n",
        ),
        (
            "alerting",
            "alerting: {alertmanagers: [{static_configs: [{targets: ['127.0.0.1:1']}]}]}\n",
        ),
    ] {
        let cfg = dir.path().join(format!("{field}.yml"));
        std::fs::write(&cfg, yaml)?;
        let out = Command::new(bin())
            .args(["run", "--agent", "--config"])
            .arg(&cfg)
            .arg("--data-dir")
            .arg(dir.path().join("d"))
            .output()?;
        assert_eq!(out.status.code(), Some(2), "{field}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("{field}: not allowed in agent mode")),
            "{field}: {err}"
        );
    }
    Ok(())
}
