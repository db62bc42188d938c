//! The tenant querier: head and overlapping blocks, merged by series.

use super::TenantDb;

use crate::head::select_from_head;
use std::sync::Arc;
use strata_block::BlockQuerier;
use strata_model::{
    Matcher, Querier, Sample, SampleIter, SelectHints, Series, SeriesIter, StorageError,
    VecSampleIter,
};

impl TenantDb {
    pub fn querier(self: &Arc<Self>, mint: i64, maxt: i64) -> TenantQuerier {
        let (epoch, blocks) = self.enter_read();
        let blocks = blocks
            .into_iter()
            .filter(|b| b.meta().max_time > mint && b.meta().min_time <= maxt)
            .map(|b| b.querier(mint, maxt))
            .collect();
        TenantQuerier {
            db: self.clone(),
            _epoch: epoch,
            blocks,
            mint,
            maxt,
        }
    }
}

pub(crate) struct TenantQuerier {
    db: Arc<TenantDb>,
    /// Keeps a head cut from dropping samples this querier may still read
    /// from the head (see `TenantDb::reader_epoch`).
    _epoch: Arc<()>,
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
            let head = &self.db.head;
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
            let head = &self.db.head;
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
