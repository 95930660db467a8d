//! The API's error answers: one JSON shape ([`ErrorAnswer`]) with a stable code per status, for
//! the handlers' own errors and, through [`json_errors`], for every other error answer the
//! router gives (axum's rejections, 405s, a body over the cap).

use axum::extract::Request;
use axum::middleware::Next;
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

/// The most of a non-JSON error body [`json_errors`] reads into the detail (axum's are a line).
const MAX_REJECTION_BYTES: usize = 4096;

/// Rewrites every error answer that is not JSON (axum's plain-text rejections: a path or query
/// that does not decode, 405, 413) as an [`ErrorAnswer`] with the code for its status and the text
/// as the detail, keeping its other headers.
pub(super) async fn json_errors(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let response = next.run(req).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_REJECTION_BYTES)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let detail = match status {
        // axum adds the `Allow` header once the answer has left this layer.
        StatusCode::METHOD_NOT_ALLOWED => {
            format!(
                "{method} is not allowed on {path}; the Allow header lists the methods it takes"
            )
        }
        _ if text.is_empty() => status
            .canonical_reason()
            .unwrap_or("error")
            .to_ascii_lowercase(),
        _ => text,
    };
    let json = ApiError::of_status(status, detail).into_response();
    parts.headers.remove(http::header::CONTENT_LENGTH);
    parts.headers.remove(http::header::CONTENT_TYPE);
    let (json_parts, body) = json.into_parts();
    parts.headers.extend(json_parts.headers);
    Response::from_parts(parts, body)
}
