//! Scraping's self-metrics, registered in the process registry: the roles
//! of Prometheus' `prometheus_target_*` and `prometheus_sd_*` families.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    pub scrape_job: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ScrapeResultLabels {
    pub scrape_job: String,
    /// `success` or `failure`.
    pub result: String,
}

#[derive(Clone, Default)]
pub struct ScrapeMetrics {
    pub targets: Family<JobLabels, Gauge>,
    pub discovered: Family<JobLabels, Gauge>,
    pub scrapes: Family<ScrapeResultLabels, Counter>,
    pub exceeded_sample_limit: Counter,
}

impl ScrapeMetrics {
    pub fn register(registry: &mut Registry) -> ScrapeMetrics {
        let m = ScrapeMetrics::default();
        let r = registry.sub_registry_with_prefix("strata_scrape");
        r.register(
            "pool_targets",
            "Targets a scrape pool is scraping",
            m.targets.clone(),
        );
        r.register(
            "discovered_targets",
            "Targets service discovery found for a scrape pool, before relabeling",
            m.discovered.clone(),
        );
        r.register(
            "scrapes",
            "Scrapes done, by pool and result",
            m.scrapes.clone(),
        );
        r.register(
            "exceeded_sample_limit",
            "Scrapes that failed because they exceeded the sample limit",
            m.exceeded_sample_limit.clone(),
        );
        m
    }

    /// Creates a pool's series so they read 0 from the start.
    pub(crate) fn init_pool(&self, job: &str) {
        let l = JobLabels {
            scrape_job: job.to_string(),
        };
        self.targets.get_or_create(&l).set(0);
        self.discovered.get_or_create(&l).set(0);
        for result in ["success", "failure"] {
            drop(self.scrapes.get_or_create(&ScrapeResultLabels {
                scrape_job: job.to_string(),
                result: result.into(),
            }));
        }
    }

    pub(crate) fn scrape_done(&self, job: &str, ok: bool) {
        self.scrapes
            .get_or_create(&ScrapeResultLabels {
                scrape_job: job.to_string(),
                result: if ok { "success" } else { "failure" }.into(),
            })
            .inc();
    }

    pub(crate) fn set_targets(&self, job: &str, active: usize, discovered: usize) {
        let l = JobLabels {
            scrape_job: job.to_string(),
        };
        self.targets.get_or_create(&l).set(active as i64);
        self.discovered.get_or_create(&l).set(discovered as i64);
    }

    /// A stopped pool's series go, as its job did.
    pub(crate) fn remove_pool(&self, job: &str) {
        let l = JobLabels {
            scrape_job: job.to_string(),
        };
        self.targets.remove(&l);
        self.discovered.remove(&l);
        for result in ["success", "failure"] {
            self.scrapes.remove(&ScrapeResultLabels {
                scrape_job: job.to_string(),
                result: result.into(),
            });
        }
    }
}
