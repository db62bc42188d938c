//! A query's querier covers only the time its selectors read: over the last
//! hour of twelve hours of blocks it opens one block, and every query answers
//! exactly as it does with a querier over all time.

use std::sync::Mutex;
use strata_model::{LabelRef, Querier, Queryable, Sample, StorageError, TenantId, WriteBatch};
use strata_promql::{Engine, EngineOptions, QueryOpts, Value};
use strata_tsdb::{Db, DbOptions};

const M: i64 = 60_000;
const H: i64 = 60 * M;
const END: i64 = 13 * H;

/// Records the range of every querier the engine opens; with `all_time` it
/// opens one over all time instead, as the engine did before.
struct Recording<'a> {
    db: &'a Db,
    all_time: bool,
    opened: Mutex<Vec<(i64, i64)>>,
}

impl<'a> Recording<'a> {
    fn new(db: &'a Db, all_time: bool) -> Self {
        Recording {
            db,
            all_time,
            opened: Mutex::new(Vec::new()),
        }
    }

    fn opened(&self) -> Vec<(i64, i64)> {
        self.opened
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Queryable for Recording<'_> {
    fn querier(
        &self,
        tenant: &TenantId,
        mint: i64,
        maxt: i64,
    ) -> Result<Box<dyn Querier + '_>, StorageError> {
        self.opened
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((mint, maxt));
        if self.all_time {
            self.db.querier(tenant, i64::MIN / 4, i64::MAX / 4)
        } else {
            self.db.querier(tenant, mint, maxt)
        }
    }
}

/// Three counters sampled every 30 s for 13 hours: six two-hour blocks and
/// one hour in the head.
fn twelve_hours_of_blocks(dir: &std::path::Path) -> Db {
    let db = Db::open(DbOptions {
        data_dir: dir.to_path_buf(),
        retention_time_ms: None,
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let t = TenantId::single();
    let insts = ["a", "b", "c"];
    for part in 0..7 {
        let (from, to) = (part * 2 * H, ((part + 1) * 2 * H).min(END + 1));
        let mut batch = WriteBatch::new();
        let labels: Vec<[LabelRef<'_>; 2]> = insts
            .iter()
            .map(|i| {
                [
                    LabelRef {
                        name: "__name__",
                        value: "c_total",
                    },
                    LabelRef {
                        name: "instance",
                        value: i,
                    },
                ]
            })
            .collect();
        let samples: Vec<Vec<Sample>> = (0..insts.len())
            .map(|k| {
                (from..to)
                    .step_by(30_000)
                    .map(|t| {
                        // Rates grow with time and differ by series, so a
                        // window cut short shows in every result.
                        let secs = (t / 1000) as f64;
                        Sample::new(t, secs * secs / 1000.0 * (k + 1) as f64)
                    })
                    .collect()
            })
            .collect();
        for (l, s) in labels.iter().zip(&samples) {
            batch.push(l, s);
        }
        let out = db.append(&t, &batch).unwrap_or_else(|e| panic!("{e}"));
        assert!(out.rejected.is_empty(), "{:?}", out.rejected);
        if part < 6 {
            db.cut_head_before(&t, to).unwrap_or_else(|e| panic!("{e}"));
        }
    }
    db
}

fn non_empty(v: &Value) -> bool {
    match v {
        Value::Vector(v) => !v.is_empty(),
        Value::Matrix(m) => m.iter().any(|s| !s.samples.is_empty()),
        Value::Scalar { .. } | Value::String { .. } => true,
    }
}

#[test]
fn a_query_over_the_last_hour_opens_only_the_blocks_it_overlaps() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let db = twelve_hours_of_blocks(dir.path());
    let t = TenantId::single();
    let blocks = db.stats(&t, 0).unwrap_or_else(|e| panic!("{e}")).blocks;
    assert_eq!(blocks.len(), 6);
    let overlapping = |(mint, maxt): (i64, i64)| {
        blocks
            .iter()
            .filter(|b| b.max_time > mint && b.min_time <= maxt)
            .count()
    };

    let engine = Engine::new(EngineOptions::default());
    let q = QueryOpts::default();
    let rec = Recording::new(&db, false);
    let out = engine
        .range(&rec, &t, "sum(rate(c_total[5m]))", END - H, END, M, &q)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(non_empty(&out.value));
    let opened = rec.opened();
    assert_eq!(opened, [(END - H - 5 * M, END)]);
    // The head holds the last hour; of the blocks only [10h, 12h) is read.
    assert_eq!(overlapping(opened[0]), 1);
}

#[test]
fn narrowed_queriers_answer_as_the_whole_range_does() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let db = twelve_hours_of_blocks(dir.path());
    let t = TenantId::single();
    let engine = Engine::new(EngineOptions::default());
    let q = QueryOpts::default();
    for expr in [
        "c_total",
        "rate(c_total[5m])",
        "c_total offset 3h",
        "rate(c_total[10m] offset 5h)",
        "c_total @ 7200",
        "rate(c_total[1h] @ 18000 offset 1h)",
        "last_over_time(c_total[10m] @ start())",
        "avg_over_time(rate(c_total[5m])[30m:1m] offset 4h)",
        "count_over_time(max_over_time(c_total[10m:])[1h:5m] offset 1h)",
        "max_over_time(max_over_time(c_total[10m:] @ 10000)[1h:5m] offset 1h)",
        "sum(c_total offset 7h) / sum(c_total)",
        "c_total offset -30m",
    ] {
        // At least one of the evaluations has data, or the comparison
        // proves nothing about this expression.
        let mut answered = false;
        for (start, end, step) in [
            (END - H, END, M),
            (END, END, 0),
            (END - 20 * M, END - 20 * M, 0),
        ] {
            let run = |db: &dyn Queryable| {
                let out = if step == 0 {
                    engine.instant(db, &t, expr, start, &q)
                } else {
                    engine.range(db, &t, expr, start, end, step, &q)
                };
                out.unwrap_or_else(|e| panic!("{expr}: {e}")).value
            };
            let narrow = Recording::new(&db, false);
            let got = run(&narrow);
            let want = run(&Recording::new(&db, true));
            answered |= non_empty(&want);
            assert_eq!(got, want, "{expr} at {start}..{end}");
            let opened = narrow.opened();
            assert!(
                opened.iter().all(|&(a, b)| b - a < 12 * H),
                "{expr}: {opened:?} is not narrower than the data"
            );
        }
        assert!(answered, "{expr} selects nothing");
    }
}
