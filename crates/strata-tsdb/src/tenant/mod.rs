//! One tenant's database: head + WAL (+ blocks), split by concern:
//! `append` (writes and deletes), `read` (the querier merging head and
//! blocks), `cut` (head → block), `compact` (planning and merging blocks),
//! `retention`, `snapshot`, `blocks` (loading and listing).

mod append;
mod blocks;
mod compact;
mod cut;
mod read;
mod remote;
mod retention;
mod snapshot;

pub(crate) use blocks::load_blocks;
pub(crate) use read::EmptyQuerier;

use crate::head::{Head, ReplayBatch};
use crate::head_chunks::HeadChunkFiles;
use crate::wal::{self, Record, Wal};
use crate::{DbOptions, TsdbError, TsdbMetrics, TsdbStats};
use parking_lot::RwLock;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use strata_block::Block;
use strata_model::{Labels, Querier, SelectHints};

pub(crate) struct TenantDb {
    pub dir: PathBuf,
    pub head: Head,
    wal: Option<Wal>,
    blocks: RwLock<Vec<Block>>,
    /// Held (a clone) by every querier: a head cut swaps in a fresh one
    /// after publishing its block and waits for queriers holding the old one
    /// before dropping the cut samples from memory, so no query created
    /// before the block appeared loses them.
    reader_epoch: parking_lot::Mutex<std::sync::Arc<()>>,
    series_removed: AtomicU64,
    block_range: i64,
    head_cuts: AtomicU64,
    compactions: AtomicU64,
    compactions_failed: AtomicU64,
    retention_deletes: AtomicU64,
    /// WAL checkpoints taken between head cuts (see `maybe_trim_wal`).
    wal_trims: AtomicU64,
    pub series_created: AtomicU64,
    pub replay_samples: u64,
    pub replay_seconds: f64,
    pub wal_truncations: u64,
    /// Remote-write queues' saved progress (`remote.rs`).
    remote_progress:
        parking_lot::Mutex<std::collections::HashMap<String, strata_model::QueueProgress>>,
}

/// Samples queued before the replay appends them (24 bytes each): enough
/// that each shard's series take several samples per flush.
const REPLAY_BATCH_SAMPLES: usize = 1 << 20;

/// Series created by the replay, handed to the postings thread this many
/// at a time.
const REPLAY_POSTINGS_BATCH: usize = 4096;

/// What the replay's postings thread is sent.
enum PostingsWork {
    Add(Vec<(u32, strata_model::Labels)>),
    /// Answered once everything sent before is in the postings.
    Sync(std::sync::mpsc::SyncSender<()>),
}

/// Applies replayed WAL records to the head: series at once, samples
/// queued and appended in batches; anything whose effect depends on the
/// samples before it (a delete, a min valid time, a chunk) flushes first.
/// New series reach the postings on a thread of their own: adding a
/// label set to the postings is a third of creating a series, and the
/// replay creates every series of the head. Nothing reads the postings
/// during replay but a delete, which waits for them.
struct Replayer<'h> {
    head: &'h Head,
    batch: ReplayBatch,
    threads: usize,
    created: Vec<(u32, strata_model::Labels)>,
    postings: Option<std::sync::mpsc::SyncSender<PostingsWork>>,
}

impl Replayer<'_> {
    fn flush(&mut self) {
        self.head.flush_replayed(&mut self.batch, self.threads);
    }

    fn send_created(&mut self) {
        if self.created.is_empty() {
            return;
        }
        let created = std::mem::take(&mut self.created);
        match &self.postings {
            Some(tx) => {
                if let Err(std::sync::mpsc::SendError(PostingsWork::Add(back))) =
                    tx.send(PostingsWork::Add(created))
                {
                    // The postings thread is gone (it cannot fail, but if
                    // it did): add them here.
                    self.head.add_replayed_postings(&back);
                }
            }
            None => self.head.add_replayed_postings(&created),
        }
    }

    /// Returns once every series created so far is in the postings.
    fn sync_postings(&mut self) {
        self.send_created();
        if let Some(tx) = &self.postings {
            let (done_tx, done_rx) = std::sync::mpsc::sync_channel(1);
            if tx.send(PostingsWork::Sync(done_tx)).is_ok() {
                let _ = done_rx.recv();
            }
        }
    }

    /// Sends the last series and lets the postings thread end.
    fn finish_postings(&mut self) {
        self.send_created();
        self.postings = None;
    }

    fn apply(&mut self, rec: Record) {
        let head = self.head;
        match rec {
            Record::Series(list) => {
                for (id, labels) in list {
                    if head.create_replayed(id, &labels) {
                        self.created.push((id, labels));
                    }
                }
                if self.created.len() >= REPLAY_POSTINGS_BATCH {
                    self.send_created();
                }
            }
            Record::Samples(list) => {
                head.queue_replayed(&mut self.batch, &list, false);
            }
            Record::OutOfOrderSamples(list) => {
                head.queue_replayed(&mut self.batch, &list, true);
            }
            Record::Tombstone {
                matchers,
                mint,
                maxt,
            } => {
                self.flush();
                self.sync_postings();
                head.delete(&matchers, mint, maxt);
            }
            Record::Chunk { id, data } => {
                self.flush();
                if let Err(e) = head.load_chunk(id, &data) {
                    tracing::error!(error = %e, "skipping a corrupt checkpoint chunk");
                }
            }
            Record::MinValid(t) => {
                self.flush();
                head.raise_min_valid(t);
            }
        }
        if self.batch.len() >= REPLAY_BATCH_SAMPLES {
            self.flush();
        }
    }
}

impl TenantDb {
    pub fn open(opts: &DbOptions, dir: &Path, read_only: bool) -> Result<TenantDb, TsdbError> {
        if !read_only {
            std::fs::create_dir_all(dir)?;
        }
        let wal_dir = dir.join("wal");
        let started = std::time::Instant::now();
        let (blocks, head, file_chunks) = if opts.agent {
            (Vec::new(), Head::wal_only(), 0)
        } else {
            let (blocks, _quarantined) = load_blocks(dir, read_only)?;
            let (chunk_files, loaded) = HeadChunkFiles::open(&dir.join("chunks_head"), !read_only)?;
            let file_chunks: usize = loaded.values().map(Vec::len).sum();
            let head = Head::with_chunk_files(opts.out_of_order_window_ms, chunk_files, loaded);
            (blocks, head, file_chunks)
        };
        // Samples already in blocks are not head samples: keep the boundary.
        if let Some(maxt) = blocks.iter().map(|b| b.meta().max_time).max() {
            head.raise_min_valid(maxt);
        }
        let (postings_tx, postings_rx) = std::sync::mpsc::sync_channel::<PostingsWork>(8);
        let mut replayer = Replayer {
            head: &head,
            batch: ReplayBatch::new(),
            threads: std::thread::available_parallelism().map_or(1, |n| n.get().min(8)),
            created: Vec::new(),
            postings: Some(postings_tx),
        };
        // Reading and decoding the WAL (one thread) runs beside appending
        // what it decoded (the others), and beside adding new series to
        // the postings (one more).
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Record>>(4);
        let stats = std::thread::scope(|scope| {
            let head = &head;
            scope.spawn(move || {
                for work in postings_rx {
                    match work {
                        PostingsWork::Add(created) => head.add_replayed_postings(&created),
                        PostingsWork::Sync(done) => {
                            let _ = done.send(());
                        }
                    }
                }
            });
            let dir = &wal_dir;
            let reader = scope.spawn(move || {
                let mut batch = Vec::with_capacity(16);
                let r = wal::replay(dir, !read_only, |rec| {
                    batch.push(rec);
                    if batch.len() >= 16 {
                        // The receiver only stops after the sender does.
                        let _ = tx.send(std::mem::replace(&mut batch, Vec::with_capacity(16)));
                    }
                });
                if !batch.is_empty() {
                    let _ = tx.send(batch);
                }
                r.map(|stats| (stats, started.elapsed().as_secs_f64()))
            });
            for records in rx {
                for rec in records {
                    replayer.apply(rec);
                }
            }
            // The scope joins the postings thread once it has the rest.
            replayer.finish_postings();
            reader
                .join()
                .unwrap_or_else(|_| Err(TsdbError::Wal("the WAL replay thread panicked".into())))
        })?;
        let (stats, read_secs) = stats;
        let applied_secs = started.elapsed().as_secs_f64();
        replayer.flush();
        drop(replayer);
        let unclaimed = head.finish_replay();
        // Samples before the min valid time are in blocks (replayed again
        // only after a crash between a block write and its checkpoint).
        head.raise_trunc(head.min_valid_t());
        let secs = started.elapsed().as_secs_f64();
        if stats.records > 0 {
            tracing::info!(
                tenant_dir = %dir.display(),
                series = head.num_series(),
                samples = stats.samples,
                seconds = format!("{secs:.3}"),
                samples_per_sec = (stats.samples as f64 / secs.max(1e-9)) as u64,
                file_chunks,
                file_chunks_unclaimed = unclaimed,
                read_seconds = format!("{read_secs:.3}"),
                applied_seconds = format!("{applied_secs:.3}"),
                "WAL replay finished"
            );
        }
        let wal = if read_only {
            None
        } else {
            Some(Wal::open(
                &wal_dir,
                stats.last_segment,
                opts.wal_sync,
                opts.wal_segment_bytes,
            )?)
        };
        Ok(TenantDb {
            dir: dir.to_path_buf(),
            head,
            reader_epoch: parking_lot::Mutex::new(std::sync::Arc::new(())),
            series_removed: AtomicU64::new(0),
            wal,
            blocks: RwLock::new(blocks),
            block_range: opts.block_range_ms.max(1),
            head_cuts: AtomicU64::new(0),
            compactions: AtomicU64::new(0),
            compactions_failed: AtomicU64::new(0),
            retention_deletes: AtomicU64::new(0),
            wal_trims: AtomicU64::new(0),
            series_created: AtomicU64::new(0),
            replay_samples: stats.samples,
            replay_seconds: secs,
            wal_truncations: u64::from(stats.truncated),
            remote_progress: parking_lot::Mutex::new(remote::load_all(dir)?),
        })
    }

    fn wal(&self) -> Result<&Wal, TsdbError> {
        self.wal
            .as_ref()
            .ok_or_else(|| TsdbError::BadInput("the database is open read-only".into()))
    }

    pub fn sync_wal(&self) -> Result<(), TsdbError> {
        match &self.wal {
            Some(w) => w.sync(),
            None => Ok(()),
        }
    }

    pub fn close(&self) -> Result<(), TsdbError> {
        if let Some(f) = self.head.chunk_files() {
            f.close();
        }
        self.sync_wal()
    }

    pub fn stats(&self, top_n: usize) -> Result<TsdbStats, TsdbError> {
        let head = &self.head;
        let (samples, chunks, mint, maxt) = head.stats();
        let top = |mut v: Vec<(String, u64)>| {
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            v.truncate(top_n);
            v
        };
        let blocks: Vec<strata_block::BlockMeta> = self
            .blocks_snapshot()
            .iter()
            .map(|b| b.meta().clone())
            .collect();
        let block_bytes = self.blocks_snapshot().iter().map(|b| b.size_bytes()).sum();
        let mut all_series: std::collections::BTreeSet<Labels> = Default::default();
        head.for_each_series(|_, s| {
            all_series.insert(s.labels.to_labels());
        });
        let mut names = head.postings().cardinality();
        for b in self.blocks_snapshot() {
            let q = b.querier(i64::MIN, i64::MAX);
            let hints = SelectHints {
                start: i64::MIN,
                end: i64::MAX,
                series_only: true,
                limit: 0,
                newest_only: false,
                any_order: false,
            };
            for s in q
                .select(&hints, &[])
                .map_err(|e| TsdbError::Block(e.to_string()))?
                .flatten()
            {
                all_series.insert(s.labels);
            }
            names.extend(b.label_cardinality());
        }
        let mut merged: std::collections::BTreeMap<String, u64> = Default::default();
        for (n, c) in names {
            let e = merged.entry(n).or_default();
            *e = (*e).max(c);
        }
        Ok(TsdbStats {
            num_series: all_series.len() as u64,
            head_series: head.num_series() as u64,
            head_samples: samples,
            head_chunks: chunks,
            head_chunks_in_files: head.chunks_in_files(),
            head_min_time: if samples == 0 { 0 } else { mint },
            head_max_time: if samples == 0 { 0 } else { maxt },
            blocks,
            block_bytes,
            wal_bytes: wal::dir_size(&self.dir.join("wal")),
            top_label_names_by_cardinality: top(merged.into_iter().collect()),
            top_series_count_by_metric_name: top(head
                .postings()
                .value_counts(strata_model::METRIC_NAME)),
            top_series_count_by_label_pair: top(head.postings().pair_counts()),
        })
    }

    pub fn add_metrics(&self, m: &mut TsdbMetrics) {
        let head = &self.head;
        let (_, chunks, mint, maxt) = head.stats();
        m.head_series += head.num_series() as u64;
        m.head_chunks += chunks;
        if head.num_series() > 0 {
            m.head_min_time_ms = m.head_min_time_ms.min(mint);
            m.head_max_time_ms = m.head_max_time_ms.max(maxt);
        }
        m.series_removed_total += self.series_removed.load(Ordering::Relaxed);
        m.wal_bytes += self.wal.as_ref().map(|w| w.size_bytes()).unwrap_or(0);
        m.series_created_total += self.series_created.load(Ordering::Relaxed);
        m.wal_replay_samples += self.replay_samples;
        m.wal_replay_seconds += self.replay_seconds;
        m.wal_truncations_total += self.wal_truncations;
        let blocks = self.blocks_snapshot();
        m.blocks += blocks.len() as u64;
        m.block_bytes += blocks.iter().map(|b| b.size_bytes()).sum::<u64>();
        m.head_cuts_total += self.head_cuts.load(Ordering::Relaxed);
        m.compactions_total += self.compactions.load(Ordering::Relaxed);
        m.compactions_failed_total += self.compactions_failed.load(Ordering::Relaxed);
        m.blocks_deleted_by_retention_total += self.retention_deletes.load(Ordering::Relaxed);
    }
}
