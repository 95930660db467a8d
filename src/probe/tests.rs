//! Evaluation of answers: each rule with the reason an operator reads.

use std::time::Duration;

use serde_json::json;

use super::*;
use crate::config::BodyAssertion;

fn target() -> Target {
    let mut t = Target::from_url("http://a.example/healthz/deep").expect("target");
    t.load_pointer = Some("/load_rps".into());
    t.capacity_pointer = Some("/capacity_rps".into());
    t
}

fn answer(status: u16, body: &[u8]) -> HttpAnswer {
    HttpAnswer {
        status,
        body: body.to_vec(),
        truncated: false,
        certificate: None,
    }
}

fn assertion(pointer: &str) -> BodyAssertion {
    BodyAssertion::at(pointer)
}

const MS: Duration = Duration::from_millis(4);

#[test]
fn failing_status_names_url_and_failing_checks_and_keeps_figures() {
    let body = br#"{"status":"down","checks":{"api":"ok","db":"down"},"load_rps":12.5,"capacity_rps":100}"#;
    let o = evaluate(&target(), &answer(503, body), MS);
    assert_eq!(o.status, ProbeStatus::Fail);
    assert_eq!(
        o.reason,
        r#"HTTP 503 from http://a.example/healthz/deep (checks.db = "down")"#
    );
    assert_eq!((o.load_rps, o.capacity_rps), (Some(12.5), Some(100.0)));
}

#[test]
fn a_body_that_is_not_json_passes_when_nothing_asks_about_it() {
    let o = evaluate(&target(), &answer(200, b"OK"), MS);
    assert_eq!(o.status, ProbeStatus::Pass);
    assert_eq!(o.reason, "HTTP 200 in 4 ms");
    assert_eq!((o.load_rps, o.capacity_rps), (None, None));
}

#[test]
fn malformed_json_fails_when_assertions_need_it() {
    let mut t = target();
    t.assert = vec![BodyAssertion {
        equals: Some(json!("ok")),
        ..assertion("/checks/db")
    }];
    let o = evaluate(&t, &answer(200, b"{\"checks\": "), MS);
    assert_eq!(o.status, ProbeStatus::Fail);
    assert!(
        o.reason.starts_with("body is not JSON (EOF while parsing")
            && o.reason.ends_with("from http://a.example/healthz/deep"),
        "{}",
        o.reason
    );
}

#[test]
fn each_assertion_kind_names_the_value_and_the_expectation() {
    let body = br#"{"checks":{"db":"down"},"status":"ok","queue":1500,"version":"1.2"}"#;
    let cases = [
        (
            BodyAssertion {
                equals: Some(json!("ok")),
                ..assertion("/checks/db")
            },
            r#"/checks/db = "down", expected "ok""#,
        ),
        (
            BodyAssertion {
                one_of: Some(vec![json!("green"), json!("amber")]),
                ..assertion("/status")
            },
            r#"/status = "ok", expected one of ["green","amber"]"#,
        ),
        (
            BodyAssertion {
                lt: Some(1000.0),
                ..assertion("/queue")
            },
            "/queue = 1500, expected < 1000",
        ),
        (
            BodyAssertion {
                ge: Some(2000.0),
                ..assertion("/queue")
            },
            "/queue = 1500, expected >= 2000",
        ),
        (
            BodyAssertion {
                le: Some(3.0),
                ..assertion("/version")
            },
            r#"/version = "1.2", expected <= 3"#,
        ),
        (
            BodyAssertion {
                equals: Some(json!(true)),
                ..assertion("/ready")
            },
            "/ready is missing, expected true",
        ),
    ];
    for (a, expected) in cases {
        let mut t = target();
        t.assert = vec![a];
        let o = evaluate(&t, &answer(200, body), MS);
        assert_eq!(o.status, ProbeStatus::Fail);
        assert_eq!(
            o.reason,
            format!("{expected} from http://a.example/healthz/deep")
        );
    }
    let mut t = target();
    t.assert = vec![
        BodyAssertion {
            gt: Some(1000.0),
            ..assertion("/queue")
        },
        BodyAssertion {
            one_of: Some(vec![json!("ok"), json!("degraded")]),
            ..assertion("/status")
        },
    ];
    assert_eq!(
        evaluate(&t, &answer(200, body), MS).status,
        ProbeStatus::Pass
    );
}

#[test]
fn self_reported_degradation_and_slowness_are_degraded_not_failed() {
    let mut t = target();
    t.degraded_when = vec![BodyAssertion {
        equals: Some(json!("degraded")),
        ..assertion("/status")
    }];
    let o = evaluate(&t, &answer(200, br#"{"status":"degraded"}"#), MS);
    assert_eq!(o.status, ProbeStatus::Degraded);
    assert_eq!(
        o.reason,
        r#"self-reported degraded: /status = "degraded" from http://a.example/healthz/deep"#
    );

    let mut t = target();
    t.latency_budget = Some(Duration::from_millis(500));
    let o = evaluate(&t, &answer(200, b"{}"), Duration::from_millis(812));
    assert_eq!(o.status, ProbeStatus::Degraded);
    assert_eq!(
        o.reason,
        "slow: 812 ms > budget 500 ms from http://a.example/healthz/deep"
    );
}

#[test]
fn an_expiring_certificate_fails_or_warns_per_config() {
    let mut a = answer(200, b"{}");
    a.certificate = Some(PeerCertificate {
        server_name: "api.example.com".into(),
        expires_in: Duration::from_secs(3 * 86_400 + 600),
    });
    let o = evaluate(&target(), &a, MS);
    assert_eq!(o.status, ProbeStatus::Fail);
    assert_eq!(
        o.reason,
        "certificate for api.example.com expires in 3 days (< 14) at http://a.example/healthz/deep"
    );
    let mut t = target();
    t.cert_expiry_action = CertExpiryAction::Warn;
    let o = evaluate(&t, &a, MS);
    assert_eq!(o.status, ProbeStatus::Pass);
    assert_eq!(
        o.reason,
        "HTTP 200 in 4 ms; warning: certificate for api.example.com expires in 3 days (< 14)"
    );
}

#[test]
fn a_truncated_body_cannot_be_checked() {
    let mut t = target();
    t.assert = vec![BodyAssertion {
        equals: Some(json!("ok")),
        ..assertion("/status")
    }];
    let mut a = answer(200, &[b' '; MAX_BODY_BYTES]);
    a.truncated = true;
    let o = evaluate(&t, &a, MS);
    assert_eq!(o.status, ProbeStatus::Fail);
    assert_eq!(
        o.reason,
        "body larger than 64 KiB, cannot check it, from http://a.example/healthz/deep"
    );
}
