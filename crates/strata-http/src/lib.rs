//! Strata's HTTP API: the Prometheus-compatible endpoints.
//!
//! Architecture invariant: this is the only crate where errors become HTTP
//! status codes (see `error.rs`). Handlers do blocking storage work on the
//! blocking pool, never on the async workers.

pub mod admin;
pub mod error;
pub mod federate;
pub mod metrics;
pub mod params;
pub mod prom_xor;
pub mod query;
pub mod read;
pub mod remote_read;
pub mod rules;
mod shapes;
pub mod status;
pub mod targets;
pub mod write;

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use prometheus_client::registry::Registry;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use strata_ingest::Ingester;
use strata_model::{Queryable, StorageAdmin, TenantId};

pub use error::{ApiError, ErrorType};

/// The header carrying the tenant in multi-tenant mode (Mimir/Cortex/Thanos).
pub const TENANT_HEADER: &str = "X-Scope-OrgID";

#[derive(Debug, Clone)]
pub struct BuildInfo {
    pub version: String,
    pub revision: String,
    pub branch: String,
    pub build_date: String,
    pub rust_version: String,
}

#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub data_dir: PathBuf,
    pub multi_tenant: bool,
    pub enable_admin_api: bool,
    /// Cap on a remote-write body as sent (compressed).
    pub max_write_body_bytes: usize,
    pub build: BuildInfo,
    /// Flag name → value, for `/api/v1/status/flags`.
    pub flags: Vec<(String, String)>,
    /// Queries evaluated at once; more wait in a queue.
    pub max_concurrent_queries: usize,
    /// How long a query may wait in that queue before it is refused.
    pub max_query_queue_wait: std::time::Duration,
    /// Lookback, sample limit and timeout of the PromQL engine.
    pub engine: strata_promql::EngineOptions,
    /// The configuration file as loaded, for `/api/v1/status/config`.
    pub config_yaml: String,
    /// `/-/reload` and `/-/quit` answer (`--web.enable-lifecycle`).
    pub enable_lifecycle: bool,
    pub remote_read: RemoteReadLimits,
    /// Agent mode: no local queries (those endpoints answer 422, as
    /// Prometheus' agent does).
    pub agent: bool,
}

/// Bounds on one remote-read request (Prometheus' `--storage.remote.read-*`).
#[derive(Debug, Clone)]
pub struct RemoteReadLimits {
    /// Samples one samples-type response may hold (0: no limit).
    pub sample_limit: u64,
    /// Bytes of one streamed frame before it is sent.
    pub max_bytes_in_frame: usize,
    /// Bytes of the decompressed request.
    pub max_request_bytes: usize,
}

/// Where the lifecycle endpoints send their requests: a reload request
/// carries the channel its result comes back on.
#[derive(Clone)]
pub struct Lifecycle {
    pub reload: tokio::sync::mpsc::Sender<tokio::sync::oneshot::Sender<Result<(), String>>>,
    pub quit: Arc<tokio::sync::Notify>,
}

/// State shared by every handler.
pub struct AppState {
    pub cfg: ApiConfig,
    /// Reads (query, series, labels).
    queryable: OnceLock<Arc<dyn Queryable>>,
    /// Admin API, `/api/v1/status/tsdb` and the storage's self-metrics; set
    /// means the storage is ready.
    admin: OnceLock<Arc<dyn StorageAdmin>>,
    /// The write path; writes never reach storage except through it.
    ingester: OnceLock<Arc<Ingester>>,
    shutting_down: AtomicBool,
    /// Every self-metric of the process, served at `/metrics`.
    registry: Registry,
    pub(crate) metrics: metrics::HttpMetrics,
    pub start_time: std::time::SystemTime,
    query_slots: Arc<tokio::sync::Semaphore>,
    pub engine: Arc<strata_promql::Engine>,
    /// What a config reload changes: the YAML `/api/v1/status/config`
    /// shows and the external labels `/federate` adds.
    live: std::sync::RwLock<LiveConfig>,
    scrape: OnceLock<Arc<strata_scrape::ScrapeManager>>,
    rules: OnceLock<Arc<strata_rules::RuleManager>>,
    lifecycle: OnceLock<Lifecycle>,
    /// (last reload succeeded, when the last good config was loaded).
    reload_status: std::sync::Mutex<(bool, std::time::SystemTime)>,
}

/// The parts of the loaded configuration handlers read; replaced whole on
/// every successful reload.
#[derive(Debug, Clone, Default)]
pub struct LiveConfig {
    pub yaml: String,
    pub external_labels: strata_model::Labels,
}

pub type SharedState = Arc<AppState>;

impl AppState {
    /// `registry` holds the other subsystems' self-metrics; the HTTP layer
    /// adds its own and serves the whole at `/metrics`.
    pub fn new(cfg: ApiConfig, mut registry: Registry) -> SharedState {
        let metrics = metrics::HttpMetrics::register(&mut registry, &cfg.build);
        let query_slots = Arc::new(tokio::sync::Semaphore::new(
            cfg.max_concurrent_queries.max(1),
        ));
        let live = std::sync::RwLock::new(LiveConfig {
            yaml: cfg.config_yaml.clone(),
            external_labels: strata_model::Labels::empty(),
        });
        Arc::new(AppState {
            scrape: OnceLock::new(),
            rules: OnceLock::new(),
            lifecycle: OnceLock::new(),
            reload_status: std::sync::Mutex::new((true, std::time::SystemTime::now())),
            live,
            query_slots,
            engine: Arc::new(strata_promql::Engine::new(cfg.engine.clone())),
            cfg,
            queryable: OnceLock::new(),
            admin: OnceLock::new(),
            ingester: OnceLock::new(),
            shutting_down: AtomicBool::new(false),
            registry,
            metrics,
            start_time: std::time::SystemTime::now(),
        })
    }

    /// Called once the WAL replay finished: from now on `/-/ready` is 200.
    /// The three handles are usually one storage seen through three traits.
    pub fn set_ready(
        &self,
        queryable: Arc<dyn Queryable>,
        admin: Arc<dyn StorageAdmin>,
        ingester: Arc<Ingester>,
    ) {
        let _ = self.ingester.set(ingester);
        let _ = self.queryable.set(queryable);
        // Last: readiness is judged by this one.
        let _ = self.admin.set(admin);
        self.metrics.set_ready();
    }

    /// Installs a newly loaded configuration (at start and on reload).
    pub fn set_live_config(&self, live: LiveConfig) {
        match self.live.write() {
            Ok(mut g) => *g = live,
            Err(poisoned) => *poisoned.into_inner() = live,
        }
    }

    pub fn live_config(&self) -> LiveConfig {
        match self.live.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn set_scrape_manager(&self, m: Arc<strata_scrape::ScrapeManager>) {
        let _ = self.scrape.set(m);
    }

    pub fn scrape_manager(&self) -> Option<Arc<strata_scrape::ScrapeManager>> {
        self.scrape.get().cloned()
    }

    pub fn set_rule_manager(&self, m: Arc<strata_rules::RuleManager>) {
        let _ = self.rules.set(m);
    }

    pub fn rule_manager(&self) -> Option<Arc<strata_rules::RuleManager>> {
        self.rules.get().cloned()
    }

    pub fn set_lifecycle(&self, lc: Lifecycle) {
        let _ = self.lifecycle.set(lc);
    }

    pub fn lifecycle(&self) -> Option<Lifecycle> {
        self.lifecycle.get().cloned()
    }

    /// Records a reload's outcome for `/api/v1/status/runtimeinfo`.
    pub fn set_reload_status(&self, ok: bool) {
        let mut g = match self.reload_status.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        g.0 = ok;
        if ok {
            g.1 = std::time::SystemTime::now();
        }
    }

    pub fn reload_status(&self) -> (bool, std::time::SystemTime) {
        match self.reload_status.lock() {
            Ok(g) => *g,
            Err(p) => *p.into_inner(),
        }
    }

    pub fn external_labels(&self) -> strata_model::Labels {
        self.live_config().external_labels
    }

    /// Called on the first shutdown signal: new writes get 503.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    pub fn is_ready(&self) -> bool {
        self.admin.get().is_some()
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn admin(&self) -> Result<Arc<dyn StorageAdmin>, ApiError> {
        self.admin
            .get()
            .cloned()
            .ok_or_else(|| ApiError::unavailable("Strata is starting: WAL replay in progress"))
    }

    pub fn queryable(&self) -> Result<Arc<dyn Queryable>, ApiError> {
        self.queryable
            .get()
            .cloned()
            .ok_or_else(|| ApiError::unavailable("Strata is starting: WAL replay in progress"))
    }

    /// Waits for a query slot (bounded concurrency keeps memory bounded);
    /// refuses with 503 when the queue wait exceeds its limit.
    pub async fn acquire_query_slot(&self) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
        let wait = self.cfg.max_query_queue_wait;
        match tokio::time::timeout(wait, self.query_slots.clone().acquire_owned()).await {
            Ok(Ok(p)) => Ok(p),
            Ok(Err(_)) => Err(ApiError::unavailable("query queue closed: shutting down")),
            Err(_) => Err(ApiError::unavailable(format!(
                "too many concurrent queries: waited {wait:?} for one of {} slots",
                self.cfg.max_concurrent_queries
            ))),
        }
    }

    pub fn ingester(&self) -> Result<Arc<Ingester>, ApiError> {
        self.ingester
            .get()
            .cloned()
            .ok_or_else(|| ApiError::unavailable("Strata is starting: WAL replay in progress"))
    }

    /// The tenant a request acts for. Single-tenant mode ignores the header,
    /// so a stray header can never split one user's data.
    pub fn tenant(&self, headers: &HeaderMap) -> Result<TenantId, ApiError> {
        if !self.cfg.multi_tenant {
            return Ok(TenantId::single());
        }
        let raw = headers.get(TENANT_HEADER).ok_or_else(|| {
            ApiError::new(
                ErrorType::Unauthorized,
                "no org id: the X-Scope-OrgID header is required",
            )
        })?;
        let s = raw.to_str().map_err(|_| {
            ApiError::new(
                ErrorType::Unauthorized,
                "invalid X-Scope-OrgID header: not ASCII",
            )
        })?;
        TenantId::parse(s).map_err(|e| {
            ApiError::new(
                ErrorType::Unauthorized,
                format!("invalid X-Scope-OrgID header: {e}"),
            )
        })
    }
}

/// Endpoints that read local storage (or rules, which agent mode does not
/// evaluate): agent mode has none of them.
const STORAGE_READ_PATHS: &[&str] = &[
    "/api/v1/rules",
    "/api/v1/alerts",
    "/api/v1/status/tsdb",
    "/api/v1/query",
    "/api/v1/query_range",
    "/api/v1/format_query",
    "/api/v1/parse_query",
    "/api/v1/query_exemplars",
    "/federate",
    "/api/v1/read",
    "/api/v1/series",
    "/api/v1/labels",
    "/api/v1/label/{name}/values",
    "/api/v1/admin/tsdb/snapshot",
    "/api/v1/admin/tsdb/delete_series",
    "/api/v1/admin/tsdb/clean_tombstones",
];

/// Every route Strata serves.
pub fn router(state: SharedState) -> Router {
    api_routes(state).layer(
        tower_http::compression::CompressionLayer::new()
            .no_br()
            .no_deflate()
            .no_zstd()
            // The fastest level: a 500-series range answer (7.7 MiB of
            // JSON) took 430 ms to gzip at the default level, longer than
            // the query, for a fifth less on the wire.
            .quality(tower_http::CompressionLevel::Fastest)
            .compress_when(TextAnswers),
    )
}

/// Which answers are gzipped for a client that accepts it, as Prometheus
/// does for its API: JSON and the text formats (`/federate`, `/metrics`)
/// over a kilobyte. A range query's JSON shrinks about fourfold; remote
/// read is snappy-compressed protobuf already.
#[derive(Clone, Copy)]
struct TextAnswers;

impl tower_http::compression::Predicate for TextAnswers {
    fn should_compress<B>(&self, response: &axum::http::Response<B>) -> bool
    where
        B: axum::body::HttpBody,
    {
        use tower_http::compression::predicate::SizeAbove;
        let text = response
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| {
                t.starts_with("application/json")
                    || t.starts_with("text/plain")
                    || t.starts_with("application/openmetrics-text")
            });
        text && SizeAbove::new(1024).should_compress(response)
    }
}

fn api_routes(state: SharedState) -> Router {
    if state.cfg.agent {
        let mut r = common_routes();
        for path in STORAGE_READ_PATHS {
            r = r.route(path, axum::routing::any(status::agent_unavailable));
        }
        return r.fallback(status::not_found).with_state(state);
    }
    common_routes()
        .route("/api/v1/rules", get(rules::rules))
        .route("/api/v1/alerts", get(rules::alerts))
        .route("/api/v1/status/tsdb", get(status::tsdb))
        .route("/api/v1/query", get(query::instant).post(query::instant))
        .route("/api/v1/query_range", get(query::range).post(query::range))
        .route(
            "/api/v1/format_query",
            get(query::format_query).post(query::format_query),
        )
        .route(
            "/api/v1/parse_query",
            get(query::parse_query).post(query::parse_query),
        )
        .route(
            "/api/v1/query_exemplars",
            get(query::query_exemplars).post(query::query_exemplars),
        )
        .route(
            "/federate",
            get(federate::federate).post(federate::federate),
        )
        .route("/api/v1/read", post(remote_read::remote_read))
        .route("/api/v1/series", get(read::series).post(read::series))
        .route("/api/v1/labels", get(read::labels).post(read::labels))
        .route("/api/v1/label/{name}/values", get(read::label_values))
        .route(
            "/api/v1/admin/tsdb/snapshot",
            post(admin::snapshot).put(admin::snapshot),
        )
        .route(
            "/api/v1/admin/tsdb/delete_series",
            post(admin::delete_series).put(admin::delete_series),
        )
        .route(
            "/api/v1/admin/tsdb/clean_tombstones",
            post(admin::clean_tombstones).put(admin::clean_tombstones),
        )
        .fallback(status::not_found)
        .with_state(state)
}

/// Routes every mode serves.
fn common_routes() -> Router<SharedState> {
    Router::new()
        .route("/-/healthy", get(status::healthy).head(status::healthy))
        .route("/-/ready", get(status::ready).head(status::ready))
        .route("/metrics", get(status::metrics))
        .route("/api/v1/status/buildinfo", get(status::buildinfo))
        .route("/api/v1/status/flags", get(status::flags))
        .route("/api/v1/status/runtimeinfo", get(status::runtimeinfo))
        .route("/api/v1/status/config", get(status::config))
        .route("/api/v1/metadata", get(targets::metadata))
        .route("/api/v1/write", post(write::remote_write))
        .route("/api/v1/targets", get(targets::targets))
        .route("/api/v1/targets/metadata", get(targets::targets_metadata))
        .route("/api/v1/scrape_pools", get(targets::scrape_pools))
        .route("/-/reload", post(targets::reload).put(targets::reload))
        .route("/-/quit", post(targets::quit).put(targets::quit))
}

/// Runs blocking storage work off the async workers and maps a panic or
/// cancellation of that task to an internal error instead of tearing down
/// the connection.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "storage task failed");
            Err(ApiError::internal(format!("storage task failed: {e}")))
        }
    }
}
