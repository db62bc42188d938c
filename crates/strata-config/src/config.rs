//! The configuration file: types with Prometheus 3's defaults applied, and
//! the decoder that validates it as Prometheus does.

use crate::error::ConfigError;
use crate::http::HttpClientConfig;
use crate::relabel::{self, NameValidation, RelabelConfig};
use crate::sd::{ServiceDiscovery, decode_label_set, url_scheme_host};
use crate::yaml::{Doc, Fields, Node, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use strata_model::{Label, Labels};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScrapeProtocol {
    PrometheusProto,
    PrometheusText0_0_4,
    PrometheusText1_0_0,
    OpenMetricsText0_0_1,
    OpenMetricsText1_0_0,
}

impl ScrapeProtocol {
    pub const ALL: [ScrapeProtocol; 5] = [
        ScrapeProtocol::OpenMetricsText0_0_1,
        ScrapeProtocol::OpenMetricsText1_0_0,
        ScrapeProtocol::PrometheusProto,
        ScrapeProtocol::PrometheusText0_0_4,
        ScrapeProtocol::PrometheusText1_0_0,
    ];

    /// Prometheus 3's default order of preference.
    pub const DEFAULT: [ScrapeProtocol; 4] = [
        ScrapeProtocol::OpenMetricsText1_0_0,
        ScrapeProtocol::OpenMetricsText0_0_1,
        ScrapeProtocol::PrometheusText1_0_0,
        ScrapeProtocol::PrometheusText0_0_4,
    ];

    /// The default when native histograms are scraped: protobuf first.
    pub const PROTO_FIRST: [ScrapeProtocol; 5] = [
        ScrapeProtocol::PrometheusProto,
        ScrapeProtocol::OpenMetricsText1_0_0,
        ScrapeProtocol::OpenMetricsText0_0_1,
        ScrapeProtocol::PrometheusText1_0_0,
        ScrapeProtocol::PrometheusText0_0_4,
    ];

    pub fn parse(s: &str) -> Option<ScrapeProtocol> {
        ScrapeProtocol::ALL.into_iter().find(|p| p.as_str() == s)
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            ScrapeProtocol::PrometheusProto => "PrometheusProto",
            ScrapeProtocol::PrometheusText0_0_4 => "PrometheusText0.0.4",
            ScrapeProtocol::PrometheusText1_0_0 => "PrometheusText1.0.0",
            ScrapeProtocol::OpenMetricsText0_0_1 => "OpenMetricsText0.0.1",
            ScrapeProtocol::OpenMetricsText1_0_0 => "OpenMetricsText1.0.0",
        }
    }

    fn supported_list() -> String {
        let names: Vec<&str> = ScrapeProtocol::ALL.iter().map(|p| p.as_str()).collect();
        format!("[{}]", names.join(" "))
    }
}

/// `metric_name_escaping_scheme`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EscapingScheme {
    AllowUtf8,
    Underscores,
    Dots,
    Values,
}

impl EscapingScheme {
    pub fn parse(s: &str) -> Option<EscapingScheme> {
        Some(match s {
            "allow-utf-8" => EscapingScheme::AllowUtf8,
            "underscores" => EscapingScheme::Underscores,
            "dots" => EscapingScheme::Dots,
            "values" => EscapingScheme::Values,
            _ => return None,
        })
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            EscapingScheme::AllowUtf8 => "allow-utf-8",
            EscapingScheme::Underscores => "underscores",
            EscapingScheme::Dots => "dots",
            EscapingScheme::Values => "values",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct GlobalConfig {
    pub scrape_interval: Duration,
    pub scrape_timeout: Duration,
    pub evaluation_interval: Duration,
    pub rule_query_offset: Duration,
    pub external_labels: Labels,
    /// None: each job picks the default for its native-histogram setting.
    pub scrape_protocols: Option<Vec<ScrapeProtocol>>,
    pub body_size_limit: u64,
    pub sample_limit: u64,
    pub target_limit: u64,
    pub label_limit: u64,
    pub label_name_length_limit: u64,
    pub label_value_length_limit: u64,
    pub keep_dropped_targets: u64,
    pub metric_name_validation_scheme: NameValidation,
    pub metric_name_escaping_scheme: Option<EscapingScheme>,
    pub scrape_native_histograms: bool,
    pub always_scrape_classic_histograms: bool,
    pub convert_classic_histograms_to_nhcb: bool,
}

impl Default for GlobalConfig {
    fn default() -> Self {
        GlobalConfig {
            scrape_interval: Duration::from_secs(60),
            scrape_timeout: Duration::from_secs(10),
            evaluation_interval: Duration::from_secs(60),
            rule_query_offset: Duration::ZERO,
            external_labels: Labels::empty(),
            scrape_protocols: None,
            body_size_limit: 0,
            sample_limit: 0,
            target_limit: 0,
            label_limit: 0,
            label_name_length_limit: 0,
            label_value_length_limit: 0,
            keep_dropped_targets: 0,
            metric_name_validation_scheme: NameValidation::Utf8,
            metric_name_escaping_scheme: None,
            scrape_native_histograms: false,
            always_scrape_classic_histograms: false,
            convert_classic_histograms_to_nhcb: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScrapeConfig {
    pub job_name: String,
    pub honor_labels: bool,
    pub honor_timestamps: bool,
    pub track_timestamps_staleness: bool,
    pub params: BTreeMap<String, Vec<String>>,
    pub scrape_interval: Duration,
    pub scrape_timeout: Duration,
    pub scrape_protocols: Vec<ScrapeProtocol>,
    pub fallback_scrape_protocol: Option<ScrapeProtocol>,
    pub metrics_path: String,
    pub scheme: String,
    pub enable_compression: bool,
    pub body_size_limit: u64,
    pub sample_limit: u64,
    pub target_limit: u64,
    pub label_limit: u64,
    pub label_name_length_limit: u64,
    pub label_value_length_limit: u64,
    pub keep_dropped_targets: u64,
    pub metric_name_validation_scheme: NameValidation,
    pub metric_name_escaping_scheme: EscapingScheme,
    pub scrape_native_histograms: bool,
    pub always_scrape_classic_histograms: bool,
    pub convert_classic_histograms_to_nhcb: bool,
    pub native_histogram_bucket_limit: u64,
    pub native_histogram_min_bucket_factor: f64,
    pub http_client: HttpClientConfig,
    pub service_discovery: ServiceDiscovery,
    pub relabel_configs: Vec<RelabelConfig>,
    pub metric_relabel_configs: Vec<RelabelConfig>,
    /// The file this job was read from (the main file or one of
    /// `scrape_config_files`).
    pub source_file: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtobufMessage {
    /// `prometheus.WriteRequest` (remote-write 1.0), the default.
    V1,
    /// `io.prometheus.write.v2.Request`.
    V2,
}

impl ProtobufMessage {
    pub fn as_str(&self) -> &'static str {
        match self {
            ProtobufMessage::V1 => "prometheus.WriteRequest",
            ProtobufMessage::V2 => "io.prometheus.write.v2.Request",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueConfig {
    pub capacity: i64,
    pub max_shards: i64,
    pub min_shards: i64,
    pub max_samples_per_send: i64,
    pub batch_send_deadline: Duration,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    pub retry_on_http_429: bool,
    pub sample_age_limit: Duration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            capacity: 10_000,
            max_shards: 50,
            min_shards: 1,
            max_samples_per_send: 2000,
            batch_send_deadline: Duration::from_secs(5),
            min_backoff: Duration::from_millis(30),
            max_backoff: Duration::from_secs(5),
            retry_on_http_429: false,
            sample_age_limit: Duration::ZERO,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataConfig {
    pub send: bool,
    pub send_interval: Duration,
    pub max_samples_per_send: i64,
}

impl Default for MetadataConfig {
    fn default() -> Self {
        MetadataConfig {
            send: true,
            send_interval: Duration::from_secs(60),
            max_samples_per_send: 2000,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RemoteWriteConfig {
    pub url: String,
    pub name: String,
    pub remote_timeout: Duration,
    pub headers: BTreeMap<String, String>,
    pub write_relabel_configs: Vec<RelabelConfig>,
    pub send_exemplars: bool,
    pub send_native_histograms: bool,
    pub round_robin_dns: bool,
    pub protobuf_message: ProtobufMessage,
    pub http_client: HttpClientConfig,
    pub queue_config: QueueConfig,
    pub metadata_config: MetadataConfig,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RemoteReadConfig {
    pub url: String,
    pub name: String,
    pub remote_timeout: Duration,
    pub chunked_read_limit: u64,
    pub headers: BTreeMap<String, String>,
    pub read_recent: bool,
    pub required_matchers: Vec<(String, String)>,
    pub filter_external_labels: bool,
    pub http_client: HttpClientConfig,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AlertmanagerConfig {
    pub scheme: String,
    pub path_prefix: String,
    pub timeout: Duration,
    /// Always "v2": Prometheus 3 refuses anything else.
    pub api_version: String,
    pub http_client: HttpClientConfig,
    pub service_discovery: ServiceDiscovery,
    pub relabel_configs: Vec<RelabelConfig>,
    pub alert_relabel_configs: Vec<RelabelConfig>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct AlertingConfig {
    pub alert_relabel_configs: Vec<RelabelConfig>,
    pub alertmanagers: Vec<AlertmanagerConfig>,
}

/// A whole configuration file with Prometheus 3's defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub global: GlobalConfig,
    /// Rule file patterns, joined to the config file's directory when
    /// relative; [`Config::rule_file_paths`] expands them.
    pub rule_files: Vec<String>,
    /// `scrape_config_files` patterns (joined like `rule_files`); the jobs
    /// they hold are already in `scrape_configs`.
    pub scrape_config_files: Vec<String>,
    /// Every job, the main file's first, then each scrape config file's in
    /// pattern and file-name order.
    pub scrape_configs: Vec<ScrapeConfig>,
    pub remote_write: Vec<RemoteWriteConfig>,
    pub remote_read: Vec<RemoteReadConfig>,
    pub alerting: AlertingConfig,
    /// The text as read, for `/api/v1/status/config` when the raw form is
    /// wanted; [`Config::to_yaml`] gives the effective form.
    pub source: String,
    /// The name errors use for the main file.
    pub file: String,
    pub base_dir: PathBuf,
}

const TOP_LEVEL_OPAQUE: [&str; 4] = ["runtime", "storage", "tracing", "otlp"];

/// Prometheus' `patRulePath` (`^[^*]*(\*[^/]*)?$`): globs only in the last
/// path element.
fn valid_glob_path(p: &str) -> bool {
    match p.find('*') {
        None => true,
        Some(i) => !p[i + 1..].contains('/'),
    }
}

fn join_dir(base: &Path, file: &str) -> String {
    if file.is_empty() || Path::new(file).is_absolute() {
        file.to_string()
    } else {
        base.join(file).to_string_lossy().into_owned()
    }
}

/// Files matching glob patterns, each pattern's matches sorted by name,
/// as Go's `filepath.Glob` returns them.
pub fn expand_globs(patterns: &[String]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in patterns {
        // Go's `*` never crosses `/` and `**` is just `*`; the glob crate
        // would read `**` as a recursive wildcard.
        let mut go_pattern = p.clone();
        while go_pattern.contains("**") {
            go_pattern = go_pattern.replace("**", "*");
        }
        let paths = glob::glob(&go_pattern).map_err(|e| format!("invalid pattern {p:?}: {e}"))?;
        let mut matched: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
        matched.sort();
        out.extend(matched);
    }
    Ok(out)
}

impl Config {
    /// Reads and validates the configuration file at `path`; relative paths
    /// inside it are resolved against its directory.
    /// Agent mode (`strata run --agent`) has no rule evaluation, no
    /// alerting and no local queries: those sections are refused, as
    /// Prometheus' agent refuses them.
    pub fn check_agent(&self) -> Result<(), ConfigError> {
        let refuse = |path: &str| ConfigError::Invalid {
            file: self.file.clone(),
            pos: None,
            path: path.to_string(),
            message: "not allowed in agent mode".into(),
        };
        if !self.alerting.alertmanagers.is_empty()
            || !self.alerting.alert_relabel_configs.is_empty()
        {
            return Err(refuse("alerting"));
        }
        if !self.rule_files.is_empty() {
            return Err(refuse("rule_files"));
        }
        if !self.remote_read.is_empty() {
            return Err(refuse("remote_read"));
        }
        Ok(())
    }

    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let file = path.to_string_lossy().into_owned();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: file.clone(),
            source,
        })?;
        let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Config::parse(&text, &file, &base_dir)
    }

    /// Validates `text`; `file` names it in errors and `base_dir` resolves
    /// relative paths (including `scrape_config_files`, which are read).
    pub fn parse(text: &str, file: &str, base_dir: &Path) -> Result<Config, ConfigError> {
        let doc = Doc { file, text };
        let root = doc.parse()?;
        let mut f = doc.fields(&root, "")?;

        let global = match f.take("global") {
            Some(n) => decode_global(&doc, n)?,
            None => GlobalConfig::default(),
        };
        let mut rule_files = Vec::new();
        if let Some(n) = f.take("rule_files") {
            for (i, item) in doc.seq(n, "rule_files")?.iter().enumerate() {
                let p = format!("rule_files[{i}]");
                let s = doc.string(item, &p)?;
                if !valid_glob_path(&s) {
                    return Err(doc.err(item, &p, format!("invalid rule file path {s:?}")));
                }
                rule_files.push(join_dir(base_dir, &s));
            }
        }
        let mut scrape_config_files = Vec::new();
        if let Some(n) = f.take("scrape_config_files") {
            for (i, item) in doc.seq(n, "scrape_config_files")?.iter().enumerate() {
                let p = format!("scrape_config_files[{i}]");
                let s = doc.string(item, &p)?;
                if !valid_glob_path(&s) {
                    return Err(doc.err(
                        item,
                        &p,
                        format!("invalid scrape config file path {s:?}"),
                    ));
                }
                scrape_config_files.push(join_dir(base_dir, &s));
            }
        }
        let mut scrape_configs = Vec::new();
        if let Some(n) = f.take("scrape_configs") {
            scrape_configs = decode_scrape_list(&doc, n, "scrape_configs", &global, base_dir)?;
            let mut seen: Vec<&str> = Vec::new();
            for (i, (sc, item)) in scrape_configs
                .iter()
                .zip(doc.seq(n, "scrape_configs")?)
                .enumerate()
            {
                if seen.contains(&sc.job_name.as_str()) {
                    return Err(doc.err(
                        item,
                        &format!("scrape_configs[{i}].job_name"),
                        format!(
                            "found multiple scrape configs with job name {:?}",
                            sc.job_name
                        ),
                    ));
                }
                seen.push(&sc.job_name);
            }
        }
        let alerting = match f.take("alerting") {
            Some(n) => decode_alerting(&doc, n, &global, base_dir)?,
            None => AlertingConfig::default(),
        };
        let mut remote_write = Vec::new();
        if let Some(n) = f.take("remote_write") {
            for (i, item) in doc.seq(n, "remote_write")?.iter().enumerate() {
                let p = format!("remote_write[{i}]");
                if matches!(item.value, Value::Null) {
                    return Err(doc.err(item, &p, "empty or null remote write config section"));
                }
                let rw = decode_remote_write(&doc, item, &p, &global, base_dir)?;
                if !rw.name.is_empty()
                    && remote_write
                        .iter()
                        .any(|o: &RemoteWriteConfig| o.name == rw.name)
                {
                    return Err(doc.err(
                        item,
                        &p,
                        format!(
                            "found multiple remote write configs with job name {:?}",
                            rw.name
                        ),
                    ));
                }
                remote_write.push(rw);
            }
        }
        let mut remote_read = Vec::new();
        if let Some(n) = f.take("remote_read") {
            for (i, item) in doc.seq(n, "remote_read")?.iter().enumerate() {
                let p = format!("remote_read[{i}]");
                if matches!(item.value, Value::Null) {
                    return Err(doc.err(item, &p, "empty or null remote read config section"));
                }
                let rr = decode_remote_read(&doc, item, &p, base_dir)?;
                if !rr.name.is_empty()
                    && remote_read
                        .iter()
                        .any(|o: &RemoteReadConfig| o.name == rr.name)
                {
                    return Err(doc.err(
                        item,
                        &p,
                        format!(
                            "found multiple remote read configs with job name {:?}",
                            rr.name
                        ),
                    ));
                }
                remote_read.push(rr);
            }
        }
        for key in TOP_LEVEL_OPAQUE {
            // Sections for storage, tracing and the Go runtime: Strata takes
            // these settings from flags, so they are accepted and not read.
            let _ = f.take(key);
        }
        f.finish(&doc)?;

        let mut cfg = Config {
            global,
            rule_files,
            scrape_config_files,
            scrape_configs,
            remote_write,
            remote_read,
            alerting,
            source: text.to_string(),
            file: file.to_string(),
            base_dir: base_dir.to_path_buf(),
        };
        cfg.load_scrape_config_files()?;
        Ok(cfg)
    }

    /// Reads each `scrape_config_files` match (a file with only
    /// `scrape_configs:`), validated against this file's globals; a job
    /// name may appear once across all files.
    fn load_scrape_config_files(&mut self) -> Result<(), ConfigError> {
        let files =
            expand_globs(&self.scrape_config_files).map_err(|message| ConfigError::Invalid {
                file: self.file.clone(),
                pos: None,
                path: "scrape_config_files".into(),
                message,
            })?;
        for path in files {
            let file = path.to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                file: file.clone(),
                source,
            })?;
            let doc = Doc {
                file: &file,
                text: &text,
            };
            let root = doc.parse()?;
            let mut f = doc.fields(&root, "")?;
            let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
            let mut jobs = Vec::new();
            if let Some(n) = f.take("scrape_configs") {
                jobs = decode_scrape_list(&doc, n, "scrape_configs", &self.global, &dir)?;
                for (i, (sc, item)) in jobs.iter().zip(doc.seq(n, "scrape_configs")?).enumerate() {
                    let first = self
                        .scrape_configs
                        .iter()
                        .find(|o| o.job_name == sc.job_name)
                        .map(|o| o.source_file.clone())
                        .or_else(|| {
                            jobs[..i]
                                .iter()
                                .find(|o| o.job_name == sc.job_name)
                                .map(|o| o.source_file.clone())
                        });
                    if let Some(first) = first {
                        return Err(doc.err(
                            item,
                            &format!("scrape_configs[{i}].job_name"),
                            format!("found multiple scrape configs with job name {:?}, first found in {first}", sc.job_name),
                        ));
                    }
                }
            }
            f.finish(&doc)?;
            self.scrape_configs.extend(jobs);
        }
        Ok(())
    }

    /// The rule files the `rule_files` patterns match now.
    pub fn rule_file_paths(&self) -> Result<Vec<PathBuf>, ConfigError> {
        expand_globs(&self.rule_files).map_err(|message| ConfigError::Invalid {
            file: self.file.clone(),
            pos: None,
            path: "rule_files".into(),
            message,
        })
    }

    /// The effective configuration as YAML, defaults filled in, secrets
    /// shown as `<secret>`: what Prometheus' status page shows.
    pub fn to_yaml(&self) -> String {
        crate::emit::config_to_yaml(self)
    }
}

fn decode_validation_scheme(
    doc: &Doc<'_>,
    n: &Node,
    path: &str,
) -> Result<Option<NameValidation>, ConfigError> {
    let s = doc.string(n, path)?;
    match s.as_str() {
        "" => Ok(None),
        "utf8" => Ok(Some(NameValidation::Utf8)),
        "legacy" => Ok(Some(NameValidation::Legacy)),
        _ => Err(doc.err(n, path, format!("unrecognized ValidationScheme: {s:?}"))),
    }
}

fn decode_escaping(
    doc: &Doc<'_>,
    n: &Node,
    path: &str,
    what: &str,
) -> Result<Option<EscapingScheme>, ConfigError> {
    let s = doc.string(n, path)?;
    if s.is_empty() {
        return Ok(None);
    }
    EscapingScheme::parse(&s).map(Some).ok_or_else(|| {
        doc.err(
            n,
            path,
            format!("unknown {what} name escaping method specified, must be one of 'allow-utf-8', 'underscores', 'dots', or 'values', got {s:?}"),
        )
    })
}

fn decode_protocols(
    doc: &Doc<'_>,
    n: &Node,
    path: &str,
) -> Result<Vec<ScrapeProtocol>, ConfigError> {
    let names = doc.strings(n, path)?;
    if names.is_empty() {
        return Err(doc.err(n, path, "scrape_protocols cannot be empty"));
    }
    let mut out = Vec::new();
    let mut seen = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let lower = name.to_lowercase();
        if seen.contains(&lower) {
            return Err(doc.err(
                n,
                path,
                format!(
                    "duplicated protocol in scrape_protocols, got [{}]",
                    names.join(" ")
                ),
            ));
        }
        seen.push(lower);
        let p = ScrapeProtocol::parse(name).ok_or_else(|| {
            doc.err(
                n,
                &format!("{path}[{i}]"),
                format!(
                    "unknown scrape protocol {name}, supported: {}",
                    ScrapeProtocol::supported_list()
                ),
            )
        })?;
        out.push(p);
    }
    Ok(out)
}

/// Keys Prometheus reads that Strata refuses rather than ignores.
fn refuse(doc: &Doc<'_>, f: &mut Fields<'_>, keys: &[&str]) -> Result<(), ConfigError> {
    for key in keys {
        if let Some(n) = f.take(key)
            && !matches!(&n.value, Value::Null)
            && !matches!(&n.value, Value::Str(s) if s.is_empty())
        {
            return Err(doc.err(
                n,
                &f.child(key),
                format!("{key} is not supported by Strata yet"),
            ));
        }
    }
    Ok(())
}

fn decode_global(doc: &Doc<'_>, node: &Node) -> Result<GlobalConfig, ConfigError> {
    let mut f = doc.fields(node, "global")?;
    let mut g = GlobalConfig {
        scrape_interval: Duration::ZERO,
        scrape_timeout: Duration::ZERO,
        evaluation_interval: Duration::ZERO,
        ..GlobalConfig::default()
    };
    for (key, slot) in [
        ("scrape_interval", &mut g.scrape_interval),
        ("scrape_timeout", &mut g.scrape_timeout),
        ("evaluation_interval", &mut g.evaluation_interval),
        ("rule_query_offset", &mut g.rule_query_offset),
    ] {
        if let Some(n) = f.take(key) {
            *slot = doc.duration(n, &f.child(key))?;
        }
    }
    refuse(doc, &mut f, &["query_log_file", "scrape_failure_log_file"])?;
    if let Some(n) = f.take("body_size_limit") {
        g.body_size_limit = doc.size(n, &f.child("body_size_limit"))?;
    }
    for (key, slot) in [
        ("sample_limit", &mut g.sample_limit),
        ("target_limit", &mut g.target_limit),
        ("label_limit", &mut g.label_limit),
        ("label_name_length_limit", &mut g.label_name_length_limit),
        ("label_value_length_limit", &mut g.label_value_length_limit),
        ("keep_dropped_targets", &mut g.keep_dropped_targets),
    ] {
        if let Some(n) = f.take(key) {
            *slot = doc.uint(n, &f.child(key))?;
        }
    }
    for (key, slot) in [
        ("scrape_native_histograms", &mut g.scrape_native_histograms),
        (
            "always_scrape_classic_histograms",
            &mut g.always_scrape_classic_histograms,
        ),
        (
            "convert_classic_histograms_to_nhcb",
            &mut g.convert_classic_histograms_to_nhcb,
        ),
    ] {
        if let Some(n) = f.take(key) {
            *slot = doc.bool(n, &f.child(key))?;
        }
    }
    let _ = f
        .take("extra_scrape_metrics")
        .map(|n| doc.bool(n, "global.extra_scrape_metrics"))
        .transpose()?;
    if let Some(n) = f.take("metric_name_validation_scheme") {
        g.metric_name_validation_scheme =
            decode_validation_scheme(doc, n, &f.child("metric_name_validation_scheme"))?
                .unwrap_or_default();
    }
    if let Some(n) = f.take("metric_name_escaping_scheme") {
        g.metric_name_escaping_scheme =
            decode_escaping(doc, n, &f.child("metric_name_escaping_scheme"), "global")?;
    }
    if let Some(n) = f.take("external_labels") {
        let p = f.child("external_labels");
        let pairs = decode_label_set(doc, n, &p)?;
        for (name, _) in &pairs {
            if !g.metric_name_validation_scheme.is_valid_label_name(name) {
                return Err(doc.err(
                    n,
                    &format!("{p}.{name}"),
                    format!("{name:?} is not a valid label name"),
                ));
            }
        }
        g.external_labels = Labels::new(pairs.into_iter().map(|(n, v)| Label::new(n, v)).collect());
    }
    let mut protocols_node = None;
    if let Some(n) = f.take("scrape_protocols") {
        protocols_node = Some(n);
    }
    f.finish(doc)?;

    if g.scrape_interval.is_zero() {
        g.scrape_interval = Duration::from_secs(60);
    }
    if g.scrape_timeout > g.scrape_interval {
        return Err(doc.err(
            node,
            "global.scrape_timeout",
            "global scrape timeout greater than scrape interval",
        ));
    }
    if g.scrape_timeout.is_zero() {
        g.scrape_timeout = Duration::from_secs(10).min(g.scrape_interval);
    }
    if g.evaluation_interval.is_zero() {
        g.evaluation_interval = Duration::from_secs(60);
    }
    if let Some(n) = protocols_node
        && !matches!(n.value, Value::Null)
    {
        g.scrape_protocols = Some(decode_protocols(doc, n, "global.scrape_protocols").map_err(
            |e| match e {
                ConfigError::Invalid {
                    file,
                    pos,
                    path,
                    message,
                } => ConfigError::Invalid {
                    file,
                    pos,
                    path,
                    message: format!("{message} for global config"),
                },
                e => e,
            },
        )?);
    }
    Ok(g)
}

fn decode_scrape_list(
    doc: &Doc<'_>,
    node: &Node,
    path: &str,
    global: &GlobalConfig,
    base_dir: &Path,
) -> Result<Vec<ScrapeConfig>, ConfigError> {
    doc.seq(node, path)?
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let p = format!("{path}[{i}]");
            if matches!(item.value, Value::Null) {
                return Err(doc.err(item, &p, "empty or null scrape config section"));
            }
            decode_scrape(doc, item, &p, global, base_dir)
        })
        .collect()
}

fn decode_scrape(
    doc: &Doc<'_>,
    node: &Node,
    path: &str,
    global: &GlobalConfig,
    base_dir: &Path,
) -> Result<ScrapeConfig, ConfigError> {
    let mut f = doc.fields(node, path)?;
    let job_name = match f.take("job_name") {
        Some(n) => doc.string(n, &f.child("job_name"))?,
        None => String::new(),
    };
    if job_name.is_empty() {
        return Err(doc.err(node, &f.child("job_name"), "job_name is empty"));
    }
    let mut honor_labels = false;
    let mut honor_timestamps = true;
    let mut track_timestamps_staleness = false;
    let mut enable_compression = true;
    for (key, slot) in [
        ("honor_labels", &mut honor_labels),
        ("honor_timestamps", &mut honor_timestamps),
        (
            "track_timestamps_staleness",
            &mut track_timestamps_staleness,
        ),
        ("enable_compression", &mut enable_compression),
    ] {
        if let Some(n) = f.take(key) {
            *slot = doc.bool(n, &f.child(key))?;
        }
    }
    let mut params = BTreeMap::new();
    if let Some(n) = f.take("params") {
        let p = f.child("params");
        for (k, _, v) in doc.entries(n, &p)? {
            let values = doc.strings(v, &format!("{p}.{k}"))?;
            params.insert(k, values);
        }
    }
    let mut scrape_interval = Duration::ZERO;
    let mut scrape_timeout = Duration::ZERO;
    let mut timeout_node = None;
    if let Some(n) = f.take("scrape_interval") {
        scrape_interval = doc.duration(n, &f.child("scrape_interval"))?;
    }
    if let Some(n) = f.take("scrape_timeout") {
        scrape_timeout = doc.duration(n, &f.child("scrape_timeout"))?;
        timeout_node = Some(n);
    }
    let protocols_node = f
        .take("scrape_protocols")
        .filter(|n| !matches!(n.value, Value::Null));
    let mut fallback_scrape_protocol = None;
    if let Some(n) = f.take("fallback_scrape_protocol") {
        let p = f.child("fallback_scrape_protocol");
        let s = doc.string(n, &p)?;
        if !s.is_empty() {
            fallback_scrape_protocol = Some(ScrapeProtocol::parse(&s).ok_or_else(|| {
                doc.err(
                    n,
                    &p,
                    format!(
                        "invalid fallback_scrape_protocol for scrape config with job name {job_name:?}: unknown scrape protocol {s}, supported: {}",
                        ScrapeProtocol::supported_list()
                    ),
                )
            })?);
        }
    }
    let mut metrics_path = "/metrics".to_string();
    let mut scheme = "http".to_string();
    if let Some(n) = f.take("metrics_path") {
        let s = doc.string(n, &f.child("metrics_path"))?;
        if !s.is_empty() {
            metrics_path = s;
        }
    }
    let mut scheme_node = None;
    if let Some(n) = f.take("scheme") {
        let s = doc.string(n, &f.child("scheme"))?;
        if !s.is_empty() {
            scheme = s;
        }
        scheme_node = Some(n);
    }
    let mut body_size_limit = 0;
    if let Some(n) = f.take("body_size_limit") {
        body_size_limit = doc.size(n, &f.child("body_size_limit"))?;
    }
    let mut limits = [0u64; 7];
    const LIMIT_KEYS: [&str; 7] = [
        "sample_limit",
        "target_limit",
        "label_limit",
        "label_name_length_limit",
        "label_value_length_limit",
        "keep_dropped_targets",
        "native_histogram_bucket_limit",
    ];
    for (key, slot) in LIMIT_KEYS.iter().zip(limits.iter_mut()) {
        if let Some(n) = f.take(key) {
            *slot = doc.uint(n, &f.child(key))?;
        }
    }
    let mut native_histogram_min_bucket_factor = 0.0;
    if let Some(n) = f.take("native_histogram_min_bucket_factor") {
        native_histogram_min_bucket_factor =
            doc.float(n, &f.child("native_histogram_min_bucket_factor"))?;
    }
    let mut nh: [Option<bool>; 4] = [None; 4];
    for (key, slot) in [
        "scrape_native_histograms",
        "always_scrape_classic_histograms",
        "convert_classic_histograms_to_nhcb",
        "extra_scrape_metrics",
    ]
    .iter()
    .zip(nh.iter_mut())
    {
        if let Some(n) = f.take(key) {
            *slot = Some(doc.bool(n, &f.child(key))?);
        }
    }
    refuse(doc, &mut f, &["scrape_failure_log_file"])?;
    let mut local_scheme = None;
    if let Some(n) = f.take("metric_name_validation_scheme") {
        local_scheme = decode_validation_scheme(doc, n, &f.child("metric_name_validation_scheme"))?;
    }
    let mut local_escaping = None;
    let mut escaping_node = None;
    if let Some(n) = f.take("metric_name_escaping_scheme") {
        local_escaping = decode_escaping(
            doc,
            n,
            &f.child("metric_name_escaping_scheme"),
            "scrape config",
        )?;
        escaping_node = Some(n);
    }
    let http_client =
        HttpClientConfig::take(doc, &mut f, node, base_dir, HttpClientConfig::default())?;
    let service_discovery = ServiceDiscovery::take(doc, &mut f, base_dir)?;
    let relabel_node = f.take("relabel_configs");
    let metric_relabel_node = f.take("metric_relabel_configs");
    f.finish(doc)?;

    let has_relabel =
        relabel_node.is_some_and(|n| matches!(&n.value, Value::Seq(s) if !s.is_empty()));
    if !has_relabel {
        service_discovery
            .check_static_targets()
            .map_err(|m| doc.err(node, &format!("{path}.static_configs"), m))?;
    }
    if scheme != "http" && scheme != "https" {
        return Err(doc.err(
            scheme_node.unwrap_or(node),
            &format!("{path}.scheme"),
            format!("scheme must be \"http\" or \"https\", got {scheme:?}"),
        ));
    }

    // Prometheus' ScrapeConfig.Validate: inherit from the globals.
    if scrape_interval.is_zero() {
        scrape_interval = global.scrape_interval;
    }
    if scrape_timeout > scrape_interval {
        return Err(doc.err(
            timeout_node.unwrap_or(node),
            &format!("{path}.scrape_timeout"),
            format!("scrape timeout greater than scrape interval for scrape config with job name {job_name:?}"),
        ));
    }
    if scrape_timeout.is_zero() {
        scrape_timeout = global.scrape_timeout.min(scrape_interval);
    }
    if body_size_limit == 0 {
        body_size_limit = global.body_size_limit;
    }
    let globals = [
        global.sample_limit,
        global.target_limit,
        global.label_limit,
        global.label_name_length_limit,
        global.label_value_length_limit,
        global.keep_dropped_targets,
        0,
    ];
    for (l, g) in limits.iter_mut().zip(globals) {
        if *l == 0 {
            *l = g;
        }
    }
    let scrape_native_histograms = nh[0].unwrap_or(global.scrape_native_histograms);
    let scrape_protocols = match protocols_node {
        Some(n) => {
            decode_protocols(doc, n, &format!("{path}.scrape_protocols")).map_err(|e| match e {
                ConfigError::Invalid {
                    file,
                    pos,
                    path,
                    message,
                } => ConfigError::Invalid {
                    file,
                    pos,
                    path,
                    message: format!("{message} for scrape config with job name {job_name:?}"),
                },
                e => e,
            })?
        }
        None => match &global.scrape_protocols {
            Some(g) => g.clone(),
            None if scrape_native_histograms => ScrapeProtocol::PROTO_FIRST.to_vec(),
            None => ScrapeProtocol::DEFAULT.to_vec(),
        },
    };
    let validation = local_scheme.unwrap_or(global.metric_name_validation_scheme);
    let global_escaping =
        global
            .metric_name_escaping_scheme
            .unwrap_or(match global.metric_name_validation_scheme {
                NameValidation::Legacy => EscapingScheme::Underscores,
                NameValidation::Utf8 => EscapingScheme::AllowUtf8,
            });
    let escaping = match local_escaping {
        Some(e) => e,
        None if local_scheme.is_none() => global_escaping,
        None if validation == NameValidation::Legacy => EscapingScheme::Underscores,
        None => EscapingScheme::AllowUtf8,
    };
    if escaping == EscapingScheme::AllowUtf8 && validation != NameValidation::Utf8 {
        return Err(doc.err(
            escaping_node.unwrap_or(node),
            path,
            "utf8 metric names requested but validation scheme is not set to UTF8",
        ));
    }
    let relabel_configs = match relabel_node {
        Some(n) => relabel::decode_list(
            doc,
            n,
            &format!("{path}.relabel_configs"),
            validation,
            "target relabeling rule in scrape config",
        )?,
        None => Vec::new(),
    };
    let metric_relabel_configs = match metric_relabel_node {
        Some(n) => relabel::decode_list(
            doc,
            n,
            &format!("{path}.metric_relabel_configs"),
            validation,
            "metric relabeling rule in scrape config",
        )?,
        None => Vec::new(),
    };
    Ok(ScrapeConfig {
        job_name,
        honor_labels,
        honor_timestamps,
        track_timestamps_staleness,
        params,
        scrape_interval,
        scrape_timeout,
        scrape_protocols,
        fallback_scrape_protocol,
        metrics_path,
        scheme,
        enable_compression,
        body_size_limit,
        sample_limit: limits[0],
        target_limit: limits[1],
        label_limit: limits[2],
        label_name_length_limit: limits[3],
        label_value_length_limit: limits[4],
        keep_dropped_targets: limits[5],
        native_histogram_bucket_limit: limits[6],
        native_histogram_min_bucket_factor,
        metric_name_validation_scheme: validation,
        metric_name_escaping_scheme: escaping,
        scrape_native_histograms,
        always_scrape_classic_histograms: nh[1].unwrap_or(global.always_scrape_classic_histograms),
        convert_classic_histograms_to_nhcb: nh[2]
            .unwrap_or(global.convert_classic_histograms_to_nhcb),
        http_client,
        service_discovery,
        relabel_configs,
        metric_relabel_configs,
        source_file: doc.file.to_string(),
    })
}

fn decode_alerting(
    doc: &Doc<'_>,
    node: &Node,
    global: &GlobalConfig,
    base_dir: &Path,
) -> Result<AlertingConfig, ConfigError> {
    let mut f = doc.fields(node, "alerting")?;
    let scheme = global.metric_name_validation_scheme;
    let mut a = AlertingConfig::default();
    if let Some(n) = f.take("alert_relabel_configs") {
        a.alert_relabel_configs = relabel::decode_list(
            doc,
            n,
            "alerting.alert_relabel_configs",
            scheme,
            "alert relabeling rule",
        )?;
    }
    if let Some(n) = f.take("alertmanagers") {
        for (i, item) in doc.seq(n, "alerting.alertmanagers")?.iter().enumerate() {
            let p = format!("alerting.alertmanagers[{i}]");
            a.alertmanagers
                .push(decode_alertmanager(doc, item, &p, scheme, base_dir)?);
        }
    }
    f.finish(doc)?;
    Ok(a)
}

fn decode_alertmanager(
    doc: &Doc<'_>,
    node: &Node,
    path: &str,
    scheme: NameValidation,
    base_dir: &Path,
) -> Result<AlertmanagerConfig, ConfigError> {
    let mut f = doc.fields(node, path)?;
    let mut am_scheme = "http".to_string();
    let mut path_prefix = String::new();
    let mut timeout = Duration::from_secs(10);
    let mut api_version = "v2".to_string();
    if let Some(n) = f.take("scheme") {
        let s = doc.string(n, &f.child("scheme"))?;
        if !s.is_empty() {
            am_scheme = s;
        }
    }
    if let Some(n) = f.take("path_prefix") {
        path_prefix = doc.string(n, &f.child("path_prefix"))?;
    }
    if let Some(n) = f.take("timeout") {
        let t = doc.duration(n, &f.child("timeout"))?;
        if !t.is_zero() {
            timeout = t;
        }
    }
    if let Some(n) = f.take("api_version") {
        let p = f.child("api_version");
        let s = doc.string(n, &p)?;
        if s != "v2" {
            return Err(doc.err(
                n,
                &p,
                format!("expected Alertmanager api version to be one of [v2] but got {s}"),
            ));
        }
        api_version = s;
    }
    if let Some(n) = f.take("sigv4") {
        return Err(doc.err(n, &f.child("sigv4"), "sigv4 is not supported by Strata yet"));
    }
    let http_client =
        HttpClientConfig::take(doc, &mut f, node, base_dir, HttpClientConfig::default())?;
    let service_discovery = ServiceDiscovery::take(doc, &mut f, base_dir)?;
    let relabel_node = f.take("relabel_configs");
    let alert_relabel_node = f.take("alert_relabel_configs");
    f.finish(doc)?;
    let has_relabel =
        relabel_node.is_some_and(|n| matches!(&n.value, Value::Seq(s) if !s.is_empty()));
    if !has_relabel {
        service_discovery
            .check_static_targets()
            .map_err(|m| doc.err(node, &format!("{path}.static_configs"), m))?;
    }
    let relabel_configs = match relabel_node {
        Some(n) => relabel::decode_list(
            doc,
            n,
            &format!("{path}.relabel_configs"),
            scheme,
            "Alertmanager target relabeling rule",
        )?,
        None => Vec::new(),
    };
    let alert_relabel_configs = match alert_relabel_node {
        Some(n) => relabel::decode_list(
            doc,
            n,
            &format!("{path}.alert_relabel_configs"),
            scheme,
            "Alertmanager alert relabeling rule",
        )?,
        None => Vec::new(),
    };
    Ok(AlertmanagerConfig {
        scheme: am_scheme,
        path_prefix,
        timeout,
        api_version,
        http_client,
        service_discovery,
        relabel_configs,
        alert_relabel_configs,
    })
}

const RESERVED_HEADERS: [&str; 16] = [
    "host",
    "content-encoding",
    "content-length",
    "content-type",
    "user-agent",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "www-authenticate",
    "accept-encoding",
    "x-prometheus-remote-write-version",
    "x-prometheus-remote-read-version",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
];

fn decode_headers(
    doc: &Doc<'_>,
    node: &Node,
    path: &str,
) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut out = BTreeMap::new();
    for (name, key, v) in doc.entries(node, path)? {
        let lower = name.to_lowercase();
        if lower == "authorization" {
            return Err(doc.err(
                key,
                path,
                "authorization header must be changed via the basic_auth, authorization, oauth2, sigv4, azuread or google_iam parameter",
            ));
        }
        if RESERVED_HEADERS.contains(&lower.as_str()) {
            return Err(doc.err(
                key,
                path,
                format!("{name} is a reserved header. It must not be changed"),
            ));
        }
        let value = doc.string(v, &format!("{path}.{name}"))?;
        out.insert(name, value);
    }
    Ok(out)
}

fn decode_url(
    doc: &Doc<'_>,
    f: &mut Fields<'_>,
    node: &Node,
    what: &str,
) -> Result<String, ConfigError> {
    let url = match f.take("url") {
        Some(n) => doc.string(n, &f.child("url"))?,
        None => String::new(),
    };
    if url.is_empty() {
        return Err(doc.err(node, &f.child("url"), format!("url for {what} is empty")));
    }
    let (scheme, _) = url_scheme_host(&url);
    if url.contains(char::is_whitespace) || (url.contains("://") && scheme.is_empty()) {
        return Err(doc.err(node, &f.child("url"), format!("invalid URL {url:?}")));
    }
    Ok(url)
}

fn decode_remote_write(
    doc: &Doc<'_>,
    node: &Node,
    path: &str,
    global: &GlobalConfig,
    base_dir: &Path,
) -> Result<RemoteWriteConfig, ConfigError> {
    let mut f = doc.fields(node, path)?;
    let url = decode_url(doc, &mut f, node, "remote_write")?;
    let mut name = String::new();
    let mut remote_timeout = Duration::from_secs(30);
    let mut headers = BTreeMap::new();
    if let Some(n) = f.take("name") {
        name = doc.string(n, &f.child("name"))?;
    }
    if let Some(n) = f.take("remote_timeout") {
        let t = doc.duration(n, &f.child("remote_timeout"))?;
        if !t.is_zero() {
            remote_timeout = t;
        }
    }
    if let Some(n) = f.take("headers") {
        headers = decode_headers(doc, n, &f.child("headers"))?;
    }
    let mut flags = [false; 3];
    for (key, slot) in [
        "send_exemplars",
        "send_native_histograms",
        "round_robin_dns",
    ]
    .iter()
    .zip(flags.iter_mut())
    {
        if let Some(n) = f.take(key) {
            *slot = doc.bool(n, &f.child(key))?;
        }
    }
    let _ = f
        .take("failed_request_logging")
        .map(|n| doc.bool(n, "failed_request_logging"))
        .transpose()?;
    let mut protobuf_message = ProtobufMessage::V1;
    if let Some(n) = f.take("protobuf_message") {
        let p = f.child("protobuf_message");
        let s = doc.string(n, &p)?;
        protobuf_message = match s.as_str() {
            "" | "prometheus.WriteRequest" => ProtobufMessage::V1,
            "io.prometheus.write.v2.Request" => ProtobufMessage::V2,
            _ => {
                return Err(doc.err(
                    n,
                    &p,
                    format!(
                        "invalid protobuf_message value: unknown type for remote write protobuf message {s}, supported: prometheus.WriteRequest, io.prometheus.write.v2.Request"
                    ),
                ));
            }
        };
    }
    for key in ["sigv4", "azuread", "google_iam"] {
        if let Some(n) = f.take(key) {
            return Err(doc.err(
                n,
                &f.child(key),
                format!("{key} is not supported by Strata yet"),
            ));
        }
    }
    let rw_http_defaults = HttpClientConfig {
        enable_http2: false,
        ..HttpClientConfig::default()
    };
    let http_client = HttpClientConfig::take(doc, &mut f, node, base_dir, rw_http_defaults)?;
    let mut queue_config = QueueConfig::default();
    if let Some(n) = f.take("queue_config") {
        queue_config = decode_queue(doc, n, &f.child("queue_config"))?;
    }
    let mut metadata_config = MetadataConfig::default();
    if let Some(n) = f.take("metadata_config") {
        let p = f.child("metadata_config");
        let mut m = doc.fields(n, &p)?;
        if let Some(x) = m.take("send") {
            metadata_config.send = doc.bool(x, &m.child("send"))?;
        }
        if let Some(x) = m.take("send_interval") {
            metadata_config.send_interval = doc.duration(x, &m.child("send_interval"))?;
        }
        if let Some(x) = m.take("max_samples_per_send") {
            let v = doc.int(x, &m.child("max_samples_per_send"))?;
            if v != 0 {
                metadata_config.max_samples_per_send =
                    i64::try_from(v).map_err(|_| doc.err(x, &p, "value out of range"))?;
            }
        }
        m.finish(doc)?;
    }
    let relabel_node = f.take("write_relabel_configs");
    f.finish(doc)?;
    let write_relabel_configs = match relabel_node {
        Some(n) => relabel::decode_list(
            doc,
            n,
            &format!("{path}.write_relabel_configs"),
            global.metric_name_validation_scheme,
            "relabeling rule in remote write config",
        )?,
        None => Vec::new(),
    };
    Ok(RemoteWriteConfig {
        url,
        name,
        remote_timeout,
        headers,
        write_relabel_configs,
        send_exemplars: flags[0],
        send_native_histograms: flags[1],
        round_robin_dns: flags[2],
        protobuf_message,
        http_client,
        queue_config,
        metadata_config,
    })
}

fn decode_queue(doc: &Doc<'_>, node: &Node, path: &str) -> Result<QueueConfig, ConfigError> {
    let mut f = doc.fields(node, path)?;
    let mut q = QueueConfig::default();
    for (key, slot) in [
        ("capacity", &mut q.capacity),
        ("max_shards", &mut q.max_shards),
        ("min_shards", &mut q.min_shards),
        ("max_samples_per_send", &mut q.max_samples_per_send),
    ] {
        if let Some(n) = f.take(key) {
            let p = f.child(key);
            let v = doc.int(n, &p)?;
            // omitempty: an explicit 0 keeps the default, as yaml.v2 leaves it.
            if v != 0 {
                *slot = i64::try_from(v).map_err(|_| doc.err(n, &p, "value out of range"))?;
            }
        }
    }
    for (key, slot) in [
        ("batch_send_deadline", &mut q.batch_send_deadline),
        ("min_backoff", &mut q.min_backoff),
        ("max_backoff", &mut q.max_backoff),
        ("sample_age_limit", &mut q.sample_age_limit),
    ] {
        if let Some(n) = f.take(key) {
            *slot = doc.duration(n, &f.child(key))?;
        }
    }
    if let Some(n) = f.take("retry_on_http_429") {
        q.retry_on_http_429 = doc.bool(n, &f.child("retry_on_http_429"))?;
    }
    f.finish(doc)?;
    let fail = |m: &str| Err(doc.err(node, path, m.to_string()));
    if q.max_shards <= 0 {
        return fail("remote write queue max_shards must be positive");
    }
    if q.min_shards <= 0 {
        return fail("remote write queue min_shards must be positive");
    }
    if q.min_shards > q.max_shards {
        return fail("remote write queue min_shards must not be greater than max_shards");
    }
    if q.max_samples_per_send <= 0 {
        return fail("remote write queue max_samples_per_send must be positive");
    }
    if q.capacity <= 0 {
        return fail("remote write queue capacity must be positive");
    }
    if q.max_backoff < q.min_backoff {
        return fail("remote write queue max_backoff must not be less than min_backoff");
    }
    Ok(q)
}

fn decode_remote_read(
    doc: &Doc<'_>,
    node: &Node,
    path: &str,
    base_dir: &Path,
) -> Result<RemoteReadConfig, ConfigError> {
    let mut f = doc.fields(node, path)?;
    let url = decode_url(doc, &mut f, node, "remote_read")?;
    let mut r = RemoteReadConfig {
        url,
        name: String::new(),
        remote_timeout: Duration::from_secs(60),
        chunked_read_limit: 50_000_000,
        headers: BTreeMap::new(),
        read_recent: false,
        required_matchers: Vec::new(),
        filter_external_labels: true,
        http_client: HttpClientConfig::default(),
    };
    if let Some(n) = f.take("name") {
        r.name = doc.string(n, &f.child("name"))?;
    }
    if let Some(n) = f.take("remote_timeout") {
        let t = doc.duration(n, &f.child("remote_timeout"))?;
        if !t.is_zero() {
            r.remote_timeout = t;
        }
    }
    if let Some(n) = f.take("chunked_read_limit") {
        let v = doc.uint(n, &f.child("chunked_read_limit"))?;
        if v != 0 {
            r.chunked_read_limit = v;
        }
    }
    if let Some(n) = f.take("headers") {
        r.headers = decode_headers(doc, n, &f.child("headers"))?;
    }
    if let Some(n) = f.take("read_recent") {
        r.read_recent = doc.bool(n, &f.child("read_recent"))?;
    }
    if let Some(n) = f.take("filter_external_labels") {
        r.filter_external_labels = doc.bool(n, &f.child("filter_external_labels"))?;
    }
    if let Some(n) = f.take("required_matchers") {
        r.required_matchers = decode_label_set(doc, n, &f.child("required_matchers"))?;
    }
    r.http_client =
        HttpClientConfig::take(doc, &mut f, node, base_dir, HttpClientConfig::default())?;
    f.finish(doc)?;
    Ok(r)
}
