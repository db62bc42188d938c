//! `strata test rules FILE…`: promtool's rule unit tests
//! (strata-rules' `unittest`), each test group on a fresh temporary
//! database.

use std::path::PathBuf;
use std::sync::Arc;
use strata_ingest::{IngestMetrics, Ingester, IngesterOptions};
use strata_rules::unittest::{TestStorage, run_file};
use strata_tsdb::{Db, DbOptions};

fn temporary_storage() -> Result<TestStorage, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("a temporary directory: {e}"))?;
    let db = Arc::new(
        Db::open(DbOptions {
            data_dir: dir.path().to_path_buf(),
            // Test data sits at the epoch: nothing may be aged out.
            retention_time_ms: None,
            ..DbOptions::default()
        })
        .map_err(|e| format!("a temporary database: {e}"))?,
    );
    let mut registry = prometheus_client::registry::Registry::default();
    let ingester = Arc::new(Ingester::new(
        db.clone(),
        IngesterOptions::default(),
        IngestMetrics::register(&mut registry),
    ));
    Ok(TestStorage {
        queryable: db.clone(),
        ingester,
        guard: Box::new((db, dir)),
    })
}

/// Runs every file; true when all passed.
pub fn test_rules(files: &[PathBuf]) -> bool {
    let engine = Arc::new(strata_promql::Engine::default());
    let mut ok = true;
    for f in files {
        println!("Unit Testing:  {}", f.display());
        match run_file(f, &engine, &temporary_storage) {
            Ok(()) => println!("  SUCCESS"),
            Err(errors) => {
                ok = false;
                eprintln!("  FAILED:");
                for e in errors {
                    eprintln!("{e}");
                    println!();
                }
            }
        }
        println!();
    }
    ok
}
