use std::time::Duration;

use super::*;
use crate::traffic::switches::SwitchController;

mod combined;
mod drift;

fn settings() -> SwitchSettings {
    SwitchSettings {
        request_interval: Duration::from_secs(10),
        failure_threshold: 2,
        controllers: vec![
            SwitchController {
                id: "c1".into(),
                address: "52.94.76.1".into(),
                port: 9443,
            },
            SwitchController {
                id: "c2".into(),
                address: "Switch.Example.NET.".into(),
                port: 9443,
            },
            SwitchController {
                id: "c3".into(),
                address: "10.0.0.3".into(),
                port: 9443,
            },
        ],
        ..SwitchSettings::default()
    }
}

fn binding(set_id: &str) -> Route53Binding {
    toml::from_str(&format!(
        r#"hosted_zone_id = "/hostedzone/Z1"
record_name = "API.example.com"
set_identifier = "{set_id}"
routing = "weighted""#
    ))
    .expect("binding")
}

fn wanted(bindings: &[(&str, &str, &Route53Binding)]) -> Wanted {
    Wanted::new(Some(&settings()), bindings.iter().copied()).expect("wanted")
}

fn endpoint(
    id: &str,
    reference: &str,
    ip: Option<&str>,
    fqdn: Option<&str>,
    path: &str,
) -> FoundCheck {
    FoundCheck {
        id: id.into(),
        caller_reference: reference.into(),
        config: FoundConfig::Endpoint {
            kind: "HTTPS".into(),
            ip: ip.map(Into::into),
            fqdn: fqdn.map(Into::into),
            port: Some(9443),
            path: Some(path.into()),
            interval: Some(10),
            failure_threshold: Some(2),
        },
        disabled: false,
        inverted: false,
        version: Some(1),
    }
}

fn calculated(id: &str, children: &[&str], threshold: i32) -> FoundCheck {
    FoundCheck {
        id: id.into(),
        caller_reference: format!("{CALLER_REFERENCE_PREFIX}{id}"),
        config: FoundConfig::Calculated {
            children: children.iter().map(|c| (*c).to_owned()).collect(),
            threshold: Some(threshold),
        },
        disabled: false,
        inverted: false,
        version: Some(1),
    }
}

fn key(set_id: &str) -> RecordKey {
    RecordKey {
        zone: "Z1".into(),
        name: "api.example.com.".into(),
        rtype: "A".into(),
        set_id: set_id.into(),
    }
}

/// The three checks of switch `us-east-1`, made by hand (not failoverd's).
fn hand_made() -> Vec<FoundCheck> {
    vec![
        endpoint(
            "e1",
            "console-1",
            Some("52.94.76.1"),
            None,
            "/switch/us-east-1",
        ),
        endpoint(
            "e2",
            "console-2",
            None,
            Some("switch.example.net"),
            "/switch/us-east-1",
        ),
        endpoint(
            "e3",
            "console-3",
            Some("10.0.0.3"),
            None,
            "/switch/us-east-1",
        ),
    ]
}

#[test]
fn wanted_has_a_check_per_controller_and_a_majority_per_switch_and_warns_of_private_addresses() {
    let b = binding("us-east-1");
    let w = wanted(&[(
        "api/us-east-1#1",
        "services[0].regions[0].knobs[1].route53",
        &b,
    )]);
    assert_eq!(w.switches.len(), 1);
    let s = &w.switches[0];
    assert_eq!(s.switch, "api/us-east-1");
    assert_eq!(s.threshold, 2);
    assert_eq!(
        s.checks[1].target,
        Target::Name("switch.example.net".into())
    );
    assert_eq!(s.checks[0].path, "/switch/api/us-east-1");
    assert_eq!(
        s.records[0].key,
        RecordKey {
            zone: "Z1".into(),
            name: "api.example.com.".into(),
            rtype: "A".into(),
            set_id: "us-east-1".into()
        }
    );
    assert_eq!(w.warnings.len(), 1);
    assert!(
        w.warnings[0].starts_with("controller c3 (10.0.0.3)"),
        "{:?}",
        w.warnings
    );
}

#[test]
fn wanted_needs_switches_controllers_and_route53_knobs_in_this_account() {
    let b = binding("x");
    assert!(matches!(
        Wanted::new(None, [("r", "p", &b)]),
        Err(SetupError::NoSwitches)
    ));
    assert!(matches!(
        Wanted::new(Some(&SwitchSettings::default()), [("r", "p", &b)]),
        Err(SetupError::NoControllers)
    ));
    assert!(matches!(
        Wanted::new(Some(&settings()), []),
        Err(SetupError::NoRoute53Knobs)
    ));
    let mut other = binding("x");
    other.role_arn = Some("arn:aws:iam::123456789012:role/r".into());
    assert!(matches!(
        Wanted::new(Some(&settings()), [("r", "regions[0].traffic.route53", &other)]),
        Err(SetupError::OtherAccount { knob }) if knob == "regions[0].traffic.route53"
    ));
}

#[test]
fn caller_references_follow_the_settings_and_fit_route53s_limit() {
    let b = binding("us-east-1");
    let w = wanted(&[("us-east-1", "p", &b)]);
    let check = &w.switches[0].checks[0];
    let a = caller_reference(&check.canonical("us-east-1"), 1);
    assert_eq!(
        a,
        caller_reference(&check.canonical("us-east-1"), 1),
        "deterministic"
    );
    assert_ne!(a, caller_reference(&check.canonical("eu-west-1"), 1));
    let mut other = check.clone();
    other.port = 9444;
    assert_ne!(
        a,
        caller_reference(&other.canonical("us-east-1"), 1),
        "settings count"
    );
    let next = caller_reference(&check.canonical("us-east-1"), 2);
    assert_eq!(next, format!("{a}-2"));
    assert!(a.starts_with(CALLER_REFERENCE_PREFIX) && next.len() <= 64);
}

#[test]
fn addresses_route53_will_not_check_are_told_apart() {
    for ip in [
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "127.0.0.1",
        "169.254.1.1",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "::1",
        "fd00::1",
        "fe80::1",
        "::ffff:10.0.0.1",
    ] {
        assert!(!publicly_routable(ip.parse().expect("ip")), "{ip}");
    }
    for ip in ["8.8.8.8", "100.128.0.1", "2600:1f18::1"] {
        assert!(publicly_routable(ip.parse().expect("ip")), "{ip}");
    }
}

#[test]
fn checks_made_by_hand_are_used_and_only_the_calculated_check_and_records_are_planned() {
    let b = binding("us-east-1");
    let w = wanted(&[("us-east-1", "regions[0].traffic.route53", &b)]);
    let found = Found {
        checks: hand_made(),
        records: [(key("us-east-1"), FoundRecord::Present(None))].into(),
    };
    let p = plan(&w, &found);
    assert_eq!(p.steps.len(), 2, "{p:#?}");
    assert!(
        matches!(&p.steps[0], Step::CreateCalculated { children, threshold: 2, .. }
        if children.iter().map(|(_, c)| c.clone()).collect::<Vec<_>>()
            == ["e1", "e2", "e3"].map(|id| CheckRef::Existing(id.into())))
    );
    assert!(matches!(
        &p.steps[1],
        Step::SetRecordCheck {
            check: CheckRef::New(0),
            replacing: None,
            ..
        }
    ));
    assert_eq!(
        p.steps[1].to_string(),
        "set health check: switch us-east-1, record api.example.com. A \"us-east-1\" in zone Z1 (regions[0].traffic.route53): its new calculated check"
    );
}

#[test]
fn a_record_on_failoverds_old_or_a_deleted_check_moves_and_someone_elses_is_combined_with_the_switch()
 {
    let (a, b, c) = (binding("a"), binding("b"), binding("c"));
    let w = wanted(&[
        ("us-east-1", "pa", &a),
        ("us-east-1#1", "pb", &b),
        ("us-east-1#2", "pc", &c),
    ]);
    let mut checks = hand_made();
    checks.push(calculated("calc", &["e1", "e2", "e3"], 2));
    checks.push(calculated("old", &["e1", "e2"], 2));
    checks.push(endpoint(
        "theirs",
        "terraform-123",
        Some("192.0.2.1"),
        None,
        "/health",
    ));
    let found = Found {
        checks,
        records: [
            (key("a"), FoundRecord::Present(Some("old".into()))),
            (key("b"), FoundRecord::Present(Some("gone".into()))),
            (key("c"), FoundRecord::Present(Some("theirs".into()))),
        ]
        .into(),
    };
    let p = plan(&w, &found);
    assert_eq!(
        p.steps,
        [
            Step::SetRecordCheck {
                switch: "us-east-1".into(),
                record: w.switches[0].records[0].clone(),
                check: CheckRef::Existing("calc".into()),
                replacing: Some("old".into())
            },
            Step::SetRecordCheck {
                switch: "us-east-1".into(),
                record: w.switches[0].records[1].clone(),
                check: CheckRef::Existing("calc".into()),
                replacing: Some("gone".into())
            },
            Step::CreateCombined {
                switch: "us-east-1".into(),
                team: "theirs".into(),
                switch_check: CheckRef::Existing("calc".into()),
            },
            Step::SetRecordCombined {
                switch: "us-east-1".into(),
                record: w.switches[0].records[2].clone(),
                check: CheckRef::New(2),
                team: "theirs".into(),
            },
        ]
    );
    assert!(p.conflicts.is_empty(), "{:?}", p.conflicts);
    assert_eq!(
        p.steps[2].to_string(),
        "create calculated health check: switch us-east-1: healthy while both the team's check theirs and the switch's calculated check calc are (2 of 2)"
    );
    assert!(p.steps[3].needs_new_check());
    assert!(
        p.notes
            .iter()
            .any(|n| n.contains("gone, which no longer exists")),
        "{:?}",
        p.notes
    );
    assert!(
        p.notes
            .iter()
            .any(|n| n.contains("failoverd's check old is no longer wanted")),
        "{:?}",
        p.notes
    );
}

#[test]
fn a_missing_record_and_a_record_bound_by_two_switches_are_conflicts() {
    let (a, b) = (binding("a"), binding("a"));
    let w = wanted(&[("us-east-1", "pa", &a), ("eu-west-1", "pb", &b)]);
    let found = Found {
        checks: Vec::new(),
        records: [(
            key("a"),
            FoundRecord::Missing("hosted zone Z1 was not found".into()),
        )]
        .into(),
    };
    let p = plan(&w, &found);
    assert_eq!(p.conflicts.len(), 2, "{:?}", p.conflicts);
    assert!(
        p.conflicts[0].contains("cannot carry the switch's check: hosted zone Z1 was not found")
    );
    assert!(p.conflicts[1].contains("is bound by switch us-east-1 and switch eu-west-1"));
    // Both switches' checks are still planned.
    assert_eq!(
        p.steps
            .iter()
            .filter(|s| matches!(s, Step::CreateCalculated { .. }))
            .count(),
        2
    );
}

#[test]
fn a_disabled_or_inverted_endpoint_check_is_a_conflict_and_its_switch_gets_no_steps() {
    let b = binding("us-east-1");
    let w = wanted(&[("us-east-1", "p", &b)]);
    for (disabled, inverted, why) in [
        (
            true,
            false,
            "is disabled: Route 53 counts a disabled check healthy",
        ),
        (false, true, "is inverted"),
    ] {
        let mut checks = hand_made();
        checks[1].disabled = disabled;
        checks[1].inverted = inverted;
        checks.push(calculated("calc", &["e1", "e2", "e3"], 2));
        let found = Found {
            checks,
            records: [(key("us-east-1"), FoundRecord::Present(None))].into(),
        };
        let p = plan(&w, &found);
        assert!(p.steps.is_empty(), "nothing is attached to it: {p:#?}");
        assert!(!p.in_place());
        assert_eq!(p.conflicts.len(), 1, "{:?}", p.conflicts);
        let c = &p.conflicts[0];
        assert!(
            c.starts_with("health check e2 (switch us-east-1, controller c2) ")
                && c.contains(why)
                && c.contains("--health-check-id e2 --no-disabled --no-inverted"),
            "{c}"
        );
    }
}

#[test]
fn a_usable_duplicate_is_preferred_to_a_disabled_one() {
    let b = binding("us-east-1");
    let w = wanted(&[("us-east-1", "p", &b)]);
    let mut checks = hand_made();
    // A disabled copy of c1's check with a lower id, and failoverd's own: failoverd's wins
    // either way, and the disabled copy is not reported.
    let mut disabled = checks[0].clone();
    disabled.id = "a-disabled".into();
    disabled.caller_reference = format!("{CALLER_REFERENCE_PREFIX}x");
    disabled.disabled = true;
    checks.push(disabled);
    let found = Found {
        checks,
        records: [(key("us-east-1"), FoundRecord::Present(None))].into(),
    };
    let p = plan(&w, &found);
    assert!(p.conflicts.is_empty(), "{:?}", p.conflicts);
    assert!(
        matches!(&p.steps[0], Step::CreateCalculated { children, .. }
            if children[0].1 == CheckRef::Existing("e1".into())),
        "{p:#?}"
    );
}

#[test]
fn a_calculated_check_without_a_majority_or_disabled_is_a_conflict_even_on_the_records() {
    let b = binding("us-east-1");
    let w = wanted(&[("us-east-1", "p", &b)]);
    let cases: [(i32, bool, &str); 4] = [
        (
            1,
            false,
            "needs 1 of its 3 children healthy, where the switches need a majority (2)",
        ),
        (3, false, "needs 3 of its 3 children healthy"),
        (0, false, "needs 0 of its 3 children healthy"),
        (2, true, "is disabled"),
    ];
    for (threshold, disabled, why) in cases {
        let mut checks = hand_made();
        let mut calc = calculated("calc", &["e1", "e2", "e3"], threshold);
        calc.disabled = disabled;
        checks.push(calc);
        let found = Found {
            checks,
            // The record already carries it: that is not "in place".
            records: [(key("us-east-1"), FoundRecord::Present(Some("calc".into())))].into(),
        };
        let p = plan(&w, &found);
        assert!(p.steps.is_empty(), "{p:#?}");
        assert_eq!(p.records_in_place, 0);
        assert!(!p.in_place());
        assert_eq!(p.conflicts.len(), 1, "{:?}", p.conflicts);
        assert!(
            p.conflicts[0].starts_with("calculated check calc (switch us-east-1) ")
                && p.conflicts[0].contains(why),
            "{}",
            p.conflicts[0]
        );
        if !disabled {
            assert!(
                p.conflicts[0].contains("--health-check-id calc --health-threshold 2"),
                "{}",
                p.conflicts[0]
            );
        }
    }
}

mod writes {
    use aws_sdk_route53::types::{ChangeAction, ResourceRecord, ResourceRecordSet, RrType};

    use super::super::super::batch::Size;
    use super::super::writes::{RecordWrite, batches};
    use super::*;

    fn write(zone: &str, set_id: &str, weight: i64) -> RecordWrite {
        let read = ResourceRecordSet::builder()
            .name("api.example.com.")
            .r#type(RrType::A)
            .set_identifier(set_id)
            .weight(weight)
            .ttl(60)
            .health_check_id("old")
            .resource_records(
                ResourceRecord::builder()
                    .value("192.0.2.1")
                    .build()
                    .expect("rr"),
            )
            .build()
            .expect("record");
        RecordWrite {
            key: RecordKey {
                zone: zone.into(),
                ..key(set_id)
            },
            read,
            check: "calc".into(),
            line: set_id.into(),
        }
    }

    #[test]
    fn each_record_is_a_delete_as_read_and_a_create_with_the_check_in_one_batch() {
        // 600 records of one value: a DELETE and a CREATE count 2 of a batch's 1,000.
        let mut all: Vec<RecordWrite> =
            (0..600).map(|i| write("Z1", &format!("r{i}"), i)).collect();
        all.push(write("Z0", "other", 7));
        let out = batches(all.clone(), Size::LIMIT).expect("fits");
        let shape: Vec<(&str, usize)> = out
            .iter()
            .map(|b| (b.zone.as_str(), b.writes.len()))
            .collect();
        assert_eq!(shape, [("Z0", 1), ("Z1", 500), ("Z1", 100)]);
        for b in &out {
            let changes = b.change_batch().expect("batch").changes().to_vec();
            assert_eq!(changes.len(), 2 * b.writes.len());
            for (pair, w) in changes.chunks(2).zip(&b.writes) {
                assert_eq!(pair[0].action(), &ChangeAction::Delete);
                assert_eq!(pair[1].action(), &ChangeAction::Create);
                // The DELETE is the record exactly as read: weight and old check included, so
                // Route 53 refuses it if anything changed since.
                assert_eq!(pair[0].resource_record_set(), Some(&w.read));
                let mut expected = w.read.clone();
                expected.health_check_id = Some("calc".into());
                assert_eq!(pair[1].resource_record_set(), Some(&expected));
            }
        }
        assert_eq!(out[2].writes[0].read.weight(), Some(500), "in order");
    }

    #[test]
    fn the_character_limit_splits_batches_too_and_a_write_is_never_split() {
        let all: Vec<RecordWrite> = (0..7).map(|i| write("Z1", &format!("r{i}"), i)).collect();
        // Each write: 2 records and 2 x 9 characters; 40 characters hold two writes.
        let limit = Size {
            records: 1000,
            chars: 40,
        };
        let out = batches(all, limit).expect("fits");
        assert_eq!(
            out.iter().map(|b| b.writes.len()).collect::<Vec<_>>(),
            [2, 2, 2, 1]
        );
        let tiny = Size {
            records: 1,
            chars: 1000,
        };
        let err = batches(vec![write("Z1", "r", 1)], tiny).expect_err("a write is never split");
        assert!(err.to_string().contains("record api.example.com."), "{err}");
    }
}

#[test]
fn records_wait_for_checks_the_plan_creates_and_the_wait_covers_the_slowest_check() {
    let b = binding("us-east-1");
    let w = wanted(&[("us-east-1", "p", &b)]);
    let found = Found {
        checks: hand_made(),
        records: [(key("us-east-1"), FoundRecord::Present(None))].into(),
    };
    let p = plan(&w, &found);
    assert!(!p.steps[0].needs_new_check());
    assert!(p.steps[1].needs_new_check(), "{:?}", p.steps[1]);
    // 10 s x 2, plus the margin for the checkers to start.
    assert_eq!(
        w.settle_time(),
        Duration::from_secs(20) + SETTLE_MARGIN,
        "{w:#?}"
    );
    let mut slow = w.clone();
    slow.switches[0].checks[1].interval = 30;
    slow.switches[0].checks[1].failure_threshold = 3;
    assert_eq!(slow.settle_time(), Duration::from_secs(90) + SETTLE_MARGIN);
}
