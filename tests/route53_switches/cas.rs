//! The record writes as a compare-and-swap, against the wire fake `r53_fake` (moto accepts a
//! DELETE that does not match the record exactly, Route 53 and the fake do not): a record the
//! running leader drained between discovery and the write is not written back as it was read,
//! and a batch refused for another reason is reported, not retried. A health check changed
//! between discovery and its update (`HealthCheckVersion`) is read and planned again too.

use failoverd::traffic::ErrorCode;
use failoverd::traffic::route53::switch_setup::{Progress, Route53Api, SetupError, Step, plan};

use super::r53_fake::health_checks::FakeCheck;
use super::r53_fake::{R53Fake, Rrset};
use super::{API, config, head};

const ZONE: &str = "Z1";
const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];

/// Each region with one weighted `api` record, in zone `Z1`.
fn estate() -> String {
    let mut text = head();
    for (region, other) in [("us-east-1", "eu-west-1"), ("eu-west-1", "us-east-1")] {
        text.push_str(&format!(
            r#"
[[regions]]
name = "{region}"
capacity_rps = 100
spill_to = ["{other}"]
probes = [{{ url = "http://127.0.0.1:9/" }}]
traffic.route53 = {{ hosted_zone_id = "{ZONE}", record_name = "{API}", set_identifier = "{region}", routing = "weighted" }}
"#
        ));
    }
    text
}

fn record(region: &str, weight: i64) -> Rrset {
    Rrset {
        health_check_id: None,
        ..Rrset::weighted(API, region, weight, &["192.0.2.1"])
    }
}

/// A fake account whose switch checks all exist (so an apply only moves records) and whose
/// records carry none yet.
async fn account() -> (R53Fake, Route53Api, failoverd::config::Config) {
    let fake = R53Fake::default();
    fake.zone(ZONE, REGIONS.map(|r| record(r, 100)).to_vec());
    let mut checks = Vec::new();
    for region in REGIONS {
        let path = format!("/switch/{region}");
        for (c, target, port) in [
            ("c1", "127.0.0.1", 9443),
            ("c2", "127.0.0.2", 9444),
            ("c3", "switch-c3.example.net", 9443),
        ] {
            checks.push(FakeCheck::https(
                &format!("{region}-{c}"),
                target,
                port,
                &path,
                30,
                3,
            ));
        }
        let children = ["c1", "c2", "c3"].map(|c| format!("{region}-{c}"));
        checks.push(FakeCheck::calculated(
            &format!("calc-{region}"),
            &children.each_ref().map(String::as_str),
            2,
        ));
    }
    fake.health_checks(checks);
    let config = config(&estate());
    let api = Route53Api::new(
        fake.client().await,
        &config.traffic.route53,
        &config.traffic.calls(),
    );
    (fake, api, config)
}

#[tokio::test]
async fn a_record_drained_since_discovery_is_not_written_back_but_read_again() {
    let (fake, api, config) = account().await;
    let wanted = failoverd::setup::wanted(&config).expect("wanted");
    let discovered = api.discover(&wanted).await.expect("discover");
    let settled = discovered.check_ids();
    let first = plan(&wanted, &discovered.found);
    assert_eq!(first.steps.len(), 2, "{first:#?}");

    // The running leader drains eu-west-1 while the setup is between reading and writing.
    fake.put(ZONE, record("eu-west-1", 0));

    let mut lines = Vec::new();
    let outcome = api
        .apply(&wanted, &settled, discovered, first, |p| lines.push(p))
        .await
        .expect("apply");
    assert_eq!(outcome.changes, 2, "{lines:#?}");

    let drained = fake.record(ZONE, "eu-west-1");
    assert_eq!(drained.weight, Some(0), "the drain stands");
    assert_eq!(drained.health_check_id.as_deref(), Some("calc-eu-west-1"));
    let other = fake.record(ZONE, "us-east-1");
    assert_eq!(
        (other.weight, other.health_check_id.as_deref()),
        (Some(100), Some("calc-us-east-1"))
    );

    let received = fake.received();
    assert_eq!(received.len(), 2, "{received:#?}");
    assert!(
        !received[0].accepted,
        "the stale DELETE fails the batch whole"
    );
    let actions: Vec<(&str, Option<&str>, Option<i64>)> = received[0]
        .changes
        .iter()
        .map(|(a, r)| (a.as_str(), r.set_identifier.as_deref(), r.weight))
        .collect();
    assert_eq!(
        actions,
        [
            ("DELETE", Some("us-east-1"), Some(100)),
            ("CREATE", Some("us-east-1"), Some(100)),
            ("DELETE", Some("eu-west-1"), Some(100)),
            ("CREATE", Some("eu-west-1"), Some(100)),
        ],
        "a DELETE as read and a CREATE with the check, never an UPSERT"
    );
    assert!(received[1].accepted);
    assert!(
        received[1]
            .changes
            .iter()
            .any(|(a, r)| a == "DELETE" && r.weight == Some(0)),
        "the second try deletes the record as it is now: {:#?}",
        received[1].changes
    );
    let again: Vec<&String> = lines
        .iter()
        .filter_map(|p| match p {
            Progress::ReadAgain(l) => Some(l),
            Progress::Done(_) => None,
        })
        .collect();
    assert_eq!(again.len(), 1, "{lines:#?}");
    assert!(
        again[0].contains(&format!("{API} A \"eu-west-1\" in zone {ZONE}"))
            && !again[0].contains("us-east-1")
            && again[0].contains("attempt 2 of 3"),
        "{}",
        again[0]
    );
}

#[tokio::test]
async fn a_batch_refused_while_no_record_changed_is_reported_and_not_retried() {
    let (fake, api, config) = account().await;
    let wanted = failoverd::setup::wanted(&config).expect("wanted");
    let discovered = api.discover(&wanted).await.expect("discover");
    let settled = discovered.check_ids();
    let first = plan(&wanted, &discovered.found);
    fake.inject("ChangeResourceRecordSets", "InvalidChangeBatch");

    let mut lines = Vec::new();
    let err = api
        .apply(&wanted, &settled, discovered, first, |p| lines.push(p))
        .await
        .expect_err("refused");
    assert!(
        matches!(&err, SetupError::Api(e) if e.code == ErrorCode::Invalid),
        "{err}"
    );
    assert!(lines.is_empty(), "{lines:#?}");
    for region in REGIONS {
        assert_eq!(fake.record(ZONE, region).health_check_id, None);
    }
}

#[tokio::test]
async fn a_check_changed_since_discovery_is_read_again_and_its_threshold_set_on_the_new_version() {
    let (fake, api, config) = account().await;
    // us-east-1's c1 check was set to 2 by hand (version 2); the config says 3.
    fake.set_threshold("us-east-1-c1", 2);
    let wanted = failoverd::setup::wanted(&config).expect("wanted");
    let discovered = api.discover(&wanted).await.expect("discover");
    let settled = discovered.check_ids();
    let first = plan(&wanted, &discovered.found);
    assert!(
        first.steps.contains(&Step::SetFailureThreshold {
            switch: "us-east-1".into(),
            controller: "c1".into(),
            id: "us-east-1-c1".into(),
            version: Some(2),
            from: 2,
            to: 3,
        }),
        "{first:#?}"
    );

    // Someone changes it again between reading and updating (version 3).
    fake.set_threshold("us-east-1-c1", 4);

    let mut lines = Vec::new();
    api.apply(&wanted, &settled, discovered, first, |p| lines.push(p))
        .await
        .expect("apply");
    assert!(
        lines.iter().any(|p| matches!(p, Progress::ReadAgain(l)
            if l.starts_with("health check us-east-1-c1 changed since it was read"))),
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(|p| p.to_string()
            == "done: set the failure threshold: switch us-east-1, controller c1: health check us-east-1-c1 from 4 to 3 results to change state"),
        "planned again from what it reads now: {lines:#?}"
    );
    assert_eq!(
        fake.threshold("us-east-1-c1"),
        ("3".to_owned(), 4),
        "set once, on the version read again"
    );
}
