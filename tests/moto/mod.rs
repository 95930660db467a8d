//! The moto server (PyPI `moto[server]`), an AWS emulator, started on a free loopback port for
//! one test and stopped when the test drops it. `scripts/test` installs it into
//! `target/test-tools/moto`; `FAILOVERD_MOTO_SERVER` names another `moto_server` binary.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::Duration;

use aws_sdk_route53::Client;
use aws_sdk_route53::config::retry::RetryConfig;
use aws_sdk_route53::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet,
    ResourceRecordSetFailover, RrType,
};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub struct Moto {
    pub url: String,
    _child: Child,
}

fn binary() -> PathBuf {
    // Empty counts as unset, as scripts/test reads it.
    std::env::var_os("FAILOVERD_MOTO_SERVER")
        .filter(|v| !v.is_empty())
        .map_or_else(
            || {
                PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("target/test-tools/moto/bin/moto_server")
            },
            PathBuf::from,
        )
}

impl Moto {
    /// Starts a fresh server (so no state leaks between tests) and waits for the line in
    /// which it names its port.
    pub async fn start() -> Moto {
        let bin = binary();
        assert!(
            bin.exists(),
            "{} is missing: run scripts/test, which installs moto[server], or set FAILOVERD_MOTO_SERVER",
            bin.display()
        );
        let mut child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn moto_server");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let url = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.expect("read moto output") {
                if let Some(at) = line.find("http://127.0.0.1:") {
                    let url: String = line[at..]
                        .chars()
                        .take_while(|c| !c.is_whitespace())
                        .collect();
                    return url;
                }
            }
            panic!("moto_server exited before it listened");
        })
        .await
        .expect("moto_server listens within 60 s");
        // Keep draining its request log so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Moto { url, _child: child }
    }

    /// A Route 53 client for this server, with the SDK's own retries off.
    pub fn route53(&self) -> Client {
        let sdk = aws_sdk_route53::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&self.url)
            .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
            .retry_config(RetryConfig::disabled())
            .build();
        Client::from_conf(sdk)
    }
}

/// A new hosted zone called `name`; its id without the `/hostedzone/` prefix.
pub async fn zone(client: &Client, name: &str) -> String {
    let out = client
        .create_hosted_zone()
        .name(name)
        .caller_reference(format!("failoverd-test-{}-{name}", std::process::id()))
        .send()
        .await
        .expect("create zone");
    let id = out.hosted_zone().expect("zone").id();
    id.trim_start_matches("/hostedzone/").to_owned()
}

/// A record set `set_id` of `name` (type A, TTL 60) answering `values`.
pub fn record(
    name: &str,
    set_id: &str,
    values: &[&str],
    weight: Option<i64>,
    failover: Option<ResourceRecordSetFailover>,
) -> ResourceRecordSet {
    let mut b = ResourceRecordSet::builder()
        .name(name)
        .r#type(RrType::A)
        .set_identifier(set_id)
        .ttl(60)
        .set_weight(weight)
        .set_failover(failover);
    for v in values {
        b = b.resource_records(ResourceRecord::builder().value(*v).build().expect("rr"));
    }
    b.build().expect("record")
}

/// A latency record set `set_id` of `name` and `rtype` (TTL 60) for `region`, carrying `check`,
/// answering `value`.
pub fn latency(
    name: &str,
    (set_id, rtype): (&str, RrType),
    region: &str,
    check: Option<&str>,
    value: &str,
) -> ResourceRecordSet {
    ResourceRecordSet::builder()
        .name(name)
        .r#type(rtype)
        .set_identifier(set_id)
        .ttl(60)
        .region(aws_sdk_route53::types::ResourceRecordSetRegion::from(
            region,
        ))
        .set_health_check_id(check.map(str::to_owned))
        .resource_records(ResourceRecord::builder().value(value).build().expect("rr"))
        .build()
        .expect("record")
}

/// Creates `records` in `zone`.
pub async fn create(client: &Client, zone: &str, records: Vec<ResourceRecordSet>) {
    let changes: Vec<Change> = records
        .into_iter()
        .map(|r| {
            Change::builder()
                .action(ChangeAction::Create)
                .resource_record_set(r)
                .build()
                .expect("change")
        })
        .collect();
    client
        .change_resource_record_sets()
        .hosted_zone_id(zone)
        .change_batch(
            ChangeBatch::builder()
                .set_changes(Some(changes))
                .build()
                .expect("batch"),
        )
        .send()
        .await
        .expect("create records");
}

/// Replaces `record` in `zone` (creates it if missing), as a person in the console does.
pub async fn upsert(client: &Client, zone: &str, record: ResourceRecordSet) {
    let change = Change::builder()
        .action(ChangeAction::Upsert)
        .resource_record_set(record)
        .build()
        .expect("change");
    client
        .change_resource_record_sets()
        .hosted_zone_id(zone)
        .change_batch(
            ChangeBatch::builder()
                .changes(change)
                .build()
                .expect("batch"),
        )
        .send()
        .await
        .expect("upsert");
}

/// Every record set of the zone, as the emulator holds it.
pub async fn records(client: &Client, zone: &str) -> Vec<ResourceRecordSet> {
    client
        .list_resource_record_sets()
        .hosted_zone_id(zone)
        .send()
        .await
        .expect("list")
        .resource_record_sets()
        .to_vec()
}

/// The record set `set_id` of the zone.
pub async fn by_set_id(client: &Client, zone: &str, set_id: &str) -> ResourceRecordSet {
    records(client, zone)
        .await
        .into_iter()
        .find(|r| r.set_identifier() == Some(set_id))
        .unwrap_or_else(|| panic!("{set_id} is in the zone"))
}

/// `failoverd` with the AWS SDK pointed at `moto` and nothing else of the environment's AWS
/// settings.
pub fn failoverd(moto: &Moto, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_failoverd"))
        .args(args)
        .env("AWS_ENDPOINT_URL", &moto.url)
        .env("AWS_ACCESS_KEY_ID", "AKIDTEST")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-credentials",
        )
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL_ROUTE_53")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("FAILOVERD_CONFIG")
        .output()
        .expect("failoverd runs")
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
