//! Runs every PromQL test script in `tests/testdata/*.test` against the real
//! TSDB (a fresh data dir per script and per `clear`).
//!
//! Bless mode rewrites the scripts with the engine's actual results, for
//! review in the diff: `STRATA_BLESS=1 cargo test -p strata-promql --test scripts`.

use std::path::{Path, PathBuf};
use strata_model::{LabelRef, Labels, Queryable, Sample, TenantId, WriteBatch};
use strata_promql::script::{ScriptStorage, run_script};
use strata_tsdb::{Db, DbOptions};

struct TsdbStorage {
    dir: Option<tempfile::TempDir>,
    db: Option<Db>,
}

impl TsdbStorage {
    fn new() -> Result<Self, String> {
        let mut s = TsdbStorage {
            dir: None,
            db: None,
        };
        s.clear()?;
        Ok(s)
    }
}

impl ScriptStorage for TsdbStorage {
    fn load(&mut self, series: &[(Labels, Vec<Sample>)]) -> Result<(), String> {
        let db = self.db.as_ref().ok_or("no database")?;
        let refs: Vec<Vec<LabelRef<'_>>> = series
            .iter()
            .map(|(l, _)| {
                l.iter()
                    .map(|x| LabelRef {
                        name: &x.name,
                        value: &x.value,
                    })
                    .collect()
            })
            .collect();
        let mut batch = WriteBatch::new();
        for ((_, samples), labels) in series.iter().zip(&refs) {
            batch.push(labels, samples);
        }
        let out = db
            .append(&TenantId::single(), &batch)
            .map_err(|e| e.to_string())?;
        // A script whose data is silently not stored would test nothing.
        match out.rejected.first() {
            None => Ok(()),
            Some(r) => Err(format!(
                "{} series rejected, first: {} ({} samples, {:?})",
                out.rejected.len(),
                series[r.series_index].0,
                r.samples,
                r.reason
            )),
        }
    }

    fn clear(&mut self) -> Result<(), String> {
        if let Some(db) = self.db.take() {
            db.close().map_err(|e| e.to_string())?;
        }
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let db = Db::open(DbOptions {
            data_dir: dir.path().to_path_buf(),
            retention_time_ms: None,
            // Scripts load history out of order across `load` blocks.
            out_of_order_window_ms: 10 * 365 * 86_400_000,
            ..Default::default()
        })
        .map_err(|e| e.to_string())?;
        self.db = Some(db);
        self.dir = Some(dir);
        Ok(())
    }

    fn queryable(&self) -> &dyn Queryable {
        match &self.db {
            Some(db) => db,
            None => &NoData,
        }
    }
}

struct NoData;
impl Queryable for NoData {
    fn querier(
        &self,
        _: &TenantId,
        _: i64,
        _: i64,
    ) -> Result<Box<dyn strata_model::Querier + '_>, strata_model::StorageError> {
        Err(strata_model::StorageError::Unavailable(
            "no database".into(),
        ))
    }
}

fn scripts() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "test"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn promql_scripts() {
    let bless = std::env::var_os("STRATA_BLESS").is_some();
    let files = scripts();
    assert!(
        !files.is_empty(),
        "expected the PromQL test scripts in tests/testdata, found {}",
        files.len()
    );
    let mut failures = Vec::new();
    let mut evals = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let mut storage = TsdbStorage::new().unwrap_or_else(|e| panic!("{e}"));
        let report = run_script(&text, &mut storage, bless);
        evals += report.evals;
        for fail in report.failures {
            failures.push(format!(
                "{}:{fail}",
                f.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ));
        }
        if let Some(new) = report.blessed
            && new != text
        {
            std::fs::write(f, new).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        }
    }
    eprintln!("{evals} evals in {} scripts", files.len());
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
