//! `strata run`: the server process and its lifecycle.
//!
//! Startup binds the listener first (so a taken port fails fast), serves
//! `/-/healthy` at once and `/-/ready` = 503 while the WAL replays, then
//! flips to ready. The first SIGTERM/SIGINT stops accepting requests, lets
//! in-flight ones finish, makes the head durable and exits 0; a second
//! signal exits at once.

use crate::process_metrics::ProcessCollector;
use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use strata_http::{ApiConfig, AppState, BuildInfo};
use strata_ingest::{IngestMetrics, Ingester, IngesterOptions, Limits, NameValidation};
use strata_model::StorageCollector;
use strata_tsdb::{Db, DbOptions, WalSync};

fn duration(s: &str) -> Result<Duration, String> {
    strata_model::units::parse_duration(s).map_err(|e| e.to_string())
}

fn size(s: &str) -> Result<u64, String> {
    strata_model::units::parse_size(s).map_err(|e| e.to_string())
}

/// `always` or an interval like `1s`.
fn wal_sync(s: &str) -> Result<WalSync, String> {
    if s == "always" {
        return Ok(WalSync::Always);
    }
    match strata_model::units::parse_duration(s) {
        Ok(d) if !d.is_zero() => Ok(WalSync::Interval(d)),
        _ => Err(format!(
            "{s:?} is neither \"always\" nor a positive duration like 1s"
        )),
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Logfmt,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum NameScheme {
    /// Prometheus 3: any non-empty valid UTF-8 metric and label name.
    Utf8,
    /// The classic `[a-zA-Z_:][a-zA-Z0-9_:]*` rule of Prometheus 2.
    Legacy,
}

#[derive(Args, Debug)]
#[command(
    about = "Run the Strata server",
    long_about = "Run the Strata server.\n\n\
Scrapes the targets of --config (or itself), receives Prometheus remote-write on POST /api/v1/write, stores samples in a write-ahead log and \
compressed 2h blocks under --data-dir, and answers the Prometheus HTTP API (series, labels, \
label values, query, targets, federate, remote-read, admin). /-/ready answers 503 until the WAL has been replayed."
)]
pub struct RunArgs {
    /// Directory for the WAL and blocks (one subdirectory per tenant).
    #[arg(
        long = "data-dir",
        visible_alias = "storage.tsdb.path",
        default_value = "./strata-data"
    )]
    pub data_dir: PathBuf,

    /// Address to listen on for HTTP (API, remote-write, /metrics).
    #[arg(
        long = "listen",
        visible_alias = "web.listen-address",
        default_value = "127.0.0.1:9090"
    )]
    pub listen: SocketAddr,

    /// prometheus.yml, as Prometheus 3 reads it: `global`, `scrape_configs`
    /// (static, file, HTTP and Kubernetes discovery), `scrape_config_files`,
    /// `remote_write` (forwarded); `rule_files`, `alerting` and
    /// `remote_read` are parsed and checked.
    /// Without it Strata scrapes its own /metrics every 15s. Reloaded on
    /// SIGHUP (and POST /-/reload with --web.enable-lifecycle); an invalid
    /// file at start exits with status 2, on reload it is logged and the old
    /// configuration stays. Check one with `strata check config FILE`.
    #[arg(long = "config", visible_alias = "config.file")]
    pub config: Option<PathBuf>,

    /// How often a still-firing alert is sent to Alertmanager again.
    #[arg(long = "rules.alert.resend-delay", default_value = "1m", value_parser = duration)]
    pub rules_alert_resend_delay: Duration,

    /// After a restart, pending alerts continue their `for` from where they
    /// were (ALERTS_FOR_STATE) if Strata was down at most this long.
    #[arg(long = "rules.alert.for-outage-tolerance", default_value = "1h", value_parser = duration)]
    pub rules_for_outage_tolerance: Duration,

    /// The least time a restored pending alert waits before it fires.
    #[arg(long = "rules.alert.for-grace-period", default_value = "10m", value_parser = duration)]
    pub rules_for_grace_period: Duration,

    /// Load shipped rule packs by name, beside the config's `rule_files`
    /// (comma-separated or repeated): kubernetes-triage, kafka, strata.
    /// `strata rules packs` lists them; `strata rules show NAME` prints one.
    #[arg(long = "rule-pack", value_name = "NAME", value_delimiter = ',', value_parser = crate::packs::parse_flag, conflicts_with = "agent")]
    pub rule_packs: Vec<&'static crate::packs::RulePack>,

    /// Alerts waiting to be sent to Alertmanager; beyond it the oldest are
    /// dropped (counted in strata_notifications_dropped_total).
    #[arg(
        long = "alertmanager.notification-queue-capacity",
        default_value_t = 10_000
    )]
    pub notification_queue_capacity: usize,

    /// Agent mode, as `prometheus --agent`: scrape and remote_write only.
    /// Samples go to the WAL under --data-dir and nowhere else (no blocks,
    /// none in memory); each maintenance round truncates the WAL to what
    /// the remote_write queues have not sent yet. The query, series,
    /// labels, federate, remote-read, TSDB status and admin endpoints
    /// answer 422; `rule_files`, `alerting` and `remote_read` in the
    /// config are refused.
    #[arg(long = "agent")]
    pub agent: bool,

    /// Enable POST /-/reload (reload the config) and POST /-/quit (shut down).
    #[arg(long = "web.enable-lifecycle")]
    pub enable_lifecycle: bool,

    /// The URL under which Strata is externally reachable (for example, if
    /// Strata is served via a reverse proxy). Used for generating relative
    /// and absolute links back to Strata itself: alerts' generatorURL, the
    /// templates' $externalURL and the web UI's links. If the URL has a path
    /// portion, it will be used to prefix all HTTP endpoints served by
    /// Strata. If omitted, http://LISTEN/ is used.
    #[arg(long = "web.external-url", value_name = "URL")]
    pub external_url: Option<String>,

    /// Prefix for the internal routes of web endpoints (API, /metrics,
    /// /federate, /-/ready, the UI). Defaults to the path of
    /// --web.external-url.
    #[arg(long = "web.route-prefix", value_name = "PATH")]
    pub route_prefix: Option<String>,

    /// Most samples one remote-read (samples response) may return; 0 = no
    /// limit. Streamed (chunked) responses are not limited by it.
    #[arg(
        long = "storage.remote.read-sample-limit",
        default_value_t = 50_000_000
    )]
    pub remote_read_sample_limit: u64,

    /// Bytes of series chunks per frame of a streamed remote-read response.
    #[arg(
        long = "storage.remote.read-max-bytes-in-frame",
        default_value_t = 1_048_576
    )]
    pub remote_read_max_bytes_in_frame: usize,

    /// Delete blocks older than this (Prometheus duration: 15d, 12h, 1w). 0 keeps data forever.
    #[arg(long = "retention.time", visible_alias = "storage.tsdb.retention.time", default_value = "15d", value_parser = duration)]
    pub retention_time: Duration,

    /// Delete the oldest blocks while blocks + WAL exceed this size (e.g. 50GB). 0 disables.
    #[arg(long = "retention.size", visible_alias = "storage.tsdb.retention.size", default_value = "0", value_parser = size)]
    pub retention_size: u64,

    /// Accept samples up to this much older than a series' newest sample (0s rejects all out-of-order samples).
    #[arg(long = "storage.out-of-order-window", default_value = "0s", value_parser = duration)]
    pub out_of_order_window: Duration,

    /// WAL durability policy. `always`: a write is acknowledged only after fsync (requests share
    /// fsyncs through group commit). An interval such as `1s`: acknowledged once in the OS page
    /// cache (survives a crash of Strata, kill -9 included), fsynced every interval (a power
    /// loss can lose up to one interval).
    #[arg(long = "storage.wal-fsync", default_value = "1s", value_parser = wal_sync)]
    pub wal_fsync: WalSync,

    /// Time range of the blocks the head is cut into (Prometheus'
    /// --storage.tsdb.min-block-duration). The head is cut when it spans 1.5
    /// ranges; compaction merges blocks into 3x, 9x, … ranges. Smaller values
    /// mean more, smaller blocks; meant for tests and benchmarks.
    #[arg(long = "storage.block-range", default_value = "2h", value_parser = duration, help_heading = "Advanced")]
    pub block_range: Duration,

    /// Take the tenant from the X-Scope-OrgID header; requests without it get 401.
    #[arg(long = "multi-tenant")]
    pub multi_tenant: bool,

    /// Enable /api/v1/admin/tsdb/{snapshot,delete_series,clean_tombstones}.
    #[arg(long = "web.enable-admin-api")]
    pub enable_admin_api: bool,

    /// Maximum active series per tenant; new series beyond it are rejected with 429.
    #[arg(long = "limits.max-series-per-tenant", default_value_t = 5_000_000)]
    pub max_series_per_tenant: usize,

    /// Samples per second one tenant may write (0 = unlimited); requests beyond it get 429.
    #[arg(long = "limits.ingestion-rate", default_value_t = 0.0)]
    pub ingestion_rate: f64,

    /// Samples a tenant may write in a burst above the ingestion rate.
    #[arg(long = "limits.ingestion-burst-size", default_value_t = 2_000_000.0)]
    pub ingestion_burst: f64,

    /// Maximum labels on one series (including __name__).
    #[arg(long = "limits.max-labels-per-series", default_value_t = 128)]
    pub max_labels_per_series: usize,

    /// Maximum length of a label name, in bytes.
    #[arg(long = "limits.max-label-name-length", default_value_t = 1024)]
    pub max_label_name_length: usize,

    /// Maximum length of a label value, in bytes.
    #[arg(long = "limits.max-label-value-length", default_value_t = 4096)]
    pub max_label_value_length: usize,

    /// Maximum remote-write request body as sent (snappy-compressed); larger bodies get 413.
    #[arg(long = "limits.max-request-body-size", default_value = "32MB", value_parser = size)]
    pub max_request_body: u64,

    /// Maximum time a query may take before it is aborted.
    #[arg(long = "query.timeout", default_value = "2m", value_parser = duration)]
    pub query_timeout: Duration,

    /// Maximum samples a single query may load into memory; beyond it the query fails
    /// ("query processing would load too many samples into memory").
    #[arg(long = "query.max-samples", default_value_t = 50_000_000)]
    pub query_max_samples: usize,

    /// How far back an instant selector looks for the latest sample.
    #[arg(long = "query.lookback-delta", default_value = "5m", value_parser = duration)]
    pub query_lookback_delta: Duration,

    /// Queries evaluated at once; further queries wait in a queue.
    #[arg(long = "query.max-concurrency", default_value_t = 20)]
    pub query_max_concurrency: usize,

    /// Metric and label name rule.
    #[arg(long = "validation.scheme", value_enum, default_value = "utf8")]
    pub name_scheme: NameScheme,

    /// Log level.
    #[arg(long = "log.level", value_enum, default_value = "info")]
    pub log_level: LogLevel,

    /// Log format.
    #[arg(long = "log.format", value_enum, default_value = "logfmt")]
    pub log_format: LogFormat,

    /// How often the head is cut into blocks, blocks compacted and retention applied.
    #[arg(long = "storage.maintenance-interval", default_value = "30s", value_parser = duration, help_heading = "Advanced")]
    pub maintenance_interval: Duration,
}

pub fn init_logging(level: LogLevel, format: LogFormat) {
    let lvl = match level {
        LogLevel::Debug => tracing::Level::DEBUG,
        LogLevel::Info => tracing::Level::INFO,
        LogLevel::Warn => tracing::Level::WARN,
        LogLevel::Error => tracing::Level::ERROR,
    };
    use std::io::IsTerminal;
    // Colour only for a person at a terminal, never in log files.
    let builder = tracing_subscriber::fmt()
        .with_max_level(lvl)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Logfmt => builder.init(),
    }
}

/// Where Strata is reached and where it serves, from `--web.external-url`
/// and `--web.route-prefix`, as Prometheus computes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebPaths {
    /// The external URL without a trailing slash (`http://host:9090`,
    /// `https://proxy/strata`), as Prometheus' $externalURL.
    pub external_url: String,
    /// Its path without a trailing slash: "" at the root, else `/strata`.
    pub external_path: String,
    /// Where the routes are served: "" at the root, else `/strata`.
    pub route_prefix: String,
}

impl WebPaths {
    pub fn from_flags(
        listen: SocketAddr,
        external_url: Option<&str>,
        route_prefix: Option<&str>,
    ) -> Result<WebPaths> {
        let raw = match external_url {
            Some(u) if !u.trim().is_empty() => u.trim().to_string(),
            _ => format!("http://{listen}/"),
        };
        let url = reqwest::Url::parse(&raw)
            .map_err(|e| anyhow::anyhow!("--web.external-url {raw:?}: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
            bail!("--web.external-url {raw:?}: must be an http:// or https:// URL with a host");
        }
        if url.query().is_some() || url.fragment().is_some() {
            bail!("--web.external-url {raw:?}: must not have a query or fragment");
        }
        let external_path = url.path().trim_end_matches('/').to_string();
        check_prefix("--web.external-url", &external_path)?;
        let route_prefix = match route_prefix {
            Some(p) => {
                let p = format!("/{}", p.trim().trim_matches('/'));
                let p = p.trim_end_matches('/').to_string();
                check_prefix("--web.route-prefix", &p)?;
                p
            }
            None => external_path.clone(),
        };
        let mut external = url.to_string();
        while external.ends_with('/') {
            external.pop();
        }
        Ok(WebPaths {
            external_url: external,
            external_path,
            route_prefix,
        })
    }
}

/// A path prefix must be plain path segments: it becomes a route (where
/// `{`, `}`, `:` and `*` mean captures), an HTML attribute and a YAML
/// string.
fn check_prefix(flag: &str, p: &str) -> Result<()> {
    let ok = p.split('/').skip(1).all(|seg| {
        !seg.is_empty()
            && seg
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~%!$&()+,;=@".contains(&b))
    });
    if !p.is_empty() && !ok {
        bail!(
            "{flag}: path {p:?} must be non-empty segments of letters, digits and -._~%!$&()+,;=@"
        );
    }
    Ok(())
}

fn flags_for_status(a: &RunArgs, web: &WebPaths) -> Vec<(String, String)> {
    vec![
        ("web.external-url".into(), web.external_url.clone()),
        (
            "web.route-prefix".into(),
            if web.route_prefix.is_empty() {
                "/".into()
            } else {
                web.route_prefix.clone()
            },
        ),
        ("data-dir".into(), a.data_dir.display().to_string()),
        ("listen".into(), a.listen.to_string()),
        ("agent".into(), a.agent.to_string()),
        (
            "rule-pack".into(),
            a.rule_packs
                .iter()
                .map(|p| p.name)
                .collect::<Vec<_>>()
                .join(","),
        ),
        (
            "config".into(),
            a.config
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        ),
        ("retention.time".into(), format!("{:?}", a.retention_time)),
        ("retention.size".into(), a.retention_size.to_string()),
        (
            "storage.out-of-order-window".into(),
            format!("{:?}", a.out_of_order_window),
        ),
        ("storage.wal-fsync".into(), format!("{:?}", a.wal_fsync)),
        ("multi-tenant".into(), a.multi_tenant.to_string()),
        (
            "web.enable-admin-api".into(),
            a.enable_admin_api.to_string(),
        ),
        (
            "limits.max-series-per-tenant".into(),
            a.max_series_per_tenant.to_string(),
        ),
        (
            "limits.max-labels-per-series".into(),
            a.max_labels_per_series.to_string(),
        ),
        (
            "limits.max-label-name-length".into(),
            a.max_label_name_length.to_string(),
        ),
        (
            "limits.max-label-value-length".into(),
            a.max_label_value_length.to_string(),
        ),
        (
            "limits.max-request-body-size".into(),
            a.max_request_body.to_string(),
        ),
        ("query.timeout".into(), format!("{:?}", a.query_timeout)),
        ("query.max-samples".into(), a.query_max_samples.to_string()),
        (
            "query.lookback-delta".into(),
            format!("{:?}", a.query_lookback_delta),
        ),
        (
            "query.max-concurrency".into(),
            a.query_max_concurrency.to_string(),
        ),
    ]
}

pub fn run(args: RunArgs) -> Result<()> {
    init_logging(args.log_level, args.log_format);
    let web = WebPaths::from_flags(
        args.listen,
        args.external_url.as_deref(),
        args.route_prefix.as_deref(),
    )?;
    let cfg = crate::config::load(
        args.config.as_deref(),
        args.listen,
        &web.route_prefix,
        args.agent,
    )
    .map_err(crate::config::InvalidConfig)?;
    if args.max_request_body == 0 {
        bail!("--limits.max-request-body-size must be positive");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("strata-worker")
        .build()
        .context("starting the async runtime")?;
    rt.block_on(serve(args, web, cfg))
}

async fn serve(args: RunArgs, web: WebPaths, cfg: strata_config::Config) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let body_cap = usize::try_from(args.max_request_body).unwrap_or(usize::MAX);
    let limits = Limits {
        max_labels_per_series: args.max_labels_per_series,
        max_label_name_len: args.max_label_name_length,
        max_label_value_len: args.max_label_value_length,
        max_body_bytes: body_cap,
        // Snappy expands at most ~6x on real traffic; allow generous headroom
        // while keeping one request's memory bounded.
        max_decompressed_bytes: body_cap.saturating_mul(8),
        name_validation: match args.name_scheme {
            NameScheme::Utf8 => NameValidation::Utf8,
            NameScheme::Legacy => NameValidation::Legacy,
        },
    };
    let api_config = ApiConfig {
        data_dir: args.data_dir.clone(),
        multi_tenant: args.multi_tenant,
        enable_admin_api: args.enable_admin_api,
        max_write_body_bytes: body_cap,
        build: BuildInfo {
            version: env!("CARGO_PKG_VERSION").into(),
            revision: env!("STRATA_GIT_REVISION").into(),
            branch: "main".into(),
            build_date: String::new(),
            rust_version: env!("STRATA_RUSTC_VERSION").into(),
        },
        flags: flags_for_status(&args, &web),
        max_concurrent_queries: args.query_max_concurrency.max(1),
        max_query_queue_wait: args.query_timeout,
        engine: strata_promql::EngineOptions {
            lookback_delta_ms: args.query_lookback_delta.as_millis() as i64,
            max_samples: args.query_max_samples,
            timeout: args.query_timeout,
        },
        config_yaml: cfg.to_yaml(),
        agent: args.agent,
        enable_lifecycle: args.enable_lifecycle,
        remote_read: strata_http::RemoteReadLimits {
            sample_limit: args.remote_read_sample_limit,
            max_bytes_in_frame: args.remote_read_max_bytes_in_frame.max(1),
            max_request_bytes: body_cap.saturating_mul(8),
        },
    };
    // One registry for every self-metric, complete before the server
    // answers: each subsystem registers its own families (docs/metrics.md).
    // The ingester and the storage only exist once the WAL has replayed, so
    // their families are registered now and handed over (ingest counters)
    // or attached (the storage collector) then.
    let mut registry = Registry::default();
    ProcessCollector::register(&mut registry);
    let ingest_metrics = IngestMetrics::register(&mut registry);
    let storage_metrics = StorageCollector::register(&mut registry);
    let reload_metrics = ReloadMetrics::register(&mut registry);
    let remote_metrics = strata_remote::RemoteMetrics::register(&mut registry);
    let rule_metrics = strata_rules::RuleMetrics::register(&mut registry);
    let notifier_metrics = strata_rules::NotifierMetrics::register(&mut registry);
    let scrape_metrics = strata_scrape::ScrapeMetrics::register(&mut registry);
    let state = AppState::new(api_config, registry);
    state.set_live_config(live_config(&cfg));
    tracing::info!(listen = %args.listen, external_url = %web.external_url, data_dir = %args.data_dir.display(), "Strata starting");

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let sig_state = state.clone();
    let (mut term, mut int) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::terminate()).context("installing SIGTERM handler")?,
            signal(SignalKind::interrupt()).context("installing SIGINT handler")?,
        )
    };
    let quit = Arc::new(tokio::sync::Notify::new());
    let quit_wait = quit.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
            _ = quit_wait.notified() => {}
        }
        tracing::info!(
            "shutdown signal received: finishing in-flight requests (send again to exit at once)"
        );
        sig_state.begin_shutdown();
        let _ = stop_tx.send(true);
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::warn!("second signal: exiting immediately");
        std::process::exit(1);
    });

    // The UI router has no fallback, so unknown paths still get the API's
    // JSON 404; in agent mode the UI is served too and says queries are off.
    // Under a route prefix everything moves there, and the UI's links and
    // redirects follow the external URL's path.
    let app = strata_web::mount(
        strata_http::router(state.clone()).merge(strata_web::router_at(&web.external_path)),
        &web.route_prefix,
        &web.external_path,
    );
    let mut server_stop = stop_rx.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = server_stop.wait_for(|v| *v).await;
            })
            .await
    });

    let opts = DbOptions {
        data_dir: args.data_dir.clone(),
        block_range_ms: args.block_range.as_millis() as i64,
        retention_time_ms: (!args.retention_time.is_zero())
            .then_some(args.retention_time.as_millis() as i64),
        retention_size_bytes: (args.retention_size > 0).then_some(args.retention_size),
        out_of_order_window_ms: args.out_of_order_window.as_millis() as i64,
        wal_sync: args.wal_fsync,
        agent: args.agent,
        ..DbOptions::default()
    };
    let db = match tokio::task::spawn_blocking(move || Db::open(opts)).await {
        Ok(Ok(db)) => Arc::new(db),
        Ok(Err(e)) => {
            server.abort();
            return Err(anyhow::Error::new(e).context(format!(
                "opening data directory {}",
                args.data_dir.display()
            )));
        }
        Err(e) => {
            server.abort();
            bail!("opening storage: {e}");
        }
    };
    // Every writer goes through this one ingester: validation, the
    // ingestion rate limit and the sample accounting apply to all of them.
    let ingester = Arc::new(Ingester::new(
        db.clone(),
        IngesterOptions {
            limits,
            ingestion_rate: args.ingestion_rate,
            ingestion_burst: args.ingestion_burst,
            max_series_per_tenant: args.max_series_per_tenant,
        },
        ingest_metrics,
    ));
    storage_metrics.attach(db.clone());
    let ingester_for_api = ingester.clone();

    // Remote-write queues tail what the ingester stored, whoever wrote it.
    let remotes = Arc::new(strata_remote::RemoteWriters::new(
        strata_model::TenantId::single(),
        db.clone(),
        remote_metrics,
        format!("Strata/{}", env!("CARGO_PKG_VERSION")),
    ));
    remotes.apply(&cfg);

    // Scraping starts once storage accepts writes, through the same
    // ingester as remote-write.
    let ingester_for_rules = ingester.clone();
    let scrape = strata_scrape::ScrapeManager::new(strata_scrape::ManagerOptions {
        ingester,
        metrics: scrape_metrics,
        tenant: strata_model::TenantId::single(),
        user_agent: format!("Strata/{}", env!("CARGO_PKG_VERSION")),
    });
    scrape.apply(&cfg);
    state.set_scrape_manager(scrape.clone());

    // Rules evaluate through the same engine the API uses and store their
    // output through the same ingester.
    let notifier = strata_rules::Notifier::new(args.notification_queue_capacity, notifier_metrics);
    notifier.apply(&cfg.alerting, &cfg.global.external_labels);
    tokio::spawn(notifier.clone().run());
    let rules = Arc::new(strata_rules::RuleManager::new(
        strata_rules::EvalContext {
            engine: state.engine.clone(),
            queryable: db.clone(),
            ingester: ingester_for_rules,
            tenant: strata_model::TenantId::single(),
            external_labels: Default::default(),
            external_url: web.external_url.clone(),
            notifier: Some(notifier.clone()),
            resend_delay: args.rules_alert_resend_delay,
            for_outage_tolerance: args.rules_for_outage_tolerance,
            for_grace_period: args.rules_for_grace_period,
        },
        rule_metrics,
    ));
    rules.apply(
        crate::config::rule_set(&cfg, &args.rule_packs).map_err(crate::config::InvalidConfig)?,
    );
    state.set_rule_manager(rules.clone());
    // Ready only once targets, queues and rules are in place, so a client
    // that waits for /-/ready sees all of them.
    state.set_ready(db.clone(), db.clone(), ingester_for_api);
    tracing::info!("storage ready: accepting writes and queries");
    let reloads = spawn_reloader(
        args.config.clone(),
        args.listen,
        web.route_prefix.clone(),
        args.agent,
        state.clone(),
        Reloadable {
            scrape: scrape.clone(),
            remotes: remotes.clone(),
            rules: rules.clone(),
            notifier: notifier.clone(),
            packs: args.rule_packs.clone(),
        },
        reload_metrics,
    )?;
    state.set_lifecycle(strata_http::Lifecycle {
        reload: reloads,
        quit: quit.clone(),
    });

    let maint_db = db.clone();
    let interval = args.maintenance_interval;
    let mut maint_stop = stop_rx.clone();
    let maintenance = tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = maint_stop.wait_for(|v| *v) => break,
            }
            let db = maint_db.clone();
            match tokio::task::spawn_blocking(move || db.maintenance()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "storage maintenance failed"),
                Err(e) => tracing::error!(error = %e, "storage maintenance task failed"),
            }
        }
    });

    match server.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "HTTP server failed"),
        Err(e) => tracing::error!(error = %e, "HTTP server task failed"),
    }
    scrape.stop_all();
    rules.stop_all();
    // Queues stop after the last write, saving how far the remotes got.
    let stop_remotes = remotes.clone();
    let _ = tokio::task::spawn_blocking(move || stop_remotes.stop()).await;
    db.stop_maintenance();
    let _ = maintenance.await;
    tracing::info!("making the head durable");
    let close_db = db.clone();
    tokio::task::spawn_blocking(move || close_db.close())
        .await
        .context("closing storage")?
        .context("closing storage")?;
    tracing::info!("Strata stopped cleanly");
    Ok(())
}

/// `strata_config_last_reload_*`, as Prometheus' `prometheus_config_*`.
#[derive(Clone)]
struct ReloadMetrics {
    successful: prometheus_client::metrics::gauge::Gauge,
    success_time: prometheus_client::metrics::gauge::Gauge<f64, std::sync::atomic::AtomicU64>,
}

impl ReloadMetrics {
    fn register(registry: &mut Registry) -> ReloadMetrics {
        let m = ReloadMetrics {
            successful: Default::default(),
            success_time: Default::default(),
        };
        registry.register(
            "strata_config_last_reload_successful",
            "Whether the last configuration reload attempt was successful",
            m.successful.clone(),
        );
        registry.register(
            "strata_config_last_reload_success_timestamp_seconds",
            "Timestamp of the last successful configuration reload",
            m.success_time.clone(),
        );
        m.succeeded();
        m
    }

    fn succeeded(&self) {
        self.successful.set(1);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        self.success_time.set(now);
    }
}

fn live_config(cfg: &strata_config::Config) -> strata_http::LiveConfig {
    strata_http::LiveConfig {
        yaml: cfg.to_yaml(),
        external_labels: cfg.global.external_labels.clone(),
    }
}

/// Reloads the configuration on SIGHUP and on `/-/reload` requests (sent
/// on the returned channel, each with its reply channel). A file that fails
/// to load is logged and reported; the running configuration stays.
/// What a reload reconfigures.
struct Reloadable {
    scrape: Arc<strata_scrape::ScrapeManager>,
    remotes: Arc<strata_remote::RemoteWriters>,
    rules: Arc<strata_rules::RuleManager>,
    notifier: Arc<strata_rules::Notifier>,
    /// `--rule-pack`: loaded again with the config's rule files on reload.
    packs: Vec<&'static crate::packs::RulePack>,
}

fn spawn_reloader(
    path: Option<PathBuf>,
    listen: SocketAddr,
    route_prefix: String,
    agent: bool,
    state: strata_http::SharedState,
    parts: Reloadable,
    metrics: ReloadMetrics,
) -> Result<tokio::sync::mpsc::Sender<tokio::sync::oneshot::Sender<Result<(), String>>>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = signal(SignalKind::hangup()).context("installing SIGHUP handler")?;
    let (tx, mut rx) =
        tokio::sync::mpsc::channel::<tokio::sync::oneshot::Sender<Result<(), String>>>(4);
    tokio::spawn(async move {
        loop {
            let reply = tokio::select! {
                _ = hup.recv() => None,
                r = rx.recv() => match r {
                    Some(r) => Some(r),
                    None => return,
                },
            };
            let p = path.clone();
            let route_prefix = route_prefix.clone();
            let loaded = tokio::task::spawn_blocking(move || {
                crate::config::load(p.as_deref(), listen, &route_prefix, agent)
            })
            .await;
            let result = match loaded {
                Ok(Ok(cfg)) => {
                    parts.remotes.apply(&cfg);
                    parts.scrape.apply(&cfg);
                    parts
                        .notifier
                        .apply(&cfg.alerting, &cfg.global.external_labels);
                    match crate::config::rule_set(&cfg, &parts.packs) {
                        Ok(set) => parts.rules.apply(set),
                        Err(e) => tracing::error!(error = %e, "loading rule files"),
                    }
                    state.set_live_config(live_config(&cfg));
                    state.set_reload_status(true);
                    metrics.succeeded();
                    tracing::info!("configuration reloaded");
                    Ok(())
                }
                Ok(Err(e)) => {
                    state.set_reload_status(false);
                    metrics.successful.set(0);
                    tracing::error!(error = %e, "configuration reload failed: keeping the running configuration");
                    Err(e.to_string())
                }
                Err(e) => Err(format!("reload task failed: {e}")),
            };
            if let Some(reply) = reply {
                let _ = reply.send(result);
            }
        }
    });
    Ok(tx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(ext: Option<&str>, prefix: Option<&str>) -> Result<WebPaths> {
        WebPaths::from_flags(([127, 0, 0, 1], 9090).into(), ext, prefix)
    }

    #[test]
    fn web_paths_follow_prometheus() -> Result<()> {
        let root = paths(None, None)?;
        assert_eq!(root.external_url, "http://127.0.0.1:9090");
        assert_eq!(
            (root.external_path.as_str(), root.route_prefix.as_str()),
            ("", "")
        );

        // The external URL's path is the default route prefix.
        let p = paths(Some("https://proxy.example/strata/"), None)?;
        assert_eq!(p.external_url, "https://proxy.example/strata");
        assert_eq!(
            (p.external_path.as_str(), p.route_prefix.as_str()),
            ("/strata", "/strata")
        );

        // A proxy that strips the path: links keep it, routes do not.
        let p = paths(Some("https://proxy.example/strata"), Some("/"))?;
        assert_eq!(
            (p.external_path.as_str(), p.route_prefix.as_str()),
            ("/strata", "")
        );

        let p = paths(None, Some("strata/v1/"))?;
        assert_eq!(
            (p.external_path.as_str(), p.route_prefix.as_str()),
            ("", "/strata/v1")
        );
        Ok(())
    }

    #[test]
    fn bad_web_paths_are_refused() {
        for (ext, prefix) in [
            (Some("ftp://host/"), None),
            (Some("not a url"), None),
            (Some("http://host/a?b=c"), None),
            (Some("http://host/a#frag"), None),
            (None, Some("/a/{b}")),
            (None, Some("/a/:b")),
            (None, Some("/a//b")),
            (None, Some("/a\"b")),
        ] {
            assert!(paths(ext, prefix).is_err(), "{ext:?} {prefix:?}");
        }
    }
}
