//! Reading the samples storage logged, in log order: what a remote-write
//! queue tails (Prometheus' WAL watcher role), with the queue's progress
//! kept by storage so that a restart resumes where the remote's
//! acknowledgements ended and the log is kept until then.

use crate::{PackedLabels, Sample, StorageError, TenantId};

/// A sample's place in a tenant's log, ordered as the log is: a segment, a
/// frame's byte offset in it, and the sample's 1-based index among the
/// frame's samples. Index 0 names the place just before the frame, so
/// `LogPosition { segment, offset, sample: 0 }` is "everything before the
/// frame at `offset` has been read".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogPosition {
    pub segment: u64,
    pub offset: u64,
    pub sample: u32,
}

impl std::fmt::Display for LogPosition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.segment, self.offset, self.sample)
    }
}

/// One logged sample: where it is, its series' log id (stable while the
/// series lives in the head) and labels.
pub struct LoggedSample<'a> {
    pub position: LogPosition,
    pub series_id: u32,
    pub labels: &'a PackedLabels,
    pub sample: Sample,
}

/// A reader over a tenant's logged samples, from a given position on.
pub trait LogCursor: Send {
    /// Reads what has been logged since the last call, up to about
    /// `max_samples` samples (whole frames), calling `f` for each sample.
    /// Returns how many samples it read; 0 means it is caught up with the
    /// log (call again later). Blocking file I/O.
    fn read(
        &mut self,
        max_samples: usize,
        f: &mut dyn FnMut(LoggedSample<'_>),
    ) -> Result<usize, StorageError>;

    /// Everything before this position has been read.
    fn position(&self) -> LogPosition;

    /// Series ids the cursor forgot since the last call (the head dropped
    /// them): caches keyed by id can drop them too.
    fn take_forgotten(&mut self) -> Vec<u32>;
}

/// How far a remote-write queue got: per shard, the position up to which
/// every sample of that shard was acknowledged by the remote (or refused
/// for good). A resumed queue reads from the smallest and skips, per
/// shard, what its shard already had acknowledged.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueProgress {
    pub shards: Vec<LogPosition>,
}

impl QueueProgress {
    /// Where the log must be kept from: the smallest shard position.
    pub fn oldest(&self) -> Option<LogPosition> {
        self.shards.iter().min().copied()
    }
}

/// Storage whose write-ahead log can be tailed by remote-write queues.
/// Storage keeps each queue's saved progress and does not delete log
/// segments (or the checkpoint naming their series) a queue still needs.
pub trait SampleLog: Send + Sync {
    /// A cursor over samples logged after `after`; `None`: from the log's
    /// current end (a new queue sends what arrives from now on).
    fn tail(
        &self,
        tenant: &TenantId,
        after: Option<LogPosition>,
    ) -> Result<Box<dyn LogCursor>, StorageError>;

    /// The saved progress of queue `queue` (a file-name-safe id).
    fn load_progress(
        &self,
        tenant: &TenantId,
        queue: &str,
    ) -> Result<Option<QueueProgress>, StorageError>;

    /// Saves progress atomically (a crash leaves the old or the new) and
    /// keeps the log from its oldest position on.
    fn save_progress(
        &self,
        tenant: &TenantId,
        queue: &str,
        progress: &QueueProgress,
    ) -> Result<(), StorageError>;

    /// Forgets the progress (and releases the log) of every queue of the
    /// tenant not in `queues`: queues removed from the configuration.
    fn retain_queues(&self, tenant: &TenantId, queues: &[String]) -> Result<(), StorageError>;
}
