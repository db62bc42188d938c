//! `prometheus.yml` as Prometheus 3 reads it.
//!
//! [`Config::load`] reads a file (and the `scrape_config_files` it names),
//! applies Prometheus' defaults and validates it; every error names the
//! file, line, column and field path. [`relabel`] applies relabeling rules.
//! Sections Strata does not implement (other service discoveries, OAuth2,
//! proxies, query logs) are refused by name rather than ignored.

mod config;
mod emit;
pub mod error;
pub mod http;
pub mod relabel;
pub mod sd;
/// The positioned YAML reader prometheus.yml is read with, for other
/// Prometheus file formats (rule files) to report errors the same way.
pub mod yaml;

pub use config::{
    AlertingConfig, AlertmanagerConfig, Config, EscapingScheme, GlobalConfig, MetadataConfig,
    ProtobufMessage, QueueConfig, RemoteReadConfig, RemoteWriteConfig, ScrapeConfig,
    ScrapeProtocol, expand_globs,
};
pub use error::{ConfigError, Position};
pub use http::{Authorization, BasicAuth, HttpClientConfig, HttpHeader, TlsConfig, TlsVersion};
pub use relabel::{Action, NameValidation, RelabelConfig, RelabelSpec};
pub use sd::{
    FileSdConfig, HttpSdConfig, KubernetesRole, KubernetesSdConfig, ServiceDiscovery, StaticConfig,
};
