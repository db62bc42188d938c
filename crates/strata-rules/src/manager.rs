//! The rule manager: one task per group, evaluating at the group's
//! interval from an offset hashed from its file and name (Prometheus'
//! `EvalTimestamp`, so groups spread over the interval and a restart keeps
//! the same phase), counting missed iterations; a reload keeps the state of
//! unchanged rules and marks removed groups' series stale.

use crate::file::RuleFile;
use crate::group::{EvalContext, GroupState};
use crate::metrics::{GroupLabels, RuleMetrics};
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// What the manager runs: the loaded rule files and the global defaults.
pub struct RuleSet {
    pub files: Vec<RuleFile>,
    pub evaluation_interval: Duration,
    pub query_offset: Duration,
    pub external_labels: BTreeMap<String, String>,
}

struct Running {
    group: Arc<Mutex<GroupState>>,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

pub struct RuleManager {
    ctx: Mutex<EvalContext>,
    /// Set once the first rule set is running: only groups of that first
    /// load restore `for` state (a group added by a reload starts afresh,
    /// as in Prometheus).
    started: std::sync::atomic::AtomicBool,
    metrics: RuleMetrics,
    /// By (file, group name), in file and group order.
    running: Mutex<Vec<((String, String), Running)>>,
}

/// Prometheus' evaluation timestamp: the latest `offset + k·interval` at
/// or before `now`, where the offset comes from a hash of the group.
pub fn eval_timestamp(key: &str, interval: Duration, now: SystemTime) -> SystemTime {
    let iv = interval.as_nanos().max(1);
    let offset = u128::from(strata_model::hash_pairs(std::iter::once((
        b"group".as_slice(),
        key.as_bytes(),
    )))) % iv;
    let now_ns = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let adjusted = now_ns.saturating_sub(offset);
    let base = adjusted - adjusted % iv;
    let at = base + offset;
    SystemTime::UNIX_EPOCH + Duration::from_nanos(u64::try_from(at).unwrap_or(u64::MAX))
}

impl RuleManager {
    pub fn new(ctx: EvalContext, metrics: RuleMetrics) -> RuleManager {
        RuleManager {
            ctx: Mutex::new(ctx),
            started: std::sync::atomic::AtomicBool::new(false),
            metrics,
            running: Mutex::new(Vec::new()),
        }
    }

    /// Runs exactly the groups of `set` (inside the tokio runtime).
    pub fn apply(&self, set: RuleSet) {
        {
            let mut ctx = self.ctx.lock();
            ctx.external_labels = set.external_labels.clone();
        }
        let ctx = self.ctx.lock().clone();
        let restore = !self.started.swap(true, std::sync::atomic::Ordering::SeqCst);
        let mut running = self.running.lock();
        let mut old: HashMap<(String, String), Running> =
            std::mem::take(&mut *running).into_iter().collect();
        for file in set.files {
            for group in file.groups {
                let key = (file.path.clone(), group.name.clone());
                let mut state = GroupState::new(
                    file.path.clone(),
                    group,
                    set.evaluation_interval,
                    set.query_offset,
                    &ctx.engine,
                );
                if let Some(prev) = old.remove(&key) {
                    let _ = prev.stop.send(true);
                    prev.task.abort();
                    // The old task is stopped; its state is ours now.
                    let prev_state = std::mem::take(&mut *prev.group.lock());
                    state.adopt(prev_state);
                }
                let r = self.start(&ctx, &key, state, restore);
                running.push((key, r));
            }
        }
        // Groups gone from the configuration: their series end now.
        for (key, r) in old {
            let _ = r.stop.send(true);
            r.task.abort();
            r.group.lock().mark_stale(&ctx, SystemTime::now());
            self.metrics.forget(&GroupLabels::of(&key.0, &key.1));
        }
    }

    fn start(
        &self,
        ctx: &EvalContext,
        key: &(String, String),
        state: GroupState,
        mut restore: bool,
    ) -> Running {
        let labels = GroupLabels::of(&key.0, &key.1);
        self.metrics.init(&labels, &state);
        let group = Arc::new(Mutex::new(state));
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let g = group.clone();
        let ctx = ctx.clone();
        let metrics = self.metrics.clone();
        let hash_key = format!("{};{}", key.0, key.1);
        let task = tokio::spawn(async move {
            let interval = g.lock().interval.max(Duration::from_millis(1));
            let mut next = eval_timestamp(&hash_key, interval, SystemTime::now()) + interval;
            loop {
                let wait = next
                    .duration_since(SystemTime::now())
                    .unwrap_or(Duration::ZERO);
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stopped.changed() => return,
                }
                let ts = next;
                let g2 = g.clone();
                let ctx2 = ctx.clone();
                let started = std::time::Instant::now();
                let first = std::mem::take(&mut restore);
                let done = tokio::task::spawn_blocking(move || {
                    let mut g = g2.lock();
                    let report = g.evaluate(&ctx2, ts);
                    if first {
                        g.restore_for_state(&ctx2, ts);
                    }
                    report
                })
                .await;
                let took = started.elapsed();
                match done {
                    Ok(report) => metrics.iteration(&labels, report, took),
                    Err(e) => {
                        tracing::error!(group = %hash_key, error = %e, "rule group evaluation task failed")
                    }
                }
                // Iterations that passed while this one ran are missed, as
                // Prometheus counts them; the next one stays on the grid.
                let now = SystemTime::now();
                next += interval;
                let mut missed = 0u64;
                while next <= now {
                    next += interval;
                    missed += 1;
                }
                if missed > 0 {
                    metrics.missed(&labels, missed);
                    tracing::warn!(group = %hash_key, missed, "rule group evaluation took longer than its interval");
                }
            }
        });
        Running { group, stop, task }
    }

    /// Every group's state, in file and group order (the rules and alerts
    /// APIs).
    pub fn groups(&self) -> Vec<Arc<Mutex<GroupState>>> {
        self.running
            .lock()
            .iter()
            .map(|(_, r)| r.group.clone())
            .collect()
    }

    /// Stops every group (shutdown); nothing is marked stale.
    pub fn stop_all(&self) {
        for (_, r) in self.running.lock().drain(..) {
            let _ = r.stop.send(true);
            r.task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evaluation_timestamps_sit_on_the_group_grid() {
        let iv = Duration::from_secs(60);
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let a = eval_timestamp("f;g", iv, now);
        assert!(a <= now && now.duration_since(a).unwrap_or_default() < iv);
        let later = eval_timestamp("f;g", iv, now + Duration::from_secs(150));
        let step = later.duration_since(a).unwrap_or_default();
        assert_eq!(step.as_nanos() % iv.as_nanos(), 0, "same phase");
        // Another group gets another phase (with overwhelming likelihood).
        assert_ne!(a, eval_timestamp("f;other", iv, now));
    }
}
