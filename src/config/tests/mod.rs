use std::path::Path;
use std::time::Duration;

use super::*;
use crate::plan::HardDown;
use crate::traffic::BackendKind;

mod arc;
mod bounds;
mod cluster;
mod drills;
mod external;
mod policy;
mod proximity;
mod reading;
mod services;
mod spill;
mod switches;
mod traffic;

const MINIMAL: &str = r#"
[controller]
id = "c1"
control_region = "us-east-2"

[[regions]]
name = "a"
capacity_rps = 100
spill_to = ["b"]
probes = [{ url = "http://a.example/healthz/deep" }]

[[regions]]
name = "b"
capacity_rps = 100
spill_to = ["a"]
probes = [{ url = "http://b.example/healthz/deep" }]
"#;

fn parse(text: &str) -> Config {
    Config::parse(text, Path::new("test.toml")).expect("parses")
}

/// Validation messages of `MINIMAL` with `edit` applied to the parsed config.
fn errors_after(edit: impl FnOnce(&mut Config)) -> Vec<String> {
    let mut c = parse(MINIMAL);
    edit(&mut c);
    validate(&c).iter().map(ToString::to_string).collect()
}

fn assert_one_error(edit: impl FnOnce(&mut Config), expected: &str) {
    let errors = errors_after(edit);
    assert_eq!(errors, vec![expected.to_owned()]);
}

/// Every error loading `text` reports; the planner policy's values are checked by their types
/// as the file is read, so they cannot be edited into a parsed config.
fn load_errors(text: &str) -> Vec<String> {
    match Config::from_toml(text, Path::new("test.toml")) {
        Ok(_) => Vec::new(),
        Err(Error::Invalid(errors)) => errors.iter().map(ToString::to_string).collect(),
        Err(e) => panic!("not reported as validation errors: {e}"),
    }
}

#[test]
fn minimal_config_is_valid_and_gets_the_documented_defaults() {
    let c = Config::from_toml(MINIMAL, Path::new("test.toml")).expect("valid");
    assert_eq!(c.controller.tick_interval, DEFAULT_TICK_INTERVAL);
    assert_eq!(c.controller.shutdown_grace, Duration::from_secs(10));
    assert_eq!(c.policy.fall.get(), 3);
    assert_eq!(c.policy.rise.get(), 3);
    assert_eq!(c.policy.hold_down, Duration::from_secs(60));
    assert_eq!(c.policy.max_step.get(), 25);
    assert!((c.policy.max_utilization.get() - 0.8).abs() < f64::EPSILON);
    assert_eq!(c.policy.min_serving_regions.get(), 1);
    assert_eq!(c.policy.hard_down, HardDown::Immediate);
    assert_eq!(c.probe.interval, Duration::from_secs(2));
    assert_eq!(c.probe.timeout, Duration::from_secs(2));
    assert_eq!(c.probe.retries, 1);
    assert_eq!(c.traffic.backend, BackendKind::Sim);
    assert_eq!(c.store.state_dir, Path::new("/var/lib/failoverd"));
    assert_eq!(c.admin.listen, DEFAULT_ADMIN_LISTEN);
    assert!(!c.admin.enabled);
    assert_eq!(c.regions[0].ring, 1);
    assert_eq!(c.regions[0].probes[0].expect_status, vec![200]);
    assert_eq!(c.regions[0].load_from.load.as_deref(), Some("/load_rps"));
}

#[test]
fn durations_are_written_as_humans_write_them() {
    let text = MINIMAL.replace(
        "control_region = \"us-east-2\"",
        "control_region = \"us-east-2\"\ntick_interval = \"1m 30s\"",
    );
    assert_eq!(
        parse(&text).controller.tick_interval,
        Duration::from_secs(90)
    );
    let bad = MINIMAL.replace(
        "control_region = \"us-east-2\"",
        "control_region = \"us-east-2\"\ntick_interval = \"soon\"",
    );
    let err = Config::parse(&bad, Path::new("test.toml")).expect_err("bad duration");
    assert!(err.to_string().contains("tick_interval"), "{err}");
}

#[test]
fn unknown_keys_are_rejected_with_their_name() {
    let text = MINIMAL.replace("[controller]", "[controller]\ntick_intervall = \"5s\"");
    let err = Config::parse(&text, Path::new("test.toml")).expect_err("unknown key");
    assert!(err.to_string().contains("tick_intervall"), "{err}");
}

#[test]
fn duplicate_region_names_are_rejected() {
    let errors = errors_after(|c| {
        c.regions[1].name = "a".into();
        c.regions[1].spill_to.clear();
        c.regions[0].spill_to.clear();
    });
    assert_eq!(
        errors,
        vec!["regions[1].name: duplicate region \"a\" (also regions[0])"]
    );
}

#[test]
fn spill_to_must_name_another_configured_region() {
    assert_one_error(
        |c| c.regions[0].spill_to = vec!["eu-west-9".into()],
        "regions[0].spill_to[0]: unknown region \"eu-west-9\"",
    );
    assert_one_error(
        |c| c.regions[0].spill_to = vec!["a".into()],
        "regions[0].spill_to[0]: a region cannot spill to itself (\"a\")",
    );
    assert_one_error(
        |c| c.regions[0].spill_to = vec!["b".into(), "b".into()],
        "regions[0].spill_to[1]: \"b\" is listed twice",
    );
}

#[test]
fn rings_start_at_zero_or_one_without_gaps() {
    assert_one_error(
        |c| {
            c.regions[0].ring = 2;
            c.regions[1].ring = 3;
        },
        "regions[].ring: rings must start at 0 or 1, the lowest is 2",
    );
    assert_one_error(
        |c| c.regions[1].ring = 3,
        "regions[1].ring: ring 3 leaves a gap: no region is in ring 2",
    );
    assert!(errors_after(|c| c.regions[0].ring = 0).is_empty());
}

#[test]
fn at_least_two_regions_are_needed() {
    assert_one_error(
        |c| {
            c.regions.truncate(1);
            c.regions[0].spill_to.clear();
        },
        "regions: at least two regions are needed to fail over, got 1",
    );
}

#[test]
fn zero_durations_are_rejected() {
    assert_one_error(
        |c| c.controller.tick_interval = Duration::ZERO,
        "controller.tick_interval: 0s is out of range; allowed 100ms..=5m",
    );
    assert_one_error(
        |c| c.probe.interval = Duration::ZERO,
        "probe.interval: 0s is out of range; allowed 100ms..=1h",
    );
    assert_one_error(
        |c| c.regions[0].probes[0].timeout = Some(Duration::ZERO),
        "regions[0].probes[0].timeout: 0s is out of range; allowed 100ms..=1m",
    );
}

#[test]
fn probes_need_a_usable_url_and_status_codes() {
    assert_one_error(
        |c| c.regions[0].probes.clear(),
        "regions[0].probes: needs at least one probe target (only simulated regions get one from the world)",
    );
    assert_one_error(
        |c| c.regions[0].probes[0].url = "a.example/healthz".into(),
        "regions[0].probes[0].url: \"a.example/healthz\" must be an absolute http://, https:// or tcp:// URL (invalid format)",
    );
    assert_one_error(
        |c| c.regions[0].probes[0].url = "ftp://a.example/healthz".into(),
        "regions[0].probes[0].url: \"ftp://a.example/healthz\" must be an http://, https:// or tcp:// URL",
    );
    assert_one_error(
        |c| c.regions[0].probes[0].url = "tcp://a.example".into(),
        "regions[0].probes[0].url: \"tcp://a.example\" needs a port (tcp://host:port)",
    );
    assert_one_error(
        |c| c.regions[0].probes[0].method = "GE T".into(),
        "regions[0].probes[0].method: \"GE T\" is not an HTTP method",
    );
    assert_one_error(
        |c| c.regions[0].probes[0].expect_status = vec![200, 42],
        "regions[0].probes[0].expect_status[1]: 42 is not an HTTP status code",
    );
    assert_one_error(
        |c| c.regions[1].load_from.load = Some("load_rps".into()),
        "regions[1].load_from.load: \"load_rps\" is not a JSON pointer (it must start with '/')",
    );
}

#[test]
fn capacity_must_be_positive() {
    assert_one_error(
        |c| c.regions[1].capacity_rps = Some(0.0),
        "regions[1].capacity_rps: must be at least 0.001 and at most 1e9 (requests/s), got 0",
    );
}

#[test]
fn plain_http_admin_only_on_loopback() {
    assert_one_error(
        |c| {
            c.admin.enabled = true;
            c.admin.allow_plain_http = true;
            c.admin.listen = "0.0.0.0:9443".parse().expect("addr");
            c.admin.tokens = vec![AdminToken {
                name: "ops".into(),
                sha256: "ab".repeat(32),
                role: AdminRole::Operator,
            }];
        },
        "admin.allow_plain_http: plain HTTP is allowed only on a loopback address, but admin.listen is 0.0.0.0:9443",
    );
    let errors = errors_after(|c| c.admin.enabled = true);
    assert_eq!(
        errors,
        vec![
            "admin.tls_cert: is required unless admin.allow_plain_http = true",
            "admin.tls_key: is required unless admin.allow_plain_http = true",
            "admin.tokens: at least one token is needed to use the admin endpoint",
        ]
    );
}

#[test]
fn every_error_is_reported_at_once() {
    // The policy value is rejected by its type while the file is read, the others by
    // validation; all three come together.
    let text = format!(
        "{}\n[policy]\nfall = 0\n",
        MINIMAL
            .replace("spill_to = [\"b\"]", "spill_to = [\"eu-west-9\"]")
            .replace(
                "name = \"b\"\ncapacity_rps = 100",
                "name = \"b\"\ncapacity_rps = -5"
            )
    );
    let errors = load_errors(&text);
    assert_eq!(
        errors,
        vec![
            "policy.fall: must be at least 1, got 0 (line 19, column 8)",
            "regions[0].spill_to[0]: unknown region \"eu-west-9\"",
            "regions[1].capacity_rps: must be at least 0.001 and at most 1e9 (requests/s), got -5",
        ]
    );
}

#[test]
fn shipped_configs_are_valid() {
    for file in [
        "config/example.toml",
        "config/demo.toml",
        "config/demo-one-service.toml",
        "config/services.example.toml",
        "config/nearest.toml",
    ] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        if let Err(e) = Config::load(&path) {
            panic!("{file}: {e}");
        }
    }
}

#[test]
fn settle_defaults_to_a_minute_when_any_knob_is_a_clouds_whatever_traffic_backend_says() {
    let settle = |file: &str| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        Config::load(&path).expect("valid").policy.settle
    };
    // Route 53 records; and an estate of Route 53 and Global Accelerator knobs whose
    // traffic.backend is left at its default.
    assert_eq!(settle("config/example.toml"), Some(Duration::from_secs(60)));
    assert_eq!(
        settle("config/services.example.toml"),
        Some(Duration::from_secs(60))
    );
    // Only the in-memory backend's knobs: its users follow at once.
    assert_eq!(settle("config/demo.toml"), Some(Duration::ZERO));
}

#[test]
fn https_and_tcp_targets_with_every_option_parse_and_validate() {
    let text = MINIMAL.replace(
        "probes = [{ url = \"http://a.example/healthz/deep\" }]",
        r#"quorum = 2
[[regions.probes]]
url = "https://10.0.0.1/healthz/deep"
host = "api.example.com"
method = "GET"
headers = { "X-Probe" = "failoverd" }
secret_headers = [{ name = "Authorization", env = "PROBE_TOKEN" }]
expect_status = [200, 204]
timeout = "3s"
connect_timeout = "500ms"
latency_budget = "800ms"
interval = "30s"
ca_file = "/etc/failoverd/internal-ca.pem"
assert = [{ pointer = "/checks/db", equals = "ok" }, { pointer = "/queue", lt = 1000 }]
degraded_when = [{ pointer = "/status", one_of = ["degraded", "amber"] }]
[[regions.probes]]
url = "tcp://10.0.0.1:5432"
"#,
    );
    let c = Config::from_toml(&text, Path::new("test.toml")).expect("valid");
    let t = &c.regions[0].probes[0];
    assert_eq!(t.host.as_deref(), Some("api.example.com"));
    assert_eq!(t.assert.len(), 2);
    assert_eq!(t.assert[0].equals, Some(serde_json::json!("ok")));
    assert_eq!(t.assert[1].lt, Some(1000.0));
    assert_eq!(t.interval, Some(Duration::from_secs(30)));
    assert_eq!(c.regions[0].quorum, Some(2));
    assert_eq!(c.probe.cert_expiry_window, Duration::from_secs(14 * 86_400));
    assert_eq!(c.probe.cert_expiry_action, CertExpiryAction::Fail);
}

#[test]
fn probe_options_are_checked() {
    assert_one_error(
        |c| {
            c.regions[0].probes[0].assert = vec![BodyAssertion {
                lt: Some(2.0),
                ..BodyAssertion::equals("/a", serde_json::json!(1))
            }];
        },
        "regions[0].probes[0].assert[0]: needs exactly one of equals, one_of, lt, le, gt, ge; got 2",
    );
    assert_one_error(
        |c| {
            c.regions[0].probes[0].degraded_when = vec![BodyAssertion::equals(
                "status",
                serde_json::json!("degraded"),
            )];
        },
        "regions[0].probes[0].degraded_when[0].pointer: \"status\" is not a JSON pointer (it must start with '/')",
    );
    assert_one_error(
        |c| {
            c.regions[0].probes[0].secret_headers = vec![SecretHeader {
                name: "Authorization".into(),
                env: Some("A".into()),
                file: Some("/b".into()),
            }];
        },
        "regions[0].probes[0].secret_headers[0]: needs exactly one of env or file",
    );
    assert_one_error(
        |c| c.regions[0].probes[0].interval = Some(Duration::from_secs(15)),
        "regions[0].probes[0].interval: must be a multiple of probe.interval (2s), got 15s",
    );
    assert_one_error(
        |c| c.regions[1].quorum = Some(2),
        "regions[1].quorum: must be between 1 and the 1 probe target(s), got 2",
    );
    assert_one_error(
        |c| c.probe.max_concurrency = 0,
        "probe.max_concurrency: must be at least 1",
    );
    assert_one_error(
        |c| c.probe.retries = 4,
        "probe.retries: 4 is out of range; allowed 0..=3",
    );
}

#[test]
fn a_validation_that_could_check_nothing_in_the_last_ring_is_refused() {
    let text = r#"
[controller]
id = "t"
control_region = "x"
[probe]
prometheus_url = "http://prometheus:9090"
[[regions]]
name = "a"
ring = 1
capacity_rps = 100
probes = [{ url = "http://127.0.0.1:9/" }]
[[regions]]
name = "b"
ring = 2
capacity_rps = 100
probes = [{ url = "http://127.0.0.1:9/" }]
[[rollout.validations]]
name = "errors"
query = 'errors{region="$region"}'
max_baseline_ratio = 2.0
"#;
    let errors: Vec<String> = match Config::from_toml(text, std::path::Path::new("t.toml")) {
        Err(Error::Invalid(errors)) => errors.iter().map(ToString::to_string).collect(),
        other => panic!("not refused: {other:?}"),
    };
    assert_eq!(
        errors,
        [
            "rollout.validations[0]: checks ring 2, the last, by max_baseline_ratio alone: while it bakes no region runs the old version, so nothing would be checked; give max or min too, or list the rings it checks without 2"
        ]
    );
    let fine = text.replace(
        "max_baseline_ratio = 2.0",
        "max_baseline_ratio = 2.0\nrings = [1]",
    );
    assert!(Config::from_toml(&fine, std::path::Path::new("t.toml")).is_ok());
}
