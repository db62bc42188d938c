//! The configuration file (`--config`, prometheus.yml as Prometheus 3
//! reads it, see strata-config), the default when there is none, and
//! `strata check config`.

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
pub fn default_text(listen: SocketAddr) -> String {
    format!(
        "# Strata's default configuration (no --config given).\n\
         global:\n  scrape_interval: 15s\n  evaluation_interval: 15s\n\
         scrape_configs:\n  - job_name: strata\n    static_configs:\n      - targets: [\"{}\"]\n",
        self_address(listen)
    )
}

/// The configuration a server runs with: the file, or the default.
pub fn load(path: Option<&Path>, listen: SocketAddr, agent: bool) -> Result<Config, ConfigError> {
    let cfg = match path {
        Some(p) => Config::load(p)?,
        None => Config::parse(&default_text(listen), "<default config>", Path::new("."))?,
    };
    if agent {
        cfg.check_agent()?;
    }
    Ok(cfg)
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
                        for r in rules {
                            println!("  {}", r.display());
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
        let cfg = load(None, listen, false).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cfg.scrape_configs.len(), 1);
        let job = &cfg.scrape_configs[0];
        assert_eq!(job.job_name, "strata");
        assert_eq!(job.scrape_interval, std::time::Duration::from_secs(15));
        assert_eq!(
            job.service_discovery.static_configs[0].targets,
            vec!["127.0.0.1:9090".to_string()]
        );
    }
}
