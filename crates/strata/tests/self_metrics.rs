//! `/metrics` against its contract, docs/metrics.md: every documented family
//! is exposed with its type, labels and HELP, nothing undocumented is, and
//! each subsystem's families move when that subsystem works.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use support::{Server, TestResult, now_ms, series};

/// One metric family as documented or as exposed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Family {
    kind: String,
    help: String,
    labels: BTreeSet<String>,
}

/// The families in docs/metrics.md's tables: rows `| `name` | type | labels | help |`.
fn documented() -> BTreeMap<String, Family> {
    let path = format!(
        "{}/../../docs/metrics.md",
        std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into())
    );
    let doc = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let mut families = BTreeMap::new();
    for line in doc.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // A row splits into ["", name, type, labels, help, ""].
        let [_, name, kind, labels, help, _] = cells[..] else {
            continue;
        };
        let Some(name) = name.strip_prefix('`').and_then(|n| n.strip_suffix('`')) else {
            continue;
        };
        let labels = labels
            .split(',')
            .map(|l| l.trim().trim_matches('`'))
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect();
        let family = Family {
            kind: kind.to_string(),
            help: help.to_string(),
            labels,
        };
        assert!(
            families.insert(name.to_string(), family).is_none(),
            "{name} documented twice"
        );
    }
    assert!(families.len() > 20, "docs/metrics.md tables not found");
    families
}

/// The families of a text exposition, with each sample's label names (a
/// histogram's `le` left out) and values keyed by the sample's full text
/// before the value.
fn exposed(text: &str) -> (BTreeMap<String, Family>, BTreeMap<String, f64>) {
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    let mut values = BTreeMap::new();
    let mut label_sets: BTreeMap<String, BTreeSet<BTreeSet<String>>> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            families.entry(name.to_string()).or_insert(Family {
                kind: String::new(),
                help: String::new(),
                labels: BTreeSet::new(),
            });
            if let Some(f) = families.get_mut(name) {
                f.help = help.to_string();
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, ""));
            match families.get_mut(name) {
                Some(f) => f.kind = kind.to_string(),
                None => panic!("TYPE before HELP for {name}"),
            }
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value: {line:?}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|e| panic!("{line:?}: value: {e}"));
        let (name, labels) = match series.split_once('{') {
            Some((n, l)) => (n, l.trim_end_matches('}')),
            None => (series, ""),
        };
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .filter_map(|s| name.strip_suffix(s))
            .find(|f| families.get(*f).is_some_and(|f| f.kind == "histogram"))
            .unwrap_or(name);
        assert!(
            families.contains_key(family),
            "sample without HELP: {line:?}"
        );
        // No label value here holds `,` or `=`; a naive split is enough.
        let names: BTreeSet<String> = labels
            .split(',')
            .filter_map(|kv| kv.split_once('=').map(|(k, _)| k.to_string()))
            .filter(|k| k != "le")
            .collect();
        label_sets
            .entry(family.to_string())
            .or_default()
            .insert(names);
        values.insert(series.to_string(), value);
    }
    for (name, sets) in label_sets {
        assert_eq!(sets.len(), 1, "{name}: samples with different label names");
        if let (Some(f), Some(labels)) = (families.get_mut(&name), sets.into_iter().next()) {
            f.labels = labels;
        }
    }
    (families, values)
}

/// The families of a second server with a rule group and an Alertmanager
/// (nobody listens there): its rules write, so the exact counts the main
/// server's checks read stay apart from it.
fn rule_families(
    dir: &std::path::Path,
) -> Result<BTreeMap<String, Family>, Box<dyn std::error::Error>> {
    let cfg = dir.join("rules-prometheus.yml");
    std::fs::write(
        &cfg,
        "rule_files: [rules.yml]\nalerting:\n  alertmanagers:\n    - static_configs: [{targets: ['127.0.0.1:1']}]\n",
    )?;
    std::fs::write(
        dir.join("rules.yml"),
        "groups:\n  - name: g\n    interval: 100ms\n    rules:\n      - record: r\n        expr: vector(1)\n      - alert: A\n        expr: vector(1)\n",
    )?;
    let server = Server::start(
        &dir.join("rules-data"),
        &["--config", cfg.to_str().unwrap_or_default()],
    );
    // The alert fires at the first evaluation; sending it (and failing)
    // creates the per-Alertmanager series.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let text = server.client.get(server.url("/metrics")).send()?.text()?;
        if text.contains("strata_notifications_errors_total{") {
            return Ok(exposed(&text).0);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no notification was attempted"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn metrics_match_their_documentation() -> TestResult {
    let dir = tempfile::tempdir()?;
    // A remote-write queue and a scrape job (to a port nobody listens
    // on), so that their labelled families have children to show.
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        "remote_write:\n  - url: http://127.0.0.1:1/api/v1/write\n    name: nowhere\nscrape_configs:\n  - job_name: nothing\n    static_configs: [{targets: ['127.0.0.1:1']}]\n",
    )?;
    let rule_families = rule_families(dir.path())?;
    let server = Server::start(
        &dir.path().join("data"),
        &["--config", cfg.to_str().unwrap_or_default()],
    );
    let now = now_ms();
    // One stored series, one refused by validation, one read.
    assert_eq!(server.write(&[series("m", &[], &[(now, 1.0)])]).0, 204);
    let empty_label_name: Vec<(&[u8], &[u8])> = vec![(b"__name__", b"bad"), (b"", b"x")];
    let raw = strata_ingest::encode_write_request_raw(&[(empty_label_name, vec![(now, 1.0)])]);
    let body = snap::raw::Encoder::new().compress_vec(&raw)?;
    assert_eq!(server.write_raw(body, None).0, 400);
    assert_eq!(server.get_json("/api/v1/query?query=m", None).0, 200);

    let resp = server.client.get(server.url("/metrics")).send()?;
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    let text = resp.text()?;
    let (mut exposed, values) = exposed(&text);
    for (name, f) in rule_families {
        exposed.entry(name).or_insert(f);
    }
    let documented = documented();

    let missing: Vec<_> = documented
        .keys()
        .filter(|n| !exposed.contains_key(*n))
        .collect();
    assert!(
        missing.is_empty(),
        "documented, not exposed: {missing:?}\n{text}"
    );
    let undocumented: Vec<_> = exposed
        .keys()
        .filter(|n| !documented.contains_key(*n))
        .collect();
    assert!(
        undocumented.is_empty(),
        "exposed, not in docs/metrics.md: {undocumented:?}"
    );
    for (name, doc) in &documented {
        assert_eq!(&exposed[name], doc, "{name}: exposed vs documented");
    }

    // Each subsystem's registration is live, not a copy.
    for (series, want) in [
        ("strata_ingest_requests_total{code=\"2xx\"}", 1.0),
        ("strata_ingest_requests_total{code=\"400\"}", 1.0),
        ("strata_ingest_samples_total{result=\"accepted\"}", 1.0),
        ("strata_ingest_samples_total{result=\"invalid\"}", 1.0),
        ("strata_ingest_samples_total{result=\"rate_limited\"}", 0.0),
        ("strata_ingest_request_duration_seconds_count", 2.0),
        (
            "strata_ingest_request_duration_seconds_bucket{le=\"+Inf\"}",
            2.0,
        ),
        ("strata_http_read_requests_total", 1.0),
        ("strata_ready", 1.0),
        ("strata_tsdb_tenants", 1.0),
        ("strata_tsdb_head_series", 1.0),
        ("strata_tsdb_head_series_created_total", 1.0),
    ] {
        assert_eq!(values.get(series), Some(&want), "{series}\n{text}");
    }
    let head_max = values
        .get("strata_tsdb_head_max_time_seconds")
        .copied()
        .unwrap_or_default();
    assert!(
        (head_max - now as f64 / 1e3).abs() < 1e-3,
        "head max time {head_max}, pushed at {now} ms"
    );
    assert!(
        values
            .get("process_resident_memory_bytes")
            .is_some_and(|v| *v > 0.0)
    );
    assert!(values.get("process_open_fds").is_some_and(|v| *v > 0.0));

    // Prometheus' own linter over the exposition, where Debian's prometheus
    // package is installed (it is on the development machines).
    match std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        Ok(mut child) => {
            use std::io::Write as _;
            if let Some(mut stdin) = child.stdin.take() {
                stdin.write_all(text.as_bytes())?;
            }
            let out = child.wait_with_output()?;
            assert!(
                out.status.success(),
                "promtool check metrics: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Err(e) => eprintln!("promtool not run ({e}): exposition not linted"),
    }
    assert_eq!(server.stop(), Some(0));
    Ok(())
}
