//! Scraping targets the way Prometheus 3 does.
//!
//! `expo`: the exposition formats (Prometheus text 0.0.4/1.0.0, OpenMetrics
//! 1.0.0/0.0.1), content negotiation and a pull parser fast enough to run on
//! every scrape.

pub mod expo;
