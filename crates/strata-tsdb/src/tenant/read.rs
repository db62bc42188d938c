//! The tenant querier: head and overlapping blocks, merged by series.

use super::TenantDb;

use crate::head::select_from_head;
use std::sync::Arc;
use strata_block::BlockQuerier;
use strata_model::{
    Matcher, Querier, SelectHints, SeriesIter, StorageError, merge_series_sets,
    merge_series_sets_labels_only,
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

impl Querier for TenantQuerier {
    /// Every source's select is already sorted by labels (block series ids
    /// follow label order, the head sorts its snapshot unless it is the
    /// only source and the caller takes any order), so one lazy k-way
    /// merge orders them: blocks oldest first, then the head, the earlier
    /// source winning a timestamp several hold.
    fn select<'a>(
        &'a self,
        hints: &SelectHints,
        matchers: &[Matcher],
    ) -> Result<SeriesIter<'a>, StorageError> {
        // Sources are merged by label order; the head alone need not be
        // sorted for a caller that orders its own output.
        let sorted = !(hints.any_order && self.blocks.is_empty());
        let head = self
            .db
            .head
            .snapshot_series(hints, matchers, self.mint, self.maxt, sorted);
        let mut sources: Vec<SeriesIter<'a>> = Vec::with_capacity(self.blocks.len() + 1);
        for b in &self.blocks {
            sources.push(b.select(hints, matchers)?);
        }
        sources.push(select_from_head(head));
        let merged = if hints.series_only {
            merge_series_sets_labels_only(sources)
        } else {
            merge_series_sets(sources)
        };
        Ok(if hints.limit > 0 {
            Box::new(merged.take(hints.limit))
        } else {
            merged
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DbOptions, WalSync};
    use strata_model::{LabelRef, Labels, MatchOp, Sample, WriteBatch};

    const H: i64 = 3_600_000;

    fn open(dir: &std::path::Path) -> Arc<TenantDb> {
        let opts = DbOptions {
            data_dir: dir.to_path_buf(),
            retention_time_ms: None,
            wal_sync: WalSync::Always,
            ..DbOptions::default()
        };
        Arc::new(TenantDb::open(&opts, dir, false).unwrap_or_else(|e| panic!("{e}")))
    }

    fn append(db: &TenantDb, inst: &str, samples: &[Sample]) {
        let labels = [
            LabelRef {
                name: "__name__",
                value: "up",
            },
            LabelRef {
                name: "instance",
                value: inst,
            },
        ];
        let mut b = WriteBatch::new();
        b.push(&labels, samples);
        let out = db.append(&b, 0).unwrap_or_else(|e| panic!("{e}"));
        assert!(out.rejected.is_empty(), "{:?}", out.rejected);
    }

    fn up(inst: &str) -> Labels {
        Labels::from_pairs([("__name__", "up"), ("instance", inst)])
    }

    fn every_minute(from: i64, to: i64, v: f64) -> Vec<Sample> {
        (from / 60_000..to / 60_000)
            .map(|m| Sample::new(m * 60_000, v))
            .collect()
    }

    fn select_all(q: &TenantQuerier, hints: &SelectHints) -> Vec<(Labels, Vec<(i64, f64)>)> {
        let m = [Matcher::new(MatchOp::Equal, "__name__", "up").unwrap_or_else(|e| panic!("{e}"))];
        q.select(hints, &m)
            .unwrap_or_else(|e| panic!("{e}"))
            .map(|s| {
                let mut s = s.unwrap_or_else(|e| panic!("{e}"));
                let mut v = Vec::new();
                while let Some(x) = s.samples.next() {
                    v.push((x.t, x.v));
                }
                assert!(s.samples.err().is_none());
                (s.labels, v)
            })
            .collect()
    }

    #[test]
    fn querier_opens_only_the_blocks_overlapping_its_range() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let db = open(dir.path());
        // Six two-hour blocks, then an hour in the head.
        for b in 0..6 {
            append(
                &db,
                "a",
                &every_minute(b * 2 * H, (b + 1) * 2 * H, b as f64),
            );
            db.cut_head((b + 1) * 2 * H)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        append(&db, "a", &every_minute(12 * H, 13 * H, 6.0));
        assert_eq!(db.blocks_snapshot().len(), 6);
        // (mint, maxt) → block queriers held; a block's max time is exclusive.
        for (mint, maxt, want) in [
            (12 * H - 10 * 60_000, 13 * H, 1),
            (13 * H - 65 * 60_000, 13 * H, 1),
            (3 * H, 5 * H, 2),
            (2 * H, 2 * H, 1),
            (2 * H - 1, 2 * H, 2),
            (12 * H, 13 * H, 0),
            (i64::MIN / 4, i64::MAX / 4, 6),
        ] {
            assert_eq!(
                db.querier(mint, maxt).blocks.len(),
                want,
                "[{mint}, {maxt}]"
            );
        }
        // What a narrow querier answers is what a wide one does over its range.
        let hints = SelectHints {
            start: 11 * H,
            end: 13 * H,
            ..Default::default()
        };
        let narrow = select_all(&db.querier(11 * H, 13 * H), &hints);
        let wide = select_all(&db.querier(i64::MIN / 4, i64::MAX / 4), &hints);
        assert_eq!(narrow, wide);
        assert_eq!(narrow[0].1.len(), 120);
    }

    #[test]
    fn any_order_skips_the_label_sort_only_when_the_head_is_alone() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let db = open(dir.path());
        // Created in an order that is not label order.
        for inst in ["c", "a", "b"] {
            append(&db, inst, &every_minute(0, H, 1.0));
        }
        let names = |q: &TenantQuerier, any_order: bool| -> Vec<Labels> {
            let hints = SelectHints {
                start: 0,
                end: 4 * H,
                any_order,
                ..Default::default()
            };
            select_all(q, &hints).into_iter().map(|(l, _)| l).collect()
        };
        let sorted = vec![up("a"), up("b"), up("c")];
        let created = vec![up("c"), up("a"), up("b")];
        assert_eq!(names(&db.querier(0, 4 * H), false), sorted);
        assert_eq!(names(&db.querier(0, 4 * H), true), created);
        // With a block in range the sources are merged: label order again.
        db.cut_head(2 * H).unwrap_or_else(|e| panic!("{e}"));
        append(&db, "d", &every_minute(2 * H, 3 * H, 1.0));
        append(&db, "a", &every_minute(2 * H, 3 * H, 1.0));
        let q = db.querier(0, 4 * H);
        assert_eq!(q.blocks.len(), 1);
        assert_eq!(names(&q, true), vec![up("a"), up("b"), up("c"), up("d")]);
        // A querier over the head's range alone takes any order again.
        assert_eq!(
            names(&db.querier(2 * H + 1, 4 * H), true),
            vec![up("d"), up("a")]
        );
    }

    #[test]
    fn select_merges_overlapping_blocks_and_the_head_lazily() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        // Overlapping blocks as an interrupted compaction leaves them: the
        // older one (by min time) wins the shared timestamps.
        let older = vec![
            (up("a"), every_minute(0, 2 * H, 1.0)),
            (up("c"), every_minute(0, H, 1.0)),
        ];
        let newer = vec![
            (up("a"), every_minute(H, 3 * H, 2.0)),
            (up("b"), every_minute(H, 3 * H, 2.0)),
        ];
        strata_block::write_block(dir.path(), 0, 2 * H, 1, vec![], older.into_iter())
            .unwrap_or_else(|e| panic!("{e}"));
        strata_block::write_block(dir.path(), H, 3 * H, 1, vec![], newer.into_iter())
            .unwrap_or_else(|e| panic!("{e}"));
        let db = open(dir.path());
        append(&db, "a", &every_minute(3 * H, 4 * H, 3.0));
        append(&db, "d", &every_minute(3 * H, 4 * H, 3.0));

        let all = SelectHints {
            start: i64::MIN,
            end: i64::MAX,
            ..Default::default()
        };
        let got = select_all(&db.querier(i64::MIN / 4, i64::MAX / 4), &all);
        let labels: Vec<&Labels> = got.iter().map(|(l, _)| l).collect();
        assert_eq!(labels, [&up("a"), &up("b"), &up("c"), &up("d")]);
        let a = &got[0].1;
        assert_eq!(a.len(), 4 * 60);
        assert!(a.windows(2).all(|w| w[0].0 < w[1].0));
        for &(t, v) in a {
            let want = if t < 2 * H {
                1.0
            } else if t < 3 * H {
                2.0
            } else {
                3.0
            };
            assert_eq!(v, want, "at {t}");
        }

        // A limit takes the first series of the merged order.
        let limited = SelectHints {
            limit: 2,
            ..all.clone()
        };
        let got = select_all(&db.querier(i64::MIN / 4, i64::MAX / 4), &limited);
        assert_eq!(
            got.iter().map(|(l, _)| l.clone()).collect::<Vec<_>>(),
            [up("a"), up("b")]
        );

        // Labels only: each series once, no samples merged.
        let series_only = SelectHints {
            series_only: true,
            ..all
        };
        let got = select_all(&db.querier(i64::MIN / 4, i64::MAX / 4), &series_only);
        assert_eq!(got.len(), 4);
        assert!(got.iter().all(|(_, s)| s.is_empty()));
    }

    #[test]
    fn newest_only_selection_answers_as_the_full_one() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let opts = DbOptions {
            data_dir: dir.path().to_path_buf(),
            retention_time_ms: None,
            wal_sync: WalSync::Always,
            out_of_order_window_ms: H,
            ..DbOptions::default()
        };
        let db =
            Arc::new(TenantDb::open(&opts, dir.path(), false).unwrap_or_else(|e| panic!("{e}")));
        // "a": a block, then the head; "b": head only, with out-of-order
        // samples; "c": only in the block; "d": a stale marker last.
        append(&db, "a", &every_minute(0, 2 * H, 1.0));
        append(&db, "c", &every_minute(0, 2 * H, 1.0));
        db.cut_head(2 * H).unwrap_or_else(|e| panic!("{e}"));
        append(&db, "a", &every_minute(2 * H, 3 * H, 2.0));
        append(&db, "b", &every_minute(2 * H, 3 * H, 3.0));
        append(&db, "b", &[Sample::new(2 * H + 30_000, 4.0)]);
        let mut d = every_minute(2 * H, 3 * H - 60_000, 5.0);
        d.push(Sample::new(3 * H - 60_000, strata_model::stale_nan()));
        append(&db, "d", &d);
        let m = [Matcher::new(MatchOp::Equal, "__name__", "up").unwrap_or_else(|e| panic!("{e}"))];
        let q = db.querier(i64::MIN / 4, i64::MAX / 4);
        let answers = |newest_only: bool, end: i64| -> Vec<(Labels, Option<(i64, u64)>)> {
            let hints = SelectHints {
                start: end - 5 * 60_000 + 1,
                end,
                newest_only,
                ..Default::default()
            };
            q.select(&hints, &m)
                .unwrap_or_else(|e| panic!("{e}"))
                .map(|s| {
                    let mut s = s.unwrap_or_else(|e| panic!("{e}"));
                    let n = s.samples.newest_at_or_before(end);
                    (s.labels, n.map(|x| (x.t, x.v.to_bits())))
                })
                .collect()
        };
        let mut shortcut_answers = 0;
        for end in [
            H,
            2 * H - 1,
            2 * H + 30_000,
            3 * H - 60_000,
            3 * H - 1,
            3 * H + 60_000,
            4 * H,
        ] {
            let (full, newest) = (answers(false, end), answers(true, end));
            assert_eq!(full, newest, "end {end}");
            shortcut_answers += newest.iter().filter(|(_, n)| n.is_some()).count();
        }
        assert!(shortcut_answers >= 8, "{shortcut_answers}");
    }
}
