//! `/api/v1/targets` and the lifecycle endpoints (`/-/reload`, `/-/quit`).

use crate::status::success;
use crate::{ApiError, SharedState};
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use strata_model::Labels;

fn labels_json(l: &Labels) -> Value {
    Value::Object(
        l.iter()
            .map(|l| (l.name.clone(), Value::String(l.value.clone())))
            .collect::<Map<String, Value>>(),
    )
}

fn rfc3339(t: std::time::SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// Go's zero `time.Time`, which Prometheus shows for a target not yet
/// scraped.
const NEVER: &str = "0001-01-01T00:00:00Z";

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
