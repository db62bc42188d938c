//! Enough series that selectors fan out over threads: results must equal
//! what one series at a time gives, in the same order.

use strata_model::{LabelRef, Sample, TenantId, WriteBatch};
use strata_promql::{Engine, EngineOptions, QueryOpts, Value};
use strata_tsdb::{Db, DbOptions};

#[test]
fn thousands_of_series_evaluate_like_one_at_a_time() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let db = Db::open(DbOptions {
        data_dir: dir.path().to_path_buf(),
        retention_time_ms: None,
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
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
