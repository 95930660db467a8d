//! Checks that do what the config says but cannot follow the switch, made by hand in moto: a
//! disabled endpoint check, and a calculated check needing 1 of 3. Both are conflicts: the
//! setup moves no record onto them, and `check-config --live` fails.

use aws_sdk_route53::Client;
use aws_sdk_route53::types::{HealthCheckConfig, HealthCheckType};

use super::moto::{self, Moto};
use super::moto::{failoverd, text};
use super::{api, apply_once, config, estate, plan_of, seeded_zone};

/// Creates a check by hand (not failoverd's caller reference); its id.
pub(super) async fn by_hand(client: &Client, reference: &str, config: HealthCheckConfig) -> String {
    client
        .create_health_check()
        .caller_reference(reference)
        .health_check_config(config)
        .send()
        .await
        .expect("create")
        .health_check()
        .expect("check")
        .id()
        .to_owned()
}

/// Controller `c`'s check of `path`, as the test config wants it, disabled or not.
fn endpoint(c: &str, path: &str, disabled: bool) -> HealthCheckConfig {
    let b = HealthCheckConfig::builder()
        .r#type(HealthCheckType::Https)
        .resource_path(path)
        .request_interval(30)
        .failure_threshold(3)
        .disabled(disabled);
    match c {
        "c1" => b.ip_address("127.0.0.1").port(9443),
        "c2" => b.ip_address("127.0.0.2").port(9444),
        _ => b
            .fully_qualified_domain_name("switch-c3.example.net")
            .port(9443),
    }
    .build()
    .expect("config")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_and_minority_threshold_checks_are_conflicts_and_no_record_carries_them() {
    let moto = Moto::start().await;
    let client = moto.route53();
    let zone = seeded_zone(&client).await;
    // us-east-1: the three checks and a calculated check over them needing only 1.
    let mut children = Vec::new();
    for c in ["c1", "c2", "c3"] {
        let cfg = endpoint(c, "/switch/us-east-1", false);
        children.push(by_hand(&client, &format!("team-{c}-use1"), cfg).await);
    }
    let minority = by_hand(
        &client,
        "team-calc-use1",
        HealthCheckConfig::builder()
            .r#type(HealthCheckType::Calculated)
            .health_threshold(1)
            .set_child_health_checks(Some(children))
            .build()
            .expect("config"),
    )
    .await;
    // eu-west-1: c1's check, disabled.
    let cfg = endpoint("c1", "/switch/eu-west-1", true);
    let disabled = by_hand(&client, "team-c1-euw1", cfg).await;

    let config = config(&estate(&zone));
    let api = api(client.clone(), &config);
    let first = plan_of(&api, &config).await;
    assert_eq!(first.conflicts.len(), 2, "{:#?}", first.conflicts);
    assert!(
        first.conflicts.iter().any(|c| c.starts_with(&format!(
            "calculated check {minority} (switch us-east-1) needs 1 of its 3 children healthy"
        ))),
        "{:#?}",
        first.conflicts
    );
    assert!(
        first.conflicts.iter().any(|c| c.starts_with(&format!(
            "health check {disabled} (switch eu-west-1, controller c1) is disabled"
        ))),
        "{:#?}",
        first.conflicts
    );

    // Two applies: the missing endpoint checks of eu-west-1 are made; no record moves.
    apply_once(&api, &config).await;
    let (second, lines) = apply_once(&api, &config).await;
    assert_eq!(second.changes, 0, "{lines:#?}");
    assert!(
        moto::records(&client, &zone)
            .await
            .iter()
            .all(|r| r.health_check_id().is_none()),
        "no record carries an unsafe check"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("switches.toml");
    std::fs::write(&file, estate(&zone)).expect("write config");
    let file = file.to_str().expect("utf-8");
    let live = failoverd(&moto, &["check-config", "--skip-files", "--live", file]);
    assert_eq!(live.status.code(), Some(1), "{}", text(&live));
    let out = text(&live);
    assert!(
        out.contains(&format!(
            "live: conflict: calculated check {minority} (switch us-east-1) needs 1"
        )) && out.contains(&format!(
            "--health-check-id {minority} --health-threshold 2"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("live: conflict: health check {disabled}")),
        "{out}"
    );
}
