//! Enough series that selectors fan out over threads: results must equal
//! what one series at a time gives, in the same order.

use strata_model::{LabelRef, Sample, TenantId, WriteBatch};
use strata_promql::{Engine, EngineOptions, QueryOpts, Value};
use strata_tsdb::{Db, DbOptions};

fn open_db(dir: &std::path::Path) -> Db {
    Db::open(DbOptions {
        data_dir: dir.to_path_buf(),
        retention_time_ms: None,
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn thousands_of_series_evaluate_like_one_at_a_time() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let db = open_db(dir.path());
    let n = 3000usize;
    let names: Vec<String> = (0..n).map(|i| format!("{i:05}")).collect();
    let labels: Vec<Vec<LabelRef<'_>>> = names
        .iter()
        .map(|id| {
            vec![
                LabelRef {
                    name: "__name__",
                    value: "req_total",
                },
                LabelRef {
                    name: "id",
                    value: id,
                },
            ]
        })
        .collect();
    // Series i grows by i per 15 s for 10 minutes.
    let samples: Vec<Vec<Sample>> = (0..n)
        .map(|i| {
            (0..=40)
                .map(|k| Sample::new(k * 15_000, (i as f64) * k as f64))
                .collect()
        })
        .collect();
    let mut batch = WriteBatch::new();
    for (l, s) in labels.iter().zip(&samples) {
        batch.push(l, s);
    }
    db.append(&TenantId::single(), &batch)
        .unwrap_or_else(|e| panic!("{e}"));
    let engine = Engine::new(EngineOptions::default());
    let t = TenantId::single();
    let q = QueryOpts::default();

    // rate over a window fully inside the data is exactly i / 15.
    let out = engine
        .instant(&db, &t, "rate(req_total[5m])", 600_000, &q)
        .unwrap_or_else(|e| panic!("{e}"));
    let Value::Vector(v) = out.value else {
        panic!("not a vector")
    };
    assert_eq!(v.len(), n);
    for (i, s) in v.iter().enumerate() {
        assert_eq!(
            s.labels.get("id"),
            Some(names[i].as_str()),
            "sorted by labels"
        );
        let want = i as f64 / 15.0;
        assert!(
            (s.v - want).abs() <= 1e-9 * want.max(1.0),
            "series {i}: {} vs {want}",
            s.v
        );
    }

    let out = engine
        .range(
            &db,
            &t,
            "sum(rate(req_total[5m]))",
            300_000,
            600_000,
            60_000,
            &q,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let Value::Matrix(m) = out.value else {
        panic!("not a matrix")
    };
    let want: f64 = (0..n).map(|i| i as f64 / 15.0).sum();
    for p in &m[0].samples {
        assert!((p.v - want).abs() / want < 1e-9, "{} vs {want}", p.v);
    }
    assert_eq!(m[0].samples.len(), 6);

    let out = engine
        .instant(&db, &t, "req_total", 600_000, &q)
        .unwrap_or_else(|e| panic!("{e}"));
    let Value::Vector(v) = out.value else {
        panic!("not a vector")
    };
    assert_eq!(v.len(), n);
    for (i, s) in v.iter().enumerate() {
        assert_eq!(s.labels.get("id"), Some(names[i].as_str()));
        assert_eq!(s.v, i as f64 * 40.0);
    }
    let out = engine
        .range(&db, &t, "count(req_total > 100)", 0, 600_000, 15_000, &q)
        .unwrap_or_else(|e| panic!("{e}"));
    let Value::Matrix(m) = out.value else {
        panic!("not a matrix")
    };
    for p in &m[0].samples {
        let k = p.t / 15_000;
        let want = (0..n).filter(|&i| (i as f64) * (k as f64) > 100.0).count() as f64;
        assert_eq!(p.v, want, "at {}", p.t);
    }
}

/// Folding aggregations over a bare selector read it a batch at a time
/// (8192 series per batch). Over 20 000 series — three batches — every fold
/// must equal, to the bit, the same aggregation over `x * 1`, which holds
/// the whole input first; and the sample limit must count the selection as
/// if it were held.
#[test]
fn folding_aggregations_over_several_batches_equal_the_whole_input() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let db = open_db(dir.path());
    let n = 20_000usize;
    let ids: Vec<String> = (0..n).map(|i| format!("{i:05}")).collect();
    let groups: Vec<String> = (0..n).map(|i| format!("g{}", i % 7)).collect();
    // Values whose results depend on the order they are folded in: in
    // group g1 the running sum overflows only when two +1.5e308 come
    // before their -1.5e308; g2 mixes magnitudes far apart; NaN and +Inf
    // only in g6, so they do not hide the others.
    let value = |i: usize, k: i64| -> f64 {
        match (i % 7, (i / 7) % 3) {
            (1, 0 | 1) => 1.5e308,
            (1, _) => -1.5e308,
            (2, 0) => 1e16 + (i as f64) * (k as f64),
            (2, 1) => -1e16 + 0.1 * i as f64,
            (6, _) if i % 997 == 6 => f64::NAN,
            (6, _) if i % 991 == 6 => f64::INFINITY,
            _ => 0.37 * (i as f64) - (k as f64),
        }
    };
    let mut batch = WriteBatch::new();
    for i in 0..n {
        let labels = [
            LabelRef {
                name: "__name__",
                value: "x",
            },
            LabelRef {
                name: "g",
                value: &groups[i],
            },
            LabelRef {
                name: "id",
                value: &ids[i],
            },
        ];
        let samples: Vec<Sample> = (0..=8)
            .map(|k| Sample::new(k * 15_000, value(i, k)))
            .collect();
        batch.push(&labels, &samples);
    }
    db.append(&TenantId::single(), &batch)
        .unwrap_or_else(|e| panic!("{e}"));
    let engine = Engine::new(EngineOptions::default());
    let t = TenantId::single();
    let q = QueryOpts::default();
    let range = |expr: &str| -> Vec<(String, Vec<(i64, u64)>)> {
        let out = engine
            .range(&db, &t, expr, 0, 120_000, 15_000, &q)
            .unwrap_or_else(|e| panic!("{expr}: {e}"));
        let Value::Matrix(m) = out.value else {
            panic!("{expr}: not a matrix")
        };
        m.iter()
            .map(|s| {
                (
                    format!("{:?}", s.labels),
                    s.samples
                        .iter()
                        .map(|p| (p.t, if p.v.is_nan() { 1 } else { p.v.to_bits() }))
                        .collect(),
                )
            })
            .collect()
    };
    for op in [
        "sum", "avg", "min", "max", "count", "group", "stddev", "stdvar",
    ] {
        for grouping in ["", " by (g)", " without (id)"] {
            let folded = range(&format!("{op}{grouping} (x)"));
            let whole = range(&format!("{op}{grouping} (x * 1)"));
            assert!(!folded.is_empty(), "{op}{grouping}: empty");
            assert_eq!(folded, whole, "{op}{grouping}");
        }
    }
    let count = range("count(x)");
    assert_eq!(count[0].1[0].1, (n as f64).to_bits());
    // Against the data itself, in an order-free form: per group g3 and
    // step, the count and the maximum of its series.
    let g3: Vec<usize> = (0..n).filter(|i| i % 7 == 3).collect();
    for (expr, want) in [
        (
            "count by (g) (x)",
            Box::new(|_: i64| g3.len() as f64) as Box<dyn Fn(i64) -> f64>,
        ),
        (
            "max by (g) (x)",
            Box::new(|k: i64| g3.iter().map(|&i| value(i, k)).fold(f64::MIN, f64::max)),
        ),
    ] {
        let got = range(expr);
        let (_, pts) = got
            .iter()
            .find(|(l, _)| l.contains("\"g3\""))
            .unwrap_or_else(|| panic!("{expr}: no g3"));
        assert_eq!(pts.len(), 9, "{expr}");
        for &(t, bits) in pts {
            assert_eq!(bits, want(t / 15_000).to_bits(), "{expr} at {t}");
        }
    }

    // 20 000 series × 9 steps = 180 000 samples selected.
    let small = Engine::new(EngineOptions {
        max_samples: 100_000,
        ..EngineOptions::default()
    });
    for expr in ["count(x)", "sum by (g) (x)"] {
        let r = small.range(&db, &t, expr, 0, 120_000, 15_000, &q);
        assert!(
            matches!(r, Err(strata_promql::QueryError::TooManySamples)),
            "{expr}: {:?}",
            r.map(|o| format!("{:?}", o.value))
        );
    }
}
