//! The Global Accelerator backend through the real AWS SDK, over HTTP, against the wire-level
//! fake in `ga_fake` (no emulator supports Global Accelerator).

mod ga_fake;
mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use failoverd::clock::Clock;
use failoverd::config::Config;
use failoverd::controller::Controller;
use failoverd::intent::Intents;
use failoverd::share::Share;
use failoverd::store::Journal;
use failoverd::traffic::global_accelerator::GlobalAcceleratorBackend;
use failoverd::traffic::{ErrorCode, Retry, ShareChange, TrafficBackend};
use ga_fake::GaFake;
use serde_json::json;
use support::virtual_time::{TICK, skip};

const EU: &str =
    "arn:aws:globalaccelerator::123456789012:accelerator/a1/listener/l1/endpoint-group/eu";
const US: &str =
    "arn:aws:globalaccelerator::123456789012:accelerator/a1/listener/l1/endpoint-group/us";

fn config() -> Config {
    let text = format!(
        r#"
[controller]
id = "t"
control_region = "local"

[traffic]
backend = "global_accelerator"
[traffic.retry]
attempts = 4
base_delay = "1ms"
max_delay = "5ms"
jitter = false

[[regions]]
name = "eu-west-1"
capacity_rps = 100
spill_to = ["us-east-1"]
probes = [{{ url = "http://127.0.0.1:9/" }}]
traffic.global_accelerator = {{ endpoint_group_arn = "{EU}", endpoints = [{{ id = "alb-ring1", weight = 200 }}, {{ id = "alb-ring2", weight = 55, attachment_arn = "arn:aws:globalaccelerator::123456789012:attachment/att-1" }}] }}

[[regions]]
name = "us-east-1"
capacity_rps = 100
spill_to = ["eu-west-1"]
probes = [{{ url = "http://127.0.0.1:9/" }}]
traffic.global_accelerator = {{ endpoint_group_arn = "{US}" }}
"#
    );
    Config::from_toml(&text, Path::new("t.toml")).expect("valid config")
}

async fn setup() -> (GaFake, GlobalAcceleratorBackend) {
    let fake = GaFake::default();
    fake.insert(GaFake::group(EU, &[("alb-ring1", 200), ("alb-ring2", 55)]));
    fake.insert(GaFake::group(US, &[("nlb-1", 128)]));
    let backend = backend_for(&fake, &config()).await;
    (fake, backend)
}

/// A backend for `config`'s bindings, calling `fake` through the real SDK.
async fn backend_for(fake: &GaFake, config: &Config) -> GlobalAcceleratorBackend {
    let addr = fake.serve().await;
    ga_fake::backend(addr, config, config.traffic_setup())
}

fn change(region: &str, from: u8, to: u8) -> ShareChange {
    ShareChange {
        region: region.into(),
        from: Share::try_new(from).expect("share"),
        to: Share::try_new(to).expect("share"),
    }
}

/// The group without the fields a dial change may touch.
fn settings(mut group: serde_json::Value) -> serde_json::Value {
    group
        .as_object_mut()
        .expect("object")
        .remove("TrafficDialPercentage");
    group
}

#[tokio::test]
async fn read_reports_each_regions_dial_as_its_share() {
    let (fake, backend) = setup().await;
    let mut g = fake.get(EU);
    g["TrafficDialPercentage"] = json!(37.6);
    fake.insert(g);
    let shares = backend.read().await.expect("read");
    assert_eq!(
        shares["eu-west-1"].get(),
        38,
        "rounded to the nearest whole percent"
    );
    assert_eq!(shares["us-east-1"], Share::FULL);
}

#[tokio::test]
async fn a_drain_sets_the_dial_and_nothing_else_changes() {
    let (fake, backend) = setup().await;
    let before = fake.get(EU);
    backend
        .apply(&[change("eu-west-1", 100, 25)])
        .await
        .expect("apply");
    let after = fake.get(EU);
    assert_eq!(after["TrafficDialPercentage"], json!(25.0));
    assert_eq!(
        settings(after),
        settings(before),
        "health checks, port overrides, endpoints, weights kept"
    );
    let writes = fake.writes();
    assert_eq!(writes.len(), 1);
    // Every endpoint is sent with an explicit weight, so none falls back to 128.
    let sent = writes[0].body["EndpointConfigurations"]
        .as_array()
        .expect("endpoints")
        .clone();
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|e| e.get("Weight").is_some()), "{sent:?}");
    // GA does not describe attachments; the one in the binding is sent so it is not dropped.
    assert_eq!(
        sent[1]["AttachmentArn"],
        json!("arn:aws:globalaccelerator::123456789012:attachment/att-1")
    );
    assert!(sent[0].get("AttachmentArn").is_none());
    assert_eq!(
        fake.get(US)["TrafficDialPercentage"],
        json!(100.0),
        "other groups untouched"
    );
}

#[tokio::test]
async fn an_endpoint_weight_drain_keeps_every_other_weight_and_the_health_checks() {
    let (fake, backend) = setup().await;
    let before = fake.get(EU);
    backend
        .set_endpoint_weights("eu-west-1", &BTreeMap::from([("alb-ring2".to_owned(), 0)]))
        .await
        .expect("weights");
    let after = fake.get(EU);
    let weights: Vec<(String, i64)> = after["EndpointDescriptions"]
        .as_array()
        .expect("endpoints")
        .iter()
        .map(|d| {
            (
                d["EndpointId"].as_str().unwrap_or_default().to_owned(),
                d["Weight"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(
        weights,
        vec![("alb-ring1".to_owned(), 200), ("alb-ring2".to_owned(), 0)]
    );
    for field in [
        "TrafficDialPercentage",
        "HealthCheckPort",
        "HealthCheckProtocol",
        "HealthCheckPath",
        "HealthCheckIntervalSeconds",
        "ThresholdCount",
        "PortOverrides",
    ] {
        assert_eq!(after[field], before[field], "{field} changed");
    }
    // The same weights again write nothing.
    backend
        .set_endpoint_weights("eu-west-1", &BTreeMap::from([("alb-ring2".to_owned(), 0)]))
        .await
        .expect("weights");
    assert_eq!(fake.writes().len(), 1);
    let err = backend
        .set_endpoint_weights("eu-west-1", &BTreeMap::from([("alb-ring9".to_owned(), 0)]))
        .await
        .expect_err("unknown endpoint");
    assert_eq!(err.retry(), Retry::Permanent);
    assert_eq!(err.code, ErrorCode::NotFound);
    assert!(
        err.message.contains("endpoint alb-ring9 is not in"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn throttling_and_a_concurrent_writer_are_retried_until_the_write_lands() {
    let (fake, backend) = setup().await;
    // Describe is throttled, then the update meets another writer's transaction.
    fake.inject("DescribeEndpointGroup", &["ThrottlingException"]);
    fake.inject("UpdateEndpointGroup", &["TransactionInProgressException"]);
    backend
        .apply(&[change("eu-west-1", 100, 0)])
        .await
        .expect("apply after retries");
    assert_eq!(fake.get(EU)["TrafficDialPercentage"], json!(0.0));
    let ops: Vec<String> = fake.calls().into_iter().map(|c| c.operation).collect();
    assert_eq!(
        ops,
        [
            "DescribeEndpointGroup", // throttled
            "DescribeEndpointGroup",
            "UpdateEndpointGroup", // another writer's transaction
            "UpdateEndpointGroup",
            "DescribeEndpointGroup", // read back
        ]
    );
}

#[tokio::test]
async fn retries_give_up_after_the_configured_attempts_with_the_error() {
    let (fake, backend) = setup().await;
    fake.inject("DescribeEndpointGroup", &["ThrottlingException"; 4]);
    let err = backend
        .apply(&[change("eu-west-1", 100, 0)])
        .await
        .expect_err("throttled out");
    assert_eq!(err.retry(), Retry::Retryable);
    assert_eq!(err.code, ErrorCode::Throttled);
    assert!(
        err.message.starts_with("ThrottlingException"),
        "{}",
        err.message
    );
    assert_eq!(fake.calls().len(), 4);
    assert!(fake.writes().is_empty());
}

#[tokio::test]
async fn an_unchanged_plan_makes_no_write_call() {
    let (fake, backend) = setup().await;
    backend
        .apply(&[change("eu-west-1", 100, 100)])
        .await
        .expect("apply");
    assert!(fake.writes().is_empty(), "{:?}", fake.calls());
}

/// A tick interval after the last tick (virtual time, `support::virtual_time`), both regions
/// pass `rise` (the default 3) probe rounds at 10 rps, then a tick.
async fn round(
    controller: &mut Controller<GlobalAcceleratorBackend>,
    clock: &Clock,
) -> Option<failoverd::plan::TrafficPlan> {
    skip(TICK).await;
    for _ in 0..3 {
        for region in ["eu-west-1", "us-east-1"] {
            let mut o = support::passing(region, clock.now());
            o.load_rps = Some(10.0);
            controller.observe(o);
        }
    }
    controller.tick().await
}

#[tokio::test]
async fn the_controller_drives_the_dial_and_a_vanished_group_is_an_alarm_not_a_crash() {
    let (fake, backend) = setup().await;
    let config = Arc::new(config());
    let (intents_tx, intents) = tokio::sync::watch::channel(Intents::default());
    let clock = Clock::new();
    let mut controller = Controller::new(
        Arc::clone(&config),
        backend,
        clock,
        Journal::in_memory(),
        intents,
    );
    // No verdicts yet: nothing to change, and no write.
    controller.tick().await.expect("read works");
    assert!(fake.writes().is_empty());

    // Both regions pass; an operator drains eu-west-1: its dial takes the first step of 25.
    let now = clock.now();
    intents_tx.send_replace(support::drains(now, &["eu-west-1"], false));
    round(&mut controller, &clock).await.expect("read works");
    assert_eq!(fake.get(EU)["TrafficDialPercentage"], json!(75.0));
    assert_eq!(fake.writes().len(), 1, "{:?}", fake.calls());

    // A minute on (`policy.settle`'s default behind Global Accelerator), eu-west-1's users have
    // followed and its next step is due; but us-east-1's group has vanished: it is not written.
    skip(config.policy.settle.expect("set as the config loads")).await;
    fake.remove(US);
    let plan = round(&mut controller, &clock)
        .await
        .expect("read works without the group");
    assert!(
        plan.alarms.iter().any(
            |a| a.code == failoverd::alarm::AlarmCode::BackendMissingRegion
                && a.message.contains("us-east-1")
        ),
        "{:?}",
        plan.alarms
    );
    assert_eq!(
        fake.writes().len(),
        1,
        "nothing is written while a region is missing"
    );
    assert_eq!(fake.get(EU)["TrafficDialPercentage"], json!(75.0));

    // The group back, the held step is written at the next tick: only the missing region held
    // it back.
    fake.insert(GaFake::group(US, &[("nlb-1", 128)]));
    round(&mut controller, &clock)
        .await
        .expect("read works again");
    assert_eq!(fake.get(EU)["TrafficDialPercentage"], json!(50.0));
    assert_eq!(fake.writes().len(), 2, "{:?}", fake.calls());
}

#[tokio::test]
async fn a_permanent_error_is_not_retried_and_raises_an_alarm() {
    let (fake, backend) = setup().await;
    let config = Arc::new(config());
    let (_intents_tx, intents) = tokio::sync::watch::channel(Intents::default());
    let journal = Journal::in_memory();
    let mut entries = journal.subscribe();
    let mut controller =
        Controller::new(Arc::clone(&config), backend, Clock::new(), journal, intents);
    fake.inject("DescribeEndpointGroup", &["AccessDeniedException"]);
    assert!(controller.tick().await.is_none(), "the read failed");
    assert_eq!(fake.calls().len(), 1, "a permanent error is not retried");
    let mut alarm = None;
    while let Ok(e) = entries.try_recv() {
        if let failoverd::store::Event::Alarm(a) = e.event {
            alarm = Some(a);
        }
    }
    let alarm = alarm.expect("alarm raised");
    assert_eq!(alarm.code, failoverd::alarm::AlarmCode::BackendError);
    assert!(
        alarm.message.contains("AccessDeniedException"),
        "{}",
        alarm.message
    );
    // The next successful read clears it.
    controller.tick().await.expect("read works again");
    let mut cleared = false;
    while let Ok(e) = entries.try_recv() {
        cleared |= matches!(
            e.event,
            failoverd::store::Event::AlarmCleared {
                code: failoverd::alarm::AlarmCode::BackendError
            }
        );
    }
    assert!(cleared);
}

/// `failoverd run` itself, pointed at the fake only through the standard AWS environment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_finds_the_fake_through_aws_endpoint_url_and_drains_a_failing_region() {
    let fake = GaFake::default();
    fake.insert(GaFake::group(EU, &[("alb-ring1", 200), ("alb-ring2", 55)]));
    fake.insert(GaFake::group(US, &[("nlb-1", 128)]));
    let ga = fake.serve().await;
    let deep = support::serve(None).await.addr;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = support::aws_daemon_config(
        dir.path(),
        "ga-e2e",
        &format!(
            r#"
[traffic]
backend = "global_accelerator"
[[regions]]
name = "eu-west-1"
capacity_rps = 50
spill_to = ["us-east-1"]
probes = [{{ url = "http://{deep}/unavailable" }}]
traffic.global_accelerator = {{ endpoint_group_arn = "{EU}" }}
[[regions]]
name = "us-east-1"
capacity_rps = 100
spill_to = ["eu-west-1"]
probes = [{{ url = "http://{deep}/ok" }}]
traffic.global_accelerator = {{ endpoint_group_arn = "{US}" }}
"#
        ),
    );
    let written = fake.next_write();
    let mut daemon = tokio::process::Command::new(env!("CARGO_BIN_EXE_failoverd"))
        .args(["run", "--config"])
        .arg(&config)
        .env(
            "AWS_ENDPOINT_URL_GLOBAL_ACCELERATOR",
            format!("http://{ga}"),
        )
        .envs(support::local_aws_env(dir.path()))
        .env_remove("AWS_PROFILE")
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    tokio::time::timeout(std::time::Duration::from_secs(30), written)
        .await
        .expect("the daemon wrote a dial");
    assert_eq!(fake.get(EU)["TrafficDialPercentage"], json!(0.0));
    assert_eq!(fake.get(US)["TrafficDialPercentage"], json!(100.0));
    let write = fake.writes().remove(0);
    assert_eq!(write.body["EndpointGroupArn"], json!(EU));
    assert_eq!(support::terminate(&mut daemon).await, Some(0));
}

/// eu-west-1's two clusters as units of their own (ring 1 and ring 2), each carried by its own
/// endpoint's weight in eu-west-1's one endpoint group; us-east-1 by its dial.
fn clusters(blue_weight: u8, green: &str) -> String {
    format!(
        r#"
[controller]
id = "t"
control_region = "local"
[traffic]
backend = "global_accelerator"
[[regions]]
name = "eu-west-1-blue"
ring = 1
capacity_rps = 100
spill_to = ["eu-west-1-green", "us-east-1"]
probes = [{{ url = "http://127.0.0.1:9/" }}]
traffic.global_accelerator = {{ endpoint_group_arn = "{EU}", share_by = "weights", endpoints = [{{ id = "alb-blue", weight = {blue_weight} }}] }}
[[regions]]
name = "eu-west-1-green"
ring = 2
capacity_rps = 100
spill_to = ["eu-west-1-blue", "us-east-1"]
probes = [{{ url = "http://127.0.0.1:9/" }}]
traffic.global_accelerator = {{ endpoint_group_arn = "{EU}", {green} }}
[[regions]]
name = "us-east-1"
ring = 2
capacity_rps = 100
spill_to = ["eu-west-1-green"]
probes = [{{ url = "http://127.0.0.1:9/" }}]
traffic.global_accelerator = {{ endpoint_group_arn = "{US}" }}
"#
    )
}

fn weight(group: &serde_json::Value, id: &str) -> i64 {
    group["EndpointDescriptions"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["EndpointId"] == id))
        .and_then(|d| d["Weight"].as_i64())
        .unwrap_or(-1)
}

#[tokio::test]
async fn a_cluster_is_drained_by_its_endpoint_weight_while_the_rest_of_its_region_serves() {
    let text = clusters(
        200,
        r#"share_by = "weights", endpoints = [{ id = "alb-green", weight = 128 }]"#,
    );
    let config = Config::from_toml(&text, Path::new("t.toml")).expect("valid config");
    let fake = GaFake::default();
    fake.insert(GaFake::group(EU, &[("alb-blue", 200), ("alb-green", 128)]));
    fake.insert(GaFake::group(US, &[("nlb-1", 128)]));
    let backend = backend_for(&fake, &config).await;
    let shares = backend.read().await.expect("read");
    assert!(shares.values().all(|s| *s == Share::FULL), "{shares:?}");
    // The blue cluster (ring 1) drains: its endpoint's weight goes to 0; the dial, the green
    // endpoint and the other group stay as they were.
    backend
        .apply(&[change("eu-west-1-blue", 100, 0)])
        .await
        .expect("apply");
    let eu = fake.get(EU);
    assert_eq!(weight(&eu, "alb-blue"), 0);
    assert_eq!(weight(&eu, "alb-green"), 128);
    assert_eq!(eu["TrafficDialPercentage"], json!(100.0));
    let shares = backend.read().await.expect("read");
    assert_eq!(shares["eu-west-1-blue"], Share::ZERO);
    assert_eq!(shares["eu-west-1-green"], Share::FULL);
    // A step back up is a weight in proportion to its normal one, read back as written.
    for pct in [25, 33, 50, 99, 100] {
        let before = backend.read().await.expect("read")["eu-west-1-blue"];
        backend
            .apply(&[ShareChange {
                region: "eu-west-1-blue".into(),
                from: before,
                to: Share::try_new(pct).expect("share"),
            }])
            .await
            .expect("apply");
        assert_eq!(
            backend.read().await.expect("read")["eu-west-1-blue"].get(),
            pct,
            "weight {}",
            weight(&fake.get(EU), "alb-blue")
        );
    }
    assert_eq!(weight(&fake.get(EU), "alb-blue"), 200);
    // An endpoint gone from the group gives no share, not a made-up one: the unit is missing.
    fake.insert(GaFake::group(EU, &[("alb-green", 128)]));
    let shares = backend.read().await.expect("read");
    assert!(!shares.contains_key("eu-west-1-blue"), "{shares:?}");
    assert_eq!(shares["eu-west-1-green"], Share::FULL);
}

#[test]
fn units_sharing_an_endpoint_group_must_each_carry_their_share_by_weights_of_their_own() {
    let refused = |text: String| -> Vec<String> {
        match Config::from_toml(&text, Path::new("t.toml")) {
            Err(failoverd::config::Error::Invalid(errors)) => {
                errors.iter().map(ToString::to_string).collect()
            }
            other => panic!("not refused: {other:?}"),
        }
    };
    assert_eq!(
        refused(clusters(200, r#"share_by = "dial""#)),
        [
            "regions[1].traffic.global_accelerator.endpoint_group_arn: is bound by regions[0] too; one endpoint group serves several units only with share_by = \"weights\" in each, over endpoints of their own"
        ]
    );
    assert_eq!(
        refused(clusters(
            200,
            r#"share_by = "weights", endpoints = [{ id = "alb-blue", weight = 128 }]"#
        )),
        [
            "regions[1].traffic.global_accelerator.endpoints: alb-blue also carry the share of regions[0]; each endpoint belongs to one unit"
        ]
    );
    assert_eq!(
        refused(clusters(
            55,
            r#"share_by = "weights", endpoints = [{ id = "alb-green", weight = 128 }]"#
        )),
        [
            "regions[0].traffic.global_accelerator.endpoints[0].weight: must be at least 100 with share_by = \"weights\", so every whole percent of share has a weight of its own (got 55)"
        ]
    );
}

#[tokio::test]
async fn an_update_is_not_sent_once_the_leadership_epoch_has_ended() {
    let (fake, backend) = setup().await;
    let epoch = failoverd::traffic::Epoch::new(7);
    let backend = backend.fenced(epoch.clone());
    backend
        .apply(&[change("eu-west-1", 100, 75)])
        .await
        .expect("leading: sent");
    assert_eq!(fake.writes().len(), 1);
    // The lease may have ended: nothing more is sent, and the error says why (retryable, so
    // no sticky fence alarm: it is simply not this controller's turn).
    epoch.set(0, None);
    let e = backend
        .apply(&[change("eu-west-1", 75, 50)])
        .await
        .expect_err("not leading");
    assert_eq!(e.code, ErrorCode::Unavailable, "{e}");
    assert!(e.to_string().contains("leadership ended"), "{e}");
    assert_eq!(fake.writes().len(), 1, "nothing sent");
    assert_eq!(fake.get(EU)["TrafficDialPercentage"], json!(75.0));
    // Leading again (a new term), writes resume.
    epoch.set(8, None);
    backend
        .apply(&[change("eu-west-1", 75, 50)])
        .await
        .expect("sent");
    assert_eq!(fake.get(EU)["TrafficDialPercentage"], json!(50.0));
}
