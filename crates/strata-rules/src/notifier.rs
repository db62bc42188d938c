//! Sending alerts to Alertmanager, as Prometheus' `notifier` package: a
//! bounded queue (the oldest alerts dropped, and counted, when it is
//! full), batches of up to 256 alerts POSTed to every discovered
//! Alertmanager's v2 API (`/api/v2/alerts`), the global external labels
//! and `alert_relabel_configs` applied. Alertmanagers are found with the
//! same service discovery as scrape targets, relabeled by
//! `alertmanagers[].relabel_configs`.

use parking_lot::Mutex;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::SystemTime;
use strata_config::{AlertingConfig, AlertmanagerConfig, relabel};
use strata_model::Labels;

/// Prometheus' `maxBatchSize`.
const MAX_BATCH: usize = 256;

/// One alert as Alertmanager's v2 API takes it.
#[derive(Debug, Clone, PartialEq)]
pub struct PostableAlert {
    pub labels: Labels,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: SystemTime,
    pub ends_at: SystemTime,
    pub generator_url: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AlertmanagerLabels {
    pub alertmanager: String,
}

/// `strata_notifications_*`, as Prometheus' `prometheus_notifications_*`.
#[derive(Clone, Default)]
pub struct NotifierMetrics {
    sent: Family<AlertmanagerLabels, Counter>,
    errors: Family<AlertmanagerLabels, Counter>,
    dropped: Counter,
    queue_length: Gauge,
    queue_capacity: Gauge,
    discovered: Gauge,
}

impl NotifierMetrics {
    pub fn register(registry: &mut Registry) -> NotifierMetrics {
        let m = NotifierMetrics::default();
        let r = registry.sub_registry_with_prefix("strata_notifications");
        r.register(
            "sent",
            "Alerts sent to an Alertmanager (accepted or not)",
            m.sent.clone(),
        );
        r.register(
            "errors",
            "Alerts whose sending to an Alertmanager failed",
            m.errors.clone(),
        );
        r.register(
            "dropped",
            "Alerts dropped: the queue was full, or no Alertmanager was configured or answered",
            m.dropped.clone(),
        );
        r.register(
            "queue_length",
            "Alerts waiting in the notification queue",
            m.queue_length.clone(),
        );
        r.register(
            "queue_capacity",
            "Capacity of the notification queue",
            m.queue_capacity.clone(),
        );
        r.register(
            "alertmanagers_discovered",
            "Alertmanagers discovered and active",
            m.discovered.clone(),
        );
        m
    }
}

/// One `alertmanagers` entry: its discovery and client.
struct AlertmanagerSet {
    cfg: AlertmanagerConfig,
    client: reqwest::Client,
    discovered: Arc<strata_scrape::discovery::Discovered>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for AlertmanagerSet {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl AlertmanagerSet {
    /// The `/api/v2/alerts` URLs of the Alertmanagers discovered now.
    fn urls(&self) -> Vec<String> {
        let mut out = Vec::new();
        for g in self.discovered.groups() {
            for t in &g.targets {
                let mut b = t.builder();
                for l in g.labels.iter() {
                    if b.get(&l.name).is_none() {
                        b.set(&l.name, &l.value);
                    }
                }
                if b.get("__scheme__").is_none() {
                    b.set("__scheme__", &self.cfg.scheme);
                }
                let path = format!(
                    "{}/api/v2/alerts",
                    self.cfg.path_prefix.trim_end_matches('/')
                );
                b.set("__alerts_path__", &path);
                let Some(l) = relabel::process(&b.labels(), &self.cfg.relabel_configs) else {
                    continue;
                };
                let (Some(addr), Some(scheme), Some(path)) = (
                    l.get("__address__"),
                    l.get("__scheme__"),
                    l.get("__alerts_path__"),
                ) else {
                    continue;
                };
                out.push(format!("{scheme}://{addr}{path}"));
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

pub struct Notifier {
    queue: Mutex<VecDeque<PostableAlert>>,
    capacity: usize,
    wake: tokio::sync::Notify,
    sets: Mutex<Vec<Arc<AlertmanagerSet>>>,
    external: Mutex<(Labels, Vec<relabel::RelabelConfig>)>,
    metrics: NotifierMetrics,
}

fn rfc3339(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn body(alerts: &[PostableAlert]) -> Vec<u8> {
    let list: Vec<serde_json::Value> = alerts
        .iter()
        .map(|a| {
            let labels: serde_json::Map<String, serde_json::Value> = a
                .labels
                .iter()
                .map(|l| (l.name.to_string(), l.value.as_str().into()))
                .collect();
            serde_json::json!({
                "labels": labels,
                "annotations": a.annotations,
                "startsAt": rfc3339(a.starts_at),
                "endsAt": rfc3339(a.ends_at),
                "generatorURL": a.generator_url,
            })
        })
        .collect();
    serde_json::to_vec(&list).unwrap_or_default()
}

impl Notifier {
    /// A notifier with a queue of `capacity` alerts (Prometheus'
    /// `--alertmanager.notification-queue-capacity`); call `run` on the
    /// runtime to start sending.
    pub fn new(capacity: usize, metrics: NotifierMetrics) -> Arc<Notifier> {
        metrics.queue_capacity.set(capacity as i64);
        Arc::new(Notifier {
            queue: Mutex::new(VecDeque::new()),
            capacity: capacity.max(1),
            wake: tokio::sync::Notify::new(),
            sets: Mutex::new(Vec::new()),
            external: Mutex::new((Labels::empty(), Vec::new())),
            metrics,
        })
    }

    /// Applies the `alerting` section and the external labels (inside the
    /// tokio runtime): discovery restarts for every Alertmanager set.
    pub fn apply(&self, alerting: &AlertingConfig, external_labels: &Labels) {
        let mut sets = Vec::new();
        for cfg in &alerting.alertmanagers {
            let client = match strata_scrape::client::build(&cfg.http_client) {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(error = %e, "Alertmanager client not built: this set is skipped");
                    continue;
                }
            };
            let (discovered, tasks) = strata_scrape::discovery::start(
                &cfg.service_discovery,
                strata_scrape::client::build,
            );
            sets.push(Arc::new(AlertmanagerSet {
                cfg: cfg.clone(),
                client,
                discovered,
                tasks,
            }));
        }
        *self.sets.lock() = sets;
        *self.external.lock() = (
            external_labels.clone(),
            alerting.alert_relabel_configs.clone(),
        );
        self.wake.notify_one();
    }

    /// Queues alerts for sending (never blocks): external labels the alert
    /// lacks are added, then `alert_relabel_configs` apply.
    pub fn send(&self, alerts: Vec<PostableAlert>) {
        if alerts.is_empty() {
            return;
        }
        let (external, relabels) = self.external.lock().clone();
        let mut q = self.queue.lock();
        for mut a in alerts {
            if !external.is_empty() {
                let mut b = a.labels.builder();
                for l in external.iter() {
                    if b.get(&l.name).is_none() {
                        b.set(&l.name, &l.value);
                    }
                }
                a.labels = b.labels();
            }
            match relabel::process(&a.labels, &relabels) {
                Some(l) => a.labels = l,
                None => continue,
            }
            q.push_back(a);
        }
        let over = q.len().saturating_sub(self.capacity);
        if over > 0 {
            q.drain(..over);
            self.metrics.dropped.inc_by(over as u64);
            tracing::warn!(
                dropped = over,
                "alert notification queue full: dropping the oldest alerts"
            );
        }
        self.metrics.queue_length.set(q.len() as i64);
        drop(q);
        self.wake.notify_one();
    }

    /// Sends batches until the process ends.
    pub async fn run(self: Arc<Self>) {
        loop {
            let batch: Vec<PostableAlert> = {
                let mut q = self.queue.lock();
                let n = q.len().min(MAX_BATCH);
                let b = q.drain(..n).collect();
                self.metrics.queue_length.set(q.len() as i64);
                b
            };
            if batch.is_empty() {
                self.wake.notified().await;
                continue;
            }
            self.send_batch(&batch).await;
        }
    }

    async fn send_batch(&self, batch: &[PostableAlert]) {
        let sets: Vec<Arc<AlertmanagerSet>> = self.sets.lock().clone();
        let mut delivered = false;
        let mut discovered = 0;
        for set in sets {
            let alerts: Vec<PostableAlert> = if set.cfg.alert_relabel_configs.is_empty() {
                batch.to_vec()
            } else {
                batch
                    .iter()
                    .filter_map(|a| {
                        relabel::process(&a.labels, &set.cfg.alert_relabel_configs).map(|l| {
                            PostableAlert {
                                labels: l,
                                ..a.clone()
                            }
                        })
                    })
                    .collect()
            };
            if alerts.is_empty() {
                continue;
            }
            let payload = bytes::Bytes::from(body(&alerts));
            let urls = set.urls();
            discovered += urls.len();
            let sends = urls.into_iter().map(|url| {
                let req = set
                    .client
                    .post(&url)
                    .timeout(set.cfg.timeout)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .header(
                        reqwest::header::USER_AGENT,
                        concat!("Strata/", env!("CARGO_PKG_VERSION")),
                    )
                    .body(payload.clone());
                let req = strata_scrape::client::authorize(req, &set.cfg.http_client);
                let n = alerts.len() as u64;
                let metrics = self.metrics.clone();
                async move {
                    let l = AlertmanagerLabels {
                        alertmanager: url.clone(),
                    };
                    metrics.sent.get_or_create(&l).inc_by(n);
                    let ok = match req {
                        Ok(req) => match req.send().await {
                            Ok(r) if r.status().is_success() => true,
                            Ok(r) => {
                                tracing::warn!(alertmanager = %url, status = %r.status(), "Alertmanager refused alerts");
                                false
                            }
                            Err(e) => {
                                tracing::warn!(alertmanager = %url, error = %e, "sending alerts failed");
                                false
                            }
                        },
                        Err(e) => {
                            tracing::warn!(alertmanager = %url, error = %e, "Alertmanager credentials");
                            false
                        }
                    };
                    if !ok {
                        metrics.errors.get_or_create(&l).inc_by(n);
                    }
                    ok
                }
            });
            let results = futures_util::future::join_all(sends).await;
            delivered |= results.into_iter().any(|ok| ok);
        }
        self.metrics.discovered.set(discovered as i64);
        if !delivered {
            // Prometheus counts a batch no Alertmanager took as dropped.
            self.metrics.dropped.inc_by(batch.len() as u64);
        }
    }
}
