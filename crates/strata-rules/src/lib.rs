//! Recording and alerting rules.
//!
//! - `file.rs`: rule files as Prometheus reads them — `groups` of recording
//!   and alerting rules, or a Prometheus Operator `PrometheusRule`
//!   manifest — validated as `promtool check rules` does, and its
//!   duplicate-rule lint.
//! - `template.rs`: Go text/template expansion of alert labels and annotations, as Prometheus' (on the vendored gtmpl).
//! - `group.rs`: a group's evaluation (recorded series, the alert state
//!   machine, `ALERTS`/`ALERTS_FOR_STATE`, stale markers), written through
//!   the ingester like every other writer.
//! - `manager.rs`: scheduling (hash-spread offsets, missed iterations) and
//!   reloads keeping unchanged rules' state; `metrics.rs`: `strata_rule_*`.
//! - `unittest.rs`: `strata test rules`, promtool's rule unit-test format.
//! - `notifier.rs`: alerts to Alertmanager's v2 API (discovery, batching,
//!   a bounded queue, `strata_notifications_*`).

mod file;
mod group;
mod manager;
mod metrics;
pub mod notifier;
pub mod template;
pub mod unittest;

pub use file::{Rule, RuleFile, RuleFileError, RuleGroup, RuleKind, load, parse};
pub use group::{
    Alert, AlertState, EvalContext, GroupState, Health, RESOLVED_RETENTION, RuleState,
};
pub use manager::{RuleManager, RuleSet, eval_timestamp};
pub use metrics::RuleMetrics;
pub use notifier::{Notifier, NotifierMetrics, PostableAlert};

/// A rule name with its labels that more than one rule of a file has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateRule {
    pub metric: String,
    pub labels: Vec<(String, String)>,
}

/// promtool's duplicate-rule lint: rules (recording or alerting) with the
/// same name and labels, one entry per extra occurrence.
pub fn duplicate_rules(file: &RuleFile) -> Vec<DuplicateRule> {
    let mut all: Vec<DuplicateRule> = file
        .groups
        .iter()
        .flat_map(|g| g.rules.iter())
        .map(|r| DuplicateRule {
            metric: r.name().to_string(),
            labels: r
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        })
        .collect();
    all.sort_by(|a, b| {
        a.metric
            .cmp(&b.metric)
            .then_with(|| a.labels.cmp(&b.labels))
    });
    all.windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[1].clone())
        .collect()
}

/// The number of rules in a file.
pub fn rule_count(file: &RuleFile) -> usize {
    file.groups.iter().map(|g| g.rules.len()).sum()
}
