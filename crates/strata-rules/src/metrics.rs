//! `strata_rule_*`, as Prometheus' `prometheus_rule_*` (label
//! `rule_group="<file>;<group>"`).

use crate::group::{GroupState, IterationReport};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GroupLabels {
    pub rule_group: String,
}

impl GroupLabels {
    pub fn of(file: &str, group: &str) -> GroupLabels {
        GroupLabels {
            rule_group: format!("{file};{group}"),
        }
    }
}

#[derive(Clone, Default)]
pub struct RuleMetrics {
    evaluations: Family<GroupLabels, Counter>,
    failures: Family<GroupLabels, Counter>,
    iterations: Family<GroupLabels, Counter>,
    missed: Family<GroupLabels, Counter>,
    last_duration: Family<GroupLabels, Gauge<f64, AtomicU64>>,
    interval: Family<GroupLabels, Gauge<f64, AtomicU64>>,
    rules: Family<GroupLabels, Gauge>,
}

impl RuleMetrics {
    pub fn register(registry: &mut Registry) -> RuleMetrics {
        let m = RuleMetrics::default();
        let r = registry.sub_registry_with_prefix("strata_rule");
        r.register(
            "evaluations",
            "Rule evaluations, per group",
            m.evaluations.clone(),
        );
        r.register(
            "evaluation_failures",
            "Rule evaluations that failed (query, template or storage error), per group",
            m.failures.clone(),
        );
        r.register(
            "group_iterations",
            "Scheduled evaluations of a group (missed ones included)",
            m.iterations.clone(),
        );
        r.register(
            "group_iterations_missed",
            "Evaluations of a group skipped because the previous one ran past the interval",
            m.missed.clone(),
        );
        r.register(
            "group_last_duration_seconds",
            "How long the group's last evaluation took",
            m.last_duration.clone(),
        );
        r.register(
            "group_interval_seconds",
            "The group's evaluation interval",
            m.interval.clone(),
        );
        r.register("group_rules", "Rules in the group", m.rules.clone());
        m
    }

    pub(crate) fn init(&self, l: &GroupLabels, g: &GroupState) {
        drop(self.evaluations.get_or_create(l));
        drop(self.failures.get_or_create(l));
        drop(self.iterations.get_or_create(l));
        drop(self.missed.get_or_create(l));
        drop(self.last_duration.get_or_create(l));
        self.interval.get_or_create(l).set(g.interval.as_secs_f64());
        self.rules.get_or_create(l).set(g.rules.len() as i64);
    }

    pub(crate) fn iteration(&self, l: &GroupLabels, r: IterationReport, took: Duration) {
        self.iterations.get_or_create(l).inc();
        self.evaluations.get_or_create(l).inc_by(r.rules);
        self.failures.get_or_create(l).inc_by(r.failed);
        self.last_duration.get_or_create(l).set(took.as_secs_f64());
    }

    pub(crate) fn missed(&self, l: &GroupLabels, n: u64) {
        self.iterations.get_or_create(l).inc_by(n);
        self.missed.get_or_create(l).inc_by(n);
    }

    pub(crate) fn forget(&self, l: &GroupLabels) {
        self.evaluations.remove(l);
        self.failures.remove(l);
        self.iterations.remove(l);
        self.missed.remove(l);
        self.last_duration.remove(l);
        self.interval.remove(l);
        self.rules.remove(l);
    }
}
