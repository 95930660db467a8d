//! The Route 53 backend through the real AWS SDK against the moto server, an AWS emulator:
//! weighted and failover records read, drained, partly drained and restored, with the records
//! read back from the emulator. moto does not enforce exact-match DELETEs, atomic batches or
//! PENDING→INSYNC; `route53_fake.rs` covers those (see tests/README.md).

mod moto;
mod support;

use std::path::Path;

use aws_sdk_route53::Client;
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet,
    ResourceRecordSetFailover, RrType,
};
use failoverd::config::Config;
use failoverd::share::Share;
use failoverd::traffic::TrafficBackend;
use moto::Moto;
use support::{change, route53};

const NAME: &str = "api.example.com.";

/// A zone holding a failover pair: PRIMARY "primary" answering 192.0.2.10, and a SECONDARY
/// `secondary` answering `values`.
async fn failover_pair(client: &Client, secondary: &str, values: &[&str]) -> String {
    let zone = moto::zone(client, "example.com.").await;
    moto::create(
        client,
        &zone,
        vec![
            moto::record(
                NAME,
                "primary",
                &["192.0.2.10"],
                None,
                Some(ResourceRecordSetFailover::Primary),
            ),
            moto::record(
                NAME,
                secondary,
                values,
                None,
                Some(ResourceRecordSetFailover::Secondary),
            ),
        ],
    )
    .await;
    zone
}

fn values(r: &ResourceRecordSet) -> Vec<String> {
    r.resource_records()
        .iter()
        .map(|v| v.value().to_owned())
        .collect()
}

fn config(regions: &str) -> Config {
    let text = format!(
        r#"
[controller]
id = "moto"
control_region = "local"
[traffic]
backend = "route53"
[traffic.route53]
confirm_poll = "10ms"
[traffic.retry]
attempts = 3
base_delay = "1ms"
max_delay = "5ms"
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weighted_records_are_read_drained_partly_drained_and_restored() {
    let moto = Moto::start().await;
    let client = moto.route53();
    let zone = moto::zone(&client, "example.com.").await;
    let mut seeded = vec![
        moto::record(NAME, "eu-west-1", &["192.0.2.1"], Some(100), None),
        moto::record(NAME, "us-east-1", &["192.0.2.2"], Some(100), None),
    ];
    // Other weighted records under the same name. (moto does not page by set identifier, so
    // paging is covered by route53_fake.rs.)
    seeded.extend((0..20).map(|i| {
        moto::record(
            NAME,
            &format!("canary-{i:03}"),
            &["192.0.2.9"],
            Some(0),
            None,
        )
    }));
    moto::create(&client, &zone, seeded).await;
    let weighted = |set_id: &str| {
        format!(
            r#"hosted_zone_id = "{zone}", record_name = "{NAME}", set_identifier = "{set_id}", routing = "weighted""#
        )
    };
    let config = config(
        &[
            region("eu-west-1", "us-east-1", &weighted("eu-west-1")),
            region("us-east-1", "eu-west-1", &weighted("us-east-1")),
        ]
        .concat(),
    );
    let backend = route53(client.clone(), &config, 1);
    assert!(!backend.all_or_nothing("eu-west-1"));

    let shares = backend.read().await.expect("read");
    assert_eq!(shares["eu-west-1"], Share::FULL);
    assert_eq!(shares["us-east-1"], Share::FULL);

    let applied = backend
        .apply(&[change("eu-west-1", 100, 0), change("us-east-1", 100, 40)])
        .await
        .expect("drain");
    let eu = moto::by_set_id(&client, &zone, "eu-west-1").await;
    assert_eq!(eu.weight(), Some(0));
    assert_eq!(values(&eu), vec!["192.0.2.1"], "values are kept");
    assert_eq!(eu.ttl(), Some(60), "TTL is kept");
    assert_eq!(
        moto::by_set_id(&client, &zone, "us-east-1").await.weight(),
        Some(40)
    );
    let shares = backend.read().await.expect("read");
    assert_eq!(shares["eu-west-1"], Share::ZERO);
    assert_eq!(shares["us-east-1"], share(40));
    assert!(applied.propagation.is_some(), "the change was confirmed");

    // The fence now carries this controller's epoch.
    let fence = moto::records(&client, &zone)
        .await
        .into_iter()
        .find(|r| r.r#type() == &RrType::Txt)
        .expect("fence record");
    assert_eq!(fence.name(), "_failoverd-fence.api.example.com.");
    assert!(
        values(&fence)[0].contains("epoch=1"),
        "{:?}",
        values(&fence)
    );

    backend
        .apply(&[change("eu-west-1", 0, 100), change("us-east-1", 40, 100)])
        .await
        .expect("restore");
    assert_eq!(
        moto::by_set_id(&client, &zone, "eu-west-1").await.weight(),
        Some(100)
    );
    assert_eq!(
        moto::by_set_id(&client, &zone, "us-east-1").await.weight(),
        Some(100)
    );
    // Nothing else in the zone moved.
    assert_eq!(
        moto::by_set_id(&client, &zone, "canary-019").await.weight(),
        Some(0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drained_failover_primary_answers_with_the_secondary_and_a_restarted_controller_restores_it()
 {
    let moto = Moto::start().await;
    let client = moto.route53();
    let zone = failover_pair(&client, "secondary", &["198.51.100.20", "198.51.100.21"]).await;
    let failover = |set_id: &str, values: &str| {
        format!(
            r#"hosted_zone_id = "{zone}", record_name = "api.example.com", set_identifier = "{set_id}", routing = "failover", values = [{values}]"#
        )
    };
    let config = config(
        &[
            region(
                "us-east-1",
                "us-west-2",
                &failover("primary", r#""192.0.2.10""#),
            ),
            region(
                "us-west-2",
                "us-east-1",
                &failover("secondary", r#""198.51.100.20", "198.51.100.21""#),
            ),
        ]
        .concat(),
    );
    let backend = route53(client.clone(), &config, 5);
    assert!(backend.all_or_nothing("us-east-1"));
    let shares = backend.read().await.expect("read");
    assert_eq!(shares["us-east-1"], Share::FULL);
    assert_eq!(shares["us-west-2"], Share::FULL);

    backend
        .apply(&[change("us-east-1", 100, 0)])
        .await
        .expect("drain the primary");
    let primary = moto::by_set_id(&client, &zone, "primary").await;
    let mut answer = values(&primary);
    answer.sort();
    assert_eq!(answer, vec!["198.51.100.20", "198.51.100.21"]);
    assert_eq!(
        primary.failover(),
        Some(&ResourceRecordSetFailover::Primary),
        "the record keeps its role"
    );
    assert_eq!(
        values(&moto::by_set_id(&client, &zone, "secondary").await).len(),
        2,
        "the secondary is untouched"
    );
    let shares = backend.read().await.expect("read");
    assert_eq!(shares["us-east-1"], Share::ZERO);
    assert_eq!(shares["us-west-2"], Share::FULL);

    // A controller started later, with no memory of the drain, restores from its config.
    drop(backend);
    let restarted = route53(client.clone(), &config, 6);
    assert_eq!(
        restarted.read().await.expect("read")["us-east-1"],
        Share::ZERO
    );
    restarted
        .apply(&[change("us-east-1", 0, 100)])
        .await
        .expect("restore");
    assert_eq!(
        values(&moto::by_set_id(&client, &zone, "primary").await),
        vec!["192.0.2.10"]
    );
    assert_eq!(
        restarted.read().await.expect("read")["us-east-1"],
        Share::FULL
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alias_failover_primary_is_pointed_at_the_secondarys_target_and_back() {
    let moto = Moto::start().await;
    let client = moto.route53();
    let zone = moto::zone(&client, "example.com.").await;
    let alias = |set_id: &str, dns: &str, target_zone: &str, role| {
        ResourceRecordSet::builder()
            .name(NAME)
            .r#type(RrType::A)
            .set_identifier(set_id)
            .failover(role)
            .alias_target(
                AliasTarget::builder()
                    .dns_name(dns)
                    .hosted_zone_id(target_zone)
                    .evaluate_target_health(true)
                    .build()
                    .expect("alias"),
            )
            .build()
            .expect("record")
    };
    const EAST: &str = "api-east.elb.us-east-1.amazonaws.com.";
    const WEST: &str = "api-west.elb.us-west-2.amazonaws.com.";
    moto::create(
        &client,
        &zone,
        vec![
            alias(
                "primary",
                EAST,
                "Z35SXDOTRQ7X7K",
                ResourceRecordSetFailover::Primary,
            ),
            alias(
                "secondary",
                WEST,
                "Z1H1FL5HABSF5",
                ResourceRecordSetFailover::Secondary,
            ),
        ],
    )
    .await;
    let binding = |set_id: &str, dns: &str, target_zone: &str| {
        format!(
            r#"hosted_zone_id = "{zone}", record_name = "api.example.com", set_identifier = "{set_id}", routing = "failover", alias = {{ dns_name = "{}", hosted_zone_id = "{target_zone}" }}"#,
            // Config names may leave out the final dot; Route 53 answers with it.
            dns.trim_end_matches('.')
        )
    };
    let config = config(
        &[
            region(
                "us-east-1",
                "us-west-2",
                &binding("primary", EAST, "Z35SXDOTRQ7X7K"),
            ),
            region(
                "us-west-2",
                "us-east-1",
                &binding("secondary", WEST, "Z1H1FL5HABSF5"),
            ),
        ]
        .concat(),
    );
    let target = |r: &ResourceRecordSet| {
        r.alias_target()
            .map(|a| (a.dns_name().to_owned(), a.hosted_zone_id().to_owned()))
    };
    let backend = route53(client.clone(), &config, 7);
    assert_eq!(
        backend.read().await.expect("read")["us-east-1"],
        Share::FULL
    );

    backend
        .apply(&[change("us-east-1", 100, 0)])
        .await
        .expect("drain the primary");
    let primary = moto::by_set_id(&client, &zone, "primary").await;
    assert_eq!(
        target(&primary),
        Some((WEST.to_owned(), "Z1H1FL5HABSF5".to_owned())),
        "the primary now answers with the secondary's target"
    );
    assert_eq!(
        primary.failover(),
        Some(&ResourceRecordSetFailover::Primary)
    );
    assert!(primary.resource_records().is_empty() && primary.ttl().is_none());
    assert_eq!(
        backend.read().await.expect("read")["us-east-1"],
        Share::ZERO
    );

    backend
        .apply(&[change("us-east-1", 0, 100)])
        .await
        .expect("restore");
    assert_eq!(
        target(&moto::by_set_id(&client, &zone, "primary").await),
        Some((EAST.to_owned(), "Z35SXDOTRQ7X7K".to_owned()))
    );
    assert_eq!(
        backend.read().await.expect("read")["us-east-1"],
        Share::FULL
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dual_stack_regions_a_and_aaaa_records_move_together_and_must_agree() {
    let moto = Moto::start().await;
    let client = moto.route53();
    let zone = moto::zone(&client, "example.com.").await;
    let weighted = |set_id: &str, rtype: RrType, value: &str, weight: i64| {
        ResourceRecordSet::builder()
            .name(NAME)
            .r#type(rtype)
            .set_identifier(set_id)
            .ttl(60)
            .weight(weight)
            .resource_records(ResourceRecord::builder().value(value).build().expect("rr"))
            .build()
            .expect("record")
    };
    moto::create(
        &client,
        &zone,
        vec![
            weighted("eu-west-1", RrType::A, "192.0.2.1", 100),
            weighted("eu-west-1", RrType::Aaaa, "2001:db8::1", 100),
            weighted("us-east-1", RrType::A, "192.0.2.2", 100),
            weighted("us-east-1", RrType::Aaaa, "2001:db8::2", 100),
        ],
    )
    .await;
    let binding = |set_id: &str| {
        format!(
            r#"hosted_zone_id = "{zone}", record_name = "api.example.com", record_type = ["A", "AAAA"], set_identifier = "{set_id}", routing = "weighted""#
        )
    };
    let config = config(
        &[
            region("eu-west-1", "us-east-1", &binding("eu-west-1")),
            region("us-east-1", "eu-west-1", &binding("us-east-1")),
        ]
        .concat(),
    );
    let weight = |records: &[ResourceRecordSet], set_id: &str, rtype: RrType| {
        records
            .iter()
            .find(|r| r.set_identifier() == Some(set_id) && r.r#type() == &rtype)
            .and_then(ResourceRecordSet::weight)
    };
    let backend = route53(client.clone(), &config, 8);
    assert_eq!(
        backend.read().await.expect("read")["eu-west-1"],
        Share::FULL
    );

    backend
        .apply(&[change("eu-west-1", 100, 0)])
        .await
        .expect("drain");
    let now = moto::records(&client, &zone).await;
    assert_eq!(weight(&now, "eu-west-1", RrType::A), Some(0));
    assert_eq!(weight(&now, "eu-west-1", RrType::Aaaa), Some(0));
    assert_eq!(weight(&now, "us-east-1", RrType::Aaaa), Some(100));
    assert_eq!(
        backend.read().await.expect("read")["eu-west-1"],
        Share::ZERO
    );

    // Someone puts AAAA back by hand: the records disagree, so the region is not reported
    // (the controller alarms and changes nothing) rather than guessed.
    client
        .change_resource_record_sets()
        .hosted_zone_id(&zone)
        .change_batch(
            ChangeBatch::builder()
                .changes(
                    Change::builder()
                        .action(ChangeAction::Upsert)
                        .resource_record_set(weighted(
                            "eu-west-1",
                            RrType::Aaaa,
                            "2001:db8::1",
                            100,
                        ))
                        .build()
                        .expect("change"),
                )
                .build()
                .expect("batch"),
        )
        .send()
        .await
        .expect("hand edit");
    let shares = backend.read().await.expect("read");
    assert!(!shares.contains_key("eu-west-1"), "{shares:?}");
    assert_eq!(shares["us-east-1"], Share::FULL);

    // Restoring writes only the record that differs, and the two agree again.
    backend
        .apply(&[change("eu-west-1", 0, 100)])
        .await
        .expect("restore");
    let now = moto::records(&client, &zone).await;
    assert_eq!(weight(&now, "eu-west-1", RrType::A), Some(100));
    assert_eq!(weight(&now, "eu-west-1", RrType::Aaaa), Some(100));
    assert_eq!(
        backend.read().await.expect("read")["eu-west-1"],
        Share::FULL
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unbound_secondary_is_the_drain_target_as_the_zone_holds_it_and_a_missing_record_is_reported()
 {
    let moto = Moto::start().await;
    let client = moto.route53();
    let zone = failover_pair(&client, "dr-site", &["203.0.113.5"]).await;
    let binding = |name: &str, set_id: &str| {
        format!(
            r#"hosted_zone_id = "{zone}", record_name = "{name}", set_identifier = "{set_id}", routing = "failover", values = ["192.0.2.10"]"#
        )
    };
    let config = config(
        &[
            region("us-east-1", "eu-west-1", &binding(NAME, "primary")),
            region(
                "eu-west-1",
                "us-east-1",
                &binding("www.example.com.", "not-there"),
            ),
        ]
        .concat(),
    );
    let backend = route53(client.clone(), &config, 1);
    let shares = backend.read().await.expect("read");
    assert_eq!(shares["us-east-1"], Share::FULL);
    assert!(
        !shares.contains_key("eu-west-1"),
        "a record that is not in the zone is reported missing, not guessed"
    );
    backend
        .apply(&[change("us-east-1", 100, 0)])
        .await
        .expect("drain");
    assert_eq!(
        values(&moto::by_set_id(&client, &zone, "primary").await),
        vec!["203.0.113.5"]
    );
    let err = backend
        .apply(&[change("eu-west-1", 100, 0)])
        .await
        .expect_err("no such record");
    assert_eq!(err.code, failoverd::traffic::ErrorCode::NotFound);
    assert!(err.message.contains("not-there"), "{err}");
}

/// `failoverd run` itself, pointed at moto only through `AWS_ENDPOINT_URL_ROUTE_53`, drains a
/// failing PRIMARY to its SECONDARY.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_finds_route53_through_aws_endpoint_url_and_fails_a_primary_over() {
    let moto = Moto::start().await;
    let client = moto.route53();
    let zone = failover_pair(&client, "secondary", &["198.51.100.20"]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let deep = support::serve(None).await.addr;
    let config = support::aws_daemon_config(
        dir.path(),
        "r53-e2e",
        &format!(
            r#"
[traffic]
backend = "route53"
[traffic.route53]
confirm_poll = "20ms"
[[regions]]
name = "us-east-1"
capacity_rps = 50
spill_to = ["us-west-2"]
probes = [{{ url = "http://{deep}/unavailable" }}]
traffic.route53 = {{ hosted_zone_id = "{zone}", record_name = "{NAME}", set_identifier = "primary", routing = "failover", values = ["192.0.2.10"] }}
[[regions]]
name = "us-west-2"
capacity_rps = 100
spill_to = ["us-east-1"]
probes = [{{ url = "http://{deep}/ok" }}]
traffic.route53 = {{ hosted_zone_id = "{zone}", record_name = "{NAME}", set_identifier = "secondary", routing = "failover", values = ["198.51.100.20"] }}
"#
        ),
    );
    let (mut daemon, mut logs) = support::spawn_aws_daemon(
        &config,
        dir.path(),
        &[("AWS_ENDPOINT_URL_ROUTE_53", moto.url.clone())],
    );
    let set = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while let Some(line) = logs.next_line().await.expect("read logs") {
            if line.contains("Route 53 share set.") {
                return line;
            }
        }
        panic!("the daemon exited before setting a share");
    })
    .await
    .expect("the daemon set a share within 60 s");
    assert!(set.contains("us-east-1"), "{set}");
    assert_eq!(
        values(&moto::by_set_id(&client, &zone, "primary").await),
        vec!["198.51.100.20"],
        "the primary answers with the secondary's values"
    );
    tokio::spawn(async move { while let Ok(Some(_)) = logs.next_line().await {} });
    assert_eq!(support::terminate(&mut daemon).await, Some(0));
    // The journal holds the shift and the time Route 53 took to report it INSYNC.
    let journal = std::fs::read_to_string(dir.path().join("state/journal.jsonl")).expect("journal");
    assert!(
        journal.lines().any(|l| l.contains(r#""kind":"confirmed""#)
            && l.contains(r#""regions":["us-east-1"]"#)
            && l.contains(r#""propagation_ms":"#)),
        "{journal}"
    );
}
