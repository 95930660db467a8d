//! Records without a weight drained through the Route 53 API, the control-plane fallback for a
//! team without switches (`mode = "records"`): a latency record's `HealthCheckId` re-pointed at
//! the always-unhealthy check and back, against moto; a geoproximity record's `Bias` stepped
//! down before its check is re-pointed (and, in `mixed` mode, before its switch withdraws it),
//! against the project's wire fake, since moto does not store `GeoProximityLocation`; and
//! `failoverd setup route53-withdrawn` and `check-config --live` end to end against moto.

mod moto;
mod r53_fake;
mod support;

#[path = "route53_withdrawn/controller.rs"]
mod controller;
#[path = "route53_withdrawn/unverified.rs"]
mod unverified;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_route53::Client;
use aws_sdk_route53::types::{HealthCheckConfig, HealthCheckType, ResourceRecordSet, RrType};
use failoverd::config::{Config, TrafficConfig};
use failoverd::share::Share;
use failoverd::traffic::route53::Route53Settings;
use failoverd::traffic::route53::records::bias_for;
use failoverd::traffic::route53::switch_setup::Route53Api;
use failoverd::traffic::switches::{MemoryStore, Mode, SwitchBoard, Switched, Wiring};
use failoverd::traffic::{Epoch, TrafficBackend, Writer};
use moto::{Moto, failoverd, text};
use r53_fake::health_checks::FakeCheck;
use r53_fake::{GeoProximity, R53Fake, Rrset};
use support::{change, route53};

pub(crate) const NAME: &str = "api.example.com.";

/// A config in `mode` (`records`, with the always-unhealthy check `withdrawn`; or `mixed`, with
/// a `[switches]` table) and `regions`.
pub(crate) fn config(mode: &str, withdrawn: &str, regions: &str) -> Config {
    let tail = if mode == "records" {
        format!("withdrawn_health_check_id = \"{withdrawn}\"\n")
    } else {
        "[switches]\ntls_cert = \"s.pem\"\ntls_key = \"s.key\"\ncontrollers = [{ id = \"c1\", address = \"198.51.100.1\" }]\n".to_owned()
    };
    let text = format!(
        "[controller]\nid = \"c1\"\ncontrol_region = \"local\"\n[traffic]\nbackend = \"route53\"\n[traffic.retry]\nattempts = 2\nbase_delay = \"1ms\"\nmax_delay = \"2ms\"\n[traffic.route53]\nmode = \"{mode}\"\nconfirm_poll = \"10ms\"\n{tail}{regions}"
    );
    Config::from_toml(&text, Path::new("t.toml")).expect("valid config")
}

pub(crate) fn region(name: &str, spill: &str, binding: &str) -> String {
    support::route53_region(name, spill, binding)
}

fn share(s: u8) -> Share {
    Share::try_new(s).expect("share")
}

/// The team's own HTTPS health check, in moto.
async fn team_check(client: &Client) -> String {
    let config = HealthCheckConfig::builder()
        .r#type(HealthCheckType::Https)
        .ip_address("192.0.2.10")
        .port(443)
        .resource_path("/healthz")
        .request_interval(30)
        .failure_threshold(3)
        .build()
        .expect("config");
    client
        .create_health_check()
        .caller_reference("team-check")
        .health_check_config(config)
        .send()
        .await
        .expect("create health check")
        .health_check()
        .expect("check")
        .id()
        .to_owned()
}

/// A latency record for the region its set identifier names.
pub(crate) fn latency(
    set_id: &str,
    rtype: RrType,
    check: Option<&str>,
    value: &str,
) -> ResourceRecordSet {
    moto::latency(NAME, (set_id, rtype), set_id, check, value)
}

/// The health check each of `set_id`'s records carries, by type.
pub(crate) async fn checks_of(
    client: &Client,
    zone: &str,
    set_id: &str,
) -> Vec<(String, Option<String>)> {
    moto::records(client, zone)
        .await
        .into_iter()
        .filter(|r| r.set_identifier() == Some(set_id))
        .map(|r| {
            (
                r.r#type().as_str().to_owned(),
                r.health_check_id().map(str::to_owned),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_records_mode_a_latency_drain_re_points_both_records_at_the_withdrawn_check_and_a_restore_points_them_back()
 {
    let moto = Moto::start().await;
    let client = moto.route53();
    let zone = moto::zone(&client, "example.com.").await;
    let team = team_check(&client).await;
    let api = Route53Api::new(
        client.clone(),
        &Route53Settings::default(),
        &TrafficConfig::default().calls(),
    );
    let withdrawn = api
        .create_withdrawn()
        .await
        .expect("create the withdrawn check");
    assert_eq!(
        api.find_withdrawn().await.expect("list").map(|c| c.id),
        Some(withdrawn.clone()),
        "moto keeps it as always unhealthy: CALCULATED, needing 1 of 0 children"
    );
    moto::create(
        &client,
        &zone,
        vec![
            latency("us-east-1", RrType::A, Some(&team), "192.0.2.1"),
            latency("us-east-1", RrType::Aaaa, Some(&team), "2001:db8::1"),
            latency("eu-west-1", RrType::A, None, "192.0.2.2"),
        ],
    )
    .await;
    let config = config(
        "records",
        &withdrawn,
        &[
            region(
                "us-east-1",
                "eu-west-1",
                &format!(
                    r#"hosted_zone_id = "{zone}", record_name = "{NAME}", record_type = ["A", "AAAA"], set_identifier = "us-east-1", routing = "latency", latency_region = "us-east-1", health_check_id = "{team}""#
                ),
            ),
            region(
                "eu-west-1",
                "us-east-1",
                &format!(
                    r#"hosted_zone_id = "{zone}", record_name = "{NAME}", set_identifier = "eu-west-1", routing = "latency""#
                ),
            ),
        ]
        .concat(),
    );
    let backend = route53(client.clone(), &config, 1);
    assert!(
        backend.all_or_nothing("us-east-1"),
        "latency records move whole"
    );
    let shares = backend.read().await.expect("read");
    assert_eq!(
        (shares["us-east-1"], shares["eu-west-1"]),
        (Share::FULL, Share::FULL)
    );

    backend
        .apply(&[change("us-east-1", 100, 0)])
        .await
        .expect("drain through the API");
    let w = Some(withdrawn.clone());
    assert_eq!(
        checks_of(&client, &zone, "us-east-1").await,
        [("A".to_owned(), w.clone()), ("AAAA".to_owned(), w.clone())],
        "both records of the dual-stack name, in one batch"
    );
    let drained = moto::by_set_id(&client, &zone, "us-east-1").await;
    assert_eq!(
        drained.region().map(|r| r.as_str()),
        Some("us-east-1"),
        "the rest of the record is kept"
    );
    assert_eq!(drained.ttl(), Some(60));
    assert_eq!(
        backend.read().await.expect("read")["us-east-1"],
        Share::ZERO
    );

    // One batch: us-east-1 back onto the team's check, eu-west-1 (which had none) withdrawn.
    backend
        .apply(&[change("us-east-1", 0, 100), change("eu-west-1", 100, 0)])
        .await
        .expect("restore and drain");
    let t = Some(team.clone());
    assert_eq!(
        checks_of(&client, &zone, "us-east-1").await,
        [("A".to_owned(), t.clone()), ("AAAA".to_owned(), t)]
    );
    assert_eq!(
        checks_of(&client, &zone, "eu-west-1").await,
        [("A".to_owned(), w)]
    );
    backend
        .apply(&[change("eu-west-1", 0, 100)])
        .await
        .expect("restore");
    assert_eq!(
        checks_of(&client, &zone, "eu-west-1").await,
        [("A".to_owned(), None)],
        "a record that had no check serves with none again"
    );

    // Re-pointed by hand at another check: a restore would lose it, so the region is unread.
    moto::upsert(
        &client,
        &zone,
        latency("eu-west-1", RrType::A, Some(&team), "192.0.2.2"),
    )
    .await;
    let shares = backend.read().await.expect("read");
    assert_eq!(
        shares.keys().map(String::as_str).collect::<Vec<_>>(),
        ["us-east-1"],
        "{shares:?}"
    );
    assert_eq!(
        backend.unread("eu-west-1"),
        Some(format!(
            "{NAME} A (zone {zone}, set eu-west-1): the record carries health check {team}, which the binding does not name: set health_check_id = \"{team}\" so a restore points the record back at it"
        )),
        "the alarm names the record and what to do"
    );
    assert_eq!(backend.unread("us-east-1"), None);

    // The always-unhealthy check is read while failoverd runs: inverted, it would let a
    // drained record answer. A drain onto it is refused, saying why; a region whose record
    // already carries it is left unread, saying why; the others read and move as before.
    client
        .update_health_check()
        .health_check_id(&withdrawn)
        .inverted(true)
        .send()
        .await
        .expect("invert");
    let fresh = route53(client.clone(), &config, 1);
    let why = format!(
        "traffic.route53.withdrawn_health_check_id {withdrawn} would not keep a drained record out of answers: it is inverted (`failoverd setup route53-withdrawn --apply` makes one that does)"
    );
    assert_eq!(fresh.read().await.expect("read")["us-east-1"], Share::FULL);
    let refused = fresh
        .apply(&[change("us-east-1", 100, 0)])
        .await
        .expect_err("no drain onto a check that can turn healthy");
    assert!(
        refused
            .to_string()
            .contains(&format!("not withdrawing us-east-1: {why}")),
        "{refused}"
    );
    assert_eq!(
        checks_of(&client, &zone, "us-east-1").await,
        [
            ("A".to_owned(), Some(team.clone())),
            ("AAAA".to_owned(), Some(team.clone()))
        ],
        "nothing written"
    );
    moto::upsert(
        &client,
        &zone,
        latency("eu-west-1", RrType::A, Some(&withdrawn), "192.0.2.2"),
    )
    .await;
    let shares = fresh.read().await.expect("read");
    assert_eq!(
        shares.keys().map(String::as_str).collect::<Vec<_>>(),
        ["us-east-1"],
        "{shares:?}"
    );
    assert_eq!(
        fresh.unread("eu-west-1"),
        Some(format!("{NAME} A (zone {zone}, set eu-west-1): {why}"))
    );
}

pub(crate) fn geoproximity(set_id: &str, bias: Option<i32>, check: Option<&str>) -> Rrset {
    Rrset::geoproximity(
        NAME,
        set_id,
        GeoProximity {
            aws_region: Some(set_id.to_owned()),
            bias,
            ..GeoProximity::default()
        },
        check,
        &["192.0.2.1"],
    )
}

pub(crate) fn geo_binding(set_id: &str, extra: &str) -> String {
    format!(
        r#"hosted_zone_id = "ZGEO", record_name = "{NAME}", set_identifier = "{set_id}", routing = "geoproximity", geoproximity = {{ aws_region = "{set_id}", bias = 10 }}{extra}"#
    )
}

/// The bias and health check of `set_id`'s record in the fake.
pub(crate) fn state(fake: &R53Fake, set_id: &str) -> (Option<i32>, Option<String>) {
    let r = fake.record("ZGEO", set_id);
    (
        r.geo_proximity_location.and_then(|p| p.bias),
        r.health_check_id,
    )
}

#[tokio::test]
async fn in_records_mode_a_geoproximity_drain_steps_the_bias_down_then_re_points_the_check() {
    let fake = R53Fake::default();
    fake.zone(
        "ZGEO",
        vec![
            geoproximity("us-east-1", Some(10), Some("hc-team")),
            // A bias below the normal one reads as a step down: 0 of 10 is 91%.
            geoproximity("us-west-2", None, None),
        ],
    );
    let config = config(
        "records",
        "hc-down",
        &[
            region(
                "us-east-1",
                "us-west-2",
                &geo_binding("us-east-1", r#", health_check_id = "hc-team""#),
            ),
            region("us-west-2", "us-east-1", &geo_binding("us-west-2", "")),
        ]
        .concat(),
    );
    fake.health_checks(vec![FakeCheck::calculated("hc-down", &[], 1)]);
    let backend = route53(fake.client().await, &config, 1);
    assert!(
        !backend.all_or_nothing("us-east-1"),
        "its bias steps: the planner moves it in points"
    );
    let shares = backend.read().await.expect("read");
    assert_eq!(
        (shares["us-east-1"], shares["us-west-2"]),
        (Share::FULL, share(91))
    );
    assert_eq!(
        backend.unverified(),
        None,
        "the check was read and is sound"
    );

    backend
        .apply(&[change("us-east-1", 100, 60)])
        .await
        .expect("a step down");
    assert_eq!(
        state(&fake, "us-east-1"),
        (Some(bias_for(10, share(60))), Some("hc-team".to_owned()))
    );
    assert_eq!(bias_for(10, share(60)), -34);
    assert_eq!(backend.read().await.expect("read")["us-east-1"], share(60));

    backend
        .apply(&[change("us-east-1", 60, 0)])
        .await
        .expect("withdrawn");
    assert_eq!(
        state(&fake, "us-east-1"),
        (Some(-34), Some("hc-down".to_owned())),
        "the check is re-pointed, the bias left at its last step"
    );
    assert_eq!(
        backend.read().await.expect("read")["us-east-1"],
        Share::ZERO
    );

    backend
        .apply(&[change("us-east-1", 0, 100), change("us-west-2", 91, 100)])
        .await
        .expect("restored");
    assert_eq!(
        state(&fake, "us-east-1"),
        (Some(10), Some("hc-team".to_owned()))
    );
    assert_eq!(state(&fake, "us-west-2"), (Some(10), None));
    let shares = backend.read().await.expect("read");
    assert_eq!(
        (shares["us-east-1"], shares["us-west-2"]),
        (Share::FULL, Share::FULL)
    );

    // A bias raised by hand above the normal one is someone else's: the region is unread.
    fake.zone(
        "ZGEO",
        vec![
            geoproximity("us-east-1", Some(40), Some("hc-team")),
            geoproximity("us-west-2", Some(10), None),
        ],
    );
    let shares = backend.read().await.expect("read");
    assert!(!shares.contains_key("us-east-1"), "{shares:?}");
}

#[tokio::test]
async fn in_mixed_mode_a_geoproximity_bias_steps_through_the_api_and_its_switch_withdraws_it() {
    let fake = R53Fake::default();
    fake.zone(
        "ZGEO",
        vec![
            geoproximity("us-east-1", Some(10), Some("calc-1")),
            geoproximity("us-west-2", Some(10), Some("calc-2")),
        ],
    );
    let config = config(
        "mixed",
        "",
        &[
            region("us-east-1", "us-west-2", &geo_binding("us-east-1", "")),
            region("us-west-2", "us-east-1", &geo_binding("us-west-2", "")),
        ]
        .concat(),
    );
    let records = route53(fake.client().await, &config, 1);
    let keys = ["us-east-1".to_owned(), "us-west-2".to_owned()];
    let board = SwitchBoard::new(Arc::new(MemoryStore::default()), keys.iter().cloned());
    let writer = Writer {
        controller: "c1".to_owned(),
        epoch: Epoch::new(1),
    };
    let wiring = Wiring {
        mode: Mode::Mixed,
        keys: keys.to_vec(),
        flip_delay: Duration::from_secs(20),
        records_limit: Duration::from_secs(2),
    };
    let backend = Switched::new(records, board.clone(), writer, wiring);
    assert!(
        !backend.all_or_nothing("us-east-1"),
        "stepped while the API writes"
    );

    backend
        .apply(&[change("us-east-1", 100, 50)])
        .await
        .expect("a step down");
    assert_eq!(state(&fake, "us-east-1").0, Some(bias_for(10, share(50))));
    assert_eq!(backend.read().await.expect("read")["us-east-1"], share(50));
    assert!(board.snapshot().states.on("us-east-1"));

    backend
        .apply(&[change("us-east-1", 50, 0)])
        .await
        .expect("withdrawn by its switch");
    assert!(!board.snapshot().states.on("us-east-1"));
    assert_eq!(
        state(&fake, "us-east-1"),
        (Some(bias_for(10, share(50))), Some("calc-1".to_owned())),
        "the record keeps its last step and its switch's check"
    );
    assert_eq!(
        backend.read().await.expect("read")["us-east-1"],
        Share::ZERO
    );

    // With the API down, the knob moves whole, through the switch.
    fake.down(true);
    backend.read().await.expect("read from the switches");
    assert!(backend.all_or_nothing("us-east-1"));
    fake.down(false);
    backend.read().await.expect("read");
    backend
        .apply(&[change("us-east-1", 0, 100)])
        .await
        .expect("restored");
    assert_eq!(state(&fake, "us-east-1").0, Some(10));
    assert!(board.snapshot().states.on("us-east-1"));
    assert_eq!(
        backend.read().await.expect("read")["us-east-1"],
        Share::FULL
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_route53_withdrawn_finds_or_creates_the_check_and_check_config_live_holds_the_config_to_it()
 {
    let moto = Moto::start().await;
    let client = moto.route53();
    let zone = moto::zone(&client, "example.com.").await;

    let look = failoverd(&moto, &["setup", "route53-withdrawn"]);
    assert_eq!(look.status.code(), Some(1), "{}", text(&look));
    assert!(
        text(&look).contains("missing: an always-unhealthy health check"),
        "{}",
        text(&look)
    );

    let made = failoverd(&moto, &["setup", "route53-withdrawn", "--apply"]);
    assert_eq!(made.status.code(), Some(0), "{}", text(&made));
    let out = text(&made);
    let id = out
        .lines()
        .find_map(|l| l.strip_prefix("done: created: always-unhealthy health check "))
        .unwrap_or_else(|| panic!("{out}"))
        .to_owned();
    assert!(
        out.contains(&format!("withdrawn_health_check_id = \"{id}\"")),
        "{out}"
    );
    let checks = client
        .list_health_checks()
        .send()
        .await
        .expect("list")
        .health_checks()
        .to_vec();
    assert_eq!(checks.len(), 1);
    let made = checks[0].health_check_config().expect("config");
    assert_eq!(made.r#type(), &HealthCheckType::Calculated);
    assert_eq!(made.health_threshold(), Some(1));
    assert!(made.child_health_checks().is_empty());

    let again = failoverd(&moto, &["setup", "route53-withdrawn", "--apply"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert!(
        text(&again).contains(&format!("found: always-unhealthy health check {id}")),
        "{}",
        text(&again)
    );

    let team = team_check(&client).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("records.toml");
    let estate = |withdrawn: &str| {
        format!(
            "[controller]\nid = \"c1\"\ncontrol_region = \"local\"\n[traffic]\nbackend = \"route53\"\n[traffic.route53]\nwithdrawn_health_check_id = \"{withdrawn}\"\n{}{}",
            region(
                "us-east-1",
                "eu-west-1",
                &format!(
                    r#"hosted_zone_id = "{zone}", record_name = "{NAME}", set_identifier = "us-east-1", routing = "latency""#
                ),
            ),
            region(
                "eu-west-1",
                "us-east-1",
                &format!(
                    r#"hosted_zone_id = "{zone}", record_name = "{NAME}", set_identifier = "eu-west-1", routing = "latency""#
                ),
            ),
        )
    };
    let file = file.to_str().expect("utf-8");
    std::fs::write(file, estate(&id)).expect("write");
    let live = failoverd(&moto, &["check-config", "--skip-files", "--live", file]);
    assert_eq!(live.status.code(), Some(0), "{}", text(&live));
    assert!(
        text(&live).contains(
            "live: traffic.route53.withdrawn_health_check_id is an always-unhealthy check"
        ),
        "{}",
        text(&live)
    );
    std::fs::write(file, estate(&team)).expect("write");
    let live = failoverd(&moto, &["check-config", "--skip-files", "--live", file]);
    assert_eq!(live.status.code(), Some(1), "{}", text(&live));
    assert!(
        text(&live).contains(&format!(
            "live: conflict: traffic.route53.withdrawn_health_check_id {team} would not keep a drained record out of answers: it is an HTTPS check"
        )),
        "{}",
        text(&live)
    );
}
