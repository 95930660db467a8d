use std::path::Path;
use std::time::Duration;

use super::*;
use crate::plan::HardDown;
use crate::traffic::BackendKind;
use crate::traffic::global_accelerator::{GlobalAcceleratorBinding, GlobalAcceleratorEndpoint};
use crate::traffic::route53::{RecordTypes, Route53Alias, Route53Binding, Route53Routing};

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

/// Every error of `MINIMAL` with `policy` as its `[policy]` table.
fn policy_errors(policy: &str) -> Vec<String> {
    load_errors(&format!("{MINIMAL}\n[policy]\n{policy}\n"))
}

fn assert_one_policy_error(policy: &str, expected: &str) {
    assert_eq!(policy_errors(policy), vec![expected.to_owned()]);
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
    assert_eq!(c.policy.hard_down, HardDown::Step);
    assert_eq!(c.probe.interval, Duration::from_secs(10));
    assert_eq!(c.probe.timeout, Duration::from_secs(2));
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
fn thresholds_must_be_at_least_one() {
    assert_one_policy_error("fall = 0", "policy.fall: must be at least 1, got 0");
    assert_one_policy_error("rise = 0", "policy.rise: must be at least 1, got 0");
    assert_one_policy_error(
        "max_step = 0",
        "policy.max_step: must be between 1 and 100 percentage points, got 0",
    );
    assert_one_policy_error(
        "min_serving_regions = 0",
        "policy.min_serving_regions: must be at least 1",
    );
    assert_one_policy_error(
        "min_serving_regions = 3",
        "policy.min_serving_regions: is 3 but only 2 region(s) are configured",
    );
    assert_one_policy_error(
        "max_reversals = 0",
        "policy.max_reversals: must be at least 1",
    );
}

#[test]
fn max_utilization_is_a_fraction_above_zero() {
    assert_one_policy_error(
        "max_utilization = 0.0",
        "policy.max_utilization: must be greater than 0 and at most 1, got 0",
    );
    assert_one_policy_error(
        "max_utilization = 1.5",
        "policy.max_utilization: must be greater than 0 and at most 1, got 1.5",
    );
    assert!(policy_errors("max_utilization = 1.0").is_empty());
}

#[test]
fn degraded_share_is_a_percentage() {
    assert_one_policy_error(
        "degraded_share = 101",
        "policy.degraded_share: must be between 0 and 100 percent, got 101",
    );
    assert!(policy_errors("degraded_share = 0").is_empty());
}

#[test]
fn rejected_policy_values_are_reported_with_every_other_error_in_the_files_order() {
    let text = format!(
        "{}\n[policy]\nmax_step = 0\nmin_serving_regions = 3\nflap_window = \"0s\"\nfall = 0\n",
        MINIMAL.replace("id = \"c1\"", "id = \"\"")
    );
    assert_eq!(
        load_errors(&text),
        vec![
            "controller.id: must not be empty",
            "policy.fall: must be at least 1, got 0",
            "policy.max_step: must be between 1 and 100 percentage points, got 0",
            "policy.min_serving_regions: is 3 but only 2 region(s) are configured",
            "policy.flap_window: must be greater than 0s",
        ]
    );
}

#[test]
fn parsing_alone_names_the_path_and_the_value_of_a_rejected_policy_value() {
    let text = format!("{MINIMAL}\n[policy]\nmax_utilization = 1.7\n");
    let err = Config::parse(&text, Path::new("test.toml")).expect_err("rejected");
    let message = err.to_string();
    assert!(
        message.contains("policy.max_utilization: ")
            && message.contains("must be greater than 0 and at most 1, got 1.7"),
        "{message}"
    );
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
        "controller.tick_interval: must be greater than 0s",
    );
    assert_one_error(
        |c| c.probe.interval = Duration::ZERO,
        "probe.interval: must be greater than 0s",
    );
    assert_one_error(
        |c| c.regions[0].probes[0].timeout = Some(Duration::ZERO),
        "regions[0].probes[0].timeout: must be greater than 0s",
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
        |c| c.regions[1].capacity_rps = 0.0,
        "regions[1].capacity_rps: must be greater than 0, got 0",
    );
}

#[test]
fn the_chosen_backend_needs_a_binding_in_every_region() {
    let errors = errors_after(|c| c.traffic.backend = BackendKind::Route53);
    assert_eq!(
        errors,
        vec![
            "regions[0].traffic.route53: is required because traffic.backend = \"route53\"",
            "regions[1].traffic.route53: is required because traffic.backend = \"route53\"",
        ]
    );
    assert_one_error(
        |c| {
            c.traffic.backend = BackendKind::GlobalAccelerator;
            for r in &mut c.regions {
                r.traffic.global_accelerator = Some(GlobalAcceleratorBinding {
                    endpoint_group_arn:
                        "arn:aws:globalaccelerator::1:accelerator/x/listener/y/endpoint-group/z"
                            .into(),
                    endpoints: Vec::new(),
                });
            }
            c.regions[1].traffic.global_accelerator = Some(GlobalAcceleratorBinding {
                endpoint_group_arn: "eg-123".into(),
                endpoints: Vec::new(),
            });
        },
        "regions[1].traffic.global_accelerator.endpoint_group_arn: \"eg-123\" is not a Global Accelerator endpoint group ARN",
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
            "policy.fall: must be at least 1, got 0",
            "regions[0].spill_to[0]: unknown region \"eu-west-9\"",
            "regions[1].capacity_rps: must be greater than 0, got -5",
        ]
    );
}

#[test]
fn shipped_configs_are_valid() {
    for file in ["config/example.toml", "config/demo.toml"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        if let Err(e) = Config::load(&path) {
            panic!("{file}: {e}");
        }
    }
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
        "regions[0].probes[0].interval: must be a multiple of probe.interval (10s), got 15s",
    );
    assert_one_error(
        |c| c.regions[1].quorum = Some(2),
        "regions[1].quorum: must be between 1 and the 1 probe target(s), got 2",
    );
    assert_one_error(
        |c| c.probe.max_concurrency = 0,
        "probe.max_concurrency: must be at least 1",
    );
}

#[test]
fn global_accelerator_endpoints_are_checked() {
    let arn = "arn:aws:globalaccelerator::1:accelerator/x/listener/y/endpoint-group/z";
    let errors = errors_after(|c| {
        c.traffic.backend = BackendKind::GlobalAccelerator;
        for r in &mut c.regions {
            r.traffic.global_accelerator = Some(GlobalAcceleratorBinding {
                endpoint_group_arn: arn.into(),
                endpoints: Vec::new(),
            });
        }
        let ep = |id: &str| GlobalAcceleratorEndpoint {
            id: id.into(),
            weight: 128,
            attachment_arn: None,
        };
        c.regions[0].traffic.global_accelerator = Some(GlobalAcceleratorBinding {
            endpoint_group_arn: arn.into(),
            endpoints: (0..11)
                .map(|i| ep(&format!("e{i}")))
                .chain([ep("e0"), ep("")])
                .collect(),
        });
    });
    assert_eq!(
        errors,
        vec![
            "regions[0].traffic.global_accelerator.endpoints: at most 10 endpoints per group, got 13",
            "regions[0].traffic.global_accelerator.endpoints[11].id: \"e0\" is listed twice",
            "regions[0].traffic.global_accelerator.endpoints[12].id: must not be empty",
        ]
    );
}

fn route53(routing: Route53Routing) -> Route53Binding {
    Route53Binding {
        hosted_zone_id: "Z1".into(),
        record_name: "api.example.com.".into(),
        record_type: RecordTypes::default(),
        set_identifier: "x".into(),
        routing,
        base_weight: 100,
        values: Vec::new(),
        alias: None,
    }
}

fn with_route53(c: &mut Config, routing: Route53Routing) {
    c.traffic.backend = BackendKind::Route53;
    for r in &mut c.regions {
        let mut b = route53(routing);
        b.set_identifier = r.name.clone();
        if routing == Route53Routing::Failover {
            b.values = vec!["192.0.2.1".into()];
        }
        r.traffic.route53 = Some(b);
    }
}

#[test]
fn route53_bindings_name_the_field_that_is_wrong() {
    assert_one_error(
        |c| {
            with_route53(c, Route53Routing::Weighted);
            if let Some(b) = c.regions[0].traffic.route53.as_mut() {
                b.base_weight = 10;
            }
        },
        "regions[0].traffic.route53.base_weight: must be 100-255 so each whole-percent share has its own weight, got 10",
    );
    assert_one_error(
        |c| {
            with_route53(c, Route53Routing::Failover);
            if let Some(b) = c.regions[1].traffic.route53.as_mut() {
                b.values.clear();
            }
        },
        "regions[1].traffic.route53.values: a failover binding needs the record's normal values or alias, which a restore writes back",
    );
    assert_one_error(
        |c| {
            with_route53(c, Route53Routing::Failover);
            if let Some(b) = c.regions[1].traffic.route53.as_mut() {
                b.alias = Some(Route53Alias {
                    dns_name: "lb.example.com".into(),
                    hosted_zone_id: "Z35SXDOTRQ7X7K".into(),
                    evaluate_target_health: true,
                });
            }
        },
        "regions[1].traffic.route53.alias: give values or alias, not both",
    );
    assert_one_error(
        |c| {
            with_route53(c, Route53Routing::Weighted);
            c.traffic.route53.confirm_poll_max = std::time::Duration::from_millis(1);
        },
        "traffic.route53.confirm_poll_max: must be at least traffic.route53.confirm_poll",
    );
    assert_one_error(
        |c| {
            with_route53(c, Route53Routing::Weighted);
            let first = c.regions[0].traffic.route53.clone();
            c.regions[1].traffic.route53 = first;
        },
        "regions[1].traffic.route53.set_identifier: regions[0] binds the same record; each region needs its own",
    );
    assert!(errors_after(|c| with_route53(c, Route53Routing::Failover)).is_empty());
}

fn types(ts: &[&str]) -> RecordTypes {
    RecordTypes(ts.iter().map(|t| (*t).to_owned()).collect())
}

#[test]
fn a_dual_stack_binding_lists_its_types_and_failover_values_need_one_type() {
    // A list parses, and a single string still does.
    let b: Route53Binding = toml::from_str(
        r#"hosted_zone_id = "Z1"
record_name = "api.example.com"
record_type = ["A", "AAAA"]
set_identifier = "x"
routing = "weighted""#,
    )
    .expect("list");
    assert_eq!(b.record_type, types(&["A", "AAAA"]));
    let b: Route53Binding = toml::from_str(
        r#"hosted_zone_id = "Z1"
record_name = "api.example.com"
record_type = "AAAA"
set_identifier = "x"
routing = "weighted""#,
    )
    .expect("one");
    assert_eq!(b.record_type, types(&["AAAA"]));

    let dual = |c: &mut Config, routing, ts: &[&str]| {
        with_route53(c, routing);
        for r in &mut c.regions {
            if let Some(b) = r.traffic.route53.as_mut() {
                b.record_type = types(ts);
            }
        }
    };
    assert!(errors_after(|c| dual(c, Route53Routing::Weighted, &["A", "AAAA"])).is_empty());
    let errors = errors_after(|c| dual(c, Route53Routing::Failover, &["A", "AAAA"]));
    assert!(
        errors.iter().all(|e| e.contains(
            ".route53.values: values belong to one record type, but record_type lists A and AAAA"
        )),
        "{errors:?}"
    );
    assert!(!errors.is_empty());
    assert_one_error(
        |c| {
            with_route53(c, Route53Routing::Weighted);
            if let Some(b) = c.regions[0].traffic.route53.as_mut() {
                b.record_type = types(&["A", "MX"]);
            }
        },
        "regions[0].traffic.route53.record_type[1]: must be A, AAAA or CNAME, got \"MX\"",
    );
    let errors = errors_after(|c| {
        with_route53(c, Route53Routing::Weighted);
        if let Some(b) = c.regions[0].traffic.route53.as_mut() {
            b.record_type = types(&["A", "A", "CNAME"]);
        }
    });
    assert_eq!(
        errors,
        vec![
            "regions[0].traffic.route53.record_type[1]: \"A\" is listed twice",
            "regions[0].traffic.route53.record_type: a CNAME cannot share its name with other record types",
        ]
    );
    // Overlapping types of the same name and set identifier are the same record.
    assert_one_error(
        |c| {
            dual(c, Route53Routing::Weighted, &["A", "AAAA"]);
            let first = c.regions[0].name.clone();
            if let Some(b) = c.regions[1].traffic.route53.as_mut() {
                b.set_identifier = first;
                b.record_type = types(&["AAAA"]);
            }
        },
        "regions[1].traffic.route53.set_identifier: regions[0] binds the same record; each region needs its own",
    );
}
