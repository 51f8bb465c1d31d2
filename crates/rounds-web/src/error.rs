//! The one JSON error shape of the API, and how every failure maps to it.
//!
//! ```json
//! { "error": { "code": "validation_failed", "message": "username: must not be empty", "field": "username" } }
//! ```
//! `code` is stable and meant for programs; `message` is for people; `field`
//! names the input at fault when there is one. Internal causes (SQL, I/O)
//! go to the server log, never into the response.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rounds_app::AppError;
use rounds_core::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `validation_failed`, `not_found`.
    pub code: &'static str,
    /// What went wrong and what to do, for a person.
    pub message: String,
    /// The input field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For `edit_conflict`: each field saved by someone else meanwhile, with
    /// your value and the saved one, so you can choose.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub conflicts: Option<serde_json::Value>,
}

/// An error on its way to an API client.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    pub retry_after: Option<u64>,
    pub conflicts: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
            conflicts: None,
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "sign in first: this needs a session (POST /api/v1/session)",
        )
    }

    pub fn csrf() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "csrf_failed",
            "missing or wrong X-CSRF-Token header: send the csrfToken from sign-in with every change",
        )
    }

    pub fn invalid_id(field: &str, err: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_id", err.to_string()).with_field(field)
    }
}

impl From<AppError> for ApiError {
    fn from(err: AppError) -> Self {
        match err {
            AppError::Invalid(invalid) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                invalid.to_string(),
            )
            .with_field(invalid.field),
            AppError::Duplicate { field, message } => {
                Self::new(StatusCode::CONFLICT, "duplicate", message).with_field(field)
            }
            AppError::NotFound { what } => Self::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("{what} not found"),
            ),
            AppError::Forbidden { message } => {
                Self::new(StatusCode::FORBIDDEN, "forbidden", message)
            }
            AppError::Unauthenticated => Self::unauthenticated(),
            AppError::BadCredentials => Self::new(
                StatusCode::UNAUTHORIZED,
                "bad_credentials",
                "wrong username or password",
            ),
            AppError::SignInLocked { until } => {
                let secs = (until.millis() - Timestamp::now().millis()).max(0) / 1000 + 1;
                let mut e = Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    format!("too many failed sign-ins; try again after {until}"),
                );
                e.retry_after = u64::try_from(secs).ok();
                e
            }
            AppError::Busy { message } => {
                let mut e = Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", message);
                e.retry_after = Some(2);
                e
            }
            AppError::WeakPassword { field, message } => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "weak_password", message)
                    .with_field(field)
            }
            AppError::PasswordChangeRequired => Self::new(
                StatusCode::FORBIDDEN,
                "password_change_required",
                "choose a new password first (POST /api/v1/me/password)",
            ),
            AppError::Conflict { message } => Self::new(StatusCode::CONFLICT, "conflict", message),
            AppError::EhrUnavailable { message } => {
                Self::new(StatusCode::BAD_GATEWAY, "ehr_unavailable", message)
            }
            AppError::EditConflict { conflicts } => {
                let fields: Vec<&str> = conflicts.iter().map(|c| c.field.as_str()).collect();
                let mut e = Self::new(
                    StatusCode::CONFLICT,
                    "edit_conflict",
                    format!(
                        "someone else changed {} since you opened it; nothing was saved: choose which value to keep and save again",
                        fields.join(", ")
                    ),
                );
                e.field = fields.first().map(|f| (*f).to_owned());
                e.conflicts = serde_json::to_value(&conflicts).ok();
                e
            }
            AppError::Internal(detail) => {
                tracing::error!(error = %detail, "internal failure");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "something went wrong on the server; the administrator can find the cause in its log",
                )
            }
            AppError::Unavailable(detail) => {
                tracing::error!(error = %detail, "database unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the database is busy or unreachable; try again shortly",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                field: self.field,
                conflicts: self.conflicts,
            },
        };
        let retry_after = self.retry_after;
        let mut response = (self.status, Json(body)).into_response();
        set_retry_after(&mut response, retry_after);
        response
    }
}

/// `Retry-After: secs` on an answer (pages and API alike), when known.
pub fn set_retry_after(response: &mut Response, secs: Option<u64>) {
    if let Some(v) = secs.and_then(|s| HeaderValue::from_str(&s.to_string()).ok()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
