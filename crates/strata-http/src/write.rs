//! `POST /api/v1/write`: Prometheus remote-write 1.0.
//!
//! Status codes follow the spec: 2xx only once the samples are in the WAL;
//! 400 for anything a retry cannot fix (the good series of the request are
//! still stored and the body says what was rejected, as Prometheus does);
//! 413 over the body cap; 429 when a tenant limit is hit (senders retry);
//! 5xx only for server faults.

use crate::metrics::WriteOutcome;
use crate::{ApiError, ErrorType, SharedState, blocking};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::fmt::Write as _;
use std::time::Instant;
use strata_ingest::IngestReport;

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
    let (outcome, resp) = match handle(&st, &headers, body).await {
        Ok(summary) if summary.rejected_series == 0 => {
            (WriteOutcome::Stored, StatusCode::NO_CONTENT.into_response())
        }
        Ok(summary) => {
            let (code, outcome) = if summary.limited {
                (StatusCode::TOO_MANY_REQUESTS, WriteOutcome::Limited)
            } else {
                (StatusCode::BAD_REQUEST, WriteOutcome::BadRequest)
            };
            tracing::debug!(
                accepted = summary.accepted,
                rejected = summary.rejected_samples,
                "partial write"
            );
            (outcome, (code, summary.message).into_response())
        }
        Err(e) => {
            let outcome = match e.kind {
                ErrorType::BadData | ErrorType::Unauthorized => WriteOutcome::BadRequest,
                ErrorType::TooLarge => WriteOutcome::TooLarge,
                ErrorType::TooManyRequests => WriteOutcome::Limited,
                _ => WriteOutcome::Failed,
            };
            if e.status().is_server_error() && e.kind != ErrorType::Unavailable {
                tracing::error!(error = %e.message, "remote-write failed");
            }
            (outcome, e.into_plain())
        }
    };
    st.metrics
        .write_request(outcome, started.elapsed().as_secs_f64());
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
    let ingester = st.ingester()?;
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
    st.metrics.write_body(body.len());
    blocking(move || {
        let report = ingester.ingest_remote_write(&tenant, &body)?;
        Ok(summarise(&report))
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

fn summarise(report: &IngestReport) -> WriteSummary {
    let mut message = String::new();
    if report.rejected_series > 0 {
        let _ = writeln!(
            message,
            "rejected {} samples of {} series; stored {} samples",
            report.rejected_samples, report.rejected_series, report.samples_accepted
        );
        for n in &report.named {
            let _ = writeln!(message, "{}: series {}", n.cause, n.labels);
        }
        if report.rejected_series > report.named.len() {
            let _ = writeln!(
                message,
                "… and {} more rejected series",
                report.rejected_series - report.named.len()
            );
        }
    }
    WriteSummary {
        accepted: report.samples_accepted,
        rejected_series: report.rejected_series,
        rejected_samples: report.rejected_samples,
        limited: report.limited,
        message,
    }
}
