//! Records without a weight (latency, geolocation, geoproximity), which failoverd reads and
//! withdraws through their region's data-plane switch, never writing them: against moto for
//! latency and geolocation records (moto stores `Region`, `GeoLocation` and `HealthCheckId`),
//! and against the project's wire fake for geoproximity (`GeoProximityLocation`, which moto
//! does not store) and for a drain and a restore with the whole Route 53 API down.

mod moto;
mod r53_fake;
mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_route53::Client;
use aws_sdk_route53::types::{
    GeoLocation, HealthCheckConfig, HealthCheckType, ResourceRecord, ResourceRecordSet, RrType,
};
use failoverd::config::Config;
use failoverd::share::Share;
use failoverd::traffic::route53::Route53Backend;
use failoverd::traffic::switches::{MemoryStore, Mode, SwitchBoard, Switched, Wiring};
use failoverd::traffic::{Epoch, TrafficBackend, Writer};
use moto::Moto;
use r53_fake::{GeoProximity, R53Fake, Rrset};
use support::{change, route53};

const NAME: &str = "api.example.com.";

/// A config in `mode` with a `[switches]` table, and `regions`.
fn config(mode: &str, regions: &str) -> Config {
    let text = format!(
        r#"
[controller]
id = "c1"
control_region = "local"
[traffic]
backend = "route53"
[traffic.route53]
mode = "{mode}"
confirm_poll = "10ms"
[traffic.retry]
attempts = 2
base_delay = "1ms"
max_delay = "2ms"
[switches]
tls_cert = "switch.pem"
tls_key = "switch.key"
controllers = [{{ id = "c1", address = "198.51.100.1" }}]
{regions}"#
    );
    Config::from_toml(&text, Path::new("t.toml")).expect("valid config")
}

fn region(name: &str, spill: &str, binding: &str) -> String {
    support::route53_region(name, spill, binding)
}

fn share(s: u8) -> Share {
    Share::try_new(s).expect("share")
}

/// `records` acting through a fresh switch board, in `mode`, for the knobs `keys`.
fn switched(
    mode: Mode,
    records: Route53Backend,
    keys: &[&str],
) -> (Switched<Route53Backend>, SwitchBoard) {
    let board = SwitchBoard::new(
        Arc::new(MemoryStore::default()),
        keys.iter().map(|k| (*k).to_owned()),
    );
    let writer = Writer {
        controller: "c1".to_owned(),
        epoch: Epoch::new(1),
    };
    let wiring = Wiring {
        mode,
        keys: keys.iter().map(|k| (*k).to_owned()).collect(),
        flip_delay: Duration::from_secs(20),
        records_limit: Duration::from_secs(2),
    };
    (Switched::new(records, board.clone(), writer, wiring), board)
}

/// A switch's health check in moto (HTTPS to the controller's `/switch/{switch}`).
async fn health_check(client: &Client, switch: &str) -> String {
    let config = HealthCheckConfig::builder()
        .r#type(HealthCheckType::Https)
        .ip_address("198.51.100.1")
        .port(9443)
        .resource_path(format!("/switch/{switch}"))
        .request_interval(10)
        .failure_threshold(2)
        .build()
        .expect("config");
    client
        .create_health_check()
        .caller_reference(format!("test-{switch}"))
        .health_check_config(config)
        .send()
        .await
        .expect("create health check")
        .health_check()
        .expect("check")
        .id()
        .to_owned()
}

/// A latency record of `rtype` for `region` carrying `check`.
fn latency(
    set_id: &str,
    rtype: RrType,
    region: &str,
    check: Option<&str>,
    value: &str,
) -> ResourceRecordSet {
    moto::latency(NAME, (set_id, rtype), region, check, value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_records_are_read_whole_and_withdrawn_and_restored_by_their_switch_never_written() {
    let moto = Moto::start().await;
    let client = moto.route53();
    let zone = moto::zone(&client, "example.com.").await;
    let us = health_check(&client, "us-east-1").await;
    let eu = health_check(&client, "eu-west-1").await;
    moto::create(
        &client,
        &zone,
        vec![
            latency("us-east-1", RrType::A, "us-east-1", Some(&us), "192.0.2.1"),
            latency("eu-west-1", RrType::A, "eu-west-1", Some(&eu), "192.0.2.2"),
        ],
    )
    .await;
    let binding = |set_id: &str, check: &str| {
        format!(
            r#"hosted_zone_id = "{zone}", record_name = "{NAME}", set_identifier = "{set_id}", routing = "latency", latency_region = "{set_id}", health_check_id = "{check}""#
        )
    };
    let config = config(
        "switches",
        &[
            region("us-east-1", "eu-west-1", &binding("us-east-1", &us)),
            region("eu-west-1", "us-east-1", &binding("eu-west-1", &eu)),
        ]
        .concat(),
    );
    let records = route53(client.clone(), &config, 1);
    assert!(
        records.all_or_nothing("us-east-1"),
        "latency knobs move whole"
    );
    let shares = records.read().await.expect("read");
    assert_eq!(
        (shares["us-east-1"], shares["eu-west-1"]),
        (Share::FULL, Share::FULL)
    );

    let before = moto::records(&client, &zone).await;
    let (backend, board) = switched(Mode::Switches, records, &["us-east-1", "eu-west-1"]);
    assert!(backend.all_or_nothing("eu-west-1"));
    backend
        .apply(&[change("us-east-1", 100, 0)])
        .await
        .expect("drain");
    assert!(
        !board.snapshot().states.on("us-east-1"),
        "the switch is off"
    );
    assert!(board.snapshot().states.on("eu-west-1"));
    let shares = backend.read().await.expect("read");
    assert_eq!(
        (shares["us-east-1"], shares["eu-west-1"]),
        (Share::ZERO, Share::FULL)
    );
    assert_eq!(
        moto::records(&client, &zone).await,
        before,
        "the records are never written: their checks withdraw them"
    );

    backend
        .apply(&[change("us-east-1", 0, 100)])
        .await
        .expect("restore");
    assert!(board.snapshot().states.on("us-east-1"));
    assert_eq!(
        backend.read().await.expect("read")["us-east-1"],
        Share::FULL
    );
    assert_eq!(moto::records(&client, &zone).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_latency_record_in_another_region_without_its_check_or_disagreeing_with_its_aaaa_leaves_its_region_unread()
 {
    let moto = Moto::start().await;
    let client = moto.route53();
    let zone = moto::zone(&client, "example.com.").await;
    let check = health_check(&client, "any").await;
    let other = health_check(&client, "other").await;
    moto::create(
        &client,
        &zone,
        vec![
            // Bound as us-east-1's, but its Region is us-west-2.
            latency("r1", RrType::A, "us-west-2", Some(&check), "192.0.2.1"),
            // No health check: nothing could withdraw it.
            latency("r2", RrType::A, "eu-west-1", None, "192.0.2.2"),
            // Dual-stack: A carries the check, AAAA another one.
            latency("r3", RrType::A, "ap-south-1", Some(&check), "192.0.2.3"),
            latency(
                "r3",
                RrType::Aaaa,
                "ap-south-1",
                Some(&other),
                "2001:db8::3",
            ),
            // As bound.
            latency("r4", RrType::A, "sa-east-1", Some(&check), "192.0.2.4"),
        ],
    )
    .await;
    let binding = |set_id: &str, region: &str, types: &str| {
        format!(
            r#"hosted_zone_id = "{zone}", record_name = "{NAME}", record_type = {types}, set_identifier = "{set_id}", routing = "latency", latency_region = "{region}", health_check_id = "{check}""#
        )
    };
    let config = config(
        "switches",
        &[
            region("us-east-1", "eu-west-1", &binding("r1", "us-east-1", "\"A\"")),
            region("eu-west-1", "us-east-1", &format!(
                r#"hosted_zone_id = "{zone}", record_name = "{NAME}", set_identifier = "r2", routing = "latency""#
            )),
            region("ap-south-1", "us-east-1", &binding("r3", "ap-south-1", "[\"A\", \"AAAA\"]")),
            region("sa-east-1", "us-east-1", &binding("r4", "sa-east-1", "\"A\"")),
        ]
        .concat(),
    );
    let shares = route53(client.clone(), &config, 1)
        .read()
        .await
        .expect("read");
    assert_eq!(
        shares.keys().map(String::as_str).collect::<Vec<_>>(),
        ["sa-east-1"],
        "only the record as bound is read: {shares:?}"
    );
}

/// A geolocation record at `location` carrying `check`.
fn geolocation(set_id: &str, location: GeoLocation, check: &str, value: &str) -> ResourceRecordSet {
    ResourceRecordSet::builder()
        .name(NAME)
        .r#type(RrType::A)
        .set_identifier(set_id)
        .ttl(60)
        .geo_location(location)
        .health_check_id(check)
        .resource_records(ResourceRecord::builder().value(value).build().expect("rr"))
        .build()
        .expect("record")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn geolocation_records_are_read_by_their_location_and_withdrawn_by_their_switch() {
    let moto = Moto::start().await;
    let client = moto.route53();
    let zone = moto::zone(&client, "example.com.").await;
    let check = health_check(&client, "geo").await;
    moto::create(
        &client,
        &zone,
        vec![
            geolocation(
                "eu",
                GeoLocation::builder().continent_code("EU").build(),
                &check,
                "192.0.2.1",
            ),
            geolocation(
                "us-ca",
                GeoLocation::builder()
                    .country_code("US")
                    .subdivision_code("CA")
                    .build(),
                &check,
                "192.0.2.2",
            ),
            geolocation(
                "default",
                GeoLocation::builder().country_code("*").build(),
                &check,
                "192.0.2.3",
            ),
        ],
    )
    .await;
    let binding = |set_id: &str, location: &str| {
        format!(
            r#"hosted_zone_id = "{zone}", record_name = "{NAME}", set_identifier = "{set_id}", routing = "geolocation", geolocation = {{ {location} }}"#
        )
    };
    let config = config(
        "mixed",
        &[
            region(
                "eu-west-1",
                "us-west-1",
                &binding("eu", r#"continent_code = "EU""#),
            ),
            region(
                "us-west-1",
                "us-east-1",
                &binding("us-ca", r#"country_code = "us", subdivision_code = "CA""#),
            ),
            // Bound as Europe's but the record is the default location's.
            region(
                "us-east-1",
                "eu-west-1",
                &binding("default", r#"continent_code = "EU""#),
            ),
        ]
        .concat(),
    );
    let records = route53(client.clone(), &config, 1);
    let shares = records.read().await.expect("read");
    assert_eq!(shares.get("eu-west-1"), Some(&Share::FULL));
    assert_eq!(
        shares.get("us-west-1"),
        Some(&Share::FULL),
        "codes compare in any case"
    );
    assert!(!shares.contains_key("us-east-1"), "{shares:?}");

    // In mixed mode the API answers, so a drain goes to the records' backend (nothing to write:
    // no batch, no fence) and then flips the switch.
    let before = moto::records(&client, &zone).await;
    let (backend, board) = switched(
        Mode::Mixed,
        records,
        &["eu-west-1", "us-west-1", "us-east-1"],
    );
    assert!(
        backend.all_or_nothing("eu-west-1"),
        "geolocation knobs move whole"
    );
    backend
        .apply(&[change("eu-west-1", 100, 0)])
        .await
        .expect("drain");
    assert!(!board.snapshot().states.on("eu-west-1"));
    assert_eq!(
        backend.read().await.expect("read")["eu-west-1"],
        Share::ZERO
    );
    assert_eq!(
        moto::records(&client, &zone).await,
        before,
        "nothing written, not even a fence"
    );
    backend
        .apply(&[change("eu-west-1", 0, 100)])
        .await
        .expect("restore");
    assert_eq!(backend.read().await.expect("read")["eu-west-1"], share(100));
    assert_eq!(backend.degraded(), None);
}

#[tokio::test]
async fn with_the_route53_api_down_a_latency_record_is_drained_and_restored_through_its_switch() {
    let fake = R53Fake::default();
    fake.zone(
        "ZLAT",
        vec![
            Rrset::latency(
                NAME,
                "us-east-1",
                "us-east-1",
                Some("calc-us-east-1"),
                &["192.0.2.1"],
            ),
            Rrset {
                rtype: "AAAA".to_owned(),
                ..Rrset::latency(
                    NAME,
                    "us-east-1",
                    "us-east-1",
                    Some("calc-us-east-1"),
                    &["2001:db8::1"],
                )
            },
            Rrset::latency(
                NAME,
                "us-west-2",
                "us-west-2",
                Some("calc-us-west-2"),
                &["192.0.2.2"],
            ),
            Rrset {
                rtype: "AAAA".to_owned(),
                ..Rrset::latency(
                    NAME,
                    "us-west-2",
                    "us-west-2",
                    Some("calc-us-west-2"),
                    &["2001:db8::2"],
                )
            },
        ],
    );
    let binding = |r: &str| {
        format!(
            r#"hosted_zone_id = "ZLAT", record_name = "{NAME}", record_type = ["A", "AAAA"], set_identifier = "{r}", routing = "latency", latency_region = "{r}", health_check_id = "calc-{r}""#
        )
    };
    let config = config(
        "mixed",
        &[
            region("us-east-1", "us-west-2", &binding("us-east-1")),
            region("us-west-2", "us-east-1", &binding("us-west-2")),
        ]
        .concat(),
    );
    let records = route53(fake.client().await, &config, 1);
    let (backend, board) = switched(Mode::Mixed, records, &["us-east-1", "us-west-2"]);
    let shares = backend.read().await.expect("read while the API answers");
    assert_eq!(
        (shares["us-east-1"], shares["us-west-2"]),
        (Share::FULL, Share::FULL)
    );
    let before = fake.records("ZLAT");

    fake.down(true);
    let shares = backend.read().await.expect("read from the switches");
    assert_eq!(
        (shares["us-east-1"], shares["us-west-2"]),
        (Share::FULL, Share::FULL)
    );
    let alarm = backend
        .degraded()
        .expect("says it acts through the switches");
    assert!(
        alarm.contains("acting through the data-plane switches"),
        "{alarm}"
    );

    backend
        .apply(&[change("us-east-1", 100, 0)])
        .await
        .expect("a drain through the switch needs no Route 53 call");
    assert!(
        !board.snapshot().states.on("us-east-1"),
        "the switch is off"
    );
    let shares = backend.read().await.expect("read");
    assert_eq!(
        (shares["us-east-1"], shares["us-west-2"]),
        (Share::ZERO, Share::FULL)
    );

    backend
        .apply(&[change("us-east-1", 0, 100)])
        .await
        .expect("a restore through the switch needs no Route 53 call");
    assert!(board.snapshot().states.on("us-east-1"));
    assert_eq!(
        backend.read().await.expect("read")["us-east-1"],
        Share::FULL
    );
    assert!(
        fake.refused_while_down() > 0,
        "the API was tried, and refused"
    );
    assert!(
        fake.received().is_empty(),
        "no change batch ever reached Route 53"
    );

    fake.down(false);
    let shares = backend.read().await.expect("read");
    assert_eq!(
        (shares["us-east-1"], shares["us-west-2"]),
        (Share::FULL, Share::FULL)
    );
    assert_eq!(backend.degraded(), None, "the API answers again");
    assert_eq!(
        fake.records("ZLAT"),
        before,
        "the records were never written"
    );
}

#[tokio::test]
async fn a_geoproximity_record_is_read_by_its_location_with_its_bias_kept() {
    let fake = R53Fake::default();
    let at =
        |aws_region: Option<&str>, coordinates: Option<(&str, &str)>, bias: i32| GeoProximity {
            aws_region: aws_region.map(str::to_owned),
            local_zone_group: None,
            coordinates: coordinates.map(|(la, lo)| r53_fake::Coordinates {
                latitude: la.to_owned(),
                longitude: lo.to_owned(),
            }),
            bias: Some(bias),
        };
    fake.zone(
        "ZGEO",
        vec![
            Rrset::geoproximity(
                NAME,
                "us-east-1",
                at(Some("us-east-1"), None, 20),
                Some("calc-1"),
                &["192.0.2.1"],
            ),
            Rrset::geoproximity(
                NAME,
                "dc-1",
                at(None, Some(("49.22", "-74.01")), 0),
                Some("calc-2"),
                &["192.0.2.2"],
            ),
            Rrset::geoproximity(
                NAME,
                "dc-2",
                at(None, Some(("10.00", "10.00")), 0),
                Some("calc-3"),
                &["192.0.2.3"],
            ),
            Rrset::latency(NAME, "ap-1", "ap-south-1", Some("calc-4"), &["192.0.2.4"]),
        ],
    );
    let binding = |set_id: &str, location: &str| {
        format!(
            r#"hosted_zone_id = "ZGEO", record_name = "{NAME}", set_identifier = "{set_id}", routing = "geoproximity", geoproximity = {{ {location} }}"#
        )
    };
    let config = config(
        "switches",
        &[
            region("us-east-1", "eu-west-1", &binding("us-east-1", r#"aws_region = "us-east-1""#)),
            region("eu-west-1", "us-east-1", &binding("dc-1", r#"coordinates = "49.22, -74.01""#)),
            // Bound at other coordinates than the record's.
            region("eu-west-2", "us-east-1", &binding("dc-2", r#"coordinates = "11.00,10.00""#)),
            // Bound as geoproximity, and the record is a latency record.
            region("ap-south-1", "us-east-1", &format!(
                r#"hosted_zone_id = "ZGEO", record_name = "{NAME}", set_identifier = "ap-1", routing = "geoproximity""#
            )),
        ]
        .concat(),
    );
    let records = route53(fake.client().await, &config, 1);
    assert!(records.all_or_nothing("us-east-1"));
    let shares = records.read().await.expect("read");
    assert_eq!(
        shares.keys().map(String::as_str).collect::<Vec<_>>(),
        ["eu-west-1", "us-east-1"],
        "{shares:?}"
    );
    let (backend, board) = switched(Mode::Switches, records, &["us-east-1", "eu-west-1"]);
    backend
        .apply(&[change("us-east-1", 100, 0)])
        .await
        .expect("drain");
    assert!(!board.snapshot().states.on("us-east-1"));
    assert_eq!(
        backend.read().await.expect("read")["us-east-1"],
        Share::ZERO
    );
    let record = fake.record("ZGEO", "us-east-1");
    assert_eq!(
        record.geo_proximity_location.and_then(|p| p.bias),
        Some(20),
        "the bias is left as it is: the switch withdraws the record whole"
    );
    assert!(fake.received().is_empty());
}
