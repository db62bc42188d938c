//! The remote-write sender, as Prometheus' queue manager: every
//! `remote_write` entry of prometheus.yml gets a queue that tails the
//! tenant's WAL (`strata_model::SampleLog`), adds the external labels,
//! applies `write_relabel_configs` and sends remote-write 1.0 requests from
//! shards (series hashed to a shard, so per series samples stay in order),
//! retrying 5xx (and 429 with `retry_on_http_429`) with backoff and
//! resharding by throughput between `min_shards` and `max_shards`.
//!
//! Progress: each shard knows the log position up to which the remote
//! acknowledged its samples; the queue saves those positions through
//! storage every second, and storage keeps the WAL from the oldest one on.
//! A restart resumes from the saved positions, skipping per shard what its
//! shard had acknowledged: nothing acknowledged is sent twice, nothing
//! logged is lost (short of a power failure, which may bring back older
//! progress: then some samples are sent again, never dropped). A remote
//! that is down makes the queue wait, not drop: the WAL is kept.

mod send;

use parking_lot::Mutex;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use send::{Item, Sender, run_shard};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use strata_config::{Config, RemoteWriteConfig, relabel};
use strata_model::{
    Label, LabelRef, Labels, LogCursor, LogPosition, PackedLabels, QueueProgress, SampleLog,
    TenantId, hash_pairs,
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
    pub shards: Family<RemoteLabels, Gauge>,
    pub shards_desired: Family<RemoteLabels, Gauge<f64, AtomicU64>>,
    pub pending: Family<RemoteLabels, Gauge>,
    pub highest_sent: Family<RemoteLabels, Gauge<f64, AtomicU64>>,
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
            "Samples a remote-write endpoint refused for good (a 4xx other than a retried 429)",
            m.failed.clone(),
        );
        r.register(
            "samples_retried",
            "Samples sent again after a recoverable error (5xx, 429, a network error)",
            m.retried.clone(),
        );
        r.register(
            "samples_dropped",
            "Samples not sent: dropped by write_relabel_configs or older than queue_config.sample_age_limit",
            m.dropped.clone(),
        );
        r.register("shards", "Shards the queue sends from", m.shards.clone());
        r.register(
            "shards_desired",
            "Shards the queue's throughput calls for (it reshards when this is 30% away from shards)",
            m.shards_desired.clone(),
        );
        r.register(
            "samples_pending",
            "Samples read from the WAL and waiting in the queue's shards",
            m.pending.clone(),
        );
        r.register(
            "queue_highest_sent_timestamp_seconds",
            "Newest sample timestamp the remote acknowledged, in seconds since the epoch",
            m.highest_sent.clone(),
        );
        m
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

fn clamp_shards(cfg: &RemoteWriteConfig, n: usize) -> usize {
    let min = usize::try_from(cfg.queue_config.min_shards.max(1)).unwrap_or(1);
    let max = usize::try_from(cfg.queue_config.max_shards.max(1))
        .unwrap_or(1)
        .max(min);
    n.clamp(min, max)
}

/// The file-name-safe id the queue's progress is saved under: its name
/// (or "remote") and a hash of its URL, so pointing an entry elsewhere
/// starts afresh instead of skipping what the new remote never got.
pub fn queue_id(cfg: &RemoteWriteConfig) -> String {
    let base: String = if cfg.name.is_empty() {
        "remote".into()
    } else {
        cfg.name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .take(64)
            .collect()
    };
    let h = hash_pairs(std::iter::once((b"url".as_slice(), cfg.url.as_bytes())));
    format!("{base}-{h:016x}")
}

/// How often the reader polls the log once caught up, tells idle shards
/// how far it read, and reconsiders the shard count.
const POLL: Duration = Duration::from_millis(50);
const MARK_EVERY: Duration = Duration::from_secs(1);
const RESHARD_EVERY: Duration = Duration::from_secs(10);

/// One `remote_write` entry: a thread reading the WAL into the shards.
pub struct RemoteQueue {
    name: RemoteLabels,
    stop: Arc<AtomicBool>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Drop for RemoteQueue {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

struct Shard {
    tx: mpsc::Sender<Item>,
    task: tokio::task::JoinHandle<()>,
}

/// The queue's progress: one position per shard, saved through storage
/// whenever it moves (after each acknowledged batch), so a `kill -9` right
/// after an acknowledgement does not send that batch again.
pub(crate) struct ProgressBook {
    log: Arc<dyn SampleLog>,
    tenant: TenantId,
    id: String,
    name: RemoteLabels,
    shards: Mutex<Vec<LogPosition>>,
    saved: Mutex<Option<QueueProgress>>,
}

impl ProgressBook {
    /// Moves shard `i` to `to` (never back) and saves.
    pub(crate) fn advance(&self, i: usize, to: LogPosition) {
        {
            let mut s = self.shards.lock();
            match s.get_mut(i) {
                Some(p) if to > *p => *p = to,
                _ => return,
            }
        }
        self.save();
    }

    fn reset(&self, shards: Vec<LogPosition>) {
        *self.shards.lock() = shards;
        self.save();
    }

    fn save(&self) {
        // One saver at a time, writing the newest state.
        let mut saved = self.saved.lock();
        let p = QueueProgress {
            shards: self.shards.lock().clone(),
        };
        if saved.as_ref() == Some(&p) {
            return;
        }
        match self.log.save_progress(&self.tenant, &self.id, &p) {
            Ok(()) => *saved = Some(p),
            Err(e) => {
                tracing::error!(remote = %self.name.remote_name, error = %e, "saving remote-write progress")
            }
        }
    }
}

/// The reader's state: it owns the cursor and the shards.
struct Reader {
    sender: Arc<Sender>,
    runtime: tokio::runtime::Handle,
    external: Labels,
    relabel: Vec<relabel::RelabelConfig>,
    capacity: usize,
    shards: Vec<Shard>,
    book: Arc<ProgressBook>,
    /// After a restart, per shard, what it had acknowledged (skipped).
    skip: Vec<LogPosition>,
    /// Per series id: the labels to send and their hash; `None`: dropped
    /// by `write_relabel_configs`.
    cache: HashMap<u32, Option<(PackedLabels, u64)>>,
    pending: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Reader {
    /// Starts one shard per entry of `progress`, each from its position.
    fn start_shards(&mut self, progress: Vec<LogPosition>) {
        let n = progress.len();
        self.book.reset(progress);
        self.shards = (0..n)
            .map(|i| {
                let (tx, rx) = mpsc::channel(self.capacity);
                let task = self.runtime.spawn(run_shard(
                    self.sender.clone(),
                    rx,
                    self.book.clone(),
                    i,
                    self.pending.clone(),
                ));
                Shard { tx, task }
            })
            .collect();
        let m = &self.sender.metrics;
        m.shards.get_or_create(&self.sender.name).set(n as i64);
        m.shards_desired
            .get_or_create(&self.sender.name)
            .set(n as f64);
    }

    fn labels_for(&mut self, id: u32, own: &PackedLabels) -> Option<(PackedLabels, u64)> {
        if let Some(c) = self.cache.get(&id) {
            return c.clone();
        }
        let refs: Vec<LabelRef<'_>> = own
            .iter()
            .map(|(name, value)| LabelRef { name, value })
            .collect();
        let labels = if self.relabel.is_empty() {
            // Both sides are sorted by name: merge them, the series' own
            // labels winning, without building `Labels`.
            Some(packed_with_external(&refs, &self.external))
        } else {
            let mut pairs: Vec<Label> = refs.iter().map(|l| Label::new(l.name, l.value)).collect();
            for e in self.external.iter() {
                if !refs.iter().any(|l| l.name == e.name) {
                    pairs.push(e.clone());
                }
            }
            relabel::process(&Labels::new(pairs), &self.relabel)
                .map(|l| PackedLabels::from_labels(&l))
        };
        let entry = labels.map(|l| {
            let h = hash_pairs(l.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())));
            (l, h)
        });
        self.cache.insert(id, entry.clone());
        entry
    }

    /// Tells every shard the reader is past `at`.
    fn mark(&self, at: LogPosition) {
        for s in &self.shards {
            // A full shard gets the next mark; marks only move progress.
            let _ = s.tx.try_send(Item::Mark(at));
        }
    }

    /// Lets every shard send what it holds, then starts `n` new ones at `at`.
    fn reshard(&mut self, n: usize, at: LogPosition) {
        self.mark(at);
        let old = std::mem::take(&mut self.shards);
        let mut tasks = Vec::with_capacity(old.len());
        for s in old {
            drop(s.tx);
            tasks.push(s.task);
        }
        for t in tasks {
            while !t.is_finished() {
                if self.stop.load(Ordering::Relaxed) {
                    t.abort();
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        self.skip.clear();
        self.start_shards(vec![at; n]);
    }

    fn run(mut self, mut cursor: Box<dyn LogCursor>) {
        let cfg = self.sender.cfg.clone();
        let age_limit = cfg.queue_config.sample_age_limit;
        let read_max = usize::try_from(cfg.queue_config.max_samples_per_send.max(1))
            .unwrap_or(2000)
            .saturating_mul(4)
            .max(1000);
        let mut last_mark = Instant::now();
        let mut last_reshard = Instant::now();
        let mut read_since = 0u64;
        let mut caught_up_once = false;
        let mut out_nanos = self.sender.send_nanos.load(Ordering::Relaxed);
        let mut out_samples = self.sender.samples_out.load(Ordering::Relaxed);
        let metrics = self.sender.metrics.clone();
        let name = self.sender.name.clone();
        // Reused between reads: one read is up to `read_max` samples.
        let mut batch: Vec<(LogPosition, u32, PackedLabels, strata_model::Sample)> =
            Vec::with_capacity(read_max);
        'reading: while !self.stop.load(Ordering::Relaxed) {
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            let oldest_ms = if age_limit.is_zero() {
                i64::MIN
            } else {
                now_ms.saturating_sub(age_limit.as_millis() as i64)
            };
            batch.clear();
            let read = cursor.read(read_max, &mut |s| {
                batch.push((s.position, s.series_id, s.labels.clone(), s.sample));
            });
            let n = match read {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(remote = %name.remote_name, error = %e, "reading the WAL for remote-write; retrying");
                    std::thread::sleep(Duration::from_secs(1));
                    continue;
                }
            };
            for id in cursor.take_forgotten() {
                self.cache.remove(&id);
            }
            let mut dropped = 0u64;
            for (pos, id, own, sample) in batch.drain(..) {
                let Some((labels, h)) = self.labels_for(id, &own) else {
                    dropped += 1;
                    continue;
                };
                let shard = (h % self.shards.len().max(1) as u64) as usize;
                if self.skip.get(shard).is_some_and(|acked| pos <= *acked) {
                    continue;
                }
                if sample.t < oldest_ms {
                    dropped += 1;
                    continue;
                }
                let Some(s) = self.shards.get(shard) else {
                    continue;
                };
                self.pending.fetch_add(1, Ordering::Relaxed);
                // Waits while the shard is full: a slow remote holds the
                // reader (and the WAL), it never drops samples.
                let mut item = Item::Sample(pos, labels, sample);
                loop {
                    match s.tx.try_send(item) {
                        Ok(()) => break,
                        Err(mpsc::error::TrySendError::Full(back)) => {
                            if self.stop.load(Ordering::Relaxed) {
                                break 'reading;
                            }
                            item = back;
                            std::thread::sleep(Duration::from_millis(5));
                        }
                        Err(mpsc::error::TrySendError::Closed(_)) => break 'reading,
                    }
                }
            }
            if dropped > 0 {
                metrics.dropped.get_or_create(&name).inc_by(dropped);
            }
            read_since += n as u64;
            metrics
                .pending
                .get_or_create(&name)
                .set(i64::try_from(self.pending.load(Ordering::Relaxed)).unwrap_or(i64::MAX));
            if n == 0 || last_mark.elapsed() >= MARK_EVERY {
                self.mark(cursor.position());
                last_mark = Instant::now();
            }
            if n == 0 {
                caught_up_once = true;
            }
            if last_reshard.elapsed() >= RESHARD_EVERY {
                let secs = last_reshard.elapsed().as_secs_f64();
                let nanos = self.sender.send_nanos.load(Ordering::Relaxed);
                let samples = self.sender.samples_out.load(Ordering::Relaxed);
                let (dn, ds) = (nanos - out_nanos, samples - out_samples);
                (out_nanos, out_samples) = (nanos, samples);
                let current = self.shards.len();
                // Prometheus' rule: the shards that keep up with what comes
                // in at the time a sample takes to send, plus a push while
                // behind (the reader did not catch up all period).
                let desired = if ds == 0 {
                    current as f64
                } else {
                    let per_sample = dn as f64 / 1e9 / ds as f64;
                    let mut d = per_sample * (read_since as f64 / secs) * 1.1;
                    if !caught_up_once {
                        d = d.max(current as f64 * 1.5);
                    }
                    d
                };
                metrics.shards_desired.get_or_create(&name).set(desired);
                let target = clamp_shards(&cfg, desired.ceil() as usize);
                let off = (target as f64 - current as f64).abs() / current.max(1) as f64;
                if target != current && off > 0.3 && !self.sender.retrying.load(Ordering::Relaxed) {
                    tracing::info!(remote = %name.remote_name, from = current, to = target, "remote-write resharding");
                    self.reshard(target, cursor.position());
                }
                read_since = 0;
                caught_up_once = false;
                last_reshard = Instant::now();
            }
            if n == 0 {
                std::thread::sleep(POLL);
            }
        }
        for s in &self.shards {
            s.task.abort();
        }
    }
}

impl RemoteQueue {
    /// Starts the queue on the current tokio runtime, resuming from its
    /// saved progress.
    pub fn start(
        cfg: &RemoteWriteConfig,
        index: usize,
        external: &Labels,
        tenant: TenantId,
        log: Arc<dyn SampleLog>,
        metrics: RemoteMetrics,
        user_agent: &str,
    ) -> Result<RemoteQueue, String> {
        let client = strata_scrape::client::build(&cfg.http_client)?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|e| e.to_string())?;
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
        drop(metrics.highest_sent.get_or_create(&name));
        drop(metrics.pending.get_or_create(&name));
        let id = queue_id(cfg);
        let saved = log
            .load_progress(&tenant, &id)
            .map_err(|e| format!("loading the queue's progress: {e}"))?;
        let start = saved.as_ref().and_then(|p| p.oldest());
        let cursor = log
            .tail(&tenant, start)
            .map_err(|e| format!("opening the WAL: {e}"))?;
        let sender = Arc::new(Sender {
            cfg: cfg.clone(),
            client,
            name: name.clone(),
            metrics,
            user_agent: user_agent.to_string(),
            send_nanos: AtomicU64::new(0),
            samples_out: AtomicU64::new(0),
            retrying: AtomicBool::new(false),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let book = Arc::new(ProgressBook {
            log,
            tenant,
            id: id.clone(),
            name: name.clone(),
            shards: Mutex::new(Vec::new()),
            saved: Mutex::new(None),
        });
        let mut reader = Reader {
            sender,
            runtime,
            book,
            external: external.clone(),
            relabel: cfg.write_relabel_configs.clone(),
            capacity: usize::try_from(cfg.queue_config.capacity.max(1)).unwrap_or(10_000),
            shards: Vec::new(),
            skip: Vec::new(),
            cache: HashMap::new(),
            pending: Arc::new(AtomicU64::new(0)),
            stop: stop.clone(),
        };
        match saved {
            // Resume with the shard count the progress was saved with, so
            // each series maps to the shard that acknowledged it.
            Some(p) => {
                let at = p.oldest().unwrap_or_default();
                reader.skip = p.shards.clone();
                reader.start_shards(p.shards);
                tracing::info!(remote = %name.remote_name, queue = %id, from = %at, "remote-write resuming from the WAL");
            }
            // Saved at once (`start_shards`), so the WAL is held from here
            // before the first send.
            None => {
                let at = cursor.position();
                reader.start_shards(vec![at; clamp_shards(cfg, 1)]);
            }
        }
        let handle = std::thread::Builder::new()
            .name(format!("strata-remote-{}", name.remote_name))
            .spawn(move || reader.run(cursor))
            .map_err(|e| e.to_string())?;
        Ok(RemoteQueue {
            name,
            stop,
            reader: Some(handle),
        })
    }
}

/// The running queues; a reload keeps every queue whose entry (and the
/// external labels) did not change.
pub struct RemoteWriters {
    tenant: TenantId,
    log: Arc<dyn SampleLog>,
    metrics: RemoteMetrics,
    user_agent: String,
    running: Mutex<Vec<(RemoteWriteConfig, Labels, RemoteQueue)>>,
}

impl RemoteWriters {
    pub fn new(
        tenant: TenantId,
        log: Arc<dyn SampleLog>,
        metrics: RemoteMetrics,
        user_agent: String,
    ) -> RemoteWriters {
        RemoteWriters {
            tenant,
            log,
            metrics,
            user_agent,
            running: Mutex::new(Vec::new()),
        }
    }

    /// Starts, keeps and stops queues to match `cfg`; must run inside the
    /// tokio runtime. Queues no longer configured release their hold on
    /// the WAL.
    pub fn apply(&self, cfg: &Config) {
        let mut running = self.running.lock();
        let mut old = std::mem::take(&mut *running);
        let external = &cfg.global.external_labels;
        let mut keep = Vec::new();
        for rw in &cfg.remote_write {
            if let Some(pos) = old.iter().position(|(c, e, _)| c == rw && e == external) {
                keep.push(old.swap_remove(pos));
            }
        }
        // Stopped (and their progress saved) before a changed entry with
        // the same id starts again from it.
        drop(old);
        for (i, rw) in cfg.remote_write.iter().enumerate() {
            if let Some(pos) = keep.iter().position(|(c, e, _)| c == rw && e == external) {
                running.push(keep.swap_remove(pos));
                continue;
            }
            match RemoteQueue::start(
                rw,
                i,
                external,
                self.tenant.clone(),
                self.log.clone(),
                self.metrics.clone(),
                &self.user_agent,
            ) {
                Ok(q) => {
                    tracing::info!(remote = %q.name.remote_name, url = %rw.url, "remote-write queue started");
                    running.push((rw.clone(), external.clone(), q));
                }
                Err(e) => {
                    tracing::error!(url = %rw.url, error = %e, "remote-write queue not started")
                }
            }
        }
        let ids: Vec<String> = cfg.remote_write.iter().map(queue_id).collect();
        if let Err(e) = self.log.retain_queues(&self.tenant, &ids) {
            tracing::error!(error = %e, "releasing removed remote-write queues' WAL holds");
        }
    }

    /// Stops every queue, saving its progress.
    pub fn stop(&self) {
        self.running.lock().clear();
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
