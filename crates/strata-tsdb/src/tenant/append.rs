//! Writes: appending a batch and deleting series.

use super::TenantDb;

use crate::head::{Appended, owned_labels};
use crate::wal::{self};
use crate::{AppendOutcome, RejectReason, Rejection, TsdbError};
use std::sync::atomic::Ordering;
use strata_model::{Matcher, WriteBatch, hash_pairs};

impl TenantDb {
    pub fn append(&self, batch: &WriteBatch<'_>) -> Result<AppendOutcome, TsdbError> {
        let wal = self.wal()?;
        let mut out = AppendOutcome::default();
        let mut series_rec = wal::SeriesRecordBuilder::default();
        let mut samples_rec = wal::SamplesRecordBuilder::default();
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
                        series_rec.push(id, labels.iter().map(|l| (l.name, l.value)));
                        n_series += 1;
                        id
                    }
                };
                let mut rejected: Option<(RejectReason, u64)> = None;
                for s in samples {
                    match head.append(id, *s, false) {
                        Ok(Appended::Stored) => {
                            samples_rec.push(id, *s);
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
            let payloads: Vec<Vec<u8>> = series_rec
                .finish()
                .into_iter()
                .chain(samples_rec.finish())
                .collect();
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
}
