//! The HTTP layer's own families in the process's registry: remote-write
//! requests by outcome, their body bytes and latency, read requests,
//! readiness and build information. `/metrics` serves the whole registry
//! (see `status::metrics`).

use crate::BuildInfo;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

/// Upper bounds of the request duration histogram, in seconds.
const DURATION_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// How a remote-write request ended: the `code` label of
/// `strata_ingest_requests_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    Stored,
    BadRequest,
    TooLarge,
    Limited,
    Failed,
}

impl WriteOutcome {
    /// In declaration order, so `outcome as usize` indexes it.
    const ALL: [WriteOutcome; 5] = [
        WriteOutcome::Stored,
        WriteOutcome::BadRequest,
        WriteOutcome::TooLarge,
        WriteOutcome::Limited,
        WriteOutcome::Failed,
    ];

    fn code(self) -> &'static str {
        match self {
            WriteOutcome::Stored => "2xx",
            WriteOutcome::BadRequest => "400",
            WriteOutcome::TooLarge => "413",
            WriteOutcome::Limited => "429",
            WriteOutcome::Failed => "5xx",
        }
    }
}

#[derive(Debug)]
pub struct HttpMetrics {
    /// Indexed by [`WriteOutcome`]; each is its family's child, so a
    /// request adds to one atomic without a family lookup.
    write_requests: [Counter; WriteOutcome::ALL.len()],
    write_bytes: Counter,
    write_duration: Histogram,
    read_requests: Counter,
    ready: Gauge,
}

impl HttpMetrics {
    /// Registers the HTTP layer's families: remote-write's under
    /// `strata_ingest_` (they describe ingestion as its sender sees it), the
    /// rest under `strata_`.
    pub fn register(registry: &mut Registry, build: &BuildInfo) -> Self {
        let requests = Family::<[(&'static str, &'static str); 1], Counter>::default();
        // Every outcome is created now, so each reads 0 before it happens.
        let write_requests =
            WriteOutcome::ALL.map(|o| requests.get_or_create_owned(&[("code", o.code())]));
        let metrics = HttpMetrics {
            write_requests,
            write_bytes: Counter::default(),
            write_duration: Histogram::new(DURATION_BUCKETS),
            read_requests: Counter::default(),
            ready: Gauge::default(),
        };

        let ingest = registry.sub_registry_with_prefix("strata_ingest");
        ingest.register("requests", "Remote-write requests by outcome", requests);
        ingest.register_with_unit(
            "received",
            "Compressed remote-write body bytes received",
            Unit::Bytes,
            metrics.write_bytes.clone(),
        );
        ingest.register_with_unit(
            "request_duration",
            "Remote-write request latency, including the WAL write",
            Unit::Seconds,
            metrics.write_duration.clone(),
        );

        let strata = registry.sub_registry_with_prefix("strata");
        strata.sub_registry_with_prefix("http").register(
            "read_requests",
            "Read API requests served",
            metrics.read_requests.clone(),
        );
        strata.register(
            "ready",
            "1 when WAL replay has finished and the server accepts reads and writes",
            metrics.ready.clone(),
        );
        strata.register(
            "build",
            "Build information; the value is always 1",
            Info::new(vec![
                ("version", build.version.clone()),
                ("revision", build.revision.clone()),
            ]),
        );
        metrics
    }

    pub fn write_request(&self, outcome: WriteOutcome, seconds: f64) {
        self.write_requests[outcome as usize].inc();
        self.write_duration.observe(seconds);
    }

    pub fn write_body(&self, bytes: usize) {
        self.write_bytes.inc_by(bytes as u64);
    }

    pub fn read_request(&self) {
        self.read_requests.inc();
    }

    pub(crate) fn set_ready(&self) {
        self.ready.set(1);
    }
}
