//! Scraping with the real binary: the default self-scrape, a prometheus.yml
//! with file discovery and relabeling, staleness, reloads, `strata check
//! config`, and the same targets scraped by a real Prometheus.

mod support;

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{Prometheus, Server, TestResult, bin};

/// A loopback target answering every request with the current exposition
/// (text format 0.0.4).
struct Exporter {
    port: u16,
    body: Arc<Mutex<String>>,
}

impl Exporter {
    fn start(body: &str) -> std::io::Result<Exporter> {
        let body = Arc::new(Mutex::new(body.to_string()));
        let shared = body.clone();
        let port = support::serve(move |_, _| {
            let text = shared.lock().map(|b| b.clone()).unwrap_or_default();
            (
                "text/plain; version=0.0.4".to_string(),
                text.into_bytes(),
                Duration::ZERO,
            )
        })?;
        Ok(Exporter { port, body })
    }

    fn set(&self, text: &str) {
        if let Ok(mut b) = self.body.lock() {
            *b = text.to_string();
        }
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

fn query(s: &Server, q: &str) -> Vec<serde_json::Value> {
    let r = s
        .client
        .get(s.url("/api/v1/query"))
        .query(&[("query", q)])
        .send()
        .and_then(|r| r.json::<serde_json::Value>());
    match r {
        Ok(v) => v["data"]["result"].as_array().cloned().unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}

/// Polls until `check` holds on the query's result (or fails after 30 s).
fn wait_for(
    s: &Server,
    q: &str,
    what: &str,
    check: impl Fn(&[serde_json::Value]) -> bool,
) -> Result<Vec<serde_json::Value>, String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = query(s, q);
        if check(&r) {
            return Ok(r);
        }
        if Instant::now() > deadline {
            return Err(format!("{what}: {q} gave {r:?}"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn value(r: &serde_json::Value) -> f64 {
    r["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

#[test]
fn without_a_config_strata_scrapes_itself() -> TestResult {
    let dir = tempfile::tempdir()?;
    let s = Server::start(dir.path(), &[]);
    let (_, targets) = s.get_json("/api/v1/targets", None);
    let active = targets["data"]["activeTargets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(active.len(), 1, "{targets}");
    assert_eq!(active[0]["scrapePool"], "strata");
    assert_eq!(active[0]["scrapeInterval"], "15s");
    assert_eq!(
        active[0]["scrapeUrl"],
        format!("http://127.0.0.1:{}/metrics", s.port)
    );
    // The first scrape comes within one interval (15 s) of the start.
    let up = wait_for(&s, "up", "self-scrape", |r| r.len() == 1)?;
    assert_eq!(up[0]["metric"]["job"], "strata");
    assert_eq!(value(&up[0]), 1.0);
    let own = query(&s, "strata_ready{job=\"strata\"}");
    assert_eq!(own.len(), 1, "{own:?}");
    Ok(())
}

#[test]
fn scrapes_file_discovered_targets_with_relabeling_staleness_and_reloads() -> TestResult {
    let dir = tempfile::tempdir()?;
    let exporter = Exporter::start(
        "# TYPE app_requests_total counter\n\
         app_requests_total{path=\"/a\",job=\"inner\"} 10\n\
         app_requests_total{path=\"/b\"} 20\n\
         app_debug_info 1\n\
         app_gone 5\n",
    )?;
    let sd = dir.path().join("targets.json");
    std::fs::write(
        &sd,
        format!(
            r#"[{{"targets": ["{}"], "labels": {{"team": "core"}}}}]"#,
            exporter.addr()
        ),
    )?;
    let cfg = dir.path().join("prometheus.yml");
    let yaml = format!(
        concat!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  external_labels: {{cluster: test}}\n",
            "scrape_configs:\n",
            "- job_name: app\n",
            "  file_sd_configs: [{{files: ['{}']}}]\n",
            "  relabel_configs:\n",
            "  - {{source_labels: [team], target_label: squad}}\n",
            "  - {{regex: team, action: labeldrop}}\n",
            "  metric_relabel_configs:\n",
            "  - {{source_labels: [__name__], regex: 'app_debug_.*', action: drop}}\n",
        ),
        sd.display()
    );
    std::fs::write(&cfg, &yaml)?;
    let data = dir.path().join("data");
    let s = Server::start(
        &data,
        &[
            "--config",
            cfg.to_str().unwrap_or_default(),
            "--web.enable-lifecycle",
        ],
    );
    let series = wait_for(&s, "app_requests_total", "scraped series", |r| r.len() == 2)?;
    let mut got: Vec<String> = series.iter().map(|r| r["metric"].to_string()).collect();
    got.sort();
    let inst = exporter.addr();
    assert_eq!(
        got,
        vec![
            format!(
                r#"{{"__name__":"app_requests_total","exported_job":"inner","instance":"{inst}","job":"app","path":"/a","squad":"core"}}"#
            ),
            format!(
                r#"{{"__name__":"app_requests_total","instance":"{inst}","job":"app","path":"/b","squad":"core"}}"#
            ),
        ]
    );
    assert!(
        query(&s, "app_debug_info").is_empty(),
        "metric relabeling kept it"
    );
    let up = wait_for(&s, "up{job=\"app\"}", "up", |r| r.len() == 1)?;
    assert_eq!(value(&up[0]), 1.0);
    let scraped = wait_for(&s, "scrape_samples_scraped{job=\"app\"}", "report", |r| {
        r.len() == 1
    })?;
    assert_eq!(value(&scraped[0]), 4.0);
    let post = query(&s, "scrape_samples_post_metric_relabeling{job=\"app\"}");
    assert_eq!(value(&post[0]), 3.0);

    // A series the target stops exposing is marked stale at the next scrape.
    assert_eq!(query(&s, "app_gone").len(), 1);
    exporter.set("app_requests_total{path=\"/a\"} 11\napp_requests_total{path=\"/b\"} 21\n");
    wait_for(&s, "app_gone", "staleness", |r| r.is_empty())?;

    // An invalid config on SIGHUP is refused; the old one keeps scraping.
    std::fs::write(
        &cfg,
        "scrape_configs:\n- job_name: app\n  scrape_intervall: 1s\n",
    )?;
    Command::new("kill")
        .args(["-HUP", &s.child.id().to_string()])
        .status()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let body = s.client.get(s.url("/metrics")).send()?.text()?;
        if body.contains("strata_config_last_reload_successful 0") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "reload failure not reported:\n{body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let r = s.client.post(s.url("/-/reload")).send()?;
    assert_eq!(r.status().as_u16(), 500);
    let text = r.text()?;
    assert!(
        text.contains("scrape_intervall") && text.contains(":3:"),
        "{text}"
    );

    // A valid reload keeps the unchanged job running and adds a new one.
    std::fs::write(
        &cfg,
        format!(
            "{yaml}- job_name: second\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  static_configs: [{{targets: ['{}']}}]\n",
            exporter.addr()
        ),
    )?;
    let r = s.client.post(s.url("/-/reload")).send()?;
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().unwrap_or_default());
    wait_for(&s, "up{job=\"second\"}", "new job", |r| r.len() == 1)?;
    let (_, status) = s.get_json("/api/v1/status/config", None);
    assert!(
        status["data"]["yaml"]
            .as_str()
            .is_some_and(|y| y.contains("job_name: second")),
        "{status}"
    );

    // Emptying the discovery file removes the target: its series go stale.
    std::fs::write(&sd, "[]")?;
    wait_for(&s, "up{job=\"app\"}", "target gone", |r| r.is_empty())?;
    wait_for(
        &s,
        "app_requests_total{job=\"app\"}",
        "target series stale",
        |r| r.is_empty(),
    )?;
    Ok(())
}

#[test]
fn an_invalid_config_exits_2_and_check_config_names_the_field() -> TestResult {
    let dir = tempfile::tempdir()?;
    let bad = dir.path().join("bad.yml");
    std::fs::write(&bad, "global:\n  scrape_interval: 5x\n")?;
    let out = Command::new(bin())
        .args(["run", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--config")
        .arg(&bad)
        .output()?;
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.yml:2") && err.contains("scrape_interval"),
        "{err}"
    );

    let good = dir.path().join("good.yml");
    std::fs::write(
        &good,
        "scrape_configs:\n- job_name: a\n  static_configs: [{targets: ['h:1']}]\n",
    )?;
    let ok = Command::new(bin())
        .args(["check", "config"])
        .arg(&good)
        .output()?;
    assert!(ok.status.success());
    assert!(String::from_utf8_lossy(&ok.stdout).contains("SUCCESS"));
    let failed = Command::new(bin())
        .args(["check", "config"])
        .arg(&bad)
        .output()?;
    assert_eq!(failed.status.code(), Some(1));
    let text = String::from_utf8_lossy(&failed.stdout);
    assert!(
        text.contains("FAILED") && text.contains("scrape_interval"),
        "{text}"
    );
    Ok(())
}

/// Strata and a real Prometheus scrape the same target with the same job
/// config: they store the same series with the same values.
#[test]
fn stores_what_prometheus_stores_from_the_same_target() -> TestResult {
    let dir = tempfile::tempdir()?;
    let exporter = Exporter::start(concat!(
        "# HELP http_requests_total Requests.\n",
        "# TYPE http_requests_total counter\n",
        "http_requests_total{code=\"200\",method=\"get\"} 1027 \n",
        "http_requests_total{code=\"400\",method=\"post\",instance=\"x\"} 3\n",
        "# TYPE rpc_duration_seconds summary\n",
        "rpc_duration_seconds{quantile=\"0.5\"} 4.773e-05\n",
        "rpc_duration_seconds_sum 1.7560473e+07\n",
        "rpc_duration_seconds_count 2693\n",
        "# TYPE h histogram\n",
        "h_bucket{le=\"0.1\"} 5\nh_bucket{le=\"+Inf\"} 9\nh_sum 3.5\nh_count 9\n",
        "weird{label=\"a\\\\b\\\"c\\nd\"} -Inf\n",
        "nan_value NaN\n",
        "with_ts 7 1700000000000\n",
    ))?;
    let job = format!(
        "scrape_configs:\n- job_name: same\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  static_configs: [{{targets: ['{}'], labels: {{env: ci}}}}]\n  metric_relabel_configs:\n  - {{source_labels: [method], target_label: verb}}\n",
        exporter.addr()
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
    let q = "{job=\"same\",__name__!~\"scrape_.*|up|with_ts\"}";
    let wait_prom = |want: usize| -> Result<Vec<serde_json::Value>, Box<dyn std::error::Error>> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let r = prom.query(q)?;
            if r.len() >= want || Instant::now() > deadline {
                return Ok(r);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let from_prom = wait_prom(10)?;
    let from_strata = wait_for(&s, q, "strata series", |r| r.len() >= 10)?;
    let key = |v: &[serde_json::Value]| {
        let mut out: Vec<(String, String)> = v
            .iter()
            .map(|r| {
                (
                    r["metric"].to_string(),
                    r["value"][1].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        out.sort();
        out
    };
    assert_eq!(key(&from_strata), key(&from_prom));
    // The same metadata from the exposition's # TYPE / # HELP lines.
    let get = |url: String| -> Result<serde_json::Value, Box<dyn std::error::Error>> {
        Ok(support::http_client().get(url).send()?.json()?)
    };
    let meta_prom = get(prom.url("/api/v1/metadata"))?;
    let meta_strata = get(s.url("/api/v1/metadata"))?;
    assert_eq!(meta_strata["data"], meta_prom["data"], "metadata");
    assert_eq!(
        meta_strata["data"]["http_requests_total"][0]["type"],
        "counter"
    );
    let sort = |v: &serde_json::Value| {
        let mut a: Vec<String> = v["data"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|x| x.to_string())
            .collect();
        a.sort();
        a
    };
    let tm = "/api/v1/targets/metadata?match_target=%7Bjob%3D%22same%22%7D";
    let tm_strata = sort(&get(s.url(tm))?);
    assert!(!tm_strata.is_empty());
    assert_eq!(tm_strata, sort(&get(prom.url(tm))?), "targets metadata");
    let pools = get(s.url("/api/v1/scrape_pools"))?;
    assert_eq!(pools["data"]["scrapePools"], serde_json::json!(["same"]));

    // Both report the same sample counts for the target.
    for m in [
        "scrape_samples_scraped",
        "scrape_samples_post_metric_relabeling",
        "up",
    ] {
        let p = prom.query(&format!("{m}{{job=\"same\"}}"))?;
        let st = query(&s, &format!("{m}{{job=\"same\"}}"));
        assert_eq!(
            p.first().map(value),
            st.first().map(value),
            "{m}: prometheus {p:?} strata {st:?}"
        );
    }
    Ok(())
}
