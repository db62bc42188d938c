//! `POST /api/v1/write`: Prometheus remote-write 1.0.
//!
//! Status codes follow the spec: 2xx only once the samples are in the WAL;
//! 400 for anything a retry cannot fix (the good series of the request are
//! still stored and the body says what was rejected, as Prometheus does);
//! 413 over the body cap; 429 when a tenant limit is hit (senders retry);
//! 5xx only for server faults.

use crate::{ApiError, ErrorType, SharedState, blocking};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::cell::RefCell;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::Instant;
use strata_ingest::{Decoder, IngestError};
use strata_tsdb::RejectReason;

thread_local! {
    /// One decoder per blocking-pool thread: its decompression buffer is
    /// reused across requests instead of allocated per request.
    static DECODER: RefCell<Option<Decoder>> = const { RefCell::new(None) };
}

/// How many rejected series a 400 body names before summarising.
const MAX_NAMED_REJECTIONS: usize = 5;

struct WriteSummary {
    accepted: u64,
    rejected_series: usize,
    rejected_samples: u64,
    limited: bool,
    message: String,
}

pub async fn remote_write(
    State(st): State<SharedState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let resp = match handle(&st, &headers, body).await {
        Ok(summary) if summary.rejected_series == 0 => {
            st.metrics.write_requests_ok.fetch_add(1, Ordering::Relaxed);
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(summary) => {
            let (code, counter) = if summary.limited {
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    &st.metrics.write_requests_limited,
                )
            } else {
                (StatusCode::BAD_REQUEST, &st.metrics.write_requests_bad)
            };
            counter.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(
                accepted = summary.accepted,
                rejected = summary.rejected_samples,
                "partial write"
            );
            (code, summary.message).into_response()
        }
        Err(e) => {
            let counter = match e.kind {
                ErrorType::BadData | ErrorType::Unauthorized => &st.metrics.write_requests_bad,
                ErrorType::TooLarge => &st.metrics.write_requests_too_large,
                ErrorType::TooManyRequests => &st.metrics.write_requests_limited,
                _ => &st.metrics.write_requests_failed,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            if e.status().is_server_error() && e.kind != ErrorType::Unavailable {
                tracing::error!(error = %e.message, "remote-write failed");
            }
            e.into_plain()
        }
    };
    st.metrics
        .write_duration
        .observe(started.elapsed().as_secs_f64());
    resp
}

async fn handle(
    st: &SharedState,
    headers: &HeaderMap,
    body: Body,
) -> Result<WriteSummary, ApiError> {
    let tenant = st.tenant(headers)?;
    if st.is_shutting_down() {
        return Err(ApiError::unavailable("Strata is shutting down"));
    }
    let db = st.db()?;
    if let Some(enc) = headers.get(header::CONTENT_ENCODING)
        && !enc.as_bytes().eq_ignore_ascii_case(b"snappy")
    {
        return Err(ApiError::new(
            ErrorType::BadData,
            format!(
                "unsupported Content-Encoding {enc:?}: remote-write 1.0 bodies are snappy-compressed"
            ),
        ));
    }
    let cap = st.cfg.max_write_body_bytes;
    let body = axum::body::to_bytes(body, cap).await.map_err(|e| {
        if is_length_limit(&e) {
            ApiError::new(
                ErrorType::TooLarge,
                format!("request body too large: the limit is {cap} bytes"),
            )
        } else {
            ApiError::bad_data(format!("reading request body: {e}"))
        }
    })?;
    st.metrics
        .write_bytes
        .fetch_add(body.len() as u64, Ordering::Relaxed);
    let limits = st.cfg.ingest_limits.clone();
    let st2 = st.clone();
    blocking(move || {
        DECODER.with(|cell| {
            let mut slot = cell.borrow_mut();
            let decoder = slot.get_or_insert_with(|| Decoder::new(limits));
            let decoded = decoder.decode(&body).map_err(ingest_error)?;
            if !st2.take_ingestion_tokens(&tenant, decoded.batch.num_samples()) {
                return Err(ApiError::new(
                    ErrorType::TooManyRequests,
                    format!(
                        "ingestion rate limit of {} samples/s (burst {}) exceeded for tenant {tenant}; retry later",
                        st2.cfg.ingestion_rate, st2.cfg.ingestion_burst
                    ),
                ));
            }
            st2.metrics
                .histograms_dropped
                .fetch_add(decoded.histograms_dropped, Ordering::Relaxed);
            let outcome = db.append(&tenant, &decoded.batch)?;
            Ok(summarise(&st2, &decoded, &outcome))
        })
    })
    .await
}

fn is_length_limit(e: &axum::Error) -> bool {
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = src {
        if s.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        src = s.source();
    }
    false
}

fn ingest_error(e: IngestError) -> ApiError {
    let kind = if matches!(e, IngestError::TooLarge { .. }) {
        ErrorType::TooLarge
    } else {
        ErrorType::BadData
    };
    ApiError::new(kind, e.to_string())
}

fn summarise(
    st: &SharedState,
    decoded: &strata_ingest::Decoded<'_>,
    outcome: &strata_tsdb::AppendOutcome,
) -> WriteSummary {
    let m = &st.metrics;
    m.samples_accepted
        .fetch_add(outcome.samples_accepted, Ordering::Relaxed);
    let mut message = String::new();
    let mut named = 0usize;
    let mut rejected_samples = 0u64;
    let mut limited = false;
    for inv in &decoded.invalid {
        rejected_samples += inv.samples;
        m.samples_rejected_invalid
            .fetch_add(inv.samples, Ordering::Relaxed);
        if named < MAX_NAMED_REJECTIONS {
            let _ = writeln!(message, "{}: series {}", inv.reason, inv.labels);
            named += 1;
        }
    }
    for rej in &outcome.rejected {
        rejected_samples += rej.samples;
        let counter = match rej.reason {
            RejectReason::OutOfOrder => &m.samples_rejected_out_of_order,
            RejectReason::TooOld => &m.samples_rejected_too_old,
            RejectReason::DuplicateTimestamp => &m.samples_rejected_duplicate,
            RejectReason::SeriesLimit => {
                limited = true;
                &m.samples_rejected_series_limit
            }
        };
        counter.fetch_add(rej.samples, Ordering::Relaxed);
        if named < MAX_NAMED_REJECTIONS {
            let labels = decoded.batch.series_labels(rej.series_index);
            let _ = write!(message, "{}: series {{", rej.reason);
            for (i, l) in labels.iter().enumerate() {
                let sep = if i == 0 { "" } else { ", " };
                let _ = write!(
                    message,
                    "{sep}{}={}",
                    l.name,
                    strata_model::labels::quote(l.value)
                );
            }
            let _ = writeln!(message, "}}");
            named += 1;
        }
    }
    let rejected_series = decoded.invalid.len() + outcome.rejected.len();
    if rejected_series > 0 {
        let header = format!(
            "rejected {rejected_samples} samples of {rejected_series} series; stored {} samples\n",
            outcome.samples_accepted
        );
        message.insert_str(0, &header);
        if rejected_series > named {
            let _ = writeln!(
                message,
                "… and {} more rejected series",
                rejected_series - named
            );
        }
    }
    WriteSummary {
        accepted: outcome.samples_accepted,
        rejected_series,
        rejected_samples,
        limited,
        message,
    }
}
