//! The one write path: everything between a decoded batch and storage.
//!
//! Every writer (remote-write today; scrape, rule evaluation and Kafka next)
//! hands its batch to an [`Ingester`], which validates each series, applies
//! the tenant's ingestion rate limit, appends through `Appendable` and keeps
//! the sample accounting. Writers get the ingester, never the storage, so
//! none can bypass the limits.

use crate::validate::validate_series;
use crate::{Decoded, Decoder, IngestError, InvalidReason, Limits};
use parking_lot::Mutex;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;
use strata_model::{AppendLimits, Appendable, RejectReason, TenantId, WriteBatch};

/// How many rejected series a report names; the rest are only counted.
pub const MAX_NAMED_REJECTIONS: usize = 5;

/// Decoders kept for reuse (each holds a decompression buffer).
const MAX_POOLED_DECODERS: usize = 64;

#[derive(Debug, Clone)]
pub struct IngesterOptions {
    pub limits: Limits,
    /// Samples per second one tenant may write (0 = unlimited).
    pub ingestion_rate: f64,
    /// Samples a tenant may write in a burst above the rate.
    pub ingestion_burst: f64,
    /// Series a tenant may hold in the head (0: no limit); enforced by
    /// storage, which alone knows atomically whether a series is new.
    pub max_series_per_tenant: usize,
}

impl Default for IngesterOptions {
    fn default() -> Self {
        IngesterOptions {
            limits: Limits::default(),
            ingestion_rate: 0.0,
            ingestion_burst: 2_000_000.0,
            max_series_per_tenant: 5_000_000,
        }
    }
}

/// Why a series' samples were not stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RejectCause {
    /// Refused before storage: the series broke a validation rule.
    Invalid(InvalidReason),
    /// Refused by storage.
    Storage(RejectReason),
}

impl fmt::Display for RejectCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RejectCause::Invalid(r) => r.fmt(f),
            RejectCause::Storage(r) => r.fmt(f),
        }
    }
}

/// One rejected series, named for the writer's error message.
#[derive(Debug, Clone)]
pub struct NamedRejection {
    /// The label set as `{name="value", ...}`.
    pub labels: String,
    pub cause: RejectCause,
}

/// What one ingest stored and refused.
#[derive(Debug, Clone, Default)]
pub struct IngestReport {
    pub samples_accepted: u64,
    pub series_created: u64,
    pub rejected_series: usize,
    pub rejected_samples: u64,
    /// Some series hit a tenant limit: the writer should retry later.
    pub limited: bool,
    /// The first [`MAX_NAMED_REJECTIONS`] rejected series, invalid ones first.
    pub named: Vec<NamedRejection>,
    /// When the batch asked for them: per series, its `SeriesRef` (0 when
    /// refused), for the writer's next append of the same series.
    pub refs: Vec<strata_model::SeriesRef>,
}

impl IngestReport {
    fn name(&mut self, labels: impl FnOnce() -> String, cause: RejectCause) {
        if self.named.len() < MAX_NAMED_REJECTIONS {
            self.named.push(NamedRejection {
                labels: labels(),
                cause,
            });
        }
    }
}

/// Sample accounting, summed over tenants and writers: the
/// `strata_ingest_samples_total{result}` and
/// `strata_ingest_histograms_dropped_total` families.
///
/// Registered at the binary's edge before the storage opens (so the families
/// read zero, rather than vanish, during WAL replay) and handed to the
/// [`Ingester`] once there is a storage to append to. Clones share counters.
#[derive(Debug, Clone)]
pub struct IngestMetrics {
    pub samples_accepted: Counter,
    pub samples_rejected_invalid: Counter,
    pub samples_rejected_out_of_order: Counter,
    pub samples_rejected_too_old: Counter,
    pub samples_rejected_duplicate: Counter,
    pub samples_rejected_series_limit: Counter,
    /// Samples of requests refused whole by the ingestion rate limit.
    pub samples_rate_limited: Counter,
    pub histograms_dropped: Counter,
}

impl IngestMetrics {
    /// Registers the ingester's families under `strata_ingest_`.
    pub fn register(registry: &mut Registry) -> Self {
        let registry = registry.sub_registry_with_prefix("strata_ingest");
        let samples = Family::<[(&'static str, &'static str); 1], Counter>::default();
        // Every result is created now, so each reads 0 before its first
        // sample; the hot path then adds to its own counter without a
        // family lookup.
        let result = |r: &'static str| samples.get_or_create_owned(&[("result", r)]);
        let metrics = IngestMetrics {
            samples_accepted: result("accepted"),
            samples_rejected_invalid: result("invalid"),
            samples_rejected_out_of_order: result("out_of_order"),
            samples_rejected_too_old: result("too_old"),
            samples_rejected_duplicate: result("duplicate"),
            samples_rejected_series_limit: result("series_limit"),
            samples_rate_limited: result("rate_limited"),
            histograms_dropped: Counter::default(),
        };
        registry.register(
            "samples",
            "Samples received from every writer (remote-write, scrapes), by result",
            samples,
        );
        registry.register(
            "histograms_dropped",
            "Native histogram samples dropped (not stored yet)",
            metrics.histograms_dropped.clone(),
        );
        metrics
    }

    fn storage_counter(&self, r: RejectReason) -> &Counter {
        match r {
            RejectReason::OutOfOrder => &self.samples_rejected_out_of_order,
            RejectReason::TooOld => &self.samples_rejected_too_old,
            RejectReason::DuplicateTimestamp => &self.samples_rejected_duplicate,
            RejectReason::SeriesLimit => &self.samples_rejected_series_limit,
        }
    }
}

pub struct Ingester {
    storage: Arc<dyn Appendable>,
    opts: IngesterOptions,
    /// Token buckets for the ingestion rate limit: (tokens, last refill).
    rate_buckets: Mutex<HashMap<TenantId, (f64, Instant)>>,
    decoders: Mutex<Vec<Decoder>>,
    metrics: IngestMetrics,
}

impl Ingester {
    /// `metrics` comes from [`IngestMetrics::register`] on the process's
    /// registry.
    pub fn new(
        storage: Arc<dyn Appendable>,
        opts: IngesterOptions,
        metrics: IngestMetrics,
    ) -> Self {
        Ingester {
            storage,
            opts,
            rate_buckets: Mutex::new(HashMap::new()),
            decoders: Mutex::new(Vec::new()),
            metrics,
        }
    }

    pub fn options(&self) -> &IngesterOptions {
        &self.opts
    }

    pub fn metrics(&self) -> &IngestMetrics {
        &self.metrics
    }

    /// Ingests a batch built by any writer: every series is validated, the
    /// invalid ones are left out and reported, the rest appended.
    pub fn ingest(
        &self,
        tenant: &TenantId,
        batch: &WriteBatch<'_>,
    ) -> Result<IngestReport, IngestError> {
        let mut invalid: Vec<(usize, InvalidReason)> = Vec::new();
        for i in 0..batch.len() {
            // A series given by a ref storage returned was validated when
            // that append created it.
            if batch.series_ref(i) != 0 {
                continue;
            }
            if let Err(reason) = validate_series(batch.series_labels(i), &self.opts.limits) {
                invalid.push((i, reason));
            }
        }
        if invalid.is_empty() {
            return self.append_valid(tenant, batch, IngestReport::default(), 0);
        }
        let mut report = IngestReport::default();
        let mut invalid_samples = 0;
        let mut valid = WriteBatch::new();
        // Original index of each series of `valid`.
        let mut kept: Vec<usize> = Vec::with_capacity(batch.len());
        let mut next_invalid = invalid.into_iter().peekable();
        for i in 0..batch.len() {
            if next_invalid.peek().is_some_and(|(j, _)| *j == i) {
                if let Some((_, reason)) = next_invalid.next() {
                    let n = batch.series_samples(i).len() as u64;
                    invalid_samples += n;
                    report.rejected_series += 1;
                    report.rejected_samples += n;
                    report.name(
                        || printable(batch.series_labels(i)),
                        RejectCause::Invalid(reason),
                    );
                }
                continue;
            }
            if batch.wants_refs() {
                valid.push_with_ref(
                    batch.series_labels(i),
                    batch.series_samples(i),
                    batch.series_ref(i),
                );
            } else {
                valid.push(batch.series_labels(i), batch.series_samples(i));
            }
            kept.push(i);
        }
        // Storage names rejections by index into the filtered batch, and
        // `append_valid` reads their labels from that same batch.
        let mut report = self.append_valid(tenant, &valid, report, invalid_samples)?;
        if batch.wants_refs() {
            let mut refs = vec![0; batch.len()];
            for (k, r) in std::mem::take(&mut report.refs).into_iter().enumerate() {
                if let Some(&i) = kept.get(k) {
                    refs[i] = r;
                }
            }
            report.refs = refs;
        }
        Ok(report)
    }

    /// Decodes a remote-write 1.0 body and ingests it. The decoder checks
    /// each series against this ingester's limits as it builds the batch,
    /// so the batch is not validated twice.
    pub fn ingest_remote_write(
        &self,
        tenant: &TenantId,
        body: &[u8],
    ) -> Result<IngestReport, IngestError> {
        let mut decoder = self
            .decoders
            .lock()
            .pop()
            .unwrap_or_else(|| Decoder::new(self.opts.limits.clone()));
        let result = self.ingest_decoded(tenant, &mut decoder, body);
        let mut pool = self.decoders.lock();
        if pool.len() < MAX_POOLED_DECODERS {
            pool.push(decoder);
        }
        result
    }

    fn ingest_decoded(
        &self,
        tenant: &TenantId,
        decoder: &mut Decoder,
        body: &[u8],
    ) -> Result<IngestReport, IngestError> {
        let Decoded {
            batch,
            invalid,
            histograms_dropped,
            ..
        } = decoder.decode(body)?;
        let mut report = IngestReport::default();
        let mut invalid_samples = 0;
        for inv in &invalid {
            invalid_samples += inv.samples;
            report.rejected_series += 1;
            report.rejected_samples += inv.samples;
            report.name(
                || inv.labels.clone(),
                RejectCause::Invalid(inv.reason.clone()),
            );
        }
        let report = self.append_valid(tenant, &batch, report, invalid_samples);
        let spare = batch.into_spare();
        decoder.recycle(spare);
        let report = report?;
        self.metrics.histograms_dropped.inc_by(histograms_dropped);
        Ok(report)
    }

    /// Rate limit, append, accounting. `report` already holds the series
    /// refused by validation (`invalid_samples` samples).
    fn append_valid(
        &self,
        tenant: &TenantId,
        batch: &WriteBatch<'_>,
        mut report: IngestReport,
        invalid_samples: u64,
    ) -> Result<IngestReport, IngestError> {
        if !self.take_tokens(tenant, batch.num_samples()) {
            self.metrics
                .samples_rate_limited
                .inc_by(batch.num_samples() as u64);
            return Err(IngestError::RateLimited {
                tenant: tenant.to_string(),
                rate: self.opts.ingestion_rate,
                burst: self.opts.ingestion_burst,
            });
        }
        let mut outcome = if batch.is_empty() {
            Default::default()
        } else {
            let limits = AppendLimits {
                max_series: self.opts.max_series_per_tenant,
            };
            self.storage.append(tenant, batch, &limits)?
        };
        let m = &self.metrics;
        m.samples_rejected_invalid.inc_by(invalid_samples);
        m.samples_accepted.inc_by(outcome.samples_accepted);
        report.samples_accepted = outcome.samples_accepted;
        report.series_created = outcome.series_created;
        report.refs = std::mem::take(&mut outcome.refs);
        for rej in &outcome.rejected {
            m.storage_counter(rej.reason).inc_by(rej.samples);
            report.rejected_series += 1;
            report.rejected_samples += rej.samples;
            report.limited |= rej.reason.is_limit();
            report.name(
                || printable(batch.series_labels(rej.series_index)),
                RejectCause::Storage(rej.reason),
            );
        }
        Ok(report)
    }

    /// Takes `samples` tokens from the tenant's bucket; false when the
    /// ingestion rate limit would be exceeded.
    fn take_tokens(&self, tenant: &TenantId, samples: usize) -> bool {
        let rate = self.opts.ingestion_rate;
        if rate <= 0.0 {
            return true;
        }
        let burst = self.opts.ingestion_burst.max(rate);
        let now = Instant::now();
        let mut buckets = self.rate_buckets.lock();
        let (tokens, last) = buckets.entry(tenant.clone()).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate).min(burst);
        *last = now;
        let need = samples as f64;
        if *tokens >= need {
            *tokens -= need;
            true
        } else {
            false
        }
    }
}

fn printable(labels: &[strata_model::LabelRef<'_>]) -> String {
    let mut s = String::from("{");
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(l.name);
        s.push('=');
        s.push_str(&strata_model::labels::quote(l.value));
    }
    s.push('}');
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use strata_model::{LabelRef, Queryable, Sample, SelectHints};
    use strata_tsdb::{Db, DbOptions};

    fn open_db(dir: &std::path::Path) -> Arc<Db> {
        let opts = DbOptions {
            data_dir: dir.to_path_buf(),
            ..DbOptions::default()
        };
        Arc::new(Db::open(opts).unwrap())
    }

    fn ingester(db: &Arc<Db>, opts: IngesterOptions) -> (Ingester, Registry) {
        let mut registry = Registry::default();
        let metrics = IngestMetrics::register(&mut registry);
        (Ingester::new(db.clone(), opts, metrics), registry)
    }

    fn exposition(registry: &Registry) -> String {
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, registry).unwrap();
        text
    }

    fn lr<'a>(name: &'a str, value: &'a str) -> LabelRef<'a> {
        LabelRef { name, value }
    }

    fn stored_series(db: &Db, tenant: &TenantId) -> usize {
        let q = db.querier(tenant, i64::MIN, i64::MAX).unwrap();
        let m = strata_model::Matcher::new(strata_model::MatchOp::RegexMatch, "__name__", ".+")
            .unwrap();
        let hints = SelectHints {
            start: i64::MIN,
            end: i64::MAX,
            series_only: true,
            limit: 0,
            newest_only: false,
            any_order: false,
        };
        q.select(&hints, &[m]).unwrap().count()
    }

    #[test]
    fn a_batch_writer_is_validated_before_storage() {
        let dir = tempfile::tempdir().unwrap();
        let db = open_db(dir.path());
        let opts = IngesterOptions {
            limits: Limits {
                max_label_value_len: 8,
                ..Limits::default()
            },
            ..IngesterOptions::default()
        };
        let (ingester, _) = ingester(&db, opts);
        let tenant = TenantId::single();
        let mut batch = WriteBatch::new();
        let s = [Sample::new(1000, 1.0), Sample::new(2000, 2.0)];
        batch.push(&[lr("__name__", "ok"), lr("job", "a")], &s);
        batch.push(&[lr("__name__", "far_too_long_value")], &s);
        batch.push(&[lr("job", "a"), lr("__name__", "unsorted")], &s);
        batch.push(&[lr("__name__", "empty"), lr("job", "")], &s);
        batch.push(&[lr("__name__", "ok2")], &s);
        let report = ingester.ingest(&tenant, &batch).unwrap();
        assert_eq!(report.samples_accepted, 4);
        assert_eq!(report.rejected_series, 3);
        assert_eq!(report.rejected_samples, 6);
        assert!(!report.limited);
        let causes: Vec<_> = report.named.iter().map(|n| n.cause.clone()).collect();
        assert!(matches!(
            causes[0],
            RejectCause::Invalid(InvalidReason::ValueTooLong { .. })
        ));
        assert_eq!(
            causes[1],
            RejectCause::Invalid(InvalidReason::UnsortedLabels)
        );
        assert_eq!(
            causes[2],
            RejectCause::Invalid(InvalidReason::EmptyLabelValue("job".into()))
        );
        assert_eq!(stored_series(&db, &tenant), 2);
        let m = ingester.metrics();
        assert_eq!(m.samples_accepted.get(), 4);
        assert_eq!(m.samples_rejected_invalid.get(), 6);
    }

    #[test]
    fn a_batch_writer_is_rate_limited_per_tenant() {
        let dir = tempfile::tempdir().unwrap();
        let db = open_db(dir.path());
        let opts = IngesterOptions {
            // A refill so slow that the test cannot earn a token back.
            ingestion_rate: 1e-6,
            ingestion_burst: 3.0,
            ..IngesterOptions::default()
        };
        let (ingester, registry) = ingester(&db, opts);
        let a = TenantId::parse("a").unwrap();
        let b = TenantId::parse("b").unwrap();
        let mut batch = WriteBatch::new();
        batch.push(
            &[lr("__name__", "m")],
            &[Sample::new(1, 1.0), Sample::new(2, 1.0)],
        );
        assert_eq!(ingester.ingest(&a, &batch).unwrap().samples_accepted, 2);
        let err = ingester.ingest(&a, &batch).unwrap_err();
        assert!(matches!(err, IngestError::RateLimited { .. }), "{err}");
        // Another tenant has its own bucket.
        assert_eq!(ingester.ingest(&b, &batch).unwrap().samples_accepted, 2);
        assert_eq!(ingester.metrics().samples_rate_limited.get(), 2);
        let text = exposition(&registry);
        for line in [
            "strata_ingest_samples_total{result=\"rate_limited\"} 2",
            "strata_ingest_samples_total{result=\"accepted\"} 4",
            "strata_ingest_samples_total{result=\"invalid\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in:\n{text}");
        }
    }

    #[test]
    fn a_series_limit_rejection_marks_the_report_limited() {
        let dir = tempfile::tempdir().unwrap();
        let db = open_db(dir.path());
        let (ingester, _) = ingester(
            &db,
            IngesterOptions {
                max_series_per_tenant: 1,
                ..IngesterOptions::default()
            },
        );
        let tenant = TenantId::single();
        let mut batch = WriteBatch::new();
        batch.push(&[lr("__name__", "one")], &[Sample::new(1, 1.0)]);
        batch.push(&[lr("__name__", "two")], &[Sample::new(1, 1.0)]);
        let report = ingester.ingest(&tenant, &batch).unwrap();
        assert!(report.limited);
        assert_eq!(report.samples_accepted, 1);
        assert_eq!(
            report.named[0].cause,
            RejectCause::Storage(RejectReason::SeriesLimit)
        );
        assert_eq!(report.named[0].labels, "{__name__=\"two\"}");
        assert_eq!(ingester.metrics().samples_rejected_series_limit.get(), 1);
    }
}
