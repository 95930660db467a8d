//! Controller checks made by hand in moto that match the config's endpoints but not its
//! `[switches]` settings (`failure_threshold = 3`, `request_interval = "30s"`): a failure
//! threshold of 2 is a change the plan prints (exit 1 without `--apply`) and `--apply` makes with
//! `UpdateHealthCheck`; an interval of 10s is a conflict, for the command and for
//! `check-config --live`.

use aws_sdk_route53::types::{HealthCheckConfig, HealthCheckType};

use super::moto::Moto;
use super::moto::{failoverd, text};
use super::unsafe_checks::by_hand;
use super::{
    Step, api, apply_once, config, config_of, estate, health_checks, plan_of, seeded_zone,
};

/// Controller `c`'s check of `path` at `interval` seconds with `threshold`.
fn endpoint(c: &str, path: &str, interval: i32, threshold: i32) -> HealthCheckConfig {
    let b = HealthCheckConfig::builder()
        .r#type(HealthCheckType::Https)
        .resource_path(path)
        .request_interval(interval)
        .failure_threshold(threshold);
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
async fn a_failure_threshold_that_differs_is_set_and_an_interval_that_differs_is_a_conflict() {
    let moto = Moto::start().await;
    let client = moto.route53();
    let zone = seeded_zone(&client).await;
    // us-east-1: c1's check made when the config said 2; eu-west-1: c1's check at 10s.
    let low = endpoint("c1", "/switch/us-east-1", 30, 2);
    let low = by_hand(&client, "team-c1-use1", low).await;
    let fast = endpoint("c1", "/switch/eu-west-1", 10, 3);
    let fast = by_hand(&client, "team-c1-euw1", fast).await;

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("switches.toml");
    std::fs::write(&file, estate(&zone)).expect("write config");
    let file = file.to_str().expect("utf-8");
    let set = format!(
        "set failure threshold: switch us-east-1, controller c1: health check {low} from 2 to 3 results to change state"
    );
    let conflict = format!(
        "conflict: health check {fast} (switch eu-west-1, controller c1) checks every 10s, the config's request_interval is 30s"
    );

    let planned = failoverd(&moto, &["setup", "route53-switches", "--config", file]);
    assert_eq!(planned.status.code(), Some(1), "{}", text(&planned));
    let out = text(&planned);
    assert!(out.contains(&format!("+ {set}")), "{out}");
    assert!(out.contains(&conflict), "{out}");
    assert!(!out.contains("note: "), "{out}");

    let live = failoverd(&moto, &["check-config", "--skip-files", "--live", file]);
    assert_eq!(live.status.code(), Some(1), "{}", text(&live));
    let out = text(&live);
    assert!(out.contains(&format!("live: differs: {set}")), "{out}");
    assert!(out.contains(&format!("live: {conflict}")), "{out}");

    let config = config(&estate(&zone));
    let api = api(client.clone(), &config);
    let (_, lines) = apply_once(&api, &config).await;
    assert!(
        lines.contains(&format!("done: {}", set.replacen("set", "set the", 1))),
        "{lines:#?}"
    );
    let checks = health_checks(&client).await;
    let updated = checks.iter().find(|c| c.id() == low).expect("still there");
    let cfg = config_of(updated);
    assert_eq!(cfg.failure_threshold(), Some(3));
    // Everything else as it was.
    assert_eq!(cfg.request_interval(), Some(30));
    assert_eq!(cfg.ip_address(), Some("127.0.0.1"));
    assert_eq!(cfg.port(), Some(9443));
    assert_eq!(cfg.resource_path(), Some("/switch/us-east-1"));
    assert_eq!(cfg.r#type(), &HealthCheckType::Https);

    let after = plan_of(&api, &config).await;
    assert!(
        !after
            .steps
            .iter()
            .any(|s| matches!(s, Step::SetFailureThreshold { .. })),
        "{:#?}",
        after.steps
    );
    assert_eq!(after.conflicts.len(), 1, "{:#?}", after.conflicts);
    assert!(after.conflicts[0].contains(&fast), "{:#?}", after.conflicts);
}
