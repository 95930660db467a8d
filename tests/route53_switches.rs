//! `failoverd setup route53-switches` and `check-config --live` through the real AWS SDK against
//! the moto server: the plan on an empty account, the checks a first apply creates and the record
//! associations a later one makes (read back from the emulator), a second run with nothing to do,
//! a record carrying the team's own health check moved onto a check needing both it and the
//! switch, switches of several
//! services; the binary end to end with its exit codes (`command`); disabled, inverted and
//! wrong-threshold checks reported as conflicts (`unsafe_checks`); a controller check's failure
//! threshold set to the config's and its request interval reported (`drift`); and, against the wire fake
//! `r53_fake` because moto does not make a DELETE match exactly, the record writes as a
//! compare-and-swap (`cas`).

mod moto;
mod r53_fake;

#[path = "route53_switches/cas.rs"]
mod cas;
#[path = "route53_switches/command.rs"]
mod command;
#[path = "route53_switches/drift.rs"]
mod drift;
#[path = "route53_switches/unsafe_checks.rs"]
mod unsafe_checks;

use std::collections::BTreeSet;
use std::path::Path;

use aws_sdk_route53::Client;
use aws_sdk_route53::types::{
    HealthCheck, HealthCheckConfig, HealthCheckType, ResourceRecordSet, ResourceRecordSetFailover,
    TagResourceType,
};
use failoverd::config::Config;
use failoverd::setup;
use failoverd::traffic::route53::switch_setup::{Outcome, Plan, Route53Api, Step, plan};
use moto::Moto;

const API: &str = "api.example.com.";
const WWW: &str = "www.example.com.";

/// Three controllers (a cluster: one alone serves only its own switch states): two by address
/// (loopback, so the setup warns) and one by name.
const SWITCHES: &str = r#"
[cluster]
endpoints = ["http://127.0.0.1:2379"]
[switches]
tls_cert = "/etc/failoverd/switch.crt"
tls_key = "/etc/failoverd/switch.key"
request_interval = "30s"
failure_threshold = 3
controllers = [
  { id = "c1", address = "127.0.0.1", port = 9443 },
  { id = "c2", address = "127.0.0.2", port = 9444 },
  { id = "c3", address = "switch-c3.example.net" },
]
"#;

fn head() -> String {
    format!(
        r#"
[controller]
id = "c1"
control_region = "local"
[traffic]
backend = "route53"
[traffic.route53]
confirm_poll = "10ms"
mode = "switches"
[traffic.retry]
attempts = 3
base_delay = "1ms"
max_delay = "5ms"
{SWITCHES}"#
    )
}

/// Two regions, each with a weighted `api` record and one record of the `www` failover pair.
fn estate(zone: &str) -> String {
    let mut text = head();
    for (region, other, role, value) in [
        ("us-east-1", "eu-west-1", "primary", "192.0.2.10"),
        ("eu-west-1", "us-east-1", "secondary", "198.51.100.20"),
    ] {
        text.push_str(&format!(
            r#"
[[regions]]
name = "{region}"
capacity_rps = 100
spill_to = ["{other}"]
probes = [{{ url = "http://127.0.0.1:9/" }}]
traffic.route53 = {{ hosted_zone_id = "{zone}", record_name = "{API}", set_identifier = "{region}", routing = "weighted" }}
knobs = [{{ route53 = {{ hosted_zone_id = "{zone}", record_name = "{WWW}", set_identifier = "{role}", routing = "failover", values = ["{value}"] }} }}]
"#
        ));
    }
    text
}

async fn seeded_zone(client: &Client) -> String {
    let zone = moto::zone(client, "example.com.").await;
    moto::create(
        client,
        &zone,
        vec![
            moto::record(API, "us-east-1", &["192.0.2.1"], Some(100), None),
            moto::record(API, "eu-west-1", &["192.0.2.2"], Some(100), None),
            moto::record(
                WWW,
                "primary",
                &["192.0.2.10"],
                None,
                Some(ResourceRecordSetFailover::Primary),
            ),
            moto::record(
                WWW,
                "secondary",
                &["198.51.100.20"],
                None,
                Some(ResourceRecordSetFailover::Secondary),
            ),
        ],
    )
    .await;
    zone
}

fn config(text: &str) -> Config {
    Config::from_toml(text, Path::new("switches.toml")).expect("valid config")
}

fn api(client: Client, config: &Config) -> Route53Api {
    Route53Api::new(client, &config.traffic.route53, &config.traffic.calls())
}

async fn plan_of(api: &Route53Api, config: &Config) -> Plan {
    let wanted = setup::wanted(config).expect("wanted");
    let discovered = api.discover(&wanted).await.expect("discover");
    plan(&wanted, &discovered.found)
}

/// One `--apply` as the command makes it: a fresh read and plan, records moved only onto checks
/// that existed before it; the outcome and the lines it reported.
async fn apply_once(api: &Route53Api, config: &Config) -> (Outcome, Vec<String>) {
    let wanted = setup::wanted(config).expect("wanted");
    let discovered = api.discover(&wanted).await.expect("discover");
    let settled = discovered.check_ids();
    let plan = plan(&wanted, &discovered.found);
    let mut lines = Vec::new();
    let outcome = api
        .apply(&wanted, &settled, discovered, plan, |p| {
            lines.push(p.to_string())
        })
        .await
        .expect("apply");
    (outcome, lines)
}

fn count(plan: &Plan, f: impl Fn(&Step) -> bool) -> usize {
    plan.steps.iter().filter(|s| f(s)).count()
}

async fn health_checks(client: &Client) -> Vec<HealthCheck> {
    client
        .list_health_checks()
        .send()
        .await
        .expect("list health checks")
        .health_checks()
        .to_vec()
}

fn config_of(c: &HealthCheck) -> &HealthCheckConfig {
    c.health_check_config().expect("config")
}

/// The calculated check whose children probe `path`.
fn calculated_for<'a>(checks: &'a [HealthCheck], path: &str) -> &'a HealthCheck {
    let children: BTreeSet<&str> = checks
        .iter()
        .filter(|c| config_of(c).resource_path() == Some(path))
        .map(|c| c.id())
        .collect();
    assert_eq!(children.len(), 3, "one check per controller of {path}");
    checks
        .iter()
        .find(|c| {
            config_of(c).r#type() == &HealthCheckType::Calculated
                && config_of(c)
                    .child_health_checks()
                    .iter()
                    .map(String::as_str)
                    .collect::<BTreeSet<_>>()
                    == children
        })
        .unwrap_or_else(|| panic!("a calculated check over the checks of {path}"))
}

fn values(r: &ResourceRecordSet) -> Vec<&str> {
    r.resource_records().iter().map(|v| v.value()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_account_gets_every_check_and_association_and_a_second_run_has_nothing_to_do() {
    let moto = Moto::start().await;
    let client = moto.route53();
    let zone = seeded_zone(&client).await;
    let config = config(&estate(&zone));
    let api = api(client.clone(), &config);

    let wanted = setup::wanted(&config).expect("wanted");
    assert_eq!(wanted.warnings.len(), 2, "{:?}", wanted.warnings);
    assert!(wanted.warnings[0].contains("controller c1 (127.0.0.1)"));

    let first = plan_of(&api, &config).await;
    assert!(first.conflicts.is_empty(), "{:?}", first.conflicts);
    // 2 switches × 3 controllers, a calculated check per switch, 2 weighted + 2 failover records.
    assert_eq!(
        count(&first, |s| matches!(s, Step::CreateEndpoint { .. })),
        6
    );
    assert_eq!(
        count(&first, |s| matches!(s, Step::CreateCalculated { .. })),
        2
    );
    assert_eq!(
        count(&first, |s| matches!(s, Step::SetRecordCheck { .. })),
        4
    );
    let lines: Vec<String> = first.steps.iter().map(ToString::to_string).collect();
    assert!(
        lines.contains(&"create health check: switch us-east-1, controller c3: HTTPS switch-c3.example.net:9443/switch/us-east-1, every 30s, 3 results to change state".to_owned()),
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with(&format!(
            "set health check: switch eu-west-1, record {WWW} A \"secondary\" in zone {zone} (regions[1].knobs[0].route53)"
        ))),
        "{lines:#?}"
    );

    // The first apply creates the checks and moves no record onto them: Route 53 counts a new
    // check healthy until it has data, which would bring back a region whose switch is off.
    let (made, lines) = apply_once(&api, &config).await;
    assert_eq!(made.changes, 8, "{lines:#?}");
    assert_eq!(made.deferred.len(), 4, "{made:#?}");
    assert!(
        moto::records(&client, &zone)
            .await
            .iter()
            .all(|r| r.health_check_id().is_none()),
        "no record carries a check created in the same run"
    );
    let waiting = plan_of(&api, &config).await;
    assert_eq!(
        count(&waiting, |s| matches!(s, Step::SetRecordCheck { .. })),
        4
    );
    assert!(waiting.steps.iter().all(|s| !s.needs_new_check()));
    // A later run attaches them.
    let (made, lines) = apply_once(&api, &config).await;
    assert_eq!((made.changes, made.deferred.len()), (4, 0), "{lines:#?}");
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("done: set the health check of")),
        "{lines:#?}"
    );

    let checks = health_checks(&client).await;
    assert_eq!(checks.len(), 8);
    for c in checks
        .iter()
        .filter(|c| config_of(c).r#type() == &HealthCheckType::Https)
    {
        let cfg = config_of(c);
        assert_eq!(cfg.request_interval(), Some(30));
        assert_eq!(cfg.failure_threshold(), Some(3));
        assert!(c.caller_reference().starts_with("failoverd-"));
        match (cfg.ip_address(), cfg.fully_qualified_domain_name()) {
            (Some("127.0.0.1"), None) => assert_eq!(cfg.port(), Some(9443)),
            (Some("127.0.0.2"), None) => assert_eq!(cfg.port(), Some(9444)),
            (None, Some("switch-c3.example.net")) => assert_eq!(cfg.port(), Some(9443)),
            other => panic!("unexpected target {other:?}"),
        }
    }
    for (path, records) in [
        ("/switch/us-east-1", [(API, "us-east-1"), (WWW, "primary")]),
        (
            "/switch/eu-west-1",
            [(API, "eu-west-1"), (WWW, "secondary")],
        ),
    ] {
        let calc = calculated_for(&checks, path);
        assert_eq!(
            config_of(calc).health_threshold(),
            Some(2),
            "a majority of 3"
        );
        let tags = client
            .list_tags_for_resource()
            .resource_type(TagResourceType::Healthcheck)
            .resource_id(calc.id())
            .send()
            .await
            .expect("tags");
        let switch = path.trim_start_matches("/switch/");
        let tags = tags.resource_tag_set().expect("tag set").tags();
        assert!(
            tags.iter()
                .any(|t| t.key() == Some("failoverd:switch") && t.value() == Some(switch)),
            "{tags:?}"
        );
        for (name, set_id) in records {
            let r = moto::records(&client, &zone)
                .await
                .into_iter()
                .find(|r| r.name() == name && r.set_identifier() == Some(set_id))
                .expect("record");
            assert_eq!(r.health_check_id(), Some(calc.id()), "{name} {set_id}");
            assert_eq!(r.ttl(), Some(60), "TTL kept");
        }
    }
    let api_us = moto::by_set_id(&client, &zone, "us-east-1").await;
    assert_eq!(
        (api_us.weight(), values(&api_us)),
        (Some(100), vec!["192.0.2.1"])
    );
    let primary = moto::by_set_id(&client, &zone, "primary").await;
    assert_eq!(
        primary.failover(),
        Some(&ResourceRecordSetFailover::Primary)
    );
    assert_eq!(values(&primary), vec!["192.0.2.10"]);

    let second = plan_of(&api, &config).await;
    assert!(second.in_place(), "{second:#?}");
    assert_eq!(second.records_in_place, 4);
    assert_eq!(health_checks(&client).await.len(), 8, "nothing duplicated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_carrying_the_teams_own_check_keeps_it_inside_a_check_that_also_needs_the_switch()
{
    let moto = Moto::start().await;
    let client = moto.route53();
    let zone = seeded_zone(&client).await;
    let theirs = client
        .create_health_check()
        .caller_reference("team-x-alb-check")
        .health_check_config(
            HealthCheckConfig::builder()
                .r#type(HealthCheckType::Http)
                .ip_address("192.0.2.99")
                .port(80)
                .resource_path("/healthz")
                .build()
                .expect("config"),
        )
        .send()
        .await
        .expect("create")
        .health_check()
        .expect("check")
        .id()
        .to_owned();
    let mut r = moto::by_set_id(&client, &zone, "eu-west-1").await;
    r.health_check_id = Some(theirs.clone());
    moto::upsert(&client, &zone, r).await;

    let config = config(&estate(&zone));
    let api = api(client.clone(), &config);
    let first = plan_of(&api, &config).await;
    assert!(first.conflicts.is_empty(), "{:?}", first.conflicts);
    assert_eq!(
        count(
            &first,
            |s| matches!(s, Step::CreateCombined { team, .. } if *team == theirs)
        ),
        1
    );
    assert_eq!(
        count(&first, |s| matches!(s, Step::SetRecordCombined { .. })),
        1
    );
    assert_eq!(
        count(&first, |s| matches!(s, Step::SetRecordCheck { .. })),
        3
    );
    // The first run creates the checks; the records move once Route 53 has data for them.
    let (outcome, _) = apply_once(&api, &config).await;
    assert_eq!(outcome.deferred.len(), 4, "{:?}", outcome.deferred);
    assert_eq!(
        moto::by_set_id(&client, &zone, "eu-west-1")
            .await
            .health_check_id(),
        Some(theirs.as_str()),
        "their check stays until the combined check has data"
    );
    let (_, lines) = apply_once(&api, &config).await;
    let checks = health_checks(&client).await;
    let switch = calculated_for(&checks, "/switch/eu-west-1").id().to_owned();
    let carried = moto::by_set_id(&client, &zone, "eu-west-1")
        .await
        .health_check_id()
        .expect("a check")
        .to_owned();
    let combined = checks
        .iter()
        .find(|c| c.id() == carried)
        .expect("the combined check exists");
    assert_eq!(config_of(combined).r#type(), &HealthCheckType::Calculated);
    assert_eq!(
        config_of(combined).health_threshold(),
        Some(2),
        "both needed"
    );
    assert_eq!(
        config_of(combined)
            .child_health_checks()
            .iter()
            .map(String::as_str)
            .collect::<BTreeSet<_>>(),
        BTreeSet::from([theirs.as_str(), switch.as_str()])
    );
    assert!(
        lines.iter().any(|l| l.contains(&format!(
            "which keeps the team's check {theirs} and adds the switch"
        ))),
        "{lines:?}"
    );
    // Their check itself is untouched, and a third run has nothing to do.
    let kept = checks.iter().find(|c| c.id() == theirs).expect("theirs");
    assert_eq!(config_of(kept).resource_path(), Some("/healthz"));
    let third = plan_of(&api, &config).await;
    assert!(third.in_place(), "{:?}", third);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_service_region_is_a_switch_of_its_own() {
    let moto = Moto::start().await;
    let client = moto.route53();
    let zone = moto::zone(&client, "example.com.").await;
    let mut seeded = Vec::new();
    let mut text = head();
    for (region, other) in [("us-east-1", "eu-west-1"), ("eu-west-1", "us-east-1")] {
        text.push_str(&format!(
            "[[regions]]\nname = \"{region}\"\nspill_to = [\"{other}\"]\n"
        ));
    }
    for service in ["www", "api"] {
        text.push_str(&format!("[[services]]\nname = \"{service}\"\n"));
        let name = format!("{service}.example.com.");
        for region in ["us-east-1", "eu-west-1"] {
            // Set identifiers unique in the zone: moto's DELETE removes every record with the
            // set identifier, whatever its name.
            let set_id = format!("{service}-{region}");
            seeded.push(moto::record(
                &name,
                &set_id,
                &["192.0.2.1"],
                Some(100),
                None,
            ));
            text.push_str(&format!(
                r#"[[services.regions]]
name = "{region}"
capacity_rps = 1000
probes = [{{ url = "http://127.0.0.1:9/" }}]
knobs = [{{ route53 = {{ hosted_zone_id = "{zone}", record_name = "{name}", set_identifier = "{set_id}", routing = "weighted" }} }}]
"#
            ));
        }
    }
    moto::create(&client, &zone, seeded).await;
    let config = config(&text);
    let api = api(client.clone(), &config);
    let first = plan_of(&api, &config).await;
    let switches: BTreeSet<&str> = first
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::CreateCalculated { switch, .. } => Some(switch.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        switches,
        BTreeSet::from([
            "api/eu-west-1",
            "api/us-east-1",
            "www/eu-west-1",
            "www/us-east-1"
        ])
    );
    apply_once(&api, &config).await;
    apply_once(&api, &config).await;
    let checks = health_checks(&client).await;
    assert_eq!(checks.len(), 4 * 4);
    let calc = calculated_for(&checks, "/switch/api/eu-west-1");
    let records = moto::records(&client, &zone).await;
    let r = records
        .iter()
        .find(|r| r.name() == "api.example.com." && r.set_identifier() == Some("api-eu-west-1"))
        .expect("record");
    assert_eq!(r.health_check_id(), Some(calc.id()));
    let after = plan_of(&api, &config).await;
    assert!(after.in_place(), "{after:#?}");
}
