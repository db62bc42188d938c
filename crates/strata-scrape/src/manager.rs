//! Scrape pools: one per `scrape_configs` job, each turning its discovered
//! groups into targets and running one loop per target. A reload keeps
//! every pool whose job config did not change (its loops, their state and
//! their series untouched) and replaces the others.

use crate::discovery::{self, Discovered};
use crate::expo;
use crate::scrape::{self, Health, LoopContext, Stop, TargetStatus};
use crate::target::{self, DroppedTarget, Populated, Target};
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use strata_config::{Config, ScrapeConfig};
use strata_ingest::Ingester;
use strata_model::{Labels, TenantId};
use tokio::sync::watch;

/// A running target, for the targets API.
#[derive(Debug, Clone)]
pub struct ActiveTarget {
    pub pool: String,
    pub discovered: Labels,
    pub labels: Labels,
    pub url: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub health: Health,
    pub last_error: String,
    pub last_scrape: Option<SystemTime>,
    pub last_duration: Duration,
    pub metadata: Arc<BTreeMap<String, crate::scrape::MetricMetadata>>,
}

/// A discovered target relabeling dropped (or that had no address).
#[derive(Debug, Clone)]
pub struct DroppedView {
    pub pool: String,
    pub discovered: Labels,
}

struct RunningLoop {
    target: Arc<Target>,
    status: Arc<Mutex<TargetStatus>>,
    stop: watch::Sender<Option<Stop>>,
}

#[derive(Default)]
struct PoolTargets {
    active: HashMap<(Labels, String), RunningLoop>,
    /// Targets listed but not scraped (`target_limit` exceeded).
    refused: Vec<(Target, String)>,
    dropped: Vec<DroppedTarget>,
    dropped_total: u64,
}

struct Pool {
    cfg: Arc<ScrapeConfig>,
    targets: Arc<Mutex<PoolTargets>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Pool {
    fn stop(self, how: Stop) {
        for t in self.tasks {
            t.abort();
        }
        let mut targets = self.targets.lock();
        for (_, l) in targets.active.drain() {
            let _ = l.stop.send(Some(how));
        }
    }
}

/// Everything the pools share.
#[derive(Clone)]
pub struct ManagerOptions {
    pub ingester: Arc<Ingester>,
    pub metrics: crate::metrics::ScrapeMetrics,
    pub tenant: TenantId,
    pub user_agent: String,
}

pub struct ScrapeManager {
    opts: ManagerOptions,
    pools: Mutex<BTreeMap<String, Pool>>,
    /// Spreads scrape offsets per server (from its external labels).
    seed: Mutex<u64>,
}

fn seed_of(external: &Labels) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for l in external.iter() {
        h.update(l.name.as_bytes());
        h.update(&[0]);
        h.update(l.value.as_bytes());
        h.update(&[0]);
    }
    h.digest()
}

impl ScrapeManager {
    pub fn new(opts: ManagerOptions) -> Arc<ScrapeManager> {
        Arc::new(ScrapeManager {
            opts,
            pools: Mutex::new(BTreeMap::new()),
            seed: Mutex::new(0),
        })
    }

    /// Starts, keeps or replaces pools to match `cfg`; must run inside the
    /// tokio runtime. A pool whose client cannot be built is logged and
    /// left out; the rest of the config still applies.
    pub fn apply(self: &Arc<Self>, cfg: &Config) {
        *self.seed.lock() = seed_of(&cfg.global.external_labels);
        let mut pools = self.pools.lock();
        let wanted: BTreeMap<&str, &ScrapeConfig> = cfg
            .scrape_configs
            .iter()
            .map(|s| (s.job_name.as_str(), s))
            .collect();
        let names: Vec<String> = pools.keys().cloned().collect();
        for name in names {
            let keep = wanted
                .get(name.as_str())
                .is_some_and(|c| **c == *pools[&name].cfg);
            if !keep && let Some(p) = pools.remove(&name) {
                tracing::info!(job = %name, "stopping scrape pool");
                p.stop(Stop::MarkStale);
                self.opts.metrics.remove_pool(&name);
            }
        }
        for (name, sc) in wanted {
            if pools.contains_key(name) {
                continue;
            }
            match self.start_pool(sc) {
                Ok(p) => {
                    tracing::info!(job = %name, "starting scrape pool");
                    pools.insert(name.to_string(), p);
                }
                Err(e) => tracing::error!(job = %name, error = %e, "scrape pool not started"),
            }
        }
    }

    /// Stops every loop without stale markers (shutdown: the series did
    /// not go away, the server did).
    pub fn stop_all(&self) {
        let mut pools = self.pools.lock();
        for (_, p) in std::mem::take(&mut *pools) {
            p.stop(Stop::Quiet);
        }
    }

    fn start_pool(self: &Arc<Self>, sc: &ScrapeConfig) -> Result<Pool, String> {
        let client = crate::client::build(&sc.http_client)?;
        let ctx = LoopContext {
            cfg: Arc::new(sc.clone()),
            client,
            ingester: self.opts.ingester.clone(),
            tenant: self.opts.tenant.clone(),
            accept: accept_header(sc).into(),
            user_agent: self.opts.user_agent.clone().into(),
            metrics: self.opts.metrics.clone(),
        };
        ctx.metrics.init_pool(&sc.job_name);
        let (found, mut tasks) = discovery::start(&sc.service_discovery, crate::client::build);
        let targets = Arc::new(Mutex::new(PoolTargets::default()));
        let me = Arc::downgrade(self);
        let sync_targets = targets.clone();
        let sync_ctx = ctx.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let seed = match me.upgrade() {
                    Some(m) => *m.seed.lock(),
                    None => return,
                };
                sync(&sync_ctx, &found, &sync_targets, seed);
                found.changed.notified().await;
                // Discovery often changes in bursts (a file rewritten, a
                // rollout): settle before resyncing.
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }));
        Ok(Pool {
            cfg: ctx.cfg.clone(),
            targets,
            tasks,
        })
    }

    pub fn active_targets(&self) -> Vec<ActiveTarget> {
        let pools = self.pools.lock();
        let mut out = Vec::new();
        for (name, p) in pools.iter() {
            let targets = p.targets.lock();
            let mut list: Vec<ActiveTarget> = targets
                .active
                .values()
                .map(|l| {
                    let st = l.status.lock().clone();
                    view(name, &l.target, st)
                })
                .collect();
            for (t, why) in &targets.refused {
                list.push(view(
                    name,
                    t,
                    TargetStatus {
                        health: Health::Down,
                        last_error: why.clone(),
                        ..TargetStatus::default()
                    },
                ));
            }
            list.sort_by(|a, b| a.labels.cmp(&b.labels));
            out.extend(list);
        }
        out
    }

    /// Dropped targets (at most `keep_dropped_targets` per pool when that
    /// is set) and the count of all dropped targets per pool.
    pub fn dropped_targets(&self) -> (Vec<DroppedView>, BTreeMap<String, u64>) {
        let pools = self.pools.lock();
        let mut list = Vec::new();
        let mut counts = BTreeMap::new();
        for (name, p) in pools.iter() {
            let targets = p.targets.lock();
            counts.insert(name.clone(), targets.dropped_total);
            list.extend(targets.dropped.iter().map(|d| DroppedView {
                pool: name.clone(),
                discovered: d.discovered.clone(),
            }));
        }
        (list, counts)
    }

    pub fn pool_names(&self) -> Vec<String> {
        self.pools.lock().keys().cloned().collect()
    }
}

/// The `Accept` header a job's scrapes send (Prometheus 3's, from its
/// `scrape_protocols` and `metric_name_escaping_scheme`).
pub fn accept_header(sc: &ScrapeConfig) -> String {
    expo::accept_header_with_escaping(&sc.scrape_protocols, sc.metric_name_escaping_scheme)
}

fn view(pool: &str, t: &Target, st: TargetStatus) -> ActiveTarget {
    ActiveTarget {
        pool: pool.to_string(),
        discovered: t.discovered.clone(),
        labels: t.labels.clone(),
        url: t.url.clone(),
        interval: t.interval,
        timeout: t.timeout,
        health: st.health,
        last_error: st.last_error,
        last_scrape: st.last_scrape,
        last_duration: st.last_duration,
        metadata: st.metadata,
    }
}

/// Rebuilds a pool's targets from what discovery holds now: new targets
/// get a loop, vanished ones are stopped with stale markers, unchanged
/// ones keep running.
fn sync(ctx: &LoopContext, found: &Discovered, targets: &Mutex<PoolTargets>, seed: u64) {
    let cfg = &ctx.cfg;
    let mut wanted: Vec<Target> = Vec::new();
    let mut dropped = Vec::new();
    let groups = found.groups();
    let discovered: usize = groups.iter().map(|g| g.targets.len()).sum();
    for g in groups {
        for t in &g.targets {
            match target::populate(cfg, &g.labels, t) {
                Ok(Populated::Target(t)) => {
                    if !wanted
                        .iter()
                        .any(|w| w.labels == t.labels && w.url == t.url)
                    {
                        wanted.push(t);
                    }
                }
                Ok(Populated::Dropped(d)) => dropped.push(d),
                Err(e) => {
                    tracing::warn!(job = %cfg.job_name, error = %e, "dropping a discovered target");
                    let mut lb = g.labels.builder();
                    for l in t.iter() {
                        lb.set(&l.name, &l.value);
                    }
                    dropped.push(DroppedTarget {
                        discovered: lb.labels(),
                    });
                }
            }
        }
    }
    let mut pt = targets.lock();
    pt.dropped_total = dropped.len() as u64;
    if cfg.keep_dropped_targets > 0 {
        dropped.truncate(usize::try_from(cfg.keep_dropped_targets).unwrap_or(usize::MAX));
    }
    pt.dropped = dropped;
    if cfg.target_limit > 0 && wanted.len() as u64 > cfg.target_limit {
        let why = format!(
            "target_limit exceeded (number of targets: {}, limit: {})",
            wanted.len(),
            cfg.target_limit
        );
        tracing::error!(job = %cfg.job_name, "{why}");
        for (_, l) in pt.active.drain() {
            let _ = l.stop.send(Some(Stop::MarkStale));
        }
        pt.refused = wanted.into_iter().map(|t| (t, why.clone())).collect();
        ctx.metrics.set_targets(&cfg.job_name, 0, discovered);
        return;
    }
    pt.refused.clear();
    let keys: Vec<(Labels, String)> = wanted
        .iter()
        .map(|t| (t.labels.clone(), t.url.clone()))
        .collect();
    pt.active.retain(|k, l| {
        let keep = keys.contains(k);
        if !keep {
            let _ = l.stop.send(Some(Stop::MarkStale));
        }
        keep
    });
    let now_ns = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    ctx.metrics
        .set_targets(&cfg.job_name, wanted.len(), discovered);
    for t in wanted {
        let key = (t.labels.clone(), t.url.clone());
        if pt.active.contains_key(&key) {
            continue;
        }
        let offset = target::scrape_offset(&t, seed, now_ns);
        let target = Arc::new(t);
        let status = Arc::new(Mutex::new(TargetStatus::default()));
        let (stop, stop_rx) = watch::channel(None);
        tokio::spawn(scrape::run(
            ctx.clone(),
            target.clone(),
            offset,
            status.clone(),
            stop_rx,
        ));
        pt.active.insert(
            key,
            RunningLoop {
                target,
                status,
                stop,
            },
        );
    }
}
