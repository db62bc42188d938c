//! Scraping against real components and bad targets: a real node_exporter
//! scraped by Strata and by a real Prometheus, one prometheus.yml with every
//! relabel action loaded by both, the remote-write sender into
//! VictoriaMetrics, and targets that return garbage, too much, too slowly
//! or new series every scrape.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{Prometheus, Server, TestResult, free_port, serve};

fn query(s: &Server, q: &str) -> Vec<serde_json::Value> {
    s.client
        .get(s.url("/api/v1/query"))
        .query(&[("query", q)])
        .send()
        .and_then(|r| r.json::<serde_json::Value>())
        .map(|v| v["data"]["result"].as_array().cloned().unwrap_or_default())
        .unwrap_or_default()
}

fn label_sets(results: &[serde_json::Value]) -> Vec<String> {
    let mut v: Vec<String> = results.iter().map(|r| r["metric"].to_string()).collect();
    v.sort();
    v
}

fn wait<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> Result<T, String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f() {
            return Ok(v);
        }
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn require(bin: &str) -> Result<bool, Box<dyn std::error::Error>> {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {bin}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok && std::env::var("STRATA_REQUIRE_PEERS").is_ok() {
        return Err(format!("{bin} is not installed (scripts/test.sh installs it)").into());
    }
    if !ok {
        eprintln!("SKIPPED: {bin} not installed; run ./scripts/test.sh to install it");
    }
    Ok(ok)
}

#[test]
fn a_real_node_exporter_gives_the_same_series_as_in_prometheus() -> TestResult {
    if !require("prometheus-node-exporter")? {
        return Ok(());
    }
    let port = free_port();
    let _exporter = Killed(
        Command::new("prometheus-node-exporter")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let dir = tempfile::tempdir()?;
    let job = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n- job_name: node\n  static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
    );
    let cfg = dir.path().join("strata.yml");
    std::fs::write(&cfg, &job)?;
    let s = Server::start(
        &dir.path().join("strata"),
        &["--config", cfg.to_str().unwrap_or_default()],
    );
    let Some(prom) = Prometheus::start(dir.path(), &job, &[])? else {
        return Ok(());
    };
    // Series whose label sets do not change from one scrape to the next.
    let q = r#"{job="node",__name__=~"node_(cpu_seconds_total|filesystem_size_bytes|network_receive_bytes_total|exporter_build_info|uname_info|memory_MemTotal_bytes|boot_time_seconds)"}"#;
    let from_prom = wait("prometheus to scrape node_exporter", || {
        let r = prom.query(q).ok()?;
        (r.len() > 5).then_some(r)
    })?;
    let from_strata = wait("strata to scrape node_exporter", || {
        let r = query(&s, q);
        (r.len() >= from_prom.len()).then_some(r)
    })?;
    assert_eq!(label_sets(&from_strata), label_sets(&from_prom));
    let up = query(&s, "up{job=\"node\"}");
    assert_eq!(up.first().map(|r| r["value"][1].clone()), Some("1".into()));
    Ok(())
}

#[test]
fn every_relabel_action_gives_prometheus_target_labels() -> TestResult {
    let dir = tempfile::tempdir()?;
    let port = serve(|_, _| {
        (
            "text/plain; version=0.0.4".into(),
            b"m 1\n".to_vec(),
            Duration::ZERO,
        )
    })?;
    let rules = concat!(
        "  relabel_configs:\n",
        "  - {source_labels: [__address__], regex: '([^:]+):.*', target_label: host, replacement: '${1}', action: replace}\n",
        "  - {source_labels: [env], regex: 'drop-me', action: drop}\n",
        "  - {source_labels: [env], regex: '.+', action: keep}\n",
        "  - {source_labels: [team], target_label: owner, action: keepequal}\n",
        "  - {source_labels: [zone], target_label: region, action: dropequal}\n",
        "  - {source_labels: [__address__], modulus: 8, target_label: shard, action: hashmod}\n",
        "  - {regex: 'meta_(.+)', replacement: 'copied_$1', action: labelmap}\n",
        "  - {regex: 'junk.*', action: labeldrop}\n",
        "  - {regex: '__.*|host|env|team|owner|zone|region|shard|copied_.*|meta_.*|job|instance|Mixed', action: labelkeep}\n",
        "  - {source_labels: [Mixed], target_label: lower, action: lowercase}\n",
        "  - {source_labels: [Mixed], target_label: upper, action: uppercase}\n",
    );
    let groups = [
        (
            "a",
            "env: prod, team: x, owner: x, zone: z1, region: r1, meta_k: v1, junk1: j, Mixed: AbC",
        ),
        ("b", "env: drop-me, team: x, owner: x"),
        ("c", "team: x, owner: x"),
        ("d", "env: prod, team: x, owner: y"),
        ("e", "env: prod, team: x, owner: x, zone: z1, region: z1"),
        ("f", "env: dev, team: q, owner: q, extra: gone, Mixed: ÄbÇ"),
    ];
    let mut yaml = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n- job_name: relabel\n{rules}  static_configs:\n"
    );
    for (i, (_, labels)) in groups.iter().enumerate() {
        yaml.push_str(&format!(
            "  - {{targets: ['127.0.0.{}:{port}'], labels: {{{labels}}}}}\n",
            i + 1
        ));
    }
    let cfg = dir.path().join("strata.yml");
    std::fs::write(&cfg, &yaml)?;
    let s = Server::start(
        &dir.path().join("strata"),
        &["--config", cfg.to_str().unwrap_or_default()],
    );
    let Some(prom) = Prometheus::start(dir.path(), &yaml, &[])? else {
        return Ok(());
    };
    let targets = |json: serde_json::Value| -> (Vec<String>, u64) {
        let mut labels: Vec<String> = json["data"]["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|t| t["labels"].to_string())
            .collect();
        labels.sort();
        let dropped = json["data"]["droppedTargets"]
            .as_array()
            .map(|a| a.len() as u64)
            .unwrap_or(0);
        (labels, dropped)
    };
    let from_prom = wait("prometheus targets", || {
        let v: serde_json::Value = prom
            .client
            .get(prom.url("/api/v1/targets"))
            .send()
            .ok()?
            .json()
            .ok()?;
        let t = targets(v);
        (!t.0.is_empty()).then_some(t)
    })?;
    let (_, v) = s.get_json("/api/v1/targets", None);
    let from_strata = targets(v);
    assert_eq!(from_strata, from_prom);
    // Only "a" survives: b dropped, c lacks env, d's team and owner differ,
    // e's zone equals its region, and f's empty zone equals its empty region.
    assert_eq!(from_strata.0.len(), 1, "{from_strata:?}");
    assert_eq!(from_strata.1, 5);
    Ok(())
}

#[test]
fn remote_write_into_victoriametrics() -> TestResult {
    if !require("victoria-metrics")? {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let vm_port = free_port();
    let _vm = Killed(
        Command::new("victoria-metrics")
            .arg(format!(
                "-storageDataPath={}",
                dir.path().join("vm").display()
            ))
            .arg(format!("-httpListenAddr=127.0.0.1:{vm_port}"))
            .arg("-search.latencyOffset=0s")
            .arg("-loggerLevel=ERROR")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let client = support::http_client();
    wait("victoriametrics", || {
        client
            .get(format!("http://127.0.0.1:{vm_port}/health"))
            .send()
            .ok()
            .filter(|r| r.status().is_success())
    })?;
    let cfg = dir.path().join("strata.yml");
    std::fs::write(
        &cfg,
        format!(
            "global: {{external_labels: {{from: strata}}}}\nremote_write:\n- url: http://127.0.0.1:{vm_port}/api/v1/write\n  queue_config: {{batch_send_deadline: 100ms}}\n"
        ),
    )?;
    let s = Server::start(
        &dir.path().join("strata"),
        &["--config", cfg.to_str().unwrap_or_default()],
    );
    let now = support::now_ms();
    let pushed: Vec<(i64, f64)> = (0..30)
        .map(|i| (now - 30_000 + i * 1000, i as f64))
        .collect();
    let (code, body) = s.write(&[support::series("to_vm", &[("job", "x")], &pushed)]);
    assert_eq!(code, 204, "{body}");
    let got = wait("samples in victoriametrics", || {
        let v: serde_json::Value = client
            .get(format!("http://127.0.0.1:{vm_port}/api/v1/query"))
            .query(&[("query", "count_over_time(to_vm[5m])")])
            .send()
            .ok()?
            .json()
            .ok()?;
        let r = v["data"]["result"][0].clone();
        (r["value"][1] == "30").then_some(r)
    })?;
    assert_eq!(got["metric"]["from"], "strata");
    Ok(())
}

#[test]
fn bad_targets_fail_their_scrape_and_say_why() -> TestResult {
    let dir = tempfile::tempdir()?;
    let port = serve(|path, n| {
        let text = "text/plain; version=0.0.4".to_string();
        match path {
            "/garbage" => (
                text,
                b"this is { not an exposition\n".to_vec(),
                Duration::ZERO,
            ),
            "/slow" => (text, b"m 1\n".to_vec(), Duration::from_secs(3)),
            // About 2 MiB, over the job's 1 MiB body_size_limit.
            "/huge" => (
                text,
                "big_metric 1\n".repeat(170_000).into_bytes(),
                Duration::ZERO,
            ),
            // New series every scrape, more than sample_limit of them.
            "/churn" => {
                let body: String = (0..50)
                    .map(|i| format!("churn{{n=\"{n}-{i}\"}} 1\n"))
                    .collect();
                (text, body.into_bytes(), Duration::ZERO)
            }
            _ => (text, b"ok 1\n".to_vec(), Duration::ZERO),
        }
    })?;
    let target = |path: &str, extra: &str| {
        format!(
            "- job_name: '{}'\n  metrics_path: {path}\n{extra}  static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n",
            path.trim_start_matches('/')
        )
    };
    let yaml = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n{}{}{}{}{}",
        target("/garbage", ""),
        target("/slow", ""),
        target("/huge", "  body_size_limit: 1MB\n"),
        target("/churn", "  sample_limit: 20\n"),
        target("/fine", ""),
    );
    let cfg = dir.path().join("strata.yml");
    std::fs::write(&cfg, &yaml)?;
    let s = Server::start(
        &dir.path().join("strata"),
        &["--config", cfg.to_str().unwrap_or_default()],
    );
    let errors = wait("every bad target scraped once", || {
        let (_, v) = s.get_json("/api/v1/targets?state=active", None);
        let targets = v["data"]["activeTargets"].as_array()?.clone();
        let all_scraped = targets.len() == 5 && targets.iter().all(|t| t["health"] != "unknown");
        all_scraped.then(|| {
            targets
                .iter()
                .map(|t| {
                    (
                        t["scrapePool"].as_str().unwrap_or_default().to_string(),
                        (
                            t["health"].as_str().unwrap_or_default().to_string(),
                            t["lastError"].as_str().unwrap_or_default().to_string(),
                        ),
                    )
                })
                .collect::<std::collections::BTreeMap<_, _>>()
        })
    })?;
    assert_eq!(errors["fine"], ("up".to_string(), String::new()));
    assert_eq!(errors["garbage"].0, "down");
    assert!(
        errors["garbage"].1.contains("parsing the scrape"),
        "{errors:?}"
    );
    assert_eq!(errors["slow"].0, "down");
    assert!(
        errors["slow"].1.contains("context deadline exceeded"),
        "{errors:?}"
    );
    assert_eq!(errors["huge"].0, "down");
    assert!(errors["huge"].1.contains("body size limit"), "{errors:?}");
    assert_eq!(errors["churn"].0, "down");
    assert_eq!(errors["churn"].1, "sample limit exceeded");
    // Nothing of a failed scrape is stored; its `up` is 0.
    assert!(query(&s, "churn").is_empty());
    assert!(query(&s, "big_metric").is_empty());
    let up = query(&s, "up{job=\"churn\"}");
    assert_eq!(up.first().map(|r| r["value"][1].clone()), Some("0".into()));
    Ok(())
}
