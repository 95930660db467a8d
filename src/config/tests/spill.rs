//! `[[regions]] spill` and `spill_mix`: the default, the models, and each rejection.

use super::*;

const THREE: &str = r#"
[controller]
id = "c1"
control_region = "us-east-2"

[[regions]]
name = "us-east-1"
capacity_rps = 100
spill_to = ["us-west-2", "eu-west-1"]
probes = [{ url = "http://a.example/healthz/deep" }]

[[regions]]
name = "us-west-2"
capacity_rps = 100
spill_to = ["us-east-1", "eu-west-1"]
probes = [{ url = "http://b.example/healthz/deep" }]

[[regions]]
name = "eu-west-1"
capacity_rps = 100
spill_to = ["us-east-1", "us-west-2"]
probes = [{ url = "http://c.example/healthz/deep" }]
"#;

/// `THREE` with `lines` added to us-east-1's region.
fn with(lines: &str) -> String {
    THREE.replacen(
        "spill_to = [\"us-west-2\", \"eu-west-1\"]",
        &format!("spill_to = [\"us-west-2\", \"eu-west-1\"]\n{lines}"),
        1,
    )
}

#[test]
fn a_region_of_simulated_knobs_fills_its_spill_to_in_order_unless_told_otherwise() {
    let c = Config::from_toml(THREE, Path::new("t.toml")).expect("valid");
    assert_eq!(c.regions[0].spill, None);
    assert_eq!(c.regions[0].spill_kind(), SpillKind::Fill);
    assert_eq!(c.regions[0].spill(), Spill::Fill);
    let c = Config::from_toml(&with("spill = \"spread\""), Path::new("t.toml")).expect("valid");
    assert_eq!(
        c.regions[0].spill(),
        Spill::Spread(vec![("us-west-2".into(), 100), ("eu-west-1".into(), 100)])
    );
}

/// `THREE` with each region bound to `knob` (`{name}` replaced by the region's name).
fn bound(knob: &str) -> String {
    let mut text = THREE.to_owned();
    for (name, host) in [("us-east-1", "a"), ("us-west-2", "b"), ("eu-west-1", "c")] {
        let probes = format!("probes = [{{ url = \"http://{host}.example/healthz/deep\" }}]");
        text = text.replacen(
            &probes,
            &format!("{probes}\nknobs = [{}]", knob.replace("{name}", name)),
            1,
        );
    }
    text
}

#[test]
fn the_default_spill_model_is_where_each_knobs_data_plane_sends_drained_users() {
    let weighted = r#"{ route53 = { hosted_zone_id = "Z1", record_name = "api.example.com.", set_identifier = "{name}", routing = "weighted" } }"#;
    let failover = r#"{ route53 = { hosted_zone_id = "Z1", record_name = "api.example.com.", set_identifier = "{name}", routing = "failover", values = ["192.0.2.1"] } }"#;
    let dial = r#"{ global_accelerator = { endpoint_group_arn = "arn:aws:globalaccelerator::123456789012:accelerator/a/listener/l/endpoint-group/{name}" } }"#;
    for (knobs, kind) in [
        (weighted.to_owned(), SpillKind::Spread),
        (failover.to_owned(), SpillKind::Nearest),
        (dial.to_owned(), SpillKind::Nearest),
        // A region whose knobs differ goes with the nearest: all of its users on one survivor.
        (format!("{weighted}, {dial}"), SpillKind::Nearest),
    ] {
        let c = Config::from_toml(&bound(&knobs), Path::new("t.toml"))
            .unwrap_or_else(|e| panic!("{knobs}: {e}"));
        assert_eq!(c.regions[0].spill_kind(), kind, "{knobs}");
    }
    // Users go both ways: each survivor is held to the larger of its two shares of them.
    let c = Config::from_toml(&bound(&format!("{weighted}, {dial}")), Path::new("t.toml"))
        .expect("valid");
    assert_eq!(
        c.spill_of(&c.regions[0]),
        Spill::NearestOrSpread(vec![("us-west-2".into(), 100), ("eu-west-1".into(), 100)])
    );
    // Told to fill, weighted records would approve a move whose users go to the survivor
    // without room.
    let errors = load_errors(&bound(weighted).replacen(
        "spill_to = [\"us-west-2\", \"eu-west-1\"]",
        "spill_to = [\"us-west-2\", \"eu-west-1\"]\nspill = \"fill\"",
        1,
    ));
    assert!(
        errors.iter().any(|e| e.starts_with(
            "regions[0].spill: its weighted (or multivalue) records send drained users to every other record by weight"
        )),
        "{errors:?}"
    );
    let errors = load_errors(&bound(dial).replacen(
        "spill_to = [\"us-west-2\", \"eu-west-1\"]",
        "spill_to = [\"us-west-2\", \"eu-west-1\"]\nspill = \"spread\"",
        1,
    ));
    assert!(
        errors.iter().any(|e| e.starts_with(
            "regions[0].spill: its knobs (latency, geo or failover records, a Global Accelerator dial"
        )),
        "{errors:?}"
    );
    let errors = load_errors(
        &with("spill = \"spread\"")
            .replace("spill_to = [\"us-west-2\", \"eu-west-1\"]", "spill_to = []"),
    );
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("regions[0].spill: \"spread\" spreads drained users")),
        "{errors:?}"
    );
}

#[test]
fn a_client_location_mix_alone_means_nearest() {
    let c = Config::from_toml(
        &with("spill_mix = { \"us-west-2\" = 40, \"eu-west-1\" = 60 }"),
        Path::new("t.toml"),
    )
    .expect("valid");
    assert_eq!(c.regions[0].spill_kind(), SpillKind::Nearest);
}

#[test]
fn nearest_and_a_client_location_mix_reach_the_planner_in_spill_to_order() {
    let c = Config::from_toml(&with("spill = \"nearest\""), Path::new("t.toml")).expect("valid");
    assert_eq!(c.regions[0].spill(), Spill::Nearest);
    let c = Config::from_toml(
        &with("spill = \"nearest\"\nspill_mix = { \"eu-west-1\" = 60, \"us-west-2\" = 40 }"),
        Path::new("t.toml"),
    )
    .expect("valid");
    assert_eq!(
        c.regions[0].spill(),
        Spill::Mix(vec![("us-west-2".into(), 40), ("eu-west-1".into(), 60)])
    );
}

#[test]
fn every_spill_mistake_is_reported_with_its_field() {
    let cases = [
        (
            "spill = \"closest\"",
            "regions[0].spill: unknown variant `closest`, expected one of `fill`, `spread`, `nearest`",
        ),
        (
            "spill = \"fill\"\nspill_mix = { \"us-west-2\" = 40, \"eu-west-1\" = 60 }",
            "regions[0].spill_mix: a client-location mix needs spill = \"nearest\" (with \"fill\" or \"spread\", users go where the model sends them, not where they are)",
        ),
        (
            "spill = \"spread\"\nspill_mix = { \"us-west-2\" = 40, \"eu-west-1\" = 60 }",
            "regions[0].spill_mix: a client-location mix needs spill = \"nearest\"",
        ),
        (
            "spill = \"nearest\"\nspill_mix = { \"us-west-2\" = 40, \"eu-west-1\" = 50 }",
            "regions[0].spill_mix: the percentages must add up to 100, got 90",
        ),
        (
            "spill = \"nearest\"\nspill_mix = { \"us-west-2\" = 40, \"eu-west-9\" = 60 }",
            "regions[0].spill_mix.eu-west-9: unknown region \"eu-west-9\"",
        ),
        (
            "spill = \"nearest\"\nspill_mix = { \"us-west-2\" = 100, \"eu-west-1\" = 0 }",
            "regions[0].spill_mix.eu-west-1: must be 1 to 100 percent, got 0",
        ),
        (
            "spill = \"nearest\"\nspill_mix = {}",
            "regions[0].spill_mix: is empty: leave it out, or give each region of spill_to its percentage of the users",
        ),
    ];
    for (lines, expected) in cases {
        let errors = load_errors(&with(lines));
        assert!(
            errors.iter().any(|e| e.starts_with(expected)),
            "{lines}: {errors:?}"
        );
        if !lines.contains("closest") {
            assert_eq!(errors.len(), 1, "{lines}: {errors:?}");
        }
    }
    // A mix over a region the spill order leaves out.
    let text = with("spill = \"nearest\"\nspill_mix = { \"us-west-2\" = 100 }").replace(
        "spill_to = [\"us-west-2\", \"eu-west-1\"]",
        "spill_to = [\"eu-west-1\"]",
    );
    let text = text.replacen(
        "spill_mix = { \"us-west-2\" = 100 }",
        "spill_mix = { \"us-west-2\" = 50, \"eu-west-1\" = 50 }",
        1,
    );
    assert_eq!(
        load_errors(&text),
        [
            "regions[0].spill_mix.us-west-2: \"us-west-2\" is not in spill_to: a mix splits the users among the regions of spill_to"
        ]
    );
    // Nearest with nowhere to go.
    let text = with("spill = \"nearest\"")
        .replace("spill_to = [\"us-west-2\", \"eu-west-1\"]", "spill_to = []");
    assert_eq!(
        load_errors(&text),
        [
            "regions[0].spill: \"nearest\" sends drained users to the first serving region of spill_to, which is empty"
        ]
    );
}

#[test]
fn a_service_that_lacks_a_region_of_the_mix_sends_that_part_on() {
    // us-east-1's users: 40% nearest us-west-2, 60% nearest eu-west-1. `api` has no us-west-2,
    // so its users there go on to eu-west-1; `web` serves all three and keeps the split.
    let text = super::services::ESTATE.replacen(
        "spill_to = [\"us-west-2\", \"eu-west-1\"]",
        "spill_to = [\"us-west-2\", \"eu-west-1\"]\nspill = \"nearest\"\nspill_mix = { \"us-west-2\" = 40, \"eu-west-1\" = 60 }",
        1,
    );
    let config = Config::from_toml(&text, Path::new("estate.toml")).expect("valid");
    let services = config.services();
    let use1 = |i: usize| {
        services[i]
            .config
            .region("us-east-1")
            .expect("us-east-1")
            .spill()
    };
    assert_eq!(
        use1(0),
        Spill::Mix(vec![("eu-west-1".into(), 100)]),
        "api: all of it to eu-west-1"
    );
    assert_eq!(
        use1(1),
        Spill::Mix(vec![("us-west-2".into(), 40), ("eu-west-1".into(), 60)]),
        "web: the split as configured"
    );
}

#[test]
fn a_spread_weighs_each_survivor_by_the_base_weight_of_its_record_in_the_same_set() {
    let knob = r#"{ route53 = { hosted_zone_id = "Z1", record_name = "api.example.com.", set_identifier = "{name}", routing = "weighted" } }"#;
    let text = bound(knob).replacen(
        r#"set_identifier = "us-west-2", routing = "weighted""#,
        r#"set_identifier = "us-west-2", routing = "weighted", base_weight = 200"#,
        1,
    );
    let c = Config::from_toml(&text, Path::new("t.toml")).expect("valid");
    assert_eq!(
        c.spill_of(&c.regions[0]),
        Spill::Spread(vec![("us-west-2".into(), 200), ("eu-west-1".into(), 100)])
    );
    // Another record set's weights say nothing of this one's.
    let other = text.replacen(
        r#"record_name = "api.example.com.", set_identifier = "eu-west-1", routing = "weighted""#,
        r#"record_name = "www.example.com.", set_identifier = "eu-west-1", routing = "weighted", base_weight = 150"#,
        1,
    );
    let c = Config::from_toml(&other, Path::new("t.toml")).expect("valid");
    assert_eq!(
        c.spill_of(&c.regions[0]),
        Spill::Spread(vec![("us-west-2".into(), 200), ("eu-west-1".into(), 100)])
    );
}
