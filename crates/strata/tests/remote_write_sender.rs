//! The remote-write sender: what Strata stores — pushed or scraped — reaches
//! a real Prometheus (its remote-write receiver), with the external labels
//! and `write_relabel_configs` applied.

mod support;

use std::time::{Duration, Instant};
use support::{Prometheus, Server, TestResult, now_ms, series};

#[test]
fn stored_samples_are_forwarded_to_prometheus() -> TestResult {
    let dir = tempfile::tempdir()?;
    let Some(prom) = Prometheus::start(dir.path(), "", &["--web.enable-remote-write-receiver"])?
    else {
        return Ok(());
    };
    let cfg = dir.path().join("strata.yml");
    std::fs::write(
        &cfg,
        format!(
            concat!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  external_labels: {{replica: s1}}\n",
                "scrape_configs:\n- job_name: self\n  static_configs: [{{targets: ['{}']}}]\n",
                "remote_write:\n",
                "- url: http://127.0.0.1:{}/api/v1/write\n",
                "  name: prom\n",
                "  queue_config: {{batch_send_deadline: 100ms}}\n",
                "  write_relabel_configs:\n",
                "  - {{source_labels: [__name__], regex: 'secret_.*', action: drop}}\n",
            ),
            "127.0.0.1:0", prom.port
        ),
    )?;
    let s = Server::start(
        &dir.path().join("strata"),
        &["--config", cfg.to_str().unwrap_or_default()],
    );
    let now = now_ms();
    let pushed: Vec<(i64, f64)> = (0..50)
        .map(|i| (now - 50_000 + i * 1000, i as f64))
        .collect();
    let (code, body) = s.write(&[
        series("fwd_metric", &[("job", "app")], &pushed),
        series("secret_metric", &[("job", "app")], &[(now - 1000, 1.0)]),
    ]);
    assert_eq!(code, 204, "{body}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = prom.query("count_over_time(fwd_metric[5m])")?;
        if r.first().and_then(|x| x["value"][1].as_str()) == Some("50") {
            assert_eq!(r[0]["metric"]["replica"], "s1", "{r:?}");
            break;
        }
        assert!(Instant::now() < deadline, "not forwarded: {r:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let sum = prom.query("sum_over_time(fwd_metric[5m])")?;
    let want: f64 = pushed.iter().map(|(_, v)| v).sum();
    assert_eq!(
        sum.first().and_then(|x| x["value"][1].as_str()),
        Some(want.to_string().as_str())
    );
    assert!(
        prom.query("secret_metric")?.is_empty(),
        "write relabeling did not drop it"
    );
    // Scraped samples take the same path (the target is down: port 0, but
    // its `up` series is stored, so it is forwarded).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = prom.query("up{job=\"self\"}")?;
        if !r.is_empty() {
            assert_eq!(r[0]["value"][1], "0");
            break;
        }
        assert!(Instant::now() < deadline, "scrape report not forwarded");
        std::thread::sleep(Duration::from_millis(200));
    }
    let body = s.client.get(s.url("/metrics")).send()?.text()?;
    assert!(
        body.lines()
            .any(|l| l.starts_with("strata_remote_storage_samples_total{") && !l.ends_with(" 0")),
        "{body}"
    );
    Ok(())
}
