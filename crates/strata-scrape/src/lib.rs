//! Scraping targets the way Prometheus 3 does.
//!
//! - `expo`: the exposition formats (Prometheus text 0.0.4/1.0.0,
//!   OpenMetrics 1.0.0/0.0.1), content negotiation and a pull parser fast
//!   enough to run on every scrape.
//! - `discovery`: static, file and HTTP service discovery → target groups.
//! - `kubernetes`: Kubernetes service discovery (list/watch → target groups).
//! - `target`: groups → targets (defaults, `relabel_configs`, URL, offset).
//! - `scrape`: one target's loop (fetch, parse, label, relabel, append
//!   through the `Ingester`, report series, staleness).
//! - `manager`: one pool per job, reload keeping unchanged pools.
//! - `client`, `tls`: HTTP clients from `HttpClientConfig` (rustls).

pub mod client;
pub mod discovery;
pub mod expo;
pub mod kubernetes;
pub mod manager;
pub mod metrics;
pub mod scrape;
pub mod target;
pub mod tls;

pub use manager::{ActiveTarget, DroppedView, ManagerOptions, ScrapeManager};
pub use metrics::ScrapeMetrics;
