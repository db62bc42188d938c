//! The remote-write sender: every `remote_write` entry of prometheus.yml
//! gets a queue that sees each batch the ingester stored (a
//! `WriteObserver`), adds the external labels, applies
//! `write_relabel_configs` and sends remote-write 1.0 requests from a few
//! shards, retrying 5xx (and 429 with `retry_on_http_429`) with backoff.
//!
//! Unlike Prometheus, which tails its WAL, the queues are in memory: a
//! remote that is down longer than the queues hold loses samples (counted in
//! `strata_remote_storage_samples_dropped_total`), and samples queued at a
//! restart are not resent.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Duration;
use strata_config::{Config, RemoteWriteConfig, relabel};
use strata_ingest::WriteObserver;
use strata_model::{
    Label, LabelRef, Labels, PackedLabels, Sample, TenantId, WriteBatch, hash_pairs,
};
use tokio::sync::mpsc;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RemoteLabels {
    pub remote_name: String,
    pub url: String,
}

/// `strata_remote_storage_*`, as Prometheus' `prometheus_remote_storage_*`.
#[derive(Clone, Default)]
pub struct RemoteMetrics {
    pub sent: Family<RemoteLabels, Counter>,
    pub failed: Family<RemoteLabels, Counter>,
    pub retried: Family<RemoteLabels, Counter>,
    pub dropped: Family<RemoteLabels, Counter>,
}

impl RemoteMetrics {
    pub fn register(registry: &mut Registry) -> RemoteMetrics {
        let m = RemoteMetrics::default();
        let r = registry.sub_registry_with_prefix("strata_remote_storage");
        r.register(
            "samples",
            "Samples sent to a remote-write endpoint and accepted by it",
            m.sent.clone(),
        );
        r.register(
            "samples_failed",
            "Samples a remote-write endpoint refused for good (a 4xx other than a retried 429), or that failed after retries ended with the queue's shutdown",
            m.failed.clone(),
        );
        r.register(
            "samples_retried",
            "Samples sent again after a recoverable error (5xx, 429, a network error)",
            m.retried.clone(),
        );
        r.register(
            "samples_dropped",
            "Samples dropped because a remote-write queue was full",
            m.dropped.clone(),
        );
        m
    }
}

/// One queued sample with its series' labels, packed into one allocation
/// (the queues hold up to `capacity` of them per shard).
type Item = (PackedLabels, Sample);

/// One `remote_write` entry: its shards and what feeds them.
pub struct RemoteQueue {
    name: RemoteLabels,
    external: Labels,
    relabel: Vec<relabel::RelabelConfig>,
    tenant: TenantId,
    shards: Vec<mpsc::Sender<Item>>,
    metrics: RemoteMetrics,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for RemoteQueue {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// A series' labels plus the external labels it lacks, packed; both
/// inputs sorted by name.
fn packed_with_external(own: &[LabelRef<'_>], external: &Labels) -> PackedLabels {
    let mut ext = external.iter().peekable();
    let mut out: Vec<(&str, &str)> = Vec::with_capacity(own.len() + external.len());
    for l in own {
        while let Some(e) = ext.next_if(|e| e.name.as_str() < l.name) {
            out.push((&e.name, &e.value));
        }
        if ext.peek().is_some_and(|e| e.name == l.name) {
            ext.next();
        }
        out.push((l.name, l.value));
    }
    out.extend(ext.map(|e| (e.name.as_str(), e.value.as_str())));
    PackedLabels::from_pairs(out.into_iter())
}

/// Shards per queue: Prometheus starts at `min_shards` and reshards by
/// throughput up to `max_shards`; Strata runs a fixed number between them.
fn shard_count(cfg: &RemoteWriteConfig) -> usize {
    let min = usize::try_from(cfg.queue_config.min_shards.max(1)).unwrap_or(1);
    let max = usize::try_from(cfg.queue_config.max_shards.max(1)).unwrap_or(1);
    min.max(4.min(max))
}

impl RemoteQueue {
    /// Starts the queue's shards on the current tokio runtime.
    pub fn start(
        cfg: &RemoteWriteConfig,
        index: usize,
        external: &Labels,
        tenant: TenantId,
        metrics: RemoteMetrics,
        user_agent: &str,
    ) -> Result<RemoteQueue, String> {
        let client = strata_scrape::client::build(&cfg.http_client)?;
        let name = RemoteLabels {
            remote_name: if cfg.name.is_empty() {
                format!("remote-{index}")
            } else {
                cfg.name.clone()
            },
            url: cfg.url.clone(),
        };
        // Every counter reads 0 from the start, not absent.
        for f in [
            &metrics.sent,
            &metrics.failed,
            &metrics.retried,
            &metrics.dropped,
        ] {
            drop(f.get_or_create(&name));
        }
        let n = shard_count(cfg);
        let capacity = usize::try_from(cfg.queue_config.capacity.max(1)).unwrap_or(10_000);
        let mut shards = Vec::with_capacity(n);
        let mut tasks = Vec::with_capacity(n);
        let sender = Arc::new(Sender {
            cfg: cfg.clone(),
            client,
            name: name.clone(),
            metrics: metrics.clone(),
            user_agent: user_agent.to_string(),
        });
        for _ in 0..n {
            let (tx, rx) = mpsc::channel(capacity);
            shards.push(tx);
            tasks.push(tokio::spawn(run_shard(sender.clone(), rx)));
        }
        Ok(RemoteQueue {
            name,
            external: external.clone(),
            relabel: cfg.write_relabel_configs.clone(),
            tenant,
            shards,
            metrics,
            tasks,
        })
    }
}

impl WriteObserver for RemoteQueue {
    fn observe(&self, tenant: &TenantId, batch: &WriteBatch<'_>, rejected: &[usize]) {
        if *tenant != self.tenant {
            return;
        }
        let mut skip = rejected.iter().peekable();
        let mut dropped = 0u64;
        for i in 0..batch.len() {
            if skip.peek().is_some_and(|r| **r == i) {
                skip.next();
                continue;
            }
            let own = batch.series_labels(i);
            let labels = if self.relabel.is_empty() {
                // Both sides are sorted by name: merge them, the series'
                // own labels winning, without building `Labels`.
                packed_with_external(own, &self.external)
            } else {
                let mut pairs: Vec<Label> =
                    own.iter().map(|l| Label::new(l.name, l.value)).collect();
                for e in self.external.iter() {
                    if !own.iter().any(|l| l.name == e.name) {
                        pairs.push(e.clone());
                    }
                }
                match relabel::process(&Labels::new(pairs), &self.relabel) {
                    Some(l) => PackedLabels::from_labels(&l),
                    None => continue,
                }
            };
            let h = hash_pairs(labels.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())));
            let shard = (h % self.shards.len().max(1) as u64) as usize;
            let Some(tx) = self.shards.get(shard) else {
                continue;
            };
            for s in batch.series_samples(i) {
                if tx.try_send((labels.clone(), *s)).is_err() {
                    dropped += 1;
                }
            }
        }
        if dropped > 0 {
            self.metrics
                .dropped
                .get_or_create(&self.name)
                .inc_by(dropped);
        }
    }
}

struct Sender {
    cfg: RemoteWriteConfig,
    client: reqwest::Client,
    name: RemoteLabels,
    metrics: RemoteMetrics,
    user_agent: String,
}

impl Sender {
    /// Sends one request, retrying recoverable failures with backoff
    /// until it succeeds or fails for good.
    async fn send(&self, batch: &[Item]) {
        // One TimeSeries per series of the batch, samples in queue order.
        let mut index: std::collections::BTreeMap<&PackedLabels, usize> = Default::default();
        let mut series: Vec<(Vec<(&[u8], &[u8])>, Vec<(i64, f64)>)> = Vec::new();
        for (l, s) in batch {
            match index.get(l) {
                Some(&i) => series[i].1.push((s.t, s.v)),
                None => {
                    index.insert(l, series.len());
                    let pairs = l
                        .iter()
                        .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
                        .collect();
                    series.push((pairs, vec![(s.t, s.v)]));
                }
            }
        }
        let raw = strata_ingest::encode_write_request_raw(&series);
        let body = match snap::raw::Encoder::new().compress_vec(&raw) {
            Ok(b) => bytes::Bytes::from(b),
            Err(e) => {
                tracing::error!(remote = %self.name.remote_name, error = %e, "remote-write: compressing a batch");
                self.metrics
                    .failed
                    .get_or_create(&self.name)
                    .inc_by(batch.len() as u64);
                return;
            }
        };
        let n = batch.len() as u64;
        let q = &self.cfg.queue_config;
        let mut backoff = q.min_backoff.max(Duration::from_millis(1));
        loop {
            let mut req = self
                .client
                .post(&self.cfg.url)
                .timeout(self.cfg.remote_timeout)
                .header("Content-Encoding", "snappy")
                .header("Content-Type", "application/x-protobuf")
                .header("User-Agent", self.user_agent.as_str())
                .header("X-Prometheus-Remote-Write-Version", "0.1.0")
                .body(body.clone());
            for (k, v) in &self.cfg.headers {
                req = req.header(k.as_str(), v.as_str());
            }
            let req = match strata_scrape::client::authorize(req, &self.cfg.http_client) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(remote = %self.name.remote_name, error = %e, "remote-write credentials");
                    self.metrics.failed.get_or_create(&self.name).inc_by(n);
                    return;
                }
            };
            let (recoverable, why, retry_after) = match req.send().await {
                Ok(resp) if resp.status().is_success() => {
                    self.metrics.sent.get_or_create(&self.name).inc_by(n);
                    return;
                }
                Ok(resp) => {
                    let status = resp.status();
                    let retry_after = resp
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let text = resp.text().await.unwrap_or_default();
                    let recoverable = status.is_server_error()
                        || (status == reqwest::StatusCode::TOO_MANY_REQUESTS
                            && q.retry_on_http_429);
                    (
                        recoverable,
                        format!("server returned HTTP status {status}: {}", text.trim()),
                        retry_after,
                    )
                }
                Err(e) => (true, e.to_string(), None),
            };
            if !recoverable {
                tracing::error!(remote = %self.name.remote_name, error = %why, samples = n, "remote-write refused a batch: dropping it");
                self.metrics.failed.get_or_create(&self.name).inc_by(n);
                return;
            }
            tracing::warn!(remote = %self.name.remote_name, error = %why, "remote-write failed: retrying");
            self.metrics.retried.get_or_create(&self.name).inc_by(n);
            tokio::time::sleep(retry_after.unwrap_or(backoff)).await;
            backoff = (backoff * 2).min(q.max_backoff.max(q.min_backoff));
        }
    }
}

/// Collects up to `max_samples_per_send` samples, or what arrived within
/// `batch_send_deadline`, and sends them; per series, samples stay in
/// order (a series always maps to the same shard).
async fn run_shard(sender: Arc<Sender>, mut rx: mpsc::Receiver<Item>) {
    let max = usize::try_from(sender.cfg.queue_config.max_samples_per_send.max(1)).unwrap_or(2000);
    let deadline = sender
        .cfg
        .queue_config
        .batch_send_deadline
        .max(Duration::from_millis(10));
    let mut batch: Vec<Item> = Vec::with_capacity(max);
    loop {
        let first = match rx.recv().await {
            Some(i) => i,
            None => return,
        };
        batch.push(first);
        let until = tokio::time::Instant::now() + deadline;
        while batch.len() < max {
            match tokio::time::timeout_at(until, rx.recv()).await {
                Ok(Some(i)) => batch.push(i),
                Ok(None) | Err(_) => break,
            }
        }
        sender.send(&batch).await;
        batch.clear();
    }
}

/// The running queues; a reload keeps every queue whose entry (and the
/// external labels) did not change, with what it holds.
pub struct RemoteWriters {
    tenant: TenantId,
    metrics: RemoteMetrics,
    user_agent: String,
    running: parking_lot::Mutex<Vec<(RemoteWriteConfig, Labels, Arc<RemoteQueue>)>>,
}

impl RemoteWriters {
    pub fn new(tenant: TenantId, metrics: RemoteMetrics, user_agent: String) -> RemoteWriters {
        RemoteWriters {
            tenant,
            metrics,
            user_agent,
            running: parking_lot::Mutex::new(Vec::new()),
        }
    }

    /// The observers for `cfg` (hand them to `Ingester::set_observers`);
    /// must run inside the tokio runtime.
    pub fn apply(&self, cfg: &Config) -> Vec<Arc<dyn WriteObserver>> {
        let mut running = self.running.lock();
        let mut old = std::mem::take(&mut *running);
        let external = &cfg.global.external_labels;
        for (i, rw) in cfg.remote_write.iter().enumerate() {
            if let Some(pos) = old.iter().position(|(c, e, _)| c == rw && e == external) {
                running.push(old.swap_remove(pos));
                continue;
            }
            match RemoteQueue::start(
                rw,
                i,
                external,
                self.tenant.clone(),
                self.metrics.clone(),
                &self.user_agent,
            ) {
                Ok(q) => {
                    tracing::info!(remote = %q.name.remote_name, url = %rw.url, "remote-write queue started");
                    running.push((rw.clone(), external.clone(), Arc::new(q)));
                }
                Err(e) => {
                    tracing::error!(url = %rw.url, error = %e, "remote-write queue not started")
                }
            }
        }
        running
            .iter()
            .map(|(_, _, q)| q.clone() as Arc<dyn WriteObserver>)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_labels_merge_in_order_and_the_series_wins() {
        let own = [
            LabelRef {
                name: "__name__",
                value: "m",
            },
            LabelRef {
                name: "dc",
                value: "own",
            },
            LabelRef {
                name: "job",
                value: "j",
            },
        ];
        let external = Labels::from_pairs([("a", "1"), ("dc", "ext"), ("z", "9")]);
        let got: Vec<(String, String)> = packed_with_external(&own, &external)
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        let want: Vec<(String, String)> = [
            ("__name__", "m"),
            ("a", "1"),
            ("dc", "own"),
            ("job", "j"),
            ("z", "9"),
        ]
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
        assert_eq!(got, want);
        assert_eq!(
            packed_with_external(&own, &Labels::empty()).to_labels(),
            Labels::from_pairs([("__name__", "m"), ("dc", "own"), ("job", "j")])
        );
    }
}
