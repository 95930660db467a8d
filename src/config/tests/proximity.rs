//! Records without a weight (latency, geolocation, geoproximity, multivalue): what a binding may
//! say of them, and the switches they need, each mistake named by its field.

use super::*;
use crate::traffic::route53::Route53Routing;

const SWITCHED: &str = "[cluster]\nendpoints = [\"http://10.0.0.1:2379\"]\n[traffic.route53]\nmode = \"switches\"\n[switches]\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\ncontrollers = [{ id = \"c1\", address = \"198.51.100.1\" }]\n";

/// Two regions bound with `a` and `b` (the inside of each `traffic.route53` table after the
/// zone, name and set identifier), then `extra`.
fn config(a: &str, b: &str, extra: &str) -> String {
    let region = |name: &str, other: &str, binding: &str| {
        format!(
            r#"
[[regions]]
name = "{name}"
capacity_rps = 100
spill_to = ["{other}"]
probes = [{{ url = "http://{name}.example/healthz/deep" }}]
traffic.route53 = {{ hosted_zone_id = "Z1", record_name = "api.example.com.", set_identifier = "{name}", {binding} }}
"#
        )
    };
    format!(
        "[controller]\nid = \"c1\"\ncontrol_region = \"us-east-2\"\n[traffic]\nbackend = \"route53\"\n{}{}\n{extra}\n",
        region("a", "b", a),
        region("b", "a", b)
    )
}

fn has(errors: &[String], field: &str, text: &str) -> bool {
    errors
        .iter()
        .any(|e| e.starts_with(&format!("{field}: ")) && e.contains(text))
}

#[test]
fn latency_and_geo_bindings_load_with_switches_and_say_whether_they_route_by_proximity() {
    let c = parse(&config(
        r#"routing = "latency", latency_region = "us-east-1", record_type = ["A", "AAAA"]"#,
        r#"routing = "geolocation", geolocation = { country_code = "US", subdivision_code = "CA" }, health_check_id = "hc-b""#,
        SWITCHED,
    ));
    assert!(validate(&c).is_empty(), "{:?}", validate(&c));
    let a = c.regions[0].traffic.route53.as_ref().expect("a");
    let b = c.regions[1].traffic.route53.as_ref().expect("b");
    assert_eq!(a.routing, Route53Routing::Latency);
    assert_eq!(a.latency_region.as_deref(), Some("us-east-1"));
    assert!(a.routes_by_proximity() && b.routes_by_proximity());
    // The planning side asks the knobs, whatever their backend.
    assert!(c.knobs().iter().all(|k| k.knob.routes_by_proximity()));
    // Their users go to the nearest survivor: that is the default spill model.
    assert!(
        c.regions
            .iter()
            .all(|r| r.spill_kind() == SpillKind::Nearest)
    );
    // A multivalue record spreads its users over the rest, evenly.
    let c = parse(&config(
        r#"routing = "multivalue""#,
        r#"routing = "latency""#,
        SWITCHED,
    ));
    assert_eq!(c.regions[0].spill_kind(), SpillKind::Spread);
    assert_eq!(c.regions[1].spill_kind(), SpillKind::Nearest);
    // Told to fill, a latency region would approve moves that overload its nearest survivor.
    let text = config(r#"routing = "latency""#, r#"routing = "latency""#, SWITCHED).replacen(
        "spill_to = [\"b\"]",
        "spill_to = [\"b\"]\nspill = \"fill\"",
        1,
    );
    assert!(
        has(
            &load_errors(&text),
            "regions[0].spill",
            "route by proximity"
        ),
        "{:?}",
        load_errors(&text)
    );
    assert_eq!(b.health_check_id.as_deref(), Some("hc-b"));
    for (routing, proximity) in [
        (Route53Routing::Weighted, false),
        (Route53Routing::Failover, false),
        (Route53Routing::Latency, true),
        (Route53Routing::Geolocation, true),
        (Route53Routing::Geoproximity, true),
        (Route53Routing::Multivalue, false),
    ] {
        assert_eq!(routing.routes_by_proximity(), proximity, "{routing}");
        assert_eq!(
            routing.withdrawn_by_health_check(),
            !matches!(routing, Route53Routing::Weighted | Route53Routing::Failover),
            "{routing}"
        );
    }
}

#[test]
fn a_record_without_a_weight_needs_a_mode_with_switches_or_an_always_unhealthy_check() {
    let e = load_errors(&config(
        r#"routing = "latency""#,
        r#"routing = "multivalue""#,
        "",
    ));
    assert!(
        has(
            &e,
            "regions[0].traffic.route53.routing",
            "latency records carry no weight, so failoverd withdraws them by their health check"
        ) && has(
            &e,
            "regions[0].traffic.route53.routing",
            "traffic.route53.mode = \"switches\" or \"mixed\""
        ) && has(
            &e,
            "regions[0].traffic.route53.routing",
            "set traffic.route53.withdrawn_health_check_id"
        ),
        "{e:#?}"
    );
    assert!(
        has(
            &e,
            "regions[1].traffic.route53.routing",
            "multivalue records"
        ),
        "{e:#?}"
    );
    // Weighted records still need nothing of the kind.
    assert!(
        load_errors(&config(
            r#"routing = "weighted""#,
            r#"routing = "weighted""#,
            ""
        ))
        .is_empty()
    );
    // In records mode, the control-plane fallback: an always-unhealthy check to re-point at.
    let records = "[traffic.route53]\nwithdrawn_health_check_id = \"hc-down\"\n";
    let c = parse(&config(
        r#"routing = "latency", health_check_id = "hc-team""#,
        r#"routing = "geoproximity", geoproximity = { aws_region = "us-west-2", bias = 20 }"#,
        records,
    ));
    assert!(validate(&c).is_empty(), "{:?}", validate(&c));
    assert_eq!(
        c.traffic.route53.withdrawn_health_check_id.as_deref(),
        Some("hc-down")
    );
    // A zone in another account cannot carry the controller's account's check.
    let e = load_errors(&config(
        r#"routing = "latency", role_arn = "arn:aws:iam::210987654321:role/dns""#,
        r#"routing = "latency", role_arn = "arn:aws:iam::210987654321:role/dns""#,
        records,
    ));
    assert!(
        has(
            &e,
            "regions[0].traffic.route53.role_arn",
            "a record carries only health checks of its zone's account"
        ),
        "{e:#?}"
    );
    // The serving check is not the withdrawn one, and the withdrawn one is for records mode.
    let e = load_errors(&config(
        r#"routing = "latency", health_check_id = "hc-down""#,
        r#"routing = "weighted""#,
        records,
    ));
    assert!(
        has(
            &e,
            "regions[0].traffic.route53.health_check_id",
            "is traffic.route53.withdrawn_health_check_id"
        ),
        "{e:#?}"
    );
    let e = load_errors(&config(
        r#"routing = "latency""#,
        r#"routing = "weighted""#,
        &SWITCHED.replace(
            "mode = \"switches\"",
            "mode = \"mixed\"\nwithdrawn_health_check_id = \"hc-down\"",
        ),
    ));
    assert!(
        has(
            &e,
            "traffic.route53.withdrawn_health_check_id",
            "is for mode = \"records\""
        ),
        "{e:#?}"
    );
    let e = load_errors(&config(
        r#"routing = "geoproximity", geoproximity = { aws_region = "us-west-2", bias = 100 }"#,
        r#"routing = "weighted""#,
        "[traffic.route53]\nwithdrawn_health_check_id = \" \"\n",
    ));
    for (field, text) in [
        (
            "regions[0].traffic.route53.geoproximity.bias",
            "must be -99 to 99 (Route 53's bounds), got 100",
        ),
        (
            "traffic.route53.withdrawn_health_check_id",
            "must not be empty",
        ),
    ] {
        assert!(has(&e, field, text), "{field}: {e:#?}");
    }
}

#[test]
fn fields_of_one_routing_are_refused_on_another_and_locations_must_be_whole() {
    let e = load_errors(&config(
        r#"routing = "weighted", latency_region = "us-east-1", health_check_id = "hc-a""#,
        r#"routing = "latency", geolocation = { continent_code = "EU" }, values = ["192.0.2.1"]"#,
        SWITCHED,
    ));
    for (field, text) in [
        (
            "regions[0].traffic.route53.latency_region",
            "only latency records take latency_region; routing is \"weighted\"",
        ),
        (
            "regions[0].traffic.route53.health_check_id",
            "only records without a weight",
        ),
        (
            "regions[1].traffic.route53.geolocation",
            "only geolocation records take geolocation",
        ),
        (
            "regions[1].traffic.route53.values",
            "latency records keep their values as they are in the zone",
        ),
    ] {
        assert!(has(&e, field, text), "{field}: {e:#?}");
    }
    let e = load_errors(&config(
        r#"routing = "geolocation", geolocation = { continent_code = "EU", country_code = "FR" }"#,
        r#"routing = "geoproximity", geoproximity = { aws_region = "us-west-2", coordinates = "91,0" }"#,
        SWITCHED,
    ));
    for (field, text) in [
        (
            "regions[0].traffic.route53.geolocation.continent_code",
            "a continent or a country, not both",
        ),
        (
            "regions[1].traffic.route53.geoproximity",
            "exactly one of aws_region, local_zone_group or coordinates",
        ),
        (
            "regions[1].traffic.route53.geoproximity.coordinates",
            "got \"91,0\"",
        ),
    ] {
        assert!(has(&e, field, text), "{field}: {e:#?}");
    }
    let e = load_errors(&config(
        r#"routing = "geolocation", geolocation = { subdivision_code = "CA" }"#,
        r#"routing = "latency", latency_region = " ", health_check_id = """#,
        SWITCHED,
    ));
    for (field, text) in [
        (
            "regions[0].traffic.route53.geolocation",
            "names no location",
        ),
        (
            "regions[1].traffic.route53.latency_region",
            "must not be empty",
        ),
        (
            "regions[1].traffic.route53.health_check_id",
            "must not be empty",
        ),
    ] {
        assert!(has(&e, field, text), "{field}: {e:#?}");
    }
}
