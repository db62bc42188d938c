//! Service discovery: static targets, files (JSON or YAML, watched),
//! HTTP endpoints and Kubernetes (`crate::kubernetes`), each producing
//! target groups as Prometheus' discovery mechanisms of the same names do.
//!
//! Every provider of a job publishes its current groups into that job's
//! [`Discovered`] slot and wakes the pool, which rebuilds its targets from
//! all slots. A provider that fails keeps its last good groups (logged),
//! as Prometheus does.

use crate::target::{ADDRESS, TargetGroup};
use parking_lot::Mutex;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use strata_config::{FileSdConfig, HttpSdConfig, ServiceDiscovery, expand_globs};
use strata_model::{Label, Labels};
use tokio::sync::Notify;

/// The groups every provider of one job currently reports, one slot per
/// provider, and a wake-up for the pool when any slot changes.
#[derive(Default)]
pub struct Discovered {
    slots: Mutex<Vec<Vec<TargetGroup>>>,
    pub changed: Notify,
}

impl Discovered {
    pub(crate) fn new(providers: usize) -> Arc<Discovered> {
        Arc::new(Discovered {
            slots: Mutex::new(vec![Vec::new(); providers]),
            changed: Notify::new(),
        })
    }

    pub(crate) fn publish(&self, slot: usize, groups: Vec<TargetGroup>) {
        {
            let mut slots = self.slots.lock();
            match slots.get_mut(slot) {
                Some(s) if *s == groups => return,
                Some(s) => *s = groups,
                None => return,
            }
        }
        self.changed.notify_one();
    }

    /// Every group of every provider, in provider order.
    pub fn groups(&self) -> Vec<TargetGroup> {
        self.slots.lock().iter().flatten().cloned().collect()
    }
}

/// One `targets`/`labels` entry of a file or HTTP discovery document.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupDoc {
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

fn group_from_doc(doc: GroupDoc, source: String, meta: (&str, &str)) -> TargetGroup {
    let mut labels: Vec<Label> = doc
        .labels
        .into_iter()
        .map(|(n, v)| Label::new(n, v))
        .collect();
    labels.push(Label::new(meta.0, meta.1));
    TargetGroup {
        source,
        targets: doc
            .targets
            .into_iter()
            .map(|t| Labels::from_pairs([(ADDRESS, t.as_str())]))
            .collect(),
        labels: Labels::new(labels),
    }
}

/// Why a discovery document was not used.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Parse { path: String, reason: String },
    #[error("{0}")]
    Http(String),
}

/// The groups of one file SD file: JSON when it ends in `.json`, else
/// YAML (Prometheus accepts `.json`, `.yml` and `.yaml`).
pub fn read_sd_file(path: &Path) -> Result<Vec<TargetGroup>, DiscoveryError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| DiscoveryError::Read {
        path: shown.clone(),
        source,
    })?;
    let docs: Vec<GroupDoc> = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).map_err(|e| DiscoveryError::Parse {
            path: shown.clone(),
            reason: e.to_string(),
        })?
    } else if text.trim().is_empty() {
        Vec::new()
    } else {
        serde_saphyr::from_str(&text).map_err(|e| DiscoveryError::Parse {
            path: shown.clone(),
            reason: e.to_string(),
        })?
    };
    for d in &docs {
        if let Some(bad) = d.targets.iter().find(|t| t.is_empty() || t.contains('/')) {
            return Err(DiscoveryError::Parse {
                path: shown.clone(),
                reason: format!("invalid target {bad:?}: \"/\" or empty targets are not allowed"),
            });
        }
    }
    Ok(docs
        .into_iter()
        .enumerate()
        .map(|(i, d)| group_from_doc(d, format!("{shown}:{i}"), ("__meta_filepath", &shown)))
        .collect())
}

/// The files a file SD config currently matches, with their mtimes.
fn file_states(cfg: &FileSdConfig) -> Vec<(PathBuf, Option<SystemTime>, u64)> {
    expand_globs(&cfg.files)
        .unwrap_or_default()
        .into_iter()
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e == "json" || e == "yml" || e == "yaml")
        })
        .map(|p| {
            let md = std::fs::metadata(&p).ok();
            let mtime = md.as_ref().and_then(|m| m.modified().ok());
            let len = md.map(|m| m.len()).unwrap_or(0);
            (p, mtime, len)
        })
        .collect()
}

/// How often file SD looks for changed files; Prometheus is told by
/// inotify, a second's polling costs a few `stat`s.
const FILE_POLL: Duration = Duration::from_secs(1);

async fn run_file_sd(cfg: FileSdConfig, slot: usize, out: Arc<Discovered>) {
    // Last good groups per file, so a broken file keeps its old targets.
    let mut good: BTreeMap<PathBuf, Vec<TargetGroup>> = BTreeMap::new();
    let mut last_states = None;
    let mut last_full = tokio::time::Instant::now();
    loop {
        let states = file_states(&cfg);
        let due = last_full.elapsed() >= cfg.refresh_interval;
        if last_states.as_ref() != Some(&states) || due {
            last_full = tokio::time::Instant::now();
            good.retain(|p, _| states.iter().any(|(s, _, _)| s == p));
            for (path, _, _) in &states {
                match read_sd_file(path) {
                    Ok(groups) => {
                        good.insert(path.clone(), groups);
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "file service discovery: keeping the file's previous targets");
                    }
                }
            }
            out.publish(slot, good.values().flatten().cloned().collect());
            last_states = Some(states);
        }
        tokio::time::sleep(FILE_POLL).await;
    }
}

async fn fetch_http_sd(
    client: &reqwest::Client,
    cfg: &HttpSdConfig,
) -> Result<Vec<TargetGroup>, DiscoveryError> {
    let secs = cfg.refresh_interval.as_secs_f64();
    let resp = client
        .get(&cfg.url)
        .header("X-Prometheus-Refresh-Interval-Seconds", format!("{secs}"))
        .header("Accept", "application/json")
        .send()
        .await
        .map_err(|e| DiscoveryError::Http(format!("{}: {e}", cfg.url)))?;
    let status = resp.status();
    if status != reqwest::StatusCode::OK {
        return Err(DiscoveryError::Http(format!(
            "server returned HTTP status {status}"
        )));
    }
    let ct = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if !ct
        .split(';')
        .next()
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
    {
        return Err(DiscoveryError::Http(format!(
            "unsupported content type {ct:?}"
        )));
    }
    let body = resp
        .bytes()
        .await
        .map_err(|e| DiscoveryError::Http(e.to_string()))?;
    let docs: Vec<GroupDoc> = serde_json::from_slice(&body).map_err(|e| DiscoveryError::Parse {
        path: cfg.url.clone(),
        reason: e.to_string(),
    })?;
    Ok(docs
        .into_iter()
        .enumerate()
        .map(|(i, d)| group_from_doc(d, format!("{}:{i}", cfg.url), ("__meta_url", &cfg.url)))
        .collect())
}

async fn run_http_sd(
    cfg: HttpSdConfig,
    client: reqwest::Client,
    slot: usize,
    out: Arc<Discovered>,
) {
    loop {
        match fetch_http_sd(&client, &cfg).await {
            Ok(groups) => out.publish(slot, groups),
            Err(e) => {
                tracing::error!(url = %cfg.url, error = %e, "HTTP service discovery: keeping the previous targets")
            }
        }
        tokio::time::sleep(cfg.refresh_interval).await;
    }
}

/// Starts every provider of `sd` on the current runtime; they run until
/// the returned handles are aborted. `http_client` builds the client of an
/// HTTP SD config.
pub fn start(
    sd: &ServiceDiscovery,
    http_client: impl Fn(&strata_config::HttpClientConfig) -> Result<reqwest::Client, String>,
) -> (Arc<Discovered>, Vec<tokio::task::JoinHandle<()>>) {
    let providers = sd.static_configs.len().min(1)
        + sd.file_sd_configs.len()
        + sd.http_sd_configs.len()
        + sd.kubernetes_sd_configs.len();
    let out = Discovered::new(providers);
    let mut tasks = Vec::new();
    let mut slot = 0;
    if !sd.static_configs.is_empty() {
        let groups = sd
            .static_configs
            .iter()
            .enumerate()
            .map(|(i, s)| TargetGroup {
                source: i.to_string(),
                targets: s
                    .targets
                    .iter()
                    .map(|t| Labels::from_pairs([(ADDRESS, t.as_str())]))
                    .collect(),
                labels: s.label_set(),
            })
            .collect();
        out.publish(slot, groups);
        slot += 1;
    }
    for f in &sd.file_sd_configs {
        tasks.push(tokio::spawn(run_file_sd(f.clone(), slot, out.clone())));
        slot += 1;
    }
    for h in &sd.http_sd_configs {
        match http_client(&h.http_client) {
            Ok(client) => tasks.push(tokio::spawn(run_http_sd(
                h.clone(),
                client,
                slot,
                out.clone(),
            ))),
            Err(e) => {
                tracing::error!(url = %h.url, error = %e, "HTTP service discovery: no client")
            }
        }
        slot += 1;
    }
    for k in &sd.kubernetes_sd_configs {
        tasks.push(tokio::spawn(crate::kubernetes::run(
            k.clone(),
            slot,
            out.clone(),
            crate::kubernetes::Timing::default(),
        )));
        slot += 1;
    }
    (out, tasks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_sd_reads_json_and_yaml_and_refuses_bad_targets() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let json = dir.path().join("a.json");
        std::fs::write(
            &json,
            r#"[{"targets": ["h1:9100", "h2:9100"], "labels": {"env": "prod"}}, {"targets": []}]"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let groups = read_sd_file(&json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].targets.len(), 2);
        assert_eq!(groups[0].labels.get("env"), Some("prod"));
        assert_eq!(
            groups[0].labels.get("__meta_filepath"),
            Some(json.display().to_string().as_str())
        );
        assert_eq!(groups[0].source, format!("{}:0", json.display()));

        let yaml = dir.path().join("b.yml");
        std::fs::write(&yaml, "- targets: ['h3:1']\n  labels:\n    team: a\n")
            .unwrap_or_else(|e| panic!("{e}"));
        let groups = read_sd_file(&yaml).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(groups[0].targets[0].get(ADDRESS), Some("h3:1"));

        std::fs::write(&yaml, "- targets: ['http://h/x']\n").unwrap_or_else(|e| panic!("{e}"));
        assert!(read_sd_file(&yaml).is_err());
        std::fs::write(&yaml, "- targetz: ['h:1']\n").unwrap_or_else(|e| panic!("{e}"));
        assert!(read_sd_file(&yaml).is_err());
    }
}
