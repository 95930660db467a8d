//! `[traffic]` and each region's bindings: every backend's rules, reported with their paths.

use std::path::Path;

use super::*;
use crate::traffic::global_accelerator::{GlobalAcceleratorBinding, GlobalAcceleratorEndpoint};
use crate::traffic::route53::{RecordTypes, Route53Alias, Route53Binding, Route53Routing};

#[test]
fn the_chosen_backend_needs_a_binding_in_every_region() {
    let errors = errors_after(|c| c.traffic.backend = BackendKind::Route53);
    assert_eq!(
        errors,
        vec![
            "regions[0].traffic.route53: is required because traffic.backend = \"route53\" (or list the region's knobs under regions[0].knobs)",
            "regions[1].traffic.route53: is required because traffic.backend = \"route53\" (or list the region's knobs under regions[1].knobs)",
        ]
    );
    assert_one_error(
        |c| {
            c.traffic.backend = BackendKind::GlobalAccelerator;
            for r in &mut c.regions {
                r.traffic.global_accelerator = Some(GlobalAcceleratorBinding {
                    role_arn: None,
                    share_by: Default::default(),
                    endpoint_group_arn: format!(
                        "arn:aws:globalaccelerator::1:accelerator/x/listener/y/endpoint-group/{}",
                        r.name
                    ),
                    endpoints: Vec::new(),
                });
            }
            c.regions[1].traffic.global_accelerator = Some(GlobalAcceleratorBinding {
                role_arn: None,
                share_by: Default::default(),
                endpoint_group_arn: "eg-123".into(),
                endpoints: Vec::new(),
            });
        },
        "regions[1].traffic.global_accelerator.endpoint_group_arn: \"eg-123\" is not a Global Accelerator endpoint group ARN",
    );
}

#[test]
fn global_accelerator_endpoints_are_checked() {
    let arn = "arn:aws:globalaccelerator::1:accelerator/x/listener/y/endpoint-group/z";
    let errors = errors_after(|c| {
        c.traffic.backend = BackendKind::GlobalAccelerator;
        for r in &mut c.regions {
            r.traffic.global_accelerator = Some(GlobalAcceleratorBinding {
                role_arn: None,
                share_by: Default::default(),
                endpoint_group_arn: format!("{arn}-{}", r.name),
                endpoints: Vec::new(),
            });
        }
        let ep = |id: &str| GlobalAcceleratorEndpoint {
            id: id.into(),
            weight: 128,
            attachment_arn: None,
        };
        c.regions[0].traffic.global_accelerator = Some(GlobalAcceleratorBinding {
            role_arn: None,
            share_by: Default::default(),
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
        role_arn: None,
        hosted_zone_id: "Z1".into(),
        record_name: "api.example.com.".into(),
        record_type: RecordTypes::default(),
        set_identifier: "x".into(),
        routing,
        base_weight: 100,
        values: Vec::new(),
        alias: None,
        latency_region: None,
        geolocation: None,
        geoproximity: None,
        health_check_id: None,
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

/// A region's knobs across backends, parsed from the file's own syntax.
const KNOBS: &str = r#"
[controller]
id = "c1"
control_region = "eu-central-1"

[traffic]
backend = "route53"

[[regions]]
name = "a"
capacity_rps = 100.0
probes = [{ url = "https://a.example.com/health" }]
traffic.route53 = { hosted_zone_id = "Z1", record_name = "www.example.com", set_identifier = "a", routing = "weighted" }
knobs = [
  { route53 = { hosted_zone_id = "Z2", record_name = "pay.example.net", set_identifier = "a", routing = "weighted" } },
  { global_accelerator = { endpoint_group_arn = "arn:aws:globalaccelerator::1:accelerator/x/listener/y/endpoint-group/a" } },
]

[[regions]]
name = "b"
capacity_rps = 100.0
probes = [{ url = "https://b.example.com/health" }]
knobs = [
  { route53 = { hosted_zone_id = "Z1", record_name = "www.example.com", set_identifier = "b", routing = "weighted" } },
  { route53 = { hosted_zone_id = "Z2", record_name = "pay.example.net", set_identifier = "b", routing = "weighted" } },
  { global_accelerator = { endpoint_group_arn = "arn:aws:globalaccelerator::1:accelerator/x/listener/y/endpoint-group/b" } },
]
"#;

#[test]
fn a_region_binds_knobs_in_several_backends_and_zones() {
    let config = Config::from_toml(KNOBS, Path::new("knobs.toml")).expect("valid");
    let knobs: Vec<(&str, String, String)> = config
        .knobs()
        .iter()
        .map(|k| (k.region, k.key.clone(), k.path.clone()))
        .collect();
    assert_eq!(
        knobs,
        [
            ("a", "a".to_owned(), "regions[0].traffic.route53".to_owned()),
            (
                "a",
                "a#1".to_owned(),
                "regions[0].knobs[0].route53".to_owned()
            ),
            (
                "a",
                "a#2".to_owned(),
                "regions[0].knobs[1].global_accelerator".to_owned()
            ),
            (
                "b",
                "b".to_owned(),
                "regions[1].knobs[0].route53".to_owned()
            ),
            (
                "b",
                "b#1".to_owned(),
                "regions[1].knobs[1].route53".to_owned()
            ),
            (
                "b",
                "b#2".to_owned(),
                "regions[1].knobs[2].global_accelerator".to_owned()
            ),
        ]
    );
    let kinds: Vec<BackendKind> = config.traffic_setups().iter().map(|s| s.kind()).collect();
    assert_eq!(
        kinds,
        [BackendKind::Route53, BackendKind::GlobalAccelerator]
    );
}

#[test]
fn two_knobs_on_one_record_are_refused_wherever_they_are() {
    let file = KNOBS.replace(
        "record_name = \"pay.example.net\", set_identifier = \"b\"",
        "record_name = \"pay.example.net\", set_identifier = \"a\"",
    );
    let err =
        Config::from_toml(&file, Path::new("knobs.toml")).expect_err("one record bound twice");
    assert!(
        err.to_string().contains(
            "regions[1].knobs[1].route53.set_identifier: regions[0] binds the same record"
        ),
        "{err}"
    );
    let start = KNOBS
        .find("knobs = [\n  { route53 = { hosted_zone_id = \"Z1\"")
        .expect("b's knobs");
    let file = format!("{}knobs = []\n", &KNOBS[..start]);
    let err = Config::from_toml(&file, Path::new("knobs.toml")).expect_err("b has no knob");
    assert!(
        err.to_string().contains("regions[1].traffic.route53: is required because traffic.backend = \"route53\" (or list the region's knobs under regions[1].knobs)"),
        "{err}"
    );
}
