//! The ARC backend through the real AWS SDK, over HTTP, against the wire-level fake cluster in
//! `arc_fake` (no emulator implements ARC's routing-control data plane): endpoints tried in
//! turn, safety rules, overrides; its writes fenced on the leadership epoch (`fencing`); the
//! controller and the daemon driving routing controls (`controller`).

#[path = "../arc_fake/mod.rs"]
mod arc_fake;
#[path = "../support/mod.rs"]
mod support;

mod controller;
mod fencing;

use std::path::Path;

use arc_fake::{ArcFake, Mode};
use aws_sdk_route53recoverycluster::config::{BehaviorVersion, Credentials};
use failoverd::config::Config;
use failoverd::share::Share;
use failoverd::traffic::arc::ArcBackend;
use failoverd::traffic::{Epoch, ErrorCode, Retry, Setup, ShareChange, TrafficBackend, Writer};

const EU: &str =
    "arn:aws:route53-recovery-control::123456789012:controlpanel/cp1/routingcontrol/eu-west-1";
const US: &str =
    "arn:aws:route53-recovery-control::123456789012:controlpanel/cp1/routingcontrol/us-east-1";
const AT_LEAST_ONE: &str =
    "arn:aws:route53-recovery-control::123456789012:controlpanel/cp1/safetyrule/at-least-one-on";

/// An ARC cluster's five regional endpoints.
const CLUSTER: [&str; 5] = [
    "us-east-1",
    "us-west-2",
    "eu-west-1",
    "ap-northeast-1",
    "ap-southeast-2",
];

/// A config whose two regions are routing controls of `fake`'s cluster; `arc` adds lines to
/// `[traffic.arc]`.
fn config(fake: &ArcFake, arc: &str) -> Config {
    let text = format!(
        r#"
[controller]
id = "t"
control_region = "local"

[traffic]
backend = "arc"
call_timeout = "1s"
[traffic.retry]
attempts = 2
base_delay = "1ms"
max_delay = "5ms"
jitter = false
[traffic.arc]
# The most the bucket holds, so no test waits on the limiter.
requests_per_second = 20
cluster_endpoints = {endpoints}
{arc}

[[regions]]
name = "eu-west-1"
capacity_rps = 100
spill_to = ["us-east-1"]
probes = [{{ url = "http://127.0.0.1:9/" }}]
traffic.arc = {{ routing_control_arn = "{EU}" }}

[[regions]]
name = "us-east-1"
capacity_rps = 100
spill_to = ["eu-west-1"]
probes = [{{ url = "http://127.0.0.1:9/" }}]
traffic.arc = {{ routing_control_arn = "{US}" }}
"#,
        endpoints = fake.endpoints_toml()
    );
    Config::from_toml(&text, Path::new("t.toml")).expect("valid config")
}

/// A backend for `config`'s bindings, calling the fake's endpoints through the real SDK, for a
/// controller whose leadership never runs out.
fn backend_for(config: &Config) -> ArcBackend {
    backend_fenced_on(config, &Epoch::new(1))
}

/// A backend for `config`'s bindings whose updates are fenced on `epoch`.
fn backend_fenced_on(config: &Config, epoch: &Epoch) -> ArcBackend {
    let base = aws_sdk_route53recoverycluster::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
        .build();
    let Setup::Arc { settings, bindings } = config.traffic_setup() else {
        panic!("an ARC config");
    };
    ArcBackend::new(
        &base,
        settings,
        &failoverd::traffic::borrowed(&bindings),
        &config.traffic.calls(),
        &Writer {
            controller: "t".to_owned(),
            epoch: epoch.clone(),
        },
    )
}

async fn setup(arc: &str) -> (ArcFake, ArcBackend) {
    let fake = ArcFake::start(&CLUSTER).await;
    fake.put(EU, true);
    fake.put(US, true);
    let backend = backend_for(&config(&fake, arc));
    (fake, backend)
}

fn change(region: &str, from: u8, to: u8) -> ShareChange {
    ShareChange {
        region: region.into(),
        from: Share::try_new(from).expect("share"),
        to: Share::try_new(to).expect("share"),
    }
}

/// Which endpoint each call went to, in order.
fn endpoints(fake: &ArcFake) -> Vec<String> {
    fake.calls().into_iter().map(|c| c.endpoint).collect()
}

#[tokio::test]
async fn on_reads_as_all_traffic_off_as_none_and_an_apply_sets_every_control_in_one_call() {
    let (fake, backend) = setup("").await;
    fake.put(US, false);
    let shares = backend.read().await.expect("read");
    assert_eq!(shares["eu-west-1"], Share::FULL);
    assert_eq!(shares["us-east-1"], Share::ZERO);
    assert!(backend.all_or_nothing("eu-west-1") && backend.all_or_nothing("us-east-1"));

    // Traffic moves from eu-west-1 to us-east-1: both controls in one call, read back.
    fake.clear_calls();
    backend
        .apply(&[change("eu-west-1", 100, 0), change("us-east-1", 0, 100)])
        .await
        .expect("apply");
    assert_eq!(fake.is_on(EU), Some(false));
    assert_eq!(fake.is_on(US), Some(true));
    let writes = fake.calls_of("UpdateRoutingControlStates");
    assert_eq!(writes.len(), 1, "one call, judged as a whole");
    assert_eq!(
        writes[0].body["UpdateRoutingControlStateEntries"],
        serde_json::json!([
            { "RoutingControlArn": EU, "RoutingControlState": "Off" },
            { "RoutingControlArn": US, "RoutingControlState": "On" },
        ])
    );
    assert!(
        writes[0].body.get("SafetyRulesToOverride").is_none(),
        "nothing overridden unless the settings say so: {}",
        writes[0].body
    );
    assert_eq!(
        fake.calls_of("GetRoutingControlState").len(),
        2,
        "each control read back"
    );
    // Every call went to the first endpoint, signed for its region.
    assert!(
        fake.calls()
            .iter()
            .all(|c| c.endpoint == "us-east-1" && c.signed_for == "us-east-1")
    );
    let shares = backend.read().await.expect("read");
    assert_eq!(shares["eu-west-1"], Share::ZERO);
    assert_eq!(shares["us-east-1"], Share::FULL);
}

#[tokio::test]
async fn a_share_between_off_and_on_is_refused_before_anything_is_sent() {
    let (fake, backend) = setup("").await;
    let err = backend
        .apply(&[change("eu-west-1", 100, 50)])
        .await
        .expect_err("a routing control is On or Off");
    assert_eq!(err.code, ErrorCode::Invalid);
    assert!(err.message.contains("cannot carry 50%"), "{}", err.message);
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
}

#[tokio::test]
async fn a_refused_endpoint_and_a_failing_one_are_passed_over_and_the_one_that_answered_is_kept() {
    let (fake, backend) = setup("").await;
    fake.set("us-east-1", Mode::Down).await;
    fake.set(
        "us-west-2",
        Mode::Error(400, "EndpointTemporarilyUnavailableException"),
    )
    .await;
    fake.put(EU, false);
    let shares = backend.read().await.expect("read through eu-west-1");
    assert_eq!(shares["eu-west-1"], Share::ZERO);
    assert_eq!(shares["us-east-1"], Share::FULL);
    // The refused endpoint received nothing; the failing one answered once; eu-west-1 served
    // the first read, and the second started there.
    assert_eq!(endpoints(&fake), ["us-west-2", "eu-west-1", "eu-west-1"]);
    for c in fake.calls() {
        assert_eq!(
            c.signed_for, c.endpoint,
            "each endpoint signed for its own region"
        );
    }

    // A write goes the same way, and reads back through the same endpoint.
    fake.clear_calls();
    fake.set("eu-west-1", Mode::Error(503, "")).await;
    fake.set(
        "ap-northeast-1",
        Mode::Error(500, "InternalServerException"),
    )
    .await;
    backend
        .apply(&[change("eu-west-1", 0, 100)])
        .await
        .expect("apply through ap-southeast-2");
    assert_eq!(fake.is_on(EU), Some(true));
    assert_eq!(
        endpoints(&fake),
        [
            "eu-west-1",      // a bare 503
            "ap-northeast-1", // InternalServerException
            "ap-southeast-2", // the write
            "ap-southeast-2", // its read-back
        ]
    );
}

#[tokio::test]
async fn throttling_moves_on_and_an_error_about_the_request_does_not() {
    let (fake, backend) = setup("").await;
    fake.set("us-east-1", Mode::Error(400, "ThrottlingException"))
        .await;
    backend.read().await.expect("read through us-west-2");
    assert_eq!(endpoints(&fake), ["us-east-1", "us-west-2", "us-west-2"]);

    for (code, expected) in [
        ("AccessDeniedException", ErrorCode::AccessDenied),
        ("ValidationException", ErrorCode::Invalid),
    ] {
        fake.clear_calls();
        fake.set("us-west-2", Mode::Error(400, code)).await;
        let err = backend.read().await.expect_err(code);
        assert_eq!(err.code, expected, "{err}");
        assert_eq!(err.retry(), Retry::Permanent);
        assert!(err.message.starts_with(code), "{}", err.message);
        assert_eq!(
            endpoints(&fake),
            ["us-west-2"],
            "no other endpoint can do better"
        );
    }
}

#[tokio::test]
async fn a_routing_control_arc_does_not_know_is_a_missing_region_not_a_failed_read() {
    let fake = ArcFake::start(&CLUSTER).await;
    fake.put(EU, true);
    let backend = backend_for(&config(&fake, ""));
    let shares = backend.read().await.expect("read");
    assert_eq!(shares.keys().collect::<Vec<_>>(), ["eu-west-1"]);
    assert_eq!(
        endpoints(&fake),
        ["us-east-1", "us-east-1"],
        "not found ends that control's call at once"
    );
}

#[tokio::test]
async fn when_every_endpoint_fails_the_call_fails_naming_each_endpoint_and_what_it_said() {
    let (fake, backend) = setup("").await;
    fake.set("us-east-1", Mode::Down).await;
    fake.set("us-west-2", Mode::Down).await;
    fake.set(
        "eu-west-1",
        Mode::Error(400, "EndpointTemporarilyUnavailableException"),
    )
    .await;
    fake.set("ap-northeast-1", Mode::Error(503, "")).await;
    fake.set("ap-southeast-2", Mode::Down).await;
    let err = backend.read().await.expect_err("no endpoint answers");
    assert_eq!(err.code, ErrorCode::Unavailable);
    assert_eq!(err.retry(), Retry::Retryable);
    assert!(
        err.message.starts_with("no cluster endpoint answered: "),
        "{}",
        err.message
    );
    for region in CLUSTER {
        let named = format!("{region} ({}): ", fake.url(region));
        assert!(err.message.contains(&named), "{named} in {}", err.message);
    }
    assert!(
        err.message
            .contains("EndpointTemporarilyUnavailableException"),
        "{}",
        err.message
    );
    // attempts = 2 is below the five endpoints: each is still tried once, and no more.
    assert_eq!(endpoints(&fake), ["eu-west-1", "ap-northeast-1"]);

    // One endpoint back: the next call finds it.
    fake.set("ap-southeast-2", Mode::Up).await;
    backend.read().await.expect("read through ap-southeast-2");
}

#[tokio::test(start_paused = true)]
async fn an_endpoint_that_never_answers_times_out_and_the_next_one_is_tried() {
    let (fake, backend) = setup("").await;
    fake.set("us-east-1", Mode::Hang).await;
    let started = tokio::time::Instant::now();
    backend.read().await.expect("read through us-west-2");
    assert_eq!(endpoints(&fake), ["us-east-1", "us-west-2", "us-west-2"]);
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "us-east-1 had its call_timeout"
    );
}

#[tokio::test]
async fn a_safety_rule_blocks_the_change_which_is_reported_naming_the_rule_and_how_to_override() {
    let (fake, backend) = setup("").await;
    fake.assert_at_least(AT_LEAST_ONE, 1, &[EU, US]);
    fake.put(US, false);
    let err = backend
        .apply(&[change("eu-west-1", 100, 0)])
        .await
        .expect_err("the last On control may not go Off");
    assert_eq!(err.code, ErrorCode::Blocked);
    assert_eq!(err.retry(), Retry::Permanent);
    assert!(
        err.message.contains(&format!(
            "safety rule {AT_LEAST_ONE} blocked the update (eu-west-1 Off)"
        )),
        "{}",
        err.message
    );
    assert!(
        err.message.contains("traffic.arc.safety_rules_to_override"),
        "{}",
        err.message
    );
    assert_eq!(fake.is_on(EU), Some(true), "unchanged");
    assert_eq!(
        fake.calls_of("UpdateRoutingControlStates").len(),
        1,
        "a blocked change is not sent to another endpoint"
    );

    // The same move with traffic going to us-east-1 in the same call satisfies the rule.
    backend
        .apply(&[change("eu-west-1", 100, 0), change("us-east-1", 0, 100)])
        .await
        .expect("judged over the batch");
    assert_eq!(fake.is_on(EU), Some(false));
    assert_eq!(fake.is_on(US), Some(true));
}

#[tokio::test]
async fn a_rule_listed_in_safety_rules_to_override_is_overridden() {
    let (fake, backend) = setup(&format!("safety_rules_to_override = [\"{AT_LEAST_ONE}\"]")).await;
    fake.assert_at_least(AT_LEAST_ONE, 1, &[EU, US]);
    fake.put(US, false);
    backend
        .apply(&[change("eu-west-1", 100, 0)])
        .await
        .expect("overridden");
    assert_eq!(fake.is_on(EU), Some(false));
    let writes = fake.calls_of("UpdateRoutingControlStates");
    assert_eq!(
        writes[0].body["SafetyRulesToOverride"],
        serde_json::json!([AT_LEAST_ONE])
    );
}
