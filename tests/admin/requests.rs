//! What the API reads and how it answers what it will not read: JSON bodies only, HTTP Basic only
//! for the status page, and every error as the documented JSON.

use super::*;

const DRAIN: &str = "/v1/regions/ap-south-1/drain";
const BODY: &[u8] = br#"{"reason": "from another site", "ttl": "1h"}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_signed_in_to_the_status_page_cannot_be_made_to_write() {
    let (_dir, d) = healthy_daemon().await;
    let operator_basic = basic(OPERATOR);
    let bearer = format!("Bearer {OPERATOR}");

    // What a cross-site form or no-preflight fetch can send: text/plain (or a form) with the
    // browser's remembered Basic credentials. And the same as JSON: Basic is for the page only.
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/json",
    ] {
        let a = send(
            d.addr,
            &d.ca,
            Method::POST,
            DRAIN,
            &[
                ("authorization", &operator_basic),
                ("content-type", content_type),
            ],
            BODY,
        )
        .await;
        assert_eq!(
            a.status,
            StatusCode::UNAUTHORIZED,
            "{content_type}: {}",
            a.body
        );
        let v = a.json();
        assert_eq!(v["error"], "unauthorized");
        assert!(
            v["detail"]
                .as_str()
                .is_some_and(|d| d.contains("only for the status page") && d.contains("Bearer")),
            "{v}"
        );
        assert!(
            a.headers
                .get("www-authenticate")
                .is_some_and(|w| w.as_bytes().starts_with(b"Bearer")),
            "no password prompt for the API: {:?}",
            a.headers
        );
    }
    for path in ["/v1/status", "/metrics", "/v1/journal"] {
        let (code, body, _) = raw(d.addr, &d.ca, path, Some(&basic(VIEWER))).await;
        assert_eq!(code, StatusCode::UNAUTHORIZED, "{path}: {body}");
    }
    let (code, body, _) = raw(d.addr, &d.ca, "/", Some(&basic(VIEWER))).await;
    assert_eq!(code, StatusCode::OK, "the page still takes Basic: {body}");
    assert!(body.contains("<h1>failoverd"), "{body}");

    // With a bearer token, a write still needs a JSON content type.
    for (headers, got) in [
        (vec![("content-type", "text/plain")], "got \"text/plain\""),
        (
            vec![("content-type", "application/x-www-form-urlencoded")],
            "got \"application/x-www-form-urlencoded\"",
        ),
        (vec![], "got none"),
    ] {
        let mut headers = headers;
        headers.push(("authorization", &bearer));
        let a = send(d.addr, &d.ca, Method::POST, DRAIN, &headers, BODY).await;
        assert_eq!(
            a.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{headers:?}: {}",
            a.body
        );
        let v = a.json();
        assert_eq!(v["error"], "unsupported_media_type", "{v}");
        assert_eq!(
            v["detail"],
            format!("Content-Type: must be application/json, {got}"),
            "{v}"
        );
    }
    let a = send(
        d.addr,
        &d.ca,
        Method::POST,
        "/v1/freeze",
        &[("authorization", &bearer), ("content-type", "text/plain")],
        br#"{"reason": "from another site", "ttl": "1h"}"#,
    )
    .await;
    assert_eq!(a.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", a.body);

    let (_, s) = d.call(VIEWER, Method::GET, "/v1/status", None).await;
    assert_eq!(
        s["intents"],
        json!({"drains": {}, "freeze": null}),
        "nothing above was written"
    );

    // The same write as a script sends it goes through.
    let a = send(
        d.addr,
        &d.ca,
        Method::POST,
        DRAIN,
        &[
            ("authorization", &bearer),
            ("content-type", "application/json; charset=utf-8"),
        ],
        br#"{"reason": "by hand", "ttl": "1h"}"#,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.json()["drain"]["reason"], "by hand");
}

/// (what, method, path, headers, body, status, code, detail contains)
type Case<'a> = (
    &'a str,
    Method,
    &'a str,
    &'a [(&'a str, &'a str)],
    &'a [u8],
    StatusCode,
    &'a str,
    &'a str,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_answer_is_the_documented_json() {
    let (_dir, d) = healthy_daemon().await;
    let bearer = format!("Bearer {OPERATOR}");
    let viewer = format!("Bearer {VIEWER}");
    let json_write = [
        ("authorization", bearer.as_str()),
        ("content-type", "application/json"),
    ];
    let text_write = [
        ("authorization", bearer.as_str()),
        ("content-type", "text/plain"),
    ];
    let viewer_write = [("authorization", viewer.as_str())];
    let too_big = format!(r#"{{"reason": "{}", "ttl": "1h"}}"#, "x".repeat(20_000));
    // (what, method, path, headers, body, status, code, detail contains)
    let cases: Vec<Case> = vec![
        (
            "a region name that is not UTF-8",
            Method::POST,
            "/v1/regions/%FF%FE/drain",
            &json_write,
            BODY,
            StatusCode::BAD_REQUEST,
            "bad_request",
            "",
        ),
        (
            "a query that is not UTF-8",
            Method::GET,
            "/v1/status?newer_than=%FF",
            &json_write,
            b"",
            StatusCode::BAD_REQUEST,
            "bad_request",
            "",
        ),
        (
            "a body that is not UTF-8",
            Method::POST,
            DRAIN,
            &json_write,
            b"{\"reason\": \"\xff\xfe\", \"ttl\": \"1h\"}",
            StatusCode::BAD_REQUEST,
            "bad_request",
            "",
        ),
        (
            "a body that is not JSON",
            Method::POST,
            DRAIN,
            &json_write,
            b"{reason",
            StatusCode::BAD_REQUEST,
            "bad_request",
            "body: ",
        ),
        (
            "no such endpoint",
            Method::GET,
            "/v2/status",
            &json_write,
            b"",
            StatusCode::NOT_FOUND,
            "not_found",
            "no such endpoint",
        ),
        (
            "a method the endpoint does not take",
            Method::PUT,
            "/v1/freeze",
            &json_write,
            BODY,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "PUT is not allowed on /v1/freeze",
        ),
        (
            "a method a read-only endpoint does not take",
            Method::POST,
            "/v1/status",
            &json_write,
            BODY,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "POST is not allowed on /v1/status",
        ),
        (
            "a body over admin.max_body_bytes",
            Method::POST,
            DRAIN,
            &json_write,
            too_big.as_bytes(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "body: larger than admin.max_body_bytes",
        ),
        (
            "a body that is not JSON by its content type",
            Method::POST,
            DRAIN,
            &text_write,
            BODY,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Content-Type: must be application/json",
        ),
        (
            "no token",
            Method::GET,
            "/v1/status",
            &[],
            b"",
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Bearer",
        ),
        (
            "a viewer's write",
            Method::DELETE,
            "/v1/freeze",
            &viewer_write,
            b"",
            StatusCode::FORBIDDEN,
            "forbidden",
            "operator",
        ),
    ];
    for (what, method, path, headers, body, status, code, detail) in cases {
        let a = send(d.addr, &d.ca, method, path, headers, body).await;
        assert_eq!(a.status, status, "{what}: {}", a.body);
        assert_eq!(
            a.headers.get("content-type").map(|t| t.as_bytes()),
            Some(&b"application/json"[..]),
            "{what}: {:?}",
            a.headers
        );
        let v = a.json();
        assert_eq!(v["error"], code, "{what}: {v}");
        assert!(
            v["detail"]
                .as_str()
                .is_some_and(|d| !d.is_empty() && d.contains(detail)),
            "{what}: {v}"
        );
        assert_eq!(
            v.as_object().map(|o| o.len()),
            Some(2),
            "{what}: only error and detail: {v}"
        );
        if status == StatusCode::METHOD_NOT_ALLOWED {
            assert!(a.headers.contains_key("allow"), "{what}: {:?}", a.headers);
        }
    }
    let (_, s) = d.call(VIEWER, Method::GET, "/v1/status", None).await;
    assert_eq!(s["intents"], json!({"drains": {}, "freeze": null}));
}
