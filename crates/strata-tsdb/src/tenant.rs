//! One tenant's database: head + WAL (+ blocks).

use crate::head::{Appended, Head, owned_labels, select_from_head};
use crate::wal::{self, Record, Wal};
use crate::{AppendOutcome, DbOptions, RejectReason, Rejection, TsdbError, TsdbMetrics, TsdbStats};
use parking_lot::RwLock;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use strata_block::{Block, BlockQuerier};
use strata_model::{
    Labels, Matcher, Querier, Sample, SampleIter, SelectHints, Series, SeriesIter, StorageError,
    VecSampleIter, WriteBatch, hash_pairs,
};

pub(crate) struct TenantDb {
    pub dir: PathBuf,
    pub head: RwLock<Head>,
    wal: Option<Wal>,
    blocks: RwLock<Vec<Block>>,
    block_range: i64,
    max_series: usize,
    head_cuts: AtomicU64,
    compactions: AtomicU64,
    compactions_failed: AtomicU64,
    retention_deletes: AtomicU64,
    pub series_created: AtomicU64,
    pub replay_samples: u64,
    pub replay_seconds: f64,
    pub wal_truncations: u64,
}

fn apply(head: &mut Head, rec: Record) {
    match rec {
        Record::Series(list) => {
            for (id, labels) in list {
                if head.series(id).is_none() {
                    let hash = labels.hash64();
                    head.create(id, hash, labels);
                }
            }
        }
        Record::Samples(list) => {
            for (id, s) in list {
                let _ = head.append(id, s, true);
            }
        }
        Record::Tombstone {
            matchers,
            mint,
            maxt,
        } => {
            head.delete(&matchers, mint, maxt);
        }
        Record::Chunk { id, data } => {
            if let Err(e) = head.load_chunk(id, &data) {
                tracing::error!(error = %e, "skipping a corrupt checkpoint chunk");
            }
        }
        Record::MinValid(t) => head.min_valid_t = head.min_valid_t.max(t),
    }
}

impl TenantDb {
    pub fn open(opts: &DbOptions, dir: &Path, read_only: bool) -> Result<TenantDb, TsdbError> {
        if !read_only {
            std::fs::create_dir_all(dir)?;
        }
        let (blocks, _quarantined) = load_blocks(dir, read_only)?;
        let wal_dir = dir.join("wal");
        let mut head = Head::new(opts.out_of_order_window_ms);
        // Samples already in blocks are not head samples: keep the boundary.
        if let Some(maxt) = blocks.iter().map(|b| b.meta().max_time).max() {
            head.min_valid_t = maxt;
        }
        let started = std::time::Instant::now();
        let stats = wal::replay(&wal_dir, !read_only, |rec| apply(&mut head, rec))?;
        let secs = started.elapsed().as_secs_f64();
        if stats.records > 0 {
            tracing::info!(
                tenant_dir = %dir.display(),
                series = head.num_series,
                samples = stats.samples,
                seconds = format!("{secs:.3}"),
                samples_per_sec = (stats.samples as f64 / secs.max(1e-9)) as u64,
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
            head: RwLock::new(head),
            wal,
            blocks: RwLock::new(blocks),
            block_range: opts.block_range_ms.max(1),
            max_series: opts.max_series_per_tenant,
            head_cuts: AtomicU64::new(0),
            compactions: AtomicU64::new(0),
            compactions_failed: AtomicU64::new(0),
            retention_deletes: AtomicU64::new(0),
            series_created: AtomicU64::new(0),
            replay_samples: stats.samples,
            replay_seconds: secs,
            wal_truncations: u64::from(stats.truncated),
        })
    }

    fn wal(&self) -> Result<&Wal, TsdbError> {
        self.wal
            .as_ref()
            .ok_or_else(|| TsdbError::BadInput("the database is open read-only".into()))
    }

    pub fn append(&self, batch: &WriteBatch<'_>) -> Result<AppendOutcome, TsdbError> {
        let wal = self.wal()?;
        let mut out = AppendOutcome::default();
        let mut series_body = Vec::new();
        let mut samples_body = Vec::with_capacity(batch.num_samples() * 12);
        let (mut n_series, mut n_samples) = (0u64, 0u64);
        let seq = {
            let mut head = self.head.write();
            for i in 0..batch.len() {
                let labels = batch.series_labels(i);
                let samples = batch.series_samples(i);
                let hash = hash_pairs(
                    labels
                        .iter()
                        .map(|l| (l.name.as_bytes(), l.value.as_bytes())),
                );
                let id = match head.lookup(hash, labels) {
                    Some(id) => id,
                    None => {
                        if self.max_series > 0 && head.num_series >= self.max_series {
                            out.rejected.push(Rejection {
                                series_index: i,
                                samples: samples.len() as u64,
                                reason: RejectReason::SeriesLimit,
                            });
                            continue;
                        }
                        let id = head.next_id();
                        head.create(id, hash, owned_labels(labels));
                        wal::put_series(
                            &mut series_body,
                            id,
                            labels.iter().map(|l| (l.name, l.value)),
                        );
                        n_series += 1;
                        id
                    }
                };
                let mut rejected: Option<(RejectReason, u64)> = None;
                for s in samples {
                    match head.append(id, *s, false) {
                        Ok(Appended::Stored) => {
                            wal::put_sample(&mut samples_body, id, *s);
                            n_samples += 1;
                        }
                        Ok(Appended::Duplicate) => {}
                        Err(reason) => match &mut rejected {
                            Some((r, n)) if *r == reason => *n += 1,
                            Some((r, n)) => {
                                out.rejected.push(Rejection {
                                    series_index: i,
                                    samples: *n,
                                    reason: *r,
                                });
                                *r = reason;
                                *n = 1;
                            }
                            None => rejected = Some((reason, 1)),
                        },
                    }
                }
                if let Some((reason, n)) = rejected {
                    out.rejected.push(Rejection {
                        series_index: i,
                        samples: n,
                        reason,
                    });
                }
            }
            let mut payloads: Vec<Vec<u8>> = Vec::with_capacity(2);
            if n_series > 0 {
                let mut p = vec![wal::REC_SERIES];
                wal::put_uvarint(&mut p, n_series);
                p.extend_from_slice(&series_body);
                payloads.push(p);
            }
            if n_samples > 0 {
                let mut p = Vec::with_capacity(samples_body.len() + 8);
                p.push(wal::REC_SAMPLES);
                wal::put_uvarint(&mut p, n_samples);
                p.extend_from_slice(&samples_body);
                payloads.push(p);
            }
            if payloads.is_empty() {
                None
            } else {
                let refs: Vec<&[u8]> = payloads.iter().map(|p| p.as_slice()).collect();
                Some(wal.enqueue(&refs))
            }
        };
        if let Some(seq) = seq {
            wal.wait(seq)?;
        }
        out.samples_accepted = n_samples;
        out.series_created = n_series;
        self.series_created.fetch_add(n_series, Ordering::Relaxed);
        Ok(out)
    }

    pub fn sync_wal(&self) -> Result<(), TsdbError> {
        match &self.wal {
            Some(w) => w.sync(),
            None => Ok(()),
        }
    }

    pub fn close(&self) -> Result<(), TsdbError> {
        self.sync_wal()
    }

    pub fn delete_series(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<(), TsdbError> {
        let wal = self.wal()?;
        let rec = wal::tombstone_record(matchers, mint, maxt);
        let seq = {
            let mut head = self.head.write();
            head.delete(matchers, mint, maxt);
            wal.enqueue(&[&rec])
        };
        wal.wait(seq)?;
        wal.sync()?;
        for b in self.blocks_snapshot() {
            b.delete(matchers, mint, maxt)
                .map_err(|e| TsdbError::Block(e.to_string()))?;
        }
        Ok(())
    }

    pub fn querier(self: &Arc<Self>, mint: i64, maxt: i64) -> TenantQuerier {
        let blocks = self
            .blocks_snapshot()
            .into_iter()
            .filter(|b| b.meta().max_time > mint && b.meta().min_time <= maxt)
            .map(|b| b.querier(mint, maxt))
            .collect();
        TenantQuerier {
            db: self.clone(),
            blocks,
            mint,
            maxt,
        }
    }

    pub fn stats(&self, top_n: usize) -> Result<TsdbStats, TsdbError> {
        let head = self.head.read();
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
        let mut all_series: std::collections::BTreeSet<Labels> = head
            .iter_series()
            .map(|(_, s)| s.labels.to_labels())
            .collect();
        let mut names = head.postings().cardinality();
        for b in self.blocks_snapshot() {
            let q = b.querier(i64::MIN, i64::MAX);
            let hints = SelectHints {
                start: i64::MIN,
                end: i64::MAX,
                series_only: true,
                limit: 0,
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
            head_series: head.num_series as u64,
            head_samples: samples,
            head_chunks: chunks,
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
        let head = self.head.read();
        let (_, chunks, mint, maxt) = head.stats();
        m.head_series += head.num_series as u64;
        m.head_chunks += chunks;
        if head.num_series > 0 {
            m.head_min_time_ms = m.head_min_time_ms.min(mint);
            m.head_max_time_ms = m.head_max_time_ms.max(maxt);
        }
        drop(head);
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

pub(crate) struct TenantQuerier {
    db: Arc<TenantDb>,
    blocks: Vec<BlockQuerier>,
    mint: i64,
    maxt: i64,
}

/// Merges one series' samples from several sources by time; a timestamp
/// present in several sources (a crash between block write and WAL
/// checkpoint, or overlapping blocks) is returned once.
fn merge_samples(iters: Vec<Box<dyn SampleIter + '_>>) -> Result<Vec<Sample>, StorageError> {
    let mut all = Vec::new();
    for mut it in iters {
        while let Some(s) = it.next() {
            all.push(s);
        }
        if let Some(e) = it.err() {
            return Err(StorageError::Internal(e.to_string()));
        }
    }
    all.sort_by_key(|s| s.t);
    all.dedup_by_key(|s| s.t);
    Ok(all)
}

impl Querier for TenantQuerier {
    fn select<'a>(
        &'a self,
        hints: &SelectHints,
        matchers: &[Matcher],
    ) -> Result<SeriesIter<'a>, StorageError> {
        let data = self
            .db
            .head
            .read()
            .snapshot_series(hints, matchers, self.mint, self.maxt);
        if self.blocks.is_empty() {
            let mut data = data;
            if hints.limit > 0 {
                data.truncate(hints.limit);
            }
            return Ok(select_from_head(data));
        }
        // Gather every source's series, then merge equal label sets.
        let mut all: Vec<Series<'a>> = Vec::new();
        for b in &self.blocks {
            for s in b.select(hints, matchers)? {
                all.push(s?);
            }
        }
        all.extend(data.into_iter().map(|d| d.into_series()));
        all.sort_by(|a, b| a.labels.cmp(&b.labels));
        let mut out: Vec<Series<'a>> = Vec::with_capacity(all.len());
        let mut group: Vec<Series<'a>> = Vec::new();
        let flush =
            |group: &mut Vec<Series<'a>>, out: &mut Vec<Series<'a>>| -> Result<(), StorageError> {
                match group.len() {
                    0 => {}
                    1 => out.append(group),
                    _ => {
                        let labels = group[0].labels.clone();
                        let iters: Vec<Box<dyn SampleIter + 'a>> =
                            group.drain(..).map(|s| s.samples).collect();
                        let samples = if hints.series_only {
                            Vec::new()
                        } else {
                            merge_samples(iters)?
                        };
                        out.push(Series {
                            labels,
                            samples: Box::new(VecSampleIter::new(samples)),
                        });
                    }
                }
                Ok(())
            };
        for s in all {
            if group.first().is_some_and(|g| g.labels != s.labels) {
                flush(&mut group, &mut out)?;
            }
            group.push(s);
        }
        flush(&mut group, &mut out)?;
        if hints.limit > 0 {
            out.truncate(hints.limit);
        }
        Ok(Box::new(out.into_iter().map(Ok)))
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let mut out: std::collections::BTreeSet<String> = {
            let head = self.db.head.read();
            if matchers.is_empty() {
                head.postings().label_names(None).into_iter().collect()
            } else {
                let ids = head.select_ids(matchers);
                head.postings()
                    .label_names(Some(&ids))
                    .into_iter()
                    .collect()
            }
        };
        for b in &self.blocks {
            out.extend(b.label_names(matchers)?);
        }
        Ok(out.into_iter().collect())
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let mut out: std::collections::BTreeSet<String> = {
            let head = self.db.head.read();
            if matchers.is_empty() {
                head.postings()
                    .label_values(name, None)
                    .into_iter()
                    .collect()
            } else {
                let ids = head.select_ids(matchers);
                head.postings()
                    .label_values(name, Some(&ids))
                    .into_iter()
                    .collect()
            }
        };
        for b in &self.blocks {
            out.extend(b.label_values(name, matchers)?);
        }
        Ok(out.into_iter().collect())
    }
}

pub(crate) struct EmptyQuerier;

impl Querier for EmptyQuerier {
    fn select<'a>(
        &'a self,
        _: &SelectHints,
        _: &[Matcher],
    ) -> Result<SeriesIter<'a>, StorageError> {
        Ok(Box::new(std::iter::empty()))
    }
    fn label_names(&self, _: &[Matcher]) -> Result<Vec<String>, StorageError> {
        Ok(Vec::new())
    }
    fn label_values(&self, _: &str, _: &[Matcher]) -> Result<Vec<String>, StorageError> {
        Ok(Vec::new())
    }
}

// ---- blocks: head cut, compaction, retention, snapshots ----------------------

fn is_block_dir(name: &str) -> bool {
    name.len() == 26 && name.parse::<ulid::Ulid>().is_ok()
}

/// Opens every block in a tenant dir; a block that fails to open is moved to
/// `corrupted/` with a loud warning instead of stopping the server.
pub(crate) fn load_blocks(dir: &Path, read_only: bool) -> Result<(Vec<Block>, u64), TsdbError> {
    let mut blocks = Vec::new();
    let mut quarantined = 0;
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((blocks, 0)),
        Err(e) => return Err(e.into()),
    };
    for e in rd {
        let e = e?;
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.ends_with(".tmp") && !read_only {
            // A block or checkpoint interrupted by a crash: never complete.
            let _ = std::fs::remove_dir_all(e.path());
            continue;
        }
        if !is_block_dir(name) {
            continue;
        }
        match Block::open(&e.path()) {
            Ok(b) => blocks.push(b),
            Err(err) => {
                tracing::error!(block = %e.path().display(), error = %err, "block failed to open: moving it to corrupted/");
                quarantined += 1;
                if !read_only {
                    let qdir = dir.join("corrupted");
                    std::fs::create_dir_all(&qdir)?;
                    std::fs::rename(e.path(), qdir.join(name))?;
                }
            }
        }
    }
    blocks.sort_by_key(|b| (b.meta().min_time, b.meta().max_time));
    Ok((blocks, quarantined))
}

impl TenantDb {
    fn blocks_snapshot(&self) -> Vec<Block> {
        self.blocks.read().clone()
    }

    /// Writes head samples before `end` as a block, then drops them from the
    /// head and checkpoints the WAL. See the crash notes inline.
    fn cut_head(&self, end: i64) -> Result<(), TsdbError> {
        let wal = self.wal()?;
        // (a) From now on samples before `end` are refused, so the copy below
        // stays complete while we write the block without the lock.
        let data = {
            let mut head = self.head.write();
            head.min_valid_t = head.min_valid_t.max(end);
            head.copy_before(end)
        };
        let start = data
            .iter()
            .filter_map(|(_, s)| s.first().map(|x| x.t))
            .min();
        // (b) The block: durable before the WAL forgets anything. A crash
        // after this and before (d) replays samples the block also holds;
        // queries and compaction deduplicate them.
        if let Some(start) = start {
            let block_start = start.div_euclid(self.block_range) * self.block_range;
            if let Some(meta) =
                strata_block::write_block(&self.dir, block_start, end, 1, vec![], data.into_iter())
                    .map_err(|e| TsdbError::Block(e.to_string()))?
            {
                let b = Block::open(&self.dir.join(&meta.ulid))
                    .map_err(|e| TsdbError::Block(e.to_string()))?;
                let mut blocks = self.blocks.write();
                blocks.push(b);
                blocks.sort_by_key(|b| (b.meta().min_time, b.meta().max_time));
                tracing::info!(ulid = %meta.ulid, min_time = meta.min_time, max_time = meta.max_time, series = meta.stats.num_series, samples = meta.stats.num_samples, bytes = meta.stats.num_bytes, "head cut into a block");
            }
        }
        // (c) Drop the samples and snapshot what remains for the checkpoint.
        let (finished, records) = {
            let mut head = self.head.write();
            head.cut(end);
            let finished = wal.rotate()?;
            (finished, head.checkpoint_records())
        };
        // (d) Checkpoint, then forget the segments it replaces.
        wal::write_checkpoint(&self.dir.join("wal"), finished, &records)?;
        wal::truncate_before(&self.dir.join("wal"), finished)?;
        self.head_cuts.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    pub fn flush_all(&self) -> Result<(), TsdbError> {
        let (_, maxt) = self.head.read().time_range();
        if maxt == i64::MIN {
            return Ok(());
        }
        self.cut_head(maxt.saturating_add(1))
    }

    pub fn maintenance(&self, opts: &DbOptions) -> Result<(), TsdbError> {
        // Head cut: Prometheus' rule, when the head spans 1.5 block ranges.
        loop {
            let (mint, maxt) = self.head.read().time_range();
            if mint == i64::MAX || maxt - mint <= self.block_range * 3 / 2 {
                break;
            }
            let end = mint.div_euclid(self.block_range) * self.block_range + self.block_range;
            self.cut_head(end)?;
        }
        if let Err(e) = self.compact(opts) {
            self.compactions_failed.fetch_add(1, Ordering::Relaxed);
            tracing::error!(error = %e, tenant_dir = %self.dir.display(), "compaction failed; the inputs are untouched");
        }
        self.apply_retention(opts)
    }

    /// Merges overlapping blocks, then neighbours within exponentially larger
    /// aligned windows (3×, 9×, … the block range), as Prometheus does.
    fn compact(&self, opts: &DbOptions) -> Result<(), TsdbError> {
        let cap = opts
            .retention_time_ms
            .map(|r| r / 10)
            .unwrap_or(i64::MAX)
            .min(31 * 24 * 3600 * 1000);
        loop {
            let blocks = self.blocks_snapshot();
            let newest = blocks
                .iter()
                .map(|b| b.meta().max_time)
                .max()
                .unwrap_or(i64::MIN);
            let mut group: Option<Vec<Block>> = None;
            // Overlaps first: they come from crashes and out-of-order cuts.
            for w in blocks.windows(2) {
                if w[1].meta().min_time < w[0].meta().max_time {
                    group = Some(vec![w[0].clone(), w[1].clone()]);
                    break;
                }
            }
            if group.is_none() {
                let mut window = self.block_range.saturating_mul(3);
                while group.is_none() && window <= cap {
                    let mut by_window: std::collections::BTreeMap<i64, Vec<Block>> =
                        Default::default();
                    for b in &blocks {
                        let m = b.meta();
                        let w0 = m.min_time.div_euclid(window);
                        if (m.max_time - 1).div_euclid(window) == w0
                            && m.max_time - m.min_time < window
                        {
                            by_window.entry(w0).or_default().push(b.clone());
                        }
                    }
                    // Only windows the head has moved past: they are complete.
                    group = by_window
                        .into_iter()
                        .find(|(w0, g)| g.len() >= 2 && (w0 + 1) * window <= newest)
                        .map(|(_, g)| g);
                    window = window.saturating_mul(3);
                }
            }
            let Some(group) = group else { return Ok(()) };
            let refs: Vec<&Block> = group.iter().collect();
            let meta = strata_block::compact(&self.dir, &refs)
                .map_err(|e| TsdbError::Block(e.to_string()))?;
            let new_block = match meta {
                Some(m) => Some(
                    Block::open(&self.dir.join(&m.ulid))
                        .map_err(|e| TsdbError::Block(e.to_string()))?,
                ),
                None => None,
            };
            {
                let mut blocks = self.blocks.write();
                let gone: Vec<String> = group.iter().map(|b| b.meta().ulid.clone()).collect();
                blocks.retain(|b| !gone.contains(&b.meta().ulid));
                if let Some(b) = new_block {
                    tracing::info!(ulid = %b.meta().ulid, inputs = gone.len(), level = b.meta().compaction.level, "compacted blocks");
                    blocks.push(b);
                }
                blocks.sort_by_key(|b| (b.meta().min_time, b.meta().max_time));
            }
            for b in &group {
                std::fs::remove_dir_all(b.dir())?;
            }
            self.compactions.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn apply_retention(&self, opts: &DbOptions) -> Result<(), TsdbError> {
        let now = opts.clock.now_ms();
        let mut doomed: Vec<Block> = Vec::new();
        {
            let blocks = self.blocks.read();
            if let Some(rt) = opts.retention_time_ms {
                doomed.extend(
                    blocks
                        .iter()
                        .filter(|b| b.meta().max_time < now - rt)
                        .cloned(),
                );
            }
            if let Some(limit) = opts.retention_size_bytes {
                let mut total: u64 = blocks.iter().map(|b| b.size_bytes()).sum::<u64>()
                    + wal::dir_size(&self.dir.join("wal"));
                for b in blocks.iter() {
                    if total <= limit {
                        break;
                    }
                    total = total.saturating_sub(b.size_bytes());
                    if !doomed.iter().any(|d| d.meta().ulid == b.meta().ulid) {
                        doomed.push(b.clone());
                    }
                }
            }
        }
        if doomed.is_empty() {
            return Ok(());
        }
        let gone: Vec<String> = doomed.iter().map(|b| b.meta().ulid.clone()).collect();
        self.blocks
            .write()
            .retain(|b| !gone.contains(&b.meta().ulid));
        for b in &doomed {
            tracing::info!(ulid = %b.meta().ulid, max_time = b.meta().max_time, "deleting block by retention");
            std::fs::remove_dir_all(b.dir())?;
            self.retention_deletes.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Writes existing blocks (hard-linked) and the head (as a new block)
    /// into `dir`.
    pub fn snapshot(&self, dir: &Path) -> Result<Vec<PathBuf>, TsdbError> {
        std::fs::create_dir_all(dir)?;
        let mut out = Vec::new();
        for b in self.blocks_snapshot() {
            let target = dir.join(&b.meta().ulid);
            std::fs::create_dir_all(&target)?;
            for e in std::fs::read_dir(b.dir())? {
                let e = e?;
                let to = target.join(e.file_name());
                if std::fs::hard_link(e.path(), &to).is_err() {
                    std::fs::copy(e.path(), &to)?;
                }
            }
            out.push(target);
        }
        let data = self.head.read().copy_before(i64::MAX);
        let mint = data
            .iter()
            .filter_map(|(_, s)| s.first().map(|x| x.t))
            .min();
        let maxt = data.iter().filter_map(|(_, s)| s.last().map(|x| x.t)).max();
        if let (Some(mint), Some(maxt)) = (mint, maxt)
            && let Some(meta) = strata_block::write_block(
                dir,
                mint,
                maxt.saturating_add(1),
                1,
                vec![],
                data.into_iter(),
            )
            .map_err(|e| TsdbError::Block(e.to_string()))?
        {
            out.push(dir.join(meta.ulid));
        }
        Ok(out)
    }

    pub fn clean_tombstones(&self) -> Result<(), TsdbError> {
        for b in self
            .blocks_snapshot()
            .into_iter()
            .filter(|b| b.has_tombstones())
        {
            let meta = strata_block::rewrite_without_tombstones(&self.dir, &b)
                .map_err(|e| TsdbError::Block(e.to_string()))?;
            let new_block = match meta {
                Some(m) => Some(
                    Block::open(&self.dir.join(&m.ulid))
                        .map_err(|e| TsdbError::Block(e.to_string()))?,
                ),
                None => None,
            };
            {
                let mut blocks = self.blocks.write();
                blocks.retain(|x| x.meta().ulid != b.meta().ulid);
                blocks.extend(new_block);
                blocks.sort_by_key(|b| (b.meta().min_time, b.meta().max_time));
            }
            std::fs::remove_dir_all(b.dir())?;
        }
        Ok(())
    }
}
