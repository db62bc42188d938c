//! From discovered target groups to scrape targets: Prometheus 3's
//! `PopulateLabels` (defaults, `relabel_configs`, `instance`, the
//! `__`-prefixed labels dropped) and the scrape URL.

use std::time::Duration;
use strata_config::{ScrapeConfig, relabel};
use strata_model::{Label, Labels};

pub const ADDRESS: &str = "__address__";
pub const SCHEME: &str = "__scheme__";
pub const METRICS_PATH: &str = "__metrics_path__";
pub const SCRAPE_INTERVAL: &str = "__scrape_interval__";
pub const SCRAPE_TIMEOUT: &str = "__scrape_timeout__";
pub const PARAM_PREFIX: &str = "__param_";

/// A group of targets one discovery produced, as Prometheus'
/// `targetgroup.Group`: each target a label set holding `__address__`,
/// the group's labels shared by all.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TargetGroup {
    /// Identifies the group within its discovery (a file and index, a URL).
    pub source: String,
    pub targets: Vec<Labels>,
    pub labels: Labels,
}

/// A target after relabeling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The labels discovery produced (with the defaults), before
    /// relabeling: `discoveredLabels` in the targets API.
    pub discovered: Labels,
    /// The labels every scraped series carries.
    pub labels: Labels,
    pub url: String,
    pub interval: Duration,
    pub timeout: Duration,
}

/// A target relabeling dropped, or one left without an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedTarget {
    pub discovered: Labels,
}

/// Why a target was not created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("no address")]
    NoAddress,
    #[error("invalid {label} label value {value:?}: {reason}")]
    BadLabel {
        label: &'static str,
        value: String,
        reason: String,
    },
    #[error("scrape timeout {timeout} greater than scrape interval {interval} for scrape")]
    TimeoutAboveInterval { timeout: String, interval: String },
}

/// Prometheus' duration form (`15s`, `1m30s`), for `__scrape_interval__`.
pub fn format_duration(d: Duration) -> String {
    strata_model::units::format_duration(d)
}

/// What became of one discovered target.
pub enum Populated {
    Target(Target),
    Dropped(DroppedTarget),
}

/// Builds the target of one discovered label set. `Err` is a target
/// Prometheus would also refuse (logged, and listed as dropped).
pub fn populate(
    cfg: &ScrapeConfig,
    group_labels: &Labels,
    target_labels: &Labels,
) -> Result<Populated, TargetError> {
    let mut lb = group_labels.builder();
    for l in target_labels.iter() {
        lb.set(&l.name, &l.value);
    }
    let defaults: [(&str, String); 5] = [
        ("job", cfg.job_name.clone()),
        (SCRAPE_INTERVAL, format_duration(cfg.scrape_interval)),
        (SCRAPE_TIMEOUT, format_duration(cfg.scrape_timeout)),
        (METRICS_PATH, cfg.metrics_path.clone()),
        (SCHEME, cfg.scheme.clone()),
    ];
    for (name, value) in defaults {
        if lb.get(name).is_none_or(str::is_empty) {
            lb.set(name, &value);
        }
    }
    for (name, values) in &cfg.params {
        let label = format!("{PARAM_PREFIX}{name}");
        if let Some(first) = values.first()
            && lb.get(&label).is_none_or(str::is_empty)
        {
            lb.set(&label, first);
        }
    }
    let discovered = lb.labels();
    if !relabel::process_builder(&mut lb, &cfg.relabel_configs) {
        return Ok(Populated::Dropped(DroppedTarget { discovered }));
    }
    let relabeled = lb.labels();
    let Some(address) = relabeled.get(ADDRESS).filter(|a| !a.is_empty()) else {
        return Err(TargetError::NoAddress);
    };
    let address = address.to_string();
    let interval = parse_duration_label(&relabeled, SCRAPE_INTERVAL)?;
    let timeout = parse_duration_label(&relabeled, SCRAPE_TIMEOUT)?;
    if interval.is_zero() {
        return Err(TargetError::BadLabel {
            label: SCRAPE_INTERVAL,
            value: "0s".into(),
            reason: "scrape interval cannot be 0".into(),
        });
    }
    if timeout.is_zero() {
        return Err(TargetError::BadLabel {
            label: SCRAPE_TIMEOUT,
            value: "0s".into(),
            reason: "scrape timeout cannot be 0".into(),
        });
    }
    if timeout > interval {
        return Err(TargetError::TimeoutAboveInterval {
            timeout: format_duration(timeout),
            interval: format_duration(interval),
        });
    }
    let url = scrape_url(cfg, &relabeled, &address);
    let mut kept: Vec<Label> = relabeled
        .iter()
        .filter(|l| !l.name.starts_with("__") && !l.value.is_empty())
        .cloned()
        .collect();
    if !kept.iter().any(|l| l.name == "instance") {
        kept.push(Label::new("instance", address));
    }
    Ok(Populated::Target(Target {
        discovered,
        labels: Labels::new(kept),
        url,
        interval,
        timeout,
    }))
}

fn parse_duration_label(labels: &Labels, name: &'static str) -> Result<Duration, TargetError> {
    let value = labels.get(name).unwrap_or_default();
    strata_model::units::parse_duration(value).map_err(|e| TargetError::BadLabel {
        label: name,
        value: value.to_string(),
        reason: e.to_string(),
    })
}

/// `scheme://address/metrics_path?params`: the config's params, with each
/// `__param_<name>` label replacing that parameter's first value.
fn scrape_url(cfg: &ScrapeConfig, labels: &Labels, address: &str) -> String {
    let scheme = labels.get(SCHEME).unwrap_or("http");
    let path = labels.get(METRICS_PATH).unwrap_or("/metrics");
    let mut params: Vec<(String, Vec<String>)> = cfg
        .params
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for l in labels.iter() {
        if let Some(name) = l.name.strip_prefix(PARAM_PREFIX) {
            match params.iter_mut().find(|(k, _)| k == name) {
                Some((_, values)) => match values.first_mut() {
                    Some(first) => l.value.as_str().clone_into(first),
                    None => values.push(l.value.to_string()),
                },
                None => params.push((name.to_string(), vec![l.value.to_string()])),
            }
        }
    }
    params.sort_by(|a, b| a.0.cmp(&b.0));
    let mut url = format!("{scheme}://{address}{path}");
    let mut sep = if path.contains('?') { '&' } else { '?' };
    for (k, values) in &params {
        for v in values {
            url.push(sep);
            sep = '&';
            url.push_str(&strata_model::format::query_escape(k));
            url.push('=');
            url.push_str(&strata_model::format::query_escape(v));
        }
    }
    url
}

/// Where in each interval a target is scraped: spread by a hash of the
/// target (labels and URL) and of this server (`seed`, from its external
/// labels), so that targets do not all fire at once and two servers with
/// different external labels scrape the same target at different times,
/// as Prometheus' `Target.offset` does.
pub fn scrape_offset(target: &Target, seed: u64, now_ns: u128) -> Duration {
    let interval_ns = target.interval.as_nanos().max(1);
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for l in target.labels.iter() {
        h.update(l.name.as_bytes());
        h.update(&[0xff]);
        h.update(l.value.as_bytes());
        h.update(&[0xff]);
    }
    h.update(target.url.as_bytes());
    let hash = u128::from(h.digest() ^ seed);
    let base = interval_ns - now_ns % interval_ns;
    let mut next = base + hash % interval_ns;
    if next > interval_ns {
        next -= interval_ns;
    }
    Duration::from_nanos(u64::try_from(next).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_config::Config;

    fn job(yaml: &str) -> ScrapeConfig {
        let cfg = Config::parse(yaml, "test.yml", std::path::Path::new("."))
            .unwrap_or_else(|e| panic!("{e}"));
        cfg.scrape_configs
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no job"))
    }

    fn target(p: Populated) -> Target {
        match p {
            Populated::Target(t) => t,
            Populated::Dropped(d) => panic!("dropped: {:?}", d.discovered),
        }
    }

    #[test]
    fn defaults_instance_and_url() {
        let cfg = job(
            "scrape_configs:\n- job_name: node\n  scrape_interval: 30s\n  params:\n    module: [a, b]\n  static_configs: [{targets: ['h:9100']}]\n",
        );
        let t = target(
            populate(
                &cfg,
                &Labels::from_pairs([("env", "prod")]),
                &Labels::from_pairs([(ADDRESS, "h:9100")]),
            )
            .unwrap_or_else(|e| panic!("{e}")),
        );
        assert_eq!(
            t.labels,
            Labels::from_pairs([("env", "prod"), ("instance", "h:9100"), ("job", "node")])
        );
        assert_eq!(t.url, "http://h:9100/metrics?module=a&module=b");
        assert_eq!(t.interval, Duration::from_secs(30));
        assert_eq!(t.timeout, Duration::from_secs(10));
        assert_eq!(t.discovered.get(SCRAPE_INTERVAL), Some("30s"));
        assert_eq!(t.discovered.get("__param_module"), Some("a"));
    }

    #[test]
    fn relabeling_rewrites_address_path_and_params() {
        let cfg = job(concat!(
            "scrape_configs:\n- job_name: blackbox\n  metrics_path: /probe\n",
            "  relabel_configs:\n",
            "  - {source_labels: [__address__], target_label: __param_target}\n",
            "  - {source_labels: [__param_target], target_label: instance}\n",
            "  - {target_label: __address__, replacement: 'bb:9115'}\n",
            "  - {source_labels: [drop], regex: yes, action: drop}\n",
        ));
        let t = target(
            populate(
                &cfg,
                &Labels::empty(),
                &Labels::from_pairs([(ADDRESS, "https://example.org")]),
            )
            .unwrap_or_else(|e| panic!("{e}")),
        );
        assert_eq!(
            t.url,
            "http://bb:9115/probe?target=https%3A%2F%2Fexample.org"
        );
        assert_eq!(t.labels.get("instance"), Some("https://example.org"));
        let dropped = populate(
            &cfg,
            &Labels::empty(),
            &Labels::from_pairs([(ADDRESS, "x"), ("drop", "yes")]),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(dropped, Populated::Dropped(_)));
    }

    #[test]
    fn bad_targets_are_refused() {
        let cfg = job(concat!(
            "scrape_configs:\n- job_name: j\n",
            "  relabel_configs:\n",
            "  - {source_labels: [t], target_label: __scrape_timeout__}\n",
        ));
        let no_address = populate(&cfg, &Labels::empty(), &Labels::from_pairs([("a", "b")]));
        assert!(matches!(no_address, Err(TargetError::NoAddress)));
        let long = populate(
            &cfg,
            &Labels::empty(),
            &Labels::from_pairs([(ADDRESS, "h:1"), ("t", "2m")]),
        );
        assert!(
            matches!(long, Err(TargetError::TimeoutAboveInterval { .. })),
            "{:?}",
            long.err()
        );
        let bad = populate(
            &cfg,
            &Labels::empty(),
            &Labels::from_pairs([(ADDRESS, "h:1"), ("t", "soon")]),
        );
        assert!(matches!(bad, Err(TargetError::BadLabel { .. })));
    }

    #[test]
    fn offsets_stay_within_the_interval_and_differ_by_target() {
        let mk = |addr: &str| Target {
            discovered: Labels::empty(),
            labels: Labels::from_pairs([("instance", addr)]),
            url: format!("http://{addr}/metrics"),
            interval: Duration::from_secs(15),
            timeout: Duration::from_secs(10),
        };
        let offsets: Vec<Duration> = (0..20)
            .map(|i| scrape_offset(&mk(&format!("h{i}:1")), 7, 1_000_000_000_123))
            .collect();
        assert!(offsets.iter().all(|o| *o <= Duration::from_secs(15)));
        let distinct: std::collections::BTreeSet<_> = offsets.iter().collect();
        assert!(distinct.len() > 10, "{offsets:?}");
    }
}
