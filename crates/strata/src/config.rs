//! The `--config` file: Prometheus' YAML shape. This issue reads `global`;
//! the other top-level sections are accepted (so an existing prometheus.yml
//! loads) and reported as not acted on yet.

use anyhow::{Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

// Sections are accepted so an existing prometheus.yml loads; the ones this
// version does not act on are only checked for presence.
#[allow(dead_code)]
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub global: Global,
    pub scrape_configs: Option<serde::de::IgnoredAny>,
    pub scrape_config_files: Option<serde::de::IgnoredAny>,
    pub rule_files: Option<serde::de::IgnoredAny>,
    pub alerting: Option<serde::de::IgnoredAny>,
    pub remote_write: Option<serde::de::IgnoredAny>,
    pub remote_read: Option<serde::de::IgnoredAny>,
    pub storage: Option<serde::de::IgnoredAny>,
    pub tracing: Option<serde::de::IgnoredAny>,
    pub otlp: Option<serde::de::IgnoredAny>,
    pub runtime: Option<serde::de::IgnoredAny>,
}

#[allow(dead_code)]
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Global {
    pub scrape_interval: Option<String>,
    pub scrape_timeout: Option<String>,
    pub evaluation_interval: Option<String>,
    pub rule_query_offset: Option<String>,
    #[serde(default)]
    pub external_labels: BTreeMap<String, String>,
    pub query_log_file: Option<String>,
    pub scrape_protocols: Option<serde::de::IgnoredAny>,
    pub body_size_limit: Option<String>,
    pub sample_limit: Option<u64>,
    pub label_limit: Option<u64>,
    pub label_name_length_limit: Option<u64>,
    pub label_value_length_limit: Option<u64>,
    pub target_limit: Option<u64>,
    pub keep_dropped_targets: Option<u64>,
    pub metric_name_validation_scheme: Option<String>,
}

impl ConfigFile {
    pub fn load(path: &Path) -> Result<ConfigFile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("config file {}", path.display()))
    }

    pub fn parse(text: &str) -> Result<ConfigFile> {
        if text.trim().is_empty() {
            return Ok(ConfigFile::default());
        }
        // serde-saphyr's errors carry line and column.
        let cfg: ConfigFile = serde_saphyr::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))?;
        for (field, v) in [
            ("global.scrape_interval", &cfg.global.scrape_interval),
            ("global.scrape_timeout", &cfg.global.scrape_timeout),
            (
                "global.evaluation_interval",
                &cfg.global.evaluation_interval,
            ),
        ] {
            if let Some(s) = v {
                strata_model::units::parse_duration(s)
                    .map_err(|e| anyhow::anyhow!("field {field}: {e}"))?;
            }
        }
        Ok(cfg)
    }

    /// Sections this version parses but does not act on, for a startup warning.
    pub fn inactive_sections(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.scrape_configs.is_some() || self.scrape_config_files.is_some() {
            v.push("scrape_configs");
        }
        if self.rule_files.is_some() {
            v.push("rule_files");
        }
        if self.alerting.is_some() {
            v.push("alerting");
        }
        if self.remote_write.is_some() || self.remote_read.is_some() {
            v.push("remote_write/remote_read");
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_prometheus_yml() {
        let cfg = ConfigFile::parse(
            "global:\n  scrape_interval: 15s\n  external_labels:\n    cluster: a\nscrape_configs:\n  - job_name: x\n",
        )
        .unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(
            cfg.global
                .external_labels
                .get("cluster")
                .map(String::as_str),
            Some("a")
        );
        assert_eq!(cfg.inactive_sections(), vec!["scrape_configs"]);
    }

    #[test]
    fn errors_name_line_and_field() {
        let err = ConfigFile::parse("global:\n  scrape_intervall: 15s\n")
            .err()
            .map(|e| format!("{e:#}"));
        let err = err.unwrap_or_default();
        assert!(err.contains("scrape_intervall"), "{err}");
        assert!(err.contains('2'), "line number missing: {err}");
        let err = ConfigFile::parse("global:\n  scrape_interval: 15 seconds\n")
            .err()
            .map(|e| format!("{e:#}"));
        assert!(err.unwrap_or_default().contains("global.scrape_interval"));
    }
}
