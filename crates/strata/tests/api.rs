//! The read API's shapes and errors, and the server's lifecycle endpoints.

mod support;

use serde_json::json;
use support::*;

#[test]
fn series_labels_and_values_in_prometheus_shapes() -> TestResult {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path(), &[]);
    let t = now_ms() - 60_000;
    let (code, msg) = server.write(&[
        series(
            "http_requests_total",
            &[("job", "api"), ("code", "200")],
            &[(t, 1.0)],
        ),
        series(
            "http_requests_total",
            &[("job", "api"), ("code", "500")],
            &[(t, 2.0)],
        ),
        series(
            "up",
            &[("job", "node"), ("instance", "a:9100")],
            &[(t, 1.0)],
        ),
        series(
            "up",
            &[("job", "node"), ("instance", "b:9100")],
            &[(t - 3_600_000, 1.0)],
        ),
    ]);
    assert_eq!(code, 204, "{msg}");

    let (code, body) = server.get_json("/api/v1/series?match[]=up", None);
    assert_eq!(code, 200);
    assert_eq!(
        body,
        json!({"status": "success", "data": [
            {"__name__": "up", "instance": "a:9100", "job": "node"},
            {"__name__": "up", "instance": "b:9100", "job": "node"},
        ]})
    );
    // Time range: only the series with a sample in the window.
    let path = format!(
        "/api/v1/series?match[]=up&start={}&end={}",
        (t - 60_000) / 1000,
        (t + 60_000) / 1000
    );
    let (_, body) = server.get_json(&path, None);
    assert_eq!(body["data"].as_array().map(|a| a.len()), Some(1), "{body}");

    let (_, body) = server.get_json(
        "/api/v1/series?match[]={job=~\"api|node\",code!=\"500\"}&limit=2",
        None,
    );
    assert_eq!(body["data"].as_array().map(|a| a.len()), Some(2), "{body}");
    assert_eq!(body["warnings"], json!(["results truncated due to limit"]));

    let (_, body) = server.get_json("/api/v1/labels", None);
    assert_eq!(
        body,
        json!({"status": "success", "data": ["__name__", "code", "instance", "job"]})
    );
    let (_, body) = server.get_json("/api/v1/labels?match[]=up", None);
    assert_eq!(body["data"], json!(["__name__", "instance", "job"]));
    let (_, body) = server.get_json("/api/v1/label/job/values", None);
    assert_eq!(body["data"], json!(["api", "node"]));
    let (_, body) = server.get_json(
        "/api/v1/label/code/values?match[]=http_requests_total{code=~\"5..\"}",
        None,
    );
    assert_eq!(body["data"], json!(["500"]));

    // POST form-encoded works like GET.
    let r = server
        .client
        .post(server.url("/api/v1/series"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("match%5B%5D=http_requests_total")
        .send()?;
    let v: serde_json::Value = r.json()?;
    assert_eq!(v["data"].as_array().map(|a| a.len()), Some(2), "{v}");

    // Errors in Prometheus' JSON shape.
    for (path, needle) in [
        ("/api/v1/series", "no match[] parameter provided"),
        ("/api/v1/series?match[]={x=\"\"}", "non-empty matcher"),
        ("/api/v1/series?match[]=up{", "parse error"),
        (
            "/api/v1/series?match[]=up&start=yesterday",
            "cannot parse \"yesterday\" to a valid timestamp",
        ),
        ("/api/v1/labels?limit=-1", "limit"),
        ("/api/v1/series?match[]={a=~\"(\"}", "parse error"),
    ] {
        let (code, body) = server.get_json(path, None);
        assert_eq!(code, 400, "{path}: {body}");
        assert_eq!(body["status"], "error", "{path}");
        assert_eq!(body["errorType"], "bad_data", "{path}");
        let err = body["error"].as_str().unwrap_or_default();
        assert!(
            err.contains(needle),
            "{path}: {err:?} should contain {needle:?}"
        );
    }
    assert_eq!(server.stop(), Some(0));
    Ok(())
}

#[test]
fn lifecycle_endpoints_and_self_metrics() -> TestResult {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path(), &[]);
    let r = server.client.get(server.url("/-/healthy")).send()?;
    assert_eq!(r.status().as_u16(), 200);
    let (code, body) = server.get_json("/api/v1/status/buildinfo", None);
    assert_eq!(code, 200);
    assert_eq!(body["status"], "success");
    assert!(body["data"]["version"].is_string());
    assert_eq!(server.write(&[series("m", &[], &[(now_ms(), 1.0)])]).0, 204);
    let text = server.client.get(server.url("/metrics")).send()?.text()?;
    for needle in [
        "strata_ingest_samples_total{result=\"accepted\"} 1",
        "strata_ingest_requests_total{code=\"2xx\"} 1",
        "process_resident_memory_bytes",
        "strata_tsdb_head_series 1",
    ] {
        assert!(text.contains(needle), "/metrics lacks {needle:?}:\n{text}");
    }
    let (code, body) = server.get_json("/api/v1/admin/tsdb/snapshot", None);
    assert_eq!(code, 405, "GET on a POST route: {body}");
    let r = server
        .client
        .post(server.url("/api/v1/admin/tsdb/snapshot"))
        .send()?;
    assert_eq!(r.status().as_u16(), 503, "admin API is off by default");
    assert_eq!(server.stop(), Some(0));
    Ok(())
}

#[test]
fn second_server_on_the_same_data_dir_is_refused() -> TestResult {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path(), &[]);
    let out = std::process::Command::new(bin())
        .args([
            "run",
            "--listen",
            &format!("127.0.0.1:{}", free_port()),
            "--data-dir",
        ])
        .arg(dir.path())
        .output()?;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("lock") || err.contains("in use"), "{err}");
    assert_eq!(server.stop(), Some(0));
    Ok(())
}

#[test]
fn bad_flags_exit_2_with_a_message() -> TestResult {
    for args in [
        vec!["run", "--no-such-flag"],
        vec!["run", "--retention.time", "forever"],
        vec!["run", "--listen", "not-an-address"],
        vec!["run", "--storage.wal-fsync", "sometimes"],
    ] {
        let out = std::process::Command::new(bin()).args(&args).output()?;
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?} printed no error");
    }
    let out = std::process::Command::new(bin())
        .args(["run", "--help"])
        .output()?;
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--data-dir",
        "--listen",
        "--retention.time",
        "--retention.size",
        "--multi-tenant",
        "--storage.wal-fsync",
        "--limits.max-series-per-tenant",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
    let cfg = tempfile::NamedTempFile::new()?;
    std::fs::write(
        cfg.path(),
        "global:\n  scrape_interval: 15s\n  bogus_key: 1\n",
    )?;
    let out = std::process::Command::new(bin())
        .args([
            "run",
            "--listen",
            &format!("127.0.0.1:{}", free_port()),
            "--config",
        ])
        .arg(cfg.path())
        .output()?;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bogus_key") && err.contains(&cfg.path().display().to_string()),
        "{err}"
    );
    Ok(())
}

#[test]
fn tsdb_stats_reads_a_stopped_data_dir() -> TestResult {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path(), &[]);
    let t = now_ms() - 60_000;
    let batch: Vec<_> = (0..5)
        .map(|i| {
            series(
                "stats_metric",
                &[("i", &i.to_string())],
                &[(t, 1.0), (t + 15_000, 2.0)],
            )
        })
        .collect();
    assert_eq!(server.write(&batch).0, 204);
    assert_eq!(server.stop(), Some(0));
    let out = std::process::Command::new(bin())
        .args(["tsdb", "stats", "--format", "json", "--data-dir"])
        .arg(dir.path())
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(v[0]["tenant"], "anonymous");
    assert_eq!(v[0]["series"], 5);
    assert_eq!(v[0]["samples"], 10);
    assert_eq!(v[0]["seriesCountByMetricName"][0]["name"], "stats_metric");
    let table = std::process::Command::new(bin())
        .args(["tsdb", "stats", "--data-dir"])
        .arg(dir.path())
        .output()?;
    assert!(String::from_utf8_lossy(&table.stdout).contains("Series:            5"));
    let missing = std::process::Command::new(bin())
        .args(["tsdb", "stats", "--data-dir", "/nonexistent/strata"])
        .output()?;
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("does not exist"));
    Ok(())
}
