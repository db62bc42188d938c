//! The `Accept` header a job's prometheus.yml settings give, byte for byte
//! as Prometheus 3 sends it.

use strata_config::Config;
use strata_scrape::manager::accept_header;

#[test]
fn accept_header_like_prometheus() -> Result<(), Box<dyn std::error::Error>> {
    let c = Config::parse(
        "scrape_configs:\n  - job_name: a\n  - job_name: b\n    scrape_protocols: [PrometheusProto, PrometheusText0.0.4]\n    metric_name_validation_scheme: legacy\n    enable_compression: false\n  - job_name: c\n    metric_name_validation_scheme: legacy\n",
        "t.yml",
        std::path::Path::new("."),
    )?;
    assert_eq!(
        accept_header(&c.scrape_configs[0]),
        "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,\
         application/openmetrics-text;version=0.0.1;q=0.5,\
         text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,\
         text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
    );
    assert_eq!(
        accept_header(&c.scrape_configs[1]),
        "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,\
         text/plain;version=0.0.4;q=0.5,*/*;q=0.4"
    );
    // Legacy name validation escapes with underscores, as Prometheus 3.
    assert!(
        accept_header(&c.scrape_configs[2]).contains("version=1.0.0;escaping=underscores"),
        "{}",
        accept_header(&c.scrape_configs[2])
    );
    Ok(())
}
