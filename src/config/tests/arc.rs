//! `[traffic.arc]` and ARC routing-control knobs, read from a file: every rule reported with its
//! path, and the knobs handed to one ARC backend.

use super::*;

const CONTROL: &str =
    "arn:aws:route53-recovery-control::123456789012:controlpanel/cp/routingcontrol";

/// `MINIMAL` with `backend = "arc"`, `[traffic.arc]` holding `settings`, and each region's
/// routing control named by `controls`.
fn arc(settings: &str, controls: [&str; 2]) -> String {
    MINIMAL
        .replacen(
            "[[regions]]",
            &format!("[traffic]\nbackend = \"arc\"\n[traffic.arc]\n{settings}\n\n[[regions]]"),
            1,
        )
        .replace(
            "probes = [{ url = \"http://a.example/healthz/deep\" }]",
            &format!(
                "probes = [{{ url = \"http://a.example/healthz/deep\" }}]\ntraffic.arc = {{ routing_control_arn = \"{}\" }}",
                controls[0]
            ),
        )
        .replace(
            "probes = [{ url = \"http://b.example/healthz/deep\" }]",
            &format!(
                "probes = [{{ url = \"http://b.example/healthz/deep\" }}]\nknobs = [{{ arc = {{ routing_control_arn = \"{}\" }} }}]",
                controls[1]
            ),
        )
}

const ENDPOINTS: &str = r#"cluster_endpoints = [
  { region = "us-east-1", url = "https://host-aaaa.us-east-1.example.com/v1" },
  { region = "us-west-2", url = "https://host-bbbb.us-west-2.example.com/v1" },
]"#;

#[test]
fn routing_controls_in_the_legacy_table_and_in_knobs_make_one_arc_backend() {
    let text = arc(
        &format!(
            "{ENDPOINTS}\nsafety_rules_to_override = [\"arn:aws:route53-recovery-control::123456789012:controlpanel/cp/safetyrule/min\"]"
        ),
        [&format!("{CONTROL}/a"), &format!("{CONTROL}/b")],
    );
    let c = Config::from_toml(&text, Path::new("test.toml")).expect("valid");
    assert_eq!(c.traffic.backend, BackendKind::Arc);
    assert_eq!(c.traffic.arc.cluster_endpoints.len(), 2);
    assert_eq!(c.traffic.arc.requests_per_second, 5);
    let setups = c.traffic_setups();
    assert_eq!(setups.len(), 1);
    assert_eq!(setups[0].kind(), BackendKind::Arc);
    assert_eq!(setups[0].keys(), ["a", "b"]);
    let knobs: Vec<(String, String)> = c
        .knobs()
        .iter()
        .map(|k| (k.path.clone(), k.knob.describe()))
        .collect();
    assert_eq!(
        knobs,
        [
            (
                "regions[0].traffic.arc".to_owned(),
                "arc routingcontrol/a".to_owned()
            ),
            (
                "regions[1].knobs[0].arc".to_owned(),
                "arc routingcontrol/b".to_owned()
            ),
        ]
    );
}

#[test]
fn arc_settings_and_bindings_are_refused_at_their_paths() {
    let a = format!("{CONTROL}/a");
    // No endpoint, while both regions are routing controls, and both the same one.
    assert_eq!(
        load_errors(&arc("", [&a, &a])),
        [
            "traffic.arc.cluster_endpoints: must list the ARC cluster's endpoints (its five regional data-plane URLs, each with its region) because a knob is an ARC routing control",
            "regions[1].knobs[0].arc.routing_control_arn: is bound by regions[0] too; a routing control is on or off, so it carries one unit's share",
        ]
    );
    let settings = r#"cluster_endpoints = [
  { region = "us-east-1", url = "https://host-aaaa.us-east-1.example.com/v1" },
  { region = "us-east-1", url = "https://host-aaaa.us-east-1.example.com/v1" },
  { region = "useast", url = "http://host-cccc.example.com/v1" },
]
safety_rules_to_override = ["min-one"]"#;
    let role = format!("{CONTROL}/b\", role_arn = \"arn:aws:iam::123456789012:user/x");
    assert_eq!(
        load_errors(&arc(
            settings,
            ["arn:aws:route53-recovery-control::1:x", &role]
        )),
        [
            "traffic.arc.cluster_endpoints[1].url: \"https://host-aaaa.us-east-1.example.com/v1\" is listed twice",
            "traffic.arc.cluster_endpoints[2].region: \"useast\" is not an AWS region name (like \"us-east-1\")",
            "traffic.arc.cluster_endpoints[2].url: \"http://host-cccc.example.com/v1\" must use https (plain http only on a loopback address)",
            "traffic.arc.safety_rules_to_override[0]: \"min-one\" is not an ARC safety rule ARN (arn:aws:route53-recovery-control::123456789012:controlpanel/<id>/safetyrule/<id>)",
            "regions[0].traffic.arc.routing_control_arn: \"arn:aws:route53-recovery-control::1:x\" is not an ARC routing control ARN (arn:aws:route53-recovery-control::123456789012:controlpanel/<id>/routingcontrol/<id>)",
            "regions[1].knobs[0].arc.role_arn: \"arn:aws:iam::123456789012:user/x\" is not an IAM role ARN (arn:aws:iam::123456789012:role/failoverd)",
        ]
    );
}

#[test]
fn a_region_without_a_routing_control_is_named_when_arc_is_the_backend() {
    let text = arc(
        ENDPOINTS,
        [&format!("{CONTROL}/a"), &format!("{CONTROL}/b")],
    )
    .replace(
        &format!("knobs = [{{ arc = {{ routing_control_arn = \"{CONTROL}/b\" }} }}]"),
        "",
    );
    assert_eq!(
        load_errors(&text),
        [
            "regions[1].traffic.arc: is required because traffic.backend = \"arc\" (or list the region's knobs under regions[1].knobs)"
        ]
    );
}
