//! `/api/v1/targets` and the lifecycle endpoints (`/-/reload`, `/-/quit`).

use crate::status::success;
use crate::{ApiError, SharedState};
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::shapes::{NEVER, labels_json, rfc3339};

/// `/api/v1/targets?state=active|dropped|any&scrapePool=…`, in Prometheus'
/// shape.
pub async fn targets(
    State(st): State<SharedState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let p = crate::params::Params::parse(query.as_deref(), None);
    let state = p.get("state").unwrap_or("any").to_ascii_lowercase();
    let pool = p
        .get("scrapePool")
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let Some(manager) = st.scrape_manager() else {
        return Ok(success(json!({
            "activeTargets": [], "droppedTargets": [], "droppedTargetCounts": {}
        })));
    };
    let want_active = state == "active" || state == "any" || state.is_empty();
    let want_dropped = state == "dropped" || state == "any" || state.is_empty();
    let in_pool = |name: &str| pool.as_deref().is_none_or(|p| p == name);
    let mut data = Map::new();
    if want_active {
        let active: Vec<Value> = manager
            .active_targets()
            .into_iter()
            .filter(|t| in_pool(&t.pool))
            .map(|t| {
                json!({
                    "discoveredLabels": labels_json(&t.discovered),
                    "labels": labels_json(&t.labels),
                    "scrapePool": t.pool,
                    "scrapeUrl": t.url,
                    "globalUrl": t.url,
                    "lastError": t.last_error,
                    "lastScrape": t.last_scrape.map(rfc3339).unwrap_or_else(|| NEVER.into()),
                    "lastScrapeDuration": t.last_duration.as_secs_f64(),
                    "health": t.health.as_str(),
                    "scrapeInterval": strata_model::units::format_duration(t.interval),
                    "scrapeTimeout": strata_model::units::format_duration(t.timeout),
                })
            })
            .collect();
        data.insert("activeTargets".into(), Value::Array(active));
    }
    if want_dropped {
        let (dropped, counts) = manager.dropped_targets();
        let dropped: Vec<Value> = dropped
            .into_iter()
            .filter(|d| in_pool(&d.pool))
            .map(|d| json!({"discoveredLabels": labels_json(&d.discovered), "scrapePool": d.pool}))
            .collect();
        data.insert("droppedTargets".into(), Value::Array(dropped));
        let counts: Map<String, Value> = counts
            .into_iter()
            .filter(|(k, _)| in_pool(k))
            .map(|(k, v)| (k, json!(v)))
            .collect();
        data.insert("droppedTargetCounts".into(), Value::Object(counts));
    }
    Ok(success(Value::Object(data)))
}

/// `POST /-/reload`: reloads the configuration file; 500 with the reason
/// when it is invalid (the old configuration stays active).
pub async fn reload(State(st): State<SharedState>) -> Response {
    if !st.cfg.enable_lifecycle {
        return (StatusCode::FORBIDDEN, "Lifecycle API is not enabled.\n").into_response();
    }
    let Some(lc) = st.lifecycle() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "Strata is starting.\n").into_response();
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    if lc.reload.send(tx).await.is_err() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "Strata is shutting down.\n",
        )
            .into_response();
    }
    match rx.await {
        Ok(Ok(())) => StatusCode::OK.into_response(),
        Ok(Err(e)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to reload config: {e}\n"),
        )
            .into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Strata is shutting down.\n",
        )
            .into_response(),
    }
}

/// `POST /-/quit`: a graceful shutdown, as on SIGTERM.
pub async fn quit(State(st): State<SharedState>) -> Response {
    if !st.cfg.enable_lifecycle {
        return (StatusCode::FORBIDDEN, "Lifecycle API is not enabled.\n").into_response();
    }
    match st.lifecycle() {
        Some(lc) => {
            lc.quit.notify_one();
            (StatusCode::OK, "Requesting termination... Goodbye!\n").into_response()
        }
        None => (StatusCode::SERVICE_UNAVAILABLE, "Strata is starting.\n").into_response(),
    }
}

/// `/api/v1/scrape_pools`: the configured jobs.
pub async fn scrape_pools(State(st): State<SharedState>) -> Response {
    let pools = st
        .scrape_manager()
        .map(|m| m.pool_names())
        .unwrap_or_default();
    success(json!({ "scrapePools": pools }))
}

fn limit_param(p: &crate::params::Params, name: &str) -> Result<Option<usize>, ApiError> {
    match p.get(name) {
        None | Some("") => Ok(None),
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n > 0 => Ok(Some(n as usize)),
            Ok(_) => Ok(None),
            Err(_) => Err(ApiError::bad_data(format!("invalid {name}: {v:?}"))),
        },
    }
}

/// `/api/v1/targets/metadata?match_target=…&metric=…&limit=…`: the
/// `# TYPE`/`# HELP`/`# UNIT` each target's last scrape exposed.
pub async fn targets_metadata(
    State(st): State<SharedState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let p = crate::params::Params::parse(query.as_deref(), None);
    let limit = limit_param(&p, "limit")?;
    let sets = match p.get("match_target").filter(|s| !s.is_empty()) {
        Some(sel) => crate::params::parse_selector(sel).map_err(ApiError::bad_data)?,
        None => Vec::new(),
    };
    let metric = p.get("metric").filter(|s| !s.is_empty());
    let mut out = Vec::new();
    for t in st
        .scrape_manager()
        .map(|m| m.active_targets())
        .unwrap_or_default()
    {
        let selected = sets.is_empty()
            || sets.iter().any(|ms| {
                ms.iter()
                    .all(|m| m.matches(t.labels.get(&m.name).unwrap_or("")))
            });
        if !selected {
            continue;
        }
        for (name, md) in t.metadata.iter() {
            if metric.is_some_and(|m| m != name) {
                continue;
            }
            if limit.is_some_and(|l| out.len() >= l) {
                break;
            }
            out.push(json!({
                "target": labels_json(&t.labels),
                "metric": name,
                "type": md.kind,
                "help": md.help,
                "unit": md.unit,
            }));
        }
    }
    if out.is_empty() && (metric.is_some() || !sets.is_empty()) {
        return Err(ApiError::new(
            crate::ErrorType::NotFound,
            "specified metadata not found",
        ));
    }
    Ok(success(Value::Array(out)))
}

/// `/api/v1/metadata?metric=…&limit=…&limit_per_metric=…`: per metric
/// family, the distinct metadata the targets expose.
pub async fn metadata(
    State(st): State<SharedState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let p = crate::params::Params::parse(query.as_deref(), None);
    let limit = limit_param(&p, "limit")?;
    let per_metric = limit_param(&p, "limit_per_metric")?;
    let metric = p.get("metric").filter(|s| !s.is_empty());
    let mut by_metric: std::collections::BTreeMap<
        String,
        Vec<strata_scrape::scrape::MetricMetadata>,
    > = Default::default();
    for t in st
        .scrape_manager()
        .map(|m| m.active_targets())
        .unwrap_or_default()
    {
        for (name, md) in t.metadata.iter() {
            if metric.is_some_and(|m| m != name) {
                continue;
            }
            let v = by_metric.entry(name.clone()).or_default();
            if !v.contains(md) {
                v.push(md.clone());
            }
        }
    }
    let mut data = Map::new();
    for (name, mds) in by_metric {
        if limit.is_some_and(|l| data.len() >= l) {
            break;
        }
        let list: Vec<Value> = mds
            .iter()
            .take(per_metric.unwrap_or(usize::MAX))
            .map(|m| json!({"type": m.kind, "help": m.help, "unit": m.unit}))
            .collect();
        data.insert(name, Value::Array(list));
    }
    Ok(success(Value::Object(data)))
}
