//! `[switches]` and `traffic.route53.mode`: each mistake named by its field.

use super::*;

const ROUTE53: &str = r#"
[controller]
id = "c1"
control_region = "us-east-2"

[traffic]
backend = "route53"

[[regions]]
name = "a"
capacity_rps = 100
spill_to = ["b"]
probes = [{ url = "http://a.example/healthz/deep" }]
traffic.route53 = { hosted_zone_id = "Z1", record_name = "api.example.com.", set_identifier = "a", routing = "weighted" }

[[regions]]
name = "b"
capacity_rps = 100
spill_to = ["a"]
probes = [{ url = "http://b.example/healthz/deep" }]
traffic.route53 = { hosted_zone_id = "Z1", record_name = "api.example.com.", set_identifier = "b", routing = "weighted" }
"#;

fn errors(extra: &str) -> Vec<String> {
    load_errors(&format!("{ROUTE53}\n{extra}\n"))
}

fn has(errors: &[String], field: &str, text: &str) -> bool {
    errors
        .iter()
        .any(|e| e.starts_with(&format!("{field}: ")) && e.contains(text))
}

#[test]
fn a_mode_acting_through_switches_needs_them_served_with_a_certificate() {
    let e = errors("[traffic.route53]\nmode = \"mixed\"");
    assert!(
        has(&e, "traffic.route53.mode", "no [switches] table"),
        "{e:#?}"
    );
    let e = errors(
        "[traffic.route53]\nmode = \"switches\"\n[switches]\ncontrollers = [{ id = \"c2\", address = \"198.51.100.2\" }]",
    );
    assert!(has(&e, "switches.tls_cert", "self-signed"), "{e:#?}");
    assert!(
        has(&e, "switches.controllers", "does not list this controller"),
        "{e:#?}"
    );
    let e = errors("[traffic.route53]\nmode = \"sideways\"");
    assert!(
        e.iter().any(|m| m.starts_with("traffic.route53.mode: ")
            && m.contains("records")
            && m.contains("mixed")),
        "{e:#?}"
    );
}

#[test]
fn a_valid_switches_section_loads_with_its_defaults_and_says_what_it_serves() {
    let c = parse(&format!(
        "{ROUTE53}\n[cluster]\nendpoints = [\"http://10.0.0.1:2379\"]\n[traffic.route53]\nmode = \"mixed\"\n[switches]\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\ncontrollers = [{{ id = \"c1\", address = \"198.51.100.1\" }}, {{ id = \"c2\", address = \"switch.example.net\", port = 8443 }}, {{ id = \"c3\", address = \"2001:db8::3\" }}]\n"
    ));
    assert!(validate(&c).is_empty(), "{:?}", validate(&c));
    let s = c.switches.as_ref().expect("switches");
    assert_eq!(s.listen.port(), 9443);
    assert_eq!((s.majority(), s.failure_threshold), (2, 2));
    let summary = c.summary().join("\n");
    assert!(
        summary.contains("switches: 2 served on 0.0.0.0:9443 (traffic.route53.mode = \"mixed\"); 3 controller(s), a calculated check needs 2; a flip shows after 20s"),
        "{summary}"
    );
}

#[test]
fn the_switch_listener_is_not_the_admin_endpoint() {
    let e = errors(
        "[admin]\nenabled = true\nlisten = \"127.0.0.1:9443\"\nallow_plain_http = true\n[switches]\nlisten = \"127.0.0.1:9443\"\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\ncontrollers = [{ id = \"c1\", address = \"198.51.100.1\" }]",
    );
    assert!(
        has(&e, "switches.listen", "overlaps admin.listen"),
        "{e:#?}"
    );
    let e = errors(
        "[admin]\nenabled = true\nlisten = \"127.0.0.1:9443\"\nallow_plain_http = true\n[switches]\nlisten = \"0.0.0.0:9443\"\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\ncontrollers = [{ id = \"c1\", address = \"198.51.100.1\" }]",
    );
    assert!(
        has(&e, "switches.listen", "overlaps admin.listen"),
        "{e:#?}"
    );
}

#[test]
fn layouts_that_lose_their_majority_or_their_agreement_are_refused() {
    let e = errors(
        "[cluster]\nendpoints = [\"http://10.0.0.1:2379\"]\n[switches]\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\ncontrollers = [{ id = \"c1\", address = \"198.51.100.1\" }, { id = \"c2\", address = \"198.51.100.1\" }]",
    );
    assert!(
        has(&e, "switches.controllers", "lists 2 controllers"),
        "{e:#?}"
    );
    assert!(
        has(
            &e,
            "switches.controllers[1].address",
            "is controllers[0]'s too"
        ),
        "{e:#?}"
    );
    let e = errors(
        "[switches]\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\ncontrollers = [{ id = \"c1\", address = \"198.51.100.1\" }, { id = \"c2\", address = \"198.51.100.2\" }, { id = \"c3\", address = \"198.51.100.3\" }]",
    );
    assert!(
        has(&e, "switches.controllers", "there is no [cluster]"),
        "{e:#?}"
    );
}
