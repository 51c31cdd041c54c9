//! The one error type of the web layer and the status each case maps to. Internal detail is
//! logged with an operation id and never sent to the client.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use wardbook_store::StoreError;

use crate::views::{ErrorPage, render};

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// 404: absent, or outside the caller's org subtree — the two look the same on purpose.
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    /// A stale form or a missing CSRF token.
    #[error("bad request")]
    BadRequest,
    /// Personal data is not served when its read cannot be audited.
    #[error("audit unavailable")]
    AuditUnavailable,
    #[error("internal: {0}")]
    Internal(String),
}

impl From<StoreError> for WebError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => WebError::NotFound,
            StoreError::AuditUnavailable => WebError::AuditUnavailable,
            other => WebError::Internal(other.to_string()),
        }
    }
}

impl From<askama::Error> for WebError {
    fn from(e: askama::Error) -> Self {
        WebError::Internal(format!("template: {e}"))
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, key) = match &self {
            WebError::NotFound => (StatusCode::NOT_FOUND, "error.not_found"),
            WebError::Forbidden => (StatusCode::FORBIDDEN, "error.forbidden"),
            WebError::BadRequest => (StatusCode::BAD_REQUEST, "error.bad_request"),
            WebError::AuditUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "error.unavailable"),
            WebError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "error.internal"),
        };
        let operation_id = uuid::Uuid::new_v4().to_string();
        if let WebError::Internal(detail) = &self {
            tracing::error!(operation_id = %operation_id, detail = ?detail, "internal error");
        }
        error_page(status, key, &operation_id)
    }
}

/// A bilingual error page: an error may happen before we know the user's language.
pub fn error_page(status: StatusCode, key: &str, operation_id: &str) -> Response {
    let page = ErrorPage { key: key.to_string(), operation_id: operation_id.to_string(), status: status.as_u16() };
    match render(&page) {
        Ok(html) => (status, html).into_response(),
        Err(_) => (status, "error").into_response(),
    }
}
