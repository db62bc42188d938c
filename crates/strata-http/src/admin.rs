//! The TSDB admin API, behind `--web.enable-admin-api` as in Prometheus.

use crate::params::{MAX_TIME_MS, MIN_TIME_MS};
use crate::read::params;
use crate::status::success;
use crate::{ApiError, SharedState, blocking};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

fn check_enabled(st: &SharedState) -> Result<(), ApiError> {
    if st.cfg.enable_admin_api {
        Ok(())
    } else {
        Err(ApiError::unavailable("admin APIs disabled"))
    }
}

/// Writes the head (and existing blocks) as blocks under
/// `DATA/snapshots/<name>/<tenant>/`.
pub async fn snapshot(
    State(st): State<SharedState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_enabled(&st)?;
    let tenant = st.tenant(&headers)?;
    let db = st.admin()?;
    let name = format!(
        "{}-{:016x}",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
        rand_suffix()
    );
    // Snapshots mirror the data-dir layout (one subdirectory per tenant), so
    // a snapshot directory can be served directly with `--data-dir`.
    let dir = st
        .cfg
        .data_dir
        .join("snapshots")
        .join(&name)
        .join(tenant.as_str());
    blocking(move || {
        db.snapshot(&tenant, &dir)?;
        Ok(())
    })
    .await?;
    Ok(success(json!({ "name": name })))
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}

pub async fn delete_series(
    State(st): State<SharedState>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    check_enabled(&st)?;
    let p = params(&method, query, &body);
    let tenant = st.tenant(&headers)?;
    let sets = p.match_sets()?;
    if sets.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let start = p.time("start", MIN_TIME_MS)?;
    let end = p.time("end", MAX_TIME_MS)?;
    let db = st.admin()?;
    blocking(move || {
        for set in &sets {
            db.delete_series(&tenant, set, start, end)?;
        }
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn clean_tombstones(
    State(st): State<SharedState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_enabled(&st)?;
    let tenant = st.tenant(&headers)?;
    let db = st.admin()?;
    blocking(move || Ok(db.clean_tombstones(&tenant)?)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
