#![no_main]
//! Any text given to `Config::parse` returns a config or an error, never a
//! panic; an accepted config's relabel rules run on a sample label set, and
//! its effective YAML (`to_yaml`) parses again, to the same config when it
//! holds no secrets.
use libfuzzer_sys::fuzz_target;
use std::path::Path;
use strata_config::{Config, relabel};
use strata_model::Labels;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // An absolute base that holds nothing, so relative globs match no files.
    let base = Path::new("/nonexistent-strata-fuzz");
    let Ok(cfg) = Config::parse(text, "fuzz.yml", base) else {
        return;
    };
    let sample = Labels::from_pairs([
        ("__address__", "10.0.0.1:9100"),
        ("__name__", "up"),
        ("__meta_kubernetes_pod_label_app", "web"),
        ("job", "node"),
    ]);
    for job in &cfg.scrape_configs {
        let _ = relabel::process(&sample, &job.relabel_configs);
        let _ = relabel::process(&sample, &job.metric_relabel_configs);
    }
    let yaml = cfg.to_yaml();
    let again = match Config::parse(&yaml, "fuzz.yml", base) {
        Ok(c) => c,
        Err(e) => panic!("to_yaml output does not parse: {e}\n{yaml}"),
    };
    // Secrets print as "<secret>", so only secret-free configs come back equal.
    if !yaml.contains("<secret>") {
        assert!(
            again.global == cfg.global
                && again.scrape_configs == cfg.scrape_configs
                && again.alerting == cfg.alerting
                && again.remote_write == cfg.remote_write
                && again.remote_read == cfg.remote_read
                && again.rule_files == cfg.rule_files,
            "to_yaml does not round-trip:\n{text}\n---\n{yaml}"
        );
    }
});
