//! Health, readiness, build info, flags and Strata's own metrics.

use crate::{ApiError, SharedState};
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::prometheus_text;
use serde_json::json;

pub async fn healthy() -> &'static str {
    "Strata is Healthy.\n"
}

pub async fn ready(State(st): State<SharedState>) -> Response {
    if st.is_ready() && !st.is_shutting_down() {
        (StatusCode::OK, "Strata is Ready.\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable\n").into_response()
    }
}

pub fn success(data: serde_json::Value) -> Response {
    axum::Json(json!({"status": "success", "data": data})).into_response()
}

pub async fn buildinfo(State(st): State<SharedState>) -> Response {
    let b = &st.cfg.build;
    success(json!({
        "version": b.version,
        "revision": b.revision,
        "branch": b.branch,
        "buildUser": "",
        "buildDate": b.build_date,
        "goVersion": b.rust_version,
    }))
}

pub async fn flags(State(st): State<SharedState>) -> Response {
    let map: serde_json::Map<String, serde_json::Value> = st
        .cfg
        .flags
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    success(serde_json::Value::Object(map))
}

pub async fn runtimeinfo(State(st): State<SharedState>) -> Response {
    let start = chrono::DateTime::<chrono::Utc>::from(st.start_time);
    let (reload_ok, last_config) = st.reload_status();
    let cwd = std::env::current_dir()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    success(json!({
        "startTime": start.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "CWD": cwd,
        "reloadConfigSuccess": reload_ok,
        "lastConfigTime": chrono::DateTime::<chrono::Utc>::from(last_config).to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "corruptionCount": 0,
        "goroutineCount": 0,
        "GOMAXPROCS": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "GOGC": "",
        "GODEBUG": "",
        "storageRetention": st.cfg.flags.iter().find(|(k, _)| k == "retention.time").map(|(_, v)| v.clone()).unwrap_or_default(),
    }))
}

/// `/metrics`: the process's registry in the Prometheus text format 0.0.4,
/// which every Prometheus version scrapes.
pub async fn metrics(State(st): State<SharedState>) -> Response {
    let mut out = String::with_capacity(8192);
    if let Err(e) = prometheus_text::encode(&mut out, st.registry()) {
        return ApiError::internal(format!("encoding metrics: {e}")).into_plain();
    }
    ([(header::CONTENT_TYPE, prometheus_text::CONTENT_TYPE)], out).into_response()
}

pub async fn not_found(uri: Uri) -> Response {
    ApiError::new(
        crate::ErrorType::NotFound,
        format!("no such endpoint: {}", uri.path()),
    )
    .into_response()
}

/// Agent mode's answer on every endpoint that reads local storage.
pub async fn agent_unavailable() -> Response {
    ApiError::new(crate::ErrorType::Execution, "unavailable with Strata Agent").into_response()
}

pub async fn config(State(st): State<SharedState>) -> Response {
    success(json!({ "yaml": st.live_config().yaml }))
}

/// `/api/v1/status/tsdb`: head statistics and the top cardinality lists, in
/// Prometheus' shape.
pub async fn tsdb(
    State(st): State<SharedState>,
    headers: axum::http::HeaderMap,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Result<Response, ApiError> {
    let tenant = st.tenant(&headers)?;
    let p = crate::params::Params::parse(query.as_deref(), None);
    let limit = match p.get("limit") {
        None | Some("") => 10,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => {
                return Err(ApiError::bad_data(format!(
                    "limit must be a positive number: {s:?}"
                )));
            }
        },
    };
    let db = st.admin()?;
    let stats = crate::blocking(move || {
        db.cardinality_stats(&tenant, limit)
            .map_err(|e| ApiError::internal(e.to_string()))
    })
    .await?;
    let list = |v: &[(String, u64)]| -> serde_json::Value {
        json!(
            v.iter()
                .map(|(n, c)| json!({"name": n, "value": c}))
                .collect::<Vec<_>>()
        )
    };
    let (min, max) = if stats.head_series == 0 {
        (i64::MAX, i64::MIN)
    } else {
        (stats.head_min_time, stats.head_max_time)
    };
    Ok(success(json!({
        "headStats": {
            "numSeries": stats.head_series,
            "numLabelPairs": stats.top_series_count_by_label_pair.len(),
            "chunkCount": stats.head_chunks,
            "minTime": min,
            "maxTime": max,
        },
        "seriesCountByMetricName": list(&stats.top_series_count_by_metric_name),
        "labelValueCountByLabelName": list(&stats.top_label_names_by_cardinality),
        "memoryInBytesByLabelName": [],
        "seriesCountByLabelValuePair": list(&stats.top_series_count_by_label_pair),
    })))
}
