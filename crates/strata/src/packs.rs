//! The rule packs shipped in the repository's `rules/` folder, compiled into
//! the binary so `strata run --rule-pack kubernetes-triage,kafka` loads them
//! without copying files, `strata rules packs` lists them and `strata rules
//! show NAME` prints one for use in any Prometheus.

use strata_rules::{RuleFile, RuleKind};

/// One shipped pack: a normal Prometheus rule file.
pub struct RulePack {
    pub name: &'static str,
    pub about: &'static str,
    /// Exporters whose series the pack reads.
    pub needs: &'static str,
    pub text: &'static str,
}

impl std::fmt::Debug for RulePack {
    // The name is what identifies a pack; its text would flood `--help`
    // debugging output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RulePack({})", self.name)
    }
}

pub const PACKS: [RulePack; 3] = [
    RulePack {
        name: "kubernetes-triage",
        about: "pod restarts told apart (OOMKilled, crash loop, exit 1/2), memory near limit, evictions, node pressure, pending pods, HPA/VPA",
        needs: "kube-state-metrics v2, cAdvisor (kubelet)",
        text: include_str!("../../../rules/kubernetes-triage.yml"),
    },
    RulePack {
        name: "kafka",
        about: "under-replicated/offline partitions, ISR, controller, consumer lag per partition and its growth, request latency, broker disk; lag recording rules",
        needs: "kafka_exporter and/or the Strimzi JMX exporter",
        text: include_str!("../../../rules/kafka.yml"),
    },
    RulePack {
        name: "strata",
        about: "Strata's self-monitoring: ingest errors, WAL repairs, head cuts and compactions, rules, notifications, targets down, config reloads",
        needs: "Strata's own /metrics (scraped by itself or another server)",
        text: include_str!("../../../rules/strata.yml"),
    },
];

/// The file name a pack's groups carry in `/api/v1/rules` (`file`), so the
/// `file[]` filter can select a pack.
pub fn file_name(pack: &RulePack) -> String {
    format!("rule-pack:{}", pack.name)
}

/// The pack named `name`, or an error listing the known ones.
pub fn find(name: &str) -> Result<&'static RulePack, String> {
    PACKS.iter().find(|p| p.name == name).ok_or_else(|| {
        let known: Vec<&str> = PACKS.iter().map(|p| p.name).collect();
        format!(
            "unknown rule pack {name:?} (shipped packs: {}; see `strata rules packs`)",
            known.join(", ")
        )
    })
}

/// Clap value parser of `--rule-pack`.
pub fn parse_flag(name: &str) -> Result<&'static RulePack, String> {
    find(name.trim())
}

/// The pack's rule file. A shipped pack that does not parse is a build
/// defect, which the pack tests catch; it is still an error, not a panic.
pub fn rule_file(pack: &RulePack) -> Result<RuleFile, strata_config::ConfigError> {
    strata_rules::parse(pack.text, &file_name(pack)).map_err(|errors| {
        match errors.into_iter().next() {
            Some(e) => crate::config::rule_error(e),
            None => strata_config::ConfigError::Invalid {
                file: file_name(pack),
                pos: None,
                path: String::new(),
                message: "invalid rule pack".into(),
            },
        }
    })
}

/// `strata rules packs`: one line per pack with its counts.
pub fn list() -> String {
    let mut out = String::from("NAME               GROUPS  ALERTS  RECORDS  NEEDS\n");
    for p in &PACKS {
        let (groups, alerts, records) = match rule_file(p) {
            Ok(f) => {
                let rules = f.groups.iter().flat_map(|g| &g.rules);
                let alerts = rules
                    .clone()
                    .filter(|r| matches!(r.kind, RuleKind::Alerting { .. }))
                    .count();
                (f.groups.len(), alerts, rules.count() - alerts)
            }
            Err(_) => (0, 0, 0),
        };
        out.push_str(&format!(
            "{:<18} {:>6}  {:>6}  {:>7}  {}\n",
            p.name, groups, alerts, records, p.needs
        ));
        out.push_str(&format!("{:<18} {}\n", "", p.about));
    }
    out.push_str(
        "\nLoad with `strata run --rule-pack NAME[,NAME…]`; print one with `strata rules show NAME` \
         (a plain Prometheus rule file). Runbooks: docs/runbooks/NAME.md.\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pack_parses_and_has_rules() {
        for p in &PACKS {
            let f = match rule_file(p) {
                Ok(f) => f,
                Err(e) => panic!("pack {}: {e}", p.name),
            };
            assert!(!f.groups.is_empty(), "pack {} has no groups", p.name);
            assert_eq!(f.path, format!("rule-pack:{}", p.name));
        }
    }

    #[test]
    fn unknown_pack_names_the_known_ones() {
        let e = match find("kafak") {
            Err(e) => e,
            Ok(_) => panic!("kafak is not a pack"),
        };
        assert!(e.contains("\"kafak\"") && e.contains("kubernetes-triage, kafka, strata"));
    }
}
