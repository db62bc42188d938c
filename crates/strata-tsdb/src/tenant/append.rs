//! Writes: appending a batch and deleting series.
//!
//! An append runs in three steps, none under a tenant-wide lock:
//! 1. every series is hashed and found (or created) through the head's
//!    striped hash index; a new series' WAL record is enqueued before any
//!    other writer can see the series;
//! 2. the batch's series are grouped by head shard; per shard, under that
//!    shard's lock only, the samples are appended and their WAL record is
//!    enqueued — so per series, WAL order equals append order;
//! 3. the request waits, outside every lock, for its last WAL record to be
//!    written (group commit).

use super::TenantDb;

use crate::head::{Appended, WARM_WINDOW, shard_of};
use crate::wal;
use crate::{AppendOutcome, RejectReason, Rejection, TsdbError};
use std::sync::atomic::Ordering;
use strata_model::{Matcher, Sample, WriteBatch, hash_pairs};

/// Rejections of one series, counted run by run of equal reasons.
struct SeriesRejects<'o> {
    out: &'o mut Vec<Rejection>,
    series_index: usize,
    run: Option<(RejectReason, u64)>,
}

impl SeriesRejects<'_> {
    fn add(&mut self, reason: RejectReason) {
        match &mut self.run {
            Some((r, n)) if *r == reason => *n += 1,
            Some((r, n)) => {
                self.out.push(Rejection {
                    series_index: self.series_index,
                    samples: *n,
                    reason: *r,
                });
                *r = reason;
                *n = 1;
            }
            None => self.run = Some((reason, 1)),
        }
    }
}

impl Drop for SeriesRejects<'_> {
    fn drop(&mut self) {
        if let Some((reason, samples)) = self.run {
            self.out.push(Rejection {
                series_index: self.series_index,
                samples,
                reason,
            });
        }
    }
}

/// The WAL records of one shard's appends: in-order samples and, apart,
/// out-of-order ones (replay must never skip those, see `REC_OOO_SAMPLES`).
struct ShardLog {
    samples: wal::SamplesRecordBuilder,
    out_of_order: wal::SamplesRecordBuilder,
    stored: u64,
}

impl ShardLog {
    fn new() -> Self {
        ShardLog {
            samples: wal::SamplesRecordBuilder::default(),
            out_of_order: wal::SamplesRecordBuilder::out_of_order(),
            stored: 0,
        }
    }

    /// Logs a stored sample; false when the series is gone.
    fn record(&mut self, id: u32, s: Sample, appended: Appended) -> bool {
        match appended {
            Appended::Stored => self.samples.push(id, s),
            Appended::StoredOutOfOrder => self.out_of_order.push(id, s),
            Appended::Duplicate => return true,
            Appended::Gone => return false,
        }
        self.stored += 1;
        true
    }

    /// Enqueues what was logged since the last call; its sequence number.
    fn enqueue(&mut self, wal: &wal::Wal) -> Option<u64> {
        match (self.samples.finish(), self.out_of_order.finish()) {
            (Some(p), Some(o)) => Some(wal.enqueue(&[&p, &o])),
            (Some(p), None) | (None, Some(p)) => Some(wal.enqueue(&[&p])),
            (None, None) => None,
        }
    }
}

impl TenantDb {
    /// `max_series`: series the tenant may hold (0: no limit).
    pub fn append(
        &self,
        batch: &WriteBatch<'_>,
        max_series: usize,
    ) -> Result<AppendOutcome, TsdbError> {
        let wal = self.wal()?;
        let head = &self.head;
        let mut out = AppendOutcome::default();
        let mut n_series = 0u64;
        let mut last_seq: Option<u64> = None;
        let mut series_rec = wal::SeriesRecordBuilder::default();
        // Series ids in batch order; None = rejected by the series limit.
        let mut ids: Vec<Option<u32>> = Vec::with_capacity(batch.len());
        // Finds or creates series `i`; a new series' WAL record is enqueued
        // before the series becomes visible (see `Head::get_or_create`).
        // A series with a ref needs no hash unless the ref turns out stale
        // (then `resolve` hashes it).
        let hash_of = |i: usize| {
            hash_pairs(
                batch
                    .series_labels(i)
                    .iter()
                    .map(|l| (l.name.as_bytes(), l.value.as_bytes())),
            )
        };
        let refs_of = |i: usize| -> Option<u32> {
            let r = batch.series_ref(i);
            (r != 0).then(|| u32::try_from(r - 1).ok()).flatten()
        };
        let hashes: Vec<u64> = (0..batch.len())
            .map(|i| if refs_of(i).is_some() { 0 } else { hash_of(i) })
            .collect();
        let mut resolve = |i: usize, last_seq: &mut Option<u64>| {
            let labels = batch.series_labels(i);
            // A stale ref's series was not hashed up front.
            let hash = if refs_of(i).is_some() {
                hash_of(i)
            } else {
                hashes[i]
            };
            head.get_or_create(hash, labels, max_series, |id| {
                series_rec.push(id, labels.iter().map(|l| (l.name, l.value)));
                if let Some(p) = series_rec.finish() {
                    *last_seq = Some(wal.enqueue(&[&p]));
                }
            })
        };
        // Series given by ref skip the lookup; a ref whose series is gone
        // shows as `Gone` at append and is resolved again by labels.
        let looked = if !batch.wants_refs() {
            head.lookup_many(&hashes, |i| batch.series_labels(i))
        } else {
            let to_look: Vec<usize> = (0..batch.len()).filter(|&i| refs_of(i).is_none()).collect();
            let sub: Vec<u64> = to_look.iter().map(|&i| hashes[i]).collect();
            let found = head.lookup_many(&sub, |k| batch.series_labels(to_look[k]));
            let mut all = vec![None; batch.len()];
            for (k, f) in found.into_iter().enumerate() {
                all[to_look[k]] = f;
            }
            all
        };
        for (i, known) in looked.into_iter().enumerate() {
            if let Some(id) = refs_of(i) {
                ids.push(Some(id));
                continue;
            }
            if let Some(id) = known {
                ids.push(Some(id));
                continue;
            }
            match resolve(i, &mut last_seq) {
                Ok((id, new)) => {
                    n_series += u64::from(new);
                    ids.push(Some(id));
                }
                Err(reason) => {
                    out.rejected.push(Rejection {
                        series_index: i,
                        samples: batch.series_samples(i).len() as u64,
                        reason,
                    });
                    ids.push(None);
                }
            }
        }
        let mut final_ids = ids.clone();
        let mut order: Vec<(usize, u32)> = ids
            .iter()
            .enumerate()
            .filter_map(|(i, id)| id.map(|id| (i, id)))
            .collect();
        order.sort_unstable_by_key(|&(i, id)| (shard_of(id), i));
        let mut log = ShardLog::new();
        // Series a head cut removed between lookup and append: found again
        // (re-created) and appended in a second round.
        let mut gone: Vec<usize> = Vec::new();
        for run in order.chunk_by(|a, b| shard_of(a.1) == shard_of(b.1)) {
            let mut shard = head.lock_shard(shard_of(run[0].1));
            for (k, &(i, id)) in run.iter().enumerate() {
                if k % WARM_WINDOW == 0 {
                    let end = (k + WARM_WINDOW).min(run.len());
                    shard.warm(run[k..end].iter().map(|(_, id)| *id));
                }
                let mut rejects = SeriesRejects {
                    out: &mut out.rejected,
                    series_index: i,
                    run: None,
                };
                for s in batch.series_samples(i) {
                    match shard.append(id, *s, false) {
                        Ok(appended) => {
                            if !log.record(id, *s, appended) {
                                gone.push(i);
                                break;
                            }
                        }
                        Err(reason) => rejects.add(reason),
                    }
                }
            }
            if let Some(seq) = log.enqueue(wal) {
                last_seq = Some(seq);
            }
        }
        // A series re-created here is empty until its first sample lands,
        // so a head cut trimming its shard in between may remove it again:
        // find it again until its samples are in.
        while !gone.is_empty() {
            let mut again = Vec::new();
            for i in std::mem::take(&mut gone) {
                let mut rejects = SeriesRejects {
                    out: &mut out.rejected,
                    series_index: i,
                    run: None,
                };
                let id = match resolve(i, &mut last_seq) {
                    Ok((id, new)) => {
                        n_series += u64::from(new);
                        final_ids[i] = Some(id);
                        id
                    }
                    Err(reason) => {
                        final_ids[i] = None;
                        for _ in batch.series_samples(i) {
                            rejects.add(reason);
                        }
                        continue;
                    }
                };
                let mut shard = head.lock_shard(shard_of(id));
                for s in batch.series_samples(i) {
                    match shard.append(id, *s, false) {
                        Ok(appended) => {
                            if !log.record(id, *s, appended) {
                                again.push(i);
                                break;
                            }
                        }
                        Err(reason) => rejects.add(reason),
                    }
                }
                if let Some(seq) = log.enqueue(wal) {
                    last_seq = Some(seq);
                }
            }
            gone = again;
        }
        if let Some(seq) = last_seq {
            wal.wait(seq)?;
        }
        if batch.wants_refs() {
            out.refs = final_ids
                .iter()
                .map(|id| id.map(|id| u64::from(id) + 1).unwrap_or(0))
                .collect();
        }
        out.rejected.sort_by_key(|r| r.series_index);
        out.samples_accepted = log.stored;
        out.series_created = n_series;
        self.series_created.fetch_add(n_series, Ordering::Relaxed);
        Ok(out)
    }

    pub fn delete_series(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<(), TsdbError> {
        let wal = self.wal()?;
        let rec = wal::tombstone_record(matchers, mint, maxt);
        let seq = wal.enqueue(&[&rec]);
        self.head.delete(matchers, mint, maxt);
        wal.wait(seq)?;
        wal.sync()?;
        for b in self.blocks_snapshot() {
            b.delete(matchers, mint, maxt)
                .map_err(|e| TsdbError::Block(e.to_string()))?;
        }
        Ok(())
    }
}
