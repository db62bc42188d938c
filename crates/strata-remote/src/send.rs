//! One shard of a queue: batches its samples and sends them, one request
//! in flight at a time (so per series, samples arrive in log order), and
//! records how far its acknowledgements reach in the log.

use crate::{ProgressBook, RemoteLabels, RemoteMetrics};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use strata_config::RemoteWriteConfig;
use strata_model::{LogPosition, PackedLabels, Sample};
use tokio::sync::mpsc;

/// What the reader hands a shard.
pub(crate) enum Item {
    Sample(LogPosition, PackedLabels, Sample),
    /// The reader has handed over everything before this position: once
    /// what the shard holds is acknowledged, the shard's progress is here.
    Mark(LogPosition),
}

/// What the queue's shards share with its reader.
pub(crate) struct Sender {
    pub cfg: RemoteWriteConfig,
    pub client: reqwest::Client,
    pub name: RemoteLabels,
    pub metrics: RemoteMetrics,
    pub user_agent: String,
    /// Time spent sending and samples sent: the resharding's time per sample.
    pub send_nanos: AtomicU64,
    pub samples_out: AtomicU64,
    /// Set while some shard retries: no resharding then.
    pub retrying: AtomicBool,
}

impl Sender {
    /// Sends one request, retrying recoverable failures with backoff until
    /// it succeeds or fails for good (a 4xx other than a retried 429).
    async fn send(&self, batch: &[(LogPosition, PackedLabels, Sample)]) {
        let started = std::time::Instant::now();
        // One TimeSeries per series of the batch, samples in log order.
        let mut index: std::collections::BTreeMap<&PackedLabels, usize> = Default::default();
        let mut series: Vec<(Vec<(&[u8], &[u8])>, Vec<(i64, f64)>)> = Vec::new();
        for (_, l, s) in batch {
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
        let n = batch.len() as u64;
        let highest = batch.iter().map(|(_, _, s)| s.t).max().unwrap_or(0);
        let raw = strata_ingest::encode_write_request_raw(&series);
        let body = match snap::raw::Encoder::new().compress_vec(&raw) {
            Ok(b) => bytes::Bytes::from(b),
            Err(e) => {
                tracing::error!(remote = %self.name.remote_name, error = %e, "remote-write: compressing a batch");
                self.metrics.failed.get_or_create(&self.name).inc_by(n);
                return;
            }
        };
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
                    let m = &self.metrics.highest_sent;
                    let g = m.get_or_create(&self.name);
                    let secs = highest as f64 / 1000.0;
                    if secs > g.get() {
                        g.set(secs);
                    }
                    self.send_nanos.fetch_add(
                        u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX),
                        Ordering::Relaxed,
                    );
                    self.samples_out.fetch_add(n, Ordering::Relaxed);
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
            self.retrying.store(true, Ordering::Relaxed);
            tokio::time::sleep(retry_after.unwrap_or(backoff)).await;
            self.retrying.store(false, Ordering::Relaxed);
            backoff = (backoff * 2).min(q.max_backoff.max(q.min_backoff));
        }
    }
}

/// Collects up to `max_samples_per_send` samples, or what arrived within
/// `batch_send_deadline`, sends them, then moves the shard's progress past
/// them (and past any mark that arrived meanwhile). Ends once the reader
/// dropped its end of the channel and everything queued is sent.
pub(crate) async fn run_shard(
    sender: Arc<Sender>,
    mut rx: mpsc::Receiver<Item>,
    book: Arc<ProgressBook>,
    shard: usize,
    pending: Arc<AtomicU64>,
) {
    let max = usize::try_from(sender.cfg.queue_config.max_samples_per_send.max(1)).unwrap_or(2000);
    let deadline = sender
        .cfg
        .queue_config
        .batch_send_deadline
        .max(Duration::from_millis(10));
    let advance = |to: LogPosition| book.advance(shard, to);
    let mut batch: Vec<(LogPosition, PackedLabels, Sample)> = Vec::with_capacity(max);
    let mut mark: Option<LogPosition> = None;
    let mut open = true;
    while open {
        match rx.recv().await {
            Some(Item::Sample(p, l, s)) => batch.push((p, l, s)),
            Some(Item::Mark(p)) => {
                advance(p);
                continue;
            }
            None => return,
        }
        let until = tokio::time::Instant::now() + deadline;
        while batch.len() < max {
            match tokio::time::timeout_at(until, rx.recv()).await {
                Ok(Some(Item::Sample(p, l, s))) => batch.push((p, l, s)),
                Ok(Some(Item::Mark(p))) => mark = Some(p),
                Ok(None) => {
                    open = false;
                    break;
                }
                Err(_) => break,
            }
        }
        sender.send(&batch).await;
        pending.fetch_sub(batch.len() as u64, Ordering::Relaxed);
        let last = batch.last().map(|(p, _, _)| *p);
        if let Some(to) = last.max(mark.take()) {
            advance(to);
        }
        batch.clear();
    }
}
