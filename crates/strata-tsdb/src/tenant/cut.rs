//! The head cut: the oldest range of the head becomes a block.
//!
//! Design constraints:
//! 1. Writers never wait for a cut: no step holds more than one shard lock,
//!    and none holds it across I/O, encoding of a whole head, or an fsync.
//! 2. Memory follows the active series, not the block: the block is written
//!    series by series from the head's own chunks (closed chunks are handed
//!    over in their block encoding; the writer re-cuts them into full
//!    480-sample chunks), so at most one series' samples are decoded at a
//!    time, plus the sorted list of label references.
//! 3. Crash safety: the block is durable (temp dir, fsync, rename) before
//!    anything is dropped; until the WAL checkpoint replaces the old
//!    segments, a restart replays samples the block already holds, and
//!    reads hide them (the head's truncation time starts at the newest
//!    block's end).

use super::TenantDb;

use crate::wal;
use crate::{DbOptions, TsdbError};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use strata_block::{Block, BlockMeta, BlockWriter, ChunkInput};

/// Head cuts per maintenance round before compaction gets its turn.
const MAX_CUTS_PER_ROUND: usize = 16;

/// How long a cut waits for queries opened before its block was published
/// before dropping the cut samples anyway (such a query may then miss them).
const READER_WAIT: std::time::Duration = std::time::Duration::from_secs(300);

/// Agent mode forgets series with no sample in the newest hour of data.
const AGENT_SERIES_IDLE_MS: i64 = 3_600_000;

impl TenantDb {
    /// Writes head samples in `[lo, end)` as a block into `parent` covering
    /// `[block_min, block_max)`, leaving the head as it is.
    pub(crate) fn write_head_range(
        &self,
        parent: &Path,
        lo: i64,
        end: i64,
        block_min: i64,
        block_max: i64,
    ) -> Result<Option<BlockMeta>, TsdbError> {
        let block_err = |e: strata_block::BlockError| TsdbError::Block(e.to_string());
        let series = self.head.series_in_range(lo, end);
        if series.is_empty() {
            return Ok(None);
        }
        let mut w =
            BlockWriter::create(parent, block_min, block_max, 1, vec![]).map_err(block_err)?;
        // Head chunks hold 120 samples, block chunks up to 480: written
        // through as they are, a block costs ~5% more bytes per sample (8%
        // for counters, 86% for near-constant gauges; strata-block's
        // chunk_bytes example). The writer re-cuts a series' small chunks
        // into full ones — one series decoded at a time, so memory stays
        // bounded — and keeps full ones as they are.
        w.merge_small_chunks(true);
        // Chunk bytes are read (not touched through the map) into a buffer
        // reused series after series: a cut reads every chunk of the range
        // once, and mapped pages would stay counted in this process' memory.
        let mut arena: Vec<u8> = Vec::new();
        let mut spans: Vec<std::ops::Range<usize>> = Vec::new();
        for (labels, id) in series {
            let Some(rc) = self.head.series_range_chunks(id, lo, end) else {
                continue;
            };
            arena.clear();
            spans.clear();
            for c in &rc.encoded {
                let at = arena.len();
                c.data.read_into(&mut arena)?;
                spans.push(at..arena.len());
            }
            let mut inputs: Vec<ChunkInput<'_>> = Vec::with_capacity(rc.encoded.len() + 1);
            inputs.extend(
                rc.encoded
                    .iter()
                    .zip(&spans)
                    .map(|(c, r)| ChunkInput::Encoded {
                        min_t: c.min_t,
                        max_t: c.max_t,
                        num_samples: u32::from(c.num_samples),
                        data: &arena[r.clone()],
                    }),
            );
            if !rc.tail.is_empty() {
                inputs.push(ChunkInput::Samples(&rc.tail));
            }
            w.add_series(&labels.to_labels(), &inputs)
                .map_err(block_err)?;
        }
        w.finish().map_err(block_err)
    }

    /// Cuts head samples before `end` into a block, drops them from memory
    /// and checkpoints the WAL.
    pub(crate) fn cut_head(&self, end: i64) -> Result<(), TsdbError> {
        // A read-only database never cuts.
        self.wal()?;
        let started = std::time::Instant::now();
        // (a) From now on samples before `end` are refused: every sample of
        // the range is in the head once each shard has been visited.
        self.head.raise_min_valid(end);
        let lo = self.head.trunc_t();
        let (mint, _) = self.head.time_range();
        // (b) The block, durable before the head forgets anything.
        if mint < end {
            let block_start = mint.max(lo).div_euclid(self.block_range) * self.block_range;
            if let Some(meta) = self.write_head_range(&self.dir, lo, end, block_start, end)? {
                let b = Block::open(&self.dir.join(&meta.ulid))
                    .map_err(|e| TsdbError::Block(e.to_string()))?;
                let mut blocks = self.blocks.write();
                blocks.push(b);
                blocks.sort_by_key(|b| (b.meta().min_time, b.meta().max_time));
                drop(blocks);
                tracing::info!(ulid = %meta.ulid, min_time = meta.min_time, max_time = meta.max_time, series = meta.stats.num_series, samples = meta.stats.num_samples, bytes = meta.stats.num_bytes, seconds = format!("{:.3}", started.elapsed().as_secs_f64()), "head cut into a block");
            }
        }
        // (c) Queries opened before the block was published read these
        // samples from the head: let them finish first.
        self.wait_for_older_readers();
        // (d) Drop the range from memory, shard by shard.
        let removed = self.head.truncate(end);
        self.series_removed.fetch_add(removed, Ordering::Relaxed);
        // (e) Checkpoint, then forget the segments it replaces. Appends go
        // on meanwhile into the new segment.
        // The checkpoint streams the finished segments: series still in the
        // head and their samples from `end` on; nothing is re-encoded from
        // memory and no head lock is held.
        let cp = self.checkpoint_wal(end)?;
        tracing::debug!(?cp, "WAL checkpoint written");
        self.head_cuts.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            end,
            removed_series = removed,
            seconds = format!("{:.3}", started.elapsed().as_secs_f64()),
            "head cut finished"
        );
        Ok(())
    }

    /// Replaces the finished WAL segments by a checkpoint: series still in
    /// the head, their samples from `min_t` on — except in-order samples
    /// the head chunk files hold, which are synced first.
    fn checkpoint_wal(&self, min_t: i64) -> Result<wal::CheckpointStats, TsdbError> {
        let wal = self.wal()?;
        // Floors before the sync: every chunk they count was written
        // before it, so it is durable when the checkpoint leaves its
        // samples out.
        let floors = match self.head.chunk_files() {
            Some(files) => {
                let floors = self.head.file_floors();
                files.sync()?;
                floors
            }
            None => Vec::new(),
        };
        self.checkpoint_wal_with(wal, min_t, &floors)
    }

    /// Rotates the WAL, checkpoints the finished segments (live series;
    /// samples from `min_t` on except those at or below their series'
    /// floor) and deletes what no remote-write queue still holds.
    fn checkpoint_wal_with(
        &self,
        wal: &wal::Wal,
        min_t: i64,
        floors: &[i64],
    ) -> Result<wal::CheckpointStats, TsdbError> {
        let finished = wal.rotate()?;
        let live = self.head.live_ids();
        let wal_dir = self.dir.join("wal");
        let cp = wal::checkpoint(&wal_dir, finished, &live, min_t, floors)?;
        wal::truncate_held(&wal_dir, finished, self.held_segment())?;
        Ok(cp)
    }

    /// Between head cuts, once the WAL has grown by `wal_trim_bytes` since
    /// its last checkpoint: a checkpoint that leaves out what the head chunk
    /// files hold, so a restart replays about the open chunks' samples
    /// instead of hours of WAL.
    fn maybe_trim_wal(&self, trim_bytes: u64) -> Result<(), TsdbError> {
        if trim_bytes == 0 || self.head.chunk_files().is_none() || self.wal.is_none() {
            return Ok(());
        }
        let wal_dir = self.dir.join("wal");
        let after = wal::latest_checkpoint(&wal_dir)?.map_or(0, |(n, _)| n);
        let grown: u64 = wal::list_segments(&wal_dir)?
            .iter()
            .filter(|(n, _)| *n > after)
            .filter_map(|(_, p)| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum();
        if grown < trim_bytes {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let cp = self.checkpoint_wal(self.head.min_valid_t())?;
        self.wal_trims.fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            wal_bytes_before = grown,
            checkpoint_bytes = cp.bytes,
            samples_kept = cp.samples,
            samples_in_chunk_files = cp.in_chunk_files,
            seconds = format!("{:.3}", started.elapsed().as_secs_f64()),
            "WAL trimmed to what the head chunk files do not hold"
        );
        Ok(())
    }

    /// Agent mode: checkpoints the WAL down to its live series and their
    /// newest samples (remote-write queues read everything else from the
    /// segments they hold) and deletes the segments every queue has sent. Series idle for an hour of data time are
    /// forgotten first.
    fn truncate_agent_wal(&self) -> Result<(), TsdbError> {
        let newest = self.head.newest_sample_t();
        if newest != i64::MIN {
            let removed = self
                .head
                .remove_idle(newest.saturating_sub(AGENT_SERIES_IDLE_MS));
            self.series_removed.fetch_add(removed, Ordering::Relaxed);
        }
        // Each series' newest sample stays (floors one below it), so a
        // restart still refuses what is older; nothing else is read back.
        let cp = self.checkpoint_wal_with(self.wal()?, i64::MIN, &self.head.newest_floors())?;
        self.wal_trims.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(series = cp.series, held_from = ?self.held_segment(), "agent WAL truncated");
        Ok(())
    }

    /// A fresh epoch for new queriers, then waits until none holds the old.
    fn wait_for_older_readers(&self) {
        let old = std::mem::replace(&mut *self.reader_epoch.lock(), Arc::new(()));
        let started = std::time::Instant::now();
        while Arc::strong_count(&old) > 1 {
            if started.elapsed() > READER_WAIT {
                tracing::warn!(
                    "a query opened before the head cut is still running; dropping the cut samples from memory anyway"
                );
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// A querier's hold on the current epoch, taken with the block list it
    /// will read (see `reader_epoch`).
    pub(crate) fn enter_read(&self) -> (Arc<()>, Vec<Block>) {
        let epoch = self.reader_epoch.lock();
        (epoch.clone(), self.blocks_snapshot())
    }

    pub fn flush_all(&self) -> Result<(), TsdbError> {
        let (_, maxt) = self.head.time_range();
        if maxt == i64::MIN {
            return Ok(());
        }
        self.cut_head(maxt.saturating_add(1))
    }

    pub fn maintenance(
        &self,
        opts: &DbOptions,
        stop: &std::sync::atomic::AtomicBool,
    ) -> Result<(), TsdbError> {
        if opts.agent {
            return self.truncate_agent_wal();
        }
        // Head cut: Prometheus' rule, when the head spans 1.5 block ranges.
        // Only up to the head's end as of now, and at most a few cuts per
        // round: a writer catching up faster than cuts complete must not
        // starve compaction and retention.
        let (mut mint, maxt) = self.head.time_range();
        for _ in 0..MAX_CUTS_PER_ROUND {
            if mint == i64::MAX || maxt == i64::MIN || maxt - mint <= self.block_range * 3 / 2 {
                break;
            }
            if stop.load(Ordering::SeqCst) {
                return Ok(());
            }
            let end = mint.div_euclid(self.block_range) * self.block_range + self.block_range;
            self.cut_head(end)?;
            mint = self.head.time_range().0;
        }
        if let Err(e) = self.maybe_trim_wal(opts.wal_trim_bytes) {
            tracing::error!(error = %e, tenant_dir = %self.dir.display(), "WAL trim failed; the WAL is untouched");
        }
        if let Err(e) = self.compact(opts, stop) {
            self.compactions_failed.fetch_add(1, Ordering::Relaxed);
            tracing::error!(error = %e, tenant_dir = %self.dir.display(), "compaction failed; the inputs are untouched");
        }
        self.apply_retention(opts)
    }
}
