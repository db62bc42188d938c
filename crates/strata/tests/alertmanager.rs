//! Alerts reach a real Alertmanager (Debian's `prometheus-alertmanager`):
//! an alert that fires in Strata appears in Alertmanager's `/api/v2/alerts`
//! with its labels (external labels added), survives an Alertmanager
//! restart with empty storage (Strata resends what still fires), and
//! resolves there when the condition clears.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{Server, TestResult, free_port, http_client, now_ms, series};

struct Alertmanager {
    child: Child,
    port: u16,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_alertmanager(
    dir: &std::path::Path,
    port: u16,
) -> Result<Alertmanager, Box<dyn std::error::Error>> {
    let cfg = dir.join("alertmanager.yml");
    std::fs::write(
        &cfg,
        "route: {receiver: blackhole, group_wait: 1s}\nreceivers: [{name: blackhole}]\n",
    )?;
    let child = Command::new("prometheus-alertmanager")
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!(
            "--storage.path={}",
            dir.join(format!("am-{}", now_ms())).display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .arg("--log.level=warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let am = Alertmanager { child, port };
    let client = http_client();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if client
            .get(format!("http://127.0.0.1:{port}/-/ready"))
            .send()
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(am);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err("alertmanager did not become ready".into())
}

fn am_alerts(port: u16) -> Vec<serde_json::Value> {
    http_client()
        .get(format!("http://127.0.0.1:{port}/api/v2/alerts"))
        .send()
        .and_then(|r| r.json::<serde_json::Value>())
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(40);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn alerts_fire_survive_a_restart_and_resolve_in_alertmanager() -> TestResult {
    if !support::peer_installed("prometheus-alertmanager")? {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let port = free_port();
    let am = start_alertmanager(dir.path(), port)?;
    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n- name: g\n  interval: 500ms\n  rules:\n  - alert: QueueStuck\n    expr: queue_depth > 5\n    labels: {severity: page}\n    annotations: {summary: 'depth {{ $value }}'}\n",
    )?;
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global: {{external_labels: {{cluster: c1}}}}\nrule_files: [rules.yml]\nalerting:\n  alertmanagers:\n  - static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
        ),
    )?;
    let s = Server::start(
        &dir.path().join("data"),
        &[
            "--config",
            cfg.to_str().unwrap_or_default(),
            "--rules.alert.resend-delay",
            "1s",
        ],
    );
    let push = |v: f64| {
        let (code, body) = s.write(&[series(
            "queue_depth",
            &[("queue", "orders")],
            &[(now_ms(), v)],
        )]);
        assert_eq!(code, 204, "{body}");
    };
    push(10.0);
    let firing = |port: u16| {
        am_alerts(port)
            .into_iter()
            .find(|a| a["labels"]["alertname"] == "QueueStuck" && a["status"]["state"] == "active")
    };
    wait_until("the alert in Alertmanager", || firing(port).is_some());
    let a = firing(port).unwrap_or_default();
    assert_eq!(a["labels"]["cluster"], "c1", "{a}");
    assert_eq!(a["labels"]["severity"], "page");
    assert_eq!(a["labels"]["queue"], "orders");
    assert!(
        a["generatorURL"]
            .as_str()
            .is_some_and(|u| u.contains("/graph?g0.expr=")),
        "{a}"
    );
    let metrics = s.client.get(s.url("/metrics")).send()?.text()?;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("strata_notifications_sent_total{") && !l.ends_with(" 0")),
        "{metrics}"
    );

    // Alertmanager restarts with empty storage: the still-firing alert is
    // sent again.
    drop(am);
    let am = start_alertmanager(dir.path(), port)?;
    wait_until("the alert back after the restart", || {
        firing(am.port).is_some()
    });

    // The condition clears: the alert resolves in Alertmanager.
    push(1.0);
    wait_until("the alert resolved", || firing(am.port).is_none());
    Ok(())
}
