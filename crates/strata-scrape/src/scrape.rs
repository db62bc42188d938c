//! One target's scrape loop: fetch, parse, label, relabel, append through
//! the ingester, report (`up`, `scrape_*`) and mark what disappeared stale —
//! the work of Prometheus' `scrapeLoop`.

use crate::expo::{self, Entry, Parser};
use crate::target::Target;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use strata_config::{ScrapeConfig, relabel};
use strata_ingest::Ingester;
use strata_model::{
    LabelRef, Labels, METRIC_NAME, PackedLabels, STALE_NAN_BITS, Sample, TenantId, WriteBatch,
};

/// Health of a target, as the targets API spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Unknown,
    Up,
    Down,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Up => "up",
            Health::Down => "down",
        }
    }
}

/// A metric family's `# TYPE`/`# HELP`/`# UNIT` as a target exposes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricMetadata {
    /// Prometheus' type names (`counter`, `gauge`, …, `unknown`).
    pub kind: String,
    pub help: String,
    pub unit: String,
}

/// What the targets API shows of a target's last scrape.
#[derive(Debug, Clone)]
pub struct TargetStatus {
    pub health: Health,
    pub last_error: String,
    pub last_scrape: Option<SystemTime>,
    pub last_duration: Duration,
    pub last_samples: u64,
    /// Metadata of the last successful scrape, by metric family name.
    pub metadata: Arc<std::collections::BTreeMap<String, MetricMetadata>>,
}

impl Default for TargetStatus {
    fn default() -> Self {
        TargetStatus {
            health: Health::Unknown,
            last_error: String::new(),
            last_scrape: None,
            last_duration: Duration::ZERO,
            last_samples: 0,
            metadata: Arc::default(),
        }
    }
}

/// Everything a scrape loop needs besides its target.
#[derive(Clone)]
pub struct LoopContext {
    pub cfg: Arc<ScrapeConfig>,
    pub client: reqwest::Client,
    pub ingester: Arc<Ingester>,
    pub tenant: TenantId,
    pub accept: Arc<str>,
    pub user_agent: Arc<str>,
    pub metrics: crate::metrics::ScrapeMetrics,
}

/// A series as a scrape cache entry: the label set it is stored under
/// (`None`: dropped by `metric_relabel_configs`) and its hash.
struct Cached {
    labels: Option<PackedLabels>,
    hash: u64,
    seen: u64,
}

/// Keys that are already hashes (labels' xxh3) need no second hashing.
#[derive(Default, Clone, Copy)]
struct PreHashed(u64);

impl std::hash::Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type ByHash<V> = HashMap<u64, V, std::hash::BuildHasherDefault<PreHashed>>;

/// State a loop keeps from one scrape to the next.
#[derive(Default)]
pub struct LoopState {
    /// Raw series text → labels, so a steady target costs one hash lookup
    /// per line instead of building and relabeling its labels.
    cache: HashMap<Box<[u8]>, Cached, xxhash_rust::xxh3::Xxh3Builder>,
    /// Series the last scrape stored (labels hash → labels, and whether
    /// the sample carried its own timestamp).
    previous: ByHash<Previous>,
    iteration: u64,
    metadata: std::collections::BTreeMap<String, MetricMetadata>,
    /// A hash of the last scrape's `# TYPE`/`# HELP`/`# UNIT` lines: an
    /// unchanged target costs no metadata allocation.
    metadata_hash: u64,
    /// The last scrape's metadata differs from what the status shows.
    metadata_changed: bool,
    /// This scrape's series, stale markers and report, appended as one
    /// batch (one WAL wait per scrape); kept between scrapes for their
    /// allocations, like `next`.
    out: Vec<(PackedLabels, Sample)>,
    refs: Vec<strata_model::SeriesRef>,
    /// Per scraped sample in `out`: its labels' hash and whether it had a
    /// timestamp.
    meta: Vec<(u64, bool)>,
    /// The series map being built for the next scrape (swapped with
    /// `previous` once stored).
    next: ByHash<Previous>,
    /// The report series' labels (they change only with the target) and
    /// storage's refs for them.
    report: Option<Vec<PackedLabels>>,
    report_refs: [strata_model::SeriesRef; 5],
}

/// Write batches' allocations, shared by every loop (a batch per target
/// would cost its label references — ~75 KiB for 200 series — times the
/// targets).
static SPARE_BATCHES: Mutex<Vec<WriteBatch<'static>>> = Mutex::new(Vec::new());
const SPARE_BATCHES_KEPT: usize = 16;

/// A series the last scrape stored: its labels, whether its sample carried
/// its own timestamp, and storage's ref for it (0: none yet).
#[derive(Clone)]
struct Previous {
    labels: PackedLabels,
    had_ts: bool,
    series_ref: strata_model::SeriesRef,
}

/// The outcome of one scrape's processing.
struct Processed {
    scraped: u64,
    post_relabel: u64,
    added: u64,
}

const SAMPLE_LIMIT: &str = "sample limit exceeded";

/// Why a scrape failed; the message is what the targets API shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ScrapeError(pub String);

/// Reads the response body, refusing it once it reaches `limit` bytes
/// (0: no limit), so a huge target costs at most the limit.
async fn read_body(mut resp: reqwest::Response, limit: u64) -> Result<Vec<u8>, ScrapeError> {
    let limit = if limit == 0 { u64::MAX } else { limit };
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| ScrapeError(e.to_string()))? {
        body.extend_from_slice(&chunk);
        if body.len() as u64 >= limit {
            return Err(ScrapeError(format!(
                "body size limit exceeded: {limit} bytes"
            )));
        }
    }
    Ok(body)
}

/// One HTTP scrape: the body and its `Content-Type` / `Content-Encoding`.
async fn fetch(
    ctx: &LoopContext,
    target: &Target,
) -> Result<(Vec<u8>, Option<String>, Option<String>), ScrapeError> {
    let cfg = &ctx.cfg;
    let mut req = ctx
        .client
        .get(&target.url)
        .header(reqwest::header::ACCEPT, ctx.accept.as_ref())
        .header(
            reqwest::header::ACCEPT_ENCODING,
            expo::accept_encoding_header(cfg.enable_compression),
        )
        .header(reqwest::header::USER_AGENT, ctx.user_agent.as_ref())
        .header(
            "X-Prometheus-Scrape-Timeout-Seconds",
            format!("{}", target.timeout.as_secs_f64()),
        );
    req = crate::client::authorize(req, &cfg.http_client).map_err(ScrapeError)?;
    let send = async {
        let resp = req
            .send()
            .await
            .map_err(|e| ScrapeError(format!("Get {:?}: {}", target.url, error_chain(&e))))?;
        let status = resp.status();
        if status != reqwest::StatusCode::OK {
            return Err(ScrapeError(format!(
                "server returned HTTP status {} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            )));
        }
        let header = |name: reqwest::header::HeaderName| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let content_type = header(reqwest::header::CONTENT_TYPE);
        let encoding = header(reqwest::header::CONTENT_ENCODING);
        let body = read_body(resp, cfg.body_size_limit).await?;
        Ok((body, content_type, encoding))
    };
    match tokio::time::timeout(target.timeout, send).await {
        Ok(r) => r,
        Err(_) => Err(ScrapeError(format!(
            "Get {:?}: context deadline exceeded",
            target.url
        ))),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// The scraped label set with the target's labels applied: with
/// `honor_labels` the scraped values win; otherwise the target's do and a
/// scraped value they replace moves to `exported_<name>`.
fn apply_target_labels(scraped: &Labels, target: &Labels, honor: bool) -> Labels {
    let mut lb = scraped.builder();
    if honor {
        for t in target.iter() {
            if lb.get(&t.name).is_none_or(str::is_empty) {
                lb.set(&t.name, &t.value);
            }
        }
    } else {
        let mut conflicts = Vec::new();
        for t in target.iter() {
            if let Some(v) = lb.get(&t.name).filter(|v| !v.is_empty()) {
                conflicts.push((t.name.clone(), v.to_string()));
            }
            lb.set(&t.name, &t.value);
        }
        for (name, value) in conflicts {
            let mut exported = format!("exported_{name}");
            while lb.get(&exported).is_some_and(|v| !v.is_empty()) {
                exported = format!("exported_{exported}");
            }
            lb.set(&exported, &value);
        }
    }
    lb.retain(|l| !l.value.is_empty());
    lb.labels()
}

fn check_label_limits(cfg: &ScrapeConfig, labels: &Labels) -> Result<(), ScrapeError> {
    let metric: String = labels
        .metric_name()
        .unwrap_or_default()
        .chars()
        .take(50)
        .collect();
    if cfg.label_limit > 0 && labels.len() as u64 > cfg.label_limit {
        return Err(ScrapeError(format!(
            "label_limit exceeded (metric: {metric}, number of labels: {}, limit: {})",
            labels.len(),
            cfg.label_limit
        )));
    }
    for l in labels.iter() {
        if cfg.label_name_length_limit > 0 && l.name.len() as u64 > cfg.label_name_length_limit {
            return Err(ScrapeError(format!(
                "label_name_length_limit exceeded (metric: {metric}, label name: {}, length: {}, limit: {})",
                l.name.chars().take(50).collect::<String>(),
                l.name.len(),
                cfg.label_name_length_limit
            )));
        }
        if cfg.label_value_length_limit > 0 && l.value.len() as u64 > cfg.label_value_length_limit {
            return Err(ScrapeError(format!(
                "label_value_length_limit exceeded (metric: {metric}, label name: {}, value: {:?}, length: {}, limit: {})",
                l.name.chars().take(50).collect::<String>(),
                l.value.chars().take(50).collect::<String>(),
                l.value.len(),
                cfg.label_value_length_limit
            )));
        }
    }
    Ok(())
}

fn stale() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// Appends `series` (labels, sample) through the ingester in one batch;
/// `refs` (aligned with `series`, 0 for none) let storage skip the label
/// lookup, and the report carries the refs for next time.
fn append(
    ctx: &LoopContext,
    series: &[(PackedLabels, Sample)],
    refs: &[strata_model::SeriesRef],
) -> Result<strata_ingest::IngestReport, ScrapeError> {
    if series.is_empty() {
        return Ok(strata_ingest::IngestReport::default());
    }
    let spare = SPARE_BATCHES.lock().pop();
    let mut batch = spare.map(WriteBatch::reuse).unwrap_or_default();
    let mut labels_buf: Vec<LabelRef<'_>> = Vec::with_capacity(32);
    for (i, (labels, sample)) in series.iter().enumerate() {
        labels_buf.clear();
        labels_buf.extend(labels.iter().map(|(name, value)| LabelRef { name, value }));
        batch.push_with_ref(
            &labels_buf,
            std::slice::from_ref(sample),
            refs.get(i).copied().unwrap_or(0),
        );
    }
    let report = ctx
        .ingester
        .ingest(&ctx.tenant, &batch)
        .map_err(|e| ScrapeError(format!("appending: {e}")));
    let mut spares = SPARE_BATCHES.lock();
    if spares.len() < SPARE_BATCHES_KEPT {
        spares.push(batch.into_spare());
    }
    report
}

/// The `# TYPE`/`# HELP`/`# UNIT` of a body (parsed a second time, only
/// when the metadata lines' hash changed since the last scrape).
fn collect_metadata(
    format: expo::Format,
    body: &[u8],
) -> std::collections::BTreeMap<String, MetricMetadata> {
    let mut metadata: std::collections::BTreeMap<String, MetricMetadata> = Default::default();
    let mut parser = Parser::new(format, body);
    while let Ok(Some(entry)) = parser.next() {
        match entry {
            Entry::Type { metric, kind } => {
                metadata.entry(metric.into_owned()).or_default().kind = kind.as_str().to_string()
            }
            Entry::Help { metric, text } => {
                metadata.entry(metric.into_owned()).or_default().help = text.into_owned()
            }
            Entry::Unit { metric, unit } => {
                metadata.entry(metric.into_owned()).or_default().unit = unit.into_owned()
            }
            Entry::Series(_) | Entry::Comment(_) => {}
        }
    }
    for m in metadata.values_mut() {
        if m.kind.is_empty() {
            m.kind = "unknown".into();
        }
    }
    metadata
}

/// Parses one body into `state.out` (samples, then the stale markers of
/// series the last scrape had and this one lacks) with `state.refs`, and
/// the next series map into `state.next`; the caller adds the report and
/// stores it all (`commit` after a successful append). On any error
/// nothing of the body is kept (the caller marks the previous series stale,
/// as Prometheus does for a failed scrape).
fn process(
    ctx: &LoopContext,
    target: &Target,
    state: &mut LoopState,
    body: &[u8],
    content_type: Option<&str>,
    t: i64,
) -> Result<Processed, ScrapeError> {
    use std::hash::Hasher;
    let cfg = &ctx.cfg;
    let format = expo::format_for(content_type, cfg.fallback_scrape_protocol)
        .map_err(|e| ScrapeError(e.to_string()))?;
    let mut parser = Parser::new(format, body);
    let mut meta_hash = xxhash_rust::xxh3::Xxh3::new();
    state.iteration += 1;
    let iteration = state.iteration;
    state.out.clear();
    state.refs.clear();
    state.meta.clear();
    let mut scraped = 0u64;
    // An empty body is an empty scrape (its series go stale), whatever
    // the format: the OpenMetrics parser would refuse it for lacking `# EOF`.
    while !body.is_empty() {
        let entry = parser
            .next()
            .map_err(|e| ScrapeError(format!("parsing the scrape: {e}")))?;
        let Some(entry) = entry else { break };
        let s = match entry {
            Entry::Series(s) => s,
            Entry::Type { metric, kind } => {
                meta_hash.write(&[0]);
                meta_hash.write(metric.as_bytes());
                meta_hash.write(kind.as_str().as_bytes());
                continue;
            }
            Entry::Help { metric, text } => {
                meta_hash.write(&[1]);
                meta_hash.write(metric.as_bytes());
                meta_hash.write(text.as_bytes());
                continue;
            }
            Entry::Unit { metric, unit } => {
                meta_hash.write(&[2]);
                meta_hash.write(metric.as_bytes());
                meta_hash.write(unit.as_bytes());
                continue;
            }
            Entry::Comment(_) => continue,
        };
        scraped += 1;
        let key = s.series_bytes();
        let found = match state.cache.get_mut(key) {
            Some(c) => {
                c.seen = iteration;
                c.labels.clone().map(|l| (l, c.hash))
            }
            None => {
                let merged = apply_target_labels(&s.to_labels(), &target.labels, cfg.honor_labels);
                // Packed: the cache holds every series of every target, and
                // `Labels` costs two heap strings per label.
                let relabeled = relabel::process_cow(&merged, &cfg.metric_relabel_configs);
                if let Some(l) = &relabeled {
                    check_label_limits(cfg, l)?;
                }
                let hash = relabeled.as_ref().map(|l| l.hash64()).unwrap_or(0);
                let labels = relabeled.map(|l| PackedLabels::from_labels(&l));
                state.cache.insert(
                    key.into(),
                    Cached {
                        labels: labels.clone(),
                        hash,
                        seen: iteration,
                    },
                );
                labels.map(|l| (l, hash))
            }
        };
        let Some((labels, hash)) = found else {
            continue;
        };
        let (ts, has_ts) = match s.timestamp_ms {
            Some(ts) if cfg.honor_timestamps => (ts, true),
            _ => (t, false),
        };
        state.out.push((labels, Sample::new(ts, s.value)));
        state.meta.push((hash, has_ts));
    }
    let post_relabel = state.out.len() as u64;
    if cfg.sample_limit > 0 && post_relabel > cfg.sample_limit {
        return Err(ScrapeError(SAMPLE_LIMIT.into()));
    }
    let mut next = std::mem::take(&mut state.next);
    next.clear();
    let mut added = 0;
    for ((labels, _), (h, has_ts)) in state.out.iter().zip(&state.meta) {
        let series_ref = match state.previous.get(h) {
            Some(p) => p.series_ref,
            None => {
                added += 1;
                0
            }
        };
        state.refs.push(series_ref);
        next.insert(
            *h,
            Previous {
                labels: labels.clone(),
                had_ts: *has_ts,
                series_ref,
            },
        );
    }
    // What the last scrape had and this one lacks goes stale now; a
    // series with its own timestamps only with track_timestamps_staleness.
    for (h, p) in &state.previous {
        if !next.contains_key(h) && (!p.had_ts || cfg.track_timestamps_staleness) {
            state.out.push((p.labels.clone(), Sample::new(t, stale())));
            state.refs.push(p.series_ref);
        }
    }
    state.next = next;
    let meta_hash = meta_hash.digest();
    if meta_hash != state.metadata_hash {
        let metadata = collect_metadata(format, body);
        state.metadata_hash = meta_hash;
        if metadata != state.metadata {
            state.metadata = metadata;
            state.metadata_changed = true;
        }
    }
    state.cache.retain(|_, c| c.seen + 1 >= iteration);
    Ok(Processed {
        scraped,
        post_relabel,
        added,
    })
}

/// After the scrape's batch was stored: storage's refs go into the next
/// series map, which becomes the previous one.
fn commit(state: &mut LoopState, refs: &[strata_model::SeriesRef]) {
    for ((h, _), r) in state.meta.iter().zip(refs) {
        if let Some(p) = state.next.get_mut(h) {
            p.series_ref = *r;
        }
    }
    std::mem::swap(&mut state.previous, &mut state.next);
    state.next.clear();
}

/// The `up` and `scrape_*` series of a target.
fn report_series(target: &Target, values: [f64; 5], t: i64) -> Vec<(PackedLabels, Sample)> {
    const NAMES: [&str; 5] = [
        "up",
        "scrape_duration_seconds",
        "scrape_samples_scraped",
        "scrape_samples_post_metric_relabeling",
        "scrape_series_added",
    ];
    NAMES
        .iter()
        .zip(values)
        .map(|(name, v)| {
            let mut lb = target.labels.builder();
            lb.set(METRIC_NAME, name);
            (PackedLabels::from_labels(&lb.labels()), Sample::new(t, v))
        })
        .collect()
}

/// The report series' labels, built once per loop.
fn report_labels<'s>(state: &'s mut LoopState, target: &Target) -> &'s [PackedLabels] {
    state.report.get_or_insert_with(|| {
        report_series(target, [0.0; 5], 0)
            .into_iter()
            .map(|(l, _)| l)
            .collect()
    })
}

fn now_ms(at: SystemTime) -> i64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Bodies up to this size are parsed and stored on the runtime worker that
/// fetched them (see `scrape_once`).
const INLINE_BODY_BYTES: usize = 256 << 10;

type Fetched = Result<(Vec<u8>, Option<String>, Option<String>), ScrapeError>;

/// Parses a fetched body (or takes its error), appends its samples, stale
/// markers and report as one batch, and commits the loop state.
fn store_scrape(
    ctx: &LoopContext,
    target: &Target,
    mut state: LoopState,
    fetched: Fetched,
    started: Instant,
    t: i64,
) -> (LoopState, Result<Processed, ScrapeError>, Duration) {
    let result = fetched.and_then(|(raw, content_type, encoding)| {
        let mut scratch = Vec::new();
        let body = expo::decode_body(
            &raw,
            encoding.as_deref(),
            usize::try_from(ctx.cfg.body_size_limit).unwrap_or(usize::MAX),
            &mut scratch,
        )
        .map_err(|e| ScrapeError(e.to_string()))?;
        process(ctx, target, &mut state, body, content_type.as_deref(), t)
    });
    // Prometheus' scrape duration: fetching and parsing, not storing.
    let duration = started.elapsed();
    let values = match &result {
        Ok(p) => [
            1.0,
            duration.as_secs_f64(),
            p.scraped as f64,
            p.post_relabel as f64,
            p.added as f64,
        ],
        Err(_) => [0.0, duration.as_secs_f64(), 0.0, 0.0, 0.0],
    };
    if result.is_err() {
        // A failed scrape ends every series the last one stored.
        state.out.clear();
        state.refs.clear();
        state.meta.clear();
        state.next.clear();
        let track = ctx.cfg.track_timestamps_staleness;
        for p in state.previous.values() {
            if !p.had_ts || track {
                state.out.push((p.labels.clone(), Sample::new(t, stale())));
                state.refs.push(p.series_ref);
            }
        }
    }
    let first_report = state.out.len();
    let report_refs = state.report_refs;
    let labels: Vec<PackedLabels> = report_labels(&mut state, target).to_vec();
    for ((l, v), r) in labels.into_iter().zip(values).zip(report_refs) {
        state.out.push((l, Sample::new(t, v)));
        state.refs.push(r);
    }
    let stored = append(ctx, &state.out, &state.refs);
    let result = match stored {
        Ok(report) => {
            if let Some(r) = report.refs.get(first_report..first_report + 5) {
                state.report_refs.copy_from_slice(r);
            }
            if result.is_ok() {
                commit(&mut state, &report.refs);
            } else {
                state.previous.clear();
            }
            result
        }
        Err(e) => {
            tracing::warn!(target = %target.url, error = %e, "appending a scrape");
            state.previous.clear();
            state.next.clear();
            Err(e)
        }
    };
    state.out.clear();
    (state, result, duration)
}

/// Runs one scrape and its report; returns the state for the next one.
async fn scrape_once(
    ctx: &LoopContext,
    target: &Arc<Target>,
    state: LoopState,
    status: &Arc<Mutex<TargetStatus>>,
) -> LoopState {
    let started_at = SystemTime::now();
    let started = Instant::now();
    let t = now_ms(started_at);
    let fetched = fetch(ctx, target).await;
    // Parsing and storing a typical target (a few hundred series) takes well
    // under a millisecond: done in place, it saves the two thread handoffs
    // of the blocking pool, which cost more than the work (the scrape
    // benchmark's wakeups). A large body goes to the blocking pool so that
    // it never holds a runtime worker for long.
    let small = match &fetched {
        // Compressed bodies grow about tenfold when decoded.
        Ok((raw, _, encoding)) => {
            raw.len()
                .saturating_mul(if encoding.is_some() { 10 } else { 1 })
                <= INLINE_BODY_BYTES
        }
        Err(_) => true,
    };
    let (mut state, result, duration) = if small {
        store_scrape(ctx, target, state, fetched, started, t)
    } else {
        let ctx2 = ctx.clone();
        let target2 = target.clone();
        match tokio::task::spawn_blocking(move || {
            store_scrape(&ctx2, &target2, state, fetched, started, t)
        })
        .await
        {
            Ok(done) => done,
            Err(_) => {
                tracing::error!(target = %target.url, "scrape processing task failed");
                return LoopState::default();
            }
        }
    };
    ctx.metrics.scrape_done(&ctx.cfg.job_name, result.is_ok());
    if matches!(&result, Err(e) if e.0 == SAMPLE_LIMIT) {
        ctx.metrics.exceeded_sample_limit.inc();
    }
    let mut st = status.lock();
    if state.metadata_changed {
        st.metadata = Arc::new(state.metadata.clone());
        state.metadata_changed = false;
    }
    st.last_scrape = Some(started_at);
    st.last_duration = duration;
    match result {
        Ok(p) => {
            st.health = Health::Up;
            st.last_error.clear();
            st.last_samples = p.scraped;
        }
        Err(e) => {
            tracing::debug!(target = %target.url, error = %e, "scrape failed");
            st.health = Health::Down;
            st.last_error = e.0;
            st.last_samples = 0;
        }
    }
    state
}

/// Marks every series of the target stale: its last scrape's series and
/// its report series (the target is gone).
async fn end_of_run(ctx: &LoopContext, target: &Arc<Target>, state: LoopState) {
    let t = now_ms(SystemTime::now());
    let mut out = report_series(target, [stale(); 5], t);
    for p in state.previous.values() {
        if !p.had_ts || ctx.cfg.track_timestamps_staleness {
            out.push((p.labels.clone(), Sample::new(t, stale())));
        }
    }
    let ctx = ctx.clone();
    let url = target.url.clone();
    let _ = tokio::task::spawn_blocking(move || {
        if let Err(e) = append(&ctx, &out, &[]) {
            tracing::warn!(target = %url, error = %e, "appending stale markers");
        }
    })
    .await;
}

/// How a loop ends: with stale markers (its target went away) or without
/// (the server is shutting down, or the loop is replaced by an identical one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    MarkStale,
    Quiet,
}

/// Scrapes `target` every interval, starting at its offset, until `stop`
/// says otherwise.
pub async fn run(
    ctx: LoopContext,
    target: Arc<Target>,
    offset: Duration,
    status: Arc<Mutex<TargetStatus>>,
    mut stop: tokio::sync::watch::Receiver<Option<Stop>>,
) {
    let mut state = LoopState::default();
    let first = tokio::time::Instant::now() + offset;
    let mut ticker = tokio::time::interval_at(first, target.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                state = scrape_once(&ctx, &target, state, &status).await;
            }
            changed = stop.changed() => {
                let how = if changed.is_ok() { *stop.borrow() } else { Some(Stop::Quiet) };
                if let Some(how) = how {
                    if how == Stop::MarkStale {
                        end_of_run(&ctx, &target, state).await;
                    }
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_labels_conflicts() {
        let scraped = Labels::from_pairs([("__name__", "m"), ("job", "inner"), ("a", "1")]);
        let target = Labels::from_pairs([("job", "outer"), ("instance", "h:1")]);
        assert_eq!(
            apply_target_labels(&scraped, &target, false),
            Labels::from_pairs([
                ("__name__", "m"),
                ("a", "1"),
                ("exported_job", "inner"),
                ("instance", "h:1"),
                ("job", "outer"),
            ])
        );
        assert_eq!(
            apply_target_labels(&scraped, &target, true),
            Labels::from_pairs([
                ("__name__", "m"),
                ("a", "1"),
                ("instance", "h:1"),
                ("job", "inner")
            ])
        );
        let twice = Labels::from_pairs([("__name__", "m"), ("job", "x"), ("exported_job", "y")]);
        let got = apply_target_labels(&twice, &Labels::from_pairs([("job", "t")]), false);
        assert_eq!(got.get("exported_exported_job"), Some("x"));
        assert_eq!(got.get("exported_job"), Some("y"));
        assert_eq!(got.get("job"), Some("t"));
    }
}
