use proptest::prelude::*;

use super::*;

fn weighted(id: &str, weight: u8, check: Option<&str>) -> RecordSet {
    RecordSet {
        set_identifier: id.to_owned(),
        routing: RecordRouting::Weighted(weight),
        health_check: check.map(str::to_owned),
    }
}

fn failover(id: &str, role: FailoverRole, check: Option<&str>) -> RecordSet {
    RecordSet {
        set_identifier: id.to_owned(),
        routing: RecordRouting::Failover(role),
        health_check: check.map(str::to_owned),
    }
}

fn endpoints(states: &[(&str, bool)]) -> HealthChecks {
    states
        .iter()
        .map(|(id, healthy)| {
            (
                (*id).to_owned(),
                HealthCheck::Endpoint { healthy: *healthy },
            )
        })
        .collect()
}

fn calculated(children: &[&str], threshold: u32) -> HealthCheck {
    HealthCheck::Calculated {
        children: children.iter().map(|c| (*c).to_owned()).collect(),
        threshold,
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn healthy_weighted_records_share_by_weight() {
    let records = [
        weighted("a", 100, Some("ha")),
        weighted("b", 50, Some("hb")),
        weighted("c", 50, None),
    ];
    let got = answers(&records, &endpoints(&[("ha", true), ("hb", true)])).expect("valid");
    assert!(
        close(got["a"], 0.5) && close(got["b"], 0.25) && close(got["c"], 0.25),
        "{got:?}"
    );
}

#[test]
fn an_unhealthy_record_is_left_out_and_the_others_share_its_answers_by_weight() {
    let records = [
        weighted("a", 100, Some("ha")),
        weighted("b", 100, Some("hb")),
        weighted("c", 200, Some("hc")),
    ];
    let checks = endpoints(&[("ha", false), ("hb", true), ("hc", true)]);
    let got = answers(&records, &checks).expect("valid");
    assert_eq!(got["a"], 0.0);
    assert!(
        close(got["b"], 1.0 / 3.0) && close(got["c"], 2.0 / 3.0),
        "{got:?}"
    );
}

#[test]
fn a_record_without_a_check_is_always_healthy() {
    let records = [weighted("a", 100, Some("ha")), weighted("b", 100, None)];
    let got = answers(&records, &endpoints(&[("ha", false)])).expect("valid");
    assert_eq!(got["a"], 0.0);
    assert_eq!(got["b"], 1.0);
}

#[test]
fn zero_weights_answer_only_when_every_nonzero_record_is_unhealthy_and_then_equally() {
    let records = [
        weighted("a", 100, Some("ha")),
        weighted("z1", 0, Some("hz1")),
        weighted("z2", 0, Some("hz2")),
        weighted("z3", 0, Some("hz3")),
    ];
    let healthy = endpoints(&[("ha", true), ("hz1", true), ("hz2", true), ("hz3", false)]);
    let got = answers(&records, &healthy).expect("valid");
    assert_eq!(got["a"], 1.0, "a healthy nonzero record takes every answer");
    assert_eq!(got["z1"], 0.0);

    let down = endpoints(&[("ha", false), ("hz1", true), ("hz2", true), ("hz3", false)]);
    let got = answers(&records, &down).expect("valid");
    assert_eq!(got["a"], 0.0);
    assert!(close(got["z1"], 0.5) && close(got["z2"], 0.5), "{got:?}");
    assert_eq!(got["z3"], 0.0, "an unhealthy zero-weight record stays out");
}

#[test]
fn all_zero_weights_share_equally() {
    let records = [weighted("a", 0, None), weighted("b", 0, None)];
    let got = answers(&records, &HealthChecks::new()).expect("valid");
    assert!(close(got["a"], 0.5) && close(got["b"], 0.5), "{got:?}");
}

#[test]
fn with_every_record_unhealthy_route53_fails_open_and_answers_by_weight() {
    let records = [
        weighted("a", 100, Some("ha")),
        weighted("b", 255, Some("hb")),
        weighted("z", 0, Some("hz")),
    ];
    let checks = endpoints(&[("ha", false), ("hb", false), ("hz", false)]);
    let got = answers(&records, &checks).expect("valid");
    assert!(close(got["a"], 100.0 / 355.0), "{got:?}");
    assert!(close(got["b"], 255.0 / 355.0), "{got:?}");
    assert_eq!(got["z"], 0.0, "failing open still prefers nonzero weights");
}

#[test]
fn failover_answers_primary_while_healthy_then_secondary_then_primary_again_when_both_are_down() {
    let records = [
        failover("p", FailoverRole::Primary, Some("hp")),
        failover("s", FailoverRole::Secondary, Some("hs")),
    ];
    let both = |p, s| answers(&records, &endpoints(&[("hp", p), ("hs", s)])).expect("valid");
    assert_eq!((both(true, true)["p"], both(true, true)["s"]), (1.0, 0.0));
    assert_eq!((both(true, false)["p"], both(true, false)["s"]), (1.0, 0.0));
    assert_eq!((both(false, true)["p"], both(false, true)["s"]), (0.0, 1.0));
    assert_eq!(
        (both(false, false)["p"], both(false, false)["s"]),
        (1.0, 0.0),
        "fail open: the routing policy picks the PRIMARY"
    );
}

#[test]
fn a_lone_failover_record_always_answers() {
    let records = [failover("s", FailoverRole::Secondary, Some("hs"))];
    let got = answers(&records, &endpoints(&[("hs", false)])).expect("valid");
    assert_eq!(got["s"], 1.0);
}

#[test]
fn a_calculated_check_is_healthy_while_at_least_its_threshold_of_children_are() {
    let mut checks = endpoints(&[("c1", true), ("c2", true), ("c3", false)]);
    checks.insert("two".into(), calculated(&["c1", "c2", "c3"], 2));
    checks.insert("three".into(), calculated(&["c1", "c2", "c3"], 3));
    checks.insert("zero".into(), calculated(&["c3"], 0));
    checks.insert("more".into(), calculated(&["c1"], 2));
    assert!(is_healthy("two", &checks));
    assert!(!is_healthy("three", &checks));
    assert!(is_healthy("zero", &checks), "threshold 0: always healthy");
    assert!(
        !is_healthy("more", &checks),
        "threshold above the children: never"
    );
}

#[test]
fn calculated_checks_nest_and_a_cycle_counts_as_unhealthy() {
    let mut checks = endpoints(&[("c1", true)]);
    checks.insert("inner".into(), calculated(&["c1"], 1));
    checks.insert("outer".into(), calculated(&["inner"], 1));
    assert!(is_healthy("outer", &checks));
    checks.insert("loop-a".into(), calculated(&["loop-b"], 1));
    checks.insert("loop-b".into(), calculated(&["loop-a"], 1));
    assert!(!is_healthy("loop-a", &checks));
}

#[test]
fn an_unknown_check_id_counts_as_healthy() {
    let checks = endpoints(&[("c1", false)]);
    assert!(is_healthy("deleted", &checks));
    let mut checks = checks;
    checks.insert("calc".into(), calculated(&["c1", "deleted"], 1));
    assert!(
        is_healthy("calc", &checks),
        "a deleted child counts healthy too"
    );
    let records = [
        weighted("a", 1, Some("deleted")),
        weighted("b", 1, Some("c1")),
    ];
    let got = answers(&records, &checks).expect("valid");
    assert_eq!(got["a"], 1.0);
}

#[test]
fn a_switch_drain_through_a_majority_check_moves_the_region_out_and_a_minority_does_not() {
    // Three controllers' checks of one switch, and the calculated check needing two of them.
    let state = |up: [bool; 3]| {
        let mut checks = endpoints(&[("use1/a", up[0]), ("use1/b", up[1]), ("use1/c", up[2])]);
        checks.insert(
            "use1".into(),
            calculated(&["use1/a", "use1/b", "use1/c"], 2),
        );
        checks
    };
    let records = [
        weighted("us-east-1", 100, Some("use1")),
        weighted("eu-west-1", 100, None),
    ];
    let lost_one = answers(&records, &state([true, false, true])).expect("valid");
    assert!(close(lost_one["us-east-1"], 0.5), "{lost_one:?}");
    let drained = answers(&records, &state([false, false, true])).expect("valid");
    assert_eq!(drained["us-east-1"], 0.0);
    assert_eq!(drained["eu-west-1"], 1.0);
}

#[test]
fn groups_route53_refuses_are_errors() {
    let dup = [weighted("a", 1, None), weighted("a", 2, None)];
    assert_eq!(
        answers(&dup, &HealthChecks::new()),
        Err(AnswerError::DuplicateSetIdentifier("a".into()))
    );
    let mixed = [
        weighted("a", 1, None),
        failover("b", FailoverRole::Primary, None),
    ];
    assert_eq!(
        answers(&mixed, &HealthChecks::new()),
        Err(AnswerError::MixedRouting)
    );
    let two = [
        failover("a", FailoverRole::Primary, None),
        failover("b", FailoverRole::Primary, None),
    ];
    assert_eq!(
        answers(&two, &HealthChecks::new()),
        Err(AnswerError::FailoverRoleTwice(FailoverRole::Primary))
    );
    assert_eq!(answers(&[], &HealthChecks::new()), Ok(Fractions::new()));
}

fn weighted_group() -> impl Strategy<Value = (Vec<RecordSet>, HealthChecks)> {
    prop::collection::vec((any::<u8>(), prop::option::of(any::<bool>())), 1..8).prop_map(|v| {
        let mut checks = HealthChecks::new();
        let records = v
            .iter()
            .enumerate()
            .map(|(i, (w, health))| {
                let check = health.map(|h| {
                    checks.insert(format!("h{i}"), HealthCheck::Endpoint { healthy: h });
                    format!("h{i}")
                });
                RecordSet {
                    set_identifier: format!("r{i}"),
                    routing: RecordRouting::Weighted(*w),
                    health_check: check,
                }
            })
            .collect();
        (records, checks)
    })
}

fn failover_group() -> impl Strategy<Value = (Vec<RecordSet>, HealthChecks)> {
    (any::<bool>(), any::<bool>(), 1..=3_u8).prop_map(|(p, s, which)| {
        let checks = endpoints(&[("hp", p), ("hs", s)]);
        let mut records = Vec::new();
        if which & 1 != 0 {
            records.push(failover("p", FailoverRole::Primary, Some("hp")));
        }
        if which & 2 != 0 {
            records.push(failover("s", FailoverRole::Secondary, Some("hs")));
        }
        (records, checks)
    })
}

proptest! {
    #[test]
    fn fractions_sum_to_one_and_are_never_negative(
        (records, checks) in prop_oneof![weighted_group(), failover_group()]
    ) {
        let got = answers(&records, &checks).expect("valid group");
        prop_assert_eq!(got.len(), records.len());
        prop_assert!(got.values().all(|f| *f >= 0.0 && *f <= 1.0));
        prop_assert!(close(got.values().sum(), 1.0), "{:?}", got);
    }

    #[test]
    fn an_unhealthy_record_gets_answers_only_when_every_record_is_unhealthy(
        (records, checks) in prop_oneof![weighted_group(), failover_group()]
    ) {
        let got = answers(&records, &checks).expect("valid group");
        let any_healthy = records.iter().any(|r| record_healthy(r, &checks));
        for r in &records {
            if any_healthy && !record_healthy(r, &checks) {
                prop_assert_eq!(got[&r.set_identifier], 0.0);
            }
        }
    }

    #[test]
    fn a_healthy_nonzero_weight_record_always_gets_answers((records, checks) in weighted_group()) {
        let got = answers(&records, &checks).expect("valid group");
        for r in &records {
            if record_healthy(r, &checks) && r.routing != RecordRouting::Weighted(0) {
                prop_assert!(got[&r.set_identifier] > 0.0, "{:?}", got);
            }
        }
    }

    #[test]
    fn failover_gives_every_answer_to_one_record((records, checks) in failover_group()) {
        let got = answers(&records, &checks).expect("valid group");
        prop_assert_eq!(got.values().filter(|f| **f == 1.0).count(), 1);
    }
}
