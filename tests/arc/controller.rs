//! The controller and `failoverd run` driving ARC routing controls through the fake cluster.
//!
//! The controller's tests run on virtual time (`support::virtual_time`): each round of probes
//! comes a tick interval after the last tick and is stamped with the controller's clock, so no
//! reading shares a millisecond with the writes before it and none goes stale on a slow machine.

use std::sync::Arc;

use failoverd::clock::{Clock, Timestamp};
use failoverd::controller::Controller;
use failoverd::health::{ProbeStatus, RoundResult};
use failoverd::intent::Intents;
use failoverd::plan::TrafficPlan;
use failoverd::probe::Observation;
use failoverd::share::Share;
use failoverd::store::{Event, Journal};
use failoverd::traffic::TrafficBackend;

use super::arc_fake::{ArcFake, Mode};
use super::support::virtual_time::{TICK, skip};
use super::{AT_LEAST_ONE, CLUSTER, EU, US, backend_for, config, support};

/// The controller's journal entries so far.
fn events(entries: &mut tokio::sync::broadcast::Receiver<failoverd::store::Entry>) -> Vec<Event> {
    let mut out = Vec::new();
    while let Ok(e) = entries.try_recv() {
        out.push(e.event);
    }
    out
}

/// A tick interval after the last tick, `regions` answer their probes (stamped now on `clock`),
/// then a tick.
async fn round<B: TrafficBackend>(
    controller: &mut Controller<B>,
    clock: &Clock,
    regions: &[&str],
) -> Option<TrafficPlan> {
    skip(TICK).await;
    healthy_in(controller, clock.now(), regions);
    controller.tick().await
}

/// The two regions of [`config`].
const BOTH: [&str; 2] = ["eu-west-1", "us-east-1"];

/// `regions` answer their probes at `at` for `rise` rounds (the default 3), each at 30 rps.
fn healthy_in<B: TrafficBackend>(controller: &mut Controller<B>, at: Timestamp, regions: &[&str]) {
    for _ in 0..3 {
        for region in regions {
            controller.observe(Observation {
                service: None,
                region: (*region).to_owned(),
                round: RoundResult {
                    status: ProbeStatus::Pass,
                    reason: "200 OK".to_owned(),
                    at,
                },
                load_rps: Some(30.0),
                capacity_rps: None,
                outcomes: Vec::new(),
                versions: Vec::new(),
                validations: Vec::new(),
            });
        }
    }
}

/// Alice drains eu-west-1 to 0 from `now`, for an hour.
fn drained(now: Timestamp) -> Intents {
    drains(now, &["eu-west-1"])
}

/// Alice drains each of `regions` to 0 from `now`, for an hour.
fn drains(now: Timestamp, regions: &[&str]) -> Intents {
    support::drains(now, regions, false)
}

#[tokio::test]
async fn the_controller_drains_a_region_by_turning_its_routing_control_off() {
    let fake = ArcFake::start(&CLUSTER).await;
    fake.put(EU, true);
    fake.put(US, true);
    let config = Arc::new(config(&fake, ""));
    let backend = backend_for(&config);
    let (intents_tx, intents) = tokio::sync::watch::channel(Intents::default());
    let journal = Journal::in_memory();
    let mut entries = journal.subscribe();
    let clock = Clock::new();
    let now = clock.now();
    let mut controller = Controller::new(Arc::clone(&config), backend, clock, journal, intents);
    round(&mut controller, &clock, &BOTH)
        .await
        .expect("read works");
    assert!(fake.calls_of("UpdateRoutingControlStates").is_empty());

    intents_tx.send_replace(drained(now));
    let plan = round(&mut controller, &clock, &BOTH)
        .await
        .expect("planned");
    assert_eq!(fake.is_on(EU), Some(false), "{plan:?}");
    assert_eq!(fake.is_on(US), Some(true));
    let writes = fake.calls_of("UpdateRoutingControlStates");
    assert_eq!(writes.len(), 1, "one step, straight to Off");
    let shifted: Vec<(String, Share)> = events(&mut entries)
        .into_iter()
        .filter_map(|e| match e {
            Event::Shift { decisions, .. } => Some(decisions),
            _ => None,
        })
        .flatten()
        .map(|d| (d.region, d.to))
        .collect();
    assert_eq!(shifted, [("eu-west-1".to_owned(), Share::ZERO)]);
}

#[tokio::test]
async fn a_drain_a_safety_rule_blocks_is_journaled_and_alarmed_naming_the_rule_and_the_override() {
    let fake = ArcFake::start(&CLUSTER).await;
    fake.put(EU, true);
    fake.put(US, true);
    fake.assert_at_least(AT_LEAST_ONE, 2, &[EU, US]);
    let config = Arc::new(config(&fake, ""));
    let backend = backend_for(&config);
    let clock = Clock::new();
    let now = clock.now();
    let (_intents_tx, intents) = tokio::sync::watch::channel(drained(now));
    let journal = Journal::in_memory();
    let mut entries = journal.subscribe();
    let mut controller = Controller::new(Arc::clone(&config), backend, clock, journal, intents);
    round(&mut controller, &clock, &BOTH)
        .await
        .expect("planned");
    assert_eq!(
        fake.calls_of("UpdateRoutingControlStates").len(),
        1,
        "tried once; a refusal for good is not retried within the tick"
    );
    assert_eq!(fake.is_on(EU), Some(true), "the rule held");
    // What the operator reads in the journal: the rule, and how to let failoverd override it.
    let errors: Vec<String> = events(&mut entries)
        .into_iter()
        .filter_map(|e| match e {
            Event::BackendError { operation, message } if operation == "apply" => Some(message),
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with(&format!(
            "arc UpdateRoutingControlStates failed (blocked, permanent): ARC's safety rule {AT_LEAST_ONE} blocked the update (eu-west-1 Off), so no routing control was changed"
        )),
        "{}",
        errors[0]
    );
    assert!(
        errors[0].contains("traffic.arc.safety_rules_to_override"),
        "{}",
        errors[0]
    );
    // The plan still wants the drain: it is tried again next tick, under an alarm that says the
    // same and that it will not heal by itself.
    let plan = round(&mut controller, &clock, &BOTH)
        .await
        .expect("planned");
    let alarm = plan
        .alarms
        .iter()
        .find(|a| a.code == failoverd::alarm::AlarmCode::BackendError)
        .expect("backend_error alarm");
    assert!(
        alarm.message.contains(AT_LEAST_ONE)
            && alarm
                .message
                .contains("traffic.arc.safety_rules_to_override"),
        "{}",
        alarm.message
    );
    assert_eq!(fake.calls_of("UpdateRoutingControlStates").len(), 2);
    assert_eq!(fake.is_on(EU), Some(true));
}

const AP: &str =
    "arn:aws:route53-recovery-control::123456789012:controlpanel/cp1/routingcontrol/ap-southeast-2";
const EU_AND_US: &str =
    "arn:aws:route53-recovery-control::123456789012:controlpanel/cp1/safetyrule/eu-and-us-on";

/// Three regions on `fake`'s cluster: eu-west-1 and ap-southeast-2 spill to us-east-1, which has
/// room for both.
fn three_regions(fake: &ArcFake) -> failoverd::config::Config {
    let region = |name: &str, arn: &str, capacity: u32, spill_to: &str| {
        format!(
            r#"
[[regions]]
name = "{name}"
capacity_rps = {capacity}
spill_to = ["{spill_to}"]
probes = [{{ url = "http://127.0.0.1:9/" }}]
traffic.arc = {{ routing_control_arn = "{arn}" }}
"#
        )
    };
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
requests_per_second = 20
cluster_endpoints = {endpoints}
{eu}{us}{ap}"#,
        endpoints = fake.endpoints_toml(),
        eu = region("eu-west-1", EU, 100, "us-east-1"),
        us = region("us-east-1", US, 1000, "eu-west-1"),
        ap = region("ap-southeast-2", AP, 100, "us-east-1"),
    );
    failoverd::config::Config::from_toml(&text, std::path::Path::new("t.toml"))
        .expect("valid config")
}

/// Review 16, 2.5: a change a safety rule blocks for good is asked for again every tick; a
/// change the rule would allow on its own, planned later, must not be refused with it.
#[tokio::test]
async fn a_change_a_safety_rule_blocks_does_not_hold_back_another_in_the_same_tick() {
    let fake = ArcFake::start(&CLUSTER).await;
    for arn in [EU, US, AP] {
        fake.put(arn, true);
    }
    // eu-west-1 and us-east-1 must both stay On; ap-southeast-2 is under no rule.
    fake.assert_at_least(EU_AND_US, 2, &[EU, US]);
    let config = Arc::new(three_regions(&fake));
    let backend = backend_for(&config);
    let clock = Clock::new();
    let now = clock.now();
    let (intents_tx, intents) = tokio::sync::watch::channel(drains(now, &["eu-west-1"]));
    let journal = Journal::in_memory();
    let mut entries = journal.subscribe();
    let mut controller = Controller::new(Arc::clone(&config), backend, clock, journal, intents);
    let all = ["eu-west-1", "us-east-1", "ap-southeast-2"];
    round(&mut controller, &clock, &all).await.expect("planned");
    assert_eq!(fake.is_on(EU), Some(true), "the rule holds eu-west-1");
    events(&mut entries);

    // Later ap-southeast-2 is drained too: the tick's one call carries both Offs, and the rule
    // refuses it as a whole.
    fake.clear_calls();
    intents_tx.send_replace(drains(now, &["eu-west-1", "ap-southeast-2"]));
    let plan = round(&mut controller, &clock, &all).await.expect("planned");
    assert_eq!(
        fake.is_on(AP),
        Some(false),
        "ap-southeast-2 withdrawn: {plan:?}"
    );
    assert_eq!(
        fake.is_on(EU),
        Some(true),
        "eu-west-1 still held by the rule"
    );
    assert_eq!(fake.is_on(US), Some(true));
    let sent: Vec<serde_json::Value> = fake
        .calls_of("UpdateRoutingControlStates")
        .into_iter()
        .map(|c| c.body["UpdateRoutingControlStateEntries"].clone())
        .collect();
    let off =
        |arn: &str| serde_json::json!({ "RoutingControlArn": arn, "RoutingControlState": "Off" });
    assert_eq!(
        sent,
        [
            serde_json::json!([off(EU), off(AP)]),
            // Refused as a whole: each region's change again on its own.
            serde_json::json!([off(EU)]),
            serde_json::json!([off(AP)]),
        ],
        "one call for the batch, then one per region"
    );
    // Only eu-west-1's change is reported refused, naming the rule.
    let errors: Vec<String> = events(&mut entries)
        .into_iter()
        .filter_map(|e| match e {
            Event::BackendError { operation, message } if operation == "apply" => Some(message),
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains(&format!(
            "safety rule {EU_AND_US} blocked the update (eu-west-1 Off)"
        )),
        "{errors:?}"
    );
    // The next tick asks again only for what is still missing, and alarms on it.
    fake.clear_calls();
    let plan = round(&mut controller, &clock, &all).await.expect("planned");
    let sent: Vec<serde_json::Value> = fake
        .calls_of("UpdateRoutingControlStates")
        .into_iter()
        .map(|c| c.body["UpdateRoutingControlStateEntries"].clone())
        .collect();
    assert_eq!(sent, [serde_json::json!([off(EU)])]);
    let alarms: Vec<_> = plan
        .alarms
        .iter()
        .map(|a| (a.code, a.message.clone()))
        .collect();
    assert!(
        plan.alarms
            .iter()
            .any(|a| a.code == failoverd::alarm::AlarmCode::BackendError
                && a.message
                    .contains(&format!("{EU_AND_US} blocked the update (eu-west-1 Off)"))
                && a.message.contains("will not heal by itself")),
        "{alarms:#?}"
    );
    assert_eq!(
        fake.is_on(AP),
        Some(false),
        "ap-southeast-2 stays withdrawn"
    );
}

/// `failoverd run` itself: the cluster's endpoints from its config file, credentials from the
/// standard AWS environment, a failing region's routing control turned Off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_turns_a_failing_regions_routing_control_off() {
    let fake = ArcFake::start(&CLUSTER).await;
    fake.put(EU, true);
    fake.put(US, true);
    // The first endpoint is down from the start: the daemon goes on to the next.
    fake.set("us-east-1", Mode::Down).await;
    let deep = support::serve(None).await.addr;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = support::aws_daemon_config(
        dir.path(),
        "arc-e2e",
        &format!(
            r#"
[traffic]
backend = "arc"
[traffic.arc]
cluster_endpoints = {endpoints}
[[regions]]
name = "eu-west-1"
capacity_rps = 50
spill_to = ["us-east-1"]
probes = [{{ url = "http://{deep}/unavailable" }}]
traffic.arc = {{ routing_control_arn = "{EU}" }}
[[regions]]
name = "us-east-1"
capacity_rps = 100
spill_to = ["eu-west-1"]
probes = [{{ url = "http://{deep}/ok" }}]
traffic.arc = {{ routing_control_arn = "{US}" }}
"#,
            endpoints = fake.endpoints_toml()
        ),
    );
    let written = fake.next_write();
    let mut daemon = tokio::process::Command::new(env!("CARGO_BIN_EXE_failoverd"))
        .args(["run", "--config"])
        .arg(&config)
        .envs(support::local_aws_env(dir.path()))
        .env_remove("AWS_PROFILE")
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    tokio::time::timeout(std::time::Duration::from_secs(30), written)
        .await
        .expect("the daemon set a routing control");
    assert_eq!(fake.is_on(EU), Some(false));
    assert_eq!(fake.is_on(US), Some(true));
    let write = fake.calls_of("UpdateRoutingControlStates").remove(0);
    assert_eq!(write.endpoint, "us-west-2");
    assert_eq!(write.signed_for, "us-west-2");
    assert_eq!(support::terminate(&mut daemon).await, Some(0));
}
