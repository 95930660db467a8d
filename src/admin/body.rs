//! A write's body: JSON by its `Content-Type`, a JSON object, within `admin.max_body_bytes`, read
//! into a request type with the wrong field named.
//!
//! Requiring `application/json` is what keeps a browser page from writing: a cross-site form or
//! `fetch` can only send `text/plain`, form or multipart bodies without asking the server first
//! (a CORS preflight, which this server never grants).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use super::ApiError;

/// A request body of type `T`, read from a JSON object sent as `application/json`.
#[derive(Debug)]
pub(super) struct JsonObject<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonObject<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        json_content_type(req.headers())?;
        let body = Bytes::from_request(req, state).await.map_err(|r| {
            let detail = if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                "body: larger than admin.max_body_bytes allows".to_owned()
            } else {
                format!("body: {}", r.body_text())
            };
            ApiError::of_status(r.status(), detail)
        })?;
        parse(&body).map(JsonObject)
    }
}

/// 415 unless the `Content-Type` is `application/json` (parameters such as `charset` allowed).
fn json_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let given = headers
        .get(http::header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let essence = given
        .as_deref()
        .and_then(|t| t.split(';').next())
        .map(str::trim);
    if essence.is_some_and(|e| e.eq_ignore_ascii_case("application/json")) {
        return Ok(());
    }
    Err(ApiError::of_status(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        format!(
            "Content-Type: must be application/json, got {}",
            given.map_or_else(|| "none".to_owned(), |g| format!("\"{g}\""))
        ),
    ))
}

/// What a body that is not a JSON object is instead, for the error; `None` for an object.
fn not_an_object(body: &[u8]) -> Option<&'static str> {
    let first = body.iter().find(|b| !b" \t\r\n".contains(b));
    match first {
        Some(b'{') => None,
        Some(b'[') => Some("an array"),
        Some(b'"') => Some("a string"),
        Some(b'-' | b'0'..=b'9') => Some("a number"),
        Some(b't' | b'f') => Some("a boolean"),
        Some(b'n') => Some("null"),
        Some(_) => Some("not JSON"),
        None => Some("nothing"),
    }
}

/// Parses a JSON object body, naming the field that is wrong. Only an object is read: serde
/// would otherwise take an array as a struct's fields in order, so `["x", "1h"]` would drain.
fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    if let Some(got) = not_an_object(body) {
        return Err(ApiError::bad_request(format!(
            "body: must be a JSON object, got {got}"
        )));
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        // `.` is the body itself; `?` a place a syntax error left unknown.
        if path == "." || path == "?" {
            ApiError::bad_request(format!("body: {inner}"))
        } else {
            ApiError::bad_request(format!("{path}: {inner}"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content_type(value: Option<&str>) -> Result<(), String> {
        let mut h = HeaderMap::new();
        if let Some(v) = value {
            h.insert(http::header::CONTENT_TYPE, v.parse().expect("header"));
        }
        json_content_type(&h).map_err(|e| format!("{} {}", e.status.as_u16(), e.detail))
    }

    #[test]
    fn only_json_is_read_as_a_body() {
        for ok in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
        ] {
            assert_eq!(content_type(Some(ok)), Ok(()), "{ok}");
        }
        assert_eq!(
            content_type(Some("text/plain")),
            Err("415 Content-Type: must be application/json, got \"text/plain\"".into())
        );
        assert_eq!(
            content_type(None),
            Err("415 Content-Type: must be application/json, got none".into())
        );
        for not_json in [
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/jsonp",
            "text/plain; application/json",
        ] {
            assert!(content_type(Some(not_json)).is_err(), "{not_json}");
        }
    }

    #[test]
    fn a_body_must_be_an_object() {
        assert_eq!(not_an_object(b" \n{\"a\": 1}"), None);
        assert_eq!(not_an_object(b"[\"x\", \"1h\"]"), Some("an array"));
        assert_eq!(not_an_object(b""), Some("nothing"));
        assert_eq!(not_an_object(b"reason=x&ttl=1h"), Some("not JSON"));
    }
}
