#![no_main]
//! Any string that parses evaluates without panicking: as an instant and a
//! range query against a real TSDB holding counters, gauges, a classic
//! histogram, NaN/±Inf and stale markers. Errors are fine; panics are not.
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use strata_model::{LabelRef, Sample, TenantId, WriteBatch, stale_nan};
use strata_promql::{Engine, EngineOptions, QueryOpts};
use strata_tsdb::{Db, DbOptions};

struct Fixture {
    _dir: tempfile::TempDir,
    db: Db,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open(DbOptions {
            data_dir: dir.path().to_path_buf(),
            retention_time_ms: None,
            ..Default::default()
        })
        .expect("open tsdb");
        let series: Vec<(Vec<(&str, &str)>, Vec<Sample>)> = vec![
            (
                vec![("__name__", "c_total"), ("job", "a"), ("i", "1")],
                (0..40).map(|i| Sample::new(i * 15_000, if i == 20 { 1.0 } else { i as f64 * 3.0 })).collect(),
            ),
            (
                vec![("__name__", "c_total"), ("job", "b"), ("i", "2")],
                (0..40).map(|i| Sample::new(i * 15_000 + 7, i as f64)).collect(),
            ),
            (
                vec![("__name__", "g"), ("job", "a")],
                (0..40)
                    .map(|i| {
                        let v = match i % 9 {
                            2 => f64::NAN,
                            4 => f64::INFINITY,
                            6 => f64::NEG_INFINITY,
                            8 => stale_nan(),
                            _ => (i as f64).sin() * 100.0,
                        };
                        Sample::new(i * 15_000, v)
                    })
                    .collect(),
            ),
            (vec![("__name__", "h_bucket"), ("le", "0.5")], (0..40).map(|i| Sample::new(i * 15_000, i as f64)).collect()),
            (vec![("__name__", "h_bucket"), ("le", "1")], (0..40).map(|i| Sample::new(i * 15_000, 2.0 * i as f64)).collect()),
            (vec![("__name__", "h_bucket"), ("le", "+Inf")], (0..40).map(|i| Sample::new(i * 15_000, 3.0 * i as f64)).collect()),
        ];
        // A write batch carries labels sorted by name, as the decoder produces them.
        let refs: Vec<Vec<LabelRef<'_>>> = series
            .iter()
            .map(|(l, _)| {
                let mut l: Vec<LabelRef<'_>> = l.iter().map(|(n, v)| LabelRef { name: n, value: v }).collect();
                l.sort_by(|a, b| a.name.cmp(b.name));
                l
            })
            .collect();
        let mut batch = WriteBatch::new();
        for ((_, samples), labels) in series.iter().zip(&refs) {
            batch.push(labels, samples);
        }
        db.append(&TenantId::single(), &batch).expect("append");
        Fixture { _dir: dir, db }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(expr) = std::str::from_utf8(data) else { return };
    if expr.len() > 512 {
        return;
    }
    // promql-parser 0.11 panics on a few inputs (huge durations); the engine
    // catches that and answers a parse error (tests/testdata/errors.test),
    // but libFuzzer's panic hook aborts even on caught panics, so such
    // inputs are skipped here with the hook silenced.
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let parser_ok = std::panic::catch_unwind(|| promql_parser::parser::parse(expr)).is_ok();
    std::panic::set_hook(prev);
    if !parser_ok {
        return;
    }
    let f = fixture();
    // Small limits keep each run fast; hitting them is an error, not a crash.
    let engine = Engine::new(EngineOptions {
        max_samples: 200_000,
        timeout: std::time::Duration::from_secs(2),
        ..Default::default()
    });
    let opts = QueryOpts::default();
    let tenant = TenantId::single();
    let _ = engine.instant(&f.db, &tenant, expr, 300_000, &opts);
    let _ = engine.range(&f.db, &tenant, expr, 0, 600_000, 30_000, &opts);
    let _ = strata_promql::format_query(expr);
});
