//! Rule evaluation through the binary: recording rules stored through the
//! ingester, the alert state machine (pending → firing after `for`,
//! resolved when the condition clears), `ALERTS`, `/api/v1/rules` and
//! `/api/v1/alerts` in Prometheus' shapes, and a reload.

mod support;

use std::time::{Duration, Instant};
use support::{Server, TestResult, now_ms, series};

const RULES: &str = r#"
groups:
  - name: fixture
    interval: 500ms
    rules:
      - record: job:fixture_metric:sum
        expr: sum by (job) (fixture_metric)
      - alert: FixtureHigh
        expr: job:fixture_metric:sum > 5
        for: 2s
        labels:
          severity: page
        annotations:
          summary: "fixture high on {{ $labels.job }}"
          description: "{{ $value }} over {{ printf \"%.1f\" 5.0 }}"
"#;

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn push(s: &Server, v: f64) {
    let (code, body) = s.write(&[series(
        "fixture_metric",
        &[("job", "app"), ("instance", "a")],
        &[(now_ms(), v)],
    )]);
    assert_eq!(code, 204, "{body}");
}

#[test]
fn recording_and_alerting_rules_evaluate_and_show_in_the_api() -> TestResult {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("rules.yml"), RULES)?;
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        "global: {evaluation_interval: 1s, external_labels: {cluster: c1}}\nrule_files: ['rules.yml']\n",
    )?;
    let s = Server::start(
        &dir.path().join("data"),
        &[
            "--config",
            cfg.to_str().unwrap_or_default(),
            "--web.enable-lifecycle",
        ],
    );
    push(&s, 10.0);
    let query = |q: &str| -> serde_json::Value {
        let (_, v) = s.get_json(&format!("/api/v1/query?query={q}"), None);
        v["data"]["result"].clone()
    };
    wait_until("the recorded series", || {
        query("job:fixture_metric:sum")
            .get(0)
            .is_some_and(|r| r["value"][1] == "10")
    });
    let rec = query("job:fixture_metric:sum");
    assert_eq!(
        rec[0]["metric"],
        serde_json::json!({"__name__": "job:fixture_metric:sum", "job": "app"})
    );

    // Pending first, firing once `for` (2s) has passed.
    wait_until("a pending alert", || {
        let (_, v) = s.get_json("/api/v1/alerts", None);
        v["data"]["alerts"]
            .get(0)
            .is_some_and(|a| a["state"] == "pending")
    });
    wait_until("the alert firing", || {
        let (_, v) = s.get_json("/api/v1/alerts", None);
        v["data"]["alerts"]
            .get(0)
            .is_some_and(|a| a["state"] == "firing")
    });
    let (_, v) = s.get_json("/api/v1/alerts", None);
    let a = &v["data"]["alerts"][0];
    assert_eq!(
        a["labels"],
        serde_json::json!({"alertname": "FixtureHigh", "job": "app", "severity": "page"})
    );
    assert_eq!(a["annotations"]["summary"], "fixture high on app");
    assert_eq!(a["annotations"]["description"], "10 over 5.0");
    assert_eq!(a["value"], "1e+01");
    assert!(a["activeAt"].as_str().is_some_and(|t| t.ends_with('Z')));
    let alerts = query("ALERTS");
    assert_eq!(alerts[0]["metric"]["alertstate"], "firing", "{alerts:?}");
    assert!(
        !query("ALERTS_FOR_STATE")
            .as_array()
            .is_some_and(|a| a.is_empty())
    );

    let (code, v) = s.get_json("/api/v1/rules", None);
    assert_eq!(code, 200);
    let g = &v["data"]["groups"][0];
    assert_eq!(g["name"], "fixture");
    assert!(g["file"].as_str().is_some_and(|f| f.ends_with("rules.yml")));
    assert_eq!(g["interval"], 0.5);
    let rules = g["rules"].as_array().cloned().unwrap_or_default();
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0]["type"], "recording");
    assert_eq!(rules[0]["health"], "ok");
    assert_eq!(rules[1]["type"], "alerting");
    assert_eq!(rules[1]["state"], "firing");
    assert_eq!(rules[1]["duration"], 2.0);
    assert_eq!(rules[1]["alerts"].as_array().map(Vec::len), Some(1));
    // Filters.
    let (_, v) = s.get_json("/api/v1/rules?type=record", None);
    assert_eq!(
        v["data"]["groups"][0]["rules"].as_array().map(Vec::len),
        Some(1)
    );
    let (_, v) = s.get_json("/api/v1/rules?type=alert&exclude_alerts=true", None);
    assert!(v["data"]["groups"][0]["rules"][0].get("alerts").is_none());
    let (_, v) = s.get_json("/api/v1/rules?match[]={severity=\"page\"}", None);
    assert_eq!(
        v["data"]["groups"][0]["rules"].as_array().map(Vec::len),
        Some(1)
    );
    let (code, _) = s.get_json("/api/v1/rules?type=bogus", None);
    assert_eq!(code, 400);

    // The condition clears: the alert resolves and ALERTS goes stale.
    push(&s, 1.0);
    wait_until("the alert resolved", || {
        let (_, v) = s.get_json("/api/v1/alerts", None);
        v["data"]["alerts"].as_array().is_some_and(|a| a.is_empty())
    });
    wait_until("ALERTS gone", || {
        query("ALERTS").as_array().is_some_and(|a| a.is_empty())
    });

    // A reload without the rule files removes the groups.
    std::fs::write(&cfg, "global: {evaluation_interval: 1s}\n")?;
    let r = s.client.post(s.url("/-/reload")).send()?;
    assert_eq!(r.status().as_u16(), 200);
    let (_, v) = s.get_json("/api/v1/rules", None);
    assert_eq!(v["data"]["groups"], serde_json::json!([]));
    let metrics = s.client.get(s.url("/metrics")).send()?.text()?;
    assert!(
        !metrics.contains("rule_group=\""),
        "a removed group's series stay: {metrics}"
    );
    Ok(())
}

fn rfc3339_ms(s: &str) -> i64 {
    // "2026-12-02T06:57:40.123456789Z" → ms, without a date crate: the
    // test only compares instants of one day.
    let t = s
        .split('T')
        .nth(1)
        .unwrap_or_default()
        .trim_end_matches('Z');
    let mut parts = t.split(':');
    let h: f64 = parts.next().and_then(|x| x.parse().ok()).unwrap_or(0.0);
    let m: f64 = parts.next().and_then(|x| x.parse().ok()).unwrap_or(0.0);
    let sec: f64 = parts.next().and_then(|x| x.parse().ok()).unwrap_or(0.0);
    ((h * 3600.0 + m * 60.0 + sec) * 1000.0) as i64
}

fn day_ms(t: i64) -> i64 {
    t.rem_euclid(86_400_000)
}

#[test]
fn a_pending_alert_keeps_its_for_across_a_kill_and_restart() -> TestResult {
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n- name: g\n  interval: 300ms\n  rules:\n  - alert: SlowBurn\n    expr: burn > 5\n    for: 1h\n",
    )?;
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(&cfg, "rule_files: ['rules.yml']\n")?;
    let args = [
        "--config",
        cfg.to_str().unwrap_or_default(),
        "--rules.alert.for-grace-period",
        "1s",
    ];
    let data = dir.path().join("data");
    let s = Server::start(&data, &args);
    let (code, body) = s.write(&[series("burn", &[], &[(now_ms(), 10.0)])]);
    assert_eq!(code, 204, "{body}");
    let active_at = |s: &Server| -> Option<String> {
        let (_, v) = s.get_json("/api/v1/alerts", None);
        v["data"]["alerts"][0]["activeAt"]
            .as_str()
            .map(str::to_string)
    };
    wait_until("a pending alert", || active_at(&s).is_some());
    let first = active_at(&s).unwrap_or_default();
    // ALERTS_FOR_STATE has been written a few times before the kill.
    std::thread::sleep(Duration::from_secs(2));
    s.kill9();
    let restarted_at = now_ms();
    let s = Server::start(&data, &args);
    wait_until("the alert after the restart", || active_at(&s).is_some());
    // Give the first evaluation's restore a moment to apply.
    std::thread::sleep(Duration::from_millis(800));
    let restored = active_at(&s).unwrap_or_default();
    // Restored: the original activeAt shifted by the downtime, so earlier
    // than the restart (a fresh alert would be active from after it).
    let (orig, now) = (rfc3339_ms(&first), rfc3339_ms(&restored));
    assert!(
        now < day_ms(restarted_at) && now > orig,
        "activeAt {first} → {restored}, restart at {restarted_at}"
    );
    Ok(())
}
