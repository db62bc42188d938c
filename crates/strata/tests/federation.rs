//! `/federate` against the real binary, and a real Prometheus federating
//! from Strata with `honor_labels: true`.

mod support;

use std::time::{Duration, Instant};
use support::{Prometheus, Server, TestResult, now_ms, series};

#[test]
fn federate_serves_the_newest_sample_of_each_selected_series() -> TestResult {
    let dir = tempfile::tempdir()?;
    let s = Server::start(dir.path(), &[]);
    let now = now_ms();
    let stale = f64::from_bits(strata_model::STALE_NAN_BITS);
    let (code, body) = s.write(&[
        series(
            "fed_b",
            &[("job", "x")],
            &[(now - 60_000, 1.0), (now - 30_000, 2.5)],
        ),
        series(
            "fed_a",
            &[("job", "x"), ("instance", "i1"), ("note", "a\"b\\c\nd")],
            &[(now - 20_000, -3e-7)],
        ),
        series("fed_a", &[("job", "y")], &[(now - 20_000, f64::INFINITY)]),
        // Its newest sample is a stale marker: left out.
        series(
            "fed_gone",
            &[("job", "x")],
            &[(now - 40_000, 1.0), (now - 30_000, stale)],
        ),
        // Newest sample beyond the 5 m lookback: left out.
        series("fed_old", &[("job", "x")], &[(now - 600_000, 1.0)]),
        series("fed.dotted", &[("job", "x")], &[(now - 10_000, 7.0)]),
        series("other", &[("job", "x")], &[(now - 10_000, 7.0)]),
    ]);
    assert_eq!(code, 204, "{body}");

    let get =
        |query: &str, accept: Option<&str>| -> Result<(u16, String, String), reqwest::Error> {
            let mut r = s
                .client
                .get(s.url("/federate"))
                .query(&[("match[]", query)]);
            if let Some(a) = accept {
                r = r.header("Accept", a);
            }
            let r = r.send()?;
            let ct = r
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            Ok((r.status().as_u16(), ct, r.text()?))
        };
    let (code, ct, text) = get(r#"{__name__=~"fed.*"}"#, None)?;
    assert_eq!(code, 200, "{text}");
    assert_eq!(
        ct,
        "text/plain; version=0.0.4; charset=utf-8; escaping=underscores"
    );
    let want = format!(
        "# TYPE fed_dotted untyped\n\
         fed_dotted{{job=\"x\",instance=\"\"}} 7 {t1}\n\
         # TYPE fed_a untyped\n\
         fed_a{{instance=\"i1\",job=\"x\",note=\"a\\\"b\\\\c\\nd\"}} -3e-07 {t2}\n\
         fed_a{{job=\"y\",instance=\"\"}} +Inf {t2}\n\
         # TYPE fed_b untyped\n\
         fed_b{{job=\"x\",instance=\"\"}} 2.5 {t3}\n",
        t1 = now - 10_000,
        t2 = now - 20_000,
        t3 = now - 30_000,
    );
    assert_eq!(text, want);

    // A scraper that allows UTF-8 names gets them quoted, not escaped.
    let (_, ct, text) = get(
        r#"{__name__="fed.dotted"}"#,
        Some("text/plain;version=0.0.4;escaping=allow-utf-8;q=0.3,*/*;q=0.2"),
    )?;
    assert!(ct.ends_with("escaping=allow-utf-8"), "{ct}");
    assert_eq!(
        text,
        format!(
            "# TYPE \"fed.dotted\" untyped\n{{\"fed.dotted\",job=\"x\",instance=\"\"}} 7 {}\n",
            now - 10_000
        )
    );

    // Several match[] are a union; a bad one is a plain-text 400.
    let r = s
        .client
        .get(s.url("/federate"))
        .query(&[("match[]", "fed_b"), ("match[]", "other")])
        .send()?;
    let text = r.text()?;
    assert_eq!(
        text.lines().filter(|l| !l.starts_with('#')).count(),
        2,
        "{text}"
    );
    let (code, _, text) = get("fed_b{", None)?;
    assert_eq!(code, 400, "{text}");
    let (code, _, text) = get("", None)?;
    assert_eq!(code, 400, "{text}");
    Ok(())
}

/// A real Prometheus scrapes Strata's `/federate` and stores the same
/// series with the same values and timestamps.
#[test]
fn prometheus_federates_from_strata() -> TestResult {
    let dir = tempfile::tempdir()?;
    let s = Server::start(&dir.path().join("strata"), &[]);
    let now = now_ms();
    let (code, body) = s.write(&[
        series(
            "fed_metric",
            &[("job", "app"), ("instance", "a:1")],
            &[(now - 5_000, 42.0)],
        ),
        series(
            "fed_metric",
            &[("job", "app"), ("instance", "b:1")],
            &[(now - 4_000, 0.5)],
        ),
    ]);
    assert_eq!(code, 204, "{body}");
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: federate\n    honor_labels: true\n    metrics_path: /federate\n    params:\n      'match[]': ['{{__name__=\"fed_metric\"}}']\n    static_configs:\n      - targets: ['127.0.0.1:{}']\n",
        s.port
    );
    let Some(prom) = Prometheus::start(dir.path(), &config, &[])? else {
        return Ok(());
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let result = loop {
        let r = prom.query("fed_metric")?;
        if r.len() == 2 || Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(result.len(), 2, "{result:?}");
    let mut got: Vec<(String, String, String)> = result
        .iter()
        .map(|r| {
            (
                r["metric"]["instance"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                r["metric"]["job"].as_str().unwrap_or_default().to_string(),
                r["value"][1].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("a:1".into(), "app".into(), "42".into()),
            ("b:1".into(), "app".into(), "0.5".into()),
        ]
    );
    // honor_labels kept the timestamps too: the newest stored sample is
    // the pushed one.
    let ts = prom.query("timestamp(fed_metric{instance=\"a:1\"})")?;
    let t: f64 = ts
        .first()
        .and_then(|r| r["value"][1].as_str())
        .unwrap_or("0")
        .parse()?;
    assert_eq!((t * 1000.0).round() as i64, now - 5_000);
    Ok(())
}

/// The other way: Strata scrapes a real Prometheus' `/federate` with
/// `honor_labels: true` and stores its series under their own labels.
#[test]
fn strata_federates_from_prometheus() -> TestResult {
    let dir = tempfile::tempdir()?;
    let Some(prom) = Prometheus::start(
        dir.path(),
        "global:\n  external_labels: {dc: east}\n",
        &["--web.enable-remote-write-receiver"],
    )?
    else {
        return Ok(());
    };
    let now = now_ms();
    let body = strata_ingest::encode_write_request(&[
        series(
            "prom_side",
            &[("job", "app"), ("instance", "a:1")],
            &[(now - 3_000, 5.0)],
        ),
        series(
            "prom_side",
            &[("job", "app"), ("instance", "b:1")],
            &[(now - 2_000, 6.5)],
        ),
    ]);
    let r = prom
        .client
        .post(prom.url("/api/v1/write"))
        .header("Content-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .body(body)
        .send()?;
    assert!(r.status().is_success(), "{:?}", r.text());
    let cfg = dir.path().join("strata.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n- job_name: federate\n  honor_labels: true\n  metrics_path: /federate\n  params:\n    'match[]': ['{{job=\"app\"}}']\n  static_configs: [{{targets: ['127.0.0.1:{}']}}]\n",
            prom.port
        ),
    )?;
    let s = Server::start(
        &dir.path().join("strata"),
        &["--config", cfg.to_str().unwrap_or_default()],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let got = loop {
        let (_, v) = s.get_json("/api/v1/query?query=prom_side", None);
        let r = v["data"]["result"].as_array().cloned().unwrap_or_default();
        if r.len() == 2 || Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(got.len(), 2, "{got:?}");
    let mut rows: Vec<(String, String, String, String)> = got
        .iter()
        .map(|r| {
            let m = &r["metric"];
            (
                m["instance"].as_str().unwrap_or_default().into(),
                m["job"].as_str().unwrap_or_default().into(),
                m["dc"].as_str().unwrap_or_default().into(),
                r["value"][1].as_str().unwrap_or_default().into(),
            )
        })
        .collect();
    rows.sort();
    // honor_labels kept Prometheus' job and instance, and its external
    // label came along.
    assert_eq!(
        rows,
        vec![
            ("a:1".into(), "app".into(), "east".into(), "5".into()),
            ("b:1".into(), "app".into(), "east".into(), "6.5".into()),
        ]
    );
    let (_, ts) = s.get_json(
        "/api/v1/query?query=timestamp(prom_side%7Binstance%3D%22a%3A1%22%7D)",
        None,
    );
    let t: f64 = ts["data"]["result"][0]["value"][1]
        .as_str()
        .unwrap_or("0")
        .parse()?;
    assert_eq!((t * 1000.0).round() as i64, now - 3_000, "honor_timestamps");
    Ok(())
}
