//! `[[services]]`: views, the shared facts, policy overrides, and every error at its path.

use super::*;

/// Three regions; `api` behind Global Accelerator in two of them, `web` behind Route 53 in two
/// hosted zones in all three, with a smaller step of its own.
pub(crate) const ESTATE: &str = r#"
[controller]
id = "c1"
control_region = "eu-central-1"

[policy]
max_step = 25

[[regions]]
name = "us-east-1"
spill_to = ["us-west-2", "eu-west-1"]

[[regions]]
name = "us-west-2"
ring = 2
spill_to = ["us-east-1", "eu-west-1"]

[[regions]]
name = "eu-west-1"
ring = 2
spill_to = ["us-east-1", "us-west-2"]

[[services]]
name = "api"

[[services.regions]]
name = "us-east-1"
capacity_rps = 1000
probes = [{ url = "https://api-use1.example.com/healthz" }]
knobs = [{ global_accelerator = { endpoint_group_arn = "arn:aws:globalaccelerator::1:accelerator/a/listener/l/endpoint-group/use1" } }]

[[services.regions]]
name = "eu-west-1"
capacity_rps = 800
probes = [{ url = "https://api-euw1.example.com/healthz" }]
knobs = [{ global_accelerator = { endpoint_group_arn = "arn:aws:globalaccelerator::1:accelerator/a/listener/l/endpoint-group/euw1" } }]

[[services]]
name = "web"
policy = { max_step = 10 }

[[services.regions]]
name = "us-east-1"
capacity_rps = 5000
probes = [{ url = "https://web-use1.example.com/healthz" }]
knobs = [
  { route53 = { hosted_zone_id = "Z1", record_name = "www.example.com", set_identifier = "us-east-1", routing = "weighted" } },
  { route53 = { hosted_zone_id = "Z2", record_name = "shop.example.net", set_identifier = "us-east-1", routing = "weighted" } },
]

[[services.regions]]
name = "us-west-2"
capacity_rps = 4000
probes = [{ url = "https://web-usw2.example.com/healthz" }]
knobs = [{ route53 = { hosted_zone_id = "Z1", record_name = "www.example.com", set_identifier = "us-west-2", routing = "weighted" } }]

[[services.regions]]
name = "eu-west-1"
capacity_rps = 3000
probes = [{ url = "https://web-euw1.example.com/healthz" }]
knobs = [{ route53 = { hosted_zone_id = "Z1", record_name = "www.example.com", set_identifier = "eu-west-1", routing = "weighted" } }]
"#;

#[test]
fn each_service_runs_as_a_view_of_its_own_over_the_shared_regions() {
    let config = Config::from_toml(ESTATE, Path::new("estate.toml")).expect("valid");
    let services = config.services();
    let names: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["api", "web"]);
    let api = &services[0].config;
    let regions: Vec<(&str, f64, Vec<String>)> = api
        .regions
        .iter()
        .map(|r| (r.name.as_str(), r.capacity(), r.spill_to.clone()))
        .collect();
    assert_eq!(
        regions,
        [
            ("us-east-1", 1000.0, vec!["eu-west-1".to_owned()]),
            ("eu-west-1", 800.0, vec!["us-east-1".to_owned()]),
        ],
        "spill_to keeps the shared order, over the regions the service has"
    );
    assert_eq!(api.policy.max_step.get(), 25);
    let web = &services[1].config;
    assert_eq!(web.policy.max_step.get(), 10, "the service's override");
    // An intent for one service is capped by its own policy.
    let mut overridden = config.clone();
    overridden.services[1]
        .policy
        .insert("max_intent_ttl".into(), toml::Value::String("2h".into()));
    assert_eq!(
        overridden.max_intent_ttl(Some("web")),
        std::time::Duration::from_secs(7200)
    );
    assert_eq!(
        overridden.max_intent_ttl(Some("api")),
        config.policy.max_intent_ttl
    );
    assert_eq!(
        overridden.max_intent_ttl(None),
        config.policy.max_intent_ttl
    );
    assert_eq!(web.regions[1].ring, 2, "rings are shared facts");
    let keys: Vec<String> = web.knobs().into_iter().map(|k| k.key).collect();
    assert_eq!(
        keys,
        [
            "web/us-east-1",
            "web/us-east-1#1",
            "web/us-west-2",
            "web/eu-west-1"
        ]
    );

    // The file's knobs, which the daemon builds its backends from, are every service's.
    let keys: Vec<String> = config.knobs().into_iter().map(|k| k.key).collect();
    assert_eq!(keys.len(), 6);
    assert_eq!(keys[0], "api/us-east-1");
    let kinds: Vec<BackendKind> = config.traffic_setups().iter().map(|s| s.kind()).collect();
    assert_eq!(
        kinds,
        [BackendKind::Route53, BackendKind::GlobalAccelerator]
    );

    // A file without [[services]] is one service, the file itself, with the keys it always had.
    let single = parse(MINIMAL).services();
    assert_eq!(single.len(), 1);
    assert_eq!(single[0].name, "default");
    let keys: Vec<String> = single[0]
        .config
        .knobs()
        .into_iter()
        .map(|k| k.key)
        .collect();
    assert_eq!(keys, ["a", "b"]);
}

#[test]
fn every_service_mistake_is_reported_at_its_path() {
    let text = ESTATE
        .replace(
            "[[regions]]\nname = \"us-west-2\"",
            "[[regions]]\nname = \"us-west-2\"\ncapacity_rps = 10",
        )
        .replace("policy = { max_step = 10 }", "policy = { max_step = 0 }")
        .replace(
            "name = \"eu-west-1\"\ncapacity_rps = 800",
            "name = \"eu-west-9\"\ncapacity_rps = 800",
        )
        .replace(
            "set_identifier = \"us-west-2\", routing",
            "set_identifier = \"eu-west-1\", routing",
        )
        .replace("capacity_rps = 3000", "capacity_rps = -1");
    assert_eq!(
        load_errors(&text),
        [
            "regions[1].capacity_rps: belongs to each service's region (services[].regions[]) when the file lists [[services]]",
            "services[0].regions[1].name: unknown region \"eu-west-9\" (every region is listed in the top-level [[regions]])",
            "services[1].policy.max_step: must be between 1 and 100 percentage points, got 0",
            "services[1].regions[2].capacity_rps: must be at least 0.001 and at most 1e9 (requests/s), got -1",
            "services[1].regions[2].knobs[0].route53.set_identifier: services[1].regions[1] binds the same record; each region needs its own",
        ]
    );
}

#[test]
fn a_region_name_that_would_make_two_knob_keys_one_is_refused() {
    let errors = errors_after(|c| c.regions[1].name = "a#1".into());
    assert!(
        errors.contains(&"regions[1].name: \"a#1\" must not contain '/' or '#'".to_owned()),
        "{errors:?}"
    );
    let errors = errors_after(|c| c.regions[1].name = "x/y".into());
    assert!(
        errors.contains(&"regions[1].name: \"x/y\" must not contain '/' or '#'".to_owned()),
        "{errors:?}"
    );
}

#[test]
fn a_simulated_knob_s_label_and_delay_are_checked_at_their_paths() {
    let text = ESTATE.replacen(
        "knobs = [{ global_accelerator = { endpoint_group_arn = \"arn:aws:globalaccelerator::1:accelerator/a/listener/l/endpoint-group/use1\" } }]",
        "knobs = [{ sim = { label = \"\", propagation_delay = \"2h\" } }]",
        1,
    );
    let Err(Error::Invalid(errors)) = Config::from_toml(&text, Path::new("estate.toml")) else {
        panic!("accepted");
    };
    let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        errors,
        [
            "services[0].regions[0].knobs[0].sim.propagation_delay: 2h is out of range; allowed 0s..=10m",
            "services[0].regions[0].knobs[0].sim.label: must be one line of printable text",
        ]
    );
}

#[test]
fn knobs_in_another_account_get_a_backend_of_their_own_and_a_zone_keeps_one_role() {
    const ROLE: &str = "arn:aws:iam::210987654321:role/failoverd";
    // Zone Z2 (shop.example.net) lives in another account.
    let text = ESTATE.replace(
        "record_name = \"shop.example.net\", set_identifier = \"us-east-1\", routing = \"weighted\"",
        &format!("record_name = \"shop.example.net\", set_identifier = \"us-east-1\", routing = \"weighted\", role_arn = \"{ROLE}\""),
    );
    let config = Config::from_toml(&text, Path::new("estate.toml")).expect("valid");
    let route53: Vec<Vec<String>> = config
        .traffic_setups()
        .iter()
        .filter(|s| s.kind() == crate::traffic::BackendKind::Route53)
        .map(crate::traffic::Setup::keys)
        .collect();
    assert_eq!(
        route53,
        [
            vec![
                "web/us-east-1".to_owned(),
                "web/us-west-2".to_owned(),
                "web/eu-west-1".to_owned()
            ],
            vec!["web/us-east-1#1".to_owned()],
        ]
    );

    // Z1 reached with a (malformed) role by one knob, with the controller's credentials by the
    // others.
    let text = ESTATE.replacen(
        "record_name = \"www.example.com\", set_identifier = \"us-west-2\", routing = \"weighted\"",
        "record_name = \"www.example.com\", set_identifier = \"us-west-2\", routing = \"weighted\", role_arn = \"not-an-arn\"",
        1,
    );
    let Err(Error::Invalid(errors)) = Config::from_toml(&text, Path::new("estate.toml")) else {
        panic!("accepted");
    };
    let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        errors,
        [
            "services[1].regions[1].knobs[0].route53.role_arn: \"not-an-arn\" is not an IAM role ARN (arn:aws:iam::123456789012:role/failoverd)",
            "services[1].regions[1].knobs[0].route53.role_arn: services[1].regions[0] reaches zone Z1 through the controller's own credentials; a zone is in one account, so every knob on it needs the same role_arn (here role not-an-arn)",
        ]
    );
}
