//! The configuration file (`--config`, prometheus.yml as Prometheus 3
//! reads it, see strata-config), the default when there is none, and
//! `strata check config` and `strata check rules`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use strata_config::{Config, ConfigError};

/// A configuration that failed to load at start: `strata run` exits 2, as
/// Prometheus does.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidConfig(pub ConfigError);

/// Where a server on `listen` is reached from itself.
fn self_address(listen: SocketAddr) -> String {
    let ip = listen.ip();
    match ip {
        std::net::IpAddr::V4(v4) if v4.is_unspecified() => format!("127.0.0.1:{}", listen.port()),
        std::net::IpAddr::V6(v6) if v6.is_unspecified() => format!("[::1]:{}", listen.port()),
        _ => listen.to_string(),
    }
}

/// Prometheus' default configuration, with Strata in Prometheus' place:
/// scrape our own `/metrics` every 15 s, so a new server has data at once.
pub fn default_text(listen: SocketAddr, route_prefix: &str) -> String {
    // Under --web.route-prefix, /metrics is served there too.
    let metrics_path = if route_prefix.is_empty() {
        String::new()
    } else {
        format!("    metrics_path: \"{route_prefix}/metrics\"\n")
    };
    format!(
        "# Strata's default configuration (no --config given).\n\
         global:\n  scrape_interval: 15s\n  evaluation_interval: 15s\n\
         scrape_configs:\n  - job_name: strata\n{metrics_path}    static_configs:\n      - targets: [\"{}\"]\n",
        self_address(listen)
    )
}

/// The configuration a server runs with: the file, or the default.
pub fn load(
    path: Option<&Path>,
    listen: SocketAddr,
    route_prefix: &str,
    agent: bool,
) -> Result<Config, ConfigError> {
    let cfg = match path {
        Some(p) => Config::load(p)?,
        None => Config::parse(
            &default_text(listen, route_prefix),
            "<default config>",
            Path::new("."),
        )?,
    };
    if agent {
        cfg.check_agent()?;
    }
    check_rule_files(&cfg)?;
    Ok(cfg)
}

/// The rule groups `cfg` names and the `--rule-pack` packs, for the rule
/// manager (`load` has checked the files already).
pub fn rule_set(
    cfg: &Config,
    packs: &[&'static crate::packs::RulePack],
) -> Result<strata_rules::RuleSet, ConfigError> {
    let mut files = Vec::new();
    for pack in packs {
        files.push(crate::packs::rule_file(pack)?);
    }
    for path in cfg.rule_file_paths()? {
        match strata_rules::load(&path) {
            Ok(f) => files.push(f),
            Err(errors) => {
                if let Some(first) = errors.into_iter().next() {
                    return Err(rule_error(first));
                }
            }
        }
    }
    Ok(strata_rules::RuleSet {
        files,
        evaluation_interval: cfg.global.evaluation_interval,
        query_offset: cfg.global.rule_query_offset,
        external_labels: cfg
            .global
            .external_labels
            .iter()
            .map(|l| (l.name.to_string(), l.value.to_string()))
            .collect(),
    })
}

/// Every file `rule_files` names must validate: a server refuses to start
/// (and a reload keeps the old configuration) otherwise, as Prometheus.
fn check_rule_files(cfg: &Config) -> Result<(), ConfigError> {
    for path in cfg.rule_file_paths()? {
        if let Err(errors) = strata_rules::load(&path)
            && let Some(first) = errors.into_iter().next()
        {
            return Err(rule_error(first));
        }
    }
    Ok(())
}

pub(crate) fn rule_error(e: strata_rules::RuleFileError) -> ConfigError {
    match e {
        strata_rules::RuleFileError::Syntax(e) => e,
        strata_rules::RuleFileError::Invalid {
            file,
            position,
            group,
            rule,
            message,
        } => ConfigError::Invalid {
            file,
            pos: position,
            path: match (group, rule) {
                (Some(g), Some((i, name))) => format!("group {g:?}, rule {i}, {name:?}"),
                _ => String::new(),
            },
            message,
        },
    }
}

/// `strata check rules FILE…`, as `promtool check rules`: every problem of
/// every file, then 0 when none has an error (duplicate rules are a lint:
/// reported, exit 0), 1 otherwise.
pub fn check_rules(files: &[PathBuf]) -> bool {
    let mut ok = true;
    for f in files {
        println!("Checking {}", f.display());
        ok &= check_rule_file(f, "  ");
        println!();
    }
    ok
}

fn check_rule_file(f: &Path, indent: &str) -> bool {
    match strata_rules::load(f) {
        Ok(file) => {
            let dups = strata_rules::duplicate_rules(&file);
            if dups.is_empty() {
                println!(
                    "{indent}SUCCESS: {} rules found",
                    strata_rules::rule_count(&file)
                );
            } else {
                eprintln!("{indent}FAILED:");
                eprintln!("lint error {} duplicate rule(s) found.", dups.len());
                for d in &dups {
                    eprintln!("Metric: {}\nLabel(s):", d.metric);
                    for (k, v) in &d.labels {
                        eprintln!("\t{k}: {v}");
                    }
                }
                eprintln!("Might cause inconsistency while recording expressions");
            }
            true
        }
        Err(errors) => {
            eprintln!("{indent}FAILED:");
            for e in errors {
                eprintln!("{e}");
            }
            false
        }
    }
}

/// `strata check config FILE…`, as `promtool check config`: 0 when every
/// file is valid, 1 otherwise.
pub fn check(files: &[PathBuf]) -> bool {
    let mut ok = true;
    for f in files {
        println!("Checking {}", f.display());
        match Config::load(f) {
            Ok(cfg) => {
                println!(
                    " SUCCESS: {} is valid prometheus config file syntax",
                    f.display()
                );
                match cfg.rule_file_paths() {
                    Ok(rules) if rules.is_empty() => {}
                    Ok(rules) => {
                        println!(" SUCCESS: {} rule files found", rules.len());
                        for r in &rules {
                            println!("  {}", r.display());
                        }
                        println!();
                        for r in &rules {
                            println!("Checking {}", r.display());
                            ok &= check_rule_file(r, "  ");
                        }
                    }
                    Err(e) => {
                        println!(" FAILED: {e}");
                        ok = false;
                    }
                }
            }
            Err(e) => {
                println!(" FAILED: {e}");
                ok = false;
            }
        }
        println!();
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_scrapes_ourselves() {
        let listen: SocketAddr = "0.0.0.0:9090".parse().unwrap_or_else(|e| panic!("{e}"));
        let cfg = load(None, listen, "", false).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cfg.scrape_configs.len(), 1);
        let job = &cfg.scrape_configs[0];
        assert_eq!(job.job_name, "strata");
        assert_eq!(job.metrics_path, "/metrics");
        assert_eq!(job.scrape_interval, std::time::Duration::from_secs(15));
        assert_eq!(
            job.service_discovery.static_configs[0].targets,
            vec!["127.0.0.1:9090".to_string()]
        );
    }

    #[test]
    fn default_scrape_follows_the_route_prefix() {
        let listen: SocketAddr = "127.0.0.1:9090".parse().unwrap_or_else(|e| panic!("{e}"));
        let cfg = load(None, listen, "/strata", false).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cfg.scrape_configs[0].metrics_path, "/strata/metrics");
    }
}
