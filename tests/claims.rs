//! Other tools' claims on the knobs failoverd drives, read through the real AWS SDKs: an
//! external-dns ownership record and a Terraform tag on a hosted zone (moto), a clean zone, a
//! tagged accelerator and one failoverd may not read the tags of (the GA wire fake); the binary's
//! `check-config --live` printing them as advice, and `failoverd run` logging and journaling them
//! at start.

mod ga_fake;
mod moto;
mod support;

use std::path::Path;
use std::process::Output;

use aws_sdk_route53::Client;
use aws_sdk_route53::types::{ResourceRecord, ResourceRecordSet, RrType, Tag, TagResourceType};
use failoverd::config::Config;
use failoverd::traffic::Backend;
use failoverd::traffic::claims::Finding;
use ga_fake::GaFake;
use moto::Moto;

const WWW: &str = "www.example.com.";
const OWNER: &str = "\"heritage=external-dns,external-dns/owner=prod-cluster,external-dns/resource=ingress/web/www\"";
const ACCELERATOR: &str = "arn:aws:globalaccelerator::123456789012:accelerator/a1";

fn eg(name: &str) -> String {
    format!("{ACCELERATOR}/listener/l1/endpoint-group/{name}")
}

/// Two regions with weighted `www` records in `zone`.
fn route53_config(zone: &str) -> String {
    let mut text = r#"
[controller]
id = "claims"
control_region = "local"
[traffic]
backend = "route53"
[traffic.retry]
attempts = 2
base_delay = "1ms"
max_delay = "5ms"
"#
    .to_owned();
    for (region, other) in [("us-east-1", "eu-west-1"), ("eu-west-1", "us-east-1")] {
        text.push_str(&format!(
            r#"
[[regions]]
name = "{region}"
capacity_rps = 100
spill_to = ["{other}"]
probes = [{{ url = "http://127.0.0.1:9/" }}]
traffic.route53 = {{ hosted_zone_id = "{zone}", record_name = "{WWW}", set_identifier = "{region}", routing = "weighted" }}
"#
        ));
    }
    text
}

/// A zone holding both regions' weighted `www` records.
async fn www_zone(client: &Client) -> String {
    let zone = moto::zone(client, "example.com.").await;
    moto::create(
        client,
        &zone,
        vec![
            moto::record(WWW, "us-east-1", &["192.0.2.1"], Some(100), None),
            moto::record(WWW, "eu-west-1", &["192.0.2.2"], Some(100), None),
        ],
    )
    .await;
    zone
}

/// A TXT record `name` valued `value`, weighted under `set_id` as external-dns writes the
/// ownership record of a weighted record.
fn txt(name: &str, set_id: Option<&str>, value: &str) -> ResourceRecordSet {
    ResourceRecordSet::builder()
        .name(name)
        .r#type(RrType::Txt)
        .ttl(300)
        .set_set_identifier(set_id.map(str::to_owned))
        .set_weight(set_id.map(|_| 100))
        .resource_records(ResourceRecord::builder().value(value).build().expect("rr"))
        .build()
        .expect("txt record")
}

async fn tag_zone(client: &Client, zone: &str, key: &str, value: &str) {
    client
        .change_tags_for_resource()
        .resource_type(TagResourceType::Hostedzone)
        .resource_id(zone)
        .add_tags(Tag::builder().key(key).value(value).build())
        .send()
        .await
        .expect("tag the zone");
}

/// The claims `config`'s Route 53 backend finds, on `client`.
async fn route53_claims(client: Client, config: &Config) -> Vec<Finding> {
    let backend = Backend::Route53(support::route53(client, config, 1));
    backend
        .claims()
        .expect("Route 53 reads claims")
        .read()
        .await
}

fn lines(found: &[Finding]) -> Vec<String> {
    found.iter().map(ToString::to_string).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_dns_record_and_a_terraform_tag_are_each_a_claim_and_a_clean_zone_has_none() {
    let moto = Moto::start().await;
    let client = moto.route53();

    let clean = www_zone(&client).await;
    // Unrelated TXT records (failoverd's own fence, external-dns's record of another name) and
    // an unrelated tag.
    moto::create(
        &client,
        &clean,
        vec![
            txt(WWW, None, "\"v=spf1 -all\""),
            txt(
                "_failoverd-fence.www.example.com.",
                None,
                "\"failoverd epoch=1 seq=1 controller=c1\"",
            ),
            txt("a-api.example.com.", None, OWNER),
        ],
    )
    .await;
    tag_zone(&client, &clean, "Team", "web").await;
    let found = route53_claims(client.clone(), &config(&route53_config(&clean))).await;
    assert_eq!(lines(&found), Vec::<String>::new(), "a clean zone");

    let zone = www_zone(&client).await;
    moto::create(
        &client,
        &zone,
        vec![
            // external-dns owns us-east-1's record (new and old format), not eu-west-1's.
            txt("a-www.example.com.", Some("us-east-1"), OWNER),
            txt(WWW, Some("us-east-1"), OWNER),
        ],
    )
    .await;
    tag_zone(&client, &zone, "ManagedBy", "Terraform").await;
    let found = lines(&route53_claims(client.clone(), &config(&route53_config(&zone))).await);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(
        found[0].starts_with(&format!(
            "www.example.com. A (zone {zone}, set us-east-1) is owned by external-dns (owner=prod-cluster, resource=ingress/web/www, TXT record a-www.example.com.): external-dns writes its own weight back"
        )),
        "{found:#?}"
    );
    assert_eq!(
        found[1],
        format!(
            "hosted zone {zone} is tagged ManagedBy=Terraform: a terraform apply puts its configured weights back; add lifecycle {{ ignore_changes = [weighted_routing_policy] }} to the aws_route53_record resources failoverd drives (runbooks/coexistence.md)"
        )
    );
}

fn config(text: &str) -> Config {
    Config::from_toml(text, Path::new("claims.toml")).expect("valid config")
}

/// Two regions' endpoint groups of one accelerator: eu-west-1 by its dial, us-east-1 by its
/// endpoints' weights.
fn ga_regions() -> String {
    format!(
        r#"
[[regions]]
name = "eu-west-1"
capacity_rps = 100
spill_to = ["us-east-1"]
probes = [{{ url = "http://127.0.0.1:9/" }}]
knobs = [{{ global_accelerator = {{ endpoint_group_arn = "{eu}" }} }}]
[[regions]]
name = "us-east-1"
capacity_rps = 100
spill_to = ["eu-west-1"]
probes = [{{ url = "http://127.0.0.1:9/" }}]
knobs = [{{ global_accelerator = {{ endpoint_group_arn = "{us}", share_by = "weights", endpoints = [{{ id = "alb-1", weight = 100 }}] }} }}]
"#,
        eu = eg("eu"),
        us = eg("us")
    )
}

fn ga_fake() -> GaFake {
    let fake = GaFake::default();
    fake.insert(GaFake::group(&eg("eu"), &[("nlb-1", 128)]));
    fake.insert(GaFake::group(&eg("us"), &[("alb-1", 100)]));
    fake
}

#[tokio::test]
async fn a_tagged_accelerator_is_a_claim_and_tags_it_may_not_read_say_what_to_grant() {
    let fake = ga_fake();
    let addr = fake.serve().await;
    let client = ga_fake::client(addr);
    let config = config(&format!(
        r#"
[controller]
id = "claims"
control_region = "local"
[traffic]
backend = "global_accelerator"
[traffic.retry]
attempts = 2
base_delay = "1ms"
max_delay = "5ms"
{}"#,
        ga_regions()
    ));
    let backend =
        Backend::GlobalAccelerator(ga_fake::backend(addr, &config, config.traffic_setup()));
    let claims = backend.claims().expect("Global Accelerator reads claims");
    assert_eq!(
        lines(&claims.read().await),
        Vec::<String>::new(),
        "untagged"
    );

    client
        .tag_resource()
        .resource_arn(ACCELERATOR)
        .tags(
            aws_sdk_globalaccelerator::types::Tag::builder()
                .key("aws:cloudformation:stack-name")
                .value("edge-prod")
                .build()
                .expect("tag"),
        )
        .send()
        .await
        .expect("tag the accelerator");
    let found = lines(&claims.read().await);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].starts_with(&format!(
            "accelerator {ACCELERATOR} is part of CloudFormation stack edge-prod: drift detection (where the resource type supports it) shows failoverd's traffic dials and endpoint weights as drift on TrafficDialPercentage, EndpointConfigurations"
        )) && found[0].contains("AWS::GlobalAccelerator::EndpointGroup resources failoverd drives writes the template's"),
        "{found:#?}"
    );
    // One call per accelerator, however many of its groups are driven.
    let asked: Vec<String> = fake
        .calls()
        .iter()
        .filter(|c| c.operation == "ListTagsForResource")
        .map(|c| {
            c.body["ResourceArn"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(asked, [ACCELERATOR, ACCELERATOR], "one per read");

    fake.inject("ListTagsForResource", &["AccessDeniedException"]);
    let found = lines(&claims.read().await);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].starts_with(&format!(
            "could not check accelerator {ACCELERATOR}'s tags: global_accelerator ListTagsForResource failed (access_denied, permanent): AccessDeniedException"
        )) && found[0].ends_with(&format!(
            "grant globalaccelerator:ListTagsForResource on {ACCELERATOR} to check it"
        )),
        "{found:#?}"
    );
}

/// `failoverd` with the AWS SDK finding Route 53 at `route53` and Global Accelerator at `ga`
/// only.
fn failoverd(dir: &Path, route53: &str, ga: &str, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_failoverd"))
        .args(args)
        .env("AWS_ENDPOINT_URL_ROUTE_53", route53)
        .env("AWS_ENDPOINT_URL_GLOBAL_ACCELERATOR", ga)
        .envs(support::local_aws_env(dir))
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("FAILOVERD_CONFIG")
        .output()
        .expect("failoverd runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_live_prints_each_claim_as_advice_and_exits_zero() {
    let moto = Moto::start().await;
    let r53 = moto.route53();
    let zone = www_zone(&r53).await;
    moto::create(
        &r53,
        &zone,
        vec![txt("a-www.example.com.", Some("eu-west-1"), OWNER)],
    )
    .await;
    let fake = ga_fake();
    let addr = fake.serve().await;
    ga_fake::client(addr)
        .tag_resource()
        .resource_arn(ACCELERATOR)
        .tags(
            aws_sdk_globalaccelerator::types::Tag::builder()
                .key("managed-by")
                .value("terraform")
                .build()
                .expect("tag"),
        )
        .send()
        .await
        .expect("tag the accelerator");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("claims.toml");
    // Route 53 records of the regions, and their Global Accelerator groups as further knobs.
    let text_of = route53_config(&zone).replace(
        "probes = [{ url = \"http://127.0.0.1:9/\" }]\n",
        "probes = [{ url = \"http://127.0.0.1:9/\" }]\nKNOBS\n",
    );
    let text_of = text_of
        .replacen(
            "KNOBS",
            &format!(
                "knobs = [{{ global_accelerator = {{ endpoint_group_arn = \"{}\" }} }}]",
                eg("us")
            ),
            1,
        )
        .replacen(
            "KNOBS",
            &format!(
                "knobs = [{{ global_accelerator = {{ endpoint_group_arn = \"{}\" }} }}]",
                eg("eu")
            ),
            1,
        );
    std::fs::write(&file, text_of).expect("write config");
    let path = file.to_str().expect("utf-8");

    let o = failoverd(
        dir.path(),
        &moto.url,
        &format!("http://{addr}"),
        &["check-config", "--skip-files", "--live", path],
    );
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "claims are advice: {out}");
    assert!(
        out.contains(r#"live: traffic.route53.mode is "records"; no switches to check"#),
        "{out}"
    );
    let claims: Vec<&str> = out
        .lines()
        .filter(|l| l.contains(": live: claim: "))
        .collect();
    assert_eq!(claims.len(), 2, "{out}");
    assert!(
        claims[0].ends_with(&format!(
            "live: claim: www.example.com. A (zone {zone}, set eu-west-1) is owned by external-dns (owner=prod-cluster, resource=ingress/web/www, TXT record a-www.example.com.): external-dns writes its own weight back on every sync, undoing failoverd's drains; exclude this name from it (--exclude-domains=www.example.com; dropping the name from its Kubernetes resource instead makes a --policy=sync external-dns delete the record), or run it with --policy=create-only (upsert-only still updates) (runbooks/coexistence.md)"
        )),
        "{out}"
    );
    assert!(
        claims[1].ends_with(&format!(
            "live: claim: accelerator {ACCELERATOR} is tagged managed-by=terraform: a terraform apply puts its configured traffic dials back; add lifecycle {{ ignore_changes = [traffic_dial_percentage] }} to the aws_globalaccelerator_endpoint_group resources failoverd drives (runbooks/coexistence.md)"
        )),
        "{out}"
    );

    // Nothing claimed: one line says so.
    std::fs::write(&file, route53_config(&www_zone(&r53).await)).expect("write config");
    let o = failoverd(
        dir.path(),
        &moto.url,
        &format!("http://{addr}"),
        &["check-config", "--skip-files", "--live", path],
    );
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("live: no other tool claims the records or accelerators failoverd drives"),
        "{out}"
    );
    assert!(!out.contains("claim:"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_logs_each_claim_once_started() {
    let moto = Moto::start().await;
    let client = moto.route53();
    let zone = www_zone(&client).await;
    moto::create(
        &client,
        &zone,
        vec![txt("a-www.example.com.", Some("us-east-1"), OWNER)],
    )
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let deep = support::serve(None).await.addr;
    let body = route53_config(&zone)
        .split_once("[traffic]")
        .map(|(_, rest)| format!("[traffic]{rest}"))
        .expect("a [traffic] table")
        .replace("http://127.0.0.1:9/", &format!("http://{deep}/ok"));
    let config = support::aws_daemon_config(dir.path(), "claims-run", &body);
    let (mut daemon, mut logs) = support::spawn_aws_daemon(
        &config,
        dir.path(),
        &[("AWS_ENDPOINT_URL_ROUTE_53", moto.url.clone())],
    );
    let mut started = false;
    let claim = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while let Some(line) = logs.next_line().await.expect("read logs") {
            started |= line.contains("failoverd started.");
            if line.contains("Another tool claims a knob failoverd drives") {
                return line;
            }
        }
        panic!("the daemon exited before logging the claim");
    })
    .await
    .expect("the claim is logged within 60 s");
    assert!(started, "the controller started first");
    let json: serde_json::Value = serde_json::from_str(&claim).expect("a JSON log line");
    assert_eq!(json["level"], "WARN", "{claim}");
    let fields = &json;
    assert_eq!(
        fields["what"],
        format!("www.example.com. A (zone {zone}, set us-east-1)"),
        "{claim}"
    );
    assert!(
        fields["claimed_by"]
            .as_str()
            .is_some_and(|c| c.starts_with("owned by external-dns (owner=prod-cluster")),
        "{claim}"
    );
    assert_eq!(fields["runbook"], "runbooks/coexistence.md", "{claim}");
    tokio::spawn(async move { while let Ok(Some(_)) = logs.next_line().await {} });
    assert_eq!(support::terminate(&mut daemon).await, Some(0));
    // The journal keeps it too, for whoever reads it after the logs have rolled away.
    let journal = std::fs::read_to_string(dir.path().join("state/journal.jsonl")).expect("journal");
    assert!(
        journal
            .lines()
            .any(|l| l.contains(r#""kind":"other_tool_claim""#)
                && l.contains("owned by external-dns (owner=prod-cluster")),
        "{journal}"
    );
}
