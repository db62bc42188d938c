//! API errors and the one place where errors become HTTP status codes.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use strata_model::StorageError;

/// Prometheus' `errorType` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    BadData,
    Execution,
    Timeout,
    Canceled,
    Internal,
    Unavailable,
    NotFound,
    /// Not a Prometheus type: a multi-tenant request without a tenant.
    Unauthorized,
    /// A configured limit was hit (Prometheus uses `execution` for query
    /// limits; write-side limits answer 429).
    TooManyRequests,
    TooLarge,
}

impl ErrorType {
    fn as_str(self) -> &'static str {
        match self {
            ErrorType::BadData => "bad_data",
            ErrorType::Execution => "execution",
            ErrorType::Timeout => "timeout",
            ErrorType::Canceled => "canceled",
            ErrorType::Internal => "internal",
            ErrorType::Unavailable => "unavailable",
            ErrorType::NotFound => "not_found",
            ErrorType::Unauthorized => "unauthorized",
            ErrorType::TooManyRequests => "too_many_requests",
            ErrorType::TooLarge => "bad_data",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            ErrorType::BadData => StatusCode::BAD_REQUEST,
            ErrorType::Execution => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorType::Timeout => StatusCode::SERVICE_UNAVAILABLE,
            // Prometheus answers 499 (client closed request) for canceled.
            ErrorType::Canceled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
            ErrorType::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorType::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorType::NotFound => StatusCode::NOT_FOUND,
            ErrorType::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorType::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            ErrorType::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }
}

/// An error answered in Prometheus' JSON shape:
/// `{"status":"error","errorType":"bad_data","error":"..."}`.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub kind: ErrorType,
    pub message: String,
}

impl ApiError {
    pub fn new(kind: ErrorType, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    pub fn bad_data(message: impl Into<String>) -> Self {
        Self::new(ErrorType::BadData, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorType::Internal, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorType::Unavailable, message)
    }

    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }

    /// The remote-write endpoint answers errors in plain text, as Prometheus'
    /// receiver does (senders log the body).
    pub fn into_plain(self) -> Response {
        (self.status(), format!("{}\n", self.message)).into_response()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "status": "error",
            "errorType": self.kind.as_str(),
            "error": self.message,
        });
        (self.status(), axum::Json(body)).into_response()
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        let kind = match &e {
            StorageError::BadData(_) => ErrorType::BadData,
            StorageError::LimitExceeded(_) => ErrorType::Execution,
            StorageError::Unavailable(_) => ErrorType::Unavailable,
            StorageError::Corruption { .. } | StorageError::Io(_) | StorageError::Internal(_) => {
                ErrorType::Internal
            }
        };
        ApiError::new(kind, e.to_string())
    }
}

impl From<strata_ingest::IngestError> for ApiError {
    fn from(e: strata_ingest::IngestError) -> Self {
        use strata_ingest::IngestError as I;
        match e {
            I::Storage(e) => ApiError::from(e),
            I::TooLarge { .. } => ApiError::new(ErrorType::TooLarge, e.to_string()),
            I::RateLimited { .. } => ApiError::new(ErrorType::TooManyRequests, e.to_string()),
            I::Snappy(_) | I::Protobuf(_) => ApiError::new(ErrorType::BadData, e.to_string()),
        }
    }
}
