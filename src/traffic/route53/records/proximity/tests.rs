//! What records without a weight read as, how they are compared with their binding, and what a
//! drain or a restore writes to them.

use aws_sdk_route53::types::{
    Coordinates, GeoLocation, GeoProximityLocation, ResourceRecordSetRegion, RrType,
};

use super::*;

fn expected(routing: Route53Routing) -> Expected {
    Expected {
        routing,
        latency_region: None,
        geolocation: None,
        geoproximity: None,
        health_check_id: None,
        withdrawn: None,
        bias: None,
    }
}

fn record() -> aws_sdk_route53::types::builders::ResourceRecordSetBuilder {
    ResourceRecordSet::builder()
        .name("api.example.com.")
        .r#type(RrType::A)
        .set_identifier("x")
        .health_check_id("hc")
}

#[test]
fn a_record_is_held_to_its_routing_location_and_check_and_says_which_differs() {
    let latency = record()
        .region(ResourceRecordSetRegion::UsEast1)
        .build()
        .expect("record");
    assert_eq!(expected(Route53Routing::Latency).mismatch(&latency), None);
    assert_eq!(
        expected(Route53Routing::Geolocation)
            .mismatch(&latency)
            .as_deref(),
        Some("the binding says geolocation routing and the record has latency")
    );
    let mut want = expected(Route53Routing::Latency);
    want.latency_region = Some("eu-west-1".into());
    assert_eq!(
        want.mismatch(&latency).as_deref(),
        Some("the binding says latency_region eu-west-1 and the record's Region is us-east-1")
    );
    want.latency_region = Some("US-EAST-1".into());
    want.health_check_id = Some("other".into());
    assert_eq!(
        want.mismatch(&latency).as_deref(),
        Some("the binding says health_check_id other and the record carries hc")
    );
    let unchecked = ResourceRecordSet::builder()
        .name("api.example.com.")
        .r#type(RrType::A)
        .multi_value_answer(true)
        .build()
        .expect("record");
    assert!(
        expected(Route53Routing::Multivalue)
            .mismatch(&unchecked)
            .is_some_and(|m| m.starts_with("the record carries no health check"))
    );
}

#[test]
fn locations_compare_in_any_case_and_coordinates_to_two_decimals() {
    let geo = record()
        .geo_location(GeoLocation::builder().country_code("*").build())
        .build()
        .expect("record");
    let mut want = expected(Route53Routing::Geolocation);
    want.geolocation = Some(Route53GeoLocation {
        country_code: Some("*".into()),
        ..Route53GeoLocation::default()
    });
    assert_eq!(want.mismatch(&geo), None);
    want.geolocation = Some(Route53GeoLocation {
        continent_code: Some("eu".into()),
        ..Route53GeoLocation::default()
    });
    assert_eq!(
        want.mismatch(&geo).as_deref(),
        Some("the binding says geolocation continent eu and the record's GeoLocation is country *")
    );
    let at = |lat: &str, lon: &str| {
        record()
            .geo_proximity_location(
                GeoProximityLocation::builder()
                    .coordinates(
                        Coordinates::builder()
                            .latitude(lat)
                            .longitude(lon)
                            .build()
                            .expect("coordinates"),
                    )
                    .bias(-20)
                    .build(),
            )
            .build()
            .expect("record")
    };
    let mut want = expected(Route53Routing::Geoproximity);
    want.geoproximity = Some(Route53GeoProximity {
        coordinates: Some("49.22, -74.01".into()),
        ..Route53GeoProximity::default()
    });
    assert_eq!(
        want.mismatch(&at("49.22", "-74.010")),
        None,
        "the bias is not compared"
    );
    assert!(want.mismatch(&at("49.30", "-74.01")).is_some());
}

fn share(s: u8) -> Share {
    Share::try_new(s).expect("share")
}

#[test]
fn every_whole_percent_share_reads_back_from_its_bias_for_every_normal_bias() {
    for base in 0..=99 {
        assert_eq!(bias_for(base, Share::FULL), base);
        assert_eq!(bias_for(base, share(1)), -99, "base {base}");
        let mut last = -100;
        for s in 1..=100u8 {
            let bias = bias_for(base, share(s));
            assert!((-99..=99).contains(&bias), "base {base} share {s}: {bias}");
            assert!(
                bias > last,
                "a higher share has a higher bias: base {base} share {s}"
            );
            last = bias;
            assert_eq!(
                share_for_bias(base, bias),
                share(s),
                "base {base} bias {bias}"
            );
        }
    }
    // Half way down from 0 is -50; a bias above the normal one reads whole.
    assert_eq!(bias_for(0, share(50)), -50);
    assert_eq!(share_for_bias(0, 30), Share::FULL);
    assert_eq!(share_for_bias(0, -99), share(1));
}

fn geoproximity(bias: Option<i32>, check: Option<&str>) -> ResourceRecordSet {
    let mut location = GeoProximityLocation::builder().aws_region("us-west-2");
    if let Some(b) = bias {
        location = location.bias(b);
    }
    ResourceRecordSet::builder()
        .name("api.example.com.")
        .r#type(RrType::A)
        .set_identifier("x")
        .geo_proximity_location(location.build())
        .set_health_check_id(check.map(str::to_owned))
        .build()
        .expect("record")
}

fn binding(routing: &str, extra: &str) -> Route53Binding {
    toml::from_str(&format!(
        "hosted_zone_id = \"Z1\"\nrecord_name = \"api.example.com.\"\nset_identifier = \"x\"\nrouting = \"{routing}\"\n{extra}"
    ))
    .expect("binding")
}

fn settings(mode: Mode, withdrawn: Option<&str>) -> Route53Settings {
    Route53Settings {
        mode,
        withdrawn_health_check_id: withdrawn.map(str::to_owned),
        ..Route53Settings::default()
    }
}

#[test]
fn a_geoproximity_bias_steps_only_where_the_api_writes_and_the_normal_bias_is_not_negative() {
    let b = binding(
        "geoproximity",
        "geoproximity = { aws_region = \"us-west-2\", bias = 10 }",
    );
    let mixed = Expected::of(&b, &settings(Mode::Mixed, None));
    assert_eq!(mixed.bias, Some(10));
    assert_eq!(mixed.withdrawn, None);
    assert_eq!(Expected::of(&b, &settings(Mode::Switches, None)).bias, None);
    let negative = binding(
        "geoproximity",
        "geoproximity = { aws_region = \"us-west-2\", bias = -5 }",
    );
    assert_eq!(
        Expected::of(&negative, &settings(Mode::Mixed, None)).bias,
        None
    );
    // Unstated, the bias is not failoverd's to step: the record moves whole.
    let unstated = binding("geoproximity", "");
    assert_eq!(
        Expected::of(&unstated, &settings(Mode::Records, Some("down"))).bias,
        None
    );
    assert_eq!(
        Expected::of(&binding("latency", ""), &settings(Mode::Mixed, None)).bias,
        None
    );

    // Mixed: the bias carries every share but 0, which the switch withdraws.
    let at_half = geoproximity(Some(bias_for(10, share(50))), Some("hc"));
    assert_eq!(mixed.share_of(&at_half), share(50));
    assert_eq!(mixed.mismatch(&at_half), None);
    assert!(mixed.edit(&at_half, Share::ZERO).is_none());
    let restore = mixed.edit(&at_half, Share::FULL).expect("a write");
    assert_eq!(restore.bias, Some(10));
    assert_eq!(restore.health_check, None, "the check stays as read");
    assert!(mixed.edit(&at_half, share(50)).is_none(), "already there");
    // A bias above the normal one is someone else's: the region is left unread.
    assert!(
        mixed
            .mismatch(&geoproximity(Some(30), Some("hc")))
            .is_some_and(|m| m.contains("Bias is 30, above the binding's geoproximity.bias 10"))
    );
}

#[test]
fn in_records_mode_a_drain_re_points_the_health_check_and_a_restore_points_it_back() {
    let s = settings(Mode::Records, Some("down"));
    let team = Expected::of(&binding("latency", "health_check_id = \"hc-team\""), &s);
    let latency = |check: Option<&str>| {
        ResourceRecordSet::builder()
            .name("api.example.com.")
            .r#type(RrType::A)
            .set_identifier("x")
            .region(ResourceRecordSetRegion::UsEast1)
            .set_health_check_id(check.map(str::to_owned))
            .build()
            .expect("record")
    };
    let serving = latency(Some("hc-team"));
    assert_eq!(team.share_of(&serving), Share::FULL);
    assert_eq!(team.mismatch(&serving), None);
    let drain = team.edit(&serving, Share::ZERO).expect("a write");
    assert_eq!(drain.health_check, Some(Some("down".to_owned())));
    let drained = latency(Some("down"));
    assert_eq!(team.share_of(&drained), Share::ZERO);
    assert_eq!(team.mismatch(&drained), None);
    assert!(team.edit(&drained, Share::ZERO).is_none());
    let restore = team.edit(&drained, Share::FULL).expect("a write");
    assert_eq!(restore.health_check, Some(Some("hc-team".to_owned())));
    // Another check than the binding's: a restore would lose it, so the region is unread.
    assert!(team.mismatch(&latency(Some("hc-other"))).is_some_and(|m| {
        m.contains("says health_check_id hc-team and the record carries hc-other")
    }));
    // A binding naming none serves with none, and is restored to none.
    let bare = Expected::of(&binding("latency", ""), &s);
    assert_eq!(bare.mismatch(&latency(None)), None);
    assert_eq!(
        bare.edit(&drained, Share::FULL)
            .and_then(|e| e.health_check),
        Some(None)
    );
    assert!(
        bare.mismatch(&latency(Some("hc-team")))
            .is_some_and(|m| m.contains("set health_check_id = \"hc-team\""))
    );

    // A stepped geoproximity record: its bias steps, then its check is re-pointed, the bias
    // left at its last step; a restore from there writes both back.
    let geo = Expected::of(
        &binding(
            "geoproximity",
            "geoproximity = { aws_region = \"us-west-2\", bias = 0 }",
        ),
        &s,
    );
    let full = geoproximity(None, None);
    assert_eq!(geo.share_of(&full), Share::FULL);
    let step = geo.edit(&full, share(60)).expect("a write");
    assert_eq!((step.bias, step.health_check), (Some(-40), None));
    let low = geoproximity(Some(-40), None);
    let out = geo.edit(&low, Share::ZERO).expect("a write");
    assert_eq!(
        (out.bias, out.health_check),
        (None, Some(Some("down".to_owned())))
    );
    let withdrawn = geoproximity(Some(-40), Some("down"));
    assert_eq!(geo.share_of(&withdrawn), Share::ZERO);
    let back = geo.edit(&withdrawn, Share::FULL).expect("a write");
    assert_eq!((back.bias, back.health_check), (Some(0), Some(None)));
}
