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
