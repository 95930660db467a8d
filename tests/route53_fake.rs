//! The Route 53 backend through the real AWS SDK against `r53_fake`, a wire-level fake that
//! behaves as the Route 53 API documents where the moto server does not: atomic batches,
//! exact-match DELETEs (so the fence is a real compare-and-swap), PENDING→INSYNC, request
//! limits, paging by set identifier, throttling (see tests/README.md).

mod r53_fake;
mod support;

use std::path::Path;

use aws_sdk_route53::Client;
use aws_sdk_route53::config::retry::RetryConfig;
use aws_sdk_route53::config::{BehaviorVersion, Credentials, Region};
use axum::http::StatusCode;
use failoverd::config::Config;
use failoverd::share::Share;
use failoverd::traffic::{ErrorCode, Retry, ShareChange, TrafficBackend};
use r53_fake::{R53Fake, Rrset};
use support::{change, route53};

const ZONE: &str = "Z0FAKE";
const NAME: &str = "api.example.com.";
const REGIONS: [&str; 4] = ["ap-south-1", "eu-west-1", "us-east-1", "us-west-2"];

fn config(extra: &str) -> Config {
    let regions: String = REGIONS
        .iter()
        .map(|r| {
            format!(
                r#"
[[regions]]
name = "{r}"
capacity_rps = 100
spill_to = ["{spill}"]
probes = [{{ url = "http://127.0.0.1:9/" }}]
traffic.route53 = {{ hosted_zone_id = "{ZONE}", record_name = "{NAME}", set_identifier = "{r}", routing = "weighted" }}
"#,
                spill = if *r == "us-east-1" { "us-west-2" } else { "us-east-1" }
            )
        })
        .collect();
    let text = format!(
        r#"
[controller]
id = "fake"
control_region = "local"
[traffic]
backend = "route53"
[traffic.route53]
confirm_poll = "1ms"
confirm_poll_max = "4ms"
{extra}
[traffic.retry]
attempts = 4
base_delay = "1ms"
max_delay = "5ms"
jitter = false
{regions}"#
    );
    Config::from_toml(&text, Path::new("t.toml")).expect("valid config")
}

async fn setup(values_per_record: usize) -> (R53Fake, Client) {
    let fake = R53Fake::default();
    let values: Vec<String> = (0..values_per_record)
        .map(|i| format!("10.0.{}.{}", i / 250, i % 250 + 1))
        .collect();
    let values: Vec<&str> = values.iter().map(String::as_str).collect();
    fake.zone(
        ZONE,
        REGIONS
            .iter()
            .map(|r| Rrset::weighted(NAME, r, 100, &values))
            .collect(),
    );
    let addr = fake.serve().await;
    let sdk = aws_sdk_route53::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(format!("http://{addr}"))
        .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
        .retry_config(RetryConfig::disabled())
        .build();
    (fake, Client::from_conf(sdk))
}

fn fence(fake: &R53Fake) -> String {
    fake.records(ZONE)
        .into_iter()
        .find(|r| r.rtype == "TXT")
        .map(|r| r.values().concat())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_stale_controller_is_fenced_out_and_its_batch_changes_nothing() {
    let (fake, client) = setup(1).await;
    let config = config("");
    let old = route53(client.clone(), &config, 10);
    let new = route53(client.clone(), &config, 20);

    old.apply(&[change("eu-west-1", 100, 50)])
        .await
        .expect("the first controller writes");
    assert!(fence(&fake).contains("epoch=10"), "{}", fence(&fake));
    new.apply(&[change("eu-west-1", 50, 0)])
        .await
        .expect("a newer controller takes the fence over");
    assert!(fence(&fake).contains("epoch=20"), "{}", fence(&fake));

    // The old controller reads the fence before its batch, as before every batch: it finds the
    // newer epoch there and sends nothing, its stale write included.
    let sent = fake.received().len();
    let err = old
        .apply(&[change("eu-west-1", 0, 100)])
        .await
        .expect_err("fenced");
    assert_eq!(err.retry(), Retry::Fenced, "{err}");
    assert_eq!(err.code, ErrorCode::Fenced);
    assert!(err.message.contains("epoch=20"), "{err}");
    assert_eq!(fake.record(ZONE, "eu-west-1").weight, Some(0));
    assert_eq!(fake.received().len(), sent, "no batch was sent");

    // Once fenced, it sends nothing more.
    let sent = fake.received().len();
    let err = old
        .apply(&[change("us-east-1", 100, 0)])
        .await
        .expect_err("still fenced");
    assert_eq!(err.retry(), Retry::Fenced);
    assert_eq!(fake.received().len(), sent);

    // A controller started with an older epoch than the fence's never writes at all.
    let older = route53(client, &config, 5);
    let err = older
        .apply(&[change("us-east-1", 100, 0)])
        .await
        .expect_err("older epoch");
    assert_eq!(err.retry(), Retry::Fenced);
    assert_eq!(fake.received().len(), sent);
    assert_eq!(fake.record(ZONE, "us-east-1").weight, Some(100));
}

#[tokio::test]
async fn a_fence_that_is_not_failoverds_is_never_overwritten() {
    let (fake, client) = setup(1).await;
    let mut foreign = Rrset::weighted("_failoverd-fence.api.example.com.", "", 0, &["\"hello\""]);
    foreign.rtype = "TXT".to_owned();
    foreign.set_identifier = None;
    foreign.weight = None;
    foreign.health_check_id = None;
    fake.put(ZONE, foreign);
    let backend = route53(client, &config(""), 9);
    let err = backend
        .apply(&[change("eu-west-1", 100, 0)])
        .await
        .expect_err("fenced");
    assert_eq!(err.retry(), Retry::Fenced);
    assert!(fake.received().is_empty());
    assert_eq!(fence(&fake), "\"hello\"");
}

#[tokio::test]
async fn changes_are_confirmed_by_polling_until_insync_and_a_slow_change_is_reported() {
    let (fake, client) = setup(1).await;
    fake.pending_polls(3);
    let backend = route53(client.clone(), &config(""), 1);
    let applied = backend
        .apply(&[change("eu-west-1", 100, 0)])
        .await
        .expect("applied and confirmed");
    assert_eq!(
        fake.get_change_calls(),
        4,
        "three PENDING answers, then INSYNC"
    );
    let took = applied.propagation.expect("propagation measured");
    // Three waits at least: confirm_poll, then doubled, then doubled again.
    let polls = config("").traffic.route53.confirm_poll;
    assert!(took >= polls * 7, "{took:?}");

    fake.pending_polls(1_000);
    let slow = route53(client, &config(r#"confirm_timeout = "20ms""#), 2);
    let err = slow
        .apply(&[change("eu-west-1", 0, 100)])
        .await
        .expect_err("never INSYNC");
    assert_eq!(err.retry(), Retry::Retryable);
    assert_eq!(err.code, ErrorCode::Unconfirmed);
    assert!(err.message.contains("still PENDING after 20ms"), "{err}");
    // The change itself was accepted: the next tick finds nothing to do.
    assert_eq!(fake.record(ZONE, "eu-west-1").weight, Some(100));
}

#[tokio::test]
async fn throttling_and_a_busy_zone_are_retried_until_the_change_lands() {
    let (fake, client) = setup(1).await;
    fake.inject("ListResourceRecordSets", "Throttling");
    fake.inject("ChangeResourceRecordSets", "Throttling");
    fake.inject("ChangeResourceRecordSets", "PriorRequestNotComplete");
    fake.inject("GetChange", "Throttling");
    let backend = route53(client, &config(""), 1);
    backend
        .apply(&[change("us-west-2", 100, 25)])
        .await
        .expect("lands after retries");
    assert_eq!(fake.record(ZONE, "us-west-2").weight, Some(25));
    assert_eq!(fake.received().len(), 1, "one batch reached the zone");
}

#[tokio::test]
async fn a_5xx_with_any_body_is_transient_and_retried_and_a_4xx_the_backend_does_not_name_is_not() {
    let (fake, client) = setup(1).await;
    let page = "<html><body><h1>502 Bad Gateway</h1></body></html>";
    fake.inject_raw("ListResourceRecordSets", StatusCode::BAD_GATEWAY, page);
    fake.inject_raw(
        "ChangeResourceRecordSets",
        StatusCode::SERVICE_UNAVAILABLE,
        page,
    );
    let backend = route53(client.clone(), &config(""), 1);
    backend
        .apply(&[change("us-west-2", 100, 25)])
        .await
        .expect("lands after retrying the 502 and the 503");
    assert_eq!(fake.record(ZONE, "us-west-2").weight, Some(25));

    let backend = route53(client, &config(""), 1);
    fake.inject_raw("ListResourceRecordSets", StatusCode::IM_A_TEAPOT, page);
    let err = backend.read().await.expect_err("a 418 is not retried");
    assert_eq!(
        (err.code, err.retry()),
        (ErrorCode::Other, Retry::Permanent),
        "{err}"
    );
}

#[tokio::test]
async fn a_permanent_error_is_not_retried() {
    let (fake, client) = setup(1).await;
    fake.inject("ChangeResourceRecordSets", "AccessDenied");
    fake.inject("ChangeResourceRecordSets", "AccessDenied");
    let backend = route53(client, &config(""), 1);
    let err = backend
        .apply(&[change("us-west-2", 100, 0)])
        .await
        .expect_err("denied");
    assert_eq!(err.retry(), Retry::Permanent);
    assert_eq!(err.code, ErrorCode::AccessDenied);
    assert!(err.message.starts_with("AccessDenied"), "{err}");
    assert!(
        std::error::Error::source(&err).is_some(),
        "the SDK error is kept as the source"
    );
    assert_eq!(fake.record(ZONE, "us-west-2").weight, Some(100));
}

#[tokio::test]
async fn a_large_plan_is_split_into_batches_within_the_limits_each_fenced() {
    // 300 values a record: each region's UPSERT counts 600 records, so no two fit together.
    let (fake, client) = setup(300).await;
    let backend = route53(client, &config(""), 1);
    let changes: Vec<ShareChange> = REGIONS.iter().map(|r| change(r, 100, 0)).collect();
    backend.apply(&changes).await.expect("applied");

    let batches = fake.received();
    assert_eq!(batches.len(), 4, "{batches:?}");
    for (i, b) in batches.iter().enumerate() {
        assert!(b.accepted);
        assert!(
            b.records <= 1000 && b.chars <= 32_000,
            "{} {}",
            b.records,
            b.chars
        );
        let actions: Vec<&str> = b.changes.iter().map(|(a, _)| a.as_str()).collect();
        let expected: &[&str] = if i == 0 {
            &["CREATE", "UPSERT"]
        } else {
            &["DELETE", "CREATE", "UPSERT"]
        };
        assert_eq!(actions, expected, "batch {i}");
    }
    for r in REGIONS {
        let record = fake.record(ZONE, r);
        assert_eq!(record.weight, Some(0));
        assert_eq!(record.values().len(), 300, "values kept");
        assert_eq!(
            record.health_check_id.as_deref(),
            Some("hc-1"),
            "health check kept"
        );
    }
}

#[tokio::test]
async fn reading_follows_pages_by_set_identifier_and_an_unchanged_plan_sends_nothing() {
    let (fake, client) = setup(1).await;
    // 250 other weighted records of the same name sort before the bound ones, so reading them
    // takes three pages of 100.
    for i in 0..250 {
        fake.put(
            ZONE,
            Rrset::weighted(NAME, &format!("a-canary-{i:03}"), 0, &["192.0.2.9"]),
        );
    }
    fake.put(ZONE, Rrset::weighted(NAME, "us-west-2", 37, &["192.0.2.7"]));
    let backend = route53(client, &config(""), 1);
    let shares = backend.read().await.expect("read");
    assert_eq!(fake.list_calls(), 3, "three pages");
    assert_eq!(shares.len(), 4);
    assert_eq!(shares["us-west-2"], Share::try_new(37).expect("share"));
    backend
        .apply(&[change("us-west-2", 100, 37)])
        .await
        .expect("nothing to do");
    assert!(
        fake.received().is_empty(),
        "no batch for a record already right"
    );
}
