//! Strata's time-series database: one independent database per tenant, each
//! an in-memory head with its write-ahead log plus immutable blocks on disk.
//!
//! Layout: `<data_dir>/<tenant>/wal/`, `<data_dir>/<tenant>/<ulid>/` (blocks),
//! `<data_dir>/<tenant>/corrupted/`, and `<data_dir>/lock`.

mod chunk;
mod head;
mod head_chunks;
mod postings;

/// Fuzzing entry point for the head chunk file scan (see `fuzz/`).
#[doc(hidden)]
pub use head_chunks::fuzz_scan as fuzz_scan_head_chunks;
mod tenant;
mod wal;

use parking_lot::RwLock;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use strata_model::{
    AppendLimits, Appendable, Matcher, Querier, Queryable, StorageError, TenantId, WriteBatch,
};

pub use chunk::{XorAppender, XorIter};
use tenant::TenantDb;
#[doc(hidden)]
pub use wal::fuzz_parse_segment;

/// When the WAL is fsynced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalSync {
    /// Each acknowledged write was fsynced (concurrent writes share fsyncs).
    Always,
    /// Acknowledged writes reached the OS; fsync runs on this interval.
    Interval(std::time::Duration),
}

/// Injected time, so retention and head cuts are testable without sleeping.
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> i64;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
}

#[derive(Clone)]
pub struct DbOptions {
    pub data_dir: PathBuf,
    pub block_range_ms: i64,
    pub retention_time_ms: Option<i64>,
    pub retention_size_bytes: Option<u64>,
    pub out_of_order_window_ms: i64,
    pub wal_sync: WalSync,
    pub wal_segment_bytes: u64,
    /// WAL growth since its last checkpoint after which maintenance
    /// checkpoints it between head cuts, leaving out what the head chunk
    /// files hold (0: only at head cuts).
    pub wal_trim_bytes: u64,
    /// Agent mode: the WAL is the only storage (no samples in memory, no
    /// blocks); maintenance truncates it to what remote-write queues have
    /// not sent yet.
    pub agent: bool,
    pub clock: Arc<dyn Clock>,
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions {
            data_dir: PathBuf::from("./strata-data"),
            block_range_ms: 2 * 3600 * 1000,
            retention_time_ms: Some(15 * 24 * 3600 * 1000),
            retention_size_bytes: None,
            out_of_order_window_ms: 0,
            wal_sync: WalSync::Interval(std::time::Duration::from_secs(1)),
            wal_segment_bytes: 128 << 20,
            // About 4 M samples: replay reads them in a quarter second.
            wal_trim_bytes: 32 << 20,
            agent: false,
            clock: Arc::new(SystemClock),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TsdbError {
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("corrupt data in {location}: {reason}")]
    Corruption { location: String, reason: String },
    #[error("WAL write failed: {0}")]
    Wal(String),
    #[error("data directory {0} is locked by another Strata process (the lock file is {0}/lock)")]
    Locked(String),
    #[error("{0}")]
    BadInput(String),
    #[error("block error: {0}")]
    Block(String),
    #[error("the database is closed")]
    Closed,
}

impl From<TsdbError> for StorageError {
    fn from(e: TsdbError) -> Self {
        match e {
            TsdbError::Io(e) => StorageError::Io(e),
            TsdbError::Corruption { location, reason } => {
                StorageError::Corruption { location, reason }
            }
            TsdbError::BadInput(m) => StorageError::BadData(m),
            TsdbError::Closed => StorageError::Unavailable("the database is closed".into()),
            other => StorageError::Internal(other.to_string()),
        }
    }
}

// The append vocabulary lives in strata-model (every writer speaks it);
// re-exported so the tsdb's callers keep their paths.
pub use strata_model::{AppendOutcome, RejectReason, Rejection};

pub use strata_block::BlockMeta;

#[derive(Debug, Clone, Default)]
pub struct TsdbStats {
    pub num_series: u64,
    pub head_series: u64,
    pub head_samples: u64,
    pub head_chunks: u64,
    /// Closed head chunks read through mmap from `chunks_head/`.
    pub head_chunks_in_files: u64,
    pub head_min_time: i64,
    pub head_max_time: i64,
    pub blocks: Vec<BlockMeta>,
    pub block_bytes: u64,
    pub wal_bytes: u64,
    pub top_label_names_by_cardinality: Vec<(String, u64)>,
    pub top_series_count_by_metric_name: Vec<(String, u64)>,
    pub top_series_count_by_label_pair: Vec<(String, u64)>,
}

// The self-metrics shape lives in strata-model (`StorageAdmin::metrics`);
// re-exported so the tsdb's callers keep their paths.
pub use strata_model::TsdbMetrics;

/// The multi-tenant database.
pub struct Db {
    opts: DbOptions,
    tenants: Arc<RwLock<HashMap<TenantId, Arc<TenantDb>>>>,
    read_only: bool,
    _lock: Option<std::fs::File>,
    closed: std::sync::atomic::AtomicBool,
    /// Set when shutdown begins: maintenance stops between steps.
    stopping: std::sync::atomic::AtomicBool,
    fsync_thread: parking_lot::Mutex<Option<std::thread::JoinHandle<()>>>,
    stop_fsync: Arc<std::sync::atomic::AtomicBool>,
}

fn take_lock(dir: &Path) -> Result<std::fs::File, TsdbError> {
    use fs4::fs_std::FileExt;
    let path = dir.join("lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)?;
    match f.try_lock_exclusive() {
        Ok(true) => Ok(f),
        Ok(false) => Err(TsdbError::Locked(dir.display().to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
            Err(TsdbError::Locked(dir.display().to_string()))
        }
        Err(e) => Err(e.into()),
    }
}

impl Db {
    /// Opens (creating if needed) the data directory: takes its lock, loads
    /// every tenant's blocks and replays its WAL.
    pub fn open(opts: DbOptions) -> Result<Db, TsdbError> {
        std::fs::create_dir_all(&opts.data_dir)?;
        let lock = take_lock(&opts.data_dir)?;
        let db = Self::open_inner(opts, false, Some(lock))?;
        db.start_fsync_thread();
        Ok(db)
    }

    /// Opens a data directory without writing to it (for `strata tsdb dump`,
    /// `stats` and offline queries): no lock, no truncation, no new segment.
    pub fn open_read_only(opts: DbOptions) -> Result<Db, TsdbError> {
        if !opts.data_dir.is_dir() {
            return Err(TsdbError::BadInput(format!(
                "{} is not a directory",
                opts.data_dir.display()
            )));
        }
        Self::open_inner(opts, true, None)
    }

    fn open_inner(
        opts: DbOptions,
        read_only: bool,
        lock: Option<std::fs::File>,
    ) -> Result<Db, TsdbError> {
        let mut tenants = HashMap::new();
        for e in std::fs::read_dir(&opts.data_dir)? {
            let e = e?;
            if !e.file_type()?.is_dir() {
                continue;
            }
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            if name == "snapshots" {
                continue;
            }
            let Ok(tenant) = TenantId::parse(name) else {
                tracing::warn!(dir = %e.path().display(), "ignoring a directory that is not a tenant");
                continue;
            };
            let t = TenantDb::open(&opts, &e.path(), read_only)?;
            tenants.insert(tenant, Arc::new(t));
        }
        Ok(Db {
            opts,
            tenants: Arc::new(RwLock::new(tenants)),
            read_only,
            _lock: lock,
            closed: std::sync::atomic::AtomicBool::new(false),
            stopping: std::sync::atomic::AtomicBool::new(false),
            fsync_thread: parking_lot::Mutex::new(None),
            stop_fsync: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        })
    }

    fn start_fsync_thread(&self) {
        let WalSync::Interval(every) = self.opts.wal_sync else {
            return;
        };
        let stop = self.stop_fsync.clone();
        let tenants = self.tenants.clone();
        let handle = std::thread::Builder::new()
            .name("strata-wal-fsync".into())
            .spawn(move || {
                let tick = std::time::Duration::from_millis(50).min(every);
                let mut waited = std::time::Duration::ZERO;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    waited += tick;
                    if waited < every {
                        continue;
                    }
                    waited = std::time::Duration::ZERO;
                    let all: Vec<Arc<TenantDb>> = tenants.read().values().cloned().collect();
                    for t in all {
                        if let Err(e) = t.sync_wal() {
                            tracing::error!(error = %e, "periodic WAL fsync failed");
                        }
                    }
                }
            });
        if let Ok(h) = handle {
            *self.fsync_thread.lock() = Some(h);
        }
    }

    fn tenant(&self, t: &TenantId) -> Option<Arc<TenantDb>> {
        self.tenants.read().get(t).cloned()
    }

    fn tenant_or_create(&self, t: &TenantId) -> Result<Arc<TenantDb>, TsdbError> {
        if let Some(db) = self.tenant(t) {
            return Ok(db);
        }
        if self.read_only {
            return Err(TsdbError::BadInput("read-only database".into()));
        }
        let mut w = self.tenants.write();
        if let Some(db) = w.get(t) {
            return Ok(db.clone());
        }
        let dir = self.opts.data_dir.join(t.as_str());
        let db = Arc::new(TenantDb::open(&self.opts, &dir, false)?);
        w.insert(t.clone(), db.clone());
        Ok(db)
    }

    /// Appends with no series limit (tools, tests, benchmarks). Writers of
    /// the server go through the ingester, which passes its limits
    /// (`Appendable::append`).
    pub fn append(
        &self,
        tenant: &TenantId,
        batch: &WriteBatch<'_>,
    ) -> Result<AppendOutcome, TsdbError> {
        self.append_with_limits(tenant, batch, &AppendLimits::default())
    }

    pub fn append_with_limits(
        &self,
        tenant: &TenantId,
        batch: &WriteBatch<'_>,
        limits: &AppendLimits,
    ) -> Result<AppendOutcome, TsdbError> {
        if self.closed.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(TsdbError::Closed);
        }
        let db = self.tenant_or_create(tenant)?;
        db.append(batch, limits.max_series)
    }

    pub fn snapshot(&self, tenant: &TenantId, dir: &Path) -> Result<Vec<PathBuf>, TsdbError> {
        match self.tenant(tenant) {
            Some(db) => db.snapshot(dir),
            None => {
                std::fs::create_dir_all(dir)?;
                Ok(Vec::new())
            }
        }
    }

    pub fn delete_series(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<(), TsdbError> {
        match self.tenant(tenant) {
            Some(db) => db.delete_series(matchers, mint, maxt),
            None => Ok(()),
        }
    }

    pub fn clean_tombstones(&self, tenant: &TenantId) -> Result<(), TsdbError> {
        match self.tenant(tenant) {
            Some(db) => db.clean_tombstones(),
            None => Ok(()),
        }
    }

    pub fn stats(&self, tenant: &TenantId, top_n: usize) -> Result<TsdbStats, TsdbError> {
        match self.tenant(tenant) {
            Some(db) => db.stats(top_n),
            None => Ok(TsdbStats::default()),
        }
    }

    pub fn tenants(&self) -> Vec<TenantId> {
        let mut v: Vec<TenantId> = self.tenants.read().keys().cloned().collect();
        v.sort();
        v
    }

    /// Head cut, compaction and retention for every tenant.
    pub fn maintenance(&self) -> Result<(), TsdbError> {
        if self.read_only {
            return Ok(());
        }
        let all: Vec<Arc<TenantDb>> = self.tenants.read().values().cloned().collect();
        for t in all {
            t.maintenance(&self.opts, &self.stopping)?;
        }
        Ok(())
    }

    /// Asks running and future maintenance to stop after its current step
    /// (a cut or a compaction), so shutdown does not wait for a backlog.
    pub fn stop_maintenance(&self) {
        self.stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Cuts the whole head of a tenant into a block.
    pub fn flush_head(&self, tenant: &TenantId) -> Result<(), TsdbError> {
        match self.tenant(tenant) {
            Some(db) => db.flush_all(),
            None => Ok(()),
        }
    }

    /// Cuts every head sample before `end` (ms) of a tenant into a block, as
    /// a scheduled head cut would; tests use it to place data across a
    /// block/head boundary.
    pub fn cut_head_before(&self, tenant: &TenantId, end: i64) -> Result<(), TsdbError> {
        match self.tenant(tenant) {
            Some(db) => db.cut_head(end),
            None => Ok(()),
        }
    }

    /// Flushes and fsyncs every WAL. Idempotent.
    pub fn close(&self) -> Result<(), TsdbError> {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        self.stop_fsync
            .store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(h) = self.fsync_thread.lock().take() {
            let _ = h.join();
        }
        let all: Vec<Arc<TenantDb>> = self.tenants.read().values().cloned().collect();
        for t in all {
            t.close()?;
        }
        Ok(())
    }

    pub fn metrics(&self) -> TsdbMetrics {
        let mut m = TsdbMetrics {
            head_min_time_ms: i64::MAX,
            head_max_time_ms: i64::MIN,
            ..Default::default()
        };
        for t in self.tenants.read().values() {
            m.tenants += 1;
            t.add_metrics(&mut m);
        }
        if m.head_min_time_ms == i64::MAX {
            m.head_min_time_ms = 0;
            m.head_max_time_ms = 0;
        }
        m
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if !self.read_only {
            let _ = self.close();
        }
    }
}

impl Queryable for Db {
    fn querier(
        &self,
        tenant: &TenantId,
        mint: i64,
        maxt: i64,
    ) -> Result<Box<dyn Querier + '_>, StorageError> {
        match self.tenant(tenant) {
            Some(db) => Ok(Box::new(db.querier(mint, maxt))),
            None => Ok(Box::new(tenant::EmptyQuerier)),
        }
    }
}

impl Appendable for Db {
    fn append(
        &self,
        tenant: &TenantId,
        batch: &WriteBatch<'_>,
        limits: &AppendLimits,
    ) -> Result<AppendOutcome, StorageError> {
        Db::append_with_limits(self, tenant, batch, limits).map_err(StorageError::from)
    }
}

impl strata_model::SampleLog for Db {
    fn tail(
        &self,
        tenant: &TenantId,
        after: Option<strata_model::LogPosition>,
    ) -> Result<Box<dyn strata_model::LogCursor>, StorageError> {
        if self.read_only {
            return Err(StorageError::Unavailable(
                "the database is open read-only".into(),
            ));
        }
        // A tenant that never wrote has no WAL yet: the cursor waits for it.
        let dir = self.opts.data_dir.join(tenant.as_str()).join("wal");
        Ok(Box::new(wal::WalTail::open(&dir, after)?))
    }

    fn load_progress(
        &self,
        tenant: &TenantId,
        queue: &str,
    ) -> Result<Option<strata_model::QueueProgress>, StorageError> {
        Ok(self.tenant_or_create(tenant)?.queue_progress(queue)?)
    }

    fn save_progress(
        &self,
        tenant: &TenantId,
        queue: &str,
        progress: &strata_model::QueueProgress,
    ) -> Result<(), StorageError> {
        Ok(self
            .tenant_or_create(tenant)?
            .save_queue_progress(queue, progress)?)
    }

    fn retain_queues(&self, tenant: &TenantId, queues: &[String]) -> Result<(), StorageError> {
        Ok(self.tenant_or_create(tenant)?.retain_queues(queues)?)
    }
}

impl strata_model::StorageAdmin for Db {
    fn snapshot(&self, tenant: &TenantId, dir: &Path) -> Result<Vec<PathBuf>, StorageError> {
        Db::snapshot(self, tenant, dir).map_err(StorageError::from)
    }

    fn delete_series(
        &self,
        tenant: &TenantId,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<(), StorageError> {
        Db::delete_series(self, tenant, matchers, mint, maxt).map_err(StorageError::from)
    }

    fn clean_tombstones(&self, tenant: &TenantId) -> Result<(), StorageError> {
        Db::clean_tombstones(self, tenant).map_err(StorageError::from)
    }

    fn cardinality_stats(
        &self,
        tenant: &TenantId,
        top_n: usize,
    ) -> Result<strata_model::CardinalityStats, StorageError> {
        let s = Db::stats(self, tenant, top_n).map_err(StorageError::from)?;
        Ok(strata_model::CardinalityStats {
            head_series: s.head_series,
            head_chunks: s.head_chunks,
            head_min_time: s.head_min_time,
            head_max_time: s.head_max_time,
            top_label_names_by_cardinality: s.top_label_names_by_cardinality,
            top_series_count_by_metric_name: s.top_series_count_by_metric_name,
            top_series_count_by_label_pair: s.top_series_count_by_label_pair,
        })
    }

    fn metrics(&self) -> TsdbMetrics {
        Db::metrics(self)
    }
}
