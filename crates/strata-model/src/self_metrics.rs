//! Strata's self-metrics: one `prometheus_client` [`Registry`], built at the
//! binary's edge, in which every subsystem registers its own families at
//! construction (docs/metrics.md lists them all). This module holds what the
//! subsystems share: helpers for families computed at scrape time, and the
//! storage's collector, which reads [`StorageAdmin::metrics`] at every scrape
//! so its figures can never drift from the storage's own counts.

use crate::admin::{StorageAdmin, TsdbMetrics};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeCounterValue, EncodeGaugeValue, EncodeMetric,
};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};
use std::fmt;
use std::sync::{Arc, OnceLock};

/// Writes one gauge family read at scrape time. `help` is written without
/// its final full stop, as [`Registry::register`] wants it, so that every
/// HELP line in Strata is spelled the same way.
pub fn const_gauge<N: EncodeGaugeValue>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    value: N,
) -> fmt::Result {
    let metric = ConstGauge::new(value);
    let help = format!("{help}.");
    metric.encode(encoder.encode_descriptor(name, &help, unit, metric.metric_type())?)
}

/// Writes one counter family read at scrape time; `name` is without
/// `_total`, which the encoder appends. See [`const_gauge`] for `help`.
pub fn const_counter<N: EncodeCounterValue>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    value: N,
) -> fmt::Result {
    let metric = ConstCounter::new(value);
    let help = format!("{help}.");
    metric.encode(encoder.encode_descriptor(name, &help, unit, metric.metric_type())?)
}

/// The storage's `strata_tsdb_*` families.
///
/// The registry is complete before the storage opens (the server answers
/// `/metrics` and `/-/ready` while the WAL replays), so the storage is
/// attached once it is open; until then these families are absent.
#[derive(Default)]
pub struct StorageCollector {
    storage: OnceLock<Arc<dyn StorageAdmin>>,
}

impl StorageCollector {
    /// Registers the collector under `strata_tsdb_`; attach the storage to
    /// the returned handle once it is open.
    pub fn register(registry: &mut Registry) -> Arc<StorageCollector> {
        let collector = Arc::new(StorageCollector::default());
        registry
            .sub_registry_with_prefix("strata_tsdb")
            .register_collector(Box::new(collector.clone()));
        collector
    }

    /// Starts exposing `storage`'s figures. One process serves one storage:
    /// a second call is ignored.
    pub fn attach(&self, storage: Arc<dyn StorageAdmin>) {
        let _ = self.storage.set(storage);
    }
}

impl fmt::Debug for StorageCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StorageCollector")
            .field("attached", &self.storage.get().is_some())
            .finish()
    }
}

impl Collector for StorageCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        match self.storage.get() {
            Some(storage) => encode_tsdb_metrics(&storage.metrics(), &mut encoder),
            None => Ok(()),
        }
    }
}

/// One family per [`TsdbMetrics`] field, under the encoder's `strata_tsdb_`
/// prefix.
fn encode_tsdb_metrics(m: &TsdbMetrics, e: &mut DescriptorEncoder<'_>) -> fmt::Result {
    let bytes = Some(&Unit::Bytes);
    let seconds = Some(&Unit::Seconds);
    const_gauge(e, "tenants", "Tenants with data", None, m.tenants)?;
    const_gauge(
        e,
        "head_series",
        "Series in the in-memory head",
        None,
        m.head_series,
    )?;
    const_gauge(
        e,
        "head_chunks",
        "Chunks in the in-memory head",
        None,
        m.head_chunks,
    )?;
    const_gauge(
        e,
        "head_min_time",
        "Oldest sample in the head",
        seconds,
        m.head_min_time_ms as f64 / 1e3,
    )?;
    const_gauge(
        e,
        "head_max_time",
        "Newest sample in the head",
        seconds,
        m.head_max_time_ms as f64 / 1e3,
    )?;
    const_gauge(e, "blocks", "Blocks on disk", None, m.blocks)?;
    const_gauge(e, "blocks", "Bytes of blocks on disk", bytes, m.block_bytes)?;
    const_gauge(
        e,
        "wal",
        "Bytes of WAL segments and checkpoints on disk",
        bytes,
        m.wal_bytes,
    )?;
    const_counter(
        e,
        "head_series_created",
        "Series created in the head",
        None,
        m.series_created_total,
    )?;
    const_counter(
        e,
        "head_series_removed",
        "Series dropped from the head by a cut that left them no samples",
        None,
        m.series_removed_total,
    )?;
    const_counter(
        e,
        "head_cuts",
        "Head ranges written out as blocks",
        None,
        m.head_cuts_total,
    )?;
    const_counter(
        e,
        "compactions",
        "Block compactions done",
        None,
        m.compactions_total,
    )?;
    const_counter(
        e,
        "compactions_failed",
        "Block compactions that failed",
        None,
        m.compactions_failed_total,
    )?;
    const_counter(
        e,
        "retention_deleted_blocks",
        "Blocks deleted by retention",
        None,
        m.blocks_deleted_by_retention_total,
    )?;
    const_counter(
        e,
        "wal_truncations",
        "Corrupt WAL tails truncated at startup",
        None,
        m.wal_truncations_total,
    )?;
    const_gauge(
        e,
        "wal_replay_samples",
        "Samples replayed from the WAL at startup",
        None,
        m.wal_replay_samples,
    )?;
    const_gauge(
        e,
        "wal_replay_duration",
        "Time the WAL replay took at startup",
        seconds,
        m.wal_replay_seconds,
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use prometheus_client::encoding::prometheus_text;

    /// The storage collector's encoding over fixed figures, so each field's
    /// family can be checked by value.
    #[derive(Debug)]
    struct Figures(TsdbMetrics);

    impl Collector for Figures {
        fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
            encode_tsdb_metrics(&self.0, &mut encoder)
        }
    }

    fn encode(registry: &Registry) -> String {
        let mut out = String::new();
        prometheus_text::encode(&mut out, registry).unwrap();
        out
    }

    #[test]
    fn every_storage_figure_is_its_own_family() {
        // Distinct values, so a field wired to the wrong family shows.
        let m = TsdbMetrics {
            tenants: 1,
            head_series: 2,
            head_chunks: 3,
            head_min_time_ms: 4_500,
            head_max_time_ms: 5_250,
            blocks: 6,
            block_bytes: 7,
            wal_bytes: 8,
            series_created_total: 9,
            series_removed_total: 10,
            head_cuts_total: 11,
            compactions_total: 12,
            compactions_failed_total: 13,
            blocks_deleted_by_retention_total: 14,
            wal_truncations_total: 15,
            wal_replay_samples: 16,
            wal_replay_seconds: 17.5,
        };
        let mut registry = Registry::default();
        registry
            .sub_registry_with_prefix("strata_tsdb")
            .register_collector(Box::new(Figures(m)));
        let text = encode(&registry);
        for (line, kind) in [
            ("strata_tsdb_tenants 1", "gauge"),
            ("strata_tsdb_head_series 2", "gauge"),
            ("strata_tsdb_head_chunks 3", "gauge"),
            ("strata_tsdb_head_min_time_seconds 4.5", "gauge"),
            ("strata_tsdb_head_max_time_seconds 5.25", "gauge"),
            ("strata_tsdb_blocks 6", "gauge"),
            ("strata_tsdb_blocks_bytes 7", "gauge"),
            ("strata_tsdb_wal_bytes 8", "gauge"),
            ("strata_tsdb_head_series_created_total 9", "counter"),
            ("strata_tsdb_head_series_removed_total 10", "counter"),
            ("strata_tsdb_head_cuts_total 11", "counter"),
            ("strata_tsdb_compactions_total 12", "counter"),
            ("strata_tsdb_compactions_failed_total 13", "counter"),
            ("strata_tsdb_retention_deleted_blocks_total 14", "counter"),
            ("strata_tsdb_wal_truncations_total 15", "counter"),
            ("strata_tsdb_wal_replay_samples 16", "gauge"),
            ("strata_tsdb_wal_replay_duration_seconds 17.5", "gauge"),
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "no line {line:?} in:\n{text}"
            );
            let name = line.split(' ').next().unwrap();
            let type_line = format!("# TYPE {name} {kind}");
            assert!(text.contains(&type_line), "no {type_line:?} in:\n{text}");
        }
        assert!(text.contains("# HELP strata_tsdb_tenants Tenants with data.\n"));
    }

    #[test]
    fn no_storage_family_before_the_storage_is_attached() {
        let mut registry = Registry::default();
        let collector = StorageCollector::register(&mut registry);
        assert_eq!(encode(&registry), "");
        assert!(format!("{collector:?}").contains("attached: false"));
    }
}
