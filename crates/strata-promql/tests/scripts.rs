//! Runs every PromQL test script in `tests/testdata/*.test` against the real
//! TSDB (a fresh data dir per script and per `clear`), reading the same data
//! four ways: from the head, from blocks, across a block/head boundary and
//! across two blocks and the head. Every layout must give the same answers.
//!
//! Bless mode rewrites the scripts with the engine's actual results, for
//! review in the diff: `STRATA_BLESS=1 cargo test -p strata-promql --test scripts`.

use std::path::{Path, PathBuf};
use strata_model::{LabelRef, Labels, Queryable, Sample, TenantId, WriteBatch};
use strata_promql::script::{ScriptStorage, run_script};
use strata_tsdb::{Db, DbOptions};

/// How the loaded data is laid out in the TSDB when it is read.
#[derive(Debug, Clone, Copy)]
enum Layout {
    /// Everything in the head.
    Head,
    /// Everything cut into one block.
    Blocks,
    /// The older half in a block, the newer in the head.
    BlockAndHead,
    /// Thirds: two blocks and the head.
    TwoBlocksAndHead,
}

const LAYOUTS: [(Layout, &str); 4] = [
    (Layout::Head, "head"),
    (Layout::Blocks, "blocks"),
    (Layout::BlockAndHead, "block+head"),
    (Layout::TwoBlocksAndHead, "two blocks+head"),
];

struct Built {
    db: Db,
    _dir: tempfile::TempDir,
}

/// The real TSDB. It remembers every load since the last `clear` and, when
/// an eval needs a layout that has not seen the newest loads, rebuilds that
/// layout from scratch: a later `load` may add history older than a cut,
/// which a head that has been cut refuses as too old.
struct TsdbStorage {
    loads: Vec<Vec<(Labels, Vec<Sample>)>>,
    built: Vec<Option<Built>>,
}

impl TsdbStorage {
    fn new() -> Self {
        TsdbStorage {
            loads: Vec::new(),
            built: LAYOUTS.iter().map(|_| None).collect(),
        }
    }

    fn open() -> Result<Built, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let db = Db::open(DbOptions {
            data_dir: dir.path().to_path_buf(),
            retention_time_ms: None,
            // Scripts load history out of order across `load` blocks.
            out_of_order_window_ms: 10 * 365 * 86_400_000,
            ..Default::default()
        })
        .map_err(|e| e.to_string())?;
        Ok(Built { db, _dir: dir })
    }

    fn time_range(&self) -> Option<(i64, i64)> {
        let ts = self
            .loads
            .iter()
            .flatten()
            .flat_map(|(_, s)| s.iter().map(|x| x.t));
        ts.fold(None, |r, t| match r {
            None => Some((t, t)),
            Some((lo, hi)) => Some((lo.min(t), hi.max(t))),
        })
    }

    fn build(&self, layout: Layout) -> Result<Built, String> {
        let b = Self::open()?;
        for series in &self.loads {
            append(&b.db, series)?;
        }
        let tenant = TenantId::single();
        let cut = |end: i64| {
            b.db.cut_head_before(&tenant, end)
                .map_err(|e| e.to_string())
        };
        let (lo, hi) = self.time_range().unwrap_or((0, 0));
        // Cut points strictly inside the loaded range, so that both sides
        // of every boundary hold samples.
        let at = |num: i64, den: i64| lo + ((hi - lo) * num / den).max(1);
        let cuts = match layout {
            Layout::Head => vec![],
            Layout::Blocks => vec![hi.saturating_add(1)],
            Layout::BlockAndHead => vec![at(1, 2)],
            Layout::TwoBlocksAndHead => vec![at(1, 3), at(2, 3)],
        };
        for &end in &cuts {
            cut(end)?;
        }
        self.check_shape(&b.db, layout, &cuts)?;
        Ok(b)
    }

    /// A layout that silently kept everything in the head would test
    /// nothing: every cut that has samples before it must have made a block.
    fn check_shape(&self, db: &Db, layout: Layout, cuts: &[i64]) -> Result<(), String> {
        let ts: Vec<i64> = self
            .loads
            .iter()
            .flatten()
            .flat_map(|(_, s)| s.iter().map(|x| x.t))
            .collect();
        let mut want_blocks = 0;
        let mut from = i64::MIN;
        for &end in cuts {
            if ts.iter().any(|&t| t >= from && t < end) {
                want_blocks += 1;
            }
            from = end;
        }
        let want_head = ts.iter().filter(|&&t| t >= from).count() as u64;
        let st = db
            .stats(&TenantId::single(), 1)
            .map_err(|e| e.to_string())?;
        if st.blocks.len() != want_blocks || st.head_samples != want_head {
            return Err(format!(
                "{layout:?}: {} blocks and {} head samples, want {want_blocks} and {want_head}",
                st.blocks.len(),
                st.head_samples
            ));
        }
        Ok(())
    }
}

fn append(db: &Db, series: &[(Labels, Vec<Sample>)]) -> Result<(), String> {
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

impl ScriptStorage for TsdbStorage {
    fn load(&mut self, series: &[(Labels, Vec<Sample>)]) -> Result<(), String> {
        // The head layout takes loads as they come, which reports a
        // rejected sample at its `load` line; the others rebuild later.
        if self.built[0].is_none() {
            self.built[0] = Some(self.build(Layout::Head)?);
        }
        if let Some(b) = &self.built[0] {
            append(&b.db, series)?;
        }
        self.loads.push(series.to_vec());
        for b in &mut self.built[1..] {
            *b = None;
        }
        Ok(())
    }

    fn clear(&mut self) -> Result<(), String> {
        self.loads.clear();
        for b in &mut self.built {
            if let Some(b) = b.take() {
                b.db.close().map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }

    fn layouts(&self) -> Vec<String> {
        LAYOUTS.iter().map(|(_, n)| n.to_string()).collect()
    }

    fn queryable(&mut self, layout: usize) -> Result<&dyn Queryable, String> {
        let (kind, _) = *LAYOUTS.get(layout).ok_or("no such layout")?;
        if self.built[layout].is_none() {
            self.built[layout] = Some(self.build(kind)?);
        }
        match &self.built[layout] {
            Some(b) => Ok(&b.db),
            None => Err("layout not built".into()),
        }
    }
}

fn scripts() -> Vec<PathBuf> {
    let dir = Path::new(
        &std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into()),
    )
    .join("tests/testdata");
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
        let mut storage = TsdbStorage::new();
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
