//! Records that carry the team's own health check: they move onto one combined check per team's
//! check and switch (2 of 2), which later runs find in place, and a combined check that does not
//! need both is a conflict.

use super::*;

fn latency(set_id: &str) -> Route53Binding {
    toml::from_str(&format!(
        r#"hosted_zone_id = "/hostedzone/Z1"
record_name = "API.example.com"
record_type = ["A", "AAAA"]
set_identifier = "{set_id}"
routing = "latency""#
    ))
    .expect("binding")
}

fn key_of(set_id: &str, rtype: &str) -> RecordKey {
    RecordKey {
        rtype: rtype.into(),
        ..key(set_id)
    }
}

fn theirs() -> FoundCheck {
    endpoint("theirs", "terraform-1", Some("192.0.2.1"), None, "/healthz")
}

/// Switch `us-east-1`'s checks in place, the team's check, `more`, and both records of the
/// dual-stack latency binding carrying `carried`.
fn account(carried: &str, more: Vec<FoundCheck>) -> Found {
    let mut checks = hand_made();
    checks.push(calculated("calc", &["e1", "e2", "e3"], 2));
    checks.push(theirs());
    checks.extend(more);
    Found {
        checks,
        records: [
            (key_of("a", "A"), FoundRecord::Present(Some(carried.into()))),
            (
                key_of("a", "AAAA"),
                FoundRecord::Present(Some(carried.into())),
            ),
        ]
        .into(),
    }
}

#[test]
fn a_dual_stack_latency_record_on_the_teams_check_gets_one_combined_check_for_both_types() {
    let b = latency("a");
    let w = wanted(&[("us-east-1", "regions[0].traffic.route53", &b)]);
    let p = plan(&w, &account("theirs", Vec::new()));
    assert_eq!(
        p.steps,
        [
            Step::CreateCombined {
                switch: "us-east-1".into(),
                team: "theirs".into(),
                switch_check: CheckRef::Existing("calc".into()),
            },
            Step::SetRecordCombined {
                switch: "us-east-1".into(),
                record: w.switches[0].records[0].clone(),
                check: CheckRef::New(0),
                team: "theirs".into(),
            },
            Step::SetRecordCombined {
                switch: "us-east-1".into(),
                record: w.switches[0].records[1].clone(),
                check: CheckRef::New(0),
                team: "theirs".into(),
            },
        ]
    );
    assert!(p.conflicts.is_empty(), "{:?}", p.conflicts);
    assert!(
        p.steps[1].to_string().ends_with(
            "its new calculated check, which keeps the team's check theirs and adds the switch"
        ),
        "{}",
        p.steps[1]
    );
}

#[test]
fn a_combined_check_already_made_is_used_and_records_on_it_are_in_place() {
    let b = latency("a");
    let w = wanted(&[("us-east-1", "regions[0].traffic.route53", &b)]);
    let both = calculated("both", &["theirs", "calc"], 2);
    // The check exists and the records still carry the team's: they move onto it.
    let p = plan(&w, &account("theirs", vec![both.clone()]));
    assert_eq!(p.steps.len(), 2, "{:#?}", p.steps);
    assert!(p.steps.iter().all(|s| matches!(
        s,
        Step::SetRecordCombined { check: CheckRef::Existing(c), team, .. } if c == "both" && team == "theirs"
    )));
    assert!(!p.steps[0].needs_new_check());
    // The records carry it: everything is in place, and failoverd never takes it for an old
    // check of its own to replace by the switch's.
    let p = plan(&w, &account("both", vec![both]));
    assert!(p.in_place(), "{:#?}", p);
    assert_eq!(p.records_in_place, 2);
}

#[test]
fn a_combined_check_that_does_not_need_both_is_a_conflict_and_the_record_stays() {
    let b = latency("a");
    let w = wanted(&[("us-east-1", "regions[0].traffic.route53", &b)]);
    let p = plan(
        &w,
        &account("theirs", vec![calculated("loose", &["theirs", "calc"], 1)]),
    );
    assert!(p.steps.is_empty(), "{:#?}", p.steps);
    assert!(
        p.conflicts.iter().any(|c| c.contains(
            "calculated check loose (switch us-east-1) combines the team's check theirs with the switch's but needs 1 of its 2 children healthy"
        )),
        "{:?}",
        p.conflicts
    );
}
