//! The API's error answers: one JSON shape ([`ErrorAnswer`]) with a stable code per status.

use axum::response::{IntoResponse, Response};
use http::StatusCode;

use super::verbs::ErrorAnswer;
use crate::plan::WhatIf;

/// An API error: an [`ErrorAnswer`] with its status.
#[derive(Debug)]
pub struct ApiError {
    pub(super) status: StatusCode,
    pub(super) error: &'static str,
    pub(super) detail: String,
    pub(super) effect: Option<Box<WhatIf>>,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, error: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            error,
            detail: detail.into(),
            effect: None,
        }
    }

    pub(super) fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", detail)
    }

    /// An error with the code [`code_for`] its status.
    pub(super) fn of_status(status: StatusCode, detail: impl Into<String>) -> Self {
        Self::new(status, code_for(status), detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            axum::Json(ErrorAnswer {
                error: self.error.to_owned(),
                detail: self.detail,
                effect: self.effect.map(|e| *e),
            }),
        )
            .into_response()
    }
}

/// The stable code of an error status, for answers that have no more specific one.
pub(super) fn code_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::CONFLICT => "conflict",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_client_error() => "bad_request",
        _ => "internal",
    }
}
