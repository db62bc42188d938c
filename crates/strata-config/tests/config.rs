//! Decoding, defaults and error messages of whole configuration files.

#![allow(clippy::unwrap_used)] // test helpers: a failure should stop the test

use std::path::Path;
use std::time::Duration;
use strata_config::{Config, ConfigError, NameValidation, ScrapeProtocol};

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, "prometheus.yml", Path::new("/etc/prometheus"))
}

fn err(text: &str) -> String {
    match parse(text) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn defaults_follow_prometheus_3() {
    let c = parse("scrape_configs:\n  - job_name: a\n").unwrap();
    let g = &c.global;
    assert_eq!(g.scrape_interval, Duration::from_secs(60));
    assert_eq!(g.scrape_timeout, Duration::from_secs(10));
    assert_eq!(g.evaluation_interval, Duration::from_secs(60));
    assert_eq!(g.metric_name_validation_scheme, NameValidation::Utf8);
    let j = &c.scrape_configs[0];
    assert_eq!(j.scrape_interval, Duration::from_secs(60));
    assert_eq!(j.scrape_timeout, Duration::from_secs(10));
    assert_eq!(j.metrics_path, "/metrics");
    assert_eq!(j.scheme, "http");
    assert!(j.honor_timestamps && j.enable_compression && !j.honor_labels);
    assert_eq!(j.scrape_protocols, ScrapeProtocol::DEFAULT.to_vec());
    assert!(j.http_client.follow_redirects && j.http_client.enable_http2);
    assert!(c.remote_write.is_empty() && c.alerting.alertmanagers.is_empty());
}

#[test]
fn timeout_defaults_to_the_smaller_of_global_timeout_and_interval() {
    let c = parse("scrape_configs:\n  - job_name: a\n    scrape_interval: 5s\n  - job_name: b\n    scrape_interval: 1m\n").unwrap();
    assert_eq!(c.scrape_configs[0].scrape_timeout, Duration::from_secs(5));
    assert_eq!(c.scrape_configs[1].scrape_timeout, Duration::from_secs(10));
    let c = parse("global:\n  scrape_interval: 3s\n").unwrap();
    assert_eq!(c.global.scrape_timeout, Duration::from_secs(3));
}

#[test]
fn jobs_inherit_global_limits_and_protocols() {
    let c = parse(
        "global:\n  sample_limit: 100\n  body_size_limit: 1MB\n  scrape_protocols: [PrometheusText0.0.4]\nscrape_configs:\n  - job_name: a\n  - job_name: b\n    sample_limit: 5\n    scrape_native_histograms: true\n    scrape_protocols: [PrometheusProto]\n",
    )
    .unwrap();
    let (a, b) = (&c.scrape_configs[0], &c.scrape_configs[1]);
    assert_eq!((a.sample_limit, a.body_size_limit), (100, 1 << 20));
    assert_eq!(
        a.scrape_protocols,
        vec![ScrapeProtocol::PrometheusText0_0_4]
    );
    assert_eq!(b.sample_limit, 5);
    assert_eq!(b.scrape_protocols, vec![ScrapeProtocol::PrometheusProto]);
    // Native histograms switch the default to protobuf first.
    let c =
        parse("scrape_configs:\n  - job_name: a\n    scrape_native_histograms: true\n").unwrap();
    assert_eq!(
        c.scrape_configs[0].scrape_protocols,
        ScrapeProtocol::PROTO_FIRST.to_vec()
    );
}

#[test]
fn null_means_zero_like_yaml_v2() {
    // yaml.v2 sets a field given null to its zero value, not its default.
    let c =
        parse("scrape_configs:\n  - job_name: a\n    honor_timestamps: ~\n    scrape_interval:\n")
            .unwrap();
    assert!(!c.scrape_configs[0].honor_timestamps);
    assert_eq!(c.scrape_configs[0].scrape_interval, Duration::from_secs(60));
}

#[test]
fn errors_name_file_position_and_field() {
    let cases: &[(&str, &str)] = &[
        (
            "scrape_configs:\n  - job_name: a\n    scrape_interval: 5x\n",
            r#"prometheus.yml:3:22: scrape_configs[0].scrape_interval: invalid duration "5x""#,
        ),
        (
            "scrape_configs:\n  - job_name: a\n  - job_name: b\n    scrape_intervall: 1m\n",
            r#"prometheus.yml:4:5: scrape_configs[1].scrape_intervall: unknown field "scrape_intervall""#,
        ),
        (
            "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - source_labels: [a]\n        regex: '(x'\n        target_label: b\n",
            "prometheus.yml:5:16: scrape_configs[0].relabel_configs[0].regex: invalid regular expression \"(x\"",
        ),
        (
            "scrape_configs:\n  - scrape_interval: 1m\n",
            "prometheus.yml:2:5: scrape_configs[0].job_name: job_name is empty",
        ),
        (
            "scrape_configs:\n  - job_name: x\n  - job_name: x\n",
            r#"prometheus.yml:3:5: scrape_configs[1].job_name: found multiple scrape configs with job name "x""#,
        ),
        (
            "scrape_configs:\n  - job_name: x\n    scrape_interval: 10s\n    scrape_timeout: 20s\n",
            r#"prometheus.yml:4:21: scrape_configs[0].scrape_timeout: scrape timeout greater than scrape interval for scrape config with job name "x""#,
        ),
        (
            "global:\n  metric_name_validation_scheme: legacy\n  external_labels:\n    'a-b': c\n",
            r#"prometheus.yml:4:5: global.external_labels.a-b: "a-b" is not a valid label name"#,
        ),
        (
            "scrape_configs:\n  - job_name: x\n    consul_sd_configs:\n      - server: c:8500\n",
            "prometheus.yml:4:7: scrape_configs[0].consul_sd_configs: consul service discovery (consul_sd_configs) is not supported by Strata",
        ),
        (
            "alerting:\n  alertmanagers:\n    - dns_sd_configs: []\n",
            "alerting.alertmanagers[0].dns_sd_configs: dns service discovery (dns_sd_configs) is not supported by Strata",
        ),
        (
            "scrape_configs:\n  - job_name: x\n    oauth2:\n      client_id: a\n",
            "scrape_configs[0].oauth2: oauth2 is not supported by Strata yet",
        ),
        (
            "global:\n  query_log_file: q.log\n",
            "prometheus.yml:2:19: global.query_log_file: query_log_file is not supported by Strata yet",
        ),
        (
            "global:\n  a: 1\n  a: 2\n",
            "prometheus.yml:3:3: duplicate mapping key: a",
        ),
    ];
    for (text, want) in cases {
        let got = err(text);
        assert!(got.contains(want), "got:  {got}\nwant: {want}");
    }
}

#[test]
fn error_exposes_structured_parts() {
    let e = parse("scrape_configs:\n  - job_name: a\n    sample_limit: lots\n").unwrap_err();
    assert_eq!(e.file(), "prometheus.yml");
    assert_eq!(e.path(), "scrape_configs[0].sample_limit");
    let pos = e.position().unwrap();
    assert_eq!((pos.line, pos.column), (3, 19));
}

#[test]
fn relative_paths_resolve_against_the_config_dir() {
    let c = parse(
        "rule_files: ['rules/*.yml', '/abs/x.yml']\nscrape_configs:\n  - job_name: a\n    file_sd_configs:\n      - files: [sd/*.json]\n    tls_config:\n      ca_file: ca.pem\n",
    )
    .unwrap();
    assert_eq!(
        c.rule_files,
        vec!["/etc/prometheus/rules/*.yml", "/abs/x.yml"]
    );
    let j = &c.scrape_configs[0];
    assert_eq!(
        j.service_discovery.file_sd_configs[0].files,
        vec!["/etc/prometheus/sd/*.json"]
    );
    assert_eq!(
        j.service_discovery.file_sd_configs[0].refresh_interval,
        Duration::from_secs(300)
    );
    assert_eq!(j.http_client.tls_config.ca_file, "/etc/prometheus/ca.pem");
}

#[test]
fn rule_files_and_scrape_config_files_expand_globs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    std::fs::create_dir(dir.path().join("jobs")).unwrap();
    std::fs::write(dir.path().join("rules/b.yml"), "groups: []\n").unwrap();
    std::fs::write(dir.path().join("rules/a.yml"), "groups: []\n").unwrap();
    std::fs::write(dir.path().join("rules/c.txt"), "").unwrap();
    std::fs::write(
        dir.path().join("jobs/one.yml"),
        "scrape_configs:\n  - job_name: one\n    file_sd_configs:\n      - files: [t.json]\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("jobs/two.yml"),
        "scrape_configs:\n  - job_name: main\n",
    )
    .unwrap();
    let main = dir.path().join("prometheus.yml");
    std::fs::write(
        &main,
        "global:\n  scrape_interval: 7s\nrule_files: [rules/*.yml]\nscrape_config_files: [jobs/one.yml]\nscrape_configs:\n  - job_name: main\n",
    )
    .unwrap();
    let c = Config::load(&main).unwrap();
    let rules = c.rule_file_paths().unwrap();
    assert_eq!(
        rules,
        vec![
            dir.path().join("rules/a.yml"),
            dir.path().join("rules/b.yml")
        ]
    );
    // `**` is Go's `*`, not a recursive wildcard.
    let stars = vec![
        dir.path()
            .join("rules/**.yml")
            .to_string_lossy()
            .into_owned(),
    ];
    assert_eq!(strata_config::expand_globs(&stars).unwrap(), rules);
    let names: Vec<&str> = c
        .scrape_configs
        .iter()
        .map(|j| j.job_name.as_str())
        .collect();
    assert_eq!(names, vec!["main", "one"]);
    let one = &c.scrape_configs[1];
    // Globals apply to jobs from other files; their paths are relative to
    // their own file.
    assert_eq!(one.scrape_interval, Duration::from_secs(7));
    assert_eq!(
        one.service_discovery.file_sd_configs[0].files,
        vec![
            dir.path()
                .join("jobs/t.json")
                .to_string_lossy()
                .into_owned()
        ]
    );
    assert_eq!(
        one.source_file,
        dir.path().join("jobs/one.yml").to_string_lossy()
    );

    // A job name repeated in a scrape config file names both files.
    std::fs::write(
        &main,
        "scrape_config_files: [jobs/*.yml]\nscrape_configs:\n  - job_name: main\n",
    )
    .unwrap();
    let e = Config::load(&main).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!(
            "{}:2:5:",
            dir.path().join("jobs/two.yml").display()
        )),
        "{e}"
    );
    assert!(
        e.contains(r#"found multiple scrape configs with job name "main", first found in"#),
        "{e}"
    );
    // Only scrape_configs may appear in a scrape config file.
    std::fs::write(dir.path().join("jobs/two.yml"), "global: {}\n").unwrap();
    let e = Config::load(&main).unwrap_err().to_string();
    assert!(e.contains("two.yml:1:1: global: unknown field"), "{e}");
}

#[test]
fn missing_file_is_a_read_error() {
    let e = Config::load("/nonexistent/prometheus.yml").unwrap_err();
    assert!(matches!(e, ConfigError::Read { .. }));
    assert!(e.to_string().starts_with("/nonexistent/prometheus.yml: "));
}

#[test]
fn bearer_token_becomes_authorization() {
    let c = parse("scrape_configs:\n  - job_name: a\n    bearer_token_file: tok\n").unwrap();
    let a = c.scrape_configs[0]
        .http_client
        .authorization
        .as_ref()
        .unwrap();
    assert_eq!(a.kind, "Bearer");
    assert_eq!(a.credentials_file, "/etc/prometheus/tok");
}

#[test]
fn remote_write_defaults() {
    let c = parse("remote_write:\n  - url: http://r/api/v1/write\n").unwrap();
    let rw = &c.remote_write[0];
    assert_eq!(rw.remote_timeout, Duration::from_secs(30));
    assert_eq!(rw.queue_config.capacity, 10_000);
    assert_eq!(rw.queue_config.max_shards, 50);
    assert_eq!(rw.queue_config.min_shards, 1);
    assert_eq!(rw.queue_config.max_samples_per_send, 2000);
    assert_eq!(rw.queue_config.batch_send_deadline, Duration::from_secs(5));
    assert_eq!(rw.queue_config.min_backoff, Duration::from_millis(30));
    assert_eq!(rw.queue_config.max_backoff, Duration::from_secs(5));
    assert!(rw.metadata_config.send);
    assert!(!rw.http_client.enable_http2 && rw.http_client.follow_redirects);
}

#[test]
fn to_yaml_round_trips_and_hides_secrets() {
    let text = r##"
global:
  scrape_interval: 15s
  external_labels: {cluster: "a b", "dotted.name": "yes", empty: ""}
rule_files: [/r/*.yml]
scrape_configs:
  - job_name: "weird: name"
    metrics_path: /probe
    params: {module: [http_2xx, "#x"]}
    authorization: {credentials_file: /tok}
    static_configs:
      - targets: ['a:1', "[::1]:9090"]
        labels: {env: "true", n: "0123"}
    relabel_configs:
      - source_labels: [__address__]
        regex: '(.*):(\d+)'
        target_label: port
        replacement: '${2}'
      - action: labelmap
        regex: __meta_(.+)
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: 'go_.*|process_.*'
        action: drop
  - job_name: k
    kubernetes_sd_configs:
      - role: pod
        selectors: [{role: pod, label: "app=x"}]
alerting:
  alertmanagers:
    - static_configs: [{targets: ['am:9093']}]
      timeout: 3s
remote_write:
  - url: http://r/w
    write_relabel_configs: [{regex: tmp, action: labeldrop}]
remote_read:
  - url: http://r/r
"##;
    let c = Config::parse(text, "p.yml", Path::new("/base")).unwrap();
    let yaml = c.to_yaml();
    let again =
        Config::parse(&yaml, "p.yml", Path::new("/base")).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    assert_eq!(again.global, c.global, "{yaml}");
    assert_eq!(again.scrape_configs, c.scrape_configs, "{yaml}");
    assert_eq!(again.alerting, c.alerting, "{yaml}");
    assert_eq!(again.remote_write, c.remote_write, "{yaml}");
    assert_eq!(again.remote_read, c.remote_read, "{yaml}");
    assert_eq!(again.rule_files, c.rule_files);

    let c = parse(
        "scrape_configs:\n  - job_name: a\n    basic_auth: {username: u, password: hunter2}\n",
    )
    .unwrap();
    let yaml = c.to_yaml();
    assert!(
        !yaml.contains("hunter2") && yaml.contains("<secret>"),
        "{yaml}"
    );
}

#[test]
fn deep_nesting_is_an_error_even_on_a_small_stack() {
    // Async workers and test threads have small stacks; the parser must not
    // overflow them whatever the input.
    let worker = std::thread::Builder::new()
        .stack_size(256 << 10)
        .spawn(|| {
            let mut out = Vec::new();
            for depth in [20usize, 40, 100_000] {
                let text = format!("global: {}{}", "[".repeat(depth), "]".repeat(depth));
                out.push(parse(&text).map(|_| ()).map_err(|e| e.to_string()));
            }
            out
        })
        .unwrap();
    let results = worker.join().unwrap();
    assert!(
        results[0]
            .as_ref()
            .unwrap_err()
            .contains("cannot unmarshal a sequence into a mapping")
    );
    for r in &results[1..] {
        assert!(
            r.as_ref()
                .unwrap_err()
                .contains("YAML nested deeper than 32 levels"),
            "{r:?}"
        );
    }
}

#[test]
fn string_fields_take_a_scalar_as_written() {
    let c = parse("scrape_configs:\n  - job_name: 0123\n  - job_name: 0x1F\n  - job_name: yes\n  - job_name: 1.50\n  - {job_name: 7, metrics_path: /m}\n").unwrap();
    let names: Vec<&str> = c
        .scrape_configs
        .iter()
        .map(|j| j.job_name.as_str())
        .collect();
    assert_eq!(names, vec!["0123", "0x1F", "yes", "1.50", "7"]);
}
