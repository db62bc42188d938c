//! The query API over HTTP (shapes, GET/POST, errors, limits) and the
//! `strata query` CLI, against the real binary.

mod support;

use serde_json::json;
use std::process::Command;
use support::*;

fn post_form(server: &Server, path: &str, form: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let client = support::http_client();
    let r = client
        .post(server.url(path))
        .form(form)
        .send()
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    let code = r.status().as_u16();
    let text = r.text().unwrap_or_default();
    (
        code,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

fn load(server: &Server, t0: i64) {
    let pts = |step: f64| -> Vec<(i64, f64)> {
        (0..20)
            .map(|i| (t0 + i * 15_000, i as f64 * step))
            .collect()
    };
    let (code, msg) = server.write(&[
        series(
            "http_requests_total",
            &[("job", "api"), ("code", "200")],
            &pts(10.0),
        ),
        series(
            "http_requests_total",
            &[("job", "api"), ("code", "500")],
            &pts(1.0),
        ),
        series("temperature", &[("room", "a")], &pts(0.5)),
    ]);
    assert_eq!(code, 204, "{msg}");
}

#[test]
fn query_and_query_range_in_prometheus_shapes() -> TestResult {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path(), &[]);
    let t0 = (now_ms() / 60_000) * 60_000 - 600_000;
    load(&server, t0);
    let end_s = (t0 + 19 * 15_000) / 1000;

    // Instant vector, GET with unix seconds.
    let (code, body) = server.get_json(
        &format!("/api/v1/query?query=temperature&time={end_s}"),
        None,
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        body,
        json!({"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {"__name__": "temperature", "room": "a"}, "value": [end_s, "9.5"]}
        ]}})
    );
    // POST form-encoded, RFC 3339 time, an aggregation.
    let rfc = strata_http::params::format_rfc3339(end_s * 1000);
    let (code, body) = post_form(
        &server,
        "/api/v1/query",
        &[
            ("query", "sum by (job) (rate(http_requests_total[1m]))"),
            ("time", &rfc),
        ],
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["data"]["result"][0]["metric"], json!({"job": "api"}));
    let v: f64 = body["data"]["result"][0]["value"][1]
        .as_str()
        .unwrap_or("")
        .parse()?;
    assert!((v - 11.0 / 15.0).abs() < 1e-9, "{v}");

    // Scalar and string results.
    let (_, body) = server.get_json("/api/v1/query?query=1%2B1&time=100", None);
    assert_eq!(
        body["data"],
        json!({"resultType": "scalar", "result": [100, "2"]})
    );
    let (_, body) = server.get_json("/api/v1/query?query=%22hi%22&time=100.5", None);
    assert_eq!(
        body["data"],
        json!({"resultType": "string", "result": [100.5, "hi"]})
    );

    // Range query: a matrix, series sorted by labels.
    let path = format!(
        "/api/v1/query_range?query=http_requests_total&start={}&end={end_s}&step=60",
        end_s - 120
    );
    let (code, body) = server.get_json(&path, None);
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["data"]["resultType"], "matrix");
    let result = body["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(result.len(), 2);
    assert_eq!(result[0]["metric"]["code"], "200");
    assert_eq!(result[0]["values"].as_array().map(|a| a.len()), Some(3));

    // A range vector from an instant query.
    let (_, body) = server.get_json(
        &format!("/api/v1/query?query=temperature[1m]&time={end_s}"),
        None,
    );
    assert_eq!(body["data"]["resultType"], "matrix");
    assert_eq!(
        body["data"]["result"][0]["values"]
            .as_array()
            .map(|a| a.len()),
        Some(4)
    );

    // `limit` truncates with a warning.
    let (_, body) = server.get_json(
        &format!("/api/v1/query?query=http_requests_total&time={end_s}&limit=1"),
        None,
    );
    assert_eq!(body["data"]["result"].as_array().map(|a| a.len()), Some(1));
    assert_eq!(body["warnings"], json!(["results truncated due to limit"]));

    // Infos ride along with the data.
    let (_, body) = server.get_json(
        &format!("/api/v1/query?query=rate(temperature[1m])&time={end_s}"),
        None,
    );
    assert!(
        body["infos"][0]
            .as_str()
            .unwrap_or("")
            .contains("might not be a counter"),
        "{body}"
    );
    Ok(())
}

#[test]
fn query_errors_have_prometheus_types_and_codes() -> TestResult {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path(), &["--query.max-samples=50"]);
    let t0 = (now_ms() / 60_000) * 60_000 - 600_000;
    load(&server, t0);
    let end_s = (t0 + 19 * 15_000) / 1000;
    let cases: Vec<(String, u16, &str, &str)> = vec![
        (
            "/api/v1/query?query=sum(".into(),
            400,
            "bad_data",
            "invalid parameter \"query\"",
        ),
        (
            "/api/v1/query".into(),
            400,
            "bad_data",
            "invalid parameter \"query\"",
        ),
        (
            "/api/v1/query?query=up&time=yesterday".into(),
            400,
            "bad_data",
            "invalid parameter \"time\"",
        ),
        (
            "/api/v1/query_range?query=up&start=10&end=5&step=1".into(),
            400,
            "bad_data",
            "end timestamp must not be before start time",
        ),
        (
            "/api/v1/query_range?query=up&start=0&end=5&step=0".into(),
            400,
            "bad_data",
            "zero or negative",
        ),
        (
            "/api/v1/query_range?query=up&start=0&end=100000&step=1".into(),
            400,
            "bad_data",
            "11,000 points",
        ),
        (
            "/api/v1/query_range?query=up[5m]&start=0&end=5&step=1".into(),
            400,
            "bad_data",
            "range vector",
        ),
        (
            "/api/v1/query?query=up&timeout=abc".into(),
            400,
            "bad_data",
            "invalid parameter \"timeout\"",
        ),
        (
            format!(
                "/api/v1/query?query=http_requests_total%20*%20on()%20temperature&time={end_s}"
            ),
            422,
            "execution",
            "many-to-one matching must be explicit",
        ),
        (
            format!(
                "/api/v1/query_range?query=http_requests_total&start={}&end={end_s}&step=1",
                end_s - 300
            ),
            422,
            "execution",
            "query processing would load too many samples into memory in query execution",
        ),
    ];
    for (path, want_code, want_type, want_msg) in cases {
        let (code, body) = server.get_json(&path, None);
        assert_eq!(code, want_code, "{path}: {body}");
        assert_eq!(body["status"], "error", "{path}");
        assert_eq!(body["errorType"], want_type, "{path}: {body}");
        let msg = body["error"].as_str().unwrap_or("");
        assert!(msg.contains(want_msg), "{path}: {msg:?} lacks {want_msg:?}");
    }
    // The server is still fine after refusing.
    let (code, _) = server.get_json(
        &format!("/api/v1/query?query=temperature&time={end_s}"),
        None,
    );
    assert_eq!(code, 200);
    Ok(())
}

#[test]
fn format_parse_exemplars_metadata_and_status() -> TestResult {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path(), &[]);
    load(&server, now_ms() - 600_000);
    let (code, body) = server.get_json("/api/v1/format_query?query=sum(rate(x[5m]))by(job)", None);
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["data"], "sum by (job) (rate(x[5m]))");
    let (code, body) = server.get_json("/api/v1/parse_query?query=up", None);
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["data"]["type"], "vectorSelector");
    let (code, body) = server.get_json("/api/v1/query_exemplars?query=up&start=0&end=10", None);
    assert_eq!((code, body["data"].clone()), (200, json!([])));
    let (code, body) = server.get_json("/api/v1/metadata", None);
    assert_eq!((code, body["data"].clone()), (200, json!({})));
    let (code, body) = server.get_json("/api/v1/status/config", None);
    assert_eq!(code, 200);
    assert!(body["data"]["yaml"].is_string());
    let (code, body) = server.get_json("/api/v1/status/tsdb", None);
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["data"]["headStats"]["numSeries"], 3);
    assert_eq!(
        body["data"]["seriesCountByMetricName"][0],
        json!({"name": "http_requests_total", "value": 2})
    );
    // prometheus-adapter's discovery call: a start and no end.
    let start = (now_ms() - 3_600_000) / 1000;
    let (code, body) = server.get_json(
        &format!("/api/v1/series?match[]={{job!=\"\",__name__!~\"^container_.*\"}}&start={start}"),
        None,
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["data"].as_array().map(|a| a.len()), Some(2), "{body}");
    Ok(())
}

#[test]
fn strata_query_cli_against_a_server_and_a_data_dir() -> TestResult {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path(), &[]);
    let t0 = (now_ms() / 60_000) * 60_000 - 600_000;
    load(&server, t0);
    let end_s = (t0 + 19 * 15_000) / 1000;
    let run = |args: &[&str]| -> (bool, String, String) {
        let out = Command::new(bin())
            .arg("query")
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let url = server.url("");
    let t = end_s.to_string();
    let (ok, stdout, stderr) = run(&[
        "sum by (code) (http_requests_total)",
        "--server",
        &url,
        "--time",
        &t,
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("SERIES"), "{stdout}");
    assert!(
        stdout.contains("{code=\"500\"}") && stdout.contains("19"),
        "{stdout}"
    );
    let (ok, stdout, stderr) = run(&[
        "temperature",
        "--server",
        &url,
        "--start",
        &(end_s - 60).to_string(),
        "--end",
        &t,
        "--step",
        "30s",
        "--format",
        "json",
    ]);
    assert!(ok, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout)?;
    assert_eq!(
        v["data"]["result"][0]["values"].as_array().map(|a| a.len()),
        Some(3),
        "{v}"
    );
    let (ok, _, stderr) = run(&["sum(", "--server", &url]);
    assert!(!ok);
    assert!(stderr.contains("bad_data"), "{stderr}");

    // Offline, on the stopped data dir (the WAL is replayed read-only).
    assert_eq!(server.stop(), Some(0));
    let d = dir.path().to_string_lossy().into_owned();
    let (ok, stdout, stderr) = run(&["temperature", "--data-dir", &d, "--time", &t]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("temperature{room=\"a\"}") && stdout.contains("9.5"),
        "{stdout}"
    );
    Ok(())
}

/// Parameter validation of every read endpoint, worded as Prometheus 3's
/// web/api/v1/api.go words it (status, `errorType` and message).
#[test]
fn read_parameters_are_validated_like_prometheus_3() -> TestResult {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path(), &[]);
    let t0 = (now_ms() / 60_000) * 60_000 - 600_000;
    load(&server, t0);
    let end_s = (t0 + 19 * 15_000) / 1000;
    let atoi = |v: &str| {
        format!("invalid parameter \"limit\": strconv.Atoi: parsing \"{v}\": invalid syntax")
    };
    let negative = "invalid parameter \"limit\": limit must be non-negative".to_string();
    let mut cases: Vec<(String, u16, &str, String)> = Vec::new();
    // `limit` on every endpoint that takes it, checked before anything else.
    for base in [
        "/api/v1/query?query=up&time=yesterday",
        "/api/v1/query_range?query=up",
        "/api/v1/series?match[]=up&start=x",
        "/api/v1/labels?start=x",
        "/api/v1/label/job/values?start=x",
    ] {
        cases.push((
            format!("{base}&limit=-1"),
            400,
            "bad_data",
            negative.clone(),
        ));
        cases.push((format!("{base}&limit=1.5"), 400, "bad_data", atoi("1.5")));
        cases.push((format!("{base}&limit=ten"), 400, "bad_data", atoi("ten")));
    }
    cases.extend([
        (
            "/api/v1/series?match[]=up&limit=99999999999999999999".into(),
            400,
            "bad_data",
            "invalid parameter \"limit\": strconv.Atoi: parsing \"99999999999999999999\": value out of range".into(),
        ),
        // Optional times name the parameter twice; query_range's required ones once.
        (
            "/api/v1/query?query=up&time=yesterday".into(),
            400,
            "bad_data",
            "invalid parameter \"time\": invalid time value for 'time': cannot parse \"yesterday\" to a valid timestamp".into(),
        ),
        (
            "/api/v1/series?match[]=up&end=x".into(),
            400,
            "bad_data",
            "invalid parameter \"end\": invalid time value for 'end': cannot parse \"x\" to a valid timestamp".into(),
        ),
        (
            "/api/v1/query_range?query=up&end=1&step=1".into(),
            400,
            "bad_data",
            "invalid parameter \"start\": cannot parse \"\" to a valid timestamp".into(),
        ),
        (
            "/api/v1/query_range?query=up&start=1&end=0.5&step=1".into(),
            400,
            "bad_data",
            "invalid parameter \"end\": end timestamp must not be before start time".into(),
        ),
        (
            "/api/v1/query_range?query=up&start=0&end=1".into(),
            400,
            "bad_data",
            "invalid parameter \"step\": cannot parse \"\" to a valid duration".into(),
        ),
        (
            "/api/v1/query_range?query=up&start=0&end=1&step=-1".into(),
            400,
            "bad_data",
            "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
        ),
        (
            "/api/v1/query_range?query=up&start=0&end=1&step=1e300".into(),
            400,
            "bad_data",
            "invalid parameter \"step\": cannot parse \"1e300\" to a valid duration. It overflows int64".into(),
        ),
        // 11,000 points counted in nanoseconds, as Go divides durations.
        (
            "/api/v1/query_range?query=up&start=0&end=2&step=0.0001".into(),
            400,
            "bad_data",
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)".into(),
        ),
        (
            "/api/v1/query?query=up&lookback_delta=soon".into(),
            400,
            "bad_data",
            "error parsing lookback delta duration: cannot parse \"soon\" to a valid duration".into(),
        ),
        // Durations beyond Go's int64 nanoseconds (~292y) do not parse.
        (
            "/api/v1/query?query=up%20offset%20300y".into(),
            400,
            "bad_data",
            "invalid parameter \"query\": parse error: duration out of range".into(),
        ),
        (
            "/api/v1/query?query=rate(up%5B300y%5D)".into(),
            400,
            "bad_data",
            "invalid parameter \"query\": parse error: duration out of range".into(),
        ),
        (
            "/api/v1/query?query=up%5B5m:300y%5D".into(),
            400,
            "bad_data",
            "invalid parameter \"query\": parse error: duration out of range".into(),
        ),
        // count_values' label: any UTF-8 name but the empty one (an
        // execution error, raised before any series is read).
        (
            "/api/v1/query?query=count_values(%22%22,vector(1))".into(),
            422,
            "execution",
            "invalid label name \"\"".into(),
        ),
        // match[]: series names the parameter, the label endpoints do not.
        (
            "/api/v1/series".into(),
            400,
            "bad_data",
            "no match[] parameter provided".into(),
        ),
        (
            "/api/v1/series?match[]=%7Bx%3D%22%22%7D".into(),
            400,
            "bad_data",
            "invalid parameter \"match[]\": parse error: vector selector must contain at least one non-empty matcher".into(),
        ),
        (
            "/api/v1/labels?match[]=%7Bx%3D%22%22%7D".into(),
            400,
            "bad_data",
            "parse error: vector selector must contain at least one non-empty matcher".into(),
        ),
        // Label names in the path: UTF-8 (and `U__` escapes) are fine; the
        // empty name and bytes that are not UTF-8 are not.
        (
            "/api/v1/label/U__/values".into(),
            400,
            "bad_data",
            "invalid label name: \"\"".into(),
        ),
        (
            "/api/v1/label/a%FFb/values".into(),
            400,
            "bad_data",
            "invalid label name: \"a\\xffb\"".into(),
        ),
    ]);
    for (path, want_code, want_type, want_msg) in &cases {
        let (code, body) = server.get_json(path, None);
        assert_eq!(code, *want_code, "{path}: {body}");
        assert_eq!(body["status"], "error", "{path}: {body}");
        assert_eq!(body["errorType"], *want_type, "{path}: {body}");
        assert_eq!(body["error"].as_str().unwrap_or(""), want_msg, "{path}");
    }

    // What Prometheus 3 accepts.
    let ok = |path: &str| -> serde_json::Value {
        let (code, body) = server.get_json(path, None);
        assert_eq!(code, 200, "{path}: {body}");
        body
    };
    let body = ok("/api/v1/query?query=count_values(%22a.b%22,vector(7))&time=100");
    assert_eq!(body["data"]["result"][0]["metric"], json!({"a.b": "7"}));
    let body = ok("/api/v1/label/U__j_6f_b/values");
    assert_eq!(body["data"], json!(["api"]), "U__j_6f_b is job");
    ok("/api/v1/label/http.method/values");
    // client_golang sends Prometheus' MinTime/MaxTime for open ranges.
    let body = ok(
        "/api/v1/series?match[]=temperature&start=-292273086-05-16T16:47:06Z&end=292277025-08-18T07:12:54.999999999Z",
    );
    assert_eq!(body["data"].as_array().map(|a| a.len()), Some(1));
    // limit=0 is no limit.
    let body = ok("/api/v1/series?match[]=http_requests_total&limit=0");
    assert_eq!(body["data"].as_array().map(|a| a.len()), Some(2));
    let body = ok("/api/v1/labels?limit=2");
    assert_eq!(body["data"], json!(["__name__", "code"]));
    assert_eq!(body["warnings"], json!(["results truncated due to limit"]));
    let body = ok(&format!(
        "/api/v1/query_range?query=http_requests_total&start={}&end={end_s}&step=60&limit=1",
        end_s - 120
    ));
    assert_eq!(body["data"]["result"].as_array().map(|a| a.len()), Some(1));
    assert_eq!(body["warnings"], json!(["results truncated due to limit"]));
    Ok(())
}

/// A form body's value wins over the query string's, as with Go's
/// `Request.FormValue`.
#[test]
fn form_body_wins_over_query_string() -> TestResult {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path(), &[]);
    let client = support::http_client();
    let r = client
        .post(server.url("/api/v1/query?query=1&time=100"))
        .form(&[("query", "2")])
        .send()?;
    let body: serde_json::Value = r.json()?;
    assert_eq!(body["data"]["result"], json!([100, "2"]), "{body}");
    Ok(())
}

/// Long queries by GET: hyper (through the `http` crate's `Uri`) takes
/// request targets up to 64 KiB, Prometheus up to its 1 MiB header limit;
/// anything longer must go by POST (docs/promql.md, differences).
#[test]
fn long_queries_by_get_and_post() -> TestResult {
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path(), &[]);
    let t0 = (now_ms() / 60_000) * 60_000 - 600_000;
    load(&server, t0);
    let end_s = (t0 + 19 * 15_000) / 1000;
    let alternatives: Vec<String> = (0..3000).map(|i| format!("room{i}")).collect();
    let q = format!("temperature{{room=~\"{}|a\"}}", alternatives.join("|"));
    assert!(q.len() > 20_000);
    let (code, body) = server.get_json(
        &format!("/api/v1/query?time={end_s}&query={}", urlencode(&q)),
        None,
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["data"]["result"].as_array().map(|a| a.len()), Some(1));
    // ~500 KiB by POST.
    let big = format!(
        "temperature{{room=~\"{}|a\"}}",
        (0..60_000)
            .map(|i| format!("r{i}"))
            .collect::<Vec<_>>()
            .join("|")
    );
    assert!(big.len() > 400_000);
    let (code, body) = post_form(
        &server,
        "/api/v1/query",
        &[("query", &big), ("time", &end_s.to_string())],
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["data"]["result"].as_array().map(|a| a.len()), Some(1));
    Ok(())
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

/// API answers are gzipped for clients that accept it (Grafana, browsers),
/// as Prometheus does, and sent as they are to those that do not.
#[test]
fn answers_are_gzipped_when_accepted() -> TestResult {
    use std::io::Read;
    let dir = tempfile::tempdir()?;
    let server = Server::start(dir.path(), &[]);
    let t0 = (now_ms() / 60_000) * 60_000 - 600_000;
    load(&server, t0);
    let path = format!(
        "/api/v1/query_range?query=http_requests_total&start={}&end={}&step=1",
        t0 / 1000,
        t0 / 1000 + 285
    );
    let client = support::http_client();
    let plain = client.get(server.url(&path)).send()?;
    assert_eq!(plain.status().as_u16(), 200);
    assert!(plain.headers().get("content-encoding").is_none());
    let plain = plain.bytes()?;
    assert!(
        plain.len() > 1024,
        "{} bytes: too small to be compressed",
        plain.len()
    );

    let gz = client
        .get(server.url(&path))
        .header("Accept-Encoding", "gzip")
        .send()?;
    assert_eq!(gz.status().as_u16(), 200);
    assert_eq!(
        gz.headers().get("content-encoding").map(|v| v.as_bytes()),
        Some(&b"gzip"[..])
    );
    let packed = gz.bytes()?;
    assert!(packed.len() < plain.len());
    let mut unpacked = Vec::new();
    flate2::read::GzDecoder::new(&packed[..]).read_to_end(&mut unpacked)?;
    assert_eq!(unpacked, plain);

    // Small answers are not worth it.
    let small = client
        .get(server.url("/api/v1/query?query=1"))
        .header("Accept-Encoding", "gzip")
        .send()?;
    assert!(small.headers().get("content-encoding").is_none());
    Ok(())
}
